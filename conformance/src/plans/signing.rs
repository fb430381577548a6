//! `eid-signing`: document signing, checked from outside as a relying party and the citizen's
//! phone, with `openssl` (and poppler's `pdfsig` for PDFs) as the independent verifiers.
//!
//! The service asks with the access token of the citizen's login at it, whose scope includes
//! `sign` (allowed on the phone); the phone picks the service's verification code among three,
//! and reads a PDF before approving it.
//!
//! It needs the `wallet` login driver with an account proven in person (level `plus`), the
//! suite's first client allowed to sign (`eid-server client add --allow-signing`, with a
//! client secret), the provider's PKI set up (`eid-server pki init`), and `openssl` on the
//! PATH; without one of them the modules are skipped, saying which.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use eid_proto::signing::{SigningDecision, SigningRequestView};
use eid_wallet::WalletError;
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::ClientConfig;
use crate::context::{AuthOptions, Ctx};
use crate::log::Stop;
use crate::Module;

use super::module;

pub fn modules() -> Vec<Module> {
    vec![
        module!("eid-signing-hash", "A digest the service sends (with the access token of a login whose \
                 scope includes sign) is signed once the phone approves, picking the verification code \
                 the service was given among three: openssl cms -verify accepts the detached signature \
                 against eid's root, and openssl ts -verify its signature time stamp.", hash),
        module!("eid-signing-pdf", "A PDF the service sends is the one the phone fetches to show (its \
                 SHA-256 the digest approved), and comes back signed in an incremental update (PAdES) \
                 that poppler's pdfsig finds valid and covering the whole file.", pdf),
        module!("eid-signing-status", "OCSP answers good for the signing certificate and the CRL does not \
                 list it; once a device of the account is removed (a device reported lost), OCSP answers \
                 revoked and the CRL lists it.", status),
        module!("eid-signing-time-stamp-unit", "The time-stamping unit stamps a digest (RFC 3161 over HTTP) \
                 and openssl ts -verify accepts the reply against eid's root.", time_stamp_unit),
        module!("eid-signing-another-document", "An approval that names another digest than the request's \
                 is refused.", another_document),
        module!("eid-signing-another-request", "An approval of one request, sent for another, is refused.",
                another_request),
        module!("eid-signing-replayed", "An approval accepted once is refused when sent again.", replayed),
        module!("eid-signing-declined", "A request the citizen declines answers access_denied to the \
                 service.", declined),
        module!("eid-signing-wrong-code", "An approval with another of the three codes than the service's \
                 is refused, signs nothing and ends the request: the service is told access_denied.",
                wrong_code),
        module!("eid-signing-client-refused", "Wrong client credentials get invalid_client; no access token \
                 invalid_request, a token the client never had invalid_token, a token without the sign \
                 scope insufficient_scope; a revoked token invalid_token.", client_refused),
    ]
}

/// What a signing module works with: the client, the access token of the citizen's login at
/// it (its scope includes `sign`), a work directory holding eid's root and issuing
/// certificates (PEM).
struct Setup {
    client: ClientConfig,
    access_token: String,
    dir: tempfile::TempDir,
    issuer: String,
}

/// A pending request as the phone shows it, with the code the service was given.
struct Pending {
    view: SigningRequestView,
    code: String,
}

