//! Classifies an address before any lookup: private, loopback, link-local, CGNAT and other reserved
//! ranges are never looked up (and never reported as an "unknown country").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `network_class` values stored in `events`.
pub const PUBLIC: &str = "public";

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes the IPv4 address it carries.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The class of a (canonical) address: `public`, or why it is not looked up.
pub fn classify(ip: IpAddr) -> &'static str {
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

fn classify_v4(ip: Ipv4Addr) -> &'static str {
    const TABLE: &[([u8; 4], u32, &str)] = &[
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link_local"),
        ([100, 64, 0, 0], 10, "cgnat"),
        ([0, 0, 0, 0], 8, "unspecified"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([255, 255, 255, 255], 32, "broadcast"),
        ([240, 0, 0, 0], 4, "reserved"),
        ([192, 0, 0, 0], 24, "reserved"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([192, 88, 99, 0], 24, "reserved"),
    ];
    TABLE
        .iter()
        .find(|(net, p, _)| in_v4(ip, *net, *p))
        .map_or(PUBLIC, |(_, _, c)| c)
}

fn classify_v6(ip: Ipv6Addr) -> &'static str {
    let s = ip.segments();
    if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link_local"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "private" // unique local
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        "nat64"
    } else if s[0] & 0xe000 != 0x2000 {
        "reserved" // outside 2000::/3, the global unicast space
    } else {
        PUBLIC
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
            assert_eq!(classify(ip.parse().unwrap()), want, "{ip}");
        }
    }
}
