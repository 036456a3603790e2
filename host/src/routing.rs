//! Choosing a backend for a player ([`Dispatcher`]): admission plugins, then
//! discovery plugins (merged, cached by revision) and the strategy plugin, or a
//! router plugin that does both; and validation of everything they return.
//!
//! What a plugin hands back is bounded here, before the host keeps, merges or
//! copies it: at most [`MAX_TARGETS`] targets per discovery answer, and per
//! target an id, host, and metadata within the limits below. (What crosses the
//! boundary at all is bounded by the plugin's memory cap.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Routing;
use crate::plugins::roles::{Admission, Router, Strategy};
use crate::plugins::types::{
    Discovered, ExtraPatch, Message, Placement, Player, PlayerContext, Selection, Target, Verdict,
    Wait,
};
use crate::plugins::{PluginError, Plugins, Pool, TargetSet};

/// Most targets one discovery plugin may list at once: a larger answer is refused
/// whole (the plugin's previous list keeps serving).
pub const MAX_TARGETS: usize = 10_000;
/// Metadata pairs one target may carry, and the bytes of each key and value.
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_KEY: usize = 64;
pub const MAX_METADATA_VALUE: usize = 1024;
/// Bytes of a router's reservation string.
pub const MAX_RESERVATION: usize = 256;

/// Why no backend was chosen. Each maps to a message for the player.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no discovery plugin is loaded")]
    NoDiscovery,
    #[error("no strategy plugin is loaded")]
    NoStrategy,
    #[error("discovery found no targets")]
    NoTargets,
    #[error("strategy `{0}` chose no target")]
    NoChoice(String),
    #[error("plugin `{plugin}` {error}")]
    Plugin { plugin: String, error: PluginError },
    #[error("strategy `{plugin}` chose `{id}`, which is not a known target")]
    UnknownTarget { plugin: String, id: String },
}

impl RouteError {
    /// Whether the cause is a plugin misbehaving (as opposed to an empty network).
    pub fn is_plugin_failure(&self) -> bool {
        matches!(
            self,
            RouteError::Plugin { .. } | RouteError::UnknownTarget { .. }
        )
    }
}

/// What one routing round decided.
pub enum Decision {
    /// Send the player here.
    Transfer(Routed),
    /// No target for this player, and the plugin's reason.
    Reject { plugin: String, message: Message },
    /// Hold the player and ask again; a router may hold a reservation meanwhile.
    Wait {
        wait: Wait,
        reservation: Option<Reservation>,
    },
}

/// A routing decision to transfer.
pub struct Routed {
    pub target: Target,
    /// The strategy or router plugin that chose it.
    pub plugin: String,
    /// Set when a router reserved the target: given back if the player is not
    /// sent there.
    pub reservation: Option<Reservation>,
    /// Changes to the player's data to store with the cookie.
    pub extra: Option<ExtraPatch>,
}

/// A router's reservation, with the way back to the instance holding it. Given
/// back to the router when dropped, unless [`Reservation::used`]: whatever path
/// a connection ends on (the player leaves, a write fails, a later answer
/// differs), a reservation that was not used is released.
pub struct Reservation {
    pool: Arc<Pool<Router>>,
    token: String,
    instance: u64,
    used: bool,
}

impl Reservation {
    /// The player was sent to the reserved target: nothing to give back.
    pub fn used(mut self) {
        self.used = true;
    }

    /// The router's own string.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Tells the router the player was not sent to the reserved target.
    pub async fn release(mut self) {
        self.used = true;
        release(&self.pool, &self.token, self.instance).await;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.used {
            return;
        }
        let (pool, token, instance) = (
            self.pool.clone(),
            std::mem::take(&mut self.token),
            self.instance,
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { release(&pool, &token, instance).await });
        }
    }
}

async fn release(pool: &Pool<Router>, token: &str, instance: u64) {
    if let Err(e) = pool.release(token, instance).await {
        tracing::warn!(plugin = pool.name(), "releasing a reservation failed: {e}");
    } else {
        tracing::debug!(plugin = pool.name(), "reservation released");
    }
}

