//! # Department portal: an example relying party for eid
//!
//! A tiny web site of the (fictional) "Department of Example Services" that logs a citizen in
//! through eid with the [`openidconnect`] crate, using the authorization code flow with PKCE,
//! and shows the verified claims. Copy it as the starting point of your own integration.
//!
//! ## Running it against a local eid server
//!
//! 1. Start eid in development mode (it listens on <http://localhost:8080>):
//!
//!    ```sh
//!    cargo run -p eid-server -- --dev
//!    ```
//!
//! 2. Register this portal as a client; the command prints a `client_id` and a `client_secret`:
//!
//!    ```sh
//!    cargo run -p eid-server -- --dev client add --name "Department portal" \
//!        --redirect-uri http://localhost:3000/callback \
//!        --initiate-login-uri http://localhost:3000/initiate-login \
//!        --backchannel-logout-uri http://localhost:3000/backchannel-logout
//!    ```
//!
//!    `--initiate-login-uri` lets eid (its list of services) start a login here, and
//!    `--backchannel-logout-uri` tells the portal when the citizen signs out of eid. A site
//!    that cannot be reached from eid's servers registers
//!    `--frontchannel-logout-uri http://localhost:3000/frontchannel-logout` instead.
//!
//! 3. Start the portal with those credentials, then open <http://localhost:3000>:
//!
//!    ```sh
//!    RP_CLIENT_ID=... RP_CLIENT_SECRET=... cargo run -p department-portal
//!    ```
//!
//! Run `cargo run -p department-portal -- --help` for the other options (issuer, listen address,
//! redirect URI, ID token signing algorithm).
//!
//! ## One-click login and signing out
//!
//! A citizen approves a login on the phone once; while their eid session lasts, every service
//! they open in that browser logs them in at once (docs/sessions.md). The portal takes part
//! with four endpoints:
//!
//! - `GET /initiate-login?iss=..&target_link_uri=..&login_hint=..` (third-party-initiated
//!   login, OIDC Core §4): eid's service list, or any link, starts a login here. `iss` must be
//!   the configured issuer exactly and `target_link_uri` a page of this portal (its redirect
//!   URI's origin), or the request is refused: never an open redirect. After the callback the
//!   browser lands on the target.
//! - `GET /services/driving-licence/renew`: a deep link. Not logged in, it starts the login
//!   with itself as the target; with an eid session the citizen is back on it at once.
//! - `POST /backchannel-logout` (OIDC Back-Channel Logout 1.0): eid posts a signed logout
//!   token; the portal checks it as §2.6 says (signature with eid's keys and the client's ID
//!   token algorithm, `typ: logout+jwt`, `iss`, `aud`, `iat`/`exp`, the logout event, `sid`
//!   or `sub`, no `nonce`, `jti` not seen before) and ends the sessions of that login (the
//!   `sid` its ID token carried).
//! - `GET /frontchannel-logout?iss=..&sid=..` (OIDC Front-Channel Logout 1.0): the same, from
//!   a hidden frame on eid's signed-out page.
//!
//! ## Signing a tenancy agreement
//!
//! Once logged in, a citizen proven in person (eid+) can sign a tenancy agreement the portal
//! makes as a PDF: the portal asks eid (`POST /signing/requests`) with the access token of the
//! citizen's login, which carries the `sign` scope the citizen allowed on the phone ("ask you
//! to sign documents"), shows the verification code eid returns, the citizen reads the PDF on
//! the phone and approves by picking that code (`eid-wallet sign`), and the portal keeps the
//! signed PDF for download. When the citizen's login has ended (signed out, or its access
//! token expired), the portal asks them to log in again. The client must be allowed to sign
//! (eid narrows the `sign` scope away for other clients):
//!
//! ```sh
//! cargo run -p eid-server -- --dev pki init      # once: the signing PKI
//! cargo run -p eid-server -- --dev client add --name "Department portal" \
//!     --redirect-uri http://localhost:3000/callback --allow-signing
//! ```

