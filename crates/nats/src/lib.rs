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
//!
//! Every service and client connects through [`connect`], which takes one
//! server URL or a comma-separated list (a cluster), with credentials in the
//! URL (`nats://USER:PASSWORD@HOST:4222`) for servers that require them
//! (deploy/nats/accounts.conf). Streams are created with a [`Replicas`] count:
//! one on a single server, three on a cluster.

pub mod submit;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{ConnectOptions, ServerAddr};
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

/// The inbox prefix of the ledger's own requests (JetStream API calls, its
/// intake consumer's deliveries, acknowledgements of its log publishes). Not
/// `_INBOX`, so that the ledger's `_INBOX.` traffic is only its replies to
/// publishers: deploy/nats/accounts.conf passes exactly that to the account
/// the publishers are in, and nothing of the ledger's own.
pub const LEDGER_INBOX_PREFIX: &str = "_LEDGER";

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
    #[error("{0}")]
    Connect(String),
    #[error("the NATS server list {shown:?} is not usable: {message}")]
    BadUrl { shown: String, message: String },
}

/// The largest message the streams accept: NATS's default maximum payload.
/// Deliberately above the 64 KiB event limit, so that an oversized event reaches
/// the ledger and is refused there with a reason (`too_large`) rather than
/// vanishing into a stream error the publisher may not understand.
pub const MAX_MESSAGE_BYTES: i32 = 1024 * 1024;

const _: () = assert!(MAX_EVENT_BYTES < MAX_MESSAGE_BYTES as usize);

/// How many servers keep a copy of each of the election's streams: 1 on a
/// single server, 3 on a three-node cluster (a message is then acknowledged
/// only once two of them have it, so one node can die without losing it).
/// JetStream allows 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replicas(usize);

impl Replicas {
    pub const ONE: Replicas = Replicas(1);

    pub fn new(n: usize) -> Result<Replicas, String> {
        if (1..=5).contains(&n) {
            Ok(Replicas(n))
        } else {
            Err(format!(
                "{n} replicas: JetStream keeps 1 to 5 copies of a stream (1 on a single server, 3 on a three-node cluster)"
            ))
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Replicas {
    fn default() -> Self {
        Replicas::ONE
    }
}

impl std::str::FromStr for Replicas {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n: usize = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a number of replicas"))?;
        Replicas::new(n)
    }
}

impl std::fmt::Display for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Creates the election's intake and log streams if they do not exist, with
/// `replicas` copies each, and returns them.
///
/// A stream that exists keeps the replica count it has: changing it moves
/// data between servers and is an operator's decision, not something to do
/// because one start was given another flag. A difference is logged (as an
/// error when the stream has fewer copies than asked for, since it is then
/// less durable than the operator believes).
pub async fn ensure_streams(
    js: &jetstream::Context,
    names: &Names,
    replicas: Replicas,
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
        num_replicas: replicas.get(),
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
                stream: name.clone(),
                message: e.to_string(),
            })?;
        let have = s.cached_info().config.num_replicas.max(1);
        if have < replicas.get() {
            tracing::error!(
                stream = %name, replicas = have, wanted = replicas.get(),
                "the stream has fewer replicas than configured; it stays as it is until an operator changes it (deploy/RUNBOOK.md)"
            );
        } else if have > replicas.get() {
            tracing::warn!(
                stream = %name, replicas = have, wanted = replicas.get(),
                "the stream has more replicas than configured; it stays as it is"
            );
        }
        out.push(s);
    }
    let log = out.pop().expect("two streams");
    let intake = out.pop().expect("two streams");
    Ok((intake, log))
}

/// Connects to NATS with `options` (a name, retries), at `servers`: one URL or
/// several separated by commas (the servers of a cluster: whichever answers
/// first is used, and the client learns the others from it and moves to them
/// when its server dies).
///
/// A URL may carry credentials: `nats://USER:PASSWORD@HOST:PORT`
/// (percent-encode `@`, `:`, `/` and `%` in them) or `nats://TOKEN@HOST:PORT`.
/// async-nats 0.51 parses them but never sends them (nats-io/nats.rs#1623),
/// so they are taken out of the URL here and handed to the connection
/// options; errors show the URL with the password replaced ([`redact`]).
pub async fn connect(
    servers: &str,
    options: ConnectOptions,
) -> Result<async_nats::Client, NatsError> {
    let list = ServerList::parse(servers)?;
    let options = match list.auth {
        Some(Auth::UserPassword(user, password)) => options.user_and_password(user, password),
        Some(Auth::Token(token)) => options.token(token),
        None => options,
    };
    options
        .connect(list.servers.as_slice())
        .await
        .map_err(|e| NatsError::Connect(format!("connecting to {}: {e}", redact(servers))))
}

