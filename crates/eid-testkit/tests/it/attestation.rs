//! Honest authentication methods: `amr` says `hwk` only for a key whose attestation chains to a
//! trusted root, `swk` for the reference wallet's software key; a policy can refuse software
//! keys altogether.

use eid_core::attestation::AttestationPolicy;
use eid_core::keys::JwsAlg;
use eid_testkit::attestation::TestAttestationRoot;
use eid_testkit::{Backend, TestOptions, TestServer};
use eid_wallet::Wallet;
use url::Url;

use crate::support::*;

const MODEL: [u8; 16] = *b"eid-test-phone-1";

fn amr(claims: &openidconnect::core::CoreIdTokenClaims) -> Vec<String> {
    claims
        .auth_method_refs()
        .map(|a| a.iter().map(|m| m.as_str().to_owned()).collect())
        .unwrap_or_default()
}

/// A wallet of resident `index` whose authenticator attests as `model` under `root`, proven.
async fn attested_wallet(
    server: &TestServer,
    root: &TestAttestationRoot,
    index: usize,
) -> anyhow::Result<Wallet> {
    let mut wallet =
        Wallet::in_memory().with_attestation(root.authenticator("eid test phone", MODEL)?);
    wallet
        .enrol(
            &Url::parse(&server.issuer())?,
            &application(&server.residents()[index]),
        )
        .await?;
    let resident = server.residents()[index].clone();
    wallet.set_capture_signer(Some(server.capture_signer(&resident)?));
    wallet.prove(&evidence(server, &resident)?).await?;
    Ok(wallet)
}

async fn hardware_and_software_keys(backend: Backend) -> anyhow::Result<()> {
    let root = TestAttestationRoot::generate()?;
    let stranger = TestAttestationRoot::generate()?;
    let server = TestServer::start_with(
        backend,
        TestOptions {
            attestation: AttestationPolicy {
                roots: Some(AttestationPolicy::roots_from_pem(&root.pem())?),
                ..AttestationPolicy::default()
            },
            ..with_registry()
        },
    )
    .await?;
    let rp = Rp::register(&server, "Bank", JwsAlg::Es256).await?;
    let browser = Browser::new();

    // The attested authenticator: a hardware key, which verified its user.
    let mut hardware = attested_wallet(&server, &root, 0).await?;
    let (_, claims) = login(&server, &rp, &browser, &mut hardware).await?;
    assert_eq!(amr(&claims), ["hwk", "user", "mfa"]);
    let devices = hardware.devices().await?;
    assert_eq!(devices[0].key, "hardware");

    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    // The reference wallet: a software key, and it says so.
    let mut software = proven_wallet(&server, 1).await?;
    let (_, claims) = login(&server, &rp, &browser, &mut software).await?;
    assert_eq!(amr(&claims), ["swk"]);
    assert_eq!(software.devices().await?[0].key, "software");

    // Another citizen, in a browser without a session.
    let browser = Browser::new();
    // A chain to a root the server does not trust proves nothing more than no chain.
    let mut unknown = attested_wallet(&server, &stranger, 2).await?;
    let (_, claims) = login(&server, &rp, &browser, &mut unknown).await?;
    assert_eq!(amr(&claims), ["swk"]);
    server.stop().await;
    Ok(())
}

async fn hardware_keys_only(backend: Backend) -> anyhow::Result<()> {
    let root = TestAttestationRoot::generate()?;
    let server = TestServer::start_with(
        backend,
        TestOptions {
            attestation: AttestationPolicy {
                roots: Some(AttestationPolicy::roots_from_pem(&root.pem())?),
                accept_software_keys: false,
                ..AttestationPolicy::default()
            },
            ..with_registry()
        },
    )
    .await?;
    // The registration options ask for attestation.
    let mut software = Wallet::in_memory();
    let err = unchanged!(
        server,
        software
            .enrol(
                &Url::parse(&server.issuer())?,
                &application(&server.residents()[0])
            )
            .await
            .expect_err("software keys are refused")
    );
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("device-refused"),
        "{err}"
    );
    let rp = Rp::register(&server, "Bank", JwsAlg::Rs256).await?;
    let mut hardware = attested_wallet(&server, &root, 1).await?;
    let (_, claims) = login(&server, &rp, &Browser::new(), &mut hardware).await?;
    assert_eq!(amr(&claims), ["hwk", "user", "mfa"]);
    server.stop().await;
    Ok(())
}

on_every_backend!(
    amr_tells_hardware_from_software_keys,
    hardware_and_software_keys
);
on_every_backend!(a_policy_can_take_hardware_keys_only, hardware_keys_only);
