//! The set of proxy networks trusted to send a PROXY protocol header: parsing from config strings and address matching.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// Trusted proxy networks, IPv4 and IPv6. Empty means nobody is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedNetworks {
    nets: Vec<IpNet>,
}

impl TrustedNetworks {
    /// Parses CIDRs (`10.0.0.0/8`, `2001:db8::/32`) and bare addresses
    /// (`10.1.2.3` = /32, `::1` = /128), surrounding whitespace allowed.
    ///
    /// Every bad entry is reported, one per line, as `[index]: "entry" why`,
    /// so the caller can prefix the config key (`proxy.trusted[2]: ...`).
    ///
    /// A CIDR with host bits set (`10.0.0.1/8`) is refused rather than
    /// silently widened or narrowed: in a list that decides whose claimed
    /// client address we believe, a typo must not quietly trust a /8.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut nets = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_entry(entry.trim()) {
                Ok(net) => nets.push(net),
                Err(why) => problems.push(format!("[{i}]: {entry:?} {why}")),
            }
        }
        if problems.is_empty() {
            Ok(TrustedNetworks { nets })
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Whether `ip` lies in a trusted network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`, what a dual-stack `[::]` listener reports for IPv4
    /// peers) matches as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.nets
            .iter()
            .any(|net| net.contains(&canonical) || net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn len(&self) -> usize {
        self.nets.len()
    }

    /// The networks, normalised (mapped IPv6 ranges stored as IPv4).
    pub fn iter(&self) -> impl Iterator<Item = &IpNet> {
        self.nets.iter()
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, String> {
    let net = if entry.contains('/') {
        let net: IpNet = entry
            .parse()
            .map_err(|_| "is not a valid CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)".to_string())?;
        if net.trunc() != net {
            return Err(format!(
                "has bits set after the prefix; write {} for the network or {} for one address",
                net.trunc(),
                IpNet::from(net.addr()),
            ));
        }
        net
    } else {
        let ip: IpAddr = entry.parse().map_err(|_| {
            "is not an IP address or CIDR (e.g. 10.0.0.0/8 or 192.0.2.7)".to_string()
        })?;
        IpNet::from(ip)
    };
    Ok(normalise(net))
}

/// Stores `::ffff:a.b.c.d/N` (N >= 96) as the IPv4 network it covers, so
/// it matches IPv4 peers however they are presented.
fn normalise(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        // With at least 96 prefix bits the whole network lies in ::ffff:0:0/96.
        && v6.prefix_len() >= 96
        && let Ok(v4net) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(v4net);
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(entries: &[&str]) -> TrustedNetworks {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        TrustedNetworks::parse(&owned).unwrap()
    }

    fn err(entries: &[&str]) -> String {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        TrustedNetworks::parse(&owned).unwrap_err()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_trusts_nobody() {
        let t = TrustedNetworks::parse(&[]).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert!(!t.contains(ip("127.0.0.1")));
        assert!(TrustedNetworks::default().is_empty());
    }

    #[test]
    fn ipv4_cidrs_and_bare_addresses() {
        let t = nets(&["10.0.0.0/8", "192.0.2.7", " 172.16.0.0/12 "]);
        assert_eq!(t.len(), 3);
        assert!(t.contains(ip("10.255.1.2")));
        assert!(t.contains(ip("192.0.2.7")));
        assert!(!t.contains(ip("192.0.2.8")));
        assert!(t.contains(ip("172.31.255.255")));
        assert!(!t.contains(ip("172.32.0.0")));
        assert!(!t.contains(ip("11.0.0.1")));
    }

    #[test]
    fn ipv6_cidrs_and_bare_addresses() {
        let t = nets(&["2001:db8::/32", "::1"]);
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(!t.contains(ip("2001:db9::1")));
        assert!(t.contains(ip("::1")));
        assert!(!t.contains(ip("::2")));
        // An IPv6 network never matches an IPv4 address or vice versa.
        assert!(!t.contains(ip("127.0.0.1")));
        assert!(!nets(&["0.0.0.0/0"]).contains(ip("2001:db8::1")));
    }

    #[test]
    fn mapped_ipv6_matches_ipv4_networks() {
        let t = nets(&["10.0.0.0/8"]);
        assert!(t.contains(ip("::ffff:10.0.0.1")));
        assert!(!t.contains(ip("::ffff:11.0.0.1")));
        // IPv4-compatible (deprecated ::a.b.c.d) addresses are not mapped ones.
        assert!(!t.contains(ip("::10.0.0.1")));
    }

    #[test]
    fn mapped_ipv6_entries_match_both_forms() {
        let t = nets(&["::ffff:10.0.0.0/104", "::ffff:192.0.2.7"]);
        assert_eq!(
            t.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            ["10.0.0.0/8", "192.0.2.7/32"]
        );
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(t.contains(ip("192.0.2.7")));
        // Wider than the mapped range: stays IPv6 and still matches mapped peers.
        let wide = nets(&["::/0"]);
        assert!(wide.contains(ip("::ffff:10.0.0.1")));
        assert!(!wide.contains(ip("10.0.0.1")));
    }

    #[test]
    fn errors_name_every_bad_entry() {
        let e = err(&["10.0.0.0/8", "10.0.0.300", "fd00::/129", "", "localhost"]);
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(
            lines[0].starts_with("[1]: \"10.0.0.300\" is not an IP address"),
            "{e}"
        );
        assert!(
            lines[1].starts_with("[2]: \"fd00::/129\" is not a valid CIDR"),
            "{e}"
        );
        assert!(lines[2].starts_with("[3]: \"\""), "{e}");
        assert!(lines[3].starts_with("[4]: \"localhost\""), "{e}");
    }

    #[test]
    fn host_bits_are_refused_with_a_suggestion() {
        let e = err(&["10.0.0.1/8"]);
        assert!(e.contains("10.0.0.0/8") && e.contains("10.0.0.1/32"), "{e}");
        let e = err(&["2001:db8::1/32"]);
        assert!(
            e.contains("2001:db8::/32") && e.contains("2001:db8::1/128"),
            "{e}"
        );
    }

    #[test]
    fn rejects_malformed_forms() {
        for bad in [
            "10.0.0.0/",
            "/8",
            "10.0.0.0/8/8",
            "10.0.0.0 /8",
            "01.2.3.4",
            "1.2.3",
            "[::1]",
            "::1%lo",
            "10.0.0.0/-1",
            "10.0.0.0/33",
        ] {
            assert!(
                TrustedNetworks::parse(&[bad.to_string()]).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn prefix_zero_and_full_length() {
        let t = nets(&["0.0.0.0/0"]);
        assert!(t.contains(ip("203.0.113.9")));
        assert!(t.contains(ip("::ffff:203.0.113.9")));
        let t = nets(&["203.0.113.9/32", "2001:db8::9/128"]);
        assert!(t.contains(ip("203.0.113.9")));
        assert!(!t.contains(ip("203.0.113.8")));
        assert!(t.contains(ip("2001:db8::9")));
    }
}
