//! Logout: RP-initiated (OIDC RP-Initiated Logout 1.0), back-channel (OIDC Back-Channel
//! Logout 1.0) and front-channel (OIDC Front-Channel Logout 1.0).
//!
//! Each login has its own `sid` (its request id; the ID token carries it), and belongs to the
//! browser's single sign-on session ([`crate::sso`]) that opened or answered it. A logout ends
//! that session: the access tokens of every login it holds are deleted (refresh tokens for
//! offline access outlive a logout, OIDC Core §11; the client revokes them at `/revoke`), a
//! signed logout token is queued for every client that registered a `backchannel_logout_uri`,
//! and the page eid shows loads the `frontchannel_logout_uri` of the others. The server
//! delivers the queue, retrying with growing delays.
//!
//! A request that names the citizen's login (`id_token_hint`) and comes from that citizen's
//! browser (its session cookie) ends the browser's session at once. A hint without that
//! cookie (a relying party's server, anyone holding one of its ID tokens, another browser)
//! ends only the hinted client's login: its access tokens, and its back-channel notice; the
//! shared session and the other services' logins stay (security review 2026-12-07, L4). A
//! request without a hint is confirmed by the person first (§2: the OP should ask), so that no
//! other site can sign a citizen out by sending their browser here.
//!
//! Expired hints are accepted (§2: the OP SHOULD accept an ID token whose `exp` has passed when
//! its RP has or recently had a session), and their age is not limited: without the browser's
//! cookie a hint reaches no further than its own client's login, whose tokens an old hint's
//! login has mostly outlived anyway.
//!
//! The browser is sent back only to a `post_logout_redirect_uri` the client registered, exactly,
//! and only when the request names the client (`id_token_hint` or `client_id`); otherwise eid
//! shows its own page.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::audit::Actor;
use crate::crypto::{ct_eq, random_token};
use crate::keys::{sign_jwt_typed, JwsAlg};
use crate::oidc::oauth;
use crate::sso::{BrowserContext, EndReason, Ended};
use crate::store::{BrowserSessionRecord, ClientRecord, LogoutDeliveryRecord};
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

/// The RP-initiated logout request (§2), and the confirmation eid's page sends back.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub logout_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// The person confirmed on eid's page (`yes`), with the page's anti-CSRF token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Where the browser goes after a logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutNext {
    /// Back to the client's registered `post_logout_redirect_uri`, with `state`.
    Redirect(Url),
    /// eid's own "signed out" page (no registered URI was asked for, or the client is unknown).
    Page { client_name: Option<String> },
    /// The request did not name the login: the person confirms on eid's page (a form posting
    /// `params` back with `confirm=yes` and `csrf_token`).
    Confirm {
        client_name: Option<String>,
        csrf_token: String,
        params: LogoutParams,
    },
}

/// What a logout did and where the browser goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutOutcome {
    pub next: LogoutNext,
    /// Relying parties' front-channel logout pages the browser must load first.
    pub frontchannel: Vec<Url>,
    /// Whether the browser's session ended here (its cookie is removed).
    pub ended_browser_session: bool,
}

fn bad_request(description: &str) -> Error {
    oauth(OAuthErrorCode::InvalidRequest, description).into()
}

impl Provider {
    /// The end-session endpoint (RP-Initiated Logout §2–3).
    pub fn end_session(
        &self,
        params: &LogoutParams,
        browser: &BrowserContext,
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
        let current = self.browser_session(browser.session.as_deref(), now)?;
        let mut ended = Ended::default();
        let mut ended_browser_session = false;
        match (&hint, &current) {
            (Some(hint), _) => {
                let hinted_session = match hint.sid.as_deref() {
                    Some(sid) => self.store.session_of_login(sid)?,
                    None => None,
                };
                let citizen = match (&hinted_session, hint.sid.as_deref()) {
                    (Some(session), _) => Some(session.citizen_id.to_string()),
                    (None, Some(sid)) => self.citizen_of_login(sid)?,
                    (None, None) => None,
                };
                // The hint's citizen signed in in this browser: its session ends, with every
                // login it holds (RP-Initiated Logout §2: no need to ask).
                let browser_session = current.as_ref().filter(|s| {
                    citizen.as_deref() == Some(s.citizen_id.as_str())
                        || client
                            .as_ref()
                            .is_some_and(|c| self.pairwise_sub(c, &s.citizen_id) == hint.sub)
                });
                if let Some(session) = browser_session {
                    crate::authority::permit(
                        crate::authority::Credential::BrowserSession,
                        crate::authority::Action::EndSessions,
                        &crate::authority::Facts::default(),
                    )?;
                    ended
                        .frontchannel
                        .extend(self.end_signed_out(session, now)?.frontchannel);
                    ended_browser_session = true;
                }
                // Any other way (no cookie, another session's): the hinted login alone.
                let ended_with_browser = browser_session.is_some_and(|b| {
                    hinted_session
                        .as_ref()
                        .is_some_and(|h| h.session_id == b.session_id)
                });
                if let (Some(sid), false) = (hint.sid.as_deref(), ended_with_browser) {
                    self.end_client_login(sid, client.as_ref(), citizen.as_deref(), now)?;
                }
            }
            (None, Some(session)) => {
                let confirmed = params.confirm.as_deref() == Some("yes")
                    && params.csrf_token.as_deref().is_some_and(|t| {
                        ct_eq(
                            t.as_bytes(),
                            self.session_csrf(&session.session_id).as_bytes(),
                        )
                    });
                if !confirmed {
                    return Ok(LogoutOutcome {
                        next: LogoutNext::Confirm {
                            client_name: client.map(|c| c.name),
                            csrf_token: self.session_csrf(&session.session_id),
                            params: LogoutParams {
                                confirm: None,
                                csrf_token: None,
                                ..params.clone()
                            },
                        },
                        frontchannel: Vec::new(),
                        ended_browser_session: false,
                    });
                }
                ended = self.end_signed_out(session, now)?;
                ended_browser_session = true;
            }
            (None, None) => {}
        }
        let next = match back {
            Some(url) => LogoutNext::Redirect(url),
            None => LogoutNext::Page {
                client_name: client.map(|c| c.name),
            },
        };
        Ok(LogoutOutcome {
            next,
            frontchannel: ended.frontchannel,
            ended_browser_session,
        })
    }

