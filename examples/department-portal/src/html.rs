//! The portal's pages. Deliberately plain: format strings, with every dynamic value escaped.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use openidconnect::core::{CoreIdTokenClaims, CoreUserInfoClaims};
use openidconnect::LanguageTag;

/// The verified claims we show, already turned into display strings.
pub struct Profile {
    /// `(label, value)` rows in display order; absent claims are left out.
    rows: Vec<(&'static str, String)>,
}

impl Profile {
    /// Combines the verified ID token claims with the userinfo response. Profile claims come from
    /// userinfo, falling back to the ID token; `sub`, `auth_time` and `amr` come from the ID token.
    pub fn from_claims(id: &CoreIdTokenClaims, info: &CoreUserInfoClaims) -> Self {
        let zh_hant = LanguageTag::new("zh-Hant".to_owned());
        let name = info.name().or(id.name());
        let mut rows: Vec<(&'static str, Option<String>)> = vec![
            // Pairwise: a different, stable identifier for every department.
            ("Subject (pairwise)", Some(id.subject().to_string())),
            (
                "Name",
                name.and_then(|n| n.get(None)).map(|n| n.to_string()),
            ),
            // The localized variant is sent as the claim `name#zh-Hant`.
            (
                "Chinese name",
                name.and_then(|n| n.get(Some(&zh_hant)))
                    .map(|n| n.to_string()),
            ),
            (
                "Gender",
                info.gender().or(id.gender()).map(|g| g.to_string()),
            ),
            (
                "Date of birth",
                info.birthdate().or(id.birthdate()).map(|d| d.to_string()),
            ),
            ("Email", info.email().or(id.email()).map(|e| e.to_string())),
            (
                "Phone number",
                info.phone_number()
                    .or(id.phone_number())
                    .map(|p| p.to_string()),
            ),
            (
                "Address",
                info.address()
                    .or(id.address())
                    .and_then(|a| a.formatted.as_ref())
                    .map(|f| f.to_string()),
            ),
            ("Authenticated at", id.auth_time().map(|t| t.to_rfc3339())),
        ];
        // amr: how the citizen authenticated, e.g. ["swk"] for a key on the phone whose
        // hardware nothing attested.
        rows.push((
            "Authentication methods (amr)",
            id.auth_method_refs().map(|amr| {
                amr.iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ));
        // acr: how the citizen was proven: urn:eid:loa:basic (remotely, face matched against
        // the population registry) or urn:eid:loa:plus (in person, at a counter).
        rows.push((
            "Assurance (acr)",
            id.auth_context_ref().map(|acr| acr.to_string()),
        ));
        Self {
            rows: rows
                .into_iter()
                .filter_map(|(label, value)| Some((label, value?)))
                .collect(),
        }
    }
}

/// Escapes text for use in HTML element content and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Wraps a body (already HTML) in the site's layout. `title` is plain text.
fn layout(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let title = escape(title);
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – Department of Example Services</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }}
 th {{ text-align: left; padding-right: 1rem; vertical-align: top; }}
 td {{ white-space: pre-line; }}
 .button {{ display: inline-block; padding: .6rem 1.2rem; background: #00594f; color: #fff;
           border-radius: .3rem; text-decoration: none; }}
 label {{ display: block; margin-top: 1rem; font-weight: 600; }}
 input, select {{ font: inherit; padding: .3rem; min-width: 16rem; }}
 input[readonly] {{ background: #eee; border: 1px solid #767676; }}
 form button {{ margin-top: 1rem; }}
</style>
</head>
<body>
<header><strong>Department of Example Services</strong></header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>"#
        ))
}

/// `GET /` when not logged in.
pub fn home_page() -> HttpResponse {
    layout(
        StatusCode::OK,
        "Online services",
        r#"<p>Apply for services online. Log in with your eid to continue.</p>
<p><a class="button" href="/login">Log in with eid / 以智方便登入</a></p>
<h2>Services / 服務</h2>
<ul><li><a href="/services/driving-licence/renew">Renew a driving licence / <span lang="zh-HK">續領駕駛執照</span></a></li></ul>"#,
    )
}

/// `GET /` when logged in: the verified claims.
pub fn profile_page(profile: &Profile) -> HttpResponse {
    let rows: String = profile
        .rows
        .iter()
        .map(|(label, value)| {
            format!(
                "<tr><th>{}</th><td>{}</td></tr>\n",
                escape(label),
                escape(value)
            )
        })
        .collect();
    layout(
        StatusCode::OK,
        "Welcome",
        &format!(
            r#"<p>You are logged in through eid. These are the claims eid verified for us:</p>
<table>
{rows}</table>
<h2>Tenancy agreement / 租約</h2>
<p>Sign your tenancy agreement with eid+: you approve on your phone, and we keep the signed PDF.</p>
<p lang="zh-HK">以智方便+簽署租約：在手機上確認，我們會保存已簽署的 PDF。</p>
<form method="post" action="/agreement"><button type="submit">Sign the tenancy agreement / 簽署租約</button></form>
<h2>Services / 服務</h2>
<ul><li><a href="/services/driving-licence/renew">Renew a driving licence / <span lang="zh-HK">續領駕駛執照</span></a></li></ul>
<p><a href="/logout">Log out</a></p>"#
        ),
    )
}

/// The tenancy agreement's signing: the code while waiting, then the signed PDF.
pub fn agreement_page(signing: Option<&crate::signing::Signing>) -> HttpResponse {
    use crate::signing::Signing;
    let body = match signing {
        None => r#"<p>No agreement is being signed.</p>"#.to_owned(),
        Some(Signing::Waiting { code, .. }) => format!(
            r#"<meta http-equiv="refresh" content="2">
<p>Open eid on your phone: it asks you to sign the tenancy agreement.</p>
<p lang="zh-HK">請打開手機上的 eid，確認簽署租約。</p>
<p>Your phone shows three codes: pick this one to approve. <span lang="zh-HK">手機會顯示三個驗證碼：請選擇以下這個以確認。</span></p>
<p class="code" style="font-size:2em;letter-spacing:.2em"><strong>{}</strong></p>
<p>This page updates by itself.</p>"#,
            escape(code)
        ),
        Some(Signing::Signed {
            certificate_serial,
            time_stamped,
            ..
        }) => format!(
            r#"<p>Signed. Your tenancy agreement carries your digital signature (certificate {}{}).</p>
<p><a class="button" href="/agreement.pdf">Download the signed agreement (PDF) / 下載已簽署的租約</a></p>"#,
            escape(certificate_serial),
            if *time_stamped { ", time-stamped" } else { "" }
        ),
        Some(Signing::Ended(why)) => format!(
            r#"<p>{}</p>
<form method="post" action="/agreement"><button type="submit">Ask again</button></form>"#,
            escape(why)
        ),
    };
    layout(
        StatusCode::OK,
        "Tenancy agreement",
        &format!("{body}\n<p><a href=\"/\">Back</a></p>"),
    )
}

/// `GET /services/driving-licence/renew` when logged in: the application form, the citizen's
/// name filled in from eid (verified, so not editable here).
pub fn renew_page(name: &str, chinese_name: Option<&str>) -> HttpResponse {
    let chinese = chinese_name
        .map(|c| {
            format!(
                r#"<label for="chinese-name">Chinese name / <span lang="zh-HK">中文姓名</span></label>
<input id="chinese-name" name="chinese_name" value="{}" readonly lang="zh-HK">"#,
                escape(c)
            )
        })
        .unwrap_or_default();
    layout(
        StatusCode::OK,
        "Renew a driving licence / 續領駕駛執照",
        &format!(
            r#"<p>You are applying as the person eid verified. <span lang="zh-HK">您以 eid 核實的身份申請。</span></p>
<form method="post" action="/services/driving-licence/renew">
<label for="name">Name / <span lang="zh-HK">姓名</span></label>
<input id="name" name="name" value="{name}" readonly autocomplete="name">
{chinese}
<label for="licence">Driving licence number / <span lang="zh-HK">駕駛執照號碼</span></label>
<input id="licence" name="licence" required inputmode="numeric" autocomplete="off">
<label for="period">Renew for / <span lang="zh-HK">續期年期</span></label>
<select id="period" name="period"><option value="10">10 years / 十年</option><option value="1">1 year / 一年</option></select>
<br><button type="submit">Submit the application / 遞交申請</button>
</form>
<p><a href="/">Back to your details / <span lang="zh-HK">返回個人資料</span></a></p>"#,
            name = escape(name),
        ),
    )
}

/// `POST /services/driving-licence/renew`: the example stops here.
pub fn renewal_received_page() -> HttpResponse {
    layout(
        StatusCode::OK,
        "Application received / 已收到申請",
        r#"<p>This is an example site: nothing was sent. <span lang="zh-HK">這是示範網站：並無遞交任何資料。</span></p>
<p><a href="/">Back to your details</a></p>"#,
    )
}

/// `GET /frontchannel-logout`: loaded in eid's hidden frame; nobody reads it.
pub fn frontchannel_page(status: StatusCode) -> HttpResponse {
    let text = if status.is_success() {
        "Signed out of the Department of Example Services."
    } else {
        "This sign-out request is not from this site's identity provider."
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Signed out</title><p>{text}</p></html>"
        ))
}

/// An error page; `message` is plain text.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    layout(
        status,
        title,
        &format!(
            r#"<p>{}</p>
<p><a href="/">Back to the home page</a></p>"#,
            escape(message)
        ),
    )
}
