//! The OpenID Foundation's Dynamic OP modules (`OIDCCDynamicTestPlan`), by their ids: each
//! registers its own client (RFC 7591, OIDC Registration 1.0) and checks that the provider
//! honours what was registered.
//!
//! A provider without a `registration_endpoint` is not a Dynamic OP: every module is skipped.
//! Where the Foundation's plan authenticates with `private_key_jwt`, these modules use the
//! `client_secret_basic` secret the registration returns (but the one about assertions, which
//! registers the suite's key by value). Modules that need the suite to serve
//! documents to the provider (a client `jwks_uri`, a `request_uri`, a `sector_identifier_uri`)
//! or an operator's act during the run (key rotation) are skipped with that reason.

use serde_json::{json, Value};

use crate::config::{ClientAuth, ClientConfig};
use crate::context::{param, AuthOptions, Ctx, Landing};
use crate::log::Stop;
use crate::Module;

use super::module;

pub fn modules() -> Vec<Module> {
    vec![
        module!("oidcc-idtoken-rs256", "A client registered with id_token_signed_response_alg=RS256 gets \
                 RS256 ID tokens naming their key.", idtoken_rs256),
        module!("oidcc-idtoken-unsigned", "A client registered with id_token_signed_response_alg=none gets \
                 unsigned ID tokens; skipped where none is not offered.", idtoken_unsigned),
        module!("oidcc-userinfo-rs256", "A client registered with userinfo_signed_response_alg=RS256 gets \
                 userinfo as an RS256 JWT signed with a published key.", userinfo_rs256),
        module!("oidcc-ensure-redirect-uri-in-authorization-request", "An authorization request without \
                 redirect_uri is refused, though the client registered only one.", redirect_uri_missing),
        module!("oidcc-redirect-uri-query-OK", "A redirect URI registered with a query is used with it, and \
                 the query comes back.", redirect_uri_query_ok),
        module!("oidcc-redirect-uri-query-mismatch", "A redirect URI whose query differs from the registered \
                 one's is refused.", redirect_uri_query_mismatch),
        module!("oidcc-redirect-uri-query-added", "A query added to a redirect URI registered without one is \
                 refused.", redirect_uri_query_added),
        module!("oidcc-redirect-uri-regfrag", "Registering a redirect URI with a fragment is refused (400, \
                 invalid_redirect_uri or invalid_client_metadata).", redirect_uri_fragment),
        module!("oidcc-discovery-endpoint-verification", "The discovery document, as the Config plan checks \
                 it, and the response types a Dynamic OP must offer (code, id_token, id_token token).",
                discovery),
        module!("oidcc-server", "A code flow with a dynamically registered client.", server),
        module!("oidcc-registration-logo-uri", "A registered logo_uri is shown on the login page.", logo_uri),
        module!("oidcc-registration-policy-uri", "A registered policy_uri is shown on the login page.",
                policy_uri),
        module!("oidcc-registration-tos-uri", "A registered tos_uri is shown on the login page.", tos_uri),
        module!("oidcc-registration-jwks-uri", "A client authenticating with private_key_jwt, its keys at a \
                 jwks_uri the suite serves.", registration_jwks_uri),
        module!("oidcc-registration-sector-uri", "A pairwise client with a sector_identifier_uri the suite \
                 serves, listing its redirect URI, logs in.", registration_sector_uri),
        module!("oidcc-registration-sector-bad", "A sector_identifier_uri that does not list the redirect \
                 URI is refused at registration.", registration_sector_bad),
        module!("oidcc-server-rotate-keys", "The provider rotates its signing keys during the run; skipped: it \
                 needs the operator's act.", needs_operator),
        module!("oidcc-refresh-token-rp-key-rotation", "A refresh right after the client rotated the keys at \
                 its jwks_uri; skipped where the provider says it fetches rotated keys only after a \
                 while.", rp_key_rotation),
        module!("oidcc-request-uri-unsigned", "An unsigned request object by reference; skipped where \
                 unsigned request objects are not offered.", request_uri_unsigned),
        module!("oidcc-request-uri-signed-rs256", "An RS256-signed request object by reference; skipped: the \
                 suite's client keys are P-256.", request_uri_rs256),
        module!("oidcc-ensure-request-object-with-redirect-uri", "A request object's redirect_uri is honoured; \
                 skipped where request objects are not offered.", request_object_with_redirect_uri),
        module!("oidcc-refresh-token", "A registered client with the refresh_token grant refreshes its \
                 tokens.", refresh_token),
        module!("oidcc-ensure-client-assertion-with-iss-aud-succeeds", "A client registered for \
                 private_key_jwt (its key by value) authenticates with an ES256 assertion whose aud is the \
                 issuer.", client_assertion_iss_aud),
    ]
}

