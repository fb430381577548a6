//! The officer console's pages. Everything interpolated is escaped; scripts run by nonce only.

use eid_core::account::{Gender, Particulars};
use eid_core::attestation::KeyProtection;
use eid_core::counter::{CounterStep, PresentDevice};
use eid_core::officers::{ApplicationReview, Decided, Evidence, RejectReason};
use eid_core::store::{ApplicationKind, ApplicationStatus};

use crate::pages::{escape, layout};

/// `2026-11-25 12:34 UTC` from Unix seconds.
pub fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3_600,
        (secs % 3_600) / 60
    )
}

/// `A123456(3)` from the canonical `A1234563`.
pub fn hkid_display(canonical: &str) -> String {
    match canonical.len() {
        0 => String::new(),
        n => format!("{}({})", &canonical[..n - 1], &canonical[n - 1..]),
    }
}

const SCRIPT: &str = r#"
const eid = (() => {
  const enc = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const dec = s => { s = s.replace(/-/g, '+').replace(/_/g, '/'); s += '='.repeat((4 - s.length % 4) % 4); return Uint8Array.from(atob(s), c => c.charCodeAt(0)); };
  const say = t => { document.getElementById('status').textContent = t; };
  async function post(url, body) {
    const r = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.detail || j.title || ('HTTP ' + r.status));
    return j;
  }
  async function register(base) {
    say('Touch your security key\u2026');
    const c = await post(base + '/challenge');
    const o = c.options.publicKey;
    o.challenge = dec(o.challenge);
    o.user.id = dec(o.user.id);
    (o.excludeCredentials || []).forEach(x => { x.id = dec(x.id); });
    const k = await navigator.credentials.create({ publicKey: o });
    const r = await post(base, { ceremony_id: c.ceremony_id, credential: { id: k.id, rawId: enc(k.rawId), type: k.type, extensions: {},
      response: { attestationObject: enc(k.response.attestationObject), clientDataJSON: enc(k.response.clientDataJSON) } } });
    button.disabled = true;
    document.getElementById('fingerprint').textContent = r.fingerprint;
    document.getElementById('registered').hidden = false;
    say('Your key is registered. It works once an operator confirms it.');
  }
  async function signIn() {
    say('Touch your security key\u2026');
    const c = await post('/login/challenge');
    const o = c.options.publicKey;
    o.challenge = dec(o.challenge);
    (o.allowCredentials || []).forEach(x => { x.id = dec(x.id); });
    const a = await navigator.credentials.get({ publicKey: o });
    await post('/login', { ceremony_id: c.ceremony_id, credential: { id: a.id, rawId: enc(a.rawId), type: a.type, extensions: {},
      response: { authenticatorData: enc(a.response.authenticatorData), clientDataJSON: enc(a.response.clientDataJSON),
        signature: enc(a.response.signature), userHandle: a.response.userHandle ? enc(a.response.userHandle) : null } } });
    location.href = '/';
  }
  const button = document.getElementById('go');
  button.addEventListener('click', () => {
    const action = button.dataset.enrol ? register(button.dataset.enrol) : signIn();
    action.catch(e => say('Failed: ' + e.message));
  });
})();
"#;

fn with_script(title: &str, body: &str, nonce: &str) -> String {
    layout(
        title,
        &format!(
            "{body}<script nonce=\"{}\">{SCRIPT}</script>",
            escape(nonce)
        ),
    )
}

fn header(officer: &str, csrf: &str) -> String {
    format!(
        "<header><p class=\"muted\">eid officer console · signed in as <strong>{}</strong></p>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
         <button type=\"submit\">Sign out</button></form></header>",
        escape(officer),
        escape(csrf)
    )
}

/// Sign-in with the officer's security key.
pub fn login(nonce: &str) -> String {
    with_script(
        "Officer sign-in",
        "<main><h1>eid officer console <span class=\"zh\" lang=\"zh-Hant-HK\">登記主任控制台</span></h1>\
         <p>Sign in with your security key. <span class=\"zh\" lang=\"zh-Hant-HK\">請以保安鎖匙登入。</span></p>\
         <button type=\"button\" id=\"go\">Sign in with security key <span lang=\"zh-Hant-HK\">以保安鎖匙登入</span></button>\
         <noscript><p>Signing in with a security key needs JavaScript: turn it on for this console. \
         <span class=\"zh\" lang=\"zh-Hant-HK\">以保安鎖匙登入須啟用 JavaScript。</span></p></noscript>\
         <p class=\"muted\" id=\"status\" role=\"status\" aria-live=\"polite\"></p></main>",
        nonce,
    )
}

