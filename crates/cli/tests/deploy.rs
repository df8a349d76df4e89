//! deploy/ as an operator uses it: the NATS accounts and permissions of
//! deploy/nats/accounts.conf on a real nats-server, the configuration files
//! as nats-server reads them, secret files, and a backup of a running
//! `tallylog up` restored on a "fresh machine" (a new directory) that audits
//! clean and takes submissions again.
//!
//! Every process a test starts is killed when the test ends, however it ends
//! (`Proc`, and `LocalServer`'s own guard).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use async_nats::ConnectOptions;
use futures::StreamExt;
use tallylog_core::entry::Entry;
use tallylog_core::event::SignedEvent;
use tallylog_core::keys::{encode_secret, test_key};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::sample;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names, ServerOptions};

const BIN: &str = env!("CARGO_BIN_EXE_tallylog");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process killed (and reaped) when dropped.
struct Proc(Child);

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        Proc(cmd.spawn().unwrap())
    }
    /// Stops it as systemd would: SIGTERM, then wait.
    fn stop(mut self) -> ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        self.0.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

fn opts() -> Options {
    Options {
        in_flight: 64,
        reply_timeout: Duration::from_secs(10),
        attempts: 5,
        pace: None,
    }
}

/// Submits and checks that every event got a receipt that verifies.
async fn submit_all(s: &Submitter, events: &[SignedEvent]) -> Vec<u64> {
    let verifier = sample::log_signer().verifier();
    s.submit(events, &opts(), |_, _| {})
        .await
        .into_iter()
        .zip(events)
        .map(|(r, ev)| match r {
            Ok(Reply::Accepted { index, receipt, .. }) => {
                Receipt::decode(&receipt)
                    .unwrap()
                    .verify(ev, &verifier)
                    .unwrap();
                index
            }
            other => panic!("expected a receipt, got {other:?}"),
        })
        .collect()
}

/// Writes the sample log key, 0600 as `tallylog keygen` would.
fn write_log_key(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, &encode_secret(&test_key(sample::LOG_KEY)))
        })
        .unwrap();
}

// --- Accounts and permissions. ---

const ROLES: [&str; 6] = [
    "ledger",
    "projector",
    "gateway",
    "witness",
    "observer",
    "party",
];

fn password(role: &str) -> String {
    format!("test-{role}-pw")
}

/// The passwords accounts.conf reads from nats-server's environment.
fn password_env() -> Vec<(String, String)> {
    ROLES
        .iter()
        .map(|r| {
            (
                format!("TALLYLOG_{}_PASSWORD", r.to_uppercase()),
                password(r),
            )
        })
        .collect()
}

/// `url` with `role`'s credentials in it.
fn as_user(url: &str, role: &str) -> String {
    url.replacen("nats://", &format!("nats://{role}:{}@", password(role)), 1)
}

