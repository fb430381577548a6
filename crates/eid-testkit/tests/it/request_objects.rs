//! Authorization requests the client signs or pushes: request objects by value (RFC 9101,
//! signed with a key the client registered) and pushed authorization requests (RFC 9126),
//! with their refusals: a bad signature, algorithm, audience or issuer, an expired or unsigned
//! object, and a pushed request URI used twice or by another client.

use eid_core::clients::ClientRegistration;
use eid_core::jose::{es256_jwk, sign_es256};
use eid_core::keys::JwsAlg;
use eid_core::oidc::client_auth::JWT_BEARER;
use eid_core::store::TokenAuthMethod;
use eid_testkit::{Backend, TestServer};
use openidconnect::{AuthorizationCode, PkceCodeChallenge};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use url::Url;

use crate::support::*;

fn es256_key() -> SigningKey {
    SigningKey::from_slice(&eid_core::crypto::random_bytes::<32>()).expect("a P-256 scalar")
}

/// A client that signs: private_key_jwt, its ES256 key registered.
async fn signing_client(server: &TestServer, name: &str) -> anyhow::Result<(String, SigningKey)> {
    let key = es256_key();
    let mut registration = ClientRegistration::new(name, &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.auth_method = TokenAuthMethod::PrivateKeyJwt;
    registration.jwks = Some(json!({ "keys": [es256_jwk("k1", key.verifying_key())] }));
    Ok((
        server
            .register_client(registration)
            .await?
            .client
            .client_id
            .into_string(),
        key,
    ))
}

fn assertion(key: &SigningKey, client_id: &str, aud: &str) -> String {
    let now = eid_server::now();
    let jti = eid_core::crypto::random_token();
    sign_es256(
        key,
        "k1",
        "JWT",
        &json!({"iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + 60}),
    )
}

/// The parameters of a code flow with PKCE, as a JSON object (the request object's claims).
fn parameters(client_id: &str, challenge: &PkceCodeChallenge, state: &str) -> Value {
    json!({
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": state,
        "nonce": "n-0S6_WzA2Mj",
        "code_challenge": challenge.as_str(),
        "code_challenge_method": "S256",
    })
}

fn authorize_url(server: &TestServer, params: &[(&str, &str)]) -> anyhow::Result<Url> {
    Ok(Url::parse_with_params(
        &format!("{}/authorize", server.issuer()),
        params,
    )?)
}

/// Where `/authorize` sent the browser back, with an error.
async fn refused(browser: &Browser, url: &Url) -> anyhow::Result<(u16, Option<String>)> {
    let response = browser.http.get(url.as_str()).send().await?;
    let status = response.status().as_u16();
    if status != 303 {
        return Ok((status, None));
    }
    let callback = Callback {
        url: Url::parse(&location(&response)?)?,
    };
    Ok((status, callback.param("error")))
}

/// Exchanges the callback's code, authenticated with a private_key_jwt assertion, and
/// verifies the ID token (with the nonce the parameters carry).
async fn exchange_signed(
    rp: &Rp,
    key: &SigningKey,
    issuer: &str,
    callback: &Callback,
    verifier: openidconnect::PkceCodeVerifier,
) -> anyhow::Result<()> {
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(
            callback.param("code").expect("code"),
        ))?
        .set_pkce_verifier(verifier)
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", assertion(key, &rp.client_id, issuer))
        .request_async(&rp.http)
        .await
        .map_err(|e| anyhow::anyhow!("token request failed: {e:?}"))?;
    rp.verify(&tokens, &openidconnect::Nonce::new("n-0S6_WzA2Mj".into()))?;
    Ok(())
}

async fn signed_and_pushed_requests(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = server.issuer();
    let (id, key) = signing_client(&server, "Example Bank").await?;
    let (other_id, other_key) = signing_client(&server, "Example Shop").await?;
    let rp = Rp::discover(&server, id.clone(), None, JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let metadata = discovery(&server).await?;
    assert_eq!(metadata["request_parameter_supported"], true);
    assert_eq!(
        metadata["request_object_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256"])
    );
    assert_eq!(
        metadata["pushed_authorization_request_endpoint"],
        format!("{issuer}/par")
    );

    // A request object by value: its parameters are the ones that count (the outer scope is
    // narrower, and the state is only inside).
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let now = eid_server::now();
    let mut claims = parameters(&id, &challenge, "inside-state");
    claims["iss"] = json!(id);
    claims["aud"] = json!(issuer);
    claims["exp"] = json!(now + 300);
    let object = sign_es256(&key, "k1", "oauth-authz-req+jwt", &claims);
    let url = authorize_url(
        &server,
        &[
            ("client_id", &id),
            ("response_type", "code"),
            ("scope", "openid"),
            ("request", &object),
        ],
    )?;
    let page = browser.open_login(&server, &url).await?;
    let request = phone_approves(&mut wallet, &page).await?;
    assert!(
        request.items.iter().any(|i| i.claim == "name"),
        "the object's scope (profile) counts"
    );
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    assert_eq!(callback.param("state").as_deref(), Some("inside-state"));
    exchange_signed(&rp, &key, &issuer, &callback, verifier).await?;

    // Refused request objects: told at the outer redirect URI, which is registered.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let good = || {
        let mut c = parameters(&id, &challenge, "s");
        c["iss"] = json!(id);
        c["aud"] = json!(issuer);
        c["exp"] = json!(now + 300);
        c
    };
    let mut wrong_aud = good();
    wrong_aud["aud"] = json!("https://elsewhere.example");
    let mut expired = good();
    expired["exp"] = json!(now - 600);
    let mut other_iss = good();
    other_iss["iss"] = json!(other_id);
    let mut other_client = good();
    other_client["client_id"] = json!(other_id);
    // Security review 2026-12-07, I3: every object needs an `exp` (none lives for ever) and
    // is the whole request (RFC 9101 §6.3): a redirect URI outside it is not taken.
    let mut no_exp = good();
    no_exp.as_object_mut().expect("object").remove("exp");
    let mut no_redirect_uri = good();
    no_redirect_uri
        .as_object_mut()
        .expect("object")
        .remove("redirect_uri");
    let mut other_response_type = good();
    other_response_type["response_type"] = json!("id_token");
    let unsigned = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        eid_core::crypto::b64url(good().to_string().as_bytes())
    );
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good(),
        &jsonwebtoken::EncodingKey::from_secret(b"whatever"),
    )?;
    let cases = [
        (
            "signed with another key",
            sign_es256(&other_key, "k1", "JWT", &good()),
        ),
        ("an HMAC", hs256),
        ("unsigned", unsigned),
        (
            "for another audience",
            sign_es256(&key, "k1", "JWT", &wrong_aud),
        ),
        ("expired", sign_es256(&key, "k1", "JWT", &expired)),
        (
            "from another issuer",
            sign_es256(&key, "k1", "JWT", &other_iss),
        ),
        (
            "for another client",
            sign_es256(&key, "k1", "JWT", &other_client),
        ),
        ("without exp", sign_es256(&key, "k1", "JWT", &no_exp)),
        (
            "another response type than outside (OIDC Core §6.1)",
            sign_es256(&key, "k1", "JWT", &other_response_type),
        ),
    ];
    for (why, object) in cases {
        let url = authorize_url(
            &server,
            &[
                ("client_id", id.as_str()),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", REDIRECT_URI),
                ("request", &object),
            ],
        )?;
        let answer = unchanged!(server, refused(&browser, &url).await?);
        assert_eq!(
            answer,
            (303, Some("invalid_request_object".to_owned())),
            "{why}"
        );
    }
    // The request has no redirect URI, so it is refused on a page, not at the outer one.
    let url = authorize_url(
        &server,
        &[
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", REDIRECT_URI),
            ("request", &sign_es256(&key, "k1", "JWT", &no_redirect_uri)),
        ],
    )?;
    let answer = unchanged!(server, refused(&browser, &url).await?);
    assert_eq!(answer, (400, None), "without a redirect URI inside");
    // A `jti` is single-use: the same object opens one login, and is refused after.
    let mut once = good();
    once["jti"] = json!(eid_core::crypto::random_token());
    let object = sign_es256(&key, "k1", "JWT", &once);
    let url = authorize_url(
        &server,
        &[
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", REDIRECT_URI),
            ("request", &object),
        ],
    )?;
    Browser::new().open_login(&server, &url).await?;
    assert_eq!(
        refused(&Browser::new(), &url).await?,
        (303, Some("invalid_request_object".to_owned())),
        "a replayed request object"
    );
    // Without a registered outer redirect URI, the person is told instead.
    let url = authorize_url(
        &server,
        &[("client_id", id.as_str()), ("request", "not-a-jwt")],
    )?;
    assert_eq!(refused(&browser, &url).await?.0, 400);

    // A pushed authorization request: the parameters go straight to eid, authenticated; the
    // browser carries only the request URI.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let push = |form: Vec<(String, String)>| {
        let http = reqwest::Client::new();
        let url = format!("{issuer}/par");
        async move { http.post(url).form(&form).send().await }
    };
    let mut form: Vec<(String, String)> = parameters(&id, &challenge, "pushed-state")
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    form.push(("client_assertion_type".into(), JWT_BEARER.into()));
    form.push(("client_assertion".into(), assertion(&key, &id, &issuer)));
    let response = push(form.clone()).await?;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let pushed: Value = response.json().await?;
    let request_uri = pushed["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert_eq!(pushed["expires_in"], 60);
    // Another client cannot use it (and trying does not spend it).
    let stolen = authorize_url(
        &server,
        &[
            ("client_id", other_id.as_str()),
            ("request_uri", &request_uri),
        ],
    )?;
    assert_eq!(refused(&browser, &stolen).await?.0, 400);
    let url = authorize_url(
        &server,
        &[("client_id", id.as_str()), ("request_uri", &request_uri)],
    )?;
    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    // Until a code is issued from it, the URI may open the login again (a reload, another
    // tab); the login approved is the one the code comes from.
    let _first = browser.open_login(&server, &url).await?;
    let page = browser.open_login(&server, &url).await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    assert_eq!(callback.param("state").as_deref(), Some("pushed-state"));
    exchange_signed(&rp, &key, &issuer, &callback, verifier).await?;
    // Once a code is issued from it, the request URI is spent.
    let again = unchanged!(server, refused(&browser, &url).await?);
    assert_eq!(again.0, 400, "a reused request_uri");
    // With a registered redirect URI outside, the error goes there.
    let with_redirect = authorize_url(
        &server,
        &[
            ("client_id", id.as_str()),
            ("request_uri", &request_uri),
            ("redirect_uri", REDIRECT_URI),
        ],
    )?;
    assert_eq!(
        refused(&browser, &with_redirect).await?,
        (303, Some("invalid_request_uri".to_owned()))
    );
    // Request URIs eid did not hand out, nor the client registered, are not fetched.
    let remote = authorize_url(
        &server,
        &[
            ("client_id", id.as_str()),
            ("request_uri", "https://rp.example/request.jwt"),
            ("redirect_uri", REDIRECT_URI),
        ],
    )?;
    assert_eq!(
        refused(&browser, &remote).await?,
        (303, Some("invalid_request_uri".to_owned()))
    );

    // Pushes that are refused: unauthenticated, an unregistered redirect URI, a request_uri
    // pushed, a bad request (no PKCE). OAuth errors in JSON.
    let unauthenticated: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| !k.starts_with("client_assertion"))
        .cloned()
        .collect();
    assert_eq!(push(unauthenticated).await?.status(), 401);
    let with = |name: &str, value: &str| {
        let mut f: Vec<(String, String)> = form
            .iter()
            .filter(|(k, _)| k != name && k != "client_assertion")
            .cloned()
            .collect();
        f.push((name.to_owned(), value.to_owned()));
        f.push(("client_assertion".into(), assertion(&key, &id, &issuer)));
        f
    };
    for (why, form, error) in [
        (
            "unregistered redirect URI",
            with("redirect_uri", "https://evil.example/cb"),
            "invalid_request",
        ),
        (
            "a pushed request_uri",
            with("request_uri", &request_uri),
            "invalid_request",
        ),
        (
            "no PKCE",
            with("code_challenge_method", "plain"),
            "invalid_request",
        ),
    ] {
        // The client authenticated before its push was refused: the assertion's `jti` is
        // spent all the same (RFC 7523 §3; a refused request must not leave an assertion
        // that can be replayed with another), so only that replay marker may be written.
        let response = unchanged!(server, except["seen_jtis"], push(form).await?);
        assert_eq!(response.status(), 400, "{why}");
        let body: Value = response.json().await?;
        assert_eq!(body["error"], error, "{why}");
    }
    Ok(())
}
on_every_backend!(signed_and_pushed, signed_and_pushed_requests);
