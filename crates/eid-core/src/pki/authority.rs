//! The certificate authority at work: setting up the hierarchy (`eid-server pki init`),
//! issuing a citizen's signing key and certificate when first needed, signing a document's
//! digest with it, and revoking.

use std::sync::Arc;

use super::cms::{sign_detached, Built, DetachedSignature, DigestAlg};
use super::{
    hex, issue_issuing_ca, issue_root, issue_service, issue_signer, CertKind, CustodySigner,
    Issued, SignerSubject,
};
use crate::account::{AccountStatus, Level};
use crate::custody::PrivateKey;
use crate::error::AccountRefusal;
use crate::ids::CitizenId;
use crate::keys::JwsAlg;
use crate::store::{CertificateRecord, KeyPurpose, RevocationReason, SigningKeyRecord};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// A certificate with its key, opened from custody.
pub struct Holder {
    pub certificate: CertificateRecord,
    pub signer: CustodySigner,
}

/// The hierarchy in force: the root's certificate, and the issuing CA, OCSP responder and
/// time-stamping unit with their keys.
pub struct Authority {
    pub root: CertificateRecord,
    pub issuing: Holder,
    pub ocsp: Holder,
    pub tsa: Holder,
}

/// A signing certificate must be valid this long after it is used; a newer one is issued
/// before.
const SIGNER_RENEW_BEFORE: i64 = 86_400;

fn record(
    issued: Issued,
    kind: CertKind,
    kid: &str,
    citizen: Option<&CitizenId>,
) -> CertificateRecord {
    CertificateRecord {
        serial: issued.serial,
        kind,
        kid: kid.to_owned(),
        citizen_id: citizen.cloned(),
        der: issued.der,
        not_before: issued.not_before,
        not_after: issued.not_after,
        revoked_at: None,
        revocation_reason: None,
    }
}

impl Provider {
    fn generate_ca_key(
        &self,
        prefix: &str,
        purpose: KeyPurpose,
        now: UnixTime,
    ) -> Result<(CustodySigner, SigningKeyRecord), Error> {
        let (key, record) = self.keyring.generate(JwsAlg::Es256, prefix, purpose, now)?;
        Ok((CustodySigner::new(key)?, record))
    }

    /// Sets up the hierarchy: root and issuing CA, OCSP responder and time-stamping unit, each
    /// with a new key in the configured custody. Refused when a root exists.
    pub fn pki_init(&self, now: UnixTime) -> Result<Vec<CertificateRecord>, Error> {
        if !self.store.certificates(CertKind::Root)?.is_empty() {
            return Err(Error::Conflict(
                "the PKI is already set up (a root CA exists)".into(),
            ));
        }
        let config = &self.config.pki;
        let (root_key, root_rec) = self.generate_ca_key("root-ca", KeyPurpose::Ca, now)?;
        let root = issue_root(config, &root_key, now)?;
        let (issuing_key, issuing_rec) = self.generate_ca_key("issuing-ca", KeyPurpose::Ca, now)?;
        let issuing = issue_issuing_ca(config, &root.der, &root_key, &issuing_key, now)?;
        let (ocsp_key, ocsp_rec) = self.generate_ca_key("ocsp", KeyPurpose::Ocsp, now)?;
        let ocsp = issue_service(
            config,
            CertKind::Ocsp,
            &issuing.der,
            &issuing_key,
            &ocsp_key,
            now,
        )?;
        let (tsa_key, tsa_rec) = self.generate_ca_key("tsa", KeyPurpose::Tsa, now)?;
        let tsa = issue_service(
            config,
            CertKind::Tsa,
            &issuing.der,
            &issuing_key,
            &tsa_key,
            now,
        )?;
        let certificates = vec![
            record(root, CertKind::Root, &root_rec.kid, None),
            record(issuing, CertKind::Issuing, &issuing_rec.kid, None),
            record(ocsp, CertKind::Ocsp, &ocsp_rec.kid, None),
            record(tsa, CertKind::Tsa, &tsa_rec.kid, None),
        ];
        let keys = [root_rec, issuing_rec, ocsp_rec, tsa_rec];
        // Security review 2026-12-07, L3: the hierarchy's making is an operator's act.
        let event = self.record(
            crate::audit::Event::new("pki.initialised", &crate::audit::Actor::Operator).detail(
                crate::audit::Detail {
                    changes: std::iter::once(format!(
                        "custody: {}",
                        self.keyring.custody().as_str()
                    ))
                    .chain(certificates.iter().map(|c| {
                        format!("{}: serial {} (key {})", c.kind.as_str(), c.serial, c.kid)
                    }))
                    .collect(),
                    ..crate::audit::Detail::default()
                },
            ),
            now,
        )?;
        if !self
            .store
            .insert_hierarchy(&keys, &certificates, &[event])?
        {
            return Err(Error::Conflict(
                "the PKI is already set up (a root CA exists)".into(),
            ));
        }
        tracing::info!(
            target: "eid::security",
            event = "pki.initialised",
            custody = self.keyring.custody().as_str(),
            root = %certificates[0].serial,
            issuing = %certificates[1].serial,
            "PKI set up"
        );
        Ok(certificates)
    }