fn openssl(args: &[&str], dir: &Path) -> Result<(bool, String), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running openssl: {e}"))?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// `openssl cms -verify` of the detached `sig.der` over `content`, against eid's root.
fn cms_verify(dir: &Path, content: &str) -> Result<(bool, String), String> {
    openssl(
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "sig.der",
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

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

async fn setup(ctx: &mut Ctx<'_>) -> Result<Setup, Stop> {
    if ctx.suite.wallet.is_none() {
        return Err(ctx.skip("needs eid's phone: run with --login-driver wallet"));
    }
    if Command::new("openssl").arg("version").output().is_err() {
        return Err(ctx.skip("needs openssl on the PATH to verify what eid signs"));
    }
    let client = ctx.client(0)?;
    if client.client_secret.is_empty() {
        return Err(ctx.skip("needs the first client to authenticate with a client secret"));
    }
    let issuer = ctx.suite.config.issuer.trim_end_matches('/').to_owned();
    let dir = tempfile::tempdir().map_err(|e| ctx.fail("WorkDirectory", e.to_string(), ""))?;
    for (name, path) in [
        ("root.pem", "/pki/root.crt"),
        ("issuing.pem", "/pki/issuing.crt"),
    ] {
        let response = ctx.get(&format!("{issuer}{path}")).await?;
        if response.status != 200 {
            return Err(ctx.skip(format!(
                "{path} answers {}: the provider's PKI is not set up (eid-server pki init)",
                response.status
            )));
        }
        std::fs::write(dir.path().join(name), pem(&response.body))
            .map_err(|e| ctx.fail("WorkDirectory", e.to_string(), ""))?;
    }
    let flow = ctx
        .code_flow(&AuthOptions {
            scope: "openid sign".into(),
            ..AuthOptions::default()
        })
        .await?;
    let granted = flow.tokens.scope.clone().unwrap_or_default();
    if !granted.split(' ').any(|s| s == "sign") {
        return Err(ctx.skip(format!(
            "the login was not granted the sign scope (granted: {granted:?}): the suite's first client may not ask for signatures (eid-server client add --allow-signing)"
        )));
    }
    Ok(Setup {
        client,
        access_token: flow.tokens.access_token.clone(),
        dir,
        issuer,
    })
}

/// `POST /signing/requests`; the created request, or why it was refused (skipping when the
/// client or the account cannot sign at all).
async fn ask(
    ctx: &mut Ctx<'_>,
    setup: &Setup,
    document: &[(&str, String)],
) -> Result<(String, String), Stop> {
    let mut form: Vec<(String, String)> = vec![
        ("access_token".into(), setup.access_token.clone()),
        (
            "document_name".into(),
            "eid-conformance test document".into(),
        ),
    ];
    form.extend(document.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let url = Url::parse(&format!("{}/signing/requests", setup.issuer))
        .map_err(|e| ctx.fail("SigningEndpoint", e.to_string(), ""))?;
    let response = ctx.client_post(&setup.client, url, form, None).await?;
    let body = response.json().unwrap_or_default();
    match (response.status, body["error"].as_str()) {
        (201, _) => {
            let id = body["request_id"].as_str().unwrap_or_default().to_owned();
            let code = body["verification_code"].as_str().unwrap_or_default().to_owned();
            ctx.success(
                "CreateSigningRequest",
                format!("request {id} created, verification code {code}"),
            );
            Ok((id, code))
        }
        (_, Some("unauthorized_client")) => Err(ctx.skip(
            "the suite's first client may not ask for signatures (eid-server client add --allow-signing)",
        )),
        (_, Some("access_denied")) => Err(ctx.skip(
            "the wallet's account cannot sign: signing needs an account proven in person (plus)",
        )),
        (status, _) => Err(ctx.fail(
            "CreateSigningRequest",
            format!("the signing request was refused: {status} {}", response.text()),
            "",
        )),
    }
}

/// The phone's view of a pending request; it must offer the code the service was given among
/// three distinct ones, in the same order at every fetch.
async fn phone_view(ctx: &mut Ctx<'_>, id: &str, code: &str) -> Result<Pending, Stop> {
    let listed = match ctx.suite.wallet.as_ref() {
        Some(w) => w.lock().await.signing_requests().await,
        None => return Err(ctx.skip("no wallet")),
    };
    let list = listed.map_err(|e| ctx.fail("ListSigningRequests", e.to_string(), ""))?;
    let Some(view) = list.requests.into_iter().find(|r| r.request_id == id) else {
        return Err(ctx.fail(
            "ListSigningRequests",
            "the phone does not list the request",
            "",
        ));
    };
    let codes = &view.verification_codes;
    ctx.require(
        codes.len() == 3
            && codes.iter().filter(|c| *c == code).count() == 1
            && codes
                .iter()
                .all(|c| codes.iter().filter(|d| *d == c).count() == 1),
        "CheckVerificationCodes",
        format!("the phone offers three codes, the service's {code} among them: {codes:?}"),
        "",
    )?;
    let again = match ctx.suite.wallet.as_ref() {
        Some(w) => w.lock().await.signing_requests().await,
        None => return Err(ctx.skip("no wallet")),
    };
    let same = again
        .ok()
        .and_then(|l| l.requests.into_iter().find(|r| r.request_id == id))
        .is_some_and(|r| &r.verification_codes == codes);
    ctx.require(
        same,
        "CheckVerificationCodesStable",
        "the three codes come in the same order at the next fetch",
        "",
    )?;
    Ok(Pending {
        view,
        code: code.to_owned(),
    })
}

/// An approval (with the service's code) or a decline of `pending`.
fn decision(pending: &Pending, answer: &str) -> SigningDecision {
    let view = &pending.view;
    SigningDecision {
        request_id: view.request_id.clone(),
        answer: answer.into(),
        hash_alg: view.hash_alg.clone(),
        hash: view.hash.clone(),
        code: (answer == "approve").then(|| pending.code.clone()),
    }
}

/// Signs `decision` on the phone and sends it for request `to`.
async fn answer(
    ctx: &mut Ctx<'_>,
    view: &SigningRequestView,
    decision: &SigningDecision,
    to: &str,
) -> Result<Result<String, WalletError>, Stop> {
    let Some(wallet) = ctx.suite.wallet.as_ref() else {
        return Err(ctx.skip("no wallet"));
    };
    let mut wallet = wallet.lock().await;
    let submission = match wallet.sign_signing_decision(view, decision) {
        Ok(s) => s,
        Err(e) => return Err(ctx.fail("SignDecision", e.to_string(), "")),
    };
    Ok(wallet
        .post_signing_answer(to, &submission)
        .await
        .map(|r| r.status))
}

fn expect_refused(
    ctx: &mut Ctx<'_>,
    result: Result<String, WalletError>,
    what: &str,
) -> Result<(), Stop> {
    match result {
        Err(WalletError::Refused(problem)) if (400..500).contains(&problem.status) => {
            ctx.success(
                "CheckApprovalRefused",
                format!("{what}: refused with {} {}", problem.status, problem.title),
            );
            Ok(())
        }
        Err(e) => Err(ctx.fail(
            "CheckApprovalRefused",
            format!("{what}: failed otherwise than by a refusal: {e}"),
            "",
        )),
        Ok(status) => Err(ctx.fail(
            "CheckApprovalRefused",
            format!("{what}: the provider took it ({status})"),
            "",
        )),
    }
}

/// `POST /signing/result`.
async fn result(ctx: &mut Ctx<'_>, setup: &Setup, id: &str) -> Result<serde_json::Value, Stop> {
    let url = Url::parse(&format!("{}/signing/result", setup.issuer))
        .map_err(|e| ctx.fail("SigningEndpoint", e.to_string(), ""))?;
    let response = ctx
        .client_post(
            &setup.client,
            url,
            vec![("request_id".into(), id.to_owned())],
            None,
        )
        .await?;
    Ok(response.json().unwrap_or_default())
}

fn write(ctx: &mut Ctx<'_>, dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Stop> {
    std::fs::write(dir.join(name), bytes).map_err(|e| ctx.fail("WorkDirectory", e.to_string(), ""))
}

/// Signs `document` (its digest) for the citizen: the result's JSON.
async fn sign_digest(
    ctx: &mut Ctx<'_>,
    setup: &Setup,
    document: &[u8],
) -> Result<serde_json::Value, Stop> {
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(document));
    let (id, code) = ask(
        ctx,
        setup,
        &[("hash", hash), ("hash_alg", "SHA-256".into())],
    )
    .await?;
    let pending = result(ctx, setup, &id).await?;
    ctx.require(
        pending["error"] == "authorization_pending",
        "CheckPending",
        "before the citizen answers, the service is told authorization_pending",
        "OpenID CIBA §11",
    )?;
    let pending = phone_view(ctx, &id, &code).await?;
    let answered = answer(ctx, &pending.view, &decision(&pending, "approve"), &id).await?;
    match answered {
        Ok(status) if status == "signed" => {}
        other => {
            return Err(ctx.fail(
                "ApproveSigning",
                format!("the approval was not taken: {other:?}"),
                "",
            ))
        }
    }
    let signed = result(ctx, setup, &id).await?;
    ctx.require(
        signed["status"] == "signed",
        "CheckSigned",
        "the service receives the signature",
        "",
    )?;
    Ok(signed)
}

fn field(signed: &serde_json::Value, name: &str) -> Vec<u8> {
    STANDARD
        .decode(signed[name].as_str().unwrap_or_default())
        .unwrap_or_default()
}

async fn hash(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let document = format!("eid-conformance document {}", crate::context::now()).into_bytes();
    let signed = sign_digest(ctx, &setup, &document).await?;
    let dir = setup.dir.path();
    write(ctx, dir, "doc.bin", &document)?;
    write(ctx, dir, "sig.der", &field(&signed, "signature"))?;
    let (ok, out) = cms_verify(dir, "doc.bin").map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    ctx.require(
        ok,
        "CheckCmsVerify",
        format!("openssl cms -verify: {}", out.trim()),
        "RFC 5652",
    )?;
    write(ctx, dir, "other.bin", b"another document")?;
    let (ok, _) = cms_verify(dir, "other.bin").map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    ctx.require(
        !ok,
        "CheckCmsBound",
        "the signature does not verify another document",
        "RFC 5652",
    )?;
    if signed["time_stamped"] == true {
        // The token: the signature's unsigned attribute id-aa-timeStampToken.
        let (ok, printed) = openssl(
            &[
                "cms", "-cmsout", "-inform", "DER", "-in", "sig.der", "-print", "-noout",
            ],
            dir,
        )
        .map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
        ctx.require(
            ok && printed.contains("id-smime-aa-timeStampToken"),
            "CheckTimeStampPresent",
            "the signature carries a signature time stamp (CAdES-T)",
            "ETSI EN 319 122-1",
        )?;
    }
    Ok(())
}

async fn pdf(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let pdf = b"%PDF-1.7\n1 0 obj\n<</Type /Catalog /Pages 2 0 R>>\nendobj\n2 0 obj\n<</Type /Pages /Kids [3 0 R] /Count 1>>\nendobj\n3 0 obj\n<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]>>\nendobj\nxref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n0000000115 00000 n \ntrailer\n<</Size 4 /Root 1 0 R>>\nstartxref\n186\n%%EOF\n";
    let (id, code) = ask(ctx, &setup, &[("pdf", STANDARD.encode(pdf))]).await?;
    let pending = phone_view(ctx, &id, &code).await?;
    let view = &pending.view;
    ctx.require(
        view.pdf && view.hash == URL_SAFE_NO_PAD.encode(Sha256::digest(pdf)),
        "CheckPdfDigest",
        "the phone shows the PDF's digest",
        "",
    )?;
    // The phone reads the document before deciding; the wallet checks it against the digest.
    let fetched = match ctx.suite.wallet.as_ref() {
        Some(w) => w.lock().await.signing_document(view).await,
        None => return Err(ctx.skip("no wallet")),
    };
    ctx.require(
        fetched.as_deref().is_ok_and(|f| f == pdf),
        "CheckPhoneReadsPdf",
        format!(
            "the phone fetches the PDF the service sent: {}",
            fetched
                .as_ref()
                .map_or_else(|e| e.to_string(), |f| format!("{} bytes", f.len()))
        ),
        "",
    )?;
    let answered = answer(ctx, view, &decision(&pending, "approve"), &id).await?;
    if !matches!(&answered, Ok(s) if s == "signed") {
        return Err(ctx.fail(
            "ApproveSigning",
            format!("the approval was not taken: {answered:?}"),
            "",
        ));
    }
    let signed = result(ctx, &setup, &id).await?;
    let signed_pdf = field(&signed, "signed_pdf");
    ctx.require(
        signed_pdf.starts_with(pdf),
        "CheckIncrementalUpdate",
        "the signed PDF keeps every byte of the original (an incremental update)",
        "ISO 32000-1 §7.5.6",
    )?;
    let dir = setup.dir.path();
    write(ctx, dir, "signed.pdf", &signed_pdf)?;
    let Ok(out) = Command::new("pdfsig")
        .arg("signed.pdf")
        .current_dir(dir)
        .output()
    else {
        return Err(
            ctx.skip("pdfsig (Debian's poppler-utils) is not installed to validate the PDF")
        );
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    ctx.require(
        text.contains("Signature Validation: Signature is Valid.")
            && text.contains("Total document signed"),
        "CheckPdfSignature",
        format!("pdfsig: {}", text.trim()),
        "ETSI EN 319 142-1",
    )
}

async fn status(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let signed = sign_digest(ctx, &setup, b"a document whose certificate is revoked").await?;
    let dir = setup.dir.path();
    write(
        ctx,
        dir,
        "signer.pem",
        pem(&field(&signed, "certificate")).as_bytes(),
    )?;
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(dir.join("root.pem")).unwrap_or_default(),
        std::fs::read_to_string(dir.join("issuing.pem")).unwrap_or_default()
    );
    write(ctx, dir, "chain.pem", chain.as_bytes())?;
    let (_, uri) = openssl(&["x509", "-in", "signer.pem", "-noout", "-ocsp_uri"], dir)
        .map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    let uri = uri.trim().to_owned();
    let ocsp = |dir: &Path| {
        openssl(
            &[
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "signer.pem",
                "-url",
                &uri,
                "-CAfile",
                "root.pem",
                "-verify_other",
                "issuing.pem",
            ],
            dir,
        )
    };
    let (ok, out) = ocsp(dir).map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    ctx.require(
        ok && out.contains("signer.pem: good") && out.contains("Response verify OK"),
        "CheckOcspGood",
        format!("openssl ocsp: {}", out.trim()),
        "RFC 6960",
    )?;
    // A device of the account removed (reported lost) revokes its signing certificates.
    let device = super::eid::throwaway_device(ctx).await?;
    super::eid::remove(ctx, &device).await?;
    let (ok, out) = ocsp(dir).map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    ctx.require(
        ok && out.contains("signer.pem: revoked"),
        "CheckOcspRevoked",
        format!("openssl ocsp: {}", out.trim()),
        "RFC 6960",
    )?;
    let crl = ctx
        .get(&format!("{}/pki/issuing.crl", setup.issuer))
        .await?;
    write(ctx, dir, "crl.der", &crl.body)?;
    let (ok, out) = openssl(
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "chain.pem",
            "-noout",
            "-text",
        ],
        dir,
    )
    .map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    let serial = signed["certificate_serial"]
        .as_str()
        .unwrap_or_default()
        .to_uppercase();
    ctx.require(
        ok && out.contains("verify OK") && out.contains(&serial) && out.contains("Next Update"),
        "CheckCrlListsRevoked",
        format!("the CRL verifies against the chain and lists {serial}"),
        "RFC 5280 §5",
    )
}

async fn time_stamp_unit(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let dir = setup.dir.path();
    write(ctx, dir, "data.bin", b"data to stamp")?;
    let (ok, out) = openssl(
        &[
            "ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "req.tsq",
        ],
        dir,
    )
    .map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    if !ok {
        return Err(ctx.fail("RunOpenssl", out, ""));
    }
    let query = std::fs::read(dir.join("req.tsq")).unwrap_or_default();
    let http = ctx.suite.http.clone();
    let reply = ctx
        .send(
            &http,
            http.post(format!("{}/pki/tsa", setup.issuer))
                .header("content-type", "application/timestamp-query")
                .body(query),
        )
        .await?;
    ctx.require(
        reply.header("content-type") == Some("application/timestamp-reply"),
        "CheckTsaContentType",
        "the reply is application/timestamp-reply",
        "RFC 3161 §3.4",
    )?;
    write(ctx, dir, "resp.tsr", &reply.body)?;
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
        dir,
    )
    .map_err(|e| ctx.fail("RunOpenssl", e, ""))?;
    ctx.require(
        ok && out.contains("Verification: OK"),
        "CheckTimeStamp",
        format!("openssl ts -verify: {}", out.trim()),
        "RFC 3161",
    )
}

