use super::StoreError;
use crate::account::{AccountStatus, Level};
use crate::claims::Scopes;
use crate::ids::{CitizenId, ClientId, DeviceId};
use crate::time::UnixTime;

/// An access token for the userinfo endpoint, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub token_hash: Vec<u8>,
    /// The grant it belongs to: the authorization request that started it. Revoking the grant
    /// (a replayed code, a reused refresh token) revokes every token of the family.
    pub request_id: String,
    pub client_id: ClientId,
    pub citizen_id: CitizenId,
    pub scope: Scopes,
    pub expires_at: UnixTime,
    /// The claims userinfo releases, space-separated.
    pub claims: String,
    /// The thumbprint of the key it is bound to (RFC 9449 `cnf.jkt`); `None`: a bearer token.
    pub jkt: Option<String>,
}

/// A refresh token (RFC 6749 §6), stored by hash. Each use rotates it: the used token is kept,
/// marked, so that presenting it again is recognised as a reuse and revokes its family
/// (RFC 9700 §4.14.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: Vec<u8>,
    /// The grant: the authorization request whose code started the family.
    pub family_id: String,
    pub client_id: ClientId,
    pub citizen_id: CitizenId,
    /// The device that approved the grant: the family dies with it.
    pub device_id: DeviceId,
    pub scope: Scopes,
    /// The claims shared, space-separated.
    pub claims: String,
    /// What the approval established, for the ID tokens a refresh issues (OIDC Core §12.2).
    pub acr: Level,
    pub amr: String,
    pub auth_time: UnixTime,
    pub issued_at: UnixTime,
    /// This token's deadline (the idle lifetime)...
    pub expires_at: UnixTime,
    /// ...and the family's, which no rotation extends (the absolute lifetime).
    pub family_expires_at: UnixTime,
    /// When it was exchanged for a new one.
    pub used_at: Option<UnixTime>,
}

/// What becomes of a refresh token that was used ([`TokenStore::renew_refresh_token`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal<'a> {
    /// It is spent, and this successor stored (rotation).
    Rotate(&'a RefreshTokenRecord),
    /// It stays valid, its idle deadline moved to this time (FAPI 2.0 clients: §5.3.2.1
    /// forbids rotating a refresh token whose successor the client might not receive).
    Extend(UnixTime),
}

/// Outcome of [`TokenStore::renew_refresh_token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is spent or extended; the new tokens are stored.
    Rotated,
    /// The old token was already spent (or revoked) when this request got to it.
    AlreadyUsed,
    /// The device that approved the grant was removed or suspended since.
    DeviceGone,
}

/// Access and refresh tokens: the grants a client holds.
pub trait TokenStore {
    fn access_token(&self, token_hash: &[u8]) -> Result<Option<AccessTokenRecord>, StoreError>;
    /// Revokes one access token; false when there was none.
    fn revoke_access_token(&self, token_hash: &[u8]) -> Result<bool, StoreError>;
    /// A refresh token, with its account's status (the grant checks both).
    fn refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(RefreshTokenRecord, Option<AccountStatus>)>, StoreError>;
    /// Renews the refresh token `old_hash` (compare-and-set on its being unused, its device
    /// still bound and not suspended): spends it and stores its successor, or extends it; and
    /// stores a new access token, in one transaction.
    fn renew_refresh_token(
        &self,
        old_hash: &[u8],
        now: UnixTime,
        renewal: Renewal<'_>,
        access: &AccessTokenRecord,
    ) -> Result<Rotation, StoreError>;
    /// Revokes a grant: every refresh and access token of the family. Returns how many went.
    fn revoke_token_family(&self, family_id: &str) -> Result<usize, StoreError>;
    /// The clients that hold an access or refresh token for a citizen.
    fn clients_holding(&self, citizen_id: &str) -> Result<Vec<String>, StoreError>;
    /// The grants a device approved that still hold tokens: (client, family), each once.
    fn grants_of_device(&self, device_id: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Revokes the access tokens of a grant, keeping its refresh tokens (offline access
    /// outlives a logout, OIDC Core §11). Returns how many went.
    fn revoke_access_tokens_of(&self, family_id: &str) -> Result<usize, StoreError>;
}
