//! Every cell of the authority table (`docs/security.md`, "Authority"), walked over HTTP on
//! each backend: for each credential kind (a row, `eid_core::authority::Credential::ALL`) and
//! each action (a column, `Action::ALL`), the attempt made with that credential, its outcome
//! checked against `authority::rule`:
//!
//! - a `yes` cell: the attempt is done (and, where the answer alone does not show it, its
//!   effect is checked: the device gone, the session ended, the application proven);
//! - a `no` cell: it is refused (a 4xx status: 401, 403, 404 and so on, or an OAuth error) and
//!   the refusal changes nothing stored (the fingerprints of `unchanged!`: the audit trail and
//!   rate-limit counters aside);
//! - a conditional cell: attempted with the condition unmet (refused, nothing changed), then
//!   met (done). Every condition can be met and unmet over HTTP, so no side is left to another
//!   test. A wallet session's "as its phone" is its phone's row: met, the session of the phone
//!   joined by proofing (done where that phone may; refused where it may not: starting a
//!   recovery, closing the account); unmet, the session of a phone that may not (the phone
//!   cooling off), or where every phone may, the session of a phone that is gone; an approval
//!   (a passkey's, a signature's) is the phone's signed act, and the session alone is refused.
//!
//! Each row is a `match` on the action without a wildcard arm, and the walk counts the cells it
//! judged: a new row or column does not compile, or fails the walk, until it has its attempt.
//! A cell whose outcome is not the table's is recorded and the walk goes on: the failure lists
//! every such cell.
//!
//! Where a credential has no HTTP surface for an action, the attempt presents what that
//! credential is to the endpoint that performs the action: an officer's console session, a
//! browser's eid session cookie, a client's Basic credentials, a citizen's access token or an
//! application's token as a bearer; a browser passkey's assertion at
//! `/api/v1/device-sessions` (the only way to the wallet API). No endpoint closes an account:
//! `DELETE /api/v1/account` and `POST /account/close` are sent and answer 404. The operator
//! acts at the command line, through `eid_core::admin` (what `eid-server citizen
//! suspend|resume|close` runs): it ends sessions (a suspension drops them) and closes
//! accounts, and has no path for any other action; for those, the action's endpoint is sent a
//! request that carries no credential, as the operator has none on the HTTP surface.
//!
//! One server per backend, with the attestation roots of `authority::signing_keys` (a software
//! key signs nothing, so a hardware phone cooling off is refused for its cooling-off alone), and
//! one of each credential on the walked account (resident 0, proven in person: `plus`): its
//! phone joined by proofing (hardware); two phones linked eight days ago, past their 7-day
//! cooling-off (a software key, and a hardware one to sign: the store's record of their
//! joining is moved back, which is all the days passing would change); a phone linked now
//! (hardware); a browser with its single sign-on session; a browser passkey; the officer who
//! proved it; a signing client and the citizen's access token with `sign`; and an application
//! of resident 0 not proven yet. Other accounts serve where the walked one must not change:
//! resident 1 (`plus` on a software key: a proofed phone whose key does not sign), resident 2
//! (recovered at the counter), resident 3 (its sessions ended and closed by the operator). What
//! a `yes` consumes (a device to remove, a consent to withdraw, a session to end, a held
//! recovery to cancel) is made for it.

use std::collections::HashSet;

use eid_core::admin::{AccountSelector, AdminReason};
use eid_core::attestation::AttestationPolicy;
use eid_core::authority::{rule, Action, Condition, Credential, Rule};
use eid_core::keys::JwsAlg;
use eid_core::limits::{Limits, RateLimit};
use eid_testkit::attestation::TestAttestationRoot;
use eid_testkit::{Backend, TestOptions, TestServer};
use eid_wallet::authenticator::{AttestationKey, Credential as Passkey};
use eid_wallet::{Wallet, WalletError};
use openidconnect::{OAuth2TokenResponse as _, TokenResponse as _};

use crate::authority::{
    ask_to_sign, b64, passkey_answers_cross_device, passkey_approves_signing,
    passkey_signs_counter, passkey_wallet_session, signing_client,
};
use crate::passkeys::{
    account_csrf, account_page, add_passkey, create_passkey, passkey_login, start_adding_passkey,
};
use crate::support::*;

use Action as A;
use Credential as K;

/// Which side of a cell's condition an attempt is on. A `yes` is attempted met, a `no` unmet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Unmet,
    Met,
}

/// One attempt at a cell.
#[derive(Debug, Clone, Copy)]
struct Cell {
    credential: Credential,
    action: Action,
    side: Side,
}

impl Cell {
    /// Whether the table lets this attempt through.
    fn allowed(self) -> bool {
        allowed(self.credential, self.action, self.side)
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} × {} ({}",
            self.credential.label(),
            self.action.label(),
            rule(self.credential, self.action).label()
        )?;
        match (rule(self.credential, self.action), self.side) {
            (Rule::Only(_), Side::Met) => write!(f, ", met)"),
            (Rule::Only(_), Side::Unmet) => write!(f, ", unmet)"),
            _ => write!(f, ")"),
        }
    }
}

/// What `authority::rule` says of an attempt on `side` of a cell.
fn allowed(credential: Credential, action: Action, side: Side) -> bool {
    match rule(credential, action) {
        Rule::Allowed => true,
        Rule::Denied => false,
        // A wallet session acts with its phone's row: met, the proofed phone's session.
        Rule::Only(Condition::AsItsPhone) => {
            side == Side::Met && allowed(Credential::ProofedPhone, action, Side::Met)
        }
        Rule::Only(_) => side == Side::Met,
    }
}

/// What the server made of an attempt.
#[derive(Debug)]
enum Answer {
    Done,
    /// Refused: the status (and the problem's slug, or the OAuth error).
    Refused(String),
}

impl Answer {
    /// A response's status: done (2xx, 3xx) or refused (4xx); a server error is neither.
    fn of_status(status: u16) -> anyhow::Result<Self> {
        match status {
            200..=399 => Ok(Self::Done),
            400..=499 => Ok(Self::Refused(status.to_string())),
            _ => anyhow::bail!("the server answered {status}: neither done nor refused"),
        }
    }

    /// A wallet call: done, or the server's refusal (a failure without one is an error).
    fn of_wallet<T>(result: Result<T, WalletError>) -> anyhow::Result<Self> {
        match result {
            Ok(_) => Ok(Self::Done),
            Err(e) => match e.problem() {
                Some(p) if (400..500).contains(&p.status) => Ok(Self::Refused(format!(
                    "{} {}",
                    p.status,
                    p.slug().unwrap_or_default()
                ))),
                _ => Err(anyhow::anyhow!("the wallet failed without a refusal: {e}")),
            },
        }
    }

    /// A whole ceremony, for an attempt the table allows: a failure is reported as the
    /// cell's outcome (a refusal the table does not expect).
    fn of_flow<T>(result: anyhow::Result<T>) -> Self {
        match result {
            Ok(_) => Self::Done,
            Err(e) => Self::Refused(format!("{e:#}")),
        }
    }

    /// Several requests with one credential: refused when every one is.
    fn all(answers: Vec<Answer>) -> Self {
        let refusals: Vec<String> = answers
            .iter()
            .filter_map(|a| match a {
                Self::Refused(how) => Some(how.clone()),
                Self::Done => None,
            })
            .collect();
        if refusals.len() == answers.len() {
            Self::Refused(refusals.join(", "))
        } else {
            Self::Done
        }
    }
}

/// A signing approval's answer: done when it signed.
fn signed(result: Result<eid_proto::api::ApprovalResult, WalletError>) -> anyhow::Result<Answer> {
    match result {
        Ok(r) if r.status == "signed" => Ok(Answer::Done),
        Ok(r) => Ok(Answer::Refused(format!("answered {}", r.status))),
        Err(e) => Answer::of_wallet::<()>(Err(e)),
    }
}

/// Makes the attempt `$body` (an expression giving an [`Answer`]) as the table expects of
/// `$cell`, and judges it. What the attempt needs is made before; an attempt the table refuses
/// is checked to change nothing stored (the fingerprints `unchanged!` compares, the audit
/// trail and rate-limit counters aside), and a cell that fails is recorded and the walk goes
/// on, so that it reports every such cell.
macro_rules! attempt {
    ($w:expr, $cell:expr, $body:expr) => {{
        let cell: Cell = $cell;
        if cell.allowed() {
            let answer: Answer = $body;
            $w.judge(cell, answer, Vec::new())
        } else {
            $w.settle().await?;
            let before = $w.server.fingerprint().await?;
            let answer: Answer = $body;
            let after = $w.server.fingerprint().await?;
            $w.judge(cell, answer, fingerprint_changes(&before, &after, &[]))
        }
    }};
}

