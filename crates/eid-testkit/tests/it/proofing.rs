//! Identity proofing, remote: applications claim nothing until the population registry (a
//! separate process) matches the particulars and the face; refusals tell the applicant why and
//! nobody else anything; an HKID number that has an account answers like any other; the real
//! holder recovers a squatted or lost account; a registry that is down or slow loses nothing.

use eid_core::time::UnixTime;
use std::time::Duration;

use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestOptions, TestServer};
use eid_wallet::{Wallet, WalletError};
use url::Url;

use crate::support::*;

/// The problem's `reason` of a refusal.
fn reason(err: &WalletError) -> Option<String> {
    err.problem().and_then(|p| p.reason.clone())
}

/// Counts of the rows that proofing would change.
async fn accounts(server: &TestServer) -> anyhow::Result<(i64, i64)> {
    let counts = server.row_counts().await?;
    let get = |t: &str| counts.iter().find(|(n, _)| *n == t).map_or(0, |(_, c)| *c);
    Ok((get("citizens"), get("devices")))
}

/// Submits proofing evidence step by step (challenge, then the signed evidence), checking that
/// the refused submission changes nothing stored; returns the problem.
async fn refused_unchanged(
    server: &TestServer,
    wallet: &mut Wallet,
    evidence: &eid_proto::api::ProofingEvidence,
    sign_capture: bool,
) -> anyhow::Result<eid_proto::problem::Problem> {
    let application = wallet.file().application.clone().expect("application");
    let base = server.url(&format!(
        "/api/v1/applications/{}",
        application.application_id
    ));
    let http = reqwest::Client::new();
    let challenge: eid_proto::api::ProofingChallenge = http
        .post(format!("{base}/proofing-challenges"))
        .bearer_auth(&application.token)
        .send()
        .await?
        .json()
        .await?;
    let mut options = challenge.options.clone();
    let nonce = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
    // The phone's capture component signs the template over this ceremony's nonce (unless the
    // test sends it unsigned, or brings a capture of its own).
    let mut evidence = evidence.clone();
    if sign_capture && evidence.capture.is_none() {
        let signer = server.capture_signer(&server.residents()[0])?;
        evidence.capture = Some(signer.sign(&nonce, &evidence.face_template));
        evidence.face_template.clear();
    }
    let bytes = serde_json::to_vec(&evidence)?;
    options.public_key.challenge =
        eid_wallet::committed_challenge("eid-proofing", &nonce, &bytes).to_vec();
    let credential = wallet.sign(&options, &Url::parse(&server.issuer())?)?;
    let submission = eid_proto::api::ProofingSubmission {
        ceremony_id: challenge.ceremony_id,
        evidence: eid_wallet::b64url(&bytes),
        credential,
    };
    // The submission uses its challenge up (single-use ceremonies); nothing else may change.
    let before = without_ceremonies(server.fingerprint().await?);
    let response = http
        .post(format!("{base}/proofing"))
        .bearer_auth(&application.token)
        .json(&submission)
        .send()
        .await?;
    assert_eq!(
        before,
        without_ceremonies(server.fingerprint().await?),
        "a refused proofing changed stored data"
    );
    anyhow::ensure!(
        !response.status().is_success(),
        "the submission was accepted"
    );
    Ok(response.json().await?)
}

/// A fingerprint without the ceremonies table's section.
fn without_ceremonies(rows: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut skipping = false;
    for row in rows {
        if !row.starts_with(' ') {
            skipping = row.starts_with("ceremonies:");
        }
        if !skipping {
            out.push(row);
        }
    }
    out
}

/// Valid HKID numbers no test resident has.
fn unregistered_hkid(server: &TestServer) -> String {
    ["A123456(3)", "C668668(9)", "G123456(A)"]
        .into_iter()
        .find(|h| !server.residents().iter().any(|r| &r.hkid == h))
        .unwrap_or("AB987654(3)")
        .to_owned()
}

