//! The suite against the real eid, on SQLite and PostgreSQL: every plan runs and no module
//! ends FAILED but those `eid/expected-failures.toml` lists with their reasons (and those do).
//! The reports are kept in `target/conformance/<backend>/`. `EID_CONFORMANCE_PLANS=a,b` runs
//! only those plans.

use eid_conformance::config::{ClientAuth, ClientConfig, DriverConfig, SuiteConfig};
use eid_conformance::expectations::Expectations;
use eid_conformance::{plans, report, Suite, Verdict};
use eid_core::clients::ClientRegistration;
use eid_core::keys::JwsAlg;
use eid_core::store::{ClientProfile, TokenAuthMethod};
use eid_testkit::{backends, Backend, TestOptions, TestServer};
use url::Url;

const REDIRECT_URI: &str = "http://localhost:3000/callback";

/// A `private_key_jwt` client of `profile` with a new P-256 key, registered at eid, as the
/// suite's clients file would name it.
async fn key_client(
    server: &TestServer,
    label: &str,
    profile: ClientProfile,
) -> anyhow::Result<ClientConfig> {
    let key = eid_conformance::jose::new_key();
    let mut public = eid_conformance::jose::public_jwk(&key);
    public["kid"] = "suite".into();
    let mut registration =
        ClientRegistration::new(label, &[REDIRECT_URI.to_owned()], JwsAlg::Es256);
    registration.auth_method = TokenAuthMethod::PrivateKeyJwt;
    registration.jwks = Some(serde_json::json!({ "keys": [public] }));
    registration.profile = profile;
    let client = server.register_client(registration).await?.client;
    Ok(ClientConfig {
        client_id: client.client_id.into_string(),
        client_secret: String::new(),
        redirect_uri: Url::parse(REDIRECT_URI)?,
        token_endpoint_auth_method: ClientAuth::PrivateKeyJwt,
        private_jwk: Some(eid_conformance::jose::private_jwk(&key)),
    })
}

/// The suite against `server` with `clients`, its first resident's phone as the login driver.
async fn suite(server: &TestServer, clients: Vec<ClientConfig>) -> anyhow::Result<Suite> {
    let mut config = SuiteConfig::new(
        &server.issuer(),
        clients,
        DriverConfig::Wallet {
            path: "in-memory".into(),
        },
    )?;
    // The test server listens on plain HTTP on loopback.
    config.danger_allow_http = true;
    let documents =
        eid_conformance::documents::Documents::start("127.0.0.1:0".parse()?, None).await?;
    // Proven in person (plus), so that the eid-signing plan's citizen may sign.
    let (wallet, _officer) = server.plus_wallet(0).await?;
    Ok(Suite::with_wallet(config, wallet).with_documents(documents))
}

