//! The time-stamping unit (RFC 3161): time-stamp tokens over a digest, for signatures eid makes
//! (CAdES/PAdES baseline T, in process) and for services at `/pki/tsa`, limited per address
//! (`tsa_per_address`: each token is a signature by the unit's key, which may be in an HSM).
//!
//! A token is a SignedData whose content is a `TSTInfo` (the digest, the time, a serial, the
//! request's nonce), signed by the time-stamping unit's key with the ESS signing-certificate-v2
//! attribute (RFC 5816) and carrying its certificate.

use der::asn1::{BitString, GeneralizedTime, Int, OctetString, Utf8StringRef};
use der::oid::ObjectIdentifier as Oid;
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::GeneralName;

use super::cms::{sign_detached, DetachedSignature, DigestAlg};
use super::new_serial;
use crate::time::UnixTime;
use crate::{Error, Provider};

/// `id-ct-TSTInfo`.
pub const ID_CT_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// `MessageImprint`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub hashed_message: OctetString,
}

fn no() -> bool {
    false
}

/// `TimeStampReq` (RFC 3161 §2.4.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReq {
    pub version: u8,
    pub message_imprint: MessageImprint,
    pub req_policy: Option<Oid>,
    pub nonce: Option<Int>,
    #[asn1(default = "no")]
    pub cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<x509_cert::ext::Extension>>,
}

/// `Accuracy`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Accuracy {
    pub seconds: Option<u32>,
}

/// `TSTInfo` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    pub version: u8,
    pub policy: Oid,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    pub gen_time: GeneralizedTime,
    pub accuracy: Option<Accuracy>,
    #[asn1(default = "no")]
    pub ordering: bool,
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
}

/// `PKIStatusInfo`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo<'a> {
    pub status: u8,
    pub status_string: Option<Vec<Utf8StringRef<'a>>>,
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp<'a> {
    pub status: PkiStatusInfo<'a>,
    pub time_stamp_token: Option<der::Any>,
}

fn der_err(e: der::Error) -> Error {
    Error::Crypto(format!("DER: {e}"))
}

/// The failures RFC 3161 §2.4.2 names (bit positions of `PKIFailureInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TspFailure {
    BadAlg = 0,
    BadRequest = 2,
    BadDataFormat = 5,
    UnacceptedPolicy = 15,
    SystemFailure = 25,
}

/// A rejection answer.
fn rejection(failure: TspFailure, text: &str) -> Result<Vec<u8>, Error> {
    let bit = failure as usize;
    let mut bits = vec![0u8; bit / 8 + 1];
    bits[bit / 8] |= 0x80 >> (bit % 8);
    let unused = u8::try_from(7 - bit % 8).unwrap_or(0);
    TimeStampResp {
        status: PkiStatusInfo {
            status: 2,
            status_string: Some(vec![Utf8StringRef::new(text).map_err(der_err)?]),
            fail_info: Some(BitString::new(unused, bits).map_err(der_err)?),
        },
        time_stamp_token: None,
    }
    .to_der()
    .map_err(der_err)
}

/// The rejection a caller over its limit gets, in RFC 3161's form (the server sends it with
/// `429` and `Retry-After`).
pub fn too_many_time_stamps() -> Result<Vec<u8>, Error> {
    rejection(
        TspFailure::SystemFailure,
        "too many time-stamp requests from your address; try again later",
    )
}

impl Provider {
    /// The time-stamping unit's policy.
    fn tsa_policy(&self) -> Result<Oid, Error> {
        Oid::new(&self.config.pki.tsa_policy)
            .map_err(|e| Error::Config(format!("[pki] tsa_policy is not an OID: {e}")))
    }

    /// A time-stamp token (DER ContentInfo) over `digest`, at `now`.
    pub fn time_stamp_token(
        &self,
        alg: DigestAlg,
        digest: &[u8],
        nonce: Option<Int>,
        now: UnixTime,
    ) -> Result<Vec<u8>, Error> {
        let authority = self.authority()?;
        let (_, serial) = new_serial();
        let secs =
            u64::try_from(now.secs()).map_err(|_| Error::Crypto("a time before 1970".into()))?;
        let info = TstInfo {
            version: 1,
            policy: self.tsa_policy()?,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: alg.oid(),
                    parameters: None,
                },
                hashed_message: OctetString::new(digest.to_vec()).map_err(der_err)?,
            },
            serial_number: Int::new(&serial).map_err(der_err)?,
            gen_time: GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
                .map_err(der_err)?,
            accuracy: Some(Accuracy { seconds: Some(1) }),
            ordering: false,
            nonce,
            tsa: None,
        };
        let content = info.to_der().map_err(der_err)?;
        let key = authority.tsa.signer.key();
        let built = sign_detached(&DetachedSignature {
            key: key.as_ref(),
            certificate: &authority.tsa.certificate.der,
            chain: &[],
            digest_alg: DigestAlg::Sha256,
            digest: &DigestAlg::Sha256.digest(&content),
            signing_time: None,
            content_type: ID_CT_TST_INFO,
            econtent: Some(&content),
        })?;
        built.to_der()
    }

    /// Answers an RFC 3161 request (`application/timestamp-query`) with a
    /// `TimeStampResp` (`application/timestamp-reply`): granted with a token, or a rejection
    /// saying why.
    pub fn time_stamp_response(
        &self,
        request: &[u8],
        caller: &crate::limits::Caller,
        now: UnixTime,
    ) -> Result<Vec<u8>, Error> {
        let limit = self.config.limits.tsa_per_address;
        self.limit_address_here("tsa_per_address", caller, limit, now)?;
        let Ok(request) = TimeStampReq::from_der(request) else {
            return rejection(TspFailure::BadDataFormat, "not a DER TimeStampReq");
        };
        if request.version != 1 {
            return rejection(TspFailure::BadRequest, "version must be 1");
        }
        let Some(alg) = DigestAlg::from_oid(&request.message_imprint.hash_algorithm.oid) else {
            return rejection(
                TspFailure::BadAlg,
                "the hash must be SHA-256, SHA-384 or SHA-512",
            );
        };
        let digest = request.message_imprint.hashed_message.as_bytes();
        if digest.len() != alg.digest_len() {
            return rejection(
                TspFailure::BadDataFormat,
                "the hash's length does not fit its algorithm",
            );
        }
        if request
            .req_policy
            .is_some_and(|p| Some(p) != self.tsa_policy().ok())
        {
            return rejection(
                TspFailure::UnacceptedPolicy,
                "eid stamps under its own policy only",
            );
        }
        if request.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            return rejection(TspFailure::BadRequest, "extensions are not supported");
        }
        let token = match self.time_stamp_token(alg, digest, request.nonce.clone(), now) {
            Ok(token) => token,
            Err(Error::Unavailable(_)) => {
                return rejection(
                    TspFailure::SystemFailure,
                    "the time-stamping unit is not set up",
                )
            }
            Err(e) => return Err(e),
        };
        // The token always carries the unit's certificate (certReq or not: it costs little).
        TimeStampResp {
            status: PkiStatusInfo {
                status: 0,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(der::Any::from_der(&token).map_err(der_err)?),
        }
        .to_der()
        .map_err(der_err)
    }
}
