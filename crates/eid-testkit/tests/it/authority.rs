//! Authority per credential (docs/security.md, "Authority"), over HTTP: the reproductions of
//! the 2026-12-07 security review (C1, H1) and the cells of the table they exercise. Each
//! refusal is checked to change nothing.

use base64::Engine as _;
use eid_core::attestation::{AttestationPolicy, MinKeyProtection};
use eid_core::keys::JwsAlg;
use eid_testkit::attestation::TestAttestationRoot;
use eid_testkit::{Backend, TestOptions, TestServer};
use eid_wallet::authenticator::{get_assertion, Credential};
use eid_wallet::Wallet;

use crate::passkeys::{
    account_csrf, account_page, add_passkey, create_passkey, phone_approves_passkey,
    start_adding_passkey,
};
use crate::support::*;

pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Whether a response set the single sign-on cookie.
fn sets_session(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap_or_default().starts_with("eid_session="))
}

/// The phone answers a login page, as the citizen decides: share all, remember, and sign that
/// browser in to eid only if `stay_signed_in`.
pub(crate) async fn phone_answers(
    wallet: &mut Wallet,
    page: &LoginPage,
    stay_signed_in: bool,
) -> anyhow::Result<()> {
    let request = wallet.fetch_approval(&page.link).await?;
    anyhow::ensure!(request.offers_sign_in, "a login offers signing in");
    let decision = eid_wallet::approve_all(&request, page.number, true);
    let decision = if stay_signed_in {
        eid_wallet::staying_signed_in(decision)
    } else {
        decision
    };
    let result = wallet.answer(&request, &page.link, &decision).await?;
    anyhow::ensure!(result.status == "approved", "phone: {}", result.status);
    Ok(())
}

/// A passkey tries to open a wallet session; the answer's status.
pub(crate) async fn passkey_wallet_session(
    server: &TestServer,
    credential: &mut Credential,
) -> anyhow::Result<u16> {
    let http = reqwest::Client::new();
    let challenge: eid_proto::api::SessionChallenge = http
        .post(server.url("/api/v1/device-sessions"))
        .send()
        .await?
        .json()
        .await?;
    let assertion = get_assertion(credential, &challenge.options, &server.issuer())?;
    Ok(http
        .post(server.url(&format!(
            "/api/v1/device-sessions/{}",
            challenge.ceremony_id
        )))
        .json(&serde_json::json!({ "credential": assertion }))
        .send()
        .await?
        .status()
        .as_u16())
}

/// A passkey answers another browser's login through the phone's API (cross-device).
pub(crate) async fn passkey_answers_cross_device(
    server: &TestServer,
    credential: &mut Credential,
    page: &LoginPage,
) -> anyhow::Result<u16> {
    let http = reqwest::Client::new();
    let request: eid_proto::api::ApprovalRequest =
        http.get(&page.link).send().await?.json().await?;
    let decision = eid_wallet::approve_all(&request, page.number, false);
    let bytes = serde_json::to_vec(&decision)?;
    let mut options = request.options.clone();
    let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
    options.public_key.challenge =
        eid_wallet::committed_challenge("eid-approval", &nonce, &bytes).to_vec();
    let assertion = get_assertion(credential, &options, &server.issuer())?;
    Ok(http
        .post(server.url(&format!("/api/v1/approvals/{}", request.request_id)))
        .json(&serde_json::json!({ "decision": b64(&bytes), "credential": assertion }))
        .send()
        .await?
        .status()
        .as_u16())
}

