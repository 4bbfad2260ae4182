//! Client IP resolution for `#[from_client_ip]`: the peer address unless proxies are trusted.

use crate::request::RequestHead;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The peer address of a connection, for servers that do not insert a `SocketAddr` themselves.
///
/// `#[from_client_ip]` looks in the request extensions for, in order: this type, a plain
/// [`SocketAddr`], and (with the `axum` feature) axum's `ConnectInfo<SocketAddr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Which proxies in front of the application may say who the client is.
///
/// By default none: the client IP is the peer address of the connection, and `X-Forwarded-For`
/// is ignored, because any client can send that header with any address in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedProxies {
    /// Trust no header; the client is the peer address.
    #[default]
    None,
    /// Exactly this many proxies stand in front of the application (a load balancer is 1).
    /// The client is the address that many hops to the left of the peer in `X-Forwarded-For`.
    Hops(u8),
    /// Proxies whose addresses are in these networks are trusted. The client is the right-most
    /// address in `peer, X-Forwarded-For` (read right to left) that is not in them.
    Networks(Vec<IpNetwork>),
}

/// An IP network such as `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid IP network {input:?}: expected an address with an optional /prefix, like 10.0.0.0/8"
)]
pub struct IpNetworkError {
    input: String,
}

impl IpNetwork {
    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address matches IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = IpNetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IpNetworkError {
            input: s.to_owned(),
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(err)?,
            None => max,
        };
        Ok(IpNetwork { addr, prefix })
    }
}

/// How client IPs are stored: as they are, or truncated to a network prefix so that the
/// stored address no longer names one machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpAnonymization {
    /// Store the address as it is.
    #[default]
    None,
    /// Keep only the first `v4` bits of IPv4 and `v6` bits of IPv6 addresses (the rest are
    /// zero). [`IpAnonymization::TRUNCATE`] is /24 and /48, as common analytics tools do.
    Truncate {
        /// Prefix length kept for IPv4 (0 to 32).
        v4: u8,
        /// Prefix length kept for IPv6 (0 to 128).
        v6: u8,
    },
}

impl IpAnonymization {
    /// /24 for IPv4, /48 for IPv6.
    pub const TRUNCATE: IpAnonymization = IpAnonymization::Truncate { v4: 24, v6: 48 };

    /// Applies the rule to one address.
    pub fn apply(self, ip: IpAddr) -> IpAddr {
        match (self, ip) {
            (IpAnonymization::None, ip) => ip,
            (IpAnonymization::Truncate { v4, .. }, IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(v4.min(32)))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            (IpAnonymization::Truncate { v6, .. }, IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(v6.min(128)))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }
}

/// What extraction needs beyond the request: the trusted-proxy policy and the IP
/// anonymization rule.
///
/// A [`Tracker`](crate::Tracker) builds one from its config; `ExtractContext::default()` trusts
/// no proxy and stores addresses as they are.
#[derive(Debug, Clone, Default)]
pub struct ExtractContext {
    trusted: TrustedProxies,
    anonymization: IpAnonymization,
}

impl ExtractContext {
    /// A context with the given proxy policy.
    pub fn new(trusted: TrustedProxies) -> Self {
        ExtractContext {
            trusted,
            anonymization: IpAnonymization::None,
        }
    }

    /// The same context, anonymizing client IPs with `rule`.
    #[must_use]
    pub fn with_anonymization(mut self, rule: IpAnonymization) -> Self {
        self.anonymization = rule;
        self
    }

    /// The proxy policy.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The client IP of a request under this context's proxy policy, anonymized by its rule.
    pub fn client_ip(&self, head: &RequestHead<'_>) -> Option<IpAddr> {
        self.resolve(head).map(|ip| self.anonymization.apply(ip))
    }

