//! Credentials in NATS URLs, against a real nats-server that requires them.
//!
//! async-nats 0.51 parses `nats://USER:PASSWORD@HOST` but never sends the
//! credentials (nats-io/nats.rs#1623); `tallylog_nats::connect` takes them out
//! of the URL and hands them to the connection. If a later async-nats sends
//! them itself, the first assertion below fails and `connect` can shrink.

use std::time::Duration;

use async_nats::ConnectOptions;
use tallylog_nats::{LocalServer, ServerOptions};

async fn server() -> LocalServer {
    LocalServer::start_with(ServerOptions {
        args: ["--user", "agent", "--pass", "s3cr:t@x"]
            .map(str::to_owned)
            .into(),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn with_credentials(url: &str, user: &str, password: &str) -> String {
    url.replacen("nats://", &format!("nats://{user}:{password}@"), 1)
}

fn quick() -> ConnectOptions {
    ConnectOptions::new().connection_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_and_never_shown() {
    let server = server().await;
    // `:` and `@` in a password are percent-encoded in a URL.
    let url = with_credentials(server.url(), "agent", "s3cr%3At%40x");

    let plain = quick().connect(url.as_str()).await;
    assert!(
        plain.is_err(),
        "async-nats now sends URL credentials itself; tallylog_nats::connect can stop extracting them"
    );

    let client = tallylog_nats::connect(&url, quick()).await.unwrap();
    client.publish("anything", "x".into()).await.unwrap();
    client.flush().await.unwrap();

    // A cluster's list: credentials given once serve every server.
    let list = format!("{url},{}", server.url());
    let client = tallylog_nats::connect(&list, quick()).await.unwrap();
    client.flush().await.unwrap();

    // Wrong or missing credentials are refused, and the error does not show
    // the password that was tried.
    for bad in [
        with_credentials(server.url(), "agent", "guess-s3cret"),
        server.url().to_owned(),
    ] {
        let e = tallylog_nats::connect(&bad, quick().max_reconnects(1))
            .await
            .expect_err("refused")
            .to_string();
        assert!(!e.contains("guess-s3cret"), "{e}");
        assert!(e.contains("connecting to nats://"), "{e}");
    }
    assert_eq!(
        tallylog_nats::redact(&url),
        url.replace("s3cr%3At%40x", "***")
    );
}
