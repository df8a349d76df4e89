//! The hostile-input corpus (`testdata/bad/`, see crates/core/tests/bad_corpus.rs)
//! through the file entry points, as real processes: `tallylog event verify
//! FILE` (decoding and signature only) and `tallylog submit FILE` (to a real
//! ledger and nats-server on a free port, after each case's prefix). Every
//! case must be reported with exactly the codes the corpus gives, line by
//! line; afterwards the log holds only the prefix, and good events still go
//! through. The corpus's `paths` are file names that are themselves the
//! trick: directories, links, `..`, names that look like flags or hold line
//! breaks, and a line too long to load.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tallylog_core::event::SignedEvent;
use tallylog_core::keys::test_key;
use tallylog_core::receipt::Reply;
use tallylog_core::replay::Replay;
use tallylog_core::sample;
use tallylog_core::types::{LogIndex, PublicKey};
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tallylog_store::Store;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_tallylog");

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bad")
}

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(corpus_dir().join("cases.json")).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// One case of the corpus, as the file commands need it.
struct Case {
    name: String,
    prefix: String,
    bytes: Vec<u8>,
    verify: Vec<String>,
    submit: Vec<String>,
}

fn corpus() -> Vec<Case> {
    manifest()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_owned(),
            prefix: c["prefix"].as_str().unwrap().to_owned(),
            bytes: std::fs::read(corpus_dir().join(c["file"].as_str().unwrap())).unwrap(),
            verify: strings(&c["expect"]["verify"]),
            submit: strings(&c["expect"]["submit"]),
        })
        .collect()
}

fn case_bytes(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(format!("cases/{name}.bin"))).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The numbers (from 1) of the non-empty lines of `bytes`, as the file
/// commands count lines.
fn line_numbers(bytes: &[u8]) -> Vec<usize> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, _)| i + 1)
        .collect()
}

/// The word after `prefix` in `out` (up to a colon or a space), if `prefix`
/// occurs: the verdict a command printed for one line.
fn verdict_after<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
    let at = out.find(prefix)? + prefix.len();
    let rest = &out[at..];
    let rest = rest.strip_prefix("rejected: ").unwrap_or(rest);
    rest.split([':', ' ', '\n']).next()
}

/// Checks a run of a file command against the expected verdicts: per line
/// (and exit 0 or 1, if `whole_run`: the run was for this file alone), or
/// `error:TEXT` (exit 2, TEXT in the message). `per_line(n)` is the verdict
/// the run printed for line `n`, if any; `silent` the one it prints nothing for.
fn judge(
    what: &str,
    out: &Output,
    want: &[String],
    lines: &[usize],
    per_line: impl Fn(usize) -> Option<String>,
    silent: &str,
    whole_run: bool,
) -> Option<String> {
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    if let [only] = want {
        if let Some(fragment) = only.strip_prefix("error:") {
            return (out.status.code() != Some(2) || !stderr.contains(fragment)).then(|| {
                format!(
                    "{what}: want exit 2 naming {fragment:?}, got {:?}: {stderr} {stdout}",
                    out.status.code()
                )
            });
        }
    }
    let got: Vec<String> = lines
        .iter()
        .map(|&n| per_line(n).unwrap_or_else(|| silent.to_owned()))
        .collect();
    let exit = if want.iter().all(|w| w == silent) {
        0
    } else {
        1
    };
    (got != want || (whole_run && out.status.code() != Some(exit))).then(|| {
        format!(
            "{what}: want {want:?} (exit {exit}), got {got:?} (exit {:?}): {stdout} {stderr}",
            out.status.code()
        )
    })
}

fn verify_cmd(dir: &Path, args: &[OsString], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["event", "verify"])
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

/// `tallylog event verify`'s verdict on each non-empty line of `bytes`.
fn check_verify(what: &str, out: &Output, bytes: &[u8], want: &[String]) -> Option<String> {
    let stdout = text(&out.stdout);
    judge(
        what,
        out,
        want,
        &line_numbers(bytes),
        |n| verdict_after(&stdout, &format!("line {n}: ")).map(str::to_owned),
        "ok",
        true,
    )
}

