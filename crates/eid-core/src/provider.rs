//! The provider: configuration, keys and storage bound together at start-up.

use std::sync::Arc;

use url::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::crypto::{DerivedKeys, MasterKey};
use crate::keys::{ConnectorKey, SoftwareKeys, TokenKeys};
use crate::limits::Limits;
use crate::store::{KeyPurpose, Store};
use crate::Error;

/// How remote identity proofing reaches the population registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The registry's identifier: the `aud` of eid's queries and the `iss` of its verdicts.
    pub registry_id: String,
}

/// Settings of the provider. Lifetimes are in seconds.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The issuer identifier (OIDC Discovery §4.3): scheme, host, optional port, no query.
    pub issuer: Url,
    /// How long a citizen has to answer a login request on the phone.
    pub approval_window: i64,
    /// How long the browser has, after the phone approved, to continue to the service.
    pub completion_window: i64,
    /// How long a login page lives, approval windows renewed on it included (the browser
    /// cookie's lifetime).
    pub login_ttl: i64,
    /// Authorization code lifetime (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub code_ttl: i64,
    pub access_token_ttl: i64,
    /// A refresh token's lifetime unused (each use rotates it and starts it again)...
    pub refresh_token_idle_ttl: i64,
    /// ...and its grant's, which no use extends: after it the citizen approves again.
    pub refresh_token_max_ttl: i64,
    pub id_token_ttl: i64,
    /// Enrolment, device-link, proofing and session ceremonies.
    pub ceremony_ttl: i64,
    /// The wallet's account-management session.
    pub wallet_session_ttl: i64,
    /// How long an application waits for proofing before it is purged.
    pub application_ttl: i64,
    /// How long a device that joined by link code may not remove older devices.
    pub link_cooling_off: i64,
    /// How long an officer's one-time enrolment link works.
    pub officer_invite_ttl: i64,
    /// How long an officer's console session lasts.
    pub officer_session_ttl: i64,
    /// Remote proofing; `None` switches it off (applicants are sent to a counter).
    pub registry: Option<RegistryConfig>,
    /// Cosine similarity from which a face template matches the registry's.
    pub face_match_threshold: f64,
    pub limits: Limits,
    /// Who may register clients at the registration endpoint.
    pub registration: crate::oidc::registration::RegistrationPolicy,
    /// The officer console's origin (the admin listener), for its WebAuthn relying party;
    /// `None` switches the console off.
    pub admin_origin: Option<Url>,
    /// Which keys are accepted, at which level.
    pub attestation: crate::attestation::AttestationPolicy,
}

impl ProviderConfig {
    /// Defaults for an issuer.
    pub fn new(issuer: Url) -> Self {
        Self {
            issuer,
            approval_window: 120,
            completion_window: 120,
            login_ttl: 600,
            code_ttl: 60,
            access_token_ttl: 600,
            refresh_token_idle_ttl: 30 * 86_400,
            refresh_token_max_ttl: 180 * 86_400,
            id_token_ttl: 600,
            ceremony_ttl: 300,
            wallet_session_ttl: 300,
            application_ttl: 7 * 86_400,
            link_cooling_off: 7 * 86_400,
            officer_invite_ttl: 86_400,
            officer_session_ttl: 8 * 3_600,
            registry: None,
            face_match_threshold: 0.8,
            limits: Limits::default(),
            registration: Default::default(),
            admin_origin: None,
            attestation: crate::attestation::AttestationPolicy::default(),
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
    pub(crate) connector: ConnectorKey,
    pub(crate) derived: DerivedKeys,
    pub(crate) webauthn: Webauthn,
    /// The officer console's relying party, when the console is on.
    pub(crate) officer_webauthn: Option<Webauthn>,
    pub(crate) config: ProviderConfig,
    /// Rate limits counted in this process (see [`crate::limits`]).
    pub(crate) local_limits: crate::limits::LocalLimiter,
}

fn webauthn_for(origin: &Url, rp_name: &str) -> Result<Webauthn, Error> {
    let rp_id = origin
        .host_str()
        .ok_or_else(|| Error::Config(format!("{origin} has no host")))?
        .to_owned();
    WebauthnBuilder::new(&rp_id, origin)
        .and_then(|b| b.rp_name(rp_name).build())
        .map_err(|e| {
            Error::Config(format!(
                "WebAuthn refuses the origin {origin} (use https, or http://localhost): {e}"
            ))
        })
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
        let stored = store.signing_keys(KeyPurpose::Token)?;
        let keys = if stored.is_empty() {
            let (generated, records) = SoftwareKeys::generate(&derived.data, now)?;
            if store.insert_signing_keys_if_none(KeyPurpose::Token, &records)? {
                tracing::info!("generated new token-signing keys (ES256, RS256)");
                generated
            } else {
                SoftwareKeys::load(&derived.data, &store.signing_keys(KeyPurpose::Token)?)?
            }
        } else {
            SoftwareKeys::load(&derived.data, &stored)?
        };
        Self::with_keys(store, Arc::new(keys), derived, config, now)
    }

    /// Opens the provider with another [`TokenKeys`] implementation (e.g. an HSM).
    pub fn with_keys(
        store: Arc<dyn Store>,
        keys: Arc<dyn TokenKeys>,
        derived: DerivedKeys,
        config: ProviderConfig,
        now: i64,
    ) -> Result<Self, Error> {
        let connector = Self::connector_key(store.as_ref(), &derived, now)?;
        let webauthn = webauthn_for(&config.issuer, "eid")?;
        let officer_webauthn = config
            .admin_origin
            .as_ref()
            .map(|origin| webauthn_for(origin, "eid officer console"))
            .transpose()?;
        Ok(Self {
            store,
            keys,
            connector,
            derived,
            webauthn,
            officer_webauthn,
            config,
            local_limits: crate::limits::LocalLimiter::new(200_000),
        })
    }

    fn connector_key(
        store: &dyn Store,
        derived: &DerivedKeys,
        now: i64,
    ) -> Result<ConnectorKey, Error> {
        let stored = store.signing_keys(KeyPurpose::Connector)?;
        if !stored.is_empty() {
            return ConnectorKey::load(&derived.data, &stored);
        }
        let (key, record) = ConnectorKey::generate(&derived.data, now)?;
        if store.insert_signing_keys_if_none(KeyPurpose::Connector, &[record])? {
            tracing::info!("generated a new connector key (ES256)");
            Ok(key)
        } else {
            ConnectorKey::load(&derived.data, &store.signing_keys(KeyPurpose::Connector)?)
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The public signing keys (RFC 7517), as served at the JWKS endpoint.
    pub fn jwks(&self) -> eid_proto::oauth::Jwks {
        self.keys.jwks()
    }

    /// The public keys of eid's requests to outside services (the population registry).
    pub fn connector_jwks(&self) -> eid_proto::oauth::Jwks {
        self.connector.jwks()
    }

    /// Housekeeping: removes expired requests, ceremonies, tokens, sessions and applications.
    pub fn purge_expired(&self, now: i64) -> Result<usize, Error> {
        self.local_limits.purge(now);
        Ok(self.store.purge_expired(
            now,
            self.config.completion_window,
            self.config.access_token_ttl,
        )?)
    }
}
