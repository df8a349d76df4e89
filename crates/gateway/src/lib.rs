//! The gateway: tallylog over HTTP, for people and for programs that do not
//! speak NATS.
//!
//! - [`api`]: submissions, the checkpoint, entries, proofs, tallies.
//! - [`tiles`]: the log as c2sp.org/tlog-tiles, for mirrors and tile clients.
//! - [`stream`]: live entries as server-sent events, resumable by index.
//! - [`limits`]: rate limits, timeouts, stream caps, JSON errors, metrics.
//! - [`portal`]: the public results page at `/`, built into the binary.
//!
//! The gateway is a projector with an HTTP face: it follows the log stream
//! into its own database exactly as `tallylog projector` does (chain and
//! signatures checked, the tree rebuilt), so the entries, proofs, tiles,
//! tallies and live stream it serves all come from one copy of the log at one
//! size, and no read reaches the ledger. It never signs anything: a submission
//! is forwarded to the ledger as the publisher signed it, and the checkpoint
//! it serves is the ledger's, checked against its own tree before it is shown.

pub mod api;
pub mod limits;
pub mod portal;
pub mod stream;
pub mod tiles;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tallylog_core::checkpoint::LogVerifier;
use tallylog_core::merkle::Hash;
use tallylog_core::types::ElectionId;
use tallylog_nats::submit::Submitter;
use tallylog_nats::{Backoff, Names};
use tallylog_projector::Follower;
use tokio_util::sync::CancellationToken;

pub use limits::Limits;

/// Everything the gateway needs, passed explicitly.
pub struct Config {
    pub nats_url: String,
    pub election: ElectionId,
    /// Its copy of the log lives here.
    pub data_dir: PathBuf,
    /// Check each entry's signature as it arrives.
    pub verify_signatures: bool,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error(transparent)]
    Projector(#[from] tallylog_projector::ProjectorError),
    #[error("serving HTTP: {0}")]
    Http(String),
}

/// The newest checkpoint the gateway has checked against its own tree.
#[derive(Clone, Debug)]
pub struct Latest {
    pub size: u64,
    pub root: Hash,
    /// The signed note with its cosignatures, as the ledger gave it.
    pub note: bytes::Bytes,
}

/// What every handler shares.
pub struct App {
    pub(crate) follower: Arc<Follower>,
    pub(crate) submitter: Submitter,
    pub(crate) names: Names,
    pub(crate) checkpoint: tokio::sync::watch::Sender<Option<Latest>>,
    /// Set when the ledger's checkpoint disagrees with the log the gateway
    /// holds: a fork, or a damaged copy. Shown on `/healthz`.
    pub(crate) trouble: RwLock<Option<String>>,
    /// Whether the ledger answered the last checkpoint request (with a
    /// checkpoint or an error): it is up, and its streams exist.
    pub(crate) ledger_up: std::sync::atomic::AtomicBool,
    pub(crate) limits: Limits,
    pub(crate) guard: limits::Guard,
    /// Places for submissions awaiting the ledger (`Limits::max_submissions`).
    pub(crate) submissions: tokio::sync::Semaphore,
    pub(crate) metrics: limits::Metrics,
    pub(crate) shutdown: CancellationToken,
}

impl App {
    pub(crate) fn latest(&self) -> Option<Latest> {
        self.checkpoint.borrow().clone()
    }
}

/// The routes, with their limits.
pub fn router(app: Arc<App>) -> Router {
    let timed = Router::new()
        .route("/", get(portal::index))
        .route("/assets/{name}", get(portal::asset))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(limits::metrics))
        .route("/openapi.json", get(api::openapi))
        .route("/v1/submissions", post(api::submit))
        .route("/v1/checkpoint", get(api::checkpoint))
        .route("/v1/entries", get(api::entries))
        .route("/v1/entries/{index}", get(api::entry))
        .route("/v1/proofs/inclusion", get(api::inclusion))
        .route("/v1/proofs/consistency", get(api::consistency))
        .route("/v1/stations/{*station}", get(api::station))
        .route("/v1/election", get(api::election))
        .route("/v1/regions", get(api::regions))
        .route("/v1/regions/{*code}", get(api::region))
        .route("/v1/mismatches", get(api::mismatches))
        .route("/v1/{view}", get(api::view))
        .route("/checkpoint", get(api::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limits::timeout,
        ));
    let streams = Router::new().route("/v1/stream", get(stream::stream));
    timed
        .merge(streams)
        .fallback(api::not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limits::count,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limits::rate_limit,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .with_state(app)
}

