//! Property tests: the decoders never panic, whatever the input, and what is
//! signed decodes back to itself.

use proptest::prelude::*;
use tallylog_core::entry::Entry;
use tallylog_core::event::{Body, Payload, SignedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::receipt::Receipt;
use tallylog_core::sample;
use tallylog_core::types::Seq;

fn vector_events() -> Vec<Vec<u8>> {
    sample::events()
        .iter()
        .map(|e| e.bytes().to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes: an error or an event, never a panic.
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SignedEvent::decode(&bytes);
        let _ = Entry::decode(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = Receipt::decode(text);
            let _ = tallylog_core::import::csv_forms(text);
        }
        let _ = sample::log_signer().verifier().verify(&bytes);
    }

    /// Real events with a few bytes changed, inserted or removed: refused, or
    /// (if still canonical and the signature holds, which it cannot) accepted.
    #[test]
    fn mutated_events_are_refused(
        which in 0usize..28,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = vector_events()[which % 28].clone();
        let original = bytes.clone();
        for (at, byte, op) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        prop_assume!(bytes != original);
        prop_assert!(SignedEvent::decode_verified(&bytes).is_err());
    }

    /// Any result form a publisher signs decodes back to the same event.
    #[test]
    fn signed_forms_round_trip(
        registered in 0u64..1_000_000,
        votes in proptest::collection::vec(0u64..100_000, 3),
        invalid in 0u64..1000,
        seq in 1u64..1000,
    ) {
        let key = test_key(4);
        let mut form = sample::form("01/01/01/0001", registered, [votes[0], votes[1], votes[2]], invalid);
        form.registered = registered;
        let body = Body {
            election: sample::ELECTION.parse().unwrap(),
            author: key.verifying_key().into(),
            seq: Seq(seq),
            prev: (seq > 1).then_some(tallylog_core::types::EventId([seq as u8; 32])),
            time: "2023-07-23T12:00:00Z".parse().unwrap(),
            payload: Payload::Result(form),
        };
        let ev = body.sign(&key).unwrap();
        let back = SignedEvent::decode_verified(ev.bytes()).unwrap();
        prop_assert_eq!(back.event(), &ev);
    }
}
