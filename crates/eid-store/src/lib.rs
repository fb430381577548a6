//! eid-store: eid's storage over diesel, for SQLite (the embedded default) and PostgreSQL.
//!
//! [`Database::open`] takes `sqlite://PATH` or `postgres://...`, runs the embedded migrations
//! for that backend, and returns a connection pool that implements [`eid_core::store::Store`].
//! The same queries serve both backends through diesel's `MultiConnection`.
//!
//! Every method is blocking: callers on an async runtime run them on a blocking thread.
//!
//! ```no_run
//! let db = eid_store::Database::open("sqlite://eid.db", 8)?;
//! # Ok::<(), eid_core::store::StoreError>(())
//! ```

mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use eid_core::store::*;
use models::*;
use schema::*;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Where the data lives, parsed from a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (`sqlite://eid.db`, `sqlite:///var/lib/eid/eid.db`).
    Sqlite(String),
    /// A libpq connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH`, `sqlite:PATH` or `postgres[ql]://...`.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::Backend("sqlite:// needs a file path".into()));
            }
            Ok(Self::Sqlite(path.to_owned()))
        } else {
            Err(StoreError::Backend(
                "the database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    /// Whether this is the embedded backend.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

/// Opens connections for the pool, configuring SQLite for concurrent, durable use.
#[derive(Debug, Clone)]
struct Manager(DatabaseUrl);

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.0 {
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; FULL sync loses no committed write on
                // power loss; busy_timeout makes writers queue instead of failing.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut AnyConnection) -> bool {
        false
    }
}

/// The connection pool; implements [`Store`].
#[derive(Clone)]
pub struct Database {
    pool: Pool<Manager>,
    url: DatabaseUrl,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A transaction's error: the database's, or a decision to roll back.
enum TxError<A> {
    Db(DieselError),
    Abort(A),
}

impl<A> From<DieselError> for TxError<A> {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

fn is_unique_violation(e: &DieselError, column: &str) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            info.message().contains(column)
                || info.constraint_name().is_some_and(|c| c.contains(column))
        }
        _ => false,
    }
}

impl Database {
    /// Opens (creating if need be) the database, migrates it and pools `max_connections`.
    pub fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let url = DatabaseUrl::parse(url)?;
        if let DatabaseUrl::Sqlite(path) = &url {
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Backend(format!("creating {}: {e}", dir.display()))
                    })?;
                }
            }
        }
        let manager = Manager(url.clone());
        let mut conn = manager.connect().map_err(backend)?;
        migrate(&mut conn)?;
        let pool = Pool::builder()
            .max_size(max_connections.max(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(backend)?;
        Ok(Self { pool, url })
    }

    /// The backend in use.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool.get().map_err(backend)
    }

    /// Every stored row, as text, table by table in primary-key order: lets tests and audits
    /// prove that a refused request changed nothing. Reads everything; not for production paths.
    pub fn fingerprint(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        let c = &mut *conn;
        let mut out = Vec::new();
        let mut push = |table: &str, rows: Vec<String>| {
            out.push(format!("{table}: {} rows", rows.len()));
            out.extend(rows.into_iter().map(|r| format!("  {r}")));
        };
        let rows: Vec<SigningKeyRow> = signing_keys::table
            .order(signing_keys::kid)
            .load(c)
            .map_err(backend)?;
        push(
            "signing_keys",
            rows.iter()
                .map(|r| format!("{} {} {:?}", r.kid, r.alg, r.private_key))
                .collect(),
        );
        let rows: Vec<ClientRow> = clients::table
            .order(clients::client_id)
            .load(c)
            .map_err(backend)?;
        push(
            "clients",
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} {:?} {}",
                        r.client_id, r.name, r.secret_hash, r.redirect_uris
                    )
                })
                .collect(),
        );
        let rows: Vec<CitizenRow> = citizens::table
            .order(citizens::citizen_id)
            .load(c)
            .map_err(backend)?;
        push(
            "citizens",
            rows.iter()
                .map(|r| format!("{} {:?} {:?}", r.citizen_id, r.hkid_index, r.profile))
                .collect(),
        );
        let rows: Vec<DeviceRow> = devices::table
            .order(devices::device_id)
            .load(c)
            .map_err(backend)?;
        push(
            "devices",
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} {} {} {:?}",
                        r.device_id, r.citizen_id, r.credential_id, r.passkey, r.last_used_at
                    )
                })
                .collect(),
        );
        let rows: Vec<CeremonyRow> = ceremonies::table
            .order(ceremonies::ceremony_id)
            .load(c)
            .map_err(backend)?;
        push(
            "ceremonies",
            rows.iter()
                .map(|r| format!("{} {} {:?}", r.ceremony_id, r.purpose, r.state))
                .collect(),
        );
        let rows: Vec<AuthRequestRow> = auth_requests::table
            .order(auth_requests::request_id)
            .load(c)
            .map_err(backend)?;
        push(
            "auth_requests",
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} {:?} {:?} {:?}",
                        r.request_id, r.status, r.citizen_id, r.code_hash, r.approval_state
                    )
                })
                .collect(),
        );
        let rows: Vec<AccessTokenRow> = access_tokens::table
            .order(access_tokens::token_hash)
            .load(c)
            .map_err(backend)?;
        push(
            "access_tokens",
            rows.iter()
                .map(|r| format!("{:?} {} {}", r.token_hash, r.request_id, r.scope))
                .collect(),
        );
        let rows: Vec<ConsentRow> = consents::table
            .order((consents::citizen_id, consents::client_id))
            .load(c)
            .map_err(backend)?;
        push(
            "consents",
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} {} {}",
                        r.citizen_id, r.client_id, r.scope, r.granted_at
                    )
                })
                .collect(),
        );
        let rows: Vec<WalletSessionRow> = wallet_sessions::table
            .order(wallet_sessions::token_hash)
            .load(c)
            .map_err(backend)?;
        push(
            "wallet_sessions",
            rows.iter()
                .map(|r| format!("{:?} {} {}", r.token_hash, r.citizen_id, r.device_id))
                .collect(),
        );
        Ok(out)
    }

    /// Whether the database answers (for `/healthz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn()?.batch_execute("SELECT 1").map_err(backend)
    }
}

