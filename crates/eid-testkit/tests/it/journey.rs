//! The whole journey: enrol, log in to two relying parties (ES256 and RS256), userinfo,
//! pairwise subjects, remembered consent, and a restart that keeps everything.

use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestServer};
use openidconnect::{LanguageTag, OAuth2TokenResponse};

use crate::support::*;

async fn journey(backend: Backend) -> anyhow::Result<()> {
    let mut server = start(backend).await?;
    let es = Rp::register(&server, "Department of Examples", JwsAlg::Es256).await?;
    let rs = Rp::register(&server, "Example Bank", JwsAlg::Rs256).await?;
    let resident = server.residents()[0].clone();
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();

    // First login to the ES256 client: consent is asked.
    let (start, callback, consented) =
        login_to_callback(&server, &es, &browser, &mut wallet).await?;
    assert!(consented, "first login must ask for consent");
    assert_eq!(
        callback.param("state").as_deref(),
        Some(start.state.secret().as_str())
    );
    assert_eq!(callback.param("iss"), Some(server.issuer()));
    let code = callback.param("code").expect("code");
    let tokens = es.exchange(&code, start.verifier).await?;
    assert_eq!(tokens.token_type().as_ref(), "bearer");
    let claims = es.verify(&tokens, &start.nonce)?;
    assert_eq!(claims.issuer().as_str(), server.issuer());
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|a| a.as_str())
        .collect();
    // A software key without attestation: nothing more is claimed.
    assert_eq!(amr, ["swk"]);
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:eid:loa:basic")
    );
    let info = es.userinfo(&tokens, &claims).await?;
    let name = info.name().expect("name");
    // The particulars released are the registry's, which proofing matched.
    assert_eq!(
        name.get(None).map(|n| n.as_str()),
        Some(resident.english_name.as_str())
    );
    let zh = LanguageTag::new("zh-Hant".into());
    assert_eq!(
        name.get(Some(&zh)).map(|n| n.as_str()),
        Some(resident.chinese_name.as_str())
    );
    assert_eq!(
        info.birthdate().map(|b| b.as_str()),
        Some(resident.date_of_birth.as_str())
    );
    // Never proven: nothing is said about them.
    assert!(info.email().is_none(), "an unverified email was released");
    assert!(
        info.phone_number().is_none(),
        "an unverified phone was released"
    );
    assert!(
        info.address().is_none(),
        "an unverified address was released"
    );
    let es_sub = claims.subject().as_str().to_owned();

    // Second login to the same client: consent is remembered, the same pairwise sub.
    let (start, callback, consented) =
        login_to_callback(&server, &es, &browser, &mut wallet).await?;
    assert!(!consented, "consent must be remembered");
    let tokens = es
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    assert_eq!(es.verify(&tokens, &start.nonce)?.subject().as_str(), es_sub);

    // The RS256 client: verified by openidconnect with RS256, a different pairwise sub.
    let (_, rs_claims) = login(&server, &rs, &browser, &mut wallet).await?;
    let rs_sub = rs_claims.subject().as_str().to_owned();
    assert_ne!(
        rs_sub, es_sub,
        "pairwise subjects must differ between clients"
    );
    let (_, again) = login(&server, &rs, &browser, &mut wallet).await?;
    assert_eq!(again.subject().as_str(), rs_sub);

    // Another citizen declines at the consent page: the client gets access_denied. A forged
    // CSRF token is refused first, and changes nothing.
    let mut other = proven_wallet(&server, 1).await?;
    let start = es.start();
    let (login_url, approval) = browser.open_login(&server, &start.url).await?;
    let request = other.fetch_approval(&approval).await?;
    other.approve(&request, &approval).await?;
    let response = browser.http.get(&login_url).send().await?;
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // The consent form's answer is a redirect to the service: form-action names its origin.
    assert!(
        csp.contains("form-action 'self' http://localhost:3000;"),
        "{csp}"
    );
    let page = response.text().await?;
    let masked = eid_core::account::mask_name(&server.residents()[1].english_name);
    assert!(
        page.contains(&masked),
        "the consent page names whose account approved ({masked})"
    );
    let Next::Consent { action, csrf } = browser.after_approval(&server, &login_url).await? else {
        panic!("a first login must ask for consent");
    };
    let before = server.fingerprint().await?;
    assert_eq!(
        browser.consent(&action, "forged", "allow").await?.status(),
        400
    );
    assert_eq!(before, server.fingerprint().await?);
    let declined = browser.consent(&action, &csrf, "deny").await?;
    assert_eq!(declined.status(), 303);
    let to = Callback {
        url: url::Url::parse(&location(&declined)?)?,
    };
    assert_eq!(to.param("error").as_deref(), Some("access_denied"));
    assert_eq!(
        to.param("state").as_deref(),
        Some(start.state.secret().as_str())
    );
    assert_eq!(to.param("code"), None);

    // Then logs in after all, and gets another sub than the first citizen at the same client.
    let (_, other_claims) = login(&server, &es, &browser, &mut other).await?;
    assert_ne!(other_claims.subject().as_str(), es_sub);

    // Restart: same keys (JWKS), clients, citizens, devices and consents.
    let jwks_before: serde_json::Value = reqwest::get(server.url("/jwks")).await?.json().await?;
    server.restart().await?;
    let jwks_after: serde_json::Value = reqwest::get(server.url("/jwks")).await?.json().await?;
    assert_eq!(jwks_before, jwks_after, "JWKS must survive a restart");
    assert_eq!(jwks_after["keys"].as_array().map(Vec::len), Some(2));
    // The relying party starts afresh too: discovery, the same credentials.
    let es2 = rediscover(&server, &es).await?;
    let (start, callback, consented) =
        login_to_callback(&server, &es2, &browser, &mut wallet).await?;
    assert!(!consented, "consent must survive a restart");
    let tokens = es2
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    assert_eq!(
        es2.verify(&tokens, &start.nonce)?.subject().as_str(),
        es_sub
    );
    server.stop().await;
    Ok(())
}

/// The same client, discovered again from the restarted server.
async fn rediscover(server: &TestServer, rp: &Rp) -> anyhow::Result<Rp> {
    use openidconnect::core::{CoreClient, CoreProviderMetadata};
    use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer())?, &rp.http).await?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        Some(ClientSecret::new(rp.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned())?);
    Ok(Rp {
        client,
        client_id: rp.client_id.clone(),
        client_secret: rp.client_secret.clone(),
        http: rp.http.clone(),
        alg: rp.alg.clone(),
    })
}

on_every_backend!(citizen_logs_in_by_approving_on_the_phone, journey);
