//! The OpenID Foundation's FAPI 2.0 Security Profile (final) modules, by their ids, in the
//! plan's DPoP and `private_key_jwt` variant with unsigned pushed requests: each authorization
//! request is pushed (RFC 9126), the client authenticates with an ES256 assertion addressed to
//! the issuer, and the tokens are bound to a DPoP key (RFC 9449) whose proofs carry the
//! provider's nonces. The resource the plan calls is userinfo.
//!
//! The plan needs a FAPI 2.0 client in the clients file (`token_endpoint_auth_method =
//! "private_key_jwt"` with its `private_jwk`); modules about two clients need two. Modules of
//! other ecosystems (Open Banking Brazil and UK, Australia's ConnectID) and those that need an
//! RSA client key are skipped with the reason.

use std::time::Duration;

use p256::ecdsa::SigningKey;
use rand::RngExt as _;
use serde_json::{json, Value};

use crate::config::{ClientAuth, ClientConfig};
use crate::context::{now, param, AuthOptions, AuthRequest, Ctx, Landing, Tokens};
use crate::http::Response;
use crate::idtoken::IdToken;
use crate::jose;
use crate::log::Stop;
use crate::{Module, JWT_BEARER};

use super::module;

/// The algorithms FAPI 2.0 allows (§5.4.1).
const FAPI_ALGS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

pub fn modules() -> Vec<Module> {
    vec![
        module!("fapi2-security-profile-final-discovery-end-point-verification", "Discovery offers PAR, \
                 DPoP, private_key_jwt and S256 with FAPI 2.0's algorithms, and the iss response parameter.",
                discovery),
        module!("fapi2-security-profile-final-happy-flow", "A pushed request, the login, the code \
                 exchanged with private_key_jwt and a DPoP proof, the ID token, userinfo with the DPoP \
                 scheme.", happy_flow),
        module!("fapi2-security-profile-final-user-rejects-authentication", "The person declines: the \
                 client gets access_denied (eid's phone declines; skipped with another login driver).",
                user_rejects),
        module!("fapi2-security-profile-final-ensure-authorization-request-without-state-success",
                "A request without state succeeds, and no state comes back.", without_state),
        module!("fapi2-security-profile-final-ensure-authorization-request-without-nonce-success",
                "A request without nonce succeeds.", without_nonce),
        module!("fapi2-security-profile-final-ensure-authorization-request-with-64-char-nonce-success",
                "A 64-character nonce comes back in the ID token.", nonce_64),
        module!("fapi2-security-profile-final-ensure-other-scope-order-succeeds", "The scopes in another \
                 order succeed.", other_scope_order),
        module!("fapi2-security-profile-final-test-claims-parameter-identity-claims", "The claims \
                 parameter asks for the name in the ID token; it comes (a warning if not).",
                claims_parameter),
        module!("fapi2-security-profile-final-access-token-type-header-case-sensitivity", "The resource \
                 takes the token type in another case (dPoP).", token_type_case),
        module!("fapi2-security-profile-final-check-dpop-proof-nbf-exp", "Proofs with nbf and exp are \
                 accepted.", proof_nbf_exp),
        module!("fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds",
                "Proofs made 10 seconds ago are accepted.", iat_before),
        module!("fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds",
                "Proofs dated 10 seconds ahead are accepted.", iat_after),
        module!("fapi2-security-profile-final-ensure-mismatched-dpop-jkt-fails", "A pushed request whose \
                 dpop_jkt is not its proof's key is refused.", par_mismatched_jkt),
        module!("fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt",
                "A code bound at PAR to one key is refused with a proof by another.",
                token_mismatched_proof_key),
        module!("fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt",
                "A code bound by dpop_jkt is refused with a proof by another key.", token_mismatched_jkt),
        module!("fapi2-security-profile-final-ensure-dpopproof-at-par-endpoint-binding-success", "A code \
                 bound by the proof at PAR is redeemed with a proof by that key.", par_binding),
        module!("fapi2-security-profile-final-ensure-dpop-auth-code-binding-success", "A code bound by \
                 the proof at PAR and dpop_jkt is redeemed with that key.", code_binding),
        module!("fapi2-security-profile-final-ensure-different-nonce-inside-and-outside-request-object",
                "The nonce pushed (in a request object where the provider takes them) is the one that \
                 counts over one outside it; or the request is refused.", object_nonce),
        module!("fapi2-security-profile-final-ensure-different-state-inside-and-outside-request-object",
                "The state pushed (in a request object where the provider takes them) is the one that \
                 comes back, not one outside it; or the request is refused.", object_state),
        module!("fapi2-security-profile-final-ensure-authorization-request-with-long-nonce", "A \
                 384-character nonce succeeds.", long_nonce),
        module!("fapi2-security-profile-final-ensure-authorization-request-with-long-state", "A \
                 384-character state succeeds.", long_state),
        module!("fapi2-security-profile-final-state-only-outside-request-object-not-used", "A state \
                 outside the pushed request (or request object) is not used; or the request is refused.",
                object_state_outside),
        module!("fapi2-security-profile-final-ensure-request-object-without-redirect-uri-fails", "A \
                 pushed request (object) without redirect_uri is refused.", object_without_redirect_uri),
        module!("fapi2-security-profile-final-ensure-registered-redirect-uri", "A pushed request with an \
                 unregistered redirect URI is refused, or taken and then bound to that request (RFC 9126 \
                 §2.4 allows either).", unregistered_redirect_uri),
        module!("fapi2-security-profile-final-plain-fapi-tolerate-unregistered-redirect-uri", "The same \
                 pair judged alike: a pushed unregistered redirect URI refused, or honoured with the login \
                 returning to it and its code redeemed with it.", tolerate_unregistered),
        module!("fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails",
                "An authorization request sent to /authorize, not pushed, is refused.", not_pushed),
        module!("fapi2-security-profile-final-ensure-redirect-uri-in-authorization-request", "A pushed \
                 request without redirect_uri is refused.", without_redirect_uri),
        module!("fapi2-security-profile-final-ensure-response-type-code-idtoken-fails", "response_type \
                 code id_token is refused.", response_type_code_id_token),
        module!("fapi2-security-profile-final-australia-connectid-ensure-invalid-purpose-fails",
                "Australia's ConnectID only.", connectid),
        module!("fapi2-security-profile-final-ensure-response-type-token-fails", "response_type token is \
                 refused.", response_type_token),
        module!("fapi2-security-profile-final-ensure-client-id-in-token-endpoint", "A token request \
                 naming another client than the assertion's is refused.", client_id_mismatch),
        module!("fapi2-security-profile-final-ensure-holder-of-key-required", "A token request without a \
                 DPoP proof is refused.", holder_of_key_required),
        module!("fapi2-security-profile-final-ensure-authorization-code-is-bound-to-client", "Another \
                 client cannot redeem the code.", code_bound_to_client),
        module!("fapi2-security-profile-final-attempt-reuse-authorization-code-after-one-second", "A code \
                 redeemed a second time, a second later, is refused.", code_reused),
        module!("fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code", "A \
                 code redeemed after 65 seconds (FAPI 2.0: they live 60 at most) is refused.", code_expired),
        module!("fapi2-security-profile-final-ensure-signed-client-assertion-with-RS256-fails", "An RS256 \
                 assertion is refused; skipped: the suite's FAPI clients hold P-256 keys.", rs256_assertion),
        module!("fapi2-security-profile-final-ensure-client-assertion-in-token-endpoint", "A token \
                 request without client authentication is refused.", no_client_assertion),
        module!("fapi2-security-profile-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails",
                "An assertion that expired 5 minutes ago is refused.", assertion_expired),
        module!("fapi2-security-profile-final-ensure-client-assertion-with-wrong-aud-fails", "An assertion \
                 to another audience is refused.", assertion_wrong_aud),
        module!("fapi2-security-profile-final-ensure-client-assertion-with-no-sub-fails", "An assertion \
                 without sub is refused.", assertion_no_sub),
        module!("fapi2-security-profile-final-dpop-negative-tests", "Proofs at the resource that are \
                 malformed, for another request, old, by another key or replayed are refused; harmless \
                 variations are accepted.", dpop_negative),
        module!("fapi2-security-profile-final-refresh-token", "A refresh with a new DPoP key; without a \
                 proof, or with another client's refresh token, refused.", refresh_token),
        module!("fapi2-security-profile-final-ensure-server-handles-non-matching-intent-id", "Open Banking \
                 intent ids only.", open_banking),
        module!("fapi2-security-profile-final-test-essential-acr-sca-claim", "UK Open Banking's SCA acr \
                 only.", open_banking),
        module!("fapi2-security-profile-final-brazil-ensure-bad-payment-signature-fails", "Open Finance \
                 Brazil's payments only.", open_banking),
        module!("fapi2-security-profile-final-australia-connectid-test-claims-parameter-idtoken-identity-claims",
                "Australia's ConnectID only.", connectid),
        module!("fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds",
                "A request URI opened twice before the login completes: the second login succeeds.",
                request_uri_reopened),
        module!("fapi2-security-profile-final-par-attempt-reuse-request_uri", "A request URI used again \
                 after its login completed is refused (a warning if not).", request_uri_reused),
        module!("fapi2-security-profile-final-par-attempt-to-use-expired-request_uri", "A request URI used \
                 after expires_in is refused.", request_uri_expired),
        module!("fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted",
                "An assertion whose nbf is 8 seconds ahead is accepted.", assertion_nbf_8),
        module!("fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails",
                "An assertion whose nbf is 70 seconds ahead is refused.", assertion_nbf_70),
        module!("fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client", "A \
                 request URI used with another client's id is refused.", request_uri_other_client),
        module!("fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param",
                "A pushed request carrying request_uri is refused.", par_with_request_uri),
        module!("fapi2-security-profile-final-par-attempt-invalid-http-method", "PUT and GET at the PAR \
                 endpoint are refused (405 or any other error).", par_get),
        module!("fapi2-security-profile-final-par-ensure-pkce-required", "A pushed request without PKCE is \
                 refused.", par_without_pkce),
        module!("fapi2-security-profile-final-ensure-pkce-code-verifier-required", "A code redeemed without \
                 its verifier is refused.", without_verifier),
        module!("fapi2-security-profile-final-incorrect-pkce-code-verifier-rejected", "A code redeemed \
                 with another verifier is refused.", wrong_verifier),
        module!("fapi2-security-profile-final-par-plain-pkce-rejected", "A pushed request with the plain \
                 PKCE method is refused.", plain_pkce),
        module!("fapi2-security-profile-final-par-without-duplicate-parameters", "A pushed request with a \
                 parameter twice is refused.", duplicate_parameters),
        module!("fapi2-security-profile-final-par-test-array-as-audience-fails", "An assertion whose aud \
                 is an array is refused at PAR.", aud_array),
        module!("fapi2-security-profile-final-par-test-par-endpoint-url-as-audience-fails", "An assertion \
                 addressed to the PAR endpoint is refused.", aud_par),
        module!("fapi2-security-profile-final-par-test-token-endpoint-url-as-audience-fails", "An \
                 assertion addressed to the token endpoint is refused.", aud_token),
    ]
}

