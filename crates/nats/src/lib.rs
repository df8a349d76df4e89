//! tallylog on NATS: the names every service and client must agree on, the
//! JetStream streams, and a local `nats-server` for one-machine runs and tests.
//!
//! Subjects, for an election `E`:
//!
//! | subject | what travels on it |
//! |---|---|
//! | `tallylog.E.submit.KIND` | signed events from publishers (intake stream) |
//! | `tallylog.E.log.KIND.P.D.C.S` | accepted log entries, by kind and region (log stream) |
//! | `tallylog.E.receipt` | request: an event id; reply: its receipt, or `unknown` |
//! | `tallylog.E.entry` | request: an entry index; reply: the entry's bytes |
//! | `tallylog.E.stats` | request: the ledger's counters, as JSON |
//! | `tallylog.E.query` | request: a projector query (JSON); reply: its answer |
//! | `tallylog.E.checkpoint` | request: empty (the latest with a witness quorum) or a size; reply: the signed checkpoint with its cosignatures |
//! | `tallylog.E.consistency` | request: `OLD NEW`; reply: the consistency proof, a JSON array of hex hashes |
//! | `tallylog.E.cosign` | request: `{"size":N,"line":"— …"}` from a witness; reply: `ok` or `error: …` |
//!
//! `P.D.C.S` are the province, district, commune and station segments of the
//! event's region, `_` where the event names no such level; so a party agent
//! follows a province with `tallylog.E.log.*.12.>`. The intake stream keeps
//! every submission in order forever (limits retention): it is the ledger's
//! input, and a replica that replays it must arrive at the same log.

pub mod submit;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tallylog_core::event::{Kind, MAX_EVENT_BYTES};
use tallylog_core::types::{ElectionId, RegionCode};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Waits that grow from 100 ms to 5 s while something keeps failing, for
/// services that must outlive a NATS restart.
#[derive(Default)]
pub struct Backoff(u32);

impl Backoff {
    /// Waits for the next interval, or until `shutdown`.
    pub async fn wait(&mut self, shutdown: &tokio_util::sync::CancellationToken) {
        let ms = 100u64 << self.0.min(6);
        self.0 += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms.min(5_000))) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// Header naming where the ledger sends its reply to a submission.
pub const REPLY_TO: &str = "Tallylog-Reply-To";

/// The NATS names of one election.
#[derive(Clone, Debug)]
pub struct Names {
    election: ElectionId,
}

impl Names {
    pub fn new(election: ElectionId) -> Names {
        Names { election }
    }
    pub fn election(&self) -> &ElectionId {
        &self.election
    }
    pub fn intake_stream(&self) -> String {
        format!("tallylog-{}-intake", self.election)
    }
    pub fn log_stream(&self) -> String {
        format!("tallylog-{}-log", self.election)
    }
    pub fn submit(&self, kind: Kind) -> String {
        format!("tallylog.{}.submit.{}", self.election, kind.as_str())
    }
    pub fn submit_all(&self) -> String {
        format!("tallylog.{}.submit.>", self.election)
    }
    /// The log subject of an entry of `kind` about `region`.
    pub fn log(&self, kind: Kind, region: Option<&RegionCode>) -> String {
        let mut s = format!("tallylog.{}.log.{}", self.election, kind.as_str());
        let segments: Vec<&str> = region.map(|r| r.segments().collect()).unwrap_or_default();
        for i in 0..4 {
            s.push('.');
            s.push_str(segments.get(i).copied().unwrap_or("_"));
        }
        s
    }
    pub fn log_all(&self) -> String {
        format!("tallylog.{}.log.>", self.election)
    }
    pub fn receipt(&self) -> String {
        format!("tallylog.{}.receipt", self.election)
    }
    pub fn entry(&self) -> String {
        format!("tallylog.{}.entry", self.election)
    }
    pub fn stats(&self) -> String {
        format!("tallylog.{}.stats", self.election)
    }
    pub fn checkpoint(&self) -> String {
        format!("tallylog.{}.checkpoint", self.election)
    }
    pub fn consistency(&self) -> String {
        format!("tallylog.{}.consistency", self.election)
    }
    pub fn cosign(&self) -> String {
        format!("tallylog.{}.cosign", self.election)
    }
    /// Projectors answer queries here (as one queue group, so several share
    /// the load).
    pub fn query(&self) -> String {
        format!("tallylog.{}.query", self.election)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    #[error("could not set up JetStream stream {stream}: {message}")]
    Stream { stream: String, message: String },
    #[error(
        "nats-server is not installed ({0}). Install it with `sudo apt-get install nats-server` \
         (Debian), or pass --nats URL to use a running server"
    )]
    NotInstalled(String),
    #[error("nats-server did not start: {0}")]
    Start(String),
}

