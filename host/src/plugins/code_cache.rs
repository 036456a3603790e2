//! The compiled-code cache on disk, and which of its entries may be trusted.
//!
//! An entry is native code the router maps and runs, so whoever can write one
//! can run code as the router. It is trusted only when nobody but the router's
//! own user could have written it: the directory and the entry are owned by that
//! user and writable by nobody else, the entry is a regular file (not a link),
//! and the directory does not sit in a parent anyone may rename things in (a
//! world-writable parent without the sticky bit). Anything else is skipped with
//! a WARN and the plugin is compiled instead.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::bail;
use sha2::{Digest, Sha256};

/// Bits that let someone other than the owner write.
const GROUP_OR_OTHERS_WRITE: u32 = 0o022;
const OTHERS_WRITE: u32 = 0o002;
const STICKY: u32 = 0o1000;

pub struct CodeCache {
    dir: PathBuf,
}

fn our_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

impl CodeCache {
    /// The cache in `dir`, created (mode 0700) if missing; an error saying why
    /// it cannot be trusted, and then the router runs without one.
    pub fn open(dir: PathBuf) -> anyhow::Result<CodeCache> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let cache = CodeCache { dir };
        cache.check_dir()?;
        Ok(cache)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory is ours alone, and so is what it sits in.
    fn check_dir(&self) -> anyhow::Result<()> {
        let meta = std::fs::metadata(&self.dir)?;
        if !meta.is_dir() {
            bail!("{} is not a directory", self.dir.display());
        }
        if meta.uid() != our_uid() {
            bail!(
                "{} is owned by uid {}, not by the user running Passage (uid {})",
                self.dir.display(),
                meta.uid(),
                our_uid()
            );
        }
        if meta.permissions().mode() & GROUP_OR_OTHERS_WRITE != 0 {
            bail!(
                "{} is writable by group or others (mode {:o}; chmod 700 it)",
                self.dir.display(),
                meta.permissions().mode() & 0o7777
            );
        }
        if let Some(parent) = self.dir.canonicalize()?.parent() {
            let mode = std::fs::metadata(parent)?.permissions().mode();
            if mode & OTHERS_WRITE != 0 && mode & STICKY == 0 {
                bail!(
                    "{} is in {}, which anyone may write to without the sticky bit",
                    self.dir.display(),
                    parent.display()
                );
            }
        }
        Ok(())
    }

    /// The entry `name` as written by [`CodeCache::store`], checked; `None` when
    /// there is none. An error says why an entry present is not trusted.
    pub fn load(&self, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let file = self.dir.join(name);
        let meta = match std::fs::symlink_metadata(&file) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.check_dir()?;
        if !meta.file_type().is_file() {
            bail!("cache entry is not a regular file");
        }
        if meta.uid() != our_uid() {
            bail!(
                "cache entry is owned by uid {}, not by the user running Passage (uid {})",
                meta.uid(),
                our_uid()
            );
        }
        if meta.permissions().mode() & GROUP_OR_OTHERS_WRITE != 0 {
            bail!("cache entry is writable by group or others");
        }
        let bytes = std::fs::read(&file)?;
        let Some((digest, artifact)) = bytes.split_first_chunk::<32>() else {
            bail!("truncated cache entry");
        };
        if Sha256::digest(artifact).as_slice() != digest {
            bail!("cache entry does not match its checksum");
        }
        Ok(Some(artifact.to_vec()))
    }

    /// Writes entry `name`: mode 0600, its SHA-256 first, written under another
    /// name and renamed, so a concurrent reader (another replica sharing the
    /// directory) never sees half a file.
    pub fn store(&self, name: &str, artifact: &[u8]) -> anyhow::Result<()> {
        self.check_dir()?;
        let file = self.dir.join(name);
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        out.write_all(&Sha256::digest(artifact))?;
        out.write_all(artifact)?;
        out.sync_all()?;
        std::fs::rename(&tmp, file)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_tampering_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let cache = CodeCache::open(root.path().join("passage")).unwrap();
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(cache.load("x").unwrap(), None);
        cache.store("x", b"native code").unwrap();
        assert_eq!(
            cache.load("x").unwrap().as_deref(),
            Some(&b"native code"[..])
        );
        // Flipped bytes.
        let file = cache.dir().join("x");
        let mut bytes = std::fs::read(&file).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        assert!(
            cache
                .load("x")
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
        // Writable by others.
        cache.store("x", b"native code").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            cache
                .load("x")
                .unwrap_err()
                .to_string()
                .contains("group or others")
        );
        // A link, even to a good entry.
        cache.store("y", b"native code").unwrap();
        std::os::unix::fs::symlink(cache.dir().join("y"), cache.dir().join("z")).unwrap();
        assert!(
            cache
                .load("z")
                .unwrap_err()
                .to_string()
                .contains("regular file")
        );
    }

    #[test]
    fn an_open_directory_or_parent_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("passage");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = CodeCache::open(dir.clone()).err().unwrap().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // A world-writable parent without the sticky bit: anyone could swap it.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = CodeCache::open(dir.clone()).err().unwrap().to_string();
        assert!(e.contains("without the sticky bit"), "{e}");
        // With the sticky bit (as /tmp has it), renaming others' entries is not
        // possible: accepted.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        CodeCache::open(dir).unwrap();
    }
}
