//! The review's phishing findings, reproduced and refused: a relayed QR code, a forced login,
//! consent planted from a browser, a cloned wallet, two assertions with one counter.

use eid_core::keys::JwsAlg;
use eid_core::time::UnixTime;
use eid_testkit::{Backend, TestServer};
use eid_wallet::Wallet;

use crate::support::*;

/// What an attacker's browser says it is.
const ATTACKER_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// The error and code a callback carries.
fn outcome(to: &url::Url) -> (Option<String>, Option<String>) {
    let param = |name: &str| {
        to.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    (param("error"), param("code"))
}

/// The account's history actions, newest first.
async fn actions(wallet: &mut Wallet) -> anyhow::Result<Vec<(String, Option<String>)>> {
    Ok(wallet
        .history()
        .await?
        .events
        .into_iter()
        .map(|e| (e.action, e.client_id))
        .collect())
}

async fn consents_stored(server: &TestServer) -> anyhow::Result<usize> {
    Ok(server
        .row_counts()
        .await?
        .into_iter()
        .find(|(t, _)| *t == "consents")
        .map_or(0, |(_, n)| usize::try_from(n).unwrap_or(0)))
}

/// An attacker starts a login in their own browser and relays the QR code to a victim.
async fn relayed_qr(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Bank", JwsAlg::Es256).await?;
    let mut victim = proven_wallet(&server, 0).await?;
    let attacker = Browser::with_user_agent(ATTACKER_UA);

    // The phone shows where the login comes from; the victim did not start it: "not me".
    let start = rp.start();
    let page = attacker.open_login(&server, &start.url).await?;
    let request = victim.fetch_approval(&page.link).await?;
    assert_eq!(
        (
            request.context.browser.as_deref(),
            request.context.os.as_deref(),
            request.context.address.as_deref()
        ),
        (Some("Firefox"), Some("Windows"), Some("127.0.0.1"))
    );
    assert!((eid_server::now().secs() - request.context.requested_at).abs() < 60);
    assert_eq!(
        (
            request.service.name.as_str(),
            request.service.redirect_host.as_str()
        ),
        ("Bank", "localhost")
    );
    let result = victim
        .answer(&request, &page.link, &eid_wallet::refuse(&request, true))
        .await?;
    assert_eq!(result.status, "stopped");
    let Next::Redirect(to) = attacker.after_approval(&server, &page.url).await? else {
        panic!("the attacker's browser goes back to the service");
    };
    assert_eq!(outcome(&to), (Some("access_denied".into()), None));
    // The request is dead: approving it now is refused.
    let err = victim
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_all(&request, page.number, true),
        )
        .await
        .expect_err("stopped");
    assert_eq!(err.problem().map(|p| p.status), Some(410), "{err}");
    assert!(actions(&mut victim)
        .await?
        .contains(&("login.not_me".into(), Some(rp.client_id.clone()))));

    // The victim picks a number: without the attacker's page in front of them, a wrong one.
    let start = rp.start();
    let page = attacker.open_login(&server, &start.url).await?;
    let request = victim.fetch_approval(&page.link).await?;
    let wrong = *request
        .numbers
        .iter()
        .find(|n| **n != page.number)
        .expect("three distinct numbers");
    let err = victim
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_all(&request, wrong, true),
        )
        .await
        .expect_err("wrong number");
    assert_eq!(
        err.problem().map(|p| (p.status, p.slug())),
        Some((403, Some("wrong-number"))),
        "{err}"
    );
    let err = victim
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_all(&request, page.number, true),
        )
        .await
        .expect_err("killed by the wrong pick");
    assert_eq!(err.problem().map(|p| p.status), Some(410), "{err}");
    let Next::Redirect(to) = attacker.after_approval(&server, &page.url).await? else {
        panic!("the attacker's browser goes back to the service");
    };
    assert_eq!(outcome(&to), (Some("access_denied".into()), None));
    assert!(actions(&mut victim)
        .await?
        .contains(&("login.wrong_number".into(), Some(rp.client_id.clone()))));

    // Where the relay succeeds (the victim approves the attacker's login, the risk that
    // remains), nothing the attacker's browser does records consent: the old "Allow" form is
    // gone, and only the phone remembers choices.
    let start = rp.start();
    let page = attacker.open_login(&server, &start.url).await?;
    let request = victim.fetch_approval(&page.link).await?;
    victim
        .answer(
            &request,
            &page.link,
            &eid_wallet::approve_all(&request, page.number, false),
        )
        .await?;
    let Next::Approved { action, csrf, .. } = attacker.after_approval(&server, &page.url).await?
    else {
        panic!("approved");
    };
    let consent = attacker
        .http
        .post(format!("{}/consent", page.url))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "allow")])
        .send()
        .await?;
    assert_eq!(consent.status(), 404, "no consent form in the browser");
    assert_eq!(
        attacker.answer(&action, &csrf, "allow").await?.status(),
        400
    );
    continue_login(&server, &attacker, &page.url).await?;
    assert_eq!(
        consents_stored(&server).await?,
        0,
        "no consent recorded from a browser"
    );
    assert!(victim.consents().await?.consents.is_empty());
    server.stop().await;
    Ok(())
}

