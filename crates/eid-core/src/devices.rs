//! A citizen's devices: verifying their assertions, the wallet's account-management session,
//! listing and removing devices, adding one with a link code, and the account's history.
//!
//! Guards against a device taking the account over:
//! - a device that joined by link code may not remove a device older than itself for a
//!   cooling-off period ([`ProviderConfig::link_cooling_off`](crate::ProviderConfig)), so a
//!   stolen unlocked phone or a copied wallet cannot evict the citizen's own phone at once;
//! - every removal is recorded in the account's history, which every remaining device lists;
//! - a removed device's sessions and the logins it approved but that have not issued a code die
//!   with it.
//!
//! Whoever lost every device proves themselves again (identity proofing) and recovers the
//! account on a new phone.

use eid_proto::api::{
    AccountEvent, AccountHistory, AccountInfo, Device, DeviceBound, DeviceLink,
    PublicKeyCredential, RegisterPublicKeyCredential, RegistrationChallenge, SessionChallenge,
    SessionToken,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyRegistration};

use crate::account::{AccountStatus, JoinedBy, Level, Profile};
use crate::audit::{Actor, Detail, Event};
use crate::authority::{self, Action, Credential, Facts};
use crate::ceremony::{passkey_from_json, passkey_to_json, verify_discoverable, Checked};
use crate::time::UnixTime;

/// What a suspended device is told.
const SUSPENDED: &str = "this device is suspended: its signature counter went backwards, so its key may have been copied. Remove it from another of your devices, or prove your identity again on this phone";
use crate::crypto::{b64url, random_token, sha256, Aad};
use crate::enrolment::validate_device_name;
use crate::error::AccountRefusal;
use crate::ids::{CitizenId, DeviceId};
use crate::store::{
    CeremonyPurpose, CitizenRecord, DeleteDevice, DeviceRecord, WalletSessionRecord,
};
use crate::{Error, Provider};

/// Session ceremony state, sealed at rest.
#[derive(Serialize, Deserialize)]
struct SessionState {
    authentication: DiscoverableAuthentication,
}

/// A device link carries no state beyond its account (the ceremony's subject).
#[derive(Serialize, Deserialize)]
struct LinkState {}

/// Registration of a phone joining by link code, sealed at rest.
#[derive(Serialize, Deserialize)]
struct LinkRegisterState {
    registration: PasskeyRegistration,
    user_handle: String,
    citizen_id: String,
    device_name: String,
}

/// The level an account may log in with, or why it may not.
pub(crate) fn usable_level(account: &CitizenRecord) -> Result<Level, Error> {
    match account.status {
        AccountStatus::Suspended => Err(Error::AccountRefused(AccountRefusal::Suspended)),
        AccountStatus::Closed => Err(Error::AccountRefused(AccountRefusal::Closed)),
        AccountStatus::Active => account
            .level
            .ok_or(Error::AccountRefused(AccountRefusal::NeverProven)),
    }
}

/// A device about to be bound ([`Provider::bind_device`]).
pub(crate) struct NewDevice {
    pub citizen_id: CitizenId,
    pub user_handle: String,
    pub name: String,
    pub joined_by: JoinedBy,
    /// The device that added it, if another.
    pub acting: Option<DeviceId>,
}

impl Provider {
    /// The authority a device's key carries (`authority::Credential`): its kind, and for a
    /// linked phone whether its cooling-off is over.
    pub(crate) fn device_credential(&self, device: &DeviceRecord, now: UnixTime) -> Credential {
        Credential::of_device(
            device.joined_by,
            now < device.created_at + self.config.link_cooling_off,
        )
    }

    /// The phone a wallet session acts for, and its authority (a wallet session acts as its
    /// phone: `authority`'s "as its phone").
    fn wallet_device(
        &self,
        session: &WalletSessionRecord,
        now: UnixTime,
    ) -> Result<(DeviceRecord, Credential), Error> {
        let device = self
            .store
            .device(&session.device_id)?
            .filter(|d| d.citizen_id == session.citizen_id)
            .ok_or(Error::Unauthenticated)?;
        let credential = self.device_credential(&device, now);
        Ok((device, credential))
    }

