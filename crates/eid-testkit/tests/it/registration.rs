//! Dynamic client registration (RFC 7591, OIDC Registration) and its management (RFC 7592):
//! a client registers itself and logs a citizen in with what it registered (ES256 ID tokens,
//! signed userinfo, no refresh grant, its policy and terms on the login page); the refusals of
//! bad metadata; registration off, open, or behind an initial access token.

use eid_core::crypto::sha256;
use eid_core::keys::JwsAlg;
use eid_core::oidc::registration::RegistrationPolicy;
use eid_testkit::{Backend, TestServer};
use openidconnect::OAuth2TokenResponse;
use serde_json::{json, Value};

use crate::support::*;

async fn server_with(backend: Backend, policy: RegistrationPolicy) -> anyhow::Result<TestServer> {
    let mut options = with_registry();
    options.registration = policy;
    TestServer::start_with(backend, options).await
}

async fn post_registration(
    server: &TestServer,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut request = reqwest::Client::new()
        .post(format!("{}/register", server.issuer()))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn clients_register_and_manage_themselves(backend: Backend) -> anyhow::Result<()> {
    let server = server_with(backend, RegistrationPolicy::Open).await?;
    let issuer = server.issuer();
    let metadata = discovery(&server).await?;
    assert_eq!(
        metadata["registration_endpoint"],
        format!("{issuer}/register")
    );

    let (status, registered) = post_registration(
        &server,
        None,
        &json!({
            "redirect_uris": [REDIRECT_URI],
            "client_name": "Self-registered Service",
            "grant_types": ["authorization_code"],
            "id_token_signed_response_alg": "ES256",
            "userinfo_signed_response_alg": "RS256",
            "policy_uri": "https://service.example/privacy",
            "tos_uri": "https://service.example/terms",
            "logo_uri": "https://service.example/logo.png",
            "subject_type": "public",
            "some_extension": "ignored"
        }),
    )
    .await?;
    assert_eq!(status, 201, "{registered}");
    let id = registered["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let secret = registered["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let token = registered["registration_access_token"]
        .as_str()
        .expect("registration token")
        .to_owned();
    assert_eq!(
        registered["registration_client_uri"],
        format!("{issuer}/register/{id}")
    );
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert_eq!(
        registered["subject_type"], "pairwise",
        "subjects are always pairwise"
    );
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert!(registered.get("some_extension").is_none());

    // It logs a citizen in as it registered.
    let rp = Rp::discover(&server, id.clone(), Some(secret), JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let mut start = rp.start();
    start.url = with_param(&start.url, "scope", Some("openid profile offline_access"));
    let page = browser.open_login(&server, &start.url).await?;
    let html = browser.http.get(&page.url).send().await?.text().await?;
    for shown in [
        "https://service.example/privacy",
        "https://service.example/terms",
        "https://service.example/logo.png",
    ] {
        assert!(html.contains(shown), "the login page shows {shown}");
    }
    let request = phone_approves(&mut wallet, &page).await?;
    assert_eq!(request.service.name, "Self-registered Service");
    assert_eq!(
        request.service.policy_uri.as_deref(),
        Some("https://service.example/privacy")
    );
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let tokens = rp
        .exchange(&callback.param("code").expect("code"), start.verifier)
        .await?;
    let claims = rp.verify(&tokens, &start.nonce)?;
    assert!(
        tokens.refresh_token().is_none(),
        "it did not register the refresh grant"
    );
    let response = reqwest::Client::new()
        .get(format!("{issuer}/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await?;
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/jwt")
    );
    let jwt = response.text().await?;
    let header: Value = serde_json::from_slice(
        &eid_core::crypto::b64url_decode(jwt.split('.').next().unwrap_or_default())
            .unwrap_or_default(),
    )?;
    assert_eq!(header["alg"], "RS256");
    let signed: Value = serde_json::from_slice(
        &eid_core::crypto::b64url_decode(jwt.split('.').nth(1).unwrap_or_default())
            .unwrap_or_default(),
    )?;
    assert_eq!(signed["sub"], claims.subject().as_str());
    assert_eq!(signed["aud"], id.as_str());
    assert_eq!(signed["iss"], issuer.as_str());
    let (status, body) = {
        let response = reqwest::Client::new()
            .post(format!("{issuer}/token"))
            .basic_auth(&rp.client_id, Some(&rp.client_secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .send()
            .await?;
        (response.status().as_u16(), response.json::<Value>().await?)
    };
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // Management (RFC 7592): read, update, delete, with the registration access token only.
    let manage = format!("{issuer}/register/{id}");
    let http = reqwest::Client::new();
    let read: Value = http
        .get(&manage)
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(read["client_name"], "Self-registered Service");
    assert!(
        read.get("client_secret").is_none(),
        "the secret is shown once"
    );
    for wrong in [Some("not-the-token"), None] {
        let mut request = http.get(&manage);
        if let Some(wrong) = wrong {
            request = request.bearer_auth(wrong);
        }
        assert_eq!(request.send().await?.status(), 401);
    }
    let mut changed = read.clone();
    changed["client_name"] = json!("Renamed Service");
    let response = http
        .put(&manage)
        .bearer_auth(&token)
        .json(&changed)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await?;
    assert_eq!(updated["client_name"], "Renamed Service");
    let mut fragment = read.clone();
    fragment["redirect_uris"] = json!(["https://service.example/cb#frag"]);
    let response = unchanged!(
        server,
        http.put(&manage)
            .bearer_auth(&token)
            .json(&fragment)
            .send()
            .await?
    );
    assert_eq!(response.status(), 400);
    let response = http.delete(&manage).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), 204);
    let response = http
        .post(format!("{issuer}/token"))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await?;
    assert_eq!(
        response.status(),
        401,
        "a deleted client no longer authenticates"
    );
    // Security review 2026-12-07, L3: the registration, its update and its removal are
    // audited, the client as the actor, with what changed and no credential.
    let provider = server.provider();
    let events = tokio::task::spawn_blocking(move || {
        provider.audit_log(eid_core::time::UnixTime::from_secs(0), 1000)
    })
    .await??;
    let of_client: Vec<_> = events
        .iter()
        .filter(|e| e.action.starts_with("client."))
        .filter(|e| e.detail.client_id.as_deref() == Some(id.as_str()))
        .collect();
    let actions: Vec<&str> = of_client.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["client.registered", "client.updated", "client.deregistered"]
    );
    for event in &of_client {
        assert_eq!(event.actor_kind, eid_core::store::ActorKind::Client);
        assert_eq!(event.actor_id.as_deref(), Some(id.as_str()));
        let detail = format!("{:?}", event.detail);
        assert!(
            !detail.contains(&token) && !detail.contains(&rp.client_secret),
            "no credential in {detail}"
        );
    }
    assert_eq!(
        of_client[0].detail.reason.as_deref(),
        Some("open_registration")
    );
    assert!(of_client[0]
        .detail
        .changes
        .contains(&"name: Self-registered Service".to_owned()));
    assert_eq!(
        of_client[1].detail.changes,
        ["name: Renamed Service"],
        "only what the update changed"
    );

    // Bad metadata is refused, storing nothing.
    let private_key = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]});
    let cases = [
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://service.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://service.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "jwks": private_key}),
            "invalid_client_metadata",
        ),
        // A jwks_uri that answers with no keys (nothing listens there), or given with jwks.
        (
            json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "http://127.0.0.1:9/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "jwks_uri": "https://service.example/jwks",
                "jwks": {"keys": []}}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "policy_uri": "javascript:alert(1)"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "client_name": "\u{1b}[31mBank"}),
            "invalid_client_metadata",
        ),
        (json!("not an object"), "invalid_client_metadata"),
    ];
    for (body, error) in cases {
        let (status, answer) = unchanged!(server, post_registration(&server, None, &body).await?);
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(error)),
            "{body}"
        );
    }
    // A fetch that fails says only that (review 2026-12-07, M1): not "connection refused",
    // which would make registration a port scanner; the reason is in eid's log.
    for (name, extra) in [
        (
            "jwks_uri",
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
        ),
        ("sector_identifier_uri", json!({})),
    ] {
        let mut body = extra;
        body["redirect_uris"] = json!([REDIRECT_URI]);
        body[name] = json!("http://127.0.0.1:9/document");
        let (status, answer) = unchanged!(server, post_registration(&server, None, &body).await?);
        assert_eq!(status, 400);
        assert_eq!(
            answer["error_description"],
            format!("{name}: the document could not be fetched"),
            "{answer}"
        );
    }
    Ok(())
}
on_every_backend!(dynamic_registration, clients_register_and_manage_themselves);