mod html;
mod logout_token;
mod signing;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{get, web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    reqwest, AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LoginHint, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

use crate::html::{
    agreement_page, error_page, frontchannel_page, home_page, profile_page, renew_page,
    renewal_received_page, Profile,
};
use crate::logout_token::{sid_of_verified_id_token, unix_now, Expected, LogoutVerifier};
use crate::signing::{tenancy_agreement, Signing, SigningApi};

/// Name of the cookie holding our (random, opaque) session id.
const SESSION_COOKIE: &str = "portal_session";

/// How long a login may take from /login to the callback.
const PENDING_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// The deep-linked service page: `/initiate-login` may be asked to land here.
pub const RENEW_PATH: &str = "/services/driving-licence/renew";

/// The longest `target_link_uri` the portal remembers.
const MAX_TARGET_LEN: usize = 2048;

/// The portal's settings (its command line).
#[derive(Parser, Debug)]
#[command(about = "Example department web site that logs citizens in through eid")]
pub struct Args {
    /// The eid issuer URL (discovery is fetched from `<issuer>/.well-known/openid-configuration`).
    #[arg(long, env = "EID_ISSUER", default_value = "http://localhost:8080")]
    pub issuer: String,
    /// The client_id printed by `eid-server client add`.
    #[arg(long, env = "RP_CLIENT_ID")]
    pub client_id: String,
    /// The client_secret printed by `eid-server client add`.
    #[arg(long, env = "RP_CLIENT_SECRET")]
    pub client_secret: String,
    /// Address the portal listens on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: String,
    /// Redirect URI registered for this client; must point at this portal's `/callback`.
    #[arg(long, default_value = "http://localhost:3000/callback")]
    pub redirect_uri: String,
    /// Algorithm the ID token must be signed with (the client's registered algorithm).
    #[arg(long, value_enum, default_value = "RS256")]
    pub id_token_alg: IdTokenAlg,
}

/// The ID token algorithms the portal accepts.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum IdTokenAlg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
}

/// The client type `CoreClient::from_provider_metadata` returns in openidconnect 4: the
/// authorization endpoint is known (`EndpointSet`), the token and userinfo endpoints are
/// optional in discovery (`EndpointMaybeSet`, so `exchange_code`/`user_info` return `Result`).
type EidClient = CoreClient<
    EndpointSet,      // authorization endpoint
    EndpointNotSet,   // device authorization endpoint
    EndpointNotSet,   // introspection endpoint
    EndpointNotSet,   // revocation endpoint
    EndpointMaybeSet, // token endpoint
    EndpointMaybeSet, // userinfo endpoint
>;

/// What we remember about a browser, keyed by the session cookie.
enum Session {
    /// Sent to eid, waiting for the callback. Everything here is single use.
    Pending {
        state: CsrfToken,
        nonce: Nonce,
        pkce_verifier: PkceCodeVerifier,
        /// Abandoned logins are dropped after ten minutes.
        started: std::time::Instant,
        /// Where to go after the callback (a page of this portal), instead of `/`.
        target: Option<url::Url>,
    },
    /// Logged in: the verified claims to show, the citizen's `sub` and name, the ID token's
    /// `sid` (the eid login a back- or front-channel logout names), the access token (with it
    /// the portal asks eid for the citizen's signature), and a tenancy agreement being signed.
    LoggedIn {
        profile: Profile,
        sub: String,
        sid: Option<String>,
        access_token: String,
        name: String,
        chinese_name: Option<String>,
        signing: Option<Signing>,
    },
}