    fn holder(&self, certificate: CertificateRecord) -> Result<Holder, Error> {
        let key = self.store.signing_key(&certificate.kid)?.ok_or_else(|| {
            Error::Internal(format!(
                "the key of certificate {} is missing",
                certificate.serial
            ))
        })?;
        let signer = CustodySigner::new(self.keyring.open(&key)?)?;
        Ok(Holder {
            certificate,
            signer,
        })
    }

    /// The hierarchy, read from the store on first use.
    pub fn authority(&self) -> Result<Arc<Authority>, Error> {
        if let Some(authority) = self.authority.read().as_ref() {
            return Ok(Arc::clone(authority));
        }
        let newest = |kind: CertKind| -> Result<CertificateRecord, Error> {
            self.store
                .certificates(kind)?
                .into_iter()
                .rfind(|c| c.revoked_at.is_none())
                .ok_or_else(|| {
                    Error::Unavailable(
                        "document signing is not set up: run `eid-server pki init`".into(),
                    )
                })
        };
        let authority = Arc::new(Authority {
            root: newest(CertKind::Root)?,
            issuing: self.holder(newest(CertKind::Issuing)?)?,
            ocsp: self.holder(newest(CertKind::Ocsp)?)?,
            tsa: self.holder(newest(CertKind::Tsa)?)?,
        });
        *self.authority.write() = Some(Arc::clone(&authority));
        Ok(authority)
    }

    /// A stable pseudonym for a citizen in certificates (X.520 `serialNumber`): never the
    /// HKID number, and not linkable to the pairwise `sub` a service sees.
    fn certificate_pseudonym(&self, citizen: &CitizenId) -> String {
        let hash = self
            .derived
            .pairwise
            .hash(&[b"x509 serialNumber", citizen.as_bytes()]);
        format!("EID-{}", hex(&hash[..16]).to_ascii_uppercase())
    }

    /// The citizen's signing certificate valid at `now` with its key, issuing a new key and
    /// certificate when there is none (the first signature, after revocation, near expiry).
    /// Only an active account proven in person (`plus`) may hold one.
    pub fn signer(&self, citizen: &CitizenId, now: UnixTime) -> Result<Holder, Error> {
        let account = self
            .store
            .citizen(citizen)?
            .ok_or(Error::NotFound("account"))?;
        match account.status {
            AccountStatus::Active => {}
            AccountStatus::Suspended => {
                return Err(Error::AccountRefused(AccountRefusal::Suspended))
            }
            AccountStatus::Closed => return Err(Error::AccountRefused(AccountRefusal::Closed)),
        }
        match account.level {
            Some(Level::Plus) => {}
            Some(actual) => {
                return Err(Error::AccountRefused(AccountRefusal::LevelTooLow {
                    required: Level::Plus,
                    actual,
                }))
            }
            None => return Err(Error::AccountRefused(AccountRefusal::NeverProven)),
        }
        let current = self
            .store
            .signer_certificates(citizen)?
            .into_iter()
            .rfind(|c| {
                c.revoked_at.is_none()
                    && c.not_before <= now
                    && c.not_after > now + SIGNER_RENEW_BEFORE
            });
        if let Some(certificate) = current {
            return self.holder(certificate);
        }
        let authority = self.authority()?;
        let profile = self.profile(citizen)?;
        let subject = SignerSubject {
            name: profile.particulars.english_name.clone(),
            chinese_name: profile.particulars.chinese_name.clone(),
            pseudonym: self.certificate_pseudonym(citizen),
        };
        let (key, key_record) =
            self.keyring
                .generate(JwsAlg::Es256, "signer", KeyPurpose::Signer, now)?;
        let signer = CustodySigner::new(key)?;
        let issued = issue_signer(
            &self.config.pki,
            &subject,
            &authority.issuing.certificate.der,
            &authority.issuing.signer,
            &signer,
            now,
        )?;
        let certificate = record(issued, CertKind::Signer, &key_record.kid, Some(citizen));
        self.store.insert_certificate(&key_record, &certificate)?;
        tracing::info!(
            target: "eid::security",
            event = "pki.certificate_issued",
            serial = %certificate.serial,
            "signing certificate issued"
        );
        Ok(Holder {
            certificate,
            signer,
        })
    }

