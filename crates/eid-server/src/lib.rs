//! eid-server: the thin actix-web layer over [`eid_core::Provider`].
//!
//! Handlers extract the request, run one core flow on a blocking thread ([`run`]), and map the
//! result (see [`error`] for the one mapping from core errors to HTTP). Routes are mounted by
//! [`configure`] (the public server) and [`console::configure`] (the officer console, on its own
//! listener), so the binary and the tests serve the same applications; [`start`] binds, opens
//! the database and the provider, and runs both servers until stopped.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use eid_server::{start, StartOptions};
//! let server = start(StartOptions::new(
//!     "127.0.0.1:0".parse()?,
//!     "sqlite:///tmp/eid.db".into(),
//!     eid_core::crypto::MasterKey::generate(),
//! ))
//! .await?;
//! println!("eid at {}", server.issuer);
//! server.stop().await;
//! # Ok(()) }
//! ```

mod account;
mod account_pages;
mod api;
pub mod config;
pub mod console;
pub mod error;
mod extract;
pub mod guard;
mod oidc;
pub mod outbound;
pub mod pages;
mod pki;
mod portal;
pub mod qr;
mod registry;
mod session;
mod signing;

use eid_core::time::UnixTime;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
use eid_core::crypto::MasterKey;
use eid_core::limits::Limits;
use eid_core::{Error, Provider, ProviderConfig, RegistryConfig};
use eid_store::Database;
use url::Url;

pub use config::RegistrySettings;
use registry::RegistryClient;

/// What every handler shares.
pub struct AppState {
    pub provider: Arc<Provider>,
    pub db: Database,
    /// Cookies get `Secure` when the issuer is https.
    pub secure_cookies: bool,
    /// The population registry, when remote proofing is on.
    registry: Option<RegistryClient>,
    /// Connection counts and trusted proxies of the public listener.
    pub guard: Arc<guard::Guard>,
}

/// What the officer console's handlers share.
pub struct ConsoleState {
    pub provider: Arc<Provider>,
    /// Cookies get `Secure` when the console's origin is https.
    pub secure_cookies: bool,
}

/// Unix seconds now. The core never reads the clock; the server passes it in.
#[allow(clippy::disallowed_methods)] // The one place the clock is read (clippy.toml).
pub fn now() -> UnixTime {
    UnixTime::from_secs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    )
}

/// Runs a core flow on the blocking pool: database calls and cryptography never block the
/// async executor.
pub async fn run<T, E, F>(provider: &Arc<Provider>, flow: F) -> Result<T, E>
where
    F: FnOnce(&Provider, UnixTime) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    let provider = Arc::clone(provider);
    // The request's span (its client's address) goes along to the blocking thread.
    let span = tracing::Span::current();
    web::block(move || span.in_scope(|| flow(&provider, now())))
        .await
        .map_err(|e| E::from(Error::Internal(format!("blocking task failed: {e}"))))?
}

/// Mounts every route of the public server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    oidc::configure(cfg);
    account::configure(cfg);
    portal::configure(cfg);
    api::configure(cfg);
    pki::configure(cfg);
    signing::configure(cfg);
    cfg.route("/healthz", web::get().to(healthz));
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    match web::block(move || db.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })),
        _ => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
        }
    }
}

/// How to start a server.
pub struct StartOptions {
    pub listen: SocketAddr,
    /// A listener already bound (tests bind first to learn the port); overrides `listen`.
    pub listener: Option<TcpListener>,
    /// `None`: `http://localhost:<bound port>`.
    pub issuer: Option<Url>,
    pub database: String,
    pub master_key: MasterKey,
    pub pool_size: u32,
    /// The officer console's listener; `None` leaves the console off.
    pub admin_listen: Option<SocketAddr>,
    /// `None`: `http://localhost:<admin port>`.
    pub admin_origin: Option<Url>,
    /// Remote proofing; `None` leaves it off.
    pub registry: Option<RegistrySettings>,
    pub face_match_threshold: f64,
    /// `[proofing]`: unsigned captures, the recovery hold.
    pub proofing: eid_core::proofing::ProofingPolicy,
    pub limits: Limits,
    /// How long an application waits for proofing (seconds).
    pub application_ttl: i64,
    /// How long a device joined by link code may not remove older devices (seconds).
    pub link_cooling_off: i64,
    /// How long logins wait for the phone and the browser.
    pub login: config::LoginWindows,
    /// How long refresh tokens live.
    pub tokens: config::TokenLifetimes,
    /// How long single sign-on sessions live.
    pub sessions: eid_core::sso::SessionConfig,
    /// Who may register clients at `/register`.
    pub registration: eid_core::oidc::registration::RegistrationPolicy,
    /// Connections per address, the request deadline, trusted proxies.
    pub guard: guard::GuardSettings,
    /// Connections the public listener holds at most, over all workers.
    pub max_connections: usize,
    /// Which device keys are accepted, at which level.
    pub attestation: eid_core::attestation::AttestationPolicy,
    /// Which security keys officers may register (`[officers]`).
    pub officers: eid_core::attestation::OfficerKeyPolicy,
    /// Where eid may send requests (back-channel logout, clients' key sets).
    pub outbound: outbound::OutboundPolicy,
    /// Offer the implicit flow (`[oidc] danger_implicit_flow`).
    pub danger_implicit_flow: bool,
    /// A PKCS#11 token for new keys (`[keys]`); `None`: software keys.
    pub pkcs11: Option<eid_hsm::Pkcs11Config>,
    /// The document-signing PKI's names and lifetimes (`[pki]`).
    pub pki: config::PkiSettings,
}