async fn remote_proofing(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = Url::parse(&server.issuer())?;
    let rp = Rp::register(&server, "Department", JwsAlg::Es256).await?;
    let browser = Browser::new();
    let resident = server.residents()[0].clone();

    // An application is not an account: its device cannot log in anywhere, nor open a session.
    let mut applicant = applied_wallet(&server, 0).await?;
    let start_login = rp.start();
    let page = browser.open_login(&server, &start_login.url).await?;
    let request = applicant.fetch_approval_anonymously(&page.link).await?;
    assert!(
        request.items.iter().all(|i| i.value.is_none()),
        "no values without a session"
    );
    let err = unchanged!(
        server,
        applicant
            .answer(
                &request,
                &page.link,
                &eid_wallet::approve_all(&request, page.number, true)
            )
            .await
            .expect_err("unproven")
    );
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("not-proven"),
        "{err}"
    );
    assert!(
        applicant.session().await.is_err(),
        "no session for an application"
    );

    // A face that is not the applicant's: refused, with the reason, and nothing bound.
    let other_face = server.capture(&server.residents()[1])?;
    let mut ev = evidence(&server, &resident)?;
    ev.face_template = other_face;
    let err = applicant.prove(&ev).await.expect_err("another face");
    assert_eq!(err.problem().map(|p| p.status), Some(422), "{err}");
    assert_eq!(reason(&err).as_deref(), Some("face_mismatch"));
    assert_eq!(accounts(&server).await?, (0, 0));
    assert_eq!(applicant.status().await?.status, "open");

    // Evidence that differs from the application is refused before the registry is asked.
    let mut ev = evidence(&server, &resident)?;
    ev.date_of_birth = "1901-01-01".into();
    let err = applicant.prove(&ev).await.expect_err("other evidence");
    assert_eq!(reason(&err).as_deref(), Some("evidence_mismatch"));

    // Particulars that differ from the registry's (the face matches): the fields are named.
    let mut misnamed = Wallet::in_memory();
    let mut app = application(&resident);
    app.english_name = format!("{} Junior", resident.english_name);
    misnamed.enrol(&issuer, &app).await?;
    misnamed.set_capture_signer(Some(server.capture_signer(&resident)?));
    let mut ev = evidence(&server, &resident)?;
    ev.english_name = app.english_name.clone();
    let err = misnamed.prove(&ev).await.expect_err("wrong name");
    assert_eq!(reason(&err).as_deref(), Some("particulars_mismatch"));
    let fields: Vec<&str> = err
        .problem()
        .map(|p| p.invalid_params.iter().map(|i| i.name.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["english_name"]);
    let mut misdated = Wallet::in_memory();
    let mut app = application(&resident);
    app.date_of_birth = "1939-12-31".into();
    misdated.enrol(&issuer, &app).await?;
    misdated.set_capture_signer(Some(server.capture_signer(&resident)?));
    let mut ev = evidence(&server, &resident)?;
    ev.date_of_birth = app.date_of_birth.clone();
    let err = misdated.prove(&ev).await.expect_err("wrong date of birth");
    assert_eq!(reason(&err).as_deref(), Some("particulars_mismatch"));

    // An identity card number the registry does not know.
    let mut unknown = Wallet::in_memory();
    let mut app = application(&resident);
    app.hkid = unregistered_hkid(&server);
    unknown.enrol(&issuer, &app).await?;
    unknown.set_capture_signer(Some(server.capture_signer(&resident)?));
    let mut ev = evidence(&server, &resident)?;
    ev.hkid = app.hkid.clone();
    let err = unknown.prove(&ev).await.expect_err("unknown number");
    assert_eq!(reason(&err).as_deref(), Some("no_record"));
    assert_eq!(
        accounts(&server).await?,
        (0, 0),
        "no refusal bound anything"
    );

    // Nobody but the applicant learns anything: without the application's token, or with
    // another application's, every answer is the same 401.
    let http = reqwest::Client::new();
    let application_id = applicant
        .file()
        .application
        .as_ref()
        .expect("application")
        .application_id
        .clone();
    let other_token = unknown
        .file()
        .application
        .as_ref()
        .expect("application")
        .token
        .clone();
    for token in [None, Some(other_token.as_str()), Some("forged")] {
        let mut get = http.get(server.url(&format!("/api/v1/applications/{application_id}")));
        if let Some(token) = token {
            get = get.bearer_auth(token);
        }
        let response = get.send().await?;
        assert_eq!(response.status(), 401);
        let body = response.text().await?;
        assert!(
            !body.contains("face") && !body.contains("mismatch"),
            "{body}"
        );
    }

    // Each refusal, sent step by step over HTTP, changes nothing stored but its used challenge
    // (and the audit trail and attempt counters, which record attempts).
    let mut ev = evidence(&server, &resident)?;
    ev.face_template = server.capture(&server.residents()[2])?;
    let problem = refused_unchanged(&server, &mut applicant, &ev, true).await?;
    assert_eq!(problem.reason.as_deref(), Some("face_mismatch"));
    let mut ev = evidence(&server, &resident)?;
    ev.hkid = unregistered_hkid(&server);
    let problem = refused_unchanged(&server, &mut applicant, &ev, true).await?;
    assert_eq!(problem.reason.as_deref(), Some("evidence_mismatch"));

    // The right face: the account exists at level basic and logs in with acr basic.
    let result = applicant.prove(&evidence(&server, &resident)?).await?;
    assert_eq!((result.level.as_str(), result.recovered), ("basic", false));
    assert_eq!(accounts(&server).await?, (1, 1));
    let state = applicant.status().await?;
    assert_eq!(
        (state.status.as_str(), state.level.as_deref()),
        ("proven", Some("basic"))
    );
    let (_, claims) = login(&server, &rp, &browser, &mut applicant).await?;
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:eid:loa:basic")
    );
    // A proven application cannot be proven again.
    let err = applicant
        .prove(&evidence(&server, &resident)?)
        .await
        .expect_err("proven twice");
    assert_eq!(err.problem().map(|p| p.status), Some(410), "{err}");

    // The audit trail has the refusals with their reasons, and the proofing; sealed details
    // open for the operator, and nothing personal is in the clear columns.
    let provider = server.provider();
    let trail =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    let refused: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "proofing.refused")
        .filter_map(|e| e.detail.reason.clone())
        .collect();
    assert_eq!(
        refused,
        [
            "face_mismatch",
            "particulars_mismatch",
            "particulars_mismatch",
            "no_record",
            "face_mismatch"
        ]
    );
    assert!(trail.iter().any(|e| e.action == "account.created"));
    server.stop().await;
    Ok(())
}

