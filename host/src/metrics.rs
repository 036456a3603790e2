//! The process's Prometheus metrics: their definitions, bounded label values, and
//! the text exposition `/metrics` serves.
//!
//! One process-wide set ([`metrics()`]), so that the code that observes something
//! records it where it happens instead of passing a handle through every layer.
//! Every label value is one of a fixed set of `&'static str` chosen by our code, or
//! a plugin's name (bounded by the files the operator installs): never a string a
//! client chose, such as a hostname or a locale.
//!
//! Beside them, unprefixed, the standard process metrics every Prometheus client
//! library exports (`process_resident_memory_bytes`, `process_cpu_seconds_total`,
//! `process_open_fds`, `process_start_time_seconds`), read from `/proc/self` at
//! each scrape (Linux only).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::telemetry::otlp_metrics::{self, labels};

/// Sub-second resolution where it matters (a status ping is well under 1 ms of
/// work; a login with the session server is tens to hundreds of ms), up to the
/// default deadlines.
pub(crate) const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type PluginLabels = [(&'static str, String); 1];
type PluginCallLabels = (PluginLabels, Labels1);
type KeyValueLabels = (PluginLabels, Labels2);

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

pub struct Metrics {
    registry: Registry,
    connections: Family<Labels2, Counter>,
    active: Gauge,
    rejected: Family<Labels1, Counter>,
    shed: Family<Labels1, Counter>,
    status_latency: Histogram,
    login_latency: Histogram,
    routing_latency: Histogram,
    session_latency: Histogram,
    session_failures: Family<Labels1, Counter>,
    session_calls: Family<Labels1, Counter>,
    cookies: Family<Labels2, Counter>,
    plugin_calls: Family<PluginCallLabels, Histogram, fn() -> Histogram>,
    plugin_traps: Family<PluginLabels, Counter>,
    plugin_deadlines: Family<PluginLabels, Counter>,
    plugin_saturated: Family<PluginLabels, Counter>,
    plugin_unhealthy: Family<PluginLabels, Gauge>,
    plugin_reloads: Family<Labels1, Counter>,
    waiting: Gauge,
    ready: Gauge,
    keyvalue_calls: Family<KeyValueLabels, Counter>,
    keyvalue_up: Gauge,
    /// `/readyz` also needs the key-value store (`ready_requires_store`).
    ready_requires_store: std::sync::atomic::AtomicBool,
}

/// The OTLP mirror of these metrics, when `[telemetry]` exports them.
fn otlp() -> Option<&'static otlp_metrics::Instruments> {
    otlp_metrics::get()
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut root = Registry::default();
        #[cfg(target_os = "linux")]
        root.register_collector(Box::new(process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("passage");
        let m = Metrics {
            registry: Registry::default(),
            connections: Family::default(),
            active: Gauge::default(),
            rejected: Family::default(),
            shed: Family::default(),
            status_latency: latency(),
            login_latency: latency(),
            routing_latency: latency(),
            session_latency: latency(),
            session_failures: Family::default(),
            session_calls: Family::default(),
            cookies: Family::default(),
            plugin_calls: Family::new_with_constructor(latency),
            plugin_traps: Family::default(),
            plugin_deadlines: Family::default(),
            plugin_saturated: Family::default(),
            plugin_unhealthy: Family::default(),
            plugin_reloads: Family::default(),
            waiting: Gauge::default(),
            ready: Gauge::default(),
            keyvalue_calls: Family::default(),
            keyvalue_up: Gauge::default(),
            ready_requires_store: std::sync::atomic::AtomicBool::new(false),
        };
        registry.register(
            "connections",
            "Finished connections by the state they ended in and how they ended",
            m.connections.clone(),
        );
        registry.register(
            "connections_active",
            "Connections being served now",
            m.active.clone(),
        );
        registry.register(
            "connections_rejected",
            "Connections closed before serving, by reason: max_connections, max_connections_per_address, rate_limit_status, rate_limit_login, untrusted_proxy, proxy_header",
            m.rejected.clone(),
        );
        registry.register(
            "connections_shed",
            "Connections closed to give their slot to a newcomer while full, by reason: no_handshake, busiest_address",
            m.shed.clone(),
        );
        registry.register_with_unit(
            "status_duration",
            "Status exchange from the handshake to the pong",
            Unit::Seconds,
            m.status_latency.clone(),
        );
        registry.register_with_unit(
            "login_duration",
            "Login from Login Start to the Transfer",
            Unit::Seconds,
            m.login_latency.clone(),
        );
        registry.register_with_unit(
            "routing_duration",
            "Discovery and strategy plugins choosing a player's target",
            Unit::Seconds,
            m.routing_latency.clone(),
        );
        registry.register_with_unit(
            "session_server_duration",
            "hasJoined calls to the session server, whatever their result",
            Unit::Seconds,
            m.session_latency.clone(),
        );
        registry.register(
            "session_server_calls",
            "hasJoined calls by outcome: verified, not_verified (the player is refused), unavailable (the player is told the servers are down)",
            m.session_calls.clone(),
        );
        registry.register(
            "session_server_failures",
            "hasJoined calls that did not verify the player, by reason: not_verified, rate_limited (429), server_error (5xx), redirect, unexpected_status, timeout, network, invalid_response",
            m.session_failures.clone(),
        );
        registry.register(
            "auth_cookie",
            "Authentication cookie fast path: hits, and misses by reason",
            m.cookies.clone(),
        );
        registry.register_with_unit(
            "plugin_call_duration",
            "Plugin calls by plugin and function",
            Unit::Seconds,
            m.plugin_calls.clone(),
        );
        registry.register(
            "plugin_traps",
            "Plugin calls that trapped (the instance is replaced)",
            m.plugin_traps.clone(),
        );
        registry.register(
            "plugin_deadline_hits",
            "Plugin calls stopped at their deadline",
            m.plugin_deadlines.clone(),
        );
        registry.register(
            "plugin_saturated",
            "Plugin calls that found every instance busy for their whole deadline (load, not a failure of the plugin)",
            m.plugin_saturated.clone(),
        );
        registry.register(
            "plugin_unhealthy",
            "1 while a plugin backs off after repeated failures (not called)",
            m.plugin_unhealthy.clone(),
        );
        registry.register(
            "plugin_reloads",
            "Plugin set reloads by outcome: applied, partial (some files refused), refused",
            m.plugin_reloads.clone(),
        );
        registry.register(
            "players_waiting",
            "Players held in configuration because a plugin answered `wait` (a queue, a backend waking up)",
            m.waiting.clone(),
        );
        registry.register(
            "ready",
            "1 while listening with plugins loaded and not draining",
            m.ready.clone(),
        );
        registry.register(
            "keyvalue_calls",
            "Plugins' key-value operations by plugin, operation and outcome: ok, invalid (over a bound), denied (bucket not granted), error (the store refused it), unavailable (the store did not answer)",
            m.keyvalue_calls.clone(),
        );
        registry.register(
            "keyvalue_backend_up",
            "1 while the key-value store answers (always 1 for the in-memory store)",
            m.keyvalue_up.clone(),
        );
        Metrics {
            registry: root,
            ..m
        }
    }

    /// The OpenMetrics text exposition (which Prometheus reads natively).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn connection_opened(&self) {
        self.active.inc();
        if let Some(o) = otlp() {
            o.active.add(1, &[]);
        }
    }

    pub fn connection_closed(&self, state: &'static str, outcome: &'static str) {
        self.active.dec();
        self.connections
            .get_or_create(&[("state", state), ("outcome", outcome)])
            .inc();
        if let Some(o) = otlp() {
            o.active.add(-1, &[]);
            o.connections
                .add(1, &labels(&[("state", state), ("outcome", outcome)]));
        }
    }

    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&[("reason", reason)]).inc();
        if let Some(o) = otlp() {
            o.rejected.add(1, &labels(&[("reason", reason)]));
        }
    }

    pub fn shed(&self, reason: &'static str) {
        self.shed.get_or_create(&[("reason", reason)]).inc();
        if let Some(o) = otlp() {
            o.shed.add(1, &labels(&[("reason", reason)]));
        }
    }

    pub fn status_done(&self, took: Duration) {
        self.status_latency.observe(took.as_secs_f64());
        if let Some(o) = otlp() {
            o.status_duration.record(took.as_secs_f64(), &[]);
        }
    }

    pub fn login_done(&self, took: Duration) {
        self.login_latency.observe(took.as_secs_f64());
        if let Some(o) = otlp() {
            o.login_duration.record(took.as_secs_f64(), &[]);
        }
    }

    pub fn routing_done(&self, took: Duration) {
        self.routing_latency.observe(took.as_secs_f64());
        if let Some(o) = otlp() {
            o.routing_duration.record(took.as_secs_f64(), &[]);
        }
    }

    /// `failure` is `None` when the player was verified, else `not_verified` or
    /// the outage's reason.
    pub fn session_call(&self, took: Duration, failure: Option<&'static str>) {
        self.session_latency.observe(took.as_secs_f64());
        let outcome = match failure {
            None => "verified",
            Some("not_verified") => "not_verified",
            Some(_) => "unavailable",
        };
        self.session_calls
            .get_or_create(&[("outcome", outcome)])
            .inc();
        if let Some(reason) = failure {
            self.session_failures
                .get_or_create(&[("reason", reason)])
                .inc();
        }
        if let Some(o) = otlp() {
            o.session_duration.record(took.as_secs_f64(), &[]);
            o.session_calls.add(1, &labels(&[("outcome", outcome)]));
            if let Some(reason) = failure {
                o.session_failures.add(1, &labels(&[("reason", reason)]));
            }
        }
    }

    /// `reason` is `None` for a hit.
    pub fn cookie(&self, reason: Option<&'static str>) {
        let labels = match reason {
            None => [("result", "hit"), ("reason", "")],
            Some(reason) => [("result", "miss"), ("reason", reason)],
        };
        self.cookies.get_or_create(&labels).inc();
        if let Some(o) = otlp() {
            o.cookies.add(1, &otlp_metrics::labels(&labels));
        }
    }

    pub fn plugin_call(&self, plugin: &str, function: &'static str, took: Duration) {
        self.plugin_calls
            .get_or_create(&([("plugin", plugin.to_owned())], [("function", function)]))
            .observe(took.as_secs_f64());
        if let Some(o) = otlp() {
            o.plugin_calls.record(
                took.as_secs_f64(),
                &labels(&[("plugin", plugin), ("function", function)]),
            );
        }
    }

    pub fn plugin_trap(&self, plugin: &str) {
        self.plugin_traps
            .get_or_create(&[("plugin", plugin.to_owned())])
            .inc();
        if let Some(o) = otlp() {
            o.plugin_traps.add(1, &labels(&[("plugin", plugin)]));
        }
    }

    pub fn plugin_deadline(&self, plugin: &str) {
        self.plugin_deadlines
            .get_or_create(&[("plugin", plugin.to_owned())])
            .inc();
        if let Some(o) = otlp() {
            o.plugin_deadlines.add(1, &labels(&[("plugin", plugin)]));
        }
    }

    pub fn plugin_saturated(&self, plugin: &str) {
        self.plugin_saturated
            .get_or_create(&[("plugin", plugin.to_owned())])
            .inc();
        if let Some(o) = otlp() {
            o.plugin_saturated.add(1, &labels(&[("plugin", plugin)]));
        }
    }

    pub fn plugin_unhealthy(&self, plugin: &str, unhealthy: bool) {
        self.plugin_unhealthy
            .get_or_create(&[("plugin", plugin.to_owned())])
            .set(i64::from(unhealthy));
        if let Some(o) = otlp() {
            o.plugin_unhealthy
                .record(i64::from(unhealthy), &labels(&[("plugin", plugin)]));
        }
    }

    pub fn plugin_reload(&self, outcome: &'static str) {
        self.plugin_reloads
            .get_or_create(&[("outcome", outcome)])
            .inc();
        if let Some(o) = otlp() {
            o.plugin_reloads.add(1, &labels(&[("outcome", outcome)]));
        }
    }

    /// One more (`1`) or one fewer (`-1`) player waiting.
    pub fn waiting(&self, change: i64) {
        self.waiting.inc_by(change);
        if let Some(o) = otlp() {
            o.waiting.add(change, &[]);
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
        if let Some(o) = otlp() {
            o.ready.record(i64::from(ready), &[]);
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.get() == 1
    }

    pub fn keyvalue_call(&self, plugin: &str, op: &'static str, outcome: &'static str) {
        self.keyvalue_calls
            .get_or_create(&(
                [("plugin", plugin.to_owned())],
                [("op", op), ("outcome", outcome)],
            ))
            .inc();
    }

    pub fn keyvalue_up(&self, up: bool) {
        self.keyvalue_up.set(i64::from(up));
    }

    pub fn is_keyvalue_up(&self) -> bool {
        self.keyvalue_up.get() == 1
    }

    /// Makes `/readyz` answer "not ready" while the key-value store is down.
    pub fn set_ready_requires_store(&self, requires: bool) {
        self.ready_requires_store
            .store(requires, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether `/readyz` says ready, and if not, why.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if !self.is_ready() {
            return Err("not ready\n");
        }
        if self
            .ready_requires_store
            .load(std::sync::atomic::Ordering::Relaxed)
            && !self.is_keyvalue_up()
        {
            return Err(
                "not ready: the key-value store is unreachable (plugin_runtime.keyvalue.ready_requires_store)\n",
            );
        }
        Ok(())
    }
}

/// The process metrics of the Prometheus client libraries, from `/proc/self`.
#[cfg(target_os = "linux")]
mod process {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::registry::Unit;

    #[derive(Debug)]
    pub struct ProcessCollector;

    /// What `/proc/self/stat` says, in clock ticks and pages.
    #[derive(Debug, PartialEq)]
    pub struct Stat {
        pub cpu_ticks: u64,
        pub start_ticks: u64,
        pub rss_pages: u64,
    }

    /// Parses `/proc/<pid>/stat` (proc(5)): the command name, in parentheses, may
    /// hold spaces and parentheses, so fields are counted after the last `)`.
    pub fn parse_stat(stat: &str) -> Option<Stat> {
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        // fields[0] is field 3 (state): utime is field 14, stime 15,
        // starttime 22, rss 24.
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            cpu_ticks: field(14)? + field(15)?,
            start_ticks: field(22)?,
            rss_pages: field(24)?,
        })
    }

    /// The boot time (`btime` of `/proc/stat`), in seconds since the epoch.
    pub fn boot_time(proc_stat: &str) -> Option<u64> {
        proc_stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    }

    fn sysconf(name: libc::c_int) -> Option<u64> {
        // SAFETY: sysconf takes no pointers; it only reads a system setting.
        let value = unsafe { libc::sysconf(name) };
        u64::try_from(value).ok().filter(|v| *v > 0)
    }

    fn gauge<N: prometheus_client::encoding::EncodeGaugeValue>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        value: N,
    ) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(value);
        gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)
    }

    impl Collector for ProcessCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let now = super::process_snapshot();
            if let Some(cpu) = now.cpu_seconds {
                let cpu = ConstCounter::new(cpu);
                cpu.encode(encoder.encode_descriptor(
                    "process_cpu",
                    "Total user and system CPU time spent in seconds",
                    Some(&Unit::Seconds),
                    cpu.metric_type(),
                )?)?;
            }
            if let Some(rss) = now.resident_bytes {
                let help = "Resident memory size in bytes";
                gauge(
                    &mut encoder,
                    "process_resident_memory",
                    help,
                    Some(&Unit::Bytes),
                    rss,
                )?;
            }
            if let Some(start) = now.start_time {
                let help = "Start time of the process since unix epoch in seconds";
                gauge(
                    &mut encoder,
                    "process_start_time",
                    help,
                    Some(&Unit::Seconds),
                    start,
                )?;
            }
            if let Some(open) = now.open_fds {
                gauge(
                    &mut encoder,
                    "process_open_fds",
                    "Number of open file descriptors",
                    None,
                    open,
                )?;
            }
            Ok(())
        }
    }

    /// Reads the figures from `/proc`.
    pub fn snapshot() -> super::ProcessSnapshot {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| parse_stat(&s));
        let ticks = sysconf(libc::_SC_CLK_TCK);
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        super::ProcessSnapshot {
            cpu_seconds: stat
                .as_ref()
                .zip(ticks)
                .map(|(s, t)| s.cpu_ticks as f64 / t as f64),
            resident_bytes: stat
                .as_ref()
                .zip(sysconf(libc::_SC_PAGESIZE))
                .map(|(s, page)| {
                    i64::try_from(s.rss_pages.saturating_mul(page)).unwrap_or(i64::MAX)
                }),
            start_time: match (&stat, ticks, boot) {
                (Some(s), Some(t), Some(b)) => Some(b as f64 + s.start_ticks as f64 / t as f64),
                _ => None,
            },
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|fds| i64::try_from(fds.count()).unwrap_or(i64::MAX)),
        }
    }
}

