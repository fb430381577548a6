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
    /// Deactivates the officer and deletes their credentials and sessions.
    fn remove_officer(&self, officer_id: &str, event: &AuditRecord) -> Result<bool, StoreError>;
    fn insert_officer_credential(
        &self,
        credential: &OfficerCredentialRecord,
        event: &AuditRecord,
    ) -> Result<(), StoreError>;
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
