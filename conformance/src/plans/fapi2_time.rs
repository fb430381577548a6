//! eid's own: FAPI 2.0 Security Profile §5.3.2.1 (13) at the endpoints where the Foundation's
//! plan does not look. An authorization server "shall accept JWTs with an `iat` or `nbf`
//! timestamp between 0 and 10 seconds in the future but shall reject JWTs with an `iat` or `nbf`
//! timestamp greater than 60 seconds in the future"; the Foundation's plan sends such a JWT only
//! once (a client assertion's `nbf`, at the PAR endpoint). These modules send client assertions
//! and DPoP proofs dated 70 seconds ahead, and an hour ago, to the PAR and token endpoints:
//!
//! - a client assertion 70 s ahead (`iat`, or `nbf`): refused;
//! - a client assertion issued an hour ago and still unexpired: RFC 7523 §3 (5) lets a server
//!   reject an `iat` "unreasonably far in the past" (a warning if taken);
//! - a DPoP proof 70 s ahead: refused, with or without the provider's nonce (FAPI 2.0 speaks of
//!   every JWT; a nonce dates a proof's past, not its future);
//! - a DPoP proof an hour old without a nonce: refused (RFC 9449 §4.3 (11): its `iat` is all
//!   that dates it); with the provider's nonce either answer passes (the nonce may date it).

use serde_json::Value;

use crate::context::now;
use crate::log::Stop;
use crate::{Ctx, Module};

use super::fapi2::{
    code_for_refusal, code_form, expect_refusal, fapi, push_raw, token_raw, Edit, Fapi,
};
use super::module;

/// Seconds ahead: past FAPI 2.0's 60.
const AHEAD: i64 = 70;
/// Seconds ago: an hour.
const AGO: i64 = 3600;

const FAPI_TIME: &str = "FAPI 2.0 Security Profile §5.3.2.1 (13)";

pub fn modules() -> Vec<Module> {
    vec![
        module!(
            "eid-fapi2-jwt-time-par-assertion-iat-future",
            "A client assertion issued 70 s ahead \
                 is refused at the PAR endpoint.",
            par_assertion_iat_future
        ),
        module!(
            "eid-fapi2-jwt-time-par-assertion-iat-past",
            "A client assertion issued an hour ago, \
                 still unexpired, should be refused at the PAR endpoint.",
            par_assertion_iat_past
        ),
        module!(
            "eid-fapi2-jwt-time-token-assertion-iat-future",
            "A client assertion issued 70 s ahead \
                 is refused at the token endpoint.",
            token_assertion_iat_future
        ),
        module!(
            "eid-fapi2-jwt-time-token-assertion-nbf-future",
            "A client assertion valid only from \
                 70 s ahead (nbf) is refused at the token endpoint.",
            token_assertion_nbf_future
        ),
        module!(
            "eid-fapi2-jwt-time-token-assertion-iat-past",
            "A client assertion issued an hour ago, \
                 still unexpired, should be refused at the token endpoint.",
            token_assertion_iat_past
        ),
        module!(
            "eid-fapi2-jwt-time-par-dpop-iat-future",
            "A DPoP proof dated 70 s ahead is refused \
                 at the PAR endpoint, without a nonce and with the provider's.",
            par_dpop_iat_future
        ),
        module!(
            "eid-fapi2-jwt-time-par-dpop-iat-past",
            "A DPoP proof an hour old without a nonce is \
                 refused at the PAR endpoint (with the provider's nonce, either answer).",
            par_dpop_iat_past
        ),
        module!(
            "eid-fapi2-jwt-time-token-dpop-iat-future",
            "A DPoP proof dated 70 s ahead is refused \
                 at the token endpoint, without a nonce and with the provider's.",
            token_dpop_iat_future
        ),
        module!(
            "eid-fapi2-jwt-time-token-dpop-iat-past",
            "A DPoP proof an hour old without a nonce \
                 is refused at the token endpoint (with the provider's nonce, either answer).",
            token_dpop_iat_past
        ),
    ]
}

/// Where a module sends its JWT.
#[derive(Clone, Copy)]
enum At {
    Par,
    Token,
}

/// A pushed request (`At::Par`) or a code's redemption (`At::Token`, a new login's code) with
/// the client assertion edited by `assertion` and a DPoP proof edited by `proof` (none when
/// `proof` is `None`).
async fn send(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    at: At,
    assertion: &(dyn Fn(&mut Value) + Sync),
    proof: Option<Edit<'_>>,
) -> Result<crate::http::Response, Stop> {
    let key = f.dpop.clone();
    let proof_key = proof.map(|_| &key);
    let edit = proof.unwrap_or(&super::fapi2::no_edit);
    match at {
        At::Par => {
            let request = ctx.authorization_request(&f.options()).await?;
            push_raw(ctx, f, &request.params, proof_key, assertion, edit).await
        }
        At::Token => {
            let (request, code) = code_for_refusal(ctx, f).await?;
            let form = code_form(&request, &code);
            // The token endpoint needs a proof: a module about the assertion sends a good one.
            token_raw(ctx, f, form, Some(&key), Some(assertion), edit).await
        }
    }
}

