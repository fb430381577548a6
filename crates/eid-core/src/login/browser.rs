//! The browser's side of a login: what the login page shows (wait with the QR code, whose
//! account approved, expired, back to the client) and the person's answer there (continue,
//! not me, a new code, cancel), which ends with a code for the client or an error.

use url::Url;

use crate::account::mask_name;
use crate::audit::{Actor, Detail, Event};
use crate::claims::{requested_items, ClaimItem};
use crate::crypto::{ct_eq, random_token, sha256};
use crate::locale::Locale;
use crate::login::{describe_user_agent, request_ref};
use crate::oidc::{oauth, ClientResponse};
use crate::sso::{login_event, session_ref, BrowserContext, SessionCookie};
use crate::store::{
    Approval, AuthRequestRecord, IssueCode, LoginState, RequestStatus, SessionChange,
};
use crate::time::UnixTime;
use crate::{Error, OAuthErrorCode, Provider};

#[derive(Debug)]
pub enum LoginView {
    /// Waiting for the phone: a QR code of `approval_link` (replaced after `link_changes_in`
    /// seconds) and the number the phone will ask for.
    Waiting {
        approval_link: String,
        link_changes_in: i64,
        number: u8,
        client_name: String,
        /// What the service registered about itself: (what, URL) for its logo, privacy
        /// policy, terms of service and home page.
        client_links: Vec<(&'static str, String)>,
        items: Vec<ClaimItem>,
        expires_in: i64,
        /// The language the client asked for the pages in.
        locale: Option<Locale>,
        /// The anti-CSRF token of the page's forms (a passkey login continues with it).
        csrf_token: String,
        /// The phone approves an action on the account (adding a passkey), not a login: the
        /// page says so and offers no passkey.
        for_action: bool,
    },
    /// The approval window passed: show a new code, or give up.
    Expired {
        client_name: String,
        csrf_token: String,
        /// The redirect URI's origin: giving up leads there.
        redirect_origin: String,
        locale: Option<Locale>,
    },
    /// Approved on the phone: whose account (masked), what the service will receive, and
    /// "continue" or "not me".
    Approved {
        client_name: String,
        /// Whose account approved, masked (`CHAN T** M**`).
        account: String,
        /// What the citizen chose to share.
        shared: Vec<ClaimItem>,
        csrf_token: String,
        /// The redirect URI's origin: continuing leads there.
        redirect_origin: String,
        expires_in: i64,
        locale: Option<Locale>,
    },
    /// Done: back to the client (with a code or an error).
    Redirect(ClientResponse),
    /// Done, with a code: back to the client, and the browser's single sign-on session opened
    /// (or authenticated again) with this cookie.
    SignedIn {
        response: ClientResponse,
        session: SessionCookie,
    },
    /// Nothing more to do in this browser.
    Finished,
}

/// What the person at the browser answers on the login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserAnswer {
    /// The account shown is theirs: continue to the service.
    Continue,
    /// It is not: stop, and send the service `access_denied`.
    NotMe,
    /// Show a new code (the approval window passed).
    Renew,
    /// Give up: back to the service with `access_denied`.
    Cancel,
}

impl BrowserAnswer {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "continue" => Self::Continue,
            "not_me" => Self::NotMe,
            "renew" => Self::Renew,
            "cancel" => Self::Cancel,
            _ => return None,
        })
    }
}

/// The origin of a stored redirect URI.
fn origin_of(redirect_uri: &str) -> Result<String, Error> {
    Url::parse(redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|e| Error::Internal(format!("stored redirect URI: {e}")))
}

impl Provider {
    /// Loads a request for the browser that started it.
    pub(crate) fn browser_login(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
    ) -> Result<AuthRequestRecord, Error> {
        self.browser_request(request_id, browser_secret)
    }

    fn browser_request(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
    ) -> Result<AuthRequestRecord, Error> {
        let request = self
            .store
            .auth_request(request_id)?
            .ok_or(Error::NotFound("login request"))?;
        let secret = browser_secret.ok_or(Error::WrongBrowser)?;
        if !ct_eq(&sha256(secret.as_bytes()), &request.browser_hash) {
            return Err(Error::WrongBrowser);
        }
        Ok(request)
    }

