//! The userinfo endpoint (OIDC Core §5.3): the claims the citizen shared, proven values only.

use crate::account::AccountStatus;
use crate::claims::userinfo_claims;
use crate::crypto::sha256;
use crate::keys::{sign_jwt, JwsAlg};
use crate::oidc::dpop::{PresentedToken, ProofTarget};
use crate::oidc::oauth;
use crate::store::{AccessTokenRecord, ClientRecord};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// What userinfo answers.
#[derive(Debug, Clone, PartialEq)]
pub enum UserinfoResponse {
    /// `application/json`.
    Json(serde_json::Value),
    /// `application/jwt`: signed for the client.
    Jwt(String),
}

fn invalid_token() -> crate::OAuthError {
    oauth(
        OAuthErrorCode::InvalidToken,
        "the access token is invalid, expired or revoked",
    )
}

fn inactive_account() -> crate::OAuthError {
    oauth(
        OAuthErrorCode::InvalidToken,
        "the citizen's account is not active",
    )
}

impl Provider {
    /// An access token presented to one of eid's resources (userinfo, the signing API), and
    /// its client: the one check of whether it is valid and active, so that every resource
    /// refuses the same tokens. It must be stored (revoking it, signing out, withdrawing
    /// consent, removing the device that approved its login, a replayed code delete it),
    /// unexpired, presented as its binding requires (a DPoP-bound token with a proof for
    /// `target`, RFC 9449 §7), of a client that still exists, for an active account. A JWT
    /// access token is found by its hash like an opaque one, so the same holds for it.
    pub(crate) fn active_access_token(
        &self,
        presented: &PresentedToken,
        target: ProofTarget<'_>,
        now: UnixTime,
    ) -> Result<(AccessTokenRecord, ClientRecord), Error> {
        let token = self
            .store
            .access_token(&sha256(presented.token().as_bytes()))?
            .filter(|t| t.expires_at > now)
            .ok_or_else(invalid_token)?;
        self.check_token_binding(presented, token.jkt.as_deref(), target, now)?;
        let Some(client) = self.store.client(&token.client_id)? else {
            return Err(oauth(OAuthErrorCode::InvalidToken, "the client was removed").into());
        };
        if !matches!(
            self.store.citizen(&token.citizen_id)?.map(|c| c.status),
            Some(AccountStatus::Active)
        ) {
            return Err(inactive_account().into());
        }
        Ok((token, client))
    }

    /// The userinfo endpoint (OIDC Core §5.3): the claims the citizen shared, as JSON, or as a
    /// JWT signed for the client when it registered `userinfo_signed_response_alg` (§5.3.2).
    /// A DPoP-bound token comes with a proof for this request (`method`, RFC 9449 §7).
    pub fn userinfo(
        &self,
        presented: &PresentedToken,
        method: &str,
        now: UnixTime,
    ) -> Result<UserinfoResponse, Error> {
        let target = ProofTarget {
            method,
            path: "/userinfo",
            access_token: None,
        };
        let (token, client) = self.active_access_token(presented, target, now)?;
        let Some((AccountStatus::Active, Some(sealed))) =
            self.store.account_profile(&token.citizen_id)?
        else {
            return Err(inactive_account().into());
        };
        let profile = self.open_profile(&token.citizen_id, &sealed)?;
        let mut claims = userinfo_claims(
            self.pairwise_sub(&client, &token.citizen_id),
            &profile,
            &token.claims,
        );
        let Some(alg) = client
            .metadata
            .userinfo_signed_response_alg
            .as_deref()
            .and_then(JwsAlg::parse)
        else {
            return Ok(UserinfoResponse::Json(claims));
        };
        claims["iss"] = self.config.issuer_str().into();
        claims["aud"] = client.client_id.as_str().into();
        Ok(UserinfoResponse::Jwt(sign_jwt(
            self.token_keys().as_ref(),
            alg,
            &claims,
        )?))
    }
}
