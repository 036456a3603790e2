//! The wasmtime engine: epoch ticker for call deadlines, and compiled-code caching so
//! a restart loads plugins in milliseconds instead of recompiling them.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, EngineWeak};

use super::code_cache::CodeCache;
use super::host_api::{self, HostServices, HostState};

/// How often the engine's epoch advances. A call that runs longer than one tick
/// yields to tokio, so a looping plugin never holds a worker thread for longer, and
/// the per-call deadline (a tokio timeout) can fire.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// How long the ticker keeps ticking after the last plugin call ended.
const EPOCH_LINGER: Duration = Duration::from_millis(200);

/// Largest `.wasm` file accepted (Python and JS components are around 20 MB).
const MAX_WASM_BYTES: u64 = 256 << 20;

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    /// `None`: every start compiles (no trustworthy directory).
    cache: Option<CodeCache>,
    epoch: Arc<EpochGate>,
    /// What the host offers every plugin it runs (shared across reloads).
    services: Arc<HostServices>,
}

/// Runs the epoch ticker only while plugins are in use, so an idle router does not
/// wake up 500 times a second, and a busy one does not pay a thread wake-up per call.
///
/// The ticker keeps ticking for [`EPOCH_LINGER`] after the last call ended before it
/// parks: under load it never parks, and `enter` is two atomic operations. Waking it
/// on every call instead (the first design) cost a futex wake and a context switch per
/// status ping, measured as several percent of the router's CPU in BENCHMARKS.md.
#[derive(Default)]
pub struct EpochGate {
    active: AtomicUsize,
    /// Set by the ticker just before it parks; whoever clears it must unpark it.
    parked: AtomicBool,
    ticker: OnceLock<std::thread::Thread>,
}

/// Keeps the epoch ticking while alive: held for the duration of a plugin call.
pub struct ActiveCall(Arc<EpochGate>);

impl EpochGate {
    pub fn enter(self: &Arc<Self>) -> ActiveCall {
        // SeqCst on both sides (here and in the ticker's park protocol): either the
        // ticker sees `active > 0` on its re-check, or we see `parked` and wake it.
        self.active.fetch_add(1, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst)
            && self.parked.swap(false, Ordering::SeqCst)
            && let Some(t) = self.ticker.get()
        {
            t.unpark();
        }
        ActiveCall(self.clone())
    }

