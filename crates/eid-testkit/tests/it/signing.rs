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
use eid_core::store::{AccountStore, KeyPurpose, KeyStore, PkiStore, SigningStore};
use eid_core::time::UnixTime;
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
    let Some(options) = softhsm_options()? else {
        return Ok(());
    };
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

/// Options for a server whose every key is in SoftHSM2; `None` (skipped) where SoftHSM2 is
/// not installed (Debian's `softhsm2`), unless EID_REQUIRE_SOFTHSM=1 (CI sets it) makes that a
/// failure.
fn softhsm_options() -> anyhow::Result<Option<eid_testkit::TestOptions>> {
    if let Err(e) = eid_hsm::softhsm::module_path() {
        if std::env::var("EID_REQUIRE_SOFTHSM").is_ok_and(|v| v == "1" || v == "true") {
            return Err(e.into());
        }
        eprintln!("skipped: {e}");
        return Ok(None);
    }
    let mut options = with_registry();
    options.pkcs11 = Some(eid_hsm::softhsm::test_token()?);
    Ok(Some(options))
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

/// A relying party allowed to ask for signatures, and a `plus` citizen who logged in to it
/// allowing the `sign` scope: the access token it asks with.
struct SigningSetup {
    rp: Rp,
    wallet: eid_wallet::Wallet,
    access_token: String,
    dir: tempfile::TempDir,
}

/// The scope a service that asks for signatures logs in with.
const SIGN_SCOPE: &[(&str, &str)] = &[("scope", "openid profile sign")];

/// A login at `rp` asking for the `sign` scope (the phone allows everything offered).
async fn sign_login(
    server: &TestServer,
    rp: &Rp,
    browser: &Browser,
    wallet: &mut eid_wallet::Wallet,
) -> anyhow::Result<(String, String)> {
    use openidconnect::OAuth2TokenResponse as _;
    let (tokens, _) = login_with(server, rp, browser, wallet, SIGN_SCOPE).await?;
    let id_token = openidconnect::TokenResponse::id_token(&tokens)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok((tokens.access_token().secret().clone(), id_token))
}

/// The verification code of a created request.
fn code_of(created: &serde_json::Value) -> String {
    created["verification_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn signing_setup(server: &TestServer, index: usize) -> anyhow::Result<SigningSetup> {
    let provider = server.provider();
    let now = eid_server::now();
    tokio::task::spawn_blocking(move || provider.pki_init(now)).await??;
    let mut registration = eid_core::clients::ClientRegistration::new(
        "Lands Department",
        &[REDIRECT_URI.to_owned()],
        eid_core::keys::JwsAlg::Rs256,
    );
    registration.signing = true;
    let new = server.register_client(registration).await?;
    let rp = Rp::discover(
        server,
        new.client.client_id.into_string(),
        Some(new.client_secret),
        eid_core::keys::JwsAlg::Rs256,
    )
    .await?;
    let (mut wallet, _officer) = plus_wallet(server, index).await?;
    let (access_token, _) = sign_login(server, &rp, &Browser::new(), &mut wallet).await?;
    let dir = tempfile::tempdir()?;
    let authority = server.provider().authority()?;
    std::fs::write(dir.path().join("root.pem"), pem(&authority.root.der))?;
    std::fs::write(
        dir.path().join("issuing.pem"),
        pem(&authority.issuing.certificate.der),
    )?;
    Ok(SigningSetup {
        rp,
        wallet,
        access_token,
        dir,
    })
}

/// A client-authenticated form to the signing API; (status, JSON body).
async fn rp_post(
    server: &TestServer,
    rp: &Rp,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(form)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The document-signing journey over HTTP: the service asks, the phone shows the code and
/// approves, the service fetches a CAdES signature with a time stamp that openssl verifies.
async fn a_citizen_signs_for_a_service(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    signing_journey(&server).await?;
    server.stop().await;
    Ok(())
}

/// The same journey with every key (the CAs', the OCSP responder's, the time-stamping unit's,
/// the citizen's, the token keys) in SoftHSM2.
async fn a_citizen_signs_with_keys_in_softhsm(backend: Backend) -> anyhow::Result<()> {
    let Some(options) = softhsm_options()? else {
        return Ok(());
    };
    let pkcs11 = options.pkcs11.clone().expect("a token");
    let server = TestServer::start_with(backend, options).await?;
    signing_journey(&server).await?;
    let db = server.database();
    let signer_keys = db.signing_keys(KeyPurpose::Signer)?;
    assert!(!signer_keys.is_empty());
    assert!(signer_keys.iter().all(|k| k.custody == Custody::Pkcs11));

    // Security review 2026-12-07, L7: revoking the certificates destroys their keys in the
    // token (C_DestroyObject), not only their records.
    let token = eid_hsm::Pkcs11Custody::open(&pkcs11)?;
    let open = |key: &eid_core::store::SigningKeyRecord| {
        use eid_core::custody::KeyCustody as _;
        let alg = eid_core::keys::JwsAlg::parse(&key.alg).expect("an alg");
        token.open(alg, &key.kid, &key.private_key).map(|_| ())
    };
    for key in &signer_keys {
        open(key)?;
    }
    let citizens: std::collections::BTreeSet<CitizenId> = db
        .certificates(CertKind::Signer)?
        .into_iter()
        .filter_map(|c| c.citizen_id)
        .collect();
    let provider = server.provider();
    let now = eid_server::now();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for citizen in &citizens {
            provider.revoke_signing_certificates(
                citizen,
                eid_core::store::RevocationReason::CessationOfOperation,
                now,
            )?;
        }
        Ok(())
    })
    .await??;
    assert!(db.signing_keys(KeyPurpose::Signer)?.is_empty());
    for key in &signer_keys {
        assert!(open(key).is_err(), "{} is still in the token", key.kid);
    }
    server.stop().await;
    Ok(())
}

/// Security review 2026-12-07, L7: removing a device of a `plus` signer revokes the signing
/// certificate, and its key (software custody: the sealed row) is destroyed, audited as
/// `key.destroyed`; the revoked certificate stays for the CRL and OCSP, and the next signature
/// gets a new key.
async fn revoked_signing_keys_are_destroyed(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let provider = server.provider();
    let now = eid_server::now();
    tokio::task::spawn_blocking(move || provider.pki_init(now)).await??;
    let (mut phone, _officer) = plus_wallet(&server, 0).await?;
    let citizen = citizen_of(&server, &mut phone).await?;
    let provider = server.provider();
    let c = citizen.clone();
    let digest = DigestAlg::Sha256.digest(b"lease");
    let d = digest.clone();
    let (certificate, _) = tokio::task::spawn_blocking(move || {
        provider.sign_digest(&c, DigestAlg::Sha256, &d, None, now)
    })
    .await??;
    let db = server.database();
    let key = db.signing_key(&certificate.kid)?.expect("the signer's key");
    assert_eq!(key.custody, Custody::Sealed);

    // A second device joins; the phone removes it (over HTTP, as the wallet does).
    let issuer = url::Url::parse(&server.issuer())?;
    let link = phone.create_device_link().await?;
    let mut tablet = eid_wallet::Wallet::in_memory();
    let bound = tablet.link(&issuer, &link.code, "Tablet").await?;
    phone.remove_device(&bound.device_id).await?;

    assert_eq!(db.signing_key(&key.kid)?, None, "the key row is gone");
    let revoked = db.certificate(&certificate.serial)?.expect("kept");
    assert!(revoked.revoked_at.is_some(), "and its certificate revoked");
    let provider = server.provider();
    let trail =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    let destroyed: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "key.destroyed")
        .collect();
    assert_eq!(destroyed.len(), 1);
    assert_eq!(
        destroyed[0].detail.certificate_serial.as_deref(),
        Some(certificate.serial.as_str())
    );
    assert_eq!(destroyed[0].citizen_id.as_deref(), Some(citizen.as_str()));
    assert!(destroyed[0]
        .detail
        .changes
        .contains(&format!("kid: {}", key.kid)));
    // The status services still answer for it; the next signature has a new key.
    let crl = reqwest::get(server.url("/pki/issuing.crl")).await?;
    assert_eq!(crl.status(), 200);
    let provider = server.provider();
    let c = citizen.clone();
    let (next, _) = tokio::task::spawn_blocking(move || {
        provider.sign_digest(&c, DigestAlg::Sha256, &digest, None, now)
    })
    .await??;
    assert_ne!(next.kid, key.kid);
    // Nothing is left for the janitor.
    let provider = server.provider();
    let later = now + 1;
    tokio::task::spawn_blocking(move || provider.purge_expired(later)).await??;
    assert_eq!(db.signing_key(&next.kid)?.map(|k| k.kid), Some(next.kid));
    server.stop().await;
    Ok(())
}
on_every_backend!(
    revoked_signing_keys_are_destroyed_in_custody,
    revoked_signing_keys_are_destroyed
);

