//! HTML pages for people: the login (QR) page, the consent page and error pages, in English
//! and Traditional Chinese. Everything interpolated is escaped.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use eid_core::claims::ClaimItem;
use eid_core::locale::Locale;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A page response with strict headers: no caching, no framing, no referrer, and a CSP that
/// allows only the page's own inline script (by nonce) and same-origin fetches.
pub fn html_with_script(
    status: StatusCode,
    body: &str,
    script_nonce: Option<&str>,
) -> HttpResponse {
    html_page(status, body, script_nonce, &[])
}

/// A page whose forms may also lead to `form_origins` (a form answered by a redirect there,
/// such as the consent form's to the service): CSP `form-action` covers redirects too.
pub fn html_page(
    status: StatusCode,
    body: &str,
    script_nonce: Option<&str>,
    form_origins: &[String],
) -> HttpResponse {
    html_page_with_frames(status, body, script_nonce, form_origins, &[])
}

/// A page that also frames pages of `frame_origins` (front-channel logout).
pub fn html_page_with_frames(
    status: StatusCode,
    body: &str,
    script_nonce: Option<&str>,
    form_origins: &[String],
    frame_origins: &[String],
) -> HttpResponse {
    let script = script_nonce
        .map(|n| format!("'nonce-{n}'"))
        .unwrap_or_else(|| "'none'".into());
    // Origins come from registered redirect URIs; anything that could break out of the header
    // (a space is a separator, a semicolon ends the directive) is left out.
    let sources = |origins: &[String]| -> String {
        origins
            .iter()
            .filter(|o| {
                o.chars()
                    .all(|c| c.is_ascii_graphic() && c != ';' && c != ',')
            })
            .map(|o| format!(" {o}"))
            .collect()
    };
    let forms = sources(form_origins);
    let frames = match frame_origins.is_empty() {
        true => String::new(),
        false => format!(" frame-src{};", sources(frame_origins)),
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none';{frames} style-src 'unsafe-inline'; img-src data:; script-src {script}; \
                 connect-src 'self'; form-action 'self'{forms}; base-uri 'none'; frame-ancestors 'none'"
            ),
        ))
        .body(body.to_owned())
}

/// A page without script.
pub fn html(status: StatusCode, body: &str) -> HttpResponse {
    html_with_script(status, body, None)
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans HK',sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}\
h1{font-size:1.5rem}.zh,.alt{color:#444}.qr svg{width:16rem;height:16rem}ul{padding-left:1.2rem}\
button{font-size:1rem;padding:.6rem 1.2rem;margin-right:.6rem}.muted{color:#666;font-size:.9rem}\
a{overflow-wrap:anywhere}h1 .zh,h1 .alt{display:block;font-size:1.2rem;margin-top:.3rem}\
th{text-align:left;padding:.2rem 1rem .2rem 0;vertical-align:top}.warn{border-left:4px solid #b45309;padding-left:.6rem}\
fieldset{margin:1rem 0}form{margin:.6rem 0}.number strong{font-size:2rem;letter-spacing:.1em}\
header nav{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;margin-bottom:1rem}form.inline{display:inline;margin:0}\
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}\
ul.cards{list-style:none;padding:0}ul.cards>li{border:1px solid #767676;border-radius:.4rem;padding:.6rem .9rem;margin:.8rem 0}\
ul.tags,ul.chips{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3rem .8rem}ul.tags li{font-size:.9rem;color:#444}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem 1rem}dd{margin:0}table{border-collapse:collapse;width:100%}\
td{padding:.2rem 1rem .2rem 0;vertical-align:top}input,select{font-size:1rem;padding:.3rem}a.button{display:inline-block;padding:.6rem 1.2rem;border:1px solid #1d4ed8}\
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}.notice{border-left:4px solid #1d4ed8;padding-left:.6rem}";

pub(crate) fn layout(title: &str, content: &str) -> String {
    layout_in(Locale::En, title, content)
}

/// A page whose first language is `locale`.
pub(crate) fn layout_in(locale: Locale, title: &str, content: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{} · eid</title><style>{STYLE}</style></head><body>{content}</body></html>",
        escape(title),
        lang = locale.tag(),
    )
}

