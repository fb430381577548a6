//! Single-use ceremonies (WebAuthn challenges, one-time codes) with sealed server-side state,
//! and WebAuthn challenges that commit to the data the authenticator approves.
//!
//! A plain WebAuthn challenge is random: the signature proves the device answered *this*
//! ceremony. A committed challenge is `SHA-256(label || 0 || nonce || SHA-256(data))` over the
//! ceremony's random nonce: the signature then also covers `data` (the evidence of an identity
//! proofing, a citizen's decision), so the signed request cannot be altered in transit and can be
//! checked again later from the data alone.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use eid_proto::api::PublicKeyCredential;
use webauthn_rs::prelude::{DiscoverableAuthentication, Passkey, WebauthnError};
use webauthn_rs::Webauthn;

use crate::crypto::{random_token, Aad};
use crate::store::{CeremonyPurpose, CeremonyRecord};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// The challenge that commits to `data` under `nonce` (the random challenge of the ceremony).
pub fn committed_challenge(label: &str, nonce: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(nonce);
    h.update(Sha256::digest(data));
    h.finalize().into()
}

/// Replaces the challenge a webauthn-rs authentication state expects (its `ast.challenge`) with
/// `challenge`. The state is the crate's serialisable form (feature
/// `danger-allow-state-serialisation`), whose shape the unit test below pins: a webauthn-rs
/// upgrade that changes it fails that test instead of silently accepting the random nonce.
pub(crate) fn rebind_challenge<S: Serialize + DeserializeOwned>(
    state: &S,
    challenge: &[u8],
) -> Result<S, Error> {
    let mut value = serde_json::to_value(state)
        .map_err(|e| Error::Internal(format!("serialising WebAuthn state: {e}")))?;
    let slot = value
        .get_mut("ast")
        .and_then(|ast| ast.get_mut("challenge"))
        .filter(|c| c.is_string())
        .ok_or_else(|| Error::Internal("WebAuthn state has no ast.challenge".into()))?;
    *slot = serde_json::Value::String(crate::crypto::b64url(challenge));
    serde_json::from_value(value)
        .map_err(|e| Error::Internal(format!("rebuilding WebAuthn state: {e}")))
}

/// Asks the authenticator for a discoverable (resident) credential: every sign-in eid offers is
/// username-less, so a credential the authenticator cannot find by itself could never sign in.
/// (webauthn-rs's passkey registration discourages resident keys; the hint is all WebAuthn has,
/// so the request is changed, not the verification.)
pub(crate) fn require_resident_key(options: &mut webauthn_rs::prelude::CreationChallengeResponse) {
    use webauthn_rs_proto::{
        AuthenticatorSelectionCriteria, ResidentKeyRequirement, UserVerificationPolicy,
    };
    let selection =
        options
            .public_key
            .authenticator_selection
            .get_or_insert(AuthenticatorSelectionCriteria {
                authenticator_attachment: None,
                resident_key: None,
                require_resident_key: false,
                user_verification: UserVerificationPolicy::Required,
            });
    selection.resident_key = Some(ResidentKeyRequirement::Required);
    selection.require_resident_key = true;
}

impl Provider {
    /// Stores a ceremony with sealed `state` under a fresh random id; returns the id.
    pub(crate) fn put_ceremony<T: Serialize>(
        &self,
        purpose: CeremonyPurpose,
        subject_id: Option<String>,
        state: &T,
        expires_at: UnixTime,
    ) -> Result<String, Error> {
        let ceremony_id = random_token();
        self.put_ceremony_as(&ceremony_id, purpose, subject_id, state, expires_at)?;
        Ok(ceremony_id)
    }

    /// Stores a ceremony under a given id (the hash of a one-time code, say).
    pub(crate) fn put_ceremony_as<T: Serialize>(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
        subject_id: Option<String>,
        state: &T,
        expires_at: UnixTime,
    ) -> Result<(), Error> {
        self.store.insert_ceremony(&CeremonyRecord {
            state: self
                .derived
                .data
                .seal_json(Aad::Ceremony(ceremony_id), state)?,
            ceremony_id: ceremony_id.to_owned(),
            purpose,
            subject_id,
            expires_at,
        })?;
        Ok(())
    }

