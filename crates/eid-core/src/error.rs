//! The core's one error type. Variants say what failed, never an HTTP status: `eid-server` maps
//! them to protocol responses in one place.

use crate::store::StoreError;

/// OAuth 2.0 / OIDC error codes (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, OIDC Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    ServerError,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::ServerError => "server_error",
        }
    }
}

/// An OAuth error with the description the client's developer will read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fields of a request were invalid: `(field, reason)` pairs.
    #[error("invalid input: {}", .0.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<(&'static str, String)>),
    /// One account per HKID number.
    #[error("an account already exists for this identity card")]
    AlreadyEnrolled,
    /// The named thing does not exist (or the caller may not know that it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The named thing expired or was already used.
    #[error("{0} has expired or was already used")]
    Gone(&'static str),
    /// A WebAuthn ceremony's response was refused.
    #[error("the device's response was refused: {0}")]
    DeviceRefused(String),
    /// The wallet API needs a valid session token.
    #[error("a valid wallet session is required")]
    Unauthenticated,
    /// The request conflicts with the account's state.
    #[error("{0}")]
    Conflict(String),
    /// The login continues only in the browser that started it.
    #[error("this login was started in another browser")]
    WrongBrowser,
    /// An OAuth protocol error for the client.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// Start-up configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A cryptographic operation failed (wrong master key, corrupt data).
    #[error("cryptography: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput(vec![(field, reason.into())])
    }

    /// Whether the fault is the server's (to log at error level), not the caller's.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Config(_) | Self::Crypto(_) | Self::Store(StoreError::Backend(_))
        )
    }
}
