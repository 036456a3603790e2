//! Choosing a backend for a player: discovery plugins (merged, cached by revision),
//! then the strategy plugin, and validation of everything they return.
//!
//! What a plugin hands back is bounded here, before the host keeps, merges or
//! copies it: at most [`MAX_TARGETS`] targets per discovery answer, and per
//! target an id, host, and metadata within the limits below. (What crosses the
//! boundary at all is bounded by the plugin's memory cap.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::Routing;
use crate::plugins::bindings::{Discovered, Player, Target};
use crate::plugins::{PluginError, PluginPool, Plugins, TargetSet};

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
}

pub struct Router {
    plugins: Arc<Plugins>,
    /// What chooses for hosts no pattern matches.
    default: Option<Chooser>,
    /// `(pattern, chooser)`, most specific pattern first.
    hosts: Vec<(String, Chooser)>,
    /// Used when the chosen one fails.
    fallback: Option<Chooser>,
    state: Mutex<State>,
}

/// What picks a player's target: a strategy over the discovered targets, or a
/// router (contract 0.2.0) that discovers and selects in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chooser {
    Strategy(usize),
    Router(usize),
}

/// A routing decision.
pub struct Routed {
    pub target: Target,
    /// Set when a router reserved the target: give it back if the player is not
    /// sent there.
    pub reservation: Option<Reservation>,
}

/// A router's reservation, with the way back to the instance holding it.
pub struct Reservation {
    pool: Arc<PluginPool>,
    token: String,
    instance: u64,
}

impl Reservation {
    /// Tells the router the player was not sent to the reserved target.
    pub async fn release(self) {
        if let Err(e) = self.pool.release(&self.token, self.instance).await {
            tracing::warn!(
                plugin = self.pool.name(),
                "releasing a reservation failed: {e}"
            );
        }
    }
}

