//! Everything that must be refused is refused with the right error, and changes nothing.

use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestServer};
use openidconnect::OAuth2TokenResponse;
use url::Url;

use crate::support::*;

async fn token_post(
    server: &TestServer,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> anyhow::Result<(u16, serde_json::Value, reqwest::header::HeaderMap)> {
    let mut request = reqwest::Client::new().post(server.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Ok((status, response.json().await?, headers))
}

async fn token_endpoint(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Department", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let (start, callback, _) = login_to_callback(&server, &rp, &browser, &mut wallet).await?;
    let code = callback.param("code").expect("code");
    let verifier = start.verifier.secret().clone();
    let id = rp.client_id.clone();
    let secret = rp.client_secret.clone();
    let form = |verifier: &str| -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT_URI.into()),
            ("code_verifier", verifier.into()),
        ]
    };
    let as_refs = |f: &Vec<(&'static str, String)>| {
        f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };

    // Wrong client secret: invalid_client, 401 with a Basic challenge; the code survives.
    let (status, body, headers) = unchanged!(server, {
        let f = as_refs(&form(&verifier));
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token_post(&server, &f, Some((&id, "not-the-secret"))).await?
    });
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(headers
        .get("www-authenticate")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("Basic")));
    // An unknown client is refused alike (nothing says whether it exists).
    let (status, body2, _) = unchanged!(server, {
        token_post(
            &server,
            &[("grant_type", "authorization_code"), ("code", &code)],
            Some(("no-such-client", &secret)),
        )
        .await?
    });
    assert_eq!((status, &body2), (401, &body));

    // Wrong PKCE verifier: invalid_grant; the code survives.
    let wrong = "x".repeat(43);
    let (status, body, _) = unchanged!(server, {
        let f = as_refs(&form(&wrong));
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token_post(&server, &f, Some((&id, &secret))).await?
    });
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap_or("")
        .contains("PKCE"));

    // The right verifier (client_secret_post this time) redeems it.
    let f = as_refs(&form(&verifier));
    let mut f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    f.push(("client_id", &id));
    f.push(("client_secret", &secret));
    let (status, tokens, headers) = token_post(&server, &f, None).await?;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let access = tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let userinfo = |token: String| {
        let url = server.url("/userinfo");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
        }
    };
    assert_eq!(userinfo(access.clone()).await?.status(), 200);
    // POST works too (OIDC Core §5.3.1).
    let post = reqwest::Client::new()
        .post(server.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(post.status(), 200);
    // ... and with the token in the form body (RFC 6750 §2.2), as some libraries send it.
    let form = reqwest::Client::new()
        .post(server.url("/userinfo"))
        .form(&[("access_token", access.as_str())])
        .send()
        .await?;
    assert_eq!(form.status(), 200);
    // Both at once is refused.
    let both = reqwest::Client::new()
        .post(server.url("/userinfo"))
        .bearer_auth(&access)
        .form(&[("access_token", access.as_str())])
        .send()
        .await?;
    assert_eq!(both.status(), 400);
    // No token at all: a challenge without an error code (RFC 6750 §3.1).
    let none = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .send()
        .await?;
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"eid\"")
    );

    // Reusing the code: invalid_grant, and the token issued from it is revoked.
    let (status, body, _) = token_post(&server, &f, None).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let revoked = userinfo(access).await?;
    assert_eq!(revoked.status(), 401);
    let challenge = revoked
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    // The openidconnect client sees the same refusal for a reused code.
    let err = rp
        .exchange(&code, openidconnect::PkceCodeVerifier::new(verifier))
        .await
        .expect_err("reused code");
    assert!(format!("{err}").contains("invalid_grant"), "{err}");
    server.stop().await;
    Ok(())
}

