//! The OpenID Connect authorization code flow with PKCE.
//!
//! 1. [`Provider::authorize`] validates the request (OIDC Core §3.1.2.1–2) and opens a login
//!    request; the browser is bound to it by a cookie secret.
//! 2. The login page shows a rotating approval link as a QR code and a number; the citizen
//!    decides on the phone ([`Provider::answer_approval`]).
//! 3. [`Provider::login_view`] tells the browser what comes next: wait, show whose account
//!    approved (with "not me"), or go back to the client with an error; the browser's answer
//!    ([`Provider::browser_answer`]) continues to the client with a code, or stops.
//! 4. [`Provider::token`] exchanges the single-use code (RFC 6749 §4.1.3, RFC 7636 §4.6).
//! 5. [`Provider::userinfo`] returns the claims the granted scopes cover (OIDC Core §5.3).

use eid_proto::oauth::{ProviderMetadata, TokenResponse};
use serde::Deserialize;
use url::Url;

use crate::account::{mask_name, AccountStatus, Level};
use crate::audit::{Actor, Detail, Event};
use crate::claims::{
    granted_scope, normalise_scope, requested_items, userinfo_claims, ClaimItem, SUPPORTED_CLAIMS,
    SUPPORTED_SCOPES,
};
use crate::crypto::{b64url, ct_eq, random_id, random_token, sha256, Aad};
use crate::keys::{half_hash, sign_jwt, JwsAlg};
use crate::limits::Caller;
use crate::login::{describe_user_agent, request_ref, StoredContext};
use crate::store::{AccessTokenRecord, AuthRequestRecord, ClientRecord, IssueCode, RequestStatus};
use crate::{Error, OAuthError, OAuthErrorCode, Provider};

/// Authorization request parameters (OIDC Core §3.1.2.1), from the query or the form body.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizationParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub response_mode: Option<String>,
    pub prompt: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// Requested assurance levels, in order of preference (OIDC Core §3.1.2.1).
    pub acr_values: Option<String>,
}

/// Why an authorization request failed, and so how to tell whom.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI could not be validated: tell the person, never redirect
    /// (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
    Page { title: String, detail: String },
    /// The client's redirect URI is validated: send the error there.
    Redirect(Url),
    /// The server failed.
    Internal(Error),
}

impl From<Error> for AuthorizeError {
    fn from(e: Error) -> Self {
        Self::Internal(e)
    }
}

impl From<crate::store::StoreError> for AuthorizeError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// A login request the browser goes on with.
#[derive(Debug)]
pub struct PendingLogin {
    pub request_id: String,
    /// Goes in a cookie; only its hash is stored.
    pub browser_secret: String,
}

/// What the login page shows.
#[derive(Debug)]
pub enum LoginView {
    /// Waiting for the phone: a QR code of `approval_link` (replaced after `link_changes_in`
    /// seconds) and the number the phone will ask for.
    Waiting {
        approval_link: String,
        link_changes_in: i64,
        number: u8,
        client_name: String,
        items: Vec<ClaimItem>,
        expires_in: i64,
    },
    /// The approval window passed: show a new code, or give up.
    Expired {
        client_name: String,
        csrf_token: String,
        /// The redirect URI's origin: giving up leads there.
        redirect_origin: String,
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
    },
    /// Done: back to the client (with a code or an error).
    Redirect(Url),
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

/// Token request parameters (RFC 6749 §4.1.3 and §2.3.1).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

fn oauth(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
    OAuthError::new(code, description)
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The lowest level among the `acr_values` eid knows; `None` when it knows none of them
/// (`acr_values` is a voluntary request, OIDC Core §3.1.2.1: unknown values are ignored).
fn required_level(acr_values: Option<&str>) -> Option<Level> {
    acr_values?.split(' ').filter_map(Level::from_acr).min()
}

impl Provider {
    /// OpenID Provider Metadata (OIDC Discovery 1.0 §3).
    pub fn discovery(&self) -> ProviderMetadata {
        let issuer = self.config.issuer_str();
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ProviderMetadata {
            authorization_endpoint: format!("{issuer}/authorize"),
            token_endpoint: format!("{issuer}/token"),
            userinfo_endpoint: format!("{issuer}/userinfo"),
            jwks_uri: format!("{issuer}/jwks"),
            issuer,
            scopes_supported: strings(&SUPPORTED_SCOPES),
            response_types_supported: strings(&["code"]),
            response_modes_supported: strings(&["query"]),
            grant_types_supported: strings(&["authorization_code"]),
            subject_types_supported: strings(&["pairwise"]),
            id_token_signing_alg_values_supported: strings(&["ES256", "RS256"]),
            token_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
            ]),
            code_challenge_methods_supported: strings(&["S256"]),
            claims_supported: strings(&SUPPORTED_CLAIMS),
            claims_locales_supported: strings(&["en", "zh-Hant"]),
            acr_values_supported: Level::ALL.iter().map(|l| l.acr().to_owned()).collect(),
            ui_locales_supported: strings(&["en", "zh-Hant-HK"]),
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            claims_parameter_supported: false,
            authorization_response_iss_parameter_supported: true,
        }
    }

