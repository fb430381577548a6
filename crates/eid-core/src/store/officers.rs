use super::{AuditRecord, StoreError};
use crate::time::UnixTime;

/// A registration officer: proves applicants in person at a counter or kiosk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerRecord {
    /// UUID.
    pub officer_id: String,
    pub name: String,
    /// Removed officers keep their row (the audit trail names them) but cannot sign in.
    pub active: bool,
    pub created_at: UnixTime,
}

/// An officer's security key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerCredentialRecord {
    /// base64url credential id.
    pub credential_id: String,
    pub officer_id: String,
    pub user_handle: String,
    /// webauthn-rs `Passkey` as JSON.
    pub passkey: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    /// The `[officers]` attestation root that attested the key (its subject); `None`: a
    /// software key (development only).
    pub attestation: Option<String>,
    /// When an operator confirmed it (`eid-server officer confirm`); until then it signs in
    /// nobody.
    pub confirmed_at: Option<UnixTime>,
}

/// Registration officers and their credentials.
pub trait OfficerStore {
    fn insert_officer(
        &self,
        officer: &OfficerRecord,
        event: &AuditRecord,
    ) -> Result<(), StoreError>;
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, StoreError>;
    fn officers(&self) -> Result<Vec<OfficerRecord>, StoreError>;
    /// Deactivates the officer and deletes their credentials, sessions and enrolment links;
    /// `events` (the removal, each key's revocation) are written in the same transaction.
    fn remove_officer(&self, officer_id: &str, events: &[AuditRecord]) -> Result<bool, StoreError>;
    /// Fails with `Duplicate("credential_id")` for a key registered already, and with
    /// `Duplicate("officer_key")` if the officer holds a key already (an officer has one key;
    /// a new link replaces it).
    fn insert_officer_credential(
        &self,
        credential: &OfficerCredentialRecord,
        event: &AuditRecord,
    ) -> Result<(), StoreError>;
    /// An officer's keys, oldest first.
    fn officer_credentials(
        &self,
        officer_id: &str,
    ) -> Result<Vec<OfficerCredentialRecord>, StoreError>;
    /// Confirms a key that waits for it (compare-and-set: an unconfirmed key, `now`).
    fn confirm_officer_credential(
        &self,
        credential_id: &str,
        now: UnixTime,
        event: &AuditRecord,
    ) -> Result<bool, StoreError>;
    /// Revokes every key of an officer (a new enrolment link replaces them): deletes the keys,
    /// the console sessions and the enrolment links and registrations under way, and writes
    /// `events`, in one transaction. Returns how many keys were deleted.
    fn revoke_officer_credentials(
        &self,
        officer_id: &str,
        events: &[AuditRecord],
    ) -> Result<usize, StoreError>;
    fn officer_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<OfficerCredentialRecord>, StoreError>;
    fn touch_officer_credential(
        &self,
        credential_id: &str,
        passkey: &str,
        now: UnixTime,
    ) -> Result<(), StoreError>;
}