async fn authorization_endpoint(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Department", JwsAlg::Es256).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let start = rp.start();

    // An unregistered redirect URI: an HTML error page, 400, no redirect.
    let evil = with_param(
        &start.url,
        "redirect_uri",
        Some("http://localhost:3000/evil"),
    );
    let response = unchanged!(server, http.get(evil).send().await?);
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.headers()["content-type"]
        .to_str()?
        .starts_with("text/html"));
    assert!(response.text().await?.contains("Unregistered redirect URI"));

    // A prefix of the registered URI is not a match either.
    let prefix = with_param(
        &start.url,
        "redirect_uri",
        Some("http://localhost:3000/callback/x"),
    );
    assert_eq!(http.get(prefix).send().await?.status(), 400);

    // Unknown client: an error page.
    let response = http.get(server.url("/authorize?client_id=nope&redirect_uri=http://localhost:3000/callback&response_type=code&scope=openid")).send().await?;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());

    // Missing response_type, after the redirect URI is validated: an error redirect.
    let missing = with_param(&start.url, "response_type", None);
    let response = unchanged!(server, http.get(missing).send().await?);
    assert_eq!(response.status(), 303);
    let to = Url::parse(&location(&response)?)?;
    assert!(to.as_str().starts_with(REDIRECT_URI));
    let param = |name: &str| {
        to.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("error").as_deref(), Some("invalid_request"));
    assert!(param("error_description")
        .unwrap_or_default()
        .contains("response_type"));
    assert_eq!(
        param("state").as_deref(),
        Some(start.state.secret().as_str())
    );
    assert_eq!(param("iss"), Some(server.issuer()));

    // Other checks after the redirect URI: each is an error redirect with its code.
    for (name, value, error) in [
        ("response_type", Some("token"), "unsupported_response_type"),
        ("scope", Some("profile"), "invalid_scope"),
        ("code_challenge", None, "invalid_request"),
        ("code_challenge_method", Some("plain"), "invalid_request"),
        ("prompt", Some("none"), "login_required"),
        ("prompt", Some("none login"), "invalid_request"),
        ("max_age", Some("-1"), "invalid_request"),
        ("display", Some("fullscreen"), "invalid_request"),
        ("claims", Some("[1]"), "invalid_request"),
        ("request", Some("eyJ"), "invalid_request_object"),
        (
            "request_uri",
            Some("https://rp.example/request.jwt"),
            "invalid_request_uri",
        ),
    ] {
        let url = with_param(&start.url, name, value);
        let response = http.get(url).send().await?;
        assert_eq!(response.status(), 303, "{name}");
        let to = Url::parse(&location(&response)?)?;
        let got = to
            .query_pairs()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v.into_owned());
        assert_eq!(got.as_deref(), Some(error), "{name}={value:?}");
    }

    // A parameter given twice: refused on a page (RFC 6749 §3.1).
    let twice = format!("{}&client_id=again", start.url);
    assert_eq!(http.get(twice).send().await?.status(), 400);

    // POST to the authorization endpoint works like GET.
    let form: Vec<(String, String)> = start
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let response = http
        .post(server.url("/authorize"))
        .form(&form)
        .send()
        .await?;
    assert_eq!(response.status(), 303);
    assert!(location(&response)?.starts_with("/login/"));
    server.stop().await;
    Ok(())
}

