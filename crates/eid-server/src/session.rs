//! The single sign-on session cookie: host-only, `HttpOnly`, `SameSite=Lax` (a relying party's
//! redirect to `/authorize` is a top-level navigation from another site, which must carry it),
//! `Secure` with the `__Host-` prefix when the issuer is https. Its value is a secret whose hash
//! finds the session; a new one is set at every login in the browser.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;
use eid_core::sso::{BrowserContext, SessionCookie};

use crate::AppState;

/// The cookie's name: with the `__Host-` prefix (Secure, no Domain, Path=/) over https.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-eid_session"
    } else {
        "eid_session"
    }
}

/// The session cookie's secret, if the browser sent one.
pub fn session_secret(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(cookie_name(state.secure_cookies))
        .map(|c| c.value().to_owned())
}

/// What the browser brings: its session cookie and its user agent.
pub fn browser_context(req: &HttpRequest, state: &AppState) -> BrowserContext {
    BrowserContext {
        session: session_secret(req, state),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect()),
    }
}

/// The cookie that opens (or renews) the browser's session.
pub fn set_cookie(state: &AppState, session: SessionCookie) -> Cookie<'static> {
    Cookie::build(cookie_name(state.secure_cookies), session.secret)
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(session.max_age))
        .finish()
}

/// The cookie that removes the browser's session cookie.
pub fn clear_cookie(state: &AppState) -> Cookie<'static> {
    let mut gone = Cookie::build(cookie_name(state.secure_cookies), "")
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .finish();
    gone.make_removal();
    gone
}
