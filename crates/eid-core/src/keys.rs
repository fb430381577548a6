//! Token-signing keys behind one trait, [`TokenKeys`], and the connector key. Both are held by
//! a key custody ([`crate::custody`]): software keys sealed under the master key, or a
//! hardware security module (PKCS#11), without the flows knowing which.
//!
//! [`StoredKeys`] holds an ES256 (P-256) and an RS256 (RSA-2048) key, generated on first start
//! and stored (sealed PKCS#8, or the token object's id) with their custody.

use std::sync::Arc;

use p256::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

use eid_proto::oauth::{Jwk, Jwks};

use crate::crypto::{b64url, sha256};
use crate::custody::{Keyring, PrivateKey};
use crate::jose::es256_jwk;
use crate::store::{KeyPurpose, SigningKeyRecord};
use crate::time::UnixTime;
use crate::Error;

/// JWS algorithms eid signs ID tokens with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    /// ECDSA P-256 with SHA-256: the default for clients.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: OIDC's mandatory-to-implement algorithm.
    Rs256,
}

impl JwsAlg {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    /// Parses an `alg` value eid supports.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
}

/// Access to the provider's signing keys. Implementations keep private keys to themselves.
pub trait TokenKeys: Send + Sync {
    /// The public keys, as published at the JWKS endpoint.
    fn jwks(&self) -> Jwks;
    /// The id of the key that signs with `alg` now.
    fn signing_kid(&self, alg: JwsAlg) -> Result<String, Error>;
    /// Signs `message` with the current key for `alg`; returns the key's `kid` and the JWS
    /// signature bytes (for ES256 the 64-byte `r || s` form of RFC 7518 §3.4).
    fn sign(&self, alg: JwsAlg, message: &[u8]) -> Result<(String, Vec<u8>), Error>;
}

/// The stored token keys, opened through their custody.
pub struct StoredKeys {
    es256: (String, Arc<dyn PrivateKey>),
    rs256: (String, Arc<dyn PrivateKey>),
    jwks: Jwks,
}

impl StoredKeys {
    /// Generates a fresh ES256 and RS256 key in the keyring's custody for new keys, which sign
    /// from `now`; returns them with their records to store.
    pub fn generate(
        keyring: &Keyring,
        now: UnixTime,
    ) -> Result<(Self, Vec<SigningKeyRecord>), Error> {
        let mut records = Vec::new();
        for alg in [JwsAlg::Es256, JwsAlg::Rs256] {
            let prefix = alg.as_str().to_ascii_lowercase();
            let (_, record) = keyring.generate(alg, &prefix, KeyPurpose::Token, now)?;
            records.push(record);
        }
        let keys = Self::load(keyring, &records)?;
        Ok((keys, records))
    }

    /// Opens stored keys: of each algorithm, the newest signs and every one is published.
    pub fn load(keyring: &Keyring, records: &[SigningKeyRecord]) -> Result<Self, Error> {
        Self::load_at(
            keyring,
            records,
            UnixTime::from_secs(i64::MAX - 1),
            i64::MAX,
        )
    }

