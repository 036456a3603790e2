//! A plugin's outbound HTTP request (`wasi:http`), sent only where its grant
//! allows: the host must be in `http_allow`, and the address it resolves to must
//! be a public one unless the operator granted more (an IP literal in
//! `http_allow`, or `allow_private_networks = true`).
//!
//! The host resolves the name itself, checks every address, and connects to the
//! address it checked: a name whose DNS its owner controls cannot be turned into
//! the router's loopback (the admin endpoint), the cloud's metadata service
//! (169.254.169.254) or the operator's private network, not even by answering
//! differently to a second lookup, because there is none.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http_body_util::BodyExt;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::http_grant::HttpGrant;

/// Why an address is not one a plugin may reach without an explicit grant, or
/// `None` for a public (globally routable unicast) address.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified (0.0.0.0/8)",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private (RFC 1918)",
        (169, 254, _) => "link-local (cloud metadata services live here)",
        (100, 64..=127, _) => "shared address space (carrier-grade NAT)",
        (192, 0, 0) => "IETF protocol assignments",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Addresses that carry an IPv4 address are judged by it: mapped
    // (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:a.b.c.d::/48).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(Ipv4Addr::from_bits(ip.to_bits() as u32));
    }
    if s[0] == 0x2002 {
        return non_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    Some(match s[0] {
        0xfc00..=0xfdff => "unique local (fc00::/7)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        // IPv4-compatible (::a.b.c.d, deprecated) and the rest of ::/8.
        0x0000..=0x00ff => "reserved (::/8)",
        _ => return None,
    })
}

