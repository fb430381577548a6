//! A module's run: its log, the provider's discovery document, and the relying party's steps
//! (authorization request, the browser's journey to the redirect URI, the token request,
//! userinfo), each checked as the specifications say.

use std::time::Instant;

use rand::RngExt as _;
use reqwest::Method;
use sha2::Digest as _;
use url::Url;

use crate::config::{ClientAuth, ClientConfig, Pkce};
use crate::http::{self, Response};
use crate::idtoken::{self, IdToken, IdTokenExpectations};
use crate::log::{Entry, Item, Outcome, Stop};
use crate::{b64url, Suite};

/// How the provider returns the authorization response (a plan's variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// In the redirect URI's query (the default for `code`).
    Query,
    /// As an auto-submitted HTML form posted to the redirect URI (OAuth 2.0 Form Post
    /// Response Mode).
    FormPost,
}

/// A module's run.
pub struct Ctx<'s> {
    pub suite: &'s Suite,
    pub response_mode: ResponseMode,
    started: Instant,
    log: Vec<Entry>,
    discovery: Option<serde_json::Value>,
    /// How many times the person acted (logged in, approved, consented) in the last journey.
    interactions: usize,
    /// The person does nothing: journeys stop at the first page (for modules that answer on
    /// the phone themselves).
    hands_off: bool,
}

/// Where a browser's journey ended.
#[derive(Debug)]
pub enum Landing {
    /// At a redirect URI (`to`), with these response parameters, in the URL or posted
    /// (`form_post`).
    Callback {
        to: String,
        params: Vec<(String, String)>,
        form_post: bool,
    },
    /// Anywhere else: an error page, say.
    Page(Response),
}

/// What the suite's relying party asks in an authorization request.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Which of the configured clients (0: the first).
    pub client: usize,
    /// A client the module registered itself (dynamic registration), instead.
    pub registered: Option<ClientConfig>,
    pub scope: String,
    pub nonce: bool,
    pub state: bool,
    /// The state's length in characters (0: the suite's default of 32).
    pub state_length: usize,
    /// Further parameters, sent as given (`prompt`, `max_age`, `claims`, ...).
    pub extra: Vec<(String, String)>,
    /// Overrides the run's PKCE setting.
    pub pkce: Option<bool>,
    /// Leave out `response_type` (for the module that checks its absence is refused).
    pub omit_response_type: bool,
    /// Send the request as a form POST to the authorization endpoint (OIDC Core §3.1.2.1).
    pub post: bool,
    /// Use this redirect URI instead of the client's.
    pub redirect_uri: Option<String>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            client: 0,
            registered: None,
            scope: "openid".into(),
            nonce: true,
            state: true,
            state_length: 0,
            extra: Vec::new(),
            pkce: None,
            omit_response_type: false,
            post: false,
            redirect_uri: None,
        }
    }
}

impl AuthOptions {
    pub fn scope(mut self, scope: &str) -> Self {
        self.scope = scope.into();
        self
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }
}

/// An authorization request as sent, with what its answer must match.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client: ClientConfig,
    pub redirect_uri: String,
    pub params: Vec<(String, String)>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub verifier: Option<String>,
    pub post: bool,
    pub sent_at: i64,
}

impl AuthRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A token endpoint's successful answer.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub body: serde_json::Value,
}

/// A whole code flow's results.
#[derive(Debug)]
pub struct Flow {
    pub request: AuthRequest,
    pub code: String,
    pub tokens: Tokens,
    pub id_token: IdToken,
}

#[allow(clippy::disallowed_methods)] // The suite is a client with its own clock.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn random_value() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    b64url(&bytes)
}

/// The parameter of `name` in `pairs`.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether `url` is `redirect_uri` (scheme, host, port and path; the query may carry the
/// response).
pub fn is_redirect_to(url: &Url, redirect_uri: &str) -> bool {
    let Ok(target) = Url::parse(redirect_uri) else {
        return false;
    };
    url.scheme() == target.scheme()
        && url.host_str() == target.host_str()
        && url.port_or_known_default() == target.port_or_known_default()
        && url.path() == target.path()
}

impl<'s> Ctx<'s> {
    pub fn new(suite: &'s Suite, response_mode: ResponseMode) -> Self {
        Self {
            suite,
            response_mode,
            started: Instant::now(),
            log: Vec::new(),
            discovery: None,
            interactions: 0,
            hands_off: false,
        }
    }