struct AppState {
    client: EidClient,
    /// Issuer as advertised by discovery, compared with the RFC 9207 `iss` callback parameter,
    /// `/initiate-login`'s `iss` and the logout tokens' `iss`.
    issuer: String,
    client_id: String,
    /// The portal's own origin (its redirect URI's): the only place a login may land.
    home: url::Url,
    /// Checks eid's back-channel logout tokens.
    logouts: LogoutVerifier,
    id_token_alg: CoreJwsSigningAlgorithm,
    http_client: reqwest::Client,
    /// In-memory session store. A real site would use its own session middleware or database.
    sessions: Mutex<HashMap<String, Session>>,
    /// eid's document-signing API for this client.
    signing: SigningApi,
}

impl AppState {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A poisoned lock only means another request panicked; the map itself is still usable.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the logged-in sessions of the eid login `sid` (and, if given, of the citizen
    /// `sub`), or with `sid` absent every session of `sub`; returns how many ended.
    fn end_sessions(&self, sid: Option<&str>, sub: Option<&str>) -> usize {
        let mut sessions = self.sessions();
        let before = sessions.len();
        sessions.retain(|_, session| {
            let Session::LoggedIn {
                sid: session_sid,
                sub: session_sub,
                ..
            } = session
            else {
                return true;
            };
            !named_by(session_sid.as_deref(), session_sub, sid, sub)
        });
        before - sessions.len()
    }
}

/// Whether a logout naming `sid` and/or `sub` ends a session of the eid login `session_sid`
/// and the citizen `session_sub`: with `sid`, that login (and with `sub` too, only if the
/// citizen is the same); with `sub` alone, every session of that citizen.
fn named_by(
    session_sid: Option<&str>,
    session_sub: &str,
    sid: Option<&str>,
    sub: Option<&str>,
) -> bool {
    match (sid, sub) {
        (Some(sid), sub) => session_sid == Some(sid) && sub.is_none_or(|s| s == session_sub),
        (None, Some(sub)) => sub == session_sub,
        (None, None) => false,
    }
}

/// `raw` as a page of this portal (whose home is `home`) to land on after logging in: an
/// absolute URL on the portal's own origin (never another site: that would be an open
/// redirect), without credentials or fragment.
fn own_target(home: &url::Url, raw: &str) -> Result<url::Url, String> {
    if raw.len() > MAX_TARGET_LEN {
        return Err("The link is too long.".into());
    }
    let mut target =
        url::Url::parse(raw).map_err(|_| "The link is not an absolute URL.".to_owned())?;
    if target.origin() != home.origin() {
        return Err(format!(
            "The link leads to {}, not to this site ({}).",
            target.origin().ascii_serialization(),
            home.origin().ascii_serialization()
        ));
    }
    let _ = target.set_username("");
    let _ = target.set_password(None);
    target.set_fragment(None);
    Ok(target)
}

/// Query parameters eid sends to the redirect URI: either `code` + `state` (+ `iss`), or an
/// `error` (e.g. `access_denied` when the citizen declines, or
/// `unmet_authentication_requirements` when the service asked for a level the account lacks).
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// 256 random bits, hex encoded: an unguessable session id.
fn random_session_id() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn session_id(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// Turns any unexpected failure into a 500 page showing the error chain.
fn or_500(result: anyhow::Result<HttpResponse>) -> HttpResponse {
    result.unwrap_or_else(|err| {
        error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            &format!("{err:#}"),
        )
    })
}

#[get("/")]
async fn index(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    let sessions = app.sessions();
    match session_id(&req).and_then(|id| sessions.get(&id)) {
        Some(Session::LoggedIn { profile, .. }) => profile_page(profile),
        _ => home_page(),
    }
}

#[get("/login")]
async fn login(app: web::Data<AppState>) -> HttpResponse {
    start_login(&app, None, None)
}

/// Sends the browser to eid to log in, remembering (for this browser only, behind a new
/// session cookie) what the callback needs; after it the browser goes to `target` or home.
fn start_login(
    app: &AppState,
    target: Option<url::Url>,
    login_hint: Option<String>,
) -> HttpResponse {
    // PKCE (RFC 7636) with S256: eid requires it even for confidential clients.
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = app
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        // `openid` is added automatically; ask for the profile claims we want to show. eid
        // releases only proven particulars: the address only when an officer saw a proof of it.
        // `sign`: leave to ask the citizen to sign the agreement while they are logged in (the
        // phone asks them; eid grants it only to clients allowed to sign).
        .add_scopes(["profile", "address", "sign"].map(|s| Scope::new(s.to_owned())))
        .set_pkce_challenge(pkce_challenge);
    if let Some(hint) = login_hint {
        request = request.set_login_hint(LoginHint::new(hint));
    }
    let (authorize_url, state, nonce) = request.url();

    let session_id = random_session_id();
    let mut sessions = app.sessions();
    // Bound what anonymous visitors can make us keep: abandoned logins go after ten minutes.
    sessions.retain(|_, s| match s {
        Session::Pending { started, .. } => started.elapsed() < PENDING_LIFETIME,
        Session::LoggedIn { .. } => true,
    });
    sessions.insert(
        session_id.clone(),
        Session::Pending {
            state,
            nonce,
            pkce_verifier,
            started: std::time::Instant::now(),
            target,
        },
    );
    drop(sessions);
    // Lax lets the cookie come back on eid's top-level redirect to /callback. Behind HTTPS also
    // add `.secure(true)`.
    let cookie = Cookie::build(SESSION_COOKIE, session_id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, authorize_url.to_string()))
        .finish()
}

