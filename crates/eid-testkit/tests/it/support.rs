//! The relying party (openidconnect), the browser (reqwest with cookies, no auto-redirects)
//! and the phone (eid-wallet), wired together.

use anyhow::{anyhow, bail, Context as _};
use eid_proto::api::{EnrolmentRequest, ProofingEvidence};
use eid_testkit::{Backend, Resident, TestOptions, TestServer};
use eid_wallet::Wallet;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use url::Url;

pub const REDIRECT_URI: &str = "http://localhost:3000/callback";

/// The sandbox registry binary, run by the test kit as a process of its own.
pub const REGISTRY_EXE: &str = env!("CARGO_BIN_EXE_eid-testkit-registry");

/// Options with the sandbox registry.
pub fn with_registry() -> TestOptions {
    TestOptions::with_registry(REGISTRY_EXE)
}

/// A server with its sandbox registry and test residents.
pub async fn start(backend: Backend) -> anyhow::Result<TestServer> {
    TestServer::start_with(backend, with_registry()).await
}

pub type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A relying party, as a department would integrate eid.
pub struct Rp {
    pub client: Client,
    pub client_id: String,
    pub client_secret: String,
    pub http: openidconnect::reqwest::Client,
    pub alg: CoreJwsSigningAlgorithm,
}

/// One authorization request as the RP made it.
pub struct AuthStart {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl Rp {
    /// Registers a client on the server and discovers the provider.
    pub async fn register(
        server: &TestServer,
        name: &str,
        alg: eid_core::keys::JwsAlg,
    ) -> anyhow::Result<Self> {
        let (client_id, client_secret) = server.add_client(name, REDIRECT_URI, alg).await?;
        Self::discover(server, client_id, Some(client_secret), alg).await
    }

    /// A relying party for a client already registered; without a secret for a client that
    /// authenticates with a JWT it signs.
    pub async fn discover(
        server: &TestServer,
        client_id: String,
        client_secret: Option<String>,
        alg: eid_core::keys::JwsAlg,
    ) -> anyhow::Result<Self> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()?;
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer())?, &http)
                .await
                .context("discovery")?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.clone()),
            client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned())?);
        let alg = match alg {
            eid_core::keys::JwsAlg::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            eid_core::keys::JwsAlg::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        };
        Ok(Self {
            client,
            client_id,
            client_secret: client_secret.unwrap_or_default(),
            http,
            alg,
        })
    }

    /// A fresh authorization request with PKCE, state and nonce.
    pub fn start(&self) -> AuthStart {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("phone".into()))
            .set_pkce_challenge(challenge)
            .url();
        AuthStart {
            url,
            state,
            nonce,
            verifier,
        }
    }

    /// Exchanges a code.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> anyhow::Result<CoreTokenResponse> {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_owned()))?
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow!("token request failed: {e:?}"))
    }

    /// Verifies the ID token (signature with the client's algorithm, iss, aud, exp, nonce) and
    /// its at_hash.
    pub fn verify(
        &self,
        tokens: &CoreTokenResponse,
        nonce: &Nonce,
    ) -> anyhow::Result<CoreIdTokenClaims> {
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(vec![self.alg.clone()]);
        let id_token = tokens.id_token().ok_or_else(|| anyhow!("no id_token"))?;
        let claims = id_token.claims(&verifier, nonce)?.clone();
        let expected = claims
            .access_token_hash()
            .ok_or_else(|| anyhow!("no at_hash"))?;
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg()?,
            id_token.signing_key(&verifier)?,
        )?;
        if &actual != expected {
            bail!("at_hash does not match the access token");
        }
        Ok(claims)
    }

    /// Calls userinfo for the verified subject.
    pub async fn userinfo(
        &self,
        tokens: &CoreTokenResponse,
        claims: &CoreIdTokenClaims,
    ) -> anyhow::Result<CoreUserInfoClaims> {
        Ok(self
            .client
            .user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            )?
            .request_async(&self.http)
            .await?)
    }
}

/// A browser: keeps cookies, does not follow redirects on its own.
pub struct Browser {
    pub http: reqwest::Client,
}

/// What the browser sees after the phone has answered.
#[derive(Debug)]
pub enum Next {
    /// Whose account approved, with "continue" and "not me".
    Approved {
        action: String,
        csrf: String,
        account: String,
        html: String,
    },
    Redirect(Url),
}

