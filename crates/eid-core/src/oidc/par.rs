//! Pushed authorization requests (RFC 9126): the client posts the authorization parameters
//! (or a request object) directly, authenticated; eid checks them as `/authorize` would and
//! answers with a single-use `request_uri` valid for a minute, which the browser then carries
//! to `/authorize` alone. Nothing of the request travels through the browser, and the request
//! is known to come from the client.

use eid_proto::oauth::ParResponse;

use crate::oidc::authorize::{check_authorization_params, AuthorizationParams};
use crate::oidc::client_auth::ClientAuthParams;
use crate::oidc::dpop::ProofTarget;
use crate::oidc::oauth;
use crate::store::CeremonyPurpose;
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// The prefix of the request URIs eid hands out (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a pushed request waits for the browser.
pub const PAR_TTL: i64 = 60;

impl Provider {
    /// The pushed authorization request endpoint (RFC 9126 §2). A DPoP proof (`dpop`) binds
    /// the code to its key, as `dpop_jkt` would (RFC 9449 §10.1).
    pub fn push_authorization_request(
        &self,
        basic: Option<(String, String)>,
        auth: &ClientAuthParams,
        params: &AuthorizationParams,
        dpop: Option<&str>,
        now: UnixTime,
    ) -> Result<ParResponse, Error> {
        use OAuthErrorCode::*;
        let target = ProofTarget {
            method: "POST",
            path: "/par",
            access_token: None,
        };
        let proof_jkt = dpop
            .map(|proof| self.verify_dpop_proof(proof, &target, now))
            .transpose()?;
        let client = self.authenticate_client(basic.as_ref(), auth, now)?;
        if params.request_uri.is_some() {
            return Err(oauth(
                InvalidRequest,
                "request_uri may not be pushed (RFC 9126 §2.1)",
            )
            .into());
        }
        if params
            .client_id
            .as_deref()
            .is_some_and(|id| client.client_id != id)
        {
            return Err(oauth(
                InvalidRequest,
                "client_id differs from the authenticated client",
            )
            .into());
        }
        let params = match &params.request {
            Some(object) => self.open_request_object(&client, object, params, now)?,
            None => params.clone(),
        };
        let Some(redirect_uri) = params.redirect_uri.as_deref() else {
            return Err(oauth(InvalidRequest, "redirect_uri is required").into());
        };
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(oauth(
                InvalidRequest,
                "redirect_uri does not exactly match a registered one",
            )
            .into());
        }
        let request = check_authorization_params(&params)?;
        self.check_response_type(&client, request.response_type)?;
        let dpop_jkt = match (proof_jkt, params.dpop_jkt.clone()) {
            (Some(proof), Some(named)) if proof != named => {
                return Err(oauth(
                    InvalidDpopProof,
                    "dpop_jkt is not the thumbprint of the DPoP proof's key",
                )
                .into())
            }
            (proof, named) => proof.or(named),
        };
        let pushed = AuthorizationParams {
            client_id: Some(client.client_id.clone().into_string()),
            request: None,
            dpop_jkt,
            ..params
        };
        let id = self.put_ceremony(
            CeremonyPurpose::Par,
            Some(client.client_id.clone().into_string()),
            &pushed,
            now + PAR_TTL,
        )?;
        Ok(ParResponse {
            request_uri: format!("{REQUEST_URI_PREFIX}{id}"),
            expires_in: PAR_TTL,
        })
    }

    /// The parameters pushed under `request_uri` for `client_id`. The URI is not spent here:
    /// it may open the login again (a reload, the browser coming back) until a code is issued
    /// from one of them ([`Provider::spend_pushed_request`]).
    pub(crate) fn pushed_request(
        &self,
        client_id: &str,
        request_uri: &str,
        now: UnixTime,
    ) -> Result<AuthorizationParams, Error> {
        let invalid = || {
            oauth(
                OAuthErrorCode::InvalidRequestUri,
                "the request_uri is unknown, expired, already used or another client's",
            )
        };
        let id = request_uri
            .strip_prefix(REQUEST_URI_PREFIX)
            .ok_or_else(invalid)?;
        match self.peek_ceremony::<AuthorizationParams>(
            id,
            CeremonyPurpose::Par,
            "pushed request",
            now,
        ) {
            Ok((ceremony, params)) if ceremony.subject_id.as_deref() == Some(client_id) => {
                Ok(AuthorizationParams {
                    pushed_id: Some(id.to_owned()),
                    ..params
                })
            }
            Ok(_) | Err(Error::Gone(_)) => Err(invalid().into()),
            Err(e) => Err(e),
        }
    }

    /// Spends the pushed request a login was opened from, as a code is issued from it; false
    /// when a code was issued from it already (another login opened from the same URI).
    pub(crate) fn spend_pushed_request(&self, id: &str, now: UnixTime) -> Result<bool, Error> {
        let first = self.store.first_use("par", id, now + PAR_TTL + 86_400)?;
        self.store.take_ceremony(id, CeremonyPurpose::Par)?;
        Ok(first)
    }
}