/// The merged targets of all discovery plugins, with an index by id.
struct MergedSet {
    set: TargetSet,
    by_id: HashMap<String, usize>,
}

/// What each discovery plugin last returned.
#[derive(Clone)]
struct Discovery {
    revision: u64,
    targets: Arc<Vec<Target>>,
}

struct State {
    per_plugin: Vec<Option<Discovery>>,
    merged: Arc<MergedSet>,
    /// Revisions the current `merged` was built from.
    merged_from: Vec<Option<u64>>,
    next_set_id: u64,
    /// When discovery was last asked (for `network.targets`).
    discovered_at: Option<Instant>,
}

/// How old the discovered targets a status plugin reads may be before discovery
/// is asked again.
const NETWORK_VIEW_MAX_AGE: Duration = Duration::from_secs(1);

/// Chooses each player's backend with the plugins of one set.
pub struct Dispatcher {
    plugins: Arc<Plugins>,
    /// The admission plugins asked, in order.
    admission: Vec<Arc<Pool<Admission>>>,
    /// What chooses for hosts no pattern matches.
    default: Option<Chooser>,
    /// `(pattern, chooser)`, most specific pattern first.
    hosts: Vec<(String, Chooser)>,
    /// Used when the chosen one fails.
    fallback: Option<Chooser>,
    state: Mutex<State>,
    /// One refresh of the network view at a time.
    refreshing: tokio::sync::Mutex<()>,
}

/// What picks a player's target: a strategy over the discovered targets, or a
/// router (contract 0.2.0 on) that discovers and selects in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chooser {
    Strategy(usize),
    Router(usize),
}

