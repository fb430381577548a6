//! Certificate status: the issuing CA's CRL (RFC 5280 §5, DER, with `nextUpdate`, regenerated
//! when a revocation changes it) and the OCSP responder (RFC 6960, delegated: signed by the
//! responder's own certificate, which the issuing CA issued for `OCSPSigning`; nonces echoed).
//!
//! Every answer is a signature by the responder's key, which may be in an HSM, so anyone could
//! keep the HSM busy (review 2026-12-07, L2). Answers to requests without a nonce are kept, by
//! the certificates asked about, and served again while the status they give is still the
//! status and until halfway to their `nextUpdate` (RFC 6960 §2.4 allows responses produced
//! before the request); requests are limited per address, and so are fresh signatures (a
//! nonce, or nothing kept).

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier as Oid, OctetString};
use der::{Choice, Decode, Encode, Enumerated, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use std::collections::HashMap;

use super::{hex, CertKind};
use crate::custody::ecdsa_der;
use crate::limits::Caller;
use crate::store::{CertificateRecord, RevocationReason};
use crate::time::UnixTime;
use crate::{Error, Provider};

const ID_PKIX_OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_PKIX_OCSP_NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const ID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");

/// How long an OCSP answer and a CRL may be relied on before asking again.
pub const STATUS_VALIDITY: i64 = 3_600;
/// A CRL's `nextUpdate` after its `thisUpdate`.
pub const CRL_VALIDITY: i64 = 86_400;

/// `CertID`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CertId {
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub issuer_name_hash: OctetString,
    pub issuer_key_hash: OctetString,
    pub serial_number: SerialNumber,
}

/// `Request`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Request {
    pub req_cert: CertId,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub single_request_extensions: Option<Vec<Extension>>,
}

fn v1() -> u8 {
    0
}

/// `TBSRequest`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TbsRequest {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", default = "v1")]
    pub version: u8,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub requestor_name: Option<x509_cert::ext::pkix::name::GeneralName>,
    pub request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub request_extensions: Option<Vec<Extension>>,
}

/// `OCSPRequest` (a signature, if any, is ignored: eid answers anyone).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct OcspRequest {
    pub tbs_request: TbsRequest,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub optional_signature: Option<der::Any>,
}

/// `RevokedInfo`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct RevokedInfo {
    pub revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub revocation_reason: Option<CrlReason>,
}

/// `CRLReason`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[repr(u32)]
pub enum CrlReason {
    Unspecified = 0,
    KeyCompromise = 1,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
}

impl From<RevocationReason> for CrlReason {
    fn from(r: RevocationReason) -> Self {
        match r {
            RevocationReason::Unspecified => Self::Unspecified,
            RevocationReason::KeyCompromise => Self::KeyCompromise,
            RevocationReason::Superseded => Self::Superseded,
            RevocationReason::CessationOfOperation => Self::CessationOfOperation,
            RevocationReason::CertificateHold => Self::CertificateHold,
        }
    }
}

/// `CertStatus`.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum CertStatus {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// `SingleResponse`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SingleResponse {
    pub cert_id: CertId,
    pub cert_status: CertStatus,
    pub this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub next_update: Option<GeneralizedTime>,
}

/// `ResponderID` (by name).
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum ResponderId {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// `ResponseData`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct ResponseData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", default = "v1")]
    pub version: u8,
    pub responder_id: ResponderId,
    pub produced_at: GeneralizedTime,
    pub responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub response_extensions: Option<Vec<Extension>>,
}

/// `BasicOCSPResponse`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct BasicOcspResponse {
    pub tbs_response_data: ResponseData,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub certs: Option<Vec<Certificate>>,
}

/// `ResponseBytes`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct ResponseBytes {
    pub response_type: Oid,
    pub response: OctetString,
}

/// `OCSPResponse`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct OcspResponse {
    pub response_status: OcspResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub response_bytes: Option<ResponseBytes>,
}

