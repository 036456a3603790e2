//! Environment overrides: `PASSAGE_<KEY PATH>` sets any configuration key.
//!
//! The scheme: `PASSAGE_` then the key's path upper-cased, with `__` (two
//! underscores) between table levels and single underscores kept inside names,
//! so multi-word keys are unambiguous:
//!
//! | variable | key |
//! |---|---|
//! | `PASSAGE_BIND` | `bind` |
//! | `PASSAGE_AUTH_SECRET_FILE` | `auth_secret_file` |
//! | `PASSAGE_PLUGIN_RUNTIME__CALL_TIMEOUT_MS` | `plugin_runtime.call_timeout_ms` |
//! | `PASSAGE_PLUGINS__FIXED_STATUS__MAX_PLAYERS` | `plugins.fixed-status.max_players` |
//!
//! A value is read as a TOML value when it is one (`5000`, `true`, `["10.0.0.0/8"]`,
//! `{ id = "a", host = "h", port = 1 }`) and as a string otherwise. A key whose type
//! is a string gets the raw text: Passage's own keys by their type (see
//! [`super::Config::from_sources`]), a plugin's keys when the file gives the key a
//! string; else quote it as TOML (`PASSAGE_PLUGINS__X__NAME='"1234"'`).
//! A variable that names no key is an error, never silently ignored; an empty
//! variable counts as unset.
//!
//! Plugin names contain `-`, which a variable name cannot: `_` in the plugin segment
//! matches a `[plugins.<name>]` table whose name differs only in `-`/`_`, and a
//! plugin without a table in the file gets one named with `-`.

use std::collections::BTreeMap;

/// Prefix of every override.
pub const PREFIX: &str = "PASSAGE_";

/// `PASSAGE_` variables that are not configuration keys: the configuration
/// file, and the secrets of `passage plugin push`/`pull` (registry login) and
/// `passage plugin sign` (an encrypted key's password), which stay out of the
/// command line.
pub const NOT_KEYS: &[&str] = &[
    "PASSAGE_CONFIG",
    "PASSAGE_REGISTRY_USERNAME",
    "PASSAGE_REGISTRY_PASSWORD",
    "PASSAGE_KEY_PASSWORD",
];

/// One override: the variable it came from, the key path it sets, the raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub var: String,
    pub path: Vec<String>,
    pub raw: String,
}

impl Override {
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// The overrides among `vars` (e.g. `std::env::vars()`), sorted by variable name so
/// that the result never depends on the environment's order.
pub fn collect(vars: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Override>, String> {
    let mut found = BTreeMap::new();
    // Sorted too, and all of them: which ones are reported must not depend on
    // the environment's order (found by fuzz/fuzz_targets/config.rs).
    let mut bad = std::collections::BTreeSet::new();
    for (var, raw) in vars {
        // An empty variable counts as unset: templating tools and `${X:-}` produce
        // them, and no key needs an empty value that the file cannot give it.
        if !var.starts_with(PREFIX)
            || NOT_KEYS.contains(&var.as_str())
            || raw.is_empty()
            || is_kubernetes_service_link(&var)
        {
            continue;
        }
        let rest = &var[PREFIX.len()..];
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(|segment| {
            segment.is_empty()
                || !segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }) {
            bad.insert(format!(
                "{var}: not a key path (PASSAGE_ then the key upper-cased, `__` between tables)"
            ));
            continue;
        }
        found.insert(var.clone(), Override { var, path, raw });
    }
    if !bad.is_empty() {
        return Err(bad.into_iter().collect::<Vec<_>>().join("\n"));
    }
    Ok(found.into_values().collect())
}

/// Kubernetes gives every pod `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_25565_TCP_ADDR`
/// and the like for each Service in its namespace; a Service named `passage` or
/// `passage-metrics` thus produces `PASSAGE_*` variables that are not ours. Their
/// shape never contains `__`, and no configuration key ends like them.
fn is_kubernetes_service_link(var: &str) -> bool {
    if var.contains("__") {
        return false;
    }
    if var.ends_with("_SERVICE_HOST") || var.ends_with("_PORT") {
        return true;
    }
    if let Some(i) = var.find("_SERVICE_PORT") {
        return var[i + "_SERVICE_PORT".len()..].is_empty()
            || var[i + "_SERVICE_PORT".len()..].starts_with('_');
    }
    // <SVC>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]
    var.split("_PORT_").skip(1).any(|rest| {
        let mut parts = rest.split('_');
        let number = parts
            .next()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let proto = parts
            .next()
            .is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"));
        let tail = parts.collect::<Vec<_>>();
        number
            && proto
            && (tail.is_empty() || matches!(tail.as_slice(), ["PROTO"] | ["PORT"] | ["ADDR"]))
    })
}

/// The TOML value an override's text stands for: a TOML value if it parses as
/// one, else the text as a string.
pub fn literal(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut table) if table.len() == 1 => table
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        _ => toml::Value::String(raw.to_owned()),
    }
}

