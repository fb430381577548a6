//! Inbound JWTs (RFC 7519) from relying parties: client assertions (RFC 7523), request objects
//! (RFC 9101), DPoP proofs (RFC 9449) and ID token hints.
//!
//! The signature is checked by `jsonwebtoken` against an explicit allow-list the caller gives
//! ([`Expect::algs`]): never `none` (the library has no such algorithm), never an algorithm the
//! key does not fit (an RSA key does not verify ES256, a JWK that names its `alg` verifies
//! only that one), never a key the token brings along. The claims are checked here, against
//! the `now` the flow was given (the library would read the clock): `exp` required and in the
//! future, `nbf` and `iat` not in the future, a bounded lifetime, the audience and issuer.

use crate::time::UnixTime;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Clock skew tolerated between eid and the signer, in seconds.
pub const LEEWAY: i64 = 30;

/// Why a JWT was refused. The messages are for the relying party's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a signed JWT: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not accepted here (accepted: {1})")]
    Algorithm(String, String),
    #[error("the header's typ is {found:?}, expected {expected:?}")]
    Type { expected: String, found: String },
    #[error("the header has critical extensions eid does not understand")]
    Critical,
    #[error("no registered key fits (kid {0:?})")]
    NoKey(Option<String>),
    #[error("the signature does not verify")]
    Signature,
    #[error("claim {0} is missing or not of the right type")]
    Missing(&'static str),
    #[error("the JWT expired")]
    Expired,
    #[error("the JWT is not valid yet (nbf or iat in the future)")]
    NotYetValid,
    #[error("the JWT lives too long (exp more than {0} s after iat or now)")]
    TooLong(i64),
    #[error("aud does not name {0}")]
    Audience(String),
    #[error("iss is not {0:?}")]
    Issuer(String),
}

/// The keys a JWT may be verified with.
pub enum Keys<'a> {
    /// A JWK set the client registered: the key is chosen by `kid`, or is the only one that
    /// fits the algorithm.
    Jwks(&'a JwkSet),
    /// A shared secret (HMAC, `client_secret_jwt`).
    Secret(&'a [u8]),
    /// The public key the header carries (`jwk`): a DPoP proof (RFC 9449 §4.2), which proves
    /// possession of that key, not who holds it.
    Embedded,
}

/// What a JWT must be.
pub struct Expect<'a> {
    pub algs: &'a [Algorithm],
    /// The header's `typ`, compared case-insensitively (RFC 7515 §4.1.9); `None`: any.
    pub typ: Option<&'a str>,
    /// `aud` (a string or an array) must name one of these; empty: no `aud` check.
    pub audiences: &'a [String],
    /// Whether a JWT without `aud` is refused (with it, `aud` is always checked).
    pub require_aud: bool,
    /// `iss` must be this.
    pub issuer: Option<&'a str>,
    /// Whether a JWT without `exp` is refused (with it, `exp` is always checked).
    pub require_exp: bool,
    /// `exp` is at most this many seconds after `iat` (or after `now`).
    pub max_lifetime: i64,
    /// Whether an expired JWT is still accepted (an ID token given back as a hint).
    pub accept_expired: bool,
    pub now: UnixTime,
}

impl<'a> Expect<'a> {
    /// A short-lived JWT from `issuer` to one of `audiences`, with `exp` and `aud`.
    pub fn strict(
        algs: &'a [Algorithm],
        audiences: &'a [String],
        issuer: Option<&'a str>,
        max_lifetime: i64,
        now: UnixTime,
    ) -> Self {
        Self {
            algs,
            typ: None,
            audiences,
            require_aud: true,
            issuer,
            require_exp: true,
            max_lifetime,
            accept_expired: false,
            now,
        }
    }
}

/// The names of algorithms, for error messages and discovery.
pub fn alg_names(algs: &[Algorithm]) -> Vec<String> {
    algs.iter().map(|a| format!("{a:?}")).collect()
}

/// Parses an algorithm name from client metadata.
pub fn parse_alg(name: &str) -> Option<Algorithm> {
    name.parse().ok()
}

/// Verifies `token` against `keys` and `expect`; returns its header and claims.
pub fn verify(
    token: &str,
    keys: &Keys<'_>,
    expect: &Expect<'_>,
) -> Result<(jsonwebtoken::Header, Map<String, Value>), JwtError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
    if !expect.algs.contains(&header.alg) {
        return Err(JwtError::Algorithm(
            format!("{:?}", header.alg),
            alg_names(expect.algs).join(", "),
        ));
    }
    if let Some(typ) = expect.typ {
        let found = header.typ.clone().unwrap_or_default();
        if !found.eq_ignore_ascii_case(typ) {
            return Err(JwtError::Type {
                expected: typ.to_owned(),
                found,
            });
        }
    }
    if header.crit.is_some() {
        return Err(JwtError::Critical);
    }
    let key = match keys {
        Keys::Secret(secret) => DecodingKey::from_secret(secret),
        Keys::Jwks(set) => {
            let jwk = select_key(set, header.kid.as_deref(), header.alg)
                .ok_or_else(|| JwtError::NoKey(header.kid.clone()))?;
            DecodingKey::from_jwk(jwk).map_err(|_| JwtError::NoKey(header.kid.clone()))?
        }
        Keys::Embedded => {
            let jwk = header
                .jwk
                .as_ref()
                .filter(|jwk| key_fits(jwk, header.alg))
                .ok_or(JwtError::NoKey(None))?;
            DecodingKey::from_jwk(jwk).map_err(|_| JwtError::NoKey(None))?
        }
    };
    // Signature and algorithm only: the claims are checked below, against `now`.
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                JwtError::NoKey(header.kid.clone())
            }
            _ => JwtError::Malformed(e.to_string()),
        },
    )?;
    check_claims(&data.claims, expect)?;
    Ok((header, data.claims))
}

