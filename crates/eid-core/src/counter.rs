//! The counter step of in-person proofing: the applying phone proves it is at the counter.
//!
//! An officer who approves an application binds its device to an account at level `plus` (a
//! new account, or the recovery of the one that holds the HKID number). The officer compares
//! the card with the person in front of them; what binds *that person* to the device is this
//! step. When the officer opens an application ([`Provider::review_application`]) the console
//! shows a one-time code and a QR code of its URL. The applying phone reads the challenge
//! ([`Provider::counter_challenge`]) and answers ([`Provider::answer_counter`]) with an
//! assertion of its own key (an upgrade: of a phone of the account) over the challenge that
//! commits to its decision, `SHA-256("eid-counter" || 0 || nonce || SHA-256(decision))`, the
//! decision naming the code and the application's reference. Only then, and only for
//! [`ProviderConfig::counter_presence_window`](crate::ProviderConfig) afterwards, may that
//! officer approve ([`Provider::present_device`]); the review page shows the phone's name and
//! how its key is protected.
//!
//! The code opens nothing by itself: answering needs the application's key, and a wallet that
//! did not apply is refused (and logged). What it does not stop is a live relay: someone at
//! the counter reading the code to the phone's holder elsewhere. The console therefore shows
//! the phone's name, and the officer asks to see the phone confirm.

use eid_proto::api::{
    CounterAnswered, CounterChallenge, CounterDecision, CounterSubmission, RequestChallengeResponse,
};
use serde::{Deserialize, Serialize};

use crate::account::JoinedBy;
use crate::attestation::KeyProtection;
use crate::audit::{Actor, Detail, Event};
use crate::ceremony::{committed_challenge, passkey_from_json, verify_discoverable, Checked};
use crate::crypto::{b64url, b64url_decode, random_bytes, sha256};
use crate::limits::Caller;
use crate::store::{
    ApplicationKind, ApplicationRecord, ApplicationStatus, CeremonyPurpose, CounterPresence,
};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// The label of the committed challenge a counter answer signs.
pub const COUNTER_LABEL: &str = "eid-counter";

/// Largest decision accepted (a code and a reference).
const MAX_DECISION_BYTES: usize = 1024;

/// A counter challenge, sealed at rest (subject: the application).
#[derive(Serialize, Deserialize)]
struct CounterState {
    nonce: Vec<u8>,
    /// The officer whose review showed it: only their approval counts the answer.
    officer_id: String,
}

/// A challenge as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterCode {
    /// `482-193-067`: nine digits, read out or typed on the phone.
    pub code: String,
    /// What the QR code holds: the challenge's URL on the public listener.
    pub url: String,
    pub expires_at: UnixTime,
}

/// The phone an application is proven with, as the officer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentDevice {
    /// What the citizen calls it.
    pub name: String,
    pub protection: KeyProtection,
}

/// Where the counter step stands for the officer reviewing an open application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterStep {
    /// The phone answered this officer's challenge: approval is open until `until`.
    Present {
        device: PresentDevice,
        answered_at: UnixTime,
        until: UnixTime,
    },
    /// Waiting for the phone to answer `challenge`. An enrolment names its phone already.
    Waiting {
        device: Option<PresentDevice>,
        challenge: CounterCode,
    },
}

/// Nine digits from a code as typed (`482-193-067`, `482 193 067`, `482193067`), or `None`.
pub fn normalise_counter_code(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == 9 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// `482-193-067` from `482193067`.
fn display_code(digits: &str) -> String {
    format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..])
}

/// A random code: nine digits (about 30 bits; the code is not what protects the step, the
/// application's key is, and it lives for minutes).
fn new_code() -> String {
    let n = u64::from_le_bytes(random_bytes::<8>()) % 1_000_000_000;
    format!("{n:09}")
}

/// The ceremony id of a code: only its hash is stored.
fn ceremony_id(digits: &str) -> String {
    b64url(&sha256(format!("counter:{digits}").as_bytes()))
}

