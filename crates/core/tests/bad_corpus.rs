//! The hostile-input corpus, `testdata/bad/`: the exact bytes of submissions
//! that must be refused, each with the reason code every entry point gives
//! (PROTOCOL.md §3.3, §6, §10, §15), generated here so that it cannot silently
//! rot: the test fails if the committed files are not what this file writes.
//!
//! To regenerate after a deliberate change (a new case, a changed rule):
//! `TALLYLOG_BLESS=1 cargo test -p tallylog-core --test bad_corpus`, and
//! read the diff of `testdata/bad/cases.json` before committing it.
//!
//! Cases that need a log state are judged after a fixed prefix: `sample` (the
//! 28 events of `sample::events()`, whose keys are `test_key(n)`) or `empty`
//! (nothing). Every entry point's test (crates/ledger/tests/hostile.rs over
//! NATS, crates/gateway/tests/hostile.rs over HTTP, crates/cli/tests/hostile.rs
//! for files) submits each case after its prefix and asserts its exact
//! outcome; this file checks the core's own verdict (decoding, signature and
//! the rules of §6 on a memory view), which the ledger's must equal except for
//! the two checks only a ledger can make (`wrong_election` for the very first
//! event, `wrong_log`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer as _, Verifier as _};
use serde_json::{json, Value};
use tallylog_core::event::*;
use tallylog_core::keys::test_key;
use tallylog_core::rules::{check, CheckError, LogView, MemoryState};
use tallylog_core::sample;
use tallylog_core::types::{Digest, EventId, PublicKey, Seq, Timestamp};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bad")
}

/// Held while the corpus is written or read, so that blessing it and
/// checking it in parallel tests never meet a half-written file.
static CORPUS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The decoding codes of PROTOCOL.md §10: what `tallylog event verify`, which
/// applies no acceptance rule, can report.
use tallylog_core::event::DECODING_CODES as DECODING;

/// Every reason code a submission can get (PROTOCOL.md §10): the corpus must
/// hold at least one case of each.
const ALL_CODES: [&str; 35] = [
    "too_large",
    "malformed_json",
    "duplicate_key",
    "inexact_number",
    "unknown_field",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "unsupported_version",
    "non_canonical",
    "bad_seq",
    "bad_prev",
    "bad_signature",
    "no_election",
    "election_exists",
    "wrong_election",
    "not_root",
    "wrong_role",
    "unknown_key",
    "revoked_key",
    "weak_key",
    "key_exists",
    "already_revoked",
    "seq_gap",
    "replayed_seq",
    "prev_mismatch",
    "unknown_reference",
    "bad_reference",
    "form_mismatch",
    "already_superseded",
    "not_same_org",
    "illegal_transition",
    "future_certification",
    "duplicate_definition",
    "wrong_log",
];

/// The HTTP status of a submission's answer, as the table of PROTOCOL.md §15
/// gives it (written out here from the document, not taken from the gateway).
fn http_status(code: &str) -> u16 {
    match code {
        "accepted" => 200,
        "too_large" => 413,
        c if DECODING.contains(&c) => 400,
        "unknown_key" | "revoked_key" | "wrong_role" | "not_root" | "weak_key" | "not_same_org" => {
            403
        }
        "seq_gap"
        | "replayed_seq"
        | "prev_mismatch"
        | "election_exists"
        | "key_exists"
        | "already_revoked"
        | "already_superseded"
        | "duplicate_definition" => 409,
        _ => 422,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Sample,
    Empty,
}

impl Prefix {
    fn name(self) -> &'static str {
        match self {
            Prefix::Sample => "sample",
            Prefix::Empty => "empty",
        }
    }
}

/// One case. `code` is the ledger's answer (over NATS, to the exact bytes);
/// the other entry points give the same unless a field below says otherwise.
struct Case {
    name: &'static str,
    prefix: Prefix,
    bytes: Vec<u8>,
    code: &'static str,
    description: &'static str,
    /// The core's verdict, where the ledger knows more (its election and log).
    core: Option<&'static str>,
    /// The gateway's answer, where its reading of the body differs (§15: one
    /// trailing LF or CR LF is not part of the event).
    http: Option<&'static str>,
    /// `tallylog event verify`'s verdict per non-empty line; `error:TEXT` for a
    /// run that fails as a whole (exit 2, TEXT in its message).
    verify: Option<Vec<&'static str>>,
    /// `tallylog submit`'s verdict per non-empty line, as for `verify`.
    submit: Option<Vec<&'static str>>,
    /// Why an entry point answers differently, where it does.
    note: Option<&'static str>,
}

fn case(
    name: &'static str,
    prefix: Prefix,
    bytes: impl Into<Vec<u8>>,
    code: &'static str,
    description: &'static str,
) -> Case {
    Case {
        name,
        prefix,
        bytes: bytes.into(),
        code,
        description,
        core: None,
        http: None,
        verify: None,
        submit: None,
        note: None,
    }
}

impl Case {
    fn core(mut self, c: &'static str) -> Case {
        self.core = Some(c);
        self
    }
    fn http(mut self, c: &'static str) -> Case {
        self.http = Some(c);
        self
    }
    fn verify(mut self, v: &[&'static str]) -> Case {
        self.verify = Some(v.to_vec());
        self
    }
    fn submit(mut self, v: &[&'static str]) -> Case {
        self.submit = Some(v.to_vec());
        self
    }
    fn note(mut self, n: &'static str) -> Case {
        self.note = Some(n);
        self
    }

    fn file(&self) -> String {
        format!("cases/{}.bin", self.name)
    }

    fn to_json(&self) -> Value {
        let http = self.http.unwrap_or(self.code);
        let verify = self.verify.clone().unwrap_or_else(|| {
            vec![if DECODING.contains(&self.code) {
                self.code
            } else {
                "ok"
            }]
        });
        let submit = self.submit.clone().unwrap_or_else(|| vec![self.code]);
        let mut v = json!({
            "name": self.name,
            "file": self.file(),
            "prefix": self.prefix.name(),
            "code": self.code,
            "description": self.description,
            "expect": {
                "core": self.core.unwrap_or(self.code),
                "nats": self.code,
                "http": {"status": http_status(http), "code": http},
                "verify": verify,
                "submit": submit,
            },
        });
        if let Some(n) = self.note {
            v["note"] = n.into();
        }
        v
    }
}

/// A CLI file entry point given a file name that is itself the trick.
struct PathCase {
    name: &'static str,
    setup: &'static str,
    case: Option<&'static str>,
    description: &'static str,
    verify: Vec<&'static str>,
    /// `None` where `submit` is not run: see `note`.
    submit: Option<Vec<&'static str>>,
    note: Option<&'static str>,
}

impl PathCase {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "setup": self.setup,
            "description": self.description,
            "expect": {"verify": self.verify, "submit": self.submit},
        });
        if let Some(c) = self.case {
            v["case"] = c.into();
        }
        if let Some(n) = self.note {
            v["note"] = n.into();
        }
        v
    }
}

// ---------------------------------------------------------------------------
// Building blocks.

fn t() -> Timestamp {
    "2023-07-30T00:00:00Z".parse().unwrap()
}

fn pk(n: u32) -> PublicKey {
    test_key(n).verifying_key().into()
}

