//! Compact JWS (RFC 7515 §7.1) for the messages eid exchanges with other services, and the
//! ES256 JWKs (RFC 7517, RFC 7518 §3.4, §6.2) that verify them.
//!
//! Verification accepts exactly one algorithm, ES256, and a key chosen by `kid` from a key set
//! the caller trusts: never `none`, never HMAC, never a key the header brings along, never a
//! key whose type does not fit. The header's `typ` must be the one the caller expects, so a
//! message of one kind cannot be replayed as another (RFC 8725 §3.11).

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{Map, Value};

use eid_proto::oauth::{Jwk, Jwks};

use crate::crypto::{b64url, b64url_decode};

/// Why a JWS was refused. The messages are for logs and for the developer of the other side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    #[error("not a compact JWS (three base64url parts)")]
    Malformed,
    #[error("the JWS header is not a JSON object")]
    BadHeader,
    #[error("algorithm {0:?} is not accepted (only ES256)")]
    Algorithm(String),
    #[error("the header's typ is {found:?}, expected {expected:?}")]
    Type { expected: String, found: String },
    #[error("the header has critical extensions eid does not understand")]
    Critical,
    #[error("no trusted key has kid {0:?}")]
    UnknownKey(String),
    #[error("the key {0:?} is not a usable P-256 key")]
    BadKey(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("the payload is not a JSON object")]
    BadPayload,
}

/// Signs `claims` as a compact JWS with ES256, naming `kid` and `typ` in the header.
pub fn sign_es256(key: &SigningKey, kid: &str, typ: &str, claims: &Value) -> String {
    sign_es256_with_header(
        key,
        &serde_json::json!({ "alg": "ES256", "typ": typ, "kid": kid }),
        claims,
    )
}

/// Signs `claims` with ES256 under `header` as given (which should say `alg: ES256`): a DPoP
/// proof's, say, which carries its key.
pub fn sign_es256_with_header(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&signature.to_bytes()))
}

/// Verifies a compact ES256 JWS of type `typ` against `keys`; returns its claims.
pub fn verify_es256(token: &str, keys: &Jwks, typ: &str) -> Result<Map<String, Value>, JoseError> {
    verify_es256_with(token, typ, |header| {
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| JoseError::UnknownKey(String::new()))?;
        let jwk = keys
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| JoseError::UnknownKey(kid.to_owned()))?;
        es256_verifying_key(jwk).ok_or_else(|| JoseError::BadKey(kid.to_owned()))
    })
}

/// Verifies a compact ES256 JWS of type `typ` with the key `key_of` finds for its header (a
/// key the caller trusts, or one whose certificate chain the caller checked); returns its
/// claims.
pub fn verify_es256_with(
    token: &str,
    typ: &str,
    key_of: impl FnOnce(&Map<String, Value>) -> Result<VerifyingKey, JoseError>,
) -> Result<Map<String, Value>, JoseError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed);
    };
    let header = b64url_decode(h).ok_or(JoseError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header).map_err(|_| JoseError::BadHeader)?;
    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        other => return Err(JoseError::Algorithm(other.unwrap_or("").to_owned())),
    }
    let found = header.get("typ").and_then(Value::as_str).unwrap_or("");
    if found != typ {
        return Err(JoseError::Type {
            expected: typ.to_owned(),
            found: found.to_owned(),
        });
    }
    if header.contains_key("crit") {
        return Err(JoseError::Critical);
    }
    let key = key_of(&header)?;
    let signature = b64url_decode(s).ok_or(JoseError::Malformed)?;
    // RFC 7518 §3.4: R || S, 32 bytes each. A DER signature is refused.
    let signature = Signature::from_slice(&signature).map_err(|_| JoseError::Signature)?;
    key.verify(format!("{h}.{p}").as_bytes(), &signature)
        .map_err(|_| JoseError::Signature)?;
    let payload = b64url_decode(p).ok_or(JoseError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| JoseError::BadPayload)
}

