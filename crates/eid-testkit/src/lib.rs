//! eid-testkit: starts the real eid server for tests, on `127.0.0.1:0` over a fresh database,
//! with its officer console on a second loopback port and, when asked, the sandbox population
//! registry as a separate process on a third.
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

pub mod attestation;
pub mod officer;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use diesel::connection::SimpleConnection as _;
use diesel::Connection as _;
use eid_core::crypto::MasterKey;
use eid_core::keys::JwsAlg;
use eid_core::limits::Limits;
use eid_core::Provider;
use eid_server::{RegistrySettings, RunningServer, StartOptions};
pub use population_registry::Resident;
use tokio::io::AsyncBufReadExt as _;

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

/// Another `eid-server` process over a test server's database ([`TestServer::another_process`]).
pub struct NodeProcess {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub port: u16,
    _child: tokio::process::Child,
    _data_dir: tempfile::TempDir,
}

/// How a test server is set up.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// The `eid-testkit-registry` binary (`env!("CARGO_BIN_EXE_eid-testkit-registry")` in this
    /// crate's tests): start the sandbox registry as a process of its own. `None`: no remote
    /// proofing.
    pub registry_exe: Option<PathBuf>,
    /// Run the sandbox registry inside this process instead (tools that have no
    /// `CARGO_BIN_EXE_*`, such as the load tool).
    pub registry_in_process: bool,
    /// Use the registry at this URL instead (a stand-in a test runs itself).
    pub registry_url: Option<url::Url>,
    /// How many test residents the registry holds.
    pub residents: usize,
    /// How long eid waits for the registry.
    pub registry_timeout: Duration,
    /// Make the registry answer this late (to exceed `registry_timeout`).
    pub registry_delay: Duration,
    pub limits: Limits,
    /// Which device keys are accepted, at which level (trusted attestation roots).
    pub attestation: eid_core::attestation::AttestationPolicy,
    /// Which security keys officers may register: by default the development allowance (the
    /// testkit's officers are the wallet's software authenticator); a test of the policy sets
    /// roots from [`attestation::TestAttestationRoot`] and takes the allowance away.
    pub officers: eid_core::attestation::OfficerKeyPolicy,
    /// Who may register clients at `/register`.
    pub registration: eid_core::oidc::registration::RegistrationPolicy,
    /// Offer the implicit flow to clients that register it.
    pub danger_implicit_flow: bool,
    /// Keys generated in this PKCS#11 token (SoftHSM2 in tests: [`eid_hsm::softhsm`]).
    pub pkcs11: Option<eid_hsm::Pkcs11Config>,
    /// What remote proofing believes and how long a recovery is held (72 h by default, as
    /// deployed; a test of a hold's end shortens it).
    pub proofing: eid_core::proofing::ProofingPolicy,
    /// How long logins wait for the phone and the browser (as deployed by default; a long
    /// test lengthens them, so that nothing it made expires, and is purged, while it runs).
    pub login: eid_server::config::LoginWindows,
}

impl TestOptions {
    /// With the sandbox registry run from `exe`.
    pub fn with_registry(exe: impl Into<PathBuf>) -> Self {
        Self {
            registry_exe: Some(exe.into()),
            ..Self::default()
        }
    }
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            registry_exe: None,
            registry_in_process: false,
            registry_url: None,
            residents: 12,
            registry_timeout: Duration::from_secs(5),
            registry_delay: Duration::ZERO,
            limits: Limits::default(),
            attestation: eid_core::attestation::AttestationPolicy::danger_dev(),
            officers: eid_core::attestation::OfficerKeyPolicy::danger_dev(),
            registration: Default::default(),
            danger_implicit_flow: false,
            pkcs11: None,
            proofing: eid_core::proofing::ProofingPolicy::default(),
            login: eid_server::config::LoginWindows::default(),
        }
    }
}

/// The sandbox registry: a child process (killed when dropped), or a server in this process.
struct Registry {
    run: RegistryRun,
    url: url::Url,
}

enum RegistryRun {
    Process(tokio::process::Child),
    InProcess(actix_web::dev::ServerHandle),
}

