//! eid's public-key infrastructure: a root CA, an issuing CA, an OCSP responder and a
//! time-stamping unit, and each signing citizen's certificate.
//!
//! Certificates are issued with `rcgen` over keys in custody ([`crate::custody`]): the
//! [`CustodySigner`] adapter lets a key in a PKCS#11 token sign a certificate without leaving
//! it. What `rcgen` does not cover (CMS signatures, OCSP, time stamps) is built from the
//! RustCrypto `cms`/`x509-cert` types in the submodules.

pub mod authority;
pub mod cms;
pub mod pdf;
pub mod status;
pub mod tsp;
pub mod verify;

use std::sync::Arc;

use der::asn1::Ia5String;
use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData,
    SignatureAlgorithm,
};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CertificatePolicies};

use crate::custody::{ecdsa_der, PrivateKey};
use crate::keys::JwsAlg;
use crate::time::UnixTime;
use crate::Error;

/// `id-ad-ocsp` (RFC 5280 §4.2.2.1).
const ID_AD_OCSP: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// `id-ad-caIssuers`.
const ID_AD_CA_ISSUERS: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
/// `id-pe-authorityInfoAccess`.
const AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// `id-ce-extKeyUsage`.
const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// `id-ce-certificatePolicies`.
const CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
/// `id-pkix-ocsp-nocheck` (RFC 6960 §4.2.2.2.1): the responder's own certificate is not checked.
const OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];
/// The X.520 `serialNumber` attribute: a pseudonymous, stable number for the person.
const DN_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
/// The X.520 `name` attribute.
const X520_NAME: &[u64] = &[2, 5, 4, 41];

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// The self-signed root of the hierarchy (offline in a real deployment).
    Root,
    /// Issues citizens' signing certificates, the OCSP responder's and the time-stamping
    /// unit's, and signs the CRL.
    Issuing,
    /// Signs OCSP responses (RFC 6960 delegated responder).
    Ocsp,
    /// Signs time-stamp tokens (RFC 3161).
    Tsa,
    /// A citizen's signing certificate.
    Signer,
}

impl CertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Issuing => "issuing",
            Self::Ocsp => "ocsp",
            Self::Tsa => "tsa",
            Self::Signer => "signer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "root" => Self::Root,
            "issuing" => Self::Issuing,
            "ocsp" => Self::Ocsp,
            "tsa" => Self::Tsa,
            "signer" => Self::Signer,
            _ => return None,
        })
    }
}

/// The hierarchy's names, lifetimes and policy (`[pki]` in the configuration).
#[derive(Debug, Clone)]
pub struct PkiConfig {
    /// The organisation in every CA's subject (`O`).
    pub organization: String,
    /// The country in every subject (`C`), two letters.
    pub country: String,
    /// The root CA's common name.
    pub root_name: String,
    /// The issuing CA's common name.
    pub issuing_name: String,
    /// The certificate policy citizens' signing certificates assert (dotted OID).
    pub signing_policy: String,
    /// The policy the time-stamping unit stamps under (dotted OID).
    pub tsa_policy: String,
    /// Lifetimes, in days.
    pub root_days: i64,
    pub issuing_days: i64,
    pub service_days: i64,
    pub signer_days: i64,
    /// Where the CRL, the OCSP responder and the issuing CA's certificate are published:
    /// eid's own public origin.
    pub base_url: url::Url,
}

impl PkiConfig {
    /// Defaults under `base_url` (the issuer): "eid Root CA", "eid Issuing CA", and a policy
    /// OID under the enterprise number reserved for documentation (RFC 5612: 32473), which a
    /// deployment replaces with the one its certification practice statement registers.
    pub fn new(base_url: url::Url) -> Self {
        Self {
            organization: "eid".into(),
            country: "HK".into(),
            root_name: "eid Root CA".into(),
            issuing_name: "eid Issuing CA".into(),
            signing_policy: "1.3.6.1.4.1.32473.553.1".into(),
            tsa_policy: "1.3.6.1.4.1.32473.553.2".into(),
            root_days: 20 * 365,
            issuing_days: 10 * 365,
            service_days: 3 * 365,
            signer_days: 2 * 365,
            base_url,
        }
    }

