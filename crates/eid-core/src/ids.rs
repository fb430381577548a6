//! Identifiers as types: a citizen's, a device's, a client's and a login request's ids are all
//! strings, and a function taking two of them must not be able to receive them swapped. Each
//! reads as a `&str` where text is wanted (it dereferences to one), but a `&CitizenId` is never
//! accepted for a `&ClientId`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

id_type!(
    /// A citizen's account (a UUID), never shown to services: they see a pairwise `sub`.
    CitizenId
);
id_type!(
    /// A device bound to an account (a UUID).
    DeviceId
);
id_type!(
    /// A relying party's `client_id`.
    ClientId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_text_but_do_not_mix() {
        let citizen = CitizenId::new("c-1");
        let client = ClientId::from("k-1");
        let text: &str = &citizen;
        assert_eq!(text, "c-1");
        assert_eq!(client, "k-1");
        assert_eq!(serde_json::to_string(&client).unwrap(), "\"k-1\"");
        let map: std::collections::HashMap<ClientId, u8> = [(client.clone(), 1)].into();
        assert_eq!(map.get("k-1"), Some(&1));
        fn takes_a_client(_: &ClientId) {}
        takes_a_client(&client);
        // takes_a_client(&citizen) does not compile.
    }
}
