//! `passage plugin ...`: the commands for sharing plugins safely. Authors scaffold
//! (`new`), describe (`manifest set`), sign (`keygen`, `sign`) and publish
//! (`push`); operators look before they adopt (`inspect`, `simulate`), fetch
//! (`pull`) and pin (`lock`). Each prints for people; errors say what to do.

pub mod inspect;
pub mod lock;
pub mod publish;
pub mod scaffold;
pub mod sign;
pub mod simulate;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The plugin name a file stands for (its stem), checked.
pub fn name_of_file(file: &Path) -> anyhow::Result<String> {
    file.file_stem()
        .and_then(|s| s.to_str())
        .filter(|n| crate::config::is_plugin_name(n))
        .map(str::to_owned)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: a plugin file is named <name>.wasm, the name using only a-z, 0-9, `-` and `_`",
                file.display()
            )
        })
}

/// `path` with `.minisig` appended.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(crate::plugins::signature::SUFFIX);
    PathBuf::from(p)
}

/// Writes `bytes` to `dir/name` through a temporary file in the same directory
/// (whose name does not end in `.wasm`, so the router's watcher never loads it)
/// and a rename: a reader sees the old file or the new one, never half of one.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let target = dir.join(name);
    let temp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &target)
            .with_context(|| format!("cannot rename into {}", target.display()))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Registry credentials from `PASSAGE_REGISTRY_USERNAME` and
/// `PASSAGE_REGISTRY_PASSWORD` (never from the command line, where other users
/// could read them).
pub fn registry_credentials() -> Option<(String, String)> {
    let user = std::env::var("PASSAGE_REGISTRY_USERNAME").ok()?;
    let password = std::env::var("PASSAGE_REGISTRY_PASSWORD").unwrap_or_default();
    Some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_the_whole_file_or_the_old_one_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        write_atomically(dir.path(), "a.wasm", b"first", 0o644).unwrap();
        write_atomically(dir.path(), "a.wasm", b"second", 0o644).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.wasm")).unwrap(), b"second");
        // A rename that fails (a directory is in the way) leaves nothing behind.
        std::fs::create_dir(dir.path().join("b.wasm")).unwrap();
        std::fs::write(dir.path().join("b.wasm/x"), b"keep").unwrap();
        assert!(write_atomically(dir.path(), "b.wasm", b"new", 0o644).is_err());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
    }
}