    /// How many times the person acted on the provider's pages in the last journey (none: the
    /// provider answered without asking anything).
    pub fn interactions(&self) -> usize {
        self.interactions
    }

    /// Whether the login driver acts on the provider's pages (it does unless told).
    pub fn set_hands_off(&mut self, hands_off: bool) {
        self.hands_off = hands_off;
    }

    pub fn into_log(self) -> Vec<Entry> {
        self.log
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn push(&mut self, item: Item) {
        let at_ms = self.elapsed_ms();
        self.log.push(Entry { at_ms, item });
    }

    fn record(&mut self, condition: &str, outcome: Outcome, message: String, requirement: &str) {
        self.push(Item::Check {
            condition: condition.into(),
            outcome,
            message,
            requirement: (!requirement.is_empty()).then(|| requirement.to_owned()),
        });
    }

    pub fn info(&mut self, message: impl Into<String>) {
        self.record("Info", Outcome::Info, message.into(), "");
    }

    pub fn success(&mut self, condition: &str, message: impl Into<String>) {
        self.record(condition, Outcome::Success, message.into(), "");
    }

    pub fn warning(&mut self, condition: &str, message: impl Into<String>, requirement: &str) {
        self.record(condition, Outcome::Warning, message.into(), requirement);
    }

    pub fn review(&mut self, condition: &str, message: impl Into<String>) {
        self.record(condition, Outcome::Review, message.into(), "");
    }

    /// Logs a failure; the module stops with the returned [`Stop`].
    pub fn fail(&mut self, condition: &str, message: impl Into<String>, requirement: &str) -> Stop {
        self.record(condition, Outcome::Failure, message.into(), requirement);
        Stop::Failed
    }

    /// A MUST: success when `ok`, otherwise a failure that stops the module.
    pub fn require(
        &mut self,
        ok: bool,
        condition: &str,
        message: impl Into<String>,
        requirement: &str,
    ) -> Result<(), Stop> {
        let message = message.into();
        if ok {
            self.success(condition, message);
            Ok(())
        } else {
            Err(self.fail(condition, format!("not so: {message}"), requirement))
        }
    }

    /// A SHOULD: success when `ok`, otherwise a warning.
    pub fn should(
        &mut self,
        ok: bool,
        condition: &str,
        message: impl Into<String>,
        requirement: &str,
    ) {
        let message = message.into();
        if ok {
            self.success(condition, message);
        } else {
            self.warning(condition, format!("not so: {message}"), requirement);
        }
    }

    /// Skips the module with a reason.
    pub fn skip(&mut self, reason: impl Into<String>) -> Stop {
        let reason = reason.into();
        self.info(format!("skipped: {reason}"));
        Stop::Skipped(reason)
    }

    /// A transport-level check: plain HTTP is a failure unless the run allows it.
    fn require_https(&mut self, what: &str, url: &Url, requirement: &str) -> Result<(), Stop> {
        if url.scheme() == "https" {
            self.success("CheckHttps", format!("{what} uses https"));
            Ok(())
        } else if self.suite.config.danger_allow_http {
            // The report's header says the run allowed plain HTTP.
            self.info(format!(
                "{what} is {url}, not https (allowed by --danger-allow-http)"
            ));
            Ok(())
        } else {
            Err(self.fail(
                "CheckHttps",
                format!("{what} is {url}, not https"),
                requirement,
            ))
        }
    }

    /// Sends a request and logs the exchange. A transport failure fails the module.
    pub async fn send(
        &mut self,
        client: &reqwest::Client,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, Stop> {
        let request = match request.build() {
            Ok(r) => r,
            Err(e) => {
                return Err(self.fail("BuildRequest", format!("building a request: {e}"), ""))
            }
        };
        let (result, evidence) = http::exchange(client, request).await;
        self.push(Item::Http(evidence));
        result.map_err(|e| self.fail("HttpRequest", e, ""))
    }

    /// A back-channel GET.
    pub async fn get(&mut self, url: &str) -> Result<Response, Stop> {
        let http = self.suite.http.clone();
        self.send(&http, http.get(url)).await
    }

    // --- discovery -----------------------------------------------------------------------

    /// The provider's discovery document, fetched once per module.
    pub async fn discovery(&mut self) -> Result<serde_json::Value, Stop> {
        if let Some(d) = &self.discovery {
            return Ok(d.clone());
        }
        let url = self.suite.config.discovery_url();
        let response = self.get(&url).await?;
        self.require(
            response.status == 200,
            "CheckDiscoveryEndpointStatus",
            format!("{url} answers 200 (it answered {})", response.status),
            "OIDC Discovery §4.2",
        )?;
        let Some(doc) = response.json().filter(serde_json::Value::is_object) else {
            return Err(self.fail(
                "ParseDiscovery",
                "the discovery document is not a JSON object",
                "OIDC Discovery §4.2",
            ));
        };
        let issuer = doc["issuer"].as_str().unwrap_or_default().to_owned();
        self.require(
            issuer == self.suite.config.issuer,
            "CheckDiscoveryIssuer",
            format!(
                "discovery's issuer {issuer:?} is the issuer configured, {:?}",
                self.suite.config.issuer
            ),
            "OIDC Discovery §4.3",
        )?;
        self.discovery = Some(doc.clone());
        Ok(doc)
    }

    /// A string member of the discovery document.
    pub async fn metadata_str(&mut self, name: &str) -> Result<Option<String>, Stop> {
        Ok(self.discovery().await?[name].as_str().map(str::to_owned))
    }

    /// A list member of the discovery document; `None` when absent.
    pub async fn metadata_list(&mut self, name: &str) -> Result<Option<Vec<String>>, Stop> {
        Ok(self.discovery().await?[name].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        }))
    }

