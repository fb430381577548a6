//! The pages of a signed-in citizen's browser: the account page (devices, sessions, consents,
//! history), signing in to it, and signing out (the confirmation RP-initiated logout asks for,
//! the page that loads relying parties' front-channel logout pages, "signed out"). In English
//! and Traditional Chinese, the citizen's language first; everything interpolated is escaped.

use eid_core::catalogue::{Audience, CatalogueQuery, ServiceCard, Theme};
use eid_core::locale::Locale;
use eid_core::portal::AccountOverview;
use url::Url;

use crate::pages::{escape, layout_in, Two};

/// A time as the pages show it: date and minutes, UTC.
pub fn when(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute()
        ),
        Err(_) => t.to_string(),
    }
}

/// The hidden anti-CSRF field of a form.
fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
        escape(token)
    )
}

/// The navigation every signed-in page carries.
fn nav(t: Two, current: &str, csrf: Option<&str>) -> String {
    let link = |href: &str, en: &str, zh: &str| {
        let here = if href == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{here}>{}</a>", t.plain(en, zh))
    };
    let sign_out = csrf
        .map(|c| {
            format!(
                "<form method=\"post\" action=\"/account/sign-out\" class=\"inline\">{}<button type=\"submit\">{}</button></form>",
                csrf_field(c),
                t.plain("Sign out", "登出")
            )
        })
        .unwrap_or_default();
    format!(
        "<header><nav aria-label=\"{}\">{}{}{sign_out}</nav></header>",
        t.pick("eid", "eid"),
        link("/portal", "Services", "服務"),
        link("/account", "My account", "我的帳戶"),
    )
}

/// A session's browser, as a person recognises it.
fn browser_name(t: Two, browser: Option<&str>, os: Option<&str>) -> String {
    match (browser, os) {
        (Some(b), Some(o)) => format!("{} · {}", escape(b), escape(o)),
        (Some(b), None) => escape(b),
        (None, Some(o)) => escape(o),
        (None, None) => t.pick("A browser", "瀏覽器").to_owned(),
    }
}

/// What a history entry's action means, in both languages.
fn action_label(action: &str) -> (&'static str, &'static str) {
    match action {
        "login.approved" => ("Logged in, approved on the phone", "登入（在手機上批准）"),
        "login.single_sign_on" => ("Logged in with one click", "一鍵登入"),
        "login.not_me" => (
            "A login you did not start was stopped",
            "已阻止並非由您發起的登入",
        ),
        "login.declined" => ("Login declined", "已拒絕登入"),
        "login.wrong_number" => ("Login stopped: wrong number", "登入已停止：號碼錯誤"),
        "login.refused_in_browser" => ("Login stopped in the browser", "已在瀏覽器停止登入"),
        "session.ended" => ("Signed out", "已登出"),
        "consent.granted" => ("Agreed to share", "已同意分享"),
        "consent.withdrawn" => ("Consent withdrawn", "已撤回同意"),
        "document.signed" => ("Document signed", "已簽署文件"),
        "document.declined" => ("Signing declined", "已拒絕簽署"),
        "certificate.revoked" => ("Signing certificate revoked", "簽署證書已撤銷"),
        "device.bound" => ("Device added", "已加入裝置"),
        "device.removed" => ("Device removed", "已移除裝置"),
        "device.suspected_clone" => (
            "Device suspended: it may be cloned",
            "裝置已暫停：可能被複製",
        ),
        "account.created" => ("Account created", "已建立帳戶"),
        "account.recovered" => ("Account recovered", "已恢復帳戶"),
        "account.upgraded" => ("Identity proven in person", "已親身核實身份"),
        "account.suspended" => ("Account suspended", "帳戶已暫停"),
        "account.resumed" => ("Account resumed", "帳戶已恢復使用"),
        "account.closed" => ("Account closed", "帳戶已關閉"),
        "application.created" => ("Applied for eid", "已申請 eid"),
        "application.proven" => ("Identity proven", "身份已核實"),
        "application.rejected" => ("Application refused", "申請不獲接納"),
        "proofing.refused" => ("Identity proofing refused", "身份核實不獲接納"),
        _ => ("Account event", "帳戶事件"),
    }
}

