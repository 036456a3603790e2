//! Warm instances of one plugin role, and calling them under a deadline: written
//! once for every role and contract version. A `Pool<R>` serves one role `R`
//! (`plugins::roles`), so a call through it is always a call of that role.
//!
//! Instance model: each pool keeps up to `max_instances` instantiated components,
//! each in its own `Store`, and reuses them call after call (a call into a warm
//! instance costs microseconds; a fresh instance costs 50-120 µs). A call borrows
//! one instance exclusively, so plugins need no locking. An instance that traps,
//! exceeds its memory cap or misses its deadline is dropped (a trapped component
//! cannot be entered again) and the next call builds a fresh one.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Store, Trap};

pub use super::contract::{Api, Role, Version};
pub use super::health::{Health, HealthView};
use super::host_api::{HostServices, HostState, LogBudget};
use super::runtime::{EpochGate, Runtime};

pub use crate::config::PluginLimits as Limits;

/// Why a plugin call produced no answer. Every variant is logged with the plugin's
/// name; none of them reaches the player as anything but the host's fallback.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("missed its deadline of {0:?}")]
    Timeout(Duration),
    #[error("exceeded its memory limit of {0} MiB")]
    MemoryLimit(usize),
    #[error("trapped: {trap}{}", stderr_suffix(.stderr))]
    Trap { trap: String, stderr: String },
    #[error("rejected its configuration: {0}")]
    Config(String),
    #[error("returned an error: {0}")]
    Returned(String),
    #[error("failed: {0}")]
    Host(String),
    #[error("is unhealthy after repeated failures; next try in {0:?}")]
    Unhealthy(Duration),
    #[error("is busy: no instance came free within {0:?} (max_instances are all in use)")]
    Busy(Duration),
}

/// Bytes kept of an error message a plugin returns (it goes into log lines).
const MAX_PLUGIN_MESSAGE: usize = 1024;

/// `message` cut to [`MAX_PLUGIN_MESSAGE`] bytes at a character boundary.
pub(super) fn bounded(mut message: String) -> String {
    if message.len() > MAX_PLUGIN_MESSAGE {
        let mut end = MAX_PLUGIN_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    message
}

impl PluginError {
    /// The plugin answered with an error message of its own.
    pub(super) fn returned(message: String) -> PluginError {
        PluginError::Returned(bounded(message))
    }

    /// A fixed word for what went wrong (trace status, metrics-like labels).
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Timeout(_) => "timeout",
            PluginError::MemoryLimit(_) => "memory_limit",
            PluginError::Trap { .. } => "trap",
            PluginError::Config(_) => "config",
            PluginError::Returned(_) => "returned_error",
            PluginError::Host(_) => "host_error",
            PluginError::Unhealthy(_) => "unhealthy",
            PluginError::Busy(_) => "busy",
        }
    }

    /// Whether this says the plugin malfunctions (as opposed to answering with an
    /// error of its own, being busy, or not being called): these count towards its
    /// back-off.
    pub(super) fn is_malfunction(&self) -> bool {
        !matches!(
            self,
            PluginError::Returned(_) | PluginError::Unhealthy(_) | PluginError::Busy(_)
        )
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {stderr})")
    }
}

/// What every role of one plugin file shares.
#[derive(Clone)]
pub struct PluginSettings {
    pub name: Arc<str>,
    /// Its `[plugins.<name>]` table, as the JSON `configure` receives.
    pub config_json: String,
    pub limits: Limits,
    /// Its log lines, all instances and roles together.
    pub log_budget: Arc<LogBudget>,
    /// What the host offers plugins beyond their own instance (the network's
    /// targets, for live status).
    pub services: Arc<HostServices>,
}

/// A role of the contract as one pool serves it: how to bind a component for it
/// at each version, and how to build and configure an instance.
pub trait RoleKind: Send + Sync + 'static {
    const ROLE: Role;
    /// The component bound for this role at one version.
    type Pre: Send + Sync + 'static;
    /// One instance's bindings.
    type Bindings: Send + 'static;

    fn pre(pre: InstancePre<HostState>, api: Api) -> anyhow::Result<Self::Pre>;

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Bindings>> + Send;

    fn configure(
        bindings: &Self::Bindings,
        store: &mut Store<HostState>,
        config: &str,
    ) -> impl Future<Output = wasmtime::Result<Result<(), String>>> + Send;
}

pub struct Instance<R: RoleKind> {
    pub(super) store: Store<HostState>,
    pub(super) bindings: R::Bindings,
    /// Which target set a strategy instance last received.
    pub(super) target_set: Option<u64>,
    /// Tells this instance from its successors: a router's reservations live in
    /// the instance that made them.
    pub(super) serial: u64,
}