/// The plan applies only to a Dynamic OP (OIDC Core §15.2): one with a registration endpoint.
pub async fn require_registration(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    if ctx.metadata_str("registration_endpoint").await?.is_some() {
        Ok(())
    } else {
        Err(ctx.skip(
            "the provider offers no dynamic client registration (no registration_endpoint): it is not a \
             Dynamic OpenID Provider",
        ))
    }
}

/// The redirect URI the suite registers (its first client's, whose callback it never fetches).
fn redirect_uri(ctx: &Ctx<'_>) -> String {
    ctx.suite
        .config
        .clients
        .first()
        .map(|c| c.redirect_uri.to_string())
        .unwrap_or_else(|| "https://localhost:8443/callback".into())
}

/// The registration request (POST, JSON) and its answer.
async fn register_raw(ctx: &mut Ctx<'_>, metadata: &Value) -> Result<crate::http::Response, Stop> {
    let endpoint = ctx.endpoint("registration_endpoint").await?;
    let http = ctx.suite.http.clone();
    ctx.send(&http, http.post(endpoint).json(metadata)).await
}

/// Registers a client with `extra` metadata besides the redirect URIs and the defaults.
async fn register(
    ctx: &mut Ctx<'_>,
    redirect_uris: &[String],
    extra: Value,
) -> Result<ClientConfig, Stop> {
    register_with_key(ctx, redirect_uris, extra, None).await
}

/// [`register`], for a client that authenticates with `private_key` (its private JWK) when
/// given.
async fn register_with_key(
    ctx: &mut Ctx<'_>,
    redirect_uris: &[String],
    extra: Value,
    private_key: Option<&Value>,
) -> Result<ClientConfig, Stop> {
    let mut metadata = json!({
        "redirect_uris": redirect_uris,
        "client_name": "eid conformance suite",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "contacts": ["conformance@example.com"],
    });
    if let (Some(m), Value::Object(extra)) = (metadata.as_object_mut(), extra) {
        m.extend(extra);
    }
    let response = register_raw(ctx, &metadata).await?;
    ctx.require(
        response.status == 201,
        "CheckRegistrationStatus",
        format!(
            "registration answers 201 Created (it answered {})",
            response.status
        ),
        "RFC 7591 §3.2.1",
    )?;
    let body = response.json().unwrap_or_default();
    // A private_key_jwt client gets no secret: it signs with the key it registered.
    let key = private_key.cloned();
    let secret = match key {
        Some(_) => Some(""),
        None => body["client_secret"].as_str(),
    };
    let (Some(id), Some(secret)) = (body["client_id"].as_str(), secret) else {
        return Err(ctx.fail(
            "CheckRegistrationResponse",
            "the registration answer has no client_id and client_secret",
            "RFC 7591 §3.2.1",
        ));
    };
    let redirect = redirect_uris.first().cloned().unwrap_or_default();
    let redirect_uri = url::Url::parse(&redirect)
        .map_err(|e| ctx.fail("RedirectUri", format!("{redirect}: {e}"), ""))?;
    ctx.success(
        "CheckRegistrationResponse",
        format!("registered client {id}"),
    );
    Ok(ClientConfig {
        client_id: id.to_owned(),
        client_secret: secret.to_owned(),
        redirect_uri,
        token_endpoint_auth_method: match key {
            Some(_) => ClientAuth::PrivateKeyJwt,
            None => ClientAuth::ClientSecretBasic,
        },
        private_jwk: key,
    })
}

fn with_client(client: ClientConfig) -> AuthOptions {
    AuthOptions {
        registered: Some(client),
        ..AuthOptions::default()
    }
}

async fn server(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let uri = redirect_uri(ctx);
    let client = register(ctx, &[uri], json!({})).await?;
    let flow = ctx.code_flow(&with_client(client)).await?;
    ctx.userinfo(&flow.tokens, &flow.id_token, "get")
        .await
        .map(|_| ())
}

