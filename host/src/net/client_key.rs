//! What a client is counted as by the per-address limits: an IPv4 address or an
//! IPv6 /64.
//!
//! A single subscriber or server usually controls a whole /64 (SLAAC, privacy
//! addresses, cheap VPS ranges), so per-address IPv6 limits would hand one host
//! 2^64 budgets. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as a dual-stack
//! listener reports IPv4 peers) count as the IPv4 address.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKey {
    V4(u32),
    V6Prefix(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4.to_bits()),
            // The upper 64 bits are the /64 prefix; the cast keeps exactly them.
            IpAddr::V6(v6) => ClientKey::V6Prefix((v6.to_bits() >> 64) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::from(a), ClientKey::from(b));
        assert_ne!(ClientKey::from(a), ClientKey::from(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ClientKey::from(v4), ClientKey::from(mapped));
    }
}
