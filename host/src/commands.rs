//! The operator subcommands other than running the router: `config check`,
//! `secret generate`, `plugins` and `plugin check`. They print for people.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use rand::RngCore;
use rand::rngs::OsRng;

use crate::config::Config;

/// What `passage config check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Problems that stop the router from starting.
    pub errors: Vec<String>,
    /// Things that work but are likely mistakes.
    pub warnings: Vec<String>,
    /// Environment overrides that were applied (variable → key).
    pub overrides: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks a configuration the way the router would load it (file, then the
/// environment's `PASSAGE_*` overrides), then the files and plugins it names.
/// Loads no plugin code: `passage plugin check` judges a `.wasm`.
pub fn check_config(path: Option<&Path>, vars: Vec<(String, String)>) -> CheckReport {
    let mut report = CheckReport::default();
    let loaded = match Config::load(path, vars) {
        Ok(loaded) => loaded,
        Err(problems) => {
            report.errors = problems.0;
            return report;
        }
    };
    report.overrides = loaded
        .overrides
        .iter()
        .map(|ov| format!("{} sets {}", ov.var, ov.dotted()))
        .collect();
    let config = loaded.config;

    if let Some(secret) = &config.auth_secret_file {
        match crate::auth::cookie::CookieSecret::from_file(secret) {
            Ok(_) => {
                if let Ok(meta) = std::fs::metadata(secret)
                    && meta.permissions().mode() & 0o007 != 0
                {
                    report.warnings.push(format!(
                        "auth_secret_file: {} is readable by other users (chmod 600)",
                        secret.display()
                    ));
                }
            }
            Err(e) => report.errors.push(format!("auth_secret_file: {e:#}")),
        }
    }
    if let Some(icon) = &config.status.favicon_file
        && let Err(e) = crate::status::read_favicon(icon)
    {
        report.errors.push(format!("{e:#}"));
    }

    let dir = &config.plugin_runtime.dir;
    // The same listing the router loads from, so a file name it would refuse is
    // reported here too.
    let listing = std::fs::metadata(dir)
        .map_err(|e| format!("plugin_runtime.dir: cannot read {}: {e}", dir.display()))
        .and_then(|_| {
            crate::plugins::registry::wasm_files(dir)
                .map_err(|e| format!("plugin_runtime.dir: {e:#}"))
        });
    let plugin_names: Vec<String> = match listing {
        Ok(crate::plugins::registry::WasmFiles { files, misnamed }) => {
            for (path, why) in misnamed {
                report.errors.push(format!(
                    "plugin_runtime.dir: {} is skipped: {why}",
                    path.display()
                ));
            }
            if files.is_empty() {
                report.warnings.push(format!(
                    "plugin_runtime.dir: no *.wasm in {}: status answers the fallback and no player can be routed",
                    dir.display()
                ));
            }
            for (name, path) in &files {
                check_adoption(&config, name, path, &mut report);
            }
            files.into_iter().map(|(name, _)| name).collect()
        }
        Err(e) => {
            report.errors.push(e);
            Vec::new()
        }
    };
    for name in config.plugins.keys() {
        if !plugin_names.iter().any(|p| p == name) {
            report.warnings.push(format!(
                "plugins.{name}: no {name}.wasm in {}; this table is unused",
                dir.display()
            ));
        }
    }
    for name in config.plugin_runtime.grants.keys() {
        if !plugin_names
            .iter()
            .any(|p| crate::config::same_plugin_name(p, name))
        {
            report.warnings.push(format!(
                "plugin_runtime.grants.{name}: no {name}.wasm in {}; this grant is unused",
                dir.display()
            ));
        }
    }
    // Every plugin `routing` names must exist (the router refuses to start, or to
    // reload, otherwise).
    let r = &config.routing;
    let named = r
        .strategy
        .iter()
        .map(|s| ("routing.strategy".to_owned(), s))
        .chain(
            r.fallback_strategy
                .iter()
                .map(|s| ("routing.fallback_strategy".to_owned(), s)),
        )
        .chain(
            r.hosts
                .iter()
                .map(|(host, s)| (format!("routing.hosts.\"{host}\""), s)),
        )
        .chain(
            r.admission
                .iter()
                .flatten()
                .map(|s| ("routing.admission".to_owned(), s)),
        );
    for (key, plugin) in named {
        if !plugin_names.iter().any(|p| p == plugin) {
            report
                .errors
                .push(format!("{key}: no {plugin}.wasm in {}", dir.display()));
        }
    }
    report
}

/// What the router checks of a plugin file before compiling it (pin, signature,
/// manifest and the table's schema), as errors and warnings of `config check`.
fn check_adoption(config: &Config, name: &str, path: &Path, report: &mut CheckReport) {
    use crate::plugins::{adoption, signature};
    use sha2::Digest as _;
    let wasm = match crate::plugins::runtime::read_wasm(path) {
        Ok(wasm) => wasm,
        Err(e) => {
            report.errors.push(format!("plugin_runtime.dir: {e:#}"));
            return;
        }
    };
    let sha256 = crate::plugins::runtime::hex(&sha2::Sha256::digest(&wasm));
    if let Err(e) = adoption::check_pin(config, name, path, &sha256) {
        report
            .errors
            .push(format!("plugin_runtime.grants.{name}.sha256: {e:#}"));
    }
    let detached = match signature::read_detached(path) {
        Ok(d) => d,
        Err(e) => {
            report.errors.push(format!("{e:#}"));
            None
        }
    };
    match adoption::check_signature(config, name, path, &wasm, detached.as_deref()) {
        Err(e) => report.errors.push(format!("{e:#}")),
        Ok(Some(
            verdict @ (signature::Verdict::Unsigned | signature::Verdict::UnknownKey { .. }),
        )) => report.warnings.push(format!(
            "plugin `{name}` is {verdict}; it loads because plugin_runtime.signatures = \"warn\""
        )),
        Ok(_) => {}
    }
    match crate::plugins::manifest::read(&wasm) {
        Err(e) => report.errors.push(format!("plugin `{name}` ({}): {e:#}", path.display())),
        Ok(None) => report.warnings.push(format!(
            "plugin `{name}` carries no passage-manifest: its [plugins.{name}] table cannot be checked"
        )),
        Ok(Some(m)) => {
            if let Err(problems) = m.check_config(name, &config.plugin_config_json(name)) {
                report.errors.extend(problems);
            }
        }
    }
}

/// Bytes of randomness in a generated secret (256 bits).
const SECRET_BYTES: usize = 32;

/// Writes a new random auth secret (32 random bytes as base64, 44 characters and a
/// newline) to `path`, readable by its owner only. Refuses to replace an existing
/// file unless `force`: overwriting a shared secret logs every player out of the
/// cookie fast path on the replicas that still have the old one.
pub fn generate_secret(path: &Path, force: bool) -> anyhow::Result<()> {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    // No trailing newline: the key is the file's exact bytes, and without
    // surrounding whitespace every implementation reads the same key from it,
    // whether it uses the bytes as stored (the reference) or trims them.
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists; pass --force to replace it (every replica and backend must then get the new file)",
                path.display()
            )
        } else {
            anyhow::anyhow!("cannot create {}: {e}", path.display())
        }
    })?;
    // `mode` applies only when the file is created; a replaced file is tightened too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// `passage plugin check FILE`: loads one `.wasm` exactly as the router would,