async fn signing_journey(server: &TestServer) -> anyhow::Result<()> {
    let SigningSetup {
        rp,
        mut wallet,
        access_token,
        dir,
        ..
    } = signing_setup(server, 0).await?;
    let document = b"Tenancy agreement: Flat 1, 2 Garden Road, HK$18,000 a month";
    std::fs::write(dir.path().join("doc.txt"), document)?;
    let hash = b64url(&DigestAlg::Sha256.digest(document));
    let (status, created) = rp_post(
        server,
        &rp,
        "/signing/requests",
        &[
            ("access_token", &access_token),
            ("document_name", "Tenancy agreement"),
            ("hash", &hash),
            ("hash_alg", "SHA-256"),
        ],
    )
    .await?;
    assert_eq!(status, 201, "{created}");
    let request_id = created["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = code_of(&created);
    assert_eq!(code.len(), 4);

    // Until the citizen answers, the service is told to wait.
    let (status, pending) = rp_post(
        server,
        &rp,
        "/signing/result",
        &[("request_id", &request_id)],
    )
    .await?;
    assert_eq!(
        (status, pending["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    // The phone shows the service, the document and three codes, the service's among them,
    // the same three in the same order at every fetch.
    let list = wallet.signing_requests().await?;
    assert_eq!(list.requests.len(), 1);
    let shown = &list.requests[0];
    assert_eq!(shown.request_id, request_id);
    assert_eq!(shown.service.name, "Lands Department");
    assert_eq!(shown.document_name, "Tenancy agreement");
    assert_eq!(shown.verification_codes.len(), 3);
    assert!(shown.verification_codes.contains(&code), "{shown:?}");
    let distinct: std::collections::BTreeSet<_> = shown.verification_codes.iter().collect();
    assert_eq!(distinct.len(), 3);
    assert!(!shown.pdf);
    assert_eq!(shown.hash, hash);
    let again = wallet.signing_requests().await?;
    assert_eq!(
        again.requests[0].verification_codes,
        shown.verification_codes
    );
    // A digest has no document to show.
    assert!(wallet.signing_document(shown).await.is_err());

    // An approval that names another document is refused, and changes nothing.
    let mut tampered = shown.clone();
    tampered.hash = b64url(&DigestAlg::Sha256.digest(b"another agreement"));
    let refused = unchanged!(server, wallet.approve_signing(&tampered, &code).await);
    assert!(refused.is_err(), "{refused:?}");

    let submission = wallet.sign_signing_decision(
        shown,
        &eid_proto::signing::SigningDecision {
            request_id: request_id.clone(),
            answer: "approve".into(),
            hash_alg: shown.hash_alg.clone(),
            hash: shown.hash.clone(),
            code: Some(code.clone()),
        },
    )?;
    let answered = wallet.post_signing_answer(&request_id, &submission).await?;
    assert_eq!(answered.status, "signed");
    // The same approval again is refused: the request is used.
    let replayed = unchanged!(
        server,
        wallet.post_signing_answer(&request_id, &submission).await
    );
    assert!(replayed.is_err(), "replayed: {replayed:?}");
    assert!(wallet.signing_requests().await?.requests.is_empty());

    let (status, result) = rp_post(
        server,
        &rp,
        "/signing/result",
        &[("request_id", &request_id)],
    )
    .await?;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], "signed");
    assert_eq!(result["time_stamped"], true);
    let signature = unb64(result["signature"].as_str().unwrap_or_default())?;
    std::fs::write(dir.path().join("sig.der"), &signature)?;
    let (ok, out) = cms_verify(dir.path(), "sig.der", "doc.txt")?;
    assert!(ok, "{out}");

    // The signature time stamp verifies with openssl ts against the root.
    let eid_core::pki::cms::EmbeddedTimeStamp {
        token,
        signature_value: value,
    } = eid_core::pki::cms::embedded_time_stamp(&signature)?
        .ok_or_else(|| anyhow::anyhow!("no time stamp"))?;
    std::fs::write(dir.path().join("token.der"), &token)?;
    let digest: String = DigestAlg::Sha256
        .digest(&value)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (ok, out) = openssl(
        &[
            "ts",
            "-verify",
            "-token_in",
            "-in",
            "token.der",
            "-digest",
            &digest,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ],
        dir.path(),
    )?;
    assert!(ok && out.contains("Verification: OK"), "{out}");

    // The time-stamping unit also answers services directly (RFC 3161 over HTTP).
    let (ok, out) = openssl(
        &[
            "ts", "-query", "-data", "doc.txt", "-sha256", "-cert", "-out", "req.tsq",
        ],
        dir.path(),
    )?;
    assert!(ok, "{out}");
    let reply = reqwest::Client::new()
        .post(server.url("/pki/tsa"))
        .header("content-type", "application/timestamp-query")
        .body(std::fs::read(dir.path().join("req.tsq"))?)
        .send()
        .await?;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"],
        "application/timestamp-reply"
    );
    std::fs::write(dir.path().join("resp.tsr"), reply.bytes().await?)?;
    let (ok, out) = openssl(
        &[
            "ts",
            "-verify",
            "-queryfile",
            "req.tsq",
            "-in",
            "resp.tsr",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ],
        dir.path(),
    )?;
    assert!(ok && out.contains("Verification: OK"), "{out}");
    // A request that is not one gets a rejection in RFC 3161's form.
    let reply = reqwest::Client::new()
        .post(server.url("/pki/tsa"))
        .header("content-type", "application/timestamp-query")
        .body(b"not a request".to_vec())
        .send()
        .await?;
    assert_eq!(reply.status(), 200);
    std::fs::write(dir.path().join("bad.tsr"), reply.bytes().await?)?;
    let (ok, out) = openssl(&["ts", "-reply", "-in", "bad.tsr", "-text"], dir.path())?;
    assert!(ok && out.contains("Rejected"), "{out}");

    // eid's own verifier (`eid-server verify`) agrees, and refuses another document.
    let p = server.provider();
    let (sig, doc) = (signature.clone(), document.to_vec());
    let verified = tokio::task::spawn_blocking(move || {
        p.verify_signature(&sig, &|alg| alg.digest(&doc), eid_server::now())
    })
    .await??;
    assert!(verified.time_stamp.is_some() && verified.claimed_time.is_some());
    assert_eq!(
        verified.status,
        eid_core::pki::verify::StatusAtSigning::Good {
            revoked_since: None
        }
    );
    let p = server.provider();
    let sig = signature.clone();
    let other = tokio::task::spawn_blocking(move || {
        p.verify_signature(&sig, &|alg| alg.digest(b"another"), eid_server::now())
    })
    .await?;
    assert!(other.is_err(), "{other:?}");

    // Certificate status: OCSP says good, the CRL does not list it; after revocation OCSP
    // says revoked, the CRL lists it, and openssl's CRL check refuses the certificate.
    let signer = unb64(result["certificate"].as_str().unwrap_or_default())?;
    let serial = result["certificate_serial"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    std::fs::write(dir.path().join("signer.pem"), pem(&signer))?;
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(dir.path().join("root.pem"))?,
        std::fs::read_to_string(dir.path().join("issuing.pem"))?
    );
    std::fs::write(dir.path().join("chain.pem"), chain)?;
    let ocsp_url = server.url("/pki/ocsp");
    let ocsp = |dir: &Path| {
        openssl(
            &[
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "signer.pem",
                "-url",
                &ocsp_url,
                "-CAfile",
                "root.pem",
                "-verify_other",
                "issuing.pem",
            ],
            dir,
        )
    };
    let (ok, out) = ocsp(dir.path())?;
    assert!(
        ok && out.contains("signer.pem: good") && out.contains("Response verify OK"),
        "{out}"
    );
    let crl_url = server.url("/pki/issuing.crl");
    let crl = |dir: &Path, der: Vec<u8>| -> anyhow::Result<String> {
        std::fs::write(dir.join("crl.der"), der)?;
        let (ok, out) = openssl(
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                "crl.der",
                "-CAfile",
                "chain.pem",
                "-text",
                "-out",
                "crl.pem",
            ],
            dir,
        )?;
        assert!(ok && out.contains("verify OK"), "{out}");
        Ok(std::fs::read_to_string(dir.join("crl.pem"))?)
    };
    let crl_der = reqwest::get(&crl_url).await?.bytes().await?.to_vec();
    let listed = crl(dir.path(), crl_der)?;
    assert!(listed.contains("Next Update"), "{listed}");
    assert!(!listed.to_lowercase().contains(&serial), "{listed}");
    let (ok, out) = openssl(
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "-CAfile",
            "chain.pem",
            "signer.pem",
        ],
        dir.path(),
    )?;
    assert!(ok, "{out}");

    let p = server.provider();
    let s = serial.clone();
    tokio::task::spawn_blocking(move || {
        // Revoked after the signature (a second on: a revocation in the very second of
        // signing counts as before it).
        p.revoke_certificate(
            &s,
            eid_core::store::RevocationReason::KeyCompromise,
            eid_server::now() + 1,
        )
    })
    .await??;
    let (ok, out) = ocsp(dir.path())?;
    assert!(
        ok && out.contains("signer.pem: revoked") && out.contains("keyCompromise"),
        "{out}"
    );
    let crl_der = reqwest::get(&crl_url).await?.bytes().await?.to_vec();
    let listed = crl(dir.path(), crl_der)?;
    let hex_serial: String = serial.to_uppercase();
    assert!(listed.contains(&hex_serial), "{listed}");
    let (ok, out) = openssl(
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "-CAfile",
            "chain.pem",
            "signer.pem",
        ],
        dir.path(),
    )?;
    assert!(!ok && out.contains("revoked"), "{out}");
    // OCSP GET (base64 in the path) and a malformed request, answered in OCSP's form.
    let (ok, out) = openssl(
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "signer.pem",
            "-reqout",
            "req.der",
            "-no_nonce",
        ],
        dir.path(),
    )?;
    assert!(ok, "{out}");
    let request = b64(&std::fs::read(dir.path().join("req.der"))?);
    let encoded: String = url::form_urlencoded::byte_serialize(request.as_bytes()).collect();
    let got = reqwest::get(server.url(&format!("/pki/ocsp/{encoded}"))).await?;
    assert_eq!(got.headers()["content-type"], "application/ocsp-response");
    std::fs::write(dir.path().join("get.der"), got.bytes().await?)?;
    let (ok, out) = openssl(
        &[
            "ocsp",
            "-respin",
            "get.der",
            "-issuer",
            "issuing.pem",
            "-cert",
            "signer.pem",
            "-CAfile",
            "root.pem",
            "-verify_other",
            "issuing.pem",
            "-no_nonce",
        ],
        dir.path(),
    )?;
    assert!(ok && out.contains("signer.pem: revoked"), "{out}");
    let bad = reqwest::Client::new()
        .post(server.url("/pki/ocsp"))
        .body(b"not a request".to_vec())
        .send()
        .await?;
    assert_eq!(bad.status(), 200);
    std::fs::write(dir.path().join("bad.der"), bad.bytes().await?)?;
    let (_, out) = openssl(
        &["ocsp", "-respin", "bad.der", "-resp_text", "-noverify"],
        dir.path(),
    )?;
    assert!(
        out.contains("malformedrequest") || out.contains("malformed"),
        "{out}"
    );

    // Signed before the revocation, the signature stays valid (its time is stamped).
    let p = server.provider();
    let (sig, doc) = (signature.clone(), document.to_vec());
    let verified = tokio::task::spawn_blocking(move || {
        p.verify_signature(&sig, &|alg| alg.digest(&doc), eid_server::now())
    })
    .await??;
    assert!(matches!(
        verified.status,
        eid_core::pki::verify::StatusAtSigning::Good {
            revoked_since: Some(_)
        }
    ));

    // The next signature gets a new certificate, never the revoked one.
    let (_, again) = rp_post(
        server,
        &rp,
        "/signing/requests",
        &[
            ("access_token", &access_token),
            ("document_name", "Tenancy agreement, page 2"),
            ("hash", &hash),
            ("hash_alg", "SHA-256"),
            ("time_stamp", "false"),
        ],
    )
    .await?;
    let again_id = again["request_id"].as_str().unwrap_or_default().to_owned();
    let view = wallet.signing_requests().await?.requests.remove(0);
    assert_eq!(
        wallet
            .approve_signing(&view, &code_of(&again))
            .await?
            .status,
        "signed"
    );
    let (status, second) =
        rp_post(server, &rp, "/signing/result", &[("request_id", &again_id)]).await?;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["certificate_serial"].as_str(), Some(serial.as_str()));
    assert_eq!(second["time_stamped"], false);

    // The audit trail records the signature without the document.
    let provider = server.provider();
    let trail =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    let signed = trail
        .iter()
        .find(|e| e.action == "document.signed")
        .ok_or_else(|| anyhow::anyhow!("no document.signed event"))?;
    assert_eq!(
        signed.detail.signing_request.as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(
        signed.detail.document_digest.as_deref(),
        Some(format!("SHA-256:{hash}").as_str())
    );
    assert_eq!(
        signed.detail.certificate_serial.as_deref(),
        result["certificate_serial"].as_str()
    );
    Ok(())
}

