//! ID tokens (OIDC Core §2) and the pairwise subject identifier (§8.1).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::Algorithm;

use crate::crypto::b64url;
use crate::jwt::{self, Expect, Keys};
use crate::keys::{half_hash, sign_jwt, JwsAlg};
use crate::store::{Approval, ClientRecord};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// What an ID token says beyond the client and the time.
pub(crate) struct IdTokenContent<'a> {
    /// The login it is about.
    pub approval: &'a Approval,
    /// The login's session id (its request id).
    pub sid: &'a str,
    pub nonce: Option<&'a str>,
    /// The access token issued with it (`at_hash`); none in an implicit `id_token` response.
    pub access_token: Option<&'a str>,
    /// Claims the client asked to find in it.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Provider {
    /// The pairwise subject identifier (OIDC Core §8.1): a keyed hash of the client (or the
    /// sector it registered, shared by the clients its sector document lists) and the citizen,
    /// so that services cannot correlate a citizen by `sub`.
    pub fn pairwise_sub(&self, client: &ClientRecord, citizen_id: &str) -> String {
        // A client id has no ':', so no client's subjects are a sector's.
        let sector = match &client.metadata.sector {
            Some(host) => format!("sector:{host}"),
            None => client.client_id.to_string(),
        };
        b64url(
            &self
                .derived
                .pairwise
                .hash(&[sector.as_bytes(), citizen_id.as_bytes()]),
        )
    }

    /// An ID token for `client` about the login `approval` established, issued with
    /// `access_token` (whose `at_hash` it carries), signed with the client's algorithm.
    pub(crate) fn id_token(
        &self,
        client: &ClientRecord,
        content: IdTokenContent<'_>,
        now: UnixTime,
    ) -> Result<String, Error> {
        let IdTokenContent {
            approval,
            sid,
            nonce,
            access_token,
            extra,
        } = content;
        let alg = JwsAlg::parse(&client.id_token_alg).ok_or_else(|| {
            Error::Internal(format!(
                "client {} has an unknown id_token_alg {:?}",
                client.client_id, client.id_token_alg
            ))
        })?;
        let mut claims = serde_json::json!({
            "iss": self.config.issuer_str(),
            "sub": self.pairwise_sub(client, &approval.citizen_id),
            "aud": client.client_id,
            "exp": now + self.config.id_token_ttl,
            "iat": now,
            "auth_time": approval.auth_time,
            // The assurance level the account was proven at when it approved.
            "acr": approval.acr.acr(),
            // RFC 8176: only what the approval verified.
            "amr": approval.amr.split(' ').collect::<Vec<_>>(),
            // The login this token comes from (OIDC Back-Channel Logout §2.1): logging out
            // names it.
            "sid": sid,
        });
        if let Some(access_token) = access_token {
            claims["at_hash"] = serde_json::Value::String(half_hash(access_token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = serde_json::Value::String(nonce.to_owned());
        }
        if let serde_json::Value::Object(map) = &mut claims {
            for (name, value) in extra {
                map.entry(name).or_insert(value);
            }
        }
        sign_jwt(self.token_keys().as_ref(), alg, &claims)
    }

    /// Checks an ID token eid issued (expired or not) and reads whose login it names.
    pub(crate) fn read_id_token_hint(&self, hint: &str, now: UnixTime) -> Result<Hint, Error> {
        let keys: JwkSet = serde_json::to_value(self.jwks())
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| Error::Internal("eid's own key set does not read".into()))?;
        let issuer = self.config.issuer_str();
        let (_, claims) = jwt::verify(
            hint,
            &Keys::Jwks(&keys),
            &Expect {
                audiences: &[],
                require_aud: false,
                accept_expired: true,
                ..Expect::strict(
                    &[Algorithm::ES256, Algorithm::RS256],
                    &[],
                    Some(&issuer),
                    i64::MAX / 2,
                    now,
                )
            },
        )
        .map_err(|e| {
            bad_request(&format!(
                "the id_token_hint is not an ID token eid issued: {e}"
            ))
        })?;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let client_id = text("aud")
            .or_else(|| {
                claims
                    .get("aud")
                    .and_then(|v| v.as_array())
                    .and_then(|a| a.first())
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
            .ok_or_else(|| bad_request("the id_token_hint names no audience"))?;
        let sub = text("sub").ok_or_else(|| bad_request("the id_token_hint names no subject"))?;
        Ok(Hint {
            client_id,
            sub,
            sid: text("sid"),
        })
    }
}

/// What an `id_token_hint` says: whose login, at which client, which session.
pub(crate) struct Hint {
    pub client_id: String,
    /// The citizen's pairwise identifier at that client.
    pub sub: String,
    pub sid: Option<String>,
}

fn bad_request(description: &str) -> Error {
    crate::oidc::oauth(crate::OAuthErrorCode::InvalidRequest, description).into()
}
