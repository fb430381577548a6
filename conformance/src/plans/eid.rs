//! eid's own plans, for what the OpenID Foundation's do not cover: the phone's FIDO assertions
//! (`eid-fido`) and identity proofing (`eid-proofing`). They need the `wallet` login driver (an
//! eid phone); with another driver they are skipped.

use eid_proto::api::{ApprovalRequest, ApprovalResult, EnrolmentRequest};
use eid_wallet::authenticator::AssertionFaults;
use eid_wallet::{Wallet, WalletError};
use url::Url;

use crate::context::{param, AuthOptions, AuthRequest, Ctx, Landing};
use crate::log::Stop;
use crate::Module;

use super::module;

pub fn fido() -> Vec<Module> {
    vec![
        module!("eid-fido-assertion-for-another-request", "An approval signed over one login request's \
                 challenge, sent for another request, is refused.", another_request),
        module!("eid-fido-wrong-origin", "An assertion whose client data names another origin is refused.",
                wrong_origin),
        module!("eid-fido-wrong-rp-id", "An assertion over another relying party's RP ID hash is refused.",
                wrong_rp_id),
        module!("eid-fido-without-user-verification", "An assertion without user verification (UV) is \
                 refused.", without_uv),
        module!("eid-fido-replayed", "An approval accepted once is refused when sent again.", replayed),
        module!("eid-fido-counter-not-increasing", "An assertion whose signature counter does not go up is \
                 refused (a cloned authenticator); a throwaway device joined by link is used, and removed.",
                counter_not_increasing),
        module!("eid-fido-removed-device", "A device removed from the account cannot approve.", removed_device),
    ]
}

pub fn proofing() -> Vec<Module> {
    vec![
        module!(
            "eid-proofing-unproven-cannot-log-in",
            "A phone whose application is not proven cannot approve \
                 a login, and the browser gets no code.",
            unproven
        ),
        module!(
            "eid-proofing-acr-honoured",
            "The ID token's acr is one the provider lists; asking for the \
                 account's level succeeds with it, asking for a higher one ends with \
                 unmet_authentication_requirements.",
            acr_honoured
        ),
    ]
}

/// A login started in a browser and left on eid's login page.
struct Pending {
    browser: reqwest::Client,
    request: AuthRequest,
    page: Url,
    link: String,
    number: u8,
}

fn require_wallet(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    if ctx.suite.wallet.is_some() {
        Ok(())
    } else {
        Err(ctx.skip("needs eid's phone: run with --login-driver wallet"))
    }
}

async fn open_login(ctx: &mut Ctx<'_>, options: &AuthOptions) -> Result<Pending, Stop> {
    require_wallet(ctx)?;
    let browser = ctx.browser();
    let request = ctx.authorization_request(options).await?;
    ctx.set_hands_off(true);
    let landing = ctx.authorize(&browser, &request).await;
    ctx.set_hands_off(false);
    let page = match landing? {
        Landing::Page(page) => page,
        Landing::Callback { .. } => {
            return Err(ctx.fail(
                "OpenLoginPage",
                "the provider answered at once, without a login page to approve",
                "",
            ))
        }
    };
    let Some((link, number)) = crate::driver::approval_on(&page) else {
        return Err(ctx.fail(
            "OpenLoginPage",
            format!(
                "the page at {} is not eid's login page (no approval link and number)",
                page.url
            ),
            "",
        ));
    };
    Ok(Pending {
        browser,
        request,
        page: page.url,
        link,
        number,
    })
}

/// The approval URL the phone posts its answer to (the link without its rotating code).
fn answer_url(link: &str) -> Result<Url, String> {
    let mut url = Url::parse(link).map_err(|e| e.to_string())?;
    url.set_query(None);
    Ok(url)
}

/// The phone reads a request (with its account session).
async fn read(ctx: &mut Ctx<'_>, wallet: &mut Wallet, link: &str) -> Result<ApprovalRequest, Stop> {
    match wallet.fetch_approval(link).await {
        Ok(r) => Ok(r),
        Err(e) => Err(ctx.fail(
            "ReadApproval",
            format!("the phone could not read the request: {e}"),
            "",
        )),
    }
}

/// Signs an approval of `request` (with the page's number) with `faults`, and sends it to
/// `to`'s request.
async fn answer_with(
    wallet: &mut Wallet,
    request: &ApprovalRequest,
    number: u8,
    to: &str,
    faults: &AssertionFaults,
) -> Result<ApprovalResult, WalletError> {
    let url = answer_url(to).map_err(WalletError::Protocol)?;
    let decision = eid_wallet::approve_all(request, number, false);
    let submission = wallet.sign_decision_with_faults(request, &decision, &url, faults)?;
    wallet
        .post_answer(url.as_str(), &submission.decision, submission.credential)
        .await
}

