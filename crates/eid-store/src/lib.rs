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

mod repo;
pub mod schema;

use eid_core::time::UnixTime;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use eid_core::store::*;
use repo::*;
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
                // busy_timeout first, so that every later statement (switching to WAL included)
                // queues behind another connection's lock instead of failing at once; WAL lets
                // readers run beside the writer; FULL sync loses no committed write on power loss;
                // secure_delete overwrites what a delete removes from the pages it writes anyway
                // (an erased profile does not linger in the file); memory-mapped reads: every
                // write by another connection empties a connection's page cache, and reading
                // the pages back through the map costs no system call and no copy.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                     PRAGMA secure_delete = FAST; PRAGMA mmap_size = 268435456;",
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
    /// SQLite has one writer at a time, and a connection that finds the write lock taken
    /// sleeps in steps of milliseconds before it tries again. Writers of this process queue
    /// here instead, and the next one starts the moment the last one commits.
    writers: Option<std::sync::Arc<parking_lot::Mutex<()>>>,
}

/// A pooled connection for a write, holding the writers' turn (SQLite) while it lives.
pub(crate) struct Writer<'a> {
    conn: PooledConnection<Manager>,
    _turn: Option<parking_lot::MutexGuard<'a, ()>>,
}

impl std::ops::Deref for Writer<'_> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Writer<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A stored value that does not read back.
pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

/// A transaction's error: the database's, or a decision to roll back.
pub(crate) enum TxError<A> {
    Db(DieselError),
    Abort(A),
}

impl<A> From<DieselError> for TxError<A> {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

/// A transaction's error once the abort reason is a store error.
impl From<TxError<StoreError>> for StoreError {
    fn from(e: TxError<StoreError>) -> Self {
        match e {
            TxError::Db(e) => backend(e),
            TxError::Abort(e) => e,
        }
    }
}

pub(crate) fn is_unique_violation(e: &DieselError, column: &str) -> bool {
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
            create_private_file(std::path::Path::new(path))?;
        }
        let manager = Manager(url.clone());
        let mut conn = manager.connect().map_err(backend)?;
        migrate(&mut conn)?;
        let pool = Pool::builder()
            .max_size(max_connections.max(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(backend)?;
        let writers = matches!(url, DatabaseUrl::Sqlite(_))
            .then(|| std::sync::Arc::new(parking_lot::Mutex::new(())));
        Ok(Self { pool, url, writers })
    }

    /// The backend in use.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub(crate) fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        self.pool.get().map_err(backend)
    }