/// C1, reproduction 1: one relayed phone approval. Without "stay signed in" the relayer's
/// browser gets that login and no session; even with it, the session adds no passkey (the
/// phone must approve that action by name), and a passkey manages nothing.
async fn relayed_approval(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Housing Department", JwsAlg::Es256).await?;
    let other = Rp::register(&server, "Tax Office", JwsAlg::Es256).await?;
    let mut victim = proven_wallet(&server, 0).await?;
    // The victim used the Tax Office before, in their own browser (standing consent).
    login(&server, &other, &Browser::new(), &mut victim).await?;

    // The attacker relays a Housing Department login; the victim approves it.
    let attacker = Browser::new();
    let page = attacker.open_login(&server, &rp.start().url).await?;
    // What the phone reads: the operator registered this service (not self-registered).
    let view = victim.fetch_approval_view(&page.link).await?;
    assert!(view.service_verified);
    assert_eq!(view.request.service.name, "Housing Department");
    phone_answers(&mut victim, &page, false).await?;
    let Next::Approved { action, csrf, .. } = attacker.after_approval(&server, &page.url).await?
    else {
        anyhow::bail!("no approval shown");
    };
    let continued = attacker.answer(&action, &csrf, "continue").await?;
    assert_eq!(continued.status(), 303);
    assert!(location(&continued)?.contains("code="), "the one login");
    assert!(!sets_session(&continued), "no eid session for the relayer");
    // Nothing else: no account page, no silent login elsewhere, no passkey.
    let account = account_page(&attacker, &server).await?;
    assert!(
        !account.contains("csrf_token"),
        "the account page is not the relayer's"
    );
    let mut silent = other.start();
    silent.url = with_param(&silent.url, "prompt", Some("none"));
    let refused = attacker.http.get(silent.url.clone()).send().await?;
    assert!(location(&refused)?.contains("error=login_required"));
    let not_signed_in = unchanged!(server, start_adding_passkey(&attacker, &server).await?);
    assert_eq!(
        not_signed_in.err(),
        Some(200),
        "the sign-in page, nothing started"
    );

    // The worst case: the victim also chose "stay signed in" on a relayed approval. The
    // session answers silent logins, but adds no passkey: a fresh login approval counts for
    // nothing, and the action's own approval names the relayer's browser on the phone.
    let page = attacker.open_login(&server, &rp.start().url).await?;
    phone_answers(&mut victim, &page, true).await?;
    continue_login(&server, &attacker, &page.url).await?;
    let csrf = account_csrf(&attacker, &server).await?;
    let (_, status) = unchanged!(
        server,
        create_passkey(&attacker, &server, &csrf, "a-guessed-ceremony").await?
    );
    assert_eq!(status, 410);
    let old_form = unchanged!(
        server,
        attacker
            .http
            .post(server.url("/account/passkeys/options"))
            .json(&serde_json::json!({"csrf_token": csrf, "name": "Office PC"}))
            .send()
            .await?
    );
    assert!(old_form.status().is_client_error());
    let page = start_adding_passkey(&attacker, &server)
        .await?
        .map_err(|s| anyhow::anyhow!("{s}"))?;
    let request = victim.fetch_approval(&page.link).await?;
    let purpose = request
        .purpose
        .clone()
        .expect("the phone is told the action");
    assert!(
        purpose.en.starts_with("Add a passkey on "),
        "{}",
        purpose.en
    );
    assert!(
        purpose.en.contains("started from 127.0.0.1"),
        "{}",
        purpose.en
    );
    // A decision that does not name the action (a login's) is refused, nothing changes.
    let mut decision = eid_wallet::approve_all(&request, page.number, false);
    decision.purpose = None;
    let err = unchanged!(
        server,
        victim
            .answer(&request, &page.link, &decision)
            .await
            .expect_err("a login's decision approves no action")
    );
    assert_eq!(err.status(), Some(400));
    // The victim does not approve it: "not me" stops it.
    victim
        .answer(&request, &page.link, &eid_wallet::refuse(&request, true))
        .await?;
    assert_eq!(victim.devices().await?.len(), 1, "no passkey was added");
    server.stop().await;
    Ok(())
}

on_every_backend!(
    a_relayed_approval_is_one_login_and_adds_no_authenticator,
    relayed_approval
);

/// C1, reproductions 2 and 3: a passkey added properly logs in in its browser, and does
/// nothing else: no wallet session (so no device removal, no link code), no cross-device
/// approval.
async fn passkey_authority(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Department of Examples", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    login(&server, &rp, &browser, &mut wallet).await?;
    let mut passkey = add_passkey(&browser, &server, &mut wallet).await?;
    assert_eq!(wallet.devices().await?.len(), 2);

    // No wallet session: the API that lists and removes devices and mints link codes.
    let status = unchanged!(server, passkey_wallet_session(&server, &mut passkey).await?);
    assert_eq!(status, 403);
    // No answer to another browser's login through the phone's API.
    let elsewhere = Browser::new();
    let page = elsewhere.open_login(&server, &rp.start().url).await?;
    let status = unchanged!(
        server,
        passkey_answers_cross_device(&server, &mut passkey, &page).await?
    );
    assert_eq!(status, 403);
    // The phone still answers it.
    phone_answers(&mut wallet, &page, false).await?;
    server.stop().await;
    Ok(())
}

