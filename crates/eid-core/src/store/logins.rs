use super::{AccessTokenRecord, AuditRecord, RefreshTokenRecord, SessionChange, StoreError};
use crate::account::{AccountStatus, Level};
use crate::claims::{ClaimsRequest, Scopes};
use crate::ids::{CitizenId, ClientId, DeviceId};
use crate::oidc::{ResponseMode, ResponseType};
use crate::time::UnixTime;
use crate::OAuthErrorCode;

/// Where an authorization request stands: [`LoginState`]'s stage without its data, for the
/// store's compare-and-set transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for the citizen to answer on the phone.
    Pending,
    /// Approved on the phone; the browser shows whose account approved and continues.
    Approved,
    /// Refused: by the citizen, or because the account cannot meet the request.
    Denied,
    /// A code was issued and awaits redemption.
    CodeIssued,
    /// The code was exchanged for tokens.
    Redeemed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::CodeIssued => "code_issued",
            Self::Redeemed => "redeemed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "code_issued" => Self::CodeIssued,
            "redeemed" => Self::Redeemed,
            _ => return None,
        })
    }
}

/// What the phone's approval established: who, with which device, when, how, and what the
/// citizen chose to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub citizen_id: CitizenId,
    /// The device that approved.
    pub device_id: DeviceId,
    /// When it approved: the ID token's `auth_time`.
    pub auth_time: UnixTime,
    /// The account's level when it approved: the ID token's `acr`.
    pub acr: Level,
    /// The authentication methods verified (RFC 8176), space-separated: the ID token's `amr`.
    pub amr: String,
    /// The claims the citizen chose to share, space-separated.
    pub granted: String,
}

/// Where an authorization request stands, with what each stage knows: an approved request
/// always has its approval, an issued code always has its hash and deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginState {
    /// Waiting for the citizen to answer on the phone.
    Pending,
    /// Approved on the phone; the browser shows whose account approved and continues.
    Approved(Approval),
    /// Refused: by the citizen, or because the account cannot meet the request; the client
    /// receives this error.
    Denied(OAuthErrorCode),
    /// A code was issued and awaits redemption.
    CodeIssued {
        approval: Approval,
        /// SHA-256 of the authorization code.
        code_hash: Vec<u8>,
        code_expires_at: UnixTime,
    },
    /// The code was exchanged for tokens; the request is kept to recognise a replayed code.
    Redeemed {
        approval: Approval,
        code_hash: Vec<u8>,
    },
}

impl LoginState {
    pub fn status(&self) -> RequestStatus {
        match self {
            Self::Pending => RequestStatus::Pending,
            Self::Approved(_) => RequestStatus::Approved,
            Self::Denied(_) => RequestStatus::Denied,
            Self::CodeIssued { .. } => RequestStatus::CodeIssued,
            Self::Redeemed { .. } => RequestStatus::Redeemed,
        }
    }

    /// The approval, once there is one.
    pub fn approval(&self) -> Option<&Approval> {
        match self {
            Self::Approved(approval)
            | Self::CodeIssued { approval, .. }
            | Self::Redeemed { approval, .. } => Some(approval),
            Self::Pending | Self::Denied(_) => None,
        }
    }
}

/// An authorization request (OIDC Core §3.1.2) from creation to code redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequestRecord {
    pub request_id: String,
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub scope: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: String,
    /// SHA-256 of the secret in the browser's cookie: only that browser continues the login.
    pub browser_hash: Vec<u8>,
    /// Where the login was started (browser, address), sealed: the phone shows it. Replaced by
    /// what the browser shows once the phone has approved; cleared when the request ends.
    pub context: Option<Vec<u8>>,
    /// The lowest assurance level the client accepts (from `acr_values`), if it said.
    pub required_level: Option<Level>,
    pub login: LoginState,
    pub created_at: UnixTime,
    /// The approval deadline: the phone must answer before it.
    pub expires_at: UnixTime,
    /// The `prompt` values the client sent (OIDC Core §3.1.2.1), space-separated.
    pub prompt: Option<String>,
    /// What the response carries: a code, or (the implicit flow) tokens.
    pub response_type: ResponseType,
    /// How the response goes back to the client.
    pub response_mode: ResponseMode,
    /// The claims asked for with the `claims` parameter.
    pub claims: ClaimsRequest,
    /// The citizen the client expects (the `sub` of its `id_token_hint`, pairwise at the
    /// client): only that citizen may approve.
    pub expected_sub: Option<String>,
    /// The key the code is bound to (RFC 9449 §10): the token request must prove it.
    pub dpop_jkt: Option<String>,
    /// The pushed request it was opened from (RFC 9126): spent when a code is issued.
    pub par_id: Option<String>,
}

impl AuthRequestRecord {
    pub fn status(&self) -> RequestStatus {
        self.login.status()
    }
}