/// The plan needs a FAPI 2.0 provider (PAR, DPoP) and a FAPI 2.0 client of the suite's.
pub async fn require_fapi(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    if fapi_clients(ctx).is_empty() {
        return Err(ctx.skip(
            "no FAPI 2.0 client in the clients file (token_endpoint_auth_method = \"private_key_jwt\" with \
             its private_jwk)",
        ));
    }
    if ctx
        .metadata_str("pushed_authorization_request_endpoint")
        .await?
        .is_none()
    {
        return Err(ctx.skip("the provider has no pushed authorization request endpoint"));
    }
    let algs = ctx
        .metadata_list("dpop_signing_alg_values_supported")
        .await?
        .unwrap_or_default();
    if !algs.iter().any(|a| a == "ES256") {
        return Err(ctx.skip("the provider takes no ES256 DPoP proofs"));
    }
    Ok(())
}

fn fapi_clients(ctx: &Ctx<'_>) -> Vec<ClientConfig> {
    ctx.suite
        .config
        .clients
        .iter()
        .filter(|c| c.token_endpoint_auth_method == ClientAuth::PrivateKeyJwt)
        .filter(|c| c.private_jwk.as_ref().and_then(jose::key_of).is_some())
        .cloned()
        .collect()
}

/// A DPoP key and its public JWK.
#[derive(Clone)]
pub(super) struct Dpop {
    key: SigningKey,
    jwk: Value,
}

impl Dpop {
    fn new() -> Self {
        let key = jose::new_key();
        let jwk = jose::public_jwk(&key);
        Self { key, jwk }
    }
}

/// Edits a proof's header and claims before it is signed.
pub(super) type Edit<'a> = &'a (dyn Fn(&mut Value, &mut Value) + Sync);

pub(super) fn no_edit(_: &mut Value, _: &mut Value) {}

/// Edits an authorization request's parameters.
type ParamsEdit<'a> = &'a (dyn Fn(&mut Vec<(String, String)>) + Sync);

/// The suite as a FAPI 2.0 client: its registration, key, DPoP key and the provider's last
/// nonce.
pub(super) struct Fapi {
    client: ClientConfig,
    key: SigningKey,
    pub(super) dpop: Dpop,
    pub(super) nonce: Option<String>,
}

/// The FAPI 2.0 client `index` (0 or 1); the module is skipped without it.
pub(super) fn fapi(ctx: &mut Ctx<'_>, index: usize) -> Result<Fapi, Stop> {
    let clients = fapi_clients(ctx);
    let Some(client) = clients.get(index).cloned() else {
        return Err(ctx.skip(format!(
            "this module needs {} FAPI 2.0 clients in the clients file",
            index + 1
        )));
    };
    let Some(key) = client.private_jwk.as_ref().and_then(jose::key_of) else {
        return Err(ctx.skip("the client's private_jwk is not an EC P-256 key"));
    };
    Ok(Fapi {
        client,
        key,
        dpop: Dpop::new(),
        nonce: None,
    })
}

impl Fapi {
    pub(super) fn options(&self) -> AuthOptions {
        AuthOptions {
            registered: Some(self.client.clone()),
            pkce: Some(true),
            scope: "openid profile".into(),
            ..AuthOptions::default()
        }
    }

    /// What signs this client's assertions: each call of the signer makes a fresh one (a new
    /// `jti`), edited by `edit`, so that a request sent again (for a DPoP nonce) never repeats an
    /// assertion a provider may have consumed at first sight (RFC 7523 §3 (7)).
    fn assertions<'a>(
        &self,
        edit: &'a (dyn Fn(&mut Value) + Sync),
        issuer: String,
    ) -> impl Fn() -> String + Sync + 'a {
        let key = self.key.clone();
        let client_id = self.client.client_id.clone();
        move || {
            let mut claims = jose::assertion_claims(&client_id, issuer.clone().into(), now());
            edit(&mut claims);
            jose::assertion(&key, &claims)
        }
    }

    fn proof(&self, key: &Dpop, htm: &str, htu: &str, ath: Option<&str>, edit: Edit<'_>) -> String {
        let jti: [u8; 12] = rand::rng().random();
        let mut header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
        let mut claims = json!({"jti": crate::b64url(&jti), "htm": htm, "htu": htu, "iat": now()});
        if let Some(nonce) = &self.nonce {
            claims["nonce"] = nonce.clone().into();
        }
        if let Some(ath) = ath {
            claims["ath"] = ath.into();
        }
        edit(&mut header, &mut claims);
        jose::sign(&key.key, &header, &claims)
    }
}

/// Whether an answer asks for a DPoP nonce (RFC 9449 §8, §9).
fn asks_nonce(response: &Response) -> bool {
    match response.status {
        400 => response
            .json()
            .is_some_and(|b| b["error"] == "use_dpop_nonce"),
        401 => response
            .header("www-authenticate")
            .is_some_and(|c| c.contains("use_dpop_nonce")),
        _ => false,
    }
}

/// A request with a DPoP proof by `key` (none when `None`), made by `make` from the proof;
/// sent again once with the provider's nonce when it asks for one (`make` signs a new client
/// assertion for each attempt: a provider may consume an assertion at first sight).
async fn send_with_proof(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    key: Option<&Dpop>,
    target: (&str, &str, Option<&str>),
    edit: Edit<'_>,
    make: &(dyn Fn(Option<String>) -> reqwest::RequestBuilder + Sync),
) -> Result<Response, Stop> {
    let (htm, htu, ath) = target;
    let http = ctx.suite.http.clone();
    let mut attempt = 0;
    loop {
        let proof = key.map(|k| f.proof(k, htm, htu, ath, edit));
        let response = ctx.send(&http, make(proof)).await?;
        let nonce = response.header("dpop-nonce").map(str::to_owned);
        let retry = key.is_some() && asks_nonce(&response) && nonce.is_some() && attempt == 0;
        if let Some(nonce) = nonce {
            f.nonce = Some(nonce);
        }
        if !retry {
            return Ok(response);
        }
        ctx.info(
            "the provider asked for a DPoP nonce: the request is sent again with it (and a new proof \
             and client assertion)",
        );
        attempt += 1;
    }
}

/// Posts a pushed request: `request`'s parameters and `extra`, with the client's assertion
/// (edited by `assertion`), and a proof by `key` if given.
pub(super) async fn push_raw(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    params: &[(String, String)],
    key: Option<&Dpop>,
    assertion: &(dyn Fn(&mut Value) + Sync),
    edit: Edit<'_>,
) -> Result<Response, Stop> {
    let endpoint = ctx
        .endpoint("pushed_authorization_request_endpoint")
        .await?;
    let issuer = ctx.suite.config.issuer.clone();
    let http = ctx.suite.http.clone();
    let sign = f.assertions(assertion, issuer);
    let url = endpoint.to_string();
    let make = |proof: Option<String>| {
        let mut form = params.to_vec();
        form.push(("client_assertion_type".into(), JWT_BEARER.into()));
        form.push(("client_assertion".into(), sign()));
        let request = http.post(url.as_str()).form(&form);
        match proof {
            Some(p) => request.header("DPoP", p),
            None => request,
        }
    };
    send_with_proof(ctx, f, key, ("POST", endpoint.as_str(), None), edit, &make).await
}

/// An authorization request of the FAPI client's, built and pushed; its request URI.
async fn pushed(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    options: &AuthOptions,
    key: Option<&Dpop>,
) -> Result<(AuthRequest, String), Stop> {
    let request = ctx.authorization_request(options).await?;
    let uri = push(ctx, f, &request.params, key).await?;
    Ok((request, uri))
}

/// Pushes `params`, which must be accepted (201 with a request URI).
async fn push(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    params: &[(String, String)],
    key: Option<&Dpop>,
) -> Result<String, Stop> {
    let response = push_raw(ctx, f, params, key, &|_| {}, &no_edit).await?;
    let body = response.json().unwrap_or_default();
    ctx.require(
        response.status == 201,
        "CallPAREndpoint",
        format!(
            "the PAR endpoint answered 201 (it answered {}: {})",
            response.status,
            body["error_description"].as_str().unwrap_or("")
        ),
        "RFC 9126 §2.2",
    )?;
    match body["request_uri"].as_str() {
        Some(uri) if !uri.is_empty() => {
            ctx.success("CheckPARResponse", "the answer carries a request_uri");
            Ok(uri.to_owned())
        }
        _ => Err(ctx.fail(
            "CheckPARResponse",
            "the answer carries no request_uri",
            "RFC 9126 §2.2",
        )),
    }
}

/// The browser carries the request URI to the authorization endpoint (with the person's login).
async fn front(
    ctx: &mut Ctx<'_>,
    browser: &reqwest::Client,
    request: &AuthRequest,
    client_id: &str,
    request_uri: &str,
) -> Result<Landing, Stop> {
    front_with(ctx, browser, request, client_id, request_uri, &[], &[]).await
}

