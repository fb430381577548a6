//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! §2.3.1, OIDC Core §9, RFC 7523): `client_secret_basic`, `client_secret_post`,
//! `client_secret_jwt` and `private_key_jwt`. A client authenticates the way it registered
//! (the two secret methods are interchangeable); a JWT assertion is single-use (`jti`), short
//! (five minutes at most) and addressed to eid.

use serde::Deserialize;

use jsonwebtoken::Algorithm;

use crate::crypto::{b64url_decode, ct_eq, sha256, Aad};
use crate::jwt::{self, Expect, Keys};
use crate::oidc::oauth;
use crate::store::{ClientRecord, TokenAuthMethod};
use crate::time::UnixTime;
use crate::{Error, OAuthError, OAuthErrorCode, Provider};

/// The client authentication methods eid accepts (at the token, revocation and
/// introspection endpoints alike).
pub const CLIENT_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
];

/// The algorithms a `private_key_jwt` assertion may be signed with.
pub const ASSERTION_KEY_ALGS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

/// The algorithms a FAPI 2.0 client signs with (FAPI 2.0 Security Profile §5.4.1): its
/// client assertions and request objects.
pub const FAPI2_ALGS: &[Algorithm] = &[Algorithm::PS256, Algorithm::ES256];

/// The algorithm a `client_secret_jwt` assertion is signed with.
pub const ASSERTION_SECRET_ALGS: &[Algorithm] = &[Algorithm::HS256];

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client assertion lives at most this long (exp after iat).
const ASSERTION_MAX_LIFETIME: i64 = 300;