impl Provider {
    /// A new one-time challenge for `application`'s phone, shown to `officer_id`.
    pub(crate) fn start_counter_challenge(
        &self,
        application: &ApplicationRecord,
        officer_id: &str,
        now: UnixTime,
    ) -> Result<CounterCode, Error> {
        let digits = new_code();
        let expires_at = now + self.config.counter_challenge_ttl;
        self.put_ceremony_as(
            &ceremony_id(&digits),
            CeremonyPurpose::Counter,
            Some(application.application_id.clone()),
            &CounterState {
                nonce: random_bytes::<32>().to_vec(),
                officer_id: officer_id.to_owned(),
            },
            expires_at,
        )?;
        Ok(CounterCode {
            url: format!(
                "{}/api/v1/counter-challenges/{digits}",
                self.config.issuer_str()
            ),
            code: display_code(&digits),
            expires_at,
        })
    }

    /// The challenge of a code and its open application (nothing is consumed).
    fn open_counter_challenge(
        &self,
        code: &str,
        now: UnixTime,
    ) -> Result<(String, CounterState, ApplicationRecord), Error> {
        let digits = normalise_counter_code(code)
            .ok_or_else(|| Error::invalid("code", "is nine digits, like 482-193-067"))?;
        let (ceremony, state): (_, CounterState) = self.peek_ceremony(
            &ceremony_id(&digits),
            CeremonyPurpose::Counter,
            "counter code",
            now,
        )?;
        let application = match ceremony.subject_id {
            Some(id) => self.store.application(&id)?,
            None => None,
        }
        .filter(|a| a.expires_at > now && a.status == ApplicationStatus::Open)
        .ok_or(Error::Gone("counter code"))?;
        Ok((digits, state, application))
    }

    /// `GET /api/v1/counter-challenges/{code}`: what the phone answers.
    pub fn counter_challenge(
        &self,
        code: &str,
        caller: &Caller,
        now: UnixTime,
    ) -> Result<CounterChallenge, Error> {
        self.limit_address_here(
            "counter-per-address",
            caller,
            self.config.limits.approvals_per_address,
            now,
        )?;
        let (digits, state, application) = self.open_counter_challenge(code, now)?;
        let expires_in = self
            .store
            .ceremony(&ceremony_id(&digits), CeremonyPurpose::Counter)?
            .map_or(0, |c| (c.expires_at - now).max(0).unsigned_abs());
        Ok(CounterChallenge {
            code: display_code(&digits),
            reference: application.reference,
            options: self.counter_options(&state.nonce)?,
            expires_in,
        })
    }

    /// A discoverable assertion whose challenge is the nonce (the phone commits under it).
    fn counter_options(&self, nonce: &[u8]) -> Result<RequestChallengeResponse, Error> {
        let (mut options, _) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        options.public_key.challenge = nonce.to_vec();
        Ok(options)
    }

