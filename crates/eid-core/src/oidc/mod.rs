//! The OpenID Provider's protocol endpoints, a module per flow.
//!
//! 1. [`authorize`]: the authorization request (OIDC Core §3.1.2.1–2) is checked in the
//!    specs' order and opens a login ([`crate::login`]), which the citizen approves on the
//!    phone and the browser continues; the client gets a code.
//! 2. [`token`]: the single-use code is exchanged (RFC 6749 §4.1.3, RFC 7636 §4.6) by a
//!    client authenticated by [`client_auth`]; [`id_token`] builds what it returns.
//!    A refresh token (offline access) rotates at each use; a reused one revokes its grant.
//! 3. [`userinfo`]: the claims the citizen shared (OIDC Core §5.3).
//! 4. [`revoke`]: revocation (RFC 7009) and introspection (RFC 7662) of a client's tokens.
//! 5. [`discovery`]: the provider's metadata (OIDC Discovery 1.0 §3).

use url::Url;

use crate::{Error, OAuthError, OAuthErrorCode, Provider};

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod id_token;
pub(crate) mod pkce;
pub mod revoke;
pub mod token;
pub mod userinfo;

pub use authorize::{
    check_authorization_params, AuthorizationParams, AuthorizeError, PendingLogin,
};
pub use token::TokenParams;

pub(crate) fn oauth(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
    OAuthError::new(code, description)
}

impl Provider {
    /// Builds a redirect to the client with `params`, `state` and `iss` (RFC 9207 §2).
    pub(crate) fn client_redirect(
        &self,
        redirect_uri: &str,
        params: &[(&str, &str)],
        state: Option<&str>,
    ) -> Result<Url, Error> {
        let mut url = Url::parse(redirect_uri)
            .map_err(|e| Error::Internal(format!("stored redirect URI does not parse: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.config.issuer_str());
        }
        Ok(url)
    }

    /// A redirect to the client with an OAuth error (RFC 6749 §4.1.2.1).
    pub(crate) fn error_redirect(
        &self,
        redirect_uri: &str,
        error: &OAuthError,
        state: Option<&str>,
    ) -> Result<Url, Error> {
        self.client_redirect(
            redirect_uri,
            &[
                ("error", error.code.as_str()),
                ("error_description", &error.description),
            ],
            state,
        )
    }
}