/// An officer's one-time enrolment: register their security key.
pub fn enrol(officer: &str, token: &str, nonce: &str) -> String {
    with_script(
        "Register your security key",
        &format!(
            "<main><h1>Welcome, {name} <span class=\"zh\" lang=\"zh-Hant-HK\">歡迎</span></h1>\
             <p>Register the security key you will sign in to the officer console with (the security key the department issued you). This link works once.</p>\
             <p class=\"zh\" lang=\"zh-Hant-HK\">請登記您登入控制台所用的保安鎖匙。此連結只可使用一次。</p>\
             <button type=\"button\" id=\"go\" data-enrol=\"/enrol/{token}\">Register security key <span lang=\"zh-Hant-HK\">登記保安鎖匙</span></button>\
             <div id=\"registered\" hidden><p>Before you can sign in, an operator must confirm your key. Call them and read out this code; \
             they confirm the key only if it matches. <span class=\"zh\" lang=\"zh-Hant-HK\">管理員確認後方可登入：請向管理員讀出此編號。</span></p>\
             <p><strong id=\"fingerprint\"></strong></p><p><a href=\"/login\">Sign in</a> once they have.</p></div>\
             <noscript><p>Registering a security key needs JavaScript: turn it on for this console. \
             <span class=\"zh\" lang=\"zh-Hant-HK\">登記保安鎖匙須啟用 JavaScript。</span></p></noscript>\
             <p class=\"muted\" id=\"status\" role=\"status\" aria-live=\"polite\"></p></main>",
            name = escape(officer),
            token = escape(token),
        ),
        nonce,
    )
}

/// Where an officer finds an application by its reference.
pub fn home(officer: &str, csrf: &str, message: Option<&str>) -> String {
    layout(
        "Officer console",
        &format!(
            "{}<main><h1>Find an application <span class=\"zh\" lang=\"zh-Hant-HK\">查找申請</span></h1>{}\
             <form method=\"get\" action=\"/applications\">\
             <label for=\"reference\">Reference shown in the applicant's app \
             <span lang=\"zh-Hant-HK\">申請人應用程式顯示的參考編號</span></label> \
             <input id=\"reference\" name=\"reference\" autocomplete=\"off\" required placeholder=\"K7Q2-M9XD\"> \
             <button type=\"submit\">Find <span lang=\"zh-Hant-HK\">查找</span></button></form></main>",
            header(officer, csrf),
            message
                .map(|m| format!("<p role=\"status\">{}</p>", escape(m)))
                .unwrap_or_default(),
        ),
    )
}

fn row(label: &str, value: &str) -> String {
    format!(
        "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
        escape(label),
        escape(value)
    )
}

fn particulars_table(p: &Particulars, address: Option<&str>) -> String {
    let gender = match p.gender {
        Gender::Male => "M",
        Gender::Female => "F",
        Gender::Unspecified => "X",
    };
    format!(
        "<table>{}{}{}{}{}{}</table>",
        row("Identity card number", &hkid_display(&p.hkid)),
        row("Name in English", &p.english_name),
        row("Name in Chinese", p.chinese_name.as_deref().unwrap_or("—")),
        row("Date of birth", &p.date_of_birth),
        row("Gender", gender),
        row("Residential address", address.unwrap_or("—")),
    )
}

/// A phone as the officer sees it: its name and how its key is protected.
fn phone(device: &PresentDevice) -> String {
    let protection = match &device.protection {
        KeyProtection::Hardware { root } => format!(
            "hardware key (its maker attests it: {}) <span lang=\"zh-Hant-HK\">硬件金鑰</span>",
            escape(root)
        ),
        KeyProtection::Software => "software key (no maker attests it; it could be a copied file) <span lang=\"zh-Hant-HK\">軟件金鑰</span>".to_owned(),
    };
    format!(
        "<strong id=\"phone-name\">“{}”</strong> · <span id=\"phone-key\">{protection}</span>",
        escape(&device.name)
    )
}

