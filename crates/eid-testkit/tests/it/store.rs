//! The storage contract, on each backend: single-use ceremonies, compare-and-set state
//! transitions, the last-device guard, and concurrent first starts.

use std::sync::Arc;

use eid_core::crypto::MasterKey;
use eid_core::keys::SoftwareKeys;
use eid_core::store::*;
use eid_store::Database;
use eid_testkit::{backends, Backend, TestDatabase};

fn request(id: &str) -> AuthRequestRecord {
    AuthRequestRecord {
        request_id: id.into(),
        client_id: "c".into(),
        redirect_uri: "https://rp.example/cb".into(),
        scope: "openid".into(),
        state: Some("s".into()),
        nonce: None,
        code_challenge: "x".repeat(43),
        browser_hash: vec![1; 32],
        csrf_token: "t".into(),
        approval_state: Some(vec![9; 10]),
        status: RequestStatus::Pending,
        citizen_id: None,
        device_id: None,
        auth_time: None,
        code_hash: None,
        code_expires_at: None,
        created_at: 0,
        expires_at: 600,
    }
}

fn device(id: &str, citizen: &str) -> DeviceRecord {
    DeviceRecord {
        device_id: id.into(),
        citizen_id: citizen.into(),
        credential_id: format!("cred-{id}"),
        name: id.into(),
        passkey: "{}".into(),
        created_at: 0,
        last_used_at: None,
    }
}

fn contract(backend: &Backend) -> anyhow::Result<()> {
    let tmp = TestDatabase::create(backend)?;
    let db = Database::open(&tmp.url, 4)?;

    // Ceremonies are single-use and purpose-bound.
    let ceremony = CeremonyRecord {
        ceremony_id: "c1".into(),
        purpose: CeremonyPurpose::Session,
        citizen_id: None,
        state: vec![1, 2, 3],
        expires_at: 100,
    };
    db.insert_ceremony(&ceremony)?;
    assert_eq!(db.take_ceremony("c1", CeremonyPurpose::Register)?, None);
    assert_eq!(
        db.take_ceremony("c1", CeremonyPurpose::Session)?,
        Some(ceremony)
    );
    assert_eq!(db.take_ceremony("c1", CeremonyPurpose::Session)?, None);

    // Requests move forward one step at a time, each step once.
    db.insert_auth_request(&request("r1"))?;
    assert!(
        !db.issue_code("r1", &[7; 32], 60)?,
        "no code before approval"
    );
    assert!(db.approve_auth_request("r1", "citizen", "dev", 5)?);
    assert!(
        !db.approve_auth_request("r1", "other", "dev", 6)?,
        "approved twice"
    );
    let approved = db.auth_request("r1")?.expect("request");
    assert_eq!(
        (
            approved.status,
            approved.citizen_id.as_deref(),
            approved.approval_state
        ),
        (RequestStatus::Approved, Some("citizen"), None)
    );
    assert!(db.issue_code("r1", &[7; 32], 60)?);
    assert_eq!(
        db.auth_request_by_code(&[7; 32])?.map(|r| r.request_id),
        Some("r1".into())
    );
    let token = AccessTokenRecord {
        token_hash: vec![3; 32],
        request_id: "r1".into(),
        client_id: "c".into(),
        citizen_id: "citizen".into(),
        scope: "openid".into(),
        expires_at: 1000,
    };
    assert!(db.redeem_code("r1", &token)?);
    let second = AccessTokenRecord {
        token_hash: vec![4; 32],
        ..token.clone()
    };
    assert!(!db.redeem_code("r1", &second)?, "a code redeems once");
    assert_eq!(
        db.access_token(&[4; 32])?,
        None,
        "the losing redemption stored no token"
    );
    assert_eq!(db.access_token(&[3; 32])?, Some(token));
    assert_eq!(db.revoke_tokens_for_request("r1")?, 1);
    assert_eq!(db.access_token(&[3; 32])?, None);

    // The last device stays.
    let citizen = CitizenRecord {
        citizen_id: "p1".into(),
        hkid_index: vec![5; 32],
        profile: vec![6],
        created_at: 0,
    };
    db.insert_citizen_with_device(&citizen, &device("d1", "p1"))?;
    let again = CitizenRecord {
        citizen_id: "p2".into(),
        ..citizen.clone()
    };
    assert!(matches!(
        db.insert_citizen_with_device(&again, &device("d9", "p2")),
        Err(StoreError::Duplicate("hkid"))
    ));
    assert_eq!(
        db.device_by_credential("cred-d9")?,
        None,
        "a refused enrolment leaves no device"
    );
    db.insert_device(&device("d2", "p1"))?;
    assert_eq!(
        db.delete_device_unless_last("p1", "d3")?,
        DeleteDevice::NotFound
    );
    assert_eq!(
        db.delete_device_unless_last("p2", "d2")?,
        DeleteDevice::NotFound,
        "another citizen's device"
    );
    assert_eq!(
        db.delete_device_unless_last("p1", "d2")?,
        DeleteDevice::Deleted
    );
    assert_eq!(
        db.delete_device_unless_last("p1", "d1")?,
        DeleteDevice::LastDevice
    );
    assert_eq!(db.devices("p1")?.len(), 1);

    // Consent upserts.
    let consent = ConsentRecord {
        citizen_id: "p1".into(),
        client_id: "c".into(),
        scope: "openid".into(),
        granted_at: 1,
    };
    db.upsert_consent(&consent)?;
    let wider = ConsentRecord {
        scope: "openid email".into(),
        granted_at: 2,
        ..consent
    };
    db.upsert_consent(&wider)?;
    assert_eq!(db.consent("p1", "c")?, Some(wider));

    // Purging drops what expired.
    assert!(db.purge_expired(10_000_000)? >= 1);
    assert_eq!(db.auth_request("r1")?, None);
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
            std::thread::spawn(move || -> anyhow::Result<eid_proto::oauth::Jwks> {
                let db = Database::open(&url, 2)?;
                let config = eid_core::ProviderConfig::new("http://localhost:1".parse()?);
                let provider = eid_core::Provider::open(
                    Arc::new(db),
                    &MasterKey::from_base64(&key)?,
                    config,
                    0,
                )?;
                Ok(provider.jwks())
            })
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
    assert_eq!(db.signing_keys()?.len(), 2);
    let sealer = MasterKey::from_base64(&key)?.derive_keys().data;
    assert_eq!(
        SoftwareKeys::load(&sealer, &db.signing_keys()?)
            .map(|k| eid_core::keys::TokenKeys::jwks(&k))?,
        sets[0]
    );
    Ok(())
}

#[test]
fn storage_contract_holds_on_every_backend() -> anyhow::Result<()> {
    for backend in backends()? {
        contract(&backend).map_err(|e| e.context(format!("on {backend:?}")))?;
        concurrent_first_start(&backend).map_err(|e| e.context(format!("on {backend:?}")))?;
    }
    Ok(())
}
