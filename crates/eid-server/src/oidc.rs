//! OpenID Connect endpoints and the login pages.

use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use eid_core::limits::Caller;
use eid_core::locale::Locale;
use eid_core::login::{BrowserAnswer, LoginView};
use eid_core::oidc::client_auth::ClientAuthParams;
use eid_core::oidc::dpop::PresentedToken;
use eid_core::oidc::logout::{LogoutNext, LogoutOutcome, LogoutParams};
use eid_core::oidc::revoke::TokenQuery;
use eid_core::oidc::userinfo::UserinfoResponse;
use eid_core::oidc::{
    AuthorizationParams, AuthorizeError, Authorized, ClientResponse, PendingLogin, ResponseMode,
    TokenParams,
};
use eid_core::time::UnixTime;
use eid_proto::oauth::RegistrationMetadata;
use serde::Deserialize;

use crate::error::{BearerError, DpopError, PageError, TokenError};
use crate::extract::{basic_credentials, bearer, caller, dpop_proof, dpop_token};
use crate::{pages, run, AppState};

/// Name of the cookie that binds a login to its browser; its path is the login's own URL.
const LOGIN_COOKIE: &str = "eid_login";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery),
    )
    .route("/", web::get().to(home))
    .route("/favicon.ico", web::get().to(favicon))
    .route("/jwks", web::get().to(jwks))
    .route("/connectors/jwks", web::get().to(connector_jwks))
    .route("/authorize", web::get().to(authorize_get))
    .route("/authorize", web::post().to(authorize_post))
    .route("/login/{request_id}", web::get().to(login_page))
    .route("/login/{request_id}", web::post().to(login_answer))
    .route("/login/{request_id}/status", web::get().to(login_status))
    .route("/login/{request_id}/qr", web::get().to(login_qr))
    .route(
        "/login/{request_id}/passkey",
        web::get().to(passkey_options),
    )
    .route(
        "/login/{request_id}/passkey",
        web::post().to(passkey_answer),
    )
    .service(
        web::resource("/token")
            .route(web::post().to(token))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/par")
            .route(web::post().to(par))
            .default_service(web::to(post_only)),
    )
    .route("/logout", web::get().to(logout_get))
    .route("/logout", web::post().to(logout_post))
    .service(
        web::resource("/revoke")
            .route(web::post().to(revoke))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/introspect")
            .route(web::post().to(introspect))
            .default_service(web::to(post_only)),
    )
    .route("/register", web::post().to(register))
    .route("/register/{client_id}", web::get().to(manage_registration))
    .route("/register/{client_id}", web::put().to(manage_registration))
    .route(
        "/register/{client_id}",
        web::delete().to(manage_registration),
    )
    .route("/userinfo", web::get().to(userinfo))
    .route("/userinfo", web::post().to(userinfo));
}

/// Logs method, path (never the query: it may carry state or nonce), status and duration, in a
/// span naming the client's address, which every event logged while handling the request
/// carries (the security events among them).
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use tracing::Instrument as _;
    let started = std::time::Instant::now();
    let method = req.method().clone();
    // Login and approval ids are bearer-like: log only the route's shape.
    let path = req
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let client = caller(req.request())
        .address
        .map(|a| a.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("request", client = %client);
    let response = next.call(req).instrument(span.clone()).await?;
    span.in_scope(|| {
        tracing::info!(
            %method,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    Ok(response)
}

/// Another method than POST at a client's back-channel endpoint: 405 with `Allow`, in OAuth's
/// error form.
async fn post_only() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(eid_proto::oauth::OAuthErrorBody {
            error: "invalid_request".into(),
            error_description: Some("this endpoint takes POST only".into()),
        })
}

/// Anything unrouted: problem JSON under /api, a page elsewhere.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        crate::error::problem_response(
            &eid_proto::problem::Problem::new(404, "not-found", "Not found")
                .with_detail("No such API resource."),
        )
    } else {
        pages::html(
            StatusCode::NOT_FOUND,
            &pages::error_page_with(
                "Page not found",
                "There is no page at this address.",
                "此網址沒有網頁。",
            ),
        )
    }
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.provider.discovery())
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.provider.jwks())
}