/// The counter step: the phone that answered, or the code it must answer.
fn counter_section(step: &CounterStep, reference: &str) -> String {
    match step {
        CounterStep::Present {
            device,
            answered_at,
            until,
        } => format!(
            "<section id=\"counter\"><h2>The applicant's phone <span class=\"zh\" lang=\"zh-Hant-HK\">申請人的手機</span></h2>\
             <p id=\"phone-present\" role=\"status\">Present: the phone that applied answered this counter's code at {}: {}.</p>\
             <p class=\"muted\">Ask to see the phone confirm it. Approve by {}; after that, open the application again for a new code.</p></section>",
            utc(answered_at.secs()),
            phone(device),
            utc(until.secs()),
        ),
        CounterStep::Waiting { device, challenge } => {
            let which = match device {
                Some(device) => format!("The phone that applied ({})", phone(device)),
                None => "A phone of the account asking".to_owned(),
            };
            let qr = crate::qr::svg(&challenge.url).unwrap_or_default();
            format!(
                "<section id=\"counter\"><h2>Ask for the applicant's phone <span class=\"zh\" lang=\"zh-Hant-HK\">請申請人出示手機</span></h2>\
                 <p class=\"warn\" id=\"phone-waiting\">{which} must answer this code before you can approve. \
                 Ask the applicant to scan it with the eid app, or to type it (<code>eid-wallet counter CODE</code>).</p>\
                 <p>Code <span lang=\"zh-Hant-HK\">編號</span>: <strong id=\"counter-code\">{code}</strong></p>\
                 <div class=\"qr\" id=\"qr\" role=\"img\" aria-label=\"QR code of the counter code {code}\">{qr}</div>\
                 <p class=\"muted\">It works once, until {expires}. When the phone says it answered, \
                 <a href=\"/applications?reference={reference}\">open the application again</a>.</p></section>",
                code = escape(&challenge.code),
                expires = utc(challenge.expires_at.secs()),
                reference = escape(reference),
            )
        }
    }
}

