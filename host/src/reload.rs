//! The plugin set in use, and replacing it while the router runs: a debounced
//! watch of the plugins directory and the configuration file, and SIGHUP.
//!
//! A connection takes the current [`Active`] set once per status answer or routing
//! decision and keeps it to the end of that call, so calls in flight finish on the
//! version they started with while the next connection already gets the new one.
//! Rules:
//! - a changed, added or removed `.wasm` is applied on its own: a file that cannot
//!   load is refused with a log line naming it and why, and the plugin's previous
//!   version (if any) keeps serving;
//! - a changed configuration is all-or-nothing: if it does not parse, or any loaded
//!   plugin rejects its new table or grant, or the routing it describes names a
//!   missing plugin, nothing changes (a broken file that is not loaded anyway is
//!   refused on its own, so it cannot block configuration reloads);
//! - keys that need a restart (sockets, limits, auth, ...) are logged as such.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::Watcher;
use tokio::sync::mpsc;

use crate::config::{Config, Problems};
use crate::plugins::registry::{Changes, OnFailure};
use crate::plugins::{Plugins, Runtime};
use crate::routing::Dispatcher;
use crate::status::StatusService;

/// Quiet time after the last file event before reloading: a plugin being copied
/// produces a burst of writes, and the reload should see the finished file.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// A file that keeps changing is still picked up after this long.
const MAX_DEBOUNCE: Duration = Duration::from_secs(3);

/// Everything built from one plugin set and the configuration sections that are
/// reloadable with it.
pub struct Active {
    pub plugins: Arc<Plugins>,
    pub dispatcher: Dispatcher,
    pub status: StatusService,
    /// Counts reloads: 0 for the set loaded at start-up.
    pub generation: u64,
}

impl Active {
    pub fn new(plugins: Arc<Plugins>, config: &Config, generation: u64) -> anyhow::Result<Active> {
        Ok(Active {
            dispatcher: Dispatcher::new(plugins.clone(), &config.routing)?,
            status: StatusService::new(plugins.clone(), &config.status)?,
            plugins,
            generation,
        })
    }
}

/// The set in use. Swapped atomically; readers never wait.
pub struct Live(ArcSwap<Active>);

impl Live {
    pub fn new(active: Active) -> Live {
        Live(ArcSwap::from_pointee(active))
    }

    pub fn current(&self) -> Arc<Active> {
        self.0.load_full()
    }
}

/// The network as status plugins read it (`network.targets`): the current set's
/// discovered targets. Holds the set weakly: the plugins it serves are part of it.
pub struct LiveNetwork(pub std::sync::Weak<Live>);

impl crate::plugins::host_api::NetworkView for LiveNetwork {
    fn targets(
        &self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Vec<crate::plugins::types::Target>> + Send + '_>,
    > {
        Box::pin(async move {
            match self.0.upgrade() {
                Some(live) => live.current().dispatcher.current_targets().await,
                None => Vec::new(),
            }
        })
    }
}

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A `.wasm` (or its `.wasm.minisig`) in the plugins directory changed.
    Files,
    /// The configuration file changed, or SIGHUP.
    Config,
}

/// Reads the configuration again the way start-up did (file, environment,
/// command-line overrides).
pub type ConfigSource = Box<dyn Fn() -> Result<Config, Problems> + Send + Sync>;

pub struct Reloader {
    runtime: Arc<Runtime>,
    live: Arc<Live>,
    config: Config,
    config_file: Option<PathBuf>,
    read_config: ConfigSource,
}

impl Reloader {
    pub fn new(
        runtime: Arc<Runtime>,
        live: Arc<Live>,
        config: Config,
        config_file: Option<PathBuf>,
        read_config: ConfigSource,
    ) -> Reloader {
        Reloader {
            runtime,
            live,
            config,
            config_file,
            read_config,
        }
    }

