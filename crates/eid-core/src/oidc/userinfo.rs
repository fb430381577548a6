//! The userinfo endpoint (OIDC Core §5.3): the claims the citizen shared, proven values only.

use crate::account::AccountStatus;
use crate::claims::userinfo_claims;
use crate::crypto::sha256;
use crate::oidc::oauth;
use crate::{Error, OAuthErrorCode, Provider};

impl Provider {
    /// The userinfo endpoint (OIDC Core §5.3): the claims the citizen shared.
    pub fn userinfo(&self, access_token: &str, now: i64) -> Result<serde_json::Value, Error> {
        let token = self
            .store
            .access_token(&sha256(access_token.as_bytes()))?
            .filter(|t| t.expires_at > now)
            .ok_or_else(|| {
                oauth(
                    OAuthErrorCode::InvalidToken,
                    "the access token is invalid, expired or revoked",
                )
            })?;
        if self.store.client(&token.client_id)?.is_none() {
            return Err(oauth(OAuthErrorCode::InvalidToken, "the client was removed").into());
        }
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
        Ok(userinfo_claims(
            self.pairwise_sub(&token.client_id, &token.citizen_id),
            &profile,
            &token.claims,
        ))
    }
}