    /// Signs a document's digest as `citizen` (the caller has checked the citizen's approval):
    /// a detached CAdES-B signature with the chain, not yet time-stamped.
    pub fn sign_digest(
        &self,
        citizen: &CitizenId,
        digest_alg: DigestAlg,
        digest: &[u8],
        signing_time: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<(CertificateRecord, Built), Error> {
        let holder = self.signer(citizen, now)?;
        let authority = self.authority()?;
        let key: &Arc<dyn PrivateKey> = holder.signer.key();
        let built = sign_detached(&DetachedSignature {
            key: key.as_ref(),
            certificate: &holder.certificate.der,
            chain: &[&authority.issuing.certificate.der],
            digest_alg,
            digest,
            signing_time,
            content_type: super::cms::ID_DATA,
            econtent: None,
        })?;
        Ok((holder.certificate, built))
    }

    /// Revokes every signing certificate of a citizen (a device reported lost, the account
    /// recovered, suspended or closed) and destroys their keys; returns their serials.
    pub fn revoke_signing_certificates(
        &self,
        citizen: &CitizenId,
        reason: RevocationReason,
        now: UnixTime,
    ) -> Result<Vec<String>, Error> {
        let serials = self
            .store
            .revoke_signer_certificates(citizen, reason, now)?;
        if !serials.is_empty() {
            tracing::info!(
                target: "eid::security",
                event = "pki.certificates_revoked",
                serials = ?serials,
                reason = reason.code(),
                "signing certificates revoked"
            );
        }
        self.destroy_revoked_signer_keys_or_log(Some(citizen), now);
        Ok(serials)
    }

    /// Destroys in custody the keys of revoked signing certificates (of `citizen`, or
    /// anyone's): a revoked certificate is never used again, and its key must not outlive it
    /// (security review 2026-12-07, L7). The custody destroys the key first (PKCS#11:
    /// `C_DestroyObject`), then its record is deleted with a `key.destroyed` audit event, so
    /// that a failure leaves the key listed, to be destroyed at the next try, never a key in a
    /// token that nothing names. The certificate stays (CRL, OCSP, the trail). Returns how many
    /// keys went; a key its custody cannot destroy now (a token unreachable) is left for the
    /// next try and logged.
    pub fn destroy_revoked_signer_keys(
        &self,
        citizen: Option<&CitizenId>,
        now: UnixTime,
    ) -> Result<usize, Error> {
        let mut destroyed = 0;
        for (certificate, key) in self.store.revoked_signer_keys(citizen, 100)? {
            if let Err(e) = self.keyring.destroy(&key) {
                tracing::warn!(target: "eid::security", event = "key.destroy_failed", kid = %key.kid, serial = %certificate.serial, "a revoked signing key could not be destroyed yet: {e}");
                continue;
            }
            let mut event = crate::audit::Event::new("key.destroyed", &crate::audit::Actor::System)
                .detail(crate::audit::Detail {
                    certificate_serial: Some(certificate.serial.clone()),
                    changes: vec![
                        format!("kid: {}", key.kid),
                        format!("custody: {}", key.custody.as_str()),
                    ],
                    ..crate::audit::Detail::default()
                });
            if let Some(citizen) = &certificate.citizen_id {
                event = event.citizen(citizen);
            }
            let event = self.record(event, now)?;
            if self.store.delete_signing_key(&key.kid, &[event])? {
                destroyed += 1;
                tracing::info!(target: "eid::security", event = "key.destroyed", kid = %key.kid, serial = %certificate.serial, custody = key.custody.as_str(), "a revoked signing key was destroyed");
            }
        }
        Ok(destroyed)
    }

    /// [`Provider::destroy_revoked_signer_keys`] after a revocation, which has happened
    /// whatever becomes of the keys: a failure is logged, and the janitor tries again.
    fn destroy_revoked_signer_keys_or_log(&self, citizen: Option<&CitizenId>, now: UnixTime) {
        if let Err(e) = self.destroy_revoked_signer_keys(citizen, now) {
            tracing::warn!(target: "eid::security", event = "key.destroy_failed", "revoked signing keys could not be destroyed yet: {e}");
        }
    }
}

impl Provider {
    /// Signs a PDF as `citizen`: the PAdES signature (with a signature time stamp when asked)
    /// embedded in an incremental update. Returns the certificate, the CMS signature and the
    /// signed PDF.
    pub fn sign_pdf(
        &self,
        citizen: &CitizenId,
        pdf: &[u8],
        time_stamp: bool,
        now: UnixTime,
    ) -> Result<(CertificateRecord, Vec<u8>, Vec<u8>), Error> {
        let holder = self.signer(citizen, now)?;
        let authority = self.authority()?;
        let name = self.profile(citizen)?.particulars.english_name;
        let prepared = super::pdf::prepare(
            pdf,
            &super::pdf::SignatureInfo {
                name: &name,
                reason: "Signed with eid",
                time: now.secs(),
            },
        )?;
        let digest = DigestAlg::Sha256.digest(&prepared.signed_bytes());
        let key: &Arc<dyn PrivateKey> = holder.signer.key();
        let mut built = sign_detached(&DetachedSignature {
            key: key.as_ref(),
            certificate: &holder.certificate.der,
            chain: &[&authority.issuing.certificate.der],
            digest_alg: DigestAlg::Sha256,
            digest: &digest,
            // PAdES: the claimed time is the signature dictionary's /M, not an attribute.
            signing_time: None,
            content_type: super::cms::ID_DATA,
            econtent: None,
        })?;
        if time_stamp {
            let token = self.time_stamp_token(
                DigestAlg::Sha256,
                &DigestAlg::Sha256.digest(&built.signature_value()?),
                None,
                now,
            )?;
            built.add_time_stamp(&token)?;
        }
        let signature = built.to_der()?;
        let signed = prepared.finish(&signature)?;
        Ok((holder.certificate, signature, signed))
    }
}

impl Provider {
    /// An operator revokes one certificate by serial (hex); the audit trail records it.
    pub fn revoke_certificate(
        &self,
        serial: &str,
        reason: RevocationReason,
        now: UnixTime,
    ) -> Result<CertificateRecord, Error> {
        let serial = serial.trim().to_ascii_lowercase().replace(':', "");
        let certificate = self
            .store
            .certificate(&serial)?
            .ok_or(Error::NotFound("certificate"))?;
        if matches!(certificate.kind, CertKind::Root | CertKind::Issuing) {
            return Err(Error::Conflict(
                "a CA certificate is not revoked here: set up a new hierarchy".into(),
            ));
        }
        if !self.store.revoke_certificate(&serial, reason, now)? {
            return Err(Error::Conflict("the certificate is already revoked".into()));
        }
        self.audit(
            crate::audit::Event::new("certificate.revoked", &crate::audit::Actor::Operator).detail(
                crate::audit::Detail {
                    certificate_serial: Some(serial.clone()),
                    reason: Some(format!("{}", reason.code())),
                    ..crate::audit::Detail::default()
                },
            ),
            now,
        )?;
        tracing::info!(target: "eid::security", event = "pki.certificate_revoked", serial = %serial, reason = reason.code(), "certificate revoked by an operator");
        if certificate.kind == CertKind::Signer {
            self.destroy_revoked_signer_keys_or_log(certificate.citizen_id.as_ref(), now);
        }
        // The authority in memory may hold a revoked service certificate: read it again.
        *self.authority.write() = None;
        self.store
            .certificate(&serial)?
            .ok_or(Error::NotFound("certificate"))
    }
}
