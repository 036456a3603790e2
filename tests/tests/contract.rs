//! Contract versions end to end: a 0.2.0 router plugin (discover + select +
//! reserve in one call) serving beside 0.1.0 plugins in the same router.

use passage_tests::client::{
    LoginOutcome, LoginParams, client_information, login as client_login, login_to_final_packet,
};
use passage_tests::http_stub::HttpStub;
use passage_tests::{
    Passage, PassageSpec, nbt_text, parse_transfer, ping, plugin_wasm, run_with_env,
};

const CONFIG: &str = r#"
[auth]
mode = "offline"
[limits]
login_per_second = 0
[routing]
strategy = "player-fill"
[routing.hosts]
"alloc.example.com" = "reserving-router"
[plugins.reserving-router]
targets = [
    { id = "game-1", host = "10.1.0.1", port = 25565, slots = 1 },
    { id = "game-2", host = "10.1.0.2", port = 25566, slots = 1 },
]
[plugins.fixed-discovery]
targets = [
    { id = "lobby-1", host = "10.0.0.1", port = 25565, metadata = { players = 10, max_players = 100 } },
    { id = "lobby-2", host = "10.0.0.2", port = 25565, metadata = { players = 80, max_players = 100 } },
]
[plugins.fixed-status]
motd = "old contract, still here"
"#;

async fn login(router: &Passage, name: &str, address: &str) -> Result<(String, i32), String> {
    let mut params = LoginParams::new(767, name, None);
    params.server_address = address.to_owned();
    match login_to_final_packet(router.addr, &params, "en_us").await {
        Ok((0x0B, body, _)) => Ok(parse_transfer(&body)),
        Ok((_, body, _)) => Err(nbt_text(&body)),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn a_router_plugin_reserves_targets_beside_plugins_of_contract_0_1_0() {
    let router = Passage::start(PassageSpec {
        config: CONFIG,
        plugins: vec![
            ("reserving-router", plugin_wasm("reserving-router")),
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
            ("fixed-status", plugin_wasm("fixed-status")),
        ],
        ..Default::default()
    });
    router.wait_for_log(&[
        "plugin loaded",
        "plugin=reserving-router",
        "roles=router",
        "0.2.0",
    ]);
    router.wait_for_log(&[
        "plugin loaded",
        "plugin=player-fill",
        "roles=strategy",
        "0.1.0",
    ]);

    // The router role: one slot per game server, reserved in one call.
    let alloc = "alloc.example.com";
    assert_eq!(
        login(&router, "A", alloc).await,
        Ok(("10.1.0.1".to_owned(), 25565))
    );
    assert_eq!(
        login(&router, "B", alloc).await,
        Ok(("10.1.0.2".to_owned(), 25566))
    );
    let full = login(&router, "C", alloc).await.expect_err("no slot left");
    assert_eq!(
        full,
        "No server is available right now. Please try again later."
    );
    router.wait_for_log(&["transfer", "player=A", "reserved=true"]);

    // 0.1.0 plugins keep working in the same process: discovery + strategy for
    // the other host names, status for pings.
    assert_eq!(
        login(&router, "D", "play.example.com").await,
        Ok(("10.0.0.2".to_owned(), 25565))
    );
    let pong = ping(router.addr, 767, "play.example.com")
        .await
        .expect("ping");
    let status = pong.status.to_string();
    assert!(status.contains("old contract, still here"), "{status}");

    // Operators see both contract versions.
    let admin = router.metrics_addr().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, out, err) = run_with_env(&["plugins", "--admin", &admin], dir.path(), &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{out}"))
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("reserving-router"),
        ["reserving-router", "router", "0.2.0"]
    );
    // A router keeps one instance, so its reservations stay consistent.
    assert!(
        out.lines()
            .any(|l| l.starts_with("reserving-router") && l.contains("  1  ")),
        "{out}"
    );
    assert_eq!(row("player-fill"), ["player-fill", "strategy", "0.1.0"]);
}

#[tokio::test]
async fn a_trapping_router_is_replaced_and_the_player_told() {
    let router = Passage::start(PassageSpec {
        config: &CONFIG.replace(
            "strategy = \"player-fill\"",
            "strategy = \"reserving-router\"",
        ),
        plugins: vec![("reserving-router", plugin_wasm("reserving-router"))],
        ..Default::default()
    });
    let failed = login(&router, "Trap", "play.example.com")
        .await
        .expect_err("trap");
    assert_eq!(
        failed,
        "The network could not choose a server for you. Please try again in a moment."
    );
    router.wait_for_log(&["routing failed", "reserving-router", "trapped"]);
    // A fresh instance serves the next player (its reservations start empty).
    assert_eq!(
        login(&router, "A", "play.example.com").await,
        Ok(("10.1.0.1".to_owned(), 25565))
    );
}

/// A component built against 0.2.0 for the roles 0.1.0 already had (status,
/// discovery, strategy) is served through the host's 0.2.0 adapter.
#[tokio::test]
async fn roles_exported_at_0_2_0_are_served_too() {
    let router = Passage::start(PassageSpec {
        config: "[auth]\nmode = \"offline\"\n",
        plugins: vec![("v2-roles", plugin_wasm("v2-roles"))],
        ..Default::default()
    });
    router.wait_for_log(&[
        "plugin loaded",
        "plugin=v2-roles",
        "roles=status,discovery,strategy",
        "0.2.0",
    ]);
    // Status through the 0.2.0 records.
    let pong = ping(router.addr, 767, "play.example.com")
        .await
        .expect("ping");
    assert_eq!(
        pong.status["description"]["text"], "v2 status",
        "{}",
        pong.status
    );
    assert_eq!(pong.status["version"]["name"], "v2");
    assert_eq!(pong.status["players"]["online"], 1);
    // Discovery and strategy: the strategy picks the last discovered target.
    assert_eq!(
        login(&router, "A", "play.example.com").await,
        Ok(("10.2.0.2".to_owned(), 25565))
    );
    // And its log import is the 0.2.0 one.
    router.wait_for_log(&["v2-roles", "contract 0.2.0"]);
}

/// A player who leaves while the router is choosing does not cost anyone their
/// reservation: the call runs to its end, and its reservation is given back.
#[tokio::test]
async fn a_player_leaving_mid_route_gives_the_reservation_back() {
    let gate = HttpStub::start("").await;
    let config = format!(
        "{}\n[plugin_runtime.grants.reserving-router]\ncall_timeout_ms = 60000\nhttp_allow = [\"{}\"]\n",
        CONFIG
            .replace(
                "strategy = \"player-fill\"",
                "strategy = \"reserving-router\""
            )
            .replace(
                "[plugins.reserving-router]\n",
                &format!(
                    "[plugins.reserving-router]\ngate_url = \"{}\"\n",
                    gate.url("/gate")
                ),
            ),
        gate.addr
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("reserving-router", plugin_wasm("reserving-router"))],
        ..Default::default()
    });
    let play = "play.example.com";
    // B holds game-1.
    assert_eq!(
        login(&router, "B", play).await,
        Ok(("10.1.0.1".to_owned(), 25565))
    );
    // `Slow` is held at the gate inside the router's call; the client leaves
    // meanwhile, and only then does the call end.
    let params = LoginParams::new(767, "Slow", None);
    let LoginOutcome::Configuration(mut client, ..) =
        client_login(router.addr, &params).await.expect("login")
    else {
        panic!("not in configuration");
    };
    client
        .send(0x00, &client_information("en_us", 767))
        .await
        .expect("send");
    gate.wait_parked("Slow").await;
    drop(client);
    router.wait_for_log(&["closing: I/O error", "unexpected end of file"]);
    gate.open("Slow");
    router.wait_for_log(&["the player left while the router chose", "player=Slow"]);
    router.wait_for_log(&["released game-2#2"]);
    // game-2 is free again, and B's game-1 is still B's: the instance holding the
    // reservations was not thrown away.
    assert_eq!(
        login(&router, "C", play).await,
        Ok(("10.1.0.2".to_owned(), 25566))
    );
    let full = login(&router, "D", play).await.expect_err("both taken");
    assert_eq!(
        full,
        "No server is available right now. Please try again later."
    );
}

