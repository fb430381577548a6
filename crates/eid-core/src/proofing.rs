//! Identity proofing: what turns an application into an account, at an assurance level.
//!
//! - Remote, in the app (level `basic`): the phone sends the particulars read from the identity
//!   card and a face template of a live capture, signed inside a WebAuthn assertion of the
//!   application's device over a challenge that commits to them. eid asks the population
//!   registry, with a signed query, whether the person exists with those particulars and whether
//!   the faces match; the registry answers with a signed verdict. The server carries the query
//!   and the verdict over HTTP ([`Provider::prepare_remote_proofing`] then
//!   [`Provider::complete_remote_proofing`]); the core does no I/O.
//! - In person (level `plus`): a registration officer checks the physical card against the
//!   application ([`crate::officers`]).
//!
//! Both end in [`Provider::bind_proof`]: one account per HKID number. If the number has no
//! account, the application's device gets a new one. If it has one, the proven holder takes it
//! over (recovery): the new device is bound and every other device is revoked. A squatter's
//! applications thus never matter: they expire unproven, and the real holder who proves
//! themselves gets the account.
//!
//! Failed attempts are limited per application, per device and per client address, never per
//! HKID number: anyone can name a number, and strangers' failures must not lock its holder out
//! (security review 2026-12-07, M3). Past a threshold, failures naming one number are logged
//! as a security event and audited ([`Provider::count_failed_proofing`]).

use eid_proto::api::{ProofingChallenge, ProofingEvidence, ProofingSubmission};
use eid_proto::oauth::Jwks;
use eid_proto::registry::{RegistryQuery, RegistryVerdict, QUERY_TYPE, VERDICT_TYPE};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication};

use crate::account::{AccountStatus, Gender, JoinedBy, Level, Particulars, Profile};
use crate::audit::{Actor, Detail, Event};
use crate::capture::CaptureRoots;
use crate::ceremony::{committed_challenge, rebind_challenge};
use crate::crypto::{b64url_decode, random_token, Aad};
use crate::enrolment::{comparable_name, ApplicationData};
use crate::error::ProofingFailure;
use crate::hkid::Hkid;
use crate::ids::{CitizenId, DeviceId};
use crate::limits::{address_key, Caller};
use crate::store::{
    AccountChange, ApplicationKind, ApplicationRecord, ApplicationStatus, CeremonyPurpose,
    CitizenRecord, DeviceRecord, ProvenBinding, StoreError,
};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// The label of the committed challenge a proofing assertion signs.
pub const PROOFING_LABEL: &str = "eid-proofing";

/// Largest evidence document accepted (a template of a few thousand floats fits easily).
const MAX_EVIDENCE_BYTES: usize = 64 * 1024;

/// A face template's accepted dimensions.
const TEMPLATE_DIMENSIONS: std::ops::RangeInclusive<usize> = 16..=4096;

/// How far a verdict's `iat` may be from now.
const VERDICT_SKEW: i64 = 300;

/// What remote proofing believes, and how long a recovery waits (`[proofing]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofingPolicy {
    /// Development only: accept a face template without a capture key's signature.
    pub danger_accept_unsigned_captures: bool,
    /// How long a remote recovery of an existing account is held, in seconds, during which
    /// every bound device is told and may cancel it (at least a minute).
    pub recovery_hold: i64,
}

impl Default for ProofingPolicy {
    fn default() -> Self {
        Self {
            danger_accept_unsigned_captures: false,
            recovery_hold: DEFAULT_RECOVERY_HOLD,
        }
    }
}

/// 72 hours: long enough that a holder who uses eid at all hears of a recovery before it
/// takes effect.
pub const DEFAULT_RECOVERY_HOLD: i64 = 72 * 3_600;

/// A remote proofing ceremony, sealed at rest.
#[derive(Serialize, Deserialize)]
struct ProofingState {
    authentication: PasskeyAuthentication,
    nonce: Vec<u8>,
}

/// A proofing under way: the signed query to carry to the registry, and what is needed to
/// finish once it answers. Lives only in memory, for the length of one request: the face
/// template is inside the query and is never stored.
pub struct PreparedProofing {
    application: ApplicationRecord,
    data: ApplicationData,
    /// The device's passkey with the counter the assertion raised.
    passkey: String,
    evidence: Particulars,
    query_id: String,
    /// The applicant's address, against which a failure counts.
    address: Option<std::net::IpAddr>,
    /// The compact JWS to POST to the registry.
    pub query: String,
}

impl std::fmt::Debug for PreparedProofing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedProofing")
            .field("application_id", &self.application.application_id)
            .field("query_id", &self.query_id)
            .finish_non_exhaustive()
    }
}

/// What a successful proofing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofingOutcome {
    pub citizen_id: CitizenId,
    /// The account's reference.
    pub reference: String,
    pub level: Level,
    /// The device bound (enrolments).
    pub device_id: Option<DeviceId>,
    /// The HKID number had an account, which the proven holder took over.
    pub recovered: bool,
    pub revoked_devices: u32,
    /// The HKID number has an account, whose recovery is held until then.
    pub held_until: Option<UnixTime>,
}

