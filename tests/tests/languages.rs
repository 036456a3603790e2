//! Plugins written in Python (componentize-py) and JavaScript
//! (componentize-js), routing real players through the real router: the same
//! contracts as the Rust plugins, checked from the outside. Contract 0.1.0:
//! the strategies rendezvous-py and weighted-js; contract 0.3.0: the admission
//! plugin banlist-py and the selection plugin first-join-js; and the test
//! fixtures seats-py and seats-js, placement plugins on a key-value bucket.
//!
//! `make e2e` builds them (`make lang-plugins`). When a toolchain cannot be
//! installed, the Makefile writes the reason to `target/toolchains/<lang>.unavailable`
//! and these tests report a skip with that reason (`passage_tests::skip`): printed,
//! counted by `make test`, and a failure in CI, which installs both toolchains.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use std::collections::HashMap;

use passage_tests::client::{
    LoginOutcome, LoginParams, client_information, final_packet, login, login_to_final_packet,
};
use passage_tests::session_server::{Behavior, SessionServer};
use passage_tests::{
    Passage, PassageSpec, cookie, nbt_text, parse_transfer, plugin_wasm, skip, workspace_root,
};

/// Offline logins (no session server), all from 127.0.0.1: the per-address
/// login budget is turned off.
const COMMON: &str = r#"
[auth]
mode = "offline"

[limits]
login_per_second = 0.0
"#;

/// The `[plugin_runtime]` table; `extra` adds lines to it. An instance of either
/// plugin needs 13 MiB (Python) or 10 MiB (JavaScript) of linear memory, so the
/// default cap (64 MiB) stays. Its first call (`configure` on a fresh instance)
/// took 7-13 ms on a quiet machine but up to 61 ms while another build ran,
/// close to the default deadline of 100 ms: the deadline is raised for a
/// loaded CI machine.
fn plugin_runtime(extra: &str) -> String {
    format!("[plugin_runtime]\ncall_timeout_ms = 1000\n{extra}\n")
}

/// The reason a language's plugin was not built, from the Makefile's marker.
fn unavailable(language: &str) -> Option<String> {
    let marker = workspace_root()
        .join("target")
        .join("toolchains")
        .join(format!("{language}.unavailable"));
    std::fs::read_to_string(marker)
        .ok()
        .map(|why| why.trim().to_owned())
}

/// One compiled-code cache for every test here (and every run): compiling a
/// 12-18 MB component takes seconds, loading the cached code milliseconds.
fn cache_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("languages-cache");
    std::fs::create_dir_all(&dir).expect("create the shared cache dir");
    dir
}

/// Held while a router loads its plugins, so tests running in parallel compile
/// a component once (the next one finds it in the cache) instead of twice at once.
static LOADING: Mutex<()> = Mutex::new(());

fn start(strategy: &str, runtime: &str, tables: &str) -> Passage {
    start_with(&["fixed-discovery", strategy], COMMON, runtime, tables)
}

/// Starts a router with `plugins`; the last one is the plugin under test.
/// `common` is the top of the config (auth, limits).
fn start_with(plugins: &[&str], common: &str, runtime: &str, tables: &str) -> Passage {
    let tested = plugins.last().expect("a plugin to test");
    let _loading = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache_dir();
    let config = format!("{common}\n{}\n{tables}", plugin_runtime(runtime));
    let started = Instant::now();
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: plugins.iter().map(|&p| (p, plugin_wasm(p))).collect(),
        cache_dir: Some(&cache),
        ..Default::default()
    });
    let loaded = router.wait_for_log(&["plugin loaded", &format!("plugin={tested}")]);
    println!(
        "{tested}: router listening after {:?}; {}",
        started.elapsed(),
        loaded
            .split_once("plugin loaded")
            .map_or(&*loaded, |(_, r)| r)
    );
    router
}

