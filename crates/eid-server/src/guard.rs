//! What keeps the public listener answering when clients are slow or many: connections counted
//! per address, a deadline on every request (its body included), and the client's address as
//! seen through trusted reverse proxies.
//!
//! Actix times out a request's head itself (`client_request_timeout`), and caps connections per
//! worker (`max_connections`, set below the process's file descriptors). What it does not do is
//! bound a body that never finishes, or stop one address from holding every connection: a
//! client sending 20,000 half bodies would otherwise keep 20,000 descriptors until the process
//! has none left. Here:
//! - each accepted connection takes a slot of its address ([`Guard::on_connect`]); a request on
//!   a connection beyond the address's share is answered `503` at once and the connection
//!   closed, without reading its body (the health check excepted);
//! - every request must be answered within the deadline, reading its body included, or it is
//!   answered `408` and its connection closed.

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use ipnet::IpNet;
use parking_lot::Mutex;

/// The listener's limits.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Connections one address may hold (a trusted proxy's are not counted).
    pub connections_per_address: usize,
    /// How long a request may take to arrive and be answered.
    pub request_deadline: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            connections_per_address: 256,
            request_deadline: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The connection counts of a listener.
#[derive(Debug)]
pub struct Guard {
    settings: GuardSettings,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's slot: released when the connection closes (its extensions are dropped).
struct Slot {
    guard: Arc<Guard>,
    address: Option<IpAddr>,
    /// Beyond the address's share: its requests are refused.
    over: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            let mut counts = self.guard.counts.lock();
            if let Some(n) = counts.get_mut(&address) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&address);
                }
            }
        }
    }
}

/// An address as connections count it: IPv6 by its /56, as the rate limits count it (a
/// home's allocation; by /64, one home held 256 addresses' shares).
fn counted(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[7..].fill(0);
                IpAddr::from(octets)
            }
        },
        v4 => v4,
    }
}

impl Guard {
    pub fn new(settings: GuardSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            counts: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> &GuardSettings {
        &self.settings
    }

    /// Whether a peer is a trusted proxy.
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        self.settings
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&peer))
    }

    /// Called by actix for every accepted connection: takes a slot of its address.
    pub fn on_connect(self: &Arc<Self>, io: &dyn Any, extensions: &mut Extensions) {
        let peer = io
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .and_then(|s| s.peer_addr().ok())
            .map(|a| a.ip());
        let address = peer.filter(|p| !self.is_trusted(*p)).map(counted);
        let over = match address {
            Some(address) => {
                let mut counts = self.counts.lock();
                let n = counts.entry(address).or_insert(0);
                *n += 1;
                *n > self.settings.connections_per_address
            }
            None => false,
        };
        extensions.insert(Arc::new(Slot {
            guard: Arc::clone(self),
            address,
            over,
        }));
    }

    /// Connections counted now (all addresses).
    pub fn open_connections(&self) -> usize {
        self.counts.lock().values().sum()
    }
}

/// A response that ends its connection (and, like every response, is read as its type).
fn closing(response: HttpResponse) -> HttpResponse {
    let mut response = response;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    response
}

/// The middleware: refuses requests on connections beyond their address's share (the health
/// check aside), and answers `408` to a request not answered within the deadline.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let slot = req.conn_data::<Arc<Slot>>().cloned();
    let deadline = slot.as_ref().map_or(Duration::from_secs(10), |s| {
        s.guard.settings.request_deadline
    });
    if slot.as_ref().is_some_and(|s| s.over) && req.path() != "/healthz" {
        tracing::warn!(target: "eid::security", event = "connection_refused", reason = "too_many_connections_from_address", "a connection beyond its address's share was refused");
        let response = closing(
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type("text/plain; charset=utf-8")
                .body("Too many connections from your address; try again shortly.\n"),
        );
        return Ok(req.into_response(response));
    }
    match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(response) => Ok(response?.map_into_boxed_body()),
        Err(_) => {
            tracing::info!(target: "eid::security", event = "request_timed_out", "a request was not received and answered in time");
            // The request went to the service; the error is the way to answer without it.
            Err(TimedOut.into())
        }
    }
}

/// A request not received and answered within the deadline.
#[derive(Debug)]
struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request took too long to arrive")
    }
}

