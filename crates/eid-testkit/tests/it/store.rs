//! The storage contract, on each backend: single-use ceremonies, compare-and-set state
//! transitions, proofing's all-or-nothing binding, the last-device guard, rate-limit windows,
//! purging, and concurrent first starts.

use eid_core::time::UnixTime;
use std::sync::Arc;

use anyhow::Context as _;

use eid_core::account::{AccountStatus, JoinedBy, Level};
use eid_core::claims::Scopes;
use eid_core::crypto::MasterKey;
use eid_core::keys::StoredKeys;
use eid_core::store::*;
use eid_core::OAuthErrorCode;
use eid_store::Database;
use eid_testkit::{Backend, TestDatabase};

use crate::support::on_every_backend;

/// A time in the tests' made-up clock.
fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs)
}

fn request(id: &str) -> AuthRequestRecord {
    AuthRequestRecord {
        request_id: id.into(),
        client_id: "c".into(),
        redirect_uri: "https://rp.example/cb".into(),
        scope: Scopes::narrowed("openid"),
        state: Some("s".into()),
        nonce: None,
        code_challenge: "x".repeat(43),
        browser_hash: vec![1; 32],
        context: Some(vec![9; 10]),
        required_level: None,
        login: LoginState::Pending,
        created_at: t(0),
        expires_at: t(600),
        prompt: None,
        response_type: eid_core::oidc::ResponseType::IdTokenToken,
        response_mode: eid_core::oidc::ResponseMode::FormPost,
        claims: eid_core::claims::ClaimsRequest {
            userinfo: vec!["name".into()],
            ..Default::default()
        },
        expected_sub: Some("pairwise-sub".into()),
        dpop_jkt: Some("k".repeat(43)),
        par_id: Some("pushed".into()),
    }
}

fn approval(citizen: &str, device: &str) -> ApprovalRecord {
    ApprovalRecord {
        approval: Approval {
            citizen_id: citizen.into(),
            device_id: device.into(),
            auth_time: t(5),
            acr: Level::Basic,
            amr: "swk".into(),
            granted: "sub".into(),
        },
        context: None,
        device_use: None,
    }
}

fn device(id: &str, citizen: &str) -> DeviceRecord {
    DeviceRecord {
        device_id: id.into(),
        citizen_id: citizen.into(),
        credential_id: format!("cred-{id}"),
        user_handle: format!("handle-{id}"),
        name: id.into(),
        passkey: "{}".into(),
        joined_by: JoinedBy::Proofing,
        created_at: t(0),
        last_used_at: None,
        suspended_at: None,
        attestation: None,
    }
}

fn event(id: &str) -> AuditRecord {
    AuditRecord {
        event_id: id.into(),
        at: t(1),
        action: "test".into(),
        actor_kind: ActorKind::System,
        actor_id: None,
        citizen_id: None,
        application_id: None,
        device_id: None,
        detail: None,
    }
}

fn application(id: &str, reference: &str, credential: &str) -> ApplicationRecord {
    ApplicationRecord {
        application_id: id.into(),
        reference: reference.into(),
        kind: ApplicationKind::Enrolment,
        status: ApplicationStatus::Open,
        token_hash: vec![2; 32],
        citizen_id: None,
        particulars: Some(vec![3; 8]),
        credential_id: Some(credential.into()),
        passkey: Some("{}".into()),
        user_handle: Some("h".into()),
        outcome: None,
        created_at: t(0),
        expires_at: t(1_000),
        presence: None,
        hold: None,
    }
}

fn citizen(id: &str, hkid: u8, reference: &str) -> CitizenRecord {
    CitizenRecord {
        citizen_id: id.into(),
        reference: reference.into(),
        hkid_index: vec![hkid; 32],
        level: Some(Level::Basic),
        status: AccountStatus::Active,
        created_at: t(0),
        updated_at: t(0),
    }
}

fn bind(
    application_id: &str,
    account: AccountChange,
    device: Option<DeviceRecord>,
    n: u8,
) -> ProvenBinding {
    ProvenBinding {
        application_id: application_id.into(),
        account,
        profile: vec![n; 4],
        device,
        events: vec![event(&format!("e-{application_id}-{n}"))],
        now: t(10),
    }
}

