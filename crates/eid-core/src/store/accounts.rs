use super::{AuditRecord, StoreError};
use crate::account::{AccountStatus, JoinedBy, Level};
use crate::ids::{CitizenId, DeviceId};
use crate::time::UnixTime;

/// A citizen's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenRecord {
    /// UUID.
    pub citizen_id: CitizenId,
    /// A short code the citizen and operators use to name the account (`K7Q2-M9XD`).
    pub reference: String,
    /// HMAC of the canonical HKID number under the HKID index key: one account per number.
    pub hkid_index: Vec<u8>,
    /// `None`: never proven (accounts from before identity proofing); such an account cannot
    /// log in until its holder proves themselves again.
    pub level: Option<Level>,
    pub status: AccountStatus,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A phone (or other authenticator) bound to an account: one WebAuthn credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: DeviceId,
    pub citizen_id: CitizenId,
    /// base64url credential id.
    pub credential_id: String,
    /// The WebAuthn user handle the credential was created with (a UUID): a discoverable
    /// assertion must carry it.
    pub user_handle: String,
    pub name: String,
    /// webauthn-rs `Passkey` as JSON (public key and signature counter; no secret).
    pub passkey: String,
    pub joined_by: JoinedBy,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    /// Set when its signature counter went backwards (a possible copy of its key): it cannot
    /// be used until removed or the account recovered.
    pub suspended_at: Option<UnixTime>,
    /// The trusted root that attested its key (a hardware key); `None`: a software key.
    pub attestation: Option<String>,
}

/// An account's status and its sealed profile (`None` once erased).
pub type AccountProfile = (AccountStatus, Option<Vec<u8>>);

/// How identity proofing changes the account it lands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// No account holds the HKID number: create this one. Fails with
    /// `StoreError::Duplicate("hkid")` if one appeared meanwhile.
    Create(CitizenRecord),
    /// The account exists: set its level and status, provided its status is still
    /// `expected_status` (else `StoreError::Conflict`). Its standing consents are withdrawn:
    /// what it can release has changed.
    Update {
        citizen_id: CitizenId,
        expected_status: AccountStatus,
        level: Level,
        status: AccountStatus,
        /// Recovery: every device bound so far is revoked (with its sessions and the logins it
        /// approved that have not issued a code yet).
        revoke_devices: bool,
    },
}

/// Everything a successful proofing writes, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenBinding {
    /// The application, which must still be open; it becomes `proven`.
    pub application_id: String,
    pub account: AccountChange,
    /// The account's profile, sealed for the account's row.
    pub profile: Vec<u8>,
    /// The application's device, bound to the account (none for an upgrade).
    pub device: Option<DeviceRecord>,
    pub events: Vec<AuditRecord>,
    pub now: UnixTime,
}

/// Outcome of [`AccountStore::remove_device`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteDevice {
    Deleted,
    NotFound,
    LastDevice,
}

/// Accounts, their profiles and their devices.
pub trait AccountStore {
    fn citizen(&self, citizen_id: &str) -> Result<Option<CitizenRecord>, StoreError>;
    fn citizen_by_hkid(&self, hkid_index: &[u8]) -> Result<Option<CitizenRecord>, StoreError>;
    fn citizen_by_reference(&self, reference: &str) -> Result<Option<CitizenRecord>, StoreError>;
    /// The sealed profile, unless erased.
    fn profile(&self, citizen_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// An account's status with its sealed profile (one query: userinfo needs both).
    fn account_profile(&self, citizen_id: &str) -> Result<Option<AccountProfile>, StoreError>;
    /// Writes a proofing's outcome: the application, the account, the profile, the device and
    /// the audit events, all or nothing.
    fn bind_proven(&self, binding: &ProvenBinding) -> Result<(), StoreError>;
    /// Sets an account's status if it is one of `from`; records `event` with it.
    fn set_account_status(
        &self,
        citizen_id: &str,
        from: &[AccountStatus],
        to: AccountStatus,
        event: &AuditRecord,
    ) -> Result<bool, StoreError>;
    /// Closes an account: erases its profile, devices, sessions, tokens, consents and
    /// unfinished logins; keeps the row (status `closed`, no level) as the HKID's tombstone.
    fn close_account(&self, citizen_id: &str, event: &AuditRecord) -> Result<bool, StoreError>;

    /// Binds another device to an existing, active account (a device link).
    fn insert_device(&self, device: &DeviceRecord, event: &AuditRecord) -> Result<(), StoreError>;
    fn devices(&self, citizen_id: &str) -> Result<Vec<DeviceRecord>, StoreError>;
    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StoreError>;
    /// A device with its account.
    fn device_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<(DeviceRecord, CitizenRecord)>, StoreError>;
    /// Records a use: the passkey's new counter and the time, if the stored passkey is still
    /// `expected` (compare-and-set); returns whether it was.
    fn touch_device(
        &self,
        device_id: &str,
        expected: &str,
        passkey: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Suspends a device (its key may have been copied); records `event` with it.
    fn suspend_device(
        &self,
        device_id: &str,
        now: UnixTime,
        event: &AuditRecord,
    ) -> Result<bool, StoreError>;
    /// Removes a device unless it is the account's last, with its sessions and the logins it
    /// approved that have not issued a code yet; records `event` with it.
    fn remove_device(
        &self,
        citizen_id: &CitizenId,
        device_id: &DeviceId,
        event: &AuditRecord,
    ) -> Result<DeleteDevice, StoreError>;
}
