//! Registration officers and the officer console: in-person identity proofing (level `plus`).
//!
//! An administrator creates an officer at the command line, which prints a one-time enrolment
//! link. The officer opens it on the console (a separate listener, never the public one) and
//! registers their own security key, which must be a hardware key attested under `[officers]
//! attestation_roots` (any key only in development). The console then shows the key's
//! fingerprint; the key signs in nobody until an operator confirms it
//! ([`Provider::confirm_officer_key`]), comparing the fingerprint the officer reads out: a link
//! intercepted on its way yields a key nobody confirms. An officer has one key: a new link
//! ([`Provider::invite_officer`]) revokes the one they had, and their sessions. From then on they
//! sign in with it. At the counter they find
//! an application by the reference the citizen shows, compare the physical identity card with
//! the particulars, have the applying phone answer the counter's one-time code
//! ([`crate::counter`]: approval needs it), record what evidence they saw, and approve or
//! reject. Every step is in the audit trail: who, when, which application, which evidence.

use eid_proto::api::{
    PublicKeyCredential, RegisterPublicKeyCredential, RegistrationChallenge, SessionChallenge,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyRegistration};
use webauthn_rs::Webauthn;

use crate::account::{AccountStatus, Contact, Level, Particulars};
use crate::attestation::KeyProtection;
use crate::audit::{Actor, Detail, Event};
use crate::ceremony::{passkey_to_json, verify_discoverable, Checked};
use crate::counter::CounterStep;
use crate::crypto::{b64url, b64url_decode, ct_eq, normalise_reference, random_token, sha256};
use crate::enrolment::validate_device_name;
use crate::proofing::{Proof, ProofingOutcome};
use crate::store::{
    ApplicationKind, ApplicationStatus, AuditRecord, CeremonyPurpose, OfficerCredentialRecord,
    OfficerRecord, OfficerSessionRecord, StoreError,
};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// A new officer and the one-time token of their enrolment link (shown once).
#[derive(Debug)]
pub struct NewOfficer {
    pub officer: OfficerRecord,
    pub invite_token: String,
}

/// An officer's key as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerKey {
    /// `K7Q2-M9XD`: what the console showed the officer after registering it, which they read
    /// out to the operator who confirms it.
    pub fingerprint: String,
    /// A hardware key attested under `[officers] attestation_roots` (the root's subject), or a
    /// software key (development only).
    pub protection: KeyProtection,
    pub registered_at: UnixTime,
    /// `None`: waiting for an operator's confirmation; it signs in nobody yet.
    pub confirmed_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
}

/// A key just registered from an enrolment link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredOfficerKey {
    pub officer: OfficerRecord,
    pub key: OfficerKey,
}

/// A new enrolment link for an officer: the one-time token, and how many keys it revoked.
#[derive(Debug)]
pub struct OfficerInvite {
    pub invite_token: String,
    pub revoked_keys: usize,
}

/// The fingerprint of an officer's key: a reference-like code of its credential id's hash.
pub fn key_fingerprint(credential_id: &str) -> String {
    let bytes = b64url_decode(credential_id).unwrap_or_else(|| credential_id.as_bytes().to_vec());
    let hash = sha256(&bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    crate::crypto::reference_of(&first)
}

fn officer_key(record: &OfficerCredentialRecord) -> OfficerKey {
    OfficerKey {
        fingerprint: key_fingerprint(&record.credential_id),
        protection: KeyProtection::from_stored(record.attestation.as_deref()),
        registered_at: record.created_at,
        confirmed_at: record.confirmed_at,
        last_used_at: record.last_used_at,
    }
}

/// How a key's attestation is written in the audit trail.
fn attestation_label(protection: &KeyProtection) -> String {
    match protection {
        KeyProtection::Hardware { root } => root.clone(),
        KeyProtection::Software => "software".to_owned(),
    }
}

/// The invitation carries nothing beyond its officer (the ceremony's subject).
#[derive(Serialize, Deserialize)]
struct InviteState {}

#[derive(Serialize, Deserialize)]
struct RegisterState {
    registration: PasskeyRegistration,
    user_handle: String,
    /// The invitation's ceremony id: consumed when the key is registered.
    invite_id: String,
}

#[derive(Serialize, Deserialize)]
struct LoginState {
    authentication: DiscoverableAuthentication,
}

/// A signed-in officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerSession {
    pub officer: OfficerRecord,
    /// Every console form carries it.
    pub csrf_token: String,
}

