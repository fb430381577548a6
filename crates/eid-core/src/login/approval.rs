//! The phone's side of a login: the request as the phone reads it, and its signed answer.

use std::collections::BTreeSet;

use eid_proto::api::{
    ApprovalDecision, ApprovalRequest, ApprovalResult, ApprovalSubmission, ConsentItem,
    RequestContext, ServiceInfo,
};
use serde::{Deserialize, Serialize};
use url::Url;
use webauthn_rs::prelude::{DiscoverableAuthentication, RequestChallengeResponse};

use crate::account::{mask_name, Profile};
use crate::attestation::KeyProtection;
use crate::audit::{Actor, Detail, Event};
use crate::authority::{self, Action as AuthorityAction, Facts};
use crate::ceremony::{committed_challenge, rebind_challenge};
use crate::claims::{display_value, offered_items, requested_items, ClaimItem};
use crate::crypto::{b64url, ct_eq, sha256, Aad};
use crate::devices::usable_level;
use crate::error::AccountRefusal;
use crate::ids::CitizenId;
use crate::store::{
    Approval, ApprovalRecord, AuthRequestRecord, ConsentRecord, LoginState, RequestStatus,
    WalletSessionRecord,
};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// The label of the committed challenge an approval signs.
pub const APPROVAL_LABEL: &str = "eid-approval";

/// Seconds each QR payload of a login page is valid for.
pub const QR_STEP: i64 = 30;

/// Where a login was started, sealed in its row until the phone has answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Once approved: whose account approved, masked, for the browser to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The language the client asked for the pages in (`ui_locales`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_locale: Option<crate::locale::Locale>,
    /// The action on the account this request asks the phone to approve (adding a passkey),
    /// if any: its approval counts for that action only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// Once approved: the citizen chose on the phone to sign this browser in to eid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stay_signed_in: bool,
}

impl StoredContext {
    /// What survives the phone's approval: the language and the purpose (the browser's
    /// address and software are no longer shown).
    pub(crate) fn carried(&self) -> Self {
        Self {
            ui_locale: self.ui_locale,
            purpose: self.purpose.clone(),
            ..Self::default()
        }
    }
}

/// An action on the citizen's own account that a login request asks the phone to approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum Purpose {
    /// Add a passkey in the requesting browser: the registration ceremony it commits to.
    AddPasskey { ceremony_id: String },
}

impl Purpose {
    /// The opaque token the phone's decision echoes (a hash: the ceremony's id is not shown).
    pub(crate) fn token(&self) -> String {
        match self {
            Self::AddPasskey { ceremony_id } => {
                b64url(&sha256(format!("add_passkey\0{ceremony_id}").as_bytes()))
            }
        }
    }

    fn action(&self) -> &'static str {
        match self {
            Self::AddPasskey { .. } => "add_passkey",
        }
    }

    /// What the phone shows: the action, the browser and the address it was started from.
    fn describe(&self, context: &StoredContext) -> (String, String) {
        let browser = match (&context.browser, &context.os) {
            (Some(b), Some(o)) => format!("{b} on {o}"),
            (Some(b), None) => b.clone(),
            (None, Some(o)) => format!("a browser on {o}"),
            (None, None) => "an unrecognised browser".to_owned(),
        };
        let from = context
            .address
            .as_deref()
            .map(|a| format!(", started from {a}"))
            .unwrap_or_default();
        let zh_from = context
            .address
            .as_deref()
            .map(|a| format!("（由 {a} 發起）"))
            .unwrap_or_default();
        match self {
            Self::AddPasskey { .. } => (
                format!("Add a passkey on {browser}{from}, to your eid account. It will log you in on that device without your phone."),
                format!("在 {browser}{zh_from} 為您的 eid 帳戶加入密碼匙。該裝置其後毋須手機即可為您登入。"),
            ),
        }
    }
}

/// The browser family and operating system a `User-Agent` names, in words a citizen knows.
/// Coarse on purpose: enough to notice "I am not on Windows", nothing to fingerprint.
pub fn describe_user_agent(ua: &str) -> (Option<&'static str>, Option<&'static str>) {
    let has = |needle: &str| ua.contains(needle);
    let browser = if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chromium/") {
        Some("Chromium")
    } else if has("Chrome/") || has("CriOS/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else if has("curl/") {
        Some("curl")
    } else if has("python") || has("Python") {
        Some("a Python program")
    } else {
        None
    };
    let os = if has("Windows") {
        Some("Windows")
    } else if has("iPhone") || has("iPad") || has("iPod") {
        Some("iOS")
    } else if has("Android") {
        Some("Android")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    (browser, os)
}