    /// Starts watching files (when `plugin_runtime.watch`) and SIGHUP now, so no
    /// change made after this returns is missed, and reloads after each burst of
    /// changes until the process exits.
    pub fn spawn(mut self) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let watcher = if self.config.plugin_runtime.watch {
            watch(
                &self.config.plugin_runtime.dir,
                self.config_file.as_deref(),
                tx.clone(),
            )
        } else {
            tracing::info!(
                "not watching files for changes (plugin_runtime.watch = false): SIGHUP reloads"
            );
            None
        };
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut hup) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        tracing::info!("SIGHUP received: reloading configuration and plugins");
                        if tx.send(Trigger::Config).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot watch SIGHUP: {e}"),
        }
        drop(tx);
        tokio::spawn(async move {
            // Kept alive for as long as the loop runs.
            let _watcher = watcher;
            while let Some(first) = rx.recv().await {
                let mut config_changed = first == Trigger::Config;
                // Debounce: wait for a quiet moment, but not forever.
                let give_up = tokio::time::Instant::now() + MAX_DEBOUNCE;
                loop {
                    let quiet = (tokio::time::Instant::now() + DEBOUNCE).min(give_up);
                    match tokio::time::timeout_at(quiet, rx.recv()).await {
                        Ok(Some(t)) => config_changed |= t == Trigger::Config,
                        Ok(None) | Err(_) => break,
                    }
                }
                self.reload(config_changed).await;
            }
        });
    }

    /// One reload round; the set in use changes only if it succeeds.
    pub async fn reload(&mut self, config_changed: bool) {
        let config = if config_changed {
            match (self.read_config)() {
                Ok(config) => config,
                Err(problems) => {
                    tracing::error!("configuration reload refused, nothing changed:\n{problems}");
                    crate::metrics::metrics().plugin_reload("refused");
                    return;
                }
            }
        } else {
            self.config.clone()
        };
        let restart = needs_restart(&self.config, &config);
        if !restart.is_empty() {
            tracing::warn!(
                "configuration keys changed that apply only after a restart: {}",
                restart.join(", ")
            );
        }
        // What is watched and where code is cached stay as started.
        let mut config = config;
        let running = &self.config.plugin_runtime;
        config.plugin_runtime.dir = running.dir.clone();
        config.plugin_runtime.cache_dir = running.cache_dir.clone();
        config.plugin_runtime.watch = running.watch;
        let current = self.live.current();
        // A new configuration is all-or-nothing; file changes apply one by one.
        let on_failure = if config_changed {
            OnFailure::RefuseIfLoaded
        } else {
            OnFailure::KeepPrevious
        };
        let next = current
            .plugins
            .next(self.runtime.clone(), &config, on_failure)
            .await
            .and_then(|(plugins, changes)| {
                let active = Active::new(Arc::new(plugins), &config, current.generation + 1)?;
                Ok((active, changes))
            });
        let (active, changes) = match next {
            Ok(next) => next,
            Err(e) => {
                tracing::error!("plugin reload refused, the previous plugins keep serving: {e:#}");
                crate::metrics::metrics().plugin_reload("refused");
                return;
            }
        };
        for (plugin, reason) in &changes.refused {
            tracing::error!(
                plugin,
                "new plugin file refused, {}: {reason}",
                if current.plugins.files.iter().any(|f| *f.name == **plugin) {
                    "its previous version keeps serving"
                } else {
                    "it is not loaded"
                }
            );
        }
        if changes.is_empty() && !config_changed {
            return;
        }
        log_changes(&changes, active.generation);
        crate::metrics::metrics().plugin_reload(if changes.refused.is_empty() {
            "applied"
        } else {
            "partial"
        });
        self.live.0.store(Arc::new(active));
        if config_changed {
            self.config = config;
        }
    }
}

fn log_changes(changes: &Changes, generation: u64) {
    let list = |names: &[String]| {
        if names.is_empty() {
            "-".to_owned()
        } else {
            names.join(",")
        }
    };
    tracing::info!(
        generation,
        added = %list(&changes.added),
        updated = %list(&changes.updated),
        reconfigured = %list(&changes.reconfigured),
        removed = %list(&changes.removed),
        refused = changes.refused.len(),
        "plugins reloaded"
    );
}

