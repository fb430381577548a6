//! eid's conformance suite: the OpenID Foundation's provider test modules, by the same ids, and
//! eid's own plans, run as a relying party against any OpenID provider.
//!
//! The Foundation's suite needs Docker, MongoDB and a scripted browser that cannot approve on a
//! phone; this one is a library and a binary (`eid-conformance`) that an auditor runs from a
//! laptop. A [`Plan`] is a list of [`Module`]s; each module acts as the relying party over raw
//! HTTP ([`Ctx`]), gets a person through the provider's login with a login driver (eid's
//! phone, or a plain username/password form, see [`driver`]), checks every answer as the
//! specifications say, and ends with a [`Verdict`] and the evidence ([`log`], with every HTTP
//! exchange, secrets masked). [`report`] writes JSON, JUnit XML and a self-contained HTML page.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use eid_conformance::{config::*, plans, Suite};
//! let clients = read_clients(std::path::Path::new("clients.toml"))?;
//! let config = SuiteConfig::new(
//!     "https://eid.example",
//!     clients,
//!     DriverConfig::Form { username: "alice".into(), password: "secret".into() },
//! )?;
//! let suite = Suite::new(config)?;
//! let plan = plans::find("oidcc-config").ok_or_else(|| anyhow::anyhow!("no such plan"))?;
//! let report = suite.run(&plan, &[]).await;
//! assert!(!report.failed());
//! # Ok(()) }
//! ```
//!
//! The suite is not tuned to eid: its own tests run it against a deliberately faulty provider
//! (the modules aimed at each fault must fail, the others must not) and CI runs it against
//! node-oidc-provider, an OpenID-certified provider.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;

pub mod config;
pub mod context;
pub mod documents;
pub mod driver;
pub mod expectations;
pub mod http;
pub mod idtoken;
pub mod jose;
pub mod log;
pub mod plans;
pub mod report;

pub use context::{Ctx, ResponseMode};
pub use log::{ModuleReport, Stop, Verdict};

/// A module's body: checks the provider and logs what it finds into the context.
pub type ModuleFn =
    for<'a, 'b> fn(&'a mut Ctx<'b>) -> Pin<Box<dyn Future<Output = Result<(), Stop>> + Send + 'a>>;

/// A test module, named by the OpenID Foundation's id where it mirrors one of theirs.
#[derive(Clone)]
pub struct Module {
    pub id: &'static str,
    pub summary: &'static str,
    pub run: ModuleFn,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("id", &self.id).finish()
    }
}

/// A named list of modules, run with one response mode.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: &'static str,
    pub summary: &'static str,
    pub response_mode: ResponseMode,
    /// Checked before each module: a plan that does not apply to the provider (form_post not
    /// offered, no dynamic registration) skips every module with the reason.
    pub precondition: Option<ModuleFn>,
    pub modules: Vec<Module>,
}

/// A plan's results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanReport {
    pub plan: String,
    pub summary: String,
    pub issuer: String,
    pub driver: String,
    pub suite_version: String,
    /// Unix seconds.
    pub started_at: i64,
    pub duration_ms: u64,
    /// Settings that weaken checks (plain HTTP allowed), so that a reader knows.
    pub dangers: Vec<String>,
    pub modules: Vec<ModuleReport>,
}

impl PlanReport {
    pub fn failed(&self) -> bool {
        self.modules.iter().any(|m| m.verdict == Verdict::Failed)
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.modules.iter().filter(|m| m.verdict == verdict).count()
    }
}

/// The suite, ready to run plans against one provider.
pub struct Suite {
    pub config: config::SuiteConfig,
    /// The relying party's back channel (token, userinfo, discovery).
    pub http: reqwest::Client,
    /// The phone of the wallet driver.
    pub wallet: Option<tokio::sync::Mutex<eid_wallet::Wallet>>,
    /// Where the suite serves documents for the provider to fetch; modules that need it are
    /// skipped without it.
    pub documents: Option<std::sync::Arc<documents::Documents>>,
}

