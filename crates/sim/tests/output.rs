//! A simulated election written to a directory holds exactly the generated
//! events, in order, with keys and chain states that continue them.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use tallylog_core::event::SignedEvent;
use tallylog_core::keys::decode_secret;
use tallylog_core::publisher::ChainState;
use tallylog_core::types::{ElectionId, PublicKey};
use tallylog_sim::election::{self, Size};
use tallylog_sim::output::{self, Participants};

#[test]
fn the_files_hold_the_generated_events_in_order_and_the_keys_continue_them() {
    let dir = tempfile::tempdir().unwrap();
    let m = output::write(Size::Tiny, 1, dir.path(), |_| {}).unwrap();
    let g = election::generate(Size::Tiny, 1);
    assert_eq!(m.events, g.events.len() as u64);
    assert_eq!(m.spec, Size::Tiny.spec());
    assert_eq!(output::read_manifest(dir.path()).unwrap(), m);

    // The files, concatenated in the manifest's order, are the events.
    let mut lines = Vec::new();
    let mut index = 0;
    for f in &m.files {
        let text = std::fs::read(dir.path().join(&f.file)).unwrap();
        assert_eq!(f.first_index, index);
        assert_eq!(text.len() as u64, f.bytes);
        let n = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(n as u64, f.events);
        index += f.events;
        lines.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    assert_eq!(lines.len(), g.events.len());
    for (line, ev) in lines.iter().zip(&g.events) {
        assert_eq!(line.as_slice(), ev.bytes());
    }
    // The setup is the root key's: definition, geography, registrations.
    assert_eq!(m.files[0].file, output::SETUP);
    let root = PublicKey::from(g.root_key.verifying_key());
    let setup: Vec<SignedEvent> = std::fs::read_to_string(dir.path().join(output::SETUP))
        .unwrap()
        .lines()
        .map(|l| SignedEvent::decode(l.as_bytes()).unwrap())
        .collect();
    assert!(setup.iter().all(|e| e.body().author == root));
    assert_ne!(g.events[setup.len()].body().author, root);

    // Who is who, and each key's file and chain state.
    let who: Participants =
        serde_json::from_slice(&std::fs::read(dir.path().join(output::PARTICIPANTS)).unwrap())
            .unwrap();
    assert_eq!(who.root.public_key, m.root_key);
    assert_eq!(who.publishers.len(), g.keys.len());
    let mut last: HashMap<PublicKey, ChainState> = HashMap::new();
    for ev in &g.events {
        last.insert(
            ev.body().author,
            ChainState {
                seq: ev.body().seq.0,
                last: Some(ev.id()),
            },
        );
    }
    let election: ElectionId = m.election.clone();
    for (entry, (name, key)) in who.publishers.iter().zip(&g.keys) {
        assert_eq!(&entry.name, name);
        let path = dir.path().join(&entry.key_file);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let read = decode_secret(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read.to_bytes(), key.to_bytes());
        assert_eq!(entry.public_key, PublicKey::from(key.verifying_key()));
        let chains: HashMap<ElectionId, ChainState> = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{}.chain.json", entry.key_file))).unwrap(),
        )
        .unwrap();
        assert_eq!(chains[&election], last[&entry.public_key]);
        assert_eq!(entry.events, last[&entry.public_key].seq);
    }
    assert_eq!(who.publishers[0].name, "authority");
    assert!(output::certification_time(&m) > m.last_time);
}

#[test]
fn nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    output::write(Size::Tiny, 1, dir.path(), |_| {}).unwrap();
    assert!(output::write(Size::Tiny, 1, dir.path(), |_| {}).is_err());
}
