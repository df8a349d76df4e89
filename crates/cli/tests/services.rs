//! The services as an operator and a publisher run them: real processes, a real
//! nats-server on a free port, real files. Includes the crash test: the ledger
//! killed with SIGKILL again and again while submissions stream in.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tallylog_core::entry::Entry;
use tallylog_core::event::SignedEvent;
use tallylog_core::keys::{encode_secret, test_key};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::replay::Replay;
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tallylog_store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_tallylog");

fn write_log_key(dir: &Path) -> String {
    let p = dir.join("log.key");
    std::fs::write(&p, encode_secret(&test_key(sample::LOG_KEY))).unwrap();
    p.to_str().unwrap().to_owned()
}

fn start_ledger(url: &str, data: &Path, key: &str) -> Child {
    // Its log goes to DATA/../ledger.log, for the post-mortem of a failed run.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.parent().unwrap().join("ledger.log"))
        .unwrap();
    Command::new(BIN)
        .env("TALLYLOG_LOG", "info,tallylog_ledger=debug")
        .args([
            "ledger",
            "--nats",
            url,
            "--data",
            data.to_str().unwrap(),
            "--election",
            sample::ELECTION,
            "--origin",
            sample::ORIGIN,
            "--log-key",
            key,
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

/// The sample, then `n` result forms by the authority continuing its chain.
fn workload(n: usize) -> Vec<SignedEvent> {
    let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
    sample::events()
        .into_iter()
        .chain(sample::more_results(&mut authority, n))
        .map(|e| e.into_event())
        .collect()
}

/// Sends SIGTERM to a process when dropped (a test that fails leaves no
/// service behind; `up` then stops its own nats-server).
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.to_string()])
            .status();
    }
}

/// A plain HTTP/1.1 GET over a socket; the whole response as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    out
}

