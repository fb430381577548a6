//! The service portal's catalogue: the integrated services, each a registered client with an
//! `initiate_login_uri` (OIDC Core §4) and named deep links, grouped by theme and audience, in
//! English and Traditional Chinese.
//!
//! A service enters the catalogue when the operator gives its client an entry (`eid-server
//! portal import FILE`, or `client add --initiate-login-uri`). The portal links each service,
//! and each deep link, to the client's `initiate_login_uri` with `iss` and `target_link_uri`:
//! the service starts an ordinary authorization request, which the browser's single sign-on
//! session answers at once when the citizen agreed before ([`crate::sso`]), so the citizen lands
//! on that page with no prompt. A deep link's target must be on the origin of the service's
//! `initiate_login_uri`: the portal never sends a citizen elsewhere in a service's name.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::audit::{Actor, Detail, Event};
use crate::clients::validate_redirect_uri;
use crate::store::ClientRecord;
use crate::time::UnixTime;
use crate::{Error, Provider};

/// The portal's themes (iAM Smart groups its services so; PRODUCT.md capability 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Theme {
    Education,
    Transport,
    Travel,
    Immigration,
    Health,
    Tax,
    Housing,
    Employment,
    Welfare,
    Business,
    Family,
    Leisure,
}

impl Theme {
    pub const ALL: [Theme; 12] = [
        Theme::Education,
        Theme::Transport,
        Theme::Travel,
        Theme::Immigration,
        Theme::Health,
        Theme::Tax,
        Theme::Housing,
        Theme::Employment,
        Theme::Welfare,
        Theme::Business,
        Theme::Family,
        Theme::Leisure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Education => "education",
            Self::Transport => "transport",
            Self::Travel => "travel",
            Self::Immigration => "immigration",
            Self::Health => "health",
            Self::Tax => "tax",
            Self::Housing => "housing",
            Self::Employment => "employment",
            Self::Welfare => "welfare",
            Self::Business => "business",
            Self::Family => "family",
            Self::Leisure => "leisure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Its name in English and Traditional Chinese.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Education => ("Education", "教育"),
            Self::Transport => ("Transport", "交通"),
            Self::Travel => ("Travel", "旅遊"),
            Self::Immigration => ("Immigration", "入境事務"),
            Self::Health => ("Health", "醫療衞生"),
            Self::Tax => ("Tax", "稅務"),
            Self::Housing => ("Housing", "房屋"),
            Self::Employment => ("Employment", "就業"),
            Self::Welfare => ("Social welfare", "社會福利"),
            Self::Business => ("Business", "工商業"),
            Self::Family => ("Family", "家庭"),
            Self::Leisure => ("Culture and leisure", "文化及康樂"),
        }
    }
}

/// Whom a service is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Audience {
    Everyone,
    Youth,
    Elderly,
    Families,
}

impl Audience {
    pub const ALL: [Audience; 4] = [
        Audience::Everyone,
        Audience::Youth,
        Audience::Elderly,
        Audience::Families,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::Youth => "youth",
            Self::Elderly => "elderly",
            Self::Families => "families",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Everyone => ("Everyone", "所有人"),
            Self::Youth => ("Young people", "青年"),
            Self::Elderly => ("Elderly people", "長者"),
            Self::Families => ("Families", "家庭"),
        }
    }
}

/// A named page of a service the portal links to (`target_link_uri`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeepLink {
    /// A short name, `[a-z0-9-]` (`renew-licence`).
    pub id: String,
    pub title_en: String,
    pub title_zh: String,
    pub target_link_uri: String,
}

/// A service's entry in the portal (stored with its client's metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogueEntry {
    /// Its name in Traditional Chinese (the English is the client's registered name).
    pub name_zh: Option<String>,
    pub description_en: String,
    pub description_zh: String,
    pub themes: Vec<Theme>,
    pub audiences: Vec<Audience>,
    pub links: Vec<DeepLink>,
}

/// A service as a catalogue file writes it (TOML `[[service]]`): its client, themes and
/// audiences by name, links as `[[service.link]]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueFileService {
    pub client_id: String,
    /// Sets (or replaces) the client's `initiate_login_uri`.
    pub initiate_login_uri: Option<String>,
    pub name_zh: Option<String>,
    pub description_en: String,
    pub description_zh: String,
    pub themes: Vec<String>,
    pub audiences: Vec<String>,
    #[serde(default)]
    pub link: Vec<DeepLink>,
}