/// Logs `name` in (offline) and returns the UUID the router gave the player
/// (hyphenated, as plugins see it) and the host of the Transfer.
async fn route(router: &Passage, name: &str) -> (String, String) {
    let params = LoginParams::new(775, name, None);
    let outcome = login(router.addr, &params).await;
    let Ok(LoginOutcome::Configuration(mut client, profile, _)) = outcome else {
        panic!(
            "{name}: login did not reach configuration\n{}",
            router.log()
        );
    };
    client
        .send(0x00, &client_information("en_us", params.protocol))
        .await
        .unwrap();
    let (id, body, _) = final_packet(&mut client)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", router.log()));
    assert_eq!(id, 0x0B, "{name}: Transfer expected\n{}", router.log());
    (hyphenated(profile.uuid), parse_transfer(&body).0)
}

fn hyphenated(uuid: u128) -> String {
    let hex = format!("{uuid:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Prints, for the record, what the router measured of the plugin's calls
/// (sum and count of `passage_plugin_call_duration_seconds`).
async fn print_call_cost(router: &Passage, plugin: &str) {
    let Ok((200, metrics)) = passage_tests::http_get(router.metrics_addr(), "/metrics").await
    else {
        return;
    };
    for line in metrics.lines().filter(|l| {
        l.contains(&format!("plugin=\"{plugin}\"")) && (l.contains("_sum") || l.contains("_count"))
    }) {
        println!("{plugin}: {line}");
    }
}

// ---------------------------------------------------------------------------
// rendezvous-py
// ---------------------------------------------------------------------------

/// (id, host) of the targets; the test maps a Transfer's host back to the id.
const RENDEZVOUS_TARGETS: [(&str, &str); 3] = [
    ("lobby-a", "10.0.0.1"),
    ("lobby-b", "10.0.0.2"),
    ("lobby-c", "10.0.0.3"),
];

const RENDEZVOUS_TABLES: &str = r#"
[plugins.fixed-discovery]
targets = [
    { id = "lobby-a", host = "10.0.0.1" },
    { id = "lobby-b", host = "10.0.0.2" },
    { id = "lobby-c", host = "10.0.0.3" },
]
"#;

/// 64-bit FNV-1a, written here independently of the plugin.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Highest random weight: the target whose FNV-1a of `uuid/id` is largest
/// (ties: the smallest id).
fn rendezvous(uuid: &str) -> &'static str {
    RENDEZVOUS_TARGETS
        .iter()
        .map(|(id, _)| *id)
        .max_by(|a, b| {
            let score = |id: &str| fnv1a64(format!("{uuid}/{id}").as_bytes());
            score(a).cmp(&score(b)).then(b.cmp(a))
        })
        .expect("targets")
}

fn id_of(host: &str) -> &'static str {
    RENDEZVOUS_TARGETS
        .iter()
        .find(|(_, h)| *h == host)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("transferred to an unknown host {host}"))
}