    /// An endpoint the flow needs; a failure when discovery does not give a usable URL.
    pub async fn endpoint(&mut self, name: &str) -> Result<Url, Stop> {
        let value = self.metadata_str(name).await?;
        match value.as_deref().map(Url::parse) {
            Some(Ok(url)) => {
                self.require_https(name, &url, "OIDC Discovery §3")?;
                Ok(url)
            }
            Some(Err(e)) => Err(self.fail(
                "CheckDiscoveryEndpoint",
                format!("{name} is not a URL: {e}"),
                "OIDC Discovery §3",
            )),
            None => Err(self.fail(
                "CheckDiscoveryEndpoint",
                format!("discovery has no {name}"),
                "OIDC Discovery §3",
            )),
        }
    }

    /// The provider's signing keys, fetched now (so that a module sees rotations).
    pub async fn jwks(&mut self) -> Result<serde_json::Value, Stop> {
        let url = self.endpoint("jwks_uri").await?;
        let response = self.get(url.as_str()).await?;
        self.require(
            response.status == 200,
            "CheckJwksStatus",
            format!("jwks_uri answers 200 (it answered {})", response.status),
            "OIDC Discovery §3",
        )?;
        match response.json() {
            Some(set) if set["keys"].is_array() => Ok(set),
            _ => Err(self.fail(
                "ParseJwks",
                "jwks_uri does not answer a JSON Web Key Set ({\"keys\": [...]})",
                "RFC 7517 §5",
            )),
        }
    }

    /// Whether a request with PKCE is due, given the run's setting and what discovery offers.
    async fn use_pkce(&mut self, forced: Option<bool>) -> Result<bool, Stop> {
        if let Some(forced) = forced {
            return Ok(forced);
        }
        Ok(match self.suite.config.pkce {
            Pkce::Always => true,
            Pkce::Never => false,
            Pkce::Auto => self
                .metadata_list("code_challenge_methods_supported")
                .await?
                .is_some_and(|m| m.iter().any(|m| m == "S256")),
        })
    }

    pub fn client(&mut self, index: usize) -> Result<ClientConfig, Stop> {
        match self.suite.config.clients.get(index) {
            Some(c) => Ok(c.clone()),
            None => Err(self.skip(format!(
                "this module needs {} clients registered for the suite; the clients file lists {}",
                index + 1,
                self.suite.config.clients.len()
            ))),
        }
    }

    // --- the front channel -----------------------------------------------------------------

    /// A new browser: a cookie jar, no redirects followed on its own.
    pub fn browser(&self) -> reqwest::Client {
        crate::new_client(true)
    }