/// Everything an auditor would check of the store, from the bytes up.
fn verify_store(data: &Path) -> Store {
    let store = Store::open(&data.join("ledger")).expect("the store opens after the crashes");
    let head = store.head();
    let mut replay = Replay::new();
    for i in 0..head.size {
        let e = store.entry(LogIndex(i)).unwrap().expect("no gaps");
        replay.push(&e).unwrap_or_else(|e| {
            panic!("the log does not verify (duplicates and forks break the rules): {e}")
        });
    }
    assert_eq!((replay.chain(), replay.root()), (head.chain, head.root));
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_then_submit_a_file_then_a_csv_export() {
    let dir = tempfile::tempdir().unwrap();
    let key = write_log_key(dir.path());
    let data = dir.path().join("data");
    let mut up = Command::new(BIN)
        .args([
            "up",
            "--http",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
            "--election",
            sample::ELECTION,
            "--origin",
            sample::ORIGIN,
            "--log-key",
            &key,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // If an assertion fails, `up` (and its nats-server) must not outlive the test.
    let _stop_up = StopOnDrop(up.id());
    // `up` prints the NATS URL first, and the gateway's URL last.
    // (The reader lives as long as `up`: its stdout stays open.)
    let mut up_out = {
        use std::io::BufRead;
        std::io::BufReader::new(up.stdout.take().unwrap()).lines()
    };
    let (url, http) = {
        let mut line = || up_out.next().unwrap().unwrap();
        let url = line().strip_prefix("nats: ").unwrap().trim().to_owned();
        let http = loop {
            if let Some(h) = line().strip_prefix("gateway: http://") {
                break h.trim().to_owned();
            }
        };
        (url, http)
    };
    // Submit once the ledger is up (the gateway sees it answer).
    let mut ready = false;
    for _ in 0..600 {
        let h = http_get(&http, "/healthz");
        if h.contains("\"ledger\":true") {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready, "the ledger never came up");

    let events = dir.path().join("events.jsonl");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/events.jsonl"),
        &events,
    )
    .unwrap();
    let submit = Command::new(BIN)
        .args(["submit", "--nats", &url, events.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        submit.status.success(),
        "{}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let receipts = std::fs::read_to_string(dir.path().join("events.jsonl.receipts.jsonl")).unwrap();
    assert_eq!(receipts.lines().count(), sample::events().len());
    // Run again: nothing is sent twice and the receipts are not duplicated.
    let again = Command::new(BIN)
        .args(["submit", "--nats", &url, events.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("28 events already have verified receipts"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("events.jsonl.receipts.jsonl")).unwrap(),
        receipts
    );

    // An observer's spreadsheet, signed with its key and submitted.
    let obs_key = dir.path().join("observer.key");
    std::fs::write(&obs_key, encode_secret(&test_key(sample::OBSERVER_NEW_KEY))).unwrap();
    // The observer's key already published in the sample: continue its chain.
    let sample_events = sample::events();
    let last = sample_events
        .iter()
        .rfind(|e| e.body().author == test_key(sample::OBSERVER_NEW_KEY).verifying_key().into())
        .unwrap();
    std::fs::write(
        dir.path().join("observer.key.chain.json"),
        format!(
            "{{\"{}\":{{\"seq\":{},\"last\":\"{}\"}}}}",
            sample::ELECTION,
            last.body().seq.0,
            last.id()
        ),
    )
    .unwrap();
    let csv = dir.path().join("forms.csv");
    std::fs::write(
        &csv,
        "station,contest,registered,cast,valid,invalid,ALPHA,BETA,GAMMA\n\
         02/01/01/0001,na,700,622,610,12,200,350,60\n\
         02/01/01/0002,na,450,318,310,8,150,140,20\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "submit",
            "--nats",
            &url,
            "--csv",
            "--key",
            obs_key.to_str().unwrap(),
            "--election",
            sample::ELECTION,
            csv.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("forms.csv.receipts.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );
    // A draft with a forged figure is refused by the ledger and reported.
    let signed = std::fs::read_to_string(dir.path().join("forms.csv.signed.jsonl")).unwrap();
    let forged = dir.path().join("forged.jsonl");
    std::fs::write(
        &forged,
        signed.replacen("\"ALPHA\":200", "\"ALPHA\":900", 1),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["submit", "--nats", &url, forged.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("forged.jsonl:1: rejected: bad_signature"),
        "{report}"
    );
    assert!(
        !report.contains("forged.jsonl:2"),
        "the second line is a duplicate, answered with its receipt: {report}"
    );

    // The projector `up` runs answers `tallylog tally` once it has folded
    // the 30 entries (the sample and the observer's two forms).
    let tally = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["tally", "--nats", &url, "--election", sample::ELECTION])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mut live = serde_json::Value::Null;
    for _ in 0..200 {
        live = serde_json::from_str(&tally(&["status", "--json"])).unwrap();
        if live["size"] == 30 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(live["size"], 30, "{live}");
    // The gateway `up` runs serves the same projection over HTTP.
    let status = http_get(&http, "/v1/status");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let body: serde_json::Value =
        serde_json::from_str(status.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["size"], 30, "{body}");
    assert_eq!(
        body["answer"]["projection"], live["answer"]["projection"],
        "one projection, whichever way it is asked"
    );
    let table = tally(&["tallies", "--level", "province"]);
    // Province 01: ALPHA 250 + 262 (the recount); province 02: 200 + 150.
    let row = table.lines().find(|l| l.starts_with("01 ")).unwrap();
    assert!(row.contains(" 512 "), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("02 ") && l.contains(" 350 ")),
        "{table}"
    );
    let cmp = tally(&["compare", "--with", "Citizens Observer Network"]);
    // The observer's copies: 01/01/01/0001 matches, 01/01/01/0002 differs from
    // the recount, and its CSV forms for 02/01/01/000{1,2} match.
    assert!(
        cmp.contains("match rate 75.0% (3 of 4 stations both published)"),
        "{cmp}"
    );
    assert!(cmp.contains("votes.ALPHA 262 vs 260"), "{cmp}");
    let board = tally(&["complaints", "--now", "2023-08-01T00:00:00Z"]);
    assert!(board.contains("1 overdue"), "{board}");
    let seats = tally(&["seats"]);
    assert!(
        seats
            .lines()
            .any(|l| l.starts_with("ALPHA") && l.trim_end().ends_with('3')),
        "{seats}"
    );

    // An auditor reads the running ledger over NATS and verifies it all.
    let out = Command::new(BIN)
        .args([
            "audit",
            "--nats",
            &url,
            "--election",
            sample::ELECTION,
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified: 30 entries, 1 checkpoints"));

    // And over HTTP, through the gateway, trusting it for nothing (the
    // gateway shows a checkpoint once it holds every entry under it).
    let audit_http = || {
        Command::new(BIN)
            .args(["audit", "--gateway", &format!("http://{http}"), "--quiet"])
            .output()
            .unwrap()
    };
    let mut out = audit_http();
    for _ in 0..100 {
        if String::from_utf8_lossy(&out.stdout).contains("verified: 30 entries") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        out = audit_http();
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("verified: 30 entries, 1 checkpoints"),
        "{stdout}"
    );

    // SIGTERM: `up` stops the ledger and its nats-server and exits cleanly.
    Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status()
        .unwrap();
    let status = up.wait().unwrap();
    assert!(status.success(), "{status}");
    let store = verify_store(&data);
    assert_eq!(store.head().size, sample::events().len() as u64 + 2);
    drop(store);

    // Folding the stored log here gives the live projector's hash.
    let out = Command::new(BIN)
        .args(["tally", "--log", data.to_str().unwrap(), "status", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(local["answer"]["projection"], live["answer"]["projection"]);

    // Exported as a bundle, the log audits clean against the root key, and
    // the auditor remembers the checkpoint it verified.
    let bundle = dir.path().join("bundle.jsonl");
    let state = dir.path().join("monitor.json");
    let report = dir.path().join("report.json");
    let run = |args: &[&str]| Command::new(BIN).args(args).output().unwrap();
    let out = run(&[
        "export",
        "--log",
        data.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = tallylog_core::types::PublicKey::from(test_key(sample::ROOT_KEY).verifying_key())
        .to_string();
    let audit = |b: &Path| {
        run(&[
            "audit",
            b.to_str().unwrap(),
            "--root-key",
            &root,
            "--state",
            state.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--quiet",
        ])
    };
    let out = audit(&bundle);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified: 30 entries"));
    assert!(std::fs::read_to_string(&state)
        .unwrap()
        .contains(sample::ORIGIN));
    // Audited again with the monitor state: the same log is recognised.
    let out = audit(&bundle);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("the first 30 entries are the ones verified before"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // One figure changed in the bundle: exit 1, and the entry is named.
    let text = std::fs::read_to_string(&bundle).unwrap();
    let forged = dir.path().join("forged-bundle.jsonl");
    std::fs::write(&forged, text.replacen("\"ALPHA\":262", "\"ALPHA\":626", 1)).unwrap();
    let out = audit(&forged);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("FAILED: entry 19") && said.contains("bad_signature"),
        "{said}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["failure"]["index"], 19);
    // The bundle is also a log `tally` can fold, to the same projection.
    let out = run(&[
        "tally",
        "--entries",
        bundle.to_str().unwrap(),
        "status",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(folded["answer"]["projection"], live["answer"]["projection"]);
    // Not a bundle at all: exit 2.
    let out = audit(&events);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_killed_again_and_again_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    eprintln!("working in {}", dir.path().display());
    let key = write_log_key(dir.path());
    let data = dir.path().join("data");
    let server = LocalServer::start(None).await.unwrap();
    let url = server.url().to_owned();
    let mut ledger = start_ledger(&url, &data, &key);

    let events = workload(3000);
    let submitter = Submitter::connect(&url, names()).await.unwrap();
    let opts = Options {
        in_flight: 256,
        reply_timeout: Duration::from_secs(2),
        attempts: 30,
        pace: Some(1500.0),
    };
    let killer = {
        let data = data.clone();
        let key = key.clone();
        let url = url.clone();
        tokio::spawn(async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(350)).await;
                ledger.kill().unwrap();
                ledger.wait().unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                ledger = start_ledger(&url, &data, &key);
            }
            ledger
        })
    };
    let replies = submitter.submit(&events, &opts, |_, _| {}).await;
    let mut ledger = killer.await.unwrap();

    // Every event got a receipt; each receipt verifies.
    let verifier = sample::log_signer().verifier();
    let mut indexes = Vec::new();
    for (ev, r) in events.iter().zip(&replies) {
        match r {
            Ok(Reply::Accepted { index, receipt, .. }) => {
                Receipt::decode(receipt)
                    .unwrap()
                    .verify(ev, &verifier)
                    .unwrap();
                indexes.push(*index);
            }
            other => panic!("expected a receipt, got {other:?}"),
        }
    }
    // Let the log stream catch up, then stop the ledger and inspect everything.
    let js = async_nats::jetstream::new(submitter.client().clone());
    let want = events.len() as u64;
    let mut last = 0;
    for _ in 0..200 {
        let mut s = js.get_stream(names().log_stream()).await.unwrap();
        last = s.info().await.unwrap().state.last_sequence;
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, want, "the log stream caught up");
    let stream = js.get_stream(names().log_stream()).await.unwrap();
    ledger.kill().unwrap();
    ledger.wait().unwrap();

    // Exactly once, in submission order (one publisher's chain), and the
    // chain, tree and rules verify from the first entry.
    let store = verify_store(&data);
    assert_eq!(store.head().size, want);
    assert_eq!(indexes, (0..want).collect::<Vec<_>>());
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(store.index_of(&ev.id()).unwrap(), Some(LogIndex(i as u64)));
    }
    // The log stream holds every entry once, with no gap.
    for i in 0..want {
        let msg = stream.get_raw_message(i + 1).await.unwrap();
        let entry = Entry::decode(&msg.payload).unwrap();
        assert_eq!(entry.index(), LogIndex(i));
        assert_eq!(
            entry.bytes(),
            store.entry(LogIndex(i)).unwrap().unwrap().bytes()
        );
    }
}

/// A party agent's `tallylog watch` on one commune, killed with SIGKILL in the
/// middle of a stream of submissions and started again: its output file ends
/// with every entry for the commune exactly once, each one verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_killed_and_restarted_misses_and_repeats_nothing() {
    let server = LocalServer::start(None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = write_log_key(dir.path());
    let data = dir.path().join("data");
    let mut ledger = start_ledger(server.url(), &data, &key);
    let s = Submitter::connect(server.url(), names()).await.unwrap();
    let opts = Options {
        in_flight: 64,
        reply_timeout: Duration::from_secs(10),
        attempts: 5,
        pace: None,
    };
    let events = workload(2000);
    let (first, rest) = events.split_at(sample::events().len());
    for r in s.submit(first, &opts, |_, _| {}).await {
        r.unwrap();
    }

    let out = dir.path().join("commune.jsonl");
    let watch = || {
        Command::new(BIN)
            .args([
                "watch",
                "--nats",
                server.url(),
                "--election",
                sample::ELECTION,
                "--region",
                "01/01/05",
                "--out",
                out.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut w = watch();
    let rest = rest.to_vec();
    let url = server.url().to_owned();
    let submitting = tokio::spawn(async move {
        let s = Submitter::connect(&url, names()).await.unwrap();
        for r in s.submit(&rest, &opts, |_, _| {}).await {
            r.unwrap();
        }
    });
    let lines = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
    };
    for _ in 0..400 {
        if lines() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    w.kill().unwrap();
    w.wait().unwrap();
    let at_kill = lines();
    assert!(at_kill >= 3, "the watcher wrote before it was killed");
    // As if it died in the middle of writing a line: the restarted watcher
    // drops the cut-off line and writes that entry again, whole.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .unwrap()
        .write_all(b"{\"index\":99")
        .unwrap();
    let mut w = watch();
    submitting.await.unwrap();

    // What the commune's subject holds, read straight from the stream.
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let stream = js.get_stream(names().log_stream()).await.unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("tallylog.{}.log.*.01.01.05.>", sample::ELECTION),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut expected = Vec::new();
    let mut batch = consumer
        .fetch()
        .max_messages(10_000)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    use futures::StreamExt;
    while let Some(Ok(m)) = batch.next().await {
        expected.push(m.info().unwrap().stream_sequence - 1);
    }
    assert!(expected.len() > 10, "the commune has entries: {expected:?}");

    let read = || -> Vec<u64> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["index"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    for _ in 0..400 {
        if read().last() == expected.last() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill")
        .args(["-TERM", &w.id().to_string()])
        .status()
        .unwrap();
    w.wait().unwrap();
    assert_eq!(
        read(),
        expected,
        "every entry of the commune, once, in order"
    );

    // On standard output with a small state file instead: it keeps the next
    // index, and a restart resumes from it.
    let state = dir.path().join("watch.state");
    let stdout_watch = || {
        Command::new(BIN)
            .args([
                "watch",
                "--nats",
                server.url(),
                "--election",
                sample::ELECTION,
                "--region",
                "01/01/05",
                "--json",
                "--state",
                state.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let last = *expected.last().unwrap();
    let at_state = || {
        std::fs::read_to_string(&state)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let w = stdout_watch();
    for _ in 0..400 {
        if at_state() == (last + 1).to_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Command::new("kill")
        .args(["-TERM", &w.id().to_string()])
        .status()
        .unwrap();
    let shown = w.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).lines().count(),
        expected.len()
    );
    assert_eq!(at_state(), (last + 1).to_string());
    let again = stdout_watch();
    tokio::time::sleep(Duration::from_millis(500)).await;
    Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .unwrap();
    let shown = again.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        "",
        "nothing is shown twice"
    );

    // A third-party client (Python, nats-py) following the same subject gets
    // the same entries, byte for byte.
    let python = std::env::var("TALLYLOG_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let client = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/independent/nats_client.py"))
        .args([
            server.url(),
            sample::ELECTION,
            &format!("tallylog.{}.log.*.01.01.05.>", sample::ELECTION),
            &expected.len().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "the Python client failed (is nats-py installed? ./scripts/test installs it): {}",
        String::from_utf8_lossy(&client.stderr)
    );
    let theirs: Vec<(u64, String)> = String::from_utf8(client.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["index"].as_u64().unwrap(),
                v["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ledger.kill().unwrap();
    ledger.wait().unwrap();
    let store = Store::open(&data.join("ledger")).unwrap();
    let ours: Vec<(u64, String)> = expected
        .iter()
        .map(|&i| {
            let e = store.entry(LogIndex(i)).unwrap().unwrap();
            (
                i,
                tallylog_core::types::to_hex(&<sha2::Sha256 as sha2::Digest>::digest(e.bytes())),
            )
        })
        .collect();
    assert_eq!(theirs, ours);
}

#[test]
fn watch_refuses_an_unknown_kind_before_connecting() {
    let out = Command::new(BIN)
        .args([
            "watch",
            "--nats",
            "nats://127.0.0.1:1",
            "--election",
            sample::ELECTION,
            "--kind",
            "results",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown --kind \"results\"") && err.contains("result, correction"),
        "{err}"
    );
}