/// Third-party-initiated login (OIDC Core §4): eid (or any page the citizen followed) sends the
/// browser here with eid's issuer and, optionally, the page to land on and a login hint.
#[derive(Deserialize)]
struct InitiateLoginQuery {
    iss: Option<String>,
    target_link_uri: Option<String>,
    login_hint: Option<String>,
}

/// `GET /initiate-login?iss=..&target_link_uri=..&login_hint=..`: starts the same login as
/// `/login`, for the issuer named only if it is eid's, landing on `target_link_uri` only if it
/// is a page of this portal. It always asks eid, even when this browser is logged in here: the
/// citizen who followed the link may be another one. With an eid session eid answers at once
/// (one-click login), without one it shows its QR code.
#[get("/initiate-login")]
async fn initiate_login(
    query: web::Query<InitiateLoginQuery>,
    app: web::Data<AppState>,
) -> HttpResponse {
    let query = query.into_inner();
    match query.iss.as_deref() {
        Some(iss) if iss == app.issuer => {}
        Some(iss) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unknown identity provider",
                &format!(
                    "This site logs in with {} only, not with {iss}.",
                    app.issuer
                ),
            )
        }
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Login not started",
                "The link does not name the identity provider (iss).",
            )
        }
    }
    let target = match query
        .target_link_uri
        .as_deref()
        .map(|t| own_target(&app.home, t))
    {
        None => None,
        Some(Ok(target)) => Some(target),
        Some(Err(why)) => {
            return error_page(StatusCode::BAD_REQUEST, "Link refused", &why);
        }
    };
    start_login(&app, target, query.login_hint.filter(|h| !h.is_empty()))
}

#[get("/callback")]
async fn callback(
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
    app: web::Data<AppState>,
) -> HttpResponse {
    or_500(handle_callback(req, query.into_inner(), &app).await)
}