/// `GET /`: what eid is, for a person who comes to the issuer's address.
async fn home(state: web::Data<AppState>) -> HttpResponse {
    pages::html(
        StatusCode::OK,
        &pages::home_page(&state.provider.config().issuer_str()),
    )
}

/// Browsers ask for it on every site; eid has no icon file (pages carry an empty inline one).
async fn favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}

/// eid's keys for its requests to other services (the population registry verifies with them).
async fn connector_jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.provider.connector_jwks())
}

async fn authorize_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    authorize(&req, state.clone(), req.query_string()).await
}

async fn authorize_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let body = std::str::from_utf8(&body).map_err(|_| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The form is not UTF-8.",
        )
    })?;
    authorize(&req, state.clone(), body).await
}

/// The authorization endpoint (OIDC Core §3.1.2.1): GET query or POST form.
async fn authorize(
    req: &HttpRequest,
    state: web::Data<AppState>,
    encoded: &str,
) -> Result<HttpResponse, PageError> {
    let caller = caller(req);
    let browser = crate::session::browser_context(req, &state);
    let params: AuthorizationParams = serde_urlencoded::from_str(encoded).map_err(|e| {
        // A parameter given twice, or malformed encoding (RFC 6749 §3.1): the client cannot
        // be trusted yet, so tell the person.
        PageError::new(
            StatusCode::BAD_REQUEST,
            "Invalid login request",
            &format!("The service sent a malformed request ({e})."),
        )
    })?;
    let outcome = run(&state.provider, move |p, now| {
        p.authorize(&params, &caller, &browser, now)
    })
    .await;
    match outcome {
        Ok(Authorized::Answered(response)) => Ok(respond_to_client(&response)),
        Ok(Authorized::Login(login)) => Ok(start_login(&state, login)),
        Err(AuthorizeError::Redirect(response)) => Ok(respond_to_client(&response)),
        Err(AuthorizeError::Page { title, detail }) => {
            Err(PageError::new(StatusCode::BAD_REQUEST, &title, &detail))
        }
        Err(AuthorizeError::Internal(e)) => Err(e.into()),
    }
}

/// A login that waits for the phone: its cookie binds it to this browser, which goes to its
/// page.
pub(crate) fn start_login(state: &AppState, login: PendingLogin) -> HttpResponse {
    let location = format!("/login/{}", login.request_id);
    let cookie = Cookie::build(LOGIN_COOKIE, login.browser_secret)
        .path(location.clone())
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(state.provider.config().login_ttl))
        .finish();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish()
}

/// The authorization response, in the mode the client asked for: a redirect with the query, or
/// a page whose form posts it (the page's policy lets forms go to that origin only).
pub(crate) fn respond_to_client(response: &ClientResponse) -> HttpResponse {
    match response.mode {
        ResponseMode::Query | ResponseMode::Fragment => redirect(response.redirect_url().as_str()),
        ResponseMode::FormPost => {
            let nonce = eid_core::crypto::random_token();
            pages::html_page(
                StatusCode::OK,
                &pages::form_post_page(response.redirect_uri.as_str(), &response.params, &nonce),
                Some(&nonce),
                &[response.redirect_uri.origin().ascii_serialization()],
            )
        }
    }
}

pub(crate) fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn browser_secret(req: &HttpRequest) -> Option<String> {
    req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned())
}

/// The QR code of an approval link, as inline SVG markup.
fn qr_svg(link: &str) -> Result<String, PageError> {
    crate::qr::svg(link).map_err(|e| {
        PageError::from(eid_core::Error::Internal(format!(
            "QR encoding failed: {e}"
        )))
    })
}

