//! Load tool: complete logins per second against the real server on loopback.
//!
//! Each login is the whole journey a citizen makes: `/authorize`, the login page (QR code and
//! number), the phone reading the request with its account session and answering it (the
//! number and the claims shared, signed in a WebAuthn assertion), the browser's page showing
//! whose account approved, the browser continuing to the client's redirect, the code exchange
//! at `/token` and a `/userinfo` call. The first login of each citizen remembers the choice; the
//! measured logins confirm it.
//! Each citizen is a sandbox registry's test resident, proven remotely before measuring.
//!
//! ```sh
//! cargo run --release -p eid-testkit --example login_load -- --logins 2000 --concurrency 32
//! DATABASE_URL=postgres://postgres@127.0.0.1/test cargo run --release -p eid-testkit --example login_load -- --postgres
//! ```
//!
//! The run is bounded by `--logins`; it talks only to the server it starts on 127.0.0.1.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestOptions, TestServer};
use eid_wallet::Wallet;
use url::Url;

const REDIRECT_URI: &str = "http://localhost:3000/callback";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Args {
    logins: usize,
    concurrency: usize,
    postgres: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args {
        logins: 1000,
        concurrency: 16,
        postgres: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--logins" => out.logins = it.next().context("--logins N")?.parse()?,
            "--concurrency" => out.concurrency = it.next().context("--concurrency N")?.parse()?,
            "--postgres" => out.postgres = true,
            other => bail!("unknown argument {other}"),
        }
    }
    out.concurrency = out.concurrency.clamp(1, 256);
    out.logins = out.logins.clamp(1, 1_000_000);
    Ok(out)
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    Some(&s[from..from + s[from..].find(end)?])
}

fn location(r: &reqwest::Response) -> anyhow::Result<String> {
    Ok(r.headers()
        .get("location")
        .ok_or_else(|| anyhow!("no Location"))?
        .to_str()?
        .to_owned())
}

/// One complete login; returns when userinfo has answered.
async fn login(
    server: &TestServer,
    client: &(String, String),
    wallet: &mut Wallet,
) -> anyhow::Result<()> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut authorize = Url::parse(&server.url("/authorize"))?;
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client.0.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile"),
        ("state", "s"),
        ("nonce", "n"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let r = browser.get(authorize).send().await?;
    let login_url = server.url(&location(&r)?);
    let page = browser.get(&login_url).send().await?.text().await?;
    let link = between(&page, "id=\"approve-url\" href=\"", "\"")
        .ok_or_else(|| anyhow!("no approval link"))?
        .replace("&amp;", "&");
    let number: u8 = between(&page, "<strong id=\"number\">", "</strong>")
        .ok_or_else(|| anyhow!("no number"))?
        .parse()?;
    let request = wallet.fetch_approval(&link).await?;
    let decision = if request.ask_consent {
        eid_wallet::approve_all(&request, number, true)
    } else {
        eid_wallet::approve_as_before(&request, number)
    };
    // The citizen is at the browser and stays signed in there: each login also opens its
    // single sign-on session (the heavier path, as before the choice existed).
    let decision = eid_wallet::staying_signed_in(decision);
    wallet.answer(&request, &link, &decision).await?;
    let html = browser.get(&login_url).send().await?.text().await?;
    let csrf = between(&html, "name=\"csrf_token\" value=\"", "\"")
        .ok_or_else(|| anyhow!("the page does not show whose account approved"))?
        .to_owned();
    let r = browser
        .post(&login_url)
        .form(&[("csrf_token", csrf.as_str()), ("action", "continue")])
        .send()
        .await?;
    let callback = Url::parse(&location(&r)?)?;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("no code"))?;
    let tokens: serde_json::Value = browser
        .post(server.url("/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await?
        .json()
        .await?;
    let access = tokens["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("token error: {tokens}"))?;
    let info = browser
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await?;
    if info.status() != 200 {
        bail!("userinfo answered {}", info.status());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let backend = if args.postgres {
        Backend::Postgres(std::env::var("DATABASE_URL").context("--postgres needs DATABASE_URL")?)
    } else {
        Backend::Sqlite
    };
    // Every citizen applies from this one machine: lift the per-address limits.
    let mut limits = eid_core::limits::Limits::default();
    limits.applications_per_address = eid_core::limits::RateLimit::new(1_000_000, 3_600);
    limits.proofing_per_address = eid_core::limits::RateLimit::new(1_000_000, 3_600);
    let many = eid_core::limits::RateLimit::new(1_000_000, 60);
    limits.authorize_per_address = many;
    limits.authorize_per_client = many;
    limits.login_pages_per_address = many;
    limits.approvals_per_address = many;
    limits.approvals_per_account = many;
    limits.sessions_per_address = many;
    limits.token_per_address = many;
    let options = TestOptions {
        registry_in_process: true,
        residents: args.concurrency,
        limits,
        ..TestOptions::default()
    };
    let server = TestServer::start_with(backend.clone(), options).await?;
    let client = server
        .add_client("Load test", REDIRECT_URI, JwsAlg::Es256)
        .await?;
    // One citizen per worker, proven and consented before measuring.
    let mut wallets = Vec::new();
    for index in 0..server.residents().len() {
        let mut wallet = server.proven_wallet(index).await?;
        login(&server, &client, &mut wallet).await?;
        wallets.push(wallet);
    }
    let server = std::sync::Arc::new(server);
    let per_worker = args.logins.div_ceil(args.concurrency);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut wallet in wallets {
        let (server, client) = (std::sync::Arc::clone(&server), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let t = Instant::now();
                login(&server, &client, &mut wallet).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "{backend:?}: {} complete logins in {:.2?} with {} concurrent citizens: {:.0} logins/s; latency p50 {:.1?}, p95 {:.1?}, p99 {:.1?}",
        latencies.len(),
        elapsed,
        args.concurrency,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.95),
        pct(0.99)
    );
    if let Ok(server) = std::sync::Arc::try_unwrap(server) {
        server.stop().await;
    }
    Ok(())
}