    /// May the phone of a wallet session do `action` (an action whose cells need no facts)?
    pub(crate) fn wallet_may(
        &self,
        session: &WalletSessionRecord,
        action: Action,
        now: UnixTime,
    ) -> Result<(), Error> {
        let (_, credential) = self.wallet_device(session, now)?;
        authority::permit(credential, action, &Facts::default())
    }

    /// May the phone of a wallet session list and end the account's browser sessions?
    pub fn wallet_may_end_sessions(
        &self,
        session: &WalletSessionRecord,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.wallet_may(session, Action::EndSessions, now)
    }

    /// Verifies a discoverable assertion: the credential must be a bound device's, created with
    /// the user handle the assertion carries. Returns the device and account, and the passkey
    /// to record with [`Provider::record_use`] once the caller has accepted the request (a
    /// refused request changes nothing).
    pub(crate) fn verify_assertion(
        &self,
        credential: &PublicKeyCredential,
        authentication: DiscoverableAuthentication,
        now: UnixTime,
    ) -> Result<(DeviceRecord, CitizenRecord, String), Error> {
        let (user, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|e| Error::DeviceRefused(format!("assertion names no account: {e}")))?;
        let credential_id = b64url(credential_id);
        let Some((device, account)) = self.store.device_by_credential(&credential_id)? else {
            let applied = self.store.application_by_credential(&credential_id)?;
            if applied.is_some_and(|a| a.status == crate::store::ApplicationStatus::Open) {
                return Err(Error::AccountRefused(AccountRefusal::NotProven));
            }
            return Err(Error::DeviceRefused(
                "this device is not bound to an account".into(),
            ));
        };
        if device.user_handle != user.to_string() {
            return Err(Error::DeviceRefused(
                "this device is not bound to the account its assertion names".into(),
            ));
        }
        if device.suspended_at.is_some() {
            return Err(Error::DeviceRefused(SUSPENDED.into()));
        }
        match verify_discoverable(&self.webauthn, credential, authentication, &device.passkey)? {
            Checked::Valid(passkey) => Ok((device, account, passkey)),
            Checked::CounterRegressed => {
                // Two copies of the key have signed: the device is suspended until the citizen
                // removes it (from another device) or proves themselves again.
                let event = self.record(
                    Event::new("device.suspected_clone", &Actor::System)
                        .citizen(&device.citizen_id)
                        .device(&device.device_id)
                        .detail(Detail {
                            device_name: Some(device.name.clone()),
                            reason: Some("signature_counter_regressed".into()),
                            ..Detail::default()
                        }),
                    now,
                )?;
                self.store.suspend_device(&device.device_id, now, &event)?;
                tracing::warn!(citizen_id = %device.citizen_id, device_id = %device.device_id, "signature counter went backwards: device suspended");
                Err(Error::DeviceRefused(SUSPENDED.into()))
            }
        }
    }

    /// Records a device's use: its raised signature counter and the time, provided nobody
    /// recorded another use since the assertion was checked (two assertions carrying the same
    /// counter cannot both pass).
    pub(crate) fn record_use(
        &self,
        device: &DeviceRecord,
        passkey: &str,
        now: UnixTime,
    ) -> Result<(), Error> {
        if self
            .store
            .touch_device(&device.device_id, &device.passkey, passkey, now)?
        {
            Ok(())
        } else {
            Err(Error::DeviceRefused(
                "this device signed another request at the same moment; try again".into(),
            ))
        }
    }

