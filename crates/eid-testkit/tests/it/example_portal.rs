//! The example relying party (`examples/department-portal`, run in process) as a department
//! integrates one-click login and sign-out: a login started by a third party
//! (`/initiate-login`, OIDC Core §4) lands on the page it named; a deep link logs in again at
//! once with eid's session; eid's back-channel logout ends the portal's session. And the
//! refusals: another issuer, a target on another origin, forged, unsigned or misused logout
//! tokens (nothing ends) and a front-channel logout from another issuer.

use std::time::Duration;

use eid_core::clients::ClientRegistration;
use eid_core::keys::JwsAlg;
use eid_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use url::Url;

use crate::support::*;

const RENEW: &str = "/services/driving-licence/renew";

/// The portal running in process, registered with eid as `registration` says.
struct Portal {
    url: String,
    client_id: String,
    client_secret: String,
    handle: actix_web::dev::ServerHandle,
}

impl Portal {
    async fn start(server: &TestServer, alg: JwsAlg) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://localhost:{}", listener.local_addr()?.port());
        let mut registration =
            ClientRegistration::new("Department portal", &[format!("{url}/callback")], alg);
        registration.backchannel_logout_uri = Some(format!("{url}/backchannel-logout"));
        registration.initiate_login_uri = Some(format!("{url}/initiate-login"));
        let new = server.register_client(registration).await?;
        let client_id = new.client.client_id.into_string();
        let running = department_portal::serve(
            department_portal::Args {
                issuer: server.issuer(),
                client_id: client_id.clone(),
                client_secret: new.client_secret.clone(),
                listen: String::new(),
                redirect_uri: format!("{url}/callback"),
                id_token_alg: match alg {
                    JwsAlg::Es256 => department_portal::IdTokenAlg::Es256,
                    JwsAlg::Rs256 => department_portal::IdTokenAlg::Rs256,
                },
            },
            Some(listener),
        )
        .await?;
        let handle = running.handle();
        tokio::spawn(running);
        Ok(Self {
            url,
            client_id,
            client_secret: new.client_secret,
            handle,
        })
    }

    fn initiate_login(&self, params: &[(&str, &str)]) -> anyhow::Result<Url> {
        Ok(Url::parse_with_params(
            &format!("{}/initiate-login", self.url),
            params,
        )?)
    }
}

/// The renew page as `browser` sees it: `Ok(html)` when logged in, `Err(location)` when the
/// portal sends it to log in.
async fn renew_page(browser: &Browser, portal: &Portal) -> anyhow::Result<Result<String, String>> {
    let response = browser
        .http
        .get(format!("{}{RENEW}", portal.url))
        .send()
        .await?;
    Ok(match response.status().as_u16() {
        200 => Ok(response.text().await?),
        303 => Err(location(&response)?),
        other => anyhow::bail!("the renew page answered {other}"),
    })
}

