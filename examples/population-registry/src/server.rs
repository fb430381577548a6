//! The registry's HTTP service: `POST /v1/verifications`, `GET /jwks`, `GET /healthz`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use base64::Engine as _;
use eid_core::jose::{es256_jwk, sign_es256, verify_es256};
use eid_proto::oauth::Jwks;
use eid_proto::registry::{
    RegistryQuery, RegistryRecord, RegistryVerdict, MEDIA_TYPE, QUERY_TYPE, VERDICT_TYPE,
    VERIFICATIONS_PATH,
};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use sha2::Digest as _;
use tokio::sync::RwLock;
use url::Url;

use crate::residents::{cosine_similarity, load_residents, Resident};

/// The registry's signing key, kept beside the residents.
const KEY_FILE: &str = "registry.key";
/// How long eid's keys are cached before they are fetched again.
const CLIENT_KEYS_TTL: Duration = Duration::from_secs(300);
/// The longest lifetime a query may claim.
const MAX_QUERY_LIFETIME: i64 = 300;
/// How far a query's `iat` may be ahead of the registry's clock.
const CLOCK_SKEW: i64 = 60;

/// How to serve.
pub struct ServeOptions {
    /// The directory [`crate::generate`] wrote.
    pub residents: PathBuf,
    pub listen: SocketAddr,
    /// The registry's identifier; `None`: `http://<bound address>`.
    pub issuer: Option<String>,
    /// Where the services allowed to query publish their keys (eid's `/connectors/jwks`).
    pub client_jwks_urls: Vec<Url>,
    /// Wait this long before answering (to try a client's timeouts).
    pub answer_delay: Duration,
}

/// A running registry.
pub struct RunningRegistry {
    pub issuer: String,
    pub local_addr: SocketAddr,
    server: actix_web::dev::Server,
}

