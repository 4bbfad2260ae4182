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

/// Which proxies in front of the application may say who the client is, in the one
/// [`ClientIpHeader`] they write.
///
/// By default none: the client IP is the peer address of the connection, and every forwarded
/// header is ignored, because any client can send one with any address in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedProxies {
    /// Trust no header; the client is the peer address.
    #[default]
    None,
    /// Exactly this many proxies stand in front of the application (a load balancer is 1).
    /// With a list header, the client is the address that many hops to the left of the peer;
    /// with a single-address header, the header of the proxy that connected.
    Hops(u8),
    /// Proxies whose addresses are in these networks are trusted. With a list header, the
    /// client is the right-most address of `header list, peer` that is not in them; with a
    /// single-address header, the header, if the peer is in them.
    Networks(Vec<IpNetwork>),
}

/// The one header your trusted proxies write the client's address into. Only this header is
/// read, and only from a trusted proxy: a client can send any header with any address, and a
/// proxy that appends to one header usually passes the others through untouched.
///
/// # Examples
///
/// ```
/// use active_users::{ClientIpHeader, Config, TrustedProxies};
///
/// // One load balancer that appends the client to X-Forwarded-For:
/// let config = Config::builder()
///     .trusted_proxies(TrustedProxies::Hops(1))
///     .client_ip_header(ClientIpHeader::XForwardedFor)
///     .build()?;
/// // Cloudflare in front: its CF-Connecting-IP, from its networks only.
/// let cloudflare = Config::builder()
///     .trusted_proxies(TrustedProxies::Networks(vec!["173.245.48.0/20".parse()?]))
///     .client_ip_header(ClientIpHeader::CfConnectingIp)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`: each proxy appends the address it received
    /// the request from (nginx's `$proxy_add_x_forwarded_for`, most load balancers).
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239), appended to in the same way.
    Forwarded,
    /// `X-Real-IP: client`, set (not appended) by the proxy (nginx's `$remote_addr`).
    XRealIp,
    /// `CF-Connecting-IP: client`, set by Cloudflare.
    CfConnectingIp,
    /// `True-Client-IP: client`, set by Akamai and Cloudflare Enterprise.
    TrueClientIp,
    /// Another header holding one address, set by the proxy (`Fastly-Client-IP`,
    /// `X-Client-IP`, ...).
    Single(http::HeaderName),
}

impl ClientIpHeader {
    /// The header's name.
    pub fn name(&self) -> http::HeaderName {
        match self {
            ClientIpHeader::XForwardedFor => http::HeaderName::from_static("x-forwarded-for"),
            ClientIpHeader::Forwarded => http::header::FORWARDED,
            ClientIpHeader::XRealIp => http::HeaderName::from_static("x-real-ip"),
            ClientIpHeader::CfConnectingIp => http::HeaderName::from_static("cf-connecting-ip"),
            ClientIpHeader::TrueClientIp => http::HeaderName::from_static("true-client-ip"),
            ClientIpHeader::Single(name) => name.clone(),
        }
    }

    /// Whether each proxy appends to the header (a list), rather than setting it.
    fn is_list(&self) -> bool {
        matches!(
            self,
            ClientIpHeader::XForwardedFor | ClientIpHeader::Forwarded
        )
    }
}

impl FromStr for ClientIpHeader {
    type Err = http::header::InvalidHeaderName;

    /// A header name, any case: the four known ones become their variants, any other is
    /// [`ClientIpHeader::Single`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = http::HeaderName::from_bytes(s.trim().as_bytes())?;
        Ok(match name.as_str() {
            "x-forwarded-for" => ClientIpHeader::XForwardedFor,
            "forwarded" => ClientIpHeader::Forwarded,
            "x-real-ip" => ClientIpHeader::XRealIp,
            "cf-connecting-ip" => ClientIpHeader::CfConnectingIp,
            "true-client-ip" => ClientIpHeader::TrueClientIp,
            _ => ClientIpHeader::Single(name),
        })
    }
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
    header: Option<ClientIpHeader>,
    anonymization: IpAnonymization,
}