async fn handle_callback(
    req: HttpRequest,
    query: CallbackQuery,
    app: &AppState,
) -> anyhow::Result<HttpResponse> {
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Login was not completed",
            &format!("eid returned “{error}”. {description}"),
        ));
    }

    // Take (remove) the pending login: state, nonce and verifier must never be reused. A
    // logged-in session stays: a stray callback (another site can send the browser here) must
    // not log the citizen out.
    let session_id = session_id(&req).context("no session cookie; start again from /login")?;
    let pending = {
        let mut sessions = app.sessions();
        match sessions.get(&session_id) {
            Some(Session::Pending { .. }) => sessions.remove(&session_id),
            _ => None,
        }
    };
    let Some(Session::Pending {
        state,
        nonce,
        pkce_verifier,
        target,
        ..
    }) = pending
    else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "No login in progress",
            "This browser has no pending login. Please start again.",
        ));
    };

    // CSRF: the state must be exactly the one we generated for this browser.
    if query.state.as_deref() != Some(state.secret().as_str()) {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Invalid state",
            "The state parameter does not match this browser's login. Please start again.",
        ));
    }
    // RFC 9207: eid advertises `authorization_response_iss_parameter_supported`, so the
    // response must name its issuer, and it must be the one we discovered (mix-up defence).
    if query.iss.as_deref() != Some(app.issuer.as_str()) {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Wrong issuer",
            &format!(
                "The response came from {:?}, not from {:?}.",
                query.iss.as_deref().unwrap_or("an unnamed issuer"),
                app.issuer
            ),
        ));
    }
    let code = query
        .code
        .context("the callback has neither code nor error")?;

    // Back channel: exchange the code at the token endpoint. The client secret is sent with HTTP
    // Basic authentication (client_secret_basic, the default), plus the PKCE verifier.
    let token_response = app
        .client
        .exchange_code(AuthorizationCode::new(code))?
        .set_pkce_verifier(pkce_verifier)
        .request_async(&app.http_client)
        .await
        .context("token request failed")?;

    // Verify the ID token: signature against eid's JWKS (with the algorithm registered for this
    // client only), issuer, audience, expiry and our nonce.
    let id_token = token_response
        .id_token()
        .context("eid did not return an ID token")?;
    let verifier = app
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![app.id_token_alg.clone()]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .context("ID token verification failed")?;

    // at_hash binds the access token to this ID token, so it cannot have been swapped.
    if let Some(expected) = claims.access_token_hash() {
        let actual = AccessTokenHash::from_token(
            token_response.access_token(),
            id_token.signing_alg()?,
            id_token.signing_key(&verifier)?,
        )?;
        if actual != *expected {
            bail!("the access token does not match the ID token's at_hash");
        }
    }

    // Fetch the profile claims from the userinfo endpoint, insisting on the same subject.
    let userinfo: CoreUserInfoClaims = app
        .client
        .user_info(
            token_response.access_token().clone(),
            Some(claims.subject().clone()),
        )?
        .request_async(&app.http_client)
        .await
        .context("userinfo request failed")?;

    let profile = Profile::from_claims(claims, &userinfo);
    let names = userinfo.name().or(claims.name());
    let name = names
        .and_then(|n| n.get(None))
        .map(|n| n.to_string())
        .unwrap_or_default();
    let chinese_name = names
        .and_then(|n| n.get(Some(&openidconnect::LanguageTag::new("zh-Hant".to_owned()))))
        .map(|n| n.to_string());
    // The login's `sid` (OIDC Front-/Back-Channel Logout): what eid names when the citizen
    // signs out of eid. The core claims type has no field for it; the token is verified above.
    let sid = sid_of_verified_id_token(&id_token.to_string());
    // A new session id for the logged-in session: the one the browser carried before logging in
    // (which someone may have planted) is gone (session fixation).
    let logged_in = random_session_id();
    app.sessions().insert(
        logged_in.clone(),
        Session::LoggedIn {
            profile,
            sub: claims.subject().to_string(),
            sid,
            access_token: token_response.access_token().secret().clone(),
            name,
            chinese_name,
            signing: None,
        },
    );
    let cookie = Cookie::build(SESSION_COOKIE, logged_in)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    // The page the login was for: an absolute URL on this portal's origin (checked when it was
    // asked for), never a path alone (`//other.site` would leave the site).
    let to = target.map_or_else(|| "/".to_owned(), String::from);
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, to))
        .finish())
}