impl Registry {
    async fn serve(residents: &Path, client_jwks: &str, delay: Duration) -> anyhow::Result<Self> {
        let running = population_registry::serve(population_registry::ServeOptions {
            residents: residents.to_path_buf(),
            listen: "127.0.0.1:0".parse()?,
            issuer: None,
            client_jwks_urls: vec![url::Url::parse(client_jwks)?],
            answer_delay: delay,
        })
        .await?;
        let url = url::Url::parse(&running.issuer)?;
        let handle = running.handle();
        tokio::spawn(running.wait());
        Ok(Self {
            run: RegistryRun::InProcess(handle),
            url,
        })
    }

    async fn stop(self) {
        match self.run {
            RegistryRun::Process(mut child) => {
                let _ = child.kill().await;
            }
            RegistryRun::InProcess(handle) => handle.stop(false).await,
        }
    }

    async fn spawn(
        exe: &Path,
        residents: &Path,
        client_jwks: &str,
        delay: Duration,
    ) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(exe)
            .arg("serve")
            .arg("--residents")
            .arg(residents)
            .args(["--listen", "127.0.0.1:0", "--client-jwks-url", client_jwks])
            .arg("--answer-delay-ms")
            .arg(delay.as_millis().to_string())
            .env("REGISTRY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let stdout = child.stdout.take().context("the registry's stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the registry did not start within 30 s")??
            .context("the registry exited before listening")?;
        let url = first
            .strip_prefix("population-registry listening on ")
            .with_context(|| format!("unexpected first line from the registry: {first}"))?;
        // Keep reading stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            run: RegistryRun::Process(child),
            url: url::Url::parse(url)?,
        })
    }
}

/// A running eid server with its own database, master key, temporary directory and (if asked)
/// its own sandbox registry with test residents.
pub struct TestServer {
    backend: Backend,
    database_url: String,
    master_key: String,
    options: TestOptions,
    server: Option<RunningServer>,
    registry: Option<Registry>,
    registry_url: Option<url::Url>,
    residents: Vec<Resident>,
    residents_dir: tempfile::TempDir,
    _database: TestDatabase,
}