/// The account page.
pub fn account_page(
    locale: Locale,
    a: &AccountOverview,
    notice: Option<(&str, &str)>,
    script_nonce: &str,
) -> String {
    let t = Two(locale);
    let csrf = csrf_field(&a.csrf_token);
    let notice = notice
        .map(|(en, zh)| {
            format!(
                "<p role=\"status\" class=\"notice\">{}</p>",
                t.inline(en, zh)
            )
        })
        .unwrap_or_default();
    let level = match a.level.map(|l| l.as_str()) {
        Some("plus") => t.inline("identity proven in person (plus)", "已親身核實身份（進階）"),
        Some("basic") => t.inline("identity proven remotely (basic)", "已遙距核實身份（基本）"),
        _ => t.inline("identity not proven", "身份未核實"),
    };
    let sessions: String = a
        .sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let this = if s.current {
                format!(" <strong>({})</strong>", t.plain("this browser", "此瀏覽器"))
            } else {
                String::new()
            };
            let services = if s.services.is_empty() {
                t.pick("none yet", "暫無").to_owned()
            } else {
                s.services
                    .iter()
                    .map(|n| escape(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "<li class=\"session\" data-session=\"{id}\"><p><strong id=\"session-{i}\">{browser}</strong>{this}</p>\
                 <dl><dt>{signed_in}</dt><dd>{created}</dd><dt>{used}</dt><dd>{last}</dd><dt>{svc}</dt><dd>{services}</dd></dl>\
                 <form method=\"post\" action=\"/account/sessions/{id}/end\">{csrf}\
                 <button type=\"submit\" id=\"end-session-{i}\" aria-labelledby=\"end-session-{i} session-{i}\">{end}</button></form></li>",
                id = escape(&s.session_id),
                browser = browser_name(t, s.browser.as_deref(), s.os.as_deref()),
                signed_in = t.plain("Signed in", "登入時間"),
                created = when(s.created_at.secs()),
                used = t.plain("Last used", "最後使用"),
                last = when(s.last_seen_at.secs()),
                svc = t.plain("Services", "服務"),
                end = t.plain("End this session", "結束此工作階段"),
            )
        })
        .collect();
    let devices: String = a
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let kind = match (d.joined_by.as_str(), d.key.as_str()) {
                ("browser", _) => t.plain("passkey in a browser", "瀏覽器密碼匙"),
                (_, "hardware") => t.plain("phone, key in secure hardware", "手機（安全硬件金鑰）"),
                _ => t.plain("phone, software key", "手機（軟件金鑰）"),
            };
            // Named "Remove · 移除 <device>": the visible text first (WCAG 2.5.3), as the
            // session's "End this session" button.
            let remove = if d.joined_by == "browser" {
                format!(
                    "<form method=\"post\" action=\"/account/devices/{id}/remove\">{csrf}\
                     <button type=\"submit\" id=\"remove-device-{i}\" aria-labelledby=\"remove-device-{i} device-{i}\">{remove}</button></form>",
                    id = escape(&d.device_id),
                    remove = t.plain("Remove", "移除"),
                )
            } else {
                String::new()
            };
            format!(
                "<tr class=\"device\" data-device=\"{}\"><td id=\"device-{i}\">{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{remove}</td></tr>",
                escape(&d.device_id),
                escape(&d.name),
                when(d.created_at),
                d.last_used_at
                    .map(when)
                    .unwrap_or_else(|| t.pick("never", "從未").to_owned()),
            )
        })
        .collect();
    let consents: String = if a.consents.is_empty() {
        format!(
            "<p>{}</p>",
            t.inline(
                "You have not let any service remember what you share.",
                "您未有讓任何服務記住您分享的資料。"
            )
        )
    } else {
        let items: String = a
            .consents
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let service = c.service.as_deref().unwrap_or(&c.client_id);
                format!(
                    "<li><p><strong id=\"consent-{i}\">{service}</strong>: {claims} <span class=\"muted\">({since} {at})</span></p>\
                     <form method=\"post\" action=\"/account/consents/{client}/withdraw\">{csrf}\
                     <button type=\"submit\" id=\"withdraw-{i}\" aria-labelledby=\"withdraw-{i} consent-{i}\">{withdraw}</button></form></li>",
                    service = escape(service),
                    claims = escape(&c.claims.join(", ")),
                    since = t.pick("since", "自"),
                    at = when(c.granted_at),
                    client = escape(&c.client_id),
                    withdraw = t.plain("Withdraw", "撤回"),
                )
            })
            .collect();
        format!("<ul class=\"cards\">{items}</ul>")
    };
    let history: String = a
        .history
        .iter()
        .map(|(e, service)| {
            let (en, zh) = action_label(&e.action);
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(e.at),
                t.inline(en, zh),
                service.as_deref().map(escape).unwrap_or_default(),
            )
        })
        .collect();
    let body = format!(
        "{nav}<main id=\"main\">{h1}{notice}<p>{signed_in_as} <strong id=\"account\">{name}</strong> · {level}</p>\
         <section aria-labelledby=\"sessions-h\"><h2 id=\"sessions-h\">{sessions_h}</h2>\
         <ul class=\"cards\">{sessions}</ul>\
         <form method=\"post\" action=\"/account/sign-out-everywhere\">{csrf}<button type=\"submit\">{everywhere}</button></form>\
         <p class=\"muted\">{everywhere_note}</p></section>\
         <section aria-labelledby=\"devices-h\"><h2 id=\"devices-h\">{devices_h}</h2>\
         <table><caption class=\"muted\">{devices_note}</caption><thead><tr><th scope=\"col\">{name_h}</th><th scope=\"col\">{kind_h}</th><th scope=\"col\">{added_h}</th><th scope=\"col\">{used_h}</th><th scope=\"col\"><span class=\"visually-hidden\">{actions_h}</span></th></tr></thead>\
         <tbody>{devices}</tbody></table>{passkey}</section>\
         <section aria-labelledby=\"consents-h\"><h2 id=\"consents-h\">{consents_h}</h2>{consents}</section>\
         <section aria-labelledby=\"history-h\"><h2 id=\"history-h\">{history_h}</h2>\
         <table><thead><tr><th scope=\"col\">{time_h}</th><th scope=\"col\">{what_h}</th><th scope=\"col\">{service_h}</th></tr></thead><tbody>{history}</tbody></table></section></main>",
        nav = nav(t, "/account", Some(&a.csrf_token)),
        h1 = t.h1("Your eid account", "您的 eid 帳戶"),
        signed_in_as = t.pick("Signed in as", "已登入："),
        name = escape(&a.name),
        sessions_h = t.inline("Where you are signed in", "您已登入的地方"),
        everywhere = t.plain("Sign out everywhere", "在所有地方登出"),
        everywhere_note = t.inline(
            "Ends every session above and tells every service they logged you in to.",
            "結束以上所有工作階段，並通知曾經登入的每項服務。"
        ),
        devices_h = t.inline("Your devices", "您的裝置"),
        devices_note = t.inline(
            "Add or remove devices in the eid app on your phone.",
            "請在手機的 eid 應用程式中加入或移除裝置。"
        ),
        name_h = t.plain("Device", "裝置"),
        kind_h = t.plain("Key", "金鑰"),
        added_h = t.plain("Added", "加入日期"),
        used_h = t.plain("Last used", "最後使用"),
        actions_h = t.plain("Actions", "操作"),
        passkey = passkey_section(t, a, script_nonce),
        consents_h = t.inline("What services remember", "服務記住的分享設定"),
        history_h = t.inline("Recent activity", "最近活動"),
        time_h = t.plain("When", "時間"),
        what_h = t.plain("What", "事項"),
        service_h = t.plain("Service", "服務"),
    );
    layout_in(locale, t.pick("Your eid account", "您的 eid 帳戶"), &body)
}

