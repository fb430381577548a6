use super::StoreError;
use crate::ids::{CitizenId, DeviceId};
use crate::time::UnixTime;

/// A wallet's session for managing its own account, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSessionRecord {
    pub token_hash: Vec<u8>,
    pub citizen_id: CitizenId,
    pub device_id: DeviceId,
    pub expires_at: UnixTime,
}

/// A registration officer's console session, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerSessionRecord {
    pub token_hash: Vec<u8>,
    pub officer_id: String,
    /// The anti-CSRF token every console form carries.
    pub csrf_token: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Short sessions of wallets and officers.
pub trait SessionStore {
    fn insert_wallet_session(&self, session: &WalletSessionRecord) -> Result<(), StoreError>;
    /// A wallet session, provided its device is still bound and not suspended and its account
    /// active (expiry is the caller's to check).
    fn wallet_session(&self, token_hash: &[u8]) -> Result<Option<WalletSessionRecord>, StoreError>;

    fn insert_officer_session(&self, session: &OfficerSessionRecord) -> Result<(), StoreError>;
    fn officer_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<OfficerSessionRecord>, StoreError>;
    fn delete_officer_session(&self, token_hash: &[u8]) -> Result<bool, StoreError>;
}
