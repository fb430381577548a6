//! eid-wallet: the citizen's phone, as a library and the `eid-wallet` CLI.
//!
//! A [`Wallet`] holds one account on one eid server: the account id and a device-bound FIDO2
//! credential (a P-256 key made by the [`authenticator`] module), kept in a local file readable
//! only by its owner. It speaks the server's `/api/v1` REST API like the real phone app would:
//!
//! - [`Wallet::enrol`]: apply for an account with the citizen's particulars, registering this
//!   device's credential (a WebAuthn registration); the answer is an application with a
//!   reference, not yet an account.
//! - [`Wallet::prove`]: remote identity proofing: the particulars read from the card and a face
//!   template of a live capture, signed inside an assertion whose challenge commits to them;
//!   on a match the device is bound to the account. Or the citizen shows the reference at a
//!   registration counter, and [`Wallet::status`] learns the outcome.
//! - [`Wallet::answer_counter`]: at a registration counter, answer the code (or QR code) the
//!   officer's console shows with this device's key, so that the officer can approve the
//!   application in person (level `plus`).
//! - [`Wallet::fetch_approval`] / [`Wallet::answer`]: show a login request (the service, where
//!   it was started, every requested item with the citizen's own value, three numbers), then
//!   answer it (approve with the number the login page shows and the items chosen, decline, or
//!   "not me"), the decision signed inside a WebAuthn assertion.
//! - [`Wallet::signing_requests`], [`Wallet::signing_document`], [`Wallet::approve_signing`],
//!   [`Wallet::decline_signing`]: documents services ask the citizen to sign: the PDF fetched
//!   and checked against the digest the approval signs, then approved with the verification
//!   code the citizen picks among three (the one the service shows), or declined.
//! - [`Wallet::consents`], [`Wallet::withdraw_consent`]: what the citizen shares with whom.
//! - [`Wallet::devices`], [`Wallet::history`], [`Wallet::remove_device`],
//!   [`Wallet::create_device_link`], [`Wallet::link`], [`Wallet::request_upgrade`]: manage the
//!   account.
//!
//! ```no_run
//! # async fn demo() -> Result<(), eid_wallet::WalletError> {
//! let mut wallet = eid_wallet::Wallet::open("wallet.json")?;
//! let link = "http://localhost:8080/api/v1/approvals/abc?t=xyz";
//! let request = wallet.fetch_approval(link).await?;
//! println!("{} asks for {} items", request.service.name, request.items.len());
//! // The citizen picked 42, the number the login page shows, and shares everything offered.
//! let decision = eid_wallet::approve_all(&request, 42, true);
//! wallet.answer(&request, link, &decision).await?;
//! # Ok(()) }
//! ```

pub mod authenticator;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use eid_proto::api::{
    AccountHistory, AccountInfo, ApplicationCreated, ApplicationState, ApprovalDecision,
    ApprovalRequest, ApprovalResult, ApprovalSubmission, AssertionFinish, BrowserSessionList,
    ConsentList, CounterAnswered, CounterChallenge, CounterDecision, CounterSubmission,
    CreationChallengeResponse, Device, DeviceBound, DeviceLink, DeviceLinkRedeem, DeviceList,
    EnrolmentRequest, ProofingChallenge, ProofingEvidence, ProofingResult, ProofingSubmission,
    PublicKeyCredential, RegistrationChallenge, RegistrationFinish, RequestChallengeResponse,
    SessionChallenge, SessionToken, UpgradeRequest,
};
use eid_proto::problem::Problem;
use serde::{Deserialize, Serialize};
use url::Url;

use authenticator::Credential;

/// What can go wrong in the wallet.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The server refused, with an RFC 7807 problem.
    #[error("the server refused: {} ({})", .0.title, .0.detail.as_deref().unwrap_or(""))]
    Refused(Box<Problem>),
    /// The wallet has no account yet.
    #[error("this wallet is not enrolled; run `eid-wallet enrol` first")]
    NotEnrolled,
    /// The wallet already holds an account or an application.
    #[error("this wallet already holds an account or an application")]
    AlreadyEnrolled,
    /// The wallet's application is not proven yet.
    #[error("this wallet's application is not proven yet; run `eid-wallet prove` or show the reference at a counter")]
    NotProven,
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("wallet file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
}

impl WalletError {
    /// The problem's slug (`invalid-input`, `device-refused`, ...) if the server refused.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Refused(p) => Some(p),
            _ => None,
        }
    }

    /// The HTTP status of the server's refusal, if it refused.
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }
}

/// base64url without padding.
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// The wallet file's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WalletFile {
    /// The server's origin, e.g. `http://localhost:8080`.
    pub server: Option<String>,
    pub citizen_id: Option<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    /// base64url credential id.
    pub credential_id: Option<String>,
    /// base64url PKCS#8 of the device key.
    pub private_key: Option<String>,
    /// base64url WebAuthn user handle.
    pub user_handle: Option<String>,
    pub sign_count: u32,
    /// The application this device was registered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<StoredApplication>,
    /// The account session last opened (reused until it expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<CachedSession>,
    /// Where the inbox was read up to (its cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_cursor: Option<i64>,
}

/// A wallet session token and when it stops working.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CachedSession {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An application the wallet made, with what it proves with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredApplication {
    pub application_id: String,
    pub reference: String,
    /// Bearer token for the application's status and proofing.
    pub token: String,
    /// The particulars applied with (the phone keeps them; proofing reads them from the card).
    pub hkid: String,
    pub english_name: String,
    pub date_of_birth: String,
}

