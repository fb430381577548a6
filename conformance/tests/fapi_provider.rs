//! The FAPI 2.0 plan passes a correct provider, whichever way it may choose, and fails one that
//! is not: a small FAPI 2.0 authorization server (Security Profile, DPoP and `private_key_jwt`)
//! is run through the `fapi2-security-profile` plan (and eid's `eid-fapi2-jwt-time`) with the
//! `form` driver, once per behaviour a correct provider MAY choose (every module must end
//! PASSED, WARNING or SKIPPED, and the happy flow PASSED), and once per deliberate fault (the
//! modules aimed at it must end FAILED, and no other).
//!
//! The provider: discovery, a key set, `/par` (RFC 9126; client assertions ES256 addressed to
//! the issuer alone, short-lived, never replayed; PKCE S256; optional DPoP proof or `dpop_jkt`
//! binding the code), `/authorize` with pushed requests only and a username/password form,
//! `/token` (DPoP-bound access tokens, single-use codes bound to the client, the redirect URI,
//! the PKCE challenge and the pushed DPoP key; refresh tokens of `offline_access`, not
//! rotated), `/userinfo` as the DPoP-protected resource, ES256 ID tokens. DPoP proofs are
//! checked as RFC 9449 §4.3 says, with FAPI 2.0's 60 seconds of clock skew ahead (§5.3.2.1).
//!
//! The choices, each a correct provider: DPoP nonces not used, offered, or required (a required
//! nonce then dates a proof's past, RFC 9449 §4.3 (11)); client assertions consumed at first
//! sight even when the request is then refused for its DPoP nonce (so a client must sign one per
//! attempt); `request_uri` in a pushed request refused with `request_uri_not_supported` (RFC
//! 9126 §2.3 leaves the code open); other methods than POST at `/par` answered 404, not 405; an
//! unregistered redirect URI honoured in an authenticated pushed request (RFC 9126 §2.4), bound
//! to that request; request objects taken at `/par` (RFC 9101). The faults: JWTs dated in the
//! future taken (client assertions and DPoP proofs), stale DPoP proofs taken, and request URIs
//! that open a login for anyone (after their login, after expiry, for another client).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use eid_conformance::config::{ClientAuth, ClientConfig, DriverConfig, SuiteConfig};
use eid_conformance::{b64url, b64url_decode, jose, plans, Suite, Verdict, JWT_BEARER};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::Digest as _;

const USERNAME: &str = "alice";
const PASSWORD: &str = "wonderland";
const SUB: &str = "alice-0001";
/// The suite's two FAPI 2.0 clients (modules about another client use the second).
const CLIENTS: [(&str, &str); 2] = [
    ("fapi-one", "https://rp.example/callback"),
    ("fapi-two", "https://rp.example/callback-two"),
];
const FAPI_PLAN: &str = "fapi2-security-profile";
const JWT_TIME_PLAN: &str = "eid-fapi2-jwt-time";

/// FAPI 2.0 §5.3.2.1 (13): JWTs up to 10 s ahead are taken, beyond 60 s refused.
const FUTURE_SKEW: i64 = 60;
/// How old a DPoP proof may be (by its iat, where no nonce dates it).
const PROOF_AGE: i64 = 60;
/// A client assertion lives 5 minutes at most (exp − iat).
const ASSERTION_LIFETIME: i64 = 300;
/// A pushed request's life (short: the suite's expiry module waits it out).
const REQUEST_URI_LIFETIME: i64 = 10;
/// FAPI 2.0 §5.3.2.1 (codes live 60 s at most).
const CODE_LIFETIME: i64 = 60;
const TOKEN_LIFETIME: i64 = 300;
/// A DPoP nonce is handed out for 30 s and taken for 120 s.
const NONCE_ROTATION: i64 = 30;
const NONCE_LIFETIME: i64 = 120;

/// Whether and how the provider hands out DPoP nonces (RFC 9449 §8, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nonces {
    Off,
    /// A `DPoP-Nonce` on every answer; proofs with a current nonce or none are taken.
    Offered,
    /// Proofs without a current nonce are refused with `use_dpop_nonce`.
    Required,
}

/// What the provider does where a correct provider may choose, and its deliberate faults.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    nonces: Nonces,
    /// A client assertion's jti is consumed at first sight, even when the request is then
    /// refused for its DPoP nonce.
    single_use_assertions: bool,
    /// The error for a pushed request carrying `request_uri`.
    request_uri_error: &'static str,
    /// The status for other methods than POST at `/par`.
    other_methods_status: u16,
    /// An unregistered redirect URI in an authenticated pushed request is honoured.
    unregistered_redirect_uris: bool,
    /// `request` (a signed request object) is taken at `/par`.
    request_objects: bool,
    /// FAULT: iat and nbf of client assertions and DPoP proofs are not checked against the
    /// future.
    accepts_future_jwts: bool,
    /// FAULT: a DPoP proof's iat is not checked against the past.
    accepts_stale_proofs: bool,
    /// FAULT: a request URI opens a login for anyone who names it: after its login completed,
    /// after it expired, with another client's id.
    reopens_request_uris: bool,
}

const BASELINE: Behaviour = Behaviour {
    nonces: Nonces::Off,
    single_use_assertions: false,
    request_uri_error: "invalid_request",
    other_methods_status: 405,
    unregistered_redirect_uris: false,
    request_objects: false,
    accepts_future_jwts: false,
    accepts_stale_proofs: false,
    reopens_request_uris: false,
};