    /// Takes a single-use ceremony (it is deleted whether or not what follows succeeds) and
    /// opens its sealed state; an expired or unknown ceremony is `Gone(what)`.
    pub(crate) fn take_ceremony<T: DeserializeOwned>(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
        what: &'static str,
        now: UnixTime,
    ) -> Result<(CeremonyRecord, T), Error> {
        let ceremony = self.store.take_ceremony(ceremony_id, purpose)?;
        self.open_ceremony(ceremony, what, now)
    }

    /// Reads a ceremony without taking it (a one-time link shown before it is used).
    pub(crate) fn peek_ceremony<T: DeserializeOwned>(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
        what: &'static str,
        now: UnixTime,
    ) -> Result<(CeremonyRecord, T), Error> {
        let ceremony = self.store.ceremony(ceremony_id, purpose)?;
        self.open_ceremony(ceremony, what, now)
    }

    fn open_ceremony<T: DeserializeOwned>(
        &self,
        ceremony: Option<CeremonyRecord>,
        what: &'static str,
        now: UnixTime,
    ) -> Result<(CeremonyRecord, T), Error> {
        let ceremony = ceremony
            .filter(|c| c.expires_at > now)
            .ok_or(Error::Gone(what))?;
        let state = self
            .derived
            .data
            .open_json(Aad::Ceremony(&ceremony.ceremony_id), &ceremony.state)?;
        Ok((ceremony, state))
    }
}

/// A stored passkey (public key and counter) read back.
pub(crate) fn passkey_from_json(json: &str) -> Result<Passkey, Error> {
    serde_json::from_str(json)
        .map_err(|e| Error::Internal(format!("stored passkey does not parse: {e}")))
}

/// A passkey as stored.
pub(crate) fn passkey_to_json(passkey: &Passkey) -> Result<String, Error> {
    serde_json::to_string(passkey)
        .map_err(|e| Error::Internal(format!("serialising a passkey: {e}")))
}

/// Refuses an assertion made inside a cross-origin frame (WebAuthn Level 3 §5.8.1
/// `crossOrigin`, `topOrigin`): eid's ceremonies are never embedded in another site, and
/// webauthn-rs checks `crossOrigin` only at registration.
pub fn refuse_cross_origin(credential: &PublicKeyCredential) -> Result<(), Error> {
    let client_data: serde_json::Value =
        serde_json::from_slice(credential.response.client_data_json.as_ref())
            .map_err(|_| Error::DeviceRefused("the assertion's client data is not JSON".into()))?;
    let cross = client_data
        .get("crossOrigin")
        .is_some_and(|v| v != &serde_json::Value::Bool(false));
    if cross || client_data.get("topOrigin").is_some() {
        return Err(Error::DeviceRefused(
            "the assertion was made inside another site's frame".into(),
        ));
    }
    Ok(())
}

/// What a discoverable assertion's check found.
pub(crate) enum Checked {
    /// It verifies: the passkey as it is to be stored again (its counter raised).
    Valid(String),
    /// The signature is good but its counter did not go up: another copy of the key signed
    /// since (WebAuthn Level 2 §6.1.1).
    CounterRegressed,
}