/// The answers to an application for an HKID number that has an account, and for one that
/// has none, are the same: applying tells nobody who is enrolled.
async fn no_enrolment_oracle(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = Url::parse(&server.issuer())?;
    let _holder = proven_wallet(&server, 0).await?;
    let enrolled = application(&server.residents()[0]);
    let not_enrolled = application(&server.residents()[1]);
    let http = reqwest::Client::new();
    let mut shapes = Vec::new();
    for app in [&enrolled, &not_enrolled] {
        let before = server.row_counts().await?;
        let challenge = http
            .post(server.url("/api/v1/enrolments"))
            .json(app)
            .send()
            .await?;
        let status = challenge.status().as_u16();
        let headers: Vec<String> = challenge
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k != "date" && k != "content-length")
            .collect();
        let body: serde_json::Value = challenge.json().await?;
        // The phone answers the challenge as the wallet would.
        let options: eid_proto::api::CreationChallengeResponse =
            serde_json::from_value(body["options"].clone())?;
        let (_, attestation) = eid_wallet::authenticator::make_credential(
            &options,
            issuer.as_str().trim_end_matches('/'),
            None,
        )?;
        let finish = http
            .post(server.url(&format!(
                "/api/v1/enrolments/{}",
                body["ceremony_id"].as_str().unwrap_or_default()
            )))
            .json(&eid_proto::api::RegistrationFinish {
                credential: attestation,
            })
            .send()
            .await?;
        let finish_status = finish.status().as_u16();
        let created: serde_json::Value = finish.json().await?;
        let after = server.row_counts().await?;
        let mut keys: Vec<String> = created
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        let delta: Vec<(&str, i64)> = after
            .iter()
            .zip(&before)
            .map(|((t, a), (_, b))| (*t, a - b))
            .collect();
        shapes.push((
            status,
            headers,
            finish_status,
            keys,
            created["kind"].clone(),
            created["expires_in"].clone(),
            created["reference"].as_str().map(str::len),
            delta,
        ));
    }
    assert_eq!(
        shapes[0], shapes[1],
        "enrolled and unenrolled numbers answer alike"
    );
    assert_eq!(shapes[0].0, 201);
    server.stop().await;
    Ok(())
}

