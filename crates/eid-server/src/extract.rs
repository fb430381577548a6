//! What handlers read from a request besides its body: bearer tokens, HTTP Basic client
//! credentials, the caller's address. One parser each, so every endpoint agrees.

use actix_web::http::header;
use actix_web::HttpRequest;
use eid_core::limits::Caller;

/// `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive, RFC 7235
/// §2.1).
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// The request's DPoP proof (RFC 9449 §4.1): `Ok(None)` without a `DPoP` header, `Err` when
/// there are several or it is not text.
pub fn dpop_proof(req: &HttpRequest) -> Result<Option<String>, ()> {
    let mut values = req.headers().get_all("dpop");
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value
            .to_str()
            .map(|v| Some(v.trim().to_owned()))
            .map_err(|_| ()),
        (Some(_), Some(_)) => Err(()),
    }
}

/// The access token of `Authorization: DPoP` (RFC 9449 §7.1), the scheme matched without
/// regard to case.
pub fn dpop_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("dpop") && !token.is_empty()).then(|| token.to_owned())
}

/// Parses `Authorization: Basic` (RFC 7617); id and secret are form-decoded (RFC 6749 §2.3.1).
/// `Ok(None)` when there is no Authorization header; `Err` when it is not valid Basic.
pub fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, ()> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    eid_core::clients::decode_basic_credentials(value)
        .map(Some)
        .ok_or(())
}

/// The caller: its address (the peer's, or behind a trusted proxy the one the proxy names), and
/// the `User-Agent` it sent (at most 512 characters kept).
pub fn caller(req: &HttpRequest) -> Caller {
    let peer = req.peer_addr().map(|a| a.ip());
    let address = match req.app_data::<actix_web::web::Data<crate::AppState>>() {
        Some(state) => {
            let forwarded: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .collect();
            crate::guard::client_address(peer, &forwarded, |a| state.guard.is_trusted(a))
        }
        None => peer,
    };
    Caller {
        address,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use base64::Engine as _;

    fn with_auth(value: &str) -> HttpRequest {
        TestRequest::default()
            .insert_header((header::AUTHORIZATION, value))
            .to_http_request()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let value = base64::engine::general_purpose::STANDARD.encode("my%20id:s%2Bcret");
        assert_eq!(
            basic_credentials(&with_auth(&format!("Basic {value}"))),
            Ok(Some(("my id".to_owned(), "s+cret".to_owned())))
        );
        assert_eq!(
            basic_credentials(&with_auth(&format!("BASIC {value}"))),
            Ok(Some(("my id".to_owned(), "s+cret".to_owned())))
        );
        assert_eq!(basic_credentials(&with_auth("Basic !!!")), Err(()));
        assert_eq!(basic_credentials(&with_auth("Bearer x")), Err(()));
        assert_eq!(
            basic_credentials(&TestRequest::default().to_http_request()),
            Ok(None)
        );
    }

    #[test]
    fn bearer_schemes_are_case_insensitive() {
        assert_eq!(bearer(&with_auth("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(bearer(&with_auth("bearer abc")).as_deref(), Some("abc"));
        assert_eq!(bearer(&with_auth("BEARER  abc ")).as_deref(), Some("abc"));
        assert_eq!(bearer(&with_auth("Bearer ")), None);
        assert_eq!(bearer(&with_auth("Basic abc")), None);
        assert_eq!(bearer(&TestRequest::default().to_http_request()), None);
    }
}