/// The answer must be refused by the server (an RFC 7807 problem with a 4xx status).
fn expect_refused(
    ctx: &mut Ctx<'_>,
    result: Result<ApprovalResult, WalletError>,
    what: &str,
    requirement: &str,
) -> Result<(), Stop> {
    match result {
        Err(WalletError::Refused(problem)) if (400..500).contains(&problem.status) => {
            ctx.success(
                "CheckAssertionRefused",
                format!(
                    "{what}: refused with {} {} ({})",
                    problem.status,
                    problem.title,
                    problem.detail.as_deref().unwrap_or("")
                ),
            );
            Ok(())
        }
        Err(e) => Err(ctx.fail(
            "CheckAssertionRefused",
            format!("{what}: the answer failed otherwise than by a refusal: {e}"),
            requirement,
        )),
        Ok(result) => Err(ctx.fail(
            "CheckAssertionRefused",
            format!(
                "{what}: the provider took it ({})",
                serde_json::to_string(&result).unwrap_or_default()
            ),
            requirement,
        )),
    }
}

/// The browser of a login whose approval was refused gets no code.
async fn expect_no_code(ctx: &mut Ctx<'_>, pending: &Pending) -> Result<(), Stop> {
    ctx.set_hands_off(true);
    let request = pending.browser.get(pending.page.clone());
    let stops = [pending.request.redirect_uri.clone()];
    let landing = ctx.navigate(&pending.browser, request, &stops).await;
    ctx.set_hands_off(false);
    match landing? {
        Landing::Callback { params, .. } if param(&params, "code").is_some() => Err(ctx.fail(
            "CheckNoCode",
            "the browser went on to the client with a code",
            "",
        )),
        _ => {
            ctx.success("CheckNoCode", "the browser got no code");
            Ok(())
        }
    }
}

/// One refused-assertion module: a login, the phone's answer with `faults`, refused, no code.
async fn refused(
    ctx: &mut Ctx<'_>,
    faults: AssertionFaults,
    what: &str,
    requirement: &str,
) -> Result<(), Stop> {
    let pending = open_login(ctx, &AuthOptions::default()).await?;
    let Some(wallet) = ctx.suite.wallet.as_ref() else {
        return Err(ctx.skip("no wallet"));
    };
    let mut wallet = wallet.lock().await;
    let request = read(ctx, &mut wallet, &pending.link).await?;
    let result = answer_with(
        &mut wallet,
        &request,
        pending.number,
        &pending.link,
        &faults,
    )
    .await;
    drop(wallet);
    expect_refused(ctx, result, what, requirement)?;
    expect_no_code(ctx, &pending).await
}

async fn wrong_origin(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let faults = AssertionFaults {
        origin: Some("https://eid.example.invalid".into()),
        ..AssertionFaults::default()
    };
    refused(
        ctx,
        faults,
        "client data naming https://eid.example.invalid",
        "WebAuthn §7.2 step 13",
    )
    .await
}

async fn wrong_rp_id(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let faults = AssertionFaults {
        rp_id: Some("eid.example.invalid".into()),
        ..AssertionFaults::default()
    };
    refused(
        ctx,
        faults,
        "authenticator data over the RP ID eid.example.invalid",
        "WebAuthn §7.2 step 15",
    )
    .await
}

async fn without_uv(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let faults = AssertionFaults {
        without_user_verification: true,
        ..AssertionFaults::default()
    };
    refused(
        ctx,
        faults,
        "an assertion without user verification",
        "WebAuthn §7.2 step 17",
    )
    .await
}

async fn another_request(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let first = open_login(ctx, &AuthOptions::default()).await?;
    let second = open_login(ctx, &AuthOptions::default()).await?;
    let Some(wallet) = ctx.suite.wallet.as_ref() else {
        return Err(ctx.skip("no wallet"));
    };
    let mut wallet = wallet.lock().await;
    let first_request = read(ctx, &mut wallet, &first.link).await?;
    let mut second_request = read(ctx, &mut wallet, &second.link).await?;
    // The second request's decision (its id, its number), signed over the first request's
    // challenge: only the assertion is wrong.
    second_request.options = first_request.options.clone();
    let result = answer_with(
        &mut wallet,
        &second_request,
        second.number,
        &second.link,
        &AssertionFaults::default(),
    )
    .await;
    drop(wallet);
    expect_refused(
        ctx,
        result,
        "an approval of one request sent for another",
        "WebAuthn §7.2 step 12",
    )?;
    expect_no_code(ctx, &second).await
}

