//! What the gateway's tests share: a real nats-server (on a free port), a
//! real ledger with sled on disk and the gateway on a free port, all in one
//! process, stopped when dropped.

#![allow(dead_code)] // each test file uses its own part of this

use std::time::{Duration, Instant};

use serde_json::Value;
use tallylog_core::event::{SignedEvent, VerifiedEvent};
use tallylog_core::keys::test_key;
use tallylog_core::receipt::Reply;
use tallylog_core::sample;
use tallylog_nats::submit::{Options, Submitter};
use tallylog_nats::{LocalServer, Names};
use tokio_util::sync::CancellationToken;

/// A nats-server, a ledger and a gateway, running until dropped.
pub struct Stack {
    pub rt: tokio::runtime::Runtime,
    nats: Option<LocalServer>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The NATS URL.
    pub url: String,
    /// The gateway's base URL, `http://127.0.0.1:PORT`.
    pub http: String,
    _dir: tempfile::TempDir,
}

/// Starts a stack for the sample election; returns once the gateway has
/// heard the ledger answer (so the ledger's streams exist).
pub fn start(limits: tallylog_gateway::Limits) -> Stack {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nats = rt.block_on(LocalServer::start(None)).unwrap();
    let url = nats.url().to_owned();
    let shutdown = CancellationToken::new();
    let ledger = tallylog_ledger::Config {
        nats_url: url.clone(),
        election: sample::ELECTION.parse().unwrap(),
        data_dir: dir.path().join("ledger"),
        log_key: test_key(sample::LOG_KEY),
        origin: sample::ORIGIN.parse().unwrap(),
        max_batch: 256,
        witnesses: Vec::new(),
        quorum: 0,
    };
    let gateway = tallylog_gateway::Config {
        nats_url: url.clone(),
        election: sample::ELECTION.parse().unwrap(),
        data_dir: dir.path().join("gateway"),
        verify_signatures: true,
        limits,
    };
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let http = format!("http://{}", listener.local_addr().unwrap());
    let s = shutdown.clone();
    let l = rt.spawn(async move {
        tallylog_ledger::run(ledger, s).await.unwrap();
    });
    let s = shutdown.clone();
    let g = rt.spawn(async move {
        tallylog_gateway::run(gateway, listener, s).await.unwrap();
    });
    let stack = Stack {
        rt,
        nats: Some(nats),
        shutdown,
        tasks: vec![l, g],
        url,
        http,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack.healthz()["ledger"] != true {
        assert!(Instant::now() < deadline, "the ledger never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
    stack
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let tasks = std::mem::take(&mut self.tasks);
        let nats = self.nats.take();
        self.rt.block_on(async move {
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
            }
            if let Some(n) = nats {
                n.stop().await;
            }
        });
    }
}

/// An HTTP client that waits up to a minute for an answer.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_read(Duration::from_secs(60))
        .build()
}

impl Stack {
    /// `/healthz`, whatever its status.
    pub fn healthz(&self) -> Value {
        let r = match agent().get(&format!("{}/healthz", self.http)).call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET /healthz: {e}"),
        };
        serde_json::from_reader(r.into_reader()).unwrap()
    }

    /// Submits over NATS (for bulk); every event must be accepted.
    pub fn submit_nats(&self, events: &[VerifiedEvent]) {
        let evs: Vec<SignedEvent> = events.iter().map(|e| e.event().clone()).collect();
        self.rt.block_on(async {
            let s = Submitter::connect(&self.url, Names::new(sample::ELECTION.parse().unwrap()))
                .await
                .unwrap();
            let opts = Options {
                in_flight: 64,
                reply_timeout: Duration::from_secs(10),
                attempts: 3,
                pace: None,
            };
            for r in s.submit(&evs, &opts, |_, _| {}).await {
                assert!(matches!(r.unwrap(), Reply::Accepted { .. }));
            }
        });
    }
}
