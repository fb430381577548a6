//! Citizens, their phones and the phone's approval of a login.
//!
//! - Enrolment: the wallet sends the citizen's particulars; the server validates them (HKID
//!   check digit included), checks that no account holds the HKID number, and answers with a
//!   WebAuthn registration challenge. The account and its first device are created together
//!   only when the phone's attestation verifies.
//! - Approval: a login request carries a WebAuthn challenge of its own; the phone signs it with
//!   the bound credential, which names the account through its user handle.
//! - Device management: the wallet proves it holds a bound device to get a short session, with
//!   which it lists or removes devices, or issues a one-time code for another phone to join.

use eid_proto::api::{
    ApprovalRequest, ClaimDescription, Device, DeviceBound, DeviceLink, EnrolmentRequest,
    PublicKeyCredential, RegisterPublicKeyCredential, RegistrationChallenge, ServiceInfo,
    SessionChallenge, SessionToken,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, RequestChallengeResponse,
};

use crate::crypto::{b64url, random_token, sha256};
use crate::hkid::Hkid;
use crate::oidc::scope_descriptions;
use crate::store::{
    CeremonyPurpose, CeremonyRecord, CitizenRecord, DeleteDevice, DeviceRecord, RequestStatus,
    WalletSessionRecord,
};
use crate::{Error, Provider};

/// A citizen's particulars, sealed at rest as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub english_name: String,
    pub chinese_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// `M`, `F` or `X`.
    pub gender: String,
    /// Canonical HKID number, kept for form filling; sealed like the rest.
    pub hkid: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// Registration ceremony state, sealed at rest.
#[derive(Serialize, Deserialize)]
struct RegisterState {
    registration: PasskeyRegistration,
    citizen_id: String,
    device_name: String,
    /// Present for a first enrolment: the account is created with the device.
    new_profile: Option<Profile>,
}

/// A login request's approval challenge, sealed at rest.
#[derive(Serialize, Deserialize)]
pub(crate) struct ApprovalState {
    pub(crate) authentication: DiscoverableAuthentication,
    pub(crate) options: RequestChallengeResponse,
}

/// Session ceremony state, sealed at rest.
#[derive(Serialize, Deserialize)]
struct SessionState {
    authentication: DiscoverableAuthentication,
}

/// A device link carries no state beyond its account (the ceremony's `citizen_id`).
#[derive(Serialize, Deserialize)]
struct LinkState {}

fn ceremony_aad(id: &str) -> Vec<u8> {
    format!("ceremony:{id}").into_bytes()
}

pub(crate) fn citizen_aad(id: &str) -> Vec<u8> {
    format!("citizen:{id}").into_bytes()
}

pub(crate) fn request_aad(id: &str) -> Vec<u8> {
    format!("auth-request:{id}").into_bytes()
}

/// Validates the particulars of an enrolment, naming every invalid field.
pub fn validate_enrolment(req: &EnrolmentRequest, now: i64) -> Result<(Profile, String), Error> {
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let mut text =
        |field: &'static str, value: &str, max: usize, required: bool| -> Option<String> {
            let value = value.trim();
            if value.is_empty() {
                if required {
                    errors.push((field, "is required".into()));
                }
                return None;
            }
            if value.chars().count() > max {
                errors.push((field, format!("must be at most {max} characters")));
                return None;
            }
            if value.chars().any(char::is_control) {
                errors.push((field, "must not contain control characters".into()));
                return None;
            }
            Some(value.to_owned())
        };
    let english_name = text("english_name", &req.english_name, 100, true);
    let chinese_name = req
        .chinese_name
        .as_deref()
        .and_then(|v| text("chinese_name", v, 50, false));
    let address = req
        .address
        .as_deref()
        .and_then(|v| text("address", v, 200, false));
    let device_name = text("device_name", &req.device_name, 64, true);
    let email = req
        .email
        .as_deref()
        .and_then(|v| text("email", v, 254, false));
    let phone = req
        .phone
        .as_deref()
        .and_then(|v| text("phone", v, 20, false));

    if let Some(email) = &email {
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
        });
        if !valid {
            errors.push(("email", "is not an email address".into()));
        }
    }
    if let Some(phone) = &phone {
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        let digits: String = digits.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            errors.push((
                "phone",
                "must be 8 to 15 digits, optionally starting with +".into(),
            ));
        }
    }
    let gender = req.gender.trim().to_ascii_uppercase();
    if !matches!(gender.as_str(), "M" | "F" | "X") {
        errors.push(("gender", "must be M, F or X".into()));
    }
    if let Err(reason) = validate_date_of_birth(req.date_of_birth.trim(), now) {
        errors.push(("date_of_birth", reason));
    }
    let hkid = match Hkid::parse(&req.hkid) {
        Ok(h) => Some(h),
        Err(e) => {
            errors.push(("hkid", e.to_string()));
            None
        }
    };
    match (english_name, device_name, hkid) {
        (Some(english_name), Some(device_name), Some(hkid)) if errors.is_empty() => Ok((
            Profile {
                english_name,
                chinese_name,
                date_of_birth: req.date_of_birth.trim().to_owned(),
                gender,
                hkid: hkid.canonical().to_owned(),
                email,
                phone,
                address,
            },
            device_name,
        )),
        _ => Err(Error::InvalidInput(errors)),
    }
}

