//! Request objects (RFC 9101, OIDC Core §6): authorization parameters in a JWT the client
//! signed with a key it registered. Only signed objects are accepted (RS256, PS256, ES256),
//! from the client (`iss`, and `client_id` inside matching the one outside), addressed to eid
//! when they say (`aud`), with an `exp` at most an hour away, and once per `jti`.
//!
//! The object is the whole request (RFC 9101 §6.3: "MUST only use the parameters in the
//! Request Object"): nothing outside it is merged in, whatever the client. OIDC Core §6.1 has
//! clients repeat `response_type`, `client_id` and `scope` (with `openid`) outside, so that
//! the request reads as OAuth 2.0; those are held to the object's where both say (`client_id`
//! and `response_type` must be equal; the outer `scope` is only OAuth's envelope, and the
//! object's counts), and `client_id` is the client's even when the object omits it. An object
//! without `redirect_uri`, `response_type` or PKCE is refused like a request without them.
//! (Until 2026-12, eid merged the outer parameters under a non-FAPI client's object, OIDC Core
//! §6.3.3's older rule: unsigned parameters then rode along with a signed request; security
//! review 2026-12-07, I3.)
//!
//! Replays: `exp` is required of every object (FAPI 2.0 Message Signing §5.3.1 asks it of
//! FAPI clients; eid asks everyone, so that no signed request lives for ever), and a `jti`,
//! when the object has one, is single-use until then. A `jti` is not required: neither OIDC
//! nor RFC 9101 nor FAPI 2.0 asks clients for one (the OpenID Foundation's FAPI 2.0 suite
//! sends none), and a replayed object within its hour gains nothing: the login still needs
//! the citizen's phone, and its code goes only to the client's registered redirect URI,
//! bound to the client's PKCE verifier.

use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::jwt::Expect;
use crate::oidc::authorize::AuthorizationParams;
use crate::oidc::oauth;
use crate::store::ClientRecord;
use crate::time::UnixTime;
use crate::{OAuthError, OAuthErrorCode, Provider};

/// The algorithms a request object may be signed with.
pub const REQUEST_OBJECT_ALGS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

/// A request object lives at most an hour (FAPI 2.0 asks the same of its clients).
const MAX_LIFETIME: i64 = 3_600;

/// The JWT's own claims, which are not authorization parameters.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

impl Provider {
    /// Verifies `client`'s request object and returns the parameters it carries: the whole
    /// request, held to `outer` (the query or form it came in) only as [`object_parameters`]
    /// says. Spends its `jti`, if it has one.
    pub(crate) fn open_request_object(
        &self,
        client: &ClientRecord,
        object: &str,
        outer: &AuthorizationParams,
        now: UnixTime,
    ) -> Result<AuthorizationParams, OAuthError> {
        let invalid = |why: &str| {
            oauth(
                OAuthErrorCode::InvalidRequestObject,
                format!("the request object was refused: {why}"),
            )
        };
        if object.split('.').count() == 5 {
            return Err(invalid("encrypted request objects are not supported"));
        }
        let issuer = [self.config.issuer_str()];
        let algs = match client.is_fapi2() {
            true => crate::oidc::client_auth::FAPI2_ALGS,
            false => REQUEST_OBJECT_ALGS,
        };
        let expect = Expect {
            require_aud: false,
            ..Expect::strict(algs, &issuer, None, MAX_LIFETIME, now)
        };
        let (_, claims) = self
            .verify_client_jwt(client, object, &expect, now)
            .map_err(|e| invalid(&e))?;
        if claims
            .get("iss")
            .is_some_and(|iss| iss.as_str() != Some(client.client_id.as_str()))
        {
            return Err(invalid("iss is not the client"));
        }
        if claims
            .get("client_id")
            .is_some_and(|id| id.as_str() != Some(client.client_id.as_str()))
        {
            return Err(invalid("client_id differs from the client's"));
        }
        let params = object_parameters(outer, claims.clone())?;
        if let Some(jti) = claims.get("jti") {
            let jti = jti
                .as_str()
                .filter(|j| !j.is_empty() && j.len() <= 256)
                .ok_or_else(|| invalid("jti must be a string of at most 256 characters"))?;
            // `exp` is required above, so the marker is kept exactly as long as the object
            // could be accepted.
            let exp = claims
                .get("exp")
                .and_then(Value::as_i64)
                .map_or(now, UnixTime::from_secs);
            let first = self
                .store
                .first_use(
                    &format!("request_object:{}", client.client_id),
                    jti,
                    exp.max(now) + crate::jwt::LEEWAY,
                )
                .map_err(|e| oauth(OAuthErrorCode::ServerError, e.to_string()))?;
            if !first {
                return Err(invalid("it was used before (jti)"));
            }
        }
        Ok(params)
    }
}

