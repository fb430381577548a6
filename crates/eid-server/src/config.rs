//! Configuration: a TOML file, overlaid by `EID_*` environment variables, overlaid by flags;
//! parsed once at start-up into [`Settings`], whose fields are already valid.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use eid_core::crypto::MasterKey;
use eid_core::limits::{Limits, RateLimit};
use eid_core::oidc::registration::RegistrationPolicy;
use serde::Deserialize;
use url::Url;

/// Where the sandbox population registry listens in a development start.
pub const DEV_REGISTRY_URL: &str = "http://127.0.0.1:7070";

/// The configuration file's shape. Every field is optional; unknown fields are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub issuer: Option<Url>,
    pub database: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub master_key_file: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    /// Security events as JSON lines, appended to this file (created 0600).
    pub security_log: Option<PathBuf>,
    pub pool_size: Option<u32>,
    /// The officer console's listener (loopback by default, never the public one).
    pub admin_listen: Option<SocketAddr>,
    /// The officer console's origin as officers' browsers see it.
    pub admin_origin: Option<Url>,
    /// Remote identity proofing against a population registry.
    pub registry: Option<RegistryFile>,
    /// Rate limits, each `N/period` (`5/1d`, `30/1h`, `100/10m`).
    pub limits: Option<LimitsFile>,
    /// How long an application waits for proofing, in days [default: 7].
    pub application_ttl_days: Option<u32>,
    /// How long a device joined by link code may not remove older devices, in days [default: 7].
    pub link_cooling_off_days: Option<u32>,
    /// How long logins wait for the phone and the browser.
    pub login: Option<LoginFile>,
    /// How long the tokens a client holds live.
    pub tokens: Option<TokensFile>,
    /// How long single sign-on sessions live.
    pub sessions: Option<SessionsFile>,
    /// Who may register clients themselves.
    pub registration: Option<RegistrationFile>,
    /// Reverse proxies (addresses or networks, `10.0.0.0/8`) whose `X-Forwarded-For` names the
    /// client [default: none: the peer is the client].
    pub trusted_proxies: Option<Vec<String>>,
    /// Connections the public listener holds at most [default: 10000]; keep it below the
    /// process's file descriptor limit.
    pub max_connections: Option<usize>,
    /// Connections one client address may hold [default: 256].
    pub connections_per_address: Option<usize>,
    /// Seconds a request may take to arrive (body included) and be answered [default: 10].
    pub request_deadline_secs: Option<u64>,
    /// Which device keys are accepted, at which level.
    pub attestation: Option<AttestationFile>,
    /// Which security keys registration officers may register.
    pub officers: Option<OfficersFile>,
    /// Which keys approve document signatures.
    pub signing: Option<SigningFile>,
    /// What remote proofing believes, and how long a recovery waits.
    pub proofing: Option<ProofingFile>,
    /// Where eid may send requests (back-channel logout, clients' key sets).
    pub outbound: Option<OutboundFile>,
    /// Which OpenID Connect flows are offered.
    pub oidc: Option<OidcFile>,
    /// Where private keys are kept (a PKCS#11 token).
    pub keys: Option<KeysFile>,
    /// The document-signing PKI's names, lifetimes and policy.
    pub pki: Option<PkiFile>,
}

/// `[keys]` in the configuration file: a PKCS#11 token (an HSM) in which new keys are
/// generated. Without it, keys are software keys sealed under the master key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the token to use.
    pub pkcs11_token_label: Option<String>,
    /// A file holding the user PIN (else `EID_PKCS11_PIN`).
    pub pkcs11_pin_file: Option<PathBuf>,
}

/// `[pki]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkiFile {
    pub organization: Option<String>,
    /// Two letters.
    pub country: Option<String>,
    pub root_name: Option<String>,
    pub issuing_name: Option<String>,
    /// The certificate policy OID of citizens' signing certificates.
    pub signing_policy: Option<String>,
    /// The policy OID the time-stamping unit stamps under.
    pub tsa_policy: Option<String>,
    pub root_days: Option<u32>,
    pub issuing_days: Option<u32>,
    pub service_days: Option<u32>,
    pub signer_days: Option<u32>,
}

/// The `[pki]` settings applied over the defaults for `issuer`.
#[derive(Debug, Clone, Default)]
pub struct PkiSettings(Option<PkiFileValues>);

#[derive(Debug, Clone)]
struct PkiFileValues {
    organization: Option<String>,
    country: Option<String>,
    root_name: Option<String>,
    issuing_name: Option<String>,
    signing_policy: Option<String>,
    tsa_policy: Option<String>,
    days: [Option<u32>; 4],
}

impl PkiSettings {
    /// The PKI configuration for `issuer`.
    pub fn for_issuer(&self, issuer: &Url) -> eid_core::pki::PkiConfig {
        let mut config = eid_core::pki::PkiConfig::new(issuer.clone());
        if let Some(v) = &self.0 {
            if let Some(x) = &v.organization {
                config.organization = x.clone();
            }
            if let Some(x) = &v.country {
                config.country = x.clone();
            }
            if let Some(x) = &v.root_name {
                config.root_name = x.clone();
            }
            if let Some(x) = &v.issuing_name {
                config.issuing_name = x.clone();
            }
            if let Some(x) = &v.signing_policy {
                config.signing_policy = x.clone();
            }
            if let Some(x) = &v.tsa_policy {
                config.tsa_policy = x.clone();
            }
            let [root, issuing, service, signer] = v.days;
            for (target, value) in [
                (&mut config.root_days, root),
                (&mut config.issuing_days, issuing),
                (&mut config.service_days, service),
                (&mut config.signer_days, signer),
            ] {
                if let Some(days) = value {
                    *target = i64::from(days);
                }
            }
        }
        config
    }
}