impl StartOptions {
    /// Defaults: no officer console, no registry, default limits.
    pub fn new(listen: SocketAddr, database: String, master_key: MasterKey) -> Self {
        Self {
            listen,
            listener: None,
            issuer: None,
            database,
            master_key,
            pool_size: 16,
            admin_listen: None,
            admin_origin: None,
            registry: None,
            face_match_threshold: 0.8,
            proofing: eid_core::proofing::ProofingPolicy::default(),
            limits: Limits::default(),
            application_ttl: 7 * 86_400,
            link_cooling_off: 7 * 86_400,
            login: config::LoginWindows::default(),
            tokens: config::TokenLifetimes::default(),
            sessions: eid_core::sso::SessionConfig::default(),
            registration: Default::default(),
            guard: guard::GuardSettings::default(),
            max_connections: 10_000,
            attestation: eid_core::attestation::AttestationPolicy::default(),
            officers: eid_core::attestation::OfficerKeyPolicy::default(),
            outbound: outbound::OutboundPolicy::default(),
            danger_implicit_flow: false,
            pkcs11: None,
            pki: config::PkiSettings::default(),
        }
    }
}

/// A running server.
pub struct RunningServer {
    pub issuer: Url,
    pub local_addr: SocketAddr,
    /// The officer console's address and origin, when it runs.
    pub admin: Option<(SocketAddr, Url)>,
    /// The provider the server runs, for administration in-process (tests, embedding).
    pub provider: Arc<Provider>,
    /// The database pool.
    pub db: Database,
    handles: Vec<ServerHandle>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The janitor and the logout courier: stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections, finishes requests in flight, and returns.
    pub async fn stop(self) {
        for task in &self.background {
            task.abort();
        }
        for handle in &self.handles {
            handle.stop(true).await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Runs until the process is told to stop (SIGINT/SIGTERM): actix shuts down gracefully.
    pub async fn wait(self) -> std::io::Result<()> {
        let mut result = Ok(());
        for task in self.tasks {
            let outcome = task
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
            if result.is_ok() {
                result = outcome;
            }
        }
        for task in &self.background {
            task.abort();
        }
        result
    }
}

/// The PKCS#11 token new keys go to, when one is configured.
pub fn custody(
    pkcs11: Option<&eid_hsm::Pkcs11Config>,
) -> anyhow::Result<Option<Arc<dyn eid_core::custody::KeyCustody>>> {
    let Some(config) = pkcs11 else {
        return Ok(None);
    };
    let token = eid_hsm::Pkcs11Custody::open(config)?;
    tracing::info!(token = %config.token_label, module = %config.module.display(), "keys are generated in a PKCS#11 token");
    Ok(Some(Arc::new(token)))
}

/// Opens the database and provider, binds and starts serving on the current Tokio runtime.
pub async fn start(options: StartOptions) -> anyhow::Result<RunningServer> {
    let listener = match options.listener {
        Some(listener) => listener,
        None => TcpListener::bind(options.listen)?,
    };
    let local_addr = listener.local_addr()?;
    let issuer = match options.issuer {
        Some(issuer) => issuer,
        None => Url::parse(&format!("http://localhost:{}", local_addr.port()))?,
    };
    config::validate_issuer(&issuer)?;
    let admin = match options.admin_listen {
        Some(addr) => {
            let admin_listener = TcpListener::bind(addr)?;
            let admin_addr = admin_listener.local_addr()?;
            if admin_addr == local_addr {
                anyhow::bail!("the officer console must not share the public listener");
            }
            let origin = match options.admin_origin {
                Some(origin) => origin,
                None => Url::parse(&format!("http://localhost:{}", admin_addr.port()))?,
            };
            Some((admin_listener, admin_addr, origin))
        }
        None => None,
    };
    let mut provider_config = ProviderConfig::new(issuer.clone());
    provider_config.admin_origin = admin.as_ref().map(|(_, _, origin)| origin.clone());
    provider_config.registry = options.registry.as_ref().map(|r| RegistryConfig {
        registry_id: r.id.clone(),
    });
    provider_config.face_match_threshold = options.face_match_threshold;
    provider_config.proofing = options.proofing.clone();
    provider_config.limits = options.limits;
    provider_config.application_ttl = options.application_ttl;
    provider_config.link_cooling_off = options.link_cooling_off;
    provider_config.approval_window = options.login.approval;
    provider_config.completion_window = options.login.completion;
    provider_config.login_ttl = options.login.page_lifetime;
    provider_config.refresh_token_idle_ttl = options.tokens.refresh_idle;
    provider_config.refresh_token_max_ttl = options.tokens.refresh_max;
    provider_config.registration = options.registration.clone();
    provider_config.attestation = options.attestation.clone();
    provider_config.officers = options.officers.clone();
    provider_config.danger_implicit_flow = options.danger_implicit_flow;
    provider_config.pki = options.pki.for_issuer(&issuer);
    provider_config.sessions = options.sessions;
    let database = options.database.clone();
    let pool_size = options.pool_size;
    let master_key = options.master_key;
    let pkcs11 = options.pkcs11.clone();
    let (db, provider) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let db = Database::open(&database, pool_size)?;
        let provider = Provider::open_with_custody(
            Arc::new(db.clone()),
            &master_key,
            custody(pkcs11.as_ref())?,
            provider_config,
            now(),
        )?;
        provider.ensure_account_client(now())?;
        Ok((db, provider))
    })
    .await??;
    let provider = Arc::new(provider);
    let registry = options
        .registry
        .map(|r| RegistryClient::new(&r))
        .transpose()?;
    let guard = guard::Guard::new(options.guard.clone());
    let state = web::Data::new(AppState {
        provider: Arc::clone(&provider),
        db: db.clone(),
        secure_cookies: issuer.scheme() == "https",
        registry,
        guard: Arc::clone(&guard),
    });
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    // Below the process's file descriptors, whatever was configured: past them, accepting
    // fails for everyone, the health check included.
    let max_connections = match open_files_limit() {
        Some(limit) if options.max_connections + 256 > limit => {
            let capped = limit.saturating_sub(256).max(16);
            tracing::warn!(
                configured = options.max_connections,
                capped,
                open_files_limit = limit,
                "max_connections lowered below the open-files limit (raise `ulimit -n`)"
            );
            capped
        }
        _ => options.max_connections,
    };
    let janitor = tokio::spawn(janitor(Arc::clone(&provider)));
    outbound::note_environment_proxy();
    provider.set_fetcher(Arc::new(outbound::HttpFetcher::start(options.outbound)?));
    let courier = tokio::spawn(logout_courier(Arc::clone(&provider), options.outbound));
    let app_state = state.clone();
    let https = issuer.scheme() == "https";
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(api::json_config())
            .app_data(web::PayloadConfig::new(64 * 1024))
            // HSTS only means something over https; eid behind a TLS proxy says it for its host.
            .wrap(actix_web::middleware::Condition::new(
                https,
                actix_web::middleware::DefaultHeaders::new().add((
                    actix_web::http::header::STRICT_TRANSPORT_SECURITY,
                    "max-age=31536000; includeSubDomains",
                )),
            ))
            // Every response, JSON included, is read as the type it says (review 2026-12-07,
            // I1); the guard's own answers say it themselves.
            .wrap(nosniff())
            .wrap(actix_web::middleware::from_fn(oidc::access_log))
            // Outermost: refuses before anything else reads the request.
            .wrap(actix_web::middleware::from_fn(guard::middleware))
            .configure(configure)
            .default_service(web::to(oidc::not_found))
    })
    .on_connect(move |io, extensions| guard.on_connect(io, extensions))
    .workers(workers)
    // The head must arrive within 5 s (the body, within the request deadline); idle
    // keep-alive connections close after 15 s.
    .client_request_timeout(Duration::from_secs(5))
    .client_disconnect_timeout(Duration::from_millis(500))
    .keep_alive(Duration::from_secs(15))
    .max_connections(max_connections.div_ceil(workers).max(1))
    .max_connection_rate(256)
    .backlog(1024)
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    let mut handles = vec![server.handle()];
    let mut tasks = vec![tokio::spawn(server)];
    tracing::info!(issuer = %issuer.as_str().trim_end_matches('/'), %local_addr, "eid is serving");
    let admin = match admin {
        Some((admin_listener, admin_addr, origin)) => {
            let console_state = web::Data::new(ConsoleState {
                provider: Arc::clone(&provider),
                secure_cookies: origin.scheme() == "https",
            });
            let console = HttpServer::new(move || {
                App::new()
                    .app_data(console_state.clone())
                    .app_data(api::json_config())
                    .wrap(actix_web::middleware::from_fn(oidc::access_log))
                    .wrap(nosniff())
                    .configure(console::configure)
                    .default_service(web::to(console::not_found))
            })
            .shutdown_timeout(10)
            .workers(1)
            .listen(admin_listener)?
            .run();
            handles.push(console.handle());
            tasks.push(tokio::spawn(console));
            tracing::info!(origin = %origin.as_str().trim_end_matches('/'), %admin_addr, "officer console is serving");
            Some((admin_addr, origin))
        }
        None => None,
    };
    Ok(RunningServer {
        issuer,
        local_addr,
        admin,
        provider,
        db,
        handles,
        tasks,
        background: vec![janitor, courier],
    })
}

