//! The provider: configuration, keys and storage bound together at start-up.

use std::sync::Arc;

use url::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::crypto::{DerivedKeys, MasterKey};
use crate::custody::{KeyCustody, Keyring};
use crate::keys::{ConnectorKey, JwsAlg, StoredKeys, TokenKeys};
use crate::limits::Limits;
use crate::store::{KeyPurpose, SigningKeyRecord, Store};
use crate::time::UnixTime;
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
    /// How long the one-time challenge a counter shows for the applying phone can be answered.
    pub counter_challenge_ttl: i64,
    /// How long after the applying phone answered at the counter the officer may approve.
    pub counter_presence_window: i64,
    /// Remote proofing; `None` switches it off (applicants are sent to a counter).
    pub registry: Option<RegistryConfig>,
    /// Cosine similarity from which a face template matches the registry's.
    pub face_match_threshold: f64,
    /// What remote proofing believes and how long a recovery waits (`[proofing]`).
    pub proofing: crate::proofing::ProofingPolicy,
    pub limits: Limits,
    /// Who may register clients at the registration endpoint.
    pub registration: crate::oidc::registration::RegistrationPolicy,
    /// The officer console's origin (the admin listener), for its WebAuthn relying party;
    /// `None` switches the console off.
    pub admin_origin: Option<Url>,
    /// Which keys are accepted, at which level.
    pub attestation: crate::attestation::AttestationPolicy,
    /// Which keys registration officers may register (`[officers]`).
    pub officers: crate::attestation::OfficerKeyPolicy,
    /// Offer the implicit flow (`id_token`, `id_token token`) to clients that register it:
    /// tokens then travel through the browser, which the OAuth 2.0 Security BCP (RFC 9700
    /// §2.1.2) advises against. OIDC Core §15.2 asks it of a Dynamic OpenID Provider.
    pub danger_implicit_flow: bool,
    /// The document-signing PKI's names, lifetimes and policy.
    pub pki: crate::pki::PkiConfig,
    /// How long single sign-on sessions live.
    pub sessions: crate::sso::SessionConfig,
    /// Who runs an administrative command (the operating system account, as the command
    /// line finds it), named in the audit events of operator acts; `None` for the server.
    pub operator: Option<String>,
}

impl ProviderConfig {
    /// Defaults for an issuer.
    pub fn new(issuer: Url) -> Self {
        Self {
            issuer: issuer.clone(),
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
            counter_challenge_ttl: 300,
            counter_presence_window: 600,
            registry: None,
            face_match_threshold: 0.8,
            proofing: crate::proofing::ProofingPolicy::default(),
            limits: Limits::default(),
            registration: Default::default(),
            admin_origin: None,
            attestation: crate::attestation::AttestationPolicy::default(),
            officers: crate::attestation::OfficerKeyPolicy::default(),
            danger_implicit_flow: false,
            pki: crate::pki::PkiConfig::new(issuer.clone()),
            sessions: crate::sso::SessionConfig::default(),
            operator: None,
        }
    }

    /// The issuer without a trailing slash, as it appears in `iss`.
    pub fn issuer_str(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }
}

/// How often each node reads the stored token keys again.
pub const KEY_RELOAD_SECS: i64 = 60;

/// How long a replaced key stays published: until the last ID token or JWT access token it
/// signed has expired, allowing for nodes that have not reloaded yet.
fn key_retention(config: &ProviderConfig) -> i64 {
    config.id_token_ttl.max(config.access_token_ttl) + 2 * KEY_RELOAD_SECS
}

/// The OpenID Connect provider and citizen registry. Cheap to share behind an `Arc`.
pub struct Provider {
    pub(crate) store: Arc<dyn Store>,
    /// The token-signing keys in force; replaced when stored keys rotate.
    keys: parking_lot::RwLock<Arc<dyn TokenKeys>>,
    /// Whether the token keys are the stored keys (which rotate), rather than keys given at
    /// start.
    rotating: bool,
    /// Reloads take turns, so that a slow one never puts back keys a later one replaced.
    reloading: parking_lot::Mutex<()>,
    pub(crate) connector: ConnectorKey,
    /// Where private keys are generated and opened (software, or a PKCS#11 token).
    pub(crate) keyring: Keyring,
    /// The signing PKI, read on first use.
    pub(crate) authority: parking_lot::RwLock<Option<Arc<crate::pki::authority::Authority>>>,
    /// The last CRL made.
    pub(crate) crl_cache: parking_lot::RwLock<Option<crate::pki::status::CachedCrl>>,
    /// OCSP answers to requests without a nonce, served again until halfway to `nextUpdate`.
    pub(crate) ocsp_cache: crate::pki::status::OcspCache,
    pub(crate) derived: DerivedKeys,
    pub(crate) webauthn: Webauthn,
    /// The officer console's relying party, when the console is on.
    pub(crate) officer_webauthn: Option<Webauthn>,
    pub(crate) config: ProviderConfig,
    /// Rate limits counted in this process (see [`crate::limits`]).
    pub(crate) local_limits: crate::limits::LocalLimiter,
    /// Fetches clients' documents (`jwks_uri`); set by the server.
    pub(crate) fetcher: std::sync::OnceLock<Arc<dyn crate::fetch::Fetcher>>,
    /// Clients' key sets fetched from their `jwks_uri`.
    pub(crate) jwks_cache: crate::fetch::JwksCache,
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
    /// Keys are in software custody (sealed under the master key).
    pub fn open(
        store: Arc<dyn Store>,
        master_key: &MasterKey,
        config: ProviderConfig,
        now: UnixTime,
    ) -> Result<Self, Error> {
        Self::open_with_custody(store, master_key, None, config, now)
    }