/// A nats-server running deploy/nats/accounts.conf as the runbook says,
/// made for the sample election (`sed s/kh-2023-na/ID/g`).
async fn accounts_server(dir: &Path) -> LocalServer {
    let conf = std::fs::read_to_string(repo().join("deploy/nats/accounts.conf"))
        .unwrap()
        .replace("kh-2023-na", sample::ELECTION);
    std::fs::write(dir.join("accounts.conf"), conf).unwrap();
    // Only the storage and the address differ from deploy/nats/tallylog.conf.
    std::fs::write(dir.join("server.conf"), "include accounts.conf\n").unwrap();
    LocalServer::start_with(ServerOptions {
        dir: Some(dir.join("nats")),
        config: Some(dir.join("server.conf")),
        env: password_env(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// A connection as `role` (`None`: the public, without credentials) whose
/// server errors (permission violations) arrive on the returned channel.
async fn connect_as(
    server: &LocalServer,
    role: Option<&str>,
) -> (
    async_nats::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let url = role.map_or(server.url().to_owned(), |r| as_user(server.url(), r));
    let options = ConnectOptions::new().event_callback(move |e| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(e.to_string());
        }
    });
    (tallylog_nats::connect(&url, options).await.unwrap(), rx)
}

/// Waits for the next server error on a connection.
async fn next_error(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a server error")
            .unwrap();
        if e.contains("Violation") || e.contains("violation") {
            return e;
        }
    }
}

/// Every message of the log stream, read as a reader reads it (an ephemeral
/// pull consumer), each checked to be the log entry of its position.
async fn read_log_stream(client: &async_nats::Client) -> u64 {
    let js = jetstream::new(client.clone());
    let mut stream = js.get_stream(names().log_stream()).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    assert_eq!(
        state.messages, state.last_sequence,
        "the log stream has no holes"
    );
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(state.messages as usize)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    let mut n = 0;
    while let Some(m) = batch.next().await {
        let m = m.unwrap();
        let seq = m.info().unwrap().stream_sequence;
        let entry = Entry::decode(&m.payload).expect("only log entries are in the log stream");
        assert_eq!(entry.index().0 + 1, seq);
        n += 1;
    }
    assert_eq!(n, state.messages);
    n
}

/// Why deploy/nats/accounts.conf keeps the streams in an account of their
/// own: within one account, nats-server 2.9 answers a JetStream API request
/// on whatever reply subject the client chose, unchecked against the
/// client's permissions, and a stream stores the answer like any message.
/// If this starts failing, the server closed the hole; the accounts still
/// separate who may do what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_one_account_any_requester_can_write_into_a_stream() {
    let server = LocalServer::start(None).await.unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client.clone());
    let (_, log) = tallylog_nats::ensure_streams(&js, &names(), tallylog_nats::Replicas::ONE)
        .await
        .unwrap();
    client
        .publish_with_reply(
            format!("$JS.API.STREAM.INFO.{}", names().log_stream()),
            format!("tallylog.{}.log.result._._._._", sample::ELECTION),
            "".into(),
        )
        .await
        .unwrap();
    let mut log = log;
    let mut stored = 0;
    for _ in 0..100 {
        stored = log.info().await.unwrap().state.messages;
        if stored > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored, 1, "the API's answer was stored in the log stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_ledger_writes_the_log_and_everyone_can_read_it() {
    let dir = tempfile::tempdir().unwrap();
    eprintln!("working in {}", dir.path().display());
    let server = accounts_server(dir.path()).await;
    let key = dir.path().join("log.key");
    write_log_key(&key);

    // The ledger, with its own credentials (from the environment, as the
    // systemd unit gives them), logging everything.
    let ledger_log = dir.path().join("ledger.log");
    let ledger = Proc::spawn(
        Command::new(BIN)
            .env("TALLYLOG_NATS", as_user(server.url(), "ledger"))
            .env("TALLYLOG_LOG", "trace")
            .args([
                "ledger",
                "--data",
                dir.path().join("data").to_str().unwrap(),
                "--election",
                sample::ELECTION,
                "--origin",
                sample::ORIGIN,
                "--log-key",
                key.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&ledger_log).unwrap()),
    );
    let (public, _public_errors) = connect_as(&server, None).await;
    let mut ready = false;
    for _ in 0..400 {
        if public.request(names().stats(), "".into()).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the ledger answers the public");

    // An observer's submissions are allowed, and get receipts.
    let events = workload(60);
    let observer = Submitter::connect(&as_user(server.url(), "observer"), names())
        .await
        .unwrap();
    let indexes = submit_all(&observer, &events).await;
    let n = events.len() as u64;
    assert_eq!(indexes, (0..n).collect::<Vec<_>>());

    // A party agent may not publish into the log stream: refused by the
    // server, and a JetStream publish gets no acknowledgement.
    let (party, mut party_errors) = connect_as(&server, Some("party")).await;
    let log_subject = format!("tallylog.{}.log.result.01.01.01.0001", sample::ELECTION);
    party
        .publish(log_subject.clone(), "forged entry".into())
        .await
        .unwrap();
    let refused = next_error(&mut party_errors).await;
    assert!(
        refused.contains("Publish") && refused.contains(&log_subject),
        "{refused}"
    );
    let js_party = jetstream::new(party.clone());
    let ack = tokio::time::timeout(Duration::from_secs(10), async {
        js_party
            .publish(log_subject.clone(), "forged entry".into())
            .await?
            .await
    })
    .await;
    assert!(
        !matches!(ack, Ok(Ok(_))),
        "a party's publish into the log was acknowledged"
    );
    // Nor may it make the server write there for it: a JetStream API request,
    // or a lookup to the ledger, with the log as the reply subject. The
    // answers go back to the party's own account, where no stream is.
    party
        .publish_with_reply(
            format!("$JS.API.STREAM.INFO.{}", names().log_stream()),
            log_subject.clone(),
            "".into(),
        )
        .await
        .unwrap();
    party
        .publish_with_reply(names().entry(), log_subject.clone(), "0".into())
        .await
        .unwrap();
    public
        .publish_with_reply(
            format!("$JS.API.STREAM.INFO.{}", names().log_stream()),
            log_subject.clone(),
            "".into(),
        )
        .await
        .unwrap();
    party.flush().await.unwrap();
    public.flush().await.unwrap();
    // A submission with the log as its reply subject: the acknowledgement
    // also goes back to the observer's account.
    let (obs, _obs_errors) = connect_as(&server, Some("observer")).await;
    obs.publish_with_reply(
        names().submit(tallylog_core::event::Kind::Result),
        log_subject.clone(),
        "not an event".into(),
    )
    .await
    .unwrap();
    obs.flush().await.unwrap();
    // An observer reads nothing of the stream.
    assert!(jetstream::new(obs.clone())
        .get_stream(names().log_stream())
        .await
        .is_err());

    // The projector, with its credentials, follows the log; the public asks
    // it for tallies through the accounts' imports, without credentials.
    let projector = Proc::spawn(
        Command::new(BIN)
            .env("TALLYLOG_NATS", as_user(server.url(), "projector"))
            .env("TALLYLOG_LOG", "debug")
            .args([
                "projector",
                "--data",
                dir.path().join("projector").to_str().unwrap(),
                "--election",
                sample::ELECTION,
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("projector.log")).unwrap()),
    );
    // The rejected "not an event" is judged too, but appends nothing: the
    // log holds exactly the observer's events.
    let mut size = None;
    for _ in 0..400 {
        let out = Command::new(BIN)
            .args([
                "tally",
                "--nats",
                server.url(),
                "--election",
                sample::ELECTION,
                "status",
                "--json",
            ])
            .output()
            .unwrap();
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            size = v["size"].as_u64();
            if size == Some(n) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(size, Some(n), "the public reads the projector's tallies");

    // A party agent's (or anyone's) `tallylog watch`, without credentials:
    // every entry, each verified.
    let watched = dir.path().join("watch.jsonl");
    let watch = Proc::spawn(
        Command::new(BIN)
            .args([
                "watch",
                "--nats",
                server.url(),
                "--election",
                sample::ELECTION,
                "--out",
                watched.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let lines = || {
        std::fs::read_to_string(&watched)
            .unwrap_or_default()
            .lines()
            .count() as u64
    };
    for _ in 0..600 {
        if lines() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines(), n, "the public watcher saw every entry once");
    watch.stop();

    // The gateway, with its credentials, forwards a submission made over
    // HTTP and serves the receipt.
    let mut gateway = Proc::spawn(
        Command::new(BIN)
            .env("TALLYLOG_NATS", as_user(server.url(), "gateway"))
            .args([
                "gateway",
                "--data",
                dir.path().join("gateway").to_str().unwrap(),
                "--election",
                sample::ELECTION,
                "--http",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap()),
    );
    let http = {
        use std::io::BufRead;
        let out = gateway.0.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        let addr = line.strip_prefix("gateway: ").unwrap();
        addr.split_whitespace().next().unwrap().to_owned()
    };
    let mut up = false;
    for _ in 0..400 {
        if let Ok(r) = ureq::get(&format!("{http}/healthz")).call() {
            let h: serde_json::Value = serde_json::from_reader(r.into_reader()).unwrap();
            if h["ledger"] == true && h["size"] == n {
                up = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        up,
        "the gateway logs in, sees the ledger and follows the log"
    );
    let next = {
        let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
        sample::more_results(&mut authority, 61).pop().unwrap()
    };
    let r = ureq::post(&format!("{http}/v1/submissions"))
        .send_bytes(next.event().bytes())
        .unwrap_or_else(|e| panic!("the gateway's submission: {e}"));
    let reply: Reply = serde_json::from_reader(r.into_reader()).unwrap();
    match reply {
        Reply::Accepted { index, receipt, .. } => {
            assert_eq!(index, n);
            Receipt::decode(&receipt)
                .unwrap()
                .verify(next.event(), &sample::log_signer().verifier())
                .unwrap();
        }
        other => panic!("expected a receipt, got {other:?}"),
    }
    let n = n + 1;
    gateway.stop();

    // After all of that, the log stream holds the ledger's entries and
    // nothing else.
    assert_eq!(read_log_stream(&public).await, n);
    projector.stop();
    assert!(ledger.stop().success());
    // The NATS password and the log key appear nowhere in the ledger's
    // output, even at TALLYLOG_LOG=trace.
    let said = std::fs::read_to_string(&ledger_log).unwrap();
    assert!(said.contains("ledger starting"), "{said}");
    // The services' permissions cover everything they do.
    for (who, log) in [
        ("ledger", said.clone()),
        (
            "projector",
            std::fs::read_to_string(dir.path().join("projector.log")).unwrap(),
        ),
    ] {
        let refused: Vec<&str> = log
            .lines()
            .filter(|l| l.to_lowercase().contains("permissions violation"))
            .collect();
        assert!(refused.is_empty(), "the {who} was refused: {refused:#?}");
    }
    assert!(!said.contains(&password("ledger")));
    let secret = text(&std::fs::read(&key).unwrap());
    assert!(!said.contains(secret.trim()));
}

/// The configuration files in deploy/nats are what nats-server accepts
/// (`nats-server -t`), given the passwords they name.
#[test]
fn the_deploy_nats_configurations_are_valid() {
    let exe = tallylog_nats::find_server().unwrap();
    for conf in [
        "deploy/nats/tallylog.conf",
        "deploy/nats/cluster/n1.conf",
        "deploy/nats/cluster/n2.conf",
        "deploy/nats/cluster/n3.conf",
    ] {
        let out = Command::new(&exe)
            .arg("-t")
            .arg("-c")
            .arg(repo().join(conf))
            .envs(password_env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{conf}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // Without its passwords, the server refuses to start.
    let out = Command::new(&exe)
        .arg("-t")
        .arg("-c")
        .arg(repo().join("deploy/nats/tallylog.conf"))
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// A log key that `ledger` (or `up`) creates is 0600, and neither it nor the
/// NATS password is ever logged; nor is a key from `keygen`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_keys_are_private_and_never_logged() {
    use std::os::unix::fs::PermissionsExt;
    let server = LocalServer::start_with(ServerOptions {
        args: ["--user", "ledger", "--pass", "test-ledger-pw"]
            .map(str::to_owned)
            .into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("new-log.key");
    let log = dir.path().join("ledger.log");
    let ledger = Proc::spawn(
        Command::new(BIN)
            .env("TALLYLOG_LOG", "trace")
            .args([
                "ledger",
                "--nats",
                &as_user(server.url(), "ledger"),
                "--data",
                dir.path().join("data").to_str().unwrap(),
                "--election",
                sample::ELECTION,
                "--origin",
                sample::ORIGIN,
                "--log-key",
                key.to_str().unwrap(),
            ])
            .stdout(std::fs::File::create(dir.path().join("ledger.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let client = async_nats::ConnectOptions::with_user_and_password(
        "ledger".to_owned(),
        "test-ledger-pw".to_owned(),
    )
    .connect(server.url())
    .await
    .unwrap();
    let mut ready = false;
    for _ in 0..400 {
        if client.request(names().stats(), "".into()).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the ledger started");
    assert!(ledger.stop().success());
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret = text(&std::fs::read(&key).unwrap()).trim().to_owned();
    let said = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.path().join("ledger.out")).unwrap();
    assert!(said.contains("created the log key"), "{said}");
    assert!(!said.contains(&secret) && !said.contains(&secret[secret.len() - 32..]));
    assert!(!said.contains("test-ledger-pw"), "the password was logged");

    let out = Command::new(BIN)
        .env("TALLYLOG_LOG", "trace")
        .args([
            "keygen",
            "--out",
            dir.path().join("k.key").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let secret = text(&std::fs::read(dir.path().join("k.key")).unwrap())
        .trim()
        .to_owned();
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(!said.contains(&secret[secret.len() - 32..]), "{said}");
}

// --- Backup and restore. ---

/// `tallylog up` on `data`, until stopped; its NATS and HTTP addresses.
fn start_up(data: &Path) -> (Proc, String, String) {
    let mut p = Proc::spawn(
        Command::new(BIN)
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
            ])
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(data.with_extension("log"))
                    .unwrap(),
            ),
    );
    // `up` prints the NATS URL first and the gateway's URL last; the reader
    // lives on in a thread, so that `up`'s stdout stays open.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = p.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut nats = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("up prints its addresses");
        if let Some(u) = line.strip_prefix("nats: ") {
            nats = Some(u.trim().to_owned());
        }
        if let Some(h) = line.strip_prefix("gateway: http://") {
            return (p, nats.expect("nats first"), h.trim().to_owned());
        }
    }
}

async fn wait_for_ledger(nats: &str) {
    let client = async_nats::connect(nats).await.unwrap();
    for _ in 0..400 {
        if client.request(names().stats(), "".into()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the ledger did not start");
}

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap()
}

/// `export` then `audit` of a stopped data directory: exit 0 and every entry.
fn export_and_audit(data: &Path, entries: u64) {
    let bundle = data.with_extension("bundle");
    let _ = std::fs::remove_file(&bundle);
    let out = run(
        BIN,
        &[
            "export",
            "--log",
            data.to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let root = tallylog_core::types::PublicKey::from(test_key(sample::ROOT_KEY).verifying_key())
        .to_string();
    let out = run(
        BIN,
        &[
            "audit",
            bundle.to_str().unwrap(),
            "--root-key",
            &root,
            "--quiet",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(&format!("verified: {entries} entries")),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restored_on_a_fresh_machine_audits_clean_and_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    eprintln!("working in {}", dir.path().display());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // `up` keeps the log key in its data directory (here the sample's, which
    // the sample's election definition names).
    write_log_key(&data.join("log.key"));
    let (up, nats, _http) = start_up(&data);
    wait_for_ledger(&nats).await;
    let events = workload(200);
    let (before, after) = events.split_at(events.len() - 40);
    let s = Submitter::connect(&nats, names()).await.unwrap();
    submit_all(&s, before).await;
    drop(s);

    let backup = dir.path().join("backup").join("tallylog.tar.gz");
    std::fs::create_dir(backup.parent().unwrap()).unwrap();
    let script = |name: &str| repo().join("deploy").join(name);
    let backup_sh = script("backup.sh");
    // A running ledger is not copied: the runbook's backup is taken stopped.
    let out = run(
        backup_sh.to_str().unwrap(),
        &[data.to_str().unwrap(), backup.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is locked"),
        "{}",
        text(&out.stderr)
    );
    assert!(!backup.exists());

    // Stop (SIGTERM, as `systemctl stop`), back up, and start again.
    assert!(up.stop().success());
    let out = run(
        backup_sh.to_str().unwrap(),
        &[data.to_str().unwrap(), backup.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup holds the log key: private");
    }
    let (up, nats, _) = start_up(&data);
    wait_for_ledger(&nats).await;
    assert!(up.stop().success());

    // A fresh machine: a new directory, the archive, the runbook's restore.
    let fresh = dir.path().join("fresh").join("data");
    let restore_sh = script("restore.sh");
    let out = run(
        restore_sh.to_str().unwrap(),
        &[backup.to_str().unwrap(), fresh.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // It refuses to restore over anything.
    let out = run(
        restore_sh.to_str().unwrap(),
        &[backup.to_str().unwrap(), fresh.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    // Audited before it serves: every entry verifies.
    export_and_audit(&fresh, before.len() as u64);

    // Started, it takes submissions where the old one left off.
    let (up, nats, _) = start_up(&fresh);
    wait_for_ledger(&nats).await;
    let s = Submitter::connect(&nats, names()).await.unwrap();
    let indexes = submit_all(&s, after).await;
    let first = before.len() as u64;
    assert_eq!(
        indexes,
        (first..first + after.len() as u64).collect::<Vec<_>>()
    );
    // Events sent before the backup are answered with their original entries.
    let again = submit_all(&s, &before[..5]).await;
    assert_eq!(again, (0..5).collect::<Vec<_>>());
    drop(s);
    assert!(up.stop().success());
    export_and_audit(&fresh, events.len() as u64);
}
