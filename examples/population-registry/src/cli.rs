//! The `population-registry` command line (also run by eid's test kit as a separate process).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use url::Url;

#[derive(Parser)]
#[command(
    name = "population-registry",
    version,
    about = "A sandbox population registry for eid's remote identity proofing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write test residents, each with a face template and a live-capture template for the wallet.
    Generate {
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
        /// The same seed gives the same residents.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Answer eid's signed queries about the residents in a directory.
    Serve {
        #[arg(long)]
        residents: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// The registry's identifier [default: http://<listen address>].
        #[arg(long)]
        issuer: Option<String>,
        /// Where a service allowed to query publishes its keys; repeat for several.
        #[arg(
            long = "client-jwks-url",
            default_value = "http://localhost:8080/connectors/jwks"
        )]
        client_jwks_urls: Vec<Url>,
        /// Wait this many milliseconds before answering (to try a client's timeouts).
        #[arg(long, default_value_t = 0)]
        answer_delay_ms: u64,
    },
}

/// Parses the command line and runs it; for a binary's `main`.
pub fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("population-registry: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main())
}

async fn async_main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REGISTRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("population-registry: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate { count, out, seed } => {
            let residents = crate::generate(&out, count, seed)?;
            println!("{} test residents in {}:", residents.len(), out.display());
            println!(
                "Captures are signed under the capture root {} ([proofing] capture_roots; eid-server --dev reads data/registry/{}).",
                out.join(crate::CAPTURE_ROOT_FILE).display(),
                crate::CAPTURE_ROOT_FILE
            );
            println!("HKID\tNAME\tCHINESE NAME\tDATE OF BIRTH\tGENDER\tCAPTURE");
            for r in residents {
                let capture = out
                    .join(crate::CAPTURES_DIR)
                    .join(format!("{}.json", crate::file_stem(&r.hkid)));
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.hkid,
                    r.english_name,
                    r.chinese_name,
                    r.date_of_birth,
                    r.gender,
                    capture.display()
                );
            }
        }
        Command::Serve {
            residents,
            listen,
            issuer,
            client_jwks_urls,
            answer_delay_ms,
        } => {
            let server = crate::serve(crate::ServeOptions {
                residents,
                listen,
                issuer,
                client_jwks_urls,
                answer_delay: std::time::Duration::from_millis(answer_delay_ms),
            })
            .await?;
            // The first line on stdout names the address (the test kit reads it).
            println!(
                "population-registry listening on http://{}",
                server.local_addr
            );
            println!("identifier: {}", server.issuer);
            server.wait().await?;
        }
    }
    Ok(())
}