    /// `POST /api/v1/counter-challenges/{code}`: the applying phone's signed answer. Only the
    /// application's own key (an upgrade: a phone of the account) counts; the code is used up.
    pub fn answer_counter(
        &self,
        code: &str,
        submission: &CounterSubmission,
        caller: &Caller,
        now: UnixTime,
    ) -> Result<CounterAnswered, Error> {
        self.limit_address_here(
            "counter-per-address",
            caller,
            self.config.limits.approvals_per_address,
            now,
        )?;
        let (digits, state, application) = self.open_counter_challenge(code, now)?;
        let bytes = b64url_decode(&submission.decision)
            .filter(|b| b.len() <= MAX_DECISION_BYTES)
            .ok_or_else(|| Error::invalid("decision", "is not base64url of a short JSON"))?;
        let decision: CounterDecision = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("decision", format!("is not a counter decision: {e}")))?;
        if normalise_counter_code(&decision.code).as_deref() != Some(digits.as_str())
            || decision.reference != application.reference
        {
            return Err(Error::invalid(
                "decision",
                "names another code or application than this challenge",
            ));
        }
        crate::ceremony::refuse_cross_origin(&submission.credential)?;
        let challenge = committed_challenge(COUNTER_LABEL, &state.nonce, &bytes);
        let authentication = self.discoverable_state(&challenge)?;
        let (device, presence, passkey) = match application.kind {
            ApplicationKind::Enrolment => {
                // The application's own key, and no other: a phone that did not apply (the
                // fraudster's own, a mule's) is refused.
                let (user, credential_id) = self
                    .webauthn
                    .identify_discoverable_authentication(&submission.credential)
                    .map_err(|e| Error::DeviceRefused(format!("assertion names no key: {e}")))?;
                let own = application.credential_id.as_deref() == Some(&b64url(credential_id))
                    && application.user_handle.as_deref() == Some(&user.to_string());
                let stored = application.passkey.as_deref().filter(|_| own).ok_or_else(|| {
                    tracing::warn!(target: "eid::security", event = "counter.foreign_device", application_id = %application.application_id, "a phone that did not make the application answered its counter challenge");
                    Error::DeviceRefused(
                        "this phone did not make this application: only the phone that applied can answer at the counter".into(),
                    )
                })?;
                let raised = match verify_discoverable(
                    &self.webauthn,
                    &submission.credential,
                    authentication,
                    stored,
                )? {
                    Checked::Valid(raised) => raised,
                    Checked::CounterRegressed => {
                        return Err(Error::DeviceRefused(
                            "this key's signature counter went backwards: it may have been copied; apply again from your phone".into(),
                        ))
                    }
                };
                self.take_counter_challenge(&digits)?;
                let device = PresentDevice {
                    name: self
                        .application_data(&application)?
                        .device_name
                        .unwrap_or_default(),
                    protection: self.key_protection(&passkey_from_json(&raised)?, now),
                };
                let presence = CounterPresence {
                    at: now,
                    officer_id: state.officer_id,
                    device_id: None,
                };
                (device, presence, Some((stored.to_owned(), raised)))
            }
            ApplicationKind::Upgrade => {
                // A phone of the account asking: bound, not suspended, not a browser passkey.
                let (device, _, passkey) =
                    self.verify_assertion(&submission.credential, authentication, now)?;
                if application.citizen_id.as_ref() != Some(&device.citizen_id)
                    || device.joined_by == JoinedBy::Browser
                {
                    tracing::warn!(target: "eid::security", event = "counter.foreign_device", application_id = %application.application_id, "a device of another account answered an upgrade's counter challenge");
                    return Err(Error::DeviceRefused(
                        "this is not a phone of the account asking for the upgrade".into(),
                    ));
                }
                // The code is used up before the device's counter moves.
                self.take_counter_challenge(&digits)?;
                self.record_use(&device, &passkey, now)?;
                let present = PresentDevice {
                    name: device.name.clone(),
                    protection: KeyProtection::from_stored(device.attestation.as_deref()),
                };
                let presence = CounterPresence {
                    at: now,
                    officer_id: state.officer_id,
                    device_id: Some(device.device_id),
                };
                (present, presence, None)
            }
        };
        let actor = Actor::Citizen {
            device_id: presence.device_id.clone().map(|d| d.into_string()),
        };
        let event = self.record(
            Event::new("application.device_present", &actor)
                .application(&application.application_id)
                .detail(Detail {
                    officer_id: Some(presence.officer_id.clone()),
                    device_name: Some(device.name.clone()),
                    ..Detail::default()
                }),
            now,
        )?;
        let cas = passkey
            .as_ref()
            .map(|(old, new)| (old.as_str(), new.as_str()));
        if !self
            .store
            .record_presence(&application.application_id, &presence, cas, &event)?
        {
            return Err(Error::DeviceRefused(
                "this phone signed another request at the same moment, or the application was decided; ask the officer for a new code".into(),
            ));
        }
        tracing::info!(application_id = %application.application_id, "the applying phone answered at the counter");
        Ok(CounterAnswered {
            reference: application.reference,
            device_name: device.name,
            valid_for: self.config.counter_presence_window.unsigned_abs(),
        })
    }

    /// Uses up a code: exactly one answer takes it.
    fn take_counter_challenge(&self, digits: &str) -> Result<(), Error> {
        self.store
            .take_ceremony(&ceremony_id(digits), CeremonyPurpose::Counter)?
            .map(|_| ())
            .ok_or(Error::Gone("counter code"))
    }

    /// The phone that answered `officer_id`'s challenge for `application` within the presence
    /// window, if one did (and, an upgrade, is still a device of the account).
    pub(crate) fn present_device(
        &self,
        application: &ApplicationRecord,
        officer_id: &str,
        now: UnixTime,
    ) -> Result<Option<(PresentDevice, UnixTime)>, Error> {
        let Some(presence) = application.presence.as_ref().filter(|p| {
            p.officer_id == officer_id
                && p.at <= now
                && now - p.at <= self.config.counter_presence_window
        }) else {
            return Ok(None);
        };
        let device = match (&application.kind, &presence.device_id) {
            (ApplicationKind::Enrolment, None) => self.applying_device(application, now)?,
            (ApplicationKind::Upgrade, Some(device_id)) => self
                .store
                .device(device_id)?
                .filter(|d| {
                    application.citizen_id.as_ref() == Some(&d.citizen_id)
                        && d.suspended_at.is_none()
                })
                .map(|d| PresentDevice {
                    name: d.name,
                    protection: KeyProtection::from_stored(d.attestation.as_deref()),
                }),
            _ => None,
        };
        Ok(device.map(|d| (d, presence.at)))
    }

    /// An enrolment's own phone: its name and its key's protection.
    pub(crate) fn applying_device(
        &self,
        application: &ApplicationRecord,
        now: UnixTime,
    ) -> Result<Option<PresentDevice>, Error> {
        let Some(passkey) = application.passkey.as_deref() else {
            return Ok(None);
        };
        Ok(Some(PresentDevice {
            name: self
                .application_data(application)?
                .device_name
                .unwrap_or_default(),
            protection: self.key_protection(&passkey_from_json(passkey)?, now),
        }))
    }

    /// The counter step for the officer reviewing an open application: the phone that
    /// answered, or a new challenge for it.
    pub(crate) fn counter_step(
        &self,
        application: &ApplicationRecord,
        officer_id: &str,
        now: UnixTime,
    ) -> Result<CounterStep, Error> {
        if let Some((device, answered_at)) = self.present_device(application, officer_id, now)? {
            return Ok(CounterStep::Present {
                device,
                answered_at,
                until: answered_at + self.config.counter_presence_window,
            });
        }
        let device = match application.kind {
            ApplicationKind::Enrolment => self.applying_device(application, now)?,
            ApplicationKind::Upgrade => None,
        };
        Ok(CounterStep::Waiting {
            device,
            challenge: self.start_counter_challenge(application, officer_id, now)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_nine_digits_typed_any_way() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(
                normalise_counter_code(&code).as_deref(),
                Some(code.as_str())
            );
            assert_eq!(
                normalise_counter_code(&display_code(&code)).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(display_code("482193067"), "482-193-067");
        assert_eq!(
            normalise_counter_code(" 482 193-067 ").as_deref(),
            Some("482193067")
        );
        for bad in [
            "",
            "48219306",
            "4821930670",
            "48219306x",
            "K7Q2-M9XD",
            "٤٨٢١٩٣٠٦٧",
        ] {
            assert_eq!(normalise_counter_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_code_names_its_ceremony_by_hash_only() {
        let id = ceremony_id("482193067");
        assert!(!id.contains("482193067"));
        assert_eq!(id, ceremony_id("482193067"));
        assert_ne!(id, ceremony_id("482193068"));
    }
}
