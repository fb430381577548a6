//! What a service can receive: scopes, the claims they release, and how each is described to
//! the citizen in English and Traditional Chinese.
//!
//! Only proven particulars are released (OIDC Core §5.1 claims): the name, gender and date of
//! birth that identity proofing checked, and an address only when an officer saw a proof of
//! it. Contact details the citizen typed in are kept for their own forms and never released,
//! because nothing has verified them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::account::Profile;

/// A scope eid understands; others are ignored (RFC 6749 §3.3 lets the server narrow the scope).
/// `email` and `phone` are not among them: nothing verifies a citizen's email address or phone
/// number yet, so eid has nothing it could vouch for under those scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    OpenId,
    Profile,
    Address,
    /// A refresh token, so that the service keeps access while the citizen is away (OIDC Core
    /// §11). The citizen grants it on the phone like a claim, and may decline it.
    OfflineAccess,
    /// The service may ask the citizen to sign documents (`POST /signing/requests`, with an
    /// access token that carries it). Granted on the phone like a claim, only to clients the
    /// operator allowed to ask for signatures; a refresh never renews it (see
    /// [`Scopes::renewable`]), so that signing out ends it.
    Sign,
}

impl Scope {
    /// Every scope, in the order eid lists them (`openid` first).
    pub const ALL: [Scope; 5] = [
        Scope::OpenId,
        Scope::Profile,
        Scope::Address,
        Scope::OfflineAccess,
        Scope::Sign,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "openid",
            Self::Profile => "profile",
            Self::Address => "address",
            Self::OfflineAccess => "offline_access",
            Self::Sign => "sign",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// A permission the citizen grants the service (to keep access, to ask for signatures),
    /// not a claim about them: never asked for with the `claims` parameter, never released.
    pub fn is_permission(self) -> bool {
        matches!(self, Self::OfflineAccess | Self::Sign)
    }
}

/// A set of scopes, always in [`Scope::ALL`]'s order: written out, equal sets read the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// A requested `scope` parameter (RFC 6749 §3.3): the scopes eid supports, the rest
    /// dropped.
    pub fn narrowed(scope: &str) -> Self {
        scope.split(' ').filter_map(Scope::parse).collect()
    }