fn contract(backend: &Backend) -> anyhow::Result<()> {
    let tmp = TestDatabase::create(backend)?;
    let db = Database::open(&tmp.url, 4)?;

    // Ceremonies are single-use and purpose-bound.
    let ceremony = CeremonyRecord {
        ceremony_id: "c1".into(),
        purpose: CeremonyPurpose::Session,
        subject_id: None,
        state: vec![1, 2, 3],
        expires_at: t(100),
    };
    db.insert_ceremony(&ceremony)?;
    assert_eq!(db.take_ceremony("c1", CeremonyPurpose::Register)?, None);
    assert_eq!(
        db.ceremony("c1", CeremonyPurpose::Session)?,
        Some(ceremony.clone())
    );
    assert_eq!(
        db.take_ceremony("c1", CeremonyPurpose::Session)?,
        Some(ceremony)
    );
    assert_eq!(db.take_ceremony("c1", CeremonyPurpose::Session)?, None);

    // Requests move forward one step at a time, each step once.
    db.insert_auth_request(&request("r1"))?;
    assert_eq!(
        db.issue_code("r1", &[7; 32], t(60), t(1), None)?,
        IssueCode::NotApproved,
        "no code before approval"
    );
    assert!(db.approve_auth_request("r1", &approval("citizen", "dev"), t(1), None)?);
    assert!(
        !db.approve_auth_request("r1", &approval("other", "dev"), t(1), None)?,
        "approved twice"
    );
    let approved = db.auth_request("r1")?.expect("request");
    assert_eq!(
        (
            approved.response_mode,
            &approved.claims,
            &approved.expected_sub
        ),
        (
            request("r1").response_mode,
            &request("r1").claims,
            &request("r1").expected_sub
        ),
        "what the client asked for reads back"
    );
    assert_eq!(
        (approved.login, approved.context),
        (
            LoginState::Approved(approval("citizen", "dev").approval),
            None
        )
    );
    // The approving device must be bound.
    assert_eq!(
        db.issue_code("r1", &[7; 32], t(60), t(1), None)?,
        IssueCode::DeviceGone
    );
    // An approval comes within the approval window; the browser continues within the
    // completion window; an expired page may show a new code while the page itself lives.
    db.insert_auth_request(&request("o1"))?;
    assert!(
        !db.approve_auth_request("o1", &approval("citizen", "dev"), t(600), None)?,
        "approved after its window"
    );
    assert!(
        !db.renew_auth_request("o1", t(720), t(500), t(-1))?,
        "not expired yet"
    );
    assert!(
        !db.renew_auth_request("o1", t(720), t(600), t(0))?,
        "the page is too old"
    );
    assert!(db.renew_auth_request("o1", t(720), t(600), t(-1))?);
    assert!(db.approve_auth_request("o1", &approval("citizen", "dev"), t(600), None)?);
    assert_eq!(
        db.issue_code("o1", &[5; 32], t(760), t(6), None)?,
        IssueCode::TooLate
    );
    assert_eq!(
        db.issue_code("o1", &[5; 32], t(760), t(5), None)?,
        IssueCode::DeviceGone,
        "in time, but no device dev"
    );
    // A pending request can be refused with its error, once.
    db.insert_auth_request(&request("r2"))?;
    assert!(db.deny_auth_request(
        "r2",
        RequestStatus::Pending,
        OAuthErrorCode::UnmetAuthenticationRequirements,
        None
    )?);
    assert!(!db.deny_auth_request(
        "r2",
        RequestStatus::Pending,
        OAuthErrorCode::AccessDenied,
        None
    )?);
    let denied = db.auth_request("r2")?.expect("request");
    assert_eq!(
        denied.login,
        LoginState::Denied(OAuthErrorCode::UnmetAuthenticationRequirements)
    );

    // Applications: unique references and credentials.
    db.insert_application(&application("a1", "AAAA-0001", "cred-a1"), &event("ev1"))?;
    assert!(matches!(
        db.insert_application(&application("a2", "AAAA-0001", "cred-a2"), &event("ev2")),
        Err(StoreError::Duplicate("reference"))
    ));
    assert!(matches!(
        db.insert_application(&application("a3", "AAAA-0003", "cred-a1"), &event("ev3")),
        Err(StoreError::Duplicate("credential_id"))
    ));
    db.insert_application(&application("a2", "AAAA-0002", "cred-a2"), &event("ev2b"))?;
    assert_eq!(
        db.application_by_reference("AAAA-0002")?
            .map(|a| a.application_id),
        Some("a2".into())
    );
    assert_eq!(
        db.application_by_credential("cred-a1")?
            .map(|a| a.application_id),
        Some("a1".into())
    );

    // The applying phone's answer at a counter lands by compare-and-set on its key: of two
    // answers carrying one signature counter, one lands.
    db.insert_application(&application("a9", "AAAA-0009", "cred-a9"), &event("eva9"))?;
    let presence = CounterPresence {
        at: t(5),
        officer_id: "o1".into(),
        device_id: None,
    };
    let raised = r#"{"counter":1}"#;
    assert!(!db.record_presence("a9", &presence, Some(("stale", raised)), &event("evp0"))?);
    assert_eq!(db.application("a9")?.and_then(|a| a.presence), None);
    assert!(db.record_presence("a9", &presence, Some(("{}", raised)), &event("evp1"))?);
    let present = db.application("a9")?.expect("application");
    assert_eq!(
        (present.presence, present.passkey.as_deref()),
        (Some(presence.clone()), Some(raised))
    );
    assert!(!db.record_presence("a9", &presence, Some(("{}", raised)), &event("evp2"))?);
    // An upgrade's answer names the device; a decided application takes none.
    let upgrade = CounterPresence {
        device_id: Some("d9".into()),
        ..presence.clone()
    };
    assert!(db.record_presence("a9", &upgrade, None, &event("evp3"))?);
    assert_eq!(
        db.application("a9")?.and_then(|a| a.presence),
        Some(upgrade.clone())
    );
    assert!(db.reject_application("a9", "other", &event("evp4"))?);
    assert!(!db.record_presence("a9", &upgrade, None, &event("evp5"))?);

    // An officer holds one key; confirming it is compare-and-set; revoking takes the keys,
    // the console sessions and the enrolment links.
    db.insert_officer(
        &OfficerRecord {
            officer_id: "o1".into(),
            name: "O".into(),
            active: true,
            created_at: t(0),
        },
        &event("evo"),
    )?;
    let key = |id: &str| OfficerCredentialRecord {
        credential_id: id.into(),
        officer_id: "o1".into(),
        user_handle: "h".into(),
        passkey: "{}".into(),
        created_at: t(1),
        last_used_at: None,
        attestation: Some("CN=root".into()),
        confirmed_at: None,
    };
    db.insert_officer_credential(&key("ok1"), &event("evk1"))?;
    assert!(matches!(
        db.insert_officer_credential(&key("ok2"), &event("evk2")),
        Err(StoreError::Duplicate("officer_key"))
    ));
    assert_eq!(db.officer_credential("ok2")?, None);
    assert!(db.confirm_officer_credential("ok1", t(2), &event("evk3"))?);
    assert!(!db.confirm_officer_credential("ok1", t(3), &event("evk4"))?);
    assert_eq!(
        db.officer_credentials("o1")?
            .iter()
            .map(|c| (c.confirmed_at, c.attestation.as_deref()))
            .collect::<Vec<_>>(),
        [(Some(t(2)), Some("CN=root"))]
    );
    db.insert_officer_session(&OfficerSessionRecord {
        token_hash: vec![9; 32],
        officer_id: "o1".into(),
        csrf_token: "c".into(),
        created_at: t(2),
        expires_at: t(100),
    })?;
    db.insert_ceremony(&CeremonyRecord {
        ceremony_id: "invite-o1".into(),
        purpose: CeremonyPurpose::OfficerInvite,
        subject_id: Some("o1".into()),
        state: vec![1],
        expires_at: t(100),
    })?;
    assert_eq!(db.revoke_officer_credentials("o1", &[event("evk5")])?, 1);
    assert!(db.officer_credentials("o1")?.is_empty());
    assert_eq!(db.officer_session(&[9; 32])?, None);
    assert_eq!(
        db.ceremony("invite-o1", CeremonyPurpose::OfficerInvite)?,
        None
    );

    // Proofing binds all or nothing: a new account with its device.
    db.bind_proven(&bind(
        "a1",
        AccountChange::Create(citizen("p1", 5, "ACCT-0001")),
        Some(device("d1", "p1")),
        1,
    ))?;
    assert_eq!(db.profile("p1")?, Some(vec![1; 4]));
    assert_eq!(
        db.account_profile("p1")?,
        Some((AccountStatus::Active, Some(vec![1; 4])))
    );
    let proven = db.application("a1")?.expect("application");
    assert_eq!(
        (
            proven.status,
            proven.citizen_id.as_deref(),
            proven.particulars,
            proven.passkey
        ),
        (ApplicationStatus::Proven, Some("p1"), None, None),
        "a proven application keeps no particulars"
    );
    assert_eq!(
        db.device_by_credential("cred-d1")?
            .map(|(d, c)| (d.device_id, c.citizen_id)),
        Some(("d1".into(), "p1".into()))
    );
    // With the approving device bound, a code is issued, and redeemed once.
    db.insert_auth_request(&request("r5"))?;
    assert!(db.approve_auth_request("r5", &approval("p1", "d1"), t(1), None)?);
    assert_eq!(
        db.issue_code("r5", &[7; 32], t(60), t(1), None)?,
        IssueCode::Issued
    );
    assert_eq!(
        db.issue_code("r5", &[7; 32], t(60), t(1), None)?,
        IssueCode::NotApproved
    );
    assert_eq!(
        db.auth_request_by_code(&[7; 32])?
            .map(|(r, _)| r.request_id),
        Some("r5".into())
    );
    let token = AccessTokenRecord {
        token_hash: vec![3; 32],
        request_id: "r5".into(),
        client_id: "c".into(),
        citizen_id: "citizen".into(),
        scope: Scopes::narrowed("openid"),
        expires_at: t(1000),
        claims: "sub".into(),
        jkt: Some("j".repeat(43)),
    };
    let refresh = RefreshTokenRecord {
        token_hash: vec![13; 32],
        family_id: "r5".into(),
        client_id: "c".into(),
        citizen_id: "p1".into(),
        device_id: "d1".into(),
        scope: Scopes::narrowed("openid offline_access"),
        claims: "sub offline_access".into(),
        acr: Level::Basic,
        amr: "swk".into(),
        auth_time: t(1),
        issued_at: t(2),
        expires_at: t(1000),
        family_expires_at: t(5000),
        used_at: None,
    };
    assert!(db.redeem_code("r5", Some(&token), Some(&refresh))?);
    let second = AccessTokenRecord {
        token_hash: vec![4; 32],
        ..token.clone()
    };
    assert!(
        !db.redeem_code("r5", Some(&second), None)?,
        "a code redeems once"
    );
    assert_eq!(
        db.access_token(&[4; 32])?,
        None,
        "the losing redemption stored no token"
    );
    assert_eq!(db.access_token(&[3; 32])?, Some(token.clone()));
    assert_eq!(
        db.refresh_token(&[13; 32])?,
        Some((refresh.clone(), Some(AccountStatus::Active)))
    );
    // A refresh token rotates once; its successor comes with a new access token.
    let successor = RefreshTokenRecord {
        token_hash: vec![14; 32],
        issued_at: t(10),
        ..refresh.clone()
    };
    let refreshed = AccessTokenRecord {
        token_hash: vec![5; 32],
        ..token.clone()
    };
    assert_eq!(
        db.renew_refresh_token(&[13; 32], t(10), Renewal::Rotate(&successor), &refreshed)?,
        Rotation::Rotated
    );
    let losing = RefreshTokenRecord {
        token_hash: vec![15; 32],
        ..successor.clone()
    };
    assert_eq!(
        db.renew_refresh_token(&[13; 32], t(11), Renewal::Rotate(&losing), &second)?,
        Rotation::AlreadyUsed,
        "a spent token rotates no more"
    );
    assert_eq!(
        db.refresh_token(&[15; 32])?,
        None,
        "the loser stored nothing"
    );
    assert_eq!(
        db.refresh_token(&[13; 32])?
            .and_then(|(token, _)| token.used_at),
        Some(t(10)),
        "the spent token is kept, to recognise a reuse"
    );
    // Revoking the grant takes every token of the family.
    assert_eq!(db.revoke_token_family("r5")?, 4);
    for gone in [[3; 32], [5; 32]] {
        assert_eq!(db.access_token(&gone)?, None);
    }
    for gone in [[13; 32], [14; 32]] {
        assert_eq!(db.refresh_token(&gone)?, None);
    }
    // The same application cannot bind twice.
    assert!(matches!(
        db.bind_proven(&bind(
            "a1",
            AccountChange::Create(citizen("p9", 9, "ACCT-0009")),
            None,
            2
        )),
        Err(StoreError::Conflict("application"))
    ));
    // Another account for the same HKID is refused, and nothing of it is written.
    assert!(matches!(
        db.bind_proven(&bind(
            "a2",
            AccountChange::Create(citizen("p2", 5, "ACCT-0002")),
            Some(device("d2", "p2")),
            2
        )),
        Err(StoreError::Duplicate("hkid"))
    ));
    assert_eq!(
        db.application("a2")?.map(|a| a.status),
        Some(ApplicationStatus::Open)
    );
    assert_eq!(db.device_by_credential("cred-d2")?, None);
    // A stale expectation of the account's status is a conflict.
    let stale = AccountChange::Update {
        citizen_id: "p1".into(),
        expected_status: AccountStatus::Suspended,
        level: Level::Basic,
        status: AccountStatus::Active,
        revoke_devices: true,
    };
    assert!(matches!(
        db.bind_proven(&bind("a2", stale, Some(device("d2", "p1")), 2)),
        Err(StoreError::Conflict("account"))
    ));
    assert_eq!(db.devices("p1")?.len(), 1, "the conflict revoked nothing");

    // The last device stays; a removed device's approvals die with it.
    db.insert_device(&device("d3", "p1"), &event("ev4"))?;
    db.insert_auth_request(&request("r3"))?;
    assert!(db.approve_auth_request("r3", &approval("p1", "d3"), t(1), None)?);
    assert_eq!(
        db.remove_device(&"p1".into(), &"d9".into(), &event("ev5"))?,
        DeleteDevice::NotFound
    );
    assert_eq!(
        db.remove_device(&"p2".into(), &"d3".into(), &event("ev6"))?,
        DeleteDevice::NotFound,
        "another account's device"
    );
    assert_eq!(
        db.remove_device(&"p1".into(), &"d3".into(), &event("ev7"))?,
        DeleteDevice::Deleted
    );
    assert_eq!(
        db.issue_code("r3", &[8; 32], t(60), t(1), None)?,
        IssueCode::DeviceGone,
        "no code from a removed device's approval"
    );
    assert_eq!(
        db.remove_device(&"p1".into(), &"d1".into(), &event("ev8"))?,
        DeleteDevice::LastDevice
    );
    assert_eq!(db.devices("p1")?.len(), 1);

    // A use is recorded only over the passkey it was checked against (compare-and-set), so
    // two assertions with the same counter cannot both land.
    assert!(db.touch_device("d1", "{}", "{\"n\":1}", t(10))?);
    assert!(
        !db.touch_device("d1", "{}", "{\"n\":1}", t(11))?,
        "the second of two same-counter uses"
    );
    assert_eq!(
        db.device("d1")?.map(|d| (d.passkey, d.last_used_at)),
        Some(("{\"n\":1}".to_owned(), Some(t(10))))
    );
    // A suspended device's pending approvals die; it stays listed, marked.
    db.insert_device(&device("d4", "p1"), &event("dev-ev9"))?;
    db.insert_auth_request(&request("r-suspended"))?;
    assert!(db.approve_auth_request("r-suspended", &approval("p1", "d4"), t(1), None)?);
    assert!(db.suspend_device("d4", t(12), &event("dev-ev10"))?);
    assert!(
        !db.suspend_device("d4", t(13), &event("dev-ev11"))?,
        "suspended once"
    );
    assert_eq!(db.device("d4")?.and_then(|d| d.suspended_at), Some(t(12)));
    assert_eq!(
        db.issue_code("r-suspended", &[6; 32], t(60), t(1), None)?,
        IssueCode::DeviceGone,
        "no code from a suspended device's approval"
    );
    assert_eq!(
        db.remove_device(&"p1".into(), &"d4".into(), &event("dev-ev12"))?,
        DeleteDevice::Deleted
    );

    // Recovery replaces every device, with their approvals, and withdraws standing consent.
    let consent = ConsentRecord {
        citizen_id: "p1".into(),
        client_id: "before".into(),
        claims: "sub".into(),
        granted_at: t(1),
    };
    db.insert_auth_request(&request("r4"))?;
    assert!(db.approve_auth_request(
        "r4",
        &approval("p1", "d1"),
        t(1),
        Some((&consent, &event("ev-consent")))
    )?);
    assert_eq!(db.consent(&"p1".into(), &"before".into())?, Some(consent));
    let recover = AccountChange::Update {
        citizen_id: "p1".into(),
        expected_status: AccountStatus::Active,
        level: Level::Basic,
        status: AccountStatus::Active,
        revoke_devices: true,
    };
    db.bind_proven(&bind("a2", recover, Some(device("d2", "p1")), 3))?;
    let ids: Vec<String> = db
        .devices("p1")?
        .into_iter()
        .map(|d| d.device_id.into_string())
        .collect();
    assert_eq!(ids, ["d2"]);
    assert_eq!(
        db.issue_code("r4", &[9; 32], t(60), t(1), None)?,
        IssueCode::DeviceGone
    );
    assert_eq!(db.consent(&"p1".into(), &"before".into())?, None);
    assert_eq!(db.profile("p1")?, Some(vec![3; 4]));

    // Status changes compare and set; closing erases and keeps the tombstone.
    assert!(db.set_account_status(
        "p1",
        &[AccountStatus::Active],
        AccountStatus::Suspended,
        &event("ev9")
    )?);
    assert!(!db.set_account_status(
        "p1",
        &[AccountStatus::Active],
        AccountStatus::Suspended,
        &event("ev10")
    )?);
    assert!(db.close_account("p1", &event("ev11"))?);
    assert!(!db.close_account("p1", &event("ev12"))?);
    let tomb = db.citizen("p1")?.expect("tombstone");
    assert_eq!((tomb.status, tomb.level), (AccountStatus::Closed, None));
    assert_eq!(
        db.citizen_by_hkid(&[5; 32])?.map(|c| c.citizen_id),
        Some("p1".into())
    );
    assert_eq!(db.profile("p1")?, None);
    assert_eq!(
        db.account_profile("p1")?,
        Some((AccountStatus::Closed, None))
    );
    assert_eq!(db.account_profile("nobody")?, None);
    assert!(db.devices("p1")?.is_empty());
    assert!(matches!(
        db.insert_device(&device("d4", "p1"), &event("ev13")),
        Err(StoreError::Conflict("account"))
    ));

    // Consents are recorded with approvals (replaced by a later one), listed, and withdrawn
    // with the service's tokens.
    let consent = ConsentRecord {
        citizen_id: "q1".into(),
        client_id: "c".into(),
        claims: "sub".into(),
        granted_at: t(1),
    };
    db.insert_auth_request(&request("r6"))?;
    assert!(db.approve_auth_request(
        "r6",
        &approval("q1", "dq"),
        t(1),
        Some((&consent, &event("ev-c1")))
    )?);
    let wider = ConsentRecord {
        claims: "name sub !gender".into(),
        granted_at: t(2),
        ..consent
    };
    db.insert_auth_request(&request("r7"))?;
    assert!(db.approve_auth_request(
        "r7",
        &approval("q1", "dq"),
        t(2),
        Some((&wider, &event("ev-c2")))
    )?);
    assert_eq!(db.consents("q1")?, std::slice::from_ref(&wider));
    assert_eq!(
        db.issue_code("r7", &[6; 32], t(60), t(2), None)?,
        IssueCode::DeviceGone,
        "no device dq"
    );
    assert!(db.withdraw_consent(&"q1".into(), &"c".into(), &event("ev-c3"))?);
    assert!(
        !db.withdraw_consent(&"q1".into(), &"c".into(), &event("ev-c4"))?,
        "withdrawn once"
    );
    assert!(db.consents("q1")?.is_empty());

    // Rate-limit windows count, then start again.
    assert_eq!(
        db.hit("b", 60, t(1_000))?,
        WindowCount {
            hits: 1,
            window_start: t(1_000)
        }
    );
    assert_eq!(db.hit("b", 60, t(1_030))?.hits, 2);
    assert_eq!(db.hit("other", 60, t(1_030))?.hits, 1);
    assert_eq!(
        db.hit("b", 60, t(1_061))?,
        WindowCount {
            hits: 1,
            window_start: t(1_061)
        }
    );

    // The audit trail reads back in order.
    let events: Vec<String> = db
        .events_since(t(0), 100)?
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        events,
        [
            "ev1",
            "ev2b",
            // A refused answer or confirmation writes no event (evp0, evp2, evp5, evk2, evk4).
            "eva9",
            "evp1",
            "evp3",
            "evp4",
            "evo",
            "evk1",
            "evk3",
            "evk5",
            "e-a1-1",
            "ev4",
            "ev7",
            "dev-ev9",
            "dev-ev10",
            "dev-ev12",
            "ev-consent",
            "e-a2-3",
            "ev9",
            "ev11",
            "ev-c1",
            "ev-c2",
            "ev-c3"
        ],
        "exactly the writes that happened, in order"
    );

    // Purging drops what expired, and keeps what did not.
    db.insert_auth_request(&AuthRequestRecord {
        expires_at: t(200_000),
        ..request("fresh")
    })?;
    // A request that issued a code stays a day past its expiry (to recognise a replay);
    // the others go at once.
    db.purge_expired(t(10_000), 120, 86_400, 1_800)?;
    assert!(
        db.auth_request("r5")?.is_some(),
        "a redeemed request stays a day"
    );
    for gone in ["r1", "r2", "r3", "r4"] {
        assert_eq!(db.auth_request(gone)?, None, "{gone}");
    }
    db.purge_expired(t(100_000), 120, 86_400, 1_800)?;
    assert_eq!(db.auth_request("r5")?, None);
    assert!(
        db.auth_request("fresh")?.is_some(),
        "an unexpired request survives"
    );
    assert_eq!(db.application("a2")?, None, "expired applications go");
    Ok(())
}