/// An application under review: the particulars to compare with the card, the applicant's
/// phone at the counter, and the decision.
pub fn review(r: &ApplicationReview, officer: &str, csrf: &str) -> String {
    let kind = match r.kind {
        ApplicationKind::Enrolment => {
            "New account (or recovery of an existing one) with the applicant's phone"
        }
        ApplicationKind::Upgrade => "Upgrade of an existing account to eid+",
    };
    let account = match &r.existing_account {
        Some(a) if r.kind == ApplicationKind::Enrolment => format!(
            "<p class=\"warn\" id=\"recovery\"><strong>This identity card number already has an account</strong> ({} · level {} · {} · {} device(s)). \
             Approving recovers it on the applicant's phone and signs out every other device.</p>",
            escape(&a.reference),
            a.level.map_or("none", |l| l.as_str()),
            a.status.as_str(),
            a.devices
        ),
        Some(a) => format!(
            "<p>Account {} · level {} · {}</p>",
            escape(&a.reference),
            a.level.map_or("none", |l| l.as_str()),
            a.status.as_str()
        ),
        None => "<p>No account holds this identity card number yet.</p>".to_owned(),
    };
    let pending: String = r
        .existing_account
        .iter()
        .flat_map(|a| a.pending_recoveries.iter())
        .map(|(until, name)| {
            format!(
                "<li>on a phone named “{}”, taking effect {}</li>",
                escape(name),
                escape(&until.to_utc_minutes())
            )
        })
        .collect();
    let account = if pending.is_empty() {
        account
    } else {
        format!(
            "{account}<div class=\"warn\" id=\"pending-recovery\"><p><strong>A remote recovery of this account is pending</strong> \
             <span lang=\"zh-Hant-HK\">此帳戶有待生效的遙距恢復申請</span>:</p><ul>{pending}</ul>\
             <p>If the person before you is the holder, proving them here cancels it. If they say they did not ask for it, \
             they can also cancel it from their phone.</p></div>"
        )
    };
    let body = match (&r.status, &r.particulars) {
        (ApplicationStatus::Open, Some(p)) => {
            let reasons: String = RejectReason::ALL
                .iter()
                .map(|reason| {
                    format!(
                        "<option value=\"{0}\">{0}</option>",
                        escape(reason.as_str())
                    )
                })
                .collect();
            let address = r.contact.as_ref().and_then(|c| c.address.as_deref());
            let counter = r
                .counter
                .as_ref()
                .map(|step| counter_section(step, &r.reference))
                .unwrap_or_default();
            // Approval waits for the phone (the core refuses it too).
            let present = matches!(r.counter, Some(CounterStep::Present { .. }));
            format!(
                "<h2>Compare with the identity card <span class=\"zh\" lang=\"zh-Hant-HK\">與身份證核對</span></h2>{table}{account}{counter}\
                 <form method=\"post\" action=\"/applications/{id}/decision\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                 <fieldset><legend>Evidence seen <span lang=\"zh-Hant-HK\">已查閱的證明文件</span></legend>\
                 <p><input type=\"checkbox\" id=\"ev-card\" name=\"evidence_{card}\" value=\"on\" required> \
                 <label for=\"ev-card\">The physical identity card: genuine, its particulars as above, its photo the applicant</label></p>\
                 <p><input type=\"checkbox\" id=\"ev-address\" name=\"evidence_{address_kind}\" value=\"on\"{disabled}> \
                 <label for=\"ev-address\">A proof of the residential address above</label></p></fieldset>\
                 <button type=\"submit\" name=\"decision\" value=\"approve\"{approve_disabled}>Approve at level plus <span lang=\"zh-Hant-HK\">核准（進階）</span></button></form>\
                 <form method=\"post\" action=\"/applications/{id}/decision\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                 <label for=\"reason\">Reason</label> <select id=\"reason\" name=\"reason\">{reasons}</select> \
                 <button type=\"submit\" name=\"decision\" value=\"reject\">Reject <span lang=\"zh-Hant-HK\">拒絕</span></button></form>",
                table = particulars_table(p, address),
                id = escape(&r.application_id),
                csrf = escape(csrf),
                card = Evidence::HkidCard.as_str(),
                address_kind = Evidence::ProofOfAddress.as_str(),
                disabled = if address.is_some() { "" } else { " disabled" },
                approve_disabled = if present { "" } else { " disabled" },
            )
        }
        (status, _) => format!(
            "<p id=\"decided\">This application is {} already.</p>",
            escape(status.as_str())
        ),
    };
    layout(
        "Application",
        &format!(
            "{}<main><h1>Application {} <span class=\"zh\" lang=\"zh-Hant-HK\">申請</span></h1>\
             <p>{}</p><p class=\"muted\">Made {} · expires {}</p>{body}\
             <p><a href=\"/\">Find another application</a></p></main>",
            header(officer, csrf),
            escape(&r.reference),
            escape(kind),
            utc(r.created_at.secs()),
            utc(r.expires_at.secs()),
        ),
    )
}

/// The result of a decision.
pub fn decided(outcome: &Decided, officer: &str, csrf: &str) -> String {
    let text = match outcome {
        Decided::Proven(o) if o.recovered => format!(
            "Approved. Account {} was recovered on the applicant's phone at level {}; {} other device(s) were signed out.",
            o.reference,
            o.level.as_str(),
            o.revoked_devices
        ),
        Decided::Proven(o) => format!(
            "Approved. Account {} is at level {}.",
            o.reference,
            o.level.as_str()
        ),
        Decided::Rejected => "Rejected. The applicant's app shows the reason.".to_owned(),
    };
    layout(
        "Decision recorded",
        &format!(
            "{}<main><h1>Decision recorded</h1><p id=\"outcome\" role=\"status\">{}</p>\
             <p><a href=\"/\">Find another application</a></p></main>",
            header(officer, csrf),
            escape(&text)
        ),
    )
}

/// A console error for a person.
pub fn error(title: &str, detail: &str) -> String {
    layout(
        title,
        &format!(
            "<main><h1>{}</h1><p>{}</p><p><a href=\"/\">Back to the console</a></p></main>",
            escape(title),
            escape(detail)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_numbers_are_shown_as_people_read_them() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_564_800 + 3_600 + 120), "2026-11-25 01:02 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(hkid_display("A1234563"), "A123456(3)");
        assert_eq!(hkid_display("AB987654A"), "AB987654(A)");
    }
}