    /// A stored scope string: every value must be a known scope.
    pub fn from_stored(scope: &str) -> Option<Self> {
        scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(Scope::parse)
            .collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// These scopes without `scope`.
    pub fn without(self, scope: Scope) -> Self {
        Self(self.0 & !scope.bit())
    }

    /// What a refresh grant renews of a grant's scopes: all but `sign`. Asking a citizen to
    /// sign is the service's while the citizen's login lasts: its access tokens, which
    /// revocation, signing out and withdrawing consent delete. Renewed from a refresh token
    /// (which offline access keeps past a logout, OIDC Core §11), it would outlive them
    /// (security review 2026-12-07, L1).
    pub fn renewable(self) -> Self {
        self.without(Scope::Sign)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

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

/// One claim a scope asks for, in words a citizen reads. The citizen decides per claim: the
/// essential ones go with every approved login, the others only when chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimItem {
    pub claim: &'static str,
    pub scope: Scope,
    pub en: &'static str,
    pub zh_hant: &'static str,
    /// Released with every approved login: without it there is no login.
    pub essential: bool,
}

/// What the citizen grants under `offline_access`: not a claim about them, but the service's
/// keeping access (a refresh token) while they are away.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// What the citizen grants under `sign`: not a claim about them, but the service's asking them
/// to sign documents (each one still approved on the phone, with its verification code).
pub const SIGN: &str = "sign";

const ITEMS: [ClaimItem; 7] = [
    ClaimItem {
        claim: "sub",
        scope: Scope::OpenId,
        en: "An identifier for you that is different for every service",
        zh_hant: "您在此服務的識別碼（每項服務各不相同）",
        essential: true,
    },
    ClaimItem {
        claim: "name",
        scope: Scope::Profile,
        en: "Your name in English and Chinese",
        zh_hant: "您的中英文姓名",
        essential: false,
    },
    ClaimItem {
        claim: "gender",
        scope: Scope::Profile,
        en: "Your gender",
        zh_hant: "您的性別",
        essential: false,
    },
    ClaimItem {
        claim: "birthdate",
        scope: Scope::Profile,
        en: "Your date of birth",
        zh_hant: "您的出生日期",
        essential: false,
    },
    ClaimItem {
        claim: "address",
        scope: Scope::Address,
        en: "Your residential address",
        zh_hant: "您的住址",
        essential: false,
    },
    ClaimItem {
        claim: OFFLINE_ACCESS,
        scope: Scope::OfflineAccess,
        en: "Stay connected: the service may keep using what you share while you are away, until you withdraw your consent",
        zh_hant: "保持連線：在您撤回同意前，此服務可在您離開後繼續使用您分享的資料",
        essential: false,
    },
    ClaimItem {
        claim: SIGN,
        scope: Scope::Sign,
        en: "Ask you to sign documents: while you are logged in, the service may send documents to this phone for your signature (you approve each one)",
        zh_hant: "要求您簽署文件：在您登入期間，此服務可將文件傳送至此手機供您簽署（每份文件均由您批准）",
        essential: false,
    },
];

/// The claims a client asked for with the `claims` parameter (OIDC Core §5.5), among those eid
/// can release (the others are ignored, as the specification allows), and where it wants them.
/// Asking is not receiving: the citizen still decides on the phone, `essential` or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaimsRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    /// Those marked `essential`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub essential: Vec<String>,
}

/// `acr` asked for in the `claims` parameter: the values, to be treated like `acr_values`.
pub type AcrRequest = Vec<String>;

impl ClaimsRequest {
    /// Parses the `claims` parameter: a JSON object with optional `userinfo` and `id_token`
    /// members, each naming claims with `null` or `{"essential", "value", "values"}`.
    pub fn parse(json: &str) -> Result<(Self, AcrRequest), String> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("claims is not JSON: {e}"))?;
        let object = value.as_object().ok_or("claims must be a JSON object")?;
        let mut out = Self::default();
        let mut acr = Vec::new();
        for (member, list) in [
            ("userinfo", &mut out.userinfo),
            ("id_token", &mut out.id_token),
        ] {
            let Some(requested) = object.get(member) else {
                continue;
            };
            let requested = requested
                .as_object()
                .ok_or_else(|| format!("claims.{member} must be a JSON object"))?;
            for (name, spec) in requested {
                let essential = match spec {
                    serde_json::Value::Null => false,
                    serde_json::Value::Object(o) => {
                        if member == "id_token" && name == "acr" {
                            let values = o
                                .get("values")
                                .and_then(|v| v.as_array())
                                .map(|v| {
                                    v.iter()
                                        .filter_map(|s| s.as_str())
                                        .map(str::to_owned)
                                        .collect()
                                })
                                .or_else(|| {
                                    o.get("value")
                                        .and_then(|v| v.as_str())
                                        .map(|v| vec![v.to_owned()])
                                })
                                .unwrap_or_default();
                            acr.extend(values);
                        }
                        o.get("essential")
                            .and_then(|e| e.as_bool())
                            .unwrap_or(false)
                    }
                    _ => {
                        return Err(format!(
                            "claims.{member}.{name} must be null or a JSON object"
                        ))
                    }
                };
                // Claims about the citizen only: a permission (`offline_access`, `sign`) comes
                // with its scope, which eid grants only to the clients it is for.
                if ITEMS.iter().any(|t| {
                    t.claim == name && t.scope != Scope::OpenId && !t.scope.is_permission()
                }) {
                    if !list.contains(name) {
                        list.push(name.clone());
                    }
                    if essential && !out.essential.contains(name) {
                        out.essential.push(name.clone());
                    }
                }
            }
        }
        Ok((out, acr))
    }

    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.userinfo
            .iter()
            .chain(&self.id_token)
            .map(String::as_str)
    }
}