    /// Builds an authorization request (OIDC Core §3.1.2.1).
    pub async fn authorization_request(
        &mut self,
        options: &AuthOptions,
    ) -> Result<AuthRequest, Stop> {
        let client = match &options.registered {
            Some(client) => client.clone(),
            None => self.client(options.client)?,
        };
        let redirect_uri = options
            .redirect_uri
            .clone()
            .unwrap_or_else(|| client.redirect_uri.to_string());
        let mut params: Vec<(String, String)> = Vec::new();
        if !options.omit_response_type {
            params.push(("response_type".into(), "code".into()));
        }
        params.push(("client_id".into(), client.client_id.clone()));
        params.push(("redirect_uri".into(), redirect_uri.clone()));
        params.push(("scope".into(), options.scope.clone()));
        let state = options.state.then(|| match options.state_length {
            0 => random_value(),
            n => {
                let mut long = String::new();
                while long.len() < n {
                    long.push_str(&random_value());
                }
                long.truncate(n);
                long
            }
        });
        if let Some(state) = &state {
            params.push(("state".into(), state.clone()));
        }
        let nonce = options.nonce.then(random_value);
        if let Some(nonce) = &nonce {
            params.push(("nonce".into(), nonce.clone()));
        }
        if self.response_mode == ResponseMode::FormPost {
            params.push(("response_mode".into(), "form_post".into()));
        }
        let verifier = if self.use_pkce(options.pkce).await? {
            let verifier = format!("{}{}", random_value(), random_value());
            params.push((
                "code_challenge".into(),
                b64url(&sha2::Sha256::digest(verifier.as_bytes())),
            ));
            params.push(("code_challenge_method".into(), "S256".into()));
            Some(verifier)
        } else {
            None
        };
        params.extend(options.extra.iter().cloned());
        Ok(AuthRequest {
            client,
            redirect_uri,
            params,
            state,
            nonce,
            verifier,
            post: options.post,
            sent_at: now(),
        })
    }

    /// Sends the authorization request in `browser` and walks the browser through the
    /// provider's pages (the login driver acting for the person) until it reaches the redirect
    /// URI or a page nobody can act on.
    pub async fn authorize(
        &mut self,
        browser: &reqwest::Client,
        request: &AuthRequest,
    ) -> Result<Landing, Stop> {
        let endpoint = self.endpoint("authorization_endpoint").await?;
        let first = if request.post {
            browser.post(endpoint).form(&request.params)
        } else {
            let mut url = endpoint;
            url.query_pairs_mut().extend_pairs(&request.params);
            browser.get(url)
        };
        self.info(format!(
            "authorization request ({}): {}",
            if request.post { "POST" } else { "GET" },
            request
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        ));
        // The browser stops at the request's redirect URI, and at the client's registered one
        // when the request names another.
        let mut stops = vec![request.redirect_uri.clone()];
        if request.redirect_uri != request.client.redirect_uri.as_str() {
            stops.push(request.client.redirect_uri.to_string());
        }
        self.navigate(browser, first, &stops).await
    }

