//! Which IP addresses a server-side fetch may reach.
//!
//! Only globally routable unicast addresses pass. Everything else (loopback,
//! private, link-local with the cloud metadata endpoint, carrier-grade NAT,
//! multicast, broadcast, documentation, benchmarking, reserved ranges, and
//! for IPv6 anything outside 2000::/3) is refused unless an admin allowed the
//! host. IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
//! IPv4-compatible `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64
//! `64:ff9b::/96` and 6to4 `2002::/16`) are judged by the embedded address, so
//! `::ffff:127.0.0.1` is as loopback as `127.0.0.1`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not reachable without an explicit allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressKind {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7 (unique local), fec0::/10.
    Private,
    /// 169.254.169.254 and fd00:ec2::254: instance metadata services.
    CloudMetadata,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 100.64/10 (RFC 6598).
    SharedCgnat,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// Any other special-purpose range: 0/8, 192.0.0/24, 240/4, Teredo,
    /// discard-only, IPv6 outside 2000::/3, ...
    Reserved,
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressKind::Loopback => "a loopback address",
            AddressKind::Unspecified => "the unspecified address",
            AddressKind::Private => "a private address",
            AddressKind::CloudMetadata => "the cloud instance metadata endpoint",
            AddressKind::LinkLocal => "a link-local address",
            AddressKind::SharedCgnat => "a carrier-grade NAT (shared) address",
            AddressKind::Multicast => "a multicast address",
            AddressKind::Broadcast => "the broadcast address",
            AddressKind::Documentation => "a documentation-only address",
            AddressKind::Benchmarking => "a benchmarking address",
            AddressKind::Reserved => "a reserved address",
        })
    }
}

/// `None` when `ip` is a globally routable unicast address, else what it is.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    use AddressKind::*;
    const TABLE: &[([u8; 4], u32, AddressKind)] = &[
        ([0, 0, 0, 0], 8, Reserved),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedCgnat),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 169, 254], 32, CloudMetadata),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Broadcast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, kind)| *kind)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms
/// that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    use AddressKind::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let net = |a: u16, b: u16, c: u16| Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0);
    let table: [(Ipv6Addr, u32, AddressKind); 11] = [
        (
            Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
            128,
            CloudMetadata,
        ),
        (net(0xfc00, 0, 0), 7, Private),
        (net(0xfe80, 0, 0), 10, LinkLocal),
        (net(0xfec0, 0, 0), 10, Private),
        (net(0xff00, 0, 0), 8, Multicast),
        (net(0x2001, 0xdb8, 0), 32, Documentation),
        (net(0x3fff, 0, 0), 20, Documentation),
        (net(0x2001, 0x2, 0), 48, Benchmarking),
        (net(0x2001, 0, 0), 32, Reserved),   // Teredo
        (net(0x64, 0xff9b, 1), 48, Private), // local-use NAT64
        (net(0x100, 0, 0), 64, Reserved),    // discard-only
    ];
    if let Some((_, _, kind)) = table
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(*kind);
    }
    // Only 2000::/3 is allocated as global unicast.
    if !in_v6(ip, net(0x2000, 0, 0), 3) {
        return Some(Reserved);
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<AddressKind> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn special_addresses_are_refused() {
        use AddressKind::*;
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", CloudMetadata),
            ("169.254.1.1", LinkLocal),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("198.18.0.1", Benchmarking),
            ("192.0.0.8", Reserved),
            ("::1", Loopback),
            ("::", Unspecified),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", CloudMetadata),
            ("::127.0.0.1", Loopback),
            ("::ffff:0:127.0.0.1", Loopback),
            ("64:ff9b::127.0.0.1", Loopback),
            ("2002:7f00:1::", Loopback),
            ("2002:a9fe:a9fe::1", CloudMetadata),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fd00:ec2::254", CloudMetadata),
            ("fe80::1", LinkLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001::1", Reserved),
            ("100::1", Reserved),
            ("4000::1", Reserved),
            ("64:ff9b:1::1", Private),
        ];
        for (ip, expected) in cases {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }
}
