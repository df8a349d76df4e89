//! Hostile bundles: whatever the file holds, the reader says what is wrong
//! with it (and where) instead of failing obscurely or reading past it.

use std::io::Write;

use tallylog_audit::bundle::{BundleError, Item, Reader};
use tallylog_audit::{audit_bundle, Options};

fn read_all(bytes: &[u8]) -> Result<Vec<Item>, BundleError> {
    let (_, mut r) = Reader::open(bytes)?;
    let mut out = Vec::new();
    while let Some(i) = r.next_item()? {
        out.push(i);
    }
    Ok(out)
}

fn msg(bytes: &[u8]) -> String {
    match read_all(bytes) {
        Err(e) => e.to_string(),
        Ok(items) => panic!("accepted a hostile bundle: {} items", items.len()),
    }
}

const HEADER: &str =
    r#"{"bundle":"tallylog/bundle/v1","election":"e1","origin":"tallylog.example/e1","size":1}"#;

#[test]
fn malformed_bundles_are_refused_with_the_reason() {
    assert!(msg(b"").contains("the bundle is empty"));
    assert!(msg(b"not json\n").contains("line 1: not a bundle header"));
    assert!(msg(b"{\"bundle\":\"x\"}\n").contains("line 1: not a bundle header"));
    let v9 = r#"{"bundle":"tallylog/bundle/v9","election":"e1","origin":"tallylog.example/e1","size":1}"#;
    assert!(msg(format!("{v9}\n").as_bytes()).contains("is not \"tallylog/bundle/v1\""));
    let extra = r#"{"bundle":"tallylog/bundle/v1","election":"e1","origin":"tallylog.example/e1","size":1,"x":1}"#;
    assert!(msg(format!("{extra}\n").as_bytes()).contains("unknown field"));
    // A last line without its newline: the file was cut short.
    assert!(msg(format!("{HEADER}\n{{\"event\":1}}").as_bytes())
        .contains("line 2: the last line is cut off"));
    // A line longer than any entry or checkpoint can be.
    let long = format!("{HEADER}\n{}\n", "x".repeat(600_000));
    assert!(msg(long.as_bytes()).contains("line 2: the line is longer than"));
    // A checkpoint line that is not one.
    assert!(msg(format!("{HEADER}\n{{\"checkpoint\":1}}\n").as_bytes())
        .contains("line 2: not a checkpoint line"));
}

#[test]
fn an_entry_that_is_not_one_fails_the_audit_at_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{HEADER}").unwrap();
    writeln!(f, "{{\"event\":\"../../etc/passwd\",\"index\":0}}").unwrap();
    drop(f);
    let r = audit_bundle(&path, Options::default(), |_, _| {}).unwrap();
    assert!(!r.verified);
    let f = r.failure.unwrap();
    assert_eq!((f.index, f.code.as_str()), (Some(0), "bad_entry"));
}
