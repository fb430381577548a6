//! The one place where core errors become HTTP responses, in each audience's own form:
//! RFC 7807 problems for the REST API, OAuth error JSON for the token and userinfo endpoints,
//! and readable HTML pages for people. What is logged is separate from what is shown.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use eid_core::store::StoreError;
use eid_core::{AccountRefusal, Error, OAuthErrorCode, ProofingFailure};
use eid_proto::oauth::OAuthErrorBody;
use eid_proto::problem::Problem;

use crate::pages;

/// Logs a failed request: the server's faults at error level; refusals an operator watches for
/// (devices refused, wrong browsers, rate limits, wrong numbers, refused accounts) as security
/// events at info; other refusals (malformed input) at debug. The client's address comes from
/// the request's span.
fn log(error: &Error) {
    if error.is_internal() {
        tracing::error!(%error, "request failed");
        return;
    }
    let kind = match error {
        Error::DeviceRefused(_) => "device_refused",
        Error::WrongBrowser => "wrong_browser",
        Error::RateLimited { .. } => "rate_limited",
        Error::WrongNumber => "wrong_number",
        Error::WrongCode => "wrong_code",
        Error::AccountRefused(_) => "account_refused",
        Error::Unauthenticated => "unauthenticated",
        Error::Forbidden(_) => "forbidden",
        _ => {
            tracing::debug!(%error, "request refused");
            return;
        }
    };
    tracing::info!(target: "eid::security", event = "request_refused", kind, %error, "request refused");
}