/// The claims `scopes` and the `claims` parameter ask for, in a stable order.
pub fn requested_items(scopes: Scopes, claims: &ClaimsRequest) -> Vec<ClaimItem> {
    ITEMS
        .into_iter()
        .filter(|t| scopes.contains(t.scope) || claims.names().any(|n| n == t.claim))
        .collect()
}

/// What the request could release from `profile`: a claim this citizen has no proven value
/// for (an address nobody checked) is not offered.
pub fn offered_items(scopes: Scopes, claims: &ClaimsRequest, profile: &Profile) -> Vec<ClaimItem> {
    requested_items(scopes, claims)
        .into_iter()
        .filter(|t| t.claim != "address" || profile.verified_address.is_some())
        .collect()
}

/// The citizen's own value of a claim, as the phone shows it before they decide.
pub fn display_value(claim: &str, profile: &Profile) -> Option<String> {
    let p = &profile.particulars;
    match claim {
        "name" => Some(match &p.chinese_name {
            Some(zh) => format!("{} {zh}", p.english_name),
            None => p.english_name.clone(),
        }),
        "gender" => Some(p.gender.claim().to_owned()),
        "birthdate" => Some(p.date_of_birth.clone()),
        "address" => profile.verified_address.clone(),
        _ => None,
    }
}

/// The scope actually granted (RFC 6749 §3.3): the requested scopes of which at least one
/// claim was shared.
pub fn granted_scope(requested: Scopes, claims: &str) -> Scopes {
    let claims: BTreeSet<&str> = claims.split(' ').collect();
    requested_items(requested, &ClaimsRequest::default())
        .into_iter()
        .filter(|t| claims.contains(t.claim))
        .map(|t| t.scope)
        .collect()
}