async fn phone_approvals(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Department", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let issuer = Url::parse(&server.issuer())?;

    // A signed answer replayed for a second request is refused, and so is a decision altered
    // after it was signed.
    let first = rp.start();
    let first_page = browser.open_login(&server, &first.url).await?;
    let second = rp.start();
    let second_page = browser.open_login(&server, &second.url).await?;
    let request = wallet.fetch_approval(&first_page.link).await?;
    let decision = eid_wallet::approve_all(&request, first_page.number, false);
    let bytes = serde_json::to_vec(&decision)?;
    let mut options = request.options.clone();
    let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
    options.public_key.challenge =
        eid_wallet::committed_challenge("eid-approval", &nonce, &bytes).to_vec();
    let assertion = wallet.sign(&options, &issuer)?;
    let first_url = server.url(&format!("/api/v1/approvals/{}", request.request_id));
    let second_id = second_page
        .url
        .rsplit('/')
        .next()
        .expect("request id")
        .to_owned();
    let second_url = server.url(&format!("/api/v1/approvals/{second_id}"));
    // The altered decision: one item fewer, same signature.
    let mut altered = decision.clone();
    altered.claims.retain(|c| c == "sub");
    let err = unchanged!(
        server,
        wallet
            .post_answer(
                &first_url,
                &eid_wallet::b64url(&serde_json::to_vec(&altered)?),
                assertion.clone()
            )
            .await
            .expect_err("altered decision")
    );
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("device-refused"),
        "{err}"
    );
    wallet
        .post_answer(&first_url, &eid_wallet::b64url(&bytes), assertion.clone())
        .await?;
    // The same answer at the second request: it names the first.
    let err = unchanged!(
        server,
        wallet
            .post_answer(&second_url, &eid_wallet::b64url(&bytes), assertion.clone())
            .await
            .expect_err("replay")
    );
    assert_eq!(err.problem().map(|p| p.status), Some(400), "{err}");
    // Renamed for the second request, the signature no longer matches.
    let mut renamed = decision.clone();
    renamed.request_id = second_id.clone();
    let err = unchanged!(
        server,
        wallet
            .post_answer(
                &second_url,
                &eid_wallet::b64url(&serde_json::to_vec(&renamed)?),
                assertion.clone()
            )
            .await
            .expect_err("replay")
    );
    assert_eq!(err.problem().map(|p| p.status), Some(403), "{err}");
    // ... and replaying it on the first request, now approved, is refused too.
    let err = wallet
        .post_answer(&first_url, &eid_wallet::b64url(&bytes), assertion)
        .await
        .expect_err("replay");
    assert_eq!(err.problem().map(|p| p.status), Some(410), "{err}");
    // The second request is still pending and can be approved properly.
    let second_page = browser.waiting_page(&second_page.url).await?;
    phone_approves(&mut wallet, &second_page).await?;
    assert!(matches!(
        browser.after_approval(&server, &second_page.url).await?,
        Next::Approved { .. }
    ));

    // Another browser cannot continue someone else's login.
    let stranger = Browser::new();
    let response = stranger.http.get(&second_page.url).send().await?;
    assert_eq!(response.status(), 403);

    // An assertion from a device not bound to the account it names is refused (it cannot open
    // a session either, so it reads the request without one).
    let mut impostor = proven_wallet(&server, 1).await?;
    let mut file = impostor.file().clone();
    file.user_handle = wallet.file().user_handle.clone();
    file.session = None;
    impostor.set_file(file);
    let third = rp.start();
    let third_page = browser.open_login(&server, &third.url).await?;
    assert!(impostor.fetch_approval(&third_page.link).await.is_err());
    let request = impostor
        .fetch_approval_anonymously(&third_page.link)
        .await?;
    let approve = eid_wallet::approve_all(&request, third_page.number, false);
    let err = unchanged!(
        server,
        impostor
            .answer(&request, &third_page.link, &approve)
            .await
            .expect_err("unbound device")
    );
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("device-refused"),
        "{err}"
    );
    // A wallet whose key was never bound at all is refused the same way.
    let mut forged_file = wallet.file().clone();
    let mut unbound = eid_wallet::Wallet::in_memory();
    let fresh = applied_wallet(&server, 2).await?;
    forged_file.private_key = fresh.file().private_key.clone();
    unbound.set_file(forged_file);
    let err = unchanged!(
        server,
        unbound
            .answer(&request, &third_page.link, &approve)
            .await
            .expect_err("forged key")
    );
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("device-refused"),
        "{err}"
    );

    // Device management: link a second phone, log in with it, remove it, and it is refused.
    let link = wallet.create_device_link().await?;
    let mut second_phone = eid_wallet::Wallet::in_memory();
    second_phone.link(&issuer, &link.code, "Tablet").await?;
    assert_eq!(second_phone.citizen_id(), wallet.citizen_id());
    // The link code is single-use.
    let mut third_phone = eid_wallet::Wallet::in_memory();
    let err = third_phone
        .link(&issuer, &link.code, "Other")
        .await
        .expect_err("reused link");
    assert_eq!(err.problem().map(|p| p.status), Some(410));
    let devices = wallet.devices().await?;
    assert_eq!(devices.len(), 2);
    let (_, claims_second) = login(&server, &rp, &browser, &mut second_phone).await?;
    // (Another browser: this one's session would answer without a phone.)
    let (tokens, claims_first) = login(&server, &rp, &Browser::new(), &mut wallet).await?;
    assert_eq!(
        claims_first.subject(),
        claims_second.subject(),
        "both devices are the same citizen"
    );
    assert!(!tokens.access_token().secret().is_empty());
    let second_device = second_phone.device_id().expect("device id").to_owned();
    wallet.remove_device(&second_device).await?;
    assert_eq!(wallet.devices().await?.len(), 1);
    let third_page = browser.waiting_page(&third_page.url).await?;
    assert!(
        second_phone.fetch_approval(&third_page.link).await.is_err(),
        "a removed device's session ends"
    );
    let request = second_phone
        .fetch_approval_anonymously(&third_page.link)
        .await?;
    let err = unchanged!(
        server,
        second_phone
            .answer(
                &request,
                &third_page.link,
                &eid_wallet::approve_all(&request, third_page.number, false)
            )
            .await
            .expect_err("removed device")
    );
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("device-refused"),
        "{err}"
    );
    // The last device cannot be removed.
    let own = wallet.device_id().expect("device id").to_owned();
    let err = wallet.remove_device(&own).await.expect_err("last device");
    assert_eq!(err.problem().map(|p| p.status), Some(409));
    // The bound device still approves the pending request.
    phone_approves(&mut wallet, &third_page).await?;
    assert!(matches!(
        browser.after_approval(&server, &third_page.url).await?,
        Next::Approved { .. }
    ));
    server.stop().await;
    Ok(())
}