/// The pages' first language: the one the client asked for (`ui_locales`), or else the one the
/// browser prefers (`Accept-Language`), or English.
pub(crate) fn page_locale(req: &HttpRequest, asked: Option<Locale>) -> Locale {
    asked
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Locale::from_accept_language)
        })
        .unwrap_or_default()
}

fn render_view(
    req: &HttpRequest,
    state: &AppState,
    request_id: &str,
    (view, client_verified): (LoginView, bool),
) -> Result<HttpResponse, PageError> {
    let action = format!("/login/{request_id}");
    match view {
        LoginView::Waiting {
            approval_link,
            link_changes_in,
            number,
            client_name,
            client_links,
            items,
            locale,
            csrf_token,
            for_action,
            ..
        } => {
            let nonce = eid_core::crypto::random_token();
            let page = pages::waiting_page(&pages::Waiting {
                for_action,
                client_name: &client_name,
                client_verified,
                client_links: &client_links,
                items: &items,
                approval_link: &approval_link,
                qr_svg: &qr_svg(&approval_link)?,
                number,
                link_changes_in,
                status_url: &format!("{action}/status"),
                qr_url: &format!("{action}/qr"),
                script_nonce: &nonce,
                locale: page_locale(req, locale),
                action: &action,
                csrf_token: &csrf_token,
            });
            Ok(pages::html_with_script(StatusCode::OK, &page, Some(&nonce)))
        }
        LoginView::Expired {
            client_name,
            csrf_token,
            redirect_origin,
            locale,
        } => Ok(pages::html_page(
            StatusCode::OK,
            &pages::expired_page(page_locale(req, locale), &client_name, &action, &csrf_token),
            None,
            &[redirect_origin],
        )),
        LoginView::Approved {
            client_name,
            account,
            shared,
            csrf_token,
            redirect_origin,
            locale,
            ..
        } => Ok(pages::html_page(
            StatusCode::OK,
            &pages::approved_page(
                page_locale(req, locale),
                &client_name,
                client_verified,
                &account,
                &shared,
                &action,
                &csrf_token,
            ),
            None,
            &[redirect_origin],
        )),
        LoginView::Redirect(response) => Ok(respond_to_client(&response)),
        LoginView::SignedIn { response, session } => {
            let mut answer = respond_to_client(&response);
            answer
                .add_cookie(&crate::session::set_cookie(state, session))
                .map_err(|e| {
                    PageError::from(eid_core::Error::Internal(format!("session cookie: {e}")))
                })?;
            Ok(answer)
        }
        LoginView::Finished => Ok(pages::html(
            StatusCode::OK,
            &pages::finished_page(page_locale(req, None)),
        )),
    }
}

/// `GET /login/{id}`: the QR page while waiting; then whose account approved; or back to the
/// client.
async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let request_id = path.into_inner();
    let secret = browser_secret(&req);
    let id = request_id.clone();
    let caller = caller(&req);
    let view = run(&state.provider, move |p, now| {
        login_pages_limit(p, &caller, now)?;
        let view = p.login_view(&id, secret.as_deref(), now)?;
        Ok::<_, eid_core::Error>((view, p.login_service_verified(&id)?))
    })
    .await?;
    render_view(&req, &state, &request_id, view)
}

/// Login pages, their polls and their forms count against one limit per address.
fn login_pages_limit(
    p: &eid_core::Provider,
    caller: &Caller,
    now: UnixTime,
) -> Result<(), eid_core::Error> {
    p.limit_address_here(
        "login_pages_per_address",
        caller,
        p.limits().login_pages_per_address,
        now,
    )
}

