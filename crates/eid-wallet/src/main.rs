//! `eid-wallet`: the citizen's phone on the command line.
//!
//! ```text
//! eid-wallet --store wallet.json enrol --server http://localhost:8080 --name "CHAN Tai Man" \
//!     --hkid "A123456(3)" --date-of-birth 1990-01-01 --gender M [--chinese-name 陳大文] [--email ..] [--phone ..]
//! eid-wallet --store wallet.json prove --capture captures/A1234563.json
//! eid-wallet --store wallet.json status
//! eid-wallet --store wallet.json counter 482-193-067     # at a registration counter: the code (or QR URL) the officer shows
//! eid-wallet --store wallet.json approve 'http://localhost:8080/api/v1/approvals/...?t=...' [--number 42] [--share all|none|name,birthdate] [--remember] [--not-me | --decline]
//! eid-wallet --store wallet.json sign [REQUEST_ID [--save-pdf FILE] [--approve --code CODE | --decline]]
//! eid-wallet --store wallet.json consents [list | withdraw CLIENT_ID]
//! eid-wallet --store wallet.json devices [list | remove DEVICE_ID | link | join --server URL CODE]
//! eid-wallet --store wallet.json upgrade --name .. --hkid .. --date-of-birth .. --gender .. [--address ..]
//! ```

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use eid_proto::api::{ApprovalRequest, EnrolmentRequest, ProofingEvidence, UpgradeRequest};
use eid_wallet::{approve_as_before, approve_with, refuse, staying_signed_in, Wallet, WalletError};
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
    /// Apply for an account with this device (prints the application's reference).
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
    /// Prove your identity remotely: the particulars you applied with, as on the card, and a
    /// live capture of your face, signed by the phone's capture component over eid's nonce
    /// (the sandbox registry writes one capture file per resident, with its capture key).
    Prove {
        /// A capture file (`captures/<HKID>.json` of the sandbox registry); a bare template
        /// ({"face_template": [numbers]} or the array) goes unsigned, which only a development
        /// deployment accepts.
        #[arg(long, alias = "face-template")]
        capture: PathBuf,
    },
    /// Where the application stands; once proven, the account.
    Status,
    /// At a registration counter: answer the code (or the QR code's URL) the officer's
    /// console shows, proving that this phone, the one that applied, is there.
    Counter {
        /// `482-193-067`, or the URL in the QR code.
        code: String,
    },
    /// Ask for your account to be proven in person (eid+): prints a reference for the counter.
    Upgrade {
        /// English name, as on the identity card.
        #[arg(long)]
        name: String,
        #[arg(long)]
        chinese_name: Option<String>,
        #[arg(long)]
        hkid: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date_of_birth: String,
        /// M, F or X.
        #[arg(long)]
        gender: String,
        /// Residential address, if you bring a proof of it.
        #[arg(long)]
        address: Option<String>,
    },
    /// Answer a login request (the link in the login page's QR code): shows the service,
    /// where the login was started and what it asks for with your values, then asks for the
    /// number the login page shows and what to share.
    Approve {
        url: String,
        /// The number the login page shows (asked for when not given).
        #[arg(long)]
        number: Option<u8>,
        /// What to share besides the essential items: `all`, `none`, or claims separated by
        /// commas (`name,birthdate`). Asked item by item when not given and the service needs
        /// a new choice; otherwise what you shared before.
        #[arg(long)]
        share: Option<String>,
        /// Remember the choice for this service.
        #[arg(long)]
        remember: bool,
        /// Also sign that browser in to eid, so that other services log you in there without
        /// your phone: only for a browser you are at (asked when not given, if offered).
        #[arg(long)]
        stay_signed_in: bool,
        /// You did not start this login: stop it and record it.
        #[arg(long, conflicts_with_all = ["decline", "number", "share"])]
        not_me: bool,
        /// Do not log in (nothing is shared).
        #[arg(long, conflicts_with_all = ["number", "share"])]
        decline: bool,
    },
    /// Documents services ask you to sign: lists them, saves one's PDF to read, or approves
    /// it with the code the service shows (picked among three) or declines it.
    Sign {
        /// The request to answer (from the list); without it, the list.
        request_id: Option<String>,
        /// Save the PDF to sign to this file (checked against the digest you would sign)
        /// before deciding.
        #[arg(long, requires = "request_id")]
        save_pdf: Option<PathBuf>,
        /// Approve: sign with your signing certificate.
        #[arg(long, conflicts_with = "decline", requires = "request_id")]
        approve: bool,
        /// The code the service shows beside the document, one of the three offered (asked
        /// for when not given).
        #[arg(long, conflicts_with = "decline", requires = "request_id")]
        code: Option<String>,
        /// Decline: nothing is signed.
        #[arg(long, requires = "request_id")]
        decline: bool,
    },
    /// What you share with which service; withdraw a consent.
    Consents {
        #[command(subcommand)]
        action: Option<ConsentsAction>,
    },
    /// List or manage the account's devices.
    Devices {
        #[command(subcommand)]
        action: Option<DevicesAction>,
    },
    /// The browsers signed in to eid with this account; sign one out, or all.
    Sessions {
        #[command(subcommand)]
        action: Option<SessionsAction>,
    },
    /// What other devices and browsers did to your account since you last looked (a new
    /// passkey or phone, a device removed, a browser signed in), each with its undo.
    Inbox {
        /// Wait up to this many seconds for a notice.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Recoveries of your account on another phone, waiting for their hold to end; cancel one
    /// that is not yours.
    Recoveries {
        #[command(subcommand)]
        action: Option<RecoveriesAction>,
    },
}

