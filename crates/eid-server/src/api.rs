//! The wallet's REST API under `/api/v1`. Errors are RFC 7807 problems; every answer is
//! `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use eid_core::time::UnixTime;
use eid_core::Error;
use eid_proto::api::{
    ApprovalSubmission, AssertionFinish, CounterSubmission, DeviceLinkRedeem, DeviceList,
    EnrolmentRequest, ProofingResult, ProofingSubmission, RegistrationFinish, UpgradeRequest,
};
use eid_proto::problem::Problem;
use serde::Deserialize;

use crate::error::{problem_response, ApiError};
use crate::extract::{bearer, caller};
use crate::{run, AppState};
use eid_core::ids::DeviceId;
use eid_core::limits::Caller;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::DefaultHeaders::new().add((
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            )))
            .route("/enrolments", web::post().to(enrol))
            .route(
                "/enrolments/{ceremony_id}",
                web::post().to(finish_enrolment),
            )
            .route("/applications/{application_id}", web::get().to(application))
            .route(
                "/applications/{application_id}/proofing-challenges",
                web::post().to(start_proofing),
            )
            .route(
                "/applications/{application_id}/proofing",
                web::post().to(prove),
            )
            .route(
                "/registrations/{ceremony_id}",
                web::post().to(finish_registration),
            )
            .route(
                "/counter-challenges/{code}",
                web::get().to(counter_challenge),
            )
            .route("/counter-challenges/{code}", web::post().to(answer_counter))
            .route("/approvals/{request_id}", web::get().to(approval))
            .route("/approvals/{request_id}", web::post().to(approve))
            .route("/device-sessions", web::post().to(start_session))
            .route(
                "/device-sessions/{ceremony_id}",
                web::post().to(finish_session),
            )
            .route("/account", web::get().to(account))
            .route("/account/history", web::get().to(history))
            .route("/inbox", web::get().to(inbox))
            .route("/account/upgrade-requests", web::post().to(upgrade))
            .route("/devices", web::get().to(devices))
            .route("/devices/{device_id}", web::delete().to(remove_device))
            .route("/recoveries", web::get().to(recoveries))
            .route(
                "/recoveries/{application_id}",
                web::delete().to(cancel_recovery),
            )
            .route("/device-links", web::post().to(create_link))
            .route("/device-links/{code}", web::post().to(redeem_link))
            .route("/consents", web::get().to(consents))
            .route("/consents/{client_id}", web::delete().to(withdraw_consent))
            .route("/sessions", web::get().to(browser_sessions))
            .route("/sessions", web::delete().to(end_browser_sessions))
            .route(
                "/sessions/{session_id}",
                web::delete().to(end_browser_session),
            )
            .route("/signing-requests", web::get().to(crate::signing::pending))
            .route(
                "/signing-requests/{request_id}",
                web::post().to(crate::signing::answer),
            )
            .route(
                "/signing-requests/{request_id}/document",
                web::get().to(crate::signing::document),
            ),
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

fn token(req: &HttpRequest) -> Result<String, ApiError> {
    bearer(req).ok_or(ApiError(Error::Unauthenticated))
}

