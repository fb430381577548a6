use super::{AuditRecord, AuthRequestRecord, StoreError};
use crate::account::Level;
use crate::ids::{CitizenId, ClientId, DeviceId};
use crate::time::UnixTime;

/// A citizen's single sign-on session in one browser: opened when the browser continues a
/// login the phone approved, it answers later authorization requests without the phone while
/// it is valid. Found by the hash of its cookie's secret; named by `session_id` in lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSessionRecord {
    /// The public id the account page and the wallet name it by (never the cookie's secret).
    pub session_id: String,
    /// SHA-256 of the secret in the browser's session cookie; replaced at every login there.
    pub token_hash: Vec<u8>,
    pub citizen_id: CitizenId,
    /// The device whose approval last authenticated the session.
    pub device_id: DeviceId,
    /// When the citizen last authenticated (the ID tokens' `auth_time`).
    pub auth_time: UnixTime,
    /// The level that approval reached (the ID tokens' `acr`).
    pub acr: Level,
    /// What that approval verified (RFC 8176), space-separated.
    pub amr: String,
    /// Where the session was opened (browser, operating system), sealed; shown in lists.
    pub context: Option<Vec<u8>>,
    pub created_at: UnixTime,
    /// Its last use: it ends when idle too long.
    pub last_seen_at: UnixTime,
    /// Its absolute end.
    pub expires_at: UnixTime,
}

/// A login a session answered or opened: the relying party it touched, and the login's id
/// (the ID token's `sid` there), so that ending the session reaches every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLoginRecord {
    pub request_id: String,
    pub session_id: String,
    pub client_id: ClientId,
    pub created_at: UnixTime,
}

/// What issuing a login's code does to the browser's session, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionChange<'a> {
    /// The session, as it is after the login: opened, or (with `rotates`) authenticated
    /// again; `None` when the citizen did not sign the browser in to eid (the event only).
    pub session: Option<&'a BrowserSessionRecord>,
    /// The hash of the cookie the browser held for this same session (same citizen): its
    /// secret, device, authentication and end are replaced; its logins stay.
    pub rotates: Option<&'a [u8]>,
    /// The login's event for the account's history.
    pub event: &'a AuditRecord,
    /// The login's client (the session touches it).
    pub client_id: &'a ClientId,
}

/// Single sign-on sessions and the logins they touched.
pub trait SsoStore {
    /// A session by its cookie's hash, provided its device is still bound and not suspended
    /// and its account active (its lifetimes are the caller's to check).
    fn browser_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<BrowserSessionRecord>, StoreError>;
    /// The citizen's sessions that can still be used (device bound and not suspended, account
    /// active), newest first (lifetimes unchecked).
    fn browser_sessions_of(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<BrowserSessionRecord>, StoreError>;
    /// The session a login belongs to (lifetimes unchecked).
    fn session_of_login(
        &self,
        request_id: &str,
    ) -> Result<Option<BrowserSessionRecord>, StoreError>;
    /// The logins a session touched, oldest first.
    fn session_logins(&self, session_id: &str) -> Result<Vec<SessionLoginRecord>, StoreError>;
    /// Records a login answered from a session, already holding its code
    /// ([`super::LoginState::CodeIssued`]) with its history event, and marks the session used at `now`, provided it
    /// still exists: false (and nothing written) when it ended meanwhile.
    fn insert_session_login(
        &self,
        request: &AuthRequestRecord,
        session_id: &str,
        event: &AuditRecord,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Marks a session used at `now`.
    fn touch_browser_session(&self, session_id: &str, now: UnixTime) -> Result<(), StoreError>;
    /// Deletes every session of the citizen, usable or not, with their logins (a suspension).
    fn delete_browser_sessions_of(&self, citizen_id: &CitizenId) -> Result<usize, StoreError>;
    /// Ends a session of `citizen_id`: removes it and its logins, deletes the access tokens
    /// those logins issued, and records `event`, in one transaction. Returns its logins, or
    /// `None` when there was no such session.
    fn end_browser_session(
        &self,
        citizen_id: &CitizenId,
        session_id: &str,
        event: Option<&AuditRecord>,
    ) -> Result<Option<Vec<SessionLoginRecord>>, StoreError>;
}
