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
    /// Generates a fresh ES256 and RS256 key; returns them with their sealed records to store.
    pub fn generate(sealer: &Sealer, now: i64) -> Result<(Self, Vec<SigningKeyRecord>), Error> {
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

    /// Opens stored keys. The newest key of each algorithm signs.
    pub fn load(sealer: &Sealer, records: &[SigningKeyRecord]) -> Result<Self, Error> {
        let mut es256 = None;
        let mut rs256 = None;
        let mut sorted: Vec<&SigningKeyRecord> = records.iter().collect();
        sorted.sort_by_key(|r| r.created_at);
        for record in sorted {
            let der = sealer.open(record.kid.as_bytes(), &record.private_key)?;
            match JwsAlg::parse(&record.alg) {
                Some(JwsAlg::Es256) => {
                    let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der)
                        .map_err(|e| Error::Crypto(format!("stored ES256 key: {e}")))?;
                    es256 = Some((record.kid.clone(), key));
                }
                Some(JwsAlg::Rs256) => {
                    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                        .map_err(|e| Error::Crypto(format!("stored RS256 key: {e}")))?;
                    rs256 = Some((record.kid.clone(), rsa::pkcs1v15::SigningKey::new(key)));
                }
                None => {
                    return Err(Error::Crypto(format!(
                        "stored key has unknown alg {}",
                        record.alg
                    )))
                }
            }
        }
        let (Some(es256), Some(rs256)) = (es256, rs256) else {
            return Err(Error::Crypto(
                "the key store lacks an ES256 or RS256 key".into(),
            ));
        };
        let jwks = Jwks {
            keys: vec![
                es256_jwk(&es256.0, es256.1.verifying_key()),
                rsa_jwk(&rs256.0, &rs256.1),
            ],
        };
        Ok(Self { es256, rs256, jwks })
    }
}

impl TokenKeys for SoftwareKeys {
    fn jwks(&self) -> Jwks {
        self.jwks.clone()
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
    pub fn generate(sealer: &Sealer, now: i64) -> Result<(Self, SigningKeyRecord), Error> {
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
    // The kid must be in the header, and it is only known once the key is chosen: sign a
    // header naming the current kid. `jwks()` and `sign()` agree on the current key.
    let kid = keys
        .jwks()
        .keys
        .into_iter()
        .rev()
        .find(|k| k.alg == alg.as_str())
        .map(|k| k.kid)
        .ok_or_else(|| Error::Crypto(format!("no {} key", alg.as_str())))?;
    let header = serde_json::json!({ "alg": alg.as_str(), "typ": "JWT", "kid": kid });
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
        let (keys, records) = SoftwareKeys::generate(&sealer, 100).unwrap();
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
    fn the_connector_key_is_separate_and_reloads() {
        let sealer = MasterKey::from_bytes([1u8; 32]).derive_keys().data;
        let (key, record) = ConnectorKey::generate(&sealer, 5).unwrap();
        assert_eq!(record.purpose, KeyPurpose::Connector);
        let again = ConnectorKey::load(&sealer, &[record]).unwrap();
        assert_eq!(key.jwks(), again.jwks());
        let jws = again.sign("t+jwt", &serde_json::json!({"x": 1}));
        assert!(crate::jose::verify_es256(&jws, &key.jwks(), "t+jwt").is_ok());
    }

    #[test]
    fn keys_do_not_open_under_another_master_key() {
        let sealer = MasterKey::from_bytes([1u8; 32]).derive_keys().data;
        let (_, records) = SoftwareKeys::generate(&sealer, 0).unwrap();
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
