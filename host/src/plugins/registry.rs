//! Loading the plugins directory into a set of pools, one per (plugin, role), and
//! building the next set from the previous one when files or configuration change.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::contract::{Api, Role, Version, roles_of};
use super::pool::{Limits, PluginSettings, Pool, PoolView, RoleKind};
use super::roles::{Admission, Discovery, Router, Status, Strategy};
use super::runtime::{CodeSource, Runtime, hex, read_wasm};
use crate::config::{Config, is_plugin_name};

/// One loaded `.wasm` file: what it is, what it was given, and its pools.
pub struct PluginFile {
    pub name: Arc<str>,
    pub path: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub size: u64,
    pub limits: Limits,
    pub loaded_at: std::time::SystemTime,
    /// What its pin, signature and manifest checks found.
    pub adopted: super::adoption::Adopted,
    component: Component,
    config_json: String,
    pools: FilePools,
}

/// A file's pools, one per role it exports.
#[derive(Default)]
struct FilePools {
    status: Option<Arc<Pool<Status>>>,
    discovery: Option<Arc<Pool<Discovery>>>,
    strategy: Option<Arc<Pool<Strategy>>>,
    router: Option<Arc<Pool<Router>>>,
    admission: Option<Arc<Pool<Admission>>>,
}

impl FilePools {
    fn views(&self) -> Vec<&dyn PoolView> {
        let mut views: Vec<&dyn PoolView> = Vec::new();
        fn push<'a, R: RoleKind>(views: &mut Vec<&'a dyn PoolView>, p: &'a Option<Arc<Pool<R>>>) {
            if let Some(p) = p {
                views.push(&**p);
            }
        }
        push(&mut views, &self.status);
        push(&mut views, &self.discovery);
        push(&mut views, &self.strategy);
        push(&mut views, &self.router);
        push(&mut views, &self.admission);
        views
    }
}

impl PluginFile {
    /// One pool per role it exports, as the CLI shows them.
    pub fn pools(&self) -> Vec<&dyn PoolView> {
        self.pools.views()
    }

    /// Its strategy role, if it exports one.
    pub fn strategy_pool(&self) -> Option<&Arc<Pool<Strategy>>> {
        self.pools.strategy.as_ref()
    }

    /// Its router role, if it exports one.
    pub fn router_pool(&self) -> Option<&Arc<Pool<Router>>> {
        self.pools.router.as_ref()
    }

    pub fn roles(&self) -> Vec<Role> {
        self.pools().iter().map(|p| p.role()).collect()
    }

    /// The newest contract version its exports implement.
    pub fn contract(&self) -> Version {
        self.pools()
            .iter()
            .map(|p| p.contract())
            .max()
            .unwrap_or(Version::V0_1)
    }

    /// The component's import names: what it asks the host for (the contract's
    /// `log`, WASI interfaces, `wasi:http/...` for outbound HTTP).
    pub fn imports(&self, engine: &wasmtime::Engine) -> Vec<String> {
        let mut names: Vec<String> = self
            .component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        names.sort();
        names
    }
}

/// Every loaded plugin, by role. Within a role, plugins are in file-name order.
pub struct Plugins {
    pub status: Vec<Arc<Pool<Status>>>,
    pub discovery: Vec<Arc<Pool<Discovery>>>,
    pub strategy: Vec<Arc<Pool<Strategy>>>,
    /// Routers (contract 0.2.0 on): chosen like strategies, they discover and select.
    pub router: Vec<Arc<Pool<Router>>>,
    /// Admission plugins (contract 0.3.0 on), in file-name order; `routing.admission`
    /// orders the ones asked.
    pub admission: Vec<Arc<Pool<Admission>>>,
    pub files: Vec<Arc<PluginFile>>,
}

/// How a reload treats a plugin that fails to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// The whole load fails (start-up, and reloads with a new configuration).
    Refuse,
    /// The file is refused and the plugin's previous version, if any, stays.
    KeepPrevious,
    /// A plugin that is loaded now must load again (its new configuration or
    /// grant must be accepted) or the whole load fails; a file that is not loaded
    /// now (new, or refused before) is refused on its own, so one broken file
    /// lying in the directory does not block every configuration reload.
    RefuseIfLoaded,
}

/// What a load changed, for the log.
#[derive(Debug, Default)]
pub struct Changes {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub reconfigured: Vec<String>,
    pub removed: Vec<String>,
    /// `(plugin, reason)` of files refused under [`OnFailure::KeepPrevious`].
    pub refused: Vec<(String, String)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.updated.is_empty()
            && self.reconfigured.is_empty()
            && self.removed.is_empty()
            && self.refused.is_empty()
    }
}

