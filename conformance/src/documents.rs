//! Documents the suite serves for the provider to fetch, as a relying party's site would: a
//! client's key set (`jwks_uri`), a sector's redirect URIs (`sector_identifier_uri`). Each is
//! put at a path of its own, unguessable, for the run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rand::RngExt as _;
use url::Url;

type Pages = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

/// The suite's document site.
pub struct Documents {
    base: Url,
    pages: Pages,
    handle: actix_web::dev::ServerHandle,
}

impl Documents {
    /// Serves on `listen`; the provider reaches it at `public` (by default `http://<listen>`).
    pub async fn start(listen: SocketAddr, public: Option<Url>) -> anyhow::Result<Arc<Self>> {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let pages: Pages = Arc::default();
        let served = pages.clone();
        let server = HttpServer::new(move || {
            let served = served.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let page = served.lock().ok().and_then(|p| p.get(req.path()).cloned());
                async move {
                    match page {
                        Some((content_type, body)) => {
                            HttpResponse::Ok().content_type(content_type).body(body)
                        }
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(listen)?;
        let bound = server.addrs()[0];
        let running = server.run();
        let handle = running.handle();
        tokio::spawn(running);
        let base = match public {
            Some(url) => url,
            None => Url::parse(&format!("http://{bound}/"))?,
        };
        Ok(Arc::new(Self {
            base,
            pages,
            handle,
        }))
    }

    /// Serves `body` as `content_type` at a new path; its URL.
    pub fn put(&self, name: &str, content_type: &str, body: impl Into<Vec<u8>>) -> String {
        let id: [u8; 12] = rand::rng().random();
        let path = format!("/{}/{name}", crate::b64url(&id));
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(path.clone(), (content_type.to_owned(), body.into()));
        }
        self.base
            .join(path.trim_start_matches('/'))
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}
