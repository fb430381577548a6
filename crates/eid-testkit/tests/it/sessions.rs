//! Single sign-on sessions over HTTP: opened by a login the phone approved, honoured by every
//! node sharing the database, answering `prompt=none` silently or with the spec's errors,
//! rotated at each login, never readable by scripts, refused once expired or ended (from the
//! account page, the wallet, or a relying party's logout), with every relying party told.

use eid_core::clients::ClientRegistration;
use eid_core::keys::JwsAlg;
use eid_core::limits::Caller;
use eid_core::oidc::{AuthorizationParams, AuthorizeError, Authorized};
use eid_core::sso::BrowserContext;
use eid_testkit::Backend;
use openidconnect::TokenResponse as _;
use url::Url;

use crate::support::*;

/// The `eid-server` binary beside this test (`cargo test --workspace` builds it); `None`, and
/// that part skipped, when it is missing, unless EID_REQUIRE_SERVER_BINARY=1 (CI sets it).
fn server_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .join("eid-server");
    if exe.is_file() {
        return Some(exe);
    }
    let required =
        std::env::var("EID_REQUIRE_SERVER_BINARY").is_ok_and(|v| v == "1" || v == "true");
    assert!(
        !required,
        "{} is missing and EID_REQUIRE_SERVER_BINARY is set (cargo test --workspace builds it)",
        exe.display()
    );
    eprintln!(
        "{} is missing: the second process is skipped (cargo test --workspace builds it)",
        exe.display()
    );
    None
}

/// The session cookie of a plain-http test server.
const COOKIE: &str = "eid_session";

/// A login approved on the phone and continued in `browser`, returning the callback and the
/// `Set-Cookie` header that opened (or renewed) the session.
async fn login_keeping_cookie(
    server: &eid_testkit::TestServer,
    browser: &Browser,
    wallet: &mut eid_wallet::Wallet,
    authorize: &Url,
) -> anyhow::Result<(Callback, String)> {
    let page = browser.open_login(server, authorize).await?;
    phone_approves(wallet, &page).await?;
    let Next::Approved { action, csrf, .. } = browser.after_approval(server, &page.url).await?
    else {
        anyhow::bail!("the page must show whose account approved");
    };
    let response = browser.answer(&action, &csrf, "continue").await?;
    anyhow::ensure!(response.status() == 303, "continue: {}", response.status());
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{COOKIE}=")))
        .ok_or_else(|| anyhow::anyhow!("continuing set no session cookie"))?
        .to_owned();
    Ok((
        Callback {
            url: Url::parse(&location(&response)?)?,
        },
        cookie,
    ))
}