/// A new console session: the token goes in a cookie, only its hash is stored.
#[derive(Debug)]
pub struct OfficerLogin {
    pub token: String,
    pub session: OfficerSession,
}

/// What an officer recorded seeing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Evidence {
    /// The physical identity card, checked against the particulars and the person.
    HkidCard,
    /// A document proving the residential address (makes the address a proven claim).
    ProofOfAddress,
}

impl Evidence {
    pub const ALL: [Evidence; 2] = [Evidence::HkidCard, Evidence::ProofOfAddress];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HkidCard => "hkid_card",
            Self::ProofOfAddress => "proof_of_address",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// Why an officer rejected an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The card's particulars differ from the application's.
    CardMismatch,
    /// The person is not the card's holder.
    PersonMismatch,
    /// The card is damaged, expired or not genuine.
    DocumentInvalid,
    Other,
}

impl RejectReason {
    pub const ALL: [RejectReason; 4] = [
        Self::CardMismatch,
        Self::PersonMismatch,
        Self::DocumentInvalid,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardMismatch => "card_mismatch",
            Self::PersonMismatch => "person_mismatch",
            Self::DocumentInvalid => "document_invalid",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// An officer's decision on an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve(Vec<Evidence>),
    Reject(RejectReason),
}

/// The account an application would land on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingAccount {
    pub reference: String,
    pub level: Option<Level>,
    pub status: AccountStatus,
    pub devices: usize,
    /// Remote recoveries of the account waiting for their hold to end (until when, and the
    /// applying phone's name): proving the holder here cancels them.
    pub pending_recoveries: Vec<(UnixTime, String)>,
}

/// An application as the officer reviews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationReview {
    pub application_id: String,
    pub reference: String,
    pub kind: ApplicationKind,
    pub status: ApplicationStatus,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// While open: what the applicant declared, to compare with the card.
    pub particulars: Option<Particulars>,
    pub contact: Option<Contact>,
    /// Enrolment: the account that holds the number already (approving recovers it).
    /// Upgrade: the account asking.
    pub existing_account: Option<ExistingAccount>,
    /// While open: whether the applying phone has answered this officer's challenge at the
    /// counter (approval needs it), or the challenge to show it.
    pub counter: Option<CounterStep>,
}

/// What the decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Proven(ProofingOutcome),
    Rejected,
}

impl Provider {
    fn officer_webauthn(&self) -> Result<&Webauthn, Error> {
        self.officer_webauthn
            .as_ref()
            .ok_or_else(|| Error::Unavailable("the officer console is not configured".into()))
    }

    /// Creates an officer (an administrator's act) and their one-time enrolment link token.
    pub fn add_officer(&self, name: &str, now: UnixTime) -> Result<NewOfficer, Error> {
        let name = validate_device_name(name).map_err(|_| {
            Error::invalid(
                "name",
                "must be 1 to 64 characters without control characters",
            )
        })?;
        let officer = OfficerRecord {
            officer_id: Uuid::new_v4().to_string(),
            name,
            active: true,
            created_at: now,
        };
        let event = self.record(
            Event::new("officer.created", &Actor::Operator).detail(Detail {
                officer_id: Some(officer.officer_id.clone()),
                ..Detail::default()
            }),
            now,
        )?;
        self.store.insert_officer(&officer, &event)?;
        let invite_token = self.invite(&officer.officer_id, now)?;
        Ok(NewOfficer {
            officer,
            invite_token,
        })
    }