/// The service portal: search, themes, audiences, and the services that match, each with its
/// deep links (third-party-initiated login: with a session, one click lands on the page).
pub fn portal_page(
    locale: Locale,
    query: &CatalogueQuery,
    cards: &[ServiceCard],
    signed_in_as: Option<(&str, &str)>,
) -> String {
    let t = Two(locale);
    let lang = locale.tag();
    let name_of = |c: &ServiceCard| -> (String, String) {
        let zh = c.name_zh.clone().unwrap_or_else(|| c.name_en.clone());
        (escape(&c.name_en), escape(&zh))
    };
    let option = |value: &str, label: String, selected: bool| {
        format!(
            "<option value=\"{value}\"{}>{label}</option>",
            if selected { " selected" } else { "" }
        )
    };
    let themes: String = std::iter::once(option(
        "",
        t.plain("All themes", "所有主題"),
        query.theme.is_none(),
    ))
    .chain(Theme::ALL.into_iter().map(|th| {
        let (en, zh) = th.label();
        option(th.as_str(), t.plain(en, zh), query.theme == Some(th))
    }))
    .collect();
    let audiences: String = std::iter::once(option(
        "",
        t.plain("Everyone", "所有人"),
        query.audience.is_none(),
    ))
    .chain(
        Audience::ALL
            .into_iter()
            .filter(|a| *a != Audience::Everyone)
            .map(|a| {
                let (en, zh) = a.label();
                option(a.as_str(), t.plain(en, zh), query.audience == Some(a))
            }),
    )
    .collect();
    let chips: String = Theme::ALL
        .into_iter()
        .map(|th| {
            let (en, zh) = th.label();
            let here = if query.theme == Some(th) {
                " aria-current=\"true\""
            } else {
                ""
            };
            format!(
                "<li><a href=\"/portal?theme={}&amp;lang={lang}\"{here}>{}</a></li>",
                th.as_str(),
                t.plain(en, zh)
            )
        })
        .collect();
    let results: String = cards
        .iter()
        .map(|c| {
            let (en, zh) = name_of(c);
            let tags: String = c
                .themes
                .iter()
                .map(|th| th.label())
                .chain(c.audiences.iter().map(|a| a.label()))
                .map(|(en, zh)| format!("<li>{}</li>", t.plain(en, zh)))
                .collect();
            let links: String = c
                .links
                .iter()
                .map(|(en, zh, url)| {
                    format!(
                        "<li><a class=\"deep-link\" href=\"{}\">{}</a></li>",
                        escape(url.as_str()),
                        t.inline(&escape(en), &escape(zh))
                    )
                })
                .collect();
            format!(
                "<li class=\"service\" data-client=\"{id}\"><h3>{name}</h3><p>{desc}</p>\
                 <ul class=\"tags\" aria-label=\"{tags_label}\">{tags}</ul>\
                 <ul class=\"links\">{links}<li><a class=\"launch\" href=\"{launch}\">{go} <span class=\"visually-hidden\">{en}</span></a></li></ul></li>",
                id = escape(&c.client_id),
                name = t.inline(&en, &zh),
                desc = t.inline(&escape(&c.description_en), &escape(&c.description_zh)),
                tags_label = t.pick("Themes and audiences", "主題及對象"),
                launch = escape(c.launch.as_str()),
                go = t.plain("Go to the service", "前往服務"),
            )
        })
        .collect();
    let count = if cards.is_empty() {
        t.inline(
            "No service matches. Try other words or another theme.",
            "沒有相符的服務。請嘗試其他字詞或主題。",
        )
    } else {
        t.inline(
            &format!("{} services", cards.len()),
            &format!("{} 項服務", cards.len()),
        )
    };
    let who = match signed_in_as {
        Some((name, _)) => t.inline(
            &format!(
                "Signed in as <strong>{}</strong>: services you agreed to share with open with one click.",
                escape(name)
            ),
            &format!("已登入：<strong>{}</strong>。已同意分享資料的服務可一鍵開啟。", escape(name)),
        ),
        None => format!(
            "{} <a href=\"/account/login?to=portal\">{}</a>",
            t.inline(
                "Sign in once with the eid app, then open services with one click.",
                "以 eid 應用程式登入一次，即可一鍵開啟各項服務。"
            ),
            t.plain("Sign in", "登入")
        ),
    };
    let csrf = signed_in_as.map(|(_, csrf)| csrf);
    let body = format!(
        "{nav}<main id=\"main\">{h1}<p>{who}</p>\
         <form method=\"get\" action=\"/portal\" role=\"search\">\
         <input type=\"hidden\" name=\"lang\" value=\"{lang}\">\
         <p><label for=\"q\">{search}</label> <input id=\"q\" type=\"search\" name=\"q\" value=\"{q}\" autocomplete=\"off\"></p>\
         <p><label for=\"theme\">{theme_l}</label> <select id=\"theme\" name=\"theme\">{themes}</select> \
         <label for=\"audience\">{aud_l}</label> <select id=\"audience\" name=\"audience\">{audiences}</select> \
         <button type=\"submit\">{find}</button></p></form>\
         <nav aria-label=\"{themes_label}\"><ul class=\"chips\">{chips}</ul></nav>\
         <h2 id=\"results-h\">{results_h}</h2><p role=\"status\">{count}</p>\
         <ul class=\"cards\" aria-labelledby=\"results-h\">{results}</ul>\
         <p><a href=\"/portal?lang={other}\" lang=\"{other}\" hreflang=\"{other}\">{switch}</a></p></main>",
        nav = nav(t, "/portal", csrf),
        h1 = t.h1("Government and public services", "政府及公共服務"),
        search = t.plain("Search services", "搜尋服務"),
        q = escape(query.text.as_deref().unwrap_or_default()),
        theme_l = t.plain("Theme", "主題"),
        aud_l = t.plain("For", "對象"),
        find = t.plain("Search", "搜尋"),
        themes_label = t.pick("Themes", "主題"),
        results_h = t.inline("Services", "服務"),
        other = locale.other().tag(),
        switch = match locale {
            Locale::En => "中文",
            Locale::ZhHantHk => "English",
        },
    );
    layout_in(
        locale,
        t.pick("Government and public services", "政府及公共服務"),
        &body,
    )
}

