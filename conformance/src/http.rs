//! HTTP as evidence: every request a module sends and every answer, recorded with secrets masked.
//!
//! Modules send with reqwest (a browser with a cookie jar, or a plain back-channel client) but
//! never follow redirects on their own: each hop is an exchange in the log, so that an auditor
//! sees exactly what the provider answered, and a module can stop at the relying party's
//! redirect URI without fetching it.

use reqwest::header::HeaderMap;
use serde::Serialize;
use url::Url;

/// Parameters and fields whose values are secrets: masked in the evidence.
const SECRET_NAMES: &[&str] = &[
    "client_secret",
    "password",
    "code_verifier",
    "access_token",
    "refresh_token",
    "client_assertion",
    "registration_access_token",
];
/// Headers whose values are secrets.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "set-cookie", "dpop"];
/// Bodies longer than this are cut in the evidence.
const MAX_BODY: usize = 16 * 1024;

/// One request and its answer, as the evidence shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// `None` when the request failed (the error is in `response_body`).
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The redirect's target, resolved against the request's URL.
    pub fn location(&self) -> Option<Url> {
        if !(300..400).contains(&self.status) {
            return None;
        }
        self.url.join(self.header("location")?).ok()
    }

    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("text/html"))
    }
}

/// Masks a secret, keeping a few leading characters so that the evidence still shows which
/// value was sent where.
pub fn mask(value: &str) -> String {
    let keep: String = value.chars().take(4).collect();
    if value.chars().count() <= 8 {
        "…(masked)".into()
    } else {
        format!("{keep}…(masked)")
    }
}

fn is_secret(name: &str) -> bool {
    SECRET_NAMES.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// A URL with its secret query parameters masked.
pub fn masked_url(url: &Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if is_secret(&k) {
                mask(&v)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}

/// A body with its secrets masked: form fields and JSON members by name.
pub fn masked_body(body: &[u8], content_type: Option<&str>) -> String {
    let ct = content_type.unwrap_or_default().to_ascii_lowercase();
    if ct.contains("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .map(|(k, v)| {
                let v = if is_secret(&k) {
                    mask(&v)
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        return url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
    }
    if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) {
        mask_json(&mut json);
        return serde_json::to_string_pretty(&json).unwrap_or_default();
    }
    let text = String::from_utf8_lossy(body);
    if text.len() > MAX_BODY {
        let mut cut = MAX_BODY;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}… ({} bytes in all)", &text[..cut], body.len())
    } else {
        text.into_owned()
    }
}

fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret(k) {
                    if let Some(s) = v.as_str() {
                        *v = serde_json::Value::String(mask(s));
                    }
                } else {
                    mask_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

fn masked_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("(not text)");
            let v = if SECRET_HEADERS.contains(&k.as_str()) {
                // Keep the scheme of an Authorization header: it is part of what is checked.
                match v.split_once(' ') {
                    Some((scheme, rest)) if k == "authorization" => {
                        format!("{scheme} {}", mask(rest))
                    }
                    _ => mask(v),
                }
            } else {
                v.to_owned()
            };
            (k.as_str().to_owned(), v)
        })
        .collect()
}

/// Sends `request` with `client`, reads the whole answer, and returns it with its evidence.
pub async fn exchange(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> (Result<Response, String>, Exchange) {
    let method = request.method().to_string();
    let url = request.url().clone();
    let request_headers = masked_headers(request.headers());
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request_body = request
        .body()
        .and_then(|b| b.as_bytes())
        .map(|b| masked_body(b, content_type.as_deref()));
    let mut evidence = Exchange {
        method,
        url: masked_url(&url),
        request_headers,
        request_body,
        status: None,
        response_headers: Vec::new(),
        response_body: String::new(),
    };
    let response = match client.execute(request).await {
        Ok(r) => r,
        Err(e) => {
            evidence.response_body = format!("request failed: {e}");
            return (
                Err(format!("{} {}: {e}", evidence.method, evidence.url)),
                evidence,
            );
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            evidence.status = Some(status);
            evidence.response_body = format!("reading the body failed: {e}");
            return (
                Err(format!("{} {}: {e}", evidence.method, evidence.url)),
                evidence,
            );
        }
    };
    evidence.status = Some(status);
    evidence.response_headers = masked_headers(&headers);
    evidence.response_body = masked_body(
        &body,
        headers.get("content-type").and_then(|v| v.to_str().ok()),
    );
    (
        Ok(Response {
            status,
            url,
            headers,
            body,
        }),
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_wherever_they_travel() {
        let url = Url::parse("https://op.example/cb?code=abc&access_token=0123456789abcdef")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let masked = masked_url(&url);
        assert!(masked.contains("code=abc"), "{masked}");
        assert!(!masked.contains("0123456789abcdef"), "{masked}");
        let form = masked_body(
            b"grant_type=authorization_code&client_secret=s3cr3t-s3cr3t&code_verifier=dBjftJeZ4CVP",
            Some("application/x-www-form-urlencoded"),
        );
        assert!(form.contains("grant_type=authorization_code"), "{form}");
        assert!(
            !form.contains("s3cr3t-s3cr3t") && !form.contains("dBjftJeZ4CVP"),
            "{form}"
        );
        let json = masked_body(
            br#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.payload.sig","token_type":"Bearer"}"#,
            Some("application/json"),
        );
        assert!(
            json.contains("Bearer") && !json.contains("payload.sig"),
            "{json}"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "Basic Y2xpZW50OnNlY3JldHNlY3JldA=="
                .parse()
                .unwrap_or_else(|e| unreachable!("{e}")),
        );
        let shown = masked_headers(&headers);
        assert_eq!(shown[0].1, "Basic Y2xp…(masked)");
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let body = "語".repeat(MAX_BODY);
        let shown = masked_body(body.as_bytes(), Some("text/html"));
        assert!(shown.len() < body.len() && shown.ends_with("bytes in all)"));
    }
}
