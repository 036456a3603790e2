//! Loading the plugins directory: one pool per (plugin, role), ordered by name.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};

use super::bindings::{DISCOVERY_EXPORT, STATUS_EXPORT, STRATEGY_EXPORT};
use super::pool::{Limits, PluginPool, Role};
use super::runtime::{CodeSource, Runtime};
use crate::config::{Config, is_plugin_name};

/// Every loaded plugin, by role. Within a role, plugins are in file-name order.
pub struct Plugins {
    pub status: Vec<Arc<PluginPool>>,
    pub discovery: Vec<Arc<PluginPool>>,
    pub strategy: Vec<Arc<PluginPool>>,
}

impl Plugins {
    pub fn empty() -> Plugins {
        Plugins {
            status: Vec::new(),
            discovery: Vec::new(),
            strategy: Vec::new(),
        }
    }

    /// Loads every `*.wasm` in `dir`. Any plugin that cannot load, exports no known
    /// role or rejects its configuration stops start-up with a message naming it:
    /// an operator learns of a broken plugin before players do.
    pub async fn load(runtime: Arc<Runtime>, config: &Config) -> anyhow::Result<Plugins> {
        let dir = &config.plugin_runtime.dir;
        let files = wasm_files(dir)?;
        let limits = Limits {
            call_timeout: config.plugin_runtime.call_timeout(),
            memory_limit: config.plugin_runtime.memory_limit_bytes(),
            max_instances: config.plugin_runtime.max_instances,
        };
        for name in config.plugins.keys() {
            if !files.iter().any(|(n, _)| n == name) {
                tracing::warn!(plugin = %name, dir = %dir.display(), "config has a [plugins.{name}] table but there is no {name}.wasm");
            }
        }
        let mut plugins = Plugins::empty();
        for (name, path) in files {
            let started = Instant::now();
            let rt = runtime.clone();
            let p = path.clone();
            let (component, source) = tokio::task::spawn_blocking(move || rt.load_component(&p))
                .await
                .context("plugin compilation task failed")?
                .with_context(|| {
                    format!("plugin `{name}` ({}) cannot be loaded", path.display())
                })?;
            let roles = roles_of(&component, runtime.engine());
            if roles.is_empty() {
                bail!(
                    "plugin `{name}` ({}) exports none of the roles of passage:plugin@0.1.0 \
                     (status, discovery, strategy)",
                    path.display()
                );
            }
            let name: Arc<str> = name.into();
            for role in &roles {
                let pool = PluginPool::new(
                    &runtime,
                    name.clone(),
                    *role,
                    &component,
                    config.plugin_config_json(&name),
                    limits.clone(),
                )
                .with_context(|| format!("plugin `{name}` cannot be linked as a {role} plugin"))?;
                pool.warm_up()
                    .await
                    .map_err(|e| anyhow::anyhow!("plugin `{name}` {e}"))?;
                let pool = Arc::new(pool);
                match role {
                    Role::Status => plugins.status.push(pool),
                    Role::Discovery => plugins.discovery.push(pool),
                    Role::Strategy => plugins.strategy.push(pool),
                }
            }
            tracing::info!(
                plugin = %name,
                roles = %roles.iter().map(Role::to_string).collect::<Vec<_>>().join(","),
                code = if source == CodeSource::Cache { "cached" } else { "compiled" },
                elapsed_ms = started.elapsed().as_millis() as u64,
                "plugin loaded"
            );
        }
        Ok(plugins)
    }

    pub fn count(&self) -> usize {
        self.status.len() + self.discovery.len() + self.strategy.len()
    }
}

/// `(name, path)` of every `*.wasm` directly in `dir`, sorted by name. A missing
/// directory is an empty one (with a warning): the router still answers pings.
pub(crate) fn wasm_files(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "plugins directory does not exist; running without plugins");
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read plugins directory {}", dir.display()));
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "wasm") || !path.is_file() {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            bail!("plugin file name {} is not UTF-8", path.display());
        };
        if !is_plugin_name(&name) {
            bail!(
                "plugin file {}: a plugin name uses only a-z, 0-9, `-` and `_`",
                path.display()
            );
        }
        files.push((name, path));
    }
    files.sort();
    Ok(files)
}

/// A role is an exported interface of the contract, so a component's roles are
/// read from its export names.
fn roles_of(component: &wasmtime::component::Component, engine: &wasmtime::Engine) -> Vec<Role> {
    let ty = component.component_type();
    let mut roles: Vec<Role> = ty
        .exports(engine)
        .filter_map(|(name, _)| match name {
            STATUS_EXPORT => Some(Role::Status),
            DISCOVERY_EXPORT => Some(Role::Discovery),
            STRATEGY_EXPORT => Some(Role::Strategy),
            _ => None,
        })
        .collect();
    roles.sort();
    roles.dedup();
    roles
}
