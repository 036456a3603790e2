//! What a plugin instance can reach: the `log` import, and a WASI context that grants
//! nothing (no files, sockets, environment or arguments; stdout discarded; the tail of
//! stderr kept so a panic message can be logged).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{self, Level};

/// Longest log message a plugin can write; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 4096;
/// How much of a plugin's stderr is kept for the next failure report.
const STDERR_TAIL: usize = 2048;

/// The state of one plugin instance's store.
pub struct HostState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    stderr: StderrTail,
}

impl HostState {
    pub fn new(plugin: Arc<str>, memory_limit: usize) -> HostState {
        let stderr = StderrTail::default();
        // A default WasiCtx has no preopened directories, no environment, no
        // arguments and denies every socket address; only clocks and random remain,
        // which the Rust/Python/JS runtimes need to start.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        HostState {
            plugin,
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .instances(16)
                .tables(64)
                .memories(16)
                // Report an over-limit grow as a trap we can name, instead of
                // letting the guest see a failed grow and abort in some other way.
                .trap_on_grow_failure(true)
                .build(),
            stderr,
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

impl bindings::discovery::passage::plugin::types::Host for HostState {}

impl bindings::discovery::passage::plugin::log::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let message = truncate(&message, MAX_LOG_MESSAGE);
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// Links everything a plugin may import: WASI (granting nothing, see `HostState`)
/// and the `log` interface.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    bindings::discovery::passage::plugin::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    bindings::discovery::passage::plugin::types::add_to_linker::<_, HasSelf<_>>(
        &mut linker,
        |s| s,
    )?;
    Ok(linker)
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
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