struct Client {
    id: String,
    redirect_uri: String,
    key: VerifyingKey,
}

struct Pushed {
    client_id: String,
    params: HashMap<String, String>,
    expires_at: i64,
    /// Its login completed (or was declined): it opens nothing any more.
    used: bool,
    /// The DPoP key thumbprint the code will be bound to.
    jkt: Option<String>,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    scope: String,
    name_in_id_token: bool,
    auth_time: i64,
    expires_at: i64,
    jkt: Option<String>,
}

struct AccessToken {
    jkt: String,
    expires_at: i64,
}

struct RefreshToken {
    client_id: String,
    scope: String,
}

struct State {
    behaviour: Behaviour,
    issuer: String,
    key: SigningKey,
    clients: Vec<Client>,
    pushed: HashMap<String, Pushed>,
    codes: HashMap<String, Grant>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    assertion_jtis: HashSet<String>,
    proof_jtis: HashSet<String>,
    /// Nonces handed out, with when.
    nonces: Vec<(String, i64)>,
}

type Shared = web::Data<Arc<Mutex<State>>>;

#[allow(clippy::disallowed_methods)] // The FAPI provider is a stand-in server, with its own clock.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn random() -> String {
    b64url(&rand::random::<[u8; 24]>())
}

impl State {
    /// The nonce handed out now (a new one every `NONCE_ROTATION` seconds).
    fn current_nonce(&mut self) -> String {
        let now = now();
        self.nonces.retain(|(_, at)| now - at <= NONCE_LIFETIME);
        match self.nonces.last() {
            Some((nonce, at)) if now - at < NONCE_ROTATION => nonce.clone(),
            _ => {
                let nonce = random();
                self.nonces.push((nonce.clone(), now));
                nonce
            }
        }
    }

    fn nonce_is_current(&self, nonce: &str) -> bool {
        let now = now();
        self.nonces
            .iter()
            .any(|(n, at)| n == nonce && now - at <= NONCE_LIFETIME)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

// --- JOSE ---------------------------------------------------------------------------------

/// A compact JWS, decoded (not verified).
struct Jws {
    header: Value,
    claims: Value,
    input: String,
    signature: Vec<u8>,
}

fn parse_jws(jwt: &str) -> Option<Jws> {
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return None;
    };
    let json = |part: &str| {
        b64url_decode(part)
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .filter(Value::is_object)
    };
    Some(Jws {
        header: json(header)?,
        claims: json(claims)?,
        input: format!("{header}.{claims}"),
        signature: b64url_decode(signature)?,
    })
}

/// Whether `jws` is signed ES256 by `key`.
fn verifies(key: &VerifyingKey, jws: &Jws) -> bool {
    jws.header["alg"] == "ES256"
        && Signature::from_slice(&jws.signature)
            .is_ok_and(|signature| key.verify(jws.input.as_bytes(), &signature).is_ok())
}

/// The public key of an EC P-256 JWK.
fn verifying_key(jwk: &Value) -> Option<VerifyingKey> {
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return None;
    }
    let x = b64url_decode(jwk["x"].as_str()?)?;
    let y = b64url_decode(jwk["y"].as_str()?)?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    VerifyingKey::from_sec1_bytes(&sec1).ok()
}

/// A NumericDate claim (RFC 7519 §2): seconds, maybe with a fraction.
fn numeric_date(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|f| f.floor() as i64))
}

/// Whether a proof's `htu` is `endpoint` (RFC 9449 §4.3 (9): without query and fragment, the
/// scheme and host in any case, the default port or none).
fn same_endpoint(htu: &str, endpoint: &str) -> bool {
    let (Ok(htu), Ok(endpoint)) = (url::Url::parse(htu), url::Url::parse(endpoint)) else {
        return false;
    };
    htu.scheme() == endpoint.scheme()
        && htu.host_str() == endpoint.host_str()
        && htu.port_or_known_default() == endpoint.port_or_known_default()
        && htu.path() == endpoint.path()
}

// --- answers --------------------------------------------------------------------------------

/// An OAuth error answer of the back channel.
struct Refusal {
    status: u16,
    error: &'static str,
    description: String,
}

fn refusal(status: u16, error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        description: description.into(),
    }
}

/// A back-channel answer (PAR, token): JSON, not cached, with the current DPoP nonce where the
/// provider hands them out (and always with `use_dpop_nonce`).
fn back_channel(s: &mut State, result: Result<(u16, Value), Refusal>) -> HttpResponse {
    let (status, body, asks_nonce) = match result {
        Ok((status, body)) => (status, body, false),
        Err(r) => (
            r.status,
            json!({"error": r.error, "error_description": r.description}),
            r.error == "use_dpop_nonce",
        ),
    };
    let mut response =
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
    response
        .insert_header(("cache-control", "no-store"))
        .insert_header(("pragma", "no-cache"));
    if asks_nonce || s.behaviour.nonces != Nonces::Off {
        response.insert_header(("dpop-nonce", s.current_nonce()));
    }
    response.json(body)
}

fn page(status: StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><html><body>{body}</body></html>"))
}

fn error_page(message: &str) -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        &format!("<h1>Invalid request</h1><p>{message}</p>"),
    )
}

fn redirect(to: &str, params: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(to) else {
        return error_page("the redirect URI is not a URL");
    };
    url.query_pairs_mut().extend_pairs(params);
    HttpResponse::Found()
        .insert_header(("location", url.to_string()))
        .insert_header(("cache-control", "no-store"))
        .finish()
}

