//! Document signing: a relying party asks a citizen to sign a document (its digest, or a PDF),
//! the citizen approves on the phone, and the relying party fetches the signature.
//!
//! 1. The service (client-authenticated, allowed to sign) creates a request naming the citizen
//!    by the `sub` it knows, the document's name and digest; it gets a short verification code
//!    to show beside the document.
//! 2. The phone lists the account's pending requests (wallet session): the service, the
//!    document's name, the code, the digest. The citizen approves or declines with a
//!    discoverable WebAuthn assertion whose challenge commits, under the request's nonce, to
//!    the decision's bytes, which carry the digest: an approval cannot be replayed for
//!    another request or another document.
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
use crate::authority::{self, Action as AuthorityAction, Facts};
use crate::ceremony::committed_challenge;
use crate::crypto::{b64url, Aad};
use crate::ids::CitizenId;
use crate::oidc::client_auth::ClientAuthParams;
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

/// A verification code: four characters from an alphabet without look-alikes.
fn verification_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 4] = crate::crypto::random_bytes();
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
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

    /// The pairwise-subject sector of a client (as in `pairwise_sub`).
    pub(crate) fn subject_sector(client: &ClientRecord) -> String {
        match &client.metadata.sector {
            Some(host) => format!("sector:{host}"),
            None => client.client_id.to_string(),
        }
    }

    /// After a login of a client that may ask for signatures: remember which citizen its
    /// `sub` names, so that it can name the citizen in a signing request. The login has
    /// succeeded by then: a failure here is logged, and the client's signing requests for this
    /// citizen are refused until a later login records it.
    pub(crate) fn remember_signing_subject(
        &self,
        client: &ClientRecord,
        citizen: &CitizenId,
        now: UnixTime,
    ) {
        if !client.metadata.signing {
            return;
        }
        let sub = self.pairwise_sub(client, citizen);
        if let Err(e) =
            self.store
                .remember_subject(&Self::subject_sector(client), &sub, citizen, now)
        {
            tracing::warn!(client_id = %client.client_id, error = %e, "the signing subject could not be recorded");
        }
    }

    /// `POST /signing/requests`.
    pub fn create_signing_request(
        &self,
        basic: Option<(String, String)>,
        form: &SigningRequestForm,
        now: UnixTime,
    ) -> Result<SigningRequestCreated, Error> {
        let client = self.signing_client(basic.as_ref(), &form.client, now)?;
        let params = &form.request;
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
        let sector = Self::subject_sector(&client);
        let citizen = self.store.subject(&sector, &params.sub)?.ok_or_else(|| {
            Error::from(oauth(
                OAuthErrorCode::InvalidRequest,
                "sub names no citizen who has logged in to this client",
            ))
        })?;
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
            .ok_or_else(|| invalid_request("sub names no citizen"))?;
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
            SigningStatus::Declined => {
                Err(oauth(OAuthErrorCode::AccessDenied, "the citizen declined to sign").into())
            }
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
                verification_code: record.verification_code,
                pdf: document.pdf.is_some(),
                expires_in: (record.expires_at - now).max(0).unsigned_abs(),
                danger_software_keys_sign: self.config.attestation.signing_min_key_protection
                    == crate::attestation::MinKeyProtection::Software,
            });
        }
        Ok(SigningRequestList { requests })
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
                self.record_use(&device, &passkey, now)?;
                let event = self.record(
                    Event::new("document.declined", &actor)
                        .citizen(&device.citizen_id)
                        .device(&device.device_id)
                        .detail(detail(None)),
                    now,
                )?;
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
