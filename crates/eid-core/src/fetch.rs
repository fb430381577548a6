//! Documents eid fetches from relying parties' sites: a client's public keys at its `jwks_uri`
//! (RFC 7591 §2), a sector's redirect URIs at a `sector_identifier_uri` (OIDC Registration §5). The fetching is the server's ([`Fetcher`]: it knows HTTP and holds the
//! outbound policy against server-side request forgery); core caches what came back and decides
//! when to ask again.

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;

use crate::clients::validate_jwks;
use crate::store::ClientRecord;
use crate::time::UnixTime;
use crate::Provider;

/// What is fetched, for the fetcher's log and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// A client's JWK set (`jwks_uri`).
    ClientKeys,
    /// The redirect URIs of a sector (`sector_identifier_uri`).
    SectorIdentifier,
    /// A request object by reference (`request_uri`).
    RequestObject,
}

/// Fetches a document over HTTP(S), within the deployment's outbound policy (public addresses,
/// a time and size limit, no redirects). Called from blocking flows.
pub trait Fetcher: Send + Sync {
    /// The body of a 200 answer to a GET of `url`; otherwise why not, for the client's
    /// developer: that the URL is outside the outbound policy, or only that the document could
    /// not be fetched (the fetcher logs the reason; told to the client, it would make eid a
    /// probe of what answers where).
    fn fetch(&self, url: &str, document: Document) -> Result<Vec<u8>, String>;
}

/// A client's keys are fetched again after this many seconds...
pub const JWKS_CACHE_SECS: i64 = 300;
/// ...or sooner, when a JWT names a key the cached set lacks, at most this often.
pub const JWKS_REFETCH_SECS: i64 = 30;

/// Key sets fetched, by URL, with when.
#[derive(Default)]
pub(crate) struct JwksCache(parking_lot::Mutex<HashMap<String, (UnixTime, JwkSet)>>);

/// Where a client's keys are.
pub(crate) enum ClientKeys {
    /// Registered by value (or none).
    Inline(Option<JwkSet>),
    /// Fetched from `jwks_uri`; `fetched_at` says how fresh.
    Fetched { set: JwkSet, fetched_at: UnixTime },
}

impl Provider {
    /// The fetcher for clients' documents; without one (the command line), `jwks_uri` cannot
    /// be used.
    pub fn set_fetcher(&self, fetcher: std::sync::Arc<dyn Fetcher>) {
        let _ = self.fetcher.set(fetcher);
    }

    /// A document at `uri`, by the server's fetcher.
    pub(crate) fn fetch_document(&self, uri: &str, document: Document) -> Result<Vec<u8>, String> {
        let fetcher = self
            .fetcher
            .get()
            .ok_or("this eid-server does not fetch documents (no outbound HTTP)")?;
        fetcher.fetch(uri, document)
    }

    /// Fetches and checks a JWK set at `uri` (public signing keys only).
    pub(crate) fn fetch_jwks(&self, uri: &str) -> Result<JwkSet, String> {
        let body = self.fetch_document(uri, Document::ClientKeys)?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the jwks_uri document is not JSON: {e}"))?;
        validate_jwks(&json).map_err(|e| format!("the jwks_uri document: {e}"))
    }

    /// The keys `client` signs with: registered by value, or from its `jwks_uri` (cached for
    /// [`JWKS_CACHE_SECS`]; `fresh` fetches again if the cached set is older than
    /// [`JWKS_REFETCH_SECS`], for a JWT naming a key the set lacks: the client rotated).
    pub(crate) fn client_keys(
        &self,
        client: &ClientRecord,
        fresh: bool,
        now: UnixTime,
    ) -> Result<ClientKeys, String> {
        let Some(uri) = client.metadata.jwks_uri.as_deref() else {
            let set = client
                .metadata
                .jwks
                .as_ref()
                .map(|j| serde_json::from_value::<JwkSet>(j.clone()))
                .transpose()
                .map_err(|_| "the client's registered keys do not read as a JWK set")?;
            return Ok(ClientKeys::Inline(set));
        };
        let max_age = if fresh {
            JWKS_REFETCH_SECS
        } else {
            JWKS_CACHE_SECS
        };
        if let Some((fetched_at, set)) = self.jwks_cache.0.lock().get(uri) {
            if now - *fetched_at < max_age {
                return Ok(ClientKeys::Fetched {
                    set: set.clone(),
                    fetched_at: *fetched_at,
                });
            }
        }
        let set = self.fetch_jwks(uri).inspect_err(|reason| {
            tracing::warn!(target: "eid::security", event = "client_jwks_fetch_failed", client_id = %client.client_id, reason = %reason, "a client's jwks_uri could not be fetched");
        })?;
        self.jwks_cache
            .0
            .lock()
            .insert(uri.to_owned(), (now, set.clone()));
        Ok(ClientKeys::Fetched {
            set,
            fetched_at: now,
        })
    }
}

impl Provider {
    /// Verifies a JWT `client` signed (a client assertion, a request object) with its keys;
    /// when they come from its `jwks_uri` and none fits, fetches them again once (the client
    /// may have rotated), at most every [`JWKS_REFETCH_SECS`].
    pub(crate) fn verify_client_jwt(
        &self,
        client: &ClientRecord,
        token: &str,
        expect: &crate::jwt::Expect<'_>,
        now: UnixTime,
    ) -> Result<
        (
            jsonwebtoken::Header,
            serde_json::Map<String, serde_json::Value>,
        ),
        String,
    > {
        use crate::jwt::{verify, JwtError, Keys};
        match self.client_keys(client, false, now)? {
            ClientKeys::Inline(None) => Err("the client has registered no keys".into()),
            ClientKeys::Inline(Some(set)) => {
                verify(token, &Keys::Jwks(&set), expect).map_err(|e| e.to_string())
            }
            ClientKeys::Fetched { set, fetched_at } => {
                match verify(token, &Keys::Jwks(&set), expect) {
                    Err(JwtError::NoKey(_)) if now - fetched_at >= JWKS_REFETCH_SECS => {
                        match self.client_keys(client, true, now)? {
                            ClientKeys::Fetched { set, .. } => {
                                verify(token, &Keys::Jwks(&set), expect).map_err(|e| e.to_string())
                            }
                            ClientKeys::Inline(_) => Err("the client's keys changed".into()),
                        }
                    }
                    other => other.map_err(|e| e.to_string()),
                }
            }
        }
    }
}
