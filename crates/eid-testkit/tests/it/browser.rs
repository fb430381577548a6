//! eid's pages in a real browser: Chromium, driven by Playwright from
//! `crates/eid-testkit/browser/browser.py`, logs in at the example relying party
//! (`examples/department-portal`, run in process) while this test plays the phone, then uses
//! eid's single sign-on session: `prompt=none`, a deep link through the portal's
//! `initiate_login_uri`, the account page, a second browser's session ended from the first,
//! and signing out everywhere (the portal hears it through back-channel logout). A second
//! test runs two relying parties in eid's service portal (one-click entry from it) and
//! passkeys in the browser (DevTools' virtual authenticator; conditional mediation). The
//! script checks eid's pages with axe-core (in both languages where they are GETs) and
//! screenshots them; the screenshots go to
//! `target/browser-shots/<time>-<pid>/<backend>/<scenario>/` (`EID_BROWSER_SHOTS` replaces
//! `target/browser-shots`), which the test prints.
//!
//! The two speak a line protocol (see the script): it says `APPROVE <link> <number>` when a
//! QR page shows, the test approves with the wallet and answers `APPROVED`; it reports
//! `OK <step>` lines, then `DONE` or `FAIL <reason>`.
//!
//! Without Playwright, Chromium (`/usr/bin/chromium`, or `EID_CHROMIUM`) or axe-core (`npm ci`
//! in `crates/eid-testkit/browser`) the test skips, unless `EID_REQUIRE_BROWSER=1` (CI sets
//! it) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context as _};
use eid_core::catalogue::{Audience, CatalogueEntry, DeepLink, Theme};
use eid_core::clients::ClientRegistration;
use eid_core::keys::JwsAlg;
use eid_testkit::Backend;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

use crate::support::*;

/// The longest the script may stay silent (it bounds each of its own waits well below this).
const SILENCE: Duration = Duration::from_secs(180);

fn workspace() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    dir.canonicalize().unwrap_or(dir)
}

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("EID_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn required() -> bool {
    std::env::var("EID_REQUIRE_BROWSER").is_ok_and(|v| v == "1" || v == "true")
}

/// What this machine lacks to run the browser tests, if anything.
async fn missing() -> Option<String> {
    let playwright = tokio::process::Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !playwright {
        return Some("python3 cannot import playwright (pip install -r crates/eid-testkit/browser/requirements.txt)".into());
    }
    if !chromium().is_file() {
        return Some(format!(
            "there is no Chromium at {} (apt-get install chromium, or set EID_CHROMIUM)",
            chromium().display()
        ));
    }
    let axe = browser_dir().join("node_modules/axe-core/axe.min.js");
    if !axe.is_file() {
        return Some(format!(
            "{} is missing (npm ci in crates/eid-testkit/browser)",
            axe.display()
        ));
    }
    None
}

/// `YYYYMMDDTHHMMSSZ` for Unix seconds (days to the civil date: H. Hinnant's algorithm).
fn timestamp(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn backend_name(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    }
}

/// The screenshot folder of this backend's `scenario`, in the folder of this test run (one per
/// process).
fn shots(backend: &Backend, scenario: &str) -> PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let parent = std::env::var_os("EID_BROWSER_SHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target/browser-shots"));
        parent.join(format!(
            "{}-{}",
            timestamp(eid_server::now().secs()),
            std::process::id()
        ))
    });
    run.join(backend_name(backend)).join(scenario)
}

/// The relying party the browser uses.
struct RelyingParty<'a> {
    url: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
}

/// What the browser script said, in order: its steps, and the logins the phone approved.
#[derive(Debug)]
enum Said {
    /// `OK <step> [detail]`.
    Step(String, String),
    /// An `APPROVE` line the test answered: the approval request as the phone saw it.
    Approved {
        client_id: String,
        ask_consent: bool,
    },
}

