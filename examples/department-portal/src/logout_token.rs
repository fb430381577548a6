//! Hearing that a citizen signed out of eid: the logout token eid posts to the portal's
//! back-channel logout URI (OIDC Back-Channel Logout 1.0), checked as its §2.6 says before a
//! single session is dropped.
//!
//! A logout token is a JWT signed like the client's ID tokens (same algorithm, eid's keys from
//! its JWKS), with the JOSE type `logout+jwt`, naming the portal as audience, the citizen
//! (`sub`, pairwise) and the login (`sid`, the same `sid` as that login's ID token), carrying
//! the back-channel logout event and never a `nonce` (so an ID token can never pass for one).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{reqwest, JsonWebKey as _, JsonWebKeyId, JsonWebKeySetUrl};
use serde::Deserialize;
use serde_json::Value;

/// The event a logout token carries (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Clock difference tolerated between eid and the portal, in seconds.
const LEEWAY: i64 = 60;
/// A token issued longer ago than this is refused even without `exp` (§2.6 step 9 lets the
/// receiver decide what "recent" means).
const MAX_AGE: i64 = 600;
/// How often a token naming an unknown key may make the portal fetch eid's keys again (eid
/// rotated its keys; a stream of forged `kid`s must not make the portal hammer eid).
const REFETCH_EVERY: Duration = Duration::from_secs(60);
/// `jti`s remembered to refuse a token replayed within its lifetime; bounded, since only
/// tokens whose signature verified are remembered.
const MAX_SEEN: usize = 10_000;

/// What a verified logout token says: which of the portal's sessions end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    /// The citizen (pairwise subject); with `sid`, the session must also be this citizen's.
    pub sub: Option<String>,
    /// The login (the ID token's `sid`).
    pub sid: Option<String>,
}

/// What the portal expects of a logout token.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The client's registered ID token algorithm; nothing else is accepted.
    pub alg: &'a CoreJwsSigningAlgorithm,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// A compact JWS taken apart; nothing in it is trusted yet.
struct Parsed {
    header: Header,
    signing_input: String,
    signature: Vec<u8>,
    claims: Value,
}

fn parse(token: &str) -> Result<Parsed, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS (three parts)".into());
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| format!("the {what} is not base64url"))
    };
    let header_json: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| format!("the header is not a JOSE header: {e}"))?;
    let claims: Value = serde_json::from_slice(&decode(payload, "payload")?)
        .map_err(|_| "the payload is not JSON".to_owned())?;
    Ok(Parsed {
        header: header_json,
        signing_input: format!("{header}.{payload}"),
        signature: decode(signature, "signature")?,
        claims,
    })
}

/// The header: exactly the client's algorithm (never `none`, never an HMAC keyed with
/// something public), the logout token's explicit type, no critical extensions.
fn check_header(header: &Header, alg: &CoreJwsSigningAlgorithm) -> Result<(), String> {
    let expected = serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if header.alg != expected {
        return Err(format!(
            "signed with {:?}, not {expected:?} (this client's algorithm)",
            header.alg
        ));
    }
    // RFC 8725 §3.11 explicit typing: an ID token (typ JWT) cannot be replayed as a logout token.
    let typ = header
        .typ
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if typ != "logout+jwt" && typ != "application/logout+jwt" {
        return Err(format!("typ is {:?}, not logout+jwt", header.typ));
    }
    if header.crit.is_some() {
        return Err("the header has critical extensions this portal does not know".into());
    }
    Ok(())
}

/// Why the signature did not verify with a key set.
#[derive(Debug, PartialEq, Eq)]
enum KeyOutcome {
    /// No key in the set has this `kid` (eid may have rotated: fetch the set again).
    NoSuchKey,
    /// A key was tried and the signature is wrong.
    Invalid(String),
}