/// The account page's passkey section: create one now (the phone approved here just now), or
/// approve on the phone first.
fn passkey_section(t: Two, a: &AccountOverview, script_nonce: &str) -> String {
    let heading = format!(
        "<h3 id=\"passkey\">{}</h3><p>{}</p>",
        t.inline("A passkey on this device", "此裝置上的密碼匙"),
        t.inline(
            "Log in on this device without your phone: the passkey is kept by this device and unlocked with its screen lock.",
            "毋須手機即可在此裝置登入：密碼匙由此裝置保存，並以其螢幕鎖解鎖。"
        )
    );
    if a.signed_in_with_passkey {
        return format!(
            "{heading}<p id=\"passkey-from-phone\">{}</p>",
            t.inline(
                "This browser signed in with a passkey. Passkeys are added from a browser signed in with your phone.",
                "此瀏覽器以密碼匙登入。密碼匙須在以手機登入的瀏覽器中加入。"
            )
        );
    }
    let Some(ceremony) = a.passkey_ceremony.as_ref().filter(|_| a.may_add_passkey) else {
        return format!(
            "{heading}<p><a class=\"button\" id=\"approve-for-passkey\" href=\"/account/login?to=passkey\">{}</a></p>",
            t.plain("Approve on your phone to add a passkey", "在手機上批准以加入密碼匙")
        );
    };
    let ceremony = serde_json::to_string(ceremony).unwrap_or_default();
    let csrf = serde_json::to_string(&a.csrf_token).unwrap_or_default();
    let failed = serde_json::to_string(&t.plain(
        "No passkey was added. Try again, or use your phone.",
        "未有加入密碼匙。請再試，或使用手機。",
    ))
    .unwrap_or_default();
    format!(
        "{heading}<form id=\"passkey-form\"><p><label for=\"passkey-name\">{name_l}</label> \
         <input id=\"passkey-name\" name=\"name\" value=\"{default}\" maxlength=\"40\" required></p>\
         <button type=\"submit\" id=\"add-passkey\">{add}</button></form><p id=\"passkey-status\" role=\"status\" aria-live=\"polite\"></p>\
         <script nonce=\"{script_nonce}\">{js}(function(){{var form=document.getElementById('passkey-form'),\
         status=document.getElementById('passkey-status');if(!window.PublicKeyCredential){{form.hidden=true;return;}}\
         form.addEventListener('submit',function(ev){{ev.preventDefault();var name=document.getElementById('passkey-name').value;\
         fetch('/account/passkeys/options',{{method:'POST',credentials:'same-origin',headers:{{'Content-Type':'application/json'}},\
         body:JSON.stringify({{csrf_token:{csrf},ceremony_id:{ceremony}}})}}).then(function(r){{if(!r.ok){{throw new Error('options');}}return r.json();}})\
         .then(function(ch){{return navigator.credentials.create({{publicKey:creationOptions(ch.options)}}).then(function(c){{\
         return fetch('/account/passkeys',{{method:'POST',credentials:'same-origin',headers:{{'Content-Type':'application/json'}},\
         body:JSON.stringify({{csrf_token:{csrf},ceremony_id:ch.ceremony_id,name:name,credential:attestationJson(c)}})}});}});}})\
         .then(function(r){{if(r.ok){{location.assign('/account?added=passkey');}}else{{status.textContent={failed};}}}})\
         .catch(function(){{status.textContent={failed};}});}});}})();</script>",
        name_l = t.plain("Name it", "名稱"),
        default = t.pick("Passkey on this computer", "此電腦上的密碼匙"),
        add = t.plain("Create a passkey", "建立密碼匙"),
        js = crate::pages::WEBAUTHN_JS,
    )
}

