//! eid's pages in a real browser: Chromium, driven by Playwright from
//! `crates/eid-testkit/browser/browser.py`, logs in at the example relying party
//! (`examples/department-portal`, run in process) while this test plays the phone, then uses
//! eid's single sign-on session: `prompt=none`, a deep link through the portal's
//! `initiate_login_uri`, the account page, a second browser's session ended from the first,
//! and signing out everywhere (the portal hears it through back-channel logout). The script
//! checks eid's pages with axe-core (in both languages where they are GETs) and screenshots
//! them; the screenshots go to `target/browser-shots/<time>-<pid>/<backend>/`
//! (`EID_BROWSER_SHOTS` replaces `target/browser-shots`), which the test prints.
//!
//! The two speak a line protocol (see the script): it says `APPROVE <link> <number>` when a
//! QR page shows (twice: two browsers log in), the test approves with the wallet and answers
//! `APPROVED`; it reports `OK <step>` lines, then `DONE` or `FAIL <reason>`.
//!
//! Without Playwright, Chromium (`/usr/bin/chromium`, or `EID_CHROMIUM`) or axe-core (`npm ci`
//! in `crates/eid-testkit/browser`) the test skips, unless `EID_REQUIRE_BROWSER=1` (CI sets
//! it) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context as _};
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

/// This backend's screenshot folder, in the folder of this test run (one per process).
fn shots(backend: &Backend) -> PathBuf {
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
    run.join(backend_name(backend))
}

/// The relying party the browser uses.
struct RelyingParty<'a> {
    url: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
}

/// The browser script's run of `scenario` at the relying party `rp`, the test answering for
/// the phone; returns its `OK` lines (step and detail). `label` tells its output apart from
/// other tests'.
async fn run_browser(
    server: &eid_testkit::TestServer,
    wallet: &mut eid_wallet::Wallet,
    rp: &RelyingParty<'_>,
    shots: &Path,
    scenario: &str,
    label: &'static str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut child = tokio::process::Command::new("python3")
        .arg(browser_dir().join("browser.py"))
        .arg(format!("--rp={}", rp.url))
        .arg(format!("--issuer={}", server.issuer()))
        .arg(format!("--client-id={}", rp.client_id))
        .arg(format!("--redirect-uri={}", rp.redirect_uri))
        .arg(format!("--shots={}", shots.display()))
        .arg(format!("--scenario={scenario}"))
        .arg(format!("--chromium={}", chromium().display()))
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

    let mut steps = Vec::new();
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
                phone_approves(wallet, &page).await?;
                stdin.write_all(b"APPROVED\n").await?;
                stdin.flush().await?;
            }
            "OK" => {
                let (step, detail) = rest.split_once(' ').unwrap_or((rest, ""));
                steps.push((step.to_owned(), detail.to_owned()));
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
    Ok(steps)
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
    if let Some(missing) = missing().await {
        if required() {
            bail!("{missing}, and EID_REQUIRE_BROWSER is set");
        }
        eprintln!("browser tests skipped: {missing}");
        return Ok(());
    }
    let label = backend_name(&backend);
    let shots = shots(&backend);
    std::fs::create_dir_all(&shots)?;
    eprintln!("screenshots ({label}): {}", shots.display());

    let server = start(backend).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let portal = format!("http://localhost:{}", listener.local_addr()?.port());
    let redirect_uri = format!("{portal}/callback");
    let mut registration = ClientRegistration::new(
        "Department portal",
        std::slice::from_ref(&redirect_uri),
        JwsAlg::Rs256,
    );
    registration.backchannel_logout_uri = Some(format!("{portal}/backchannel-logout"));
    registration.initiate_login_uri = Some(format!("{portal}/initiate-login"));
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

    let rp = RelyingParty {
        url: &portal,
        client_id: &client_id,
        redirect_uri: &redirect_uri,
    };
    let steps = run_browser(&server, &mut wallet, &rp, &shots, "sessions", label).await?;
    let step = |name: &str| {
        steps
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, detail)| detail.clone())
            .with_context(|| format!("the browser did not report {name}: {steps:?}"))
    };
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

    handle.stop(false).await;
    server.stop().await;
    Ok(())
}

on_every_backend!(
    chromium_logs_in_and_signs_on_once_and_out_everywhere,
    chromium_logs_in_and_uses_the_session
);

#[test]
fn screenshot_folders_are_named_by_utc_time() {
    assert_eq!(timestamp(0), "19700101T000000Z");
    assert_eq!(timestamp(951_782_400), "20000229T000000Z");
    assert_eq!(timestamp(1_795_564_861), "20261125T000101Z");
}