    fn end_signed_out(
        &self,
        session: &BrowserSessionRecord,
        now: UnixTime,
    ) -> Result<Ended, Error> {
        let actor = Actor::Citizen {
            device_id: Some(session.device_id.clone().into_string()),
        };
        self.end_browser_session(session, EndReason::SignedOut, &actor, now)
    }

    /// Ends the login `sid` names and nothing else: its access tokens go, and its client is
    /// told on the back channel (for `citizen_id`, whose login it was while eid still knows).
    /// The session that holds it, if any, and its other logins stay.
    fn end_client_login(
        &self,
        sid: &str,
        client: Option<&ClientRecord>,
        citizen_id: Option<&str>,
        now: UnixTime,
    ) -> Result<(), Error> {
        // The client's ID token names this login: it ends that login alone.
        crate::authority::permit(
            crate::authority::Credential::Client,
            crate::authority::Action::EndSessions,
            &crate::authority::Facts {
                own_logins: true,
                ..crate::authority::Facts::default()
            },
        )?;
        let revoked = self.store.revoke_access_tokens_of(sid)?;
        tracing::info!(target: "eid::security", event = "logout", client_id = ?client.map(|c| &c.client_id), revoked, "a login ended at the client's request");
        if let (Some(client), Some(citizen_id)) = (client, citizen_id) {
            self.queue_backchannel_logouts(&[(client, citizen_id, Some(sid))], now)?;
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

    /// Logout tokens due for delivery at `now`, each taken by this node for one attempt. A
    /// retry carries the same claims signed again with a fresh `iat`, `exp` and `jti`: a token
    /// lives [`LOGOUT_TOKEN_TTL`] seconds, while retries go on for hours.
    pub fn take_due_logouts(&self, now: UnixTime) -> Result<Vec<LogoutDeliveryRecord>, Error> {
        let mut taken = Vec::new();
        for mut delivery in self.store.due_logouts(now, 50)? {
            if self.store.lease_logout(
                &delivery.delivery_id,
                delivery.next_attempt_at,
                now + LEASE,
            )? {
                if delivery.attempts > 0 {
                    delivery.logout_token = self.fresh_logout_token(&delivery, now)?;
                }
                taken.push(delivery);
            }
        }
        Ok(taken)
    }

    /// A queued logout token's claims signed again as of `now`.
    fn fresh_logout_token(
        &self,
        delivery: &LogoutDeliveryRecord,
        now: UnixTime,
    ) -> Result<String, Error> {
        let corrupt = || Error::Internal("a queued logout token does not read".into());
        let payload = delivery
            .logout_token
            .split('.')
            .nth(1)
            .ok_or_else(corrupt)?;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&crate::crypto::b64url_decode(payload).ok_or_else(corrupt)?)
                .map_err(|_| corrupt())?;
        claims["iat"] = now.secs().into();
        claims["exp"] = (now + LOGOUT_TOKEN_TTL).secs().into();
        claims["jti"] = random_token().into();
        let alg = match self.store.client(&delivery.client_id)? {
            Some(client) => JwsAlg::parse(&client.id_token_alg).unwrap_or(JwsAlg::Rs256),
            None => JwsAlg::Rs256,
        };
        sign_jwt_typed(self.token_keys().as_ref(), alg, "logout+jwt", &claims)
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
