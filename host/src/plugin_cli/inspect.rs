//! `passage plugin inspect FILE|REF`: everything an operator should know before
//! adopting a plugin, read from its bytes without compiling it: the manifest,
//! the SHA-256, the signature, the imports and exports, what it asks for against
//! what the configuration grants it, and the exact grant lines to add.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::config::{Config, SignaturePolicy};
use crate::plugins::adoption;
use crate::plugins::manifest::{self, Asked, Manifest};
use crate::plugins::signature::{self, Verdict};

/// A plugin to look at: its bytes and where they (and their signature) came from.
pub struct Subject {
    pub name: String,
    pub origin: String,
    pub wasm: Vec<u8>,
    /// The `.minisig` text: beside the file, or the artifact's annotation.
    pub signature: Option<String>,
}

/// Reads a file, or pulls an OCI reference into memory (digests checked).
pub async fn load_subject(
    target: &str,
    name: Option<&str>,
    insecure: bool,
) -> anyhow::Result<Subject> {
    let path = Path::new(target);
    if path.exists() {
        let wasm = crate::plugins::runtime::read_wasm(path)?;
        let name = match name {
            Some(n) => n.to_owned(),
            None => super::name_of_file(path)?,
        };
        return Ok(Subject {
            name,
            origin: path.display().to_string(),
            signature: signature::read_detached(path)?,
            wasm,
        });
    }
    let reference: crate::oci::Reference = target
        .parse()
        .with_context(|| format!("`{target}` is neither a file nor an OCI reference"))?;
    let client = crate::oci::Client::new(super::registry_credentials(), insecure)?;
    let pulled = client
        .pull_component(&reference, super::publish::MAX_PULL_BYTES)
        .await?;
    let name = match name {
        Some(n) => n.to_owned(),
        None => super::publish::default_name(&reference, &pulled.wasm)?,
    };
    Ok(Subject {
        name,
        origin: format!("{reference} ({})", pulled.manifest_digest),
        signature: pulled
            .annotations
            .get(crate::oci::SIGNATURE_ANNOTATION)
            .cloned(),
        wasm: pulled.wasm,
    })
}

/// The host (`host:port`) an `http` capability asks for under `config`, or why
/// it cannot be told.
fn asked_host(asked: &Asked, config_json: &serde_json::Value) -> Result<String, String> {
    match asked {
        Asked::HttpHost(h) => Ok(h.clone()),
        Asked::HttpHostFromConfig(key) => {
            let Some(url) = config_json.get(key).and_then(|v| v.as_str()) else {
                return Err(format!(
                    "the host of the URL in its `{key}` setting, which the configuration does not set"
                ));
            };
            let url = reqwest::Url::parse(url).map_err(|e| format!("`{key}` = {url}: {e}"))?;
            let host = url
                .host_str()
                .ok_or_else(|| format!("`{key}` has no host"))?;
            let port = url.port_or_known_default().unwrap_or(80);
            Ok(if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            })
        }
        _ => Err("not an HTTP capability".to_owned()),
    }
}

