//! What the flows need from storage: one trait per aggregate, and [`Store`], which is all of
//! them. `eid-store` implements them over diesel for SQLite and PostgreSQL; the flows call them
//! from a blocking thread, never from the async executor.
//!
//! Records carry secrets and personal data only in sealed (encrypted) or hashed form: the store
//! never sees a clear HKID number, profile, private key, code or token.
//!
//! Every method is one short transaction. Methods that move state forward compare-and-set, so
//! that concurrent requests cannot both succeed.

mod accounts;
mod applications;
mod audit;
mod ceremonies;
mod clients;
mod keys;
mod limits;
mod logins;
mod logouts;
mod officers;
mod pki;
mod replay;
mod sessions;
mod sso;
mod tokens;

use crate::time::UnixTime;
pub use accounts::*;
pub use applications::*;
pub use audit::*;
pub use ceremonies::*;
pub use clients::*;
pub use keys::*;
pub use limits::*;
pub use logins::*;
pub use logouts::*;
pub use officers::*;
pub use pki::*;
pub use replay::*;
pub use sessions::*;
pub use sso::*;
pub use tokens::*;

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. one account per HKID).
    #[error("a record with the same {0} already exists")]
    Duplicate(&'static str),
    /// A compare-and-set found the row in another state than the caller expected: someone
    /// else moved it first. The caller may read again and retry.
    #[error("the {0} changed concurrently")]
    Conflict(&'static str),
    /// The database could not be reached or refused the query.
    #[error("storage failure: {0}")]
    Backend(String),
    /// A stored value could not be read back (an unknown enum name, a malformed field).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// Storage for every aggregate. Implemented for any type that implements all the parts.
pub trait Store:
    KeyStore
    + ClientStore
    + AccountStore
    + ApplicationStore
    + CeremonyStore
    + LoginStore
    + TokenStore
    + ReplayStore
    + LogoutStore
    + SessionStore
    + SsoStore
    + OfficerStore
    + PkiStore
    + SigningStore
    + AuditStore
    + RateLimitStore
    + Send
    + Sync
{
    /// Deletes what expired: login requests past their approval deadline, and approved ones
    /// `complete_within` seconds after (those that issued a code are kept `keep_issued` seconds
    /// past the code's expiry, as long as tokens issued from it may live, so that a replayed
    /// code is still recognised), ceremonies, tokens, seen JWT ids, sessions (single sign-on
    /// sessions also when idle `session_idle` seconds), applications and rate-limit windows.
    /// Returns how many rows went.
    fn purge_expired(
        &self,
        now: UnixTime,
        complete_within: i64,
        keep_issued: i64,
        session_idle: i64,
    ) -> Result<usize, StoreError>;
}
