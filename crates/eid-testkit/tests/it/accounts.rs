//! An account's life after proofing: devices joined by link code cannot evict older ones during
//! their cooling-off period; removals are recorded and shown to the remaining devices; a removed
//! device's approvals die with it; suspension stops logins and tokens until resumed; closing
//! erases the particulars, and proofing reopens the same account.

use eid_core::admin::{AccountSelector, AdminReason};
use eid_core::keys::JwsAlg;
use eid_core::store::WalletSessionRecord;
use eid_core::time::UnixTime;
use eid_testkit::{Backend, TestServer};
use eid_wallet::Wallet;
use openidconnect::OAuth2TokenResponse;
use url::Url;

use crate::support::*;
use eid_core::ids::{CitizenId, DeviceId};

async fn userinfo_status(
    server: &eid_testkit::TestServer,
    tokens: &openidconnect::core::CoreTokenResponse,
) -> anyhow::Result<u16> {
    Ok(reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await?
        .status()
        .as_u16())
}

async fn devices(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let issuer = Url::parse(&server.issuer())?;
    let rp = Rp::register(&server, "Department", JwsAlg::Es256).await?;
    let browser = Browser::new();
    let mut phone_a = proven_wallet(&server, 0).await?;
    let a = phone_a.device_id().expect("device").to_owned();

    // Phone C joins with a link code; device names with control characters are refused.
    let link = phone_a.create_device_link().await?;
    let err = Wallet::in_memory()
        .link(&issuer, &link.code, "\u{1b}[2J\u{1b}[31mGENUINE PHONE")
        .await
        .expect_err("control characters");
    assert_eq!(err.problem().map(|p| p.status), Some(400));
    let link = phone_a.create_device_link().await?;
    let mut phone_c = Wallet::in_memory();
    phone_c.link(&issuer, &link.code, "Tablet").await?;
    let c = phone_c.device_id().expect("device").to_owned();
    let mut joined: Vec<String> = phone_a
        .devices()
        .await?
        .into_iter()
        .map(|d| d.joined_by)
        .collect();
    joined.sort();
    assert_eq!(joined, ["link", "proofing"]);

    // During its cooling-off period, C cannot remove the older phone A.
    let err = phone_c.remove_device(&a).await.expect_err("cooling off");
    let problem = err.problem().expect("problem");
    assert_eq!((problem.status, problem.slug()), (403, Some("forbidden")));
    assert_eq!(phone_a.devices().await?.len(), 2, "nothing was removed");

    // C approves a login; A removes C before the browser goes on: the login dies with C.
    let start_login = rp.start();
    let page = browser.open_login(&server, &start_login.url).await?;
    phone_approves(&mut phone_c, &page).await?;
    phone_a.remove_device(&c).await?;
    let Next::Approved { action, csrf, .. } = browser.after_approval(&server, &page.url).await?
    else {
        panic!("the page shows the approval");
    };
    let response = browser.answer(&action, &csrf, "continue").await?;
    assert_eq!(response.status(), 303);
    let to = url::Url::parse(&location(&response)?)?;
    let error = to
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned());
    assert_eq!(error.as_deref(), Some("access_denied"));
    assert!(to.query_pairs().all(|(k, _)| k != "code"), "no code");

    // The same when the browser already shows the approval: continuing fails.
    let link = phone_a.create_device_link().await?;
    let mut phone_e = Wallet::in_memory();
    phone_e.link(&issuer, &link.code, "Watch").await?;
    let start_login = rp.start();
    let page = browser.open_login(&server, &start_login.url).await?;
    phone_approves(&mut phone_e, &page).await?;
    let Next::Approved { action, csrf, .. } = browser.after_approval(&server, &page.url).await?
    else {
        panic!("approved");
    };
    phone_a
        .remove_device(phone_e.device_id().expect("device"))
        .await?;
    let response = browser.answer(&action, &csrf, "continue").await?;
    assert_eq!(response.status(), 303);
    let to = url::Url::parse(&location(&response)?)?;
    assert!(to
        .query_pairs()
        .any(|(k, v)| k == "error" && v == "access_denied"));
    assert!(to.query_pairs().all(|(k, _)| k != "code"), "no code");

    // The removal is in the account's history, shown to the remaining device.
    let history = phone_a.history().await?;
    let removed = history
        .events
        .iter()
        .find(|e| e.action == "device.removed" && e.device_id.as_deref() == Some(c.as_str()))
        .expect("device.removed");
    assert_eq!(removed.device_id.as_deref(), Some(c.as_str()));
    assert_eq!(removed.device_name.as_deref(), Some("Tablet"));
    assert_eq!(removed.actor_device_id.as_deref(), Some(a.as_str()));
    assert!(history.events.iter().any(|e| e.action == "device.bound"));

    // After the cooling-off period a linked device may remove an older one.
    let link = phone_a.create_device_link().await?;
    let mut phone_d = Wallet::in_memory();
    phone_d.link(&issuer, &link.code, "Laptop").await?;
    let provider = server.provider();
    let session = WalletSessionRecord {
        token_hash: vec![0; 32],
        citizen_id: CitizenId::from(phone_d.citizen_id().expect("citizen").to_owned()),
        device_id: DeviceId::from(phone_d.device_id().expect("device").to_owned()),
        expires_at: UnixTime::from_secs(i64::MAX),
    };
    let later = eid_server::now() + provider.config().link_cooling_off + 1;
    let (p, s, target) = (provider.clone(), session.clone(), a.clone());
    assert!(
        tokio::task::spawn_blocking(move || p.remove_device(&s, &target, later - 2))
            .await?
            .is_err(),
        "still cooling off a moment before"
    );
    tokio::task::spawn_blocking(move || provider.remove_device(&session, &a, later)).await??;
    assert_eq!(phone_d.devices().await?.len(), 1);
    server.stop().await;
    Ok(())
}