/// `GET /login/{id}/status`: polled by the waiting page.
async fn login_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let request_id = path.into_inner();
    let secret = browser_secret(&req);
    let caller = caller(&req);
    let (status, changes_in) = run(&state.provider, move |p, now| {
        login_pages_limit(p, &caller, now)?;
        p.login_status(&request_id, secret.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(eid_proto::api::LoginStatus {
            status: status.to_owned(),
            qr_changes_in: changes_in.map(i64::unsigned_abs),
        }))
}

/// `GET /login/{id}/qr`: the waiting page's current QR code, fetched when the last one is
/// about to change.
async fn login_qr(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let request_id = path.into_inner();
    let secret = browser_secret(&req);
    let caller = caller(&req);
    let (link, changes_in) = run(&state.provider, move |p, now| {
        login_pages_limit(p, &caller, now)?;
        p.current_approval_link(&request_id, secret.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "link": link,
            "svg": qr_svg(&link)?,
            "changes_in": changes_in,
        })))
}

/// `GET /login/{id}/passkey`: the login page's passkey challenge (JSON request options).
async fn passkey_options(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let request_id = path.into_inner();
    let secret = browser_secret(&req);
    let caller = caller(&req);
    let options = run(&state.provider, move |p, now| {
        login_pages_limit(p, &caller, now)?;
        p.passkey_login_options(&request_id, secret.as_deref(), now)
    })
    .await?;
    Ok(no_store_json(options))
}

#[derive(Deserialize)]
struct PasskeyAnswer {
    csrf_token: String,
    credential: eid_proto::api::PublicKeyCredential,
}

