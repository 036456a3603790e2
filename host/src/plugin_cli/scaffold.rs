//! `passage plugin new NAME --lang rust|python|javascript [--role strategy|admission]`:
//! a working plugin from the templates in `docs/plugins/templates/` (compiled
//! into the binary, so what the guide shows is what `new` writes).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Javascript,
}

/// The role the new plugin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Picks a target for each player (contract 0.1.0).
    Strategy,
    /// Lets players in or keeps them out with a message (contract 0.3.0).
    Admission,
}

impl Role {
    fn contract(self) -> &'static str {
        match self {
            Role::Strategy => "0.1.0",
            Role::Admission => "0.3.0",
        }
    }

    fn world(self) -> &'static str {
        match self {
            Role::Strategy => "strategy-plugin",
            Role::Admission => "admission-plugin",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Role::Strategy => "strategy",
            Role::Admission => "admission",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Role::Strategy => {
                "A Passage strategy plugin: each player goes to the target with the fewest players"
            }
            Role::Admission => {
                "A Passage admission plugin: the players its table lists are kept out, with a message in their language"
            }
        }
    }

    /// The README's line to try it.
    fn try_it(self) -> &'static str {
        match self {
            Role::Strategy => "passage plugin simulate {{name}}.wasm --players 1000 --targets 5",
            Role::Admission => {
                "passage plugin check {{name}}.wasm --config passage.toml   # with its [plugins.{{name}}] deny = [...]"
            }
        }
    }
}

const WIT_0_1: &str = include_str!("../../../wit/0.1.0/plugin.wit");
const WIT_0_3: &str = include_str!("../../../wit/0.3.0/plugin.wit");
/// `wasi:keyvalue`, which the 0.3.0 package refers to.
const WIT_0_3_DEPS: [(&str, &str); 5] = [
    (
        "wit/deps/keyvalue/atomic.wit",
        include_str!("../../../wit/0.3.0/deps/keyvalue/atomic.wit"),
    ),
    (
        "wit/deps/keyvalue/batch.wit",
        include_str!("../../../wit/0.3.0/deps/keyvalue/batch.wit"),
    ),
    (
        "wit/deps/keyvalue/store.wit",
        include_str!("../../../wit/0.3.0/deps/keyvalue/store.wit"),
    ),
    (
        "wit/deps/keyvalue/watch.wit",
        include_str!("../../../wit/0.3.0/deps/keyvalue/watch.wit"),
    ),
    (
        "wit/deps/keyvalue/world.wit",
        include_str!("../../../wit/0.3.0/deps/keyvalue/world.wit"),
    ),
];

/// `(path in the new plugin, template text, executable)`.
fn files(lang: Lang, role: Role) -> Vec<(&'static str, &'static str, bool)> {
    macro_rules! t {
        ($path:literal) => {
            include_str!(concat!("../../../docs/plugins/templates/", $path))
        };
    }
    // The role's own files: the code, and the schema of its table.
    let (source, schema) = match (lang, role) {
        (Lang::Rust, Role::Strategy) => (t!("rust/src/lib.rs"), t!("rust/config.schema.json")),
        (Lang::Rust, Role::Admission) => (
            t!("rust/admission/lib.rs"),
            t!("rust/admission/config.schema.json"),
        ),
        (Lang::Python, Role::Strategy) => (t!("python/app.py"), t!("python/manifest.json")),
        (Lang::Python, Role::Admission) => (
            t!("python/admission/app.py"),
            t!("python/admission/manifest.json"),
        ),
        (Lang::Javascript, Role::Strategy) => {
            (t!("javascript/plugin.js"), t!("javascript/manifest.json"))
        }
        (Lang::Javascript, Role::Admission) => (
            t!("javascript/admission/plugin.js"),
            t!("javascript/admission/manifest.json"),
        ),
    };
    let mut files = match lang {
        Lang::Rust => vec![
            ("Cargo.toml", t!("rust/Cargo.toml"), false),
            ("build.rs", t!("rust/build.rs"), false),
            ("src/lib.rs", source, false),
            ("config.schema.json", schema, false),
            ("README.md", t!("rust/README.md"), false),
            (".gitignore", t!("rust/gitignore"), false),
        ],
        Lang::Python => vec![
            ("app.py", source, false),
            ("manifest.json", schema, false),
            ("build.sh", t!("python/build.sh"), true),
            ("README.md", t!("python/README.md"), false),
        ],
        Lang::Javascript => vec![
            ("plugin.js", source, false),
            ("manifest.json", schema, false),
            ("build.sh", t!("javascript/build.sh"), true),
            ("README.md", t!("javascript/README.md"), false),
        ],
    };
    // Python and JavaScript build against the contract's WIT, kept beside them.
    if lang != Lang::Rust {
        match role.contract() {
            "0.1.0" => files.push(("wit/plugin.wit", WIT_0_1, false)),
            _ => {
                files.push(("wit/plugin.wit", WIT_0_3, false));
                files.extend(WIT_0_3_DEPS.iter().map(|&(path, text)| (path, text, false)));
            }
        }
    }
    files
}

/// Writes the new plugin into `dir` (default `./NAME`); the files written.
/// `sdk` is the path of the `passage-sdk` crate a Rust plugin depends on.
pub fn new_plugin(
    name: &str,
    lang: Lang,
    role: Role,
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
    for (path, template, executable) in files(lang, role) {
        let text = template
            .replace("{{try}}", role.try_it())
            .replace("{{role}}", role.name())
            .replace("{{world}}", role.world())
            .replace("{{contract}}", role.contract())
            .replace("{{description}}", role.description())
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

    const LANGS: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Javascript];
    const ROLES: [Role; 2] = [Role::Strategy, Role::Admission];

    #[test]
    fn every_language_and_role_gets_its_files_with_the_name_filled_in() {
        for lang in LANGS {
            for role in ROLES {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().join("my-plugin");
                let (_, written) = new_plugin("my-plugin", lang, role, Some(&dir), None).unwrap();
                for file in &written {
                    let text = std::fs::read_to_string(file).unwrap();
                    assert!(
                        !text.contains("{{"),
                        "{} keeps a placeholder",
                        file.display()
                    );
                }
                // A manifest (JSON or Cargo metadata) names the plugin and its contract.
                let manifest = match lang {
                    Lang::Rust => dir.join("Cargo.toml"),
                    _ => dir.join("manifest.json"),
                };
                let text = std::fs::read_to_string(manifest).unwrap();
                assert!(text.contains("my-plugin"), "{text}");
                assert!(text.contains(role.contract()), "{text}");
                // Not twice into the same place.
                assert!(new_plugin("my-plugin", lang, role, Some(&dir), None).is_err());
            }
        }
        assert!(new_plugin("9lives", Lang::Rust, Role::Strategy, None, None).is_err());
        assert!(new_plugin("Bad", Lang::Rust, Role::Strategy, None, None).is_err());
    }

    #[test]
    fn the_python_and_javascript_manifests_are_valid() {
        for lang in [Lang::Python, Lang::Javascript] {
            for role in ROLES {
                let (_, text, _) = files(lang, role)
                    .into_iter()
                    .find(|(p, _, _)| *p == "manifest.json")
                    .unwrap();
                let json = text.replace("{{name}}", "x").replace("{{author}}", "a");
                let manifest =
                    crate::plugins::manifest::Manifest::from_json(json.as_bytes()).unwrap();
                assert_eq!(manifest.contract.as_deref(), Some(role.contract()));
            }
        }
    }
}