    /// A new one-time enrolment link for an officer, replacing their key: the key they had
    /// (and any link or registration under way) is revoked at once, with their console
    /// sessions; the new key signs in once an operator confirms it.
    pub fn invite_officer(&self, officer_id: &str, now: UnixTime) -> Result<OfficerInvite, Error> {
        self.store
            .officer(officer_id)?
            .filter(|o| o.active)
            .ok_or(Error::NotFound("officer"))?;
        let mut events = vec![self.record(
            Event::new("officer.invited", &Actor::Operator).detail(Detail {
                officer_id: Some(officer_id.to_owned()),
                ..Detail::default()
            }),
            now,
        )?];
        events.extend(self.key_revocations(officer_id, "replaced", now)?);
        let revoked_keys = self.store.revoke_officer_credentials(officer_id, &events)?;
        if revoked_keys > 0 {
            tracing::warn!(target: "eid::security", event = "officer.key_revoked", officer_id, revoked_keys, "an officer's keys were revoked for a new enrolment link");
        }
        Ok(OfficerInvite {
            invite_token: self.invite(officer_id, now)?,
            revoked_keys,
        })
    }

    /// An `officer.key_revoked` event for each key an officer holds (`reason`: why).
    fn key_revocations(
        &self,
        officer_id: &str,
        reason: &str,
        now: UnixTime,
    ) -> Result<Vec<AuditRecord>, Error> {
        self.store
            .officer_credentials(officer_id)?
            .iter()
            .map(|c| {
                self.record(
                    Event::new("officer.key_revoked", &Actor::Operator).detail(Detail {
                        officer_id: Some(officer_id.to_owned()),
                        key: Some(key_fingerprint(&c.credential_id)),
                        reason: Some(reason.to_owned()),
                        ..Detail::default()
                    }),
                    now,
                )
            })
            .collect()
    }

    /// An officer's keys (one, normally; none before the first registration).
    pub fn officer_keys(&self, officer_id: &str) -> Result<Vec<OfficerKey>, Error> {
        Ok(self
            .store
            .officer_credentials(officer_id)?
            .iter()
            .map(officer_key)
            .collect())
    }

    /// Confirms the officer's key that waits for it (an operator's act, through a channel of
    /// their own: the officer reads out the fingerprint their console showed). Until then the
    /// key signs in nobody, so whoever intercepted the enrolment link has nothing.
    pub fn confirm_officer_key(
        &self,
        officer_id: &str,
        fingerprint: &str,
        now: UnixTime,
    ) -> Result<OfficerKey, Error> {
        self.store
            .officer(officer_id)?
            .filter(|o| o.active)
            .ok_or(Error::NotFound("officer"))?;
        let waiting = self
            .store
            .officer_credentials(officer_id)?
            .into_iter()
            .find(|c| c.confirmed_at.is_none())
            .ok_or_else(|| {
                Error::Conflict("this officer has no key waiting for confirmation".into())
            })?;
        let key = officer_key(&waiting);
        if normalise_reference(fingerprint).as_deref() != Some(key.fingerprint.as_str()) {
            return Err(Error::invalid(
                "fingerprint",
                "is not the fingerprint of the key waiting for confirmation: ask the officer to read out the one their console shows; if theirs differs, someone else used the link (`officer invite` replaces it)",
            ));
        }
        let event = self.record(
            Event::new("officer.key_confirmed", &Actor::Operator).detail(Detail {
                officer_id: Some(officer_id.to_owned()),
                key: Some(key.fingerprint.clone()),
                attestation: Some(attestation_label(&key.protection)),
                ..Detail::default()
            }),
            now,
        )?;
        if !self
            .store
            .confirm_officer_credential(&waiting.credential_id, now, &event)?
        {
            return Err(Error::Conflict(
                "this key was confirmed or revoked meanwhile".into(),
            ));
        }
        Ok(OfficerKey {
            confirmed_at: Some(now),
            ..key
        })
    }