async fn pending_request(ctx: &mut Ctx<'_>, setup: &Setup, text: &str) -> Result<Pending, Stop> {
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()));
    let (id, code) = ask(
        ctx,
        setup,
        &[("hash", hash), ("hash_alg", "SHA-256".into())],
    )
    .await?;
    phone_view(ctx, &id, &code).await
}

async fn another_document(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let pending = pending_request(ctx, &setup, "the document shown").await?;
    let mut other = decision(&pending, "approve");
    other.hash = URL_SAFE_NO_PAD.encode(Sha256::digest(b"another document"));
    let view = &pending.view;
    let result = answer(ctx, view, &other, &view.request_id).await?;
    expect_refused(ctx, result, "an approval naming another digest")
}

async fn another_request(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let first = pending_request(ctx, &setup, "first document").await?;
    let second = pending_request(ctx, &setup, "second document").await?;
    let result = answer(
        ctx,
        &first.view,
        &decision(&first, "approve"),
        &second.view.request_id,
    )
    .await?;
    expect_refused(ctx, result, "an approval of one request sent for another")
}

async fn replayed(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let pending = pending_request(ctx, &setup, "a document signed once").await?;
    let view = &pending.view;
    let Some(wallet) = ctx.suite.wallet.as_ref() else {
        return Err(ctx.skip("no wallet"));
    };
    let (first, again) = {
        let mut wallet = wallet.lock().await;
        let submission = match wallet.sign_signing_decision(view, &decision(&pending, "approve")) {
            Ok(s) => s,
            Err(e) => return Err(ctx.fail("SignDecision", e.to_string(), "")),
        };
        let first = wallet
            .post_signing_answer(&view.request_id, &submission)
            .await;
        let again = wallet
            .post_signing_answer(&view.request_id, &submission)
            .await;
        (first, again)
    };
    ctx.require(
        matches!(&first, Ok(r) if r.status == "signed"),
        "ApproveSigning",
        "the approval is taken once",
        "",
    )?;
    expect_refused(ctx, again.map(|r| r.status), "the same approval sent again")
}

