//! Configuration errors reach the operator with the key's name, before anything
//! listens; flags override the file.

use passage_tests::{Router, RouterSpec, ping, run_to_exit};

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
    let router = Router::start(RouterSpec {
        config: "",
        plugins: vec![],
        cache_dir: None,
    });
    let p = ping(router.addr, 767, "localhost").await.unwrap();
    assert_eq!(
        p.status["description"]["text"],
        "A Minecraft network routed by Passage"
    );
}
