//! `eid-server`: serve the OpenID Connect provider, or administer it.
//!
//! ```text
//! eid-server --dev                         # serve on 127.0.0.1:8080, SQLite in ./data
//! eid-server client add --name N --redirect-uri URI [--id-token-alg ES256]
//! eid-server client list
//! eid-server client remove CLIENT_ID
//! eid-server officer add --name N          # prints a one-time enrolment link for the console
//! eid-server officer confirm OFFICER_ID [--fingerprint K7Q2-M9XD]   # the key registered with it
//! eid-server officer list | remove OFFICER_ID | invite OFFICER_ID     # invite replaces the key
//! eid-server citizen suspend|resume|close (--reference R | --hkid H) --reason REASON
//! eid-server audit [--since UNIX_SECONDS] [--limit N]   # the audit trail as JSON lines
//! eid-server keygen                        # print a new master key
//! ```

use eid_core::time::UnixTime;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use eid_core::admin::{AccountSelector, AdminReason};
use eid_core::clients::ClientRegistration;
use eid_core::keys::JwsAlg;
use eid_core::store::{ClientProfile, TokenAuthMethod};
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
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once from the command line: its size does not matter"
)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage registration officers (in-person identity proofing).
    #[command(subcommand)]
    Officer(OfficerCommand),
    /// Suspend, resume or close a citizen's account.
    #[command(subcommand)]
    Citizen(CitizenCommand),
    /// Print the audit trail as JSON lines.
    Audit {
        /// Only events at or after this time (Unix seconds).
        #[arg(long, default_value_t = 0)]
        since: i64,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Print a new random master key (base64) for EID_MASTER_KEY or a key file.
    Keygen,
    /// The token-signing keys: list them, or rotate them.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The service portal's catalogue: which services it lists, by theme and audience, with
    /// their deep links (docs/portal.md).
    #[command(subcommand)]
    Portal(PortalCommand),
    /// The document-signing PKI: set it up, show its certificates.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Verify a signature eid made: a detached CMS signature with its document, or a signed
    /// PDF. Checks the signature, the chain to eid's root, the time stamp, and the
    /// certificate's status when it signed. Exits non-zero when it is not valid.
    Verify {
        /// The signed document (with --signature), or a signed PDF (alone).
        #[arg(long)]
        document: std::path::PathBuf,
        /// The detached signature (DER, as /signing/result returns it, base64-decoded).
        #[arg(long)]
        signature: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum PortalCommand {
    /// List the services in the portal from a catalogue file (TOML: `[[service]]` entries
    /// naming a client_id; see docs/portal.md). Each entry replaces that service's.
    Import {
        /// The catalogue file.
        file: std::path::PathBuf,
    },
    /// Print the portal's services: client, name, themes, audiences, deep links.
    List,
    /// Take a service out of the portal (its client stays registered).
    Remove { client_id: String },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the root and issuing CAs, the OCSP responder and the time-stamping unit, each
    /// with a new key in the configured custody ([keys]; software otherwise). Once.
    Init,
    /// Print the hierarchy's certificates (PEM), the root first.
    Show,
    /// Revoke a certificate (a citizen's, the OCSP responder's, the time-stamping unit's).
    Revoke {
        /// Its serial number, hex (colons allowed).
        #[arg(long)]
        serial: String,
        /// unspecified, key-compromise, superseded, cessation-of-operation, certificate-hold.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the token-signing keys: signing, published, or retired.
    List,
    /// New ES256 and RS256 keys, published at once; the previous keys stay published until
    /// every token they signed has expired. Running servers pick them up within a minute.
    Rotate {
        /// Seconds before the new keys start signing (relying parties that cache the key set
        /// see them published first).
        #[arg(long, default_value_t = 0)]
        start_in: u32,
    },
}

#[derive(Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once from the command line: its size does not matter"
)]
enum ClientCommand {
    /// Register a relying party; prints its client_id and client_secret.
    Add {
        /// Name shown to citizens.
        #[arg(long)]
        name: String,
        /// Exact redirect URI; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// ID token signing algorithm. RS256 is the specifications' default and what every
        /// relying-party library accepts without being told; choose ES256 for smaller tokens
        /// when your library is configured for it.
        #[arg(long, value_enum, default_value_t = IdTokenAlg::RS256)]
        id_token_alg: IdTokenAlg,
        /// How the client authenticates at the token endpoint: client_secret_basic,
        /// client_secret_post, client_secret_jwt or private_key_jwt (which needs --jwks).
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
        /// A file holding the client's public keys as a JWK set (RFC 7517 §5).
        #[arg(long, conflicts_with = "jwks_uri")]
        jwks: Option<std::path::PathBuf>,
        /// Or the https URL where eid fetches them (and fetches again when they rotate).
        #[arg(long)]
        jwks_uri: Option<String>,
        /// Where RP-initiated logout may send the browser back to; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Where eid posts back-channel logout tokens.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// The page eid frames (with iss and sid) when a session that logged in to the client
        /// ends, if it has no back-channel URI (OIDC Front-Channel Logout).
        #[arg(long)]
        frontchannel_logout_uri: Option<String>,
        /// Where eid's portal starts a login at the client (OIDC Core §4: it is sent iss and
        /// target_link_uri). List the service with `eid-server portal import`.
        #[arg(long)]
        initiate_login_uri: Option<String>,
        /// The security profile: oidc, or fapi2 (the FAPI 2.0 Security Profile: PAR only,
        /// DPoP-bound tokens, private_key_jwt, PS256/ES256; needs --auth-method private_key_jwt
        /// and --id-token-alg ES256).
        #[arg(long, default_value = "oidc")]
        profile: String,
        /// Every access token DPoP-bound (RFC 9449), without the rest of FAPI 2.0.
        #[arg(long)]
        dpop: bool,
        /// Authorization requests only through PAR (RFC 9126).
        #[arg(long)]
        require_par: bool,
        /// Access tokens as signed JWTs (RFC 9068) the service's resource servers can verify
        /// with eid's published keys, instead of opaque ones.
        #[arg(long)]
        jwt_access_tokens: bool,
        /// A response type the client may use: code (the default), or, where
        /// `[oidc] danger_implicit_flow` allows the implicit flow, "id_token" or
        /// "id_token token"; repeat for several.
        #[arg(long = "response-type")]
        response_types: Vec<String>,
        /// The client may ask citizens to sign documents (the `sign` scope: the signing API,
        /// docs/signing.md).
        #[arg(long)]
        allow_signing: bool,
    },
    /// List relying parties.
    List,
    /// Remove a relying party.
    Remove { client_id: String },
}

#[derive(Subcommand)]
enum OfficerCommand {
    /// Create an officer; prints a one-time link to register their security key.
    Add {
        /// The officer's name as it appears in the audit trail.
        #[arg(long)]
        name: String,
    },
    /// List officers and their keys.
    List,
    /// Confirm the key an officer registered with their link (shows it: its attestation and
    /// fingerprint); until then it signs in nobody. Ask the officer, through a channel of your
    /// own, for the fingerprint their console showed.
    Confirm {
        officer_id: String,
        /// The fingerprint the officer reads out (`K7Q2-M9XD`); asked for when not given.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// A new one-time enrolment link for an officer, replacing their key: the key they had
    /// is revoked at once, with their sessions.
    Invite { officer_id: String },
    /// Remove an officer: their keys and sessions stop working.
    Remove { officer_id: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
#[allow(
    clippy::upper_case_acronyms,
    reason = "the JOSE names, as typed on the command line"
)]
enum IdTokenAlg {
    #[value(name = "RS256")]
    RS256,
    #[value(name = "ES256")]
    ES256,
}

impl From<IdTokenAlg> for JwsAlg {
    fn from(a: IdTokenAlg) -> Self {
        match a {
            IdTokenAlg::RS256 => JwsAlg::Rs256,
            IdTokenAlg::ES256 => JwsAlg::Es256,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Reason {
    CourtOrder,
    DeathRegistration,
    CitizenRequest,
    SuspectedCompromise,
    Other,
}

impl From<Reason> for AdminReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::CourtOrder => Self::CourtOrder,
            Reason::DeathRegistration => Self::DeathRegistration,
            Reason::CitizenRequest => Self::CitizenRequest,
            Reason::SuspectedCompromise => Self::SuspectedCompromise,
            Reason::Other => Self::Other,
        }
    }
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Which {
    /// The account's reference, e.g. K7Q2-M9XD.
    #[arg(long)]
    reference: Option<String>,
    /// The holder's identity card number.
    #[arg(long)]
    hkid: Option<String>,
}

impl Which {
    fn selector(&self) -> AccountSelector {
        match (&self.reference, &self.hkid) {
            (Some(r), _) => AccountSelector::Reference(r.clone()),
            (None, Some(h)) => AccountSelector::Hkid(h.clone()),
            // clap's group makes exactly one of them present.
            (None, None) => AccountSelector::Reference(String::new()),
        }
    }
}

#[derive(Subcommand)]
enum CitizenCommand {
    /// Stop an account: no login, no token, no device management until resumed.
    Suspend {
        #[command(flatten)]
        which: Which,
        #[arg(long, value_enum)]
        reason: Reason,
    },
    /// Lift a suspension.
    Resume {
        #[command(flatten)]
        which: Which,
        #[arg(long, value_enum)]
        reason: Reason,
    },
    /// Close an account: its particulars, devices and tokens are erased; proofing reopens it.
    Close {
        #[command(flatten)]
        which: Which,
        #[arg(long, value_enum)]
        reason: Reason,
    },
}

/// Logs to standard error (text or JSON, filtered by `EID_LOG`), and, with `security_log`, the
/// security events (target `eid::security`) as JSON lines appended to that file, whatever
/// `EID_LOG` says.
fn init_logging(format: LogFormat, security_log: Option<&std::path::Path>) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("EID_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: a log file or a collector gets plain text.
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let stderr = match format {
        LogFormat::Json => stderr.json().boxed(),
        LogFormat::Text => stderr.boxed(),
    }
    .with_filter(filter);
    let security = match security_log {
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let file = options
                .open(path)
                .with_context(|| format!("opening the security log {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::sync::Mutex::new(file))
                    // Spans pass (the request's names the client); of events, the security ones.
                    .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                        m.is_span() || m.target() == "eid::security"
                    })),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(security)
        .init();
    Ok(())
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
    init_logging(settings.log_format, settings.security_log.as_deref())?;
    match cli.command {
        None | Some(Command::Serve) => serve(settings).await,
        Some(Command::Client(command)) => {
            tokio::task::spawn_blocking(move || admin(settings, command)).await?
        }
        Some(Command::Officer(command)) => {
            tokio::task::spawn_blocking(move || officers(settings, command)).await?
        }
        Some(Command::Citizen(command)) => {
            tokio::task::spawn_blocking(move || citizens(settings, command)).await?
        }
        Some(Command::Audit { since, limit }) => {
            tokio::task::spawn_blocking(move || audit(settings, since, limit)).await?
        }
        Some(Command::Keygen) => Ok(()),
        Some(Command::Keys(command)) => {
            tokio::task::spawn_blocking(move || keys(settings, command)).await?
        }
        Some(Command::Pki(command)) => {
            tokio::task::spawn_blocking(move || pki(settings, command)).await?
        }
        Some(Command::Portal(command)) => {
            tokio::task::spawn_blocking(move || portal(settings, command)).await?
        }
        Some(Command::Verify {
            document,
            signature,
        }) => {
            tokio::task::spawn_blocking(move || verify(settings, &document, signature.as_deref()))
                .await?
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(
        database = %eid_server::config::redact_url(&settings.database),
        listen = %settings.listen,
        "starting eid"
    );
    if let Some(registry) = &settings.registry {
        tracing::info!(url = %registry.url, "remote identity proofing uses this population registry");
    } else {
        tracing::warn!("no population registry configured: remote proofing is off, applicants are sent to a counter");
    }
    let mut options =
        eid_server::StartOptions::new(settings.listen, settings.database, settings.master_key);
    options.issuer = settings.issuer;
    options.pool_size = settings.pool_size;
    options.admin_listen = settings.admin_listen;
    options.admin_origin = settings.admin_origin;
    if let Some(registry) = &settings.registry {
        match &registry.capture_roots {
            eid_server::config::CaptureRootSource::Loaded(roots) if !roots.is_empty() => {
                tracing::info!(roots = ?roots.subjects(), "remote proofing believes face captures signed under these capture roots");
            }
            eid_server::config::CaptureRootSource::Loaded(_) => {}
            eid_server::config::CaptureRootSource::DevFile(path) => {
                tracing::warn!(path = %path.display(), "--dev: remote proofing believes face captures signed under the sandbox registry's capture root in this file");
            }
        }
    }
    if settings.proofing.danger_accept_unsigned_captures {
        tracing::warn!("[proofing] danger_accept_unsigned_captures: remote proofing believes face templates no capture key signed (a template computed from any photo proves its subject): for development only");
    }
    options.registry = settings.registry;
    options.face_match_threshold = settings.face_match_threshold;
    options.proofing = settings.proofing.clone();
    options.limits = settings.limits;
    options.application_ttl = i64::from(settings.application_ttl_days) * 86_400;
    options.link_cooling_off = i64::from(settings.link_cooling_off_days) * 86_400;
    options.login = settings.login;
    options.tokens = settings.tokens;
    options.sessions = settings.sessions;
    options.registration = settings.registration.clone();
    options.outbound = settings.outbound;
    if settings.outbound.danger_allow_private_addresses {
        tracing::warn!("[outbound] danger_allow_private_addresses: relying parties' URLs may name this machine and its network");
    }
    options.danger_implicit_flow = settings.danger_implicit_flow;
    if settings.danger_implicit_flow {
        tracing::warn!("[oidc] danger_implicit_flow: clients that register it receive tokens through the browser");
    }
    if settings.attestation.signing_min_key_protection
        == eid_core::attestation::MinKeyProtection::Software
    {
        tracing::warn!("[signing] min_key_protection = software: document signatures may be approved by software keys (a copied wallet file signs): for development only");
    }
    if settings.attestation.software_key_max_level == eid_core::account::Level::Plus
        && settings.attestation.roots.is_none()
    {
        tracing::warn!("[attestation] software_key_max_level = plus with no trusted roots: every key reaches plus (development only)");
    }
    options.pkcs11 = settings.pkcs11.clone();
    options.pki = settings.pki.clone();
    options.guard = settings.guard.clone();
    options.max_connections = settings.max_connections;
    options.attestation = settings.attestation.clone();
    options.officers = settings.officers.clone();
    if settings.officers.danger_accept_software_keys {
        tracing::warn!("--dev: officers may register ANY key as their security key, software keys included, with no attestation; never run a real deployment with --dev");
        eprintln!("WARNING: --dev: officers' keys need no attestation (software keys accepted). Development only.");
    } else if settings.officers.roots.is_none() {
        tracing::warn!("no [officers] attestation_roots: no officer can register a security key");
    }
    let server = eid_server::start(options).await?;
    let issuer = server.issuer.as_str().trim_end_matches('/');
    println!("eid is serving at {issuer}");
    println!("discovery: {issuer}/.well-known/openid-configuration");
    if let Some((_, origin)) = &server.admin {
        println!(
            "officer console: {} (loopback only unless configured)",
            origin.as_str().trim_end_matches('/')
        );
    }
    server.wait().await?;
    tracing::info!("eid stopped");
    Ok(())
}

/// Who runs this command, for the audit trail of operator acts: the process's user id (from
/// the kernel: `/proc/self` belongs to it) and the login name the environment gives (under
/// sudo, the account that ran sudo). Attribution, not authentication: whoever can run the
/// command against the database could also write the database.
fn operator() -> String {
    let name = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{var}={v}"))
        })
        .unwrap_or_else(|| "no login name".to_owned());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let Ok(proc) = std::fs::metadata("/proc/self") {
            return format!("uid {} ({name})", proc.uid());
        }
    }
    name
}

/// The provider, opened for an administrative command.
fn open_provider(settings: &Settings) -> anyhow::Result<Provider> {
    let db = eid_store::Database::open(&settings.database, 2).with_context(|| {
        format!(
            "opening {}",
            eid_server::config::redact_url(&settings.database)
        )
    })?;
    let issuer = match &settings.issuer {
        Some(issuer) => issuer.clone(),
        None => Url::parse(&format!("http://localhost:{}", settings.listen.port()))?,
    };
    let mut config = ProviderConfig::new(issuer.clone());
    config.danger_implicit_flow = settings.danger_implicit_flow;
    config.pki = settings.pki.for_issuer(&issuer);
    config.operator = Some(operator());
    Ok(Provider::open_with_custody(
        Arc::new(db),
        &settings.master_key,
        eid_server::custody(settings.pkcs11.as_ref())?,
        config,
        eid_server::now(),
    )?)
}

fn pki(settings: Settings, command: PkiCommand) -> anyhow::Result<()> {
    use eid_core::pki::CertKind;
    let provider = open_provider(&settings)?;
    let certificates = match command {
        PkiCommand::Init => provider.pki_init(eid_server::now())?,
        PkiCommand::Revoke { serial, reason } => {
            let reason = eid_core::store::RevocationReason::parse(&reason).ok_or_else(|| {
                anyhow::anyhow!("--reason {reason:?} is not a CRLReason eid uses")
            })?;
            let cert = provider.revoke_certificate(&serial, reason, eid_server::now())?;
            println!("revoked {} ({})", cert.serial, cert.kind.as_str());
            return Ok(());
        }
        PkiCommand::Show => {
            let authority = provider.authority()?;
            vec![
                authority.root.clone(),
                authority.issuing.certificate.clone(),
                authority.ocsp.certificate.clone(),
                authority.tsa.certificate.clone(),
            ]
        }
    };
    for cert in &certificates {
        let what = match cert.kind {
            CertKind::Root => "root CA",
            CertKind::Issuing => "issuing CA",
            CertKind::Ocsp => "OCSP responder",
            CertKind::Tsa => "time-stamping unit",
            CertKind::Signer => "signer",
        };
        println!("# {what}, serial {}", cert.serial);
        print!("{}", eid_core::pki::pem(&cert.der));
    }
    Ok(())
}

fn verify(
    settings: Settings,
    document: &std::path::Path,
    signature: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use eid_core::pki::verify::StatusAtSigning;
    let provider = open_provider(&settings)?;
    let now = eid_server::now();
    let content =
        std::fs::read(document).with_context(|| format!("reading {}", document.display()))?;
    let verified = match signature {
        Some(path) => {
            let signature =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            provider.verify_signature(&signature, &|alg| alg.digest(&content), now)
        }
        None => provider.verify_pdf(&content, now),
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => anyhow::bail!("NOT VALID: {e}"),
    };
    let time = |t: Option<eid_core::time::UnixTime>| {
        t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.secs()).ok())
            .map_or("-".to_owned(), |t| t.to_string())
    };
    println!("signer: {}", verified.signer);
    println!("certificate: {}", verified.certificate_serial);
    println!("digest: {}", verified.digest_alg.as_str());
    println!("claimed signing time: {}", time(verified.claimed_time));
    println!("time stamp: {}", time(verified.time_stamp));
    match verified.status {
        StatusAtSigning::Good { revoked_since } => {
            println!("certificate status at signing: good");
            if revoked_since.is_some() {
                println!("  (revoked since: {})", time(revoked_since));
            }
            println!("VALID: the signature, the chain to eid's root and the time stamp check out");
            Ok(())
        }
        StatusAtSigning::Revoked { at } => {
            anyhow::bail!(
                "NOT VALID: the certificate was revoked at {} before signing",
                time(Some(at))
            )
        }
        StatusAtSigning::Unknown => {
            anyhow::bail!("NOT VALID: the certificate is not one this deployment issued")
        }
    }
}

