//! Detached CMS signatures (RFC 5652 SignedData) in the CAdES baseline B profile (ETSI EN 319
//! 122-1): the signed attributes content-type, message-digest, signing-certificate-v2
//! (RFC 5035) and, outside PDF, signing-time; the certificate chain; optionally a signature
//! time-stamp token (RFC 3161) as an unsigned attribute (baseline T).
//!
//! The document itself is never needed: the signature is built over its digest, which is all
//! a relying party sends.

use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};

use crate::custody::{ecdsa_der, PrivateKey};
use crate::keys::JwsAlg;
use crate::time::UnixTime;
use crate::Error;

use der::oid::ObjectIdentifier as Oid;

pub const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
const ID_AA_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// `id-aa-timeStampToken` (RFC 3161 Appendix A).
pub const ID_AA_TIME_STAMP_TOKEN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// The digest algorithms a relying party may send a document's hash in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    /// The name in the API (`SHA-256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// Parses `SHA-256`, `sha256`, `S256`-less forms: `SHA-256`/`SHA256`/`sha-256` alike.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA256" => Some(Self::Sha256),
            "SHA384" => Some(Self::Sha384),
            "SHA512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The algorithm's OID.
    pub fn oid(self) -> Oid {
        match self {
            Self::Sha256 => Oid::new_unwrap("2.16.840.1.101.3.4.2.1"),
            Self::Sha384 => Oid::new_unwrap("2.16.840.1.101.3.4.2.2"),
            Self::Sha512 => Oid::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }

    /// The algorithm of an OID.
    pub fn from_oid(oid: &Oid) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|alg| alg.oid() == *oid)
    }

    fn identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// `ecdsa-with-SHA*` for this digest (RFC 5758 §3.2).
    fn ecdsa(self) -> Oid {
        match self {
            Self::Sha256 => Oid::new_unwrap("1.2.840.10045.4.3.2"),
            Self::Sha384 => Oid::new_unwrap("1.2.840.10045.4.3.3"),
            Self::Sha512 => Oid::new_unwrap("1.2.840.10045.4.3.4"),
        }
    }
}

/// `ESSCertIDv2` (RFC 5035 §4) with the default hash algorithm, SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial` (RFC 5035 §4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// `SigningCertificateV2` (RFC 5035 §3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn der_err(e: der::Error) -> Error {
    Error::Crypto(format!("DER: {e}"))
}

fn attribute(oid: Oid, value: &(impl der::EncodeValue + der::Tagged)) -> Result<Attribute, Error> {
    let any = Any::encode_from(value).map_err(der_err)?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![any]).map_err(der_err)?,
    })
}

/// What to sign and with what.
pub struct DetachedSignature<'a> {
    /// The signer's key; it must be ES256 (ECDSA P-256).
    pub key: &'a dyn PrivateKey,
    /// The signer's certificate (DER).
    pub certificate: &'a [u8],
    /// The rest of the chain to include (the issuing CA's certificate, DER).
    pub chain: &'a [&'a [u8]],
    /// The document's digest and its algorithm.
    pub digest_alg: DigestAlg,
    pub digest: &'a [u8],
    /// The claimed signing time (CAdES); `None` for PAdES, where the time is in the PDF.
    pub signing_time: Option<UnixTime>,
    /// What is signed: `id-data` for a document; a time-stamp token's `id-ct-TSTInfo`.
    pub content_type: Oid,
    /// The content itself when it travels inside (a time-stamp token's TSTInfo); `None`:
    /// detached, only `digest` is known.
    pub econtent: Option<&'a [u8]>,
}

/// A built signature awaiting an optional time stamp: the SignerInfo's signature value is
/// what a time-stamping unit stamps (RFC 3161 Appendix A).
pub struct Built {
    signed_data: SignedData,
}

impl Built {
    /// The signature value, which a signature time stamp covers.
    pub fn signature_value(&self) -> Result<Vec<u8>, Error> {
        let info = self
            .signed_data
            .signer_infos
            .0
            .iter()
            .next()
            .ok_or_else(|| Error::Crypto("no SignerInfo".into()))?;
        Ok(info.signature.as_bytes().to_vec())
    }

    /// Adds a time-stamp token (a DER ContentInfo) as the signature time stamp.
    pub fn add_time_stamp(&mut self, token: &[u8]) -> Result<(), Error> {
        let token = Any::from_der(token).map_err(der_err)?;
        let attr = Attribute {
            oid: ID_AA_TIME_STAMP_TOKEN,
            values: SetOfVec::try_from(vec![token]).map_err(der_err)?,
        };
        let mut infos: Vec<SignerInfo> = self.signed_data.signer_infos.0.iter().cloned().collect();
        let info = infos
            .first_mut()
            .ok_or_else(|| Error::Crypto("no SignerInfo".into()))?;
        let mut unsigned = info.unsigned_attrs.take().unwrap_or_default();
        unsigned.insert(attr).map_err(der_err)?;
        info.unsigned_attrs = Some(unsigned);
        self.signed_data.signer_infos = SignerInfos(SetOfVec::try_from(infos).map_err(der_err)?);
        Ok(())
    }