    /// What the browser shows or does next for a login request.
    pub fn login_view(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        now: UnixTime,
    ) -> Result<LoginView, Error> {
        let request = self.browser_request(request_id, browser_secret)?;
        let Some(client) = self.store.client(&request.client_id)? else {
            return Ok(LoginView::Finished);
        };
        let csrf_token = self.login_csrf(request_id);
        let context = self.stored_context(&request)?;
        let locale = context.as_ref().and_then(|c| c.ui_locale);
        match &request.login {
            LoginState::Pending if request.expires_at > now => {
                let (approval_link, link_changes_in) = self.approval_link(&request, now);
                Ok(LoginView::Waiting {
                    approval_link,
                    link_changes_in,
                    number: self.match_numbers(request_id).0,
                    client_links: [
                        ("logo", &client.metadata.logo_uri),
                        ("policy", &client.metadata.policy_uri),
                        ("terms", &client.metadata.tos_uri),
                        ("home", &client.metadata.client_uri),
                    ]
                    .into_iter()
                    .filter_map(|(what, uri)| uri.clone().map(|u| (what, u)))
                    .collect(),
                    client_name: client.name,
                    items: requested_items(request.scope, &request.claims),
                    expires_in: request.expires_at - now,
                    locale,
                    csrf_token,
                    for_action: context.as_ref().is_some_and(|c| c.purpose.is_some()),
                })
            }
            LoginState::Pending if self.renewable(&request, now) => Ok(LoginView::Expired {
                client_name: client.name,
                csrf_token,
                redirect_origin: origin_of(&request.redirect_uri)?,
                locale,
            }),
            LoginState::Pending => self.end_with(
                &request,
                RequestStatus::Pending,
                "the login was not approved in time",
            ),
            LoginState::Approved(approval) if self.in_completion_window(approval, now) => {
                // A device removed or suspended since is caught when the browser continues
                // (the code is issued only while it is bound).
                let account = match context.and_then(|c| c.account) {
                    Some(account) => account,
                    None => {
                        mask_name(&self.profile(&approval.citizen_id)?.particulars.english_name)
                    }
                };
                let granted: Vec<&str> = approval.granted.split(' ').collect();
                Ok(LoginView::Approved {
                    client_name: client.name,
                    account,
                    shared: requested_items(request.scope, &request.claims)
                        .into_iter()
                        .filter(|t| granted.contains(&t.claim))
                        .collect(),
                    csrf_token,
                    redirect_origin: origin_of(&request.redirect_uri)?,
                    expires_in: approval.auth_time + self.config.completion_window - now,
                    locale,
                })
            }
            LoginState::Approved(_) => self.end_with(
                &request,
                RequestStatus::Approved,
                "the login was not completed in time after the phone approved",
            ),
            LoginState::Denied(code) => {
                let (code, description) = match code {
                    OAuthErrorCode::UnmetAuthenticationRequirements => (
                        *code,
                        "the citizen's account does not have the requested assurance level",
                    ),
                    _ => (
                        OAuthErrorCode::AccessDenied,
                        "the login was declined or stopped",
                    ),
                };
                Ok(LoginView::Redirect(self.error_redirect(
                    &request.redirect_uri,
                    &oauth(code, description),
                    request.state.as_deref(),
                    request.response_mode,
                )?))
            }
            LoginState::CodeIssued { .. } | LoginState::Redeemed { .. } => Ok(LoginView::Finished),
        }
    }

    /// Whether the browser may still continue an approved request.
    fn in_completion_window(&self, approval: &Approval, now: UnixTime) -> bool {
        approval.auth_time > now - self.config.completion_window
    }

    /// Whether a pending request whose approval window passed may show a new code: the login
    /// page's own lifetime has not run out.
    fn renewable(&self, request: &AuthRequestRecord, now: UnixTime) -> bool {
        request.created_at > now - self.config.login_ttl + self.config.approval_window
    }

    /// Ends a request in `from` with `access_denied` and sends the browser back to the client.
    fn end_with(
        &self,
        request: &AuthRequestRecord,
        from: RequestStatus,
        description: &str,
    ) -> Result<LoginView, Error> {
        self.store.deny_auth_request(
            &request.request_id,
            from,
            OAuthErrorCode::AccessDenied,
            None,
        )?;
        Ok(LoginView::Redirect(self.error_redirect(
            &request.redirect_uri,
            &oauth(OAuthErrorCode::AccessDenied, description),
            request.state.as_deref(),
            request.response_mode,
        )?))
    }

