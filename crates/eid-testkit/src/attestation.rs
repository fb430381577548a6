//! An attested authenticator for tests: a test attestation root, and authenticator models whose
//! attestation certificates it issues (WebAuthn §8.2.1 packed attestation certificates: a
//! subject with C, O, OU "Authenticator Attestation" and CN, not a CA, the model's AAGUID in
//! the `id-fido-gen-ce-aaguid` extension). A server configured to trust the root reports keys
//! made by such a model as hardware keys (`amr` `hwk`).

use anyhow::Context as _;
use eid_wallet::authenticator::AttestationKey;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

/// `id-fido-gen-ce-aaguid` (1.3.6.1.4.1.45724.1.1.4).
const AAGUID_OID: [u64; 10] = [1, 3, 6, 1, 4, 1, 45724, 1, 1, 4];

/// A test attestation root.
pub struct TestAttestationRoot {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestAttestationRoot {
    /// A new root ("eid test attestation root").
    pub fn generate() -> anyhow::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CountryName, "HK");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "eid test authenticators");
        params
            .distinguished_name
            .push(DnType::CommonName, "eid test attestation root");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        Ok(Self {
            issuer: CertifiedIssuer::self_signed(params, key)?,
        })
    }

    /// The root certificate, PEM: what a server's `[attestation] trusted_roots` names.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// An authenticator model's attestation key and certificate, under this root.
    pub fn authenticator(&self, model: &str, aaguid: [u8; 16]) -> anyhow::Result<AttestationKey> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CountryName, "HK");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "eid test authenticators");
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
        params.distinguished_name.push(DnType::CommonName, model);
        params.is_ca = IsCa::ExplicitNoCa;
        // The AAGUID as a DER OCTET STRING, not critical.
        let mut content = vec![0x04, 16];
        content.extend_from_slice(&aaguid);
        params.custom_extensions = vec![CustomExtension::from_oid_content(&AAGUID_OID, content)];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        let signing = <p256::ecdsa::SigningKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_der(
            &key.serialize_der(),
        )
        .context("the attestation key")?;
        Ok(AttestationKey {
            key: signing,
            chain: vec![certificate.der().to_vec()],
            aaguid,
        })
    }
}
