//! `oidcc-discovery-endpoint-verification`: the discovery document (OIDC Discovery 1.0 §3,
//! §4) and the key set it points to (RFC 7517).

use serde_json::Value;

use crate::context::Ctx;
use crate::log::Stop;
use crate::Module;

use super::module;

pub fn module() -> Module {
    module!(
        "oidcc-discovery-endpoint-verification",
        "The discovery document has every required member with valid values, its endpoints are \
         https, and its key set holds usable public signing keys.",
        run
    )
}

const DISCOVERY: &str = "OIDC Discovery §3";

fn strings(doc: &Value, name: &str) -> Option<Vec<String>> {
    doc[name].as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

/// A member that must be a JSON array of strings, when present.
fn list_member(
    ctx: &mut Ctx<'_>,
    doc: &Value,
    name: &str,
    required: bool,
) -> Result<Option<Vec<String>>, Stop> {
    match &doc[name] {
        Value::Null if required => Err(ctx.fail(
            "CheckDiscoveryRequired",
            format!("{name} is missing"),
            DISCOVERY,
        )),
        Value::Null => Ok(None),
        Value::Array(items) if items.iter().all(Value::is_string) && !items.is_empty() => {
            ctx.success("CheckDiscoveryList", format!("{name} is a list of strings"));
            Ok(strings(doc, name))
        }
        other => Err(ctx.fail(
            "CheckDiscoveryList",
            format!("{name} is not a non-empty JSON array of strings: {other}"),
            DISCOVERY,
        )),
    }
}

async fn run(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    // Fetching checks the status, that it is JSON, and that `issuer` is the issuer as typed.
    let doc = ctx.discovery().await?;
    let issuer = ctx.suite.config.issuer.clone();
    let issuer_url =
        url::Url::parse(&issuer).map_err(|e| ctx.fail("CheckIssuer", e.to_string(), DISCOVERY))?;
    ctx.require(
        issuer_url.query().is_none() && issuer_url.fragment().is_none(),
        "CheckIssuer",
        "the issuer has no query or fragment",
        DISCOVERY,
    )?;
    if issuer_url.scheme() != "https" {
        if ctx.suite.config.danger_allow_http {
            ctx.info("the issuer is not https (allowed by --danger-allow-http)");
        } else {
            return Err(ctx.fail("CheckIssuer", "the issuer is not https", DISCOVERY));
        }
    }

    // Endpoints: required ones, then recommended ones.
    for name in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        ctx.endpoint(name).await?;
    }
    match doc["userinfo_endpoint"].as_str() {
        Some(_) => {
            ctx.endpoint("userinfo_endpoint").await?;
        }
        None => ctx.warning(
            "CheckDiscoveryRecommended",
            "userinfo_endpoint is missing",
            "OIDC Discovery §3 (RECOMMENDED)",
        ),
    }
    for name in [
        "registration_endpoint",
        "end_session_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        if doc[name].is_string() {
            ctx.endpoint(name).await?;
        }
    }

    let response_types =
        list_member(ctx, &doc, "response_types_supported", true)?.unwrap_or_default();
    ctx.require(
        response_types.iter().any(|t| t == "code"),
        "CheckResponseTypes",
        "response_types_supported includes code",
        "OIDC Discovery §3; OpenID Connect Basic OP profile",
    )?;
    let subject_types =
        list_member(ctx, &doc, "subject_types_supported", true)?.unwrap_or_default();
    ctx.require(
        subject_types
            .iter()
            .all(|t| t == "public" || t == "pairwise"),
        "CheckSubjectTypes",
        format!("subject_types_supported holds only public and pairwise: {subject_types:?}"),
        "OIDC Core §8",
    )?;
    let algs =
        list_member(ctx, &doc, "id_token_signing_alg_values_supported", true)?.unwrap_or_default();
    ctx.require(
        algs.iter().any(|a| a == "RS256"),
        "CheckIdTokenSigningAlgs",
        "id_token_signing_alg_values_supported includes RS256",
        DISCOVERY,
    )?;
    if algs.iter().any(|a| a == "none") {
        ctx.warning(
            "CheckIdTokenSigningAlgs",
            "id_token_signing_alg_values_supported offers none (unsigned ID tokens)",
            "OIDC Core §3.1.3.7",
        );
    }
    match list_member(ctx, &doc, "scopes_supported", false)? {
        Some(scopes) => ctx.require(
            scopes.iter().any(|s| s == "openid"),
            "CheckScopesSupported",
            "scopes_supported includes openid",
            DISCOVERY,
        )?,
        None => ctx.warning(
            "CheckDiscoveryRecommended",
            "scopes_supported is missing",
            "OIDC Discovery §3 (RECOMMENDED)",
        ),
    }
    if list_member(ctx, &doc, "claims_supported", false)?.is_none() {
        ctx.warning(
            "CheckDiscoveryRecommended",
            "claims_supported is missing",
            "OIDC Discovery §3 (RECOMMENDED)",
        );
    }
    if let Some(modes) = list_member(ctx, &doc, "response_modes_supported", false)? {
        ctx.require(
            modes.iter().any(|m| m == "query"),
            "CheckResponseModes",
            "response_modes_supported includes query (the code flow's default)",
            "OAuth 2.0 Multiple Response Types §2.1",
        )?;
    }
    if let Some(grants) = list_member(ctx, &doc, "grant_types_supported", false)? {
        ctx.require(
            grants.iter().any(|g| g == "authorization_code"),
            "CheckGrantTypes",
            "grant_types_supported includes authorization_code",
            DISCOVERY,
        )?;
    }
    if let Some(methods) = list_member(ctx, &doc, "token_endpoint_auth_methods_supported", false)? {
        let known = [
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none",
            "tls_client_auth",
            "self_signed_tls_client_auth",
        ];
        let unknown: Vec<_> = methods
            .iter()
            .filter(|m| !known.contains(&m.as_str()))
            .collect();
        ctx.should(
            unknown.is_empty(),
            "CheckTokenEndpointAuthMethods",
            format!("token_endpoint_auth_methods_supported names registered methods (unknown: {unknown:?})"),
            "OIDC Core §9, RFC 8705",
        );
    }
    for name in [
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "require_request_uri_registration",
        "authorization_response_iss_parameter_supported",
        "frontchannel_logout_supported",
        "backchannel_logout_supported",
    ] {
        match &doc[name] {
            Value::Null | Value::Bool(_) => {}
            other => {
                return Err(ctx.fail(
                    "CheckDiscoveryBoolean",
                    format!("{name} is not a JSON boolean: {other}"),
                    DISCOVERY,
                ))
            }
        }
    }
    if doc["request_uri_parameter_supported"].is_null() {
        // Absent means true (OIDC Discovery §3): the provider says it fetches request objects.
        ctx.info(
            "request_uri_parameter_supported is absent, which means true: request_uri is said to be supported",
        );
    }

    // The key set: public signing keys only, distinct kids, RSA keys of at least 2048 bits.
    let jwks = ctx.jwks().await?;
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    ctx.require(
        !keys.is_empty(),
        "CheckJwks",
        "the key set holds at least one key",
        "RFC 7517 §5",
    )?;
    let mut kids = Vec::new();
    for key in &keys {
        let kty = key["kty"].as_str().unwrap_or_default();
        ctx.require(
            matches!(kty, "RSA" | "EC" | "OKP"),
            "CheckJwksKeyType",
            format!("a key's kty is RSA, EC or OKP ({kty:?})"),
            "RFC 7518 §6.1",
        )?;
        let private: Vec<&str> = ["d", "p", "q", "dp", "dq", "qi", "k"]
            .into_iter()
            .filter(|m| !key[*m].is_null())
            .collect();
        ctx.require(
            private.is_empty(),
            "CheckJwksNoPrivateKeys",
            format!("no key publishes private members ({private:?})"),
            "RFC 7517 §5; OIDC Discovery §3",
        )?;
        if kty == "RSA" {
            let bits = key["n"]
                .as_str()
                .and_then(crate::b64url_decode)
                .map(|n| {
                    let leading = n.iter().take_while(|b| **b == 0).count();
                    (n.len() - leading) * 8
                })
                .unwrap_or(0);
            ctx.require(
                bits >= 2048,
                "CheckRsaKeySize",
                format!("an RSA key has at least 2048 bits ({bits})"),
                "RFC 7518 §3.3",
            )?;
        }
        if let Some(kid) = key["kid"].as_str() {
            kids.push(kid.to_owned());
        }
        if let Some(usage) = key["use"].as_str() {
            if usage != "sig" && usage != "enc" {
                return Err(ctx.fail(
                    "CheckJwksKeyUse",
                    format!("a key's use is {usage:?}, neither sig nor enc"),
                    "RFC 7517 §4.2",
                ));
            }
        }
    }
    let signing: Vec<&Value> = keys
        .iter()
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .collect();
    ctx.require(
        !signing.is_empty(),
        "CheckJwksSigningKey",
        "the key set holds a signing key",
        "OIDC Core §10.1",
    )?;
    if keys.len() > 1 {
        let mut distinct = kids.clone();
        distinct.sort();
        distinct.dedup();
        ctx.require(
            kids.len() == keys.len() && distinct.len() == kids.len(),
            "CheckJwksDistinctKids",
            "with several keys, every key has a kid and no two share one",
            "OIDC Core §10.1",
        )?;
    }
    Ok(())
}