/// A squatter's applications change nothing; the real holder proves themselves and gets (or
/// recovers) the account; recovery revokes the other devices.
async fn squatting_and_recovery(backend: Backend) -> anyhow::Result<()> {
    // A hold of two seconds, so that the recovery takes effect within the test.
    let mut options = with_registry();
    options.proofing.recovery_hold = 2;
    let server = TestServer::start_with(backend, options).await?;
    let issuer = Url::parse(&server.issuer())?;
    let rp = Rp::register(&server, "Department", JwsAlg::Es256).await?;
    let browser = Browser::new();
    let victim = server.residents()[0].clone();

    // A squatter applies with the victim's particulars first, but has not the victim's face.
    let mut squatter = Wallet::in_memory();
    squatter.enrol(&issuer, &application(&victim)).await?;
    squatter.set_capture_signer(Some(server.capture_signer(&victim)?));
    let mut ev = evidence(&server, &victim)?;
    ev.face_template = server.capture(&server.residents()[1])?;
    let err = squatter.prove(&ev).await.expect_err("squatter");
    assert_eq!(reason(&err).as_deref(), Some("face_mismatch"));
    // The real holder applies later and proves: the account is theirs.
    let mut phone_a = proven_wallet(&server, 0).await?;
    let (_, first) = login(&server, &rp, &browser, &mut phone_a).await?;
    // The squatter's application expires without effect.
    let provider = server.provider();
    let later = eid_server::now() + provider.config().application_ttl + 1;
    tokio::task::spawn_blocking(move || provider.purge_expired(later)).await??;
    assert!(
        squatter.status().await.is_err(),
        "the squatter's application is gone"
    );
    assert_eq!(accounts(&server).await?, (1, 1));

    // Phone A is lost: the holder applies again from phone B and proves remotely. The
    // recovery is held: phone A (were it not lost) hears of it and could cancel it. (A second
    // later: what happens in the second a device joins is not news to it.)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut phone_b = applied_wallet(&server, 0).await?;
    let held = phone_b.prove(&evidence(&server, &victim)?).await?;
    assert!(
        held.held_until.is_some() && held.device_id.is_empty(),
        "{held:?}"
    );
    assert_eq!(phone_b.status().await?.status, "held");
    assert_eq!(accounts(&server).await?, (1, 1), "nothing changed yet");
    let notices = phone_a.inbox(3).await?.notices;
    assert!(
        notices.iter().any(|n| n.kind == "recovery_pending"
            && matches!(
                n.undo,
                Some(eid_proto::api::NoticeUndo::CancelRecovery { .. })
            )),
        "{notices:?}"
    );
    // Nobody cancels: once the hold is over, phone B's next look binds it.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let state = phone_b.status().await?;
    assert_eq!(state.status, "proven", "{state:?}");
    assert_ne!(phone_b.device_id(), phone_a.device_id());
    assert_eq!(
        phone_b.citizen_id(),
        phone_a.citizen_id(),
        "the same account, recovered"
    );
    assert_eq!(
        accounts(&server).await?,
        (1, 1),
        "phone A's device is revoked"
    );
    let history = phone_b.history().await?;
    let actions: Vec<&str> = history.events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"account.recovered"), "{actions:?}");
    // The same citizen for the service: the same pairwise subject.
    let (_, again) = login(&server, &rp, &browser, &mut phone_b).await?;
    assert_eq!(again.subject(), first.subject());
    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    // Phone A's assertions are refused now, for logins and for sessions.
    let start_login = rp.start();
    let page = browser.open_login(&server, &start_login.url).await?;
    assert!(
        phone_a.fetch_approval(&page.link).await.is_err(),
        "no session for a revoked device"
    );
    let request = phone_a.fetch_approval_anonymously(&page.link).await?;
    let err = phone_a
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_all(&request, page.number, true),
        )
        .await
        .expect_err("revoked");
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("device-refused"),
        "{err}"
    );
    assert!(phone_a.session().await.is_err());
    server.stop().await;
    Ok(())
}