/// The public JWK of a P-256 key, for signing with ES256.
pub fn es256_jwk(kid: &str, key: &VerifyingKey) -> Jwk {
    let point = key.to_sec1_point(false);
    // Uncompressed SEC1 (0x04 || x || y) is 65 bytes for P-256.
    let bytes = point.as_bytes();
    let (x, y) = match bytes {
        [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
        // Unreachable for a P-256 key; an empty JWK is refused by every verifier.
        _ => (&[][..], &[][..]),
    };
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

/// The P-256 public key of a JWK that may verify ES256 (kty EC, crv P-256, alg absent or
/// ES256, use absent or sig).
pub fn es256_verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk.kty != "EC"
        || jwk.crv.as_deref() != Some("P-256")
        || !(jwk.alg.is_empty() || jwk.alg == "ES256")
        || !(jwk.use_.is_empty() || jwk.use_ == "sig")
    {
        return None;
    }
    let x = b64url_decode(jwk.x.as_deref()?)?;
    let y = b64url_decode(jwk.y.as_deref()?)?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    VerifyingKey::from_sec1_bytes(&sec1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn jwks(kid: &str, key: &SigningKey) -> Jwks {
        Jwks {
            keys: vec![es256_jwk(kid, key.verifying_key())],
        }
    }

    #[test]
    fn a_signed_message_verifies_and_round_trips() {
        let claims = serde_json::json!({"a": 1, "b": "x"});
        let jws = sign_es256(&key(), "k1", "t+jwt", &claims);
        let got = verify_es256(&jws, &jwks("k1", &key()), "t+jwt").unwrap();
        assert_eq!(Value::Object(got), claims);
    }

    #[test]
    fn refusals() {
        let k = key();
        let set = jwks("k1", &k);
        let jws = sign_es256(&k, "k1", "t+jwt", &serde_json::json!({"a": 1}));
        // Another type.
        assert!(matches!(
            verify_es256(&jws, &set, "other+jwt"),
            Err(JoseError::Type { .. })
        ));
        // Another key under the same kid.
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert_eq!(
            verify_es256(&jws, &jwks("k1", &other), "t+jwt"),
            Err(JoseError::Signature)
        );
        // Unknown kid.
        assert!(matches!(
            verify_es256(&jws, &jwks("k2", &k), "t+jwt"),
            Err(JoseError::UnknownKey(_))
        ));
        // A tampered payload.
        let mut parts: Vec<&str> = jws.split('.').collect();
        let forged = b64url(br#"{"a":2}"#);
        parts[1] = &forged;
        assert_eq!(
            verify_es256(&parts.join("."), &set, "t+jwt"),
            Err(JoseError::Signature)
        );
        // alg none and HS256 are refused whatever the rest says.
        for alg in ["none", "HS256", "RS256", "ES384"] {
            let header = b64url(
                serde_json::json!({"alg": alg, "typ": "t+jwt", "kid": "k1"})
                    .to_string()
                    .as_bytes(),
            );
            let tail: Vec<&str> = jws.splitn(2, '.').collect();
            let token = format!("{header}.{}", tail[1]);
            assert!(
                matches!(
                    verify_es256(&token, &set, "t+jwt"),
                    Err(JoseError::Algorithm(_))
                ),
                "{alg}"
            );
        }
        // Structure.
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(verify_es256(bad, &set, "t+jwt").is_err(), "{bad}");
        }
        // crit.
        let header = b64url(
            serde_json::json!({"alg": "ES256", "typ": "t+jwt", "kid": "k1", "crit": ["x"]})
                .to_string()
                .as_bytes(),
        );
        let input = format!("{header}.{}", b64url(b"{}"));
        let sig: Signature = k.sign(input.as_bytes());
        let token = format!("{input}.{}", b64url(&sig.to_bytes()));
        assert_eq!(
            verify_es256(&token, &set, "t+jwt"),
            Err(JoseError::Critical)
        );
    }

    #[test]
    fn only_p256_signing_keys_are_usable() {
        let mut jwk = es256_jwk("k", key().verifying_key());
        assert!(es256_verifying_key(&jwk).is_some());
        jwk.use_ = "enc".into();
        assert!(es256_verifying_key(&jwk).is_none());
        let mut jwk = es256_jwk("k", key().verifying_key());
        jwk.crv = Some("P-384".into());
        assert!(es256_verifying_key(&jwk).is_none());
        let mut jwk = es256_jwk("k", key().verifying_key());
        jwk.x = Some(b64url(&[1u8; 32]));
        assert!(es256_verifying_key(&jwk).is_none(), "not on the curve");
    }
}