/// What the phone's approval records on a login request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub approval: Approval,
    /// Replaces the request's context (sealed): what the browser shows next.
    pub context: Option<Vec<u8>>,
    /// The approving device's passkey as it was when verified and as it is now (its signature
    /// counter moved): recorded in the same transaction, by compare-and-set; a device that
    /// signed something else meanwhile fails it with [`StoreError::Conflict`]`("device")`.
    pub device_use: Option<(String, String)>,
}

/// Outcome of [`LoginStore::issue_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueCode {
    Issued,
    /// The request is not (or no longer) approved.
    NotApproved,
    /// It was approved by a device that has been removed or suspended since.
    DeviceGone,
    /// It was approved too long ago: the browser did not continue in time.
    TooLate,
}

/// A citizen's standing consent to give a client some claims, recorded from the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub citizen_id: CitizenId,
    pub client_id: ClientId,
    /// Claim names, space-separated.
    pub claims: String,
    pub granted_at: UnixTime,
}

/// Login requests, codes, access tokens and consents.
pub trait LoginStore {
    fn insert_auth_request(&self, request: &AuthRequestRecord) -> Result<(), StoreError>;
    fn auth_request(&self, request_id: &str) -> Result<Option<AuthRequestRecord>, StoreError>;
    /// The request that issued a code, with its account's status (one query: the token
    /// endpoint checks both).
    fn auth_request_by_code(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<(AuthRequestRecord, Option<AccountStatus>)>, StoreError>;
    /// `pending` -> `approved` with the approval, if the approval deadline is after `now`;
    /// the request's context becomes the approval's. With `consent`, the standing consent is recorded in the same
    /// transaction, with its audit event.
    fn approve_auth_request(
        &self,
        request_id: &str,
        approval: &ApprovalRecord,
        now: UnixTime,
        consent: Option<(&ConsentRecord, &AuditRecord)>,
    ) -> Result<bool, StoreError>;
    /// `from` (pending or approved) -> `denied`, with the error code for the client, and the
    /// event that says why (recorded in the same transaction).
    fn deny_auth_request(
        &self,
        request_id: &str,
        from: RequestStatus,
        error: OAuthErrorCode,
        event: Option<&AuditRecord>,
    ) -> Result<bool, StoreError>;
    /// A pending request whose approval deadline passed gets a new one, if it was created
    /// after `created_after` (a login page lives only so long).
    fn renew_auth_request(
        &self,
        request_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
        created_after: UnixTime,
    ) -> Result<bool, StoreError>;
    /// `approved` -> `code_issued`, provided the device that approved is still bound and not
    /// suspended (a removed device's approvals die with it; so do those of every device a
    /// recovery or a closure removed), and it was approved at `approved_after` or later. In
    /// the same transaction the browser's single sign-on session is opened or rotated
    /// (`session`), and the login recorded as the session's.
    fn issue_code(
        &self,
        request_id: &str,
        code_hash: &[u8],
        code_expires_at: UnixTime,
        approved_after: UnixTime,
        session: Option<SessionChange<'_>>,
    ) -> Result<IssueCode, StoreError>;
    /// `code_issued` -> `redeemed` and the tokens stored (the access token, and the refresh
    /// token that starts the grant's family when offline access was granted), in one
    /// transaction. What only the ID token needed (state, nonce) is cleared: the row is kept
    /// only to recognise a replayed code. (An implicit `id_token` response stores no token.)
    fn redeem_code(
        &self,
        request_id: &str,
        access: Option<&AccessTokenRecord>,
        refresh: Option<&RefreshTokenRecord>,
    ) -> Result<bool, StoreError>;

    fn consent(
        &self,
        citizen_id: &CitizenId,
        client_id: &ClientId,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    /// A citizen's sealed profile with their standing consent for a client, in one read (the
    /// phone shows both before the citizen decides).
    fn profile_and_consent(
        &self,
        citizen_id: &CitizenId,
        client_id: &ClientId,
    ) -> Result<(Option<Vec<u8>>, Option<ConsentRecord>), StoreError>;
    /// A citizen's standing consents, oldest first.
    fn consents(&self, citizen_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Withdraws a standing consent and revokes the access and refresh tokens the service
    /// holds for the citizen, with the audit event; false when there was none.
    fn withdraw_consent(
        &self,
        citizen_id: &CitizenId,
        client_id: &ClientId,
        event: &AuditRecord,
    ) -> Result<bool, StoreError>;
    /// Deletes a client's pending login requests but the newest `keep` (the oldest go first;
    /// a flood's cost is bounded, and new logins are never refused); how many went.
    fn drop_oldest_pending_auth_requests(
        &self,
        client_id: &ClientId,
        keep: u64,
    ) -> Result<u64, StoreError>;
}
