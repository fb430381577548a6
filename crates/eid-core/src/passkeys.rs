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
    CreationChallengeResponse, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse,
};

use crate::account::{mask_name, JoinedBy};
use crate::attestation::KeyProtection;
use crate::authority::{self, Action, Facts};
use crate::ceremony::committed_challenge;
use crate::claims::offered_items;
use crate::crypto::ct_eq;
use crate::devices::{usable_level, NewDevice};
use crate::ids::{CitizenId, DeviceId};
use crate::limits::Caller;
use crate::login::{request_ref, Choices, Purpose, StoredContext};
use crate::oidc::authorize::{AuthorizationParams, PendingLogin};
use crate::portal::ACCOUNT_CLIENT_ID;
use crate::store::{BrowserSessionRecord, CeremonyPurpose};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// How recently the phone must have approved adding the passkey for the browser to create it.
pub const PASSKEY_FRESHNESS: i64 = 300;

/// The label a passkey login's challenge is committed under (with the request's nonce).
pub const PASSKEY_LABEL: &str = "eid-passkey-login";

/// A browser passkey's registration: started with the phone's approval request that names it,
/// finished once the phone approved that request.
#[derive(Serialize, Deserialize)]
struct BrowserRegisterState {
    registration: PasskeyRegistration,
    options: CreationChallengeResponse,
    user_handle: String,
    citizen_id: String,
    session_id: String,
    /// The login request (eid's own client) whose purpose is this registration.
    approval_request: String,
}

impl Provider {
    /// Starts adding a passkey in a signed-in browser: the registration ceremony, and the
    /// phone approval that names it ("Add a passkey on Chrome on Windows, started from ...").
    /// The browser goes to the approval's login page; no login's approval counts instead.
    pub fn start_passkey_approval(
        &self,
        cookie: Option<&str>,
        caller: &Caller,
        locale: Option<crate::locale::Locale>,
        now: UnixTime,
    ) -> Result<PendingLogin, Error> {
        let session = self
            .browser_session(cookie, now)?
            .ok_or(Error::Unauthenticated)?;
        let device = self
            .store
            .device(&session.device_id)?
            .ok_or(Error::Unauthenticated)?;
        if device.joined_by == JoinedBy::Browser {
            // A passkey's own session never adds one (the phone would approve, but the
            // browser would keep growing from a credential that cannot manage the account).
            return Err(Error::Forbidden(
                "a passkey's session cannot add another passkey; sign in with your phone".into(),
            ));
        }
        let citizen_id = session.citizen_id.clone().into_string();
        let account = self
            .store
            .citizen(&citizen_id)?
            .ok_or(Error::Unauthenticated)?;
        usable_level(&account)?;
        let client = self
            .store
            .client(ACCOUNT_CLIENT_ID)?
            .ok_or_else(|| Error::Internal("eid's own client is missing".into()))?;
        // The browser's passkey manager shows the name: the citizen's, masked.
        let shown = mask_name(&self.profile(&citizen_id)?.particulars.english_name);
        let (options, registration, user_handle) =
            self.start_device_registration(&citizen_id, &shown)?;
        let ceremony_id = crate::crypto::random_token();
        let params = AuthorizationParams {
            response_type: Some("code".into()),
            client_id: Some(ACCOUNT_CLIENT_ID.into()),
            redirect_uri: Some(self.account_redirect_uri()),
            scope: Some("openid".into()),
            prompt: Some("login".into()),
            state: Some(format!("passkey.{ceremony_id}")),
            // Never redeemed: the approval is what the registration needs.
            code_challenge: Some(crate::oidc::pkce::challenge_of(
                &crate::crypto::random_token(),
            )),
            code_challenge_method: Some("S256".into()),
            ui_locales: locale.map(|l| l.tag().to_owned()),
            ..AuthorizationParams::default()
        };
        let mut request = self
            .checked_request(&client, &params, now)
            .map_err(Error::OAuth)?;
        // Only this citizen's phone may approve it.
        request.expected_sub = Some(self.pairwise_sub(&client, &citizen_id));
        let pending = self.open_login(
            &client,
            &self.account_redirect_uri(),
            &request,
            caller,
            Some(Purpose::AddPasskey {
                ceremony_id: ceremony_id.clone(),
            }),
            now,
        )?;
        self.put_ceremony_as(
            &ceremony_id,
            CeremonyPurpose::Register,
            Some(citizen_id.clone()),
            &BrowserRegisterState {
                registration,
                options,
                user_handle: user_handle.to_string(),
                citizen_id,
                session_id: session.session_id,
                approval_request: pending.request_id.clone(),
            },
            now + self.config.login_ttl,
        )?;
        Ok(pending)
    }

