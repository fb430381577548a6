//! Refresh tokens for offline access (rotation, reuse detection, a narrower scope), token
//! revocation (RFC 7009) and introspection (RFC 7662), over HTTP with the `openidconnect`
//! crate as the relying party.

use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestServer};
use openidconnect::core::CoreTokenResponse;
use openidconnect::{Nonce, OAuth2TokenResponse, RefreshToken, Scope, TokenResponse};
use serde_json::Value;

use crate::support::*;

const OFFLINE: &[(&str, &str)] = &[
    ("scope", "openid profile offline_access"),
    ("prompt", "consent"),
];

/// Refreshes with the `openidconnect` crate, verifying the new ID token.
async fn refresh(rp: &Rp, token: &RefreshToken) -> anyhow::Result<CoreTokenResponse> {
    let tokens = rp
        .client
        .exchange_refresh_token(token)?
        .request_async(&rp.http)
        .await
        .map_err(|e| anyhow::anyhow!("refresh failed: {e:?}"))?;
    Ok(tokens)
}

/// A raw token-endpoint form post with the client's Basic credentials: the status and JSON.
async fn post_form(
    server: &TestServer,
    rp: &Rp,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.issuer()))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(form)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = match text.is_empty() {
        true => Value::Null,
        false => serde_json::from_str(&text)?,
    };
    Ok((status, body))
}