/// `POST /login/{id}/passkey`: the page's passkey answers the login (204); the page then
/// continues as after a phone approval. Errors are problem JSON for the page's script.
async fn passkey_answer(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, crate::error::ApiError> {
    let answer: PasskeyAnswer = serde_json::from_slice(&body).map_err(|e| {
        crate::error::ApiError::from(eid_core::Error::invalid(
            "body",
            format!("is not a passkey answer: {e}"),
        ))
    })?;
    let request_id = path.into_inner();
    let secret = browser_secret(&req);
    let caller = caller(&req);
    run(&state.provider, move |p, now| {
        login_pages_limit(p, &caller, now)?;
        p.answer_with_passkey(
            &request_id,
            secret.as_deref(),
            &answer.csrf_token,
            &answer.credential,
            now,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: String,
    action: String,
}

/// `POST /login/{id}`: the person at the browser continues (having seen whose account
/// approved), says it is not them, asks for a new code, or cancels.
async fn login_answer(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let incomplete = || {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "Form incomplete",
            "The form was incomplete. Go back, reload the page and choose again.",
        )
    };
    let form: LoginForm = serde_urlencoded::from_bytes(&body).map_err(|_| incomplete())?;
    let answer = BrowserAnswer::parse(&form.action).ok_or_else(incomplete)?;
    let request_id = path.into_inner();
    let secret = browser_secret(&req);
    let id = request_id.clone();
    let caller = caller(&req);
    let browser = crate::session::browser_context(&req, &state);
    let view = run(&state.provider, move |p, now| {
        login_pages_limit(p, &caller, now)?;
        let view = p.browser_answer(
            &id,
            secret.as_deref(),
            &form.csrf_token,
            answer,
            &browser,
            now,
        )?;
        Ok::<_, eid_core::Error>((view, p.login_service_verified(&id)?))
    })
    .await?;
    render_view(&req, &state, &request_id, view)
}

/// `POST /token` (RFC 6749 §4.1.3).
/// A client-authenticated form (the token, revocation and introspection endpoints): the
/// HTTP Basic credentials, if any, and the form body.
type ClientForm<T> = (Option<(String, String)>, T);

fn client_form<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<ClientForm<T>, TokenError> {
    use eid_core::{Error, OAuthError, OAuthErrorCode};
    let basic = basic_credentials(req).map_err(|()| TokenError {
        error: Error::OAuth(OAuthError::new(
            OAuthErrorCode::InvalidClient,
            "the Authorization header is not valid HTTP Basic",
        )),
        used_basic: true,
    })?;
    let used_basic = basic.is_some();
    let params = serde_urlencoded::from_bytes(body).map_err(|e| TokenError {
        error: Error::OAuth(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            format!("the body must be a form with each parameter once ({e})"),
        )),
        used_basic,
    })?;
    Ok((basic, params))
}

/// Runs a flow of a client-authenticated form (the token, PAR, revocation and introspection
/// endpoints), its errors in OAuth JSON.
pub(crate) async fn client_flow<T, R, F>(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
    flow: F,
) -> Result<R, TokenError>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    R: Send + 'static,
    F: FnOnce(
            &eid_core::Provider,
            Option<(String, String)>,
            T,
            UnixTime,
        ) -> Result<R, eid_core::Error>
        + Send
        + 'static,
{
    let (basic, params): ClientForm<T> = client_form(req, body)?;
    let used_basic = basic.is_some();
    let caller = caller(req);
    run(&state.provider, move |p, now| {
        // Limited per address, generously (a relying party's servers exchange every
        // citizen's code from few addresses): each request costs a client lookup and a hash
        // or signature check (review 2026-12-07, I6). Over it, 429 in OAuth's form.
        p.limit_address_here(
            "token_per_address",
            &caller,
            p.limits().token_per_address,
            now,
        )?;
        flow(p, basic, params, now)
    })
    .await
    .map_err(|error| TokenError { error, used_basic })
}

/// A JSON answer that no cache keeps (RFC 6749 §5.1).
pub(crate) fn no_store_json(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

async fn token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let answer = async {
        let dpop = token_dpop_proof(&req)?;
        let response = client_flow(
            &req,
            &state,
            &body,
            move |p, basic, params: TokenParams, now| p.token(basic, &params, dpop.as_deref(), now),
        )
        .await?;
        Ok::<_, TokenError>(no_store_json(response))
    }
    .await;
    with_dpop_nonce(&req, &state, answer)
}

/// The DPoP proof of a token or PAR request; several are refused (RFC 9449 §4.3).
pub(crate) fn token_dpop_proof(req: &HttpRequest) -> Result<Option<String>, TokenError> {
    dpop_proof(req).map_err(|()| TokenError {
        error: eid_core::Error::OAuth(eid_core::OAuthError::new(
            eid_core::OAuthErrorCode::InvalidDpopProof,
            "send one DPoP header, as text",
        )),
        used_basic: false,
    })
}

/// The answer, and for a request that used DPoP the nonce its next proof must carry
/// (`DPoP-Nonce`, RFC 9449 §8), on success and failure alike.
pub(crate) fn with_dpop_nonce<E: actix_web::ResponseError>(
    req: &HttpRequest,
    state: &AppState,
    answer: Result<HttpResponse, E>,
) -> HttpResponse {
    let mut response = match answer {
        Ok(response) => response,
        Err(error) => error.error_response(),
    };
    let used_dpop = req.headers().contains_key("dpop") || dpop_token(req).is_some();
    if used_dpop {
        let nonce = state.provider.dpop_nonce(crate::now());
        if let Ok(value) = header::HeaderValue::from_str(&nonce) {
            response
                .headers_mut()
                .insert(header::HeaderName::from_static("dpop-nonce"), value);
        }
    }
    response
}

/// RP-initiated logout (OIDC RP-Initiated Logout §2): GET query or POST form.
async fn logout_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let query = req.query_string().as_bytes().to_vec();
    logout(req, state, &query).await
}

async fn logout_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    logout(req, state, &body).await
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    encoded: &[u8],
) -> Result<HttpResponse, PageError> {
    let params: LogoutParams = serde_urlencoded::from_bytes(encoded).map_err(|e| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "Invalid sign-out request",
            &format!("The service sent a malformed request ({e})."),
        )
    })?;
    let asked = params.ui_locales.as_deref().and_then(Locale::negotiate);
    let browser = crate::session::browser_context(&req, &state);
    let outcome = run(&state.provider, move |p, now| {
        p.end_session(&params, &browser, now)
    })
    .await
    .map_err(|e| match e {
        eid_core::Error::OAuth(e) => PageError::new(
            StatusCode::BAD_REQUEST,
            "Invalid sign-out request",
            &e.description,
        ),
        other => other.into(),
    })?;
    let locale = page_locale(&req, asked);
    let LogoutOutcome {
        next,
        frontchannel,
        ended_browser_session,
    } = outcome;
    let done = eid_core::portal::ActionOutcome {
        frontchannel,
        signed_out_here: ended_browser_session,
    };
    Ok(match next {
        LogoutNext::Confirm {
            client_name,
            csrf_token,
            params,
        } => {
            let fields: Vec<(String, String)> = serde_urlencoded::from_str(
                &serde_urlencoded::to_string(&params).unwrap_or_default(),
            )
            .unwrap_or_default();
            pages::html(
                StatusCode::OK,
                &crate::account_pages::confirm_sign_out_page(
                    locale,
                    client_name.as_deref(),
                    &csrf_token,
                    &fields,
                ),
            )
        }
        LogoutNext::Redirect(url) => {
            crate::account::after_sign_out(&req, &state, done, None, Some(url.as_str()))
        }
        LogoutNext::Page { client_name } => {
            let done = eid_core::portal::ActionOutcome {
                signed_out_here: true,
                ..done
            };
            let mut page =
                crate::account::after_sign_out(&req, &state, done, client_name.as_deref(), None);
            if !ended_browser_session {
                // Nothing was signed in here: no cookie to remove.
                page.headers_mut().remove(header::SET_COOKIE);
            }
            page
        }
    })
}