async fn registry_down_or_slow(backend: Backend) -> anyhow::Result<()> {
    let mut server = start(backend.clone()).await?;
    let resident = server.residents()[0].clone();
    let mut wallet = applied_wallet(&server, 0).await?;
    server.stop_registry().await;
    let err = wallet
        .prove(&evidence(&server, &resident)?)
        .await
        .expect_err("registry down");
    let problem = err.problem().expect("a problem").clone();
    assert_eq!((problem.status, problem.slug()), (503, Some("unavailable")));
    assert!(problem.retry_after.is_some());
    assert!(problem
        .detail
        .unwrap_or_default()
        .contains("try again later"));
    assert_eq!(
        wallet.status().await?.status,
        "open",
        "the application is kept"
    );
    // The registry is back: the same application proves.
    server.start_registry_again().await?;
    let result = wallet.prove(&evidence(&server, &resident)?).await?;
    assert_eq!(result.level, "basic");
    server.stop().await;

    // A registry slower than eid waits for: try again later, nothing changed.
    let mut options = with_registry();
    options.registry_delay = Duration::from_secs(4);
    options.registry_timeout = Duration::from_secs(1);
    let server = TestServer::start_with(backend, options).await?;
    let resident = server.residents()[0].clone();
    let mut wallet = applied_wallet(&server, 0).await?;
    let err = wallet
        .prove(&evidence(&server, &resident)?)
        .await
        .expect_err("registry slow");
    assert_eq!(err.problem().map(|p| p.status), Some(503), "{err}");
    assert_eq!(accounts(&server).await?, (0, 0));
    assert_eq!(wallet.status().await?.status, "open");
    server.stop().await;
    Ok(())
}

async fn proofing_attempts_are_limited(backend: Backend) -> anyhow::Result<()> {
    let mut options = with_registry();
    options.limits.proofing_per_application = "2/1d".parse().map_err(anyhow::Error::msg)?;
    let server = TestServer::start_with(backend, options).await?;
    let resident = server.residents()[0].clone();
    let mut wallet = applied_wallet(&server, 0).await?;
    let mut wrong = evidence(&server, &resident)?;
    wrong.face_template = server.capture(&server.residents()[1])?;
    for _ in 0..2 {
        let err = wallet.prove(&wrong).await.expect_err("wrong face");
        assert_eq!(reason(&err).as_deref(), Some("face_mismatch"));
    }
    // The third attempt is refused before the registry is asked, even with the right face.
    let err = wallet
        .prove(&evidence(&server, &resident)?)
        .await
        .expect_err("limited");
    let problem = err.problem().expect("problem");
    assert_eq!(
        (problem.status, problem.slug()),
        (429, Some("rate-limited"))
    );
    assert!(problem.retry_after.unwrap_or(0) > 0);
    assert_eq!(accounts(&server).await?, (0, 0));
    server.stop().await;
    Ok(())
}