/// The body of a request.
enum Body {
    Empty,
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}

/// A request that performs an action on the walked account, as any HTTP client sends it.
struct Request {
    method: reqwest::Method,
    url: String,
    body: Body,
}

impl Request {
    fn get(url: String) -> Self {
        Self {
            method: reqwest::Method::GET,
            url,
            body: Body::Empty,
        }
    }

    fn post(url: String, body: Body) -> Self {
        Self {
            method: reqwest::Method::POST,
            url,
            body,
        }
    }

    fn delete(url: String) -> Self {
        Self {
            method: reqwest::Method::DELETE,
            url,
            body: Body::Empty,
        }
    }
}

/// The credential a request carries.
#[derive(Clone, Copy)]
enum Carry<'a> {
    /// None: the operator has no credential on the HTTP surface.
    Nothing,
    Bearer(&'a str),
    Basic(&'a str, &'a str),
    /// The cookies of this client: a browser's eid session, an officer's console session.
    Cookies(&'a reqwest::Client),
}

/// Sends `requests` with `carry`: refused when every one is.
async fn send(requests: &[Request], carry: Carry<'_>) -> anyhow::Result<Answer> {
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut answers = Vec::new();
    for request in requests {
        let http = match carry {
            Carry::Cookies(http) => http,
            Carry::Nothing | Carry::Bearer(_) | Carry::Basic(..) => &plain,
        };
        let mut builder = http.request(request.method.clone(), &request.url);
        builder = match carry {
            Carry::Bearer(token) => builder.bearer_auth(token),
            Carry::Basic(id, secret) => builder.basic_auth(id, Some(secret)),
            Carry::Nothing | Carry::Cookies(_) => builder,
        };
        builder = match &request.body {
            Body::Empty => builder,
            Body::Json(value) => builder.json(value),
            Body::Form(fields) => builder.form(fields),
        };
        answers.push(Answer::of_status(builder.send().await?.status().as_u16())?);
    }
    Ok(Answer::all(answers))
}

/// The phones the walk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phone {
    /// The walked account's phone joined by proofing (a hardware key).
    Proofed,
    /// Joined by link code, past its cooling-off (a software key).
    Linked,
    /// Joined by link code, past its cooling-off (a hardware key).
    LinkedHardware,
    /// Joined by link code, in its cooling-off (a hardware key).
    Cooling,
    /// Resident 1's phone joined by proofing: a `plus` account on a software key.
    SoftwarePlus,
}

/// The rows of phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhoneRow {
    Proofed,
    Linked,
    Cooling,
}

impl PhoneRow {
    fn phone(self) -> Phone {
        match self {
            Self::Proofed => Phone::Proofed,
            Self::Linked => Phone::Linked,
            Self::Cooling => Phone::Cooling,
        }
    }
}

/// A day.
const DAY: i64 = 86_400;

/// The walk's server, its credentials, and the cells judged so far.
struct World {
    server: TestServer,
    /// A client allowed to ask for signatures.
    rp: Rp,
    /// Another client: the consents withdrawn and the sessions ended are logins at it.
    other_rp: Rp,
    officer: Officer,
    proofed: Wallet,
    linked: Wallet,
    linked_hardware: Wallet,
    cooling: Wallet,
    software_plus: Wallet,
    proofed_device: String,
    /// A phone that joined before the linked ones (a linked phone may remove it).
    older_device: Option<String>,
    /// A phone that joined after the cooling one (which may remove it).
    newer_device: Option<String>,
    /// The browser with the walked account's single sign-on session.
    browser: Browser,
    passkey: Passkey,
    passkey_device: String,
    /// The citizen's access token at `rp`, with `sign`.
    token: String,
    /// The citizen's access token at `rp`, without `sign`.
    plain_token: String,
    /// Resident 1's access token at `rp`, with `sign`, and ID token.
    software_plus_token: String,
    software_plus_id_token: String,
    /// The wallet session of a phone that was removed.
    dead_session: String,
    /// Resident 3's account (the operator's), and its browser's session.
    operated_reference: String,
    operated_browser: Browser,
    /// Resident 0's application, not proven: the application's key.
    applicant: Wallet,
    applicant_id: String,
    applicant_reference: String,
    applicant_token: String,
    /// Resident 2's new phone at the counter, between the officer's two attempts.
    at_counter: Option<Wallet>,
    /// A held remote recovery of resident 2's account, between the officer's two attempts.
    held_at_counter: Option<(Wallet, String)>,
    spare_device: Option<String>,
    spare_session: Option<String>,
    held: Option<String>,
    judged: Vec<(Cell, String)>,
    mismatches: Vec<String>,
}

/// Limits no walk reaches: they are tested on their own (`limits`).
fn generous() -> Limits {
    let many = RateLimit::new(1_000_000, 60);
    Limits {
        proofing_per_application: many,
        proofing_per_device: many,
        proofing_failures_per_address: many,
        proofing_per_hkid: many,
        proofing_per_address: many,
        applications_per_address: many,
        authorize_per_address: many,
        authorize_per_client: many,
        login_pages_per_address: many,
        approvals_per_address: many,
        approvals_per_account: many,
        sessions_per_address: many,
        registrations_per_address: many,
        signing_requests_per_citizen: many,
        token_per_address: many,
        ..Limits::default()
    }
}

/// A phone joins `from`'s account with a link code: a software key, or `attestation`'s.
async fn link_phone(
    server: &TestServer,
    from: &mut Wallet,
    name: &str,
    attestation: Option<AttestationKey>,
) -> anyhow::Result<Wallet> {
    let link = from.create_device_link().await?;
    let mut phone = match attestation {
        Some(key) => Wallet::in_memory().with_attestation(key),
        None => Wallet::in_memory(),
    };
    phone
        .link(&url::Url::parse(&server.issuer())?, &link.code, name)
        .await?;
    Ok(phone)
}

/// Moves a device's joining `secs` into the past: what the days passing do to it (a linked
/// phone's cooling-off is over), without waiting for them. The core reads no clock, and
/// nothing else in the device changes.
async fn age_device(server: &TestServer, device_id: &str, secs: i64) -> anyhow::Result<()> {
    use diesel::connection::SimpleConnection as _;
    use diesel::Connection as _;
    anyhow::ensure!(
        device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "a device id to put in SQL: {device_id}"
    );
    let sql = format!(
        "UPDATE devices SET created_at = created_at - {secs} WHERE device_id = '{device_id}'"
    );
    let url = server.database_url().to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        match url.strip_prefix("sqlite://") {
            Some(path) => diesel::SqliteConnection::establish(path)?
                .batch_execute(&format!("PRAGMA busy_timeout = 10000; {sql}"))?,
            None => diesel::PgConnection::establish(&url)?.batch_execute(&sql)?,
        }
        Ok(())
    })
    .await?
}

/// The id of the login request an approval link opens.
fn request_id(link: &str) -> anyhow::Result<String> {
    url::Url::parse(link)?
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("no request in {link}"))
}

/// An authorization request the browser's single sign-on session may answer (`prompt=none`,
/// with `params`): done with a code, refused with an error or when the phone is asked.
async fn silent_login(
    browser: &Browser,
    rp: &Rp,
    params: &[(&str, &str)],
) -> anyhow::Result<Answer> {
    let mut start = rp.start();
    start.url = with_param(&start.url, "prompt", Some("none"));
    for (name, value) in params {
        start.url = with_param(&start.url, name, Some(value));
    }
    let response = browser.http.get(start.url.clone()).send().await?;
    anyhow::ensure!(response.status() == 303, "authorize: {}", response.status());
    let to = location(&response)?;
    if to.starts_with("/login/") {
        return Ok(Answer::Refused("the phone is asked".into()));
    }
    let callback = Callback {
        url: url::Url::parse(&to)?,
    };
    Ok(match (callback.param("code"), callback.param("error")) {
        (Some(_), _) => Answer::Done,
        (None, Some(error)) => Answer::Refused(error),
        (None, None) => anyhow::bail!("neither a code nor an error: {to}"),
    })
}

/// After a phone's approval: the browser continues to the client; done with a code.
async fn continued(server: &TestServer, browser: &Browser, page: &LoginPage) -> Answer {
    match continue_login(server, browser, &page.url).await {
        Ok((callback, _)) => match callback.param("code") {
            Some(_) => Answer::Done,
            None => Answer::Refused(format!("no code: {}", callback.url)),
        },
        Err(e) => Answer::Refused(format!("{e:#}")),
    }
}