/// Someone who sees a victim's QR code approves it with their own phone: the victim's browser
/// shows whose account approved, and "not me" stops it.
async fn forced_login(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Tax", JwsAlg::Es256).await?;
    let mut attacker = proven_wallet(&server, 1).await?;
    let victim_browser = Browser::new();
    let start = rp.start();
    let page = victim_browser.open_login(&server, &start.url).await?;
    phone_approves(&mut attacker, &page).await?;
    let Next::Approved {
        action,
        csrf,
        account,
        ..
    } = victim_browser.after_approval(&server, &page.url).await?
    else {
        panic!("approved");
    };
    let attacker_name = eid_core::account::mask_name(&server.residents()[1].english_name);
    assert_eq!(
        account, attacker_name,
        "the page names whose account approved"
    );
    let response = victim_browser.answer(&action, &csrf, "not_me").await?;
    assert_eq!(response.status(), 303);
    let to = url::Url::parse(&location(&response)?)?;
    assert_eq!(outcome(&to), (Some("access_denied".into()), None));
    // Continuing afterwards gets nothing either.
    let response = victim_browser.answer(&action, &csrf, "continue").await?;
    if response.status() == 303 {
        let to = url::Url::parse(&location(&response)?)?;
        assert_eq!(outcome(&to).1, None, "no code after not me");
    }
    assert!(actions(&mut attacker).await?.contains(&(
        "login.refused_in_browser".into(),
        Some(rp.client_id.clone())
    )));
    server.stop().await;
    Ok(())
}

/// Consent is the phone's: remembered, asked again on `prompt=consent`, listed and withdrawn
/// (which ends the service's tokens and asks again on the next login).
async fn consent_on_the_phone(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Library", JwsAlg::Rs256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let (tokens, claims) = login(&server, &rp, &browser, &mut wallet).await?;
    let listed = wallet.consents().await?.consents;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].service.as_deref(), Some("Library"));
    assert_eq!(listed[0].claims, ["birthdate", "gender", "name", "sub"]);

    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    let start = rp.start();
    let page = browser.open_login(&server, &start.url).await?;
    assert!(!wallet.fetch_approval(&page.link).await?.ask_consent);
    let url = with_param(&rp.start().url, "prompt", Some("consent"));
    let page = browser.open_login(&server, &url).await?;
    let request = wallet.fetch_approval(&page.link).await?;
    assert!(request.ask_consent, "prompt=consent asks again");
    assert!(
        request.items.iter().all(|i| i.remembered),
        "showing what was chosen"
    );

    rp.userinfo(&tokens, &claims).await?;
    wallet.withdraw_consent(&rp.client_id).await?;
    assert!(wallet.consents().await?.consents.is_empty());
    assert!(
        rp.userinfo(&tokens, &claims).await.is_err(),
        "the service's token ends with the consent"
    );
    let page = browser.open_login(&server, &rp.start().url).await?;
    assert!(wallet.fetch_approval(&page.link).await?.ask_consent);
    let err = wallet
        .withdraw_consent(&rp.client_id)
        .await
        .expect_err("nothing to withdraw");
    assert_eq!(err.problem().map(|p| p.status), Some(404));
    assert!(actions(&mut wallet)
        .await?
        .contains(&("consent.withdrawn".into(), Some(rp.client_id.clone()))));
    server.stop().await;
    Ok(())
}

