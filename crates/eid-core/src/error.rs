//! The core's one error type. Variants say what failed, never an HTTP status: `eid-server` maps
//! them to protocol responses in one place.

use crate::account::Level;
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
    /// OIDC Core §3.1.2.6: `prompt=none`, and the citizen has not consented to what is asked.
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 9101 §7: the request object is invalid.
    InvalidRequestObject,
    /// RFC 9101 §7, RFC 9126: the request URI is invalid, expired or used.
    InvalidRequestUri,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidToken,
    /// RFC 6750 §3.1: the access token is valid but its scope does not cover the request.
    InsufficientScope,
    /// RFC 9449 §5.2, §7.1: the DPoP proof is missing, invalid or does not fit the request.
    InvalidDpopProof,
    /// RFC 9449 §8: the DPoP proof must carry the nonce eid gives (in `DPoP-Nonce`).
    UseDpopNonce,
    /// OpenID Connect Unmet Authentication Requirements 1.0 §2: the account cannot meet the
    /// `acr_values` the client asked for.
    UnmetAuthenticationRequirements,
    /// OpenID CIBA §11 (and RFC 8628 §3.5): the person has not answered yet; poll again.
    AuthorizationPending,
    /// OpenID CIBA §11: the request expired before the person answered.
    ExpiredToken,
    ServerError,
}

impl OAuthErrorCode {
    const ALL: [Self; 24] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::UnsupportedResponseType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::InvalidRequestObject,
        Self::InvalidRequestUri,
        Self::InvalidRedirectUri,
        Self::InvalidClientMetadata,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
        Self::UnmetAuthenticationRequirements,
        Self::AuthorizationPending,
        Self::ExpiredToken,
        Self::ServerError,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

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
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::AuthorizationPending => "authorization_pending",
            Self::ExpiredToken => "expired_token",
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

/// Why identity proofing refused an applicant. Told to the applicant (who proved possession of
/// the application's device), to no one else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofingFailure {
    /// The population registry has no person with this identity card number.
    NoRecord,
    /// The face template does not match the registry's (too low a similarity).
    FaceMismatch,
    /// The face matched, but these particulars differ from the registry's record.
    ParticularsMismatch(Vec<&'static str>),
    /// The evidence read from the card differs from the application in these fields.
    EvidenceMismatch(Vec<&'static str>),
    /// The face template came without a capture key's signature, which this deployment
    /// requires.
    UnsignedCapture,
    /// The signed capture did not verify: no trusted capture key, another ceremony's nonce, or
    /// a liveness verdict other than live.
    CaptureRefused,
}

impl ProofingFailure {
    /// The reason code in the audit trail and the problem JSON.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoRecord => "no_record",
            Self::FaceMismatch => "face_mismatch",
            Self::ParticularsMismatch(_) => "particulars_mismatch",
            Self::EvidenceMismatch(_) => "evidence_mismatch",
            Self::UnsignedCapture => "unsigned_capture",
            Self::CaptureRefused => "capture_refused",
        }
    }
}

impl std::fmt::Display for ProofingFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoRecord => {
                f.write_str("the registry has no record of this identity card number")
            }
            Self::FaceMismatch => f.write_str("the face does not match the registry's record"),
            Self::ParticularsMismatch(fields) => {
                write!(f, "the registry's record differs in {}", fields.join(", "))
            }
            Self::EvidenceMismatch(fields) => {
                write!(
                    f,
                    "the card's particulars differ from the application in {}",
                    fields.join(", ")
                )
            }
            Self::UnsignedCapture => {
                f.write_str("the face capture is not signed by a trusted capture component")
            }
            Self::CaptureRefused => f.write_str("the signed face capture could not be verified"),
        }
    }
}

/// Why an account may not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRefusal {
    /// The device belongs to an application that proofing has not accepted yet.
    NotProven,
    /// The account was created before identity proofing and never proven.
    NeverProven,
    Suspended,
    Closed,
    /// The service asked for a higher assurance level than the account has.
    LevelTooLow {
        required: Level,
        actual: Level,
    },
    /// The service asked for the login of the citizen an earlier ID token names
    /// (`id_token_hint`), and this is another citizen's account.
    NotTheHintedAccount,
}

impl std::fmt::Display for AccountRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotProven => f.write_str("the registration is not proven yet"),
            Self::NeverProven => f.write_str("the account was never proven"),
            Self::Suspended => f.write_str("the account is suspended"),
            Self::Closed => f.write_str("the account is closed"),
            Self::LevelTooLow { required, actual } => write!(
                f,
                "the service requires level {}, the account has {}",
                required.as_str(),
                actual.as_str()
            ),
            Self::NotTheHintedAccount => {
                write!(f, "the service asked for another citizen's login")
            }
        }
    }
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fields of a request were invalid: `(field, reason)` pairs.
    #[error("invalid input: {}", .0.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<(&'static str, String)>),
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
    /// The citizen picked another number than the login page shows: the login was stopped.
    #[error("the number picked is not the one the login page shows; the login was stopped")]
    WrongNumber,
    /// The citizen picked another verification code than the service shows beside the
    /// document: the signing request was stopped.
    #[error("the code picked is not the one the service shows; the signing request was stopped")]
    WrongCode,
    /// The login continues only in the browser that started it.
    #[error("this login was started in another browser")]
    WrongBrowser,
    /// Too many attempts from this source or on this subject; retry after the given seconds.
    #[error("rate limited ({what}); retry after {retry_after} s")]
    RateLimited {
        what: &'static str,
        retry_after: u64,
    },
    /// Identity proofing refused the applicant.
    #[error("identity proofing failed: {0}")]
    ProofingFailed(ProofingFailure),
    /// The account cannot do this.
    #[error("{0}")]
    AccountRefused(AccountRefusal),
    /// The caller is authenticated but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// An outside service eid depends on (the population registry) did not answer usably, or
    /// is not configured; nothing was changed, and the caller may retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An OAuth protocol error for the client.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// Start-up configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A cryptographic operation failed (wrong master key, tampered sealed data).
    #[error("cryptography: {0}")]
    Crypto(String),
    /// A bug or broken invariant on the server's side (not the caller's, not the store's).
    #[error("internal: {0}")]
    Internal(String),
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
            Self::Config(_)
                | Self::Crypto(_)
                | Self::Internal(_)
                | Self::Store(StoreError::Backend(_) | StoreError::Corrupt(_))
        )
    }
}