/// What a proofing established, ready to bind.
pub(crate) struct Proof {
    pub particulars: Particulars,
    pub level: Level,
    pub verified_address: Option<String>,
    pub actor: Actor,
    pub evidence: Vec<String>,
    /// Enrolment: the device's passkey as it now stands.
    pub passkey: Option<String>,
    /// Proven remotely: a recovery it makes is held.
    pub remote: bool,
}

/// What remote proofing established for a held recovery, sealed in the application until
/// the hold ends.
#[derive(Serialize, Deserialize)]
struct HeldProof {
    particulars: Particulars,
    level: String,
    evidence: Vec<String>,
}

fn validate_template(template: &[f32]) -> Result<(), Error> {
    if !TEMPLATE_DIMENSIONS.contains(&template.len()) {
        return Err(Error::invalid(
            "face_template",
            format!(
                "must have {} to {} values",
                TEMPLATE_DIMENSIONS.start(),
                TEMPLATE_DIMENSIONS.end()
            ),
        ));
    }
    if !template.iter().all(|v| v.is_finite()) || template.iter().all(|v| *v == 0.0) {
        return Err(Error::invalid(
            "face_template",
            "must be finite numbers, not all zero",
        ));
    }
    Ok(())
}

impl Provider {
    fn remote_proofing_registry(&self) -> Result<&str, Error> {
        self.config
            .registry
            .as_ref()
            .map(|r| r.registry_id.as_str())
            .ok_or_else(|| {
                Error::Unavailable(
                    "remote proofing is not offered by this deployment; show your reference at a registration counter".into(),
                )
            })
    }

    /// An open enrolment application, for the bearer of its token.
    fn open_enrolment(
        &self,
        application_id: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<ApplicationRecord, Error> {
        let application = self.application_for(application_id, token, now)?;
        if application.kind != ApplicationKind::Enrolment {
            return Err(Error::Conflict(
                "an upgrade is proven in person, at a registration counter".into(),
            ));
        }
        if application.status != ApplicationStatus::Open {
            return Err(Error::Gone("application"));
        }
        Ok(application)
    }

    /// Starts remote proofing of an application: a challenge for its device to sign.
    pub fn start_remote_proofing(
        &self,
        application_id: &str,
        token: &str,
        caller: &Caller,
        now: UnixTime,
    ) -> Result<ProofingChallenge, Error> {
        self.remote_proofing_registry()?;
        let application = self.open_enrolment(application_id, token, now)?;
        self.limit_address(
            "proofing-per-address",
            caller,
            self.config.limits.proofing_per_address,
            now,
        )?;
        let passkey = stored_passkey(application.passkey.as_deref())?;
        let (options, authentication) = self
            .webauthn
            .start_passkey_authentication(&[passkey])
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
        let ceremony_id = self.put_ceremony(
            CeremonyPurpose::Proofing,
            Some(application.application_id),
            &ProofingState {
                authentication,
                nonce,
            },
            now + self.config.ceremony_ttl,
        )?;
        Ok(ProofingChallenge {
            ceremony_id,
            options,
            expires_in: self.config.ceremony_ttl.unsigned_abs(),
        })
    }

    /// Checks a remote proofing submission (the device's signature over the evidence, the
    /// evidence against the application, the limits on failed attempts) and builds the signed
    /// query for the registry. Nothing is written but the used challenge and, for evidence
    /// that does not match the application, the failure's counts and audit event.
    pub fn prepare_remote_proofing(
        &self,
        application_id: &str,
        token: &str,
        submission: &ProofingSubmission,
        capture_roots: &CaptureRoots,
        caller: &Caller,
        now: UnixTime,
    ) -> Result<PreparedProofing, Error> {
        let registry_id = self.remote_proofing_registry()?.to_owned();
        let application = self.open_enrolment(application_id, token, now)?;
        let (ceremony, state): (_, ProofingState) = self.take_ceremony(
            &submission.ceremony_id,
            CeremonyPurpose::Proofing,
            "proofing challenge",
            now,
        )?;
        if ceremony.subject_id.as_deref() != Some(application_id) {
            return Err(Error::Gone("proofing challenge"));
        }
        let evidence_bytes = b64url_decode(&submission.evidence)
            .filter(|b| b.len() <= MAX_EVIDENCE_BYTES)
            .ok_or_else(|| {
                Error::invalid("evidence", "must be base64url of at most 64 KiB of JSON")
            })?;
        // The device signed the evidence: its assertion is over the challenge that commits to
        // exactly these bytes.
        crate::ceremony::refuse_cross_origin(&submission.credential)?;
        let challenge = committed_challenge(PROOFING_LABEL, &state.nonce, &evidence_bytes);
        let authentication = rebind_challenge(&state.authentication, &challenge)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&submission.credential, &authentication)
            .map_err(|e| Error::DeviceRefused(format!("assertion refused: {e}")))?;
        let mut passkey = stored_passkey(application.passkey.as_deref())?;
        passkey.update_credential(&result);
        let passkey = crate::ceremony::passkey_to_json(&passkey)?;

        let evidence: ProofingEvidence = serde_json::from_slice(&evidence_bytes)
            .map_err(|e| Error::invalid("evidence", format!("is not proofing evidence: {e}")))?;
        if !evidence.face_template.is_empty() {
            validate_template(&evidence.face_template)?;
        }
        let hkid =
            Hkid::parse(&evidence.hkid).map_err(|e| Error::invalid("hkid", e.to_string()))?;
        self.refuse_if_proofing_exhausted(&application, caller.address, now)?;
        let data = self.application_data(&application)?;
        let face_template = self.captured_template(&evidence, capture_roots, &state.nonce, now);
        let face_template = match face_template {
            Ok(template) => template,
            Err(Error::ProofingFailed(failure)) => {
                self.count_failed_proofing(
                    &application,
                    &data.particulars.hkid,
                    caller.address,
                    now,
                )?;
                self.audit_refusal(&application.application_id, &failure, now)?;
                return Err(Error::ProofingFailed(failure));
            }
            Err(e) => return Err(e),
        };
        let mut differs = Vec::new();
        if hkid.canonical() != data.particulars.hkid {
            differs.push("hkid");
        }
        if comparable_name(&evidence.english_name)
            != comparable_name(&data.particulars.english_name)
        {
            differs.push("english_name");
        }
        if evidence.date_of_birth.trim() != data.particulars.date_of_birth {
            differs.push("date_of_birth");
        }
        if !differs.is_empty() {
            self.count_failed_proofing(&application, &data.particulars.hkid, caller.address, now)?;
            return Err(Error::ProofingFailed(ProofingFailure::EvidenceMismatch(
                differs,
            )));
        }
        let query_id = random_token();
        let query = RegistryQuery {
            iss: self.config.issuer_str(),
            aud: registry_id,
            iat: now.secs(),
            exp: (now + 60).secs(),
            jti: query_id.clone(),
            hkid: hkid.canonical().to_owned(),
            english_name: evidence.english_name.trim().to_owned(),
            date_of_birth: evidence.date_of_birth.trim().to_owned(),
            face_template,
            min_face_similarity: self.config.face_match_threshold,
        };
        let claims = serde_json::to_value(&query)
            .map_err(|e| Error::Internal(format!("serialising a registry query: {e}")))?;
        Ok(PreparedProofing {
            query: self.connector.sign(QUERY_TYPE, &claims)?,
            application,
            data: data.clone(),
            passkey,
            evidence: data.particulars,
            query_id,
            address: caller.address,
        })
    }

