//! Reports: JSON for machines, JUnit XML for CI, and one self-contained HTML page an auditor can
//! read and archive (a summary table, then each module's log with its HTTP exchanges).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::log::{Item, Outcome, Verdict};
use crate::PlanReport;

/// Escapes text for HTML and XML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds.
pub fn utc(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

pub fn json(report: &PlanReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// JUnit XML: a test suite per plan, a test case per module; FAILED is a failure, SKIPPED is
/// skipped, WARNING and REVIEW pass with the finding in `system-out`.
pub fn junit(report: &PlanReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<testsuite name="{}" tests="{}" failures="{}" skipped="{}" time="{:.3}" timestamp="{}">"#,
        escape(&report.plan),
        report.modules.len(),
        report.count(Verdict::Failed),
        report.count(Verdict::Skipped),
        report.duration_ms as f64 / 1000.0,
        utc(report.started_at).trim_end_matches('Z'),
    );
    for m in &report.modules {
        let _ = write!(
            out,
            r#"  <testcase classname="{}" name="{}" time="{:.3}">"#,
            escape(&report.plan),
            escape(&m.id),
            m.duration_ms as f64 / 1000.0
        );
        let reason = escape(m.reason.as_deref().unwrap_or_default());
        match m.verdict {
            Verdict::Failed => {
                let _ = write!(out, r#"<failure message="{reason}">{reason}</failure>"#);
            }
            Verdict::Skipped => {
                let _ = write!(out, r#"<skipped message="{reason}"/>"#);
            }
            Verdict::Warning | Verdict::Review => {
                let _ = write!(out, "<system-out>{}: {reason}</system-out>", m.verdict);
            }
            Verdict::Passed => {}
        }
        let _ = writeln!(out, "</testcase>");
    }
    let _ = writeln!(out, "</testsuite>");
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:75rem;padding:0 1rem;color:#1b1b1b}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}\
.v{font-weight:600;white-space:nowrap}.PASSED{color:#0a6b2d}.FAILED{color:#b00020}.WARNING{color:#8a5300}.REVIEW{color:#3b3bb3}.SKIPPED{color:#555}\
.failure{color:#b00020}.warning{color:#8a5300}.success{color:#0a6b2d}.review{color:#3b3bb3}.info{color:#444}\
details{margin:.25rem 0}pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.5rem;margin:.25rem 0}\
code{font-size:90%}.log td:first-child{color:#777;white-space:nowrap}.danger{background:#fff3cd;padding:.5rem}";

/// A self-contained page: no scripts, no outside resources.
pub fn html(report: &PlanReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{plan} against {issuer}</title><style>{STYLE}</style></head><body>\
         <h1>Conformance: {plan}</h1><p>{summary}</p>\
         <table><tr><th>Issuer</th><td><code>{issuer}</code></td></tr>\
         <tr><th>Started</th><td>{started}</td></tr><tr><th>Login driver</th><td>{driver}</td></tr>\
         <tr><th>Suite</th><td>eid-conformance {version}</td></tr>\
         <tr><th>Verdicts</th><td>{counts}</td></tr></table>",
        plan = escape(&report.plan),
        summary = escape(&report.summary),
        issuer = escape(&report.issuer),
        started = utc(report.started_at),
        driver = escape(&report.driver),
        version = escape(&report.suite_version),
        counts = [
            Verdict::Passed,
            Verdict::Failed,
            Verdict::Warning,
            Verdict::Review,
            Verdict::Skipped
        ]
        .iter()
        .map(|v| format!("<span class=\"{v}\">{v}</span> {}", report.count(*v)))
        .collect::<Vec<_>>()
        .join(" · "),
    );
    for danger in &report.dangers {
        let _ = write!(out, "<p class=\"danger\">{}</p>", escape(danger));
    }
    let _ = write!(
        out,
        "<h2>Summary</h2><table><tr><th>Module</th><th>Verdict</th><th>Why</th></tr>"
    );
    for m in &report.modules {
        let _ = write!(
            out,
            "<tr><td><a href=\"#{id}\"><code>{id}</code></a></td><td class=\"v {v}\">{v}</td><td>{why}</td></tr>",
            id = escape(&m.id),
            v = m.verdict,
            why = escape(m.reason.as_deref().unwrap_or_default()),
        );
    }
    let _ = write!(out, "</table><h2>Modules</h2>");
    for m in &report.modules {
        let _ = write!(
            out,
            "<section id=\"{id}\"><h3><code>{id}</code> <span class=\"v {v}\">{v}</span></h3><p>{summary}</p>\
             <table class=\"log\">",
            id = escape(&m.id),
            v = m.verdict,
            summary = escape(&m.summary),
        );
        for entry in &m.log {
            let _ = write!(out, "<tr><td>{} ms</td><td>", entry.at_ms);
            match &entry.item {
                Item::Check {
                    condition,
                    outcome,
                    message,
                    requirement,
                } => {
                    let class = match outcome {
                        Outcome::Info => "info",
                        Outcome::Success => "success",
                        Outcome::Warning => "warning",
                        Outcome::Failure => "failure",
                        Outcome::Review => "review",
                    };
                    let _ = write!(
                        out,
                        "<span class=\"{class}\">{class}</span> <code>{}</code> {}{}",
                        escape(condition),
                        escape(message),
                        requirement
                            .as_deref()
                            .map(|r| format!(" <small>({})</small>", escape(r)))
                            .unwrap_or_default()
                    );
                }
                Item::Http(x) => {
                    let headers = |h: &[(String, String)]| {
                        h.iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    };
                    let _ = write!(
                        out,
                        "<details><summary><code>{} {}</code> → {}</summary>\
                         <pre>{}{}</pre><pre>{}\n\n{}</pre></details>",
                        escape(&x.method),
                        escape(&x.url),
                        x.status
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "no answer".into()),
                        escape(&headers(&x.request_headers)),
                        x.request_body
                            .as_deref()
                            .map(|b| format!("\n\n{}", escape(b)))
                            .unwrap_or_default(),
                        escape(&headers(&x.response_headers)),
                        escape(&x.response_body),
                    );
                }
            }
            let _ = write!(out, "</td></tr>");
        }
        let _ = write!(out, "</table></section>");
    }
    let _ = writeln!(out, "</body></html>");
    out
}

/// Writes `<plan>.json`, `<plan>.junit.xml` and `<plan>.html` into `dir`.
pub fn write_all(report: &PlanReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (ext, body) in [
        ("json", json(report)),
        ("junit.xml", junit(report)),
        ("html", html(report)),
    ] {
        let path = dir.join(format!("{}.{ext}", report.plan));
        std::fs::write(&path, body)?;
        written.push(path);
    }
    Ok(written)
}

/// A line per module, for the terminal.
pub fn text(report: &PlanReport) -> String {
    let mut out = format!("plan {} against {}\n", report.plan, report.issuer);
    for m in &report.modules {
        let _ = writeln!(
            out,
            "  {:<8} {}{}",
            m.verdict.as_str(),
            m.id,
            m.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "  {} passed, {} failed, {} warnings, {} to review, {} skipped",
        report.count(Verdict::Passed),
        report.count(Verdict::Failed),
        report.count(Verdict::Warning),
        report.count(Verdict::Review),
        report.count(Verdict::Skipped)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Entry, ModuleReport};

    fn report() -> PlanReport {
        PlanReport {
            plan: "oidcc-basic".into(),
            summary: "s".into(),
            issuer: "https://op.example".into(),
            driver: "form".into(),
            suite_version: "0".into(),
            started_at: 1_764_028_800,
            duration_ms: 1500,
            dangers: vec![],
            modules: vec![
                ModuleReport {
                    id: "oidcc-server".into(),
                    summary: "happy".into(),
                    verdict: Verdict::Failed,
                    reason: Some("iss <missing> & \"wrong\"".into()),
                    duration_ms: 10,
                    log: vec![Entry {
                        at_ms: 1,
                        item: Item::Check {
                            condition: "C".into(),
                            outcome: Outcome::Failure,
                            message: "<script>alert(1)</script>".into(),
                            requirement: None,
                        },
                    }],
                },
                ModuleReport {
                    id: "oidcc-refresh-token".into(),
                    summary: "r".into(),
                    verdict: Verdict::Skipped,
                    reason: Some("no refresh_token grant".into()),
                    duration_ms: 1,
                    log: vec![],
                },
            ],
        }
    }

    #[test]
    fn unix_seconds_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_764_028_800), "2025-11-25T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn junit_counts_failures_and_skips_and_escapes() {
        let xml = junit(&report());
        assert!(
            xml.contains(r#"tests="2" failures="1" skipped="1""#),
            "{xml}"
        );
        assert!(
            xml.contains("iss &lt;missing&gt; &amp; &quot;wrong&quot;"),
            "{xml}"
        );
        assert!(xml.contains("<skipped message=\"no refresh_token grant\"/>"));
    }

    #[test]
    fn the_html_page_escapes_what_the_provider_said() {
        let page = html(&report());
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("<td class=\"v FAILED\">FAILED</td>"));
    }
}
