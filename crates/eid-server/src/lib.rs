//! eid-server: the thin actix-web layer over [`eid_core::Provider`].
//!
//! Handlers extract the request, run one core flow on a blocking thread ([`run`]), and map the
//! result (see [`error`] for the one mapping from core errors to HTTP). Routes are mounted by
//! [`configure`], so the binary and the tests serve the same application; [`start`] binds,
//! opens the database and the provider, and runs the server until stopped.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use eid_server::{start, StartOptions};
//! let server = start(StartOptions {
//!     listen: "127.0.0.1:0".parse()?,
//!     issuer: None, // http://localhost:<port>
//!     database: "sqlite:///tmp/eid.db".into(),
//!     master_key: eid_core::crypto::MasterKey::generate(),
//!     pool_size: 4,
//! })
//! .await?;
//! println!("eid at {}", server.issuer);
//! server.stop().await;
//! # Ok(()) }
//! ```

mod api;
pub mod config;
pub mod error;
mod oidc;
pub mod pages;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
use eid_core::crypto::MasterKey;
use eid_core::{Error, Provider, ProviderConfig};
use eid_store::Database;
use url::Url;

/// What every handler shares.
pub struct AppState {
    pub provider: Arc<Provider>,
    pub db: Database,
    /// Cookies get `Secure` when the issuer is https.
    pub secure_cookies: bool,
}

/// Unix seconds now. The core never reads the clock; the server passes it in.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs a core flow on the blocking pool: database calls and cryptography never block the
/// async executor.
pub async fn run<T, F>(state: &web::Data<AppState>, flow: F) -> Result<T, Error>
where
    F: FnOnce(&Provider, i64) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let provider = Arc::clone(&state.provider);
    web::block(move || flow(&provider, now()))
        .await
        .map_err(|e| Error::Crypto(format!("blocking task failed: {e}")))?
}

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    oidc::configure(cfg);
    api::configure(cfg);
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
    /// `None`: `http://localhost:<bound port>`.
    pub issuer: Option<Url>,
    pub database: String,
    pub master_key: MasterKey,
    pub pool_size: u32,
}

/// A running server.
pub struct RunningServer {
    pub issuer: Url,
    pub local_addr: SocketAddr,
    /// The provider the server runs, for administration in-process (tests, embedding).
    pub provider: Arc<Provider>,
    /// The database pool.
    pub db: Database,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    janitor: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections, finishes requests in flight, and returns.
    pub async fn stop(self) {
        self.janitor.abort();
        self.handle.stop(true).await;
        let _ = self.task.await;
    }

    /// Runs until the process is told to stop (SIGINT/SIGTERM): actix shuts down gracefully.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self
            .task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.janitor.abort();
        result
    }
}

/// Opens the database and provider, binds and starts serving on the current Tokio runtime.
pub async fn start(options: StartOptions) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(options.listen)?;
    let local_addr = listener.local_addr()?;
    let issuer = match options.issuer {
        Some(issuer) => issuer,
        None => Url::parse(&format!("http://localhost:{}", local_addr.port()))?,
    };
    config::validate_issuer(&issuer)?;
    let database = options.database.clone();
    let pool_size = options.pool_size;
    let master_key = options.master_key;
    let provider_config = ProviderConfig::new(issuer.clone());
    let (db, provider) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let db = Database::open(&database, pool_size)?;
        let provider = Provider::open(Arc::new(db.clone()), &master_key, provider_config, now())?;
        Ok((db, provider))
    })
    .await??;
    let state = web::Data::new(AppState {
        provider: Arc::new(provider),
        db,
        secure_cookies: issuer.scheme() == "https",
    });
    let janitor = tokio::spawn(janitor(state.clone()));
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(api::json_config())
            .wrap(actix_web::middleware::from_fn(oidc::access_log))
            .configure(configure)
            .default_service(web::to(oidc::not_found))
    })
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%issuer, %local_addr, "eid is serving");
    Ok(RunningServer {
        issuer,
        local_addr,
        provider: Arc::clone(&state.provider),
        db: state.db.clone(),
        handle,
        task,
        janitor,
    })
}

/// Purges expired rows every ten minutes.
async fn janitor(state: web::Data<AppState>) {
    let mut interval = tokio::time::interval(Duration::from_secs(600));
    loop {
        interval.tick().await;
        match run(&state, |p, now| p.purge_expired(now)).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired rows"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "purging expired rows failed"),
        }
    }
}
