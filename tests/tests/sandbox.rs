//! Plugins that loop, trap or eat memory fail only their own call: the player gets
//! the fallback status within the deadline, the log names the plugin and the
//! cause, and the router keeps serving.

use std::time::Duration;

use passage_tests::{Passage, PassageSpec, ping, plugin_wasm, run_to_exit};

fn misbehaving_router(mode: &str) -> Passage {
    let config = format!(
        // A high failure threshold: these tests show each failure is contained and
        // the next call gets a fresh instance; the back-off after repeated
        // failures has its own test (reload.rs).
        "[plugin_runtime]\ncall_timeout_ms = 300\nmemory_limit_mib = 16\nfailure_threshold = 1000\n\n\
         [status]\nmotd = \"fallback\"\n\n[plugins.misbehave]\nmode = \"{mode}\"\n"
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("misbehave", plugin_wasm("misbehave"))],
        cache_dir: None,
        ..Default::default()
    })
}

/// Pings through a failing plugin: every answer is the fallback, none hangs; then
/// a request the plugin answers shows a fresh instance serving again.
async fn fails_over_and_recovers(mode: &str, cause: &str) {
    let mut router = misbehaving_router(mode);
    for _ in 0..3 {
        let p = tokio::time::timeout(Duration::from_secs(10), ping(router.addr, 767, "play.test"))
            .await
            .expect("ping answered despite the plugin")
            .unwrap();
        assert_eq!(p.status["description"]["text"], "fallback", "{mode}");
    }
    let line = router.wait_for_log(&["plugin=\"misbehave\"", cause]);
    assert!(line.contains("WARN"), "{line}");
    let ok = ping(router.addr, 767, "ok.test").await.unwrap();
    assert_eq!(ok.status["description"]["text"], "misbehave ok", "{mode}");
    assert!(router.is_running());
}

#[tokio::test]
async fn looping_plugin_misses_its_deadline() {
    fails_over_and_recovers("loop", "missed its deadline").await;
}

#[tokio::test]
async fn many_concurrent_pings_through_a_looping_plugin_all_get_the_fallback() {
    let router = misbehaving_router("loop");
    let pings: Vec<_> = (0..24)
        .map(|_| tokio::spawn(ping(router.addr, 767, "play.test")))
        .collect();
    for p in pings {
        let p = tokio::time::timeout(Duration::from_secs(15), p)
            .await
            .expect("answered")
            .unwrap()
            .unwrap();
        assert_eq!(p.status["description"]["text"], "fallback");
    }
    let ok = ping(router.addr, 767, "ok.test").await.unwrap();
    assert_eq!(ok.status["description"]["text"], "misbehave ok");
}

#[tokio::test]
async fn trapping_plugin_is_replaced_and_its_panic_logged() {
    fails_over_and_recovers("trap", "misbehave: deliberate panic").await;
}

#[tokio::test]
async fn memory_hog_hits_its_cap() {
    fails_over_and_recovers("oom", "exceeded its memory limit of 16 MiB").await;
}

#[tokio::test]
async fn unusable_answers_fall_back() {
    for (mode, cause) in [
        ("huge-motd", "over the protocol's limit"),
        ("bad-json", "not a JSON text component"),
    ] {
        let router = misbehaving_router(mode);
        let p = ping(router.addr, 767, "play.test").await.unwrap();
        assert_eq!(p.status["description"]["text"], "fallback", "{mode}");
        router.wait_for_log(&["plugin=\"misbehave\"", cause]);
    }
}

#[tokio::test]
async fn declining_plugin_lets_the_fallback_answer() {
    let router = misbehaving_router("decline");
    let p = ping(router.addr, 767, "play.test").await.unwrap();
    assert_eq!(p.status["description"]["text"], "fallback");
    router.wait_for_log(&["status answered", "source=fallback"]);
}

#[tokio::test]
async fn plugin_log_lines_carry_the_plugin_name() {
    let router = misbehaving_router("log");
    ping(router.addr, 767, "play.test").await.unwrap();
    router.wait_for_log(&["plugin=\"misbehave\"", "hello from the plugin"]);
}

#[tokio::test]
async fn rejected_or_hanging_configuration_stops_start_up_with_the_reason() {
    for (mode, reason) in [
        (
            "reject-config",
            "rejected its configuration: mode reject-config",
        ),
        ("loop-in-configure", "missed its deadline"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::copy(
            plugin_wasm("misbehave"),
            dir.path().join("plugins/misbehave.wasm"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("passage.toml"),
            format!(
                "[plugin_runtime]\ncall_timeout_ms = 300\n[plugins.misbehave]\nmode = \"{mode}\"\n"
            ),
        )
        .unwrap();
        let (code, stderr) = run_to_exit(
            &["--config", "passage.toml", "--bind", "127.0.0.1:0"],
            dir.path(),
        );
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("plugin `misbehave`"), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_component_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/broken.wasm"), b"not wasm at all").unwrap();
    let (code, stderr) = run_to_exit(&["--bind", "127.0.0.1:0"], dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("plugin `broken`"), "{stderr}");
    assert!(
        stderr.contains("not a valid WebAssembly component"),
        "{stderr}"
    );
}

#[tokio::test]
async fn plugins_reach_no_files_environment_or_network() {
    let router = misbehaving_router("escape");
    // The plugin tries to connect back to the router's own port, which is open.
    let p = ping(router.addr, 767, "play.test").await.unwrap();
    assert_eq!(
        p.status["description"]["text"],
        "fs:denied dir:denied env:denied net:denied"
    );
}

/// A grant replaces the defaults for that plugin only: its own deadline and
/// memory cap are the ones enforced.
#[tokio::test]
async fn a_plugins_grant_sets_its_own_deadline_and_memory_cap() {
    for (mode, cause) in [
        ("loop", "missed its deadline of 40ms"),
        ("oom", "exceeded its memory limit of 8 MiB"),
    ] {
        let config = format!(
            "[plugin_runtime]\ncall_timeout_ms = 300\nmemory_limit_mib = 16\nfailure_threshold = 1000\n\
             [plugin_runtime.grants.misbehave]\ncall_timeout_ms = 40\nmemory_limit_mib = 8\n\
             [status]\nmotd = \"fallback\"\n[plugins.misbehave]\nmode = \"{mode}\"\n"
        );
        let router = Passage::start(PassageSpec {
            config: &config,
            plugins: vec![("misbehave", plugin_wasm("misbehave"))],
            ..Default::default()
        });
        let p = ping(router.addr, 767, "play.test").await.unwrap();
        assert_eq!(p.status["description"]["text"], "fallback", "{mode}");
        router.wait_for_log(&["plugin=\"misbehave\"", cause]);
    }
}