async fn every_plan_passes_on(backend: Backend) -> anyhow::Result<()> {
    let name = match &backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    // The suite makes a hundred logins from one address in a few minutes, as an auditor's
    // run against a staging deployment would: lift the per-address limits (the suite would
    // otherwise wait as Retry-After says).
    let mut limits = eid_core::limits::Limits::default();
    let many = eid_core::limits::RateLimit::new(100_000, 60);
    limits.authorize_per_address = many;
    limits.login_pages_per_address = many;
    limits.approvals_per_address = many;
    limits.approvals_per_account = many;
    limits.sessions_per_address = many;
    limits.registrations_per_address = many;
    let options = TestOptions {
        registry_in_process: true,
        residents: 1,
        limits,
        // The Dynamic plan registers a client per module.
        registration: eid_core::oidc::registration::RegistrationPolicy::Open,
        // A Dynamic OP offers the implicit response types (OIDC Core §15.2), as a deployment
        // seeking that certification does.
        danger_implicit_flow: true,
        ..TestOptions::default()
    };
    let server = TestServer::start_with(backend, options).await?;
    // The signing PKI, for the eid-signing plan.
    let provider = server.provider();
    let now = eid_core::time::UnixTime::from_secs(eid_conformance::context::now());
    tokio::task::spawn_blocking(move || provider.pki_init(now)).await??;
    let mut clients = Vec::new();
    for (label, alg) in [
        ("Conformance", JwsAlg::Rs256),
        ("Conformance 2", JwsAlg::Es256),
    ] {
        // The first may ask for signatures (the eid-signing plan).
        let mut registration =
            eid_core::clients::ClientRegistration::new(label, &[REDIRECT_URI.to_owned()], alg);
        registration.signing = clients.is_empty();
        let new = server.register_client(registration).await?;
        let (client_id, client_secret) = (new.client.client_id.into_string(), new.client_secret);
        clients.push(ClientConfig {
            client_id,
            client_secret,
            redirect_uri: Url::parse(REDIRECT_URI)?,
            token_endpoint_auth_method: ClientAuth::ClientSecretBasic,
            private_jwk: None,
        });
    }
    // Two FAPI 2.0 clients for the fapi2-security-profile plan.
    for label in ["Conformance FAPI", "Conformance FAPI 2"] {
        clients.push(key_client(&server, label, ClientProfile::Fapi2).await?);
    }
    let suite = suite(&server, clients).await?;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(name);
    let expectations = Expectations::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eid/expected-failures.toml"),
    )?;
    let mut failed = Vec::new();
    // EID_CONFORMANCE_PLANS=a,b runs only those plans (while working on one).
    let only: Option<Vec<String>> = std::env::var("EID_CONFORMANCE_PLANS")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    for plan in plans::all() {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|p| p == plan.name))
        {
            continue;
        }
        // The FAPI plans' modules run side by side, so that their waits (a code's and a
        // request URI's lifetime, a rotated refresh token's grace) overlap; the one phone
        // still approves one login at a time.
        let jobs = if plan.name.contains("fapi2") { 6 } else { 1 };
        let report = suite.run_jobs(&plan, &[], jobs).await;
        report::write_all(&report, &dir)?;
        print!("{}", report::text(&report));
        assert_eq!(report.modules.len(), plan.modules.len());
        failed.extend(expectations.judge(&report));
        if plan.name == "oidcc-basic" {
            // The plain code flow must really run, not be skipped.
            let server_module = report.modules.iter().find(|m| m.id == "oidcc-server");
            assert_eq!(server_module.map(|m| m.verdict), Some(Verdict::Passed));
        }
    }
    server.stop().await;
    assert!(
        failed.is_empty(),
        "modules FAILED against eid unexpectedly, or expected failures passed ({name}):\n{}",
        failed.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_plan_runs_against_eid_without_a_failure() -> anyhow::Result<()> {
    for backend in backends()? {
        every_plan_passes_on(backend).await?;
    }
    Ok(())
}

/// The FAPI 2.0 plan can fail: against eid with `private_key_jwt` clients that are not held to
/// the FAPI 2.0 profile (no PAR requirement, bearer tokens allowed, any audience), the modules
/// that check those fail, and the plain flow still passes. (A request object is the whole
/// request for every client, RFC 9101 §6.3: that module passes for them too.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fapi_plan_fails_a_client_not_held_to_fapi() -> anyhow::Result<()> {
    let server = TestServer::start_with(
        Backend::Sqlite,
        TestOptions {
            registry_in_process: true,
            residents: 1,
            ..TestOptions::default()
        },
    )
    .await?;
    let clients = vec![key_client(&server, "Not FAPI", ClientProfile::Oidc).await?];
    let suite = suite(&server, clients).await?;
    let plan = plans::all()
        .into_iter()
        .find(|p| p.name == "fapi2-security-profile")
        .expect("the FAPI 2.0 plan");
    let failing = [
        "fapi2-security-profile-final-ensure-holder-of-key-required",
        "fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails",
        "fapi2-security-profile-final-par-test-array-as-audience-fails",
        "fapi2-security-profile-final-par-test-par-endpoint-url-as-audience-fails",
        "fapi2-security-profile-final-par-test-token-endpoint-url-as-audience-fails",
        "fapi2-security-profile-final-refresh-token",
    ];
    let passing = [
        "fapi2-security-profile-final-happy-flow",
        "fapi2-security-profile-final-state-only-outside-request-object-not-used",
    ];
    let only: Vec<String> = failing
        .iter()
        .chain(passing.iter())
        .map(|m| (*m).to_owned())
        .collect();
    let report = suite.run(&plan, &only).await;
    print!("{}", report::text(&report));
    for module in &report.modules {
        let expected = if failing.contains(&module.id.as_str()) {
            Verdict::Failed
        } else {
            Verdict::Passed
        };
        assert_eq!(module.verdict, expected, "{}", module.id);
    }
    assert_eq!(report.modules.len(), only.len());
    server.stop().await;
    Ok(())
}