    /// The ticker's side of the protocol: parks until a call starts (or `max`
    /// passes), unless one started meanwhile.
    fn park_while_idle(&self, max: Duration) {
        self.parked.store(true, Ordering::SeqCst);
        if self.active.load(Ordering::SeqCst) == 0 {
            std::thread::park_timeout(max);
        }
        self.parked.store(false, Ordering::SeqCst);
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a component's native code came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    Cache,
    Compiled,
}

impl Runtime {
    /// A runtime caching compiled code in `cache_dir`, if given and trustworthy
    /// (otherwise a WARN says why, and plugins are compiled at every start).
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let epoch = Arc::new(EpochGate::default());
        spawn_epoch_ticker(engine.weak(), epoch.clone())
            .context("cannot start the plugin epoch thread")?;
        let linker = host_api::linker(&engine)?;
        let cache = match cache_dir {
            None => {
                tracing::warn!(
                    "compiled-code cache off: no plugin_runtime.cache_dir, XDG_CACHE_HOME or HOME; plugins are compiled at every start"
                );
                None
            }
            Some(dir) => match CodeCache::open(dir) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    tracing::warn!(
                        "compiled-code cache off, plugins are compiled at every start: {e:#}"
                    );
                    None
                }
            },
        };
        Ok(Runtime {
            engine,
            linker,
            cache,
            epoch,
            services: Arc::default(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn services(&self) -> Arc<HostServices> {
        self.services.clone()
    }

    pub fn epoch_gate(&self) -> Arc<EpochGate> {
        self.epoch.clone()
    }

    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// Loads a component, from the compiled-code cache when it holds this exact
    /// file compiled by this exact engine configuration, else by compiling it (and
    /// filling the cache). Blocking: run it off the async workers.
    pub fn load_component(&self, path: &Path) -> anyhow::Result<(Component, CodeSource)> {
        let wasm = read_wasm(path)?;
        self.component_from_bytes(&wasm, &Sha256::digest(&wasm).into(), path)
    }

    /// [`Runtime::load_component`] for bytes already read and hashed (`sha256` is
    /// their SHA-256, the cache key; `path` names them in messages). Blocking: run
    /// it off the async workers.
    pub fn component_from_bytes(
        &self,
        wasm: &[u8],
        sha256: &[u8; 32],
        path: &Path,
    ) -> anyhow::Result<(Component, CodeSource)> {
        let key = self.cache_key(sha256);
        if let Some(cache) = &self.cache {
            match cache.load(&key) {
                Ok(Some(artifact)) => {
                    // SAFETY: `deserialize` must only see bytes produced by
                    // `precompile_component` of a compatible engine, because they
                    // are loaded as native code. This entry was written by
                    // `CodeCache::store` below: its name binds it to the wasm file's
                    // hash, the wasmtime version and this engine's compatibility
                    // hash (and wasmtime re-checks version and configuration in the
                    // header); its SHA-256 prefix rules out truncation or
                    // corruption since; and `CodeCache::load` checked that the entry
                    // and its directory are owned and writable only by the user
                    // running Passage, who could equally replace the Passage
                    // binary itself.
                    match unsafe { Component::deserialize(&self.engine, &artifact) } {
                        Ok(component) => return Ok((component, CodeSource::Cache)),
                        Err(e) => tracing::warn!(
                            entry = %key,
                            "ignoring compiled-code cache entry: {e:?}"
                        ),
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    dir = %cache.dir().display(),
                    entry = %key,
                    "ignoring compiled-code cache entry, compiling instead: {e:#}"
                ),
            }
        }
        let started = Instant::now();
        let artifact = self
            .engine
            .precompile_component(wasm)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
            .with_context(|| format!("{} is not a valid WebAssembly component", path.display()))?;
        tracing::debug!(file = %path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "compiled plugin");
        // SAFETY: `artifact` was produced a moment ago by `precompile_component` of
        // this very engine, which is the input `deserialize` requires.
        let component = unsafe { Component::deserialize(&self.engine, &artifact) }
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if let Some(cache) = &self.cache
            && let Err(e) = cache.store(&key, &artifact)
        {
            tracing::warn!(dir = %cache.dir().display(), "cannot write the compiled-code cache: {e:#}");
        }
        Ok((component, CodeSource::Compiled))
    }

    /// File name of a cache entry: the wasm file's SHA-256, the wasmtime version and
    /// the engine's compatibility hash (target, tunables, enabled features), so an
    /// entry is only ever read back by an engine that could have written it.
    fn cache_key(&self, sha256: &[u8; 32]) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        format!(
            "{}-wasmtime{}-{:016x}.cwasm",
            hex(sha256),
            wasmtime_version(),
            h.finish()
        )
    }
}

/// Reads a `.wasm` file, refusing one over [`MAX_WASM_BYTES`] before reading it.
pub fn read_wasm(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_WASM_BYTES {
        bail!(
            "{} is {size} bytes, over the limit of {MAX_WASM_BYTES}",
            path.display()
        );
    }
    let mut wasm = Vec::with_capacity(size as usize);
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_WASM_BYTES + 1), &mut wasm)
        })
        .with_context(|| format!("cannot read {}", path.display()))?;
    if wasm.len() as u64 > MAX_WASM_BYTES {
        bail!(
            "{} grew over the limit of {MAX_WASM_BYTES} bytes",
            path.display()
        );
    }
    Ok(wasm)
}

/// Advances the epoch every tick while plugin calls are active or ended less than
/// [`EPOCH_LINGER`] ago, until the engine is gone. A missed unpark cannot strand a
/// call: `unpark` before `park` makes the next `park` return at once, and the park
/// is bounded anyway.
fn spawn_epoch_ticker(engine: EngineWeak, gate: Arc<EpochGate>) -> std::io::Result<()> {
    let handle = std::thread::Builder::new()
        .name("passage-epoch".to_owned())
        .spawn({
            let gate = gate.clone();
            move || {
                let mut last_active = Instant::now();
                while let Some(engine) = engine.upgrade() {
                    if gate.active.load(Ordering::SeqCst) > 0 {
                        last_active = Instant::now();
                    } else if last_active.elapsed() >= EPOCH_LINGER {
                        drop(engine);
                        gate.park_while_idle(Duration::from_secs(1));
                        last_active = Instant::now();
                        continue;
                    }
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            }
        })?;
    let _ = gate.ticker.set(handle.thread().clone());
    Ok(())
}

fn wasmtime_version() -> &'static str {
    // The `wasmtime` crate does not export its version; the lockfile pins it and
    // the compatibility hash covers configuration, so the major line is enough to
    // keep entries of different majors apart in a shared directory.
    "48"
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
