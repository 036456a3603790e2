//! Outbound HTTP for plugins: a small blocking client over
//! `wasi:http/outgoing-handler@0.2`.
//!
//! ```ignore
//! use std::time::Duration;
//!
//! let response = passage_sdk::http::get("http://backends.internal:8080/targets", Duration::from_secs(1))?;
//! if response.status != 200 { /* ... */ }
//! let targets: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| e.to_string())?;
//! ```
//!
//! # The operator's grant
//!
//! A plugin reaches only the hosts the operator lists for it:
//!
//! ```toml
//! [plugin_runtime.grants.my-plugin]
//! http_allow = ["backends.internal:8080"]   # host, or host:port
//! call_timeout_ms = 2000                    # room for the request in one call
//! ```
//!
//! Any other host is refused by the router, and the call returns the error
//! `request to <host>:<port> denied by the router: not in this plugin's http_allow grant`.
//!
//! # Timeouts
//!
//! The request runs inside one plugin call, and the router kills an instance that
//! misses its call deadline (`call_timeout_ms`, default 100 ms), dropping whatever
//! it held in memory. `timeout` bounds the whole request — connecting, waiting for
//! the response and reading the body — so a slow server gives the plugin an error
//! instead: keep it below the grant's `call_timeout_ms`, with a margin.
//!
//! # Imports
//!
//! Only these functions import `wasi:http`; a plugin that never calls them
//! imports nothing more than any other plugin. Natively (a plugin's unit tests)
//! there is no router: every request fails with an error that says so.

use std::time::Duration;

/// The default cap on a response body: 4 MiB. A larger body is an error.
pub const MAX_BODY: usize = 4 << 20;

/// The default `timeout` of a [`Request`]: one second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A whole response, its body read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names are lower-case, as `wasi:http` gives them.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header (name case-insensitive), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// `GET url`, with at most `timeout` for the whole request and a body of at most
/// [`MAX_BODY`] bytes. Every error is a sentence for the log, starting with
/// `GET <url>:`.
pub fn get(url: &str, timeout: Duration) -> Result<Response, String> {
    Request::get(url).timeout(timeout).send()
}

/// `POST url` with `body`, otherwise as [`get`]. Errors start with `POST <url>:`.
pub fn post(url: &str, body: &[u8], timeout: Duration) -> Result<Response, String> {
    Request::post(url).body(body).timeout(timeout).send()
}

/// A request's method: reading (`GET`), or asking for something to happen (`POST`,
/// e.g. waking a backend up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request with headers, a timeout and a body cap of your choosing.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    body: Vec<u8>,
    url: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    max_body: usize,
}

impl Request {
    /// `GET url`, with [`DEFAULT_TIMEOUT`] and [`MAX_BODY`].
    pub fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            body: Vec::new(),
            url: url.to_owned(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_body: MAX_BODY,
        }
    }

    /// `POST url` with an empty body (see [`body`](Request::body)).
    pub fn post(url: &str) -> Request {
        Request {
            method: Method::Post,
            ..Request::get(url)
        }
    }

    /// The request body (sent with a `content-length`).
    pub fn body(mut self, body: &[u8]) -> Request {
        self.body = body.to_vec();
        self
    }

    /// Adds a request header (e.g. `accept`, `authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The whole request — connecting, the response head and the body — must
    /// finish within `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = timeout;
        self
    }

    /// A response body larger than `bytes` is an error.
    pub fn max_body(mut self, bytes: usize) -> Request {
        self.max_body = bytes;
        self
    }

    /// Sends the request and reads the whole response; blocks the plugin (not the
    /// router) until then.
    pub fn send(&self) -> Result<Response, String> {
        let url = Url::parse(&self.url)?;
        imp::send(self, &url).map_err(|e| match e {
            Failure::Denied => url.denied(),
            Failure::Other(reason) => format!("{} {}: {reason}", self.method.as_str(), self.url),
        })
    }
}

