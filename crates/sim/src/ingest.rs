//! The end-to-end ingest benchmark: pre-signed events published to a real
//! nats-server, judged and appended durably by the ledger, receipts awaited,
//! all on this machine. The publisher, the server and the ledger share the same
//! two cores, so these figures are a floor for a deployment where publishers
//! are elsewhere.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use tallylog_core::event::SignedEvent;
use tallylog_core::keys::test_key;
use tallylog_core::receipt::Reply;
use tallylog_core::sample;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tokio_util::sync::CancellationToken;

use crate::bench::{Config, Report};
use tallylog_core::sample::{continue_after_sample, more_results};

/// Publishes `n` messages of `size` bytes to a stream with up to `in_flight`
/// acks outstanding: JetStream's own limit on this machine.
async fn jetstream_publish_rate(
    js: &jetstream::Context,
    n: usize,
    size: usize,
    in_flight: usize,
) -> f64 {
    let name = "bench-publish";
    let _ = js
        .create_stream(jetstream::stream::Config {
            name: name.to_owned(),
            subjects: vec!["bench.publish".to_owned()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .expect("creating the benchmark stream");
    let payload = Bytes::from(vec![b'x'; size]);
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for _ in 0..n {
        if pending.len() >= in_flight {
            let ack: jetstream::context::PublishAckFuture = pending.pop_front().expect("non-empty");
            ack.await.expect("ack");
        }
        pending.push_back(
            js.publish("bench.publish", payload.clone())
                .await
                .expect("publish"),
        );
    }
    for ack in pending {
        ack.await.expect("ack");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = js.delete_stream(name).await;
    rate
}

/// This process's peak resident set (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Measures JetStream publishing and end-to-end ingest; adds the figures to `r`.
pub fn run(cfg: &Config, r: &mut Report) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let scratch = tempfile::tempdir_in(&cfg.dir)?;
        let server = LocalServer::start(Some(&scratch.path().join("nats")))
            .await
            .map_err(std::io::Error::other)?;
        let client = async_nats::connect(server.url()).await.map_err(std::io::Error::other)?;
        let js = jetstream::new(client.clone());
        let n = ((cfg.seconds * 60_000.0) as usize).max(5_000);
        r.limit(
            "jetstream_publish_256_inflight",
            jetstream_publish_rate(&js, n, 600, 256).await,
            "msgs/s",
            "JetStream publish of 600-byte messages, 256 acks in flight, file storage",
        );

        // The ledger, in this process.
        let shutdown = CancellationToken::new();
        let config = tallylog_ledger::Config {
            nats_url: server.url().to_owned(),
            election: sample::ELECTION.parse().expect("valid id"),
            data_dir: scratch.path().join("ledger"),
            log_key: test_key(sample::LOG_KEY),
            origin: sample::ORIGIN.parse().expect("valid origin"),
            max_batch: 1024,
            witnesses: Vec::new(),
            quorum: 0,
        };
        let ledger = tokio::spawn(tallylog_ledger::run(config, shutdown.clone()));
        // Wait until the ledger answers (its streams exist) before loading it.
        let stats = format!("tallylog.{}.stats", sample::ELECTION);
        for _ in 0..400 {
            if client.request(stats.clone(), "".into()).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let names = Names::new(sample::ELECTION.parse().expect("valid id"));
        let submitter = Submitter::connect(server.url(), names)
            .await
            .map_err(std::io::Error::other)?;

        // Pre-signed load, off the clock: the sample, then the authority's forms.
        let mut authority = continue_after_sample(sample::AUTHORITY_KEY);
        let sample: Vec<SignedEvent> = sample::events().into_iter().map(|e| e.into_event()).collect();
        let opts = |in_flight, pace| Options {
            in_flight,
            reply_timeout: Duration::from_secs(30),
            attempts: 3,
            pace,
        };
        let replies = submitter.submit(&sample, &opts(64, None), |_, _| {}).await;
        if replies.iter().any(|r| !matches!(r, Ok(Reply::Accepted { .. }))) {
            return Err(std::io::Error::other("the sample election was not accepted"));
        }

        // Throughput: as fast as the ledger will take them, 1024 in flight.
        let load: Vec<SignedEvent> = more_results(&mut authority, n)
            .into_iter()
            .map(|e| e.into_event())
            .collect();
        let started = Instant::now();
        let replies = submitter.submit(&load, &opts(1024, None), |_, _| {}).await;
        let took = started.elapsed();
        let ok = replies.iter().filter(|r| matches!(r, Ok(Reply::Accepted { .. }))).count();
        if ok != load.len() {
            return Err(std::io::Error::other(format!("only {ok} of {} accepted", load.len())));
        }
        r.stage(
            "ingest_e2e_receipts",
            ok as f64 / took.as_secs_f64(),
            "events/s",
            "ed25519_verify_strict_2t",
            "signed events published, judged, appended durably, receipts received; publisher on the same 2 cores",
        );

        // Latency at fixed offered rates (open loop), receipts awaited: the
        // issue's 10,000/s, and half of it.
        r.limit(
            "receipt_p99_target",
            25.0,
            "ms",
            "issue target: receipt p99 under 25 ms at 10,000 events/s offered",
        );
        for (offered, names) in [
            (5_000.0, ["offered_5k", "achieved_at_5k", "receipt_p50_at_5k", "receipt_p99_at_5k"]),
            (10_000.0, ["offered_10k", "achieved_at_10k", "receipt_p50_at_10k", "receipt_p99_at_10k"]),
        ] {
            let m = (offered * cfg.seconds.max(1.0) * 1.5) as usize;
            let load: Vec<SignedEvent> = more_results(&mut authority, m)
                .into_iter()
                .map(|e| e.into_event())
                .collect();
            let latencies = Mutex::new(Vec::with_capacity(m));
            let started = Instant::now();
            submitter
                .submit(&load, &opts(4096, Some(offered)), |_, took| {
                    latencies.lock().expect("lock").push(took);
                })
                .await;
            let achieved = m as f64 / started.elapsed().as_secs_f64();
            let mut l = latencies.into_inner().expect("lock");
            l.sort();
            r.limit(names[0], offered, "events/s", "open-loop offered load");
            r.stage(names[1], achieved, "events/s", names[0], "what the ledger kept up with");
            r.stage(names[2], percentile(&l, 0.50), "ms", "receipt_p99_target", "publish to receipt, median");
            r.stage(names[3], percentile(&l, 0.99), "ms", "receipt_p99_target", "publish to receipt, 99th percentile");
        }

        if let Some(kib) = peak_rss_kib() {
            r.limit(
                "memory_budget",
                256.0,
                "MiB",
                "issue 8 target for the ledger's peak RSS",
            );
            r.stage(
                "bench_process_peak_rss",
                kib as f64 / 1024.0,
                "MiB",
                "memory_budget",
                "peak RSS of this whole process (ledger + load generator + all pre-signed events)",
            );
        }
        shutdown.cancel();
        ledger
            .await
            .expect("the ledger task does not panic")
            .map_err(std::io::Error::other)?;
        server.stop().await;
        Ok(())
    })
}