/// [`front`], with `extra` parameters beside the request URI on the front channel, stopping at
/// the request's redirect URI or any of `also`.
async fn front_with(
    ctx: &mut Ctx<'_>,
    browser: &reqwest::Client,
    request: &AuthRequest,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
    also: &[String],
) -> Result<Landing, Stop> {
    let mut url = ctx.endpoint("authorization_endpoint").await?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .extend_pairs(extra);
    ctx.info(format!(
        "authorization request: client_id and request_uri ({request_uri}){}",
        extra
            .iter()
            .map(|(k, v)| format!(", {k}={v}"))
            .collect::<String>()
    ));
    let mut stops = vec![request.redirect_uri.clone()];
    stops.extend(also.iter().cloned());
    ctx.navigate(browser, browser.get(url), &stops).await
}

/// The code of a pushed request, through the login.
async fn code_of(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    request: &AuthRequest,
    request_uri: &str,
) -> Result<String, Stop> {
    let browser = ctx.browser();
    let landing = front(ctx, &browser, request, &f.client.client_id, request_uri).await?;
    let params = ctx.callback(request, landing)?;
    ctx.expect_code(request, &params).await
}

/// A token request of `form`, authenticated (the assertion edited by `assertion`), with a
/// proof by `key` if given.
pub(super) async fn token_raw(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    form: Vec<(String, String)>,
    key: Option<&Dpop>,
    assertion: Option<&(dyn Fn(&mut Value) + Sync)>,
    edit: Edit<'_>,
) -> Result<Response, Stop> {
    let endpoint = ctx.endpoint("token_endpoint").await?;
    let issuer = ctx.suite.config.issuer.clone();
    let http = ctx.suite.http.clone();
    let sign = assertion.map(|edit| f.assertions(edit, issuer));
    let url = endpoint.to_string();
    let make = |proof: Option<String>| {
        let mut form = form.clone();
        if let Some(sign) = &sign {
            form.push(("client_assertion_type".into(), JWT_BEARER.into()));
            form.push(("client_assertion".into(), sign()));
        }
        let request = http.post(url.as_str()).form(&form);
        match proof {
            Some(p) => request.header("DPoP", p),
            None => request,
        }
    };
    send_with_proof(ctx, f, key, ("POST", endpoint.as_str(), None), edit, &make).await
}

pub(super) fn code_form(request: &AuthRequest, code: &str) -> Vec<(String, String)> {
    let mut form = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".into(), code.to_owned()),
        ("redirect_uri".into(), request.redirect_uri.clone()),
    ];
    if let Some(verifier) = &request.verifier {
        form.push(("code_verifier".into(), verifier.clone()));
    }
    form
}

/// Redeems a code with a proof by `key`: DPoP-bound tokens, checked.
async fn redeem(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    request: &AuthRequest,
    code: &str,
    key: &Dpop,
    edit: Edit<'_>,
) -> Result<Tokens, Stop> {
    let response = token_raw(
        ctx,
        f,
        code_form(request, code),
        Some(key),
        Some(&|_| {}),
        edit,
    )
    .await?;
    ctx.check_tokens_of(&response, "DPoP")
}

/// The ID token's checks, and FAPI 2.0's algorithms (§5.4.1).
async fn id_token(
    ctx: &mut Ctx<'_>,
    request: &AuthRequest,
    tokens: &Tokens,
    code: &str,
) -> Result<IdToken, Stop> {
    let id_token = ctx.check_id_token(request, tokens, Some(code)).await?;
    let alg = id_token.header["alg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctx.require(
        FAPI_ALGS.contains(&alg.as_str()),
        "FAPI2CheckIdTokenSigningAlg",
        format!("the ID token is signed {alg}, one of PS256, ES256, EdDSA"),
        "FAPI 2.0 Security Profile §5.4.1",
    )?;
    Ok(id_token)
}

/// Calls the resource (userinfo) with `scheme` and a proof by `key` (edited by `edit`); the
/// answer, unchecked.
async fn resource_raw(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    access_token: &str,
    scheme: &str,
    key: Option<&Dpop>,
    edit: Edit<'_>,
) -> Result<Response, Stop> {
    let endpoint = ctx.endpoint("userinfo_endpoint").await?;
    let http = ctx.suite.http.clone();
    let url = endpoint.to_string();
    let authorization = format!("{scheme} {access_token}");
    let make = |proof: Option<String>| {
        let request = http
            .get(url.as_str())
            .header("Authorization", &authorization)
            .header("Accept", "application/json");
        match proof {
            Some(p) => request.header("DPoP", p),
            None => request,
        }
    };
    let ath = jose::ath(access_token);
    send_with_proof(
        ctx,
        f,
        key,
        ("GET", endpoint.as_str(), Some(&ath)),
        edit,
        &make,
    )
    .await
}

/// The resource must answer (200, with a `Date`).
async fn resource(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    tokens: &Tokens,
    scheme: &str,
    edit: Edit<'_>,
) -> Result<Value, Stop> {
    let key = f.dpop.clone();
    let response = resource_raw(ctx, f, &tokens.access_token, scheme, Some(&key), edit).await?;
    ctx.require(
        response.status == 200 || response.status == 201,
        "CallProtectedResource",
        format!(
            "the resource answered {} ({})",
            response.status,
            response.header("www-authenticate").unwrap_or("")
        ),
        "FAPI 2.0 Security Profile §5.3.4",
    )?;
    ctx.require(
        response.header("date").is_some(),
        "EnsureResourceResponseContainsDate",
        "the resource's answer carries a Date header",
        "RFC 9110 §6.6.1",
    )?;
    Ok(response.json().unwrap_or_default())
}

/// What a whole FAPI login established.
struct FapiFlow {
    tokens: Tokens,
    id_token: IdToken,
}

