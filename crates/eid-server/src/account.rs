//! The account page of a signed-in browser and its forms, signing in to it (a login through
//! eid's own client), and the pages after a sign-out.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use eid_core::locale::Locale;
use eid_core::oidc::{AuthorizationParams, AuthorizeError, Authorized};
use eid_core::portal::{AccountAction, ActionOutcome, ACCOUNT_CLIENT_ID};
use serde::Deserialize;
use url::Url;

use crate::error::PageError;
use crate::extract::caller;
use crate::oidc::{page_locale, redirect, respond_to_client, start_login};
use crate::session::{browser_context, clear_cookie, session_secret};
use crate::{account_pages, pages, run, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account))
        .route("/account/login", web::get().to(login))
        .route("/account/callback", web::get().to(callback))
        .route("/account/sign-out", web::post().to(sign_out_here))
        .route(
            "/account/sign-out-everywhere",
            web::post().to(sign_out_everywhere),
        )
        .route("/account/sessions/{id}/end", web::post().to(end_session))
        .route(
            "/account/consents/{client_id}/withdraw",
            web::post().to(withdraw_consent),
        )
        .route(
            "/account/devices/{id}/remove",
            web::post().to(remove_passkey),
        )
        .route("/account/passkeys/options", web::post().to(passkey_options))
        .route("/account/passkeys", web::post().to(passkey_register));
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// The page's language: `?lang=` when given, or else the browser's.
pub(crate) fn locale_of(req: &HttpRequest) -> Locale {
    let asked = web::Query::<LangQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.lang.as_deref().and_then(Locale::of_tag));
    page_locale(req, asked)
}

