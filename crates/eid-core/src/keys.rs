//! Token-signing keys behind one trait, [`TokenKeys`], so that a hardware security module
//! (PKCS#11) can take the software implementation's place without touching the flows.
//!
//! [`SoftwareKeys`] holds an ES256 (P-256) and an RS256 (RSA-2048) key in memory. They are
//! generated on first start and stored as PKCS#8, sealed with AES-256-GCM under the master key.

use p256::ecdsa::signature::{SignatureEncoding, Signer};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;

use eid_proto::oauth::{Jwk, Jwks};

use crate::crypto::{b64url, sha256, Sealer};
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

/// Signing keys held in process memory.
pub struct SoftwareKeys {
    es256: (String, p256::ecdsa::SigningKey),
    rs256: (String, rsa::pkcs1v15::SigningKey<sha2::Sha256>),
    jwks: Jwks,
}

const RSA_BITS: usize = 2048;

impl SoftwareKeys {
    /// Generates a fresh ES256 and RS256 key, which sign from `now`; returns them with their
    /// sealed records to store.
    pub fn generate(
        sealer: &Sealer,
        now: UnixTime,
    ) -> Result<(Self, Vec<SigningKeyRecord>), Error> {
        let mut rng = rand::rng();
        let ec = <p256::ecdsa::SigningKey as p256::elliptic_curve::Generate>::generate_from_rng(
            &mut rng,
        );
        let rsa = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS)
            .map_err(|e| Error::Crypto(format!("RSA key generation failed: {e}")))?;
        let ec_der = ec
            .to_pkcs8_der()
            .map_err(|e| Error::Crypto(format!("PKCS#8 encoding failed: {e}")))?;
        let rsa_der = rsa
            .to_pkcs8_der()
            .map_err(|e| Error::Crypto(format!("PKCS#8 encoding failed: {e}")))?;
        let mut records = Vec::new();
        for (alg, der) in [(JwsAlg::Es256, ec_der), (JwsAlg::Rs256, rsa_der)] {
            let kid = key_id(alg, der.as_bytes());
            records.push(SigningKeyRecord {
                private_key: sealer.seal(kid.as_bytes(), der.as_bytes())?,
                kid,
                alg: alg.as_str().to_owned(),
                purpose: KeyPurpose::Token,
                created_at: now,
            });
        }
        let keys = Self::load(sealer, &records)?;
        Ok((keys, records))
    }

    /// Opens stored keys: of each algorithm, the newest signs and every one is published.
    pub fn load(sealer: &Sealer, records: &[SigningKeyRecord]) -> Result<Self, Error> {
        Self::load_at(sealer, records, UnixTime::from_secs(i64::MAX - 1), i64::MAX)
    }

    /// Opens stored keys as they stand at `now` (key rotation): of each algorithm, the newest
    /// key created at `now` or before signs; it is published with the keys created after it
    /// (waiting to take over) and with those before it that it replaced less than `retain`
    /// seconds ago (the tokens they signed may still be in use). Older keys are retired.
    pub fn load_at(
        sealer: &Sealer,
        records: &[SigningKeyRecord],
        now: UnixTime,
        retain: i64,
    ) -> Result<Self, Error> {
        let mut es256: Vec<(&SigningKeyRecord, p256::ecdsa::SigningKey)> = Vec::new();
        let mut rs256: Vec<(&SigningKeyRecord, rsa::pkcs1v15::SigningKey<sha2::Sha256>)> =
            Vec::new();
        let mut sorted: Vec<&SigningKeyRecord> = records.iter().collect();
        sorted.sort_by_key(|r| (r.created_at, r.kid.clone()));
        for record in sorted {
            let der = sealer.open(record.kid.as_bytes(), &record.private_key)?;
            match JwsAlg::parse(&record.alg) {
                Some(JwsAlg::Es256) => {
                    let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der)
                        .map_err(|e| Error::Crypto(format!("stored ES256 key: {e}")))?;
                    es256.push((record, key));
                }
                Some(JwsAlg::Rs256) => {
                    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                        .map_err(|e| Error::Crypto(format!("stored RS256 key: {e}")))?;
                    rs256.push((record, rsa::pkcs1v15::SigningKey::new(key)));
                }
                None => {
                    return Err(Error::Crypto(format!(
                        "stored key has unknown alg {}",
                        record.alg
                    )))
                }
            }
        }
        let mut jwks = Jwks { keys: Vec::new() };
        let es_signer = rotation(&es256, now, retain, |i| {
            jwks.keys
                .push(es256_jwk(&es256[i].0.kid, es256[i].1.verifying_key()));
        });
        let rs_signer = rotation(&rs256, now, retain, |i| {
            jwks.keys.push(rsa_jwk(&rs256[i].0.kid, &rs256[i].1));
        });
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

