//! Demonstrating Proof of Possession (DPoP, RFC 9449): a client proves, with each request, that
//! it holds a private key, and the tokens eid issues are bound to that key (`cnf.jkt`), so a
//! stolen access or refresh token is of no use without the key.
//!
//! A proof is a JWT the client signs for one request (`htm`, `htu`), carrying its public key in
//! the header. eid checks it against an explicit algorithm list (ES256, PS256: the FAPI 2.0
//! algorithms), refuses private key material, a proof older than [`PROOF_MAX_AGE`], a proof
//! without the nonce eid handed out (§8) and a proof used twice (`jti`, kept in the replay
//! store). At a resource (userinfo) the proof also binds the access token (`ath`).
//!
//! Nonces are stateless: a time window and its HMAC under a key derived from the master key,
//! so every node of a deployment mints and accepts the same ones without sharing state. A
//! nonce is good for one to two [`NONCE_PERIOD`]s.

use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::crypto::{b64url, b64url_decode, ct_eq, sha256};
use crate::jwt::{self, Expect, Keys};
use crate::oidc::oauth;
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// The algorithms a proof may be signed with.
pub const DPOP_ALGS: &[Algorithm] = &[Algorithm::ES256, Algorithm::PS256];

/// A proof is accepted this many seconds after its `iat` (and [`jwt::LEEWAY`] before it).
pub const PROOF_MAX_AGE: i64 = 60;

/// Nonces change every this many seconds; the current and the previous one are accepted.
pub const NONCE_PERIOD: i64 = 60;

/// JWK members that hold private or secret key material, which a proof's key may not carry.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The request a proof was presented with (RFC 9449 §4.3).
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The HTTP method (`htm`).
    pub method: &'a str,
    /// eid's endpoint path, after the issuer (`/token`, `/par`, `/userinfo`): `htu` is the
    /// issuer's URL of it, whatever host or proxy the request came through.
    pub path: &'a str,
    /// The access token presented with the proof, which `ath` must hash (§4.2).
    pub access_token: Option<&'a str>,
}

/// Why a proof was refused, the client's developer's reading.
fn invalid(reason: impl std::fmt::Display) -> Error {
    oauth(
        OAuthErrorCode::InvalidDpopProof,
        format!("the DPoP proof was refused: {reason}"),
    )
    .into()
}

impl Provider {
    /// The nonce a client must put in its next proofs (sent as `DPoP-Nonce`).
    pub fn dpop_nonce(&self, now: UnixTime) -> String {
        self.nonce_of(now.secs().div_euclid(NONCE_PERIOD))
    }

    fn nonce_of(&self, window: i64) -> String {
        let window = window.to_be_bytes();
        let mac = self.derived.dpop_nonces.hash(&[&window]);
        let mut nonce = window.to_vec();
        nonce.extend_from_slice(&mac[..16]);
        b64url(&nonce)
    }

    fn nonce_is_current(&self, nonce: &str, now: UnixTime) -> bool {
        let window = now.secs().div_euclid(NONCE_PERIOD);
        [window, window - 1].iter().fold(false, |ok, w| {
            ok | ct_eq(nonce.as_bytes(), self.nonce_of(*w).as_bytes())
        })
    }

    /// Checks a DPoP proof presented with a request to `target`; returns the JWK SHA-256
    /// thumbprint (RFC 7638) of its key, to which tokens are bound (`jkt`). Its `jti` is spent.
    pub fn verify_dpop_proof(
        &self,
        proof: &str,
        target: &ProofTarget<'_>,
        now: UnixTime,
    ) -> Result<String, Error> {
        let htu = format!("{}{}", self.config.issuer_str(), target.path);
        let checked = check_proof(proof, target.method, &htu, target.access_token, now)?;
        // §8: the nonce comes after the proof's own checks, so that a client told to use one
        // has a proof that is otherwise right.
        match checked.nonce.as_deref() {
            Some(nonce) if self.nonce_is_current(nonce, now) => {}
            Some(_) => {
                return Err(oauth(
                    OAuthErrorCode::UseDpopNonce,
                    "the DPoP nonce is stale or not one eid gave: use the one in DPoP-Nonce",
                )
                .into())
            }
            None => {
                return Err(oauth(
                    OAuthErrorCode::UseDpopNonce,
                    "a DPoP proof must carry the nonce eid gives in the DPoP-Nonce header",
                )
                .into())
            }
        }
        // §11.1: a proof is used once.
        if !self.store.first_use(
            &format!("dpop:{}", checked.jkt),
            &checked.jti,
            UnixTime::from_secs(checked.iat).max(now) + PROOF_MAX_AGE + jwt::LEEWAY,
        )? {
            return Err(invalid("it was used before (jti)"));
        }
        Ok(checked.jkt)
    }
}

/// A proof whose signature, key and claims checked out; what remains to check is eid's own
/// state: the nonce and whether the `jti` was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The key's JWK SHA-256 thumbprint (RFC 7638).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