/// Runs the gateway on `listener` until `shutdown`, or until the log it
/// follows turns out invalid.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let span = tracing::info_span!("gateway", election = %config.election);
    let _enter = span.enter();
    let follower = Follower::open(tallylog_projector::Config {
        nats_url: config.nats_url.clone(),
        election: config.election.clone(),
        data_dir: config.data_dir.clone(),
        verify_signatures: config.verify_signatures,
    })
    .await?;
    // Credentials in the URL (nats://USER:PASSWORD@HOST) are sent, and
    // never shown (see `tallylog_nats::connect`).
    let client = tallylog_nats::connect(
        &config.nats_url,
        async_nats::ConnectOptions::new()
            .name("tallylog-gateway")
            .retry_on_initial_connect(),
    )
    .await
    .map_err(|e| GatewayError::Nats(e.to_string()))?;
    let names = Names::new(config.election.clone());
    let submitter = Submitter::with_client(client.clone(), names.clone())
        .await
        .map_err(|e| GatewayError::Nats(e.to_string()))?;
    let (checkpoint, _) = tokio::sync::watch::channel(None);
    // Stops the follower, the poller, the server and every live stream.
    let stop = shutdown.child_token();
    let app = Arc::new(App {
        follower: follower.clone(),
        submitter,
        names,
        checkpoint,
        trouble: RwLock::new(None),
        ledger_up: Default::default(),
        guard: limits::Guard::default(),
        submissions: tokio::sync::Semaphore::new(config.limits.max_submissions),
        metrics: limits::Metrics::default(),
        limits: config.limits,
        shutdown: stop.clone(),
    });

    let mut following = tokio::spawn(follower.run(stop.clone()));
    let polling = tokio::spawn(poll_checkpoints(app.clone(), client, stop.clone()));
    let addr = listener
        .local_addr()
        .map_err(|e| GatewayError::Http(e.to_string()))?;
    tracing::info!(%addr, "serving HTTP");
    let serve_stop = stop.clone();
    let server = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { serve_stop.cancelled().await });
    let mut server = std::pin::pin!(std::future::IntoFuture::into_future(server));

    let result = tokio::select! {
        r = &mut server => r.map_err(|e| GatewayError::Http(e.to_string())),
        r = &mut following => {
            // The follower stopped by itself: the log is invalid (or we are
            // shutting down). Stop serving what may be wrong.
            stop.cancel();
            let _ = server.await;
            return r.expect("invariant: the follower does not panic").map_err(Into::into);
        }
    };
    stop.cancel();
    let followed = following
        .await
        .expect("invariant: the follower does not panic");
    let _ = polling.await;
    result.and(followed.map_err(Into::into))
}

/// Asks the ledger for its newest checkpoint (with a witness quorum, if it
/// has one) whenever the log grows, and at least every few seconds; keeps
/// it only if it verifies with the log key of the election definition and
/// its root is the root of the gateway's own tree at that size.
async fn poll_checkpoints(app: Arc<App>, client: async_nats::Client, stop: CancellationToken) {
    let mut sizes = app.follower.watch_size();
    let mut retry = Backoff::default();
    loop {
        match fetch_checkpoint(&app, &client).await {
            Ok(()) => retry = Backoff::default(),
            Err(e) => {
                tracing::debug!(error = %e, "no new checkpoint");
                retry.wait(&stop).await;
            }
        }
        tokio::select! {
            _ = sizes.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.cancelled() => return,
        }
        if stop.is_cancelled() {
            return;
        }
    }
}

async fn fetch_checkpoint(app: &App, client: &async_nats::Client) -> Result<(), String> {
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        client.request(app.names.checkpoint(), bytes::Bytes::new()),
    )
    .await
    .map_err(|_| "the ledger did not answer".to_owned())
    .and_then(|r| r.map_err(|e| e.to_string()));
    app.ledger_up
        .store(reply.is_ok(), std::sync::atomic::Ordering::Relaxed);
    let reply = reply?;
    if reply.payload.starts_with(b"error:") {
        return Err(String::from_utf8_lossy(&reply.payload).into_owned());
    }
    let verifier = {
        let p = app.follower.projection();
        let (_, def) = p
            .election()
            .ok_or("the log has no election definition yet")?;
        LogVerifier::new(def.log.origin.as_str(), def.log.key).map_err(|e| e.to_string())?
    };
    let cp = verifier.verify(&reply.payload).map_err(|e| e.to_string())?;
    let size = cp.size();
    let tree = app.follower.tree();
    if size > tree.size() {
        return Err(format!(
            "the checkpoint is for {size} entries; the gateway holds {} so far",
            tree.size()
        ));
    }
    let ours = tree.root_at(size).map_err(|e| e.to_string())?;
    drop(tree);
    if ours != cp.root() {
        let what = format!(
            "the ledger's checkpoint for {size} entries has root {}, but the log this gateway \
             holds has root {} at that size: the log has forked, or this copy is damaged",
            hex::encode(cp.root().0),
            hex::encode(ours.0)
        );
        tracing::error!("{what}");
        *app.trouble.write().expect("lock") = Some(what);
        return Err("inconsistent checkpoint".to_owned());
    }
    let newer = match app.latest() {
        None => true,
        Some(old) => size > old.size || (size == old.size && reply.payload != old.note),
    };
    if newer {
        app.checkpoint.send_replace(Some(Latest {
            size,
            root: ours,
            note: reply.payload,
        }));
    }
    Ok(())
}