/// How the citizen answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Approve,
    Decline,
    NotMe,
}

impl Answer {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approve" => Self::Approve,
            "decline" => Self::Decline,
            "not_me" => Self::NotMe,
            _ => return None,
        })
    }
}

/// A standing consent's choices: what is shared, and what the citizen chose not to share (so
/// that a remembered decision covers the items it decided, shared or not). Stored as claim
/// names, declined ones prefixed with `!`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Choices {
    pub shared: BTreeSet<String>,
    pub declined: BTreeSet<String>,
}

impl Choices {
    pub(crate) fn parse(stored: &str) -> Self {
        let mut out = Self::default();
        for claim in stored.split(' ').filter(|c| !c.is_empty()) {
            match claim.strip_prefix('!') {
                Some(declined) => out.declined.insert(declined.to_owned()),
                None => out.shared.insert(claim.to_owned()),
            };
        }
        out
    }

    fn to_stored(&self) -> String {
        self.shared
            .iter()
            .cloned()
            .chain(self.declined.iter().map(|c| format!("!{c}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn decided(&self, claim: &str) -> bool {
        self.shared.contains(claim) || self.declined.contains(claim)
    }
}

/// A short reference to a login request for logs: the request id is a capability, so only
/// a hash of it is written.
pub(crate) fn request_ref(request_id: &str) -> String {
    b64url(&sha256(request_id.as_bytes())[..9])
}

impl Provider {
    /// A value derived from a request id for one purpose.
    fn login_value(&self, purpose: &str, request_id: &str, extra: &[u8]) -> [u8; 32] {
        self.derived
            .logins
            .hash(&[purpose.as_bytes(), request_id.as_bytes(), extra])
    }

    /// The nonce the approval challenge commits under.
    pub(crate) fn approval_nonce(&self, request_id: &str) -> [u8; 32] {
        self.login_value("approval nonce", request_id, &[])
    }

    /// The CSRF token of the login page's forms (the browser also needs the login's cookie).
    pub fn login_csrf(&self, request_id: &str) -> String {
        b64url(&self.login_value("csrf", request_id, &[])[..16])
    }

    /// The rotating code of a request for a step: 64 bits, enough for a code that opens a
    /// request for 30 seconds, and short, to keep the QR code sparse.
    fn qr_code_for(&self, request_id: &str, step: i64) -> String {
        b64url(&self.login_value("qr", request_id, &step.to_be_bytes())[..8])
    }

    /// The QR step a request is in, and the seconds until the next.
    fn qr_step(request: &AuthRequestRecord, now: UnixTime) -> (i64, i64) {
        let age = (now - request.created_at).max(0);
        (age / QR_STEP, QR_STEP - age % QR_STEP)
    }

    /// The approval link a login page shows now (the QR code's payload), and the seconds until
    /// it is replaced.
    pub fn approval_link(&self, request: &AuthRequestRecord, now: UnixTime) -> (String, i64) {
        let (step, changes_in) = Self::qr_step(request, now);
        (
            format!(
                "{}/api/v1/approvals/{}?t={}",
                self.config.issuer_str(),
                request.request_id,
                self.qr_code_for(&request.request_id, step)
            ),
            changes_in,
        )
    }

    /// The number the login page shows, and the three the phone offers (it among them), all
    /// distinct two-digit numbers.
    pub(crate) fn match_numbers(&self, request_id: &str) -> (u8, Vec<u8>) {
        let h = self.login_value("numbers", request_id, &[]);
        let pick = |i: usize| 10 + (u16::from_be_bytes([h[i], h[i + 1]]) % 90) as u8;
        let correct = pick(0);
        let mut shown = vec![correct];
        for i in (2..28).step_by(2) {
            let n = pick(i);
            if shown.len() < 3 && !shown.contains(&n) {
                shown.push(n);
            }
        }
        // Thirteen draws from ninety all colliding is practically impossible; fill anyway.
        let mut next = correct;
        while shown.len() < 3 {
            next = 10 + (next - 10 + 37) % 90;
            if !shown.contains(&next) {
                shown.push(next);
            }
        }
        shown.swap(0, usize::from(h[30] % 3));
        (correct, shown)
    }

    /// The approval's WebAuthn options: a discoverable assertion whose challenge is the
    /// request's nonce (the phone commits its decision under it).
    fn approval_options(&self, request_id: &str) -> Result<RequestChallengeResponse, Error> {
        let (mut options, _) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        options.public_key.challenge = self.approval_nonce(request_id).to_vec();
        Ok(options)
    }

    /// A request still waiting for the phone, within its approval window.
    fn pending_request(&self, request_id: &str, now: UnixTime) -> Result<AuthRequestRecord, Error> {
        let request = self
            .store
            .auth_request(request_id)?
            .ok_or(Error::NotFound("login request"))?;
        if request.login != LoginState::Pending || request.expires_at <= now {
            return Err(Error::Gone("login request"));
        }
        Ok(request)
    }

    /// What a login request asks for, as the phone shows it. `code` is the rotating code from
    /// the QR payload: only the current one opens the request. With the wallet's `session`,
    /// the items carry the citizen's values and what they already share with the service.
    pub fn approval_request(
        &self,
        request_id: &str,
        code: Option<&str>,
        session: Option<&WalletSessionRecord>,
        now: UnixTime,
    ) -> Result<ApprovalRequest, Error> {
        let request = self.pending_request(request_id, now)?;
        let (step, _) = Self::qr_step(&request, now);
        let current = self.qr_code_for(request_id, step);
        if !code.is_some_and(|c| ct_eq(c.as_bytes(), current.as_bytes())) {
            return Err(Error::Gone("login code"));
        }
        let client = self
            .store
            .client(&request.client_id)?
            .ok_or(Error::Gone("login request"))?;
        let mut context = self.stored_context(&request)?.unwrap_or_default();
        if session.is_none() {
            // Where the login was started (address, browser) is the requester's: only the
            // citizen's own wallet, in its session, reads it, not whoever photographs the QR
            // code (L9 of the 2026-12-07 review).
            context.browser = None;
            context.os = None;
            context.address = None;
        }
        let prompt_consent = prompts(&request).any(|p| p == "consent");
        let item = |t: &ClaimItem, value: Option<String>, remembered: bool| ConsentItem {
            claim: t.claim.to_owned(),
            scope: t.scope.as_str().to_owned(),
            en: t.en.to_owned(),
            zh_hant: t.zh_hant.to_owned(),
            essential: t.essential,
            value,
            remembered,
        };
        let (items, account, ask_consent) = match session {
            Some(session) => {
                let (sealed, consent) = self
                    .store
                    .profile_and_consent(&session.citizen_id, &request.client_id)?;
                let sealed = sealed.ok_or(Error::NotFound("account"))?;
                let profile = self.open_profile(&session.citizen_id, &sealed)?;
                let choices = consent.map(|c| Choices::parse(&c.claims));
                let offered = offered_items(request.scope, &request.claims, &profile);
                let ask = prompt_consent
                    || choices.as_ref().is_none_or(|c| {
                        offered.iter().any(|t| !t.essential && !c.decided(t.claim))
                    });
                let items = offered
                    .iter()
                    .map(|t| {
                        let remembered =
                            choices.as_ref().is_some_and(|c| c.shared.contains(t.claim));
                        item(t, display_value(t.claim, &profile), remembered)
                    })
                    .collect();
                (
                    items,
                    Some(mask_name(&profile.particulars.english_name)),
                    ask,
                )
            }
            None => (
                requested_items(request.scope, &request.claims)
                    .iter()
                    .map(|t| item(t, None, false))
                    .collect(),
                None,
                true,
            ),
        };
        let redirect_host = Url::parse(&request.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(ApprovalRequest {
            request_id: request.request_id.clone(),
            service: ServiceInfo {
                logo_uri: client.metadata.logo_uri.clone(),
                policy_uri: client.metadata.policy_uri.clone(),
                tos_uri: client.metadata.tos_uri.clone(),
                client_id: client.client_id.into_string(),
                name: client.name,
                redirect_host,
            },
            context: RequestContext {
                browser: context.browser.clone(),
                os: context.os.clone(),
                address: context.address.clone(),
                requested_at: request.created_at.secs(),
            },
            items,
            numbers: self.match_numbers(request_id).1,
            ask_consent,
            account,
            expires_in: (request.expires_at - now).unsigned_abs(),
            required_level: request.required_level.map(|l| l.as_str().to_owned()),
            purpose: context.purpose.as_ref().map(|p| {
                let (en, zh_hant) = p.describe(&context);
                eid_proto::api::ApprovalPurpose {
                    action: p.action().to_owned(),
                    en,
                    zh_hant,
                    token: p.token(),
                }
            }),
            // A browser is signed in to eid only when the citizen says so on the phone (an
            // action's approval signs in nobody: the browser is signed in already).
            offers_sign_in: context.purpose.is_none(),
            options: self.approval_options(request_id)?,
        })
    }

    /// The phone's answer: a decision, signed inside an assertion over the challenge that
    /// commits to it. An approval with the right number and an account at the requested level
    /// approves; a wrong number, a decline or "not me" ends the request (and is recorded).
    pub fn answer_approval(
        &self,
        request_id: &str,
        submission: &ApprovalSubmission,
        now: UnixTime,
    ) -> Result<ApprovalResult, Error> {
        let request = self.pending_request(request_id, now)?;
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            submission.decision.as_bytes(),
        )
        .map_err(|_| Error::invalid("decision", "is not base64url"))?;
        let decision: ApprovalDecision = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("decision", format!("is not a decision: {e}")))?;
        if decision.request_id != request_id {
            return Err(Error::invalid("decision", "answers another login request"));
        }
        let answer = Answer::parse(&decision.answer).ok_or_else(|| {
            Error::invalid("decision.answer", "must be approve, decline or not_me")
        })?;
        let context = self.stored_context(&request)?.unwrap_or_default();
        // A request for an action names it, and an approval must echo it: the signature then
        // commits to that action. A login's approval never carries one. ("Not me" and
        // "decline" stop the request whatever they name.)
        let named = decision.purpose == context.purpose.as_ref().map(Purpose::token);
        if !named && (answer == Answer::Approve || decision.purpose.is_some()) {
            return Err(Error::invalid(
                "decision.purpose",
                "does not name what this request asks the phone to approve",
            ));
        }
        let challenge =
            committed_challenge(APPROVAL_LABEL, &self.approval_nonce(request_id), &bytes);
        let state = self.discoverable_state(&challenge)?;
        let (device, account, passkey) =
            self.verify_assertion(&submission.credential, state, now)?;
        // The phone's answer: a browser passkey answers only logins in its own browser.
        let credential = self.device_credential(&device, now);
        authority::permit(credential, AuthorityAction::AnswerLogin, &Facts::default())?;
        if context.purpose.is_some() {
            // Approving an action needs the authority for it (no cooling-off linked phone).
            authority::permit(
                credential,
                AuthorityAction::AddAuthenticator,
                &Facts {
                    purpose_approved: true,
                    ..Facts::default()
                },
            )?;
        }
        // However many phones and addresses it uses, an account answers only so often.
        self.limit_here(
            "approvals_per_account",
            device.citizen_id.as_bytes(),
            self.config.limits.approvals_per_account,
            now,
        )?;
        // The key's kind decides what the approval proves: `amr`, and the level it reaches.
        let protection = KeyProtection::from_stored(device.attestation.as_deref());
        let level = self.approval_level(usable_level(&account)?, &protection);
        let actor = Actor::Citizen {
            device_id: Some(device.device_id.clone().into_string()),
        };
        let ended = |action: &'static str, reason: &str| -> Result<(), Error> {
            self.record_use(&device, &passkey, now)?;
            let event = self.record(
                Event::new(action, &actor)
                    .citizen(&device.citizen_id)
                    .device(&device.device_id)
                    .detail(Detail {
                        client_id: Some(request.client_id.clone().into_string()),
                        reason: Some(reason.to_owned()),
                        ..Detail::default()
                    }),
                now,
            )?;
            if !self.store.deny_auth_request(
                request_id,
                RequestStatus::Pending,
                OAuthErrorCode::AccessDenied,
                Some(&event),
            )? {
                return Err(Error::Gone("login request"));
            }
            Ok(())
        };
        let request_ref = request_ref(request_id);
        match answer {
            Answer::NotMe => {
                ended("login.not_me", "not_me")?;
                tracing::warn!(target: "eid::security", event = "login.not_me", client_id = %request.client_id, request = %request_ref, device_id = %device.device_id, "the citizen did not start this login: stopped");
                return Ok(ApprovalResult {
                    status: "stopped".into(),
                });
            }
            Answer::Decline => {
                ended("login.declined", "declined")?;
                tracing::info!(target: "eid::security", event = "login.declined", client_id = %request.client_id, request = %request_ref, device_id = %device.device_id, "the citizen declined the login");
                return Ok(ApprovalResult {
                    status: "declined".into(),
                });
            }
            Answer::Approve => {}
        }
        let (correct, _) = self.match_numbers(request_id);
        if decision.number != Some(correct) {
            ended("login.wrong_number", "wrong_number")?;
            tracing::warn!(target: "eid::security", event = "login.wrong_number", client_id = %request.client_id, request = %request_ref, device_id = %device.device_id, "wrong number picked: login stopped");
            return Err(Error::WrongNumber);
        }
        self.check_approver(&request, &device, level)?;
        let profile = self.profile(&device.citizen_id)?;
        let choices = shared_claims(&request, &profile, &decision)?;
        let granted = choices.shared.iter().cloned().collect::<Vec<_>>().join(" ");
        let consent = if decision.remember {
            self.remembered_consent(&request, &device.citizen_id, &actor, &choices, now)?
        } else {
            None
        };
        let approved = self.approve_with_use(
            request_id,
            ApprovalRecord {
                device_use: Some((device.passkey.clone(), passkey)),
                ..self.approval_record(
                    request_id,
                    &device,
                    (level, &protection),
                    &granted,
                    (
                        &profile,
                        StoredContext {
                            // Signing in to eid here is the citizen's choice on the phone.
                            stay_signed_in: decision.stay_signed_in && context.purpose.is_none(),
                            ..context.carried()
                        },
                    ),
                    now,
                )?
            },
            now,
            consent.as_ref().map(|(c, e)| (c, e)),
        )?;
        if !approved {
            return Err(Error::Gone("login request"));
        }
        tracing::info!(target: "eid::security", event = "login.approved", client_id = %request.client_id, request = %request_ref, device_id = %device.device_id, claims = %granted, remembered = consent.is_some(), "login approved on the phone");
        Ok(ApprovalResult {
            status: "approved".into(),
        })
    }

    /// What a device's approval (on the phone, or a browser's passkey) establishes: who, with
    /// which key, at which level, sharing what; and what the browser shows next (whose account,
    /// masked), kept with the request so that showing it reads no profile.
    pub(crate) fn approval_record(
        &self,
        request_id: &str,
        device: &crate::store::DeviceRecord,
        (level, protection): (crate::account::Level, &KeyProtection),
        granted: &str,
        (profile, carried): (&Profile, StoredContext),
        now: UnixTime,
    ) -> Result<ApprovalRecord, Error> {
        Ok(ApprovalRecord {
            device_use: None,
            approval: Approval {
                citizen_id: device.citizen_id.clone(),
                device_id: device.device_id.clone(),
                auth_time: now,
                acr: level,
                amr: protection.amr().to_owned(),
                granted: granted.to_owned(),
            },
            context: Some(self.derived.data.seal_json(
                Aad::AuthRequest(request_id),
                &StoredContext {
                    account: Some(mask_name(&profile.particulars.english_name)),
                    ..carried
                },
            )?),
        })
    }

    /// What every approver (the phone, a browser's passkey) must meet once its signature
    /// verified: the level the client asked for (`acr_values`), and the citizen its
    /// `id_token_hint` names. A failure ends the request with the OIDC error.
    pub(crate) fn check_approver(
        &self,
        request: &AuthRequestRecord,
        device: &crate::store::DeviceRecord,
        level: crate::account::Level,
    ) -> Result<(), Error> {
        let request_id = request.request_id.as_str();
        if let Some(required) = request.required_level.filter(|r| level < *r) {
            // The client asked for more than this account has: the login fails with the
            // OIDC error rather than going on at a lower level.
            self.store.deny_auth_request(
                request_id,
                RequestStatus::Pending,
                OAuthErrorCode::UnmetAuthenticationRequirements,
                None,
            )?;
            return Err(Error::AccountRefused(AccountRefusal::LevelTooLow {
                required,
                actual: level,
            }));
        }
        let hinted_elsewhere = match &request.expected_sub {
            Some(sub) => match self.store.client(&request.client_id)? {
                Some(client) => *sub != self.pairwise_sub(&client, &device.citizen_id),
                None => true,
            },
            None => false,
        };
        if hinted_elsewhere {
            // The service asked for another citizen's login (its id_token_hint).
            self.store.deny_auth_request(
                request_id,
                RequestStatus::Pending,
                OAuthErrorCode::AccessDenied,
                None,
            )?;
            tracing::warn!(target: "eid::security", event = "login.not_the_hinted_account", client_id = %request.client_id, request = %request_ref(request_id), device_id = %device.device_id, "an account other than the one the service named tried to approve: stopped");
            return Err(Error::AccountRefused(AccountRefusal::NotTheHintedAccount));
        }
        Ok(())
    }

    /// Approves a request and records its device's use in one transaction (one commit).
    pub(crate) fn approve_with_use(
        &self,
        request_id: &str,
        record: ApprovalRecord,
        now: UnixTime,
        consent: Option<(&ConsentRecord, &crate::store::AuditRecord)>,
    ) -> Result<bool, Error> {
        match self
            .store
            .approve_auth_request(request_id, &record, now, consent)
        {
            Err(crate::store::StoreError::Conflict("device")) => Err(Error::DeviceRefused(
                "this device signed another request at the same moment; try again".into(),
            )),
            other => Ok(other?),
        }
    }

    /// A webauthn-rs discoverable-authentication state expecting `challenge`.
    pub(crate) fn discoverable_state(
        &self,
        challenge: &[u8],
    ) -> Result<DiscoverableAuthentication, Error> {
        let (_, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        rebind_challenge(&state, challenge)
    }

    /// The standing consent to record with an approval, unless the citizen's remembered
    /// choices already say the same.
    fn remembered_consent(
        &self,
        request: &AuthRequestRecord,
        citizen_id: &str,
        actor: &Actor,
        choices: &Choices,
        now: UnixTime,
    ) -> Result<Option<(ConsentRecord, crate::store::AuditRecord)>, Error> {
        let previous = self
            .store
            .consent(&CitizenId::from(citizen_id), &request.client_id)?
            .map(|c| Choices::parse(&c.claims));
        // Claims this request did not offer keep their earlier decision.
        let mut merged = previous.clone().unwrap_or_default();
        for claim in choices.shared.iter().chain(&choices.declined) {
            merged.shared.remove(claim);
            merged.declined.remove(claim);
        }
        merged.shared.extend(choices.shared.iter().cloned());
        merged.declined.extend(choices.declined.iter().cloned());
        if previous.as_ref() == Some(&merged) {
            return Ok(None);
        }
        let event = self.record(
            Event::new("consent.granted", actor)
                .citizen(citizen_id)
                .detail(Detail {
                    client_id: Some(request.client_id.clone().into_string()),
                    claims: merged.shared.iter().cloned().collect(),
                    ..Detail::default()
                }),
            now,
        )?;
        Ok(Some((
            ConsentRecord {
                citizen_id: CitizenId::from(citizen_id.to_owned()),
                client_id: request.client_id.clone(),
                claims: merged.to_stored(),
                granted_at: now,
            },
            event,
        )))
    }
}

/// The claims an approval shares: the essential ones, and those chosen among the offered (a
/// claim that was not offered is refused); the offered ones not chosen are declined.
fn shared_claims(
    request: &AuthRequestRecord,
    profile: &Profile,
    decision: &ApprovalDecision,
) -> Result<Choices, Error> {
    let offered = offered_items(request.scope, &request.claims, profile);
    let chosen: BTreeSet<&str> = decision.claims.iter().map(String::as_str).collect();
    if let Some(unknown) = chosen
        .iter()
        .find(|c| !offered.iter().any(|t| t.claim == **c))
    {
        return Err(Error::invalid(
            "decision.claims",
            format!("{unknown} was not offered"),
        ));
    }
    let mut choices = Choices::default();
    for t in &offered {
        if t.essential || chosen.contains(t.claim) {
            choices.shared.insert(t.claim.to_owned());
        } else {
            choices.declined.insert(t.claim.to_owned());
        }
    }
    Ok(choices)
}

/// The `prompt` values of a request.
pub(crate) fn prompts(request: &AuthRequestRecord) -> impl Iterator<Item = &str> {
    request
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_described_coarsely() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                (Some("Edge"), Some("Windows")),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                (Some("Firefox"), Some("Linux")),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                (Some("Safari"), Some("iOS")),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                (Some("Chrome"), Some("Android")),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                (Some("Safari"), Some("macOS")),
            ),
            ("curl/8.11.0", (Some("curl"), None)),
            ("", (None, None)),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe_user_agent(ua), expected, "{ua}");
        }
    }

    #[test]
    fn choices_round_trip_with_declined_claims() {
        let c = Choices::parse("sub name !gender");
        assert!(c.decided("gender") && c.decided("name") && !c.decided("address"));
        assert_eq!(c.to_stored(), "name sub !gender");
        assert_eq!(Choices::parse(&c.to_stored()), c);
    }
}
