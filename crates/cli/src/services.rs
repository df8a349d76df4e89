//! `tallylog ledger`, `tallylog projector` and `tallylog gateway` (one
//! service each, for a real deployment) and `tallylog up` (everything on one
//! machine, with its own nats-server).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tallylog_core::keys;
use tallylog_core::types::{ElectionId, Origin, PublicKey};
use tallylog_nats::LocalServer;
use tokio_util::sync::CancellationToken;

use crate::Outcome;

#[derive(clap::Args)]
pub struct LedgerArgs {
    /// The NATS server to use: a URL, or the URLs of a cluster separated by
    /// commas; nats://USER:PASSWORD@HOST:PORT where the server requires
    /// credentials (deploy/nats/accounts.conf).
    #[arg(
        long,
        env = "TALLYLOG_NATS",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
pub struct ProjectorArgs {
    /// The NATS server the ledger publishes the log on.
    #[arg(
        long,
        env = "TALLYLOG_NATS",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    /// Where the projector keeps its copy of the log.
    #[arg(long, env = "TALLYLOG_PROJECTOR_DATA")]
    data: PathBuf,
    /// The election whose log to follow.
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: ElectionId,
    /// Do not check entries' signatures (for a projector beside its own
    /// ledger, which checked them; anyone else should leave them checked).
    #[arg(long)]
    trust_log: bool,
}

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// The NATS server the ledger publishes the log on.
    #[arg(
        long,
        env = "TALLYLOG_NATS",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    /// Where the gateway keeps its copy of the log.
    #[arg(long, env = "TALLYLOG_GATEWAY_DATA")]
    data: PathBuf,
    /// The election whose log to serve.
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: ElectionId,
    /// Do not check entries' signatures (for a gateway beside its own
    /// ledger, which checked them).
    #[arg(long)]
    trust_log: bool,
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(clap::Args)]
struct HttpArgs {
    /// The address to serve HTTP on (port 0: any free port).
    #[arg(long, env = "TALLYLOG_HTTP", default_value = "127.0.0.1:8080")]
    http: std::net::SocketAddr,
    /// Requests per second each client address may make, on average.
    #[arg(long, env = "TALLYLOG_HTTP_RATE", default_value_t = 50.0)]
    http_rate: f64,
    /// Requests a client may make in a burst.
    #[arg(long, env = "TALLYLOG_HTTP_BURST", default_value_t = 200.0)]
    http_burst: f64,
    /// Live streams open at once, in all.
    #[arg(long, default_value_t = 1000)]
    max_streams: usize,
}

impl HttpArgs {
    fn limits(&self) -> Result<tallylog_gateway::Limits> {
        if !(self.http_rate > 0.0 && self.http_burst >= 1.0) {
            anyhow::bail!("--http-rate must be above 0 and --http-burst at least 1");
        }
        Ok(tallylog_gateway::Limits {
            requests_per_second: self.http_rate,
            burst: self.http_burst,
            max_streams: self.max_streams,
            ..Default::default()
        })
    }
    async fn bind(&self) -> Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind(self.http)
            .await
            .with_context(|| format!("listening on {} (choose another with --http)", self.http))
    }
}

#[derive(clap::Args)]
pub struct UpArgs {
    /// Use this NATS server instead of starting one under --data.
    #[arg(long, env = "TALLYLOG_NATS", hide_env_values = true)]
    nats: Option<String>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(clap::Args)]
struct Common {
    /// Where everything is kept: the log (ledger/), the log key, and for `up`
    /// the NATS server's data (nats/).
    #[arg(long, env = "TALLYLOG_DATA")]
    data: PathBuf,
    /// The election this log is for.
    #[arg(long, env = "TALLYLOG_ELECTION")]
    election: ElectionId,
    /// The log's name in its checkpoints (as the election definition's `log.origin`).
    #[arg(long, env = "TALLYLOG_ORIGIN")]
    origin: Origin,
    /// The log's checkpoint signing key (default DATA/log.key, created 0600 on
    /// first start; its public key goes into the election definition's `log.key`).
    #[arg(long, env = "TALLYLOG_LOG_KEY")]
    log_key: Option<PathBuf>,
    /// Submissions judged and appended together at most (one fsync each).
    #[arg(long, default_value_t = 1024)]
    max_batch: usize,
    /// A witness whose cosignatures to collect, as NAME+PUBLICKEY (repeat
    /// for several).
    #[arg(long = "witness", value_parser = tallylog_core::cosign::WitnessKey::parse)]
    witnesses: Vec<tallylog_core::cosign::WitnessKey>,
    /// Cosignatures a checkpoint needs before it is served as the latest.
    #[arg(long, default_value_t = 0)]
    quorum: usize,
    /// Copies of the intake and log streams JetStream keeps: 1 on one
    /// server, 3 on a three-node cluster. Used when the streams are created;
    /// an existing stream keeps its count (a difference is logged).
    #[arg(long, env = "TALLYLOG_REPLICAS", default_value = "1")]
    replicas: tallylog_nats::Replicas,
}