impl actix_web::ResponseError for TimedOut {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::REQUEST_TIMEOUT
    }

    fn error_response(&self) -> HttpResponse {
        closing(
            HttpResponse::RequestTimeout()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type("text/plain; charset=utf-8")
                .body("The request took too long to arrive.\n"),
        )
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the hop before the
/// trusted ones in `X-Forwarded-For` (the headers a client sent itself come first and are not
/// believed). The walk goes from the right, past trusted proxies, and stops at the first hop
/// that is not one: that is the client. A hop is an address, or an address with a port
/// (`203.0.113.7:41234`, `[2001:db8::7]:41234`); a hop that is neither (`unknown`, a name,
/// garbage) stops the walk too, and the client is then the trusted proxy that forwarded it
/// (the nearest address to its right, or the peer), never a hop further left, which the
/// client could have written itself (review 2026-12-07, I4).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: impl Fn(IpAddr) -> bool,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(address) if trusted(address) => nearest = address,
            Some(address) => return Some(address),
            None => return Some(nearest),
        }
    }
    // Every hop is a trusted proxy: the first of them.
    Some(nearest)
}

/// A hop of `X-Forwarded-For`: an address, `a.b.c.d:port` or `[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse() {
        return Some(address);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (address, port) = rest.split_once(']')?;
        return (port.is_empty() || port.strip_prefix(':').is_some_and(is_port))
            .then(|| address.parse().ok())
            .flatten();
    }
    let (address, port) = hop.rsplit_once(':')?;
    match is_port(port) {
        true => address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        false => None,
    }
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let trusted = |a: IpAddr| proxies.iter().any(|n| n.contains(&a));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(
            client_address(Some(ip("203.0.113.9")), &["198.51.100.1"], trusted),
            Some(ip("203.0.113.9"))
        );
        // Behind the proxy: the last hop it did not add itself.
        assert_eq!(
            client_address(
                Some(ip("10.0.0.2")),
                &["198.51.100.1, 203.0.113.7", "10.0.0.3"],
                trusted
            ),
            Some(ip("203.0.113.7"))
        );
        // A proxy that forwarded nothing: the proxy.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &[], trusted),
            Some(ip("10.0.0.2"))
        );
        // Every hop trusted: the first of them.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["10.0.0.9, 10.0.0.3"], trusted),
            Some(ip("10.0.0.9"))
        );
    }

    /// Review 2026-12-07, I4: an unparsable hop was skipped, so a hop the client wrote itself
    /// further left could count as the client.
    #[test]
    fn an_unparsable_hop_stops_the_walk() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let trusted = |a: IpAddr| proxies.iter().any(|n| n.contains(&a));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // The client wrote 198.51.100.1; its own hop did not parse: the proxy that added it is
        // the client, not 198.51.100.1.
        for garbage in [
            "unknown",
            "client.example",
            "203.0.113.7:port",
            "_hidden",
            "",
        ] {
            let header = format!("198.51.100.1, {garbage}, 10.0.0.3");
            assert_eq!(
                client_address(Some(ip("10.0.0.2")), &[&header], trusted),
                Some(ip("10.0.0.3")),
                "{garbage:?}"
            );
        }
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["198.51.100.1, unknown"], trusted),
            Some(ip("10.0.0.2"))
        );
        // Hops with ports are addresses.
        assert_eq!(
            client_address(
                Some(ip("10.0.0.2")),
                &["198.51.100.1, 203.0.113.7:41234, 10.0.0.3:443"],
                trusted
            ),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["[2001:db8::7]:41234"], trusted),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["2001:db8::7"], trusted),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(parse_hop("[2001:db8::7]"), Some(ip("2001:db8::7")));
        assert_eq!(parse_hop("[2001:db8::7]x"), None);
        assert_eq!(parse_hop("2001:db8::7:99999999"), None);
    }

    #[test]
    fn ipv6_connections_count_by_their_56() {
        assert_eq!(
            counted("2001:db8:1:2::1".parse().unwrap()),
            counted("2001:db8:1:2:aaaa::7".parse().unwrap())
        );
        assert_eq!(
            counted("2001:db8:1:2::1".parse().unwrap()),
            counted("2001:db8:1:ff::1".parse().unwrap())
        );
        assert_ne!(
            counted("2001:db8:1:2::1".parse().unwrap()),
            counted("2001:db8:1:100::1".parse().unwrap())
        );
        assert_eq!(
            counted("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
