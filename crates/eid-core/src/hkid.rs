//! Hong Kong Identity Card numbers: format and check digit.
//!
//! An HKID number is one or two capital letters, six digits and a check digit (0-9 or A),
//! usually written `A123456(3)`. The check digit is chosen so that the weighted sum of all
//! characters is divisible by 11: letters count 10 (A) to 35 (Z), a missing second letter
//! counts 36 (a space), digits count themselves, and the weights are 9, 8, ..., 2, 1 from the
//! left of the 9-character padded form, the check digit weighing 1 (A = 10).

use std::fmt;

/// A validated HKID number in canonical form (`A1234563`, no brackets or spaces).
#[derive(Clone, PartialEq, Eq)]
pub struct Hkid(String);

/// Why an HKID number was refused. The messages never repeat the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HkidError {
    #[error("must be one or two letters, six digits and a check digit, e.g. A123456(3)")]
    Format,
    #[error("the check digit does not match")]
    CheckDigit,
}

impl Hkid {
    /// Parses `A123456(3)`, `A1234563`, `a123456 (3)`, `AB987654(A)` and the like.
    pub fn parse(input: &str) -> Result<Self, HkidError> {
        let mut canonical: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        // Brackets around the check digit are allowed only as the last three characters.
        if canonical.ends_with(')') {
            let len = canonical.len();
            if len < 3 || canonical.as_bytes()[len - 3] != b'(' {
                return Err(HkidError::Format);
            }
            let check = canonical.as_bytes()[len - 2] as char;
            canonical.truncate(len - 3);
            canonical.push(check);
        }
        let bytes = canonical.as_bytes();
        let letters = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
        if !(letters == 1 || letters == 2) || bytes.len() != letters + 7 {
            return Err(HkidError::Format);
        }
        let (body, check) = bytes.split_at(bytes.len() - 1);
        if !body[letters..].iter().all(u8::is_ascii_digit) {
            return Err(HkidError::Format);
        }
        let check = match check[0] {
            c @ b'0'..=b'9' => u32::from(c - b'0'),
            b'A' => 10,
            _ => return Err(HkidError::Format),
        };
        let mut values: Vec<u32> = Vec::with_capacity(8);
        if letters == 1 {
            values.push(36);
        }
        for &b in body {
            values.push(if b.is_ascii_uppercase() {
                u32::from(b - b'A') + 10
            } else {
                u32::from(b - b'0')
            });
        }
        let sum: u32 = values
            .iter()
            .zip((2..=9).rev())
            .map(|(v, w)| v * w)
            .sum::<u32>()
            + check;
        if !sum.is_multiple_of(11) {
            return Err(HkidError::CheckDigit);
        }
        Ok(Self(canonical))
    }

    /// The canonical form, for keyed hashing and encrypted storage only.
    pub fn canonical(&self) -> &str {
        &self.0
    }
}

/// Never print the number: logs and error messages must not carry it.
impl fmt::Debug for Hkid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hkid(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_in_every_written_form() {
        // A123456(3) is the specimen number printed on the Immigration Department's sample card;
        // the others are computed with the algorithm in the module docs.
        for (input, canonical) in [
            ("A123456(3)", "A1234563"),
            ("A1234563", "A1234563"),
            ("a123456 (3)", "A1234563"),
            (" A 123456 ( 3 ) ", "A1234563"),
            ("C668668(9)", "C6686689"),
            ("AB987654(3)", "AB9876543"),
            ("G123456(A)", "G123456A"),
            ("Z000000(1)", "Z0000001"),
        ] {
            assert_eq!(
                Hkid::parse(input).map(|h| h.0),
                Ok(canonical.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn wrong_check_digits_are_refused() {
        for input in ["A123456(4)", "A1234560", "AB987654(2)", "G123456(0)"] {
            assert_eq!(Hkid::parse(input), Err(HkidError::CheckDigit), "{input}");
        }
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for input in [
            "",
            "A",
            "123456(3)",
            "ABC123456(3)",
            "A12345(3)",
            "A1234567(3)",
            "A12345X(3)",
            "A123456(B)",
            "A123456)3(",
            "A123456(3",
            "(3)",
            "Ａ123456(3)",
        ] {
            assert_eq!(Hkid::parse(input), Err(HkidError::Format), "{input}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_number() {
        let hkid = Hkid::parse("A123456(3)").unwrap();
        assert!(!format!("{hkid:?}").contains("123456"));
    }
}
