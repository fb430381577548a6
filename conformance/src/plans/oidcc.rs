//! The OpenID Foundation's Basic OP modules (`OIDCCBasicTestPlan`), by their ids.
//!
//! Each module says in its summary what it sends and what it expects. Where the Foundation's
//! suite grades by screenshot ("the provider must show an error page"), these grade by what
//! can be observed: no redirect to where it must not go, an HTML page with a 4xx status; a page
//! that looks like success is left for review.

use std::time::Duration;

use serde_json::Value;

use crate::context::{param, AuthOptions, Ctx, Flow, Landing};
use crate::log::Stop;
use crate::Module;

use super::module;

/// Userinfo members each standard scope asks for (OIDC Core §5.4).
const SCOPE_CLAIMS: &[(&str, &[&str])] = &[
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// The Basic plan's modules.
pub fn basic() -> Vec<Module> {
    vec![
        module!("oidcc-server", "A code flow with scope openid: the authorization response, the token response, \
                 the ID token (signature, iss, aud, exp, iat, nonce) and userinfo's sub.", server),
        module!("oidcc-response-type-missing", "An authorization request without response_type is refused: an \
                 error to the redirect URI (invalid_request or unsupported_response_type) or an error page.",
                response_type_missing),
        module!("oidcc-idtoken-signature", "The ID token is signed with an algorithm the provider offers and a key \
                 of its published key set.", idtoken_signature),
        module!("oidcc-idtoken-unsigned", "Unsigned ID tokens (alg none) for a client registered for them; \
                 skipped where the provider does not offer none.", idtoken_unsigned),
        module!("oidcc-userinfo-get", "Userinfo answers a GET with the access token in the Authorization header.",
                userinfo_get),
        module!("oidcc-userinfo-post-header", "Userinfo answers a POST with the access token in the Authorization \
                 header.", userinfo_post_header),
        module!("oidcc-userinfo-post-body", "Userinfo answers a POST with the access token in the form body \
                 (RFC 6750 §2.2).", userinfo_post_body),
        module!("oidcc-ensure-request-without-nonce-succeeds-for-code-flow", "A code flow without nonce succeeds, \
                 and its ID token carries no nonce.", without_nonce),
        module!("oidcc-scope-profile", "scope=openid profile: the profile claims the person has are released.",
                scope_profile),
        module!("oidcc-scope-email", "scope=openid email: the email claims are released.", scope_email),
        module!("oidcc-scope-address", "scope=openid address: the address claim is released.", scope_address),
        module!("oidcc-scope-phone", "scope=openid phone: the phone claims are released.", scope_phone),
        module!("oidcc-scope-all", "scope=openid with every standard scope the provider lists: their claims are \
                 released.", scope_all),
        module!("oidcc-alternate-happy-flow", "scope=email openid (the order reversed): the order of scopes does \
                 not matter; skipped unless the provider lists email.", alternate_happy_flow),
        module!("oidcc-display-page", "display=page is accepted.", display_page),
        module!("oidcc-display-popup", "display=popup is accepted.", display_popup),
        module!("oidcc-prompt-login", "After a login, prompt=login in the same browser makes the person log in \
                 again.", prompt_login),
        module!("oidcc-prompt-none-not-logged-in", "prompt=none in a browser with no session answers \
                 login_required (or another interaction error) without showing anything.", prompt_none_not_logged_in),
        module!("oidcc-prompt-none-logged-in", "After a login, prompt=none in the same browser answers at once with \
                 a code for the same subject.", prompt_none_logged_in),
        module!("oidcc-max-age-1", "After a login and a pause, max_age=1 makes the person log in again; auth_time \
                 is in the ID token.", max_age_1),
        module!("oidcc-max-age-10000", "After a login, max_age=10000 succeeds with auth_time in the ID token and \
                 the same subject.", max_age_10000),
        module!("oidcc-ensure-request-with-unknown-parameter-succeeds", "An unknown authorization parameter is \
                 ignored.", unknown_parameter),
        module!("oidcc-id-token-hint", "After a login, prompt=none with the ID token as id_token_hint answers with \
                 the same subject.", id_token_hint),
        module!("oidcc-login-hint", "login_hint is accepted.", login_hint),
        module!("oidcc-ui-locales", "ui_locales is accepted.", ui_locales),
        module!("oidcc-claims-locales", "claims_locales is accepted.", claims_locales),
        module!("oidcc-ensure-request-with-acr-values-succeeds", "acr_values the provider may not know are \
                 accepted (a voluntary request).", acr_values),
        module!("oidcc-codereuse", "A code redeemed twice: the second answer is invalid_grant, and the tokens of the \
                 first should be revoked.", code_reuse),
        module!("oidcc-codereuse-30seconds", "A code redeemed, then again 30 seconds later: invalid_grant, and the \
                 first tokens should be revoked.", code_reuse_30s),
        module!("oidcc-ensure-registered-redirect-uri", "An authorization request with a redirect URI that is not \
                 registered is never redirected there; the person sees an error.", unregistered_redirect_uri),
        module!("oidcc-ensure-post-request-succeeds", "An authorization request sent as a form POST succeeds.",
                post_request),
        module!("oidcc-server-client-secret-post", "A code flow whose token request authenticates with \
                 client_secret_post.", client_secret_post),
        module!("oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported", "request_uri is \
                 either refused with request_uri_not_supported or handled.", request_uri_unsigned),
        module!("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", "An unsigned \
                 request object is either refused with request_not_supported or honoured.", unsigned_request_object),
        module!("oidcc-claims-essential", "The claims parameter asks for name as essential in userinfo: the \
                 request succeeds, and name should be released.", claims_essential),
        module!("oidcc-ensure-request-object-with-redirect-uri", "A request object carrying redirect_uri is \
                 honoured; skipped where request objects are not offered.", request_object_with_redirect_uri),
        module!("oidcc-refresh-token", "A refresh token is issued for offline_access and redeemed; skipped where \
                 the refresh_token grant is not offered.", refresh_token),
        module!("oidcc-ensure-request-with-valid-pkce-succeeds", "A code flow with PKCE (S256) succeeds.", valid_pkce),
    ]
}

fn opts() -> AuthOptions {
    AuthOptions::default()
}

/// A happy flow ending with userinfo by `method`.
async fn flow_with_userinfo(
    ctx: &mut Ctx<'_>,
    options: &AuthOptions,
    method: &str,
) -> Result<(Flow, Value), Stop> {
    let flow = ctx.code_flow(options).await?;
    let info = ctx.userinfo(&flow.tokens, &flow.id_token, method).await?;
    Ok((flow, info))
}

/// A code flow whose request carries one more parameter, which must not stop it.
async fn flow_with(ctx: &mut Ctx<'_>, name: &str, value: &str) -> Result<(), Stop> {
    ctx.code_flow(&opts().with(name, value)).await.map(|_| ())
}

async fn server(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (flow, _) = flow_with_userinfo(ctx, &opts(), "get").await?;
    // RFC 6749 §10.10, RFC 6819 §5.1.4.2.2: a code must not be guessable.
    ctx.require(
        flow.code.len() >= 16,
        "EnsureMinimumAuthorizationCodeLength",
        format!(
            "the code has at least 128 bits ({} characters)",
            flow.code.len()
        ),
        "RFC 6749 §10.10",
    )?;
    ctx.should(
        flow.id_token.claims["name"].is_null(),
        "EnsureIdTokenDoesNotContainName",
        "with scope openid alone, the ID token carries no name",
        "OIDC Core §5.4",
    );
    Ok(())
}

async fn idtoken_signature(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let flow = ctx.code_flow(&opts()).await?;
    ctx.require(
        flow.id_token.header["kid"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "EnsureIdTokenContainsKid",
        "the ID token's header names its key (kid)",
        "OIDC Core §10.1",
    )?;
    let alg = flow.id_token.header["alg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let offered = ctx
        .metadata_list("id_token_signing_alg_values_supported")
        .await?
        .unwrap_or_default();
    ctx.require(
        offered.contains(&alg),
        "CheckIdTokenAlgOffered",
        format!("the ID token's alg {alg} is one discovery offers ({offered:?})"),
        "OIDC Discovery §3",
    )
}

/// Skipped unless the provider offers unsigned ID tokens.
pub(super) async fn require_alg_none(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let offered = ctx
        .metadata_list("id_token_signing_alg_values_supported")
        .await?
        .unwrap_or_default();
    if offered.iter().any(|a| a == "none") {
        Ok(())
    } else {
        Err(ctx.skip(
            "the provider does not offer unsigned ID tokens (none is not in \
             id_token_signing_alg_values_supported)",
        ))
    }
}

async fn idtoken_unsigned(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    require_alg_none(ctx).await?;
    Err(ctx.skip(
        "the provider offers alg none, but the suite's clients are registered for signed ID tokens; register one \
         with id_token_signed_response_alg=none to run this module",
    ))
}

async fn userinfo_get(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with_userinfo(ctx, &opts(), "get").await.map(|_| ())
}

async fn userinfo_post_header(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with_userinfo(ctx, &opts(), "post-header")
        .await
        .map(|_| ())
}

async fn userinfo_post_body(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let flow = ctx.code_flow(&opts()).await?;
    let endpoint = ctx.endpoint("userinfo_endpoint").await?;
    let http = ctx.suite.http.clone();
    let probe = ctx
        .send(
            &http,
            http.post(endpoint)
                .form(&[("access_token", flow.tokens.access_token.as_str())]),
        )
        .await?;
    if !(200..300).contains(&probe.status) {
        // RFC 6750 §2.2: a resource server MAY support the token in the body.
        ctx.warning(
            "UserInfoEndpointWithAccessTokenInBodyNotSupported",
            format!(
                "userinfo does not take the access token in a form body (it answered {})",
                probe.status
            ),
            "RFC 6750 §2.2 (MAY)",
        );
        return Ok(());
    }
    ctx.userinfo(&flow.tokens, &flow.id_token, "post-body")
        .await
        .map(|_| ())
}

async fn without_nonce(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let options = AuthOptions {
        nonce: false,
        ..opts()
    };
    // The ID token check fails when a nonce comes back unasked.
    ctx.code_flow(&options).await.map(|_| ())
}

/// Requests `wanted` scopes (in this order) and checks their claims are released. Skipped
/// unless discovery lists every one of them.
async fn scopes(ctx: &mut Ctx<'_>, wanted: &[&str]) -> Result<(), Stop> {
    let Some(supported) = ctx.metadata_list("scopes_supported").await? else {
        return Err(ctx.skip("discovery has no scopes_supported, so the provider does not say it supports these scopes"));
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|s| *s != "openid" && !supported.iter().any(|l| l == s))
        .collect();
    if !missing.is_empty() {
        return Err(ctx.skip(format!(
            "the provider does not list {} in scopes_supported",
            missing.join(", ")
        )));
    }
    let scope = wanted.join(" ");
    let (flow, info) = flow_with_userinfo(ctx, &opts().scope(&scope), "get").await?;
    for scope in wanted {
        let claims = SCOPE_CLAIMS
            .iter()
            .find(|(s, _)| s == scope)
            .map(|(_, c)| *c)
            .unwrap_or_default();
        let absent: Vec<&str> = claims
            .iter()
            .copied()
            .filter(|c| info[*c].is_null())
            .collect();
        // The person may not have every claim (OIDC Core §5.4), so a gap is a warning.
        ctx.should(
            absent.is_empty(),
            "VerifyScopesReturnedInUserInfoClaims",
            if absent.is_empty() {
                format!("userinfo releases every claim of scope {scope}")
            } else {
                format!(
                    "userinfo releases every claim of scope {scope}; absent: {}",
                    absent.join(", ")
                )
            },
            "OIDC Core §5.4",
        );
    }
    if wanted.contains(&"email") {
        ctx.should(
            flow.id_token.claims["email"].is_null(),
            "EnsureIdTokenDoesNotContainEmail",
            "with an access token issued, email is in userinfo, not in the ID token",
            "OIDC Core §5.4",
        );
    }
    Ok(())
}

async fn scope_profile(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    scopes(ctx, &["openid", "profile"]).await
}

async fn scope_email(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    scopes(ctx, &["openid", "email"]).await
}

async fn scope_address(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    scopes(ctx, &["openid", "address"]).await
}

async fn scope_phone(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    scopes(ctx, &["openid", "phone"]).await
}

async fn scope_all(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    scopes(ctx, &["openid", "email", "phone", "address", "profile"]).await
}

/// scope `email openid`: the order of scopes does not matter (RFC 6749 §3.3).
async fn alternate_happy_flow(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    scopes(ctx, &["email", "openid"]).await
}

async fn display_page(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with(ctx, "display", "page").await
}

async fn display_popup(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with(ctx, "display", "popup").await
}

/// Logs in, waits `pause`, then logs in again in the same browser with `name=value`, which must
/// make the person log in again (auth_time counts seconds: the pause keeps the two apart).
async fn log_in_again(
    ctx: &mut Ctx<'_>,
    pause: Duration,
    name: &str,
    value: &str,
) -> Result<(Flow, Flow), Stop> {
    let browser = ctx.browser();
    let first = ctx.code_flow_in(&browser, &opts()).await?;
    ctx.info(format!(
        "logged in; waiting {} ms, then again in the same browser with {name}={value}",
        pause.as_millis()
    ));
    tokio::time::sleep(pause).await;
    let second = ctx
        .code_flow_in(&browser, &opts().with(name, value))
        .await?;
    ctx.require(
        ctx.interactions() > 0,
        "CheckReauthentication",
        "the person was asked to log in again",
        &format!("OIDC Core §3.1.2.1 ({name})"),
    )?;
    Ok((first, second))
}

async fn prompt_login(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (first, second) = log_in_again(ctx, Duration::from_millis(1100), "prompt", "login").await?;
    same_subject(ctx, &first, &second)?;
    if let (Some(a), Some(b)) = (first.id_token.auth_time(), second.id_token.auth_time()) {
        ctx.require(
            a != b,
            "CheckIdTokenAuthTimeClaimsDifferIfPresent",
            format!("the second login has its own auth_time ({a} then {b})"),
            "OIDC Core §3.1.2.1 (prompt=login)",
        )?;
    }
    Ok(())
}

fn same_subject(ctx: &mut Ctx<'_>, first: &Flow, second: &Flow) -> Result<(), Stop> {
    ctx.require(
        first.id_token.sub() == second.id_token.sub(),
        "CheckSameSubject",
        "both logins are of the same subject",
        "OIDC Core §2",
    )
}

/// Errors that say the provider would need the person (OIDC Core §3.1.2.6).
const INTERACTION_ERRORS: &[&str] = &[
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
];

async fn prompt_none_not_logged_in(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let browser = ctx.browser();
    // A long state, to catch a provider that cuts it.
    let options = AuthOptions {
        state_length: 128,
        ..opts().with("prompt", "none")
    };
    let request = ctx.authorization_request(&options).await?;
    let landing = ctx.authorize(&browser, &request).await?;
    ctx.require(
        ctx.interactions() == 0,
        "CheckNoInteraction",
        "nothing was shown to the person",
        "OIDC Core §3.1.2.1 (prompt=none)",
    )?;
    let params = ctx.callback(&request, landing)?;
    ctx.expect_error(&request, &params, INTERACTION_ERRORS, "OIDC Core §3.1.2.6")
        .await
        .map(|_| ())
}

/// A silent request after a login in the same browser (`prompt=none` plus `extra`): a code for
/// the same subject, or SKIPPED when the provider keeps no session to be silent with.
async fn silent_after_login(ctx: &mut Ctx<'_>, extra: &[(&str, String)]) -> Result<(), Stop> {
    let browser = ctx.browser();
    let first = ctx.code_flow_in(&browser, &opts()).await?;
    let mut options = opts().with("prompt", "none");
    for (k, v) in extra {
        let v = if v == "{id_token}" {
            first.id_token.raw.clone()
        } else {
            v.clone()
        };
        options = options.with(k, &v);
    }
    let request = ctx.authorization_request(&options).await?;
    let landing = ctx.authorize(&browser, &request).await?;
    ctx.require(
        ctx.interactions() == 0,
        "CheckNoInteraction",
        "nothing was shown to the person",
        "OIDC Core §3.1.2.1 (prompt=none)",
    )?;
    let params = ctx.callback(&request, landing)?;
    if let Some(error) = param(&params, "error").filter(|e| INTERACTION_ERRORS.contains(e)) {
        return Err(ctx.skip(format!(
            "the provider answered {error} right after a login in the same browser: it keeps no login session \
             (single sign-on) to answer silently with"
        )));
    }
    let code = ctx.expect_code(&request, &params).await?;
    let tokens = ctx.redeem(&request, &code).await?;
    let id_token = ctx.check_id_token(&request, &tokens, Some(&code)).await?;
    let second = Flow {
        request,
        code,
        tokens,
        id_token,
    };
    same_subject(ctx, &first, &second)?;
    same_auth_time(ctx, &first, &second)
}

/// A silent answer is of the same login: the same auth_time, when both carry one.
fn same_auth_time(ctx: &mut Ctx<'_>, first: &Flow, second: &Flow) -> Result<(), Stop> {
    match (first.id_token.auth_time(), second.id_token.auth_time()) {
        (Some(a), Some(b)) => ctx.require(
            a == b,
            "CheckIdTokenAuthTimeClaimsSameIfPresent",
            format!("both ID tokens are of the same login (auth_time {a} and {b})"),
            "OIDC Core §2",
        ),
        _ => Ok(()),
    }
}

/// `auth_time` is present when `max_age` was asked (OIDC Core §2).
fn auth_time_present(ctx: &mut Ctx<'_>, flow: &Flow) -> Result<i64, Stop> {
    match flow.id_token.auth_time() {
        Some(t) => {
            ctx.success(
                "CheckIdTokenAuthTimeClaimPresentDueToMaxAge",
                "auth_time is in the ID token",
            );
            Ok(t)
        }
        None => Err(ctx.fail(
            "CheckIdTokenAuthTimeClaimPresentDueToMaxAge",
            "max_age was asked, but the ID token has no auth_time",
            "OIDC Core §2",
        )),
    }
}

async fn prompt_none_logged_in(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    silent_after_login(ctx, &[]).await
}

async fn id_token_hint(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    silent_after_login(ctx, &[("id_token_hint", "{id_token}".into())]).await
}

async fn max_age_1(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (first, second) = log_in_again(ctx, Duration::from_secs(2), "max_age", "1").await?;
    let later = auth_time_present(ctx, &second)?;
    if let Some(earlier) = first.id_token.auth_time() {
        ctx.require(
            later > earlier,
            "CheckSecondIdTokenAuthTimeIsLaterIfPresent",
            format!("the second auth_time is later than the first ({earlier} then {later})"),
            "OIDC Core §3.1.2.1 (max_age)",
        )?;
    }
    same_subject(ctx, &first, &second)
}

async fn max_age_10000(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let browser = ctx.browser();
    let first = ctx
        .code_flow_in(&browser, &opts().with("max_age", "15000"))
        .await?;
    auth_time_present(ctx, &first)?;
    let second = ctx
        .code_flow_in(&browser, &opts().with("max_age", "10000"))
        .await?;
    if ctx.interactions() > 0 {
        return Err(ctx.skip(
            "the provider asked the person to log in again within max_age: it keeps no login session \
             (single sign-on) to answer with",
        ));
    }
    auth_time_present(ctx, &second)?;
    same_subject(ctx, &first, &second)?;
    same_auth_time(ctx, &first, &second)
}

async fn unknown_parameter(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with(ctx, "extra_parameter", "conformance-suite").await
}

async fn login_hint(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with(ctx, "login_hint", "alice@example.com").await
}

async fn ui_locales(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with(ctx, "ui_locales", "se").await
}

async fn claims_locales(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    flow_with(ctx, "claims_locales", "se").await
}

async fn acr_values(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let offered = ctx
        .metadata_list("acr_values_supported")
        .await?
        .unwrap_or_default();
    let values = if offered.is_empty() {
        "1 2".to_owned()
    } else {
        offered.join(" ")
    };
    let flow = ctx.code_flow(&opts().with("acr_values", &values)).await?;
    let acr = flow.id_token.claims["acr"].as_str().map(str::to_owned);
    ctx.should(
        acr.as_deref()
            .is_some_and(|a| values.split(' ').any(|v| v == a)),
        "ValidateIdTokenACRClaimAgainstAcrValuesRequest",
        format!(
            "the ID token's acr ({}) is one of those asked ({values})",
            acr.as_deref().unwrap_or("absent")
        ),
        "OIDC Core §3.1.2.1 (acr_values)",
    );
    Ok(())
}

async fn reuse(ctx: &mut Ctx<'_>, wait: Duration) -> Result<(), Stop> {
    let flow = ctx.code_flow(&opts()).await?;
    if !wait.is_zero() {
        ctx.info(format!(
            "waiting {} seconds before redeeming the code again",
            wait.as_secs()
        ));
        tokio::time::sleep(wait).await;
    }
    let mut form = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".into(), flow.code.clone()),
        ("redirect_uri".into(), flow.request.redirect_uri.clone()),
    ];
    if let Some(verifier) = &flow.request.verifier {
        form.push(("code_verifier".into(), verifier.clone()));
    }
    let again = ctx.token_request(&flow.request.client, form, None).await?;
    if again.status == 200 && wait.is_zero() {
        // The Foundation's suite takes a code redeemed twice in quick succession as a warning
        // (a provider may allow for a client's retry); 30 seconds later it is a failure.
        ctx.warning(
            "ServerAllowedReusingAuthorisationCode",
            "the provider accepted the code a second time",
            "RFC 6749 §4.1.2",
        );
        return Ok(());
    }
    let error = again
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_owned));
    ctx.require(
        again.status == 400 && error.as_deref() == Some("invalid_grant"),
        "CheckCodeReuseRefused",
        format!(
            "the second redemption answers 400 invalid_grant (it answered {} {})",
            again.status,
            error.as_deref().unwrap_or("without an error code")
        ),
        "RFC 6749 §4.1.2, §5.2",
    )?;
    // RFC 6749 §4.1.2: the provider SHOULD revoke what the code gave.
    let info = ctx.userinfo_get(&flow.tokens.access_token).await?;
    ctx.should(
        info.status == 401,
        "CheckAccessTokenRevokedAfterCodeReuse",
        format!(
            "the first access token is revoked (userinfo answered {})",
            info.status
        ),
        "RFC 6749 §4.1.2 (SHOULD)",
    );
    Ok(())
}