/// Text in both languages, the citizen's first: the second is marked with its own `lang`.
/// The arguments are HTML, already escaped.
#[derive(Clone, Copy)]
pub(crate) struct Two(pub(crate) Locale);

impl Two {
    fn order<'a>(self, en: &'a str, zh: &'a str) -> (&'a str, &'a str) {
        match self.0 {
            Locale::En => (en, zh),
            Locale::ZhHantHk => (zh, en),
        }
    }

    /// The citizen's language alone (titles, labels).
    pub(crate) fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        self.order(en, zh).0
    }

    /// Both in one line: the second in a muted span.
    pub(crate) fn inline(self, en: &str, zh: &str) -> String {
        let (first, second) = self.order(en, zh);
        format!(
            "{first} <span class=\"alt\" lang=\"{}\">{second}</span>",
            self.0.other().tag()
        )
    }

    /// Both in one line without markup (buttons).
    pub(crate) fn plain(self, en: &str, zh: &str) -> String {
        let (first, second) = self.order(en, zh);
        format!("{first} · {second}")
    }

    pub(crate) fn h1(self, en: &str, zh: &str) -> String {
        format!("<h1>{}</h1>", self.inline(en, zh))
    }

    /// A paragraph each.
    pub(crate) fn paragraphs(self, en: &str, zh: &str) -> String {
        let (first, second) = self.order(en, zh);
        format!(
            "<p>{first}</p><p class=\"alt\" lang=\"{}\">{second}</p>",
            self.0.other().tag()
        )
    }
}

/// A person-facing error during a login: what happened and what to do.
pub fn error_page(title: &str, detail: &str) -> String {
    error_page_with(title, detail, "未能完成登入。請返回有關服務，再試一次。")
}

/// A person-facing error with its Traditional Chinese line.
pub fn error_page_with(title: &str, detail: &str, zh: &str) -> String {
    layout(
        title,
        &format!(
            "<main><h1>{}</h1><p>{}</p><p class=\"zh\" lang=\"zh-Hant-HK\">{}</p></main>",
            escape(title),
            escape(detail),
            escape(zh)
        ),
    )
}

/// The issuer's own address: what eid is, for a person who comes here directly.
pub fn home_page(issuer: &str) -> String {
    layout(
        "eid",
        &format!(
            "<main><h1>eid <span class=\"zh\" lang=\"zh-Hant-HK\">數碼身份</span></h1>\
             <p>eid is the digital identity that government and commercial services log you in with. \
             There is nothing to do here: start from the service you want to use, and choose \"Log in with eid\".</p>\
             <p class=\"zh\" lang=\"zh-Hant-HK\">eid 是政府及商業服務用以登入的數碼身份。此頁無需操作：請從您要使用的服務開始，並選擇「以 eid 登入」。</p>\
             <p class=\"muted\">For developers: <a href=\"{issuer}/.well-known/openid-configuration\">OpenID Connect discovery</a>.</p></main>",
            issuer = escape(issuer),
        ),
    )
}

/// Claims, as list items in both languages.
fn claim_list(t: Two, items: &[ClaimItem]) -> String {
    items
        .iter()
        .map(|c| format!("<li>{}</li>", t.inline(&escape(c.en), &escape(c.zh_hant))))
        .collect()
}

/// Beside a self-registered service's name (dynamic registration): eid has not checked who
/// runs it, nor that the name is its own (review 2026-12-07, L5). `name` is escaped.
fn unverified_notice(t: Two, verified: bool, name: &str) -> String {
    if verified {
        return String::new();
    }
    format!(
        "<div id=\"unverified\" role=\"note\">{}</div>",
        t.paragraphs(
            &format!("<strong>Unverified service.</strong> {name} registered itself with eid: eid has not checked who runs it, nor that the name is its own. Go on only if you know this service."),
            &format!("<strong>未經核實的服務。</strong>{name} 自行在 eid 登記：eid 未有核實其營運者，亦未有核實其名稱屬實。只在您認識此服務時才繼續。"),
        )
    )
}