async fn declined(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let pending = pending_request(ctx, &setup, "a document declined").await?;
    let view = &pending.view;
    let answered = answer(ctx, view, &decision(&pending, "decline"), &view.request_id).await?;
    ctx.require(
        matches!(&answered, Ok(s) if s == "declined"),
        "DeclineSigning",
        "the phone declines",
        "",
    )?;
    let body = result(ctx, &setup, &view.request_id).await?;
    ctx.require(
        body["error"] == "access_denied",
        "CheckDeclined",
        format!("the service is told access_denied ({body})"),
        "OpenID CIBA §11",
    )
}

async fn wrong_code(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let pending = pending_request(ctx, &setup, "a document approved with a wrong code").await?;
    let view = &pending.view;
    let Some(wrong) = view
        .verification_codes
        .iter()
        .find(|c| **c != pending.code)
        .cloned()
    else {
        return Err(ctx.fail("CheckVerificationCodes", "no other code offered", ""));
    };
    let mut picked = decision(&pending, "approve");
    picked.code = Some(wrong);
    let refused = answer(ctx, view, &picked, &view.request_id).await?;
    expect_refused(
        ctx,
        refused,
        "an approval with another code than the service's",
    )?;
    let body = result(ctx, &setup, &view.request_id).await?;
    ctx.require(
        body["error"] == "access_denied",
        "CheckWrongCodeEnds",
        format!("the request ended unsigned: the service is told access_denied ({body})"),
        "",
    )?;
    // Ended: the right code is too late now.
    let late = answer(ctx, view, &decision(&pending, "approve"), &view.request_id).await?;
    expect_refused(ctx, late, "the right code after a wrong one")
}