/// `GET /services/driving-licence/renew`: a service page a citizen may be sent to directly
/// (from eid's list of services, a bookmark, an e-mail). Logged in, the form with the
/// citizen's name; otherwise the login, landing back here.
#[get("/services/driving-licence/renew")]
async fn renew(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    let names = session_id(&req).and_then(|id| match app.sessions().get(&id) {
        Some(Session::LoggedIn {
            name, chinese_name, ..
        }) => Some((name.clone(), chinese_name.clone())),
        _ => None,
    });
    match names {
        Some((name, chinese_name)) => renew_page(&name, chinese_name.as_deref()),
        None => start_login(&app, app.home.join(RENEW_PATH).ok(), None),
    }
}

/// `POST /services/driving-licence/renew`: the example's end of the form. (A POST from
/// another site does not carry the session cookie, which is SameSite=Lax.)
#[actix_web::post("/services/driving-licence/renew")]
async fn renew_submitted(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    let logged_in = session_id(&req)
        .is_some_and(|id| matches!(app.sessions().get(&id), Some(Session::LoggedIn { .. })));
    if logged_in {
        renewal_received_page()
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, RENEW_PATH))
            .finish()
    }
}

#[derive(Deserialize)]
struct BackchannelForm {
    logout_token: String,
}

/// `POST /backchannel-logout`: eid says a citizen signed out of eid (OIDC Back-Channel Logout
/// 1.0): the logout token is verified (§2.6), then the sessions of that eid login end. 200
/// once done (also when no session matched: it may have ended already), 400 with an OAuth
/// error when the token is refused; never cached.
#[actix_web::post("/backchannel-logout")]
async fn backchannel_logout(
    form: Result<web::Form<BackchannelForm>, actix_web::Error>,
    app: web::Data<AppState>,
) -> HttpResponse {
    let refused = |why: &str| {
        HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": "invalid_request", "error_description": why }))
    };
    let Ok(form) = form else {
        return refused("expected a form with a logout_token");
    };
    let expected = Expected {
        issuer: &app.issuer,
        client_id: &app.client_id,
        alg: &app.id_token_alg,
    };
    match app
        .logouts
        .verify(&form.logout_token, &expected, &app.http_client, unix_now())
        .await
    {
        Ok(token) => {
            let ended = app.end_sessions(token.sid.as_deref(), token.sub.as_deref());
            println!("Back-channel logout: {ended} session(s) ended");
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(why) => {
            println!("Back-channel logout refused: {why}");
            refused(&why)
        }
    }
}

#[derive(Deserialize)]
struct FrontchannelQuery {
    iss: Option<String>,
    sid: Option<String>,
}

/// `GET /frontchannel-logout?iss=..&sid=..`: eid's signed-out page loads this in a hidden
/// frame (OIDC Front-Channel Logout 1.0): the sessions of that eid login end. Without `sid`,
/// the session of the browser's own cookie (sent only when the frame is same-site). Never
/// cached; framed by eid, so no `X-Frame-Options`.
#[get("/frontchannel-logout")]
async fn frontchannel_logout(
    req: HttpRequest,
    query: web::Query<FrontchannelQuery>,
    app: web::Data<AppState>,
) -> HttpResponse {
    let (status, ended) = match (query.iss.as_deref(), query.sid.as_deref()) {
        (Some(iss), _) if iss != app.issuer => (StatusCode::BAD_REQUEST, 0),
        (None, Some(_)) => (StatusCode::BAD_REQUEST, 0),
        (Some(_), Some(sid)) => (StatusCode::OK, app.end_sessions(Some(sid), None)),
        (_, None) => {
            let ended = session_id(&req)
                .and_then(|id| app.sessions().remove(&id))
                .map_or(0, |_| 1);
            (StatusCode::OK, ended)
        }
    };
    if status == StatusCode::OK {
        println!("Front-channel logout: {ended} session(s) ended");
    }
    let mut page = frontchannel_page(status);
    page.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    page
}

/// `POST /agreement`: asks eid for the citizen's signature on a tenancy agreement. (A POST
/// from another site does not carry the session cookie, which is SameSite=Lax.)
#[actix_web::post("/agreement")]
async fn ask_signature(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    or_500(
        async {
            let id = session_id(&req).context("log in first")?;
            let (access_token, name) = match app.sessions().get(&id) {
                Some(Session::LoggedIn {
                    access_token, name, ..
                }) => (access_token.clone(), name.clone()),
                _ => return Ok(home_page()),
            };
            let pdf = tenancy_agreement(&name);
            let signing = app
                .signing
                .ask(
                    &access_token,
                    "Tenancy agreement, Flat 1, 2 Garden Road",
                    &pdf,
                )
                .await?;
            if let Some(Session::LoggedIn { signing: slot, .. }) = app.sessions().get_mut(&id) {
                *slot = Some(signing);
            }
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/agreement"))
                .finish())
        }
        .await,
    )
}

