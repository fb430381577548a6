//! Lifetimes, tested in-process against the real store by moving `now` forward (the core never
//! reads the clock): the QR code's rotation, a login not approved in time (and a new code for
//! it), an approval the browser does not continue in time, an expired code and token.

use eid_core::keys::JwsAlg;
use eid_core::limits::Caller;
use eid_core::login::QR_STEP;
use eid_core::login::{BrowserAnswer, LoginView};
use eid_core::oidc::dpop::PresentedToken;
use eid_core::oidc::{AuthorizationParams, Authorized, PendingLogin, TokenParams};
use eid_core::sso::BrowserContext;
use eid_core::time::UnixTime;
use eid_core::{Error, OAuthErrorCode, Provider};
use eid_testkit::Backend;
use eid_wallet::Wallet;
use url::Url;

use crate::support::*;

fn params(client_id: &str) -> AuthorizationParams {
    AuthorizationParams {
        response_type: Some("code".into()),
        client_id: Some(client_id.into()),
        redirect_uri: Some(REDIRECT_URI.into()),
        scope: Some("openid".into()),
        state: Some("st".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        ..AuthorizationParams::default()
    }
}

fn authorize(provider: &Provider, client_id: &str, now: UnixTime) -> anyhow::Result<PendingLogin> {
    match provider
        .authorize(
            &params(client_id),
            &Caller::default(),
            &BrowserContext::default(),
            now,
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
    {
        Authorized::Login(login) => Ok(login),
        Authorized::Answered(_) => anyhow::bail!("answered without a login"),
    }
}

/// The `t` code of an approval link.
fn code_of(link: &str) -> anyhow::Result<String> {
    Url::parse(link)?
        .query_pairs()
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow::anyhow!("no code in {link}"))
}

/// The error sent back to the client, if the view is a redirect.
fn redirect_error(view: &LoginView) -> Option<String> {
    match view {
        LoginView::Redirect(response) => response
            .params
            .iter()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

/// The phone approves `login` at `at` (reading it at `read_at`), sharing the essentials.
fn approve(
    provider: &Provider,
    wallet: &mut Wallet,
    issuer: &Url,
    login: &PendingLogin,
    read_at: UnixTime,
    at: UnixTime,
) -> anyhow::Result<Result<(), Error>> {
    let (link, _) =
        provider.current_approval_link(&login.request_id, Some(&login.browser_secret), read_at)?;
    let request =
        provider.approval_request(&login.request_id, Some(&code_of(&link)?), None, read_at)?;
    let number =
        match provider.login_view(&login.request_id, Some(&login.browser_secret), read_at)? {
            LoginView::Waiting { number, .. } => number,
            other => anyhow::bail!("waiting expected, got {other:?}"),
        };
    let decision = eid_wallet::approve_with(&request, number, Vec::new(), false);
    let submission = wallet.sign_decision(&request, &decision, issuer)?;
    Ok(provider
        .answer_approval(&login.request_id, &submission, at)
        .map(|_| ()))
}

async fn lifetimes(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let (client_id, secret) = server
        .add_client("Dept", REDIRECT_URI, JwsAlg::Es256)
        .await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let issuer = Url::parse(&server.issuer())?;
    let provider = server.provider();
    let config = provider.config().clone();
    let now = eid_server::now();

    // The QR code rotates: each code opens the request only until the next is shown.
    let login = authorize(&provider, &client_id, now)?;
    let (first, changes_in) =
        provider.current_approval_link(&login.request_id, Some(&login.browser_secret), now)?;
    assert!((1..=QR_STEP).contains(&changes_in));
    let first_code = code_of(&first)?;
    assert!(provider
        .approval_request(&login.request_id, Some(&first_code), None, now)
        .is_ok());
    let next = now + changes_in;
    let (second, _) =
        provider.current_approval_link(&login.request_id, Some(&login.browser_secret), next)?;
    assert_ne!(first, second, "a new code every {QR_STEP} seconds");
    assert!(matches!(
        provider.approval_request(&login.request_id, Some(&first_code), None, next),
        Err(Error::Gone("login code"))
    ));
    assert!(matches!(
        provider.approval_request(&login.request_id, None, None, now),
        Err(Error::Gone("login code"))
    ));
    assert!(provider
        .approval_request(&login.request_id, Some(&code_of(&second)?), None, next)
        .is_ok());

    // A login nobody approves in time: the page offers a new code, and the phone can no
    // longer answer the old window.
    let window = config.approval_window;
    let late = now + window + 1;
    let view = provider.login_view(&login.request_id, Some(&login.browser_secret), late)?;
    assert!(matches!(view, LoginView::Expired { .. }), "{view:?}");
    let before = server.fingerprint().await?;
    assert!(matches!(
        approve(&provider, &mut wallet, &issuer, &login, now, late)?,
        Err(Error::Gone(_))
    ));
    assert_eq!(
        before,
        server.fingerprint().await?,
        "a late approval changed stored data"
    );
    // A new code: the phone approves within the renewed window.
    let view = provider.browser_answer(
        &login.request_id,
        Some(&login.browser_secret),
        &csrf_of(&provider, &login, late)?,
        BrowserAnswer::Renew,
        &BrowserContext::default(),
        late,
    )?;
    assert!(matches!(view, LoginView::Waiting { .. }), "{view:?}");
    approve(&provider, &mut wallet, &issuer, &login, late, late + 1)??;

    // A code is good for `code_ttl` seconds (the phone did not sign the browser in to eid: no
    // session, the code only).
    let LoginView::Redirect(callback) = provider.browser_answer(
        &login.request_id,
        Some(&login.browser_secret),
        &csrf_of(&provider, &login, late + 2)?,
        BrowserAnswer::Continue,
        &BrowserContext::default(),
        late + 2,
    )?
    else {
        panic!("redirect expected");
    };
    let code = callback
        .params
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .expect("code");
    let token = TokenParams {
        grant_type: Some("authorization_code".into()),
        code: Some(code),
        redirect_uri: Some(REDIRECT_URI.into()),
        code_verifier: Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()),
        ..TokenParams::default()
    };
    let basic = Some((client_id.clone(), secret.clone()));
    match provider.token(basic.clone(), &token, None, late + 2 + config.code_ttl) {
        Err(Error::OAuth(e)) => assert_eq!(e.code, OAuthErrorCode::InvalidGrant),
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    // The RFC 7636 Appendix B verifier matches the challenge: in time, the code is redeemed.
    let tokens = provider.token(basic, &token, None, late + 3)?;
    let bearer = PresentedToken::Bearer(tokens.access_token.clone());
    // The access token lives `access_token_ttl` seconds.
    assert!(provider.userinfo(&bearer, "GET", late + 4).is_ok());
    let expired = provider.userinfo(&bearer, "GET", late + 3 + config.access_token_ttl);
    assert!(matches!(expired, Err(Error::OAuth(ref e)) if e.code == OAuthErrorCode::InvalidToken));

    // A page left open past its lifetime gets no new code: back to the client.
    let login = authorize(&provider, &client_id, now)?;
    let end = now + config.login_ttl;
    let view = provider.login_view(&login.request_id, Some(&login.browser_secret), end)?;
    assert_eq!(redirect_error(&view).as_deref(), Some("access_denied"));

    // Approved, but the browser does not continue within the completion window: no code, ever.
    let login = authorize(&provider, &client_id, now)?;
    approve(&provider, &mut wallet, &issuer, &login, now, now + 1)??;
    let too_late = now + 1 + config.completion_window;
    let view = provider.browser_answer(
        &login.request_id,
        Some(&login.browser_secret),
        &csrf_of(&provider, &login, now)?,
        BrowserAnswer::Continue,
        &BrowserContext::default(),
        too_late,
    )?;
    assert_eq!(redirect_error(&view).as_deref(), Some("access_denied"));
    let view = provider.login_view(&login.request_id, Some(&login.browser_secret), now + 2)?;
    assert!(
        redirect_error(&view).is_some(),
        "the request ended for good: {view:?}"
    );
    server.stop().await;
    Ok(())
}

/// The CSRF token of a login page's forms.
fn csrf_of(provider: &Provider, login: &PendingLogin, _now: UnixTime) -> anyhow::Result<String> {
    Ok(provider.login_csrf(&login.request_id))
}

on_every_backend!(logins_codes_and_tokens_expire, lifetimes);
