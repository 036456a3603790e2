//! The build-script half of a plugin's manifest (feature `build`): reads the
//! plugin's `Cargo.toml` and writes `$OUT_DIR/passage-manifest.json`, which
//! [`manifest!`](crate::manifest) embeds in the component.
//!
//! In the plugin's `Cargo.toml`:
//!
//! ```toml
//! [build-dependencies]
//! passage-sdk = { version = "…", features = ["build"] }
//!
//! [package.metadata.passage]
//! contract = "0.1.0"                      # "0.2.0" for a router
//! config_schema = "config.schema.json"    # a JSON Schema of [plugins.<name>], or an inline table
//! capabilities = [
//!   { kind = "http", host = "api.example.com", reason = "reads the server list" },
//!   # or: the host of the URL the operator sets in the table's `url` key
//!   { kind = "http", host_from_config = "url", reason = "fetches the target list" },
//! ]
//! ```
//!
//! and a `build.rs` of one line: `fn main() { passage_sdk::build::write_manifest() }`.
//! Name, version, authors, description, license and homepage come from
//! `[package]`.

use std::path::{Path, PathBuf};

/// Writes the manifest, panicking with the reason (the build then fails and
/// shows it).
pub fn write_manifest() {
    if let Err(e) = try_write_manifest() {
        panic!("passage-sdk: cannot write the plugin manifest: {e}");
    }
}

/// Writes `$OUT_DIR/passage-manifest.json`; its path, or why it could not.
pub fn try_write_manifest() -> Result<PathBuf, String> {
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set (run from build.rs)"));
    let crate_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env("OUT_DIR")?).join("passage-manifest.json");
    let cargo_toml = crate_dir.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", cargo_toml.display());
    let text = std::fs::read_to_string(&cargo_toml)
        .map_err(|e| format!("cannot read {}: {e}", cargo_toml.display()))?;
    let optional = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let json = manifest_json(
        &text,
        &crate_dir,
        Package {
            name: env("CARGO_PKG_NAME")?,
            version: env("CARGO_PKG_VERSION")?,
            authors: optional("CARGO_PKG_AUTHORS")
                .map(|a| a.split(':').map(str::to_owned).collect())
                .unwrap_or_default(),
            description: optional("CARGO_PKG_DESCRIPTION"),
            license: optional("CARGO_PKG_LICENSE"),
            homepage: optional("CARGO_PKG_HOMEPAGE").or_else(|| optional("CARGO_PKG_REPOSITORY")),
        },
    )?;
    std::fs::write(&out, json).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}

/// What `[package]` says (as cargo resolved it, workspace inheritance included).
pub struct Package {
    pub name: String,
    pub version: String,
    pub authors: Vec<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
}

/// The manifest JSON for a crate whose `Cargo.toml` is `cargo_toml`.
pub fn manifest_json(
    cargo_toml: &str,
    crate_dir: &Path,
    package: Package,
) -> Result<String, String> {
    use serde_json::{Value, json};
    let doc: toml::Table = cargo_toml.parse().map_err(|e| format!("Cargo.toml: {e}"))?;
    let meta = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("passage"));
    let meta: Value = match meta {
        None => json!({}),
        Some(m) => serde_json::to_value(m).map_err(|e| e.to_string())?,
    };
    let meta = meta
        .as_object()
        .ok_or("[package.metadata.passage] must be a table")?;
    for key in meta.keys() {
        if !["name", "contract", "config_schema", "capabilities"].contains(&key.as_str()) {
            return Err(format!(
                "[package.metadata.passage]: unknown key `{key}` (known: name, contract, config_schema, capabilities)"
            ));
        }
    }
    let schema = match meta.get("config_schema") {
        None => None,
        Some(Value::String(file)) => {
            let path = crate_dir.join(file);
            println!("cargo:rerun-if-changed={}", path.display());
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("config_schema: cannot read {}: {e}", path.display()))?;
            Some(
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("config_schema: {} is not JSON: {e}", path.display()))?,
            )
        }
        Some(table @ Value::Object(_)) => Some(table.clone()),
        Some(_) => return Err("config_schema: a file name or a table".to_owned()),
    };
    let capabilities = meta.get("capabilities").cloned().unwrap_or(json!([]));
    for (i, c) in capabilities
        .as_array()
        .ok_or("capabilities: a list of tables")?
        .iter()
        .enumerate()
    {
        for key in ["kind", "reason"] {
            let text = c.get(key).and_then(Value::as_str).unwrap_or_default();
            if text.trim().is_empty() {
                return Err(format!("capabilities[{i}]: needs a `{key}`"));
            }
        }
    }
    let mut manifest = json!({
        "name": meta.get("name").and_then(Value::as_str).unwrap_or(&package.name),
        "version": package.version,
        "contract": meta.get("contract").and_then(Value::as_str).unwrap_or("0.1.0"),
        "capabilities": capabilities,
    });
    let m = manifest.as_object_mut().ok_or("unreachable")?;
    if !package.authors.is_empty() {
        m.insert("authors".into(), json!(package.authors));
    }
    for (key, value) in [
        ("description", package.description),
        ("license", package.license),
        ("homepage", package.homepage),
    ] {
        if let Some(v) = value {
            m.insert(key.into(), json!(v));
        }
    }
    if let Some(schema) = schema {
        m.insert("config_schema".into(), schema);
    }
    serde_json::to_string(&manifest).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> Package {
        Package {
            name: "demo".into(),
            version: "1.0.0".into(),
            authors: vec!["A".into()],
            description: Some("d".into()),
            license: None,
            homepage: None,
        }
    }

    #[test]
    fn metadata_becomes_the_manifest() {
        let toml = r#"
[package]
name = "demo"
[package.metadata.passage]
contract = "0.2.0"
config_schema = { type = "object", additionalProperties = false }
capabilities = [{ kind = "http", host = "a.example", reason = "r" }]
"#;
        let json: serde_json::Value =
            serde_json::from_str(&manifest_json(toml, Path::new("."), package()).unwrap()).unwrap();
        assert_eq!(json["name"], "demo");
        assert_eq!(json["contract"], "0.2.0");
        assert_eq!(json["authors"][0], "A");
        assert_eq!(json["config_schema"]["additionalProperties"], false);
        assert_eq!(json["capabilities"][0]["host"], "a.example");
        assert!(json.get("license").is_none());
    }

    #[test]
    fn mistakes_are_named() {
        let e = manifest_json(
            "[package.metadata.passage]\ncontracts = 1\n",
            Path::new("."),
            package(),
        )
        .unwrap_err();
        assert!(e.contains("unknown key `contracts`"), "{e}");
        let e = manifest_json(
            "[package.metadata.passage]\ncapabilities = [{ kind = \"http\" }]\n",
            Path::new("."),
            package(),
        )
        .unwrap_err();
        assert!(e.contains("capabilities[0]: needs a `reason`"), "{e}");
        let e = manifest_json(
            "[package.metadata.passage]\nconfig_schema = \"missing.json\"\n",
            Path::new("/nonexistent"),
            package(),
        )
        .unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
    }
}