impl CatalogueFileService {
    /// The entry, with every theme and audience known.
    pub fn to_entry(&self) -> Result<CatalogueEntry, Error> {
        let themes = self
            .themes
            .iter()
            .map(|t| {
                Theme::parse(t).ok_or_else(|| Error::invalid("themes", format!("{t} is unknown")))
            })
            .collect::<Result<_, _>>()?;
        let audiences = self
            .audiences
            .iter()
            .map(|a| {
                Audience::parse(a)
                    .ok_or_else(|| Error::invalid("audiences", format!("{a} is unknown")))
            })
            .collect::<Result<_, _>>()?;
        Ok(CatalogueEntry {
            name_zh: self.name_zh.clone(),
            description_en: self.description_en.clone(),
            description_zh: self.description_zh.clone(),
            themes,
            audiences,
            links: self.link.clone(),
        })
    }
}

/// What the portal shows of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCard {
    pub client_id: String,
    pub name_en: String,
    pub name_zh: Option<String>,
    pub description_en: String,
    pub description_zh: String,
    pub themes: Vec<Theme>,
    pub audiences: Vec<Audience>,
    /// Where the service's own login starts (its front door), with `iss`.
    pub launch: Url,
    /// Its deep links: title (English, Chinese) and where the launch leads.
    pub links: Vec<(String, String, Url)>,
}

/// What the citizen looks for in the portal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueQuery {
    /// Words, in either language, found in the name, the description or a link's title.
    pub text: Option<String>,
    pub theme: Option<Theme>,
    pub audience: Option<Audience>,
}

/// A text field of an entry: at most `max` characters, under the rule of every displayed
/// name (no control, text-direction or invisible characters).
fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max || value.chars().any(crate::names::is_unsafe_char) {
        return Err(Error::invalid(
            field,
            format!(
                "must be at most {max} characters, without control, text-direction or invisible characters"
            ),
        ));
    }
    Ok(())
}

