//! Warm instances of one plugin role, and calling them under a deadline.
//!
//! Instance model: each plugin role keeps up to `max_instances` instantiated
//! components, each in its own `Store`, and reuses them call after call (a call into
//! a warm instance costs microseconds; a fresh instance costs 50-120 µs). A call
//! borrows one instance exclusively, so plugins need no locking. An instance that
//! traps, exceeds its memory cap or misses its deadline is dropped (a trapped
//! component cannot be entered again) and the next call builds a fresh one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::Component;
use wasmtime::{Store, Trap};

use super::bindings::{
    Discovered, Player, StatusRequest, StatusResponse, Target, discovery, status, strategy,
};
use super::contract_v0_2::{self, Routed};
use super::host_api::HostState;
use super::runtime::{EpochGate, Runtime};

/// The roles of the contract; one component may export several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Status,
    Discovery,
    Strategy,
    /// Contract 0.2.0: discovery and selection in one call, with reservations.
    Router,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Status => "status",
            Role::Discovery => "discovery",
            Role::Strategy => "strategy",
            Role::Router => "router",
        })
    }
}

/// The contract versions the host implements; a plugin's version is told from
/// its export names (`passage:plugin/strategy@0.1.0` vs `@0.2.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contract {
    V0_1,
    V0_2,
}