async fn client_refused(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let setup = setup(ctx).await?;
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(b"x"));
    let url = Url::parse(&format!("{}/signing/requests", setup.issuer))
        .map_err(|e| ctx.fail("SigningEndpoint", e.to_string(), ""))?;
    let form = |token: Option<&str>| -> Vec<(String, String)> {
        let mut form: Vec<(String, String)> = vec![
            ("document_name".into(), "x".into()),
            ("hash".into(), hash.clone()),
            ("hash_alg".into(), "SHA-256".into()),
        ];
        if let Some(token) = token {
            form.push(("access_token".into(), token.to_owned()));
        }
        form
    };
    let mut wrong = setup.client.clone();
    wrong.client_secret = "not the secret".into();
    let response = ctx
        .client_post(&wrong, url.clone(), form(Some(&setup.access_token)), None)
        .await?;
    ctx.require(
        response.status == 401 && response.json().unwrap_or_default()["error"] == "invalid_client",
        "CheckInvalidClient",
        format!("wrong credentials: {} {}", response.status, response.text()),
        "RFC 6749 §5.2",
    )?;
    let response = ctx
        .client_post(&setup.client, url.clone(), form(None), None)
        .await?;
    ctx.require(
        response.status == 400 && response.json().unwrap_or_default()["error"] == "invalid_request",
        "CheckNoToken",
        format!("no access token: {} {}", response.status, response.text()),
        "RFC 6749 §5.2",
    )?;
    let response = ctx
        .client_post(
            &setup.client,
            url.clone(),
            form(Some("a-token-this-client-never-had")),
            None,
        )
        .await?;
    ctx.require(
        response.status == 401 && response.json().unwrap_or_default()["error"] == "invalid_token",
        "CheckUnknownToken",
        format!("an unknown token: {} {}", response.status, response.text()),
        "RFC 6750 §3.1",
    )?;
    // A login without the sign scope.
    let plain = ctx.code_flow(&AuthOptions::default()).await?;
    let response = ctx
        .client_post(
            &setup.client,
            url.clone(),
            form(Some(&plain.tokens.access_token)),
            None,
        )
        .await?;
    ctx.require(
        response.status == 403
            && response.json().unwrap_or_default()["error"] == "insufficient_scope",
        "CheckInsufficientScope",
        format!(
            "a token without sign: {} {}",
            response.status,
            response.text()
        ),
        "RFC 6750 §3.1",
    )?;
    // Revoked (RFC 7009): the service can no longer ask.
    let revoke = Url::parse(&format!("{}/revoke", setup.issuer))
        .map_err(|e| ctx.fail("RevocationEndpoint", e.to_string(), ""))?;
    let response = ctx
        .client_post(
            &setup.client,
            revoke,
            vec![("token".into(), setup.access_token.clone())],
            None,
        )
        .await?;
    ctx.require(
        response.status == 200,
        "RevokeToken",
        format!("revocation: {}", response.status),
        "RFC 7009 §2.2",
    )?;
    let response = ctx
        .client_post(&setup.client, url, form(Some(&setup.access_token)), None)
        .await?;
    ctx.require(
        response.status == 401 && response.json().unwrap_or_default()["error"] == "invalid_token",
        "CheckRevokedToken",
        format!("a revoked token: {} {}", response.status, response.text()),
        "RFC 7009",
    )
}
