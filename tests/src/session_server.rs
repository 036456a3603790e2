//! A real local HTTP session server for the tests: implements Mojang's
//! `/session/minecraft/join` (the client's side) and `/session/minecraft/hasJoined`
//! (the router's side), counts calls, and can be told to misbehave.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How `hasJoined` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// 200 + profile when the player joined with that server id, else 204.
    Normal,
    /// Always 204 No Content.
    NoContent,
    /// Always 500.
    ServerError,
    /// Answers correctly but only after this long.
    Slow(Duration),
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// 200 with a profile whose name differs from the login name.
    WrongName,
    /// Answers as `Normal`, but only once the test calls
    /// [`SessionServer::release_held`]: the test decides when the call ends.
    Held,
    /// Always this HTTP status, with an empty body.
    Status(u16),
}

#[derive(Debug, Clone)]
struct Joined {
    server_id: String,
    uuid: String,
}

#[derive(Default)]
struct State {
    joined: HashMap<String, Joined>,
    queries: std::collections::VecDeque<String>,
}

pub struct SessionServer {
    pub addr: SocketAddr,
    behavior: Arc<Mutex<Behavior>>,
    state: Arc<Mutex<State>>,
    join_calls: Arc<AtomicUsize>,
    has_joined_calls: Arc<AtomicUsize>,
    /// Woken on every `hasJoined` call and on `release_held`.
    changed: Arc<tokio::sync::Notify>,
    released: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// The skin property every test profile carries, to check it reaches the client.
pub const TEXTURES_VALUE: &str = "eyJ0ZXh0dXJlcyI6e319";
pub const TEXTURES_SIGNATURE: &str = "c2lnbmF0dXJl";

impl SessionServer {
    pub async fn start(behavior: Behavior) -> SessionServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let behavior = Arc::new(Mutex::new(behavior));
        let state = Arc::new(Mutex::new(State::default()));
        let join_calls = Arc::new(AtomicUsize::new(0));
        let has_joined_calls = Arc::new(AtomicUsize::new(0));
        let changed = Arc::new(tokio::sync::Notify::new());
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ctx = Ctx {
            behavior: behavior.clone(),
            state: state.clone(),
            join_calls: join_calls.clone(),
            has_joined_calls: has_joined_calls.clone(),
            changed: changed.clone(),
            released: released.clone(),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, ctx).await;
                });
            }
        });
        SessionServer {
            addr,
            behavior,
            state,
            join_calls,
            has_joined_calls,
            changed,
            released,
            task,
        }
    }

    /// Base URL for `auth.session_server`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_behavior(&self, b: Behavior) {
        *self.behavior.lock().unwrap() = b;
    }

    pub fn join_calls(&self) -> usize {
        self.join_calls.load(Ordering::SeqCst)
    }

    pub fn has_joined_calls(&self) -> usize {
        self.has_joined_calls.load(Ordering::SeqCst)
    }

    /// Waits (up to 20 s) until `hasJoined` was called `n` times: a router's call
    /// is in flight.
    pub async fn wait_for_has_joined_calls(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.changed.notified();
            if self.has_joined_calls() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "hasJoined was called {} times, not {n}",
                    self.has_joined_calls()
                );
            }
        }
    }

    /// Lets every held `hasJoined` call (now and later) answer.
    pub fn release_held(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Raw query strings `hasJoined` received.
    pub fn has_joined_queries(&self) -> Vec<String> {
        self.state.lock().unwrap().queries.iter().cloned().collect()
    }
}

impl Drop for SessionServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Ctx {
    behavior: Arc<Mutex<Behavior>>,
    state: Arc<Mutex<State>>,
    join_calls: Arc<AtomicUsize>,
    has_joined_calls: Arc<AtomicUsize>,
    changed: Arc<tokio::sync::Notify>,
    released: Arc<std::sync::atomic::AtomicBool>,
}