    fn resolve(&self, head: &RequestHead<'_>) -> Option<IpAddr> {
        // A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`: every address is
        // compared, stored and anonymized in its canonical form.
        let peer = peer_ip(head).map(|ip| ip.to_canonical());
        match &self.trusted {
            TrustedProxies::None => peer,
            TrustedProxies::Hops(hops) => {
                let mut chain = canonical(forwarded_for(head));
                chain.push(peer?);
                let index = chain.len().saturating_sub(1 + usize::from(*hops));
                chain.get(index).copied()
            }
            TrustedProxies::Networks(nets) => {
                let mut chain = canonical(forwarded_for(head));
                chain.push(peer?);
                let trusted = |ip: &IpAddr| nets.iter().any(|n| n.contains(*ip));
                chain
                    .iter()
                    .rev()
                    .find(|ip| !trusted(ip))
                    .or(chain.first())
                    .copied()
            }
        }
    }
}

/// The addresses in their canonical form (IPv4-mapped IPv6 addresses as IPv4).
fn canonical(mut chain: Vec<IpAddr>) -> Vec<IpAddr> {
    for ip in &mut chain {
        *ip = ip.to_canonical();
    }
    chain
}

/// The peer address the server put into the extensions.
fn peer_ip(head: &RequestHead<'_>) -> Option<IpAddr> {
    let ext = head.extensions();
    if let Some(PeerAddr(addr)) = ext.get::<PeerAddr>() {
        return Some(addr.ip());
    }
    if let Some(addr) = ext.get::<SocketAddr>() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(info) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    None
}

/// The addresses the proxies reported, left to right: the `for=` parameters of the RFC 7239
/// `Forwarded` headers if there are any, else every `X-Forwarded-For` address. A list with an
/// entry that is not an IP address (`unknown`, an obfuscated name, garbage) is dropped whole:
/// it was not written by a proxy we trust, and the peer address is used instead.
fn forwarded_for(head: &RequestHead<'_>) -> Vec<IpAddr> {
    let forwarded = head.headers().get_all(http::header::FORWARDED);
    if forwarded.iter().next().is_some() {
        return rfc7239_for(forwarded);
    }
    let mut out = Vec::new();
    for value in head.headers().get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return Vec::new();
        };
        for item in text.split(',') {
            match parse_forwarded_ip(item.trim()) {
                Some(ip) => out.push(ip),
                None => return Vec::new(),
            }
        }
    }
    out
}

