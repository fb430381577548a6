//! The token endpoint (RFC 6749 §3.2, OIDC Core §3.1.3): the client authenticates, then the
//! grant is dispatched by `grant_type`, a module per grant.

use eid_proto::oauth::TokenResponse;
use serde::Deserialize;

use crate::claims::{granted_scope, userinfo_claims, Scope, Scopes};
use crate::crypto::{random_token, sha256};
use crate::oidc::client_auth::ClientAuthParams;
use crate::oidc::dpop::ProofTarget;
use crate::oidc::id_token::IdTokenContent;
use crate::oidc::oauth;
use crate::store::{
    AccessTokenRecord, Approval, AuthRequestRecord, ClientRecord, RefreshTokenRecord,
};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

mod authorization_code;
mod implicit;
mod refresh;

/// Token request parameters (RFC 6749 §4.1.3 and §2.3.1).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    /// The refresh grant (RFC 6749 §6).
    pub refresh_token: Option<String>,
    /// A narrower scope for a refresh (RFC 6749 §6).
    pub scope: Option<String>,
    #[serde(flatten)]
    pub client: ClientAuthParams,
}

impl Provider {
    /// The token endpoint. `basic` carries HTTP Basic credentials, already form-decoded
    /// (RFC 6749 §2.3.1); `dpop` the request's DPoP proof (RFC 9449), to whose key the tokens
    /// are then bound.
    pub fn token(
        &self,
        basic: Option<(String, String)>,
        params: &TokenParams,
        dpop: Option<&str>,
        now: UnixTime,
    ) -> Result<TokenResponse, Error> {
        use OAuthErrorCode::*;
        // The proof first: a client told to use a nonce (RFC 9449 §8) retries with its client
        // assertion still unspent.
        let target = ProofTarget {
            method: "POST",
            path: "/token",
            access_token: None,
        };
        let jkt = dpop
            .map(|proof| self.verify_dpop_proof(proof, &target, now))
            .transpose()?;
        let client = self.authenticate_client(basic.as_ref(), &params.client, now)?;
        if jkt.is_none() && client.requires_dpop() {
            return Err(oauth(
                InvalidRequest,
                "this client's tokens are DPoP-bound: send a DPoP proof (RFC 9449)",
            )
            .into());
        }
        let jkt = jkt.as_deref();
        match params.grant_type.as_deref() {
            None | Some("") => Err(oauth(InvalidRequest, "grant_type is required").into()),
            Some(grant @ ("authorization_code" | "refresh_token"))
                if !client.allows_grant(grant) =>
            {
                Err(oauth(
                    UnauthorizedClient,
                    format!("the client did not register the {grant} grant"),
                )
                .into())
            }
            Some("authorization_code") => self.authorization_code_grant(&client, params, jkt, now),
            Some("refresh_token") => self.refresh_grant(&client, params, jkt, now),
            Some(_) => Err(oauth(
                UnsupportedGrantType,
                "only authorization_code and refresh_token are supported",
            )
            .into()),
        }
    }

    /// The tokens a grant issues: an access token, an ID token when `openid` is granted, and
    /// a refresh token of the grant's family when offline access is.
    fn issue_tokens(
        &self,
        client: &ClientRecord,
        grant: &Grant<'_>,
        nonce: Option<&str>,
        now: UnixTime,
    ) -> Result<Issued, Error> {
        let access_token = match client.metadata.jwt_access_tokens {
            true => self.jwt_access_token(client, grant, now)?,
            false => random_token(),
        };
        let id_token = match grant.scope.contains(Scope::OpenId) {
            true => {
                let extra = self.id_token_claims(client, grant)?;
                let content = IdTokenContent {
                    approval: grant.approval,
                    sid: grant.family_id,
                    nonce,
                    access_token: Some(&access_token),
                    extra,
                };
                Some(self.id_token(client, content, now)?)
            }
            false => None,
        };
        let access = AccessTokenRecord {
            token_hash: sha256(access_token.as_bytes()).to_vec(),
            request_id: grant.family_id.to_owned(),
            client_id: client.client_id.clone(),
            citizen_id: grant.approval.citizen_id.clone(),
            scope: grant.scope,
            expires_at: now + self.config.access_token_ttl,
            claims: grant.claims.clone(),
            jkt: grant.jkt.map(str::to_owned),
        };
        let (refresh_token, refresh) = if grant.new_refresh
            && grant.family_scope.contains(Scope::OfflineAccess)
            && client.allows_grant("refresh_token")
        {
            let token = random_token();
            let approval = grant.approval;
            let record = RefreshTokenRecord {
                token_hash: sha256(token.as_bytes()).to_vec(),
                family_id: grant.family_id.to_owned(),
                client_id: client.client_id.clone(),
                citizen_id: approval.citizen_id.clone(),
                device_id: approval.device_id.clone(),
                scope: grant.family_scope,
                claims: grant.claims.clone(),
                acr: approval.acr,
                amr: approval.amr.clone(),
                auth_time: approval.auth_time,
                issued_at: now,
                expires_at: (now + self.config.refresh_token_idle_ttl).min(grant.family_expires_at),
                family_expires_at: grant.family_expires_at,
                used_at: None,
            };
            (Some(token), Some(record))
        } else {
            (None, None)
        };
        Ok(Issued {
            response: TokenResponse {
                access_token,
                token_type: match grant.jkt {
                    Some(_) => "DPoP".into(),
                    None => "Bearer".into(),
                },
                expires_in: self.config.access_token_ttl.unsigned_abs(),
                id_token,
                refresh_token,
                scope: grant.scope.to_string(),
            },
            access,
            refresh,
        })
    }
}

