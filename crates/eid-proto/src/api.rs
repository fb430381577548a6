//! The REST API under `/api/v1` that the citizen's wallet speaks. Errors are
//! [`Problem`](crate::problem::Problem) documents.

use serde::{Deserialize, Serialize};
pub use webauthn_rs_proto::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

/// `POST /api/v1/enrolments`: a citizen registers and binds the phone making the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentRequest {
    /// Name in English as on the identity card, e.g. `CHAN Tai Man`.
    pub english_name: String,
    /// Name in Chinese, if any, e.g. `陳大文`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chinese_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// `M`, `F` or `X`.
    pub gender: String,
    /// Hong Kong Identity Card number, e.g. `A123456(3)`.
    pub hkid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Residential address, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What the citizen calls this phone, e.g. `Pixel 9`.
    pub device_name: String,
}

/// A WebAuthn registration ceremony the wallet must answer at
/// `POST /api/v1/registrations/{ceremony_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationChallenge {
    pub ceremony_id: String,
    /// `PublicKeyCredentialCreationOptions` (WebAuthn §5.4).
    pub options: CreationChallengeResponse,
    /// Seconds until the ceremony expires.
    pub expires_in: u64,
}

/// `POST /api/v1/registrations/{ceremony_id}`: the authenticator's attestation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationFinish {
    pub credential: RegisterPublicKeyCredential,
}

/// The device is bound to the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBound {
    pub citizen_id: String,
    pub device_id: String,
}

/// `GET /api/v1/approvals/{request_id}`: what a login request asks for, and the
/// challenge the phone signs to approve it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub request_id: String,
    /// The relying party asking.
    pub service: ServiceInfo,
    /// The requested scopes.
    pub scopes: Vec<String>,
    /// What the service will receive, in words.
    pub claims: Vec<ClaimDescription>,
    /// Seconds until the request expires.
    pub expires_in: u64,
    /// `PublicKeyCredentialRequestOptions` (WebAuthn §5.5), bound to this request.
    pub options: RequestChallengeResponse,
}

/// A relying party as shown to the citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub client_id: String,
    pub name: String,
}

/// A piece of personal data a service asks for, described in English and Traditional Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDescription {
    pub scope: String,
    pub en: String,
    pub zh_hant: String,
}

/// `POST /api/v1/approvals/{request_id}` and `POST /api/v1/device-sessions/{ceremony_id}`:
/// a WebAuthn assertion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertionFinish {
    pub credential: PublicKeyCredential,
}

/// The login request was approved; the browser continues on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalResult {
    pub status: String,
}

/// `POST /api/v1/device-sessions`: a challenge for the wallet to prove it holds a bound device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionChallenge {
    pub ceremony_id: String,
    pub options: RequestChallengeResponse,
    pub expires_in: u64,
}

/// A short-lived bearer token for the citizen's own account API (devices, links).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub citizen_id: String,
    pub device_id: String,
}

/// A bound device as listed by `GET /api/v1/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub device_id: String,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last approval made with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

/// `GET /api/v1/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    pub devices: Vec<Device>,
}

/// `POST /api/v1/device-links`: a one-time code that lets another phone join the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLink {
    pub code: String,
    pub expires_in: u64,
}

/// `POST /api/v1/device-links/{code}`: the new phone names itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLinkRedeem {
    pub device_name: String,
}

/// `GET /login/{request_id}/status`: whether the browser can move on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginStatus {
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
}