/// The label of the committed challenge a proofing assertion signs (as in `eid-core`).
const PROOFING_LABEL: &str = "eid-proofing";

/// The label of the committed challenge an approval signs (as in `eid-core`).
const APPROVAL_LABEL: &str = "eid-approval";

/// The label of the committed challenge a signing approval signs (as in `eid-core`).
const SIGNING_LABEL: &str = "eid-signing";

/// The label of the committed challenge a counter answer signs (as in `eid-core`).
const COUNTER_LABEL: &str = "eid-counter";

/// Approves `request` with `number`, sharing every item offered.
pub fn approve_all(request: &ApprovalRequest, number: u8, remember: bool) -> ApprovalDecision {
    approve_with(
        request,
        number,
        request.items.iter().map(|i| i.claim.clone()).collect(),
        remember,
    )
}

/// Approves `request` with `number`, sharing the essential items and `claims`.
pub fn approve_with(
    request: &ApprovalRequest,
    number: u8,
    claims: Vec<String>,
    remember: bool,
) -> ApprovalDecision {
    let mut shared: Vec<String> = request
        .items
        .iter()
        .filter(|i| i.essential)
        .map(|i| i.claim.clone())
        .collect();
    for claim in claims {
        if !shared.contains(&claim) {
            shared.push(claim);
        }
    }
    ApprovalDecision {
        request_id: request.request_id.clone(),
        answer: "approve".into(),
        number: Some(number),
        claims: shared,
        remember,
        stay_signed_in: false,
        // The phone shows the action (adding a passkey) with the service; approving it
        // approves that action, and the signature commits to it.
        purpose: request.purpose.as_ref().map(|p| p.token.clone()),
    }
}

/// The same decision, also signing the requesting browser in to eid ("stay signed in to eid
/// on this browser"): only for a browser the citizen is at, never for one they cannot see.
pub fn staying_signed_in(decision: ApprovalDecision) -> ApprovalDecision {
    ApprovalDecision {
        stay_signed_in: true,
        ..decision
    }
}

/// Approves with what the citizen already shares with the service (the essential items and
/// the remembered ones).
pub fn approve_as_before(request: &ApprovalRequest, number: u8) -> ApprovalDecision {
    let remembered = request
        .items
        .iter()
        .filter(|i| i.remembered)
        .map(|i| i.claim.clone())
        .collect();
    approve_with(request, number, remembered, false)
}

/// Declines `request` (`answer` `decline`) or says the citizen did not start it (`not_me`).
pub fn refuse(request: &ApprovalRequest, not_me: bool) -> ApprovalDecision {
    ApprovalDecision {
        request_id: request.request_id.clone(),
        answer: if not_me { "not_me" } else { "decline" }.into(),
        number: None,
        claims: Vec::new(),
        remember: false,
        stay_signed_in: false,
        purpose: None,
    }
}

#[allow(clippy::disallowed_methods)] // The phone's own clock: the wallet is not the server.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `SHA-256(label || 0 || nonce || SHA-256(data))`: the challenge that commits to `data`.
pub fn committed_challenge(label: &str, nonce: &[u8], data: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(nonce);
    h.update(Sha256::digest(data));
    h.finalize().into()
}

/// The citizen's phone.
pub struct Wallet {
    path: Option<PathBuf>,
    file: WalletFile,
    http: reqwest::Client,
    /// Attests new credentials as this authenticator model (tests' hardware keys).
    attestation: Option<authenticator::AttestationKey>,
    /// Signs face captures for remote proofing (the capture component's key).
    capture: Option<CaptureSigner>,
}

/// The phone's capture component: its attested key, and the liveness verdict it reaches on
/// the capture at hand.
#[derive(Clone)]
pub struct CaptureSigner {
    key: p256::ecdsa::SigningKey,
    x5c: Vec<String>,
    liveness: String,
}

impl CaptureSigner {
    /// The signer of a sandbox capture file (`captures/<HKID>.json`); `None` if it has no key.
    pub fn from_file(file: &eid_proto::capture::CaptureFile) -> Result<Option<Self>, WalletError> {
        use p256::pkcs8::DecodePrivateKey as _;
        let Some(capture_key) = &file.capture_key else {
            return Ok(None);
        };
        let der = URL_SAFE_NO_PAD
            .decode(&capture_key.key)
            .map_err(|_| WalletError::Protocol("the capture key is not base64url".into()))?;
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(&der)
            .map_err(|e| WalletError::Protocol(format!("the capture key: {e}")))?;
        Ok(Some(Self {
            key,
            x5c: capture_key.x5c.clone(),
            liveness: file.liveness.clone(),
        }))
    }

    /// The same component reaching another liveness verdict (a spoof, in tests).
    pub fn with_liveness(mut self, verdict: &str) -> Self {
        verdict.clone_into(&mut self.liveness);
        self
    }

    /// The signed capture of `face_template` for the proofing ceremony of `nonce`.
    pub fn sign(&self, nonce: &[u8], face_template: &[f32]) -> String {
        use p256::ecdsa::signature::Signer as _;
        let header = serde_json::json!({
            "alg": "ES256",
            "typ": eid_proto::capture::CAPTURE_TYPE,
            "x5c": self.x5c,
        });
        let claims = eid_proto::capture::CaptureClaims {
            nonce: b64url(nonce),
            iat: unix_now(),
            face_template: face_template.to_vec(),
            liveness: eid_proto::capture::Liveness {
                verdict: self.liveness.clone(),
                method: "sandbox".into(),
            },
        };
        let claims = serde_json::to_vec(&claims).unwrap_or_default();
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(&claims)
        );
        let signature: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64url(&signature.to_bytes()))
    }
}