    /// Follows a browser's journey from `first` until it reaches one of `redirect_uris` (the
    /// relying party is not fetched: its parameters are the answer) or a page the driver cannot
    /// act on.
    pub async fn navigate(
        &mut self,
        browser: &reqwest::Client,
        first: reqwest::RequestBuilder,
        redirect_uris: &[String],
    ) -> Result<Landing, Stop> {
        let mut next = first;
        let mut acted = 0;
        let mut waited = 0;
        self.interactions = 0;
        for _ in 0..30 {
            let retry = next.try_clone();
            let response = self.send(browser, next).await?;
            if let (429, Some(retry)) = (response.status, retry) {
                // RFC 6585 §4: a rate-limited browser waits as told, for up to two minutes in all.
                let secs: u64 = response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(u64::MAX);
                if waited + secs <= 120 {
                    self.info(format!(
                        "rate-limited (429): waiting {secs} s as Retry-After says"
                    ));
                    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                    waited += secs;
                    next = retry;
                    continue;
                }
            }
            if let Some(location) = response.location() {
                if let Some(to) = redirect_uris.iter().find(|r| is_redirect_to(&location, r)) {
                    let mut params: Vec<(String, String)> = location
                        .query_pairs()
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    if let Some(fragment) = location.fragment() {
                        // A response in the fragment is read the way a browser's script would.
                        params.extend(
                            url::form_urlencoded::parse(fragment.as_bytes())
                                .map(|(k, v)| (k.into_owned(), v.into_owned())),
                        );
                    }
                    self.info(format!(
                        "the browser reached the redirect URI: {}",
                        http::masked_url(&location)
                    ));
                    return Ok(Landing::Callback {
                        to: to.clone(),
                        params,
                        form_post: false,
                    });
                }
                next = browser.get(location);
                continue;
            }
            if response.is_html() {
                // A form_post answer may come with an error status (an error response).
                if let Some((to, params)) = redirect_uris
                    .iter()
                    .find_map(|r| crate::driver::form_post_to(&response, r).map(|f| (r.clone(), f)))
                {
                    self.info("the provider posted the response to the redirect URI (form_post)");
                    return Ok(Landing::Callback {
                        to,
                        params,
                        form_post: true,
                    });
                }
            }
            if response.status == 200 && response.is_html() && acted < 8 && !self.hands_off {
                if let Some(request) = crate::driver::act(self, browser, &response).await? {
                    acted += 1;
                    self.interactions = acted;
                    next = request;
                    continue;
                }
            }
            return Ok(Landing::Page(response));
        }
        Err(self.fail(
            "Navigate",
            "the browser was sent around more than 30 times without reaching the redirect URI",
            "",
        ))
    }

    /// The authorization response's parameters; a failure when the browser did not reach the
    /// request's redirect URI, or the response came in another way than the mode asked.
    pub fn callback(
        &mut self,
        request: &AuthRequest,
        landing: Landing,
    ) -> Result<Vec<(String, String)>, Stop> {
        match landing {
            Landing::Callback { to, .. } if to != request.redirect_uri => Err(self.fail(
                "CheckRedirectUri",
                format!("the provider sent the browser to {to}, not to the request's redirect URI"),
                "OIDC Core §3.1.2.5",
            )),
            Landing::Callback {
                params, form_post, ..
            } => {
                match (self.response_mode, form_post) {
                    (ResponseMode::FormPost, false) => {
                        return Err(self.fail(
                            "CheckFormPostResponse",
                            "response_mode=form_post was asked, but the response came in the redirect URI's URL",
                            "OAuth 2.0 Form Post Response Mode §2",
                        ))
                    }
                    (ResponseMode::Query, true) => {
                        return Err(self.fail(
                            "CheckQueryResponse",
                            "the response was posted, though the request asked for none of form_post",
                            "OAuth 2.0 Multiple Response Types §2.1",
                        ))
                    }
                    _ => {}
                }
                Ok(params)
            }
            Landing::Page(page) => Err(self.fail(
                "ReachRedirectUri",
                format!(
                    "the browser did not come back to the redirect URI: the provider left it on a {} page at {}",
                    page.status,
                    http::masked_url(&page.url)
                ),
                "OIDC Core §3.1.2.5",
            )),
        }
    }

    /// Checks a successful authorization response (OIDC Core §3.1.2.5, RFC 9207) and returns
    /// its code.
    pub async fn expect_code(
        &mut self,
        request: &AuthRequest,
        params: &[(String, String)],
    ) -> Result<String, Stop> {
        if let Some(error) = param(params, "error") {
            return Err(self.fail(
                "CheckAuthorizationResponse",
                format!(
                    "the provider answered error={error} ({})",
                    param(params, "error_description").unwrap_or("no description")
                ),
                "OIDC Core §3.1.2.5",
            ));
        }
        self.check_state(request, params)?;
        self.check_iss(params).await?;
        match param(params, "code") {
            Some(code) if !code.is_empty() => {
                self.success("CheckAuthorizationCode", "the response carries a code");
                Ok(code.to_owned())
            }
            _ => Err(self.fail(
                "CheckAuthorizationCode",
                "the response carries no code",
                "RFC 6749 §4.1.2",
            )),
        }
    }

