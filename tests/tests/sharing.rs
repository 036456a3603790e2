//! Sharing plugins safely, end to end against the real binary: manifests inside
//! components and the schema check of a plugin's table, `inspect`, pinning
//! (`lock`, refusal at start-up and on hot reload), minisign signatures (checked
//! against the real `minisign` tool both ways), push and pull through a real OCI
//! registry (Debian's `docker-registry`), `new` and `simulate`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use passage_tests::client::{LoginParams, login_to_final_packet};
use passage_tests::tools::{Registry, minisign, tool};
use passage_tests::{
    Passage, PassageSpec, nbt_text, parse_transfer, passage_bin, plugin_wasm, run_with_env, skip,
    workspace_root,
};
use sha2::Digest as _;

const SHIPPED: [&str; 6] = [
    "fixed-status",
    "fixed-discovery",
    "player-fill",
    "round-robin",
    "host-groups",
    "http-discovery",
];

/// lobby-1 is what `flaky-strategy` picks (the first), lobby-2 what
/// `player-fill` picks (the fullest with room).
const TARGETS: &str = r#"
[auth]
mode = "offline"
[limits]
login_per_second = 0
[plugins.fixed-discovery]
targets = [
    { id = "lobby-1", host = "10.0.0.1", port = 25565, metadata = { players = 10, max_players = 100 } },
    { id = "lobby-2", host = "10.0.0.2", port = 25565, metadata = { players = 80, max_players = 100 } },
]
"#;

/// Runs `passage ARGS` in `dir`; asserts exit 0 and returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run_with_env(args, dir, &[]);
    assert_eq!(code, Some(0), "passage {args:?} failed:\n{out}\n{err}");
    out
}

