//! `passage plugin new NAME --lang rust|python|javascript`: a working plugin
//! from the templates in `docs/plugins/templates/` (compiled into the binary, so
//! what the guide shows is what `new` writes).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Javascript,
}

const WIT: &str = include_str!("../../../wit/0.1.0/plugin.wit");

/// `(path in the new plugin, template text, executable)`.
fn files(lang: Lang) -> Vec<(&'static str, &'static str, bool)> {
    macro_rules! t {
        ($path:literal) => {
            include_str!(concat!("../../../docs/plugins/templates/", $path))
        };
    }
    match lang {
        Lang::Rust => vec![
            ("Cargo.toml", t!("rust/Cargo.toml"), false),
            ("build.rs", t!("rust/build.rs"), false),
            ("src/lib.rs", t!("rust/src/lib.rs"), false),
            ("config.schema.json", t!("rust/config.schema.json"), false),
            ("README.md", t!("rust/README.md"), false),
            (".gitignore", t!("rust/gitignore"), false),
        ],
        Lang::Python => vec![
            ("app.py", t!("python/app.py"), false),
            ("manifest.json", t!("python/manifest.json"), false),
            ("build.sh", t!("python/build.sh"), true),
            ("README.md", t!("python/README.md"), false),
            ("wit/plugin.wit", WIT, false),
        ],
        Lang::Javascript => vec![
            ("plugin.js", t!("javascript/plugin.js"), false),
            ("manifest.json", t!("javascript/manifest.json"), false),
            ("build.sh", t!("javascript/build.sh"), true),
            ("README.md", t!("javascript/README.md"), false),
            ("wit/plugin.wit", WIT, false),
        ],
    }
}

/// Writes the new plugin into `dir` (default `./NAME`); the files written.
/// `sdk` is the path of the `passage-sdk` crate a Rust plugin depends on.
pub fn new_plugin(
    name: &str,
    lang: Lang,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    if !crate::config::is_plugin_name(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!(
            "`{name}`: a plugin name starts with a letter and uses only a-z, 0-9, `-` and `_` (it names the file, its table and its grants)"
        );
    }
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} exists and is not empty", dir.display());
    }
    let sdk = match sdk {
        Some(p) => {
            let p = std::path::absolute(p)?;
            if !p.join("Cargo.toml").is_file() {
                bail!(
                    "--sdk {}: no Cargo.toml there (give the sdk/ folder of a Passage checkout)",
                    p.display()
                );
            }
            p.display().to_string()
        }
        None => "../passage/sdk".to_owned(),
    };
    let author = std::env::var("USER")
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .unwrap_or_else(|| "you".to_owned());
    let mut written = Vec::new();
    for (path, template, executable) in files(lang) {
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk)
            .replace("{{author}}", &author);
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        }
        written.push(target);
    }
    Ok((dir, written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_its_files_with_the_name_filled_in() {
        for lang in [Lang::Rust, Lang::Python, Lang::Javascript] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("my-plugin");
            let (_, written) = new_plugin("my-plugin", lang, Some(&dir), None).unwrap();
            for file in &written {
                let text = std::fs::read_to_string(file).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{} keeps a placeholder",
                    file.display()
                );
            }
            // A manifest (JSON or Cargo metadata) names the plugin.
            let manifest = match lang {
                Lang::Rust => dir.join("Cargo.toml"),
                _ => dir.join("manifest.json"),
            };
            assert!(
                std::fs::read_to_string(manifest)
                    .unwrap()
                    .contains("my-plugin")
            );
            // Not twice into the same place.
            assert!(new_plugin("my-plugin", lang, Some(&dir), None).is_err());
        }
        assert!(new_plugin("9lives", Lang::Rust, None, None).is_err());
        assert!(new_plugin("Bad", Lang::Rust, None, None).is_err());
    }

    #[test]
    fn the_python_and_javascript_manifests_are_valid() {
        for lang in [Lang::Python, Lang::Javascript] {
            let (_, text, _) = files(lang)
                .into_iter()
                .find(|(p, _, _)| *p == "manifest.json")
                .unwrap();
            let json = text.replace("{{name}}", "x").replace("{{author}}", "a");
            crate::plugins::manifest::Manifest::from_json(json.as_bytes()).unwrap();
        }
    }
}