/// Security review 2026-12-07, M3: strangers who name a holder's HKID number and fail (ten
/// junk attempts from two applications) spend their own applications' attempts, not the
/// holder's; the holder with the right face proves at once. Past the number's threshold the
/// failures are audited on its account, naming the number only by its keyed bucket.
async fn strangers_failures_lock_nobody_out(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = Url::parse(&server.issuer())?;
    let victim = server.residents()[0].clone();
    let mut junk = evidence(&server, &victim)?;
    junk.face_template = server.capture(&server.residents()[1])?;
    let limits = server.provider().limits().to_owned();
    let per_application = usize::try_from(limits.proofing_per_application.max)?;
    assert_eq!(
        2 * per_application,
        usize::try_from(limits.proofing_per_hkid.max)?,
        "the review's ten attempts are two applications' worth"
    );
    let mut strangers = Vec::new();
    for _ in 0..2 {
        let mut stranger = Wallet::in_memory();
        stranger.enrol(&issuer, &application(&victim)).await?;
        stranger.set_capture_signer(Some(server.capture_signer(&victim)?));
        for _ in 0..per_application {
            let err = stranger.prove(&junk).await.expect_err("a stranger's face");
            assert_eq!(reason(&err).as_deref(), Some("face_mismatch"));
        }
        // The stranger's application has used up its attempts.
        let err = stranger.prove(&junk).await.expect_err("limited");
        assert_eq!(err.problem().map(|p| p.status), Some(429), "{err}");
        strangers.push(stranger);
    }

    // The holder, with the right face, proves at once.
    let holder = proven_wallet(&server, 0).await?;
    assert_eq!(accounts(&server).await?, (1, 1));

    // One failure more passes the number's threshold: an audit event on the holder's account
    // (so that it shows in their history), naming no number.
    let mut stranger = Wallet::in_memory();
    stranger.enrol(&issuer, &application(&victim)).await?;
    stranger.set_capture_signer(Some(server.capture_signer(&victim)?));
    let err = stranger.prove(&junk).await.expect_err("a stranger's face");
    assert_eq!(reason(&err).as_deref(), Some("face_mismatch"));
    let provider = server.provider();
    let events =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    let alerts: Vec<_> = events
        .iter()
        .filter(|e| e.action == "proofing.hkid_attempts_high")
        .collect();
    assert_eq!(alerts.len(), 1, "once, when the threshold is passed");
    assert_eq!(alerts[0].citizen_id.as_deref(), holder.citizen_id());
    let bucket = alerts[0].detail.bucket.as_deref().unwrap_or_default();
    assert!(bucket.starts_with("proofing-per-hkid:"), "{bucket}");
    let digits: String = victim
        .hkid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    assert!(!bucket.contains(&digits[1..7]), "{bucket}");
    // The holder's account is untouched; the strangers' attempts are over for the day.
    assert_eq!(accounts(&server).await?, (1, 1));
    for mut stranger in strangers {
        let err = stranger
            .prove(&evidence(&server, &victim)?)
            .await
            .expect_err("even with the right face, this application is spent");
        assert_eq!(err.problem().map(|p| p.status), Some(429), "{err}");
    }
    server.stop().await;
    Ok(())
}