/// Signs `body` (its exact bytes, canonical or not) with test key `n` and
/// wraps it in the §3.3 envelope, so that a case has only the defect it
/// names, not also a bad signature.
fn sign_raw(n: u32, body: &str) -> Vec<u8> {
    let mut preimage = EVENT_CONTEXT.to_vec();
    preimage.extend_from_slice(body.as_bytes());
    envelope(body, &test_key(n).sign(&preimage).to_bytes())
}

fn envelope(body: &str, sig: &[u8; 64]) -> Vec<u8> {
    format!("{{\"body\":{body},\"sig\":\"{}\"}}", hex::encode(sig)).into_bytes()
}

fn body_of(ev: &VerifiedEvent) -> String {
    String::from_utf8(ev.event().body_bytes().to_vec()).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn sig_of(ev: &VerifiedEvent) -> [u8; 64] {
    ev.event().signature().0
}

/// `s` with the first `from` replaced by `to`; `from` must occur.
fn swap(s: &str, from: &str, to: &str) -> String {
    assert!(s.contains(from), "{from:?} not in {s}");
    s.replacen(from, to, 1)
}

/// `bytes` with the first `from` replaced by `to`; `from` must occur.
fn swap_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to replace occur");
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

/// The sample's events, and each key's chain head after them.
struct Sample {
    events: Vec<VerifiedEvent>,
}

impl Sample {
    fn id(&self, i: usize) -> EventId {
        self.events[i].id()
    }
    fn head(&self, n: u32) -> (u64, Option<EventId>) {
        self.events
            .iter()
            .rfind(|e| e.body().author == pk(n))
            .map_or((0, None), |e| (e.body().seq.0, Some(e.id())))
    }
    /// Key `n`'s next event after the sample, for `election`.
    fn next_in(&self, n: u32, election: &str, payload: Payload) -> Vec<u8> {
        let (seq, prev) = self.head(n);
        signed(n, election, seq + 1, prev, payload)
    }
    fn next(&self, n: u32, payload: Payload) -> Vec<u8> {
        self.next_in(n, sample::ELECTION, payload)
    }
}

/// A correctly signed event of key `n` with the chain fields given.
fn signed(n: u32, election: &str, seq: u64, prev: Option<EventId>, payload: Payload) -> Vec<u8> {
    Body {
        election: election.parse().unwrap(),
        author: pk(n),
        seq: Seq(seq),
        prev,
        time: t(),
        payload,
    }
    .sign(&test_key(n))
    .unwrap()
    .bytes()
    .to_vec()
}

fn result(station: &str) -> Payload {
    Payload::Result(sample::form(station, 600, [1, 2, 3], 0))
}

fn reason() -> tallylog_core::types::Text {
    "hostile input test".parse().unwrap()
}

fn step(complaint: EventId) -> ComplaintStep {
    ComplaintStep { complaint }
}

const NOWHERE: EventId = EventId([0x42; 32]);

/// A canonical key that is a point of small order (the identity, y = 1).
fn identity_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
}

/// A canonical key of order 8 (from the list of Ed25519's small-order points).
fn order8_key() -> [u8; 32] {
    hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
        .unwrap()
        .try_into()
        .unwrap()
}

/// The first canonical encoding `[y, 0, …, 0]` that is not on the curve.
fn off_curve_key() -> [u8; 32] {
    (2u8..)
        .map(|y| {
            let mut k = [0u8; 32];
            k[0] = y;
            k
        })
        .find(|k| PublicKey::from_bytes(k).unwrap().point().is_none())
        .unwrap()
}

/// `S + L` for the little-endian scalar `s`: the same signature under a
/// lenient verifier, refused by §2 rule 1.
fn plus_l(s: &[u8]) -> [u8; 32] {
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[i]) + u16::from(l[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0, "S + L fits 32 bytes for S < L");
    out
}

fn definition_with(f: impl FnOnce(&mut ElectionDef)) -> Payload {
    let mut d = sample::definition();
    f(&mut d);
    Payload::Election(d)
}

// ---------------------------------------------------------------------------
// The cases.