/// `host`, `host:port`, `[v6]:port` → (host, port).
fn split_host_port(entry: &str) -> (String, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            host.to_ascii_lowercase(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match entry.split_once(':') {
        Some((h, p)) if entry.matches(':').count() == 1 => (h.to_ascii_lowercase(), p.parse().ok()),
        _ => (entry.to_ascii_lowercase(), None),
    }
}

/// Whether `http_allow` already lets the plugin reach `asked` (`host` = any
/// port, which only an entry without a port grants).
fn http_granted(http_allow: &[String], asked: &str) -> bool {
    let (host, port) = split_host_port(asked);
    http_allow.iter().any(|entry| {
        let (h, p) = split_host_port(entry.trim());
        h == host && (p.is_none() || p == port)
    })
}

/// What inspect found, for printing and for `pull`'s next steps.
pub struct Findings {
    pub sha256: String,
    pub manifest: Result<Option<Manifest>, String>,
    pub sections: manifest::Sections,
    pub verdict: Option<Verdict>,
    /// Lines to add under `[plugin_runtime.grants.<name>]`.
    pub grant_lines: Vec<String>,
    /// Whether that table exists already.
    pub grant_exists: bool,
    pub capability_lines: Vec<String>,
    pub config_problems: Vec<String>,
    pub pin: String,
}

pub fn findings(subject: &Subject, config: &Config) -> anyhow::Result<Findings> {
    use sha2::Digest as _;
    let name = &subject.name;
    let sha256 = crate::plugins::runtime::hex(&sha2::Sha256::digest(&subject.wasm));
    let sections = manifest::sections(&subject.wasm)?;
    let manifest = manifest::read(&subject.wasm).map_err(|e| format!("{e:#}"));
    let verdict = match config.plugin_runtime.signatures {
        SignaturePolicy::Off => None,
        _ => Some(match &subject.signature {
            None => Verdict::Unsigned,
            Some(text) => signature::verify(&subject.wasm, text, &adoption::trusted_keys(config)),
        }),
    };
    let grant = config.plugin_runtime.grant(name);
    let limits = config.plugin_runtime.limits_for(name);
    let config_json: serde_json::Value =
        serde_json::from_str(&config.plugin_config_json(name)).unwrap_or_default();
    let mut grant_lines = Vec::new();
    let pin = match grant.and_then(|g| g.sha256.as_deref()) {
        Some(p) if p.eq_ignore_ascii_case(&sha256) => {
            format!("matches plugin_runtime.grants.{name}.sha256")
        }
        Some(p) => {
            grant_lines.push(format!("sha256 = \"{sha256}\""));
            format!(
                "MISMATCH: plugin_runtime.grants.{name}.sha256 expects {p}; the router would refuse this file"
            )
        }
        None => {
            grant_lines.push(format!("sha256 = \"{sha256}\""));
            "none (recommended: pin the build the grants are for)".to_owned()
        }
    };
    let mut capability_lines = Vec::new();
    let mut new_hosts: Vec<String> = Vec::new();
    let granted_buckets: &[String] = grant.map_or(&[], |g| g.keyvalue.as_slice());
    let mut new_buckets: Vec<String> = Vec::new();
    let mut config_problems = Vec::new();
    if let Ok(Some(m)) = &manifest {
        for c in &m.capabilities {
            let asked = match c.asked() {
                Ok(a) => a,
                Err(e) => {
                    capability_lines.push(format!("{}: invalid ({e:#})", c.kind));
                    continue;
                }
            };
            let line = match &asked {
                Asked::HttpHost(_) | Asked::HttpHostFromConfig(_) => {
                    match asked_host(&asked, &config_json) {
                        Ok(host) => {
                            let granted = http_granted(&limits.http_allow, &host)
                                || new_hosts.contains(&host);
                            if !granted {
                                new_hosts.push(host.clone());
                            }
                            format!(
                                "http {host}: {} (reason: {})",
                                if granted { "granted" } else { "NOT GRANTED" },
                                c.reason
                            )
                        }
                        Err(why) => format!("http to {why} (reason: {})", c.reason),
                    }
                }
                Asked::KeyValueBucket(bucket) => {
                    let granted = granted_buckets.contains(bucket) || new_buckets.contains(bucket);
                    if !granted {
                        new_buckets.push(bucket.clone());
                    }
                    format!(
                        "keyvalue bucket `{bucket}`: {} (reason: {})",
                        if granted { "granted" } else { "NOT GRANTED" },
                        c.reason
                    )
                }
                Asked::Unknown(kind) => format!(
                    "{kind}: a capability kind this router does not know, so it cannot be granted (reason: {})",
                    c.reason
                ),
            };
            capability_lines.push(line);
        }
        if let Err(problems) = m.check_config(name, &config.plugin_config_json(name)) {
            config_problems = problems;
        }
    }
    if !new_hosts.is_empty() {
        let mut all = limits.http_allow.clone();
        all.extend(new_hosts);
        let list: Vec<String> = all.iter().map(|h| format!("{h:?}")).collect();
        grant_lines.push(format!("http_allow = [{}]", list.join(", ")));
    }
    if !new_buckets.is_empty() {
        let list: Vec<String> = granted_buckets
            .iter()
            .chain(&new_buckets)
            .map(|b| format!("{b:?}"))
            .collect();
        grant_lines.push(format!("keyvalue = [{}]", list.join(", ")));
    }
    Ok(Findings {
        sha256,
        manifest,
        sections,
        verdict,
        grant_lines,
        grant_exists: grant.is_some(),
        capability_lines,
        config_problems,
        pin,
    })
}

/// The grant lines as TOML to paste: a whole table when there is none yet.
pub fn render_grant_lines(name: &str, f: &Findings) -> String {
    if f.grant_lines.is_empty() {
        return "none: the configuration already grants what it asks for\n".to_owned();
    }
    let mut out = String::new();
    if f.grant_exists {
        let _ = writeln!(
            out,
            "# in the existing [plugin_runtime.grants.{name}] (replacing keys already there):"
        );
    } else {
        let _ = writeln!(out, "[plugin_runtime.grants.{name}]");
    }
    for line in &f.grant_lines {
        let _ = writeln!(out, "{line}");
    }
    out
}

pub fn report(subject: &Subject, config: &Config) -> anyhow::Result<String> {
    let f = findings(subject, config)?;
    let name = &subject.name;
    let mut out = String::new();
    let _ = writeln!(out, "plugin:       {name} ({})", subject.origin);
    let _ = writeln!(
        out,
        "sha256:       {} ({} bytes)",
        f.sha256,
        subject.wasm.len()
    );
    match &f.manifest {
        Ok(Some(m)) => {
            let _ = writeln!(
                out,
                "manifest:     {} {}{}",
                m.name,
                m.version,
                m.description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
            if m.name != *name {
                let _ = writeln!(
                    out,
                    "  note:       installed as `{name}`, which is the name its table and grants use"
                );
            }
            for (label, value) in [
                (
                    "authors",
                    (!m.authors.is_empty()).then(|| m.authors.join(", ")),
                ),
                ("license", m.license.clone()),
                ("homepage", m.homepage.clone()),
                ("contract", m.contract.clone()),
            ] {
                if let Some(value) = value {
                    let _ = writeln!(out, "  {label:<11} {value}");
                }
            }
            let _ = writeln!(
                out,
                "  config:     {}",
                if m.config_schema.is_some() {
                    "a JSON Schema of its table"
                } else {
                    "no schema (its table is not checked before configure)"
                }
            );
        }
        Ok(None) => {
            let _ = writeln!(
                out,
                "manifest:     MISSING (no passage-manifest section: nothing says what it is or what it asks for)"
            );
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "manifest:     INVALID ({e}): the router refuses this file"
            );
        }
    }
    let _ = writeln!(out, "exports:      {}", f.sections.exports.join(", "));
    let _ = writeln!(out, "imports:      {}", f.sections.imports.join(", "));
    let policy = config.plugin_runtime.signatures;
    let signature_line = match &f.verdict {
        None => "not checked (plugin_runtime.signatures = \"off\")".to_owned(),
        Some(v @ Verdict::Verified { .. }) => v.to_string(),
        Some(v @ Verdict::Invalid { .. }) => format!("{v}; the router refuses this file"),
        Some(v) => format!(
            "{v}; {}",
            if policy == SignaturePolicy::Require {
                "the router refuses it (plugin_runtime.signatures = \"require\")"
            } else {
                "the router loads it with a WARN (plugin_runtime.signatures = \"warn\")"
            }
        ),
    };
    let _ = writeln!(out, "signature:    {signature_line}");
    let _ = writeln!(out, "pin:          {}", f.pin);
    if f.capability_lines.is_empty() {
        let _ = writeln!(out, "capabilities: none asked for");
    } else {
        let _ = writeln!(out, "capabilities:");
        for line in &f.capability_lines {
            let _ = writeln!(out, "  {line}");
        }
    }
    if matches!(f.manifest, Ok(Some(_))) {
        if f.config_problems.is_empty() {
            let _ = writeln!(out, "config:       [plugins.{name}] matches its schema");
        } else {
            let _ = writeln!(
                out,
                "config:       [plugins.{name}] does NOT match its schema (the router refuses it):"
            );
            for p in &f.config_problems {
                let _ = writeln!(out, "  {p}");
            }
        }
    }
    let wants_http = f
        .sections
        .imports
        .iter()
        .any(|i| i.starts_with("wasi:http/"));
    if wants_http
        && config.plugin_runtime.limits_for(name).http_allow.is_empty()
        && f.capability_lines.is_empty()
    {
        let _ = writeln!(
            out,
            "note:         it imports wasi:http but asks for no host: every request it makes is denied unless you grant one"
        );
    }
    let _ = write!(out, "grant lines to add:\n{}", render_grant_lines(name, &f));
    Ok(out)
}
