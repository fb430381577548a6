//! `eid-conformance`: lists plans, and runs them against an OpenID provider.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use eid_conformance::config::{
    read_clients, ClientAuth, ClientConfig, DriverConfig, Pkce, SuiteConfig,
};
use eid_conformance::{plans, report, Suite};

#[derive(Parser)]
#[command(
    name = "eid-conformance",
    version,
    about = "The auditors' conformance suite: OpenID Foundation \
    test modules by id, and eid's own plans, run as a relying party against any OpenID provider."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Driver {
    /// eid's phone: approves with an enrolled, proven wallet file (--wallet).
    Wallet,
    /// A plain HTML username and password form (--username, --password), then any consent form.
    Form,
}

#[derive(Subcommand)]
enum Command {
    /// Lists the plans and their modules.
    Plans,
    /// Runs plans against a provider; exits 1 when any module FAILED (other than those
    /// --expected-failures lists, or when one of those did not fail).
    Run(Box<RunArgs>),
    /// Make a P-256 key for a FAPI 2.0 client of the suite's: writes its public JWK set (to
    /// register at the provider) to FILE and prints the clients file's `private_jwk` line.
    ClientKey {
        /// Where to write the public JWK set.
        #[arg(long)]
        public: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The issuer identifier, exactly as the provider states it.
    #[arg(long)]
    issuer: String,
    /// A plan to run (repeatable; `all` runs every plan).
    #[arg(long = "plan", required = true)]
    plans: Vec<String>,
    /// Only these modules of the plans (repeatable).
    #[arg(long = "module")]
    modules: Vec<String>,
    /// The suite's client (or give --clients).
    #[arg(long, env = "CONFORMANCE_CLIENT_ID")]
    client_id: Option<String>,
    #[arg(long, env = "CONFORMANCE_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// The redirect URI registered for the suite's client (the suite never serves it).
    #[arg(long, default_value = "https://localhost:8443/callback")]
    redirect_uri: String,
    /// A TOML file of clients ([[client]] client_id, client_secret, redirect_uri,
    /// token_endpoint_auth_method); modules that need two clients use the first two.
    #[arg(long)]
    clients: Option<PathBuf>,
    #[arg(long, value_enum)]
    login_driver: Driver,
    /// The wallet file for the wallet driver.
    #[arg(long)]
    wallet: Option<PathBuf>,
    #[arg(long, env = "CONFORMANCE_USERNAME")]
    username: Option<String>,
    #[arg(long, env = "CONFORMANCE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// PKCE on every request: auto (when discovery offers S256), always or never.
    #[arg(long, default_value = "auto")]
    pkce: Pkce,
    /// A TOML file of modules known to fail ([[failed]] plan, module, reason): the reports
    /// still say FAILED, but only other failures (or a listed module passing) fail the run.
    #[arg(long)]
    expected_failures: Option<PathBuf>,
    /// A TOML file pinning every module's verdict ([[verdict]] plan, module, verdict): a module
    /// that ends otherwise, or a module of a pinned plan without a pin, fails the run.
    #[arg(long)]
    pinned_verdicts: Option<PathBuf>,
    /// How many modules of a plan run at a time (their real-time waits overlap); 1 runs them
    /// one after another. More than one suits the form driver; the wallet driver's one phone
    /// serves one module at a time.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Reports plain-HTTP endpoints as warnings instead of failures (local test deployments).
    #[arg(long)]
    danger_allow_http: bool,
    /// Where the reports go (JSON, JUnit XML and HTML per plan).
    #[arg(long, default_value = "conformance-report")]
    report: PathBuf,
    /// Serve the documents the provider fetches (a client's jwks_uri, a sector document) on
    /// this address, for the modules that need them.
    #[arg(long)]
    serve_documents: Option<std::net::SocketAddr>,
    /// The URL at which the provider reaches those documents [default: http://<address>].
    #[arg(long, requires = "serve_documents")]
    documents_url: Option<url::Url>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("eid-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `Ok(false)` when a module FAILED.
async fn run() -> anyhow::Result<bool> {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Plans => {
            for plan in plans::all() {
                println!("{}: {}", plan.name, plan.summary);
                for m in &plan.modules {
                    println!("  {:<72} {}", m.id, m.summary);
                }
            }
            return Ok(true);
        }
        Command::Run(args) => args,
        Command::ClientKey { public } => {
            let key = eid_conformance::jose::new_key();
            let mut jwk = eid_conformance::jose::public_jwk(&key);
            jwk["kid"] = "suite".into();
            jwk["use"] = "sig".into();
            jwk["alg"] = "ES256".into();
            std::fs::write(&public, serde_json::json!({ "keys": [jwk] }).to_string())
                .with_context(|| format!("writing {}", public.display()))?;
            let private = eid_conformance::jose::private_jwk(&key);
            let fields: Vec<String> = ["kty", "crv", "x", "y", "d"]
                .iter()
                .map(|k| format!("{k} = \"{}\"", private[*k].as_str().unwrap_or_default()))
                .collect();
            println!("private_jwk = {{ {} }}", fields.join(", "));
            return Ok(true);
        }
    };
    let clients = match (&args.clients, &args.client_id, &args.client_secret) {
        (Some(path), _, _) => read_clients(path)?,
        (None, Some(id), Some(secret)) => vec![ClientConfig {
            client_id: id.clone(),
            client_secret: secret.clone(),
            redirect_uri: url::Url::parse(&args.redirect_uri).context("--redirect-uri")?,
            token_endpoint_auth_method: ClientAuth::ClientSecretBasic,
            private_jwk: None,
        }],
        _ => bail!("give --clients FILE, or --client-id and --client-secret"),
    };
    let driver = match args.login_driver {
        Driver::Wallet => DriverConfig::Wallet {
            path: args
                .wallet
                .clone()
                .context("the wallet driver needs --wallet FILE")?,
        },
        Driver::Form => DriverConfig::Form {
            username: args
                .username
                .clone()
                .context("the form driver needs --username")?,
            password: args
                .password
                .clone()
                .context("the form driver needs --password")?,
        },
    };
    let mut config = SuiteConfig::new(&args.issuer, clients, driver)?;
    config.pkce = args.pkce;
    config.danger_allow_http = args.danger_allow_http;
    let mut suite = Suite::new(config)?;
    if let Some(listen) = args.serve_documents {
        let documents =
            eid_conformance::documents::Documents::start(listen, args.documents_url.clone())
                .await
                .context("--serve-documents")?;
        suite = suite.with_documents(documents);
    }
    let selected: Vec<_> = if args.plans.iter().any(|p| p == "all") {
        plans::all()
    } else {
        args.plans
            .iter()
            .map(|name| {
                plans::find(name).with_context(|| {
                    format!(
                        "no plan {name}; the plans are {}",
                        plans::all()
                            .iter()
                            .map(|p| p.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    for id in &args.modules {
        if !plans::module_ids().contains(&id.as_str()) {
            bail!("no module {id} (eid-conformance plans lists them)");
        }
    }
    let mut expectations: eid_conformance::expectations::Expectations =
        match &args.expected_failures {
            Some(path) => eid_conformance::expectations::Expectations::load(path)
                .with_context(|| format!("reading {}", path.display()))?,
            None => Default::default(),
        };
    if let Some(path) = &args.pinned_verdicts {
        let pinned = eid_conformance::expectations::Expectations::load(path)
            .with_context(|| format!("reading {}", path.display()))?;
        expectations.verdict.extend(pinned.verdict);
    }
    let mut passed = true;
    for plan in &selected {
        let report = suite.run_jobs(plan, &args.modules, args.jobs).await;
        print!("{}", report::text(&report));
        let written = report::write_all(&report, &args.report)
            .with_context(|| format!("writing the reports into {}", args.report.display()))?;
        for path in written {
            println!("  report: {}", path.display());
        }
        let problems = expectations.judge(&report);
        for problem in &problems {
            println!("  ! {problem}");
        }
        passed &= problems.is_empty();
    }
    Ok(passed)
}