/// Several nodes starting at once on one empty database agree on one set of keys.
fn concurrent_first_start(backend: &Backend) -> anyhow::Result<()> {
    let tmp = TestDatabase::create(backend)?;
    let key = MasterKey::generate().to_base64();
    let url = tmp.url.clone();
    Database::open(&url, 2)?; // migrate once, as the first node would
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (url, key) = (url.clone(), key.clone());
            std::thread::spawn(
                move || -> anyhow::Result<(eid_proto::oauth::Jwks, eid_proto::oauth::Jwks)> {
                    let db = Database::open(&url, 2).context("opening")?;
                    let config = eid_core::ProviderConfig::new("http://localhost:1".parse()?);
                    let provider = eid_core::Provider::open(
                        Arc::new(db),
                        &MasterKey::from_base64(&key)?,
                        config,
                        t(0),
                    )
                    .context("opening the provider")?;
                    Ok((provider.jwks(), provider.connector_jwks()))
                },
            )
        })
        .collect();
    let mut sets = Vec::new();
    for h in handles {
        sets.push(h.join().map_err(|_| anyhow::anyhow!("thread panicked"))??);
    }
    assert!(
        sets.windows(2).all(|w| w[0] == w[1]),
        "nodes disagree on keys"
    );
    let db = Database::open(&url, 1)?;
    assert_eq!(db.signing_keys(KeyPurpose::Token)?.len(), 2);
    assert_eq!(db.signing_keys(KeyPurpose::Connector)?.len(), 1);
    let keyring =
        eid_core::custody::Keyring::new(MasterKey::from_base64(&key)?.derive_keys().data, None);
    assert_eq!(
        StoredKeys::load(&keyring, &db.signing_keys(KeyPurpose::Token)?)
            .map(|k| eid_core::keys::TokenKeys::jwks(&k))?,
        sets[0].0
    );
    Ok(())
}

async fn storage(backend: Backend) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        contract(&backend).map_err(|e| e.context("contract"))?;
        concurrent_first_start(&backend).map_err(|e| e.context("concurrent first start"))
    })
    .await?
}

on_every_backend!(storage_contract_holds, storage);