#[test]
fn event_verify_reports_every_hostile_case_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    assert!(cases.len() >= 50);
    let mut failures = Vec::new();
    for c in &cases {
        let file = dir.path().join(format!("{}.bin", c.name));
        std::fs::write(&file, &c.bytes).unwrap();
        let out = verify_cmd(dir.path(), &[file.into()], None);
        failures.extend(check_verify(&c.name, &out, &c.bytes, &c.verify));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A file-name trick made real in `dir`: the arguments to give (after the
/// command), the standard input, and the bytes the file named holds.
fn setup(p: &Value, dir: &Path) -> (Vec<OsString>, Option<Vec<u8>>, Vec<u8>) {
    let bytes = p["case"].as_str().map(case_bytes).unwrap_or_default();
    let plain = |name: &str| {
        std::fs::write(dir.join(name), &bytes).unwrap();
        dir.join(name).into_os_string()
    };
    match p["setup"].as_str().unwrap() {
        "directory" => {
            std::fs::create_dir(dir.join("a-directory")).unwrap();
            (vec![dir.join("a-directory").into()], None, bytes)
        }
        "missing" => (vec![dir.join("missing.bin").into()], None, bytes),
        "dangling-symlink" => {
            std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
            (vec![dir.join("dangling").into()], None, bytes)
        }
        "symlink" => {
            let target = plain("target.bin");
            std::os::unix::fs::symlink(&target, dir.join("link.bin")).unwrap();
            (vec![dir.join("link.bin").into()], None, bytes)
        }
        "dotdot" => {
            plain("case.bin");
            std::fs::create_dir(dir.join("sub")).unwrap();
            (vec![dir.join("sub/../case.bin").into()], None, bytes)
        }
        "dotdot-missing" => {
            plain("case.bin");
            (vec![dir.join("nowhere/../case.bin").into()], None, bytes)
        }
        "dash-name" => {
            plain("-case.bin");
            (vec!["--".into(), "-case.bin".into()], None, bytes)
        }
        "dash-flag" => {
            plain("-case.bin");
            (vec!["-case.bin".into()], None, bytes)
        }
        "stdin" => (vec!["-".into()], Some(bytes.clone()), bytes),
        "newline-name" => (vec![plain("evil\nline 1: ok.bin")], None, bytes),
        "non-utf8-name" => {
            let name = OsString::from_vec(b"\xff\xfe-case.bin".to_vec());
            std::fs::write(dir.join(&name), &bytes).unwrap();
            (vec![dir.join(&name).into()], None, bytes)
        }
        "huge-line" => {
            // Sparse: 256 MiB of zero bytes that take no disk.
            let f = std::fs::File::create(dir.join("huge.jsonl")).unwrap();
            f.set_len(256 << 20).unwrap();
            (vec![dir.join("huge.jsonl").into()], None, vec![b'0'])
        }
        other => panic!("unknown setup {other}"),
    }
}

#[test]
fn event_verify_is_not_fooled_by_file_names() {
    let mut failures = Vec::new();
    for p in manifest()["paths"].as_array().unwrap() {
        let dir = tempfile::tempdir().unwrap();
        let (args, stdin, bytes) = setup(p, dir.path());
        let name = p["name"].as_str().unwrap();
        let out = if p["setup"] == "huge-line" {
            // Under an address-space limit well below the file's size: a line
            // too long for an event is reported, never loaded.
            let mut limited = vec![OsString::from("-c")];
            limited.push("ulimit -v 131072; exec \"$0\" event verify \"$1\"".into());
            limited.push(BIN.into());
            limited.extend(args);
            Command::new("sh")
                .current_dir(dir.path())
                .args(limited)
                .output()
                .unwrap()
        } else {
            verify_cmd(dir.path(), &args, stdin.as_deref())
        };
        let want = strings(&p["expect"]["verify"]);
        failures.extend(check_verify(name, &out, &bytes, &want));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --- `tallylog submit`, against a real ledger.

/// A nats-server and a ledger, running until dropped.
struct Ledger {
    rt: tokio::runtime::Runtime,
    nats: Option<LocalServer>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    url: String,
    dir: tempfile::TempDir,
}

impl Ledger {
    fn start() -> Ledger {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let nats = rt.block_on(LocalServer::start(None)).unwrap();
        let url = nats.url().to_owned();
        let shutdown = CancellationToken::new();
        let config = tallylog_ledger::Config {
            nats_url: url.clone(),
            election: sample::ELECTION.parse().unwrap(),
            data_dir: dir.path().join("ledger"),
            log_key: test_key(sample::LOG_KEY),
            origin: sample::ORIGIN.parse().unwrap(),
            max_batch: 256,
            witnesses: Vec::new(),
            quorum: 0,
        };
        let s = shutdown.clone();
        let task = rt.spawn(async move {
            tallylog_ledger::run(config, s).await.unwrap();
        });
        let ledger = Ledger {
            rt,
            nats: Some(nats),
            shutdown,
            task: Some(task),
            url,
            dir,
        };
        for _ in 0..400 {
            if ledger.stats().is_some() {
                return ledger;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the ledger did not start");
    }

    fn stats(&self) -> Option<Value> {
        self.rt.block_on(async {
            let client = async_nats::connect(&self.url).await.ok()?;
            let r = client
                .request(
                    Names::new(sample::ELECTION.parse().unwrap()).stats(),
                    "".into(),
                )
                .await
                .ok()?;
            serde_json::from_slice(&r.payload).ok()
        })
    }

    fn submit_prefix(&self) {
        let evs: Vec<SignedEvent> = sample::events()
            .into_iter()
            .map(|e| e.into_event())
            .collect();
        self.rt.block_on(async {
            let s = Submitter::connect(&self.url, Names::new(sample::ELECTION.parse().unwrap()))
                .await
                .unwrap();
            let opts = Options {
                in_flight: 64,
                reply_timeout: Duration::from_secs(20),
                attempts: 3,
                pace: None,
            };
            for (i, r) in s.submit(&evs, &opts, |_, _| {}).await.iter().enumerate() {
                match r {
                    Ok(Reply::Accepted { index, .. }) => assert_eq!(*index, i as u64),
                    other => panic!("sample event {i}: {other:?}"),
                }
            }
        });
    }

    /// `tallylog submit` of `files` (run in `dir`), trusting the sample's log.
    fn submit(&self, dir: &Path, files: &[OsString]) -> Output {
        let log_key: PublicKey = test_key(sample::LOG_KEY).verifying_key().into();
        Command::new(BIN)
            .current_dir(dir)
            .args([
                "submit",
                "--nats",
                &self.url,
                "--election",
                sample::ELECTION,
            ])
            .args(["--log-key", &log_key.to_hex(), "--origin", sample::ORIGIN])
            // Short: cases that share a body (one event id) with a case
            // already judged are dropped by the intake stream as duplicates
            // until the submitter gives up waiting and resends them under a
            // fresh message id (PROTOCOL §9); each such wait is this long.
            .args(["--timeout", "3"])
            .args(files)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn stop(mut self) -> Store {
        self.shutdown.cancel();
        let task = self.task.take().unwrap();
        let nats = self.nats.take().unwrap();
        self.rt.block_on(async move {
            task.await.unwrap();
            nats.stop().await;
        });
        Store::open(&self.dir.path().join("ledger")).unwrap()
    }
}

/// `tallylog submit`'s verdict on each non-empty line of `file` (holding
/// `bytes`): what it printed for the line, else `accepted`, which needs the
/// line's receipt kept beside the file.
fn check_submit(
    what: &str,
    out: &Output,
    file: &Path,
    bytes: &[u8],
    want: &[String],
    whole_run: bool,
) -> Option<String> {
    let stdout = text(&out.stdout);
    let shown = file.display().to_string();
    let failure = judge(
        what,
        out,
        want,
        &line_numbers(bytes),
        |n| verdict_after(&stdout, &format!("{shown}:{n}: ")).map(str::to_owned),
        "accepted",
        whole_run,
    );
    if failure.is_some() || !want.iter().any(|w| w == "accepted") {
        return failure;
    }
    let mut receipts = file.as_os_str().to_owned();
    receipts.push(".receipts.jsonl");
    let kept = std::fs::read_to_string(&receipts).unwrap_or_default();
    let n = want.iter().filter(|w| *w == "accepted").count();
    (kept.lines().count() != n).then(|| format!("{what}: want {n} receipts kept, got {kept:?}"))
}

#[test]
fn submit_reports_every_hostile_case_line_by_line_and_the_log_takes_only_good_events() {
    let cases = corpus();
    let ledger = Ledger::start();
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut run = |cases: Vec<&Case>| {
        // Cases that fail as a whole run alone; the others go in one run,
        // each in its own file, judged line by line.
        let (alone, together): (Vec<&Case>, Vec<&Case>) = cases
            .into_iter()
            .partition(|c| c.submit.iter().any(|w| w.starts_with("error:")));
        let file = |c: &Case| {
            let f = work.path().join(format!("{}.bin", c.name));
            std::fs::write(&f, &c.bytes).unwrap();
            f
        };
        for c in alone {
            let f = file(c);
            let out = ledger.submit(work.path(), &[f.clone().into()]);
            failures.extend(check_submit(&c.name, &out, &f, &c.bytes, &c.submit, true));
        }
        let files: Vec<PathBuf> = together.iter().map(|c| file(c)).collect();
        let args: Vec<OsString> = files.iter().map(|f| f.clone().into()).collect();
        let out = ledger.submit(work.path(), &args);
        // One run for many files exits 1 if any line of any file fails.
        for (c, f) in together.iter().zip(&files) {
            failures.extend(check_submit(&c.name, &out, f, &c.bytes, &c.submit, false));
        }
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    };

    // First what must be refused by an empty log.
    run(cases.iter().filter(|c| c.prefix == "empty").collect());
    assert_eq!(ledger.stats().unwrap()["log_size"], 0);
    // Then the sample election, and what must be refused after it.
    ledger.submit_prefix();
    run(cases.iter().filter(|c| c.prefix == "sample").collect());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let size = sample::events().len() as u64;
    assert_eq!(ledger.stats().unwrap()["log_size"], size);

    // Good events still go through, from a file, with receipts kept.
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    let good = sample::more_results(&mut authority, 3);
    let mut lines = Vec::new();
    for ev in &good {
        lines.extend_from_slice(ev.bytes());
        lines.push(b'\n');
    }
    let f = work.path().join("good.jsonl");
    std::fs::write(&f, &lines).unwrap();
    let out = ledger.submit(work.path(), &[f.clone().into()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let want = vec!["accepted".to_owned(); good.len()];
    assert_eq!(check_submit("good", &out, &f, &lines, &want, true), None);

    // The store holds the sample and the good events, and verifies.
    let store = ledger.stop();
    assert_eq!(store.head().size, size + good.len() as u64);
    let mut replay = Replay::new();
    let all: Vec<_> = sample::events().into_iter().chain(good).collect();
    for (i, ev) in all.iter().enumerate() {
        let entry = store.entry(LogIndex(i as u64)).unwrap().unwrap();
        assert_eq!(entry.event().bytes(), ev.bytes(), "entry {i}");
        replay.push(&entry).unwrap();
    }
    assert_eq!(replay.root(), store.head().root);
}

#[test]
fn submit_is_not_fooled_by_file_names() {
    let ledger = Ledger::start();
    ledger.submit_prefix();
    let mut failures = Vec::new();
    for p in manifest()["paths"].as_array().unwrap() {
        if p["expect"]["submit"].is_null() {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let (args, _, bytes) = setup(p, dir.path());
        let name = p["name"].as_str().unwrap();
        let out = ledger.submit(dir.path(), &args);
        let want = strings(&p["expect"]["submit"]);
        // The file the verdicts name: the last argument, as submit shows it.
        let file = PathBuf::from(args.last().unwrap());
        failures.extend(check_submit(name, &out, &file, &bytes, &want, true));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let size = sample::events().len() as u64;
    assert_eq!(ledger.stats().unwrap()["log_size"], size);
    assert_eq!(ledger.stop().head().size, size);
}

#[test]
fn submit_refuses_a_file_too_large_to_hold() {
    // Sparse: 600 MiB of zero bytes that take no disk. `submit` keeps what it
    // sends until the receipts come, so it bounds a file instead of reading
    // it until memory runs out.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeros.jsonl");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(600 * 1024 * 1024)
        .unwrap();
    let out = Command::new(BIN)
        .args(["submit", "--nats", "nats://127.0.0.1:1"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is larger than") && err.contains("split"),
        "{err}"
    );
}
