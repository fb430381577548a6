//! Token-key rotation: new keys are published at once and sign from their start; the previous
//! ones stay published until every ID token they signed has expired, so tokens issued before a
//! rotation still verify against the key set, then they retire.

use eid_core::keys::JwsAlg;
use eid_testkit::Backend;

use crate::support::*;

fn kid_of(jwt: &str) -> String {
    let header = eid_core::crypto::b64url_decode(jwt.split('.').next().unwrap_or_default())
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&header).unwrap_or_default()["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn keys_rotate_without_breaking_tokens(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let rp = Rp::register(&server, "Example Bank", JwsAlg::Es256).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    let browser = Browser::new();
    let (start_a, callback, _) = login_to_callback(&server, &rp, &browser, &mut wallet).await?;
    let before = rp
        .exchange(&callback.param("code").expect("code"), start_a.verifier)
        .await?;
    let old_kid = kid_of(
        &before
            .extra_fields()
            .id_token()
            .expect("id_token")
            .to_string(),
    );

    let provider = server.provider();
    let now = eid_server::now();
    let new_kids = tokio::task::spawn_blocking({
        let provider = provider.clone();
        move || provider.rotate_token_keys(now, now)
    })
    .await??;
    assert_eq!(new_kids.len(), 2, "an ES256 and an RS256 key");
    // A new key starts a second after the newest one at the earliest (the server's keys may
    // be from this very second): wait for it, as the servers' next reload would.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reloaded = provider.clone();
    tokio::task::spawn_blocking(move || reloaded.reload_token_keys(eid_server::now())).await??;
    let jwks: serde_json::Value = reqwest::get(format!("{}/jwks", server.issuer()))
        .await?
        .json()
        .await?;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(published.len(), 4, "old and new keys: {published:?}");
    assert!(published.contains(&old_kid.as_str()));

    // A relying party that fetches the key set now still verifies the earlier ID token...
    let fresh = Rp::discover(
        &server,
        rp.client_id.clone(),
        Some(rp.client_secret.clone()),
        JwsAlg::Es256,
    )
    .await?;
    fresh.verify(&before, &start_a.nonce)?;
    // A browser without a single sign-on session: the phone is asked.
    let browser = Browser::new();
    // ...and new ID tokens are signed with the new key.
    let (after, _) = login(&server, &fresh, &browser, &mut wallet).await?;
    let new_kid = kid_of(
        &after
            .extra_fields()
            .id_token()
            .expect("id_token")
            .to_string(),
    );
    assert_ne!(new_kid, old_kid);
    assert!(new_kids.contains(&new_kid));

    // Once every token the old keys signed has expired, they leave the key set.
    let later = now + provider.config().id_token_ttl + 2 * eid_core::KEY_RELOAD_SECS + 1;
    let jwks = tokio::task::spawn_blocking(move || {
        provider.reload_token_keys(later).map(|()| provider.jwks())
    })
    .await??;
    let mut remaining: Vec<String> = jwks.keys.into_iter().map(|k| k.kid).collect();
    remaining.sort();
    let mut expected = new_kids.clone();
    expected.sort();
    assert_eq!(remaining, expected);
    Ok(())
}
on_every_backend!(rotation, keys_rotate_without_breaking_tokens);