on_every_backend!(
    a_browser_passkey_logs_in_and_manages_nothing,
    passkey_authority
);

/// C1, reproduction 4: a phone joined by link code, in its cooling-off, cannot remove the
/// owner's phone, mint link codes, nor approve adding a passkey (the way around the
/// cooling-off the review found).
async fn cooling_off(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let mut owner = proven_wallet(&server, 0).await?;
    let link = owner.create_device_link().await?;
    let mut thief = Wallet::in_memory();
    thief
        .link(
            &url::Url::parse(&server.issuer())?,
            &link.code,
            "thief phone",
        )
        .await?;
    let devices = thief.devices().await?;
    assert_eq!(devices.len(), 2);
    let owner_phone = devices
        .iter()
        .find(|d| d.joined_by == "proofing")
        .expect("the owner's phone")
        .device_id
        .clone();
    let err = unchanged!(
        server,
        thief
            .remove_device(&owner_phone)
            .await
            .expect_err("no eviction during the cooling-off")
    );
    assert_eq!(err.status(), Some(403));
    let err = unchanged!(
        server,
        thief
            .create_device_link()
            .await
            .expect_err("no link codes during the cooling-off")
    );
    assert_eq!(err.status(), Some(403));

    // The thief's own browser, signed in with the thief's phone; adding a passkey there needs
    // the phone's approval of that action, which a cooling-off phone has no authority for.
    let rp = Rp::register(&server, "Department of Examples", JwsAlg::Es256).await?;
    let browser = Browser::new();
    let page = browser.open_login(&server, &rp.start().url).await?;
    phone_answers(&mut thief, &page, true).await?;
    continue_login(&server, &browser, &page.url).await?;
    let page = start_adding_passkey(&browser, &server)
        .await?
        .map_err(|s| anyhow::anyhow!("{s}"))?;
    let refused = unchanged!(
        server,
        phone_approves_passkey(&browser, &server, &mut thief, &page).await
    );
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("cooling-off")),
        "{refused:?}"
    );
    assert_eq!(
        owner.devices().await?.len(),
        2,
        "no passkey, the owner's phone kept"
    );
    server.stop().await;
    Ok(())
}

on_every_backend!(
    a_linked_phone_in_its_cooling_off_cannot_grow_or_evict,
    cooling_off
);

/// A signing client of `server`, the PKI initialised.
pub(crate) async fn signing_client(server: &TestServer) -> anyhow::Result<Rp> {
    let provider = server.provider();
    let now = eid_server::now();
    tokio::task::spawn_blocking(move || provider.pki_init(now)).await??;
    let mut registration = eid_core::clients::ClientRegistration::new(
        "Lands Registry",
        &[REDIRECT_URI.to_owned()],
        JwsAlg::Rs256,
    );
    registration.signing = true;
    let new = server.register_client(registration).await?;
    Rp::discover(
        server,
        new.client.client_id.into_string(),
        Some(new.client_secret),
        JwsAlg::Rs256,
    )
    .await
}