impl ExtractContext {
    /// A context with the given proxy policy. Until [`with_header`](Self::with_header) names
    /// the header the proxies write, no header is read and the client is the peer.
    pub fn new(trusted: TrustedProxies) -> Self {
        ExtractContext {
            trusted,
            header: None,
            anonymization: IpAnonymization::None,
        }
    }

    /// The same context, reading the client from `header` when a trusted proxy sent it.
    #[must_use]
    pub fn with_header(mut self, header: ClientIpHeader) -> Self {
        self.header = Some(header);
        self
    }

    /// The header the trusted proxies write, if one is named.
    pub fn client_ip_header(&self) -> Option<&ClientIpHeader> {
        self.header.as_ref()
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
        let peer = head.peer_addr().map(|addr| addr.ip().to_canonical());
        let Some(header) = &self.header else {
            return peer;
        };
        let is_trusted = |ip: &IpAddr| match &self.trusted {
            TrustedProxies::None => false,
            TrustedProxies::Hops(hops) => *hops > 0,
            TrustedProxies::Networks(nets) => nets.iter().any(|n| n.contains(*ip)),
        };
        let peer = peer?;
        if !is_trusted(&peer) {
            return Some(peer); // a client talking to us directly: its headers say nothing
        }
        if !header.is_list() {
            // Set by the proxy that connected: exactly one value, an address, or no client IP.
            let mut values = head.values_named(&header.name());
            let (Some(value), None) = (values.next(), values.next()) else {
                return None;
            };
            let text = std::str::from_utf8(value).ok()?;
            return parse_forwarded_ip(text.trim()).map(|ip| ip.to_canonical());
        }
        // Appended by each proxy, left to right, then the peer: `None` for an item that is
        // not an address (`unknown`, `_hidden`, empty, garbage).
        let mut chain = list_items(head, header);
        chain.push(Some(peer));
        match &self.trusted {
            TrustedProxies::None => Some(peer),
            TrustedProxies::Hops(hops) => {
                let index = chain.len().checked_sub(1 + usize::from(*hops));
                // Fewer items than proxies: the left-most one is as far as anybody wrote.
                chain.get(index.unwrap_or(0)).copied().flatten()
            }
            TrustedProxies::Networks(_) => {
                // Right to left, past our proxies, to the first item that is not one of them:
                // that is the client, and if it is not an address there is no client IP.
                let mut client = chain.first().copied().flatten();
                for item in chain.iter().rev() {
                    match item {
                        Some(ip) if is_trusted(ip) => continue,
                        other => {
                            client = *other;
                            break;
                        }
                    }
                }
                client
            }
        }
    }
}

/// The items of a list header (every instance, in order), each an address or `None`.
fn list_items(head: &RequestHead<'_>, header: &ClientIpHeader) -> Vec<Option<IpAddr>> {
    let mut out = Vec::new();
    for value in head.values_named(&header.name()) {
        let Ok(text) = std::str::from_utf8(value) else {
            out.push(None);
            continue;
        };
        for element in text.split(',') {
            let item = match header {
                ClientIpHeader::Forwarded => rfc7239_for(element),
                _ => parse_forwarded_ip(element.trim()),
            };
            out.push(item.map(|ip| ip.to_canonical()));
        }
    }
    out
}

