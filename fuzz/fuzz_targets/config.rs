//! Configuration loading: `Config::from_sources(text, vars)`. The input up to the
//! first NUL is the TOML text; each NUL-separated piece after it is one variable,
//! `NAME=VALUE` with `PASSAGE_` put in front of NAME (a piece starting with `!` is
//! taken as is, e.g. a Kubernetes service-link variable); at most 6, names unique.
//! Checks: never panics; the result does not depend on the variables' order; an
//! accepted configuration also passes `validate()` and every plugin's table turns
//! into JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passage::config::Config;

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.split(|&b| b == 0);
    let text = String::from_utf8_lossy(pieces.next().unwrap_or_default());
    let mut vars: Vec<(String, String)> = Vec::new();
    for piece in pieces.take(6) {
        let piece = String::from_utf8_lossy(piece);
        let (name, value) = piece.split_once('=').unwrap_or((&piece, ""));
        let name = match name.strip_prefix('!') {
            Some(raw) => raw.to_owned(),
            None => format!("PASSAGE_{name}"),
        };
        if !vars.iter().any(|(n, _)| *n == name) {
            vars.push((name, value.to_owned()));
        }
    }

    let result = Config::from_sources(&text, vars.clone());
    let reversed: Vec<_> = vars.into_iter().rev().collect();
    let again = Config::from_sources(&text, reversed);
    assert_eq!(
        format!("{result:?}"),
        format!("{again:?}"),
        "result depends on the variables' order"
    );
    if let Ok(loaded) = result {
        loaded
            .config
            .validate()
            .unwrap_or_else(|p| panic!("accepted config fails validate(): {p}"));
        for name in loaded.config.plugins.keys() {
            let json = loaded.config.plugin_config_json(name);
            serde_json::from_str::<serde_json::Value>(&json)
                .unwrap_or_else(|e| panic!("plugin {name}: config JSON invalid: {e}"));
        }
    }
});
