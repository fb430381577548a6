//! Checking a signature eid made, as a verifier would: the CMS signature over the document,
//! the certificate chain to eid's root, the signature time stamp when there is one, and the
//! certificate's status at the time of signing (`eid-server verify`).
//!
//! A detached signature is checked against the document's digest; a PDF's signature against
//! the bytes its `/ByteRange` names, which must be the whole file.

use der::asn1::{GeneralizedTime, OctetString};
use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::signature::Verifier;
use x509_cert::Certificate;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};

use super::cms::{DigestAlg, ID_AA_TIME_STAMP_TOKEN, ID_DATA, ID_SIGNED_DATA};
use super::tsp::{TstInfo, ID_CT_TST_INFO};
use super::{hex, CertKind};
use crate::time::UnixTime;
use crate::{Error, Provider};

use der::oid::ObjectIdentifier as Oid;

const ID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
const ID_AA_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// The certificate's status when the document was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusAtSigning {
    /// Not revoked then; `revoked_since` if it was later.
    Good { revoked_since: Option<UnixTime> },
    /// Revoked before the signature: the signature is not valid.
    Revoked { at: UnixTime },
    /// Not a certificate this deployment issued.
    Unknown,
}

/// What a valid signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signer's certificate subject, as text.
    pub signer: String,
    pub certificate_serial: String,
    pub digest_alg: DigestAlg,
    /// The signing time the signer claimed (CAdES `signing-time`), if any.
    pub claimed_time: Option<UnixTime>,
    /// The time stamp's time, when the signature carries a valid one.
    pub time_stamp: Option<UnixTime>,
    pub status: StatusAtSigning,
}

impl Verified {
    /// When the signature was made, as far as can be proven: the time stamp's time, else the
    /// time the signer claimed.
    pub fn signing_time(&self) -> Option<UnixTime> {
        self.time_stamp.or(self.claimed_time)
    }
}

fn der_err(e: der::Error) -> Error {
    Error::Crypto(format!("DER: {e}"))
}

fn refuse(why: impl Into<String>) -> Error {
    Error::Crypto(why.into())
}

fn unix(t: &x509_cert::time::Time) -> UnixTime {
    UnixTime::from_secs(i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX))
}

/// Checks that `cert` was signed by `issuer` (ECDSA P-256 with SHA-256) and was valid at `at`.
pub(crate) fn check_issued(
    cert: &Certificate,
    issuer: &Certificate,
    at: UnixTime,
) -> Result<(), Error> {
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err(refuse("the certificate's issuer is not the expected CA"));
    }
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(
        issuer
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
    )
    .map_err(|_| refuse("the issuer's key is not a P-256 key"))?;
    let signature = p256::ecdsa::Signature::from_der(cert.signature().raw_bytes())
        .map_err(|_| refuse("the certificate's signature is not ECDSA"))?;
    let tbs = cert.tbs_certificate().to_der().map_err(der_err)?;
    key.verify(&tbs, &signature)
        .map_err(|_| refuse("a certificate's signature does not verify"))?;
    let validity = cert.tbs_certificate().validity();
    if at < unix(&validity.not_before) || at > unix(&validity.not_after) {
        return Err(refuse("a certificate was not valid at the time of signing"));
    }
    Ok(())
}

/// The one SignerInfo of a SignedData in a ContentInfo, with the certificates it carries.
fn open(der: &[u8]) -> Result<(SignedData, SignerInfo, Vec<Certificate>), Error> {
    let info = ContentInfo::from_der(der).map_err(der_err)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(refuse("not a CMS SignedData"));
    }
    let signed: SignedData = info.content.decode_as().map_err(der_err)?;
    let mut signers = signed.signer_infos.0.iter();
    let (Some(signer), None) = (signers.next(), signers.next()) else {
        return Err(refuse("a signature with exactly one signer is expected"));
    };
    let signer = signer.clone();
    let certs = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(cert) => Some(cert.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    Ok((signed, signer, certs))
}

