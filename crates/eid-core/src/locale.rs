//! The languages of eid's pages: English and Traditional Chinese as written in Hong Kong. Every
//! page carries both; the citizen's language (from the client's `ui_locales`, OIDC Core
//! §3.1.2.1, or else the browser's `Accept-Language`) comes first and sets the page's `lang`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Locale {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-Hant-HK")]
    ZhHantHk,
}

impl Locale {
    /// The BCP 47 tag eid writes (`lang` attributes, `ui_locales_supported`).
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhHantHk => "zh-Hant-HK",
        }
    }

    /// The other language, shown second.
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::ZhHantHk,
            Self::ZhHantHk => Self::En,
        }
    }

    /// The language a BCP 47 tag asks for, if eid has it: any English; Chinese in Traditional
    /// script or of Hong Kong, Macao or Taiwan (or unmarked). Simplified Chinese is not offered.
    pub fn of_tag(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        let mut subtags = tag.split(['-', '_']);
        match subtags.next()? {
            "en" => Some(Self::En),
            "zh" => {
                let rest: Vec<&str> = subtags.collect();
                let simplified = rest
                    .iter()
                    .any(|s| matches!(*s, "hans" | "cn" | "sg" | "my"));
                (!simplified).then_some(Self::ZhHantHk)
            }
            _ => None,
        }
    }

    /// The first of space-separated tags in order of preference (`ui_locales`) that eid has.
    pub fn negotiate(preferences: &str) -> Option<Self> {
        preferences.split(' ').find_map(Self::of_tag)
    }

    /// The language an `Accept-Language` header prefers among eid's (RFC 9110 §12.5.4: the
    /// highest `q`, the earlier on a tie; `q=0` refuses).
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(u16, Self)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let Some(locale) = parts.next().and_then(Self::of_tag) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), parse_q);
            if let Some(q) = q.filter(|q| *q > 0) {
                if best.is_none_or(|(b, _)| q > b) {
                    best = Some((q, locale));
                }
            }
        }
        best.map(|(_, locale)| locale)
    }
}

/// A quality value in thousandths (`0.8` is 800); `None` when it does not parse.
fn parse_q(q: &str) -> Option<u16> {
    let value: f32 = q.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_pick_the_first_language_eid_has() {
        assert_eq!(Locale::negotiate("zh-HK en"), Some(Locale::ZhHantHk));
        assert_eq!(
            Locale::negotiate("fr-CA zh-Hant en"),
            Some(Locale::ZhHantHk)
        );
        assert_eq!(Locale::negotiate("zh-CN en-GB"), Some(Locale::En));
        assert_eq!(Locale::negotiate("zh-Hans-HK fr"), None);
        assert_eq!(Locale::negotiate(""), None);
        assert_eq!(Locale::of_tag("ZH_tw"), Some(Locale::ZhHantHk));
    }

    #[test]
    fn accept_language_weighs_its_q_values() {
        let pick = Locale::from_accept_language;
        assert_eq!(pick("en-US,en;q=0.9,zh-HK;q=0.8"), Some(Locale::En));
        assert_eq!(
            pick("fr;q=1, zh-HK;q=0.9, en;q=0.5"),
            Some(Locale::ZhHantHk)
        );
        assert_eq!(pick("zh-HK;q=0, en;q=0.1"), Some(Locale::En));
        assert_eq!(pick("zh-CN, de"), None);
        assert_eq!(pick("en;q=bogus"), None);
    }
}