    /// Short status for the waiting page's poll: `pending` (with the seconds until the QR code
    /// changes), `ready` or `expired`.
    pub fn login_status(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        now: UnixTime,
    ) -> Result<(&'static str, Option<i64>), Error> {
        let request = self.browser_request(request_id, browser_secret)?;
        Ok(match request.login {
            LoginState::Pending if request.expires_at > now => {
                ("pending", Some(self.approval_link(&request, now).1))
            }
            LoginState::Pending => ("expired", None),
            _ => ("ready", None),
        })
    }

    /// The current approval link of a login page (for its QR code), and the seconds until it
    /// changes.
    pub fn current_approval_link(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        now: UnixTime,
    ) -> Result<(String, i64), Error> {
        let request = self.browser_request(request_id, browser_secret)?;
        if request.login != LoginState::Pending || request.expires_at <= now {
            return Err(Error::Gone("login request"));
        }
        Ok(self.approval_link(&request, now))
    }

    /// The person at the browser answers: continue (after seeing whose account approved), not
    /// me, a new code, or cancel. Nothing here records consent: that was decided on the phone.
    /// Continuing opens (or authenticates again) the browser's single sign-on session.
    pub fn browser_answer(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        csrf_token: &str,
        answer: BrowserAnswer,
        browser: &BrowserContext,
        now: UnixTime,
    ) -> Result<LoginView, Error> {
        let request = self.browser_request(request_id, browser_secret)?;
        if !ct_eq(
            csrf_token.as_bytes(),
            self.login_csrf(request_id).as_bytes(),
        ) {
            tracing::warn!(target: "eid::security", event = "csrf_refused", form = "login", request = %request_ref(request_id), "login form with a wrong CSRF token");
            return Err(Error::invalid(
                "csrf_token",
                "the form is stale or forged; reload the page",
            ));
        }
        match (answer, &request.login) {
            (BrowserAnswer::Continue, LoginState::Approved(approval)) => {
                self.issue_code(&request, approval, browser, now)
            }
            (BrowserAnswer::NotMe, LoginState::Approved(approval)) => {
                let event = self.record(
                    Event::new("login.refused_in_browser", &Actor::System)
                        .citizen(&approval.citizen_id)
                        .detail(Detail {
                            client_id: Some(request.client_id.clone().into_string()),
                            reason: Some("not_me".into()),
                            ..Detail::default()
                        }),
                    now,
                )?;
                if !self.store.deny_auth_request(
                    request_id,
                    RequestStatus::Approved,
                    OAuthErrorCode::AccessDenied,
                    Some(&event),
                )? {
                    return self.login_view(request_id, browser_secret, now);
                }
                tracing::warn!(target: "eid::security", event = "login.not_me_in_browser", client_id = %request.client_id, request = %request_ref(request_id), "the browser did not recognise the account that approved: stopped");
                Ok(LoginView::Redirect(self.error_redirect(
                    &request.redirect_uri,
                    &oauth(
                        OAuthErrorCode::AccessDenied,
                        "the person at the browser did not recognise the account that approved",
                    ),
                    request.state.as_deref(),
                    request.response_mode,
                )?))
            }
            (BrowserAnswer::Renew, LoginState::Pending)
                if request.expires_at <= now && self.renewable(&request, now) =>
            {
                self.store.renew_auth_request(
                    request_id,
                    now + self.config.approval_window,
                    now,
                    now - self.config.login_ttl,
                )?;
                self.login_view(request_id, browser_secret, now)
            }
            (BrowserAnswer::Cancel, LoginState::Pending | LoginState::Approved(_)) => self
                .end_with(
                    &request,
                    request.status(),
                    "the login was cancelled in the browser",
                ),
            // Anything else (a second click, a stale form): show where the login stands.
            _ => self.login_view(request_id, browser_secret, now),
        }
    }