/// Runs `passage ARGS` in `dir`; asserts exit 1 and returns stdout + stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run_with_env(args, dir, &[]);
    assert_eq!(code, Some(1), "passage {args:?} should fail:\n{out}\n{err}");
    format!("{out}{err}")
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn copy_plugin(crate_name: &str, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(format!("{name}.wasm"));
    std::fs::copy(plugin_wasm(crate_name), &to).expect("copy plugin");
    to
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The host a login (offline) is transferred to, or the disconnect text.
async fn route(router: &Passage, name: &str) -> Result<String, String> {
    let params = LoginParams::new(767, name, None);
    match login_to_final_packet(router.addr, &params, "en_us").await {
        Ok((0x0B, body, _)) => Ok(parse_transfer(&body).0),
        Ok((0x02, body, _)) => Err(nbt_text(&body)),
        Ok((id, _, _)) => Err(format!("unexpected packet {id:#x}")),
        Err(e) => Err(e.to_string()),
    }
}

// ---- 1. manifests ----

#[test]
fn every_shipped_plugin_carries_a_manifest_with_the_schema_of_its_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in SHIPPED {
        let file = copy_plugin(name, dir.path(), name);
        let out = ok(dir.path(), &["plugin", "manifest", "show", s(&file)]);
        let m: serde_json::Value = serde_json::from_str(&out).expect("manifest JSON");
        assert_eq!(m["name"], name, "{out}");
        assert_eq!(m["contract"], "0.1.0", "{out}");
        assert_eq!(
            m["config_schema"]["additionalProperties"], false,
            "{name}: a schema that refuses unknown keys\n{out}"
        );
        assert!(m["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    for name in [
        "allowlist",
        "maintenance",
        "network-status",
        "wake-on-join",
        "queue",
        "seats",
    ] {
        let file = copy_plugin(name, dir.path(), name);
        let out = ok(dir.path(), &["plugin", "manifest", "show", s(&file)]);
        let m: serde_json::Value = serde_json::from_str(&out).expect("manifest JSON");
        assert_eq!(m["name"], name, "{out}");
        assert_eq!(m["contract"], "0.3.0", "{out}");
        assert_eq!(
            m["config_schema"]["additionalProperties"], false,
            "{name}\n{out}"
        );
        assert!(
            m["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
    // What it asks for: http-discovery wants the host of its `url`.
    let out = ok(
        dir.path(),
        &[
            "plugin",
            "manifest",
            "show",
            s(&dir.path().join("http-discovery.wasm")),
        ],
    );
    assert!(out.contains("\"host_from_config\": \"url\""), "{out}");
}

#[test]
fn the_python_and_javascript_plugins_carry_their_manifests() {
    let root = workspace_root();
    for (name, file, lang) in [
        ("rendezvous-py", "rendezvous_py.wasm", "python"),
        ("weighted-js", "weighted_js.wasm", "js"),
    ] {
        let path = root.join("target/wasm32-wasip2/plugin").join(file);
        if !path.is_file() {
            let why =
                std::fs::read_to_string(root.join(format!("target/toolchains/{lang}.unavailable")))
                    .unwrap_or_else(|_| {
                        format!("{} not built (make lang-plugins)", path.display())
                    });
            return skip(why.trim());
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let out = ok(dir.path(), &["plugin", "manifest", "show", s(&path)]);
        let m: serde_json::Value = serde_json::from_str(&out).expect("manifest JSON");
        assert_eq!(m["name"], name, "{out}");
        assert_eq!(m["config_schema"]["additionalProperties"], false, "{out}");
    }
}

#[test]
fn a_table_the_schema_refuses_stops_the_router_check_and_config_check_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let file = copy_plugin("player-fill", &plugins, "player-fill");
    let config = dir.path().join("passage.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin_runtime]\ndir = \"{}\"\n[plugins.player-fill]\nreserve = -1\nplayers_key = 5\n",
            plugins.display()
        ),
    )
    .expect("write");
    // `plugin check`: refused by the schema (before `configure`), every key named.
    let out = fails(
        dir.path(),
        &["plugin", "check", s(&file), "--config", s(&config)],
    );
    assert!(
        out.contains("does not match the schema in its manifest"),
        "{out}"
    );
    assert!(
        out.contains("plugins.player-fill.reserve: -1 is less than the minimum of 0"),
        "{out}"
    );
    assert!(
        out.contains("plugins.player-fill.players_key: 5 is not of type \"string\""),
        "{out}"
    );
    // `config check`: the same, as errors.
    let (code, out, _) = run_with_env(
        &["config", "check", s(&config), "--no-env"],
        dir.path(),
        &[],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("error: plugins.player-fill.reserve:"), "{out}");
    // The router refuses to start, naming it.
    let router = Passage::try_start(PassageSpec {
        config: "[plugins.player-fill]\nreserve = -1\n",
        plugins: vec![("player-fill", plugin_wasm("player-fill"))],
        ..Default::default()
    });
    let (log, _) = router.err().expect("the router must refuse the table");
    assert!(log.contains("plugins.player-fill.reserve"), "{log}");
    // A good table passes everywhere.
    std::fs::write(
        &config,
        format!(
            "[plugin_runtime]\ndir = \"{}\"\n[plugins.player-fill]\nreserve = 2\n",
            plugins.display()
        ),
    )
    .expect("write");
    ok(
        dir.path(),
        &["plugin", "check", s(&file), "--config", s(&config)],
    );
    let (code, out, _) = run_with_env(
        &["config", "check", s(&config), "--no-env"],
        dir.path(),
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_component_without_a_manifest_loads_with_a_warning_and_inspect_says_so() {
    let router = Passage::start(PassageSpec {
        config: TARGETS,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    });
    router.wait_for_log(&["WARN", "pick", "carries no passage-manifest"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = copy_plugin("flaky-strategy", dir.path(), "pick");
    let out = ok(dir.path(), &["plugin", "inspect", s(&file)]);
    assert!(out.contains("manifest:     MISSING"), "{out}");
    assert!(
        out.contains("exports:      passage:plugin/strategy@0.1.0"),
        "{out}"
    );
}

#[test]
fn manifest_set_writes_a_manifest_the_router_then_enforces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = copy_plugin("flaky-strategy", dir.path(), "pick");
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        r#"{"name": "pick", "version": "2.0.0", "description": "picks the first",
            "config_schema": {"type": "object", "additionalProperties": false,
                              "properties": {"mode": {"enum": ["first", "last"]}}}}"#,
    )
    .expect("write");
    ok(
        dir.path(),
        &[
            "plugin",
            "manifest",
            "set",
            s(&file),
            "--from",
            s(&manifest),
        ],
    );
    // Twice: replaced, not added.
    ok(
        dir.path(),
        &[
            "plugin",
            "manifest",
            "set",
            s(&file),
            "--from",
            s(&manifest),
        ],
    );
    let out = ok(dir.path(), &["plugin", "inspect", s(&file)]);
    assert!(
        out.contains("manifest:     pick 2.0.0: picks the first"),
        "{out}"
    );
    // Still a component wasmtime loads, and its schema now judges the table.
    ok(dir.path(), &["plugin", "check", s(&file)]);
    std::fs::write(
        dir.path().join("c.toml"),
        "[plugins.pick]\nmode = \"middle\"\n",
    )
    .expect("write");
    let out = fails(
        dir.path(),
        &["plugin", "check", s(&file), "--config", "c.toml"],
    );
    assert!(out.contains("plugins.pick.mode:"), "{out}");
    // A broken manifest is refused, the file left as it was.
    let before = sha256_of(&file);
    std::fs::write(&manifest, r#"{"name": "pick"}"#).expect("write");
    let out = fails(
        dir.path(),
        &[
            "plugin",
            "manifest",
            "set",
            s(&file),
            "--from",
            s(&manifest),
        ],
    );
    assert!(out.contains("missing field `version`"), "{out}");
    assert_eq!(sha256_of(&file), before);
}

// ---- 2. inspect and grant lines ----

#[test]
fn inspect_shows_exactly_the_grant_lines_an_operator_must_add() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = copy_plugin("http-discovery", dir.path(), "http-discovery");
    let digest = sha256_of(&file);
    let config = dir.path().join("passage.toml");
    let table = "[plugins.http-discovery]\nurl = \"http://127.0.0.1:8080/targets\"\n";
    std::fs::write(&config, table).expect("write");
    let out = ok(
        dir.path(),
        &["plugin", "inspect", s(&file), "--config", s(&config)],
    );
    assert!(out.contains(&format!("sha256:       {digest}")), "{out}");
    assert!(
        out.contains("http 127.0.0.1:8080: NOT GRANTED (reason: fetches the target list"),
        "{out}"
    );
    assert!(
        out.contains("imports:") && out.contains("wasi:http/outgoing-handler"),
        "{out}"
    );
    let expected = format!(
        "[plugin_runtime.grants.http-discovery]\nsha256 = \"{digest}\"\nhttp_allow = [\"127.0.0.1:8080\"]\n"
    );
    let lines = out
        .split("grant lines to add:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no grant lines:\n{out}"));
    assert_eq!(lines, expected, "{out}");
    // Adding exactly those lines grants everything it asks for.
    std::fs::write(&config, format!("{table}{lines}")).expect("write");
    let out = ok(
        dir.path(),
        &["plugin", "inspect", s(&file), "--config", s(&config)],
    );
    assert!(out.contains("http 127.0.0.1:8080: granted"), "{out}");
    assert!(
        out.contains("pin:          matches plugin_runtime.grants.http-discovery.sha256"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "grant lines to add:\nnone: the configuration already grants what it asks for\n"
        ),
        "{out}"
    );
    let out = ok(
        dir.path(),
        &["plugin", "check", s(&file), "--config", s(&config)],
    );
    assert!(out.contains("http:      127.0.0.1:8080"), "{out}");
    assert!(!out.contains("note:"), "{out}");
}

/// A key-value bucket is asked for and granted like a host: `seats` names its
/// bucket, inspect gives the `keyvalue` line, and with it the bucket is granted.
#[test]
fn inspect_gives_the_keyvalue_grant_a_plugin_asks_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = copy_plugin("seats", dir.path(), "seats");
    let digest = sha256_of(&file);
    let config = dir.path().join("passage.toml");
    std::fs::write(&config, "").expect("write");
    let out = ok(
        dir.path(),
        &["plugin", "inspect", s(&file), "--config", s(&config)],
    );
    assert!(
        out.contains("keyvalue bucket `seats`: NOT GRANTED (reason: counts the seats"),
        "{out}"
    );
    let lines = out
        .split("grant lines to add:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no grant lines:\n{out}"));
    assert_eq!(
        lines,
        format!("[plugin_runtime.grants.seats]\nsha256 = \"{digest}\"\nkeyvalue = [\"seats\"]\n"),
        "{out}"
    );
    std::fs::write(&config, lines).expect("write");
    let out = ok(
        dir.path(),
        &["plugin", "inspect", s(&file), "--config", s(&config)],
    );
    assert!(out.contains("keyvalue bucket `seats`: granted"), "{out}");
    assert!(
        out.ends_with(
            "grant lines to add:\nnone: the configuration already grants what it asks for\n"
        ),
        "{out}"
    );
}

// ---- 3. pinning ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_plugin_is_refused_when_its_file_differs_at_start_up_and_on_hot_reload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    copy_plugin("fixed-discovery", &plugins, "fixed-discovery");
    let pick = copy_plugin("flaky-strategy", &plugins, "pick");
    let good = sha256_of(&pick);
    let config = dir.path().join("passage.toml");
    let wrong = "0".repeat(64);

    // A wrong pin: start-up stops, naming both digests.
    std::fs::write(
        &config,
        format!(
            "# operators' notes stay\n[plugin_runtime.grants.pick]\nsha256 = \"{wrong}\"\n{TARGETS}"
        ),
    )
    .expect("write");
    let refused = Passage::try_start(PassageSpec {
        config_file: Some(config.clone()),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    });
    let (log, _) = refused.err().expect("a wrong pin must stop start-up");
    assert!(
        log.contains(&format!("expects {wrong}, the file's SHA-256 is {good}")),
        "{log}"
    );

    // `plugin lock` writes the right pins, keeping the comments.
    let out = ok(
        dir.path(),
        &[
            "plugin",
            "lock",
            "--config",
            s(&config),
            "--plugins-dir",
            s(&plugins),
        ],
    );
    assert!(
        out.contains(&format!("pick: pin changed from {wrong} to {good}")),
        "{out}"
    );
    assert!(out.contains("fixed-discovery: pinned to"), "{out}");
    let text = std::fs::read_to_string(&config).expect("read");
    assert!(text.contains("# operators' notes stay"), "{text}");

    let router = Passage::start(PassageSpec {
        config_file: Some(config.clone()),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    });
    assert_eq!(route(&router, "Alex").await, Ok("10.0.0.1".to_owned()));

    // A swapped file (another build under the same name) is refused on hot
    // reload with an ERROR naming both digests; the pinned build keeps serving.
    let swapped = plugin_wasm("player-fill");
    let swapped_digest = sha256_of(&swapped);
    std::fs::copy(&swapped, router.plugins_dir().join("pick.wasm")).expect("swap");
    let line = router.wait_for_log(&["ERROR", "new plugin file refused", "pick"]);
    assert!(
        line.contains(&format!(
            "expects {good}, the file's SHA-256 is {swapped_digest}"
        )),
        "{line}"
    );
    assert!(
        line.contains("its previous version keeps serving"),
        "{line}"
    );
    assert_eq!(route(&router, "Steve").await, Ok("10.0.0.1".to_owned()));

    // The operator adopts the new build: lock again, the config reload applies it.
    ok(
        dir.path(),
        &[
            "plugin",
            "lock",
            "--config",
            s(&config),
            "--plugins-dir",
            s(&router.plugins_dir()),
        ],
    );
    router.wait_for_log(&["plugins reloaded", "updated=pick"]);
    assert_eq!(route(&router, "Steve").await, Ok("10.0.0.2".to_owned()));
}

// ---- 4. signatures, against the minisign tool ----

/// `minisign -G -W`: a key pair made by the tool, without a password; the
/// public key's base64 line.
fn tool_keypair(dir: &Path, name: &str) -> String {
    let (code, out, err) = minisign(
        &[
            "-G",
            "-W",
            "-p",
            &format!("{name}.pub"),
            "-s",
            &format!("{name}.key"),
        ],
        dir,
    );
    assert_eq!(code, Some(0), "minisign -G: {out}{err}");
    public_line(&dir.join(format!("{name}.pub")))
}

fn public_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("read .pub")
        .lines()
        .nth(1)
        .expect("key line")
        .trim()
        .to_owned()
}