async fn suspension_and_closure(backend: Backend) -> anyhow::Result<()> {
    // A recovery hold of two seconds: reopening a closed account by remote proofing is a
    // recovery, held like any other.
    let mut options = with_registry();
    options.proofing.recovery_hold = 2;
    let server = TestServer::start_with(backend, options).await?;
    let rp = Rp::register(&server, "Department", JwsAlg::Es256).await?;
    let browser = Browser::new();
    let resident = server.residents()[0].clone();
    let mut phone = proven_wallet(&server, 0).await?;
    let citizen_id = phone.citizen_id().expect("citizen").to_owned();
    let reference = phone.account().await?.reference;
    let (tokens, claims) = login(&server, &rp, &browser, &mut phone).await?;
    assert_eq!(userinfo_status(&server, &tokens).await?, 200);
    let sub = claims.subject().clone();
    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    // A code issued before the suspension, redeemed after it.
    let (pending, callback, _) = login_to_callback(&server, &rp, &browser, &mut phone).await?;

    let provider = server.provider();
    let selector = AccountSelector::Reference(reference.to_lowercase());
    let (p, s) = (provider.clone(), selector.clone());
    tokio::task::spawn_blocking(move || {
        p.suspend_account(&s, AdminReason::CourtOrder, eid_server::now())
    })
    .await??;
    // Its tokens stop working.
    assert_eq!(userinfo_status(&server, &tokens).await?, 401);
    let err = rp
        .exchange(&callback.param("code").expect("code"), pending.verifier)
        .await
        .expect_err("suspended code");
    assert!(format!("{err}").contains("invalid_grant"), "{err}");
    // Its logins are refused on the phone, with the reason.
    let start_login = rp.start();
    let page = browser.open_login(&server, &start_login.url).await?;
    let err = unchanged!(
        server,
        phone
            .fetch_approval(&page.link)
            .await
            .expect_err("suspended")
    );
    assert_eq!(
        err.problem().and_then(|p| p.slug()),
        Some("account-suspended"),
        "{err}"
    );
    assert!(
        phone.session().await.is_err(),
        "no device management while suspended"
    );
    // Suspending twice is refused; resuming lets it log in again.
    let (p, s) = (provider.clone(), selector.clone());
    assert!(tokio::task::spawn_blocking(move || {
        p.suspend_account(&s, AdminReason::CourtOrder, eid_server::now())
    })
    .await?
    .is_err());
    let (p, s) = (provider.clone(), selector.clone());
    tokio::task::spawn_blocking(move || {
        p.resume_account(&s, AdminReason::CourtOrder, eid_server::now())
    })
    .await??;
    let (tokens, _) = login(&server, &rp, &browser, &mut phone).await?;
    assert_eq!(userinfo_status(&server, &tokens).await?, 200);

    // Closing (by HKID number, as a death registration names it) erases the particulars.
    let db = server.database();
    let id = citizen_id.clone();
    let sealed_profile = tokio::task::spawn_blocking(move || {
        use eid_core::store::AccountStore as _;
        db.profile(&id)
    })
    .await??
    .expect("a profile");
    let (p, hkid) = (provider.clone(), resident.hkid.clone());
    tokio::task::spawn_blocking(move || {
        p.close_account(
            &AccountSelector::Hkid(hkid),
            AdminReason::DeathRegistration,
            eid_server::now(),
        )
    })
    .await??;
    let db = server.database();
    let id = citizen_id.clone();
    let (profile, account, devices) = tokio::task::spawn_blocking(move || {
        use eid_core::store::AccountStore as _;
        anyhow::Ok((db.profile(&id)?, db.citizen(&id)?, db.devices(&id)?))
    })
    .await??;
    assert_eq!(profile, None, "the profile is erased in the database");
    assert!(devices.is_empty());
    let account = account.expect("the tombstone stays");
    assert_eq!(account.status.as_str(), "closed");
    assert_eq!(account.level, None);
    let rows = server.fingerprint().await?;
    let profiles = rows
        .iter()
        .skip_while(|l| !l.starts_with("citizen_profiles"))
        .take_while(|l| !l.starts_with("devices"))
        .filter(|l| l.contains(&citizen_id))
        .count();
    assert_eq!(profiles, 0, "no profile row names the account");
    // In the SQLite file itself: once the write-ahead log is folded in, the erased profile's
    // bytes are nowhere in the file.
    if let Some(path) = server.database_url().strip_prefix("sqlite://") {
        use diesel::connection::SimpleConnection as _;
        use diesel::Connection as _;
        let mut conn = diesel::SqliteConnection::establish(path)?;
        conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA wal_checkpoint(TRUNCATE);")?;
        let mut raw = std::fs::read(path)?;
        if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
            raw.extend(wal);
        }
        assert!(
            !raw.windows(sealed_profile.len())
                .any(|w| w == sealed_profile.as_slice()),
            "the erased profile's bytes remain in the database file"
        );
    }
    assert_eq!(userinfo_status(&server, &tokens).await?, 401);

    // Proofing reopens the same account once the hold is over: the service sees the same
    // citizen.
    let mut new_phone = applied_wallet(&server, 0).await?;
    let held = new_phone.prove(&evidence(&server, &resident)?).await?;
    assert!(held.held_until.is_some(), "{held:?}");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(new_phone.status().await?.status, "proven");
    assert_eq!(new_phone.citizen_id(), Some(citizen_id.as_str()));
    let (_, claims) = login(&server, &rp, &browser, &mut new_phone).await?;
    assert_eq!(claims.subject(), &sub);
    server.stop().await;
    Ok(())
}

on_every_backend!(linked_devices_cool_off_and_removals_are_recorded, devices);
on_every_backend!(
    suspension_stops_logins_and_closure_erases,
    suspension_and_closure
);