    /// Opens stored keys as they stand at `now` (key rotation): of each algorithm, the newest
    /// key created at `now` or before signs; it is published with the keys created after it
    /// (waiting to take over) and with those before it that it replaced less than `retain`
    /// seconds ago (the tokens they signed may still be in use). Older keys are retired.
    pub fn load_at(
        keyring: &Keyring,
        records: &[SigningKeyRecord],
        now: UnixTime,
        retain: i64,
    ) -> Result<Self, Error> {
        let mut es256: Vec<(&SigningKeyRecord, Arc<dyn PrivateKey>)> = Vec::new();
        let mut rs256: Vec<(&SigningKeyRecord, Arc<dyn PrivateKey>)> = Vec::new();
        let mut sorted: Vec<&SigningKeyRecord> = records.iter().collect();
        sorted.sort_by_key(|r| (r.created_at, r.kid.clone()));
        for record in sorted {
            let key = keyring.open(record)?;
            match key.alg() {
                JwsAlg::Es256 => es256.push((record, key)),
                JwsAlg::Rs256 => rs256.push((record, key)),
            }
        }
        let mut jwks = Jwks { keys: Vec::new() };
        let mut failed = None;
        let mut publish =
            |(record, key): &(&SigningKeyRecord, Arc<dyn PrivateKey>)| match public_jwk(
                &record.kid,
                key.as_ref(),
            ) {
                Ok(jwk) => jwks.keys.push(jwk),
                Err(e) => failed = Some(e),
            };
        let es_signer = rotation(&es256, now, retain, |i| publish(&es256[i]));
        let rs_signer = rotation(&rs256, now, retain, |i| publish(&rs256[i]));
        if let Some(e) = failed {
            return Err(e);
        }
        let (Some(es), Some(rs)) = (es_signer, rs_signer) else {
            return Err(Error::Crypto(
                "the key store lacks an ES256 or RS256 key".into(),
            ));
        };
        let (es_record, es_key) = es256.swap_remove(es);
        let (rs_record, rs_key) = rs256.swap_remove(rs);
        Ok(Self {
            es256: (es_record.kid.clone(), es_key),
            rs256: (rs_record.kid.clone(), rs_key),
            jwks,
        })
    }
}

/// Of one algorithm's keys (oldest first): which signs at `now`, and which are published
/// (`publish` is called with each, oldest first). `None` when there are none.
fn rotation<K>(
    keys: &[(&SigningKeyRecord, K)],
    now: UnixTime,
    retain: i64,
    mut publish: impl FnMut(usize),
) -> Option<usize> {
    if keys.is_empty() {
        return None;
    }
    // The newest that has started; if none has, the oldest (a store whose every key is yet to
    // start still signs).
    let active = keys
        .iter()
        .rposition(|(r, _)| r.created_at <= now)
        .unwrap_or(0);
    for i in 0..keys.len() {
        let replaced_lately = keys
            .get(i + 1)
            .is_some_and(|(next, _)| next.created_at + retain > now);
        if i >= active || replaced_lately {
            publish(i);
        }
    }
    Some(active)
}

impl StoredKeys {
    /// The id of the key that signs with `alg`.
    pub fn kid(&self, alg: JwsAlg) -> &str {
        match alg {
            JwsAlg::Es256 => &self.es256.0,
            JwsAlg::Rs256 => &self.rs256.0,
        }
    }
}

impl TokenKeys for StoredKeys {
    fn jwks(&self) -> Jwks {
        self.jwks.clone()
    }

    fn signing_kid(&self, alg: JwsAlg) -> Result<String, Error> {
        Ok(self.kid(alg).to_owned())
    }

    fn sign(&self, alg: JwsAlg, message: &[u8]) -> Result<(String, Vec<u8>), Error> {
        let (kid, key) = match alg {
            JwsAlg::Es256 => &self.es256,
            JwsAlg::Rs256 => &self.rs256,
        };
        Ok((kid.clone(), key.sign(message)?))
    }
}

/// The public JWK of a key in custody (from its `SubjectPublicKeyInfo`).
pub fn public_jwk(kid: &str, key: &dyn PrivateKey) -> Result<Jwk, Error> {
    let bad = |e: String| Error::Crypto(format!("the public key of {kid}: {e}"));
    match key.alg() {
        JwsAlg::Es256 => {
            let public = p256::ecdsa::VerifyingKey::from_public_key_der(key.public_key_der())
                .map_err(|e| bad(e.to_string()))?;
            Ok(es256_jwk(kid, &public))
        }
        JwsAlg::Rs256 => {
            let public = rsa::RsaPublicKey::from_public_key_der(key.public_key_der())
                .map_err(|e| bad(e.to_string()))?;
            Ok(Jwk {
                kty: "RSA".into(),
                kid: kid.into(),
                use_: "sig".into(),
                alg: "RS256".into(),
                crv: None,
                x: None,
                y: None,
                n: Some(b64url(&public.n_bytes())),
                e: Some(b64url(&public.e_bytes())),
            })
        }
    }
}