/// A form body's parameters; a parameter given twice is refused (RFC 6749 §3.1, §3.2).
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, Refusal> {
    let mut form = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if form
            .insert(name.clone().into_owned(), value.into_owned())
            .is_some()
        {
            return Err(refusal(
                400,
                "invalid_request",
                format!("the parameter {name} is given twice"),
            ));
        }
    }
    Ok(form)
}

// --- discovery and keys ------------------------------------------------------------------------

async fn discovery(state: Shared) -> HttpResponse {
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    let issuer = s.issuer.clone();
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "pushed_authorization_request_endpoint": format!("{issuer}/par"),
        "require_pushed_authorization_requests": true,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "scopes_supported": ["openid", "profile", "offline_access"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "dpop_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": ["sub", "name"],
        "claims_parameter_supported": true,
        "request_parameter_supported": s.behaviour.request_objects,
        "request_object_signing_alg_values_supported": ["ES256"],
        "request_uri_parameter_supported": true,
    }))
}

fn published_jwk(key: &SigningKey) -> Value {
    let mut jwk = jose::public_jwk(key);
    jwk["kid"] = "k1".into();
    jwk["use"] = "sig".into();
    jwk["alg"] = "ES256".into();
    jwk
}

async fn jwks(state: Shared) -> HttpResponse {
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    HttpResponse::Ok().json(json!({"keys": [published_jwk(&s.key)]}))
}

// --- client authentication and DPoP ---------------------------------------------------------

/// `private_key_jwt` (RFC 7523, FAPI 2.0 §5.3.2.1): the client and the assertion's jti. The
/// jti is consumed here when assertions are single-use at first sight, otherwise by the caller
/// once the request is past its DPoP proof.
fn authenticate(
    s: &mut State,
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<(usize, String), Refusal> {
    let bad = |description: &str| refusal(401, "invalid_client", description);
    if req.headers().contains_key("authorization") || form.contains_key("client_secret") {
        return Err(bad("only private_key_jwt authenticates clients here"));
    }
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(bad("client authentication (private_key_jwt) is required"));
    }
    let Some(jws) = form.get("client_assertion").and_then(|a| parse_jws(a)) else {
        return Err(bad("the client assertion is not a compact JWS"));
    };
    if jws.header["alg"] != "ES256" {
        return Err(bad("client assertions are signed ES256"));
    }
    let claims = &jws.claims;
    let Some(index) = s
        .clients
        .iter()
        .position(|c| claims["iss"].as_str() == Some(c.id.as_str()))
    else {
        return Err(bad("the assertion's iss is no client of ours"));
    };
    let client = &s.clients[index];
    if !verifies(&client.key, &jws) {
        return Err(bad("the assertion's signature does not verify"));
    }
    if claims["sub"].as_str() != Some(client.id.as_str()) {
        return Err(bad("the assertion's sub is not its iss"));
    }
    if form
        .get("client_id")
        .is_some_and(|id| id != client.id.as_str())
    {
        return Err(bad("client_id names another client than the assertion"));
    }
    if claims["aud"] != Value::String(s.issuer.clone()) {
        return Err(bad("the assertion's aud must be the issuer, alone"));
    }
    let now = now();
    let Some(exp) = numeric_date(&claims["exp"]) else {
        return Err(bad("the assertion has no exp"));
    };
    if exp < now {
        return Err(bad("the assertion has expired"));
    }
    let date = |name: &str| -> Result<Option<i64>, Refusal> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => numeric_date(v)
                .map(Some)
                .ok_or_else(|| bad("a date of the assertion is not a number")),
        }
    };
    let (iat, nbf) = (date("iat")?, date("nbf")?);
    if !s.behaviour.accepts_future_jwts
        && [iat, nbf].iter().flatten().any(|t| *t > now + FUTURE_SKEW)
    {
        return Err(bad("the assertion is dated more than 60 s ahead"));
    }
    if exp - iat.or(nbf).unwrap_or(now) > ASSERTION_LIFETIME {
        return Err(bad("the assertion lives more than 5 minutes"));
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(bad("the assertion has no jti"));
    };
    if s.assertion_jtis.contains(jti) {
        return Err(bad("the assertion was used before"));
    }
    if s.behaviour.single_use_assertions {
        s.assertion_jtis.insert(jti.to_owned());
    }
    Ok((index, jti.to_owned()))
}

/// A verified DPoP proof: its key's thumbprint.
struct Proof {
    jkt: String,
}

enum ProofError {
    Invalid(String),
    /// No current nonce where one is needed.
    UseNonce,
}