/// `YYYY-MM-DD`, a real calendar date, not before 1900 and not after today (UTC).
fn validate_date_of_birth(value: &str, now: i64) -> Result<(), String> {
    const FORMAT: &str = "must be a date written YYYY-MM-DD";
    let parts: Vec<&str> = value.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(FORMAT.into());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(FORMAT.into());
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(FORMAT.into());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err("has no such month".into()),
    };
    if d == 0 || d > days_in_month {
        return Err("has no such day".into());
    }
    if y < 1900 {
        return Err("must not be before 1900".into());
    }
    if days_from_civil(y, m, d) > now.div_euclid(86_400) {
        return Err("must not be in the future".into());
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_citizen_uuid(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|_| Error::Crypto("stored citizen id is not a UUID".into()))
}

impl Provider {
    /// Takes a single-use ceremony (it is deleted whether or not what follows succeeds) and
    /// opens its sealed state; an expired or unknown ceremony is `Gone(what)`.
    fn take_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        ceremony_id: &str,
        purpose: CeremonyPurpose,
        what: &'static str,
        now: i64,
    ) -> Result<(CeremonyRecord, T), Error> {
        let ceremony = self
            .store
            .take_ceremony(ceremony_id, purpose)?
            .filter(|c| c.expires_at > now)
            .ok_or(Error::Gone(what))?;
        let state = self
            .derived
            .data
            .open_json(&ceremony_aad(ceremony_id), &ceremony.state)?;
        Ok((ceremony, state))
    }

    /// A login request still waiting for the phone, with its approval challenge.
    fn pending_approval(
        &self,
        request_id: &str,
        now: i64,
    ) -> Result<(crate::store::AuthRequestRecord, ApprovalState), Error> {
        let request = self
            .store
            .auth_request(request_id)?
            .ok_or(Error::NotFound("login request"))?;
        let sealed = match (&request.status, &request.approval_state) {
            (RequestStatus::Pending, Some(state)) if request.expires_at > now => state,
            _ => return Err(Error::Gone("login request")),
        };
        let state = self
            .derived
            .data
            .open_json(&request_aad(request_id), sealed)?;
        Ok((request, state))
    }

    /// Starts an enrolment: validates the particulars and returns the device-registration
    /// challenge. Nothing is stored about the citizen until the device is bound.
    pub fn start_enrolment(
        &self,
        req: &EnrolmentRequest,
        now: i64,
    ) -> Result<RegistrationChallenge, Error> {
        let (profile, device_name) = validate_enrolment(req, now)?;
        let index = self.hkid_index(&profile.hkid);
        if self.store.citizen_exists_by_hkid(&index)? {
            return Err(Error::AlreadyEnrolled);
        }
        let citizen_id = Uuid::new_v4();
        self.start_registration(citizen_id, device_name, Some(profile), None, now)
    }

    fn hkid_index(&self, canonical_hkid: &str) -> Vec<u8> {
        self.derived
            .hkid_index
            .hash(&[canonical_hkid.as_bytes()])
            .to_vec()
    }

    fn start_registration(
        &self,
        citizen_id: Uuid,
        device_name: String,
        new_profile: Option<Profile>,
        exclude: Option<Vec<webauthn_rs::prelude::CredentialID>>,
        now: i64,
    ) -> Result<RegistrationChallenge, Error> {
        // The WebAuthn user name and display name are shown by authenticators; they carry no
        // personal data (the phone knows whose it is).
        let (options, registration) = self
            .webauthn
            .start_passkey_registration(citizen_id, "eid citizen", "eid", exclude)
            .map_err(|e| Error::Crypto(format!("starting WebAuthn registration: {e}")))?;
        let ceremony_id = random_token();
        let state = RegisterState {
            registration,
            citizen_id: citizen_id.to_string(),
            device_name,
            new_profile,
        };
        self.store.insert_ceremony(&CeremonyRecord {
            state: self
                .derived
                .data
                .seal_json(&ceremony_aad(&ceremony_id), &state)?,
            ceremony_id: ceremony_id.clone(),
            purpose: CeremonyPurpose::Register,
            citizen_id: Some(state.citizen_id.clone()),
            expires_at: now + self.config.ceremony_ttl,
        })?;
        Ok(RegistrationChallenge {
            ceremony_id,
            options,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Finishes a registration ceremony: verifies the attestation and binds the device (and,
    /// for an enrolment, creates the account in the same transaction).
    pub fn finish_registration(
        &self,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        now: i64,
    ) -> Result<DeviceBound, Error> {
        let (_, state): (_, RegisterState) =
            self.take_ceremony(ceremony_id, CeremonyPurpose::Register, "registration", now)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state.registration)
            .map_err(|e| Error::DeviceRefused(format!("attestation refused: {e}")))?;
        let device = DeviceRecord {
            device_id: Uuid::new_v4().to_string(),
            citizen_id: state.citizen_id.clone(),
            credential_id: b64url(passkey.cred_id().as_ref()),
            name: state.device_name,
            passkey: serde_json::to_string(&passkey).map_err(|e| Error::Crypto(e.to_string()))?,
            created_at: now,
            last_used_at: None,
        };
        match state.new_profile {
            Some(profile) => {
                let citizen = CitizenRecord {
                    hkid_index: self.hkid_index(&profile.hkid),
                    profile: self
                        .derived
                        .data
                        .seal_json(&citizen_aad(&state.citizen_id), &profile)?,
                    citizen_id: state.citizen_id.clone(),
                    created_at: now,
                };
                self.store
                    .insert_citizen_with_device(&citizen, &device)
                    .map_err(|e| match e {
                        crate::store::StoreError::Duplicate("hkid") => Error::AlreadyEnrolled,
                        other => other.into(),
                    })?;
                tracing::info!(citizen_id = %citizen.citizen_id, "citizen enrolled");
            }
            None => {
                if self.store.citizen(&state.citizen_id)?.is_none() {
                    return Err(Error::NotFound("account"));
                }
                self.store.insert_device(&device)?;
                tracing::info!(citizen_id = %device.citizen_id, device_id = %device.device_id, "device bound");
            }
        }
        Ok(DeviceBound {
            citizen_id: device.citizen_id,
            device_id: device.device_id,
        })
    }

    /// Verifies a discoverable assertion: the credential must be bound to the account its user
    /// handle names. Records the use. Returns the device.
    fn verify_assertion(
        &self,
        credential: &PublicKeyCredential,
        authentication: DiscoverableAuthentication,
        now: i64,
    ) -> Result<DeviceRecord, Error> {
        let (user, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|e| Error::DeviceRefused(format!("assertion names no account: {e}")))?;
        let device = self
            .store
            .device_by_credential(&b64url(credential_id))?
            .filter(|d| d.citizen_id == user.to_string())
            .ok_or_else(|| {
                Error::DeviceRefused("this device is not bound to the account".into())
            })?;
        let mut passkey: Passkey = serde_json::from_str(&device.passkey)
            .map_err(|e| Error::Crypto(format!("stored passkey: {e}")))?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(credential, authentication, &passkey)
            .map_err(|e| Error::DeviceRefused(format!("assertion refused: {e}")))?;
        passkey.update_credential(&result);
        let passkey = serde_json::to_string(&passkey).map_err(|e| Error::Crypto(e.to_string()))?;
        self.store.touch_device(&device.device_id, &passkey, now)?;
        Ok(device)
    }

    /// What a login request asks for, and its challenge: the phone shows this before approving.
    pub fn approval_request(&self, request_id: &str, now: i64) -> Result<ApprovalRequest, Error> {
        let (request, state) = self.pending_approval(request_id, now)?;
        let client = self
            .store
            .client(&request.client_id)?
            .ok_or(Error::Gone("login request"))?;
        let scopes: Vec<String> = request.scope.split(' ').map(str::to_owned).collect();
        Ok(ApprovalRequest {
            request_id: request.request_id,
            service: ServiceInfo {
                client_id: client.client_id,
                name: client.name,
            },
            claims: scope_descriptions(&scopes)
                .into_iter()
                .map(|(scope, en, zh)| ClaimDescription {
                    scope: scope.to_owned(),
                    en: en.to_owned(),
                    zh_hant: zh.to_owned(),
                })
                .collect(),
            scopes,
            expires_in: (request.expires_at - now).unsigned_abs(),
            options: state.options,
        })
    }

    /// The phone approves a login request with an assertion over the request's own challenge.
    pub fn approve(
        &self,
        request_id: &str,
        credential: &PublicKeyCredential,
        now: i64,
    ) -> Result<(), Error> {
        let (_, state) = self.pending_approval(request_id, now)?;
        let device = self.verify_assertion(credential, state.authentication, now)?;
        if !self.store.approve_auth_request(
            request_id,
            &device.citizen_id,
            &device.device_id,
            now,
        )? {
            return Err(Error::Gone("login request"));
        }
        tracing::info!(device_id = %device.device_id, "login approved on device");
        Ok(())
    }

    /// Starts a wallet session: a challenge any bound device can answer.
    pub fn start_wallet_session(&self, now: i64) -> Result<SessionChallenge, Error> {
        let (options, authentication) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Crypto(format!("starting WebAuthn authentication: {e}")))?;
        let ceremony_id = random_token();
        self.store.insert_ceremony(&CeremonyRecord {
            state: self.derived.data.seal_json(
                &ceremony_aad(&ceremony_id),
                &SessionState { authentication },
            )?,
            ceremony_id: ceremony_id.clone(),
            purpose: CeremonyPurpose::Session,
            citizen_id: None,
            expires_at: now + self.config.ceremony_ttl,
        })?;
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
        now: i64,
    ) -> Result<SessionToken, Error> {
        let (_, state): (_, SessionState) = self.take_ceremony(
            ceremony_id,
            CeremonyPurpose::Session,
            "session challenge",
            now,
        )?;
        let device = self.verify_assertion(credential, state.authentication, now)?;
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
            citizen_id: device.citizen_id,
            device_id: device.device_id,
        })
    }

    /// Resolves a wallet session token. The session ends with its device.
    pub fn wallet_session(&self, token: &str, now: i64) -> Result<WalletSessionRecord, Error> {
        let session = self
            .store
            .wallet_session(&sha256(token.as_bytes()))?
            .filter(|s| s.expires_at > now)
            .ok_or(Error::Unauthenticated)?;
        let devices = self.store.devices(&session.citizen_id)?;
        if !devices.iter().any(|d| d.device_id == session.device_id) {
            return Err(Error::Unauthenticated);
        }
        Ok(session)
    }

    /// The account's bound devices.
    pub fn devices(&self, session: &WalletSessionRecord) -> Result<Vec<Device>, Error> {
        Ok(self
            .store
            .devices(&session.citizen_id)?
            .into_iter()
            .map(|d| Device {
                device_id: d.device_id,
                name: d.name,
                created_at: d.created_at,
                last_used_at: d.last_used_at,
            })
            .collect())
    }

    /// Unbinds a device. The last device cannot be removed: the account would be unreachable.
    pub fn remove_device(
        &self,
        session: &WalletSessionRecord,
        device_id: &str,
    ) -> Result<(), Error> {
        match self
            .store
            .delete_device_unless_last(&session.citizen_id, device_id)?
        {
            DeleteDevice::Deleted => {
                tracing::info!(citizen_id = %session.citizen_id, device_id, "device removed");
                Ok(())
            }
            DeleteDevice::NotFound => Err(Error::NotFound("device")),
            DeleteDevice::LastDevice => Err(Error::Conflict(
                "this is the account's only device; bind another before removing it".into(),
            )),
        }
    }

    /// Issues a one-time code with which another phone joins the account.
    pub fn create_device_link(
        &self,
        session: &WalletSessionRecord,
        now: i64,
    ) -> Result<DeviceLink, Error> {
        let code = random_token();
        let ceremony_id = b64url(&sha256(code.as_bytes()));
        self.store.insert_ceremony(&CeremonyRecord {
            state: self
                .derived
                .data
                .seal_json(&ceremony_aad(&ceremony_id), &LinkState {})?,
            ceremony_id,
            purpose: CeremonyPurpose::Link,
            citizen_id: Some(session.citizen_id.clone()),
            expires_at: now + self.config.ceremony_ttl,
        })?;
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
        now: i64,
    ) -> Result<RegistrationChallenge, Error> {
        let device_name = device_name.trim();
        if device_name.is_empty() || device_name.chars().count() > 64 {
            return Err(Error::invalid("device_name", "must be 1 to 64 characters"));
        }
        let ceremony = self
            .store
            .take_ceremony(&b64url(&sha256(code.as_bytes())), CeremonyPurpose::Link)?
            .filter(|c| c.expires_at > now)
            .ok_or(Error::Gone("device link code"))?;
        let citizen_id = ceremony.citizen_id.ok_or(Error::Gone("device link code"))?;
        let existing: Vec<_> = self
            .store
            .devices(&citizen_id)?
            .iter()
            .filter_map(|d| serde_json::from_str::<Passkey>(&d.passkey).ok())
            .map(|p| p.cred_id().clone())
            .collect();
        self.start_registration(
            parse_citizen_uuid(&citizen_id)?,
            device_name.to_owned(),
            None,
            Some(existing),
            now,
        )
    }

    /// Opens a citizen's profile.
    pub fn profile(&self, citizen_id: &str) -> Result<Profile, Error> {
        let citizen = self
            .store
            .citizen(citizen_id)?
            .ok_or(Error::NotFound("account"))?;
        self.derived
            .data
            .open_json(&citizen_aad(citizen_id), &citizen.profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-25T00:00:00Z
    const NOW: i64 = 1_795_564_800;

    fn request() -> EnrolmentRequest {
        EnrolmentRequest {
            english_name: "CHAN Tai Man".into(),
            chinese_name: Some("陳大文".into()),
            date_of_birth: "1990-02-28".into(),
            gender: "m".into(),
            hkid: "A123456(3)".into(),
            email: Some("tm.chan@example.hk".into()),
            phone: Some("+852 9123 4567".into()),
            address: None,
            device_name: "Pixel".into(),
        }
    }

    fn invalid_fields(req: &EnrolmentRequest) -> Vec<&'static str> {
        match validate_enrolment(req, NOW) {
            Err(Error::InvalidInput(fields)) => fields.into_iter().map(|(f, _)| f).collect(),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_enrolment_is_normalised() {
        let (profile, device) = validate_enrolment(&request(), NOW).unwrap();
        assert_eq!(profile.hkid, "A1234563");
        assert_eq!(profile.gender, "M");
        assert_eq!(device, "Pixel");
    }

    #[test]
    fn each_invalid_field_is_named() {
        type Mutation = fn(&mut EnrolmentRequest);
        let cases: Vec<(Mutation, &str)> = vec![
            (|r| r.hkid = "A123456(4)".into(), "hkid"),
            (|r| r.hkid = "12345".into(), "hkid"),
            (|r| r.english_name = "  ".into(), "english_name"),
            (|r| r.gender = "Q".into(), "gender"),
            (|r| r.date_of_birth = "1990-02-30".into(), "date_of_birth"),
            (|r| r.date_of_birth = "2027-01-01".into(), "date_of_birth"),
            (|r| r.date_of_birth = "1990/02/01".into(), "date_of_birth"),
            (|r| r.email = Some("no-at-sign".into()), "email"),
            (|r| r.phone = Some("12".into()), "phone"),
            (|r| r.device_name = String::new(), "device_name"),
        ];
        for (mutate, field) in cases {
            let mut req = request();
            mutate(&mut req);
            assert_eq!(invalid_fields(&req), vec![field]);
        }
    }

    #[test]
    fn several_invalid_fields_are_all_named() {
        let mut req = request();
        req.hkid = "bad".into();
        req.gender = String::new();
        assert_eq!(invalid_fields(&req), vec!["gender", "hkid"]);
    }

    #[test]
    fn leap_days_and_today() {
        assert!(validate_date_of_birth("2000-02-29", NOW).is_ok());
        assert!(validate_date_of_birth("1900-02-29", NOW).is_err());
        assert!(validate_date_of_birth("2026-11-25", NOW).is_ok());
        assert!(validate_date_of_birth("2026-11-26", NOW).is_err());
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 25), NOW / 86_400);
    }
}