/// The service asks the citizen whose login gave it `access_token` (with the `sign` scope) to
/// sign a document; the request's id and verification code.
pub(crate) async fn ask_to_sign(
    server: &TestServer,
    rp: &Rp,
    access_token: &str,
) -> anyhow::Result<(String, String)> {
    let digest = b64(&sha2_digest(b"I transfer my flat to Mallory"));
    let response = reqwest::Client::new()
        .post(server.url("/signing/requests"))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(&[
            ("access_token", access_token),
            ("document_name", "Tenancy agreement"),
            ("hash", digest.as_str()),
            ("hash_alg", "SHA-256"),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "signing request: {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    let field = |name: &str| -> anyhow::Result<String> {
        Ok(body[name]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no {name}"))?
            .to_owned())
    };
    Ok((field("request_id")?, field("verification_code")?))
}

fn sha2_digest(data: &[u8]) -> Vec<u8> {
    eid_core::crypto::sha256(data).to_vec()
}

/// A browser passkey answers a signing request as a phone would (the decision approves it
/// with `code`, committed in the assertion's challenge); the answer's status.
pub(crate) async fn passkey_approves_signing(
    server: &TestServer,
    passkey: &mut Credential,
    view: &eid_proto::signing::SigningRequestView,
    code: &str,
) -> anyhow::Result<u16> {
    let decision = eid_proto::signing::SigningDecision {
        request_id: view.request_id.clone(),
        answer: "approve".into(),
        hash_alg: view.hash_alg.clone(),
        hash: view.hash.clone(),
        code: Some(code.to_owned()),
    };
    let bytes = serde_json::to_vec(&decision)?;
    let mut options = view.options.clone();
    let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
    options.public_key.challenge =
        eid_wallet::committed_challenge("eid-signing", &nonce, &bytes).to_vec();
    let assertion = get_assertion(passkey, &options, &server.issuer())?;
    Ok(reqwest::Client::new()
        .post(server.url(&format!("/api/v1/signing-requests/{}", view.request_id)))
        .json(&serde_json::json!({"decision": b64(&bytes), "credential": assertion}))
        .send()
        .await?
        .status()
        .as_u16())
}

/// A browser passkey signs its answer to a registration counter's code as the applying phone
/// would (the decision names the code and the application, committed in the assertion's
/// challenge): the URL to post it to, and the submission. Reading the challenge changes
/// nothing; posting the submission is the attempt.
pub(crate) async fn passkey_signs_counter(
    server: &TestServer,
    passkey: &mut Credential,
    code: &str,
) -> anyhow::Result<(String, serde_json::Value)> {
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    let url = server.url(&format!("/api/v1/counter-challenges/{digits}"));
    let challenge: eid_proto::api::CounterChallenge = reqwest::Client::new()
        .get(&url)
        .send()
        .await?
        .json()
        .await?;
    let decision = eid_proto::api::CounterDecision {
        code: challenge.code.clone(),
        reference: challenge.reference.clone(),
    };
    let bytes = serde_json::to_vec(&decision)?;
    let mut options = challenge.options.clone();
    let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
    options.public_key.challenge =
        eid_wallet::committed_challenge("eid-counter", &nonce, &bytes).to_vec();
    let assertion = get_assertion(passkey, &options, &server.issuer())?;
    Ok((
        url,
        serde_json::json!({"decision": b64(&bytes), "credential": assertion}),
    ))
}

/// H1: with the default (non-development) policy, a `plus` citizen's software key and a
/// browser passkey approve no signature; an attested hardware phone does.
async fn signing_keys(backend: Backend) -> anyhow::Result<()> {
    use openidconnect::OAuth2TokenResponse as _;
    let root = TestAttestationRoot::generate()?;
    let policy = AttestationPolicy {
        roots: Some(AttestationPolicy::roots_from_pem(&root.pem())?),
        ..AttestationPolicy::default()
    };
    assert_eq!(
        policy.signing_min_key_protection,
        MinKeyProtection::Hardware
    );
    let server = TestServer::start_with(
        backend,
        TestOptions {
            attestation: policy,
            ..with_registry()
        },
    )
    .await?;
    let rp = signing_client(&server).await?;

    // A plus account on the reference wallet's software key: logs in at basic, signs nothing.
    let (mut software, _officer) = plus_wallet(&server, 0).await?;
    let browser = Browser::new();
    let sign = &[("scope", "openid sign")];
    let (tokens, claims) = login_with(&server, &rp, &browser, &mut software, sign).await?;
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:eid:loa:basic")
    );
    let (request_id, code) = ask_to_sign(&server, &rp, tokens.access_token().secret()).await?;
    let view = software.signing_requests().await?.requests.remove(0);
    assert_eq!(view.request_id, request_id);
    let err = unchanged!(
        server,
        software
            .approve_signing(&view, &code)
            .await
            .expect_err("a software key signs nothing")
    );
    assert_eq!(err.status(), Some(403));

    // The same account's browser passkey (added with the phone's approval of that action)
    // cannot approve it either.
    let mut passkey = add_passkey(&browser, &server, &mut software).await?;
    let status = unchanged!(
        server,
        passkey_approves_signing(&server, &mut passkey, &view, &code).await?
    );
    assert_eq!(status, 403);

    // An attested phone of a plus account signs.
    let attested = Wallet::in_memory()
        .with_attestation(root.authenticator("eid test phone", *b"eid-test-phone-1")?);
    let attested = server.apply_with(attested, 1).await?;
    let (mut hardware, _officer) = server.prove_in_person(attested, 1).await?;
    let (tokens, claims) = login_with(&server, &rp, &Browser::new(), &mut hardware, sign).await?;
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:eid:loa:plus")
    );
    let (_, code) = ask_to_sign(&server, &rp, tokens.access_token().secret()).await?;
    let view = hardware.signing_requests().await?.requests.remove(0);
    let signed = hardware.approve_signing(&view, &code).await?;
    assert_eq!(signed.status, "signed");
    server.stop().await;
    Ok(())
}

