//! `passage plugins` and `passage plugin check`: what operators see of plugins.

use passage_tests::{Passage, PassageSpec, plugin_wasm, run_with_env};

#[tokio::test]
async fn plugins_lists_roles_contract_limits_grants_and_health() {
    let router = Passage::start(PassageSpec {
        config: "[plugin_runtime.grants.fixed-discovery]\ncall_timeout_ms = 250\nmemory_limit_mib = 16\nmax_instances = 2\nhttp_allow = [\"127.0.0.1:8080\"]\n",
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("fixed-status", plugin_wasm("fixed-status")),
        ],
        ..Default::default()
    });
    let admin = router.metrics_addr().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, out, err) = run_with_env(&["plugins", "--admin", &admin], dir.path(), &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("fixed-discovery")[..7],
        [
            "fixed-discovery",
            "discovery",
            "0.1.0",
            "250ms",
            "16MiB",
            "2",
            "127.0.0.1:8080"
        ]
    );
    assert_eq!(
        line("fixed-status")[..7],
        [
            "fixed-status",
            "status",
            "0.1.0",
            "100ms",
            "64MiB",
            "8",
            "-"
        ]
    );
    assert!(out.contains("healthy"), "{out}");
    // Its manifest's version, and its signature under the default policy (warn).
    assert_eq!(line("fixed-discovery")[7..9], ["0.1.0", "unsigned"]);

    let (code, json, _) = run_with_env(&["plugins", "--admin", &admin, "--json"], dir.path(), &[]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["generation"], 0);
    assert_eq!(v["plugins"][0]["sha256"].as_str().map(str::len), Some(64));
    let adoption = &v["plugins"][0]["adoption"];
    assert_eq!(adoption["manifest"]["name"], "fixed-discovery", "{json}");
    assert_eq!(adoption["manifest"]["version"], "0.1.0", "{json}");
    assert_eq!(adoption["signature"]["state"], "unsigned", "{json}");
    assert_eq!(adoption["pinned"], false, "{json}");
}

#[test]
fn plugins_says_when_no_router_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, _, err) = run_with_env(&["plugins", "--admin", "127.0.0.1:9"], dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot reach the router"), "{err}");
}

#[test]
fn plugin_check_loads_a_plugin_as_the_router_would() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = dir.path().join("player-fill.wasm");
    std::fs::copy(plugin_wasm("player-fill"), &wasm).expect("copy");
    let (code, out, err) = run_with_env(
        &["plugin", "check", wasm.to_str().unwrap()],
        dir.path(),
        &[],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("roles:     strategy"), "{out}");
    assert!(out.contains("contract:  passage:plugin@0.1.0"), "{out}");
    assert!(out.contains("passage:plugin/log@0.1.0"), "{out}");
    assert!(out.contains("ok:"), "{out}");

    // Its configuration is checked too: player-fill refuses unknown keys.
    std::fs::write(
        dir.path().join("c.toml"),
        "[plugins.player-fill]\nreserv = 1\n",
    )
    .expect("write");
    let (code, out, _) = run_with_env(
        &[
            "plugin",
            "check",
            wasm.to_str().unwrap(),
            "--config",
            "c.toml",
        ],
        dir.path(),
        &[],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("refused") && out.contains("reserv"), "{out}");

    // Not a component.
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asmjunk").expect("write");
    let (code, out, _) = run_with_env(&["plugin", "check", bad.to_str().unwrap()], dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("refused") && out.contains("not a valid WebAssembly component"),
        "{out}"
    );
}
