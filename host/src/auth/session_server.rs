//! The Mojang-compatible session-server client: the `hasJoined` check of online-mode logins.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest response body we read. A real profile with skin textures is ~1-2 KiB;
/// the bound keeps a broken or hostile auth server from filling our memory.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Profile bounds, mirroring what the Login Success packet can carry to the client.
const MAX_NAME_CHARS: usize = 16;
const MAX_PROPERTIES: usize = 16;
const MAX_PROPERTY_NAME_CHARS: usize = 64;
const MAX_PROPERTY_VALUE_CHARS: usize = 32767;
const MAX_SIGNATURE_CHARS: usize = 1024;

/// Why a session check did not produce a profile.
///
/// The two variants are kept apart because the player sees different messages:
/// "Failed to verify username" versus "Authentication servers are unavailable".
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The session server answered and said this client has not joined (204, 403
    /// and the other 4xx but 429, or a profile for another name).
    #[error("session server did not verify the player")]
    NotVerified,
    /// No usable answer: connection failure, timeout, 429 (rate limited), 5xx, a
    /// redirect (not followed), an oversized or invalid body.
    #[error("session server unavailable: {0}")]
    Unavailable(Outage),
}

/// Why the session server gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub kind: OutageKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// 429: the session server rate-limits this router (Mojang does under load).
    RateLimited,
    /// 5xx.
    ServerError,
    /// 3xx: never followed (the configured URL is the session server).
    Redirect,
    /// Any other status a session server does not answer with.
    UnexpectedStatus,
    Timeout,
    /// Connecting, sending or reading failed.
    Network,
    /// A 200 whose body is not a profile, or too large.
    InvalidResponse,
}

impl OutageKind {
    /// Metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            OutageKind::RateLimited => "rate_limited",
            OutageKind::ServerError => "server_error",
            OutageKind::Redirect => "redirect",
            OutageKind::UnexpectedStatus => "unexpected_status",
            OutageKind::Timeout => "timeout",
            OutageKind::Network => "network",
            OutageKind::InvalidResponse => "invalid_response",
        }
    }
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl SessionError {
    pub fn unavailable(kind: OutageKind, detail: impl Into<String>) -> SessionError {
        SessionError::Unavailable(Outage {
            kind,
            detail: detail.into(),
        })
    }

    /// Metrics label: `not_verified`, or the outage's kind.
    pub fn reason(&self) -> &'static str {
        match self {
            SessionError::NotVerified => "not_verified",
            SessionError::Unavailable(outage) => outage.kind.as_str(),
        }
    }
}

/// One profile property (typically `textures`), passed on to the client unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileProperty {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// An authenticated game profile as returned by `hasJoined`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: Uuid,
    pub name: String,
    pub properties: Vec<ProfileProperty>,
}

/// The wire form: `id` is a string (32 hex digits), converted and checked in [`Profile::from_json`].
#[derive(Deserialize)]
struct RawProfile {
    id: String,
    name: String,
    #[serde(default)]
    properties: Vec<ProfileProperty>,
}