    /// The device that approved was removed (or the account recovered or closed) before the
    /// code was issued: the approval died with it, and the client hears `access_denied`.
    fn approval_died(&self, request: &AuthRequestRecord) -> Result<LoginView, Error> {
        if !self.store.deny_auth_request(
            &request.request_id,
            RequestStatus::Approved,
            OAuthErrorCode::AccessDenied,
            None,
        )? {
            return Ok(LoginView::Finished);
        }
        Ok(LoginView::Redirect(self.error_redirect(
            &request.redirect_uri,
            &oauth(
                OAuthErrorCode::AccessDenied,
                "the device that approved was removed from the account",
            ),
            request.state.as_deref(),
            request.response_mode,
        )?))
    }

    fn issue_code(
        &self,
        request: &AuthRequestRecord,
        approval: &Approval,
        browser: &BrowserContext,
        now: UnixTime,
    ) -> Result<LoginView, Error> {
        // A pushed request's URI is spent by the first code issued from it (RFC 9126 §4).
        if let Some(pushed) = request.par_id.as_deref() {
            if !self.spend_pushed_request(pushed, now)? {
                return self.end_with(
                    request,
                    RequestStatus::Approved,
                    "the pushed request was completed in another login",
                );
            }
        }
        // An implicit login passes through the same step, with a code no one is given.
        let code = random_token();
        // The browser is signed in to eid only when the citizen chose it on the phone (or
        // approved with this browser's own passkey): a relayed approval gets the relayer this
        // one login, never a session that answers others.
        let signs_in = self
            .stored_context(request)?
            .is_some_and(|context| context.stay_signed_in);
        let opened = if signs_in {
            Some(self.session_for_login(browser, approval, now)?)
        } else {
            self.end_other_citizens_session(browser, approval, now)?;
            None
        };
        let actor = Actor::Citizen {
            device_id: Some(approval.device_id.clone().into_string()),
        };
        let mut event = login_event(approval, &request.client_id, "login.approved", &actor);
        if let Some((session, _, _)) = &opened {
            // The account's other devices are told that a browser was signed in (the inbox).
            let (browser_name, os) = browser
                .user_agent
                .as_deref()
                .map(describe_user_agent)
                .unwrap_or_default();
            event = event.detail(Detail {
                client_id: Some(request.client_id.clone().into_string()),
                reason: Some("signed_in".into()),
                session_id: Some(session.session_id.clone()),
                browser: Some(match (browser_name, os) {
                    (Some(b), Some(o)) => format!("{b} on {o}"),
                    (Some(b), None) => b.to_owned(),
                    (None, Some(o)) => format!("a browser on {o}"),
                    (None, None) => "an unrecognised browser".to_owned(),
                }),
                ..Detail::default()
            });
        }
        let event = self.record(event, now)?;
        match self.store.issue_code(
            &request.request_id,
            &sha256(code.as_bytes()),
            now + self.config.code_ttl,
            now - self.config.completion_window + 1,
            Some(SessionChange {
                session: opened.as_ref().map(|(session, _, _)| session),
                rotates: opened
                    .as_ref()
                    .and_then(|(_, rotates, _)| rotates.as_deref()),
                event: &event,
                client_id: &request.client_id,
            }),
        )? {
            IssueCode::Issued => {}
            IssueCode::NotApproved => return Ok(LoginView::Finished),
            IssueCode::DeviceGone => return self.approval_died(request),
            IssueCode::TooLate => {
                return self.end_with(
                    request,
                    RequestStatus::Approved,
                    "the login was not completed in time after the phone approved",
                )
            }
        }
        if let Some((session, rotates, _)) = &opened {
            tracing::info!(target: "eid::security", event = "session.opened", client_id = %request.client_id, request = %request_ref(&request.request_id), session = %session_ref(&session.session_id), rotated = rotates.is_some(), "the browser continued: single sign-on session opened");
        }
        let response = if request.response_type.is_implicit() {
            match self.implicit_response(request, approval, now)? {
                Some(response) => response,
                None => return Ok(LoginView::Finished),
            }
        } else {
            self.client_redirect(
                &request.redirect_uri,
                &[("code", &code)],
                request.state.as_deref(),
                request.response_mode,
            )?
        };
        Ok(match opened {
            Some((_, _, cookie)) => LoginView::SignedIn {
                response,
                session: cookie,
            },
            None => LoginView::Redirect(response),
        })
    }
}