/// The account page of a browser that is not signed in.
pub fn sign_in_page(locale: Locale, target: &str) -> String {
    let t = Two(locale);
    let body = format!(
        "{nav}<main id=\"main\">{h1}{p}<p><a class=\"button\" href=\"/account/login?to={target}\">{go}</a></p></main>",
        nav = nav(t, "", None),
        h1 = t.h1("Sign in to eid", "登入 eid"),
        p = t.paragraphs(
            "Sign in with the eid app on your phone to see your account and go to services with one click.",
            "請以手機上的 eid 應用程式登入，查看您的帳戶，並一鍵前往各項服務。"
        ),
        target = escape(target),
        go = t.plain("Sign in", "登入"),
    );
    layout_in(locale, t.pick("Sign in to eid", "登入 eid"), &body)
}

/// RP-initiated logout without the login named: the person confirms.
pub fn confirm_sign_out_page(
    locale: Locale,
    client_name: Option<&str>,
    csrf_token: &str,
    params: &[(String, String)],
) -> String {
    let t = Two(locale);
    let hidden: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let asked = match client_name {
        Some(name) => t.inline(
            &format!("{} asks to sign you out of eid.", escape(name)),
            &format!("{} 要求您登出 eid。", escape(name)),
        ),
        None => t.inline(
            "A service asks to sign you out of eid.",
            "有服務要求您登出 eid。",
        ),
    };
    let body = format!(
        "<main id=\"main\">{h1}<p>{asked}</p><p>{what}</p>\
         <form method=\"post\" action=\"/logout\">{hidden}{csrf}<input type=\"hidden\" name=\"confirm\" value=\"yes\">\
         <button type=\"submit\">{yes}</button></form><p><a href=\"/account\">{no}</a></p></main>",
        h1 = t.h1("Sign out of eid?", "登出 eid？"),
        what = t.inline(
            "Signing out ends your eid session in this browser and tells the services you logged in to.",
            "登出會結束此瀏覽器的 eid 工作階段，並通知您曾登入的服務。"
        ),
        csrf = csrf_field(csrf_token),
        yes = t.plain("Sign out", "登出"),
        no = t.plain("Stay signed in", "保持登入"),
    );
    layout_in(locale, t.pick("Sign out of eid?", "登出 eid？"), &body)
}