/// The key eid signs its requests to outside services with (the population registry), kept
/// apart from the token keys. Its public half is served at the connector JWKS endpoint.
pub struct ConnectorKey {
    kid: String,
    key: Arc<dyn PrivateKey>,
    jwks: Jwks,
}

impl ConnectorKey {
    /// Generates a fresh P-256 key; returns it with its record to store.
    pub fn generate(keyring: &Keyring, now: UnixTime) -> Result<(Self, SigningKeyRecord), Error> {
        let (key, record) =
            keyring.generate(JwsAlg::Es256, "connector", KeyPurpose::Connector, now)?;
        Ok((Self::new(record.kid.clone(), key)?, record))
    }

    /// Opens the newest stored connector key.
    pub fn load(keyring: &Keyring, records: &[SigningKeyRecord]) -> Result<Self, Error> {
        let record = records
            .iter()
            .filter(|r| r.purpose == KeyPurpose::Connector)
            .max_by_key(|r| r.created_at)
            .ok_or_else(|| Error::Crypto("no connector key is stored".into()))?;
        Self::new(record.kid.clone(), keyring.open(record)?)
    }

    fn new(kid: String, key: Arc<dyn PrivateKey>) -> Result<Self, Error> {
        if key.alg() != JwsAlg::Es256 {
            return Err(Error::Crypto("the connector key must be ES256".into()));
        }
        let jwks = Jwks {
            keys: vec![public_jwk(&kid, key.as_ref())?],
        };
        Ok(Self { kid, key, jwks })
    }

    /// The public key set to publish.
    pub fn jwks(&self) -> Jwks {
        self.jwks.clone()
    }

    /// Signs `claims` as a compact ES256 JWS of type `typ`.
    pub fn sign(&self, typ: &str, claims: &serde_json::Value) -> Result<String, Error> {
        let header = serde_json::json!({ "alg": "ES256", "typ": typ, "kid": self.kid });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = self.key.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", b64url(&signature)))
    }
}

/// Builds a compact JWS (RFC 7515 §7.1) over `claims` with `typ: JWT`.
pub fn sign_jwt(
    keys: &dyn TokenKeys,
    alg: JwsAlg,
    claims: &serde_json::Value,
) -> Result<String, Error> {
    sign_jwt_typed(keys, alg, "JWT", claims)
}

/// [`sign_jwt`] with another `typ` (a logout token's `logout+jwt`, RFC 8725 §3.11).
pub fn sign_jwt_typed(
    keys: &dyn TokenKeys,
    alg: JwsAlg,
    typ: &str,
    claims: &serde_json::Value,
) -> Result<String, Error> {
    // The kid must be in the header: sign a header naming the current key, and check that the
    // key that signed is that one.
    let kid = keys.signing_kid(alg)?;
    let header = serde_json::json!({ "alg": alg.as_str(), "typ": typ, "kid": kid });
    let header = b64url(&serde_json::to_vec(&header).map_err(|e| Error::Crypto(e.to_string()))?);
    let payload = b64url(&serde_json::to_vec(claims).map_err(|e| Error::Crypto(e.to_string()))?);
    let signing_input = format!("{header}.{payload}");
    let (signed_kid, signature) = keys.sign(alg, signing_input.as_bytes())?;
    if signed_kid != kid {
        return Err(Error::Crypto("signing key changed while signing".into()));
    }
    Ok(format!("{signing_input}.{}", b64url(&signature)))
}