fn pki_settings(file: Option<PkiFile>) -> anyhow::Result<PkiSettings> {
    let Some(file) = file else {
        return Ok(PkiSettings::default());
    };
    if let Some(country) = &file.country {
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            bail!("[pki] country must be two capital letters (ISO 3166), not {country:?}");
        }
    }
    for (name, oid) in [
        ("signing_policy", &file.signing_policy),
        ("tsa_policy", &file.tsa_policy),
    ] {
        let Some(oid) = oid else { continue };
        let arcs: Vec<&str> = oid.split('.').collect();
        if arcs.len() < 2
            || arcs
                .iter()
                .any(|a| a.is_empty() || !a.chars().all(|c| c.is_ascii_digit()))
        {
            bail!("[pki] {name} must be a dotted OID, not {oid:?}");
        }
    }
    let days = [
        file.root_days,
        file.issuing_days,
        file.service_days,
        file.signer_days,
    ];
    if days.iter().flatten().any(|d| *d == 0 || *d > 40 * 365) {
        bail!("[pki] lifetimes are days between 1 and 14600");
    }
    Ok(PkiSettings(Some(PkiFileValues {
        organization: file.organization,
        country: file.country,
        root_name: file.root_name,
        issuing_name: file.issuing_name,
        signing_policy: file.signing_policy,
        tsa_policy: file.tsa_policy,
        days,
    })))
}

fn pkcs11_settings(file: Option<KeysFile>) -> anyhow::Result<Option<eid_hsm::Pkcs11Config>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let Some(module) = file.pkcs11_module else {
        if file.pkcs11_token_label.is_some() || file.pkcs11_pin_file.is_some() {
            bail!("[keys] needs pkcs11_module for a PKCS#11 token");
        }
        return Ok(None);
    };
    let token_label = file
        .pkcs11_token_label
        .context("[keys] pkcs11_token_label names the token to use")?;
    let pin = match file.pkcs11_pin_file {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading the PKCS#11 PIN from {}", path.display()))?
            .trim()
            .to_owned(),
        None => std::env::var("EID_PKCS11_PIN")
            .context("the PKCS#11 user PIN: set EID_PKCS11_PIN or [keys] pkcs11_pin_file")?,
    };
    Ok(Some(eid_hsm::Pkcs11Config {
        module,
        token_label,
        pin,
    }))
}

/// `[oidc]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    /// Offer the implicit flow (`id_token`, `id_token token`) to clients that register it
    /// [default: false]. Tokens then travel through the browser, which the OAuth 2.0 Security
    /// BCP advises against; OIDC Core §15.2 asks it of a Dynamic OpenID Provider, so a
    /// certification run turns it on.
    pub danger_implicit_flow: Option<bool>,
}

/// `[outbound]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundFile {
    /// Let relying parties' URLs name private, loopback and link-local addresses and plain
    /// http [default: false; true with --dev]: for development and tests only.
    pub danger_allow_private_addresses: Option<bool>,
    /// An egress proxy for these requests: not supported, refused at start-up (see
    /// [`outbound_policy`]).
    pub proxy: Option<String>,
}

/// The outbound policy of `[outbound]`. A proxy is refused: through it, the proxy would
/// resolve the relying party's name, so eid could not hold the request to a public address
/// (the check needs the address eid connects to; reqwest cannot make a proxy's `CONNECT` go to
/// an address eid checked while TLS still names the host).
fn outbound_policy(
    file: Option<OutboundFile>,
    dev: bool,
) -> anyhow::Result<crate::outbound::OutboundPolicy> {
    let file = file.unwrap_or_default();
    if let Some(proxy) = &file.proxy {
        bail!(
            "[outbound] proxy = {proxy:?} is not supported: eid sends requests to relying parties' \
             sites directly, so that it can hold them to public addresses; remove the setting and \
             allow eid-server egress to port 443 (operations guide, \"Outbound requests\")"
        );
    }
    Ok(crate::outbound::OutboundPolicy {
        // A development start's relying parties run on the same machine.
        danger_allow_private_addresses: file.danger_allow_private_addresses.unwrap_or(dev),
    })
}

/// `[attestation]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationFile {
    /// PEM files of the attestation roots trusted to vouch for hardware keys.
    pub trusted_roots: Option<Vec<PathBuf>>,
    /// Whether keys no trusted root attests may register [default: true].
    pub accept_software_keys: Option<bool>,
    /// The highest level an approval with such a key reaches: `basic` or `plus` [default:
    /// `basic`; `plus` with --dev].
    pub software_key_max_level: Option<String>,
}

/// `[officers]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficersFile {
    /// PEM files of the attestation roots trusted to vouch for officers' security keys (a
    /// list of its own, stricter than `[attestation] trusted_roots`: the makers of the keys
    /// the department issues). Without it no officer can register a key, except with --dev.
    pub attestation_roots: Option<Vec<PathBuf>>,
}

/// `[proofing]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofingFile {
    /// PEM files of the roots whose keys vouch for phones' capture keys (the capture
    /// component's maker). Remote proofing needs them unless unsigned captures are accepted.
    pub capture_roots: Option<Vec<PathBuf>>,
    /// Development only: believe face templates that no capture key signed.
    pub danger_accept_unsigned_captures: Option<bool>,
    /// How long a remote recovery of an existing account waits for its devices to cancel it:
    /// `72h`, `3d`, `90m` [default: 72h; at least 1h outside --dev].
    pub recovery_hold: Option<String>,
}

/// Where remote proofing finds its capture roots.
#[derive(Debug, Clone)]
pub enum CaptureRootSource {
    /// `[proofing] capture_roots`, read at start-up (empty: unsigned captures only, where
    /// accepted).
    Loaded(std::sync::Arc<eid_core::capture::CaptureRoots>),
    /// `--dev` without configured roots: the sandbox registry's root, read at each proofing
    /// from this file (`population-registry generate --out data/registry` writes it), so the
    /// server may start before the registry's residents are generated.
    DevFile(PathBuf),
}

impl Default for CaptureRootSource {
    fn default() -> Self {
        Self::Loaded(Default::default())
    }
}

/// The file the sandbox registry's `generate` writes its capture root to, under its `--out`.
pub const SANDBOX_CAPTURE_ROOT: &str = "capture-root.pem";

