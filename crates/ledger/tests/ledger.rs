//! The ledger against a real nats-server (started per test on a free port, with
//! its own directory) and a real sled store on disk.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use tallylog_core::entry::Entry;
use tallylog_core::event::{Payload, SignedEvent, VerifiedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::publisher::{ChainState, Publisher};
use tallylog_core::receipt::{Receipt, Reply};
use tallylog_core::sample;
use tallylog_core::types::LogIndex;
use tallylog_ledger::Config;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tallylog_store::Store;
use tokio_util::sync::CancellationToken;

struct Ledger {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), tallylog_ledger::LedgerError>>,
}

impl Ledger {
    /// Starts the ledger and waits until it answers (its streams exist), so
    /// that tests do not race its start-up. Submitting earlier also works (the
    /// submitter retries); it is only slower.
    async fn start(url: &str, dir: &Path) -> Ledger {
        let ledger = Self::spawn(url, dir);
        let client = async_nats::connect(url).await.unwrap();
        let stats = format!("tallylog.{}.stats", sample::ELECTION);
        for _ in 0..200 {
            if client.request(stats.clone(), "".into()).await.is_ok() {
                return ledger;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the ledger did not start");
    }

    fn spawn(url: &str, dir: &Path) -> Ledger {
        let shutdown = CancellationToken::new();
        let config = Config {
            nats_url: url.to_owned(),
            election: sample::ELECTION.parse().unwrap(),
            data_dir: dir.to_owned(),
            log_key: test_key(sample::LOG_KEY),
            origin: sample::ORIGIN.parse().unwrap(),
            max_batch: 256,
            witnesses: Vec::new(),
            quorum: 0,
        };
        let task = tokio::spawn(tallylog_ledger::run(config, shutdown.clone()));
        Ledger { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn names() -> Names {
    Names::new(sample::ELECTION.parse().unwrap())
}

fn opts() -> Options {
    Options {
        in_flight: 64,
        reply_timeout: Duration::from_secs(10),
        attempts: 3,
        pace: None,
    }
}

async fn submit(s: &Submitter, events: &[VerifiedEvent]) -> Vec<Reply> {
    let evs: Vec<SignedEvent> = events.iter().map(|e| e.event().clone()).collect();
    s.submit(&evs, &opts(), |_, _| {})
        .await
        .into_iter()
        .map(|r| r.expect("the ledger replies"))
        .collect()
}

fn accepted(reply: &Reply) -> (u64, Receipt) {
    match reply {
        Reply::Accepted { index, receipt, .. } => (*index, Receipt::decode(receipt).unwrap()),
        other => panic!("expected an acceptance, got {other:?}"),
    }
}

fn rejected_code(reply: &Reply) -> String {
    match reply {
        Reply::Rejected { code, .. } => code.clone(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The authority's next `n` result forms after the sample.
fn more_results(n: usize) -> Vec<VerifiedEvent> {
    sample::more_results(&mut sample::continue_after_sample(sample::AUTHORITY_KEY), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_receipt_store_and_log_stream_agree() {
    let server = LocalServer::start(None).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(server.url(), data.path()).await;
    let s = Submitter::connect(server.url(), names()).await.unwrap();

    let events = sample::events();
    let replies = submit(&s, &events).await;
    let verifier = sample::log_signer().verifier();
    for (i, (ev, reply)) in events.iter().zip(&replies).enumerate() {
        let (index, receipt) = accepted(reply);
        assert_eq!(index, i as u64, "entries are in submission order");
        receipt
            .verify(ev.event(), &verifier)
            .expect("the receipt proves inclusion");
    }

    // The log stream gets every entry, in order, on its region's subject.
    let client = s.client().clone();
    let mut sub = client
        .subscribe(format!("tallylog.{}.log.>", sample::ELECTION))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let stream = js.get_stream(names().log_stream()).await.unwrap();
    let mut got = Vec::new();
    for seq in 1..=events.len() as u64 {
        let msg = loop {
            match stream.get_raw_message(seq).await {
                Ok(m) => break m,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        got.push((msg.subject.to_string(), msg.payload.clone()));
    }
    drop(sub.unsubscribe().await);
    ledger.stop().await;

    let store = Store::open(data.path()).unwrap();
    assert_eq!(store.head().size, events.len() as u64);
    for (i, (subject, payload)) in got.iter().enumerate() {
        let entry = store.entry(LogIndex(i as u64)).unwrap().unwrap();
        assert_eq!(
            &payload[..],
            entry.bytes(),
            "stream message {} is entry {i}",
            i + 1
        );
        let decoded = Entry::decode(payload).unwrap();
        if let Some(form) = decoded.event().body().payload.form() {
            let tail = form.station.as_str().replace('/', ".");
            assert!(subject.ends_with(&tail), "{subject} names station {tail}");
            assert!(subject.contains(&format!(".log.{}.", decoded.event().kind().as_str())));
        }
    }
    // The first complaint (about a station) and its later steps share a subject.
    let complaint_subjects: Vec<&String> = got
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.contains(".complaint_") && s.ends_with(".01.01.01.0002"))
        .collect();
    assert_eq!(
        complaint_subjects.len(),
        3,
        "filed, acknowledged, resolved: {complaint_subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubmitted_event_gets_its_original_entry_also_after_a_restart() {
    let server = LocalServer::start(None).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(server.url(), data.path()).await;
    let s = Submitter::connect(server.url(), names()).await.unwrap();
    let events = sample::events();
    let first = submit(&s, &events).await;

    // The same event again, twice in one go and once more.
    let again = submit(&s, &[events[7].clone(), events[7].clone()]).await;
    for r in &again {
        assert_eq!(r, &first[7], "with no new entries the receipt is identical");
    }
    ledger.stop().await;

    let ledger = Ledger::start(server.url(), data.path()).await;
    let after = submit(&s, &events[5..9]).await;
    for (r, original) in after.iter().zip(&first[5..9]) {
        assert_eq!(accepted(r).0, accepted(original).0);
        assert_eq!(r, original);
    }
    match s.lookup(events[3].id()).await.unwrap() {
        r @ Reply::Accepted { .. } => assert_eq!(r, first[3]),
        other => panic!("{other:?}"),
    }
    ledger.stop().await;
    assert_eq!(
        Store::open(data.path()).unwrap().head().size,
        events.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_submission_is_rejected_with_its_reason_and_changes_nothing() {
    let server = LocalServer::start(None).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(server.url(), data.path()).await;
    let s = Submitter::connect(server.url(), names()).await.unwrap();
    submit(&s, &sample::events()).await;
    ledger.stop().await;
    let good = more_results(2);
    let store_before = {
        let st = Store::open(data.path()).unwrap();
        (st.head(), st.checkpoint().unwrap())
    };
    let ledger = Ledger::start(server.url(), data.path()).await;

    let e = || sample::ELECTION.parse().unwrap();
    let t = "2023-07-30T00:00:00Z".parse().unwrap();
    let form = || Payload::Result(sample::form("01/01/01/0001", 600, [1, 2, 3], 0));
    let text = |ev: &VerifiedEvent| String::from_utf8(ev.bytes().to_vec()).unwrap();
    let resign = |n: u32, chain: ChainState, election: &str| {
        Publisher::resume(test_key(n), election.parse().unwrap(), chain)
            .sign(t, form())
            .unwrap()
    };

    let mut cases: Vec<(&str, Bytes)> = Vec::new();
    // A forged figure: the signature no longer matches.
    cases.push((
        "bad_signature",
        text(&good[0])
            .replacen("\"ALPHA\":0", "\"ALPHA\":9", 1)
            .into(),
    ));
    // A key nobody registered.
    cases.push((
        "unknown_key",
        Bytes::copy_from_slice(
            Publisher::new(test_key(99), e())
                .sign(t, form())
                .unwrap()
                .bytes(),
        ),
    ));
    // The watch coalition's key was revoked in the sample.
    let watch_chain = ChainState {
        seq: 1,
        last: Some(
            sample::events()
                .iter()
                .find(|ev| ev.body().author == test_key(sample::WATCH_KEY).verifying_key().into())
                .unwrap()
                .id(),
        ),
    };
    cases.push((
        "revoked_key",
        Bytes::copy_from_slice(resign(sample::WATCH_KEY, watch_chain, sample::ELECTION).bytes()),
    ));
    // An observer may not publish a recount.
    let obs = sample::events()
        .iter()
        .rfind(|ev| ev.body().author == test_key(sample::OBSERVER_NEW_KEY).verifying_key().into())
        .unwrap()
        .clone();
    let mut o = Publisher::resume(
        test_key(sample::OBSERVER_NEW_KEY),
        e(),
        ChainState {
            seq: obs.body().seq.0,
            last: Some(obs.id()),
        },
    );
    let recount = o
        .sign(
            t,
            Payload::Recount(tallylog_core::event::Recount {
                supersedes: sample::events()[6].id(),
                reason: "we counted again".parse().unwrap(),
                ordered_by: None,
                form: sample::form("01/01/01/0001", 600, [1, 2, 3], 0),
            }),
        )
        .unwrap();
    cases.push(("wrong_role", Bytes::copy_from_slice(recount.bytes())));
    // The right key, another election.
    cases.push((
        "wrong_election",
        Bytes::copy_from_slice(
            resign(
                sample::OBSERVER_NEW_KEY,
                ChainState {
                    seq: obs.body().seq.0,
                    last: Some(obs.id()),
                },
                "other-2023",
            )
            .bytes(),
        ),
    ));
    // Skipping a sequence number breaks the publisher's chain.
    cases.push(("seq_gap", Bytes::copy_from_slice(good[1].bytes())));
    // Over 64 KiB.
    cases.push(("too_large", Bytes::from(vec![b' '; 70_000])));
    // Not JSON at all, and JSON that is not canonical.
    cases.push(("malformed_json", Bytes::from_static(b"{\"body\":")));
    cases.push((
        "non_canonical",
        text(&good[0])
            .replacen("{\"body\":", "{ \"body\":", 1)
            .into(),
    ));

    let payloads = cases
        .iter()
        .map(|(_, b)| {
            (
                b.clone(),
                None,
                names().submit(tallylog_core::event::Kind::Result),
            )
        })
        .collect();
    let replies = s.submit_raw(payloads, &opts(), |_, _| {}).await;
    for ((want, _), reply) in cases.iter().zip(replies) {
        assert_eq!(&rejected_code(&reply.unwrap()), want);
    }
    // The log is unchanged: the ledger still reports the old size.
    let stats = s
        .client()
        .request(names().stats(), "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    assert_eq!(stats["log_size"], store_before.0.size, "{stats}");
    assert_eq!(stats["rejected"], cases.len() as u64, "{stats}");

    // A reply address that is not an inbox is not answered: here one that
    // would put the ledger's reply into the log stream itself.
    let client = s.client().clone();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        tallylog_nats::REPLY_TO,
        "tallylog.sample-2023.log.result._._._._",
    );
    let js = async_nats::jetstream::new(client.clone());
    js.publish_with_headers(
        names().submit(tallylog_core::event::Kind::Result),
        headers,
        "junk".into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    // A later, honest submission is judged after it, so once it is answered
    // the junk was judged too.
    let honest = submit(&s, &good[..1]).await;
    accepted(&honest[0]);
    let mut log = js.get_stream(names().log_stream()).await.unwrap();
    let want = store_before.0.size + 1;
    for _ in 0..100 {
        if log.info().await.unwrap().state.messages >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let state = log.info().await.unwrap().state.clone();
    assert_eq!(
        (state.messages, state.last_sequence),
        (want, want),
        "only entries in the log stream"
    );

    ledger.stop().await;
    let st = Store::open(data.path()).unwrap();
    assert_eq!(st.head().size, want, "only the honest event was added");
    assert_eq!(
        st.entry(LogIndex(store_before.0.size))
            .unwrap()
            .unwrap()
            .event()
            .id(),
        good[0].id()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stream_catches_up_after_the_ledger_was_away() {
    // Entries appended while the stream could not be written (here: the ledger
    // stopped right after appending) are republished on the next start, once.
    let server = LocalServer::start(None).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(data.path()).unwrap();
        store
            .append_checked(sample::events(), &sample::log_signer())
            .unwrap();
    }
    let ledger = Ledger::start(server.url(), data.path()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let n = sample::events().len() as u64;
    let mut stream = js.get_stream(names().log_stream()).await;
    for _ in 0..100 {
        if let Ok(s) = &mut stream {
            if s.info().await.unwrap().state.last_sequence == n {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream = js.get_stream(names().log_stream()).await;
    }
    ledger.stop().await;
    let ledger = Ledger::start(server.url(), data.path()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ledger.stop().await;
    let mut s = js.get_stream(names().log_stream()).await.unwrap();
    let state = s.info().await.unwrap().state.clone();
    assert_eq!((state.messages, state.last_sequence), (n, n));
}
