//! What a plugin file must pass before the router compiles it, at start-up, on
//! every hot reload and in `passage plugin check`: its pin, its signature and its
//! manifest (whose JSON Schema judges the plugin's config table before
//! `configure` ever runs).
//!
//! 1. **Pin.** `[plugin_runtime.grants.<name>] sha256` names the one build the
//!    grants were written for; a file with another digest is refused, naming
//!    both digests.
//! 2. **Signature.** `<name>.wasm.minisig` is checked against
//!    `plugin_runtime.trusted_keys` under `plugin_runtime.signatures`
//!    (`off`, `warn` — the default — or `require`). A signature by a trusted key
//!    that does not match the file is refused whatever the policy (except `off`):
//!    the file was changed after it was signed.
//! 3. **Manifest.** A `passage-manifest` section that is present must be valid;
//!    its `config_schema` must accept the plugin's table. A component without a
//!    manifest still loads, with a WARN.
//!
//! All of it reads only the file's bytes (and the `.minisig` beside it): nothing
//! is compiled or instantiated before the checks pass.

use std::path::Path;

use anyhow::bail;

use super::manifest::{self, Manifest};
use super::signature::{self, TrustedKey, Verdict};
use crate::config::{Config, SignaturePolicy};

/// What the checks found in a file they let through.
#[derive(Debug, Clone, PartialEq)]
pub struct Adopted {
    pub manifest: Option<Manifest>,
    /// `None` when `plugin_runtime.signatures = "off"`.
    pub signature: Option<Verdict>,
    /// The pin it matched, if the grant has one.
    pub pinned: Option<String>,
}

impl Adopted {
    /// For `/plugins`: the manifest's identity, the signature's state and the pin.
    pub fn to_json(&self) -> serde_json::Value {
        let manifest = self.manifest.as_ref().map(|m| {
            serde_json::json!({
                "name": m.name,
                "version": m.version,
                "authors": m.authors,
                "description": m.description,
                "license": m.license,
                "homepage": m.homepage,
            })
        });
        let signature = match &self.signature {
            None => serde_json::json!({ "state": "not_checked" }),
            Some(Verdict::Unsigned) => serde_json::json!({ "state": "unsigned" }),
            Some(Verdict::Verified { key_id, .. }) => {
                serde_json::json!({ "state": "verified", "key_id": key_id })
            }
            Some(Verdict::UnknownKey { key_id }) => {
                serde_json::json!({ "state": "untrusted_key", "key_id": key_id })
            }
            // Refused before loading: not in a loaded set.
            Some(Verdict::Invalid { reason }) => {
                serde_json::json!({ "state": "invalid", "reason": reason })
            }
        };
        serde_json::json!({
            "manifest": manifest,
            "signature": signature,
            "pinned": self.pinned.is_some(),
        })
    }
}

/// The trusted keys of a configuration (validated by `Config`, so a key that
/// does not parse cannot be here; it would be skipped).
pub fn trusted_keys(config: &Config) -> Vec<TrustedKey> {
    config
        .plugin_runtime
        .trusted_keys
        .iter()
        .filter_map(|k| TrustedKey::parse(k).ok())
        .collect()
}

/// The pin check alone: `Err` names the expected and found digests.
pub fn check_pin(
    config: &Config,
    name: &str,
    path: &Path,
    sha256: &str,
) -> anyhow::Result<Option<String>> {
    let Some(expected) = config
        .plugin_runtime
        .grant(name)
        .and_then(|g| g.sha256.as_deref())
    else {
        return Ok(None);
    };
    if !expected.eq_ignore_ascii_case(sha256) {
        bail!(
            "plugin `{name}` ({}) is not the pinned build: plugin_runtime.grants.{name}.sha256 expects {}, the file's SHA-256 is {sha256} (if this build is the one you want, update the pin: `passage plugin lock`)",
            path.display(),
            expected.to_ascii_lowercase()
        );
    }
    Ok(Some(expected.to_ascii_lowercase()))
}

/// The signature check under the configured policy: `Err` when the file must be
/// refused, otherwise the verdict (`None` when signatures are off).
pub fn check_signature(
    config: &Config,
    name: &str,
    path: &Path,
    wasm: &[u8],
    detached: Option<&str>,
) -> anyhow::Result<Option<Verdict>> {
    let policy = config.plugin_runtime.signatures;
    if policy == SignaturePolicy::Off {
        return Ok(None);
    }
    let verdict = match detached {
        None => Verdict::Unsigned,
        Some(text) => signature::verify(wasm, text, &trusted_keys(config)),
    };
    match (&verdict, policy) {
        (Verdict::Verified { key_id, .. }, _) => {
            tracing::debug!(plugin = name, key_id, "plugin signature verified");
        }
        (Verdict::Invalid { reason }, _) => {
            bail!(
                "plugin `{name}` ({}) has a signature that does not hold: {reason}",
                path.display()
            );
        }
        (_, SignaturePolicy::Require) => bail!(
            "plugin `{name}` ({}) is refused: plugin_runtime.signatures = \"require\" and it is {verdict}",
            path.display()
        ),
        (_, _) => tracing::warn!(
            plugin = name,
            file = %path.display(),
            "plugin is {verdict}; it loads because plugin_runtime.signatures = \"warn\" (set \"require\" to refuse such files)"
        ),
    }
    Ok(Some(verdict))
}

/// The manifest check: a present manifest must be valid and accept the
/// plugin's table.
pub fn check_manifest(
    config: &Config,
    name: &str,
    path: &Path,
    wasm: &[u8],
) -> anyhow::Result<Option<Manifest>> {
    let manifest = manifest::read(wasm)
        .map_err(|e| anyhow::anyhow!("plugin `{name}` ({}): {e:#}", path.display()))?;
    match &manifest {
        None => tracing::warn!(
            plugin = name,
            file = %path.display(),
            "plugin carries no passage-manifest: its [plugins.{name}] table is not checked before configure and `passage plugin inspect` cannot say what it asks for"
        ),
        Some(m) => {
            if let Err(problems) = m.check_config(name, &config.plugin_config_json(name)) {
                bail!(
                    "plugin `{name}` ({}): its configuration does not match the schema in its manifest:\n  {}",
                    path.display(),
                    problems.join("\n  ")
                );
            }
        }
    }
    Ok(manifest)
}

/// Every check, in order (pin, signature, manifest), on the bytes about to be
/// compiled. `sha256` is their digest, hex.
pub fn check(
    config: &Config,
    name: &str,
    path: &Path,
    wasm: &[u8],
    sha256: &str,
) -> anyhow::Result<Adopted> {
    let pinned = check_pin(config, name, path, sha256)?;
    let detached = if config.plugin_runtime.signatures == SignaturePolicy::Off {
        None
    } else {
        signature::read_detached(path)?
    };
    let signature = check_signature(config, name, path, wasm, detached.as_deref())?;
    let manifest = check_manifest(config, name, path, wasm)?;
    Ok(Adopted {
        manifest,
        signature,
        pinned,
    })
}