/// Registration behind an initial access token, and off (the default).
async fn registration_can_be_closed(backend: Backend) -> anyhow::Result<()> {
    let server = server_with(
        backend.clone(),
        RegistrationPolicy::Token(vec![sha256(b"initial-token")]),
    )
    .await?;
    let body = json!({"redirect_uris": [REDIRECT_URI]});
    for token in [None, Some("a-wrong-token")] {
        let (status, _) = unchanged!(server, post_registration(&server, token, &body).await?);
        assert_eq!(status, 401);
    }
    let (status, answer) = post_registration(&server, Some("initial-token"), &body).await?;
    assert_eq!(status, 201);
    assert_eq!(
        answer["client_name"], "localhost",
        "named after the redirect URI's host"
    );
    drop(server);

    let server = start(backend).await?;
    let metadata = discovery(&server).await?;
    assert!(metadata.get("registration_endpoint").is_none());
    let (status, _) = unchanged!(server, post_registration(&server, None, &body).await?);
    assert_eq!(status, 404);
    Ok(())
}
on_every_backend!(closed_registration, registration_can_be_closed);

/// Clients registered with one `sector_identifier_uri` (a document listing their redirect URIs)
/// get the same pairwise `sub` for a citizen; another client gets its own; a sector document
/// that does not list the client's redirect URI is refused.
async fn a_sector_shares_its_subjects(backend: Backend) -> anyhow::Result<()> {
    let server = server_with(backend, RegistrationPolicy::Open).await?;
    let site = Site::start().await?;
    site.json(
        "/sector",
        &json!([REDIRECT_URI, "https://other.service.example/cb"]),
    );
    site.json("/elsewhere", &json!(["https://elsewhere.example/cb"]));
    let register = |sector: Option<String>| {
        let server = &server;
        async move {
            let mut body = json!({"redirect_uris": [REDIRECT_URI], "client_name": "Sector member"});
            if let Some(sector) = sector {
                body["sector_identifier_uri"] = sector.into();
            }
            post_registration(server, None, &body).await
        }
    };
    let (status, refused) = unchanged!(server, register(Some(site.url("/elsewhere"))).await?);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let mut subs = Vec::new();
    let mut wallet = proven_wallet(&server, 0).await?;
    for sector in [Some(site.url("/sector")), Some(site.url("/sector")), None] {
        let (status, registered) = register(sector.clone()).await?;
        assert_eq!(status, 201, "{registered}");
        assert_eq!(
            registered["sector_identifier_uri"].as_str(),
            sector.as_deref()
        );
        let rp = Rp::discover(
            &server,
            registered["client_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            registered["client_secret"].as_str().map(str::to_owned),
            JwsAlg::Rs256,
        )
        .await?;
        let (_, claims) = login(&server, &rp, &Browser::new(), &mut wallet).await?;
        subs.push(claims.subject().as_str().to_owned());
    }
    assert_eq!(subs[0], subs[1], "one sector, one subject");
    assert_ne!(subs[0], subs[2], "a client of its own has its own");
    site.stop().await;
    server.stop().await;
    Ok(())
}
on_every_backend!(sector_identifier, a_sector_shares_its_subjects);

/// A request object by reference (OIDC Core §6.2): fetched from a URI the client registered
/// (`request_uris`), verified with its keys, and its parameters are the request; a URI it did
/// not register is refused without being fetched.
async fn request_objects_by_reference(backend: Backend) -> anyhow::Result<()> {
    use eid_core::jose::{es256_jwk, sign_es256};
    let server = server_with(backend, RegistrationPolicy::Open).await?;
    let key = p256::ecdsa::SigningKey::from_slice(&eid_core::crypto::random_bytes::<32>())?;
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    // The client's id is known only after registration, and the object names it: it goes on
    // the site after registering.
    let site = Site::start().await?;
    let request_uri = site.url("/request.jwt");
    let (status, registered) = post_registration(
        &server,
        None,
        &json!({
            "redirect_uris": [REDIRECT_URI],
            "id_token_signed_response_alg": "ES256",
            "jwks": {"keys": [es256_jwk("k1", key.verifying_key())]},
            "request_uris": [request_uri],
        }),
    )
    .await?;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["request_uris"], json!([request_uri]));
    let client_id = registered["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let object = sign_es256(
        &key,
        "k1",
        "oauth-authz-req+jwt",
        &json!({
            "iss": client_id, "aud": server.issuer(), "client_id": client_id,
            "exp": eid_server::now() + 600,
            "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
            "state": "by-reference", "nonce": "n-by-reference",
            "code_challenge": challenge.as_str(), "code_challenge_method": "S256",
        }),
    );
    site.put("/request.jwt", "application/oauth-authz-req+jwt", object);
    let metadata = discovery(&server).await?;
    assert_eq!(metadata["request_uri_parameter_supported"], true);
    assert_eq!(metadata["require_request_uri_registration"], true);

    let authorize = |uri: &str| {
        url::Url::parse_with_params(
            &format!("{}/authorize", server.issuer()),
            &[
                ("client_id", client_id.as_str()),
                ("request_uri", uri),
                ("redirect_uri", REDIRECT_URI),
                ("response_type", "code"),
                ("scope", "openid"),
            ],
        )
    };
    let browser = Browser::new();
    let refused = unchanged!(
        server,
        browser
            .http
            .get(authorize("https://elsewhere.example/request.jwt")?)
            .send()
            .await?
    );
    assert_eq!(refused.status(), 303);
    let error = Callback {
        url: url::Url::parse(&location(&refused)?)?,
    }
    .param("error");
    assert_eq!(error.as_deref(), Some("invalid_request_uri"));

    let mut wallet = proven_wallet(&server, 0).await?;
    let page = browser
        .open_login(&server, &authorize(&format!("{request_uri}#v1"))?)
        .await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    assert_eq!(callback.param("state").as_deref(), Some("by-reference"));
    let rp = Rp::discover(
        &server,
        client_id.clone(),
        registered["client_secret"].as_str().map(str::to_owned),
        JwsAlg::Es256,
    )
    .await?;
    let tokens = rp
        .exchange(&callback.param("code").expect("code"), verifier)
        .await?;
    rp.verify(&tokens, &openidconnect::Nonce::new("n-by-reference".into()))?;
    site.stop().await;
    server.stop().await;
    Ok(())
}
on_every_backend!(request_uri_by_reference, request_objects_by_reference);