async fn code_reuse(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    reuse(ctx, Duration::ZERO).await
}

async fn code_reuse_30s(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    reuse(ctx, Duration::from_secs(30)).await
}

/// The provider must not send the browser to a redirect URI the client did not register
/// (OIDC Core §3.1.2.1, RFC 6749 §3.1.2.4).
async fn unregistered_redirect_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let client = ctx.client(0)?;
    let mut unregistered = client.redirect_uri.clone();
    let suffix: String = crate::b64url(&rand::random::<[u8; 8]>())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    unregistered.set_path(&format!(
        "{}/{suffix}",
        client.redirect_uri.path().trim_end_matches('/')
    ));
    let browser = ctx.browser();
    let options = AuthOptions {
        redirect_uri: Some(unregistered.to_string()),
        ..opts()
    };
    let request = ctx.authorization_request(&options).await?;
    match ctx.authorize(&browser, &request).await? {
        Landing::Callback { to, .. } => Err(ctx.fail(
            "CheckNoRedirectToUnregisteredUri",
            format!("the provider sent the browser back to {to}, though the request named the unregistered {unregistered}"),
            "RFC 6749 §3.1.2.4",
        )),
        Landing::Page(page) => error_page(ctx, &page),
    }
}

/// Grades an error page shown to the person: a 4xx HTML page passes; anything else is for a
/// person to judge.
fn error_page(ctx: &mut Ctx<'_>, page: &crate::http::Response) -> Result<(), Stop> {
    if (400..500).contains(&page.status) && page.is_html() {
        ctx.success(
            "CheckErrorPage",
            format!(
                "the provider showed an error page ({} {})",
                page.status, page.url
            ),
        );
    } else {
        ctx.review(
            "CheckErrorPage",
            format!(
                "the provider left the browser on a {} page ({}) that is not an HTML client error: check that \
                 it tells the person the request was refused",
                page.status,
                page.header("content-type").unwrap_or("no content type")
            ),
        );
    }
    Ok(())
}