/// Where officers' browsers reach the console.
fn console_origin(settings: &Settings) -> String {
    match (&settings.admin_origin, settings.admin_listen) {
        (Some(origin), _) => origin.as_str().trim_end_matches('/').to_owned(),
        (None, Some(addr)) => format!("http://localhost:{}", addr.port()),
        (None, None) => "http://localhost:8081".to_owned(),
    }
}

/// An officer's key on one line: fingerprint, state, attestation.
fn describe_key(key: &eid_core::officers::OfficerKey) -> String {
    let state = match key.confirmed_at {
        Some(at) => format!("confirmed {}", utc(at.secs())),
        None => format!(
            "WAITING for confirmation since {}",
            utc(key.registered_at.secs())
        ),
    };
    let attestation = match &key.protection {
        eid_core::attestation::KeyProtection::Hardware { root } => {
            format!("hardware key attested by {root}")
        }
        eid_core::attestation::KeyProtection::Software => "software key (development)".to_owned(),
    };
    format!("key {} {state}, {attestation}", key.fingerprint)
}

/// `2026-12-12 10:00 UTC`.
fn utc(t: i64) -> String {
    eid_core::time::UnixTime::from_secs(t).to_utc_minutes()
}

fn officers(settings: Settings, command: OfficerCommand) -> anyhow::Result<()> {
    let provider = open_provider(&settings)?;
    let now = eid_server::now();
    let hours = provider.config().officer_invite_ttl / 3_600;
    match command {
        OfficerCommand::Add { name } => {
            if settings.officers.roots.is_none() && !settings.officers.danger_accept_software_keys {
                eprintln!("WARNING: no [officers] attestation_roots is configured: the console will refuse every key.");
            }
            let new = provider.add_officer(&name, now)?;
            println!("officer_id: {}", new.officer.officer_id);
            println!(
                "enrolment link: {}/enrol/{}",
                console_origin(&settings),
                new.invite_token
            );
            eprintln!(
                "Give the link to {} only; it works once, within {hours} hours, on the officer console. Then confirm their key: `officer confirm {}`.",
                new.officer.name, new.officer.officer_id
            );
        }
        OfficerCommand::List => {
            for o in provider.officers()? {
                let keys = provider.officer_keys(&o.officer_id)?;
                let keys = if keys.is_empty() {
                    "no key".to_owned()
                } else {
                    keys.iter().map(describe_key).collect::<Vec<_>>().join("; ")
                };
                println!(
                    "{}\t{}\t{}\t{keys}",
                    o.officer_id,
                    if o.active { "active" } else { "removed" },
                    o.name
                );
            }
        }
        OfficerCommand::Confirm {
            officer_id,
            fingerprint,
        } => {
            let waiting = provider
                .officer_keys(&officer_id)?
                .into_iter()
                .find(|k| k.confirmed_at.is_none())
                .ok_or_else(|| {
                    anyhow::anyhow!("officer {officer_id} has no key waiting for confirmation")
                })?;
            println!("key waiting for confirmation: {}", describe_key(&waiting));
            if let eid_core::attestation::KeyProtection::Software = waiting.protection {
                eprintln!("WARNING: a software key, registered under --dev: it cannot sign in to a deployment that is not --dev.");
            }
            let fingerprint = match fingerprint {
                Some(f) => f,
                None => {
                    use std::io::{BufRead as _, Write as _};
                    eprint!(
                        "Ask the officer to read out the code their console showed, and type it: "
                    );
                    let _ = std::io::stderr().flush();
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim().to_owned()
                }
            };
            if fingerprint.is_empty() {
                anyhow::bail!("not confirmed: no fingerprint given");
            }
            let key = provider.confirm_officer_key(&officer_id, &fingerprint, now)?;
            println!("confirmed {} for officer {officer_id}", key.fingerprint);
        }
        OfficerCommand::Invite { officer_id } => {
            let invite = provider.invite_officer(&officer_id, now)?;
            println!(
                "enrolment link: {}/enrol/{}",
                console_origin(&settings),
                invite.invite_token
            );
            if invite.revoked_keys > 0 {
                println!(
                    "revoked: the officer's earlier key ({}) and their sessions",
                    invite.revoked_keys
                );
            }
            eprintln!("It works once, within {hours} hours; then confirm the key with `officer confirm {officer_id}`.");
        }
        OfficerCommand::Remove { officer_id } => {
            provider.remove_officer(&officer_id, now)?;
            println!("removed {officer_id}");
        }
    }
    Ok(())
}

