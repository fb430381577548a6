use super::StoreError;
use crate::ids::{CitizenId, DeviceId};
use crate::time::UnixTime;

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// The citizen, through one of their devices (`actor_id`: the device).
    Citizen,
    /// A registration officer (`actor_id`: the officer).
    Officer,
    /// An operator at the command line (`actor_id`: the account that ran the command).
    Operator,
    /// A relying party registering itself (`actor_id`: the client).
    Client,
    /// eid itself (proofing through the registry, expiry).
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Officer => "officer",
            Self::Operator => "operator",
            Self::Client => "client",
            Self::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "citizen" => Some(Self::Citizen),
            "officer" => Some(Self::Officer),
            "operator" => Some(Self::Operator),
            "client" => Some(Self::Client),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// One entry of the audit trail: who did what to which application, account or device.
/// The clear columns hold ids and names of actions only; anything more (evidence seen, a
/// device's name, a reason) is in `detail`, sealed (AAD `event:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub event_id: String,
    pub at: UnixTime,
    /// What happened, e.g. `application.proven`, `device.removed`, `account.suspended`.
    pub action: String,
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub citizen_id: Option<CitizenId>,
    pub application_id: Option<String>,
    pub device_id: Option<DeviceId>,
    pub detail: Option<Vec<u8>>,
}

/// The audit trail: append and read, never change.
pub trait AuditStore {
    fn record_events(&self, events: &[AuditRecord]) -> Result<(), StoreError>;
    /// An account's events, newest first.
    fn account_events(
        &self,
        citizen_id: &str,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Every event at or after `since`, oldest first.
    fn events_since(&self, since: UnixTime, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
}