fn migrate(conn: &mut AnyConnection) -> Result<(), StoreError> {
    match conn {
        AnyConnection::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(backend)?;
        }
        AnyConnection::Postgresql(c) => {
            // Several nodes may start at once: one migrates, the others wait.
            c.batch_execute("SELECT pg_advisory_lock(4245611)")
                .map_err(backend)?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            c.batch_execute("SELECT pg_advisory_unlock(4245611)")
                .map_err(backend)?;
            result.map_err(backend)?;
        }
    }
    Ok(())
}

impl Store for Database {
    fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows: Vec<SigningKeyRow> = signing_keys::table
            .order(signing_keys::created_at.asc())
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn insert_signing_keys_if_none(&self, keys: &[SigningKeyRecord]) -> Result<bool, StoreError> {
        /// Rolls back when another node's keys were already there.
        struct Existing;
        let mut conn = self.conn()?;
        // Write first (see `delete_device_unless_last`), then check nobody else had written.
        let result = conn.transaction::<bool, TxError<Existing>, _>(|c| {
            for key in keys {
                diesel::insert_into(signing_keys::table)
                    .values(SigningKeyRow::from(key.clone()))
                    .execute(c)?;
            }
            let total: i64 = signing_keys::table.count().get_result(c)?;
            if usize::try_from(total).unwrap_or(usize::MAX) > keys.len() {
                return Err(TxError::Abort(Existing));
            }
            Ok(true)
        });
        match result {
            Ok(inserted) => Ok(inserted),
            Err(TxError::Abort(Existing)) => Ok(false),
            // Another node inserted the same kid concurrently (PostgreSQL's unique index).
            Err(TxError::Db(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
                Ok(false)
            }
            Err(TxError::Db(e)) => Err(backend(e)),
        }
    }

    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        diesel::insert_into(clients::table)
            .values(ClientRow::from(client.clone()))
            .execute(&mut *self.conn()?)
            .map_err(|e| {
                if is_unique_violation(&e, "client_id") {
                    StoreError::Duplicate("client_id")
                } else {
                    backend(e)
                }
            })?;
        Ok(())
    }

    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let row: Option<ClientRow> = clients::table
            .find(client_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let rows: Vec<ClientRow> = clients::table
            .order(clients::created_at.asc())
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            diesel::delete(access_tokens::table.filter(access_tokens::client_id.eq(client_id)))
                .execute(c)?;
            diesel::delete(consents::table.filter(consents::client_id.eq(client_id))).execute(c)?;
            Ok(diesel::delete(clients::table.find(client_id)).execute(c)? == 1)
        })
        .map_err(backend)
    }

    fn citizen(&self, citizen_id: &str) -> Result<Option<CitizenRecord>, StoreError> {
        let row: Option<CitizenRow> = citizens::table
            .find(citizen_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn citizen_exists_by_hkid(&self, hkid_index: &[u8]) -> Result<bool, StoreError> {
        let count: i64 = citizens::table
            .filter(citizens::hkid_index.eq(hkid_index))
            .count()
            .get_result(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(count > 0)
    }

    fn insert_citizen_with_device(
        &self,
        citizen: &CitizenRecord,
        device: &DeviceRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<(), DieselError, _>(|c| {
            diesel::insert_into(citizens::table)
                .values(CitizenRow::from(citizen.clone()))
                .execute(c)?;
            diesel::insert_into(devices::table)
                .values(DeviceRow::from(device.clone()))
                .execute(c)?;
            Ok(())
        })
        .map_err(|e| {
            if is_unique_violation(&e, "hkid") {
                StoreError::Duplicate("hkid")
            } else if is_unique_violation(&e, "credential_id") {
                StoreError::Duplicate("credential_id")
            } else {
                backend(e)
            }
        })
    }

    fn insert_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        diesel::insert_into(devices::table)
            .values(DeviceRow::from(device.clone()))
            .execute(&mut *self.conn()?)
            .map_err(|e| {
                if is_unique_violation(&e, "credential_id") {
                    StoreError::Duplicate("credential_id")
                } else {
                    backend(e)
                }
            })?;
        Ok(())
    }

    fn devices(&self, citizen_id: &str) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows: Vec<DeviceRow> = devices::table
            .filter(devices::citizen_id.eq(citizen_id))
            .order(devices::created_at.asc())
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn device_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let row: Option<DeviceRow> = devices::table
            .filter(devices::credential_id.eq(credential_id))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn touch_device(&self, device_id: &str, passkey: &str, now: i64) -> Result<(), StoreError> {
        diesel::update(devices::table.find(device_id))
            .set((
                devices::passkey.eq(passkey),
                devices::last_used_at.eq(Some(now)),
            ))
            .execute(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(())
    }

    fn delete_device_unless_last(
        &self,
        citizen_id: &str,
        device_id: &str,
    ) -> Result<DeleteDevice, StoreError> {
        /// Rolls the transaction back when the device was the last one.
        struct Last;
        let mut conn = self.conn()?;
        // Write first: the transaction takes the write lock with its first statement, so that
        // SQLite never has to upgrade a read lock (which fails at once under contention).
        let result = conn.transaction::<DeleteDevice, TxError<Last>, _>(|c| {
            let deleted = diesel::delete(
                devices::table
                    .filter(devices::device_id.eq(device_id))
                    .filter(devices::citizen_id.eq(citizen_id)),
            )
            .execute(c)?;
            if deleted == 0 {
                return Ok(DeleteDevice::NotFound);
            }
            let remaining: i64 = devices::table
                .filter(devices::citizen_id.eq(citizen_id))
                .count()
                .get_result(c)?;
            if remaining == 0 {
                return Err(TxError::Abort(Last));
            }
            diesel::delete(wallet_sessions::table.filter(wallet_sessions::device_id.eq(device_id)))
                .execute(c)?;
            Ok(DeleteDevice::Deleted)
        });
        match result {
            Ok(outcome) => Ok(outcome),
            Err(TxError::Abort(Last)) => Ok(DeleteDevice::LastDevice),
            Err(TxError::Db(e)) => Err(backend(e)),
        }
    }

    fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError> {
        diesel::insert_into(ceremonies::table)
            .values(CeremonyRow::from(ceremony.clone()))
            .execute(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(())
    }

    fn take_ceremony(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        let mut conn = self.conn()?;
        let target = ceremonies::table
            .filter(ceremonies::ceremony_id.eq(ceremony_id))
            .filter(ceremonies::purpose.eq(purpose.as_str()));
        // Ceremony rows never change after insertion, so reading and then deleting needs no
        // transaction: whoever deletes the row owns the ceremony, and only one delete can.
        let row: Option<CeremonyRow> = target.first(&mut *conn).optional().map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        if diesel::delete(target)
            .execute(&mut *conn)
            .map_err(backend)?
            != 1
        {
            return Ok(None);
        }
        CeremonyRecord::try_from(row).map(Some)
    }

    fn insert_auth_request(&self, request: &AuthRequestRecord) -> Result<(), StoreError> {
        diesel::insert_into(auth_requests::table)
            .values(AuthRequestRow::from(request.clone()))
            .execute(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(())
    }

    fn auth_request(&self, request_id: &str) -> Result<Option<AuthRequestRecord>, StoreError> {
        let row: Option<AuthRequestRow> = auth_requests::table
            .find(request_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(AuthRequestRecord::try_from).transpose()
    }

    fn auth_request_by_code(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<AuthRequestRecord>, StoreError> {
        let row: Option<AuthRequestRow> = auth_requests::table
            .filter(auth_requests::code_hash.eq(code_hash))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(AuthRequestRecord::try_from).transpose()
    }

    fn approve_auth_request(
        &self,
        request_id: &str,
        citizen_id: &str,
        device_id: &str,
        auth_time: i64,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            auth_requests::table
                .filter(auth_requests::request_id.eq(request_id))
                .filter(auth_requests::status.eq(RequestStatus::Pending.as_str())),
        )
        .set((
            auth_requests::status.eq(RequestStatus::Approved.as_str()),
            auth_requests::citizen_id.eq(Some(citizen_id)),
            auth_requests::device_id.eq(Some(device_id)),
            auth_requests::auth_time.eq(Some(auth_time)),
            auth_requests::approval_state.eq(None::<Vec<u8>>),
        ))
        .execute(&mut *self.conn()?)
        .map_err(backend)?;
        Ok(n == 1)
    }

    fn deny_auth_request(&self, request_id: &str) -> Result<bool, StoreError> {
        let n = diesel::update(
            auth_requests::table
                .filter(auth_requests::request_id.eq(request_id))
                .filter(auth_requests::status.eq(RequestStatus::Approved.as_str())),
        )
        .set(auth_requests::status.eq(RequestStatus::Denied.as_str()))
        .execute(&mut *self.conn()?)
        .map_err(backend)?;
        Ok(n == 1)
    }

    fn issue_code(
        &self,
        request_id: &str,
        code_hash: &[u8],
        code_expires_at: i64,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            auth_requests::table
                .filter(auth_requests::request_id.eq(request_id))
                .filter(auth_requests::status.eq(RequestStatus::Approved.as_str())),
        )
        .set((
            auth_requests::status.eq(RequestStatus::CodeIssued.as_str()),
            auth_requests::code_hash.eq(Some(code_hash)),
            auth_requests::code_expires_at.eq(Some(code_expires_at)),
        ))
        .execute(&mut *self.conn()?)
        .map_err(backend)?;
        Ok(n == 1)
    }

    fn redeem_code(&self, request_id: &str, token: &AccessTokenRecord) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            let n = diesel::update(
                auth_requests::table
                    .filter(auth_requests::request_id.eq(request_id))
                    .filter(auth_requests::status.eq(RequestStatus::CodeIssued.as_str())),
            )
            .set(auth_requests::status.eq(RequestStatus::Redeemed.as_str()))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            diesel::insert_into(access_tokens::table)
                .values(AccessTokenRow::from(token.clone()))
                .execute(c)?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn revoke_tokens_for_request(&self, request_id: &str) -> Result<usize, StoreError> {
        diesel::delete(access_tokens::table.filter(access_tokens::request_id.eq(request_id)))
            .execute(&mut *self.conn()?)
            .map_err(backend)
    }

    fn access_token(&self, token_hash: &[u8]) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row: Option<AccessTokenRow> = access_tokens::table
            .find(token_hash)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn consent(
        &self,
        citizen_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let row: Option<ConsentRow> = consents::table
            .find((citizen_id, client_id))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn upsert_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<(), DieselError, _>(|c| {
            let n = diesel::update(consents::table.find((&consent.citizen_id, &consent.client_id)))
                .set((
                    consents::scope.eq(&consent.scope),
                    consents::granted_at.eq(consent.granted_at),
                ))
                .execute(c)?;
            if n == 0 {
                diesel::insert_into(consents::table)
                    .values(ConsentRow::from(consent.clone()))
                    .execute(c)?;
            }
            Ok(())
        })
        .map_err(backend)
    }

    fn insert_wallet_session(&self, session: &WalletSessionRecord) -> Result<(), StoreError> {
        diesel::insert_into(wallet_sessions::table)
            .values(WalletSessionRow::from(session.clone()))
            .execute(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(())
    }

    fn wallet_session(&self, token_hash: &[u8]) -> Result<Option<WalletSessionRecord>, StoreError> {
        let row: Option<WalletSessionRow> = wallet_sessions::table
            .find(token_hash)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<usize, DieselError, _>(|c| {
            // Requests are kept a day past expiry so that a replayed code is still recognised
            // (and its tokens revoked) for as long as those tokens could live.
            let mut n = diesel::delete(
                auth_requests::table.filter(auth_requests::expires_at.lt(now - 86_400)),
            )
            .execute(c)?;
            n += diesel::delete(ceremonies::table.filter(ceremonies::expires_at.lt(now)))
                .execute(c)?;
            n += diesel::delete(access_tokens::table.filter(access_tokens::expires_at.lt(now)))
                .execute(c)?;
            n += diesel::delete(wallet_sessions::table.filter(wallet_sessions::expires_at.lt(now)))
                .execute(c)?;
            Ok(n)
        })
        .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_name_their_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/eid.db").unwrap(),
            DatabaseUrl::Sqlite("data/eid.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/eid/eid.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/eid/eid.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:eid.db").unwrap(),
            DatabaseUrl::Sqlite("eid.db".into())
        );
        for pg in ["postgres://u@h/db", "postgresql://h/db"] {
            assert_eq!(
                DatabaseUrl::parse(pg).unwrap(),
                DatabaseUrl::Postgres(pg.into())
            );
        }
        for bad in ["", "sqlite://", "mysql://h/db", "eid.db"] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_sqlite_database_is_created_with_its_directory_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/eid.db");
        let db = Database::open(&format!("sqlite://{}", path.display()), 2).unwrap();
        assert!(path.exists());
        db.ping().unwrap();
        assert!(db.signing_keys().unwrap().is_empty());
        // Opening again finds the migrations applied.
        Database::open(&format!("sqlite://{}", path.display()), 2).unwrap();
    }
}
