//! OpenID Provider Metadata (OIDC Discovery 1.0 §3): what eid supports, said once.

use eid_proto::oauth::ProviderMetadata;

use crate::account::Level;
use crate::claims::{Scope, SUPPORTED_CLAIMS};
use crate::jwt::alg_names;
use crate::oidc::client_auth::{ASSERTION_KEY_ALGS, ASSERTION_SECRET_ALGS, CLIENT_AUTH_METHODS};
use crate::oidc::dpop::DPOP_ALGS;
use crate::oidc::request_object::REQUEST_OBJECT_ALGS;
use crate::Provider;

impl Provider {
    /// OpenID Provider Metadata (OIDC Discovery 1.0 §3).
    pub fn discovery(&self) -> ProviderMetadata {
        let issuer = self.config.issuer_str();
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ProviderMetadata {
            authorization_endpoint: format!("{issuer}/authorize"),
            token_endpoint: format!("{issuer}/token"),
            userinfo_endpoint: format!("{issuer}/userinfo"),
            jwks_uri: format!("{issuer}/jwks"),
            pushed_authorization_request_endpoint: format!("{issuer}/par"),
            registration_endpoint: self.registration_endpoint(),
            end_session_endpoint: format!("{issuer}/logout"),
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            frontchannel_logout_supported: true,
            frontchannel_logout_session_supported: true,
            userinfo_signing_alg_values_supported: strings(&["ES256", "RS256"]),
            revocation_endpoint: format!("{issuer}/revoke"),
            revocation_endpoint_auth_methods_supported: strings(CLIENT_AUTH_METHODS),
            introspection_endpoint: format!("{issuer}/introspect"),
            introspection_endpoint_auth_methods_supported: strings(CLIENT_AUTH_METHODS),
            issuer,
            scopes_supported: Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            response_types_supported: match self.config.danger_implicit_flow {
                true => strings(&["code", "id_token", "id_token token"]),
                false => strings(&["code"]),
            },
            response_modes_supported: strings(&["query", "fragment", "form_post"]),
            grant_types_supported: match self.config.danger_implicit_flow {
                true => strings(&["authorization_code", "refresh_token", "implicit"]),
                false => strings(&["authorization_code", "refresh_token"]),
            },
            subject_types_supported: strings(&["pairwise"]),
            id_token_signing_alg_values_supported: strings(&["ES256", "RS256"]),
            token_endpoint_auth_methods_supported: strings(CLIENT_AUTH_METHODS),
            token_endpoint_auth_signing_alg_values_supported: alg_names(ASSERTION_KEY_ALGS)
                .into_iter()
                .chain(alg_names(ASSERTION_SECRET_ALGS))
                .collect(),
            code_challenge_methods_supported: strings(&["S256"]),
            claims_supported: strings(&SUPPORTED_CLAIMS),
            claims_locales_supported: strings(&["en", "zh-Hant"]),
            acr_values_supported: Level::ALL.iter().map(|l| l.acr().to_owned()).collect(),
            ui_locales_supported: strings(&["en", "zh-Hant-HK"]),
            request_parameter_supported: true,
            request_object_signing_alg_values_supported: alg_names(REQUEST_OBJECT_ALGS),
            require_pushed_authorization_requests: false,
            request_uri_parameter_supported: true,
            require_request_uri_registration: true,
            claims_parameter_supported: true,
            authorization_response_iss_parameter_supported: true,
            dpop_signing_alg_values_supported: alg_names(DPOP_ALGS),
        }
    }
}
