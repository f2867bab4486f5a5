//! Classifies an address before any lookup: private, loopback, link-local, CGNAT and other reserved
//! ranges are never looked up (and never reported as an "unknown country").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::NetClass;

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes the IPv4 address it carries.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The class of a (canonical) address: `public`, or why it is not looked up.
pub fn classify(ip: IpAddr) -> NetClass {
    match canonical(ip) {
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

fn classify_v4(ip: Ipv4Addr) -> NetClass {
    const TABLE: &[([u8; 4], u32, NetClass)] = &[
        ([10, 0, 0, 0], 8, NetClass::Private),
        ([172, 16, 0, 0], 12, NetClass::Private),
        ([192, 168, 0, 0], 16, NetClass::Private),
        ([127, 0, 0, 0], 8, NetClass::Loopback),
        ([169, 254, 0, 0], 16, NetClass::LinkLocal),
        ([100, 64, 0, 0], 10, NetClass::Cgnat),
        ([0, 0, 0, 0], 8, NetClass::Unspecified),
        ([224, 0, 0, 0], 4, NetClass::Multicast),
        ([255, 255, 255, 255], 32, NetClass::Broadcast),
        ([240, 0, 0, 0], 4, NetClass::Reserved),
        ([192, 0, 0, 0], 24, NetClass::Reserved),
        ([192, 0, 2, 0], 24, NetClass::Documentation),
        ([198, 51, 100, 0], 24, NetClass::Documentation),
        ([203, 0, 113, 0], 24, NetClass::Documentation),
        ([198, 18, 0, 0], 15, NetClass::Benchmarking),
        ([192, 88, 99, 0], 24, NetClass::Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, p, _)| in_v4(ip, *net, *p))
        .map_or(NetClass::Public, |(_, _, c)| *c)
}

fn classify_v6(ip: Ipv6Addr) -> NetClass {
    let s = ip.segments();
    if ip.is_loopback() {
        NetClass::Loopback
    } else if ip.is_unspecified() {
        NetClass::Unspecified
    } else if s[0] & 0xffc0 == 0xfe80 {
        NetClass::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 {
        NetClass::Private // unique local
    } else if s[0] & 0xff00 == 0xff00 {
        NetClass::Multicast
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        NetClass::Documentation
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        NetClass::Nat64
    } else if s[0] & 0xe000 != 0x2000 {
        NetClass::Reserved // outside 2000::/3, the global unicast space
    } else {
        NetClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        for (ip, want) in [
            ("10.1.2.3", "private"),
            ("172.31.0.1", "private"),
            ("172.32.0.1", "public"),
            ("192.168.1.1", "private"),
            ("127.0.0.1", "loopback"),
            ("169.254.1.1", "link_local"),
            ("100.64.0.1", "cgnat"),
            ("100.128.0.1", "public"),
            ("81.2.69.142", "public"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:81.2.69.142", "public"),
            ("::1", "loopback"),
            ("fe80::1", "link_local"),
            ("fd00::1", "private"),
            ("2001:db8::1", "documentation"),
            ("2a00:1450::1", "public"),
            ("224.0.0.1", "multicast"),
        ] {
            assert_eq!(classify(ip.parse().unwrap()).as_str(), want, "{ip}");
        }
    }
}