/// What the signing API refuses: a client without the sign scope, a basic account, malformed
/// requests, a declined or expired request, another request's approval, another account's
/// device, a removed device.
async fn signing_refusals(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let SigningSetup {
        rp,
        mut wallet,
        access_token,
        ..
    } = signing_setup(&server, 0).await?;
    let hash = b64url(&DigestAlg::Sha256.digest(b"a document"));
    let ask = |name: &'static str| {
        let (token, hash) = (access_token.clone(), hash.clone());
        move || -> Vec<(&'static str, String)> {
            vec![
                ("access_token", token),
                ("document_name", name.to_owned()),
                ("hash", hash),
                ("hash_alg", "SHA-256".to_owned()),
            ]
        }
    };
    let form = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
    let post = |path: &'static str, f: Vec<(&'static str, String)>| {
        let rp = &rp;
        let server = &server;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            rp_post(server, rp, path, &f).await
        }
    };

    // A client not allowed to sign.
    let other = Rp::register(&server, "Example Shop", eid_core::keys::JwsAlg::Rs256).await?;
    let f = ask("x")();
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = unchanged!(
        server,
        rp_post(&server, &other, "/signing/requests", &f).await?
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    // Wrong client credentials.
    let mut stranger = Rp::register(&server, "Stranger", eid_core::keys::JwsAlg::Rs256).await?;
    stranger.client_id = rp.client_id.clone();
    let (status, body) = unchanged!(
        server,
        rp_post(&server, &stranger, "/signing/requests", &f).await?
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );

    // Malformed requests.
    for (what, change) in [
        ("no hash", vec![("hash", String::new())]),
        ("short hash", vec![("hash", b64url(&[1u8; 20]))]),
        ("unknown alg", vec![("hash_alg", "MD5".to_owned())]),
        ("no name", vec![("document_name", String::new())]),
        ("no access token", vec![("access_token", String::new())]),
        (
            "not a pdf",
            vec![
                ("hash", String::new()),
                ("hash_alg", String::new()),
                ("pdf", b64(b"hello")),
            ],
        ),
    ] {
        let mut f = form(&ask("Doc")());
        for (k, v) in change {
            f.retain(|(key, _)| *key != k);
            if !v.is_empty() {
                f.push((k, v));
            }
        }
        let (status, body) = unchanged!(server, post("/signing/requests", f).await?);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{what}: {body}"
        );
    }

    // A basic account cannot sign: refused at once.
    let mut basic = proven_wallet(&server, 1).await?;
    let (basic_token, _) = sign_login(&server, &rp, &Browser::new(), &mut basic).await?;
    let mut f = form(&ask("Doc")());
    f.retain(|(k, _)| *k != "access_token");
    f.push(("access_token", basic_token));
    let (status, body) = unchanged!(server, post("/signing/requests", f).await?);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied")),
        "{body}"
    );

    // Declined: the service is told so.
    let (_, first) = post("/signing/requests", ask("First")()).await?;
    let (_, second) = post("/signing/requests", ask("Second")()).await?;
    let first_id = first["request_id"].as_str().unwrap_or_default().to_owned();
    let second_id = second["request_id"].as_str().unwrap_or_default().to_owned();
    let (first_code, second_code) = (code_of(&first), code_of(&second));
    let list = wallet.signing_requests().await?;
    assert_eq!(list.requests.len(), 2);
    let view = |id: &str| list.requests.iter().find(|r| r.request_id == id);
    let (Some(first_view), Some(second_view)) = (view(&first_id), view(&second_id)) else {
        panic!("both requests are listed");
    };

    // An approval of the first request cannot be used for the second.
    let approval = wallet.sign_signing_decision(
        first_view,
        &eid_proto::signing::SigningDecision {
            request_id: first_id.clone(),
            answer: "approve".into(),
            hash_alg: first_view.hash_alg.clone(),
            hash: first_view.hash.clone(),
            code: Some(first_code.clone()),
        },
    )?;
    let moved = unchanged!(
        server,
        wallet.post_signing_answer(&second_id, &approval).await
    );
    assert!(moved.is_err(), "{moved:?}");

    let declined = wallet.decline_signing(first_view).await?;
    assert_eq!(declined.status, "declined");
    let (status, body) = post("/signing/result", vec![("request_id", first_id.clone())]).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied")),
        "{body}"
    );
    // A decided request takes no other answer.
    let late = unchanged!(
        server,
        wallet.post_signing_answer(&first_id, &approval).await
    );
    assert!(late.is_err(), "{late:?}");

    // Another account's device cannot answer this citizen's request.
    let forged = basic.sign_signing_decision(
        second_view,
        &eid_proto::signing::SigningDecision {
            request_id: second_id.clone(),
            answer: "approve".into(),
            hash_alg: second_view.hash_alg.clone(),
            hash: second_view.hash.clone(),
            code: Some(second_code.clone()),
        },
    )?;
    let refused = unchanged!(server, basic.post_signing_answer(&second_id, &forged).await);
    assert!(refused.is_err(), "{refused:?}");

    // Expired: past its window neither the phone nor the service gets anything.
    let provider = server.provider();
    let later = eid_server::now() + eid_core::signing::SIGNING_WINDOW + 1;
    let submission = wallet.sign_signing_decision(
        second_view,
        &eid_proto::signing::SigningDecision {
            request_id: second_id.clone(),
            answer: "approve".into(),
            hash_alg: second_view.hash_alg.clone(),
            hash: second_view.hash.clone(),
            code: Some(second_code.clone()),
        },
    )?;
    let (id, s) = (second_id.clone(), submission.clone());
    let p = provider.clone();
    let expired =
        tokio::task::spawn_blocking(move || p.answer_signing_request(&id, &s, later)).await?;
    assert!(
        matches!(expired, Err(eid_core::Error::Gone(_))),
        "{expired:?}"
    );
    let p = provider.clone();
    let form_result = eid_core::signing::SigningResultForm {
        request: eid_proto::signing::SigningResultParams {
            request_id: second_id.clone(),
        },
        client: eid_core::oidc::client_auth::ClientAuthParams::default(),
    };
    let basic_auth = Some((rp.client_id.clone(), rp.client_secret.clone()));
    let expired =
        tokio::task::spawn_blocking(move || p.signing_result(basic_auth, &form_result, later))
            .await?;
    assert!(
        matches!(&expired, Err(eid_core::Error::OAuth(e)) if e.code == eid_core::OAuthErrorCode::ExpiredToken),
        "{expired:?}"
    );

    // A removed device cannot approve: the citizen links a tablet, then removes it.
    let issuer = url::Url::parse(&server.issuer())?;
    let link = wallet.create_device_link().await?;
    let mut tablet = eid_wallet::Wallet::in_memory();
    tablet.link(&issuer, &link.code, "Tablet").await?;
    let tablet_id = tablet.device_id().unwrap_or_default().to_owned();
    let from_tablet = tablet.sign_signing_decision(
        second_view,
        &eid_proto::signing::SigningDecision {
            request_id: second_id.clone(),
            answer: "approve".into(),
            hash_alg: second_view.hash_alg.clone(),
            hash: second_view.hash.clone(),
            code: Some(second_code.clone()),
        },
    )?;
    wallet.remove_device(&tablet_id).await?;
    let removed = unchanged!(
        server,
        tablet.post_signing_answer(&second_id, &from_tablet).await
    );
    assert!(removed.is_err(), "{removed:?}");
    // The phone still can.
    assert_eq!(
        wallet
            .post_signing_answer(&second_id, &submission)
            .await?
            .status,
        "signed"
    );

    // Removing a device revokes the account's signing certificates (keyCompromise: it may
    // have been lost); suspending the account revokes the next one (certificateHold).
    let citizen = citizen_of(&server, &mut wallet).await?;
    let db = server.database();
    let before = db.signer_certificates(&citizen)?;
    assert_eq!(before.len(), 1);
    assert!(before[0].revoked_at.is_none());
    let link = wallet.create_device_link().await?;
    let mut watch = eid_wallet::Wallet::in_memory();
    watch.link(&issuer, &link.code, "Watch").await?;
    let watch_id = watch.device_id().unwrap_or_default().to_owned();
    wallet.remove_device(&watch_id).await?;
    let after = db.signer_certificates(&citizen)?;
    assert_eq!(
        after[0].revocation_reason,
        Some(eid_core::store::RevocationReason::KeyCompromise)
    );
    let (_, third) = post("/signing/requests", ask("Third")()).await?;
    let view = wallet.signing_requests().await?.requests.remove(0);
    assert_eq!(
        view.request_id,
        third["request_id"].as_str().unwrap_or_default()
    );
    assert_eq!(
        wallet
            .approve_signing(&view, &code_of(&third))
            .await?
            .status,
        "signed"
    );
    let reference = wallet.account().await?.reference;
    let p = server.provider();
    tokio::task::spawn_blocking(move || {
        p.suspend_account(
            &eid_core::admin::AccountSelector::Reference(reference),
            eid_core::admin::AdminReason::SuspectedCompromise,
            eid_server::now(),
        )
    })
    .await??;
    let all = db.signer_certificates(&citizen)?;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|c| c.revoked_at.is_some()), "{all:?}");
    let newer = all
        .iter()
        .find(|c| c.serial != before[0].serial)
        .ok_or_else(|| anyhow::anyhow!("a second certificate"))?;
    assert_eq!(
        newer.revocation_reason,
        Some(eid_core::store::RevocationReason::CertificateHold)
    );
    server.stop().await;
    Ok(())
}