fn citizens(settings: Settings, command: CitizenCommand) -> anyhow::Result<()> {
    let provider = open_provider(&settings)?;
    let now = eid_server::now();
    let account = match command {
        CitizenCommand::Suspend { which, reason } => {
            provider.suspend_account(&which.selector(), reason.into(), now)?
        }
        CitizenCommand::Resume { which, reason } => {
            provider.resume_account(&which.selector(), reason.into(), now)?
        }
        CitizenCommand::Close { which, reason } => {
            provider.close_account(&which.selector(), reason.into(), now)?
        }
    };
    println!(
        "account {} is {}",
        account.reference,
        account.status.as_str()
    );
    Ok(())
}

fn audit(settings: Settings, since: i64, limit: usize) -> anyhow::Result<()> {
    let provider = open_provider(&settings)?;
    for e in provider.audit_log(UnixTime::from_secs(since), limit)? {
        let line = serde_json::json!({
            "event_id": e.event_id,
            "at": e.at,
            "action": e.action,
            "actor": e.actor_kind.as_str(),
            "actor_id": e.actor_id,
            "citizen_id": e.citizen_id,
            "application_id": e.application_id,
            "device_id": e.device_id,
            // Every field the event set (a signing request, a client, what an operator
            // changed...); nothing in a detail is a secret or a citizen's particular.
            "detail": e.detail,
        });
        println!("{line}");
    }
    Ok(())
}

