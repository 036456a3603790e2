//! A plugin's manifest: what it is, who made it, what it asks the operator for,
//! and the JSON Schema of its `[plugins.<name>]` table. It travels inside the
//! component as a custom section named `passage-manifest` holding JSON, so it is
//! read from the file's bytes without compiling or instantiating anything, and a
//! signature over the file covers it too.
//!
//! Where it sits: the Rust SDK's `passage_sdk::manifest!()` puts it in the core
//! module (a `#[link_section]` lands there, and the component embeds that module);
//! `passage plugin manifest set` (Python, JavaScript, or replacing one) writes it at
//! the component's top level. The top level wins; otherwise exactly one nested
//! module may carry one.
//!
//! The manifest only *asks*: capabilities are granted by the operator in
//! `[plugin_runtime.grants.<name>]`, never taken from the plugin.

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};

/// The custom section's name.
pub const SECTION: &str = "passage-manifest";
/// Largest manifest accepted, schema included.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;
const MAX_CAPABILITIES: usize = 64;
const MAX_TEXT: usize = 1024;

/// What a plugin says about itself. Unknown fields are ignored, so a manifest
/// written by a newer SDK still loads here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// The contract version it was built against (`0.1.0`, `0.2.0`); the host
    /// still tells roles and versions from the exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// What it asks the operator to grant, each with a reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// A JSON Schema of its `[plugins.<name>]` table (as the JSON `configure` gets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
}

/// One capability asked for: `{"kind": "...", "reason": "...", ...}`. The kind
/// decides the other fields; kinds this router does not know are kept and shown
/// as such, so new kinds can be added without breaking older routers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    pub kind: String,
    pub reason: String,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A capability as this router understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Outbound HTTP to one host (`host` or `host:port`).
    HttpHost(String),
    /// Outbound HTTP to the host of the URL in its config table's key `key`.
    HttpHostFromConfig(String),
    /// A key-value bucket (`wasi:keyvalue/store.open`).
    KeyValueBucket(String),
    /// A kind this router does not know.
    Unknown(String),
}

impl Capability {
    pub fn asked(&self) -> anyhow::Result<Asked> {
        let text = |key: &str| -> anyhow::Result<Option<String>> {
            match self.fields.get(key) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 255 => {
                    Ok(Some(s.clone()))
                }
                Some(_) => bail!(
                    "capability `{}`: `{key}` must be a non-empty string of at most 255 bytes",
                    self.kind
                ),
            }
        };
        Ok(match self.kind.as_str() {
            "http" => match (text("host")?, text("host_from_config")?) {
                (Some(host), None) => {
                    crate::plugins::http_grant::HostPattern::parse(&host)
                        .map_err(|e| anyhow::anyhow!("capability `http`: host `{host}`: {e}"))?;
                    Asked::HttpHost(host)
                }
                (None, Some(key)) => Asked::HttpHostFromConfig(key),
                _ => bail!("capability `http` needs exactly one of `host`, `host_from_config`"),
            },
            "keyvalue" => Asked::KeyValueBucket(
                text("bucket")?.context("capability `keyvalue` needs a `bucket`")?,
            ),
            other => Asked::Unknown(other.to_owned()),
        })
    }
}

