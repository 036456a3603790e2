//! Detached minisign signatures of plugin files (`<name>.wasm.minisig`), checked
//! against the public keys the operator trusts (`plugin_runtime.trusted_keys`).
//!
//! The format is minisign's own (jedisct1.github.io/minisign), so a signature
//! made by the `minisign` tool verifies here and one made by `passage plugin
//! sign` verifies with `minisign -V`. Only the prehashed (`ED`) form is accepted,
//! the default of the tool since 0.10; legacy signatures are refused.

use std::io::Cursor;

use anyhow::{Context, bail, ensure};
use base64::Engine as _;

/// Largest `.minisig` accepted (a signature is about 300 bytes plus comments).
pub const MAX_SIGNATURE_BYTES: u64 = 8 << 10;
/// Suffix of a detached signature next to its file.
pub const SUFFIX: &str = ".minisig";

/// A trusted public key: the base64 line of a minisign public key (`RW…`).
#[derive(Clone)]
pub struct TrustedKey {
    key: minisign_verify::PublicKey,
    id: String,
    pub base64: String,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey({})", self.id)
    }
}

impl TrustedKey {
    /// Parses the base64 line of a minisign public key (`RW…`, 56 characters),
    /// or a whole `minisign.pub` file (its comment line is skipped).
    pub fn parse(text: &str) -> anyhow::Result<TrustedKey> {
        let line = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or_default();
        let key = minisign_verify::PublicKey::from_base64(line).map_err(|e| {
            anyhow::anyhow!("not a minisign public key (the `RW…` line of a .pub file): {e}")
        })?;
        Ok(TrustedKey {
            key,
            id: key_id_of(line, 42)?,
            base64: line.to_owned(),
        })
    }

    /// The key id as minisign prints it (16 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Bytes 2..10 of a decoded key or signature line are the key id, printed by
/// minisign as the little-endian u64 in upper-case hex.
fn key_id_of(base64_line: &str, len: usize) -> anyhow::Result<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(base64_line.trim())
        .context("invalid base64")?;
    ensure!(raw.len() == len, "unexpected length");
    let id = u64::from_le_bytes(raw[2..10].try_into()?);
    Ok(format!("{id:016X}"))
}

/// What a file's signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No `.minisig` next to it.
    Unsigned,
    /// Verified by a trusted key.
    Verified { key_id: String, comment: String },
    /// Signed, but by a key that is not trusted here (not checked further).
    UnknownKey { key_id: String },
    /// A signature that does not hold: malformed, legacy, or made by a trusted
    /// key over other bytes (the file changed after it was signed).
    Invalid { reason: String },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Unsigned => f.write_str("unsigned (no .minisig)"),
            Verdict::Verified { key_id, comment } => {
                write!(f, "verified, key {key_id} (trusted comment: {comment})")
            }
            Verdict::UnknownKey { key_id } => {
                write!(
                    f,
                    "signed by key {key_id}, which is not in plugin_runtime.trusted_keys"
                )
            }
            Verdict::Invalid { reason } => write!(f, "INVALID: {reason}"),
        }
    }
}

/// Checks `signature` (the text of a `.minisig`) over `wasm` against `trusted`.
pub fn verify(wasm: &[u8], signature: &str, trusted: &[TrustedKey]) -> Verdict {
    let sig = match minisign_verify::Signature::decode(signature) {
        Ok(sig) => sig,
        Err(e) => {
            return Verdict::Invalid {
                reason: format!("not a minisign signature: {e}"),
            };
        }
    };
    let key_id = signature
        .lines()
        .nth(1)
        .and_then(|l| key_id_of(l, 74).ok())
        .unwrap_or_else(|| "?".to_owned());
    let Some(key) = trusted.iter().find(|k| k.id == key_id) else {
        return Verdict::UnknownKey { key_id };
    };
    match key.key.verify(wasm, &sig, false) {
        Ok(()) => Verdict::Verified {
            key_id,
            comment: sig.trusted_comment().to_owned(),
        },
        Err(minisign_verify::Error::UnexpectedAlgorithm) => Verdict::Invalid {
            reason: format!(
                "a legacy (non-prehashed) signature by key {key_id}: sign again with minisign 0.10 or later, or `passage plugin sign`"
            ),
        },
        Err(e) => Verdict::Invalid {
            reason: format!(
                "the signature by trusted key {key_id} does not match this file ({e}): it was changed after it was signed"
            ),
        },
    }
}

/// Reads `<wasm path>.minisig`, bounded; `None` when there is none.
pub fn read_detached(wasm_path: &std::path::Path) -> anyhow::Result<Option<String>> {
    let mut path = wasm_path.as_os_str().to_owned();
    path.push(SUFFIX);
    let path = std::path::PathBuf::from(path);
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    ensure!(
        meta.len() <= MAX_SIGNATURE_BYTES,
        "{} is {} bytes, over the limit of {MAX_SIGNATURE_BYTES}",
        path.display(),
        meta.len()
    );
    let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    ensure!(
        text.len() as u64 <= MAX_SIGNATURE_BYTES,
        "{} grew over the limit",
        path.display()
    );
    String::from_utf8(text)
        .map(Some)
        .with_context(|| format!("{} is not text", path.display()))
}

