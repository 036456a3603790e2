//! For plugin authors: `passage plugin keygen`, `sign` and `manifest set`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::plugins::{manifest, signature};

/// `passage plugin keygen [--output PREFIX]`: writes `PREFIX.key` (mode 0600,
/// no password) and `PREFIX.pub` in minisign's formats; the public key line.
pub fn keygen(prefix: &Path, force: bool) -> anyhow::Result<(PathBuf, PathBuf, String)> {
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let (secret_path, public_path) = (with(".key"), with(".pub"));
    for p in [&secret_path, &public_path] {
        if p.exists() && !force {
            bail!(
                "{} exists; pass --force to replace it (signatures made with the old key then no longer verify against the new one)",
                p.display()
            );
        }
    }
    let (public, secret, line) = signature::keygen()?;
    let dir = match prefix.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let file = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .context("key file names must be UTF-8")
    };
    super::write_atomically(&dir, &file(&secret_path)?, secret.as_bytes(), 0o600)?;
    super::write_atomically(&dir, &file(&public_path)?, public.as_bytes(), 0o644)?;
    Ok((secret_path, public_path, line))
}

/// `passage plugin sign FILE --key KEYFILE`: writes `FILE.minisig`. An
/// encrypted key's password comes from `PASSAGE_KEY_PASSWORD`.
pub fn sign(file: &Path, key_file: &Path) -> anyhow::Result<(PathBuf, String)> {
    let key_text = std::fs::read_to_string(key_file)
        .with_context(|| format!("cannot read {}", key_file.display()))?;
    let key = signature::load_secret_key(&key_text, std::env::var("PASSAGE_KEY_PASSWORD").ok())
        .with_context(|| format!("{}", key_file.display()))?;
    let wasm = crate::plugins::runtime::read_wasm(file)?;
    // Refuse to sign what the router could never load.
    manifest::sections(&wasm).with_context(|| format!("{}", file.display()))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .context("the file name must be UTF-8")?;
    let text = signature::sign(&wasm, name, &key)?;
    let out = super::signature_path(file);
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let out_name = out
        .file_name()
        .and_then(|n| n.to_str())
        .context("UTF-8 file name")?
        .to_owned();
    super::write_atomically(&dir, &out_name, text.as_bytes(), 0o644)?;
    Ok((out, signature::public_key_of(&key)?))
}

/// `passage plugin manifest set FILE --from manifest.json [--output OUT]`:
/// writes the manifest into the component (replacing one at its top level).
pub fn manifest_set(file: &Path, from: &Path, output: Option<&Path>) -> anyhow::Result<PathBuf> {
    let json = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    if json.len() > manifest::MAX_MANIFEST_BYTES {
        bail!(
            "{} is over {} bytes",
            from.display(),
            manifest::MAX_MANIFEST_BYTES
        );
    }
    let wasm = crate::plugins::runtime::read_wasm(file)?;
    // Compact JSON: the section carries no formatting.
    let value: serde_json::Value =
        serde_json::from_slice(&json).with_context(|| format!("{} is not JSON", from.display()))?;
    let compact = serde_json::to_vec(&value)?;
    let updated = manifest::set(&wasm, &compact).with_context(|| format!("{}", from.display()))?;
    let out = output.unwrap_or(file);
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .context("UTF-8 file name")?
        .to_owned();
    super::write_atomically(&dir, &name, &updated, 0o644)?;
    Ok(out.to_owned())
}
