//! The REST API under `/api/v1` that the citizen's wallet speaks. Errors are
//! [`Problem`](crate::problem::Problem) documents.

use serde::{Deserialize, Serialize};
pub use webauthn_rs_proto::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

/// `POST /api/v1/enrolments`: a citizen applies for an account from the phone making the
/// request. The answer is a registration challenge for the phone's credential; completing it
/// (`POST /api/v1/enrolments/{ceremony_id}`) creates an application, never an account: only
/// identity proofing turns an application into an account.
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
/// `POST /api/v1/enrolments/{ceremony_id}` (an application) or
/// `POST /api/v1/registrations/{ceremony_id}` (a device joining by link code).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationChallenge {
    pub ceremony_id: String,
    /// `PublicKeyCredentialCreationOptions` (WebAuthn §5.4).
    pub options: CreationChallengeResponse,
    /// Seconds until the ceremony expires.
    pub expires_in: u64,
}

/// `POST /api/v1/enrolments/{ceremony_id}` and `POST /api/v1/registrations/{ceremony_id}`:
/// the authenticator's attestation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationFinish {
    pub credential: RegisterPublicKeyCredential,
}

/// An application was made. It claims nothing yet: the answer is the same whether or not an
/// account holds the identity card number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationCreated {
    pub application_id: String,
    /// The short code the citizen shows at a registration counter, e.g. `K7Q2-M9XD`.
    pub reference: String,
    /// Bearer token for `/api/v1/applications/{application_id}...`; shown once.
    pub application_token: String,
    /// `enrolment` or `upgrade`.
    pub kind: String,
    /// Seconds until the application expires unproven.
    pub expires_in: u64,
}

/// `GET /api/v1/applications/{application_id}` (Bearer application token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationState {
    pub application_id: String,
    pub reference: String,
    /// `enrolment` or `upgrade`.
    pub kind: String,
    /// `open`, `held` (a recovery waiting for its hold to end), `rejected` or `proven`.
    pub status: String,
    pub expires_in: u64,
    /// When proven: the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen_id: Option<String>,
    /// When proven: the account's assurance level (`basic` or `plus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// When rejected: why (`card_mismatch`, `person_mismatch`, `document_invalid`, `other`,
    /// `recovery_cancelled` by a device of the account, `superseded` by another proofing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<String>,
    /// When held: until when (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<i64>,
    /// When proven: the device bound (the wallet learns it here after a held recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// `POST /api/v1/applications/{application_id}/proofing-challenges`: a challenge for remote
/// identity proofing. The wallet does not sign `options.publicKey.challenge` itself (the
/// nonce) but the challenge that commits to its evidence:
///
/// ```text
/// challenge = SHA-256("eid-proofing" || 0x00 || nonce || SHA-256(evidence))
/// ```
///
/// where `evidence` is the exact bytes of the [`ProofingEvidence`] JSON it submits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofingChallenge {
    pub ceremony_id: String,
    pub options: RequestChallengeResponse,
    pub expires_in: u64,
}

/// What the phone read from the identity card and computed from a live capture of the face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProofingEvidence {
    pub hkid: String,
    pub english_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// A face template (an embedding vector) computed on the phone from a live capture,
    /// unsigned: accepted only by a deployment with `[proofing]
    /// danger_accept_unsigned_captures` (development). Empty when `capture` carries it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub face_template: Vec<f32>,
    /// The signed capture (see [`crate::capture`]): the template with its liveness verdict and
    /// eid's nonce, signed by a capture key under the deployment's capture roots. The images
    /// never leave the phone, and eid never stores the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
}

/// `POST /api/v1/applications/{application_id}/proofing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofingSubmission {
    pub ceremony_id: String,
    /// base64url of the [`ProofingEvidence`] JSON, exactly the bytes the challenge commits to.
    pub evidence: String,
    /// The assertion of the application's device over the committed challenge.
    pub credential: PublicKeyCredential,
}