async fn response_type_missing(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let options = AuthOptions {
        omit_response_type: true,
        ..opts()
    };
    let browser = ctx.browser();
    let request = ctx.authorization_request(&options).await?;
    match ctx.authorize(&browser, &request).await? {
        Landing::Callback { params, .. } => ctx
            .expect_error(
                &request,
                &params,
                &["invalid_request", "unsupported_response_type"],
                "RFC 6749 §4.1.2.1",
            )
            .await
            .map(|_| ()),
        Landing::Page(page) => error_page(ctx, &page),
    }
}

async fn post_request(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let options = AuthOptions {
        post: true,
        ..opts()
    };
    let browser = ctx.browser();
    let request = ctx.authorization_request(&options).await?;
    let landing = ctx.authorize(&browser, &request).await?;
    if let Landing::Page(page) = &landing {
        // OIDC Core §3.1.2.1 says MUST; the Foundation's suite grades a provider that does not
        // answer a POST with a warning.
        ctx.warning(
            "ExpectRedirectUriHasBeenCalled",
            format!(
                "the authorization request sent by POST did not come back to the redirect URI (the provider \
                 answered {})",
                page.status
            ),
            "OIDC Core §3.1.2.1",
        );
        return Ok(());
    }
    let params = ctx.callback(&request, landing)?;
    ctx.finish(request, &params).await.map(|_| ())
}