async fn replayed(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let pending = open_login(ctx, &AuthOptions::default()).await?;
    let Some(wallet) = ctx.suite.wallet.as_ref() else {
        return Err(ctx.skip("no wallet"));
    };
    let mut wallet = wallet.lock().await;
    let request = read(ctx, &mut wallet, &pending.link).await?;
    let url = answer_url(&pending.link).map_err(|e| ctx.fail("AnswerUrl", e, ""))?;
    let decision = eid_wallet::approve_all(&request, pending.number, false);
    let submission = match wallet.sign_decision(&request, &decision, &url) {
        Ok(s) => s,
        Err(e) => return Err(ctx.fail("SignDecision", e.to_string(), "")),
    };
    let first = wallet
        .post_answer(
            url.as_str(),
            &submission.decision,
            submission.credential.clone(),
        )
        .await;
    let again = wallet
        .post_answer(url.as_str(), &submission.decision, submission.credential)
        .await;
    drop(wallet);
    ctx.require(
        first.is_ok(),
        "CheckFirstAnswerTaken",
        "the first answer is taken",
        "",
    )?;
    expect_refused(
        ctx,
        again,
        "the same signed answer sent again",
        "WebAuthn §13.4.3",
    )
}

/// A second device joined to the account by a link code from the suite's phone.
pub(super) async fn throwaway_device(ctx: &mut Ctx<'_>) -> Result<Wallet, Stop> {
    let Some(wallet) = ctx.suite.wallet.as_ref() else {
        return Err(ctx.skip("no wallet"));
    };
    let issuer =
        Url::parse(&ctx.suite.config.issuer).map_err(|e| ctx.fail("Issuer", e.to_string(), ""))?;
    let code = {
        let mut wallet = wallet.lock().await;
        wallet.create_device_link().await
    };
    let code = match code {
        Ok(link) => link.code,
        Err(e) => {
            return Err(ctx.fail(
                "LinkDevice",
                format!("the phone could not issue a link code: {e}"),
                "",
            ))
        }
    };
    let mut device = Wallet::in_memory();
    match device.link(&issuer, &code, "conformance throwaway").await {
        Ok(bound) => {
            ctx.info(format!(
                "a throwaway device joined the account ({})",
                bound.device_id
            ));
            Ok(device)
        }
        Err(e) => Err(ctx.fail(
            "LinkDevice",
            format!("a second device could not join: {e}"),
            "",
        )),
    }
}

/// Removes a throwaway device with the suite's phone.
pub(super) async fn remove(ctx: &mut Ctx<'_>, device: &Wallet) -> Result<(), Stop> {
    let Some(id) = device.device_id().map(str::to_owned) else {
        return Ok(());
    };
    let Some(wallet) = ctx.suite.wallet.as_ref() else {
        return Ok(());
    };
    let result = wallet.lock().await.remove_device(&id).await;
    match result {
        Ok(()) => {
            ctx.info(format!("the throwaway device {id} was removed"));
            Ok(())
        }
        Err(e) => Err(ctx.fail(
            "RemoveDevice",
            format!("the phone could not remove {id}: {e}"),
            "",
        )),
    }
}

async fn counter_not_increasing(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    require_wallet(ctx)?;
    let mut device = throwaway_device(ctx).await?;
    let pending = open_login(ctx, &AuthOptions::default()).await?;
    // Reading with the account session makes one assertion: the server now holds a counter
    // above zero.
    let request = read(ctx, &mut device, &pending.link).await?;
    let last = device.file().sign_count;
    let faults = AssertionFaults {
        counter: Some(last),
        ..AssertionFaults::default()
    };
    let result = answer_with(
        &mut device,
        &request,
        pending.number,
        &pending.link,
        &faults,
    )
    .await;
    let outcome = expect_refused(
        ctx,
        result,
        &format!("an assertion with the counter {last} again"),
        "WebAuthn §7.2 step 21",
    );
    remove(ctx, &device).await?;
    outcome?;
    expect_no_code(ctx, &pending).await
}

async fn removed_device(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    require_wallet(ctx)?;
    let mut device = throwaway_device(ctx).await?;
    remove(ctx, &device).await?;
    let pending = open_login(ctx, &AuthOptions::default()).await?;
    // Without a session (a removed device cannot open one), as any phone may read a request.
    let request = match device.fetch_approval_anonymously(&pending.link).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.fail("ReadApproval", format!("reading the request: {e}"), "")),
    };
    let result = answer_with(
        &mut device,
        &request,
        pending.number,
        &pending.link,
        &AssertionFaults::default(),
    )
    .await;
    expect_refused(ctx, result, "an approval from a removed device", "")?;
    expect_no_code(ctx, &pending).await
}