/// Client authentication fields of a form body (RFC 6749 §2.3.1).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ClientAuthParams {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl Provider {
    // Unknown clients and wrong secrets fail alike, in constant time with respect to the
    // secret.
    /// Authenticates a client by what the request presents: HTTP Basic credentials (already
    /// form-decoded), and the form body's own fields.
    pub(crate) fn authenticate_client(
        &self,
        basic: Option<&(String, String)>,
        form: &ClientAuthParams,
        now: UnixTime,
    ) -> Result<ClientRecord, Error> {
        let presented = [
            basic.is_some(),
            form.client_secret.is_some(),
            form.client_assertion.is_some() || form.client_assertion_type.is_some(),
        ];
        if presented.iter().filter(|p| **p).count() > 1 {
            return Err(oauth(
                OAuthErrorCode::InvalidRequest,
                "use one client authentication method, not two",
            )
            .into());
        }
        if form.client_assertion.is_some() || form.client_assertion_type.is_some() {
            return self.authenticate_assertion(form, now);
        }
        let (client_id, secret) = match (basic, &form.client_secret) {
            (Some((id, secret)), None) => {
                if form.client_id.as_deref().is_some_and(|p| p != id) {
                    return Err(oauth(
                        OAuthErrorCode::InvalidRequest,
                        "client_id differs from the authenticated client",
                    )
                    .into());
                }
                (id, secret)
            }
            (None, Some(secret)) => match &form.client_id {
                Some(id) => (id, secret),
                None => return Err(failed("no client_id").into()),
            },
            _ => return Err(failed("no client authentication").into()),
        };
        let presented = sha256(secret.as_bytes());
        match self.store.client(client_id)? {
            Some(client)
                if ct_eq(&presented, &client.secret_hash)
                    && matches!(
                        client.metadata.token_endpoint_auth_method,
                        TokenAuthMethod::ClientSecretBasic | TokenAuthMethod::ClientSecretPost
                    ) =>
            {
                Ok(client)
            }
            _ => {
                tracing::warn!(target: "eid::security", event = "client_authentication_failed", client_id = %client_id, "client authentication failed");
                Err(failed("wrong client or secret, or the client authenticates otherwise").into())
            }
        }
    }

    /// `client_secret_jwt` or `private_key_jwt` (RFC 7523 §3, OIDC Core §9).
    fn authenticate_assertion(
        &self,
        form: &ClientAuthParams,
        now: UnixTime,
    ) -> Result<ClientRecord, Error> {
        if form.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(failed("client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer").into());
        }
        let assertion = form
            .client_assertion
            .as_deref()
            .ok_or_else(|| failed("client_assertion is missing"))?;
        // The client is named by client_id or else by the assertion's (not yet verified) iss.
        let client_id = match &form.client_id {
            Some(id) => id.clone(),
            None => unverified_claim(assertion, "iss")
                .ok_or_else(|| failed("the assertion names no client (iss)"))?,
        };
        let refuse = |reason: &str| -> Error {
            tracing::warn!(target: "eid::security", event = "client_authentication_failed", client_id = %client_id, reason, "client assertion refused");
            failed(&format!("the client assertion was refused: {reason}")).into()
        };
        let Some(client) = self.store.client(&client_id)? else {
            return Err(refuse("unknown client"));
        };
        // FAPI 2.0 §5.3.2.1 (8): the issuer identifier alone, as a string.
        let audiences = match client.is_fapi2() {
            true => vec![self.config.issuer_str().to_owned()],
            false => self.own_audiences(),
        };
        let expect = |algs| {
            Expect::strict(
                algs,
                &audiences,
                Some(&client.client_id),
                ASSERTION_MAX_LIFETIME,
                now,
            )
        };
        let (_, claims) = match client.metadata.token_endpoint_auth_method {
            TokenAuthMethod::PrivateKeyJwt => {
                let algs = match client.is_fapi2() {
                    true => FAPI2_ALGS,
                    false => ASSERTION_KEY_ALGS,
                };
                self.verify_client_jwt(&client, assertion, &expect(algs), now)
                    .map_err(|e| refuse(&e))?
            }
            TokenAuthMethod::ClientSecretJwt => {
                let sealed = client.secret_sealed.as_deref().ok_or_else(|| {
                    Error::Internal("a client_secret_jwt client has no secret".into())
                })?;
                let secret = self
                    .derived
                    .data
                    .open(&Aad::ClientSecret(&client.client_id).bytes(), sealed)?;
                jwt::verify(
                    assertion,
                    &Keys::Secret(&secret),
                    &expect(ASSERTION_SECRET_ALGS),
                )
                .map_err(|e| refuse(&e.to_string()))?
            }
            _ => {
                return Err(refuse(
                    "the client is not registered for JWT authentication",
                ))
            }
        };
        if client.is_fapi2() && !claims.get("aud").is_some_and(serde_json::Value::is_string) {
            return Err(refuse("aud must be the issuer identifier as a string"));
        }
        if claims.get("sub").and_then(|v| v.as_str()) != Some(client.client_id.as_str()) {
            return Err(refuse("sub must be the client_id"));
        }
        let jti = claims
            .get("jti")
            .and_then(|v| v.as_str())
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| refuse("jti is required"))?;
        let exp = claims
            .get("exp")
            .and_then(|v| v.as_i64())
            .map_or(now, UnixTime::from_secs);
        if !self.store.first_use(
            &format!("client_assertion:{}", client.client_id),
            jti,
            exp.max(now) + jwt::LEEWAY,
        )? {
            return Err(refuse("the assertion was used before (jti)"));
        }
        Ok(client)
    }

    /// What eid answers to as an audience: its issuer identifier and its endpoints' URLs.
    pub(crate) fn own_audiences(&self) -> Vec<String> {
        let issuer = self.config.issuer_str();
        ["", "/token", "/revoke", "/introspect", "/par"]
            .iter()
            .map(|path| format!("{issuer}{path}"))
            .collect()
    }
}

fn failed(description: &str) -> OAuthError {
    oauth(
        OAuthErrorCode::InvalidClient,
        format!("client authentication failed: {description}"),
    )
}

/// A claim of a JWT's payload, read without verifying it (to find out which client's keys
/// verify it).
fn unverified_claim(token: &str, name: &str) -> Option<String> {
    let payload = b64url_decode(token.split('.').nth(1)?)?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}