on_every_backend!(
    only_a_key_that_meets_the_signing_policy_approves_a_signature,
    signing_keys
);

/// The inbox: every other device hears of a new authenticator and of a browser signed in,
/// with the one tap that undoes it; a device does not hear of what it did itself.
async fn inbox_notices(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Department of Examples", JwsAlg::Es256).await?;
    let mut owner = proven_wallet(&server, 0).await?;
    // A device hears of what happens after the second it joined in: let that second pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let link = owner.create_device_link().await?;
    let mut second = Wallet::in_memory();
    second
        .link(
            &url::Url::parse(&server.issuer())?,
            &link.code,
            "second phone",
        )
        .await?;
    // The owner's phone hears of the phone that joined; the new phone of nothing yet.
    let heard = owner.inbox(3).await?;
    assert_eq!(
        heard
            .notices
            .iter()
            .map(|n| n.kind.as_str())
            .collect::<Vec<_>>(),
        ["authenticator_added"],
        "{heard:?}"
    );
    assert!(heard.notices[0].en.contains("\"second phone\""));
    assert!(second.inbox(0).await?.notices.is_empty());

    // A browser signed in with the owner's phone ("stay signed in"): the second phone hears
    // of it, with the session to end; the owner's phone, which approved it, does not.
    let browser = Browser::new();
    let page = browser.open_login(&server, &rp.start().url).await?;
    phone_answers(&mut owner, &page, true).await?;
    continue_login(&server, &browser, &page.url).await?;
    let heard = second.inbox(3).await?;
    let signed_in = heard
        .notices
        .iter()
        .find(|n| n.kind == "browser_signed_in")
        .unwrap_or_else(|| panic!("{heard:?}"));
    assert!(signed_in.zh_hant.contains("登入"), "{signed_in:?}");
    let Some(undo @ eid_proto::api::NoticeUndo::EndSession { .. }) = signed_in.undo.clone() else {
        panic!("{signed_in:?}");
    };
    // Long poll: the passkey the owner adds arrives while the second phone waits.
    let waiting = tokio::spawn(async move {
        let heard = second.inbox(8).await;
        (second, heard)
    });
    let _passkey = add_passkey(&browser, &server, &mut owner).await?;
    let (mut second, heard) = waiting.await?;
    let heard = heard?;
    let added = heard
        .notices
        .iter()
        .find(|n| n.kind == "authenticator_added")
        .unwrap_or_else(|| panic!("{heard:?}"));
    assert!(added.en.starts_with("A passkey in a browser"), "{added:?}");
    assert!(
        owner
            .inbox(3)
            .await?
            .notices
            .iter()
            .all(|n| n.kind != "authenticator_added"),
        "the phone that approved the passkey is not told of it again"
    );
    // One tap each: the passkey removed, the browser signed out.
    second
        .undo(added.undo.as_ref().expect("the passkey can be removed"))
        .await?;
    assert!(owner
        .devices()
        .await?
        .iter()
        .all(|d| d.joined_by != "browser"));
    second.undo(&undo).await?;
    let mut silent = rp.start();
    silent.url = with_param(&silent.url, "prompt", Some("none"));
    let response = browser.http.get(silent.url.clone()).send().await?;
    assert!(location(&response)?.contains("error=login_required"));
    server.stop().await;
    Ok(())
}

on_every_backend!(
    other_devices_hear_of_new_authenticators_and_signed_in_browsers,
    inbox_notices
);