/// An `http://` or `https://` URL, split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// Host name (lower-cased) or IP address; an IPv6 address without brackets.
    pub host: String,
    /// The port, 80 or 443 when the URL names none.
    pub port: u16,
    /// `host`, or `host:port` when the URL gives a port, as sent in `Host`.
    pub authority: String,
    /// At least `/`; the fragment is dropped.
    pub path_and_query: String,
}

impl Url {
    /// Checks a URL the way [`Request::send`] would, so a plugin can refuse a bad
    /// one in its configuration rather than on its first request.
    pub fn parse(url: &str) -> Result<Url, String> {
        let bad = |why: &str| format!("invalid URL `{url}`: {why}");
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains spaces or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("it must start with http:// or https://")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address between `[` and `]`"));
            }
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(bad("unexpected text after `]`")),
                },
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad(&format!("`{p}` is not a port number (1-65535)")))?,
            ),
        };
        let host = host.to_ascii_lowercase();
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = match port {
            Some(p) => format!("{bracketed}:{p}"),
            None => bracketed,
        };
        let tail = tail.split('#').next().unwrap_or("");
        let path_and_query = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        Ok(Url {
            https,
            host,
            port: port.unwrap_or(if https { 443 } else { 80 }),
            authority,
            path_and_query,
        })
    }

    /// `host:port`, the port always given (IPv6 in brackets): what a grant must allow.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn denied(&self) -> String {
        format!(
            "request to {} denied by the router: not in this plugin's http_allow grant",
            self.host_port()
        )
    }
}