impl Provider {
    /// An access token as a JWT (RFC 9068 §2): `typ: at+jwt`, signed with the client's ID
    /// token algorithm by eid's published keys, naming the citizen by the client's pairwise
    /// `sub`. Its `aud` is the client: eid takes no resource indicators (RFC 8707), so the
    /// default resource (RFC 9068 §3) is the client's own resource servers, and one service's
    /// token is not acceptable to another's (security review 2026-12-07, L6). eid's userinfo
    /// finds it by its hash, like an opaque one, so revocation and introspection work the same.
    fn jwt_access_token(
        &self,
        client: &ClientRecord,
        grant: &Grant<'_>,
        now: UnixTime,
    ) -> Result<String, Error> {
        let alg = crate::keys::JwsAlg::parse(&client.id_token_alg).ok_or_else(|| {
            Error::Internal(format!("client {} has an unknown alg", client.client_id))
        })?;
        let approval = grant.approval;
        let mut claims = serde_json::json!({
            "iss": self.config.issuer_str(),
            "exp": now + self.config.access_token_ttl,
            "aud": client.client_id,
            "sub": self.pairwise_sub(client, &approval.citizen_id),
            "client_id": client.client_id,
            "iat": now,
            "jti": random_token(),
            "scope": grant.scope.to_string(),
            "auth_time": approval.auth_time,
            "acr": approval.acr.acr(),
            "amr": approval.amr.split(' ').collect::<Vec<_>>(),
        });
        if let Some(jkt) = grant.jkt {
            claims["cnf"] = serde_json::json!({ "jkt": jkt });
        }
        crate::keys::sign_jwt_typed(self.token_keys().as_ref(), alg, "at+jwt", &claims)
    }

    /// The claims the client asked to find in the ID token (the `claims` parameter's
    /// `id_token` member) that the citizen shared, proven values only.
    fn id_token_claims(
        &self,
        client: &ClientRecord,
        grant: &Grant<'_>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
        let shared: Vec<&str> = grant.claims.split(' ').collect();
        let wanted: Vec<&str> = grant
            .id_token_claims
            .iter()
            .map(String::as_str)
            .filter(|c| shared.contains(c))
            .collect();
        if wanted.is_empty() {
            return Ok(serde_json::Map::new());
        }
        let citizen_id = &grant.approval.citizen_id;
        let released = userinfo_claims(
            self.pairwise_sub(client, citizen_id),
            &self.profile(citizen_id)?,
            &wanted.join(" "),
        );
        Ok(match released {
            serde_json::Value::Object(mut map) => {
                map.remove("sub");
                map
            }
            _ => serde_json::Map::new(),
        })
    }
}

/// What a grant established, from which tokens are issued.
struct Grant<'a> {
    /// The authorization request that started the grant.
    family_id: &'a str,
    approval: &'a Approval,
    /// What this response grants.
    scope: Scopes,
    /// What the grant holds: its refresh tokens keep it.
    family_scope: Scopes,
    /// The claims userinfo releases, space-separated.
    claims: String,
    /// The shared claims the ID token carries too (asked for with the `claims` parameter).
    id_token_claims: &'a [String],
    family_expires_at: UnixTime,
    /// The key this response's access token is bound to (RFC 9449): the token request's
    /// proof's. Refresh tokens are not bound: a confidential client's are held to it by its
    /// authentication (§5), and a client may change keys between refreshes.
    jkt: Option<&'a str>,
    /// Whether a new refresh token is issued (a FAPI 2.0 client keeps its one).
    new_refresh: bool,
}

impl<'a> Grant<'a> {
    /// The grant a login established: what the citizen chose to share on the phone, and the
    /// scopes that covers (RFC 6749 §3.3: the granted scope may be narrower than the requested
    /// one); a new refresh token when offline access is among them, bound to no key.
    fn of_login(
        request: &'a AuthRequestRecord,
        approval: &'a Approval,
        family_expires_at: UnixTime,
    ) -> Self {
        let scope = granted_scope(request.scope, &approval.granted);
        Self {
            family_id: &request.request_id,
            approval,
            scope,
            family_scope: scope,
            claims: approval.granted.clone(),
            id_token_claims: &request.claims.id_token,
            family_expires_at,
            jkt: None,
            new_refresh: true,
        }
    }
}

/// Tokens issued, with the records to store.
struct Issued {
    response: TokenResponse,
    access: AccessTokenRecord,
    refresh: Option<RefreshTokenRecord>,
}