    /// A connection for statements that write: on SQLite, after this process's earlier
    /// writers (the turn is taken before the connection, so that waiting writers hold none).
    pub(crate) fn writer(&self) -> Result<Writer<'_>, StoreError> {
        let turn = self.writers.as_ref().map(|w| w.lock());
        Ok(Writer {
            conn: self.conn()?,
            _turn: turn,
        })
    }

    /// Every stored row, as text, table by table in primary-key order: lets tests prove that a
    /// refused request changed nothing. Every table of `schema.rs` is dumped but those in
    /// `FINGERPRINT_EXCLUDED` (a unit test holds the two lists to the schema, so a new table
    /// must be put in one of them). Reads everything; not for production paths.
    pub fn fingerprint(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        let c = &mut *conn;
        let mut out = Vec::new();
        macro_rules! dump {
            ($table:ident, $row:ty, $order:expr) => {{
                let rows: Vec<$row> = $table::table.order($order).load(c).map_err(backend)?;
                out.push(format!("{}: {} rows", stringify!($table), rows.len()));
                out.extend(rows.iter().map(|r| format!("  {r:?}")));
            }};
        }
        dump!(signing_keys, SigningKeyRow, signing_keys::kid);
        dump!(clients, ClientRow, clients::client_id);
        dump!(citizens, CitizenRow, citizens::citizen_id);
        dump!(citizen_profiles, ProfileRow, citizen_profiles::citizen_id);
        dump!(devices, DeviceRow, devices::device_id);
        dump!(ceremonies, CeremonyRow, ceremonies::ceremony_id);
        dump!(auth_requests, AuthRequestRow, auth_requests::request_id);
        dump!(access_tokens, AccessTokenRow, access_tokens::token_hash);
        dump!(refresh_tokens, RefreshTokenRow, refresh_tokens::token_hash);
        dump!(
            logout_deliveries,
            LogoutDeliveryRow,
            logout_deliveries::delivery_id
        );
        dump!(
            consents,
            ConsentRow,
            (consents::citizen_id, consents::client_id)
        );
        dump!(
            wallet_sessions,
            WalletSessionRow,
            wallet_sessions::token_hash
        );
        dump!(
            browser_sessions,
            BrowserSessionRow,
            browser_sessions::session_id
        );
        dump!(session_logins, SessionLoginRow, session_logins::request_id);
        dump!(applications, ApplicationRow, applications::application_id);
        dump!(officers, OfficerRow, officers::officer_id);
        dump!(
            officer_credentials,
            OfficerCredentialRow,
            officer_credentials::credential_id
        );
        dump!(
            officer_sessions,
            OfficerSessionRow,
            officer_sessions::token_hash
        );
        dump!(certificates, CertificateRow, certificates::serial);
        dump!(
            signing_requests,
            SigningRequestRow,
            signing_requests::request_id
        );
        dump!(
            seen_jtis,
            (String, String, i64),
            (seen_jtis::scope, seen_jtis::jti)
        );
        Ok(out)
    }

    /// Rows per table, for tests that bound what a flood of requests can store.
    pub fn row_counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut conn = self.conn()?;
        let c = &mut *conn;
        macro_rules! count {
            ($($table:ident),*) => {
                vec![$((stringify!($table), $table::table.count().get_result::<i64>(c).map_err(backend)?)),*]
            };
        }
        Ok(count!(
            citizens,
            devices,
            ceremonies,
            auth_requests,
            access_tokens,
            refresh_tokens,
            wallet_sessions,
            browser_sessions,
            session_logins,
            applications,
            audit_events,
            rate_limits
        ))
    }

    /// Whether the database answers (for `/healthz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn()?.batch_execute("SELECT 1").map_err(backend)
    }
}

/// The tables [`Database::fingerprint`] leaves out, each because a refused request may
/// rightly write it. (Only the unit test that checks the fingerprint's coverage reads it.)
#[cfg(test)]
const FINGERPRINT_EXCLUDED: &[&str] = &[
    // The audit trail records attempts, refused ones too (a wrong number, "not me", a failed
    // proofing).
    "audit_events",
    // Rate-limit windows count requests whatever their answer; that is what they are for.
    "rate_limits",
];