/// A login page while it waits for the phone.
#[derive(Debug, Clone)]
pub struct LoginPage {
    pub url: String,
    /// The approval link (the QR code's payload) shown now.
    pub link: String,
    /// The number the phone must pick.
    pub number: u8,
}

/// Where the client was sent back to, with the parameters.
#[derive(Debug)]
pub struct Callback {
    pub url: Url,
}

impl Callback {
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The provider's discovery document.
pub async fn discovery(server: &TestServer) -> anyhow::Result<serde_json::Value> {
    Ok(reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        server.issuer()
    ))
    .await?
    .json()
    .await?)
}

/// A page whose form posts the authorization response (response_mode=form_post): the form's
/// action, its fields, and the page's Content-Security-Policy.
pub async fn form_post(response: reqwest::Response) -> anyhow::Result<(String, Callback, String)> {
    anyhow::ensure!(
        response.status() == 200,
        "form_post answered {}",
        response.status()
    );
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let html = response.text().await?;
    let action = unescape(
        between(&html, "method=\"post\" action=\"", "\"")
            .ok_or_else(|| anyhow!("no form in {html}"))?,
    );
    let mut url = Url::parse(&action)?;
    let mut rest = html.as_str();
    while let Some(name) = between(rest, "type=\"hidden\" name=\"", "\"") {
        let value = between(rest, &format!("name=\"{name}\" value=\""), "\"").unwrap_or_default();
        url.query_pairs_mut()
            .append_pair(&unescape(name), &unescape(value));
        let at = rest.find(&format!("name=\"{name}\"")).unwrap_or(0) + name.len();
        rest = &rest[at..];
    }
    Ok((action, Callback { url }, csp))
}

pub fn between<'a>(haystack: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = haystack.find(start)? + start.len();
    let len = haystack[from..].find(end)?;
    Some(&haystack[from..from + len])
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new() -> Self {
        Self::with_user_agent("eid-testkit")
    }

    /// A browser that says it is `user_agent`.
    pub fn with_user_agent(user_agent: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(user_agent)
                .build()
                .expect("reqwest client"),
        }
    }

    /// Follows the authorization URL to the login page.
    pub async fn open_login(
        &self,
        server: &TestServer,
        authorize: &Url,
    ) -> anyhow::Result<LoginPage> {
        let response = self.http.get(authorize.clone()).send().await?;
        if response.status() != reqwest::StatusCode::SEE_OTHER {
            bail!(
                "authorize answered {} ({})",
                response.status(),
                response.text().await?
            );
        }
        let location = location(&response)?;
        let login_url = if location.starts_with('/') {
            server.url(&location)
        } else {
            location
        };
        self.waiting_page(&login_url).await
    }

    /// Follows an authorization URL that the browser's single sign-on session answers: straight
    /// back to the client, with no login page and no phone.
    pub async fn answered(&self, authorize: &Url) -> anyhow::Result<Callback> {
        let response = self.http.get(authorize.clone()).send().await?;
        anyhow::ensure!(
            response.status() == reqwest::StatusCode::SEE_OTHER,
            "authorize answered {}",
            response.status()
        );
        let location = location(&response)?;
        anyhow::ensure!(
            !location.starts_with("/login/"),
            "a login page, not an answer from the session: {location}"
        );
        Ok(Callback {
            url: Url::parse(&location)?,
        })
    }

    /// Loads a login page that waits for the phone (a reload shows the current QR code).
    pub async fn waiting_page(&self, login_url: &str) -> anyhow::Result<LoginPage> {
        let page = self.http.get(login_url).send().await?;
        anyhow::ensure!(
            page.status() == 200,
            "login page answered {}",
            page.status()
        );
        let csp = page
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(
            csp.contains("frame-ancestors 'none'"),
            "login page lacks its CSP"
        );
        let html = page.text().await?;
        anyhow::ensure!(html.contains("<svg"), "login page has no QR code: {html}");
        let link = between(&html, "id=\"approve-url\" href=\"", "\"")
            .ok_or_else(|| anyhow!("no approve-url link on the login page"))?;
        let number = between(&html, "<strong id=\"number\">", "</strong>")
            .ok_or_else(|| anyhow!("no number on the login page"))?
            .parse()?;
        Ok(LoginPage {
            url: login_url.to_owned(),
            link: unescape(link),
            number,
        })
    }

    /// Reloads the login page after the phone answered: whose account approved, or straight
    /// back to the client (an error).
    pub async fn after_approval(
        &self,
        server: &TestServer,
        login_url: &str,
    ) -> anyhow::Result<Next> {
        let response = self.http.get(login_url).send().await?;
        match response.status().as_u16() {
            303 => Ok(Next::Redirect(Url::parse(&location(&response)?)?)),
            200 => {
                let html = response.text().await?;
                let action = between(&html, "<form method=\"post\" action=\"", "\"")
                    .ok_or_else(|| anyhow!("neither a redirect nor a form: {html}"))?;
                let csrf = between(&html, "name=\"csrf_token\" value=\"", "\"")
                    .ok_or_else(|| anyhow!("form without csrf_token"))?;
                let account =
                    between(&html, "<span id=\"account\">", "</span>").ok_or_else(|| {
                        anyhow!("the page does not say whose account approved: {html}")
                    })?;
                anyhow::ensure!(html.contains("並非本人"), "the page is not bilingual");
                Ok(Next::Approved {
                    action: server.url(&unescape(action)),
                    csrf: unescape(csrf),
                    account: unescape(account),
                    html,
                })
            }
            other => bail!("login page answered {other}: {}", response.text().await?),
        }
    }

    /// Submits a login page's form with `action` (`continue`, `not_me`, `renew`, `cancel`).
    pub async fn answer(
        &self,
        form_action: &str,
        csrf: &str,
        action: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .post(form_action)
            .form(&[("csrf_token", csrf), ("action", action)])
            .send()
            .await?)
    }
}

