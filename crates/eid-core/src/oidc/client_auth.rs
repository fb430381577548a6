//! Client authentication at the token endpoint (RFC 6749 §2.3.1, OIDC Core §9):
//! `client_secret_basic` and `client_secret_post`.

use serde::Deserialize;

use crate::crypto::{ct_eq, sha256};
use crate::oidc::oauth;
use crate::store::ClientRecord;
use crate::{Error, OAuthErrorCode, Provider};

/// The client authentication methods eid accepts (at the token, revocation and
/// introspection endpoints alike).
pub const CLIENT_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

/// The client authentication a request presents: HTTP Basic credentials (already
/// form-decoded) and the form body's own fields.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials {
    pub basic: Option<(String, String)>,
    pub form: ClientAuthParams,
}

/// Client authentication fields of a form body (RFC 6749 §2.3.1).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ClientAuthParams {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl Provider {
    /// Authenticates a client. Unknown clients and wrong secrets fail alike, in constant time
    /// with respect to the secret.
    pub(crate) fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<ClientRecord, Error> {
        let failed = || {
            oauth(
                OAuthErrorCode::InvalidClient,
                "client authentication failed",
            )
        };
        let form = &credentials.form;
        let (client_id, secret) = match (&credentials.basic, &form.client_secret) {
            (Some(_), Some(_)) => {
                return Err(oauth(
                    OAuthErrorCode::InvalidRequest,
                    "use one client authentication method, not two",
                )
                .into())
            }
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
                None => return Err(failed().into()),
            },
            (None, None) => return Err(failed().into()),
        };
        let presented = sha256(secret.as_bytes());
        match self.store.client(client_id)? {
            Some(client) if ct_eq(&presented, &client.secret_hash) => Ok(client),
            _ => {
                tracing::warn!(target: "eid::security", event = "client_authentication_failed", client_id = %client_id, "client authentication failed");
                Err(failed().into())
            }
        }
    }
}
