//! The authorization request (OIDC Core §3.1.2.1–2, RFC 6749 §4.1.1, RFC 7636 §4.3): the
//! client and its redirect URI first (until both check out nothing is redirected), then the
//! parameters in the specs' order, parsed into an [`AuthorizationRequest`] that opens a login.

use serde::{Deserialize, Serialize};

use crate::account::Level;
use crate::audit::Actor;
use crate::claims::{ClaimsRequest, Scope, Scopes};
use crate::crypto::{random_id, random_token, sha256};
use crate::limits::Caller;
use crate::locale::Locale;
use crate::oidc::par::REQUEST_URI_PREFIX;
use crate::oidc::{oauth, pkce, ClientResponse, ResponseMode, ResponseType};
use crate::sso::{login_event, session_ref, silent_error, BrowserContext, SessionAnswer};
use crate::store::{AuthRequestRecord, ClientRecord, LoginState};
use crate::time::UnixTime;
use crate::{Error, OAuthError, OAuthErrorCode, Provider};

/// Authorization request parameters (OIDC Core §3.1.2.1), from the query or the form body.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
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
    /// Individual claims, and where to release them (OIDC Core §5.5).
    pub claims: Option<String>,
    /// Seconds since the citizen last authenticated, at most (OIDC Core §3.1.2.1): a single
    /// sign-on session authenticated longer ago does not answer; the phone is asked again.
    pub max_age: Option<String>,
    /// An ID token eid issued before, naming the citizen the client expects.
    pub id_token_hint: Option<String>,
    pub login_hint: Option<String>,
    /// `page`, `popup`, `touch` or `wap`: eid's pages suit them all.
    pub display: Option<String>,
    /// The languages the citizen prefers for the pages, in order (`en`, `zh-HK`): the first eid
    /// has comes first on its pages.
    pub ui_locales: Option<String>,
    /// The languages the client prefers for claims; eid releases the Chinese name as
    /// `name#zh-Hant` alongside whatever it says.
    pub claims_locales: Option<String>,
    /// The thumbprint of the DPoP key the code is to be bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// The pushed request these parameters were read from (set by eid, never by the client).
    #[serde(skip)]
    pub pushed_id: Option<String>,
}

/// Why an authorization request failed, and so how to tell whom.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI could not be validated: tell the person, never redirect
    /// (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
    Page { title: String, detail: String },
    /// The client's redirect URI is validated: send the error there.
    Redirect(ClientResponse),
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

/// What an authorization request leads to.
#[derive(Debug)]
pub enum Authorized {
    /// A login that waits for the phone, which the browser goes on with.
    Login(PendingLogin),
    /// Answered from the browser's single sign-on session: back to the client at once.
    Answered(ClientResponse),
}

/// A login request the browser goes on with.
#[derive(Debug)]
pub struct PendingLogin {
    pub request_id: String,
    /// Goes in a cookie; only its hash is stored.
    pub browser_secret: String,
}

/// An authorization request whose parameters checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub response_type: ResponseType,
    /// The scopes eid supports among those requested, `openid` always among them.
    pub scopes: Scopes,
    /// The lowest level the client accepts (from `acr_values`), if it named one eid knows.
    pub required_level: Option<Level>,
    /// The `prompt` values eid acts on, space-separated (`none` alone, or among `login`,
    /// `consent`, `select_account`).
    pub prompt: Option<String>,
    /// The most seconds since the citizen authenticated that the client accepts.
    pub max_age: Option<i64>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The PKCE S256 challenge (empty in the implicit flow, which has no code).
    pub code_challenge: String,
    pub response_mode: ResponseMode,
    pub claims: ClaimsRequest,
    /// The citizen an `id_token_hint` names (pairwise at the client).
    pub expected_sub: Option<String>,
    /// The DPoP key the code is bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// The pushed request it came from (RFC 9126).
    pub pushed_id: Option<String>,
    /// The language the client asked for the pages in (`ui_locales`), if eid has one of them.
    pub ui_locale: Option<Locale>,
}

