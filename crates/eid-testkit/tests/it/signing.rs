//! Document signing's PKI: the hierarchy `pki init` sets up, a `plus` citizen's signing
//! certificate issued on first use, and detached CAdES signatures that `openssl cms -verify`
//! accepts against the root; refusals for accounts that may not sign. On SQLite and
//! PostgreSQL.

use std::path::Path;
use std::process::Command;

use eid_core::custody::Custody;
use eid_core::ids::CitizenId;
use eid_core::pki::cms::DigestAlg;
use eid_core::pki::{pem, CertKind};
use eid_core::store::{AccountStore, KeyPurpose, KeyStore, PkiStore};
use eid_testkit::{Backend, TestServer};

use crate::support::*;

/// Runs openssl; returns (success, stdout + stderr).
fn openssl(args: &[&str], dir: &Path) -> anyhow::Result<(bool, String)> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// `openssl cms -verify` of a detached signature over `content`, against the root.
fn cms_verify(dir: &Path, signature: &str, content: &str) -> anyhow::Result<(bool, String)> {
    openssl(
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            signature,
            "-content",
            content,
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        dir,
    )
}

async fn citizen_of(
    server: &TestServer,
    wallet: &mut eid_wallet::Wallet,
) -> anyhow::Result<CitizenId> {
    let reference = wallet.account().await?.reference;
    let db = server.database();
    Ok(db
        .citizen_by_reference(&reference)?
        .ok_or_else(|| anyhow::anyhow!("no account {reference}"))?
        .citizen_id)
}

async fn pki_signs_for_plus_citizens(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    signs_for_plus_citizens(&server).await?;
    server.stop().await;
    Ok(())
}

/// The same with every key in a PKCS#11 token (SoftHSM2): the token keys, the connector key,
/// the CAs', the OCSP responder's, the time-stamping unit's and the citizen's.
async fn pki_signs_with_keys_in_softhsm(backend: Backend) -> anyhow::Result<()> {
    // SoftHSM2 is a Debian package (`softhsm2`); without it the test is skipped, unless
    // EID_REQUIRE_SOFTHSM=1 (CI sets it) makes that a failure.
    if let Err(e) = eid_hsm::softhsm::module_path() {
        if std::env::var("EID_REQUIRE_SOFTHSM").is_ok_and(|v| v == "1" || v == "true") {
            return Err(e.into());
        }
        eprintln!("skipped: {e}");
        return Ok(());
    }
    let mut options = with_registry();
    options.pkcs11 = Some(eid_hsm::softhsm::test_token()?);
    let server = TestServer::start_with(backend, options).await?;
    signs_for_plus_citizens(&server).await?;
    let db = server.database();
    for purpose in [
        KeyPurpose::Token,
        KeyPurpose::Connector,
        KeyPurpose::Ca,
        KeyPurpose::Signer,
    ] {
        let keys = db.signing_keys(purpose)?;
        assert!(!keys.is_empty(), "{purpose:?}");
        assert!(
            keys.iter().all(|k| k.custody == Custody::Pkcs11),
            "{purpose:?} keys are in the token"
        );
    }
    // ID tokens are signed in the token too.
    let rp = Rp::register(&server, "Example Bank", eid_core::keys::JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 2).await?;
    login(&server, &rp, &Browser::new(), &mut wallet).await?;
    server.stop().await;
    Ok(())
}

