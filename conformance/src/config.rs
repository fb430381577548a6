//! What a run needs to know: the provider, the clients registered there for the suite, and how
//! to get a person through the provider's login.
//!
//! Clients come from the command line (one) or a small TOML file (several; modules that need a
//! second client use the second):
//!
//! ```toml
//! [[client]]
//! client_id = "..."
//! client_secret = "..."
//! redirect_uri = "https://rp.example/callback"
//! # token_endpoint_auth_method = "client_secret_basic"   # or client_secret_post
//!
//! # A FAPI 2.0 client (the fapi2-security-profile plan): private_key_jwt with its P-256 key.
//! [[client]]
//! client_id = "..."
//! redirect_uri = "https://rp.example/callback"
//! token_endpoint_auth_method = "private_key_jwt"
//! private_jwk = { kty = "EC", crv = "P-256", x = "...", y = "...", d = "..." }
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use serde::Deserialize;
use url::Url;

/// How the suite's client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with the client's private key (`private_jwk`), ES256, addressed to the
    /// issuer (RFC 7523, FAPI 2.0 §5.3.2.1).
    PrivateKeyJwt,
}

/// A client registered at the provider for the suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// Empty for a `private_key_jwt` client.
    #[serde(default)]
    pub client_secret: String,
    pub redirect_uri: Url,
    #[serde(default)]
    pub token_endpoint_auth_method: ClientAuth,
    /// A `private_key_jwt` client's private key, a JWK (EC P-256).
    #[serde(default)]
    pub private_jwk: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(rename = "client")]
    clients: Vec<ClientConfig>,
}

/// Reads the clients of a clients file.
pub fn read_clients(path: &std::path::Path) -> anyhow::Result<Vec<ClientConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ClientsFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if file.clients.is_empty() {
        bail!("{} lists no [[client]]", path.display());
    }
    Ok(file.clients)
}

/// How a person gets through the provider's login.
#[derive(Debug, Clone)]
pub enum DriverConfig {
    /// eid's phone: a wallet file holding an enrolled, proven device.
    Wallet { path: PathBuf },
    /// A plain HTML username and password form, then any approval (consent) form.
    Form { username: String, password: String },
}

/// Whether the suite's requests carry PKCE (RFC 7636).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pkce {
    /// When discovery lists S256 in `code_challenge_methods_supported`, as current relying
    /// party libraries do.
    #[default]
    Auto,
    Always,
    Never,
}

impl std::str::FromStr for Pkce {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Pkce::Auto),
            "always" => Ok(Pkce::Always),
            "never" => Ok(Pkce::Never),
            _ => Err(format!("{s:?}: expected auto, always or never")),
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// The issuer identifier, exactly as typed: the provider's discovery document and `iss`
    /// must state it character for character (OIDC Discovery §4.3).
    pub issuer: String,
    pub clients: Vec<ClientConfig>,
    pub driver: DriverConfig,
    pub pkce: Pkce,
    /// Plain-HTTP endpoints are reported as warnings instead of failures (local test
    /// deployments only; the report says so).
    pub danger_allow_http: bool,
    /// Skew tolerated between the provider's clock and ours, in seconds.
    pub clock_skew_secs: i64,
}

impl SuiteConfig {
    pub fn new(
        issuer: &str,
        clients: Vec<ClientConfig>,
        driver: DriverConfig,
    ) -> anyhow::Result<Self> {
        let url = Url::parse(issuer).with_context(|| format!("issuer {issuer:?}"))?;
        if url.query().is_some() || url.fragment().is_some() {
            bail!("an issuer has no query or fragment (OIDC Discovery §3)");
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            clients,
            driver,
            pkce: Pkce::Auto,
            danger_allow_http: false,
            clock_skew_secs: 300,
        })
    }

    /// Where discovery is: the issuer with `/.well-known/openid-configuration` appended
    /// (OIDC Discovery §4).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_file_lists_clients_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("clients.toml");
        std::fs::write(
            &path,
            "[[client]]\nclient_id = \"a\"\nclient_secret = \"s\"\nredirect_uri = \"https://rp.example/cb\"\n\
             [[client]]\nclient_id = \"b\"\nclient_secret = \"t\"\nredirect_uri = \"https://rp.example/cb\"\n\
             token_endpoint_auth_method = \"client_secret_post\"\n",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let clients = read_clients(&path).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(clients.len(), 2);
        assert_eq!(
            clients[1].token_endpoint_auth_method,
            ClientAuth::ClientSecretPost
        );
        std::fs::write(&path, "[[client]]\nclient_id = \"a\"\nsecret = \"s\"\n")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(read_clients(&path).is_err());
    }

    #[test]
    fn discovery_is_beside_the_issuer() {
        let c = |s: &str| {
            SuiteConfig::new(
                s,
                Vec::new(),
                DriverConfig::Form {
                    username: String::new(),
                    password: String::new(),
                },
            )
        };
        let url = |s: &str| c(s).map(|c| c.discovery_url()).unwrap_or_default();
        assert_eq!(
            url("https://op.example"),
            "https://op.example/.well-known/openid-configuration"
        );
        assert_eq!(
            url("https://op.example/tenant/"),
            "https://op.example/tenant/.well-known/openid-configuration"
        );
        assert!(c("https://op.example/?x=1").is_err());
        assert!(c("not a url").is_err());
    }
}
