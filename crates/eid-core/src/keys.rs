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
use crate::store::SigningKeyRecord;
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
            keys: vec![ec_jwk(&es256.0, &es256.1), rsa_jwk(&rs256.0, &rs256.1)],
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

fn ec_jwk(kid: &str, key: &p256::ecdsa::SigningKey) -> Jwk {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    // Uncompressed SEC1: 0x04 || x (32) || y (32).
    let (x, y) = bytes
        .get(1..)
        .unwrap_or_default()
        .split_at(32.min(bytes.len().saturating_sub(1)));
    Jwk {
        kty: "EC".into(),
        kid: kid.into(),
        use_: "sig".into(),
        alg: "ES256".into(),
        crv: Some("P-256".into()),
        x: Some(b64url(x)),
        y: Some(b64url(y)),
        n: None,
        e: None,
    }
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
/// and RS256 alike, and the S256 PKCE transform's building block.
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
        assert_eq!(
            b64url_decode(rs.split('.').nth(2).unwrap()).unwrap().len(),
            256
        );
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
