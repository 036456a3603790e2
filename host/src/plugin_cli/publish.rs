//! `passage plugin push FILE REF` and `passage plugin pull REF`: plugins through
//! an OCI registry (see `crate::oci` for the layout and the checks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use sha2::Digest as _;

use crate::config::Config;
use crate::oci::{self, Reference};
use crate::plugins::{adoption, manifest, signature};

/// The largest component pulled (the router's own limit on a plugin file).
pub const MAX_PULL_BYTES: u64 = 256 << 20;

/// What `push` did.
pub struct Pushed {
    pub reference: Reference,
    pub manifest_digest: String,
    pub layer_digest: String,
    pub signed: bool,
    pub elapsed_ms: u128,
}

/// Pushes `file` (and `file.minisig`, as an annotation, when there is one).
pub async fn push(file: &Path, reference: &str, insecure: bool) -> anyhow::Result<Pushed> {
    let started = Instant::now();
    let reference: Reference = reference.parse()?;
    let wasm = crate::plugins::runtime::read_wasm(file)?;
    let sections = manifest::sections(&wasm).with_context(|| format!("{}", file.display()))?;
    let manifest = manifest::read(&wasm).with_context(|| format!("{}", file.display()))?;
    let signature = signature::read_detached(file)?;
    let mut annotations = BTreeMap::new();
    let name = match &manifest {
        Some(m) => m.name.clone(),
        None => super::name_of_file(file)?,
    };
    if let Some(m) = &manifest {
        annotations.insert(
            "org.opencontainers.image.version".to_owned(),
            m.version.clone(),
        );
        for (key, value) in [
            (
                "org.opencontainers.image.description",
                m.description.clone(),
            ),
            ("org.opencontainers.image.licenses", m.license.clone()),
            ("org.opencontainers.image.url", m.homepage.clone()),
            (
                "org.opencontainers.image.authors",
                (!m.authors.is_empty()).then(|| m.authors.join(", ")),
            ),
        ] {
            if let Some(value) = value {
                annotations.insert(key.to_owned(), value);
            }
        }
    }
    let signed = signature.is_some();
    if let Some(sig) = signature {
        annotations.insert(oci::SIGNATURE_ANNOTATION.to_owned(), sig);
    }
    let config = oci::wasm_config(
        &wasm,
        &sections.imports,
        &sections.exports,
        &oci::now_rfc3339(),
    );
    let layer_digest = oci::sha256_digest(&wasm);
    let client = oci::Client::new(super::registry_credentials(), insecure)?;
    let manifest_digest = client
        .push_component(
            &reference,
            wasm,
            config,
            annotations,
            &format!("{name}.wasm"),
        )
        .await?;
    Ok(Pushed {
        reference,
        manifest_digest,
        layer_digest,
        signed,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// The name a pulled plugin gets without `--name`: its manifest's, else the
/// repository's last segment.
pub fn default_name(reference: &Reference, wasm: &[u8]) -> anyhow::Result<String> {
    if let Ok(Some(m)) = manifest::read(wasm)
        && crate::config::is_plugin_name(&m.name)
    {
        return Ok(m.name);
    }
    let last = reference
        .repository
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if crate::config::is_plugin_name(&last) {
        Ok(last)
    } else {
        bail!("cannot tell the plugin's name from {reference}: give --name")
    }
}

/// What `pull` did.
pub struct PulledPlugin {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub manifest_digest: String,
    pub verdict: Option<signature::Verdict>,
    pub elapsed_ms: u128,
    /// Lines of `passage plugin inspect` worth showing next (grants to add,
    /// config problems).
    pub next: String,
}

/// Pulls `reference` into `plugins_dir` as `<name>.wasm` (and its signature as
/// `<name>.wasm.minisig`), after checking digests, the pin and the signature
/// policy of `config`. Nothing reaches the directory before every check passed,
/// and each file appears whole (temporary file and rename).
pub async fn pull(
    reference: &str,
    name: Option<&str>,
    config: &Config,
    plugins_dir: &Path,
    insecure: bool,
) -> anyhow::Result<PulledPlugin> {
    let started = Instant::now();
    let reference: Reference = reference.parse()?;
    let client = oci::Client::new(super::registry_credentials(), insecure)?;
    let pulled = client.pull_component(&reference, MAX_PULL_BYTES).await?;
    let name = match name {
        Some(n) if crate::config::is_plugin_name(n) => n.to_owned(),
        Some(n) => bail!("--name {n}: a plugin name uses only a-z, 0-9, `-` and `_`"),
        None => default_name(&reference, &pulled.wasm)?,
    };
    let path = plugins_dir.join(format!("{name}.wasm"));
    let sha256 = crate::plugins::runtime::hex(&sha2::Sha256::digest(&pulled.wasm));
    manifest::sections(&pulled.wasm).with_context(|| format!("{reference}"))?;
    adoption::check_pin(config, &name, &path, &sha256)?;
    let sig = pulled.annotations.get(oci::SIGNATURE_ANNOTATION);
    let verdict =
        adoption::check_signature(config, &name, &path, &pulled.wasm, sig.map(String::as_str))?;
    manifest::read(&pulled.wasm)
        .with_context(|| format!("{reference}: the router would refuse it"))?;
    std::fs::create_dir_all(plugins_dir)
        .with_context(|| format!("cannot create {}", plugins_dir.display()))?;
    let sig_path = super::signature_path(&path);
    let sig_name = format!("{name}.wasm{}", signature::SUFFIX);
    match sig {
        // The signature first: when the .wasm appears, its signature is there.
        Some(text) => super::write_atomically(plugins_dir, &sig_name, text.as_bytes(), 0o644)?,
        // A stale signature of an earlier version would not match this file.
        None => match std::fs::remove_file(&sig_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot remove {}", sig_path.display()));
            }
        },
    }
    super::write_atomically(plugins_dir, &format!("{name}.wasm"), &pulled.wasm, 0o644)?;
    let subject = super::inspect::Subject {
        name: name.clone(),
        origin: reference.to_string(),
        wasm: pulled.wasm,
        signature: sig.cloned(),
    };
    let findings = super::inspect::findings(&subject, config)?;
    let mut next = String::new();
    for p in &findings.config_problems {
        next.push_str(&format!(
            "warning: {p} (the router refuses the plugin until its table is fixed)\n"
        ));
    }
    next.push_str("grant lines to add:\n");
    next.push_str(&super::inspect::render_grant_lines(&name, &findings));
    Ok(PulledPlugin {
        name,
        path,
        sha256,
        manifest_digest: pulled.manifest_digest,
        verdict,
        elapsed_ms: started.elapsed().as_millis(),
        next,
    })
}

/// `[plugin_runtime.pull]`: pulls every plugin named there whose file is
/// missing from the plugins directory (at start-up, before loading). Present
/// files are left alone: the pin, not the tag, decides which build runs.
pub async fn pull_missing(config: &Config) -> anyhow::Result<()> {
    let dir = &config.plugin_runtime.dir;
    for (name, reference) in &config.plugin_runtime.pull {
        if dir.join(format!("{name}.wasm")).exists() {
            continue;
        }
        let pulled = pull(reference, Some(name), config, dir, false)
            .await
            .with_context(|| format!("plugin_runtime.pull.{name}: cannot pull {reference}"))?;
        tracing::info!(
            plugin = %pulled.name,
            reference = %reference,
            sha256 = %pulled.sha256,
            elapsed_ms = pulled.elapsed_ms as u64,
            "plugin pulled"
        );
    }
    Ok(())
}
