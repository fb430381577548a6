//! The service portal over HTTP: services by theme and audience, searchable in both languages,
//! each linked to its `initiate_login_uri` with `iss` and `target_link_uri` (OIDC Core §4);
//! followed by the service's own authorization request, a signed-in browser lands with no
//! prompt.

use eid_core::catalogue::{Audience, CatalogueEntry, DeepLink, Theme};
use eid_core::keys::JwsAlg;
use eid_testkit::Backend;
use url::Url;

use crate::support::*;

fn entry(
    themes: &[Theme],
    audiences: &[Audience],
    links: &[(&str, &str, &str, &str)],
) -> CatalogueEntry {
    CatalogueEntry {
        name_zh: None,
        description_en: "A service of the example government".into(),
        description_zh: "示例政府的服務".into(),
        themes: themes.to_vec(),
        audiences: audiences.to_vec(),
        links: links
            .iter()
            .map(|(id, en, zh, target)| DeepLink {
                id: (*id).into(),
                title_en: (*en).into(),
                title_zh: (*zh).into(),
                target_link_uri: (*target).into(),
            })
            .collect(),
    }
}

async fn portal_page(
    browser: &Browser,
    server: &eid_testkit::TestServer,
    query: &str,
) -> anyhow::Result<String> {
    let response = browser
        .http
        .get(server.url(&format!("/portal{query}")))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "portal: {}", response.status());
    Ok(response.text().await?)
}

/// The `data-client` ids a portal page lists, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("data-client=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_owned))
        .collect()
}

async fn portal_by_theme_and_audience(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let transport = Rp::register(&server, "Transport Department", JwsAlg::Es256).await?;
    let grants = Rp::register(&server, "Student Finance Office", JwsAlg::Es256).await?;
    let unlisted = Rp::register(&server, "Unlisted Bank", JwsAlg::Es256).await?;
    let provider = server.provider();
    let (t, g) = (transport.client_id.clone(), grants.client_id.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut td = entry(
            &[Theme::Transport],
            &[Audience::Everyone],
            &[(
                "renew-licence",
                "Renew a driving licence",
                "續領駕駛執照",
                "http://localhost:3000/licences/renew",
            )],
        );
        td.name_zh = Some("運輸署".into());
        provider.set_catalogue_entry(
            &t,
            Some(td),
            Some("http://localhost:3000/initiate-login".into()),
            eid_server::now(),
        )?;
        provider.set_catalogue_entry(
            &g,
            Some(entry(&[Theme::Education], &[Audience::Youth], &[])),
            Some("http://localhost:3000/initiate-login".into()),
            eid_server::now(),
        )?;
        // Refused: a deep link to another origin; nothing changes for that client.
        let foreign = entry(
            &[Theme::Tax],
            &[Audience::Everyone],
            &[("x", "X", "X", "https://evil.example/x")],
        );
        assert!(provider
            .set_catalogue_entry(&g, Some(foreign), None, eid_server::now())
            .is_err());
        Ok(())
    })
    .await??;

    let browser = Browser::new();
    let everything = portal_page(&browser, &server, "").await?;
    let mut both = vec![grants.client_id.clone(), transport.client_id.clone()];
    both.sort_by_key(|id| if *id == grants.client_id { 0 } else { 1 });
    assert_eq!(
        listed(&everything),
        both,
        "by name, the unlisted client absent"
    );
    assert!(!everything.contains(&unlisted.client_id));
    assert!(everything.contains("<html lang=\"en\">"));
    assert!(everything.contains("運輸署") && everything.contains("交通"));
    assert!(
        everything.contains("<label for=\"q\">"),
        "the search box is labelled"
    );
    // By theme, by audience (a service for everyone is for the elderly too), by words in
    // either language (a deep link's title counts), and nothing for an unknown word.
    assert_eq!(
        listed(&portal_page(&browser, &server, "?theme=transport").await?),
        vec![transport.client_id.clone()]
    );
    assert_eq!(
        listed(&portal_page(&browser, &server, "?audience=youth").await?),
        both
    );
    assert_eq!(
        listed(&portal_page(&browser, &server, "?audience=elderly").await?),
        vec![transport.client_id.clone()]
    );
    assert_eq!(
        listed(&portal_page(&browser, &server, "?q=licence").await?),
        vec![transport.client_id.clone()]
    );
    assert_eq!(
        listed(&portal_page(&browser, &server, "?q=%E7%BA%8C%E9%A0%98&lang=zh-Hant-HK").await?),
        vec![transport.client_id.clone()],
        "續領 finds the deep link"
    );
    let none = portal_page(&browser, &server, "?q=submarine").await?;
    assert!(listed(&none).is_empty() && none.contains("No service matches"));
    // Odd input is shown as text, never markup, and bad filters show everything.
    let odd = portal_page(&browser, &server, "?q=%3Cscript%3E&theme=%3Cb%3E").await?;
    assert!(odd.contains("value=\"&lt;script&gt;\"") && !odd.contains("<script>"));
    let zh = portal_page(&browser, &server, "?lang=zh-Hant-HK").await?;
    assert!(zh.contains("<html lang=\"zh-Hant-HK\">") && zh.contains("政府及公共服務"));

    // The deep link: the service's initiate_login_uri with iss and target_link_uri.
    let link = between(&everything, "class=\"deep-link\" href=\"", "\"")
        .expect("a deep link")
        .replace("&amp;", "&");
    let link = Url::parse(&link)?;
    assert_eq!(link.path(), "/initiate-login");
    let q: Vec<(String, String)> = link.query_pairs().into_owned().collect();
    assert_eq!(q[0], ("iss".into(), server.issuer()));
    assert_eq!(
        q[1],
        (
            "target_link_uri".into(),
            "http://localhost:3000/licences/renew".into()
        )
    );

    // Signed in (one phone approval at the transport department), the portal says so; the
    // service's own request after the click is answered at once: no prompt.
    let mut wallet = proven_wallet(&server, 0).await?;
    login(&server, &transport, &browser, &mut wallet).await?;
    let signed_in = portal_page(&browser, &server, "").await?;
    assert!(signed_in.contains("Signed in as"), "{signed_in}");
    let start = transport.start();
    let callback = browser.answered(&start.url).await?;
    assert!(callback.param("code").is_some());
    // A service never agreed to: its request asks the phone (for consent), never silently.
    let start = grants.start();
    let response = browser.http.get(start.url.clone()).send().await?;
    assert!(location(&response)?.starts_with("/login/"));
    server.stop().await;
    Ok(())
}

on_every_backend!(
    the_portal_lists_services_by_theme_and_audience,
    portal_by_theme_and_audience
);