    fn invite(&self, officer_id: &str, now: UnixTime) -> Result<String, Error> {
        let token = random_token();
        self.put_ceremony_as(
            &b64url(&sha256(token.as_bytes())),
            CeremonyPurpose::OfficerInvite,
            Some(officer_id.to_owned()),
            &InviteState {},
            now + self.config.officer_invite_ttl,
        )?;
        Ok(token)
    }

    pub fn officers(&self) -> Result<Vec<OfficerRecord>, Error> {
        Ok(self.store.officers()?)
    }

    /// Deactivates an officer: their keys and sessions stop working at once.
    pub fn remove_officer(&self, officer_id: &str, now: UnixTime) -> Result<(), Error> {
        let mut events = vec![self.record(
            Event::new("officer.removed", &Actor::Operator).detail(Detail {
                officer_id: Some(officer_id.to_owned()),
                ..Detail::default()
            }),
            now,
        )?];
        events.extend(self.key_revocations(officer_id, "officer_removed", now)?);
        if self.store.remove_officer(officer_id, &events)? {
            Ok(())
        } else {
            Err(Error::NotFound("officer"))
        }
    }

    /// The officer an enrolment link is for, without using it up.
    pub fn officer_invite(&self, token: &str, now: UnixTime) -> Result<OfficerRecord, Error> {
        let (ceremony, InviteState {}) = self.peek_ceremony(
            &b64url(&sha256(token.as_bytes())),
            CeremonyPurpose::OfficerInvite,
            "enrolment link",
            now,
        )?;
        let officer_id = ceremony.subject_id.ok_or(Error::Gone("enrolment link"))?;
        self.store
            .officer(&officer_id)?
            .filter(|o| o.active)
            .ok_or(Error::Gone("enrolment link"))
    }

