//! The PKI's public endpoints: the root and issuing CA certificates (DER,
//! `application/pkix-cert`, RFC 2585), which relying parties and verifiers fetch, and the
//! time-stamping unit (RFC 3161 over HTTP: `application/timestamp-query` in,
//! `application/timestamp-reply` out). The OCSP responder and the time-stamping unit sign
//! with keys that may be in an HSM: limited per address, a caller over its limit gets `429`
//! with `Retry-After` and its protocol's own refusal (OCSP `tryLater`, a time-stamp
//! rejection).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::extract::caller;
use crate::{run, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/pki/root.crt", web::get().to(root))
        .route("/pki/issuing.crt", web::get().to(issuing))
        .route("/pki/tsa", web::post().to(tsa))
        .route("/pki/issuing.crl", web::get().to(crl))
        .route("/pki/ocsp", web::post().to(ocsp_post))
        .route("/pki/ocsp/{request}", web::get().to(ocsp_get));
}

fn certificate(der: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/pkix-cert"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(der)
}

/// `GET /pki/root.crt`: the trust anchor of eid's signatures.
async fn root(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let der = run(&state.provider, |p, _| {
        p.authority().map(|a| a.root.der.clone())
    })
    .await?;
    Ok(certificate(der))
}

/// `GET /pki/issuing.crt`: the issuing CA (the `caIssuers` access of what it issues).
async fn issuing(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let der = run(&state.provider, |p, _| {
        p.authority().map(|a| a.issuing.certificate.der.clone())
    })
    .await?;
    Ok(certificate(der))
}

/// `POST /pki/tsa`: a time stamp (RFC 3161 §3.4). A malformed request gets a rejection in
/// the protocol's own form (a `TimeStampResp` whose status says why), never an HTML page.
async fn tsa(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/timestamp-query") {
        return Err(ApiError(eid_core::Error::invalid(
            "Content-Type",
            "must be application/timestamp-query",
        )));
    }
    let caller = caller(&req);
    let answer = run(&state.provider, move |p, now| {
        p.time_stamp_response(&body, &caller, now)
    })
    .await;
    let (mut response, reply) = match answer {
        Ok(reply) => (HttpResponse::Ok(), reply),
        Err(eid_core::Error::RateLimited { retry_after, .. }) => (
            too_many(retry_after),
            eid_core::pki::tsp::too_many_time_stamps()?,
        ),
        Err(other) => return Err(other.into()),
    };
    Ok(response
        .insert_header((header::CONTENT_TYPE, "application/timestamp-reply"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(reply))
}

/// `429 Too Many Requests` with `Retry-After`.
fn too_many(retry_after: u64) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::TooManyRequests();
    response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
    response
}

/// `GET /pki/issuing.crl`: the issuing CA's CRL (DER, `application/pkix-crl`).
async fn crl(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let der = run(&state.provider, |p, now| p.crl(now)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/pkix-crl"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(der))
}

/// The OCSP answer, or `tryLater` with `429` for a caller over its limit.
fn ocsp_reply(answer: Result<Vec<u8>, eid_core::Error>) -> Result<HttpResponse, ApiError> {
    let (mut response, der) = match answer {
        Ok(der) => (HttpResponse::Ok(), der),
        Err(eid_core::Error::RateLimited { retry_after, .. }) => {
            (too_many(retry_after), eid_core::pki::status::try_later()?)
        }
        Err(other) => return Err(other.into()),
    };
    Ok(response
        .insert_header((header::CONTENT_TYPE, "application/ocsp-response"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(der))
}

/// `POST /pki/ocsp` (RFC 6960 Appendix A.1: the DER request as the body).
async fn ocsp_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req);
    ocsp_reply(
        run(&state.provider, move |p, now| {
            p.ocsp_response(&body, &caller, now)
        })
        .await,
    )
}

/// `GET /pki/ocsp/{base64 of the DER request, URL-encoded}`.
async fn ocsp_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    use base64::Engine as _;
    // A request that does not decode is answered as malformed, in OCSP's form.
    let request = base64::engine::general_purpose::STANDARD
        .decode(path.into_inner().trim())
        .unwrap_or_default();
    let caller = caller(&req);
    ocsp_reply(
        run(&state.provider, move |p, now| {
            p.ocsp_response(&request, &caller, now)
        })
        .await,
    )
}