fn internal_status(error: &Error) -> StatusCode {
    match error {
        Error::Store(StoreError::Backend(_)) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Seconds a client should wait before retrying a request that failed for this error.
pub fn retry_after(error: &Error) -> Option<u64> {
    match error {
        Error::RateLimited { retry_after, .. } => Some(*retry_after),
        Error::Unavailable(_) | Error::Store(StoreError::Backend(_)) => Some(30),
        _ => None,
    }
}

fn account_problem(refusal: &AccountRefusal) -> Problem {
    let (slug, reason, detail) = match refusal {
        AccountRefusal::NotProven => (
            "not-proven",
            "not_proven",
            "This device's registration is not proven yet: prove your identity in the app (eid-wallet prove), or show your reference at a registration counter.".to_owned(),
        ),
        AccountRefusal::NeverProven => (
            "not-proven",
            "never_proven",
            "This account was never proven. Apply again from this phone and prove your identity; the account is recovered.".to_owned(),
        ),
        AccountRefusal::Suspended => (
            "account-suspended",
            "suspended",
            "This account is suspended. Contact the eid helpdesk.".to_owned(),
        ),
        AccountRefusal::Closed => (
            "account-closed",
            "closed",
            "This account is closed.".to_owned(),
        ),
        AccountRefusal::NotTheHintedAccount => (
            "not-your-login",
            "not_the_hinted_account",
            "The service asked for another person's login: it was stopped. Approve only logins you started yourself.".to_owned(),
        ),
        AccountRefusal::LevelTooLow { required, .. } => (
            "level-too-low",
            "level_too_low",
            format!(
                "This service requires an account proven at level {}; visit a registration counter to upgrade.",
                required.as_str()
            ),
        ),
    };
    Problem::new(403, slug, "The account cannot do this")
        .with_detail(detail)
        .with_reason(reason)
}

fn proofing_problem(failure: &ProofingFailure) -> Problem {
    let (reason, detail) = match failure {
        ProofingFailure::NoRecord => (
            "no_record",
            "The population registry has no record of this identity card number. Check the number, or visit a registration counter.",
        ),
        ProofingFailure::FaceMismatch => (
            "face_mismatch",
            "Your face did not match the photo on record. Try again in good light, or visit a registration counter.",
        ),
        ProofingFailure::ParticularsMismatch(_) => (
            "particulars_mismatch",
            "Your particulars differ from the population registry's record. Check them against your identity card.",
        ),
        ProofingFailure::EvidenceMismatch(_) => (
            "evidence_mismatch",
            "The card's particulars differ from those you applied with.",
        ),
        ProofingFailure::UnsignedCapture => (
            "unsigned_capture",
            "The face capture must come signed by the app's capture component; update the app, or visit a registration counter.",
        ),
        ProofingFailure::CaptureRefused => (
            "capture_refused",
            "The face capture could not be verified as a live capture made for this attempt. Try again, or visit a registration counter.",
        ),
    };
    let mut p = Problem::new(422, "proofing-failed", "Identity proofing failed")
        .with_detail(detail)
        .with_reason(reason);
    if let ProofingFailure::ParticularsMismatch(fields)
    | ProofingFailure::EvidenceMismatch(fields) = failure
    {
        for field in fields {
            p = p.with_invalid_param(field, "does not match");
        }
    }
    p
}

/// Maps a core error to an RFC 7807 problem.
pub fn problem_for(error: &Error) -> Problem {
    match error {
        Error::InvalidInput(fields) => {
            let mut p = Problem::new(400, "invalid-input", "The request has invalid fields")
                .with_detail(
                    fields
                        .iter()
                        .map(|(f, r)| format!("{f} {r}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            for (field, reason) in fields {
                p = p.with_invalid_param(field, reason.clone());
            }
            p
        }
        Error::NotFound(what) => {
            Problem::new(404, "not-found", "Not found").with_detail(format!("No such {what}."))
        }
        Error::Gone("login code") => Problem::new(410, "code-changed", "This code has changed")
            .with_detail("The login page shows a new code every 30 seconds: scan the one it shows now."),
        Error::WrongNumber => Problem::new(403, "wrong-number", "Wrong number")
            .with_detail("The number you picked is not the one the login page shows, so the login was stopped. If you started it, start again at the service."),
        Error::WrongCode => Problem::new(403, "wrong-code", "Wrong code")
            .with_detail("The code you picked is not the one the service shows beside the document, so nothing was signed and the request was stopped. If you asked for it, ask the service again."),
        Error::Gone(what) => Problem::new(410, "gone", "Expired or already used")
            .with_detail(format!("The {what} has expired or was already used.")),
        Error::DeviceRefused(why) => {
            Problem::new(403, "device-refused", "The device's response was refused")
                .with_detail(why.clone())
        }
        Error::Unauthenticated => Problem::new(401, "unauthenticated", "Authentication required")
            .with_detail("Send a wallet session token: Authorization: Bearer <token>."),
        Error::Conflict(why) => Problem::new(409, "conflict", "Conflict").with_detail(why.clone()),
        Error::WrongBrowser => Problem::new(403, "wrong-browser", "Wrong browser")
            .with_detail("This login continues only in the browser that started it."),
        Error::OAuth(e) => {
            Problem::new(400, e.code.as_str(), "Protocol error").with_detail(e.description.clone())
        }
        Error::RateLimited { retry_after, .. } => {
            Problem::new(429, "rate-limited", "Too many attempts")
                .with_detail(format!(
                    "Too many attempts; try again in {} minutes.",
                    retry_after.div_ceil(60)
                ))
                .with_retry_after(*retry_after)
        }
        Error::ProofingFailed(failure) => proofing_problem(failure),
        Error::AccountRefused(refusal) => account_problem(refusal),
        Error::Forbidden(why) => {
            Problem::new(403, "forbidden", "Not allowed").with_detail(why.clone())
        }
        Error::Unavailable(why) => Problem::new(503, "unavailable", "Try again later")
            .with_detail(why.clone())
            .with_retry_after(30),
        other => {
            let status = internal_status(other);
            Problem::new(
                status.as_u16(),
                "internal",
                "The server could not complete the request",
            )
            .with_detail("The failure was logged; please try again later.")
        }
    }
}

/// An error of the REST API (`/api/v1`), answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// Sends a problem document.
pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = HttpResponse::build(status);
    response.content_type("application/problem+json");
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"eid\""));
    }
    if let Some(seconds) = problem.retry_after {
        response.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    response.json(problem)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(problem_for(&self.0).status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        log(&self.0);
        problem_response(&problem_for(&self.0))
    }
}

/// An error of the token endpoint (RFC 6749 §5.2).
#[derive(Debug)]
pub struct TokenError {
    pub error: Error,
    /// The client tried HTTP Basic: a 401 must then challenge for it (RFC 6749 §5.2).
    pub used_basic: bool,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

fn oauth_body(error: &Error) -> (StatusCode, OAuthErrorBody) {
    match error {
        Error::OAuth(e) => {
            let status = match e.code {
                OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => {
                    StatusCode::UNAUTHORIZED
                }
                // RFC 6750 §3.1.
                OAuthErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            (
                status,
                OAuthErrorBody {
                    error: e.code.as_str().into(),
                    error_description: Some(e.description.clone()),
                },
            )
        }
        Error::NotFound(what) => (
            StatusCode::NOT_FOUND,
            OAuthErrorBody {
                error: "invalid_request".into(),
                error_description: Some(format!("no {what} here")),
            },
        ),
        // A credential without the authority for what it asked (`authority::permit`): the
        // protocol's refusal, never a server error.
        Error::Forbidden(why) => (
            StatusCode::FORBIDDEN,
            OAuthErrorBody {
                error: "access_denied".into(),
                error_description: Some(why.clone()),
            },
        ),
        Error::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            OAuthErrorBody {
                error: "temporarily_unavailable".into(),
                error_description: Some("too many requests: try again later".into()),
            },
        ),
        other => (
            internal_status(other),
            OAuthErrorBody {
                error: if internal_status(other) == StatusCode::SERVICE_UNAVAILABLE {
                    "temporarily_unavailable".into()
                } else {
                    "server_error".into()
                },
                error_description: Some("the server could not complete the request".into()),
            },
        ),
    }
}

impl ResponseError for TokenError {
    fn status_code(&self) -> StatusCode {
        oauth_body(&self.error).0
    }

    fn error_response(&self) -> HttpResponse {
        log(&self.error);
        let (status, body) = oauth_body(&self.error);
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        response.insert_header((header::PRAGMA, "no-cache"));
        let token_refused =
            matches!(&self.error, Error::OAuth(e) if e.code == OAuthErrorCode::InvalidToken);
        if status == StatusCode::UNAUTHORIZED && token_refused {
            // The access token a client presented (the signing API) was refused, not the
            // client's own credentials: challenge for the token (RFC 6750 §3).
            response.insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"eid\", error=\"invalid_token\"",
            ));
        } else if status == StatusCode::UNAUTHORIZED && self.used_basic {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"eid\""));
        }
        if let Some(seconds) = retry_after(&self.error) {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(body)
    }
}