/// The client assertion edited by `edit` is refused at `at`.
async fn assertion_refused(
    ctx: &mut Ctx<'_>,
    at: At,
    edit: &(dyn Fn(&mut Value) + Sync),
    condition: &str,
) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let response = send(ctx, &mut f, at, edit, None).await?;
    expect_refusal(
        ctx,
        &response,
        &[400, 401],
        &["invalid_client", "invalid_request"],
        condition,
        FAPI_TIME,
    )
}

/// Dated `seconds` from now, with `exp` a minute after.
fn issued_at(seconds: i64) -> impl Fn(&mut Value) + Sync {
    move |c: &mut Value| {
        c["iat"] = (now() + seconds).into();
        c["exp"] = (now() + seconds.max(0) + 60).into();
    }
}

async fn par_assertion_iat_future(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_refused(
        ctx,
        At::Par,
        &issued_at(AHEAD),
        "EnsureFutureClientAssertionRefused",
    )
    .await
}

async fn token_assertion_iat_future(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_refused(
        ctx,
        At::Token,
        &issued_at(AHEAD),
        "EnsureFutureClientAssertionRefused",
    )
    .await
}

async fn token_assertion_nbf_future(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_refused(
        ctx,
        At::Token,
        &|c: &mut Value| {
            c["nbf"] = (now() + AHEAD).into();
            c["exp"] = (now() + AHEAD + 60).into();
        },
        "EnsureClientAssertionNbfInFutureRefused",
    )
    .await
}

/// An assertion issued an hour ago that expires in a minute: RFC 7523 lets a server refuse it.
async fn assertion_past(ctx: &mut Ctx<'_>, at: At) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    let response = send(ctx, &mut f, at, &issued_at(-AGO), None).await?;
    let refused = (400..500).contains(&response.status);
    ctx.should(
        refused,
        "EnsureStaleClientAssertionRefused",
        format!(
            "a client assertion issued an hour ago (expiring in a minute) is refused (it answered {})",
            response.status
        ),
        "RFC 7523 §3 (5), (6)",
    );
    Ok(())
}

async fn par_assertion_iat_past(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_past(ctx, At::Par).await
}

async fn token_assertion_iat_past(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    assertion_past(ctx, At::Token).await
}

/// DPoP proofs dated `offset` seconds from now at `at`: without a nonce refused; with the
/// provider's nonce (if it gives one) refused when ahead, either answer when behind.
async fn dpop_dated(ctx: &mut Ctx<'_>, at: At, offset: i64) -> Result<(), Stop> {
    let mut f = fapi(ctx, 0)?;
    // A proof dated now first: the endpoint takes it (and the provider may hand out a nonce).
    let fine = send(ctx, &mut f, At::Par, &|_| {}, Some(&|_, _| {})).await?;
    ctx.require(
        fine.status == 201,
        "CallPAREndpoint",
        format!(
            "a pushed request with a proof dated now is accepted (it answered {})",
            fine.status
        ),
        "RFC 9449 §5",
    )?;
    let when = if offset > 0 {
        "70 s ahead"
    } else {
        "an hour old"
    };
    let undated = move |_: &mut Value, c: &mut Value| {
        c["iat"] = (now() + offset).into();
        c.as_object_mut().map(|m| m.remove("nonce"));
    };
    let response = send(ctx, &mut f, at, &|_| {}, Some(&undated)).await?;
    expect_refusal(
        ctx,
        &response,
        &[400, 401],
        &[],
        "EnsureDatedDpopProofRefused",
        if offset > 0 {
            FAPI_TIME
        } else {
            "RFC 9449 §4.3 (11)"
        },
    )
    .inspect_err(|_| ctx.info(format!("a proof {when} without a nonce was taken")))?;
    ctx.success(
        "EnsureDatedDpopProofRefused",
        format!("a proof {when} without a nonce is refused"),
    );
    if f.nonce.is_none() {
        ctx.info("the provider gave no DPoP nonce: proofs with one are not tried");
        return Ok(());
    }
    let dated = move |_: &mut Value, c: &mut Value| c["iat"] = (now() + offset).into();
    let response = send(ctx, &mut f, at, &|_| {}, Some(&dated)).await?;
    if offset > 0 {
        expect_refusal(
            ctx,
            &response,
            &[400, 401],
            &[],
            "EnsureDatedDpopProofRefused",
            FAPI_TIME,
        )
        .inspect_err(|_| {
            ctx.info(format!(
                "a proof {when} with the provider's nonce was taken"
            ))
        })?;
        ctx.success(
            "EnsureDatedDpopProofRefused",
            format!("a proof {when} with the provider's nonce is refused"),
        );
    } else {
        ctx.info(format!(
            "a proof {when} with the provider's nonce was {} (RFC 9449 §4.3 (11): a provider may \
             date proofs by their nonce; either answer is allowed)",
            if response.status < 400 {
                "accepted"
            } else {
                "refused"
            }
        ));
    }
    Ok(())
}

async fn par_dpop_iat_future(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    dpop_dated(ctx, At::Par, AHEAD).await
}

async fn par_dpop_iat_past(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    dpop_dated(ctx, At::Par, -AGO).await
}

async fn token_dpop_iat_future(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    dpop_dated(ctx, At::Token, AHEAD).await
}

async fn token_dpop_iat_past(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    dpop_dated(ctx, At::Token, -AGO).await
}