#[derive(Subcommand)]
enum RecoveriesAction {
    /// List the held recoveries (the default).
    List,
    /// Cancel one: the other phone is not bound, and your devices stay.
    Cancel { application_id: String },
}

#[derive(Subcommand)]
enum SessionsAction {
    /// List the browsers signed in (the default).
    List,
    /// Sign a browser out: every service it logged in to is told.
    End { session_id: String },
    /// Sign out everywhere.
    EndAll,
}

#[derive(Subcommand)]
enum ConsentsAction {
    /// List what you share with which service (the default).
    List,
    /// Stop sharing with a service: its next login asks again, and its access tokens stop.
    Withdraw { client_id: String },
}

#[derive(Subcommand)]
enum DevicesAction {
    /// List bound devices and the account's history (the default).
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

/// Asks a question on the terminal; the trimmed answer.
fn ask(question: &str) -> String {
    print!("{question} ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim().to_owned()
}

fn yes(answer: &str) -> bool {
    matches!(answer, "y" | "Y" | "yes")
}

/// Shows a login request as the phone would, before the citizen decides.
fn show_request(request: &ApprovalRequest) {
    println!(
        "{} wants you to log in (its answer goes to {}).",
        printable(&request.service.name),
        printable(&request.service.redirect_host)
    );
    let c = &request.context;
    let browser = match (&c.browser, &c.os) {
        (Some(b), Some(o)) => format!("{} on {}", printable(b), printable(o)),
        (Some(b), None) => printable(b),
        (None, Some(o)) => format!("a browser on {}", printable(o)),
        (None, None) => "an unknown browser".into(),
    };
    println!(
        "Started {} in {browser}{}.",
        when(c.requested_at),
        c.address
            .as_deref()
            .map(|a| format!(", from {}", printable(a)))
            .unwrap_or_default()
    );
    println!(
        "If you did not start it just now, answer `n`: someone may be trying to log in as you."
    );
    if let Some(account) = &request.account {
        println!("Your account: {}", printable(account));
    }
    if let Some(purpose) = &request.purpose {
        println!(
            "Approving this does one thing on your account: {} / {}",
            printable(&purpose.en),
            printable(&purpose.zh_hant)
        );
        println!("Approve only if you are doing that yourself, right now.");
    }
    println!("It asks for:");
    for item in &request.items {
        let value = item
            .value
            .as_deref()
            .map(|v| format!(": {}", printable(v)))
            .unwrap_or_default();
        let note = if item.essential {
            " (always shared)"
        } else if item.remembered {
            " (you share this with it)"
        } else {
            ""
        };
        println!("  - {} / {}{value}{note}", item.en, item.zh_hant);
    }
    if let Some(level) = &request.required_level {
        println!("It requires an account proven at level {level}.");
    }
}

/// The claims to share from `--share`.
fn parse_share(share: &str, request: &ApprovalRequest) -> Vec<String> {
    match share {
        "all" => request.items.iter().map(|i| i.claim.clone()).collect(),
        "none" => Vec::new(),
        list => list
            .split(',')
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
    }
}

/// Characters that could rewrite the terminal (escapes, bidi overrides) are shown as `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control()
                || ('\u{202A}'..='\u{202E}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
            {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// `2026-11-25 12:34 UTC`.
fn when(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3_600,
        secs % 3_600 / 60
    )
}

/// A capture file: the template, and the capture component's signer when the file has its key.
fn read_capture(
    path: &std::path::Path,
) -> Result<(Vec<f32>, Option<eid_wallet::CaptureSigner>), WalletError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum File {
        Capture(eid_proto::capture::CaptureFile),
        Object { face_template: Vec<f32> },
        Array(Vec<f32>),
    }
    let bytes = std::fs::read(path)?;
    match serde_json::from_slice::<File>(&bytes) {
        Ok(File::Capture(file)) => {
            let signer = eid_wallet::CaptureSigner::from_file(&file)?;
            Ok((file.face_template, signer))
        }
        Ok(File::Object { face_template } | File::Array(face_template)) => {
            Ok((face_template, None))
        }
        Err(e) => Err(WalletError::Protocol(format!(
            "{} is not a capture file: {e}",
            path.display()
        ))),
    }
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
            let created = wallet
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
            println!("Application made. Reference: {}", created.reference);
            println!("This wallet keeps its key in {} (a software key, not a phone's secure element): services are told `amr` swk.", cli.store.display());
            println!(
                "Prove your identity within {} days: `eid-wallet prove --capture FILE`,",
                created.expires_in / 86_400
            );
            println!("or show the reference with your identity card at a registration counter.");
        }
        Command::Prove { capture } => {
            let application = wallet
                .file()
                .application
                .clone()
                .ok_or(WalletError::NotEnrolled)?;
            let (face_template, signer) = read_capture(&capture)?;
            if signer.is_none() {
                println!("Note: this capture has no capture key: it goes unsigned, which only a development deployment accepts.");
            }
            wallet.set_capture_signer(signer);
            let evidence = ProofingEvidence {
                hkid: application.hkid,
                english_name: application.english_name,
                date_of_birth: application.date_of_birth,
                face_template,
                capture: None,
            };
            let result = wallet.prove(&evidence).await?;
            if let Some(until) = result.held_until {
                println!(
                    "Proven. Account {} already exists: it will be recovered on this phone after {} unless one of its devices cancels it (they have been told).",
                    result.reference,
                    when(until)
                );
                println!("Then run `eid-wallet status` to finish: every other device of the account will be signed out.");
            } else if result.recovered {
                println!(
                    "Proven. Account {} was recovered on this phone (level {}); {} other device(s) were signed out.",
                    result.reference, result.level, result.revoked_devices
                );
            } else {
                println!(
                    "Proven. Account {} is ready on this phone (level {}).",
                    result.reference, result.level
                );
            }
        }
        Command::Status => {
            if wallet.file().application.is_some() {
                let state = wallet.status().await?;
                println!("Application {}: {}", state.reference, state.status);
                if let Some(until) = state.held_until {
                    println!(
                        "Recovery of an existing account, held until {}: its devices may cancel it.",
                        when(until)
                    );
                }
                if let Some(reason) = &state.rejection {
                    match reason.as_str() {
                        "recovery_cancelled" => println!("The recovery was cancelled from a device of the account. If that account is yours, visit a registration counter."),
                        "superseded" => println!("The account was proven again meanwhile (at a counter, or by another recovery)."),
                        _ => println!("Rejected at the counter: {reason}"),
                    }
                }
            }
            if wallet.file().device_id.is_some() || wallet.file().application.is_none() {
                let account = wallet.account().await?;
                println!(
                    "Account {}: level {}, {}",
                    account.reference,
                    account.level.as_deref().unwrap_or("none (not proven)"),
                    account.status
                );
            }
        }
        Command::Counter { code } => {
            let answered = wallet.answer_counter(&code).await?;
            println!(
                "This phone (\"{}\") answered at the counter for application {}.",
                printable(&answered.device_name),
                printable(&answered.reference)
            );
            println!(
                "Show this to the officer: they can decide within {} minutes.",
                answered.valid_for / 60
            );
        }
        Command::Upgrade {
            name,
            chinese_name,
            hkid,
            date_of_birth,
            gender,
            address,
        } => {
            let created = wallet
                .request_upgrade(&UpgradeRequest {
                    english_name: name,
                    chinese_name,
                    date_of_birth,
                    gender,
                    hkid,
                    address,
                })
                .await?;
            println!("Upgrade requested. Reference: {}", created.reference);
            println!(
                "Show it with your identity card at a registration counter within {} days.",
                created.expires_in / 86_400
            );
        }
        Command::Approve {
            url,
            number,
            share,
            remember,
            stay_signed_in,
            not_me,
            decline,
        } => {
            let view = wallet.fetch_approval_view(&url).await?;
            let request = view.request;
            show_request(&request);
            if !view.service_verified {
                println!("Unverified: this service registered itself with eid; its name is only what it says it is.");
            }
            let interactive = std::io::stdin().is_terminal();
            if not_me || decline {
                let result = wallet
                    .answer(&request, &url, &refuse(&request, not_me))
                    .await?;
                println!("Stopped ({}). Nothing was shared.", result.status);
                return Ok(());
            }
            let numbers = request
                .numbers
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join("  ");
            let number = match number {
                Some(n) => n,
                None if interactive => {
                    let answer = ask(&format!(
                        "Which number does the login page show? {numbers}  (n: I did not start this)"
                    ));
                    match answer.parse::<u8>() {
                        Ok(n) => n,
                        Err(_) => {
                            let result = wallet
                                .answer(&request, &url, &refuse(&request, true))
                                .await?;
                            println!(
                                "Stopped ({}) and recorded. Nothing was shared.",
                                result.status
                            );
                            return Ok(());
                        }
                    }
                }
                None => {
                    return Err(WalletError::Protocol(format!(
                        "pass --number with the number the login page shows (one of {numbers})"
                    )))
                }
            };
            let decision = match share.as_deref() {
                Some(share) => {
                    approve_with(&request, number, parse_share(share, &request), remember)
                }
                None if !request.ask_consent => approve_as_before(&request, number),
                None if interactive => {
                    let mut chosen = Vec::new();
                    for item in request.items.iter().filter(|i| !i.essential) {
                        // A permission (offline access, asking for signatures) is allowed,
                        // not shared: it is no fact about the citizen.
                        let verb = match item.scope.as_str() {
                            "offline_access" | "sign" => "Allow",
                            _ => "Share",
                        };
                        if yes(&ask(&format!("{verb}: {}? [y/N]", item.en))) {
                            chosen.push(item.claim.clone());
                        }
                    }
                    let remember =
                        remember || yes(&ask("Remember this choice for this service? [y/N]"));
                    approve_with(&request, number, chosen, remember)
                }
                None => approve_with(&request, number, Vec::new(), remember),
            };
            let stay = request.offers_sign_in
                && (stay_signed_in
                    || (interactive
                        && yes(&ask(
                            "Stay signed in to eid on that browser (other services log you in there without your phone)? Only if it is your own browser in front of you. [y/N]",
                        ))));
            let decision = if stay {
                staying_signed_in(decision)
            } else {
                decision
            };
            let result = wallet.answer(&request, &url, &decision).await?;
            println!(
                "{}. Shared: {}. The browser shows your masked name; continue there.",
                if result.status == "approved" {
                    "Approved"
                } else {
                    result.status.as_str()
                },
                decision.claims.join(", ")
            );
        }
        Command::Sign {
            request_id,
            save_pdf,
            approve,
            code,
            decline,
        } => {
            let list = wallet.signing_requests().await?;
            let Some(id) = request_id else {
                if list.requests.is_empty() {
                    println!("No documents are waiting for your signature.");
                }
                for r in &list.requests {
                    println!(
                        "{}  {} asks you to sign \"{}\"{}  ({} s left)\n    {} {}",
                        r.request_id,
                        printable(&r.service.name),
                        printable(&r.document_name),
                        if r.pdf {
                            " (a PDF: --save-pdf to read it)"
                        } else {
                            ""
                        },
                        r.expires_in,
                        r.hash_alg,
                        r.hash
                    );
                }
                return Ok(());
            };
            let request = list
                .requests
                .iter()
                .find(|r| r.request_id == id)
                .ok_or_else(|| WalletError::Protocol(format!("no pending signing request {id}")))?;
            println!(
                "{} asks you to sign \"{}\".",
                printable(&request.service.name),
                printable(&request.document_name)
            );
            if request.danger_software_keys_sign {
                println!("Note: this is a development deployment: signatures here may be approved by software keys, which can be copied. They are not legally meaningful.");
            }
            if let Some(file) = &save_pdf {
                let pdf = wallet.signing_document(request).await?;
                std::fs::write(file, &pdf)?;
                println!(
                    "Saved the document to {} ({} bytes; it matches the digest you would sign). Read it before you decide.",
                    file.display(),
                    pdf.len()
                );
            }
            let interactive = std::io::stdin().is_terminal();
            if decline {
                let result = wallet.decline_signing(request).await?;
                println!("Declined ({}). Nothing was signed.", result.status);
                return Ok(());
            }
            let codes = request.verification_codes.join("  ");
            // As a login's number: the citizen picks the code the service shows beside the
            // document, which proves they are looking at it.
            let code = match code {
                Some(code) => code,
                None if interactive => {
                    let answer = ask(&format!(
                        "Which code does the service show beside the document? {codes}  (n: do not sign)"
                    ));
                    if answer.is_empty() || answer.eq_ignore_ascii_case("n") {
                        let result = wallet.decline_signing(request).await?;
                        println!("Declined ({}). Nothing was signed.", result.status);
                        return Ok(());
                    }
                    answer
                }
                // Saving the document alone: the citizen reads it, then decides.
                None if save_pdf.is_some() && !approve => return Ok(()),
                None => {
                    return Err(WalletError::Protocol(format!(
                        "pass --approve --code with the code the service shows (one of {codes}), or --decline"
                    )))
                }
            };
            let sign = approve || (interactive && yes(&ask("Sign it? [y/N]")));
            if !sign {
                return Err(WalletError::Protocol(
                    "nothing signed: say --approve to sign".into(),
                ));
            }
            let result = wallet.approve_signing(request, &code).await?;
            println!("{}", result.status);
        }
        Command::Consents { action } => match action.unwrap_or(ConsentsAction::List) {
            ConsentsAction::List => {
                let list = wallet.consents().await?;
                if list.consents.is_empty() {
                    println!("You share nothing with any service beyond a login.");
                }
                for c in list.consents {
                    println!(
                        "{}\t{}\t{}\tsince {}",
                        c.client_id,
                        printable(c.service.as_deref().unwrap_or("(removed service)")),
                        c.claims.join(", "),
                        when(c.granted_at)
                    );
                }
            }
            ConsentsAction::Withdraw { client_id } => {
                wallet.withdraw_consent(&client_id).await?;
                println!("Withdrawn: {client_id} gets nothing more without asking you again.");
            }
        },
        Command::Inbox { wait } => {
            let inbox = wallet.inbox(wait).await?;
            if inbox.notices.is_empty() {
                println!("Nothing new.");
            }
            for notice in &inbox.notices {
                println!("{}  {}", when(notice.at), printable(&notice.en));
                println!("   {}", printable(&notice.zh_hant));
                match &notice.undo {
                    Some(eid_proto::api::NoticeUndo::RemoveDevice { device_id }) => {
                        println!(
                            "   Not you? eid-wallet devices remove {}",
                            printable(device_id)
                        )
                    }
                    Some(eid_proto::api::NoticeUndo::EndSession { session_id }) => {
                        println!(
                            "   Not you? eid-wallet sessions end {}",
                            printable(session_id)
                        )
                    }
                    Some(eid_proto::api::NoticeUndo::CancelRecovery { application_id }) => {
                        println!(
                            "   Not you? eid-wallet recoveries cancel {}",
                            printable(application_id)
                        )
                    }
                    None => {}
                }
            }
        }
        Command::Recoveries { action } => match action.unwrap_or(RecoveriesAction::List) {
            RecoveriesAction::List => {
                let list = wallet.recoveries().await?;
                if list.recoveries.is_empty() {
                    println!("No recovery of your account is waiting.");
                }
                for r in list.recoveries {
                    println!(
                        "{}\ton a phone named \"{}\"\ttakes effect {}",
                        printable(&r.application_id),
                        printable(&r.device_name),
                        when(r.held_until)
                    );
                }
            }
            RecoveriesAction::Cancel { application_id } => {
                wallet.cancel_recovery(&application_id).await?;
                println!("Cancelled: that phone does not get your account, and your devices stay.");
            }
        },
        Command::Sessions { action } => match action.unwrap_or(SessionsAction::List) {
            SessionsAction::List => {
                let list = wallet.browser_sessions().await?;
                if list.sessions.is_empty() {
                    println!("No browser is signed in to eid.");
                }
                for s in list.sessions {
                    println!(
                        "{}\t{} on {}\tsigned in {}\tlast used {}\t{}",
                        s.session_id,
                        printable(s.browser.as_deref().unwrap_or("a browser")),
                        printable(s.os.as_deref().unwrap_or("an unknown system")),
                        when(s.created_at),
                        when(s.last_seen_at),
                        printable(&s.services.join(", "))
                    );
                }
            }
            SessionsAction::End { session_id } => {
                wallet.end_browser_session(&session_id).await?;
                println!("Signed out: that browser must approve on your phone again.");
            }
            SessionsAction::EndAll => {
                wallet.end_browser_sessions().await?;
                println!("Signed out everywhere.");
            }
        },
        Command::Devices { action } => match action.unwrap_or(DevicesAction::List) {
            DevicesAction::List => {
                let this = wallet.device_id().map(str::to_owned);
                for d in wallet.devices().await? {
                    let mut mark = if Some(&d.device_id) == this.as_ref() {
                        " (this device)".to_owned()
                    } else {
                        String::new()
                    };
                    if let Some(at) = d.suspended_at {
                        mark.push_str(&format!(
                            " SUSPENDED since {} (its key may have been copied)",
                            when(at)
                        ));
                    }
                    println!(
                        "{}\t{}\tjoined by {} {}{}",
                        d.device_id,
                        printable(&d.name),
                        d.joined_by,
                        when(d.created_at),
                        mark
                    );
                }
                println!("\nHistory (newest first):");
                for e in wallet.history().await?.events {
                    let device = match (&e.device_name, &e.device_id) {
                        (Some(name), Some(id)) => format!(" {} ({id})", printable(name)),
                        (None, Some(id)) => format!(" {id}"),
                        _ => String::new(),
                    };
                    let by = match (&e.actor_device_id, e.actor.as_str()) {
                        (Some(d), _) => format!(" by device {d}"),
                        (None, "citizen") => String::new(),
                        (None, actor) => format!(" by {actor}"),
                    };
                    let service = e
                        .client_id
                        .as_deref()
                        .map(|c| format!(" service {c}"))
                        .unwrap_or_default();
                    println!("{}\t{}{device}{service}{by}", when(e.at), e.action);
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
                eprintln!("This device cannot remove older devices for the first days: the account's other phones are protected from a new one.");
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