/// with its table from the configuration, and describes it. `Err` says why it
/// would be refused.
pub async fn check_plugin(file: &Path, config: &Config) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|n| crate::config::is_plugin_name(n))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: a plugin file is named <name>.wasm, the name using only a-z, 0-9, `-` and `_`",
                file.display()
            )
        })?;
    let runtime = std::sync::Arc::new(crate::plugins::Runtime::new(
        config.plugin_runtime.cache_dir(),
    )?);
    let started = std::time::Instant::now();
    let loaded = crate::plugins::registry::load_one(runtime.clone(), config, name, file).await?;
    let mut out = String::new();
    let roles: Vec<String> = loaded.roles().iter().map(|r| r.to_string()).collect();
    let l = &loaded.limits;
    let _ = writeln!(out, "plugin:    {name} ({})", file.display());
    let _ = writeln!(
        out,
        "size:      {} bytes, sha256 {}",
        loaded.size, loaded.sha256
    );
    let _ = writeln!(
        out,
        "contract:  passage:plugin@{}",
        loaded.contract().as_str()
    );
    let _ = writeln!(out, "roles:     {}", roles.join(", "));
    let _ = writeln!(
        out,
        "limits:    deadline {} ms, memory {} MiB, {} instances",
        l.call_timeout.as_millis(),
        l.memory_limit >> 20,
        l.max_instances
    );
    let http = if l.http_allow.is_empty() {
        "none".to_owned()
    } else {
        l.http_allow.join(", ")
    };
    let _ = writeln!(out, "http:      {http}");
    // What the checks before compiling found (they passed, or it would not
    // have loaded): the file's manifest, signature and pin.
    if let Ok(wasm) = crate::plugins::runtime::read_wasm(file) {
        use crate::plugins::{adoption, manifest, signature};
        let manifest = match manifest::read(&wasm) {
            Ok(Some(m)) => format!(
                "{} {}{}",
                m.name,
                m.version,
                if m.config_schema.is_some() {
                    ", its table checked against its schema"
                } else {
                    ", no schema"
                }
            ),
            _ => "none (its table is judged by configure alone)".to_owned(),
        };
        let _ = writeln!(out, "manifest:  {manifest}");
        let verdict = match config.plugin_runtime.signatures {
            crate::config::SignaturePolicy::Off => "not checked (signatures = \"off\")".to_owned(),
            _ => match signature::read_detached(file).ok().flatten() {
                None => signature::Verdict::Unsigned.to_string(),
                Some(text) => {
                    signature::verify(&wasm, &text, &adoption::trusted_keys(config)).to_string()
                }
            },
        };
        let _ = writeln!(out, "signature: {verdict}");
        let pin = match config
            .plugin_runtime
            .grant(name)
            .and_then(|g| g.sha256.as_deref())
        {
            Some(_) => "matches plugin_runtime.grants.<name>.sha256".replace("<name>", name),
            None => "none (`passage plugin lock` pins it)".to_owned(),
        };
        let _ = writeln!(out, "pin:       {pin}");
    }
    let imports = loaded.imports(runtime.engine());
    let wants_http = imports.iter().any(|i| i.starts_with("wasi:http/"));
    let _ = writeln!(out, "imports:   {}", imports.join(", "));
    if wants_http && l.http_allow.is_empty() {
        let _ = writeln!(
            out,
            "note:      it imports wasi:http but plugin_runtime.grants.{name}.http_allow is empty: every request it makes will be denied"
        );
    }
    let _ = writeln!(
        out,
        "ok:        compiled, linked and configured in {} ms",
        started.elapsed().as_millis()
    );
    Ok(out)
}

