//! Single sign-on sessions: one per citizen and browser.
//!
//! A session opens when the browser continues a login the phone approved (the code is issued
//! and the session written in one transaction); its cookie's secret is new at every login there
//! (a browser's earlier cookie is never carried into a login, so a planted one gains nothing).
//! While it is valid (not idle [`SessionConfig::idle`] seconds, not older than
//! [`SessionConfig::lifetime`], its device bound and not suspended, its account active), a
//! later authorization request from any relying party is answered without the phone, if the
//! request allows it (`prompt`, `max_age`, `acr_values`, `id_token_hint`) and the citizen's
//! standing consent covers what it asks for ([`Provider::session_approval`]). Otherwise the
//! phone is asked, or, with `prompt=none`, the client hears `login_required` or
//! `consent_required` (OIDC Core §3.1.2.6).
//!
//! Each login a session opened or answered is recorded with it, so that ending the session
//! (signing out here or everywhere, from the account page, the wallet, or the relying party's
//! logout) reaches every relying party it touched: their access tokens from it are deleted, and
//! they are told by back-channel logout where they registered it, by front-channel logout (the
//! page eid shows) otherwise.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::account::Level;
use crate::audit::{Actor, Detail, Event};
use crate::claims::offered_items;
use crate::crypto::{b64url, random_id, random_token, sha256, Aad};
use crate::ids::{CitizenId, ClientId};
use crate::login::{describe_user_agent, Choices};
use crate::oidc::authorize::AuthorizationRequest;
use crate::store::{Approval, BrowserSessionRecord, ClientRecord, SessionLoginRecord};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Seconds without use after which a session ends.
    pub idle: i64,
    /// Seconds after the citizen last authenticated (on the phone) after which it ends.
    pub lifetime: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle: 30 * 60,
            lifetime: 8 * 3600,
        }
    }
}

/// What the browser brings to a request: its session cookie, and its user agent (to name the
/// session in lists).
#[derive(Debug, Clone, Default)]
pub struct BrowserContext {
    pub session: Option<String>,
    pub user_agent: Option<String>,
}

/// A session cookie to set: its secret, and how long the browser should keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    pub secret: String,
    pub max_age: i64,
}

/// Where a session was opened, sealed with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SessionContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    browser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    os: Option<String>,
}

/// A session as the account page and the wallet list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub session_id: String,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub auth_time: UnixTime,
    pub acr: Level,
    /// The services it logged in to (their registered names), in order.
    pub services: Vec<String>,
    /// Whether it is the session of the browser asking.
    pub current: bool,
}

/// Why a session ended, for the account's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The citizen signed out (here, everywhere, or at a relying party).
    SignedOut,
    /// Another citizen logged in in the same browser.
    Replaced,
}

/// A session that ended: where the browser should load front-channel logout pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// The relying parties' `frontchannel_logout_uri`s, with `iss` and `sid` when they asked.
    pub frontchannel: Vec<Url>,
}

impl Ended {
    fn extend(&mut self, other: Ended) {
        self.frontchannel.extend(other.frontchannel);
    }
}

/// Whether a session may answer a request, and if not, why (the error `prompt=none` gets).
pub(crate) enum SessionAnswer {
    /// Answer it with this approval.
    Approve(Approval),
    /// The citizen must authenticate again (on the phone): `login_required`.
    LoginRequired,
    /// The citizen must decide on sharing (on the phone): `consent_required`.
    ConsentRequired,
}

impl Provider {
    /// The browser's session, if its cookie names one that is valid at `now`.
    pub fn browser_session(
        &self,
        cookie: Option<&str>,
        now: UnixTime,
    ) -> Result<Option<BrowserSessionRecord>, Error> {
        let Some(secret) = cookie.filter(|c| !c.is_empty() && c.len() <= 128) else {
            return Ok(None);
        };
        let session = self.store.browser_session(&sha256(secret.as_bytes()))?;
        Ok(session.filter(|s| self.session_alive(s, now)))
    }

    fn session_alive(&self, session: &BrowserSessionRecord, now: UnixTime) -> bool {
        let c = self.config.sessions;
        session.expires_at > now && session.last_seen_at > now - c.idle
    }

