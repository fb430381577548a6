//! The whole journey: enrol, log in to two relying parties (ES256 and RS256) deciding on the
//! phone what to share, userinfo, pairwise subjects, remembered consent, and a restart that
//! keeps everything.

use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestServer};
use openidconnect::{LanguageTag, OAuth2TokenResponse};

use crate::support::*;

async fn journey(backend: Backend) -> anyhow::Result<()> {
    let mut server = start(backend).await?;
    let es = Rp::register(&server, "Department of Examples", JwsAlg::Es256).await?;
    let rs = Rp::register(&server, "Example Bank", JwsAlg::Rs256).await?;
    let resident = server.residents()[0].clone();
    let masked = eid_core::account::mask_name(&resident.english_name);
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();

    // First login to the ES256 client. The phone shows the service, where the login comes
    // from, every item with the citizen's own value, and three numbers; nothing is remembered
    // yet, so it must ask what to share.
    let start = es.start();
    let page = browser.open_login(&server, &start.url).await?;
    let request = wallet.fetch_approval(&page.link).await?;
    assert_eq!(request.service.name, "Department of Examples");
    assert_eq!(request.service.redirect_host, "localhost");
    assert_eq!(request.context.address.as_deref(), Some("127.0.0.1"));
    assert!(
        request.ask_consent,
        "nothing remembered: the phone must ask"
    );
    assert_eq!(request.account.as_deref(), Some(masked.as_str()));
    assert_eq!(request.numbers.len(), 3);
    assert!(request.numbers.contains(&page.number));
    let items: Vec<(&str, Option<&str>, bool)> = request
        .items
        .iter()
        .map(|i| (i.claim.as_str(), i.value.as_deref(), i.essential))
        .collect();
    let name = format!("{} {}", resident.english_name, resident.chinese_name);
    // The address typed in at enrolment was never proven: it is not offered at all.
    assert_eq!(
        items,
        [
            ("sub", None, true),
            ("name", Some(name.as_str()), false),
            (
                "gender",
                Some(match resident.gender.as_str() {
                    "M" => "male",
                    "F" => "female",
                    _ => "other",
                }),
                false
            ),
            ("birthdate", Some(resident.date_of_birth.as_str()), false),
        ]
    );
    let answer = wallet
        .answer(
            &request,
            &page.link,
            // The citizen is at this browser and stays signed in to eid here.
            &eid_wallet::staying_signed_in(eid_wallet::approve_all(&request, page.number, true)),
        )
        .await?;
    assert_eq!(answer.status, "approved");
    // The browser shows whose account approved before the service receives anything.
    let response = browser.http.get(&page.url).send().await?;
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // Continuing is answered by a redirect to the service: form-action names its origin.
    assert!(
        csp.contains("form-action 'self' http://localhost:3000;"),
        "{csp}"
    );
    let (callback, account) = continue_login(&server, &browser, &page.url).await?;
    assert_eq!(account, masked);
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

    // Second login to the same client in the same browser: its single sign-on session answers
    // at once, no phone; the same pairwise sub, the first approval's auth_time.
    let start = es.start();
    let callback = browser.answered(&start.url).await?;
    assert_eq!(
        callback.param("state").as_deref(),
        Some(start.state.secret().as_str())
    );
    let tokens = es
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    let silent = es.verify(&tokens, &start.nonce)?;
    assert_eq!(silent.subject().as_str(), es_sub);
    assert_eq!(silent.auth_time(), claims.auth_time());

    // On another computer: the phone is asked, and the choice is remembered (the phone need
    // not ask about sharing), the same pairwise sub.
    let laptop = Browser::new();
    let start = es.start();
    let page = laptop.open_login(&server, &start.url).await?;
    let request = wallet.fetch_approval(&page.link).await?;
    assert!(!request.ask_consent, "the choice must be remembered");
    assert!(request.items.iter().all(|i| i.remembered));
    wallet
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_as_before(&request, page.number),
        )
        .await?;
    let (callback, _) = continue_login(&server, &laptop, &page.url).await?;
    let tokens = es
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    assert_eq!(es.verify(&tokens, &start.nonce)?.subject().as_str(), es_sub);

    // The RS256 client (the browser's session cannot answer: nothing is remembered for it, so
    // the phone asks), sharing the name only: verified by openidconnect with RS256, a
    // different pairwise sub, and userinfo says nothing of what was not chosen.
    let start = rs.start();
    let page = browser.open_login(&server, &start.url).await?;
    let request = wallet.fetch_approval(&page.link).await?;
    wallet
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_with(&request, page.number, vec!["name".into()], false),
        )
        .await?;
    let Next::Approved { html, .. } = browser.after_approval(&server, &page.url).await? else {
        panic!("the page must show whose account approved");
    };
    assert!(html.contains("Your name in English and Chinese"));
    assert!(!html.contains("Your date of birth"), "not chosen: {html}");
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let tokens = rs
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    assert_eq!(
        tokens
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
        Some(vec!["openid", "profile"])
    );
    let rs_claims = rs.verify(&tokens, &start.nonce)?;
    let info = rs.userinfo(&tokens, &rs_claims).await?;
    assert!(info.name().is_some());
    assert!(info.birthdate().is_none(), "birthdate was not chosen");
    assert!(info.gender().is_none(), "gender was not chosen");
    let rs_sub = rs_claims.subject().as_str().to_owned();
    assert_ne!(
        rs_sub, es_sub,
        "pairwise subjects must differ between clients"
    );
    // Nothing was remembered for it: the next login asks again.
    let (_, again) = login(&server, &rs, &browser, &mut wallet).await?;
    assert_eq!(again.subject().as_str(), rs_sub);

    // Another citizen, at another browser, declines on the phone: the client gets
    // access_denied, with its state.
    let browser = Browser::new();
    let mut other = proven_wallet(&server, 1).await?;
    let start = es.start();
    let page = browser.open_login(&server, &start.url).await?;
    let request = other.fetch_approval(&page.link).await?;
    let answer = other
        .answer(&request, &page.link, &eid_wallet::refuse(&request, false))
        .await?;
    assert_eq!(answer.status, "declined");
    let Next::Redirect(to) = browser.after_approval(&server, &page.url).await? else {
        panic!("a declined login goes back to the client");
    };
    let to = Callback { url: to };
    assert_eq!(to.param("error").as_deref(), Some("access_denied"));
    assert_eq!(
        to.param("state").as_deref(),
        Some(start.state.secret().as_str())
    );
    assert_eq!(to.param("code"), None);

    // Then logs in after all; a forged CSRF token on the page is refused first and changes
    // nothing. Another sub than the first citizen at the same client.
    let start = es.start();
    let page = browser.open_login(&server, &start.url).await?;
    phone_approves(&mut other, &page).await?;
    let Next::Approved { action, .. } = browser.after_approval(&server, &page.url).await? else {
        panic!("approved");
    };
    let before = server.fingerprint().await?;
    assert_eq!(
        browser
            .answer(&action, "forged", "continue")
            .await?
            .status(),
        400
    );
    assert_eq!(before, server.fingerprint().await?);
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let tokens = es
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    assert_ne!(es.verify(&tokens, &start.nonce)?.subject().as_str(), es_sub);

    // Restart: same keys (JWKS), clients, citizens, devices and consents.
    let jwks_before: serde_json::Value = reqwest::get(server.url("/jwks")).await?.json().await?;
    server.restart().await?;
    let jwks_after: serde_json::Value = reqwest::get(server.url("/jwks")).await?.json().await?;
    assert_eq!(jwks_before, jwks_after, "JWKS must survive a restart");
    assert_eq!(jwks_after["keys"].as_array().map(Vec::len), Some(2));
    // The relying party starts afresh too: discovery, the same credentials.
    let es2 = rediscover(&server, &es).await?;
    // The other citizen's session survived it too.
    let start = es2.start();
    let callback = browser.answered(&start.url).await?;
    assert!(callback.param("code").is_some());
    // A browser without a session: the phone is asked, and consent survived too.
    let tablet = Browser::new();
    let start = es2.start();
    let page = tablet.open_login(&server, &start.url).await?;
    let request = wallet.fetch_approval(&page.link).await?;
    assert!(!request.ask_consent, "consent must survive a restart");
    wallet
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_as_before(&request, page.number),
        )
        .await?;
    let (callback, _) = continue_login(&server, &tablet, &page.url).await?;
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