fn verify_signature(
    keys: &CoreJsonWebKeySet,
    parsed: &Parsed,
    alg: &CoreJwsSigningAlgorithm,
) -> Result<(), KeyOutcome> {
    let kid = parsed.header.kid.clone().map(JsonWebKeyId::new);
    let candidates: Vec<&CoreJsonWebKey> = keys
        .keys()
        .iter()
        .filter(|k| kid.is_none() || k.key_id() == kid.as_ref())
        .collect();
    if candidates.is_empty() {
        return Err(KeyOutcome::NoSuchKey);
    }
    let mut last = String::new();
    for key in candidates {
        // Checks that the key suits the algorithm (type, use, its own `alg`), then the signature.
        match key.verify_signature(alg, parsed.signing_input.as_bytes(), &parsed.signature) {
            Ok(()) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(KeyOutcome::Invalid(last))
}

/// The claims (§2.6 steps 3 to 7, and 9): issuer, audience, times, the event, `sid` or `sub`,
/// no `nonce`; returns the token's `jti` with what it names.
fn check_claims(
    claims: &Value,
    expected: &Expected<'_>,
    now: i64,
) -> Result<(String, i64, LogoutToken), String> {
    let string = |name: &str| claims.get(name).and_then(Value::as_str);
    if string("iss") != Some(expected.issuer) {
        return Err(format!(
            "iss is {:?}, not {:?}",
            claims.get("iss"),
            expected.issuer
        ));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected.client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err("the token is not for this client (aud)".into());
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("the token has no iat")?;
    if iat > now + LEEWAY {
        return Err("the token was issued in the future (iat)".into());
    }
    if iat < now - MAX_AGE {
        return Err("the token is too old (iat)".into());
    }
    let exp = match claims.get("exp") {
        None => iat + MAX_AGE,
        Some(exp) => exp.as_i64().ok_or("exp is not a number")?,
    };
    if exp + LEEWAY < now {
        return Err("the token has expired (exp)".into());
    }
    let jti = string("jti").ok_or("the token has no jti")?.to_owned();
    // §2.6 step 4: `events` holds the back-channel logout event, whose value is a JSON object.
    if !claims
        .get("events")
        .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object)
    {
        return Err("the token does not carry the back-channel logout event".into());
    }
    // §2.6 step 6: a nonce would make it an ID token (§2.4 forbids it in a logout token).
    if claims.get("nonce").is_some() {
        return Err("a logout token must not have a nonce".into());
    }
    let sub = string("sub").map(str::to_owned);
    let sid = string("sid").map(str::to_owned);
    if sub.is_none() && sid.is_none() {
        return Err("the token names neither sub nor sid".into());
    }
    if claims.get("sub").is_some_and(|v| !v.is_string())
        || claims.get("sid").is_some_and(|v| !v.is_string())
    {
        return Err("sub and sid must be strings".into());
    }
    Ok((jti, exp, LogoutToken { sub, sid }))
}

/// Checks logout tokens against eid's keys, fetched again (at most once a minute) when a token
/// names a key the portal has not seen, and remembers their `jti`s against replay.
pub struct LogoutVerifier {
    jwks_uri: JsonWebKeySetUrl,
    keys: Mutex<Keys>,
    seen: Mutex<HashMap<String, i64>>,
}

struct Keys {
    set: CoreJsonWebKeySet,
    fetched: Option<Instant>,
}

impl LogoutVerifier {
    /// `keys`: eid's key set from discovery; `jwks_uri`: where to fetch it again.
    pub fn new(keys: CoreJsonWebKeySet, jwks_uri: JsonWebKeySetUrl) -> Self {
        Self {
            jwks_uri,
            keys: Mutex::new(Keys {
                set: keys,
                fetched: None,
            }),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn current_keys(&self) -> CoreJsonWebKeySet {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .clone()
    }

    /// Fetches eid's keys again, unless that was done within [`REFETCH_EVERY`].
    async fn refetch(&self, http: &reqwest::Client) -> Option<CoreJsonWebKeySet> {
        {
            let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            if keys.fetched.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
                return None;
            }
            keys.fetched = Some(Instant::now());
        }
        let set = CoreJsonWebKeySet::fetch_async(&self.jwks_uri, http)
            .await
            .ok()?;
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).set = set.clone();
        Some(set)
    }

    /// Verifies `token` (§2.6) at `now` (Unix seconds): what it names, or why it was refused.
    pub async fn verify(
        &self,
        token: &str,
        expected: &Expected<'_>,
        http: &reqwest::Client,
        now: i64,
    ) -> Result<LogoutToken, String> {
        let parsed = parse(token)?;
        check_header(&parsed.header, expected.alg)?;
        match verify_signature(&self.current_keys(), &parsed, expected.alg) {
            Ok(()) => {}
            Err(KeyOutcome::NoSuchKey) => {
                let keys = self
                    .refetch(http)
                    .await
                    .ok_or("the token names a key eid does not publish")?;
                verify_signature(&keys, &parsed, expected.alg).map_err(|e| match e {
                    KeyOutcome::NoSuchKey => "the token names a key eid does not publish".into(),
                    KeyOutcome::Invalid(why) => format!("bad signature: {why}"),
                })?;
            }
            Err(KeyOutcome::Invalid(why)) => return Err(format!("bad signature: {why}")),
        }
        let (jti, exp, named) = check_claims(&parsed.claims, expected, now)?;
        // §2.6 step 8 (optional): the same token twice is refused.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, until| *until + LEEWAY >= now);
        if seen.len() >= MAX_SEEN {
            return Err("too many logout tokens at once; retry later".into());
        }
        if seen.insert(jti, exp).is_some() {
            return Err("this logout token was already received (jti)".into());
        }
        Ok(named)
    }
}

/// Unix seconds now: the portal is a service with its own clock.
#[allow(clippy::disallowed_methods)] // The portal is not eid: it reads its own clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The `sid` claim of an ID token the `openidconnect` crate has already verified (its core
/// claims type has no field for it): read from the same payload.
pub fn sid_of_verified_id_token(compact: &str) -> Option<String> {
    let payload = compact.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("sid")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://eid.example";
    const CLIENT: &str = "client-1";
    const NOW: i64 = 1_800_000_000;

    fn expected(alg: &CoreJwsSigningAlgorithm) -> Expected<'_> {
        Expected {
            issuer: ISSUER,
            client_id: CLIENT,
            alg,
        }
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "iat": NOW, "exp": NOW + 120, "jti": "j1",
            "sub": "s1", "sid": "sid1", "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    fn token(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    fn with(mut claims: Value, name: &str, value: Option<Value>) -> Value {
        match value {
            Some(v) => claims[name] = v,
            None => {
                claims.as_object_mut().unwrap().remove(name);
            }
        }
        claims
    }

    #[test]
    fn good_claims_name_the_session() {
        let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let (jti, exp, named) = check_claims(&claims(), &expected(&alg), NOW).unwrap();
        assert_eq!((jti.as_str(), exp), ("j1", NOW + 120));
        assert_eq!(named.sid.as_deref(), Some("sid1"));
        assert_eq!(named.sub.as_deref(), Some("s1"));
        // An audience array naming the client is fine; sid alone or sub alone too.
        let array = with(claims(), "aud", Some(json!(["other", CLIENT])));
        assert!(check_claims(&array, &expected(&alg), NOW).is_ok());
        assert!(check_claims(&with(claims(), "sub", None), &expected(&alg), NOW).is_ok());
        assert!(check_claims(&with(claims(), "sid", None), &expected(&alg), NOW).is_ok());
    }

    #[test]
    fn bad_claims_are_refused() {
        let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let refused = |claims: Value| check_claims(&claims, &expected(&alg), NOW).unwrap_err();
        assert!(
            refused(with(claims(), "iss", Some(json!("https://evil.example")))).contains("iss")
        );
        assert!(refused(with(claims(), "iss", None)).contains("iss"));
        assert!(refused(with(claims(), "aud", Some(json!("client-2")))).contains("aud"));
        assert!(refused(with(claims(), "aud", Some(json!(["client-2"])))).contains("aud"));
        assert!(refused(with(claims(), "iat", None)).contains("iat"));
        assert!(refused(with(claims(), "iat", Some(json!(NOW + 3600)))).contains("future"));
        assert!(refused(with(claims(), "iat", Some(json!(NOW - 3600)))).contains("old"));
        assert!(refused(with(claims(), "exp", Some(json!(NOW - 3600)))).contains("exp"));
        assert!(refused(with(claims(), "jti", None)).contains("jti"));
        assert!(refused(with(claims(), "events", None)).contains("event"));
        assert!(refused(with(claims(), "events", Some(json!({"other": {}})))).contains("event"));
        let not_object = json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" });
        assert!(refused(with(claims(), "events", Some(not_object))).contains("event"));
        assert!(refused(with(claims(), "nonce", Some(json!("n")))).contains("nonce"));
        let neither = with(with(claims(), "sub", None), "sid", None);
        assert!(refused(neither).contains("neither"));
        assert!(refused(with(claims(), "sid", Some(json!(7)))).contains("strings"));
    }

    #[test]
    fn only_the_clients_algorithm_and_type_pass_the_header() {
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let header = |v: Value| serde_json::from_value::<Header>(v).unwrap();
        assert!(check_header(&header(json!({"alg":"RS256","typ":"logout+jwt"})), &rs256).is_ok());
        let typed = json!({"alg":"RS256","typ":"application/logout+jwt"});
        assert!(check_header(&header(typed), &rs256).is_ok());
        for bad in [
            json!({"alg":"none","typ":"logout+jwt"}),
            json!({"alg":"HS256","typ":"logout+jwt"}),
            json!({"alg":"ES256","typ":"logout+jwt"}),
            json!({"alg":"RS256","typ":"JWT"}),
            json!({"alg":"RS256"}),
            json!({"alg":"RS256","typ":"logout+jwt","crit":["exp"]}),
        ] {
            assert!(check_header(&header(bad.clone()), &rs256).is_err(), "{bad}");
        }
    }

    #[test]
    fn unsigned_forged_and_malformed_tokens_do_not_verify() {
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        // A public RSA key (the RFC 7515 A.2 example's).
        let jwk: CoreJsonWebKey = serde_json::from_value(json!({
            "kty": "RSA", "kid": "k1", "use": "sig", "e": "AQAB",
            "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
        }))
        .unwrap();
        let keys = CoreJsonWebKeySet::new(vec![jwk]);
        let header = json!({"alg":"RS256","typ":"logout+jwt","kid":"k1"});
        let verify = |t: &str| verify_signature(&keys, &parse(t).unwrap(), &rs256);
        assert!(matches!(
            verify(&token(&header, &claims(), b"not a signature")),
            Err(KeyOutcome::Invalid(_))
        ));
        assert!(matches!(
            verify(&token(&header, &claims(), b"")),
            Err(KeyOutcome::Invalid(_))
        ));
        let unknown = json!({"alg":"RS256","typ":"logout+jwt","kid":"k2"});
        assert_eq!(
            verify(&token(&unknown, &claims(), b"x")),
            Err(KeyOutcome::NoSuchKey)
        );
        // Unsigned ("alg": "none", empty signature) stops at the header.
        let none = parse(&token(
            &json!({"alg":"none","typ":"logout+jwt"}),
            &claims(),
            b"",
        ))
        .unwrap();
        assert!(check_header(&none.header, &rs256).is_err());
        for malformed in ["", "a.b", "a.b.c.d", "!!.e30.e30", "e30.!!.e30"] {
            assert!(parse(malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn the_sid_of_an_id_token_is_read_from_its_payload() {
        let header = json!({"alg":"RS256"});
        let id_token = token(&header, &json!({"sub":"s","sid":"abc"}), b"sig");
        assert_eq!(sid_of_verified_id_token(&id_token).as_deref(), Some("abc"));
        let without = token(&header, &json!({"sub":"s"}), b"sig");
        assert_eq!(sid_of_verified_id_token(&without), None);
    }
}