    /// A login that does not sign the browser in to eid still ends another citizen's session
    /// there: the browser is now someone else's.
    pub(crate) fn end_other_citizens_session(
        &self,
        browser: &BrowserContext,
        approval: &Approval,
        now: UnixTime,
    ) -> Result<(), Error> {
        match self.browser_session(browser.session.as_deref(), now)? {
            Some(other) if other.citizen_id != approval.citizen_id => {
                self.end_browser_session(&other, EndReason::Replaced, &Actor::System, now)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The session a login opens in its browser, or the browser's session authenticated
    /// again: a new secret either way. A session of another citizen in that browser ends.
    pub(crate) fn session_for_login(
        &self,
        browser: &BrowserContext,
        approval: &Approval,
        now: UnixTime,
    ) -> Result<(BrowserSessionRecord, Option<Vec<u8>>, SessionCookie), Error> {
        let current = self.browser_session(browser.session.as_deref(), now)?;
        let (session_id, created_at, rotates) = match current {
            Some(s) if s.citizen_id == approval.citizen_id => {
                (s.session_id, s.created_at, Some(s.token_hash))
            }
            Some(other) => {
                // Someone else logged in here: the other citizen's session ends first.
                self.end_browser_session(&other, EndReason::Replaced, &Actor::System, now)?;
                (random_id(), now, None)
            }
            None => (random_id(), now, None),
        };
        let secret = random_token();
        let (browser_name, os) = browser
            .user_agent
            .as_deref()
            .map(describe_user_agent)
            .unwrap_or_default();
        let context = self.derived.data.seal_json(
            Aad::BrowserSession(&session_id),
            &SessionContext {
                browser: browser_name.map(str::to_owned),
                os: os.map(str::to_owned),
            },
        )?;
        let lifetime = self.config.sessions.lifetime;
        let session = BrowserSessionRecord {
            session_id,
            token_hash: sha256(secret.as_bytes()).to_vec(),
            citizen_id: approval.citizen_id.clone(),
            device_id: approval.device_id.clone(),
            auth_time: approval.auth_time,
            acr: approval.acr,
            amr: approval.amr.clone(),
            context: Some(context),
            created_at,
            last_seen_at: now,
            expires_at: approval.auth_time + lifetime,
        };
        let cookie = SessionCookie {
            secret,
            max_age: (session.expires_at - now).max(0),
        };
        Ok((session, rotates, cookie))
    }

    /// Whether `session` answers `request` from `client` without the phone (OIDC Core
    /// §3.1.2.1: `prompt`, `max_age`, `acr_values`, `id_token_hint`), with the claims the
    /// citizen's standing consent shares.
    pub(crate) fn session_approval(
        &self,
        client: &ClientRecord,
        request: &AuthorizationRequest,
        session: &BrowserSessionRecord,
        now: UnixTime,
    ) -> Result<SessionAnswer, Error> {
        let prompts = || request.prompt.as_deref().unwrap_or_default().split(' ');
        if prompts().any(|p| p == "login" || p == "select_account") {
            return Ok(SessionAnswer::LoginRequired);
        }
        // The request's max_age, or the one the client registered (OIDC Registration §2).
        if request
            .max_age
            .or(client.metadata.default_max_age)
            .is_some_and(|max| max == 0 || now - session.auth_time > max)
        {
            return Ok(SessionAnswer::LoginRequired);
        }
        if request.required_level.is_some_and(|r| session.acr < r) {
            return Ok(SessionAnswer::LoginRequired);
        }
        if let Some(expected) = &request.expected_sub {
            if *expected != self.pairwise_sub(client, &session.citizen_id) {
                return Ok(SessionAnswer::LoginRequired);
            }
        }
        if prompts().any(|p| p == "consent") {
            return Ok(SessionAnswer::ConsentRequired);
        }
        let (sealed, consent) = self
            .store
            .profile_and_consent(&session.citizen_id, &client.client_id)?;
        let Some(sealed) = sealed else {
            return Ok(SessionAnswer::LoginRequired);
        };
        let Some(choices) = consent.map(|c| Choices::parse(&c.claims)) else {
            return Ok(SessionAnswer::ConsentRequired);
        };
        let profile = self.open_profile(&session.citizen_id, &sealed)?;
        let offered = offered_items(request.scopes, &request.claims, &profile);
        // The phone asks when an item is undecided (essential ones are always shared).
        if offered
            .iter()
            .any(|t| !t.essential && !choices.decided(t.claim))
        {
            return Ok(SessionAnswer::ConsentRequired);
        }
        let granted = offered
            .iter()
            .filter(|t| t.essential || choices.shared.contains(t.claim))
            .map(|t| t.claim)
            .collect::<Vec<_>>()
            .join(" ");
        Ok(SessionAnswer::Approve(Approval {
            citizen_id: session.citizen_id.clone(),
            device_id: session.device_id.clone(),
            auth_time: session.auth_time,
            acr: session.acr,
            amr: session.amr.clone(),
            granted,
        }))
    }

    /// The citizen's sessions, newest first, the browser's own marked.
    pub fn sessions_of(
        &self,
        citizen_id: &CitizenId,
        current: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<SessionSummary>, Error> {
        let mut out = Vec::new();
        for s in self.store.browser_sessions_of(citizen_id)? {
            if !self.session_alive(&s, now) {
                continue;
            }
            let context: SessionContext = match &s.context {
                Some(sealed) => self
                    .derived
                    .data
                    .open_json(Aad::BrowserSession(&s.session_id), sealed)?,
                None => SessionContext::default(),
            };
            let mut services: Vec<String> = Vec::new();
            for login in self.store.session_logins(&s.session_id)? {
                if let Some(client) = self.store.client(&login.client_id)? {
                    if !services.contains(&client.name) {
                        services.push(client.name);
                    }
                }
            }
            out.push(SessionSummary {
                current: current == Some(s.session_id.as_str()),
                session_id: s.session_id,
                browser: context.browser,
                os: context.os,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                auth_time: s.auth_time,
                acr: s.acr,
                services,
            });
        }
        Ok(out)
    }

    /// Ends one of the citizen's sessions by its id (from the account page or the wallet).
    pub fn end_session_of(
        &self,
        citizen_id: &CitizenId,
        session_id: &str,
        actor: &Actor,
        now: UnixTime,
    ) -> Result<Ended, Error> {
        let session = self
            .store
            .browser_sessions_of(citizen_id)?
            .into_iter()
            .find(|s| s.session_id == session_id)
            .ok_or(Error::NotFound("session"))?;
        self.end_browser_session(&session, EndReason::SignedOut, actor, now)
    }

    /// Removes every session of the citizen without telling the relying parties (the caller
    /// tells them otherwise: a suspension logs the account out everywhere).
    pub(crate) fn drop_sessions_of(&self, citizen_id: &CitizenId) -> Result<(), Error> {
        self.store.delete_browser_sessions_of(citizen_id)?;
        Ok(())
    }

    /// Ends every session of the citizen ("sign out everywhere").
    pub fn end_sessions_of(
        &self,
        citizen_id: &CitizenId,
        actor: &Actor,
        now: UnixTime,
    ) -> Result<Ended, Error> {
        let mut ended = Ended::default();
        for session in self.store.browser_sessions_of(citizen_id)? {
            ended.extend(self.end_browser_session(&session, EndReason::SignedOut, actor, now)?);
        }
        Ok(ended)
    }

    /// Ends a session: it and its logins go, with the access tokens they issued, and every
    /// relying party it touched is told.
    pub(crate) fn end_browser_session(
        &self,
        session: &BrowserSessionRecord,
        reason: EndReason,
        actor: &Actor,
        now: UnixTime,
    ) -> Result<Ended, Error> {
        let event = self.record(
            Event::new("session.ended", actor)
                .citizen(&session.citizen_id)
                .detail(Detail {
                    reason: Some(
                        match reason {
                            EndReason::SignedOut => "signed_out",
                            EndReason::Replaced => "replaced",
                        }
                        .into(),
                    ),
                    ..Detail::default()
                }),
            now,
        )?;
        let Some(logins) = self.store.end_browser_session(
            &session.citizen_id,
            &session.session_id,
            Some(&event),
        )?
        else {
            // Ended meanwhile, by another request.
            return Ok(Ended::default());
        };
        tracing::info!(target: "eid::security", event = "session.ended", session = %session_ref(&session.session_id), logins = logins.len(), "a single sign-on session ended");
        self.tell_relying_parties(&session.citizen_id, &logins, now)
    }

    /// Tells the relying parties of ended logins: back-channel where they registered it, and
    /// the front-channel pages to load otherwise.
    fn tell_relying_parties(
        &self,
        citizen_id: &CitizenId,
        logins: &[SessionLoginRecord],
        now: UnixTime,
    ) -> Result<Ended, Error> {
        let mut clients = Vec::new();
        for login in logins {
            if let Some(client) = self.store.client(&login.client_id)? {
                clients.push((client, login.request_id.as_str()));
            }
        }
        let backchannel: Vec<_> = clients
            .iter()
            .filter(|(c, _)| c.metadata.backchannel_logout_uri.is_some())
            .map(|(c, sid)| (c, citizen_id.as_str(), Some(*sid)))
            .collect();
        self.queue_backchannel_logouts(&backchannel, now)?;
        let issuer = self.config.issuer_str();
        let mut ended = Ended::default();
        for (client, sid) in &clients {
            if client.metadata.backchannel_logout_uri.is_some() {
                continue;
            }
            let Some(uri) = &client.metadata.frontchannel_logout_uri else {
                continue;
            };
            let Ok(mut url) = Url::parse(uri) else {
                continue;
            };
            if client.metadata.frontchannel_logout_session_required {
                url.query_pairs_mut()
                    .append_pair("iss", &issuer)
                    .append_pair("sid", sid);
            }
            if !ended.frontchannel.contains(&url) {
                ended.frontchannel.push(url);
            }
        }
        Ok(ended)
    }

    /// The session of a form a signed-in browser posts, provided it carries the session's
    /// anti-CSRF token.
    pub(crate) fn session_form(
        &self,
        cookie: Option<&str>,
        csrf_token: &str,
        now: UnixTime,
    ) -> Result<BrowserSessionRecord, Error> {
        let session = self
            .browser_session(cookie, now)?
            .ok_or(Error::Unauthenticated)?;
        if !crate::crypto::ct_eq(
            csrf_token.as_bytes(),
            self.session_csrf(&session.session_id).as_bytes(),
        ) {
            tracing::warn!(target: "eid::security", event = "csrf_refused", form = "account", "a signed-in browser's form with a wrong CSRF token");
            return Err(Error::invalid(
                "csrf_token",
                "the form is stale or forged; reload the page",
            ));
        }
        Ok(session)
    }

    /// The anti-CSRF token of a session's forms (the account page).
    pub fn session_csrf(&self, session_id: &str) -> String {
        b64url(
            &self
                .derived
                .logins
                .hash(&[b"session csrf", session_id.as_bytes()])[..16],
        )
    }
}

/// A short reference to a session for logs (its id names it to the account page).
pub(crate) fn session_ref(session_id: &str) -> String {
    b64url(&sha256(session_id.as_bytes())[..9])
}

/// What a login's history event says: answered from a session, or opened one.
pub(crate) fn login_event<'a>(
    approval: &'a Approval,
    client_id: &ClientId,
    action: &'static str,
    actor: &'a Actor,
) -> Event<'a> {
    Event::new(action, actor)
        .citizen(&approval.citizen_id)
        .device(&approval.device_id)
        .detail(Detail {
            client_id: Some(client_id.clone().into_string()),
            ..Detail::default()
        })
}

/// The error a `prompt=none` request gets when the session cannot answer it.
pub(crate) fn silent_error(answer: &SessionAnswer) -> Option<OAuthErrorCode> {
    match answer {
        SessionAnswer::Approve(_) => None,
        SessionAnswer::LoginRequired => Some(OAuthErrorCode::LoginRequired),
        SessionAnswer::ConsentRequired => Some(OAuthErrorCode::ConsentRequired),
    }
}
