//! What the flows need from storage, as one trait. `eid-store` implements it over diesel for
//! SQLite and PostgreSQL; the flows call it from a blocking thread, never from the async executor.
//!
//! Records carry secrets and personal data only in sealed (encrypted) or hashed form: the store
//! never sees a clear HKID number, profile, private key, code or token.

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. one account per HKID).
    #[error("a record with the same {0} already exists")]
    Duplicate(&'static str),
    /// The database could not be reached or refused the query.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// A token-signing key, sealed under the master key (AAD: the kid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
}

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the client secret.
    pub secret_hash: Vec<u8>,
    /// Registered redirect URIs, matched exactly (OAuth 2.0 Security BCP §4.1.3).
    pub redirect_uris: Vec<String>,
    pub id_token_alg: String,
    pub created_at: i64,
}

/// A citizen's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenRecord {
    /// UUID; also the WebAuthn user handle.
    pub citizen_id: String,
    /// HMAC of the canonical HKID number under the HKID index key.
    pub hkid_index: Vec<u8>,
    /// The profile as JSON, sealed under the data key (AAD: `citizen:<id>`).
    pub profile: Vec<u8>,
    pub created_at: i64,
}

/// A phone bound to an account: one WebAuthn credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: String,
    pub citizen_id: String,
    /// base64url credential id.
    pub credential_id: String,
    pub name: String,
    /// webauthn-rs `Passkey` as JSON (public key and signature counter; no secret).
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// What a pending WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyPurpose {
    /// Registering a device (first enrolment or a linked phone).
    Register,
    /// A wallet proving it holds a bound device, to manage the account.
    Session,
    /// A one-time code with which another phone joins an account.
    Link,
}

impl CeremonyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Session => "session",
            Self::Link => "link",
        }
    }
}

/// Server-side state of a WebAuthn ceremony (or a device link), single-use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyRecord {
    pub ceremony_id: String,
    pub purpose: CeremonyPurpose,
    /// Set for ceremonies about an existing account.
    pub citizen_id: Option<String>,
    /// Sealed JSON state (AAD: `ceremony:<id>`).
    pub state: Vec<u8>,
    pub expires_at: i64,
}

/// Where an authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for the citizen to approve on the phone.
    Pending,
    /// Approved on the phone; the browser must show consent or move on.
    Approved,
    /// The citizen declined (on the consent page).
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
    /// Anti-CSRF token for the consent form.
    pub csrf_token: String,
    /// Sealed WebAuthn challenge state for the phone's approval; cleared once used.
    pub approval_state: Option<Vec<u8>>,
    pub status: RequestStatus,
    pub citizen_id: Option<String>,
    /// The device that approved.
    pub device_id: Option<String>,
    pub auth_time: Option<i64>,
    /// SHA-256 of the authorization code.
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
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
}

/// A citizen's standing consent to give a client the claims of some scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub citizen_id: String,
    pub client_id: String,
    pub scope: String,
    pub granted_at: i64,
}

/// A wallet's session for managing its own account, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSessionRecord {
    pub token_hash: Vec<u8>,
    pub citizen_id: String,
    pub device_id: String,
    pub expires_at: i64,
}

/// Storage as the flows need it. Every method is one short transaction; methods that move
/// state forward compare-and-set so that concurrent requests cannot both succeed.
pub trait Store: Send + Sync {
    // Keys.
    fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts keys unless some already exist (another node may have won); returns whether it did.
    fn insert_signing_keys_if_none(&self, keys: &[SigningKeyRecord]) -> Result<bool, StoreError>;

    // Clients.
    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;

    // Citizens and devices.
    fn citizen(&self, citizen_id: &str) -> Result<Option<CitizenRecord>, StoreError>;
    fn citizen_exists_by_hkid(&self, hkid_index: &[u8]) -> Result<bool, StoreError>;
    /// Creates the account and its first device together, or neither.
    fn insert_citizen_with_device(
        &self,
        citizen: &CitizenRecord,
        device: &DeviceRecord,
    ) -> Result<(), StoreError>;
    fn insert_device(&self, device: &DeviceRecord) -> Result<(), StoreError>;
    fn devices(&self, citizen_id: &str) -> Result<Vec<DeviceRecord>, StoreError>;
    fn device_by_credential(&self, credential_id: &str)
        -> Result<Option<DeviceRecord>, StoreError>;
    /// Records a use: the passkey's new counter and the time.
    fn touch_device(&self, device_id: &str, passkey: &str, now: i64) -> Result<(), StoreError>;
    /// Removes a device unless it is the account's last; returns false if nothing was removed.
    fn delete_device_unless_last(
        &self,
        citizen_id: &str,
        device_id: &str,
    ) -> Result<DeleteDevice, StoreError>;

    // Ceremonies.
    fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError>;
    /// Deletes and returns the ceremony if it exists with this purpose: exactly one caller gets it.
    fn take_ceremony(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
    ) -> Result<Option<CeremonyRecord>, StoreError>;

    // Authorization requests.
    fn insert_auth_request(&self, request: &AuthRequestRecord) -> Result<(), StoreError>;
    fn auth_request(&self, request_id: &str) -> Result<Option<AuthRequestRecord>, StoreError>;
    fn auth_request_by_code(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<AuthRequestRecord>, StoreError>;
    /// `pending` -> `approved` with the citizen and device; clears the approval challenge.
    fn approve_auth_request(
        &self,
        request_id: &str,
        citizen_id: &str,
        device_id: &str,
        auth_time: i64,
    ) -> Result<bool, StoreError>;
    /// `approved` -> `denied`.
    fn deny_auth_request(&self, request_id: &str) -> Result<bool, StoreError>;
    /// `approved` -> `code_issued`.
    fn issue_code(
        &self,
        request_id: &str,
        code_hash: &[u8],
        code_expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// `code_issued` -> `redeemed` and the access token stored, in one transaction.
    fn redeem_code(&self, request_id: &str, token: &AccessTokenRecord) -> Result<bool, StoreError>;
    /// Revokes every access token issued from a request (a code was replayed: RFC 6749 §4.1.2).
    fn revoke_tokens_for_request(&self, request_id: &str) -> Result<usize, StoreError>;
    fn access_token(&self, token_hash: &[u8]) -> Result<Option<AccessTokenRecord>, StoreError>;

    // Consent.
    fn consent(
        &self,
        citizen_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    fn upsert_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError>;

    // Wallet sessions.
    fn insert_wallet_session(&self, session: &WalletSessionRecord) -> Result<(), StoreError>;
    fn wallet_session(&self, token_hash: &[u8]) -> Result<Option<WalletSessionRecord>, StoreError>;

    /// Deletes expired requests, ceremonies, tokens and sessions; returns how many rows went.
    fn purge_expired(&self, now: i64) -> Result<usize, StoreError>;
}

/// Outcome of [`Store::delete_device_unless_last`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteDevice {
    Deleted,
    NotFound,
    LastDevice,
}
