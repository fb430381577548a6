//! Signed face captures (review 2026-12-07, H2): remote proofing believes a face template only
//! when a capture key the deployment trusts vouches for it.
//!
//! A phone's capture component (the liveness SDK) signs each capture: the face template, its
//! liveness verdict and eid's proofing nonce, as a compact JWS ([`eid_proto::capture`]) whose
//! `x5c` chain ends at a root in `[proofing] capture_roots`. A template computed from a photo
//! outside such a component has no signature; a capture of another ceremony has another
//! nonce; a capture the component judged a spoof says so. The sandbox population registry's
//! `generate` writes a capture key under a root of its own, and prints the root's path.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use der::Decode;
use eid_proto::capture::{CaptureClaims, CAPTURE_TYPE, LIVE};
use serde_json::Value;
use x509_cert::Certificate;

use crate::crypto::b64url;
use crate::jose::JoseError;
use crate::time::UnixTime;
use crate::Error;

/// How far a capture's `iat` may be from now: a capture answers the ceremony it was made for,
/// within its lifetime.
const CAPTURE_SKEW: i64 = 600;

/// The longest `x5c` chain accepted (the key's certificate and intermediates).
const MAX_CHAIN: usize = 4;

/// The certificates whose keys vouch for capture keys (`[proofing] capture_roots`).
#[derive(Debug, Clone, Default)]
pub struct CaptureRoots {
    roots: Vec<Certificate>,
}

impl CaptureRoots {
    /// Reads every `CERTIFICATE` block of `pem`.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let mut roots = Vec::new();
        let begin = "-----BEGIN CERTIFICATE-----";
        let end = "-----END CERTIFICATE-----";
        let mut rest = pem;
        while let Some(start) = rest.find(begin) {
            let body_start = start + begin.len();
            let stop = rest[body_start..]
                .find(end)
                .map(|e| body_start + e)
                .ok_or_else(|| Error::Config("a capture root's PEM is truncated".into()))?;
            let body: String = rest[body_start..stop]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let der = STANDARD
                .decode(body)
                .map_err(|_| Error::Config("a capture root's PEM is not base64".into()))?;
            let cert = Certificate::from_der(&der)
                .map_err(|e| Error::Config(format!("a capture root does not parse: {e}")))?;
            roots.push(cert);
            rest = &rest[stop + end.len()..];
        }
        if roots.is_empty() {
            return Err(Error::Config("no certificate in the capture roots".into()));
        }
        Ok(Self { roots })
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The roots' subjects, for the start-up log.
    pub fn subjects(&self) -> Vec<String> {
        self.roots
            .iter()
            .map(|c| c.tbs_certificate().subject().to_string())
            .collect()
    }

    /// Checks `chain` (the key's certificate first) up to one of the roots, at `now`.
    fn check_chain(&self, chain: &[Certificate], now: UnixTime) -> Result<(), String> {
        let last = chain.last().ok_or("the x5c chain is empty")?;
        for pair in chain.windows(2) {
            crate::pki::verify::check_issued(&pair[0], &pair[1], now)
                .map_err(|e| format!("the x5c chain: {e}"))?;
        }
        let issued_by_root = self.roots.iter().any(|root| {
            crate::pki::verify::check_issued(last, root, now).is_ok()
                && crate::pki::verify::check_issued(root, root, now).is_ok()
        });
        if !issued_by_root {
            return Err("the capture key's certificate does not chain to a capture root".into());
        }
        Ok(())
    }
}

/// Why a capture was refused: for the audit trail's reason and the log. The applicant is told
/// only that the capture could not be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRefused(pub String);

/// Verifies a signed capture for the ceremony whose nonce is `nonce`; returns its face template.
pub(crate) fn verify_capture(
    jws: &str,
    roots: &CaptureRoots,
    nonce: &[u8],
    now: UnixTime,
) -> Result<Vec<f32>, CaptureRefused> {
    let refused = |why: String| CaptureRefused(why);
    let claims = crate::jose::verify_es256_with(jws, CAPTURE_TYPE, |header| {
        let chain = x5c(header).map_err(|_| JoseError::BadHeader)?;
        roots
            .check_chain(&chain, now)
            .map_err(JoseError::UnknownKey)?;
        let leaf = &chain[0];
        p256::ecdsa::VerifyingKey::from_sec1_bytes(
            leaf.tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes(),
        )
        .map_err(|_| JoseError::BadKey("x5c".into()))
    })
    .map_err(|e| refused(e.to_string()))?;
    let claims: CaptureClaims = serde_json::from_value(Value::Object(claims))
        .map_err(|e| refused(format!("the claims are not a capture's: {e}")))?;
    if claims.nonce != b64url(nonce) {
        return Err(refused(
            "the capture answers another proofing ceremony".into(),
        ));
    }
    if (claims.iat - now.secs()).abs() > CAPTURE_SKEW {
        return Err(refused(
            "the capture is not from this ceremony's time".into(),
        ));
    }
    if claims.liveness.verdict != LIVE {
        return Err(refused(format!(
            "the capture component judged the capture {:?}",
            claims.liveness.verdict
        )));
    }
    Ok(claims.face_template)
}

