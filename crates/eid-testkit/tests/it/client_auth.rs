//! Client authentication with JWTs (RFC 7523, OIDC Core §9): `private_key_jwt` (ES256, the
//! client's keys registered as a JWK set) and `client_secret_jwt` (HS256), over HTTP with the
//! `openidconnect` crate as the relying party; and the refusals: an expired, replayed,
//! misaddressed, unsigned or wrongly signed assertion, and a client authenticating otherwise
//! than it registered.

use eid_core::clients::ClientRegistration;
use eid_core::jose::{es256_jwk, sign_es256};
use eid_core::keys::JwsAlg;
use eid_core::oidc::client_auth::JWT_BEARER;
use eid_core::store::TokenAuthMethod;
use eid_core::time::UnixTime;
use eid_testkit::{Backend, TestServer};
use openidconnect::{AuthorizationCode, OAuth2TokenResponse};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

use crate::support::*;

fn es256_key() -> SigningKey {
    SigningKey::from_slice(&eid_core::crypto::random_bytes::<32>()).expect("a P-256 scalar")
}

/// The claims of a client assertion for `client_id`, addressed to `aud`.
fn claims(client_id: &str, aud: &str, jti: &str) -> Value {
    let now = eid_server::now();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + 60})
}

/// `POST /token` with a bogus code and the assertion: `invalid_grant` means the client was
/// authenticated, `invalid_client` that it was not.
async fn token_error(
    server: &TestServer,
    client_id: &str,
    assertion: &str,
) -> anyhow::Result<(u16, String)> {
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "no-such-code"),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &"v".repeat(43)),
            ("client_id", client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await?;
    Ok((
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    ))
}