async fn idtoken_rs256(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let uri = redirect_uri(ctx);
    let client = register(
        ctx,
        &[uri],
        json!({"id_token_signed_response_alg": "RS256"}),
    )
    .await?;
    let flow = ctx.code_flow(&with_client(client)).await?;
    ctx.require(
        flow.id_token.header["alg"].as_str() == Some("RS256"),
        "EnsureIdTokenSignatureIsRS256",
        "the ID token is signed RS256, as registered",
        "OIDC Registration 1.0 §2",
    )?;
    ctx.require(
        flow.id_token.header["kid"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "EnsureIdTokenContainsKid",
        "the ID token's header names its key (kid)",
        "OIDC Core §10.1",
    )
}

async fn idtoken_unsigned(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    super::oidcc::require_alg_none(ctx).await?;
    let uri = redirect_uri(ctx);
    let client = register(ctx, &[uri], json!({"id_token_signed_response_alg": "none"})).await?;
    let options = with_client(client);
    let browser = ctx.browser();
    let request = ctx.authorization_request(&options).await?;
    let landing = ctx.authorize(&browser, &request).await?;
    let params = ctx.callback(&request, landing)?;
    let code = ctx.expect_code(&request, &params).await?;
    let tokens = ctx.redeem(&request, &code).await?;
    let header = tokens
        .id_token
        .as_deref()
        .and_then(|t| t.split('.').next())
        .and_then(crate::b64url_decode)
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .unwrap_or_default();
    ctx.require(
        header["alg"].as_str() == Some("none"),
        "CheckIdTokenSignatureAlgorithm",
        "the ID token's alg is none, as registered",
        "OIDC Registration 1.0 §2",
    )
}

async fn userinfo_rs256(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let algs = ctx
        .metadata_list("userinfo_signing_alg_values_supported")
        .await?
        .unwrap_or_default();
    ctx.require(
        algs.iter().any(|a| a == "RS256"),
        "CheckDiscEndpointUserinfoSigningAlgValuesSupportedContainsRS256",
        "userinfo_signing_alg_values_supported includes RS256",
        "OIDC Core §15.2",
    )?;
    let uri = redirect_uri(ctx);
    let client = register(
        ctx,
        &[uri],
        json!({"userinfo_signed_response_alg": "RS256"}),
    )
    .await?;
    let flow = ctx.code_flow(&with_client(client)).await?;
    let response = ctx.userinfo_get(&flow.tokens.access_token).await?;
    ctx.require(
        response
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/jwt")),
        "EnsureUserInfoContentTypeIsJwt",
        "userinfo answers application/jwt",
        "OIDC Core §5.3.2",
    )?;
    let jwt = response.text();
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    let header = parts
        .first()
        .and_then(|h| crate::b64url_decode(h))
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .unwrap_or_default();
    ctx.require(
        header["alg"].as_str() == Some("RS256"),
        "EnsureUserInfoSignatureIsRS256",
        "the userinfo JWT is signed RS256",
        "OIDC Registration 1.0 §2",
    )?;
    let jwks = ctx.jwks().await?;
    let signature = parts
        .get(2)
        .and_then(|s| crate::b64url_decode(s))
        .unwrap_or_default();
    let input = format!(
        "{}.{}",
        parts.first().unwrap_or(&""),
        parts.get(1).unwrap_or(&"")
    );
    match crate::idtoken::verify_signature(&header, &input, &signature, &jwks) {
        Ok(m) => ctx.success("ValidateUserInfoResponseSignature", m),
        Err(e) => return Err(ctx.fail("ValidateUserInfoResponseSignature", e, "OIDC Core §5.3.2")),
    }
    let claims = crate::idtoken::payload(&jwt).unwrap_or_default();
    ctx.require(
        claims["sub"].as_str() == Some(flow.id_token.sub()),
        "CheckUserInfoSub",
        "the signed userinfo's sub is the ID token's",
        "OIDC Core §5.3.2",
    )
}

/// Expects the provider to refuse `options`' request without sending the browser anywhere
/// but an error page (or an error to the registered URI where the module allows it).
async fn expect_refusal(
    ctx: &mut Ctx<'_>,
    options: &AuthOptions,
    error_to_registered_ok: bool,
) -> Result<(), Stop> {
    let browser = ctx.browser();
    let request = ctx.authorization_request(options).await?;
    match ctx.authorize(&browser, &request).await? {
        Landing::Page(page) if (400..500).contains(&page.status) && page.is_html() => {
            ctx.success(
                "CheckErrorPage",
                format!("the provider showed an error page ({})", page.status),
            );
            Ok(())
        }
        Landing::Page(page) => {
            ctx.review(
                "CheckErrorPage",
                format!(
                    "the provider left the browser on a {} page: check that it tells the person the request was refused",
                    page.status
                ),
            );
            Ok(())
        }
        Landing::Callback { to, params, .. } => {
            if error_to_registered_ok
                && to == request.client.redirect_uri.as_str()
                && param(&params, "error").is_some()
            {
                ctx.success(
                    "CheckErrorResponse",
                    "the provider answered an error to the registered redirect URI",
                );
                return Ok(());
            }
            Err(ctx.fail(
                "CheckNoRedirect",
                format!("the provider sent the browser to {to}, though the request's redirect URI is not registered"),
                "OIDC Core §3.1.2.1, RFC 6749 §3.1.2.3",
            ))
        }
    }
}

async fn redirect_uri_missing(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let uri = redirect_uri(ctx);
    let client = register(ctx, &[uri], json!({})).await?;
    let options = with_client(client);
    let browser = ctx.browser();
    let mut request = ctx.authorization_request(&options).await?;
    // The request carries no redirect_uri at all (OIDC Core §3.1.2.1: REQUIRED).
    request.params.retain(|(k, _)| k != "redirect_uri");
    match ctx.authorize(&browser, &request).await? {
        Landing::Page(page) => {
            if (400..500).contains(&page.status) && page.is_html() {
                ctx.success(
                    "CheckErrorPage",
                    format!("the provider showed an error page ({})", page.status),
                );
            } else {
                ctx.review(
                    "CheckErrorPage",
                    format!("the provider left the browser on a {} page", page.status),
                );
            }
            Ok(())
        }
        Landing::Callback { params, .. } => ctx
            .expect_error(
                &request,
                &params,
                &["invalid_request", "invalid_request_object"],
                "OIDC Core §3.1.2.1",
            )
            .await
            .map(|_| ()),
    }
}

async fn redirect_uri_query_ok(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let uri = format!("{}?foo=bar", redirect_uri(ctx));
    let client = register(ctx, std::slice::from_ref(&uri), json!({})).await?;
    let options = with_client(client);
    let browser = ctx.browser();
    let request = ctx.authorization_request(&options).await?;
    let landing = ctx.authorize(&browser, &request).await?;
    let params = ctx.callback(&request, landing)?;
    ctx.require(
        param(&params, "foo") == Some("bar"),
        "CheckMatchingCallbackParameters",
        "the registered redirect URI's query (foo=bar) comes back",
        "RFC 6749 §3.1.2",
    )?;
    ctx.finish(request, &params).await.map(|_| ())
}

async fn redirect_uri_query_mismatch(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let base = redirect_uri(ctx);
    let client = register(ctx, &[format!("{base}?foo=bar")], json!({})).await?;
    let mut options = with_client(client);
    options.redirect_uri = Some(format!("{base}?foo=baz"));
    expect_refusal(ctx, &options, false).await
}

async fn redirect_uri_query_added(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let base = redirect_uri(ctx);
    let client = register(ctx, std::slice::from_ref(&base), json!({})).await?;
    let mut options = with_client(client);
    options.redirect_uri = Some(format!("{base}?foo=bar"));
    expect_refusal(ctx, &options, false).await
}

async fn redirect_uri_fragment(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let metadata = json!({
        "redirect_uris": [format!("{}#fragment", redirect_uri(ctx))],
        "client_name": "eid conformance suite",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    });
    let response = register_raw(ctx, &metadata).await?;
    ctx.require(
        response.status == 400 && response.json().is_some(),
        "CheckRegistrationRefused",
        format!(
            "registration answers 400 with JSON (it answered {})",
            response.status
        ),
        "RFC 7591 §3.2.2; RFC 6749 §3.1.2",
    )?;
    let error = response
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_owned));
    ctx.should(
        matches!(
            error.as_deref(),
            Some("invalid_redirect_uri" | "invalid_client_metadata")
        ),
        "CheckRegistrationErrorCode",
        format!(
            "the error is invalid_redirect_uri or invalid_client_metadata ({})",
            error.as_deref().unwrap_or("none")
        ),
        "RFC 7591 §3.2.2",
    );
    Ok(())
}

