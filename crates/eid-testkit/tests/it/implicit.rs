//! The implicit flow (OIDC Core §3.2), offered only where the operator set
//! `danger_implicit_flow`, to clients that registered it: `id_token token` and `id_token`
//! logins through the phone, their tokens in the redirect URI's fragment, checked with the
//! `openidconnect` crate; and the refusals (switched off, not registered, no nonce, a query).

use std::str::FromStr;

use eid_core::clients::ClientRegistration;
use eid_core::keys::JwsAlg;
use eid_core::oidc::registration::RegistrationPolicy;
use eid_core::oidc::ResponseType;
use eid_testkit::{Backend, TestServer};
use openidconnect::core::{CoreAuthenticationFlow, CoreIdToken};
use openidconnect::{AccessToken, AccessTokenHash, CsrfToken, Nonce};
use serde_json::{json, Value};
use url::Url;

use crate::support::*;

async fn server(backend: Backend, implicit: bool) -> anyhow::Result<TestServer> {
    let mut options = with_registry();
    options.registration = RegistrationPolicy::Open;
    options.danger_implicit_flow = implicit;
    TestServer::start_with(backend, options).await
}

async fn register(server: &TestServer, metadata: Value) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{}/register", server.issuer()))
        .json(&metadata)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// A relying party registered for the code flow and both implicit response types.
async fn implicit_rp(server: &TestServer) -> anyhow::Result<Rp> {
    let (status, registered) = register(
        server,
        json!({
            "redirect_uris": [REDIRECT_URI],
            "client_name": "Implicit Service",
            "response_types": ["code", "id_token token", "id_token"],
            "grant_types": ["authorization_code", "implicit"],
        }),
    )
    .await?;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(
        registered["response_types"],
        json!(["code", "id_token token", "id_token"])
    );
    Rp::discover(
        server,
        registered["client_id"]
            .as_str()
            .expect("client_id")
            .to_owned(),
        registered["client_secret"].as_str().map(str::to_owned),
        JwsAlg::Rs256,
    )
    .await
}

