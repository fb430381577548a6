//! Applications: what a citizen's phone submits to become (or upgrade) an account.
//!
//! An application holds the particulars the citizen typed, the WebAuthn credential of the phone
//! that applied, and a short reference code. It claims nothing: it does not reserve the HKID
//! number, and the answer to an application is the same whether or not an account already holds
//! that number, so applying tells nobody who is enrolled. Nothing is even looked up about the
//! number here. Only identity proofing ([`crate::proofing`], or an officer at a counter) turns an
//! application into an account; unproven applications expire and are purged.

use eid_proto::api::{
    ApplicationCreated, ApplicationState, EnrolmentRequest, RegisterPublicKeyCredential,
    RegistrationChallenge, UpgradeRequest,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::PasskeyRegistration;

use crate::account::{Contact, Gender, Particulars};
use crate::audit::{Actor, Detail, Event};
use crate::crypto::{b64url, ct_eq, random_token, reference_code, sha256, Aad};
use crate::hkid::Hkid;
use crate::ids::CitizenId;
use crate::limits::Caller;
use crate::store::{
    ApplicationKind, ApplicationRecord, ApplicationStatus, CeremonyPurpose, StoreError,
    WalletSessionRecord,
};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// What an application holds, sealed at rest (AAD `application:<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ApplicationData {
    pub particulars: Particulars,
    pub contact: Contact,
    /// Enrolment: what the citizen calls the phone that applied.
    pub device_name: Option<String>,
}

/// An enrolment's registration ceremony, sealed at rest.
#[derive(Serialize, Deserialize)]
struct EnrolState {
    registration: PasskeyRegistration,
    user_handle: String,
    data: ApplicationData,
}