/// Checks a SignerInfo's signed attributes and signature over `digest` (of `content_type`);
/// returns the signer's certificate and its claimed signing time.
fn check_signer(
    signer: &SignerInfo,
    certs: &[Certificate],
    content_type: Oid,
    digest: &[u8],
) -> Result<(Certificate, DigestAlg, Option<UnixTime>), Error> {
    let alg = DigestAlg::from_oid(&signer.digest_alg.oid)
        .ok_or_else(|| refuse("the digest algorithm is not SHA-256, -384 or -512"))?;
    let SignerIdentifier::IssuerAndSerialNumber(id) = &signer.sid else {
        return Err(refuse(
            "the signer is named by key identifier; eid names it by issuer and serial",
        ));
    };
    let cert = certs
        .iter()
        .find(|c| {
            c.tbs_certificate().issuer() == &id.issuer
                && c.tbs_certificate().serial_number() == &id.serial_number
        })
        .ok_or_else(|| refuse("the signer's certificate is not in the signature"))?
        .clone();
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| refuse("the signature has no signed attributes"))?;
    let value = |oid: Oid| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let typ: Oid = value(ID_CONTENT_TYPE)
        .ok_or_else(|| refuse("no content-type attribute"))?
        .decode_as()
        .map_err(der_err)?;
    if typ != content_type {
        return Err(refuse("the signed content is of another type"));
    }
    let signed_digest: OctetString = value(ID_MESSAGE_DIGEST)
        .ok_or_else(|| refuse("no message-digest attribute"))?
        .decode_as()
        .map_err(der_err)?;
    if signed_digest.as_bytes() != digest {
        return Err(refuse(
            "the signature is over another document (the digest differs)",
        ));
    }
    // signing-certificate-v2 binds the certificate: its SHA-256 must be the signer's.
    let binding = value(ID_AA_SIGNING_CERTIFICATE_V2)
        .ok_or_else(|| refuse("no signing-certificate-v2 attribute"))?
        .to_der()
        .map_err(der_err)?;
    let cert_hash = crate::crypto::sha256(&cert.to_der().map_err(der_err)?);
    if !binding.windows(32).any(|w| w == cert_hash) {
        return Err(refuse("signing-certificate-v2 names another certificate"));
    }
    let claimed = match value(ID_SIGNING_TIME) {
        Some(t) => Some(unix(
            &t.decode_as::<x509_cert::time::Time>().map_err(der_err)?,
        )),
        None => None,
    };
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(
        cert.tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
    )
    .map_err(|_| refuse("the signer's key is not a P-256 key"))?;
    let signature = p256::ecdsa::Signature::from_der(signer.signature.as_bytes())
        .map_err(|_| refuse("the signature is not ECDSA"))?;
    let signed_attrs = attrs.to_der().map_err(der_err)?;
    key.verify_prehash(&alg.digest(&signed_attrs), &signature)
        .map_err(|_| refuse("the signature does not verify"))?;
    Ok((cert, alg, claimed))
}

impl Provider {
    /// Verifies a detached signature over a document whose digest (with the signature's own
    /// algorithm) `digest_of` computes.
    pub fn verify_signature(
        &self,
        signature: &[u8],
        digest_of: &dyn Fn(DigestAlg) -> Vec<u8>,
        now: UnixTime,
    ) -> Result<Verified, Error> {
        let authority = self.authority()?;
        let root = super::parse(&authority.root.der)?;
        let issuing = super::parse(&authority.issuing.certificate.der)?;
        let (_, signer, certs) = open(signature)?;
        let alg = DigestAlg::from_oid(&signer.digest_alg.oid)
            .ok_or_else(|| refuse("the digest algorithm is not SHA-256, -384 or -512"))?;
        let (cert, alg, claimed) = check_signer(&signer, &certs, ID_DATA, &digest_of(alg))?;

        // The signature time stamp (RFC 3161 Appendix A), when there is one.
        let token = signer
            .unsigned_attrs
            .iter()
            .flat_map(|a| a.iter())
            .find(|a| a.oid == ID_AA_TIME_STAMP_TOKEN)
            .and_then(|a| a.values.iter().next())
            .map(|t| t.to_der().map_err(der_err))
            .transpose()?;
        let time_stamp = match token {
            None => None,
            Some(token) => {
                let (signed, tsa_signer, tsa_certs) = open(&token)?;
                let content = signed
                    .encap_content_info
                    .econtent
                    .as_ref()
                    .ok_or_else(|| refuse("the time stamp has no TSTInfo"))?
                    .decode_as::<OctetString>()
                    .map_err(der_err)?;
                let info = TstInfo::from_der(content.as_bytes()).map_err(der_err)?;
                let tsa_alg = DigestAlg::from_oid(&tsa_signer.digest_alg.oid)
                    .ok_or_else(|| refuse("the time stamp's digest algorithm is unknown"))?;
                let (tsa_cert, _, _) = check_signer(
                    &tsa_signer,
                    &tsa_certs,
                    ID_CT_TST_INFO,
                    &tsa_alg.digest(content.as_bytes()),
                )?;
                let imprint_alg = DigestAlg::from_oid(&info.message_imprint.hash_algorithm.oid)
                    .ok_or_else(|| refuse("the time stamp's imprint algorithm is unknown"))?;
                if info.message_imprint.hashed_message.as_bytes()
                    != imprint_alg.digest(signer.signature.as_bytes())
                {
                    return Err(refuse("the time stamp is of another signature"));
                }
                let at = gen_time(&info.gen_time);
                check_issued(&tsa_cert, &issuing, at)?;
                Some(at)
            }
        };
        let at = time_stamp.or(claimed).unwrap_or(now);
        check_issued(&cert, &issuing, at)?;
        check_issued(&issuing, &root, at)?;
        check_issued(&root, &root, at)?;

        let serial = hex(cert.tbs_certificate().serial_number().as_bytes());
        let serial = serial.trim_start_matches("00").to_owned();
        let status = match self.store.certificate(&serial)? {
            Some(record) if record.kind == CertKind::Signer => match record.revoked_at {
                Some(revoked) if revoked <= at => StatusAtSigning::Revoked { at: revoked },
                revoked_since => StatusAtSigning::Good { revoked_since },
            },
            _ => StatusAtSigning::Unknown,
        };
        Ok(Verified {
            signer: cert.tbs_certificate().subject().to_string(),
            certificate_serial: serial,
            digest_alg: alg,
            claimed_time: claimed,
            time_stamp,
            status,
        })
    }