/// An implicit authorization request: `id_token token` or `id_token` alone.
fn implicit_url(rp: &Rp, with_access_token: bool) -> (Url, CsrfToken, Nonce) {
    let (url, state, nonce) = rp
        .client
        .authorize_url(
            CoreAuthenticationFlow::Implicit(with_access_token),
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(openidconnect::Scope::new("profile".into()))
        .url();
    (url, state, nonce)
}

/// The response parameters in a redirect URI's fragment.
fn fragment(url: &Url) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Where `/authorize` sends the browser straight back to (an error), or its status.
async fn refused(browser: &Browser, url: &Url) -> anyhow::Result<Url> {
    let response = browser.http.get(url.clone()).send().await?;
    assert_eq!(response.status(), 303);
    Ok(Url::parse(&location(&response)?)?)
}

async fn implicit_logins(backend: Backend) -> anyhow::Result<()> {
    let server = server(backend, true).await?;
    let metadata = discovery(&server).await?;
    assert_eq!(
        metadata["response_types_supported"],
        json!(["code", "id_token", "id_token token"])
    );
    assert!(metadata["grant_types_supported"]
        .as_array()
        .expect("grant types")
        .contains(&json!("implicit")));
    let rp = implicit_rp(&server).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let verifier = rp
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![rp.alg.clone()]);

    // `id_token token`: both in the fragment, the ID token's at_hash over the access token,
    // which userinfo takes; no code, no refresh token.
    let browser = Browser::new();
    let (url, state, nonce) = implicit_url(&rp, true);
    let page = browser.open_login(&server, &url).await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    assert_eq!(callback.url.query(), None, "tokens went in the query");
    let answer = fragment(&callback.url);
    assert_eq!(answer.get("state"), Some(state.secret()));
    assert_eq!(answer.get("iss"), Some(&server.issuer()));
    assert_eq!(answer.get("token_type").map(String::as_str), Some("Bearer"));
    assert!(!answer.contains_key("code") && !answer.contains_key("refresh_token"));
    let access_token = AccessToken::new(answer["access_token"].clone());
    let id_token = CoreIdToken::from_str(&answer["id_token"])?;
    let claims = id_token.claims(&verifier, &nonce)?;
    let at_hash = AccessTokenHash::from_token(
        &access_token,
        id_token.signing_alg()?,
        id_token.signing_key(&verifier)?,
    )?;
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert_eq!(userinfo_status(&server, access_token.secret()).await?, 200);
    let sub = claims.subject().clone();

    // `id_token` alone: no access token, so what the citizen shared is in the ID token.
    let browser = Browser::new();
    let (url, _, nonce) = implicit_url(&rp, false);
    let page = browser.open_login(&server, &url).await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let answer = fragment(&callback.url);
    assert!(!answer.contains_key("access_token"), "{answer:?}");
    let id_token = CoreIdToken::from_str(&answer["id_token"])?;
    let claims = id_token.claims(&verifier, &nonce)?;
    assert_eq!(claims.subject(), &sub, "one pairwise subject per client");
    assert_eq!(claims.access_token_hash(), None);
    assert!(
        claims.name().is_some(),
        "the shared name is in the ID token"
    );

    // The same client's code flow is unchanged.
    login(&server, &rp, &Browser::new(), &mut wallet).await?;

    // A client the operator registered for `id_token` alone (`client add --response-type`).
    let mut registration =
        ClientRegistration::new("Operator's", &[REDIRECT_URI.into()], JwsAlg::Es256);
    registration.response_types = vec![ResponseType::IdToken];
    let operators = registered_rp(&server, registration).await?;
    let browser = Browser::new();
    let (url, _, nonce) = implicit_url(&operators, false);
    let page = browser.open_login(&server, &url).await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let verifier = operators
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![operators.alg.clone()]);
    CoreIdToken::from_str(&fragment(&callback.url)["id_token"])?.claims(&verifier, &nonce)?;
    let (url, _, _) = implicit_url(&operators, true);
    let back = unchanged!(server, refused(&Browser::new(), &url).await?);
    assert_eq!(
        fragment(&back).get("error").map(String::as_str),
        Some("unauthorized_client"),
        "registered for id_token alone"
    );

    // Refused at once, in the fragment, nothing stored: without a nonce, or in a query.
    let browser = Browser::new();
    let (url, _, _) = implicit_url(&rp, true);
    let back = unchanged!(
        server,
        refused(&browser, &with_param(&url, "nonce", None)).await?
    );
    assert_eq!(
        fragment(&back).get("error").map(String::as_str),
        Some("invalid_request")
    );
    let back = unchanged!(
        server,
        refused(&browser, &with_param(&url, "response_mode", Some("query"))).await?
    );
    assert_eq!(back.query(), None, "an implicit error went in the query");
    assert_eq!(
        fragment(&back).get("error").map(String::as_str),
        Some("invalid_request")
    );

    // A client that registered only the code flow may not use it.
    let code_only = Rp::register(&server, "Code Service", JwsAlg::Rs256).await?;
    let (url, _, _) = implicit_url(&code_only, true);
    let back = unchanged!(server, refused(&browser, &url).await?);
    assert_eq!(
        fragment(&back).get("error").map(String::as_str),
        Some("unauthorized_client")
    );
    server.stop().await;
    Ok(())
}
on_every_backend!(implicit_flow_logins, implicit_logins);

async fn implicit_flow_switched_off(backend: Backend) -> anyhow::Result<()> {
    let server = server(backend, false).await?;
    let metadata = discovery(&server).await?;
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    let (status, answer) = unchanged!(
        server,
        register(
            &server,
            json!({
                "redirect_uris": [REDIRECT_URI],
                "response_types": ["id_token token"],
                "grant_types": ["implicit"],
            }),
        )
        .await?
    );
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "invalid_client_metadata");
    let mut registration =
        ClientRegistration::new("Operator's", &[REDIRECT_URI.into()], JwsAlg::Rs256);
    registration.response_types = vec![ResponseType::IdTokenToken];
    let refused_registration = unchanged!(server, server.register_client(registration).await);
    assert!(
        refused_registration.is_err(),
        "the operator's command is refused too"
    );
    let rp = Rp::register(&server, "Code Service", JwsAlg::Rs256).await?;
    let (url, _, _) = implicit_url(&rp, false);
    let back = unchanged!(server, refused(&Browser::new(), &url).await?);
    assert_eq!(
        fragment(&back).get("error").map(String::as_str),
        Some("unsupported_response_type")
    );
    server.stop().await;
    Ok(())
}
on_every_backend!(implicit_flow_off_by_default, implicit_flow_switched_off);