impl Common {
    fn ledger_config(&self, nats_url: String) -> Result<tallylog_ledger::Config> {
        std::fs::create_dir_all(&self.data)
            .with_context(|| format!("creating {}", self.data.display()))?;
        let key_path = self
            .log_key
            .clone()
            .unwrap_or_else(|| self.data.join("log.key"));
        let key = load_or_create_key(&key_path)?;
        let public: PublicKey = key.verifying_key().into();
        eprintln!(
            "log: origin {} key {public} (verifier key {})",
            self.origin,
            tallylog_core::checkpoint::verifier_key(self.origin.as_str(), &public)
        );
        Ok(tallylog_ledger::Config {
            nats_url,
            election: self.election.clone(),
            data_dir: self.data.join("ledger"),
            log_key: key,
            origin: self.origin.clone(),
            max_batch: self.max_batch.max(1),
            witnesses: self.witnesses.clone(),
            quorum: self.quorum,
        })
    }
}

fn load_or_create_key(path: &Path) -> Result<ed25519_dalek::SigningKey> {
    if path.exists() {
        let bytes = crate::files::read_limited(path, 4096)?;
        return keys::decode_secret(&bytes)
            .with_context(|| format!("reading the log key {}", path.display()));
    }
    let key = keys::generate();
    crate::files::write_secret(path, &keys::encode_secret(&key))?;
    eprintln!("created the log key {} (mode 0600)", path.display());
    Ok(key)
}

/// A runtime for services: two worker threads, one per core.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A token cancelled by Ctrl-C or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("invariant: SIGTERM can be handled");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("stopping: finishing the batch in hand");
        t.cancel();
    });
    token
}

pub fn ledger(a: LedgerArgs) -> Result<Outcome> {
    let config = a.common.ledger_config(a.nats.clone())?;
    let replicas = a.common.replicas;
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signal();
        eprintln!(
            "ledger: election {} on {} ({replicas} stream replicas)",
            config.election,
            tallylog_nats::redact(&a.nats)
        );
        tallylog_ledger::run_with_replicas(config, replicas, shutdown)
            .await
            .context("running the ledger")
    })?;
    Ok(Outcome::Ok)
}

pub fn projector(a: ProjectorArgs) -> Result<Outcome> {
    let config = tallylog_projector::Config {
        nats_url: a.nats.clone(),
        election: a.election.clone(),
        data_dir: a.data.clone(),
        verify_signatures: !a.trust_log,
    };
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signal();
        eprintln!(
            "projector: election {} on {}, queries on {}",
            config.election,
            tallylog_nats::redact(&a.nats),
            tallylog_nats::Names::new(config.election.clone()).query()
        );
        tallylog_projector::run(config, shutdown)
            .await
            .context("running the projector")
    })?;
    Ok(Outcome::Ok)
}

pub fn gateway(a: GatewayArgs) -> Result<Outcome> {
    let config = tallylog_gateway::Config {
        nats_url: a.nats.clone(),
        election: a.election.clone(),
        data_dir: a.data.clone(),
        verify_signatures: !a.trust_log,
        limits: a.http.limits()?,
    };
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signal();
        let listener = a.http.bind().await?;
        println!(
            "gateway: http://{} (election {} on {})",
            listener.local_addr()?,
            config.election,
            tallylog_nats::redact(&a.nats)
        );
        tallylog_gateway::run(config, listener, shutdown)
            .await
            .context("running the gateway")
    })?;
    Ok(Outcome::Ok)
}

pub fn up(a: UpArgs) -> Result<Outcome> {
    let replicas = a.common.replicas;
    if a.nats.is_none() && replicas != tallylog_nats::Replicas::ONE {
        anyhow::bail!(
            "--replicas {replicas} needs a NATS cluster: `up` alone starts one server; pass --nats with the cluster's URLs"
        );
    }
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signal();
        let (server, url) = match &a.nats {
            Some(url) => (None, url.clone()),
            None => {
                let s = LocalServer::start(Some(&a.common.data.join("nats")))
                    .await
                    .context("starting nats-server")?;
                let url = s.url().to_owned();
                (Some(s), url)
            }
        };
        println!("nats: {}", tallylog_nats::redact(&url));
        let config = a.common.ledger_config(url)?;
        println!(
            "ledger: election {}, data in {}",
            config.election,
            a.common.data.display()
        );
        // The gateway (a projector with an HTTP face, which also answers the
        // projector's NATS queries) beside its own ledger need not check
        // signatures again.
        let gateway = tallylog_gateway::Config {
            nats_url: config.nats_url.clone(),
            election: config.election.clone(),
            data_dir: a.common.data.join("gateway"),
            verify_signatures: false,
            limits: a.http.limits()?,
        };
        let listener = a.http.bind().await?;
        println!(
            "projector: queries on {} (try: tallylog tally --election {} status)",
            tallylog_nats::Names::new(config.election.clone()).query(),
            config.election
        );
        println!("gateway: http://{}", listener.local_addr()?);
        let (ledger, projector) = tokio::join!(
            async {
                let r = tallylog_ledger::run_with_replicas(config, replicas, shutdown.clone())
                    .await
                    .context("running the ledger");
                // Whatever stopped the ledger stops the rest.
                shutdown.cancel();
                r
            },
            async {
                let r = tallylog_gateway::run(gateway, listener, shutdown.clone())
                    .await
                    .context("running the gateway");
                if r.is_err() {
                    shutdown.cancel();
                }
                r
            }
        );
        let result = ledger.and(projector);
        if let Some(s) = server {
            s.stop().await;
        }
        result
    })?;
    Ok(Outcome::Ok)
}
