//! The officer console as a registration officer's browser with a security key (the wallet's
//! authenticator plays it): enrolment by one-time link, sign-in, finding an application by
//! reference, the applying phone answering the counter's code, deciding it. Tests use it to
//! prove accounts in person (level `plus`).

use anyhow::Context as _;
use eid_proto::api::{RegistrationChallenge, SessionChallenge};
use eid_wallet::authenticator::{get_assertion, make_credential, AttestationKey, Credential};
use eid_wallet::Wallet;

use crate::TestServer;

/// The text between `start` and `end` in `haystack`.
pub fn between<'a>(haystack: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = haystack.find(start)? + start.len();
    let len = haystack[from..].find(end)?;
    Some(&haystack[from..from + len])
}

/// The one-time code a review page shows for the applicant's phone, while it waits for one.
pub fn counter_code(html: &str) -> Option<String> {
    between(html, "id=\"counter-code\">", "<").map(str::to_owned)
}

/// An officer's browser on the console, with their security key.
pub struct Officer {
    pub http: reqwest::Client,
    key: Credential,
    origin: String,
}

/// What the console answers when a key is registered.
#[derive(Debug, Clone)]
pub struct KeyRegistered {
    /// What the officer reads out to the operator.
    pub fingerprint: String,
    /// `hardware` or `software`.
    pub key: String,
}

impl Officer {
    /// Registers a software key through the enrolment link, and has the operator confirm it
    /// (the fingerprint read out): an officer who can sign in.
    pub async fn enrol(server: &TestServer, token: &str) -> anyhow::Result<Self> {
        Self::enrol_with(server, token, None).await
    }

    /// [`Officer::enrol`] with a key of an attested model (`attestation`), or a software key.
    pub async fn enrol_with(
        server: &TestServer,
        token: &str,
        attestation: Option<&AttestationKey>,
    ) -> anyhow::Result<Self> {
        let provider = server.provider();
        let t = token.to_owned();
        let officer =
            tokio::task::spawn_blocking(move || provider.officer_invite(&t, eid_server::now()))
                .await??;
        let (officer_key, registered) = Self::register(server, token, attestation).await?;
        confirm_officer(server, &officer.officer_id, &registered.fingerprint).await?;
        Ok(officer_key)
    }

    /// Registers a key through the enrolment link, unconfirmed: it signs in nobody until an
    /// operator confirms it.
    pub async fn register(
        server: &TestServer,
        token: &str,
        attestation: Option<&AttestationKey>,
    ) -> anyhow::Result<(Self, KeyRegistered)> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let origin = server.admin_origin();
        let page = http
            .get(server.admin_url(&format!("/enrol/{token}")))
            .send()
            .await?;
        anyhow::ensure!(page.status() == 200, "enrolment page: {}", page.status());
        let challenge: RegistrationChallenge = http
            .post(server.admin_url(&format!("/enrol/{token}/challenge")))
            .json(&serde_json::json!({}))
            .send()
            .await?
            .json()
            .await?;
        let (key, attested) = make_credential(&challenge.options, &origin, attestation)?;
        let done = http
            .post(server.admin_url(&format!("/enrol/{token}")))
            .json(&serde_json::json!({
                "ceremony_id": challenge.ceremony_id,
                "credential": attested,
            }))
            .send()
            .await?;
        let status = done.status();
        anyhow::ensure!(status == 201, "enrolment: {status} {}", done.text().await?);
        let body: serde_json::Value = done.json().await?;
        let field = |name: &str| {
            body[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the console's answer has no {name}: {body}"))
        };
        let registered = KeyRegistered {
            fingerprint: field("fingerprint")?,
            key: field("key")?,
        };
        Ok((Self { http, key, origin }, registered))
    }

    /// Signs in with the key; returns the session cookie's attributes.
    pub async fn sign_in(&mut self, server: &TestServer) -> anyhow::Result<reqwest::Response> {
        let challenge: SessionChallenge = self
            .http
            .post(server.admin_url("/login/challenge"))
            .json(&serde_json::json!({}))
            .send()
            .await?
            .json()
            .await?;
        let assertion = get_assertion(&mut self.key, &challenge.options, &self.origin)?;
        Ok(self
            .http
            .post(server.admin_url("/login"))
            .json(&serde_json::json!({
                "ceremony_id": challenge.ceremony_id,
                "credential": assertion,
            }))
            .send()
            .await?)
    }

