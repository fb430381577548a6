//! The phone's approval of a login request: the seam every way of logging in finishes through.
//!
//! A login request carries a WebAuthn challenge of its own. The phone fetches what the request
//! asks for, and approves with a discoverable assertion over that challenge: its credential
//! names the device, its user handle must be the one the device was created with, and the
//! device's account must be active, proven, and at the level the service asked for.

use eid_proto::api::{ApprovalRequest, ClaimDescription, PublicKeyCredential, ServiceInfo};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{DiscoverableAuthentication, RequestChallengeResponse};

use crate::claims::scope_descriptions;
use crate::crypto::Aad;
use crate::devices::usable_level;
use crate::error::AccountRefusal;
use crate::store::{ApprovalRecord, AuthRequestRecord, RequestStatus};
use crate::{Error, OAuthErrorCode, Provider};

/// A login request's approval challenge, sealed at rest.
#[derive(Serialize, Deserialize)]
pub(crate) struct ApprovalState {
    pub(crate) authentication: DiscoverableAuthentication,
    pub(crate) options: RequestChallengeResponse,
}

/// The authentication methods (RFC 8176) an approval verifies: possession of a key bound to
/// the account. Without attestation nothing shows the key is hardware-held or that the phone
/// verified its user, so no more is claimed.
pub(crate) const APPROVAL_AMR: &str = "swk";

impl Provider {
    /// A login request still waiting for the phone, with its approval challenge.
    fn pending_approval(
        &self,
        request_id: &str,
        now: i64,
    ) -> Result<(AuthRequestRecord, ApprovalState), Error> {
        let request = self
            .store
            .auth_request(request_id)?
            .ok_or(Error::NotFound("login request"))?;
        let sealed = match (&request.status, &request.approval_state) {
            (RequestStatus::Pending, Some(state)) if request.expires_at > now => state,
            _ => return Err(Error::Gone("login request")),
        };
        let state = self
            .derived
            .data
            .open_json(Aad::AuthRequest(request_id), sealed)?;
        Ok((request, state))
    }

    /// What a login request asks for, and its challenge: the phone shows this before approving.
    pub fn approval_request(&self, request_id: &str, now: i64) -> Result<ApprovalRequest, Error> {
        let (request, state) = self.pending_approval(request_id, now)?;
        let client = self
            .store
            .client(&request.client_id)?
            .ok_or(Error::Gone("login request"))?;
        let scopes: Vec<String> = request.scope.split(' ').map(str::to_owned).collect();
        Ok(ApprovalRequest {
            request_id: request.request_id,
            service: ServiceInfo {
                client_id: client.client_id,
                name: client.name,
            },
            claims: scope_descriptions(&scopes)
                .into_iter()
                .map(|t| ClaimDescription {
                    scope: t.scope.to_owned(),
                    en: t.en.to_owned(),
                    zh_hant: t.zh_hant.to_owned(),
                })
                .collect(),
            scopes,
            expires_in: (request.expires_at - now).unsigned_abs(),
            required_level: request.required_level.map(|l| l.as_str().to_owned()),
            options: state.options,
        })
    }

    /// The phone approves a login request with an assertion over the request's own challenge.
    pub fn approve(
        &self,
        request_id: &str,
        credential: &PublicKeyCredential,
        now: i64,
    ) -> Result<(), Error> {
        let (request, state) = self.pending_approval(request_id, now)?;
        let (device, account, passkey) =
            self.verify_assertion(credential, state.authentication, now)?;
        let level = usable_level(&account)?;
        if let Some(required) = request.required_level.filter(|r| level < *r) {
            // The client asked for more than this account has: the login fails with the
            // OIDC error rather than going on at a lower level.
            self.store.deny_auth_request(
                request_id,
                RequestStatus::Pending,
                OAuthErrorCode::UnmetAuthenticationRequirements.as_str(),
            )?;
            return Err(Error::AccountRefused(AccountRefusal::LevelTooLow {
                required,
                actual: level,
            }));
        }
        self.record_use(&device, &passkey, now)?;
        let approved = self.store.approve_auth_request(
            request_id,
            &ApprovalRecord {
                citizen_id: device.citizen_id.clone(),
                device_id: device.device_id.clone(),
                auth_time: now,
                acr: level,
                amr: APPROVAL_AMR.to_owned(),
            },
        )?;
        if !approved {
            return Err(Error::Gone("login request"));
        }
        tracing::info!(device_id = %device.device_id, "login approved on device");
        Ok(())
    }
}
