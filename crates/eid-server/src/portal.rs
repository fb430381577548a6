//! The service portal (`/portal`): eid's catalogue of integrated services by theme and
//! audience, searchable, in both languages. Each service and deep link is a link to the
//! service's `initiate_login_uri` (OIDC Core §4); the page itself changes nothing.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use eid_core::catalogue::{Audience, CatalogueQuery, Theme};
use serde::Deserialize;

use crate::account::locale_of;
use crate::error::PageError;
use crate::session::session_secret;
use crate::{account_pages, pages, run, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/portal", web::get().to(portal));
}

#[derive(Deserialize)]
struct PortalQuery {
    q: Option<String>,
    theme: Option<String>,
    audience: Option<String>,
}

/// `GET /portal?q=&theme=&audience=&lang=`.
async fn portal(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    // An unknown theme or audience, or an odd query, shows everything rather than an error.
    let query = web::Query::<PortalQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or(PortalQuery {
            q: None,
            theme: None,
            audience: None,
        });
    let query = CatalogueQuery {
        text: query
            .q
            .map(|q| q.chars().take(100).collect::<String>())
            .filter(|q| !q.trim().is_empty()),
        theme: query.theme.as_deref().and_then(Theme::parse),
        audience: query.audience.as_deref().and_then(Audience::parse),
    };
    let cookie = session_secret(&req, &state);
    let q = query.clone();
    let (cards, signed_in) = run(&state.provider, move |p, now| {
        let cards = p.catalogue(&q)?;
        let signed_in = p.signed_in_as(cookie.as_deref(), now)?;
        Ok::<_, eid_core::Error>((cards, signed_in))
    })
    .await?;
    let locale = locale_of(&req);
    Ok(pages::html(
        StatusCode::OK,
        &account_pages::portal_page(
            locale,
            &query,
            &cards,
            signed_in
                .as_ref()
                .map(|(name, csrf)| (name.as_str(), csrf.as_str())),
        ),
    ))
}