/// The request's DPoP proof (RFC 9449 §4.3) for `endpoint` (and the access token, at the
/// resource); `None` without one. An accepted proof's jti is never accepted again.
fn verify_proof(
    s: &mut State,
    req: &HttpRequest,
    endpoint: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, ProofError> {
    let invalid = |m: &str| ProofError::Invalid(m.to_owned());
    let mut headers = req.headers().get_all("dpop");
    let Some(first) = headers.next() else {
        return Ok(None);
    };
    if headers.next().is_some() {
        return Err(invalid("more than one DPoP header"));
    }
    let Some(jws) = first.to_str().ok().and_then(parse_jws) else {
        return Err(invalid("the proof is not a compact JWS"));
    };
    if jws.header["typ"] != "dpop+jwt" {
        return Err(invalid("the proof's typ is not dpop+jwt"));
    }
    if jws.header["alg"] != "ES256" {
        return Err(invalid("proofs are signed ES256"));
    }
    let jwk = &jws.header["jwk"];
    if !jwk.is_object() || jwk.get("d").is_some() {
        return Err(invalid("the proof's jwk is missing or holds a private key"));
    }
    let Some(key) = verifying_key(jwk) else {
        return Err(invalid("the proof's jwk is not an EC P-256 public key"));
    };
    if !verifies(&key, &jws) {
        return Err(invalid("the proof's signature does not verify"));
    }
    let claims = &jws.claims;
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(invalid("the proof has no jti"));
    };
    if claims["htm"].as_str() != Some(req.method().as_str()) {
        return Err(invalid("the proof's htm is not this request's method"));
    }
    if !claims["htu"]
        .as_str()
        .is_some_and(|htu| same_endpoint(htu, endpoint))
    {
        return Err(invalid("the proof's htu is not this endpoint"));
    }
    let Some(iat) = numeric_date(&claims["iat"]) else {
        return Err(invalid("the proof has no iat"));
    };
    let now = now();
    if !s.behaviour.accepts_future_jwts && iat > now + FUTURE_SKEW {
        return Err(invalid("the proof is dated more than 60 s ahead"));
    }
    if let Some(token) = access_token {
        if claims["ath"].as_str() != Some(jose::ath(token).as_str()) {
            return Err(invalid("the proof's ath is not the access token's hash"));
        }
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.as_str()),
        Some(_) => return Err(invalid("the proof's nonce is not a string")),
    };
    match s.behaviour.nonces {
        Nonces::Off => {}
        Nonces::Offered => {
            if nonce.is_some_and(|n| !s.nonce_is_current(n)) {
                return Err(ProofError::UseNonce);
            }
        }
        Nonces::Required => {
            if !nonce.is_some_and(|n| s.nonce_is_current(n)) {
                return Err(ProofError::UseNonce);
            }
        }
    }
    // With required nonces, the nonce dates the proof's past (RFC 9449 §4.3 (11)).
    if !s.behaviour.accepts_stale_proofs
        && s.behaviour.nonces != Nonces::Required
        && iat < now - PROOF_AGE
    {
        return Err(invalid("the proof is too old"));
    }
    if !s.proof_jtis.insert(jti.to_owned()) {
        return Err(invalid("the proof was used before"));
    }
    Ok(Some(Proof {
        jkt: jose::thumbprint(jwk),
    }))
}

/// A proof's refusal at the PAR or token endpoint.
fn proof_refusal(error: ProofError) -> Refusal {
    match error {
        ProofError::Invalid(m) => refusal(400, "invalid_dpop_proof", m),
        ProofError::UseNonce => refusal(
            400,
            "use_dpop_nonce",
            "the DPoP proof must carry the current nonce",
        ),
    }
}

/// The request's proof, and the assertion's jti consumed once past it (where assertions are not
/// consumed at first sight).
fn proof_then_consume(
    s: &mut State,
    req: &HttpRequest,
    path: &str,
    jti: String,
) -> Result<Option<Proof>, Refusal> {
    let endpoint = s.url(path);
    let proof = verify_proof(s, req, &endpoint, None).map_err(proof_refusal)?;
    if !s.behaviour.single_use_assertions {
        s.assertion_jtis.insert(jti);
    }
    Ok(proof)
}

// --- PAR ------------------------------------------------------------------------------------

/// A request object (RFC 9101) of `client`: its claims are the whole request.
fn request_object(
    s: &State,
    client: &Client,
    jwt: &str,
) -> Result<HashMap<String, String>, Refusal> {
    let bad = |description: &str| refusal(400, "invalid_request_object", description);
    let Some(jws) = parse_jws(jwt) else {
        return Err(bad("the request object is not a compact JWS"));
    };
    if !matches!(
        jws.header["typ"].as_str(),
        Some("oauth-authz-req+jwt" | "JWT")
    ) {
        return Err(bad("the request object's typ is not oauth-authz-req+jwt"));
    }
    if !verifies(&client.key, &jws) {
        return Err(bad("the request object is not signed ES256 by the client"));
    }
    let claims = &jws.claims;
    if claims["iss"].as_str() != Some(client.id.as_str()) {
        return Err(bad("the request object's iss is not the client"));
    }
    let to_us = match &claims["aud"] {
        Value::String(aud) => *aud == s.issuer,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(s.issuer.as_str())),
        _ => false,
    };
    if !to_us {
        return Err(bad("the request object's aud is not the issuer"));
    }
    let now = now();
    if numeric_date(&claims["exp"]).is_none_or(|exp| exp < now) {
        return Err(bad("the request object has no exp, or has expired"));
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = claims.get(name) {
            if numeric_date(t).is_none_or(|t| t > now + FUTURE_SKEW) {
                return Err(bad("the request object is dated ahead"));
            }
        }
    }
    if claims
        .get("client_id")
        .is_some_and(|id| id.as_str() != Some(client.id.as_str()))
    {
        return Err(bad("the request object names another client"));
    }
    let mut params = HashMap::new();
    for (name, value) in claims.as_object().into_iter().flatten() {
        if matches!(name.as_str(), "iss" | "aud" | "exp" | "nbf" | "iat" | "jti") {
            continue;
        }
        let value = match value {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        params.insert(name.clone(), value);
    }
    if !params.contains_key("redirect_uri") {
        return Err(bad("the request object has no redirect_uri"));
    }
    params.insert("client_id".into(), client.id.clone());
    Ok(params)
}

