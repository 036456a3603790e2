//! The metrics of `/metrics`, mirrored as OpenTelemetry instruments for
//! operators who collect over OTLP instead of scraping. Same names (a Collector
//! exporting to Prometheus gives back the `/metrics` names: `_total`,
//! `_seconds` come from the instrument kind and unit), same labels, same
//! histogram buckets. Set once at start-up when OTLP metrics are on; every
//! recording in `metrics.rs` also lands here then.

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _, UpDownCounter};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::metrics::LATENCY_BUCKETS;

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// The mirror, when OTLP metrics are on.
pub fn get() -> Option<&'static Instruments> {
    INSTRUMENTS.get()
}

/// Creates the instruments on `provider` (once per process).
pub fn install(provider: &SdkMeterProvider) {
    let _ = INSTRUMENTS.set(Instruments::new(&provider.meter("passage")));
}

pub struct Instruments {
    pub connections: Counter<u64>,
    pub active: UpDownCounter<i64>,
    pub rejected: Counter<u64>,
    pub shed: Counter<u64>,
    pub status_duration: Histogram<f64>,
    pub login_duration: Histogram<f64>,
    pub routing_duration: Histogram<f64>,
    pub session_duration: Histogram<f64>,
    pub session_calls: Counter<u64>,
    pub session_failures: Counter<u64>,
    pub cookies: Counter<u64>,
    pub plugin_calls: Histogram<f64>,
    pub plugin_traps: Counter<u64>,
    pub plugin_deadlines: Counter<u64>,
    pub plugin_saturated: Counter<u64>,
    pub plugin_unhealthy: Gauge<i64>,
    pub plugin_reloads: Counter<u64>,
    pub waiting: UpDownCounter<i64>,
    pub ready: Gauge<i64>,
}

fn seconds(meter: &Meter, name: &'static str, help: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(help)
        .with_boundaries(LATENCY_BUCKETS.to_vec())
        .build()
}

fn counter(meter: &Meter, name: &'static str, help: &'static str) -> Counter<u64> {
    meter.u64_counter(name).with_description(help).build()
}

impl Instruments {
    fn new(meter: &Meter) -> Instruments {
        process_gauges(meter);
        Instruments {
            connections: counter(
                meter,
                "passage_connections",
                "Finished connections by the state they ended in and how they ended",
            ),
            active: meter
                .i64_up_down_counter("passage_connections_active")
                .with_description("Connections being served now")
                .build(),
            rejected: counter(
                meter,
                "passage_connections_rejected",
                "Connections closed before serving, by reason",
            ),
            shed: counter(
                meter,
                "passage_connections_shed",
                "Connections closed to give their slot to a newcomer while full, by reason",
            ),
            status_duration: seconds(
                meter,
                "passage_status_duration",
                "Status exchange from the handshake to the pong",
            ),
            login_duration: seconds(
                meter,
                "passage_login_duration",
                "Login from Login Start to the Transfer",
            ),
            routing_duration: seconds(
                meter,
                "passage_routing_duration",
                "Discovery and strategy plugins choosing a player's target",
            ),
            session_duration: seconds(
                meter,
                "passage_session_server_duration",
                "hasJoined calls to the session server",
            ),
            session_calls: counter(
                meter,
                "passage_session_server_calls",
                "hasJoined calls by outcome",
            ),
            session_failures: counter(
                meter,
                "passage_session_server_failures",
                "hasJoined calls that did not verify the player, by reason",
            ),
            cookies: counter(
                meter,
                "passage_auth_cookie",
                "Authentication cookie fast path: hits, and misses by reason",
            ),
            plugin_calls: seconds(
                meter,
                "passage_plugin_call_duration",
                "Plugin calls by plugin and function",
            ),
            plugin_traps: counter(meter, "passage_plugin_traps", "Plugin calls that trapped"),
            plugin_deadlines: counter(
                meter,
                "passage_plugin_deadline_hits",
                "Plugin calls stopped at their deadline",
            ),
            plugin_saturated: counter(
                meter,
                "passage_plugin_saturated",
                "Plugin calls that found every instance busy for their whole deadline",
            ),
            plugin_unhealthy: meter
                .i64_gauge("passage_plugin_unhealthy")
                .with_description("1 while a plugin backs off after repeated failures")
                .build(),
            plugin_reloads: counter(
                meter,
                "passage_plugin_reloads",
                "Plugin set reloads by outcome",
            ),
            waiting: meter
                .i64_up_down_counter("passage_players_waiting")
                .with_description("Players held in configuration because a plugin answered `wait`")
                .build(),
            ready: meter
                .i64_gauge("passage_ready")
                .with_description("1 while listening with plugins loaded and not draining")
                .build(),
        }
    }
}

/// `[(key, value)]` label pairs as attributes.
pub fn labels(pairs: &[(&'static str, &str)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue::new(*k, v.to_string()))
        .collect()
}

/// The process metrics, read when the reader collects (the callbacks live as
/// long as the provider).
fn process_gauges(meter: &Meter) {
    use crate::metrics::process_snapshot;
    meter
        .f64_observable_counter("process_cpu")
        .with_unit("s")
        .with_description("Total user and system CPU time spent in seconds")
        .with_callback(|o| {
            if let Some(v) = process_snapshot().cpu_seconds {
                o.observe(v, &[]);
            }
        })
        .build();
    meter
        .i64_observable_gauge("process_resident_memory")
        .with_unit("By")
        .with_description("Resident memory size in bytes")
        .with_callback(|o| {
            if let Some(v) = process_snapshot().resident_bytes {
                o.observe(v, &[]);
            }
        })
        .build();
    meter
        .i64_observable_gauge("process_open_fds")
        .with_description("Number of open file descriptors")
        .with_callback(|o| {
            if let Some(v) = process_snapshot().open_fds {
                o.observe(v, &[]);
            }
        })
        .build();
}