    fn url(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// The CRL's URL (in every certificate the issuing CA issues).
    pub fn crl_url(&self) -> String {
        self.url("/pki/issuing.crl")
    }

    /// The OCSP responder's URL.
    pub fn ocsp_url(&self) -> String {
        self.url("/pki/ocsp")
    }

    /// The issuing CA's certificate (AIA `caIssuers`).
    pub fn issuing_cert_url(&self) -> String {
        self.url("/pki/issuing.crt")
    }

    /// The root CA's certificate, for relying parties to trust.
    pub fn root_cert_url(&self) -> String {
        self.url("/pki/root.crt")
    }
}

/// A key in custody as `rcgen` sees it: a signer whose public half is in the certificate.
pub struct CustodySigner {
    key: Arc<dyn PrivateKey>,
    /// The `subjectPublicKey` bits of the key's SPKI.
    public: Vec<u8>,
}

impl CustodySigner {
    pub fn new(key: Arc<dyn PrivateKey>) -> Result<Self, Error> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(key.public_key_der())
            .map_err(|e| Error::Crypto(format!("the key's public half: {e}")))?;
        let public = spki.subject_public_key.raw_bytes().to_vec();
        Ok(Self { key, public })
    }

    /// The key.
    pub fn key(&self) -> &Arc<dyn PrivateKey> {
        &self.key
    }
}

impl PublicKeyData for CustodySigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.key.alg() {
            JwsAlg::Es256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            JwsAlg::Rs256 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl rcgen::SigningKey for CustodySigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let raw = self
            .key
            .sign(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        match self.key.alg() {
            JwsAlg::Es256 => ecdsa_der(&raw).map_err(|_| rcgen::Error::RemoteKeyError),
            JwsAlg::Rs256 => Ok(raw),
        }
    }
}

/// A public key `rcgen` certifies (the subject's).
struct SubjectKey<'a>(&'a CustodySigner);

impl PublicKeyData for SubjectKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

/// A fresh positive 128-bit serial number (RFC 5280 §4.1.2.2: at most 20 octets), as
/// lowercase hex without leading zeros and its DER bytes.
pub fn new_serial() -> (String, Vec<u8>) {
    let mut bytes: [u8; 16] = crate::crypto::random_bytes();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    (hex(&bytes), bytes.to_vec())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn offset(t: UnixTime) -> Result<time::OffsetDateTime, Error> {
    time::OffsetDateTime::from_unix_timestamp(t.secs())
        .map_err(|e| Error::Crypto(format!("a time out of range: {e}")))
}

pub(crate) fn key_id_of(key: &CustodySigner) -> KeyIdMethod {
    // RFC 7093 method 1: the leftmost 160 bits of SHA-256 of the subjectPublicKey.
    KeyIdMethod::PreSpecified(crate::crypto::sha256(&key.public)[..20].to_vec())
}

fn utf8(s: &str) -> rcgen::DnValue {
    rcgen::DnValue::Utf8String(s.to_owned())
}

fn ca_name(config: &PkiConfig, common_name: &str) -> Result<DistinguishedName, Error> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, printable(&config.country)?);
    dn.push(DnType::OrganizationName, utf8(&config.organization));
    dn.push(DnType::CommonName, utf8(common_name));
    Ok(dn)
}

fn printable(s: &str) -> Result<rcgen::DnValue, Error> {
    rcgen::string::PrintableString::try_from(s)
        .map(rcgen::DnValue::PrintableString)
        .map_err(|_| {
            Error::Config(format!(
                "{s:?} is not a PrintableString (letters, digits, spaces and '()+,-./:=?)"
            ))
        })
}

