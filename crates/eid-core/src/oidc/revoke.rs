//! Token revocation (RFC 7009) and introspection (RFC 7662). Both take a token from an
//! authenticated client, and both treat a token issued to another client as unknown: one
//! relying party learns nothing about another's tokens (and so nothing about the citizen's
//! `sub` there).

use eid_proto::oauth::Confirmation;
use eid_proto::oauth::IntrospectionResponse;
use serde::Deserialize;

use crate::account::AccountStatus;
use crate::crypto::sha256;
use crate::login::request_ref;
use crate::oidc::client_auth::ClientAuthParams;
use crate::oidc::oauth;
use crate::store::{AccessTokenRecord, ClientRecord, RefreshTokenRecord};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// A revocation or introspection request (RFC 7009 §2.1, RFC 7662 §2.1).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
    /// `access_token` or `refresh_token`: where to look first (any other value is ignored).
    pub token_type_hint: Option<String>,
    #[serde(flatten)]
    pub client: ClientAuthParams,
}

/// A token found for the client that holds it.
enum Found {
    Access(AccessTokenRecord),
    Refresh(RefreshTokenRecord),
}

impl Provider {
    /// Authenticates the client and finds the token it names among its own.
    fn held_token(
        &self,
        basic: Option<(String, String)>,
        params: &TokenQuery,
        now: UnixTime,
    ) -> Result<(ClientRecord, Option<Found>), Error> {
        let client = self.authenticate_client(basic.as_ref(), &params.client, now)?;
        let token = params
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| oauth(OAuthErrorCode::InvalidRequest, "token is required"))?;
        let hash = sha256(token.as_bytes());
        let access = |p: &Self| -> Result<Option<Found>, Error> {
            Ok(p.store.access_token(&hash)?.map(Found::Access))
        };
        let refresh = |p: &Self| -> Result<Option<Found>, Error> {
            Ok(p.store
                .refresh_token(&hash)?
                .map(|(t, _)| Found::Refresh(t)))
        };
        let found = match params.token_type_hint.as_deref() {
            Some("refresh_token") => {
                refresh(self)?.map_or_else(|| access(self), |f| Ok(Some(f)))?
            }
            _ => access(self)?.map_or_else(|| refresh(self), |f| Ok(Some(f)))?,
        };
        let found = found.filter(|f| {
            let holder = match f {
                Found::Access(t) => &t.client_id,
                Found::Refresh(t) => &t.client_id,
            };
            let own = *holder == client.client_id;
            if !own {
                tracing::warn!(target: "eid::security", event = "foreign_token_presented", client_id = %client.client_id, "a client presented another client's token for revocation or introspection");
            }
            own
        });
        Ok((client, found))
    }

    /// Revokes a token (RFC 7009 §2.1). A refresh token takes its whole grant with it (every
    /// refresh and access token of its family); an access token goes alone. An unknown,
    /// expired or foreign token is answered the same way: done (§2.2).
    pub fn revoke(
        &self,
        basic: Option<(String, String)>,
        params: &TokenQuery,
        now: UnixTime,
    ) -> Result<(), Error> {
        let (client, found) = self.held_token(basic, params, now)?;
        match found {
            Some(Found::Refresh(token)) => {
                let revoked = self.store.revoke_token_family(&token.family_id)?;
                tracing::info!(target: "eid::security", event = "grant_revoked", client_id = %client.client_id, grant = %request_ref(&token.family_id), revoked, "the client revoked a refresh token and its grant");
            }
            Some(Found::Access(token)) => {
                self.store.revoke_access_token(&token.token_hash)?;
            }
            None => {}
        }
        Ok(())
    }

    /// Introspects a token (RFC 7662 §2.2): active while unexpired, unspent, its client's, and
    /// its account active.
    pub fn introspect(
        &self,
        basic: Option<(String, String)>,
        params: &TokenQuery,
        now: UnixTime,
    ) -> Result<IntrospectionResponse, Error> {
        let (client, found) = self.held_token(basic, params, now)?;
        let inactive = IntrospectionResponse::default();
        let (citizen_id, scope, exp, iat, token_type, facts, jkt) = match &found {
            Some(Found::Access(t)) if t.expires_at > now => {
                let token_type = if t.jkt.is_some() { "DPoP" } else { "Bearer" };
                let jkt = t.jkt.clone();
                (
                    &t.citizen_id,
                    t.scope,
                    t.expires_at,
                    None,
                    token_type,
                    None,
                    jkt,
                )
            }
            Some(Found::Refresh(t))
                if t.used_at.is_none() && t.expires_at > now && t.family_expires_at > now =>
            {
                (
                    &t.citizen_id,
                    t.scope,
                    t.expires_at,
                    Some(t.issued_at),
                    "refresh_token",
                    Some((t.acr, t.auth_time)),
                    None,
                )
            }
            _ => return Ok(inactive),
        };
        if !matches!(
            self.store.citizen(citizen_id)?.map(|c| c.status),
            Some(AccountStatus::Active)
        ) {
            return Ok(inactive);
        }
        Ok(IntrospectionResponse {
            active: true,
            scope: Some(scope.to_string()),
            client_id: Some(client.client_id.clone().into_string()),
            token_type: Some(token_type.to_owned()),
            exp: Some(exp.secs()),
            iat: iat.map(UnixTime::secs),
            sub: Some(self.pairwise_sub(&client, citizen_id)),
            aud: Some(client.client_id.clone().into_string()),
            iss: Some(self.config.issuer_str()),
            acr: facts.map(|(acr, _)| acr.acr().to_owned()),
            auth_time: facts.map(|(_, t)| t.secs()),
            cnf: jkt.map(|jkt| Confirmation { jkt }),
        })
    }
}