/// The key of `set` that verifies `alg`: the one named by `kid`, or else the only one that
/// fits. A key meant for encryption, or that names another algorithm, never fits.
fn select_key<'a>(set: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fits = |jwk: &&Jwk| key_fits(jwk, alg);
    match kid {
        Some(kid) => set
            .keys
            .iter()
            .filter(fits)
            .find(|k| k.common.key_id.as_deref() == Some(kid)),
        None => {
            let mut candidates = set.keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
}

/// Whether `jwk` may verify `alg`: a signing key of the algorithm's family that names no
/// other algorithm.
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let common = &jwk.common;
    let for_signing = !matches!(common.public_key_use, Some(PublicKeyUse::Encryption));
    let alg_ok = common
        .key_algorithm
        .is_none_or(|a| key_algorithm_is(a, alg));
    let family = match jwk.algorithm {
        AlgorithmParameters::EllipticCurve(_) => Some(AlgorithmFamily::Ec),
        AlgorithmParameters::RSA(_) => Some(AlgorithmFamily::Rsa),
        AlgorithmParameters::OctetKey(_) => Some(AlgorithmFamily::Hmac),
        AlgorithmParameters::OctetKeyPair(_) => Some(AlgorithmFamily::Ed),
        _ => None,
    };
    for_signing && alg_ok && family == Some(alg.family())
}

fn key_algorithm_is(key: KeyAlgorithm, alg: Algorithm) -> bool {
    format!("{key:?}") == format!("{alg:?}")
}

/// A NumericDate (RFC 7519 §2): seconds, possibly with a fraction. Values beyond any date a
/// JWT can mean (more than ±10^12 s, some 30 000 years) are refused rather than clamped, so
/// that no arithmetic on them can overflow.
fn number(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    const LIMIT: i64 = 1_000_000_000_000;
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite() && f.abs() <= LIMIT as f64)
                    .map(|f| f as i64)
            })
            .filter(|n| (-LIMIT..=LIMIT).contains(n))
            .map(Some)
            .ok_or(JwtError::Missing(name)),
    }
}

