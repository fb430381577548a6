//! The phone's answer to a login request: the seam every way of logging in finishes through.
//!
//! The citizen decides on the phone, never in the browser:
//! - The phone reads the request with the rotating code from the login page's QR payload
//!   ([`Provider::approval_request`]): the service's registered name and the host its answer
//!   goes to, where the login was started (browser, operating system, address, time), every
//!   requested claim with the citizen's own value (read with the wallet's session), and three
//!   numbers, one of which the login page shows.
//! - It answers with a decision (approve with the number picked and the claims chosen, decline,
//!   or "not me") signed inside a WebAuthn assertion whose challenge commits to the decision's
//!   exact bytes ([`Provider::answer_approval`]). A wrong number or "not me" kills the request
//!   and is recorded in the account's history.
//! - Only then does the browser show whose account approved (masked) and continue; nothing it
//!   does records consent.
//!
//! The values a request needs besides its row are derived from its id under a server key: the
//! challenge nonce, the QR codes (a new one every [`QR_STEP`] seconds, each valid until the
//! next), the numbers, the browser form's CSRF token. Pending requests store nothing else.

use crate::crypto::{random_id, random_token, sha256, Aad};
use crate::limits::Caller;
use crate::oidc::authorize::{AuthorizationRequest, PendingLogin};
use crate::store::{AuthRequestRecord, ClientRecord, LoginState};
use crate::time::UnixTime;
use crate::{Error, Provider};

mod approval;
mod browser;

pub use approval::{describe_user_agent, APPROVAL_LABEL, QR_STEP};
pub(crate) use approval::{request_ref, Choices, Purpose, StoredContext};
pub use browser::{BrowserAnswer, LoginView};

impl Provider {
    /// What a login request keeps sealed: where it was started (until the phone answered),
    /// whose account approved (after), the pages' language.
    pub(crate) fn stored_context(
        &self,
        request: &AuthRequestRecord,
    ) -> Result<Option<StoredContext>, Error> {
        request
            .context
            .as_ref()
            .map(|sealed| {
                self.derived
                    .data
                    .open_json(Aad::AuthRequest(&request.request_id), sealed)
            })
            .transpose()
    }

    /// The URL the phone opens to approve a request (shown as a QR code).
    pub fn approval_url(&self, request_id: &str) -> String {
        format!("{}/api/v1/approvals/{request_id}", self.config.issuer_str())
    }

    /// Opens a login for a checked authorization request: the browser that sent it is bound
    /// to it by a secret, and it waits for a phone.
    pub(crate) fn open_login(
        &self,
        client: &ClientRecord,
        redirect_uri: &str,
        params: &AuthorizationRequest,
        caller: &Caller,
        purpose: Option<Purpose>,
        now: UnixTime,
    ) -> Result<PendingLogin, Error> {
        // Short: the id is part of the QR code's payload, whose size sets the code's density.
        let request_id = random_id();
        let browser_secret = random_token();
        let (browser, os) = caller
            .user_agent
            .as_deref()
            .map(describe_user_agent)
            .unwrap_or_default();
        let context = self.derived.data.seal_json(
            Aad::AuthRequest(&request_id),
            &StoredContext {
                browser: browser.map(str::to_owned),
                os: os.map(str::to_owned),
                address: caller.address.map(|a| a.to_string()),
                account: None,
                ui_locale: params.ui_locale,
                purpose,
                stay_signed_in: false,
            },
        )?;
        self.store.insert_auth_request(&AuthRequestRecord {
            request_id: request_id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: params.scopes,
            state: params.state.clone(),
            nonce: params.nonce.clone(),
            code_challenge: params.code_challenge.clone(),
            browser_hash: sha256(browser_secret.as_bytes()).to_vec(),
            context: Some(context),
            required_level: params.required_level,
            login: LoginState::Pending,
            created_at: now,
            expires_at: now + self.config.approval_window,
            prompt: params.prompt.clone(),
            response_type: params.response_type,
            response_mode: params.response_mode,
            claims: params.claims.clone(),
            expected_sub: params.expected_sub.clone(),
            dpop_jkt: params.dpop_jkt.clone(),
            par_id: params.pushed_id.clone(),
        })?;
        Ok(PendingLogin {
            request_id,
            browser_secret,
        })
    }
}
