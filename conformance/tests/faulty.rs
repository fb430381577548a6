//! The suite can fail: a small OpenID provider, correct but for one deliberate fault at a
//! time, is run through the plans with the `form` driver; the modules aimed at each fault
//! must end FAILED, and no other.
//!
//! The provider: discovery, a key set, `/authorize` with a username/password form, `/token`
//! (client_secret_basic and _post, PKCE S256, single-use codes), `/userinfo` (header or body),
//! ES256 ID tokens. No sessions (silent requests answer login_required), no request objects.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use eid_conformance::config::{ClientAuth, ClientConfig, DriverConfig, SuiteConfig};
use eid_conformance::{plans, Suite, Verdict};
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::Generate as _;
use serde_json::{json, Value};
use sha2::Digest as _;

const CLIENT_ID: &str = "suite";
const CLIENT_SECRET: &str = "suite-secret-0123456789";
const REDIRECT_URI: &str = "https://rp.example/callback";
const USERNAME: &str = "alice";
const PASSWORD: &str = "wonderland";

/// One deliberate fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// A code can be redeemed more than once.
    ReusableCode,
    /// The authorization response has no `iss`, though discovery says it has.
    OmitsIss,
    /// ID tokens are signed with a key that is not in the key set (under a published kid).
    UnpublishedKey,
    /// ID tokens carry no nonce.
    IgnoresNonce,
    /// Any PKCE verifier is taken.
    AnyPkceVerifier,
    /// The browser is sent to whatever redirect URI the request names.
    AnyRedirectUri,
}

struct Pending {
    params: HashMap<String, String>,
}

struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: Option<String>,
    auth_time: i64,
}

struct State {
    fault: Fault,
    issuer: String,
    key: p256::ecdsa::SigningKey,
    unpublished: p256::ecdsa::SigningKey,
    pending: HashMap<String, Pending>,
    codes: HashMap<String, Grant>,
    tokens: BTreeSet<String>,
}

type Shared = web::Data<Arc<Mutex<State>>>;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn random() -> String {
    b64(&rand::random::<[u8; 24]>())
}

#[allow(clippy::disallowed_methods)] // The faulty provider is a stand-in server, with its own clock.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn jwk(key: &p256::ecdsa::SigningKey) -> Value {
    let point = key.verifying_key().to_sec1_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
        "x": b64(point.x().map(|x| x.as_slice()).unwrap_or_default()),
        "y": b64(point.y().map(|y| y.as_slice()).unwrap_or_default()),
    })
}