impl Plugins {
    pub fn empty() -> Plugins {
        Plugins {
            status: Vec::new(),
            discovery: Vec::new(),
            strategy: Vec::new(),
            router: Vec::new(),
            admission: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Loads every `*.wasm` in `dir`. Any plugin that cannot load, exports no known
    /// role or rejects its configuration stops start-up with a message naming it:
    /// an operator learns of a broken plugin before players do.
    pub async fn load(runtime: Arc<Runtime>, config: &Config) -> anyhow::Result<Plugins> {
        let (plugins, _) = Plugins::empty()
            .next(runtime, config, OnFailure::Refuse)
            .await?;
        Ok(plugins)
    }

    /// The set for the directory's current files under `config`, reusing what did
    /// not change: an unchanged file with the same configuration and limits keeps
    /// its pools (and their warm instances), an unchanged file with a new
    /// configuration keeps its compiled code. Compilation runs off the async
    /// workers; nothing here touches the set in use, which the caller swaps.
    pub async fn next(
        &self,
        runtime: Arc<Runtime>,
        config: &Config,
        on_failure: OnFailure,
    ) -> anyhow::Result<(Plugins, Changes)> {
        let dir = &config.plugin_runtime.dir;
        let WasmFiles { files, misnamed } = wasm_files(dir)?;
        // A misnamed file is skipped on its own: it cannot be any plugin's, and
        // it must not keep the others from loading.
        for (path, why) in &misnamed {
            tracing::error!(file = %path.display(), "plugin file skipped: {why}");
        }
        for name in config.plugins.keys() {
            if !files.iter().any(|(n, _)| n == name) {
                tracing::warn!(plugin = %name, dir = %dir.display(), "config has a [plugins.{name}] table but there is no {name}.wasm");
            }
        }
        let mut changes = Changes::default();
        let mut loaded = Vec::new();
        for (name, path) in files {
            let previous = self.files.iter().find(|f| *f.name == *name);
            match load_file(&runtime, config, &name, &path, previous).await {
                Ok((file, change)) => {
                    match change {
                        Change::Same => {}
                        Change::Added => changes.added.push(name),
                        Change::Updated => changes.updated.push(name),
                        Change::Reconfigured => changes.reconfigured.push(name),
                    }
                    loaded.push(file);
                }
                Err(e)
                    if on_failure == OnFailure::Refuse
                        || (on_failure == OnFailure::RefuseIfLoaded && previous.is_some()) =>
                {
                    return Err(e);
                }
                Err(e) => {
                    changes.refused.push((name, format!("{e:#}")));
                    loaded.extend(previous.cloned());
                }
            }
        }
        for old in &self.files {
            if !loaded.iter().any(|f| f.name == old.name) {
                changes.removed.push(old.name.to_string());
            }
        }
        let mut plugins = Plugins::empty();
        for file in loaded {
            let p = &file.pools;
            plugins.status.extend(p.status.clone());
            plugins.discovery.extend(p.discovery.clone());
            plugins.strategy.extend(p.strategy.clone());
            plugins.router.extend(p.router.clone());
            plugins.admission.extend(p.admission.clone());
            plugins.files.push(file);
        }
        Ok((plugins, changes))
    }

    pub fn count(&self) -> usize {
        self.files.iter().map(|f| f.pools().len()).sum()
    }
}

/// Loads one file exactly as the router would (compile, link each role, call
/// `configure` with its table from `config`): what `passage plugin check` runs.
pub async fn load_one(
    runtime: Arc<Runtime>,
    config: &Config,
    name: &str,
    path: &Path,
) -> anyhow::Result<Arc<PluginFile>> {
    load_file(&runtime, config, name, path, None)
        .await
        .map(|(file, _)| file)
}

enum Change {
    Same,
    Added,
    Updated,
    Reconfigured,
}

/// Loads one file, reusing `previous` where the file and its settings are the same.
async fn load_file(
    runtime: &Arc<Runtime>,
    config: &Config,
    name: &str,
    path: &Path,
    previous: Option<&Arc<PluginFile>>,
) -> anyhow::Result<(Arc<PluginFile>, Change)> {
    let started = Instant::now();
    let wasm = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || read_wasm(&path))
            .await
            .context("plugin read task failed")??
    };
    let digest: [u8; 32] = Sha256::digest(&wasm).into();
    let sha256 = hex(&digest);
    // [sharing, issue 18] pin, signature and manifest schema, before anything is compiled.
    let adopted = super::adoption::check(config, name, path, &wasm, &sha256)?;
    let size = wasm.len() as u64;
    let limits = config.plugin_runtime.limits_for(name);
    let config_json = config.plugin_config_json(name);
    let same_code = previous.filter(|p| p.sha256 == sha256);
    if let Some(p) = same_code
        && p.limits == limits
        && p.config_json == config_json
        // A signature that came or changed is shown (`/plugins`) as it is now.
        && p.adopted == adopted
    {
        return Ok((p.clone(), Change::Same));
    }
    let (component, code) = match same_code {
        Some(p) => (p.component.clone(), "reused"),
        None => {
            let rt = runtime.clone();
            let p = path.to_owned();
            let (component, source) =
                tokio::task::spawn_blocking(move || rt.component_from_bytes(&wasm, &digest, &p))
                    .await
                    .context("plugin compilation task failed")?
                    .with_context(|| {
                        format!("plugin `{name}` ({}) cannot be loaded", path.display())
                    })?;
            let code = if source == CodeSource::Cache {
                "cached"
            } else {
                "compiled"
            };
            (component, code)
        }
    };
    let exported = roles_of(&component, runtime.engine());
    if exported.is_empty() {
        bail!(
            "plugin `{name}` ({}) exports none of the roles of passage:plugin@0.1.0 \
             (status, discovery, strategy), @0.2.0 (those and router) or @0.3.0 (those, \
             selection, placement and admission)",
            path.display()
        );
    }
    let name: Arc<str> = name.into();
    let settings = PluginSettings {
        name: name.clone(),
        config_json: config_json.clone(),
        limits: limits.clone(),
        log_budget: Arc::default(),
        services: runtime.services(),
    };
    let mut pools = FilePools::default();
    for &api in &exported {
        let (s, c) = (&settings, &component);
        match api.role {
            Role::Status => pools.status = Some(pool(runtime, s, api, c).await?),
            Role::Discovery => pools.discovery = Some(pool(runtime, s, api, c).await?),
            Role::Strategy => pools.strategy = Some(pool(runtime, s, api, c).await?),
            Role::Router => pools.router = Some(pool(runtime, s, api, c).await?),
            Role::Admission => pools.admission = Some(pool(runtime, s, api, c).await?),
        }
    }
    let roles: Vec<String> = exported.iter().map(|api| api.role.to_string()).collect();
    let contract = exported
        .iter()
        .map(|api| api.contract())
        .max()
        .unwrap_or(Version::V0_1);
    tracing::info!(
        plugin = %name,
        roles = %roles.join(","),
        contract = contract.as_str(),
        code,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plugin loaded"
    );
    let change = match (previous, same_code) {
        (None, _) => Change::Added,
        (Some(_), None) => Change::Updated,
        (Some(_), Some(_)) => Change::Reconfigured,
    };
    Ok((
        Arc::new(PluginFile {
            name,
            path: path.to_owned(),
            sha256,
            size,
            limits,
            loaded_at: std::time::SystemTime::now(),
            adopted,
            component,
            config_json,
            pools,
        }),
        change,
    ))
}