impl SoftwareKeys {
    /// The id of the key that signs with `alg`.
    pub fn kid(&self, alg: JwsAlg) -> &str {
        match alg {
            JwsAlg::Es256 => &self.es256.0,
            JwsAlg::Rs256 => &self.rs256.0,
        }
    }
}

impl TokenKeys for SoftwareKeys {
    fn jwks(&self) -> Jwks {
        self.jwks.clone()
    }

    fn signing_kid(&self, alg: JwsAlg) -> Result<String, Error> {
        Ok(self.kid(alg).to_owned())
    }

    fn sign(&self, alg: JwsAlg, message: &[u8]) -> Result<(String, Vec<u8>), Error> {
        match alg {
            JwsAlg::Es256 => {
                let sig: p256::ecdsa::Signature = self.es256.1.sign(message);
                Ok((self.es256.0.clone(), sig.to_bytes().to_vec()))
            }
            JwsAlg::Rs256 => {
                let sig: rsa::pkcs1v15::Signature = self.rs256.1.sign(message);
                Ok((self.rs256.0.clone(), sig.to_vec()))
            }
        }
    }
}

/// A key id that names the algorithm and is stable for the key: `es256-<hash prefix>`.
fn key_id(alg: JwsAlg, der: &[u8]) -> String {
    let digest = sha256(der);
    format!(
        "{}-{}",
        alg.as_str().to_ascii_lowercase(),
        &b64url(&digest)[..16]
    )
}

fn rsa_jwk(kid: &str, key: &rsa::pkcs1v15::SigningKey<sha2::Sha256>) -> Jwk {
    let public = key.as_ref().to_public_key();
    Jwk {
        kty: "RSA".into(),
        kid: kid.into(),
        use_: "sig".into(),
        alg: "RS256".into(),
        crv: None,
        x: None,
        y: None,
        n: Some(b64url(&public.n_bytes())),
        e: Some(b64url(&public.e_bytes())),
    }
}

/// The key eid signs its requests to outside services with (the population registry), kept
/// apart from the token keys. Its public half is served at the connector JWKS endpoint.
pub struct ConnectorKey {
    kid: String,
    key: p256::ecdsa::SigningKey,
}

impl ConnectorKey {
    /// Generates a fresh P-256 key; returns it with its sealed record to store.
    pub fn generate(sealer: &Sealer, now: UnixTime) -> Result<(Self, SigningKeyRecord), Error> {
        let key = <p256::ecdsa::SigningKey as p256::elliptic_curve::Generate>::generate_from_rng(
            &mut rand::rng(),
        );
        let der = key
            .to_pkcs8_der()
            .map_err(|e| Error::Crypto(format!("PKCS#8 encoding failed: {e}")))?;
        let kid = format!("connector-{}", &key_id(JwsAlg::Es256, der.as_bytes())[6..]);
        let record = SigningKeyRecord {
            private_key: sealer.seal(kid.as_bytes(), der.as_bytes())?,
            kid: kid.clone(),
            alg: JwsAlg::Es256.as_str().to_owned(),
            purpose: KeyPurpose::Connector,
            created_at: now,
        };
        Ok((Self { kid, key }, record))
    }