async fn client_secret_post(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let methods = ctx
        .metadata_list("token_endpoint_auth_methods_supported")
        .await?
        // Absent means client_secret_basic only (OIDC Discovery §3).
        .unwrap_or_else(|| vec!["client_secret_basic".into()]);
    ctx.require(
        methods.iter().any(|m| m == "client_secret_post"),
        "EnsureServerConfigurationSupportsClientSecretPost",
        "token_endpoint_auth_methods_supported includes client_secret_post",
        "OpenID Connect Basic OP profile",
    )?;
    // The client registered for client_secret_post, if the clients file names one; otherwise
    // the first client (a provider may take either method from any client).
    let index = ctx
        .suite
        .config
        .clients
        .iter()
        .position(|c| c.token_endpoint_auth_method == crate::config::ClientAuth::ClientSecretPost)
        .unwrap_or(0);
    let options = AuthOptions {
        client: index,
        ..opts()
    };
    let browser = ctx.browser();
    let request = ctx.authorization_request(&options).await?;
    let landing = ctx.authorize(&browser, &request).await?;
    let params = ctx.callback(&request, landing)?;
    let code = ctx.expect_code(&request, &params).await?;
    let tokens = ctx
        .redeem_with(
            &request,
            &code,
            Some(crate::config::ClientAuth::ClientSecretPost),
        )
        .await?;
    ctx.check_id_token(&request, &tokens, Some(&code))
        .await
        .map(|_| ())
}

