//! The outbound-HTTP capability: which hosts an operator lets a plugin reach.

use std::fmt;

/// One `http_allow` entry: `host` (any port) or `host:port`. Host names match
/// exactly (case-insensitive); there are no wildcards, so a grant names every
/// host a plugin may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    port: Option<u16>,
}

impl HostPattern {
    pub fn parse(entry: &str) -> Result<HostPattern, String> {
        let entry = entry.trim();
        if entry.contains("://") || entry.contains('/') {
            return Err(format!("`{entry}`: give a host or host:port, not a URL"));
        }
        // `[::1]:8080`, `[::1]`, `::1`, `host:port`, `host`.
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{entry}`: unclosed `[`"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(format!("`{entry}`: unexpected text after `]`")),
            }
        } else if entry.matches(':').count() == 1 {
            let (host, port) = entry.split_once(':').unwrap_or((entry, ""));
            (host, Some(port))
        } else {
            (entry, None)
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`{entry}`: `{p}` is not a port"))?,
            ),
            None => None,
        };
        let host = host.to_ascii_lowercase();
        let valid = host.parse::<std::net::IpAddr>().is_ok()
            || (!host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }));
        if !valid {
            return Err(format!("`{entry}`: not a host name or IP address"));
        }
        Ok(HostPattern { host, port })
    }

    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|p| p == port)
    }

    /// Whether the entry is an IP address (which grants that address itself,
    /// private or not) rather than a name.
    pub fn is_ip(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// A plugin's whole outbound-HTTP grant; empty denies everything.
///
/// A name in it is reached only at public addresses (the host checks what it
/// resolves to, see `outbound_http`); an IP address in it is reached as
/// written; `allow_private_networks` lets names resolve to private, loopback and
/// link-local addresses too.
#[derive(Debug, Clone, Default)]
pub struct HttpGrant {
    allowed: Vec<HostPattern>,
    allow_private_networks: bool,
}

impl HttpGrant {
    /// Entries are checked by the configuration's validation; one that does not
    /// parse here is left out (denied), never widened.
    pub fn new(entries: &[String], allow_private_networks: bool) -> HttpGrant {
        HttpGrant {
            allowed: entries
                .iter()
                .filter_map(|e| HostPattern::parse(e).ok())
                .collect(),
            allow_private_networks,
        }
    }

    pub fn allows_private_networks(&self) -> bool {
        self.allow_private_networks
    }

    /// Whether an IP-address entry of the grant covers `ip:port`: the operator
    /// named that address, so it is reached even when it is not public.
    pub fn names_ip(&self, ip: &str, port: u16) -> bool {
        self.allowed.iter().any(|p| p.is_ip() && p.allows(ip, port))
    }

    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|p| p.allows(host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = HostPattern::parse("Backends.Example.com").unwrap();
        assert!(p.allows("backends.example.com", 443));
        assert!(p.allows("BACKENDS.example.com", 80));
        assert!(!p.allows("evil.example.com", 443));
        assert!(!p.allows("backends.example.com.evil.net", 443));
        let p = HostPattern::parse("127.0.0.1:8080").unwrap();
        assert!(p.allows("127.0.0.1", 8080));
        assert!(!p.allows("127.0.0.1", 8081));
        let p = HostPattern::parse("[::1]:8080").unwrap();
        assert!(p.allows("[::1]", 8080));
        assert!(p.allows("::1", 8080));
        assert_eq!(p.to_string(), "[::1]:8080");
        assert!(HostPattern::parse("::1").unwrap().allows("::1", 1));
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "http://x.example",
            "x.example/path",
            "x.example:0",
            "x.example:http",
            "",
            "bad host",
            "*.example.com",
            "[::1",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_grant_denies() {
        let g = HttpGrant::new(&[], false);
        assert!(!g.allows("127.0.0.1", 80));
        let g = HttpGrant::new(&["127.0.0.1".to_owned(), "localhost".to_owned()], false);
        assert!(g.allows("127.0.0.1", 80));
        assert!(g.names_ip("127.0.0.1", 80));
        assert!(g.allows("localhost", 80) && !g.names_ip("localhost", 80));
        assert!(!g.allows_private_networks());
    }
}