/// `72h`, `3d`, `90m`, `45s` in seconds.
fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = number.parse().ok()?;
    let unit = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit).filter(|v| *v > 0)
}

fn proofing_policy(
    file: ProofingFile,
    data_dir: &std::path::Path,
    remote_proofing: bool,
    dev: bool,
) -> anyhow::Result<(eid_core::proofing::ProofingPolicy, CaptureRootSource)> {
    let hold_text = file.recovery_hold.as_deref().unwrap_or("72h");
    let recovery_hold = parse_duration(hold_text).ok_or_else(|| {
        anyhow::anyhow!(
            "proofing.recovery_hold: {hold_text:?} is not a duration like 72h, 3d or 90m"
        )
    })?;
    if recovery_hold < 3_600 && !dev {
        bail!("proofing.recovery_hold must be at least 1h: a holder must have time to hear of a recovery");
    }
    let danger = file.danger_accept_unsigned_captures.unwrap_or(false);
    let mut pem = String::new();
    for path in file.capture_roots.unwrap_or_default() {
        pem.push_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("proofing.capture_roots: reading {}", path.display()))?,
        );
        pem.push('\n');
    }
    let roots = if pem.trim().is_empty() {
        if dev {
            CaptureRootSource::DevFile(data_dir.join("registry").join(SANDBOX_CAPTURE_ROOT))
        } else {
            if remote_proofing && !danger {
                bail!("remote proofing needs [proofing] capture_roots: the roots that vouch for the capture keys of phones' face captures");
            }
            CaptureRootSource::default()
        }
    } else {
        CaptureRootSource::Loaded(std::sync::Arc::new(
            eid_core::capture::CaptureRoots::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("proofing.capture_roots: {e}"))?,
        ))
    };
    Ok((
        eid_core::proofing::ProofingPolicy {
            danger_accept_unsigned_captures: danger,
            recovery_hold,
        },
        roots,
    ))
}

/// `[signing]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningFile {
    /// The least protection of a key that approves a signature: `hardware` (attested by a
    /// trusted root) or `software` [default: `hardware`; `software` with --dev, which then
    /// says that signatures are backed by software keys].
    pub min_key_protection: Option<String>,
}

/// `[login]` in the configuration file: the windows of a login, in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginFile {
    /// To answer on the phone after the login page appears [default: 120].
    pub approval_window_secs: Option<u32>,
    /// To continue in the browser after the phone approved [default: 120].
    pub completion_window_secs: Option<u32>,
    /// A login page's whole life, new codes shown on it included [default: 600].
    pub page_lifetime_secs: Option<u32>,
}

/// `[sessions]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsFile {
    /// A session unused this many minutes ends [default: 30].
    pub idle_minutes: Option<u32>,
    /// A session ends this many hours after the citizen approved on the phone, used or not
    /// [default: 8].
    pub lifetime_hours: Option<u32>,
}

fn session_lifetimes(file: SessionsFile) -> anyhow::Result<eid_core::sso::SessionConfig> {
    let idle = file.idle_minutes.unwrap_or(30);
    let lifetime = file.lifetime_hours.unwrap_or(8);
    if !(1..=1_440).contains(&idle) || !(1..=720).contains(&lifetime) {
        bail!("sessions.idle_minutes must be 1 to 1440 and sessions.lifetime_hours 1 to 720");
    }
    if i64::from(idle) * 60 > i64::from(lifetime) * 3600 {
        bail!("sessions.idle_minutes may not exceed sessions.lifetime_hours");
    }
    Ok(eid_core::sso::SessionConfig {
        idle: i64::from(idle) * 60,
        lifetime: i64::from(lifetime) * 3600,
    })
}

/// `[tokens]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    /// A refresh token's grant ends this many days after its last use [default: 30].
    pub refresh_idle_days: Option<u32>,
    /// ...and this many days after the citizen approved it, used or not [default: 180].
    pub refresh_max_days: Option<u32>,
}

/// How long the tokens a client holds live, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub refresh_idle: i64,
    pub refresh_max: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            refresh_idle: 30 * 86_400,
            refresh_max: 180 * 86_400,
        }
    }
}

fn token_lifetimes(file: TokensFile) -> anyhow::Result<TokenLifetimes> {
    let idle = file.refresh_idle_days.unwrap_or(30);
    let max = file.refresh_max_days.unwrap_or(180);
    if !(1..=3_650).contains(&idle) || !(1..=3_650).contains(&max) || idle > max {
        bail!("tokens.refresh_idle_days and refresh_max_days must be 1 to 3650 days, the idle lifetime at most the whole one");
    }
    Ok(TokenLifetimes {
        refresh_idle: i64::from(idle) * 86_400,
        refresh_max: i64::from(max) * 86_400,
    })
}

/// The windows of a login, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginWindows {
    pub approval: i64,
    pub completion: i64,
    pub page_lifetime: i64,
}

impl Default for LoginWindows {
    fn default() -> Self {
        Self {
            approval: 120,
            completion: 120,
            page_lifetime: 600,
        }
    }
}

/// `[registry]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub url: Option<Url>,
    pub jwks_url: Option<Url>,
    pub id: Option<String>,
    pub timeout_secs: Option<u64>,
    pub face_match_threshold: Option<f64>,
}

/// `[limits]` in the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub proofing_per_application: Option<String>,
    pub proofing_per_device: Option<String>,
    pub proofing_failures_per_address: Option<String>,
    pub proofing_per_hkid: Option<String>,
    pub proofing_per_address: Option<String>,
    pub applications_per_address: Option<String>,
    pub authorize_per_address: Option<String>,
    pub authorize_per_client: Option<String>,
    pub login_pages_per_address: Option<String>,
    pub approvals_per_address: Option<String>,
    pub approvals_per_account: Option<String>,
    pub sessions_per_address: Option<String>,
    pub registrations_per_address: Option<String>,
    pub signing_requests_per_citizen: Option<String>,
    /// A number: a relying party's login requests waiting for a phone, beyond which the
    /// oldest are dropped.
    pub pending_logins_per_client: Option<u64>,
    pub token_per_address: Option<String>,
    pub ocsp_per_address: Option<String>,
    pub ocsp_fresh_per_address: Option<String>,
    pub tsa_per_address: Option<String>,
}