    /// The face template to compare: the signed capture's, verified against the capture roots
    /// and this ceremony's nonce; an unsigned template only where the deployment accepts them
    /// (development).
    fn captured_template(
        &self,
        evidence: &ProofingEvidence,
        roots: &CaptureRoots,
        nonce: &[u8],
        now: UnixTime,
    ) -> Result<Vec<f32>, Error> {
        let template = match &evidence.capture {
            Some(_) if !evidence.face_template.is_empty() => {
                return Err(Error::invalid(
                    "face_template",
                    "must be absent when a signed capture carries it",
                ))
            }
            Some(capture) => {
                crate::capture::verify_capture(capture, roots, nonce, now).map_err(|refused| {
                    tracing::warn!(
                        target: "eid::security",
                        event = "proofing.capture_refused",
                        why = refused.0,
                        "a signed face capture was refused"
                    );
                    Error::ProofingFailed(ProofingFailure::CaptureRefused)
                })?
            }
            None if self.config.proofing.danger_accept_unsigned_captures => {
                evidence.face_template.clone()
            }
            None => return Err(Error::ProofingFailed(ProofingFailure::UnsignedCapture)),
        };
        validate_template(&template)?;
        Ok(template)
    }

    /// Audits a refused proofing with its reason.
    fn audit_refusal(
        &self,
        application_id: &str,
        failure: &ProofingFailure,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.audit(
            Event::new("proofing.refused", &Actor::System)
                .application(application_id)
                .detail(Detail {
                    reason: Some(failure.reason().to_owned()),
                    ..Detail::default()
                }),
            now,
        )?;
        tracing::info!(
            application_id,
            reason = failure.reason(),
            "remote proofing refused"
        );
        Ok(())
    }

    /// Refuses an attempt once its application, its device or the caller's address has used
    /// up its failed attempts. Checked before the registry is asked and counted only when an
    /// attempt fails, so the holder's own successful attempt counts nowhere. (Concurrent
    /// attempts may all pass the check before their failures count: each needs a challenge of
    /// its own, and challenges are limited per address.)
    fn refuse_if_proofing_exhausted(
        &self,
        application: &ApplicationRecord,
        address: Option<std::net::IpAddr>,
        now: UnixTime,
    ) -> Result<(), Error> {
        for (kind, subject, limit) in self.proofing_buckets(application, address) {
            self.refuse_if_full(kind, &subject, limit, now)?;
        }
        Ok(())
    }