/// A new key pair without a password: `(public key file, secret key file,
/// public key base64 line)`, in minisign's formats.
pub fn keygen() -> anyhow::Result<(String, String, String)> {
    let pair = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|e| anyhow::anyhow!("cannot generate a key pair: {e}"))?;
    let public = pair
        .pk
        .to_box()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    let secret = pair
        .sk
        .to_box(Some("passage plugin signing key"))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    Ok((public, secret, pair.pk.to_base64()))
}

/// A minisign secret key from its file's text: unencrypted (ours, or
/// `minisign -G -W`), or encrypted with `password`.
pub fn load_secret_key(
    text: &str,
    password: Option<String>,
) -> anyhow::Result<minisign::SecretKey> {
    let boxed = minisign::SecretKeyBox::from_string(text)
        .map_err(|e| anyhow::anyhow!("not a minisign secret key: {e}"))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(
            text.lines()
                .nth(1)
                .context("not a minisign secret key")?
                .trim(),
        )
        .context("not a minisign secret key")?;
    // Layout: sig_alg(2) kdf_alg(2) chk_alg(2) salt(32) ops(8) mem(8) keynum(8) sk(64) chk(32)
    ensure!(
        raw.len() == 158 && &raw[0..2] == b"Ed" && &raw[4..6] == b"B2",
        "not a minisign Ed25519 secret key"
    );
    let encrypted = raw[2..4] != [0, 0];
    if encrypted {
        let Some(password) = password else {
            bail!("this secret key is encrypted: give its password in PASSAGE_KEY_PASSWORD");
        };
        return boxed
            .into_secret_key(Some(password))
            .map_err(|e| anyhow::anyhow!("cannot decrypt the secret key: {e}"));
    }
    match boxed.into_unencrypted_secret_key() {
        Ok(key) => Ok(key),
        // `minisign -G -W` (0.11) writes unencrypted keys with an all-zero
        // checksum, which the crate refuses as corrupted; the C tool never checks
        // it for unencrypted keys. The key is still bound to its public key by
        // the re-verification in `sign`.
        Err(_) if raw[126..].iter().all(|b| *b == 0) => minisign::SecretKey::from_bytes(&raw)
            .map_err(|e| anyhow::anyhow!("unusable secret key: {e}")),
        Err(e) => bail!("unusable secret key: {e}"),
    }
}

/// Signs `wasm` (named `file_name` in the trusted comment) with `key`; the text
/// of the `.minisig`. The signature is verified against the key's own public key
/// before it is returned.
pub fn sign(wasm: &[u8], file_name: &str, key: &minisign::SecretKey) -> anyhow::Result<String> {
    let pk = minisign::PublicKey::from_secret_key(key)
        .map_err(|e| anyhow::anyhow!("unusable secret key: {e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let trusted = format!("timestamp:{now}\tfile:{file_name}\thashed");
    let signature = minisign::sign(
        Some(&pk),
        key,
        Cursor::new(wasm),
        Some(&trusted),
        Some("signature from passage plugin sign"),
    )
    .map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
    Ok(signature.into_string())
}

/// The base64 line of the public key belonging to `key`.
pub fn public_key_of(key: &minisign::SecretKey) -> anyhow::Result<String> {
    Ok(minisign::PublicKey::from_secret_key(key)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_base64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_signatures_verify_and_catch_every_change() {
        let (public, secret, line) = keygen().unwrap();
        let key = TrustedKey::parse(&line).unwrap();
        // A whole .pub file is accepted too.
        assert_eq!(TrustedKey::parse(&public).unwrap().id(), key.id());
        let sk = load_secret_key(&secret, None).unwrap();
        assert_eq!(public_key_of(&sk).unwrap(), line);
        let wasm = b"\0asm\x0d\x00\x01\x00 some plugin".to_vec();
        let sig = sign(&wasm, "demo.wasm", &sk).unwrap();
        match verify(&wasm, &sig, std::slice::from_ref(&key)) {
            Verdict::Verified { key_id, comment } => {
                assert_eq!(key_id, key.id());
                assert!(comment.contains("file:demo.wasm"), "{comment}");
            }
            other => panic!("{other:?}"),
        }
        let mut changed = wasm.clone();
        changed.push(0);
        assert!(matches!(
            verify(&changed, &sig, std::slice::from_ref(&key)),
            Verdict::Invalid { .. }
        ));
        let (_, _, other) = keygen().unwrap();
        let other = TrustedKey::parse(&other).unwrap();
        assert_eq!(
            verify(&wasm, &sig, &[other]),
            Verdict::UnknownKey {
                key_id: key.id().to_owned()
            }
        );
        assert!(matches!(
            verify(&wasm, "junk", &[key]),
            Verdict::Invalid { .. }
        ));
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        assert!(TrustedKey::parse("RWQ").is_err());
        assert!(TrustedKey::parse("").is_err());
        let e = load_secret_key("untrusted comment: x\nAAAA\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret key"), "{e}");
    }
}