/// The phone reads the request of a login page and approves it with the page's number,
/// sharing everything offered and remembering the choice.
pub async fn phone_approves(
    wallet: &mut Wallet,
    page: &LoginPage,
) -> anyhow::Result<eid_proto::api::ApprovalRequest> {
    let request = wallet.fetch_approval(&page.link).await?;
    // The citizen is at the browser and stays signed in to eid there (single sign-on).
    let decision =
        eid_wallet::staying_signed_in(eid_wallet::approve_all(&request, page.number, true));
    let result = wallet.answer(&request, &page.link, &decision).await?;
    anyhow::ensure!(result.status == "approved", "phone: {}", result.status);
    Ok(request)
}

pub fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    Ok(response
        .headers()
        .get("location")
        .ok_or_else(|| anyhow!("no Location header"))?
        .to_str()?
        .to_owned())
}

/// An application for a resident, with contact details nothing will prove.
pub fn application(resident: &Resident) -> EnrolmentRequest {
    EnrolmentRequest {
        english_name: resident.english_name.clone(),
        chinese_name: Some(resident.chinese_name.clone()),
        date_of_birth: resident.date_of_birth.clone(),
        gender: resident.gender.clone(),
        hkid: resident.hkid.clone(),
        email: Some("citizen@example.hk".into()),
        phone: Some("+852 9123 4567".into()),
        address: Some("1 Queen's Road Central, Hong Kong".into()),
        device_name: "Test phone".into(),
    }
}

/// What a resident's phone reads from their card, with the live capture of their face.
pub fn evidence(server: &TestServer, resident: &Resident) -> anyhow::Result<ProofingEvidence> {
    Ok(ProofingEvidence {
        hkid: resident.hkid.clone(),
        english_name: resident.english_name.clone(),
        date_of_birth: resident.date_of_birth.clone(),
        face_template: server.capture(resident)?,
        capture: None,
    })
}

/// A wallet that applied for resident `index` (not proven).
pub async fn applied_wallet(server: &TestServer, index: usize) -> anyhow::Result<Wallet> {
    let mut wallet = Wallet::in_memory();
    wallet
        .enrol(
            &Url::parse(&server.issuer())?,
            &application(&server.residents()[index]),
        )
        .await?;
    wallet.set_capture_signer(Some(server.capture_signer(&server.residents()[index])?));
    Ok(wallet)
}

/// A wallet of resident `index`, proven remotely (level basic).
pub async fn proven_wallet(server: &TestServer, index: usize) -> anyhow::Result<Wallet> {
    let mut wallet = applied_wallet(server, index).await?;
    let resident = server.residents()[index].clone();
    wallet.prove(&evidence(server, &resident)?).await?;
    Ok(wallet)
}

/// A whole login up to the client's callback: authorize, QR page, the phone's approval (the
/// page's number, everything shared), the page showing whose account approved, continue.
/// Returns the masked account name the page showed.
pub async fn login_to_callback(
    server: &TestServer,
    rp: &Rp,
    browser: &Browser,
    wallet: &mut Wallet,
) -> anyhow::Result<(AuthStart, Callback, String)> {
    login_to_callback_with(server, rp, browser, wallet, &[]).await
}