fn params(serial: &[u8], not_before: UnixTime, days: i64) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::default();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    params.not_before = offset(not_before)?;
    params.not_after = offset(not_before + days * 86_400)?;
    Ok(params)
}

fn encode<T: Encode>(value: &T) -> Result<Vec<u8>, Error> {
    value
        .to_der()
        .map_err(|e| Error::Crypto(format!("DER encoding failed: {e}")))
}

fn uri(s: String) -> Result<GeneralName, Error> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(&s).map_err(|e| Error::Config(format!("the URL {s} is not ASCII: {e}")))?,
    ))
}

/// The extensions every certificate the issuing CA issues carries: CRL distribution point,
/// OCSP and `caIssuers` access.
fn issued_extensions(config: &PkiConfig, params: &mut CertificateParams) -> Result<(), Error> {
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![config.crl_url()],
    }];
    let aia = AuthorityInfoAccessSyntax(vec![
        AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: uri(config.ocsp_url())?,
        },
        AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: uri(config.issuing_cert_url())?,
        },
    ]);
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(AIA, encode(&aia)?));
    params.use_authority_key_identifier_extension = true;
    Ok(())
}

fn policies(oid: &str) -> Result<CustomExtension, Error> {
    let oid = der::oid::ObjectIdentifier::new(oid)
        .map_err(|e| Error::Config(format!("the certificate policy {oid:?} is not an OID: {e}")))?;
    let policies = CertificatePolicies(vec![PolicyInformation {
        policy_identifier: oid,
        policy_qualifiers: None,
    }]);
    Ok(CustomExtension::from_oid_content(
        CERTIFICATE_POLICIES,
        encode(&policies)?,
    ))
}

/// An issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    pub serial: String,
    pub der: Vec<u8>,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
}

fn issued(serial: String, der: &[u8], params: &CertificateParams) -> Issued {
    Issued {
        serial,
        der: der.to_vec(),
        not_before: UnixTime::from_secs(params.not_before.unix_timestamp()),
        not_after: UnixTime::from_secs(params.not_after.unix_timestamp()),
    }
}

fn rcgen_error(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Crypto(format!("{what}: {e}"))
}

/// Signs `params` for `key` as the CA whose certificate is `issuer_cert`.
fn certify(
    params: &CertificateParams,
    serial: String,
    key: &CustodySigner,
    issuer_cert: &[u8],
    issuer_key: &CustodySigner,
    what: &str,
) -> Result<Issued, Error> {
    let issuer = Issuer::from_ca_cert_der(&issuer_cert.into(), issuer_key)
        .map_err(rcgen_error("reading the issuer's certificate"))?;
    let cert = params
        .signed_by(&SubjectKey(key), &issuer)
        .map_err(rcgen_error(what))?;
    Ok(issued(serial, cert.der(), params))
}

/// The self-signed root CA certificate.
pub fn issue_root(config: &PkiConfig, key: &CustodySigner, now: UnixTime) -> Result<Issued, Error> {
    let (serial, serial_bytes) = new_serial();
    let mut params = params(&serial_bytes, now, config.root_days)?;
    params.distinguished_name = ca_name(config, &config.root_name)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method = key_id_of(key);
    let cert = params
        .self_signed(key)
        .map_err(rcgen_error("issuing the root CA certificate"))?;
    Ok(issued(serial, cert.der(), &params))
}

/// The issuing CA's certificate, signed by the root.
pub fn issue_issuing_ca(
    config: &PkiConfig,
    root_cert: &[u8],
    root_key: &CustodySigner,
    key: &CustodySigner,
    now: UnixTime,
) -> Result<Issued, Error> {
    let (serial, serial_bytes) = new_serial();
    let mut params = params(&serial_bytes, now, config.issuing_days)?;
    params.distinguished_name = ca_name(config, &config.issuing_name)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method = key_id_of(key);
    params.use_authority_key_identifier_extension = true;
    certify(
        &params,
        serial,
        key,
        root_cert,
        root_key,
        "issuing the issuing CA certificate",
    )
}