/// `[registration]` in the configuration file: dynamic client registration (RFC 7591).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationFile {
    /// `off` (default: the operator registers clients), `open` (anyone may register), or
    /// `token` (a client must present an initial access token).
    pub mode: Option<String>,
    /// With `token`: the SHA-256 (hex) of each initial access token accepted.
    pub initial_access_token_sha256: Option<Vec<String>>,
}

fn registration_policy(file: RegistrationFile) -> anyhow::Result<RegistrationPolicy> {
    let hashes = file.initial_access_token_sha256.unwrap_or_default();
    match file.mode.as_deref().unwrap_or("off") {
        "off" => Ok(RegistrationPolicy::Off),
        "open" => Ok(RegistrationPolicy::Open),
        "token" => {
            if hashes.is_empty() {
                bail!("registration.mode = \"token\" needs initial_access_token_sha256");
            }
            let parsed = hashes
                .iter()
                .map(|h| {
                    let bytes: Vec<u8> = (0..h.len())
                        .step_by(2)
                        .filter_map(|i| {
                            h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())
                        })
                        .collect();
                    <[u8; 32]>::try_from(bytes).map_err(|_| {
                        anyhow::anyhow!(
                            "registration.initial_access_token_sha256: {h:?} is not 64 hex digits"
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(RegistrationPolicy::Token(parsed))
        }
        other => bail!("registration.mode must be off, open or token, not {other:?}"),
    }
}

/// How eid reaches the population registry.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Base URL; queries go to `<url>/v1/verifications`.
    pub url: Url,
    /// Where the registry publishes its keys.
    pub jwks_url: Url,
    /// The registry's identifier (`aud` of queries, `iss` of verdicts).
    pub id: String,
    pub timeout: std::time::Duration,
    /// The roots that vouch for phones' capture keys.
    pub capture_roots: CaptureRootSource,
}

impl RegistrySettings {
    /// Settings for a registry at `url`, with its keys at `<url>/jwks` and its identifier the
    /// URL without a trailing slash.
    pub fn at(url: Url) -> anyhow::Result<Self> {
        let jwks_url = url.join("jwks")?;
        Ok(Self {
            id: url.as_str().trim_end_matches('/').to_owned(),
            jwks_url,
            url,
            timeout: std::time::Duration::from_secs(5),
            capture_roots: CaptureRootSource::default(),
        })
    }
}

/// How logs are written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Values given on the command line or in `EID_*` variables (clap reads both). What only serving
/// uses is a flag of the top level (`eid-server --listen .. [serve]`); what the administrative
/// commands use too is global.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Configuration file (TOML).
    #[arg(long, env = "EID_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "EID_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Issuer URL, as relying parties see it [default: http://localhost:<port>].
    #[arg(long, env = "EID_ISSUER")]
    pub issuer: Option<Url>,
    /// sqlite://PATH or postgres://... [default: sqlite://<data-dir>/eid.db].
    #[arg(long, env = "EID_DATABASE_URL", global = true)]
    pub database: Option<String>,
    /// Directory for the SQLite database and a dev master key [default: ./data].
    #[arg(long, env = "EID_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// File holding the base64 master key [default: <data-dir>/master.key].
    #[arg(long, env = "EID_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "EID_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Also write security events as JSON lines to this file (appended, created 0600).
    #[arg(long, env = "EID_SECURITY_LOG")]
    pub security_log: Option<PathBuf>,
    /// The officer console's listener [default: 127.0.0.1:8081].
    #[arg(long, env = "EID_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// The officer console's origin as officers' browsers see it [default: http://localhost:<admin port>].
    #[arg(long, env = "EID_ADMIN_ORIGIN", global = true)]
    pub admin_origin: Option<Url>,
    /// The population registry for remote identity proofing [--dev default: http://127.0.0.1:7070].
    #[arg(long, env = "EID_REGISTRY_URL")]
    pub registry_url: Option<Url>,
    /// Where the registry publishes its keys [default: <registry-url>/jwks].
    #[arg(long, env = "EID_REGISTRY_JWKS_URL")]
    pub registry_jwks_url: Option<Url>,
    /// Cosine similarity from which a face template matches [default: 0.8].
    #[arg(long, env = "EID_FACE_MATCH_THRESHOLD")]
    pub face_match_threshold: Option<f64>,
    /// Development start: generate a master key file if there is none (and say so loudly), and
    /// use the sandbox registry at http://127.0.0.1:7070 unless another is configured.
    #[arg(long, global = true)]
    pub dev: bool,
}

/// Validated settings.
pub struct Settings {
    pub listen: SocketAddr,
    /// `None`: derived from the bound port as `http://localhost:<port>`.
    pub issuer: Option<Url>,
    pub database: String,
    pub data_dir: PathBuf,
    pub master_key: MasterKey,
    pub log_format: LogFormat,
    pub security_log: Option<PathBuf>,
    pub pool_size: u32,
    /// `None`: the officer console is off.
    pub admin_listen: Option<SocketAddr>,
    /// `None`: `http://localhost:<admin port>`.
    pub admin_origin: Option<Url>,
    /// `None`: remote proofing is off (applicants go to a counter).
    pub registry: Option<RegistrySettings>,
    pub face_match_threshold: f64,
    /// `[proofing]`: unsigned captures, the recovery hold.
    pub proofing: eid_core::proofing::ProofingPolicy,
    pub limits: Limits,
    pub application_ttl_days: u32,
    pub link_cooling_off_days: u32,
    pub login: LoginWindows,
    pub tokens: TokenLifetimes,
    pub sessions: eid_core::sso::SessionConfig,
    pub registration: RegistrationPolicy,
    pub guard: crate::guard::GuardSettings,
    pub max_connections: usize,
    pub attestation: eid_core::attestation::AttestationPolicy,
    /// Which keys officers may register (`[officers]`; any key with --dev).
    pub officers: eid_core::attestation::OfficerKeyPolicy,
    pub outbound: crate::outbound::OutboundPolicy,
    /// Offer the implicit flow to clients that register it.
    pub danger_implicit_flow: bool,
    /// A PKCS#11 token for new keys; `None`: software keys sealed under the master key.
    pub pkcs11: Option<eid_hsm::Pkcs11Config>,
    /// The document-signing PKI's settings.
    pub pki: PkiSettings,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("issuer", &self.issuer)
            .field("database", &redact_url(&self.database))
            .field("data_dir", &self.data_dir)
            .field("master_key", &"<redacted>")
            .field("admin_listen", &self.admin_listen)
            .field("registry", &self.registry)
            .finish()
    }
}

/// Hides a password in a database URL.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Resolves settings: flags and `EID_*` variables over the file over defaults.
    pub fn resolve(o: &Overrides) -> anyhow::Result<Self> {
        let file = match &o.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = o
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let listen = o
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let issuer = o.issuer.clone().or(file.issuer);
        if let Some(issuer) = &issuer {
            validate_issuer(issuer)?;
        }
        let database = o
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("eid.db").display()));
        let key_file = o
            .master_key_file
            .clone()
            .or(file.master_key_file)
            .unwrap_or_else(|| data_dir.join("master.key"));
        let master_key = load_master_key(&key_file, o.dev)?;
        let admin_listen = o
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081)));
        if admin_listen == listen
            || (admin_listen.port() == listen.port()
                && (admin_listen.ip().is_unspecified() || listen.ip().is_unspecified()))
        {
            bail!("the officer console ({admin_listen}) must not listen where the public server does ({listen})");
        }
        let admin_origin = o.admin_origin.clone().or(file.admin_origin);
        if let Some(origin) = &admin_origin {
            validate_issuer(origin).context("the officer console's origin")?;
        }
        let registry_file = file.registry.unwrap_or_default();
        let registry_url = o
            .registry_url
            .clone()
            .or(registry_file.url)
            .or_else(|| o.dev.then(|| Url::parse(DEV_REGISTRY_URL).ok()).flatten());
        let registry = match registry_url {
            Some(url) => {
                let mut settings = RegistrySettings::at(url)?;
                if let Some(jwks) = o.registry_jwks_url.clone().or(registry_file.jwks_url) {
                    settings.jwks_url = jwks;
                }
                if let Some(id) = registry_file.id {
                    settings.id = id;
                }
                if let Some(secs) = registry_file.timeout_secs {
                    settings.timeout = std::time::Duration::from_secs(secs.clamp(1, 60));
                }
                Some(settings)
            }
            None => None,
        };
        let face_match_threshold = o
            .face_match_threshold
            .or(registry_file.face_match_threshold)
            .unwrap_or(0.8);
        if !(face_match_threshold > 0.0 && face_match_threshold <= 1.0) {
            bail!("the face match threshold must be above 0 and at most 1, not {face_match_threshold}");
        }
        let (proofing, capture_roots) = proofing_policy(
            file.proofing.unwrap_or_default(),
            &data_dir,
            registry.is_some(),
            o.dev,
        )?;
        let registry = registry.map(|r| RegistrySettings { capture_roots, ..r });
        Ok(Self {
            listen,
            issuer,
            database,
            data_dir,
            master_key,
            log_format: o.log_format.or(file.log_format).unwrap_or_default(),
            security_log: o.security_log.clone().or(file.security_log),
            pool_size: file.pool_size.unwrap_or(16),
            admin_listen: Some(admin_listen),
            admin_origin,
            registry,
            face_match_threshold,
            proofing,
            limits: limits(file.limits.unwrap_or_default())?,
            application_ttl_days: file.application_ttl_days.unwrap_or(7).clamp(1, 365),
            link_cooling_off_days: file.link_cooling_off_days.unwrap_or(7).min(365),
            login: login_windows(file.login.unwrap_or_default())?,
            tokens: token_lifetimes(file.tokens.unwrap_or_default())?,
            sessions: session_lifetimes(file.sessions.unwrap_or_default())?,
            registration: registration_policy(file.registration.unwrap_or_default())?,
            guard: crate::guard::GuardSettings {
                connections_per_address: file.connections_per_address.unwrap_or(256).max(1),
                request_deadline: std::time::Duration::from_secs(
                    file.request_deadline_secs.unwrap_or(10).clamp(1, 300),
                ),
                trusted_proxies: file
                    .trusted_proxies
                    .unwrap_or_default()
                    .iter()
                    .map(|p| parse_network(p))
                    .collect::<anyhow::Result<_>>()?,
            },
            max_connections: file.max_connections.unwrap_or(10_000).max(16),
            attestation: attestation_policy(
                file.attestation.unwrap_or_default(),
                file.signing.unwrap_or_default(),
                o.dev,
            )?,
            officers: officer_key_policy(file.officers.unwrap_or_default(), o.dev)?,
            outbound: outbound_policy(file.outbound, o.dev)?,
            danger_implicit_flow: file
                .oidc
                .and_then(|o| o.danger_implicit_flow)
                .unwrap_or(false),
            pkcs11: pkcs11_settings(file.keys)?,
            pki: pki_settings(file.pki)?,
        })
    }
}