    /// Starts a wallet session: a challenge any bound device can answer.
    pub fn start_wallet_session(&self, now: UnixTime) -> Result<SessionChallenge, Error> {
        let (options, authentication) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        let ceremony_id = self.put_ceremony(
            CeremonyPurpose::Session,
            None,
            &SessionState { authentication },
            now + self.config.ceremony_ttl,
        )?;
        Ok(SessionChallenge {
            ceremony_id,
            options,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Finishes a wallet session: verifies the assertion and issues a short-lived bearer token.
    pub fn finish_wallet_session(
        &self,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
        now: UnixTime,
    ) -> Result<SessionToken, Error> {
        let (_, state): (_, SessionState) = self.take_ceremony(
            ceremony_id,
            CeremonyPurpose::Session,
            "session challenge",
            now,
        )?;
        let (device, account, passkey) =
            self.verify_assertion(credential, state.authentication, now)?;
        // A browser passkey logs in in its browser and does nothing else: no wallet session.
        authority::permit(
            self.device_credential(&device, now),
            Action::OpenWalletSession,
            &Facts::default(),
        )?;
        match account.status {
            AccountStatus::Active => {}
            AccountStatus::Suspended => {
                return Err(Error::AccountRefused(AccountRefusal::Suspended))
            }
            AccountStatus::Closed => return Err(Error::AccountRefused(AccountRefusal::Closed)),
        }
        self.record_use(&device, &passkey, now)?;
        let token = random_token();
        self.store.insert_wallet_session(&WalletSessionRecord {
            token_hash: sha256(token.as_bytes()).to_vec(),
            citizen_id: device.citizen_id.clone(),
            device_id: device.device_id.clone(),
            expires_at: now + self.config.wallet_session_ttl,
        })?;
        Ok(SessionToken {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: self.config.wallet_session_ttl.unsigned_abs(),
            citizen_id: device.citizen_id.into_string(),
            device_id: device.device_id.into_string(),
        })
    }

    /// Resolves a wallet session token. The session ends with its device, and with the
    /// account's suspension.
    pub fn wallet_session(&self, token: &str, now: UnixTime) -> Result<WalletSessionRecord, Error> {
        let session = self
            .store
            .wallet_session(&sha256(token.as_bytes()))?
            .filter(|s| s.expires_at > now)
            .ok_or(Error::Unauthenticated)?;
        Ok(session)
    }

    /// The account the session belongs to.
    pub fn account_info(&self, session: &WalletSessionRecord) -> Result<AccountInfo, Error> {
        let account = self
            .store
            .citizen(&session.citizen_id)?
            .ok_or(Error::Unauthenticated)?;
        Ok(AccountInfo {
            citizen_id: account.citizen_id.into_string(),
            reference: account.reference,
            level: account.level.map(|l| l.as_str().to_owned()),
            status: account.status.as_str().to_owned(),
        })
    }

    /// The account's bound devices.
    pub fn devices(
        &self,
        session: &WalletSessionRecord,
        now: UnixTime,
    ) -> Result<Vec<Device>, Error> {
        self.wallet_may(session, Action::ListDevices, now)?;
        self.devices_of(&session.citizen_id)
    }

    /// An account's devices (the wallet's list; the account page's).
    pub fn devices_of(&self, citizen_id: &CitizenId) -> Result<Vec<Device>, Error> {
        Ok(self
            .store
            .devices(citizen_id)?
            .into_iter()
            .map(|d| Device {
                device_id: d.device_id.into_string(),
                name: d.name,
                created_at: d.created_at.secs(),
                last_used_at: d.last_used_at.map(UnixTime::secs),
                joined_by: d.joined_by.as_str().to_owned(),
                suspended_at: d.suspended_at.map(UnixTime::secs),
                key: if d.attestation.is_some() {
                    "hardware"
                } else {
                    "software"
                }
                .to_owned(),
            })
            .collect())
    }

    /// Unbinds a device. The last device cannot be removed (the account would be unreachable),
    /// and a device that joined by link code cannot remove an older one during its cooling-off
    /// period.
    pub fn remove_device(
        &self,
        session: &WalletSessionRecord,
        device_id: &str,
        now: UnixTime,
    ) -> Result<(), Error> {
        let devices = self.store.devices(&session.citizen_id)?;
        let acting = devices
            .iter()
            .find(|d| d.device_id == session.device_id)
            .ok_or(Error::Unauthenticated)?;
        let target = devices
            .iter()
            .find(|d| d.device_id == device_id)
            .ok_or(Error::NotFound("device"))?;
        let cooling_until = acting.created_at + self.config.link_cooling_off;
        // A device joined in the same second as the acting one counts as older: when unsure,
        // protect.
        let facts = Facts {
            target_is_self_or_newer: target.device_id == acting.device_id
                || target.created_at > acting.created_at,
            ..Facts::default()
        };
        if authority::permit(
            self.device_credential(acting, now),
            Action::RemoveDevice,
            &facts,
        )
        .is_err()
        {
            return Err(Error::Forbidden(format!(
                "a device that joined with a link code cannot remove an older device for {} days after joining; {} days remain",
                self.config.link_cooling_off / 86_400,
                (cooling_until - now + 86_399) / 86_400
            )));
        }
        let actor = Actor::Citizen {
            device_id: Some(session.device_id.clone().into_string()),
        };
        self.unbind_device(&session.citizen_id, target, &actor, now)
    }

    /// Removes a passkey a browser added (from the account page of a signed-in browser; the
    /// phones are removed in the app).
    pub fn remove_browser_passkey(
        &self,
        citizen_id: &CitizenId,
        device_id: &str,
        actor: &Actor,
        now: UnixTime,
    ) -> Result<(), Error> {
        let devices = self.store.devices(citizen_id)?;
        let target = devices
            .iter()
            .find(|d| d.device_id == device_id)
            .ok_or(Error::NotFound("device"))?;
        // A browser session takes authority away, never adds it: it removes passkeys, never a
        // phone.
        if authority::permit(
            Credential::BrowserSession,
            Action::RemoveDevice,
            &Facts {
                target_is_passkey: target.joined_by == JoinedBy::Browser,
                ..Facts::default()
            },
        )
        .is_err()
        {
            return Err(Error::Forbidden(
                "remove a phone in the eid app; here only passkeys a browser added".into(),
            ));
        }
        self.unbind_device(citizen_id, target, actor, now)
    }

    /// Unbinds a device: its logins end, its account's signing certificates are revoked.
    fn unbind_device(
        &self,
        citizen_id: &CitizenId,
        target: &DeviceRecord,
        actor: &Actor,
        now: UnixTime,
    ) -> Result<(), Error> {
        let device_id = target.device_id.as_str();
        let event = self.record(
            Event::new("device.removed", actor)
                .citizen(citizen_id)
                .device(device_id)
                .detail(Detail {
                    device_name: Some(target.name.clone()),
                    ..Detail::default()
                }),
            now,
        )?;
        // The logins the device approved end with it: read them before it goes.
        let grants = self.store.grants_of_device(device_id)?;
        match self
            .store
            .remove_device(citizen_id, &DeviceId::from(device_id), &event)?
        {
            DeleteDevice::Deleted => {
                tracing::info!(citizen_id = %citizen_id, device_id, "device removed");
                // A device removed may be a device lost: the signing certificates it could
                // approve the use of are revoked, and the next signature gets a new one.
                self.revoke_signing_certificates(
                    citizen_id,
                    crate::store::RevocationReason::KeyCompromise,
                    now,
                )?;
                self.end_grants(citizen_id, &grants, now)
            }
            DeleteDevice::NotFound => Err(Error::NotFound("device")),
            DeleteDevice::LastDevice => Err(Error::Conflict(
                "this is the account's only device; bind another before removing it".into(),
            )),
        }
    }

    /// Ends grants a removed device approved: their tokens are revoked, and their clients are
    /// told by back-channel logout (the grant's login is the session, `sid`).
    fn end_grants(
        &self,
        citizen_id: &str,
        grants: &[(String, String)],
        now: UnixTime,
    ) -> Result<(), Error> {
        let mut ended = Vec::new();
        for (client_id, family) in grants {
            self.store.revoke_token_family(family)?;
            if let Some(client) = self.store.client(client_id)? {
                ended.push((client, family.as_str()));
            }
        }
        let ended: Vec<_> = ended
            .iter()
            .map(|(client, sid)| (client, citizen_id, Some(*sid)))
            .collect();
        self.queue_backchannel_logouts(&ended, now)
    }

    /// Issues a one-time code with which another phone joins the account.
    pub fn create_device_link(
        &self,
        session: &WalletSessionRecord,
        now: UnixTime,
    ) -> Result<DeviceLink, Error> {
        let (_, credential) = self.wallet_device(session, now)?;
        authority::permit(credential, Action::MintLinkCode, &Facts::default())?;
        let code = random_token();
        self.put_ceremony_as(
            &b64url(&sha256(code.as_bytes())),
            CeremonyPurpose::Link,
            Some(session.citizen_id.clone().into_string()),
            &LinkState {},
            now + self.config.ceremony_ttl,
        )?;
        Ok(DeviceLink {
            code,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Redeems a device-link code: starts registering the new phone to the code's account.
    pub fn redeem_device_link(
        &self,
        code: &str,
        device_name: &str,
        now: UnixTime,
    ) -> Result<RegistrationChallenge, Error> {
        let device_name = validate_device_name(device_name)?;
        let (ceremony, LinkState {}) = self.take_ceremony(
            &b64url(&sha256(code.as_bytes())),
            CeremonyPurpose::Link,
            "device link code",
            now,
        )?;
        let citizen_id = ceremony.subject_id.ok_or(Error::Gone("device link code"))?;
        let account = self
            .store
            .citizen(&citizen_id)?
            .ok_or(Error::Gone("device link code"))?;
        usable_level(&account)?;
        let (options, registration, user_handle) =
            self.start_device_registration(&citizen_id, "eid citizen")?;
        let ceremony_id = self.put_ceremony(
            CeremonyPurpose::Register,
            Some(citizen_id.clone()),
            &LinkRegisterState {
                registration,
                user_handle: user_handle.to_string(),
                citizen_id,
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

    /// Finishes a linked phone's registration: verifies the attestation and binds the device.
    pub fn finish_registration(
        &self,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        now: UnixTime,
    ) -> Result<DeviceBound, Error> {
        let (_, state): (_, LinkRegisterState) =
            self.take_ceremony(ceremony_id, CeremonyPurpose::Register, "registration", now)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state.registration)
            .map_err(|e| Error::DeviceRefused(format!("attestation refused: {e}")))?;
        let device = self.bind_device(
            &passkey,
            NewDevice {
                citizen_id: CitizenId::from(state.citizen_id),
                user_handle: state.user_handle,
                name: state.device_name,
                joined_by: JoinedBy::Link,
                acting: None,
            },
            now,
        )?;
        tracing::info!(citizen_id = %device.citizen_id, device_id = %device.device_id, "device bound by link");
        Ok(DeviceBound {
            citizen_id: device.citizen_id.into_string(),
            device_id: device.device_id.into_string(),
        })
    }

    /// Starts registering another device of an account: a discoverable credential with user
    /// verification, none of the account's own again, attested when the policy wants it.
    /// `shown` is the name the authenticator shows. Returns the options, the state, and the
    /// new device's user handle.
    pub(crate) fn start_device_registration(
        &self,
        citizen_id: &str,
        shown: &str,
    ) -> Result<
        (
            webauthn_rs::prelude::CreationChallengeResponse,
            PasskeyRegistration,
            Uuid,
        ),
        Error,
    > {
        let existing: Vec<_> = self
            .store
            .devices(citizen_id)?
            .iter()
            .filter_map(|d| passkey_from_json(&d.passkey).ok())
            .map(|p| p.cred_id().clone())
            .collect();
        let user_handle = Uuid::new_v4();
        let (mut options, registration) = self
            .webauthn
            .start_passkey_registration(user_handle, shown, "eid", Some(existing))
            .map_err(|e| Error::Internal(format!("starting WebAuthn registration: {e}")))?;
        crate::ceremony::require_resident_key(&mut options);
        self.ask_attestation(&mut options);
        Ok((options, registration, user_handle))
    }

    /// Binds a newly registered key to an account as a device (a linked phone, a browser's
    /// passkey): the attestation policy admits it, its credential is new, and the binding is
    /// recorded in the account's history with who did it (`acting`: the device that added it;
    /// itself, for a phone that joined with a link code).
    pub(crate) fn bind_device(
        &self,
        passkey: &webauthn_rs::prelude::Passkey,
        new: NewDevice,
        now: UnixTime,
    ) -> Result<DeviceRecord, Error> {
        let protection = self.accept_key(passkey, now)?;
        let credential_id = b64url(passkey.cred_id().as_ref());
        self.check_credential_is_new(&credential_id)?;
        let device = DeviceRecord {
            device_id: DeviceId::from(Uuid::new_v4().to_string()),
            citizen_id: new.citizen_id,
            credential_id,
            user_handle: new.user_handle,
            name: new.name,
            passkey: passkey_to_json(passkey)?,
            joined_by: new.joined_by,
            created_at: now,
            last_used_at: None,
            suspended_at: None,
            attestation: protection.stored(),
        };
        let acting = new
            .acting
            .unwrap_or_else(|| device.device_id.clone())
            .into_string();
        let event = self.record(
            Event::new(
                "device.bound",
                &Actor::Citizen {
                    device_id: Some(acting),
                },
            )
            .citizen(&device.citizen_id)
            .device(&device.device_id)
            .detail(Detail {
                device_name: Some(device.name.clone()),
                reason: Some(new.joined_by.as_str().into()),
                ..Detail::default()
            }),
            now,
        )?;
        self.store
            .insert_device(&device, &event)
            .map_err(|e| match e {
                crate::store::StoreError::Duplicate(_) => Error::Conflict(
                    "this credential is already registered; create a new one".into(),
                ),
                crate::store::StoreError::Conflict(_) => Error::Gone("device registration"),
                other => other.into(),
            })?;
        Ok(device)
    }

    /// The account's history, newest first: proofing, recoveries, devices bound and removed,
    /// suspensions.
    pub fn account_history(
        &self,
        session: &WalletSessionRecord,
        limit: usize,
    ) -> Result<AccountHistory, Error> {
        self.history_of(&session.citizen_id, limit)
    }

    /// An account's history, newest first (the wallet's; the account page's).
    pub fn history_of(
        &self,
        citizen_id: &CitizenId,
        limit: usize,
    ) -> Result<AccountHistory, Error> {
        let events = self
            .store
            .account_events(citizen_id, limit.min(500))?
            .into_iter()
            .map(|r| self.open_entry(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccountHistory {
            events: events
                .into_iter()
                .map(|e| AccountEvent {
                    at: e.at.secs(),
                    action: e.action,
                    actor: e.actor_kind.as_str().to_owned(),
                    actor_device_id: match e.actor_kind {
                        crate::store::ActorKind::Citizen => e.actor_id,
                        _ => None,
                    },
                    device_id: e.device_id,
                    device_name: e.detail.device_name,
                    client_id: e.detail.client_id,
                })
                .collect(),
        })
    }

    /// Opens an account's profile, unless it was erased.
    pub(crate) fn profile_of(&self, citizen_id: &str) -> Result<Option<Profile>, Error> {
        match self.store.profile(citizen_id)? {
            Some(sealed) => self.open_profile(citizen_id, &sealed).map(Some),
            None => Ok(None),
        }
    }

    /// Opens a sealed profile of an account.
    pub(crate) fn open_profile(&self, citizen_id: &str, sealed: &[u8]) -> Result<Profile, Error> {
        let json = self
            .derived
            .data
            .open(&Aad::Citizen(citizen_id).bytes(), sealed)?;
        Profile::from_json(&json)
            .map_err(|e| Error::Internal(format!("a stored profile does not parse: {e}")))
    }

    /// Opens a citizen's profile.
    pub fn profile(&self, citizen_id: &str) -> Result<Profile, Error> {
        self.profile_of(citizen_id)?
            .ok_or(Error::NotFound("account"))
    }
}