/// A whole login: pushed (with a proof by the DPoP key when `bind_at_par`), the code redeemed
/// with a proof by it, the ID token checked.
async fn flow_with(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    options: &AuthOptions,
    bind_at_par: bool,
    edit: Edit<'_>,
) -> Result<FapiFlow, Stop> {
    let key = f.dpop.clone();
    let (request, uri) = {
        let request = ctx.authorization_request(options).await?;
        let response = push_raw(
            ctx,
            f,
            &request.params,
            bind_at_par.then_some(&key),
            &|_| {},
            edit,
        )
        .await?;
        let body = response.json().unwrap_or_default();
        ctx.require(
            response.status == 201,
            "CallPAREndpoint",
            format!(
                "the PAR endpoint answered 201 (it answered {}: {})",
                response.status,
                body["error_description"].as_str().unwrap_or("")
            ),
            "RFC 9126 §2.2",
        )?;
        (
            request,
            body["request_uri"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let code = code_of(ctx, f, &request, &uri).await?;
    let tokens = redeem(ctx, f, &request, &code, &key, edit).await?;
    let id_token = id_token(ctx, &request, &tokens, &code).await?;
    Ok(FapiFlow { tokens, id_token })
}

async fn flow(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Result<FapiFlow, Stop> {
    let options = f.options();
    flow_with(ctx, f, &options, false, &no_edit).await
}

/// An error answer of the back channel: `status` among `statuses`, `error` among `errors`.
pub(super) fn expect_refusal(
    ctx: &mut Ctx<'_>,
    response: &Response,
    statuses: &[u16],
    errors: &[&str],
    condition: &str,
    requirement: &str,
) -> Result<(), Stop> {
    let body = response.json().unwrap_or_default();
    let error = body["error"].as_str().unwrap_or("");
    ctx.require(
        statuses.contains(&response.status) && (errors.is_empty() || errors.contains(&error)),
        condition,
        format!(
            "answered {} {error} (a refusal is expected: {} with {})",
            response.status,
            statuses
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            if errors.is_empty() {
                "any error".into()
            } else {
                errors.join(" or ")
            }
        ),
        requirement,
    )
}

/// A pushed request with its parameters changed by `change`, which must be refused.
async fn par_refused(
    ctx: &mut Ctx<'_>,
    change: ParamsEdit<'_>,
    errors: &[&str],
    condition: &str,
    requirement: &str,
) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let request = ctx.authorization_request(&f.options()).await?;
    let mut params = request.params.clone();
    change(&mut params);
    let response = push_raw(ctx, &mut f, &params, None, &|_| {}, &no_edit).await?;
    expect_refusal(ctx, &response, &[400], errors, condition, requirement)
}

fn set(params: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    params.retain(|(k, _)| k != name);
    if let Some(value) = value {
        params.push((name.to_owned(), value.to_owned()));
    }
}

// --- the modules --------------------------------------------------------------------------

async fn discovery(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let metadata = ctx.discovery().await?;
    let list = |name: &str| -> Vec<String> {
        metadata[name]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let fapi_alg = |name: &str| list(name).iter().any(|a| FAPI_ALGS.contains(&a.as_str()));
    ctx.require(
        list("response_types_supported").iter().any(|t| t == "code"),
        "CheckDiscEndpointResponseTypeCodeSupported",
        "response_types_supported lists code",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )?;
    ctx.require(
        metadata["authorization_response_iss_parameter_supported"] == true,
        "FAPI2CheckDiscEndpointAuthorizationResponseIssParameterSupported",
        "authorization_response_iss_parameter_supported is true",
        "FAPI 2.0 Security Profile §5.3.2.2, RFC 9207",
    )?;
    ctx.require(
        metadata["pushed_authorization_request_endpoint"].is_string(),
        "CheckDiscEndpointPARSupported",
        "pushed_authorization_request_endpoint is given",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )?;
    ctx.require(
        matches!(
            metadata.get("require_pushed_authorization_requests"),
            None | Some(Value::Bool(_))
        ),
        "CheckDiscEndpointRequirePushedAuthorizationRequests",
        "require_pushed_authorization_requests, if given, is a boolean",
        "RFC 9126 §5",
    )?;
    ctx.require(
        fapi_alg("dpop_signing_alg_values_supported"),
        "CheckDiscEndpointDpopSigningAlgValuesSupported",
        "dpop_signing_alg_values_supported lists PS256, ES256 or EdDSA",
        "FAPI 2.0 Security Profile §5.4.1, RFC 9449 §5.1",
    )?;
    ctx.require(
        fapi_alg("id_token_signing_alg_values_supported"),
        "FAPI2CheckDiscEndpointIdTokenSigningAlgValuesSupported",
        "id_token_signing_alg_values_supported lists PS256, ES256 or EdDSA",
        "FAPI 2.0 Security Profile §5.4.1",
    )?;
    ctx.require(
        list("token_endpoint_auth_methods_supported")
            .iter()
            .any(|m| m == "private_key_jwt"),
        "CheckDiscEndpointTokenEndpointAuthMethodsSupportedContainsPrivateKeyJwt",
        "token_endpoint_auth_methods_supported lists private_key_jwt",
        "FAPI 2.0 Security Profile §5.3.2.1",
    )?;
    ctx.require(
        fapi_alg("token_endpoint_auth_signing_alg_values_supported"),
        "FAPI2CheckDiscEndpointTokenEndpointAuthSigningAlgValuesSupported",
        "token_endpoint_auth_signing_alg_values_supported lists PS256, ES256 or EdDSA",
        "FAPI 2.0 Security Profile §5.4.1",
    )?;
    ctx.require(
        list("code_challenge_methods_supported")
            .iter()
            .any(|m| m == "S256"),
        "CheckDiscEndpointCodeChallengeMethodsSupportedContainsS256",
        "code_challenge_methods_supported lists S256",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )?;
    if metadata.get("grant_types_supported").is_some() {
        ctx.require(
            list("grant_types_supported")
                .iter()
                .any(|g| g == "authorization_code"),
            "CheckDiscEndpointGrantTypesSupportedContainsAuthorizationCode",
            "grant_types_supported lists authorization_code",
            "RFC 8414 §2",
        )?;
    }
    ctx.require(
        list("scopes_supported").iter().any(|s| s == "openid"),
        "CheckDiscEndpointScopesSupportedContainsOpenId",
        "scopes_supported lists openid",
        "OIDC Discovery §3",
    )
}

async fn happy_flow(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let done = flow(ctx, &mut f).await?;
    let token_type = done.tokens.token_type.clone();
    let info = resource(ctx, &mut f, &done.tokens, &token_type, &no_edit).await?;
    ctx.require(
        info["sub"].as_str() == Some(done.id_token.sub()),
        "CheckUserInfoSub",
        "userinfo's sub is the ID token's sub",
        "OIDC Core §5.3.2",
    )
}

async fn user_rejects(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    if ctx.suite.wallet.is_none() {
        return Err(
            ctx.skip("the person's refusal is eid's phone's: run with --login-driver wallet")
        );
    }
    let mut f = fapi(ctx, 0)?;
    let options = f.options();
    let (request, uri) = pushed(ctx, &mut f, &options, None).await?;
    let browser = ctx.browser();
    ctx.set_hands_off(true);
    let landing = front(ctx, &browser, &request, &f.client.client_id, &uri).await;
    ctx.set_hands_off(false);
    let Landing::Page(page) = landing? else {
        return Err(ctx.fail(
            "OpenLoginPage",
            "the provider answered without a login page",
            "",
        ));
    };
    let Some((link, _)) = crate::driver::approval_on(&page) else {
        return Err(ctx.fail("OpenLoginPage", "the page is not eid's login page", ""));
    };
    let answered = match ctx.suite.wallet.as_ref() {
        Some(wallet) => {
            let mut wallet = wallet.lock().await;
            match wallet.fetch_approval(&link).await {
                Ok(approval) => {
                    let decision = eid_wallet::refuse(&approval, false);
                    wallet
                        .answer(&approval, &link, &decision)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        None => Err("no wallet".into()),
    };
    if let Err(e) = answered {
        return Err(ctx.fail(
            "DeclineOnPhone",
            format!("the phone could not decline: {e}"),
            "",
        ));
    }
    ctx.success("DeclineOnPhone", "the person declined on the phone");
    ctx.set_hands_off(true);
    let stops = [request.redirect_uri.clone()];
    let landing = ctx
        .navigate(&browser, browser.get(page.url.clone()), &stops)
        .await;
    ctx.set_hands_off(false);
    match landing? {
        Landing::Callback { params, .. } => ctx
            .expect_error(&request, &params, &["access_denied"], "RFC 6749 §4.1.2.1")
            .await
            .map(|_| ()),
        Landing::Page(page) => Err(ctx.fail(
            "CheckErrorResponse",
            format!(
                "the browser stayed on a {} page, not sent back with access_denied",
                page.status
            ),
            "RFC 6749 §4.1.2.1",
        )),
    }
}

async fn with_options(
    ctx: &mut Ctx<'_>,
    change: &(dyn Fn(&mut AuthOptions) + Sync),
) -> Result<FapiFlow, Stop> {
    let mut f = fapi(ctx, 0)?;
    let mut options = f.options();
    change(&mut options);
    flow_with(ctx, &mut f, &options, false, &no_edit).await
}

async fn without_state(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    with_options(ctx, &|o| o.state = false).await.map(|_| ())
}

async fn without_nonce(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let done = with_options(ctx, &|o| o.nonce = false).await?;
    ctx.require(
        done.id_token.claims.get("nonce").is_none(),
        "CheckIdTokenNonce",
        "the ID token has no nonce, as none was sent",
        "OIDC Core §3.1.3.7",
    )
}

/// A pushed request with `name` set to a value of `length` characters succeeds, and the value
/// comes back.
async fn long_value(ctx: &mut Ctx<'_>, name: &str, length: usize) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let options = f.options();
    let mut request = ctx.authorization_request(&options).await?;
    let value: String = "abcdefghijklmnopqrstuvwxyz0123456789"
        .chars()
        .cycle()
        .take(length)
        .collect();
    set(&mut request.params, name, Some(&value));
    match name {
        "nonce" => request.nonce = Some(value.clone()),
        _ => request.state = Some(value.clone()),
    }
    let uri = push(ctx, &mut f, &request.params, None).await?;
    let code = code_of(ctx, &f, &request, &uri).await?;
    let key = f.dpop.clone();
    let tokens = redeem(ctx, &mut f, &request, &code, &key, &no_edit).await?;
    id_token(ctx, &request, &tokens, &code).await.map(|_| ())
}

async fn nonce_64(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    long_value(ctx, "nonce", 64).await
}

async fn long_nonce(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    long_value(ctx, "nonce", 384).await
}

async fn long_state(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    long_value(ctx, "state", 384).await
}

async fn other_scope_order(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    with_options(ctx, &|o| o.scope = "profile openid".into())
        .await
        .map(|_| ())
}

async fn claims_parameter(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let done = with_options(ctx, &|o| {
        o.extra.push((
            "claims".into(),
            json!({"id_token": {"name": null}}).to_string(),
        ))
    })
    .await?;
    if done.id_token.claims.get("name").is_some() {
        ctx.success(
            "CheckIdTokenClaims",
            "the ID token carries the name asked for",
        );
    } else {
        ctx.warning(
            "CheckIdTokenClaims",
            "the ID token does not carry the name the claims parameter asked for",
            "OIDC Core §5.5",
        );
    }
    Ok(())
}

async fn token_type_case(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let done = flow(ctx, &mut f).await?;
    let flipped: String = done
        .tokens
        .token_type
        .chars()
        .enumerate()
        .map(|(i, c)| match i % 2 {
            0 => c.to_ascii_lowercase(),
            _ => c.to_ascii_uppercase(),
        })
        .collect();
    ctx.info(format!("the resource is called with the scheme {flipped}"));
    resource(ctx, &mut f, &done.tokens, &flipped, &no_edit)
        .await
        .map(|_| ())
}

/// A whole login and a resource call with every proof edited by `edit`.
async fn edited_proofs(ctx: &mut Ctx<'_>, edit: Edit<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let options = f.options();
    let done = flow_with(ctx, &mut f, &options, true, edit).await?;
    let scheme = done.tokens.token_type.clone();
    resource(ctx, &mut f, &done.tokens, &scheme, edit)
        .await
        .map(|_| ())
}

async fn proof_nbf_exp(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    edited_proofs(ctx, &|_, c| {
        c["nbf"] = now().into();
        c["exp"] = (now() + 300).into();
    })
    .await
}

async fn iat_before(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    edited_proofs(ctx, &|_, c| c["iat"] = (now() - 10).into()).await
}

async fn iat_after(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    edited_proofs(ctx, &|_, c| c["iat"] = (now() + 10).into()).await
}

/// `jkt` with every byte changed (the Foundation's XOR with 0x5A).
fn spoiled(jkt: &str) -> String {
    let bytes: Vec<u8> = crate::b64url_decode(jkt)
        .unwrap_or_default()
        .iter()
        .map(|b| b ^ 0x5A)
        .collect();
    crate::b64url(&bytes)
}

async fn par_mismatched_jkt(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let request = ctx.authorization_request(&f.options()).await?;
    let mut params = request.params.clone();
    set(
        &mut params,
        "dpop_jkt",
        Some(&spoiled(&jose::thumbprint(&f.dpop.jwk))),
    );
    let key = f.dpop.clone();
    let response = push_raw(ctx, &mut f, &params, Some(&key), &|_| {}, &no_edit).await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_request", "invalid_dpop_proof"],
        "EnsurePARMismatchedDpopJktRefused",
        "RFC 9449 §10.1",
    )
}

/// A code bound at PAR (`bind_at_par`: by the proof; else by a spoiled `dpop_jkt`) redeemed
/// with a proof by a new key: refused.
async fn code_with_other_key(ctx: &mut Ctx<'_>, bind_at_par: bool) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let mut request = ctx.authorization_request(&f.options()).await?;
    let key = f.dpop.clone();
    if !bind_at_par {
        let spoiled = spoiled(&jose::thumbprint(&key.jwk));
        set(&mut request.params, "dpop_jkt", Some(&spoiled));
    }
    let uri = push(ctx, &mut f, &request.params, bind_at_par.then_some(&key)).await?;
    let code = code_of(ctx, &f, &request, &uri).await?;
    let other = if bind_at_par { Dpop::new() } else { key };
    let response = token_raw(
        ctx,
        &mut f,
        code_form(&request, &code),
        Some(&other),
        Some(&|_| {}),
        &no_edit,
    )
    .await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
        "EnsureTokenEndpointRefusesMismatchedDpopKey",
        "RFC 9449 §10",
    )
}

async fn token_mismatched_proof_key(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    code_with_other_key(ctx, true).await
}

async fn token_mismatched_jkt(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    code_with_other_key(ctx, false).await
}

async fn par_binding(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let options = f.options();
    flow_with(ctx, &mut f, &options, true, &no_edit)
        .await
        .map(|_| ())
}

async fn code_binding(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let jkt = jose::thumbprint(&f.dpop.jwk);
    let options = f.options().with("dpop_jkt", &jkt);
    flow_with(ctx, &mut f, &options, true, &no_edit)
        .await
        .map(|_| ())
}

/// A request object of the client's: `params` (but `client_assertion*`) as claims, signed.
fn request_object(ctx: &Ctx<'_>, f: &Fapi, params: &[(String, String)]) -> String {
    let mut claims = serde_json::Map::new();
    for (k, v) in params {
        claims.insert(k.clone(), Value::String(v.clone()));
    }
    let issued = now();
    claims.insert("iss".into(), f.client.client_id.clone().into());
    claims.insert("aud".into(), ctx.suite.config.issuer.clone().into());
    claims.insert("iat".into(), issued.into());
    claims.insert("nbf".into(), issued.into());
    claims.insert("exp".into(), (issued + 300).into());
    jose::sign(
        &f.key,
        &json!({"alg": "ES256", "typ": "oauth-authz-req+jwt"}),
        &Value::Object(claims),
    )
}

/// Whether the provider takes request objects (`request_parameter_supported`). The FAPI 2.0
/// Security Profile does not require them: against a provider that does not, the modules about
/// the parameters inside and outside a request object push plain parameters and send the
/// outside ones on the front channel beside the request URI, as the Foundation's modules do in
/// the plan's unsigned variant.
async fn request_objects(ctx: &mut Ctx<'_>) -> Result<bool, Stop> {
    let supported = ctx.discovery().await?["request_parameter_supported"] == true;
    if !supported {
        ctx.info(
            "the provider does not take request objects (request_parameter_supported is not true): \
             the pushed request's plain parameters stand for the request object, and the outside \
             ones go beside the request URI",
        );
    }
    Ok(supported)
}

/// A login whose pushed request is `inside`'s parameters (a request object when the provider
/// takes them, else the plain parameters), with `outside` beside it (in the pushed request
/// beside the object; else on the front channel beside the request URI); where the browser
/// landed.
async fn inside_outside_flow(
    ctx: &mut Ctx<'_>,
    inside: ParamsEdit<'_>,
    outside: &[(&str, &str)],
) -> Result<(Fapi, AuthRequest, Landing), Stop> {
    let mut f = fapi(ctx, 0)?;
    let mut request = ctx.authorization_request(&f.options()).await?;
    inside(&mut request.params);
    request.state = param(&request.params, "state").map(str::to_owned);
    request.nonce = param(&request.params, "nonce").map(str::to_owned);
    let objects = request_objects(ctx).await?;
    let (form, front_channel) = if objects {
        let object = request_object(ctx, &f, &request.params);
        let mut form = vec![
            ("client_id".to_owned(), f.client.client_id.clone()),
            ("request".to_owned(), object),
        ];
        form.extend(
            outside
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        (form, &[][..])
    } else {
        (request.params.clone(), outside)
    };
    let uri = push(ctx, &mut f, &form, None).await?;
    let browser = ctx.browser();
    let landing = front_with(
        ctx,
        &browser,
        &request,
        &f.client.client_id,
        &uri,
        front_channel,
        &[],
    )
    .await?;
    Ok((f, request, landing))
}

/// How a provider may answer a request whose parameters inside and outside the request object
/// differ: a login whose response the caller checks (returned), an error at the redirect URI
/// among `errors`, or an error page (then `None`).
async fn login_or_refusal(
    ctx: &mut Ctx<'_>,
    request: &AuthRequest,
    landing: Landing,
    errors: &[&str],
    requirement: &str,
) -> Result<Option<Vec<(String, String)>>, Stop> {
    match landing {
        Landing::Callback { ref params, .. } if param(params, "error").is_some() => {
            let params = ctx.callback(request, landing)?;
            ctx.expect_error(request, &params, errors, requirement)
                .await?;
            ctx.success("CheckErrorResponse", "the provider refused the request");
            Ok(None)
        }
        Landing::Page(ref page) if page.status >= 400 && !crate::driver::login_on(page) => {
            ctx.success(
                "EnsureErrorPage",
                format!("the provider shows an error page ({})", page.status),
            );
            Ok(None)
        }
        landing => ctx.callback(request, landing).map(Some),
    }
}

async fn object_nonce(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (mut f, request, landing) =
        inside_outside_flow(ctx, &|_| {}, &[("nonce", "outside-nonce-not-to-be-used")]).await?;
    let Some(params) = login_or_refusal(
        ctx,
        &request,
        landing,
        &["invalid_request"],
        "OIDC Core §6.1",
    )
    .await?
    else {
        return Ok(());
    };
    let code = ctx.expect_code(&request, &params).await?;
    let key = f.dpop.clone();
    let tokens = redeem(ctx, &mut f, &request, &code, &key, &no_edit).await?;
    // The ID token check holds it to the inside nonce.
    id_token(ctx, &request, &tokens, &code).await.map(|_| ())
}

async fn object_state(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (_, request, landing) =
        inside_outside_flow(ctx, &|_| {}, &[("state", "outside-state-not-to-be-used")]).await?;
    let Some(params) =
        login_or_refusal(ctx, &request, landing, &["invalid_request"], "RFC 9101 §5").await?
    else {
        return Ok(());
    };
    // The response check holds it to the inside state.
    ctx.expect_code(&request, &params).await.map(|_| ())
}

async fn object_state_outside(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (_, request, landing) = inside_outside_flow(
        ctx,
        &|p| set(p, "state", None),
        &[("state", "outside-state-not-to-be-used")],
    )
    .await?;
    let Some(params) = login_or_refusal(
        ctx,
        &request,
        landing,
        &["invalid_request", "invalid_request_object", "access_denied"],
        "RFC 9101 §5",
    )
    .await?
    else {
        return Ok(());
    };
    ctx.require(
        param(&params, "state").is_none(),
        "EnsureStateOutsideRequestObjectNotUsed",
        "the response carries no state: the one outside the request was not used",
        "RFC 9101 §5, RFC 9126 §4",
    )?;
    ctx.expect_code(&request, &params).await.map(|_| ())
}

async fn object_without_redirect_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let request = ctx.authorization_request(&f.options()).await?;
    let mut inside = request.params.clone();
    set(&mut inside, "redirect_uri", None);
    let errors = ["invalid_request", "invalid_request_object"];
    let requirement = "FAPI 2.0 Security Profile §5.3.2.2, RFC 9101 §5";
    if request_objects(ctx).await? {
        let object = request_object(ctx, &f, &inside);
        let form = vec![
            ("client_id".to_owned(), f.client.client_id.clone()),
            ("redirect_uri".to_owned(), request.redirect_uri.clone()),
            ("request".to_owned(), object),
        ];
        let response = push_raw(ctx, &mut f, &form, None, &|_| {}, &no_edit).await?;
        return expect_refusal(
            ctx,
            &response,
            &[400],
            &errors,
            "EnsurePARRequestObjectWithoutRedirectUriRefused",
            requirement,
        );
    }
    // Plain parameters: refused at the PAR endpoint, or on an error page, or with an error at
    // the client's only registered redirect URI (the Foundation allows the three).
    let response = push_raw(ctx, &mut f, &inside, None, &|_| {}, &no_edit).await?;
    if response.status != 201 {
        return expect_refusal(
            ctx,
            &response,
            &[400],
            &errors,
            "EnsurePARWithoutRedirectUriRefused",
            requirement,
        );
    }
    let uri = response.json().unwrap_or_default()["request_uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let browser = ctx.browser();
    ctx.set_hands_off(true);
    let landing = front(ctx, &browser, &request, &f.client.client_id, &uri).await;
    ctx.set_hands_off(false);
    match login_or_refusal(ctx, &request, landing?, &errors, requirement).await? {
        None => Ok(()),
        Some(_) => Err(ctx.fail(
            "EnsureRequestWithoutRedirectUriRefused",
            "a request without redirect_uri was answered with a code",
            requirement,
        )),
    }
}

/// RFC 9126 §2.4: a provider may take a redirect URI that is not registered in an
/// authenticated pushed request, or refuse it. Either passes, judged the same in both modules
/// the Foundation names for it: refused at the PAR endpoint with `invalid_request` (or
/// `invalid_request_object`, `invalid_redirect_uri`); or taken, and then bound to that request:
/// the login returns to that URI (never to the registered one) and its code is redeemed with it.
async fn unregistered_redirect(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let mut options = f.options();
    options.redirect_uri = Some("https://unregistered.example/callback".into());
    let request = ctx.authorization_request(&options).await?;
    let response = push_raw(ctx, &mut f, &request.params, None, &|_| {}, &no_edit).await?;
    if response.status != 201 {
        return expect_refusal(
            ctx,
            &response,
            &[400],
            &[
                "invalid_request",
                "invalid_request_object",
                "invalid_redirect_uri",
            ],
            "EnsurePARUnregisteredRedirectUriRefused",
            "RFC 9126 §2.4",
        );
    }
    ctx.info(
        "the provider took the unregistered redirect URI in the authenticated pushed request \
         (RFC 9126 §2.4): it must now be this request's",
    );
    let uri = response.json().unwrap_or_default()["request_uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let browser = ctx.browser();
    let registered = [f.client.redirect_uri.to_string()];
    let landing = front_with(
        ctx,
        &browser,
        &request,
        &f.client.client_id,
        &uri,
        &[],
        &registered,
    )
    .await?;
    let params = ctx.callback(&request, landing)?;
    let code = ctx.expect_code(&request, &params).await?;
    let key = f.dpop.clone();
    let tokens = redeem(ctx, &mut f, &request, &code, &key, &no_edit).await?;
    id_token(ctx, &request, &tokens, &code).await.map(|_| ())
}

async fn unregistered_redirect_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    unregistered_redirect(ctx).await
}

async fn tolerate_unregistered(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    unregistered_redirect(ctx).await
}

async fn not_pushed(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let f = fapi(ctx, 0)?;
    let request = ctx.authorization_request(&f.options()).await?;
    let browser = ctx.browser();
    ctx.set_hands_off(true);
    let landing = ctx.authorize(&browser, &request).await;
    ctx.set_hands_off(false);
    match landing? {
        Landing::Callback { params, .. } => ctx
            .expect_error(
                &request,
                &params,
                &[
                    "invalid_request",
                    "invalid_request_object",
                    "unauthorized_client",
                ],
                "FAPI 2.0 Security Profile §5.3.2.2",
            )
            .await
            .map(|_| ()),
        Landing::Page(page) => ctx.require(
            page.status >= 400 && !crate::driver::login_on(&page),
            "EnsureUnpushedRequestRefused",
            format!(
                "the provider refuses the request on an error page (it answered a {} page{})",
                page.status,
                if page.status < 400 {
                    ": a login, it seems"
                } else {
                    ""
                }
            ),
            "FAPI 2.0 Security Profile §5.3.2.2",
        ),
    }
}

async fn without_redirect_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    par_refused(
        ctx,
        &|p| set(p, "redirect_uri", None),
        &["invalid_request"],
        "EnsurePARWithoutRedirectUriRefused",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )
    .await
}

async fn response_type_code_id_token(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    par_refused(
        ctx,
        &|p| set(p, "response_type", Some("code id_token")),
        &["invalid_request", "unsupported_response_type"],
        "EnsurePARResponseTypeCodeIdTokenRefused",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )
    .await
}

async fn response_type_token(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    par_refused(
        ctx,
        &|p| set(p, "response_type", Some("token")),
        &["invalid_request", "unsupported_response_type"],
        "EnsurePARResponseTypeTokenRefused",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )
    .await
}

async fn connectid(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    Err(ctx.skip("Australia's ConnectID ecosystem only"))
}

async fn open_banking(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    Err(ctx.skip("an Open Banking ecosystem's only (UK, Brazil)"))
}

async fn rs256_assertion(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    Err(ctx.skip(
        "needs a client with an RSA key; the suite's FAPI clients hold P-256 keys (eid refuses RS256 \
         assertions of FAPI 2.0 clients: its integration tests check it)",
    ))
}

/// A login's code and request, for the token endpoint's refusals.
pub(super) async fn code_for_refusal(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
) -> Result<(AuthRequest, String), Stop> {
    let options = f.options();
    let (request, uri) = pushed(ctx, f, &options, None).await?;
    let code = code_of(ctx, f, &request, &uri).await?;
    Ok((request, code))
}

async fn client_id_mismatch(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let other = fapi(ctx, 1)?;
    let (request, code) = code_for_refusal(ctx, &mut f).await?;
    let mut form = code_form(&request, &code);
    form.push(("client_id".into(), other.client.client_id.clone()));
    let key = Dpop::new();
    let response = token_raw(ctx, &mut f, form, Some(&key), Some(&|_| {}), &no_edit).await?;
    expect_refusal(
        ctx,
        &response,
        &[400, 401],
        &["invalid_client", "invalid_request"],
        "EnsureTokenEndpointClientIdMismatchRefused",
        "RFC 7523 §3",
    )
}

async fn holder_of_key_required(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let (request, code) = code_for_refusal(ctx, &mut f).await?;
    let response = token_raw(
        ctx,
        &mut f,
        code_form(&request, &code),
        None,
        Some(&|_| {}),
        &no_edit,
    )
    .await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
        "EnsureTokenEndpointRequiresHolderOfKey",
        "FAPI 2.0 Security Profile §5.3.2.1",
    )
}

async fn code_bound_to_client(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let mut other = fapi(ctx, 1)?;
    let (request, code) = code_for_refusal(ctx, &mut f).await?;
    let mut form = code_form(&request, &code);
    set(
        &mut form,
        "redirect_uri",
        Some(other.client.redirect_uri.as_str()),
    );
    let key = Dpop::new();
    let response = token_raw(ctx, &mut other, form, Some(&key), Some(&|_| {}), &no_edit).await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_grant"],
        "EnsureCodeBoundToClient",
        "RFC 6749 §4.1.3",
    )
}

async fn code_reused(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let (request, code) = code_for_refusal(ctx, &mut f).await?;
    let key = f.dpop.clone();
    redeem(ctx, &mut f, &request, &code, &key, &no_edit).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let response = token_raw(
        ctx,
        &mut f,
        code_form(&request, &code),
        Some(&key),
        Some(&|_| {}),
        &no_edit,
    )
    .await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_grant"],
        "EnsureCodeReuseRefused",
        "RFC 6749 §4.1.2",
    )
}

async fn code_expired(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let (request, code) = code_for_refusal(ctx, &mut f).await?;
    ctx.info("waiting 65 seconds: FAPI 2.0 codes live 60 at most");
    tokio::time::sleep(Duration::from_secs(65)).await;
    let key = Dpop::new();
    let response = token_raw(
        ctx,
        &mut f,
        code_form(&request, &code),
        Some(&key),
        Some(&|_| {}),
        &no_edit,
    )
    .await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_grant"],
        "EnsureExpiredCodeRefused",
        "FAPI 2.0 Security Profile §5.3.2.1",
    )
}

/// A token request whose client assertion is edited by `change` (or absent): refused.
async fn assertion_refused(
    ctx: &mut Ctx<'_>,
    change: Option<&(dyn Fn(&mut Value) + Sync)>,
    condition: &str,
) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let (request, code) = code_for_refusal(ctx, &mut f).await?;
    let key = Dpop::new();
    let mut form = code_form(&request, &code);
    if change.is_none() {
        form.push(("client_id".into(), f.client.client_id.clone()));
    }
    let response = token_raw(ctx, &mut f, form, Some(&key), change, &no_edit).await?;
    expect_refusal(
        ctx,
        &response,
        &[400, 401],
        &["invalid_client", "invalid_request"],
        condition,
        "RFC 7523 §3, FAPI 2.0 Security Profile §5.3.2.1",
    )
}

