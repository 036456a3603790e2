//! What the workers count, how their counts merge, and the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// Why one connection failed. The labels form a bounded set: `connect`,
/// `refused`, `timeout`, `io`, `protocol`, and `disconnect:<text>` with at most
/// [`MAX_DISCONNECT_KINDS`] distinct texts (the rest are counted as `disconnect:(other)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The TCP connect failed (other than refused) or exceeded --connect-timeout.
    Connect,
    /// The TCP connect was refused.
    Refused,
    /// The exchange exceeded --request-timeout.
    Timeout,
    /// A read or write failed after the connect, or the server closed early.
    Io,
    /// The server sent something unexpected or malformed.
    Protocol,
    /// The server ended the login with this text (its first 40 characters).
    Disconnect(String),
}

impl Kind {
    pub fn label(&self) -> String {
        match self {
            Kind::Connect => "connect".into(),
            Kind::Refused => "refused".into(),
            Kind::Timeout => "timeout".into(),
            Kind::Io => "io".into(),
            Kind::Protocol => "protocol".into(),
            Kind::Disconnect(text) => format!("disconnect:{text}"),
        }
    }

    /// `disconnect:` plus the first 40 characters of the reason, control
    /// characters as spaces.
    pub fn disconnect(text: &str) -> Kind {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(40)
            .collect();
        Kind::Disconnect(clean.trim().to_owned())
    }
}

/// A failed connection: the kind (counted) and a detail (the first one of each
/// kind is shown in the report).
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: Kind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    pub fn protocol(detail: impl Into<String>) -> Failure {
        Failure::new(Kind::Protocol, detail)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::new(Kind::Io, e.to_string())
    }
}

/// Most distinct `disconnect:` labels kept (per worker and merged), the
/// overflow label included.
pub const MAX_DISCONNECT_KINDS: usize = 32;
const OTHER_DISCONNECT: &str = "disconnect:(other)";

#[derive(Debug, Default, Clone)]
pub struct Errors {
    pub counts: BTreeMap<String, u64>,
    pub examples: BTreeMap<String, String>,
}

impl Errors {
    pub fn record(&mut self, failure: &Failure) {
        self.add(failure.kind.label(), 1, &failure.detail);
    }

    fn add(&mut self, label: String, n: u64, example: &str) {
        // Only disconnect texts are open-ended; the fixed kinds are few.
        let label = if label.starts_with("disconnect:")
            && !self.counts.contains_key(&label)
            && self
                .counts
                .keys()
                .filter(|k| k.starts_with("disconnect:"))
                .count()
                >= MAX_DISCONNECT_KINDS - 1
        {
            OTHER_DISCONNECT.to_owned()
        } else {
            label
        };
        *self.counts.entry(label.clone()).or_default() += n;
        self.examples
            .entry(label)
            .or_insert_with(|| example.chars().take(200).collect());
    }