    /// The windows a failed attempt counts in, and that refuse the next one when full: its
    /// application, its device, the caller's address.
    fn proofing_buckets(
        &self,
        application: &ApplicationRecord,
        address: Option<std::net::IpAddr>,
    ) -> Vec<(&'static str, Vec<u8>, crate::limits::RateLimit)> {
        let limits = &self.config.limits;
        let mut buckets = vec![(
            "proofing-per-application",
            application.application_id.as_bytes().to_vec(),
            limits.proofing_per_application,
        )];
        if let Some(credential_id) = &application.credential_id {
            buckets.push((
                "proofing-per-device",
                credential_id.as_bytes().to_vec(),
                limits.proofing_per_device,
            ));
        }
        if let Some(address) = address {
            buckets.push((
                "proofing-failures-per-address",
                address_key(address),
                limits.proofing_failures_per_address,
            ));
        }
        buckets
    }

    /// Counts a failed attempt against its application, its device, the caller's address and
    /// the HKID number the application names. The number's count refuses nobody; when it first
    /// passes its threshold in a window, the failures are logged as a security event and
    /// audited (on the number's account, if it has one, so that its holder's history shows
    /// it), naming the number only by its keyed bucket.
    pub(crate) fn count_failed_proofing(
        &self,
        application: &ApplicationRecord,
        canonical_hkid: &str,
        address: Option<std::net::IpAddr>,
        now: UnixTime,
    ) -> Result<(), Error> {
        for (kind, subject, limit) in self.proofing_buckets(application, address) {
            self.count(kind, &subject, limit, now)?;
        }
        let limits = &self.config.limits;
        let failures = self.count(
            "proofing-per-hkid",
            canonical_hkid.as_bytes(),
            limits.proofing_per_hkid,
            now,
        )?;
        if failures == limits.proofing_per_hkid.max.saturating_add(1) {
            let bucket = self.bucket("proofing-per-hkid", canonical_hkid.as_bytes());
            tracing::warn!(
                target: "eid::security",
                event = "proofing.hkid_attempts_high",
                bucket,
                failures,
                application_id = application.application_id,
                "failed proofing attempts naming one HKID number passed the alert threshold"
            );
            let account = self
                .store
                .citizen_by_hkid(&self.hkid_index(canonical_hkid))?;
            let mut event = Event::new("proofing.hkid_attempts_high", &Actor::System)
                .application(&application.application_id)
                .detail(Detail {
                    bucket: Some(bucket),
                    ..Detail::default()
                });
            if let Some(account) = &account {
                event = event.citizen(&account.citizen_id);
            }
            self.audit(event, now)?;
        }
        Ok(())
    }

    /// Finishes remote proofing with the registry's signed verdict: verifies it, decides, and
    /// on a match binds the application's device to the account (level `basic`).
    pub fn complete_remote_proofing(
        &self,
        prepared: PreparedProofing,
        verdict: &str,
        registry_keys: &Jwks,
        now: UnixTime,
    ) -> Result<ProofingOutcome, Error> {
        let registry_id = self.remote_proofing_registry()?;
        let verdict = self.verify_verdict(verdict, registry_keys, registry_id, &prepared, now)?;
        let application_id = prepared.application.application_id.clone();
        let decided = decide(
            &verdict,
            self.config.face_match_threshold,
            &prepared.evidence,
        );
        let particulars = match decided {
            Ok(particulars) => particulars,
            Err(failure) => {
                self.count_failed_proofing(
                    &prepared.application,
                    &prepared.data.particulars.hkid,
                    prepared.address,
                    now,
                )?;
                self.audit_refusal(&application_id, &failure, now)?;
                return Err(Error::ProofingFailed(failure));
            }
        };
        self.bind_proof(
            &prepared.application,
            &prepared.data,
            Proof {
                particulars,
                level: Level::Basic,
                verified_address: None,
                actor: Actor::System,
                evidence: vec![
                    "registry_record".into(),
                    "face_match".into(),
                    "signed_capture".into(),
                ],
                passkey: Some(prepared.passkey),
                remote: true,
            },
            now,
        )
    }

    fn verify_verdict(
        &self,
        verdict: &str,
        keys: &Jwks,
        registry_id: &str,
        prepared: &PreparedProofing,
        now: UnixTime,
    ) -> Result<RegistryVerdict, Error> {
        let refused = |why: String| {
            tracing::error!(why, "the population registry's verdict was refused");
            Error::Unavailable("the population registry's answer could not be verified".into())
        };
        let claims = crate::jose::verify_es256(verdict, keys, VERDICT_TYPE)
            .map_err(|e| refused(e.to_string()))?;
        let verdict: RegistryVerdict = serde_json::from_value(serde_json::Value::Object(claims))
            .map_err(|e| refused(format!("malformed verdict: {e}")))?;
        if verdict.iss != registry_id {
            return Err(refused(format!("iss is {:?}", verdict.iss)));
        }
        if verdict.aud != self.config.issuer_str() {
            return Err(refused(format!("aud is {:?}", verdict.aud)));
        }
        if verdict.in_response_to != prepared.query_id {
            return Err(refused("it answers another query".into()));
        }
        let off = verdict.iat.saturating_sub(now.secs());
        if off.unsigned_abs() > VERDICT_SKEW.unsigned_abs() {
            return Err(refused(format!("iat is {off} s off")));
        }
        Ok(verdict)
    }

