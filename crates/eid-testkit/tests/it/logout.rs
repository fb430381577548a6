//! Logout: RP-initiated (OIDC RP-Initiated Logout 1.0) with `id_token_hint` and a registered
//! `post_logout_redirect_uri`, and back-channel logout tokens (OIDC Back-Channel Logout 1.0)
//! posted to the client, retried when refused; the refusals (an unregistered return address, a
//! forged hint) change nothing.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use eid_core::clients::ClientRegistration;
use eid_core::jwt::{self, Expect, Keys};
use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestServer};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;
use std::sync::Mutex;

use crate::support::*;

const SIGNED_OUT: &str = "http://localhost:3000/signed-out";

/// A relying party's back-channel logout endpoint: keeps the logout tokens it receives, and
/// refuses the first `refuse` of them with a 500.
pub(crate) struct Receiver {
    pub(crate) url: String,
    tokens: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<usize>>,
    handle: actix_web::dev::ServerHandle,
}

pub(crate) async fn receiver(refuse: usize) -> anyhow::Result<Receiver> {
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(0usize));
    let refusals = Arc::clone(&refused);
    let kept = Arc::clone(&tokens);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        let kept = Arc::clone(&kept);
        let refused = Arc::clone(&refused);
        App::new().route(
            "/backchannel",
            web::post().to(move |form: web::Form<Vec<(String, String)>>| {
                let kept = Arc::clone(&kept);
                let refused = Arc::clone(&refused);
                async move {
                    {
                        let mut count = refused.lock().expect("lock");
                        if *count < refuse {
                            *count += 1;
                            return HttpResponse::InternalServerError().finish();
                        }
                    }
                    if let Some((_, token)) = form.iter().find(|(k, _)| k == "logout_token") {
                        kept.lock().expect("lock").push(token.clone());
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Receiver {
        url: format!("http://localhost:{port}/backchannel"),
        tokens,
        refused: refusals,
        handle,
    })
}

pub(crate) async fn received(receiver: &Receiver, count: usize) -> anyhow::Result<Vec<String>> {
    for _ in 0..100 {
        let tokens = receiver.tokens.lock().expect("lock").clone();
        if tokens.len() >= count {
            return Ok(tokens);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("no back-channel logout arrived")
}

async fn logout(server: &TestServer, params: &[(&str, &str)]) -> anyhow::Result<reqwest::Response> {
    let url = url::Url::parse_with_params(&format!("{}/logout", server.issuer()), params)?;
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(url)
        .send()
        .await?)
}

/// Verifies a logout token as the client would: eid's keys, its issuer, the client as audience.
fn verify_logout_token(
    server: &TestServer,
    rp: &Rp,
    token: &str,
) -> anyhow::Result<(jsonwebtoken::Header, serde_json::Map<String, Value>)> {
    let keys: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(serde_json::to_value(server.provider().jwks())?)?;
    let issuer = server.issuer();
    let audience = [rp.client_id.clone()];
    Ok(jwt::verify(
        token,
        &Keys::Jwks(&keys),
        &Expect::strict(
            &[jsonwebtoken::Algorithm::ES256],
            &audience,
            Some(&issuer),
            300,
            eid_server::now(),
        ),
    )?)
}

async fn rp_initiated_and_backchannel_logout(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let backchannel = receiver(1).await?;
    let mut registration =
        ClientRegistration::new("Example Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.post_logout_redirect_uris = vec![SIGNED_OUT.to_owned()];
    registration.backchannel_logout_uri = Some(backchannel.url.clone());
    let rp = registered_rp(&server, registration).await?;
    let metadata = discovery(&server).await?;
    assert_eq!(
        metadata["end_session_endpoint"],
        format!("{}/logout", server.issuer())
    );
    assert_eq!(metadata["backchannel_logout_supported"], true);

    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let (tokens, claims) = login(&server, &rp, &browser, &mut wallet).await?;
    let hint = tokens.id_token().expect("id_token").to_string();
    let payload: Value = serde_json::from_slice(
        &eid_core::crypto::b64url_decode(hint.split('.').nth(1).unwrap_or_default())
            .unwrap_or_default(),
    )?;
    let sid = payload["sid"]
        .as_str()
        .expect("sid in the ID token")
        .to_owned();

    // Refused: a return address the client did not register; a forged hint. Nothing changes.
    let response = unchanged!(
        server,
        logout(
            &server,
            &[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", "https://evil.example/")
            ]
        )
        .await?
    );
    assert_eq!(response.status(), 400);
    let mut forged = hint.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let response = unchanged!(
        server,
        logout(&server, &[("id_token_hint", &forged)]).await?
    );
    assert_eq!(response.status(), 400);
    let response = unchanged!(
        server,
        logout(&server, &[("post_logout_redirect_uri", SIGNED_OUT)]).await?
    );
    assert_eq!(
        response.status(),
        400,
        "no client to check the address against"
    );
    // No parameters at all: eid's own page.
    let response = logout(&server, &[]).await?;
    assert_eq!(response.status(), 200);
    assert!(response.text().await?.contains("signed out"));

    // The logout: back to the registered address with the state; the login's access token no
    // longer works.
    let response = logout(
        &server,
        &[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye-123"),
        ],
    )
    .await?;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response)?, format!("{SIGNED_OUT}?state=bye-123"));
    assert_eq!(
        userinfo_status(&server, tokens.access_token().secret()).await?,
        401
    );

    // The client hears of it on the back channel: refused once, delivered on a retry.
    for _ in 0..100 {
        if *backchannel.refused.lock().expect("lock") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The courier records the refusal just after.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let provider = server.provider();
    let later = eid_server::now() + 31;
    let retried = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let due = provider.take_due_logouts(later)?;
        let count = due.len();
        for delivery in due {
            assert_eq!(delivery.attempts, 1, "one attempt was refused");
            // A retry's token is signed again: it would have expired by the later attempts.
            let payload: Value = serde_json::from_slice(
                &eid_core::crypto::b64url_decode(
                    delivery.logout_token.split('.').nth(1).unwrap_or_default(),
                )
                .unwrap_or_default(),
            )?;
            assert_eq!(payload["iat"], later.secs(), "{payload}");
            assert!(payload["sid"].is_string() && payload["sub"].is_string());
            // Delivered by hand, as the courier would have half a minute later.
            provider.logout_attempted(&delivery, true, later)?;
        }
        Ok(count)
    })
    .await??;
    assert_eq!(retried, 1, "the refused delivery waits for its retry");
    // A second logout of a new login reaches the receiver through the courier. (The logout
    // came from the client's server, not the browser: the browser's session stays, and
    // would answer a login there at once; a new browser asks the phone.)
    let (tokens, _) = login(&server, &rp, &Browser::new(), &mut wallet).await?;
    let hint = tokens.id_token().expect("id_token").to_string();
    logout(&server, &[("id_token_hint", &hint)]).await?;
    let delivered = received(&backchannel, 1).await?;
    let (header, logout_token) = verify_logout_token(&server, &rp, &delivered[0])?;
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(logout_token["sub"], claims.subject().as_str());
    assert!(
        logout_token["sid"].as_str().is_some_and(|s| s != sid),
        "the second login's sid"
    );
    assert!(logout_token["events"]
        .get("http://schemas.openid.net/event/backchannel-logout")
        .is_some());
    assert!(logout_token.get("nonce").is_none());

    // An operator suspends the account: every service holding its tokens is told, with the
    // citizen's identifier there and no session.
    login(&server, &rp, &Browser::new(), &mut wallet).await?;
    let reference = wallet.account().await?.reference;
    let provider = server.provider();
    tokio::task::spawn_blocking(move || {
        provider.suspend_account(
            &eid_core::admin::AccountSelector::Reference(reference),
            eid_core::admin::AdminReason::SuspectedCompromise,
            eid_server::now(),
        )
    })
    .await??;
    let delivered = received(&backchannel, 2).await?;
    let (_, suspended) = verify_logout_token(&server, &rp, &delivered[1])?;
    assert_eq!(suspended["sub"], claims.subject().as_str());
    assert!(
        suspended.get("sid").is_none(),
        "no one login ended: all of them"
    );
    backchannel.handle.stop(true).await;
    Ok(())
}
on_every_backend!(logout_flows, rp_initiated_and_backchannel_logout);

/// The `sid` an ID token carries.
fn sid_of(id_token: &str) -> anyhow::Result<String> {
    let payload: Value = serde_json::from_slice(
        &eid_core::crypto::b64url_decode(id_token.split('.').nth(1).unwrap_or_default())
            .unwrap_or_default(),
    )?;
    payload["sid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no sid in the ID token"))
}

/// Whether the browser's single sign-on session still answers `rp` at once.
async fn signed_in(browser: &Browser, rp: &Rp) -> anyhow::Result<bool> {
    let start = rp.start();
    let callback = browser
        .answered(&with_param(&start.url, "prompt", Some("none")))
        .await?;
    Ok(callback.param("code").is_some())
}

/// Security review 2026-12-07, L4 (`t_logout.py`): an ID token hint sent without the
/// citizen's browser (a relying party's server; another citizen's browser) ends that client's
/// login only: its access token dies and it hears on the back channel, while the citizen's
/// single sign-on session and the other services' logins stay. From the citizen's own
/// browser, the hint ends the session as before.
async fn a_hint_alone_ends_only_its_clients_login(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let backchannel = receiver(0).await?;
    let mut registration =
        ClientRegistration::new("Example Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.backchannel_logout_uri = Some(backchannel.url.clone());
    let bank = registered_rp(&server, registration).await?;
    let transport = registered_rp(
        &server,
        ClientRegistration::new(
            "Transport Department",
            &[REDIRECT_URI.to_owned()],
            JwsAlg::Es256,
        ),
    )
    .await?;
    let mut victim = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let (bank_tokens, _) = login(&server, &bank, &browser, &mut victim).await?;
    let (transport_tokens, _) = login(&server, &transport, &browser, &mut victim).await?;
    let hint = bank_tokens.id_token().expect("id_token").to_string();

    // Another citizen's browser sends the victim's hint: the bank's login ends, nobody's
    // session does.
    let mut other = proven_wallet(&server, 1).await?;
    let other_browser = Browser::new();
    login(&server, &transport, &other_browser, &mut other).await?;
    let response = other_browser
        .http
        .get(server.url("/logout"))
        .query(&[("id_token_hint", hint.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert!(
        signed_in(&other_browser, &transport).await?,
        "not their login"
    );
    assert!(
        signed_in(&browser, &transport).await?,
        "nor the victim's session"
    );
    assert_eq!(
        userinfo_status(&server, bank_tokens.access_token().secret()).await?,
        401,
        "the hinted login's access token is dead"
    );
    assert_eq!(
        userinfo_status(&server, transport_tokens.access_token().secret()).await?,
        200
    );
    let delivered = received(&backchannel, 1).await?;
    let (_, notice) = verify_logout_token(&server, &bank, &delivered[0])?;
    assert_eq!(notice["sid"].as_str(), Some(sid_of(&hint)?.as_str()));

    // The bank's server sends a new login's hint (no browser, no cookie): the same. (The
    // new login is answered by the session, which the first hint left alone.)
    let start = bank.start();
    let callback = browser.answered(&start.url).await?;
    let code = callback.param("code").expect("a code from the session");
    let bank_tokens = bank.exchange(&code, start.verifier).await?;
    let hint = bank_tokens.id_token().expect("id_token").to_string();
    let response = logout(&server, &[("id_token_hint", &hint)]).await?;
    assert_eq!(response.status(), 200);
    assert!(
        signed_in(&browser, &transport).await?,
        "the victim's browser stays signed in"
    );
    assert!(
        signed_in(&browser, &bank).await?,
        "and may log in to the bank again"
    );
    assert_eq!(
        userinfo_status(&server, bank_tokens.access_token().secret()).await?,
        401
    );
    assert_eq!(
        userinfo_status(&server, transport_tokens.access_token().secret()).await?,
        200,
        "the other service's login stays"
    );
    let delivered = received(&backchannel, 2).await?;
    let (_, notice) = verify_logout_token(&server, &bank, &delivered[1])?;
    assert_eq!(notice["sid"].as_str(), Some(sid_of(&hint)?.as_str()));

    // The victim's own browser with the hint: the whole session ends, without asking.
    let response = browser
        .http
        .get(server.url("/logout"))
        .query(&[("id_token_hint", hint.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert!(!signed_in(&browser, &transport).await?);
    assert_eq!(
        userinfo_status(&server, transport_tokens.access_token().secret()).await?,
        401,
        "the session's logins end with it"
    );
    assert!(signed_in(&other_browser, &transport).await?);
    backchannel.handle.stop(true).await;
    server.stop().await;
    Ok(())
}
on_every_backend!(
    a_hint_without_the_browser_ends_only_its_login,
    a_hint_alone_ends_only_its_clients_login
);

/// Removing a device ends the logins it approved: their tokens are revoked and the client hears
/// of it on the back channel, naming the login (`sid`); another device's login goes on.
async fn removing_a_device_ends_its_logins(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = url::Url::parse(&server.issuer())?;
    let backchannel = receiver(0).await?;
    let mut registration =
        ClientRegistration::new("Example Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.backchannel_logout_uri = Some(backchannel.url.clone());
    let rp = registered_rp(&server, registration).await?;
    let mut phone = proven_wallet(&server, 0).await?;
    let link = phone.create_device_link().await?;
    let mut tablet = eid_wallet::Wallet::in_memory();
    tablet.link(&issuer, &link.code, "Tablet").await?;
    let tablet_id = tablet.device_id().expect("device").to_owned();

    let (on_tablet, _) = login(&server, &rp, &Browser::new(), &mut tablet).await?;
    let (on_phone, _) = login(&server, &rp, &Browser::new(), &mut phone).await?;
    let sid_of = |tokens: &openidconnect::core::CoreTokenResponse| -> anyhow::Result<String> {
        let id_token = tokens.id_token().expect("id_token").to_string();
        let payload: Value = serde_json::from_slice(
            &eid_core::crypto::b64url_decode(id_token.split('.').nth(1).unwrap_or_default())
                .unwrap_or_default(),
        )?;
        Ok(payload["sid"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        userinfo_status(&server, on_tablet.access_token().secret()).await?,
        200
    );

    phone.remove_device(&tablet_id).await?;
    assert_eq!(
        userinfo_status(&server, on_tablet.access_token().secret()).await?,
        401,
        "the removed device's login ended"
    );
    assert_eq!(
        userinfo_status(&server, on_phone.access_token().secret()).await?,
        200,
        "the other device's login goes on"
    );
    let delivered = received(&backchannel, 1).await?;
    let (_, logout_token) = verify_logout_token(&server, &rp, &delivered[0])?;
    assert_eq!(logout_token["sid"], sid_of(&on_tablet)?.as_str());
    backchannel.handle.stop(true).await;
    server.stop().await;
    Ok(())
}
on_every_backend!(device_removal_logs_out, removing_a_device_ends_its_logins);