/// Creates the SQLite file (and its directory) readable by its owner only, if it does not exist:
/// SQLite gives its WAL and shared-memory files the database file's permissions.
fn create_private_file(path: &std::path::Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "creating {}: {e}",
            path.display()
        ))),
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
    fn purge_expired(
        &self,
        now: UnixTime,
        complete_within: i64,
        keep_issued: i64,
        session_idle: i64,
    ) -> Result<usize, StoreError> {
        let now = now.secs();
        let mut conn = self.writer()?;
        conn.transaction::<usize, DieselError, _>(|c| {
            // A request that issued a code is kept past the code's expiry so that a replayed
            // code is still recognised (and its tokens revoked) for as long as those tokens
            // could live; any other request goes at its deadline.
            let issued = [
                RequestStatus::CodeIssued.as_str(),
                RequestStatus::Redeemed.as_str(),
            ];
            let mut n = diesel::delete(
                auth_requests::table
                    .filter(auth_requests::expires_at.lt(now))
                    .filter(auth_requests::status.ne_all(issued))
                    .filter(auth_requests::status.ne(RequestStatus::Approved.as_str())),
            )
            .execute(c)?;
            // An approval came before the deadline: the browser had `complete_within` after it.
            n += diesel::delete(
                auth_requests::table
                    .filter(auth_requests::expires_at.lt(now - complete_within))
                    .filter(auth_requests::status.eq(RequestStatus::Approved.as_str())),
            )
            .execute(c)?;
            n += diesel::delete(
                auth_requests::table
                    .filter(auth_requests::status.eq_any(issued))
                    .filter(auth_requests::code_expires_at.lt(now - keep_issued)),
            )
            .execute(c)?;
            n += diesel::delete(ceremonies::table.filter(ceremonies::expires_at.lt(now)))
                .execute(c)?;
            n += diesel::delete(seen_jtis::table.filter(seen_jtis::expires_at.lt(now)))
                .execute(c)?;
            // A signing request, and its result, go when the service had its time to fetch it.
            n += diesel::delete(signing_requests::table.filter(
                signing_requests::expires_at.lt(now - eid_core::signing::RESULT_RETENTION),
            ))
            .execute(c)?;
            n += diesel::delete(access_tokens::table.filter(access_tokens::expires_at.lt(now)))
                .execute(c)?;
            // A spent refresh token is kept until it would have expired, to recognise a reuse.
            n += diesel::delete(
                refresh_tokens::table.filter(
                    refresh_tokens::expires_at
                        .lt(now)
                        .or(refresh_tokens::family_expires_at.lt(now)),
                ),
            )
            .execute(c)?;
            n += diesel::delete(wallet_sessions::table.filter(wallet_sessions::expires_at.lt(now)))
                .execute(c)?;
            // Single sign-on sessions at their end or idle too long, with their logins.
            let ended = browser_sessions::table
                .filter(
                    browser_sessions::expires_at
                        .le(now)
                        .or(browser_sessions::last_seen_at.le(now - session_idle)),
                )
                .select(browser_sessions::session_id);
            n += diesel::delete(
                session_logins::table.filter(session_logins::session_id.eq_any(ended)),
            )
            .execute(c)?;
            n += diesel::delete(
                browser_sessions::table.filter(
                    browser_sessions::expires_at
                        .le(now)
                        .or(browser_sessions::last_seen_at.le(now - session_idle)),
                ),
            )
            .execute(c)?;
            n += diesel::delete(
                officer_sessions::table.filter(officer_sessions::expires_at.lt(now)),
            )
            .execute(c)?;
            n += diesel::delete(applications::table.filter(applications::expires_at.lt(now)))
                .execute(c)?;
            n += diesel::delete(
                rate_limits::table
                    .filter((rate_limits::window_start + rate_limits::window_secs).lt(now)),
            )
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
        assert!(db.signing_keys(KeyPurpose::Token).unwrap().is_empty());
        // Opening again finds the migrations applied.
        Database::open(&format!("sqlite://{}", path.display()), 2).unwrap();
    }

    /// A database made before identity proofing keeps its accounts through the migration:
    /// profiles move to their own table, devices keep their user handle (the account id), and
    /// the accounts have no level (nothing proved them) until their holders prove themselves.
    #[test]
    fn accounts_from_before_proofing_survive_the_migration_unproven() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let manager = Manager(DatabaseUrl::Sqlite(path.display().to_string()));
        let mut conn = manager.connect().unwrap();
        let AnyConnection::Sqlite(c) = &mut conn else {
            panic!("sqlite")
        };
        // Only the first migration: the schema as it was.
        c.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        c.batch_execute(
            "INSERT INTO citizens (citizen_id, hkid_index, profile, created_at)
               VALUES ('6f1e2d3c-0000-4000-8000-000000000001', x'0101', x'cafe', 5);
             INSERT INTO devices (device_id, citizen_id, credential_id, name, passkey, created_at)
               VALUES ('d1', '6f1e2d3c-0000-4000-8000-000000000001', 'cred', 'phone', '{}', 5);
             INSERT INTO ceremonies (ceremony_id, purpose, citizen_id, state, expires_at)
               VALUES ('c1', 'link', '6f1e2d3c-0000-4000-8000-000000000001', x'00', 9);
             INSERT INTO signing_keys (kid, alg, private_key, created_at)
               VALUES ('es256-x', 'ES256', x'00', 1);",
        )
        .unwrap();
        drop(conn);
        let db = Database::open(&format!("sqlite://{}", path.display()), 1).unwrap();
        let id = "6f1e2d3c-0000-4000-8000-000000000001";
        let account = db.citizen(id).unwrap().unwrap();
        assert_eq!(account.level, None, "never proven");
        assert_eq!(account.status, eid_core::account::AccountStatus::Active);
        assert_eq!(account.reference, "6F1E-2D3C");
        assert_eq!(db.profile(id).unwrap(), Some(vec![0xca, 0xfe]));
        let (device, _) = db.device_by_credential("cred").unwrap().unwrap();
        assert_eq!(device.user_handle, id);
        assert_eq!(device.joined_by, eid_core::account::JoinedBy::Proofing);
        assert_eq!(
            db.ceremony("c1", CeremonyPurpose::Link)
                .unwrap()
                .and_then(|c| c.subject_id)
                .as_deref(),
            Some(id)
        );
        assert_eq!(db.signing_keys(KeyPurpose::Token).unwrap().len(), 1);
        assert!(db.signing_keys(KeyPurpose::Connector).unwrap().is_empty());
    }

    /// L7 (security review 2026-12-07): the migration that lets a revoked certificate's key go
    /// keeps every certificate, and afterwards a key can be deleted under its certificate.
    #[test]
    fn certificates_survive_the_migration_that_frees_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let manager = Manager(DatabaseUrl::Sqlite(path.display().to_string()));
        let mut conn = manager.connect().unwrap();
        let AnyConnection::Sqlite(c) = &mut conn else {
            panic!("sqlite")
        };
        // Every migration before 2026-12-10-000001.
        let before = std::fs::read_dir(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"),
        )
        .unwrap()
        .filter(|e| {
            e.as_ref().unwrap().file_name().to_string_lossy().as_ref() < "2026-12-10-000001"
        })
        .count();
        for _ in 0..before {
            c.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        }
        c.batch_execute(
            "INSERT INTO signing_keys (kid, alg, purpose, private_key, created_at, custody)
               VALUES ('signer-k', 'ES256', 'signer', x'00', 5, 'sealed');
             INSERT INTO certificates (serial, kind, kid, citizen_id, der, not_before, not_after,
                 revoked_at, revocation_reason)
               VALUES ('0a', 'signer', 'signer-k', 'c1', x'30', 5, 9, 7, 1);",
        )
        .unwrap();
        drop(conn);
        let db = Database::open(&format!("sqlite://{}", path.display()), 1).unwrap();
        let revoked = db.revoked_signer_keys(None, 10).unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].0.serial, "0a");
        assert!(db.delete_signing_key("signer-k", &[]).unwrap());
        assert!(!db.delete_signing_key("signer-k", &[]).unwrap(), "gone");
        let kept = db.certificate("0a").unwrap().unwrap();
        assert_eq!(kept.kid, "signer-k");
        assert!(db.revoked_signer_keys(None, 10).unwrap().is_empty());
    }

    /// The tables `schema.rs` declares (`diesel::table! { name (key) {`).
    fn schema_tables() -> std::collections::BTreeSet<String> {
        let source = include_str!("schema.rs");
        let mut tables = std::collections::BTreeSet::new();
        let mut lines = source.lines();
        while let Some(line) = lines.next() {
            if line.trim() == "diesel::table! {" {
                let head = lines.next().unwrap().trim();
                let name = head.split([' ', '(']).next().unwrap();
                tables.insert(name.to_owned());
            }
        }
        tables
    }

    /// `fingerprint()` sees every table but the listed exclusions: a new table that is in
    /// neither list fails here, so that a refusal's `unchanged!` check cannot go blind to it.
    #[test]
    fn the_fingerprint_covers_every_table_but_the_excluded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eid.db");
        let db = Database::open(&format!("sqlite://{}", path.display()), 1).unwrap();
        let dumped: Vec<String> = db
            .fingerprint()
            .unwrap()
            .iter()
            .filter_map(|line| line.strip_suffix(": 0 rows").map(str::to_owned))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for table in dumped
            .iter()
            .map(String::as_str)
            .chain(FINGERPRINT_EXCLUDED.iter().copied())
        {
            assert!(seen.insert(table.to_owned()), "{table} is listed twice");
        }
        let schema = schema_tables();
        assert!(schema.len() >= 20, "parsed {schema:?}");
        assert_eq!(
            seen, schema,
            "fingerprinted and excluded tables against schema.rs"
        );
    }

    /// The two migration trees differ only in the binary type's name and the audit sequence.
    #[test]
    fn the_sqlite_and_postgres_migrations_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        for entry in std::fs::read_dir(root.join("sqlite")).unwrap() {
            let name = entry.unwrap().file_name();
            for file in ["up.sql", "down.sql"] {
                let sqlite = std::fs::read_to_string(root.join("sqlite").join(&name).join(file))
                    .unwrap()
                    .replace("BLOB", "BYTEA")
                    .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
                    .replace("x''", "''::bytea")
                    .replace("SQLite flavour", "PostgreSQL flavour");
                let postgres =
                    std::fs::read_to_string(root.join("postgres").join(&name).join(file)).unwrap();
                assert_eq!(sqlite, postgres, "{name:?}/{file}");
            }
        }
    }
}
