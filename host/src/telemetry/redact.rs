//! What leaves the process in a span: client addresses cut to their network
//! (or left out, or kept, as `telemetry.client_ip` says) before a span is
//! handed to the exporter — the log keeps full addresses; traces go to other
//! systems, often another company's — and the connection span under its
//! OpenTelemetry name and kind (the log keeps its short `conn`).

use std::net::{IpAddr, SocketAddr};

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

use crate::config::ClientIpInTraces;

/// Span fields that hold a client's or a proxy's address, and the attribute
/// names they are exported under (OpenTelemetry's semantic conventions).
const ADDRESS_FIELDS: &[(&str, &str)] = &[
    ("peer", "client.address"),
    ("proxy", "network.peer.address"),
];

/// The `tracing` name of the span every connection runs in.
const CONNECTION_SPAN: &str = "conn";

#[derive(Debug)]
pub struct Redacting<P> {
    pub inner: P,
    pub client_ip: ClientIpInTraces,
}

impl<P: SpanProcessor> SpanProcessor for Redacting<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        span.attributes = redact(std::mem::take(&mut span.attributes), self.client_ip);
        if span.name == CONNECTION_SPAN {
            span.name = "connection".into();
            span.span_kind = opentelemetry::trace::SpanKind::Server;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

fn redact(attributes: Vec<KeyValue>, mode: ClientIpInTraces) -> Vec<KeyValue> {
    attributes
        .into_iter()
        .filter_map(|kv| {
            let Some(&(_, exported)) = ADDRESS_FIELDS
                .iter()
                .find(|(field, _)| kv.key.as_str() == *field)
            else {
                return Some(kv);
            };
            let text = kv.value.as_str();
            let value = match mode {
                ClientIpInTraces::Omit => return None,
                ClientIpInTraces::Full => text.into_owned(),
                ClientIpInTraces::Network => network_of(&text)?,
            };
            Some(KeyValue::new(exported, Value::from(value)))
        })
        .collect()
}

/// The /24 of an IPv4 address, the /48 of an IPv6 one (a port dropped); `None`
/// for something that is not an address.
pub fn network_of(address: &str) -> Option<String> {
    let ip = address
        .parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| address.parse::<IpAddr>())
        .ok()?;
    Some(match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_cut_to_their_network_or_dropped() {
        assert_eq!(network_of("203.0.113.77:51234").unwrap(), "203.0.113.0/24");
        assert_eq!(
            network_of("[2001:db8:abcd:12::1]:25565").unwrap(),
            "2001:db8:abcd::/48"
        );
        assert_eq!(
            network_of("::ffff:198.51.100.9").unwrap(),
            "198.51.100.0/24"
        );
        assert_eq!(network_of("not an address"), None);
        let attrs = vec![
            KeyValue::new("peer", "203.0.113.77:51234"),
            KeyValue::new("proxy", "10.1.2.3:40000"),
            KeyValue::new("id", 7),
        ];
        let network = redact(attrs.clone(), ClientIpInTraces::Network);
        assert_eq!(
            network[0],
            KeyValue::new("client.address", "203.0.113.0/24")
        );
        assert_eq!(
            network[1],
            KeyValue::new("network.peer.address", "10.1.2.0/24")
        );
        assert_eq!(network[2], KeyValue::new("id", 7));
        let omitted = redact(attrs.clone(), ClientIpInTraces::Omit);
        assert_eq!(omitted, vec![KeyValue::new("id", 7)]);
        let full = redact(attrs, ClientIpInTraces::Full);
        assert_eq!(
            full[0],
            KeyValue::new("client.address", "203.0.113.77:51234")
        );
    }
}
