//! The OpenID Provider's protocol endpoints, a module per flow.
//!
//! 1. [`authorize`]: the authorization request (OIDC Core §3.1.2.1–2) is checked in the
//!    specs' order and opens a login ([`crate::login`]), which the citizen approves on the
//!    phone and the browser continues; the client gets a code (or, where the operator allows
//!    the implicit flow, its tokens in the response: `token::implicit`).
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
pub mod dpop;
pub mod id_token;
pub mod logout;
pub mod par;
pub mod pkce;
pub mod registration;
pub mod request_object;
pub mod revoke;
pub mod token;
pub mod userinfo;

pub use authorize::{
    check_authorization_params, AuthorizationParams, AuthorizeError, Authorized, PendingLogin,
};
pub use token::TokenParams;

pub(crate) fn oauth(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
    OAuthError::new(code, description)
}

/// What the authorization response carries (OAuth 2.0 Multiple Response Type Encoding
/// Practices §3, OIDC Core §3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseType {
    /// A code for the token endpoint (the code flow).
    #[default]
    Code,
    /// An ID token alone, in the response (the implicit flow, OIDC Core §3.2).
    IdToken,
    /// An ID token and an access token, in the response (the implicit flow).
    IdTokenToken,
}

impl ResponseType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::IdToken => "id_token",
            Self::IdTokenToken => "id_token token",
        }
    }

    /// A `response_type` value; its space-separated values may come in any order.
    pub fn parse(s: &str) -> Option<Self> {
        let mut values: Vec<&str> = s.split(' ').collect();
        values.sort_unstable();
        match values.as_slice() {
            ["code"] => Some(Self::Code),
            ["id_token"] => Some(Self::IdToken),
            ["id_token", "token"] => Some(Self::IdTokenToken),
            _ => None,
        }
    }

    /// Whether tokens travel in the response itself (the implicit flow).
    pub fn is_implicit(self) -> bool {
        self != Self::Code
    }

    /// The response mode when the request names none: tokens never go in a query (Multiple
    /// Response Types §5).
    pub fn default_mode(self) -> ResponseMode {
        match self {
            Self::Code => ResponseMode::Query,
            _ => ResponseMode::Fragment,
        }
    }
}

/// How the authorization response travels back through the browser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseMode {
    /// In the redirect URI's query (RFC 6749 §4.1.2).
    #[default]
    Query,
    /// In the redirect URI's fragment (Multiple Response Types §2.1): the page's script reads
    /// it and the browser never sends it to a server.
    Fragment,
    /// In a form the browser posts to the redirect URI (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Fragment => "fragment",
            Self::FormPost => "form_post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(Self::Query),
            "fragment" => Some(Self::Fragment),
            "form_post" => Some(Self::FormPost),
            _ => None,
        }
    }
}

/// An authorization response (a code or an error) on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// The redirect URI, exactly as registered.
    pub redirect_uri: Url,
    /// The response parameters, `iss` last (RFC 9207).
    pub params: Vec<(String, String)>,
    pub mode: ResponseMode,
}

impl ClientResponse {
    /// The redirect URI with the parameters added to its query, or put in its fragment.
    pub fn redirect_url(&self) -> Url {
        let mut url = self.redirect_uri.clone();
        match self.mode {
            ResponseMode::Fragment => {
                let fragment = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&self.params)
                    .finish();
                url.set_fragment(Some(&fragment));
            }
            _ => {
                url.query_pairs_mut().extend_pairs(&self.params);
            }
        }
        url
    }
}

impl Provider {
    /// Builds a response to the client with `params`, `state` and `iss` (RFC 9207 §2).
    pub(crate) fn client_redirect(
        &self,
        redirect_uri: &str,
        params: &[(&str, &str)],
        state: Option<&str>,
        mode: ResponseMode,
    ) -> Result<ClientResponse, Error> {
        let redirect_uri = Url::parse(redirect_uri)
            .map_err(|e| Error::Internal(format!("stored redirect URI does not parse: {e}")))?;
        let mut out: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(state) = state {
            out.push(("state".into(), state.to_owned()));
        }
        out.push(("iss".into(), self.config.issuer_str()));
        Ok(ClientResponse {
            redirect_uri,
            params: out,
            mode,
        })
    }

    /// A response to the client with an OAuth error (RFC 6749 §4.1.2.1).
    pub(crate) fn error_redirect(
        &self,
        redirect_uri: &str,
        error: &OAuthError,
        state: Option<&str>,
        mode: ResponseMode,
    ) -> Result<ClientResponse, Error> {
        self.client_redirect(
            redirect_uri,
            &[
                ("error", error.code.as_str()),
                ("error_description", &error.description),
            ],
            state,
            mode,
        )
    }
}
