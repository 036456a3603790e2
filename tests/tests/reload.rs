//! Hot reload end to end: plugins copied into, replaced in and removed from the
//! running router's plugins directory, and configuration reloads (file change and
//! SIGHUP), with their all-or-nothing rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use passage_tests::client::{LoginParams, login_to_final_packet};
use passage_tests::http_stub::HttpStub;
use passage_tests::{
    Passage, PassageSpec, http_get, nbt_text, parse_transfer, plugin_wasm, run_with_env,
};

/// lobby-1 comes first (what `flaky-strategy` picks); lobby-2 is the fullest with
/// room (what `player-fill` picks).
const TARGETS: &str = r#"
[plugins.fixed-discovery]
targets = [
    { id = "lobby-1", host = "10.0.0.1", port = 25565, metadata = { players = 10, max_players = 100 } },
    { id = "lobby-2", host = "10.0.0.2", port = 25565, metadata = { players = 80, max_players = 100 } },
]
"#;

fn config(extra: &str) -> String {
    // No login rate limit: the tests log in back to back from one address.
    format!("{extra}\n[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 0\n{TARGETS}")
}

fn start(extra: &str) -> Passage {
    Passage::start(PassageSpec {
        config: &config(extra),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    })
}

/// Logs `name` in (offline) and returns the host it was transferred to, or the
/// disconnect reason's text.
async fn route(router: &Passage, name: &str, server_address: &str) -> Result<String, String> {
    let mut params = LoginParams::new(767, name, None);
    params.server_address = server_address.to_owned();
    match login_to_final_packet(router.addr, &params, "en_us").await {
        Ok((0x0B, body, _)) => Ok(parse_transfer(&body).0),
        Ok((0x02, body, _)) => Err(nbt_text(&body)),
        Ok((id, _, _)) => Err(format!("unexpected packet {id:#x}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn host_for(router: &Passage, name: &str) -> String {
    match route(router, name, "play.example.com").await {
        Ok(host) => host,
        Err(e) => panic!("login of {name} failed: {e}\n{}", router.log()),
    }
}

/// Polls `done` (a condition the router's behaviour makes true) until it holds;
/// bounded only to catch one that never does.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_a_strategy_in_changes_the_next_players_target_without_a_failed_login() {
    let router = Arc::new(start(""));
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");

    // Four players at a time keep logging in while the file is replaced.
    let stop = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (router, stop, ok) = (router.clone(), stop.clone(), ok.clone());
        logins.spawn(async move {
            let mut failures = Vec::new();
            while stop.load(Ordering::SeqCst) == 0 {
                match route(&router, "Steve", "play.example.com").await {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.push(e),
                }
            }
            failures
        });
    }
    until("logins running before the copy", || {
        ok.load(Ordering::SeqCst) >= 8
    })
    .await;
    // A plain copy over the file in use, as an operator would do it.
    std::fs::copy(
        plugin_wasm("player-fill"),
        router.plugins_dir().join("pick.wasm"),
    )
    .expect("copy plugin");
    let line = router.wait_for_log_count(&["plugins reloaded"], 1);
    assert!(line.contains("updated=pick"), "{line}");
    let at_swap = ok.load(Ordering::SeqCst);
    until("logins running after the swap", || {
        ok.load(Ordering::SeqCst) >= at_swap + 8
    })
    .await;
    stop.store(1, Ordering::SeqCst);
    let mut failures = Vec::new();
    while let Some(done) = logins.join_next().await {
        failures.extend(done.expect("login task"));
    }
    assert!(
        failures.is_empty(),
        "logins failed during the reload: {failures:?}\n{}",
        router.log()
    );
    // The next player goes where the new strategy says.
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.2");
}

/// A login whose strategy call is running when the file is replaced finishes on
/// the version it started with; the players after the swap get the new one. The
/// old version's call is held at a gate the test opens only after the swap.
#[tokio::test]
async fn a_call_in_flight_during_a_reload_finishes_on_the_old_version() {
    let gate = HttpStub::start("").await;
    let gated = TARGETS.replace(
        "metadata = { players = 10, max_players = 100 }",
        &format!(
            "metadata = {{ players = 10, max_players = 100, gate_url = \"{}\" }}",
            gate.url("/gate")
        ),
    );
    let config = format!(
        "[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 0\n\
         [plugin_runtime.grants.pick]\ncall_timeout_ms = 60000\nhttp_allow = [\"{}\"]\n{gated}",
        gate.addr
    );
    let router = Arc::new(Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    }));
    let slow = tokio::spawn({
        let router = router.clone();
        async move { route(&router, "Slow", "play.example.com").await }
    });
    gate.wait_parked("Slow").await;
    std::fs::copy(
        plugin_wasm("player-fill"),
        router.plugins_dir().join("pick.wasm"),
    )
    .expect("copy plugin");
    router.wait_for_log(&["plugins reloaded", "updated=pick"]);
    // The new version serves the next player while the old call still runs...
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.2");
    assert!(!slow.is_finished());
    // ...and the old call, let go, answers as the old version does.
    gate.open("Slow");
    assert_eq!(slow.await.unwrap(), Ok("10.0.0.1".to_owned()));
    router.wait_for_log(&["gate opened for Slow"]);
}