/// A login whose authorization request has extra or replaced parameters
/// (`("acr_values", "urn:eid:loa:plus")`, `("scope", "openid address")`).
pub async fn login_to_callback_with(
    server: &TestServer,
    rp: &Rp,
    browser: &Browser,
    wallet: &mut Wallet,
    params: &[(&str, &str)],
) -> anyhow::Result<(AuthStart, Callback, String)> {
    let mut start = rp.start();
    for (name, value) in params {
        start.url = with_param(&start.url, name, Some(value));
    }
    let page = browser.open_login(server, &start.url).await?;
    let request = phone_approves(wallet, &page).await?;
    anyhow::ensure!(
        request.service.client_id == rp.client_id,
        "approval names the wrong service"
    );
    let (callback, account) = continue_login(server, browser, &page.url).await?;
    Ok((start, callback, account))
}

/// After the phone approved: the page shows whose account approved; continue to the client.
pub async fn continue_login(
    server: &TestServer,
    browser: &Browser,
    login_url: &str,
) -> anyhow::Result<(Callback, String)> {
    match browser.after_approval(server, login_url).await? {
        Next::Redirect(url) => bail!("sent back to the client before continuing: {url}"),
        Next::Approved {
            action,
            csrf,
            account,
            ..
        } => {
            let response = browser.answer(&action, &csrf, "continue").await?;
            anyhow::ensure!(
                response.status() == 303,
                "continue answered {}",
                response.status()
            );
            Ok((
                Callback {
                    url: Url::parse(&location(&response)?)?,
                },
                account,
            ))
        }
    }
}

/// A whole login through token exchange and ID token verification.
pub async fn login(
    server: &TestServer,
    rp: &Rp,
    browser: &Browser,
    wallet: &mut Wallet,
) -> anyhow::Result<(CoreTokenResponse, CoreIdTokenClaims)> {
    login_with(server, rp, browser, wallet, &[]).await
}

/// [`login`] with extra or replaced authorization parameters.
pub async fn login_with(
    server: &TestServer,
    rp: &Rp,
    browser: &Browser,
    wallet: &mut Wallet,
    params: &[(&str, &str)],
) -> anyhow::Result<(CoreTokenResponse, CoreIdTokenClaims)> {
    let (start, callback, _) = login_to_callback_with(server, rp, browser, wallet, params).await?;
    anyhow::ensure!(
        callback.param("state").as_deref() == Some(start.state.secret().as_str()),
        "state mismatch"
    );
    anyhow::ensure!(
        callback.param("iss") == Some(server.issuer()),
        "iss mismatch (RFC 9207)"
    );
    let code = callback
        .param("code")
        .ok_or_else(|| anyhow!("no code in {}", callback.url))?;
    let tokens = rp.exchange(&code, start.verifier).await?;
    let claims = rp.verify(&tokens, &start.nonce)?;
    Ok((tokens, claims))
}

/// `url` with query parameter `name` replaced by `value` (or removed for `None`).
pub fn with_param(url: &Url, name: &str, value: Option<&str>) -> Url {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(value) = value {
        pairs.push((name.to_owned(), value.to_owned()));
    }
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

/// One test per backend for a scenario `async fn(Backend) -> anyhow::Result<()>`: SQLite
/// always, PostgreSQL when `DATABASE_URL` is set (a failure when `EID_REQUIRE_POSTGRES=1` and
/// it is not). Separate tests, so one backend's failure does not hide the other's.
macro_rules! on_every_backend {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$scenario(eid_testkit::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                match eid_testkit::backends()?
                    .into_iter()
                    .find(|b| matches!(b, eid_testkit::Backend::Postgres(_)))
                {
                    Some(backend) => super::$scenario(backend).await,
                    None => {
                        eprintln!("PostgreSQL is not configured (DATABASE_URL): skipped");
                        Ok(())
                    }
                }
            }
        }
    };
}
pub(crate) use on_every_backend;