/// `OCSPResponseStatus`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[repr(u32)]
pub enum OcspResponseStatus {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    Unauthorized = 6,
}

fn der_err(e: der::Error) -> Error {
    Error::Crypto(format!("DER: {e}"))
}

fn generalized(t: UnixTime) -> Result<GeneralizedTime, Error> {
    let secs = u64::try_from(t.secs()).map_err(|_| Error::Crypto("a time before 1970".into()))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(der_err)
}

/// `tryLater` (RFC 6960 §2.3), unsigned: the answer to a caller over its limit.
pub fn try_later() -> Result<Vec<u8>, Error> {
    status_only(OcspResponseStatus::TryLater)
}

fn status_only(status: OcspResponseStatus) -> Result<Vec<u8>, Error> {
    OcspResponse {
        response_status: status,
        response_bytes: None,
    }
    .to_der()
    .map_err(der_err)
}

/// The hashes a `CertID` names an issuer by.
struct IssuerHashes {
    name: Vec<u8>,
    key: Vec<u8>,
}

/// The CRL last made, kept in memory.
pub(crate) struct CachedCrl {
    made_at: UnixTime,
    /// A digest of the revoked serials it lists.
    revocations: [u8; 32],
    der: Vec<u8>,
}

/// OCSP answers to requests without a nonce, by what they were asked (the responder and the
/// `CertID`s, hash algorithms included), produced at most [`OCSP_CACHE_ENTRIES`] at a time.
#[derive(Default)]
pub(crate) struct OcspCache(parking_lot::Mutex<HashMap<[u8; 32], PreProduced>>);

/// An answer kept: when it was produced, a digest of the statuses it gives, its DER.
struct PreProduced {
    produced_at: UnixTime,
    statuses: [u8; 32],
    der: Vec<u8>,
}

/// How many answers are kept (the oldest go first).
pub const OCSP_CACHE_ENTRIES: usize = 10_000;

/// An answer kept is served until this long after it was produced: halfway to its
/// `nextUpdate`, so that a client always gets one good for a while.
pub const OCSP_REUSE_SECS: i64 = STATUS_VALIDITY / 2;

impl OcspCache {
    /// The answer kept for `key`, if it gives `statuses` and is fresh enough.
    fn get(&self, key: &[u8; 32], statuses: &[u8; 32], now: UnixTime) -> Option<Vec<u8>> {
        let cache = self.0.lock();
        let kept = cache.get(key)?;
        (kept.statuses == *statuses && now < kept.produced_at + OCSP_REUSE_SECS)
            .then(|| kept.der.clone())
    }

    fn put(&self, key: [u8; 32], statuses: [u8; 32], der: Vec<u8>, now: UnixTime) {
        let mut cache = self.0.lock();
        if !cache.contains_key(&key) && cache.len() >= OCSP_CACHE_ENTRIES {
            cache.retain(|_, kept| now < kept.produced_at + OCSP_REUSE_SECS);
            if cache.len() >= OCSP_CACHE_ENTRIES {
                let oldest = cache
                    .iter()
                    .min_by_key(|(_, kept)| kept.produced_at)
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    cache.remove(&oldest);
                }
            }
        }
        cache.insert(
            key,
            PreProduced {
                produced_at: now,
                statuses,
                der,
            },
        );
    }
}

/// The hashes a `CertID` names an issuer by, with the request's algorithm.
fn issuer_hashes(alg: &Oid, issuer: &Certificate) -> Result<Option<IssuerHashes>, Error> {
    use sha1::Digest as _;
    let name = issuer
        .tbs_certificate()
        .subject()
        .to_der()
        .map_err(der_err)?;
    let key = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    if *alg == ID_SHA1 {
        return Ok(Some(IssuerHashes {
            name: sha1::Sha1::digest(&name).to_vec(),
            key: sha1::Sha1::digest(&key).to_vec(),
        }));
    }
    Ok(super::cms::DigestAlg::from_oid(alg).map(|d| IssuerHashes {
        name: d.digest(&name),
        key: d.digest(&key),
    }))
}