    /// Verifies a signed PDF's last signature: it must cover the whole file.
    pub fn verify_pdf(&self, pdf: &[u8], now: UnixTime) -> Result<Verified, Error> {
        let signature = pdf_signature(pdf)?;
        let signed: Vec<u8> = signature
            .ranges
            .iter()
            .flat_map(|(start, len)| pdf[*start..*start + *len].iter().copied())
            .collect();
        self.verify_signature(&signature.cms, &|alg| alg.digest(&signed), now)
    }
}

fn gen_time(t: &GeneralizedTime) -> UnixTime {
    UnixTime::from_secs(i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX))
}

/// A PDF's last signature.
struct PdfSignature {
    /// The byte ranges it covers, `(start, length)`.
    ranges: [(usize, usize); 2],
    /// The CMS in its `/Contents`.
    cms: Vec<u8>,
}

/// The last signature of a PDF.
fn pdf_signature(pdf: &[u8]) -> Result<PdfSignature, Error> {
    let marker = b"/ByteRange";
    let at = pdf
        .windows(marker.len())
        .rposition(|w| w == marker)
        .ok_or_else(|| refuse("the PDF has no signature"))?;
    let rest = &pdf[at + marker.len()..];
    let open = rest
        .iter()
        .position(|b| *b == b'[')
        .ok_or_else(|| refuse("a malformed /ByteRange"))?;
    let close = rest
        .iter()
        .position(|b| *b == b']')
        .ok_or_else(|| refuse("a malformed /ByteRange"))?;
    let numbers: Vec<usize> = std::str::from_utf8(rest.get(open + 1..close).unwrap_or_default())
        .map_err(|_| refuse("a malformed /ByteRange"))?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| refuse("a malformed /ByteRange"))?;
    let [a, b, c, d] = numbers[..] else {
        return Err(refuse("a /ByteRange of two ranges is expected"));
    };
    if a != 0 || b > c || c.checked_add(d) != Some(pdf.len()) {
        return Err(refuse(
            "the signature does not cover the whole file: it was changed after signing",
        ));
    }
    let hex = pdf
        .get(b..c)
        .ok_or_else(|| refuse("a malformed /ByteRange"))?
        .strip_prefix(b"<")
        .and_then(|h| h.strip_suffix(b">"))
        .ok_or_else(|| refuse("/Contents is not where /ByteRange leaves it"))?;
    let mut der = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks(2) {
        let text = std::str::from_utf8(pair).map_err(|_| refuse("/Contents is not hex"))?;
        der.push(u8::from_str_radix(text, 16).map_err(|_| refuse("/Contents is not hex"))?);
    }
    // The signature is padded with zeros to its reserved size: keep the DER value alone.
    let len = der::Any::from_der_partial(&der).map_err(der_err)?.1.len();
    der.truncate(der.len() - len);
    Ok(PdfSignature {
        ranges: [(a, b), (c, d)],
        cms: der,
    })
}