/// Asserts that `body` leaves every stored row as it was (the audit trail and rate-limit
/// counters aside, which record attempts: `eid_store::Database::fingerprint`). With
/// `except ["table", ..]`, those tables may change too: the call site says why.
macro_rules! unchanged {
    ($server:expr, except [$($table:literal),*], $body:expr) => {{
        let before = $server.fingerprint().await?;
        let out = $body;
        let after = $server.fingerprint().await?;
        let changed = $crate::support::fingerprint_changes(&before, &after, &[$($table),*]);
        assert!(
            changed.is_empty(),
            "a refused request changed stored data:\n{}",
            changed.join("\n")
        );
        out
    }};
    ($server:expr, $body:expr) => {
        $crate::support::unchanged!($server, except [], $body)
    };
}
pub(crate) use unchanged;

/// The rows that differ between two fingerprints, table by table (`- ` gone, `+ ` new),
/// leaving out the tables in `ignoring`.
pub fn fingerprint_changes(before: &[String], after: &[String], ignoring: &[&str]) -> Vec<String> {
    /// Rows by table: a table's header line (`name: N rows`), then its rows, indented.
    fn tables(lines: &[String]) -> std::collections::BTreeMap<&str, Vec<&str>> {
        let mut out = std::collections::BTreeMap::new();
        let mut table = "";
        for line in lines {
            match line.strip_prefix("  ") {
                Some(row) => out.entry(table).or_insert_with(Vec::new).push(row),
                None => {
                    table = line.split(':').next().unwrap_or(line);
                    out.entry(table).or_insert_with(Vec::new);
                }
            }
        }
        out
    }
    let (before, after) = (tables(before), tables(after));
    let mut changes = Vec::new();
    let names: std::collections::BTreeSet<&str> =
        before.keys().chain(after.keys()).copied().collect();
    for name in names.into_iter().filter(|n| !ignoring.contains(n)) {
        let (old, new) = (
            before.get(name).cloned().unwrap_or_default(),
            after.get(name).cloned().unwrap_or_default(),
        );
        changes.extend(
            old.iter()
                .filter(|r| !new.contains(r))
                .map(|r| format!("{name} - {r}")),
        );
        changes.extend(
            new.iter()
                .filter(|r| !old.contains(r))
                .map(|r| format!("{name} + {r}")),
        );
    }
    changes
}

/// A site's pages: by path, the content type and the body.
type Pages = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (String, Vec<u8>)>>>;

/// A relying party's own site, serving what the test puts at each path (key sets, sector
/// documents, request objects) for eid to fetch; anything else is 404.
pub struct Site {
    base: String,
    pages: Pages,
    handle: actix_web::dev::ServerHandle,
}

impl Site {
    pub async fn start() -> anyhow::Result<Self> {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let pages: Pages = Default::default();
        let served = pages.clone();
        let server = HttpServer::new(move || {
            let served = served.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let page = served.lock().ok().and_then(|p| p.get(req.path()).cloned());
                async move {
                    match page {
                        Some((content_type, body)) => {
                            HttpResponse::Ok().content_type(content_type).body(body)
                        }
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")?;
        let port = server.addrs()[0].port();
        let running = server.run();
        let handle = running.handle();
        tokio::spawn(running);
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            pages,
            handle,
        })
    }

    /// The URL of `path` on the site.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `body` as `content_type` at `path` (replacing what was there).
    pub fn put(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(path.to_owned(), (content_type.to_owned(), body.into()));
        }
    }

    /// Serves `value` as JSON at `path`.
    pub fn json(&self, path: &str, value: &serde_json::Value) {
        self.put(path, "application/json", value.to_string());
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A relying party for a client registered with `registration` (which authenticates with its
/// secret), its ID tokens signed `alg`.
pub async fn registered_rp(
    server: &TestServer,
    registration: eid_core::clients::ClientRegistration,
) -> anyhow::Result<Rp> {
    let alg = registration.id_token_alg;
    let new = server.register_client(registration).await?;
    Rp::discover(
        server,
        new.client.client_id.clone().into_string(),
        Some(new.client_secret.clone()),
        alg,
    )
    .await
}

/// The status userinfo answers to `access_token` as a bearer token.
pub async fn userinfo_status(server: &TestServer, access_token: &str) -> anyhow::Result<u16> {
    Ok(reqwest::Client::new()
        .get(format!("{}/userinfo", server.issuer()))
        .bearer_auth(access_token)
        .send()
        .await?
        .status()
        .as_u16())
}

pub use eid_testkit::officer::{add_officer, counter_code, Officer};

/// A wallet whose account an officer proved in person (level `plus`), with the officer.
pub async fn plus_wallet(server: &TestServer, index: usize) -> anyhow::Result<(Wallet, Officer)> {
    server.plus_wallet(index).await
}