/// `passage plugins`: the running router's plugins, from its `/plugins` endpoint.
pub async fn fetch_plugins(addr: std::net::SocketAddr) -> anyhow::Result<serde_json::Value> {
    let url = format!("http://{addr}/plugins");
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the router at {url}: {e}"))?;
    if !response.status().is_success() {
        anyhow::bail!("{url} answered {}", response.status());
    }
    Ok(serde_json::from_slice(&response.bytes().await?)?)
}

/// A table of what `/plugins` returned, one line per plugin role.
pub fn render_plugins(json: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut rows = vec![
        [
            "NAME",
            "ROLE",
            "CONTRACT",
            "DEADLINE",
            "MEMORY",
            "INSTANCES",
            "HTTP",
            "VERSION",
            "SIGNATURE",
            "CALLS",
            "HEALTH",
        ]
        .map(str::to_owned),
    ];
    for p in json["plugins"].as_array().into_iter().flatten() {
        let http: Vec<&str> = p["capabilities"]["http_allow"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str())
            .collect();
        let adoption = &p["adoption"];
        let version = adoption["manifest"]["version"]
            .as_str()
            .unwrap_or("-")
            .to_owned();
        let signature = match adoption["signature"]["state"].as_str() {
            Some("verified") => format!(
                "verified:{}",
                adoption["signature"]["key_id"].as_str().unwrap_or("?")
            ),
            Some("untrusted_key") => format!(
                "untrusted:{}",
                adoption["signature"]["key_id"].as_str().unwrap_or("?")
            ),
            Some("not_checked") => "off".to_owned(),
            Some(other) => other.to_owned(),
            None => "?".to_owned(),
        };
        let signature = if adoption["pinned"] == true {
            format!("{signature},pinned")
        } else {
            signature
        };
        for role in p["roles"].as_array().into_iter().flatten() {
            let h = &role["health"];
            let health = match h["state"].as_str() {
                Some("healthy") => "healthy".to_owned(),
                Some("failing") => format!(
                    "failing ({} in a row: {})",
                    h["in_a_row"],
                    h["last_error"].as_str().unwrap_or("")
                ),
                Some("unhealthy") => format!(
                    "UNHEALTHY, retry in {} ms ({} in a row: {})",
                    h["retry_in_ms"],
                    h["in_a_row"],
                    h["last_error"].as_str().unwrap_or("")
                ),
                _ => "?".to_owned(),
            };
            rows.push([
                p["name"].as_str().unwrap_or("?").to_owned(),
                role["role"].as_str().unwrap_or("?").to_owned(),
                role["contract"].as_str().unwrap_or("?").to_owned(),
                format!("{}ms", p["limits"]["call_timeout_ms"]),
                format!("{}MiB", p["limits"]["memory_limit_mib"]),
                role["max_instances"].to_string(),
                if http.is_empty() {
                    "-".to_owned()
                } else {
                    http.join(",")
                },
                version.clone(),
                signature.clone(),
                format!(
                    "{}/{} failed/{} busy",
                    role["calls"], role["failures"], role["busy"]
                ),
                health,
            ]);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = format!("plugin set generation {}\n", json["generation"]);
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_private_random_and_usable() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        generate_secret(&a, false).unwrap();
        generate_secret(&b, false).unwrap();
        let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&a).unwrap();
        // 32 random bytes in base64 and nothing around them, so trimming
        // implementations and the byte-exact reference read the same key.
        assert_eq!(text.len(), 44);
        assert_eq!(text.trim(), text);
        assert_ne!(text, std::fs::read_to_string(&b).unwrap());
        let shape = crate::auth::cookie::CookieSecret::from_file(&a)
            .unwrap()
            .shape();
        assert_eq!((shape.len, shape.accepts_trimmed), (44, false));
    }

    #[test]
    fn generate_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "keep me").unwrap();
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = generate_secret(&a, false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "keep me");
        generate_secret(&a, true).unwrap();
        assert_ne!(std::fs::read_to_string(&a).unwrap(), "keep me");
        assert_eq!(
            std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn check_reports_every_problem_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            "bind = 5\n[timeouts]\nstatus_ms = \"soon\"\nhandshake_sec = 1\n[limits]\nmax_connections = -1\n",
        )
        .unwrap();
        let report = check_config(Some(&file), vec![]);
        let all = report.errors.join("\n");
        for key in [
            "bind:",
            "timeouts.status_ms:",
            "timeouts.handshake_sec:",
            "limits.max_connections:",
        ] {
            assert!(all.contains(key), "{key} missing in:\n{all}");
        }
    }

    #[test]
    fn check_follows_the_files_the_config_names() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(plugins.join("round-robin.wasm"), b"").unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            format!(
                "auth_secret_file = \"{0}/missing\"\n[plugin_runtime]\ndir = \"{1}\"\n[routing]\nstrategy = \"player-fill\"\n[plugins.fixed-status]\n",
                dir.path().display(),
                plugins.display()
            ),
        )
        .unwrap();
        let report = check_config(Some(&file), vec![]);
        let errors = report.errors.join("\n");
        assert!(errors.contains("auth_secret_file:"), "{errors}");
        assert!(
            errors.contains("routing.strategy: no player-fill.wasm"),
            "{errors}"
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.starts_with("plugins.fixed-status:")),
            "{:?}",
            report.warnings
        );
    }
}