/// Sends a plugin's `wasi:http` request only where its grant allows; a refused
/// request fails inside the plugin (`HTTP-request-denied`, or
/// `destination-IP-prohibited` for an address it may not reach), and the router
/// logs a WARN naming the plugin, the host, the address and the key to change.
pub struct OutboundHttp {
    pub plugin: Arc<str>,
    pub grant: HttpGrant,
    /// Timeouts asked for by the plugin are capped at its call deadline: a
    /// request can never outlive the call that made it by much.
    pub max_wait: Duration,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        _ = fut;
        let uri = request.uri();
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let plugin = self.plugin.clone();
        if !self.grant.allows(&host, port) {
            tracing::warn!(
                plugin = &*plugin,
                host = %host,
                port,
                "plugin's outbound HTTP request denied: {host}:{port} is not in plugin_runtime.grants.{plugin}.http_allow"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let cap = |t: Option<Duration>| t.unwrap_or(self.max_wait).min(self.max_wait);
        let timeouts = Timeouts {
            connect: cap(options.and_then(|o| o.connect_timeout)),
            first_byte: cap(options.and_then(|o| o.first_byte_timeout)),
            between_bytes: cap(options.and_then(|o| o.between_bytes_timeout)),
        };
        let literal = host.parse::<IpAddr>().ok();
        // An IP literal the operator wrote into http_allow is granted as such.
        let explicit = literal.is_some_and(|_| self.grant.names_ip(&host, port));
        let private_ok = self.grant.allows_private_networks() || explicit;
        Box::new(async move {
            let resolved = match literal {
                Some(ip) => vec![SocketAddr::new(ip, port)],
                None => resolve(&host, port, timeouts.connect).await?,
            };
            // Only the addresses the plugin may reach, in the resolver's order.
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .filter(|a| private_ok || non_public(a.ip()).is_none())
                .copied()
                .collect();
            if allowed.is_empty() {
                let Some(first) = resolved.first() else {
                    return Err(HttpError::DestinationNotFound);
                };
                let why = non_public(first.ip()).unwrap_or("non-public");
                tracing::warn!(
                    plugin = &*plugin,
                    host = %host,
                    address = %first.ip(),
                    "plugin's outbound HTTP request refused: {host} resolves to {}, a {why} address; \
                     to let this plugin reach it, set plugin_runtime.grants.{plugin}.allow_private_networks = true \
                     (or put the address itself in http_allow)",
                    first.ip()
                );
                return Err(HttpError::DestinationIpProhibited);
            }
            tracing::debug!(plugin = &*plugin, host = %host, addresses = ?allowed, "plugin's outbound HTTP request");
            send(request, &host, &allowed, https, timeouts).await
        })
    }
}

/// The addresses of `host` (the resolver's order), within `within`.
async fn resolve(host: &str, port: u16, within: Duration) -> Result<Vec<SocketAddr>, HttpError> {
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(within, lookup).await {
        Err(_) => Err(HttpError::DnsTimeout),
        Ok(Err(e)) => Err(HttpError::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        }),
        Ok(Ok(addrs)) => Ok(addrs.collect()),
    }
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Arc::new(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default protocol versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// The first of `addrs` that accepts a connection, all within `within`.
async fn connect(
    addrs: &[SocketAddr],
    within: Duration,
) -> Result<tokio::net::TcpStream, HttpError> {
    let attempts = async {
        let mut last = None;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(HttpError::Connect(last.unwrap_or_else(|| {
            std::io::Error::from(std::io::ErrorKind::AddrNotAvailable)
        })))
    };
    tokio::time::timeout(within, attempts)
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
}

/// What `wasmtime_wasi_http::default_send_request` does, but connected to one
/// of `addrs`, the addresses the caller checked; TLS is verified for `host`.
async fn send(
    mut request: http::Request<WasiBody>,
    host: &str,
    addrs: &[SocketAddr],
    https: bool,
    timeouts: Timeouts,
) -> SendResult {
    let tcp = connect(addrs, timeouts.connect).await?;
    let stream: Box<dyn Stream> = if https {
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::from(ip),
            Err(_) => rustls::pki_types::ServerName::try_from(host.to_owned())?,
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config());
        match tokio::time::timeout(timeouts.connect, tls.connect(name, tcp)).await {
            Ok(stream) => Box::new(stream.map_err(HttpError::Tls)?),
            Err(_) => return Err(HttpError::ConnectionTimeout),
        }
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout(
        timeouts.connect,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    // The request carries scheme and authority; on the wire, only a request to a
    // proxy does.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    // hyper's connection must be driven while waiting for the response head.
    let mut conn = Box::pin(conn);
    let mut response = Box::pin(tokio::time::timeout(
        timeouts.first_byte,
        sender.send_request(request),
    ));
    let mut conn_done = false;
    let head = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = response.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if !conn_done && let Poll::Ready(result) = conn.as_mut().poll(cx) {
            conn_done = true;
            if let Err(e) = result {
                return Poll::Ready(Ok(Err(e)));
            }
        }
        Poll::Pending
    })
    .await
    .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let mut between = tokio::time::interval(timeouts.between_bytes.max(Duration::from_nanos(1)));
    between.reset();
    let response = head.map(|incoming| TimedBody { incoming, between }.boxed_unsync());
    let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> = Box::new(async move {
        if conn_done {
            return Ok(());
        }
        match conn.await {
            Err(e) if e.is_timeout() => Err(HttpError::HttpResponseTimeout),
            Err(e) => Err(e.into()),
            Ok(()) => Ok(()),
        }
    });
    Ok((response, io))
}

/// A response body that fails when no bytes come for `between`.
struct TimedBody {
    incoming: hyper::body::Incoming,
    between: tokio::time::Interval,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => {
                self.between.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.between.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(s: &str) -> Option<&'static str> {
        non_public(s.parse().unwrap())
    }

    #[test]
    fn private_loopback_link_local_multicast_and_unspecified_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "2002:c0a8:0101::1",
            "::127.0.0.1",
        ] {
            assert!(why(ip).is_some(), "{ip} counted as public");
        }
        assert_eq!(
            why("169.254.169.254"),
            Some("link-local (cloud metadata services live here)")
        );
    }

    #[test]
    fn public_addresses_are_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.0.1",
            "172.32.0.1",
            "100.63.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }
}