/// `servers` as it may be shown or logged: each URL's password (or token)
/// replaced by `***`, the user name kept.
pub fn redact(servers: &str) -> String {
    servers
        .split(',')
        .map(|item| match split_url(item.trim()) {
            Some((scheme, Some(userinfo), rest)) => {
                let shown = match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    None => "***".to_owned(),
                };
                format!("{scheme}://{shown}@{rest}")
            }
            _ => item.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

enum Auth {
    UserPassword(String, String),
    Token(String),
}

/// Server addresses without credentials, and the credentials they carried.
struct ServerList {
    servers: Vec<ServerAddr>,
    auth: Option<Auth>,
}

impl ServerList {
    fn parse(servers: &str) -> Result<ServerList, NatsError> {
        let bad = |message: String| NatsError::BadUrl {
            shown: redact(servers),
            message,
        };
        let mut list = ServerList {
            servers: Vec::new(),
            auth: None,
        };
        let mut seen: Option<&str> = None;
        for item in servers.split(',').map(str::trim) {
            let Some((scheme, userinfo, rest)) = split_url(item) else {
                return Err(bad("an empty server address".to_owned()));
            };
            if let Some(userinfo) = userinfo {
                // One connection has one identity: every URL that names
                // credentials must name the same ones.
                if seen.is_some_and(|s| s != userinfo) {
                    return Err(bad(
                        "the URLs carry different credentials; give them once, or the same on each"
                            .to_owned(),
                    ));
                }
                seen = Some(userinfo);
                list.auth = Some(match userinfo.split_once(':') {
                    Some((user, password)) => Auth::UserPassword(
                        percent_decode(user).map_err(bad)?,
                        percent_decode(password).map_err(bad)?,
                    ),
                    None => Auth::Token(percent_decode(userinfo).map_err(bad)?),
                });
            }
            let bare = format!("{scheme}://{rest}");
            let addr: ServerAddr = bare.parse().map_err(|e| bad(format!("{bare}: {e}")))?;
            list.servers.push(addr);
        }
        Ok(list)
    }
}

/// Splits `scheme://userinfo@rest` (scheme `nats` when absent); `None` for
/// an empty address.
fn split_url(item: &str) -> Option<(&str, Option<&str>, &str)> {
    if item.is_empty() {
        return None;
    }
    let (scheme, after) = item.split_once("://").unwrap_or(("nats", item));
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    match after[..authority_end].rfind('@') {
        Some(at) => Some((scheme, Some(&after[..at]), &after[at + 1..])),
        None => Some((scheme, None, after)),
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a `%` in the credentials is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the credentials are not UTF-8 once decoded".to_owned())
}

/// A `nats-server` with JetStream started by us, listening on a free loopback
/// port with its own storage directory; stopped when dropped.
pub struct LocalServer {
    child: tokio::process::Child,
    url: String,
    name: String,
    _tmp: Option<tempfile::TempDir>,
}

/// How to start a local `nats-server`, beyond the defaults of
/// [`LocalServer::start`]: JetStream on, loopback only. Not `Debug`: the
/// environment may hold passwords.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// JetStream storage (`-sd`); a new temporary directory if `None`.
    pub dir: Option<PathBuf>,
    /// The client port; any free port if `None`.
    pub port: Option<u16>,
    /// A configuration file (`-c`), for accounts and permissions. Its
    /// `jetstream` block must not set `store_dir`: nats-server refuses it
    /// twice, and `dir` gives it.
    pub config: Option<PathBuf>,
    /// More arguments: a server name, cluster options.
    pub args: Vec<String>,
    /// The server's environment: the configuration file reads passwords from it.
    pub env: Vec<(String, String)>,
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
        Self::start_with(ServerOptions {
            dir: dir.map(Path::to_owned),
            port,
            ..Default::default()
        })
        .await
    }

    /// Starts a server as `options` say.
    pub async fn start_with(options: ServerOptions) -> Result<LocalServer, NatsError> {
        let (tmp, dir): (Option<tempfile::TempDir>, PathBuf) = match options.dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().map_err(|e| NatsError::Start(e.to_string()))?;
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| NatsError::Start(e.to_string()))?;
        let exe = find_server()?;
        let port = options.port.map_or("-1".to_owned(), |p| p.to_string());
        let mut command = tokio::process::Command::new(&exe);
        if let Some(config) = &options.config {
            command.arg("-c").arg(config);
        }
        command
            .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
            .arg(&dir)
            .args(&options.args)
            .envs(options.env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| NatsError::Start(format!("running {}: {e}", exe.display())))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let (mut url, mut name) = (None, None);
        let mut log = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                    url = Some(format!("nats://{}", addr.trim()));
                }
                if let Some(n) = line.split("]   Name:").nth(1) {
                    name = Some(n.trim().to_owned());
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
                    name: name.unwrap_or_default(),
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

    /// Starts `size` servers on loopback as one cluster (`tallylog`, servers
    /// `n1`, `n2`, …), each with its own temporary storage, and returns once
    /// JetStream can place a stream with `size` replicas on them. Every
    /// server is given every route (JetStream clustering requires configured
    /// routes), on ports found free just before; clients take any free port.
    pub async fn start_cluster(size: usize) -> Result<Vec<LocalServer>, NatsError> {
        let ports = (0..size)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .map_err(|e| NatsError::Start(format!("finding a free port: {e}")))
            })
            .collect::<Result<Vec<u16>, _>>()?;
        let routes = ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let args = [
                "--server_name",
                &format!("n{}", i + 1),
                "--cluster_name",
                "tallylog",
                "--cluster",
                &format!("nats://127.0.0.1:{port}"),
                "--routes",
                &routes,
            ]
            .map(str::to_owned)
            .into();
            servers.push(
                Self::start_with(ServerOptions {
                    args,
                    ..Default::default()
                })
                .await?,
            );
        }
        // JetStream elects a meta leader once the servers have met: until
        // then stream creation fails. Place (and remove) a probe stream with
        // every replica to know the cluster is whole.
        let urls: Vec<&str> = servers.iter().map(|s| s.url()).collect();
        let client = connect(&urls.join(","), ConnectOptions::new())
            .await
            .map_err(|e| NatsError::Start(e.to_string()))?;
        let js = jetstream::new(client);
        let probe = stream::Config {
            name: "tallylog-cluster-probe".to_owned(),
            subjects: vec!["tallylog-cluster-probe".to_owned()],
            num_replicas: size,
            ..Default::default()
        };
        let mut last = String::new();
        for _ in 0..300 {
            match js.create_stream(probe.clone()).await {
                Ok(_) => {
                    let _ = js.delete_stream(&probe.name).await;
                    return Ok(servers);
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(NatsError::Start(format!(
            "the cluster did not form within 30 s: {last}"
        )))
    }

    /// The server's name (`n1`… in a cluster).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
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

/// Where the `nats-server` binary is: `TALLYLOG_NATS_SERVER`, else `PATH`,
/// else /usr/sbin (Debian) or /usr/local/bin.
pub fn find_server() -> Result<PathBuf, NatsError> {
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

    #[test]
    fn credentials_leave_the_url_and_never_show() {
        let l = ServerList::parse("nats://observer:p%40ss:w0rd@10.0.0.1:4222").unwrap();
        assert_eq!(l.servers.len(), 1);
        assert_eq!(l.servers[0].host(), "10.0.0.1");
        assert!(!l.servers[0].has_user_pass());
        match l.auth {
            Some(Auth::UserPassword(u, p)) => {
                assert_eq!((u.as_str(), p.as_str()), ("observer", "p@ss:w0rd"))
            }
            _ => panic!("expected a user and password"),
        }
        assert_eq!(
            redact("nats://observer:p%40ss@a:4222, nats://b:4222,tok3n@c"),
            "nats://observer:***@a:4222,nats://b:4222,nats://***@c"
        );
        // A token, and a list whose URLs carry the credentials once.
        let l = ServerList::parse("s3cret@a:4222,nats://b:4223").unwrap();
        assert_eq!(l.servers.len(), 2);
        assert!(matches!(l.auth, Some(Auth::Token(t)) if t == "s3cret"));
        assert!(ServerList::parse("nats://a:4222").unwrap().auth.is_none());
    }

    #[test]
    fn unusable_server_lists_are_refused_without_showing_the_password() {
        for bad in [
            "nats://u:one@a:4222,nats://u:two@b:4222",
            "nats://u:p%4@a:4222",
            "nats://u:secret@a:4222,",
            "http://u:secret@a:4222",
        ] {
            let e = ServerList::parse(bad).err().expect(bad).to_string();
            assert!(!e.contains("secret") && !e.contains("one@"), "{e}");
        }
    }

    #[test]
    fn replicas_are_one_to_five() {
        assert_eq!("3".parse::<Replicas>().unwrap().get(), 3);
        assert_eq!(Replicas::default(), Replicas::ONE);
        for bad in ["0", "6", "x", "-1"] {
            assert!(bad.parse::<Replicas>().is_err(), "{bad}");
        }
    }
}