/// Review 2026-12-07, L1: a service asks for a signature only with the access token of the
/// citizen's login at it whose scope includes `sign`, and the citizen's ending that login ends
/// its asking: refused without a token, with a token lacking `sign` (a client not allowed to
/// sign never gets it, a refresh never renews it), with another client's token, after
/// revocation, after the consent is withdrawn, after RP-initiated logout and after the citizen
/// signs out from the wallet. Every refusal is an OAuth error and changes nothing stored.
async fn signing_needs_a_live_sign_scoped_login(backend: Backend) -> anyhow::Result<()> {
    use openidconnect::OAuth2TokenResponse as _;
    let server = start(backend).await?;
    let SigningSetup {
        rp,
        mut wallet,
        access_token,
        ..
    } = signing_setup(&server, 0).await?;
    let hash = b64url(&DigestAlg::Sha256.digest(b"a lease"));
    let ask = |token: Option<&str>| -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("document_name", "Lease".to_owned()),
            ("hash", hash.clone()),
            ("hash_alg", "SHA-256".to_owned()),
        ];
        if let Some(token) = token {
            form.push(("access_token", token.to_owned()));
        }
        form
    };
    let post = |form: Vec<(&'static str, String)>| {
        let (server, rp) = (&server, &rp);
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            rp_post(server, rp, "/signing/requests", &form).await
        }
    };
    // Refused in OAuth's form and changing nothing: `error` and its HTTP status.
    macro_rules! refused {
        ($form:expr, $status:expr, $error:expr, $what:expr) => {{
            let (status, body) = unchanged!(server, post($form).await?);
            assert_eq!(
                (status, body["error"].as_str()),
                ($status, Some($error)),
                "{}: {body}",
                $what
            );
            assert!(body["error_description"].is_string(), "{body}");
        }};
    }

    // The login granted `sign`, as the phone offered it ("ask you to sign documents").
    let (status, created) = post(ask(Some(&access_token))).await?;
    assert_eq!(status, 201, "{created}");
    refused!(ask(None), 400, "invalid_request", "no token");
    refused!(
        ask(Some("not-a-token")),
        401,
        "invalid_token",
        "an unknown token"
    );
    let challenge = reqwest::Client::new()
        .post(server.url("/signing/requests"))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(&[("access_token", "not-a-token"), ("document_name", "x")])
        .send()
        .await?;
    assert_eq!(
        challenge.headers()["www-authenticate"],
        "Bearer realm=\"eid\", error=\"invalid_token\""
    );

    // A login that did not ask for `sign`: the token cannot ask.
    let (plain, _) = login(&server, &rp, &Browser::new(), &mut wallet).await?;
    assert!(!plain
        .scopes()
        .is_some_and(|s| s.iter().any(|s| s.as_str() == "sign")));
    refused!(
        ask(Some(plain.access_token().secret())),
        403,
        "insufficient_scope",
        "a token without sign"
    );

    // A client not allowed to sign never gets `sign`: the phone is not asked for it.
    let shop = Rp::register(&server, "Example Shop", eid_core::keys::JwsAlg::Rs256).await?;
    let browser = Browser::new();
    let start = shop.start();
    let page = browser
        .open_login(
            &server,
            &with_param(&start.url, "scope", Some("openid sign")),
        )
        .await?;
    let request = wallet.fetch_approval(&page.link).await?;
    assert!(
        request.items.iter().all(|i| i.claim != "sign"),
        "{:?}",
        request.items
    );
    // A signing client's login shows it as a permission, in both languages.
    let lands_browser = Browser::new();
    let lands_page = lands_browser
        .open_login(
            &server,
            &with_param(&rp.start().url, "scope", Some("openid sign")),
        )
        .await?;
    let lands = wallet.fetch_approval(&lands_page.link).await?;
    let item = lands
        .items
        .iter()
        .find(|i| i.claim == "sign")
        .ok_or_else(|| anyhow::anyhow!("sign is not offered: {:?}", lands.items))?;
    assert!(item.en.starts_with("Ask you to sign documents"), "{item:?}");
    assert!(item.zh_hant.contains("簽署"), "{item:?}");
    assert!(!item.essential);
    let html = lands_browser
        .http
        .get(&lands_page.url)
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("Ask you to sign documents"), "{html}");
    assert!(html.contains("要求您簽署文件"), "{html}");

    // Another signing client's token for the same citizen: unknown to this one.
    let mut registration = eid_core::clients::ClientRegistration::new(
        "Companies Registry",
        &[REDIRECT_URI.to_owned()],
        eid_core::keys::JwsAlg::Rs256,
    );
    registration.signing = true;
    let registry = registered_rp(&server, registration).await?;
    let (theirs, _) = sign_login(&server, &registry, &Browser::new(), &mut wallet).await?;
    refused!(
        ask(Some(&theirs)),
        401,
        "invalid_token",
        "another client's token"
    );

    // A refresh does not renew `sign`: signing is the login's, not offline access's.
    let (offline, _) = login_with(
        &server,
        &rp,
        &Browser::new(),
        &mut wallet,
        &[("scope", "openid sign offline_access")],
    )
    .await?;
    let granted: Vec<String> = offline
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    assert!(granted.contains(&"sign".to_owned()), "{granted:?}");
    let refresh = offline
        .refresh_token()
        .ok_or_else(|| anyhow::anyhow!("no refresh token"))?
        .secret()
        .clone();
    let (status, refreshed) = rp_post(
        &server,
        &rp,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await?;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], "openid offline_access");
    refused!(
        ask(refreshed["access_token"].as_str()),
        403,
        "insufficient_scope",
        "a refreshed token"
    );

    // Revoked by the service (RFC 7009).
    let (revoked, _) = sign_login(&server, &rp, &Browser::new(), &mut wallet).await?;
    let revocation = reqwest::Client::new()
        .post(server.url("/revoke"))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(&[("token", revoked.as_str())])
        .send()
        .await?;
    assert_eq!(revocation.status(), 200);
    refused!(ask(Some(&revoked)), 401, "invalid_token", "a revoked token");

    // Signed out by the service (RP-initiated logout with its ID token, from its server).
    let (logged_out, id_token) = sign_login(&server, &rp, &Browser::new(), &mut wallet).await?;
    let (status, _) = post(ask(Some(&logged_out))).await?;
    assert_eq!(status, 201);
    let logout = reqwest::Client::new()
        .get(server.url("/logout"))
        .query(&[("id_token_hint", id_token.as_str())])
        .send()
        .await?;
    assert_eq!(logout.status(), 200);
    refused!(
        ask(Some(&logged_out)),
        401,
        "invalid_token",
        "after RP-initiated logout"
    );

    // Signed out by the citizen: the wallet ends the browser's eid session.
    let (session_token, _) = sign_login(&server, &rp, &Browser::new(), &mut wallet).await?;
    wallet.end_browser_sessions().await?;
    refused!(
        ask(Some(&session_token)),
        401,
        "invalid_token",
        "after the citizen signed out"
    );

    // The citizen withdraws the service's consent: every token it holds goes.
    let (withdrawn, _) = sign_login(&server, &rp, &Browser::new(), &mut wallet).await?;
    let (status, _) = post(ask(Some(&withdrawn))).await?;
    assert_eq!(status, 201);
    wallet.withdraw_consent(&rp.client_id).await?;
    refused!(
        ask(Some(&withdrawn)),
        401,
        "invalid_token",
        "after consent withdrawal"
    );
    // A login before all of these is no way around them either.
    refused!(
        ask(Some(&access_token)),
        401,
        "invalid_token",
        "the first login's token"
    );
    server.stop().await;
    Ok(())
}