impl Dispatcher {
    /// `routing.strategy` names the strategy (or router) plugin; without a name, the
    /// only loaded one is used. Several without a name is an error, so the choice
    /// never depends on file names sorting. Every plugin `routing` names must be
    /// loaded.
    pub fn new(plugins: Arc<Plugins>, routing: &Routing) -> anyhow::Result<Dispatcher> {
        let choosers: Vec<(&str, Chooser)> = plugins
            .strategy
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name(), Chooser::Strategy(i)))
            .chain(
                plugins
                    .router
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.name(), Chooser::Router(i))),
            )
            .collect();
        let names: Vec<&str> = choosers.iter().map(|(n, _)| *n).collect();
        let find = |key: &str, name: &str| {
            choosers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| *c)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{key}: no strategy or router plugin named `{name}` is loaded (loaded: {})",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    )
                })
        };
        let default = match routing.strategy.as_deref() {
            Some(name) => Some(find("routing.strategy", name)?),
            None if names.len() > 1 && routing.hosts.is_empty() => anyhow::bail!(
                "several strategy or router plugins are loaded ({}): choose one with routing.strategy",
                names.join(", ")
            ),
            None if names.len() > 1 => None,
            None => choosers.first().map(|(_, c)| *c),
        };
        let mut hosts = Vec::new();
        for (pattern, name) in &routing.hosts {
            hosts.push((
                pattern.clone(),
                find(&format!("routing.hosts.\"{pattern}\""), name)?,
            ));
        }
        // Exact names before wildcards, longer (more specific) patterns first.
        hosts.sort_by_key(|(p, _)| (p.starts_with("*."), std::cmp::Reverse(p.len())));
        let fallback = match routing.fallback_strategy.as_deref() {
            Some(name) => Some(find("routing.fallback_strategy", name)?),
            None => None,
        };
        let admission = match &routing.admission {
            None => plugins.admission.clone(),
            Some(order) => order
                .iter()
                .map(|name| {
                    plugins
                        .admission
                        .iter()
                        .find(|p| p.name() == name)
                        .cloned()
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "routing.admission: no admission plugin named `{name}` is loaded"
                            )
                        })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let n = plugins.discovery.len();
        Ok(Dispatcher {
            plugins,
            admission,
            default,
            hosts,
            fallback,
            state: Mutex::new(State {
                per_plugin: vec![None; n],
                merged: Arc::new(MergedSet {
                    set: TargetSet {
                        id: 0,
                        targets: Vec::new(),
                    },
                    by_id: HashMap::new(),
                }),
                merged_from: vec![None; n],
                next_set_id: 1,
                discovered_at: None,
            }),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether any admission plugin will be asked.
    pub fn has_admission(&self) -> bool {
        !self.admission.is_empty()
    }

    /// Asks the admission plugins in order; the first deny wins. `Ok(None)`: the
    /// player may join. An admission plugin that fails refuses the player (it
    /// must not let everyone in), as a plugin failure.
    pub async fn admit(
        &self,
        player: &Player,
        context: &PlayerContext,
    ) -> Result<Option<(String, Message)>, RouteError> {
        for plugin in &self.admission {
            match plugin.admit(player, context).await {
                Ok(Verdict::Allow) => {}
                Ok(Verdict::Deny(message)) => return Ok(Some((plugin.name().to_owned(), message))),
                Err(error) => {
                    return Err(RouteError::Plugin {
                        plugin: plugin.name().to_owned(),
                        error,
                    });
                }
            }
        }
        Ok(None)
    }

    /// What chooses for a handshake host name.
    fn chooser_for(&self, server_address: &str) -> Option<Chooser> {
        self.hosts
            .iter()
            .find(|(pattern, _)| host_matches(pattern, server_address))
            .map(|(_, c)| *c)
            .or(self.default)
    }

    fn chooser_name(&self, chooser: Chooser) -> &str {
        match chooser {
            Chooser::Strategy(i) => self.plugins.strategy.get(i).map(|p| p.name()),
            Chooser::Router(i) => self.plugins.router.get(i).map(|p| p.name()),
        }
        .unwrap_or("?")
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the discovery plugins, then the strategy, for this player's backend
    /// (or the router, which does both). When it fails and a fallback is
    /// configured, the fallback chooses instead.
    pub async fn route(
        &self,
        player: &Player,
        context: &PlayerContext,
    ) -> Result<Decision, RouteError> {
        let Some(chooser) = self.chooser_for(&player.server_address) else {
            return Err(RouteError::NoStrategy);
        };
        let result = self.route_with(chooser, player, context).await;
        match (&result, self.fallback) {
            (Err(e), Some(fallback)) if e.is_plugin_failure() && fallback != chooser => {
                tracing::warn!(
                    plugin = self.chooser_name(chooser),
                    fallback = self.chooser_name(fallback),
                    "strategy failed ({e}); the fallback strategy chooses"
                );
                self.route_with(fallback, player, context).await
            }
            _ => result,
        }
    }

    async fn route_with(
        &self,
        chooser: Chooser,
        player: &Player,
        context: &PlayerContext,
    ) -> Result<Decision, RouteError> {
        let strategy = match chooser {
            Chooser::Router(i) => {
                let Some(pool) = self.plugins.router.get(i) else {
                    return Err(RouteError::NoStrategy);
                };
                return ask_router(pool, player, context).await;
            }
            Chooser::Strategy(i) => match self.plugins.strategy.get(i) {
                Some(pool) => pool,
                None => return Err(RouteError::NoStrategy),
            },
        };
        if self.plugins.discovery.is_empty() {
            return Err(RouteError::NoDiscovery);
        }
        let merged = self.discover(player).await?;
        if merged.set.targets.is_empty() {
            return Err(RouteError::NoTargets);
        }
        select(strategy, &merged, player, context).await
    }

    /// The discovered targets, as a status plugin sees them (`network.targets`):
    /// discovery is asked again when what the host holds is older than a second
    /// (with a player made from nothing but the request: status has no player).
    pub async fn current_targets(&self) -> Vec<Target> {
        let fresh = |state: &State| {
            state
                .discovered_at
                .is_some_and(|at| at.elapsed() < NETWORK_VIEW_MAX_AGE)
        };
        if !fresh(&self.state()) && !self.plugins.discovery.is_empty() {
            let _one_at_a_time = self.refreshing.lock().await;
            if !fresh(&self.state()) {
                let anyone = Player {
                    name: String::new(),
                    uuid: String::new(),
                    client_ip: String::new(),
                    protocol: 0,
                    server_address: String::new(),
                    server_port: 0,
                    locale: None,
                    last_target: None,
                };
                if let Err(e) = self.discover(&anyone).await {
                    tracing::debug!("network view not refreshed: {e}");
                }
            }
        }
        self.state().merged.set.targets.clone()
    }

    /// Calls every discovery plugin with the revision we hold from it, and
    /// returns the merged set, rebuilt only when some plugin's list changed. A
    /// failing plugin is skipped (logged); only when all fail is routing refused.
    async fn discover(&self, player: &Player) -> Result<Arc<MergedSet>, RouteError> {
        let mut last_error = None;
        let mut any_ok = false;
        for (i, plugin) in self.plugins.discovery.iter().enumerate() {
            let known = self.state().per_plugin[i].as_ref().map(|d| d.revision);
            match plugin.discover(player, known).await {
                Ok(Discovered::Unchanged) if known.is_some() => any_ok = true,
                Ok(Discovered::Unchanged) => {
                    tracing::warn!(
                        plugin = plugin.name(),
                        "discovery answered `unchanged` to a host that holds no list"
                    );
                }
                Ok(Discovered::Targets { targets, .. }) if targets.len() > MAX_TARGETS => {
                    tracing::warn!(
                        plugin = plugin.name(),
                        targets = targets.len(),
                        "discovery answer refused: over {MAX_TARGETS} targets; its previous list, if any, keeps serving"
                    );
                    any_ok |= known.is_some();
                }
                Ok(Discovered::Targets { revision, targets }) => {
                    any_ok = true;
                    let targets = valid_targets(plugin.name(), targets);
                    self.state().per_plugin[i] = Some(Discovery {
                        revision,
                        targets: Arc::new(targets),
                    });
                }
                Err(error) => {
                    tracing::warn!(
                        plugin = plugin.name(),
                        "discovery plugin {error}; continuing without it"
                    );
                    last_error = Some(RouteError::Plugin {
                        plugin: plugin.name().to_owned(),
                        error,
                    });
                }
            }
        }
        if !any_ok && let Some(e) = last_error {
            return Err(e);
        }
        let mut state = self.state();
        state.discovered_at = Some(Instant::now());
        let revisions: Vec<Option<u64>> = state
            .per_plugin
            .iter()
            .map(|d| d.as_ref().map(|d| d.revision))
            .collect();
        if revisions != state.merged_from {
            let set_id = state.next_set_id;
            state.next_set_id += 1;
            state.merged = Arc::new(merge(set_id, &state.per_plugin, &self.plugins));
            state.merged_from = revisions;
        }
        Ok(state.merged.clone())
    }
}

async fn select(
    strategy: &Pool<Strategy>,
    merged: &MergedSet,
    player: &Player,
    context: &PlayerContext,
) -> Result<Decision, RouteError> {
    let plugin = || strategy.name().to_owned();
    let chosen = strategy
        .select(&merged.set, player, context)
        .await
        .map_err(|error| RouteError::Plugin {
            plugin: plugin(),
            error,
        })?;
    match chosen {
        Selection::None => Err(RouteError::NoChoice(plugin())),
        Selection::Reject(message) => Ok(Decision::Reject {
            plugin: plugin(),
            message,
        }),
        Selection::Wait(wait) => Ok(Decision::Wait {
            wait,
            reservation: None,
        }),
        Selection::Target { id, extra } => match merged.by_id.get(&id) {
            Some(&i) => Ok(Decision::Transfer(Routed {
                target: merged.set.targets[i].clone(),
                plugin: plugin(),
                reservation: None,
                extra,
            })),
            None => Err(RouteError::UnknownTarget {
                plugin: plugin(),
                id: truncate(&id, 64),
            }),
        },
    }
}

/// One call to a router plugin, run to its end even if the player leaves
/// meanwhile: cancelling it would drop the instance holding every reservation
/// (and could leak one the plugin made elsewhere). A reservation nobody waits for
/// any more is released (its `Drop`).
async fn ask_router(
    pool: &Arc<Pool<Router>>,
    player: &Player,
    context: &PlayerContext,
) -> Result<Decision, RouteError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (task_pool, player, context) = (pool.clone(), player.clone(), context.clone());
    // The call stays a step of the connection's trace.
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let decision = place_once(&task_pool, &player, &context).await;
            if tx.send(decision).is_err() {
                tracing::info!(
                    plugin = task_pool.name(),
                    player = %player.name,
                    "the player left while the router chose; its reservation, if any, is released"
                );
            }
        },
        span,
    ));
    rx.await.unwrap_or_else(|_| {
        Err(RouteError::Plugin {
            plugin: pool.name().to_owned(),
            error: PluginError::Host("the routing task ended without an answer".to_owned()),
        })
    })
}