    /// Opens the newest stored connector key.
    pub fn load(sealer: &Sealer, records: &[SigningKeyRecord]) -> Result<Self, Error> {
        let record = records
            .iter()
            .filter(|r| r.purpose == KeyPurpose::Connector)
            .max_by_key(|r| r.created_at)
            .ok_or_else(|| Error::Crypto("no connector key is stored".into()))?;
        let der = sealer.open(record.kid.as_bytes(), &record.private_key)?;
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der)
            .map_err(|e| Error::Crypto(format!("stored connector key: {e}")))?;
        Ok(Self {
            kid: record.kid.clone(),
            key,
        })
    }

    /// The public key set to publish.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![es256_jwk(&self.kid, self.key.verifying_key())],
        }
    }

    /// Signs `claims` as a compact ES256 JWS of type `typ`.
    pub fn sign(&self, typ: &str, claims: &serde_json::Value) -> String {
        crate::jose::sign_es256(&self.key, &self.kid, typ, claims)
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
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn generated_keys_reload_to_the_same_jwks_and_sign_verifiably() {
        let sealer = MasterKey::from_bytes([1u8; 32]).derive_keys().data;
        let (keys, records) = SoftwareKeys::generate(&sealer, UnixTime::from_secs(100)).unwrap();
        let again = SoftwareKeys::load(&sealer, &records).unwrap();
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
        let sig = p256::ecdsa::Signature::from_slice(&b64url_decode(parts[2]).unwrap()).unwrap();
        again
            .es256
            .1
            .verifying_key()
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();

        let rs = sign_jwt(&again, JwsAlg::Rs256, &claims).unwrap();
        let parts: Vec<&str> = rs.split('.').collect();
        let sig = rsa::pkcs1v15::Signature::try_from(b64url_decode(parts[2]).unwrap().as_slice())
            .unwrap();
        rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(again.rs256.1.as_ref().to_public_key())
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn rotated_keys_sign_from_their_start_and_retire_after_the_retention() {
        let sealer = MasterKey::from_bytes([3u8; 32]).derive_keys().data;
        let (_, old) = SoftwareKeys::generate(&sealer, UnixTime::from_secs(0)).unwrap();
        let (_, new) = SoftwareKeys::generate(&sealer, UnixTime::from_secs(100)).unwrap();
        let records: Vec<SigningKeyRecord> = old.iter().chain(&new).cloned().collect();
        let kids = |keys: &SoftwareKeys| {
            let mut k: Vec<String> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
            k.sort();
            k
        };
        let mut all: Vec<String> = records.iter().map(|r| r.kid.clone()).collect();
        all.sort();
        let mut newest: Vec<String> = new.iter().map(|r| r.kid.clone()).collect();
        newest.sort();
        // Before the new keys start: the old ones sign, the new ones are already published.
        let at = SoftwareKeys::load_at(&sealer, &records, UnixTime::from_secs(50), 60).unwrap();
        assert_eq!(at.kid(JwsAlg::Es256), old[0].kid);
        assert_eq!(kids(&at), all);
        // From their start the new ones sign; the old ones stay published for the retention.
        let at = SoftwareKeys::load_at(&sealer, &records, UnixTime::from_secs(100), 60).unwrap();
        assert_eq!(at.kid(JwsAlg::Es256), new[0].kid);
        assert_eq!(at.kid(JwsAlg::Rs256), new[1].kid);
        assert_eq!(kids(&at), all);
        assert_eq!(
            kids(&SoftwareKeys::load_at(&sealer, &records, UnixTime::from_secs(159), 60).unwrap()),
            all
        );
        // Then they retire.
        assert_eq!(
            kids(&SoftwareKeys::load_at(&sealer, &records, UnixTime::from_secs(160), 60).unwrap()),
            newest
        );
        // Without rotation's clock, the newest signs and everything is published.
        let loaded = SoftwareKeys::load(&sealer, &records).unwrap();
        assert_eq!(loaded.kid(JwsAlg::Es256), new[0].kid);
        assert_eq!(kids(&loaded), all);
    }

    #[test]
    fn the_connector_key_is_separate_and_reloads() {
        let sealer = MasterKey::from_bytes([1u8; 32]).derive_keys().data;
        let (key, record) = ConnectorKey::generate(&sealer, UnixTime::from_secs(5)).unwrap();
        assert_eq!(record.purpose, KeyPurpose::Connector);
        let again = ConnectorKey::load(&sealer, &[record]).unwrap();
        assert_eq!(key.jwks(), again.jwks());
        let jws = again.sign("t+jwt", &serde_json::json!({"x": 1}));
        assert!(crate::jose::verify_es256(&jws, &key.jwks(), "t+jwt").is_ok());
    }

    #[test]
    fn keys_do_not_open_under_another_master_key() {
        let sealer = MasterKey::from_bytes([1u8; 32]).derive_keys().data;
        let (_, records) = SoftwareKeys::generate(&sealer, UnixTime::from_secs(0)).unwrap();
        let other = MasterKey::from_bytes([2u8; 32]).derive_keys().data;
        assert!(SoftwareKeys::load(&other, &records).is_err());
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