/// Kubernetes mounts a ConfigMap as a directory of symlinks: `passage.toml` ->
/// `..data/passage.toml`, `..data` -> `..<timestamp>`; an update writes a new
/// timestamped directory and swaps `..data` atomically. The file the router was
/// started with never changes itself, yet the change is picked up.
#[tokio::test]
async fn a_configmap_style_symlink_swap_reloads_the_configuration() {
    use std::os::unix::fs::symlink;
    let mount = tempfile::tempdir().unwrap();
    let m = mount.path();
    std::fs::create_dir(m.join("..2026_12_01_v1")).unwrap();
    std::fs::write(m.join("..2026_12_01_v1/passage.toml"), config("")).unwrap();
    symlink("..2026_12_01_v1", m.join("..data")).unwrap();
    symlink("..data/passage.toml", m.join("passage.toml")).unwrap();
    let router = Passage::start(PassageSpec {
        config_file: Some(m.join("passage.toml")),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    });
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");
    // What the kubelet does: a new directory, a new link, renamed over `..data`.
    std::fs::create_dir(m.join("..2026_12_01_v2")).unwrap();
    std::fs::write(
        m.join("..2026_12_01_v2/passage.toml"),
        config("").replace("10.0.0.1", "10.0.0.6"),
    )
    .unwrap();
    symlink("..2026_12_01_v2", m.join("..data_tmp")).unwrap();
    std::fs::rename(m.join("..data_tmp"), m.join("..data")).unwrap();
    std::fs::remove_dir_all(m.join("..2026_12_01_v1")).unwrap();
    router.wait_for_log(&["plugins reloaded", "reconfigured=fixed-discovery"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.6");
}

/// The two ways the deployment guide gives to put a file in place: copied under
/// a name without `.wasm` and renamed, or copied in place, even when a watcher
/// event sees it half-written (refused, then loaded once complete). Reloads are
/// counted by outcome.
#[tokio::test]
async fn renamed_and_half_written_files_are_loaded_once_complete() {
    let router = start("");
    let dir = router.plugins_dir();
    let new = std::fs::read(plugin_wasm("player-fill")).unwrap();
    // Half of it, as a watcher may see a copy in progress: refused.
    std::fs::write(dir.join("pick.wasm"), &new[..new.len() / 2]).unwrap();
    router.wait_for_log(&["new plugin file refused", "pick"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");
    // The rest arrives: loaded.
    std::fs::write(dir.join("pick.wasm"), &new).unwrap();
    router.wait_for_log(&["plugins reloaded", "updated=pick"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.2");
    // Copied in under another name (ignored), then renamed into place.
    std::fs::copy(plugin_wasm("flaky-strategy"), dir.join("pick.wasm.part")).unwrap();
    std::fs::rename(dir.join("pick.wasm.part"), dir.join("pick.wasm")).unwrap();
    router.wait_for_log_count(&["plugins reloaded", "updated=pick"], 2);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");
    // One refused reload, two applied ones.
    let (_, metrics) = http_get(router.metrics_addr(), "/metrics").await.unwrap();
    let count = |outcome: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "passage_plugin_reloads_total{{outcome=\"{outcome}\"}}"
                ))?
                .trim()
                .parse::<f64>()
                .ok()
            })
            .unwrap_or(0.0)
    };
    assert_eq!(count("applied"), 2.0, "{metrics}");
    assert!(
        count("refused") + count("partial") >= 1.0,
        "the half-written file was counted\n{metrics}"
    );
}

#[tokio::test]
async fn a_broken_file_is_refused_and_the_previous_version_keeps_serving() {
    let router = start("");
    std::fs::write(
        router.plugins_dir().join("pick.wasm"),
        b"\0asm not really a component",
    )
    .expect("write");
    let line = router.wait_for_log(&["new plugin file refused", "pick"]);
    assert!(line.contains("previous version keeps serving"), "{line}");
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");

    // A broken new plugin is not loaded; the rest is unaffected.
    std::fs::write(router.plugins_dir().join("extra.wasm"), b"garbage").expect("write");
    let line = router.wait_for_log(&["new plugin file refused", "extra"]);
    assert!(line.contains("it is not loaded"), "{line}");
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");

    // Fixing the file loads it.
    std::fs::copy(
        plugin_wasm("player-fill"),
        router.plugins_dir().join("pick.wasm"),
    )
    .expect("copy");
    router.wait_for_log(&["plugins reloaded", "updated=pick"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.2");
}

#[tokio::test]
async fn removing_a_plugin_unloads_it_and_adding_it_back_loads_it() {
    let router = start("");
    std::fs::remove_file(router.plugins_dir().join("fixed-discovery.wasm")).expect("remove");
    router.wait_for_log(&["plugins reloaded", "removed=fixed-discovery"]);
    let refused = route(&router, "Alex", "play.example.com").await;
    assert!(refused.is_err(), "{refused:?}");
    std::fs::copy(
        plugin_wasm("fixed-discovery"),
        router.plugins_dir().join("fixed-discovery.wasm"),
    )
    .expect("copy");
    router.wait_for_log(&["plugins reloaded", "added=fixed-discovery"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");
}

#[tokio::test]
async fn a_changed_config_file_reloads_plugin_tables_all_or_nothing() {
    let router = start("");
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");
    let moved = config("").replace("10.0.0.1", "10.0.0.9");
    std::fs::write(router.config_path(), &moved).expect("write config");
    router.wait_for_log(&["plugins reloaded", "reconfigured=fixed-discovery"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.9");

    // The plugin rejects its new table: nothing changes.
    let broken = moved.replace("targets = [", "targets = 5\nignored = [");
    std::fs::write(router.config_path(), broken).expect("write config");
    router.wait_for_log(&["plugin reload refused", "fixed-discovery"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.9");

    // A broken plugin file lying in the directory is refused on its own: it does
    // not block configuration reloads.
    std::fs::write(router.plugins_dir().join("extra.wasm"), b"garbage").expect("write");
    router.wait_for_log(&["new plugin file refused", "extra"]);
    std::fs::write(router.config_path(), moved.replace("10.0.0.9", "10.0.0.8"))
        .expect("write config");
    router.wait_for_log(&[
        "plugins reloaded",
        "reconfigured=fixed-discovery",
        "refused=1",
    ]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.8");

    // A file that does not parse: nothing changes either.
    std::fs::write(router.config_path(), "bind = [").expect("write config");
    router.wait_for_log(&["configuration reload refused"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.8");
}

#[tokio::test]
async fn sighup_reloads_the_configuration_when_watching_is_off() {
    let extra = "[plugin_runtime]\nwatch = false\n";
    let router = start(extra);
    // Not watched: no watcher was started at all, so nothing happens until SIGHUP.
    router.wait_for_log(&["not watching files for changes", "SIGHUP reloads"]);
    assert!(
        !router.log().contains("watching for changes"),
        "{}",
        router.log()
    );
    let moved = config(extra).replace("10.0.0.1", "10.0.0.7");
    std::fs::write(router.config_path(), &moved).expect("write config");
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");
    router.signal("HUP");
    router.wait_for_log(&["plugins reloaded", "reconfigured=fixed-discovery"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.7");
    // A key that needs a restart is named as such.
    std::fs::write(
        router.config_path(),
        moved.replace(
            "[plugin_runtime]",
            "compression_threshold = 256\n[plugin_runtime]",
        ),
    )
    .expect("write config");
    router.signal("HUP");
    router.wait_for_log(&["only after a restart", "compression_threshold"]);
}

#[tokio::test]
async fn a_strategy_can_serve_one_host_name_and_another_the_rest() {
    let router = Passage::start(PassageSpec {
        config: &config(
            "[routing]\nstrategy = \"pick\"\n[routing.hosts]\n\"eu.example.com\" = \"player-fill\"\n\"*.fill.example.com\" = \"player-fill\"\n",
        ),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    });
    let go = |address: &'static str| {
        let router = &router;
        async move { route(router, "Alex", address).await.expect("routed") }
    };
    assert_eq!(go("play.example.com").await, "10.0.0.1");
    assert_eq!(go("eu.example.com").await, "10.0.0.2");
    assert_eq!(go("a.fill.example.com").await, "10.0.0.2");
    assert_eq!(go("fill.example.com").await, "10.0.0.1");
}

#[tokio::test]
async fn a_failing_strategy_backs_off_and_the_fallback_strategy_routes_meanwhile() {
    let router = Passage::start(PassageSpec {
        config: &config(
            "[routing]\nstrategy = \"pick\"\nfallback_strategy = \"player-fill\"\n[plugin_runtime]\nfailure_threshold = 2\n",
        ),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    });
    // `Trap` makes flaky-strategy panic: the fallback routes the player anyway.
    for _ in 0..2 {
        assert_eq!(host_for(&router, "Trap").await, "10.0.0.2");
    }
    router.wait_for_log(&["plugin unhealthy", "pick", "backoff_ms=1000"]);
    // While it backs off, it is not called at all: even a player it would route
    // goes through the fallback.
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.2");
    router.wait_for_log(&["strategy failed", "is unhealthy after repeated failures"]);
    // Operators see it in `passage plugins`.
    let admin = router.metrics_addr().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, out, err) = run_with_env(&["plugins", "--admin", &admin], dir.path(), &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let pick = out
        .lines()
        .find(|l| l.starts_with("pick "))
        .expect("pick listed");
    assert!(
        pick.contains("strategy") && pick.contains("UNHEALTHY"),
        "{out}"
    );
    assert!(pick.contains("deliberate panic"), "{out}");
    let fill = out
        .lines()
        .find(|l| l.starts_with("player-fill "))
        .expect("listed");
    assert!(
        fill.contains("healthy") && !fill.contains("UNHEALTHY"),
        "{out}"
    );
    // After the back-off (1 s), a good call makes it healthy again: until then
    // the fallback keeps routing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while host_for(&router, "Alex").await != "10.0.0.1" {
        assert!(
            Instant::now() < deadline,
            "never recovered\n{}",
            router.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    router.wait_for_log(&["plugin recovered", "pick"]);
}

/// A file in the plugins directory whose name cannot be a plugin's is skipped on
/// its own, with an ERROR naming it: it neither stops start-up nor keeps the
/// other files of the same reload from applying.
#[tokio::test]
async fn a_misnamed_file_is_skipped_on_its_own() {
    let router = Passage::start(PassageSpec {
        config: &config(""),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
            ("Not A Name", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    });
    router.wait_for_log(&[
        "plugin file skipped",
        "Not A Name.wasm",
        "a plugin name uses only",
    ]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.1");
    // In one burst: another misnamed file and a real update.
    std::fs::copy(
        plugin_wasm("player-fill"),
        router.plugins_dir().join("Bad.wasm"),
    )
    .unwrap();
    std::fs::copy(
        plugin_wasm("player-fill"),
        router.plugins_dir().join("pick.wasm"),
    )
    .unwrap();
    router.wait_for_log(&["plugins reloaded", "updated=pick"]);
    router.wait_for_log(&["plugin file skipped", "Bad.wasm"]);
    assert_eq!(host_for(&router, "Alex").await, "10.0.0.2");
}
