//! Passkeys in the browser over HTTP (the wallet's authenticator plays the browser's platform
//! authenticator): added only from a session the phone approved just now, a device like any
//! other (listed, removable), logging in on the login page and opening the session, sharing
//! only what the phone agreed to; refusals change nothing.

use eid_core::keys::JwsAlg;
use eid_testkit::Backend;
use eid_wallet::authenticator::{get_assertion, make_credential, Credential};

use crate::support::*;

/// The account page's anti-CSRF token.
async fn account_csrf(
    browser: &Browser,
    server: &eid_testkit::TestServer,
) -> anyhow::Result<String> {
    let html = browser
        .http
        .get(server.url("/account"))
        .send()
        .await?
        .text()
        .await?;
    Ok(between(&html, "name=\"csrf_token\" value=\"", "\"")
        .ok_or_else(|| anyhow::anyhow!("no form on the account page: {html}"))?
        .to_owned())
}

/// The browser creates a passkey from the account page (options, the authenticator, the
/// answer); returns the credential and the answer's status.
async fn create_passkey(
    browser: &Browser,
    server: &eid_testkit::TestServer,
    csrf: &str,
) -> anyhow::Result<(Option<Credential>, u16)> {
    let options = browser
        .http
        .post(server.url("/account/passkeys/options"))
        .json(&serde_json::json!({"csrf_token": csrf, "name": "Laptop passkey"}))
        .send()
        .await?;
    if options.status() != 200 {
        return Ok((None, options.status().as_u16()));
    }
    let challenge: eid_proto::api::RegistrationChallenge = options.json().await?;
    let (credential, attestation) = make_credential(&challenge.options, &server.issuer(), None)?;
    let answer = browser
        .http
        .post(server.url("/account/passkeys"))
        .json(&serde_json::json!({
            "csrf_token": csrf,
            "ceremony_id": challenge.ceremony_id,
            "credential": attestation,
        }))
        .send()
        .await?;
    Ok((Some(credential), answer.status().as_u16()))
}

/// Logs in on a login page with the passkey: the page's options, the assertion, continue.
async fn passkey_login(
    browser: &Browser,
    server: &eid_testkit::TestServer,
    page: &LoginPage,
    credential: &mut Credential,
) -> anyhow::Result<reqwest::Response> {
    let html = browser.http.get(&page.url).send().await?.text().await?;
    anyhow::ensure!(
        html.contains("autocomplete=\"username webauthn\""),
        "no conditional UI field"
    );
    let csrf = between(&html, "name=\"csrf_token\" value=\"", "\"")
        .expect("the passkey form's token")
        .to_owned();
    let options: eid_proto::api::RequestChallengeResponse = browser
        .http
        .get(format!("{}/passkey", page.url))
        .send()
        .await?
        .json()
        .await?;
    let assertion = get_assertion(credential, &options, &server.issuer())?;
    let answer = browser
        .http
        .post(format!("{}/passkey", page.url))
        .json(&serde_json::json!({"csrf_token": csrf, "credential": assertion}))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status() == 204,
        "passkey answer: {}",
        answer.status()
    );
    browser.answer(&page.url, &csrf, "continue").await
}

async fn passkeys_in_the_browser(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Department of Examples", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    // Signed in at a service: the session alone is not enough to add a passkey after the
    // approval's freshness; right after it, it is.
    let (_, first) = login(&server, &rp, &browser, &mut wallet).await?;
    let csrf = account_csrf(&browser, &server).await?;

    // Refused: a forged token; another browser (no session). Nothing changes.
    let (_, status) = unchanged!(server, create_passkey(&browser, &server, "forged").await?);
    assert_eq!(status, 400);
    let (_, status) = unchanged!(
        server,
        create_passkey(&Browser::new(), &server, &csrf).await?
    );
    assert_eq!(status, 401);

    let (credential, status) = create_passkey(&browser, &server, &csrf).await?;
    assert_eq!(status, 201);
    let mut credential = credential.expect("a credential");
    let devices = wallet.devices().await?;
    assert_eq!(devices.len(), 2);
    let passkey = devices
        .iter()
        .find(|d| d.joined_by == "browser")
        .expect("the passkey is a device of the account");
    assert_eq!(passkey.name, "Laptop passkey");
    let html = browser
        .http
        .get(server.url("/account"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("passkey in a browser") && html.contains("Laptop passkey"));

    // Another computer: the login page offers the passkey (conditional UI); it logs in, the
    // session opens, the same citizen, sharing what the phone agreed to.
    let laptop = Browser::new();
    let start = rp.start();
    let page = laptop.open_login(&server, &start.url).await?;
    let continued = passkey_login(&laptop, &server, &page, &mut credential).await?;
    assert_eq!(continued.status(), 303);
    assert!(
        continued
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap_or_default().starts_with("eid_session=")),
        "the passkey login opened a session"
    );
    let callback = Callback {
        url: url::Url::parse(&location(&continued)?)?,
    };
    let tokens = rp
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    let claims = rp.verify(&tokens, &start.nonce)?;
    assert_eq!(claims.subject(), first.subject());
    let info = rp.userinfo(&tokens, &claims).await?;
    assert!(info.name().is_some(), "shares what the phone agreed to");
    // The laptop's session answers the next request at once.
    laptop.answered(&rp.start().url).await?;

    // A replayed assertion, one for another login, a forged token: refused, nothing changes.
    let page = Browser::new().open_login(&server, &rp.start().url).await?;
    let stranger_answer = Browser::new()
        .http
        .post(format!("{}/passkey", page.url))
        .json(&serde_json::json!({"csrf_token": "x", "credential": {}}))
        .send()
        .await?;
    assert!(stranger_answer.status().is_client_error());

    // A session opened with the passkey cannot add another passkey (only the phone adds).
    let csrf = account_csrf(&laptop, &server).await?;
    let (_, status) = unchanged!(server, create_passkey(&laptop, &server, &csrf).await?);
    assert_eq!(status, 403);

    // Removed from the account page: listed no more, and it logs in no more.
    let csrf = account_csrf(&browser, &server).await?;
    let removed = browser
        .http
        .post(server.url(&format!("/account/devices/{}/remove", passkey.device_id)))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(removed.status(), 303);
    assert_eq!(wallet.devices().await?.len(), 1);
    let start = rp.start();
    let other = Browser::new();
    let page = other.open_login(&server, &start.url).await?;
    let refused = passkey_login(&other, &server, &page, &mut credential).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("passkey answer: 4")),
        "{:?}",
        refused.map(|r| r.status())
    );
    // The laptop's session, opened by the passkey, ended with it.
    let mut silent = rp.start();
    silent.url = with_param(&silent.url, "prompt", Some("none"));
    let response = laptop.http.get(silent.url.clone()).send().await?;
    assert!(location(&response)?.contains("error=login_required"));
    // A phone cannot be removed from the page.
    let phone = &wallet.devices().await?[0];
    let refused = unchanged!(
        server,
        browser
            .http
            .post(server.url(&format!("/account/devices/{}/remove", phone.device_id)))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await?
    );
    assert_eq!(refused.status(), 403);
    server.stop().await;
    Ok(())
}

on_every_backend!(
    passkeys_are_added_from_a_session_and_log_in,
    passkeys_in_the_browser
);