/// The `for=` address of one `Forwarded` element (RFC 7239: pairs separated by `;`, values
/// possibly quoted, IPv6 in brackets with an optional port); `None` when it has none or it is
/// not an address (`unknown`, an obfuscated `_name`).
fn rfc7239_for(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
    })?;
    let node = node.trim_matches('"');
    match node.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0.parse().ok(),
        None => parse_forwarded_ip(node),
    }
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

    fn request(headers: &[(&str, &str)], peer: &str) -> http::Request<()> {
        let mut builder = http::Request::get("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut req = builder.body(()).expect("request");
        req.extensions_mut()
            .insert(PeerAddr(peer.parse().expect("peer")));
        req
    }

    fn head_with(xff: &[&str], peer: &str) -> http::Request<()> {
        let headers: Vec<(&str, &str)> = xff.iter().map(|v| ("x-forwarded-for", *v)).collect();
        request(&headers, peer)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn net(s: &str) -> IpNetwork {
        s.parse().expect("net")
    }

    fn cx(trusted: TrustedProxies, header: ClientIpHeader) -> ExtractContext {
        ExtractContext::new(trusted).with_header(header)
    }

    fn client(cx: &ExtractContext, req: &http::Request<()>) -> Option<IpAddr> {
        cx.client_ip(&req.into())
    }

    #[test]
    fn default_ignores_forwarded_headers() {
        let req = head_with(&["6.6.6.6"], "10.0.0.1:5000");
        assert_eq!(
            client(&ExtractContext::default(), &req),
            Some(ip("10.0.0.1"))
        );
        // Trusting proxies without naming their header reads no header either.
        let unnamed = ExtractContext::new(TrustedProxies::Hops(1));
        assert_eq!(client(&unnamed, &req), Some(ip("10.0.0.1")));
    }

    #[test]
    fn hops_take_the_address_that_many_proxies_back() {
        let req = head_with(&["6.6.6.6, 1.2.3.4"], "10.0.0.1:5000");
        let one = cx(TrustedProxies::Hops(1), ClientIpHeader::XForwardedFor);
        assert_eq!(client(&one, &req), Some(ip("1.2.3.4")));
        let five = cx(TrustedProxies::Hops(5), ClientIpHeader::XForwardedFor);
        assert_eq!(client(&five, &req), Some(ip("6.6.6.6")));
    }

    #[test]
    fn networks_take_the_rightmost_untrusted_address() {
        let req = head_with(&["6.6.6.6", "1.2.3.4, 10.0.0.7"], "10.0.0.1:5000");
        let cx = cx(
            TrustedProxies::Networks(vec![net("10.0.0.0/8")]),
            ClientIpHeader::XForwardedFor,
        );
        assert_eq!(client(&cx, &req), Some(ip("1.2.3.4")));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        let req = head_with(&["6.6.6.6"], "8.8.8.8:5000");
        let cx = cx(
            TrustedProxies::Networks(vec![net("10.0.0.0/8")]),
            ClientIpHeader::XForwardedFor,
        );
        assert_eq!(client(&cx, &req), Some(ip("8.8.8.8")));
    }

    /// nginx's default appends to X-Forwarded-For and passes a client's `Forwarded` through:
    /// with X-Forwarded-For named, the forged `Forwarded` is never read.
    #[test]
    fn only_the_named_header_is_read() {
        let req = request(
            &[
                ("forwarded", "for=6.6.6.6"),
                ("x-real-ip", "7.7.7.7"),
                ("cf-connecting-ip", "8.8.4.4"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
            "10.0.0.1:5000",
        );
        let trusted = TrustedProxies::Networks(vec![net("10.0.0.0/8")]);
        let read = |header| client(&cx(trusted.clone(), header), &req);
        assert_eq!(read(ClientIpHeader::XForwardedFor), Some(ip("203.0.113.9")));
        assert_eq!(read(ClientIpHeader::Forwarded), Some(ip("6.6.6.6")));
        assert_eq!(read(ClientIpHeader::XRealIp), Some(ip("7.7.7.7")));
        assert_eq!(read(ClientIpHeader::CfConnectingIp), Some(ip("8.8.4.4")));
        assert_eq!(
            read(ClientIpHeader::TrueClientIp),
            None,
            "absent: no client IP"
        );
    }

    /// An item that is not an address where the client should be gives no client IP: never
    /// the proxy's address, never another item's.
    #[test]
    fn an_unreadable_client_item_gives_no_ip() {
        let trusted = TrustedProxies::Networks(vec![net("10.0.0.0/8")]);
        for forwarded in [
            "for=unknown",
            "for=\"_hidden\"",
            "proto=https",
            "for=\"[fe80::1%eth0]\"",
            "for=",
        ] {
            let req = request(&[("forwarded", forwarded)], "10.0.0.1:5000");
            let cx = cx(trusted.clone(), ClientIpHeader::Forwarded);
            assert_eq!(client(&cx, &req), None, "{forwarded}");
        }
        for xff in ["unknown", "", "1.2.3.4, garbage", "1.2.3.4,,"] {
            let req = head_with(&[xff], "10.0.0.1:5000");
            let cx = cx(trusted.clone(), ClientIpHeader::XForwardedFor);
            assert_eq!(client(&cx, &req), None, "{xff:?}");
        }
        // Garbage to the left of the client (written by the client itself) does not matter.
        let req = head_with(&["garbage, 1.2.3.4"], "10.0.0.1:5000");
        let hops = cx(TrustedProxies::Hops(1), ClientIpHeader::XForwardedFor);
        assert_eq!(client(&hops, &req), Some(ip("1.2.3.4")));
        let req = head_with(&["1.2.3.4, unknown"], "10.0.0.1:5000");
        assert_eq!(client(&hops, &req), None, "the client's item is unreadable");
    }

    #[test]
    fn rfc7239_forwarded_is_read_from_trusted_proxies() {
        let req = request(
            &[
                (
                    "forwarded",
                    "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.7;by=10.0.0.1",
                ),
                ("x-forwarded-for", "9.9.9.9"),
            ],
            "10.0.0.1:5000",
        );
        let cx = cx(
            TrustedProxies::Networks(vec![net("10.0.0.0/8")]),
            ClientIpHeader::Forwarded,
        );
        assert_eq!(client(&cx, &req), Some(ip("2001:db8:cafe::17")));
        assert_eq!(
            client(&ExtractContext::default(), &req),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn single_address_headers_come_from_the_proxy_that_connected() {
        let trusted = TrustedProxies::Networks(vec![net("10.0.0.0/8")]);
        let cf = cx(trusted, ClientIpHeader::CfConnectingIp);
        let from_proxy = request(&[("cf-connecting-ip", "198.51.100.4")], "10.0.0.1:1");
        assert_eq!(client(&cf, &from_proxy), Some(ip("198.51.100.4")));
        let direct = request(&[("cf-connecting-ip", "198.51.100.4")], "8.8.8.8:1");
        assert_eq!(
            client(&cf, &direct),
            Some(ip("8.8.8.8")),
            "not from a proxy"
        );
        let two = request(
            &[
                ("cf-connecting-ip", "6.6.6.6"),
                ("cf-connecting-ip", "198.51.100.4"),
            ],
            "10.0.0.1:1",
        );
        assert_eq!(client(&cf, &two), None, "two values: ambiguous");
        let garbage = request(&[("cf-connecting-ip", "nope")], "10.0.0.1:1");
        assert_eq!(client(&cf, &garbage), None);
        let custom = cx(
            TrustedProxies::Hops(1),
            "Fastly-Client-IP".parse().expect("header name"),
        );
        let fastly = request(&[("fastly-client-ip", "2001:db8::5")], "10.0.0.1:1");
        assert_eq!(client(&custom, &fastly), Some(ip("2001:db8::5")));
        assert_eq!(
            "X-Forwarded-For".parse::<ClientIpHeader>().ok(),
            Some(ClientIpHeader::XForwardedFor)
        );
        assert!("bad header".parse::<ClientIpHeader>().is_err());
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
        let xff = ClientIpHeader::XForwardedFor;
        let cx = ExtractContext::new(TrustedProxies::Networks(nets)).with_header(xff.clone());
        assert_eq!(cx.client_ip(&(&req).into()), Some(ip("203.0.113.9")));
        let cx = ExtractContext::new(TrustedProxies::Hops(1)).with_header(xff);
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