/// Proofing accepted the applicant: the application's device is bound to the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofingResult {
    pub citizen_id: String,
    /// The account's reference, for the citizen and operators.
    pub reference: String,
    pub device_id: String,
    /// `basic` (remote) or `plus` (in person).
    pub level: String,
    /// The identity card number already had an account: this device took it over.
    pub recovered: bool,
    /// How many devices of the recovered account were signed out.
    pub revoked_devices: u32,
    /// The identity card number has an account, and its recovery on this device is held until
    /// then (Unix seconds): the account's devices are told and may cancel it. `device_id` is
    /// empty until the hold ends and the wallet asks again (`GET /api/v1/applications/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<i64>,
}

/// `GET /api/v1/counter-challenges/{code}`: the one-time challenge a registration counter's
/// console shows (a code, and a QR code of this URL) once the officer opens an application.
/// The applying phone answers it with an assertion of its key over the challenge that commits
/// to its [`CounterDecision`]:
///
/// ```text
/// challenge = SHA-256("eid-counter" || 0x00 || nonce || SHA-256(decision))
/// ```
///
/// where `nonce` is `options.publicKey.challenge` and `decision` the exact JSON bytes sent.
/// Until the applying phone has answered, the officer cannot approve the application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterChallenge {
    /// The code, as the console shows it (`482-193-067`).
    pub code: String,
    /// The reference of the application the officer is reviewing: the phone checks it is
    /// its own before answering.
    pub reference: String,
    /// A discoverable assertion's options; `challenge` is the nonce.
    pub options: RequestChallengeResponse,
    pub expires_in: u64,
}

/// What the phone signs at the counter: that it is present for this code and this
/// application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDecision {
    /// The code answered (as in [`CounterChallenge::code`]).
    pub code: String,
    /// The application's reference (as in [`CounterChallenge::reference`]).
    pub reference: String,
}

/// `POST /api/v1/counter-challenges/{code}`: the decision and the assertion over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterSubmission {
    /// base64url of the [`CounterDecision`] JSON: exactly the bytes the challenge commits to.
    pub decision: String,
    /// The assertion of the application's key (an upgrade: a phone of the account).
    pub credential: PublicKeyCredential,
}

/// The counter has the phone's answer: the officer's console now shows the phone (its name and
/// key protection) and lets the officer decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterAnswered {
    pub reference: String,
    /// The name of the phone that answered, as the console shows it.
    pub device_name: String,
    /// How long the officer has to decide before the phone must answer again (seconds).
    pub valid_for: u64,
}

/// `POST /api/v1/account/upgrade-requests` (wallet session): particulars to be proven in person
/// for level `plus`. The answer is an [`ApplicationCreated`] whose reference the citizen shows
/// at a counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeRequest {
    pub english_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chinese_name: Option<String>,
    pub date_of_birth: String,
    pub gender: String,
    pub hkid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `GET /api/v1/account` (wallet session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub citizen_id: String,
    pub reference: String,
    /// `basic`, `plus`, or absent for an account never proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// `active` or `suspended`.
    pub status: String,
}

/// One entry of an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    /// Unix seconds.
    pub at: i64,
    /// E.g. `account.created`, `account.recovered`, `device.bound`, `device.removed`,
    /// `login.not_me`, `login.wrong_number`, `consent.granted`, `consent.withdrawn`.
    pub action: String,
    /// `citizen`, `officer`, `operator` or `system`.
    pub actor: String,
    /// The device acting, when a device acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_device_id: Option<String>,
    /// The device the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The service a login or consent event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// `GET /api/v1/inbox?after=CURSOR&wait=SECONDS` (wallet session): what other devices and
/// browsers did to the account since `after`, oldest first. With `wait` (at most 30 s) the
/// answer waits for a notice (a long poll). `cursor` is the next call's `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    pub notices: Vec<Notice>,
    pub cursor: i64,
}

/// Something another device or a browser did to the account, which the citizen should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The audit event's id.
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// `authenticator_added`, `device_removed`, `device_suspended`, `browser_signed_in`,
    /// `account_recovered`.
    pub kind: String,
    /// What happened, in English and Traditional Chinese.
    pub en: String,
    pub zh_hant: String,
    /// What the citizen can do about it at once, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<NoticeUndo>,
}