/// A response that sends the browser on to the client: done with a code.
fn code_in(response: &reqwest::Response) -> anyhow::Result<Answer> {
    if response.status() != 303 {
        return Answer::of_status(response.status().as_u16());
    }
    let callback = Callback {
        url: url::Url::parse(&location(response)?)?,
    };
    Ok(match callback.param("code") {
        Some(_) => Answer::Done,
        None => Answer::Refused(callback.param("error").unwrap_or_default()),
    })
}

/// RP-initiated logout as a client's server sends it (no browser): its status.
async fn logout(server: &TestServer, params: &[(&str, &str)]) -> anyhow::Result<u16> {
    let url = url::Url::parse_with_params(&server.url("/logout"), params)?;
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(url)
        .send()
        .await?
        .status()
        .as_u16())
}

/// The form that asks for a signature, with `access_token` if given.
fn signing_form(access_token: Option<&str>) -> Vec<(String, String)> {
    let digest = b64(&eid_core::crypto::sha256(b"I transfer my flat to Mallory"));
    let mut form = vec![
        ("document_name".to_owned(), "Tenancy agreement".to_owned()),
        ("hash".to_owned(), digest),
        ("hash_alg".to_owned(), "SHA-256".to_owned()),
    ];
    if let Some(token) = access_token {
        form.push(("access_token".to_owned(), token.to_owned()));
    }
    form
}

/// A signing request as `phone` lists it.
async fn view_of(
    phone: &mut Wallet,
    request_id: &str,
) -> anyhow::Result<eid_proto::signing::SigningRequestView> {
    phone
        .signing_requests()
        .await?
        .requests
        .into_iter()
        .find(|r| r.request_id == request_id)
        .ok_or_else(|| anyhow::anyhow!("the phone does not list signing request {request_id}"))
}

/// A remote recovery of resident `index`'s account, held: the applying phone and its
/// application.
async fn hold_recovery(server: &TestServer, index: usize) -> anyhow::Result<(Wallet, String)> {
    let resident = server.residents()[index].clone();
    let mut phone = applied_wallet(server, index).await?;
    let held = phone.prove(&evidence(server, &resident)?).await?;
    anyhow::ensure!(held.held_until.is_some(), "not held: {held:?}");
    let id = phone
        .file()
        .application
        .as_ref()
        .map(|a| a.application_id.clone())
        .ok_or_else(|| anyhow::anyhow!("no application"))?;
    Ok((phone, id))
}

/// An officer's approval at the counter, the identity card checked.
fn approval(csrf: &str) -> [(&str, &str); 3] {
    [
        ("csrf_token", csrf),
        ("decision", "approve"),
        ("evidence_hkid_card", "on"),
    ]
}

