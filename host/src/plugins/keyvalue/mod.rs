//! Key-value buckets for plugins: `wasi:keyvalue` 0.2.0-draft (`store`,
//! `atomics`, `batch`) and the contract's `keyvalue-ext` (keys that expire,
//! bounded holders, waiting lines), on the embedded store (`memory`, the
//! default) or a Redis/Valkey server every replica shares (`redis`).
//!
//! - **Granted per plugin.** `[plugin_runtime.grants.<name>] keyvalue =
//!   ["seats"]` names the buckets a plugin may `open`; any other gets
//!   `access-denied`, and the router logs a WARN naming the plugin, the bucket
//!   and the key to change (at most one per plugin every ten seconds). Two
//!   plugins share a bucket only when the operator names it for both: a bucket
//!   is a namespace (`passage:kv:<bucket>:<key>` in Redis).
//! - **Bounded.** Keys, values, batches, holders and lines are checked against
//!   the limits below before anything is stored, copied or sent; a plugin
//!   instance holds at most [`MAX_OPEN_BUCKETS`] handles.
//! - **Never longer than the plugin's call.** Each operation is cut at
//!   `plugin_runtime.keyvalue.timeout_ms`, and at half the plugin's call
//!   deadline: a store that does not answer fails the operation inside the
//!   plugin (`error::other("store unavailable: ...")`), which decides what to
//!   do, and the router keeps serving.
//! - **Seen.** `passage_keyvalue_calls_total{plugin,op,outcome}`,
//!   `passage_keyvalue_backend_up`, WARN lines when the store is unreachable
//!   (rate-limited), and `/readyz` when `ready_requires_store` is set.
//!
//! The WIT-facing host functions are in `wit`; the generated types stay there
//! and in `contract::v0_3`.

pub mod backend;
pub mod memory;
pub mod redis;
pub(crate) mod wit;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

pub use backend::{Backend, BackendError};

/// Bytes of a key (and of a holder or line member).
pub const MAX_KEY: usize = 512;
/// Bytes of a value.
pub const MAX_VALUE: usize = 64 << 10;
/// Keys in one batch call (`get-many`, `set-many`, `delete-many`).
pub const MAX_BATCH: usize = 100;
/// Largest `capacity` an `acquire` may ask for.
pub const MAX_CAPACITY: u32 = 100_000;
/// Members of one waiting line.
pub const MAX_LINE_MEMBERS: usize = 100_000;
/// Longest expiry (30 days); a longer one is refused.
pub const MAX_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// Keys in one `list-keys` page of the in-memory store (Redis's pages are
/// about as large as its `SCAN COUNT`, 100).
pub const LIST_PAGE: usize = 1000;
/// Bucket handles one plugin instance may hold open at once.
pub const MAX_OPEN_BUCKETS: usize = 64;

/// How often the router may warn about one plugin's denied or failing calls.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The error of every key-value function, host side: `convert_error` turns it
/// into the WIT `error` (or a trap, for a handle the instance does not own).
#[derive(Debug)]
pub enum KvError {
    NoSuchStore,
    AccessDenied,
    Other(String),
    Trap(wasmtime::Error),
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        KvError::Trap(e.into())
    }
}

/// The store every plugin of this process reaches: one backend, its health,
/// and what to tell the operator about it. Shared across plugin reloads.
pub struct KeyValue {
    backend: Arc<dyn Backend>,
    timeout: Duration,
    up: AtomicBool,
    /// When each plugin was last warned about, and how many warnings were
    /// held back since.
    warned: Mutex<HashMap<WarningOf, (Instant, u64)>>,
}

