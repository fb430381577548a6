//! Requests to relying parties' sites never go through the environment's proxy (review
//! 2026-12-07, M1: under `HTTPS_PROXY` the proxy resolved the client's names, so the check
//! after name resolution saw only the proxy's). A test binary of its own: it sets the
//! process's proxy variables.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use eid_server::outbound::{client, OutboundPolicy};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A listener that counts connections and answers each with `200 ok`.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environments_proxy_is_never_used() {
    let (proxy_port, proxy_seen) = counting_listener().await;
    let (target_port, target_seen) = counting_listener().await;
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    for name in [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
    ] {
        std::env::set_var(name, &proxy);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let target = format!("http://127.0.0.1:{target_port}/jwks");

    // The variables are in force: a default client goes through the "proxy".
    let _ = reqwest::Client::new().get(&target).send().await;
    assert_eq!(
        proxy_seen.load(Ordering::SeqCst),
        1,
        "the proxy is in effect"
    );

    // eid's client goes direct, under either policy.
    let danger = OutboundPolicy {
        danger_allow_private_addresses: true,
    };
    let answer = client(danger).unwrap().get(&target).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(target_seen.load(Ordering::SeqCst), 1);
    // Strict: a name that resolves to loopback is refused by eid, not resolved by a proxy.
    let refused = client(OutboundPolicy::default())
        .unwrap()
        .get(format!("https://localhost:{target_port}/jwks"))
        .send()
        .await;
    assert!(refused.is_err());
    assert_eq!(
        proxy_seen.load(Ordering::SeqCst),
        1,
        "eid's requests never reached the proxy"
    );
    assert_eq!(target_seen.load(Ordering::SeqCst), 1);
}