fn attestation_policy(
    file: AttestationFile,
    signing: SigningFile,
    dev: bool,
) -> anyhow::Result<eid_core::attestation::AttestationPolicy> {
    use eid_core::attestation::{AttestationPolicy, MinKeyProtection};
    // Secure by default; --dev lets the reference wallet's software keys reach plus and sign.
    let mut policy = if dev {
        AttestationPolicy::danger_dev()
    } else {
        AttestationPolicy::default()
    };
    if let Some(min) = signing.min_key_protection {
        policy.signing_min_key_protection = MinKeyProtection::parse(&min).ok_or_else(|| {
            anyhow::anyhow!("signing.min_key_protection must be hardware or software, not {min:?}")
        })?;
    }
    let mut pem = String::new();
    for path in file.trusted_roots.unwrap_or_default() {
        pem.push_str(
            &std::fs::read_to_string(&path).with_context(|| {
                format!("attestation.trusted_roots: reading {}", path.display())
            })?,
        );
        pem.push('\n');
    }
    if !pem.trim().is_empty() {
        policy.roots = Some(
            AttestationPolicy::roots_from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("attestation.trusted_roots: {e}"))?,
        );
    }
    if let Some(accept) = file.accept_software_keys {
        policy.accept_software_keys = accept;
    }
    if let Some(level) = file.software_key_max_level {
        policy.software_key_max_level =
            eid_core::account::Level::parse(&level).ok_or_else(|| {
                anyhow::anyhow!(
                    "attestation.software_key_max_level must be basic or plus, not {level:?}"
                )
            })?;
    }
    if !policy.accept_software_keys && policy.roots.is_none() {
        bail!(
            "attestation.accept_software_keys = false needs trusted_roots: no key could register"
        );
    }
    Ok(policy)
}

