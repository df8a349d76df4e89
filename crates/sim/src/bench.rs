//! `tallylog bench`: measures this machine's limits and tallylog's stages in
//! the same run, and reports every stage as a ratio to the limit it is bound by.
//! Machines here are shared and noisy, so a figure means little alone; the ratio
//! to a limit measured a moment earlier on the same disk and cores means more.
//!
//! Benchmarks measure; tests assert. Nothing here is checked against a target.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tallylog_core::event::{SignedEvent, VerifiedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::publisher::Publisher;
use tallylog_core::sample;
use tallylog_store::Store;

use crate::election::Size;

/// What to measure and where.
#[derive(Clone, Debug)]
pub struct Config {
    /// A directory on the disk to measure (not a tmpfs: fsync would be free).
    pub dir: PathBuf,
    /// Roughly how long each measurement runs.
    pub seconds: f64,
    /// Also run the stages that need nats-server: JetStream publishing and
    /// end-to-end ingest.
    pub ingest: bool,
    /// The `tallylog` binary whose `ledger` command the ledger-process stage
    /// runs; without it that stage is left out.
    pub ledger_bin: Option<PathBuf>,
    /// The simulated election the ledger process ingests (seed 1).
    pub ingest_size: Size,
}

/// One measured figure and, for a stage, the limit it is compared with.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub name: &'static str,
    pub value: f64,
    pub unit: &'static str,
    /// The name of the limit figure this one is bound by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'static str>,
    /// That limit's value, as measured in the same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_value: Option<f64>,
    /// `value / limit_value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    pub note: String,
}

/// Every figure of one run, limits first, each stage after the limit it is
/// compared with.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub figures: Vec<Figure>,
}

impl Report {
    /// Adds a limit: something this machine (or a target) allows, that
    /// stages are compared with.
    pub fn limit(
        &mut self,
        name: &'static str,
        value: f64,
        unit: &'static str,
        note: impl Into<String>,
    ) {
        self.figures.push(Figure {
            name,
            value,
            unit,
            limit: None,
            limit_value: None,
            ratio: None,
            note: note.into(),
        });
    }

    /// Adds a stage: something tallylog does, as a ratio to `limit`, which
    /// must be in the report already.
    pub fn stage(
        &mut self,
        name: &'static str,
        value: f64,
        unit: &'static str,
        limit: &'static str,
        note: impl Into<String>,
    ) {
        let base = self
            .value(limit)
            .expect("invariant: a stage's limit is measured before it");
        self.figures.push(Figure {
            name,
            value,
            unit,
            limit: Some(limit),
            limit_value: Some(base),
            ratio: Some(value / base),
            note: note.into(),
        });
    }

    /// The value of the figure called `name`, if it was measured.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }

    /// A plain-text table: every figure, with its limit, the limit's value
    /// and the ratio, as in the JSON.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<34} {:>14} {:<10} {:>7}  {}\n",
            "figure", "value", "unit", "ratio", "bound by (its value); note"
        );
        for f in &self.figures {
            let ratio = f.ratio.map(|r| format!("{r:.2}")).unwrap_or_default();
            let by = match (f.limit, f.limit_value) {
                (Some(l), Some(v)) => format!("{l} ({}); {}", number(v), f.note),
                _ => format!("limit; {}", f.note),
            };
            s.push_str(&format!(
                "{:<34} {:>14} {:<10} {:>7}  {}\n",
                f.name,
                number(f.value),
                f.unit,
                ratio,
                by
            ));
        }
        s
    }
}

