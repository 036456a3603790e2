//! OpenTelemetry: the log subscriber, and — when `[telemetry] otlp_endpoint` is
//! set — traces built from the connection spans and the metrics of `/metrics`,
//! exported over OTLP/HTTP protobuf; the W3C trace context a backend reads from
//! the session cookie.
//!
//! Off by default, and then nothing of it runs: no OpenTelemetry layer is
//! installed, the step spans are DEBUG (disabled at their call sites at the
//! default log level), and the metrics mirror is never set.

mod export_client;
pub mod otlp_metrics;
mod redact;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use redact::network_of;

use crate::config::{self, LogFormat};

/// How long one export may take before it is abandoned (the next one retries).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Spans waiting for export; beyond it new ones are dropped (the SDK counts
/// them), so a receiver that is down costs bounded memory.
const MAX_QUEUED_SPANS: usize = 8192;

/// The exporters in use. Keep it for the life of the process and call
/// [`Telemetry::shutdown`] at the end, so the last spans and metrics leave.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Builds the exporters `[telemetry]` asks for; `None` when it names no
    /// endpoint. `runtime` sends the requests and must outlive `shutdown`.
    pub fn start(
        settings: &config::Telemetry,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<Option<Telemetry>> {
        let Some(endpoint) = &settings.otlp_endpoint else {
            return Ok(None);
        };
        let headers = match &settings.headers_file {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("telemetry.headers_file {}: {e}", path.display())
                })?;
                export_client::parse_headers(&text).map_err(|e| {
                    anyhow::anyhow!("telemetry.headers_file {}: {e}", path.display())
                })?
            }
        };
        let http = export_client::RuntimeClient::new(runtime.clone(), EXPORT_TIMEOUT, headers)?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attributes([
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                KeyValue::new("service.instance.id", instance_id()),
            ])
            .build();
        let base = endpoint.trim_end_matches('/');
        let tracer = if settings.traces {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                // The full URL: the SDK appends /v1/traces only to the variable's value.
                .with_endpoint(format!("{base}/v1/traces"))
                .with_timeout(EXPORT_TIMEOUT)
                .with_http_client(http.clone())
                .build()?;
            let batch = BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(MAX_QUEUED_SPANS)
                        .with_scheduled_delay(settings.export_interval())
                        .build(),
                )
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_span_processor(redact::Redacting {
                        inner: batch,
                        client_ip: settings.client_ip,
                    })
                    .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                        settings.sample_ratio,
                    ))))
                    .with_resource(resource.clone())
                    .build(),
            )
        } else {
            None
        };
        let meter = if settings.metrics {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{base}/v1/metrics"))
                .with_timeout(EXPORT_TIMEOUT)
                // Totals since start, as /metrics has them.
                .with_temporality(Temporality::Cumulative)
                .with_http_client(http)
                .build()?;
            let reader = PeriodicReader::builder(exporter)
                .with_interval(settings.export_interval())
                .build();
            let provider = SdkMeterProvider::builder()
                .with_reader(reader)
                .with_resource(resource)
                .build();
            otlp_metrics::install(&provider);
            Some(provider)
        } else {
            None
        };
        Ok(Some(Telemetry { tracer, meter }))
    }

    /// Sends what is pending and stops. Blocking: call it where the runtime
    /// still runs but not on one of its workers (after `block_on` returned).
    pub fn shutdown(&self) {
        if let Some(tracer) = &self.tracer
            && let Err(e) = tracer.shutdown()
        {
            eprintln!("passage: telemetry: traces not flushed: {e}");
        }
        if let Some(meter) = &self.meter
            && let Err(e) = meter.shutdown()
        {
            eprintln!("passage: telemetry: metrics not flushed: {e}");
        }
    }
}

/// Installs the process's subscriber: the log (`log.level`, `RUST_LOG` when
/// set, text or JSON) and, with traces on, the OpenTelemetry layer, filtered
/// apart so `RUST_LOG=warn` does not turn traces off, and taking spans only:
/// log lines are not exported.
pub fn install_subscriber(log: &config::Log, telemetry: Option<&Telemetry>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match log.format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
    };
    let otel = telemetry.and_then(|t| t.tracer.as_ref()).map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer.tracer("passage"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span()
                    && meta.target().starts_with("passage")
                    && *meta.level() <= tracing::Level::DEBUG
            }))
    });
    // A second install (a test in the same process) keeps the first.
    let _ = Registry::default().with(fmt).with(otel).try_init();
}

/// The W3C `traceparent` of `span`: what a backend continues the trace from.
/// `None` when the span is not traced (telemetry off, or not sampled).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    (span_context.is_valid() && span_context.is_sampled()).then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// Links `span` to the trace a `traceparent` names (the previous connection of
/// a player who reconnects). A malformed value is ignored.
pub fn link_to(span: &tracing::Span, traceparent: &str) {
    if traceparent.len() > 64 {
        return;
    }
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    span.add_link_with_attributes(
        context.span().span_context().clone(),
        vec![KeyValue::new("passage.link", "previous_connection")],
    );
}

/// Sets an attribute on `span`'s trace only (the log does not show it).
pub fn attribute(span: &tracing::Span, key: &'static str, value: impl Into<opentelemetry::Value>) {
    span.set_attribute(key, value);
}

/// Marks `span`'s trace as failed, with why (the span shows in red).
pub fn failed(span: &tracing::Span, why: &'static str) {
    span.set_status(opentelemetry::trace::Status::error(why));
}

/// Tells replicas apart: the host name (a Kubernetes pod name), else a random id.
fn instance_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
