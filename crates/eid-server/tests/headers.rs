//! Response headers that depend on how eid is deployed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::crypto::MasterKey;
use eid_server::StartOptions;

async fn hsts(issuer: Option<&str>) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StartOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        format!("sqlite://{}", dir.path().join("eid.db").display()),
        MasterKey::generate(),
    );
    options.issuer = issuer.map(|i| i.parse().unwrap());
    let server = eid_server::start(options).await.unwrap();
    let response = reqwest::get(format!("http://{}/", server.local_addr))
        .await
        .unwrap();
    let value = response
        .headers()
        .get("strict-transport-security")
        .map(|v| v.to_str().unwrap().to_owned());
    server.stop().await;
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_when_the_issuer_is_https_only() {
    assert_eq!(
        hsts(Some("https://id.example.test")).await.as_deref(),
        Some("max-age=31536000; includeSubDomains")
    );
    assert_eq!(hsts(None).await, None);
}

/// Review 2026-12-07, I1: JSON responses (discovery, token errors, the API) lacked
/// `X-Content-Type-Options: nosniff`. Every response says it now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_says_nosniff() {
    let dir = tempfile::tempdir().unwrap();
    let options = StartOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        format!("sqlite://{}", dir.path().join("eid.db").display()),
        MasterKey::generate(),
    );
    let server = eid_server::start(options).await.unwrap();
    let base = format!("http://{}", server.local_addr);
    let http = reqwest::Client::new();
    let responses = [
        http.get(format!("{base}/.well-known/openid-configuration")),
        http.get(format!("{base}/jwks")),
        http.get(format!("{base}/healthz")),
        http.get(format!("{base}/")),
        http.get(format!("{base}/no-such-page")),
        http.get(format!("{base}/api/v1/account")),
        http.post(format!("{base}/token"))
            .form(&[("grant_type", "authorization_code"), ("code", "x")]),
        http.post(format!("{base}/introspect"))
            .form(&[("token", "x")]),
    ];
    for request in responses {
        let response = request.send().await.unwrap();
        let url = response.url().to_string();
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap().to_owned())
                .as_deref(),
            Some("nosniff"),
            "{url}: {}",
            response.status()
        );
    }
    server.stop().await;
}