impl TestServer {
    /// Starts a server over a fresh database of `backend`, without a registry.
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_with(backend, TestOptions::default()).await
    }

    /// Starts a server as `options` say.
    pub async fn start_with(backend: Backend, options: TestOptions) -> anyhow::Result<Self> {
        let database = TestDatabase::create(&backend)?;
        let master_key = MasterKey::generate().to_base64();
        let residents_dir = tempfile::tempdir()?;
        let seed = u64::from(uuid::Uuid::new_v4().as_fields().0);
        let residents =
            population_registry::generate(residents_dir.path(), options.residents, seed)?;
        let registry_url = options.registry_url.clone();
        let mut server = Self {
            backend,
            database_url: database.url.clone(),
            master_key,
            options,
            server: None,
            registry: None,
            registry_url,
            residents,
            residents_dir,
            _database: database,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        server.start_registry(listener.local_addr()?.port()).await?;
        server.launch(listener).await?;
        Ok(server)
    }

    async fn start_registry(&mut self, eid_port: u16) -> anyhow::Result<()> {
        let client_jwks = format!("http://localhost:{eid_port}/connectors/jwks");
        let delay = self.options.registry_delay;
        let registry = match &self.options.registry_exe {
            Some(exe) => {
                Some(Registry::spawn(exe, self.residents_dir.path(), &client_jwks, delay).await?)
            }
            None if self.options.registry_in_process => {
                Some(Registry::serve(self.residents_dir.path(), &client_jwks, delay).await?)
            }
            None => None,
        };
        if let Some(registry) = registry {
            if self.registry_url.is_none() {
                self.registry_url = Some(registry.url.clone());
            }
            self.registry = Some(registry);
        }
        Ok(())
    }

    async fn launch(&mut self, listener: std::net::TcpListener) -> anyhow::Result<()> {
        let options = self.start_options(listener)?;
        self.server = Some(eid_server::start(options).await?);
        Ok(())
    }

    /// Another node of the same deployment: a server of its own (its own pool, provider and
    /// listener) over the same database and master key, answering for the same issuer, as
    /// stateless nodes behind a load balancer do. Stop it with [`RunningServer::stop`].
    pub async fn another_node(&self) -> anyhow::Result<RunningServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let mut options = self.start_options(listener)?;
        options.issuer = Some(self.running().issuer.clone());
        options.admin_listen = None;
        eid_server::start(options).await
    }

    /// Another node as a process of its own: the `eid-server` binary at `exe`, over the same
    /// database and master key, for the same issuer, on a port of its own. It is killed when
    /// the returned handle is dropped.
    pub async fn another_process(&self, exe: &Path) -> anyhow::Result<NodeProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let admin = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data_dir = tempfile::tempdir()?;
        let child = tokio::process::Command::new(exe)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{admin}"))
            .arg("--issuer")
            .arg(self.issuer())
            .arg("--database")
            .arg(&self.database_url)
            .arg("--data-dir")
            .arg(data_dir.path())
            .env("EID_MASTER_KEY", &self.master_key)
            .env("EID_LOG", "warn")
            .env_remove("EID_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let probe = format!("{url}/.well-known/openid-configuration");
        for _ in 0..300 {
            if let Ok(r) = reqwest::get(&probe).await {
                if r.status().is_success() {
                    return Ok(NodeProcess {
                        url,
                        port,
                        _child: child,
                        _data_dir: data_dir,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the second eid-server process did not start within 30 s")
    }

    fn start_options(&self, listener: std::net::TcpListener) -> anyhow::Result<StartOptions> {
        let mut options = StartOptions::new(
            listener.local_addr()?,
            self.database_url.clone(),
            MasterKey::from_base64(&self.master_key)?,
        );
        options.listener = Some(listener);
        options.pool_size = 8;
        // The tests' relying parties listen on this machine.
        options.outbound.danger_allow_private_addresses = true;
        options.admin_listen = Some("127.0.0.1:0".parse()?);
        options.limits = self.options.limits;
        options.attestation = self.options.attestation.clone();
        options.officers = self.options.officers.clone();
        options.registration = self.options.registration.clone();
        options.danger_implicit_flow = self.options.danger_implicit_flow;
        options.pkcs11 = self.options.pkcs11.clone();
        options.proofing = self.options.proofing.clone();
        options.login = self.options.login;
        options.registry = match &self.registry_url {
            Some(url) => {
                let mut settings = RegistrySettings::at(url.clone())?;
                settings.timeout = self.options.registry_timeout;
                // The sandbox registry's capture root, as `[proofing] capture_roots` names it.
                let pem = std::fs::read_to_string(
                    self.residents_dir
                        .path()
                        .join(population_registry::CAPTURE_ROOT_FILE),
                )?;
                settings.capture_roots = eid_server::config::CaptureRootSource::Loaded(
                    std::sync::Arc::new(eid_core::capture::CaptureRoots::from_pem(&pem)?),
                );
                Some(settings)
            }
            None => None,
        };
        Ok(options)
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

    /// The officer console's origin (no trailing slash).
    pub fn admin_origin(&self) -> String {
        self.running()
            .admin
            .as_ref()
            .map(|(_, origin)| origin.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    /// The officer console's origin + `path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin_origin())
    }

    /// The provider, for in-process administration.
    pub fn provider(&self) -> Arc<Provider> {
        Arc::clone(&self.running().provider)
    }

    /// The registry eid asks, if any.
    pub fn registry_url(&self) -> Option<url::Url> {
        self.registry_url.clone()
    }

    /// The registry's test residents.
    pub fn residents(&self) -> &[Resident] {
        &self.residents
    }

    /// The live-capture face template file of a resident (what `eid-wallet prove` reads).
    pub fn capture_path(&self, resident: &Resident) -> PathBuf {
        self.residents_dir
            .path()
            .join(population_registry::CAPTURES_DIR)
            .join(format!(
                "{}.json",
                population_registry::file_stem(&resident.hkid)
            ))
    }

    /// The live-capture face template of a resident.
    pub fn capture(&self, resident: &Resident) -> anyhow::Result<Vec<f32>> {
        let capture: population_registry::Capture =
            serde_json::from_slice(&std::fs::read(self.capture_path(resident))?)?;
        Ok(capture.face_template)
    }

    /// The capture component of a phone in this sandbox: it signs captures with the sandbox
    /// registry's capture key (every resident's capture file carries the same one).
    pub fn capture_signer(&self, resident: &Resident) -> anyhow::Result<eid_wallet::CaptureSigner> {
        let capture: population_registry::Capture =
            serde_json::from_slice(&std::fs::read(self.capture_path(resident))?)?;
        eid_wallet::CaptureSigner::from_file(&capture)?
            .context("the sandbox capture file has no capture key")
    }

    /// A wallet that applied as resident `index` and proved it remotely (an account at level
    /// basic).
    pub async fn proven_wallet(&self, index: usize) -> anyhow::Result<eid_wallet::Wallet> {
        let resident = self
            .residents()
            .get(index)
            .cloned()
            .context("no such test resident")?;
        let mut wallet = self.applied_wallet(index).await?;
        wallet
            .prove(&eid_proto::api::ProofingEvidence {
                hkid: resident.hkid.clone(),
                english_name: resident.english_name.clone(),
                date_of_birth: resident.date_of_birth.clone(),
                face_template: self.capture(&resident)?,
                capture: None,
            })
            .await?;
        Ok(wallet)
    }

    /// A wallet that applied for test resident `index` (not proven yet).
    pub async fn applied_wallet(&self, index: usize) -> anyhow::Result<eid_wallet::Wallet> {
        self.apply_with(eid_wallet::Wallet::in_memory(), index)
            .await
    }

    /// `wallet` (an attested one, say) applies for test resident `index`.
    pub async fn apply_with(
        &self,
        mut wallet: eid_wallet::Wallet,
        index: usize,
    ) -> anyhow::Result<eid_wallet::Wallet> {
        let resident = self
            .residents()
            .get(index)
            .cloned()
            .context("no such test resident")?;
        wallet
            .enrol(
                &url::Url::parse(&self.issuer())?,
                &eid_proto::api::EnrolmentRequest {
                    english_name: resident.english_name.clone(),
                    chinese_name: Some(resident.chinese_name.clone()),
                    date_of_birth: resident.date_of_birth.clone(),
                    gender: resident.gender.clone(),
                    hkid: resident.hkid.clone(),
                    email: None,
                    phone: None,
                    address: None,
                    device_name: "test phone".into(),
                },
            )
            .await?;
        wallet.set_capture_signer(Some(self.capture_signer(&resident)?));
        Ok(wallet)
    }

    /// Stops the registry (eid then finds it down).
    pub async fn stop_registry(&mut self) {
        if let Some(registry) = self.registry.take() {
            registry.stop().await;
        }
    }

    /// Starts the registry again (on a new port; eid is restarted to use it).
    pub async fn start_registry_again(&mut self) -> anyhow::Result<()> {
        self.stop_registry().await;
        self.registry_url = None;
        let port = self.running().local_addr.port();
        self.start_registry(port).await?;
        self.restart().await
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
        Ok((new.client.client_id.into_string(), new.client_secret))
    }

    /// Registers a client with any metadata; returns it with its secret.
    pub async fn register_client(
        &self,
        registration: eid_core::clients::ClientRegistration,
    ) -> anyhow::Result<eid_core::clients::NewClient> {
        let provider = self.provider();
        Ok(tokio::task::spawn_blocking(move || {
            provider.register_client(&registration, eid_server::now())
        })
        .await??)
    }

    /// Every stored row, as text (see `eid_store::Database::fingerprint`).
    pub async fn fingerprint(&self) -> anyhow::Result<Vec<String>> {
        let db = self.running().db.clone();
        Ok(tokio::task::spawn_blocking(move || db.fingerprint()).await??)
    }

    /// Rows per table (see `eid_store::Database::row_counts`).
    pub async fn row_counts(&self) -> anyhow::Result<Vec<(&'static str, i64)>> {
        let db = self.running().db.clone();
        Ok(tokio::task::spawn_blocking(move || db.row_counts()).await??)
    }

    /// The database's URL (`sqlite://...` or `postgres://...`).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The database, for tests that read what is stored.
    pub fn database(&self) -> eid_store::Database {
        self.running().db.clone()
    }

    /// Stops the server and starts a new one on the same address, over the same database,
    /// master key and registry: what an operator's restart does.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let listen = self.running().local_addr;
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        let listener = std::net::TcpListener::bind(listen)?;
        self.launch(listener).await
    }

    /// Stops the server and the registry; the database is dropped.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.stop_registry().await;
    }
}