/// An HTTP client that follows no redirects and gives up on a silent provider.
pub fn new_client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .timeout(Duration::from_secs(30))
        .user_agent(concat!(
            "Mozilla/5.0 (X11; Linux x86_64) eid-conformance/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

impl Suite {
    pub fn new(config: config::SuiteConfig) -> anyhow::Result<Self> {
        let wallet = match &config.driver {
            config::DriverConfig::Wallet { path } => Some(tokio::sync::Mutex::new(
                eid_wallet::Wallet::open(path)
                    .map_err(|e| anyhow::anyhow!("opening the wallet {}: {e}", path.display()))?,
            )),
            config::DriverConfig::Form { .. } => None,
        };
        Ok(Self {
            config,
            http: new_client(false),
            wallet,
            documents: None,
        })
    }

    /// The suite, serving documents at `documents`.
    pub fn with_documents(mut self, documents: std::sync::Arc<documents::Documents>) -> Self {
        self.documents = Some(documents);
        self
    }

    /// A suite whose wallet driver uses `wallet` (a wallet held in memory, in tests).
    pub fn with_wallet(config: config::SuiteConfig, wallet: eid_wallet::Wallet) -> Self {
        Self {
            config,
            http: new_client(false),
            wallet: Some(tokio::sync::Mutex::new(wallet)),
            documents: None,
        }
    }

    /// Runs `plan`'s modules (only those in `only`, when it is not empty), one after another.
    pub async fn run(&self, plan: &Plan, only: &[String]) -> PlanReport {
        let started = std::time::Instant::now();
        let started_at = context::now();
        let mut modules = Vec::new();
        for module in &plan.modules {
            if only.is_empty() || only.iter().any(|m| m == module.id) {
                modules.push(self.run_module(plan, module).await);
            }
        }
        self.report(plan, started, started_at, modules)
    }

    /// [`Suite::run`], with up to `jobs` modules running at a time (their real-time waits, a
    /// code's or a request URI's lifetime, overlap); the report lists them in the plan's order.
    /// Each module has its own browser, keys and nonces. With the wallet driver the one phone
    /// answers one module at a time.
    /// (Its future is not `Send`: spawn [`Suite::run`] instead.)
    pub async fn run_jobs(&self, plan: &Plan, only: &[String], jobs: usize) -> PlanReport {
        use futures_util::stream::{self, StreamExt as _};
        if jobs <= 1 {
            return self.run(plan, only).await;
        }
        let started = std::time::Instant::now();
        let started_at = context::now();
        let selected = plan
            .modules
            .iter()
            .filter(|module| only.is_empty() || only.iter().any(|m| m == module.id));
        let modules: Vec<ModuleReport> = stream::iter(selected)
            .map(|module| self.run_module(plan, module))
            .buffered(jobs)
            .collect()
            .await;
        self.report(plan, started, started_at, modules)
    }

    /// A plan's report of its modules' reports.
    fn report(
        &self,
        plan: &Plan,
        started: std::time::Instant,
        started_at: i64,
        modules: Vec<ModuleReport>,
    ) -> PlanReport {
        let mut dangers = Vec::new();
        if self.config.danger_allow_http {
            dangers.push(
                "--danger-allow-http: plain-HTTP endpoints were warnings, not failures".into(),
            );
        }
        PlanReport {
            plan: plan.name.into(),
            summary: plan.summary.into(),
            issuer: self.config.issuer.clone(),
            driver: match &self.config.driver {
                config::DriverConfig::Wallet { .. } => "wallet".into(),
                config::DriverConfig::Form { .. } => "form".into(),
            },
            suite_version: env!("CARGO_PKG_VERSION").into(),
            started_at,
            duration_ms: started.elapsed().as_millis() as u64,
            dangers,
            modules,
        }
    }

    /// Runs one module and judges its log.
    pub async fn run_module(&self, plan: &Plan, module: &Module) -> ModuleReport {
        let mut ctx = Ctx::new(self, plan.response_mode);
        let ready = match plan.precondition {
            Some(precondition) => precondition(&mut ctx).await,
            None => Ok(()),
        };
        let stop = match ready {
            Ok(()) => (module.run)(&mut ctx).await.err(),
            Err(stop) => Some(stop),
        };
        let duration_ms = ctx.elapsed_ms();
        let log = ctx.into_log();
        let (verdict, reason) = ModuleReport::judge(&log, stop.as_ref());
        ModuleReport {
            id: module.id.into(),
            summary: module.summary.into(),
            verdict,
            reason,
            duration_ms,
            log,
        }
    }
}

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(data: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .ok()
}
