//! Signing a tenancy agreement through eid (docs/signing.md): the portal makes the PDF, asks
//! eid for the logged-in citizen's signature with the access token of their login (its scope
//! includes `sign`), shows the verification code eid returns (the citizen picks it among three
//! on the phone), polls for the result, and keeps the signed PDF.
//!
//! The calls are eid's back-channel signing API: forms authenticated like the token endpoint
//! (here HTTP Basic with the client secret), answers in JSON, OAuth-style errors.

use anyhow::Context;
use serde::Deserialize;

/// Where a signature stands, as the portal remembers it for a session.
pub enum Signing {
    /// Asked; the citizen is to approve on the phone.
    Waiting {
        request_id: String,
        code: String,
        /// When to stop asking eid (its window, plus a little).
        until: std::time::Instant,
    },
    /// Signed: the PDF with the citizen's signature embedded.
    Signed {
        pdf: Vec<u8>,
        certificate_serial: String,
        time_stamped: bool,
    },
    /// Declined, expired, or refused: why, for the citizen.
    Ended(String),
}

#[derive(Deserialize)]
struct Created {
    request_id: String,
    verification_code: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct Result_ {
    signed_pdf: Option<String>,
    certificate_serial: String,
    time_stamped: bool,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// eid's signing API, for this client.
pub struct SigningApi {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub http: openidconnect::reqwest::Client,
}

/// The agreement, as a one-page PDF naming the tenant.
pub fn tenancy_agreement(tenant: &str) -> Vec<u8> {
    let text = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .flat_map(|c| match c {
                '(' | ')' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect()
    };
    let lines = [
        "Landlord: Example Properties Limited".to_owned(),
        format!("Tenant: {tenant}"),
        "Premises: Flat 1, 2 Garden Road, Central, Hong Kong".to_owned(),
        "Rent: HK$18,000 a month, payable in advance".to_owned(),
        "Term: two years".to_owned(),
    ];
    let mut content = String::from("BT /F1 18 Tf 72 760 Td (Tenancy Agreement) Tj /F1 11 Tf");
    for line in &lines {
        content.push_str(&format!(" 0 -24 Td ({}) Tj", text(line)));
    }
    content.push_str(" ET");
    let objects = [
        "<</Type /Catalog /Pages 2 0 R>>".to_owned(),
        "<</Type /Pages /Kids [3 0 R] /Count 1>>".to_owned(),
        "<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources <</Font <</F1 5 0 R>>>> /Contents 4 0 R>>".to_owned(),
        format!("<</Length {}>>\nstream\n{content}\nendstream", content.len()),
        "<</Type /Font /Subtype /Type1 /BaseFont /Helvetica>>".to_owned(),
    ];
    let mut pdf = String::from("%PDF-1.7\n");
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{body}\nendobj\n", i + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for offset in offsets {
        pdf.push_str(&format!("{offset:010} 00000 n \n"));
    }
    pdf.push_str(&format!(
        "trailer\n<</Size {} /Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.into_bytes()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unbase64(text: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}

impl SigningApi {
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<Result<serde_json::Value, OAuthError>> {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer.trim_end_matches('/')))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(form)
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let ok = response.status().is_success();
        let body: serde_json::Value = response.json().await.context("eid's answer is not JSON")?;
        Ok(if ok {
            Ok(body)
        } else {
            Err(serde_json::from_value(body).context("eid's error is not an OAuth error")?)
        })
    }

    /// Asks eid for the signature, on `pdf`, of the citizen whose login gave `access_token`.
    pub async fn ask(&self, access_token: &str, name: &str, pdf: &[u8]) -> anyhow::Result<Signing> {
        let pdf = base64(pdf);
        Ok(
            match self
                .post(
                    "/signing/requests",
                    &[
                        ("access_token", access_token),
                        ("document_name", name),
                        ("pdf", &pdf),
                    ],
                )
                .await?
            {
                Ok(body) => {
                    let created: Created = serde_json::from_value(body)?;
                    Signing::Waiting {
                        request_id: created.request_id,
                        code: created.verification_code,
                        until: std::time::Instant::now()
                            + std::time::Duration::from_secs(created.expires_in + 10),
                    }
                }
                Err(e) => Signing::Ended(match e.error.as_str() {
                    "access_denied" => "Your eid account cannot sign documents: signing needs an account proven in person (eid+).".into(),
                    // The login ended (signed out, consent withdrawn, the token expired), or
                    // the citizen did not allow the portal to ask: a new login asks them.
                    "invalid_token" | "insufficient_scope" => "Your eid login has ended, or you did not allow this portal to ask you to sign: log in again (/login) and allow it on your phone.".into(),
                    _ => format!("eid refused: {}", e.error_description.unwrap_or(e.error)),
                }),
            },
        )
    }

    /// Asks eid whether the citizen has signed.
    pub async fn poll(&self, request_id: &str) -> anyhow::Result<Option<Signing>> {
        Ok(
            match self
                .post("/signing/result", &[("request_id", request_id)])
                .await?
            {
                Ok(body) => {
                    let result: Result_ = serde_json::from_value(body)?;
                    let pdf = unbase64(result.signed_pdf.as_deref().context("no signed PDF")?)?;
                    Some(Signing::Signed {
                        pdf,
                        certificate_serial: result.certificate_serial,
                        time_stamped: result.time_stamped,
                    })
                }
                Err(e) if e.error == "authorization_pending" => None,
                Err(e) if e.error == "access_denied" => Some(Signing::Ended(
                    "You declined to sign the agreement (or picked another code than the one shown here).".into(),
                )),
                Err(e) if e.error == "expired_token" => Some(Signing::Ended(
                    "The request expired before you approved it. You can ask again.".into(),
                )),
                Err(e) => Some(Signing::Ended(format!(
                    "eid refused: {}",
                    e.error_description.unwrap_or(e.error)
                ))),
            },
        )
    }
}