    /// Checks an error response: an `error` code among `allowed`, `state` echoed, `iss`.
    pub async fn expect_error(
        &mut self,
        request: &AuthRequest,
        params: &[(String, String)],
        allowed: &[&str],
        requirement: &str,
    ) -> Result<String, Stop> {
        let Some(error) = param(params, "error").map(str::to_owned) else {
            return Err(self.fail(
                "CheckErrorResponse",
                format!(
                    "the provider answered without an error, expected one of {}",
                    allowed.join(", ")
                ),
                requirement,
            ));
        };
        self.require(
            allowed.contains(&error.as_str()),
            "CheckErrorCode",
            format!("the error is {error}, one of {}", allowed.join(", ")),
            requirement,
        )?;
        self.check_state(request, params)?;
        self.check_iss(params).await?;
        Ok(error)
    }

    fn check_state(
        &mut self,
        request: &AuthRequest,
        params: &[(String, String)],
    ) -> Result<(), Stop> {
        match (&request.state, param(params, "state")) {
            (Some(sent), got) => self.require(
                got == Some(sent.as_str()),
                "CheckStateInAuthorizationResponse",
                "the response returns the request's state unchanged",
                "RFC 6749 §4.1.2",
            ),
            (None, None) => {
                self.success(
                    "CheckStateInAuthorizationResponse",
                    "no state was sent and none came back",
                );
                Ok(())
            }
            (None, Some(_)) => Err(self.fail(
                "CheckStateInAuthorizationResponse",
                "no state was sent, but the response carries one",
                "RFC 6749 §4.1.2",
            )),
        }
    }

    /// RFC 9207: a provider that says it sends `iss` must, and any `iss` must be the issuer.
    async fn check_iss(&mut self, params: &[(String, String)]) -> Result<(), Stop> {
        let promised = self.discovery().await?["authorization_response_iss_parameter_supported"]
            .as_bool()
            .unwrap_or(false);
        match param(params, "iss") {
            Some(iss) => self.require(
                iss == self.suite.config.issuer,
                "CheckIssInAuthorizationResponse",
                format!("the response's iss is the issuer ({iss})"),
                "RFC 9207 §2.4",
            ),
            None if promised => Err(self.fail(
                "CheckIssInAuthorizationResponse",
                "discovery says authorization responses carry iss, but this one does not",
                "RFC 9207 §3",
            )),
            None => {
                self.info("the response carries no iss (discovery does not promise it)");
                Ok(())
            }
        }
    }

    // --- the back channel ------------------------------------------------------------------

    /// A token request with the client's credentials, as its configuration says.
    pub async fn token_request(
        &mut self,
        client: &ClientConfig,
        form: Vec<(String, String)>,
        auth: Option<ClientAuth>,
    ) -> Result<Response, Stop> {
        let endpoint = self.endpoint("token_endpoint").await?;
        self.client_post(client, endpoint, form, auth).await
    }

