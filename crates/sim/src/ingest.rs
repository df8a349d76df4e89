//! The end-to-end ingest benchmark: pre-signed events published to a real
//! nats-server, judged and appended durably by the ledger, receipts awaited,
//! all on this machine. The publisher, the server and the ledger share the same
//! two cores, so these figures are a floor for a deployment where publishers
//! are elsewhere.
//!
//! Two ledgers are measured. [`run`] runs one inside this process, on the
//! sample election's forms, for throughput and for receipt latency at fixed
//! offered rates. [`ledger_process`] runs `tallylog ledger` as a process of
//! its own on a simulated election, because the ledger's memory and disk can
//! only be told apart from the load generator's that way: its peak RSS is
//! read from `/proc/PID/status` and its data directory is measured after it
//! stopped.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
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
use crate::election::{self, Size};
use tallylog_core::keys;
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

/// A process's peak resident set (Linux `VmHWM`) in KiB: `pid` "self" for
/// this one. The kernel keeps it for the life of the process, so it can be
/// read once, at the end, before the process exits.
fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_hwm_kib(&status)
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU time, user and system, that a process (all its threads, live and
/// exited; or one thread, as `thread-self`) has used so far, in seconds: fields 14 and 15 of
/// `/proc/PID/stat`, in clock ticks of 1/100 s (Linux's `USER_HZ`, fixed at
/// 100 on x86-64 and arm64).
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_cpu_seconds(&stat)
}

fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces and
    // parentheses itself: the fields that follow start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first here
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// CPU seconds used so far by the ledger, nats-server and this process.
fn cpu_now(ledger: &str, nats: &str) -> std::io::Result<[f64; 3]> {
    let read = |pid: &str| {
        cpu_seconds(pid).ok_or_else(|| {
            std::io::Error::other(format!("reading /proc/{pid}/stat for its CPU time"))
        })
    };
    Ok([read(ledger)?, read(nats)?, read("self")?])
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

        if let Some(kib) = peak_rss_kib("self") {
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

/// Events per chunk handed to the submitter: it waits for the last reply of
/// one chunk before the next starts (to keep each publisher's events in
/// order), so chunks are long enough for that pause to be a small part.
const CHUNK: usize = 32_768;

/// The simulated election's events, signed before the clock starts (the
/// sizes that fit in memory) or by a thread beside the publishing (the rest).
enum Load {
    Signed(std::vec::IntoIter<Vec<SignedEvent>>),
    Streamed(tokio::sync::mpsc::Receiver<Vec<SignedEvent>>),
}

impl Load {
    async fn next(&mut self) -> Option<Vec<SignedEvent>> {
        match self {
            Load::Signed(chunks) => chunks.next(),
            Load::Streamed(rx) => rx.recv().await,
        }
    }
}

/// Signs the election of `size` and sends it in chunks; stops when nobody
/// takes them any more.
fn generate(size: Size, tx: tokio::sync::mpsc::Sender<Vec<SignedEvent>>) {
    let mut buf = Vec::with_capacity(CHUNK);
    election::try_stream(size, SEED, |ev| {
        buf.push(ev.into_event());
        if buf.len() == CHUNK && tx.blocking_send(std::mem::take(&mut buf)).is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    if !buf.is_empty() {
        let _ = tx.blocking_send(buf);
    }
}

/// The seed of the simulated election the ledger process ingests.
const SEED: u64 = 1;

/// Bytes a directory tree takes on disk (allocated blocks, as `du` counts)
/// and its files' lengths.
fn dir_bytes(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let (mut allocated, mut apparent) = (0u64, 0u64);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (a, b) = dir_bytes(&entry.path())?;
            allocated += a;
            apparent += b;
        } else {
            allocated += meta.blocks() * 512;
            apparent += meta.len();
        }
    }
    Ok((allocated, apparent))
}

/// The last lines of the ledger's log, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Asks the process `pid` to stop (SIGTERM) and waits for it: the ledger
/// finishes the batch in hand and closes its store.
async fn stop(child: &mut tokio::process::Child) -> std::io::Result<()> {
    if let Some(pid) = child.id() {
        tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
    }
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(status) => {
            let status = status?;
            if status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "the ledger process exited with {status}"
                )))
            }
        }
        Err(_) => {
            child.kill().await?;
            Err(std::io::Error::other(
                "the ledger process did not stop within 60 s of SIGTERM",
            ))
        }
    }
}