/// A plugin, and what it is warned about.
type WarningOf = (Arc<str>, &'static str);

impl KeyValue {
    /// The embedded store, capped at `limit_bytes`.
    pub fn memory(limit_bytes: usize) -> Arc<KeyValue> {
        let store = Arc::new(memory::Memory::new(limit_bytes));
        if tokio::runtime::Handle::try_current().is_ok() {
            store.spawn_sweeper();
        }
        KeyValue::with_backend(store, Duration::from_millis(50))
    }

    pub fn with_backend(backend: Arc<dyn Backend>, timeout: Duration) -> Arc<KeyValue> {
        crate::metrics::metrics().keyvalue_up(true);
        Arc::new(KeyValue {
            backend,
            timeout,
            up: AtomicBool::new(true),
            warned: Mutex::new(HashMap::new()),
        })
    }

    /// The store `[plugin_runtime.keyvalue]` describes. A Redis server is
    /// connected to in the background (the router starts while it is down, and
    /// says so); a password or CA file that cannot be read stops start-up.
    pub fn from_config(config: &crate::config::KeyValue) -> anyhow::Result<Arc<KeyValue>> {
        let Some(url) = &config.url else {
            let store = KeyValue::memory(
                usize::try_from(config.memory_limit_mib << 20).unwrap_or(usize::MAX),
            );
            tracing::info!(
                limit_mib = config.memory_limit_mib,
                "key-value buckets in this process's memory (no plugin_runtime.keyvalue.url): one replica's view"
            );
            return Ok(store);
        };
        let password = match (&config.password_file, &config.password_env) {
            (Some(path), _) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| {
                        format!(
                            "plugin_runtime.keyvalue.password_file: cannot read {}",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, Some(var)) => Some(std::env::var(var).with_context(|| {
                format!("plugin_runtime.keyvalue.password_env: ${var} is not set")
            })?),
            (None, None) => None,
        };
        let ca_pem = match &config.ca_file {
            Some(path) => Some(std::fs::read(path).with_context(|| {
                format!(
                    "plugin_runtime.keyvalue.ca_file: cannot read {}",
                    path.display()
                )
            })?),
            None => None,
        };
        let backend = redis::Redis::connect(&redis::Settings {
            url: url.clone(),
            username: config.username.clone(),
            password,
            ca_pem,
            timeout: config.timeout(),
        })?;
        tracing::info!(
            url = %redis::display_url(url),
            timeout_ms = config.timeout_ms,
            "key-value buckets on Redis: every replica configured with this url shares them"
        );
        let store = KeyValue::with_backend(backend, config.timeout());
        store.spawn_health_check();
        Ok(store)
    }

    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// Whether the store answered its last check (or operation).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The longest wait for one operation of a plugin whose call deadline is
    /// `call_timeout`.
    pub fn op_timeout(&self, call_timeout: Duration) -> Duration {
        self.timeout
            .min(call_timeout / 2)
            .max(Duration::from_millis(1))
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    fn set_up(&self, up: bool, why: Option<&str>) {
        let was = self.up.swap(up, Ordering::Relaxed);
        crate::metrics::metrics().keyvalue_up(up);
        match (was, up) {
            (true, false) => tracing::warn!(
                store = self.kind(),
                "key-value store unreachable: {}; plugins' calls fail with \"store unavailable\" until it is back",
                why.unwrap_or("no answer")
            ),
            (false, true) => tracing::info!(store = self.kind(), "key-value store reachable again"),
            _ => {}
        }
    }

    /// Pings the store every second, so its health shows (log, metrics,
    /// `/readyz`) whether or not plugins call it.
    fn spawn_health_check(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { return };
                let limit = store.timeout.max(Duration::from_millis(500));
                let answer = tokio::time::timeout(limit, store.backend.ping()).await;
                match answer {
                    Ok(Ok(())) => store.set_up(true, None),
                    Ok(Err(e)) => store.set_up(false, Some(&e.to_string())),
                    Err(_) => store.set_up(
                        false,
                        Some(&format!(
                            "no answer to PING within {} ms",
                            limit.as_millis()
                        )),
                    ),
                }
            }
        });
    }

    /// Whether to log a warning of `kind` about `plugin` now; `Some(held
    /// back since the last one)` when so.
    fn may_warn(&self, plugin: &Arc<str>, kind: &'static str) -> Option<u64> {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match warned.get_mut(&(plugin.clone(), kind)) {
            Some((at, held)) if now.duration_since(*at) < WARN_EVERY => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                *at = now;
                Some(std::mem::take(held))
            }
            None => {
                // Bounded by plugins x kinds: plugin names come from files.
                warned.insert((plugin.clone(), kind), (now, 0));
                Some(0)
            }
        }
    }
}

/// One plugin instance's access to the store: the buckets its grant names.
pub struct KvAccess {
    plugin: Arc<str>,
    granted: Arc<[String]>,
    store: Arc<KeyValue>,
    op_timeout: Duration,
    open: usize,
}

impl KvAccess {
    pub fn new(
        plugin: Arc<str>,
        granted: &[String],
        store: Arc<KeyValue>,
        call_timeout: Duration,
    ) -> KvAccess {
        KvAccess {
            op_timeout: store.op_timeout(call_timeout),
            plugin,
            granted: granted.into(),
            store,
            open: 0,
        }
    }
}

/// What the guest's `bucket` handle is in the instance's resource table.
pub struct BucketHandle {
    name: Arc<str>,
}

/// How an operation ended, for `passage_keyvalue_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused before reaching the store: over a bound, or a bad argument.
    Invalid,
    /// `open` of a bucket the plugin was not granted.
    Denied,
    /// The store answered with an error.
    Error,
    /// The store could not be reached or did not answer in time.
    Unavailable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Invalid => "invalid",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
            Outcome::Unavailable => "unavailable",
        }
    }
}