async fn enrolment(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = Url::parse(&server.issuer())?;
    let resident = server.residents()[0].clone();
    // Invalid HKID check digit: a problem naming the field; nothing stored.
    let mut wallet = eid_wallet::Wallet::in_memory();
    let mut bad = application(&resident);
    bad.hkid = "A123456(4)".into();
    let err = unchanged!(
        server,
        wallet.enrol(&issuer, &bad).await.expect_err("bad hkid")
    );
    let problem = err.problem().expect("problem").clone();
    assert_eq!(
        (problem.status, problem.slug()),
        (400, Some("invalid-input"))
    );
    assert_eq!(
        problem
            .invalid_params
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["hkid"]
    );
    assert!(problem.invalid_params[0].reason.contains("check digit"));
    assert!(
        !format!("{problem:?}").contains("123456"),
        "the HKID must not be echoed"
    );
    // Malformed HKID and several bad fields.
    let mut bad = application(&resident);
    bad.hkid = "12345".into();
    bad.date_of_birth = "1990-13-01".into();
    let err = unchanged!(
        server,
        wallet.enrol(&issuer, &bad).await.expect_err("bad fields")
    );
    let names: Vec<String> = err
        .problem()
        .expect("problem")
        .invalid_params
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(names, ["date_of_birth", "hkid"]);
    // A valid application, and another for the same number written differently: both are
    // applications (nothing is reserved), neither is an account.
    let first = wallet.enrol(&issuer, &application(&resident)).await?;
    let mut again = eid_wallet::Wallet::in_memory();
    let mut same = application(&resident);
    same.hkid = resident.hkid.to_lowercase().replace(['(', ')'], " ");
    let second = again.enrol(&issuer, &same).await?;
    assert_ne!(first.reference, second.reference);
    assert_eq!(wallet.status().await?.status, "open");
    // The HKID and name are not stored in clear anywhere.
    let rows = server.fingerprint().await?.join("\n");
    let canonical: String = resident
        .hkid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    assert!(
        !rows.contains(&canonical) && !rows.contains(&resident.english_name),
        "personal data stored in clear"
    );
    server.stop().await;
    Ok(())
}

on_every_backend!(
    token_endpoint_refuses_wrong_secret_wrong_verifier_and_reused_code,
    token_endpoint
);
on_every_backend!(
    authorization_endpoint_refuses_bad_requests_in_the_right_form,
    authorization_endpoint
);
on_every_backend!(
    phone_approvals_refuse_replays_unbound_and_removed_devices,
    phone_approvals
);
on_every_backend!(
    enrolment_refuses_invalid_particulars_and_reserves_nothing,
    enrolment
);