    /// Binds a proven application: creates the account, or recovers or upgrades the one that
    /// holds the HKID number. Retries when another proofing for the same number lands first.
    pub(crate) fn bind_proof(
        &self,
        application: &ApplicationRecord,
        data: &ApplicationData,
        proof: Proof,
        now: UnixTime,
    ) -> Result<ProofingOutcome, Error> {
        let index = self.hkid_index(&proof.particulars.hkid);
        for _ in 0..3 {
            let existing = self.store.citizen_by_hkid(&index)?;
            if let Some(account) = &existing {
                // An application's key recovers an account only with its holder proven (a
                // `Proof` exists only after the registry's verdict or an officer's approval);
                // an officer only after the applying phone answered at the counter, which
                // `decide_application` checked before building the proof.
                let (credential, facts) = if proof.remote {
                    (
                        crate::authority::Credential::ApplicationKey,
                        crate::authority::Facts {
                            proven: true,
                            ..crate::authority::Facts::default()
                        },
                    )
                } else {
                    (
                        crate::authority::Credential::Officer,
                        crate::authority::Facts {
                            at_counter: true,
                            ..crate::authority::Facts::default()
                        },
                    )
                };
                crate::authority::permit(
                    credential,
                    crate::authority::Action::StartRecovery,
                    &facts,
                )?;
                // Remote proofing never takes an account over at once: the recovery waits,
                // and the account's devices hear of it and may cancel it (review 2026-12-07,
                // H2). A held application binds when its hold ends.
                if proof.remote
                    && application.kind == ApplicationKind::Enrolment
                    && application.status == ApplicationStatus::Open
                {
                    return self.hold_recovery(application, data, &proof, account, now);
                }
            }
            match self.try_bind(application, data, &proof, existing, &index, now) {
                Err(Error::Store(
                    StoreError::Duplicate("hkid") | StoreError::Conflict("account"),
                )) => continue,
                other => return other,
            }
        }
        Err(Error::Unavailable(
            "the account changed while proofing; try again".into(),
        ))
    }

    /// Holds the remote recovery of `account` by `application` for `[proofing] recovery_hold`:
    /// the account's devices are told (their inbox) and may cancel it; nothing changes on the
    /// account until the hold ends.
    fn hold_recovery(
        &self,
        application: &ApplicationRecord,
        data: &ApplicationData,
        proof: &Proof,
        account: &CitizenRecord,
        now: UnixTime,
    ) -> Result<ProofingOutcome, Error> {
        let application_id = application.application_id.as_str();
        let until = now + self.config.proofing.recovery_hold;
        let held = HeldProof {
            particulars: proof.particulars.clone(),
            level: proof.level.as_str().to_owned(),
            evidence: proof.evidence.clone(),
        };
        let sealed = self
            .derived
            .data
            .seal_json(Aad::HeldProof(application_id), &held)?;
        let passkey = proof
            .passkey
            .as_deref()
            .ok_or_else(|| Error::Internal("a remote proof without its device".into()))?;
        let event = self.record(
            Event::new("recovery.held", &proof.actor)
                .application(application_id)
                .citizen(&account.citizen_id)
                .detail(Detail {
                    device_name: Some(data.device_name.clone().unwrap_or_else(|| "phone".into())),
                    evidence: proof.evidence.clone(),
                    level: account.level.map(|l| l.as_str().to_owned()),
                    reference: Some(application.reference.clone()),
                    until: Some(until.secs()),
                    ..Detail::default()
                }),
            now,
        )?;
        let hold = crate::store::Hold {
            until,
            proof: sealed,
        };
        // The application outlives its hold by its usual lifetime, for the phone to ask.
        let expires_at = application
            .expires_at
            .max(until + self.config.application_ttl);
        if !self.store.hold_application(
            application_id,
            &account.citizen_id,
            &hold,
            passkey,
            expires_at,
            &[event],
        )? {
            return Err(Error::Gone("application"));
        }
        tracing::warn!(
            target: "eid::security",
            event = "recovery.held",
            application_id,
            citizen_id = %account.citizen_id,
            until = until.secs(),
            "an account's recovery by remote proofing is held; its devices are told"
        );
        Ok(ProofingOutcome {
            citizen_id: account.citizen_id.clone(),
            reference: account.reference.clone(),
            level: proof.level,
            device_id: None,
            recovered: false,
            revoked_devices: 0,
            held_until: Some(until),
        })
    }