async fn no_client_assertion(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_refused(ctx, None, "EnsureTokenEndpointRequiresClientAuthentication").await
}

async fn assertion_expired(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_refused(
        ctx,
        Some(&|c| {
            c["iat"] = (now() - 360).into();
            c["exp"] = (now() - 300).into();
        }),
        "EnsureExpiredClientAssertionRefused",
    )
    .await
}

async fn assertion_wrong_aud(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_refused(
        ctx,
        Some(&|c| c["aud"] = "https://not-the-issuer.example".into()),
        "EnsureClientAssertionWrongAudRefused",
    )
    .await
}

async fn assertion_no_sub(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_refused(
        ctx,
        Some(&|c| {
            c.as_object_mut().map(|m| m.remove("sub"));
        }),
        "EnsureClientAssertionWithoutSubRefused",
    )
    .await
}

async fn dpop_negative(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let done = flow(ctx, &mut f).await?;
    let token = done.tokens.access_token.clone();
    let scheme = done.tokens.token_type.clone();
    let key = f.dpop.clone();
    resource(ctx, &mut f, &done.tokens, &scheme, &no_edit).await?;
    let endpoint = ctx.endpoint("userinfo_endpoint").await?;
    let other = Dpop::new();
    let remove = |name: &'static str| {
        move |_: &mut Value, c: &mut Value| {
            c.as_object_mut().map(|m| m.remove(name));
        }
    };
    let private = |h: &mut Value, _: &mut Value| {
        h["jwk"]["d"] = crate::b64url(&[1u8; 32]).into();
    };
    let other_url = format!("{}/other", endpoint.as_str().trim_end_matches('/'));
    type Case<'a> = (
        &'a str,
        Box<dyn Fn(&mut Value, &mut Value) + Send + Sync + 'a>,
    );
    let refused: Vec<Case<'_>> = vec![
        (
            "typ missing",
            Box::new(|h: &mut Value, _: &mut Value| {
                h.as_object_mut().map(|m| m.remove("typ"));
            }),
        ),
        (
            "typ dpop+jwt+wrongyousee",
            Box::new(|h: &mut Value, _: &mut Value| h["typ"] = "dpop+jwt+wrongyousee".into()),
        ),
        (
            "alg missing",
            Box::new(|h: &mut Value, _: &mut Value| {
                h.as_object_mut().map(|m| m.remove("alg"));
            }),
        ),
        (
            "alg none",
            Box::new(|h: &mut Value, _: &mut Value| h["alg"] = "none".into()),
        ),
        (
            "jwk missing",
            Box::new(|h: &mut Value, _: &mut Value| {
                h.as_object_mut().map(|m| m.remove("jwk"));
            }),
        ),
        ("the private key in jwk", Box::new(private)),
        ("jti missing", Box::new(remove("jti"))),
        ("htm missing", Box::new(remove("htm"))),
        ("htu missing", Box::new(remove("htu"))),
        ("iat missing", Box::new(remove("iat"))),
        ("ath missing", Box::new(remove("ath"))),
        (
            "htm PUT",
            Box::new(|_: &mut Value, c: &mut Value| c["htm"] = "PUT".into()),
        ),
        (
            "htu of another URL",
            Box::new(|_: &mut Value, c: &mut Value| c["htu"] = other_url.clone().into()),
        ),
        (
            "a wrong ath",
            Box::new(|_: &mut Value, c: &mut Value| c["ath"] = jose::ath("another token").into()),
        ),
    ];
    for (what, edit) in &refused {
        let response =
            resource_raw(ctx, &mut f, &token, &scheme, Some(&key), edit.as_ref()).await?;
        expect_refusal(
            ctx,
            &response,
            &[400, 401],
            &[],
            "EnsureDpopProofRefused",
            "RFC 9449 §4.3",
        )
        .inspect_err(|_| ctx.info(format!("the proof with {what} was taken")))?;
        ctx.success(
            "EnsureDpopProofRefused",
            format!("a proof with {what} is refused"),
        );
    }
    // A proof an hour early or late. Without a nonce its iat is all that dates it: refused.
    // With the provider's nonce, RFC 9449 §4.3 (11) lets the provider judge its freshness by the
    // nonce instead of iat: either answer is allowed (as in the Foundation's module).
    for (what, offset) in [("an hour ahead", 3600), ("an hour ago", -3600)] {
        let undated = move |_: &mut Value, c: &mut Value| {
            c["iat"] = (now() + offset).into();
            c.as_object_mut().map(|m| m.remove("nonce"));
        };
        let response = resource_raw(ctx, &mut f, &token, &scheme, Some(&key), &undated).await?;
        expect_refusal(
            ctx,
            &response,
            &[400, 401],
            &[],
            "EnsureDpopProofRefused",
            "RFC 9449 §4.3 (11)",
        )
        .inspect_err(|_| ctx.info(format!("the proof with iat {what} and no nonce was taken")))?;
        ctx.success(
            "EnsureDpopProofRefused",
            format!("a proof with iat {what} and no nonce is refused"),
        );
        if f.nonce.is_none() {
            continue;
        }
        let dated = move |_: &mut Value, c: &mut Value| c["iat"] = (now() + offset).into();
        let response = resource_raw(ctx, &mut f, &token, &scheme, Some(&key), &dated).await?;
        ctx.info(format!(
            "a proof with iat {what} and the provider's nonce was {} (RFC 9449 §4.3 (11): a \
             provider may date proofs by their nonce; either answer is allowed)",
            if response.status == 200 {
                "accepted"
            } else {
                "refused"
            }
        ));
    }
    // A proof whose signature does not verify, or signed by another key.
    let nonce = f.nonce.clone();
    let mut claims = json!({"jti": "corrupt-signature", "htm": "GET", "htu": endpoint.as_str(),
        "iat": now(), "ath": jose::ath(&token)});
    if let Some(nonce) = &nonce {
        claims["nonce"] = nonce.clone().into();
    }
    let signed = jose::sign(
        &key.key,
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}),
        &claims,
    );
    let corrupted = format!("{}AAAA", signed.trim_end_matches(|c: char| c != '.'));
    let http = ctx.suite.http.clone();
    for (what, proof) in [
        ("a corrupted signature", corrupted),
        (
            "no signature",
            format!("{}.", signed.rsplit_once('.').map(|(a, _)| a).unwrap_or("")),
        ),
        (
            "another key's signature",
            f.proof(
                &other,
                "GET",
                endpoint.as_str(),
                Some(&jose::ath(&token)),
                &|h, _| {
                    h["jwk"] = key.jwk.clone();
                },
            ),
        ),
    ] {
        let response = ctx
            .send(
                &http,
                http.get(endpoint.clone())
                    .header("Authorization", format!("{scheme} {token}"))
                    .header("DPoP", proof),
            )
            .await?;
        expect_refusal(
            ctx,
            &response,
            &[400, 401],
            &[],
            "EnsureDpopProofRefused",
            "RFC 9449 §4.3",
        )?;
        ctx.success(
            "EnsureDpopProofRefused",
            format!("a proof with {what} is refused"),
        );
    }
    // Two DPoP headers; none with the DPoP scheme; none with the Bearer scheme.
    let proof = f.proof(
        &key,
        "GET",
        endpoint.as_str(),
        Some(&jose::ath(&token)),
        &no_edit,
    );
    let twice = http
        .get(endpoint.clone())
        .header("Authorization", format!("{scheme} {token}"))
        .header("DPoP", proof.clone())
        .header("DPoP", proof);
    let response = ctx.send(&http, twice).await?;
    expect_refusal(
        ctx,
        &response,
        &[400, 401],
        &[],
        "EnsureTwoDpopHeadersRefused",
        "RFC 9449 §4.3",
    )?;
    for scheme in [scheme.as_str(), "Bearer"] {
        let response = resource_raw(ctx, &mut f, &token, scheme, None, &no_edit).await?;
        expect_refusal(
            ctx,
            &response,
            &[400, 401],
            &[],
            "EnsureProofRequired",
            "RFC 9449 §7.1",
        )?;
        ctx.success(
            "EnsureProofRequired",
            format!("{scheme} without a proof is refused"),
        );
    }
    // Harmless variations are accepted.
    let accepted: Vec<Case<'_>> = vec![
        (
            "htu with a query and a fragment",
            Box::new(|_: &mut Value, c: &mut Value| {
                c["htu"] = format!("{}?query=1#fragment", endpoint.as_str()).into();
            }),
        ),
        (
            "unknown header and body claims",
            Box::new(|h: &mut Value, c: &mut Value| {
                h["unknown"] = "header".into();
                c["unknown"] = "claim".into();
            }),
        ),
    ];
    for (what, edit) in &accepted {
        resource(ctx, &mut f, &done.tokens, &scheme, edit.as_ref()).await?;
        ctx.success(
            "EnsureDpopProofAccepted",
            format!("a proof with {what} is accepted"),
        );
    }
    let upper = endpoint.as_str().replacen("http", "HTTP", 1);
    let with_port = match (endpoint.port(), endpoint.scheme()) {
        (None, "https") => endpoint.as_str().replacen(
            endpoint.host_str().unwrap_or_default(),
            &format!("{}:443", endpoint.host_str().unwrap_or_default()),
            1,
        ),
        _ => endpoint.to_string(),
    };
    for (what, htu) in [
        ("an upper-case scheme", upper),
        ("the default port", with_port),
    ] {
        let response = resource_raw(ctx, &mut f, &token, &scheme, Some(&key), &|_, c| {
            c["htu"] = htu.clone().into()
        })
        .await?;
        ctx.should(
            response.status == 200,
            "EnsureDpopHtuNormalised",
            format!(
                "a proof whose htu has {what} is accepted (it answered {})",
                response.status
            ),
            "RFC 9449 §4.3 (9)",
        );
    }
    // A proof sent twice: the second should be refused.
    let once = f.proof(
        &key,
        "GET",
        endpoint.as_str(),
        Some(&jose::ath(&token)),
        &no_edit,
    );
    let send = |proof: String| {
        http.get(endpoint.clone())
            .header("Authorization", format!("{scheme} {token}"))
            .header("DPoP", proof)
    };
    let first = ctx.send(&http, send(once.clone())).await?;
    ctx.require(
        first.status == 200,
        "CallProtectedResource",
        format!("a fresh proof is accepted (it answered {})", first.status),
        "RFC 9449 §7",
    )?;
    let second = ctx.send(&http, send(once)).await?;
    ctx.should(
        second.status == 400 || second.status == 401,
        "EnsureDpopProofReplayRefused",
        format!(
            "a proof presented twice is refused the second time (it answered {})",
            second.status
        ),
        "RFC 9449 §11.1",
    );
    Ok(())
}

