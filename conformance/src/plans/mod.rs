//! The plans: the OpenID Foundation's (their module ids, so that results map one to one onto
//! their certification) and eid's own.

use crate::{Module, Plan, ResponseMode};

pub mod discovery;
pub mod dynamic;
pub mod eid;
pub mod fapi2;
pub mod fapi2_time;
pub mod oidcc;
pub mod pkce;
pub mod signing;

/// Turns an `async fn(&mut Ctx<'_>) -> Result<(), Stop>` into a [`Module`].
macro_rules! module {
    ($id:literal, $summary:literal, $body:path) => {
        $crate::Module {
            id: $id,
            summary: $summary,
            run: |ctx| Box::pin($body(ctx)),
        }
    };
}
pub(crate) use module;

/// Every plan, in the order an auditor would run them.
pub fn all() -> Vec<Plan> {
    vec![
        Plan {
            name: "oidcc-config",
            summary: "OpenID Connect Config: the discovery document and the key set it points to.",
            response_mode: ResponseMode::Query,
            precondition: None,
            modules: vec![discovery::module()],
        },
        Plan {
            name: "oidcc-basic",
            summary:
                "OpenID Connect Basic OP: the authorization code flow, as the OpenID Foundation's \
                      Basic certification tests it.",
            response_mode: ResponseMode::Query,
            precondition: None,
            modules: oidcc::basic(),
        },
        Plan {
            name: "oidcc-formpost-basic",
            summary: "The Basic plan's modules with response_mode=form_post (OAuth 2.0 Form Post \
                      Response Mode).",
            response_mode: ResponseMode::FormPost,
            precondition: Some(|ctx| Box::pin(oidcc::require_form_post(ctx))),
            modules: oidcc::basic(),
        },
        Plan {
            name: "oidcc-dynamic",
            summary: "OpenID Connect Dynamic OP: clients registered by the suite (RFC 7591, OIDC \
                      Registration), their metadata honoured.",
            response_mode: ResponseMode::Query,
            precondition: Some(|ctx| Box::pin(dynamic::require_registration(ctx))),
            modules: dynamic::modules(),
        },
        Plan {
            name: "fapi2-security-profile",
            summary: "FAPI 2.0 Security Profile (final): pushed requests, private_key_jwt and \
                      DPoP-bound tokens with server nonces, as the OpenID Foundation's plan tests an \
                      authorization server (DPoP, private_key_jwt, unsigned requests).",
            response_mode: ResponseMode::Query,
            precondition: Some(|ctx| Box::pin(fapi2::require_fapi(ctx))),
            modules: fapi2::modules(),
        },
        Plan {
            name: "eid-fapi2-jwt-time",
            summary: "eid's own: FAPI 2.0 §5.3.2.1 (13) where the Foundation's plan does not look: \
                      client assertions and DPoP proofs dated 70 s ahead refused at the PAR and token \
                      endpoints (with or without a DPoP nonce), and an hour old (RFC 7523, RFC 9449 \
                      §4.3 (11)).",
            response_mode: ResponseMode::Query,
            precondition: Some(|ctx| Box::pin(fapi2::require_fapi(ctx))),
            modules: fapi2_time::modules(),
        },
        Plan {
            name: "eid-pkce",
            summary:
                "eid's own: the token endpoint holds each code to its PKCE challenge (RFC 7636).",
            response_mode: ResponseMode::Query,
            precondition: None,
            modules: pkce::modules(),
        },
        Plan {
            name: "eid-fido",
            summary: "eid's own: the phone's WebAuthn assertions: each departure from what a genuine, \
                      present, verified authenticator signs for this request is refused.",
            response_mode: ResponseMode::Query,
            precondition: None,
            modules: eid::fido(),
        },
        Plan {
            name: "eid-proofing",
            summary: "eid's own: only proven accounts log in, at the assurance level they were proven at.",
            response_mode: ResponseMode::Query,
            precondition: None,
            modules: eid::proofing(),
        },
        Plan {
            name: "eid-signing",
            summary: "eid's own: document signing from a relying party's side and the phone's, \
                      verified with openssl (CMS, OCSP, CRL, time stamps) and pdfsig.",
            response_mode: ResponseMode::Query,
            precondition: None,
            modules: signing::modules(),
        },
    ]
}

/// The plan called `name`.
pub fn find(name: &str) -> Option<Plan> {
    all().into_iter().find(|p| p.name == name)
}

/// Every module id of every plan (a module may be in several plans).
pub fn module_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = all()
        .iter()
        .flat_map(|p| p.modules.iter().map(|m: &Module| m.id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_ids_are_unique_within_a_plan() {
        for plan in all() {
            let mut ids: Vec<_> = plan.modules.iter().map(|m| m.id).collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n, "{}", plan.name);
        }
    }

    #[test]
    fn foundation_ids_are_the_foundations() {
        // Every module of the Foundation's plans mirrored here is named as they name it.
        let reference = include_str!("../../reference-module-ids.txt");
        for plan in all()
            .iter()
            .filter(|p| p.name.starts_with("oidcc") || p.name.starts_with("fapi2"))
        {
            for m in &plan.modules {
                assert!(
                    reference.lines().any(|l| l.trim() == m.id),
                    "{} is not a module id of the OpenID Foundation's suite",
                    m.id
                );
            }
        }
    }
}