/// Sections whose change is ignored until a restart, for the warning.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.plugin_runtime, &new.plugin_runtime);
    [
        ("bind", old.bind != new.bind),
        ("timeouts", old.timeouts != new.timeouts),
        ("auth", old.auth != new.auth),
        (
            "auth_secret_file",
            old.auth_secret_file != new.auth_secret_file,
        ),
        (
            "auth_cookie_expiry_secs",
            old.auth_cookie_expiry_secs != new.auth_cookie_expiry_secs,
        ),
        (
            "auth_cookie_max_age_secs",
            old.auth_cookie_max_age_secs != new.auth_cookie_max_age_secs,
        ),
        (
            "auth_cookie_strict",
            old.auth_cookie_strict != new.auth_cookie_strict,
        ),
        (
            "compression_threshold",
            old.compression_threshold != new.compression_threshold,
        ),
        ("log", old.log != new.log),
        (
            "plugin_runtime.dir/cache_dir/watch",
            (&o.dir, &o.cache_dir, o.watch) != (&n.dir, &n.cache_dir, n.watch),
        ),
        // Plugins named by reference are pulled at start-up only.
        ("plugin_runtime.pull", o.pull != n.pull),
        ("plugin_runtime.keyvalue", o.keyvalue != n.keyvalue),
        ("metrics", old.metrics != new.metrics),
        ("limits", old.limits != new.limits),
        ("proxy_protocol", old.proxy_protocol != new.proxy_protocol),
        ("shutdown", old.shutdown != new.shutdown),
        ("telemetry", old.telemetry != new.telemetry),
        ("resource_packs", old.resource_packs != new.resource_packs),
        ("messages", old.messages != new.messages),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(key, _)| key)
    .collect()
}

/// Watches the plugins directory for `.wasm` and `.wasm.minisig` changes and the configuration
/// file's directory for changes to that file (editors and Kubernetes ConfigMaps
/// replace files by renaming, so the directory is what to watch).
fn watch(
    plugins_dir: &Path,
    config_file: Option<&Path>,
    tx: mpsc::UnboundedSender<Trigger>,
) -> Option<notify::RecommendedWatcher> {
    let plugins_dir = plugins_dir.to_owned();
    let config_name = config_file
        .and_then(|f| f.file_name())
        .map(|n| n.to_owned());
    let config_dir = config_file.map(|f| match f.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    });
    let handler = {
        let plugins_dir = plugins_dir.clone();
        let config_dir = config_dir.clone();
        move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.kind.is_access() {
                return;
            }
            for path in &event.paths {
                let name = path.file_name();
                let parent = path.parent();
                let trigger = if parent.is_some_and(|p| same_dir(p, &plugins_dir))
                    && name.is_some_and(|n| {
                        let n = n.to_string_lossy();
                        // A signature alone changes what may load (`<name>.wasm.minisig`).
                        n.ends_with(".wasm") || n.ends_with(".wasm.minisig")
                    }) {
                    Some(Trigger::Files)
                } else if parent
                    .is_some_and(|p| config_dir.as_deref().is_some_and(|c| same_dir(p, c)))
                    && (name == config_name.as_deref()
                        // A ConfigMap swaps its `..data` symlink.
                        || name.is_some_and(|n| n.to_string_lossy().starts_with("..")))
                {
                    Some(Trigger::Config)
                } else {
                    None
                };
                if let Some(t) = trigger {
                    let _ = tx.send(t);
                }
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("cannot watch files for changes (SIGHUP still reloads): {e}");
            return None;
        }
    };
    let mut dirs = vec![plugins_dir];
    dirs.extend(config_dir);
    dirs.dedup();
    for dir in dirs {
        match watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => tracing::debug!(dir = %dir.display(), "watching for changes"),
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                "cannot watch for changes (SIGHUP still reloads): {e}"
            ),
        }
    }
    Some(watcher)
}

/// Event paths are absolute; configured ones may be relative.
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_keys_are_named_and_reloadable_ones_are_not() {
        let old = Config::parse("").unwrap();
        let new = Config::parse(
            "[limits]\nmax_connections = 5\n[routing]\nstrategy = \"x\"\n\
             [plugins.fixed-status]\nmotd = \"new\"\n[plugin_runtime]\nwatch = false\n\
             [plugin_runtime.pull]\nx = \"ghcr.io/acme/x:1\"\n",
        )
        .unwrap();
        assert_eq!(
            needs_restart(&old, &new),
            [
                "plugin_runtime.dir/cache_dir/watch",
                "plugin_runtime.pull",
                "limits"
            ]
        );
        assert!(needs_restart(&old, &old.clone()).is_empty());
    }
}
