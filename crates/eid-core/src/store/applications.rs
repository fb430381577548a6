use super::{AuditRecord, StoreError};
use crate::ids::{CitizenId, DeviceId};
use crate::time::UnixTime;

/// What an application asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicationKind {
    /// A new phone with particulars: proofing creates the account, or recovers the account
    /// that already holds the HKID number.
    Enrolment,
    /// An existing account asks to be proven in person (to level `plus`).
    Upgrade,
}

impl ApplicationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrolment => "enrolment",
            Self::Upgrade => "upgrade",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enrolment" => Some(Self::Enrolment),
            "upgrade" => Some(Self::Upgrade),
            _ => None,
        }
    }
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicationStatus {
    /// Waiting for proofing.
    Open,
    /// An officer refused it.
    Rejected,
    /// Proofing accepted it: the account is `citizen_id`.
    Proven,
    /// Remote proofing proved the holder of an account that exists (`citizen_id`): the
    /// recovery waits until its hold ends, and the account's devices may cancel it.
    Held,
}

impl ApplicationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Rejected => "rejected",
            Self::Proven => "proven",
            Self::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "held" => Some(Self::Held),
            "rejected" => Some(Self::Rejected),
            "proven" => Some(Self::Proven),
            _ => None,
        }
    }
}

/// An application for an account (or for an account's upgrade). It claims nothing: it does
/// not reserve the HKID number, and it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    pub application_id: String,
    /// The short code the citizen shows at a counter (`K7Q2-M9XD`).
    pub reference: String,
    pub kind: ApplicationKind,
    pub status: ApplicationStatus,
    /// SHA-256 of the bearer token the wallet holds for this application.
    pub token_hash: Vec<u8>,
    /// Upgrade: the account asking. Proven: the account it landed on.
    pub citizen_id: Option<CitizenId>,
    /// Sealed JSON (AAD `application:<id>`); erased once decided.
    pub particulars: Option<Vec<u8>>,
    /// Enrolment: the device registered with the application (base64url credential id).
    pub credential_id: Option<String>,
    pub passkey: Option<String>,
    pub user_handle: Option<String>,
    /// Why it was rejected (a reason code), or the level it was proven at.
    pub outcome: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The last time the applying phone answered a counter's challenge (in-person proofing).
    pub presence: Option<CounterPresence>,
    /// A held recovery: until when, and what proofing established.
    pub hold: Option<Hold>,
}

/// A recovery waiting for its hold to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub until: UnixTime,
    /// Sealed JSON (AAD `held-proof:<application id>`) of what proofing established.
    pub proof: Vec<u8>,
}

/// The applying phone answered a counter's one-time challenge with its key: it was at that
/// counter, with the person the officer sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterPresence {
    pub at: UnixTime,
    /// The officer whose review showed the challenge.
    pub officer_id: String,
    /// Upgrade: the account's device that answered. Enrolment: `None` (the application's own
    /// key answered).
    pub device_id: Option<DeviceId>,
}

/// Applications.
pub trait ApplicationStore {
    /// Fails with `Duplicate("reference")` or `Duplicate("credential_id")`.
    fn insert_application(
        &self,
        application: &ApplicationRecord,
        event: &AuditRecord,
    ) -> Result<(), StoreError>;
    fn application(&self, application_id: &str) -> Result<Option<ApplicationRecord>, StoreError>;
    fn application_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<ApplicationRecord>, StoreError>;
    /// Whether a credential id is registered with an application.
    fn application_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<ApplicationRecord>, StoreError>;
    /// Records the applying phone's answer at a counter, provided the application is still
    /// open and (an enrolment, whose own key answered) its key is still `passkey.0`, which
    /// becomes `passkey.1` (the raised signature counter): two answers carrying one counter
    /// cannot both land.
    fn record_presence(
        &self,
        application_id: &str,
        presence: &CounterPresence,
        passkey: Option<(&str, &str)>,
        event: &AuditRecord,
    ) -> Result<bool, StoreError>;
    /// `open` -> `held`: the recovery of account `citizen_id` waits until `hold.until`; the
    /// application's key becomes `passkey` (the raised counter) and it expires at `expires_at`.
    fn hold_application(
        &self,
        application_id: &str,
        citizen_id: &CitizenId,
        hold: &Hold,
        passkey: &str,
        expires_at: UnixTime,
        events: &[AuditRecord],
    ) -> Result<bool, StoreError>;
    /// The held recoveries of an account, oldest first.
    fn held_applications(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// `open` or `held` -> `rejected` with a reason; the particulars, device and held proof
    /// are erased.
    fn reject_application(
        &self,
        application_id: &str,
        reason: &str,
        event: &AuditRecord,
    ) -> Result<bool, StoreError>;
}
