//! `eid-pkce`: the token endpoint holds a code to its PKCE challenge (RFC 7636 §4.6). The
//! OpenID Foundation tests this only in its FAPI plans (`…-incorrect-pkce-code-verifier-rejected`,
//! `…-ensure-pkce-code-verifier-required`); these modules ask the same of any provider that
//! offers S256.

use crate::context::{AuthOptions, Ctx};
use crate::log::Stop;
use crate::Module;

use super::module;

pub fn modules() -> Vec<Module> {
    vec![
        module!(
            "eid-pkce-incorrect-verifier-rejected",
            "A code requested with an S256 challenge is refused (invalid_grant) when redeemed with another \
             verifier.",
            incorrect_verifier
        ),
        module!(
            "eid-pkce-verifier-required",
            "A code requested with an S256 challenge is refused when redeemed without a verifier.",
            verifier_required
        ),
    ]
}

/// A code requested with PKCE, and the request; skipped where S256 is not offered.
async fn code_with_challenge(
    ctx: &mut Ctx<'_>,
) -> Result<(crate::context::AuthRequest, String), Stop> {
    let methods = ctx
        .metadata_list("code_challenge_methods_supported")
        .await?
        .unwrap_or_default();
    if !methods.iter().any(|m| m == "S256") {
        return Err(ctx.skip("the provider does not list S256 in code_challenge_methods_supported"));
    }
    let options = AuthOptions {
        pkce: Some(true),
        ..AuthOptions::default()
    };
    let browser = ctx.browser();
    let request = ctx.authorization_request(&options).await?;
    let landing = ctx.authorize(&browser, &request).await?;
    let params = ctx.callback(&request, landing)?;
    let code = ctx.expect_code(&request, &params).await?;
    Ok((request, code))
}

async fn redeem_expecting_refusal(
    ctx: &mut Ctx<'_>,
    request: &crate::context::AuthRequest,
    code: &str,
    verifier: Option<&str>,
    allowed: &[&str],
) -> Result<(), Stop> {
    let mut form = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".into(), code.to_owned()),
        ("redirect_uri".into(), request.redirect_uri.clone()),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier".into(), verifier.to_owned()));
    }
    let response = ctx.token_request(&request.client, form, None).await?;
    let error = response
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_owned));
    ctx.require(
        response.status == 400 && error.as_deref().is_some_and(|e| allowed.contains(&e)),
        "CheckPkceVerifierRefused",
        format!(
            "the token endpoint refuses the code with 400 {} (it answered {} {})",
            allowed.join(" or "),
            response.status,
            error.as_deref().unwrap_or("without an error code")
        ),
        "RFC 7636 §4.6",
    )
}

async fn incorrect_verifier(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (request, code) = code_with_challenge(ctx).await?;
    // RFC 7636 Appendix B's verifier: well formed, and not this request's.
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    redeem_expecting_refusal(ctx, &request, &code, Some(wrong), &["invalid_grant"]).await
}

async fn verifier_required(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (request, code) = code_with_challenge(ctx).await?;
    redeem_expecting_refusal(
        ctx,
        &request,
        &code,
        None,
        &["invalid_grant", "invalid_request"],
    )
    .await
}