async fn refresh_token(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let offline = |f: &Fapi| {
        f.options()
            .scope("openid profile offline_access")
            .with("prompt", "consent")
    };
    let options = offline(&f);
    let done = flow_with(ctx, &mut f, &options, false, &no_edit).await?;
    let Some(refresh) = done.tokens.refresh_token.clone() else {
        return Err(ctx.skip("the provider issued no refresh token for offline_access"));
    };
    // A refresh with a new DPoP key (FAPI 2.0 clients may change keys).
    let renewed = Dpop::new();
    let form = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".into(), refresh.clone()),
    ];
    let response = token_raw(
        ctx,
        &mut f,
        form.clone(),
        Some(&renewed),
        Some(&|_| {}),
        &no_edit,
    )
    .await?;
    let refreshed = ctx.check_tokens_of(&response, "DPoP")?;
    match &refreshed.refresh_token {
        Some(next) if next != &refresh => {
            ctx.info(
                "the refresh token was rotated: after 30 seconds the previous one must still work",
            );
            tokio::time::sleep(Duration::from_secs(30)).await;
            let again = token_raw(
                ctx,
                &mut f,
                form.clone(),
                Some(&renewed),
                Some(&|_| {}),
                &no_edit,
            )
            .await?;
            ctx.require(
                again.status == 200,
                "EnsurePreviousRefreshTokenStillWorks",
                format!(
                    "the previous refresh token still works (it answered {})",
                    again.status
                ),
                "FAPI 2.0 Security Profile §5.3.2.1 (9)",
            )?;
        }
        _ => ctx.info("the refresh token was not rotated"),
    }
    // Without a proof: refused.
    let response = token_raw(ctx, &mut f, form, None, Some(&|_| {}), &no_edit).await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_request", "invalid_grant", "invalid_client"],
        "EnsureRefreshWithoutProofRefused",
        "FAPI 2.0 Security Profile §5.3.2.1",
    )?;
    // Another client's refresh token: refused.
    if let Ok(mut second) = fapi(ctx, 1) {
        let options = offline(&second);
        let theirs = flow_with(ctx, &mut second, &options, false, &no_edit).await?;
        if let Some(their_refresh) = theirs.tokens.refresh_token.clone() {
            let form = vec![
                ("grant_type".to_owned(), "refresh_token".to_owned()),
                ("refresh_token".into(), their_refresh),
            ];
            let key = Dpop::new();
            let response =
                token_raw(ctx, &mut f, form, Some(&key), Some(&|_| {}), &no_edit).await?;
            expect_refusal(
                ctx,
                &response,
                &[400],
                &["invalid_grant"],
                "EnsureOtherClientsRefreshTokenRefused",
                "RFC 6749 §6",
            )?;
        }
        // Their access token with our DPoP key: refused.
        let key = f.dpop.clone();
        let scheme = theirs.tokens.token_type.clone();
        let response = resource_raw(
            ctx,
            &mut f,
            &theirs.tokens.access_token,
            &scheme,
            Some(&key),
            &no_edit,
        )
        .await?;
        ctx.require(
            (400..500).contains(&response.status),
            "EnsureOtherClientsAccessTokenRefused",
            format!(
                "another client's token with this client's key is refused ({})",
                response.status
            ),
            "RFC 9449 §7",
        )?;
    }
    Ok(())
}