/// A service's name in a heading: with "(unverified)" when it registered itself.
fn heading_names(verified: bool, name: &str) -> (String, String) {
    match verified {
        true => (name.to_owned(), name.to_owned()),
        false => (
            format!("{name} (unverified)"),
            format!("{name}（未經核實）"),
        ),
    }
}

/// What the waiting page shows.
pub struct Waiting<'a> {
    pub client_name: &'a str,
    /// Registered by the operator; `false`: the service registered itself, and is shown as
    /// unverified.
    pub client_verified: bool,
    /// What the service registered about itself: (what, URL).
    pub client_links: &'a [(&'static str, String)],
    pub items: &'a [ClaimItem],
    /// The current approval link (the QR code's payload).
    pub approval_link: &'a str,
    pub qr_svg: &'a str,
    /// The number the phone will ask for.
    pub number: u8,
    /// Seconds until the QR code changes.
    pub link_changes_in: i64,
    pub status_url: &'a str,
    pub qr_url: &'a str,
    pub script_nonce: &'a str,
    /// The citizen's language, shown first.
    pub locale: Locale,
    /// The page's own address (its forms post there) and their anti-CSRF token.
    pub action: &'a str,
    pub csrf_token: &'a str,
    /// The phone approves an action on the account (adding a passkey), not a login.
    pub for_action: bool,
}

/// The browser-side WebAuthn helpers: base64url to and from buffers, and the JSON forms of a
/// credential's assertion and attestation as eid's endpoints read them.
pub(crate) const WEBAUTHN_JS: &str = "function b64u(b){var s='';new Uint8Array(b).forEach(function(x){s+=String.fromCharCode(x);});\
return btoa(s).replace(/\\+/g,'-').replace(/\\//g,'_').replace(/=+$/,'');}\
function unb64u(s){s=s.replace(/-/g,'+').replace(/_/g,'/');while(s.length%4){s+='=';}var b=atob(s),a=new Uint8Array(b.length);\
for(var i=0;i<b.length;i++){a[i]=b.charCodeAt(i);}return a.buffer;}\
function exts(c){return c.getClientExtensionResults?c.getClientExtensionResults():{};}\
function assertionJson(c){var r=c.response;return {id:c.id,rawId:b64u(c.rawId),type:c.type,extensions:exts(c),\
response:{authenticatorData:b64u(r.authenticatorData),clientDataJSON:b64u(r.clientDataJSON),signature:b64u(r.signature),\
userHandle:r.userHandle?b64u(r.userHandle):null}};}\
function attestationJson(c){var r=c.response;return {id:c.id,rawId:b64u(c.rawId),type:c.type,extensions:exts(c),\
response:{attestationObject:b64u(r.attestationObject),clientDataJSON:b64u(r.clientDataJSON)}};}\
function requestOptions(o){var p=o.publicKey;p.challenge=unb64u(p.challenge);(p.allowCredentials||[]).forEach(function(c){c.id=unb64u(c.id);});return p;}\
function creationOptions(o){var p=o.publicKey;p.challenge=unb64u(p.challenge);p.user.id=unb64u(p.user.id);\
(p.excludeCredentials||[]).forEach(function(c){c.id=unb64u(c.id);});return p;}";