/// Review 2026-12-07, L5: open registration took any name, bidi overrides and zero-width
/// characters included ("Inland Revenue Department <U+202E><U+200B>稅務局"), and the login page and the
/// phone showed it unqualified. Now every displayed name follows the device names' rule, a
/// self-registered service may not take an operator-registered one's name, and it is shown
/// as unverified on the login page and to the phone.
async fn self_registered_names_are_checked_and_shown_unverified(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = server_with(backend, RegistrationPolicy::Open).await?;
    let official = Rp::register(&server, "Inland Revenue Department", JwsAlg::Es256).await?;
    let spoof = "Inland Revenue Department \u{202E}\u{200B}稅務局";

    // The operator's command refuses the review's name too.
    let refused = server
        .register_client(eid_core::clients::ClientRegistration::new(
            spoof,
            &[REDIRECT_URI.to_owned()],
            JwsAlg::Es256,
        ))
        .await;
    assert!(
        refused.is_err(),
        "client add with bidi and zero-width characters"
    );

    // Registration: the review's name, and the operator's name in other case and spacing.
    for (name, why) in [
        (spoof, "text-direction or invisible"),
        ("Inland Revenue Department", "operator registered"),
        ("inland  revenue DEPARTMENT", "operator registered"),
        (
            "ＩｎｌａｎｄＲｅｖｅｎｕｅＤｅｐａｒｔｍｅｎｔ",
            "operator registered",
        ),
    ] {
        let body = json!({"redirect_uris": [REDIRECT_URI], "client_name": name});
        let (status, answer) = unchanged!(server, post_registration(&server, None, &body).await?);
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{name}"
        );
        let description = answer["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(why), "{name}: {description}");
    }

    // A name of its own is accepted, and shown as unverified.
    let (status, registered) = post_registration(
        &server,
        None,
        &json!({"redirect_uris": [REDIRECT_URI], "client_name": "Tax Refund Helper"}),
    )
    .await?;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = registered["registration_access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // ...and cannot be changed to the operator's client's name.
    let (status, answer) = unchanged!(server, {
        let response = reqwest::Client::new()
            .put(format!("{}/register/{client_id}", server.issuer()))
            .bearer_auth(&token)
            .json(
                &json!({"client_id": client_id, "redirect_uris": [REDIRECT_URI],
                "client_name": "INLAND REVENUE DEPARTMENT"}),
            )
            .send()
            .await?;
        (response.status().as_u16(), response.json::<Value>().await?)
    });
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("operator registered")),
        "{answer}"
    );

    let helper = Rp::discover(
        &server,
        client_id,
        registered["client_secret"].as_str().map(str::to_owned),
        JwsAlg::Rs256,
    )
    .await?;
    let anonymous = reqwest::Client::new();
    for (rp, verified) in [(&helper, false), (&official, true)] {
        let browser = Browser::new();
        let page = browser.open_login(&server, &rp.start().url).await?;
        let html = browser.http.get(&page.url).send().await?.text().await?;
        assert_eq!(html.contains("(unverified)"), !verified, "{html}");
        assert_eq!(html.contains("id=\"unverified\""), !verified);
        // The phone's view says it too.
        let view: Value = anonymous.get(&page.link).send().await?.json().await?;
        assert_eq!(view["service_verified"], json!(verified), "{view}");
        assert!(view["service"]["name"].is_string());
    }
    Ok(())
}
on_every_backend!(
    self_registered_names,
    self_registered_names_are_checked_and_shown_unverified
);