/// The ledger as a process of its own (`BIN ledger`, the one a deployment
/// runs) ingesting the simulated election of `cfg.ingest_size` from this
/// process through its own nats-server: throughput with receipts, the
/// ledger's own peak RSS, and the disk its store takes per event. Returns the
/// ledger's store directory (under `dir`), for the proof stages.
pub fn ledger_process(
    cfg: &Config,
    bin: &Path,
    r: &mut Report,
    dir: &Path,
) -> std::io::Result<PathBuf> {
    let size = cfg.ingest_size;
    // The keys and names only: the generator stops at the first event.
    let who = election::try_stream(size, SEED, |_| ControlFlow::Break(()));
    let data = dir.join("ledger-process");
    std::fs::create_dir_all(&data)?;
    let key_path = data.join("log.key");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)?;
        f.write_all(&keys::encode_secret(&who.log_key))?;
    }
    // The sizes whose signed events fit comfortably in memory are signed
    // before the clock starts, as the other ingest stage's are; the larger
    // ones on a thread beside the publishing, which takes CPU from the ledger.
    let presign = matches!(size, Size::Tiny | Size::Cambodia);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = LocalServer::start(Some(&dir.join("nats-ledger-process")))
            .await
            .map_err(std::io::Error::other)?;
        let log_path = data.join("ledger.log");
        let mut child = tokio::process::Command::new(bin)
            .arg("ledger")
            .arg("--nats")
            .arg(server.url())
            .arg("--data")
            .arg(&data)
            .arg("--election")
            .arg(who.election.as_str())
            .arg("--origin")
            .arg(who.origin.as_str())
            .arg("--log-key")
            .arg(&key_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                std::io::Error::other(format!(
                    "starting the ledger {} (choose another with --ledger-bin): {e}",
                    bin.display()
                ))
            })?;
        let pid = child
            .id()
            .expect("invariant: a process just spawned has an id")
            .to_string();

        let mut load = if presign {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            let signer = std::thread::spawn(move || generate(size, tx));
            let mut chunks = Vec::new();
            while let Some(c) = rx.recv().await {
                chunks.push(c);
            }
            signer.join().expect("the generator does not panic");
            Load::Signed(chunks.into_iter())
        } else {
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            std::thread::spawn(move || generate(size, tx));
            Load::Streamed(rx)
        };

        let names = Names::new(who.election.clone());
        let submitter = Submitter::connect(server.url(), names.clone())
            .await
            .map_err(std::io::Error::other)?;
        // Wait until the ledger answers (its streams exist) before loading it.
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let asked = tokio::time::timeout(
                Duration::from_secs(1),
                submitter.client().request(names.stats(), "".into()),
            )
            .await;
            if matches!(asked, Ok(Ok(_))) {
                break;
            }
            if let Some(status) = child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "the ledger process exited with {status}: {}",
                    tail(&log_path)
                )));
            }
            if Instant::now() >= until {
                return Err(std::io::Error::other(format!(
                    "the ledger process did not answer within 30 s: {}",
                    tail(&log_path)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let opts = Options {
            in_flight: 1024,
            reply_timeout: Duration::from_secs(30),
            attempts: 3,
            pace: None,
        };
        let nats_pid = server
            .pid()
            .expect("invariant: the server answered, so it runs")
            .to_string();
        let (mut events, mut raw_bytes) = (0u64, 0u64);
        let cpu_before = cpu_now(&pid, &nats_pid)?;
        let started = Instant::now();
        while let Some(chunk) = load.next().await {
            let replies = submitter.submit(&chunk, &opts, |_, _| {}).await;
            for (ev, reply) in chunk.iter().zip(replies) {
                match reply {
                    Ok(Reply::Accepted { .. }) => {
                        events += 1;
                        raw_bytes += ev.bytes().len() as u64;
                    }
                    other => {
                        return Err(std::io::Error::other(format!(
                            "the ledger process did not accept event {} of the {size} election: {other:?}",
                            ev.id()
                        )))
                    }
                }
            }
        }
        let took = started.elapsed().as_secs_f64();
        let cpu_after = cpu_now(&pid, &nats_pid)?;
        // Read before it exits: the kernel keeps the peak for the process's life.
        let hwm = peak_rss_kib(&pid);
        stop(&mut child).await?;
        server.stop().await;

        r.stage(
            "ledger_process_ingest",
            events as f64 / took,
            "events/s",
            "ed25519_verify_strict_2t",
            format!(
                "`tallylog ledger` as its own process ingesting the {size} election (seed {SEED}, \
                 {events} events, {}), receipts awaited, 1,024 in flight; publisher on the same 2 cores",
                if presign { "signed beforehand" } else { "signed on the fly by the publisher" }
            ),
        );
        cpu_figures(r, events, took, cpu_before, cpu_after, presign);
        if r.value("memory_budget").is_none() {
            r.limit(
                "memory_budget",
                256.0,
                "MiB",
                "issue 8 target for the ledger's peak RSS",
            );
        }
        match hwm {
            Some(kib) => r.stage(
                "ledger_process_peak_rss",
                kib as f64 / 1024.0,
                "MiB",
                "memory_budget",
                format!(
                    "VmHWM of the ledger process after ingesting the {size} election{}",
                    if size == Size::Indonesia {
                        ""
                    } else {
                        " (the target is for the indonesia size: --ingest-size indonesia)"
                    }
                ),
            ),
            None => {
                return Err(std::io::Error::other(format!(
                    "reading /proc/{pid}/status for the ledger's peak RSS"
                )))
            }
        }
        let per_event = |b: u64| b as f64 / events.max(1) as f64;
        r.limit(
            "raw_event_bytes",
            per_event(raw_bytes),
            "bytes/event",
            format!(
                "the signed events' own bytes, on average ({raw_bytes} bytes for {events} events)"
            ),
        );
        let (allocated, apparent) = dir_bytes(&data.join("ledger"))?;
        r.stage(
            "ledger_disk_per_event",
            per_event(allocated),
            "bytes/event",
            "raw_event_bytes",
            format!(
                "the ledger's store on disk after it stopped ({allocated} bytes allocated, \
                 {apparent} apparent), per event; target: ratio under 3"
            ),
        );
        let (nats_allocated, _) = dir_bytes(&dir.join("nats-ledger-process"))?;
        r.stage(
            "nats_disk_per_event",
            per_event(nats_allocated),
            "bytes/event",
            "raw_event_bytes",
            "nats-server's JetStream store beside it (the submissions and the published log), \
             per event; not part of the target",
        );
        Ok(data.join("ledger"))
    })
}

/// Where the two cores went while the ledger process ingested: the CPU time
/// per event of the ledger, nats-server and the publisher (this process), each
/// as a multiple of one `verify_strict`, which every sound ledger must spend
/// per event; and the rate the ledger could reach with the cores to itself.
fn cpu_figures(
    r: &mut Report,
    events: u64,
    wall: f64,
    before: [f64; 3],
    after: [f64; 3],
    presign: bool,
) {
    let per_event = |i: usize| (after[i] - before[i]) * 1e6 / events.max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    r.stage(
        "ledger_process_cpu_per_event",
        per_event(0),
        "us/event",
        "verify_strict_cpu",
        "the ledger process's CPU time (user + system, all threads) while ingesting, per event",
    );
    r.stage(
        "nats_server_cpu_per_event",
        per_event(1),
        "us/event",
        "verify_strict_cpu",
        "nats-server's CPU time per event: the submission stream, the consumer and its acks, the \
         log stream, the receipts' request-reply",
    );
    r.stage(
        "publisher_cpu_per_event",
        per_event(2),
        "us/event",
        "verify_strict_cpu",
        if presign {
            "the publisher's (this process's) CPU time per event: publishing and awaiting receipts"
        } else {
            "the publisher's (this process's) CPU time per event: signing, publishing and awaiting receipts"
        },
    );
    let used: f64 = (0..3).map(|i| after[i] - before[i]).sum();
    r.limit(
        "cpu_cores",
        cores,
        "cores",
        "logical cores this process may use (available_parallelism)",
    );
    r.stage(
        "ingest_cores_busy",
        used / wall,
        "cores",
        "cpu_cores",
        "CPU time used by the three processes together per second of ingest: near 1.0 of the \
         cores means the run was bound by the CPU",
    );
    r.limit(
        "ingest_target",
        40_000.0,
        "events/s",
        "issue 3 target: 40,000 events/s durable",
    );
    r.stage(
        "ledger_alone_ceiling",
        cores * 1e6 / per_event(0).max(f64::MIN_POSITIVE),
        "events/s",
        "ingest_target",
        "cores / the ledger's CPU per event: the most the ledger process could ingest with every \
         core to itself (nats-server and the publishers elsewhere), if it kept its CPU cost per event",
    );
    let verify = r
        .value("verify_strict_cpu")
        .expect("invariant: the limits are measured before the ingest stages");
    r.stage(
        "verify_only_ledger_ceiling",
        cores * 1e6 / (verify + per_event(1) + per_event(2)),
        "events/s",
        "ingest_target",
        "cores / (verify_strict_cpu + nats-server's and the publisher's CPU per event): the most \
         any sound ledger could ingest on these cores beside this nats-server and publisher, even \
         if it spent nothing per event but one verify_strict",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_resident_set_is_read_from_proc_status() {
        let status = "Name:\ttallylog\nVmPeak:\t  900 kB\nVmHWM:\t  113664 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(113_664));
        assert_eq!(vm_hwm_kib("Name:\tx\n"), None);
        assert!(peak_rss_kib("self").is_some_and(|kib| kib > 0));
    }

    #[test]
    fn the_cpu_time_is_read_from_proc_stat_after_the_command_name() {
        // A command name with a space and a ')' of its own, then fields 3 to 18.
        let stat = "4242 (tokio (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 1234 56 0 0 20";
        assert_eq!(stat_cpu_seconds(stat), Some(12.9));
        assert_eq!(stat_cpu_seconds("4242 (x) S 1 2"), None);
        // Spinning uses CPU time, which the count shows within a tick or so.
        let mine = cpu_seconds("self").expect("this process's stat");
        let spin = Instant::now();
        while cpu_seconds("self").expect("again") <= mine {
            assert!(
                spin.elapsed() < Duration::from_secs(10),
                "no CPU time counted"
            );
        }
    }

    #[test]
    fn a_directory_is_measured_with_what_is_under_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("a"), [0u8; 100]).expect("write");
        std::fs::write(dir.path().join("sub/b"), [0u8; 5000]).expect("write");
        let (allocated, apparent) = dir_bytes(dir.path()).expect("measured");
        assert_eq!(apparent, 5100);
        assert!(allocated >= 4096);
    }
}