fn officer_key_policy(
    file: OfficersFile,
    dev: bool,
) -> anyhow::Result<eid_core::attestation::OfficerKeyPolicy> {
    use eid_core::attestation::{AttestationPolicy, OfficerKeyPolicy};
    // Secure by default: attested hardware keys only; --dev lets any key (the testkit's and a
    // developer's software keys) register, and says so at start-up.
    let mut policy = if dev {
        OfficerKeyPolicy::danger_dev()
    } else {
        OfficerKeyPolicy::default()
    };
    let mut pem = String::new();
    for path in file.attestation_roots.unwrap_or_default() {
        pem.push_str(
            &std::fs::read_to_string(&path).with_context(|| {
                format!("officers.attestation_roots: reading {}", path.display())
            })?,
        );
        pem.push('\n');
    }
    if !pem.trim().is_empty() {
        policy.roots = Some(
            AttestationPolicy::roots_from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("officers.attestation_roots: {e}"))?,
        );
    }
    Ok(policy)
}

/// `10.0.0.0/8`, or one address.
fn parse_network(s: &str) -> anyhow::Result<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| anyhow::anyhow!("trusted_proxies: {s:?} is not an address or a network"))
}

fn login_windows(file: LoginFile) -> anyhow::Result<LoginWindows> {
    let default = LoginWindows::default();
    let secs = |v: Option<u32>, default: i64, name: &str| -> anyhow::Result<i64> {
        let v = v.map_or(default, i64::from);
        if !(10..=3_600).contains(&v) {
            bail!("login.{name} must be between 10 and 3600 seconds, not {v}");
        }
        Ok(v)
    };
    let windows = LoginWindows {
        approval: secs(
            file.approval_window_secs,
            default.approval,
            "approval_window_secs",
        )?,
        completion: secs(
            file.completion_window_secs,
            default.completion,
            "completion_window_secs",
        )?,
        page_lifetime: secs(
            file.page_lifetime_secs,
            default.page_lifetime,
            "page_lifetime_secs",
        )?,
    };
    if windows.page_lifetime < windows.approval {
        bail!("login.page_lifetime_secs must be at least login.approval_window_secs");
    }
    Ok(windows)
}

fn limits(file: LimitsFile) -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    let parse = |name: &str, value: Option<String>, into: &mut RateLimit| -> anyhow::Result<()> {
        if let Some(value) = value {
            *into = value
                .parse()
                .map_err(|e: String| anyhow::anyhow!("limits.{name}: {e}"))?;
        }
        Ok(())
    };
    parse(
        "proofing_per_application",
        file.proofing_per_application,
        &mut limits.proofing_per_application,
    )?;
    parse(
        "proofing_per_device",
        file.proofing_per_device,
        &mut limits.proofing_per_device,
    )?;
    parse(
        "proofing_failures_per_address",
        file.proofing_failures_per_address,
        &mut limits.proofing_failures_per_address,
    )?;
    parse(
        "proofing_per_hkid",
        file.proofing_per_hkid,
        &mut limits.proofing_per_hkid,
    )?;
    parse(
        "proofing_per_address",
        file.proofing_per_address,
        &mut limits.proofing_per_address,
    )?;
    parse(
        "applications_per_address",
        file.applications_per_address,
        &mut limits.applications_per_address,
    )?;
    parse(
        "authorize_per_address",
        file.authorize_per_address,
        &mut limits.authorize_per_address,
    )?;
    parse(
        "authorize_per_client",
        file.authorize_per_client,
        &mut limits.authorize_per_client,
    )?;
    parse(
        "login_pages_per_address",
        file.login_pages_per_address,
        &mut limits.login_pages_per_address,
    )?;
    parse(
        "approvals_per_address",
        file.approvals_per_address,
        &mut limits.approvals_per_address,
    )?;
    parse(
        "approvals_per_account",
        file.approvals_per_account,
        &mut limits.approvals_per_account,
    )?;
    parse(
        "sessions_per_address",
        file.sessions_per_address,
        &mut limits.sessions_per_address,
    )?;
    parse(
        "registrations_per_address",
        file.registrations_per_address,
        &mut limits.registrations_per_address,
    )?;
    parse(
        "signing_requests_per_citizen",
        file.signing_requests_per_citizen,
        &mut limits.signing_requests_per_citizen,
    )?;
    parse(
        "token_per_address",
        file.token_per_address,
        &mut limits.token_per_address,
    )?;
    parse(
        "ocsp_per_address",
        file.ocsp_per_address,
        &mut limits.ocsp_per_address,
    )?;
    parse(
        "ocsp_fresh_per_address",
        file.ocsp_fresh_per_address,
        &mut limits.ocsp_fresh_per_address,
    )?;
    parse(
        "tsa_per_address",
        file.tsa_per_address,
        &mut limits.tsa_per_address,
    )?;
    if let Some(cap) = file.pending_logins_per_client {
        if cap < 10 {
            bail!("limits.pending_logins_per_client must be at least 10, not {cap}");
        }
        limits.pending_logins_per_client = cap;
    }
    Ok(limits)
}