/// An unsigned request object (`alg` none) carrying `claims` (OIDC Core §6.1).
fn unsigned_jwt(claims: &Value) -> String {
    format!(
        "{}.{}.",
        crate::b64url(br#"{"alg":"none"}"#),
        crate::b64url(claims.to_string().as_bytes())
    )
}

async fn request_uri_unsigned(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    // The request_uri must be registered with the client (request_uris), which only dynamic
    // registration does; the Foundation's suite does not run it for static clients either.
    Err(ctx.skip(
        "not applicable with statically registered clients: the request_uri is registered at dynamic \
         registration (request_uris)",
    ))
}

/// Skipped where discovery lists request object algorithms without none.
pub(super) async fn require_unsigned_request_objects(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    if let Some(algs) = ctx
        .metadata_list("request_object_signing_alg_values_supported")
        .await?
    {
        if !algs.iter().any(|a| a == "none") {
            return Err(ctx.skip(format!(
                "the provider accepts only signed request objects (request_object_signing_alg_values_supported: {})",
                algs.join(", ")
            )));
        }
    }
    Ok(())
}

/// An authorization request whose parameters travel in an unsigned request object; outside it,
/// only what OAuth requires. `outer_redirect_uri` replaces the one outside the object.
async fn request_object_request(
    ctx: &mut Ctx<'_>,
    outer_redirect_uri: Option<String>,
) -> Result<crate::context::AuthRequest, Stop> {
    let base = ctx.authorization_request(&opts()).await?;
    let mut object = serde_json::Map::new();
    for (k, v) in &base.params {
        object.insert(k.clone(), Value::String(v.clone()));
    }
    object.insert("aud".into(), Value::String(ctx.suite.config.issuer.clone()));
    object.insert("iss".into(), Value::String(base.client.client_id.clone()));
    let jwt = unsigned_jwt(&Value::Object(object));
    let mut request = base.clone();
    request.params = base
        .params
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                // The response mode stays outside too: a provider that refuses the object
                // answers in the mode asked.
                "response_type" | "client_id" | "scope" | "redirect_uri" | "response_mode"
            )
        })
        .map(|(k, v)| match (k.as_str(), &outer_redirect_uri) {
            ("redirect_uri", Some(outer)) => (k.clone(), outer.clone()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    request.params.push(("request".into(), jwt));
    Ok(request)
}

async fn unsigned_request_object(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    require_unsigned_request_objects(ctx).await?;
    let request = request_object_request(ctx, None).await?;
    let browser = ctx.browser();
    let landing = ctx.authorize(&browser, &request).await?;
    let params = ctx.callback(&request, landing)?;
    if param(&params, "error") == Some("request_not_supported") {
        return Err(ctx.skip(
            "the provider refused the request object with request_not_supported, as it may",
        ));
    }
    let supported = ctx.discovery().await?["request_parameter_supported"]
        .as_bool()
        .unwrap_or(false);
    ctx.should(
        supported,
        "CheckDiscEndpointRequestParameterSupported",
        "the provider that honours request objects says so (request_parameter_supported)",
        "OIDC Discovery §3",
    );
    // Honoured: the state and nonce inside the object are the ones that count.
    ctx.finish(request, &params).await.map(|_| ())
}

async fn request_object_with_redirect_uri(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    require_unsigned_request_objects(ctx).await?;
    let client = ctx.client(0)?;
    let invalid = format!(
        "{}/_invalid",
        client.redirect_uri.as_str().trim_end_matches('/')
    );
    let mut request = request_object_request(ctx, Some(invalid.clone())).await?;
    let browser = ctx.browser();
    // The object's redirect URI is the valid one: that is where a provider that honours the
    // object answers. The outer one must not be used.
    request.redirect_uri = client.redirect_uri.to_string();
    let endpoint = ctx.endpoint("authorization_endpoint").await?;
    let mut url = endpoint;
    url.query_pairs_mut().extend_pairs(&request.params);
    let first = browser.get(url);
    let stops = vec![client.redirect_uri.to_string(), invalid.clone()];
    match ctx.navigate(&browser, first, &stops).await? {
        Landing::Page(page) => error_page(ctx, &page),
        Landing::Callback { to, .. } if to == invalid => Err(ctx.fail(
            "CheckRedirectUri",
            "the provider used the redirect_uri outside the request object, which is not registered",
            "OIDC Core §6.1, RFC 6749 §3.1.2.4",
        )),
        Landing::Callback { params, .. } => {
            if param(&params, "error") == Some("request_not_supported") {
                return Err(ctx.fail(
                    "EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri",
                    "the provider redirected to the client's registered redirect URI instead of showing an error \
                     for the unregistered one",
                    "OIDC Core §3.1.2.6",
                ));
            }
            ctx.finish(request, &params).await.map(|_| ())
        }
    }
}

async fn claims_essential(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let claims = serde_json::json!({"userinfo": {"name": {"essential": true}}});
    let (_, info) =
        flow_with_userinfo(ctx, &opts().with("claims", &claims.to_string()), "get").await?;
    ctx.should(
        info["name"].is_string(),
        "CheckEssentialClaim",
        "userinfo releases name, asked for as essential",
        "OIDC Core §5.5.1",
    );
    Ok(())
}

async fn refresh_token(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let grants = ctx
        .metadata_list("grant_types_supported")
        .await?
        // Absent means authorization_code and implicit (OIDC Discovery §3).
        .unwrap_or_else(|| vec!["authorization_code".into(), "implicit".into()]);
    let offered = grants.iter().any(|g| g == "refresh_token");
    let scopes = ctx
        .metadata_list("scopes_supported")
        .await?
        .unwrap_or_default();
    // OIDC Core §11: offline_access asks for a refresh token, with prompt=consent.
    let options = if offered && scopes.iter().any(|s| s == "offline_access") {
        opts()
            .scope("openid offline_access")
            .with("prompt", "consent")
    } else {
        opts()
    };
    let flow = ctx.code_flow(&options).await?;
    let Some(refresh) = flow.tokens.refresh_token.clone() else {
        if offered {
            ctx.warning(
                "EnsureServerConfigurationDoesNotSupportRefreshToken",
                "grant_types_supported lists refresh_token, but no refresh token was issued",
                "OIDC Discovery §3",
            );
        }
        return Err(ctx.skip("no refresh token was issued"));
    };
    ctx.should(
        offered,
        "EnsureServerConfigurationSupportsRefreshToken",
        "grant_types_supported lists refresh_token",
        "OIDC Discovery §3",
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let form = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".into(), refresh),
    ];
    let response = ctx.token_request(&flow.request.client, form, None).await?;
    let tokens = ctx.check_tokens(&response)?;
    if let Some(jwt) = &tokens.id_token {
        // OIDC Core §12.2: the same iss, sub and aud; a new iat.
        let refreshed = crate::idtoken::payload(jwt).unwrap_or_default();
        let first = &flow.id_token.claims;
        ctx.require(
            refreshed["sub"] == first["sub"]
                && refreshed["iss"] == first["iss"]
                && refreshed["aud"] == first["aud"],
            "CompareIdTokenClaims",
            "the refreshed ID token has the first one's iss, sub and aud",
            "OIDC Core §12.2",
        )?;
        ctx.require(
            refreshed["iat"] != first["iat"],
            "CompareIdTokenClaims",
            "the refreshed ID token is newly issued (iat)",
            "OIDC Core §12.2",
        )?;
    }
    ctx.userinfo(&tokens, &flow.id_token, "get")
        .await
        .map(|_| ())
}

async fn valid_pkce(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let options = AuthOptions {
        pkce: Some(true),
        ..opts()
    };
    ctx.code_flow(&options).await.map(|_| ())
}

/// The form-post variant needs the provider to offer the mode.
pub async fn require_form_post(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let modes = ctx
        .metadata_list("response_modes_supported")
        .await?
        // Absent means query and fragment (OIDC Discovery §3).
        .unwrap_or_else(|| vec!["query".into(), "fragment".into()]);
    if modes.iter().any(|m| m == "form_post") {
        Ok(())
    } else {
        Err(ctx
            .skip("the provider does not offer response_mode=form_post (response_modes_supported)"))
    }
}
