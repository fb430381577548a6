//! The population registry's transport: POSTs eid's signed query and returns the registry's
//! signed verdict, and fetches (and caches) the registry's public keys. The core builds and
//! checks the messages; this module only carries them, with time limits, so that a registry
//! that is down or slow gives the applicant "try again later" and changes nothing.

use std::time::{Duration, Instant};

use eid_core::Error;
use eid_proto::oauth::Jwks;
use eid_proto::registry::{MEDIA_TYPE, VERIFICATIONS_PATH};
use tokio::sync::RwLock;
use url::Url;

use std::sync::Arc;

use eid_core::capture::CaptureRoots;

use crate::config::{CaptureRootSource, RegistrySettings};

/// Keys are fetched again after this long, or at once when a verdict names an unknown key.
const KEYS_TTL: Duration = Duration::from_secs(300);
/// A verdict is a few hundred bytes; anything much larger is not one.
const MAX_VERDICT_BYTES: usize = 64 * 1024;

pub struct RegistryClient {
    http: reqwest::Client,
    verify_url: Url,
    jwks_url: Url,
    keys: RwLock<Option<(Jwks, Instant)>>,
    capture_roots: CaptureRootSource,
}

fn unavailable(what: &str, detail: impl std::fmt::Display) -> Error {
    tracing::warn!(%detail, "population registry: {what}");
    Error::Unavailable(format!(
        "the population registry could not be reached ({what}); please try again later"
    ))
}

/// The `kid` in a compact JWS's header, if it has one.
fn header_kid(jws: &str) -> Option<String> {
    let header = jws.split('.').next()?;
    let header = eid_core::crypto::b64url_decode(header)?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

impl RegistryClient {
    pub fn new(settings: &RegistrySettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            verify_url: settings
                .url
                .join(VERIFICATIONS_PATH.trim_start_matches('/'))?,
            jwks_url: settings.jwks_url.clone(),
            keys: RwLock::new(None),
            capture_roots: settings.capture_roots.clone(),
        })
    }

    /// The roots that vouch for phones' capture keys (in `--dev`, the sandbox registry's,
    /// read from its file each time: it may be generated after the server started).
    pub async fn capture_roots(&self) -> Result<Arc<CaptureRoots>, Error> {
        match &self.capture_roots {
            CaptureRootSource::Loaded(roots) => Ok(Arc::clone(roots)),
            CaptureRootSource::DevFile(path) => {
                let file = path.clone();
                let pem = tokio::task::spawn_blocking(move || std::fs::read_to_string(file))
                    .await
                    .map_err(|e| Error::Internal(format!("reading the capture root: {e}")))?
                    .map_err(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "--dev: the sandbox registry's capture root cannot be read (run `population-registry generate --out data/registry`)");
                    Error::Unavailable(
                        "remote proofing is not ready: the sandbox registry's capture root is missing".into(),
                    )
                })?;
                CaptureRoots::from_pem(&pem).map(Arc::new).map_err(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "--dev: the sandbox registry's capture root does not parse");
                    Error::Unavailable(
                        "remote proofing is not ready: the sandbox registry's capture root is unusable".into(),
                    )
                })
            }
        }
    }

    /// Sends a signed query; returns the signed verdict as it came.
    pub async fn verify(&self, query: &str) -> Result<String, Error> {
        let response = self
            .http
            .post(self.verify_url.clone())
            .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
            .header(reqwest::header::ACCEPT, MEDIA_TYPE)
            .body(query.to_owned())
            .send()
            .await
            .map_err(|e| unavailable("no answer", e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable("refused the query", status));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable("the answer broke off", e))?;
        if body.len() > MAX_VERDICT_BYTES {
            return Err(unavailable("the answer is too large", body.len()));
        }
        String::from_utf8(body.to_vec())
            .map(|s| s.trim().to_owned())
            .map_err(|e| unavailable("the answer is not text", e))
    }

    /// The registry's keys for a verdict: the cached set, fetched again when stale or when it
    /// lacks the verdict's key (the registry rotated).
    pub async fn keys_for(&self, verdict: &str) -> Result<Jwks, Error> {
        let kid = header_kid(verdict);
        {
            let cached = self.keys.read().await;
            if let Some((keys, fetched)) = cached.as_ref() {
                let has_kid = kid
                    .as_deref()
                    .is_none_or(|kid| keys.keys.iter().any(|k| k.kid == kid));
                if fetched.elapsed() < KEYS_TTL && has_kid {
                    return Ok(keys.clone());
                }
            }
        }
        let keys: Jwks = self
            .http
            .get(self.jwks_url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable("its keys could not be fetched", e))?
            .json()
            .await
            .map_err(|e| unavailable("its keys are not a JWKS", e))?;
        *self.keys.write().await = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_is_read_from_the_header_only() {
        let header = eid_core::crypto::b64url(br#"{"alg":"ES256","kid":"k1"}"#);
        assert_eq!(
            header_kid(&format!("{header}.e30.sig")).as_deref(),
            Some("k1")
        );
        assert_eq!(header_kid("not a jws"), None);
        assert_eq!(header_kid(""), None);
    }
}
