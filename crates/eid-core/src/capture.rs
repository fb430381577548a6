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