/// The login page's passkey section: a field whose autofill offers the device's passkeys
/// (conditional UI) and a button, both answering the login with a passkey, then continuing.
fn passkey_section(t: Two, w: &Waiting<'_>) -> String {
    format!(
        "<section id=\"passkey\" aria-labelledby=\"passkey-h\" hidden><h2 id=\"passkey-h\">{h}</h2>\
         <form id=\"passkey-form\" method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\"><input type=\"hidden\" name=\"action\" value=\"continue\">\
         <p><label for=\"passkey-user\">{label}</label> <input id=\"passkey-user\" name=\"username\" autocomplete=\"username webauthn\" aria-describedby=\"passkey-note\"></p>\
         <p id=\"passkey-note\" class=\"muted\">{note}</p>\
         <button type=\"button\" id=\"passkey-button\">{button}</button></form>\
         <p id=\"passkey-status\" role=\"status\" aria-live=\"polite\"></p></section>",
        h = t.inline("Or use a passkey on this device", "或使用此裝置上的密碼匙"),
        action = escape(w.action),
        csrf = escape(w.csrf_token),
        label = t.plain("Your eid passkey", "您的 eid 密碼匙"),
        note = t.inline(
            "Choose it from the suggestions, or press the button. It shares what you agreed to share with this service on your phone.",
            "請從建議中選擇，或按下按鈕。它只會提供您先前在手機上同意與此服務分享的資料。"
        ),
        button = t.plain("Use a passkey", "使用密碼匙"),
    )
}

/// The passkey section's script: conditional mediation when the browser has it, the button
/// otherwise (or too); the assertion goes to `{action}/passkey`, then the page loads again and
/// shows whose account answered, to continue as after the phone. (Submitting the continue
/// form from this page would be refused: its answer redirects to the service, which this
/// page's CSP `form-action` does not allow; the approved page's does.)
fn passkey_script(w: &Waiting<'_>, t: Two) -> String {
    let action = serde_json::to_string(w.action).unwrap_or_default();
    let csrf = serde_json::to_string(w.csrf_token).unwrap_or_default();
    let refused = serde_json::to_string(&t.plain(
        "That passkey could not log you in here. Use your phone instead.",
        "此密碼匙未能在此登入。請改用手機。",
    ))
    .unwrap_or_default();
    format!(
        "{WEBAUTHN_JS}(function(){{if(!window.PublicKeyCredential||!navigator.credentials){{return;}}\
         var section=document.getElementById('passkey'),\
         status=document.getElementById('passkey-status'),url={action}+'/passkey',pending=null;\
         section.hidden=false;\
         function answer(c){{return fetch(url,{{method:'POST',credentials:'same-origin',headers:{{'Content-Type':'application/json'}},\
         body:JSON.stringify({{csrf_token:{csrf},credential:assertionJson(c)}})}}).then(function(r){{\
         if(r.ok){{location.replace({action});}}else{{status.textContent={refused};}}}});}}\
         function ask(mediation){{if(pending){{pending.abort();}}pending=new AbortController();var signal=pending.signal;\
         return fetch(url,{{credentials:'same-origin',cache:'no-store'}}).then(function(r){{if(!r.ok){{throw new Error('options');}}return r.json();}})\
         .then(function(o){{var req={{publicKey:requestOptions(o),signal:signal}};if(mediation){{req.mediation=mediation;}}\
         return navigator.credentials.get(req);}}).then(function(c){{if(c){{return answer(c);}}}})\
         .catch(function(e){{if(e&&e.name!=='AbortError'){{status.textContent={refused};}}}});}}\
         document.getElementById('passkey-button').addEventListener('click',function(){{ask(null);}});\
         if(PublicKeyCredential.isConditionalMediationAvailable){{PublicKeyCredential.isConditionalMediationAvailable()\
         .then(function(ok){{if(ok){{ask('conditional');}}}});}}}})();"
    )
}

