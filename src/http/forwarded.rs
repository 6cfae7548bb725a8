//! The client's address behind trusted proxies (`PORTCULLIS_TRUSTED_PROXIES`).
//!
//! Behind a load balancer every connection comes from the balancer, so the
//! per-address sign-in limits would lock everybody out at once and the
//! audit log would name the balancer. When the TCP peer is one of the
//! trusted proxies (CIDRs), the forwarding header it added is read from the
//! right: each hop that is itself a trusted proxy is skipped, and the first
//! one that is not is the client. A peer that is not trusted is the client
//! whatever its headers say, so a spoofed header changes nothing; and a hop
//! that cannot be read stops the walk at the last trusted one.
//!
//! One header is read, the one the proxies are configured to write
//! (`PORTCULLIS_FORWARDED_HEADER`: `x-forwarded-for`, the default, or the
//! RFC 7239 `forwarded`): reading both would let a client put a forged one
//! beside the one the proxy maintains. The result replaces the peer address
//! in `ConnectInfo` before any handler runs, so audit records, rate limits
//! and sessions all see the same client.
//!
//! Hand-written rather than a crate: the rule is a dozen lines, and its
//! security depends on exactly these choices (right-most untrusted hop, one
//! configured header, nothing read from untrusted peers).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Which forwarding header the trusted proxies write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl FromStr for ForwardedHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            _ => Err("use x-forwarded-for or forwarded".to_owned()),
        }
    }
}

/// The trusted proxies and the header they write.
#[derive(Clone, Debug)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl Default for TrustedProxies {
    fn default() -> Self {
        TrustedProxies {
            nets: Vec::new(),
            header: ForwardedHeader::XForwardedFor,
        }
    }
}

impl TrustedProxies {
    /// Parses a comma-separated list of CIDRs or single addresses; the
    /// error names the entry.
    pub fn parse(list: &str, header: ForwardedHeader) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = IpNet::from_str(entry)
                .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                .map_err(|_| format!("{entry:?} is not an address or CIDR (10.0.0.0/8, ::1)"))?;
            nets.push(net);
        }
        Ok(TrustedProxies { nets, header })
    }

    /// Whether any proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, or, when the peer is a trusted
    /// proxy, the right-most hop of its forwarding header that is not.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if self.nets.is_empty() || !self.trusts(peer.ip()) {
            return peer;
        }
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        // Every line of the header, in order, split into hops.
        let mut hops: Vec<&str> = Vec::new();
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            hops.extend(text.split(',').map(str::trim));
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            let parsed = match self.header {
                ForwardedHeader::XForwardedFor => parse_node(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop).and_then(parse_node),
            };
            let Some(addr) = parsed else {
                return client;
            };
            if !self.trusts(addr.ip()) {
                return addr;
            }
            client = addr;
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses compared as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` parameter of one RFC 7239 element (`for=…;proto=…`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| v.trim().trim_matches('"'))
    })
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<SocketAddr> {
    let node = node.trim();
    if let Ok(addr) = SocketAddr::from_str(node) {
        return Some(SocketAddr::new(canonical(addr.ip()), addr.port()));
    }
    let bare = node
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(node);
    IpAddr::from_str(bare)
        .ok()
        .map(|ip| SocketAddr::new(canonical(ip), 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_static(v));
        }
        h
    }

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn only_trusted_peers_are_believed_and_the_rightmost_untrusted_hop_wins() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.5", ForwardedHeader::XForwardedFor)
            .unwrap_or_else(|e| panic!("{e}"));
        let xff = |v: &'static str| headers("x-forwarded-for", &[v]);
        // An untrusted peer: its header is ignored (spoofing changes nothing).
        assert_eq!(
            t.client(peer("203.0.113.9:5000"), &xff("1.1.1.1")),
            peer("203.0.113.9:5000")
        );
        // A trusted balancer: the client it saw.
        assert_eq!(
            t.client(peer("10.1.2.3:5000"), &xff("198.51.100.7")).ip(),
            peer("198.51.100.7:0").ip()
        );
        // A client that sends its own X-Forwarded-For gets it appended to:
        // the right-most untrusted hop is the one the balancer saw.
        assert_eq!(
            t.client(peer("10.1.2.3:5000"), &xff("6.6.6.6, 198.51.100.7"))
                .ip(),
            peer("198.51.100.7:0").ip()
        );
        // Two trusted hops are skipped.
        assert_eq!(
            t.client(
                peer("10.1.2.3:5000"),
                &xff("6.6.6.6, 198.51.100.7, 192.168.1.5")
            )
            .ip(),
            peer("198.51.100.7:0").ip()
        );
        // Several header lines read as one list.
        assert_eq!(
            t.client(
                peer("10.1.2.3:5000"),
                &headers("x-forwarded-for", &["6.6.6.6", "198.51.100.7"])
            )
            .ip(),
            peer("198.51.100.7:0").ip()
        );
        // A hop that cannot be read stops the walk at the last trusted one.
        assert_eq!(
            t.client(peer("10.1.2.3:5000"), &xff("198.51.100.7, garbage")),
            peer("10.1.2.3:5000")
        );
        // No header: the peer.
        assert_eq!(
            t.client(peer("10.1.2.3:5000"), &HeaderMap::new()),
            peer("10.1.2.3:5000")
        );
        // The other header is not read when X-Forwarded-For is configured.
        assert_eq!(
            t.client(
                peer("10.1.2.3:5000"),
                &headers("forwarded", &["for=198.51.100.7"])
            ),
            peer("10.1.2.3:5000")
        );
    }

    #[test]
    fn rfc_7239_forwarded() {
        let t = TrustedProxies::parse("::1, 127.0.0.1", ForwardedHeader::Forwarded)
            .unwrap_or_else(|e| panic!("{e}"));
        let h = headers(
            "forwarded",
            &["for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https;by=127.0.0.1"],
        );
        assert_eq!(
            t.client(peer("[::1]:9000"), &h),
            peer("[2001:db8:cafe::17]:4711")
        );
        // IPv4-mapped peers match IPv4 entries.
        assert_eq!(
            t.client(
                peer("[::ffff:127.0.0.1]:9000"),
                &headers("forwarded", &["for=198.51.100.7;proto=http"])
            )
            .ip(),
            peer("198.51.100.7:0").ip()
        );
        assert!(matches!(
            TrustedProxies::parse("10.0.0.0/8, nonsense", ForwardedHeader::Forwarded),
            Err(m) if m.contains("nonsense")
        ));
    }
}
