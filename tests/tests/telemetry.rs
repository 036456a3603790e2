//! OpenTelemetry end to end: a router with `[telemetry]` exports each
//! connection as a trace over OTLP/HTTP to a real HTTP receiver in the test,
//! which decodes the protobuf with OpenTelemetry's own definitions: span names,
//! parent links, attributes (client addresses cut to their network), the
//! `traceparent` the session cookie carries, the link from a reconnect to the
//! previous trace, and the metrics.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use passage_tests::http_stub::HttpStub;
use passage_tests::session_server::{Behavior, SessionServer};
use passage_tests::{Passage, PassageSpec, ping, plugin_wasm, transferred_cookies};
use prost::Message;

const SECRET: &[u8] = b"telemetry-test-secret-0123456789abcdef\n";

fn passage(session: &SessionServer, receiver: Option<&HttpStub>) -> (Passage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth_secret");
    std::fs::write(&secret, SECRET).unwrap();
    let telemetry = match receiver {
        Some(r) => format!(
            "[telemetry]\notlp_endpoint = \"{}\"\nexport_interval_ms = 200\n",
            r.url("")
        ),
        None => String::new(),
    };
    let config = format!(
        r#"
auth_secret_file = "{}"
[auth]
session_server = "{}"
[limits]
login_per_second = 0
[plugins.fixed-discovery]
targets = [{{ id = "lobby", host = "10.0.0.1", port = 25565, metadata = {{ players = 1, max_players = 10 }} }}]
{telemetry}
"#,
        secret.display(),
        session.url()
    );
    let passage = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
            ("fixed-status", plugin_wasm("fixed-status")),
        ],
        ..Default::default()
    });
    (passage, dir)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(attrs: &[KeyValue]) -> HashMap<String, String> {
    attrs
        .iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

/// Every span the receiver got so far.
fn spans(receiver: &HttpStub) -> Vec<Span> {
    receiver
        .requests()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/v1/traces")
        .flat_map(|(_, _, body)| {
            let request =
                ExportTraceServiceRequest::decode(&body[..]).expect("OTLP trace protobuf");
            request
                .resource_spans
                .into_iter()
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Waits until the receiver holds spans for which `done` holds.
async fn wait_for_spans(
    receiver: &HttpStub,
    what: &str,
    done: impl Fn(&[Span]) -> bool,
) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = spans(receiver);
        if done(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "never received {what}; spans: {:?}",
            seen.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        receiver.wait_for_hits(receiver.hits() + 1).await;
    }
}

fn session_traceparent(cookies: &HashMap<String, Vec<u8>>) -> (String, String) {
    let session: serde_json::Value = serde_json::from_slice(&cookies["passage:session"]).unwrap();
    let traceparent = session["extra"]["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceparent in {session}"))
        .to_owned();
    // W3C: version-traceid-parentid-flags.
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{traceparent}");
    assert_eq!(parts[3], "01", "sampled");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn each_login_is_a_trace_a_backend_can_continue_and_a_reconnect_links_to() {
    let receiver = HttpStub::start("").await;
    let session = SessionServer::start(Behavior::Normal).await;
    let (passage, _dir) = passage(&session, Some(&receiver));
    passage.wait_for_log(&["exporting telemetry over OTLP/HTTP"]);

    let first = transferred_cookies(&passage, session.addr, "Steve", &HashMap::new()).await;
    let (trace_id, span_id) = session_traceparent(&first);
    let seen = wait_for_spans(&receiver, "the first connection's span", |s| {
        s.iter()
            .any(|s| s.name == "connection" && hex(&s.span_id) == span_id)
    })
    .await;
    let root = seen.iter().find(|s| hex(&s.span_id) == span_id).unwrap();
    assert_eq!(hex(&root.trace_id), trace_id, "the cookie names this trace");
    assert!(
        root.parent_span_id.is_empty(),
        "a connection is a root span"
    );
    assert_eq!(root.kind, 2, "SERVER");
    let attrs = attributes(&root.attributes);
    assert_eq!(attrs["passage.outcome"], "transferred", "{attrs:?}");
    assert_eq!(attrs["passage.state"], "configuration");
    assert_eq!(attrs["network.protocol.version"], "767");
    assert_eq!(attrs["minecraft.intent"], "login");
    assert_eq!(attrs["player.name"], "Steve");
    assert_eq!(attrs["passage.target"], "lobby");
    assert_eq!(attrs["passage.plugin"], "player-fill");
    assert_eq!(attrs["passage.auth"], "session_server");
    assert_eq!(
        attrs["client.address"], "127.0.0.0/24",
        "the network, not the client"
    );
    for span in seen.iter().filter(|s| hex(&s.trace_id) == trace_id) {
        for kv in &span.attributes {
            assert!(
                !text(&kv.value).contains("127.0.0.1"),
                "{}: {:?}",
                span.name,
                kv
            );
        }
        assert!(
            span.events.is_empty(),
            "log lines are not exported: {:?}",
            span.events
        );
    }
    // The steps, as children of the connection; plugin calls under routing.
    let child = |name: &str| {
        seen.iter()
            .find(|s| s.name == name && hex(&s.trace_id) == trace_id)
            .unwrap_or_else(|| {
                panic!(
                    "no `{name}` span in {:?}",
                    seen.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
    };
    for step in ["session_server", "routing", "transfer"] {
        assert_eq!(
            child(step).parent_span_id,
            root.span_id,
            "{step} is a step of the connection"
        );
    }
    let routing = child("routing");
    for call in ["discover", "select"] {
        let span = child(call);
        assert_eq!(
            span.parent_span_id, routing.span_id,
            "{call} is a step of routing"
        );
        assert!(
            attributes(&span.attributes).contains_key("plugin"),
            "{call}"
        );
    }
    assert_eq!(attributes(&child("transfer").attributes)["target"], "lobby");

    // The reconnect: authenticated by the cookie, its own trace, linked to the first.
    let second = transferred_cookies(&passage, session.addr, "Steve", &first).await;
    let (second_trace, second_span) = session_traceparent(&second);
    assert_ne!(second_trace, trace_id);
    let seen = wait_for_spans(&receiver, "the reconnect's span", |s| {
        s.iter().any(|s| hex(&s.span_id) == second_span)
    })
    .await;
    let reconnect = seen
        .iter()
        .find(|s| hex(&s.span_id) == second_span)
        .unwrap();
    assert_eq!(
        attributes(&reconnect.attributes)["minecraft.intent"],
        "transfer"
    );
    assert_eq!(attributes(&reconnect.attributes)["passage.auth"], "cookie");
    let link = reconnect
        .links
        .first()
        .expect("a link to the previous connection");
    assert_eq!(hex(&link.trace_id), trace_id);
    assert_eq!(hex(&link.span_id), span_id);
    assert_eq!(
        attributes(&link.attributes)["passage.link"],
        "previous_connection"
    );
    assert!(
        seen.iter()
            .any(|s| s.name == "cookie_check" && s.parent_span_id == reconnect.span_id),
        "the cookie check is a step"
    );
}

#[tokio::test]
async fn the_metrics_of_the_scrape_endpoint_go_out_over_otlp_too() {
    let receiver = HttpStub::start("").await;
    let session = SessionServer::start(Behavior::Normal).await;
    let (passage, _dir) = passage(&session, Some(&receiver));
    transferred_cookies(&passage, session.addr, "Steve", &HashMap::new()).await;
    ping(passage.addr, 767, "play.example.com")
        .await
        .expect("ping");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut transferred = 0;
        let (mut logins, mut rss, mut status) = (0, false, false);
        for (_, _, body) in receiver
            .requests()
            .iter()
            .filter(|(m, p, _)| m == "POST" && p == "/v1/metrics")
        {
            let request =
                ExportMetricsServiceRequest::decode(&body[..]).expect("OTLP metrics protobuf");
            for metric in request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
            {
                match (metric.name.as_str(), &metric.data) {
                    ("passage_connections", Some(metric::Data::Sum(sum))) => {
                        assert!(sum.is_monotonic);
                        for point in &sum.data_points {
                            let a = attributes(&point.attributes);
                            if a.get("outcome").map(String::as_str) == Some("transferred") {
                                assert_eq!(a["state"], "configuration");
                                transferred = transferred.max(match point.value {
                                    Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => i,
                                    _ => 0,
                                });
                            }
                            status |= a.get("state").map(String::as_str) == Some("status");
                        }
                    }
                    ("passage_login_duration", Some(metric::Data::Histogram(h))) => {
                        assert_eq!(metric.unit, "s");
                        logins = logins.max(h.data_points.iter().map(|p| p.count).sum::<u64>());
                        // The buckets of /metrics.
                        assert_eq!(h.data_points[0].explicit_bounds.len(), 16);
                    }
                    ("process_resident_memory", Some(metric::Data::Gauge(_))) => rss = true,
                    _ => {}
                }
            }
        }
        if transferred == 1 && logins == 1 && rss && status {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics incomplete: transferred {transferred}, logins {logins}, rss {rss}, status {status}"
        );
        receiver.wait_for_hits(receiver.hits() + 1).await;
    }
}

/// Without `[telemetry]` nothing is exported and the session cookie is the
/// seed's exactly: no `extra`.
#[tokio::test]
async fn off_by_default_the_session_cookie_is_the_seeds() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (passage, _dir) = passage(&session, None);
    let cookies = transferred_cookies(&passage, session.addr, "Steve", &HashMap::new()).await;
    let json: serde_json::Value = serde_json::from_slice(&cookies["passage:session"]).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "server_address", "server_port"]);
    assert!(!passage.log().contains("exporting telemetry"));
}
