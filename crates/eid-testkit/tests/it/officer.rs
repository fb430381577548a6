//! In-person proofing through the officer console, over HTTP on its own listener: the
//! officer's one-time enrolment link and security key (the wallet's authenticator plays it),
//! sign-in, finding an application by reference, CSRF-protected decisions, level `plus` in the
//! next ID token, upgrades, rejections, `acr_values` refused when the account is below them,
//! and the audit trail of it all.

use eid_core::attestation::{AttestationPolicy, KeyProtection, OfficerKeyPolicy};
use eid_core::keys::JwsAlg;
use eid_core::time::UnixTime;
use eid_proto::api::{EnrolmentRequest, UpgradeRequest};
use eid_testkit::attestation::TestAttestationRoot;
use eid_testkit::officer::confirm_officer;
use eid_testkit::{Backend, TestOptions, TestServer};
use eid_wallet::Wallet;
use url::Url;

use crate::support::*;

async fn in_person(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Example Bank", JwsAlg::Rs256).await?;
    let browser = Browser::new();

    // Without a session the console sends the officer to sign in.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    for path in ["/", "/applications?reference=K7Q2-M9XD"] {
        let response = anonymous.get(server.admin_url(path)).send().await?;
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(location(&response)?, "/login");
    }

    // The administrator creates an officer; the one-time link registers their key.
    let (officer_id, token) = add_officer(&server, "WONG Officer").await?;
    let mut officer = Officer::enrol(&server, &token).await?;
    let reused = anonymous
        .post(server.admin_url(&format!("/enrol/{token}/challenge")))
        .json(&serde_json::json!({}))
        .send()
        .await?;
    assert_eq!(reused.status(), 410, "the link works once");
    let signed_in = officer.sign_in(&server).await?;
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain="), "host-only: {cookie}");

    // A citizen applies on their phone and shows the reference at the counter.
    let resident = server.residents()[0].clone();
    let mut wallet = applied_wallet(&server, 0).await?;
    let reference = wallet
        .file()
        .application
        .as_ref()
        .expect("application")
        .reference
        .clone();
    // Typed as read aloud: lower case, no dash.
    let (html, id, csrf) = officer
        .review(&server, &reference.to_lowercase().replace('-', ""))
        .await?;
    assert!(
        html.contains(&resident.english_name),
        "the particulars to compare"
    );
    assert!(html.contains(&resident.chinese_name));
    assert!(!id.is_empty() && !csrf.is_empty());

    // A forged CSRF token and an approval without the card are refused; nothing changes.
    let (status, _) = unchanged!(
        server,
        officer
            .decide(
                &server,
                &id,
                &[
                    ("csrf_token", "forged"),
                    ("decision", "approve"),
                    ("evidence_hkid_card", "on"),
                ],
            )
            .await?
    );
    assert_eq!(status, 400);
    let (status, _) = unchanged!(
        server,
        officer
            .decide(
                &server,
                &id,
                &[("csrf_token", &csrf), ("decision", "approve")]
            )
            .await?
    );
    assert_eq!(status, 400);
    // Another browser without the officer's session cannot decide.
    let response = anonymous
        .post(server.admin_url(&format!("/applications/{id}/decision")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("decision", "approve"),
            ("evidence_hkid_card", "on"),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), 303);
    assert_eq!(wallet.status().await?.status, "open");

    // The applicant's phone answers the code the review page shows.
    let code = counter_code(&html).expect("the review page shows a code for the phone");
    wallet.answer_counter(&code).await?;

    // Approved with the card checked: the account is at level plus, and the next ID token says so.
    let (status, page) = officer
        .decide(
            &server,
            &id,
            &[
                ("csrf_token", &csrf),
                ("decision", "approve"),
                ("evidence_hkid_card", "on"),
            ],
        )
        .await?;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved"));
    let state = wallet.status().await?;
    assert_eq!(
        (state.status.as_str(), state.level.as_deref()),
        ("proven", Some("plus"))
    );
    let (_, claims) = login_with(
        &server,
        &rp,
        &browser,
        &mut wallet,
        &[("acr_values", "urn:eid:loa:plus")],
    )
    .await?;
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:eid:loa:plus")
    );
    // Deciding again is refused.
    let (status, _) = officer
        .decide(
            &server,
            &id,
            &[
                ("csrf_token", &csrf),
                ("decision", "reject"),
                ("reason", "other"),
            ],
        )
        .await?;
    assert_eq!(status, 410);

    // A basic account: a service asking for plus is refused with the OIDC error, not
    // downgraded; the phone is told why.
    let mut basic = proven_wallet(&server, 1).await?;
    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    let start_plus = rp.start();
    let url = with_param(&start_plus.url, "acr_values", Some("urn:eid:loa:plus"));
    let page = browser.open_login(&server, &url).await?;
    let request = basic.fetch_approval(&page.link).await?;
    assert_eq!(request.required_level.as_deref(), Some("plus"));
    let err = basic
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_all(&request, page.number, false),
        )
        .await
        .expect_err("below the requested level");
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("level-too-low"),
        "{err}"
    );
    let Next::Redirect(to) = browser.after_approval(&server, &page.url).await? else {
        panic!("the browser goes back to the service");
    };
    let error = to
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned());
    assert_eq!(error.as_deref(), Some("unmet_authentication_requirements"));
    assert!(to.query_pairs().all(|(k, _)| k != "code"));

    // The basic account asks for an upgrade; the officer checks the card and a proof of
    // address: plus, and the address becomes a claim the service can receive.
    let second = server.residents()[1].clone();
    let upgrade = basic
        .request_upgrade(&UpgradeRequest {
            english_name: second.english_name.clone(),
            chinese_name: Some(second.chinese_name.clone()),
            date_of_birth: second.date_of_birth.clone(),
            gender: second.gender.clone(),
            hkid: second.hkid.clone(),
            address: Some("2 Garden Road, Central".into()),
        })
        .await?;
    assert_eq!(upgrade.kind, "upgrade");
    let (html, id, csrf) = officer
        .review_with_phone(&server, &upgrade.reference, &mut basic)
        .await?;
    assert!(html.contains("2 Garden Road"));
    let (status, page) = officer
        .decide(
            &server,
            &id,
            &[
                ("csrf_token", &csrf),
                ("decision", "approve"),
                ("evidence_hkid_card", "on"),
                ("evidence_proof_of_address", "on"),
            ],
        )
        .await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(basic.account().await?.level.as_deref(), Some("plus"));
    let (tokens, claims) = login_with(
        &server,
        &rp,
        &browser,
        &mut basic,
        &[
            ("acr_values", "urn:eid:loa:plus"),
            ("scope", "openid profile address"),
        ],
    )
    .await?;
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:eid:loa:plus")
    );
    let info = rp.userinfo(&tokens, &claims).await?;
    let address = info
        .address()
        .and_then(|a| a.formatted.as_ref())
        .map(|f| f.as_str().to_owned());
    assert_eq!(address.as_deref(), Some("2 Garden Road, Central"));
    // An upgrade for another card's number is refused.
    let mut wrong = UpgradeRequest {
        english_name: second.english_name.clone(),
        chinese_name: None,
        date_of_birth: second.date_of_birth.clone(),
        gender: second.gender.clone(),
        hkid: resident.hkid.clone(),
        address: None,
    };
    let err = basic
        .request_upgrade(&wrong)
        .await
        .expect_err("another card");
    assert_eq!(err.problem().map(|p| p.status), Some(400));
    wrong.hkid = second.hkid.clone();

    // A rejection: the applicant's app shows the reason.
    let mut rejected = applied_wallet(&server, 2).await?;
    let reference = rejected
        .file()
        .application
        .as_ref()
        .expect("application")
        .reference
        .clone();
    let (_, id, csrf) = officer.review(&server, &reference).await?;
    let (status, _) = officer
        .decide(
            &server,
            &id,
            &[
                ("csrf_token", &csrf),
                ("decision", "reject"),
                ("reason", "card_mismatch"),
            ],
        )
        .await?;
    assert_eq!(status, 200);
    let state = rejected.status().await?;
    assert_eq!(
        (state.status.as_str(), state.rejection.as_deref()),
        ("rejected", Some("card_mismatch"))
    );

    // Every officer action is in the audit trail: who, which application, which evidence.
    let provider = server.provider();
    let trail =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    let by_officer: Vec<(&str, Vec<String>)> = trail
        .iter()
        .filter(|e| e.actor_id.as_deref() == Some(officer_id.as_str()))
        .map(|e| (e.action.as_str(), e.detail.evidence.clone()))
        .collect();
    for action in [
        "officer.key_registered",
        "officer.signed_in",
        "application.viewed",
        "application.proven",
        "application.rejected",
    ] {
        assert!(
            by_officer.iter().any(|(a, _)| *a == action),
            "{action} missing from {by_officer:?}"
        );
    }
    assert!(by_officer.iter().any(|(a, ev)| *a == "application.proven"
        && ev == &["hkid_card".to_owned(), "proof_of_address".to_owned()]));

    // Signing out ends the session; a removed officer's key no longer signs in.
    let home = officer
        .http
        .get(server.admin_url("/"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = between(&home, "name=\"csrf_token\" value=\"", "\"")
        .unwrap_or_default()
        .to_owned();
    let out = officer
        .http
        .post(server.admin_url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(out.status(), 303);
    assert_eq!(
        officer
            .http
            .get(server.admin_url("/"))
            .send()
            .await?
            .status(),
        303
    );
    let provider = server.provider();
    tokio::task::spawn_blocking(move || provider.remove_officer(&officer_id, eid_server::now()))
        .await??;
    let refused = officer.sign_in(&server).await?;
    assert_eq!(refused.status(), 403);
    server.stop().await;
    Ok(())
}

on_every_backend!(
    an_officer_proves_applicants_in_person_at_level_plus,
    in_person
);

/// The review's M4: an application made with a victim's particulars on someone else's phone,
/// whose reference the victim (or a mule) shows at the counter. The officer compares the card
/// and the person, but only the phone that applied can answer the counter's code, and without
/// that answer nothing can be approved: the phone that is at the counter is the phone that
/// gets the account.
async fn counter(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let (officer_id, token) = add_officer(&server, "CHEUNG Officer").await?;
    let mut officer = Officer::enrol(&server, &token).await?;
    assert_eq!(officer.sign_in(&server).await?.status(), 200);

    // The victim has an account on her own phone; the fraudster applies with her particulars
    // on his.
    let mut victim = proven_wallet(&server, 0).await?;
    let mut fraudster = Wallet::in_memory();
    fraudster
        .enrol(
            &Url::parse(&server.issuer())?,
            &EnrolmentRequest {
                device_name: "Mallory's phone".into(),
                ..application(&server.residents()[0])
            },
        )
        .await?;
    let reference = fraudster
        .file()
        .application
        .as_ref()
        .expect("application")
        .reference
        .clone();

    // The victim, lured, shows that reference and her card at the counter. The review page
    // names the phone that applied and its key, shows a code (and a QR code of its URL), and
    // offers no approval until that phone answers.
    let (html, id, csrf) = officer.review(&server, &reference).await?;
    assert!(html.contains("Mallory&#39;s phone"), "{html}");
    assert!(html.contains("software key"), "{html}");
    assert!(
        html.contains("id=\"recovery\""),
        "approving would recover her account"
    );
    let code = counter_code(&html).expect("a code for the phone");
    assert!(html.contains("<svg"), "a QR code");
    assert!(
        html.contains("value=\"approve\" disabled"),
        "the approve button waits for the phone"
    );
    let approve = [
        ("csrf_token", csrf.as_str()),
        ("decision", "approve"),
        ("evidence_hkid_card", "on"),
    ];
    // Approving anyway is refused, and nothing changes.
    let (status, page) = unchanged!(server, officer.decide(&server, &id, &approve).await?);
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("has not answered"), "{page}");

    // Her own phone, at the counter, answers the code: it did not apply, so it does not count
    // (her wallet, being proven, does not check the reference; the server does).
    let challenge = victim.fetch_counter(&code).await?;
    assert_eq!(challenge.reference, reference);
    let submission = victim.sign_counter(&challenge)?;
    let err = unchanged!(
        server,
        victim
            .post_counter_answer(&code, &submission)
            .await
            .expect_err("a phone that did not apply")
    );
    assert_eq!(err.problem().map(|p| p.status), Some(403), "{err}");
    // So does another applicant's phone; its own wallet refuses first, a reference not its own.
    let mut other = applied_wallet(&server, 1).await?;
    let err = other
        .answer_counter(&code)
        .await
        .expect_err("another application's reference");
    assert!(
        err.to_string()
            .contains("show the officer your own reference"),
        "{err}"
    );
    let submission = other.sign_counter(&other.fetch_counter(&code).await?)?;
    let err = unchanged!(
        server,
        other
            .post_counter_answer(&code, &submission)
            .await
            .expect_err("another application's phone")
    );
    assert_eq!(err.problem().map(|p| p.status), Some(403), "{err}");
    // A decision naming another application is refused before any key is looked at.
    let mut forged = fraudster.fetch_counter(&code).await?;
    forged.reference = "K7Q2-M9XD".into();
    let submission = fraudster.sign_counter(&forged)?;
    let err = unchanged!(
        server,
        fraudster
            .post_counter_answer(&code, &submission)
            .await
            .expect_err("another reference signed")
    );
    assert_eq!(err.problem().map(|p| p.status), Some(400), "{err}");
    // None of that counted.
    let (status, _) = unchanged!(server, officer.decide(&server, &id, &approve).await?);
    assert_eq!(status, 409);
    assert_eq!(fraudster.status().await?.status, "open");
    assert_eq!(victim.account().await?.level.as_deref(), Some("basic"));

    // Only the phone that applied can answer, and it is the one the account would land on:
    // the officer sees its name. (Here it answers; a fraudster must be at the counter to.)
    let answered = fraudster.answer_counter(&code).await?;
    assert_eq!(answered.reference, reference);
    assert_eq!(answered.device_name, "Mallory's phone");
    // The code works once.
    let err = fraudster
        .answer_counter(&code)
        .await
        .expect_err("a used code");
    assert_eq!(err.problem().map(|p| p.status), Some(410), "{err}");
    let (html, _, _) = officer.review(&server, &reference).await?;
    assert!(html.contains("id=\"phone-present\""), "{html}");
    assert!(!html.contains("value=\"approve\" disabled"), "{html}");
    assert!(counter_code(&html).is_none());

    // Another officer's approval does not count this officer's answer; nor does one after the
    // presence window (ten minutes).
    let (_, token) = add_officer(&server, "LEE Officer").await?;
    let mut colleague = Officer::enrol(&server, &token).await?;
    assert_eq!(colleague.sign_in(&server).await?.status(), 200);
    let (_, _, colleague_csrf) = colleague.review(&server, &reference).await?;
    let (status, _) = colleague
        .decide(
            &server,
            &id,
            &[
                ("csrf_token", colleague_csrf.as_str()),
                ("decision", "approve"),
                ("evidence_hkid_card", "on"),
            ],
        )
        .await?;
    assert_eq!(status, 409);
    let provider = server.provider();
    let officer_record = provider
        .officers()?
        .into_iter()
        .find(|o| o.officer_id == officer_id)
        .expect("the officer");
    let session = eid_core::officers::OfficerSession {
        officer: officer_record,
        csrf_token: "t".into(),
    };
    let later = eid_server::now() + provider.config().counter_presence_window + 1;
    let (p, s, i) = (provider.clone(), session.clone(), id.clone());
    let refused = unchanged!(
        server,
        tokio::task::spawn_blocking(move || p.decide_application(
            &s,
            &i,
            "t",
            &eid_core::officers::Decision::Approve(vec![eid_core::officers::Evidence::HkidCard]),
            later,
        ))
        .await?
    );
    assert!(
        matches!(refused, Err(eid_core::Error::Conflict(_))),
        "{refused:?}"
    );

    // Within the window, this officer approves; the account lands on the phone that answered.
    let (status, page) = officer.decide(&server, &id, &approve).await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(fraudster.status().await?.level.as_deref(), Some("plus"));

    // The answer is in the audit trail, with the officer it answered.
    let provider = server.provider();
    let trail =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    assert!(trail
        .iter()
        .any(|e| e.action == "application.device_present"
            && e.detail.officer_id.as_deref() == Some(officer_id.as_str())));
    server.stop().await;
    Ok(())
}

on_every_backend!(
    an_officer_approves_only_after_the_applying_phone_answers_at_the_counter,
    counter
);

/// The review's M5: an enrolment link is a bearer secret, so what it registers must be an
/// attested hardware key, and it signs in nobody until an operator confirms it by the
/// fingerprint the officer reads out; a new link replaces the key instead of adding one.
async fn officer_keys(backend: Backend) -> anyhow::Result<()> {
    let root = TestAttestationRoot::generate()?;
    let stranger = TestAttestationRoot::generate()?;
    let server = TestServer::start_with(
        backend,
        TestOptions {
            officers: OfficerKeyPolicy {
                roots: Some(AttestationPolicy::roots_from_pem(&root.pem())?),
                danger_accept_software_keys: false,
            },
            ..TestOptions::default()
        },
    )
    .await?;
    let security_key = root.authenticator("eid test security key", [7; 16])?;
    let unknown_maker = stranger.authenticator("unknown security key", [8; 16])?;
    let (officer_id, token) = add_officer(&server, "WONG Officer").await?;

    // A software key (the review registered a Python one) or a key of a maker not on the
    // officers' list does not register; the link still works.
    for refused in [None, Some(&unknown_maker)] {
        let err = Officer::register(&server, &token, refused)
            .await
            .err()
            .expect("an unattested key is refused");
        assert!(err.to_string().contains("403"), "{err}");
    }
    // An attested security key registers; the console shows its fingerprint.
    let (mut officer, registered) = Officer::register(&server, &token, Some(&security_key)).await?;
    assert_eq!(registered.key, "hardware");
    let provider = server.provider();
    let keys = provider.officer_keys(&officer_id)?;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].fingerprint, registered.fingerprint);
    assert!(keys[0].confirmed_at.is_none());
    assert!(
        matches!(&keys[0].protection, KeyProtection::Hardware { root } if root.contains("eid test attestation root")),
        "{:?}",
        keys[0].protection
    );

    // Until an operator confirms it, the key signs in nobody: whoever used the link (the
    // officer, or whoever intercepted it) can decide nothing.
    let refused = officer.sign_in(&server).await?;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        officer
            .http
            .get(server.admin_url("/"))
            .send()
            .await?
            .status(),
        303
    );
    // The operator confirms only with the fingerprint the officer reads out (typed any way).
    assert!(confirm_officer(&server, &officer_id, "0000-0000")
        .await
        .is_err());
    let confirmed = confirm_officer(
        &server,
        &officer_id,
        &registered.fingerprint.to_lowercase().replace('-', ""),
    )
    .await?;
    assert!(confirmed.confirmed_at.is_some());
    assert!(
        confirm_officer(&server, &officer_id, &registered.fingerprint)
            .await
            .is_err(),
        "nothing waits any more"
    );
    // Now it signs in and decides.
    assert_eq!(officer.sign_in(&server).await?.status(), 200);
    let mut applicant = applied_wallet(&server, 0).await?;
    let reference = applicant
        .file()
        .application
        .as_ref()
        .expect("application")
        .reference
        .clone();
    let (status, page) = officer
        .approve_with_phone(&server, &reference, &mut applicant)
        .await?;
    assert_eq!(status, 200, "{page}");

    // A new link replaces the key: the old key and its session stop at once, and the old
    // link is dead too.
    let (p, id) = (server.provider(), officer_id.clone());
    let invite =
        tokio::task::spawn_blocking(move || p.invite_officer(&id, eid_server::now())).await??;
    assert_eq!(invite.revoked_keys, 1);
    assert_eq!(
        officer
            .http
            .get(server.admin_url("/"))
            .send()
            .await?
            .status(),
        303,
        "the session ended with its key"
    );
    assert_eq!(officer.sign_in(&server).await?.status(), 403);
    assert!(Officer::register(&server, &token, Some(&security_key))
        .await
        .is_err());
    assert!(provider.officer_keys(&officer_id)?.is_empty());
    // The new key waits for confirmation like the first.
    let (mut replacement, registered) =
        Officer::register(&server, &invite.invite_token, Some(&security_key)).await?;
    assert_eq!(replacement.sign_in(&server).await?.status(), 403);
    confirm_officer(&server, &officer_id, &registered.fingerprint).await?;
    assert_eq!(replacement.sign_in(&server).await?.status(), 200);
    let keys = provider.officer_keys(&officer_id)?;
    assert_eq!(keys.len(), 1, "keys do not accumulate");
    assert_eq!(keys[0].fingerprint, registered.fingerprint);

    // Every change to the officer's keys is in the audit trail.
    let trail =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    let about: Vec<(&str, Option<&str>)> = trail
        .iter()
        .filter(|e| {
            e.actor_id.as_deref() == Some(officer_id.as_str())
                || e.detail.officer_id.as_deref() == Some(officer_id.as_str())
        })
        .filter(|e| e.action.starts_with("officer.key_"))
        .map(|e| (e.action.as_str(), e.detail.reason.as_deref()))
        .collect();
    assert_eq!(
        about,
        [
            ("officer.key_registered", None),
            ("officer.key_confirmed", None),
            ("officer.key_revoked", Some("replaced")),
            ("officer.key_registered", None),
            ("officer.key_confirmed", None),
        ]
    );
    assert!(trail.iter().any(|e| e.action == "officer.key_registered"
        && e.detail
            .attestation
            .as_deref()
            .is_some_and(|a| a.contains("eid test attestation root"))));
    server.stop().await;
    Ok(())
}

on_every_backend!(
    officer_keys_are_attested_confirmed_by_an_operator_and_replaced_not_added,
    officer_keys
);
