//! Requests eid makes to relying parties' sites: back-channel logout tokens posted, key sets
//! fetched (`jwks_uri`). A client chooses these URLs, so they are a way to make eid send
//! requests into its own network (server-side request forgery). Every such request goes to a
//! public address only, checked after name resolution (a name that resolves to a private
//! address is refused, whatever it resolved to before) and for literal addresses, over https,
//! without following redirects, within five seconds, and reads at most 256 KiB.
//! `[outbound] danger_allow_private_addresses` lifts the address and scheme rules, for a
//! development or test deployment whose relying parties run on the same machine.
//!
//! No proxy is ever used, whatever the environment says (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`): through a proxy, eid would resolve only the proxy's name and the proxy would
//! resolve and reach the client's, internal names included. An egress proxy would need eid to
//! resolve the name itself, check the address, and have the proxy connect to that address
//! while TLS still names the host; reqwest cannot do that, so `[outbound] proxy` is refused at
//! start-up (operations guide, "Outbound requests").
//!
//! A fetch that fails tells the registering party only that the document could not be
//! fetched: why (refused, reset, a certificate, a status) would let anyone who can register a
//! client probe what answers where. The reason goes to the log.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use eid_core::fetch::{Document, Fetcher};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// The most eid reads of a fetched document.
pub const MAX_DOCUMENT: usize = 256 * 1024;

/// Where eid may send requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Private, loopback and link-local addresses, and plain http, allowed.
    pub danger_allow_private_addresses: bool,
}

/// Whether `ip` is an address on the public internet (not loopback, private, link-local,
/// shared, documentation, multicast or unspecified). IPv6 addresses that carry an IPv4 address
/// or lead to one eid cannot see are judged by it or refused: IPv4-mapped `::ffff:0:0/96` as
/// its IPv4; 6to4 `2002::/16` (RFC 3056) as the IPv4 it embeds; NAT64 `64:ff9b::/96` (RFC
/// 6052) and `64:ff9b:1::/48` (RFC 8215), whose translator may reach any IPv4 address, and the
/// deprecated IPv4-compatible `::/96` (RFC 4291 §2.5.5.1) refused; so is site-local
/// `fec0::/10` (deprecated by RFC 3879, still routed internally by some networks).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                // 100.64.0.0/10 (shared address space) and 198.18.0.0/15 (benchmarking).
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0] == 0x2002 {
                // 6to4: the IPv4 address is the next 32 bits.
                let [hi, lo] = [s[1].to_be_bytes(), s[2].to_be_bytes()];
                return is_public(IpAddr::V4([hi[0], hi[1], lo[0], lo[1]].into()));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // ::/96, IPv4-compatible (and so :: and ::1).
                || s[..6].iter().all(|x| *x == 0)
                // 64:ff9b::/96 and 64:ff9b:1::/48, NAT64.
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0))
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001)
                // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local,
                // 2001:db8::/32 documentation.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// Resolves names to their public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether eid may send a request to `url` (before resolution: the scheme, a literal address).
pub fn check_url(url: &str, policy: OutboundPolicy) -> Result<Url, String> {
    let url = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if policy.danger_allow_private_addresses {
        return match url.scheme() {
            "https" | "http" => Ok(url),
            other => Err(format!("eid does not fetch {other} URLs")),
        };
    }
    if url.scheme() != "https" {
        return Err("eid fetches https URLs only".into());
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if literal.is_some_and(|ip| !is_public(ip)) {
        return Err("the URL names an address that is not public".into());
    }
    Ok(url)
}

/// An HTTP client for requests to relying parties' sites under `policy`: direct, never
/// through a proxy the environment names.
pub fn client(policy: OutboundPolicy) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("eid/", env!("CARGO_PKG_VERSION")));
    match policy.danger_allow_private_addresses {
        true => builder.build(),
        false => builder.dns_resolver(Arc::new(PublicOnly)).build(),
    }
}