/// The detail of `name`, the first time the browser reported it.
fn step(said: &[Said], name: &str) -> anyhow::Result<String> {
    said.iter()
        .find_map(|s| match s {
            Said::Step(step, detail) if step == name => Some(detail.clone()),
            _ => None,
        })
        .with_context(|| format!("the browser did not report {name}: {said:?}"))
}

/// The browser script's run of `scenario` at the relying party `rp` (and a second one, for the
/// scenarios that use two), the test answering for the phone; returns what it said. `label`
/// tells its output apart from other tests'.
async fn run_browser(
    server: &eid_testkit::TestServer,
    wallet: &mut eid_wallet::Wallet,
    rp: &RelyingParty<'_>,
    second: Option<&RelyingParty<'_>>,
    shots: &Path,
    scenario: &str,
    label: &'static str,
) -> anyhow::Result<Vec<Said>> {
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(browser_dir().join("browser.py"))
        .arg(format!("--rp={}", rp.url))
        .arg(format!("--issuer={}", server.issuer()))
        .arg(format!("--client-id={}", rp.client_id))
        .arg(format!("--redirect-uri={}", rp.redirect_uri))
        .arg(format!("--shots={}", shots.display()))
        .arg(format!("--scenario={scenario}"))
        .arg(format!("--chromium={}", chromium().display()));
    if let Some(second) = second {
        command
            .arg(format!("--rp2={}", second.url))
            .arg(format!("--rp2-client-id={}", second.client_id));
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting browser.py")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
    // Its diagnostics (axe's findings, the page's console), into this test's output.
    let mut diagnostics = tokio::io::BufReader::new(child.stderr.take().context("stderr")?).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = diagnostics.next_line().await {
            eprintln!("  browser.py ({label}): {line}");
        }
    });

    let mut said = Vec::new();
    loop {
        let line = tokio::time::timeout(SILENCE, lines.next_line())
            .await
            .with_context(|| format!("browser.py said nothing for {SILENCE:?}"))??
            .context("browser.py exited without DONE or FAIL")?;
        eprintln!("browser ({label}): {line}");
        let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match word {
            "APPROVE" => {
                let (link, number) = rest
                    .rsplit_once(' ')
                    .with_context(|| format!("APPROVE without a link and a number: {line}"))?;
                let page = LoginPage {
                    url: String::new(),
                    link: link.to_owned(),
                    number: number.parse().context("APPROVE's number")?,
                };
                let request = phone_approves(wallet, &page).await?;
                said.push(Said::Approved {
                    client_id: request.service.client_id,
                    ask_consent: request.ask_consent,
                });
                stdin.write_all(b"APPROVED\n").await?;
                stdin.flush().await?;
            }
            "OK" => {
                let (step, detail) = rest.split_once(' ').unwrap_or((rest, ""));
                said.push(Said::Step(step.to_owned(), detail.to_owned()));
            }
            "DONE" => break,
            "FAIL" => bail!("the browser's {scenario} failed: {rest}"),
            _ => bail!("browser.py said {line:?}"),
        }
    }
    let status = tokio::time::timeout(SILENCE, child.wait())
        .await
        .context("browser.py did not exit after DONE")??;
    anyhow::ensure!(status.success(), "browser.py exited with {status}");
    Ok(said)
}

/// An example relying party (`examples/department-portal`) served in process on `host`
/// (`localhost` or `127.0.0.1`: browsers share cookies across the ports of one host, and the
/// portal's session cookie has one name), registered as `name` with its initiate login and
/// back-channel logout URIs.
struct Portal {
    url: String,
    client_id: String,
    redirect_uri: String,
    handle: actix_web::dev::ServerHandle,
}