/// The largest message the streams accept: NATS's default maximum payload.
/// Deliberately above the 64 KiB event limit, so that an oversized event reaches
/// the ledger and is refused there with a reason (`too_large`) rather than
/// vanishing into a stream error the publisher may not understand.
pub const MAX_MESSAGE_BYTES: i32 = 1024 * 1024;

const _: () = assert!(MAX_EVENT_BYTES < MAX_MESSAGE_BYTES as usize);

/// Creates the election's intake and log streams if they do not exist, and
/// returns them.
pub async fn ensure_streams(
    js: &jetstream::Context,
    names: &Names,
) -> Result<(stream::Stream, stream::Stream), NatsError> {
    let make = |name: String, subject: String, what: &str| stream::Config {
        name,
        description: Some(format!("tallylog {}: {what}", names.election)),
        subjects: vec![subject],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_message_size: MAX_MESSAGE_BYTES,
        duplicate_window: Duration::from_secs(120),
        // Nothing that entered either stream may be taken out through the API:
        // the intake is the ledger's input and the log stream is the log.
        deny_delete: true,
        deny_purge: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    for cfg in [
        make(
            names.intake_stream(),
            names.submit_all(),
            "submissions, in order",
        ),
        make(
            names.log_stream(),
            names.log_all(),
            "the accepted log entries",
        ),
    ] {
        let name = cfg.name.clone();
        let s = js
            .get_or_create_stream(cfg)
            .await
            .map_err(|e| NatsError::Stream {
                stream: name,
                message: e.to_string(),
            })?;
        out.push(s);
    }
    let log = out.pop().expect("two streams");
    let intake = out.pop().expect("two streams");
    Ok((intake, log))
}

/// A `nats-server` with JetStream started by us, listening on a free loopback
/// port with its own storage directory; stopped when dropped.
pub struct LocalServer {
    child: tokio::process::Child,
    url: String,
    _tmp: Option<tempfile::TempDir>,
}

impl LocalServer {
    /// Starts a server storing JetStream data under `dir`, or under a new
    /// temporary directory if `dir` is `None` (tests).
    pub async fn start(dir: Option<&Path>) -> Result<LocalServer, NatsError> {
        Self::start_on(dir, None).await
    }

    /// As [`start`](Self::start), on a given port (restarting a server keeps its
    /// address, so clients reconnect).
    pub async fn start_on(dir: Option<&Path>, port: Option<u16>) -> Result<LocalServer, NatsError> {
        let (tmp, dir): (Option<tempfile::TempDir>, PathBuf) = match dir {
            Some(d) => (None, d.to_owned()),
            None => {
                let t = tempfile::tempdir().map_err(|e| NatsError::Start(e.to_string()))?;
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| NatsError::Start(e.to_string()))?;
        let exe = find_server()?;
        let port = port.map_or("-1".to_owned(), |p| p.to_string());
        let mut child = tokio::process::Command::new(&exe)
            .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| NatsError::Start(format!("running {}: {e}", exe.display())))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut url = None;
        let mut log = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                    url = Some(format!("nats://{}", addr.trim()));
                }
                if line.contains("Server is ready") {
                    return true;
                }
                log.push(line);
            }
            false
        })
        .await;
        match (found, url) {
            (Ok(true), Some(url)) => {
                // Keep draining its log so the server never blocks on a full pipe.
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::debug!(target: "nats-server", "{line}");
                    }
                });
                Ok(LocalServer {
                    child,
                    url,
                    _tmp: tmp,
                })
            }
            _ => {
                let _ = child.kill().await;
                Err(NatsError::Start(format!(
                    "no \"Server is ready\" within 20 s; its log: {}",
                    log.join(" | ")
                )))
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("invariant: the url ends in a port")
    }

    /// Stops the server, as a crash would (SIGKILL).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Stops the server cleanly: SIGTERM (it then syncs its file store), and
    /// SIGKILL if it has not exited within ten seconds.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

fn find_server() -> Result<PathBuf, NatsError> {
    if let Some(p) = std::env::var_os("TALLYLOG_NATS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
    {
        let p = dir.join("nats-server");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(NatsError::NotInstalled(
        "not on PATH, nor in /usr/sbin or /usr/local/bin".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_subjects_carry_the_region_and_pad_missing_levels() {
        let n = Names::new("kh-2023".parse().unwrap());
        let station: RegionCode = "12/03/04/0042".parse().unwrap();
        let commune: RegionCode = "12/03/04".parse().unwrap();
        assert_eq!(
            n.log(Kind::Result, Some(&station)),
            "tallylog.kh-2023.log.result.12.03.04.0042"
        );
        assert_eq!(
            n.log(Kind::ComplaintFiled, Some(&commune)),
            "tallylog.kh-2023.log.complaint_filed.12.03.04._"
        );
        assert_eq!(
            n.log(Kind::KeyRegister, None),
            "tallylog.kh-2023.log.key_register._._._._"
        );
    }
}