/// The router's answer, its target checked like a discovered one; a reservation
/// on a target that cannot be used is given back at once.
async fn place_once(
    pool: &Arc<Pool<Router>>,
    player: &Player,
    context: &PlayerContext,
) -> Result<Decision, RouteError> {
    let plugin = || pool.name().to_owned();
    let (placement, instance) =
        pool.place(player, context)
            .await
            .map_err(|error| RouteError::Plugin {
                plugin: plugin(),
                error,
            })?;
    let reservation = |token: Option<String>| {
        token.map(|token| Reservation {
            pool: pool.clone(),
            token,
            instance,
            used: false,
        })
    };
    let (target, token, extra) = match placement {
        Placement::None => return Err(RouteError::NoChoice(plugin())),
        Placement::Reject(message) => {
            return Ok(Decision::Reject {
                plugin: plugin(),
                message,
            });
        }
        Placement::Wait {
            wait,
            reservation: token,
        } => {
            let held = reservation(token);
            if let Some(r) = &held
                && r.token.len() > MAX_RESERVATION
            {
                tracing::warn!(
                    plugin = pool.name(),
                    bytes = r.token.len(),
                    "router answer refused: its reservation is over {MAX_RESERVATION} bytes"
                );
                return Err(RouteError::Plugin {
                    plugin: plugin(),
                    error: PluginError::Host("reservation too long".to_owned()),
                });
            }
            return Ok(Decision::Wait {
                wait,
                reservation: held,
            });
        }
        Placement::Placed {
            target,
            reservation,
            extra,
        } => (target, reservation, extra),
    };
    let reservation = reservation(token);
    let id = truncate(&target.id, 64);
    if let Some(r) = &reservation
        && r.token.len() > MAX_RESERVATION
    {
        tracing::warn!(
            plugin = pool.name(),
            bytes = r.token.len(),
            "router answer refused: its reservation is over {MAX_RESERVATION} bytes"
        );
        return Err(RouteError::UnknownTarget {
            plugin: plugin(),
            id,
        });
    }
    match valid_targets(pool.name(), vec![target]).pop() {
        Some(target) => Ok(Decision::Transfer(Routed {
            target,
            plugin: plugin(),
            reservation,
            extra,
        })),
        // The reservation is released as it is dropped.
        None => Err(RouteError::UnknownTarget {
            plugin: plugin(),
            id,
        }),
    }
}