#[test]
fn fnv1a64_matches_the_published_vectors() {
    // From the FNV reference test suite.
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

#[tokio::test]
async fn rendezvous_py_keeps_a_player_on_the_hashed_target() {
    if let Some(why) = unavailable("python") {
        return skip(&why);
    }
    let router = start("rendezvous-py", "", RENDEZVOUS_TABLES);
    router.wait_for_log(&["rendezvous-py configured"]);

    let mut steve = BTreeSet::new();
    for _ in 0..3 {
        let started = Instant::now();
        let (uuid, host) = route(&router, "Steve").await;
        println!("Steve -> {host} in {:?}", started.elapsed());
        assert_eq!(id_of(&host), rendezvous(&uuid), "Steve ({uuid})");
        steve.insert(host);
    }
    assert_eq!(
        steve.len(),
        1,
        "the same player, the same target: {steve:?}"
    );

    let mut used = BTreeSet::new();
    for i in 0..20 {
        let name = format!("Player{i:02}");
        let (uuid, host) = route(&router, &name).await;
        assert_eq!(id_of(&host), rendezvous(&uuid), "{name} ({uuid})");
        used.insert(id_of(&host));
    }
    assert!(used.len() > 1, "20 players all went to {used:?}");
    router.wait_for_log(&["transfer", "target=lobby-"]);
    print_call_cost(&router, "rendezvous-py").await;
}

/// Starts a router whose `[plugins.<plugin>]` table has an unknown key and
/// returns its log: the plugin's `configure` must refuse it, which stops start-up.
fn refused_start(plugin: &str) -> String {
    refused_start_with(
        &["fixed-discovery", plugin],
        &format!("[plugins.{plugin}]\nreplicas = 3\n"),
    )
}

/// Starts a router with `plugins` (the last one is the plugin under test) and
/// `table` after the targets, and returns its log: the tested plugin's
/// `configure` must refuse the table, which stops start-up.
fn refused_start_with(plugins: &[&str], table: &str) -> String {
    let tested = plugins.last().expect("a plugin to test");
    let cache = cache_dir();
    let config = format!(
        "{COMMON}\n{}\n{RENDEZVOUS_TABLES}\n{table}",
        plugin_runtime("")
    );
    let _loading = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    let result = Passage::try_start(PassageSpec {
        config: &config,
        plugins: plugins.iter().map(|&p| (p, plugin_wasm(p))).collect(),
        cache_dir: Some(&cache),
        ..Default::default()
    });
    match result {
        Err((log, _)) => log,
        Ok(_) => panic!("the router started with a config {tested} should refuse:\n{table}"),
    }
}

#[test]
fn rendezvous_py_refuses_an_unknown_setting() {
    if let Some(why) = unavailable("python") {
        return skip(&why);
    }
    let log = refused_start("rendezvous-py");
    // The schema in its manifest (plugins/rendezvous-py/manifest.json) refuses the
    // table before `configure` runs.
    assert!(
        log.contains("plugins.rendezvous-py: unknown key(s) `replicas`: it takes no settings here"),
        "{log}"
    );
}

// ---------------------------------------------------------------------------
// weighted-js
// ---------------------------------------------------------------------------

/// One warm instance, so consecutive logins see one rotation.
const ONE_INSTANCE: &str = "max_instances = 1";

/// Reference smooth weighted round robin (nginx): every pick raises each
/// score by its weight, takes the highest (ties: the first, i.e. smallest id),
/// and lowers the winner by the total.
fn smooth_wrr(weights: &[(&'static str, i64)], picks: usize) -> Vec<&'static str> {
    let mut current = vec![0i64; weights.len()];
    let total: i64 = weights.iter().map(|(_, w)| w).sum();
    (0..picks)
        .map(|_| {
            let mut best = 0;
            for (i, (_, w)) in weights.iter().enumerate() {
                current[i] += w;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            weights[best].0
        })
        .collect()
}

#[test]
fn smooth_wrr_reference_gives_the_nginx_order() {
    assert_eq!(
        smooth_wrr(&[("a", 3), ("b", 1)], 8),
        ["a", "a", "b", "a", "a", "a", "b", "a"]
    );
    // nginx's own example: weights 5, 1, 1 give a a b a c a a.
    assert_eq!(
        smooth_wrr(&[("a", 5), ("b", 1), ("c", 1)], 7),
        ["a", "a", "b", "a", "c", "a", "a"]
    );
}

#[test]
fn weighted_js_refuses_an_unknown_setting() {
    if let Some(why) = unavailable("js") {
        return skip(&why);
    }
    let log = refused_start("weighted-js");
    // The schema in its manifest (plugins/weighted-js/manifest.json) refuses the
    // table before `configure` runs.
    assert!(
        log.contains("plugins.weighted-js: unknown key(s) `replicas`: it takes no settings here"),
        "{log}"
    );
}

async fn js_hosts(router: &Passage, logins: usize) -> Vec<String> {
    let mut hosts = Vec::new();
    for i in 0..logins {
        let started = Instant::now();
        let (_, host) = route(router, &format!("Weighted{i}")).await;
        println!("login {i} -> {host} in {:?}", started.elapsed());
        hosts.push(host);
    }
    hosts
}

#[tokio::test]
async fn weighted_js_follows_the_smooth_weighted_round_robin_order() {
    if let Some(why) = unavailable("js") {
        return skip(&why);
    }
    // `heavy` 3, `light` 1, `off` 0 (never chosen). Listed light-first: the
    // rotation is in id order, whatever order discovery gives.
    let tables = r#"
[plugins.fixed-discovery]
targets = [
    { id = "light", host = "10.0.0.2", metadata = { weight = 1 } },
    { id = "off", host = "10.0.0.9", metadata = { weight = 0 } },
    { id = "heavy", host = "10.0.0.1", metadata = { weight = "3" } },
]
"#;
    let router = start("weighted-js", ONE_INSTANCE, tables);
    router.wait_for_log(&["weighted-js configured"]);
    let hosts = js_hosts(&router, 8).await;
    let (heavy, light) = ("10.0.0.1", "10.0.0.2");
    let expected = [heavy, heavy, light, heavy, heavy, heavy, light, heavy];
    assert_eq!(hosts, expected, "log:\n{}", router.log());
    // The same order as the reference implementation.
    assert_eq!(
        smooth_wrr(&[("heavy", 3), ("light", 1)], 8)
            .iter()
            .map(|id| if *id == "heavy" { heavy } else { light })
            .collect::<Vec<_>>(),
        expected
    );
    assert!(!router.log().contains("weight` is not an integer"));
    print_call_cost(&router, "weighted-js").await;
}

#[tokio::test]
async fn weighted_js_counts_an_invalid_weight_as_1_and_warns_once() {
    if let Some(why) = unavailable("js") {
        return skip(&why);
    }
    let tables = r#"
[plugins.fixed-discovery]
targets = [
    { id = "a", host = "10.0.0.1", metadata = { weight = 2 } },
    { id = "b", host = "10.0.0.2", metadata = { weight = "lots" } },
    { id = "c", host = "10.0.0.3" },
]
"#;
    let router = start("weighted-js", ONE_INSTANCE, tables);
    // a 2, b invalid (1), c absent (1).
    let hosts = js_hosts(&router, 8).await;
    let expected: Vec<String> = smooth_wrr(&[("a", 2), ("b", 1), ("c", 1)], 8)
        .into_iter()
        .map(|id| match id {
            "a" => "10.0.0.1",
            "b" => "10.0.0.2",
            _ => "10.0.0.3",
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(hosts, expected, "log:\n{}", router.log());
    let warning = router.wait_for_log(&["weight` is not an integer", "for b;"]);
    assert!(warning.contains("WARN"), "{warning}");
    let log = router.log();
    assert_eq!(
        log.matches("weight` is not an integer").count(),
        1,
        "one warning per set-targets:\n{log}"
    );
}

// ---------------------------------------------------------------------------
// banlist-py (contract 0.3.0, admission)
// ---------------------------------------------------------------------------

/// Notch's offline UUID (Java's `UUID.nameUUIDFromBytes("OfflinePlayer:Notch")`),
/// banned below without hyphens and in upper case; Griefer is banned by name in
/// another case.
const BANLIST_TABLES: &str = r#"
[plugins.fixed-discovery]
targets = [{ id = "lobby", host = "10.0.0.1" }]

[plugins.banlist-py]
players = ["GRIEFER", "B50AD385829D3141A2167E7D7539BA7F"]
"#;

/// Logs `name` in (offline) with `locale`: `Ok(host)` when transferred,
/// `Err(text)` of the disconnect otherwise.
async fn join(router: &Passage, name: &str, locale: &str) -> Result<String, String> {
    let params = LoginParams::new(775, name, None);
    let started = Instant::now();
    let outcome = match login_to_final_packet(router.addr, &params, locale).await {
        Ok((0x0B, body, _)) => Ok(parse_transfer(&body).0),
        Ok((0x02, body, _)) => Err(nbt_text(&body)),
        Ok((id, ..)) => panic!("{name}: unexpected final packet {id:#x}\n{}", router.log()),
        Err(e) => panic!("{name}: login failed: {e}\n{}", router.log()),
    };
    println!(
        "{name} ({locale}) -> {outcome:?} in {:?}",
        started.elapsed()
    );
    outcome
}

#[tokio::test]
async fn banlist_py_keeps_banned_players_out_in_their_language() {
    if let Some(why) = unavailable("python") {
        return skip(&why);
    }
    // No `[routing] admission`: every loaded admission plugin is asked.
    let router = start_with(
        &["fixed-discovery", "player-fill", "banlist-py"],
        COMMON,
        "",
        BANLIST_TABLES,
    );
    router.wait_for_log(&[
        "plugin loaded",
        "plugin=banlist-py",
        "roles=admission",
        "0.3.0",
    ]);
    router.wait_for_log(&["banlist-py configured: 2 banned"]);

    assert_eq!(
        join(&router, "Steve", "de_de").await,
        Ok("10.0.0.1".to_owned())
    );
    // The plugin's translations, by the client's locale; the name in any case.
    assert_eq!(
        join(&router, "Griefer", "de_de").await,
        Err("Du bist von diesem Netzwerk gebannt.".to_owned())
    );
    assert_eq!(
        join(&router, "griefer", "fr_fr").await,
        Err("Vous êtes banni de ce réseau.".to_owned())
    );
    // By UUID (listed without hyphens, upper case); a locale without a
    // translation gets the English fallback.
    assert_eq!(
        join(&router, "Notch", "ja_jp").await,
        Err("You are banned from this network.".to_owned())
    );
    let line = router.wait_for_log(&["admission denied", "plugin=banlist-py"]);
    assert!(line.contains("Griefer"), "{line}");
    router.wait_for_log(&["Notch (b50ad385-829d-3141-a216-7e7d7539ba7f) is banned"]);

    // A reason, set by a config reload: the reason variant, `{0}` replaced.
    let full = std::fs::read_to_string(router.config_path()).unwrap();
    std::fs::write(
        router.config_path(),
        full.replace(
            "players = [\"GRIEFER\"",
            "reason = \"griefing spawn\"\nplayers = [\"GRIEFER\"",
        ),
    )
    .unwrap();
    router.wait_for_log(&["plugins reloaded", "reconfigured=banlist-py"]);
    assert_eq!(
        join(&router, "Griefer", "de_de").await,
        Err("Du bist von diesem Netzwerk gebannt: griefing spawn".to_owned())
    );
    assert_eq!(
        join(&router, "Griefer", "en_gb").await,
        Err("You are banned from this network: griefing spawn".to_owned()),
        "another locale of the same language"
    );
    assert_eq!(
        join(&router, "Alex", "fr_fr").await,
        Ok("10.0.0.1".to_owned())
    );
    print_call_cost(&router, "banlist-py").await;
}

#[test]
fn banlist_py_refuses_unknown_keys_and_bad_entries_naming_them() {
    if let Some(why) = unavailable("python") {
        return skip(&why);
    }
    let plugins = ["fixed-discovery", "player-fill", "banlist-py"];
    for (table, expected) in [
        // Unknown keys and wrong types: the schema in the plugin's manifest,
        // checked by the router before the plugin runs.
        (
            "player = [\"Steve\"]",
            "Additional properties are not allowed ('player' was unexpected)",
        ),
        ("players = \"Steve\"", "\"Steve\" is not of type \"array\""),
        ("reason = 3", "3 is not of type \"string\""),
        // What a schema cannot say: the plugin's own `configure`.
        (
            "players = [\"Steve\", \"not a name\"]",
            "`players`: `not a name` is neither a player name (1-16 letters, digits, _) nor a UUID",
        ),
    ] {
        let log = refused_start_with(&plugins, &format!("[plugins.banlist-py]\n{table}\n"));
        assert!(log.contains(expected), "{table}: {log}");
    }
}

// ---------------------------------------------------------------------------
// first-join-js (contract 0.3.0, selection)
// ---------------------------------------------------------------------------

const FIRST_JOIN_SECRET: &[u8] = b"a-secret-for-the-first-join-test-0123456789\n";

/// Online mode with cookies: the reconnect is authenticated by the cookie, and
/// `extra` comes back with it.
fn first_join_router(session: &SessionServer, dir: &Path) -> Passage {
    let secret = dir.join("auth_secret");
    std::fs::write(&secret, FIRST_JOIN_SECRET).unwrap();
    let common = format!(
        "auth_secret_file = \"{}\"\n[auth]\nsession_server = \"{}\"\n[limits]\nlogin_per_second = 0.0\n",
        secret.display(),
        session.url()
    );
    let tables = r#"
[plugins.fixed-discovery]
targets = [
    { id = "tutorial", host = "10.0.0.5" },
    { id = "lobby", host = "10.0.0.1" },
]

[plugins.first-join-js]
tutorial = "tutorial"
lobby = "lobby"
"#;
    start_with(&["fixed-discovery", "first-join-js"], &common, "", tables)
}

/// The end of one visit: where the player went (or the disconnect's text), and
/// the cookies the router stored.
struct Visit {
    outcome: Result<String, String>,
    cookies: HashMap<String, Vec<u8>>,
}

/// Logs `name` in online (with `cookies` and intent 3, as a reconnect after a
/// Transfer, when there are some).
async fn visit(
    router: &Passage,
    session: &SessionServer,
    name: &str,
    locale: &str,
    cookies: &HashMap<String, Vec<u8>>,
) -> Visit {
    let params = LoginParams::new(775, name, Some(session.addr)).returning_with(cookies);
    let started = Instant::now();
    let (id, body, stored) = login_to_final_packet(router.addr, &params, locale)
        .await
        .unwrap_or_else(|e| panic!("{name}: login failed: {e}\n{}", router.log()));
    let outcome = match id {
        0x0B => Ok(parse_transfer(&body).0),
        0x02 => Err(nbt_text(&body)),
        _ => panic!("{name}: unexpected final packet {id:#x}\n{}", router.log()),
    };
    println!(
        "{name} (intent {}) -> {outcome:?} in {:?}",
        params.intent,
        started.elapsed()
    );
    Visit {
        outcome,
        cookies: stored,
    }
}

/// The `extra` of the authentication cookie, checked to be signed with the key.
fn cookie_extra(cookies: &HashMap<String, Vec<u8>>) -> serde_json::Value {
    let payload = &cookies["passage:authentication"];
    cookie::verify(FIRST_JOIN_SECRET, payload).expect("signed with the shared key")["extra"].clone()
}

#[tokio::test]
async fn first_join_js_sends_a_new_player_to_the_tutorial_and_a_returning_one_to_the_lobby() {
    if let Some(why) = unavailable("js") {
        return skip(&why);
    }
    let (tutorial, lobby) = ("10.0.0.5", "10.0.0.1");
    let session = SessionServer::start(Behavior::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let router = first_join_router(&session, dir.path());
    router.wait_for_log(&[
        "plugin loaded",
        "plugin=first-join-js",
        "roles=strategy",
        "0.3.0",
    ]);
    router.wait_for_log(&["first-join-js configured: first logins to tutorial, then lobby"]);

    // First login: no cookie, so the tutorial, and the patch in the cookie.
    let first = visit(&router, &session, "Steve", "en_us", &HashMap::new()).await;
    assert_eq!(first.outcome, Ok(tutorial.to_owned()));
    let extra = cookie_extra(&first.cookies);
    assert_eq!(extra["firstJoin"]["seen"], true, "{extra}");
    assert_eq!(extra["passage"]["auth"], "online", "Passage's own record");

    // The reconnect with the stored cookies: the lobby, the mark kept.
    let second = visit(&router, &session, "Steve", "en_us", &first.cookies).await;
    assert_eq!(second.outcome, Ok(lobby.to_owned()), "{}", router.log());
    assert_eq!(
        session.has_joined_calls(),
        1,
        "the cookie authenticated the reconnect"
    );
    let extra = cookie_extra(&second.cookies);
    assert_eq!(extra["firstJoin"]["seen"], true, "{extra}");

    // The lobby goes away (a config change, no restart): a returning player
    // is refused in their language; a new one still goes to the tutorial.
    let full = std::fs::read_to_string(router.config_path()).unwrap();
    std::fs::write(
        router.config_path(),
        full.replace("lobby = \"lobby\"", "lobby = \"hub\""),
    )
    .unwrap();
    router.wait_for_log(&["plugins reloaded", "reconfigured=first-join-js"]);
    let refused = visit(&router, &session, "Steve", "de_de", &second.cookies).await;
    assert_eq!(
        refused.outcome,
        Err(
            "Dein Server ist gerade nicht erreichbar. Bitte versuche es gleich noch einmal."
                .to_owned()
        )
    );
    router.wait_for_log(&["target hub for Steve is not among the discovered targets"]);
    let refused = visit(&router, &session, "Steve", "fr_fr", &second.cookies).await;
    assert_eq!(
        refused.outcome,
        Err("Votre serveur n'est pas disponible pour le moment. Veuillez réessayer dans un instant.".to_owned())
    );
    let alex = visit(&router, &session, "Alex", "de_de", &HashMap::new()).await;
    assert_eq!(alex.outcome, Ok(tutorial.to_owned()));
    print_call_cost(&router, "first-join-js").await;
}

#[test]
fn first_join_js_refuses_an_unknown_setting() {
    if let Some(why) = unavailable("js") {
        return skip(&why);
    }
    let log = refused_start_with(
        &["fixed-discovery", "first-join-js"],
        "[plugins.first-join-js]\ntutorial = \"lobby-a\"\nlobby = \"lobby-b\"\nhub = \"lobby-c\"\n",
    );
    // The schema in the plugin's manifest names it before the plugin runs.
    assert!(
        log.contains("Additional properties are not allowed ('hub' was unexpected)"),
        "{log}"
    );
}

/// A placement plugin on a granted key-value bucket, in Python or JavaScript
/// (the fixtures tests/plugins/seats-py and seats-js, built with the bindings
/// docs/plugins/keyvalue.md describes): `acquire` gives two players the two
/// seats and tells the third there is none, a player holding a seat keeps it,
/// `increment` counts the logins; without the grant, `open` is refused inside
/// the plugin, whose `configure` then stops the router.
async fn seats_on_a_bucket(plugin: &str, no_seat: &str, denied: &str) {
    let tables = format!(
        "[plugins.{plugin}]\ncapacity = 2\ntarget = {{ id = \"a\", host = \"10.0.0.9\", port = 25565 }}\n"
    );
    let router = start_with(
        &[plugin],
        COMMON,
        &format!("[plugin_runtime.grants.{plugin}]\nkeyvalue = [\"seats\"]\n"),
        &tables,
    );
    let full = format!("{plugin}: every seat is taken.");
    assert_eq!(
        join(&router, "Alice", "en_us").await,
        Ok("10.0.0.9".to_owned())
    );
    assert_eq!(
        join(&router, "Bob", "en_us").await,
        Ok("10.0.0.9".to_owned())
    );
    assert_eq!(join(&router, "Carol", "en_us").await, Err(full.clone()));
    router.wait_for_log(&[&format!("{plugin}: login 3, Carol holds: {no_seat}")]);
    assert_eq!(
        join(&router, "Alice", "en_us").await,
        Ok("10.0.0.9".to_owned())
    );
    router.wait_for_log(&[&format!("{plugin}: login 4, Alice holds: 2")]);
    assert_eq!(join(&router, "Dave", "en_us").await, Err(full));
    print_call_cost(&router, plugin).await;

    let log = refused_start_with(&["fixed-discovery", plugin], &tables);
    assert!(log.contains(denied), "{log}");
    assert!(
        log.contains(&format!(
            "bucket \"seats\" is not in plugin_runtime.grants.{plugin}.keyvalue"
        )),
        "{log}"
    );
}

#[tokio::test]
async fn seats_py_counts_seats_in_a_granted_bucket() {
    if let Some(why) = unavailable("python") {
        return skip(&why);
    }
    seats_on_a_bucket(
        "seats-py",
        "None",
        "bucket seats: access denied (not granted)",
    )
    .await;
}

#[tokio::test]
async fn seats_js_counts_seats_in_a_granted_bucket() {
    if let Some(why) = unavailable("js") {
        return skip(&why);
    }
    seats_on_a_bucket("seats-js", "none", "bucket seats: access-denied").await;
}