    /// Completes a held recovery whose hold has ended: binds the application's device to the
    /// account and revokes the others. `None` while it is still held (or not held at all).
    pub(crate) fn complete_held_recovery(
        &self,
        application: &ApplicationRecord,
        now: UnixTime,
    ) -> Result<Option<ProofingOutcome>, Error> {
        let Some(hold) = &application.hold else {
            return Ok(None);
        };
        if application.status != ApplicationStatus::Held || now < hold.until {
            return Ok(None);
        }
        let held: HeldProof = self
            .derived
            .data
            .open_json(Aad::HeldProof(&application.application_id), &hold.proof)?;
        let data = self.application_data(application)?;
        let proof = Proof {
            particulars: held.particulars,
            level: Level::parse(&held.level)
                .ok_or_else(|| Error::Internal("a held proof's level".into()))?,
            verified_address: None,
            actor: Actor::System,
            evidence: held.evidence,
            passkey: application.passkey.clone(),
            remote: true,
        };
        match self.bind_proof(application, &data, proof, now) {
            Ok(outcome) => Ok(Some(outcome)),
            // Another request completed it first.
            Err(Error::Gone("application")) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The account's held recoveries, for its devices.
    pub fn held_recoveries(
        &self,
        session: &crate::store::WalletSessionRecord,
        _now: UnixTime,
    ) -> Result<eid_proto::api::Recoveries, Error> {
        let mut recoveries = Vec::new();
        for held in self.store.held_applications(&session.citizen_id)? {
            let Some(hold) = &held.hold else { continue };
            let device_name = self
                .application_data(&held)
                .ok()
                .and_then(|d| d.device_name)
                .unwrap_or_else(|| "phone".into());
            recoveries.push(eid_proto::api::HeldRecovery {
                application_id: held.application_id.clone(),
                device_name,
                held_until: hold.until.secs(),
            });
        }
        Ok(eid_proto::api::Recoveries { recoveries })
    }

    /// A device of the account cancels a held recovery (its inbox's one-tap answer).
    pub fn cancel_recovery(
        &self,
        session: &crate::store::WalletSessionRecord,
        application_id: &str,
        now: UnixTime,
    ) -> Result<(), Error> {
        let devices = self.store.devices(&session.citizen_id)?;
        let device = devices
            .iter()
            .find(|d| d.device_id == session.device_id)
            .ok_or(Error::Unauthenticated)?;
        let application = self
            .store
            .application(application_id)?
            .filter(|a| {
                a.status == ApplicationStatus::Held
                    && a.citizen_id.as_ref() == Some(&session.citizen_id)
            })
            .ok_or(Error::NotFound("recovery"))?;
        // A phone still cooling off cannot cancel one: a phone linked by a relayed code must
        // not keep the holder from recovering their account.
        crate::authority::permit(
            self.device_credential(device, now),
            crate::authority::Action::CancelRecovery,
            &crate::authority::Facts::default(),
        )?;
        let event = self.record(
            Event::new(
                "recovery.cancelled",
                &Actor::Citizen {
                    device_id: Some(device.device_id.clone().into_string()),
                },
            )
            .application(application_id)
            .citizen(&session.citizen_id)
            .device(&device.device_id)
            .detail(Detail {
                device_name: Some(device.name.clone()),
                reason: Some("recovery_cancelled".into()),
                ..Detail::default()
            }),
            now,
        )?;
        if !self.store.reject_application(
            &application.application_id,
            "recovery_cancelled",
            &event,
        )? {
            return Err(Error::NotFound("recovery"));
        }
        tracing::warn!(
            target: "eid::security",
            event = "recovery.cancelled",
            application_id,
            citizen_id = %session.citizen_id,
            "a held recovery was cancelled by a device of the account"
        );
        Ok(())
    }

    /// Once an account is proven again (a recovery took effect, or its holder was proven at a
    /// counter), every other held recovery of it is moot: each is rejected as superseded.
    fn supersede_held_recoveries(
        &self,
        citizen_id: &CitizenId,
        actor: &Actor,
        now: UnixTime,
    ) -> Result<(), Error> {
        let held = self.store.held_applications(citizen_id)?;
        if !held.is_empty() {
            // An officer's proof supersedes them (at a counter); a recovery that took effect
            // ends the others as the system's consequence of it.
            if let Actor::Officer { .. } = actor {
                crate::authority::permit(
                    crate::authority::Credential::Officer,
                    crate::authority::Action::CancelRecovery,
                    &crate::authority::Facts {
                        at_counter: true,
                        ..crate::authority::Facts::default()
                    },
                )?;
            }
        }
        for held in held {
            let event = self.record(
                Event::new("recovery.superseded", actor)
                    .application(&held.application_id)
                    .citizen(citizen_id)
                    .detail(Detail {
                        reason: Some("superseded".into()),
                        ..Detail::default()
                    }),
                now,
            )?;
            self.store
                .reject_application(&held.application_id, "superseded", &event)?;
        }
        Ok(())
    }

    fn try_bind(
        &self,
        application: &ApplicationRecord,
        data: &ApplicationData,
        proof: &Proof,
        existing: Option<CitizenRecord>,
        index: &[u8],
        now: UnixTime,
    ) -> Result<ProofingOutcome, Error> {
        let application_id = application.application_id.as_str();
        let (citizen_id, reference, change, revoked, recovered) = match (application.kind, existing)
        {
            (ApplicationKind::Enrolment, None) => {
                let citizen_id = CitizenId::new(Uuid::new_v4().to_string());
                let record = CitizenRecord {
                    citizen_id: citizen_id.clone(),
                    reference: application.reference.clone(),
                    hkid_index: index.to_vec(),
                    level: Some(proof.level),
                    status: AccountStatus::Active,
                    created_at: now,
                    updated_at: now,
                };
                (
                    citizen_id,
                    application.reference.clone(),
                    AccountChange::Create(record),
                    0,
                    false,
                )
            }
            (ApplicationKind::Enrolment, Some(account)) => {
                let revoked = u32::try_from(self.store.devices(&account.citizen_id)?.len())
                    .unwrap_or(u32::MAX);
                let change = AccountChange::Update {
                    citizen_id: account.citizen_id.clone(),
                    expected_status: account.status,
                    // The level of the channel that proved the holder this time: a plus account
                    // recovered remotely is basic until its holder visits a counter again.
                    level: proof.level,
                    // Proofing reopens a closed account; a suspension stays until an operator
                    // lifts it.
                    status: match account.status {
                        AccountStatus::Closed => AccountStatus::Active,
                        other => other,
                    },
                    revoke_devices: true,
                };
                (account.citizen_id, account.reference, change, revoked, true)
            }
            (ApplicationKind::Upgrade, Some(account))
                if application.citizen_id.as_deref() == Some(account.citizen_id.as_str()) =>
            {
                if account.status != AccountStatus::Active {
                    return Err(Error::Conflict(format!(
                        "the account is {}",
                        account.status.as_str()
                    )));
                }
                let change = AccountChange::Update {
                    citizen_id: account.citizen_id.clone(),
                    expected_status: AccountStatus::Active,
                    level: proof.level.max(account.level.unwrap_or(proof.level)),
                    status: AccountStatus::Active,
                    revoke_devices: false,
                };
                (account.citizen_id, account.reference, change, 0, false)
            }
            (ApplicationKind::Upgrade, _) => {
                return Err(Error::Conflict(
                    "the identity card number is not the account's".into(),
                ))
            }
        };
        let profile = Profile {
            particulars: proof.particulars.clone(),
            contact: data.contact.clone(),
            verified_address: proof.verified_address.clone(),
        };
        let sealed = self
            .derived
            .data
            .seal_json(Aad::Citizen(&citizen_id), &profile)?;
        let device = match (
            &proof.passkey,
            &application.credential_id,
            &application.user_handle,
        ) {
            (Some(passkey), Some(credential_id), Some(user_handle)) => Some(DeviceRecord {
                attestation: self
                    .key_protection(&crate::ceremony::passkey_from_json(passkey)?, now)
                    .stored(),
                device_id: DeviceId::from(Uuid::new_v4().to_string()),
                citizen_id: citizen_id.clone(),
                credential_id: credential_id.clone(),
                user_handle: user_handle.clone(),
                name: data.device_name.clone().unwrap_or_else(|| "phone".into()),
                passkey: passkey.clone(),
                joined_by: JoinedBy::Proofing,
                created_at: now,
                last_used_at: None,
                suspended_at: None,
            }),
            _ => None,
        };
        let level = proof.level.as_str().to_owned();
        let mut events = vec![self.record(
            Event::new("application.proven", &proof.actor)
                .application(application_id)
                .citizen(&citizen_id)
                .detail(Detail {
                    evidence: proof.evidence.clone(),
                    level: Some(level.clone()),
                    reference: Some(application.reference.clone()),
                    ..Detail::default()
                }),
            now,
        )?];
        let action = match (&change, application.kind) {
            (AccountChange::Create(_), _) => "account.created",
            (_, ApplicationKind::Upgrade) => "account.upgraded",
            _ => "account.recovered",
        };
        events.push(
            self.record(
                Event::new(action, &proof.actor)
                    .application(application_id)
                    .citizen(&citizen_id)
                    .detail(Detail {
                        level: Some(level),
                        revoked_devices: recovered.then_some(revoked),
                        ..Detail::default()
                    }),
                now,
            )?,
        );
        if let Some(device) = &device {
            events.push(
                self.record(
                    Event::new("device.bound", &proof.actor)
                        .application(application_id)
                        .citizen(&citizen_id)
                        .device(&device.device_id)
                        .detail(Detail {
                            device_name: Some(device.name.clone()),
                            ..Detail::default()
                        }),
                    now,
                )?,
            );
        }
        let binding = ProvenBinding {
            application_id: application_id.to_owned(),
            account: change,
            profile: sealed,
            device: device.clone(),
            events,
            now,
        };
        match self.store.bind_proven(&binding) {
            Ok(()) => {}
            Err(StoreError::Conflict("application")) => return Err(Error::Gone("application")),
            Err(StoreError::Duplicate("credential_id")) => {
                return Err(Error::Conflict(
                    "this device's credential is already bound to an account".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        if recovered || application.kind == ApplicationKind::Upgrade {
            self.supersede_held_recoveries(&citizen_id, &proof.actor, now)?;
        }
        if recovered {
            // A recovered account's signing certificates are replaced: a new one is issued
            // when it next signs (if it is at level plus again).
            self.revoke_signing_certificates(
                &citizen_id,
                crate::store::RevocationReason::Superseded,
                now,
            )?;
        }
        tracing::info!(
            application_id,
            citizen_id = %citizen_id,
            level = proof.level.as_str(),
            recovered,
            "application proven"
        );
        Ok(ProofingOutcome {
            citizen_id,
            reference,
            level: proof.level,
            device_id: device.map(|d| d.device_id),
            recovered,
            revoked_devices: revoked,
            held_until: None,
        })
    }
}

fn stored_passkey(passkey: Option<&str>) -> Result<Passkey, Error> {
    crate::ceremony::passkey_from_json(passkey.ok_or(Error::Gone("application"))?)
}

/// Decides a verdict: the face first (without it, nothing about the particulars is told),
/// then the particulars; on a match, the record's particulars become the proven ones.
fn decide(
    verdict: &RegistryVerdict,
    threshold: f64,
    evidence: &Particulars,
) -> Result<Particulars, ProofingFailure> {
    if !verdict.found {
        return Err(ProofingFailure::NoRecord);
    }
    if verdict
        .face_similarity
        .is_none_or(|s| s.is_nan() || s < threshold)
    {
        return Err(ProofingFailure::FaceMismatch);
    }
    let mut differs = Vec::new();
    if verdict.english_name_matches != Some(true) {
        differs.push("english_name");
    }
    if verdict.date_of_birth_matches != Some(true) {
        differs.push("date_of_birth");
    }
    let record = match &verdict.record {
        Some(record) if differs.is_empty() => record,
        Some(_) => return Err(ProofingFailure::ParticularsMismatch(differs)),
        None if !differs.is_empty() => return Err(ProofingFailure::ParticularsMismatch(differs)),
        None => return Err(ProofingFailure::NoRecord),
    };
    // The record must be the applicant's: the registry answers about the number asked.
    let hkid = Hkid::parse(&record.hkid).map_err(|_| ProofingFailure::NoRecord)?;
    if hkid.canonical() != evidence.hkid {
        return Err(ProofingFailure::NoRecord);
    }
    Ok(Particulars {
        hkid: evidence.hkid.clone(),
        english_name: record.english_name.trim().to_owned(),
        chinese_name: record
            .chinese_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        date_of_birth: record.date_of_birth.trim().to_owned(),
        gender: Gender::parse(&record.gender).unwrap_or(evidence.gender),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eid_proto::registry::RegistryRecord;

    fn evidence() -> Particulars {
        Particulars {
            hkid: "A1234563".into(),
            english_name: "CHAN Tai Man".into(),
            chinese_name: None,
            date_of_birth: "1990-01-01".into(),
            gender: Gender::Male,
        }
    }

    fn verdict() -> RegistryVerdict {
        RegistryVerdict {
            iss: "r".into(),
            aud: "e".into(),
            iat: 0,
            in_response_to: "q".into(),
            found: true,
            face_similarity: Some(0.93),
            english_name_matches: Some(true),
            date_of_birth_matches: Some(true),
            record: Some(RegistryRecord {
                hkid: "A123456(3)".into(),
                english_name: "CHAN Tai Man".into(),
                chinese_name: Some("陳大文".into()),
                date_of_birth: "1990-01-01".into(),
                gender: "M".into(),
            }),
        }
    }

    #[test]
    fn a_match_yields_the_registry_particulars() {
        let p = decide(&verdict(), 0.8, &evidence()).unwrap();
        assert_eq!(p.chinese_name.as_deref(), Some("陳大文"));
        assert_eq!(p.hkid, "A1234563");
    }

    #[test]
    fn refusals_name_their_reason_face_first() {
        let mut v = verdict();
        v.found = false;
        assert_eq!(decide(&v, 0.8, &evidence()), Err(ProofingFailure::NoRecord));
        let mut v = verdict();
        v.face_similarity = Some(0.5);
        v.english_name_matches = Some(false);
        assert_eq!(
            decide(&v, 0.8, &evidence()),
            Err(ProofingFailure::FaceMismatch)
        );
        let mut v = verdict();
        v.face_similarity = Some(f64::NAN);
        assert_eq!(
            decide(&v, 0.8, &evidence()),
            Err(ProofingFailure::FaceMismatch)
        );
        let mut v = verdict();
        v.date_of_birth_matches = Some(false);
        v.record = None;
        assert_eq!(
            decide(&v, 0.8, &evidence()),
            Err(ProofingFailure::ParticularsMismatch(vec!["date_of_birth"]))
        );
        let mut v = verdict();
        if let Some(r) = v.record.as_mut() {
            r.hkid = "C668668(9)".into();
        }
        assert_eq!(decide(&v, 0.8, &evidence()), Err(ProofingFailure::NoRecord));
    }

    #[test]
    fn templates_must_be_plausible() {
        assert!(validate_template(&[0.1; 128]).is_ok());
        assert!(validate_template(&[0.1; 8]).is_err());
        assert!(validate_template(&[0.0; 128]).is_err());
        let mut t = vec![0.1; 128];
        t[3] = f32::NAN;
        assert!(validate_template(&t).is_err());
    }
}