impl Contract {
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }
}

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
fn bounded(mut message: String) -> String {
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
    fn returned(message: String) -> PluginError {
        PluginError::Returned(bounded(message))
    }

    /// Whether this says the plugin malfunctions (as opposed to answering with an
    /// error of its own, or not being called): these count towards its back-off.
    fn is_malfunction(&self) -> bool {
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

pub use crate::config::PluginLimits as Limits;

enum Pre {
    Status(status::StatusPluginPre<HostState>),
    Discovery(discovery::DiscoveryPluginPre<HostState>),
    Strategy(strategy::StrategyPluginPre<HostState>),
    Router(contract_v0_2::RouterPluginPre<HostState>),
    StatusV2(contract_v0_2::status::StatusPluginPre<HostState>),
    DiscoveryV2(contract_v0_2::discovery::DiscoveryPluginPre<HostState>),
    StrategyV2(contract_v0_2::strategy::StrategyPluginPre<HostState>),
}

enum Bindings {
    Status(status::StatusPlugin),
    Discovery(discovery::DiscoveryPlugin),
    Strategy(strategy::StrategyPlugin),
    Router(contract_v0_2::RouterPlugin),
    StatusV2(contract_v0_2::status::StatusPlugin),
    DiscoveryV2(contract_v0_2::discovery::DiscoveryPlugin),
    StrategyV2(contract_v0_2::strategy::StrategyPlugin),
}

/// The targets a strategy selects from, with an id that changes whenever they do.
#[derive(Debug, Clone)]
pub struct TargetSet {
    pub id: u64,
    pub targets: Vec<Target>,
}

struct Instance {
    store: Store<HostState>,
    bindings: Bindings,
    /// Which `TargetSet` a strategy instance last received.
    target_set: Option<u64>,
    /// Tells this instance from its successors: a router's reservations live in
    /// the instance that made them.
    serial: u64,
}

/// A plugin's health: call counters for the CLI, and the back-off after repeated
/// failures (Prometheus gets its own counters, in `metrics`).
#[derive(Debug, Default)]
pub struct Health {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    /// Calls that found every instance busy (not failures of the plugin).
    pub saturated: AtomicU64,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    /// Malfunctions in a row (traps, deadlines, memory cap, failed instantiation).
    in_a_row: u32,
    /// Current back-off; zero while healthy.
    backoff: Duration,
    /// Not called before this instant.
    until: Option<Instant>,
    last_error: Option<String>,
}

/// A plugin's health as shown to operators.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HealthView {
    Healthy,
    /// Failed recently, below the threshold.
    Failing {
        in_a_row: u32,
        last_error: String,
    },
    /// Backing off: calls fail at once until `retry_in_ms` passes.
    Unhealthy {
        in_a_row: u32,
        retry_in_ms: u64,
        last_error: String,
    },
}

impl Health {
    fn state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(wait)` while backing off. When the back-off has passed, calls go
    /// through again: the next outcome decides between recovery and a longer wait.
    fn blocked(&self, now: Instant) -> Option<Duration> {
        let state = self.state();
        state
            .until
            .and_then(|until| until.checked_duration_since(now))
    }

    fn succeeded(&self, plugin: &str) {
        let mut state = self.state();
        if state.in_a_row == 0 {
            return;
        }
        if state.until.is_some() {
            tracing::info!(
                plugin,
                "plugin recovered: its call succeeded after the back-off"
            );
            crate::metrics::metrics().plugin_unhealthy(plugin, false);
        }
        *state = HealthState::default();
    }

    fn failed(&self, plugin: &str, error: &PluginError, limits: &Limits) {
        let mut state = self.state();
        state.in_a_row = state.in_a_row.saturating_add(1);
        state.last_error = Some(error.to_string());
        if state.in_a_row < limits.failure_threshold {
            return;
        }
        state.backoff = if state.backoff.is_zero() {
            Duration::from_secs(1)
        } else {
            state.backoff * 2
        }
        .min(limits.max_backoff);
        state.until = Some(Instant::now() + state.backoff);
        tracing::warn!(
            plugin,
            failures_in_a_row = state.in_a_row,
            backoff_ms = state.backoff.as_millis() as u64,
            "plugin unhealthy: not called until its back-off passes (last error: {error})"
        );
        crate::metrics::metrics().plugin_unhealthy(plugin, true);
    }

    pub fn view(&self) -> HealthView {
        let state = self.state();
        let last_error = state.last_error.clone().unwrap_or_default();
        match state.until {
            Some(until) => HealthView::Unhealthy {
                in_a_row: state.in_a_row,
                retry_in_ms: until.saturating_duration_since(Instant::now()).as_millis() as u64,
                last_error,
            },
            None if state.in_a_row > 0 => HealthView::Failing {
                in_a_row: state.in_a_row,
                last_error,
            },
            None => HealthView::Healthy,
        }
    }
}

pub struct PluginPool {
    name: Arc<str>,
    role: Role,
    pre: Pre,
    config_json: String,
    limits: Limits,
    idle: Mutex<Vec<Instance>>,
    permits: Arc<Semaphore>,
    epoch: Arc<EpochGate>,
    engine: wasmtime::Engine,
    serials: AtomicU64,
    contract: Contract,
    /// The plugin's log lines, all its instances and roles together.
    log_budget: Arc<super::host_api::LogBudget>,
    pub health: Health,
}

/// One call into a plugin, with borrowed arguments.
enum Call<'r> {
    WarmUp,
    Status(&'r StatusRequest),
    Discover(&'r Player, Option<u64>),
    Select(&'r TargetSet, &'r Player),
    Route(&'r Player),
    /// A reservation, and the serial of the instance that made it.
    Release(&'r str, u64),
}

impl Call<'_> {
    /// The contract function called: a metrics label.
    fn function(&self) -> &'static str {
        match self {
            Call::WarmUp => "configure",
            Call::Status(_) => "status",
            Call::Discover(..) => "discover",
            Call::Select(..) => "select",
            Call::Route(_) => "route",
            Call::Release(..) => "release",
        }
    }
}

enum Reply {
    WarmUp,
    Status(Option<StatusResponse>),
    Discover(Result<Discovered, String>),
    Select(Result<Option<String>, String>),
    /// The answer, and the serial of the instance that gave it.
    Route(Result<Option<Routed>, String>, u64),
    Release,
}

fn wrong_reply() -> PluginError {
    PluginError::Host("plugin called through the wrong role".to_owned())
}

async fn invoke(i: &mut Instance, call: Call<'_>) -> wasmtime::Result<Reply> {
    // A strategy (either version) first gets the target set if this instance has
    // not seen it yet: the full list crosses the boundary only when it changes.
    macro_rules! select {
        ($api:expr, $set:expr, $player:expr) => {{
            let api = $api;
            if i.target_set != Some($set.id) {
                i.target_set = None;
                api.call_set_targets(&mut i.store, &$set.targets).await?;
                i.target_set = Some($set.id);
            }
            Reply::Select(api.call_select(&mut i.store, $player).await?)
        }};
    }
    // The deadline is an absolute epoch: renew it, or a reused instance would
    // yield at its first check for time spent idle.
    i.store.set_epoch_deadline(1);
    Ok(match (call, &i.bindings) {
        (Call::WarmUp, _) => Reply::WarmUp,
        (Call::Status(request), Bindings::Status(b)) => Reply::Status(
            b.passage_plugin_status()
                .call_status(&mut i.store, request)
                .await?,
        ),
        (Call::Discover(player, known), Bindings::Discovery(b)) => Reply::Discover(
            b.passage_plugin_discovery()
                .call_discover(&mut i.store, player, known)
                .await?,
        ),
        (Call::Status(request), Bindings::StatusV2(b)) => Reply::Status(
            b.passage_plugin_status()
                .call_status(&mut i.store, &contract_v0_2::adapt::status_request(request))
                .await?
                .map(contract_v0_2::adapt::status_response),
        ),
        (Call::Discover(player, known), Bindings::DiscoveryV2(b)) => Reply::Discover(
            b.passage_plugin_discovery()
                .call_discover(&mut i.store, player, known)
                .await?
                .map(contract_v0_2::adapt::discovered),
        ),
        (Call::Select(set, player), Bindings::StrategyV2(b)) => {
            select!(b.passage_plugin_strategy(), set, player)
        }
        (Call::Route(player), Bindings::Router(b)) => Reply::Route(
            b.passage_plugin_router()
                .call_route(&mut i.store, player)
                .await?,
            i.serial,
        ),
        (Call::Release(_, serial), _) if serial != i.serial => {
            // The instance that held it was replaced: its reservations went with it.
            Reply::Release
        }
        (Call::Release(reservation, _), Bindings::Router(b)) => {
            b.passage_plugin_router()
                .call_release(&mut i.store, reservation)
                .await?;
            Reply::Release
        }
        (Call::Select(set, player), Bindings::Strategy(b)) => {
            select!(b.passage_plugin_strategy(), set, player)
        }
        _ => {
            return Err(wasmtime::format_err!(
                "plugin called through the wrong role"
            ));
        }
    })
}

/// What every role of one plugin file shares.
#[derive(Clone)]
pub struct PluginSettings {
    pub name: Arc<str>,
    /// Its `[plugins.<name>]` table, as the JSON `configure` receives.
    pub config_json: String,
    pub limits: Limits,
    /// Its log lines, all instances and roles together.
    pub log_budget: Arc<super::host_api::LogBudget>,
}

impl PluginPool {
    pub fn new(
        runtime: &Runtime,
        plugin: &PluginSettings,
        role: Role,
        contract: Contract,
        component: &Component,
    ) -> anyhow::Result<PluginPool> {
        let PluginSettings {
            name,
            config_json,
            limits,
            log_budget,
        } = plugin.clone();
        use contract_v0_2 as v2;
        let pre = runtime.linker().instantiate_pre(component)?;
        let pre = match (role, contract) {
            (Role::Status, Contract::V0_1) => Pre::Status(status::StatusPluginPre::new(pre)?),
            (Role::Discovery, Contract::V0_1) => {
                Pre::Discovery(discovery::DiscoveryPluginPre::new(pre)?)
            }
            (Role::Strategy, Contract::V0_1) => {
                Pre::Strategy(strategy::StrategyPluginPre::new(pre)?)
            }
            (Role::Status, Contract::V0_2) => Pre::StatusV2(v2::status::StatusPluginPre::new(pre)?),
            (Role::Discovery, Contract::V0_2) => {
                Pre::DiscoveryV2(v2::discovery::DiscoveryPluginPre::new(pre)?)
            }
            (Role::Strategy, Contract::V0_2) => {
                Pre::StrategyV2(v2::strategy::StrategyPluginPre::new(pre)?)
            }
            (Role::Router, _) => Pre::Router(v2::RouterPluginPre::new(pre)?),
        };
        // A router keeps one instance: reservations it holds in memory then stay
        // consistent, and `release` reaches the instance that made them.
        let mut limits = limits;
        if role == Role::Router {
            limits.max_instances = 1;
        }
        Ok(PluginPool {
            name,
            role,
            pre,
            config_json,
            permits: Arc::new(Semaphore::new(limits.max_instances)),
            epoch: runtime.epoch_gate(),
            engine: runtime.engine().clone(),
            limits,
            idle: Mutex::new(Vec::new()),
            serials: AtomicU64::new(1),
            contract,
            log_budget,
            health: Health::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The contract version this role is served through.
    pub fn contract(&self) -> Contract {
        self.contract
    }

    /// Builds and configures one instance now, so a bad configuration or a
    /// component that cannot start is reported at start-up, not on a player's ping.
    pub async fn warm_up(&self) -> Result<(), PluginError> {
        self.run(Call::WarmUp).await.map(|_| ())
    }

    pub async fn status(
        &self,
        request: &StatusRequest,
    ) -> Result<Option<StatusResponse>, PluginError> {
        match self.run(Call::Status(request)).await? {
            Reply::Status(r) => Ok(r),
            _ => Err(wrong_reply()),
        }
    }

    pub async fn discover(
        &self,
        player: &Player,
        known_revision: Option<u64>,
    ) -> Result<Discovered, PluginError> {
        match self.run(Call::Discover(player, known_revision)).await? {
            Reply::Discover(r) => r.map_err(PluginError::returned),
            _ => Err(wrong_reply()),
        }
    }

    /// Selects from `set`, first handing the set to the instance if it has not seen
    /// this one yet: the full target list crosses the boundary only when it changes.
    pub async fn select(
        &self,
        set: &TargetSet,
        player: &Player,
    ) -> Result<Option<String>, PluginError> {
        match self.run(Call::Select(set, player)).await? {
            Reply::Select(r) => r.map_err(PluginError::returned),
            _ => Err(wrong_reply()),
        }
    }

    /// A router's choice for `player`, with a handle to give a reservation back.
    pub async fn route(&self, player: &Player) -> Result<Option<(Routed, u64)>, PluginError> {
        match self.run(Call::Route(player)).await? {
            Reply::Route(r, serial) => r
                .map(|routed| routed.map(|routed| (routed, serial)))
                .map_err(PluginError::returned),
            _ => Err(wrong_reply()),
        }
    }

    /// Gives a reservation back to the router instance (`serial`) that made it.
    pub async fn release(&self, reservation: &str, serial: u64) -> Result<(), PluginError> {
        self.run(Call::Release(reservation, serial))
            .await
            .map(|_| ())
    }

    /// Runs `call` on a warm instance under the plugin's deadline.
    ///
    /// Waiting for a free instance (all `max_instances` busy with other calls)
    /// is bounded by the deadline too, but apart: a plugin that is merely busy
    /// under load fails that call with [`PluginError::Busy`], which is no
    /// malfunction and never counts toward its back-off. The call itself,
    /// building an instance included, then gets the whole deadline, so a call
    /// that waited is not cut short for it.
    async fn run(&self, call: Call<'_>) -> Result<Reply, PluginError> {
        self.health.calls.fetch_add(1, Ordering::Relaxed);
        let function = call.function();
        let started = Instant::now();
        if let Some(wait) = self.health.blocked(started) {
            return Err(PluginError::Unhealthy(wait));
        }
        let metrics = crate::metrics::metrics();
        let permit = match tokio::time::timeout(
            self.limits.call_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(PluginError::Host("plugin is shutting down".to_owned())),
            Err(_) => {
                metrics.plugin_saturated(&self.name);
                self.health.saturated.fetch_add(1, Ordering::Relaxed);
                return Err(PluginError::Busy(self.limits.call_timeout));
            }
        };
        let _ticking = self.epoch.enter();
        let result = tokio::time::timeout(self.limits.call_timeout, async {
            let mut lease = self.lease(permit).await?;
            let Some(instance) = lease.instance.as_mut() else {
                return Err(PluginError::Host("lease without an instance".to_owned()));
            };
            match invoke(instance, call).await {
                Ok(reply) => {
                    lease.release();
                    Ok(reply)
                }
                // Dropping the lease drops the instance: after a trap it cannot be
                // entered again.
                Err(e) => Err(self.classify(e, &lease)),
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

    async fn lease(&self, permit: OwnedSemaphorePermit) -> Result<Lease<'_>, PluginError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let instance = match idle {
            Some(instance) => instance,
            None => self.instantiate().await?,
        };
        Ok(Lease {
            pool: self,
            instance: Some(instance),
            _permit: permit,
        })
    }

    async fn instantiate(&self) -> Result<Instance, PluginError> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(self.name.clone(), &self.limits, self.log_budget.clone()),
        );
        store.limiter(|s| s.limiter());
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let json = self.config_json.as_str();
        // Every role's bindings have the same shape (instantiate, then that role's
        // `configure`), but distinct types: one arm per (role, version).
        macro_rules! configured {
            ($pre:expr, $variant:ident, $api:ident) => {{
                let b = $pre.instantiate_async(&mut store).await?;
                let r = b.$api().call_configure(&mut store, json).await?;
                (Bindings::$variant(b), r)
            }};
        }
        let outcome: wasmtime::Result<(Bindings, Result<(), String>)> = async {
            Ok(match &self.pre {
                Pre::Status(p) => configured!(p, Status, passage_plugin_status),
                Pre::Discovery(p) => configured!(p, Discovery, passage_plugin_discovery),
                Pre::Strategy(p) => configured!(p, Strategy, passage_plugin_strategy),
                Pre::Router(p) => configured!(p, Router, passage_plugin_router),
                Pre::StatusV2(p) => configured!(p, StatusV2, passage_plugin_status),
                Pre::DiscoveryV2(p) => configured!(p, DiscoveryV2, passage_plugin_discovery),
                Pre::StrategyV2(p) => configured!(p, StrategyV2, passage_plugin_strategy),
            })
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

    fn classify(&self, e: wasmtime::Error, lease: &Lease<'_>) -> PluginError {
        let stderr = lease
            .instance
            .as_ref()
            .map(|i| i.store.data().stderr_tail())
            .unwrap_or_default();
        classify(e, self.limits.memory_limit, stderr)
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

/// Exclusive use of one instance. Dropped without `release` (an error, a timeout,
/// a cancelled connection), it discards the instance rather than reuse one whose
/// state is unknown.
struct Lease<'p> {
    pool: &'p PluginPool,
    instance: Option<Instance>,
    _permit: OwnedSemaphorePermit,
}

impl Lease<'_> {
    fn release(mut self) {
        if let Some(instance) = self.instance.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(instance);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        let mut l = crate::config::PluginRuntime::default().limits_for("p");
        l.failure_threshold = 2;
        l.max_backoff = Duration::from_secs(4);
        l
    }

    #[test]
    fn backoff_starts_at_the_threshold_doubles_and_is_capped() {
        let (h, l) = (Health::default(), limits());
        let trap = PluginError::Trap {
            trap: "x".into(),
            stderr: String::new(),
        };
        h.failed("p", &trap, &l);
        assert!(matches!(h.view(), HealthView::Failing { in_a_row: 1, .. }));
        assert!(h.blocked(Instant::now()).is_none());
        let mut waits = Vec::new();
        for _ in 0..4 {
            h.failed("p", &trap, &l);
            waits.push(h.state().backoff);
        }
        assert_eq!(
            waits,
            [1, 2, 4, 4].map(Duration::from_secs),
            "1 s, doubling, capped at max_backoff"
        );
        assert!(h.blocked(Instant::now()).is_some());
        assert!(matches!(
            h.view(),
            HealthView::Unhealthy { in_a_row: 5, .. }
        ));
        h.succeeded("p");
        assert!(matches!(h.view(), HealthView::Healthy));
        assert!(h.blocked(Instant::now()).is_none());
    }

    #[test]
    fn only_malfunctions_count() {
        assert!(PluginError::Timeout(Duration::from_millis(1)).is_malfunction());
        assert!(PluginError::MemoryLimit(1).is_malfunction());
        assert!(!PluginError::Returned("no".into()).is_malfunction());
        assert!(!PluginError::Unhealthy(Duration::from_secs(1)).is_malfunction());
        assert!(!PluginError::Busy(Duration::from_secs(1)).is_malfunction());
    }
}