/// Serves requests on one connection until the client closes it or asks to:
/// keep-alive like Mojang's server, so a router's connection pool is exercised
/// (and a load test measures pooled calls, as in production).
async fn serve(mut stream: TcpStream, ctx: Ctx) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let header_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 64 * 1024 {
                return Ok(());
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let content_length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        while buf.len() < header_end + content_length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[header_end..header_end + content_length].to_vec();
        buf.drain(..header_end + content_length);
        let (status, body) = respond(&ctx, &head, &body).await;
        let reason = match status {
            200 => "OK",
            204 => "No Content",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let connection = if close { "close" } else { "keep-alive" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {connection}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
        if close {
            return stream.shutdown().await;
        }
    }
}

/// Most recent `hasJoined` queries kept for assertions; bounded so a long load
/// test does not grow the server's memory.
const MAX_KEPT_QUERIES: usize = 10_000;

async fn respond(ctx: &Ctx, head: &str, body: &[u8]) -> (u16, String) {
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match (method, path) {
        ("POST", "/session/minecraft/join") => {
            ctx.join_calls.fetch_add(1, Ordering::SeqCst);
            join(ctx, body)
        }
        ("GET", "/session/minecraft/hasJoined") => {
            ctx.has_joined_calls.fetch_add(1, Ordering::SeqCst);
            {
                let mut state = ctx.state.lock().unwrap();
                if state.queries.len() >= MAX_KEPT_QUERIES {
                    state.queries.pop_front();
                }
                state.queries.push_back(query.to_owned());
            }
            ctx.changed.notify_waiters();
            let behavior = *ctx.behavior.lock().unwrap();
            match behavior {
                Behavior::Slow(d) => tokio::time::sleep(d).await,
                Behavior::Held => loop {
                    let notified = ctx.changed.notified();
                    if ctx.released.load(Ordering::SeqCst) {
                        break;
                    }
                    notified.await;
                },
                _ => {}
            }
            has_joined(ctx, behavior, query)
        }
        _ => (404, String::new()),
    }
}

fn join(ctx: &Ctx, body: &[u8]) -> (u16, String) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (400, String::new());
    };
    let (Some(profile), Some(server_id), Some(name)) = (
        v["selectedProfile"].as_str(),
        v["serverId"].as_str(),
        v["name"].as_str(),
    ) else {
        return (400, String::new());
    };
    ctx.state.lock().unwrap().joined.insert(
        name.to_owned(),
        Joined {
            server_id: server_id.to_owned(),
            uuid: profile.to_owned(),
        },
    );
    (204, String::new())
}

fn has_joined(ctx: &Ctx, behavior: Behavior, query: &str) -> (u16, String) {
    let params: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    match behavior {
        Behavior::NoContent => return (204, String::new()),
        Behavior::ServerError => return (500, "{\"error\":\"boom\"}".to_owned()),
        Behavior::InvalidJson => return (200, "<html>not json".to_owned()),
        Behavior::Status(code) => return (code, String::new()),
        _ => {}
    }
    let (Some(name), Some(server_id)) = (params.get("username"), params.get("serverId")) else {
        return (400, String::new());
    };
    let joined = ctx.state.lock().unwrap().joined.get(name).cloned();
    match joined {
        Some(j) if &j.server_id == server_id => {
            let name = if behavior == Behavior::WrongName {
                format!("{name}x")
            } else {
                name.clone()
            };
            let profile = serde_json::json!({
                "id": j.uuid,
                "name": name,
                "properties": [{
                    "name": "textures",
                    "value": TEXTURES_VALUE,
                    "signature": TEXTURES_SIGNATURE,
                }],
            });
            (200, profile.to_string())
        }
        _ => (204, String::new()),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The client's half of the session protocol: `POST /session/minecraft/join`.
pub async fn client_join(
    server: SocketAddr,
    name: &str,
    uuid_undashed: &str,
    server_hash: &str,
) -> std::io::Result<u16> {
    let body = serde_json::json!({
        "accessToken": "test-access-token",
        "selectedProfile": uuid_undashed,
        "serverId": server_hash,
        // Mojang knows the name from the access token; this stand-in is told.
        "name": name,
    })
    .to_string();
    let mut stream = TcpStream::connect(server).await?;
    let request = format!(
        "POST /session/minecraft/join HTTP/1.1\r\nhost: {server}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(status)
}
