//! eid's own pages for a signed-in citizen: the account page (devices, sessions, consents, the
//! account's history) and its actions, and eid's own client, through which a browser signs in
//! to them (a login like any other, approved on the phone, which opens the session).

use eid_proto::api::{AccountEvent, Consent, Device};
use url::Url;

use crate::account::{mask_name, Level};
use crate::audit::Actor;
use crate::crypto::sha256;
use crate::ids::{CitizenId, ClientId};
use crate::sso::{Ended, SessionSummary};
use crate::store::{BrowserSessionRecord, ClientMetadata, ClientRecord, StoreError};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// The client id of eid's own pages (the account page, the portal).
pub const ACCOUNT_CLIENT_ID: &str = "eid-account";

/// How much of the history the account page shows.
const HISTORY_SHOWN: usize = 50;

/// What the account page shows.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    /// The citizen's English name, masked (`CHAN T** M**`): the page may be on a shared screen.
    pub name: String,
    pub level: Option<Level>,
    pub devices: Vec<Device>,
    pub sessions: Vec<SessionSummary>,
    pub consents: Vec<Consent>,
    /// Newest first, with the service's name where an event names one.
    pub history: Vec<(AccountEvent, Option<String>)>,
    /// The anti-CSRF token of the page's forms.
    pub csrf_token: String,
    /// The browser's own session.
    pub session_id: String,
    /// Whether this browser may add a passkey now (the phone approved here just now).
    pub may_add_passkey: bool,
    /// The passkey registration the phone approved, which the page's form finishes.
    pub passkey_ceremony: Option<String>,
    /// This browser signed in with its passkey: it adds none (passkeys are added from a
    /// browser signed in with the phone).
    pub signed_in_with_passkey: bool,
}

/// What the citizen does on the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountAction {
    /// Ends one session (this browser's or another).
    EndSession(String),
    /// Signs out of this browser.
    SignOutHere,
    /// Ends every session of the account.
    SignOutEverywhere,
    /// Withdraws the standing consent given to a service.
    WithdrawConsent(String),
    /// Removes a passkey a browser added.
    RemovePasskey(String),
}

/// What an account action did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionOutcome {
    /// Relying parties' front-channel logout pages to load.
    pub frontchannel: Vec<Url>,
    /// Whether this browser's session ended (its cookie is removed).
    pub signed_out_here: bool,
}

