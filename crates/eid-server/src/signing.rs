//! Document signing over HTTP: the relying party's back-channel endpoints (client-authenticated
//! forms, JSON answers, OAuth errors) and the wallet's (wallet session, problem JSON).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use eid_core::signing::{SigningRequestForm, SigningResultForm};
use eid_proto::signing::SigningSubmission;

use crate::error::{ApiError, TokenError};
use crate::extract::{bearer, caller};
use crate::oidc::{client_flow, token_dpop_proof, with_dpop_nonce};
use crate::{run, AppState};

/// A PDF of 10 MiB, base64 in a form, with room for the rest.
const FORM_LIMIT: usize = 14 * 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/signing/requests")
            .app_data(web::PayloadConfig::new(FORM_LIMIT))
            .route(web::post().to(create)),
    )
    .route("/signing/result", web::post().to(result));
    // The wallet's routes are mounted in the `/api/v1` scope (`api::configure`).
}

fn no_store(
    mut response: actix_web::HttpResponseBuilder,
    body: impl serde::Serialize,
) -> HttpResponse {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// `POST /signing/requests`: a service asks a citizen to sign (201), with the citizen's
/// access token (and, for a DPoP-bound one, a proof; the answer then carries `DPoP-Nonce`).
async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let answer = async {
        let dpop = token_dpop_proof(&req)?;
        let created = client_flow(
            &req,
            &state,
            &body,
            move |p, basic, form: SigningRequestForm, now| {
                p.create_signing_request(basic, &form, dpop, now)
            },
        )
        .await?;
        Ok::<_, TokenError>(no_store(HttpResponse::Created(), created))
    }
    .await;
    with_dpop_nonce(&req, &state, answer)
}

/// `POST /signing/result`: the signature, once the citizen approved.
async fn result(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, TokenError> {
    let result = client_flow(
        &req,
        &state,
        &body,
        |p, basic, form: SigningResultForm, now| p.signing_result(basic, &form, now),
    )
    .await?;
    Ok(no_store(HttpResponse::Ok(), result))
}

/// `GET /api/v1/signing-requests`: the account's pending requests (wallet session).
pub(crate) async fn pending(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req).ok_or(ApiError(eid_core::Error::Unauthenticated))?;
    let list = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.pending_signing_requests(&session, now)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), list))
}

/// `GET /api/v1/signing-requests/{id}/document`: the PDF to sign, for the phone to show
/// (wallet session of the request's citizen; pending requests only).
pub(crate) async fn document(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req).ok_or(ApiError(eid_core::Error::Unauthenticated))?;
    let request_id = path.into_inner();
    let pdf = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.signing_document(&session, &request_id, now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        // Saved, never rendered in place: the document is the service's, not eid's page.
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"document.pdf\"",
        ))
        .body(pdf))
}

/// `POST /api/v1/signing-requests/{id}`: the citizen's signed decision.
pub(crate) async fn answer(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<SigningSubmission>,
) -> Result<HttpResponse, ApiError> {
    let request_id = path.into_inner();
    let submission = body.into_inner();
    let caller = caller(&req);
    let result = run(&state.provider, move |p, now| {
        crate::api::approvals_limit(p, &caller, now)?;
        p.answer_signing_request(&request_id, &submission, now)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok(), result))
}