impl Provider {
    /// The status of one certificate eid issued, by serial (hex).
    fn certificate_status(&self, serial: &str) -> Result<Option<CertificateRecord>, Error> {
        Ok(self.store.certificate(serial)?)
    }

    /// Answers a DER `OCSPRequest` with a DER `OCSPResponse` (RFC 6960): for each certificate
    /// asked about, good, revoked (when and why) or unknown (not issued by eid's issuing CA).
    /// A request that does not parse gets `malformedRequest`. Limited per caller's address
    /// (`ocsp_per_address`, and `ocsp_fresh_per_address` for every answer signed afresh);
    /// over a limit, [`Error::RateLimited`] (the server answers `tryLater`, [`try_later`]).
    pub fn ocsp_response(
        &self,
        request: &[u8],
        caller: &Caller,
        now: UnixTime,
    ) -> Result<Vec<u8>, Error> {
        let limits = self.config.limits;
        self.limit_address_here("ocsp_per_address", caller, limits.ocsp_per_address, now)?;
        let Ok(request) = OcspRequest::from_der(request) else {
            return status_only(OcspResponseStatus::MalformedRequest);
        };
        let list = &request.tbs_request.request_list;
        if list.is_empty() || list.len() > 32 {
            return status_only(OcspResponseStatus::MalformedRequest);
        }
        let authority = match self.authority() {
            Ok(a) => a,
            Err(Error::Unavailable(_)) => return status_only(OcspResponseStatus::TryLater),
            Err(e) => return Err(e),
        };
        let issuing = super::parse(&authority.issuing.certificate.der)?;
        let mut responses = Vec::new();
        for entry in list {
            let id = &entry.req_cert;
            let ours = issuer_hashes(&id.hash_algorithm.oid, &issuing)?.is_some_and(|h| {
                h.name == id.issuer_name_hash.as_bytes() && h.key == id.issuer_key_hash.as_bytes()
            });
            let serial = hex(id.serial_number.as_bytes());
            let record = if ours {
                self.certificate_status(serial.trim_start_matches("00"))?
                    .filter(|c| !matches!(c.kind, CertKind::Root | CertKind::Issuing))
            } else {
                None
            };
            let cert_status = match record {
                None => CertStatus::Unknown(Null),
                Some(CertificateRecord {
                    revoked_at: Some(at),
                    revocation_reason,
                    ..
                }) => CertStatus::Revoked(RevokedInfo {
                    revocation_time: generalized(at)?,
                    revocation_reason: revocation_reason.map(CrlReason::from),
                }),
                Some(_) => CertStatus::Good(Null),
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status,
                this_update: generalized(now)?,
                next_update: Some(generalized(now + STATUS_VALIDITY)?),
            });
        }
        // The request's nonce, echoed (RFC 8954).
        let nonce = request
            .tbs_request
            .request_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
            .filter(|e| e.extn_value.as_bytes().len() <= 34)
            .cloned();
        // Without a nonce the answer may be one produced before (RFC 6960 §2.4): the same
        // question to the same responder, with the statuses unchanged. Only answers about
        // eid's own certificates are kept (anything else is nobody's repeated question).
        let kept = match &nonce {
            Some(_) => None,
            None if responses
                .iter()
                .all(|r| !matches!(r.cert_status, CertStatus::Unknown(_))) =>
            {
                let asked = crate::crypto::sha256(
                    &[
                        authority.ocsp.certificate.der.as_slice(),
                        &request.tbs_request.request_list.to_der().map_err(der_err)?,
                    ]
                    .concat(),
                );
                let mut statuses = Vec::new();
                for r in &responses {
                    statuses.extend(r.cert_status.to_der().map_err(der_err)?);
                }
                Some((asked, crate::crypto::sha256(&statuses)))
            }
            None => None,
        };
        if let Some((asked, statuses)) = &kept {
            if let Some(der) = self.ocsp_cache.get(asked, statuses, now) {
                return Ok(der);
            }
        }
        self.limit_address_here(
            "ocsp_fresh_per_address",
            caller,
            limits.ocsp_fresh_per_address,
            now,
        )?;
        let ocsp_cert = super::parse(&authority.ocsp.certificate.der)?;
        let data = ResponseData {
            version: 0,
            responder_id: ResponderId::ByName(ocsp_cert.tbs_certificate().subject().clone()),
            produced_at: generalized(now)?,
            responses,
            response_extensions: nonce.map(|n| vec![n]),
        };
        let tbs = data.to_der().map_err(der_err)?;
        let signature = ecdsa_der(&authority.ocsp.signer.key().sign(&tbs)?)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&signature).map_err(der_err)?,
            certs: Some(vec![ocsp_cert]),
        };
        let der = OcspResponse {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(basic.to_der().map_err(der_err)?).map_err(der_err)?,
            }),
        }
        .to_der()
        .map_err(der_err)?;
        if let Some((asked, statuses)) = kept {
            self.ocsp_cache.put(asked, statuses, der.clone(), now);
        }
        Ok(der)
    }

    /// The issuing CA's CRL (DER) at `now`: every unexpired revoked certificate it issued,
    /// with reason codes; `nextUpdate` a day on. Regenerated when the revocations change or
    /// it is an hour old, else served from memory.
    pub fn crl(&self, now: UnixTime) -> Result<Vec<u8>, Error> {
        let revoked = self.store.revoked_certificates(now)?;
        let fingerprint = crate::crypto::sha256(
            revoked
                .iter()
                .map(|c| c.serial.as_str())
                .collect::<Vec<_>>()
                .join(",")
                .as_bytes(),
        );
        if let Some(cached) = self.crl_cache.read().as_ref() {
            if cached.revocations == fingerprint && now < cached.made_at + STATUS_VALIDITY {
                return Ok(cached.der.clone());
            }
        }
        let authority = self.authority()?;
        let offset = |t: UnixTime| {
            time::OffsetDateTime::from_unix_timestamp(t.secs())
                .map_err(|e| Error::Crypto(format!("a time out of range: {e}")))
        };
        let mut revoked_certs = Vec::new();
        for cert in revoked
            .iter()
            .filter(|c| !matches!(c.kind, CertKind::Root | CertKind::Issuing))
        {
            let serial = (0..cert.serial.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(cert.serial.get(i..i + 2).unwrap_or("00"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| Error::Internal(format!("serial {} is not hex", cert.serial)))?;
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&serial),
                revocation_time: offset(cert.revoked_at.unwrap_or(now))?,
                reason_code: cert.revocation_reason.map(|r| match r {
                    RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
                    RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
                    RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
                    RevocationReason::CessationOfOperation => {
                        rcgen::RevocationReason::CessationOfOperation
                    }
                    RevocationReason::CertificateHold => rcgen::RevocationReason::CertificateHold,
                }),
                invalidity_date: None,
            });
        }
        let number = u64::try_from(now.secs()).unwrap_or(0).to_be_bytes();
        let params = rcgen::CertificateRevocationListParams {
            this_update: offset(now)?,
            next_update: offset(now + CRL_VALIDITY)?,
            // Monotonic across nodes and restarts: the time it was made.
            crl_number: rcgen::SerialNumber::from_slice(&number),
            issuing_distribution_point: None,
            revoked_certs,
            // The issuing CA's own key identifier (RFC 7093 method 1, as in its certificate).
            key_identifier_method: super::key_id_of(&authority.issuing.signer),
        };
        let issuer = rcgen::Issuer::from_ca_cert_der(
            &authority.issuing.certificate.der.as_slice().into(),
            &authority.issuing.signer,
        )
        .map_err(|e| Error::Crypto(format!("reading the issuing CA certificate: {e}")))?;
        let crl = params
            .signed_by(&issuer)
            .map_err(|e| Error::Crypto(format!("signing the CRL: {e}")))?;
        let der = crl.der().to_vec();
        *self.crl_cache.write() = Some(CachedCrl {
            made_at: now,
            revocations: fingerprint,
            der: der.clone(),
        });
        Ok(der)
    }
}