/// A figure for the table: whole numbers with thousands separators, small
/// ones with two decimals.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() < 100.0 {
        return format!("{v:.2}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// Runs `op` (which does `per_call` operations) until `secs` have passed;
/// returns operations per second.
pub(crate) fn rate(secs: f64, per_call: u64, mut op: impl FnMut()) -> f64 {
    let deadline = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < deadline {
        op();
        n += per_call;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Pre-signed result forms, as a publisher would send them.
pub fn signed_results(key: u32, n: usize) -> Vec<VerifiedEvent> {
    let mut p = Publisher::new(test_key(key), sample::ELECTION.parse().expect("valid id"));
    sample::more_results(&mut p, n)
}

pub fn run(cfg: &Config) -> std::io::Result<Report> {
    let mut r = Report::default();
    let secs = cfg.seconds;

    // --- Limits -----------------------------------------------------------
    let buf = [7u8; 200];
    r.limit(
        "sha256_200B",
        rate(secs, 1000, || {
            for _ in 0..1000 {
                std::hint::black_box(Sha256::digest(std::hint::black_box(&buf)));
            }
        }),
        "digests/s",
        "SHA-256 of 200-byte messages, one thread",
    );

    let events = signed_results(900, 4096);
    let keys: Vec<VerifyingKey> = events
        .iter()
        .map(|e| e.body().author.point().expect("valid key"))
        .collect();
    let msgs: Vec<Vec<u8>> = events
        .iter()
        .map(|e| e.event().signing_preimage())
        .collect();
    let sigs: Vec<Signature> = events
        .iter()
        .map(|e| e.event().signature().to_dalek())
        .collect();
    let mut i = 0usize;
    r.limit(
        "ed25519_verify_strict_1t",
        rate(secs, 1, || {
            let j = i % events.len();
            keys[j].verify_strict(&msgs[j], &sigs[j]).expect("valid");
            i += 1;
        }),
        "sigs/s",
        "verify_strict, one thread",
    );
    // The same timed by this thread's CPU clock, not the wall: what one
    // verification costs in CPU whatever else the machine runs, to compare
    // with the CPU the ingest stages spend per event.
    let thread_cpu = || {
        crate::ingest::cpu_seconds("thread-self")
            .ok_or_else(|| std::io::Error::other("reading /proc/thread-self/stat"))
    };
    let (cpu_from, mut n) = (thread_cpu()?, 0u64);
    rate(secs, 1, || {
        let j = n as usize % events.len();
        keys[j].verify_strict(&msgs[j], &sigs[j]).expect("valid");
        n += 1;
    });
    r.limit(
        "verify_strict_cpu",
        // At least one 10 ms tick: the clock counts in ticks.
        (thread_cpu()? - cpu_from).max(0.01) * 1e6 / n.max(1) as f64,
        "us/event",
        "CPU time of one verify_strict, one thread, by the thread's CPU clock: the least a sound \
         ledger spends per event",
    );
    r.limit(
        "ed25519_verify_strict_2t",
        std::thread::scope(|s| {
            let half = events.len() / 2;
            let (k, m, g) = (&keys, &msgs, &sigs);
            let worker = move |from: usize| {
                let mut j = 0usize;
                rate(secs, 1, || {
                    let x = from + j % half;
                    k[x].verify_strict(&m[x], &g[x]).expect("valid");
                    j += 1;
                })
            };
            let a = s.spawn(move || worker(0));
            let b = worker(half);
            a.join().expect("no panic") + b
        }),
        "sigs/s",
        "verify_strict on both cores: the ceiling for judging events",
    );
    let mut i = 0usize;
    r.limit(
        "ed25519_verify_1t",
        rate(secs, 1, || {
            let j = i % events.len();
            keys[j].verify(&msgs[j], &sigs[j]).expect("valid");
            i += 1;
        }),
        "sigs/s",
        "verify (cofactorless), one thread",
    );
    let mut i = 0usize;
    r.limit(
        "ed25519_verify_batch256_1t",
        rate(secs, 256, || {
            let j = (i * 256) % (events.len() - 256);
            let m: Vec<&[u8]> = msgs[j..j + 256].iter().map(|m| &m[..]).collect();
            ed25519_dalek::verify_batch(&m, &sigs[j..j + 256], &keys[j..j + 256]).expect("valid");
            i += 1;
        }),
        "sigs/s",
        "verify_batch of 256, one thread",
    );

    r.limit(
        "ed25519_verify_batch256_2t",
        std::thread::scope(|s| {
            let (k, m, g) = (&keys, &msgs, &sigs);
            let span = events.len() / 2 - 256;
            let worker = move |from: usize| {
                let mut j = 0usize;
                rate(secs, 256, || {
                    let x = from + (j * 256) % span;
                    let mm: Vec<&[u8]> = m[x..x + 256].iter().map(|v| &v[..]).collect();
                    ed25519_dalek::verify_batch(&mm, &g[x..x + 256], &k[x..x + 256])
                        .expect("valid");
                    j += 1;
                })
            };
            let half = events.len() / 2;
            let a = s.spawn(move || worker(0));
            let b = worker(half);
            a.join().expect("no panic") + b
        }),
        "sigs/s",
        "verify_batch of 256 on both cores (not used: see PROTOCOL.md §2)",
    );

    std::fs::create_dir_all(&cfg.dir)?;
    let scratch = tempfile::tempdir_in(&cfg.dir)?;
    let mut f = File::create(scratch.path().join("fsync"))?;
    r.limit(
        "fdatasync_200B",
        rate(secs, 1, || {
            f.write_all(&buf).expect("write");
            f.sync_data().expect("fdatasync");
        }),
        "writes/s",
        "append 200 bytes then fdatasync: one durable write",
    );

    r.limit(
        "fdatasync_latency",
        1e6 / r.figures.last().expect("just measured").value,
        "us",
        "the same, as time per durable write",
    );

    let avg_len = events.iter().map(|e| e.bytes().len()).sum::<usize>() / events.len();
    let value = vec![1u8; avg_len + 80];
    let db = sled::open(scratch.path().join("sled")).map_err(std::io::Error::other)?;
    let mut k = 0u64;
    r.limit(
        "sled_batch1000_flush",
        rate(secs, 1000, || {
            let mut b = sled::Batch::default();
            for _ in 0..1000 {
                b.insert(&k.to_be_bytes()[..], &value[..]);
                k += 1;
            }
            db.apply_batch(b).expect("apply");
            db.flush().expect("flush");
        }),
        "events/s",
        "sled apply_batch(1000) + flush, entry-sized values; NOT durable (no fsync)",
    );
    drop(db);

    let bytes: Vec<Vec<u8>> = events.iter().map(|e| e.bytes().to_vec()).collect();
    let mut i = 0usize;
    r.limit(
        "json_parse_1t",
        rate(secs, 1, || {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes[i % bytes.len()]).expect("valid JSON");
            std::hint::black_box(v);
            i += 1;
        }),
        "events/s",
        "serde_json parse of a signed event into a Value: reading JSON at all",
    );

    // --- Stages -----------------------------------------------------------
    let mut i = 0usize;
    r.stage(
        "event_decode_verify_1t",
        rate(secs, 1, || {
            SignedEvent::decode_verified(&bytes[i % bytes.len()]).expect("valid");
            i += 1;
        }),
        "events/s",
        "ed25519_verify_strict_1t",
        "strict canonical decode + verify_strict, one thread",
    );
    let mut i = 0usize;
    r.stage(
        "event_decode_1t",
        rate(secs, 1, || {
            SignedEvent::decode(&bytes[i % bytes.len()]).expect("valid");
            i += 1;
        }),
        "events/s",
        "json_parse_1t",
        "strict canonical decode alone (parse, typed read, re-encode, compare), one thread",
    );

    let signer = sample::log_signer();
    for (name, batch, limit, note) in [
        (
            "store_append_durable_batch1",
            1usize,
            "fdatasync_200B",
            "rules check + Store::append of 1 event: apply_batch, flush, fdatasync",
        ),
        (
            "store_append_durable_batch256",
            256,
            "sled_batch1000_flush",
            "rules check + Store::append of 256 events: entries, Merkle hashes, indexes, rules state, checkpoint, fdatasync",
        ),
        (
            "store_append_durable_batch1024",
            1024,
            "sled_batch1000_flush",
            "as above, 1024 events per batch",
        ),
    ] {
        let dir = scratch.path().join(name);
        let mut store = Store::open(&dir).map_err(std::io::Error::other)?;
        // A valid log: the sample election, then the authority's forms, judged
        // by the rules on every append as the ledger will.
        store
            .append_checked(sample::events(), &signer)
            .map_err(std::io::Error::other)?;
        let mut authority = sample::continue_after_sample(sample::AUTHORITY_KEY);
        let mut pool: Vec<VerifiedEvent> = Vec::new();
        let deadline = Duration::from_secs_f64(secs);
        let mut spent = Duration::ZERO;
        let mut syncing = Duration::ZERO;
        let mut batches = 0u32;
        let mut n = 0u64;
        while spent < deadline {
            if pool.len() < batch {
                // Signing is not part of the store's cost: do it off the clock.
                pool = sample::more_results(&mut authority, batch.max(2048));
            }
            let chunk: Vec<_> = pool.drain(..batch).collect();
            let t = Instant::now();
            let appended = store
                .append_checked(chunk, &signer)
                .map_err(std::io::Error::other)?;
            spent += t.elapsed();
            syncing += appended.sync_time;
            batches += 1;
            n += batch as u64;
        }
        r.stage(
            name,
            n as f64 / spent.as_secs_f64(),
            "events/s",
            limit,
            note,
        );
        if batch == 1024 {
            r.stage(
                "store_sync_per_batch1024",
                (syncing / batches).as_secs_f64() * 1e6,
                "us",
                "fdatasync_latency",
                "flush + fdatasync of one 1024-event batch (the price of durability)",
            );
        }
    }
    let (election, entries) = crate::rebuild::election(25);
    crate::rebuild::run(&mut r, scratch.path(), &election, &entries)?;
    drop(entries);
    let mut ledger_log = None;
    if cfg.ingest {
        crate::ingest::run(cfg, &mut r)?;
        if let Some(bin) = &cfg.ledger_bin {
            ledger_log = Some(crate::ingest::ledger_process(
                cfg,
                bin,
                &mut r,
                scratch.path(),
            )?);
        }
    }
    proofs(cfg, &mut r, scratch.path(), ledger_log)?;
    Ok(r)
}

/// Logs shorter than this are not a realistic size for the proof stages.
const PROOF_LOG_MIN: u64 = 100_000;

/// The proof stages, over the log the ledger process wrote if it is big
/// enough (proofs grow with the log), or else over a store filled here with
/// the Cambodia-sized election in batches of 1,024.
fn proofs(
    cfg: &Config,
    r: &mut Report,
    scratch: &std::path::Path,
    ledger_log: Option<PathBuf>,
) -> std::io::Result<()> {
    if let Some(dir) = ledger_log {
        let store = Store::open(&dir).map_err(std::io::Error::other)?;
        if store.head().size >= PROOF_LOG_MIN {
            let source = format!(
                "the ledger process's own store after ingesting the {} election",
                cfg.ingest_size
            );
            return crate::proofs::run(r, &store, cfg.seconds, &source);
        }
    }
    let g = crate::election::generate(Size::Cambodia, 1);
    let signer = tallylog_core::checkpoint::LogSigner::new(g.origin.as_str(), g.log_key)
        .map_err(std::io::Error::other)?;
    let mut store = Store::open(&scratch.join("proof-store")).map_err(std::io::Error::other)?;
    let mut events = g.events.into_iter().peekable();
    while events.peek().is_some() {
        let batch: Vec<VerifiedEvent> = events.by_ref().take(1024).collect();
        store
            .append_checked(batch, &signer)
            .map_err(std::io::Error::other)?;
    }
    crate::proofs::run(
        r,
        &store,
        cfg.seconds,
        "a store filled with the cambodia election (seed 1) in batches of 1,024",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_carries_its_limit_and_ratio_in_the_json_and_the_table() {
        let mut r = Report::default();
        r.limit("disk", 200.0, "bytes/event", "raw");
        r.stage(
            "store",
            500.0,
            "bytes/event",
            "disk",
            format!("{} events", 3),
        );
        let json = serde_json::to_value(&r).expect("serialises");
        let stage = &json["figures"][1];
        assert_eq!(stage["limit"], "disk");
        assert_eq!(stage["limit_value"], 200.0);
        assert_eq!(stage["ratio"], 2.5);
        assert_eq!(stage["note"], "3 events");
        assert!(json["figures"][0].get("ratio").is_none());
        let table = r.table();
        assert_eq!(table.lines().count(), 3);
        assert!(table.contains("2.50") && table.contains("disk (200)"));
        assert_eq!(r.value("store"), Some(500.0));
        assert_eq!(r.value("absent"), None);
    }

    #[test]
    fn numbers_are_grouped_or_given_decimals() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(100.0), "100");
        assert_eq!(number(25.0), "25.00");
        assert_eq!(number(-4321.0), "-4,321");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