/// Whether the `claims` parameter asks for the name in the ID token.
fn name_in_id_token(claims: Option<&String>) -> Result<bool, Refusal> {
    let Some(claims) = claims else {
        return Ok(false);
    };
    let Ok(claims) = serde_json::from_str::<Value>(claims) else {
        return Err(refusal(
            400,
            "invalid_request",
            "the claims parameter is not JSON",
        ));
    };
    Ok(claims.get("id_token").and_then(|c| c.get("name")).is_some())
}

fn push(s: &mut State, req: &HttpRequest, body: &[u8]) -> Result<(u16, Value), Refusal> {
    let form = parse_form(body)?;
    let (index, jti) = authenticate(s, req, &form)?;
    let proof = proof_then_consume(s, req, "/par", jti)?;
    let invalid = |description: &str| refusal(400, "invalid_request", description);
    let client = &s.clients[index];
    let mut params = match form.get("request") {
        Some(_) if !s.behaviour.request_objects => {
            return Err(refusal(
                400,
                "request_not_supported",
                "request objects are not taken",
            ))
        }
        Some(object) => request_object(s, client, object)?,
        None => {
            let mut params = form.clone();
            params.remove("client_assertion");
            params.remove("client_assertion_type");
            params.insert("client_id".into(), client.id.clone());
            params
        }
    };
    if params.contains_key("request_uri") {
        return Err(refusal(
            400,
            s.behaviour.request_uri_error,
            "request_uri is not taken in a pushed request",
        ));
    }
    if params.contains_key("request") {
        return Err(invalid("a request object inside a request object"));
    }
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return Err(invalid("response_type is required")),
        Some(_) => {
            return Err(refusal(
                400,
                "unsupported_response_type",
                "response_type is code",
            ))
        }
    }
    if params
        .get("response_mode")
        .is_some_and(|m| m.as_str() != "query")
    {
        return Err(invalid("responses are in the query"));
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(invalid("redirect_uri is required"));
    };
    let registered = *redirect_uri == client.redirect_uri;
    let acceptable = url::Url::parse(redirect_uri)
        .is_ok_and(|u| u.scheme() == "https" && u.fragment().is_none());
    let honoured = s.behaviour.unregistered_redirect_uris && acceptable;
    if !(registered || honoured) {
        return Err(invalid("redirect_uri is not registered for the client"));
    }
    if params
        .get("code_challenge")
        .is_none_or(|c| c.len() < 43 || c.len() > 128)
    {
        return Err(invalid("PKCE (code_challenge) is required"));
    }
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(invalid("code_challenge_method must be S256"));
    }
    name_in_id_token(params.get("claims"))?;
    let jkt = match (params.remove("dpop_jkt"), proof) {
        (Some(jkt), Some(proof)) if jkt != proof.jkt => {
            return Err(refusal(
                400,
                "invalid_dpop_proof",
                "dpop_jkt is not the proof's key",
            ))
        }
        (Some(jkt), _) => Some(jkt),
        (None, proof) => proof.map(|p| p.jkt),
    };
    let uri = format!("urn:ietf:params:oauth:request_uri:{}", random());
    let client_id = client.id.clone();
    s.pushed.insert(
        uri.clone(),
        Pushed {
            client_id,
            params,
            expires_at: now() + REQUEST_URI_LIFETIME,
            used: false,
            jkt,
        },
    );
    Ok((
        201,
        json!({"request_uri": uri, "expires_in": REQUEST_URI_LIFETIME}),
    ))
}

async fn par(req: HttpRequest, state: Shared, body: web::Bytes) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let result = push(&mut s, &req, &body);
    back_channel(&mut s, result)
}

async fn par_other_method(state: Shared) -> HttpResponse {
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    match s.behaviour.other_methods_status {
        405 => HttpResponse::MethodNotAllowed()
            .insert_header(("allow", "POST"))
            .finish(),
        status => {
            HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND))
                .finish()
        }
    }
}

// --- the front channel ----------------------------------------------------------------------

async fn authorize(req: HttpRequest, state: Shared) -> HttpResponse {
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(client_id), Some(uri)) = (query.get("client_id"), query.get("request_uri")) else {
        return error_page(
            "Only pushed authorization requests are taken (client_id and request_uri).",
        );
    };
    match s.pushed.get(uri) {
        Some(_) if s.behaviour.reopens_request_uris => {}
        Some(p) if p.client_id == *client_id && !p.used && now() <= p.expires_at => {}
        _ => return error_page("The request URI is unknown, expired, used or another client's."),
    }
    page(
        StatusCode::OK,
        &format!(
            "<h1>Log in</h1><form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"request_uri\" value=\"{uri}\">\
             <label>User <input name=\"username\"></label><label>Password <input type=\"password\" name=\"password\"></label>\
             <button type=\"submit\">Log in</button><button type=\"submit\" name=\"cancel\" value=\"1\">Cancel</button></form>"
        ),
    )
}