    pub fn merge(&mut self, other: Errors) {
        for (label, n) in other.counts {
            let example = other.examples.get(&label).map_or("", String::as_str);
            self.add(label, n, example);
        }
    }

    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// One worker's counts; merged into one at the end.
#[derive(Debug, Default)]
pub struct Tally {
    pub attempted: u64,
    pub succeeded: u64,
    /// In flight when the run was stopped (duration or Ctrl-C): not counted.
    pub cancelled: u64,
    /// Connect to pong / Transfer of each success, in microseconds.
    pub latencies_us: Vec<u32>,
    pub errors: Errors,
    /// cookie-reconnect: the first logins that collect the cookies.
    pub setup_attempted: u64,
    pub setup_failed: u64,
    pub setup_errors: Errors,
    /// cookie-reconnect: reconnects the server still authenticated in full
    /// (it asked for encryption: the cookie was not accepted).
    pub full_auth_reconnects: u64,
}

impl Tally {
    pub fn success(&mut self, latency: Duration) {
        self.attempted += 1;
        self.succeeded += 1;
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn failure(&mut self, failure: &Failure) {
        self.attempted += 1;
        self.errors.record(failure);
    }

    pub fn merge(&mut self, other: Tally) {
        self.attempted += other.attempted;
        self.succeeded += other.succeeded;
        self.cancelled += other.cancelled;
        self.latencies_us.extend(other.latencies_us);
        self.errors.merge(other.errors);
        self.setup_attempted += other.setup_attempted;
        self.setup_failed += other.setup_failed;
        self.setup_errors.merge(other.setup_errors);
        self.full_auth_reconnects += other.full_auth_reconnects;
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at least
/// `p` percent of the values at or below it. `None` when there are none.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Latency {
    pub p50: Option<u32>,
    pub p90: Option<u32>,
    pub p99: Option<u32>,
    pub max: Option<u32>,
}

impl Latency {
    /// Sorts `values` in place.
    pub fn of(values: &mut [u32]) -> Latency {
        values.sort_unstable();
        Latency {
            p50: percentile(values, 50.0),
            p90: percentile(values, 90.0),
            p99: percentile(values, 99.0),
            max: values.last().copied(),
        }
    }
}

/// cookie-reconnect only.
#[derive(Debug, Serialize)]
pub struct CookieSetup {
    /// First logins (not counted as connections) and how many failed.
    pub setup_logins_attempted: u64,
    pub setup_logins_failed: u64,
    /// Why first logins failed, by kind.
    pub setup_errors: BTreeMap<String, u64>,
    /// Reconnects the server authenticated in full instead of by cookie.
    pub reconnects_fully_authenticated: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub target: String,
    pub protocol: i32,
    pub concurrency: usize,
    /// `count`, `duration` or `interrupted` (Ctrl-C).
    pub stopped_by: &'static str,
    pub connections_attempted: u64,
    pub connections_succeeded: u64,
    pub connections_failed: u64,
    /// In flight when the run was stopped; not in `connections_attempted`.
    pub cancelled_in_flight: u64,
    pub errors: BTreeMap<String, u64>,
    /// The first detail seen for each error kind.
    pub error_examples: BTreeMap<String, String>,
    pub elapsed_seconds: f64,
    /// Succeeded connections per second of elapsed time.
    pub connections_per_second: f64,
    /// From before the connect to the pong (status) or the Transfer (logins),
    /// succeeded connections only.
    pub latency_us: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_cpu_seconds: Option<f64>,
    /// Router CPU time (user + system) during the run / connections attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_cpu_us_per_connection: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<CookieSetup>,
}

impl Report {
    pub fn text(&self) -> String {
        let mut s = String::new();
        let us = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
        let _ = writeln!(s, "mode              {}", self.mode);
        let _ = writeln!(
            s,
            "target            {} (protocol {}, concurrency {})",
            self.target, self.protocol, self.concurrency
        );
        let _ = writeln!(s, "stopped by        {}", self.stopped_by);
        let _ = writeln!(
            s,
            "connections       {} attempted, {} succeeded, {} failed{}",
            self.connections_attempted,
            self.connections_succeeded,
            self.connections_failed,
            if self.cancelled_in_flight > 0 {
                format!(
                    " ({} in flight at the stop, not counted)",
                    self.cancelled_in_flight
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(s, "elapsed           {:.3} s", self.elapsed_seconds);
        let _ = writeln!(
            s,
            "rate              {:.1} connections/s",
            self.connections_per_second
        );
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "latency (us)      p50 {}  p90 {}  p99 {}  max {}",
            us(l.p50),
            us(l.p90),
            us(l.p99),
            us(l.max)
        );
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors            none");
        } else {
            let _ = writeln!(s, "errors");
            for (label, n) in &self.errors {
                let example = self.error_examples.get(label).map_or("", String::as_str);
                let _ = writeln!(s, "  {n:>10}  {label}  (e.g. {example})");
            }
        }
        if let Some(cookie) = &self.cookie {
            let _ = writeln!(
                s,
                "cookie setup      {} first logins, {} failed; {} reconnects fully authenticated",
                cookie.setup_logins_attempted,
                cookie.setup_logins_failed,
                cookie.reconnects_fully_authenticated
            );
            for (label, n) in &cookie.setup_errors {
                let _ = writeln!(s, "  {n:>10}  first login: {label}");
            }
        }
        if let (Some(total), Some(per)) =
            (self.router_cpu_seconds, self.router_cpu_us_per_connection)
        {
            let _ = writeln!(
                s,
                "router cpu        {per:.1} us/connection ({total:.2} s user+system)"
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 0.0), Some(7));
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 100.0), Some(7));
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&v, 150.0), Some(100), "clamped");
        let v: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 55.0), Some(6));
        assert_eq!(percentile(&v, 99.0), Some(10));
        assert_eq!(percentile(&[1, 2, 3, 4], 25.0), Some(1));
        assert_eq!(percentile(&[1, 2, 3, 4], 26.0), Some(2));
    }

    #[test]
    fn latency_sorts_first() {
        let mut v = vec![900, 100, 500, 300, 700, 200, 400, 600, 800, 1000];
        assert_eq!(
            Latency::of(&mut v),
            Latency {
                p50: Some(500),
                p90: Some(900),
                p99: Some(1000),
                max: Some(1000)
            }
        );
        assert_eq!(
            Latency::of(&mut []),
            Latency {
                p50: None,
                p90: None,
                p99: None,
                max: None
            }
        );
    }

    #[test]
    fn merged_tallies_keep_every_latency() {
        let mut a = Tally::default();
        a.success(Duration::from_micros(30));
        a.failure(&Failure::new(Kind::Timeout, "10s"));
        let mut b = Tally::default();
        b.success(Duration::from_micros(10));
        b.success(Duration::from_secs(100_000)); // saturates
        b.failure(&Failure::new(Kind::Timeout, "later"));
        a.merge(b);
        assert_eq!((a.attempted, a.succeeded), (5, 3));
        assert_eq!(a.errors.counts["timeout"], 2);
        assert_eq!(a.errors.examples["timeout"], "10s", "first example kept");
        let l = Latency::of(&mut a.latencies_us);
        assert_eq!((l.p50, l.max), (Some(30), Some(u32::MAX)));
    }

    #[test]
    fn disconnect_kinds_are_bounded() {
        let mut e = Errors::default();
        for i in 0..100 {
            e.record(&Failure::new(
                Kind::disconnect(&format!("You are banned, player #{i}")),
                "",
            ));
        }
        assert_eq!(e.counts.len(), MAX_DISCONNECT_KINDS);
        assert_eq!(e.total(), 100);
        assert!(e.counts.contains_key(OTHER_DISCONNECT));
        // The fixed kinds are never folded into the overflow.
        e.record(&Failure::new(Kind::Refused, "ECONNREFUSED"));
        assert_eq!(e.counts["refused"], 1);
        let mut merged = Errors::default();
        for _ in 0..5 {
            merged.merge(e.clone());
        }
        assert!(
            merged.counts.len() <= MAX_DISCONNECT_KINDS + 1,
            "plus `refused`"
        );
        assert_eq!(merged.total(), 505);
    }

    #[test]
    fn disconnect_labels_are_short_and_clean() {
        let k = Kind::disconnect("No server is available\nright now, try again in a minute please");
        assert_eq!(
            k.label(),
            "disconnect:No server is available right now, try ag"
        );
        assert_eq!(
            Kind::disconnect(&"é".repeat(50)).label(),
            format!("disconnect:{}", "é".repeat(40)),
            "characters, not bytes"
        );
    }
}