    /// Starts registering an officer's security key from their enrolment link.
    pub fn start_officer_registration(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<RegistrationChallenge, Error> {
        let webauthn = self.officer_webauthn()?;
        let officer = self.officer_invite(token, now)?;
        let user_handle = Uuid::new_v4();
        let (mut options, registration) = webauthn
            .start_passkey_registration(user_handle, &officer.name, &officer.name, None)
            .map_err(|e| Error::Internal(format!("starting WebAuthn registration: {e}")))?;
        crate::ceremony::require_resident_key(&mut options);
        if self.config.officers.roots.is_some() {
            // The key's maker must vouch for it (WebAuthn §5.4.7 `direct`).
            options.public_key.attestation =
                Some(webauthn_rs_proto::AttestationConveyancePreference::Direct);
        }
        let ceremony_id = self.put_ceremony(
            CeremonyPurpose::OfficerRegister,
            Some(officer.officer_id),
            &RegisterState {
                registration,
                user_handle: user_handle.to_string(),
                invite_id: b64url(&sha256(token.as_bytes())),
            },
            now + self.config.ceremony_ttl,
        )?;
        Ok(RegistrationChallenge {
            ceremony_id,
            options,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Finishes registering an officer's key; the enrolment link is used up. The key must be
    /// attested under `[officers] attestation_roots` (a key no root attests is refused, and
    /// the link stays usable); it waits for an operator's confirmation.
    pub fn finish_officer_registration(
        &self,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        now: UnixTime,
    ) -> Result<RegisteredOfficerKey, Error> {
        let webauthn = self.officer_webauthn()?;
        let (ceremony, state): (_, RegisterState) = self.take_ceremony(
            ceremony_id,
            CeremonyPurpose::OfficerRegister,
            "registration",
            now,
        )?;
        let officer_id = ceremony.subject_id.ok_or(Error::Gone("registration"))?;
        let passkey = webauthn
            .finish_passkey_registration(credential, &state.registration)
            .map_err(|e| Error::DeviceRefused(format!("attestation refused: {e}")))?;
        let protection = self.officer_key_protection(&passkey, now);
        if protection == KeyProtection::Software
            && !self.config.officers.danger_accept_software_keys
        {
            return Err(Error::DeviceRefused(
                "an officer's key must be a hardware security key attested by a root in [officers] attestation_roots".into(),
            ));
        }
        // The link is single-use: whoever takes it first registers (and waits for the
        // operator's confirmation, which needs the fingerprint the officer reads out).
        let (invite, InviteState {}) = self.take_ceremony(
            &state.invite_id,
            CeremonyPurpose::OfficerInvite,
            "enrolment link",
            now,
        )?;
        if invite.subject_id.as_deref() != Some(officer_id.as_str()) {
            return Err(Error::Gone("enrolment link"));
        }
        let officer = self
            .store
            .officer(&officer_id)?
            .filter(|o| o.active)
            .ok_or(Error::Gone("enrolment link"))?;
        let credential_id = b64url(passkey.cred_id().as_ref());
        let record = OfficerCredentialRecord {
            credential_id: credential_id.clone(),
            officer_id: officer_id.clone(),
            user_handle: state.user_handle,
            passkey: passkey_to_json(&passkey)?,
            created_at: now,
            last_used_at: None,
            attestation: protection.stored(),
            confirmed_at: None,
        };
        let key = officer_key(&record);
        let event = self.record(
            Event::new("officer.key_registered", &Actor::Officer { officer_id }).detail(Detail {
                key: Some(key.fingerprint.clone()),
                attestation: Some(attestation_label(&protection)),
                ..Detail::default()
            }),
            now,
        )?;
        self.store
            .insert_officer_credential(&record, &event)
            .map_err(|e| match e {
                StoreError::Duplicate("officer_key") => Error::Conflict(
                    "this officer has a key already; ask the operator for a new link".into(),
                ),
                StoreError::Duplicate(_) => {
                    Error::Conflict("this key is already registered".into())
                }
                other => other.into(),
            })?;
        tracing::info!(target: "eid::security", event = "officer.key_registered", officer_id = %officer.officer_id, key = %key.fingerprint, "an officer's key was registered; it waits for an operator's confirmation");
        Ok(RegisteredOfficerKey { officer, key })
    }

    /// A challenge for an officer's key (discoverable: the key names its officer).
    pub fn start_officer_login(&self, now: UnixTime) -> Result<SessionChallenge, Error> {
        let webauthn = self.officer_webauthn()?;
        let (options, authentication) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        let ceremony_id = self.put_ceremony(
            CeremonyPurpose::OfficerSession,
            None,
            &LoginState { authentication },
            now + self.config.ceremony_ttl,
        )?;
        Ok(SessionChallenge {
            ceremony_id,
            options,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Verifies an officer's assertion and opens a console session.
    pub fn finish_officer_login(
        &self,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
        now: UnixTime,
    ) -> Result<OfficerLogin, Error> {
        let webauthn = self.officer_webauthn()?;
        let (_, state): (_, LoginState) = self.take_ceremony(
            ceremony_id,
            CeremonyPurpose::OfficerSession,
            "sign-in challenge",
            now,
        )?;
        let (user, credential_id) = webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|e| Error::DeviceRefused(format!("assertion names no officer: {e}")))?;
        let stored = self
            .store
            .officer_credential(&b64url(credential_id))?
            .filter(|c| c.user_handle == user.to_string())
            .ok_or_else(|| Error::DeviceRefused("this key is not an officer's".into()))?;
        let officer = self
            .store
            .officer(&stored.officer_id)?
            .filter(|o| o.active)
            .ok_or_else(|| Error::DeviceRefused("this officer was removed".into()))?;
        if stored.confirmed_at.is_none() {
            return Err(Error::DeviceRefused(
                "this key waits for an operator's confirmation (eid-server officer confirm): read them the code the console showed when you registered it".into(),
            ));
        }
        // The roots may have changed since (a development key on a real start, a root
        // withdrawn): the key must still be one the policy accepts.
        if !self.config.officers.danger_accept_software_keys
            && self
                .officer_key_protection(&crate::ceremony::passkey_from_json(&stored.passkey)?, now)
                == KeyProtection::Software
        {
            return Err(Error::DeviceRefused(
                "this key is not attested by a root in [officers] attestation_roots: ask the operator for a new enrolment link".into(),
            ));
        }
        let passkey = match verify_discoverable(
            webauthn,
            credential,
            state.authentication,
            &stored.passkey,
        )? {
            Checked::Valid(passkey) => passkey,
            Checked::CounterRegressed => {
                tracing::warn!(officer_id = %officer.officer_id, "an officer's key signed with a counter that went backwards");
                return Err(Error::DeviceRefused(
                    "this key's signature counter went backwards: it may have been copied".into(),
                ));
            }
        };
        self.store
            .touch_officer_credential(&stored.credential_id, &passkey, now)?;
        let token = random_token();
        let csrf_token = random_token();
        self.store.insert_officer_session(&OfficerSessionRecord {
            token_hash: sha256(token.as_bytes()).to_vec(),
            officer_id: officer.officer_id.clone(),
            csrf_token: csrf_token.clone(),
            created_at: now,
            expires_at: now + self.config.officer_session_ttl,
        })?;
        self.audit(
            Event::new(
                "officer.signed_in",
                &Actor::Officer {
                    officer_id: officer.officer_id.clone(),
                },
            ),
            now,
        )?;
        Ok(OfficerLogin {
            token,
            session: OfficerSession {
                officer,
                csrf_token,
            },
        })
    }

    /// The signed-in officer of a session token.
    pub fn officer_session(&self, token: &str, now: UnixTime) -> Result<OfficerSession, Error> {
        let session = self
            .store
            .officer_session(&sha256(token.as_bytes()))?
            .filter(|s| s.expires_at > now)
            .ok_or(Error::Unauthenticated)?;
        let officer = self
            .store
            .officer(&session.officer_id)?
            .filter(|o| o.active)
            .ok_or(Error::Unauthenticated)?;
        Ok(OfficerSession {
            officer,
            csrf_token: session.csrf_token,
        })
    }

    /// Ends a console session.
    pub fn end_officer_session(
        &self,
        token: &str,
        session: &OfficerSession,
        csrf_token: &str,
    ) -> Result<(), Error> {
        check_csrf(session, csrf_token)?;
        self.store
            .delete_officer_session(&sha256(token.as_bytes()))?;
        Ok(())
    }

    /// An application, found by the reference the citizen shows. The lookup is audited.
    pub fn review_application(
        &self,
        session: &OfficerSession,
        reference: &str,
        now: UnixTime,
    ) -> Result<ApplicationReview, Error> {
        let reference = normalise_reference(reference).ok_or_else(|| {
            Error::invalid("reference", "is eight letters and digits, like K7Q2-M9XD")
        })?;
        let application = self
            .store
            .application_by_reference(&reference)?
            .filter(|a| a.expires_at > now)
            .ok_or(Error::NotFound("application"))?;
        let actor = Actor::Officer {
            officer_id: session.officer.officer_id.clone(),
        };
        self.audit(
            Event::new("application.viewed", &actor).application(&application.application_id),
            now,
        )?;
        let data = match application.status {
            ApplicationStatus::Open => Some(self.application_data(&application)?),
            _ => None,
        };
        let account = match (&application.kind, &data, &application.citizen_id) {
            (ApplicationKind::Upgrade, _, Some(citizen_id)) => self.store.citizen(citizen_id)?,
            (ApplicationKind::Enrolment, Some(data), _) => self
                .store
                .citizen_by_hkid(&self.hkid_index(&data.particulars.hkid))?,
            _ => None,
        };
        let existing_account = match account {
            Some(a) => Some(ExistingAccount {
                devices: self.store.devices(&a.citizen_id)?.len(),
                pending_recoveries: self
                    .store
                    .held_applications(&a.citizen_id)?
                    .iter()
                    .filter(|held| held.application_id != application.application_id)
                    .filter_map(|held| {
                        let until = held.hold.as_ref()?.until;
                        let name = self
                            .application_data(held)
                            .ok()
                            .and_then(|d| d.device_name)
                            .unwrap_or_else(|| "phone".into());
                        Some((until, name))
                    })
                    .collect(),
                reference: a.reference,
                level: a.level,
                status: a.status,
            }),
            None => None,
        };
        let counter = match application.status {
            ApplicationStatus::Open => {
                Some(self.counter_step(&application, &session.officer.officer_id, now)?)
            }
            _ => None,
        };
        Ok(ApplicationReview {
            counter,
            application_id: application.application_id,
            reference: application.reference,
            kind: application.kind,
            status: application.status,
            created_at: application.created_at,
            expires_at: application.expires_at,
            particulars: data.as_ref().map(|d| d.particulars.clone()),
            contact: data.map(|d| d.contact),
            existing_account,
        })
    }

    /// Approves (with the evidence seen) or rejects an application at the counter.
    pub fn decide_application(
        &self,
        session: &OfficerSession,
        application_id: &str,
        csrf_token: &str,
        decision: &Decision,
        now: UnixTime,
    ) -> Result<Decided, Error> {
        check_csrf(session, csrf_token)?;
        let application = self
            .store
            .application(application_id)?
            .filter(|a| a.expires_at > now)
            .ok_or(Error::NotFound("application"))?;
        if application.status != ApplicationStatus::Open {
            return Err(Error::Gone("application"));
        }
        let actor = Actor::Officer {
            officer_id: session.officer.officer_id.clone(),
        };
        match decision {
            Decision::Reject(reason) => {
                let event = self.record(
                    Event::new("application.rejected", &actor)
                        .application(application_id)
                        .detail(Detail {
                            reason: Some(reason.as_str().to_owned()),
                            ..Detail::default()
                        }),
                    now,
                )?;
                if !self
                    .store
                    .reject_application(application_id, reason.as_str(), &event)?
                {
                    return Err(Error::Gone("application"));
                }
                tracing::info!(
                    application_id,
                    reason = reason.as_str(),
                    "application rejected"
                );
                Ok(Decided::Rejected)
            }
            Decision::Approve(evidence) => {
                if !evidence.contains(&Evidence::HkidCard) {
                    return Err(Error::invalid(
                        "evidence",
                        "approving needs the identity card checked",
                    ));
                }
                // The person at the counter holds the phone that applied: it answered this
                // officer's one-time challenge within the last minutes (`counter.rs`).
                if self
                    .present_device(&application, &session.officer.officer_id, now)?
                    .is_none()
                {
                    return Err(Error::Conflict(format!(
                        "the applicant's phone has not answered this counter's code in the last {} minutes: open the application again and ask the applicant to scan the code with the phone that applied",
                        self.config.counter_presence_window / 60
                    )));
                }
                let data = self.application_data(&application)?;
                let verified_address = if evidence.contains(&Evidence::ProofOfAddress) {
                    Some(data.contact.address.clone().ok_or_else(|| {
                        Error::invalid(
                            "evidence",
                            "the application has no address for a proof of address to prove",
                        )
                    })?)
                } else {
                    None
                };
                let outcome = self.bind_proof(
                    &application,
                    &data,
                    Proof {
                        particulars: data.particulars.clone(),
                        level: Level::Plus,
                        verified_address,
                        actor,
                        evidence: evidence.iter().map(|e| e.as_str().to_owned()).collect(),
                        passkey: application.passkey.clone(),
                        remote: false,
                    },
                    now,
                )?;
                Ok(Decided::Proven(outcome))
            }
        }
    }
}

fn check_csrf(session: &OfficerSession, csrf_token: &str) -> Result<(), Error> {
    if ct_eq(csrf_token.as_bytes(), session.csrf_token.as_bytes()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "csrf_token",
            "the form is stale or forged; reload the page",
        ))
    }
}