/// Sets `ov` in `doc`, creating tables on the way; returns the key path it set
/// (with plugin names resolved). Replacing a string from the file, the text stays a
/// string (plugins' tables have no schema to tell, so this is how `"1234"` stays
/// text there); otherwise see [`literal`].
pub fn apply(doc: &mut toml::Table, ov: &Override) -> Result<Vec<String>, String> {
    let mut path = ov.path.clone();
    // `plugins.<name>` and `plugin_runtime.grants.<name>`: find the plugin's table
    // whatever its `-`/`_` spelling.
    for parent in [&["plugins"][..], &["plugin_runtime", "grants"][..]] {
        let n = parent.len();
        if path.len() > n && path[..n].iter().eq(parent.iter()) {
            let wanted = path[n].clone();
            let mut table = Some(&*doc);
            for segment in parent {
                table = table
                    .and_then(|t| t.get(*segment))
                    .and_then(|v| v.as_table());
            }
            let existing = table.and_then(|names| {
                names
                    .keys()
                    .find(|name| super::same_plugin_name(name, &wanted))
                    .cloned()
            });
            path[n] = existing.unwrap_or_else(|| wanted.replace('_', "-"));
        }
    }
    let (last, tables) = path
        .split_last()
        .ok_or_else(|| format!("{}: empty key", ov.var))?;
    let table = table_mut(doc, tables).map_err(|depth| {
        format!(
            "{}: `{}` is not a table, so it has no key `{}`",
            ov.var,
            path[..=depth].join("."),
            path[depth + 1]
        )
    })?;
    let value = match table.get(last) {
        Some(toml::Value::String(_)) => toml::Value::String(ov.raw.clone()),
        _ => literal(&ov.raw),
    };
    table.insert(last.clone(), value);
    Ok(path)
}

/// The table at the path `tables` inside `doc`, creating missing ones on the way;
/// `Err(depth)` when the segment at `depth` holds a value that is not a table.
pub fn table_mut<'a>(
    doc: &'a mut toml::Table,
    tables: &[String],
) -> Result<&'a mut toml::Table, usize> {
    let mut table = doc;
    for (depth, segment) in tables.iter().enumerate() {
        let entry = table
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(depth),
        };
    }
    Ok(table)
}

