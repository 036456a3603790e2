//! What a plugin instance can reach: the `log` import, a WASI context that grants
//! nothing (no files, sockets, environment or arguments; stdout discarded; the tail of
//! stderr kept so a panic message can be logged), and `wasi:http` outbound requests
//! to exactly the hosts the operator granted it (none by default; `outbound_http`
//! sends them), and the key-value buckets its grant names (`keyvalue`).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime::ResourceLimiter;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::http_grant::HttpGrant;
use super::keyvalue::{KeyValue, KvAccess, wit::KvView};
use super::limiter::PluginLimiter;
use super::outbound_http::OutboundHttp;

use super::contract::{v0_1, v0_3};
use super::types::Target;
use v0_1::log::Level;

/// Longest log message a plugin can write; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 4096;
/// Log lines a plugin may write per second, all its instances together, and at
/// once after a quiet spell. Past that, lines are dropped and counted, and the
/// count is logged once the budget allows again.
const LOG_LINES_PER_SECOND: f64 = 50.0;
const LOG_BURST: f64 = 200.0;
/// How much of a plugin's stderr is kept for the next failure report.
const STDERR_TAIL: usize = 2048;

/// The state of one plugin instance's store.
pub struct HostState {
    plugin: Arc<str>,
    log_budget: Arc<LogBudget>,
    services: Arc<HostServices>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: PluginLimiter,
    stderr: StderrTail,
    http: WasiHttpCtx,
    http_hooks: OutboundHttp,
    keyvalue: KvAccess,
}

impl HostState {
    pub fn new(
        plugin: Arc<str>,
        limits: &crate::config::PluginLimits,
        log_budget: Arc<LogBudget>,
        services: Arc<HostServices>,
    ) -> HostState {
        let memory_limit = limits.memory_limit;
        let plugin_name = plugin.clone();
        let stderr = StderrTail::default();
        // A default WasiCtx has no preopened directories, no environment, no
        // arguments and denies every socket address; only clocks and random remain,
        // which the Rust/Python/JS runtimes need to start.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let keyvalue = KvAccess::new(
            plugin.clone(),
            &limits.keyvalue,
            services.keyvalue(),
            limits.call_timeout,
        );
        HostState {
            plugin,
            log_budget,
            services,
            wasi,
            table: ResourceTable::new(),
            limits: PluginLimiter::new(memory_limit),
            stderr,
            http: WasiHttpCtx::new(),
            http_hooks: OutboundHttp {
                plugin: plugin_name,
                grant: HttpGrant::new(&limits.http_allow, limits.allow_private_networks),
                max_wait: limits.call_timeout,
            },
            keyvalue,
        }
    }

    /// What the key-value functions work on: the grant, the store, the table.
    pub(crate) fn keyvalue(&mut self) -> KvView<'_> {
        KvView {
            access: &mut self.keyvalue,
            table: &mut self.table,
        }
    }

    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }

    /// The last bytes the plugin wrote to stderr (e.g. a Rust panic message).
    pub fn stderr_tail(&self) -> String {
        self.stderr.text()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl v0_1::log::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.plugin;
        match self.log_budget.take() {
            Budget::Spent => return,
            Budget::Granted { dropped: 0 } => {}
            Budget::Granted { dropped } => tracing::warn!(
                plugin,
                dropped,
                "plugin log lines dropped: over {LOG_LINES_PER_SECOND} lines a second"
            ),
        }
        // One plugin line is one log line: newlines and other control
        // characters are escaped, so a plugin cannot forge lines of the router.
        let message = escape_controls(truncate(&message, MAX_LOG_MESSAGE));
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// What the host offers plugins beyond their own instance, shared by all of
/// them: set once the router's services exist.
#[derive(Default)]
pub struct HostServices {
    network: std::sync::OnceLock<Arc<dyn NetworkView>>,
    keyvalue: std::sync::OnceLock<Arc<KeyValue>>,
}

/// The network as the routing service holds it (for `network.targets`).
pub trait NetworkView: Send + Sync {
    /// The discovered targets, refreshed when older than a second.
    fn targets(&self) -> Pin<Box<dyn std::future::Future<Output = Vec<Target>> + Send + '_>>;
}

impl HostServices {
    /// Connects `network.targets` to the routing service (once).
    pub fn set_network(&self, view: Arc<dyn NetworkView>) {
        let _ = self.network.set(view);
    }

    /// Puts the granted buckets in `store` (once, before plugins load); a
    /// process that never does gets the embedded store with its default cap.
    pub fn set_keyvalue(&self, store: Arc<KeyValue>) -> Result<(), Arc<KeyValue>> {
        self.keyvalue.set(store)
    }

    /// The key-value store plugins reach.
    pub fn keyvalue(&self) -> Arc<KeyValue> {
        self.keyvalue
            .get_or_init(|| KeyValue::memory(64 << 20))
            .clone()
    }
}

impl v0_3::network::Host for HostState {
    async fn targets(&mut self) -> Vec<Target> {
        match self.services.network.get() {
            Some(view) => view.targets().await,
            None => Vec::new(),
        }
    }
}

/// Links everything a plugin may import: WASI (granting nothing, see `HostState`),
/// `wasi:http` (reaching only what a grant allows) and the contract's imports of
/// every version.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // Linked for every plugin; only a grant lets a request leave (`OutboundHttp`).
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    super::contract::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A plugin's log lines, all its instances together: a token bucket.
#[derive(Debug)]
pub struct LogBudget(Mutex<LogBucket>);

#[derive(Debug)]
struct LogBucket {
    tokens: f64,
    refilled: std::time::Instant,
    dropped: u64,
}

enum Budget {
    Spent,
    /// May log; `dropped` lines were dropped since the last one that could.
    Granted {
        dropped: u64,
    },
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget(Mutex::new(LogBucket {
            tokens: LOG_BURST,
            refilled: std::time::Instant::now(),
            dropped: 0,
        }))
    }
}