    /// A form posted to a client-authenticated endpoint (the token endpoint's ways: RFC 6749
    /// §2.3, RFC 7523), with the client's credentials as its configuration says.
    pub async fn client_post(
        &mut self,
        client: &ClientConfig,
        endpoint: Url,
        form: Vec<(String, String)>,
        auth: Option<ClientAuth>,
    ) -> Result<Response, Stop> {
        let http = self.suite.http.clone();
        let mut form = form;
        let request = match auth.unwrap_or(client.token_endpoint_auth_method) {
            ClientAuth::ClientSecretBasic => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                http.post(endpoint)
                    .basic_auth(enc(&client.client_id), Some(enc(&client.client_secret)))
            }
            ClientAuth::ClientSecretPost => {
                form.push(("client_id".into(), client.client_id.clone()));
                form.push(("client_secret".into(), client.client_secret.clone()));
                http.post(endpoint)
            }
            ClientAuth::PrivateKeyJwt => {
                let Some(key) = client.private_jwk.as_ref().and_then(crate::jose::key_of) else {
                    return Err(self.skip(
                        "a private_key_jwt client needs its private key (private_jwk, EC P-256) in the clients file",
                    ));
                };
                let claims = crate::jose::assertion_claims(
                    &client.client_id,
                    self.suite.config.issuer.clone().into(),
                    now(),
                );
                form.push(("client_assertion_type".into(), crate::JWT_BEARER.into()));
                form.push((
                    "client_assertion".into(),
                    crate::jose::assertion(&key, &claims),
                ));
                http.post(endpoint)
            }
        };
        self.send(&http, request.form(&form)).await
    }

    /// Redeems a code, checking the answer (RFC 6749 §5.1, OIDC Core §3.1.3.3).
    pub async fn redeem(&mut self, request: &AuthRequest, code: &str) -> Result<Tokens, Stop> {
        self.redeem_with(request, code, None).await
    }

    pub async fn redeem_with(
        &mut self,
        request: &AuthRequest,
        code: &str,
        auth: Option<ClientAuth>,
    ) -> Result<Tokens, Stop> {
        let mut form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".into(), code.to_owned()),
            ("redirect_uri".into(), request.redirect_uri.clone()),
        ];
        if let Some(verifier) = &request.verifier {
            form.push(("code_verifier".into(), verifier.clone()));
        }
        let response = self.token_request(&request.client, form, auth).await?;
        self.check_tokens(&response)
    }

    /// Checks a successful token response of bearer tokens.
    pub fn check_tokens(&mut self, response: &Response) -> Result<Tokens, Stop> {
        self.check_tokens_of(response, "Bearer")
    }

    /// Checks a successful token response whose `token_type` is `token_type` (`Bearer`, or
    /// `DPoP` for a request with a DPoP proof).
    pub fn check_tokens_of(&mut self, response: &Response, expected: &str) -> Result<Tokens, Stop> {
        let body = response.json().unwrap_or_default();
        if response.status != 200 {
            return Err(self.fail(
                "CheckTokenEndpointStatus",
                format!(
                    "the token endpoint answered {} ({})",
                    response.status,
                    body["error"].as_str().unwrap_or("no error code")
                ),
                "RFC 6749 §5.1",
            ));
        }
        self.success(
            "CheckTokenEndpointStatus",
            "the token endpoint answered 200",
        );
        self.require(
            response
                .header("content-type")
                .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json")),
            "CheckTokenEndpointContentType",
            "the token response is application/json",
            "RFC 6749 §5.1",
        )?;
        let no_store = response
            .header("cache-control")
            .is_some_and(|c| c.to_ascii_lowercase().contains("no-store"));
        self.require(
            no_store,
            "CheckTokenEndpointCacheHeaders",
            "the token response carries Cache-Control: no-store",
            "RFC 6749 §5.1",
        )?;
        let access_token = body["access_token"].as_str().unwrap_or_default().to_owned();
        self.require(
            !access_token.is_empty(),
            "CheckAccessToken",
            "the token response carries an access_token",
            "RFC 6749 §5.1",
        )?;
        let token_type = body["token_type"].as_str().unwrap_or_default().to_owned();
        self.require(
            token_type.eq_ignore_ascii_case(expected),
            "CheckTokenType",
            format!("token_type is {expected} (case-insensitive): {token_type:?}"),
            "RFC 6750 §4, RFC 9449 §5, OIDC Core §3.1.3.3",
        )?;
        match &body["expires_in"] {
            serde_json::Value::Null => self.warning(
                "CheckExpiresIn",
                "the token response has no expires_in",
                "RFC 6749 §5.1 (RECOMMENDED)",
            ),
            v if v.as_u64().is_some() => {
                self.success("CheckExpiresIn", format!("expires_in is {v}"))
            }
            v => {
                return Err(self.fail(
                    "CheckExpiresIn",
                    format!("expires_in is not a number of seconds: {v}"),
                    "RFC 6749 §5.1",
                ))
            }
        }
        let id_token = body["id_token"].as_str().map(str::to_owned);
        Ok(Tokens {
            access_token,
            token_type,
            id_token,
            refresh_token: body["refresh_token"].as_str().map(str::to_owned),
            scope: body["scope"].as_str().map(str::to_owned),
            body,
        })
    }

    /// Checks the ID token of a code flow (OIDC Core §3.1.3.7).
    pub async fn check_id_token(
        &mut self,
        request: &AuthRequest,
        tokens: &Tokens,
        code: Option<&str>,
    ) -> Result<IdToken, Stop> {
        let Some(jwt) = tokens.id_token.clone() else {
            return Err(self.fail(
                "CheckIdToken",
                "the token response has no id_token",
                "OIDC Core §3.1.3.3",
            ));
        };
        let jwks = self.jwks().await?;
        let expected = IdTokenExpectations {
            issuer: self.suite.config.issuer.clone(),
            client_id: request.client.client_id.clone(),
            nonce: request.nonce.clone(),
            access_token: Some(tokens.access_token.clone()),
            code: code.map(str::to_owned),
            max_age: request.param("max_age").and_then(|v| v.parse().ok()),
            request_time: request.sent_at,
            skew: self.suite.config.clock_skew_secs,
            now: now(),
        };
        idtoken::check(self, &jwt, &jwks, &expected)
    }

    /// A GET to userinfo with `access_token`, unchecked (for modules that judge the answer
    /// themselves).
    pub async fn userinfo_get(&mut self, access_token: &str) -> Result<Response, Stop> {
        let endpoint = self.endpoint("userinfo_endpoint").await?;
        let http = self.suite.http.clone();
        self.send(&http, http.get(endpoint).bearer_auth(access_token))
            .await
    }

    /// Calls userinfo with the access token, by `method` (`get`, `post-header`, `post-body`),
    /// and checks the answer's `sub` (OIDC Core §5.3.2).
    pub async fn userinfo(
        &mut self,
        tokens: &Tokens,
        id_token: &IdToken,
        method: &str,
    ) -> Result<serde_json::Value, Stop> {
        let endpoint = self.endpoint("userinfo_endpoint").await?;
        let http = self.suite.http.clone();
        let request = match method {
            "get" => http.get(endpoint).bearer_auth(&tokens.access_token),
            "post-header" => http
                .request(Method::POST, endpoint)
                .bearer_auth(&tokens.access_token),
            _ => http
                .post(endpoint)
                .form(&[("access_token", tokens.access_token.as_str())]),
        };
        let response = self.send(&http, request).await?;
        self.require(
            response.status == 200,
            "CheckUserInfoStatus",
            format!("userinfo answered 200 (it answered {})", response.status),
            "OIDC Core §5.3.2",
        )?;
        let content_type = response
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let claims = if content_type.starts_with("application/json") {
            response.json().filter(serde_json::Value::is_object)
        } else if content_type.starts_with("application/jwt") {
            self.info("userinfo answered a signed JWT");
            idtoken::payload(&response.text())
        } else {
            None
        };
        let Some(claims) = claims else {
            return Err(self.fail(
                "ParseUserInfo",
                format!("userinfo's answer is not a JSON object or a JWT ({content_type})"),
                "OIDC Core §5.3.2",
            ));
        };
        self.require(
            claims["sub"].as_str() == Some(id_token.sub()),
            "CheckUserInfoSub",
            "userinfo's sub is the ID token's sub",
            "OIDC Core §5.3.2",
        )?;
        Ok(claims)
    }

    /// A whole code flow with `options`: authorization, the person's login, the code, the
    /// token request and the ID token, each checked.
    pub async fn code_flow(&mut self, options: &AuthOptions) -> Result<Flow, Stop> {
        let browser = self.browser();
        self.code_flow_in(&browser, options).await
    }

    /// [`Ctx::code_flow`] in a given browser (to keep its session).
    pub async fn code_flow_in(
        &mut self,
        browser: &reqwest::Client,
        options: &AuthOptions,
    ) -> Result<Flow, Stop> {
        let request = self.authorization_request(options).await?;
        let landing = self.authorize(browser, &request).await?;
        let params = self.callback(&request, landing)?;
        self.finish(request, &params).await
    }

    /// The rest of a code flow from its authorization response: the code, the token request,
    /// the ID token.
    pub async fn finish(
        &mut self,
        request: AuthRequest,
        params: &[(String, String)],
    ) -> Result<Flow, Stop> {
        let code = self.expect_code(&request, params).await?;
        let tokens = self.redeem(&request, &code).await?;
        let id_token = self.check_id_token(&request, &tokens, Some(&code)).await?;
        Ok(Flow {
            request,
            code,
            tokens,
            id_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_uri_is_recognised_with_its_response_only() {
        let target = "https://rp.example/cb";
        let url = |s: &str| Url::parse(s).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(is_redirect_to(&url("https://rp.example/cb?code=1"), target));
        assert!(is_redirect_to(
            &url("https://rp.example:443/cb#code=1"),
            target
        ));
        assert!(!is_redirect_to(
            &url("https://rp.example/cb2?code=1"),
            target
        ));
        assert!(!is_redirect_to(&url("http://rp.example/cb?code=1"), target));
        assert!(!is_redirect_to(
            &url("https://evil.example/cb?code=1"),
            target
        ));
    }
}