/// The one-tap answer to a notice: the wallet API call that undoes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeUndo {
    /// `DELETE /api/v1/devices/{device_id}`.
    RemoveDevice { device_id: String },
    /// `DELETE /api/v1/sessions/{session_id}`.
    EndSession { session_id: String },
    /// `DELETE /api/v1/recoveries/{application_id}`.
    CancelRecovery { application_id: String },
}

/// `GET /api/v1/recoveries` (wallet session): the account's held recoveries, soonest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recoveries {
    pub recoveries: Vec<HeldRecovery>,
}

/// A recovery of the account by remote proofing on another phone, waiting for its hold to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRecovery {
    /// The application that proved its holder (cancel it at `DELETE /api/v1/recoveries/{id}`).
    pub application_id: String,
    /// The applying phone's name, as it gave it.
    pub device_name: String,
    /// When it takes effect (Unix seconds): the new phone is bound, every other device revoked.
    pub held_until: i64,
}

/// `GET /api/v1/account/history` (wallet session): newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountHistory {
    pub events: Vec<AccountEvent>,
}

/// The device is bound to the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBound {
    pub citizen_id: String,
    pub device_id: String,
}

/// `GET /api/v1/approvals/{request_id}?t=...`: a login request as the phone shows it, with the
/// challenge whose signature carries the citizen's decision. `t` is the rotating code from the
/// login page's QR payload; a stale one is refused. Sent with the wallet's session
/// (`Authorization: Bearer`), the items carry the citizen's own values and what they already
/// share with the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub request_id: String,
    /// The relying party asking.
    pub service: ServiceInfo,
    /// Where the login was started.
    pub context: RequestContext,
    /// What the service asks for, one claim each: the essential ones are always shared, the
    /// citizen chooses among the others.
    pub items: Vec<ConsentItem>,
    /// Three numbers; the login page shows one of them, and the citizen picks it.
    pub numbers: Vec<u8>,
    /// The citizen must choose what to share: the service asked again (`prompt=consent`) or
    /// nothing remembered covers the items. Otherwise the remembered choice may be confirmed.
    pub ask_consent: bool,
    /// The account the values are of, masked (`CHAN T** M**`), when sent with a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Seconds left to approve.
    pub expires_in: u64,
    /// The lowest assurance level the service accepts (`basic` or `plus`), if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_level: Option<String>,
    /// What approving does besides logging in to the service, when it is an action on the
    /// citizen's own account (adding a passkey): the phone shows it, and the decision must
    /// echo its `token`. Such an approval counts for that action only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<ApprovalPurpose>,
    /// Whether approving may also sign the requesting browser in to eid (single sign-on for
    /// later logins there): only when the citizen says so in the decision
    /// ([`ApprovalDecision::stay_signed_in`]).
    #[serde(default)]
    pub offers_sign_in: bool,
    /// `PublicKeyCredentialRequestOptions` (WebAuthn §5.5). Its challenge is the request's
    /// nonce: the phone signs `SHA-256("eid-approval" || 0 || nonce || SHA-256(decision))`,
    /// where `decision` is the exact bytes of the [`ApprovalDecision`] JSON it sends.
    pub options: RequestChallengeResponse,
}

/// An action on the citizen's account that an approval authorises (and nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPurpose {
    /// `add_passkey`.
    pub action: String,
    /// What the phone shows, in English and Traditional Chinese ("Add a passkey on Chrome on
    /// Windows, started from 203.0.113.7, to your eid account").
    pub en: String,
    pub zh_hant: String,
    /// Opaque: the decision echoes it, so the signature commits to this action.
    pub token: String,
}

/// What `GET /api/v1/approvals/{request_id}` answers: the [`ApprovalRequest`], and whether
/// the operator registered the service. `service_verified: false`: the service registered
/// itself (dynamic registration, RFC 7591), so its name is only its own claim; a wallet shows
/// it as unverified beside the name. (A field of its own rather than of [`ServiceInfo`], which
/// signing requests share, whose services the operator always registered; absent, it is
/// `true`.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalView {
    #[serde(flatten)]
    pub request: ApprovalRequest,
    #[serde(default = "verified_by_default")]
    pub service_verified: bool,
}