/// A verified request object's parameters (RFC 9101 §6.3): every claim but the JWT's own,
/// strings as they are, numbers and objects as their JSON text (`max_age`, `claims`); of the
/// parameters outside (`outer`) only `client_id`, which the object may omit, and which with
/// `response_type` must agree with the object's (OIDC Core §6.1). (Public for the fuzz
/// targets: it reads untrusted input.)
pub fn object_parameters(
    outer: &AuthorizationParams,
    claims: serde_json::Map<String, Value>,
) -> Result<AuthorizationParams, OAuthError> {
    let invalid = |why: &str| {
        oauth(
            OAuthErrorCode::InvalidRequestObject,
            format!("the request object was refused: {why}"),
        )
    };
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(invalid("it may not nest another request"));
    }
    let mut parameters = serde_json::Map::new();
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            other => other.to_string(),
        };
        parameters.insert(name, Value::String(text));
    }
    let mut params: AuthorizationParams = serde_json::from_value(Value::Object(parameters))
        .map_err(|e| invalid(&format!("its parameters do not read: {e}")))?;
    // OIDC Core §6.1: the values outside "MUST match those in the Request Object, if present".
    for (name, inside, outside) in [
        ("client_id", &params.client_id, &outer.client_id),
        ("response_type", &params.response_type, &outer.response_type),
    ] {
        if let (Some(inside), Some(outside)) = (inside, outside) {
            if inside != outside {
                return Err(invalid(&format!(
                    "{name} differs inside and outside the request object"
                )));
            }
        }
    }
    if params.client_id.is_none() {
        params.client_id.clone_from(&outer.client_id);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    fn outer() -> AuthorizationParams {
        AuthorizationParams {
            client_id: Some("bank".into()),
            response_type: Some("code".into()),
            scope: Some("openid".into()),
            state: Some("outside-state".into()),
            nonce: Some("outside-nonce".into()),
            redirect_uri: Some("https://bank.example/cb".into()),
            ..AuthorizationParams::default()
        }
    }

    /// RFC 9101 §6.3: only the object's parameters are used; nothing unsigned rides along
    /// (security review 2026-12-07, I3).
    #[test]
    fn only_the_objects_parameters_count() {
        let params = object_parameters(
            &outer(),
            claims(serde_json::json!({
                "iss": "bank", "aud": "https://eid.example", "exp": 1, "jti": "j",
                "response_type": "code", "scope": "openid profile", "max_age": 60,
                "claims": {"id_token": {"acr": null}},
            })),
        )
        .unwrap();
        assert_eq!(params.scope.as_deref(), Some("openid profile"));
        assert_eq!(params.state, None, "the outer state is not used");
        assert_eq!(params.nonce, None, "nor the outer nonce");
        assert_eq!(params.redirect_uri, None, "nor the outer redirect URI");
        assert_eq!(params.client_id.as_deref(), Some("bank"), "the client's");
        assert_eq!(params.max_age.as_deref(), Some("60"));
        assert_eq!(
            params.claims.as_deref(),
            Some(r#"{"id_token":{"acr":null}}"#)
        );
        assert_eq!(params.request, None);
    }

    /// OIDC Core §6.1: `client_id` and `response_type` outside must match the object's.
    #[test]
    fn outer_client_id_and_response_type_must_agree() {
        for (name, value) in [("client_id", "shop"), ("response_type", "id_token")] {
            let mut object = serde_json::json!({"response_type": "code", "client_id": "bank"});
            object[name] = value.into();
            let err = object_parameters(&outer(), claims(object)).unwrap_err();
            assert_eq!(err.code, OAuthErrorCode::InvalidRequestObject, "{name}");
        }
        // Absent outside: nothing to compare.
        let bare = AuthorizationParams {
            client_id: Some("bank".into()),
            ..AuthorizationParams::default()
        };
        let params =
            object_parameters(&bare, claims(serde_json::json!({"response_type": "code"}))).unwrap();
        assert_eq!(params.response_type.as_deref(), Some("code"));
    }

    #[test]
    fn an_object_may_not_nest_a_request() {
        for nested in ["request", "request_uri"] {
            let object = claims(serde_json::json!({ nested: "x" }));
            assert!(object_parameters(&outer(), object).is_err(), "{nested}");
        }
    }
}