fn check_claims(claims: &Map<String, Value>, expect: &Expect<'_>) -> Result<(), JwtError> {
    let now = expect.now.secs();
    let iat = number(claims, "iat")?;
    if iat.is_some_and(|iat| iat > now + LEEWAY)
        || number(claims, "nbf")?.is_some_and(|nbf| nbf > now + LEEWAY)
    {
        return Err(JwtError::NotYetValid);
    }
    match number(claims, "exp")? {
        None if expect.require_exp => return Err(JwtError::Missing("exp")),
        None => {}
        Some(exp) => {
            if exp <= now - LEEWAY && !expect.accept_expired {
                return Err(JwtError::Expired);
            }
            if exp.saturating_sub(iat.unwrap_or(now).min(now)) > expect.max_lifetime + LEEWAY {
                return Err(JwtError::TooLong(expect.max_lifetime));
            }
        }
    }
    if let Some(issuer) = expect.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(JwtError::Issuer(issuer.to_owned()));
        }
    }
    if !expect.audiences.is_empty() {
        let named = |a: &str| expect.audiences.iter().any(|e| e == a);
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => named(a),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(named),
            None => !expect.require_aud,
            _ => false,
        };
        if !ok {
            return Err(JwtError::Audience(
                expect.audiences.first().cloned().unwrap_or_default(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

    fn expect<'a>(algs: &'a [Algorithm], audiences: &'a [String]) -> Expect<'a> {
        Expect::strict(algs, audiences, Some("client"), 300, NOW)
    }

    fn hs256(claims: &Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn claims_are_checked_against_the_given_time() {
        let aud = ["https://eid.example".to_owned()];
        let claims = |exp: UnixTime, iat: UnixTime| serde_json::json!({"iss": "client", "aud": "https://eid.example", "exp": exp, "iat": iat});
        let check = |c: &Value| {
            verify(
                &hs256(c, b"secret"),
                &Keys::Secret(b"secret"),
                &expect(&[Algorithm::HS256], &aud),
            )
            .map(|_| ())
        };
        assert_eq!(check(&claims(NOW + 60, NOW)), Ok(()));
        assert_eq!(check(&claims(NOW - 31, NOW - 90)), Err(JwtError::Expired));
        assert_eq!(
            check(&claims(NOW + 600, NOW + 120)),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(check(&claims(NOW + 3600, NOW)), Err(JwtError::TooLong(300)));
        let mut wrong_aud = claims(NOW + 60, NOW);
        wrong_aud["aud"] = serde_json::json!(["https://other.example"]);
        assert!(matches!(check(&wrong_aud), Err(JwtError::Audience(_))));
        let mut no_exp = claims(NOW + 60, NOW);
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(check(&no_exp), Err(JwtError::Missing("exp")));
        let mut wrong_iss = claims(NOW + 60, NOW);
        wrong_iss["iss"] = "someone".into();
        assert!(matches!(check(&wrong_iss), Err(JwtError::Issuer(_))));
        // Dates beyond reason are refused, not clamped (a fuzzing find: a huge negative iat
        // read as i64::MIN made the lifetime check overflow).
        for huge in [
            serde_json::json!(-797_777_777_777_777_775_564_800.0),
            serde_json::json!(i64::MIN),
            serde_json::json!(1e300),
        ] {
            let mut c = claims(NOW + 60, NOW);
            c["iat"] = huge.clone();
            assert_eq!(check(&c), Err(JwtError::Missing("iat")), "{huge}");
        }
    }

    #[test]
    fn algorithms_outside_the_allow_list_and_unsigned_tokens_are_refused() {
        let aud = ["https://eid.example".to_owned()];
        let claims = serde_json::json!({"iss": "client", "aud": aud[0], "exp": NOW + 60});
        let token = hs256(&claims, b"secret");
        assert!(matches!(
            verify(
                &token,
                &Keys::Secret(b"secret"),
                &expect(&[Algorithm::ES256], &aud)
            ),
            Err(JwtError::Algorithm(..))
        ));
        assert_eq!(
            verify(
                &token,
                &Keys::Secret(b"other"),
                &expect(&[Algorithm::HS256], &aud)
            )
            .map(|_| ()),
            Err(JwtError::Signature)
        );
        // alg "none" is no algorithm at all.
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIn0.{payload}.");
        assert!(matches!(
            verify(
                &none,
                &Keys::Secret(b"secret"),
                &expect(&[Algorithm::HS256], &aud)
            ),
            Err(JwtError::Malformed(_))
        ));
        // An HMAC token is never verified with a public key set (algorithm confusion).
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }]}))
        .unwrap();
        assert!(matches!(
            verify(
                &token,
                &Keys::Jwks(&set),
                &expect(&[Algorithm::HS256], &aud)
            ),
            Err(JwtError::NoKey(_))
        ));
    }

    #[test]
    fn rsa_and_ec_keys_verify_only_their_algorithms() {
        use crate::keys::{sign_jwt, JwsAlg, StoredKeys, TokenKeys};
        let keyring = crate::custody::Keyring::new(
            crate::crypto::MasterKey::from_bytes([7u8; 32])
                .derive_keys()
                .data,
            None,
        );
        let (keys, _) = StoredKeys::generate(&keyring, NOW).unwrap();
        let set: JwkSet =
            serde_json::from_value(serde_json::to_value(keys.jwks()).unwrap()).unwrap();
        let aud = ["https://eid.example".to_owned()];
        let claims = serde_json::json!({"iss": "client", "aud": aud[0], "exp": NOW + 60});
        for (alg, name) in [
            (JwsAlg::Rs256, Algorithm::RS256),
            (JwsAlg::Es256, Algorithm::ES256),
        ] {
            let token = sign_jwt(&keys, alg, &claims).unwrap();
            assert!(verify(&token, &Keys::Jwks(&set), &expect(&[name], &aud)).is_ok());
            assert!(matches!(
                verify(
                    &token,
                    &Keys::Jwks(&set),
                    &expect(&[Algorithm::PS256], &aud)
                ),
                Err(JwtError::Algorithm(..))
            ));
        }
        // A kid that names the RSA key over an ES256 header finds no fitting key.
        let es = sign_jwt(&keys, JwsAlg::Es256, &claims).unwrap();
        let rsa_kid = keys
            .jwks()
            .keys
            .iter()
            .find(|k| k.kty == "RSA")
            .unwrap()
            .kid
            .clone();
        let header = crate::crypto::b64url(
            serde_json::json!({"alg": "ES256", "kid": rsa_kid})
                .to_string()
                .as_bytes(),
        );
        let rest: Vec<&str> = es.split('.').skip(1).collect();
        let swapped = format!("{header}.{}", rest.join("."));
        assert!(matches!(
            verify(
                &swapped,
                &Keys::Jwks(&set),
                &expect(&[Algorithm::ES256], &aud)
            ),
            Err(JwtError::NoKey(_))
        ));
    }
}
