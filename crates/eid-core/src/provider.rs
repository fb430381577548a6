//! The provider: configuration, keys and storage bound together at start-up.

use std::sync::Arc;

use url::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::crypto::{DerivedKeys, MasterKey};
use crate::keys::{SoftwareKeys, TokenKeys};
use crate::store::Store;
use crate::Error;

/// Settings of the provider. Lifetimes are in seconds.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The issuer identifier (OIDC Discovery §4.3): scheme, host, optional port, no query.
    pub issuer: Url,
    /// How long a citizen has to approve a login on the phone.
    pub login_ttl: i64,
    /// Authorization code lifetime (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub code_ttl: i64,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    /// Enrolment, device-link and session ceremonies.
    pub ceremony_ttl: i64,
    /// The wallet's account-management session.
    pub wallet_session_ttl: i64,
}

impl ProviderConfig {
    /// Defaults for an issuer.
    pub fn new(issuer: Url) -> Self {
        Self {
            issuer,
            login_ttl: 600,
            code_ttl: 60,
            access_token_ttl: 600,
            id_token_ttl: 600,
            ceremony_ttl: 300,
            wallet_session_ttl: 300,
        }
    }

    /// The issuer without a trailing slash, as it appears in `iss`.
    pub fn issuer_str(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }
}

/// The OpenID Connect provider and citizen registry. Cheap to share behind an `Arc`.
pub struct Provider {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<dyn TokenKeys>,
    pub(crate) derived: DerivedKeys,
    pub(crate) webauthn: Webauthn,
    pub(crate) config: ProviderConfig,
}

impl Provider {
    /// Opens the provider over a store: loads the signing keys, generating and storing them on
    /// the first start. When several nodes start at once, one node's keys win and all use them.
    pub fn open(
        store: Arc<dyn Store>,
        master_key: &MasterKey,
        config: ProviderConfig,
        now: i64,
    ) -> Result<Self, Error> {
        let derived = master_key.derive_keys();
        let stored = store.signing_keys()?;
        let keys = if stored.is_empty() {
            let (generated, records) = SoftwareKeys::generate(&derived.data, now)?;
            if store.insert_signing_keys_if_none(&records)? {
                tracing::info!("generated new token-signing keys (ES256, RS256)");
                generated
            } else {
                SoftwareKeys::load(&derived.data, &store.signing_keys()?)?
            }
        } else {
            SoftwareKeys::load(&derived.data, &stored)?
        };
        Self::with_keys(store, Arc::new(keys), derived, config)
    }

    /// Opens the provider with another [`TokenKeys`] implementation (e.g. an HSM).
    pub fn with_keys(
        store: Arc<dyn Store>,
        keys: Arc<dyn TokenKeys>,
        derived: DerivedKeys,
        config: ProviderConfig,
    ) -> Result<Self, Error> {
        let rp_id = config
            .issuer
            .host_str()
            .ok_or_else(|| Error::Config("the issuer URL has no host".into()))?
            .to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &config.issuer)
            .and_then(|b| b.rp_name("eid").build())
            .map_err(|e| {
                Error::Config(format!(
                    "WebAuthn refuses the issuer {} (use https, or http://localhost): {e}",
                    config.issuer
                ))
            })?;
        Ok(Self {
            store,
            keys,
            derived,
            webauthn,
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The storage behind the provider.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The public signing keys (RFC 7517), as served at the JWKS endpoint.
    pub fn jwks(&self) -> eid_proto::oauth::Jwks {
        self.keys.jwks()
    }

    /// Housekeeping: removes expired requests, ceremonies, tokens and sessions.
    pub fn purge_expired(&self, now: i64) -> Result<usize, Error> {
        Ok(self.store.purge_expired(now)?)
    }
}