/// Checks a DPoP proof for a request (`method`, `htu`, the access token presented with it) at
/// `now` (RFC 9449 §4.3), all but eid's state (nonce, replay). (Public for the fuzz target: it
/// reads untrusted input.)
pub fn check_proof(
    proof: &str,
    method: &str,
    htu: &str,
    access_token: Option<&str>,
    now: UnixTime,
) -> Result<CheckedProof, Error> {
    if proof.len() > 8192 {
        return Err(invalid("it is longer than 8 KiB"));
    }
    // §4.3 (6): the key is public. jsonwebtoken would ignore private members; look first.
    let header: Value = proof
        .split('.')
        .next()
        .and_then(b64url_decode)
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| invalid("the header is not base64url JSON"))?;
    let Some(key) = header.get("jwk").and_then(Value::as_object) else {
        return Err(invalid("the header carries no public key (jwk)"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| key.contains_key(*m)) {
        return Err(invalid("the header's jwk holds private key material"));
    }
    let expect = Expect {
        algs: DPOP_ALGS,
        typ: Some("dpop+jwt"),
        audiences: &[],
        require_aud: false,
        issuer: None,
        require_exp: false,
        max_lifetime: 300,
        accept_expired: false,
        now,
    };
    let (header, claims) = jwt::verify(proof, &Keys::Embedded, &expect).map_err(invalid)?;
    let jwk = header.jwk.ok_or_else(|| invalid("no jwk"))?;
    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("claim {name} is missing")))
    };
    let jti = text("jti")?;
    if jti.is_empty() || jti.len() > 256 {
        return Err(invalid("jti must be 1 to 256 characters"));
    }
    if text("htm")? != method {
        return Err(invalid(format!("htm is not {method}")));
    }
    if !same_resource(text("htu")?, htu) {
        return Err(invalid(format!("htu is not {htu}")));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("claim iat is missing"))?;
    if iat < (now - PROOF_MAX_AGE).secs() {
        return Err(invalid(format!(
            "it was made more than {PROOF_MAX_AGE} seconds ago (iat)"
        )));
    }
    if let Some(token) = access_token {
        let ath = b64url(&sha256(token.as_bytes()));
        let presented = claims.get("ath").and_then(Value::as_str).unwrap_or("");
        if !ct_eq(presented.as_bytes(), ath.as_bytes()) {
            return Err(invalid(
                "ath is not the SHA-256 of the access token presented with it",
            ));
        }
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| invalid("the key has no RFC 7638 thumbprint"))?;
    Ok(CheckedProof {
        jkt,
        jti: jti.to_owned(),
        iat,
        nonce: claims
            .get("nonce")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// Whether `htu` names the resource `expected`, ignoring query and fragment, after the
/// normalisation URL parsing does (case of scheme and host, default port, dot segments;
/// RFC 9449 §4.3 (9), RFC 3986 §6.2.2–6.2.3).
fn same_resource(htu: &str, expected: &str) -> bool {
    let strip = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    matches!((strip(htu), strip(expected)), (Some(a), Some(b)) if a == b)
}

/// How the access token came with a request to a resource (RFC 6750, RFC 9449 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedToken {
    /// `Authorization: Bearer`, or the form's `access_token`.
    Bearer(String),
    /// `Authorization: DPoP`, with the request's `DPoP` proof.
    Dpop {
        token: String,
        proof: Option<String>,
    },
}

impl PresentedToken {
    pub fn token(&self) -> &str {
        match self {
            Self::Bearer(token) | Self::Dpop { token, .. } => token,
        }
    }
}

impl Provider {
    /// Checks that a token is presented as its binding requires (RFC 9449 §7): a token bound
    /// to a key (`jkt`) only with the DPoP scheme and a proof by that key for this request;
    /// an unbound token only as a bearer token.
    pub(crate) fn check_token_binding(
        &self,
        presented: &PresentedToken,
        bound_to: Option<&str>,
        target: ProofTarget<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        match (presented, bound_to) {
            (PresentedToken::Bearer(_), None) => Ok(()),
            (PresentedToken::Bearer(_), Some(_)) => Err(oauth(
                OAuthErrorCode::InvalidToken,
                "the access token is DPoP-bound: present it with the DPoP scheme and a proof",
            )
            .into()),
            (PresentedToken::Dpop { .. }, None) => Err(oauth(
                OAuthErrorCode::InvalidToken,
                "the access token is a bearer token, not DPoP-bound: use the Bearer scheme",
            )
            .into()),
            (PresentedToken::Dpop { token, proof }, Some(jkt)) => {
                let proof = proof
                    .as_deref()
                    .ok_or_else(|| invalid("the request has no DPoP header"))?;
                let target = ProofTarget {
                    access_token: Some(token),
                    ..target
                };
                let key = self.verify_dpop_proof(proof, &target, now)?;
                if !ct_eq(key.as_bytes(), jkt.as_bytes()) {
                    return Err(invalid(
                        "it is signed by another key than the token is bound to",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_resource;

    #[test]
    fn htu_is_compared_without_query_or_fragment_after_normalisation() {
        let token = "https://eid.example/token";
        assert!(same_resource("https://eid.example/token", token));
        assert!(same_resource("https://EID.example:443/token?x=1#f", token));
        assert!(!same_resource("https://eid.example/token/", token));
        assert!(!same_resource("http://eid.example/token", token));
        assert!(!same_resource("https://eid.example/userinfo", token));
        assert!(!same_resource("not a url", token));
    }
}