async fn refresh_error(rp: &Rp, server: &TestServer, token: &str) -> anyhow::Result<String> {
    let (status, body) = post_form(
        server,
        rp,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await?;
    anyhow::ensure!(status == 400, "refresh answered {status}: {body}");
    Ok(body["error"].as_str().unwrap_or_default().to_owned())
}

async fn refresh_rotates_and_reuse_revokes_the_grant(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Example Bank", JwsAlg::Es256).await?;
    let other = Rp::register(&server, "Department of Examples", JwsAlg::Rs256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();

    // Discovery says what a relying party needs to know.
    let metadata = discovery(&server).await?;
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert!(metadata["scopes_supported"]
        .as_array()
        .is_some_and(|s| s.contains(&"offline_access".into())));
    assert_eq!(
        metadata["revocation_endpoint"],
        format!("{}/revoke", server.issuer())
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        format!("{}/introspect", server.issuer())
    );

    // Without offline_access there is no refresh token.
    let (tokens, _) = login(&server, &rp, &browser, &mut wallet).await?;
    assert!(tokens.refresh_token().is_none());

    // The citizen grants offline access on the phone: a refresh token comes with the code.
    let (first, claims) = login_with(&server, &rp, &browser, &mut wallet, OFFLINE).await?;
    let scopes: Vec<&str> = first
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(scopes, ["openid", "profile", "offline_access"]);
    let r1 = first.refresh_token().expect("a refresh token").clone();

    // A refresh returns new tokens, and a new ID token about the same login (OIDC Core §12.2).
    let second = refresh(&rp, &r1).await?;
    let r2 = second
        .refresh_token()
        .expect("a rotated refresh token")
        .clone();
    assert_ne!(r1.secret(), r2.secret(), "the refresh token rotates");
    assert_ne!(
        first.access_token().secret(),
        second.access_token().secret()
    );
    let verifier = rp
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![rp.alg.clone()]);
    let refreshed = second
        .id_token()
        .expect("an ID token")
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))?;
    assert_eq!(refreshed.subject(), claims.subject());
    assert_eq!(refreshed.auth_time(), claims.auth_time());
    assert!(refreshed.nonce().is_none(), "a refresh has no nonce");
    let info = rp.userinfo(&second, &claims).await?;
    assert!(info.name().is_some(), "the shared claims still flow");

    // Introspection tells the client about its own tokens, and nobody else.
    let (status, active) = post_form(
        &server,
        &rp,
        "/introspect",
        &[("token", second.access_token().secret())],
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], claims.subject().as_str());
    assert_eq!(active["client_id"], rp.client_id.as_str());
    assert_eq!(active["scope"], "openid profile offline_access");
    assert_eq!(active["token_type"], "Bearer");
    let (_, refresh_info) = post_form(
        &server,
        &rp,
        "/introspect",
        &[("token", r2.secret()), ("token_type_hint", "refresh_token")],
    )
    .await?;
    assert_eq!(refresh_info["active"], true);
    assert_eq!(refresh_info["token_type"], "refresh_token");
    assert_eq!(
        refresh_info["acr"],
        claims
            .auth_context_ref()
            .map(|a| a.as_str())
            .unwrap_or_default()
    );
    let (_, spent) = post_form(&server, &rp, "/introspect", &[("token", r1.secret())]).await?;
    assert_eq!(spent, serde_json::json!({"active": false}), "a spent token");
    let (_, foreign) = post_form(
        &server,
        &other,
        "/introspect",
        &[("token", second.access_token().secret())],
    )
    .await?;
    assert_eq!(
        foreign,
        serde_json::json!({"active": false}),
        "another client's token"
    );

    // Another client cannot use the refresh token, and trying changes nothing.
    let error = unchanged!(server, refresh_error(&other, &server, r2.secret()).await?);
    assert_eq!(error, "invalid_grant");

    // A narrower scope may be asked for, never a wider one.
    let (status, body) = post_form(
        &server,
        &rp,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r2.secret()),
            ("scope", "openid address"),
        ],
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let narrow = rp
        .client
        .exchange_refresh_token(&r2)?
        .add_scope(Scope::new("openid".into()))
        .request_async(&rp.http)
        .await
        .map_err(|e| anyhow::anyhow!("narrow refresh failed: {e:?}"))?;
    let narrowed: Vec<&str> = narrow
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(narrowed, ["openid"]);
    let r3 = narrow.refresh_token().expect("the grant goes on").clone();
    let third = refresh(&rp, &r3).await?;
    let r4 = third.refresh_token().expect("rotated").clone();
    let widened: Vec<&str> = third
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        widened,
        ["openid", "profile", "offline_access"],
        "a narrower refresh narrowed that response only"
    );

    // A spent refresh token presented again: the whole grant is revoked, the newest refresh
    // token and every access token with it (RFC 9700 §4.14.2).
    assert_eq!(
        refresh_error(&rp, &server, r1.secret()).await?,
        "invalid_grant"
    );
    assert_eq!(
        refresh_error(&rp, &server, r4.secret()).await?,
        "invalid_grant"
    );
    assert_eq!(
        userinfo_status(&server, third.access_token().secret()).await?,
        401
    );
    assert_eq!(
        userinfo_status(&server, second.access_token().secret()).await?,
        401
    );
    // The grant without offline access is another grant: untouched.
    assert_eq!(
        userinfo_status(&server, tokens.access_token().secret()).await?,
        200
    );

    // Revocation (RFC 7009): a refresh token takes its grant with it.
    let (fresh, _) = login_with(&server, &rp, &browser, &mut wallet, OFFLINE).await?;
    let r = fresh.refresh_token().expect("a refresh token").clone();
    // Another client's revocation is answered like any unknown token, and revokes nothing.
    let (status, _) = unchanged!(
        server,
        post_form(&server, &other, "/revoke", &[("token", r.secret())]).await?
    );
    assert_eq!(status, 200);
    let (status, _) = post_form(
        &server,
        &rp,
        "/revoke",
        &[("token", r.secret()), ("token_type_hint", "refresh_token")],
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(
        refresh_error(&rp, &server, r.secret()).await?,
        "invalid_grant"
    );
    assert_eq!(
        userinfo_status(&server, fresh.access_token().secret()).await?,
        401
    );
    // An access token goes alone; an unknown token is answered 200 too.
    let (status, _) = post_form(
        &server,
        &rp,
        "/revoke",
        &[("token", tokens.access_token().secret())],
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(
        userinfo_status(&server, tokens.access_token().secret()).await?,
        401
    );
    let (status, _) = post_form(&server, &rp, "/revoke", &[("token", "no-such-token")]).await?;
    assert_eq!(status, 200);
    let (status, body) = post_form(&server, &rp, "/revoke", &[]).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Without client authentication nothing is revoked or told.
    let response = reqwest::Client::new()
        .post(format!("{}/introspect", server.issuer()))
        .form(&[("token", r.secret())])
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    Ok(())
}
on_every_backend!(
    refresh_rotation,
    refresh_rotates_and_reuse_revokes_the_grant
);

/// The citizen may decline offline access on the phone; a removed device takes its grants
/// with it; withdrawing consent revokes the refresh tokens too.
async fn offline_access_is_the_citizens_choice(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Example Bank", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();

    // Declined on the phone: no refresh token, and the granted scope says so.
    let mut start = rp.start();
    for (name, value) in OFFLINE {
        start.url = with_param(&start.url, name, Some(value));
    }
    let page = browser.open_login(&server, &start.url).await?;
    let request = wallet.fetch_approval(&page.link).await?;
    let offered: Vec<&str> = request.items.iter().map(|i| i.claim.as_str()).collect();
    assert!(
        offered.contains(&"offline_access"),
        "the phone asks: {offered:?}"
    );
    let item = request
        .items
        .iter()
        .find(|i| i.claim == "offline_access")
        .expect("item");
    assert!(!item.essential);
    assert!(!item.zh_hant.is_empty());
    let decision = eid_wallet::approve_with(&request, page.number, vec!["name".into()], false);
    wallet.answer(&request, &page.link, &decision).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let tokens = rp
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    assert!(tokens.refresh_token().is_none(), "declined on the phone");
    let scopes: Vec<&str> = tokens
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(scopes, ["openid", "profile"]);

    // Granted, then the consent withdrawn from the wallet: the refresh token dies.
    let (granted, _) = login_with(&server, &rp, &browser, &mut wallet, OFFLINE).await?;
    let r = granted.refresh_token().expect("a refresh token").clone();
    wallet.withdraw_consent(&rp.client_id).await?;
    assert_eq!(
        refresh_error(&rp, &server, r.secret()).await?,
        "invalid_grant"
    );

    // Granted from a second device, which is then removed: its grant dies with it.
    let link = wallet.create_device_link().await?;
    let mut second = eid_wallet::Wallet::in_memory();
    second
        .link(&url::Url::parse(&server.issuer())?, &link.code, "Tablet")
        .await?;
    let (granted, _) = login_with(&server, &rp, &browser, &mut second, OFFLINE).await?;
    let r = granted.refresh_token().expect("a refresh token").clone();
    let device = second.device_id().expect("device").to_owned();
    wallet.remove_device(&device).await?;
    assert_eq!(
        refresh_error(&rp, &server, r.secret()).await?,
        "invalid_grant"
    );
    Ok(())
}
on_every_backend!(offline_choice, offline_access_is_the_citizens_choice);

/// A client registered for JWT access tokens (RFC 9068) gets signed ones, verifiable with the
/// published keys, for the client's own resource servers (`aud` is the client: another
/// service's resource server, checking its own, refuses them); they work at userinfo,
/// introspect and revoke like opaque ones.
async fn jwt_access_tokens_are_verifiable(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let mut registration = eid_core::clients::ClientRegistration::new(
        "Resource-heavy service",
        &[REDIRECT_URI.to_owned()],
        JwsAlg::Es256,
    );
    registration.jwt_access_tokens = true;
    let rp = registered_rp(&server, registration).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let (tokens, claims) = login(&server, &rp, &Browser::new(), &mut wallet).await?;
    let access = tokens.access_token().secret().clone();

    let header = jsonwebtoken::decode_header(&access)?;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{}/jwks", server.issuer()))
        .await?
        .json()
        .await?;
    let key = jwks
        .find(header.kid.as_deref().unwrap_or_default())
        .expect("the signing key is published");
    let validation = |audience: &str| {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[server.issuer()]);
        validation
    };
    let decoding = jsonwebtoken::DecodingKey::from_jwk(key)?;
    let verified =
        jsonwebtoken::decode::<Value>(&access, &decoding, &validation(&rp.client_id))?.claims;
    assert_eq!(verified["aud"], rp.client_id, "RFC 9068 §3");
    // Security review 2026-12-07, L6: not eid's issuer, which every service's tokens named.
    for other in [server.issuer(), "another-service".to_owned()] {
        let refused = jsonwebtoken::decode::<Value>(&access, &decoding, &validation(&other));
        assert!(refused.is_err(), "accepted for {other}");
    }
    assert_eq!(verified["sub"], claims.subject().as_str());
    assert_eq!(verified["client_id"], rp.client_id);
    assert!(verified["scope"]
        .as_str()
        .is_some_and(|s| s.contains("openid")));
    assert!(verified["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(verified.get("cnf").is_none(), "a bearer token");

    assert_eq!(userinfo_status(&server, &access).await?, 200);
    let basic = (rp.client_id.as_str(), rp.client_secret.as_str());
    let http = reqwest::Client::new();
    let introspected: Value = http
        .post(format!("{}/introspect", server.issuer()))
        .basic_auth(basic.0, Some(basic.1))
        .form(&[("token", access.as_str())])
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(introspected["active"], true);
    let revoked = http
        .post(format!("{}/revoke", server.issuer()))
        .basic_auth(basic.0, Some(basic.1))
        .form(&[("token", access.as_str())])
        .send()
        .await?;
    assert_eq!(revoked.status(), 200);
    // Revoked, it no longer works at eid (a resource server verifying it offline would take
    // it until it expires, as with any self-contained token: introspect for revocation).
    assert_eq!(userinfo_status(&server, &access).await?, 401);
    server.stop().await;
    Ok(())
}

on_every_backend!(jwt_access_tokens, jwt_access_tokens_are_verifiable);
