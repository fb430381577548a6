//! Lifetimes, tested in-process against the real store by moving `now` forward (the core never
//! reads the clock): a login not approved in time, a late approval, an expired code.

use eid_core::keys::JwsAlg;
use eid_core::oidc::{AuthorizationParams, LoginView, TokenParams};
use eid_core::{Error, OAuthErrorCode};
use eid_testkit::Backend;
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

async fn lifetimes(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let (client_id, secret) = server
        .add_client("Dept", REDIRECT_URI, JwsAlg::Es256)
        .await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let provider = server.provider();
    let now = eid_server::now();
    let ttl = provider.config().login_ttl;

    // A login nobody approves in time: the browser is sent back with access_denied.
    let login = provider
        .authorize(&params(&client_id), now)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    match provider.login_view(
        &login.request_id,
        Some(&login.browser_secret),
        now + ttl + 1,
    )? {
        LoginView::Redirect(url) => {
            let error = url
                .query_pairs()
                .find(|(k, _)| k == "error")
                .map(|(_, v)| v.into_owned());
            assert_eq!(error.as_deref(), Some("access_denied"));
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
    // ... and the phone can no longer fetch or approve it.
    let request = provider.approval_request(&login.request_id, now)?;
    let assertion = wallet.sign(&request.options, &Url::parse(&server.issuer())?)?;
    assert!(matches!(
        provider.approval_request(&login.request_id, now + ttl + 1),
        Err(Error::Gone(_))
    ));
    let before = server.fingerprint().await?;
    assert!(matches!(
        provider.approve(&login.request_id, &assertion, now + ttl + 1),
        Err(Error::Gone(_))
    ));
    assert_eq!(
        before,
        server.fingerprint().await?,
        "a late approval changed stored data"
    );
    // In time, the same assertion is accepted.
    provider.approve(&login.request_id, &assertion, now + 1)?;

    // A code is good for `code_ttl` seconds.
    let LoginView::Consent { csrf_token, .. } =
        provider.login_view(&login.request_id, Some(&login.browser_secret), now + 2)?
    else {
        panic!("consent expected");
    };
    let LoginView::Redirect(callback) = provider.consent(
        &login.request_id,
        Some(&login.browser_secret),
        &csrf_token,
        true,
        now + 2,
    )?
    else {
        panic!("redirect expected");
    };
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let token = TokenParams {
        grant_type: Some("authorization_code".into()),
        code: Some(code),
        redirect_uri: Some(REDIRECT_URI.into()),
        code_verifier: Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()),
        client_id: None,
        client_secret: None,
    };
    let basic = Some((client_id.clone(), secret.clone()));
    let late = now + 2 + provider.config().code_ttl;
    match provider.token(basic.clone(), &token, late) {
        Err(Error::OAuth(e)) => assert_eq!(e.code, OAuthErrorCode::InvalidGrant),
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    // The RFC 7636 Appendix B verifier matches the challenge: in time, the code is redeemed.
    let tokens = provider.token(basic, &token, now + 3)?;
    // The access token lives `access_token_ttl` seconds.
    assert!(provider.userinfo(&tokens.access_token, now + 4).is_ok());
    let expired = provider.userinfo(
        &tokens.access_token,
        now + 3 + provider.config().access_token_ttl,
    );
    assert!(matches!(expired, Err(Error::OAuth(ref e)) if e.code == OAuthErrorCode::InvalidToken));
    server.stop().await;
    Ok(())
}

on_every_backend!(logins_codes_and_tokens_expire, lifetimes);
