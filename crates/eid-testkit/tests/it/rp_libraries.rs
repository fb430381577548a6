//! Relying parties in other languages complete a login against eid with their libraries'
//! default settings: Python's Authlib and pyoidc, Node's openid-client (the examples in
//! `examples/rp-*`, run as processes), and Authlib as a FAPI 2.0 client (PAR, DPoP,
//! private_key_jwt). A library that is not installed skips its test, unless
//! `EID_REQUIRE_RP_LIBRARIES=1` (CI sets it) makes that a failure.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use eid_core::clients::ClientRegistration;
use eid_core::keys::JwsAlg;
use eid_core::store::{ClientProfile, TokenAuthMethod};
use eid_testkit::Backend;
use tokio::io::AsyncBufReadExt as _;
use url::Url;

use crate::support::*;

/// A relying-party example: how to run it, and how to tell whether its library is installed.
struct Library {
    name: &'static str,
    program: &'static str,
    /// Relative to `examples/`.
    script: &'static str,
    /// Arguments to `program` that succeed only if the library is installed.
    probe: &'static [&'static str],
}

const LIBRARIES: [Library; 4] = [
    Library {
        name: "authlib",
        program: "python3",
        script: "rp-python-authlib/app.py",
        probe: &["-c", "import authlib, joserfc, requests"],
    },
    Library {
        name: "pyoidc",
        program: "python3",
        script: "rp-python-pyoidc/app.py",
        probe: &["-c", "import oic"],
    },
    Library {
        name: "openid-client",
        program: "node",
        script: "rp-node-openid-client/app.mjs",
        probe: &["--input-type=module", "-e", "await import('openid-client')"],
    },
    Library {
        name: "authlib (FAPI 2.0)",
        program: "python3",
        script: "rp-python-authlib/fapi.py",
        probe: &["-c", "import authlib, joserfc, requests"],
    },
];