impl Provider {
    /// Makes sure eid's own client exists, with its redirect URI at the issuer (called at
    /// start-up; nodes starting together may race, and one insert wins).
    pub fn ensure_account_client(&self, now: UnixTime) -> Result<(), Error> {
        let redirect = self.account_redirect_uri();
        let wanted = ClientRecord {
            client_id: ClientId::from(ACCOUNT_CLIENT_ID),
            name: "eid account · eid 帳戶".into(),
            // No secret: its code is never redeemed (the session is what it is for).
            secret_hash: sha256(crate::crypto::random_token().as_bytes()).to_vec(),
            redirect_uris: vec![redirect.clone()],
            id_token_alg: "ES256".into(),
            created_at: now,
            metadata: ClientMetadata::default(),
            secret_sealed: None,
        };
        match self.store.client(ACCOUNT_CLIENT_ID)? {
            Some(client) if client.redirect_uris == [redirect] => Ok(()),
            Some(client) => {
                // eid's own client, kept at the issuer at start-up: no one's act to audit.
                self.store.update_client(
                    &ClientRecord {
                        redirect_uris: wanted.redirect_uris,
                        ..client
                    },
                    &[],
                )?;
                Ok(())
            }
            None => match self.store.insert_client(&wanted, &[]) {
                Ok(()) | Err(StoreError::Duplicate(_)) => Ok(()),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Where eid's own logins return to.
    pub fn account_redirect_uri(&self) -> String {
        format!("{}/account/callback", self.config.issuer_str())
    }

    /// The account page of the browser's session; `None` when it has none (sign in first).
    pub fn account_overview(
        &self,
        cookie: Option<&str>,
        passkey_ceremony: Option<&str>,
        now: UnixTime,
    ) -> Result<Option<AccountOverview>, Error> {
        let Some(session) = self.browser_session(cookie, now)? else {
            return Ok(None);
        };
        self.touch(&session, now)?;
        let may_add_passkey = self.may_add_passkey(cookie, passkey_ceremony, now)?;
        let citizen = &session.citizen_id;
        crate::authority::permit(
            crate::authority::Credential::BrowserSession,
            crate::authority::Action::ListDevices,
            &crate::authority::Facts::default(),
        )?;
        let account = self
            .store
            .citizen(citizen)?
            .ok_or(Error::NotFound("account"))?;
        let profile = self.profile(citizen)?;
        let consents = self.consents_of(citizen)?.consents;
        let mut names: Vec<(String, Option<String>)> = Vec::new();
        let mut history = Vec::new();
        for event in self.history_of(citizen, HISTORY_SHOWN)?.events {
            let service = match &event.client_id {
                Some(id) => match names.iter().find(|(c, _)| c == id) {
                    Some((_, name)) => name.clone(),
                    None => {
                        let name = self.store.client(id)?.map(|c| c.name);
                        names.push((id.clone(), name.clone()));
                        name
                    }
                },
                None => None,
            };
            history.push((event, service));
        }
        let devices = self.devices_of(citizen)?;
        let signed_in_with_passkey = devices
            .iter()
            .any(|d| d.device_id == session.device_id.as_str() && d.joined_by == "browser");
        Ok(Some(AccountOverview {
            name: mask_name(&profile.particulars.english_name),
            level: account.level,
            devices,
            signed_in_with_passkey,
            sessions: self.sessions_of(citizen, Some(&session.session_id), now)?,
            consents,
            history,
            csrf_token: self.session_csrf(&session.session_id),
            may_add_passkey,
            passkey_ceremony: may_add_passkey
                .then(|| passkey_ceremony.map(str::to_owned))
                .flatten(),
            session_id: session.session_id,
        }))
    }

    /// Whose session the browser has (the masked name), with the anti-CSRF token of its forms.
    pub fn signed_in_as(
        &self,
        cookie: Option<&str>,
        now: UnixTime,
    ) -> Result<Option<(String, String)>, Error> {
        let Some(session) = self.browser_session(cookie, now)? else {
            return Ok(None);
        };
        let profile = self.profile(&session.citizen_id)?;
        Ok(Some((
            mask_name(&profile.particulars.english_name),
            self.session_csrf(&session.session_id),
        )))
    }

    /// Marks a session used, at most once a minute (each page view would otherwise write).
    fn touch(&self, session: &BrowserSessionRecord, now: UnixTime) -> Result<(), Error> {
        if session.last_seen_at <= now - 60 {
            self.store.touch_browser_session(&session.session_id, now)?;
        }
        Ok(())
    }

    /// An action on the account page, from a form carrying the page's anti-CSRF token.
    pub fn account_action(
        &self,
        cookie: Option<&str>,
        csrf_token: &str,
        action: &AccountAction,
        now: UnixTime,
    ) -> Result<ActionOutcome, Error> {
        let session = self.session_form(cookie, csrf_token, now)?;
        let actor = Actor::Citizen {
            device_id: Some(session.device_id.clone().into_string()),
        };
        let citizen: &CitizenId = &session.citizen_id;
        let ended = |e: Ended, here: bool| ActionOutcome {
            frontchannel: e.frontchannel,
            signed_out_here: here,
        };
        let needs = match action {
            AccountAction::EndSession(_)
            | AccountAction::SignOutHere
            | AccountAction::SignOutEverywhere => Some(crate::authority::Action::EndSessions),
            AccountAction::WithdrawConsent(_) => Some(crate::authority::Action::ChangeConsents),
            // Judged where the passkey is removed (passkeys only).
            _ => None,
        };
        if let Some(needs) = needs {
            crate::authority::permit(
                crate::authority::Credential::BrowserSession,
                needs,
                &crate::authority::Facts::default(),
            )?;
        }
        Ok(match action {
            AccountAction::EndSession(id) => {
                let here = *id == session.session_id;
                ended(self.end_session_of(citizen, id, &actor, now)?, here)
            }
            AccountAction::SignOutHere => ended(
                self.end_session_of(citizen, &session.session_id, &actor, now)?,
                true,
            ),
            AccountAction::SignOutEverywhere => {
                ended(self.end_sessions_of(citizen, &actor, now)?, true)
            }
            AccountAction::WithdrawConsent(client_id) => {
                self.withdraw_consent_of(citizen, client_id, &actor, now)?;
                ActionOutcome::default()
            }
            AccountAction::RemovePasskey(device_id) => {
                self.remove_browser_passkey(citizen, device_id, &actor, now)?;
                // Its own session ends with it (the session's device is gone).
                ActionOutcome {
                    frontchannel: Vec::new(),
                    signed_out_here: session.device_id.as_str() == device_id,
                }
            }
        })
    }
}