/// `X-Content-Type-Options: nosniff` on every response.
fn nosniff() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

/// The soft limit on open files (Linux `/proc/self/limits`), if it can be read.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Delivers back-channel logout tokens (OIDC Back-Channel Logout §2.5): a form POST to each
/// client's `backchannel_logout_uri`, without following redirects, with a time limit; 200 or
/// 204 is delivered, anything else is retried later.
async fn logout_courier(provider: Arc<Provider>, policy: outbound::OutboundPolicy) {
    let http = match outbound::client(policy) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "no HTTP client for back-channel logout");
            return;
        }
    };
    let mut interval = tokio::time::interval(Duration::from_secs(2));
    loop {
        interval.tick().await;
        let due = match run(&provider, |p, now| p.take_due_logouts(now)).await {
            Ok(due) => due,
            Err::<_, Error>(error) => {
                tracing::warn!(%error, "reading the back-channel logouts failed");
                continue;
            }
        };
        for delivery in due {
            let url = match outbound::check_url(&delivery.uri, policy) {
                Ok(url) => url,
                Err(reason) => {
                    tracing::warn!(target: "eid::security", event = "backchannel_logout_refused", client_id = %delivery.client_id, reason = %reason, "a back-channel logout URI is outside the outbound policy");
                    if let Err::<_, Error>(error) = run(&provider, move |p, now| {
                        p.logout_attempted(&delivery, false, now)
                    })
                    .await
                    {
                        tracing::warn!(%error, "recording a refused back-channel logout failed");
                    }
                    continue;
                }
            };
            let sent = http
                .post(url)
                .header(reqwest::header::CACHE_CONTROL, "no-store")
                .form(&[("logout_token", delivery.logout_token.as_str())])
                .send()
                .await;
            let delivered = matches!(&sent, Ok(r) if matches!(r.status().as_u16(), 200 | 204));
            if !delivered {
                tracing::info!(client_id = %delivery.client_id, attempt = delivery.attempts + 1, "a back-channel logout was not accepted; it will be retried");
            }
            if let Err::<_, Error>(error) = run(&provider, move |p, now| {
                p.logout_attempted(&delivery, delivered, now)
            })
            .await
            {
                tracing::warn!(%error, "recording a back-channel logout failed");
            }
        }
    }
}

/// Every minute: purges expired rows (a login nobody approved is gone soon after its window)
/// and reads the token keys again (a rotation on any node reaches every node).
async fn janitor(provider: Arc<Provider>) {
    let mut interval = tokio::time::interval(Duration::from_secs(
        eid_core::KEY_RELOAD_SECS.unsigned_abs(),
    ));
    loop {
        interval.tick().await;
        match run(&provider, |p, now| p.purge_expired(now)).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired rows"),
            Ok(_) => {}
            Err::<_, Error>(error) => tracing::warn!(%error, "purging expired rows failed"),
        }
        if let Err::<_, Error>(error) = run(&provider, |p, now| p.reload_token_keys(now)).await {
            tracing::warn!(%error, "reading the token keys again failed");
        }
    }
}