/// OIDC Discovery §3: https, no query or fragment. http is allowed for localhost only.
pub fn validate_issuer(issuer: &Url) -> anyhow::Result<()> {
    if issuer.query().is_some() || issuer.fragment().is_some() {
        bail!("the issuer {issuer} must not have a query or fragment");
    }
    // Routes are mounted at the root; a path would advertise endpoints that do not exist.
    if issuer.path() != "/" {
        bail!("the issuer {issuer} must not have a path (serve eid at the root of its host)");
    }
    match (issuer.scheme(), issuer.host_str()) {
        ("https", Some(_)) | ("http", Some("localhost")) => Ok(()),
        _ => bail!("the issuer {issuer} must be https (or http://localhost for development)"),
    }
}

/// The master key: `EID_MASTER_KEY` (base64), else the key file; `--dev` creates the file.
fn load_master_key(path: &Path, dev: bool) -> anyhow::Result<MasterKey> {
    if let Ok(value) = std::env::var("EID_MASTER_KEY") {
        return MasterKey::from_base64(&value).context("EID_MASTER_KEY");
    }
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::from_base64(&text).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dev => {
            let key = MasterKey::generate();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            write_private_file(path, &key.to_base64())?;
            eprintln!(
                "\n*** DEVELOPMENT START ***\n\
                 *** Generated a new master key in {} (mode 0600).\n\
                 *** Everything eid stores is encrypted under this key: lose it and the data is lost.\n\
                 *** For production, create it with `eid-server keygen` and keep it out of the data directory.\n",
                path.display()
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no master key: set EID_MASTER_KEY, or create {} with `eid-server keygen > {}`, \
             or start with --dev to generate one for development",
            path.display(),
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a file only its owner can read.
fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_or_localhost() {
        for ok in [
            "https://id.example.gov.hk",
            "http://localhost:8080",
            "https://x.hk/",
        ] {
            assert!(validate_issuer(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://id.example.hk",
            "http://127.0.0.1:8080",
            "https://x.hk/?a=b",
            "https://x.hk/eid",
        ] {
            assert!(validate_issuer(&bad.parse().unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_config_fields_are_refused() {
        assert!(toml::from_str::<FileConfig>("listen = \"127.0.0.1:1\"\nbogus = 1").is_err());
        assert!(toml::from_str::<FileConfig>("[registry]\nurl = \"http://r\"\nbogus = 1").is_err());
        let c: FileConfig = toml::from_str(
            "database = \"sqlite://x.db\"\n[registry]\nurl = \"https://registry.example/\"\n[limits]\nproofing_per_hkid = \"3/1d\"",
        )
        .unwrap();
        assert_eq!(c.database.as_deref(), Some("sqlite://x.db"));
        assert_eq!(
            limits(c.limits.unwrap()).unwrap().proofing_per_hkid,
            RateLimit::new(3, 86_400)
        );
        assert!(limits(LimitsFile {
            proofing_per_hkid: Some("lots".into()),
            ..LimitsFile::default()
        })
        .is_err());
    }

    #[test]
    fn pki_and_key_settings_are_checked() {
        let file: FileConfig = toml::from_str(
            "[pki]\norganization = \"HKSAR Government\"\nsigning_policy = \"1.2.3.4\"\nsigner_days = 365",
        )
        .unwrap();
        let pki = pki_settings(file.pki).unwrap();
        let issuer = Url::parse("https://eid.example").unwrap();
        let config = pki.for_issuer(&issuer);
        assert_eq!(config.organization, "HKSAR Government");
        assert_eq!(config.signing_policy, "1.2.3.4");
        assert_eq!(config.signer_days, 365);
        assert_eq!(config.crl_url(), "https://eid.example/pki/issuing.crl");
        for bad in [
            "country = \"Hong Kong\"",
            "signing_policy = \"not.an.oid\"",
            "tsa_policy = \"1..2\"",
            "root_days = 0",
        ] {
            let file: FileConfig = toml::from_str(&format!("[pki]\n{bad}")).unwrap();
            assert!(pki_settings(file.pki).is_err(), "{bad}");
        }
        assert!(pkcs11_settings(None).unwrap().is_none());
        // A token needs its label; a label needs its module.
        let no_label = KeysFile {
            pkcs11_module: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            ..KeysFile::default()
        };
        assert!(pkcs11_settings(Some(no_label)).is_err());
        let no_module = KeysFile {
            pkcs11_token_label: Some("eid".into()),
            ..KeysFile::default()
        };
        assert!(pkcs11_settings(Some(no_module)).is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pin"), "1234\n").unwrap();
        let config = pkcs11_settings(Some(KeysFile {
            pkcs11_module: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            pkcs11_token_label: Some("eid".into()),
            pkcs11_pin_file: Some(dir.path().join("pin")),
        }))
        .unwrap()
        .unwrap();
        assert_eq!(config.pin, "1234");
        assert!(
            !format!("{config:?}").contains("1234"),
            "the PIN is never shown"
        );
    }

    #[test]
    fn registration_is_off_unless_opened_or_given_tokens() {
        assert_eq!(
            registration_policy(RegistrationFile::default()).unwrap(),
            RegistrationPolicy::Off
        );
        let c: FileConfig = toml::from_str(&format!(
            "[registration]\nmode = \"token\"\ninitial_access_token_sha256 = [\"{}\"]",
            "ab".repeat(32)
        ))
        .unwrap();
        assert_eq!(
            registration_policy(c.registration.unwrap()).unwrap(),
            RegistrationPolicy::Token(vec![[0xab; 32]])
        );
        for bad in [
            "[registration]\nmode = \"token\"",
            "[registration]\nmode = \"token\"\ninitial_access_token_sha256 = [\"abc\"]",
            "[registration]\nmode = \"sometimes\"",
        ] {
            let c: FileConfig = toml::from_str(bad).unwrap();
            assert!(
                registration_policy(c.registration.unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn refresh_lifetimes_are_configurable_within_bounds() {
        let c: FileConfig =
            toml::from_str("[tokens]\nrefresh_idle_days = 7\nrefresh_max_days = 90").unwrap();
        assert_eq!(
            token_lifetimes(c.tokens.unwrap()).unwrap(),
            TokenLifetimes {
                refresh_idle: 7 * 86_400,
                refresh_max: 90 * 86_400
            }
        );
        assert_eq!(
            token_lifetimes(TokensFile::default()).unwrap(),
            TokenLifetimes::default()
        );
        for (idle, max) in [(0, 10), (30, 10), (1, 4000)] {
            let bad = TokensFile {
                refresh_idle_days: Some(idle),
                refresh_max_days: Some(max),
            };
            assert!(token_lifetimes(bad).is_err(), "{idle}/{max}");
        }
    }

    #[test]
    fn login_windows_and_local_limits_are_configurable_within_bounds() {
        let c: FileConfig = toml::from_str(
            "[login]\napproval_window_secs = 60\n[limits]\nauthorize_per_address = \"10/1m\"",
        )
        .unwrap();
        let windows = login_windows(c.login.unwrap()).unwrap();
        assert_eq!(
            (windows.approval, windows.completion, windows.page_lifetime),
            (60, 120, 600)
        );
        assert_eq!(
            limits(c.limits.unwrap()).unwrap().authorize_per_address,
            RateLimit::new(10, 60)
        );
        let c: FileConfig = toml::from_str(
            "[limits]\npending_logins_per_client = 500\ntoken_per_address = \"100/1m\"\ntsa_per_address = \"5/1m\"",
        )
        .unwrap();
        let parsed = limits(c.limits.unwrap()).unwrap();
        assert_eq!(parsed.pending_logins_per_client, 500);
        assert_eq!(parsed.token_per_address, RateLimit::new(100, 60));
        assert_eq!(parsed.tsa_per_address, RateLimit::new(5, 60));
        assert!(limits(LimitsFile {
            pending_logins_per_client: Some(0),
            ..LimitsFile::default()
        })
        .is_err());
        for bad in [
            LoginFile {
                approval_window_secs: Some(5),
                ..LoginFile::default()
            },
            LoginFile {
                approval_window_secs: Some(700),
                ..LoginFile::default()
            },
        ] {
            assert!(login_windows(bad).is_err());
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        assert!(parse_network("10.0.0.0/8")
            .unwrap()
            .contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        assert!(parse_network("192.0.2.7")
            .unwrap()
            .contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()));
        assert!(parse_network("proxy.internal").is_err());
    }

    #[test]
    fn a_registry_url_implies_its_keys_and_identifier() {
        let r = RegistrySettings::at(Url::parse("https://registry.example/").unwrap()).unwrap();
        assert_eq!(r.jwks_url.as_str(), "https://registry.example/jwks");
        assert_eq!(r.id, "https://registry.example");
        let r = RegistrySettings::at(Url::parse("http://127.0.0.1:7070").unwrap()).unwrap();
        assert_eq!(r.jwks_url.as_str(), "http://127.0.0.1:7070/jwks");
    }

    #[test]
    fn proofing_needs_capture_roots_and_a_real_hold() {
        let dir = tempfile::tempdir().unwrap();
        let file = |text: &str| -> ProofingFile { toml::from_str(text).unwrap() };
        // A registry without capture roots: refused, unless in development.
        let refused = proofing_policy(file(""), dir.path(), true, false)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("capture_roots"), "{refused}");
        let (policy, roots) = proofing_policy(file(""), dir.path(), true, true).unwrap();
        assert!(
            matches!(roots, CaptureRootSource::DevFile(p) if p.ends_with("registry/capture-root.pem"))
        );
        assert_eq!(policy.recovery_hold, 72 * 3_600);
        assert!(!policy.danger_accept_unsigned_captures);
        // The danger flag stands in for roots, and says so in its name.
        let (policy, _) = proofing_policy(
            file("danger_accept_unsigned_captures = true"),
            dir.path(),
            true,
            false,
        )
        .unwrap();
        assert!(policy.danger_accept_unsigned_captures);
        // A root file that holds no certificate is refused at start-up.
        let pem = dir.path().join("roots.pem");
        std::fs::write(&pem, "not a certificate").unwrap();
        let text = format!("capture_roots = [{:?}]", pem.display().to_string());
        assert!(proofing_policy(file(&text), dir.path(), true, false).is_err());
        // Holds: durations with units, at least an hour outside development.
        assert_eq!(parse_duration("3d"), Some(3 * 86_400));
        assert_eq!(parse_duration("90m"), Some(5_400));
        assert_eq!(parse_duration("45s"), Some(45));
        for bad in ["", "72", "h", "-1h", "0h", "1w", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let short = "danger_accept_unsigned_captures = true\nrecovery_hold = \"10m\"";
        assert!(proofing_policy(file(short), dir.path(), false, false).is_err());
        let (policy, _) = proofing_policy(file(short), dir.path(), false, true).unwrap();
        assert_eq!(policy.recovery_hold, 600);
    }

    #[test]
    fn dev_start_creates_a_private_key_file_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/master.key");
        assert!(load_master_key(&path, false).is_err());
        let key = load_master_key(&path, true).unwrap();
        let again = load_master_key(&path, false).unwrap();
        assert_eq!(key.to_base64(), again.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_outbound_proxy_is_refused_and_dev_allows_private_addresses() {
        let c: FileConfig =
            toml::from_str("[outbound]\nproxy = \"http://proxy.internal:3128\"").unwrap();
        let refused = outbound_policy(c.outbound, false).unwrap_err().to_string();
        assert!(refused.contains("not supported"), "{refused}");
        assert!(
            !outbound_policy(None, false)
                .unwrap()
                .danger_allow_private_addresses
        );
        assert!(
            outbound_policy(None, true)
                .unwrap()
                .danger_allow_private_addresses
        );
        let c: FileConfig =
            toml::from_str("[outbound]\ndanger_allow_private_addresses = false").unwrap();
        assert!(
            !outbound_policy(c.outbound, true)
                .unwrap()
                .danger_allow_private_addresses
        );
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://eid.db"), "sqlite://eid.db");
    }
}
