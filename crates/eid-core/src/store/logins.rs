use super::{AuditRecord, StoreError};
use crate::account::{AccountStatus, Level};

/// Where an authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for the citizen to answer on the phone.
    Pending,
    /// Approved on the phone; the browser shows whose account approved and continues.
    Approved,
    /// Refused: by the citizen, or because the account cannot meet the request (the error
    /// code to send back is in `error_code`).
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

/// An authorization request (OIDC Core §3.1.2) from creation to code redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequestRecord {
    pub request_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: String,
    /// SHA-256 of the secret in the browser's cookie: only that browser continues the login.
    pub browser_hash: Vec<u8>,
    /// Where the login was started (browser, address), sealed: the phone shows it. Cleared
    /// once the phone has answered.
    pub context: Option<Vec<u8>>,
    /// The lowest assurance level the client accepts (from `acr_values`), if it said.
    pub required_level: Option<Level>,
    pub status: RequestStatus,
    pub citizen_id: Option<String>,
    /// The device that approved.
    pub device_id: Option<String>,
    pub auth_time: Option<i64>,
    /// The account's level when it approved: the ID token's `acr`.
    pub acr: Option<Level>,
    /// The authentication methods verified (RFC 8176), space-separated: the ID token's `amr`.
    pub amr: Option<String>,
    /// Set with `Denied`: the OAuth error code the client receives.
    pub error_code: Option<String>,
    /// SHA-256 of the authorization code.
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<i64>,
    pub created_at: i64,
    /// The approval deadline: the phone must answer before it.
    pub expires_at: i64,
    /// The `prompt` values the client sent (OIDC Core §3.1.2.1), space-separated.
    pub prompt: Option<String>,
    /// The claims the citizen chose to share, space-separated (set with the approval).
    pub granted: Option<String>,
}

/// What the phone's approval records on a login request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub citizen_id: String,
    pub device_id: String,
    pub auth_time: i64,
    pub acr: Level,
    pub amr: String,
    /// The claims shared, space-separated.
    pub granted: String,
    /// Replaces the request's context (sealed): what the browser shows next.
    pub context: Option<Vec<u8>>,
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

/// An access token for the userinfo endpoint, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub token_hash: Vec<u8>,
    pub request_id: String,
    pub client_id: String,
    pub citizen_id: String,
    pub scope: String,
    pub expires_at: i64,
    /// The claims userinfo releases, space-separated.
    pub claims: String,
}

/// A citizen's standing consent to give a client some claims, recorded from the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub citizen_id: String,
    pub client_id: String,
    /// Claim names, space-separated.
    pub claims: String,
    pub granted_at: i64,
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
        now: i64,
        consent: Option<(&ConsentRecord, &AuditRecord)>,
    ) -> Result<bool, StoreError>;
    /// `from` (pending or approved) -> `denied`, with the error code for the client, and the
    /// event that says why (recorded in the same transaction).
    fn deny_auth_request(
        &self,
        request_id: &str,
        from: RequestStatus,
        error_code: &str,
        event: Option<&AuditRecord>,
    ) -> Result<bool, StoreError>;
    /// A pending request whose approval deadline passed gets a new one, if it was created
    /// after `created_after` (a login page lives only so long).
    fn renew_auth_request(
        &self,
        request_id: &str,
        expires_at: i64,
        now: i64,
        created_after: i64,
    ) -> Result<bool, StoreError>;
    /// `approved` -> `code_issued`, provided the device that approved is still bound and not
    /// suspended (a removed device's approvals die with it; so do those of every device a
    /// recovery or a closure removed), and it was approved at `approved_after` or later.
    fn issue_code(
        &self,
        request_id: &str,
        code_hash: &[u8],
        code_expires_at: i64,
        approved_after: i64,
    ) -> Result<IssueCode, StoreError>;
    /// `code_issued` -> `redeemed` and the access token stored, in one transaction. What
    /// only the ID token needed (state, nonce) is cleared: the row is kept only to recognise
    /// a replayed code.
    fn redeem_code(&self, request_id: &str, token: &AccessTokenRecord) -> Result<bool, StoreError>;
    /// Revokes every access token issued from a request (a code was replayed: RFC 6749 §4.1.2).
    fn revoke_tokens_for_request(&self, request_id: &str) -> Result<usize, StoreError>;
    fn access_token(&self, token_hash: &[u8]) -> Result<Option<AccessTokenRecord>, StoreError>;

    fn consent(
        &self,
        citizen_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    /// A citizen's sealed profile with their standing consent for a client, in one read (the
    /// phone shows both before the citizen decides).
    fn profile_and_consent(
        &self,
        citizen_id: &str,
        client_id: &str,
    ) -> Result<(Option<Vec<u8>>, Option<ConsentRecord>), StoreError>;
    /// A citizen's standing consents, oldest first.
    fn consents(&self, citizen_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Withdraws a standing consent and revokes the access tokens the service holds for the
    /// citizen, with the audit event; false when there was none.
    fn withdraw_consent(
        &self,
        citizen_id: &str,
        client_id: &str,
        event: &AuditRecord,
    ) -> Result<bool, StoreError>;
}