/// Review 2026-12-07, L1: the citizen picks the code the service shows among three; another
/// pick signs nothing, ends the request (the service hears `access_denied`) and is recorded.
async fn a_wrong_code_signs_nothing(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let SigningSetup {
        rp,
        mut wallet,
        access_token,
        ..
    } = signing_setup(&server, 0).await?;
    let hash = b64url(&DigestAlg::Sha256.digest(b"a deed"));
    let (status, created) = rp_post(
        &server,
        &rp,
        "/signing/requests",
        &[
            ("access_token", &access_token),
            ("document_name", "Deed of gift"),
            ("hash", &hash),
            ("hash_alg", "SHA-256"),
        ],
    )
    .await?;
    assert_eq!(status, 201, "{created}");
    let request_id = created["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = code_of(&created);
    let view = wallet.signing_requests().await?.requests.remove(0);
    let wrong = view
        .verification_codes
        .iter()
        .find(|c| **c != code)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("one code offered"))?;
    // A code that is not offered is not sent at all.
    assert!(matches!(
        wallet.approve_signing(&view, "ZZZZ").await,
        Err(eid_wallet::WalletError::Protocol(_))
    ));
    let refused = wallet
        .approve_signing(&view, &wrong)
        .await
        .expect_err("a wrong code signs nothing");
    assert_eq!(refused.status(), Some(403));
    assert!(
        refused
            .problem()
            .is_some_and(|p| p.type_uri.ends_with("wrong-code")),
        "{refused:?}"
    );
    // Ended: the right code is too late, the phone no longer lists it, the service is told.
    assert!(wallet.approve_signing(&view, &code).await.is_err());
    assert!(wallet.signing_requests().await?.requests.is_empty());
    let (status, body) = rp_post(
        &server,
        &rp,
        "/signing/result",
        &[("request_id", &request_id)],
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied")),
        "{body}"
    );
    let db = server.database();
    assert!(db
        .signing_request(&request_id)?
        .is_some_and(|r| r.certificate_serial.is_none() && r.result.is_none()));
    // Recorded in the account's history, naming the request.
    let provider = server.provider();
    let trail =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    let event = trail
        .iter()
        .find(|e| e.action == "document.wrong_code")
        .ok_or_else(|| anyhow::anyhow!("no document.wrong_code event"))?;
    assert_eq!(
        event.detail.signing_request.as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(event.detail.reason.as_deref(), Some("wrong_code"));
    assert!(!trail.iter().any(|e| e.action == "document.signed"));
    server.stop().await;
    Ok(())
}

on_every_backend!(
    signing_needs_the_citizens_live_sign_scoped_token,
    signing_needs_a_live_sign_scoped_login
);
on_every_backend!(
    a_wrong_verification_code_signs_nothing,
    a_wrong_code_signs_nothing
);
on_every_backend!(
    a_citizen_signs_a_document_for_a_service,
    a_citizen_signs_for_a_service
);
on_every_backend!(signing_refuses_what_it_must, signing_refusals);
on_every_backend!(
    a_citizen_signs_a_document_with_every_key_in_softhsm,
    a_citizen_signs_with_keys_in_softhsm
);

/// A validator of PDF signatures on the PATH (pyHanko's CLI, poppler's pdfsig), or why not;
/// EID_REQUIRE_PDF_VALIDATORS=1 (CI sets it) makes a missing one a failure.
fn validator(program: &str) -> anyhow::Result<bool> {
    let found = Command::new(program).arg("--help").output().is_ok();
    if !found && std::env::var("EID_REQUIRE_PDF_VALIDATORS").is_ok_and(|v| v == "1" || v == "true")
    {
        anyhow::bail!("{program} is not installed and EID_REQUIRE_PDF_VALIDATORS is set");
    }
    if !found {
        eprintln!("skipped: {program} is not installed");
    }
    Ok(found)
}

/// A service sends a PDF; after the citizen's approval it gets the PDF back signed (PAdES
/// B-T), which pyHanko's validator and poppler's pdfsig accept.
async fn a_citizen_signs_a_pdf(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let SigningSetup {
        rp,
        mut wallet,
        access_token,
        dir,
        ..
    } = signing_setup(&server, 0).await?;
    // Another citizen, with a wallet session of their own.
    let mut stranger = proven_wallet(&server, 1).await?;
    let classic = eid_core::pki::pdf::simple_document(
        "Tenancy agreement",
        &[
            "Flat 1, 2 Garden Road, Central",
            "Rent: HK$18,000 a month",
            "Term: two years",
        ],
    );
    // And one whose cross-reference is a stream (PDF 1.5 and later), as lopdf writes it.
    let modern = {
        use lopdf::{dictionary, Object};
        let mut doc = lopdf::Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes)?;
        bytes
    };
    for (label, pdf) in [("classic", classic), ("xref-stream", modern)] {
        let file = format!("signed-{label}.pdf");
        let (status, created) = rp_post(
            &server,
            &rp,
            "/signing/requests",
            &[
                ("access_token", &access_token),
                ("document_name", "Tenancy agreement.pdf"),
                ("pdf", &b64(&pdf)),
            ],
        )
        .await?;
        assert_eq!(status, 201, "{created}");
        let request_id = created["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let view = wallet.signing_requests().await?.requests.remove(0);
        assert!(view.pdf);
        assert_eq!(
            view.hash,
            b64url(&DigestAlg::Sha256.digest(&pdf)),
            "the phone sees the PDF's digest"
        );
        // The phone reads the document before deciding: the one the service sent, checked
        // against the digest it approves.
        assert_eq!(wallet.signing_document(&view).await?, pdf);
        let path = format!("/api/v1/signing-requests/{request_id}/document");
        let session = wallet.session().await?.access_token;
        let fetched = reqwest::Client::new()
            .get(server.url(&path))
            .bearer_auth(&session)
            .send()
            .await?;
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.headers()["content-type"], "application/pdf");
        assert_eq!(fetched.headers()["cache-control"], "no-store");
        // Another citizen's session does not find it, nor does no session.
        let theirs = stranger.session().await?.access_token;
        let refused = unchanged!(
            server,
            reqwest::Client::new()
                .get(server.url(&path))
                .bearer_auth(&theirs)
                .send()
                .await?
        );
        assert_eq!(refused.status(), 404);
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        let anonymous = reqwest::get(server.url(&path)).await?;
        assert_eq!(anonymous.status(), 401);
        assert!(matches!(
            stranger.signing_document(&view).await,
            Err(eid_wallet::WalletError::Refused(p)) if p.status == 404
        ));
        assert_eq!(
            wallet
                .approve_signing(&view, &code_of(&created))
                .await?
                .status,
            "signed"
        );
        // Decided: the document is no longer served.
        let gone = reqwest::Client::new()
            .get(server.url(&path))
            .bearer_auth(&session)
            .send()
            .await?;
        assert_eq!(gone.status(), 410);
        let (status, result) = rp_post(
            &server,
            &rp,
            "/signing/result",
            &[("request_id", &request_id)],
        )
        .await?;
        assert_eq!(status, 200, "{result}");
        let signed = unb64(result["signed_pdf"].as_str().unwrap_or_default())?;
        assert!(
            signed.starts_with(&pdf),
            "an incremental update keeps every byte of the original"
        );
        std::fs::write(dir.path().join(&file), &signed)?;

        let p = server.provider();
        let s2 = signed.clone();
        let verified =
            tokio::task::spawn_blocking(move || p.verify_pdf(&s2, eid_server::now())).await??;
        assert!(verified.time_stamp.is_some());
        // Bytes added after signing are found.
        let mut changed = signed.clone();
        changed.extend_from_slice(b"\n% a change\n");
        let p = server.provider();
        let refused =
            tokio::task::spawn_blocking(move || p.verify_pdf(&changed, eid_server::now())).await?;
        assert!(refused.is_err(), "{refused:?}");

        if validator("pdfsig")? {
            let out = Command::new("pdfsig")
                .arg(&file)
                .current_dir(dir.path())
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("Signature Validation: Signature is Valid."),
                "{text}"
            );
            assert!(text.contains("ETSI.CAdES.detached"), "{text}");
            assert!(text.contains("Total document signed"), "{text}");
        }
        if validator("pyhanko")? {
            let out = Command::new("pyhanko")
                .args([
                    "sign",
                    "validate",
                    "--pretty-print",
                    "--trust-replace",
                    "--trust",
                    "root.pem",
                    "--other-certs",
                    "issuing.pem",
                    &file,
                ])
                .current_dir(dir.path())
                .output()?;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{text}");
            for expected in [
                "The signature is judged VALID.",
                "The signer's certificate is trusted.",
                "The signature is cryptographically sound.",
                "The TSA certificate is trusted.",
                "The timestamp token is cryptographically sound.",
                "The signature covers the entire file.",
            ] {
                assert!(text.contains(expected), "{expected}: {text}");
            }
        }
    }
    server.stop().await;
    Ok(())
}