impl Router {
    /// `routing.strategy` names the strategy (or router) plugin; without a name, the
    /// only loaded one is used. Several without a name is an error, so the choice
    /// never depends on file names sorting. Every plugin `routing` names must be
    /// loaded.
    pub fn new(plugins: Arc<Plugins>, routing: &Routing) -> anyhow::Result<Router> {
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
        let n = plugins.discovery.len();
        Ok(Router {
            plugins,
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
            }),
        })
    }

    /// What chooses for a handshake host name.
    fn chooser_for(&self, server_address: &str) -> Option<Chooser> {
        self.hosts
            .iter()
            .find(|(pattern, _)| host_matches(pattern, server_address))
            .map(|(_, c)| *c)
            .or(self.default)
    }

    fn pool(&self, chooser: Chooser) -> Option<&Arc<PluginPool>> {
        match chooser {
            Chooser::Strategy(i) => self.plugins.strategy.get(i),
            Chooser::Router(i) => self.plugins.router.get(i),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the discovery plugins, then the strategy, for this player's backend
    /// (or the router, which does both). When it fails and a fallback is
    /// configured, the fallback chooses instead.
    pub async fn route(&self, player: &Player) -> Result<Routed, RouteError> {
        let Some(chooser) = self.chooser_for(&player.server_address) else {
            return Err(RouteError::NoStrategy);
        };
        let result = self.route_with(chooser, player).await;
        match (&result, self.fallback) {
            (Err(e), Some(fallback)) if e.is_plugin_failure() && fallback != chooser => {
                tracing::warn!(
                    plugin = self.pool(chooser).map(|p| p.name()).unwrap_or("?"),
                    fallback = self.pool(fallback).map(|p| p.name()).unwrap_or("?"),
                    "strategy failed ({e}); the fallback strategy chooses"
                );
                self.route_with(fallback, player).await
            }
            _ => result,
        }
    }

    async fn route_with(&self, chooser: Chooser, player: &Player) -> Result<Routed, RouteError> {
        let Some(pool) = self.pool(chooser) else {
            return Err(RouteError::NoStrategy);
        };
        if let Chooser::Router(_) = chooser {
            return ask_router(pool, player).await;
        }
        if self.plugins.discovery.is_empty() {
            return Err(RouteError::NoDiscovery);
        }
        let merged = self.discover(player).await?;
        if merged.set.targets.is_empty() {
            return Err(RouteError::NoTargets);
        }
        select(pool, &merged, player).await.map(|target| Routed {
            target,
            reservation: None,
        })
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
                Ok(Discovered::Targets(list)) if list.targets.len() > MAX_TARGETS => {
                    tracing::warn!(
                        plugin = plugin.name(),
                        targets = list.targets.len(),
                        "discovery answer refused: over {MAX_TARGETS} targets; its previous list, if any, keeps serving"
                    );
                    any_ok |= known.is_some();
                }
                Ok(Discovered::Targets(list)) => {
                    any_ok = true;
                    let targets = valid_targets(plugin.name(), list.targets);
                    self.state().per_plugin[i] = Some(Discovery {
                        revision: list.revision,
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
    strategy: &PluginPool,
    merged: &MergedSet,
    player: &Player,
) -> Result<Target, RouteError> {
    let chosen = strategy
        .select(&merged.set, player)
        .await
        .map_err(|error| RouteError::Plugin {
            plugin: strategy.name().to_owned(),
            error,
        })?;
    let Some(id) = chosen else {
        return Err(RouteError::NoChoice(strategy.name().to_owned()));
    };
    match merged.by_id.get(&id) {
        Some(&i) => Ok(merged.set.targets[i].clone()),
        None => Err(RouteError::UnknownTarget {
            plugin: strategy.name().to_owned(),
            id: truncate(&id, 64),
        }),
    }
}

/// One call to a router plugin, run to its end even if the player leaves
/// meanwhile: cancelling it would drop the instance holding every reservation
/// (and could leak one the plugin made elsewhere). A reservation nobody waits for
/// any more is released.
async fn ask_router(pool: &Arc<PluginPool>, player: &Player) -> Result<Routed, RouteError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (task_pool, player) = (pool.clone(), player.clone());
    tokio::spawn(async move {
        let routed = route_once(&task_pool, &player).await;
        if let Err(Ok(Routed {
            reservation: Some(reservation),
            ..
        })) = tx.send(routed)
        {
            tracing::info!(
                plugin = task_pool.name(),
                player = %player.name,
                "the player left while the router chose; its reservation is released"
            );
            reservation.release().await;
        }
    });
    rx.await.unwrap_or_else(|_| {
        Err(RouteError::Plugin {
            plugin: pool.name().to_owned(),
            error: PluginError::Host("the routing task ended without an answer".to_owned()),
        })
    })
}

/// The router's answer, its target checked like a discovered one; a reservation
/// on a target that cannot be used is given back at once.
async fn route_once(pool: &Arc<PluginPool>, player: &Player) -> Result<Routed, RouteError> {
    let answer = pool
        .route(player)
        .await
        .map_err(|error| RouteError::Plugin {
            plugin: pool.name().to_owned(),
            error,
        })?;
    let Some((routed, instance)) = answer else {
        return Err(RouteError::NoChoice(pool.name().to_owned()));
    };
    let reservation = routed.reservation.map(|token| Reservation {
        pool: pool.clone(),
        token,
        instance,
    });
    if let Some(r) = &reservation
        && r.token.len() > MAX_RESERVATION
    {
        tracing::warn!(
            plugin = pool.name(),
            bytes = r.token.len(),
            "router answer refused: its reservation is over {MAX_RESERVATION} bytes"
        );
        let id = truncate(&routed.target.id, 64);
        if let Some(r) = reservation {
            r.release().await;
        }
        return Err(RouteError::UnknownTarget {
            plugin: pool.name().to_owned(),
            id,
        });
    }
    let id = routed.target.id.clone();
    match valid_targets(pool.name(), vec![routed.target]).pop() {
        Some(target) => Ok(Routed {
            target,
            reservation,
        }),
        None => {
            if let Some(r) = reservation {
                r.release().await;
            }
            Err(RouteError::UnknownTarget {
                plugin: pool.name().to_owned(),
                id: truncate(&id, 64),
            })
        }
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