/// How the relying party is registered, and so what it is told.
enum Registration {
    /// The command line's default: a secret, RS256 ID tokens.
    Secret,
    /// A FAPI 2.0 client: private_key_jwt with a P-256 key it reads from a JWK file, ES256 ID
    /// tokens, PAR and DPoP.
    Fapi2,
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn required() -> bool {
    std::env::var("EID_REQUIRE_RP_LIBRARIES").is_ok_and(|v| v == "1" || v == "true")
}

/// Whether the library can run here (its directory is the working directory, for Node's
/// `node_modules`).
async fn installed(library: &Library) -> bool {
    let dir = examples().join(library.script);
    let dir = dir.parent().map(PathBuf::from).unwrap_or_else(examples);
    tokio::process::Command::new(library.program)
        .args(library.probe)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn login_with(
    backend: Backend,
    library: &Library,
    registration: Registration,
) -> anyhow::Result<()> {
    if !installed(library).await {
        if required() {
            bail!(
                "{} is not installed ({} {:?} fails) and EID_REQUIRE_RP_LIBRARIES is set",
                library.name,
                library.program,
                library.probe
            );
        }
        eprintln!("{} is not installed: skipped", library.name);
        return Ok(());
    }
    let server = start(backend).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let redirect_uri = format!("http://localhost:{port}/callback");
    // `--name=value`: a generated secret may begin with `-`, which a parser would otherwise
    // read as the next option (node's parseArgs and argparse both refuse it).
    let key_file = tempfile::NamedTempFile::new()?;
    let (client_id, credential) = match registration {
        Registration::Secret => {
            // The default the command line gives a new client: RS256 ID tokens.
            let (client_id, secret) = server
                .add_client(library.name, &redirect_uri, JwsAlg::Rs256)
                .await?;
            (client_id, format!("--client-secret={secret}"))
        }
        Registration::Fapi2 => {
            let key = p256::ecdsa::SigningKey::from_slice(&eid_core::crypto::random_bytes::<32>())?;
            let public = eid_core::jose::es256_jwk("k1", key.verifying_key());
            let mut private = serde_json::to_value(&public)?;
            private["d"] = eid_core::crypto::b64url(&key.to_bytes()).into();
            std::fs::write(key_file.path(), private.to_string())?;
            let mut client = ClientRegistration::new(
                library.name,
                std::slice::from_ref(&redirect_uri),
                JwsAlg::Es256,
            );
            client.auth_method = TokenAuthMethod::PrivateKeyJwt;
            client.jwks = Some(serde_json::json!({ "keys": [public] }));
            client.profile = ClientProfile::Fapi2;
            let client_id = server
                .register_client(client)
                .await?
                .client
                .client_id
                .into_string();
            (client_id, format!("--key={}", key_file.path().display()))
        }
    };
    let script = examples().join(library.script);
    let mut child = tokio::process::Command::new(library.program)
        .arg(&script)
        .arg(format!("--issuer={}", server.issuer()))
        .arg(format!("--client-id={client_id}"))
        .arg(credential)
        .arg(format!("--port={port}"))
        .current_dir(script.parent().context("the script's directory")?)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", library.name))?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .with_context(|| format!("{} did not start", library.name))??
        .with_context(|| format!("{} exited before listening", library.name))?;
    anyhow::ensure!(
        first.starts_with("listening on"),
        "{}: {first}",
        library.name
    );

    // The citizen clicks "Log in with eid" at the service, approves on the phone, continues.
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let login = browser
        .http
        .get(format!("http://localhost:{port}/login"))
        .send()
        .await?;
    anyhow::ensure!(
        login.status().is_redirection(),
        "{}: /login answered {}",
        library.name,
        login.status()
    );
    let authorize = Url::parse(&location(&login)?)?;
    let page = browser.open_login(&server, &authorize).await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let answer = browser.http.get(callback.url.clone()).send().await?;
    let status = answer.status();
    let body = answer.text().await?;
    anyhow::ensure!(
        status == 200,
        "{}: the callback answered {status}: {body}",
        library.name
    );
    let result: serde_json::Value = serde_json::from_str(&body)?;
    let resident = &server.residents()[0];
    assert!(
        result["sub"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert_eq!(result["acr"], "urn:eid:loa:basic", "{body}");
    if let Registration::Fapi2 = registration {
        assert_eq!(result["profile"], "fapi2", "{body}");
        assert_eq!(result["token_type"], "DPoP", "{body}");
        assert_eq!(result["alg"], "ES256", "{body}");
    }
    assert_eq!(result["amr"], serde_json::json!(["swk"]), "{body}");
    assert_eq!(
        result["userinfo"]["name"].as_str(),
        Some(resident.english_name.as_str()),
        "{body}"
    );
    assert_eq!(result["userinfo"]["sub"], result["sub"], "{body}");
    let _ = child.kill().await;
    server.stop().await;
    Ok(())
}

async fn authlib(backend: Backend) -> anyhow::Result<()> {
    login_with(backend, &LIBRARIES[0], Registration::Secret).await
}

async fn pyoidc(backend: Backend) -> anyhow::Result<()> {
    login_with(backend, &LIBRARIES[1], Registration::Secret).await
}

async fn openid_client(backend: Backend) -> anyhow::Result<()> {
    login_with(backend, &LIBRARIES[2], Registration::Secret).await
}

/// PAR, DPoP and private_key_jwt from Python (the `openidconnect` crate's is in `dpop.rs`).
async fn authlib_fapi2(backend: Backend) -> anyhow::Result<()> {
    login_with(backend, &LIBRARIES[3], Registration::Fapi2).await
}

on_every_backend!(python_authlib_logs_in, authlib);
on_every_backend!(python_pyoidc_logs_in, pyoidc);
on_every_backend!(node_openid_client_logs_in, openid_client);
on_every_backend!(python_authlib_fapi2_login, authlib_fapi2);