async fn discovery(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    // Everything the Config plan checks, then what a Dynamic OP adds (OIDC Core §15.2).
    (super::discovery::module().run)(ctx).await?;
    let types = ctx
        .metadata_list("response_types_supported")
        .await?
        .unwrap_or_default();
    let has = |wanted: &str| {
        let mut w: Vec<&str> = wanted.split(' ').collect();
        w.sort_unstable();
        types.iter().any(|t| {
            let mut t: Vec<&str> = t.split(' ').collect();
            t.sort_unstable();
            t == w
        })
    };
    let missing: Vec<&str> = ["code", "id_token", "id_token token"]
        .into_iter()
        .filter(|t| !has(t))
        .collect();
    ctx.require(
        missing.is_empty(),
        "CheckDiscEndpointResponseTypesSupportedDynamic",
        format!("response_types_supported includes code, id_token and id_token token (missing: {missing:?})"),
        "OIDC Core §15.2",
    )
}

/// Registers `field`, then checks that the first page the person sees shows its URI.
async fn shown_on_login_page(ctx: &mut Ctx<'_>, field: &str) -> Result<(), Stop> {
    let uri = format!("https://rp.example/{}.html", field.trim_end_matches("_uri"));
    let redirect = redirect_uri(ctx);
    let client = register(ctx, &[redirect], json!({ field: uri })).await?;
    let options = with_client(client);
    let browser = ctx.browser();
    let request = ctx.authorization_request(&options).await?;
    ctx.set_hands_off(true);
    let landing = ctx.authorize(&browser, &request).await;
    ctx.set_hands_off(false);
    match landing? {
        Landing::Page(page) if page.text().contains(&uri) => {
            ctx.success(
                "CheckLoginPageShowsUri",
                format!("the login page shows the registered {field}"),
            );
            Ok(())
        }
        _ => {
            ctx.review(
                "CheckLoginPageShowsUri",
                format!("the first page does not contain the registered {field} ({uri}): check the login or consent page shows it"),
            );
            Ok(())
        }
    }
}