/// The `*.wasm` files directly in `dir`: the loadable ones as `(name, path)`,
/// sorted by name, and the ones whose name cannot be a plugin's, with why. A
/// missing directory is an empty one (with a warning): the router still answers
/// pings.
pub(crate) struct WasmFiles {
    pub files: Vec<(String, PathBuf)>,
    pub misnamed: Vec<(PathBuf, String)>,
}

pub(crate) fn wasm_files(dir: &Path) -> anyhow::Result<WasmFiles> {
    let mut found = WasmFiles {
        files: Vec::new(),
        misnamed: Vec::new(),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "plugins directory does not exist; running without plugins");
            return Ok(found);
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read plugins directory {}", dir.display()));
        }
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "wasm") || !path.is_file() {
            continue;
        }
        match path.file_stem().and_then(|s| s.to_str()) {
            Some(name) if is_plugin_name(name) => found.files.push((name.to_owned(), path)),
            Some(_) => found.misnamed.push((
                path,
                "a plugin name uses only a-z, 0-9, `-` and `_`".to_owned(),
            )),
            None => found
                .misnamed
                .push((path, "the file name is not UTF-8".to_owned())),
        }
    }
    found.files.sort();
    found.misnamed.sort();
    Ok(found)
}

/// Links one role of a component and warms one instance up, so a bad
/// configuration or a component that cannot start is reported now.
async fn pool<R: RoleKind>(
    runtime: &Runtime,
    settings: &PluginSettings,
    api: Api,
    component: &Component,
) -> anyhow::Result<Arc<Pool<R>>> {
    let pool = Pool::<R>::new(runtime, settings, api, component).with_context(|| {
        format!(
            "plugin `{}` cannot be linked as a {} plugin",
            settings.name, api.role
        )
    })?;
    pool.warm_up()
        .await
        .map_err(|e| anyhow::anyhow!("plugin `{}` {e}", settings.name))?;
    Ok(Arc::new(pool))
}