impl World {
    async fn new(backend: Backend) -> anyhow::Result<Self> {
        let root = TestAttestationRoot::generate()?;
        let server = TestServer::start_with(
            backend,
            TestOptions {
                attestation: AttestationPolicy {
                    roots: Some(AttestationPolicy::roots_from_pem(&root.pem())?),
                    ..AttestationPolicy::default()
                },
                limits: generous(),
                // Nothing the walk makes expires while it runs (the janitor would purge it
                // during a check that nothing changed).
                login: eid_server::config::LoginWindows {
                    approval: 3_600,
                    completion: 3_600,
                    page_lifetime: 7_200,
                },
                ..with_registry()
            },
        )
        .await?;
        let hardware = |n: u8| root.authenticator("eid test phone", [n; 16]);
        let rp = signing_client(&server).await?;
        let other_rp = Rp::register(&server, "Transport Department", JwsAlg::Es256).await?;

        // The walked account: its phone proven in person; three phones linked a day past the
        // cooling-off (the first of them to be removed by a linked phone), each keeping the
        // order of joining; one linked now, cooling off; and one after it.
        let cooling_off = server.provider().config().link_cooling_off;
        let phone = server
            .apply_with(Wallet::in_memory().with_attestation(hardware(1)?), 0)
            .await?;
        let (mut proofed, officer) = server.prove_in_person(phone, 0).await?;
        let proofed_device = proofed.device_id().unwrap_or_default().to_owned();
        let older = link_phone(&server, &mut proofed, "older phone", None).await?;
        let linked = link_phone(&server, &mut proofed, "linked phone", None).await?;
        let linked_hardware =
            link_phone(&server, &mut proofed, "linked phone 2", Some(hardware(2)?)).await?;
        let older_device = older.device_id().unwrap_or_default().to_owned();
        for (device, age) in [
            (proofed_device.as_str(), cooling_off + DAY + 120),
            (older_device.as_str(), cooling_off + DAY + 60),
            (linked.device_id().unwrap_or_default(), cooling_off + DAY),
            (
                linked_hardware.device_id().unwrap_or_default(),
                cooling_off + DAY,
            ),
        ] {
            age_device(&server, device, age).await?;
        }
        let cooling =
            link_phone(&server, &mut proofed, "cooling phone", Some(hardware(3)?)).await?;
        // A minute older than the next one: a device of the same second counts as older.
        age_device(&server, cooling.device_id().unwrap_or_default(), 60).await?;
        let newer = link_phone(&server, &mut proofed, "newer phone", None).await?;

        // The browser: signed in to eid with the phone, and at the signing client with `sign`.
        let browser = Browser::new();
        let sign = [("scope", "openid sign")];
        let (tokens, _) = login_with(&server, &rp, &browser, &mut proofed, &sign).await?;
        anyhow::ensure!(
            tokens
                .scopes()
                .is_some_and(|s| s.iter().any(|s| s.as_str() == "sign")),
            "the citizen allowed asking for signatures"
        );
        let token = tokens.access_token().secret().clone();
        let plain = [("scope", "openid")];
        let (tokens, _) = login_with(&server, &rp, &Browser::new(), &mut proofed, &plain).await?;
        let plain_token = tokens.access_token().secret().clone();
        let passkey = add_passkey(&browser, &server, &mut proofed).await?;
        let passkey_device = proofed
            .devices()
            .await?
            .into_iter()
            .find(|d| d.joined_by == "browser")
            .map(|d| d.device_id)
            .ok_or_else(|| anyhow::anyhow!("no passkey"))?;
        // A wallet session whose phone is gone.
        let mut gone = link_phone(&server, &mut proofed, "gone phone", None).await?;
        let dead_session = gone.session().await?.access_token;
        proofed
            .remove_device(gone.device_id().unwrap_or_default())
            .await?;

        // Resident 1: `plus` on a software key, asked to sign too.
        let (mut software_plus, _) = plus_wallet(&server, 1).await?;
        let (tokens, _) =
            login_with(&server, &rp, &Browser::new(), &mut software_plus, &sign).await?;
        let software_plus_token = tokens.access_token().secret().clone();
        let software_plus_id_token = tokens
            .id_token()
            .map(ToString::to_string)
            .ok_or_else(|| anyhow::anyhow!("no ID token"))?;
        // Resident 2: recovered at the counter by the officer.
        proven_wallet(&server, 2).await?;
        // Resident 3: the operator's; signed in to eid in a browser.
        let mut operated = proven_wallet(&server, 3).await?;
        let operated_browser = Browser::new();
        login(&server, &rp, &operated_browser, &mut operated).await?;
        let operated_reference = operated.account().await?.reference;
        anyhow::ensure!(
            matches!(
                silent_login(&operated_browser, &rp, &[]).await?,
                Answer::Done
            ),
            "resident 3's browser is signed in to eid"
        );
        // Resident 0's application, not proven: its phone's key is an application's.
        let applicant = applied_wallet(&server, 0).await?;
        let application = applicant
            .file()
            .application
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no application"))?;

        Ok(Self {
            server,
            rp,
            other_rp,
            officer,
            proofed,
            linked,
            linked_hardware,
            cooling,
            software_plus,
            proofed_device,
            older_device: Some(older_device),
            newer_device: newer.device_id().map(str::to_owned),
            browser,
            passkey,
            passkey_device,
            token,
            plain_token,
            software_plus_token,
            software_plus_id_token,
            dead_session,
            operated_reference,
            operated_browser,
            applicant,
            applicant_id: application.application_id,
            applicant_reference: application.reference,
            applicant_token: application.token,
            at_counter: None,
            held_at_counter: None,
            spare_device: None,
            spare_session: None,
            held: None,
            judged: Vec::new(),
            mismatches: Vec::new(),
        })
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    fn slot(&mut self, phone: Phone) -> &mut Wallet {
        match phone {
            Phone::Proofed => &mut self.proofed,
            Phone::Linked => &mut self.linked,
            Phone::LinkedHardware => &mut self.linked_hardware,
            Phone::Cooling => &mut self.cooling,
            Phone::SoftwarePlus => &mut self.software_plus,
        }
    }

    /// Takes a phone out for an attempt ([`World::put`] puts it back).
    fn take(&mut self, phone: Phone) -> Wallet {
        std::mem::replace(self.slot(phone), Wallet::in_memory())
    }

    fn put(&mut self, phone: Phone, wallet: Wallet) {
        *self.slot(phone) = wallet;
    }

    /// Records the outcome of an attempt against the table, with what a refusal changed.
    fn judge(&mut self, cell: Cell, answer: Answer, changed: Vec<String>) -> anyhow::Result<()> {
        let outcome = match &answer {
            Answer::Done => "done".to_owned(),
            Answer::Refused(how) => format!("refused ({how})"),
        };
        let agrees = matches!(
            (cell.allowed(), &answer),
            (true, Answer::Done) | (false, Answer::Refused(_))
        );
        if !agrees {
            self.mismatches.push(format!(
                "{cell}: the table {} it, the server {outcome}",
                if cell.allowed() { "allows" } else { "refuses" }
            ));
        }
        if !changed.is_empty() {
            self.mismatches.push(format!(
                "{cell}: {outcome}, and it changed stored data:\n    {}",
                changed.join("\n    ")
            ));
        }
        self.judged.push((cell, outcome));
        Ok(())
    }

    /// Purges what has expired now, as the janitor does every minute: what it would purge
    /// during a check that a refusal changed nothing goes before it.
    async fn settle(&self) -> anyhow::Result<()> {
        let provider = self.server.provider();
        tokio::task::spawn_blocking(move || provider.purge_expired(eid_server::now())).await??;
        Ok(())
    }

    /// A login at the signing client waiting for a phone, in a browser of its own.
    async fn pending_login(&self) -> anyhow::Result<(Browser, LoginPage)> {
        let browser = Browser::new();
        let page = browser
            .open_login(&self.server, &self.rp.start().url)
            .await?;
        Ok((browser, page))
    }

    /// The approval that adds a passkey to the walked account from its signed-in browser.
    async fn passkey_approval(&self) -> anyhow::Result<LoginPage> {
        start_adding_passkey(&self.browser, &self.server)
            .await?
            .map_err(|s| anyhow::anyhow!("adding a passkey answered {s}"))
    }

    /// A new signing request for the walked account: its id and the service's code.
    async fn signing_request(&self) -> anyhow::Result<(String, String)> {
        ask_to_sign(&self.server, &self.rp, &self.token).await
    }

    /// A wallet session challenge: its ceremony.
    async fn session_challenge(&self) -> anyhow::Result<String> {
        let challenge: eid_proto::api::SessionChallenge = reqwest::Client::new()
            .post(self.url("/api/v1/device-sessions"))
            .send()
            .await?
            .json()
            .await?;
        Ok(challenge.ceremony_id)
    }

    /// The code a counter shows for the application of resident 0 (a recovery of the walked
    /// account), as the officer opens it.
    async fn counter_code(&self) -> anyhow::Result<String> {
        let (html, _, _) = self
            .officer
            .review(&self.server, &self.applicant_reference)
            .await?;
        counter_code(&html).ok_or_else(|| anyhow::anyhow!("no counter code: {html}"))
    }

    /// A phone of the walked account to remove.
    async fn spare_device(&mut self) -> anyhow::Result<String> {
        let devices = self.proofed.devices().await?;
        if let Some(id) = &self.spare_device {
            if devices.iter().any(|d| &d.device_id == id) {
                return Ok(id.clone());
            }
        }
        let spare = link_phone(&self.server, &mut self.proofed, "spare phone", None).await?;
        let id = spare.device_id().unwrap_or_default().to_owned();
        self.spare_device = Some(id.clone());
        Ok(id)
    }

    /// A passkey of the walked account to remove (not the walked one).
    async fn spare_passkey(&mut self) -> anyhow::Result<String> {
        let spare = |devices: Vec<eid_proto::api::Device>, walked: &str| {
            devices
                .into_iter()
                .find(|d| d.joined_by == "browser" && d.device_id != walked)
                .map(|d| d.device_id)
        };
        if let Some(id) = spare(self.proofed.devices().await?, &self.passkey_device) {
            return Ok(id);
        }
        add_passkey(&self.browser, &self.server, &mut self.proofed).await?;
        spare(self.proofed.devices().await?, &self.passkey_device)
            .ok_or_else(|| anyhow::anyhow!("the passkey added is not listed"))
    }

    /// A login at the other client in a browser of its own, which stays signed in: a
    /// standing consent to withdraw, and a session to end.
    async fn sign_in_elsewhere(&mut self) -> anyhow::Result<()> {
        let ids = |list: eid_proto::api::BrowserSessionList| -> HashSet<String> {
            list.sessions.into_iter().map(|s| s.session_id).collect()
        };
        let before = ids(self.proofed.browser_sessions().await?);
        login(
            &self.server,
            &self.other_rp,
            &Browser::new(),
            &mut self.proofed,
        )
        .await?;
        let new: Vec<String> = ids(self.proofed.browser_sessions().await?)
            .difference(&before)
            .cloned()
            .collect();
        anyhow::ensure!(new.len() == 1, "one new session: {new:?}");
        self.spare_session = new.into_iter().next();
        Ok(())
    }

    /// The other client, with the walked account's standing consent.
    async fn spare_consent(&mut self) -> anyhow::Result<String> {
        let client_id = self.other_rp.client_id.clone();
        let consents = self.proofed.consents().await?.consents;
        if !consents.iter().any(|c| c.client_id == client_id) {
            self.sign_in_elsewhere().await?;
        }
        Ok(client_id)
    }

    /// A single sign-on session of the walked account, in another browser, to end.
    async fn spare_session(&mut self) -> anyhow::Result<String> {
        let sessions = self.proofed.browser_sessions().await?.sessions;
        match &self.spare_session {
            Some(id) if sessions.iter().any(|s| &s.session_id == id) => {}
            _ => self.sign_in_elsewhere().await?,
        }
        self.spare_session
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no session"))
    }

    /// A held remote recovery of the walked account, to cancel.
    async fn held_recovery(&mut self) -> anyhow::Result<String> {
        let held = self.proofed.recoveries().await?.recoveries;
        if let Some(id) = &self.held {
            if held.iter().any(|r| &r.application_id == id) {
                return Ok(id.clone());
            }
        }
        let (_, id) = hold_recovery(&self.server, 0).await?;
        self.held = Some(id.clone());
        Ok(id)
    }

    /// The requests that perform `action` on the walked account at the endpoint that does it,
    /// for a credential that is not the one the endpoint takes (what is needed is made now).
    async fn target(&mut self, action: Action) -> anyhow::Result<Vec<Request>> {
        Ok(match action {
            // An answer is a phone's signed decision: the credential has no assertion to give,
            // and the decision goes without one.
            A::AnswerLogin => {
                let (_, page) = self.pending_login().await?;
                let id = request_id(&page.link)?;
                let decision = serde_json::json!({
                    "request_id": id, "answer": "approve", "number": page.number,
                });
                vec![Request::post(
                    self.url(&format!("/api/v1/approvals/{id}")),
                    Body::Json(
                        serde_json::json!({ "decision": b64(decision.to_string().as_bytes()) }),
                    ),
                )]
            }
            // A session is opened with a device's assertion, which the credential has not;
            // and the wallet API does not take the credential in place of a session.
            A::OpenWalletSession => {
                let ceremony = self.session_challenge().await?;
                vec![
                    Request::post(
                        self.url(&format!("/api/v1/device-sessions/{ceremony}")),
                        Body::Json(serde_json::json!({})),
                    ),
                    Request::get(self.url("/api/v1/account")),
                ]
            }
            A::ListDevices => vec![Request::get(self.url("/api/v1/devices"))],
            A::AddAuthenticator => vec![Request::post(
                self.url("/account/passkeys/options"),
                Body::Json(serde_json::json!({"csrf_token": "-", "ceremony_id": "-"})),
            )],
            A::RemoveDevice => {
                let device = self.spare_device().await?;
                vec![Request::delete(
                    self.url(&format!("/api/v1/devices/{device}")),
                )]
            }
            A::MintLinkCode => vec![Request::post(self.url("/api/v1/device-links"), Body::Empty)],
            A::ChangeConsents => {
                let client = self.spare_consent().await?;
                vec![Request::delete(
                    self.url(&format!("/api/v1/consents/{client}")),
                )]
            }
            A::EndSessions => {
                let session = self.spare_session().await?;
                vec![Request::delete(
                    self.url(&format!("/api/v1/sessions/{session}")),
                )]
            }
            // An approval is a phone's signed decision, as a login's answer.
            A::ApproveSignature => {
                let (id, code) = self.signing_request().await?;
                let decision = serde_json::json!({
                    "request_id": id, "answer": "approve", "code": code,
                });
                vec![Request::post(
                    self.url(&format!("/api/v1/signing-requests/{id}")),
                    Body::Json(
                        serde_json::json!({ "decision": b64(decision.to_string().as_bytes()) }),
                    ),
                )]
            }
            // Proofing the application of resident 0 (a recovery of the walked account) takes
            // the application's token and key.
            A::StartRecovery => vec![Request::post(
                self.url(&format!(
                    "/api/v1/applications/{}/proofing-challenges",
                    self.applicant_id
                )),
                Body::Empty,
            )],
            A::CancelRecovery => {
                let held = self.held_recovery().await?;
                vec![Request::delete(
                    self.url(&format!("/api/v1/recoveries/{held}")),
                )]
            }
            // No endpoint closes an account: the operator does, at the command line.
            A::CloseAccount => vec![
                Request::delete(self.url("/api/v1/account")),
                Request::post(
                    self.url("/account/close"),
                    Body::Form(vec![("csrf_token".to_owned(), "-".to_owned())]),
                ),
            ],
            A::RequestSignature => vec![Request::post(
                self.url("/signing/requests"),
                Body::Form(signing_form(Some(&self.token))),
            )],
        })
    }

    /// `action` at its endpoint with `carry`, as the table expects of `cell`.
    async fn at_endpoint(&mut self, cell: Cell, carry: Carry<'_>) -> anyhow::Result<()> {
        let requests = self.target(cell.action).await?;
        attempt!(self, cell, send(&requests, carry).await?)
    }
}

/// One attempt at `cell`, with its credential.
async fn walk(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    match cell.credential {
        K::ProofedPhone => Box::pin(phone_row(w, PhoneRow::Proofed, cell)).await,
        K::LinkedPhone => Box::pin(phone_row(w, PhoneRow::Linked, cell)).await,
        K::CoolingLinkedPhone => Box::pin(phone_row(w, PhoneRow::Cooling, cell)).await,
        K::BrowserPasskey => Box::pin(passkey_row(w, cell)).await,
        K::BrowserSession => Box::pin(browser_session_row(w, cell)).await,
        K::WalletSession => Box::pin(wallet_session_row(w, cell)).await,
        K::Officer => Box::pin(officer_row(w, cell)).await,
        K::Client => Box::pin(client_row(w, cell)).await,
        K::CitizenAccessToken => Box::pin(access_token_row(w, cell)).await,
        K::Operator => Box::pin(operator_row(w, cell)).await,
        K::ApplicationKey => Box::pin(application_key_row(w, cell)).await,
    }
}

/// A phone's key: the wallet library, with the sessions it opens with that key (the phone
/// acts through them in the wallet API).
async fn phone_row(w: &mut World, row: PhoneRow, cell: Cell) -> anyhow::Result<()> {
    let who = row.phone();
    match cell.action {
        A::AnswerLogin => {
            let (browser, page) = w.pending_login().await?;
            let mut phone = w.take(who);
            let request = phone.fetch_approval(&page.link).await?;
            let decision = eid_wallet::approve_all(&request, page.number, true);
            let judged = attempt!(w, cell, {
                match Answer::of_wallet(phone.answer(&request, &page.link, &decision).await)? {
                    Answer::Done => continued(&w.server, &browser, &page).await,
                    refused => refused,
                }
            });
            w.put(who, phone);
            judged
        }
        A::OpenWalletSession => {
            let mut phone = w.take(who);
            let judged = attempt!(w, cell, Answer::of_wallet(phone.new_session().await)?);
            w.put(who, phone);
            judged
        }
        A::ListDevices => {
            let mut phone = w.take(who);
            phone.session().await?;
            let judged = attempt!(w, cell, Answer::of_wallet(phone.devices().await)?);
            w.put(who, phone);
            judged
        }
        A::AddAuthenticator => match cell.side {
            // The phone approves adding a passkey from the signed-in browser, by name; the
            // browser creates it.
            Side::Met => {
                let mut phone = w.take(who);
                let judged = attempt!(
                    w,
                    cell,
                    Answer::of_flow(add_passkey(&w.browser, &w.server, &mut phone).await)
                );
                w.put(who, phone);
                judged
            }
            // Unmet (the phones that may): an approval that does not name the action, as a
            // login's does. Denied (a phone cooling off): the approval of the action itself.
            Side::Unmet => {
                let page = w.passkey_approval().await?;
                let mut phone = w.take(who);
                let request = phone.fetch_approval(&page.link).await?;
                let mut decision = eid_wallet::approve_all(&request, page.number, false);
                if rule(cell.credential, cell.action) != Rule::Denied {
                    decision.purpose = None;
                }
                let judged = attempt!(
                    w,
                    cell,
                    Answer::of_wallet(phone.answer(&request, &page.link, &decision).await)?
                );
                w.put(who, phone);
                judged
            }
        },
        A::RemoveDevice => {
            let target = match (row, cell.side) {
                // The owner's phone, older than the cooling one.
                (PhoneRow::Cooling, Side::Unmet) => Some(w.proofed_device.clone()),
                (PhoneRow::Cooling, Side::Met) => w.newer_device.take(),
                // A phone older than the linked one.
                (PhoneRow::Linked, _) => w.older_device.take(),
                (PhoneRow::Proofed, _) => Some(w.spare_device().await?),
            }
            .ok_or_else(|| anyhow::anyhow!("{cell}: its device to remove was removed"))?;
            let mut phone = w.take(who);
            phone.session().await?;
            let judged = attempt!(
                w,
                cell,
                Answer::of_wallet(phone.remove_device(&target).await)?
            );
            w.put(who, phone);
            judged
        }
        A::MintLinkCode => {
            let mut phone = w.take(who);
            phone.session().await?;
            let judged = attempt!(
                w,
                cell,
                Answer::of_wallet(phone.create_device_link().await)?
            );
            w.put(who, phone);
            judged
        }
        A::ChangeConsents => {
            let client = w.spare_consent().await?;
            let mut phone = w.take(who);
            phone.session().await?;
            let judged = attempt!(
                w,
                cell,
                Answer::of_wallet(phone.withdraw_consent(&client).await)?
            );
            w.put(who, phone);
            judged
        }
        A::EndSessions => {
            let session = w.spare_session().await?;
            let mut phone = w.take(who);
            phone.session().await?;
            let judged = attempt!(
                w,
                cell,
                Answer::of_wallet(phone.end_browser_session(&session).await)?
            );
            w.put(who, phone);
            judged
        }
        A::ApproveSignature => {
            // Unmet: a key that does not meet the signing policy (software), on a `plus`
            // account; met: a hardware key. A phone cooling off has a hardware key: only its
            // cooling-off refuses it.
            let signer = match (row, cell.side) {
                (PhoneRow::Proofed, Side::Unmet) => Phone::SoftwarePlus,
                (PhoneRow::Linked, Side::Unmet) => Phone::Linked,
                (PhoneRow::Linked, Side::Met) => Phone::LinkedHardware,
                (PhoneRow::Proofed, Side::Met) | (PhoneRow::Cooling, _) => who,
            };
            let (request_id, code) = if signer == Phone::SoftwarePlus {
                ask_to_sign(&w.server, &w.rp, &w.software_plus_token).await?
            } else {
                w.signing_request().await?
            };
            let mut phone = w.take(signer);
            let view = view_of(&mut phone, &request_id).await?;
            let judged = attempt!(w, cell, signed(phone.approve_signing(&view, &code).await)?);
            w.put(signer, phone);
            judged
        }
        // A bound phone does not stand for an application at a counter (recovering the
        // account it belongs to).
        A::StartRecovery => {
            let code = w.counter_code().await?;
            let mut phone = w.take(who);
            let judged = attempt!(
                w,
                cell,
                Answer::of_wallet(phone.answer_counter(&code).await)?
            );
            w.put(who, phone);
            judged
        }
        A::CancelRecovery => {
            let held = w.held_recovery().await?;
            let mut phone = w.take(who);
            phone.session().await?;
            let judged = attempt!(
                w,
                cell,
                Answer::of_wallet(phone.cancel_recovery(&held).await)?
            );
            w.put(who, phone);
            judged
        }
        // Its session at the endpoints: none closes an account, and asking for a signature
        // takes a client's authentication.
        A::CloseAccount | A::RequestSignature => {
            let token = w.slot(who).session().await?.access_token;
            w.at_endpoint(cell, Carry::Bearer(&token)).await
        }
    }
}

/// The browser passkey: its assertions, on its browser's login page, at the phone's API, at
/// `/api/v1/device-sessions` (the only way to the wallet API), at a counter.
async fn passkey_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    match cell.action {
        A::AnswerLogin => match cell.side {
            // Another browser's login, answered through the phone's API.
            Side::Unmet => {
                let (_, page) = w.pending_login().await?;
                attempt!(
                    w,
                    cell,
                    Answer::of_status(
                        passkey_answers_cross_device(&w.server, &mut w.passkey, &page).await?
                    )?
                )
            }
            // The login page of the browser it is used in.
            Side::Met => {
                let (browser, page) = w.pending_login().await?;
                attempt!(
                    w,
                    cell,
                    match passkey_login(&browser, &w.server, &page, &mut w.passkey).await {
                        Ok(response) => code_in(&response)?,
                        Err(e) => Answer::Refused(format!("{e:#}")),
                    }
                )
            }
        },
        A::OpenWalletSession => attempt!(
            w,
            cell,
            Answer::of_status(passkey_wallet_session(&w.server, &mut w.passkey).await?)?
        ),
        A::AddAuthenticator => {
            let page = w.passkey_approval().await?;
            attempt!(
                w,
                cell,
                Answer::of_status(
                    passkey_answers_cross_device(&w.server, &mut w.passkey, &page).await?
                )?
            )
        }
        A::ApproveSignature => {
            let (request_id, code) = w.signing_request().await?;
            let view = view_of(&mut w.proofed, &request_id).await?;
            attempt!(
                w,
                cell,
                Answer::of_status(
                    passkey_approves_signing(&w.server, &mut w.passkey, &view, &code).await?
                )?
            )
        }
        A::StartRecovery => {
            let code = w.counter_code().await?;
            let (url, submission) = passkey_signs_counter(&w.server, &mut w.passkey, &code).await?;
            attempt!(
                w,
                cell,
                send(
                    &[Request::post(url.clone(), Body::Json(submission.clone()))],
                    Carry::Nothing
                )
                .await?
            )
        }
        // The wallet API: no session for it, and without one its endpoints refuse.
        A::ListDevices
        | A::RemoveDevice
        | A::MintLinkCode
        | A::ChangeConsents
        | A::EndSessions
        | A::CancelRecovery
        | A::CloseAccount
        | A::RequestSignature => {
            let requests = w.target(cell.action).await?;
            attempt!(
                w,
                cell,
                Answer::all(vec![
                    Answer::of_status(passkey_wallet_session(&w.server, &mut w.passkey).await?)?,
                    send(&requests, Carry::Nothing).await?,
                ])
            )
        }
    }
}