/// Trims a one-line text field and checks its length and characters.
fn text_field(
    errors: &mut Vec<(&'static str, String)>,
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Option<String> {
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
    // The rule of every displayed name (`names.rs`): a name containing control, reordering
    // or invisible characters could pass for another.
    if value.chars().any(crate::names::is_unsafe_char) {
        errors.push((field, crate::names::NameError::Unsafe.to_string()));
        return None;
    }
    Some(value.to_owned())
}

/// A device's name as the citizen gives it, on every path that names a device.
pub fn validate_device_name(name: &str) -> Result<String, Error> {
    let mut errors = Vec::new();
    match text_field(&mut errors, "device_name", name, 64, true) {
        Some(name) => Ok(name),
        None => Err(Error::InvalidInput(errors)),
    }
}

/// The particulars and contact details of an application, checked field by field.
struct Fields<'a> {
    english_name: &'a str,
    chinese_name: Option<&'a str>,
    date_of_birth: &'a str,
    gender: &'a str,
    hkid: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    address: Option<&'a str>,
}

fn validate_fields(
    f: &Fields<'_>,
    errors: &mut Vec<(&'static str, String)>,
    now: UnixTime,
) -> Option<(Particulars, Contact)> {
    let english_name = text_field(errors, "english_name", f.english_name, 100, true);
    let chinese_name = f
        .chinese_name
        .and_then(|v| text_field(errors, "chinese_name", v, 50, false));
    let address = f
        .address
        .and_then(|v| text_field(errors, "address", v, 200, false));
    let email = f
        .email
        .and_then(|v| text_field(errors, "email", v, 254, false));
    let phone = f
        .phone
        .and_then(|v| text_field(errors, "phone", v, 20, false));
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
    let gender = Gender::parse(f.gender);
    if gender.is_none() {
        errors.push(("gender", "must be M, F or X".into()));
    }
    let date_of_birth = f.date_of_birth.trim();
    if let Err(reason) = validate_date_of_birth(date_of_birth, now) {
        errors.push(("date_of_birth", reason));
    }
    let hkid = match Hkid::parse(f.hkid) {
        Ok(h) => Some(h),
        Err(e) => {
            errors.push(("hkid", e.to_string()));
            None
        }
    };
    match (english_name, gender, hkid) {
        (Some(english_name), Some(gender), Some(hkid)) if errors.is_empty() => Some((
            Particulars {
                hkid: hkid.canonical().to_owned(),
                english_name,
                chinese_name,
                date_of_birth: date_of_birth.to_owned(),
                gender,
            },
            Contact {
                email,
                phone,
                address,
            },
        )),
        _ => None,
    }
}

/// Validates an enrolment, naming every invalid field.
pub fn validate_enrolment(
    req: &EnrolmentRequest,
    now: UnixTime,
) -> Result<(Particulars, Contact, String), Error> {
    let mut errors = Vec::new();
    let fields = Fields {
        english_name: &req.english_name,
        chinese_name: req.chinese_name.as_deref(),
        date_of_birth: &req.date_of_birth,
        gender: &req.gender,
        hkid: &req.hkid,
        email: req.email.as_deref(),
        phone: req.phone.as_deref(),
        address: req.address.as_deref(),
    };
    let device_name = text_field(&mut errors, "device_name", &req.device_name, 64, true);
    let valid = validate_fields(&fields, &mut errors, now);
    match (valid, device_name) {
        (Some((particulars, contact)), Some(device_name)) if errors.is_empty() => {
            Ok((particulars, contact, device_name))
        }
        _ => {
            errors.sort_by_key(|(f, _)| *f);
            Err(Error::InvalidInput(errors))
        }
    }
}

/// `YYYY-MM-DD`, a real calendar date, not before 1900 and not after today (UTC).
pub(crate) fn validate_date_of_birth(value: &str, now: UnixTime) -> Result<(), String> {
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
    if days_from_civil(y, m, d) > now.secs().div_euclid(86_400) {
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

/// An English name as compared: upper case, commas and repeated spaces ignored.
pub(crate) fn comparable_name(name: &str) -> String {
    name.replace(',', " ")
        .split_whitespace()
        .map(str::to_uppercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Provider {
    /// Starts an application: validates the particulars and answers with the registration
    /// challenge for the applying phone's credential. Nothing is stored about the citizen, and
    /// nothing is looked up, until the phone answers.
    pub fn start_enrolment(
        &self,
        req: &EnrolmentRequest,
        caller: &Caller,
        now: UnixTime,
    ) -> Result<RegistrationChallenge, Error> {
        let (particulars, contact, device_name) = validate_enrolment(req, now)?;
        self.limit_address(
            "applications-per-address",
            caller,
            self.config.limits.applications_per_address,
            now,
        )?;
        let user_handle = Uuid::new_v4();
        // The WebAuthn user name and display name are shown by authenticators; they carry no
        // personal data (the phone knows whose it is).
        let (mut options, registration) = self
            .webauthn
            .start_passkey_registration(user_handle, "eid citizen", "eid", None)
            .map_err(|e| Error::Internal(format!("starting WebAuthn registration: {e}")))?;
        crate::ceremony::require_resident_key(&mut options);
        self.ask_attestation(&mut options);
        let state = EnrolState {
            registration,
            user_handle: user_handle.to_string(),
            data: ApplicationData {
                particulars,
                contact,
                device_name: Some(device_name),
            },
        };
        let ceremony_id = self.put_ceremony(
            CeremonyPurpose::Enrol,
            None,
            &state,
            now + self.config.ceremony_ttl,
        )?;
        Ok(RegistrationChallenge {
            ceremony_id,
            options,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Finishes an application: verifies the phone's attestation and records the application
    /// with its device and a reference code.
    pub fn finish_enrolment(
        &self,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        now: UnixTime,
    ) -> Result<ApplicationCreated, Error> {
        let (_, state): (_, EnrolState) =
            self.take_ceremony(ceremony_id, CeremonyPurpose::Enrol, "enrolment", now)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state.registration)
            .map_err(|e| Error::DeviceRefused(format!("attestation refused: {e}")))?;
        // The key's kind is settled again when proofing binds it (the roots may change).
        self.accept_key(&passkey, now)?;
        let credential_id = b64url(passkey.cred_id().as_ref());
        self.check_credential_is_new(&credential_id)?;
        let passkey = crate::ceremony::passkey_to_json(&passkey)?;
        self.insert_application(
            ApplicationKind::Enrolment,
            None,
            &state.data,
            Some((credential_id, passkey, state.user_handle)),
            Actor::Citizen { device_id: None },
            now,
        )
    }

    /// A credential id may be registered once, whether to a device or to an application.
    pub(crate) fn check_credential_is_new(&self, credential_id: &str) -> Result<(), Error> {
        if self.store.device_by_credential(credential_id)?.is_some()
            || self
                .store
                .application_by_credential(credential_id)?
                .is_some()
        {
            return Err(Error::Conflict(
                "this credential is already registered; create a new one".into(),
            ));
        }
        Ok(())
    }

    fn insert_application(
        &self,
        kind: ApplicationKind,
        citizen_id: Option<String>,
        data: &ApplicationData,
        device: Option<(String, String, String)>,
        actor: Actor,
        now: UnixTime,
    ) -> Result<ApplicationCreated, Error> {
        let application_id = Uuid::new_v4().to_string();
        let token = random_token();
        let sealed = self
            .derived
            .data
            .seal_json(Aad::Application(&application_id), data)?;
        let (credential_id, passkey, user_handle) = match device {
            Some((c, p, u)) => (Some(c), Some(p), Some(u)),
            None => (None, None, None),
        };
        // References are 40 random bits: a collision with a live application is rare, and
        // answered by drawing again.
        for _ in 0..5 {
            let record = ApplicationRecord {
                application_id: application_id.clone(),
                reference: reference_code(),
                kind,
                status: ApplicationStatus::Open,
                token_hash: sha256(token.as_bytes()).to_vec(),
                citizen_id: citizen_id.clone().map(CitizenId::from),
                particulars: Some(sealed.clone()),
                credential_id: credential_id.clone(),
                passkey: passkey.clone(),
                user_handle: user_handle.clone(),
                outcome: None,
                created_at: now,
                expires_at: now + self.config.application_ttl,
                presence: None,
                hold: None,
            };
            let event = self.record(
                Event::new("application.created", &actor)
                    .application(&application_id)
                    .detail(Detail {
                        reference: Some(record.reference.clone()),
                        ..Detail::default()
                    }),
                now,
            )?;
            match self.store.insert_application(&record, &event) {
                Ok(()) => {
                    tracing::info!(application_id, kind = kind.as_str(), "application made");
                    return Ok(ApplicationCreated {
                        application_id,
                        reference: record.reference,
                        application_token: token,
                        kind: kind.as_str().to_owned(),
                        expires_in: self.config.application_ttl.unsigned_abs(),
                    });
                }
                Err(StoreError::Duplicate("reference")) => continue,
                Err(StoreError::Duplicate("credential_id")) => {
                    return Err(Error::Conflict(
                        "this credential is already registered; create a new one".into(),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("no free application reference".into()))
    }

    /// An application, for the bearer of its token. Unknown ids, wrong tokens and expired
    /// applications are refused alike.
    pub(crate) fn application_for(
        &self,
        application_id: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<ApplicationRecord, Error> {
        let application = self
            .store
            .application(application_id)?
            .filter(|a| a.expires_at > now)
            .ok_or(Error::Unauthenticated)?;
        if !ct_eq(&sha256(token.as_bytes()), &application.token_hash) {
            return Err(Error::Unauthenticated);
        }
        Ok(application)
    }

    /// Opens an application's particulars (present while it is open).
    pub(crate) fn application_data(
        &self,
        application: &ApplicationRecord,
    ) -> Result<ApplicationData, Error> {
        let sealed = application
            .particulars
            .as_deref()
            .ok_or(Error::Gone("application"))?;
        self.derived
            .data
            .open_json(Aad::Application(&application.application_id), sealed)
    }

    /// Where an application stands, for the bearer of its token.
    pub fn application_state(
        &self,
        application_id: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<ApplicationState, Error> {
        let mut application = self.application_for(application_id, token, now)?;
        // A held recovery whose hold has ended takes effect when its phone asks.
        if application.status == ApplicationStatus::Held
            && self.complete_held_recovery(&application, now)?.is_some()
        {
            application = self.application_for(application_id, token, now)?;
        }
        let level = match application.status {
            ApplicationStatus::Proven => application.outcome.clone(),
            _ => None,
        };
        let device_id = match (&level, &application.credential_id) {
            (Some(_), Some(credential_id)) => self
                .store
                .device_by_credential(credential_id)?
                .filter(|(d, _)| Some(&d.citizen_id) == application.citizen_id.as_ref())
                .map(|(d, _)| d.device_id.into_string()),
            _ => None,
        };
        let rejection = match application.status {
            ApplicationStatus::Rejected => application.outcome.clone(),
            _ => None,
        };
        Ok(ApplicationState {
            application_id: application.application_id,
            reference: application.reference,
            kind: application.kind.as_str().to_owned(),
            status: application.status.as_str().to_owned(),
            expires_in: (application.expires_at - now).unsigned_abs(),
            citizen_id: application
                .citizen_id
                .filter(|_| level.is_some())
                .map(CitizenId::into_string),
            level,
            rejection,
            held_until: application
                .hold
                .as_ref()
                .filter(|_| application.status == ApplicationStatus::Held)
                .map(|h| h.until.secs()),
            device_id,
        })
    }

    /// An account asks to be proven in person (to level `plus`): an application with the
    /// particulars to be checked against the card, shown at a counter by its reference.
    pub fn start_upgrade(
        &self,
        session: &WalletSessionRecord,
        req: &UpgradeRequest,
        now: UnixTime,
    ) -> Result<ApplicationCreated, Error> {
        let mut errors = Vec::new();
        let fields = Fields {
            english_name: &req.english_name,
            chinese_name: req.chinese_name.as_deref(),
            date_of_birth: &req.date_of_birth,
            gender: &req.gender,
            hkid: &req.hkid,
            email: None,
            phone: None,
            address: req.address.as_deref(),
        };
        let Some((particulars, contact)) = validate_fields(&fields, &mut errors, now) else {
            errors.sort_by_key(|(f, _)| *f);
            return Err(Error::InvalidInput(errors));
        };
        let account = self
            .store
            .citizen(&session.citizen_id)?
            .ok_or(Error::Unauthenticated)?;
        if account.hkid_index != self.hkid_index(&particulars.hkid) {
            return Err(Error::invalid(
                "hkid",
                "is not the identity card number of this account",
            ));
        }
        let mut contact = contact;
        // Keep what the account already holds unless the citizen gives something new.
        if let Some(profile) = self.profile_of(&session.citizen_id)? {
            contact.email = profile.contact.email;
            contact.phone = profile.contact.phone;
            if contact.address.is_none() {
                contact.address = profile.contact.address;
            }
        }
        self.insert_application(
            ApplicationKind::Upgrade,
            Some(session.citizen_id.clone().into_string()),
            &ApplicationData {
                particulars,
                contact,
                device_name: None,
            },
            None,
            Actor::Citizen {
                device_id: Some(session.device_id.clone().into_string()),
            },
            now,
        )
    }

    /// The keyed hash that indexes accounts by HKID number.
    pub(crate) fn hkid_index(&self, canonical_hkid: &str) -> Vec<u8> {
        self.derived
            .hkid_index
            .hash(&[canonical_hkid.as_bytes()])
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-25T00:00:00Z
    const NOW: UnixTime = UnixTime::from_secs(1_795_564_800);

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
        let (particulars, contact, device) = validate_enrolment(&request(), NOW).unwrap();
        assert_eq!(particulars.hkid, "A1234563");
        assert_eq!(particulars.gender, Gender::Male);
        assert_eq!(contact.email.as_deref(), Some("tm.chan@example.hk"));
        assert_eq!(device, "Pixel");
    }

    #[test]
    fn each_invalid_field_is_named() {
        type Mutation = fn(&mut EnrolmentRequest);
        let cases: Vec<(Mutation, &str)> = vec![
            (|r| r.hkid = "A123456(4)".into(), "hkid"),
            (|r| r.hkid = "12345".into(), "hkid"),
            (|r| r.english_name = "  ".into(), "english_name"),
            (
                |r| r.english_name = "CHAN\u{202E}Tai".into(),
                "english_name",
            ),
            (|r| r.gender = "Q".into(), "gender"),
            (|r| r.date_of_birth = "1990-02-30".into(), "date_of_birth"),
            (|r| r.date_of_birth = "2027-01-01".into(), "date_of_birth"),
            (|r| r.date_of_birth = "1990/02/01".into(), "date_of_birth"),
            (|r| r.email = Some("no-at-sign".into()), "email"),
            (|r| r.phone = Some("12".into()), "phone"),
            (|r| r.device_name = String::new(), "device_name"),
            (|r| r.device_name = "\u{1b}[2Jphone".into(), "device_name"),
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
    fn device_names_refuse_control_and_direction_characters() {
        assert_eq!(validate_device_name("  Pixel 9 ").unwrap(), "Pixel 9");
        for bad in [
            "",
            "a\u{7}",
            "\u{1b}[31mGENUINE",
            "x\u{2066}y",
            "x\u{200F}",
            &"a".repeat(65),
        ] {
            assert!(validate_device_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn leap_days_and_today() {
        assert!(validate_date_of_birth("2000-02-29", NOW).is_ok());
        assert!(validate_date_of_birth("1900-02-29", NOW).is_err());
        assert!(validate_date_of_birth("2026-11-25", NOW).is_ok());
        assert!(validate_date_of_birth("2026-11-26", NOW).is_err());
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 25), NOW.secs() / 86_400);
    }

    #[test]
    fn names_compare_without_case_commas_or_spacing() {
        assert_eq!(
            comparable_name("Chan, Tai  Man"),
            comparable_name("CHAN TAI MAN")
        );
        assert_ne!(
            comparable_name("CHAN Tai Man"),
            comparable_name("CHAN Tai Ming")
        );
    }
}
