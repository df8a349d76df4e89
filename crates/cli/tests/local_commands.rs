//! The local commands as a publisher and a sceptic use them: real processes,
//! real files.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tallylog(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tallylog"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(b) = stdin {
        input.write_all(b).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const DRAFT: &str = r#"{
  "kind": "result",
  "election": "kh-2023-na",
  "time": "2023-07-23T17:05:00Z",
  "data": {"station": "12/03/04/0042", "contest": "na", "registered": 600, "cast": 480,
           "valid": 470, "invalid": 10, "votes": {"CPP": 300, "CRP": 170}}
}"#;

fn keygen(dir: &Path) -> (String, String) {
    let key = dir.join("observer.key");
    let out = tallylog(&["keygen", "--out", key.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (
        key.to_str().unwrap().to_owned(),
        text(&out.stdout).trim().to_owned(),
    )
}

#[test]
fn keygen_writes_a_private_file_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    assert_eq!(public.len(), 64, "{public}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(&key).unwrap();
    let again = tallylog(&["keygen", "--out", &key], None);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("never overwrites"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // The secret never appears on the terminal.
    let secret_hex = text(&before);
    assert!(!text(&again.stderr).contains(&secret_hex[secret_hex.len() - 40..]));
}

#[test]
fn signed_events_chain_verify_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    let events = dir.path().join("events.jsonl");
    for _ in 0..3 {
        let out = tallylog(
            &[
                "event",
                "sign",
                "--key",
                &key,
                "--out",
                events.to_str().unwrap(),
            ],
            Some(DRAFT.as_bytes()),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let verify = tallylog(&["event", "verify", events.to_str().unwrap()], None);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    let report = text(&verify.stdout);
    for seq in 1..=3 {
        assert!(report.contains(&format!("seq={seq} ")), "{report}");
    }
    assert!(report.contains(&format!("author={public}")), "{report}");

    // Each event names its predecessor.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines[0]["body"].get("prev").is_none());
    assert!(lines[1]["body"]["prev"].is_string());

    // A changed vote count fails with bad_signature; whitespace with non_canonical.
    let original = std::fs::read_to_string(&events).unwrap();
    let forged = original.replacen("\"CPP\":300", "\"CPP\":310", 1);
    let spaced = original.replacen("{\"body\":", "{ \"body\":", 1);
    for (bad, code) in [(forged, "bad_signature"), (spaced, "non_canonical")] {
        let out = tallylog(&["event", "verify", "-"], Some(bad.as_bytes()));
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stdout).contains(&format!("line 1: {code}")),
            "{}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stdout).contains("line 2: ok"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn bad_drafts_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path());
    for (draft, says) in [
        (
            DRAFT.replace("\"valid\": 470", "\"valid\": 470, \"valid\": 1"),
            "duplicate key",
        ),
        (
            DRAFT.replace("\"cast\": 480", "\"cast\": 480.5"),
            "cannot be carried exactly",
        ),
        (DRAFT.replace("\"contest\"", "\"contset\""), "unknown field"),
        (DRAFT.replace("12/03/04/0042", "12/03/04"), "station code"),
        (DRAFT.replace("\"result\"", "\"resutl\""), "unknown value"),
    ] {
        let out = tallylog(&["event", "sign", "--key", &key], Some(draft.as_bytes()));
        assert_eq!(out.status.code(), Some(2), "{draft}");
        assert!(
            text(&out.stderr).contains(says),
            "{says}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
    // A refused draft does not advance the chain: the next good one is seq 1.
    let out = tallylog(&["event", "sign", "--key", &key], Some(DRAFT.as_bytes()));
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("\"seq\":1,"));
}

#[test]
fn an_equivocation_file_is_checked_by_anyone() {
    use tallylog_core::merkle::record_hash;
    use tallylog_core::sample;
    let dir = tempfile::tempdir().unwrap();
    let log = sample::log_signer();
    let e = serde_json::json!({
        "origin": sample::ORIGIN,
        "log_key": log.public_key(),
        "a": String::from_utf8(log.sign(28, record_hash(b"one history"))).unwrap(),
        "b": String::from_utf8(log.sign(28, record_hash(b"another"))).unwrap(),
    });
    let file = dir.path().join("equivocation.json");
    std::fs::write(&file, serde_json::to_vec(&e).unwrap()).unwrap();
    let out = tallylog(&["audit", "--equivocation", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("PROVEN: the log tallylog.example/sample-2023"));

    // The same checkpoint twice proves nothing: exit 1.
    let mut same = e.clone();
    same["b"] = same["a"].clone();
    std::fs::write(&file, serde_json::to_vec(&same).unwrap()).unwrap();
    let out = tallylog(&["audit", "--equivocation", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("not an equivocation"));
}

#[test]
fn an_unproven_equivocation_is_not_a_proof() {
    use tallylog_core::merkle::record_hash;
    use tallylog_core::sample;
    let dir = tempfile::tempdir().unwrap();
    let log = sample::log_signer();
    // Two sizes, and no consistency proof linking them: the log failed to
    // show the larger extends the smaller, which is not proof of a fork.
    let e = serde_json::json!({
        "origin": sample::ORIGIN,
        "log_key": log.public_key(),
        "a": String::from_utf8(log.sign(28, record_hash(b"one history"))).unwrap(),
        "b": String::from_utf8(log.sign(30, record_hash(b"a longer one"))).unwrap(),
    });
    let file = dir.path().join("equivocation.json");
    std::fs::write(&file, serde_json::to_vec(&e).unwrap()).unwrap();
    let out = tallylog(&["audit", "--equivocation", file.to_str().unwrap()], None);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.starts_with("NOT PROVEN: the log tallylog.example/sample-2023"),
        "{said}"
    );
    assert!(said.contains("sizes 28 and 30"), "{said}");
    // One line, its words separated by single spaces.
    assert_eq!(said.trim_end().lines().count(), 1, "{said}");
    assert!(!said.contains("  "), "{said}");
}

/// Writes `events` as an audit bundle whose header says `origin`, with a
/// checkpoint of the whole log at the end.
fn write_bundle(path: &Path, origin: &str, events: &[tallylog_core::event::SignedEvent]) {
    use tallylog_audit::bundle::{Header, Writer, FORMAT};
    use tallylog_core::entry::{Entry, GENESIS_PREV};
    use tallylog_core::merkle::MemoryTree;
    use tallylog_core::types::LogIndex;
    let header = Header {
        bundle: FORMAT.to_owned(),
        election: tallylog_core::sample::ELECTION.parse().unwrap(),
        origin: origin.parse().unwrap(),
        size: events.len() as u64,
    };
    let mut w = Writer::new(std::fs::File::create(path).unwrap(), &header).unwrap();
    let mut prev = GENESIS_PREV;
    let mut tree = MemoryTree::new();
    for (i, ev) in events.iter().enumerate() {
        let e = Entry::new(LogIndex(i as u64), prev, ev.clone());
        prev = e.chain_hash();
        tree.push(prev);
        w.entry(e.bytes()).unwrap();
    }
    w.checkpoint(&tallylog_core::sample::log_signer().sign(tree.size(), tree.root()))
        .unwrap();
    w.finish().unwrap();
}

#[test]
fn the_monitor_state_is_kept_by_the_origin_the_log_itself_names() {
    use tallylog_core::sample;
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = sample::events()
        .into_iter()
        .map(|e| e.into_event())
        .collect();
    let n = events.len();
    let state = dir.path().join("monitor.json");
    let audit = |bundle: &Path| {
        tallylog(
            &[
                "audit",
                bundle.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
                "--quiet",
            ],
            None,
        )
    };
    let keys = || -> Vec<String> {
        let s: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        s.keys().cloned().collect()
    };

    let whole = dir.path().join("whole.jsonl");
    write_bundle(&whole, sample::ORIGIN, &events);
    let out = audit(&whole);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(keys(), [sample::ORIGIN]);
    let before = std::fs::read(&state).unwrap();

    // The log rolled back by one entry is caught...
    let shorter = dir.path().join("shorter.jsonl");
    write_bundle(&shorter, sample::ORIGIN, &events[..n - 1]);
    let out = audit(&shorter);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("[rollback]"),
        "{}",
        text(&out.stdout)
    );

    // ...and a header naming another log does not make it a stranger: the
    // header must be the log's own, and the state is left as it was.
    let disguised = dir.path().join("disguised.jsonl");
    write_bundle(
        &disguised,
        "tallylog.example/not-seen-before",
        &events[..n - 1],
    );
    let out = audit(&disguised);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FAILED: entry 0") && said.contains("[header_mismatch]"),
        "{said}"
    );
    assert_eq!(std::fs::read(&state).unwrap(), before);
}