async fn request_uri_reopened(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let options = f.options();
    let (request, uri) = pushed(ctx, &mut f, &options, None).await?;
    let browser = ctx.browser();
    ctx.set_hands_off(true);
    let first = front(ctx, &browser, &request, &f.client.client_id, &uri).await;
    ctx.set_hands_off(false);
    if let Landing::Callback { .. } = first? {
        ctx.info("the first opening went straight back to the client");
    }
    let code = code_of(ctx, &f, &request, &uri).await?;
    let key = f.dpop.clone();
    redeem(ctx, &mut f, &request, &code, &key, &no_edit)
        .await
        .map(|_| ())
}

/// Opens `uri` with `client_id`, hands off: it must be refused, on a page or with
/// `invalid_request_uri` at the redirect URI. `Ok(false)` when it was accepted.
async fn request_uri_refused(
    ctx: &mut Ctx<'_>,
    request: &AuthRequest,
    client_id: &str,
    uri: &str,
) -> Result<bool, Stop> {
    let browser = ctx.browser();
    ctx.set_hands_off(true);
    let landing = front(ctx, &browser, request, client_id, uri).await;
    ctx.set_hands_off(false);
    match landing? {
        Landing::Callback { params, .. } if param(&params, "error").is_some() => {
            let error = param(&params, "error").unwrap_or_default().to_owned();
            ctx.require(
                error == "invalid_request_uri",
                "EnsureRequestUriRefused",
                format!("refused at the redirect URI with {error}"),
                "RFC 9126 §4",
            )?;
            Ok(true)
        }
        Landing::Callback { .. } => Ok(false),
        Landing::Page(page) if crate::driver::login_on(&page) => {
            ctx.info(format!(
                "the provider opened a login ({} page) for the request URI",
                page.status
            ));
            Ok(false)
        }
        Landing::Page(page) if page.status >= 400 => {
            ctx.success(
                "EnsureRequestUriRefused",
                format!("the provider shows an error page ({})", page.status),
            );
            Ok(true)
        }
        Landing::Page(page) => {
            ctx.review(
                "EnsureRequestUriRefused",
                format!(
                    "the provider answered a {} page that is neither a login nor an error status: \
                     a person should see whether it refuses the request",
                    page.status
                ),
            );
            Ok(true)
        }
    }
}