/// Why a request failed, before the URL is put in front.
enum Failure {
    /// The router refused the host (`HTTP-request-denied`).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    Denied,
    Other(String),
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Failure, Request, Url};

    pub(super) fn send(_request: &Request, _url: &Url) -> Result<super::Response, Failure> {
        Err(Failure::Other(
            "outbound HTTP works only inside the router (a wasm32-wasip2 component)".to_owned(),
        ))
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use wasip2::clocks::monotonic_clock;
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, HeaderError, IncomingBody, Method, OutgoingBody, OutgoingRequest,
        RequestOptions, Scheme,
    };
    use wasip2::io::poll::{Pollable, poll};
    use wasip2::io::streams::StreamError;

    use super::{Failure, Request, Response, Url};

    /// Bytes asked for per read; the host returns what it has, up to this.
    const CHUNK: u64 = 64 * 1024;

    pub(super) fn send(request: &Request, url: &Url) -> Result<Response, Failure> {
        let timeout_ns = u64::try_from(request.timeout.as_nanos()).unwrap_or(u64::MAX);
        let deadline = monotonic_clock::now().saturating_add(timeout_ns);
        let ms = request.timeout.as_millis();
        let other = |s: String| Failure::Other(s);

        let headers = Fields::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| other(header_error(name, e)))?;
        }
        if request.method != super::Method::Get {
            // A request's headers are immutable once it is built.
            let length = request.body.len().to_string();
            headers
                .append("content-length", length.as_bytes())
                .map_err(|e| other(header_error("content-length", e)))?;
        }
        let outgoing = OutgoingRequest::new(headers);
        let scheme = if url.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let invalid = |what: &str| other(format!("the router refused the request's {what}"));
        let method = match request.method {
            super::Method::Get => Method::Get,
            super::Method::Post => Method::Post,
        };
        outgoing
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        outgoing
            .set_authority(Some(&url.authority))
            .map_err(|()| invalid("host"))?;
        outgoing
            .set_path_with_query(Some(&url.path_and_query))
            .map_err(|()| invalid("path"))?;
        let outgoing_body = outgoing
            .body()
            .map_err(|()| other("request body taken twice".to_owned()))?;

        // The router enforces these itself (capped at the call deadline); our own
        // deadline below covers a router that does not support them.
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(timeout_ns));
        let _ = options.set_first_byte_timeout(Some(timeout_ns));
        let _ = options.set_between_bytes_timeout(Some(timeout_ns));

        let future =
            outgoing_handler::handle(outgoing, Some(options)).map_err(|e| failure(&e, url, ms))?;
        {
            // The body goes out after the request head; the stream is dropped
            // before the body is finished (children before parents).
            let stream = outgoing_body
                .write()
                .map_err(|()| other("request body stream taken twice".to_owned()))?;
            // `blocking_write_and_flush` takes at most 4096 bytes at a time.
            for chunk in request.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| other(format!("sending the request body: {e:?}")))?;
            }
        }
        OutgoingBody::finish(outgoing_body, None).map_err(|e| {
            other(format!(
                "finishing the request body: {}",
                describe(&e, url, ms)
            ))
        })?;
        let response = {
            let ready = future.subscribe();
            loop {
                match future.get() {
                    Some(Ok(Ok(response))) => break response,
                    Some(Ok(Err(e))) => return Err(failure(&e, url, ms)),
                    Some(Err(())) => return Err(other("response taken twice".to_owned())),
                    None => {
                        if !wait(&ready, deadline) {
                            return Err(other(format!("no response within {ms} ms")));
                        }
                    }
                }
            }
        };
        let status = response.status();
        let headers = response.headers().entries();
        let max = request.max_body;
        let too_large = || other(format!("response body larger than {max} bytes"));
        if headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-length")
                && std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > max as u64)
        }) {
            return Err(too_large());
        }

        // Children before parents: the pollable, then the stream, then the body.
        let body = response
            .consume()
            .map_err(|()| other("response body taken twice".to_owned()))?;
        let mut bytes = Vec::new();
        {
            let stream = body
                .stream()
                .map_err(|()| other("response body stream taken twice".to_owned()))?;
            let ready = stream.subscribe();
            loop {
                match stream.read(CHUNK) {
                    Ok(chunk) if chunk.is_empty() => {
                        if !wait(&ready, deadline) {
                            return Err(other(format!(
                                "response body not complete within {ms} ms ({} bytes read)",
                                bytes.len()
                            )));
                        }
                    }
                    Ok(chunk) => {
                        if bytes.len() + chunk.len() > max {
                            return Err(too_large());
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        let reason = match wasip2::http::types::http_error_code(&e) {
                            Some(code) => describe(&code, url, ms),
                            None => e.to_debug_string(),
                        };
                        return Err(other(format!("reading the response body: {reason}")));
                    }
                }
            }
        }
        drop(IncomingBody::finish(body));
        Ok(Response {
            status,
            headers,
            body: bytes,
        })
    }

    /// Waits until `ready` or the deadline; `false` when the deadline came first.
    fn wait(ready: &Pollable, deadline: u64) -> bool {
        if monotonic_clock::now() >= deadline {
            return false;
        }
        let timer = monotonic_clock::subscribe_instant(deadline);
        poll(&[ready, &timer]).contains(&0)
    }

    fn failure(code: &ErrorCode, url: &Url, ms: u128) -> Failure {
        match code {
            ErrorCode::HttpRequestDenied => Failure::Denied,
            other => Failure::Other(describe(other, url, ms)),
        }
    }

    fn header_error(name: &str, e: HeaderError) -> String {
        match e {
            HeaderError::InvalidSyntax => format!("header `{name}`: invalid name or value"),
            HeaderError::Forbidden => format!("header `{name}` may not be set by a plugin"),
            HeaderError::Immutable => format!("header `{name}`: headers are immutable"),
        }
    }

    fn describe(code: &ErrorCode, url: &Url, ms: u128) -> String {
        let at = url.host_port();
        let host = &url.host;
        match code {
            ErrorCode::DnsTimeout => format!("looking up {host} timed out"),
            ErrorCode::DnsError(e) => match &e.rcode {
                Some(rcode) => format!("cannot resolve {host}: {rcode}"),
                None => format!("cannot resolve {host}"),
            },
            ErrorCode::DestinationNotFound => format!("cannot resolve {host}"),
            ErrorCode::DestinationUnavailable => format!("{at} is unreachable"),
            ErrorCode::DestinationIpProhibited => format!(
                "{at}: refused by the router, it resolves to a loopback, private or link-local address \
                 (the grant needs allow_private_networks = true)"
            ),
            ErrorCode::DestinationIpUnroutable => format!("{at}: the address is unroutable"),
            ErrorCode::ConnectionRefused => format!("connection refused by {at}"),
            ErrorCode::ConnectionTerminated => {
                format!("{at} closed the connection before the response was complete")
            }
            ErrorCode::ConnectionTimeout => format!("could not connect to {at} within {ms} ms"),
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                format!("{at} did not answer within {ms} ms")
            }
            ErrorCode::ConnectionWriteTimeout => format!("sending to {at} timed out"),
            ErrorCode::ConnectionLimitReached => format!("too many connections to {at}"),
            ErrorCode::TlsProtocolError => format!("TLS handshake with {at} failed"),
            ErrorCode::TlsCertificateError => format!("{at}: TLS certificate not trusted"),
            ErrorCode::TlsAlertReceived(alert) => match &alert.alert_message {
                Some(m) => format!("{at} sent a TLS alert: {m}"),
                None => format!("{at} sent a TLS alert"),
            },
            ErrorCode::HttpResponseIncomplete => format!("{at} sent an incomplete response"),
            ErrorCode::HttpProtocolError => format!("HTTP protocol error talking to {at}"),
            ErrorCode::InternalError(Some(m)) => format!("router error: {m}"),
            other => format!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://Backends.Internal:8080/targets?x=1#frag").unwrap();
        assert!(!u.https);
        assert_eq!(u.host, "backends.internal");
        assert_eq!(u.port, 8080);
        assert_eq!(u.authority, "backends.internal:8080");
        assert_eq!(u.path_and_query, "/targets?x=1");
        assert_eq!(u.host_port(), "backends.internal:8080");

        let u = Url::parse("HTTPS://example.com").unwrap();
        assert!(u.https);
        assert_eq!((u.port, u.authority.as_str()), (443, "example.com"));
        assert_eq!(u.path_and_query, "/");
        assert_eq!(Url::parse("http://h?q").unwrap().path_and_query, "/?q");

        let u = Url::parse("http://[::1]:9000/t").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.authority, "[::1]:9000");
        assert_eq!(u.host_port(), "[::1]:9000");
        assert_eq!(Url::parse("http://[::1]/").unwrap().host_port(), "[::1]:80");
    }

    #[test]
    fn rejects_bad_urls_saying_why() {
        for (url, why) in [
            ("backends.internal/targets", "http:// or https://"),
            ("ftp://h/", "http:// or https://"),
            ("http:///targets", "no host"),
            ("http://h:0/", "port"),
            ("http://h:99999/", "port"),
            ("http://user:pw@h/", "credentials"),
            ("http://h/a b", "spaces"),
            ("http://[::1/", "unclosed"),
            ("http://[nope]/", "IPv6"),
        ] {
            let e = Url::parse(url).unwrap_err();
            assert!(e.contains(why) && e.contains(url), "{url}: {e}");
        }
    }

    #[test]
    fn denial_names_the_host_and_the_grant() {
        let e = Url::parse("http://backends.internal:8080/x")
            .unwrap()
            .denied();
        assert_eq!(
            e,
            "request to backends.internal:8080 denied by the router: not in this plugin's http_allow grant"
        );
    }

    #[test]
    fn natively_every_request_fails_saying_why() {
        let e = get("http://127.0.0.1:1/", Duration::from_millis(10)).unwrap_err();
        assert!(e.starts_with("GET http://127.0.0.1:1/: "), "{e}");
        assert!(e.contains("only inside the router"), "{e}");
        let e = get("nope", Duration::from_millis(10)).unwrap_err();
        assert!(e.contains("invalid URL"), "{e}");
    }

    #[test]
    fn response_helpers() {
        let r = Response {
            status: 204,
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body: Vec::new(),
        };
        assert!(r.is_success());
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.header("etag"), None);
    }
}