fn cases() -> Vec<Case> {
    use Prefix::{Empty, Sample as S};
    let sm = Sample {
        events: sample::events(),
    };
    let (root, auth, obs_old, agent, watch, obs) = (
        sample::ROOT_KEY,
        sample::AUTHORITY_KEY,
        sample::OBSERVER_KEY,
        sample::AGENT_KEY,
        sample::WATCH_KEY,
        sample::OBSERVER_NEW_KEY,
    );
    // The authority's next result form: valid, and the base of most
    // decoding cases (each changes one thing about it).
    let good = sm.next(auth, result("01/01/01/0003"));
    let gt = text(&good);
    let gb = {
        let ev = SignedEvent::decode_verified(&good).unwrap();
        body_of(&ev)
    };
    let gsig: [u8; 64] = hex::decode(&gt[gt.len() - 130..gt.len() - 2])
        .unwrap()
        .try_into()
        .unwrap();
    // The observer's next attestation, the base for text fields.
    let att = text(&sm.next(
        obs,
        Payload::Attestation(Attestation {
            event: sm.id(6),
            note: Some("matches our copy".parse().unwrap()),
        }),
    ));
    let att_body = {
        let ev = SignedEvent::decode_verified(att.as_bytes()).unwrap();
        body_of(&ev)
    };
    // The party agent's next complaint, the base for optional lists.
    let complaint_body = {
        let b = sm.next(
            agent,
            Payload::ComplaintFiled(ComplaintFiled {
                region: Some("01/01/01/0001".parse().unwrap()),
                contest: None,
                category: ComplaintCategory::Procedure,
                summary: "the count began before observers arrived".parse().unwrap(),
                evidence: vec![],
                refs: vec![],
            }),
        );
        body_of(&SignedEvent::decode_verified(&b).unwrap())
    };
    // An event already in the log (the last of the sample).
    let logged = sm.events[27].bytes().to_vec();
    let padded = |len: usize| {
        let mut b = good.clone();
        b.resize(len, b' ');
        b
    };
    let with_sig = |body: &str, sig: [u8; 64]| envelope(body, &sig);
    let flipped = |byte: usize, mask: u8| {
        let mut s = gsig;
        s[byte] ^= mask;
        envelope(&gb, &s)
    };
    let raw_key = |bytes: [u8; 32]| hex::encode(bytes);

    let mut v = vec![
        // --- Size and syntax (§3.3 steps 1 and 2).
        case("empty", S, b"".to_vec(), "malformed_json", "zero bytes")
            .verify(&["error:holds no events"])
            .submit(&["error:nothing to submit"])
            .note("a file of no lines holds no event to judge: the file commands fail as a whole"),
        case("lone-newline", S, b"\n".to_vec(), "malformed_json", "a single LF and nothing else")
            .verify(&["error:holds no events"])
            .submit(&["error:nothing to submit"])
            .note("the gateway drops the trailing LF and judges zero bytes; the file commands see one empty line"),
        case("whitespace-only", S, b"   ".to_vec(), "malformed_json", "three spaces"),
        case("not-json", S, b"hello, ledger".to_vec(), "malformed_json", "plain text"),
        case("truncated-half", S, good[..good.len() / 2].to_vec(), "malformed_json", "a valid event cut in half"),
        case("truncated-last-byte", S, good[..good.len() - 1].to_vec(), "malformed_json", "a valid event without its closing brace"),
        case("trailing-garbage", S, [&good[..], b"x"].concat(), "malformed_json", "a valid event followed by one stray byte"),
        case("two-events", S, [&good[..], &good[..]].concat(), "malformed_json", "a valid event twice, back to back, on one line"),
        case("utf8-bom", S, [b"\xef\xbb\xbf", &good[..]].concat(), "malformed_json", "a UTF-8 byte order mark before a valid event"),
        case("invalid-utf8", S, swap_bytes(&good, b"\"contest\":\"na\"", b"\"contest\":\"\xffa\""), "malformed_json", "a 0xFF byte inside a string"),
        case("overlong-utf8", S, swap_bytes(&good, b"\"01/01/01/0003\"", b"\"01\xc0\xaf01/01/0003\""), "malformed_json", "'/' in a station code as the overlong UTF-8 sequence C0 AF"),
        case("utf8-surrogate", S, swap_bytes(att.as_bytes(), b"matches", b"\xed\xa0\x80matches"), "malformed_json", "a surrogate (U+D800) encoded in UTF-8 inside a note"),
        case("lone-surrogate-escape", S, sign_raw(obs, &swap(&att_body, "matches", "\\ud800matches")), "malformed_json", "a lone surrogate escape \\ud800 inside a note"),
        case("raw-tab-in-string", S, sign_raw(obs, &swap(&att_body, "matches our", "matches\tour")), "malformed_json", "an unescaped TAB inside a string"),
        case("raw-newline-in-string", S, sign_raw(obs, &swap(&att_body, "matches our", "matches\nour")), "malformed_json", "an unescaped LF inside a string")
            .verify(&["malformed_json", "malformed_json"])
            .submit(&["malformed_json", "malformed_json"])
            .note("the file commands read one event per line, so they see two broken lines"),
        case("newline-between-members", S, swap_bytes(&good, b",\"sig\":", b",\n\"sig\":"), "non_canonical", "a valid event with an LF between its two members")
            .verify(&["malformed_json", "malformed_json"])
            .submit(&["malformed_json", "malformed_json"])
            .note("the file commands read one event per line, so they see two broken lines"),
        case("nesting-deep", S, "[".repeat(5000), "malformed_json", "5,000 nested arrays, past the parser's depth limit"),
        case("too-large-by-one", S, padded(65_001), "too_large", "65,001 bytes: a valid event padded with spaces to one byte over the limit"),
        case("size-at-limit", S, padded(65_000), "non_canonical", "exactly 65,000 bytes (the limit): a valid event padded with spaces, judged, not too large"),
        case("too-large-spaces", S, vec![b' '; 70_000], "too_large", "70,000 spaces"),
        // --- Trailing bytes: what the gateway may drop (§15) and the log may not.
        case("trailing-lf", S, [&logged[..], b"\n"].concat(), "non_canonical", "an event of the log followed by one LF")
            .core("non_canonical")
            .http("accepted")
            .verify(&["ok"])
            .submit(&["accepted"])
            .note("over HTTP and in files one trailing LF ends the event (§15), so this is a resubmission of a logged event: its original receipt"),
        case("trailing-crlf", S, [&logged[..], b"\r\n"].concat(), "non_canonical", "an event of the log followed by CR LF")
            .http("accepted")
            .note("over HTTP a trailing CR LF ends the event (§15): a resubmission, answered with its receipt; files split at LF only"),
        case("trailing-lf-lf", S, [&logged[..], b"\n\n"].concat(), "non_canonical", "an event of the log followed by two LFs")
            .verify(&["ok"])
            .submit(&["accepted"])
            .note("the gateway drops one LF only; the file commands skip the empty line"),
        case("trailing-cr", S, [&logged[..], b"\r"].concat(), "non_canonical", "an event of the log followed by a lone CR")
            .note("a lone CR is no line ending (PROTOCOL §15 allows LF or CR LF): the bytes are not canonical everywhere"),
        case("trailing-space", S, [&good[..], b" "].concat(), "non_canonical", "a valid event followed by a space"),
        // --- Types and structure (step 5).
        case("array-top", S, b"[]".to_vec(), "wrong_type", "an empty array instead of an object"),
        case("null-top", S, b"null".to_vec(), "wrong_type", "JSON null"),
        case("string-top", S, b"\"event\"".to_vec(), "wrong_type", "a JSON string"),
        case("envelope-as-array", S, format!("[{gb},\"{}\"]", hex::encode(gsig)), "wrong_type", "the envelope as the array [body, sig] instead of an object"),
        case("data-as-array", S, sign_raw(auth, &swap(&gb, "\"data\":{\"cast\":6,\"contest\":\"na\",\"invalid\":0,\"registered\":600,\"station\":\"01/01/01/0003\",\"valid\":6,\"votes\":{\"ALPHA\":1,\"BETA\":2,\"GAMMA\":3}}", "\"data\":[\"01/01/01/0003\",\"na\",600,6,6,0,{\"ALPHA\":1,\"BETA\":2,\"GAMMA\":3}]")), "wrong_type", "a result's data as an array of its fields in declaration order"),
        case("body-as-string", S, with_sig("\"body\"", gsig), "wrong_type", "the body is a string"),
        case("seq-as-string", S, sign_raw(auth, &swap(&gb, "\"seq\":12", "\"seq\":\"12\"")), "wrong_type", "seq written as a string"),
        case("votes-as-array", S, sign_raw(auth, &swap(&gb, "{\"ALPHA\":1,\"BETA\":2,\"GAMMA\":3}", "[1,2,3]")), "wrong_type", "votes as an array instead of a map"),
        case("sig-as-number", S, format!("{{\"body\":{gb},\"sig\":1}}"), "wrong_type", "the signature is a number"),
        case("registered-as-bool", S, sign_raw(auth, &swap(&gb, "\"registered\":600", "\"registered\":true")), "wrong_type", "a count written as true"),
        // --- Numbers (step 4).
        case("float-seq", S, sign_raw(auth, &swap(&gb, "\"seq\":12", "\"seq\":12.0")), "inexact_number", "seq written 12.0"),
        case("exponent-count", S, sign_raw(auth, &swap(&gb, "\"registered\":600", "\"registered\":6e2")), "inexact_number", "a count written 6e2"),
        case("two-pow-53", S, sign_raw(auth, &swap(&gb, "\"registered\":600", "\"registered\":9007199254740992")), "inexact_number", "a count of 2^53, one past the safe range"),
        case("huge-number", S, sign_raw(auth, &swap(&gb, "\"registered\":600", &format!("\"registered\":1{}", "0".repeat(40)))), "inexact_number", "a count of 10^40"),
        case("huge-negative", S, sign_raw(auth, &swap(&gb, "\"invalid\":0", "\"invalid\":-9007199254740992")), "inexact_number", "a count of -2^53"),
        case("negative-zero", S, sign_raw(auth, &swap(&gb, "\"invalid\":0", "\"invalid\":-0")), "non_canonical", "a count written -0: zero, not written canonically (§1)"),
        case("leading-zero", S, sign_raw(auth, &swap(&gb, "\"registered\":600", "\"registered\":0600")), "malformed_json", "a count with a leading zero, which JSON does not allow"),
        case("plus-sign", S, sign_raw(auth, &swap(&gb, "\"registered\":600", "\"registered\":+600")), "malformed_json", "a count with a plus sign, which JSON does not allow"),
        case("negative-count", S, sign_raw(auth, &swap(&gb, "\"invalid\":0", "\"invalid\":-1")), "invalid_value", "a negative count"),
        case("negative-seq", S, sign_raw(auth, &swap(&gb, "\"seq\":12", "\"seq\":-12")), "invalid_value", "a negative sequence number"),
        // --- Duplicate keys (step 3).
        case("duplicate-key-envelope", S, format!("{{\"body\":{gb},\"sig\":\"{0}\",\"sig\":\"{0}\"}}", hex::encode(gsig)), "duplicate_key", "the signature member twice"),
        case("duplicate-key-body", S, sign_raw(auth, &swap(&gb, "\"seq\":12", "\"seq\":12,\"seq\":12")), "duplicate_key", "seq twice in the body"),
        case("duplicate-key-votes", S, sign_raw(auth, &swap(&gb, "\"ALPHA\":1", "\"ALPHA\":1,\"ALPHA\":1")), "duplicate_key", "one party's votes twice"),
        case("duplicate-key-escaped", S, sign_raw(auth, &swap(&gb, "\"seq\":12", "\"seq\":12,\"\\u0073eq\":12")), "duplicate_key", "seq twice, once spelled with an escape (\\u0073eq)"),
        // --- Members (step 5).
        case("unknown-field-envelope", S, format!("{{\"body\":{gb},\"sig\":\"{}\",\"zz\":1}}", hex::encode(gsig)), "unknown_field", "an extra member beside body and sig"),
        case("unknown-field-body", S, sign_raw(auth, &swap(&gb, "\"kind\":", "\"key\":\"x\",\"kind\":")), "unknown_field", "an extra member in the body"),
        case("unknown-field-data", S, sign_raw(auth, &swap(&gb, "\"cast\":6", "\"bonus\":1,\"cast\":6")), "unknown_field", "an extra member in a result's data"),
        case("kind-data-mismatch", S, sign_raw(auth, &swap(&gb, "\"kind\":\"result\"", "\"kind\":\"attestation\"")), "unknown_field", "kind attestation carrying a result's data"),
        case("missing-sig", S, format!("{{\"body\":{gb}}}"), "missing_field", "no signature"),
        case("missing-author", S, sign_raw(auth, &swap(&gb, &format!("\"author\":\"{}\",", pk(auth)), "")), "missing_field", "no author"),
        case("missing-votes", S, sign_raw(auth, &swap(&gb, ",\"votes\":{\"ALPHA\":1,\"BETA\":2,\"GAMMA\":3}", "")), "missing_field", "a result without votes"),
        // --- Values (step 5) and version (step 6).
        case("author-uppercase-hex", S, sign_raw(auth, &swap(&gb, &pk(auth).to_hex(), &pk(auth).to_hex().to_uppercase())), "invalid_value", "the author key in uppercase hex"),
        case("author-non-canonical-y", S, sign_raw(auth, &swap(&gb, &pk(auth).to_hex(), &format!("ed{}7f", "ff".repeat(30)))), "invalid_value", "an author key whose y is p = 2^255-19 (y >= p is not canonical)"),
        case("author-negative-zero", S, sign_raw(auth, &swap(&gb, &pk(auth).to_hex(), &format!("01{}80", "00".repeat(30)))), "invalid_value", "the identity as an author key with the sign bit set (x = 0 written negative)"),
        case("sig-short", S, format!("{{\"body\":{gb},\"sig\":\"{}\"}}", &hex::encode(gsig)[..126]), "invalid_value", "a signature of 126 hex digits"),
        case("sig-uppercase", S, envelope_upper(&gb, &gsig), "invalid_value", "the signature in uppercase hex"),
        case("time-feb-29-2023", S, sign_raw(auth, &swap(&gb, "2023-07-30T00:00:00Z", "2023-02-29T00:00:00Z")), "invalid_value", "a date that does not exist"),
        case("time-leap-second", S, sign_raw(auth, &swap(&gb, "2023-07-30T00:00:00Z", "2023-07-30T23:59:60Z")), "invalid_value", "a leap second, :60"),
        case("time-with-offset", S, sign_raw(auth, &swap(&gb, "2023-07-30T00:00:00Z", "2023-07-30T07:00:00+07:00")), "invalid_value", "a time with an offset instead of Z"),
        case("time-before-1970", S, sign_raw(auth, &swap(&gb, "2023-07-30T00:00:00Z", "1969-12-31T23:59:59Z")), "invalid_value", "a time before 1970"),
        case("unknown-kind", S, sign_raw(auth, &swap(&gb, "\"kind\":\"result\"", "\"kind\":\"resutl\"")), "invalid_value", "a kind that does not exist"),
        case("station-three-segments", S, sign_raw(auth, &swap(&gb, "\"01/01/01/0003\"", "\"01/01/01\"")), "invalid_value", "a station code naming a commune"),
        case("station-dotdot", S, sign_raw(auth, &swap(&gb, "\"01/01/01/0003\"", "\"01/../01/0003\"")), "invalid_value", "a station code with a .. segment"),
        case("election-id-65-chars", S, sign_raw(auth, &swap(&gb, "\"sample-2023\"", &format!("\"{}\"", "e".repeat(65)))), "invalid_value", "an election id of 65 characters"),
        case("election-id-subject-wildcard", S, sign_raw(auth, &swap(&gb, "\"sample-2023\"", "\"sample-2023.>\"")), "invalid_value", "an election id with a NATS wildcard"),
        case("text-whitespace-only", S, sign_raw(obs, &swap(&att_body, "matches our copy", " \\t ")), "invalid_value", "a note of white space only"),
        case("text-carriage-return", S, sign_raw(obs, &swap(&att_body, "matches our copy", "matches\\rour copy")), "invalid_value", "a note with a carriage return"),
        case("text-nul", S, sign_raw(obs, &swap(&att_body, "matches our copy", "matches\\u0000our copy")), "invalid_value", "a note with a NUL character"),
        case("text-too-long", S, sign_raw(obs, &swap(&att_body, "matches our copy", &"x".repeat(16_385))), "invalid_value", "a note of 16,385 bytes, one over the text limit"),
        case("version-2", S, sign_raw(auth, &swap(&gb, "\"v\":1", "\"v\":2")), "unsupported_version", "body version 2"),
        case("version-0", S, sign_raw(auth, &swap(&gb, "\"v\":1", "\"v\":0")), "unsupported_version", "body version 0"),
        // --- Canonical form (step 8).
        case("space-after-colon", S, sign_raw(auth, &swap(&gb, "\"seq\":12", "\"seq\": 12")), "non_canonical", "a space after a colon in the body"),
        case("space-in-envelope", S, swap_bytes(&good, b"{\"body\":", b"{ \"body\":"), "non_canonical", "a space after the envelope's opening brace"),
        case("keys-out-of-order", S, sign_raw(auth, &swap(&swap(&gb, "\"seq\":12,", ""), "\"v\":1", "\"v\":1,\"seq\":12")), "non_canonical", "the body's members not in sorted order"),
        case("escaped-solidus", S, sign_raw(auth, &swap(&gb, "\"01/01/01/0003\"", "\"01\\/01\\/01\\/0003\"")), "non_canonical", "'/' escaped as \\/ in a station code"),
        case("escaped-ascii", S, sign_raw(auth, &swap(&gb, "\"contest\":\"na\"", "\"contest\":\"\\u006ea\"")), "non_canonical", "a plain letter written as a \\u escape"),
        case("escaped-non-ascii", S, sign_raw(obs, &swap(&att_body, "matches our copy", "matches our copy \\u2713")), "non_canonical", "a non-ASCII character written as a \\u escape"),
        case("escaped-tab-long-form", S, sign_raw(obs, &swap(&att_body, "matches our", "matches\\u0009our")), "non_canonical", "a tab written \\u0009 instead of \\t"),
        case("optional-null", S, sign_raw(auth, &swap(&gb, "\"station\":", "\"image_sha256\":null,\"station\":")), "non_canonical", "an absent optional member written as null"),
        case("empty-optional-list", S, sign_raw(agent, &swap(&complaint_body, "\"summary\":", "\"evidence\":[],\"summary\":")), "non_canonical", "an empty optional list written out"),
        case("prev-null-with-seq-1", S, signed_first_with_null_prev(), "non_canonical", "a first event (seq 1) with prev written as null"),
        // --- The header (step 9).
        case("seq-zero", S, sign_raw(auth, &swap(&strip_prev(&gb), "\"seq\":12", "\"seq\":0")), "bad_seq", "seq 0"),
        case("prev-with-seq-1", S, sign_raw(auth, &swap(&gb, "\"seq\":12", "\"seq\":1")), "bad_prev", "seq 1 with a prev"),
        case("no-prev-with-seq-12", S, sign_raw(auth, &strip_prev(&gb)), "bad_prev", "seq 12 without a prev"),
        // --- Signatures (step 10, §2).
        case("figure-changed", S, swap_bytes(&good, b"\"ALPHA\":1", b"\"ALPHA\":9"), "bad_signature", "a vote count changed after signing"),
        case("sig-flipped-bit-r", S, flipped(0, 0x01), "bad_signature", "one bit of R flipped"),
        case("sig-flipped-bit-s", S, flipped(40, 0x10), "bad_signature", "one bit of S flipped"),
        case("sig-all-zero", S, with_sig(&gb, [0; 64]), "bad_signature", "a signature of 64 zero bytes"),
        case("sig-s-all-ones", S, { let mut s = gsig; s[32..].fill(0xff); with_sig(&gb, s) }, "bad_signature", "S = 2^256-1, far above the group order L"),
        case("sig-s-plus-l", S, {
            let ev = &sm.events[21];
            let mut s = sig_of(ev);
            let high = plus_l(&s[32..]);
            s[32..].copy_from_slice(&high);
            with_sig(&body_of(ev), s)
        }, "bad_signature", "a logged event's signature made malleable: S + L (same body, so same id; the duplicate must not skip the check)"),
        case("sig-r-non-canonical", S, {
            let mut s = [0u8; 64];
            s[0] = 0xee;
            s[1..31].fill(0xff);
            s[31] = 0x7f;
            with_sig(&gb, s)
        }, "bad_signature", "R = the identity written non-canonically (y = p + 1), S = 0"),
        case("sig-other-key", S, sign_raw(obs, &gb), "bad_signature", "the authority's body signed by the observer's key"),
        case("sig-without-context", S, with_sig(&gb, test_key(auth).sign(gb.as_bytes()).to_bytes()), "bad_signature", "signed without the tallylog/event/v1 prefix"),
        case("sig-of-another-event", S, with_sig(&gb, sig_of(&sm.events[27])), "bad_signature", "the signature of another event pasted on"),
        case("weak-author-identity-forgery", S, {
            let body = swap(&gb, &pk(auth).to_hex(), &raw_key(identity_key()));
            let mut s = [0u8; 64];
            s[0] = 1;
            with_sig(&strip_prev(&swap(&body, "\"seq\":12", "\"seq\":1")), s)
        }, "bad_signature", "author = the identity point, R = identity, S = 0: valid for any message under the lenient cofactorless rule, refused for small order"),
        case("weak-author-order-8", S, {
            let body = swap(&gb, &pk(auth).to_hex(), &raw_key(order8_key()));
            let mut s = [0u8; 64];
            s[..32].copy_from_slice(&order8_key());
            with_sig(&strip_prev(&swap(&body, "\"seq\":12", "\"seq\":1")), s)
        }, "bad_signature", "an author key of order 8, R = the same point, S = 0"),
        case("author-off-curve", S, {
            let body = swap(&gb, &pk(auth).to_hex(), &raw_key(off_curve_key()));
            with_sig(&strip_prev(&swap(&body, "\"seq\":12", "\"seq\":1")), gsig)
        }, "bad_signature", "an author key that is not a point on the curve"),
        // --- Weak keys (§6).
        case("register-identity-key", S, sm.next(root, Payload::KeyRegister(KeyRegister { key: PublicKey::from_bytes(&identity_key()).unwrap(), role: Role::Observer, org: reason() })), "weak_key", "the root registers the identity point as a key"),
        case("register-order-8-key", S, sm.next(root, Payload::KeyRegister(KeyRegister { key: PublicKey::from_bytes(&order8_key()).unwrap(), role: Role::Observer, org: reason() })), "weak_key", "the root registers a key of order 8"),
        case("register-off-curve-key", S, sm.next(root, Payload::KeyRegister(KeyRegister { key: PublicKey::from_bytes(&off_curve_key()).unwrap(), role: Role::Observer, org: reason() })), "weak_key", "the root registers a key that is not on the curve"),
        case("rotate-to-identity-key", S, sm.next(root, Payload::KeyRotate(KeyRotate { old: pk(auth), new: PublicKey::from_bytes(&identity_key()).unwrap(), reason: reason() })), "weak_key", "the root rotates the authority's key to the identity point"),
        // --- Keys and roles (§6).
        case("unknown-key", S, signed(99, sample::ELECTION, 1, None, result("01/01/01/0003")), "unknown_key", "a result signed by a key nobody registered"),
        case("revoked-key", S, sm.next(watch, result("02/01/01/0001")), "revoked_key", "the revoked watch coalition's key continues its chain"),
        case("rotated-away-key", S, sm.next(obs_old, result("01/01/01/0001")), "revoked_key", "the observer's old key, rotated away, publishes again"),
        case("wrong-role-observer-recount", S, sm.next(obs, Payload::Recount(Recount { supersedes: sm.id(6), reason: reason(), ordered_by: None, form: sample::form("01/01/01/0001", 600, [1, 2, 3], 0) })), "wrong_role", "an observer publishes a recount"),
        case("wrong-role-agent-certifies", S, sm.next(agent, Payload::Certified(Certified { log_size: 28, projection: Digest([7; 32]) })), "wrong_role", "a party agent certifies the results"),
        case("wrong-role-authority-complains", S, sm.next(auth, Payload::ComplaintFiled(ComplaintFiled { region: None, contest: None, category: ComplaintCategory::Other, summary: reason(), evidence: vec![], refs: vec![] })), "wrong_role", "the authority files a complaint"),
        case("wrong-role-root-result", S, sm.next(root, result("01/01/01/0003")), "wrong_role", "the root key publishes a result form"),
        case("not-root-register", S, sm.next(auth, Payload::KeyRegister(KeyRegister { key: pk(50), role: Role::Observer, org: reason() })), "not_root", "the authority registers a key"),
        case("not-root-geography", S, sm.next(obs, Payload::Geography(Geography { regions: vec![], stations: vec![] })), "not_root", "an observer publishes geography"),
        case("key-exists-authority", S, sm.next(root, Payload::KeyRegister(KeyRegister { key: pk(auth), role: Role::Observer, org: reason() })), "key_exists", "the authority's key registered a second time"),
        case("key-exists-root", S, sm.next(root, Payload::KeyRegister(KeyRegister { key: pk(root), role: Role::Authority, org: reason() })), "key_exists", "the root key registered as a key"),
        case("key-exists-revoked", S, sm.next(root, Payload::KeyRegister(KeyRegister { key: pk(watch), role: Role::Observer, org: reason() })), "key_exists", "a revoked key registered again"),
        case("already-revoked", S, sm.next(root, Payload::KeyRevoke(KeyRevoke { key: pk(watch), reason: reason() })), "already_revoked", "a revoked key revoked again"),
        case("rotate-revoked", S, sm.next(root, Payload::KeyRotate(KeyRotate { old: pk(watch), new: pk(62), reason: reason() })), "already_revoked", "a revoked key rotated"),
        case("revoke-unknown-key", S, sm.next(root, Payload::KeyRevoke(KeyRevoke { key: pk(60), reason: reason() })), "unknown_key", "the root revokes a key nobody registered"),
        case("rotate-root", S, sm.next(root, Payload::KeyRotate(KeyRotate { old: pk(root), new: pk(61), reason: reason() })), "unknown_key", "the root rotates itself (it is not a registered key)"),
        // --- Elections.
        case("wrong-election", S, sm.next_in(auth, "other-2023", result("01/01/01/0003")), "wrong_election", "the authority's next event, for another election")
            .submit(&["error:submit each election separately"])
            .note("`tallylog submit --election` refuses a file for another election before sending"),
        case("election-exists", S, sm.next(root, Payload::Election(sample::definition())), "election_exists", "the root defines the election a second time"),
        // --- The author's chain: replays and forged links.
        case("seq-gap", S, signed(auth, sample::ELECTION, 13, Some(sm.id(27)), result("01/01/01/0003")), "seq_gap", "the authority skips sequence number 12"),
        case("replayed-seq", S, signed(auth, sample::ELECTION, 11, Some(sm.id(25)), result("01/01/01/0003")), "replayed_seq", "the authority signs another event as its seq 11 (a fork of its own history)"),
        case("replayed-seq-1", S, signed(auth, sample::ELECTION, 1, None, result("01/01/01/0003")), "replayed_seq", "the authority starts its chain again at seq 1"),
        case("prev-mismatch", S, signed(auth, sample::ELECTION, 12, Some(sm.id(25)), result("01/01/01/0003")), "prev_mismatch", "the right seq with prev naming an older event of the author"),
        case("prev-forged", S, signed(auth, sample::ELECTION, 12, Some(NOWHERE), result("01/01/01/0003")), "prev_mismatch", "the right seq with prev naming no event at all"),
        // --- References.
        case("attest-unknown-event", S, sm.next(obs, Payload::Attestation(Attestation { event: NOWHERE, note: None })), "unknown_reference", "an attestation of an event not in the log"),
        case("correction-of-nothing", S, sm.next(auth, Payload::Correction(Correction { supersedes: NOWHERE, reason: reason(), form: sample::form("01/01/01/0001", 600, [1, 2, 3], 0) })), "unknown_reference", "a correction of an event not in the log"),
        case("complaint-refs-unknown", S, sm.next(agent, Payload::ComplaintFiled(ComplaintFiled { region: None, contest: None, category: ComplaintCategory::Other, summary: reason(), evidence: vec![], refs: vec![NOWHERE] })), "unknown_reference", "a complaint about an event not in the log"),
        case("acknowledge-a-result", S, sm.next(auth, Payload::ComplaintAcknowledged(step(sm.id(6)))), "bad_reference", "the authority acknowledges a result form as if it were a complaint"),
        case("recount-ordered-by-result", S, sm.next(auth, Payload::Recount(Recount { supersedes: sm.id(6), reason: reason(), ordered_by: Some(sm.id(8)), form: sample::form("01/01/01/0001", 600, [1, 2, 3], 0) })), "bad_reference", "a recount ordered by a result form instead of a ruling"),
        case("correction-of-complaint", S, sm.next(auth, Payload::Correction(Correction { supersedes: sm.id(16), reason: reason(), form: sample::form("01/01/01/0002", 550, [1, 2, 3], 0) })), "bad_reference", "a correction of a complaint"),
        case("correction-other-station", S, sm.next(auth, Payload::Correction(Correction { supersedes: sm.id(6), reason: reason(), form: sample::form("02/01/01/0001", 700, [1, 2, 3], 0) })), "form_mismatch", "a correction of 01/01/01/0001 carrying the form of 02/01/01/0001"),
        case("correction-of-superseded", S, sm.next(auth, Payload::Correction(Correction { supersedes: sm.id(9), reason: reason(), form: sample::form("02/01/01/0002", 450, [1, 2, 3], 0) })), "already_superseded", "a second correction of the slip the authority already corrected"),
        case("recount-of-superseded", S, sm.next(auth, Payload::Recount(Recount { supersedes: sm.id(7), reason: reason(), ordered_by: None, form: sample::form("01/01/01/0002", 550, [1, 2, 3], 0) })), "already_superseded", "a recount of a form a recount already replaced"),
        case("correction-by-other-org", S, sm.next(agent, Payload::Correction(Correction { supersedes: sm.id(6), reason: reason(), form: sample::form("01/01/01/0001", 600, [1, 2, 3], 0) })), "not_same_org", "the party agent corrects the authority's form"),
        case("appeal-by-other-org", S, sm.next(obs, Payload::ComplaintAppealed(ComplaintAppealed { complaint: sm.id(16), reasoning: reason() })), "not_same_org", "the observers appeal the party agent's resolved complaint"),
        // --- Complaint steps (§6: filed → acknowledged → under review → resolved → appealed → final).
        case("acknowledge-resolved", S, sm.next(auth, Payload::ComplaintAcknowledged(step(sm.id(16)))), "illegal_transition", "acknowledging a resolved complaint"),
        case("review-resolved", S, sm.next(auth, Payload::ComplaintReview(step(sm.id(16)))), "illegal_transition", "putting a resolved complaint under review"),
        case("resolve-final", S, sm.next(auth, Payload::ComplaintResolved(ComplaintResolved { complaint: sm.id(23), outcome: Outcome::Upheld, reasoning: reason(), recounts: vec![] })), "illegal_transition", "resolving a complaint whose appeal was decided"),
        case("appeal-unresolved", S, sm.next(obs, Payload::ComplaintAppealed(ComplaintAppealed { complaint: sm.id(20), reasoning: reason() })), "illegal_transition", "appealing a complaint nobody answered yet"),
        case("appeal-final", S, sm.next(obs, Payload::ComplaintAppealed(ComplaintAppealed { complaint: sm.id(23), reasoning: reason() })), "illegal_transition", "appealing a second time, after the appeal was decided"),
        case("decide-unappealed", S, sm.next(auth, Payload::ComplaintAppealDecided(ComplaintAppealDecided { complaint: sm.id(16), outcome: Outcome::Dismissed, reasoning: reason() })), "illegal_transition", "deciding an appeal nobody made"),
        case("future-certification", S, sm.next(auth, Payload::Certified(Certified { log_size: 29, projection: Digest([7; 32]) })), "future_certification", "certifying 29 entries of a log that has 28"),
        // --- An empty log: the definition comes first, and names this ledger's log.
        case("first-is-a-result", Empty, signed(auth, sample::ELECTION, 1, None, result("01/01/01/0001")), "no_election", "a result form as the first event of the log"),
        case("first-is-geography", Empty, signed(root, sample::ELECTION, 1, None, Payload::Geography(Geography { regions: vec![], stations: vec![] })), "no_election", "the root's geography as the first event of the log"),
        case("definition-other-election", Empty, signed(root, "other-2023", 1, None, Payload::Election(sample::definition())), "wrong_election", "the definition of another election, to this election's ledger")
            .core("accepted")
            .submit(&["error:submit each election separately"])
            .note("only a ledger knows which election it serves; `tallylog submit --election` refuses a file for another election before sending"),
        case("definition-other-origin", Empty, signed(root, sample::ELECTION, 1, None, definition_with(|d| d.log.origin = "tallylog.example/elsewhere".parse().unwrap())), "wrong_log", "a definition naming another log origin")
            .core("accepted")
            .note("only a ledger knows its own log origin and key"),
        case("definition-other-log-key", Empty, signed(root, sample::ELECTION, 1, None, definition_with(|d| d.log.key = pk(8))), "wrong_log", "a definition naming another log key")
            .core("accepted")
            .note("only a ledger knows its own log origin and key"),
        case("definition-weak-log-key", Empty, signed(root, sample::ELECTION, 1, None, definition_with(|d| d.log.key = PublicKey::from_bytes(&identity_key()).unwrap())), "wrong_log", "a definition naming the identity point as the log key")
            .core("weak_key")
            .note("a ledger refuses any log key but its own first (wrong_log); the rules alone refuse a weak one"),
        case("definition-party-twice", Empty, signed(root, sample::ELECTION, 1, None, definition_with(|d| { let p = d.parties[0].clone(); d.parties.push(p) })), "duplicate_definition", "a definition naming one party twice"),
        case("definition-undefined-party", Empty, signed(root, sample::ELECTION, 1, None, definition_with(|d| d.contests[0].parties.push("DELTA".parse().unwrap()))), "duplicate_definition", "a contest listing a party the definition does not define"),
        case("definition-party-twice-on-ballot", Empty, signed(root, sample::ELECTION, 1, None, definition_with(|d| { let p = d.contests[0].parties[0].clone(); d.contests[0].parties.push(p) })), "duplicate_definition", "a contest listing one party twice"),
    ];
    // The small-order forgery is sharp: the lenient (non-strict) rule takes it.
    let forgery = v
        .iter()
        .find(|c| c.name == "weak-author-identity-forgery")
        .unwrap();
    let ev: Value = serde_json::from_slice(&forgery.bytes).unwrap();
    let body = text(&forgery.bytes[8..forgery.bytes.len() - 138]);
    let sig: [u8; 64] = hex::decode(ev["sig"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let lenient = ed25519_dalek::VerifyingKey::from_bytes(&identity_key()).unwrap();
    let mut preimage = EVENT_CONTEXT.to_vec();
    preimage.extend_from_slice(body.as_bytes());
    assert!(lenient
        .verify(&preimage, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok());
    // Each case must be a single defect: the correctly signed ones verify.
    for c in &mut v {
        if c.prefix == Prefix::Sample && !DECODING.contains(&c.code) {
            if let Err(e) = SignedEvent::decode_verified(&c.bytes) {
                panic!(
                    "{}: does not verify ({e}), so it would not test {}",
                    c.name, c.code
                );
            }
        }
    }
    v
}

fn envelope_upper(body: &str, sig: &[u8; 64]) -> Vec<u8> {
    format!("{{\"body\":{body},\"sig\":\"{}\"}}", hex::encode_upper(sig)).into_bytes()
}

/// The body without its prev member.
fn strip_prev(body: &str) -> String {
    let at = body.find("\"prev\":\"").expect("the body has a prev");
    let end = at + "\"prev\":\"".len() + 64 + 2;
    format!("{}{}", &body[..at], &body[end..])
}

/// A stranger's first event with `"prev":null` written out, signed.
fn signed_first_with_null_prev() -> Vec<u8> {
    let ev = SignedEvent::decode(&signed(
        99,
        sample::ELECTION,
        1,
        None,
        result("01/01/01/0003"),
    ))
    .unwrap();
    let body = text(ev.body_bytes());
    sign_raw(99, &swap(&body, "\"seq\":1", "\"prev\":null,\"seq\":1"))
}

fn path_cases() -> Vec<PathCase> {
    vec![
        PathCase {
            name: "directory",
            setup: "directory",
            case: None,
            description: "the file named is a directory",
            verify: vec!["error:Is a directory"],
            submit: Some(vec!["error:Is a directory"]),
            note: None,
        },
        PathCase {
            name: "missing",
            setup: "missing",
            case: None,
            description: "the file named does not exist",
            verify: vec!["error:No such file"],
            submit: Some(vec!["error:No such file"]),
            note: None,
        },
        PathCase {
            name: "dangling-symlink",
            setup: "dangling-symlink",
            case: None,
            description: "a symbolic link to nothing",
            verify: vec!["error:No such file"],
            submit: Some(vec!["error:No such file"]),
            note: None,
        },
        PathCase {
            name: "symlink-to-case",
            setup: "symlink",
            case: Some("sig-flipped-bit-s"),
            description: "a symbolic link to a case file: read through, judged as the case",
            verify: vec!["bad_signature"],
            submit: Some(vec!["bad_signature"]),
            note: None,
        },
        PathCase {
            name: "dotdot",
            setup: "dotdot",
            case: Some("unknown-key"),
            description: "DIR/sub/../FILE, which names FILE",
            verify: vec!["ok"],
            submit: Some(vec!["unknown_key"]),
            note: None,
        },
        PathCase {
            name: "dotdot-through-missing",
            setup: "dotdot-missing",
            case: Some("unknown-key"),
            description: "DIR/nowhere/../FILE: the kernel resolves nowhere first, and it does not exist",
            verify: vec!["error:No such file"],
            submit: Some(vec!["error:No such file"]),
            note: None,
        },
        PathCase {
            name: "dash-name-after-double-dash",
            setup: "dash-name",
            case: Some("seq-gap"),
            description: "a file named -seq-gap.bin, given after --",
            verify: vec!["ok"],
            submit: Some(vec!["seq_gap"]),
            note: None,
        },
        PathCase {
            name: "dash-name-as-flag",
            setup: "dash-flag",
            case: Some("seq-gap"),
            description: "a file named -seq-gap.bin without --: a usage error, nothing read",
            verify: vec!["error:unexpected argument"],
            submit: Some(vec!["error:unexpected argument"]),
            note: None,
        },
        PathCase {
            name: "stdin-dash",
            setup: "stdin",
            case: Some("duplicate-key-body"),
            description: "- as the file: verify reads standard input; submit names a file called -",
            verify: vec!["duplicate_key"],
            submit: Some(vec!["error:reading -"]),
            note: Some("submit has no standard-input mode: it keeps receipts beside each file"),
        },
        PathCase {
            name: "newline-in-name",
            setup: "newline-name",
            case: Some("sig-flipped-bit-r"),
            description: "a file name containing a line break and a forged verdict line",
            verify: vec!["bad_signature"],
            submit: Some(vec!["bad_signature"]),
            note: None,
        },
        PathCase {
            name: "non-utf8-name",
            setup: "non-utf8-name",
            case: Some("sig-flipped-bit-r"),
            description: "a file name that is not UTF-8",
            verify: vec!["bad_signature"],
            submit: Some(vec!["bad_signature"]),
            note: None,
        },
        PathCase {
            name: "huge-line",
            setup: "huge-line",
            case: None,
            description: "a 256 MiB file with no line break, read under a 160 MiB address-space limit: reported too large, never loaded",
            verify: vec!["too_large"],
            submit: None,
            note: Some("submit reads each whole file before it sends anything (it keeps every event to send), so it is not run on this one"),
        },
    ]
}

/// The manifest: its header members pretty-printed, then one case per line
/// (so that a diff names the cases it changes).
fn manifest(cases: &[Case]) -> Vec<u8> {
    let head = json!({
        "about": "Hostile input: each case is a file of the exact bytes submitted, with the outcome every entry point gives (PROTOCOL.md §3.3, §6, §10, §15). Generated by crates/core/tests/bad_corpus.rs; regenerate with TALLYLOG_BLESS=1 cargo test -p tallylog-core --test bad_corpus.",
        "prefixes": {
            "sample": "the 28 events of the sample election (sample::events(), testdata/vectors/events.jsonl) are in the log first; its keys are test_key(n)",
            "empty": "the log is empty",
        },
        "outcomes": {
            "code": "the reason code of the ledger's rejection over NATS",
            "expect.core": "SignedEvent::decode_verified then rules::check on the prefix in memory; accepted where only a ledger can refuse",
            "expect.http": "POST /v1/submissions: the status (PROTOCOL §15) and the code, or accepted (200) for an event already in the log",
            "expect.verify": "tallylog event verify FILE, per non-empty line: a code, or ok; error:TEXT when the run fails as a whole (exit 2)",
            "expect.submit": "tallylog submit FILE, per non-empty line: a code (sent and rejected, or not sent), or accepted; error:TEXT when the run fails as a whole (exit 2)",
            "paths": "file names that are themselves the trick, for the file commands; setup says what the test makes",
        },
        "election": sample::ELECTION,
        "origin": sample::ORIGIN,
        "log_key": pk(sample::LOG_KEY).to_hex(),
    });
    let head = serde_json::to_string_pretty(&head).unwrap();
    let lines = |items: Vec<Value>| {
        items
            .iter()
            .map(|v| format!("    {v}"))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    format!(
        "{},\n  \"cases\": [\n{}\n  ],\n  \"paths\": [\n{}\n  ]\n}}\n",
        head.strip_suffix("\n}").unwrap(),
        lines(cases.iter().map(Case::to_json).collect()),
        lines(path_cases().iter().map(PathCase::to_json).collect()),
    )
    .into_bytes()
}

#[test]
fn the_committed_corpus_is_what_the_generator_writes() {
    let _lock = CORPUS.lock().unwrap_or_else(|e| e.into_inner());
    let cases = cases();
    let bless = std::env::var_os("TALLYLOG_BLESS").is_some();
    let root = dir();
    let mut want: BTreeMap<String, Vec<u8>> =
        cases.iter().map(|c| (c.file(), c.bytes.clone())).collect();
    want.insert("cases.json".to_owned(), manifest(&cases));
    if bless {
        let _ = std::fs::remove_dir_all(root.join("cases"));
        std::fs::create_dir_all(root.join("cases")).unwrap();
        for (name, bytes) in &want {
            std::fs::write(root.join(name), bytes).unwrap();
        }
    }
    let mut have = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("cases")).expect("testdata/bad/cases exists") {
        have.insert(format!(
            "cases/{}",
            entry.unwrap().file_name().to_string_lossy()
        ));
    }
    have.insert("cases.json".to_owned());
    let names: BTreeSet<String> = want.keys().cloned().collect();
    assert_eq!(
        have, names,
        "testdata/bad holds other files than the generator writes; run with TALLYLOG_BLESS=1"
    );
    for (name, bytes) in &want {
        let got = std::fs::read(root.join(name)).unwrap();
        assert!(
            &got == bytes,
            "testdata/bad/{name} is not what the generator writes; run with TALLYLOG_BLESS=1 and read the diff"
        );
    }
}

#[test]
fn the_corpus_is_large_and_covers_every_reason_code() {
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let codes: BTreeSet<&str> = cases.iter().map(|c| c.code).collect();
    for code in ALL_CODES {
        assert!(codes.contains(code), "no case for {code}");
    }
    for c in &cases {
        assert!(
            ALL_CODES.contains(&c.code),
            "{}: {} is no code",
            c.name,
            c.code
        );
    }
}

/// The core's verdict on bytes after a prefix.
fn core_verdict(state: &MemoryState, bytes: &[u8]) -> String {
    let ev = match SignedEvent::decode_verified(bytes) {
        Ok(ev) => ev,
        Err(e) => return e.code().to_owned(),
    };
    match check(state, &ev) {
        Ok(_) => "accepted".to_owned(),
        Err(CheckError::Rejected(r)) => r.code().to_owned(),
        Err(e) => panic!("a memory view cannot fail: {e}"),
    }
}

#[test]
fn the_core_gives_every_committed_case_its_code() {
    let _lock = CORPUS.lock().unwrap_or_else(|e| e.into_inner());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir().join("cases.json")).unwrap()).unwrap();
    let mut sample_state = MemoryState::new();
    for ev in sample::events() {
        sample_state.accept(&ev).unwrap();
    }
    let empty = MemoryState::new();
    let mut n = 0;
    for c in manifest["cases"].as_array().unwrap() {
        let bytes = std::fs::read(dir().join(c["file"].as_str().unwrap())).unwrap();
        let state = match c["prefix"].as_str().unwrap() {
            "sample" => &sample_state,
            "empty" => &empty,
            other => panic!("unknown prefix {other}"),
        };
        assert_eq!(state.size() == 0, c["prefix"] == "empty");
        let got = core_verdict(state, &bytes);
        assert_eq!(
            got, c["expect"]["core"],
            "{}: {}",
            c["name"], c["description"]
        );
        n += 1;
    }
    assert!(n >= 50);
}
