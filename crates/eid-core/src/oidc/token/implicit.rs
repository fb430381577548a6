//! The implicit flow's response (OIDC Core §3.2.2.5): the tokens go back through the browser
//! instead of a code. Offered only where the operator switched on `danger_implicit_flow`, to
//! clients that registered the response type; never a refresh token, never DPoP-bound.

use super::Grant;
use crate::oidc::id_token::IdTokenContent;
use crate::oidc::{ClientResponse, ResponseType};
use crate::store::{Approval, AuthRequestRecord};
use crate::time::UnixTime;
use crate::{Error, Provider};

impl Provider {
    /// The tokens for an approved implicit login whose code step `issue_code` has just passed
    /// (so the device, the completion window and a pushed request were checked as for a code),
    /// stored with the login marked as redeemed. `None` when another browser request already
    /// answered it.
    pub(crate) fn implicit_response(
        &self,
        request: &AuthRequestRecord,
        approval: &Approval,
        now: UnixTime,
    ) -> Result<Option<ClientResponse>, Error> {
        let client = self.store.client(&request.client_id)?.ok_or_else(|| {
            Error::Internal(format!("client {} of a login is gone", request.client_id))
        })?;
        let grant = Grant {
            new_refresh: false,
            ..Grant::of_login(request, approval, now)
        };
        let nonce = request.nonce.as_deref();
        let (params, access) = match request.response_type {
            ResponseType::IdTokenToken => {
                let issued = self.issue_tokens(&client, &grant, nonce, now)?;
                let response = issued.response;
                let mut params = vec![
                    ("access_token", response.access_token),
                    ("token_type", response.token_type),
                    ("expires_in", response.expires_in.to_string()),
                    ("scope", response.scope),
                ];
                params.extend(response.id_token.map(|t| ("id_token", t)));
                (params, Some(issued.access))
            }
            // No access token, so no userinfo: what the citizen shared goes in the ID token
            // (OIDC Core §5.4).
            ResponseType::IdToken => {
                let shared: Vec<String> = approval
                    .granted
                    .split(' ')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                let grant = Grant {
                    id_token_claims: &shared,
                    ..grant
                };
                let content = IdTokenContent {
                    approval,
                    sid: &request.request_id,
                    nonce,
                    access_token: None,
                    extra: self.id_token_claims(&client, &grant)?,
                };
                let id_token = self.id_token(&client, content, now)?;
                (vec![("id_token", id_token)], None)
            }
            ResponseType::Code => {
                return Err(Error::Internal(
                    "a code flow login reached the implicit response".into(),
                ))
            }
        };
        if !self
            .store
            .redeem_code(&request.request_id, access.as_ref(), None)?
        {
            return Ok(None);
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Ok(Some(self.client_redirect(
            &request.redirect_uri,
            &params,
            request.state.as_deref(),
            request.response_mode,
        )?))
    }
}