/// The `for=` addresses of `Forwarded` headers (RFC 7239): elements separated by `,`, pairs by
/// `;`, values possibly quoted, IPv6 in brackets with an optional port.
fn rfc7239_for(values: http::header::GetAll<'_, http::HeaderValue>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for value in values {
        let Ok(text) = value.to_str() else {
            return Vec::new();
        };
        for element in text.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            });
            let Some(node) = node else {
                continue; // an element without for= says nothing about the client
            };
            let node = node.trim_matches('"');
            let ip = node
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .map_or_else(|| parse_forwarded_ip(node), |(v6, _)| v6.parse().ok());
            match ip {
                Some(ip) => out.push(ip),
                None => return Vec::new(),
            }
        }
    }
    out
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_forwarded_ip(item: &str) -> Option<IpAddr> {
    if let Ok(ip) = item.parse() {
        return Some(ip);
    }
    item.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_with(xff: &[&str], peer: &str) -> http::Request<()> {
        let mut builder = http::Request::get("/");
        for v in xff {
            builder = builder.header("x-forwarded-for", *v);
        }
        let mut req = builder.body(()).expect("request");
        req.extensions_mut()
            .insert(PeerAddr(peer.parse().expect("peer")));
        req
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn default_ignores_forwarded_headers() {
        let req = head_with(&["6.6.6.6"], "10.0.0.1:5000");
        let cx = ExtractContext::default();
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("10.0.0.1")));
    }

    #[test]
    fn hops_take_the_address_that_many_proxies_back() {
        let req = head_with(&["6.6.6.6, 1.2.3.4"], "10.0.0.1:5000");
        let cx = ExtractContext::new(TrustedProxies::Hops(1));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("1.2.3.4")));
        let cx = ExtractContext::new(TrustedProxies::Hops(5));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("6.6.6.6")));
    }

    #[test]
    fn networks_take_the_rightmost_untrusted_address() {
        let req = head_with(&["6.6.6.6", "1.2.3.4, 10.0.0.7"], "10.0.0.1:5000");
        let nets = vec!["10.0.0.0/8".parse().expect("net")];
        let cx = ExtractContext::new(TrustedProxies::Networks(nets));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("1.2.3.4")));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        let req = head_with(&["6.6.6.6"], "8.8.8.8:5000");
        let nets = vec!["10.0.0.0/8".parse().expect("net")];
        let cx = ExtractContext::new(TrustedProxies::Networks(nets));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("8.8.8.8")));
    }

    #[test]
    fn rfc7239_forwarded_is_read_from_trusted_proxies() {
        let mut req = http::Request::get("/")
            .header(
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.7;by=10.0.0.1",
            )
            .header("x-forwarded-for", "9.9.9.9")
            .body(())
            .expect("request");
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.1:5000".parse().expect("peer")));
        let nets = vec!["10.0.0.0/8".parse().expect("net")];
        let cx = ExtractContext::new(TrustedProxies::Networks(nets));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("2001:db8:cafe::17")));
        // Untrusted: the peer, whatever the headers say.
        assert_eq!(
            ExtractContext::default().client_ip(&(&req).into()),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn an_unknown_forwarded_node_falls_back_to_the_peer() {
        let mut req = http::Request::get("/")
            .header("forwarded", "for=unknown")
            .body(())
            .expect("request");
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.1:5000".parse().expect("peer")));
        let cx = ExtractContext::new(TrustedProxies::Hops(1));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("10.0.0.1")));
    }

    #[test]
    fn anonymization_truncates_addresses() {
        let rule = IpAnonymization::TRUNCATE;
        assert_eq!(rule.apply(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(rule.apply(ip("2001:db8:abcd:12::1")), ip("2001:db8:abcd::"));
        assert_eq!(IpAnonymization::None.apply(ip("1.2.3.4")), ip("1.2.3.4"));
        let all = IpAnonymization::Truncate { v4: 0, v6: 0 };
        assert_eq!(all.apply(ip("1.2.3.4")), ip("0.0.0.0"));
        let req = head_with(&[], "198.51.100.23:1");
        let cx = ExtractContext::default().with_anonymization(rule);
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("198.51.100.0")));
    }

    #[test]
    fn ipv4_mapped_addresses_are_stored_and_matched_as_ipv4() {
        // A dual-stack listener ([::]:port) reports an IPv4 client as ::ffff:a.b.c.d.
        let req = head_with(&[], "[::ffff:127.0.0.1]:4000");
        assert_eq!(
            ExtractContext::default().client_ip(&(&req).into()),
            Some(ip("127.0.0.1"))
        );
        let cx = ExtractContext::default().with_anonymization(IpAnonymization::TRUNCATE);
        assert_eq!(
            cx.client_ip(&(&req).into()),
            Some(ip("127.0.0.0")),
            "anonymized as IPv4 (/24), not as IPv6 (/48)"
        );
        // A mapped proxy address is trusted by an IPv4 network, and a mapped forwarded
        // client is stored as IPv4.
        let req = head_with(&["::ffff:203.0.113.9"], "[::ffff:10.0.0.1]:4000");
        let nets = vec!["10.0.0.0/8".parse().expect("net")];
        let cx = ExtractContext::new(TrustedProxies::Networks(nets));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("203.0.113.9")));
        let cx = ExtractContext::new(TrustedProxies::Hops(1));
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("203.0.113.9")));
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNetwork = "2001:db8::/32".parse().expect("net");
        assert!(net.contains(ip("2001:db8::1")));
        assert!(!net.contains(ip("2001:db9::1")));
        let all: IpNetwork = "0.0.0.0/0".parse().expect("net");
        assert!(all.contains(ip("1.2.3.4")));
        assert!(all.contains(ip("::ffff:1.2.3.4")));
        assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
        assert!("nonsense".parse::<IpNetwork>().is_err());
    }
}