/// Pushed authorization requests (RFC 9126 §2): 201 with the request URI.
async fn par(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let answer = async {
        // The form holds both the client's authentication and the authorization parameters.
        let (_, params): ClientForm<AuthorizationParams> = client_form(&req, &body)?;
        let dpop = token_dpop_proof(&req)?;
        let response = client_flow(
            &req,
            &state,
            &body,
            move |p, basic, auth: ClientAuthParams, now| {
                p.push_authorization_request(basic, &auth, &params, dpop.as_deref(), now)
            },
        )
        .await?;
        Ok::<_, TokenError>(
            HttpResponse::Created()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(response),
        )
    }
    .await;
    with_dpop_nonce(&req, &state, answer)
}

/// Token revocation (RFC 7009 §2): 200 whether or not the token was known.
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    client_flow(&req, &state, &body, |p, basic, params: TokenQuery, now| {
        p.revoke(basic, &params, now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Token introspection (RFC 7662 §2).
async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    let response = client_flow(&req, &state, &body, |p, basic, params: TokenQuery, now| {
        p.introspect(basic, &params, now)
    })
    .await?;
    Ok(no_store_json(response))
}

/// The access token from the request: the `Authorization: Bearer` or `DPoP` header (RFC 6750
/// §2.1, RFC 9449 §7.1), or in a POST the form body's `access_token` (§2.2). `Ok(None)` when
/// there is none; an error when the request uses two.
fn userinfo_token(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<PresentedToken>, eid_core::Error> {
    use eid_core::{Error, OAuthError, OAuthErrorCode};
    let form = req.method() == actix_web::http::Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let in_body: Vec<String> = if form {
        url::form_urlencoded::parse(body)
            .filter(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
            .collect()
    } else {
        Vec::new()
    };
    let in_header = match (bearer(req), dpop_token(req)) {
        (Some(token), _) => Some(PresentedToken::Bearer(token)),
        (None, Some(token)) => {
            let proof = dpop_proof(req).map_err(|()| {
                Error::OAuth(OAuthError::new(
                    OAuthErrorCode::InvalidDpopProof,
                    "send one DPoP header, as text",
                ))
            })?;
            Some(PresentedToken::Dpop { token, proof })
        }
        (None, None) => None,
    };
    match (in_header, in_body.as_slice()) {
        (Some(token), []) => Ok(Some(token)),
        (None, [token]) if !token.is_empty() => Ok(Some(PresentedToken::Bearer(token.clone()))),
        (None, []) => Ok(None),
        _ => Err(Error::OAuth(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "send the access token once: in the Authorization header or in the form body",
        ))),
    }
}

/// `GET|POST /userinfo` with `Authorization: Bearer` or, in a POST, the form's `access_token`
/// (OIDC Core §5.3, RFC 6750 §2).
async fn userinfo(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let dpop = dpop_token(&req).is_some() || req.headers().contains_key("dpop");
    let answer = async {
        // RFC 6750 §3.1: a request without any credentials gets a challenge with no error code.
        let token = userinfo_token(&req, &body)?.ok_or(eid_core::Error::Unauthenticated)?;
        let method = req.method().as_str().to_owned();
        let answer = run(&state.provider, move |p, now| {
            p.userinfo(&token, &method, now)
        })
        .await?;
        let mut response = HttpResponse::Ok();
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        Ok::<_, eid_core::Error>(match answer {
            UserinfoResponse::Json(claims) => response.json(claims),
            UserinfoResponse::Jwt(jwt) => response.content_type("application/jwt").body(jwt),
        })
    }
    .await;
    // A request that used DPoP is challenged for DPoP; one that did not, for a bearer token
    // (a bound token presented as Bearer included: RFC 9449 §7.2).
    match dpop {
        true => with_dpop_nonce(&req, &state, answer.map_err(DpopError)),
        false => with_dpop_nonce(&req, &state, answer.map_err(BearerError)),
    }
}

/// `POST /register` (RFC 7591 §3): 201 with the client's credentials. Its errors are OAuth
/// JSON; a missing or wrong initial access token is a Bearer challenge.
async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    let metadata = registration_body(&body)?;
    let token = bearer(&req);
    let caller = caller(&req);
    let response = run(&state.provider, move |p, now| {
        p.register(token.as_deref(), &metadata, &caller, now)
    })
    .await
    .map_err(BearerError)?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response))
}