/// The browser's single sign-on session: its cookie, at authorization requests, on the
/// account page and at every other endpoint.
async fn browser_session_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    match cell.action {
        A::AnswerLogin => match cell.side {
            // A request whose hint names another citizen: the phone is needed.
            Side::Unmet => {
                let hint = w.software_plus_id_token.clone();
                attempt!(
                    w,
                    cell,
                    silent_login(&w.browser, &w.rp, &[("id_token_hint", &hint)]).await?
                )
            }
            Side::Met => attempt!(w, cell, silent_login(&w.browser, &w.rp, &[]).await?),
        },
        A::ListDevices => attempt!(w, cell, {
            let html = account_page(&w.browser, &w.server).await?;
            if html.contains("cooling phone") {
                Answer::Done
            } else {
                Answer::Refused("the account page lists no devices".into())
            }
        }),
        A::AddAuthenticator => match cell.side {
            // Creating a passkey the phone did not approve.
            Side::Unmet => {
                let csrf = account_csrf(&w.browser, &w.server).await?;
                attempt!(
                    w,
                    cell,
                    Answer::of_status(
                        create_passkey(&w.browser, &w.server, &csrf, "not-approved")
                            .await?
                            .1
                    )?
                )
            }
            Side::Met => attempt!(
                w,
                cell,
                Answer::of_flow(add_passkey(&w.browser, &w.server, &mut w.proofed).await)
            ),
        },
        A::RemoveDevice => {
            let target = match cell.side {
                Side::Unmet => w.proofed_device.clone(),
                Side::Met => w.spare_passkey().await?,
            };
            let csrf = account_csrf(&w.browser, &w.server).await?;
            attempt!(w, cell, {
                let response = w
                    .browser
                    .http
                    .post(w.url(&format!("/account/devices/{target}/remove")))
                    .form(&[("csrf_token", csrf.as_str())])
                    .send()
                    .await?;
                match Answer::of_status(response.status().as_u16())? {
                    Answer::Done
                        if w.proofed
                            .devices()
                            .await?
                            .iter()
                            .any(|d| d.device_id == target) =>
                    {
                        Answer::Refused("the device is still listed".into())
                    }
                    answer => answer,
                }
            })
        }
        A::ChangeConsents => {
            let client = w.spare_consent().await?;
            let csrf = account_csrf(&w.browser, &w.server).await?;
            attempt!(w, cell, {
                let response = w
                    .browser
                    .http
                    .post(w.url(&format!("/account/consents/{client}/withdraw")))
                    .form(&[("csrf_token", csrf.as_str())])
                    .send()
                    .await?;
                match Answer::of_status(response.status().as_u16())? {
                    Answer::Done
                        if w.proofed
                            .consents()
                            .await?
                            .consents
                            .iter()
                            .any(|c| c.client_id == client) =>
                    {
                        Answer::Refused("the consent stands".into())
                    }
                    answer => answer,
                }
            })
        }
        A::EndSessions => {
            let session = w.spare_session().await?;
            let csrf = account_csrf(&w.browser, &w.server).await?;
            attempt!(w, cell, {
                let response = w
                    .browser
                    .http
                    .post(w.url(&format!("/account/sessions/{session}/end")))
                    .form(&[("csrf_token", csrf.as_str())])
                    .send()
                    .await?;
                match Answer::of_status(response.status().as_u16())? {
                    Answer::Done
                        if w.proofed
                            .browser_sessions()
                            .await?
                            .sessions
                            .iter()
                            .any(|s| s.session_id == session) =>
                    {
                        Answer::Refused("the session goes on".into())
                    }
                    answer => answer,
                }
            })
        }
        // Its cookie at the wallet API, the signing API and the application's endpoints.
        A::OpenWalletSession
        | A::MintLinkCode
        | A::ApproveSignature
        | A::StartRecovery
        | A::CancelRecovery
        | A::CloseAccount
        | A::RequestSignature => {
            let http = w.browser.http.clone();
            w.at_endpoint(cell, Carry::Cookies(&http)).await
        }
    }
}