async fn jwt_client_authentication(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = server.issuer();
    let key = es256_key();
    let jwk = serde_json::to_value(es256_jwk("k1", key.verifying_key()))?;
    let mut registration =
        ClientRegistration::new("Example Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.auth_method = TokenAuthMethod::PrivateKeyJwt;
    registration.jwks = Some(json!({ "keys": [jwk] }));
    let bank = server.register_client(registration).await?;
    let id = bank.client.client_id.clone();
    let rp = Rp::discover(&server, id.clone().into_string(), None, JwsAlg::Es256).await?;
    let metadata = discovery(&server).await?;
    for method in ["private_key_jwt", "client_secret_jwt"] {
        assert!(metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .is_some_and(|m| m.contains(&method.into())));
    }

    // A whole login, the code exchanged with a private_key_jwt assertion.
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let (start, callback, _) = login_to_callback(&server, &rp, &browser, &mut wallet).await?;
    let assertion = sign_es256(&key, "k1", "JWT", &claims(&id, &issuer, "login-1"));
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(
            callback.param("code").expect("code"),
        ))?
        .set_pkce_verifier(start.verifier)
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", assertion.clone())
        .request_async(&rp.http)
        .await
        .map_err(|e| anyhow::anyhow!("token request failed: {e:?}"))?;
    let claims_of_login = rp.verify(&tokens, &start.nonce)?;
    rp.userinfo(&tokens, &claims_of_login).await?;

    // The same assertion again is a replay, even addressed to another endpoint.
    let response = reqwest::Client::new()
        .post(format!("{issuer}/introspect"))
        .form(&[
            ("token", tokens.access_token().secret().as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), 401, "a replayed assertion");
    // A fresh one, naming the issuer as audience (FAPI 2.0) and found by its iss alone.
    let fresh = sign_es256(&key, "k1", "JWT", &claims(&id, &issuer, "introspect-1"));
    let response = reqwest::Client::new()
        .post(format!("{issuer}/introspect"))
        .form(&[
            ("token", tokens.access_token().secret().as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &fresh),
        ])
        .send()
        .await?;
    let body: Value = response.json().await?;
    assert_eq!(body["active"], true);

    // Refusals, each answered invalid_client and changing nothing stored.
    let token_endpoint = format!("{issuer}/token");
    let now = eid_server::now();
    let mut expired = claims(&id, &token_endpoint, "expired");
    expired["iat"] = json!(now - 600);
    expired["exp"] = json!(now - 300);
    let mut long = claims(&id, &token_endpoint, "long");
    long["exp"] = json!(now + 3600);
    let mut wrong_sub = claims(&id, &token_endpoint, "sub");
    wrong_sub["sub"] = json!("someone-else");
    let mut no_jti = claims(&id, &token_endpoint, "x");
    no_jti.as_object_mut().expect("object").remove("jti");
    // A date beyond reason once made the lifetime check overflow (a fuzzing find).
    let mut huge_iat = claims(&id, &token_endpoint, "huge-iat");
    huge_iat["iat"] = json!(-797_777_777_777_777_775_564_800.0);
    let other_key = es256_key();
    let payload = claims(&id, &token_endpoint, "none");
    let unsigned = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        eid_core::crypto::b64url(payload.to_string().as_bytes())
    );
    let hs256_with_public_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(&id, &token_endpoint, "hs"),
        &jsonwebtoken::EncodingKey::from_secret(jwk.to_string().as_bytes()),
    )?;
    let refused = [
        ("expired", sign_es256(&key, "k1", "JWT", &expired)),
        ("too long", sign_es256(&key, "k1", "JWT", &long)),
        (
            "another audience",
            sign_es256(&key, "k1", "JWT", &claims(&id, "https://rp.example", "aud")),
        ),
        (
            "sub is not the client",
            sign_es256(&key, "k1", "JWT", &wrong_sub),
        ),
        ("no jti", sign_es256(&key, "k1", "JWT", &no_jti)),
        (
            "an iat beyond reason",
            sign_es256(&key, "k1", "JWT", &huge_iat),
        ),
        (
            "an unregistered key",
            sign_es256(&other_key, "k1", "JWT", &claims(&id, &token_endpoint, "k")),
        ),
        ("unsigned (alg none)", unsigned),
        ("HMAC over the public key", hs256_with_public_key),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (why, assertion) in refused {
        let answer = unchanged!(server, token_error(&server, &id, &assertion).await?);
        assert_eq!(answer, (401, "invalid_client".to_owned()), "{why}");
    }
    // A good assertion passes client authentication (the bogus code then fails), once.
    let good = sign_es256(&key, "k1", "JWT", &claims(&id, &token_endpoint, "once"));
    assert_eq!(
        token_error(&server, &id, &good).await?,
        (400, "invalid_grant".to_owned())
    );
    assert_eq!(
        token_error(&server, &id, &good).await?,
        (401, "invalid_client".to_owned()),
        "replayed"
    );
    // The secret it was given does not authenticate a private_key_jwt client.
    let response = reqwest::Client::new()
        .post(&token_endpoint)
        .basic_auth(&id, Some(&bank.client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await?;
    assert_eq!(response.status(), 401);

    // client_secret_jwt: an HS256 assertion under the client's secret.
    let mut registration =
        ClientRegistration::new("Example Shop", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.auth_method = TokenAuthMethod::ClientSecretJwt;
    let shop = server.register_client(registration).await?;
    let shop_id = shop.client.client_id.clone();
    let hs256 = |secret: &str, jti: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims(&shop_id, &token_endpoint, jti),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
    };
    assert_eq!(
        token_error(&server, &shop_id, &hs256(&shop.client_secret, "s1")?).await?,
        (400, "invalid_grant".to_owned()),
        "authenticated"
    );
    assert_eq!(
        token_error(&server, &shop_id, &hs256("a wrong secret", "s2")?).await?,
        (401, "invalid_client".to_owned())
    );
    // Its secret alone is not how it registered to authenticate.
    let response = reqwest::Client::new()
        .post(&token_endpoint)
        .basic_auth(&shop_id, Some(&shop.client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    // A private_key_jwt client's assertion cannot be an HMAC under anything.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(&id, &token_endpoint, "forged"),
        &jsonwebtoken::EncodingKey::from_secret(shop.client_secret.as_bytes()),
    )?;
    assert_eq!(
        token_error(&server, &id, &forged).await?,
        (401, "invalid_client".to_owned())
    );
    Ok(())
}
on_every_backend!(jwt_client_auth, jwt_client_authentication);

/// `private_key_jwt` with keys at a `jwks_uri`: fetched at registration (a URI that does not
/// answer with keys is refused), used for assertions, cached, and fetched again when an
/// assertion names a key the cached set lacks (the client rotated), at most every 30 seconds.
async fn keys_at_a_jwks_uri(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let old = es256_key();
    let site = Site::start().await?;
    site.json(
        "/jwks",
        &json!({ "keys": [es256_jwk("k1", old.verifying_key())] }),
    );

    // Registration checks the URI answers with keys, and refuses keys given twice.
    let refused = |uri: String, jwks: Option<Value>| {
        let mut registration =
            ClientRegistration::new("Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
        registration.auth_method = TokenAuthMethod::PrivateKeyJwt;
        registration.jwks_uri = Some(uri);
        registration.jwks = jwks;
        registration
    };
    assert!(server
        .register_client(refused(site.url("/jwks"), Some(json!({"keys": []}))))
        .await
        .is_err());
    let client_id = server
        .register_client(refused(site.url("/jwks"), None))
        .await?
        .client
        .client_id;
    let issuer = server.issuer();
    let token_url = format!("{issuer}/token");
    let assertion = |key: &SigningKey, kid: &str, at: UnixTime| {
        let jti = eid_core::crypto::random_token();
        sign_es256(
            key,
            kid,
            "JWT",
            &json!({"iss": client_id, "sub": client_id, "aud": token_url, "jti": jti,
                "iat": at, "exp": at + 60}),
        )
    };
    assert_eq!(
        token_error(
            &server,
            &client_id,
            &assertion(&old, "k1", eid_server::now())
        )
        .await?,
        (400, "invalid_grant".to_owned()),
        "authenticated with the fetched key"
    );

    // The client rotates to k2. An assertion by k2 is refused while the cached set is fresh,
    // and taken once it is 30 seconds old (checked with the provider's own clock argument).
    let new = es256_key();
    site.json(
        "/jwks",
        &json!({ "keys": [es256_jwk("k2", new.verifying_key())] }),
    );
    let provider = server.provider();
    let id = client_id.clone();
    let now = eid_server::now();
    let signed_now = assertion(&new, "k2", now + 10);
    let signed_later = assertion(&new, "k2", now + 31);
    let (soon, later) = tokio::task::spawn_blocking(move || {
        let introspect = |assertion: &str, at: UnixTime| {
            let params: eid_core::oidc::revoke::TokenQuery = serde_json::from_value(json!({
                "token": "none",
                "client_id": id,
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion,
            }))
            .expect("params");
            provider.introspect(None, &params, at).map(|_| ())
        };
        (
            introspect(&signed_now, now + 10),
            introspect(&signed_later, now + 31),
        )
    })
    .await?;
    assert!(
        matches!(soon, Err(eid_core::Error::OAuth(ref e)) if e.code == eid_core::OAuthErrorCode::InvalidClient),
        "{soon:?}"
    );
    assert!(later.is_ok(), "the rotated key is fetched: {later:?}");
    site.stop().await;
    server.stop().await;
    Ok(())
}
on_every_backend!(jwks_uri_keys, keys_at_a_jwks_uri);