fn verified_by_default() -> bool {
    true
}

/// A relying party as shown to the citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub client_id: String,
    /// The name it was registered with: by the operator, or, for a login request whose
    /// [`ApprovalView::service_verified`] is `false`, by the service itself.
    pub name: String,
    /// The host the answer goes to (the redirect URI's host).
    pub redirect_host: String,
    /// What the service registered about itself, to show beside its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
}

/// Where a login request was started, for the citizen to recognise (or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// The requesting browser's family (`Firefox`, `Chrome`, ...), if recognisable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// Its operating system (`Windows`, `macOS`, `Android`, ...), if recognisable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Its IP address as eid saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Unix seconds when the login was started.
    pub requested_at: i64,
}

/// One thing a service asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentItem {
    /// The claim (`sub`, `name`, `gender`, `birthdate`, `address`).
    pub claim: String,
    /// The scope that asked for it.
    pub scope: String,
    pub en: String,
    pub zh_hant: String,
    /// Shared whenever the login is approved (the service's identifier for the citizen).
    pub essential: bool,
    /// The citizen's own value, when the request was read with a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Part of what the citizen already shares with this service.
    #[serde(default)]
    pub remembered: bool,
}

/// The citizen's answer to a login request, decided on the phone and signed inside the
/// approval's WebAuthn assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    /// The request answered.
    pub request_id: String,
    /// `approve`, `decline` (do not share, stop the login) or `not_me` (the citizen did not
    /// start this login: it is stopped and recorded).
    pub answer: String,
    /// The number picked (with `approve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u8>,
    /// The claims shared (with `approve`): the essential ones and those chosen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
    /// Remember these claims for this service (the next login offers them as chosen).
    #[serde(default)]
    pub remember: bool,
    /// Also sign the requesting browser in to eid ("stay signed in to eid on this browser"):
    /// without it, the browser gets this login only, and no single sign-on session.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stay_signed_in: bool,
    /// The request's [`ApprovalPurpose::token`], when it has one: the citizen approves that
    /// action, and the signature commits to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// `POST /api/v1/approvals/{request_id}`: the decision and the assertion over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalSubmission {
    /// base64url of the [`ApprovalDecision`] JSON: exactly the bytes the challenge commits to.
    pub decision: String,
    pub credential: PublicKeyCredential,
}

/// `POST /api/v1/device-sessions/{ceremony_id}`: a WebAuthn assertion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertionFinish {
    pub credential: PublicKeyCredential,
}

/// What became of the answer: `approved` (the browser shows whose account approved, and
/// continues), `declined` or `stopped` (`not_me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalResult {
    pub status: String,
}

/// A citizen's standing consent, as `GET /api/v1/consents` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub client_id: String,
    /// The service's name (absent when the service was removed since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The claims the citizen shares with it.
    pub claims: Vec<String>,
    /// Unix seconds.
    pub granted_at: i64,
}

/// `GET /api/v1/consents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentList {
    pub consents: Vec<Consent>,
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
    /// `proofing` (the device identity proofing bound) or `link` (joined with a code).
    #[serde(default)]
    pub joined_by: String,
    /// When the device was suspended because its signature counter went backwards (its key
    /// may have been copied): it cannot approve until removed or the account recovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<i64>,
    /// `hardware` (its key's attestation chains to a root eid trusts) or `software`.
    #[serde(default)]
    pub key: String,
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
    /// `pending` (waiting for the phone), `ready` (reload to continue) or `expired`.
    pub status: String,
    /// While pending: seconds until the QR code changes (fetch a new one then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_changes_in: Option<u64>,
}

/// One of the citizen's single sign-on sessions (a browser signed in to eid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSession {
    pub session_id: String,
    /// The browser and its operating system, coarsely (`Chrome`, `Windows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Unix seconds: when it was opened, last used, and last approved on the phone.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub auth_time: i64,
    /// The services it logged in to.
    pub services: Vec<String>,
}

/// `GET /api/v1/sessions` (wallet session): the browsers signed in to eid, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSessionList {
    pub sessions: Vec<BrowserSession>,
}
