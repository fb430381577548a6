//! `eid-wallet`: the citizen's phone on the command line.
//!
//! ```text
//! eid-wallet --store wallet.json enrol --server http://localhost:8080 --name "CHAN Tai Man" \
//!     --hkid "A123456(3)" --date-of-birth 1990-01-01 --gender M [--chinese-name 陳大文] [--email ..] [--phone ..]
//! eid-wallet --store wallet.json approve http://localhost:8080/api/v1/approvals/...
//! eid-wallet --store wallet.json devices [list | remove DEVICE_ID | link | join --server URL CODE]
//! ```

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use eid_proto::api::EnrolmentRequest;
use eid_wallet::{Wallet, WalletError};
use url::Url;

#[derive(Parser)]
#[command(
    name = "eid-wallet",
    version,
    about = "The eid citizen wallet (a phone, on the command line)"
)]
struct Cli {
    /// The wallet file: holds this device's key and account.
    #[arg(long, env = "EID_WALLET", default_value = "wallet.json")]
    store: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register as a citizen and bind this device.
    Enrol {
        #[arg(long)]
        server: Url,
        /// English name, as on the identity card.
        #[arg(long)]
        name: String,
        #[arg(long)]
        chinese_name: Option<String>,
        /// Hong Kong Identity Card number, e.g. "A123456(3)".
        #[arg(long)]
        hkid: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date_of_birth: String,
        /// M, F or X.
        #[arg(long)]
        gender: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        address: Option<String>,
        /// What to call this device.
        #[arg(long, default_value = "eid-wallet")]
        device_name: String,
    },
    /// Approve a login request (the URL from the login page's QR code).
    Approve {
        url: String,
        /// Approve without asking.
        #[arg(long, short)]
        yes: bool,
    },
    /// List or manage the account's devices.
    Devices {
        #[command(subcommand)]
        action: Option<DevicesAction>,
    },
}

#[derive(Subcommand)]
enum DevicesAction {
    /// List bound devices (the default).
    List,
    /// Unbind a device.
    Remove { device_id: String },
    /// Print a one-time code with which another phone joins this account.
    Link,
    /// Join an account with a code from one of its devices, binding this phone.
    Join {
        #[arg(long)]
        server: Url,
        code: String,
        #[arg(long, default_value = "eid-wallet")]
        device_name: String,
    },
}

fn confirm() -> bool {
    print!("Approve? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}

async fn run(cli: Cli) -> Result<(), WalletError> {
    let mut wallet = Wallet::open(&cli.store)?;
    match cli.command {
        Command::Enrol {
            server,
            name,
            chinese_name,
            hkid,
            date_of_birth,
            gender,
            email,
            phone,
            address,
            device_name,
        } => {
            let bound = wallet
                .enrol(
                    &server,
                    &EnrolmentRequest {
                        english_name: name,
                        chinese_name,
                        date_of_birth,
                        gender,
                        hkid,
                        email,
                        phone,
                        address,
                        device_name,
                    },
                )
                .await?;
            println!(
                "Enrolled. Account {} on device {}.",
                bound.citizen_id, bound.device_id
            );
        }
        Command::Approve { url, yes } => {
            let request = wallet.fetch_approval(&url).await?;
            println!(
                "{} ({}) asks to log you in and receive:",
                request.service.name, request.service.client_id
            );
            for claim in &request.claims {
                println!("  - {} / {}", claim.en, claim.zh_hant);
            }
            let interactive = std::io::stdin().is_terminal();
            let approved = yes || (interactive && confirm());
            if !approved {
                println!(
                    "Not approved{}.",
                    if interactive {
                        ""
                    } else {
                        " (pass --yes to approve non-interactively)"
                    }
                );
                return Ok(());
            }
            wallet.approve(&request, &url).await?;
            println!("Approved. The browser continues on its own.");
        }
        Command::Devices { action } => match action.unwrap_or(DevicesAction::List) {
            DevicesAction::List => {
                let this = wallet.device_id().map(str::to_owned);
                for d in wallet.devices().await? {
                    let mark = if Some(&d.device_id) == this.as_ref() {
                        " (this device)"
                    } else {
                        ""
                    };
                    println!("{}\t{}{}", d.device_id, d.name, mark);
                }
            }
            DevicesAction::Remove { device_id } => {
                wallet.remove_device(&device_id).await?;
                println!("Removed {device_id}.");
            }
            DevicesAction::Link => {
                let link = wallet.create_device_link().await?;
                println!("{}", link.code);
                eprintln!("On the other phone, within {} seconds: eid-wallet devices join --server URL {}", link.expires_in, link.code);
            }
            DevicesAction::Join {
                server,
                code,
                device_name,
            } => {
                let bound = wallet.link(&server, &code, &device_name).await?;
                println!(
                    "Joined account {} as device {}.",
                    bound.citizen_id, bound.device_id
                );
            }
        },
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eid-wallet: {e}");
            if let Some(problem) = e.problem() {
                for p in &problem.invalid_params {
                    eprintln!("  {}: {}", p.name, p.reason);
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}
