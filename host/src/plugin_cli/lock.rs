//! `passage plugin lock`: pins every plugin file of the plugins directory by
//! writing its SHA-256 into `[plugin_runtime.grants.<name>] sha256` of the
//! configuration file, keeping the file's comments and layout (`toml_edit`).

use std::path::Path;

use anyhow::{Context, bail};
use sha2::Digest as _;

use crate::config::{Config, same_plugin_name};

/// Pins the files in `plugins_dir` into `config_file`; one line per plugin
/// saying what changed. The edited file must still be a valid configuration,
/// or nothing is written.
pub fn lock(config_file: &Path, plugins_dir: &Path) -> anyhow::Result<Vec<String>> {
    let text = match std::fs::read_to_string(config_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", config_file.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", config_file.display()))?;
    let listing = crate::plugins::registry::wasm_files(plugins_dir)?;
    if listing.files.is_empty() {
        bail!("no *.wasm in {}: nothing to pin", plugins_dir.display());
    }
    let mut report = Vec::new();
    for (path, why) in &listing.misnamed {
        report.push(format!("skipped {}: {why}", path.display()));
    }
    let runtime = implicit_table(doc.as_table_mut(), "plugin_runtime")?;
    let grants = implicit_table(runtime, "grants")?;
    for (name, path) in &listing.files {
        let wasm = crate::plugins::runtime::read_wasm(path)?;
        let digest = crate::plugins::runtime::hex(&sha2::Sha256::digest(&wasm));
        // The grant may be spelled with `_` for `-` (environment-friendly names).
        let key = grants
            .iter()
            .map(|(k, _)| k.to_owned())
            .find(|k| same_plugin_name(k, name))
            .unwrap_or_else(|| name.clone());
        let grant = implicit_table(grants, &key)?;
        grant.set_implicit(false);
        let old = grant
            .get("sha256")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        match old {
            Some(old) if old.eq_ignore_ascii_case(&digest) => {
                report.push(format!("{name}: already pinned to {digest}"));
                continue;
            }
            Some(old) => report.push(format!("{name}: pin changed from {old} to {digest}")),
            None => report.push(format!("{name}: pinned to {digest}")),
        }
        grant.insert("sha256", toml_edit::value(digest));
    }
    let new_text = doc.to_string();
    if let Err(problems) = Config::parse(&new_text) {
        bail!(
            "{} would not be a valid configuration after pinning, nothing written:\n{problems}",
            config_file.display()
        );
    }
    if new_text != text {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config_file)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        let dir = match config_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let name = config_file
            .file_name()
            .and_then(|n| n.to_str())
            .context("the configuration file has no name")?;
        super::write_atomically(&dir, name, new_text.as_bytes(), mode)?;
    }
    Ok(report)
}

/// The table `key` of `parent`, created (implicit: no header of its own) when
/// missing.
fn implicit_table<'a>(
    parent: &'a mut toml_edit::Table,
    key: &str,
) -> anyhow::Result<&'a mut toml_edit::Table> {
    if !parent.contains_key(key) {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        parent.insert(key, toml_edit::Item::Table(table));
    }
    let item = parent.get_mut(key).context("just inserted")?;
    if let toml_edit::Item::Value(toml_edit::Value::InlineTable(inline)) = item {
        // `grants = { x = { ... } }`: make it a normal table so keys can be added.
        let table = std::mem::take(inline).into_table();
        *item = toml_edit::Item::Table(table);
    }
    item.as_table_mut()
        .with_context(|| format!("`{key}` in the configuration is not a table"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_pins_every_file_and_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(plugins.join("round-robin.wasm"), b"one").unwrap();
        std::fs::write(plugins.join("http-discovery.wasm"), b"two").unwrap();
        let config = dir.path().join("passage.toml");
        let original = "# my router\nbind = \"0.0.0.0:25565\" # the port\n\n\
                        [plugin_runtime.grants.http_discovery]\n# who may be reached\nhttp_allow = [\"a.example\"]\n";
        std::fs::write(&config, original).unwrap();
        let report = lock(&config, &plugins).unwrap();
        assert_eq!(report.len(), 2, "{report:?}");
        let text = std::fs::read_to_string(&config).unwrap();
        for kept in ["# my router", "# the port", "# who may be reached"] {
            assert!(text.contains(kept), "{kept} lost:\n{text}");
        }
        let c = Config::parse(&text).unwrap();
        let pin = |n: &str| c.plugin_runtime.grant(n).unwrap().sha256.clone().unwrap();
        assert_eq!(
            pin("round-robin"),
            crate::plugins::runtime::hex(&sha2::Sha256::digest(b"one"))
        );
        assert_eq!(
            pin("http-discovery"),
            crate::plugins::runtime::hex(&sha2::Sha256::digest(b"two"))
        );
        // The existing `_` spelling was reused, not duplicated.
        assert!(!text.contains("grants.http-discovery"), "{text}");
        assert_eq!(
            c.plugin_runtime.grant("http-discovery").unwrap().http_allow,
            ["a.example"]
        );
        // Again: nothing changes.
        let report = lock(&config, &plugins).unwrap();
        assert!(
            report.iter().all(|l| l.contains("already pinned")),
            "{report:?}"
        );
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    }

    #[test]
    fn lock_refuses_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.toml");
        let e = lock(&config, dir.path()).unwrap_err().to_string();
        assert!(e.contains("nothing to pin"), "{e}");
        assert!(!config.exists());
    }
}