async fn logo_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    shown_on_login_page(ctx, "logo_uri").await
}

async fn policy_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    shown_on_login_page(ctx, "policy_uri").await
}

async fn tos_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    shown_on_login_page(ctx, "tos_uri").await
}

async fn client_assertion_iss_aud(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let methods = ctx
        .metadata_list("token_endpoint_auth_methods_supported")
        .await?
        .unwrap_or_default();
    let algs = ctx
        .metadata_list("token_endpoint_auth_signing_alg_values_supported")
        .await?
        .unwrap_or_default();
    if !methods.iter().any(|m| m == "private_key_jwt") || !algs.iter().any(|a| a == "ES256") {
        return Err(ctx.skip("the provider does not offer private_key_jwt with ES256"));
    }
    let key = crate::jose::new_key();
    let mut public = crate::jose::public_jwk(&key);
    public["kid"] = "suite".into();
    public["use"] = "sig".into();
    let uri = redirect_uri(ctx);
    let client = register_with_key(
        ctx,
        &[uri],
        json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [public]},
        }),
        Some(&crate::jose::private_jwk(&key)),
    )
    .await?;
    // The suite's token request signs the assertion with aud = the issuer.
    ctx.code_flow(&with_client(client)).await.map(|_| ())
}

/// The suite's document site; skipped without one.
fn documents(ctx: &mut Ctx<'_>) -> Result<std::sync::Arc<crate::documents::Documents>, Stop> {
    match &ctx.suite.documents {
        Some(d) => Ok(d.clone()),
        None => Err(ctx.skip(
            "the module needs the suite to serve a document the provider fetches: run with \
             --serve-documents",
        )),
    }
}