/// The value at `path`, if any.
pub fn value_at<'a>(doc: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    let (last, tables) = path.split_last()?;
    let mut table = doc;
    for segment in tables {
        table = table.get(segment)?.as_table()?;
    }
    table.get(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn multi_word_keys_split_only_on_double_underscores() {
        let found = collect(vars(&[
            ("PASSAGE_PLUGIN_RUNTIME__CALL_TIMEOUT_MS", "250"),
            ("PASSAGE_AUTH_SECRET_FILE", "/run/s"),
            ("HOME", "/root"),
            ("PASSAGE_CONFIG", "x.toml"),
            ("PASSAGE_REGISTRY_USERNAME", "alice"),
            ("PASSAGE_REGISTRY_PASSWORD", "s3cret"),
            ("PASSAGE_KEY_PASSWORD", "pw"),
            ("PASSAGE_BIND", ""),
        ]))
        .unwrap();
        let paths: Vec<String> = found.iter().map(Override::dotted).collect();
        assert_eq!(
            paths,
            ["auth_secret_file", "plugin_runtime.call_timeout_ms"]
        );
    }

    #[test]
    fn kubernetes_service_links_are_not_keys() {
        let found = collect(vars(&[
            ("PASSAGE_SERVICE_HOST", "10.0.0.1"),
            ("PASSAGE_SERVICE_PORT", "25565"),
            ("PASSAGE_SERVICE_PORT_MINECRAFT", "25565"),
            ("PASSAGE_PORT", "tcp://10.0.0.1:25565"),
            ("PASSAGE_PORT_25565_TCP", "tcp://10.0.0.1:25565"),
            ("PASSAGE_PORT_25565_TCP_PROTO", "tcp"),
            ("PASSAGE_PORT_25565_TCP_PORT", "25565"),
            ("PASSAGE_PORT_25565_TCP_ADDR", "10.0.0.1"),
            ("PASSAGE_METRICS_SERVICE_HOST", "10.0.0.2"),
            ("PASSAGE_METRICS_PORT_9464_TCP_ADDR", "10.0.0.2"),
            ("PASSAGE_LIMITS__MAX_CONNECTIONS", "5"),
        ]))
        .unwrap();
        let paths: Vec<String> = found.iter().map(Override::dotted).collect();
        assert_eq!(paths, ["limits.max_connections"]);
    }

    #[test]
    fn malformed_names_are_errors() {
        for bad in [
            "PASSAGE_",
            "PASSAGE_A____B",
            "PASSAGE_LIMITS__",
            "PASSAGE_A-B",
        ] {
            assert!(collect(vars(&[(bad, "1")])).is_err(), "{bad}");
        }
    }

    #[test]
    fn literals() {
        assert_eq!(literal("5000"), toml::Value::Integer(5000));
        assert_eq!(literal("true"), toml::Value::Boolean(true));
        assert_eq!(literal("0.5"), toml::Value::Float(0.5));
        assert_eq!(
            literal(r#"["10.0.0.0/8", "fd00::/8"]"#),
            toml::Value::Array(vec!["10.0.0.0/8".into(), "fd00::/8".into()])
        );
        assert_eq!(
            literal("0.0.0.0:25565"),
            toml::Value::String("0.0.0.0:25565".into())
        );
        assert_eq!(
            literal("hello world"),
            toml::Value::String("hello world".into())
        );
        // A TOML string literal loses its quotes, like in the file.
        assert_eq!(literal(r#""007""#), toml::Value::String("007".into()));
        // Not one value: kept as text.
        assert_eq!(literal("1\nw = 2"), toml::Value::String("1\nw = 2".into()));
    }

    #[test]
    fn plugin_names_match_existing_tables_else_use_dashes() {
        let mut doc: toml::Table = "[plugins.my_plugin]\n[plugins.fixed-status]\n"
            .parse()
            .unwrap();
        let ovs = collect(vars(&[
            ("PASSAGE_PLUGINS__FIXED_STATUS__MAX_PLAYERS", "10"),
            ("PASSAGE_PLUGINS__MY_PLUGIN__X", "1"),
            ("PASSAGE_PLUGINS__NEW_ONE__Y", "2"),
        ]))
        .unwrap();
        for ov in &ovs {
            apply(&mut doc, ov).unwrap();
        }
        let plugins = doc["plugins"].as_table().unwrap();
        assert_eq!(
            plugins["fixed-status"]["max_players"].as_integer(),
            Some(10)
        );
        assert_eq!(plugins["my_plugin"]["x"].as_integer(), Some(1));
        assert_eq!(plugins["new-one"]["y"].as_integer(), Some(2));
    }

    #[test]
    fn grants_are_found_by_plugin_name_too() {
        let mut doc: toml::Table = "[plugin_runtime.grants.http-discovery]\ncall_timeout_ms = 1\n"
            .parse()
            .unwrap();
        let ovs = collect(vars(&[
            (
                "PASSAGE_PLUGIN_RUNTIME__GRANTS__HTTP_DISCOVERY__HTTP_ALLOW",
                r#"["backends.internal:8080"]"#,
            ),
            (
                "PASSAGE_PLUGIN_RUNTIME__GRANTS__OTHER_ONE__MAX_INSTANCES",
                "2",
            ),
        ]))
        .unwrap();
        for ov in &ovs {
            apply(&mut doc, ov).unwrap();
        }
        let grants = doc["plugin_runtime"]["grants"].as_table().unwrap();
        assert_eq!(
            grants["http-discovery"]["http_allow"][0].as_str(),
            Some("backends.internal:8080")
        );
        assert_eq!(
            grants["http-discovery"]["call_timeout_ms"].as_integer(),
            Some(1)
        );
        assert_eq!(grants["other-one"]["max_instances"].as_integer(), Some(2));
    }

    #[test]
    fn a_path_through_a_value_is_an_error() {
        let mut doc: toml::Table = "bind = \"0.0.0.0:1\"".parse().unwrap();
        let ov = &collect(vars(&[("PASSAGE_BIND__PORT", "1")])).unwrap()[0];
        let err = apply(&mut doc, ov).unwrap_err();
        assert!(
            err.contains("PASSAGE_BIND__PORT") && err.contains("`bind` is not a table"),
            "{err}"
        );
    }

    /// Found by `fuzz/fuzz_targets/config.rs`; input in
    /// `fuzz/regressions/config/env-error-depends-on-variable-order` (TOML text empty,
    /// then the variables `PASSAGE_-=1` and `PASSAGE_.=1`). `collect` promises a result
    /// that never depends on the environment's order; it used to return the first
    /// invalid variable in iteration order.
    #[test]
    fn invalid_variable_reported_does_not_depend_on_order() {
        let forward = vars(&[("PASSAGE_-", "1"), ("PASSAGE_.", "1")]);
        let backward: Vec<_> = forward.iter().cloned().rev().collect();
        assert_eq!(collect(forward.clone()), collect(backward.clone()));
        assert_eq!(
            super::super::Config::from_sources("", forward).map(|l| l.overrides),
            super::super::Config::from_sources("", backward).map(|l| l.overrides)
        );
    }
}
