//! Every endpoint, unauthenticated or malformed, answers in its protocol's own form.

use eid_testkit::{Backend, TestServer};

use crate::support::*;

on_every_backend!(every_endpoint_answers_bad_requests_in_its_own_form, walk);

async fn walk(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // (method, path, body, expected status, expected content type prefix)
    let cases: [(&str, &str, Option<&str>, u16, &str); 34] = [
        (
            "GET",
            "/.well-known/openid-configuration",
            None,
            200,
            "application/json",
        ),
        ("GET", "/jwks", None, 200, "application/json"),
        ("GET", "/connectors/jwks", None, 200, "application/json"),
        ("GET", "/healthz", None, 200, "application/json"),
        ("GET", "/authorize", None, 400, "text/html"),
        ("GET", "/login/unknown", None, 404, "text/html"),
        ("GET", "/login/unknown/status", None, 404, "text/html"),
        (
            "POST",
            "/login/unknown",
            Some("csrf_token=x&action=continue"),
            404,
            "text/html",
        ),
        (
            "POST",
            "/login/unknown",
            Some("csrf_token=x&action=allow"),
            400,
            "text/html",
        ),
        ("GET", "/login/unknown/qr", None, 404, "text/html"),
        (
            "POST",
            "/token",
            Some("grant_type=authorization_code&code=x"),
            401,
            "application/json",
        ),
        ("GET", "/userinfo", None, 401, ""),
        ("GET", "/", None, 200, "text/html"),
        ("GET", "/favicon.ico", None, 204, ""),
        (
            "POST",
            "/api/v1/enrolments",
            Some("{not json"),
            400,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/enrolments",
            Some("{\"english_name\":\"X\"}"),
            400,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/enrolments/unknown",
            Some("{}"),
            400,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/registrations/unknown",
            Some("{}"),
            400,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/applications/unknown",
            None,
            401,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/applications/unknown/proofing-challenges",
            None,
            401,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/applications/unknown/proofing",
            Some("{}"),
            400,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/account",
            None,
            401,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/account/history",
            None,
            401,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/approvals/unknown",
            None,
            404,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/approvals/unknown",
            Some("{\"decision\":\"x\"}"),
            400,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/counter-challenges/482193067",
            None,
            410,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/counter-challenges/not-a-code",
            None,
            400,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/counter-challenges/482193067",
            Some("{\"decision\":\"x\"}"),
            400,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/consents",
            None,
            401,
            "application/problem+json",
        ),
        (
            "DELETE",
            "/api/v1/consents/x",
            None,
            401,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/devices",
            None,
            401,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/device-links",
            None,
            401,
            "application/problem+json",
        ),
        (
            "POST",
            "/api/v1/device-links/unknown",
            Some("{\"device_name\":\"x\"}"),
            410,
            "application/problem+json",
        ),
        (
            "GET",
            "/api/v1/nothing-here",
            None,
            404,
            "application/problem+json",
        ),
    ];
    for (method, path, body, status, content_type) in cases {
        let mut request = http.request(method.parse()?, server.url(path));
        if let Some(body) = body {
            let ct = if body.starts_with('{') {
                "application/json"
            } else {
                "application/x-www-form-urlencoded"
            };
            request = request.header("content-type", ct).body(body.to_owned());
        }
        let response = request.send().await?;
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let got = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            got.starts_with(content_type),
            "{method} {path}: content-type {got}"
        );
        if content_type == "application/problem+json" {
            let problem: eid_proto::problem::Problem = response.json().await?;
            assert_eq!(problem.status, status, "{method} {path}");
        }
    }
    // Discovery names what the integration guide promises.
    let metadata: serde_json::Value = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(metadata["issuer"], server.issuer());
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["subject_types_supported"],
        serde_json::json!(["pairwise"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["acr_values_supported"],
        serde_json::json!(["urn:eid:loa:basic", "urn:eid:loa:plus"])
    );
    // The officer console is not on the public listener.
    for path in [
        "/login/challenge",
        "/enrol/x",
        "/applications?reference=K7Q2-M9XD",
    ] {
        let status = http.get(server.url(path)).send().await?.status().as_u16();
        assert!(
            status == 404 || status == 405,
            "{path} answered {status} on the public listener"
        );
    }
    server.stop().await;
    Ok(())
}