/// A GET of a document: 200, and at most [`MAX_DOCUMENT`] bytes.
async fn get(http: &reqwest::Client, url: Url) -> Result<Vec<u8>, String> {
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("the request failed: {}", without_url(&e)))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("it answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {}", without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!(
                "the answer is longer than {} KiB",
                MAX_DOCUMENT / 1024
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error's description without its URL (which the caller knows).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the URL");
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    text
}

type Job = (Url, tokio::sync::oneshot::Sender<Result<Vec<u8>, String>>);

/// The [`Fetcher`] core calls from its blocking flows: requests go to a thread of its own with
/// a small runtime, and the flow waits for the answer.
pub struct HttpFetcher {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    policy: OutboundPolicy,
}

impl HttpFetcher {
    pub fn start(policy: OutboundPolicy) -> std::io::Result<Self> {
        let http = client(policy).map_err(std::io::Error::other)?;
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("eid-fetch".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some((url, answer)) = queue.recv().await {
                        let http = http.clone();
                        tokio::spawn(async move {
                            let _ = answer.send(get(&http, url).await);
                        });
                    }
                });
            })?;
        Ok(Self { jobs, policy })
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(&self, url: &str, document: Document) -> Result<Vec<u8>, String> {
        let url = check_url(url, self.policy)?;
        let (answer, waiting) = tokio::sync::oneshot::channel();
        self.jobs
            .send((url, answer))
            .map_err(|_| "the fetcher has stopped".to_owned())?;
        let result = waiting
            .blocking_recv()
            .map_err(|_| "the fetcher has stopped".to_owned())?;
        // The reason stays in the log: told to whoever registered the URL, it would say what
        // answers where (a port scan through eid).
        result.map_err(|reason| {
            tracing::warn!(target: "eid::security", event = "client_document_unfetchable", ?document, reason = %reason, "a client's document could not be fetched");
            UNFETCHABLE.to_owned()
        })
    }
}

/// What the client's side is told when a document could not be fetched, whatever the reason.
pub const UNFETCHABLE: &str = "the document could not be fetched";

/// Start-up: says in the log that the environment's proxy variables, if any, are not used for
/// requests to relying parties' sites.
pub fn note_environment_proxy() {
    let named: Vec<&str> = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .filter(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
    .collect();
    if !named.is_empty() {
        tracing::info!(variables = ?named, "requests to relying parties' sites go direct, never through the environment's proxy");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2001:db8::1",
            // Review 2026-12-07 M1: literals that reach IPv4 addresses eid cannot check.
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
            "::7f00:1",
            "::127.0.0.1",
            "::8.8.8.8",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101:1::1",
            "fec0::1",
            "feff::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            // 6to4 of a public address; the prefixes next to NAT64's.
            "2002:808:808::1",
            "64:ff9c::1",
            "64:ff9b:2::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_must_be_https_and_not_name_private_addresses() {
        let strict = OutboundPolicy::default();
        assert!(check_url("https://rp.example/jwks", strict).is_ok());
        assert!(check_url("http://rp.example/jwks", strict).is_err());
        assert!(check_url("https://127.0.0.1/jwks", strict).is_err());
        assert!(check_url("https://[::1]/jwks", strict).is_err());
        assert!(check_url("https://169.254.169.254/latest/meta-data", strict).is_err());
        assert!(check_url("https://[64:ff9b::7f00:1]:8443/jwks", strict).is_err());
        assert!(check_url("https://[::7f00:1]/jwks", strict).is_err());
        assert!(check_url("file:///etc/passwd", strict).is_err());
        let danger = OutboundPolicy {
            danger_allow_private_addresses: true,
        };
        assert!(check_url("http://127.0.0.1:3000/jwks", danger).is_ok());
        assert!(check_url("file:///etc/passwd", danger).is_err());
    }

    #[test]
    fn a_failed_fetch_says_only_that_it_failed() {
        // A port nothing listens on: connection refused, which the client is not told.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let danger = OutboundPolicy {
            danger_allow_private_addresses: true,
        };
        let fetcher = HttpFetcher::start(danger).unwrap();
        let url = format!("http://127.0.0.1:{port}/jwks");
        assert_eq!(
            fetcher.fetch(&url, Document::ClientKeys),
            Err(UNFETCHABLE.to_owned())
        );
        // Outside the policy: said, since it depends on the URL alone.
        let strict = HttpFetcher::start(OutboundPolicy::default()).unwrap();
        assert_eq!(
            strict.fetch("https://[64:ff9b::7f00:1]/jwks", Document::ClientKeys),
            Err("the URL names an address that is not public".to_owned())
        );
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        use std::str::FromStr as _;
        let name = Name::from_str("localhost").expect("a name");
        assert!(PublicOnly.resolve(name).await.is_err());
    }
}
