//! Test harness: starts the real `passage` binary with real plugins on a free port,
//! captures its log, and speaks the Minecraft protocol to it with an encoder of its
//! own (written from the byte layouts, not shared with the router's code).

pub mod client;
pub mod cookie;
pub mod http_stub;
pub mod nbt;
pub mod redis_server;
pub mod session_server;
pub mod tools;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The router binary built by `make test` (or `PASSAGE_BIN`).
pub fn passage_bin() -> PathBuf {
    let bin = std::env::var_os("PASSAGE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug").join("passage"));
    assert!(
        bin.is_file(),
        "{} not found: run the tests with `make test`, which builds it",
        bin.display()
    );
    bin
}

/// Reports that the calling test cannot run on this machine, and why. The reason
/// is printed and recorded in `target/test-skips/`, which `make test` counts and
/// lists at the end of the run, so a skip never passes for a pass. With
/// `PASSAGE_REQUIRE_ALL=1` (set by `.ci/run`: CI installs everything the suite
/// needs) it fails the test instead. Call it as `return skip(reason);`.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed test");
    let required = std::env::var_os("PASSAGE_REQUIRE_ALL").is_some_and(|v| v == "1");
    assert!(
        !required,
        "{test} cannot run here ({reason}), and PASSAGE_REQUIRE_ALL=1 forbids skips"
    );
    eprintln!("SKIPPED {test}: {reason}");
    let dir = target_dir().join("test-skips");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let binary = binary.split('-').next().unwrap_or_default().to_owned();
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(
            dir.join(format!("{binary}.{}", test.replace("::", "."))),
            format!("{binary}::{test}: {reason}\n"),
        );
    }
}

/// A plugin component built by `make plugins` (`name` is the crate name).
pub fn plugin_wasm(name: &str) -> PathBuf {
    let file = target_dir()
        .join("wasm32-wasip2")
        .join("plugin")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        file.is_file(),
        "{} not found: run the tests with `make test`, which builds the plugins",
        file.display()
    );
    file
}