/// An error of the userinfo endpoint (RFC 6750 §3), challenging for a bearer token.
#[derive(Debug)]
pub struct BearerError(pub Error);

/// An error of the userinfo endpoint when the token came with the DPoP scheme or is
/// DPoP-bound (RFC 9449 §7.1): the challenge is for DPoP, naming the algorithms.
#[derive(Debug)]
pub struct DpopError(pub Error);

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for DpopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A resource's error status: a DPoP proof's failure is the token's (RFC 9449 §7.1, §9).
fn resource_status(error: &Error) -> StatusCode {
    match error {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::OAuth(e)
            if matches!(
                e.code,
                OAuthErrorCode::InvalidDpopProof | OAuthErrorCode::UseDpopNonce
            ) =>
        {
            StatusCode::UNAUTHORIZED
        }
        _ => oauth_body(error).0,
    }
}

/// The answer of a resource (userinfo) to `error`, with a challenge of `scheme` (`Bearer realm="eid"`
/// or `DPoP algs="..."`) that names the error.
fn challenge_response(error: &Error, scheme: &str) -> HttpResponse {
    if matches!(error, Error::Unauthenticated) {
        // RFC 6750 §3.1: no credentials at all: a challenge, and no error code.
        let mut response = HttpResponse::Unauthorized();
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Ok(value) = HeaderValue::from_str(scheme) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        return response.finish();
    }
    log(error);
    let status = resource_status(error);
    let (_, body) = oauth_body(error);
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(seconds) = retry_after(error) {
        response.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    if status == StatusCode::UNAUTHORIZED {
        // RFC 6750 §3: the challenge names the error; descriptions are plain ASCII without quotes.
        let description = body
            .error_description
            .clone()
            .unwrap_or_default()
            .replace(['"', '\\'], "'");
        let challenge = format!(
            "{scheme}, error=\"{}\", error_description=\"{}\"",
            body.error, description
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
    }
    response.json(body)
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        resource_status(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        challenge_response(&self.0, "Bearer realm=\"eid\"")
    }
}

impl ResponseError for DpopError {
    fn status_code(&self) -> StatusCode {
        resource_status(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let algs = eid_core::oidc::dpop::DPOP_ALGS
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(" ");
        challenge_response(&self.0, &format!("DPoP algs=\"{algs}\""))
    }
}

/// An error shown to a person as an HTML page.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    /// Seconds to wait (429, 503), sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.detail)
    }
}

impl PageError {
    pub fn new(status: StatusCode, title: &str, detail: &str) -> Self {
        Self {
            status,
            title: title.to_owned(),
            detail: detail.to_owned(),
            retry_after: None,
        }
    }
}

impl From<Error> for PageError {
    fn from(error: Error) -> Self {
        log(&error);
        // Refusals whose reason is written for the person (the account page's).
        let told = match &error {
            Error::Forbidden(why) => Some((StatusCode::FORBIDDEN, "Not allowed", why.clone())),
            Error::Conflict(why) => Some((StatusCode::CONFLICT, "Not possible now", why.clone())),
            Error::Unauthenticated => Some((
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "Your eid session has ended in this browser. Sign in again from your account page."
                    .to_owned(),
            )),
            Error::NotFound(what) if *what != "login request" => Some((
                StatusCode::NOT_FOUND,
                "Not found",
                format!("There is no such {what}: it may have been removed already."),
            )),
            _ => None,
        };
        if let Some((status, title, detail)) = told {
            let mut page = Self::new(status, title, &detail);
            page.retry_after = retry_after(&error);
            return page;
        }
        let (status, title, detail) = match &error {
            Error::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "Login not found",
                "This login request does not exist. Return to the service and start again.",
            ),
            Error::WrongBrowser => (
                StatusCode::FORBIDDEN,
                "Wrong browser",
                "This login was started in another browser, or its cookie has expired. Return to the service and start again.",
            ),
            Error::Gone(_) => (
                StatusCode::GONE,
                "Login expired",
                "This login request has expired or was already completed. Return to the service and start again.",
            ),
            Error::InvalidInput(_) => (
                StatusCode::BAD_REQUEST,
                "Form expired",
                "The form was stale or incomplete. Go back, reload the page and try again.",
            ),
            Error::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "There were too many attempts. Wait a while and try again.",
            ),
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again later",
                "A service eid depends on did not answer. Please try again later.",
            ),
            other if other.is_internal() => (
                internal_status(other),
                "Something went wrong",
                "eid could not complete the request. The failure was logged; please try again later.",
            ),
            _ => (StatusCode::BAD_REQUEST, "Request refused", "eid could not continue with this request."),
        };
        let mut page = Self::new(status, title, detail);
        page.retry_after = retry_after(&error);
        page
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = pages::html(self.status, &pages::error_page(&self.title, &self.detail));
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