fn registration_body(body: &[u8]) -> Result<RegistrationMetadata, BearerError> {
    serde_json::from_slice(body).map_err(|e| {
        BearerError(eid_core::Error::OAuth(eid_core::OAuthError::new(
            eid_core::OAuthErrorCode::InvalidClientMetadata,
            format!("the body must be a JSON object of client metadata ({e})"),
        )))
    })
}

/// `GET|PUT|DELETE /register/{client_id}` (RFC 7592), with the registration access token.
async fn manage_registration(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    use actix_web::http::Method;
    let client_id = path.into_inner();
    let token = bearer(&req);
    let no_store = |mut r: actix_web::HttpResponseBuilder| {
        r.insert_header((header::CACHE_CONTROL, "no-store"));
        r
    };
    match *req.method() {
        Method::GET => {
            let answer = run(&state.provider, move |p, _| {
                p.read_registration(&client_id, token.as_deref())
            })
            .await
            .map_err(BearerError)?;
            Ok(no_store(HttpResponse::Ok()).json(answer))
        }
        Method::PUT => {
            let metadata = registration_body(&body)?;
            let answer = run(&state.provider, move |p, now| {
                p.update_registration(&client_id, token.as_deref(), &metadata, now)
            })
            .await
            .map_err(BearerError)?;
            Ok(no_store(HttpResponse::Ok()).json(answer))
        }
        _ => {
            run(&state.provider, move |p, now| {
                p.delete_registration(&client_id, token.as_deref(), now)
            })
            .await
            .map_err(BearerError)?;
            Ok(no_store(HttpResponse::NoContent()).finish())
        }
    }
}