/// The links a service registered about itself (RFC 7591 §2), labelled in both languages; the
/// URLs are the service's, https and escaped.
fn client_links(t: Two, links: &[(&'static str, String)]) -> String {
    if links.is_empty() {
        return String::new();
    }
    let items: String = links
        .iter()
        .map(|(what, url)| {
            let (en, zh) = match *what {
                "logo" => ("Logo", "標誌"),
                "policy" => ("Privacy policy", "私隱政策"),
                "terms" => ("Terms of service", "服務條款"),
                _ => ("Home page", "主頁"),
            };
            format!(
                "<li><a href=\"{url}\" rel=\"noopener noreferrer\">{}</a></li>",
                t.inline(en, zh),
                url = escape(url)
            )
        })
        .collect();
    format!(
        "<p class=\"muted\">{}</p><ul class=\"muted\">{items}</ul>",
        t.inline("About this service:", "關於此服務：")
    )
}

/// The cross-device login page: a QR code of the current approval link (replaced every 30
/// seconds by the script; without script, reloading shows the current one), a link to it for
/// the eid app on the same phone, and the number to pick on the phone. The script reloads the
/// page when the phone has answered.
pub fn waiting_page(w: &Waiting<'_>) -> String {
    let t = Two(w.locale);
    let name = escape(w.client_name);
    let (name_en, name_zh) = heading_names(w.client_verified, &name);
    let number = w.number;
    let (pick_en, pick_zh) = (
        format!("When the app asks, pick <strong{{id}}>{number}</strong>."),
        format!("應用程式要求時，請選 <strong{{id}}>{number}</strong>。"),
    );
    let with_id = |text: &str, primary: bool| {
        text.replace("{id}", if primary { " id=\"number\"" } else { "" })
    };
    let (pick_en, pick_zh) = match w.locale {
        Locale::En => (with_id(&pick_en, true), with_id(&pick_zh, false)),
        Locale::ZhHantHk => (with_id(&pick_en, false), with_id(&pick_zh, true)),
    };
    layout_in(
        w.locale,
        t.pick("Log in with eid", "以 eid 登入"),
        &format!(
            "<main>{h1}{unverified}{intro}\
             <div class=\"qr\" id=\"qr\" role=\"img\" aria-label=\"{qr_label}\">{qr_svg}</div>\
             <p class=\"number\">{pick}</p>\
             <p class=\"muted\"><a id=\"approve-url\" href=\"{link}\">{open_app}</a></p>\
             <p>{asks}</p><ul>{claims}</ul>{links}\
             <p class=\"muted\">{choose}</p>\
             <p class=\"muted\" id=\"status\" aria-live=\"polite\">{waiting}</p>\
             <noscript>{noscript}</noscript>{passkey}\
             </main>\
             <script nonce=\"{script_nonce}\">{passkey_script}\
             (function(){{var box=document.getElementById('qr'),link=document.getElementById('approve-url');\
             function refresh(){{fetch({qr_json},{{credentials:'same-origin',cache:'no-store'}})\
             .then(function(r){{return r.ok?r.json():null;}}).then(function(q){{if(!q){{return;}}\
             box.innerHTML=q.svg;link.href=q.link;setTimeout(refresh,q.changes_in*1000+250);}})\
             .catch(function(){{setTimeout(refresh,3000);}});}}\
             setTimeout(refresh,{changes_ms});\
             (function poll(){{fetch({status_json},{{credentials:'same-origin',cache:'no-store'}})\
             .then(function(r){{return r.json();}}).then(function(s){{\
             if(s.status!=='pending'){{location.reload();}}else{{setTimeout(poll,1500);}}}})\
             .catch(function(){{setTimeout(poll,3000);}});}})();}})();\
             </script>",
            h1 = if w.for_action {
                t.h1(
                    "Approve on your phone: add a passkey",
                    "在手機上批准：加入密碼匙",
                )
            } else {
                t.h1(
                    &format!("Log in to {name_en} with eid"),
                    &format!("以 eid 登入{name_zh}"),
                )
            },
            unverified = unverified_notice(t, w.client_verified, &name),
            intro = if w.for_action {
                t.paragraphs(
                    "Scan this code with the eid app on your phone. The app names what you approve (a passkey on this browser) and where it was started: approve only if you are doing this yourself, here, now.",
                    "請用手機上的 eid 應用程式掃描此二維碼。應用程式會列明您所批准的事項（在此瀏覽器加入密碼匙）及其來源：只在確認是您本人此刻於此操作時才批准。",
                )
            } else {
                t.paragraphs(
                    "Scan this code with the eid app on your phone. The app shows where this login comes from: approve only if it is you, here, now.",
                    "請用手機上的 eid 應用程式掃描此二維碼。應用程式會顯示此登入的來源：只在確認是您本人此刻於此登入時才批准。",
                )
            },
            qr_label = t.pick("QR code for the eid app", "eid 應用程式的二維碼"),
            pick = t.inline(&pick_en, &pick_zh),
            open_app = t.inline("On this phone? Open the eid app", "在此手機上？開啟 eid 應用程式"),
            asks = t.inline(&format!("{name} asks for:"), &format!("{name} 要求取得：")),
            choose = t.inline(
                "You choose on your phone what to share.",
                "您會在手機上選擇提供哪些資料。"
            ),
            waiting = t.inline("Waiting for your phone…", "正在等候手機確認…"),
            noscript = t.paragraphs(
                "The code changes every 30 seconds: reload this page for a fresh one, and again when you have answered on your phone.",
                "二維碼每 30 秒更新：請重新載入此頁以取得新的二維碼，並在手機上回覆後再次重新載入。",
            ),
            links = client_links(t, w.client_links),
            // An action on the account is approved on the phone, never with a passkey.
            passkey = if w.for_action {
                String::new()
            } else {
                passkey_section(t, w)
            },
            passkey_script = if w.for_action {
                String::new()
            } else {
                passkey_script(w, t)
            },
            link = escape(w.approval_link),
            qr_svg = w.qr_svg,
            claims = claim_list(t, w.items),
            script_nonce = escape(w.script_nonce),
            status_json = json_string_for_script(w.status_url),
            qr_json = json_string_for_script(w.qr_url),
            changes_ms = w.link_changes_in.max(1) * 1000 + 250,
        ),
    )
}

/// A JSON string literal safe inside a `<script>` element.
fn json_string_for_script(s: &str) -> String {
    serde_json::Value::String(s.to_owned())
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
}

/// The login page once the phone approved: whose account it was (masked), what the service
/// will receive, and the way out if it is not the person at this browser.
pub fn approved_page(
    locale: Locale,
    client_name: &str,
    client_verified: bool,
    account: &str,
    shared: &[ClaimItem],
    form_action: &str,
    csrf_token: &str,
) -> String {
    let t = Two(locale);
    let name = escape(client_name);
    let account = escape(account);
    let (en_account, zh_account) = match locale {
        Locale::En => (
            format!("<span id=\"account\">{account}</span>"),
            account.clone(),
        ),
        Locale::ZhHantHk => (
            account.clone(),
            format!("<span id=\"account\">{account}</span>"),
        ),
    };
    layout_in(
        locale,
        t.pick("Continue?", "繼續？"),
        &format!(
            "<main>{h1}{explain}{unverified}<p>{receives}</p><ul>{claims}</ul>\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
             <button type=\"submit\" name=\"action\" value=\"continue\">{continue_to}</button>\
             <button type=\"submit\" name=\"action\" value=\"not_me\">{not_me}</button>\
             </form></main>",
            h1 = t.h1(
                &format!("Approved by {en_account}"),
                &format!("已由 {zh_account} 批准")
            ),
            explain = t.paragraphs(
                &format!("The eid account of <strong>{account}</strong> approved this login, on its phone or with a passkey on this device. \
                          If that is not you, choose <em>Not me</em>: {name} receives nothing."),
                &format!("{account} 的 eid 帳戶已批准此登入（在其手機上，或以此裝置上的密碼匙）。如非本人，請選「並非本人」：{name} 將不會取得任何資料。"),
            ),
            unverified = unverified_notice(t, client_verified, &name),
            receives = t.inline(
                &format!("{name} will receive:"),
                &format!("{name} 將會取得：")
            ),
            claims = claim_list(t, shared),
            continue_to = t.plain(&format!("Continue to {name}"), &format!("繼續前往{name}")),
            not_me = t.plain("Not me", "並非本人"),
            action = escape(form_action),
            csrf = escape(csrf_token),
        ),
    )
}

/// The login page once the time to approve passed: a new code, or back to the service.
pub fn expired_page(
    locale: Locale,
    client_name: &str,
    form_action: &str,
    csrf_token: &str,
) -> String {
    let t = Two(locale);
    let name = escape(client_name);
    layout_in(
        locale,
        t.pick("The code expired", "二維碼已過期"),
        &format!(
            "<main>{h1}{explain}\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
             <button type=\"submit\" name=\"action\" value=\"renew\">{renew}</button>\
             <button type=\"submit\" name=\"action\" value=\"cancel\">{back}</button>\
             </form></main>",
            h1 = t.h1("The code expired", "二維碼已過期"),
            explain = t.paragraphs(
                &format!("The login was not approved in time. Show a new code to try again, or go back to {name}."),
                &format!("登入未有在時限內獲批准。請顯示新的二維碼再試，或返回{name}。"),
            ),
            renew = t.plain("Show a new code", "顯示新的二維碼"),
            back = t.plain(&format!("Back to {name}"), &format!("返回{name}")),
            action = escape(form_action),
            csrf = escape(csrf_token),
        ),
    )
}

/// After RP-initiated logout, when the browser is not sent back to the service.
pub fn signed_out_page(client_name: Option<&str>) -> String {
    let from = client_name
        .map(|name| format!(" of {}", escape(name)))
        .unwrap_or_default();
    let from_zh = client_name
        .map(|name| format!("已登出{}。", escape(name)))
        .unwrap_or_else(|| "您已登出。".into());
    layout(
        "Signed out",
        &format!(
            "<main><h1>You have signed out{from} <span class=\"zh\" lang=\"zh-Hant-HK\">{from_zh}</span></h1>\
             <p>You can close this page. eid keeps no sign-in in this browser: every login is approved on your phone.</p>\
             <p class=\"zh\" lang=\"zh-Hant-HK\">您可關閉此頁。eid 不會在此瀏覽器保留登入：每次登入均須在手機上批准。</p></main>"
        ),
    )
}

/// Shown when a login has already finished in this browser.
pub fn finished_page(locale: Locale) -> String {
    let t = Two(locale);
    layout_in(
        locale,
        t.pick("Login finished", "登入已完成"),
        &format!(
            "<main>{}{}</main>",
            t.h1("This login has finished", "此登入已完成"),
            t.paragraphs(
                "You can close this page and return to the service.",
                "您可關閉此頁並返回有關服務。"
            )
        ),
    )
}

/// The form-post response mode: a form that posts the response to the client's redirect URI,
/// submitted by a script at once, or by the person where scripts do not run.
pub fn form_post_page(action: &str, params: &[(String, String)], script_nonce: &str) -> String {
    let fields: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    layout(
        "Returning to the service",
        &format!(
            "<main><h1>Returning to the service<span class=\"zh\" lang=\"zh-Hant-HK\">正在返回有關服務</span></h1>\
             <form method=\"post\" action=\"{}\" id=\"response\">{fields}\
             <noscript><button type=\"submit\">Continue 繼續</button></noscript></form></main>\
             <script nonce=\"{}\">document.getElementById('response').submit();</script>",
            escape(action),
            escape(script_nonce)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_post_fields_are_escaped() {
        let page = form_post_page(
            "https://rp.example/cb?a=1&b=2",
            &[("state".into(), "\"><script>alert(1)</script>".into())],
            "n0nce",
        );
        assert!(page.contains("action=\"https://rp.example/cb?a=1&amp;b=2\""));
        assert!(page.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("<noscript><button"));
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn script_strings_cannot_close_the_script_element() {
        assert_eq!(
            json_string_for_script("</script>"),
            "\"\\u003c/script\\u003e\""
        );
    }

    #[test]
    fn the_waiting_page_shows_the_number_and_links_the_current_code() {
        let items = [ClaimItem {
            claim: "sub",
            scope: eid_core::claims::Scope::OpenId,
            en: "An id",
            zh_hant: "識別碼",
            essential: true,
        }];
        let links = [("policy", "https://dept.example/privacy?a=1&b=\"".to_owned())];
        let page = waiting_page(&Waiting {
            for_action: false,
            client_name: "Dept <x>",
            client_verified: true,
            client_links: &links,
            items: &items,
            approval_link: "http://localhost/a?b=1&c",
            qr_svg: "<svg/>",
            number: 42,
            link_changes_in: 7,
            status_url: "/s",
            qr_url: "/q",
            script_nonce: "n1",
            locale: Locale::En,
            action: "/login/r1",
            csrf_token: "c\"1",
        });
        assert!(page.contains("id=\"approve-url\" href=\"http://localhost/a?b=1&amp;c\""));
        assert!(page.contains("autocomplete=\"username webauthn\""));
        assert!(page.contains("name=\"csrf_token\" value=\"c&quot;1\""));
        assert!(page.contains("\"/login/r1\"+'/passkey'"));
        // After the passkey the page loads again (the approved page, whose CSP lets its
        // continue form lead to the service); this page's own form may not.
        assert!(page.contains("location.replace(\"/login/r1\")"));
        assert!(!page.contains("submit()"));
        assert!(page.contains("Dept &lt;x&gt;"));
        assert!(page.contains("<strong id=\"number\">42</strong>"));
        assert!(page.contains("nonce=\"n1\""));
        assert!(page.contains("setTimeout(refresh,7250)"));
        assert!(page.contains("href=\"https://dept.example/privacy?a=1&amp;b=&quot;\""));
        assert!(page.contains("Privacy policy"));
        assert!(page.starts_with("<!doctype html><html lang=\"en\">"));
        assert!(page.contains(
            "<h1>Log in to Dept &lt;x&gt; with eid <span class=\"alt\" lang=\"zh-Hant-HK\">"
        ));
        assert!(!page.contains("unverified"));
    }

    #[test]
    fn a_self_registered_service_is_shown_as_unverified() {
        let page = waiting_page(&Waiting {
            for_action: false,
            client_name: "Tax <helper>",
            client_verified: false,
            client_links: &[],
            items: &[],
            approval_link: "http://localhost/a",
            qr_svg: "<svg/>",
            number: 7,
            link_changes_in: 7,
            status_url: "/s",
            qr_url: "/q",
            script_nonce: "n1",
            locale: Locale::En,
            action: "/login/r1",
            csrf_token: "c",
        });
        assert!(page.contains("<h1>Log in to Tax &lt;helper&gt; (unverified) with eid"));
        assert!(page.contains("以 eid 登入Tax &lt;helper&gt;（未經核實）"));
        assert!(page.contains("id=\"unverified\""));
        assert!(page
            .contains("<strong>Unverified service.</strong> Tax &lt;helper&gt; registered itself"));
        let page = approved_page(
            Locale::En,
            "Tax",
            false,
            "CHAN T** M**",
            &[],
            "/login/x",
            "t",
        );
        assert!(page.contains("<strong>Unverified service.</strong> Tax registered itself"));
        let page = approved_page(
            Locale::En,
            "Tax",
            true,
            "CHAN T** M**",
            &[],
            "/login/x",
            "t",
        );
        assert!(!page.contains("unverified"));
    }

    #[test]
    fn ui_locales_put_the_citizens_language_first() {
        let page = approved_page(
            Locale::ZhHantHk,
            "Dept",
            true,
            "CHAN T** M**",
            &[],
            "/login/x",
            "t",
        );
        assert!(page.starts_with("<!doctype html><html lang=\"zh-Hant-HK\">"));
        assert!(page.contains("<title>繼續？ · eid</title>"));
        assert!(page.contains(
            "<h1>已由 <span id=\"account\">CHAN T** M**</span> 批准 <span class=\"alt\" lang=\"en\">Approved by CHAN T** M**</span></h1>"
        ));
        assert_eq!(page.matches("id=\"account\"").count(), 1);
        assert!(page.contains(">並非本人 · Not me</button>"));
        let page = expired_page(Locale::En, "Dept", "/login/x", "t");
        assert!(page.contains(">Show a new code · 顯示新的二維碼</button>"));
    }
}