/// A copied wallet file: both copies sign with one key. When the counter goes backwards the
/// device is suspended, what it approved dies, and the event is recorded.
async fn cloned_wallet(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Clinic", JwsAlg::Es256).await?;
    let mut original = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    login(&server, &rp, &browser, &mut original).await?;
    let mut copy = Wallet::in_memory();
    copy.set_file(original.file().clone());
    let device_id = original.device_id().expect("device").to_owned();

    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    // The copy approves a login first; the original, behind on the counter, then signs.
    let first = browser.open_login(&server, &rp.start().url).await?;
    phone_approves(&mut copy, &first).await?;
    let second = browser.open_login(&server, &rp.start().url).await?;
    let request = original.fetch_approval(&second.link).await?;
    let err = original
        .answer(
            &request,
            &second.link,
            &eid_wallet::approve_all(&request, second.number, false),
        )
        .await
        .expect_err("counter went backwards");
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("device-refused"),
        "{err}"
    );
    // The copy's approval dies with the suspension.
    let (callback, _) = match continue_login(&server, &browser, &first.url).await {
        Ok(done) => done,
        Err(_) => {
            let Next::Redirect(to) = browser.after_approval(&server, &first.url).await? else {
                panic!("back to the service");
            };
            (Callback { url: to }, String::new())
        }
    };
    assert_eq!(
        callback.param("code"),
        None,
        "no code from a suspended device"
    );
    // Neither copy can approve or open a session any more.
    for phone in [&mut original, &mut copy] {
        assert!(phone.new_session().await.is_err());
        let page = browser.open_login(&server, &rp.start().url).await?;
        let request = phone.fetch_approval_anonymously(&page.link).await?;
        let err = phone
            .answer(
                &request,
                &page.link,
                &eid_wallet::approve_all(&request, page.number, false),
            )
            .await
            .expect_err("suspended");
        assert_eq!(
            err.problem().and_then(|p| p.slug()),
            Some("device-refused"),
            "{err}"
        );
    }
    // Recorded, and the device shows as suspended.
    let provider = server.provider();
    let audit =
        tokio::task::spawn_blocking(move || provider.audit_log(UnixTime::from_secs(0), 1000))
            .await??;
    assert!(audit.iter().any(|e| e.action == "device.suspected_clone"
        && e.device_id.as_deref() == Some(device_id.as_str())));
    let db = server.database();
    let id = device_id.clone();
    let device = tokio::task::spawn_blocking(move || {
        use eid_core::store::AccountStore as _;
        db.device(&id)
    })
    .await??
    .expect("the device stays listed");
    assert!(device.suspended_at.is_some());
    server.stop().await;
    Ok(())
}

/// Two assertions carrying the same counter, sent at once to two logins: one at most lands.
async fn same_counter_race(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Race", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let issuer = url::Url::parse(&server.issuer())?;
    let a = browser.open_login(&server, &rp.start().url).await?;
    let b = browser.open_login(&server, &rp.start().url).await?;
    let request_a = wallet.fetch_approval(&a.link).await?;
    let request_b = wallet.fetch_approval(&b.link).await?;
    // Both copies sign with the same counter.
    let mut twin = Wallet::in_memory();
    twin.set_file(wallet.file().clone());
    let sub_a = wallet.sign_decision(
        &request_a,
        &eid_wallet::approve_all(&request_a, a.number, false),
        &issuer,
    )?;
    let sub_b = twin.sign_decision(
        &request_b,
        &eid_wallet::approve_all(&request_b, b.number, false),
        &issuer,
    )?;
    let url = |id: &str| server.url(&format!("/api/v1/approvals/{id}"));
    let (url_a, url_b) = (url(&request_a.request_id), url(&request_b.request_id));
    let (ra, rb) = tokio::join!(
        wallet.post_answer(&url_a, &sub_a.decision, sub_a.credential),
        twin.post_answer(&url_b, &sub_b.decision, sub_b.credential),
    );
    let accepted = [ra.is_ok(), rb.is_ok()].iter().filter(|ok| **ok).count();
    assert_eq!(
        accepted, 1,
        "exactly one of two same-counter assertions lands"
    );
    server.stop().await;
    Ok(())
}

on_every_backend!(a_relayed_qr_code_ends_without_a_code, relayed_qr);
on_every_backend!(a_forced_login_shows_whose_account, forced_login);
on_every_backend!(
    consent_is_decided_and_withdrawn_on_the_phone,
    consent_on_the_phone
);
on_every_backend!(a_cloned_wallet_suspends_its_device, cloned_wallet);
on_every_backend!(one_counter_lands_once, same_counter_race);