/// Standard claims (OIDC Core §5.1, §5.4) the citizen shared: proven values only.
pub fn userinfo_claims(sub: String, profile: &Profile, claims: &str) -> serde_json::Value {
    let shared: BTreeSet<&str> = claims.split(' ').collect();
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), sub.into());
    let p = &profile.particulars;
    if shared.contains("name") {
        out.insert("name".into(), p.english_name.clone().into());
        if let Some(zh) = &p.chinese_name {
            // OIDC Core §5.2: language-tagged claim.
            out.insert("name#zh-Hant".into(), zh.clone().into());
        }
    }
    if shared.contains("gender") {
        out.insert("gender".into(), p.gender.claim().into());
    }
    if shared.contains("birthdate") {
        out.insert("birthdate".into(), p.date_of_birth.clone().into());
    }
    if shared.contains("address") {
        if let Some(address) = &profile.verified_address {
            out.insert(
                "address".into(),
                serde_json::json!({ "formatted": address }),
            );
        }
    }
    serde_json::Value::Object(out)
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
        let scopes = Scopes::narrowed("email address openid  bogus profile");
        assert_eq!(scopes.to_string(), "openid profile address");
        assert_eq!(
            Scopes::narrowed("offline_access openid").to_string(),
            "openid offline_access"
        );
        assert_eq!(Scopes::from_stored("openid profile address"), Some(scopes));
        assert!(Scopes::narrowed("").is_empty());
        assert_eq!(Scopes::from_stored(""), Some(Scopes::default()));
        assert_eq!(
            Scopes::from_stored("openid email"),
            None,
            "stored values are strict"
        );
    }

    #[test]
    fn userinfo_releases_only_shared_and_proven_claims() {
        let claims = userinfo_claims("s".into(), &profile(), "sub address");
        assert_eq!(claims, serde_json::json!({"sub": "s"}), "unproven address");
        let claims = userinfo_claims("s".into(), &profile(), "sub name birthdate");
        assert_eq!(claims["name#zh-Hant"], "陳大文");
        assert_eq!(claims["birthdate"], "1990-01-01");
        assert!(claims.get("gender").is_none(), "not chosen");
        assert!(claims.get("hkid").is_none());
        let mut proven = profile();
        proven.verified_address = Some("1 Queen's Road Central".into());
        let claims = userinfo_claims("s".into(), &proven, "sub address");
        assert_eq!(claims["address"]["formatted"], "1 Queen's Road Central");
    }

    #[test]
    fn only_claims_the_citizen_has_are_offered() {
        let scopes = Scopes::narrowed("openid profile address");
        let offered: Vec<&str> = offered_items(scopes, &ClaimsRequest::default(), &profile())
            .iter()
            .map(|t| t.claim)
            .collect();
        assert_eq!(offered, ["sub", "name", "gender", "birthdate"]);
        assert_eq!(
            display_value("name", &profile()).as_deref(),
            Some("CHAN Tai Man 陳大文")
        );
    }

    #[test]
    fn sign_is_a_permission_granted_like_offline_access_and_never_renewed() {
        let scopes = Scopes::narrowed("openid sign offline_access");
        assert_eq!(scopes.to_string(), "openid offline_access sign");
        assert!(Scope::Sign.is_permission() && Scope::OfflineAccess.is_permission());
        assert!(!Scope::Profile.is_permission());
        assert_eq!(granted_scope(scopes, "sub"), Scopes::narrowed("openid"));
        assert_eq!(
            granted_scope(scopes, "sub sign"),
            Scopes::narrowed("openid sign")
        );
        assert_eq!(scopes.renewable().to_string(), "openid offline_access");
        assert_eq!(scopes.without(Scope::Sign), scopes.renewable());
        let item = requested_items(scopes, &ClaimsRequest::default())
            .into_iter()
            .find(|t| t.claim == SIGN)
            .expect("sign is shown to the citizen");
        assert!(!item.essential);
        assert!(item.en.starts_with("Ask you to sign documents"));
        // Not a claim: the `claims` parameter cannot ask for it (only a signing client's
        // scope can), and userinfo releases nothing for it.
        let (claims, _) =
            ClaimsRequest::parse(r#"{"userinfo": {"sign": null}, "id_token": {"sign": null}}"#)
                .unwrap();
        assert!(claims.is_empty());
        assert!(requested_items(Scopes::narrowed("openid"), &claims)
            .iter()
            .all(|t| t.claim != SIGN));
        assert_eq!(
            userinfo_claims("s".into(), &profile(), "sub sign"),
            serde_json::json!({"sub": "s"})
        );
    }

    #[test]
    fn the_granted_scope_follows_the_shared_claims() {
        let all = Scopes::narrowed("openid profile address");
        assert_eq!(granted_scope(all, "sub").to_string(), "openid");
        assert_eq!(granted_scope(all, "sub gender address"), all);
        let offline = Scopes::narrowed("openid offline_access");
        assert_eq!(granted_scope(offline, "sub"), Scopes::narrowed("openid"));
        assert_eq!(granted_scope(offline, "sub offline_access"), offline);
    }

    #[test]
    fn the_claims_parameter_adds_releasable_claims_and_reads_acr() {
        let (claims, acr) = ClaimsRequest::parse(
            r#"{"userinfo": {"name": {"essential": true}, "email": null, "sub": null},
                "id_token": {"birthdate": null, "acr": {"essential": true, "values": ["urn:eid:loa:plus"]}}}"#,
        )
        .unwrap();
        assert_eq!(
            claims.userinfo,
            ["name"],
            "email and sub are not releasable here"
        );
        assert_eq!(claims.id_token, ["birthdate"]);
        assert_eq!(claims.essential, ["name"]);
        assert_eq!(acr, ["urn:eid:loa:plus"]);
        let items: Vec<&str> = requested_items(Scopes::narrowed("openid"), &claims)
            .iter()
            .map(|t| t.claim)
            .collect();
        assert_eq!(items, ["sub", "name", "birthdate"]);
        assert_eq!(
            granted_scope(Scopes::narrowed("openid"), "sub name"),
            Scopes::narrowed("openid"),
            "a claim asked for by name adds no scope"
        );
        for bad in [
            "[]",
            "{\"userinfo\": 1}",
            "{\"id_token\": {\"name\": 2}}",
            "nope",
        ] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
    }
}