fn keys(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let provider = open_provider(&settings)?;
    let now = eid_server::now();
    match command {
        KeysCommand::List => {}
        KeysCommand::Rotate { start_in } => {
            let kids = provider.rotate_token_keys(now, now + i64::from(start_in))?;
            println!("new keys: {}", kids.join(", "));
        }
    }
    for (key, status) in provider.token_key_status(now)? {
        println!("{}\t{}\t{}\t{status}", key.kid, key.alg, key.created_at);
    }
    Ok(())
}

fn admin(settings: Settings, command: ClientCommand) -> anyhow::Result<()> {
    let provider = open_provider(&settings)?;
    match command {
        ClientCommand::Add {
            name,
            redirect_uris,
            id_token_alg,
            auth_method,
            jwks,
            jwks_uri,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            frontchannel_logout_uri,
            initiate_login_uri,
            profile,
            dpop,
            require_par,
            jwt_access_tokens,
            response_types,
            allow_signing,
        } => {
            let mut registration =
                ClientRegistration::new(&name, &redirect_uris, JwsAlg::from(id_token_alg));
            registration.auth_method = TokenAuthMethod::parse(&auth_method).ok_or_else(|| {
                anyhow::anyhow!("--auth-method {auth_method:?} is not one eid knows")
            })?;
            if let Some(path) = jwks {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                registration.jwks = Some(
                    serde_json::from_str(&text)
                        .with_context(|| format!("{} is not JSON", path.display()))?,
                );
            }
            registration.jwks_uri = jwks_uri;
            registration.post_logout_redirect_uris = post_logout_redirect_uris;
            registration.backchannel_logout_uri = backchannel_logout_uri;
            registration.frontchannel_logout_uri = frontchannel_logout_uri;
            registration.initiate_login_uri = initiate_login_uri;
            registration.profile = ClientProfile::parse(&profile)
                .ok_or_else(|| anyhow::anyhow!("--profile {profile:?}: choose oidc or fapi2"))?;
            registration.dpop_bound_access_tokens = dpop;
            registration.require_pushed_authorization_requests = require_par;
            registration.jwt_access_tokens = jwt_access_tokens;
            registration.response_types = response_types
                .iter()
                .map(|t| {
                    eid_core::oidc::ResponseType::parse(t).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--response-type {t:?}: choose code, id_token or \"id_token token\""
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            registration.signing = allow_signing;
            let new = provider.register_client(&registration, eid_server::now())?;
            let method = new.client.metadata.token_endpoint_auth_method;
            println!("client_id: {}", new.client.client_id);
            if method.uses_secret() {
                println!("client_secret: {}", new.client_secret);
            }
            println!("token_endpoint_auth_method: {}", method.as_str());
            println!("id_token_signed_response_alg: {}", new.client.id_token_alg);
            println!("profile: {}", new.client.metadata.profile.as_str());
            if !new.client.metadata.response_types.is_empty() {
                println!(
                    "response_types: {}",
                    new.client.metadata.response_types.join(", ")
                );
            }
            if new.client.metadata.signing {
                println!("signing: allowed");
            }
            if method.uses_secret() {
                eprintln!("The secret is shown only now.");
            }
        }
        ClientCommand::List => {
            for c in provider.clients()? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.client_id,
                    c.metadata.token_endpoint_auth_method.as_str(),
                    c.id_token_alg,
                    c.name,
                    c.redirect_uris.join(" ")
                );
            }
        }
        ClientCommand::Remove { client_id } => {
            provider.remove_client(&client_id, eid_server::now())?;
            println!("removed {client_id}");
        }
    }
    Ok(())
}