/// Posts `token` to the portal's back-channel logout endpoint: the status and the JSON error.
async fn post_logout_token(portal: &Portal, token: Option<&str>) -> anyhow::Result<(u16, Value)> {
    let http = reqwest::Client::new();
    let request = http.post(format!("{}/backchannel-logout", portal.url));
    let response = match token {
        Some(token) => request.form(&[("logout_token", token)]),
        None => request.form(&[("something_else", "x")]),
    }
    .send()
    .await?;
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(cache == "no-store", "the answer may be cached: {cache:?}");
    let body = response.text().await?;
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// A code for the portal's client from `browser`'s eid session (no phone), exchanged as the
/// portal would: the ID token, genuinely signed by eid for the portal.
async fn id_token_for_portal(
    server: &TestServer,
    browser: &Browser,
    portal: &Portal,
) -> anyhow::Result<String> {
    let verifier = eid_core::crypto::random_token();
    let redirect_uri = format!("{}/callback", portal.url);
    let authorize = Url::parse_with_params(
        &format!("{}/authorize", server.issuer()),
        &[
            ("response_type", "code"),
            ("client_id", &portal.client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", "openid"),
            ("state", "s1"),
            ("nonce", "n1"),
            (
                "code_challenge",
                &eid_core::oidc::pkce::challenge_of(&verifier),
            ),
            ("code_challenge_method", "S256"),
        ],
    )?;
    let callback = browser.answered(&authorize).await?;
    let code = callback
        .param("code")
        .ok_or_else(|| anyhow::anyhow!("no code: {}", callback.url))?;
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .basic_auth(&portal.client_id, Some(&portal.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(tokens["id_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id_token: {tokens}"))?
        .to_owned())
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn portal_single_sign_on_and_logout(backend: Backend) -> anyhow::Result<()> {
    let server = start(backend).await?;
    let mut wallet = proven_wallet(&server, 0).await?;
    // ES256 here (the browser test's portal is RS256): both algorithms verify logout tokens.
    let portal = Portal::start(&server, JwsAlg::Es256).await?;
    let issuer = server.issuer();
    let target = format!("{}{RENEW}", portal.url);
    let name = server.residents()[0].english_name.clone();

    // /initiate-login refuses another issuer (also one that differs only by a slash) and a
    // target outside the portal's origin, before anything is sent to eid.
    let stranger = Browser::new();
    let other_origin = target.replace("localhost", "127.0.0.1");
    for (params, why) in [
        (vec![], "(iss)"),
        (
            vec![("iss", "https://evil.example")],
            "Unknown identity provider",
        ),
        (
            vec![("iss", &*format!("{issuer}/"))],
            "Unknown identity provider",
        ),
        (
            vec![
                ("iss", &*issuer),
                ("target_link_uri", "https://evil.example/"),
            ],
            "Link refused",
        ),
        (
            vec![("iss", &*issuer), ("target_link_uri", "//evil.example/x")],
            "Link refused",
        ),
        (
            vec![("iss", &*issuer), ("target_link_uri", &*other_origin)],
            "Link refused",
        ),
        (
            vec![("iss", &*issuer), ("target_link_uri", "/services/x")],
            "Link refused",
        ),
    ] {
        let url = portal.initiate_login(&params)?;
        let response = stranger.http.get(url.clone()).send().await?;
        assert_eq!(response.status(), 400, "{url} ({why})");
        assert!(response.headers().get("location").is_none(), "{url}");
        let page = response.text().await?;
        assert!(page.contains(why), "{url}: {page}");
    }

    // Started by a third party with a target and a login hint: eid's QR login (no session
    // yet), then the callback lands on the target.
    let browser = Browser::new();
    let start = browser
        .http
        .get(portal.initiate_login(&[
            ("iss", &issuer),
            ("target_link_uri", &target),
            ("login_hint", "citizen"),
        ])?)
        .send()
        .await?;
    assert_eq!(start.status(), 303);
    let authorize = Url::parse(&location(&start)?)?;
    assert!(authorize
        .as_str()
        .starts_with(&format!("{issuer}/authorize")));
    assert!(authorize
        .query_pairs()
        .any(|(k, v)| k == "login_hint" && v == "citizen"));
    let page = browser.open_login(&server, &authorize).await?;
    phone_approves(&mut wallet, &page).await?;
    let (callback, _) = continue_login(&server, &browser, &page.url).await?;
    let landed = browser.http.get(callback.url.clone()).send().await?;
    assert_eq!(landed.status(), 303, "{}", landed.text().await?);
    assert_eq!(location(&landed)?, target);
    let renew = renew_page(&browser, &portal).await?.expect("logged in");
    assert!(renew.contains(&name), "{renew}");
    assert!(renew.contains("續領駕駛執照"));

    // Logged out of the portal only, the deep link logs in again at once: eid's session
    // answers (no login page, no phone), and the browser is back on the page.
    let out = browser
        .http
        .get(format!("{}/logout", portal.url))
        .send()
        .await?;
    assert_eq!(out.status(), 303);
    let to_eid = renew_page(&browser, &portal)
        .await?
        .expect_err("logged out of the portal");
    let answered = browser.answered(&Url::parse(&to_eid)?).await?;
    assert!(answered
        .url
        .as_str()
        .starts_with(&format!("{}/callback", portal.url)));
    let landed = browser.http.get(answered.url.clone()).send().await?;
    assert_eq!(location(&landed)?, target);
    assert!(renew_page(&browser, &portal).await?.is_ok());

    // A callback the portal did not ask for (another site can send the browser there) is
    // refused and does not log the citizen out.
    let stray = browser
        .http
        .get(format!("{}/callback?code=x&state=y", portal.url))
        .send()
        .await?;
    assert_eq!(stray.status(), 400);
    assert!(renew_page(&browser, &portal).await?.is_ok());

    // Forged, unsigned and misused logout tokens: 400 with an error, and the session stays.
    let now = eid_server::now().secs();
    let claims = json!({
        "iss": issuer, "aud": portal.client_id, "iat": now, "exp": now + 120,
        "jti": "forged-1", "sub": "anyone", "events": {
            "http://schemas.openid.net/event/backchannel-logout": {}
        },
    });
    let eid_kid = server
        .provider()
        .jwks()
        .keys
        .iter()
        .find(|k| k.kty == "EC")
        .map(|k| k.kid.clone())
        .expect("eid publishes an ES256 key");
    let attacker = p256::ecdsa::SigningKey::from_slice(&eid_core::crypto::random_bytes::<32>())?;
    let unsigned = format!(
        "{}.{}.",
        b64url(
            json!({"alg": "none", "typ": "logout+jwt"})
                .to_string()
                .as_bytes()
        ),
        b64url(claims.to_string().as_bytes())
    );
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            typ: Some("logout+jwt".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(portal.client_secret.as_bytes()),
    )?;
    // eid's genuine ID token for the portal: signed by eid, but not a logout token.
    let id_token = id_token_for_portal(&server, &browser, &portal).await?;
    for (token, why) in [
        (None, "form"),
        (Some("not.a.jwt".to_owned()), "header"),
        (Some(unsigned), "none"),
        (Some(hs256), "HS256"),
        (
            Some(eid_core::jose::sign_es256(
                &attacker,
                &eid_kid,
                "logout+jwt",
                &claims,
            )),
            "bad signature",
        ),
        (
            Some(eid_core::jose::sign_es256(
                &attacker,
                "attackers-key",
                "logout+jwt",
                &claims,
            )),
            "does not publish",
        ),
        (Some(id_token), "typ"),
    ] {
        let (status, body) = post_logout_token(&portal, token.as_deref()).await?;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["error"], "invalid_request", "{why}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(why), "{why}: {description}");
        assert!(
            renew_page(&browser, &portal).await?.is_ok(),
            "a refused logout token ({why}) ended the session"
        );
    }

    // A front-channel logout from another issuer, or without one, ends nothing.
    for query in [
        "iss=https%3A%2F%2Fevil.example&sid=x".to_owned(),
        "sid=x".to_owned(),
    ] {
        let response = reqwest::get(format!("{}/frontchannel-logout?{query}", portal.url)).await?;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    let other_sid = Url::parse_with_params(
        &format!("{}/frontchannel-logout", portal.url),
        &[("iss", issuer.as_str()), ("sid", "no-such-login")],
    )?;
    assert_eq!(reqwest::get(other_sid).await?.status(), 200);
    assert!(renew_page(&browser, &portal).await?.is_ok());

    // The citizen signs out everywhere from the phone: eid posts a logout token for each of
    // the session's logins; the portal verifies it and ends its session.
    wallet.end_browser_sessions().await?;
    let mut ended = false;
    for _ in 0..150 {
        if renew_page(&browser, &portal).await?.is_err() {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ended,
        "the portal's session outlived the back-channel logout"
    );
    let home = browser
        .http
        .get(format!("{}/", portal.url))
        .send()
        .await?
        .text()
        .await?;
    assert!(home.contains("Log in with eid"), "{home}");

    portal.handle.stop(false).await;
    server.stop().await;
    Ok(())
}

on_every_backend!(
    the_example_portal_logs_in_once_and_hears_sign_outs,
    portal_single_sign_on_and_logout
);
