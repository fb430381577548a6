use super::StoreError;
use crate::ids::ClientId;
use crate::time::UnixTime;

/// A back-channel logout token on its way to a relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutDeliveryRecord {
    pub delivery_id: String,
    pub client_id: ClientId,
    /// The client's `backchannel_logout_uri`.
    pub uri: String,
    /// The signed logout token (a JWT, nothing secret in it).
    pub logout_token: String,
    pub attempts: i64,
    pub next_attempt_at: UnixTime,
    pub created_at: UnixTime,
}

/// Back-channel logout deliveries: queued, leased by one node at a time, retried, done.
pub trait LogoutStore {
    fn queue_logouts(&self, deliveries: &[LogoutDeliveryRecord]) -> Result<(), StoreError>;
    /// Deliveries due at `now`, oldest first.
    fn due_logouts(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<LogoutDeliveryRecord>, StoreError>;
    /// Takes a delivery for an attempt: its next attempt moves from `expected` to
    /// `lease_until` (compare-and-set), so that one node sends it; false when another did.
    fn lease_logout(
        &self,
        delivery_id: &str,
        expected: UnixTime,
        lease_until: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Records an attempt that failed: the next one is at `next_attempt_at`.
    fn logout_attempt_failed(
        &self,
        delivery_id: &str,
        attempts: i64,
        next_attempt_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Removes a delivery (delivered, or given up).
    fn remove_logout(&self, delivery_id: &str) -> Result<(), StoreError>;
}