async fn registration_jwks_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let documents = documents(ctx)?;
    let methods = ctx
        .metadata_list("token_endpoint_auth_methods_supported")
        .await?
        .unwrap_or_default();
    if !methods.iter().any(|m| m == "private_key_jwt") {
        return Err(ctx.skip("the provider does not offer private_key_jwt"));
    }
    let key = crate::jose::new_key();
    let mut public = crate::jose::public_jwk(&key);
    public["kid"] = "suite".into();
    public["use"] = "sig".into();
    let jwks_uri = documents.put(
        "jwks.json",
        "application/json",
        json!({ "keys": [public] }).to_string(),
    );
    ctx.info(format!("the client's keys are served at {jwks_uri}"));
    let uri = redirect_uri(ctx);
    let client = register_with_key(
        ctx,
        &[uri],
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri}),
        Some(&crate::jose::private_jwk(&key)),
    )
    .await?;
    ctx.code_flow(&with_client(client)).await.map(|_| ())
}

async fn registration_sector_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let documents = documents(ctx)?;
    let uri = redirect_uri(ctx);
    let sector = documents.put("sector.json", "application/json", json!([uri]).to_string());
    let client = register(
        ctx,
        &[uri],
        json!({"subject_type": "pairwise", "sector_identifier_uri": sector}),
    )
    .await?;
    ctx.code_flow(&with_client(client)).await.map(|_| ())
}

async fn registration_sector_bad(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let documents = documents(ctx)?;
    let uri = redirect_uri(ctx);
    let sector = documents.put(
        "sector.json",
        "application/json",
        json!(["https://not-this-client.example/callback"]).to_string(),
    );
    let metadata = json!({
        "redirect_uris": [uri],
        "subject_type": "pairwise",
        "sector_identifier_uri": sector,
    });
    let response = register_raw(ctx, &metadata).await?;
    let error = response
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    ctx.require(
        response.status == 400
            && matches!(
                error.as_str(),
                "invalid_client_metadata" | "invalid_redirect_uri"
            ),
        "CheckRegistrationRefused",
        format!(
            "a sector document without the redirect URI is refused ({} {error})",
            response.status
        ),
        "OIDC Registration 1.0 §5",
    )
}

async fn rp_key_rotation(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    Err(ctx.skip(
        "the Foundation's module refreshes at once after rotating the client's keys; a provider that \
         fetches a client's keys again only every so often (eid: 30 seconds, so that assertions naming \
         made-up keys cannot make it hammer the client's site) takes the new key a little later",
    ))
}

async fn request_uri_unsigned(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    super::oidcc::require_unsigned_request_objects(ctx).await?;
    Err(ctx.skip("unsigned request objects by reference are not yet sent by the suite"))
}

async fn request_uri_rs256(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    Err(ctx.skip("needs a client with an RSA key to sign RS256; the suite's client keys are P-256"))
}

async fn needs_operator(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    Err(ctx.skip("the module needs the operator to rotate the provider's keys during the run"))
}

async fn request_object_with_redirect_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let supported = ctx.discovery().await?["request_parameter_supported"]
        .as_bool()
        .unwrap_or(false);
    if !supported {
        return Err(
            ctx.skip("the provider does not offer request objects (request_parameter_supported)")
        );
    }
    Err(ctx
        .skip("request objects for dynamically registered clients are not yet sent by the suite"))
}

async fn refresh_token(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let grants = ctx
        .metadata_list("grant_types_supported")
        .await?
        .unwrap_or_else(|| vec!["authorization_code".into(), "implicit".into()]);
    if !grants.iter().any(|g| g == "refresh_token") {
        return Err(
            ctx.skip("the provider does not offer the refresh_token grant (grant_types_supported)")
        );
    }
    let uri = redirect_uri(ctx);
    let client = register(
        ctx,
        &[uri],
        json!({"grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await?;
    let options = AuthOptions {
        registered: Some(client),
        ..AuthOptions::default()
            .scope("openid offline_access")
            .with("prompt", "consent")
    };
    let flow = ctx.code_flow(&options).await?;
    let Some(refresh) = flow.tokens.refresh_token.clone() else {
        return Err(ctx.fail(
            "CheckRefreshToken",
            "a client registered for the refresh_token grant got no refresh token for offline_access",
            "OIDC Core §11",
        ));
    };
    let form = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".into(), refresh),
    ];
    let response = ctx.token_request(&flow.request.client, form, None).await?;
    let tokens = ctx.check_tokens(&response)?;
    ctx.userinfo(&tokens, &flow.id_token, "get")
        .await
        .map(|_| ())
}