async fn login(state: Shared, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let form = form.into_inner();
    let issuer = s.issuer.clone();
    let Some(pushed) = form.get("request_uri").and_then(|u| s.pushed.get_mut(u)) else {
        return error_page("The request URI is unknown.");
    };
    if pushed.used {
        return error_page("This request's login is over.");
    }
    let params = pushed.params.clone();
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    let state_param = params.get("state").cloned();
    let mut response: Vec<(&str, &str)> = Vec::new();
    if form.contains_key("cancel") {
        pushed.used = true;
        response.push(("error", "access_denied"));
        if let Some(st) = &state_param {
            response.push(("state", st));
        }
        response.push(("iss", &issuer));
        return redirect(&redirect_uri, &response);
    }
    if form.get("username").map(String::as_str) != Some(USERNAME)
        || form.get("password").map(String::as_str) != Some(PASSWORD)
    {
        return page(StatusCode::UNAUTHORIZED, "<h1>Wrong password</h1>");
    }
    pushed.used = true;
    let grant = Grant {
        client_id: pushed.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        challenge: params.get("code_challenge").cloned().unwrap_or_default(),
        nonce: params.get("nonce").cloned(),
        scope: params.get("scope").cloned().unwrap_or_default(),
        name_in_id_token: name_in_id_token(params.get("claims")).unwrap_or(false),
        auth_time: now(),
        expires_at: now() + CODE_LIFETIME,
        jkt: pushed.jkt.clone(),
    };
    let code = random();
    s.codes.insert(code.clone(), grant);
    response.push(("code", &code));
    if let Some(st) = &state_param {
        response.push(("state", st));
    }
    response.push(("iss", &issuer));
    redirect(&redirect_uri, &response)
}

// --- the token endpoint -----------------------------------------------------------------------

/// Access (and refresh) tokens for `client_id`, bound to `jkt`.
fn issue(
    s: &mut State,
    client_id: &str,
    jkt: &str,
    scope: &str,
    id_token: Option<Value>,
    refresh_token: Option<String>,
) -> Value {
    let access_token = random();
    s.access.insert(
        access_token.clone(),
        AccessToken {
            jkt: jkt.to_owned(),
            expires_at: now() + TOKEN_LIFETIME,
        },
    );
    let mut body = json!({
        "access_token": access_token, "token_type": "DPoP", "expires_in": TOKEN_LIFETIME,
        "scope": scope,
    });
    if let Some(claims) = id_token {
        body["id_token"] = jose::sign(
            &s.key,
            &json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}),
            &claims,
        )
        .into();
    }
    let has_scope = |name: &str| scope.split(' ').any(|v| v == name);
    let refresh_token = refresh_token.or_else(|| {
        has_scope("offline_access").then(|| {
            let token = random();
            s.refresh.insert(
                token.clone(),
                RefreshToken {
                    client_id: client_id.to_owned(),
                    scope: scope.to_owned(),
                },
            );
            token
        })
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    body
}

fn exchange(s: &mut State, req: &HttpRequest, body: &[u8]) -> Result<(u16, Value), Refusal> {
    let form = parse_form(body)?;
    let (index, jti) = authenticate(s, req, &form)?;
    let proof = proof_then_consume(s, req, "/token", jti)?;
    let client_id = s.clients[index].id.clone();
    let grant_type = form.get("grant_type").map(String::as_str);
    if !matches!(grant_type, Some("authorization_code" | "refresh_token")) {
        return Err(refusal(
            400,
            "unsupported_grant_type",
            "authorization_code or refresh_token",
        ));
    }
    let Some(proof) = proof else {
        return Err(refusal(
            400,
            "invalid_request",
            "a DPoP proof is required (FAPI 2.0 §5.3.2.1)",
        ));
    };
    let invalid_grant = |description: &str| refusal(400, "invalid_grant", description);
    if grant_type == Some("refresh_token") {
        let token = form.get("refresh_token").cloned().unwrap_or_default();
        let scope = match s.refresh.get(&token) {
            Some(r) if r.client_id == client_id => r.scope.clone(),
            _ => {
                return Err(invalid_grant(
                    "the refresh token is unknown or another client's",
                ))
            }
        };
        // Not rotated; the new access token is bound to the new proof's key.
        let body = issue(s, &client_id, &proof.jkt, &scope, None, Some(token));
        return Ok((200, body));
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = s.codes.remove(&code) else {
        return Err(invalid_grant("the code is unknown or was used"));
    };
    if grant.client_id != client_id {
        return Err(invalid_grant("the code is another client's"));
    }
    if now() > grant.expires_at {
        return Err(invalid_grant("the code has expired"));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(invalid_grant("redirect_uri is not the pushed one"));
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if verifier.is_empty() || b64url(&sha2::Sha256::digest(verifier.as_bytes())) != grant.challenge
    {
        return Err(invalid_grant("the PKCE verifier does not match"));
    }
    if grant.jkt.as_ref().is_some_and(|jkt| *jkt != proof.jkt) {
        return Err(refusal(
            400,
            "invalid_dpop_proof",
            "the code is bound to another DPoP key",
        ));
    }
    let id_token = grant.scope.split(' ').any(|v| v == "openid").then(|| {
        let mut claims = json!({
            "iss": s.issuer, "aud": client_id, "sub": SUB, "iat": now(),
            "exp": now() + TOKEN_LIFETIME, "auth_time": grant.auth_time,
        });
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = nonce.clone().into();
        }
        if grant.name_in_id_token {
            claims["name"] = "Alice Liddell".into();
        }
        claims
    });
    let body = issue(s, &client_id, &proof.jkt, &grant.scope, id_token, None);
    Ok((200, body))
}

async fn token(req: HttpRequest, state: Shared, body: web::Bytes) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let result = exchange(&mut s, &req, &body);
    back_channel(&mut s, result)
}

// --- the resource -----------------------------------------------------------------------------

/// 401 with the DPoP challenge (RFC 9449 §7.1), `error` if any.
fn challenge(s: &mut State, error: Option<(&str, &str)>) -> HttpResponse {
    let mut value = String::from("DPoP algs=\"ES256\"");
    if let Some((error, description)) = error {
        value =
            format!("DPoP error=\"{error}\", error_description=\"{description}\", algs=\"ES256\"");
    }
    let mut response = HttpResponse::Unauthorized();
    response
        .insert_header(("www-authenticate", value))
        .insert_header(("cache-control", "no-store"));
    if s.behaviour.nonces != Nonces::Off || error.is_some_and(|(e, _)| e == "use_dpop_nonce") {
        response.insert_header(("dpop-nonce", s.current_nonce()));
    }
    response.finish()
}

async fn userinfo(req: HttpRequest, state: Shared) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some((scheme, token)) = authorization.trim().split_once(' ') else {
        return challenge(&mut s, None);
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("dpop") {
        return challenge(
            &mut s,
            Some(("invalid_token", "the access token is DPoP-bound")),
        );
    }
    let bound = match s.access.get(token) {
        Some(t) if now() <= t.expires_at => t.jkt.clone(),
        _ => {
            return challenge(
                &mut s,
                Some(("invalid_token", "the access token is unknown or expired")),
            )
        }
    };
    let endpoint = s.url("/userinfo");
    match verify_proof(&mut s, &req, &endpoint, Some(token)) {
        Ok(Some(proof)) if proof.jkt == bound => {}
        Ok(Some(_)) => {
            return challenge(
                &mut s,
                Some(("invalid_dpop_proof", "the proof's key is not the token's")),
            )
        }
        Ok(None) => {
            return challenge(
                &mut s,
                Some(("invalid_dpop_proof", "a DPoP proof is required")),
            )
        }
        Err(ProofError::UseNonce) => {
            return challenge(
                &mut s,
                Some(("use_dpop_nonce", "the proof must carry the current nonce")),
            )
        }
        Err(ProofError::Invalid(m)) => return challenge(&mut s, Some(("invalid_dpop_proof", &m))),
    }
    let mut response = HttpResponse::Ok();
    response.insert_header(("cache-control", "no-store"));
    if s.behaviour.nonces != Nonces::Off {
        response.insert_header(("dpop-nonce", s.current_nonce()));
    }
    response.json(json!({"sub": SUB, "name": "Alice Liddell"}))
}

// --- the server and the runs --------------------------------------------------------------------

/// Starts a provider behaving as `behaviour` for `clients` (id, redirect URI, public key);
/// returns its issuer and the server handle.
async fn start(
    behaviour: Behaviour,
    clients: Vec<Client>,
) -> anyhow::Result<(String, actix_web::dev::ServerHandle)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let state = Arc::new(Mutex::new(State {
        behaviour,
        issuer: issuer.clone(),
        key: jose::new_key(),
        clients,
        pushed: HashMap::new(),
        codes: HashMap::new(),
        access: HashMap::new(),
        refresh: HashMap::new(),
        assertion_jtis: HashSet::new(),
        proof_jtis: HashSet::new(),
        nonces: Vec::new(),
    }));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&state)))
            .route(
                "/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/jwks", web::get().to(jwks))
            .service(
                web::resource("/par")
                    .route(web::post().to(par))
                    .default_service(web::to(par_other_method)),
            )
            .route("/authorize", web::get().to(authorize))
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