/// The wallet session: its bearer token at the wallet API, as its phone. Met: the session of
/// the phone joined by proofing. Unmet: the session of the phone cooling off where its row
/// refuses, or of a phone that is gone where every phone may.
async fn wallet_session_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    let proofed = w.proofed.session().await?.access_token;
    let cooling = w.cooling.session().await?.access_token;
    let (token, gone) = match cell.side {
        Side::Met => (proofed.clone(), proofed.clone()),
        Side::Unmet => (cooling, w.dead_session.clone()),
    };
    match cell.action {
        // A session answers no login: the phone's signed approval does.
        A::AnswerLogin => w.at_endpoint(cell, Carry::Bearer(&proofed)).await,
        // Nor opens another session.
        A::OpenWalletSession => {
            let ceremony = w.session_challenge().await?;
            let url = w.url(&format!("/api/v1/device-sessions/{ceremony}"));
            attempt!(
                w,
                cell,
                send(
                    &[Request::post(
                        url.clone(),
                        Body::Json(serde_json::json!({}))
                    )],
                    Carry::Bearer(&proofed)
                )
                .await?
            )
        }
        A::ListDevices | A::ChangeConsents | A::EndSessions => {
            w.at_endpoint(cell, Carry::Bearer(&gone)).await
        }
        A::RemoveDevice => match cell.side {
            Side::Unmet => {
                let url = w.url(&format!("/api/v1/devices/{}", w.proofed_device));
                attempt!(
                    w,
                    cell,
                    send(&[Request::delete(url.clone())], Carry::Bearer(&token)).await?
                )
            }
            Side::Met => w.at_endpoint(cell, Carry::Bearer(&token)).await,
        },
        A::MintLinkCode | A::StartRecovery | A::CancelRecovery | A::CloseAccount => {
            w.at_endpoint(cell, Carry::Bearer(&token)).await
        }
        // An approval is the phone's signed act; the session is how it reads the request.
        // Unmet: the session alone, without its phone's signature; and the session of the
        // phone cooling off, with its phone's signature.
        A::AddAuthenticator => match cell.side {
            Side::Unmet => {
                let page = w.passkey_approval().await?;
                let request = w.cooling.fetch_approval(&page.link).await?;
                let decision = eid_wallet::approve_all(&request, page.number, false);
                let alone = serde_json::json!({
                    "decision": b64(&serde_json::to_vec(&decision)?),
                });
                let url = w.url(&format!("/api/v1/approvals/{}", request.request_id));
                attempt!(
                    w,
                    cell,
                    Answer::all(vec![
                        send(
                            &[Request::post(url.clone(), Body::Json(alone.clone()))],
                            Carry::Bearer(&proofed)
                        )
                        .await?,
                        Answer::of_wallet(w.cooling.answer(&request, &page.link, &decision).await)?,
                    ])
                )
            }
            Side::Met => attempt!(
                w,
                cell,
                Answer::of_flow(add_passkey(&w.browser, &w.server, &mut w.proofed).await)
            ),
        },
        A::ApproveSignature => {
            let (request_id, code) = w.signing_request().await?;
            match cell.side {
                Side::Unmet => {
                    let view = view_of(&mut w.cooling, &request_id).await?;
                    let decision = serde_json::json!({
                        "request_id": request_id, "answer": "approve", "code": code,
                        "hash_alg": view.hash_alg, "hash": view.hash,
                    });
                    let alone = serde_json::json!({
                        "decision": b64(decision.to_string().as_bytes()),
                    });
                    let url = w.url(&format!("/api/v1/signing-requests/{request_id}"));
                    attempt!(
                        w,
                        cell,
                        Answer::all(vec![
                            send(
                                &[Request::post(url.clone(), Body::Json(alone.clone()))],
                                Carry::Bearer(&proofed)
                            )
                            .await?,
                            signed(w.cooling.approve_signing(&view, &code).await)?,
                        ])
                    )
                }
                Side::Met => {
                    let view = view_of(&mut w.proofed, &request_id).await?;
                    attempt!(
                        w,
                        cell,
                        signed(w.proofed.approve_signing(&view, &code).await)?
                    )
                }
            }
        }
        A::RequestSignature => w.at_endpoint(cell, Carry::Bearer(&proofed)).await,
    }
}

