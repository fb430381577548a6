//! Document signing: a relying party asks a citizen to sign a document (its digest, or a PDF),
//! the citizen approves on the phone, and the relying party fetches the signature.
//!
//! 1. The service (client-authenticated, allowed to sign) creates a request with an access
//!    token from the citizen's login at it whose scope includes `sign` (checked as userinfo
//!    checks a token, [`Provider::active_access_token`], and by `authority::permit`), the
//!    document's name and digest (or the PDF); it gets a short verification code to show
//!    beside the document. The token names the citizen, and it ends with the login: revoked,
//!    signed out, consent withdrawn, and a refresh never renews `sign` (review 2026-12-07,
//!    L1), so a service cannot ask for ever after one login.
//! 2. The phone lists the account's pending requests (wallet session): the service, the
//!    document's name, the digest, and three codes, one the service's; it fetches a PDF to
//!    show (and checks it against the digest). The citizen picks the code the service shows
//!    and approves, or declines, with a discoverable WebAuthn assertion whose challenge
//!    commits, under the request's nonce, to the decision's bytes, which carry the digest and
//!    the code picked: an approval cannot be replayed for another request or another
//!    document. A wrong pick stops the request, unsigned, as a login's wrong number does.
//! 3. eid checks the device (bound, not removed, the request's citizen's), the account
//!    (active, `plus`), signs with the citizen's certificate (issued on first use), adds a
//!    time stamp when asked, and stores the result sealed; the request moves `pending →
//!    signed` by compare-and-set, with its audit event (request, approval, certificate serial,
//!    digest; never the document).
//! 4. The service polls for the result (`authorization_pending` until then).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::RequestChallengeResponse;

use eid_proto::api::{ApprovalResult, ServiceInfo};
use eid_proto::signing::{
    SigningDecision, SigningRequestCreated, SigningRequestList, SigningRequestParams,
    SigningRequestView, SigningResult, SigningResultParams, SigningSubmission,
};

use crate::account::Level;
use crate::attestation::KeyProtection;
use crate::audit::{Actor, Detail, Event};
use crate::authority::{self, Action as AuthorityAction, Credential, Facts};
use crate::ceremony::committed_challenge;
use crate::claims::Scope;
use crate::crypto::{b64url, Aad};
use crate::ids::CitizenId;
use crate::oidc::client_auth::ClientAuthParams;
use crate::oidc::dpop::{PresentedToken, ProofTarget};
use crate::oidc::oauth;
use crate::pki::cms::DigestAlg;
use crate::store::{
    ClientRecord, SigningOutcome, SigningRequestRecord, SigningStatus, WalletSessionRecord,
};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// The label of the committed challenge a signing approval signs.
pub const SIGNING_LABEL: &str = "eid-signing";

/// How long a citizen has to answer a signing request.
pub const SIGNING_WINDOW: i64 = 300;

/// How long a result stays with eid after the request's window, for the service to fetch.
pub const RESULT_RETENTION: i64 = 3_600;

/// Seconds between a service's polls.
pub const POLL_INTERVAL: u64 = 2;

/// The largest PDF eid signs.
pub const MAX_PDF_BYTES: usize = 10 * 1024 * 1024;

const MAX_NAME_CHARS: usize = 200;

/// `POST /signing/requests`: the request and the client's authentication.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct SigningRequestForm {
    #[serde(flatten)]
    pub request: SigningRequestParams,
    #[serde(flatten)]
    pub client: ClientAuthParams,
}

/// `POST /signing/result`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct SigningResultForm {
    #[serde(flatten)]
    pub request: SigningResultParams,
    #[serde(flatten)]
    pub client: ClientAuthParams,
}

/// What is to be signed, sealed in the request's row.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Document {
    name: String,
    digest_alg: String,
    /// base64url.
    digest: String,
    /// A PDF to sign, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pdf: Option<String>,
    time_stamp: bool,
}

impl Document {
    fn alg(&self) -> Result<DigestAlg, Error> {
        DigestAlg::parse(&self.digest_alg)
            .ok_or_else(|| Error::Internal("a stored digest algorithm is unknown".into()))
    }