/// `GET /agreement`: the code to compare with the phone while waiting (the page reloads
/// itself), then the signed agreement.
#[get("/agreement")]
async fn agreement(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    or_500(
        async {
            let Some(id) = session_id(&req) else {
                return Ok(home_page());
            };
            let waiting = match app.sessions().get(&id) {
                Some(Session::LoggedIn {
                    signing:
                        Some(Signing::Waiting {
                            request_id, until, ..
                        }),
                    ..
                }) => Some((request_id.clone(), *until)),
                Some(Session::LoggedIn { .. }) => None,
                _ => return Ok(home_page()),
            };
            if let Some((request_id, until)) = waiting {
                let outcome = if std::time::Instant::now() > until {
                    Some(Signing::Ended("The request expired.".into()))
                } else {
                    app.signing.poll(&request_id).await?
                };
                if let (Some(outcome), Some(Session::LoggedIn { signing, .. })) =
                    (outcome, app.sessions().get_mut(&id))
                {
                    *signing = Some(outcome);
                }
            }
            let sessions = app.sessions();
            Ok(match sessions.get(&id) {
                Some(Session::LoggedIn { signing, .. }) => agreement_page(signing.as_ref()),
                _ => home_page(),
            })
        }
        .await,
    )
}

/// `GET /agreement.pdf`: the signed agreement.
#[get("/agreement.pdf")]
async fn agreement_pdf(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    let sessions = app.sessions();
    match session_id(&req).and_then(|id| sessions.get(&id)) {
        Some(Session::LoggedIn {
            signing: Some(Signing::Signed { pdf, .. }),
            ..
        }) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/pdf"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tenancy-agreement-signed.pdf\"",
            ))
            .body(pdf.clone()),
        _ => error_page(
            StatusCode::NOT_FOUND,
            "No signed agreement",
            "There is no signed agreement in this session.",
        ),
    }
}

#[get("/logout")]
async fn logout(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    if let Some(id) = session_id(&req) {
        app.sessions().remove(&id);
    }
    let mut gone = Cookie::new(SESSION_COOKIE, "");
    gone.set_path("/");
    gone.make_removal();
    HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/"))
        .finish()
}

