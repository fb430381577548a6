//! Login drivers: what the person does on the provider's pages.
//!
//! - **wallet** (eid): the login page shows an approval link (`id="approve-url"`, the QR
//!   code's payload) and a number (`id="number"`). The driver's phone (an eid wallet file)
//!   reads the request, answers with the number and shares what is asked (remembering the
//!   choice), and the browser reloads the page.
//! - **form** (any provider): a form with a password field gets the username and password; a
//!   form without one (consent, "continue") is submitted with its affirmative button.
//!
//! The wallet driver falls back to forms too: eid's page after the phone's approval shows
//! whose account approved, with "Continue" and "Not me".

use reqwest::RequestBuilder;
use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::config::DriverConfig;
use crate::context::{is_redirect_to, Ctx};
use crate::http::Response;
use crate::log::Stop;

/// Words on a button that decline rather than go on.
const NEGATIVE: &[&str] = &[
    "not me", "not_me", "cancel", "deny", "decline", "abort", "reject", "refuse", "back",
];

fn selector(s: &str) -> Selector {
    // The selectors are literals of this file, checked by the tests below.
    Selector::parse(s).unwrap_or_else(|_| Selector::parse("*").unwrap_or_else(|_| unreachable!()))
}

/// The fields of an auto-submitting form posted to the redirect URI (OAuth 2.0 Form Post
/// Response Mode §2), when the page is one.
pub fn form_post_to(page: &Response, redirect_uri: &str) -> Option<Vec<(String, String)>> {
    let html = Html::parse_document(&page.text());
    html.select(&selector("form")).find_map(|form| {
        let method = form.value().attr("method").unwrap_or("get");
        let action = page
            .url
            .join(form.value().attr("action").unwrap_or(""))
            .ok()?;
        (method.eq_ignore_ascii_case("post") && is_redirect_to(&action, redirect_uri)).then(|| {
            form.select(&selector("input[name]"))
                .filter(|i| !matches!(i.value().attr("type"), Some("submit" | "button")))
                .map(|i| {
                    (
                        i.value().attr("name").unwrap_or_default().to_owned(),
                        i.value().attr("value").unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
    })
}

/// What the person does on `page`: the next request, or `None` when nothing can be done.
pub async fn act(
    ctx: &mut Ctx<'_>,
    browser: &reqwest::Client,
    page: &Response,
) -> Result<Option<RequestBuilder>, Stop> {
    // The parsed page is not Send: read what is needed before anything is awaited.
    let (approval_link, form) = {
        let html = Html::parse_document(&page.text());
        match approval(&html, &page.url) {
            Some(found) if ctx.suite.wallet.is_some() => (Some(found), None),
            _ => (
                None,
                pick_form(&html)
                    .map(|(form, submit)| submit_form(ctx, browser, page, form, submit)),
            ),
        }
    };
    if let (Some((link, number)), Some(wallet)) = (approval_link, ctx.suite.wallet.as_ref()) {
        let mut wallet = wallet.lock().await;
        ctx.info(format!(
            "the phone reads the approval link and picks the number {number}"
        ));
        let result = async {
            let request = wallet.fetch_approval(&link).await?;
            let decision = if request.ask_consent {
                eid_wallet::approve_all(&request, number, true)
            } else {
                eid_wallet::approve_as_before(&request, number)
            };
            // The person is at the suite's browser and stays signed in to eid there, as a
            // citizen in their own browser would: the single sign-on modules need the session.
            let decision = if request.offers_sign_in {
                eid_wallet::staying_signed_in(decision)
            } else {
                decision
            };
            wallet.answer(&request, &link, &decision).await
        }
        .await;
        match result {
            Ok(r) => ctx.info(format!(
                "the phone approved: {}",
                serde_json::to_string(&r).unwrap_or_default()
            )),
            Err(e) => ctx.info(format!("the phone's approval was not taken: {e}")),
        }
        return Ok(Some(browser.get(page.url.clone())));
    }
    Ok(form)
}

/// eid's approval link (the QR code's payload) and number, when `page` is eid's login page.
pub fn approval_on(page: &Response) -> Option<(String, u8)> {
    approval(&Html::parse_document(&page.text()), &page.url)
}

/// Whether `page` asks the person to log in: eid's login page, or a form with a password field.
pub fn login_on(page: &Response) -> bool {
    let html = Html::parse_document(&page.text());
    approval(&html, &page.url).is_some()
        || html
            .select(&selector("form input[type=password]"))
            .next()
            .is_some()
}

/// eid's approval link and number, when the page is eid's login page.
fn approval(html: &Html, base: &Url) -> Option<(String, u8)> {
    let link = html
        .select(&selector("#approve-url"))
        .next()?
        .value()
        .attr("href")?;
    let link = base.join(link).ok()?.to_string();
    let number = html
        .select(&selector("#number"))
        .next()?
        .text()
        .collect::<String>()
        .trim()
        .parse()
        .ok()?;
    Some((link, number))
}

fn is_negative(button: &ElementRef<'_>) -> bool {
    let words = format!(
        "{} {} {}",
        button.value().attr("name").unwrap_or_default(),
        button.value().attr("value").unwrap_or_default(),
        button.text().collect::<String>()
    )
    .to_lowercase();
    NEGATIVE.iter().any(|n| words.contains(n))
}

/// The form to submit and its affirmative button (if it names one): a login form first,
/// otherwise the first form with a button that goes on.
fn buttons<'a>(form: &ElementRef<'a>) -> Vec<ElementRef<'a>> {
    form.select(&selector(
        "button:not([type]), button[type=submit], input[type=submit]",
    ))
    .collect()
}

fn affirmative<'a>(form: &ElementRef<'a>) -> Option<ElementRef<'a>> {
    buttons(form).into_iter().find(|b| !is_negative(b))
}

fn pick_form(html: &Html) -> Option<(ElementRef<'_>, Option<ElementRef<'_>>)> {
    let forms: Vec<ElementRef<'_>> = html.select(&selector("form")).collect();
    if let Some(login) = forms
        .iter()
        .find(|f| f.select(&selector("input[type=password]")).next().is_some())
    {
        return Some((*login, affirmative(login)));
    }
    forms.iter().find_map(|f| {
        let all = buttons(f);
        match affirmative(f) {
            Some(b) => Some((*f, Some(b))),
            // A form without buttons is submitted as a script would (an auto-submitting form).
            None if all.is_empty() => Some((*f, None)),
            None => None,
        }
    })
}

/// The request that submits `form` the way a browser would, with the username and password
/// filled in when it asks for them.
fn submit_form(
    ctx: &mut Ctx<'_>,
    browser: &reqwest::Client,
    page: &Response,
    form: ElementRef<'_>,
    submit: Option<ElementRef<'_>>,
) -> RequestBuilder {
    let (username, password) = match &ctx.suite.config.driver {
        DriverConfig::Form { username, password } => (username.clone(), password.clone()),
        DriverConfig::Wallet { .. } => (String::new(), String::new()),
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut filled = Vec::new();
    for input in form.select(&selector("input[name], select[name], textarea[name]")) {
        let el = input.value();
        let name = el.attr("name").unwrap_or_default().to_owned();
        let value = el.attr("value").unwrap_or_default().to_owned();
        match (
            el.name(),
            el.attr("type").map(str::to_ascii_lowercase).as_deref(),
        ) {
            ("input", Some("submit" | "button" | "image" | "reset" | "file")) => {}
            ("input", Some("checkbox" | "radio")) => {
                if el.attr("checked").is_some() {
                    fields.push((name, if value.is_empty() { "on".into() } else { value }));
                }
            }
            ("input", Some("password")) => {
                filled.push(format!("{name} (password)"));
                fields.push((name, password.clone()));
            }
            ("input", Some("hidden")) => fields.push((name, value)),
            ("input", _) if value.is_empty() => {
                filled.push(format!("{name} (username)"));
                fields.push((name, username.clone()));
            }
            ("select", _) => {
                let chosen = input
                    .select(&selector("option[selected]"))
                    .next()
                    .or_else(|| input.select(&selector("option")).next())
                    .map(|o| {
                        o.value()
                            .attr("value")
                            .map(str::to_owned)
                            .unwrap_or_else(|| o.text().collect())
                    })
                    .unwrap_or_default();
                fields.push((name, chosen));
            }
            ("textarea", _) => fields.push((name, input.text().collect())),
            _ => fields.push((name, value)),
        }
    }
    if let Some(button) = submit {
        if let Some(name) = button.value().attr("name") {
            fields.push((
                name.to_owned(),
                button.value().attr("value").unwrap_or_default().to_owned(),
            ));
        }
    }
    let action = page
        .url
        .join(form.value().attr("action").unwrap_or(""))
        .unwrap_or_else(|_| page.url.clone());
    let method = form
        .value()
        .attr("method")
        .unwrap_or("get")
        .to_ascii_lowercase();
    ctx.info(format!(
        "the person submits the form to {action}{}",
        if filled.is_empty() {
            String::new()
        } else {
            format!(", filling in {}", filled.join(", "))
        }
    ));
    if method == "post" {
        browser.post(action).form(&fields)
    } else {
        let mut url = action;
        url.query_pairs_mut().extend_pairs(&fields);
        browser.get(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Response {
        Response {
            status: 200,
            url: Url::parse("https://op.example/login/1").unwrap_or_else(|e| unreachable!("{e}")),
            headers: reqwest::header::HeaderMap::new(),
            body: html.as_bytes().to_vec(),
        }
    }

    #[test]
    fn selectors_parse() {
        for s in [
            "form",
            "input[name]",
            "#approve-url",
            "#number",
            "input[type=password]",
            "button:not([type]), button[type=submit], input[type=submit]",
            "input[name], select[name], textarea[name]",
            "option[selected]",
            "option",
        ] {
            assert!(Selector::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn a_form_post_response_is_read_without_posting() {
        let p = page(
            r#"<form method="post" action="https://rp.example/cb"><input type="hidden" name="code" value="c1">
               <input type="hidden" name="state" value="s1"><noscript><button>Go</button></noscript></form>"#,
        );
        let fields = form_post_to(&p, "https://rp.example/cb");
        assert_eq!(
            fields,
            Some(vec![
                ("code".into(), "c1".into()),
                ("state".into(), "s1".into())
            ])
        );
        assert_eq!(form_post_to(&p, "https://rp.example/other"), None);
    }

    #[test]
    fn the_login_form_comes_first_and_declining_buttons_are_never_pressed() {
        let html = Html::parse_document(
            r#"<form action="/search"><button>Search</button></form>
               <form method="post" action="/login"><input name="login"><input type="password" name="password">
               <button type="submit">Sign in</button></form>"#,
        );
        let (form, _) = pick_form(&html).unwrap_or_else(|| unreachable!());
        assert_eq!(form.value().attr("action"), Some("/login"));
        let html = Html::parse_document(
            r#"<form method="post"><button name="action" value="not_me">Not me</button>
               <button name="action" value="continue">Continue</button></form>"#,
        );
        let (_, button) = pick_form(&html).unwrap_or_else(|| unreachable!());
        assert_eq!(
            button.and_then(|b| b.value().attr("value")),
            Some("continue")
        );
        let html = Html::parse_document(r#"<form><button>Cancel</button></form>"#);
        assert!(pick_form(&html).is_none());
    }

    #[test]
    fn eid_login_pages_give_the_link_and_the_number() {
        let html = Html::parse_document(
            r#"<a id="approve-url" href="/api/v1/approvals/abc?t=1&amp;x=2">Open</a><strong id="number">42</strong>"#,
        );
        let base =
            Url::parse("https://op.example/login/abc").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            approval(&html, &base),
            Some(("https://op.example/api/v1/approvals/abc?t=1&x=2".into(), 42))
        );
    }
}
