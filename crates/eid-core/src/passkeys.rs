//! Passkeys in the browser: logging in on the device the browser runs on.
//!
//! - **Adding one.** From a signed-in browser whose session the phone approved in the last
//!   [`PASSKEY_FRESHNESS`] seconds (the account page sends the citizen through a fresh phone
//!   approval first), the page registers a discoverable credential (resident key, user
//!   verification) with eid as relying party. It becomes a device of the account like any
//!   other (`joined_by: browser`): listed, removable, subject to the attestation policy, and it
//!   dies with the account.
//! - **Logging in with one.** The login page asks the browser for a discoverable credential
//!   (conditional UI: the passkey is offered in the autofill of the page's field) over a
//!   challenge derived from the login request ([`PASSKEY_LABEL`]). Its assertion approves the
//!   request like the phone's would (the account's status and level, `acr_values`, the
//!   `id_token_hint`), sharing what the citizen's standing consent already shares: consent is
//!   still recorded only on the phone, so a passkey never shares more than the citizen agreed
//!   to there. The browser then continues as after a phone approval, which opens its session.

use eid_proto::api::{DeviceBound, RegistrationChallenge};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
};

use crate::account::{mask_name, JoinedBy};
use crate::attestation::KeyProtection;
use crate::ceremony::committed_challenge;
use crate::claims::offered_items;
use crate::crypto::ct_eq;
use crate::devices::{usable_level, NewDevice};
use crate::ids::CitizenId;
use crate::login::{request_ref, Choices};
use crate::store::{BrowserSessionRecord, CeremonyPurpose};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// How recently the phone must have approved in the browser for it to add a passkey.
pub const PASSKEY_FRESHNESS: i64 = 300;

/// The label a passkey login's challenge is committed under (with the request's nonce).
pub const PASSKEY_LABEL: &str = "eid-passkey-login";

/// A browser passkey's registration, between its options and the browser's answer.
#[derive(Serialize, Deserialize)]
struct BrowserRegisterState {
    registration: PasskeyRegistration,
    user_handle: String,
    citizen_id: String,
    session_id: String,
    device_name: String,
}

impl Provider {
    /// The browser's session, if the phone approved in it recently enough to add a passkey.
    fn fresh_session(
        &self,
        cookie: Option<&str>,
        csrf_token: &str,
        now: UnixTime,
    ) -> Result<BrowserSessionRecord, Error> {
        let session = self.session_form(cookie, csrf_token, now)?;
        let approved_on_phone = self
            .store
            .device(&session.device_id)?
            .is_some_and(|d| d.joined_by != JoinedBy::Browser);
        if now - session.auth_time > PASSKEY_FRESHNESS || !approved_on_phone {
            return Err(Error::Forbidden(
                "approve on your phone first: adding a passkey needs a fresh approval there".into(),
            ));
        }
        Ok(session)
    }

    /// Whether the browser's session may add a passkey now (the phone approved in it within
    /// [`PASSKEY_FRESHNESS`] seconds).
    pub fn may_add_passkey(&self, cookie: Option<&str>, now: UnixTime) -> Result<bool, Error> {
        let Some(session) = self.browser_session(cookie, now)? else {
            return Ok(false);
        };
        let csrf = self.session_csrf(&session.session_id);
        Ok(self.fresh_session(cookie, &csrf, now).is_ok())
    }

