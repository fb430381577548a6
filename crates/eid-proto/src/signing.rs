//! Document signing on the wire: the relying party's back-channel API (client-authenticated
//! forms, answers in JSON and OAuth errors, as OpenID CIBA's backchannel endpoint), and the
//! wallet's view and answer.

use serde::{Deserialize, Serialize};
use webauthn_rs_proto::{PublicKeyCredential, RequestChallengeResponse};

use crate::api::ServiceInfo;

/// `POST /signing/requests` (form, with client authentication): what to sign and for whom.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SigningRequestParams {
    /// The citizen, and their say-so: an access token this client holds from the citizen's
    /// login at it, whose scope includes `sign` (RFC 6750 §2.2's form parameter). A
    /// DPoP-bound token comes with a `DPoP` proof header for this request (RFC 9449 §7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The document's name as the citizen sees it on the phone (at most 200 characters).
    pub document_name: String,
    /// The document's digest, base64url; with `hash_alg`. Either this or `pdf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// `SHA-256`, `SHA-384` or `SHA-512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_alg: Option<String>,
    /// A PDF to sign (PAdES), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
    /// Add a signature time stamp from eid's time-stamping unit (CAdES/PAdES baseline T):
    /// `true` (the default) or `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<String>,
}

/// The answer to `POST /signing/requests` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRequestCreated {
    pub request_id: String,
    /// A short code the service shows beside the document; the citizen picks it among three
    /// on the phone.
    pub verification_code: String,
    /// Seconds the citizen has to approve.
    pub expires_in: u64,
    /// Seconds to wait between polls of `/signing/result`.
    pub interval: u64,
}

/// `POST /signing/result` (form, with client authentication).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SigningResultParams {
    pub request_id: String,
}

/// A signed document (200 from `/signing/result`). While the citizen has not answered, the
/// endpoint answers `authorization_pending`; declined: `access_denied`; past its time:
/// `expired_token` (OAuth errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningResult {
    pub request_id: String,
    /// `signed`.
    pub status: String,
    /// The detached CMS SignedData (DER, base64), for a hash; for a PDF, the signature the
    /// PDF embeds.
    pub signature: String,
    /// The signed PDF (base64), for a PDF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_pdf: Option<String>,
    /// The signer's certificate (DER, base64) and the rest of the chain up to the root.
    pub certificate: String,
    pub certificate_chain: Vec<String>,
    /// The certificate's serial number (hex).
    pub certificate_serial: String,
    /// Whether a signature time stamp is embedded.
    pub time_stamped: bool,
    /// Unix seconds.
    pub signed_at: i64,
}

/// A signing request as the phone shows it (`GET /api/v1/signing-requests`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningRequestView {
    pub request_id: String,
    pub service: ServiceInfo,
    pub document_name: String,
    /// `SHA-256`, ...
    pub hash_alg: String,
    /// base64url.
    pub hash: String,
    /// Three codes, one of them the code the service shows beside the document: the citizen
    /// picks the one they see there (as the login's number). Their order does not tell which,
    /// and stays the same at every fetch.
    pub verification_codes: Vec<String>,
    /// Whether it is a PDF eid will sign (rather than a hash the service computed): the phone
    /// fetches it (`GET /api/v1/signing-requests/{request_id}/document`), checks it against
    /// `hash`, and shows it.
    pub pdf: bool,
    /// Seconds left to approve.
    pub expires_in: u64,
    /// This deployment lets software keys (a wallet file that can be copied) approve
    /// signatures (`--dev`): the phone says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub danger_software_keys_sign: bool,
    /// `PublicKeyCredentialRequestOptions`: its challenge is the request's nonce, under which
    /// the phone commits its decision.
    pub options: RequestChallengeResponse,
}

/// `GET /api/v1/signing-requests`: the account's pending requests, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningRequestList {
    pub requests: Vec<SigningRequestView>,
}

/// The citizen's decision on a signing request: its JSON bytes are what the assertion's
/// challenge commits to, so the hash approved and the code picked are inside the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningDecision {
    pub request_id: String,
    /// `approve` or `decline`.
    pub answer: String,
    /// The digest approved, base64url, and its algorithm: they must be the request's.
    pub hash_alg: String,
    pub hash: String,
    /// The verification code the citizen picked among the three (an approval needs it): a
    /// code other than the service's stops the request, unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `POST /api/v1/signing-requests/{request_id}`: the decision and the assertion over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningSubmission {
    /// base64url of the [`SigningDecision`] JSON.
    pub decision: String,
    pub credential: PublicKeyCredential,
}
