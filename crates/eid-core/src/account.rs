//! What an account is: its assurance level, its status, and the particulars it holds.
//!
//! A leaf module: the flows and the store traits both speak these types, and it imports
//! nothing from either.

use serde::{Deserialize, Serialize};

/// How well an account's holder was proven to be the person its particulars name.
///
/// Ordered: `Plus` satisfies anything `Basic` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Proven remotely: the identity card's particulars and a live face template matched the
    /// population registry's record.
    Basic,
    /// Proven in person by a registration officer who checked the physical identity card
    /// ("eid+"). Only this level may sign documents.
    Plus,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 2] = [Level::Basic, Level::Plus];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Plus => "plus",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "basic" => Some(Self::Basic),
            "plus" => Some(Self::Plus),
            _ => None,
        }
    }

    /// The `acr` value (OIDC Core §2) an ID token carries for this level.
    pub fn acr(self) -> &'static str {
        match self {
            Self::Basic => "urn:eid:loa:basic",
            Self::Plus => "urn:eid:loa:plus",
        }
    }

    /// The level an `acr` value names, if eid knows it.
    pub fn from_acr(acr: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.acr() == acr)
    }
}

/// Whether an account may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    Active,
    /// Stopped by an operator (a court order, a suspected compromise, the citizen's request):
    /// no login, no token works, no device management. Resumable.
    Suspended,
    /// Closed: the particulars, devices and tokens are erased; the HKID index stays as a
    /// tombstone so that proofing can reopen the same account.
    Closed,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// How a device came to be bound to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinedBy {
    /// Registered with an application that identity proofing accepted.
    Proofing,
    /// Added with a one-time code from a device already bound.
    Link,
    /// A passkey added in a browser signed in with a fresh phone approval.
    Browser,
}

impl JoinedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proofing => "proofing",
            Self::Link => "link",
            Self::Browser => "browser",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            // Devices bound before identity proofing existed came with the enrolment.
            "proofing" | "enrolment" => Some(Self::Proofing),
            "link" => Some(Self::Link),
            "browser" => Some(Self::Browser),
            _ => None,
        }
    }
}

/// Gender as on the identity card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gender {
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "F")]
    Female,
    #[serde(rename = "X")]
    Unspecified,
}

impl Gender {
    /// `M`, `F` or `X`, case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "M" => Some(Self::Male),
            "F" => Some(Self::Female),
            "X" => Some(Self::Unspecified),
            _ => None,
        }
    }

    /// The letter on the card.
    pub fn letter(self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
            Self::Unspecified => "X",
        }
    }

    /// The OIDC `gender` claim (OIDC Core §5.1).
    pub fn claim(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
            Self::Unspecified => "other",
        }
    }
}

/// The particulars an identity card shows: what proofing checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Particulars {
    /// Canonical HKID number (`A1234563`).
    pub hkid: String,
    pub english_name: String,
    pub chinese_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub gender: Gender,
}

/// Contact details the citizen typed in. Nothing proves them yet, so none is released to a
/// service; they are kept (sealed) for the citizen's own forms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// An account's profile, sealed at rest as JSON (AAD `citizen:<id>`).
///
/// `particulars` were proven by the channel that created or last upgraded the account;
/// `verified_address` is set only when an officer saw a proof of address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub particulars: Particulars,
    #[serde(default)]
    pub contact: Contact,
    #[serde(default)]
    pub verified_address: Option<String>,
}

impl Profile {
    /// Reads a stored profile, including the flat form written before identity proofing
    /// existed (whose particulars nothing proved: such accounts have no level).
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Flat {
            english_name: String,
            chinese_name: Option<String>,
            date_of_birth: String,
            gender: String,
            hkid: String,
            email: Option<String>,
            phone: Option<String>,
            address: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Current(Profile),
            Flat(Flat),
        }
        Ok(match serde_json::from_slice::<Stored>(json)? {
            Stored::Current(p) => p,
            Stored::Flat(f) => Profile {
                particulars: Particulars {
                    hkid: f.hkid,
                    english_name: f.english_name,
                    chinese_name: f.chinese_name,
                    date_of_birth: f.date_of_birth,
                    gender: Gender::parse(&f.gender).unwrap_or(Gender::Unspecified),
                },
                contact: Contact {
                    email: f.email,
                    phone: f.phone,
                    address: f.address,
                },
                verified_address: None,
            },
        })
    }
}

/// `CHAN T** M**`: a name masked for display to someone who must recognise, not learn, it.
pub fn mask_name(name: &str) -> String {
    let mut words = name.split_whitespace();
    let mut out: Vec<String> = Vec::new();
    if let Some(first) = words.next() {
        out.push(first.to_owned());
    }
    for word in words {
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            out.push(format!("{c}{}", "*".repeat(chars.count().min(8))));
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_round_trip() {
        assert!(Level::Plus > Level::Basic);
        for level in Level::ALL {
            assert_eq!(Level::parse(level.as_str()), Some(level));
            assert_eq!(Level::from_acr(level.acr()), Some(level));
        }
        assert_eq!(Level::from_acr("basic"), None);
        assert_eq!(Level::parse("urn:eid:loa:basic"), None);
    }

    #[test]
    fn legacy_flat_profiles_still_open() {
        let flat = br#"{"english_name":"CHAN Tai Man","chinese_name":null,"date_of_birth":"1990-01-01","gender":"M","hkid":"A1234563","email":"a@b.hk","phone":null,"address":null}"#;
        let profile = Profile::from_json(flat).unwrap();
        assert_eq!(profile.particulars.gender, Gender::Male);
        assert_eq!(profile.contact.email.as_deref(), Some("a@b.hk"));
        let current = serde_json::to_vec(&profile).unwrap();
        assert_eq!(Profile::from_json(&current).unwrap(), profile);
    }

    #[test]
    fn names_are_masked_after_the_surname() {
        assert_eq!(mask_name("CHAN Tai Man"), "CHAN T** M**");
        assert_eq!(mask_name("  LEE  "), "LEE");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("WONG 陳大文"), "WONG 陳**");
    }
}