/// The origin (scheme://host[:port]) of a URL: what the phone's WebAuthn client reports.
fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

async fn decode<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, WalletError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response.json().await?);
    }
    let body = response.bytes().await?;
    match serde_json::from_slice::<Problem>(&body) {
        Ok(problem) => Err(WalletError::Refused(Box::new(problem))),
        Err(_) => Err(WalletError::Protocol(format!(
            "the server answered {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ))),
    }
}

impl Wallet {
    /// Opens a wallet file, or starts an empty wallet that will be saved there.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, WalletError> {
        let path = path.as_ref().to_path_buf();
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                WalletError::Protocol(format!("{} is not a wallet file: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => WalletFile::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            path: Some(path),
            file,
            http: reqwest::Client::new(),
            attestation: None,
            capture: None,
        })
    }

    /// A wallet that lives only in memory (for tests).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            file: WalletFile::default(),
            http: reqwest::Client::new(),
            attestation: None,
            capture: None,
        }
    }

    /// Attests the credentials this wallet creates with `key` (an authenticator model's key
    /// and chain), as a hardware authenticator does. Without it the wallet is a software key
    /// with "none" attestation.
    pub fn with_attestation(mut self, key: authenticator::AttestationKey) -> Self {
        self.attestation = Some(key);
        self
    }

    /// The wallet's contents.
    pub fn file(&self) -> &WalletFile {
        &self.file
    }

    /// Replaces the wallet's contents (tests use this to model a tampered or cloned phone).
    pub fn set_file(&mut self, file: WalletFile) {
        self.file = file;
    }

    /// The account id, once enrolled.
    pub fn citizen_id(&self) -> Option<&str> {
        self.file.citizen_id.as_deref()
    }

    /// The device id, once bound.
    pub fn device_id(&self) -> Option<&str> {
        self.file.device_id.as_deref()
    }

    fn save(&self) -> Result<(), WalletError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| WalletError::Protocol(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut f = options.open(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        // Atomic replace: a crash leaves the old or the new wallet, never half of one.
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    fn credential(&self) -> Result<Credential, WalletError> {
        let f = &self.file;
        let (Some(key), Some(id), Some(handle)) =
            (&f.private_key, &f.credential_id, &f.user_handle)
        else {
            return Err(WalletError::NotEnrolled);
        };
        let d = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| WalletError::Protocol("corrupt wallet file".into()))
        };
        Credential::from_pkcs8(&d(key)?, d(id)?, f.sign_count, d(handle)?)
    }

    fn store_credential(&mut self, credential: &Credential) -> Result<(), WalletError> {
        self.file.private_key = Some(b64url(&credential.pkcs8()?));
        self.file.credential_id = Some(b64url(&credential.id));
        self.file.user_handle = Some(b64url(&credential.user_handle));
        self.file.sign_count = credential.sign_count;
        Ok(())
    }

    fn server(&self) -> Result<Url, WalletError> {
        let server = self
            .file
            .server
            .as_deref()
            .ok_or(WalletError::NotEnrolled)?;
        Url::parse(server).map_err(|e| WalletError::Protocol(format!("server URL: {e}")))
    }

    fn api(&self, server: &Url, path: &str) -> Result<Url, WalletError> {
        server
            .join(path)
            .map_err(|e| WalletError::Protocol(format!("URL: {e}")))
    }

    /// Applies for an account: sends the particulars, registers this device's credential, and
    /// keeps the application (its reference is what a registration counter asks for).
    pub async fn enrol(
        &mut self,
        server: &Url,
        request: &EnrolmentRequest,
    ) -> Result<ApplicationCreated, WalletError> {
        if self.file.citizen_id.is_some() || self.file.application.is_some() {
            return Err(WalletError::AlreadyEnrolled);
        }
        let challenge: RegistrationChallenge = decode(
            self.http
                .post(self.api(server, "/api/v1/enrolments")?)
                .json(request)
                .send()
                .await?,
        )
        .await?;
        let (credential, attestation) = self.create_credential(&challenge.options, server)?;
        let created: ApplicationCreated = decode(
            self.http
                .post(self.api(
                    server,
                    &format!("/api/v1/enrolments/{}", challenge.ceremony_id),
                )?)
                .json(&RegistrationFinish {
                    credential: attestation,
                })
                .send()
                .await?,
        )
        .await?;
        self.file.server = Some(origin_of(server));
        self.file.device_name = Some(request.device_name.clone());
        self.file.application = Some(StoredApplication {
            application_id: created.application_id.clone(),
            reference: created.reference.clone(),
            token: created.application_token.clone(),
            hkid: request.hkid.clone(),
            english_name: request.english_name.clone(),
            date_of_birth: request.date_of_birth.clone(),
        });
        self.store_credential(&credential)?;
        self.save()?;
        Ok(created)
    }

    fn application(&self) -> Result<&StoredApplication, WalletError> {
        self.file
            .application
            .as_ref()
            .ok_or(WalletError::NotEnrolled)
    }

    /// Proves the applicant remotely: `evidence` (read from the card, with a face template
    /// computed from a live capture) signed inside this device's assertion. On a match the
    /// device is bound to the account.
    pub async fn prove(
        &mut self,
        evidence: &ProofingEvidence,
    ) -> Result<ProofingResult, WalletError> {
        let server = self.server()?;
        let application = self.application()?.clone();
        let base = format!("/api/v1/applications/{}", application.application_id);
        let challenge: ProofingChallenge = decode(
            self.http
                .post(self.api(&server, &format!("{base}/proofing-challenges"))?)
                .bearer_auth(&application.token)
                .send()
                .await?,
        )
        .await?;
        let mut options = challenge.options.clone();
        let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
        // The capture component signs the template over eid's nonce; without one the template
        // goes unsigned (which only a development deployment accepts).
        let mut evidence = evidence.clone();
        if let Some(signer) = &self.capture {
            if evidence.capture.is_none() {
                evidence.capture = Some(signer.sign(&nonce, &evidence.face_template));
                evidence.face_template.clear();
            }
        }
        let evidence_bytes = serde_json::to_vec(&evidence)
            .map_err(|e| WalletError::Protocol(format!("encoding evidence: {e}")))?;
        options.public_key.challenge =
            committed_challenge(PROOFING_LABEL, &nonce, &evidence_bytes).to_vec();
        let credential = self.sign(&options, &server)?;
        let result: ProofingResult = decode(
            self.http
                .post(self.api(&server, &format!("{base}/proofing"))?)
                .bearer_auth(&application.token)
                .json(&ProofingSubmission {
                    ceremony_id: challenge.ceremony_id,
                    evidence: b64url(&evidence_bytes),
                    credential,
                })
                .send()
                .await?,
        )
        .await?;
        // A held recovery binds this phone only when its hold ends (`status` then learns it).
        if result.held_until.is_none() {
            self.file.citizen_id = Some(result.citizen_id.clone());
            self.file.device_id = Some(result.device_id.clone());
            self.save()?;
        }
        Ok(result)
    }

    /// The capture component that signs this phone's face captures for remote proofing.
    pub fn set_capture_signer(&mut self, signer: Option<CaptureSigner>) {
        self.capture = signer;
    }

    /// The account's held recoveries (another phone proved itself as the holder).
    pub async fn recoveries(&mut self) -> Result<eid_proto::api::Recoveries, WalletError> {
        self.authed(reqwest::Method::GET, "/api/v1/recoveries", None)
            .await
    }

    /// Cancels a held recovery of the account.
    pub async fn cancel_recovery(&mut self, application_id: &str) -> Result<(), WalletError> {
        self.authed::<()>(
            reqwest::Method::DELETE,
            &format!("/api/v1/recoveries/{application_id}"),
            None,
        )
        .await
    }

    /// The application's state; once proven (remotely or at a counter), the wallet learns its
    /// account and device.
    pub async fn status(&mut self) -> Result<ApplicationState, WalletError> {
        let server = self.server()?;
        let application = self.application()?.clone();
        let state: ApplicationState = decode(
            self.http
                .get(self.api(
                    &server,
                    &format!("/api/v1/applications/{}", application.application_id),
                )?)
                .bearer_auth(&application.token)
                .send()
                .await?,
        )
        .await?;
        if state.status == "proven" && self.file.device_id.is_none() {
            if let (Some(citizen_id), Some(device_id)) = (&state.citizen_id, &state.device_id) {
                self.file.citizen_id = Some(citizen_id.clone());
                self.file.device_id = Some(device_id.clone());
                self.save()?;
                return Ok(state);
            }
            let session = self.session().await?;
            self.file.citizen_id = Some(session.citizen_id);
            self.file.device_id = Some(session.device_id);
            self.save()?;
        }
        Ok(state)
    }

    async fn finish_registration(
        &mut self,
        server: &Url,
        challenge: &RegistrationChallenge,
        device_name: &str,
    ) -> Result<DeviceBound, WalletError> {
        let (credential, attestation) = self.create_credential(&challenge.options, server)?;
        let bound: DeviceBound = decode(
            self.http
                .post(self.api(
                    server,
                    &format!("/api/v1/registrations/{}", challenge.ceremony_id),
                )?)
                .json(&RegistrationFinish {
                    credential: attestation,
                })
                .send()
                .await?,
        )
        .await?;
        self.file.server = Some(origin_of(server));
        self.file.citizen_id = Some(bound.citizen_id.clone());
        self.file.device_id = Some(bound.device_id.clone());
        self.file.device_name = Some(device_name.to_owned());
        self.store_credential(&credential)?;
        self.save()?;
        Ok(bound)
    }

    fn create_credential(
        &self,
        options: &CreationChallengeResponse,
        server: &Url,
    ) -> Result<(Credential, eid_proto::api::RegisterPublicKeyCredential), WalletError> {
        authenticator::make_credential(options, &origin_of(server), self.attestation.as_ref())
    }

    /// Signs `options` with this device's credential for the server at `origin_url` (the phone's
    /// "approve" gesture). Saves the raised signature counter.
    pub fn sign(
        &mut self,
        options: &RequestChallengeResponse,
        origin_url: &Url,
    ) -> Result<PublicKeyCredential, WalletError> {
        self.sign_with_faults(
            options,
            origin_url,
            &authenticator::AssertionFaults::default(),
        )
    }

    /// [`Wallet::sign`] with deliberate `faults`, to check that a server refuses them.
    pub fn sign_with_faults(
        &mut self,
        options: &RequestChallengeResponse,
        origin_url: &Url,
        faults: &authenticator::AssertionFaults,
    ) -> Result<PublicKeyCredential, WalletError> {
        // Two processes signing with one wallet file would reuse a counter, and the server
        // takes a counter that does not go up for a copied key: sign under a lock, with the
        // counter as the file has it now.
        let _lock = self.lock()?;
        if let Some(path) = &self.path {
            if let Ok(bytes) = std::fs::read(path) {
                if let Ok(on_disk) = serde_json::from_slice::<WalletFile>(&bytes) {
                    self.file.sign_count = self.file.sign_count.max(on_disk.sign_count);
                }
            }
        }
        let mut credential = self.credential()?;
        let assertion = authenticator::get_assertion_with_faults(
            &mut credential,
            options,
            &origin_of(origin_url),
            faults,
        )?;
        self.file.sign_count = credential.sign_count;
        self.save()?;
        Ok(assertion)
    }

    /// An exclusive lock on the wallet file (a `.lock` file beside it), held until dropped.
    fn lock(&self) -> Result<Option<std::fs::File>, WalletError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("lock"))?;
        file.lock()?;
        Ok(Some(file))
    }

    /// Checks that an approval link (the QR code's payload) belongs to this wallet's server,
    /// before anything is fetched from it.
    fn approval_url(&self, link: &str) -> Result<Url, WalletError> {
        let url =
            Url::parse(link).map_err(|e| WalletError::Protocol(format!("approval link: {e}")))?;
        if !url.path().starts_with("/api/v1/approvals/") {
            return Err(WalletError::Protocol(
                "this is not an eid approval link".into(),
            ));
        }
        let server = self
            .file
            .server
            .as_deref()
            .ok_or(WalletError::NotEnrolled)?;
        if origin_of(&url) != server {
            return Err(WalletError::Protocol(format!(
                "this wallet belongs to {server}, not {}",
                origin_of(&url)
            )));
        }
        Ok(url)
    }

    /// Reads a login request from its approval link (the QR code's payload), with the account
    /// session so that the items carry the citizen's own values. A link to another server
    /// than the wallet's is refused before anything is fetched from it.
    pub async fn fetch_approval(&mut self, link: &str) -> Result<ApprovalRequest, WalletError> {
        self.fetch_approval_as(link).await
    }

    /// [`Wallet::fetch_approval`], with whether the operator registered the service
    /// (`service_verified: false`: its name is only its own claim; show it as unverified).
    pub async fn fetch_approval_view(
        &mut self,
        link: &str,
    ) -> Result<eid_proto::api::ApprovalView, WalletError> {
        self.fetch_approval_as(link).await
    }

    async fn fetch_approval_as<T: serde::de::DeserializeOwned>(
        &mut self,
        link: &str,
    ) -> Result<T, WalletError> {
        let url = self.approval_url(link)?;
        let session = self.session().await?;
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(&session.access_token)
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            // The session ended (its device was removed, say): once more with a new one.
            self.file.session = None;
            let session = self.session().await?;
            return decode(
                self.http
                    .get(url)
                    .bearer_auth(&session.access_token)
                    .send()
                    .await?,
            )
            .await;
        }
        decode(response).await
    }

    /// Reads a login request without the account session, as any phone may: the items carry
    /// no values. (A device that cannot open a session, being unproven or removed, still gets
    /// to answer, and is refused then.)
    pub async fn fetch_approval_anonymously(
        &self,
        link: &str,
    ) -> Result<ApprovalRequest, WalletError> {
        let url = self.approval_url(link)?;
        decode(self.http.get(url).send().await?).await
    }

    /// Answers a login request: the decision's bytes signed inside an assertion over the
    /// challenge that commits to them, sent to the approval link's request.
    pub async fn answer(
        &mut self,
        request: &ApprovalRequest,
        link: &str,
        decision: &ApprovalDecision,
    ) -> Result<ApprovalResult, WalletError> {
        let mut url = self.approval_url(link)?;
        url.set_query(None);
        let submission = self.sign_decision(request, decision, &url)?;
        self.post_answer(url.as_str(), &submission.decision, submission.credential)
            .await
    }

    /// Signs a decision on a request for the server at `origin_url`: the submission to send.
    pub fn sign_decision(
        &mut self,
        request: &ApprovalRequest,
        decision: &ApprovalDecision,
        origin_url: &Url,
    ) -> Result<ApprovalSubmission, WalletError> {
        self.sign_decision_with_faults(
            request,
            decision,
            origin_url,
            &authenticator::AssertionFaults::default(),
        )
    }

    /// [`Wallet::sign_decision`] with deliberate `faults` in the assertion.
    pub fn sign_decision_with_faults(
        &mut self,
        request: &ApprovalRequest,
        decision: &ApprovalDecision,
        origin_url: &Url,
        faults: &authenticator::AssertionFaults,
    ) -> Result<ApprovalSubmission, WalletError> {
        let bytes = serde_json::to_vec(decision)
            .map_err(|e| WalletError::Protocol(format!("encoding the decision: {e}")))?;
        let mut options = request.options.clone();
        let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
        options.public_key.challenge = committed_challenge(APPROVAL_LABEL, &nonce, &bytes).to_vec();
        let credential = self.sign_with_faults(&options, origin_url, faults)?;
        Ok(ApprovalSubmission {
            decision: b64url(&bytes),
            credential,
        })
    }

    /// Sends a signed answer to a request (tests use it to replay one).
    pub async fn post_answer(
        &self,
        url: &str,
        decision: &str,
        credential: PublicKeyCredential,
    ) -> Result<ApprovalResult, WalletError> {
        decode(
            self.http
                .post(url)
                .json(&ApprovalSubmission {
                    decision: decision.to_owned(),
                    credential,
                })
                .send()
                .await?,
        )
        .await
    }

    /// The account's pending signing requests: the service, the document's name, three
    /// verification codes (one of them the service's), the digest.
    pub async fn signing_requests(
        &mut self,
    ) -> Result<eid_proto::signing::SigningRequestList, WalletError> {
        self.authed(reqwest::Method::GET, "/api/v1/signing-requests", None)
            .await
    }

    /// Signs a decision on a signing request (`approve` or `decline`): its bytes, which carry
    /// the document's digest, committed in the assertion's challenge.
    pub fn sign_signing_decision(
        &mut self,
        request: &eid_proto::signing::SigningRequestView,
        decision: &eid_proto::signing::SigningDecision,
    ) -> Result<eid_proto::signing::SigningSubmission, WalletError> {
        let bytes = serde_json::to_vec(decision)
            .map_err(|e| WalletError::Protocol(format!("encoding the decision: {e}")))?;
        let mut options = request.options.clone();
        let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
        options.public_key.challenge = committed_challenge(SIGNING_LABEL, &nonce, &bytes).to_vec();
        let server = self.server()?;
        let credential = self.sign_with_faults(
            &options,
            &server,
            &authenticator::AssertionFaults::default(),
        )?;
        Ok(eid_proto::signing::SigningSubmission {
            decision: b64url(&bytes),
            credential,
        })
    }

    /// Approves a signing request as shown, with the verification `code` the citizen picked
    /// among the three the phone offers (the one the service shows beside the document). A
    /// code that is not among them is refused here; a wrong one among them stops the request
    /// at the server (`wrong-code`), unsigned.
    pub async fn approve_signing(
        &mut self,
        request: &eid_proto::signing::SigningRequestView,
        code: &str,
    ) -> Result<ApprovalResult, WalletError> {
        let code = code.trim().to_uppercase();
        if !request.verification_codes.contains(&code) {
            return Err(WalletError::Protocol(format!(
                "{code} is not one of the codes offered ({})",
                request.verification_codes.join(", ")
            )));
        }
        self.answer_signing(request, "approve", Some(code)).await
    }

    /// Declines a signing request: nothing is signed.
    pub async fn decline_signing(
        &mut self,
        request: &eid_proto::signing::SigningRequestView,
    ) -> Result<ApprovalResult, WalletError> {
        self.answer_signing(request, "decline", None).await
    }

    async fn answer_signing(
        &mut self,
        request: &eid_proto::signing::SigningRequestView,
        answer: &str,
        code: Option<String>,
    ) -> Result<ApprovalResult, WalletError> {
        let decision = eid_proto::signing::SigningDecision {
            request_id: request.request_id.clone(),
            answer: answer.to_owned(),
            hash_alg: request.hash_alg.clone(),
            hash: request.hash.clone(),
            code,
        };
        let submission = self.sign_signing_decision(request, &decision)?;
        self.post_signing_answer(&request.request_id, &submission)
            .await
    }

    /// The PDF a signing request asks the citizen to sign, to show before they decide: fetched
    /// with the account session and checked against the digest the view carries (which the
    /// approval signs), so that what is shown is what would be signed. An error for a request
    /// that signs a digest only (`pdf: false`).
    pub async fn signing_document(
        &mut self,
        request: &eid_proto::signing::SigningRequestView,
    ) -> Result<Vec<u8>, WalletError> {
        use sha2::{Digest, Sha256};
        if !request.pdf || request.hash_alg != "SHA-256" {
            return Err(WalletError::Protocol(
                "this request signs a digest the service computed: there is no document to show"
                    .into(),
            ));
        }
        let server = self.server()?;
        let path = format!("/api/v1/signing-requests/{}/document", request.request_id);
        let mut retried = false;
        let response = loop {
            let session = self.session().await?;
            let response = self
                .http
                .get(self.api(&server, &path)?)
                .bearer_auth(&session.access_token)
                .send()
                .await?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && !retried {
                // The cached session ended: once more with a new one.
                self.file.session = None;
                retried = true;
                continue;
            }
            break response;
        };
        if !response.status().is_success() {
            return decode(response).await;
        }
        let pdf = response.bytes().await?.to_vec();
        if b64url(&Sha256::digest(&pdf)) != request.hash {
            return Err(WalletError::Protocol(
                "the document does not match the digest to be signed: not shown".into(),
            ));
        }
        Ok(pdf)
    }

    /// Sends a signed decision on a signing request (tests use it to replay one).
    pub async fn post_signing_answer(
        &self,
        request_id: &str,
        submission: &eid_proto::signing::SigningSubmission,
    ) -> Result<ApprovalResult, WalletError> {
        let server = self.server()?;
        decode(
            self.http
                .post(self.api(&server, &format!("/api/v1/signing-requests/{request_id}"))?)
                .json(submission)
                .send()
                .await?,
        )
        .await
    }

    /// Notices of what other devices and browsers did to the account since the last read,
    /// waiting up to `wait` seconds for one (a long poll). The cursor is kept in the wallet
    /// file, so each notice is shown once.
    pub async fn inbox(&mut self, wait: u64) -> Result<eid_proto::api::Inbox, WalletError> {
        let after = self.file.inbox_cursor.unwrap_or(0);
        let inbox: eid_proto::api::Inbox = self
            .authed(
                reqwest::Method::GET,
                &format!("/api/v1/inbox?after={after}&wait={wait}"),
                None,
            )
            .await?;
        self.file.inbox_cursor = Some(inbox.cursor);
        self.save()?;
        Ok(inbox)
    }

    /// Undoes what a notice reports (removes the device, ends the browser's session): the
    /// one tap, through this device's own session.
    pub async fn undo(&mut self, undo: &eid_proto::api::NoticeUndo) -> Result<(), WalletError> {
        match undo {
            eid_proto::api::NoticeUndo::RemoveDevice { device_id } => {
                self.remove_device(device_id).await
            }
            eid_proto::api::NoticeUndo::EndSession { session_id } => {
                self.end_browser_session(session_id).await
            }
            eid_proto::api::NoticeUndo::CancelRecovery { application_id } => {
                self.cancel_recovery(application_id).await
            }
        }
    }

    /// What the citizen shares with which service.
    pub async fn consents(&mut self) -> Result<ConsentList, WalletError> {
        self.authed(reqwest::Method::GET, "/api/v1/consents", None)
            .await
    }

    /// Withdraws what the citizen shares with a service: the next login asks again, and the
    /// service's access tokens stop working.
    pub async fn withdraw_consent(&mut self, client_id: &str) -> Result<(), WalletError> {
        let path = format!(
            "/api/v1/consents/{}",
            url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect::<String>()
        );
        self.authed::<()>(reqwest::Method::DELETE, &path, None)
            .await
    }

    /// The browsers signed in to eid with this account.
    pub async fn browser_sessions(&mut self) -> Result<BrowserSessionList, WalletError> {
        self.authed(reqwest::Method::GET, "/api/v1/sessions", None)
            .await
    }

    /// Signs a browser out of eid (every service it logged in to is told).
    pub async fn end_browser_session(&mut self, session_id: &str) -> Result<(), WalletError> {
        let path = format!(
            "/api/v1/sessions/{}",
            url::form_urlencoded::byte_serialize(session_id.as_bytes()).collect::<String>()
        );
        self.authed::<()>(reqwest::Method::DELETE, &path, None)
            .await
    }

    /// Signs every browser out of eid.
    pub async fn end_browser_sessions(&mut self) -> Result<(), WalletError> {
        self.authed::<()>(reqwest::Method::DELETE, "/api/v1/sessions", None)
            .await
    }

    /// A session for the account API: the cached one while it has a minute left, else a new
    /// one (an assertion of this device), cached.
    pub async fn session(&mut self) -> Result<SessionToken, WalletError> {
        if let (Some(cached), Some(citizen_id), Some(device_id)) = (
            &self.file.session,
            &self.file.citizen_id,
            &self.file.device_id,
        ) {
            let left = cached.expires_at - unix_now();
            if left > 60 {
                return Ok(SessionToken {
                    access_token: cached.token.clone(),
                    token_type: "Bearer".into(),
                    expires_in: left.unsigned_abs(),
                    citizen_id: citizen_id.clone(),
                    device_id: device_id.clone(),
                });
            }
        }
        let session = self.new_session().await?;
        self.file.session = Some(CachedSession {
            token: session.access_token.clone(),
            expires_at: unix_now() + i64::try_from(session.expires_in).unwrap_or(0),
        });
        self.save()?;
        Ok(session)
    }

    /// Proves possession of this device and gets a new session for account management.
    pub async fn new_session(&mut self) -> Result<SessionToken, WalletError> {
        let server = self.server()?;
        let challenge: SessionChallenge = decode(
            self.http
                .post(self.api(&server, "/api/v1/device-sessions")?)
                .send()
                .await?,
        )
        .await?;
        let credential = self.sign(&challenge.options, &server)?;
        decode(
            self.http
                .post(self.api(
                    &server,
                    &format!("/api/v1/device-sessions/{}", challenge.ceremony_id),
                )?)
                .json(&AssertionFinish { credential })
                .send()
                .await?,
        )
        .await
    }

    /// A request to the account API with a fresh session: `body` as JSON if given; the answer
    /// as `T` (204 No Content reads as JSON `null`).
    async fn authed<T: serde::de::DeserializeOwned>(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, WalletError> {
        let server = self.server()?;
        let mut retried = false;
        let response = loop {
            let session = self.session().await?;
            let mut request = self
                .http
                .request(method.clone(), self.api(&server, path)?)
                .bearer_auth(&session.access_token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && !retried {
                // The cached session ended: once more with a new one.
                self.file.session = None;
                retried = true;
                continue;
            }
            break response;
        };
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return serde_json::from_value(serde_json::Value::Null)
                .map_err(|e| WalletError::Protocol(e.to_string()));
        }
        decode(response).await
    }

    /// The URL of a counter's challenge from what the citizen scanned or typed: the QR code's
    /// URL (on this wallet's server only) or the code itself (`482-193-067`).
    pub fn counter_url(&self, code_or_url: &str) -> Result<Url, WalletError> {
        let server = self.server()?;
        let input = code_or_url.trim();
        if input.contains("://") {
            let url = Url::parse(input)
                .map_err(|e| WalletError::Protocol(format!("not a counter code or URL: {e}")))?;
            if origin_of(&url) != origin_of(&server) {
                return Err(WalletError::Protocol(format!(
                    "this wallet belongs to {}, not {}",
                    origin_of(&server),
                    origin_of(&url)
                )));
            }
            if !url.path().starts_with("/api/v1/counter-challenges/") {
                return Err(WalletError::Protocol(
                    "this is not an eid counter code".into(),
                ));
            }
            return Ok(url);
        }
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.len() != 9 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(WalletError::Protocol(
                "a counter code is nine digits, like 482-193-067".into(),
            ));
        }
        self.api(&server, &format!("/api/v1/counter-challenges/{digits}"))
    }

    /// Reads the challenge a registration counter shows (nothing is signed yet).
    pub async fn fetch_counter(&self, code_or_url: &str) -> Result<CounterChallenge, WalletError> {
        let url = self.counter_url(code_or_url)?;
        decode(self.http.get(url).send().await?).await
    }

    /// Signs the phone's presence at the counter: the decision (the code, the application's
    /// reference) committed in this device's assertion.
    pub fn sign_counter(
        &mut self,
        challenge: &CounterChallenge,
    ) -> Result<CounterSubmission, WalletError> {
        let decision = CounterDecision {
            code: challenge.code.clone(),
            reference: challenge.reference.clone(),
        };
        let bytes = serde_json::to_vec(&decision)
            .map_err(|e| WalletError::Protocol(format!("encoding the decision: {e}")))?;
        let mut options = challenge.options.clone();
        let nonce: Vec<u8> = AsRef::<[u8]>::as_ref(&options.public_key.challenge).to_vec();
        options.public_key.challenge = committed_challenge(COUNTER_LABEL, &nonce, &bytes).to_vec();
        let server = self.server()?;
        let credential = self.sign(&options, &server)?;
        Ok(CounterSubmission {
            decision: b64url(&bytes),
            credential,
        })
    }

    /// Sends a signed counter answer (tests use it to send another wallet's).
    pub async fn post_counter_answer(
        &self,
        code_or_url: &str,
        submission: &CounterSubmission,
    ) -> Result<CounterAnswered, WalletError> {
        let url = self.counter_url(code_or_url)?;
        decode(self.http.post(url).json(submission).send().await?).await
    }

    /// At a registration counter: answers the code (or the QR code's URL) the officer's
    /// console shows, with this device's key, so that the officer can approve the application
    /// in person. A wallet still applying answers only for its own application's reference.
    pub async fn answer_counter(
        &mut self,
        code_or_url: &str,
    ) -> Result<CounterAnswered, WalletError> {
        let challenge = self.fetch_counter(code_or_url).await?;
        if let (Some(application), None) = (&self.file.application, &self.file.device_id) {
            if application.reference != challenge.reference {
                return Err(WalletError::Protocol(format!(
                    "the counter is reviewing application {}, but this phone applied as {}: show the officer your own reference",
                    challenge.reference, application.reference
                )));
            }
        }
        let submission = self.sign_counter(&challenge)?;
        self.post_counter_answer(code_or_url, &submission).await
    }

    /// The account this wallet belongs to.
    pub async fn account(&mut self) -> Result<AccountInfo, WalletError> {
        self.authed(reqwest::Method::GET, "/api/v1/account", None)
            .await
    }

    /// The account's history, newest first: proofing, recovery, devices bound and removed.
    pub async fn history(&mut self) -> Result<AccountHistory, WalletError> {
        self.authed(reqwest::Method::GET, "/api/v1/account/history", None)
            .await
    }

    /// Asks for the account to be proven in person (level `plus`): the answer's reference is
    /// shown at a registration counter.
    pub async fn request_upgrade(
        &mut self,
        request: &UpgradeRequest,
    ) -> Result<ApplicationCreated, WalletError> {
        let body =
            serde_json::to_value(request).map_err(|e| WalletError::Protocol(e.to_string()))?;
        self.authed(
            reqwest::Method::POST,
            "/api/v1/account/upgrade-requests",
            Some(body),
        )
        .await
    }

    /// The account's devices.
    pub async fn devices(&mut self) -> Result<Vec<Device>, WalletError> {
        let list: DeviceList = self
            .authed(reqwest::Method::GET, "/api/v1/devices", None)
            .await?;
        Ok(list.devices)
    }

    /// Unbinds a device of the account (not the last one).
    pub async fn remove_device(&mut self, device_id: &str) -> Result<(), WalletError> {
        self.authed::<()>(
            reqwest::Method::DELETE,
            &format!("/api/v1/devices/{device_id}"),
            None,
        )
        .await
    }

    /// Issues a one-time code for another phone to join the account.
    pub async fn create_device_link(&mut self) -> Result<DeviceLink, WalletError> {
        self.authed(reqwest::Method::POST, "/api/v1/device-links", None)
            .await
    }

    /// Joins an account with a code from one of its devices, binding this phone.
    pub async fn link(
        &mut self,
        server: &Url,
        code: &str,
        device_name: &str,
    ) -> Result<DeviceBound, WalletError> {
        if self.file.citizen_id.is_some() || self.file.application.is_some() {
            return Err(WalletError::AlreadyEnrolled);
        }
        let challenge: RegistrationChallenge = decode(
            self.http
                .post(self.api(server, &format!("/api/v1/device-links/{code}"))?)
                .json(&DeviceLinkRedeem {
                    device_name: device_name.to_owned(),
                })
                .send()
                .await?,
        )
        .await?;
        self.finish_registration(server, &challenge, device_name)
            .await
    }
}
