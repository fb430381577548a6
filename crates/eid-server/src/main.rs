//! `eid-server`: serve the OpenID Connect provider, or administer it.
//!
//! ```text
//! eid-server --dev                         # serve on 127.0.0.1:8080, SQLite in ./data
//! eid-server client add --name N --redirect-uri URI [--id-token-alg RS256]
//! eid-server client list
//! eid-server client remove CLIENT_ID
//! eid-server keygen                        # print a new master key
//! ```

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use eid_core::keys::JwsAlg;
use eid_core::{Provider, ProviderConfig};
use eid_server::config::{LogFormat, Overrides, Settings};
use url::Url;

#[derive(Parser)]
#[command(
    name = "eid-server",
    version,
    about = "eid: national digital identity, OpenID Connect provider"
)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Print a new random master key (base64) for EID_MASTER_KEY or a key file.
    Keygen,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a relying party; prints its client_id and client_secret.
    Add {
        /// Name shown to citizens.
        #[arg(long)]
        name: String,
        /// Exact redirect URI; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// ID token signing algorithm.
        #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS256"])]
        id_token_alg: String,
    },
    /// List relying parties.
    List,
    /// Remove a relying party.
    Remove { client_id: String },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EID_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The whole cause chain on one line, for a person; no backtrace.
            eprintln!("eid-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Keygen) = cli.command {
        println!("{}", eid_core::crypto::MasterKey::generate().to_base64());
        return Ok(());
    }
    let settings = Settings::resolve(&cli.overrides)?;
    init_logging(settings.log_format);
    match cli.command {
        None | Some(Command::Serve) => serve(settings).await,
        Some(Command::Client(command)) => {
            tokio::task::spawn_blocking(move || admin(settings, command)).await?
        }
        Some(Command::Keygen) => Ok(()),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(
        database = %eid_server::config::redact_url(&settings.database),
        listen = %settings.listen,
        "starting eid"
    );
    let server = eid_server::start(eid_server::StartOptions {
        listen: settings.listen,
        issuer: settings.issuer,
        database: settings.database,
        master_key: settings.master_key,
        pool_size: settings.pool_size,
    })
    .await?;
    println!("eid is serving at {}", server.issuer);
    println!(
        "discovery: {}/.well-known/openid-configuration",
        server.issuer.as_str().trim_end_matches('/')
    );
    server.wait().await?;
    tracing::info!("eid stopped");
    Ok(())
}

fn admin(settings: Settings, command: ClientCommand) -> anyhow::Result<()> {
    let db = eid_store::Database::open(&settings.database, 2).with_context(|| {
        format!(
            "opening {}",
            eid_server::config::redact_url(&settings.database)
        )
    })?;
    let issuer = match settings.issuer {
        Some(issuer) => issuer,
        None => Url::parse(&format!("http://localhost:{}", settings.listen.port()))?,
    };
    let provider = Provider::open(
        Arc::new(db),
        &settings.master_key,
        ProviderConfig::new(issuer),
        eid_server::now(),
    )?;
    match command {
        ClientCommand::Add {
            name,
            redirect_uris,
            id_token_alg,
        } => {
            let alg = JwsAlg::parse(&id_token_alg).unwrap_or(JwsAlg::Es256);
            let new = provider.add_client(&name, &redirect_uris, alg, eid_server::now())?;
            println!("client_id: {}", new.client.client_id);
            println!("client_secret: {}", new.client_secret);
            println!("id_token_signed_response_alg: {}", new.client.id_token_alg);
            eprintln!("The secret is shown only now; eid stores only its hash.");
        }
        ClientCommand::List => {
            for c in provider.clients()? {
                println!(
                    "{}\t{}\t{}\t{}",
                    c.client_id,
                    c.id_token_alg,
                    c.name,
                    c.redirect_uris.join(" ")
                );
            }
        }
        ClientCommand::Remove { client_id } => {
            provider.remove_client(&client_id)?;
            println!("removed {client_id}");
        }
    }
    Ok(())
}
