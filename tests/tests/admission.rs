//! Admission plugins end to end (contract 0.3.0): allowlist and maintenance
//! keep players out with a message in the player's language, in the configured
//! order, switched by a config reload; a failing admission plugin refuses the
//! player rather than letting everyone in.

use passage_tests::client::{LoginParams, login_to_final_packet};
use passage_tests::{Passage, PassageSpec, nbt_text, parse_transfer, plugin_wasm};

const TARGETS: &str = r#"
[auth]
mode = "offline"
[limits]
login_per_second = 0
[plugins.fixed-discovery]
targets = [{ id = "lobby", host = "10.0.0.1", port = 25565 }]
"#;

fn passage(config: &str, plugins: &[&str]) -> Passage {
    let mut all = vec!["fixed-discovery", "player-fill"];
    all.extend_from_slice(plugins);
    Passage::start(PassageSpec {
        config: &format!("{TARGETS}\n{config}"),
        plugins: all.into_iter().map(|p| (p, plugin_wasm(p))).collect(),
        ..Default::default()
    })
}

/// `Ok(host)` when transferred, `Err(text)` of the disconnect otherwise.
async fn join(passage: &Passage, name: &str, locale: &str) -> Result<String, String> {
    let params = LoginParams::new(767, name, None);
    match login_to_final_packet(passage.addr, &params, locale).await {
        Ok((0x0B, body, _)) => Ok(parse_transfer(&body).0),
        Ok((0x02, body, _)) => Err(nbt_text(&body)),
        Ok((id, ..)) => panic!("unexpected final packet {id:#x}"),
        Err(e) => panic!("login failed: {e}\n{}", passage.log()),
    }
}

#[tokio::test]
async fn the_allowlist_lets_listed_players_in_and_tells_others_why_in_their_language() {
    let passage = passage(
        r#"
[plugins.allowlist]
players = ["Steve", "00000000-0000-0000-0000-0000000000aa"]
[messages.fr_fr]
"allowlist.denied" = "Réservé aux membres."
"#,
        &["allowlist"],
    );
    passage.wait_for_log(&[
        "plugin loaded",
        "plugin=allowlist",
        "roles=admission",
        "0.3.0",
    ]);
    assert_eq!(
        join(&passage, "Steve", "en_us").await,
        Ok("10.0.0.1".to_owned())
    );
    // The plugin's own translations, by the client's locale.
    assert_eq!(
        join(&passage, "Alex", "de_de").await,
        Err("Du stehst nicht auf der Allowlist dieses Servers.".to_owned())
    );
    assert_eq!(
        join(&passage, "Alex", "es_mx").await,
        Err("No estás en la lista de permitidos de este servidor.".to_owned()),
        "another locale of the same language"
    );
    assert_eq!(
        join(&passage, "Alex", "ja_jp").await,
        Err("You are not on this server's allowlist.".to_owned())
    );
    // The operator's text for a locale comes first.
    assert_eq!(
        join(&passage, "Alex", "fr_fr").await,
        Err("Réservé aux membres.".to_owned())
    );
    let line = passage.wait_for_log(&["admission denied", "plugin=allowlist"]);
    assert!(line.contains("Alex"), "{line}");
}

#[tokio::test]
async fn admission_runs_in_order_and_maintenance_switches_on_reload() {
    let config = r#"
[routing]
admission = ["maintenance", "allowlist"]
[plugins.allowlist]
players = ["Steve", "Alex"]
[plugins.maintenance]
enabled = true
allow = ["Steve"]
until = "18:00 UTC"
"#;
    let passage = passage(config, &["allowlist", "maintenance"]);
    assert_eq!(
        join(&passage, "Steve", "en_us").await,
        Ok("10.0.0.1".to_owned())
    );
    // Maintenance is asked first and its deny wins (Alex is on the allowlist).
    assert_eq!(
        join(&passage, "Alex", "de_de").await,
        Err("Das Netzwerk wird bis 18:00 UTC gewartet. Bitte komm dann wieder.".to_owned())
    );
    // Herobrine is refused by maintenance too, not by the allowlist after it.
    assert_eq!(
        join(&passage, "Herobrine", "en_us").await,
        Err("The network is under maintenance until 18:00 UTC. Please come back then.".to_owned())
    );

    // Maintenance over: a config change, no restart.
    let full = std::fs::read_to_string(passage.config_path()).unwrap();
    std::fs::write(
        passage.config_path(),
        full.replace("enabled = true", "enabled = false"),
    )
    .unwrap();
    passage.wait_for_log(&["plugins reloaded", "reconfigured=maintenance"]);
    assert_eq!(
        join(&passage, "Alex", "en_us").await,
        Ok("10.0.0.1".to_owned())
    );
    // ... and the allowlist, next in order, still keeps strangers out.
    assert_eq!(
        join(&passage, "Herobrine", "en_us").await,
        Err("You are not on this server's allowlist.".to_owned())
    );
}

#[tokio::test]
async fn a_failing_admission_plugin_refuses_the_player_and_says_so_in_the_log() {
    // v3-roles is a strategy too: name the one that chooses.
    let passage = passage("[routing]\nstrategy = \"player-fill\"\n", &["v3-roles"]);
    assert_eq!(
        join(&passage, "Broken", "en_us").await,
        Err(
            "The network could not choose a server for you. Please try again in a moment."
                .to_owned()
        )
    );
    passage.wait_for_log(&["admission failed", "v3-roles", "cannot decide about Broken"]);
    assert_eq!(
        join(&passage, "Banned", "en_us").await,
        Err("You are banned from this test.".to_owned())
    );
    assert_eq!(
        join(&passage, "Steve", "en_us").await,
        Ok("10.0.0.1".to_owned())
    );
}

#[tokio::test]
async fn an_unknown_admission_plugin_in_the_order_is_a_startup_error() {
    let failed = Passage::try_start(PassageSpec {
        config: &format!("{TARGETS}\n[routing]\nadmission = [\"allowlst\"]\n"),
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    });
    let Err((log, _)) = failed else {
        panic!("started with an unknown admission plugin")
    };
    assert!(
        log.contains("routing.admission: no admission plugin named `allowlst` is loaded"),
        "{log}"
    );
}