/// A stand-in registry that publishes `published` and signs its (always matching) verdicts
/// with `signer`.
fn stand_in_registry(
    published: p256::ecdsa::SigningKey,
    signer: p256::ecdsa::SigningKey,
) -> anyhow::Result<(Url, actix_web::dev::ServerHandle)> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let jwks = eid_proto::oauth::Jwks {
        keys: vec![eid_core::jose::es256_jwk("k", published.verifying_key())],
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = Url::parse(&format!("http://{}", listener.local_addr()?))?;
    let id = url.as_str().trim_end_matches('/').to_owned();
    let server = HttpServer::new(move || {
        let (jwks, signer, id) = (jwks.clone(), signer.clone(), id.clone());
        App::new()
            .route(
                "/jwks",
                web::get().to(move || {
                    let jwks = jwks.clone();
                    async move { HttpResponse::Ok().json(jwks) }
                }),
            )
            .route(
                "/v1/verifications",
                web::post().to(move |body: web::Bytes| {
                    let (signer, id) = (signer.clone(), id.clone());
                    async move {
                        let query = String::from_utf8_lossy(&body).to_string();
                        let claims: serde_json::Value = serde_json::from_slice(
                            &eid_core::crypto::b64url_decode(query.split('.').nth(1).unwrap_or(""))
                                .unwrap_or_default(),
                        )
                        .unwrap_or_default();
                        let verdict = serde_json::json!({
                            "iss": id, "aud": claims["iss"], "iat": claims["iat"],
                            "in_response_to": claims["jti"], "found": true,
                            "face_similarity": 0.99, "english_name_matches": true,
                            "date_of_birth_matches": true,
                            "record": {"hkid": claims["hkid"], "english_name": claims["english_name"],
                                       "date_of_birth": claims["date_of_birth"], "gender": "M"}
                        });
                        HttpResponse::Ok().body(eid_core::jose::sign_es256(
                            &signer,
                            "k",
                            eid_proto::registry::VERDICT_TYPE,
                            &verdict,
                        ))
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((url, handle))
}

/// A verdict eid cannot verify (signed with a key the registry does not publish) is not
/// believed: try again later, nothing bound. The same stand-in signing with its published key
/// is believed (so the refusal was the signature's). And the registry refuses a query eid did
/// not sign.
async fn signatures_are_checked_both_ways(backend: Backend) -> anyhow::Result<()> {
    let published = p256::ecdsa::SigningKey::from_slice(&[1u8; 32])?;
    let other = p256::ecdsa::SigningKey::from_slice(&[2u8; 32])?;
    for (signer, believed) in [(other, false), (published.clone(), true)] {
        let (url, handle) = stand_in_registry(published.clone(), signer)?;
        let options = TestOptions {
            registry_url: Some(url),
            ..TestOptions::default()
        };
        let server = TestServer::start_with(backend.clone(), options).await?;
        let resident = server.residents()[0].clone();
        let mut wallet = applied_wallet(&server, 0).await?;
        let outcome = wallet.prove(&evidence(&server, &resident)?).await;
        if believed {
            assert_eq!(outcome?.level, "basic");
            assert_eq!(accounts(&server).await?, (1, 1));
        } else {
            let err = outcome.expect_err("forged verdict");
            assert_eq!(err.problem().map(|p| p.status), Some(503), "{err}");
            assert_eq!(accounts(&server).await?, (0, 0));
        }
        server.stop().await;
        handle.stop(false).await;
    }

    // The real registry refuses a query signed with a key eid does not publish.
    let server = start(backend).await?;
    let stranger = p256::ecdsa::SigningKey::from_slice(&[3u8; 32])?;
    let query = serde_json::json!({
        "iss": server.issuer(), "aud": "anyone", "iat": eid_server::now(),
        "exp": eid_server::now() + 60, "jti": "x", "hkid": "A1234563",
        "english_name": "X", "date_of_birth": "1990-01-01", "face_template": [0.1],
        "min_face_similarity": 0.1
    });
    let kid = server.provider().connector_jwks().keys[0].kid.clone();
    let forged_query =
        eid_core::jose::sign_es256(&stranger, &kid, eid_proto::registry::QUERY_TYPE, &query);
    let registry = server.registry_url().expect("registry");
    let response = reqwest::Client::new()
        .post(registry.join("v1/verifications")?)
        .body(forged_query)
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    server.stop().await;
    Ok(())
}

on_every_backend!(
    remote_proofing_binds_only_a_proven_applicant,
    remote_proofing
);
on_every_backend!(
    applying_reveals_nothing_about_enrolment,
    no_enrolment_oracle
);
on_every_backend!(
    the_real_holder_recovers_a_squatted_or_lost_account,
    squatting_and_recovery
);
on_every_backend!(a_registry_down_or_slow_loses_nothing, registry_down_or_slow);
on_every_backend!(
    proofing_attempts_are_rate_limited,
    proofing_attempts_are_limited
);
on_every_backend!(
    strangers_failed_proofing_locks_out_no_holder,
    strangers_failures_lock_nobody_out
);
on_every_backend!(
    registry_signatures_are_verified_both_ways,
    signatures_are_checked_both_ways
);

/// H2: remote proofing believes only a capture its capture component signed, under the
/// deployment's capture roots, for this very ceremony, judged live. Each refusal changes
/// nothing but the attempt's record.
async fn signed_captures(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let resident = server.residents()[0].clone();
    let mut applicant = applied_wallet(&server, 0).await?;

    // A template nobody signed (computed from a photo, say).
    let mut unsigned = Wallet::in_memory();
    unsigned
        .enrol(&Url::parse(&server.issuer())?, &application(&resident))
        .await?;
    let err = unsigned
        .prove(&evidence(&server, &resident)?)
        .await
        .expect_err("unsigned");
    assert_eq!(reason(&err).as_deref(), Some("unsigned_capture"), "{err}");
    assert_eq!(accounts(&server).await?, (0, 0));
    let problem = refused_unchanged(
        &server,
        &mut applicant,
        &evidence(&server, &resident)?,
        false,
    )
    .await?;
    assert_eq!(problem.reason.as_deref(), Some("unsigned_capture"));

    // Signed by a capture key under another root (another sandbox's).
    let elsewhere = tempfile::tempdir()?;
    population_registry::generate(elsewhere.path(), 1, 7)?;
    let foreign: population_registry::Capture = serde_json::from_slice(&std::fs::read(
        elsewhere
            .path()
            .join(population_registry::CAPTURES_DIR)
            .join(format!("{}.json", foreign_stem(elsewhere.path())?)),
    )?)?;
    let foreign = eid_wallet::CaptureSigner::from_file(&foreign)?.expect("a capture key");
    let mut ev = evidence(&server, &resident)?;
    ev.capture = Some(foreign.sign(&[0; 32], &ev.face_template));
    ev.face_template.clear();
    let problem = refused_unchanged(&server, &mut applicant, &ev, true).await?;
    assert_eq!(problem.reason.as_deref(), Some("capture_refused"));

    // The sandbox's own key, but over another ceremony's nonce (a capture replayed).
    let signer = server.capture_signer(&resident)?;
    let mut ev = evidence(&server, &resident)?;
    ev.capture = Some(signer.sign(&[7; 32], &ev.face_template));
    ev.face_template.clear();
    let problem = refused_unchanged(&server, &mut applicant, &ev, true).await?;
    assert_eq!(problem.reason.as_deref(), Some("capture_refused"));

    // The component judged the capture a spoof (a screen held up to the camera).
    applicant.set_capture_signer(Some(signer.clone().with_liveness("spoof")));
    let err = applicant
        .prove(&evidence(&server, &resident)?)
        .await
        .expect_err("spoof");
    assert_eq!(reason(&err).as_deref(), Some("capture_refused"), "{err}");
    assert_eq!(accounts(&server).await?, (0, 0));

    // A live capture for this ceremony, signed under the roots: proven.
    applicant.set_capture_signer(Some(signer));
    let result = applicant.prove(&evidence(&server, &resident)?).await?;
    assert_eq!(result.level, "basic");
    assert_eq!(accounts(&server).await?, (1, 1));
    server.stop().await;
    Ok(())
}

/// The one capture file in a generated residents directory.
fn foreign_stem(dir: &std::path::Path) -> anyhow::Result<String> {
    let entry = std::fs::read_dir(dir.join(population_registry::CAPTURES_DIR))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("no capture"))??;
    Ok(entry
        .path()
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned())
}

on_every_backend!(
    only_signed_live_captures_of_this_ceremony_prove,
    signed_captures
);
