//! Logout: RP-initiated (OIDC RP-Initiated Logout 1.0) and back-channel (OIDC Back-Channel
//! Logout 1.0).
//!
//! Every eid login is its own session: the ID token's `sid` names it. Ending it revokes the
//! access tokens it issued (refresh tokens for offline access outlive a logout, OIDC Core §11;
//! the client revokes them at `/revoke`) and queues a signed logout token for every client
//! that registered a `backchannel_logout_uri` and holds something of it. The server delivers
//! the queue, retrying with growing delays.
//!
//! The browser is sent back only to a `post_logout_redirect_uri` the client registered, exactly,
//! and only when the request names the client (`id_token_hint` or `client_id`); otherwise eid
//! shows its own page.

use serde::Deserialize;
use url::Url;

use crate::crypto::random_token;
use crate::keys::{sign_jwt_typed, JwsAlg};
use crate::oidc::oauth;
use crate::store::{ClientRecord, LogoutDeliveryRecord};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// The `events` member of a back-channel logout token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Delivery attempts before a logout token is given up.
pub const MAX_LOGOUT_ATTEMPTS: i64 = 8;

/// How long a node holds a delivery while it sends it.
const LEASE: i64 = 60;

/// A logout token lives this long.
const LOGOUT_TOKEN_TTL: i64 = 120;

/// The RP-initiated logout request (§2).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub logout_hint: Option<String>,
    pub ui_locales: Option<String>,
}

/// Where the browser goes after a logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// Back to the client's registered `post_logout_redirect_uri`, with `state`.
    Redirect(Url),
    /// eid's own "signed out" page (no registered URI was asked for, or the client is unknown).
    Page { client_name: Option<String> },
}

fn bad_request(description: &str) -> Error {
    oauth(OAuthErrorCode::InvalidRequest, description).into()
}

impl Provider {
    /// The end-session endpoint (RP-Initiated Logout §2–3).
    pub fn end_session(
        &self,
        params: &LogoutParams,
        now: UnixTime,
    ) -> Result<LogoutOutcome, Error> {
        let hint = match &params.id_token_hint {
            Some(hint) => Some(self.read_id_token_hint(hint, now)?),
            None => None,
        };
        let client_id = match (&hint, &params.client_id) {
            (Some(h), Some(id)) if h.client_id != *id => {
                return Err(bad_request(
                    "client_id differs from the audience of the id_token_hint",
                ))
            }
            (Some(h), _) => Some(h.client_id.clone()),
            (None, id) => id.clone(),
        };
        let client = match &client_id {
            Some(id) => self.store.client(id)?,
            None => None,
        };
        // The return address is checked before anything ends: a refused request changes
        // nothing.
        let back = match &params.post_logout_redirect_uri {
            None => None,
            Some(uri) => {
                // §3: the URI must have been registered by the client the request names.
                let Some(client) = &client else {
                    return Err(bad_request(
                        "post_logout_redirect_uri needs the client to be known (id_token_hint or client_id)",
                    ));
                };
                if !client
                    .metadata
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r == uri)
                {
                    return Err(bad_request(
                        "post_logout_redirect_uri is not one the client registered",
                    ));
                }
                let mut url = Url::parse(uri)
                    .map_err(|e| Error::Internal(format!("stored post-logout URI: {e}")))?;
                if let Some(state) = &params.state {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url)
            }
        };
        if let Some(sid) = hint.as_ref().and_then(|h| h.sid.as_deref()) {
            self.end_login(sid, client.as_ref(), now)?;
        }
        let Some(url) = back else {
            return Ok(LogoutOutcome::Page {
                client_name: client.map(|c| c.name),
            });
        };
        Ok(LogoutOutcome::Redirect(url))
    }

    /// Ends one login: its access tokens go, and the clients told.
    fn end_login(
        &self,
        sid: &str,
        client: Option<&ClientRecord>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let revoked = self.store.revoke_access_tokens_of(sid)?;
        tracing::info!(target: "eid::security", event = "logout", client_id = ?client.map(|c| &c.client_id), revoked, "a login ended at the client's request");
        if let Some(client) = client {
            if let Some(citizen_id) = self.citizen_of_login(sid)? {
                self.queue_backchannel_logouts(&[(client, &citizen_id, Some(sid))], now)?;
            }
        }
        Ok(())
    }

    /// The citizen a login was approved for, while eid still knows it.
    fn citizen_of_login(&self, sid: &str) -> Result<Option<String>, Error> {
        Ok(self
            .store
            .auth_request(sid)?
            .and_then(|r| r.login.approval().map(|a| a.citizen_id.to_string())))
    }

    /// Queues a logout token for each (client, citizen, session) whose client registered a
    /// back-channel logout URI.
    pub(crate) fn queue_backchannel_logouts(
        &self,
        ended: &[(&ClientRecord, &str, Option<&str>)],
        now: UnixTime,
    ) -> Result<(), Error> {
        let mut deliveries = Vec::new();
        for (client, citizen_id, sid) in ended {
            let Some(uri) = &client.metadata.backchannel_logout_uri else {
                continue;
            };
            let alg = JwsAlg::parse(&client.id_token_alg).unwrap_or(JwsAlg::Rs256);
            let mut claims = serde_json::json!({
                "iss": self.config.issuer_str(),
                "aud": client.client_id,
                "iat": now,
                "exp": now + LOGOUT_TOKEN_TTL,
                "jti": random_token(),
                "sub": self.pairwise_sub(client, citizen_id),
                "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
            });
            if let Some(sid) = sid {
                claims["sid"] = (*sid).into();
            }
            deliveries.push(LogoutDeliveryRecord {
                delivery_id: random_token(),
                client_id: client.client_id.clone(),
                uri: uri.clone(),
                logout_token: sign_jwt_typed(
                    self.token_keys().as_ref(),
                    alg,
                    "logout+jwt",
                    &claims,
                )?,
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
            });
        }
        self.store.queue_logouts(&deliveries)?;
        Ok(())
    }

    /// Logout tokens due for delivery at `now`, each taken by this node for one attempt.
    pub fn take_due_logouts(&self, now: UnixTime) -> Result<Vec<LogoutDeliveryRecord>, Error> {
        let mut taken = Vec::new();
        for delivery in self.store.due_logouts(now, 50)? {
            if self.store.lease_logout(
                &delivery.delivery_id,
                delivery.next_attempt_at,
                now + LEASE,
            )? {
                taken.push(delivery);
            }
        }
        Ok(taken)
    }

    /// Records the outcome of a delivery attempt: done, or retried after a growing delay (30 s,
    /// 1 min, 2 min, ... up to [`MAX_LOGOUT_ATTEMPTS`], then given up).
    pub fn logout_attempted(
        &self,
        delivery: &LogoutDeliveryRecord,
        delivered: bool,
        now: UnixTime,
    ) -> Result<(), Error> {
        let attempts = delivery.attempts + 1;
        if delivered {
            self.store.remove_logout(&delivery.delivery_id)?;
        } else if attempts >= MAX_LOGOUT_ATTEMPTS {
            tracing::warn!(target: "eid::security", event = "logout.undelivered", client_id = %delivery.client_id, attempts, "a back-channel logout could not be delivered: given up");
            self.store.remove_logout(&delivery.delivery_id)?;
        } else {
            let delay = 30i64 << (attempts - 1).clamp(0, 10);
            self.store
                .logout_attempt_failed(&delivery.delivery_id, attempts, now + delay)?;
        }
        Ok(())
    }
}