/// Discovers eid, then serves the portal on `listener` (or `args.listen`): the running
/// server, to await.
pub async fn serve(
    args: Args,
    listener: Option<std::net::TcpListener>,
) -> anyhow::Result<actix_web::dev::Server> {
    // Never follow redirects from the provider's back-channel endpoints (SSRF protection).
    let http_client = reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;

    // OpenID Connect Discovery: fetches /.well-known/openid-configuration and the JWKS, and
    // checks that the advertised issuer is exactly the one we asked for.
    let issuer_url = IssuerUrl::new(args.issuer.clone()).context("invalid --issuer")?;
    let metadata = CoreProviderMetadata::discover_async(issuer_url, &http_client)
        .await
        .with_context(|| format!("discovering the provider at {}", args.issuer))?;
    let issuer = metadata.issuer().to_string();
    let logouts = LogoutVerifier::new(metadata.jwks().clone(), metadata.jwks_uri().clone());
    let redirect_url = url::Url::parse(&args.redirect_uri).context("invalid --redirect-uri")?;
    let home = redirect_url
        .join("/")
        .context("the redirect URI has no origin")?;
    anyhow::ensure!(
        home.origin().is_tuple(),
        "the redirect URI must be an http(s) URL"
    );

    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(args.client_id.clone()),
        Some(ClientSecret::new(args.client_secret.clone())),
    )
    .set_redirect_uri(
        RedirectUrl::new(args.redirect_uri.clone()).context("invalid --redirect-uri")?,
    );

    let signing = SigningApi {
        issuer: issuer.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        http: http_client.clone(),
    };
    let state = web::Data::new(AppState {
        signing,
        client,
        issuer,
        client_id: args.client_id.clone(),
        home,
        logouts,
        id_token_alg: match args.id_token_alg {
            IdTokenAlg::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            IdTokenAlg::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        },
        http_client,
        sessions: Mutex::new(HashMap::new()),
    });

    // The address to open is the redirect URI's origin: the session cookie is set for that
    // host, so a browser on another name for the same address (127.0.0.1 for localhost) would
    // come back from eid without it.
    let open = redirect_url.origin().ascii_serialization();
    println!(
        "Department portal on {open} (listening on {}; issuer {})",
        args.listen, state.issuer
    );
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(index)
            .service(login)
            .service(callback)
            .service(ask_signature)
            .service(agreement)
            .service(agreement_pdf)
            .service(logout)
            .service(initiate_login)
            .service(renew)
            .service(renew_submitted)
            .service(backchannel_logout)
            .service(frontchannel_logout)
    })
    .workers(2);
    let server = match listener {
        Some(listener) => server.listen(listener)?,
        None => server
            .bind(&args.listen)
            .with_context(|| format!("binding {}", args.listen))?,
    };
    Ok(server.run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_of_the_portal_are_targets() {
        let home = url::Url::parse("http://localhost:3000/").unwrap();
        let ok = |raw: &str| own_target(&home, raw).map(String::from);
        assert_eq!(
            ok("http://localhost:3000/services/driving-licence/renew?x=1#top").unwrap(),
            "http://localhost:3000/services/driving-licence/renew?x=1"
        );
        // A path that looks like another host stays on the portal: the redirect is absolute.
        assert_eq!(
            ok("http://localhost:3000//evil.example/").unwrap(),
            "http://localhost:3000//evil.example/"
        );
        assert_eq!(
            ok("http://user:pw@localhost:3000/").unwrap(),
            "http://localhost:3000/"
        );
        for foreign in [
            "https://localhost:3000/",
            "http://localhost:3001/",
            "http://127.0.0.1:3000/",
            "http://evil.example/",
            "http://localhost:3000.evil.example/",
            "//evil.example/",
            "/services/driving-licence/renew",
            "javascript:alert(1)",
            "data:text/html,hi",
            "",
        ] {
            assert!(ok(foreign).is_err(), "{foreign}");
        }
        let long = format!("http://localhost:3000/{}", "a".repeat(MAX_TARGET_LEN));
        assert!(ok(&long).is_err());
    }

    #[test]
    fn a_logout_ends_the_sessions_it_names() {
        assert!(named_by(Some("sid1"), "sub1", Some("sid1"), None));
        assert!(named_by(Some("sid1"), "sub1", Some("sid1"), Some("sub1")));
        assert!(!named_by(Some("sid1"), "sub1", Some("sid1"), Some("sub2")));
        assert!(!named_by(Some("sid1"), "sub1", Some("sid2"), Some("sub1")));
        assert!(!named_by(None, "sub1", Some("sid1"), None));
        assert!(named_by(Some("sid1"), "sub1", None, Some("sub1")));
        assert!(named_by(None, "sub1", None, Some("sub1")));
        assert!(!named_by(None, "sub1", None, Some("sub2")));
        assert!(!named_by(Some("sid1"), "sub1", None, None));
    }
}
