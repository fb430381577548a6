//! Passkeys in the browser over HTTP (the wallet's authenticator plays the browser's platform
//! authenticator): added only from a session the phone approved just now, a device like any
//! other (listed, removable), logging in on the login page and opening the session, sharing
//! only what the phone agreed to; refusals change nothing.

use eid_core::keys::JwsAlg;
use eid_testkit::Backend;
use eid_wallet::authenticator::{get_assertion, make_credential, Credential};

use crate::support::*;

/// The account page as `browser` sees it.
pub(crate) async fn account_page(
    browser: &Browser,
    server: &eid_testkit::TestServer,
) -> anyhow::Result<String> {
    Ok(browser
        .http
        .get(server.url("/account"))
        .send()
        .await?
        .text()
        .await?)
}

/// The account page's anti-CSRF token.
pub(crate) async fn account_csrf(
    browser: &Browser,
    server: &eid_testkit::TestServer,
) -> anyhow::Result<String> {
    let html = account_page(browser, server).await?;
    Ok(between(&html, "name=\"csrf_token\" value=\"", "\"")
        .ok_or_else(|| anyhow::anyhow!("no form on the account page: {html}"))?
        .to_owned())
}

/// Starts adding a passkey from the account page: `/account/login?to=passkey` opens the
/// phone approval that names the action (its login page), or answers otherwise (status).
pub(crate) async fn start_adding_passkey(
    browser: &Browser,
    server: &eid_testkit::TestServer,
) -> anyhow::Result<Result<LoginPage, u16>> {
    let response = browser
        .http
        .get(server.url("/account/login?to=passkey"))
        .send()
        .await?;
    if response.status() != 303 {
        return Ok(Err(response.status().as_u16()));
    }
    let login = server.url(&location(&response)?);
    Ok(Ok(browser.waiting_page(&login).await?))
}

/// The phone approves the named action (adding a passkey) and the browser continues: back on
/// the account page, with the registration the phone approved. Returns its ceremony id.
pub(crate) async fn phone_approves_passkey(
    browser: &Browser,
    server: &eid_testkit::TestServer,
    wallet: &mut eid_wallet::Wallet,
    page: &LoginPage,
) -> anyhow::Result<String> {
    let request = wallet.fetch_approval(&page.link).await?;
    let purpose = request
        .purpose
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the phone is not told what it approves"))?;
    anyhow::ensure!(purpose.action == "add_passkey", "{purpose:?}");
    anyhow::ensure!(
        purpose.en.starts_with("Add a passkey on ") && purpose.zh_hant.contains("密碼匙"),
        "{purpose:?}"
    );
    anyhow::ensure!(
        !request.offers_sign_in,
        "an action's approval signs nobody in"
    );
    let decision = eid_wallet::approve_all(&request, page.number, false);
    let result = wallet.answer(&request, &page.link, &decision).await?;
    anyhow::ensure!(result.status == "approved", "phone: {}", result.status);
    let Next::Approved { action, csrf, .. } = browser.after_approval(server, &page.url).await?
    else {
        anyhow::bail!("the browser was not shown the approval");
    };
    let continued = browser.answer(&action, &csrf, "continue").await?;
    anyhow::ensure!(
        continued.status() == 303,
        "continue: {}",
        continued.status()
    );
    let callback = location(&continued)?;
    anyhow::ensure!(callback.contains("/account/callback"), "{callback}");
    let back = browser.http.get(&callback).send().await?;
    let to = location(&back)?;
    let ceremony = to
        .split("ceremony=")
        .nth(1)
        .and_then(|rest| rest.split(['&', '#']).next())
        .ok_or_else(|| anyhow::anyhow!("back to {to}, without the registration"))?;
    Ok(ceremony.to_owned())
}

/// The browser creates the passkey whose registration the phone approved (options, the
/// authenticator, the answer); returns the credential and the answer's status.
pub(crate) async fn create_passkey(
    browser: &Browser,
    server: &eid_testkit::TestServer,
    csrf: &str,
    ceremony: &str,
) -> anyhow::Result<(Option<Credential>, u16)> {
    let options = browser
        .http
        .post(server.url("/account/passkeys/options"))
        .json(&serde_json::json!({"csrf_token": csrf, "ceremony_id": ceremony}))
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
            "name": "Laptop passkey",
            "credential": attestation,
        }))
        .send()
        .await?;
    Ok((Some(credential), answer.status().as_u16()))
}

/// The whole ceremony: the phone approves adding the passkey, the browser creates it.
pub(crate) async fn add_passkey(
    browser: &Browser,
    server: &eid_testkit::TestServer,
    wallet: &mut eid_wallet::Wallet,
) -> anyhow::Result<Credential> {
    let page = start_adding_passkey(browser, server)
        .await?
        .map_err(|s| anyhow::anyhow!("adding a passkey answered {s}"))?;
    let ceremony = phone_approves_passkey(browser, server, wallet, &page).await?;
    let csrf = account_csrf(browser, server).await?;
    let (credential, status) = create_passkey(browser, server, &csrf, &ceremony).await?;
    anyhow::ensure!(status == 201, "creating the passkey: {status}");
    credential.ok_or_else(|| anyhow::anyhow!("no credential"))
}

/// Logs in on a login page with the passkey: the page's options, the assertion, continue.
pub(crate) async fn passkey_login(
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
    // Signed in at a service. That login's approval adds nothing: the phone must approve
    // adding the passkey by name.
    let (_, first) = login(&server, &rp, &browser, &mut wallet).await?;
    let csrf = account_csrf(&browser, &server).await?;
    let page = start_adding_passkey(&browser, &server)
        .await?
        .map_err(|s| anyhow::anyhow!("{s}"))?;
    // Before the phone approved: no options, nothing changes.
    let ceremony_guess = "not-approved";
    let (_, status) = unchanged!(
        server,
        create_passkey(&browser, &server, &csrf, ceremony_guess).await?
    );
    assert_eq!(status, 410);
    let ceremony = phone_approves_passkey(&browser, &server, &mut wallet, &page).await?;
    let csrf = account_csrf(&browser, &server).await?;

    // Refused: a forged token; another browser (no session). Nothing changes.
    let (_, status) = unchanged!(
        server,
        create_passkey(&browser, &server, "forged", &ceremony).await?
    );
    assert_eq!(status, 400);
    let (_, status) = unchanged!(
        server,
        create_passkey(&Browser::new(), &server, &csrf, &ceremony).await?
    );
    assert_eq!(status, 401);

    let (credential, status) = create_passkey(&browser, &server, &csrf, &ceremony).await?;
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
    let refused = unchanged!(server, start_adding_passkey(&laptop, &server).await?);
    assert_eq!(refused.err(), Some(403));

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