/// The officer: the console's session (its cookies) at every endpoint; at the counter, the
/// officer's decision.
async fn officer_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    let console = w.officer.http.clone();
    match cell.action {
        // Resident 2, at the counter with a new phone: the officer approves without, then
        // with, the phone's answer to the counter's code.
        A::StartRecovery => {
            let mut phone = match w.at_counter.take() {
                Some(phone) => phone,
                None => applied_wallet(&w.server, 2).await?,
            };
            let application = phone
                .file()
                .application
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no application"))?;
            let (_, _, csrf) = match cell.side {
                Side::Unmet => w.officer.review(&w.server, &application.reference).await?,
                Side::Met => {
                    w.officer
                        .review_with_phone(&w.server, &application.reference, &mut phone)
                        .await?
                }
            };
            let judged = attempt!(w, cell, {
                let (status, _) = w
                    .officer
                    .decide(&w.server, &application.application_id, &approval(&csrf))
                    .await?;
                match Answer::of_status(status)? {
                    Answer::Done if phone.status().await?.status != "proven" => {
                        Answer::Refused("the application is not proven".into())
                    }
                    answer => answer,
                }
            });
            if cell.side == Side::Unmet {
                w.at_counter = Some(phone);
            }
            judged
        }
        // A held remote recovery of resident 2's account. Unmet: the console's session at
        // the wallet API's cancel, and rejecting the held application in the console. Met:
        // proving the holder at the counter, which supersedes it.
        A::CancelRecovery => {
            let (mut held_phone, held) = match w.held_at_counter.take() {
                Some(held) => held,
                None => hold_recovery(&w.server, 2).await?,
            };
            let judged = match cell.side {
                Side::Unmet => {
                    // The console's form token is its session's (any application's page).
                    let (_, _, csrf) = w.officer.review(&w.server, &w.applicant_reference).await?;
                    let requests = [
                        Request::delete(w.url(&format!("/api/v1/recoveries/{held}"))),
                        Request::post(
                            w.server
                                .admin_url(&format!("/applications/{held}/decision")),
                            Body::Form(vec![
                                ("csrf_token".to_owned(), csrf.clone()),
                                ("decision".to_owned(), "reject".to_owned()),
                                ("reason".to_owned(), "other".to_owned()),
                            ]),
                        ),
                    ];
                    attempt!(w, cell, send(&requests, Carry::Cookies(&console)).await?)
                }
                Side::Met => {
                    let mut phone = applied_wallet(&w.server, 2).await?;
                    let reference = phone
                        .file()
                        .application
                        .as_ref()
                        .map(|a| a.reference.clone())
                        .unwrap_or_default();
                    let (_, id, csrf) = w
                        .officer
                        .review_with_phone(&w.server, &reference, &mut phone)
                        .await?;
                    attempt!(w, cell, {
                        let (status, _) =
                            w.officer.decide(&w.server, &id, &approval(&csrf)).await?;
                        match Answer::of_status(status)? {
                            Answer::Done => {
                                let state = held_phone.status().await?;
                                if state.rejection.as_deref() == Some("superseded") {
                                    Answer::Done
                                } else {
                                    Answer::Refused(format!("the recovery is {}", state.status))
                                }
                            }
                            refused => refused,
                        }
                    })
                }
            };
            if cell.side == Side::Unmet {
                w.held_at_counter = Some((held_phone, held));
            }
            judged
        }
        A::AnswerLogin
        | A::OpenWalletSession
        | A::ListDevices
        | A::AddAuthenticator
        | A::RemoveDevice
        | A::MintLinkCode
        | A::ChangeConsents
        | A::EndSessions
        | A::ApproveSignature
        | A::CloseAccount
        | A::RequestSignature => w.at_endpoint(cell, Carry::Cookies(&console)).await,
    }
}

/// The signing client's own credentials (HTTP Basic), and its ID tokens at `/logout`.
async fn client_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    let (id, secret) = (w.rp.client_id.clone(), w.rp.client_secret.clone());
    match cell.action {
        A::EndSessions => match cell.side {
            // Another client's login, named as its own; a hint it did not get (forged); its
            // credentials at the wallet API.
            Side::Unmet => {
                let (other, _) =
                    login(&w.server, &w.other_rp, &Browser::new(), &mut w.proofed).await?;
                let other = other
                    .id_token()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let (own, _) = login(&w.server, &w.rp, &Browser::new(), &mut w.proofed).await?;
                let mut forged = own.id_token().map(ToString::to_string).unwrap_or_default();
                forged.replace_range(forged.len() - 4.., "AAAA");
                let requests = w.target(cell.action).await?;
                attempt!(
                    w,
                    cell,
                    Answer::all(vec![
                        Answer::of_status(
                            logout(&w.server, &[("client_id", &id), ("id_token_hint", &other)])
                                .await?
                        )?,
                        Answer::of_status(logout(&w.server, &[("id_token_hint", &forged)]).await?)?,
                        send(&requests, Carry::Basic(&id, &secret)).await?,
                    ])
                )
            }
            // Its ID token of a login (from its server, without the browser): that login ends.
            Side::Met => {
                let (tokens, _) = login(&w.server, &w.rp, &Browser::new(), &mut w.proofed).await?;
                let hint = tokens
                    .id_token()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                attempt!(
                    w,
                    cell,
                    match Answer::of_status(logout(&w.server, &[("id_token_hint", &hint)]).await?)?
                    {
                        Answer::Done
                            if userinfo_status(&w.server, tokens.access_token().secret())
                                .await?
                                != 401 =>
                        {
                            Answer::Refused("the login goes on".into())
                        }
                        answer => answer,
                    }
                )
            }
        },
        // Its credentials alone, without a citizen's access token.
        A::RequestSignature => {
            let url = w.url("/signing/requests");
            attempt!(
                w,
                cell,
                send(
                    &[Request::post(url.clone(), Body::Form(signing_form(None)))],
                    Carry::Basic(&id, &secret)
                )
                .await?
            )
        }
        A::AnswerLogin
        | A::OpenWalletSession
        | A::ListDevices
        | A::AddAuthenticator
        | A::RemoveDevice
        | A::MintLinkCode
        | A::ChangeConsents
        | A::ApproveSignature
        | A::StartRecovery
        | A::CancelRecovery
        | A::CloseAccount => w.at_endpoint(cell, Carry::Basic(&id, &secret)).await,
    }
}