/// Whether a `routing.hosts` pattern matches a handshake host name (already
/// lower-cased by the handshake): exactly, or `*.example.com` for any subdomain
/// of example.com (not example.com itself).
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        None => pattern == host,
    }
}

/// A `routing.hosts` key: a lower-case host name, optionally `*.` before it.
pub fn valid_host_pattern(pattern: &str) -> bool {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    valid_host(name) && !name.bytes().any(|b| b.is_ascii_uppercase())
}

/// Concatenates the plugins' lists in plugin order; a duplicate id keeps the
/// first plugin's target.
fn merge(set_id: u64, lists: &[Option<Discovery>], plugins: &Plugins) -> MergedSet {
    let mut targets = Vec::new();
    let mut by_id = HashMap::new();
    for (i, list) in lists.iter().enumerate() {
        let Some(list) = list else { continue };
        for t in list.targets.iter() {
            if by_id.contains_key(&t.id) {
                tracing::warn!(
                    plugin = plugins.discovery[i].name(),
                    id = %truncate(&t.id, 64),
                    "target id already listed by an earlier discovery plugin; ignored"
                );
                continue;
            }
            by_id.insert(t.id.clone(), targets.len());
            targets.push(t.clone());
        }
    }
    MergedSet {
        set: TargetSet {
            id: set_id,
            targets,
        },
        by_id,
    }
}