/// `GET /account`: the account page, or a sign-in page.
async fn account(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let cookie = session_secret(&req, &state);
    // After the phone approved adding a passkey: the registration it approved.
    let ceremony = req
        .query_string()
        .split('&')
        .find_map(|kv| kv.strip_prefix("ceremony="))
        .filter(|c| {
            c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned);
    let overview = run(&state.provider, move |p, now| {
        p.account_overview(cookie.as_deref(), ceremony.as_deref(), now)
    })
    .await?;
    let locale = locale_of(&req);
    Ok(match overview {
        Some(overview) => {
            let nonce = eid_core::crypto::random_token();
            let notice = req
                .query_string()
                .split('&')
                .any(|kv| kv == "added=passkey")
                .then_some((
                    "A passkey was added: this device can log you in without your phone.",
                    "已加入密碼匙：此裝置毋須手機即可為您登入。",
                ));
            pages::html_with_script(
                StatusCode::OK,
                &account_pages::account_page(locale, &overview, notice, &nonce),
                Some(&nonce),
            )
        }
        None => pages::html(
            StatusCode::OK,
            &account_pages::sign_in_page(locale, "account"),
        ),
    })
}

/// Where eid's own logins may lead (the login's `state`): the account page, the portal, or
/// back to the account page to create the passkey whose registration the phone approved.
fn target_path(target: &str) -> Option<String> {
    match target {
        "account" => Some("/account".into()),
        "portal" => Some("/portal".into()),
        _ => target
            .strip_prefix("passkey.")
            .filter(|c| {
                !c.is_empty()
                    && c.len() <= 64
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(|c| format!("/account?add=passkey&ceremony={c}#passkey")),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    to: Option<String>,
}

/// `GET /account/login?to=account|portal`: a login through eid's own client, approved on the
/// phone like any other; continuing opens the session, then the browser goes to `to`.
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let caller = caller(&req);
    let browser = browser_context(&req, &state);
    let locale = locale_of(&req);
    if query.to.as_deref() == Some("passkey") {
        // Adding a passkey: the phone approves that action by name, for this signed-in
        // browser; no login's approval counts for it.
        let cookie = session_secret(&req, &state);
        let pending = run(&state.provider, move |p, now| {
            match p.start_passkey_approval(cookie.as_deref(), &caller, Some(locale), now) {
                Err(eid_core::Error::Unauthenticated) => Ok(None),
                other => other.map(Some),
            }
        })
        .await?;
        return Ok(match pending {
            Some(login) => start_login(&state, login),
            None => pages::html(
                StatusCode::OK,
                &account_pages::sign_in_page(locale, "account"),
            ),
        });
    }
    let to = query
        .to
        .as_deref()
        .filter(|t| matches!(*t, "account" | "portal"))
        .unwrap_or("account")
        .to_owned();
    let outcome = run(&state.provider, move |p, now| {
        // PKCE as any client: the code is never redeemed (the session is what eid wants), so
        // the verifier is dropped.
        let verifier = eid_core::crypto::random_token();
        let params = AuthorizationParams {
            response_type: Some("code".into()),
            client_id: Some(ACCOUNT_CLIENT_ID.into()),
            redirect_uri: Some(p.account_redirect_uri()),
            scope: Some("openid".into()),
            state: Some(to),
            code_challenge: Some(eid_core::oidc::pkce::challenge_of(&verifier)),
            code_challenge_method: Some("S256".into()),
            ui_locales: Some(locale.tag().into()),
            ..AuthorizationParams::default()
        };
        Ok::<_, eid_core::Error>(p.authorize(&params, &caller, &browser, now))
    })
    .await?;
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

#[derive(Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    error: Option<String>,
}

/// `GET /account/callback`: the end of eid's own login; the session cookie was set with the
/// redirect here.
async fn callback(query: web::Query<CallbackQuery>) -> Result<HttpResponse, PageError> {
    if query.error.is_some() {
        return Err(PageError::new(
            StatusCode::OK,
            "Not signed in",
            "The login was declined or not completed. Go to your account page to try again.",
        ));
    }
    let to = query
        .state
        .as_deref()
        .and_then(target_path)
        .unwrap_or_else(|| "/account".into());
    Ok(redirect(&to))
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: String,
}

async fn sign_out_here(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    act(req, state, form.into_inner(), AccountAction::SignOutHere).await
}

async fn sign_out_everywhere(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    act(
        req,
        state,
        form.into_inner(),
        AccountAction::SignOutEverywhere,
    )
    .await
}

async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let action = AccountAction::EndSession(path.into_inner());
    act(req, state, form.into_inner(), action).await
}

async fn remove_passkey(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let action = AccountAction::RemovePasskey(path.into_inner());
    act(req, state, form.into_inner(), action).await
}

#[derive(Deserialize)]
struct PasskeyOptionsBody {
    csrf_token: String,
    ceremony_id: String,
}

/// `POST /account/passkeys/options`: the creation options of the passkey whose registration
/// the phone approved (by name, within the last minutes). Problem JSON on refusal.
async fn passkey_options(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PasskeyOptionsBody>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let cookie = session_secret(&req, &state);
    let body = body.into_inner();
    let challenge = run(&state.provider, move |p, now| {
        p.start_browser_passkey(cookie.as_deref(), &body.csrf_token, &body.ceremony_id, now)
    })
    .await?;
    Ok(crate::oidc::no_store_json(challenge))
}

#[derive(Deserialize)]
struct PasskeyRegisterBody {
    csrf_token: String,
    ceremony_id: String,
    name: String,
    credential: eid_proto::api::RegisterPublicKeyCredential,
}

/// `POST /account/passkeys`: the browser's new passkey becomes a device of the account.
async fn passkey_register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PasskeyRegisterBody>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let cookie = session_secret(&req, &state);
    let body = body.into_inner();
    let bound = run(&state.provider, move |p, now| {
        p.finish_browser_passkey(
            cookie.as_deref(),
            &body.csrf_token,
            &body.ceremony_id,
            &body.name,
            &body.credential,
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(bound))
}

async fn withdraw_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let action = AccountAction::WithdrawConsent(path.into_inner());
    act(req, state, form.into_inner(), action).await
}

/// Runs an account page's action: back to the page, or, when this browser signed out, the
/// signed-out page (loading front-channel logout pages first).
async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm,
    action: AccountAction,
) -> Result<HttpResponse, PageError> {
    let cookie = session_secret(&req, &state);
    let outcome = run(&state.provider, move |p, now| {
        p.account_action(cookie.as_deref(), &form.csrf_token, &action, now)
    })
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        // Signed out meanwhile (another tab, another device): the sign-in page.
        Err(eid_core::Error::Unauthenticated) => return Ok(redirect("/account")),
        Err(e) => return Err(e.into()),
    };
    Ok(after_sign_out(&req, &state, outcome, None, None))
}

/// The answer after an action or a logout: front-channel logout pages load (then `next`), the
/// cookie goes when this browser's session ended.
pub(crate) fn after_sign_out(
    req: &HttpRequest,
    state: &AppState,
    outcome: ActionOutcome,
    client_name: Option<&str>,
    next: Option<&str>,
) -> HttpResponse {
    let ActionOutcome {
        frontchannel,
        signed_out_here,
    } = outcome;
    let mut response = if !signed_out_here && frontchannel.is_empty() {
        // Still signed in: back to the page (303, so a reload does not post again).
        redirect(next.unwrap_or("/account"))
    } else if frontchannel.is_empty() && next.is_some() && signed_out_here {
        redirect(next.unwrap_or("/account"))
    } else {
        let nonce = eid_core::crypto::random_token();
        let origins: Vec<String> = frontchannel
            .iter()
            .map(|u: &Url| u.origin().ascii_serialization())
            .collect();
        let next = next.or(if signed_out_here {
            None
        } else {
            Some("/account")
        });
        pages::html_page_with_frames(
            StatusCode::OK,
            &account_pages::signed_out_page(
                locale_of(req),
                client_name,
                &frontchannel,
                next,
                &nonce,
            ),
            Some(&nonce),
            &[],
            &origins,
        )
    };
    if signed_out_here {
        let _ = response.add_cookie(&clear_cookie(state));
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