impl Portal {
    async fn start(
        server: &eid_testkit::TestServer,
        name: &str,
        host: &str,
    ) -> anyhow::Result<Portal> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{host}:{}", listener.local_addr()?.port());
        let redirect_uri = format!("{url}/callback");
        let mut registration =
            ClientRegistration::new(name, std::slice::from_ref(&redirect_uri), JwsAlg::Rs256);
        registration.backchannel_logout_uri = Some(format!("{url}/backchannel-logout"));
        registration.initiate_login_uri = Some(format!("{url}/initiate-login"));
        let new = server.register_client(registration).await?;
        let client_id = new.client.client_id.into_string();
        let running = department_portal::serve(
            department_portal::Args {
                issuer: server.issuer(),
                client_id: client_id.clone(),
                client_secret: new.client_secret,
                listen: String::new(),
                redirect_uri: redirect_uri.clone(),
                id_token_alg: department_portal::IdTokenAlg::Rs256,
            },
            Some(listener),
        )
        .await?;
        let handle = running.handle();
        tokio::spawn(running);
        Ok(Portal {
            url,
            client_id,
            redirect_uri,
            handle,
        })
    }

    fn rp(&self) -> RelyingParty<'_> {
        RelyingParty {
            url: &self.url,
            client_id: &self.client_id,
            redirect_uri: &self.redirect_uri,
        }
    }
}

/// What the browser tests need that this machine lacks: skip (or, with
/// `EID_REQUIRE_BROWSER`, fail). `Ok(true)` when they can run.
async fn can_run() -> anyhow::Result<bool> {
    if let Some(missing) = missing().await {
        if required() {
            bail!("{missing}, and EID_REQUIRE_BROWSER is set");
        }
        eprintln!("browser tests skipped: {missing}");
        return Ok(false);
    }
    Ok(true)
}

/// A citizen logs in at the example relying party in Chromium: its log-in link, eid's QR page
/// (English and Traditional Chinese, axe-core, eid's cookie HttpOnly), the phone approves, the
/// page shows whose account approved (both languages, axe-core), Continue, and the relying
/// party shows the citizen's name. Then the single sign-on session that login opened:
/// `eid_session` HttpOnly and hidden from scripts; `prompt=none` answered with a code, and
/// `login_required` in a browser without the session; the portal's `initiate_login_uri` with
/// a deep link lands on that page with no eid page in between; the account page (both
/// languages, axe-core) lists this browser; a second browser logs in by QR, the first ends its
/// session from the account page, and the second's `prompt=none` needs a login again; "Sign
/// out everywhere" shows eid's signed-out page (axe-core), the portal hears it through
/// back-channel logout, and `prompt=none` needs a login again.
async fn chromium_logs_in_and_uses_the_session(backend: Backend) -> anyhow::Result<()> {
    if !can_run().await? {
        return Ok(());
    }
    let label = backend_name(&backend);
    let shots = shots(&backend, "sessions");
    std::fs::create_dir_all(&shots)?;
    eprintln!("screenshots ({label}): {}", shots.display());

    let server = start(backend).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let portal = Portal::start(&server, "Department portal", "localhost").await?;
    let said = run_browser(
        &server,
        &mut wallet,
        &portal.rp(),
        None,
        &shots,
        "sessions",
        label,
    )
    .await?;
    let step = |name: &str| step(&said, name);
    step("cookie-httponly")?;
    let resident = &server.residents()[0];
    assert_eq!(
        step("approved-page")?,
        eid_core::account::mask_name(&resident.english_name)
    );
    assert_eq!(step("logged-in")?, resident.english_name);
    assert_eq!(step("session-cookie")?, "HttpOnly SameSite=Lax");
    step("prompt-none-answered")?;
    step("prompt-none-login-required")?;
    assert_eq!(step("deep-link")?, resident.english_name);
    assert_eq!(step("account-page")?, "1");
    step("second-login")?;
    step("second-session-ended")?;
    step("signed-out-page")?;
    step("rp-logged-out")?;
    step("prompt-none-after-sign-out")?;

    // Every session of the citizen has ended, as the wallet sees it.
    assert!(wallet.browser_sessions().await?.sessions.is_empty());

    portal.handle.stop(false).await;
    server.stop().await;
    Ok(())
}