    fn digest_bytes(&self) -> Result<Vec<u8>, Error> {
        URL_SAFE_NO_PAD
            .decode(&self.digest)
            .map_err(|_| Error::Internal("a stored digest does not decode".into()))
    }
}

/// The signed result, sealed in the request's row.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Signed {
    /// base64 (DER).
    signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed_pdf: Option<String>,
    certificate: String,
    chain: Vec<String>,
    time_stamped: bool,
}

fn invalid_request(description: impl Into<String>) -> Error {
    oauth(OAuthErrorCode::InvalidRequest, description).into()
}

/// The verification codes' alphabet: no look-alikes (0/O, 1/I). 32 letters: a byte modulo its
/// length is uniform.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Four characters of the alphabet from four bytes.
fn code_of(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(4)
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect()
}

/// A verification code: four random characters.
fn verification_code() -> String {
    code_of(&crate::crypto::random_bytes::<4>())
}

/// `correct` and two other codes, all distinct, drawn from `draw` (a keyed hash of what it is
/// given): the decoys from rounds of it, the correct code's place from one more. The correct
/// code is uniformly random and so are the decoys, so no code stands out; its place is drawn
/// like the login's numbers' (`match_numbers`).
fn offered_codes(correct: &str, draw: impl Fn(&[&[u8]]) -> [u8; 32]) -> Vec<String> {
    let mut codes = vec![correct.to_owned()];
    let mut round: u32 = 0;
    while codes.len() < 3 {
        let h = draw(&[b"decoys", &round.to_be_bytes()]);
        for chunk in h.chunks(4) {
            let code = code_of(chunk);
            if codes.len() < 3 && !codes.contains(&code) {
                codes.push(code);
            }
        }
        round = round.wrapping_add(1);
    }
    let order = draw(&[b"order"]);
    codes.swap(0, usize::from(order[0] % 3));
    codes
}

impl Provider {
    fn signing_client(
        &self,
        basic: Option<&(String, String)>,
        client: &ClientAuthParams,
        now: UnixTime,
    ) -> Result<ClientRecord, Error> {
        let client = self.authenticate_client(basic, client, now)?;
        if !client.metadata.signing {
            return Err(oauth(
                OAuthErrorCode::UnauthorizedClient,
                "this client may not ask for signatures (the sign scope is not allowed to it)",
            )
            .into());
        }
        Ok(client)
    }