/// The left half of SHA-256 of `value`, base64url: `at_hash` (OIDC Core §3.1.3.6) for ES256
/// and RS256 alike.
pub fn half_hash(value: &str) -> String {
    b64url(&sha256(value.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{b64url_decode, MasterKey};
    use crate::custody::verify;

    fn keyring(seed: u8) -> Keyring {
        Keyring::new(MasterKey::from_bytes([seed; 32]).derive_keys().data, None)
    }

    #[test]
    fn generated_keys_reload_to_the_same_jwks_and_sign_verifiably() {
        let keyring = keyring(1);
        let (keys, records) = StoredKeys::generate(&keyring, UnixTime::from_secs(100)).unwrap();
        let again = StoredKeys::load(&keyring, &records).unwrap();
        assert_eq!(keys.jwks(), again.jwks());
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| !r.private_key.is_empty()));

        let claims = serde_json::json!({"sub": "x"});
        let jwt = sign_jwt(&again, JwsAlg::Es256, &claims).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&b64url_decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert!(verify(
            JwsAlg::Es256,
            again.es256.1.public_key_der(),
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &b64url_decode(parts[2]).unwrap()
        ));

        let rs = sign_jwt(&again, JwsAlg::Rs256, &claims).unwrap();
        let parts: Vec<&str> = rs.split('.').collect();
        assert!(verify(
            JwsAlg::Rs256,
            again.rs256.1.public_key_der(),
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &b64url_decode(parts[2]).unwrap()
        ));
    }

    #[test]
    fn rotated_keys_sign_from_their_start_and_retire_after_the_retention() {
        let sealer = keyring(3);
        let (_, old) = StoredKeys::generate(&sealer, UnixTime::from_secs(0)).unwrap();
        let (_, new) = StoredKeys::generate(&sealer, UnixTime::from_secs(100)).unwrap();
        let records: Vec<SigningKeyRecord> = old.iter().chain(&new).cloned().collect();
        let kids = |keys: &StoredKeys| {
            let mut k: Vec<String> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
            k.sort();
            k
        };
        let mut all: Vec<String> = records.iter().map(|r| r.kid.clone()).collect();
        all.sort();
        let mut newest: Vec<String> = new.iter().map(|r| r.kid.clone()).collect();
        newest.sort();
        // Before the new keys start: the old ones sign, the new ones are already published.
        let at = StoredKeys::load_at(&sealer, &records, UnixTime::from_secs(50), 60).unwrap();
        assert_eq!(at.kid(JwsAlg::Es256), old[0].kid);
        assert_eq!(kids(&at), all);
        // From their start the new ones sign; the old ones stay published for the retention.
        let at = StoredKeys::load_at(&sealer, &records, UnixTime::from_secs(100), 60).unwrap();
        assert_eq!(at.kid(JwsAlg::Es256), new[0].kid);
        assert_eq!(at.kid(JwsAlg::Rs256), new[1].kid);
        assert_eq!(kids(&at), all);
        assert_eq!(
            kids(&StoredKeys::load_at(&sealer, &records, UnixTime::from_secs(159), 60).unwrap()),
            all
        );
        // Then they retire.
        assert_eq!(
            kids(&StoredKeys::load_at(&sealer, &records, UnixTime::from_secs(160), 60).unwrap()),
            newest
        );
        // Without rotation's clock, the newest signs and everything is published.
        let loaded = StoredKeys::load(&sealer, &records).unwrap();
        assert_eq!(loaded.kid(JwsAlg::Es256), new[0].kid);
        assert_eq!(kids(&loaded), all);
    }

    #[test]
    fn the_connector_key_is_separate_and_reloads() {
        let sealer = keyring(1);
        let (key, record) = ConnectorKey::generate(&sealer, UnixTime::from_secs(5)).unwrap();
        assert_eq!(record.purpose, KeyPurpose::Connector);
        let again = ConnectorKey::load(&sealer, &[record]).unwrap();
        assert_eq!(key.jwks(), again.jwks());
        let jws = again.sign("t+jwt", &serde_json::json!({"x": 1})).unwrap();
        assert!(crate::jose::verify_es256(&jws, &key.jwks(), "t+jwt").is_ok());
    }

    #[test]
    fn keys_do_not_open_under_another_master_key() {
        let sealer = keyring(1);
        let (_, records) = StoredKeys::generate(&sealer, UnixTime::from_secs(0)).unwrap();
        let other = keyring(2);
        assert!(StoredKeys::load(&other, &records).is_err());
    }

    #[test]
    fn at_hash_matches_oidc_core_example() {
        // OIDC Core Appendix A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // has at_hash "77QmUPtjPfzWtF2AnpK9RQ" (left half of SHA-256).
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
