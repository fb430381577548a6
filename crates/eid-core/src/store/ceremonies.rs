use super::StoreError;
use crate::time::UnixTime;

/// What a pending single-use ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyPurpose {
    /// Registering the device of a new application.
    Enrol,
    /// Registering a device that joins an account with a link code.
    Register,
    /// A wallet proving it holds a bound device, to manage the account.
    Session,
    /// A one-time code with which another phone joins an account (subject: the account).
    Link,
    /// A challenge for remote identity proofing (subject: the application).
    Proofing,
    /// A one-time enrolment link for a registration officer (subject: the officer).
    OfficerInvite,
    /// Registering an officer's security key (subject: the officer).
    OfficerRegister,
    /// An officer signing in to the console.
    OfficerSession,
    /// A pushed authorization request (RFC 9126), until its request URI is used (subject: the
    /// client).
    Par,
    /// A counter's one-time challenge for the applying phone (subject: the application).
    Counter,
}

impl CeremonyPurpose {
    pub const ALL: [CeremonyPurpose; 10] = [
        Self::Enrol,
        Self::Register,
        Self::Session,
        Self::Link,
        Self::Proofing,
        Self::OfficerInvite,
        Self::OfficerRegister,
        Self::OfficerSession,
        Self::Par,
        Self::Counter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrol => "enrol",
            Self::Register => "register",
            Self::Session => "session",
            Self::Link => "link",
            Self::Proofing => "proofing",
            Self::OfficerInvite => "officer-invite",
            Self::OfficerRegister => "officer-register",
            Self::OfficerSession => "officer-session",
            Self::Par => "par",
            Self::Counter => "counter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Server-side state of a ceremony, single-use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyRecord {
    pub ceremony_id: String,
    pub purpose: CeremonyPurpose,
    /// What the ceremony is about (an account, an application, an officer), if anything.
    pub subject_id: Option<String>,
    /// Sealed JSON state (AAD: `ceremony:<id>`).
    pub state: Vec<u8>,
    pub expires_at: UnixTime,
}

/// Single-use ceremonies.
pub trait CeremonyStore {
    fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError>;
    /// Deletes and returns the ceremony if it exists with this purpose: exactly one caller gets it.
    fn take_ceremony(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
    ) -> Result<Option<CeremonyRecord>, StoreError>;
    /// Reads a ceremony without consuming it.
    fn ceremony(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
    ) -> Result<Option<CeremonyRecord>, StoreError>;
}