impl RunningRegistry {
    /// Serves until stopped (SIGINT/SIGTERM).
    pub async fn wait(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Stops at once.
    pub async fn stop(self) {
        self.server.handle().stop(false).await;
    }

    /// A handle to stop the registry while [`RunningRegistry::wait`] runs it.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

struct State {
    issuer: String,
    key: SigningKey,
    kid: String,
    residents: HashMap<String, Resident>,
    client_jwks_urls: Vec<Url>,
    client_keys: RwLock<Option<(Jwks, Instant)>>,
    http: reqwest::Client,
    seen: Mutex<HashMap<String, i64>>,
    answer_delay: Duration,
}

#[allow(clippy::disallowed_methods)] // The registry is another service, with its own clock.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `A123456(3)`, `a1234563` -> `A1234563`.
fn canonical(hkid: &str) -> String {
    hkid.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn comparable_name(name: &str) -> String {
    name.replace(',', " ")
        .split_whitespace()
        .map(str::to_uppercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Loads the registry's key, creating it (readable by its owner only) on first use.
fn load_key(dir: &std::path::Path) -> anyhow::Result<SigningKey> {
    let path = dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let der = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .with_context(|| format!("{} is not base64", path.display()))?;
            SigningKey::from_pkcs8_der(&der)
                .map_err(|e| anyhow::anyhow!("{} is not a P-256 key: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key =
                <SigningKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rand::rng());
            let der = key
                .to_pkcs8_der()
                .map_err(|e| anyhow::anyhow!("encoding the registry key: {e}"))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            use std::io::Write as _;
            let mut file = options
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(der.as_bytes())
                    .as_bytes(),
            )?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Starts serving on the current Tokio runtime.
pub async fn serve(options: ServeOptions) -> anyhow::Result<RunningRegistry> {
    let residents = load_residents(&options.residents)?;
    let key = load_key(&options.residents)?;
    let point = key.verifying_key().to_sec1_point(false);
    let kid = format!(
        "registry-{}",
        &eid_core::crypto::b64url(&sha2::Sha256::digest(point.as_bytes()))[..16]
    );
    let listener = TcpListener::bind(options.listen)?;
    let local_addr = listener.local_addr()?;
    let issuer = options
        .issuer
        .unwrap_or_else(|| format!("http://{local_addr}"));
    let state = web::Data::new(State {
        issuer: issuer.clone(),
        key,
        kid,
        residents: residents
            .into_iter()
            .map(|r| (canonical(&r.hkid), r))
            .collect(),
        client_jwks_urls: options.client_jwks_urls,
        client_keys: RwLock::new(None),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?,
        seen: Mutex::new(HashMap::new()),
        answer_delay: options.answer_delay,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(256 * 1024))
            .route(VERIFICATIONS_PATH, web::post().to(verify))
            .route("/jwks", web::get().to(jwks))
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok") }),
            )
    })
    .workers(1)
    .shutdown_timeout(2)
    .listen(listener)?
    .run();
    Ok(RunningRegistry {
        issuer,
        local_addr,
        server,
    })
}

async fn jwks(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(Jwks {
        keys: vec![es256_jwk(&state.kid, state.key.verifying_key())],
    })
}

fn refuse(status: u16, why: &str) -> HttpResponse {
    tracing::info!(why, "query refused");
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .json(serde_json::json!({ "error": why }))
}

impl State {
    /// The clients' keys, fetched again when stale or when a query names an unknown key.
    async fn client_keys(&self, kid: Option<&str>) -> anyhow::Result<Jwks> {
        if let Some((keys, at)) = self.client_keys.read().await.as_ref() {
            let known = kid.is_none_or(|kid| keys.keys.iter().any(|k| k.kid == kid));
            if known && at.elapsed() < CLIENT_KEYS_TTL {
                return Ok(keys.clone());
            }
        }
        let mut all = Jwks { keys: Vec::new() };
        for url in &self.client_jwks_urls {
            match self.http.get(url.clone()).send().await {
                Ok(r) => match r.json::<Jwks>().await {
                    Ok(set) => all.keys.extend(set.keys),
                    Err(e) => tracing::warn!(%url, %e, "client keys are not a JWKS"),
                },
                Err(e) => tracing::warn!(%url, %e, "client keys unreachable"),
            }
        }
        *self.client_keys.write().await = Some((all.clone(), Instant::now()));
        Ok(all)
    }

    /// Records a query id; false if it was seen before (a replay).
    fn first_sight(&self, jti: &str, exp: i64, now: i64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        seen.retain(|_, e| *e > now);
        seen.insert(jti.to_owned(), exp).is_none()
    }

    fn answer(&self, q: &RegistryQuery, now: i64) -> RegistryVerdict {
        let mut verdict = RegistryVerdict {
            iss: self.issuer.clone(),
            aud: q.iss.clone(),
            iat: now,
            in_response_to: q.jti.clone(),
            found: false,
            face_similarity: None,
            english_name_matches: None,
            date_of_birth_matches: None,
            record: None,
        };
        let Some(r) = self.residents.get(&canonical(&q.hkid)) else {
            return verdict;
        };
        verdict.found = true;
        let similarity = cosine_similarity(&q.face_template, &r.face_template);
        verdict.face_similarity = Some(similarity);
        // Without the face, nothing about the person's particulars is told.
        if similarity.is_nan()
            || similarity < q.min_face_similarity
            || q.min_face_similarity.is_nan()
        {
            return verdict;
        }
        let name = comparable_name(&q.english_name) == comparable_name(&r.english_name);
        let dob = q.date_of_birth.trim() == r.date_of_birth;
        verdict.english_name_matches = Some(name);
        verdict.date_of_birth_matches = Some(dob);
        if name && dob {
            verdict.record = Some(RegistryRecord {
                hkid: r.hkid.clone(),
                english_name: r.english_name.clone(),
                chinese_name: Some(r.chinese_name.clone()),
                date_of_birth: r.date_of_birth.clone(),
                gender: r.gender.clone(),
            });
        }
        verdict
    }
}

fn header_kid(jws: &str) -> Option<String> {
    let header = eid_core::crypto::b64url_decode(jws.split('.').next()?)?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// `POST /v1/verifications`: a signed query in, a signed verdict out.
async fn verify(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let Ok(jws) = std::str::from_utf8(&body).map(str::trim) else {
        return refuse(400, "the body is not a compact JWS");
    };
    let keys = match state.client_keys(header_kid(jws).as_deref()).await {
        Ok(keys) => keys,
        Err(_) => return refuse(503, "client keys unavailable"),
    };
    let claims = match verify_es256(jws, &keys, QUERY_TYPE) {
        Ok(claims) => claims,
        Err(e) => return refuse(401, &format!("the query does not verify: {e}")),
    };
    let query: RegistryQuery = match serde_json::from_value(serde_json::Value::Object(claims)) {
        Ok(q) => q,
        Err(e) => return refuse(400, &format!("not a registry query: {e}")),
    };
    let now = now();
    if query.aud != state.issuer {
        return refuse(401, "the query is for another registry");
    }
    if query.exp <= now
        || query.iat > now + CLOCK_SKEW
        || query.exp - query.iat > MAX_QUERY_LIFETIME
    {
        return refuse(401, "the query is expired or not yet valid");
    }
    if !state.first_sight(&query.jti, query.exp, now) {
        return refuse(401, "the query was already answered");
    }
    if !state.answer_delay.is_zero() {
        tokio::time::sleep(state.answer_delay).await;
    }
    let verdict = state.answer(&query, now);
    tracing::info!(
        found = verdict.found,
        matched = verdict.record.is_some(),
        "query answered"
    );
    match serde_json::to_value(&verdict) {
        Ok(claims) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, MEDIA_TYPE))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(sign_es256(&state.key, &state.kid, VERDICT_TYPE, &claims)),
        Err(_) => refuse(500, "could not encode the verdict"),
    }
}