    /// [`Provider::open`] with a PKCS#11 token (an HSM) in which new keys are generated;
    /// keys stored earlier in software custody stay usable.
    pub fn open_with_custody(
        store: Arc<dyn Store>,
        master_key: &MasterKey,
        token: Option<Arc<dyn KeyCustody>>,
        config: ProviderConfig,
        now: UnixTime,
    ) -> Result<Self, Error> {
        let derived = master_key.derive_keys();
        let keyring = Keyring::new(derived.data.clone(), token);
        let retain = key_retention(&config);
        let stored = store.signing_keys(KeyPurpose::Token)?;
        let keys = if stored.is_empty() {
            let (generated, records) = StoredKeys::generate(&keyring, now)?;
            if store.insert_signing_keys_if_none(KeyPurpose::Token, &records)? {
                tracing::info!(
                    custody = keyring.custody().as_str(),
                    "generated new token-signing keys (ES256, RS256)"
                );
                generated
            } else {
                StoredKeys::load_at(
                    &keyring,
                    &store.signing_keys(KeyPurpose::Token)?,
                    now,
                    retain,
                )?
            }
        } else {
            StoredKeys::load_at(&keyring, &stored, now, retain)?
        };
        let mut provider = Self::build(store, Arc::new(keys), keyring, derived, config, now)?;
        provider.rotating = true;
        Ok(provider)
    }

    /// Opens the provider with another [`TokenKeys`] implementation given at start, which
    /// eid does not rotate.
    pub fn with_keys(
        store: Arc<dyn Store>,
        keys: Arc<dyn TokenKeys>,
        derived: DerivedKeys,
        config: ProviderConfig,
        now: UnixTime,
    ) -> Result<Self, Error> {
        let keyring = Keyring::new(derived.data.clone(), None);
        Self::build(store, keys, keyring, derived, config, now)
    }

    fn build(
        store: Arc<dyn Store>,
        keys: Arc<dyn TokenKeys>,
        keyring: Keyring,
        derived: DerivedKeys,
        config: ProviderConfig,
        now: UnixTime,
    ) -> Result<Self, Error> {
        let connector = Self::connector_key(store.as_ref(), &keyring, now)?;
        let webauthn = webauthn_for(&config.issuer, "eid")?;
        let officer_webauthn = config
            .admin_origin
            .as_ref()
            .map(|origin| webauthn_for(origin, "eid officer console"))
            .transpose()?;
        Ok(Self {
            store,
            keys: parking_lot::RwLock::new(keys),
            rotating: false,
            reloading: parking_lot::Mutex::new(()),
            connector,
            keyring,
            authority: parking_lot::RwLock::new(None),
            crl_cache: parking_lot::RwLock::new(None),
            ocsp_cache: Default::default(),
            derived,
            webauthn,
            officer_webauthn,
            config,
            local_limits: crate::limits::LocalLimiter::new(200_000),
            fetcher: std::sync::OnceLock::new(),
            jwks_cache: Default::default(),
        })
    }

