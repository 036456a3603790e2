//! Configuration errors reach the operator with the key's name, before anything
//! listens; flags override the file.

use passage_tests::{Passage, PassageSpec, ping, run_to_exit, run_with_env};

fn check_rejected(config: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), config).unwrap();
    let (code, stderr) = run_to_exit(&["--config", "bad.toml"], dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "missing {n:?} in: {stderr}");
    }
}

#[test]
fn unknown_key_is_named() {
    check_rejected(
        "[timeouts]\nhandshake_sec = 5\n",
        &["bad.toml", "handshake_sec"],
    );
}

#[test]
fn wrong_type_is_named() {
    check_rejected(
        "[plugin_runtime]\nmemory_limit_mib = \"lots\"\n",
        &["memory_limit_mib"],
    );
}

#[test]
fn out_of_range_value_is_named_with_its_path() {
    check_rejected(
        "[plugin_runtime]\ncall_timeout_ms = 0\n",
        &["plugin_runtime.call_timeout_ms", "between 1 and 60000"],
    );
}

#[test]
fn missing_config_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_exit(&["--config", "nope.toml"], dir.path());
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

#[tokio::test]
async fn runs_with_no_config_file_at_all() {
    // Only --bind (port 0) and an empty plugins dir: everything else is default.
    let router = Passage::start(PassageSpec {
        config: "",
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    });
    let p = ping(router.addr, 767, "localhost").await.unwrap();
    assert_eq!(
        p.status["description"]["text"],
        "A Minecraft network routed by Passage"
    );
}

#[tokio::test]
async fn environment_overrides_nested_multi_word_keys() {
    // The anchor router documents multi-word variables it never reads; here each
    // kind of key is set only through the environment and observed on the wire.
    let router = Passage::start(PassageSpec {
        config: "[plugins.fixed-status]\nmotd = \"from the file\"\nmax_players = 5\nversion_name = \"x\"\n",
        plugins: vec![("fixed-status", passage_tests::plugin_wasm("fixed-status"))],
        env: vec![
            // A plugin name with a dash, a multi-word key inside it.
            ("PASSAGE_PLUGINS__FIXED_STATUS__MAX_PLAYERS", "777"),
            ("PASSAGE_PLUGINS__FIXED_STATUS__ONLINE_PLAYERS", "12"),
            // Replacing a string, text that looks like a number stays a string.
            ("PASSAGE_PLUGINS__FIXED_STATUS__VERSION_NAME", "1234"),
            // Multi-word table and key.
            ("PASSAGE_TIMEOUTS__HANDSHAKE_MS", "200"),
        ],
        ..Default::default()
    });
    let p = ping(router.addr, 767, "localhost").await.unwrap();
    assert_eq!(p.status["players"]["max"], 777, "{}", p.status);
    assert_eq!(p.status["players"]["online"], 12);
    assert_eq!(p.status["version"]["name"], "1234");
    assert_eq!(p.status["description"]["text"], "from the file");

    // timeouts.handshake_ms = 200: a silent socket is closed long before the
    // default 5 s.
    let mut silent = tokio::net::TcpStream::connect(router.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf),
    )
    .await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
}

#[test]
fn misspelled_environment_variable_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_with_env(
        &[],
        dir.path(),
        &[("PASSAGE_PLUGIN_RUNTIME__CALL_TIMEOUT", "5")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("plugin_runtime.call_timeout (from PASSAGE_PLUGIN_RUNTIME__CALL_TIMEOUT)"),
        "{stderr}"
    );
}

#[test]
fn config_check_reports_every_problem_of_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "bind = \"nowhere\"\n[timeouts]\nlogin_ms = 0\nhandshake_sec = 3\n\
         [proxy_protocol]\nenabled = true\n[limits]\nstatus_per_second = -1\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run_with_env(
        &["config", "check", "broken.toml"],
        dir.path(),
        &[("PASSAGE_AUTH__MODE", "sometimes")],
    );
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    for key in [
        "error: invalid configuration in broken.toml",
        "error: auth.mode (from PASSAGE_AUTH__MODE):",
        "error: bind:",
        "error: timeouts.handshake_sec:",
    ] {
        assert!(stdout.contains(key), "missing {key:?} in:\n{stdout}");
    }

    // With the types fixed, the range and cross-key checks all report at once.
    std::fs::write(
        dir.path().join("ranges.toml"),
        "[timeouts]\nlogin_ms = 0\n[proxy_protocol]\nenabled = true\n[limits]\nstatus_per_second = -1\n",
    )
    .unwrap();
    let (code, stdout, _) = run_with_env(&["config", "check", "ranges.toml"], dir.path(), &[]);
    assert_eq!(code, Some(2));
    for key in [
        "error: timeouts.login_ms:",
        "error: proxy_protocol.trusted_networks:",
        "error: limits.status_per_second:",
    ] {
        assert!(stdout.contains(key), "missing {key:?} in:\n{stdout}");
    }
}

#[test]
fn config_check_follows_routing_and_grants_to_the_plugins_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(
        passage_tests::plugin_wasm("player-fill"),
        dir.path().join("plugins/player-fill.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("routing.toml"),
        "[routing]\nstrategy = \"player-fill\"\nfallback_strategy = \"gone\"\n\
         [routing.hosts]\n\"eu.example.com\" = \"missing\"\n\
         [plugin_runtime.grants.nobody]\nmax_instances = 1\n",
    )
    .unwrap();
    let (code, stdout, _) = run_with_env(&["config", "check", "routing.toml"], dir.path(), &[]);
    assert_eq!(code, Some(2), "{stdout}");
    for line in [
        "error: routing.fallback_strategy: no gone.wasm",
        "error: routing.hosts.\"eu.example.com\": no missing.wasm",
        "warning: plugin_runtime.grants.nobody: no nobody.wasm",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("routing.strategy:"), "{stdout}");
}

#[test]
fn config_check_accepts_the_shipped_example() {
    let root = passage_tests::workspace_root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let example = root.join("config/passage.example.toml");
    let (code, stdout, stderr) = run_with_env(
        &["config", "check", example.to_str().unwrap()],
        dir.path(),
        &[("PASSAGE_LIMITS__MAX_CONNECTIONS", "500")],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("env: PASSAGE_LIMITS__MAX_CONNECTIONS sets limits.max_connections"),
        "{stdout}"
    );
    assert!(stdout.contains("ok:"), "{stdout}");
}

#[test]
fn secret_generate_writes_a_private_file_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        run_with_env(&["secret", "generate", "auth_secret"], dir.path(), &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let path = dir.path().join("auth_secret");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(first.trim().len(), 44, "{first:?}");

    let (code, _, stderr) = run_with_env(&["secret", "generate", "auth_secret"], dir.path(), &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);

    let (code, _, _) = run_with_env(
        &["secret", "generate", "--force", "auth_secret"],
        dir.path(),
        &[],
    );
    assert_eq!(code, Some(0));
    assert_ne!(std::fs::read_to_string(&path).unwrap(), first);
}