/// The `x5c` header's certificates.
fn x5c(header: &serde_json::Map<String, Value>) -> Result<Vec<Certificate>, ()> {
    let list = header.get("x5c").and_then(Value::as_array).ok_or(())?;
    if list.is_empty() || list.len() > MAX_CHAIN {
        return Err(());
    }
    list.iter()
        .map(|v| {
            let der = STANDARD.decode(v.as_str().ok_or(())?).map_err(|_| ())?;
            Certificate::from_der(&der).map_err(|_| ())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use eid_proto::capture::Liveness;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::DecodePrivateKey as _;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        PKCS_ECDSA_P256_SHA256,
    };

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

    /// A root (its PEM) and a capture key under it (the key, its certificate's DER).
    fn authority() -> (String, SigningKey, Vec<u8>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "test capture root");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let root = CertifiedIssuer::self_signed(
            params,
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
        )
        .unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "test capture key");
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.signed_by(&key, &root).unwrap();
        let signing = SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(root.der())
        );
        (pem, signing, cert.der().to_vec())
    }

    fn capture(key: &SigningKey, cert: &[u8], nonce: &[u8], iat: i64, verdict: &str) -> String {
        let header = serde_json::json!({
            "alg": "ES256",
            "typ": CAPTURE_TYPE,
            "x5c": [STANDARD.encode(cert)],
        });
        let claims = serde_json::to_value(CaptureClaims {
            nonce: b64url(nonce),
            iat,
            face_template: vec![0.5; 16],
            liveness: Liveness {
                verdict: verdict.into(),
                method: "test".into(),
            },
        })
        .unwrap();
        crate::jose::sign_es256_with_header(key, &header, &claims)
    }

    #[test]
    fn only_a_live_capture_of_this_ceremony_under_the_roots_verifies() {
        let (root, key, cert) = authority();
        let roots = CaptureRoots::from_pem(&root).unwrap();
        let nonce = [7u8; 32];
        let good = capture(&key, &cert, &nonce, NOW.secs(), LIVE);
        assert_eq!(
            verify_capture(&good, &roots, &nonce, NOW).unwrap(),
            vec![0.5; 16]
        );
        // Another ceremony's nonce, a stale capture, a spoof.
        assert!(verify_capture(&good, &roots, &[8u8; 32], NOW).is_err());
        let stale = capture(&key, &cert, &nonce, NOW.secs() - 3_600, LIVE);
        assert!(verify_capture(&stale, &roots, &nonce, NOW).is_err());
        let spoof = capture(&key, &cert, &nonce, NOW.secs(), "spoof");
        assert!(verify_capture(&spoof, &roots, &nonce, NOW).is_err());
        // Another root's key, and a key that signs with a certificate not its own.
        let (other_root, other_key, other_cert) = authority();
        let foreign = capture(&other_key, &other_cert, &nonce, NOW.secs(), LIVE);
        assert!(verify_capture(&foreign, &roots, &nonce, NOW).is_err());
        let borrowed = capture(&other_key, &cert, &nonce, NOW.secs(), LIVE);
        assert!(verify_capture(&borrowed, &roots, &nonce, NOW).is_err());
        // Both roots trusted: either key verifies.
        let both = CaptureRoots::from_pem(&format!("{root}\n{other_root}")).unwrap();
        assert!(verify_capture(&foreign, &both, &nonce, NOW).is_ok());
        // Not a JWS, no x5c.
        assert!(verify_capture("a.b.c", &roots, &nonce, NOW).is_err());
        let bare = crate::jose::sign_es256(&key, "k", CAPTURE_TYPE, &serde_json::json!({}));
        assert!(verify_capture(&bare, &roots, &nonce, NOW).is_err());
    }

    #[test]
    fn roots_must_be_certificates() {
        assert!(CaptureRoots::from_pem("").is_err());
        assert!(CaptureRoots::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
        )
        .is_err());
        assert!(CaptureRoots::from_pem("-----BEGIN CERTIFICATE-----\nAAAA").is_err());
    }
}
