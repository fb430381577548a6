//! The officer console: in-person identity proofing, served on its own listener
//! (`--admin-listen`, loopback by default), never on the public one.
//!
//! Officers sign in with their own security key (WebAuthn, discoverable, user verification
//! required); the session cookie is host-only, `HttpOnly`, `SameSite=Strict`, and every form
//! carries the session's CSRF token. Pages are HTML for a person; the WebAuthn steps are JSON
//! endpoints the pages' script calls (and tests drive directly).

mod pages;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use eid_core::officers::{Decision, Evidence, OfficerSession, RejectReason};
use eid_core::Error;
use eid_proto::api::{AssertionFinish, RegistrationFinish};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::{run, ConsoleState};

/// The console's session cookie.
const SESSION_COOKIE: &str = "eid_officer";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(finish_login))
        .route("/login/challenge", web::post().to(start_login))
        .route("/logout", web::post().to(logout))
        .route("/enrol/{token}", web::get().to(enrol_page))
        .route("/enrol/{token}", web::post().to(finish_enrol))
        .route("/enrol/{token}/challenge", web::post().to(start_enrol))
        .route("/applications", web::get().to(review))
        .route("/applications/{id}/decision", web::post().to(decide));
}

/// An error on a console page: a page for the officer, or back to sign-in.
#[derive(Debug)]
pub struct ConsoleError(Error);

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            Error::Unauthenticated => StatusCode::SEE_OTHER,
            other => StatusCode::from_u16(crate::error::problem_for(other).status)
                .unwrap_or(StatusCode::BAD_REQUEST),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self.0, Error::Unauthenticated) {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        if self.0.is_internal() {
            tracing::error!(error = %self.0, "officer console request failed");
        } else {
            tracing::info!(error = %self.0, "officer console request refused");
        }
        let problem = crate::error::problem_for(&self.0);
        let detail = match &self.0 {
            Error::NotFound(_) => "No open application has this reference.".to_owned(),
            Error::Gone(what) => format!("The {what} has expired or was already used."),
            Error::InvalidInput(fields) => fields
                .iter()
                .map(|(f, r)| format!("{f} {r}"))
                .collect::<Vec<_>>()
                .join("; "),
            _ => problem.detail.clone().unwrap_or_default(),
        };
        crate::pages::html(self.status_code(), &pages::error(&problem.title, &detail))
    }
}

fn session_token(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
}

async fn officer(
    req: &HttpRequest,
    state: &web::Data<ConsoleState>,
) -> Result<OfficerSession, ConsoleError> {
    let token = session_token(req).ok_or(Error::Unauthenticated)?;
    Ok(run(&state.provider, move |p, now| {
        p.officer_session(&token, now)
    })
    .await?)
}

fn page_with_script(body: String, nonce: &str) -> HttpResponse {
    crate::pages::html_with_script(StatusCode::OK, &body, Some(nonce))
}

async fn home(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    let session = officer(&req, &state).await?;
    Ok(crate::pages::html(
        StatusCode::OK,
        &pages::home(&session.officer.name, &session.csrf_token, None),
    ))
}

async fn login_page() -> HttpResponse {
    let nonce = eid_core::crypto::random_token();
    page_with_script(pages::login(&nonce), &nonce)
}

/// `POST /login/challenge`: a challenge for an officer's key.
async fn start_login(state: web::Data<ConsoleState>) -> Result<HttpResponse, ApiError> {
    let challenge = run(&state.provider, |p, now| p.start_officer_login(now)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(challenge))
}

#[derive(Deserialize)]
struct CeremonyAssertion {
    ceremony_id: String,
    #[serde(flatten)]
    finish: AssertionFinish,
}

#[derive(Serialize)]
struct SignedIn {
    officer: String,
}

/// `POST /login`: the key's assertion opens a session (a fresh cookie each time).
async fn finish_login(
    state: web::Data<ConsoleState>,
    body: web::Json<CeremonyAssertion>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let login = run(&state.provider, move |p, now| {
        p.finish_officer_login(&body.ceremony_id, &body.finish.credential, now)
    })
    .await?;
    let cookie = Cookie::build(SESSION_COOKIE, login.token)
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(
            state.provider.config().officer_session_ttl,
        ))
        .finish();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .json(SignedIn {
            officer: login.session.officer.name,
        }))
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: String,
}

/// `POST /logout`.
async fn logout(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    let session = officer(&req, &state).await?;
    let token = session_token(&req).unwrap_or_default();
    let csrf = form.into_inner().csrf_token;
    run(&state.provider, move |p, _| {
        p.end_officer_session(&token, &session, &csrf)
    })
    .await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(gone)
        .finish())
}

/// `GET /enrol/{token}`: the officer's one-time enrolment page.
async fn enrol_page(
    state: web::Data<ConsoleState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let token = path.into_inner();
    let t = token.clone();
    let officer = run(&state.provider, move |p, now| p.officer_invite(&t, now)).await?;
    let nonce = eid_core::crypto::random_token();
    Ok(page_with_script(
        pages::enrol(&officer.name, &token, &nonce),
        &nonce,
    ))
}