pub struct Pool<R: RoleKind> {
    name: Arc<str>,
    api: Api,
    pre: R::Pre,
    config_json: String,
    limits: Limits,
    idle: Mutex<Vec<Instance<R>>>,
    permits: Arc<Semaphore>,
    epoch: Arc<EpochGate>,
    engine: wasmtime::Engine,
    serials: AtomicU64,
    log_budget: Arc<LogBudget>,
    services: Arc<HostServices>,
    pub health: Health,
}

/// A call's right to an instance: its permit, and the instance once leased.
pub(super) struct Attempt<'p, R: RoleKind> {
    pool: &'p Pool<R>,
    instance: Option<Instance<R>>,
    _permit: OwnedSemaphorePermit,
}

impl<R: RoleKind> Pool<R> {
    pub fn new(
        runtime: &Runtime,
        plugin: &PluginSettings,
        api: Api,
        component: &Component,
    ) -> anyhow::Result<Pool<R>> {
        let pre = R::pre(runtime.linker().instantiate_pre(component)?, api)?;
        let mut limits = plugin.limits.clone();
        // A router keeps one instance: reservations it holds in memory then stay
        // consistent, and `release` reaches the instance that made them.
        if R::ROLE == Role::Router {
            limits.max_instances = 1;
        }
        Ok(Pool {
            name: plugin.name.clone(),
            api,
            pre,
            config_json: plugin.config_json.clone(),
            permits: Arc::new(Semaphore::new(limits.max_instances)),
            epoch: runtime.epoch_gate(),
            engine: runtime.engine().clone(),
            limits,
            idle: Mutex::new(Vec::new()),
            serials: AtomicU64::new(1),
            log_budget: plugin.log_budget.clone(),
            services: plugin.services.clone(),
            health: Health::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        R::ROLE
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The contract version this role is served through.
    pub fn contract(&self) -> Version {
        self.api.contract()
    }

    /// Builds and configures one instance now, so a bad configuration or a
    /// component that cannot start is reported at start-up, not on a player's ping.
    pub async fn warm_up(&self) -> Result<(), PluginError> {
        self.call("configure", async |_| Ok(())).await
    }

    /// Runs `work` on an instance under the plugin's deadline.
    ///
    /// Waiting for a free instance (all `max_instances` busy with other calls)
    /// is bounded by the deadline too, but apart: a plugin that is merely busy
    /// under load fails that call with [`PluginError::Busy`], which is no
    /// malfunction and never counts toward its back-off. The call itself,
    /// building an instance included, then gets the whole deadline, so a call
    /// that waited is not cut short for it.
    ///
    /// `work` answers `Ok(Err(message))` when the plugin returned an error of its
    /// own, `Err` when it trapped.
    pub(super) async fn call<T>(
        &self,
        function: &'static str,
        work: impl AsyncFnOnce(&mut Instance<R>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        // A step of the connection's trace (when traces are exported).
        let span = tracing::debug_span!("plugin", otel.name = function, plugin = %self.name);
        let result = self
            .call_in_span(function, work)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            crate::telemetry::failed(&span, e.kind());
        }
        result
    }

    async fn call_in_span<T>(
        &self,
        function: &'static str,
        work: impl AsyncFnOnce(&mut Instance<R>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        self.health.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        if let Some(wait) = self.health.blocked(started) {
            return Err(PluginError::Unhealthy(wait));
        }
        let metrics = crate::metrics::metrics();
        let mut attempt = self.attempt().await?;
        let _ticking = self.epoch.enter();
        let result = tokio::time::timeout(self.limits.call_timeout, async {
            let instance = attempt.instance().await?;
            // The deadline is an absolute epoch: renew it, or a reused instance
            // would yield at its first check for time spent idle.
            instance.store.set_epoch_deadline(1);
            match work(instance).await {
                Ok(answer) => {
                    attempt.release();
                    Ok(answer)
                }
                // Dropping the attempt drops the instance: after a trap it
                // cannot be entered again.
                Err(e) => Err(attempt.classify(e)),
            }
        })
        .await
        .unwrap_or(Err(PluginError::Timeout(self.limits.call_timeout)));
        metrics.plugin_call(&self.name, function, started.elapsed());
        match &result {
            Ok(_) => self.health.succeeded(&self.name),
            Err(e) => {
                self.health.failures.fetch_add(1, Ordering::Relaxed);
                if e.is_malfunction() {
                    self.health.failed(&self.name, e, &self.limits);
                }
                match e {
                    PluginError::Timeout(_) => metrics.plugin_deadline(&self.name),
                    PluginError::Trap { .. } | PluginError::MemoryLimit(_) => {
                        metrics.plugin_trap(&self.name)
                    }
                    _ => {}
                }
            }
        }
        result
    }

    /// Waits for a free instance, at most the call deadline (then: busy).
    async fn attempt(&self) -> Result<Attempt<'_, R>, PluginError> {
        // The common case, an instance free now, without arming a timer.
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(Attempt {
                pool: self,
                instance: None,
                _permit: permit,
            });
        }
        match tokio::time::timeout(
            self.limits.call_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(Attempt {
                pool: self,
                instance: None,
                _permit: permit,
            }),
            Ok(Err(_)) => Err(PluginError::Host("plugin is shutting down".to_owned())),
            Err(_) => {
                crate::metrics::metrics().plugin_saturated(&self.name);
                self.health.saturated.fetch_add(1, Ordering::Relaxed);
                Err(PluginError::Busy(self.limits.call_timeout))
            }
        }
    }

    async fn instantiate(&self) -> Result<Instance<R>, PluginError> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(
                self.name.clone(),
                &self.limits,
                self.log_budget.clone(),
                self.services.clone(),
            ),
        );
        store.limiter(|s| s.limiter());
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let outcome: wasmtime::Result<(R::Bindings, Result<(), String>)> = async {
            let bindings = R::instantiate(&self.pre, &mut store).await?;
            let configured = R::configure(&bindings, &mut store, &self.config_json).await?;
            Ok((bindings, configured))
        }
        .await;
        match outcome {
            Ok((bindings, Ok(()))) => Ok(Instance {
                store,
                bindings,
                target_set: None,
                serial: self.serials.fetch_add(1, Ordering::Relaxed),
            }),
            Ok((_, Err(message))) => Err(PluginError::Config(bounded(message))),
            Err(e) => Err(classify(
                e,
                self.limits.memory_limit,
                store.data().stderr_tail(),
            )),
        }
    }
}