impl Profile {
    /// Parses and bounds-checks a `hasJoined` body. Any defect is `Unavailable`:
    /// the server answered "yes" but with something we cannot hand to a client.
    pub fn from_json(body: &[u8]) -> Result<Profile, SessionError> {
        let raw: RawProfile = serde_json::from_slice(body).map_err(|e| {
            SessionError::unavailable(
                OutageKind::InvalidResponse,
                format!("invalid profile JSON: {e}"),
            )
        })?;
        let invalid = || SessionError::unavailable(OutageKind::InvalidResponse, "invalid profile");

        // Mojang sends the 32-digit undashed form; the dashed form is accepted too
        // because some alternative auth servers use it. Braced/URN forms are not.
        if !matches!(raw.id.len(), 32 | 36) {
            return Err(invalid());
        }
        let id = Uuid::try_parse(&raw.id).map_err(|_| invalid())?;

        if !(1..=MAX_NAME_CHARS).contains(&utf16_len(&raw.name)) {
            return Err(invalid());
        }
        if raw.properties.len() > MAX_PROPERTIES {
            return Err(invalid());
        }
        // Lengths counted in UTF-16 units, as the client's string decoder does.
        let property_ok = |p: &ProfileProperty| {
            utf16_len(&p.name) <= MAX_PROPERTY_NAME_CHARS
                && utf16_len(&p.value) <= MAX_PROPERTY_VALUE_CHARS
                && p.signature
                    .as_deref()
                    .is_none_or(|s| utf16_len(s) <= MAX_SIGNATURE_CHARS)
        };
        if !raw.properties.iter().all(property_ok) {
            return Err(invalid());
        }
        Ok(Profile {
            id,
            name: raw.name,
            properties: raw.properties,
        })
    }
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Client for one session server (Mojang's or an alternative one).
#[derive(Debug, Clone)]
pub struct SessionServer {
    client: reqwest::Client,
    /// Base URL without a trailing '/', e.g. `https://sessionserver.mojang.com`.
    base: String,
    /// Bound on the whole check: connect, request, and reading the body.
    timeout: Duration,
    /// Whether to send the player's IP (`prevent-proxy-connections` in vanilla).
    send_ip: bool,
}

impl SessionServer {
    /// `base_url` must be an absolute http(s) URL without query or fragment.
    pub fn new(base_url: &str, timeout: Duration, send_ip: bool) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(base_url)
            .map_err(|e| anyhow::anyhow!("invalid session server URL {base_url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("session server URL {base_url:?} must be http or https");
        }
        if parsed.host().is_none() {
            anyhow::bail!("session server URL {base_url:?} has no host");
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            anyhow::bail!("session server URL {base_url:?} must not have a query or fragment");
        }
        if timeout.is_zero() {
            anyhow::bail!("session server timeout must be positive");
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("passage/", env!("CARGO_PKG_VERSION")))
            // A session server answers; a redirect is a misconfiguration (or an
            // attempt to send the player's name and hash elsewhere).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()?;
        Ok(SessionServer {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            timeout,
            send_ip,
        })
    }

    /// The base URL in use (no trailing '/').
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Asks whether `username` joined with `server_hash` (see `crypto::server_hash`).
    ///
    /// Names are compared ASCII-case-insensitively: the session server looks names
    /// up case-insensitively and answers with the account's canonical spelling,
    /// which the returned profile carries. A profile for any other name is
    /// `NotVerified`.
    pub async fn has_joined(
        &self,
        username: &str,
        server_hash: &str,
        ip: Option<IpAddr>,
    ) -> Result<Profile, SessionError> {
        let body = tokio::time::timeout(self.timeout, self.fetch(username, server_hash, ip))
            .await
            .map_err(|_| SessionError::unavailable(OutageKind::Timeout, "timed out"))??;

        // Some alternative servers answer "not joined" with an empty 200.
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(SessionError::NotVerified);
        }
        let profile = Profile::from_json(&body)?;
        if !profile.name.eq_ignore_ascii_case(username) {
            tracing::debug!(
                claimed = username,
                returned = %profile.name,
                "session server returned a profile for another name"
            );
            return Err(SessionError::NotVerified);
        }
        Ok(profile)
    }

    /// Sends the request and reads the (bounded) body of a 200 answer.
    async fn fetch(
        &self,
        username: &str,
        server_hash: &str,
        ip: Option<IpAddr>,
    ) -> Result<Vec<u8>, SessionError> {
        let ip = ip.filter(|_| self.send_ip).map(|ip| ip.to_string());
        let mut query = vec![("username", username), ("serverId", server_hash)];
        if let Some(ip) = ip.as_deref() {
            query.push(("ip", ip));
        }
        let url = format!("{}/session/minecraft/hasJoined", self.base);
        let mut response = self
            .client
            .get(&url)
            .query(&query)
            .send()
            .await
            .map_err(|e| SessionError::unavailable(kind_of(&e), describe(&e)))?;

        let status = response.status();
        let outage = |kind| SessionError::unavailable(kind, format!("HTTP status {status}"));
        match status.as_u16() {
            200 => {}
            429 => return Err(outage(OutageKind::RateLimited)),
            204 | 400..=499 => return Err(SessionError::NotVerified),
            300..=399 => return Err(outage(OutageKind::Redirect)),
            500..=599 => return Err(outage(OutageKind::ServerError)),
            _ => return Err(outage(OutageKind::UnexpectedStatus)),
        }

        // Refuse early when the server announces too much, and still count while
        // streaming because the announcement may be absent or wrong.
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY_BYTES as u64)
        {
            return Err(SessionError::unavailable(
                OutageKind::InvalidResponse,
                "response too large",
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| SessionError::unavailable(kind_of(&e), describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(SessionError::unavailable(
                    OutageKind::InvalidResponse,
                    "response too large",
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn kind_of(error: &reqwest::Error) -> OutageKind {
    if error.is_timeout() {
        OutageKind::Timeout
    } else if error.is_body() || error.is_decode() {
        OutageKind::InvalidResponse
    } else {
        OutageKind::Network
    }
}

/// A short reason for logs: the error kind and its causes, without the URL (which
/// carries the player's name, server hash and possibly IP).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "reading response failed"
    } else {
        "request failed"
    };
    let mut reason = kind.to_owned();
    let mut source = std::error::Error::source(error);
    // Causes are hyper/io/rustls errors; a few levels are enough to be useful.
    for _ in 0..4 {
        let Some(cause) = source else { break };
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    const TIMEOUT: Duration = Duration::from_millis(300);
    const HASH: &str = "-7c9d5b0044c130109a5d7b5fb5c317c02b4e28c1";
    const UUID_HEX: &str = "069a79f444e94726a5befca90e38aaf5";

    /// What the test server saw of one request.
    #[derive(Debug)]
    struct Seen {
        path: String,
        raw_query: String,
        query: Vec<(String, String)>,
    }

    impl Seen {
        fn get(&self, key: &str) -> Option<&str> {
            self.query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    enum Reply {
        Raw(Vec<u8>),
        /// Accept, read the request, never answer.
        Hang,
    }

    fn http(status: &str, body: &str) -> Reply {
        Reply::Raw(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    fn profile_json(name: &str) -> String {
        serde_json::json!({
            "id": UUID_HEX,
            "name": name,
            "properties": [{"name": "textures", "value": "dGV4", "signature": "c2ln"}],
        })
        .to_string()
    }

    /// Decodes `application/x-www-form-urlencoded`, as a real session server would.
    fn form_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("utf8");
                    out.push(u8::from_str_radix(hex, 16).expect("hex"));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).expect("utf8")
    }

    fn parse_request_line(head: &str) -> Seen {
        let line = head.lines().next().unwrap_or_default();
        let target = line.split(' ').nth(1).unwrap_or_default();
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let query = raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k), form_decode(v))
            })
            .collect();
        Seen {
            path: path.to_owned(),
            raw_query: raw_query.to_owned(),
            query,
        }
    }

    /// A minimal HTTP/1.1 server on 127.0.0.1:0 that answers every request with
    /// `handler(request)` and reports each request line on the channel.
    async fn serve(
        handler: impl Fn(&Seen) -> Reply + Send + 'static,
    ) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let seen = parse_request_line(&String::from_utf8_lossy(&head));
                let reply = handler(&seen);
                let _ = tx.send(seen);
                match reply {
                    Reply::Raw(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.shutdown().await;
                    }
                    Reply::Hang => {
                        // Keep the socket open well past the client's timeout.
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            drop(stream);
                        });
                    }
                }
            }
        });
        (addr, rx)
    }

    fn client(addr: SocketAddr, send_ip: bool) -> SessionServer {
        SessionServer::new(&format!("http://{addr}/"), TIMEOUT, send_ip).expect("client")
    }

    #[tokio::test]
    async fn valid_profile_and_encoded_query() {
        let (addr, mut seen) = serve(|req| {
            // Echo the decoded name back, as the real server does.
            http("200 OK", &profile_json(req.get("username").unwrap_or("")))
        })
        .await;
        let name = "a b&c=d+e";
        let profile = client(addr, false)
            .has_joined(name, HASH, None)
            .await
            .expect("verified");
        assert_eq!(profile.id.simple().to_string(), UUID_HEX);
        assert_eq!(profile.name, name);
        assert_eq!(
            profile.properties,
            vec![ProfileProperty {
                name: "textures".into(),
                value: "dGV4".into(),
                signature: Some("c2ln".into()),
            }]
        );

        let req = seen.recv().await.expect("request");
        assert_eq!(req.path, "/session/minecraft/hasJoined");
        // The special characters were escaped, so the query splits into exactly two pairs.
        assert!(!req.raw_query.contains(' '), "{}", req.raw_query);
        assert_eq!(req.query.len(), 2, "{:?}", req.query);
        assert_eq!(req.get("username"), Some(name));
        assert_eq!(req.get("serverId"), Some(HASH));
    }

    #[tokio::test]
    async fn no_content_is_not_verified() {
        let (addr, _seen) =
            serve(|_| Reply::Raw(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec()))
                .await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert_eq!(got, Err(SessionError::NotVerified));
    }

    #[tokio::test]
    async fn client_errors_are_not_verified() {
        let (addr, _seen) = serve(|_| http("403 Forbidden", "{\"error\":\"no\"}")).await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert_eq!(got, Err(SessionError::NotVerified));
    }

    #[tokio::test]
    async fn empty_ok_is_not_verified() {
        let (addr, _seen) = serve(|_| http("200 OK", "")).await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert_eq!(got, Err(SessionError::NotVerified));
    }

    #[tokio::test]
    async fn server_error_is_unavailable() {
        let (addr, _seen) = serve(|_| http("500 Internal Server Error", "oops")).await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert!(matches!(got, Err(SessionError::Unavailable(_))), "{got:?}");
    }

    /// The status of each answer decides between "failed to verify" and "the
    /// servers are unavailable": Mojang rate-limits busy servers with 429, which is
    /// an outage, not a verdict about the player. A redirect is never followed.
    #[tokio::test]
    async fn statuses_say_what_happened() {
        for (status, reason) in [
            ("204 No Content", "not_verified"),
            ("403 Forbidden", "not_verified"),
            ("404 Not Found", "not_verified"),
            ("429 Too Many Requests", "rate_limited"),
            ("500 Internal Server Error", "server_error"),
            ("503 Service Unavailable", "server_error"),
            ("302 Found", "redirect"),
            ("301 Moved Permanently", "redirect"),
        ] {
            let (addr, mut seen) = serve(move |_| {
                Reply::Raw(
                    format!(
                        "HTTP/1.1 {status}\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                )
            })
            .await;
            let got = client(addr, false).has_joined("Notch", HASH, None).await;
            assert_eq!(
                got.as_ref().err().map(SessionError::reason),
                Some(reason),
                "{status}: {got:?}"
            );
            seen.recv().await.expect("one request");
            assert!(
                seen.try_recv().is_err(),
                "{status}: the redirect was followed"
            );
        }
    }

    #[tokio::test]
    async fn invalid_json_is_unavailable() {
        let (addr, _seen) = serve(|_| http("200 OK", "{\"id\": 12, oops")).await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert!(matches!(got, Err(SessionError::Unavailable(_))), "{got:?}");
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (addr, _seen) = serve(|_| Reply::Hang).await;
        let start = Instant::now();
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        let elapsed = start.elapsed();
        assert!(matches!(got, Err(SessionError::Unavailable(_))), "{got:?}");
        assert!(elapsed >= TIMEOUT, "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }

    #[tokio::test]
    async fn closed_port_is_unavailable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert!(matches!(got, Err(SessionError::Unavailable(_))), "{got:?}");
    }

    #[tokio::test]
    async fn ip_is_sent_only_when_enabled() {
        let (addr, mut seen) =
            serve(|req| http("200 OK", &profile_json(req.get("username").unwrap_or("")))).await;
        let ip: IpAddr = "2001:db8::1".parse().expect("ip");

        client(addr, true)
            .has_joined("Notch", HASH, Some(ip))
            .await
            .expect("verified");
        let req = seen.recv().await.expect("request");
        assert_eq!(req.get("ip"), Some("2001:db8::1"));

        client(addr, false)
            .has_joined("Notch", HASH, Some(ip))
            .await
            .expect("verified");
        let req = seen.recv().await.expect("request");
        assert_eq!(req.get("ip"), None);

        client(addr, true)
            .has_joined("Notch", HASH, None)
            .await
            .expect("verified");
        let req = seen.recv().await.expect("request");
        assert_eq!(req.get("ip"), None);
    }

    #[tokio::test]
    async fn oversized_body_is_unavailable() {
        // Announced by Content-Length.
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let (addr, _seen) = serve(move |_| http("200 OK", &big)).await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert_eq!(
            got,
            Err(SessionError::unavailable(
                OutageKind::InvalidResponse,
                "response too large"
            ))
        );

        // Not announced: body delimited by connection close.
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let (addr, _seen) = serve(move |_| {
            Reply::Raw(format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{big}").into_bytes())
        })
        .await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert_eq!(
            got,
            Err(SessionError::unavailable(
                OutageKind::InvalidResponse,
                "response too large"
            ))
        );
    }

    #[tokio::test]
    async fn other_name_is_not_verified() {
        let (addr, _seen) = serve(|_| http("200 OK", &profile_json("jeb_"))).await;
        let got = client(addr, false).has_joined("Notch", HASH, None).await;
        assert_eq!(got, Err(SessionError::NotVerified));
    }

    #[tokio::test]
    async fn name_case_may_differ() {
        let (addr, _seen) = serve(|_| http("200 OK", &profile_json("Notch"))).await;
        let profile = client(addr, false)
            .has_joined("notch", HASH, None)
            .await
            .expect("verified");
        // The canonical spelling from the session server wins.
        assert_eq!(profile.name, "Notch");
    }

    #[test]
    fn profile_bounds() {
        let ok = |json: serde_json::Value| Profile::from_json(json.to_string().as_bytes());
        let invalid = Err(SessionError::unavailable(
            OutageKind::InvalidResponse,
            "invalid profile",
        ));

        let dashed =
            ok(serde_json::json!({"id": "069a79f4-44e9-4726-a5be-fca90e38aaf5", "name": "Notch"}));
        assert_eq!(dashed.map(|p| p.properties.len()), Ok(0));

        assert_eq!(
            ok(serde_json::json!({"id": "069a79f4", "name": "Notch"})),
            invalid
        );
        assert_eq!(
            ok(serde_json::json!({"id": "z".repeat(32), "name": "Notch"})),
            invalid
        );
        assert_eq!(
            ok(serde_json::json!({"id": format!("{{{UUID_HEX}}}"), "name": "Notch"})),
            invalid
        );
        assert_eq!(ok(serde_json::json!({"id": UUID_HEX, "name": ""})), invalid);
        assert_eq!(
            ok(serde_json::json!({"id": UUID_HEX, "name": "x".repeat(17)})),
            invalid
        );

        let prop = serde_json::json!({"name": "textures", "value": "v"});
        let many = vec![prop; MAX_PROPERTIES + 1];
        assert_eq!(
            ok(serde_json::json!({"id": UUID_HEX, "name": "Notch", "properties": many})),
            invalid
        );
        let long_value = serde_json::json!([{"name": "textures", "value": "v".repeat(32768)}]);
        assert_eq!(
            ok(serde_json::json!({"id": UUID_HEX, "name": "Notch", "properties": long_value})),
            invalid
        );
        let long_sig =
            serde_json::json!([{"name": "t", "value": "v", "signature": "s".repeat(1025)}]);
        assert_eq!(
            ok(serde_json::json!({"id": UUID_HEX, "name": "Notch", "properties": long_sig})),
            invalid
        );
        // Missing fields are a JSON error, still Unavailable.
        assert!(matches!(
            ok(serde_json::json!({"name": "Notch"})),
            Err(SessionError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn invalid_profile_is_unavailable() {
        let (addr, _seen) =
            serve(|_| http("200 OK", &profile_json("NameFarTooLongForMinecraft"))).await;
        let got = client(addr, false)
            .has_joined("NameFarTooLongForMinecraft", HASH, None)
            .await;
        assert_eq!(
            got,
            Err(SessionError::unavailable(
                OutageKind::InvalidResponse,
                "invalid profile"
            ))
        );
    }

    #[test]
    fn new_validates_url() {
        let t = Duration::from_secs(5);
        assert!(SessionServer::new("ftp://example.com", t, false).is_err());
        assert!(SessionServer::new("not a url", t, false).is_err());
        assert!(SessionServer::new("https://example.com/?x=1", t, false).is_err());
        assert!(SessionServer::new("https://example.com", Duration::ZERO, false).is_err());
        let s = SessionServer::new("https://sessionserver.mojang.com//", t, false).expect("ok");
        assert_eq!(s.base_url(), "https://sessionserver.mojang.com");
        let s = SessionServer::new("http://127.0.0.1:8080/auth/", t, true).expect("ok");
        assert_eq!(s.base_url(), "http://127.0.0.1:8080/auth");
    }
}