/// `POST /api/v1/enrolments`: validates particulars, answers with a registration challenge.
async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<EnrolmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let caller = caller(&req);
    let challenge = run(&state.provider, move |p, now| {
        p.start_enrolment(&request, &caller, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(challenge))
}

/// `POST /api/v1/enrolments/{ceremony_id}`: the phone's attestation makes the application.
async fn finish_enrolment(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RegistrationFinish>,
) -> Result<HttpResponse, ApiError> {
    let ceremony_id = path.into_inner();
    let finish = body.into_inner();
    let created = run(&state.provider, move |p, now| {
        p.finish_enrolment(&ceremony_id, &finish.credential, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// `GET /api/v1/applications/{id}` (Bearer application token).
async fn application(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let id = path.into_inner();
    let status = run(&state.provider, move |p, now| {
        p.application_state(&id, &token, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(status))
}

/// `POST /api/v1/applications/{id}/proofing-challenges` (Bearer application token).
async fn start_proofing(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let caller = caller(&req);
    let id = path.into_inner();
    let challenge = run(&state.provider, move |p, now| {
        p.start_remote_proofing(&id, &token, &caller, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(challenge))
}

/// `POST /api/v1/applications/{id}/proofing` (Bearer application token): the signed evidence
/// goes to the population registry; a matching verdict binds the device to the account.
async fn prove(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ProofingSubmission>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let caller = caller(&req);
    let id = path.into_inner();
    let submission = body.into_inner();
    let Some(registry) = state.registry.as_ref() else {
        return Err(ApiError(Error::Unavailable(
            "remote proofing is not offered by this deployment; show your reference at a registration counter".into(),
        )));
    };
    let roots = registry.capture_roots().await?;
    let prepared = run(&state.provider, move |p, now| {
        p.prepare_remote_proofing(&id, &token, &submission, &roots, &caller, now)
    })
    .await?;
    let verdict = registry.verify(&prepared.query).await?;
    let keys = registry.keys_for(&verdict).await?;
    let outcome = run(&state.provider, move |p, now| {
        p.complete_remote_proofing(prepared, &verdict, &keys, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ProofingResult {
        citizen_id: outcome.citizen_id.into_string(),
        reference: outcome.reference,
        device_id: outcome
            .device_id
            .map(DeviceId::into_string)
            .unwrap_or_default(),
        level: outcome.level.as_str().to_owned(),
        recovered: outcome.recovered,
        revoked_devices: outcome.revoked_devices,
        held_until: outcome.held_until.map(|t| t.secs()),
    }))
}

/// `POST /api/v1/registrations/{ceremony_id}`: a linked phone's attestation binds it.
async fn finish_registration(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RegistrationFinish>,
) -> Result<HttpResponse, ApiError> {
    let ceremony_id = path.into_inner();
    let finish = body.into_inner();
    let bound = run(&state.provider, move |p, now| {
        p.finish_registration(&ceremony_id, &finish.credential, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(bound))
}

/// `GET /api/v1/counter-challenges/{code}`: the challenge a registration counter shows, for
/// the applying phone to answer.
async fn counter_challenge(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let caller = caller(&req);
    let challenge = run(&state.provider, move |p, now| {
        p.counter_challenge(&code, &caller, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(challenge))
}

/// `POST /api/v1/counter-challenges/{code}`: the applying phone's answer, signed by its key.
async fn answer_counter(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CounterSubmission>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let submission = body.into_inner();
    let caller = caller(&req);
    let answered = run(&state.provider, move |p, now| {
        p.answer_counter(&code, &submission, &caller, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(answered))
}

#[derive(Deserialize)]
struct ApprovalQuery {
    /// The rotating code from the QR payload.
    t: Option<String>,
}

/// `GET /api/v1/approvals/{request_id}?t=...`: what the login asks for, where it was started,
/// the numbers, and the challenge. With the wallet's session, the citizen's own values.
async fn approval(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ApprovalQuery>,
) -> Result<HttpResponse, ApiError> {
    let request_id = path.into_inner();
    let code = query.into_inner().t;
    let token = bearer(&req);
    let caller = caller(&req);
    let details = run(&state.provider, move |p, now| {
        approvals_limit(p, &caller, now)?;
        let session = token.map(|t| p.wallet_session(&t, now)).transpose()?;
        let request = p.approval_request(&request_id, code.as_deref(), session.as_ref(), now)?;
        // A self-registered service's name is only its own claim: the phone says so.
        let service_verified = p.client_verified(&request.service.client_id)?;
        Ok::<_, Error>(eid_proto::api::ApprovalView {
            request,
            service_verified,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(details))
}

/// The phone's requests about logins count against one limit per address.
pub(crate) fn approvals_limit(
    p: &eid_core::Provider,
    caller: &Caller,
    now: UnixTime,
) -> Result<(), Error> {
    p.limit_address_here(
        "approvals_per_address",
        caller,
        p.limits().approvals_per_address,
        now,
    )
}

/// `POST /api/v1/approvals/{request_id}`: the citizen's decision, signed inside the assertion.
async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ApprovalSubmission>,
) -> Result<HttpResponse, ApiError> {
    let request_id = path.into_inner();
    let submission = body.into_inner();
    let caller = caller(&req);
    let result = run(&state.provider, move |p, now| {
        approvals_limit(p, &caller, now)?;
        p.answer_approval(&request_id, &submission, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `GET /api/v1/consents`: what the citizen shares with which service.
async fn consents(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let list = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.consents(&session, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `DELETE /api/v1/consents/{client_id}`: withdraws a standing consent.
async fn withdraw_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let client_id = path.into_inner();
    run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.withdraw_consent(&session, &client_id, now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/sessions`: the browsers signed in to eid.
async fn browser_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let sessions = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.wallet_may_end_sessions(&session, now)?;
        p.sessions_of(&session.citizen_id, None, now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(eid_proto::api::BrowserSessionList {
            sessions: sessions
                .into_iter()
                .map(|s| eid_proto::api::BrowserSession {
                    session_id: s.session_id,
                    browser: s.browser,
                    os: s.os,
                    created_at: s.created_at.secs(),
                    last_seen_at: s.last_seen_at.secs(),
                    auth_time: s.auth_time.secs(),
                    services: s.services,
                })
                .collect(),
        }))
}

/// `DELETE /api/v1/sessions/{id}`: signs that browser out (every service it logged in to is
/// told by back-channel logout; front-channel logout needs the browser, which is elsewhere).
async fn end_browser_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let session_id = path.into_inner();
    run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.wallet_may_end_sessions(&session, now)?;
        p.end_session_of(
            &session.citizen_id,
            &session_id,
            &wallet_actor(&session),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/sessions`: signs out everywhere.
async fn end_browser_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.wallet_may_end_sessions(&session, now)?;
        p.end_sessions_of(&session.citizen_id, &wallet_actor(&session), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The wallet's device, acting.
fn wallet_actor(session: &eid_core::store::WalletSessionRecord) -> eid_core::audit::Actor {
    eid_core::audit::Actor::Citizen {
        device_id: Some(session.device_id.clone().into_string()),
    }
}

/// `POST /api/v1/device-sessions`: a challenge for managing the account.
async fn start_session(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req);
    let challenge = run(&state.provider, move |p, now| {
        sessions_limit(p, &caller, now)?;
        p.start_wallet_session(now)
    })
    .await?;
    Ok(HttpResponse::Created().json(challenge))
}

/// Wallet sessions and device links are started only so often from one address.
fn sessions_limit(p: &eid_core::Provider, caller: &Caller, now: UnixTime) -> Result<(), Error> {
    p.limit_address_here(
        "sessions_per_address",
        caller,
        p.limits().sessions_per_address,
        now,
    )
}

/// `POST /api/v1/device-sessions/{ceremony_id}`: the assertion earns a session token.
async fn finish_session(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<AssertionFinish>,
) -> Result<HttpResponse, ApiError> {
    let ceremony_id = path.into_inner();
    let finish = body.into_inner();
    let token = run(&state.provider, move |p, now| {
        p.finish_wallet_session(&ceremony_id, &finish.credential, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(token))
}

/// `GET /api/v1/account`.
async fn account(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let info = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.account_info(&session)
    })
    .await?;
    Ok(HttpResponse::Ok().json(info))
}

/// `GET /api/v1/account/history`.
async fn history(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let history = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.account_history(&session, 100)
    })
    .await?;
    Ok(HttpResponse::Ok().json(history))
}

#[derive(Deserialize)]
struct InboxQuery {
    /// The cursor of the previous answer (Unix seconds); from the start if absent.
    after: Option<i64>,
    /// How long to wait for a notice, in seconds (at most 30): a long poll.
    wait: Option<u64>,
}

/// The longest an inbox request waits for a notice.
const INBOX_WAIT_MAX: u64 = 30;

/// `GET /api/v1/inbox?after=&wait=`: notices of what other devices and browsers did to the
/// account. With `wait`, the answer waits (polling the store once a second, off the executor's
/// threads) until there is a notice or the time is up.
async fn inbox(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let after = query.after.unwrap_or(0);
    // Within the request deadline (the guard answers 408 past it), with a second to spare.
    let within = state
        .guard
        .settings()
        .request_deadline
        .as_secs()
        .saturating_sub(2);
    let wait = query.wait.unwrap_or(0).min(INBOX_WAIT_MAX).min(within);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let token = token.clone();
        let inbox = run(&state.provider, move |p, now| {
            let session = p.wallet_session(&token, now)?;
            p.inbox(&session, after, now)
        })
        .await?;
        if !inbox.notices.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(HttpResponse::Ok()
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                .json(inbox));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// `POST /api/v1/account/upgrade-requests`: particulars to prove in person.
async fn upgrade(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<UpgradeRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let request = body.into_inner();
    let created = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.start_upgrade(&session, &request, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// `GET /api/v1/devices`.
async fn devices(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let devices = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.devices(&session, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DeviceList { devices }))
}

/// `DELETE /api/v1/devices/{device_id}`.
async fn remove_device(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let device_id = path.into_inner();
    run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.remove_device(&session, &device_id, now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/recoveries`: the account's held recoveries (wallet session).
async fn recoveries(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let list = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.held_recoveries(&session, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `DELETE /api/v1/recoveries/{application_id}`: a device of the account cancels a held
/// recovery (its inbox's one-tap answer).
async fn cancel_recovery(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let application_id = path.into_inner();
    run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.cancel_recovery(&session, &application_id, now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/device-links`: a one-time code for another phone.
async fn create_link(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = token(&req)?;
    let link = run(&state.provider, move |p, now| {
        let session = p.wallet_session(&token, now)?;
        p.create_device_link(&session, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(link))
}

/// `POST /api/v1/device-links/{code}`: the new phone starts its registration.
async fn redeem_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<DeviceLinkRedeem>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let redeem = body.into_inner();
    let caller = caller(&req);
    let challenge = run(&state.provider, move |p, now| {
        // Link codes are random, but guessing is still refused at a rate.
        sessions_limit(p, &caller, now)?;
        p.redeem_device_link(&code, &redeem.device_name, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(challenge))
}
