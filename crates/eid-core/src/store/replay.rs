use super::StoreError;
use crate::time::UnixTime;

/// Single-use JWT ids: a client assertion (and later a DPoP proof or a request object) is
/// accepted once.
pub trait ReplayStore {
    /// Records `jti` under `scope` until `expires_at`; false when it was already recorded (a
    /// replay). Expired ids are purged with the rest.
    fn first_use(&self, scope: &str, jti: &str, expires_at: UnixTime) -> Result<bool, StoreError>;
}
