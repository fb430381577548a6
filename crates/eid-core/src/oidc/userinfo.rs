//! The userinfo endpoint (OIDC Core §5.3): the claims the citizen shared, proven values only.

use crate::account::AccountStatus;
use crate::claims::userinfo_claims;
use crate::crypto::sha256;
use crate::keys::{sign_jwt, JwsAlg};
use crate::oidc::dpop::{PresentedToken, ProofTarget};
use crate::oidc::oauth;
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

impl Provider {
    /// The userinfo endpoint (OIDC Core §5.3): the claims the citizen shared, as JSON, or as a
    /// JWT signed for the client when it registered `userinfo_signed_response_alg` (§5.3.2).
    /// A DPoP-bound token comes with a proof for this request (`method`, RFC 9449 §7).
    pub fn userinfo(
        &self,
        presented: &PresentedToken,
        method: &str,
        now: UnixTime,
    ) -> Result<UserinfoResponse, Error> {
        let token = self
            .store
            .access_token(&sha256(presented.token().as_bytes()))?
            .filter(|t| t.expires_at > now)
            .ok_or_else(|| {
                oauth(
                    OAuthErrorCode::InvalidToken,
                    "the access token is invalid, expired or revoked",
                )
            })?;
        let target = ProofTarget {
            method,
            path: "/userinfo",
            access_token: None,
        };
        self.check_token_binding(presented, token.jkt.as_deref(), target, now)?;
        let Some(client) = self.store.client(&token.client_id)? else {
            return Err(oauth(OAuthErrorCode::InvalidToken, "the client was removed").into());
        };
        let sealed = match self.store.account_profile(&token.citizen_id)? {
            Some((AccountStatus::Active, Some(sealed))) => sealed,
            _ => {
                return Err(oauth(
                    OAuthErrorCode::InvalidToken,
                    "the citizen's account is not active",
                )
                .into())
            }
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