/// The first notice of `kind` in a phone's inbox (reading on past other notices).
async fn notice_of_kind(
    wallet: &mut Wallet,
    kind: &str,
) -> anyhow::Result<Option<eid_proto::api::Notice>> {
    for _ in 0..4 {
        let inbox = wallet.inbox(3).await?;
        if let Some(notice) = inbox.notices.into_iter().find(|n| n.kind == kind) {
            return Ok(Some(notice));
        }
    }
    Ok(None)
}

/// H2, reproduction: a remote proof for a number that has an account (a template "from a
/// photo" the capture component signed) takes nothing over at once. The recovery is held; the
/// holder's phones hear of it; a phone still cooling off cannot cancel it, the holder's phone
/// can; at a counter the officer sees another one pending, and proving the holder there
/// supersedes it.
async fn held_recovery(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let (mut holder, officer) = plus_wallet(&server, 0).await?;
    let link = holder.create_device_link().await?;
    let mut linked = Wallet::in_memory();
    linked
        .link(
            &url::Url::parse(&server.issuer())?,
            &link.code,
            "linked phone",
        )
        .await?;
    // A second later: what happens in the second a device joins is not news to it.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    let resident = server.residents()[0].clone();
    let mut attacker = applied_wallet(&server, 0).await?;
    let held = attacker.prove(&evidence(&server, &resident)?).await?;
    assert!(
        held.held_until.is_some() && !held.recovered && held.device_id.is_empty(),
        "{held:?}"
    );
    assert_eq!(attacker.status().await?.status, "held");
    assert!(
        attacker.session().await.is_err(),
        "the attacker's phone is bound to nothing"
    );
    // Nothing changed on the account: still plus, both phones bound.
    assert_eq!(holder.account().await?.level.as_deref(), Some("plus"));
    assert_eq!(holder.devices().await?.len(), 2);

    // Both phones hear of it; the notice carries the one tap that cancels it.
    let notice = notice_of_kind(&mut holder, "recovery_pending")
        .await?
        .expect("the holder's phone hears of the recovery");
    let undo = notice.undo.clone().expect("a recovery can be cancelled");
    assert!(matches!(
        undo,
        eid_proto::api::NoticeUndo::CancelRecovery { .. }
    ));
    assert!(
        notice_of_kind(&mut linked, "recovery_pending")
            .await?
            .is_some(),
        "the linked phone hears of it too"
    );
    assert_eq!(holder.recoveries().await?.recoveries.len(), 1);
    // A phone in its cooling-off (linked by a relayed code, say) cannot keep the holder out.
    let err = unchanged!(
        server,
        linked
            .undo(&undo)
            .await
            .expect_err("a cooling-off phone cannot cancel")
    );
    assert_eq!(err.status(), Some(403));
    // The holder's phone cancels it: the attacker's application is done.
    holder.undo(&undo).await?;
    let state = attacker.status().await?;
    assert_eq!(
        (state.status.as_str(), state.rejection.as_deref()),
        ("rejected", Some("recovery_cancelled"))
    );
    assert!(holder.recoveries().await?.recoveries.is_empty());
    let err = attacker
        .prove(&evidence(&server, &resident)?)
        .await
        .expect_err("a cancelled application proves nothing");
    assert_eq!(err.status(), Some(410));
    assert_eq!(holder.devices().await?.len(), 2);

    // Another remote recovery, pending while the holder visits a counter with a new phone:
    // the officer's review shows it, and proving the holder in person supersedes it.
    let mut second = applied_wallet(&server, 0).await?;
    assert!(second
        .prove(&evidence(&server, &resident)?)
        .await?
        .held_until
        .is_some());
    let mut at_counter = applied_wallet(&server, 0).await?;
    let reference = at_counter
        .file()
        .application
        .as_ref()
        .expect("application")
        .reference
        .clone();
    let (html, _, _) = officer.review(&server, &reference).await?;
    assert!(html.contains("id=\"pending-recovery\""), "{html}");
    let (status, page) = officer
        .approve_with_phone(&server, &reference, &mut at_counter)
        .await?;
    assert_eq!(status, 200, "{page}");
    let state = second.status().await?;
    assert_eq!(
        (state.status.as_str(), state.rejection.as_deref()),
        ("rejected", Some("superseded"))
    );
    server.stop().await;
    Ok(())
}

on_every_backend!(
    a_remote_recovery_is_held_and_the_holder_cancels_it,
    held_recovery
);
