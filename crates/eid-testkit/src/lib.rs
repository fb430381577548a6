//! eid-testkit: starts the real eid server for tests, on `127.0.0.1:0` over a fresh database.
//!
//! Every scenario runs on each [`Backend`] that [`backends`] returns: SQLite always, and
//! PostgreSQL when `DATABASE_URL` is set (each server gets a database of its own, created
//! and dropped here). With `EID_REQUIRE_POSTGRES=1` (CI sets it) an unset or unreachable
//! PostgreSQL fails the tests instead of skipping them.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! for backend in eid_testkit::backends()? {
//!     let server = eid_testkit::TestServer::start(backend).await?;
//!     println!("{}", server.issuer());
//!     server.stop().await;
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;

use anyhow::{bail, Context as _};
use diesel::connection::SimpleConnection as _;
use diesel::Connection as _;
use eid_core::crypto::MasterKey;
use eid_core::keys::JwsAlg;
use eid_core::Provider;
use eid_server::{RunningServer, StartOptions};

/// A storage backend to run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// The server URL from `DATABASE_URL`; a database per test server is created under it.
    Postgres(String),
}

/// The backends to test: SQLite, plus PostgreSQL when `DATABASE_URL` is set and reachable.
pub fn backends() -> anyhow::Result<Vec<Backend>> {
    let required = std::env::var("EID_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true");
    let mut out = vec![Backend::Sqlite];
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => match diesel::PgConnection::establish(&url) {
            Ok(_) => out.push(Backend::Postgres(url)),
            Err(e) if required => {
                bail!("EID_REQUIRE_POSTGRES is set but {url} is unreachable: {e}")
            }
            Err(e) => eprintln!("skipping PostgreSQL: {url} is unreachable: {e}"),
        },
        _ if required => bail!("EID_REQUIRE_POSTGRES is set but DATABASE_URL is not"),
        _ => {}
    }
    Ok(out)
}

/// A PostgreSQL database made for one test server, dropped with it.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("DATABASE_URL")?;
    parsed.set_path(&format!("/{name}"));
    Ok(parsed.to_string())
}

/// A running eid server with its own database, master key and temporary directory.
pub struct TestServer {
    backend: Backend,
    database_url: String,
    master_key: String,
    server: Option<RunningServer>,
    _database: TestDatabase,
}

/// A fresh, empty database of a backend: a SQLite file in a temporary directory, or a
/// PostgreSQL database created for it. Removed on drop.
pub struct TestDatabase {
    pub url: String,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

impl TestDatabase {
    pub fn create(backend: &Backend) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (url, pg) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("eid.db").display()),
                None,
            ),
            Backend::Postgres(admin_url) => {
                let name = format!("eid_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = diesel::PgConnection::establish(admin_url)?;
                conn.batch_execute(&format!("CREATE DATABASE {name}"))?;
                let pg = PgDatabase {
                    admin_url: admin_url.clone(),
                    name: name.clone(),
                };
                (with_database(admin_url, &name)?, Some(pg))
            }
        };
        Ok(Self {
            url,
            _dir: dir,
            _pg: pg,
        })
    }
}

impl TestServer {
    /// Starts a server over a fresh database of `backend`.
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        let database = TestDatabase::create(&backend)?;
        let master_key = MasterKey::generate().to_base64();
        let mut server = Self {
            backend,
            database_url: database.url.clone(),
            master_key,
            server: None,
            _database: database,
        };
        server.launch("127.0.0.1:0".parse()?).await?;
        Ok(server)
    }

    async fn launch(&mut self, listen: std::net::SocketAddr) -> anyhow::Result<()> {
        let running = eid_server::start(StartOptions {
            listen,
            issuer: None,
            database: self.database_url.clone(),
            master_key: MasterKey::from_base64(&self.master_key)?,
            pool_size: 8,
        })
        .await?;
        self.server = Some(running);
        Ok(())
    }

    fn running(&self) -> &RunningServer {
        match &self.server {
            Some(s) => s,
            // `server` is Some from `start` until `stop` consumes self.
            None => unreachable!("TestServer used after stop"),
        }
    }

    /// The backend this server stores in.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The issuer, exactly as in discovery (no trailing slash).
    pub fn issuer(&self) -> String {
        self.running()
            .issuer
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// `issuer` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// The provider, for in-process administration.
    pub fn provider(&self) -> Arc<Provider> {
        Arc::clone(&self.running().provider)
    }

    /// Registers a relying party; returns `(client_id, client_secret)`.
    pub async fn add_client(
        &self,
        name: &str,
        redirect_uri: &str,
        alg: JwsAlg,
    ) -> anyhow::Result<(String, String)> {
        let provider = self.provider();
        let (name, uri) = (name.to_owned(), redirect_uri.to_owned());
        let new = tokio::task::spawn_blocking(move || {
            provider.add_client(&name, &[uri], alg, eid_server::now())
        })
        .await??;
        Ok((new.client.client_id, new.client_secret))
    }

    /// Every stored row, as text (see `eid_store::Database::fingerprint`).
    pub async fn fingerprint(&self) -> anyhow::Result<Vec<String>> {
        let db = self.running().db.clone();
        Ok(tokio::task::spawn_blocking(move || db.fingerprint()).await??)
    }

    /// Stops the server and starts a new one on the same address, over the same database and
    /// master key: what an operator's restart does.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let listen = self.running().local_addr;
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.launch(listen).await
    }

    /// Stops the server; its database is dropped.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}