/// The secret of a `Set-Cookie` header.
fn secret_of(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

/// A browser that sends exactly this session cookie (no jar).
fn with_cookie(secret: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("{COOKIE}={secret}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()?)
}

/// Where an authorization request sends the browser (a login page, or the client).
async fn authorize_location(http: &reqwest::Client, url: &Url) -> anyhow::Result<String> {
    let response = http.get(url.clone()).send().await?;
    anyhow::ensure!(response.status() == 303, "authorize: {}", response.status());
    location(&response)
}

fn param(location: &str, name: &str) -> Option<String> {
    Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A session opened on one node is honoured by another sharing the database; its cookie is
/// host-only, HttpOnly and SameSite, rotated at every login in the browser (a planted one is
/// never kept); `prompt=none` is answered silently with it and with `login_required` or
/// `consent_required` as OIDC Core §3.1.2.6 says; `max_age` and `acr_values` ask the phone.
async fn sessions_across_nodes(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Department of Examples", JwsAlg::Es256).await?;
    let bank = Rp::register(&server, "Example Bank", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;

    // A planted cookie (session fixation) is not carried into the login: a new secret is set.
    let planted = "planted-by-someone-else-0123456789abcdef";
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(
        &format!("{COOKIE}={planted}; Path=/"),
        &Url::parse(&server.url("/"))?,
    );
    let browser = Browser {
        http: reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    };
    let start_a = rp.start();
    let (callback, set_cookie) =
        login_keeping_cookie(&server, &browser, &mut wallet, &start_a.url).await?;
    let first = secret_of(&set_cookie);
    assert_ne!(first, planted);
    assert!(first.len() >= 32, "a guessable session secret: {first}");
    let attributes = set_cookie.to_ascii_lowercase();
    for wanted in ["httponly", "samesite=lax", "path=/", "max-age="] {
        assert!(
            attributes.contains(wanted),
            "{wanted} missing: {set_cookie}"
        );
    }
    assert!(!attributes.contains("domain="), "host-only: {set_cookie}");
    let tokens = rp
        .exchange(&callback.param("code").expect("code"), start_a.verifier)
        .await?;
    let first_login = rp.verify(&tokens, &start_a.nonce)?;

    // Another node over the same database honours the session: no phone, the first
    // approval's auth_time, the same citizen.
    let node_b = server.another_node().await?;
    let mut start = rp.start();
    start.url.set_port(Some(node_b.local_addr.port())).ok();
    let callback = browser.answered(&start.url).await?;
    let tokens = rp
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    let silent = rp.verify(&tokens, &start.nonce)?;
    assert_eq!(silent.subject(), first_login.subject());
    assert_eq!(silent.auth_time(), first_login.auth_time());

    // prompt=none: silently, with the session; login_required without one.
    let mut start = rp.start();
    start.url = with_param(&start.url, "prompt", Some("none"));
    let callback = browser.answered(&start.url).await?;
    assert!(callback.param("code").is_some(), "{}", callback.url);
    let stranger = Browser::new();
    let location = unchanged!(
        server,
        authorize_location(&stranger.http, &start.url).await?
    );
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("login_required"),
        "{location}"
    );
    assert_eq!(
        param(&location, "state").as_deref(),
        Some(start.state.secret().as_str())
    );
    // A service the citizen never agreed to share with: consent_required, and without
    // prompt=none the phone is asked (only for that).
    let mut start = bank.start();
    start.url = with_param(&start.url, "prompt", Some("none"));
    let location = unchanged!(server, authorize_location(&browser.http, &start.url).await?);
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("consent_required")
    );
    // max_age=0 and a level above the session's: login_required silently, the phone otherwise.
    for (name, value) in [("max_age", "0"), ("acr_values", "urn:eid:loa:plus")] {
        let mut start = rp.start();
        start.url = with_param(&start.url, name, Some(value));
        start.url = with_param(&start.url, "prompt", Some("none"));
        let location = unchanged!(server, authorize_location(&browser.http, &start.url).await?);
        assert_eq!(
            param(&location, "error").as_deref(),
            Some("login_required"),
            "{name}={value}: {location}"
        );
        let mut start = rp.start();
        start.url = with_param(&start.url, name, Some(value));
        let location = authorize_location(&browser.http, &start.url).await?;
        assert!(location.starts_with("/login/"), "{name}: {location}");
    }

    // A new login in the browser (prompt=login) rotates the cookie: the old secret no longer
    // answers, the new one does, and it is still one session.
    let sessions_before = wallet.browser_sessions().await?.sessions;
    assert_eq!(sessions_before.len(), 1);
    let mut start = rp.start();
    start.url = with_param(&start.url, "prompt", Some("login"));
    let (_, renewed) = login_keeping_cookie(&server, &browser, &mut wallet, &start.url).await?;
    let second = secret_of(&renewed);
    assert_ne!(second, first, "the session cookie was not rotated");
    let sessions_after = wallet.browser_sessions().await?.sessions;
    assert_eq!(sessions_after.len(), 1);
    assert_eq!(sessions_after[0].session_id, sessions_before[0].session_id);
    let mut start = rp.start();
    start.url = with_param(&start.url, "prompt", Some("none"));
    let location = authorize_location(&with_cookie(&first)?, &start.url).await?;
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    let location = authorize_location(&with_cookie(&second)?, &start.url).await?;
    assert!(param(&location, "code").is_some(), "{location}");

    // Idle too long, or past its lifetime: refused (read in-process at a later time).
    let provider = server.provider();
    let sessions = provider.config().sessions;
    let params = AuthorizationParams {
        response_type: Some("code".into()),
        client_id: Some(rp.client_id.clone()),
        redirect_uri: Some(REDIRECT_URI.into()),
        scope: Some("openid".into()),
        prompt: Some("none".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        ..AuthorizationParams::default()
    };
    let browser_ctx = BrowserContext {
        session: Some(second.clone()),
        user_agent: None,
    };
    let now = eid_server::now();
    let outcomes = tokio::task::spawn_blocking(move || {
        // (A refusal does not touch the session; an answer does.)
        [
            now + sessions.idle + 1,
            now + 60,
            now + sessions.lifetime + 1,
        ]
        .map(|at| {
            match provider.authorize(&params, &Caller::default(), &browser_ctx, at) {
                Ok(Authorized::Answered(r)) => r
                    .params
                    .iter()
                    .find(|(k, _)| k == "code" || k == "error")
                    .map(|(k, v)| {
                        if k == "code" {
                            "code".to_owned()
                        } else {
                            v.clone()
                        }
                    })
                    .unwrap_or_default(),
                Err(AuthorizeError::Redirect(r)) => r
                    .params
                    .iter()
                    .find(|(k, _)| k == "error")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
                other => format!("{other:?}"),
            }
        })
    })
    .await?;
    assert_eq!(outcomes, ["login_required", "code", "login_required"]);

    // A node that is a process of its own (the eid-server binary) over the same database
    // honours it too; its code is redeemed at the first node.
    let node_c = match server_binary() {
        Some(exe) => Some(server.another_process(&exe).await?),
        None => None,
    };
    if let Some(node_c) = &node_c {
        let mut start = rp.start();
        start.url.set_port(Some(node_c.port)).ok();
        let callback = browser.answered(&start.url).await?;
        let tokens = rp
            .exchange(&callback.param("code").expect("code"), start.verifier)
            .await?;
        assert_eq!(
            rp.verify(&tokens, &start.nonce)?.subject(),
            first_login.subject()
        );
    }

    // Ended from the wallet: refused on every node.
    let id = &wallet.browser_sessions().await?.sessions[0].session_id;
    wallet.end_browser_session(id).await?;
    assert!(wallet.browser_sessions().await?.sessions.is_empty());
    let ports = [None, Some(node_b.local_addr.port())]
        .into_iter()
        .chain(node_c.as_ref().map(|n| Some(n.port)));
    for port in ports {
        let mut start = rp.start();
        start.url = with_param(&start.url, "prompt", Some("none"));
        if port.is_some() {
            start.url.set_port(port).ok();
        }
        let location = authorize_location(&browser.http, &start.url).await?;
        assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    }
    node_b.stop().await;
    server.stop().await;
    Ok(())
}

/// The account page lists the browser's sessions, consents and history in both languages; its
/// forms need the page's token; ending a session there (or signing out everywhere) ends it at
/// eid and tells the relying parties: back-channel where registered, a front-channel frame
/// otherwise; RP-initiated logout ends the session too.
async fn account_page_and_sign_out(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let backchannel = crate::logout::receiver(0).await?;
    let mut registration =
        ClientRegistration::new("Example Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.backchannel_logout_uri = Some(backchannel.url.clone());
    let bank = registered_rp(&server, registration).await?;
    let mut registration = ClientRegistration::new(
        "Transport Department",
        &[REDIRECT_URI.to_owned()],
        JwsAlg::Es256,
    );
    registration.frontchannel_logout_uri = Some("https://transport.example/fc-logout".into());
    let transport = registered_rp(&server, registration).await?;
    let mut wallet = proven_wallet(&server, 0).await?;

    // Not signed in: the page asks to sign in.
    let browser = Browser::with_user_agent(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    );
    let page = browser.http.get(server.url("/account")).send().await?;
    assert_eq!(page.status(), 200);
    let html = page.text().await?;
    assert!(html.contains("/account/login?to=account"), "{html}");

    // Logged in to both services: one with the phone, the other after (its consent asked on
    // the phone too, then answered by the session next time).
    login(&server, &bank, &browser, &mut wallet).await?;
    login(&server, &transport, &browser, &mut wallet).await?;
    let start = transport.start();
    browser.answered(&start.url).await?;

    let page = browser
        .http
        .get(server.url("/account?lang=zh-Hant-HK"))
        .send()
        .await?;
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await?;
    assert!(html.contains("<html lang=\"zh-Hant-HK\">"), "{html}");
    assert!(html.contains("您的 eid 帳戶") && html.contains("Your eid account"));
    assert!(html.contains("Chrome · Linux"), "{html}");
    assert!(
        html.contains("此瀏覽器"),
        "the browser's own session is marked"
    );
    assert!(html.contains("Example Bank") && html.contains("Transport Department"));
    assert!(html.contains("Logged in with one click"), "history: {html}");
    assert!(
        html.contains("Logged in, approved on the phone"),
        "history: {html}"
    );
    let csrf = between(&html, "name=\"csrf_token\" value=\"", "\"")
        .expect("forms carry a token")
        .to_owned();
    let session_id = between(&html, "data-session=\"", "\"")
        .expect("a session listed")
        .to_owned();

    // A forged token, or no session: refused, nothing changes.
    let forged = unchanged!(
        server,
        browser
            .http
            .post(server.url("/account/sign-out-everywhere"))
            .form(&[("csrf_token", "forged")])
            .send()
            .await?
    );
    assert_eq!(forged.status(), 400);
    let anonymous = unchanged!(
        server,
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?
            .post(server.url(&format!("/account/sessions/{session_id}/end")))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await?
    );
    assert_eq!(anonymous.status(), 303);
    assert_eq!(location(&anonymous)?, "/account");

    // Ending this browser's session from the page: signed out here, the bank told on the back
    // channel, the transport department's front-channel page framed.
    let ended = browser
        .http
        .post(server.url(&format!("/account/sessions/{session_id}/end")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(ended.status(), 200);
    let cleared = ended
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with(&format!("{COOKIE}=;")) || v.starts_with(&format!("{COOKIE}=\"\"")));
    assert!(cleared, "the session cookie is removed");
    let csp = ended
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("frame-src https://transport.example"), "{csp}");
    let html = ended.text().await?;
    assert!(
        html.contains("https://transport.example/fc-logout?iss="),
        "{html}"
    );
    assert!(html.contains("&amp;sid="), "{html}");
    let delivered = crate::logout::received(&backchannel, 1).await?;
    assert!(delivered[0].contains('.'), "a logout token");
    // Nothing answers silently any more.
    let mut start = transport.start();
    start.url = with_param(&start.url, "prompt", Some("none"));
    let location = authorize_location(&browser.http, &start.url).await?;
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));

    // RP-initiated logout with the ID token: the session ends, without asking.
    let (tokens, _) = login(&server, &bank, &browser, &mut wallet).await?;
    let hint = tokens.id_token().expect("id_token").to_string();
    let response = browser
        .http
        .get(server.url("/logout"))
        .query(&[("id_token_hint", hint.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert!(response.text().await?.contains("You have signed out"));
    let location = authorize_location(&browser.http, &start.url).await?;
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));

    // Without the ID token the person confirms first (another site cannot sign them out).
    login(&server, &bank, &browser, &mut wallet).await?;
    let response = unchanged!(
        server,
        browser.http.get(server.url("/logout")).send().await?
    );
    let html = response.text().await?;
    assert!(html.contains("Sign out of eid?"), "{html}");
    let csrf = between(&html, "name=\"csrf_token\" value=\"", "\"")
        .expect("the confirmation carries a token")
        .to_owned();
    let response = browser
        .http
        .post(server.url("/logout"))
        .form(&[("confirm", "yes"), ("csrf_token", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let start = bank.start();
    let location = authorize_location(
        &browser.http,
        &with_param(&start.url, "prompt", Some("none")),
    )
    .await?;
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    server.stop().await;
    Ok(())
}

on_every_backend!(
    sessions_are_shared_rotated_and_refused_when_ended,
    sessions_across_nodes
);
on_every_backend!(
    the_account_page_lists_and_ends_sessions,
    account_page_and_sign_out
);
