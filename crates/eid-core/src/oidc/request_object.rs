//! Request objects (RFC 9101, OIDC Core §6): authorization parameters in a JWT the client
//! signed with a key it registered. Its parameters replace those outside it; only signed
//! objects are accepted (RS256, PS256, ES256), from the client (`iss`, and `client_id`
//! inside matching the one outside), addressed to eid when they say (`aud`), and unexpired.

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
    /// Verifies `client`'s request object and returns the parameters it carries over those of
    /// `outer` (the query or form it came in).
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
            require_exp: false,
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
        // A FAPI 2.0 client's object is the whole request (RFC 9101 §5: the parameters
        // outside it are ignored); others' are merged over the outer ones (OIDC Core §6.3.3).
        match client.is_fapi2() {
            true => merge_parameters(
                &AuthorizationParams {
                    client_id: outer.client_id.clone(),
                    ..AuthorizationParams::default()
                },
                claims,
            ),
            false => merge_parameters(outer, claims),
        }
    }
}

/// A verified request object's parameters over the outer ones (OIDC Core §6.3.3): every claim
/// but the JWT's own, strings as they are, numbers and objects as their JSON text (`max_age`,
/// `claims`). (Public for the fuzz targets: it reads untrusted input.)
pub fn merge_parameters(
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
    let mut merged = match serde_json::to_value(outer) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    merged.remove("request");
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            other => other.to_string(),
        };
        merged.insert(name, Value::String(text));
    }
    serde_json::from_value(Value::Object(merged))
        .map_err(|e| invalid(&format!("its parameters do not read: {e}")))
}
