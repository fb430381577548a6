//! The PKI's public documents: the root and issuing CA certificates (DER,
//! `application/pkix-cert`, RFC 2585), which relying parties and verifiers fetch.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::{run, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/pki/root.crt", web::get().to(root))
        .route("/pki/issuing.crt", web::get().to(issuing));
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
