//! The refresh grant (RFC 6749 §6, OIDC Core §12) with rotation and reuse detection: each use
//! spends the token and returns a new one; presenting a spent token again means two parties
//! hold it, so the whole grant (every refresh and access token of its family) is revoked
//! (RFC 9700 §4.14.2).

use eid_proto::oauth::TokenResponse;

use super::{Grant, TokenParams};
use crate::account::AccountStatus;
use crate::claims::Scopes;
use crate::crypto::sha256;
use crate::login::request_ref;
use crate::oidc::oauth;
use crate::store::{Approval, ClientRecord, Renewal, Rotation};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

impl Provider {
    pub(super) fn refresh_grant(
        &self,
        client: &ClientRecord,
        params: &TokenParams,
        jkt: Option<&str>,
        now: UnixTime,
    ) -> Result<TokenResponse, Error> {
        use OAuthErrorCode::*;
        let presented = params
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| oauth(InvalidRequest, "refresh_token is required"))?;
        let invalid = || {
            oauth(
                InvalidGrant,
                "the refresh token is invalid, expired, revoked or was issued to another client",
            )
        };
        let hash = sha256(presented.as_bytes());
        let (token, account_status) = self
            .store
            .refresh_token(&hash)?
            .filter(|(t, _)| t.client_id == client.client_id)
            .ok_or_else(invalid)?;
        if token.used_at.is_some() {
            return Err(self
                .refresh_reused(&token.family_id, &client.client_id)?
                .into());
        }
        if token.expires_at <= now || token.family_expires_at <= now {
            return Err(invalid().into());
        }
        if account_status != Some(AccountStatus::Active) {
            return Err(oauth(InvalidGrant, "the citizen's account is not active").into());
        }
        // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
        let scope = match params.scope.as_deref() {
            None => token.scope,
            Some(asked) => {
                let asked = Scopes::from_stored(asked).ok_or_else(|| {
                    oauth(InvalidScope, "the scope names a scope eid does not know")
                })?;
                if asked.iter().any(|s| !token.scope.contains(s)) {
                    return Err(oauth(
                        InvalidScope,
                        "the scope exceeds the one the citizen granted",
                    )
                    .into());
                }
                asked
            }
        }
        // `sign` is not renewed: a service asks for signatures only with the access tokens of
        // a login, which signing out and withdrawing consent end (review 2026-12-07, L1).
        .renewable();
        let approval = Approval {
            citizen_id: token.citizen_id.clone(),
            device_id: token.device_id.clone(),
            auth_time: token.auth_time,
            acr: token.acr,
            amr: token.amr.clone(),
            granted: token.claims.clone(),
        };
        let grant = Grant {
            family_id: &token.family_id,
            approval: &approval,
            scope,
            // A narrower refresh narrows this response only: the grant keeps its scope.
            family_scope: token.scope,
            claims: token.claims.clone(),
            id_token_claims: &[],
            family_expires_at: token.family_expires_at,
            jkt,
            // FAPI 2.0 §5.3.2.1 (9): no rotation, lest a client that misses the answer lose
            // its grant; its refresh token is held to it by private_key_jwt.
            new_refresh: !client.is_fapi2(),
        };
        let issued = self.issue_tokens(client, &grant, None, now)?;
        let renewal = match (issued.refresh.as_ref(), grant.new_refresh) {
            (Some(next), true) => Renewal::Rotate(next),
            (None, false) => Renewal::Extend(
                (now + self.config.refresh_token_idle_ttl).min(token.family_expires_at),
            ),
            _ => return Err(Error::Internal("a refresh without a renewal".into())),
        };
        match self
            .store
            .renew_refresh_token(&hash, now, renewal, &issued.access)?
        {
            Rotation::Rotated => Ok(issued.response),
            Rotation::AlreadyUsed => Err(self
                .refresh_reused(&token.family_id, &client.client_id)?
                .into()),
            Rotation::DeviceGone => {
                self.store.revoke_token_family(&token.family_id)?;
                Err(oauth(
                    InvalidGrant,
                    "the device that approved this grant was removed from the account",
                )
                .into())
            }
        }
    }

    /// A spent refresh token came back: revoke its family.
    fn refresh_reused(&self, family_id: &str, client_id: &str) -> Result<crate::OAuthError, Error> {
        let revoked = self.store.revoke_token_family(family_id)?;
        tracing::warn!(target: "eid::security", event = "refresh_token_reused", client_id = %client_id, grant = %request_ref(family_id), revoked, "a spent refresh token was presented again: its grant is revoked");
        Ok(oauth(
            OAuthErrorCode::InvalidGrant,
            "the refresh token was already used; every token of its grant is revoked",
        ))
    }
}