    fn connector_key(
        store: &dyn Store,
        keyring: &Keyring,
        now: UnixTime,
    ) -> Result<ConnectorKey, Error> {
        let stored = store.signing_keys(KeyPurpose::Connector)?;
        if !stored.is_empty() {
            return ConnectorKey::load(keyring, &stored);
        }
        let (key, record) = ConnectorKey::generate(keyring, now)?;
        if store.insert_signing_keys_if_none(KeyPurpose::Connector, &[record])? {
            tracing::info!("generated a new connector key (ES256)");
            Ok(key)
        } else {
            ConnectorKey::load(keyring, &store.signing_keys(KeyPurpose::Connector)?)
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The public signing keys (RFC 7517), as served at the JWKS endpoint.
    pub fn jwks(&self) -> eid_proto::oauth::Jwks {
        self.token_keys().jwks()
    }

    /// The token-signing keys in force.
    pub(crate) fn token_keys(&self) -> Arc<dyn TokenKeys> {
        Arc::clone(&self.keys.read())
    }

    /// Reads the stored token keys again, as they stand at `now` (another node, or the
    /// operator, may have rotated them). The server calls it every [`KEY_RELOAD_SECS`].
    pub fn reload_token_keys(&self, now: UnixTime) -> Result<(), Error> {
        if !self.rotating {
            return Ok(());
        }
        let _turn = self.reloading.lock();
        let (keys, _) = self.stored_token_keys(now)?;
        *self.keys.write() = Arc::new(keys);
        Ok(())
    }

    /// The stored token keys as they stand at `now`, with their records.
    fn stored_token_keys(
        &self,
        now: UnixTime,
    ) -> Result<(StoredKeys, Vec<SigningKeyRecord>), Error> {
        let records = self.store.signing_keys(KeyPurpose::Token)?;
        let keys = StoredKeys::load_at(&self.keyring, &records, now, key_retention(&self.config))?;
        Ok((keys, records))
    }

    /// Rotates the token keys: new ES256 and RS256 keys, published at once and signing from
    /// `starts_at` (give relying parties that cache the key set time to see them), and at
    /// the earliest a second after the newest key there is; the
    /// previous keys stay published until every token they signed has expired. Returns the
    /// new keys' ids.
    pub fn rotate_token_keys(
        &self,
        now: UnixTime,
        starts_at: UnixTime,
    ) -> Result<Vec<String>, Error> {
        if !self.rotating {
            return Err(Error::Config(
                "the token keys were given at start: rotate them where they came from".into(),
            ));
        }
        // Strictly after every key there is: a key's start orders it.
        let newest = self
            .store
            .signing_keys(KeyPurpose::Token)?
            .iter()
            .map(|r| r.created_at)
            .max()
            .unwrap_or(UnixTime::from_secs(i64::MIN));
        let starts_at = starts_at.max(now).max(newest + 1);
        let (_, records) = StoredKeys::generate(&self.keyring, starts_at)?;
        // Security review 2026-12-07, L3: a rotation is an operator's act.
        let event = self.record(
            crate::audit::Event::new("keys.rotated", &crate::audit::Actor::Operator).detail(
                crate::audit::Detail {
                    changes: records
                        .iter()
                        .map(|r| {
                            format!(
                                "{}: {} in {} custody, signing from {}",
                                r.kid,
                                r.alg,
                                r.custody.as_str(),
                                starts_at.secs()
                            )
                        })
                        .collect(),
                    ..crate::audit::Detail::default()
                },
            ),
            now,
        )?;
        self.store.insert_signing_keys(&records, &[event])?;
        tracing::info!(target: "eid::security", event = "keys.rotated", kids = ?records.iter().map(|r| &r.kid).collect::<Vec<_>>(), starts_at = starts_at.secs(), "token-signing keys rotated");
        self.reload_token_keys(now)?;
        Ok(records.into_iter().map(|r| r.kid).collect())
    }

    /// Every stored token key with what it does at `now`: `signing`, `published` (waiting to
    /// sign, or still verifying what it signed), or `retired`.
    pub fn token_key_status(
        &self,
        now: UnixTime,
    ) -> Result<Vec<(SigningKeyRecord, &'static str)>, Error> {
        let (keys, records) = self.stored_token_keys(now)?;
        let published: Vec<String> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
        let signing = [keys.kid(JwsAlg::Es256), keys.kid(JwsAlg::Rs256)];
        Ok(records
            .into_iter()
            .map(|r| {
                let status = if signing.contains(&r.kid.as_str()) {
                    "signing"
                } else if published.contains(&r.kid) {
                    "published"
                } else {
                    "retired"
                };
                (r, status)
            })
            .collect())
    }

    /// The public keys of eid's requests to outside services (the population registry).
    pub fn connector_jwks(&self) -> eid_proto::oauth::Jwks {
        self.connector.jwks()
    }

    /// Housekeeping: removes expired requests, ceremonies, tokens, sessions and applications,
    /// and destroys the keys of revoked signing certificates still in custody.
    pub fn purge_expired(&self, now: UnixTime) -> Result<usize, Error> {
        self.local_limits.purge(now);
        let purged = self.store.purge_expired(
            now,
            self.config.completion_window,
            self.config.access_token_ttl,
            self.config.sessions.idle,
        )?;
        // Keys of revoked signing certificates that could not be destroyed when they were
        // revoked (a token unreachable then), or were revoked before eid destroyed them.
        let destroyed = match self.destroy_revoked_signer_keys(None, now) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(target: "eid::security", event = "key.destroy_failed", "revoked signing keys could not be destroyed yet: {e}");
                0
            }
        };
        Ok(purged + destroyed)
    }
}
