//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3.2).

use eid_proto::oauth::TokenResponse;

use super::{Grant, TokenParams};
use crate::account::AccountStatus;
use crate::crypto::{ct_eq, sha256};
use crate::login::request_ref;
use crate::oidc::{oauth, pkce};
use crate::store::{ClientRecord, LoginState};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

impl Provider {
    pub(super) fn authorization_code_grant(
        &self,
        client: &ClientRecord,
        params: &TokenParams,
        jkt: Option<&str>,
        now: UnixTime,
    ) -> Result<TokenResponse, Error> {
        use OAuthErrorCode::*;
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| oauth(InvalidRequest, "code is required"))?;
        let invalid_code = || {
            oauth(
                InvalidGrant,
                "the authorization code is invalid, expired or was issued to another client",
            )
        };
        let (request, account_status) = self
            .store
            .auth_request_by_code(&sha256(code.as_bytes()))?
            .filter(|(r, _)| r.client_id == client.client_id)
            .ok_or_else(invalid_code)?;
        let (approval, code_expires_at) = match &request.login {
            LoginState::CodeIssued {
                approval,
                code_expires_at,
                ..
            } => (approval, *code_expires_at),
            LoginState::Redeemed { .. } => {
                // RFC 6749 §4.1.2: a replayed code revokes what was issued from it.
                let revoked = self.store.revoke_token_family(&request.request_id)?;
                tracing::warn!(target: "eid::security", event = "code_replayed", client_id = %client.client_id, request = %request_ref(&request.request_id), revoked, "authorization code replayed; tokens revoked");
                return Err(oauth(
                    InvalidGrant,
                    "the authorization code was already used; tokens issued from it are revoked",
                )
                .into());
            }
            _ => return Err(invalid_code().into()),
        };
        if code_expires_at <= now {
            return Err(invalid_code().into());
        }
        if params.redirect_uri.as_deref() != Some(request.redirect_uri.as_str()) {
            return Err(oauth(
                InvalidGrant,
                "redirect_uri does not match the authorization request",
            )
            .into());
        }
        let verifier = params
            .code_verifier
            .as_deref()
            .ok_or_else(|| oauth(InvalidGrant, "code_verifier is required (PKCE)"))?;
        if !pkce::verifier_matches(verifier, &request.code_challenge) {
            return Err(oauth(
                InvalidGrant,
                "PKCE verification failed: code_verifier does not match code_challenge",
            )
            .into());
        }
        // RFC 9449 §10: a code bound to a key is redeemed only with a proof by that key.
        if let Some(bound) = request.dpop_jkt.as_deref() {
            if jkt.is_none_or(|k| !ct_eq(k.as_bytes(), bound.as_bytes())) {
                return Err(oauth(
                    InvalidDpopProof,
                    "the DPoP proof's key is not the one the authorization request was bound to (dpop_jkt)",
                )
                .into());
            }
        }
        // A suspended or closed account's codes and tokens stop working.
        if account_status != Some(AccountStatus::Active) {
            return Err(oauth(InvalidGrant, "the citizen's account is not active").into());
        }
        let grant = Grant {
            jkt,
            ..Grant::of_login(&request, approval, now + self.config.refresh_token_max_ttl)
        };
        let issued = self.issue_tokens(client, &grant, request.nonce.as_deref(), now)?;
        if !self.store.redeem_code(
            &request.request_id,
            Some(&issued.access),
            issued.refresh.as_ref(),
        )? {
            // Another request redeemed it first.
            return Err(oauth(InvalidGrant, "the authorization code was already used").into());
        }
        Ok(issued.response)
    }
}