/// Plugins of all three contract versions in one router: 0.1.0 discovery,
/// strategy and status, a 0.2.0 router, and 0.3.0 admission, selection and live
/// status, each serving what it serves.
#[tokio::test]
async fn plugins_of_0_1_0_0_2_0_and_0_3_0_serve_side_by_side() {
    let config = CONFIG
        .replace(
            "[routing.hosts]\n",
            "[routing.hosts]\n\"v3.example.com\" = \"v3-roles\"\n",
        )
        .replace(
            "[plugins.fixed-status]\nmotd = \"old contract, still here\"\n",
            "",
        )
        + "[plugins.network-status]\nmotd = \"counted by 0.3.0\"\n";
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("reserving-router", plugin_wasm("reserving-router")),
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
            ("v3-roles", plugin_wasm("v3-roles")),
            ("network-status", plugin_wasm("network-status")),
        ],
        ..Default::default()
    });
    for (plugin, roles, version) in [
        ("player-fill", "roles=strategy", "0.1.0"),
        ("fixed-discovery", "roles=discovery", "0.1.0"),
        ("reserving-router", "roles=router", "0.2.0"),
        ("v3-roles", "roles=strategy,admission", "0.3.0"),
        ("network-status", "roles=status", "0.3.0"),
    ] {
        router.wait_for_log(&[
            "plugin loaded",
            &format!("plugin={plugin} "),
            roles,
            version,
        ]);
    }
    // 0.1.0 strategy over 0.1.0 discovery.
    assert_eq!(
        login(&router, "A", "play.example.com").await,
        Ok(("10.0.0.2".to_owned(), 25565))
    );
    // 0.2.0 router.
    assert_eq!(
        login(&router, "B", "alloc.example.com").await,
        Ok(("10.1.0.1".to_owned(), 25565))
    );
    // 0.3.0 selection over the same 0.1.0 discovery: the first target, or a
    // reason.
    assert_eq!(
        login(&router, "C", "v3.example.com").await,
        Ok(("10.0.0.1".to_owned(), 25565))
    );
    assert_eq!(
        login(&router, "RejectMe", "v3.example.com").await,
        Err("Go away, RejectMe.".to_owned())
    );
    // 0.3.0 admission before every chooser, whatever its version.
    for host in ["play.example.com", "alloc.example.com", "v3.example.com"] {
        assert_eq!(
            login(&router, "Banned", host).await,
            Err("You are banned from this test.".to_owned())
        );
    }
    // 0.3.0 live status counts what 0.1.0 discovery lists.
    let pong = ping(router.addr, 767, "play.example.com")
        .await
        .expect("ping");
    assert_eq!(pong.status["players"]["online"], 90, "{}", pong.status);
    assert_eq!(pong.status["players"]["max"], 200);
    assert_eq!(pong.status["description"]["text"], "counted by 0.3.0");
}