/// Verifies a discoverable assertion against a stored passkey.
pub(crate) fn verify_discoverable(
    webauthn: &Webauthn,
    credential: &PublicKeyCredential,
    state: DiscoverableAuthentication,
    stored: &str,
) -> Result<Checked, Error> {
    refuse_cross_origin(credential)?;
    let mut passkey = passkey_from_json(stored)?;
    let result = match webauthn.finish_discoverable_authentication_v2(credential, state, &passkey) {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => return Ok(Checked::CounterRegressed),
        Err(e) => return Err(Error::DeviceRefused(format!("assertion refused: {e}"))),
    };
    passkey.update_credential(&result);
    passkey_to_json(&passkey).map(Checked::Valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use webauthn_rs::prelude::PasskeyAuthentication;

    #[test]
    fn committed_challenges_depend_on_every_input() {
        let base = committed_challenge("eid-proofing", b"nonce", b"data");
        assert_ne!(base, committed_challenge("eid-other", b"nonce", b"data"));
        assert_ne!(
            base,
            committed_challenge("eid-proofing", b"nonce2", b"data")
        );
        assert_ne!(base, committed_challenge("eid-proofing", b"nonce", b"datb"));
        // Pinned, so the wallet's copy of the formula can be checked against it.
        assert_eq!(
            crate::crypto::b64url(&base),
            crate::crypto::b64url(&{
                let mut h = Sha256::new();
                h.update(b"eid-proofing\0nonce");
                h.update(Sha256::digest(b"data"));
                <[u8; 32]>::from(h.finalize())
            })
        );
    }

    fn with_client_data(client_data: serde_json::Value) -> PublicKeyCredential {
        serde_json::from_value(serde_json::json!({
            "id": "AAAA",
            "rawId": "AAAA",
            "response": {
                "authenticatorData": "AAAA",
                "clientDataJSON": crate::crypto::b64url(client_data.to_string().as_bytes()),
                "signature": "AAAA",
                "userHandle": null
            },
            "extensions": {},
            "type": "public-key"
        }))
        .unwrap()
    }

    #[test]
    fn assertions_from_cross_origin_frames_are_refused() {
        let base = serde_json::json!({"type": "webauthn.get", "challenge": "x", "origin": "http://localhost:8080"});
        assert!(refuse_cross_origin(&with_client_data(base.clone())).is_ok());
        let mut same = base.clone();
        same["crossOrigin"] = false.into();
        assert!(refuse_cross_origin(&with_client_data(same)).is_ok());
        let mut cross = base.clone();
        cross["crossOrigin"] = true.into();
        assert!(refuse_cross_origin(&with_client_data(cross)).is_err());
        let mut framed = base.clone();
        framed["topOrigin"] = "https://evil.example".into();
        assert!(refuse_cross_origin(&with_client_data(framed)).is_err());
        let mut odd = base;
        odd["crossOrigin"] = "yes".into();
        assert!(refuse_cross_origin(&with_client_data(odd)).is_err());
    }

    #[test]
    fn registrations_ask_for_discoverable_credentials() {
        let webauthn = webauthn_rs::WebauthnBuilder::new(
            "localhost",
            &url::Url::parse("http://localhost:8080").unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        let (mut options, _) = webauthn
            .start_passkey_registration(uuid::Uuid::new_v4(), "n", "n", None)
            .unwrap();
        require_resident_key(&mut options);
        let json = serde_json::to_value(&options).unwrap();
        let selection = &json["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(selection["userVerification"], "required");
    }

    #[test]
    fn the_webauthn_state_challenge_can_be_rebound() {
        let webauthn = webauthn_rs::WebauthnBuilder::new(
            "localhost",
            &url::Url::parse("http://localhost:8080").unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        let (options, state): (_, webauthn_rs::prelude::DiscoverableAuthentication) =
            webauthn.start_discoverable_authentication().unwrap();
        let nonce: &[u8] = AsRef::<[u8]>::as_ref(&options.public_key.challenge);
        let challenge = committed_challenge("t", nonce, b"x");
        let rebound = rebind_challenge(&state, &challenge).unwrap();
        let json = serde_json::to_value(&rebound).unwrap();
        assert_eq!(
            json["ast"]["challenge"],
            serde_json::Value::String(crate::crypto::b64url(&challenge))
        );
        // The other state type carries the same shape.
        let value = serde_json::json!({"ast": json["ast"].clone()});
        let passkey: PasskeyAuthentication = serde_json::from_value(value).unwrap();
        assert!(rebind_challenge(&passkey, &challenge).is_ok());
    }
}