    /// Whether the phone approved adding this passkey: the request the ceremony names has it
    /// as its purpose, a phone of the session's citizen with the authority to add one approved
    /// it within [`PASSKEY_FRESHNESS`] seconds, and it is the same browser session.
    fn passkey_approved(
        &self,
        session: &BrowserSessionRecord,
        ceremony_id: &str,
        state: &BrowserRegisterState,
        now: UnixTime,
    ) -> Result<DeviceId, Error> {
        let refused = || {
            Error::Forbidden("approve adding this passkey on your phone first (it names it)".into())
        };
        if state.session_id != session.session_id || state.citizen_id != session.citizen_id.as_str()
        {
            return Err(Error::Forbidden(
                "this passkey was started in another session".into(),
            ));
        }
        let request = self
            .store
            .auth_request(&state.approval_request)?
            .ok_or_else(refused)?;
        let expected = Purpose::AddPasskey {
            ceremony_id: ceremony_id.to_owned(),
        };
        let names_it = self
            .stored_context(&request)?
            .is_some_and(|c| c.purpose.as_ref() == Some(&expected));
        let approval = request.login.approval().ok_or_else(refused)?;
        if !names_it
            || approval.citizen_id != session.citizen_id
            || now - approval.auth_time > PASSKEY_FRESHNESS
        {
            return Err(refused());
        }
        let device = self
            .store
            .device(&approval.device_id)?
            .filter(|d| d.citizen_id == session.citizen_id && d.suspended_at.is_none())
            .ok_or_else(refused)?;
        authority::permit(
            self.device_credential(&device, now),
            Action::AddAuthenticator,
            &Facts {
                purpose_approved: true,
                ..Facts::default()
            },
        )?;
        Ok(device.device_id)
    }

    /// Whether the browser may create the passkey of `ceremony_id` now (the phone approved it).
    pub fn may_add_passkey(
        &self,
        cookie: Option<&str>,
        ceremony_id: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, Error> {
        let (Some(session), Some(ceremony_id)) = (self.browser_session(cookie, now)?, ceremony_id)
        else {
            return Ok(false);
        };
        let Ok((_, state)) = self.peek_ceremony::<BrowserRegisterState>(
            ceremony_id,
            CeremonyPurpose::Register,
            "passkey registration",
            now,
        ) else {
            return Ok(false);
        };
        Ok(self
            .passkey_approved(&session, ceremony_id, &state, now)
            .is_ok())
    }

    /// The creation options of a passkey the phone approved (the browser then creates it).
    pub fn start_browser_passkey(
        &self,
        cookie: Option<&str>,
        csrf_token: &str,
        ceremony_id: &str,
        now: UnixTime,
    ) -> Result<RegistrationChallenge, Error> {
        let session = self.session_form(cookie, csrf_token, now)?;
        let (ceremony, state): (_, BrowserRegisterState) = self.peek_ceremony(
            ceremony_id,
            CeremonyPurpose::Register,
            "passkey registration",
            now,
        )?;
        self.passkey_approved(&session, ceremony_id, &state, now)?;
        Ok(RegistrationChallenge {
            ceremony_id: ceremony_id.to_owned(),
            options: state.options,
            expires_in: (ceremony.expires_at - now).max(0).unsigned_abs(),
        })
    }

    /// Finishes a browser passkey's registration: the same session answers, the phone approved
    /// this very registration, the key passes the attestation policy; it becomes a device of
    /// the account (logging in in this browser only), and the account's other devices are told.
    pub fn finish_browser_passkey(
        &self,
        cookie: Option<&str>,
        csrf_token: &str,
        ceremony_id: &str,
        device_name: &str,
        credential: &RegisterPublicKeyCredential,
        now: UnixTime,
    ) -> Result<DeviceBound, Error> {
        let session = self.session_form(cookie, csrf_token, now)?;
        let device_name = crate::enrolment::validate_device_name(device_name)?;
        let (_, state): (_, BrowserRegisterState) = self.take_ceremony(
            ceremony_id,
            CeremonyPurpose::Register,
            "passkey registration",
            now,
        )?;
        let approver = self.passkey_approved(&session, ceremony_id, &state, now)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state.registration)
            .map_err(|e| Error::DeviceRefused(format!("passkey refused: {e}")))?;
        let device = self.bind_device(
            &passkey,
            NewDevice {
                citizen_id: CitizenId::from(state.citizen_id),
                user_handle: state.user_handle,
                name: device_name,
                joined_by: JoinedBy::Browser,
                acting: Some(approver),
            },
            now,
        )?;
        tracing::info!(target: "eid::security", event = "device.bound", device_id = %device.device_id, joined_by = "browser", "a passkey was added in a signed-in browser, approved on the phone for that purpose");
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
        // Any device key may answer here, in the browser that started the login: a passkey's
        // own browser (the login page's challenge binds the assertion to this request).
        authority::permit(
            self.device_credential(&device, now),
            Action::AnswerLogin,
            &Facts {
                own_browser: true,
                ..Facts::default()
            },
        )?;
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
        let context = self.stored_context(&request)?.unwrap_or_default();
        if context.purpose.is_some() {
            // An action on the account is approved on the phone, never with a passkey.
            return Err(Error::Forbidden(
                "approve this on your phone: a passkey cannot".into(),
            ));
        }
        let approved = self.approve_with_use(
            request_id,
            crate::store::ApprovalRecord {
                device_use: Some((device.passkey.clone(), passkey)),
                ..self.approval_record(
                    request_id,
                    &device,
                    (level, &protection),
                    &granted,
                    (
                        &profile,
                        StoredContext {
                            // The passkey is this browser's own: it signs the browser in.
                            stay_signed_in: true,
                            ..context.carried()
                        },
                    ),
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
