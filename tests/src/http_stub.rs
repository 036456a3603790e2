//! A real local HTTP/1.1 server for the tests' plugins to call (through the
//! router's `wasi:http`): it answers every path with the current status and body
//! (or the answer set for that path), records requests (method, path, body), and holds requests to `/gate/<key>` until the test opens that
//! gate, so a test decides exactly when a plugin call ends — no sleeps. A request
//! to `/delay/<ms>/...` is answered after that many milliseconds: a slow backend
//! for a plugin to call, not a way to synchronize a test.
//!
//! It runs on a thread and runtime of its own, so it keeps answering while the
//! test's own runtime is blocked (the log waits of [`Passage`](crate::Passage)
//! block their thread).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    answer: (u16, String),
    /// Answers for particular paths, instead of `answer`.
    routes: HashMap<String, (u16, String)>,
    hits: usize,
    paths: Vec<String>,
    /// `(method, path, body)` of every request, in order.
    requests: Vec<(String, String, Vec<u8>)>,
    /// Gates a request is parked at, with how many are parked there.
    waiting: HashMap<String, usize>,
    open: HashSet<String>,
}

#[derive(Clone, Default)]
struct Shared {
    state: Arc<Mutex<State>>,
    /// Woken on every change: a request arrived, a gate opened.
    changed: Arc<Notify>,
}

pub struct HttpStub {
    pub addr: SocketAddr,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl HttpStub {
    /// Starts on a free loopback port, answering `200` with `body`.
    pub async fn start(body: &str) -> HttpStub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("addr");
        let shared = Shared::default();
        shared.state.lock().unwrap().answer = (200, body.to_owned());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn({
            let shared = shared.clone();
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("listener");
                    let accept = async {
                        while let Ok((stream, _)) = listener.accept().await {
                            tokio::spawn(serve(stream, shared.clone()));
                        }
                    };
                    tokio::select! {
                        () = accept => {}
                        _ = stopped => {}
                    }
                });
            }
        });
        HttpStub {
            addr,
            shared,
            stop: Some(stop),
        }
    }

    /// `http://<addr>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every later request gets this answer.
    pub fn set(&self, status: u16, body: &str) {
        self.shared.state.lock().unwrap().answer = (status, body.to_owned());
    }

    /// Requests to `path` (exactly, query included) get this answer instead.
    pub fn set_route(&self, path: &str, status: u16, body: &str) {
        self.shared
            .state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), (status, body.to_owned()));
        self.shared.changed.notify_waiters();
    }

    /// `(method, path, body)` of the requests so far, in order.
    pub fn requests(&self) -> Vec<(String, String, Vec<u8>)> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    /// Waits until a `method` request to `path` arrived.
    pub async fn wait_for_request(&self, method: &str, path: &str) {
        self.wait(Duration::from_secs(20), &format!("{method} {path}"), |s| {
            s.requests.iter().any(|(m, p, _)| m == method && p == path)
        })
        .await;
    }

    /// Requests answered or parked so far.
    pub fn hits(&self) -> usize {
        self.shared.state.lock().unwrap().hits
    }

    /// The paths requested so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().paths.clone()
    }

    /// Waits (up to `limit`) until `done` holds for the server's state.
    async fn wait(&self, limit: Duration, what: &str, done: impl Fn(&State) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.shared.changed.notified();
            if done(&self.shared.state.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the HTTP stub never saw {what} within {limit:?}");
            }
        }
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for_hits(&self, n: usize) {
        self.wait(Duration::from_secs(20), &format!("{n} requests"), |s| {
            s.hits >= n
        })
        .await;
    }

    /// Waits until a request is parked at `/gate/<key>`.
    pub async fn wait_parked(&self, key: &str) {
        self.wait(
            Duration::from_secs(20),
            &format!("a request parked at /gate/{key}"),
            |s| s.waiting.get(key).is_some_and(|n| *n > 0),
        )
        .await;
    }

    /// Lets every request to `/gate/<key>`, parked or later, through.
    pub fn open(&self, key: &str) {
        self.shared
            .state
            .lock()
            .unwrap()
            .open
            .insert(key.to_owned());
        self.shared.changed.notify_waiters();
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(mut stream: tokio::net::TcpStream, shared: Shared) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if request.len() > 64 * 1024 {
            return;
        }
    }
    let head_end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    // Read the body too: closing with unread bytes would reset the connection
    // under the response.
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(16 << 20);
    let mut body = request[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let method = head.split(' ').next().unwrap_or("").to_owned();
    let path = path_of(&head);
    let gate = path.strip_prefix("/gate/").map(str::to_owned);
    {
        let mut state = shared.state.lock().unwrap();
        state.hits += 1;
        state.paths.push(path.clone());
        state.requests.push((method, path.clone(), body));
        if let Some(key) = &gate {
            *state.waiting.entry(key.clone()).or_default() += 1;
        }
    }
    shared.changed.notify_waiters();
    if let Some(ms) = delay_ms(&path_of(&head)) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(key) = gate {
        loop {
            let notified = shared.changed.notified();
            if shared.state.lock().unwrap().open.contains(&key) {
                break;
            }
            notified.await;
        }
        *shared.state.lock().unwrap().waiting.entry(key).or_default() -= 1;
    }
    let (status, body) = {
        let state = shared.state.lock().unwrap();
        state.routes.get(&path).unwrap_or(&state.answer).clone()
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

fn path_of(head: &str) -> String {
    head.split(' ').nth(1).unwrap_or("/").to_owned()
}

/// `/delay/<ms>/...`: how long to wait before answering.
fn delay_ms(path: &str) -> Option<u64> {
    path.strip_prefix("/delay/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}