on_every_backend!(
    chromium_logs_in_and_signs_on_once_and_out_everywhere,
    chromium_logs_in_and_uses_the_session
);

/// A catalogue entry for the portal: one theme, for everyone, with its deep links.
fn catalogue_entry(
    name_zh: &str,
    description: (&str, &str),
    theme: Theme,
    links: Vec<DeepLink>,
) -> CatalogueEntry {
    CatalogueEntry {
        name_zh: Some(name_zh.into()),
        description_en: description.0.into(),
        description_zh: description.1.into(),
        themes: vec![theme],
        audiences: vec![Audience::Everyone],
        links,
    }
}

/// Two services in eid's portal, then passkeys, in Chromium (`oneclick` in the script). The
/// example relying party twice: "Department portal" on `localhost` and "Transport Department"
/// on `127.0.0.1` (another origin), each with its initiate login and back-channel logout URIs
/// and a catalogue entry; the second's has a deep link to its renewal page.
///
/// A QR login at the first opens eid's session; the second's "Log in" finds it but the
/// citizen never agreed to share with that service, so its QR page shows and the phone is
/// asked what to share (`ask_consent`). The portal, signed in, in both languages (axe-core);
/// its search box finds the second service alone by "licence" and by 駕駛執照; its deep link
/// lands on the service's page, logged in, with no eid page between (the service had
/// forgotten its own login). On the account page a passkey is created in DevTools' virtual
/// authenticator once the phone approved adding it, by name ("Approve on your phone to add a
/// passkey": a QR page of its own), and listed as a passkey in a browser. A browser with no session
/// and a copy of the passkey: eid's QR page asks with conditional mediation and the passkey
/// answers, the citizen lands at the service logged in with no phone; a third browser uses
/// the "Use a passkey" button. The session the passkey opened is offered no passkey; removing the passkey ends the session it opened (the third
/// browser's), and the wallet no longer lists it.
async fn chromium_enters_services_with_one_click_and_a_passkey(
    backend: Backend,
) -> anyhow::Result<()> {
    if !can_run().await? {
        return Ok(());
    }
    let label = backend_name(&backend);
    let shots = shots(&backend, "oneclick");
    std::fs::create_dir_all(&shots)?;
    eprintln!("screenshots ({label}): {}", shots.display());

    let server = start(backend).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let department = Portal::start(&server, "Department portal", "localhost").await?;
    let transport = Portal::start(&server, "Transport Department", "127.0.0.1").await?;
    let provider = server.provider();
    let (first, second) = (department.client_id.clone(), transport.client_id.clone());
    let renew = format!("{}{}", transport.url, department_portal::RENEW_PATH);
    let initiate = |p: &Portal| Some(format!("{}/initiate-login", p.url));
    let (first_initiate, second_initiate) = (initiate(&department), initiate(&transport));
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        provider.set_catalogue_entry(
            &first,
            Some(catalogue_entry(
                "示例部門",
                (
                    "Tenancy agreements signed with eid, and your profile.",
                    "以 eid 簽署租約，以及您的個人資料。",
                ),
                Theme::Housing,
                Vec::new(),
            )),
            first_initiate,
            eid_server::now(),
        )?;
        provider.set_catalogue_entry(
            &second,
            Some(catalogue_entry(
                "運輸署",
                (
                    "Driving licences, vehicle licences and road tests.",
                    "駕駛執照、車輛牌照及路試。",
                ),
                Theme::Transport,
                vec![DeepLink {
                    id: "renew-driving-licence".into(),
                    title_en: "Renew a driving licence".into(),
                    title_zh: "續領駕駛執照".into(),
                    target_link_uri: renew,
                }],
            )),
            second_initiate,
            eid_server::now(),
        )?;
        Ok(())
    })
    .await??;

    let said = run_browser(
        &server,
        &mut wallet,
        &department.rp(),
        Some(&transport.rp()),
        &shots,
        "oneclick",
        label,
    )
    .await?;
    let step = |name: &str| step(&said, name);
    let resident = &server.residents()[0];
    let name = &resident.english_name;
    assert_eq!(&step("service1-login")?, name);
    step("service2-qr-page")?;
    assert_eq!(&step("service2-login")?, name);
    assert_eq!(step("portal")?, "2");
    for lang in ["en", "zh-Hant-HK"] {
        assert_eq!(
            step(&format!("portal-search-{lang}"))?,
            transport.client_id,
            "the search finds the second service alone ({lang})"
        );
    }
    assert_eq!(&step("portal-deep-link")?, name);
    assert_eq!(step("passkey-offered")?, "approved");
    step("passkey-added")?;
    step("passkey-qr-page")?;
    assert_eq!(
        step("passkey-approved-page")?,
        eid_core::account::mask_name(name)
    );
    assert_eq!(&step("passkey-conditional")?, name);
    assert_eq!(&step("passkey-button")?, name);
    assert_eq!(step("passkey-session-account")?, "refused");
    step("passkey-removed")?;
    step("passkey-session-ended")?;

    // The phone approved: the first service; the second, asked what to share (the session
    // has no consent for it); adding the passkey, by name (eid's own client). Never a passkey
    // login, and nothing for the passkey's session, which adds no passkey.
    let approvals: Vec<(&str, bool)> = said
        .iter()
        .filter_map(|s| match s {
            Said::Approved {
                client_id,
                ask_consent,
            } => Some((client_id.as_str(), *ask_consent)),
            Said::Step(..) => None,
        })
        .collect();
    let account = eid_core::portal::ACCOUNT_CLIENT_ID;
    let expected = vec![department.client_id.as_str(), &transport.client_id, account];
    assert_eq!(
        approvals.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        expected
    );
    assert!(approvals[0].1 && approvals[1].1, "{approvals:?}");
    let index = |name: &str| {
        said.iter()
            .position(|s| matches!(s, Said::Step(step, _) if step == name))
            .expect("reported")
    };
    let phone_during = |from: &str, to: &str| {
        said[index(from)..index(to)]
            .iter()
            .any(|s| matches!(s, Said::Approved { .. }))
    };
    assert!(!phone_during("passkey-added", "passkey-button"), "{said:?}");
    assert!(
        !phone_during("service2-login", "portal-deep-link"),
        "{said:?}"
    );

    // The wallet: the passkey is gone, and so are the sessions it opened (the second and third
    // browsers': their prompt=none needed a login again); the first browser's remains.
    let devices = wallet.devices().await?;
    assert!(
        devices.iter().all(|d| d.joined_by != "browser"),
        "{devices:?}"
    );
    let history = wallet.history().await?.events;
    for action in ["device.bound", "device.removed"] {
        assert!(
            history
                .iter()
                .any(|e| e.action == action && e.device_name.as_deref() == Some("Test laptop")),
            "no {action} of the passkey in {history:?}"
        );
    }
    let sessions = wallet.browser_sessions().await?.sessions;
    let services = ["Department portal", "Transport Department"];
    assert!(
        sessions.iter().any(|s| s.services == services),
        "no session with {services:?}: {sessions:#?}"
    );

    department.handle.stop(false).await;
    transport.handle.stop(false).await;
    server.stop().await;
    Ok(())
}

on_every_backend!(
    chromium_enters_services_with_one_click_and_a_passkey_on_every_backend,
    chromium_enters_services_with_one_click_and_a_passkey
);

#[test]
fn screenshot_folders_are_named_by_utc_time() {
    assert_eq!(timestamp(0), "19700101T000000Z");
    assert_eq!(timestamp(951_782_400), "20000229T000000Z");
    assert_eq!(timestamp(1_795_564_861), "20261125T000101Z");
}