fn sign(key: &p256::ecdsa::SigningKey, claims: &Value) -> String {
    let header = b64(br#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#);
    let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

fn redirect(to: &str, params: &[(&str, &str)]) -> HttpResponse {
    let mut url = url::Url::parse(to).unwrap_or_else(|e| unreachable!("{e}"));
    url.query_pairs_mut().extend_pairs(params);
    HttpResponse::Found()
        .insert_header(("location", url.to_string()))
        .finish()
}

fn page(status: actix_web::http::StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><html><body>{body}</body></html>"))
}

fn oauth_error(status: u16, error: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .insert_header(("cache-control", "no-store"))
        .json(json!({"error": error, "error_description": error}))
}

async fn discovery(state: Shared) -> HttpResponse {
    let issuer = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .issuer
        .clone();
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "scopes_supported": ["openid", "profile"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "name"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(state: Shared) -> HttpResponse {
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    HttpResponse::Ok().json(json!({"keys": [jwk(&s.key)]}))
}

async fn authorize(
    req: HttpRequest,
    state: Shared,
    form: Option<web::Form<HashMap<String, String>>>,
) -> HttpResponse {
    let mut params: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    if let Some(form) = form {
        params.extend(form.into_inner());
    }
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let get = |k: &str| params.get(k).cloned();
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    if get("client_id").as_deref() != Some(CLIENT_ID)
        || (redirect_uri != REDIRECT_URI && s.fault != Fault::AnyRedirectUri)
    {
        return page(
            actix_web::http::StatusCode::BAD_REQUEST,
            "<h1>Unknown client or redirect URI</h1>",
        );
    }
    let issuer = s.issuer.clone();
    let state_param = get("state").unwrap_or_default();
    let omit_iss = s.fault == Fault::OmitsIss;
    let error = |e: &str| {
        let mut p = vec![("error", e)];
        if !omit_iss {
            p.push(("iss", issuer.as_str()));
        }
        if !state_param.is_empty() {
            p.push(("state", state_param.as_str()));
        }
        redirect(&redirect_uri, &p)
    };
    if get("request").is_some() {
        return error("request_not_supported");
    }
    if get("request_uri").is_some() {
        return error("request_uri_not_supported");
    }
    if get("response_type").as_deref() != Some("code") {
        return error("invalid_request");
    }
    if get("prompt").is_some_and(|p| p.split(' ').any(|v| v == "none")) {
        return error("login_required");
    }
    let id = random();
    s.pending.insert(id.clone(), Pending { params });
    page(
        actix_web::http::StatusCode::OK,
        &format!(
            "<h1>Log in</h1><form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"id\" value=\"{id}\">\
             <label>User <input name=\"username\"></label><label>Password <input type=\"password\" name=\"password\"></label>\
             <button type=\"submit\">Log in</button><button type=\"submit\" name=\"cancel\" value=\"1\">Cancel</button></form>"
        ),
    )
}

async fn login(state: Shared, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let form = form.into_inner();
    let Some(pending) = form.get("id").and_then(|id| s.pending.remove(id)) else {
        return page(actix_web::http::StatusCode::BAD_REQUEST, "<h1>Expired</h1>");
    };
    if form.get("username").map(String::as_str) != Some(USERNAME)
        || form.get("password").map(String::as_str) != Some(PASSWORD)
    {
        return page(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "<h1>Wrong password</h1>",
        );
    }
    let p = pending.params;
    let code = random();
    let redirect_uri = p.get("redirect_uri").cloned().unwrap_or_default();
    s.codes.insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.clone(),
            nonce: p.get("nonce").cloned(),
            challenge: p.get("code_challenge").cloned(),
            auth_time: now(),
        },
    );
    let issuer = s.issuer.clone();
    let mut params = vec![("code", code.as_str())];
    if let Some(st) = p.get("state") {
        params.push(("state", st.as_str()));
    }
    if s.fault != Fault::OmitsIss {
        params.push(("iss", issuer.as_str()));
    }
    redirect(&redirect_uri, &params)
}

fn client_authenticated(req: &HttpRequest, form: &HashMap<String, String>) -> bool {
    if let Some(basic) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        return decoded == format!("{CLIENT_ID}:{CLIENT_SECRET}");
    }
    form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
}

async fn token(
    req: HttpRequest,
    state: Shared,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let form = form.into_inner();
    if !client_authenticated(&req, &form) {
        return oauth_error(401, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(400, "unsupported_grant_type");
    }
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let code = form.get("code").cloned().unwrap_or_default();
    let grant = if s.fault == Fault::ReusableCode {
        s.codes.get(&code).map(|g| Grant {
            redirect_uri: g.redirect_uri.clone(),
            nonce: g.nonce.clone(),
            challenge: g.challenge.clone(),
            auth_time: g.auth_time,
        })
    } else {
        s.codes.remove(&code)
    };
    let Some(grant) = grant else {
        return oauth_error(400, "invalid_grant");
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(400, "invalid_grant");
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if s.fault != Fault::AnyPkceVerifier
            && b64(&sha2::Sha256::digest(verifier.as_bytes())) != *challenge
        {
            return oauth_error(400, "invalid_grant");
        }
    }
    let access_token = random();
    s.tokens.insert(access_token.clone());
    let mut claims = json!({
        "iss": s.issuer, "aud": CLIENT_ID, "sub": "alice-0001", "iat": now(), "exp": now() + 300,
        "auth_time": grant.auth_time,
    });
    if let (Some(nonce), false) = (&grant.nonce, s.fault == Fault::IgnoresNonce) {
        claims["nonce"] = json!(nonce);
    }
    let key = if s.fault == Fault::UnpublishedKey {
        &s.unpublished
    } else {
        &s.key
    };
    let id_token = sign(key, &claims);
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
        }))
}

async fn userinfo(
    req: HttpRequest,
    state: Shared,
    form: Option<web::Form<HashMap<String, String>>>,
) -> HttpResponse {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let token = header.or_else(|| form.and_then(|f| f.get("access_token").cloned()));
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    match token {
        Some(t) if s.tokens.contains(&t) => {
            HttpResponse::Ok().json(json!({"sub": "alice-0001", "name": "Alice Liddell"}))
        }
        _ => HttpResponse::Unauthorized()
            .insert_header(("www-authenticate", "Bearer error=\"invalid_token\""))
            .finish(),
    }
}

/// Starts the provider with `fault`; returns its issuer and the server handle.
async fn start(fault: Fault) -> anyhow::Result<(String, actix_web::dev::ServerHandle)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let state = Arc::new(Mutex::new(State {
        fault,
        issuer: issuer.clone(),
        key: p256::ecdsa::SigningKey::generate(),
        unpublished: p256::ecdsa::SigningKey::generate(),
        pending: HashMap::new(),
        codes: HashMap::new(),
        tokens: BTreeSet::new(),
    }));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&state)))
            .route(
                "/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/jwks", web::get().to(jwks))
            .route("/authorize", web::get().to(authorize))
            .route("/authorize", web::post().to(authorize))
            .route("/login", web::post().to(login))
            .route("/token", web::post().to(token))
            .route("/userinfo", web::get().to(userinfo))
            .route("/userinfo", web::post().to(userinfo))
    })
    .workers(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((issuer, handle))
}

