//! DPoP (RFC 9449) and the FAPI 2.0 Security Profile: a FAPI 2.0 client's login end to end
//! (PAR with a DPoP proof, the phone's approval, the code exchanged by the `openidconnect`
//! crate with `private_key_jwt` and a proof, userinfo with the DPoP scheme, a refresh with a new
//! key), and the refusals: a proof with a wrong `htm`, `htu` or `ath`, an old `iat`, no nonce,
//! a replayed `jti`, private key material; a bound token presented as a bearer token; a code
//! redeemed with another key; a FAPI 2.0 client that does not push its request, sends no proof,
//! addresses its assertion to an endpoint, or signs it RS256. A DPoP-bound token asks for a
//! signature only with a proof of that request.

use eid_core::clients::ClientRegistration;
use eid_core::crypto::{b64url, random_token, sha256};
use eid_core::jose::{es256_jwk, sign_es256};
use eid_core::keys::{JwsAlg, TokenKeys as _};
use eid_core::oidc::client_auth::JWT_BEARER;
use eid_core::store::{ClientProfile, TokenAuthMethod};
use eid_testkit::{Backend, TestServer};
use openidconnect::{AuthorizationCode, Nonce, OAuth2TokenResponse, PkceCodeChallenge};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use url::Url;

use crate::support::*;

fn p256_key() -> SigningKey {
    SigningKey::from_slice(&eid_core::crypto::random_bytes::<32>()).expect("a P-256 scalar")
}

use eid_core::jose::sign_es256_with_header as sign;

/// A client's DPoP key, and the proofs it makes.
struct DpopKey {
    key: SigningKey,
    jwk: Value,
}

impl DpopKey {
    fn new() -> Self {
        let key = p256_key();
        let public = es256_jwk("", key.verifying_key());
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": public.x, "y": public.y});
        Self { key, jwk }
    }

    /// RFC 7638: SHA-256 of the required members in lexicographic order.
    fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.jwk["x"].as_str().unwrap_or_default(),
            self.jwk["y"].as_str().unwrap_or_default()
        );
        b64url(&sha256(canonical.as_bytes()))
    }

    fn claims(htm: &str, htu: &str, nonce: Option<&str>, token: Option<&str>) -> Value {
        let mut claims = json!({
            "jti": random_token(), "htm": htm, "htu": htu, "iat": eid_server::now(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(token) = token {
            claims["ath"] = b64url(&sha256(token.as_bytes())).into();
        }
        claims
    }

    fn sign(&self, claims: &Value) -> String {
        sign(
            &self.key,
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}),
            claims,
        )
    }

    fn proof(&self, htm: &str, htu: &str, nonce: Option<&str>, token: Option<&str>) -> String {
        self.sign(&Self::claims(htm, htu, nonce, token))
    }
}