/// A catalogue file: the services the portal lists.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    service: Vec<eid_core::catalogue::CatalogueFileService>,
}

fn portal(settings: Settings, command: PortalCommand) -> anyhow::Result<()> {
    let provider = open_provider(&settings)?;
    match command {
        PortalCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let catalogue: CatalogueFile = toml::from_str(&text)
                .with_context(|| format!("{} does not read", file.display()))?;
            // Every entry is checked before any is written: a bad file changes nothing.
            let mut checked = Vec::new();
            for service in catalogue.service {
                let entry = service.to_entry()?;
                let client = provider
                    .clients()?
                    .into_iter()
                    .find(|c| c.client_id.as_str() == service.client_id)
                    .ok_or_else(|| anyhow::anyhow!("no client {}", service.client_id))?;
                let initiate = service
                    .initiate_login_uri
                    .clone()
                    .or(client.metadata.initiate_login_uri.clone())
                    .ok_or_else(|| {
                        anyhow::anyhow!("{}: no initiate_login_uri", service.client_id)
                    })?;
                eid_core::catalogue::validate_entry(&entry, &initiate)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", service.client_id))?;
                checked.push((service.client_id, entry, service.initiate_login_uri));
            }
            for (client_id, entry, initiate) in checked {
                provider.set_catalogue_entry(
                    &client_id,
                    Some(entry),
                    initiate,
                    eid_server::now(),
                )?;
                println!("listed {client_id}");
            }
        }
        PortalCommand::List => {
            for card in provider.catalogue(&Default::default())? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    card.client_id,
                    card.name_en,
                    card.themes
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    card.audiences
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    card.links
                        .iter()
                        .map(|(en, _, _)| en.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
        }
        PortalCommand::Remove { client_id } => {
            provider.set_catalogue_entry(&client_id, None, None, eid_server::now())?;
            println!("{client_id} is no longer in the portal");
        }
    }
    Ok(())
}