/// The FAILED modules of every plan the suite runs against a provider with `fault`.
async fn failed_modules(fault: Fault) -> anyhow::Result<BTreeSet<String>> {
    let (issuer, handle) = start(fault).await?;
    let client = ClientConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uri: url::Url::parse(REDIRECT_URI)?,
        token_endpoint_auth_method: ClientAuth::ClientSecretBasic,
        private_jwk: None,
    };
    let mut config = SuiteConfig::new(
        &issuer,
        vec![client],
        DriverConfig::Form {
            username: USERNAME.into(),
            password: PASSWORD.into(),
        },
    )?;
    config.danger_allow_http = true;
    let suite = Suite::new(config)?;
    let mut failed = BTreeSet::new();
    for name in ["oidcc-config", "oidcc-basic", "eid-pkce"] {
        let plan = plans::find(name).ok_or_else(|| anyhow::anyhow!("no plan {name}"))?;
        let report = suite.run(&plan, &[]).await;
        if fault == Fault::None {
            // The faultless provider really logs in: the plain flow passes, not skips.
            let server = report.modules.iter().find(|m| m.id == "oidcc-server");
            assert!(
                name != "oidcc-basic" || server.is_some_and(|m| m.verdict == Verdict::Passed),
                "{}",
                eid_conformance::report::text(&report)
            );
        }
        failed.extend(
            report
                .modules
                .iter()
                .filter(|m| m.verdict == Verdict::Failed)
                .map(|m| m.id.clone()),
        );
    }
    handle.stop(true).await;
    Ok(failed)
}

/// Every module of the Basic plan that completes a code flow and checks its ID token.
const CODE_FLOW_MODULES: &[&str] = &[
    "oidcc-server",
    "oidcc-idtoken-signature",
    "oidcc-userinfo-get",
    "oidcc-userinfo-post-header",
    "oidcc-userinfo-post-body",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    "oidcc-scope-profile",
    "oidcc-display-page",
    "oidcc-display-popup",
    "oidcc-prompt-login",
    "oidcc-prompt-none-logged-in",
    "oidcc-max-age-1",
    "oidcc-max-age-10000",
    "oidcc-ensure-request-with-unknown-parameter-succeeds",
    "oidcc-id-token-hint",
    "oidcc-login-hint",
    "oidcc-ui-locales",
    "oidcc-claims-locales",
    "oidcc-ensure-request-with-acr-values-succeeds",
    "oidcc-codereuse",
    "oidcc-codereuse-30seconds",
    "oidcc-ensure-post-request-succeeds",
    "oidcc-server-client-secret-post",
    "oidcc-claims-essential",
    "oidcc-refresh-token",
    "oidcc-ensure-request-with-valid-pkce-succeeds",
];

/// Modules that stop at an authorization response (a code they do not redeem successfully, or
/// an error).
const OTHER_RESPONSE_MODULES: &[&str] = &[
    "oidcc-response-type-missing",
    "oidcc-prompt-none-not-logged-in",
    "eid-pkce-incorrect-verifier-rejected",
    "eid-pkce-verifier-required",
];

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn without(ids: &[&str], out: &[&str]) -> BTreeSet<String> {
    ids.iter()
        .filter(|id| !out.contains(id))
        .map(|s| (*s).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_fails_exactly_the_modules_aimed_at_it() -> anyhow::Result<()> {
    let expected: Vec<(Fault, BTreeSet<String>)> = vec![
        (Fault::None, BTreeSet::new()),
        // An immediate second redemption is a warning in the Foundation's suite; 30 seconds
        // later it is a failure.
        (Fault::ReusableCode, set(&["oidcc-codereuse-30seconds"])),
        // Every response that should carry iss: the code flows, and the error responses.
        (Fault::OmitsIss, {
            let mut s = set(CODE_FLOW_MODULES);
            s.extend(set(OTHER_RESPONSE_MODULES));
            s
        }),
        (Fault::UnpublishedKey, set(CODE_FLOW_MODULES)),
        (
            Fault::IgnoresNonce,
            without(
                CODE_FLOW_MODULES,
                &["oidcc-ensure-request-without-nonce-succeeds-for-code-flow"],
            ),
        ),
        (
            Fault::AnyPkceVerifier,
            set(&[
                "eid-pkce-incorrect-verifier-rejected",
                "eid-pkce-verifier-required",
            ]),
        ),
        (
            Fault::AnyRedirectUri,
            set(&[
                "oidcc-ensure-registered-redirect-uri",
                "oidcc-ensure-request-object-with-redirect-uri",
            ]),
        ),
    ];
    let runs = expected
        .iter()
        .map(|(fault, _)| tokio::spawn(failed_modules(*fault)))
        .collect::<Vec<_>>();
    let mut mismatches = Vec::new();
    for ((fault, want), run) in expected.into_iter().zip(runs) {
        let got = run.await??;
        if got != want {
            mismatches.push(format!(
                "{fault:?}: FAILED but not aimed at: {:?}; aimed at but not FAILED: {:?}",
                got.difference(&want).collect::<Vec<_>>(),
                want.difference(&got).collect::<Vec<_>>()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    Ok(())
}