/// Drops targets a client could not be transferred to, with a log line each.
fn valid_targets(plugin: &str, targets: Vec<Target>) -> Vec<Target> {
    let mut seen = std::collections::HashSet::new();
    targets
        .into_iter()
        .filter(|t| {
            let problem = if t.id.is_empty() || t.id.len() > 128 {
                Some("its id must be 1-128 bytes")
            } else if !valid_host(&t.host) {
                Some("its host is not a host name or IP address")
            } else if t.port == 0 {
                Some("its port is 0")
            } else if t.metadata.len() > MAX_METADATA_ENTRIES {
                Some("it has more than 64 metadata entries")
            } else if t
                .metadata
                .iter()
                .any(|(k, v)| k.len() > MAX_METADATA_KEY || v.len() > MAX_METADATA_VALUE)
            {
                Some("a metadata key is over 64 bytes or a value over 1024")
            } else if !seen.insert(t.id.clone()) {
                Some("its id is listed twice")
            } else {
                None
            };
            if let Some(problem) = problem {
                tracing::warn!(plugin, id = %truncate(&t.id, 64), "ignoring target: {problem}");
            }
            problem.is_none()
        })
        .collect()
}

/// A host the client can connect to: an IP address or a DNS name of sane shape.
fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, host: &str, port: u16) -> Target {
        Target {
            id: id.into(),
            host: host.into(),
            port,
            metadata: vec![],
        }
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("play.example.com", "play.example.com"));
        assert!(!host_matches("play.example.com", "eu.play.example.com"));
        assert!(host_matches("*.example.com", "eu.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        assert!(valid_host_pattern("*.example.com"));
        assert!(valid_host_pattern("eu.example.com"));
        assert!(!valid_host_pattern("*example.com"));
        assert!(!valid_host_pattern("EU.example.com"));
        assert!(!valid_host_pattern("a.*.example.com"));
    }

    #[test]
    fn hosts() {
        assert!(valid_host("10.0.0.1"));
        assert!(valid_host("::1"));
        assert!(valid_host("lobby-1.example.com"));
        assert!(!valid_host(""));
        assert!(!valid_host("bad host"));
        assert!(!valid_host("a..b"));
        assert!(!valid_host(&"a".repeat(300)));
    }

    #[test]
    fn invalid_targets_are_dropped() {
        let kept = valid_targets(
            "p",
            vec![
                target("a", "10.0.0.1", 25565),
                target("b", "10.0.0.2", 0),
                target("", "10.0.0.3", 25565),
                target("c", "not a host", 25565),
                target("a", "10.0.0.4", 25565),
                Target {
                    metadata: vec![("k".into(), "v".into()); MAX_METADATA_ENTRIES + 1],
                    ..target("many-pairs", "10.0.0.5", 25565)
                },
                Target {
                    metadata: vec![("k".into(), "v".repeat(MAX_METADATA_VALUE + 1))],
                    ..target("long-value", "10.0.0.6", 25565)
                },
                Target {
                    metadata: vec![("k".repeat(MAX_METADATA_KEY + 1), "v".into())],
                    ..target("long-key", "10.0.0.7", 25565)
                },
                Target {
                    metadata: vec![
                        ("k".into(), "v".repeat(MAX_METADATA_VALUE));
                        MAX_METADATA_ENTRIES
                    ],
                    ..target("at-the-limits", "10.0.0.8", 25565)
                },
            ],
        );
        let ids: Vec<&str> = kept.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a", "at-the-limits"]);
    }
}