/// A syntactically valid HKID number no one is likely to hold (one letter, six digits, the
/// check digit).
fn made_up_hkid() -> String {
    let bytes: [u8; 7] = rand::random();
    let letter = b'A' + bytes[0] % 26;
    let digits: Vec<u8> = bytes[1..].iter().map(|b| b % 10).collect();
    // 36 stands for the space before a single letter; letters count from 10.
    let mut sum = 36 * 9 + (u32::from(letter - b'A') + 10) * 8;
    for (i, d) in digits.iter().enumerate() {
        sum += u32::from(*d) * (7 - i as u32);
    }
    let check = match (11 - sum % 11) % 11 {
        10 => 'A',
        n => char::from_digit(n, 10).unwrap_or('0'),
    };
    let digits: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    format!("{}{digits}({check})", char::from(letter))
}

async fn unproven(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    require_wallet(ctx)?;
    let issuer =
        Url::parse(&ctx.suite.config.issuer).map_err(|e| ctx.fail("Issuer", e.to_string(), ""))?;
    let mut applicant = Wallet::in_memory();
    let application = EnrolmentRequest {
        english_name: "CONFORMANCE Test Applicant".into(),
        chinese_name: None,
        date_of_birth: "1990-01-01".into(),
        gender: "X".into(),
        hkid: made_up_hkid(),
        email: None,
        phone: None,
        address: None,
        device_name: "conformance applicant".into(),
    };
    match applicant.enrol(&issuer, &application).await {
        Ok(_) => ctx.info("an application was made with made-up particulars; it is not proven"),
        Err(e) => return Err(ctx.fail("Enrol", format!("applying: {e}"), "")),
    }
    let pending = open_login(ctx, &AuthOptions::default()).await?;
    let request = match applicant.fetch_approval_anonymously(&pending.link).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.fail("ReadApproval", format!("reading the request: {e}"), "")),
    };
    let result = answer_with(
        &mut applicant,
        &request,
        pending.number,
        &pending.link,
        &AssertionFaults::default(),
    )
    .await;
    expect_refused(
        ctx,
        result,
        "an approval from an unproven application's phone",
        "",
    )?;
    expect_no_code(ctx, &pending).await
}

async fn acr_honoured(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    require_wallet(ctx)?;
    let levels = ctx
        .metadata_list("acr_values_supported")
        .await?
        .unwrap_or_default();
    if levels.is_empty() {
        return Err(ctx.fail(
            "CheckAcrValuesSupported",
            "discovery lists no acr_values_supported",
            "OIDC Discovery §3",
        ));
    }
    let flow = ctx.code_flow(&AuthOptions::default()).await?;
    let acr = flow.id_token.claims["acr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let position = levels.iter().position(|l| *l == acr);
    ctx.require(
        position.is_some(),
        "CheckAcr",
        format!(
            "the ID token's acr {acr:?} is one of acr_values_supported ({})",
            levels.join(", ")
        ),
        "OIDC Core §2",
    )?;
    let same = ctx
        .code_flow(&AuthOptions::default().with("acr_values", &acr))
        .await?;
    ctx.require(
        same.id_token.claims["acr"].as_str() == Some(acr.as_str()),
        "CheckAcrHonoured",
        format!("asking for {acr} gives {acr}"),
        "OIDC Core §3.1.2.1",
    )?;
    // acr_values_supported lists eid's levels from lowest to highest.
    let Some(higher) = position.and_then(|p| levels.get(p + 1)).cloned() else {
        ctx.info("the account is at the highest level: nothing higher to refuse");
        return Ok(());
    };
    let browser = ctx.browser();
    let request = ctx
        .authorization_request(&AuthOptions::default().with("acr_values", &higher))
        .await?;
    let landing = ctx.authorize(&browser, &request).await?;
    let params = ctx.callback(&request, landing)?;
    ctx.expect_error(
        &request,
        &params,
        &["unmet_authentication_requirements", "access_denied"],
        "OpenID Connect Unmet Authentication Requirements 1.0",
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_hkid_numbers_have_a_valid_check_digit() {
        for _ in 0..200 {
            let hkid = made_up_hkid();
            assert!(eid_core::hkid::Hkid::parse(&hkid).is_ok(), "{hkid}");
        }
    }
}