/// The citizen's access token at the signing client: as a bearer at every endpoint, and in
/// the signing API's form.
async fn access_token_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    let token = w.token.clone();
    match cell.action {
        A::RequestSignature => match cell.side {
            // A token without `sign`; the token with it, presented by another client.
            Side::Unmet => {
                let url = w.url("/signing/requests");
                let requests = [
                    (
                        Request::post(url.clone(), Body::Form(signing_form(Some(&w.plain_token)))),
                        (w.rp.client_id.clone(), w.rp.client_secret.clone()),
                    ),
                    (
                        Request::post(url.clone(), Body::Form(signing_form(Some(&token)))),
                        (
                            w.other_rp.client_id.clone(),
                            w.other_rp.client_secret.clone(),
                        ),
                    ),
                ];
                attempt!(w, cell, {
                    let mut answers = Vec::new();
                    for (request, (id, secret)) in &requests {
                        answers.push(
                            send(std::slice::from_ref(request), Carry::Basic(id, secret)).await?,
                        );
                    }
                    Answer::all(answers)
                })
            }
            Side::Met => attempt!(
                w,
                cell,
                Answer::of_flow(ask_to_sign(&w.server, &w.rp, &token).await)
            ),
        },
        A::AnswerLogin
        | A::OpenWalletSession
        | A::ListDevices
        | A::AddAuthenticator
        | A::RemoveDevice
        | A::MintLinkCode
        | A::ChangeConsents
        | A::EndSessions
        | A::ApproveSignature
        | A::StartRecovery
        | A::CancelRecovery
        | A::CloseAccount => w.at_endpoint(cell, Carry::Bearer(&token)).await,
    }
}

/// The operator, at the command line: `eid_core::admin` on resident 3's account. Nothing
/// else is the operator's: the other actions' endpoints are sent requests that carry no
/// credential (the operator has none on the HTTP surface).
async fn operator_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    let selector = AccountSelector::Reference(w.operated_reference.clone());
    match cell.action {
        // `eid-server citizen suspend` drops the account's browser sessions (and `resume`
        // does not bring them back).
        A::EndSessions => attempt!(w, cell, {
            let provider = w.server.provider();
            let s = selector.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let now = eid_server::now();
                provider.suspend_account(&s, AdminReason::SuspectedCompromise, now)?;
                provider.resume_account(&s, AdminReason::SuspectedCompromise, now)?;
                Ok(())
            })
            .await??;
            match silent_login(&w.operated_browser, &w.rp, &[]).await? {
                Answer::Done => Answer::Refused("the session goes on".into()),
                Answer::Refused(_) => Answer::Done,
            }
        }),
        A::CloseAccount => attempt!(w, cell, {
            let provider = w.server.provider();
            let s = selector.clone();
            Answer::of_flow(
                tokio::task::spawn_blocking(move || {
                    provider.close_account(&s, AdminReason::CitizenRequest, eid_server::now())
                })
                .await?
                .map_err(anyhow::Error::from),
            )
        }),
        A::AnswerLogin
        | A::OpenWalletSession
        | A::ListDevices
        | A::AddAuthenticator
        | A::RemoveDevice
        | A::MintLinkCode
        | A::ChangeConsents
        | A::ApproveSignature
        | A::StartRecovery
        | A::CancelRecovery
        | A::RequestSignature => w.at_endpoint(cell, Carry::Nothing).await,
    }
}

/// The key of resident 0's application, not proven: the wallet library with that key, and
/// the application's token.
async fn application_key_row(w: &mut World, cell: Cell) -> anyhow::Result<()> {
    let token = w.applicant_token.clone();
    match cell.action {
        A::AnswerLogin | A::AddAuthenticator => {
            let page = match cell.action {
                A::AddAuthenticator => w.passkey_approval().await?,
                _ => w.pending_login().await?.1,
            };
            let request = w.applicant.fetch_approval_anonymously(&page.link).await?;
            let decision = eid_wallet::approve_all(&request, page.number, false);
            attempt!(
                w,
                cell,
                Answer::of_wallet(w.applicant.answer(&request, &page.link, &decision).await)?
            )
        }
        A::OpenWalletSession => {
            attempt!(w, cell, Answer::of_wallet(w.applicant.new_session().await)?)
        }
        A::ListDevices => attempt!(w, cell, Answer::of_wallet(w.applicant.devices().await)?),
        A::RemoveDevice => {
            let device = w.spare_device().await?;
            attempt!(
                w,
                cell,
                Answer::of_wallet(w.applicant.remove_device(&device).await)?
            )
        }
        A::MintLinkCode => attempt!(
            w,
            cell,
            Answer::of_wallet(w.applicant.create_device_link().await)?
        ),
        A::ChangeConsents => {
            let client = w.spare_consent().await?;
            attempt!(
                w,
                cell,
                Answer::of_wallet(w.applicant.withdraw_consent(&client).await)?
            )
        }
        A::EndSessions => {
            let session = w.spare_session().await?;
            attempt!(
                w,
                cell,
                Answer::of_wallet(w.applicant.end_browser_session(&session).await)?
            )
        }
        A::ApproveSignature => {
            let (request_id, code) = w.signing_request().await?;
            let view = view_of(&mut w.proofed, &request_id).await?;
            let decision = eid_proto::signing::SigningDecision {
                request_id: request_id.clone(),
                answer: "approve".into(),
                hash_alg: view.hash_alg.clone(),
                hash: view.hash.clone(),
                code: Some(code),
            };
            let submission = w.applicant.sign_signing_decision(&view, &decision)?;
            attempt!(
                w,
                cell,
                Answer::of_wallet(
                    w.applicant
                        .post_signing_answer(&request_id, &submission)
                        .await
                )?
            )
        }
        // Unmet: proofing that proves nobody (another resident's face); met: the holder's.
        A::StartRecovery => {
            let resident = w.server.residents()[0].clone();
            let mut proof = evidence(&w.server, &resident)?;
            if cell.side == Side::Unmet {
                proof.face_template = w.server.capture(&w.server.residents()[1])?;
            }
            attempt!(w, cell, {
                match w.applicant.prove(&proof).await {
                    Ok(held) if held.held_until.is_some() => Answer::Done,
                    Ok(bound) => anyhow::bail!("a remote recovery bound at once: {bound:?}"),
                    Err(e) => Answer::of_wallet::<()>(Err(e))?,
                }
            })
        }
        // Its own held recovery: its token at the cancel, and its key at the wallet API.
        A::CancelRecovery => {
            let url = w.url(&format!("/api/v1/recoveries/{}", w.applicant_id));
            let id = w.applicant_id.clone();
            attempt!(
                w,
                cell,
                Answer::all(vec![
                    send(&[Request::delete(url.clone())], Carry::Bearer(&token)).await?,
                    Answer::of_wallet(w.applicant.cancel_recovery(&id).await)?,
                ])
            )
        }
        A::CloseAccount | A::RequestSignature => w.at_endpoint(cell, Carry::Bearer(&token)).await,
    }
}

async fn every_cell(backend: Backend) -> anyhow::Result<()> {
    let mut w = World::new(backend).await?;
    let mut cells = HashSet::new();
    for credential in Credential::ALL {
        for action in Action::ALL {
            let sides: &[Side] = match rule(credential, action) {
                Rule::Allowed => &[Side::Met],
                Rule::Denied => &[Side::Unmet],
                Rule::Only(_) => &[Side::Unmet, Side::Met],
            };
            for &side in sides {
                let cell = Cell {
                    credential,
                    action,
                    side,
                };
                let judged = w.judged.len();
                walk(&mut w, cell)
                    .await
                    .map_err(|e| e.context(cell.to_string()))?;
                anyhow::ensure!(w.judged.len() == judged + 1, "{cell}: not judged once");
            }
            cells.insert((credential, action));
        }
    }
    assert_eq!(
        cells.len(),
        Credential::ALL.len() * Action::ALL.len(),
        "every cell of the table"
    );
    let refused = w
        .judged
        .iter()
        .filter(|(_, o)| o.starts_with("refused"))
        .count();
    eprintln!(
        "authority cells: {} cells, {} attempts ({} done, {refused} refused)",
        cells.len(),
        w.judged.len(),
        w.judged.len() - refused
    );
    for (cell, outcome) in &w.judged {
        eprintln!("  {cell}: {outcome}");
    }
    assert!(
        w.mismatches.is_empty(),
        "cells the server does not enforce as the table says:\n{}",
        w.mismatches.join("\n")
    );
    w.server.stop().await;
    Ok(())
}

on_every_backend!(every_cell_of_the_authority_table_over_http, every_cell);