on_every_backend!(a_citizen_signs_a_pdf_for_a_service, a_citizen_signs_a_pdf);

/// The example portal (examples/department-portal) asks a citizen to sign a tenancy agreement:
/// the citizen logs in through it, asks to sign, the portal shows the code the phone shows,
/// the phone approves, and the portal offers the signed PDF, which verifies.
async fn the_example_portal_gets_a_tenancy_agreement_signed(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let provider = server.provider();
    let now = eid_server::now();
    tokio::task::spawn_blocking(move || provider.pki_init(now)).await??;
    let (mut wallet, _officer) = plus_wallet(&server, 0).await?;

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let portal = format!("http://localhost:{port}");
    let mut registration = eid_core::clients::ClientRegistration::new(
        "Department portal",
        &[format!("{portal}/callback")],
        eid_core::keys::JwsAlg::Rs256,
    );
    registration.signing = true;
    let new = server.register_client(registration).await?;
    let running = department_portal::serve(
        department_portal::Args {
            issuer: server.issuer(),
            client_id: new.client.client_id.into_string(),
            client_secret: new.client_secret,
            listen: String::new(),
            redirect_uri: format!("{portal}/callback"),
            id_token_alg: department_portal::IdTokenAlg::Rs256,
        },
        Some(listener),
    )
    .await?;
    let handle = running.handle();
    tokio::spawn(running);

    // Log in through the portal.
    let browser = Browser::new();
    let to_eid = browser.http.get(format!("{portal}/login")).send().await?;
    assert_eq!(to_eid.status(), 303);
    let authorize = url::Url::parse(&location(&to_eid)?)?;
    let page = browser.open_login(&server, &authorize).await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let back = browser.http.get(callback.url.clone()).send().await?;
    assert_eq!(back.status(), 303, "{}", back.text().await?);
    let home = browser
        .http
        .get(format!("{portal}/"))
        .send()
        .await?
        .text()
        .await?;
    assert!(home.contains("Sign the tenancy agreement"), "{home}");

    // Ask to sign: the portal shows a code, and the phone the same.
    let asked = browser
        .http
        .post(format!("{portal}/agreement"))
        .send()
        .await?;
    assert_eq!(asked.status(), 303);
    let waiting = browser
        .http
        .get(format!("{portal}/agreement"))
        .send()
        .await?
        .text()
        .await?;
    // The citizen reads the agreement on the phone, then picks the code the portal shows.
    let view = wallet.signing_requests().await?.requests.remove(0);
    let shown: Vec<&String> = view
        .verification_codes
        .iter()
        .filter(|c| waiting.contains(&format!("<strong>{c}</strong>")))
        .collect();
    assert_eq!(shown.len(), 1, "{waiting}");
    let code = shown[0].clone();
    assert_eq!(view.service.name, "Department portal");
    assert!(view.pdf);
    let agreement = wallet.signing_document(&view).await?;
    assert!(agreement.starts_with(b"%PDF-"));
    assert_eq!(wallet.approve_signing(&view, &code).await?.status, "signed");
    let done = browser
        .http
        .get(format!("{portal}/agreement"))
        .send()
        .await?
        .text()
        .await?;
    assert!(done.contains("Download the signed agreement"), "{done}");
    let pdf = browser
        .http
        .get(format!("{portal}/agreement.pdf"))
        .send()
        .await?;
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let pdf = pdf.bytes().await?.to_vec();
    let p = server.provider();
    let verified =
        tokio::task::spawn_blocking(move || p.verify_pdf(&pdf, eid_server::now())).await??;
    assert!(verified.time_stamp.is_some());
    assert!(verified
        .signer
        .contains(&server.residents()[0].english_name));
    handle.stop(false).await;
    server.stop().await;
    Ok(())
}

