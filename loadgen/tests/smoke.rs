//! End to end: the real router (fixed-status; offline auth with fixed-discovery
//! and player-fill) loaded by the real `passage-loadgen` binary. Checks that
//! every connection succeeds and the report adds up — never how fast.

use std::process::Command;

use passage_tests::{Passage, PassageSpec, plugin_wasm};

const CONFIG: &str = r#"
[auth]
mode = "offline"

# One address makes all the load: per-address budgets would stop it.
[limits]
status_per_second = 0
login_per_second = 0

[plugins.fixed-status]
motd = "loadgen smoke test"
max_players = 100

[plugins.fixed-discovery]
targets = [
    { id = "lobby", host = "127.0.0.1", port = 25566, metadata = { players = 1, max_players = 100 } },
]
"#;

fn loadgen(router: &Passage, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_passage-loadgen"))
        .arg("--target")
        .arg(router.addr.to_string())
        .args(args)
        // A backstop: the run ends by count long before this.
        .args(["--duration", "60s", "--json"])
        .output()
        .expect("run passage-loadgen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "passage-loadgen {args:?} exited with {}\n--- stderr ---\n{stderr}\n--- stdout ---\n{}\n--- router log ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        router.log()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not one JSON object ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn assert_all_succeeded(report: &serde_json::Value, mode: &str, count: u64) {
    assert_eq!(report["mode"], mode, "{report}");
    assert_eq!(report["stopped_by"], "count", "{report}");
    assert_eq!(report["connections_attempted"], count, "{report}");
    assert_eq!(report["connections_succeeded"], count, "{report}");
    assert_eq!(report["connections_failed"], 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    let latency = &report["latency_us"];
    for p in ["p50", "p90", "p99", "max"] {
        assert!(latency[p].is_u64(), "latency {p} missing: {report}");
    }
    assert!(
        latency["p50"].as_u64() <= latency["p99"].as_u64(),
        "{report}"
    );
    assert!(
        latency["p99"].as_u64() <= latency["max"].as_u64(),
        "{report}"
    );
}

#[test]
fn status_and_offline_logins_all_succeed() {
    let router = Passage::start(PassageSpec {
        config: CONFIG,
        plugins: vec![
            ("fixed-status", plugin_wasm("fixed-status")),
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        cache_dir: None,
        ..Default::default()
    });

    let report = loadgen(
        &router,
        &["--mode", "status", "--count", "200", "--concurrency", "8"],
    );
    assert_all_succeeded(&report, "status", 200);
    assert_eq!(report["concurrency"], 8);

    let report = loadgen(
        &router,
        &[
            "--mode",
            "offline-login",
            "--count",
            "50",
            "--concurrency",
            "8",
        ],
    );
    assert_all_succeeded(&report, "offline-login", 50);
    router.wait_for_log(&["transfer", "target=lobby"]);
}
