//! What the suite signs as a client: ES256 JWTs with a P-256 key (client assertions, RFC 7523;
//! DPoP proofs, RFC 9449), the public JWK of a key and its RFC 7638 thumbprint. The suite signs
//! what a faulty client would too (a wrong `aud`, a proof for another method), so the header and
//! claims are whatever the module gives.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngExt as _;
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::{b64url, b64url_decode};

/// A new random P-256 key.
pub fn new_key() -> SigningKey {
    loop {
        let bytes: [u8; 32] = rand::rng().random();
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// The private key of a JWK (`kty` EC, `crv` P-256, `d`).
pub fn key_of(jwk: &Value) -> Option<SigningKey> {
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return None;
    }
    SigningKey::from_slice(&b64url_decode(jwk["d"].as_str()?)?).ok()
}

/// The public JWK of `key`: its required members only.
pub fn public_jwk(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    let (x, y) = match bytes {
        [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
        _ => (&[][..], &[][..]),
    };
    json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)})
}

/// The private JWK of `key` (for a clients file).
pub fn private_jwk(key: &SigningKey) -> Value {
    let mut jwk = public_jwk(key);
    jwk["d"] = b64url(&key.to_bytes()).into();
    jwk
}

/// RFC 7638: the SHA-256 thumbprint of an EC key's required members, in lexicographic order.
pub fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap_or_default(),
        jwk["x"].as_str().unwrap_or_default(),
        jwk["y"].as_str().unwrap_or_default()
    );
    b64url(&sha2::Sha256::digest(canonical.as_bytes()))
}

/// `claims` under `header`, signed ES256 with `key`.
pub fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&signature.to_bytes()))
}

/// A client assertion's claims (RFC 7523 §3): from and about `client_id`, to `aud`, for a
/// minute, with a fresh `jti`.
pub fn assertion_claims(client_id: &str, aud: Value, now: i64) -> Value {
    let jti: [u8; 16] = rand::rng().random();
    json!({
        "iss": client_id, "sub": client_id, "aud": aud, "jti": b64url(&jti),
        "iat": now, "exp": now + 60,
    })
}

/// A client assertion signed by `key`.
pub fn assertion(key: &SigningKey, claims: &Value) -> String {
    sign(key, &json!({"alg": "ES256", "typ": "JWT"}), claims)
}

/// SHA-256 of an access token, base64url: a DPoP proof's `ath`.
pub fn ath(access_token: &str) -> String {
    b64url(&sha2::Sha256::digest(access_token.as_bytes()))
}