    /// Starts registering a passkey in the browser of a freshly approved session.
    pub fn start_browser_passkey(
        &self,
        cookie: Option<&str>,
        csrf_token: &str,
        device_name: &str,
        now: UnixTime,
    ) -> Result<RegistrationChallenge, Error> {
        let session = self.fresh_session(cookie, csrf_token, now)?;
        let device_name = crate::enrolment::validate_device_name(device_name)?;
        let citizen_id = session.citizen_id.clone().into_string();
        let account = self
            .store
            .citizen(&citizen_id)?
            .ok_or(Error::Unauthenticated)?;
        usable_level(&account)?;
        // The browser's passkey manager shows the name: the citizen's, masked.
        let shown = mask_name(&self.profile(&citizen_id)?.particulars.english_name);
        let (options, registration, user_handle) =
            self.start_device_registration(&citizen_id, &shown)?;
        let ceremony_id = self.put_ceremony(
            CeremonyPurpose::Register,
            Some(citizen_id.clone()),
            &BrowserRegisterState {
                registration,
                user_handle: user_handle.to_string(),
                citizen_id,
                session_id: session.session_id,
                device_name,
            },
            now + self.config.ceremony_ttl,
        )?;
        Ok(RegistrationChallenge {
            ceremony_id,
            options,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Finishes a browser passkey's registration: the same session, still fresh, answers; the
    /// key passes the attestation policy; it becomes a device of the account.
    pub fn finish_browser_passkey(
        &self,
        cookie: Option<&str>,
        csrf_token: &str,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        now: UnixTime,
    ) -> Result<DeviceBound, Error> {
        let session = self.fresh_session(cookie, csrf_token, now)?;
        let (_, state): (_, BrowserRegisterState) = self.take_ceremony(
            ceremony_id,
            CeremonyPurpose::Register,
            "passkey registration",
            now,
        )?;
        if state.session_id != session.session_id {
            return Err(Error::Forbidden(
                "this registration was started in another session".into(),
            ));
        }
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state.registration)
            .map_err(|e| Error::DeviceRefused(format!("passkey refused: {e}")))?;
        let device = self.bind_device(
            &passkey,
            NewDevice {
                citizen_id: CitizenId::from(state.citizen_id),
                user_handle: state.user_handle,
                name: state.device_name,
                joined_by: JoinedBy::Browser,
                acting: Some(session.device_id.clone()),
            },
            now,
        )?;
        tracing::info!(target: "eid::security", event = "device.bound", device_id = %device.device_id, joined_by = "browser", "a passkey was added in a signed-in browser");
        Ok(DeviceBound {
            citizen_id: device.citizen_id.into_string(),
            device_id: device.device_id.into_string(),
        })
    }

    /// The challenge of a login page's passkey (a discoverable credential, conditional UI).
    pub fn passkey_login_options(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        now: UnixTime,
    ) -> Result<RequestChallengeResponse, Error> {
        let request = self.browser_login(request_id, browser_secret)?;
        if request.login != crate::store::LoginState::Pending || request.expires_at <= now {
            return Err(Error::Gone("login request"));
        }
        let (mut options, _) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        options.public_key.challenge = self.passkey_challenge(request_id).to_vec();
        Ok(options)
    }

    fn passkey_challenge(&self, request_id: &str) -> [u8; 32] {
        committed_challenge(PASSKEY_LABEL, &self.approval_nonce(request_id), b"")
    }

    /// A login answered with a passkey in the browser that started it: approved like the
    /// phone's approval, sharing what the standing consent shares.
    pub fn answer_with_passkey(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        csrf_token: &str,
        credential: &PublicKeyCredential,
        now: UnixTime,
    ) -> Result<(), Error> {
        let request = self.browser_login(request_id, browser_secret)?;
        if !ct_eq(
            csrf_token.as_bytes(),
            self.login_csrf(request_id).as_bytes(),
        ) {
            return Err(Error::invalid(
                "csrf_token",
                "the form is stale or forged; reload the page",
            ));
        }
        if request.login != crate::store::LoginState::Pending || request.expires_at <= now {
            return Err(Error::Gone("login request"));
        }
        let state = self.discoverable_state(&self.passkey_challenge(request_id))?;
        let (device, account, passkey) = self.verify_assertion(credential, state, now)?;
        self.limit_here(
            "approvals_per_account",
            device.citizen_id.as_bytes(),
            self.config.limits.approvals_per_account,
            now,
        )?;
        let protection = KeyProtection::from_stored(device.attestation.as_deref());
        let level = self.approval_level(usable_level(&account)?, &protection);
        self.check_approver(&request, &device, level)?;
        let (sealed, consent) = self
            .store
            .profile_and_consent(&device.citizen_id, &request.client_id)?;
        let profile = self.open_profile(
            &device.citizen_id,
            &sealed.ok_or(Error::NotFound("account"))?,
        )?;
        let choices = consent
            .map(|c| Choices::parse(&c.claims))
            .unwrap_or_default();
        let granted = offered_items(request.scope, &request.claims, &profile)
            .iter()
            .filter(|t| t.essential || choices.shared.contains(t.claim))
            .map(|t| t.claim)
            .collect::<Vec<_>>()
            .join(" ");
        let ui_locale = self
            .stored_context(&request)?
            .and_then(|context| context.ui_locale);
        let approved = self.approve_with_use(
            request_id,
            crate::store::ApprovalRecord {
                device_use: Some((device.passkey.clone(), passkey)),
                ..self.approval_record(
                    request_id,
                    &device,
                    (level, &protection),
                    &granted,
                    (&profile, ui_locale),
                    now,
                )?
            },
            now,
            None,
        )?;
        if !approved {
            return Err(Error::Gone("login request"));
        }
        tracing::info!(target: "eid::security", event = "login.approved", client_id = %request.client_id, request = %request_ref(request_id), device_id = %device.device_id, claims = %granted, passkey = true, "login approved with a passkey in the browser");
        Ok(())
    }
}