async fn request_uri_reused(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let options = f.options();
    let (request, uri) = pushed(ctx, &mut f, &options, None).await?;
    let code = code_of(ctx, &f, &request, &uri).await?;
    let key = f.dpop.clone();
    redeem(ctx, &mut f, &request, &code, &key, &no_edit).await?;
    let client_id = f.client.client_id.clone();
    if !request_uri_refused(ctx, &request, &client_id, &uri).await? {
        ctx.warning(
            "EnsureRequestUriRefused",
            "the request URI opened a login again after its login completed",
            "RFC 9126 §4 (one-time use)",
        );
    }
    Ok(())
}

async fn request_uri_expired(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let request = ctx.authorization_request(&f.options()).await?;
    let response = push_raw(ctx, &mut f, &request.params, None, &|_| {}, &no_edit).await?;
    let body = response.json().unwrap_or_default();
    let uri = body["request_uri"].as_str().unwrap_or_default().to_owned();
    let lifetime = body["expires_in"].as_u64().unwrap_or(60).min(600);
    ctx.info(format!(
        "waiting {} seconds: the request URI's expires_in and 5",
        lifetime + 5
    ));
    tokio::time::sleep(Duration::from_secs(lifetime + 5)).await;
    let client_id = f.client.client_id.clone();
    let refused = request_uri_refused(ctx, &request, &client_id, &uri).await?;
    ctx.require(
        refused,
        "EnsureExpiredRequestUriRefused",
        "an expired request URI is refused",
        "RFC 9126 §2.2",
    )
}

async fn assertion_nbf(ctx: &mut Ctx<'_>, ahead: i64, accepted: bool) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let request = ctx.authorization_request(&f.options()).await?;
    let response = push_raw(
        ctx,
        &mut f,
        &request.params,
        None,
        &|c| c["nbf"] = (now() + ahead).into(),
        &no_edit,
    )
    .await?;
    if accepted {
        ctx.require(
            response.status == 201,
            "EnsureClientAssertionNbfLeeway",
            format!(
                "an assertion whose nbf is {ahead} s ahead is accepted ({})",
                response.status
            ),
            "FAPI 2.0 Security Profile §5.3.2.1 (clock skew)",
        )
    } else {
        expect_refusal(
            ctx,
            &response,
            &[400, 401],
            &["invalid_client", "invalid_request"],
            "EnsureClientAssertionNbfInFutureRefused",
            "RFC 7519 §4.1.5",
        )
    }
}

async fn assertion_nbf_8(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_nbf(ctx, 8, true).await
}

async fn assertion_nbf_70(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_nbf(ctx, 70, false).await
}

async fn request_uri_other_client(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let other = fapi(ctx, 1)?;
    let options = f.options();
    let (request, uri) = pushed(ctx, &mut f, &options, None).await?;
    let refused = request_uri_refused(ctx, &request, &other.client.client_id, &uri).await?;
    ctx.require(
        refused,
        "EnsureRequestUriOfAnotherClientRefused",
        "a request URI used with another client's id is refused",
        "RFC 9126 §4",
    )
}

async fn par_with_request_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    par_refused(
        ctx,
        &|p| {
            set(
                p,
                "request_uri",
                Some("urn:ietf:params:oauth:request_uri:suite"),
            )
        },
        // RFC 9126 §2.3 leaves the error code open; the Foundation accepts these three.
        &[
            "invalid_request",
            "invalid_request_object",
            "request_uri_not_supported",
        ],
        "EnsurePARWithRequestUriRefused",
        "RFC 9126 §2.1, §2.3",
    )
    .await
}

/// RFC 9126 §2.1: the endpoint takes POST; it "can" answer other methods with 405, and any
/// error answer refuses them (the Foundation sends PUT and accepts any 4xx or 5xx).
async fn par_get(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let endpoint = ctx
        .endpoint("pushed_authorization_request_endpoint")
        .await?;
    let http = ctx.suite.http.clone();
    for method in [reqwest::Method::PUT, reqwest::Method::GET] {
        let response = ctx
            .send(&http, http.request(method.clone(), endpoint.clone()))
            .await?;
        ctx.require(
            response.status >= 400,
            "EnsurePARHttpMethodRefused",
            format!(
                "{method} at the PAR endpoint is refused (it answered {})",
                response.status
            ),
            "RFC 9126 §2.1",
        )?;
    }
    Ok(())
}

async fn par_without_pkce(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    par_refused(
        ctx,
        &|p| {
            set(p, "code_challenge", None);
            set(p, "code_challenge_method", None);
        },
        &["invalid_request"],
        "EnsurePARWithoutPkceRefused",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )
    .await
}

async fn plain_pkce(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    par_refused(
        ctx,
        &|p| set(p, "code_challenge_method", Some("plain")),
        &["invalid_request"],
        "EnsurePARPlainPkceRefused",
        "FAPI 2.0 Security Profile §5.3.2.2",
    )
    .await
}

async fn duplicate_parameters(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    par_refused(
        ctx,
        &|p| {
            if let Some(scope) = param(p, "scope").map(str::to_owned) {
                p.push(("scope".into(), scope));
            }
        },
        &["invalid_request"],
        "EnsurePARDuplicateParametersRefused",
        "RFC 6749 §3.1",
    )
    .await
}

async fn verifier_refused(ctx: &mut Ctx<'_>, verifier: Option<&str>) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let (request, code) = code_for_refusal(ctx, &mut f).await?;
    let mut form = code_form(&request, &code);
    set(&mut form, "code_verifier", verifier);
    let key = f.dpop.clone();
    let response = token_raw(ctx, &mut f, form, Some(&key), Some(&|_| {}), &no_edit).await?;
    expect_refusal(
        ctx,
        &response,
        &[400],
        &["invalid_grant", "invalid_request"],
        "EnsurePkceVerifierChecked",
        "RFC 7636 §4.6",
    )
}

async fn without_verifier(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    verifier_refused(ctx, None).await
}

async fn wrong_verifier(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    verifier_refused(
        ctx,
        Some("another-verifier-another-verifier-another-verifier"),
    )
    .await
}

async fn aud_refused(ctx: &mut Ctx<'_>, aud: Value) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let request = ctx.authorization_request(&f.options()).await?;
    let response = push_raw(
        ctx,
        &mut f,
        &request.params,
        None,
        &|c| c["aud"] = aud.clone(),
        &no_edit,
    )
    .await?;
    expect_refusal(
        ctx,
        &response,
        &[400, 401],
        &["invalid_client", "invalid_request"],
        "EnsureClientAssertionAudienceIsIssuer",
        "FAPI 2.0 Security Profile §5.3.2.1 (8)",
    )
}

async fn aud_array(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let issuer = ctx.suite.config.issuer.clone();
    let token = ctx.endpoint("token_endpoint").await?.to_string();
    aud_refused(ctx, json!([issuer, token])).await
}

async fn aud_par(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let par = ctx
        .endpoint("pushed_authorization_request_endpoint")
        .await?
        .to_string();
    aud_refused(ctx, par.into()).await
}

async fn aud_token(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let token = ctx.endpoint("token_endpoint").await?.to_string();
    aud_refused(ctx, token.into()).await
}