    /// The DER `ContentInfo` holding the SignedData.
    pub fn to_der(&self) -> Result<Vec<u8>, Error> {
        ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&self.signed_data).map_err(der_err)?,
        }
        .to_der()
        .map_err(der_err)
    }
}

/// Builds a SignedData over `digest` (detached unless `econtent` is given).
pub fn sign_detached(request: &DetachedSignature<'_>) -> Result<Built, Error> {
    if request.key.alg() != JwsAlg::Es256 {
        return Err(Error::Crypto(
            "document signing keys are ECDSA P-256".into(),
        ));
    }
    if request.digest.len() != request.digest_alg.digest_len() {
        return Err(Error::Crypto(
            "the digest's length does not fit its algorithm".into(),
        ));
    }
    let cert = Certificate::from_der(request.certificate).map_err(der_err)?;
    let tbs = cert.tbs_certificate();
    let issuer_and_serial = IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: tbs.serial_number().clone(),
    };
    let mut attrs = vec![
        attribute(ID_CONTENT_TYPE, &request.content_type)?,
        attribute(
            ID_MESSAGE_DIGEST,
            &OctetString::new(request.digest.to_vec()).map_err(der_err)?,
        )?,
        attribute(
            ID_AA_SIGNING_CERTIFICATE_V2,
            &SigningCertificateV2 {
                certs: vec![EssCertIdV2 {
                    cert_hash: OctetString::new(
                        crate::crypto::sha256(request.certificate).to_vec(),
                    )
                    .map_err(der_err)?,
                    issuer_serial: Some(IssuerSerial {
                        issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                        serial_number: tbs.serial_number().clone(),
                    }),
                }],
            },
        )?,
    ];
    if let Some(at) = request.signing_time {
        let secs = u64::try_from(at.secs())
            .map_err(|_| Error::Crypto("a signing time before 1970".into()))?;
        let time = x509_cert::time::Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(secs))
                .map_err(der_err)?,
        );
        attrs.push(attribute(ID_SIGNING_TIME, &time)?);
    }
    let signed_attrs = SetOfVec::try_from(attrs).map_err(der_err)?;
    // The signature covers the DER of the attributes as a SET OF (RFC 5652 §5.4), hashed with
    // the SignerInfo's digest algorithm.
    let to_sign = signed_attrs.to_der().map_err(der_err)?;
    let raw = request
        .key
        .sign_digest(&request.digest_alg.digest(&to_sign))?;
    let signature = ecdsa_der(&raw)?;
    let info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial),
        digest_alg: request.digest_alg.identifier(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: request.digest_alg.ecdsa(),
            parameters: None,
        },
        signature: OctetString::new(signature).map_err(der_err)?,
        unsigned_attrs: None,
    };
    let mut certificates = vec![CertificateChoices::Certificate(cert)];
    for der in request.chain {
        certificates.push(CertificateChoices::Certificate(
            Certificate::from_der(der).map_err(der_err)?,
        ));
    }
    // RFC 5652 §5.1: version 3 when the content is not id-data.
    let version = if request.content_type == ID_DATA {
        CmsVersion::V1
    } else {
        CmsVersion::V3
    };
    let signed_data = SignedData {
        version,
        digest_algorithms: SetOfVec::try_from(vec![request.digest_alg.identifier()])
            .map_err(der_err)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: request.content_type,
            econtent: request
                .econtent
                .map(|content| Any::encode_from(&OctetString::new(content.to_vec())?))
                .transpose()
                .map_err(der_err)?,
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(certificates).map_err(der_err)?,
        )),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![info]).map_err(der_err)?),
    };
    Ok(Built { signed_data })
}

/// A signature time stamp as a signature carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedTimeStamp {
    /// The token (DER ContentInfo).
    pub token: Vec<u8>,
    /// The signature value it stamps (RFC 3161 Appendix A: its `messageImprint` is that
    /// value's digest).
    pub signature_value: Vec<u8>,
}

/// A signature's time stamp, when it carries one.
pub fn embedded_time_stamp(signature: &[u8]) -> Result<Option<EmbeddedTimeStamp>, Error> {
    let info = ContentInfo::from_der(signature).map_err(der_err)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(Error::Crypto("not a SignedData".into()));
    }
    let signed: SignedData = info.content.decode_as().map_err(der_err)?;
    let Some(signer) = signed.signer_infos.0.iter().next() else {
        return Ok(None);
    };
    let token = signer
        .unsigned_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .find(|a| a.oid == ID_AA_TIME_STAMP_TOKEN)
        .and_then(|a| a.values.iter().next());
    match token {
        Some(token) => Ok(Some(EmbeddedTimeStamp {
            token: token.to_der().map_err(der_err)?,
            signature_value: signer.signature.as_bytes().to_vec(),
        })),
        None => Ok(None),
    }
}