impl LogBudget {
    fn take(&self) -> Budget {
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        let elapsed = now.saturating_duration_since(b.refilled).as_secs_f64();
        b.tokens = (b.tokens + elapsed * LOG_LINES_PER_SECOND).min(LOG_BURST);
        b.refilled = now;
        if b.tokens < 1.0 {
            b.dropped += 1;
            return Budget::Spent;
        }
        b.tokens -= 1.0;
        Budget::Granted {
            dropped: std::mem::take(&mut b.dropped),
        }
    }
}

/// `\n`, `\r`, `\t` and other control characters written as escapes.
fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Keeps the last `STDERR_TAIL` bytes written: a chatty plugin can neither fill
/// memory nor be trapped for writing too much.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<Vec<u8>>>);

impl StderrTail {
    fn text(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // One log line per failure: fold the panic message's lines together.
        String::from_utf8_lossy(&buf)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        buf.extend_from_slice(data);
        if buf.len() > STDERR_TAIL {
            let excess = buf.len() - STDERR_TAIL;
            buf.drain(..excess);
        }
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(
            escape_controls("a\n2026-01-01T00:00:00Z ERROR forged\r\t\u{1b}[31m"),
            "a\\n2026-01-01T00:00:00Z ERROR forged\\r\\t\\u{1b}[31m"
        );
    }

    #[test]
    fn the_log_budget_drops_past_its_burst_and_counts() {
        let budget = LogBudget::default();
        for _ in 0..LOG_BURST as usize {
            assert!(matches!(budget.take(), Budget::Granted { dropped: 0 }));
        }
        for _ in 0..10 {
            assert!(matches!(budget.take(), Budget::Spent));
        }
        // A refill later, the next line that passes reports the ten dropped.
        budget.0.lock().unwrap().refilled -= std::time::Duration::from_secs(1);
        assert!(matches!(budget.take(), Budget::Granted { dropped: 10 }));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