    /// The URL the phone opens to approve a request (shown as a QR code).
    pub fn approval_url(&self, request_id: &str) -> String {
        format!("{}/api/v1/approvals/{request_id}", self.config.issuer_str())
    }

    /// Builds a redirect to the client with `params`, `state` and `iss` (RFC 9207 §2).
    fn client_redirect(
        &self,
        redirect_uri: &str,
        params: &[(&str, &str)],
        state: Option<&str>,
    ) -> Result<Url, Error> {
        let mut url = Url::parse(redirect_uri)
            .map_err(|e| Error::Internal(format!("stored redirect URI does not parse: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.config.issuer_str());
        }
        Ok(url)
    }

    fn error_redirect(
        &self,
        redirect_uri: &str,
        error: &OAuthError,
        state: Option<&str>,
    ) -> Result<Url, Error> {
        self.client_redirect(
            redirect_uri,
            &[
                ("error", error.code.as_str()),
                ("error_description", &error.description),
            ],
            state,
        )
    }

    /// Validates an authorization request and opens a login for it.
    pub fn authorize(
        &self,
        params: &AuthorizationParams,
        caller: &Caller,
        now: i64,
    ) -> Result<PendingLogin, AuthorizeError> {
        let page = |title: &str, detail: &str| AuthorizeError::Page {
            title: title.to_owned(),
            detail: detail.to_owned(),
        };
        // First the client and its redirect URI: until both check out, nothing is redirected.
        let Some(client_id) = params.client_id.as_deref().filter(|s| !s.is_empty()) else {
            return Err(page(
                "Missing client_id",
                "The request does not say which service is asking (client_id).",
            ));
        };
        let Some(client) = self.store.client(client_id)? else {
            return Err(page(
                "Unknown service",
                "No service is registered with this client_id.",
            ));
        };
        let Some(redirect_uri) = params.redirect_uri.as_deref().filter(|s| !s.is_empty()) else {
            return Err(page(
                "Missing redirect_uri",
                "The request does not say where to return (redirect_uri).",
            ));
        };
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(page(
                "Unregistered redirect URI",
                "The redirect_uri does not exactly match any URI registered for this service, so eid will not send you there.",
            ));
        }
        // Each authorization request opens a login that waits for a phone: bounded per
        // address (and so the logins an address has pending) and per relying party.
        let limits = self.config.limits;
        self.limit_address_here(
            "authorize_per_address",
            caller,
            limits.authorize_per_address,
            now,
        )?;
        self.limit_here(
            "authorize_per_client",
            client.client_id.as_bytes(),
            limits.authorize_per_client,
            now,
        )?;
        let state = params.state.as_deref();
        match check_authorization_params(params) {
            Ok((scopes, level)) => {
                self.open_login(params, &client, redirect_uri, scopes, level, caller, now)
            }
            Err(error) => Err(AuthorizeError::Redirect(self.error_redirect(
                redirect_uri,
                &error,
                state,
            )?)),
        }
    }
}

/// The checks after the redirect URI is trusted, in the order the specs list them. Returns the
/// normalised scopes and the lowest level the client accepts. (Public for the fuzz targets:
/// it is a parser of untrusted input.)
pub fn check_authorization_params(
    p: &AuthorizationParams,
) -> Result<(Vec<String>, Option<Level>), OAuthError> {
    use OAuthErrorCode::*;
    if p.request.is_some() {
        return Err(oauth(
            RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if p.request_uri.is_some() {
        return Err(oauth(
            RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match p.response_type.as_deref() {
        None | Some("") => return Err(oauth(InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(oauth(
                UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if let Some(mode) = p.response_mode.as_deref() {
        if mode != "query" {
            return Err(oauth(
                InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
    }
    let scopes = normalise_scope(p.scope.as_deref().unwrap_or(""));
    if !scopes.iter().any(|s| s == "openid") {
        return Err(oauth(InvalidScope, "scope must include openid"));
    }
    match p.code_challenge.as_deref() {
        None | Some("") => {
            return Err(oauth(
                InvalidRequest,
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ))
        }
        Some(challenge) if challenge.len() != 43 || !is_pkce_value(challenge) => {
            return Err(oauth(
                InvalidRequest,
                "code_challenge must be the 43-character base64url SHA-256 of the verifier",
            ))
        }
        Some(_) => {}
    }
    if p.code_challenge_method.as_deref() != Some("S256") {
        return Err(oauth(InvalidRequest, "code_challenge_method must be S256"));
    }
    if let Some(prompt) = p.prompt.as_deref() {
        let prompts: Vec<&str> = prompt.split(' ').collect();
        if prompts.contains(&"none") {
            // Every login needs the phone: there is no silent authentication.
            return Err(oauth(
                LoginRequired,
                "the citizen must approve the login on their phone",
            ));
        }
    }
    for (name, value, max) in [("state", &p.state, 2048), ("nonce", &p.nonce, 512)] {
        if value.as_ref().is_some_and(|v| v.len() > max) {
            return Err(oauth(
                InvalidRequest,
                format!("{name} is longer than {max} bytes"),
            ));
        }
    }
    Ok((scopes, required_level(p.acr_values.as_deref())))
}

impl Provider {
    #[allow(clippy::too_many_arguments)]
    fn open_login(
        &self,
        params: &AuthorizationParams,
        client: &ClientRecord,
        redirect_uri: &str,
        scopes: Vec<String>,
        required_level: Option<Level>,
        caller: &Caller,
        now: i64,
    ) -> Result<PendingLogin, AuthorizeError> {
        // Short: the id is part of the QR code's payload, whose size sets the code's density.
        let request_id = random_id();
        let browser_secret = random_token();
        let (browser, os) = caller
            .user_agent
            .as_deref()
            .map(describe_user_agent)
            .unwrap_or_default();
        let context = self.derived.data.seal_json(
            Aad::AuthRequest(&request_id),
            &StoredContext {
                browser: browser.map(str::to_owned),
                os: os.map(str::to_owned),
                address: caller.address.map(|a| a.to_string()),
                account: None,
            },
        )?;
        let prompt = params
            .prompt
            .as_deref()
            .map(|p| {
                // Only the values eid acts on are kept (OIDC Core §3.1.2.1 defines four; `none`
                // was refused above).
                p.split(' ')
                    .filter(|v| matches!(*v, "login" | "consent" | "select_account"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|p| !p.is_empty());
        self.store.insert_auth_request(&AuthRequestRecord {
            request_id: request_id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: scopes.join(" "),
            state: params.state.clone(),
            nonce: params.nonce.clone(),
            code_challenge: params.code_challenge.clone().unwrap_or_default(),
            browser_hash: sha256(browser_secret.as_bytes()).to_vec(),
            context: Some(context),
            required_level,
            status: RequestStatus::Pending,
            citizen_id: None,
            device_id: None,
            auth_time: None,
            acr: None,
            amr: None,
            error_code: None,
            code_hash: None,
            code_expires_at: None,
            created_at: now,
            expires_at: now + self.config.approval_window,
            prompt,
            granted: None,
        })?;
        Ok(PendingLogin {
            request_id,
            browser_secret,
        })
    }

    /// Loads a request for the browser that started it.
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
        now: i64,
    ) -> Result<LoginView, Error> {
        let request = self.browser_request(request_id, browser_secret)?;
        let Some(client) = self.store.client(&request.client_id)? else {
            return Ok(LoginView::Finished);
        };
        let scopes: Vec<String> = request.scope.split(' ').map(str::to_owned).collect();
        let csrf_token = self.login_csrf(request_id);
        match request.status {
            RequestStatus::Pending if request.expires_at > now => {
                let (approval_link, link_changes_in) = self.approval_link(&request, now);
                Ok(LoginView::Waiting {
                    approval_link,
                    link_changes_in,
                    number: self.match_numbers(request_id).0,
                    client_name: client.name,
                    items: requested_items(&scopes),
                    expires_in: request.expires_at - now,
                })
            }
            RequestStatus::Pending if self.renewable(&request, now) => Ok(LoginView::Expired {
                client_name: client.name,
                csrf_token,
                redirect_origin: origin_of(&request.redirect_uri)?,
            }),
            RequestStatus::Pending => self.end_with(
                &request,
                RequestStatus::Pending,
                "the login was not approved in time",
            ),
            RequestStatus::Approved if self.in_completion_window(&request, now) => {
                // A device removed or suspended since is caught when the browser continues
                // (the code is issued only while it is bound).
                let citizen_id = request.citizen_id.clone().unwrap_or_default();
                let shown: Option<StoredContext> = match &request.context {
                    Some(sealed) => Some(
                        self.derived
                            .data
                            .open_json(Aad::AuthRequest(request_id), sealed)?,
                    ),
                    None => None,
                };
                let account = match shown.and_then(|c| c.account) {
                    Some(account) => account,
                    None => mask_name(&self.profile(&citizen_id)?.particulars.english_name),
                };
                let redirect_origin = origin_of(&request.redirect_uri)?;
                let granted: Vec<&str> = request
                    .granted
                    .as_deref()
                    .unwrap_or("sub")
                    .split(' ')
                    .collect();
                Ok(LoginView::Approved {
                    client_name: client.name,
                    account,
                    shared: requested_items(&scopes)
                        .into_iter()
                        .filter(|t| granted.contains(&t.claim))
                        .collect(),
                    csrf_token,
                    redirect_origin,
                    expires_in: request.auth_time.unwrap_or(now) + self.config.completion_window
                        - now,
                })
            }
            RequestStatus::Approved => self.end_with(
                &request,
                RequestStatus::Approved,
                "the login was not completed in time after the phone approved",
            ),
            RequestStatus::Denied => {
                let code = match request.error_code.as_deref() {
                    Some("unmet_authentication_requirements") => {
                        OAuthErrorCode::UnmetAuthenticationRequirements
                    }
                    _ => OAuthErrorCode::AccessDenied,
                };
                let description = match code {
                    OAuthErrorCode::UnmetAuthenticationRequirements => {
                        "the citizen's account does not have the requested assurance level"
                    }
                    _ => "the login was declined or stopped",
                };
                Ok(LoginView::Redirect(self.error_redirect(
                    &request.redirect_uri,
                    &oauth(code, description),
                    request.state.as_deref(),
                )?))
            }
            RequestStatus::CodeIssued | RequestStatus::Redeemed => Ok(LoginView::Finished),
        }
    }

    /// Whether the browser may still continue an approved request.
    fn in_completion_window(&self, request: &AuthRequestRecord, now: i64) -> bool {
        request
            .auth_time
            .is_some_and(|t| t > now - self.config.completion_window)
    }

    /// Whether a pending request whose approval window passed may show a new code: the login
    /// page's own lifetime has not run out.
    fn renewable(&self, request: &AuthRequestRecord, now: i64) -> bool {
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
            OAuthErrorCode::AccessDenied.as_str(),
            None,
        )?;
        Ok(LoginView::Redirect(self.error_redirect(
            &request.redirect_uri,
            &oauth(OAuthErrorCode::AccessDenied, description),
            request.state.as_deref(),
        )?))
    }

    /// Short status for the waiting page's poll: `pending` (with the seconds until the QR code
    /// changes), `ready` or `expired`.
    pub fn login_status(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        now: i64,
    ) -> Result<(&'static str, Option<i64>), Error> {
        let request = self.browser_request(request_id, browser_secret)?;
        Ok(match request.status {
            RequestStatus::Pending if request.expires_at > now => {
                ("pending", Some(self.approval_link(&request, now).1))
            }
            RequestStatus::Pending => ("expired", None),
            _ => ("ready", None),
        })
    }

    /// The current approval link of a login page (for its QR code), and the seconds until it
    /// changes.
    pub fn current_approval_link(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        now: i64,
    ) -> Result<(String, i64), Error> {
        let request = self.browser_request(request_id, browser_secret)?;
        if request.status != RequestStatus::Pending || request.expires_at <= now {
            return Err(Error::Gone("login request"));
        }
        Ok(self.approval_link(&request, now))
    }

    /// The person at the browser answers: continue (after seeing whose account approved), not
    /// me, a new code, or cancel. Nothing here records consent: that was decided on the phone.
    pub fn browser_answer(
        &self,
        request_id: &str,
        browser_secret: Option<&str>,
        csrf_token: &str,
        answer: BrowserAnswer,
        now: i64,
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
        match (answer, request.status) {
            (BrowserAnswer::Continue, RequestStatus::Approved) => self.issue_code(&request, now),
            (BrowserAnswer::NotMe, RequestStatus::Approved) => {
                let citizen_id = request.citizen_id.clone().unwrap_or_default();
                let event = self.record(
                    Event::new("login.refused_in_browser", &Actor::System)
                        .citizen(&citizen_id)
                        .detail(Detail {
                            client_id: Some(request.client_id.clone()),
                            reason: Some("not_me".into()),
                            ..Detail::default()
                        }),
                    now,
                )?;
                if !self.store.deny_auth_request(
                    request_id,
                    RequestStatus::Approved,
                    OAuthErrorCode::AccessDenied.as_str(),
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
                )?))
            }
            (BrowserAnswer::Renew, RequestStatus::Pending)
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
            (
                BrowserAnswer::Cancel,
                status @ (RequestStatus::Pending | RequestStatus::Approved),
            ) => self.end_with(&request, status, "the login was cancelled in the browser"),
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
            OAuthErrorCode::AccessDenied.as_str(),
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
        )?))
    }

    fn issue_code(&self, request: &AuthRequestRecord, now: i64) -> Result<LoginView, Error> {
        let code = random_token();
        match self.store.issue_code(
            &request.request_id,
            &sha256(code.as_bytes()),
            now + self.config.code_ttl,
            now - self.config.completion_window + 1,
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
        Ok(LoginView::Redirect(self.client_redirect(
            &request.redirect_uri,
            &[("code", &code)],
            request.state.as_deref(),
        )?))
    }

    /// Authenticates a client at the token endpoint. Unknown clients and wrong secrets fail
    /// alike, in constant time with respect to the secret.
    fn authenticate_client(
        &self,
        basic: Option<(String, String)>,
        params: &TokenParams,
    ) -> Result<ClientRecord, Error> {
        let failed = || {
            oauth(
                OAuthErrorCode::InvalidClient,
                "client authentication failed",
            )
        };
        let (client_id, secret) = match (basic, &params.client_secret) {
            (Some(_), Some(_)) => {
                return Err(oauth(
                    OAuthErrorCode::InvalidRequest,
                    "use one client authentication method, not two",
                )
                .into())
            }
            (Some((id, secret)), None) => {
                if params.client_id.as_deref().is_some_and(|p| p != id) {
                    return Err(oauth(
                        OAuthErrorCode::InvalidRequest,
                        "client_id differs from the authenticated client",
                    )
                    .into());
                }
                (id, secret)
            }
            (None, Some(secret)) => match &params.client_id {
                Some(id) => (id.clone(), secret.clone()),
                None => return Err(failed().into()),
            },
            (None, None) => return Err(failed().into()),
        };
        let presented = sha256(secret.as_bytes());
        match self.store.client(&client_id)? {
            Some(client) if ct_eq(&presented, &client.secret_hash) => Ok(client),
            _ => {
                tracing::warn!(target: "eid::security", event = "client_authentication_failed", client_id = %client_id, "client authentication failed at the token endpoint");
                Err(failed().into())
            }
        }
    }

    /// The token endpoint (RFC 6749 §4.1.3, OIDC Core §3.1.3). `basic` carries HTTP Basic
    /// credentials, already form-decoded (RFC 6749 §2.3.1).
    pub fn token(
        &self,
        basic: Option<(String, String)>,
        params: &TokenParams,
        now: i64,
    ) -> Result<TokenResponse, Error> {
        use OAuthErrorCode::*;
        let client = self.authenticate_client(basic, params)?;
        match params.grant_type.as_deref() {
            None | Some("") => return Err(oauth(InvalidRequest, "grant_type is required").into()),
            Some("authorization_code") => {}
            Some(_) => {
                return Err(
                    oauth(UnsupportedGrantType, "only authorization_code is supported").into(),
                )
            }
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| oauth(InvalidRequest, "code is required"))?;
        let invalid_code = || {
            oauth(
                InvalidGrant,
                "the authorization code is invalid, expired or was issued to another client",
            )
        };
        let (request, account_status) = self
            .store
            .auth_request_by_code(&sha256(code.as_bytes()))?
            .filter(|(r, _)| r.client_id == client.client_id)
            .ok_or_else(invalid_code)?;
        match request.status {
            RequestStatus::CodeIssued => {}
            RequestStatus::Redeemed => {
                // RFC 6749 §4.1.2: a replayed code revokes what was issued from it.
                let revoked = self.store.revoke_tokens_for_request(&request.request_id)?;
                tracing::warn!(target: "eid::security", event = "code_replayed", client_id = %client.client_id, request = %request_ref(&request.request_id), revoked, "authorization code replayed; tokens revoked");
                return Err(oauth(
                    InvalidGrant,
                    "the authorization code was already used; tokens issued from it are revoked",
                )
                .into());
            }
            _ => return Err(invalid_code().into()),
        }
        if request.code_expires_at.is_none_or(|t| t <= now) {
            return Err(invalid_code().into());
        }
        if params.redirect_uri.as_deref() != Some(request.redirect_uri.as_str()) {
            return Err(oauth(
                InvalidGrant,
                "redirect_uri does not match the authorization request",
            )
            .into());
        }
        // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
        let verifier = params
            .code_verifier
            .as_deref()
            .ok_or_else(|| oauth(InvalidGrant, "code_verifier is required (PKCE)"))?;
        if !is_pkce_value(verifier)
            || !ct_eq(
                b64url(&sha256(verifier.as_bytes())).as_bytes(),
                request.code_challenge.as_bytes(),
            )
        {
            return Err(oauth(
                InvalidGrant,
                "PKCE verification failed: code_verifier does not match code_challenge",
            )
            .into());
        }
        let (Some(citizen_id), Some(acr), Some(amr)) =
            (request.citizen_id.clone(), request.acr, request.amr.clone())
        else {
            return Err(Error::Internal("an issued code lacks its approval".into()));
        };
        // A suspended or closed account's codes and tokens stop working.
        if account_status != Some(AccountStatus::Active) {
            return Err(oauth(InvalidGrant, "the citizen's account is not active").into());
        }
        let access_token = random_token();
        let alg = JwsAlg::parse(&client.id_token_alg).ok_or_else(|| {
            Error::Internal(format!(
                "client {} has an unknown id_token_alg {:?}",
                client.client_id, client.id_token_alg
            ))
        })?;
        let mut claims = serde_json::json!({
            "iss": self.config.issuer_str(),
            "sub": self.pairwise_sub(&client.client_id, &citizen_id),
            "aud": client.client_id,
            "exp": now + self.config.id_token_ttl,
            "iat": now,
            "auth_time": request.auth_time.unwrap_or(now),
            "at_hash": half_hash(&access_token),
            // The assurance level the account was proven at when it approved.
            "acr": acr.acr(),
            // RFC 8176: only what the approval verified.
            "amr": amr.split(' ').collect::<Vec<_>>(),
        });
        if let Some(nonce) = &request.nonce {
            claims["nonce"] = serde_json::Value::String(nonce.clone());
        }
        let id_token = sign_jwt(self.keys.as_ref(), alg, &claims)?;
        // What the citizen chose to share on the phone; the scope says which scopes that
        // covers (RFC 6749 §3.3: the granted scope may be narrower than the requested one).
        let shared = request.granted.clone().unwrap_or_else(|| "sub".to_owned());
        let scope = granted_scope(&request.scope, &shared);
        let record = AccessTokenRecord {
            token_hash: sha256(access_token.as_bytes()).to_vec(),
            request_id: request.request_id.clone(),
            client_id: client.client_id.clone(),
            citizen_id,
            scope: scope.clone(),
            expires_at: now + self.config.access_token_ttl,
            claims: shared,
        };
        if !self.store.redeem_code(&request.request_id, &record)? {
            // Another request redeemed it first.
            return Err(oauth(InvalidGrant, "the authorization code was already used").into());
        }
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: self.config.access_token_ttl.unsigned_abs(),
            id_token,
            scope,
        })
    }

    /// The pairwise subject identifier (OIDC Core §8.1): a keyed hash of client and citizen, so
    /// that services cannot correlate a citizen by `sub`.
    pub fn pairwise_sub(&self, client_id: &str, citizen_id: &str) -> String {
        b64url(
            &self
                .derived
                .pairwise
                .hash(&[client_id.as_bytes(), citizen_id.as_bytes()]),
        )
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(is_pkce_value(verifier));
        assert_eq!(
            b64url(&sha256(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_values_have_bounded_length_and_alphabet() {
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(is_pkce_value(&"a".repeat(128)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn acr_values_require_the_lowest_known_level() {
        assert_eq!(required_level(None), None);
        assert_eq!(
            required_level(Some("1 2")),
            None,
            "unknown values are ignored"
        );
        assert_eq!(required_level(Some("urn:eid:loa:plus")), Some(Level::Plus));
        assert_eq!(
            required_level(Some("urn:eid:loa:plus x urn:eid:loa:basic")),
            Some(Level::Basic)
        );
    }

    fn params() -> AuthorizationParams {
        AuthorizationParams {
            response_type: Some("code".into()),
            scope: Some("openid profile".into()),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            ..AuthorizationParams::default()
        }
    }

    #[test]
    fn authorization_checks_run_in_the_specs_order() {
        use OAuthErrorCode::*;
        let code = |p: &AuthorizationParams| check_authorization_params(p).map_err(|e| e.code);
        assert_eq!(
            code(&params()),
            Ok((vec!["openid".to_owned(), "profile".to_owned()], None))
        );
        // A request object is refused before anything else is looked at.
        let mut p = params();
        p.request = Some("x".into());
        p.response_type = None;
        assert_eq!(code(&p), Err(RequestNotSupported));
        let mut p = params();
        p.response_type = Some("token".into());
        p.scope = None;
        assert_eq!(code(&p), Err(UnsupportedResponseType));
        let mut p = params();
        p.scope = Some("profile".into());
        p.code_challenge = None;
        assert_eq!(code(&p), Err(InvalidScope));
        let mut p = params();
        p.code_challenge_method = Some("plain".into());
        assert_eq!(code(&p), Err(InvalidRequest));
        let mut p = params();
        p.prompt = Some("login none".into());
        assert_eq!(code(&p), Err(LoginRequired));
        let mut p = params();
        p.state = Some("s".repeat(2049));
        assert_eq!(code(&p), Err(InvalidRequest));
    }
}