/// The lowest level among the `acr_values` eid knows; `None` when it knows none of them
/// (`acr_values` is a voluntary request, OIDC Core §3.1.2.1: unknown values are ignored).
fn required_level(acr_values: Option<&str>) -> Option<Level> {
    acr_values?.split(' ').filter_map(Level::from_acr).min()
}
impl Provider {
    /// Validates an authorization request and opens a login for it. The parameters are the
    /// query's (or form's), those of a request object, or those pushed before (RFC 9126).
    /// The browser's single sign-on session answers it when it can (see [`crate::sso`]).
    pub fn authorize(
        &self,
        outer: &AuthorizationParams,
        caller: &Caller,
        browser: &BrowserContext,
        now: UnixTime,
    ) -> Result<Authorized, AuthorizeError> {
        let page = |title: &str, detail: &str| AuthorizeError::Page {
            title: title.to_owned(),
            detail: detail.to_owned(),
        };
        // First the client and its redirect URI: until both check out, nothing is redirected.
        let Some(client_id) = outer.client_id.as_deref().filter(|s| !s.is_empty()) else {
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
        // RFC 6749 §4.1.2.1: an error response carries the request's `state`, exactly as
        // received. One over the limit cannot be echoed (review 2026-12-07, I2: 3,000 bytes of
        // anyone's text came back in the redirect), and an error response without it would not
        // be the one the RFC describes, so the person is told here, on a page, and nothing is
        // redirected. (A request object's own `state` is checked the same way below.)
        if state_too_long(outer.state.as_deref()) {
            return Err(oversized_state());
        }
        let params = match self.resolve_request(&client, outer, now) {
            Ok(params) => params,
            Err(Error::OAuth(error)) => {
                // The request's own parameters are unknown: answer at the outer redirect URI
                // if it is registered, or else tell the person.
                return match outer
                    .redirect_uri
                    .as_deref()
                    .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
                {
                    Some(uri) => Err(AuthorizeError::Redirect(self.error_redirect(
                        uri,
                        &error,
                        outer.state.as_deref(),
                        mode_of(outer),
                    )?)),
                    None => Err(page("Invalid login request", &error.description)),
                };
            }
            Err(other) => return Err(other.into()),
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
        if state_too_long(params.state.as_deref()) {
            return Err(oversized_state());
        }
        // Each authorization request opens a login that waits for a phone: bounded per
        // address (and so the logins an address has pending). Per relying party nothing is
        // refused: strangers would spend that limit for every citizen (review 2026-12-07, M2);
        // a high rate is reported, and the logins it leaves pending are capped below.
        let limits = self.config.limits;
        self.limit_address_here(
            "authorize_per_address",
            caller,
            limits.authorize_per_address,
            now,
        )?;
        self.watch_client_rate(&client, now);
        let request = match self.checked_request(&client, &params, now) {
            Ok(request) => request,
            Err(error) => {
                return Err(AuthorizeError::Redirect(self.error_redirect(
                    redirect_uri,
                    &error,
                    params.state.as_deref(),
                    mode_of(&params),
                )?))
            }
        };
        let silent = request.prompt.as_deref() == Some("none");
        if let Some(session) = self.browser_session(browser.session.as_deref(), now)? {
            let answer = self.session_approval(&client, &request, &session, now)?;
            if let SessionAnswer::Approve(approval) = answer {
                if let Some(response) = self.answer_from_session(
                    &client,
                    redirect_uri,
                    &request,
                    &session,
                    approval,
                    now,
                )? {
                    return Ok(Authorized::Answered(response));
                }
            } else if silent {
                return Err(AuthorizeError::Redirect(self.silent_refusal(
                    redirect_uri,
                    &request,
                    silent_error(&answer).unwrap_or(OAuthErrorCode::LoginRequired),
                )?));
            }
        }
        if silent {
            // No session: the citizen must approve on the phone (OIDC Core §3.1.2.6).
            return Err(AuthorizeError::Redirect(self.silent_refusal(
                redirect_uri,
                &request,
                OAuthErrorCode::LoginRequired,
            )?));
        }
        self.cap_pending_logins(&client, now)?;
        Ok(Authorized::Login(self.open_login(
            &client,
            redirect_uri,
            &request,
            caller,
            None,
            now,
        )?))
    }

    /// Counts a client's authorization requests in memory and logs `client.authorize_rate_high`
    /// once a window when they pass [`Limits::authorize_per_client`](crate::limits::Limits):
    /// a flood at one service, for the operator to look at.
    fn watch_client_rate(&self, client: &ClientRecord, now: UnixTime) {
        let threshold = self.config.limits.authorize_per_client;
        let seen = self.count_here(
            "authorize_per_client",
            client.client_id.as_bytes(),
            threshold.window_secs,
            now,
        );
        if seen == threshold.max + 1 {
            tracing::warn!(target: "eid::security", event = "client.authorize_rate_high", client_id = %client.client_id, threshold = threshold.max, window_secs = threshold.window_secs, "a service's authorization requests passed their alert threshold");
        }
    }

    /// Bounds the login requests a client has waiting for a phone: once this node has opened
    /// more than [`Limits::pending_logins_per_client`](crate::limits::Limits) of them within an
    /// approval window, the oldest pending ones are dropped (in batches of a tenth), so a
    /// flood costs a bounded number of rows and never refuses a citizen's new login.
    fn cap_pending_logins(&self, client: &ClientRecord, now: UnixTime) -> Result<(), Error> {
        let cap = self.config.limits.pending_logins_per_client.max(1);
        let batch = (cap / 10).max(1);
        let opened = self.count_here(
            "pending_logins_per_client",
            client.client_id.as_bytes(),
            self.config.approval_window.max(1),
            now,
        );
        // The first request past the cap, then one in every batch.
        if opened <= cap || !(opened - cap - 1).is_multiple_of(batch) {
            return Ok(());
        }
        // This one is about to be added: keep room for it and the rest of the batch.
        let dropped = self
            .store
            .drop_oldest_pending_auth_requests(&client.client_id, cap.saturating_sub(batch))?;
        tracing::warn!(target: "eid::security", event = "client.pending_logins_dropped", client_id = %client.client_id, dropped, cap, "a service's oldest pending logins were dropped");
        Ok(())
    }

    /// `prompt=none` could not be answered silently: `login_required` or `consent_required`.
    fn silent_refusal(
        &self,
        redirect_uri: &str,
        request: &AuthorizationRequest,
        code: OAuthErrorCode,
    ) -> Result<ClientResponse, Error> {
        let description = match code {
            OAuthErrorCode::ConsentRequired => {
                "the citizen has not agreed to share what is asked with this service; ask without prompt=none"
            }
            _ => "the citizen is not signed in to eid in this browser, or must approve again; ask without prompt=none",
        };
        self.error_redirect(
            redirect_uri,
            &oauth(code, description),
            request.state.as_deref(),
            request.response_mode,
        )
    }

    /// Answers a request from the browser's session: the login is recorded with the session,
    /// already holding its code, and the client gets the code (or, in the implicit flow, the
    /// tokens). `None` when the session ended meanwhile.
    fn answer_from_session(
        &self,
        client: &ClientRecord,
        redirect_uri: &str,
        request: &AuthorizationRequest,
        session: &crate::store::BrowserSessionRecord,
        approval: crate::store::Approval,
        now: UnixTime,
    ) -> Result<Option<ClientResponse>, Error> {
        // A pushed request's URI is spent by the first code issued from it (RFC 9126 §4).
        if let Some(pushed) = request.pushed_id.as_deref() {
            if !self.spend_pushed_request(pushed, now)? {
                return Ok(Some(self.error_redirect(
                    redirect_uri,
                    &oauth(
                        OAuthErrorCode::InvalidRequestUri,
                        "the pushed request was already used",
                    ),
                    request.state.as_deref(),
                    request.response_mode,
                )?));
            }
        }
        let code = random_token();
        let record = AuthRequestRecord {
            request_id: random_id(),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: request.scopes,
            state: request.state.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            // No browser continues it: a secret no one holds.
            browser_hash: sha256(random_token().as_bytes()).to_vec(),
            context: None,
            required_level: request.required_level,
            login: LoginState::CodeIssued {
                approval: approval.clone(),
                code_hash: sha256(code.as_bytes()).to_vec(),
                code_expires_at: now + self.config.code_ttl,
            },
            created_at: now,
            expires_at: now,
            prompt: request.prompt.clone(),
            response_type: request.response_type,
            response_mode: request.response_mode,
            claims: request.claims.clone(),
            expected_sub: request.expected_sub.clone(),
            dpop_jkt: request.dpop_jkt.clone(),
            par_id: request.pushed_id.clone(),
        };
        let actor = Actor::Citizen {
            device_id: Some(approval.device_id.clone().into_string()),
        };
        let event = self.record(
            login_event(&approval, &client.client_id, "login.single_sign_on", &actor),
            now,
        )?;
        if !self
            .store
            .insert_session_login(&record, &session.session_id, &event, now)?
        {
            return Ok(None);
        }
        tracing::info!(target: "eid::security", event = "login.single_sign_on", client_id = %client.client_id, session = %session_ref(&session.session_id), claims = %approval.granted, "login answered from a single sign-on session");
        if request.response_type.is_implicit() {
            return self.implicit_response(&record, &approval, now);
        }
        Ok(Some(self.client_redirect(
            redirect_uri,
            &[("code", &code)],
            request.state.as_deref(),
            request.response_mode,
        )?))
    }

    /// The request's checks (in the specs' order), then its `id_token_hint`: an ID token eid
    /// issued to this client, whose citizen alone may approve.
    pub(crate) fn checked_request(
        &self,
        client: &ClientRecord,
        params: &AuthorizationParams,
        now: UnixTime,
    ) -> Result<AuthorizationRequest, OAuthError> {
        let mut request = check_authorization_params(params)?;
        self.check_response_type(client, request.response_type)?;
        if !client.metadata.signing {
            // Only clients the operator allowed to ask for signatures get the `sign` scope:
            // for the others it is narrowed away like a scope eid does not know (RFC 6749
            // §3.3), so that the phone never offers it.
            request.scopes = request.scopes.without(Scope::Sign);
        }
        if let Some(hint) = &params.id_token_hint {
            let hint = match self.read_id_token_hint(hint, now) {
                Ok(hint) => hint,
                Err(Error::OAuth(e)) => return Err(e),
                Err(other) => {
                    return Err(oauth(OAuthErrorCode::ServerError, other.to_string()));
                }
            };
            if client.client_id != hint.client_id {
                return Err(oauth(
                    OAuthErrorCode::InvalidRequest,
                    "the id_token_hint was issued to another client",
                ));
            }
            request.expected_sub = Some(hint.sub);
        }
        Ok(request)
    }

    /// The request's own parameters: pushed before under `request_uri`, carried in a request
    /// object, or the outer ones.
    fn resolve_request(
        &self,
        client: &ClientRecord,
        outer: &AuthorizationParams,
        now: UnixTime,
    ) -> Result<AuthorizationParams, Error> {
        match (&outer.request, &outer.request_uri) {
            (Some(_), Some(_)) => Err(oauth(
                OAuthErrorCode::InvalidRequest,
                "request and request_uri may not be used together",
            )
            .into()),
            (None, Some(uri)) if uri.starts_with(REQUEST_URI_PREFIX) => {
                self.pushed_request(&client.client_id, uri, now)
            }
            _ if client.requires_par() => Err(oauth(
                OAuthErrorCode::InvalidRequest,
                "this client must push its authorization requests to the PAR endpoint (RFC 9126)",
            )
            .into()),
            (None, Some(uri)) => {
                // A request object by reference (OIDC Core §6.2), from a URI the client
                // registered (the fragment, a version marker, aside).
                let base = uri.split('#').next().unwrap_or_default();
                let registered = client
                    .metadata
                    .request_uris
                    .iter()
                    .any(|r| r.split('#').next() == Some(base));
                if !registered {
                    return Err(oauth(
                        OAuthErrorCode::InvalidRequestUri,
                        "the request_uri is not one the client registered (request_uris), nor a pushed request's",
                    )
                    .into());
                }
                let object = self
                    .fetch_document(uri, crate::fetch::Document::RequestObject)
                    .map_err(|reason| {
                        oauth(
                            OAuthErrorCode::InvalidRequestUri,
                            format!("request_uri: {reason}"),
                        )
                    })?;
                let object = String::from_utf8(object).map_err(|_| {
                    oauth(
                        OAuthErrorCode::InvalidRequestObject,
                        "the request object is not text",
                    )
                })?;
                let outer = AuthorizationParams {
                    request_uri: None,
                    ..outer.clone()
                };
                Ok(self.open_request_object(client, object.trim(), &outer, now)?)
            }
            (Some(object), None) => Ok(self.open_request_object(client, object, outer, now)?),
            (None, None) => Ok(outer.clone()),
        }
    }
}

impl Provider {
    /// Whether this client may use this response type: the implicit flow only where the
    /// operator allows it and the client registered it (OIDC Registration §2,
    /// `response_types`).
    pub(crate) fn check_response_type(
        &self,
        client: &ClientRecord,
        response_type: ResponseType,
    ) -> Result<(), OAuthError> {
        if !response_type.is_implicit() {
            return Ok(());
        }
        if !self.config.danger_implicit_flow {
            return Err(oauth(
                OAuthErrorCode::UnsupportedResponseType,
                "the implicit flow is switched off here: use response_type=code",
            ));
        }
        if client.is_fapi2() || !client.allows_response_type(response_type) {
            return Err(oauth(
                OAuthErrorCode::UnauthorizedClient,
                format!(
                    "the client did not register the response type {}",
                    response_type.as_str()
                ),
            ));
        }
        Ok(())
    }
}

/// The response mode asked for; an unsupported one is answered in the response type's
/// default one.
fn mode_of(params: &AuthorizationParams) -> ResponseMode {
    let default = params
        .response_type
        .as_deref()
        .and_then(ResponseType::parse)
        .unwrap_or_default()
        .default_mode();
    match params
        .response_mode
        .as_deref()
        .and_then(ResponseMode::parse)
    {
        // Tokens never travel in a query.
        Some(ResponseMode::Query) => default,
        Some(mode) => mode,
        None => default,
    }
}

/// The checks after the redirect URI is trusted, in the order the specs list them. (Public for
/// the fuzz targets: it is a parser of untrusted input.)
pub fn check_authorization_params(
    p: &AuthorizationParams,
) -> Result<AuthorizationRequest, OAuthError> {
    use OAuthErrorCode::*;
    if p.request.is_some() || p.request_uri.is_some() {
        return Err(oauth(
            InvalidRequest,
            "a request object may not carry another request",
        ));
    }
    let response_type = match p.response_type.as_deref() {
        None | Some("") => return Err(oauth(InvalidRequest, "response_type is required")),
        Some(value) => ResponseType::parse(value).ok_or_else(|| {
            oauth(
                UnsupportedResponseType,
                "response_type must be code (or, where the implicit flow is allowed, id_token or id_token token)",
            )
        })?,
    };
    let response_mode = match p.response_mode.as_deref() {
        None => response_type.default_mode(),
        Some(mode) => ResponseMode::parse(mode).ok_or_else(|| {
            oauth(
                InvalidRequest,
                "response_mode must be query, fragment or form_post",
            )
        })?,
    };
    if response_type.is_implicit() && response_mode == ResponseMode::Query {
        return Err(oauth(
            InvalidRequest,
            "tokens are never sent in a query: use response_mode fragment or form_post",
        ));
    }
    let scopes = Scopes::narrowed(p.scope.as_deref().unwrap_or(""));
    if !scopes.contains(Scope::OpenId) {
        return Err(oauth(InvalidScope, "scope must include openid"));
    }
    if response_type.is_implicit() {
        // OIDC Core §3.2.2.1: the nonce is what ties a token in the response to the browser.
        if p.nonce.as_deref().is_none_or(str::is_empty) {
            return Err(oauth(
                InvalidRequest,
                "nonce is required in the implicit flow",
            ));
        }
    } else {
        check_pkce(p)?;
    }
    check_common(p, response_type, response_mode, scopes)
}

/// PKCE (RFC 7636 §4.3), required of every code flow request: an S256 challenge.
fn check_pkce(p: &AuthorizationParams) -> Result<(), OAuthError> {
    use OAuthErrorCode::*;
    match p.code_challenge.as_deref() {
        None | Some("") => {
            return Err(oauth(
                InvalidRequest,
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ))
        }
        Some(challenge) if !pkce::is_s256_challenge(challenge) => {
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
    Ok(())
}

/// The checks every response type shares, after its own.
/// The longest `state` eid takes (and echoes), in bytes.
pub const MAX_STATE: usize = 2048;

fn state_too_long(state: Option<&str>) -> bool {
    state.is_some_and(|s| s.len() > MAX_STATE)
}

/// The page for a `state` too long to echo (RFC 6749 §4.1.2.1 wants it back exactly).
fn oversized_state() -> AuthorizeError {
    AuthorizeError::Page {
        title: "Invalid login request".to_owned(),
        detail: format!(
            "The service's request carries a state longer than {MAX_STATE} bytes, which eid does not send back. Go back to the service and start again."
        ),
    }
}

fn check_common(
    p: &AuthorizationParams,
    response_type: ResponseType,
    response_mode: ResponseMode,
    scopes: Scopes,
) -> Result<AuthorizationRequest, OAuthError> {
    use OAuthErrorCode::*;
    if let Some(prompt) = p.prompt.as_deref() {
        let prompts: Vec<&str> = prompt.split(' ').collect();
        if prompts.contains(&"none") && prompts.len() > 1 {
            return Err(oauth(
                InvalidRequest,
                "prompt=none cannot be combined with other values",
            ));
        }
    }
    for (name, value, max) in [("state", &p.state, MAX_STATE), ("nonce", &p.nonce, 512)] {
        if value.as_ref().is_some_and(|v| v.len() > max) {
            return Err(oauth(
                InvalidRequest,
                format!("{name} is longer than {max} bytes"),
            ));
        }
    }
    let max_age = match p.max_age.as_deref() {
        None => None,
        Some(max_age) => match max_age.parse::<u32>() {
            Ok(secs) => Some(i64::from(secs)),
            Err(_) => {
                return Err(oauth(
                    InvalidRequest,
                    "max_age must be a non-negative number of seconds",
                ))
            }
        },
    };
    if let Some(jkt) = p.dpop_jkt.as_deref() {
        // A base64url SHA-256 thumbprint (RFC 7638).
        if jkt.len() != 43
            || !jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(oauth(
                InvalidRequest,
                "dpop_jkt must be the base64url SHA-256 thumbprint of a key (RFC 9449 §10)",
            ));
        }
    }
    if let Some(display) = p.display.as_deref() {
        if !matches!(display, "page" | "popup" | "touch" | "wap") {
            return Err(oauth(
                InvalidRequest,
                "display must be page, popup, touch or wap",
            ));
        }
    }
    let prompt = p
        .prompt
        .as_deref()
        .map(|p| {
            // Only the values eid acts on are kept (OIDC Core §3.1.2.1 defines four).
            p.split(' ')
                .filter(|v| matches!(*v, "none" | "login" | "consent" | "select_account"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty());
    let (claims, acr_claim) = match p.claims.as_deref() {
        None => Default::default(),
        Some(json) => ClaimsRequest::parse(json).map_err(|e| oauth(InvalidRequest, e))?,
    };
    let acr_claim = acr_claim.join(" ");
    let required_level = match (
        required_level(p.acr_values.as_deref()),
        required_level(Some(&acr_claim)),
    ) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Ok(AuthorizationRequest {
        response_type,
        scopes,
        required_level,
        claims,
        prompt,
        max_age,
        state: p.state.clone(),
        nonce: p.nonce.clone(),
        code_challenge: match response_type {
            ResponseType::Code => p.code_challenge.clone().unwrap_or_default(),
            _ => String::new(),
        },
        response_mode,
        expected_sub: None,
        dpop_jkt: p.dpop_jkt.clone(),
        pushed_id: p.pushed_id.clone(),
        // A preference (OIDC Core §3.1.2.1): languages eid does not have are passed over.
        ui_locale: p.ui_locales.as_deref().and_then(Locale::negotiate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn authorization_checks_run_in_the_specs_order() -> Result<(), &'static str> {
        use OAuthErrorCode::*;
        let code = |p: &AuthorizationParams| check_authorization_params(p).map_err(|e| e.code);
        let mut p = params();
        p.prompt = Some("consent bogus login".into());
        let accepted = code(&p).map_err(|e| e.as_str())?;
        assert_eq!(accepted.scopes.to_string(), "openid profile");
        assert_eq!(accepted.prompt.as_deref(), Some("consent login"));
        assert_eq!(accepted.required_level, None);
        // An unresolved request object is refused before anything else is looked at.
        let mut p = params();
        p.request = Some("x".into());
        p.response_type = None;
        assert_eq!(code(&p), Err(InvalidRequest));
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
        p.prompt = Some("none".into());
        let silent = code(&p).map_err(|e| e.as_str())?;
        assert_eq!(
            silent.prompt.as_deref(),
            Some("none"),
            "answered by a session"
        );
        p.prompt = Some("login none".into());
        assert_eq!(code(&p), Err(InvalidRequest), "none with another value");
        let mut p = params();
        p.state = Some("s".repeat(2049));
        assert_eq!(code(&p), Err(InvalidRequest));
        let mut p = params();
        p.max_age = Some("-1".into());
        assert_eq!(code(&p), Err(InvalidRequest));
        p.max_age = Some("600".into());
        assert_eq!(code(&p).map(|r| r.max_age), Ok(Some(600)));
        Ok(())
    }

    #[test]
    fn a_state_too_long_to_echo_is_told_on_a_page() {
        assert!(!state_too_long(None));
        assert!(!state_too_long(Some(&"s".repeat(MAX_STATE))));
        assert!(state_too_long(Some(&"s".repeat(MAX_STATE + 1))));
        // The page does not repeat it.
        match oversized_state() {
            AuthorizeError::Page { detail, .. } => assert!(detail.contains("2048 bytes")),
            _ => panic!("a page, never a redirect"),
        }
    }

    #[test]
    fn implicit_requests_need_a_nonce_and_never_use_the_query() -> Result<(), &'static str> {
        use OAuthErrorCode::*;
        let code = |p: &AuthorizationParams| check_authorization_params(p).map_err(|e| e.code);
        let mut p = params();
        p.response_type = Some("token id_token".into());
        p.code_challenge = None;
        assert_eq!(code(&p), Err(InvalidRequest), "no nonce");
        p.nonce = Some("n-0S6_WzA2Mj".into());
        let accepted = code(&p).map_err(|e| e.as_str())?;
        assert_eq!(accepted.response_type, ResponseType::IdTokenToken);
        assert_eq!(accepted.response_mode, ResponseMode::Fragment);
        assert_eq!(accepted.code_challenge, "", "no PKCE without a code");
        p.response_mode = Some("query".into());
        assert_eq!(code(&p), Err(InvalidRequest), "tokens in a query");
        assert_eq!(
            mode_of(&p),
            ResponseMode::Fragment,
            "errors go in the fragment"
        );
        p.response_mode = Some("form_post".into());
        assert_eq!(
            code(&p).map(|r| r.response_mode),
            Ok(ResponseMode::FormPost)
        );
        for other in ["code id_token", "token", "id_token id_token", "none"] {
            p.response_type = Some(other.into());
            assert_eq!(code(&p), Err(UnsupportedResponseType), "{other}");
        }
        Ok(())
    }
}