async fn signs_for_plus_citizens(server: &TestServer) -> anyhow::Result<()> {
    let provider = server.provider();
    let now = eid_server::now();

    // Before `pki init`, signing is unavailable, not a failure.
    let (mut plus, _officer) = plus_wallet(server, 0).await?;
    let citizen = citizen_of(server, &mut plus).await?;
    let digest = DigestAlg::Sha256.digest(b"tenancy agreement");
    let p = provider.clone();
    let c = citizen.clone();
    let before = tokio::task::spawn_blocking(move || p.signer(&c, now).map(|_| ())).await?;
    assert!(
        matches!(before, Err(eid_core::Error::Unavailable(_))),
        "{before:?}"
    );

    let p = provider.clone();
    let hierarchy = tokio::task::spawn_blocking(move || p.pki_init(now)).await??;
    let kinds: Vec<CertKind> = hierarchy.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            CertKind::Root,
            CertKind::Issuing,
            CertKind::Ocsp,
            CertKind::Tsa
        ]
    );
    let p = provider.clone();
    assert!(
        tokio::task::spawn_blocking(move || p.pki_init(now))
            .await?
            .is_err(),
        "set up once"
    );

    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("root.pem"), pem(&hierarchy[0].der))?;
    std::fs::write(dir.path().join("issuing.pem"), pem(&hierarchy[1].der))?;
    std::fs::write(dir.path().join("doc.txt"), b"tenancy agreement")?;
    // The issuing CA, the OCSP responder and the time-stamping unit chain to the root.
    for (name, cert) in [
        ("issuing", &hierarchy[1]),
        ("ocsp", &hierarchy[2]),
        ("tsa", &hierarchy[3]),
    ] {
        std::fs::write(dir.path().join(format!("{name}.crt.pem")), pem(&cert.der))?;
        let (ok, out) = openssl(
            &[
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "issuing.pem",
                &format!("{name}.crt.pem"),
            ],
            dir.path(),
        )?;
        assert!(ok, "{name}: {out}");
    }

    // The first signature issues the citizen's certificate; the next reuses it.
    for alg in [DigestAlg::Sha256, DigestAlg::Sha384, DigestAlg::Sha512] {
        let p = provider.clone();
        let c = citizen.clone();
        let doc_digest = alg.digest(b"tenancy agreement");
        let (cert, built) = tokio::task::spawn_blocking(move || {
            p.sign_digest(&c, alg, &doc_digest, Some(now), now)
        })
        .await??;
        std::fs::write(dir.path().join("sig.der"), built.to_der()?)?;
        let (ok, out) = cms_verify(dir.path(), "sig.der", "doc.txt")?;
        assert!(ok, "{}: {out}", alg.as_str());
        // Another document does not verify against it.
        std::fs::write(dir.path().join("other.txt"), b"another agreement")?;
        let (ok, _) = cms_verify(dir.path(), "sig.der", "other.txt")?;
        assert!(!ok, "{}: another document", alg.as_str());
        assert_eq!(cert.kind, CertKind::Signer);
    }
    let db = server.database();
    let certs = db.signer_certificates(&citizen)?;
    assert_eq!(certs.len(), 1, "one certificate, reused");

    // The certificate: non-repudiation, the policy, the name, a pseudonym, no HKID number.
    std::fs::write(dir.path().join("signer.pem"), pem(&certs[0].der))?;
    let (ok, text) = openssl(
        &["x509", "-in", "signer.pem", "-noout", "-text"],
        dir.path(),
    )?;
    assert!(ok, "{text}");
    let resident = &server.residents()[0];
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "{text}"
    );
    assert!(text.contains("X509v3 Certificate Policies"), "{text}");
    assert!(text.contains(&resident.english_name), "{text}");
    assert!(text.contains("serialNumber = EID-"), "{text}");
    assert!(
        !text.contains(&resident.hkid.replace(['(', ')'], "")[..7]),
        "{text}"
    );
    assert!(
        text.contains("/pki/issuing.crl") && text.contains("/pki/ocsp"),
        "{text}"
    );

    // After revocation a new certificate is issued, never the revoked one.
    let p = provider.clone();
    let c = citizen.clone();
    let revoked = tokio::task::spawn_blocking(move || {
        p.revoke_signing_certificates(&c, eid_core::store::RevocationReason::KeyCompromise, now)
    })
    .await??;
    assert_eq!(revoked, vec![certs[0].serial.clone()]);
    let p = provider.clone();
    let c = citizen.clone();
    let (after, _) = tokio::task::spawn_blocking(move || {
        p.sign_digest(&c, DigestAlg::Sha256, &digest, Some(now), now)
    })
    .await??;
    assert_ne!(after.serial, certs[0].serial);

    // A basic account cannot hold a signing certificate.
    let mut basic = proven_wallet(server, 1).await?;
    let basic_citizen = citizen_of(server, &mut basic).await?;
    let p = provider.clone();
    let refused =
        tokio::task::spawn_blocking(move || p.signer(&basic_citizen, now).map(|_| ())).await?;
    assert!(
        matches!(
            refused,
            Err(eid_core::Error::AccountRefused(
                eid_core::AccountRefusal::LevelTooLow { .. }
            ))
        ),
        "{refused:?}"
    );

    // The CA certificates are published.
    for (path, cert) in [
        ("/pki/root.crt", &hierarchy[0]),
        ("/pki/issuing.crt", &hierarchy[1]),
    ] {
        let response = reqwest::get(server.url(path)).await?;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"].to_str()?,
            "application/pkix-cert"
        );
        assert_eq!(response.bytes().await?.to_vec(), cert.der, "{path}");
    }
    Ok(())
}

on_every_backend!(
    the_pki_signs_for_plus_citizens_verifiably,
    pki_signs_for_plus_citizens
);
on_every_backend!(
    the_pki_signs_with_every_key_in_softhsm,
    pki_signs_with_keys_in_softhsm
);
