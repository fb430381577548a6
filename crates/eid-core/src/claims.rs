//! What a service can receive: scopes, the claims they release, and how each is described to
//! the citizen in English and Traditional Chinese.
//!
//! Only proven particulars are released (OIDC Core §5.1 claims): the name, gender and date of
//! birth that identity proofing checked, and an address only when an officer saw a proof of
//! it. Contact details the citizen typed in are kept for their own forms and never released,
//! because nothing has verified them.

use std::collections::BTreeSet;

use crate::account::Profile;

/// Scopes eid understands; others are ignored (RFC 6749 §3.3 lets the server narrow the scope).
/// `email` and `phone` are not among them: nothing verifies a citizen's email address or phone
/// number yet, so eid has nothing it could vouch for under those scopes.
pub const SUPPORTED_SCOPES: [&str; 3] = ["openid", "profile", "address"];

/// Claims eid can release in ID tokens and at userinfo.
pub const SUPPORTED_CLAIMS: [&str; 14] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "name",
    "gender",
    "birthdate",
    "address",
    "at_hash",
];

/// What a scope releases, in words a citizen reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimText {
    pub scope: &'static str,
    pub en: &'static str,
    pub zh_hant: &'static str,
}

const TEXTS: [ClaimText; 3] = [
    ClaimText {
        scope: "openid",
        en: "An identifier for you that is different for every service",
        zh_hant: "您在此服務的識別碼（每項服務各不相同）",
    },
    ClaimText {
        scope: "profile",
        en: "Your name in English and Chinese, gender and date of birth",
        zh_hant: "您的中英文姓名、性別及出生日期",
    },
    ClaimText {
        scope: "address",
        en: "Your residential address",
        zh_hant: "您的住址",
    },
];

/// The descriptions of `scopes`, in the order of [`SUPPORTED_SCOPES`].
pub fn scope_descriptions(scopes: &[String]) -> Vec<ClaimText> {
    TEXTS
        .into_iter()
        .filter(|t| scopes.iter().any(|s| s == t.scope))
        .collect()
}

/// The descriptions of what `scopes` would release from `profile`: a scope that releases
/// nothing for this citizen (an unverified email, say) is not promised.
pub fn releasable_descriptions(scopes: &[String], profile: &Profile) -> Vec<ClaimText> {
    scope_descriptions(scopes)
        .into_iter()
        .filter(|t| t.scope != "address" || profile.verified_address.is_some())
        .collect()
}

/// Normalised scope: supported scopes only, in a stable order, `openid` first.
pub fn normalise_scope(scope: &str) -> Vec<String> {
    let requested: BTreeSet<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    SUPPORTED_SCOPES
        .iter()
        .filter(|s| requested.contains(*s))
        .map(|s| (*s).to_owned())
        .collect()
}

/// Standard claims (OIDC Core §5.1, §5.4) for the granted scopes: proven values only.
pub fn userinfo_claims(sub: String, profile: &Profile, scope: &str) -> serde_json::Value {
    let scopes: BTreeSet<&str> = scope.split(' ').collect();
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), sub.into());
    let p = &profile.particulars;
    if scopes.contains("profile") {
        claims.insert("name".into(), p.english_name.clone().into());
        if let Some(zh) = &p.chinese_name {
            // OIDC Core §5.2: language-tagged claim.
            claims.insert("name#zh-Hant".into(), zh.clone().into());
        }
        claims.insert("gender".into(), p.gender.claim().into());
        claims.insert("birthdate".into(), p.date_of_birth.clone().into());
    }
    if scopes.contains("address") {
        if let Some(address) = &profile.verified_address {
            claims.insert(
                "address".into(),
                serde_json::json!({ "formatted": address }),
            );
        }
    }
    serde_json::Value::Object(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{Contact, Gender, Particulars};

    fn profile() -> Profile {
        Profile {
            particulars: Particulars {
                hkid: "A1234563".into(),
                english_name: "CHAN Tai Man".into(),
                chinese_name: Some("陳大文".into()),
                date_of_birth: "1990-01-01".into(),
                gender: Gender::Male,
            },
            contact: Contact {
                email: Some("a@b.hk".into()),
                phone: Some("+852 9123 4567".into()),
                address: Some("typed in".into()),
            },
            verified_address: None,
        }
    }

    #[test]
    fn scope_is_narrowed_to_supported_and_ordered() {
        assert_eq!(
            normalise_scope("email openid  bogus profile address"),
            vec!["openid", "profile", "address"]
        );
        assert!(normalise_scope("").is_empty());
    }

    #[test]
    fn userinfo_releases_only_granted_and_proven_claims() {
        let claims = userinfo_claims("s".into(), &profile(), "openid email phone address");
        assert_eq!(
            claims,
            serde_json::json!({"sub": "s"}),
            "unverified contact details"
        );
        let claims = userinfo_claims("s".into(), &profile(), "openid profile");
        assert_eq!(claims["name#zh-Hant"], "陳大文");
        assert_eq!(claims["gender"], "male");
        assert!(claims.get("hkid").is_none());
        let mut proven = profile();
        proven.verified_address = Some("1 Queen's Road Central".into());
        let claims = userinfo_claims("s".into(), &proven, "openid address");
        assert_eq!(claims["address"]["formatted"], "1 Queen's Road Central");
    }

    #[test]
    fn consent_promises_only_what_would_be_released() {
        let scopes: Vec<String> = ["openid", "profile", "address"].map(String::from).to_vec();
        let texts: Vec<&str> = releasable_descriptions(&scopes, &profile())
            .iter()
            .map(|t| t.scope)
            .collect();
        assert_eq!(texts, ["openid", "profile"]);
    }
}