/// The OCSP responder's or the time-stamping unit's certificate, signed by the issuing CA.
pub fn issue_service(
    config: &PkiConfig,
    kind: CertKind,
    issuing_cert: &[u8],
    issuing_key: &CustodySigner,
    key: &CustodySigner,
    now: UnixTime,
) -> Result<Issued, Error> {
    let (serial, serial_bytes) = new_serial();
    let mut params = params(&serial_bytes, now, config.service_days)?;
    params.key_identifier_method = key_id_of(key);
    params.use_authority_key_identifier_extension = true;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match kind {
        CertKind::Ocsp => {
            params.distinguished_name =
                ca_name(config, &format!("{} OCSP Responder", config.issuing_name))?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    OCSP_NOCHECK,
                    vec![0x05, 0x00],
                ));
        }
        CertKind::Tsa => {
            params.distinguished_name = ca_name(
                config,
                &format!("{} Time-Stamping Unit", config.organization),
            )?;
            // RFC 3161 §2.3: the only extended key usage, marked critical (rcgen marks its
            // own EKU extension non-critical, so it is written here).
            let mut eku = CustomExtension::from_oid_content(
                EXTENDED_KEY_USAGE,
                encode(&vec![der::oid::ObjectIdentifier::new_unwrap(
                    "1.3.6.1.5.5.7.3.8",
                )])?,
            );
            eku.set_criticality(true);
            params.custom_extensions.push(eku);
            issued_extensions(config, &mut params)?;
        }
        _ => {
            return Err(Error::Crypto(format!(
                "{} is not a service certificate",
                kind.as_str()
            )))
        }
    }
    certify(
        &params,
        serial,
        key,
        issuing_cert,
        issuing_key,
        "issuing a service certificate",
    )
}

/// Who a signing certificate names: the person's name as proven, and a pseudonymous number
/// that is stable for the person (never the HKID number).
#[derive(Debug, Clone)]
pub struct SignerSubject {
    /// The name in English, as on the identity card.
    pub name: String,
    /// The name in Chinese, when the person has one.
    pub chinese_name: Option<String>,
    /// A stable pseudonym for the person (X.520 `serialNumber`).
    pub pseudonym: String,
}

/// A citizen's signing certificate: digitalSignature and nonRepudiation, the signing policy,
/// the person's name; CRL and OCSP locations.
pub fn issue_signer(
    config: &PkiConfig,
    subject: &SignerSubject,
    issuing_cert: &[u8],
    issuing_key: &CustodySigner,
    key: &CustodySigner,
    now: UnixTime,
) -> Result<Issued, Error> {
    let (serial, serial_bytes) = new_serial();
    let mut params = params(&serial_bytes, now, config.signer_days)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, printable(&config.country)?);
    dn.push(DnType::CommonName, utf8(&subject.name));
    if let Some(chinese) = &subject.chinese_name {
        // The name in Chinese as X.520 `name` (2.5.4.41), beside the common name.
        dn.push(DnType::CustomDnType(X520_NAME.to_vec()), utf8(chinese));
    }
    dn.push(
        DnType::CustomDnType(DN_SERIAL_NUMBER.to_vec()),
        printable(&subject.pseudonym)?,
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.key_identifier_method = key_id_of(key);
    params
        .custom_extensions
        .push(policies(&config.signing_policy)?);
    issued_extensions(config, &mut params)?;
    certify(
        &params,
        serial,
        key,
        issuing_cert,
        issuing_key,
        "issuing a signing certificate",
    )
}

/// Parses a DER certificate with `x509-cert`.
pub fn parse(der: &[u8]) -> Result<x509_cert::Certificate, Error> {
    x509_cert::Certificate::from_der(der)
        .map_err(|e| Error::Crypto(format!("not a DER certificate: {e}")))
}

/// PEM text of a DER certificate.
pub fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