/// A running router. Killed when dropped.
pub struct Passage {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    config_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// What to start a router with.
#[derive(Default)]
pub struct PassageSpec<'a> {
    /// Config file body (TOML); `bind` and the plugins dir are set by the harness.
    pub config: &'a str,
    /// `(file stem, wasm path)` copied into a fresh plugins directory.
    pub plugins: Vec<(&'a str, PathBuf)>,
    /// `(file name, path)`: other files copied into the plugins directory
    /// under their exact names (e.g. `<name>.wasm.minisig` signatures).
    pub files: Vec<(&'a str, PathBuf)>,
    /// Compiled-code cache directory; a fresh one when `None`.
    pub cache_dir: Option<&'a Path>,
    /// Extra environment variables (e.g. `PASSAGE_*` overrides).
    pub env: Vec<(&'a str, &'a str)>,
    /// Start with this configuration file (laid out by the test, e.g. as a
    /// Kubernetes ConfigMap mount) instead of writing `config` into a fresh one.
    pub config_file: Option<PathBuf>,
    /// Extra command-line arguments (after the harness's own).
    pub args: Vec<&'a str>,
    /// The listen address; `127.0.0.1:0` when `None`.
    pub bind: Option<&'a str>,
}

impl Passage {
    /// Starts a router and waits until it listens.
    pub fn start(spec: PassageSpec<'_>) -> Passage {
        match Passage::try_start(spec) {
            Ok(router) => router,
            Err((log, why)) => panic!("router did not start: {why}\n--- log ---\n{log}"),
        }
    }

    /// Starts a router; on failure returns its log and the reason (exit status).
    pub fn try_start(spec: PassageSpec<'_>) -> Result<Passage, (String, String)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir(&plugins_dir).expect("plugins dir");
        for (stem, wasm) in &spec.plugins {
            std::fs::copy(wasm, plugins_dir.join(format!("{stem}.wasm"))).expect("copy plugin");
        }
        for (name, file) in &spec.files {
            std::fs::copy(file, plugins_dir.join(name)).expect("copy file");
        }
        let config_path = match &spec.config_file {
            Some(path) => path.clone(),
            None => {
                let path = dir.path().join("passage.toml");
                std::fs::write(&path, spec.config).expect("write config");
                path
            }
        };
        let cache = spec
            .cache_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.path().join("cache"));
        let mut command = router_command();
        // Metrics on a free port, so routers of parallel tests never collide;
        // a test's own `env` may override these defaults.
        command
            .env("PASSAGE_METRICS__BIND", "127.0.0.1:0")
            .env("XDG_CACHE_HOME", &cache)
            .env("RUST_LOG", "passage=debug,info")
            .env("NO_COLOR", "1");
        command.envs(spec.env.iter().copied());
        let mut child = command
            .arg("--config")
            .arg(&config_path)
            .arg("--bind")
            .arg(spec.bind.unwrap_or("127.0.0.1:0"))
            .arg("--plugins-dir")
            .arg(&plugins_dir)
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn passage");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(Ok(addr)) = rest.split_whitespace().next().map(str::parse)
                {
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Passage {
                    child,
                    addr,
                    log,
                    config_path,
                    _dir: dir,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Let the reader thread drain the last lines.
                std::thread::sleep(Duration::from_millis(200));
                let text = log.lock().unwrap().clone();
                return Err((text, format!("exited with {status}")));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let text = log.lock().unwrap().clone();
                return Err((text, "did not listen within 120 s".to_owned()));
            }
        }
    }

    /// The directory the router loads plugins from (and watches).
    pub fn plugins_dir(&self) -> PathBuf {
        self._dir.path().join("plugins")
    }

    /// The configuration file the router was started with.
    pub fn config_path(&self) -> PathBuf {
        self.config_path.clone()
    }

    /// Waits (up to 20 s) until at least `n` log lines contain every one of
    /// `needles`; returns the last such line.
    pub fn wait_for_log_count(&self, needles: &[&str], n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| needles.iter().all(|needle| l.contains(needle)))
                .collect();
            if lines.len() >= n {
                return lines[n - 1].to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "fewer than {n} log lines contain {needles:?}\n--- log ---\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the router logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) for a log line containing every one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line contains {needles:?}\n--- log ---\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The router's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The router's resident memory (VmRSS from /proc), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The `/metrics` endpoint's address, from the router's log.
    pub fn metrics_addr(&self) -> SocketAddr {
        let line = self.wait_for_log(&["metrics on http://"]);
        let rest = line
            .split("metrics on http://")
            .nth(1)
            .expect("address follows");
        rest.split('/')
            .next()
            .expect("host:port")
            .parse()
            .expect("an address")
    }

    /// Sends `signal` (e.g. "TERM") to the router process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the process to exit; its exit code, `None` if
    /// still running (or killed by a signal).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Passage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The router binary, without the `PASSAGE_*` variables of the test's own
/// environment: those are the harness's settings (`PASSAGE_REQUIRE_ALL`, which
/// `.ci/run` sets, `PASSAGE_BIN`), and the router would read each as a
/// configuration override and refuse to start on the unknown key. A test gives
/// the router overrides of its own through `PassageSpec::env`.
fn router_command() -> Command {
    let mut command = Command::new(passage_bin());
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("PASSAGE_") {
            command.env_remove(var);
        }
    }
    command
}

/// Runs the router binary to completion with `args` (e.g. a bad config) and
/// returns its exit code and stderr.
pub fn run_to_exit(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let (code, _, stderr) = run_with_env(args, dir, &[]);
    (code, stderr)
}

/// Runs the binary to completion with `args` and extra environment; returns the
/// exit code, stdout and stderr.
pub fn run_with_env(
    args: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let out = router_command()
        .envs(env.iter().copied())
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run passage");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `GET path` against an HTTP/1.1 server; the status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await??;
    let text = String::from_utf8(raw)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no header end"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no status code"))?
        .parse()?;
    Ok((code, body.to_owned()))
}

// ---- the client side of the protocol, from the byte layouts ----

pub fn varint(out: &mut Vec<u8>, value: i32) {
    let mut v = value as u32;
    loop {
        if v & !0x7f == 0 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
}

pub fn string(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as i32);
    out.extend_from_slice(s.as_bytes());
}

/// Length-prefixes `id + body`.
pub fn frame(id: i32, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    varint(&mut payload, id);
    payload.extend_from_slice(body);
    let mut out = Vec::new();
    varint(&mut out, payload.len() as i32);
    out.extend_from_slice(&payload);
    out
}

pub fn handshake(protocol: i32, address: &str, port: u16, intent: i32) -> Vec<u8> {
    let mut body = Vec::new();
    varint(&mut body, protocol);
    string(&mut body, address);
    body.extend_from_slice(&port.to_be_bytes());
    varint(&mut body, intent);
    frame(0x00, &body)
}

/// Reads one frame: `(packet id, body)`.
pub async fn read_frame(stream: &mut TcpStream) -> std::io::Result<(i32, Vec<u8>)> {
    let len = read_varint(stream).await?;
    let mut payload = vec![0u8; usize::try_from(len).expect("non-negative frame length")];
    stream.read_exact(&mut payload).await?;
    let mut cursor = &payload[..];
    let id = take_varint(&mut cursor);
    Ok((id, cursor.to_vec()))
}

async fn read_varint(stream: &mut TcpStream) -> std::io::Result<i32> {
    let mut value = 0u32;
    for i in 0..5 {
        let b = stream.read_u8().await?;
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value as i32);
        }
    }
    Err(std::io::Error::other("VarInt too long"))
}