/// Signed out: the relying parties' front-channel logout pages load in hidden frames, then
/// the browser goes on to `next` (a script waits for the frames; without script, a link).
pub fn signed_out_page(
    locale: Locale,
    client_name: Option<&str>,
    frontchannel: &[Url],
    next: Option<&str>,
    script_nonce: &str,
) -> String {
    let t = Two(locale);
    let (en, zh) = match client_name {
        Some(name) => (
            format!("You have signed out of {}", escape(name)),
            format!("您已登出{}", escape(name)),
        ),
        None => ("You have signed out".to_owned(), "您已登出".to_owned()),
    };
    let frames: String = frontchannel
        .iter()
        .map(|u| {
            format!(
                "<iframe class=\"fc\" src=\"{}\" title=\"{}\" hidden></iframe>",
                escape(u.as_str()),
                t.pick("Signing out of a service", "正在登出服務"),
            )
        })
        .collect();
    let onward = match next {
        Some(next) => format!(
            "<p><a id=\"next\" href=\"{}\">{}</a></p>\
             <script nonce=\"{script_nonce}\">(function(){{var f=document.querySelectorAll('iframe.fc'),n=f.length,\
             go=function(){{location.replace(document.getElementById('next').href);}};\
             if(!n){{go();return;}}f.forEach(function(e){{e.addEventListener('load',function(){{if(--n===0)go();}});}});\
             setTimeout(go,3000);}})();</script>",
            escape(next),
            t.plain("Continue", "繼續"),
        ),
        None => format!(
            "<p><a href=\"/account\">{}</a></p>",
            t.plain("Sign in again", "再次登入")
        ),
    };
    let body = format!(
        "<main id=\"main\"><h1>{}</h1>{}{frames}{onward}</main>",
        t.inline(&en, &zh),
        t.paragraphs(
            "Your eid session in this browser has ended. The next login asks your phone again.",
            "此瀏覽器的 eid 工作階段已結束。下次登入須再次在手機上批准。"
        ),
    );
    layout_in(locale, t.pick("Signed out", "已登出"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_765_000_000), "2025-12-06 05:46 UTC");
    }

    #[test]
    fn the_sign_out_page_escapes_and_waits_for_the_frames() {
        let url = Url::parse("https://rp.example/fc?iss=a&sid=b\"").unwrap();
        let page = signed_out_page(
            Locale::En,
            Some("<Dept>"),
            &[url],
            Some("https://rp.example/bye?x=1&y=2"),
            "n0nce",
        );
        assert!(page.contains("&lt;Dept&gt;"));
        assert!(page.contains("src=\"https://rp.example/fc?iss=a&amp;sid=b%22\""));
        assert!(page.contains("href=\"https://rp.example/bye?x=1&amp;y=2\""));
        assert!(page.contains("nonce=\"n0nce\""));
        assert!(page.contains("lang=\"zh-Hant-HK\""));
    }
}