/// Checks an entry against the client's `initiate_login_uri`: texts bounded, ids well formed
/// and unique, every target on the initiate URI's origin.
pub fn validate_entry(entry: &CatalogueEntry, initiate_login_uri: &str) -> Result<(), Error> {
    let initiate = validate_redirect_uri(initiate_login_uri)
        .map_err(|reason| Error::invalid("initiate_login_uri", reason))?;
    if let Some(name) = &entry.name_zh {
        check_text("name_zh", name, 100)?;
    }
    check_text("description_en", &entry.description_en, 400)?;
    check_text("description_zh", &entry.description_zh, 400)?;
    if entry.themes.is_empty() || entry.audiences.is_empty() {
        return Err(Error::invalid(
            "themes",
            "a service needs at least one theme and one audience",
        ));
    }
    if entry.links.len() > 20 {
        return Err(Error::invalid("links", "at most 20 deep links"));
    }
    for (i, link) in entry.links.iter().enumerate() {
        if link.id.is_empty()
            || link.id.len() > 40
            || !link
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::invalid(
                "links.id",
                "ids are 1 to 40 of a-z, 0-9 and -",
            ));
        }
        if entry.links[..i].iter().any(|l| l.id == link.id) {
            return Err(Error::invalid("links.id", format!("{} twice", link.id)));
        }
        check_text("links.title_en", &link.title_en, 100)?;
        check_text("links.title_zh", &link.title_zh, 100)?;
        let target = validate_redirect_uri(&link.target_link_uri)
            .map_err(|reason| Error::invalid("links.target_link_uri", reason))?;
        if target.origin() != initiate.origin() {
            return Err(Error::invalid(
                "links.target_link_uri",
                format!(
                    "{} is not on the origin of the service's initiate_login_uri",
                    link.target_link_uri
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a card matches the words looked for (case-insensitively, in either language).
fn matches_text(card: &ServiceCard, words: &str) -> bool {
    let haystack = [
        card.name_en.as_str(),
        card.name_zh.as_deref().unwrap_or_default(),
        &card.description_en,
        &card.description_zh,
    ]
    .into_iter()
    .chain(
        card.links
            .iter()
            .flat_map(|(en, zh, _)| [en.as_str(), zh.as_str()]),
    )
    .collect::<Vec<_>>()
    .join("\n")
    .to_lowercase();
    words
        .split_whitespace()
        .all(|w| haystack.contains(&w.to_lowercase()))
}

impl Provider {
    /// The launch URL of a service (OIDC Core §4): its `initiate_login_uri` with `iss`, and
    /// `target_link_uri` for a deep link.
    fn launch_url(&self, initiate: &str, target: Option<&str>) -> Option<Url> {
        let mut url = Url::parse(initiate).ok()?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("iss", &self.config.issuer_str());
            if let Some(target) = target {
                query.append_pair("target_link_uri", target);
            }
        }
        Some(url)
    }

    fn card_of(&self, client: ClientRecord) -> Option<ServiceCard> {
        let entry = client.metadata.catalogue?;
        let initiate = client.metadata.initiate_login_uri?;
        Some(ServiceCard {
            launch: self.launch_url(&initiate, None)?,
            links: entry
                .links
                .iter()
                .filter_map(|l| {
                    Some((
                        l.title_en.clone(),
                        l.title_zh.clone(),
                        self.launch_url(&initiate, Some(&l.target_link_uri))?,
                    ))
                })
                .collect(),
            client_id: client.client_id.into_string(),
            name_en: client.name,
            name_zh: entry.name_zh,
            description_en: entry.description_en,
            description_zh: entry.description_zh,
            themes: entry.themes,
            audiences: entry.audiences,
        })
    }

    /// The services in the portal that match `query`, by English name.
    pub fn catalogue(&self, query: &CatalogueQuery) -> Result<Vec<ServiceCard>, Error> {
        let mut cards: Vec<ServiceCard> = self
            .store
            .clients()?
            .into_iter()
            .filter_map(|c| self.card_of(c))
            .filter(|c| query.theme.is_none_or(|t| c.themes.contains(&t)))
            .filter(|c| {
                query.audience.is_none_or(|a| {
                    c.audiences.contains(&a) || c.audiences.contains(&Audience::Everyone)
                })
            })
            .filter(|c| {
                query
                    .text
                    .as_deref()
                    .is_none_or(|t| t.trim().is_empty() || matches_text(c, t))
            })
            .collect();
        cards.sort_by_key(|c| c.name_en.to_lowercase());
        Ok(cards)
    }

    /// Puts a service in the portal (or takes it out, with `None`), with the
    /// `initiate_login_uri` its entry's links start from (given, or the one it registered).
    pub fn set_catalogue_entry(
        &self,
        client_id: &str,
        entry: Option<CatalogueEntry>,
        initiate_login_uri: Option<String>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let before = self
            .store
            .client(client_id)?
            .ok_or(Error::NotFound("client"))?;
        let mut client = before.clone();
        if let Some(uri) = initiate_login_uri {
            client.metadata.initiate_login_uri = Some(uri);
        }
        if let Some(entry) = &entry {
            let initiate = client
                .metadata
                .initiate_login_uri
                .as_deref()
                .ok_or_else(|| {
                    Error::invalid(
                        "initiate_login_uri",
                        "a service in the portal needs an initiate_login_uri",
                    )
                })?;
            validate_entry(entry, initiate)?;
        }
        let action = match entry {
            Some(_) => "portal.listed",
            None => "portal.removed",
        };
        client.metadata.catalogue = entry;
        let event = self.record(
            Event::new(action, &Actor::Operator).detail(Detail {
                client_id: Some(client_id.to_owned()),
                changes: crate::clients::client_audit_changes(&before, &client),
                ..Detail::default()
            }),
            now,
        )?;
        if !self.store.update_client(&client, &[event])? {
            return Err(Error::NotFound("client"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CatalogueEntry {
        CatalogueEntry {
            name_zh: Some("運輸署".into()),
            description_en: "Licences and vehicles".into(),
            description_zh: "牌照及車輛".into(),
            themes: vec![Theme::Transport],
            audiences: vec![Audience::Everyone],
            links: vec![DeepLink {
                id: "renew-licence".into(),
                title_en: "Renew a driving licence".into(),
                title_zh: "續領駕駛執照".into(),
                target_link_uri: "https://td.example/licences/renew".into(),
            }],
        }
    }

    #[test]
    fn entries_are_checked_against_the_initiate_uri() {
        let initiate = "https://td.example/initiate-login";
        assert!(validate_entry(&entry(), initiate).is_ok());
        let mut other_site = entry();
        other_site.links[0].target_link_uri = "https://evil.example/renew".into();
        assert!(validate_entry(&other_site, initiate).is_err());
        let mut bad_id = entry();
        bad_id.links[0].id = "Renew Licence".into();
        assert!(validate_entry(&bad_id, initiate).is_err());
        let mut twice = entry();
        twice.links.push(twice.links[0].clone());
        assert!(validate_entry(&twice, initiate).is_err());
        let mut no_theme = entry();
        no_theme.themes.clear();
        assert!(validate_entry(&no_theme, initiate).is_err());
        let mut control = entry();
        control.description_en = "a\u{7}b".into();
        assert!(validate_entry(&control, initiate).is_err());
        assert!(validate_entry(&entry(), "http://td.example/initiate").is_err());
    }

    #[test]
    fn themes_and_audiences_read_back() {
        for t in Theme::ALL {
            assert_eq!(Theme::parse(t.as_str()), Some(t));
        }
        for a in Audience::ALL {
            assert_eq!(Audience::parse(a.as_str()), Some(a));
        }
        let json = serde_json::to_string(&entry()).unwrap_or_default();
        assert!(json.contains("\"transport\"") && json.contains("\"everyone\""));
    }
}