/// What a run of the plans against one provider ended with.
struct Outcome {
    /// FAILED module ids, with their reasons.
    failed: BTreeMap<String, String>,
    happy_flow: Option<Verdict>,
    /// Each plan's lines.
    text: String,
}

/// Runs the FAPI plans against a provider behaving as `behaviour`.
async fn run(behaviour: Behaviour) -> anyhow::Result<Outcome> {
    let keys = [jose::new_key(), jose::new_key()];
    let registered = CLIENTS
        .iter()
        .zip(&keys)
        .map(|((id, redirect_uri), key)| Client {
            id: (*id).to_owned(),
            redirect_uri: (*redirect_uri).to_owned(),
            key: *key.verifying_key(),
        })
        .collect();
    let clients = CLIENTS
        .iter()
        .zip(&keys)
        .map(|((id, redirect_uri), key)| {
            Ok(ClientConfig {
                client_id: (*id).to_owned(),
                client_secret: String::new(),
                redirect_uri: url::Url::parse(redirect_uri)?,
                token_endpoint_auth_method: ClientAuth::PrivateKeyJwt,
                private_jwk: Some(jose::private_jwk(key)),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (issuer, handle) = start(behaviour, registered).await?;
    let outcome = async {
        let mut config = SuiteConfig::new(
            &issuer,
            clients,
            DriverConfig::Form {
                username: USERNAME.into(),
                password: PASSWORD.into(),
            },
        )?;
        config.danger_allow_http = true;
        let suite = Suite::new(config)?;
        let mut outcome = Outcome {
            failed: BTreeMap::new(),
            happy_flow: None,
            text: String::new(),
        };
        for name in [FAPI_PLAN, JWT_TIME_PLAN] {
            let Some(plan) = plans::find(name) else {
                anyhow::ensure!(name != FAPI_PLAN, "no plan {name}");
                continue;
            };
            let report = suite.run(&plan, &[]).await;
            outcome
                .text
                .push_str(&eid_conformance::report::text(&report));
            if let Some(m) = report
                .modules
                .iter()
                .find(|m| m.id == "fapi2-security-profile-final-happy-flow")
            {
                outcome.happy_flow = Some(m.verdict);
            }
            outcome.failed.extend(
                report
                    .modules
                    .iter()
                    .filter(|m| m.verdict == Verdict::Failed)
                    .map(|m| (m.id.clone(), m.reason.clone().unwrap_or_default())),
            );
        }
        Ok(outcome)
    }
    .await;
    handle.stop(true).await;
    outcome
}

/// The modules a fault of dates in the future fails.
const FUTURE_JWT_MODULES: &[&str] = &[
    "fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails",
    "fapi2-security-profile-final-dpop-negative-tests",
    "eid-fapi2-jwt-time-par-assertion-iat-future",
    "eid-fapi2-jwt-time-token-assertion-iat-future",
    "eid-fapi2-jwt-time-token-assertion-nbf-future",
    "eid-fapi2-jwt-time-par-dpop-iat-future",
    "eid-fapi2-jwt-time-token-dpop-iat-future",
];

/// The modules a fault of stale proofs fails.
const STALE_PROOF_MODULES: &[&str] = &[
    "fapi2-security-profile-final-dpop-negative-tests",
    "eid-fapi2-jwt-time-par-dpop-iat-past",
    "eid-fapi2-jwt-time-token-dpop-iat-past",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fapi_plan_passes_every_correct_choice_and_fails_each_fault() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // (name, behaviour, the modules that must fail: none for a correct provider).
    let runs: Vec<(&str, Behaviour, &[&str])> = vec![
        ("baseline", BASELINE, &[]),
        (
            "nonces_offered",
            Behaviour {
                nonces: Nonces::Offered,
                ..BASELINE
            },
            &[],
        ),
        (
            "nonces_required",
            Behaviour {
                nonces: Nonces::Required,
                ..BASELINE
            },
            &[],
        ),
        (
            "single_use_assertions_with_required_nonces",
            Behaviour {
                nonces: Nonces::Required,
                single_use_assertions: true,
                ..BASELINE
            },
            &[],
        ),
        (
            "request_uri_not_supported",
            Behaviour {
                request_uri_error: "request_uri_not_supported",
                ..BASELINE
            },
            &[],
        ),
        (
            "not_found_for_other_methods",
            Behaviour {
                other_methods_status: 404,
                ..BASELINE
            },
            &[],
        ),
        (
            "unregistered_redirect_uris",
            Behaviour {
                unregistered_redirect_uris: true,
                ..BASELINE
            },
            &[],
        ),
        (
            "request_objects",
            Behaviour {
                request_objects: true,
                ..BASELINE
            },
            &[],
        ),
        (
            "accepts_future_jwts",
            Behaviour {
                accepts_future_jwts: true,
                ..BASELINE
            },
            FUTURE_JWT_MODULES,
        ),
        (
            "accepts_stale_proofs",
            Behaviour {
                accepts_stale_proofs: true,
                ..BASELINE
            },
            STALE_PROOF_MODULES,
        ),
        (
            "reopens_request_uris",
            Behaviour {
                reopens_request_uris: true,
                ..BASELINE
            },
            // A request URI used again after its login is a warning (one-time use is a
            // SHOULD in RFC 9126 §4); expired or another client's, a failure.
            &[
                "fapi2-security-profile-final-par-attempt-to-use-expired-request_uri",
                "fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client",
            ],
        ),
    ];
    // eid's plan of JWT dates, where the suite has it.
    let jwt_time = plans::find(JWT_TIME_PLAN).is_some();
    // The runs side by side, each against its own provider. On a local set: a suite run's
    // future need not be Send (the providers' servers run on their own threads).
    let local = tokio::task::LocalSet::new();
    let outcomes = local
        .run_until(async {
            let handles = runs
                .iter()
                .map(|(_, behaviour, _)| tokio::task::spawn_local(run(*behaviour)))
                .collect::<Vec<_>>();
            let mut outcomes = Vec::new();
            for handle in handles {
                outcomes.push(handle.await??);
            }
            anyhow::Ok(outcomes)
        })
        .await?;
    let mut mismatches = Vec::new();
    for ((name, _, expected), outcome) in runs.into_iter().zip(outcomes) {
        let want: BTreeSet<String> = expected
            .iter()
            .filter(|id| jwt_time || !id.starts_with(JWT_TIME_PLAN))
            .map(|id| (*id).to_owned())
            .collect();
        let got: BTreeSet<String> = outcome.failed.keys().cloned().collect();
        // Every module that did not simply pass, with its reason; and each plan's counts.
        println!(
            "{name}: {} FAILED\n{}",
            got.len(),
            outcome
                .text
                .lines()
                .filter(|l| !l.trim_start().starts_with("PASSED"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let happy = expected.is_empty() && outcome.happy_flow != Some(Verdict::Passed);
        if got != want || happy {
            mismatches.push(format!(
                "{name}: FAILED but not expected: {:?}; expected but not FAILED: {:?}; happy flow: {:?}\n{}\n{}",
                got.difference(&want).collect::<Vec<_>>(),
                want.difference(&got).collect::<Vec<_>>(),
                outcome.happy_flow,
                outcome
                    .failed
                    .iter()
                    .map(|(id, reason)| format!("  {id}: {reason}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                outcome.text,
            ));
        }
    }
    println!(
        "the FAPI provider's runs took {} s",
        started.elapsed().as_secs()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    Ok(())
}