/// A FAPI 2.0 client: private_key_jwt with its ES256 key, ES256 ID tokens.
async fn fapi_client(server: &TestServer) -> anyhow::Result<(String, SigningKey)> {
    let key = p256_key();
    let mut registration =
        ClientRegistration::new("Example Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.auth_method = TokenAuthMethod::PrivateKeyJwt;
    registration.jwks = Some(json!({ "keys": [es256_jwk("k1", key.verifying_key())] }));
    registration.profile = ClientProfile::Fapi2;
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

fn assertion_to(key: &SigningKey, client_id: &str, aud: Value) -> String {
    let now = eid_server::now();
    sign_es256(
        key,
        "k1",
        "JWT",
        &json!({"iss": client_id, "sub": client_id, "aud": aud, "jti": random_token(), "iat": now, "exp": now + 60}),
    )
}

fn nonce_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn error_of(response: reqwest::Response) -> anyhow::Result<(u16, String)> {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    Ok((
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// A FAPI 2.0 client's session with eid: its keys, the last nonce eid gave.
struct Fapi<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    client_id: String,
    key: SigningKey,
    nonce: Option<String>,
}

impl<'a> Fapi<'a> {
    /// A FAPI 2.0 client registered at `server`, with no nonce yet.
    async fn registered(server: &'a TestServer) -> anyhow::Result<Self> {
        let (client_id, key) = fapi_client(server).await?;
        Ok(Self {
            server,
            http: reqwest::Client::new(),
            client_id,
            key,
            nonce: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.issuer())
    }

    fn assertion(&self) -> String {
        assertion_to(&self.key, &self.client_id, self.server.issuer().into())
    }

    /// Posts `form` to `path` with the client's assertion and a proof by `dpop` (with the last
    /// nonce); keeps the nonce eid answers with.
    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        dpop: Option<&DpopKey>,
    ) -> anyhow::Result<reqwest::Response> {
        let assertion = self.assertion();
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.extend([
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ]);
        let mut request = self.http.post(self.url(path)).form(&form);
        if let Some(dpop) = dpop {
            request = request.header(
                "DPoP",
                dpop.proof("POST", &self.url(path), self.nonce.as_deref(), None),
            );
        }
        let response = request.send().await?;
        if let Some(nonce) = nonce_of(&response) {
            self.nonce = Some(nonce);
        }
        Ok(response)
    }

    /// Pushes an authorization request, the code bound to `dpop` by the proof.
    async fn push(
        &mut self,
        challenge: &PkceCodeChallenge,
        scope: &str,
        dpop: &DpopKey,
    ) -> anyhow::Result<String> {
        let client_id = self.client_id.clone();
        let form = [
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", "fapi-state"),
            ("nonce", "fapi-nonce"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let response = self.post("/par", &form, Some(dpop)).await?;
        anyhow::ensure!(
            response.status() == 201,
            "PAR answered {}",
            response.status()
        );
        let pushed: Value = response.json().await?;
        Ok(pushed["request_uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

/// The browser carries the request URI to eid; the phone approves; the callback.
async fn approve(
    server: &TestServer,
    wallet: &mut eid_wallet::Wallet,
    client_id: &str,
    request_uri: &str,
) -> anyhow::Result<Callback> {
    let browser = Browser::new();
    let url = Url::parse_with_params(
        &format!("{}/authorize", server.issuer()),
        &[("client_id", client_id), ("request_uri", request_uri)],
    )?;
    let page = browser.open_login(server, &url).await?;
    phone_approves(wallet, &page).await?;
    Ok(continue_login(server, &browser, &page.url).await?.0)
}

/// An HTTP client for the `openidconnect` crate that adds a DPoP proof to each request, and
/// answers eid's `use_dpop_nonce` by retrying once with the nonce (RFC 9449 §8).
fn dpop_http<'k>(
    dpop: &'k DpopKey,
    nonce: Option<String>,
) -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, std::io::Error>> + 'k>,
> + 'k {
    move |request: openidconnect::HttpRequest| {
        let nonce = nonce.clone();
        Box::pin(async move {
            let http = reqwest::Client::new();
            let mut nonce = nonce;
            for _ in 0..2 {
                let proof = dpop.proof(
                    request.method().as_str(),
                    &request.uri().to_string(),
                    nonce.as_deref(),
                    None,
                );
                let mut outgoing = http
                    .request(request.method().clone(), request.uri().to_string())
                    .header("DPoP", proof)
                    .body(request.body().clone());
                for (name, value) in request.headers() {
                    outgoing = outgoing.header(name, value);
                }
                let response = outgoing.send().await.map_err(std::io::Error::other)?;
                let status = response.status();
                let given = nonce_of(&response);
                let body = response.bytes().await.map_err(std::io::Error::other)?;
                let asks_nonce = status == 400
                    && serde_json::from_slice::<Value>(&body)
                        .is_ok_and(|b| b["error"] == "use_dpop_nonce");
                if asks_nonce && given.is_some() {
                    nonce = given;
                    continue;
                }
                return openidconnect::http::Response::builder()
                    .status(status.as_u16())
                    .header("content-type", "application/json")
                    .body(body.to_vec())
                    .map_err(std::io::Error::other);
            }
            Err(std::io::Error::other("eid asked for a nonce twice"))
        })
    }
}

/// The `openidconnect` crate exchanges a code with a `private_key_jwt` assertion, through an
/// HTTP client that adds DPoP proofs by `dpop`.
async fn exchange(
    rp: &Rp,
    code: &str,
    assertion: String,
    dpop: &DpopKey,
    nonce: Option<String>,
    verifier: openidconnect::PkceCodeVerifier,
) -> anyhow::Result<openidconnect::core::CoreTokenResponse> {
    let http = dpop_http(dpop, nonce);
    rp.client
        .exchange_code(AuthorizationCode::new(code.to_owned()))?
        .set_pkce_verifier(verifier)
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", assertion)
        .request_async(&http)
        .await
        .map_err(|e| anyhow::anyhow!("token request failed: {e:?}"))
}

async fn fapi_login(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = server.issuer();
    let mut fapi = Fapi::registered(&server).await?;
    let client_id = fapi.client_id.clone();
    let mut wallet = proven_wallet(&server, 0).await?;
    let metadata = discovery(&server).await?;
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "PS256"])
    );
    let dpop = DpopKey::new();

    // The first proof has no nonce: eid asks for one (400 use_dpop_nonce, DPoP-Nonce), before
    // authenticating the client, so the retry may carry the same assertion.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let form = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile offline_access"),
        ("state", "fapi-state"),
        ("nonce", "fapi-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("client_assertion_type", JWT_BEARER),
    ];
    let assertion = fapi.assertion();
    let mut with_assertion = form.to_vec();
    with_assertion.push(("client_assertion", &assertion));
    let par = format!("{issuer}/par");
    let first = unchanged!(
        server,
        fapi.http
            .post(&par)
            .header("DPoP", dpop.proof("POST", &par, None, None))
            .form(&with_assertion)
            .send()
            .await?
    );
    let nonce = nonce_of(&first).expect("a DPoP-Nonce with use_dpop_nonce");
    assert_eq!(error_of(first).await?, (400, "use_dpop_nonce".into()));
    let second = fapi
        .http
        .post(&par)
        .header("DPoP", dpop.proof("POST", &par, Some(&nonce), None))
        .form(&with_assertion)
        .send()
        .await?;
    assert_eq!(
        second.status(),
        201,
        "the same assertion, now with the nonce"
    );
    fapi.nonce = nonce_of(&second);
    let request_uri = second.json::<Value>().await?["request_uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let callback = approve(&server, &mut wallet, &client_id, &request_uri).await?;
    assert_eq!(callback.param("iss").as_deref(), Some(issuer.as_str()));
    assert_eq!(callback.param("state").as_deref(), Some("fapi-state"));
    let code = callback.param("code").expect("code");

    // The code is bound to the PAR proof's key: another key cannot redeem it (and trying does
    // not spend it).
    let other = DpopKey::new();
    let rp = Rp::discover(&server, client_id.clone(), None, JwsAlg::Es256).await?;
    let stolen = exchange(
        &rp,
        &code,
        fapi.assertion(),
        &other,
        fapi.nonce.clone(),
        openidconnect::PkceCodeVerifier::new(verifier.secret().clone()),
    )
    .await
    .expect_err("another key");
    assert!(
        stolen.to_string().contains("invalid_dpop_proof"),
        "{stolen}"
    );

    // The openidconnect crate exchanges the code with private_key_jwt and the right key.
    let tokens = exchange(
        &rp,
        &code,
        fapi.assertion(),
        &dpop,
        fapi.nonce.clone(),
        verifier,
    )
    .await?;
    // (The crate reads token types without regard to case.)
    assert!(tokens.token_type().as_ref().eq_ignore_ascii_case("DPoP"));
    let claims = rp.verify(&tokens, &Nonce::new("fapi-nonce".into()))?;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens
        .refresh_token()
        .expect("offline access")
        .secret()
        .clone();

    // Userinfo: the DPoP scheme (any case) with a proof binding the token (ath).
    let userinfo = format!("{issuer}/userinfo");
    let call = |scheme: &str, proof: Option<String>| {
        let mut request = fapi
            .http
            .get(&userinfo)
            .header("Authorization", format!("{scheme} {access}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send()
    };
    let nonce = fapi.nonce.clone();
    let good = || dpop.proof("GET", &userinfo, nonce.as_deref(), Some(&access));
    let answer = call("dpOp", Some(good())).await?;
    assert_eq!(answer.status(), 200);
    let info: Value = answer.json().await?;
    assert_eq!(info["sub"], claims.subject().as_str());

    // Refused at userinfo: 401 with a DPoP challenge naming the error.
    let challenge_of = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let as_bearer = call("Bearer", None).await?;
    assert_eq!(as_bearer.status(), 401, "a bound token as a bearer token");
    assert!(challenge_of(&as_bearer).contains("invalid_token"));
    let old = {
        let mut c = DpopKey::claims("GET", &userinfo, nonce.as_deref(), Some(&access));
        c["iat"] = json!(eid_server::now() - 600);
        dpop.sign(&c)
    };
    let cases = [
        ("no proof", None, "invalid_dpop_proof"),
        (
            "a wrong ath",
            Some(dpop.proof("GET", &userinfo, nonce.as_deref(), Some("another token"))),
            "invalid_dpop_proof",
        ),
        (
            "a wrong htm",
            Some(dpop.proof("POST", &userinfo, nonce.as_deref(), Some(&access))),
            "invalid_dpop_proof",
        ),
        (
            "a wrong htu",
            Some(dpop.proof(
                "GET",
                &format!("{issuer}/token"),
                nonce.as_deref(),
                Some(&access),
            )),
            "invalid_dpop_proof",
        ),
        ("an old iat", Some(old), "invalid_dpop_proof"),
        (
            "another key",
            Some(other.proof("GET", &userinfo, nonce.as_deref(), Some(&access))),
            "invalid_dpop_proof",
        ),
        (
            "no nonce",
            Some(dpop.proof("GET", &userinfo, None, Some(&access))),
            "use_dpop_nonce",
        ),
    ];
    for (why, proof, error) in cases {
        let answer = call("DPoP", proof).await?;
        assert_eq!(answer.status(), 401, "{why}");
        let challenge = challenge_of(&answer);
        assert!(challenge.starts_with("DPoP "), "{why}: {challenge}");
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{why}: {challenge}"
        );
        assert!(nonce_of(&answer).is_some(), "{why}: a DPoP-Nonce");
    }
    // A proof is used once.
    let once = good();
    assert_eq!(call("DPoP", Some(once.clone())).await?.status(), 200);
    let replayed = call("DPoP", Some(once)).await?;
    assert_eq!(replayed.status(), 401, "a replayed proof");
    assert!(challenge_of(&replayed).contains("invalid_dpop_proof"));

    // Introspection names the key (cnf.jkt) and the token type.
    let introspected: Value = fapi
        .post("/introspect", &[("token", &access)], None)
        .await?
        .json()
        .await?;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], dpop.thumbprint());

    // A refresh with a new key (FAPI 2.0 clients may change keys): the new access token is
    // bound to it; the refresh token is not rotated and stays good.
    let renewed = DpopKey::new();
    for _ in 0..2 {
        let response = fapi
            .post(
                "/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                Some(&renewed),
            )
            .await?;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await?;
        assert_eq!(body["token_type"], "DPoP");
        assert!(body.get("refresh_token").is_none(), "no rotation: {body}");
        let introspected: Value = fapi
            .post(
                "/introspect",
                &[("token", body["access_token"].as_str().unwrap_or_default())],
                None,
            )
            .await?
            .json()
            .await?;
        assert_eq!(introspected["cnf"]["jkt"], renewed.thumbprint());
    }
    // Without a proof, a FAPI 2.0 client's token request is refused.
    let bare = fapi
        .post(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            None,
        )
        .await?;
    assert_eq!(error_of(bare).await?, (400, "invalid_request".into()));
    server.stop().await;
    Ok(())
}

/// Proofs refused at the token endpoint, and the FAPI 2.0 client's own refusals.
async fn fapi_refusals(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = server.issuer();
    let mut fapi = Fapi::registered(&server).await?;
    let client_id = fapi.client_id.clone();
    let mut wallet = proven_wallet(&server, 0).await?;
    let dpop = DpopKey::new();
    // Get a nonce (the answer to a proof without one).
    let probe = fapi
        .post("/token", &[("grant_type", "refresh_token")], Some(&dpop))
        .await?;
    assert_eq!(error_of(probe).await?, (400, "use_dpop_nonce".into()));

    // A FAPI 2.0 client must push its requests: a plain one is refused at its redirect URI.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let plain = Url::parse_with_params(
        &format!("{issuer}/authorize"),
        &[
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )?;
    let refused = unchanged!(server, Browser::new().http.get(plain).send().await?);
    assert_eq!(refused.status(), 303);
    let callback = Callback {
        url: Url::parse(&location(&refused)?)?,
    };
    assert_eq!(callback.param("error").as_deref(), Some("invalid_request"));

    // Its assertions are addressed to the issuer alone, as a string.
    for aud in [
        json!(format!("{issuer}/par")),
        json!(format!("{issuer}/token")),
        json!([issuer, format!("{issuer}/token")]),
    ] {
        let form = [
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                &assertion_to(&fapi.key, &client_id, aud.clone()),
            ),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let answer = unchanged!(
            server,
            fapi.http
                .post(format!("{issuer}/par"))
                .form(&form)
                .send()
                .await?
        );
        assert_eq!(
            error_of(answer).await?,
            (401, "invalid_client".into()),
            "aud {aud}"
        );
    }

    // Its assertions are PS256 or ES256: a client holding an RSA and an EC key is refused its
    // RS256 assertion and taken with its ES256 one.
    let keyring = eid_core::custody::Keyring::new(
        eid_core::crypto::MasterKey::from_bytes([7u8; 32])
            .derive_keys()
            .data,
        None,
    );
    let (both, _) = eid_core::keys::StoredKeys::generate(&keyring, eid_server::now())?;
    let mut registration =
        ClientRegistration::new("RSA Bank", &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.auth_method = TokenAuthMethod::PrivateKeyJwt;
    registration.jwks = Some(serde_json::to_value(both.jwks())?);
    registration.profile = ClientProfile::Fapi2;
    let rsa_client = server.register_client(registration).await?.client.client_id;
    for (alg, status) in [(JwsAlg::Rs256, 401), (JwsAlg::Es256, 201)] {
        let now = eid_server::now();
        let assertion = eid_core::keys::sign_jwt(
            &both,
            alg,
            &json!({"iss": rsa_client, "sub": rsa_client, "aud": issuer, "jti": random_token(),
                "iat": now, "exp": now + 60}),
        )?;
        let push = fapi.http.post(format!("{issuer}/par")).form(&[
            ("client_id", rsa_client.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        // The refusal stores nothing (its assertion's jti is not even spent).
        let answer = match alg {
            JwsAlg::Rs256 => unchanged!(server, push.send().await?),
            _ => push.send().await?,
        };
        assert_eq!(
            answer.status(),
            status,
            "a FAPI 2.0 client's {alg:?} assertion"
        );
    }

    // A pushed request whose dpop_jkt is not the proof's key is refused.
    let form = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("dpop_jkt", &DpopKey::new().thumbprint()),
    ];
    let mismatched = fapi.post("/par", &form, Some(&dpop)).await?;
    assert_eq!(
        error_of(mismatched).await?,
        (400, "invalid_dpop_proof".into())
    );

    // A login whose code is bound to the key.
    let request_uri = fapi.push(&challenge, "openid", &dpop).await?;
    let callback = approve(&server, &mut wallet, &client_id, &request_uri).await?;
    let code = callback.param("code").expect("code");
    let token_url = format!("{issuer}/token");
    let nonce = fapi.nonce.clone();
    let code_form = |proof: Option<String>| {
        let assertion = fapi.assertion();
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("redirect_uri".to_owned(), REDIRECT_URI.to_owned()),
            ("code_verifier".to_owned(), verifier.secret().clone()),
            ("client_assertion_type".to_owned(), JWT_BEARER.to_owned()),
            ("client_assertion".to_owned(), assertion),
        ];
        let mut request = fapi.http.post(&token_url).form(&form);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send()
    };
    let with_claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = DpopKey::claims("POST", &token_url, nonce.as_deref(), None);
        change(&mut claims);
        dpop.sign(&claims)
    };
    let private_jwk = {
        let mut jwk = dpop.jwk.clone();
        jwk["d"] = b64url(&dpop.key.to_bytes()).into();
        sign(
            &dpop.key,
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
            &DpopKey::claims("POST", &token_url, nonce.as_deref(), None),
        )
    };
    // A proof is good for one request: this one is spent by a request that fails after it.
    let replayed = dpop.proof("POST", &token_url, nonce.as_deref(), None);
    let spent = fapi
        .http
        .post(&token_url)
        .header("DPoP", replayed.clone())
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await?;
    assert_eq!(error_of(spent).await?, (401, "invalid_client".into()));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a wrong htm",
            with_claims(&|c| c["htm"] = "GET".into()),
            "invalid_dpop_proof",
        ),
        (
            "a wrong htu",
            with_claims(&|c| c["htu"] = format!("{issuer}/par").into()),
            "invalid_dpop_proof",
        ),
        (
            "an old iat",
            with_claims(&|c| c["iat"] = (eid_server::now() - 300).secs().into()),
            "invalid_dpop_proof",
        ),
        (
            "an iat in the future",
            with_claims(&|c| c["iat"] = (eid_server::now() + 300).secs().into()),
            "invalid_dpop_proof",
        ),
        (
            "no nonce",
            with_claims(&|c| {
                c.as_object_mut().map(|m| m.remove("nonce"));
            }),
            "use_dpop_nonce",
        ),
        (
            "a nonce eid did not give",
            with_claims(&|c| c["nonce"] = "made-up".into()),
            "use_dpop_nonce",
        ),
        (
            "no jti",
            with_claims(&|c| {
                c.as_object_mut().map(|m| m.remove("jti"));
            }),
            "invalid_dpop_proof",
        ),
        (
            "a private key in the header",
            private_jwk,
            "invalid_dpop_proof",
        ),
        (
            "the wrong typ",
            sign(
                &dpop.key,
                &json!({"typ": "JWT", "alg": "ES256", "jwk": dpop.jwk}),
                &DpopKey::claims("POST", &token_url, nonce.as_deref(), None),
            ),
            "invalid_dpop_proof",
        ),
        ("a replayed proof", replayed, "invalid_dpop_proof"),
        ("not a JWT", "not-a-jwt".into(), "invalid_dpop_proof"),
    ];
    for (why, proof, error) in cases {
        let answer = unchanged!(server, code_form(Some(proof)).await?);
        assert_eq!(error_of(answer).await?, (400, error.to_owned()), "{why}");
    }
    // Without a proof: refused (the client's tokens are DPoP-bound).
    assert_eq!(
        error_of(code_form(None).await?).await?,
        (400, "invalid_request".into())
    );
    // With the right proof the code is redeemed, the refusals having spent nothing.
    let redeemed = code_form(Some(dpop.proof("POST", &token_url, nonce.as_deref(), None))).await?;
    assert_eq!(redeemed.status(), 200);
    let body: Value = redeemed.json().await?;
    assert_eq!(body["token_type"], "DPoP");
    server.stop().await;
    Ok(())
}

on_every_backend!(fapi2_login_with_dpop, fapi_login);
on_every_backend!(dpop_and_fapi2_refusals, fapi_refusals);

/// Review 2026-12-07, L1: a DPoP-bound access token asks for a signature only with a proof of
/// the signing request by its key (RFC 9449 §7: `htu` the signing endpoint, `ath` the token,
/// eid's nonce), checked as userinfo checks it; presented as a bearer token it is refused.
async fn a_bound_token_asks_for_a_signature_with_its_proof(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = server.issuer();
    let mut registration = ClientRegistration::new(
        "Lands Department",
        &[REDIRECT_URI.to_owned()],
        JwsAlg::Es256,
    );
    registration.signing = true;
    registration.dpop_bound_access_tokens = true;
    let rp = registered_rp(&server, registration).await?;
    let (mut wallet, _officer) = plus_wallet(&server, 0).await?;
    let (start, callback, _) = login_to_callback_with(
        &server,
        &rp,
        &Browser::new(),
        &mut wallet,
        &[("scope", "openid sign")],
    )
    .await?;
    let code = callback.param("code").unwrap_or_default();
    let dpop = DpopKey::new();
    // The code exchange with a proof: eid asks for its nonce first.
    let token_url = format!("{issuer}/token");
    let mut nonce = None;
    let mut tokens = Value::Null;
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .post(&token_url)
            .basic_auth(&rp.client_id, Some(&rp.client_secret))
            .header(
                "DPoP",
                dpop.proof("POST", &token_url, nonce.as_deref(), None),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", start.verifier.secret().as_str()),
            ])
            .send()
            .await?;
        let given = nonce_of(&response);
        tokens = response.json().await?;
        if tokens["error"] != "use_dpop_nonce" {
            break;
        }
        nonce = given;
    }
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    assert_eq!(tokens["scope"], "openid sign", "{tokens}");
    let token = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let signing_url = format!("{issuer}/signing/requests");
    let form = [
        ("access_token", token.as_str()),
        ("document_name", "Lease"),
        ("hash", &b64url(&sha256(b"a lease"))),
        ("hash_alg", "SHA-256"),
    ];
    let ask = |proof: Option<String>| {
        let mut request = reqwest::Client::new()
            .post(&signing_url)
            .basic_auth(&rp.client_id, Some(&rp.client_secret))
            .form(&form);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send()
    };

    // As a bearer token: refused, and nothing is stored.
    let bearer = unchanged!(server, error_of(ask(None).await?).await?);
    assert_eq!(bearer, (401, "invalid_token".to_owned()));
    // A proof for another request (userinfo's URL) is refused too.
    let userinfo_url = format!("{issuer}/userinfo");
    let first = ask(Some(dpop.proof(
        "POST",
        &userinfo_url,
        nonce.as_deref(),
        Some(&token),
    )))
    .await?;
    let nonce = nonce_of(&first).or(nonce);
    let (status, error) = error_of(first).await?;
    assert!(
        status == 400 && ["invalid_dpop_proof", "use_dpop_nonce"].contains(&error.as_str()),
        "{status} {error}"
    );
    // With a proof of this request by the token's key: asked.
    let asked = ask(Some(dpop.proof(
        "POST",
        &signing_url,
        nonce.as_deref(),
        Some(&token),
    )))
    .await?;
    assert!(
        nonce_of(&asked).is_some(),
        "the answer gives the next nonce"
    );
    let status = asked.status().as_u16();
    let body: Value = asked.json().await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["verification_code"].as_str().map(str::len), Some(4));
    server.stop().await;
    Ok(())
}

on_every_backend!(
    a_dpop_bound_token_asks_for_a_signature_with_its_proof,
    a_bound_token_asks_for_a_signature_with_its_proof
);