    /// The citizen a signing request is for, from the access token the service presents: a
    /// token valid and active as userinfo checks it, issued to this client, whose scope
    /// includes `sign`. `dpop` is the request's DPoP proof, for a DPoP-bound token.
    fn signing_citizen(
        &self,
        client: &ClientRecord,
        access_token: Option<&str>,
        dpop: Option<String>,
        now: UnixTime,
    ) -> Result<CitizenId, Error> {
        let token = access_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            invalid_request(
                "access_token is required: an access token from the citizen's login at this service, with the sign scope",
            )
        })?;
        let presented = match dpop {
            Some(proof) => PresentedToken::Dpop {
                token: token.to_owned(),
                proof: Some(proof),
            },
            None => PresentedToken::Bearer(token.to_owned()),
        };
        let target = ProofTarget {
            method: "POST",
            path: "/signing/requests",
            access_token: None,
        };
        let (token, _) = self.active_access_token(&presented, target, now)?;
        if token.client_id != client.client_id {
            // Answered as an unknown token: one service learns nothing of another's tokens.
            tracing::warn!(target: "eid::security", event = "foreign_token_presented", client_id = %client.client_id, "a client presented another client's access token to ask for a signature");
            return Err(oauth(
                OAuthErrorCode::InvalidToken,
                "the access token is invalid, expired or revoked",
            )
            .into());
        }
        let sign_scope = token.scope.contains(Scope::Sign);
        authority::permit(
            Credential::CitizenAccessToken,
            AuthorityAction::RequestSignature,
            &Facts {
                sign_scope,
                ..Facts::default()
            },
        )
        .map_err(|_| {
            Error::from(oauth(
                OAuthErrorCode::InsufficientScope,
                "the access token's scope does not include sign: log the citizen in again asking for the sign scope, which they allow on the phone",
            ))
        })?;
        Ok(token.citizen_id)
    }

    /// `POST /signing/requests`. `dpop` is the request's DPoP proof header, if any.
    pub fn create_signing_request(
        &self,
        basic: Option<(String, String)>,
        form: &SigningRequestForm,
        dpop: Option<String>,
        now: UnixTime,
    ) -> Result<SigningRequestCreated, Error> {
        let client = self.signing_client(basic.as_ref(), &form.client, now)?;
        let params = &form.request;
        let citizen = self.signing_citizen(&client, params.access_token.as_deref(), dpop, now)?;
        // Shown on the phone: the rule of every displayed name (review 2026-12-07, L5).
        let name = crate::names::display_name(&params.document_name, MAX_NAME_CHARS)
            .map_err(|e| invalid_request(format!("document_name {e} (1 to 200 characters)")))?;
        let name = name.as_str();
        let time_stamp = match params.time_stamp.as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(invalid_request("time_stamp must be true or false")),
        };
        let (digest_alg, digest, pdf) = match (&params.hash, &params.hash_alg, &params.pdf) {
            (Some(hash), Some(alg), None) => {
                let alg = DigestAlg::parse(alg).ok_or_else(|| {
                    invalid_request("hash_alg must be SHA-256, SHA-384 or SHA-512")
                })?;
                let digest = URL_SAFE_NO_PAD
                    .decode(hash.trim_end_matches('='))
                    .map_err(|_| invalid_request("hash must be base64url"))?;
                if digest.len() != alg.digest_len() {
                    return Err(invalid_request(format!(
                        "a {} hash is {} bytes, not {}",
                        alg.as_str(),
                        alg.digest_len(),
                        digest.len()
                    )));
                }
                (alg, digest, None)
            }
            (None, None, Some(pdf)) => {
                let bytes = STANDARD
                    .decode(pdf)
                    .map_err(|_| invalid_request("pdf must be base64"))?;
                if bytes.len() > MAX_PDF_BYTES {
                    return Err(invalid_request("the PDF is larger than 10 MiB"));
                }
                crate::pki::pdf::check(&bytes).map_err(|e| invalid_request(e.to_string()))?;
                let digest = DigestAlg::Sha256.digest(&bytes);
                (DigestAlg::Sha256, digest, Some(pdf.clone()))
            }
            _ => return Err(invalid_request("send either hash and hash_alg, or pdf")),
        };
        self.limit_here(
            "signing_requests_per_citizen",
            format!("{}\n{citizen}", client.client_id).as_bytes(),
            self.config.limits.signing_requests_per_citizen,
            now,
        )?;
        // Signing needs a proven-in-person account: refuse now rather than after the phone.
        let account = self
            .store
            .citizen(&citizen)?
            .ok_or_else(|| Error::Internal("an active access token names no citizen".into()))?;
        if account.status != crate::account::AccountStatus::Active
            || account.level != Some(crate::account::Level::Plus)
        {
            return Err(oauth(
                OAuthErrorCode::AccessDenied,
                "this citizen's account cannot sign: signing needs an active account proven in person (level plus)",
            )
            .into());
        }
        let request_id = Uuid::new_v4().to_string();
        let document = Document {
            name: name.to_owned(),
            digest_alg: digest_alg.as_str().to_owned(),
            digest: b64url(&digest),
            pdf,
            time_stamp,
        };
        let record = SigningRequestRecord {
            request_id: request_id.clone(),
            client_id: client.client_id.clone(),
            citizen_id: citizen,
            document: self
                .derived
                .data
                .seal_json(Aad::SigningRequest(&request_id), &document)?,
            verification_code: verification_code(),
            status: SigningStatus::Pending,
            created_at: now,
            expires_at: now + SIGNING_WINDOW,
            decided_at: None,
            device_id: None,
            certificate_serial: None,
            result: None,
        };
        self.store.insert_signing_request(&record)?;
        tracing::info!(target: "eid::security", event = "signing.requested", client_id = %client.client_id, request = %request_id, "signing requested");
        Ok(SigningRequestCreated {
            request_id,
            verification_code: record.verification_code,
            expires_in: SIGNING_WINDOW.unsigned_abs(),
            interval: POLL_INTERVAL,
        })
    }

    /// Ends a request unsigned (declined, or the wrong code picked): the phone's use is
    /// recorded, and the request moves `pending -> declined` with `event`.
    fn end_unsigned(
        &self,
        request_id: &str,
        device: &crate::store::DeviceRecord,
        passkey: &str,
        event: crate::store::AuditRecord,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.record_use(device, passkey, now)?;
        let outcome = SigningOutcome {
            status: SigningStatus::Declined,
            device_id: &device.device_id,
            certificate_serial: None,
            result: None,
            now,
        };
        if !self
            .store
            .finish_signing_request(request_id, &outcome, &[event])?
        {
            return Err(Error::Gone("signing request"));
        }
        Ok(())
    }

    fn open_document(&self, record: &SigningRequestRecord) -> Result<Document, Error> {
        self.derived
            .data
            .open_json(Aad::SigningRequest(&record.request_id), &record.document)
    }

    /// `POST /signing/result`: the signature once the citizen approved.
    pub fn signing_result(
        &self,
        basic: Option<(String, String)>,
        form: &SigningResultForm,
        now: UnixTime,
    ) -> Result<SigningResult, Error> {
        let client = self.signing_client(basic.as_ref(), &form.client, now)?;
        let record = self
            .store
            .signing_request(&form.request.request_id)?
            .filter(|r| r.client_id == client.client_id)
            .ok_or_else(|| invalid_request("no such signing request for this client"))?;
        match record.status {
            SigningStatus::Pending if record.expires_at <= now => Err(oauth(
                OAuthErrorCode::ExpiredToken,
                "the citizen did not answer in time: the signing request expired",
            )
            .into()),
            SigningStatus::Pending => Err(oauth(
                OAuthErrorCode::AuthorizationPending,
                "the citizen has not answered yet",
            )
            .into()),
            SigningStatus::Declined => Err(oauth(
                OAuthErrorCode::AccessDenied,
                "the citizen declined to sign, or picked another verification code than the one shown",
            )
            .into()),
            SigningStatus::Signed => {
                let sealed = record
                    .result
                    .as_deref()
                    .ok_or_else(|| Error::Internal("a signed request has no result".into()))?;
                let signed: Signed = self
                    .derived
                    .data
                    .open_json(Aad::SigningRequest(&record.request_id), sealed)?;
                Ok(SigningResult {
                    request_id: record.request_id,
                    status: "signed".into(),
                    signature: signed.signature,
                    signed_pdf: signed.signed_pdf,
                    certificate: signed.certificate,
                    certificate_chain: signed.chain,
                    certificate_serial: record.certificate_serial.unwrap_or_default(),
                    time_stamped: signed.time_stamped,
                    signed_at: record.decided_at.map_or(0, UnixTime::secs),
                })
            }
        }
    }

    /// The nonce a signing approval's challenge commits under.
    fn signing_nonce(&self, request_id: &str) -> [u8; 32] {
        self.derived
            .logins
            .hash(&[b"signing nonce", request_id.as_bytes()])
    }

    /// The three codes the phone offers for a request: its own and two others, all distinct,
    /// derived from the request's id under a server key so that every fetch shows the same
    /// three in the same order, and the order (drawn like the login's numbers) does not tell
    /// which is the request's.
    fn offered_codes(&self, record: &SigningRequestRecord) -> Vec<String> {
        offered_codes(&record.verification_code, |parts| {
            let mut all: Vec<&[u8]> = vec![b"signing codes", record.request_id.as_bytes()];
            all.extend_from_slice(parts);
            self.derived.logins.hash(&all)
        })
    }

    fn signing_options(&self, request_id: &str) -> Result<RequestChallengeResponse, Error> {
        let (mut options, _) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting WebAuthn authentication: {e}")))?;
        options.public_key.challenge = self.signing_nonce(request_id).to_vec();
        Ok(options)
    }

    /// `GET /api/v1/signing-requests`: the account's pending requests, as the phone shows
    /// them.
    pub fn pending_signing_requests(
        &self,
        session: &WalletSessionRecord,
        now: UnixTime,
    ) -> Result<SigningRequestList, Error> {
        let mut requests = Vec::new();
        for record in self
            .store
            .pending_signing_requests(&session.citizen_id, now)?
        {
            let Some(client) = self.store.client(&record.client_id)? else {
                continue;
            };
            let document = self.open_document(&record)?;
            let redirect_host = client
                .redirect_uris
                .first()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            requests.push(SigningRequestView {
                options: self.signing_options(&record.request_id)?,
                verification_codes: self.offered_codes(&record),
                request_id: record.request_id,
                service: ServiceInfo {
                    logo_uri: client.metadata.logo_uri.clone(),
                    policy_uri: client.metadata.policy_uri.clone(),
                    tos_uri: client.metadata.tos_uri.clone(),
                    client_id: client.client_id.into_string(),
                    name: client.name,
                    redirect_host,
                },
                document_name: document.name,
                hash_alg: document.digest_alg,
                hash: document.digest,
                pdf: document.pdf.is_some(),
                expires_in: (record.expires_at - now).max(0).unsigned_abs(),
                danger_software_keys_sign: self.config.attestation.signing_min_key_protection
                    == crate::attestation::MinKeyProtection::Software,
            });
        }
        Ok(SigningRequestList { requests })
    }

    /// `GET /api/v1/signing-requests/{id}/document`: the PDF a pending request of the
    /// session's account asks the citizen to sign, for the phone to show (it checks it against
    /// the digest in the view before showing it). Another account's request is not found;
    /// a decided or expired one is gone.
    pub fn signing_document(
        &self,
        session: &WalletSessionRecord,
        request_id: &str,
        now: UnixTime,
    ) -> Result<Vec<u8>, Error> {
        let record = self
            .store
            .signing_request(request_id)?
            .filter(|r| r.citizen_id == session.citizen_id)
            .ok_or(Error::NotFound("signing request"))?;
        if record.status != SigningStatus::Pending || record.expires_at <= now {
            return Err(Error::Gone("signing request"));
        }
        let pdf = self.open_document(&record)?.pdf.ok_or(Error::NotFound(
            "document: the service sent only its digest",
        ))?;
        STANDARD
            .decode(pdf)
            .map_err(|_| Error::Internal("a stored PDF does not decode".into()))
    }

    /// `POST /api/v1/signing-requests/{id}`: the citizen's signed decision.
    pub fn answer_signing_request(
        &self,
        request_id: &str,
        submission: &SigningSubmission,
        now: UnixTime,
    ) -> Result<ApprovalResult, Error> {
        let record = self
            .store
            .signing_request(request_id)?
            .ok_or(Error::NotFound("signing request"))?;
        if record.status != SigningStatus::Pending || record.expires_at <= now {
            return Err(Error::Gone("signing request"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(submission.decision.as_bytes())
            .map_err(|_| Error::invalid("decision", "is not base64url"))?;
        let decision: SigningDecision = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("decision", format!("is not a signing decision: {e}")))?;
        if decision.request_id != request_id {
            return Err(Error::invalid(
                "decision",
                "answers another signing request",
            ));
        }
        let document = self.open_document(&record)?;
        if decision.hash_alg != document.digest_alg || decision.hash != document.digest {
            return Err(Error::invalid(
                "decision",
                "approves another document (the hash differs)",
            ));
        }
        let challenge = committed_challenge(SIGNING_LABEL, &self.signing_nonce(request_id), &bytes);
        let state = self.discoverable_state(&challenge)?;
        let (device, account, passkey) =
            self.verify_assertion(&submission.credential, state, now)?;
        if device.citizen_id != record.citizen_id {
            tracing::warn!(target: "eid::security", event = "signing.wrong_account", request = %request_id, device_id = %device.device_id, "a device of another account answered a signing request");
            return Err(Error::Forbidden(
                "this signing request is for another account".into(),
            ));
        }
        let account_level = crate::devices::usable_level(&account)?;
        // A signature is the citizen's own act: only a phone whose key meets the signing
        // policy approves one, at the level a login with that key reaches (H1 of the
        // 2026-12-07 review: the account's level alone is not enough).
        let protection = KeyProtection::from_stored(device.attestation.as_deref());
        let signing_key = self
            .config
            .attestation
            .signing_min_key_protection
            .met_by(&protection)
            && self.approval_level(account_level, &protection) >= Level::Plus;
        if let Err(refused) = authority::permit(
            self.device_credential(&device, now),
            AuthorityAction::ApproveSignature,
            &Facts {
                signing_key,
                ..Facts::default()
            },
        ) {
            tracing::warn!(target: "eid::security", event = "signing.key_refused", request = %request_id, device_id = %device.device_id, "a device without the authority to sign answered a signing request");
            return Err(refused);
        }
        let actor = Actor::Citizen {
            device_id: Some(device.device_id.clone().into_string()),
        };
        let document_digest = format!("{}:{}", document.digest_alg, document.digest);
        let detail = |serial: Option<&str>| Detail {
            client_id: Some(record.client_id.clone().into_string()),
            signing_request: Some(request_id.to_owned()),
            document_digest: Some(document_digest.clone()),
            certificate_serial: serial.map(str::to_owned),
            ..Detail::default()
        };
        match decision.answer.as_str() {
            "decline" => {
                let event = self.record(
                    Event::new("document.declined", &actor)
                        .citizen(&device.citizen_id)
                        .device(&device.device_id)
                        .detail(detail(None)),
                    now,
                )?;
                self.end_unsigned(request_id, &device, &passkey, event, now)?;
                tracing::info!(target: "eid::security", event = "signing.declined", request = %request_id, device_id = %device.device_id, "the citizen declined to sign");
                return Ok(ApprovalResult {
                    status: "declined".into(),
                });
            }
            "approve" => {}
            _ => {
                return Err(Error::invalid(
                    "decision.answer",
                    "must be approve or decline",
                ))
            }
        }
        // As a login's wrong number: a code other than the service's (or none) means the
        // citizen is not looking at what the service shows, or guessed; the request ends
        // unsigned, recorded, and the service hears `access_denied`.
        if decision.code.as_deref() != Some(record.verification_code.as_str()) {
            let event = self.record(
                Event::new("document.wrong_code", &actor)
                    .citizen(&device.citizen_id)
                    .device(&device.device_id)
                    .detail(Detail {
                        reason: Some("wrong_code".to_owned()),
                        ..detail(None)
                    }),
                now,
            )?;
            self.end_unsigned(request_id, &device, &passkey, event, now)?;
            tracing::warn!(target: "eid::security", event = "signing.wrong_code", client_id = %record.client_id, request = %request_id, device_id = %device.device_id, "wrong verification code picked: signing request stopped");
            return Err(Error::WrongCode);
        }
        let signed = self.sign_document(&record.citizen_id, &document, now)?;
        self.record_use(&device, &passkey, now)?;
        let serial = signed.0.serial.clone();
        let event = self.record(
            Event::new("document.signed", &actor)
                .citizen(&device.citizen_id)
                .device(&device.device_id)
                .detail(detail(Some(&serial))),
            now,
        )?;
        let sealed = self
            .derived
            .data
            .seal_json(Aad::SigningRequest(request_id), &signed.1)?;
        let outcome = SigningOutcome {
            status: SigningStatus::Signed,
            device_id: &device.device_id,
            certificate_serial: Some(&serial),
            result: Some(&sealed),
            now,
        };
        if !self
            .store
            .finish_signing_request(request_id, &outcome, &[event])?
        {
            return Err(Error::Gone("signing request"));
        }
        tracing::info!(target: "eid::security", event = "document.signed", client_id = %record.client_id, request = %request_id, device_id = %device.device_id, certificate = %serial, "document signed");
        Ok(ApprovalResult {
            status: "signed".into(),
        })
    }

    /// Signs an approved document: a detached signature over its digest, or the PDF signed
    /// in place; time-stamped when asked.
    fn sign_document(
        &self,
        citizen: &CitizenId,
        document: &Document,
        now: UnixTime,
    ) -> Result<(crate::store::CertificateRecord, Signed), Error> {
        let authority = self.authority()?;
        let chain = vec![
            STANDARD.encode(&authority.issuing.certificate.der),
            STANDARD.encode(&authority.root.der),
        ];
        let (certificate, signature, signed_pdf, time_stamped) = match &document.pdf {
            None => {
                let (certificate, mut built) = self.sign_digest(
                    citizen,
                    document.alg()?,
                    &document.digest_bytes()?,
                    Some(now),
                    now,
                )?;
                if document.time_stamp {
                    let token = self.time_stamp_token(
                        DigestAlg::Sha256,
                        &DigestAlg::Sha256.digest(&built.signature_value()?),
                        None,
                        now,
                    )?;
                    built.add_time_stamp(&token)?;
                }
                (certificate, built.to_der()?, None, document.time_stamp)
            }
            Some(pdf) => {
                let pdf = STANDARD
                    .decode(pdf)
                    .map_err(|_| Error::Internal("a stored PDF does not decode".into()))?;
                let (certificate, signature, signed) =
                    self.sign_pdf(citizen, &pdf, document.time_stamp, now)?;
                (
                    certificate,
                    signature,
                    Some(STANDARD.encode(signed)),
                    document.time_stamp,
                )
            }
        };
        Ok((
            certificate.clone(),
            Signed {
                signature: STANDARD.encode(signature),
                signed_pdf,
                certificate: STANDARD.encode(&certificate.der),
                chain,
                time_stamped,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(seed: &str) -> impl Fn(&[&[u8]]) -> [u8; 32] + '_ {
        move |parts| {
            let mut input = seed.as_bytes().to_vec();
            for part in parts {
                input.extend_from_slice(part);
            }
            crate::crypto::sha256(&input)
        }
    }

    #[test]
    fn three_distinct_codes_are_offered_the_right_one_among_them_the_same_each_time() {
        for seed in ["a", "b", "c", "d", "e", "f"] {
            let codes = offered_codes("K7QM", draw(seed));
            assert_eq!(codes.len(), 3);
            assert_eq!(codes.iter().filter(|c| *c == "K7QM").count(), 1);
            assert!(codes[0] != codes[1] && codes[1] != codes[2] && codes[0] != codes[2]);
            assert!(codes
                .iter()
                .all(|c| c.len() == 4 && c.bytes().all(|b| CODE_ALPHABET.contains(&b))));
            assert_eq!(codes, offered_codes("K7QM", draw(seed)), "stable");
        }
    }

    #[test]
    fn the_right_code_is_found_in_every_place() {
        let places: std::collections::BTreeSet<usize> = (0..60)
            .map(|i| {
                let seed = format!("request {i}");
                let codes = offered_codes("K7QM", draw(&seed));
                codes.iter().position(|c| c == "K7QM").unwrap_or(9)
            })
            .collect();
        assert_eq!(places, [0, 1, 2].into_iter().collect());
    }

    #[test]
    fn decoys_never_repeat_the_right_code_even_when_the_draw_does() {
        // A draw that yields the correct code's bytes everywhere (the alphabet's 'A' is 0).
        let codes = offered_codes("AAAA", |parts| {
            let mut h = [0u8; 32];
            if let Some(round) = parts.get(1) {
                h[4..8].copy_from_slice(&[1, 1, 1, 1]);
                h[8..12].copy_from_slice(&[2, 2, 2, round.last().copied().unwrap_or(0)]);
            }
            h
        });
        assert_eq!(codes.iter().filter(|c| *c == "AAAA").count(), 1);
        assert_eq!(codes.len(), 3);
    }
}
