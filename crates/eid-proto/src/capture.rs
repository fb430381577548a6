//! Signed face captures: what a phone's capture component (the liveness SDK, with a key its
//! maker attests) says about one live capture, for remote identity proofing.
//!
//! A capture is a compact JWS (ES256) of type [`CAPTURE_TYPE`] whose `x5c` header carries the
//! capture key's certificate and any intermediates, up to a root the deployment trusts
//! (`[proofing] capture_roots`). Its claims ([`CaptureClaims`]) commit to eid's proofing nonce,
//! so a capture answers one proofing ceremony and no other; the face template inside it is
//! the one the registry compares.

use serde::{Deserialize, Serialize};

/// The `typ` of a capture JWS.
pub const CAPTURE_TYPE: &str = "eid-capture+jwt";

/// The liveness verdict that lets a capture prove anyone.
pub const LIVE: &str = "live";

/// The claims of a signed capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureClaims {
    /// eid's proofing nonce (the proofing challenge's WebAuthn challenge), base64url.
    pub nonce: String,
    /// When the capture was made (Unix seconds).
    pub iat: i64,
    /// The face template computed from the capture (an embedding vector).
    pub face_template: Vec<f32>,
    /// What the capture component's presentation-attack detection concluded.
    pub liveness: Liveness,
}

/// A liveness verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Liveness {
    /// [`LIVE`], or why not (`spoof`, `inconclusive`).
    pub verdict: String,
    /// The method, as its maker names it (`sandbox` for the sandbox registry's kit).
    pub method: String,
}

/// A capture key: what signs captures on a phone (in the sandbox, a file the registry writes
/// beside each resident's capture; on a real phone, a key inside the capture component).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureKey {
    /// base64url PKCS#8 of the P-256 private key.
    pub key: String,
    /// The certificate chain as in a JWS `x5c` header: the key's certificate first, standard
    /// base64 DER.
    pub x5c: Vec<String>,
}

/// A live capture as the sandbox registry writes it for a test resident (`captures/<HKID>.json`,
/// the `--capture` file of `eid-wallet prove`): the template a phone would compute, the
/// liveness verdict, and the capture key that signs it over eid's nonce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureFile {
    pub hkid: String,
    pub face_template: Vec<f32>,
    /// The liveness verdict the capture component reaches ([`LIVE`] for the residents' own).
    #[serde(default = "live")]
    pub liveness: String,
    /// `None` in captures written before captures were signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_key: Option<CaptureKey>,
}

fn live() -> String {
    LIVE.to_owned()
}