/// The process's own figures, as the Prometheus client libraries export them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessSnapshot {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<i64>,
    pub start_time: Option<f64>,
    pub open_fds: Option<i64>,
}

/// This process's CPU time, memory, start time and open files, now (empty off Linux).
pub fn process_snapshot() -> ProcessSnapshot {
    #[cfg(target_os = "linux")]
    {
        process::snapshot()
    }
    #[cfg(not(target_os = "linux"))]
    {
        ProcessSnapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_labels() {
        let m = Metrics::new();
        m.connection_opened();
        m.connection_closed("status", "ok");
        m.rejected("max_connections");
        m.cookie(None);
        m.cookie(Some("expired"));
        m.plugin_call("fixed-status", "status", Duration::from_micros(30));
        m.status_done(Duration::from_micros(300));
        let text = m.render();
        for needle in [
            "passage_connections_total{state=\"status\",outcome=\"ok\"} 1",
            "passage_connections_active 0",
            "passage_connections_rejected_total{reason=\"max_connections\"} 1",
            "passage_auth_cookie_total{result=\"hit\",reason=\"\"} 1",
            "passage_auth_cookie_total{result=\"miss\",reason=\"expired\"} 1",
            "passage_plugin_call_duration_seconds_count{plugin=\"fixed-status\",function=\"status\"} 1",
            "passage_status_duration_seconds_bucket{le=\"0.0005\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_self_stat_fields() {
        // A command name with spaces and parentheses, as proc(5) allows.
        let stat = "4242 (pass (a) ge) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    150 50 0 0 20 0 9 0 123456 104857600 3000 18446744073709551615";
        assert_eq!(
            process::parse_stat(stat),
            Some(process::Stat {
                cpu_ticks: 200,
                start_ticks: 123456,
                rss_pages: 3000,
            })
        );
        assert_eq!(process::parse_stat("4242 (truncated) S 1 2"), None);
        assert_eq!(
            process::boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
    }

    /// The process metrics of this very process, against what the kernel says
    /// elsewhere (`VmRSS` of /proc/self/status, the clock).
    #[cfg(target_os = "linux")]
    #[test]
    fn exposition_has_process_metrics() {
        let text = Metrics::new().render();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
        };
        for needle in [
            "# TYPE process_cpu_seconds counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_open_fds gauge",
            "# TYPE process_start_time_seconds gauge",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vm_rss_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        let rss = value("process_resident_memory_bytes");
        // Same quantity, read a moment apart (the test's threads allocate).
        assert!(
            (rss / 1024.0 - vm_rss_kib).abs() < vm_rss_kib * 0.5 + 4096.0,
            "resident {rss} bytes, VmRSS {vm_rss_kib} KiB"
        );
        assert!(value("process_cpu_seconds_total") >= 0.0);
        assert!(
            value("process_open_fds") >= 3.0,
            "stdin, stdout, stderr at least"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(
            started <= now + 1.0 && started > now - 24.0 * 3600.0,
            "started at {started}, now {now}"
        );
        // Passage's own metrics keep their prefix.
        assert!(text.contains("passage_ready "), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }
}