impl Manifest {
    /// Parses and checks a manifest's JSON (bounded, fields sane, schema valid).
    pub fn from_json(bytes: &[u8]) -> anyhow::Result<Manifest> {
        ensure!(
            bytes.len() <= MAX_MANIFEST_BYTES,
            "the manifest is {} bytes, over the limit of {MAX_MANIFEST_BYTES}",
            bytes.len()
        );
        let manifest: Manifest =
            serde_json::from_slice(bytes).context("the manifest is not valid manifest JSON")?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> anyhow::Result<()> {
        ensure!(
            !self.name.is_empty() && self.name.len() <= 64,
            "manifest `name` must be 1 to 64 characters"
        );
        ensure!(
            !self.version.is_empty() && self.version.len() <= 64,
            "manifest `version` must be 1 to 64 characters"
        );
        for text in self
            .authors
            .iter()
            .chain(&self.description)
            .chain(&self.license)
            .chain(&self.homepage)
        {
            ensure!(
                text.len() <= MAX_TEXT && !text.chars().any(char::is_control),
                "manifest text fields are at most {MAX_TEXT} bytes without control characters"
            );
        }
        ensure!(
            self.capabilities.len() <= MAX_CAPABILITIES,
            "a manifest asks for at most {MAX_CAPABILITIES} capabilities"
        );
        for c in &self.capabilities {
            ensure!(
                !c.reason.trim().is_empty() && c.reason.len() <= MAX_TEXT,
                "capability `{}`: every capability needs a `reason` (at most {MAX_TEXT} bytes)",
                c.kind
            );
            c.asked()?;
        }
        if let Some(schema) = &self.config_schema {
            compile_schema(schema)?;
        }
        Ok(())
    }

    /// Checks a plugin's config table (the JSON `configure` receives) against the
    /// schema; each problem names the key, as `plugins.<name>.<key>: ...`.
    pub fn check_config(&self, plugin: &str, config_json: &str) -> Result<(), Vec<String>> {
        let Some(schema) = &self.config_schema else {
            return Ok(());
        };
        let validator = compile_schema(schema).map_err(|e| vec![format!("{e:#}")])?;
        let table: serde_json::Value = serde_json::from_str(config_json)
            .map_err(|e| vec![format!("plugins.{plugin}: not JSON: {e}")])?;
        let problems: Vec<String> = validator
            .iter_errors(&table)
            .take(20)
            .map(|e| {
                let at = key_path(e.instance_path().as_str());
                let key = if at.is_empty() {
                    format!("plugins.{plugin}")
                } else {
                    format!("plugins.{plugin}.{at}")
                };
                let message = unknown_keys(schema, &table, &e).unwrap_or_else(|| e.to_string());
                format!("{key}: {message}")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// `additionalProperties: false` over an object with no `properties` is
/// reported by the validator as a "false schema" at the object, without naming
/// the key: name the unexpected keys, and the known ones.
fn unknown_keys(
    schema: &serde_json::Value,
    table: &serde_json::Value,
    e: &jsonschema::ValidationError<'_>,
) -> Option<String> {
    let schema_path = e.schema_path().as_str();
    let parent = schema_path.strip_suffix("/additionalProperties")?;
    if !matches!(
        e.kind(),
        jsonschema::error::ValidationErrorKind::FalseSchema
    ) {
        return None;
    }
    let object = table.pointer(e.instance_path().as_str())?.as_object()?;
    let known: Vec<&str> = schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.as_object())
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let unexpected: Vec<String> = object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| format!("`{k}`"))
        .collect();
    Some(if known.is_empty() {
        format!(
            "unknown key(s) {}: it takes no settings here",
            unexpected.join(", ")
        )
    } else {
        format!(
            "unknown key(s) {} (known: {})",
            unexpected.join(", "),
            known.join(", ")
        )
    })
}

fn compile_schema(schema: &serde_json::Value) -> anyhow::Result<jsonschema::Validator> {
    // No remote references can be fetched (the crate's HTTP resolver is not
    // built in): a schema must stand on its own.
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| {
            anyhow::anyhow!("the manifest's config_schema is not a usable JSON Schema: {e}")
        })
}

/// `/targets/0/port` → `targets[0].port`.
fn key_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

/// What a component's bytes say without compiling them.
#[derive(Debug, Default)]
pub struct Sections {
    /// The manifest section's bytes, if any (top level first).
    pub manifest: Option<Vec<u8>>,
    /// Top-level import and export names of the component.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Reads the `passage-manifest` section and the component's top-level import
/// and export names. An error when the bytes are not a component.
pub fn sections(wasm: &[u8]) -> anyhow::Result<Sections> {
    use wasmparser::{Encoding, Parser, Payload};
    let mut out = Sections::default();
    let mut top = None;
    let mut nested = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("not a valid WebAssembly component")?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    bail!("a core WebAssembly module, not a component (build for wasm32-wasip2)");
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(reader) if reader.name() == SECTION => {
                // Bounded before it is copied (a file may hold many).
                ensure!(
                    reader.data().len() <= MAX_MANIFEST_BYTES,
                    "its `{SECTION}` section is {} bytes, over the limit of {MAX_MANIFEST_BYTES}",
                    reader.data().len()
                );
                let data = reader.data().to_vec();
                if depth == 1 {
                    ensure!(top.is_none(), "two `{SECTION}` sections at the top level");
                    top = Some(data);
                } else {
                    nested.push(data);
                }
            }
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    out.imports.push(import?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    out.exports.push(export?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    out.manifest = match (top, nested.len()) {
        (Some(top), _) => Some(top),
        (None, 0) => None,
        (None, 1) => nested.pop(),
        (None, n) => bail!(
            "{n} nested modules carry a `{SECTION}` section: set one at the top level with `passage plugin manifest set`"
        ),
    };
    out.imports.sort();
    out.exports.sort();
    Ok(out)
}

/// The manifest of a component, `None` when it carries none.
pub fn read(wasm: &[u8]) -> anyhow::Result<Option<Manifest>> {
    match sections(wasm)?.manifest {
        None => Ok(None),
        Some(bytes) => Manifest::from_json(&bytes)
            .map(Some)
            .context("its `passage-manifest` section is invalid"),
    }
}

/// `wasm` with its top-level `passage-manifest` section(s) replaced by one
/// holding `manifest_json` (checked first), appended at the end. Every other
/// section is copied byte for byte.
pub fn set(wasm: &[u8], manifest_json: &[u8]) -> anyhow::Result<Vec<u8>> {
    Manifest::from_json(manifest_json)?;
    // Validates the whole component first: never rewrite a file we cannot read.
    sections(wasm)?;
    ensure!(wasm.len() >= 8, "not a WebAssembly component");
    let mut out = Vec::with_capacity(wasm.len() + manifest_json.len() + 32);
    out.extend_from_slice(&wasm[..8]);
    let mut rest = &wasm[8..];
    while !rest.is_empty() {
        let id = rest[0];
        let (size, leb) = read_leb_u32(&rest[1..]).context("malformed section header")?;
        let start = 1 + leb;
        let end = start
            .checked_add(size as usize)
            .filter(|end| *end <= rest.len())
            .context("section runs past the end of the file")?;
        let section = &rest[..end];
        let is_ours = id == 0 && {
            let body = &rest[start..end];
            read_leb_u32(body)
                .is_ok_and(|(n, l)| body.get(l..l + n as usize) == Some(SECTION.as_bytes()))
        };
        if !is_ours {
            out.extend_from_slice(section);
        }
        rest = &rest[end..];
    }
    let mut body = Vec::new();
    write_leb_u32(&mut body, SECTION.len() as u32);
    body.extend_from_slice(SECTION.as_bytes());
    body.extend_from_slice(manifest_json);
    out.push(0);
    write_leb_u32(&mut out, u32::try_from(body.len())?);
    out.extend_from_slice(&body);
    Ok(out)
}

fn read_leb_u32(bytes: &[u8]) -> anyhow::Result<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, b) in bytes.iter().take(5).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    bail!("bad LEB128")
}

fn write_leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn manifest_json() -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "name": "demo", "version": "1.2.3", "authors": ["A <a@example.com>"],
            "capabilities": [
                {"kind": "http", "host": "api.example.com", "reason": "lists servers"},
                {"kind": "keyvalue", "bucket": "sessions", "reason": "remembers players"},
                {"kind": "gpu", "reason": "from the future"}
            ],
            "config_schema": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "players_key": {"type": "string", "minLength": 1},
                    "targets": {"type": "array", "items": {"type": "object",
                        "properties": {"port": {"type": "integer", "maximum": 65535}}}}
                }
            }
        }))
        .unwrap()
    }

    #[test]
    fn set_then_read_round_trips_and_replaces() {
        assert!(read(EMPTY_COMPONENT).unwrap().is_none());
        let with = set(EMPTY_COMPONENT, &manifest_json()).unwrap();
        let m = read(&with).unwrap().unwrap();
        assert_eq!((m.name.as_str(), m.version.as_str()), ("demo", "1.2.3"));
        let asked: Vec<Asked> = m.capabilities.iter().map(|c| c.asked().unwrap()).collect();
        assert_eq!(
            asked,
            [
                Asked::HttpHost("api.example.com".into()),
                Asked::KeyValueBucket("sessions".into()),
                Asked::Unknown("gpu".into())
            ]
        );
        // Setting again replaces, never duplicates.
        let other = br#"{"name":"demo","version":"2.0.0"}"#;
        let again = set(&with, other).unwrap();
        assert_eq!(read(&again).unwrap().unwrap().version, "2.0.0");
        assert_eq!(
            again.len(),
            EMPTY_COMPONENT.len() + 3 + SECTION.len() + other.len()
        );
    }

    #[test]
    fn config_is_checked_against_the_schema_naming_the_key() {
        let m = Manifest::from_json(&manifest_json()).unwrap();
        assert!(m.check_config("demo", r#"{"players_key":"p"}"#).is_ok());
        let e = m
            .check_config("demo", r#"{"players_kee":"p"}"#)
            .unwrap_err()
            .join("\n");
        assert!(
            e.starts_with("plugins.demo: ") && e.contains("players_kee"),
            "{e}"
        );
        let e = m
            .check_config("demo", r#"{"targets":[{"port":70000}]}"#)
            .unwrap_err()
            .join("\n");
        assert!(e.starts_with("plugins.demo.targets[0].port: "), "{e}");
        let e = m
            .check_config("demo", r#"{"players_key":""}"#)
            .unwrap_err()
            .join("\n");
        assert!(e.starts_with("plugins.demo.players_key: "), "{e}");
    }

    #[test]
    fn unknown_keys_are_named_even_where_nothing_is_allowed() {
        let m = Manifest::from_json(
            br#"{"name":"x","version":"1","config_schema":{"type":"object","additionalProperties":false}}"#,
        )
        .unwrap();
        let e = m
            .check_config("x", r#"{"replicas":3}"#)
            .unwrap_err()
            .join("\n");
        assert_eq!(
            e,
            "plugins.x: unknown key(s) `replicas`: it takes no settings here"
        );
    }

    #[test]
    fn bad_manifests_are_refused_with_the_reason() {
        let cases: &[(&[u8], &str)] = &[
            (br#"{"name":"x"}"#, "not valid manifest JSON"),
            (
                br#"{"name":"x","version":"1","capabilities":[{"kind":"http","host":"a.example"}]}"#,
                "not valid manifest JSON",
            ),
            (
                br#"{"name":"x","version":"1","capabilities":[{"kind":"http","host":"a.example","reason":" "}]}"#,
                "needs a `reason`",
            ),
            (
                br#"{"name":"x","version":"1","capabilities":[{"kind":"http","host":"http://a/","reason":"r"}]}"#,
                "host `http://a/`",
            ),
            (
                br#"{"name":"x","version":"1","config_schema":{"type":"nope"}}"#,
                "not a usable JSON Schema",
            ),
            (
                br#"{"name":"x","version":"1","config_schema":{"$ref":"https://example.com/s.json"}}"#,
                "not a usable JSON Schema",
            ),
        ];
        for (json, want) in cases {
            let e = format!("{:#}", Manifest::from_json(json).unwrap_err());
            assert!(e.contains(want), "{want} not in {e}");
        }
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        // A section that large is refused before it is copied.
        let mut body = vec![SECTION.len() as u8];
        body.extend_from_slice(SECTION.as_bytes());
        body.extend(std::iter::repeat_n(b' ', MAX_MANIFEST_BYTES + 1));
        let mut huge = EMPTY_COMPONENT.to_vec();
        huge.push(0);
        write_leb_u32(&mut huge, body.len() as u32);
        huge.extend_from_slice(&body);
        let e = sections(&huge).unwrap_err().to_string();
        assert!(e.contains("over the limit"), "{e}");
        assert!(format!("{:#}", Manifest::from_json(&big).unwrap_err()).contains("over the limit"));
    }

    #[test]
    fn core_modules_and_junk_are_not_components() {
        let e = sections(b"\0asm\x01\x00\x00\x00").unwrap_err().to_string();
        assert!(e.contains("core WebAssembly module"), "{e}");
        assert!(sections(b"\0asmjunk").is_err());
        // A section claiming more bytes than there are.
        let mut bad = EMPTY_COMPONENT.to_vec();
        bad.extend_from_slice(&[0, 0x7f, 1]);
        assert!(set(&bad, br#"{"name":"x","version":"1"}"#).is_err());
    }

    #[test]
    fn key_paths_read_like_toml() {
        assert_eq!(key_path(""), "");
        assert_eq!(key_path("/a"), "a");
        assert_eq!(key_path("/targets/0/port"), "targets[0].port");
        assert_eq!(key_path("/routes/a~1b"), "routes.a/b");
    }
}