on_every_backend!(
    the_example_portal_signs_a_tenancy_agreement,
    the_example_portal_gets_a_tenancy_agreement_signed
);

/// Review 2026-12-07, L2: each OCSP answer and time stamp was a fresh signature by a key that
/// may be in an HSM, for anyone, unthrottled. Now an answer without a nonce is pre-produced
/// (the same request gets the same bytes, until halfway to `nextUpdate` or a status change),
/// fresh signatures and time stamps are limited per address, and a burst gets `429` with the
/// protocol's own refusal.
async fn pki_endpoints_are_pre_produced_and_limited(backend: Backend) -> anyhow::Result<()> {
    use eid_core::limits::{Limits, RateLimit};
    let server = TestServer::start_with(
        backend,
        eid_testkit::TestOptions {
            limits: Limits {
                ocsp_per_address: RateLimit::new(10, 60),
                ocsp_fresh_per_address: RateLimit::new(3, 60),
                tsa_per_address: RateLimit::new(2, 60),
                ..Limits::default()
            },
            ..with_registry()
        },
    )
    .await?;
    let provider = server.provider();
    let now = eid_server::now();
    tokio::task::spawn_blocking(move || provider.pki_init(now)).await??;
    let authority = server.provider().authority()?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("root.pem"), pem(&authority.root.der))?;
    std::fs::write(
        dir.path().join("issuing.pem"),
        pem(&authority.issuing.certificate.der),
    )?;
    // A certificate the issuing CA issued: the time-stamping unit's.
    std::fs::write(
        dir.path().join("tsa.pem"),
        pem(&authority.tsa.certificate.der),
    )?;
    let request = |out: &str, nonce: bool| -> anyhow::Result<Vec<u8>> {
        let mut args = vec![
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "tsa.pem",
            "-reqout",
            out,
        ];
        if !nonce {
            args.push("-no_nonce");
        }
        let (ok, text) = openssl(&args, dir.path())?;
        anyhow::ensure!(ok, "{text}");
        Ok(std::fs::read(dir.path().join(out))?)
    };
    let plain = request("plain.der", false)?;
    let nonced = request("nonced.der", true)?;
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        let request = http
            .post(server.url("/pki/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(body);
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            anyhow::Ok((status, retry_after, response.bytes().await?.to_vec()))
        }
    };

    // The same request without a nonce: one signature, the same bytes every time.
    let (status, _, first) = post(plain.clone()).await?;
    assert_eq!(status, 200);
    for _ in 0..3 {
        let (status, _, again) = post(plain.clone()).await?;
        assert_eq!(status, 200);
        assert_eq!(again, first, "the pre-produced answer");
    }
    std::fs::write(dir.path().join("plain-resp.der"), &first)?;
    let (ok, out) = openssl(
        &[
            "ocsp",
            "-respin",
            "plain-resp.der",
            "-issuer",
            "issuing.pem",
            "-cert",
            "tsa.pem",
            "-CAfile",
            "root.pem",
            "-verify_other",
            "issuing.pem",
            "-no_nonce",
        ],
        dir.path(),
    )?;
    assert!(ok && out.contains("tsa.pem: good"), "{out}");

    // With a nonce every answer is signed afresh: two more fit the three fresh signatures.
    for _ in 0..2 {
        let (status, _, answer) = post(nonced.clone()).await?;
        assert_eq!(status, 200);
        assert_ne!(answer, first);
    }
    let (status, retry_after, refused) = post(nonced.clone()).await?;
    assert_eq!((status, retry_after), (429, true));
    std::fs::write(dir.path().join("refused.der"), &refused)?;
    let (_, out) = openssl(
        &["ocsp", "-respin", "refused.der", "-resp_text", "-noverify"],
        dir.path(),
    )?;
    assert!(out.to_lowercase().contains("trylater"), "{out}");
    // The pre-produced answer needs no signature: still served...
    let (status, _, again) = post(plain.clone()).await?;
    assert_eq!((status, again), (200, first.clone()));
    // ...until the address's limit on all requests (ten) is spent.
    for _ in 0..2 {
        let (status, _, _) = post(plain.clone()).await?;
        assert_eq!(status, 200);
    }
    let (status, retry_after, _) = post(plain.clone()).await?;
    assert_eq!((status, retry_after), (429, true));

    // Time stamps: two per address, then a rejection in RFC 3161's form with 429.
    std::fs::write(dir.path().join("doc.txt"), b"a document")?;
    let (ok, out) = openssl(
        &[
            "ts", "-query", "-data", "doc.txt", "-sha256", "-cert", "-out", "req.tsq",
        ],
        dir.path(),
    )?;
    assert!(ok, "{out}");
    let query = std::fs::read(dir.path().join("req.tsq"))?;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = http
            .post(server.url("/pki/tsa"))
            .header("content-type", "application/timestamp-query")
            .body(query.clone())
            .send()
            .await?;
        statuses.push(reply.status().as_u16());
        if reply.status() == 429 {
            assert!(reply.headers().contains_key("retry-after"));
            std::fs::write(dir.path().join("busy.tsr"), reply.bytes().await?)?;
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let (ok, out) = openssl(&["ts", "-reply", "-in", "busy.tsr", "-text"], dir.path())?;
    assert!(ok && out.contains("Rejected"), "{out}");
    server.stop().await;
    Ok(())
}

on_every_backend!(
    ocsp_answers_are_pre_produced_and_pki_endpoints_limited,
    pki_endpoints_are_pre_produced_and_limited
);