impl<R: RoleKind> Attempt<'_, R> {
    /// The leased instance: an idle one, else a fresh one.
    async fn instance(&mut self) -> Result<&mut Instance<R>, PluginError> {
        if self.instance.is_none() {
            let idle = self
                .pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            self.instance = Some(match idle {
                Some(instance) => instance,
                None => self.pool.instantiate().await?,
            });
        }
        self.instance
            .as_mut()
            .ok_or_else(|| PluginError::Host("lease without an instance".to_owned()))
    }

    /// Gives the instance back for the next call.
    fn release(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
    }

    fn classify(&self, e: wasmtime::Error) -> PluginError {
        let stderr = self
            .instance
            .as_ref()
            .map(|i| i.store.data().stderr_tail())
            .unwrap_or_default();
        classify(e, self.pool.limits.memory_limit, stderr)
    }
}

fn classify(e: wasmtime::Error, memory_limit: usize, stderr: String) -> PluginError {
    if e.downcast_ref::<super::limiter::MemoryLimitExceeded>()
        .is_some()
    {
        return PluginError::MemoryLimit(memory_limit >> 20);
    }
    let trap = match e.downcast_ref::<Trap>() {
        Some(Trap::UnreachableCodeReached) => {
            "unreachable code reached (the plugin panicked or aborted)".to_owned()
        }
        Some(trap) => trap.to_string(),
        None => {
            return PluginError::Host(e.to_string());
        }
    };
    PluginError::Trap { trap, stderr }
}

/// What the CLI and `/plugins` show of a pool, whatever its role.
pub trait PoolView: Send + Sync {
    fn name(&self) -> &str;
    fn role(&self) -> Role;
    fn contract(&self) -> Version;
    fn limits(&self) -> &Limits;
    fn health(&self) -> &Health;
}

impl<R: RoleKind> PoolView for Pool<R> {
    fn name(&self) -> &str {
        &self.name
    }
    fn role(&self) -> Role {
        R::ROLE
    }
    fn contract(&self) -> Version {
        self.api.contract()
    }
    fn limits(&self) -> &Limits {
        &self.limits
    }
    fn health(&self) -> &Health {
        &self.health
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_malfunctions_count() {
        assert!(PluginError::Timeout(Duration::from_millis(1)).is_malfunction());
        assert!(PluginError::MemoryLimit(1).is_malfunction());
        assert!(!PluginError::Returned("no".into()).is_malfunction());
        assert!(!PluginError::Unhealthy(Duration::from_secs(1)).is_malfunction());
        assert!(!PluginError::Busy(Duration::from_secs(1)).is_malfunction());
    }

    #[test]
    fn plugin_messages_are_bounded_at_a_char_boundary() {
        let long = "é".repeat(2000);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_PLUGIN_MESSAGE + 3);
        assert!(cut.ends_with("..."));
        assert_eq!(bounded("short".to_owned()), "short");
    }
}
