//! The wallet's REST API under `/api/v1`. Errors are RFC 7807 problems.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use eid_core::Error;
use eid_proto::api::{
    ApprovalResult, AssertionFinish, DeviceLinkRedeem, DeviceList, EnrolmentRequest,
    RegistrationFinish,
};
use eid_proto::problem::Problem;

use crate::error::{problem_response, ApiError};
use crate::{run, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/enrolments", web::post().to(enrol))
            .route(
                "/registrations/{ceremony_id}",
                web::post().to(finish_registration),
            )
            .route("/approvals/{request_id}", web::get().to(approval))
            .route("/approvals/{request_id}", web::post().to(approve))
            .route("/device-sessions", web::post().to(start_session))
            .route(
                "/device-sessions/{ceremony_id}",
                web::post().to(finish_session),
            )
            .route("/devices", web::get().to(devices))
            .route("/devices/{device_id}", web::delete().to(remove_device))
            .route("/device-links", web::post().to(create_link))
            .route("/device-links/{code}", web::post().to(redeem_link)),
    );
}

/// Malformed JSON bodies become a problem naming what is wrong.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req| {
            let detail = err.to_string();
            let response = problem_response(
                &Problem::new(
                    400,
                    "invalid-body",
                    "The request body is not valid JSON for this resource",
                )
                .with_detail(detail),
            );
            actix_web::error::InternalError::from_response(err, response).into()
        })
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `POST /api/v1/enrolments`: validates particulars, answers with a registration challenge.
async fn enrol(
    state: web::Data<AppState>,
    body: web::Json<EnrolmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let challenge = run(&state, move |p, now| p.start_enrolment(&request, now)).await?;
    Ok(no_store(HttpResponse::Created().json(challenge)))
}

/// `POST /api/v1/registrations/{ceremony_id}`: the phone's attestation binds the device.
async fn finish_registration(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RegistrationFinish>,
) -> Result<HttpResponse, ApiError> {
    let ceremony_id = path.into_inner();
    let finish = body.into_inner();
    let bound = run(&state, move |p, now| {
        p.finish_registration(&ceremony_id, &finish.credential, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(bound))
}

/// `GET /api/v1/approvals/{request_id}`: what the login asks for, and its challenge.
async fn approval(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let request_id = path.into_inner();
    let details = run(&state, move |p, now| p.approval_request(&request_id, now)).await?;
    Ok(no_store(HttpResponse::Ok().json(details)))
}

/// `POST /api/v1/approvals/{request_id}`: the phone's assertion approves the login.
async fn approve(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<AssertionFinish>,
) -> Result<HttpResponse, ApiError> {
    let request_id = path.into_inner();
    let finish = body.into_inner();
    run(&state, move |p, now| {
        p.approve(&request_id, &finish.credential, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ApprovalResult {
        status: "approved".into(),
    }))
}

/// `POST /api/v1/device-sessions`: a challenge for managing the account.
async fn start_session(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let challenge = run(&state, |p, now| p.start_wallet_session(now)).await?;
    Ok(no_store(HttpResponse::Created().json(challenge)))
}

/// `POST /api/v1/device-sessions/{ceremony_id}`: the assertion earns a session token.
async fn finish_session(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<AssertionFinish>,
) -> Result<HttpResponse, ApiError> {
    let ceremony_id = path.into_inner();
    let finish = body.into_inner();
    let token = run(&state, move |p, now| {
        p.finish_wallet_session(&ceremony_id, &finish.credential, now)
    })
    .await?;
    Ok(no_store(HttpResponse::Created().json(token)))
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError(Error::Unauthenticated))
}

/// `GET /api/v1/devices`.
async fn devices(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req)?;
    let devices = run(&state, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.devices(&session)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok().json(DeviceList { devices })))
}

/// `DELETE /api/v1/devices/{device_id}`.
async fn remove_device(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req)?;
    let device_id = path.into_inner();
    run(&state, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.remove_device(&session, &device_id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/device-links`: a one-time code for another phone.
async fn create_link(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req)?;
    let link = run(&state, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.create_device_link(&session, now)
    })
    .await?;
    Ok(no_store(HttpResponse::Created().json(link)))
}

/// `POST /api/v1/device-links/{code}`: the new phone starts its registration.
async fn redeem_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<DeviceLinkRedeem>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let redeem = body.into_inner();
    let challenge = run(&state, move |p, now| {
        p.redeem_device_link(&code, &redeem.device_name, now)
    })
    .await?;
    Ok(no_store(HttpResponse::Created().json(challenge)))
}