/// `POST /enrol/{token}/challenge`.
async fn start_enrol(
    state: web::Data<ConsoleState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let challenge = run(&state.provider, move |p, now| {
        p.start_officer_registration(&token, now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(challenge))
}

#[derive(Deserialize)]
struct CeremonyAttestation {
    ceremony_id: String,
    #[serde(flatten)]
    finish: RegistrationFinish,
}

#[derive(Serialize)]
struct KeyRegistered {
    officer: String,
    /// What the officer reads out to the operator who confirms the key.
    fingerprint: String,
    /// `hardware` or `software` (development only).
    key: &'static str,
}

/// `POST /enrol/{token}`: the key's attestation; the link is used up. The key waits for an
/// operator's confirmation of its fingerprint.
async fn finish_enrol(
    state: web::Data<ConsoleState>,
    body: web::Json<CeremonyAttestation>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let registered = run(&state.provider, move |p, now| {
        p.finish_officer_registration(&body.ceremony_id, &body.finish.credential, now)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(KeyRegistered {
            officer: registered.officer.name,
            fingerprint: registered.key.fingerprint,
            key: match registered.key.protection {
                eid_core::attestation::KeyProtection::Hardware { .. } => "hardware",
                eid_core::attestation::KeyProtection::Software => "software",
            },
        }))
}

#[derive(Deserialize)]
struct ReferenceQuery {
    reference: String,
}

/// `GET /applications?reference=...`: an application to review (the lookup is audited).
async fn review(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    query: web::Query<ReferenceQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let session = officer(&req, &state).await?;
    let reference = query.into_inner().reference;
    let s = session.clone();
    let review = run(&state.provider, move |p, now| {
        p.review_application(&s, &reference, now)
    })
    .await?;
    Ok(crate::pages::html(
        StatusCode::OK,
        &pages::review(&review, &session.officer.name, &session.csrf_token),
    ))
}

/// The decision form: `csrf_token`, `decision` (`approve` or `reject`), `evidence_<kind>`
/// checkboxes, `reason`. Parsed by hand: each field at most once.
fn decision_form(body: &[u8]) -> Result<(String, Decision), Error> {
    let mut csrf = None;
    let mut decision = None;
    let mut reason = None;
    let mut evidence = Vec::new();
    let twice = |name: &'static str| Error::invalid(name, "is given twice");
    for (name, value) in url::form_urlencoded::parse(body) {
        match name.as_ref() {
            "csrf_token" if csrf.is_none() => csrf = Some(value.into_owned()),
            "csrf_token" => return Err(twice("csrf_token")),
            "decision" if decision.is_none() => decision = Some(value.into_owned()),
            "decision" => return Err(twice("decision")),
            "reason" if reason.is_none() => reason = Some(value.into_owned()),
            "reason" => return Err(twice("reason")),
            other => {
                if let Some(kind) = other.strip_prefix("evidence_") {
                    let kind = Evidence::parse(kind)
                        .ok_or_else(|| Error::invalid("evidence", "names an unknown kind"))?;
                    if value == "on" && !evidence.contains(&kind) {
                        evidence.push(kind);
                    }
                }
            }
        }
    }
    let csrf = csrf.ok_or_else(|| Error::invalid("csrf_token", "is required"))?;
    let decision = match decision.as_deref() {
        Some("approve") => Decision::Approve(evidence),
        Some("reject") => Decision::Reject(
            reason
                .as_deref()
                .and_then(RejectReason::parse)
                .ok_or_else(|| Error::invalid("reason", "must be one of the listed reasons"))?,
        ),
        _ => return Err(Error::invalid("decision", "must be approve or reject")),
    };
    Ok((csrf, decision))
}

/// `POST /applications/{id}/decision`.
async fn decide(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let session = officer(&req, &state).await?;
    let (csrf, decision) = decision_form(&body)?;
    let id = path.into_inner();
    let s = session.clone();
    let outcome = run(&state.provider, move |p, now| {
        p.decide_application(&s, &id, &csrf, &decision, now)
    })
    .await?;
    Ok(crate::pages::html(
        StatusCode::OK,
        &pages::decided(&outcome, &session.officer.name, &session.csrf_token),
    ))
}

/// Anything unrouted on the console.
pub async fn not_found() -> HttpResponse {
    crate::pages::html(
        StatusCode::NOT_FOUND,
        &pages::error("Page not found", "There is no page at this address."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_forms_parse_strictly() {
        let (csrf, d) =
            decision_form(b"csrf_token=c&decision=approve&evidence_hkid_card=on").unwrap();
        assert_eq!(csrf, "c");
        assert_eq!(d, Decision::Approve(vec![Evidence::HkidCard]));
        let (_, d) = decision_form(b"csrf_token=c&decision=reject&reason=card_mismatch").unwrap();
        assert_eq!(d, Decision::Reject(RejectReason::CardMismatch));
        for bad in [
            &b"decision=approve"[..],
            b"csrf_token=c",
            b"csrf_token=c&csrf_token=d&decision=approve",
            b"csrf_token=c&decision=reject",
            b"csrf_token=c&decision=reject&reason=whim",
            b"csrf_token=c&decision=maybe",
            b"csrf_token=c&decision=approve&evidence_selfie=on",
        ] {
            assert!(
                decision_form(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