    /// Opens an application by reference: (page, application id, csrf token).
    pub async fn review(
        &self,
        server: &TestServer,
        reference: &str,
    ) -> anyhow::Result<(String, String, String)> {
        let page = self
            .http
            .get(server.admin_url("/applications"))
            .query(&[("reference", reference)])
            .send()
            .await?;
        anyhow::ensure!(page.status() == 200, "review: {}", page.status());
        let html = page.text().await?;
        let id = between(&html, "action=\"/applications/", "/decision\"")
            .unwrap_or_default()
            .to_owned();
        let csrf = between(&html, "name=\"csrf_token\" value=\"", "\"")
            .unwrap_or_default()
            .to_owned();
        Ok((html, id, csrf))
    }

    /// Opens an application and has `wallet` (the applying phone, or an upgrade's phone of
    /// the account) answer the counter's code: the page after (page, application id, csrf
    /// token), ready to approve.
    pub async fn review_with_phone(
        &self,
        server: &TestServer,
        reference: &str,
        wallet: &mut Wallet,
    ) -> anyhow::Result<(String, String, String)> {
        let (html, _, _) = self.review(server, reference).await?;
        let code = counter_code(&html).context("the review page shows no counter code")?;
        wallet.answer_counter(&code).await?;
        self.review(server, reference).await
    }

    /// Opens an application, has `wallet` (the applying phone) answer the counter's code, and
    /// approves it with the identity card seen: the decision's (status, page).
    pub async fn approve_with_phone(
        &self,
        server: &TestServer,
        reference: &str,
        wallet: &mut Wallet,
    ) -> anyhow::Result<(u16, String)> {
        let (_, id, csrf) = self.review_with_phone(server, reference, wallet).await?;
        self.decide(
            server,
            &id,
            &[
                ("csrf_token", csrf.as_str()),
                ("decision", "approve"),
                ("evidence_hkid_card", "on"),
            ],
        )
        .await
    }

    pub async fn decide(
        &self,
        server: &TestServer,
        id: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<(u16, String)> {
        let response = self
            .http
            .post(server.admin_url(&format!("/applications/{id}/decision")))
            .form(form)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.text().await?))
    }
}

/// The operator confirms an officer's key with the fingerprint the officer read out.
pub async fn confirm_officer(
    server: &TestServer,
    officer_id: &str,
    fingerprint: &str,
) -> anyhow::Result<eid_core::officers::OfficerKey> {
    let provider = server.provider();
    let (id, f) = (officer_id.to_owned(), fingerprint.to_owned());
    Ok(tokio::task::spawn_blocking(move || {
        provider.confirm_officer_key(&id, &f, eid_server::now())
    })
    .await??)
}

/// An operator adds an officer: their id and one-time enrolment token.
pub async fn add_officer(server: &TestServer, name: &str) -> anyhow::Result<(String, String)> {
    let provider = server.provider();
    let name = name.to_owned();
    let new = tokio::task::spawn_blocking(move || provider.add_officer(&name, eid_server::now()))
        .await??;
    Ok((new.officer.officer_id, new.invite_token))
}

impl TestServer {
    /// A wallet whose account an officer proved in person at a counter (level `plus`), with the
    /// officer (a new one each time).
    pub async fn plus_wallet(&self, index: usize) -> anyhow::Result<(Wallet, Officer)> {
        let wallet = self.applied_wallet(index).await?;
        self.prove_in_person(wallet, index).await
    }

    /// An officer proves `wallet`'s application (for resident `index`) in person: level plus.
    pub async fn prove_in_person(
        &self,
        mut wallet: Wallet,
        index: usize,
    ) -> anyhow::Result<(Wallet, Officer)> {
        let server = self;
        let (_, token) = add_officer(server, &format!("Officer {index}")).await?;
        let mut officer = Officer::enrol(server, &token).await?;
        let signed_in = officer.sign_in(server).await?;
        anyhow::ensure!(
            signed_in.status() == 200,
            "officer sign-in: {}",
            signed_in.status()
        );
        let reference = wallet
            .file()
            .application
            .as_ref()
            .context("the wallet's application")?
            .reference
            .clone();
        // The applying phone answers the counter's code before the officer can approve.
        let (status, page) = officer
            .approve_with_phone(server, &reference, &mut wallet)
            .await?;
        anyhow::ensure!(status == 200, "the officer's approval: {status} {page}");
        wallet.status().await?;
        Ok((wallet, officer))
    }
}