fn policy(dir: &Path, policy: &str, keys: &[&str]) -> PathBuf {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    let path = dir.join(format!("{policy}.toml"));
    std::fs::write(
        &path,
        format!(
            "[plugin_runtime]\nsignatures = \"{policy}\"\ntrusted_keys = [{}]\n",
            keys.join(", ")
        ),
    )
    .expect("write");
    path
}

#[test]
fn signatures_made_by_the_minisign_tool_are_checked_under_each_policy() {
    if let Err(why) = tool("minisign") {
        return skip(&why);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let key = tool_keypair(d, "tool");
    let file = copy_plugin("round-robin", d, "pick");
    let (code, out, err) = minisign(&["-S", "-s", "tool.key", "-m", "pick.wasm"], d);
    assert_eq!(code, Some(0), "minisign -S: {out}{err}");
    let require = policy(d, "require", &[&key]);
    let warn = policy(d, "warn", &[&key]);

    let out = ok(d, &["plugin", "check", s(&file), "--config", s(&require)]);
    assert!(out.contains("ok:"), "{out}");
    assert!(out.contains("signature: verified, key"), "{out}");
    assert!(
        out.contains("manifest:  round-robin 0.1.0, its table checked against its schema"),
        "{out}"
    );
    let out = ok(d, &["plugin", "inspect", s(&file), "--config", s(&require)]);
    assert!(out.contains("signature:    verified, key"), "{out}");
    assert!(out.contains("file:pick.wasm"), "{out}");

    // The file changed after signing (a valid component still): refused under
    // both policies.
    let manifest = d.join("m.json");
    std::fs::write(&manifest, r#"{"name":"pick","version":"6.6.6"}"#).expect("write");
    let tampered = d.join("tampered.wasm");
    ok(
        d,
        &[
            "plugin",
            "manifest",
            "set",
            s(&file),
            "--from",
            s(&manifest),
            "--output",
            s(&tampered),
        ],
    );
    std::fs::copy(d.join("pick.wasm.minisig"), d.join("tampered.wasm.minisig")).expect("copy");
    for config in [&require, &warn] {
        let out = fails(d, &["plugin", "check", s(&tampered), "--config", s(config)]);
        assert!(out.contains("does not match this file"), "{out}");
    }
    // Legacy (non-prehashed) signatures are refused.
    let (code, _, err) = minisign(&["-S", "-l", "-s", "tool.key", "-m", "tampered.wasm"], d);
    assert_eq!(code, Some(0), "{err}");
    let out = fails(d, &["plugin", "check", s(&tampered), "--config", s(&warn)]);
    assert!(out.contains("legacy"), "{out}");

    // Unsigned: refused under require, loaded with a WARN under warn.
    std::fs::remove_file(d.join("tampered.wasm.minisig")).expect("rm");
    let out = fails(
        d,
        &["plugin", "check", s(&tampered), "--config", s(&require)],
    );
    assert!(
        out.contains("signatures = \"require\" and it is unsigned"),
        "{out}"
    );
    let (code, out, err) = run_with_env(
        &["plugin", "check", s(&tampered), "--config", s(&warn)],
        d,
        &[],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("WARN") && err.contains("unsigned"), "{err}");

    // Signed by a key that is not trusted: the same.
    let other = tool_keypair(d, "other");
    let only_other = policy(d, "require", &[&other]);
    let out = fails(
        d,
        &["plugin", "check", s(&file), "--config", s(&only_other)],
    );
    assert!(out.contains("not in plugin_runtime.trusted_keys"), "{out}");

    // The router applies the policy at start-up too.
    let refused = Passage::try_start(PassageSpec {
        config: &format!(
            "[plugin_runtime]\nsignatures = \"require\"\ntrusted_keys = [\"{key}\"]\n"
        ),
        plugins: vec![("pick", plugin_wasm("round-robin"))],
        ..Default::default()
    });
    let (log, _) = refused.err().expect("an unsigned plugin under require");
    assert!(
        log.contains("signatures = \"require\" and it is unsigned"),
        "{log}"
    );
}

/// Under `require`, a plugin copied in without its signature is refused; the
/// signature copied in after it (a `.minisig` alone changes) loads it, without
/// a SIGHUP; a signature that does not match its file unloads nothing that
/// serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_copied_in_after_its_plugin_loads_it_on_hot_reload() {
    if let Err(why) = tool("minisign") {
        return skip(&why);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let key = tool_keypair(d, "tool");
    for (crate_name, name) in [
        ("fixed-discovery", "fixed-discovery"),
        ("round-robin", "pick"),
        ("player-fill", "later"),
    ] {
        copy_plugin(crate_name, d, name);
        let (code, out, err) =
            minisign(&["-S", "-s", "tool.key", "-m", &format!("{name}.wasm")], d);
        assert_eq!(code, Some(0), "minisign -S: {out}{err}");
    }
    let config = format!(
        "[plugin_runtime]\nsignatures = \"require\"\ntrusted_keys = [\"{key}\"]\n\
         [plugin_runtime.grants.pick]\nsha256 = \"{}\"\n\
         [routing]\nstrategy = \"pick\"\n{TARGETS}",
        sha256_of(&d.join("pick.wasm"))
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", d.join("fixed-discovery.wasm")),
            ("pick", d.join("pick.wasm")),
        ],
        files: vec![
            (
                "fixed-discovery.wasm.minisig",
                d.join("fixed-discovery.wasm.minisig"),
            ),
            ("pick.wasm.minisig", d.join("pick.wasm.minisig")),
        ],
        ..Default::default()
    });
    let plugins = router.plugins_dir();
    std::fs::copy(d.join("later.wasm"), plugins.join("later.wasm")).expect("copy");
    let line = router.wait_for_log(&["new plugin file refused", "later"]);
    assert!(line.contains("and it is unsigned"), "{line}");
    std::fs::copy(
        d.join("later.wasm.minisig"),
        plugins.join("later.wasm.minisig"),
    )
    .expect("copy");
    router.wait_for_log(&["plugins reloaded", "added=later"]);
    assert_eq!(route(&router, "Steve").await.map(|_| ()), Ok(()));
    // `passage plugins` shows what was checked: signatures, the pin.
    let admin = router.metrics_addr().to_string();
    let (code, json, err) = run_with_env(&["plugins", "--admin", &admin, "--json"], d, &[]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let adoption = |name: &str| {
        v["plugins"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["adoption"].clone())
            .unwrap_or_else(|| panic!("{name} not listed: {json}"))
    };
    for name in ["fixed-discovery", "pick", "later"] {
        let a = adoption(name);
        assert_eq!(a["signature"]["state"], "verified", "{name}: {a}");
        assert_eq!(
            a["signature"]["key_id"].as_str().map(str::len),
            Some(16),
            "{a}"
        );
        assert_eq!(a["pinned"], name == "pick", "{name}: {a}");
    }
    let (code, out, err) = run_with_env(&["plugins", "--admin", &admin], d, &[]);
    assert_eq!(code, Some(0), "{err}");
    let pick = out
        .lines()
        .find(|l| l.starts_with("pick "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(pick.contains(",pinned"), "{out}");
    assert!(pick.contains("verified:"), "{out}");
}

#[test]
fn signatures_made_by_passage_verify_with_the_minisign_tool() {
    if let Err(why) = tool("minisign") {
        return skip(&why);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let out = ok(d, &["plugin", "keygen", "--output", "author"]);
    let line = public_line(&d.join("author.pub"));
    assert!(
        out.contains(&format!("trusted_keys = [\"{line}\"]")),
        "{out}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("author.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    fails(d, &["plugin", "keygen", "--output", "author"]);
    copy_plugin("round-robin", d, "pick");
    ok(d, &["plugin", "sign", "pick.wasm", "--key", "author.key"]);
    // The tool verifies it, requiring the prehashed form (-H).
    for args in [
        vec!["-Vm", "pick.wasm", "-p", "author.pub"],
        vec!["-H", "-Vm", "pick.wasm", "-P", line.as_str()],
    ] {
        let (code, out, err) = minisign(&args, d);
        assert_eq!(code, Some(0), "minisign {args:?}: {out}{err}");
        assert!(
            out.contains("Signature and comment signature verified"),
            "{out}"
        );
    }
    // A tool-made key (-W: no password) signs through passage too.
    tool_keypair(d, "tool");
    ok(d, &["plugin", "sign", "pick.wasm", "--key", "tool.key"]);
    let (code, out, err) = minisign(&["-Vm", "pick.wasm", "-p", "tool.pub"], d);
    assert_eq!(code, Some(0), "{out}{err}");
    // And the tool refuses a file changed after passage signed it.
    std::fs::write(d.join("pick.wasm"), b"\0asm\x0d\0\x01\0").expect("write");
    let (code, _, _) = minisign(&["-Vm", "pick.wasm", "-p", "tool.pub"], d);
    assert_ne!(code, Some(0));
}

// ---- 5. OCI ----

/// `GET /v2/<repo>/manifests/<tag>` as an OCI manifest, straight from the registry.
fn registry_manifest(registry: &Registry, repo: &str, tag: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&registry.host).expect("connect");
    write!(
        stream,
        "GET /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n",
        registry.host
    )
    .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let body = raw.split_once("\r\n\r\n").expect("headers").1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

#[test]
fn push_and_pull_through_a_real_registry_check_digests_and_signatures() {
    let registry = match Registry::start() {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["plugin", "keygen", "--output", "author"]);
    let key = public_line(&d.join("author.pub"));
    let file = copy_plugin("round-robin", d, "round-robin");
    ok(d, &["plugin", "sign", s(&file), "--key", "author.key"]);
    let reference = format!("{}/passage/round-robin:0.1.0", registry.host);
    let out = ok(d, &["plugin", "push", s(&file), &reference]);
    assert!(out.contains("signed"), "{out}");

    // What the registry holds is the wasm OCI artifact layout.
    let m = registry_manifest(&registry, "passage/round-robin", "0.1.0");
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(1), "{m}");
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        m["layers"][0]["digest"],
        format!("sha256:{}", sha256_of(&file))
    );
    assert_eq!(
        m["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "round-robin.wasm"
    );
    assert_eq!(
        m["annotations"]["org.opencontainers.image.version"],
        "0.1.0"
    );
    assert!(
        m["annotations"]["dev.passage.plugin.signature"]
            .as_str()
            .is_some_and(|s| s.contains("trusted comment:"))
    );

    // Another machine: its own directory, trusting the author's key, requiring it.
    let other = d.join("other");
    let plugins = other.join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    let config = other.join("passage.toml");
    std::fs::write(
        &config,
        format!("[plugin_runtime]\ndir = \"{}\"\nsignatures = \"require\"\ntrusted_keys = [\"{key}\"]\n", plugins.display()),
    )
    .expect("write");
    let started = Instant::now();
    let out = ok(
        &other,
        &["plugin", "pull", &reference, "--config", s(&config)],
    );
    eprintln!(
        "pull of {} bytes took {:?}",
        std::fs::metadata(&file).expect("meta").len(),
        started.elapsed()
    );
    assert!(out.contains("signature: verified"), "{out}");
    assert_eq!(
        sha256_of(&plugins.join("round-robin.wasm")),
        sha256_of(&file)
    );
    assert!(plugins.join("round-robin.wasm.minisig").is_file());
    assert!(
        out.contains("[plugin_runtime.grants.round-robin]\nsha256 = "),
        "{out}"
    );
    // Inspecting the reference reads it from the registry, signature included.
    let out = ok(
        &other,
        &["plugin", "inspect", &reference, "--config", s(&config)],
    );
    assert!(out.contains("manifest:     round-robin 0.1.0"), "{out}");
    assert!(out.contains("signature:    verified"), "{out}");

    // Nothing is written when a check fails.
    let empty = other.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let stranger = {
        ok(d, &["plugin", "keygen", "--output", "stranger"]);
        public_line(&d.join("stranger.pub"))
    };
    let strict_other = other.join("stranger.toml");
    std::fs::write(
        &strict_other,
        format!("[plugin_runtime]\nsignatures = \"require\"\ntrusted_keys = [\"{stranger}\"]\n"),
    )
    .expect("write");
    let out = fails(
        &other,
        &[
            "plugin",
            "pull",
            &reference,
            "--config",
            s(&strict_other),
            "--plugins-dir",
            s(&empty),
        ],
    );
    assert!(out.contains("not in plugin_runtime.trusted_keys"), "{out}");
    let pinned = other.join("pinned.toml");
    std::fs::write(
        &pinned,
        format!(
            "[plugin_runtime.grants.round-robin]\nsha256 = \"{}\"\n",
            "1".repeat(64)
        ),
    )
    .expect("write");
    let out = fails(
        &other,
        &[
            "plugin",
            "pull",
            &reference,
            "--config",
            s(&pinned),
            "--plugins-dir",
            s(&empty),
        ],
    );
    assert!(out.contains("is not the pinned build"), "{out}");
    // A signature of other bytes travelling with the artifact.
    let liar = copy_plugin("player-fill", d, "liar");
    std::fs::copy(
        d.join("round-robin.wasm.minisig"),
        d.join("liar.wasm.minisig"),
    )
    .expect("copy");
    let liar_ref = format!("{}/passage/liar:1", registry.host);
    ok(d, &["plugin", "push", s(&liar), &liar_ref]);
    let out = fails(
        &other,
        &[
            "plugin",
            "pull",
            &liar_ref,
            "--config",
            s(&config),
            "--plugins-dir",
            s(&empty),
        ],
    );
    assert!(out.contains("does not match this file"), "{out}");
    // A missing tag, a registry-less name.
    let out = fails(
        &other,
        &[
            "plugin",
            "pull",
            &format!("{}/passage/nothing:1", registry.host),
            "--plugins-dir",
            s(&empty),
        ],
    );
    assert!(out.contains("404"), "{out}");
    let out = fails(
        &other,
        &[
            "plugin",
            "pull",
            "acme/round-robin:1",
            "--plugins-dir",
            s(&empty),
        ],
    );
    assert!(out.contains("not a registry host"), "{out}");
    assert_eq!(
        std::fs::read_dir(&empty).expect("list").count(),
        0,
        "files left behind"
    );
}

#[test]
fn a_registry_that_wants_a_login_gets_the_credentials_from_the_environment() {
    let registry = match Registry::start_with_login("alice", "s3cret") {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let file = copy_plugin("round-robin", d, "round-robin");
    let reference = format!("{}/private/round-robin:1", registry.host);
    let push = ["plugin", "push", s(&file), reference.as_str()];
    // No credentials: said what to set.
    let (code, out, err) = run_with_env(&push, d, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("set PASSAGE_REGISTRY_USERNAME and PASSAGE_REGISTRY_PASSWORD"),
        "{err}"
    );
    // Wrong password: the registry's refusal.
    let wrong = [
        ("PASSAGE_REGISTRY_USERNAME", "alice"),
        ("PASSAGE_REGISTRY_PASSWORD", "nope"),
    ];
    let (code, out, err) = run_with_env(&push, d, &wrong);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("401"), "{err}");
    // The right ones: pushed and pulled.
    let right = [
        ("PASSAGE_REGISTRY_USERNAME", "alice"),
        ("PASSAGE_REGISTRY_PASSWORD", "s3cret"),
    ];
    let (code, out, err) = run_with_env(&push, d, &right);
    assert_eq!(code, Some(0), "{out}{err}");
    let plugins = d.join("plugins");
    let pull = [
        "plugin",
        "pull",
        reference.as_str(),
        "--plugins-dir",
        s(&plugins),
    ];
    let (code, out, err) = run_with_env(&pull, d, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    let (code, out, err) = run_with_env(&pull, d, &right);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        sha256_of(&plugins.join("round-robin.wasm")),
        sha256_of(&file)
    );
}

#[test]
fn a_running_router_hot_loads_a_pulled_plugin_and_pulls_missing_ones_at_start() {
    let registry = match Registry::start() {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let file = copy_plugin("player-fill", d, "player-fill");
    let reference = format!("{}/passage/player-fill:1", registry.host);
    ok(d, &["plugin", "push", s(&file), &reference]);

    let router = Passage::start(PassageSpec {
        config: TARGETS,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    });
    let out = ok(
        d,
        &[
            "plugin",
            "pull",
            &reference,
            "--name",
            "pick",
            "--plugins-dir",
            s(&router.plugins_dir()),
        ],
    );
    assert!(out.contains("signature: unsigned"), "{out}");
    let line = router.wait_for_log(&["plugins reloaded"]);
    assert!(
        line.contains("updated=pick") && line.contains("refused=0"),
        "{line}"
    );
    assert!(
        !router.log().contains("plugin file refused"),
        "{}",
        router.log()
    );

    // `[plugin_runtime.pull]`: a plugin named by reference and missing is
    // fetched before the router loads its plugins.
    let router = Passage::start(PassageSpec {
        config: &format!("[plugin_runtime.pull]\npick = \"{reference}\"\n{TARGETS}"),
        plugins: vec![("fixed-discovery", plugin_wasm("fixed-discovery"))],
        ..Default::default()
    });
    router.wait_for_log(&["plugin pulled", "pick"]);
    assert_eq!(
        sha256_of(&router.plugins_dir().join("pick.wasm")),
        sha256_of(&file)
    );
}

// ---- 6. new and simulate ----

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Builds a scaffolded Rust plugin for wasm32-wasip2 with the workspace's
/// locked dependency versions (offline: they are all in the cargo cache);
/// the component.
fn build_rust_plugin(dir: &Path, crate_name: &str) -> PathBuf {
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock");
    let target = workspace_root().join("target/tmp/scaffold-target");
    let out = std::process::Command::new(cargo())
        .args([
            "build",
            "--release",
            "--offline",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build of the scaffold failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join(format!("wasm32-wasip2/release/{crate_name}.wasm"))
}

/// `passage plugin new NAME --lang rust --role ROLE` in a folder under
/// target/tmp, built; the folder and `NAME.wasm` in it.
fn scaffold_rust(name: &str, role: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = workspace_root().join("target/tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    let dir = tempfile::tempdir_in(&tmp).expect("temp dir");
    let sdk = workspace_root().join("sdk");
    let out = ok(
        dir.path(),
        &[
            "plugin",
            "new",
            name,
            "--lang",
            "rust",
            "--role",
            role,
            "--sdk",
            s(&sdk),
        ],
    );
    assert!(out.contains(&format!("created {name}")), "{out}");
    let built = build_rust_plugin(&dir.path().join(name), &name.replace('-', "_"));
    let file = dir.path().join(format!("{name}.wasm"));
    std::fs::copy(&built, &file).expect("copy");
    (dir, file)
}

#[test]
fn plugin_new_scaffolds_a_rust_plugin_that_builds_and_passes_check() {
    let (dir, file) = scaffold_rust("my-strategy", "strategy");
    let out = ok(dir.path(), &["plugin", "check", s(&file)]);
    assert!(out.contains("roles:     strategy"), "{out}");
    let out = ok(dir.path(), &["plugin", "inspect", s(&file)]);
    assert!(out.contains("manifest:     my-strategy 0.1.0"), "{out}");
    assert!(
        out.contains("config:     a JSON Schema of its table"),
        "{out}"
    );
    std::fs::write(
        dir.path().join("c.toml"),
        "[plugins.my-strategy]\nplayers_kee = \"p\"\n",
    )
    .expect("write");
    let out = fails(
        dir.path(),
        &["plugin", "check", s(&file), "--config", "c.toml"],
    );
    assert!(out.contains("players_kee"), "{out}");
    // It routes: the emptiest target of a file wins every time.
    let targets = dir.path().join("targets.json");
    std::fs::write(
        &targets,
        r#"[{"id":"full","host":"10.0.0.1","metadata":{"players":90}},{"id":"empty","host":"10.0.0.2","metadata":{"players":1}}]"#,
    )
    .expect("write");
    let out = ok(
        dir.path(),
        &[
            "plugin",
            "simulate",
            s(&file),
            "--players",
            "20",
            "--targets-file",
            s(&targets),
        ],
    );
    assert!(out.contains("  empty        20  100.0%"), "{out}");
    // Not twice into the same place.
    let out = fails(dir.path(), &["plugin", "new", "my-strategy"]);
    assert!(out.contains("exists and is not empty"), "{out}");
}

/// `--role admission`: a contract 0.3.0 plugin that builds, passes check, and
/// keeps the players its table lists out of a real router with its message.
#[tokio::test]
async fn plugin_new_scaffolds_a_rust_admission_plugin_that_keeps_players_out() {
    let (dir, built) = scaffold_rust("my-gate", "admission");
    let out = ok(dir.path(), &["plugin", "inspect", s(&built)]);
    assert!(out.contains("manifest:     my-gate 0.1.0"), "{out}");
    assert!(out.contains("contract    0.3.0"), "{out}");
    std::fs::write(
        dir.path().join("c.toml"),
        "[plugins.my-gate]\ndenny = [\"x\"]\n",
    )
    .expect("write");
    let out = fails(
        dir.path(),
        &["plugin", "check", s(&built), "--config", "c.toml"],
    );
    assert!(out.contains("denny"), "{out}");

    let router = Passage::start(PassageSpec {
        config: &format!("[plugins.my-gate]\ndeny = [\"Griefer\"]\n{TARGETS}"),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
            ("my-gate", built),
        ],
        ..Default::default()
    });
    assert_eq!(
        route(&router, "Griefer").await,
        Err("You may not join this network.".to_owned())
    );
    assert!(route(&router, "Steve").await.is_ok());
}

/// Scaffolds a Python or JavaScript plugin and, when the toolchain `make
/// lang-plugins` installs is there, builds it with its build.sh and checks it.
fn scaffold_and_build(
    lang: &str,
    role: &str,
    marker: &str,
    env: Vec<(&str, String)>,
    tool_path: PathBuf,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = ok(
        dir.path(),
        &["plugin", "new", "my-plugin", "--lang", lang, "--role", role],
    );
    let plugin = dir.path().join("my-plugin");
    for f in ["manifest.json", "build.sh", "wit/plugin.wit", "README.md"] {
        assert!(plugin.join(f).is_file(), "{f} missing: {out}");
    }
    if !tool_path.is_file() {
        let why = std::fs::read_to_string(
            workspace_root().join(format!("target/toolchains/{marker}.unavailable")),
        )
        .unwrap_or_else(|_| format!("{} not installed (make lang-plugins)", tool_path.display()));
        return skip(why.trim());
    }
    let built = std::process::Command::new(plugin.join("build.sh"))
        .envs(env)
        .env("PASSAGE", passage_bin())
        .output()
        .expect("run build.sh");
    assert!(
        built.status.success(),
        "build.sh failed:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    let file = plugin.join("my-plugin.wasm");
    let cache = workspace_root().join("target/tmp/languages-cache");
    let cache = cache.to_str().expect("UTF-8");
    let (code, out, err) = run_with_env(
        &["plugin", "check", s(&file)],
        dir.path(),
        &[("XDG_CACHE_HOME", cache)],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("roles:     {role}")), "{out}");
    let out = ok(dir.path(), &["plugin", "inspect", s(&file)]);
    assert!(out.contains("manifest:     my-plugin 0.1.0"), "{out}");
    let contract = if role == "admission" {
        "0.3.0"
    } else {
        "0.1.0"
    };
    assert!(out.contains(&format!("contract    {contract}")), "{out}");
}

#[test]
fn plugin_new_scaffolds_a_python_plugin_that_builds() {
    let py = workspace_root().join("target/toolchains/python/bin/componentize-py");
    for role in ["strategy", "admission"] {
        scaffold_and_build(
            "python",
            role,
            "python",
            vec![("COMPONENTIZE_PY", py.display().to_string())],
            py.clone(),
        );
    }
}

#[test]
fn plugin_new_scaffolds_a_javascript_plugin_that_builds() {
    let cli = workspace_root()
        .join("target/toolchains/js/node_modules/@bytecodealliance/componentize-js/src/cli.js");
    for role in ["strategy", "admission"] {
        scaffold_and_build(
            "javascript",
            role,
            "js",
            vec![("COMPONENTIZE_JS", format!("node {}", cli.display()))],
            cli.clone(),
        );
    }
}

#[test]
fn simulate_prints_what_a_strategy_chose_how_often_and_how_fast() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let rr = copy_plugin("round-robin", d, "round-robin");
    let out = ok(
        d,
        &[
            "plugin",
            "simulate",
            s(&rr),
            "--players",
            "30",
            "--targets",
            "3",
        ],
    );
    for id in ["target-1", "target-2", "target-3"] {
        assert!(out.contains(&format!("  {id}       10   33.3%")), "{out}");
    }
    assert!(out.contains("latency:   min "), "{out}");
    assert!(out.contains("(30 calls;"), "{out}");

    // From a file: player-fill sends everyone to the fullest target with room.
    let targets = d.join("targets.json");
    std::fs::write(
        &targets,
        r#"{"targets": [
            {"id": "a", "host": "10.0.0.1", "metadata": {"players": 10, "max_players": 100}},
            {"id": "b", "host": "10.0.0.2", "metadata": {"players": 80, "max_players": 100}},
            {"id": "c", "host": "10.0.0.3", "metadata": {"players": 100, "max_players": 100}}
        ]}"#,
    )
    .expect("write");
    let pf = copy_plugin("player-fill", d, "player-fill");
    let out = ok(
        d,
        &[
            "plugin",
            "simulate",
            s(&pf),
            "--players",
            "25",
            "--targets-file",
            s(&targets),
        ],
    );
    assert!(out.contains("  b            25  100.0%"), "{out}");

    // A router: its own targets, reservations counted; full means none.
    let config = d.join("c.toml");
    std::fs::write(
        &config,
        "[plugins.router]\ntargets = [{ id = \"lobby-1\", host = \"10.0.0.1\", port = 25565, slots = 2 }]\n",
    )
    .expect("write");
    let router = copy_plugin("reserving-router", d, "router");
    let out = ok(
        d,
        &[
            "plugin",
            "simulate",
            s(&router),
            "--players",
            "5",
            "--config",
            s(&config),
        ],
    );
    assert!(out.contains("  lobby-1        2   40.0%"), "{out}");
    assert!(out.contains("  (none)         3   60.0%"), "{out}");
    assert!(out.contains("reserved:  2"), "{out}");

    // A placement router on the targets discovery would give it (seats without
    // `backends`): the file's targets through network.targets(), seats counted
    // in a granted bucket of the embedded store.
    let config = d.join("seats.toml");
    std::fs::write(
        &config,
        "[plugin_runtime.grants.seats]\nkeyvalue = [\"seats\"]\n\
         [plugins.seats]\nwhen_full = \"reject\"\ndefault_capacity = 5\n",
    )
    .expect("write");
    let seats = copy_plugin("seats", d, "seats");
    let out = ok(
        d,
        &[
            "plugin",
            "simulate",
            s(&seats),
            "--players",
            "25",
            "--targets-file",
            s(&targets),
            "--config",
            s(&config),
        ],
    );
    for line in [
        "  a             5   20.0%",
        "  b             5   20.0%",
        "  c             5   20.0%",
        "  (none)       10   40.0%",
        "of which: 10 refused with a reason",
        "reserved:  15",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }

    // Not a strategy: said so.
    let status = copy_plugin("fixed-status", d, "fixed-status");
    let out = fails(d, &["plugin", "simulate", s(&status)]);
    assert!(out.contains("neither a strategy nor a router"), "{out}");
}

// ---- 7. the whole path: new → sign → push → another machine's pull → pin → swap ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_plugin_goes_from_new_to_push_to_a_signed_pinned_pull_and_a_swap_is_refused() {
    if let Err(why) = tool("minisign") {
        return skip(&why);
    }
    let registry = match Registry::start() {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    // The author.
    let tmp = workspace_root().join("target/tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    let author = tempfile::tempdir_in(&tmp).expect("temp dir");
    let a = author.path();
    ok(
        a,
        &[
            "plugin",
            "new",
            "emptiest",
            "--sdk",
            s(&workspace_root().join("sdk")),
        ],
    );
    let built = build_rust_plugin(&a.join("emptiest"), "emptiest");
    let file = a.join("emptiest.wasm");
    std::fs::copy(&built, &file).expect("copy");
    ok(a, &["plugin", "keygen", "--output", "author"]);
    ok(a, &["plugin", "sign", s(&file), "--key", "author.key"]);
    // The signature is minisign's: the tool agrees before it is published.
    let (code, out, err) = minisign(&["-Vm", "emptiest.wasm", "-p", "author.pub"], a);
    assert_eq!(code, Some(0), "{out}{err}");
    let reference = format!("{}/community/emptiest:0.1.0", registry.host);
    ok(a, &["plugin", "push", s(&file), &reference]);

    // The operator, elsewhere: trusts the author's key, requires signatures.
    let operator = tempfile::tempdir().expect("temp dir");
    let o = operator.path();
    let plugins = o.join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let key = public_line(&a.join("author.pub"));
    let config = o.join("passage.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin_runtime]\ndir = \"{}\"\nsignatures = \"require\"\ntrusted_keys = [\"{key}\"]\n\
             [routing]\nstrategy = \"emptiest\"\n{TARGETS}",
            plugins.display()
        ),
    )
    .expect("write");
    let out = ok(
        o,
        &["plugin", "inspect", &reference, "--config", s(&config)],
    );
    assert!(out.contains("signature:    verified"), "{out}");
    let out = ok(o, &["plugin", "pull", &reference, "--config", s(&config)]);
    assert!(out.contains("signature: verified"), "{out}");
    // fixed-discovery is the operator's own; sign it with a key of theirs.
    copy_plugin("fixed-discovery", &plugins, "fixed-discovery");
    let own = tool_keypair(o, "own");
    let (code, _, err) = minisign(
        &["-S", "-s", "own.key", "-m", "plugins/fixed-discovery.wasm"],
        o,
    );
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace(&format!("[\"{key}\"]"), &format!("[\"{key}\", \"{own}\"]")),
    )
    .expect("write");
    let out = ok(o, &["plugin", "lock", "--config", s(&config)]);
    assert!(out.contains("emptiest: pinned to"), "{out}");

    let router = Passage::start(PassageSpec {
        config_file: Some(config.clone()),
        plugins: vec![
            ("fixed-discovery", plugins.join("fixed-discovery.wasm")),
            ("emptiest", plugins.join("emptiest.wasm")),
        ],
        files: vec![
            (
                "fixed-discovery.wasm.minisig",
                plugins.join("fixed-discovery.wasm.minisig"),
            ),
            (
                "emptiest.wasm.minisig",
                plugins.join("emptiest.wasm.minisig"),
            ),
        ],
        ..Default::default()
    });
    // Both loaded under `require`: their signatures verified.
    router.wait_for_log(&["plugin loaded", "emptiest"]);
    assert_eq!(route(&router, "Alex").await, Ok("10.0.0.1".to_owned()));

    // Someone swaps the file (its old, valid signature still beside it):
    // refused on hot reload, naming both digests; the pinned build keeps routing.
    let swapped = plugin_wasm("player-fill");
    std::fs::copy(&swapped, router.plugins_dir().join("emptiest.wasm")).expect("swap");
    let line = router.wait_for_log(&["ERROR", "new plugin file refused", "emptiest"]);
    let pin = sha256_of(&plugins.join("emptiest.wasm"));
    assert!(
        line.contains(&format!(
            "expects {pin}, the file's SHA-256 is {}",
            sha256_of(&swapped)
        )),
        "{line}"
    );
    assert_eq!(route(&router, "Steve").await, Ok("10.0.0.1".to_owned()));
}