pub fn take_varint(buf: &mut &[u8]) -> i32 {
    let mut value = 0u32;
    for i in 0..5 {
        let (b, rest) = buf.split_first().expect("VarInt truncated");
        *buf = rest;
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    value as i32
}

pub fn take_string(buf: &mut &[u8]) -> String {
    let len = take_varint(buf) as usize;
    let (s, rest) = buf.split_at(len);
    *buf = rest;
    String::from_utf8(s.to_vec()).expect("UTF-8 string")
}

/// The result of a server-list ping.
#[derive(Debug)]
pub struct Ping {
    pub status: serde_json::Value,
    pub pong: i64,
    pub elapsed: Duration,
}

/// A full modern server-list ping. The handshake and the status request go out in
/// one write, as real clients often do, so they arrive in one segment.
pub async fn ping(addr: SocketAddr, protocol: i32, address: &str) -> anyhow::Result<Ping> {
    ping_with_prefix(addr, &[], protocol, address).await
}

/// A ping preceded by `prefix` (e.g. a PROXY protocol header) in the same write.
pub async fn ping_with_prefix(
    addr: SocketAddr,
    prefix: &[u8],
    protocol: i32,
    address: &str,
) -> anyhow::Result<Ping> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await?;
    let mut out = prefix.to_vec();
    out.extend(handshake(protocol, address, addr.port(), 1));
    out.extend_from_slice(&frame(0x00, &[]));
    stream.write_all(&out).await?;
    let (id, body) = read_frame(&mut stream).await?;
    anyhow::ensure!(id == 0x00, "expected Status Response (0x00), got {id:#x}");
    let mut cursor = &body[..];
    let json = take_string(&mut cursor);
    anyhow::ensure!(cursor.is_empty(), "trailing bytes after the status JSON");
    let status: serde_json::Value = serde_json::from_str(&json)?;
    let payload: i64 = 0x0102_0304_0506_0708;
    stream
        .write_all(&frame(0x01, &payload.to_be_bytes()))
        .await?;
    let (id, body) = read_frame(&mut stream).await?;
    anyhow::ensure!(id == 0x01, "expected Pong (0x01), got {id:#x}");
    let pong = i64::from_be_bytes(body[..].try_into()?);
    Ok(Ping {
        status,
        pong,
        elapsed: started.elapsed(),
    })
}

/// Reads until the router closes the connection; `Err` if it does not within `within`.
pub async fn expect_closed(stream: &mut TcpStream, within: Duration) -> anyhow::Result<Vec<u8>> {
    let mut rest = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("connection still open after {within:?}"))?;
    Ok(rest)
}

/// The `text` of a network-NBT text component (a TAG_String root, or a compound
/// root whose `text` is a TAG_String), as Configuration Disconnect carries it.
pub fn nbt_text(body: &[u8]) -> String {
    fn string_at(b: &[u8]) -> (String, usize) {
        let len = u16::from_be_bytes([b[0], b[1]]) as usize;
        (
            String::from_utf8_lossy(&b[2..2 + len]).into_owned(),
            2 + len,
        )
    }
    match body[0] {
        0x08 => string_at(&body[1..]).0,
        0x0a => {
            let mut i = 1;
            while body[i] != 0x00 {
                let tag = body[i];
                let (name, used) = string_at(&body[i + 1..]);
                i += 1 + used;
                assert_eq!(tag, 0x08, "test decoder handles string tags only");
                let (value, used) = string_at(&body[i..]);
                i += used;
                if name == "text" {
                    return value;
                }
            }
            panic!("compound without text")
        }
        other => panic!("unexpected NBT root tag {other:#x}"),
    }
}

/// An online login of `name` (1.21.1) through `passage` that must end in a
/// Transfer, presenting `cookies` as a reconnect when there are some; the
/// cookies the router stored.
pub async fn transferred_cookies(
    passage: &Passage,
    session_server: SocketAddr,
    name: &str,
    cookies: &std::collections::HashMap<String, Vec<u8>>,
) -> std::collections::HashMap<String, Vec<u8>> {
    let params = client::LoginParams::new(767, name, Some(session_server)).returning_with(cookies);
    let (id, _, stored) = client::login_to_final_packet(passage.addr, &params, "en_us")
        .await
        .unwrap_or_else(|e| panic!("login failed: {e}\n{}", passage.log()));
    assert_eq!(id, 0x0B, "transferred\n{}", passage.log());
    stored
}

/// Decodes a Transfer packet body: host string, VarInt port.
pub fn parse_transfer(body: &[u8]) -> (String, i32) {
    let mut cursor = body;
    let host = take_string(&mut cursor);
    let port = take_varint(&mut cursor);
    assert!(cursor.is_empty(), "trailing bytes after Transfer");
    (host, port)
}
