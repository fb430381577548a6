//! Names eid shows to people: of devices, services (clients), documents to sign and the
//! portal's entries. One rule for all (review 2026-12-07, L5): no control characters, and
//! none of the invisible characters that reorder text on screen or hide in it (bidi
//! overrides, isolates and marks; zero-width spaces, joiners and other default-ignorable
//! characters), since a name containing them could pass for another: `Inland Revenue
//! Department <U+202E><U+200B>稅務局` shows as something else than it is.
//!
//! Services that registered themselves (dynamic registration) are shown as unverified, and may
//! not take a name that differs from an operator-registered service's only in case, spacing or
//! full-width letters ([`name_key`]).

use crate::store::ClientRecord;
use crate::{Error, Provider};

/// Whether `c` may not appear in a displayed name: control characters, bidi controls, and
/// invisible (default-ignorable, Unicode §5.21) characters, variation selectors aside (emoji
/// use them).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidi: Arabic letter mark, LRM/RLM, embeddings and overrides, isolates.
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            // Zero-width space, non-joiner, joiner; word joiner and invisible operators;
            // deprecated format characters; the byte-order mark (zero-width no-break space).
            | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{206A}'..='\u{206F}'
            | '\u{FEFF}'
            // Soft hyphen, combining grapheme joiner, Hangul fillers, Khmer inherent vowels,
            // Mongolian vowel separator: invisible where they stand.
            | '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180E}' | '\u{3164}' | '\u{FFA0}'
            // Line and paragraph separators (a name is one line); interlinear annotation.
            | '\u{2028}' | '\u{2029}' | '\u{FFF9}'..='\u{FFFB}'
            // Shorthand format controls, musical symbol formatting, tags.
            | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}'
        )
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is required")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control, text-direction or invisible characters")]
    Unsafe,
}

/// A name to be displayed, trimmed: 1 to `max` characters, none of them unsafe.
pub fn display_name(value: &str, max: usize) -> Result<String, NameError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(NameError::Empty);
    }
    if value.chars().count() > max {
        return Err(NameError::TooLong(max));
    }
    if value.chars().any(is_unsafe_char) {
        return Err(NameError::Unsafe);
    }
    Ok(value.to_owned())
}

/// What two names are compared by: lower case, without white space, full-width Latin letters
/// and digits as their ASCII (`Inland Revenue Department`, `inland revenue  department` and
/// `ＩｎｌａｎｄＲｅｖｅｎｕｅＤｅｐａｒｔｍｅｎｔ` are one name). Look-alike letters of other
/// scripts are not folded: a self-registered service stays marked unverified.
pub fn name_key(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            // U+FF01..U+FF5E are U+0021..U+007E at full width.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

impl ClientRecord {
    /// Whether the client registered itself (RFC 7591): its name is its own claim, shown as
    /// unverified. Clients the operator registered are verified.
    pub fn is_self_registered(&self) -> bool {
        self.metadata.registration_token_hash.is_some()
    }
}

impl Provider {
    /// A self-registered client may not take an operator-registered client's name (compared
    /// by [`name_key`]); `except` is the client itself, when it updates its registration.
    pub(crate) fn check_name_is_free(&self, name: &str, except: Option<&str>) -> Result<(), Error> {
        let key = name_key(name);
        let taken = self.store.clients()?.into_iter().any(|c| {
            !c.is_self_registered()
                && except != Some(c.client_id.as_str())
                && name_key(&c.name) == key
        });
        match taken {
            true => Err(crate::oidc::oauth(
                crate::OAuthErrorCode::InvalidClientMetadata,
                "client_name is the name of a service the operator registered: choose your own",
            )
            .into()),
            false => Ok(()),
        }
    }

    /// Whether the service a login request is for was registered by the operator (`false`:
    /// it registered itself, and the login page says so beside its name). An unknown request
    /// is answered `true`: its page says it is finished, naming no service.
    pub fn login_service_verified(&self, request_id: &str) -> Result<bool, Error> {
        let Some(request) = self.store.auth_request(request_id)? else {
            return Ok(true);
        };
        Ok(self
            .store
            .client(&request.client_id)?
            .is_none_or(|c| !c.is_self_registered()))
    }

    /// Whether a client is operator-registered, by id (unknown: `true`, nothing is shown).
    pub fn client_verified(&self, client_id: &str) -> Result<bool, Error> {
        Ok(self
            .store
            .client(client_id)?
            .is_none_or(|c| !c.is_self_registered()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_invisible_or_reordering_characters_are_refused() {
        // Review 2026-12-07, L5: RLO (U+202E) and a zero-width space (U+200B).
        assert_eq!(
            display_name("Inland Revenue Department \u{202E}\u{200B}稅務局", 100),
            Err(NameError::Unsafe)
        );
        for bad in [
            "Bank\u{200B}",
            "Bank\u{200C}x",
            "Bank\u{200D}x",
            "Bank\u{2060}x",
            "\u{FEFF}Bank",
            "Ba\u{00AD}nk",
            "Bank\u{2066}x\u{2069}",
            "Bank\u{202D}",
            "Bank\u{061C}",
            "Bank\u{3164}",
            "Bank\u{E0041}",
            "Bank\u{2028}Other",
            "\u{1b}[31mBank",
            "Bank\nOther",
        ] {
            assert_eq!(display_name(bad, 100), Err(NameError::Unsafe), "{bad:?}");
        }
        for good in [
            "Inland Revenue Department 稅務局",
            "Transport Department",
            "運輸署",
            "Café Zoë",
            "Mum's phone ❤\u{FE0F}",
            "شركة",
        ] {
            assert_eq!(display_name(good, 100), Ok(good.to_owned()), "{good:?}");
        }
        assert_eq!(display_name("  Trimmed  ", 100), Ok("Trimmed".into()));
        assert_eq!(display_name("   ", 100), Err(NameError::Empty));
        assert_eq!(display_name("abcd", 3), Err(NameError::TooLong(3)));
    }

    #[test]
    fn names_compare_without_case_spacing_or_full_width() {
        let official = name_key("Inland Revenue Department");
        for same in [
            "inland revenue department",
            "INLAND  REVENUE\tDEPARTMENT",
            "InlandRevenueDepartment",
            "Ｉｎｌａｎｄ　Ｒｅｖｅｎｕｅ　Ｄｅｐａｒｔｍｅｎｔ",
        ] {
            assert_eq!(name_key(same), official, "{same}");
        }
        assert_ne!(name_key("Inland Revenue Dept"), official);
        assert_eq!(name_key("稅務局"), name_key(" 稅務局 "));
    }
}
