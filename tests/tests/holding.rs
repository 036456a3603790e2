//! Players who wait (contract 0.3.0): a router plugin answers "wait", and the
//! router keeps the connection alive, shows the player a dialog where the
//! client has them (1.21.6+), asks again, and transfers them when the plugin
//! says so — or gives up at `routing.max_wait_ms` with a message.

use std::time::{Duration, Instant};

use passage_tests::client::{
    Client, Configured, LoginOutcome, LoginParams, client_information, final_packet_traced, login,
};
use passage_tests::http_stub::HttpStub;
use passage_tests::nbt::dialog_lines;
use passage_tests::{Passage, PassageSpec, nbt_text, parse_transfer, plugin_wasm};

/// What a vanilla client's read timeout does to a silent server, scaled down:
/// the router must keep talking while the player waits.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

fn wake_on_join(orchestrator: &HttpStub, extra: &str) -> Passage {
    let config = format!(
        r#"
[auth]
mode = "offline"
[limits]
login_per_second = 0
[timeouts]
keep_alive_ms = 200
{extra}
[plugins.wake-on-join]
orchestrator = "{}"
targets = [{{ id = "survival", host = "10.0.0.5", port = 25565 }}]
poll_ms = 100
[plugin_runtime.grants.wake-on-join]
http_allow = ["{}"]
allow_private_networks = true
call_timeout_ms = 2000
"#,
        orchestrator.url(""),
        orchestrator.addr
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("wake-on-join", plugin_wasm("wake-on-join"))],
        ..Default::default()
    })
}

async fn configuring(passage: &Passage, name: &str, protocol: i32, locale: &str) -> Client {
    let params = LoginParams::new(protocol, name, None);
    let mut client = match login(passage.addr, &params).await {
        Ok(LoginOutcome::Configuration(client, ..)) => client,
        Ok(_) => panic!("login did not reach configuration\n{}", passage.log()),
        Err(e) => panic!("login failed: {e}\n{}", passage.log()),
    };
    client
        .send(0x00, &client_information(locale, protocol))
        .await
        .unwrap();
    client
}

async fn until_final(client: &mut Client) -> Configured {
    final_packet_traced(client, CLIENT_TIMEOUT)
        .await
        .expect("the router kept talking until the end")
}

#[tokio::test]
async fn a_player_waits_for_a_sleeping_backend_and_is_sent_there_once_it_is_up() {
    let orchestrator = HttpStub::start(r#"{"ready": false}"#).await;
    orchestrator.set_route("/servers/survival/wake", 202, "{}");
    let passage = wake_on_join(&orchestrator, "");
    let mut client = configuring(&passage, "Steve", 772, "de_de").await;
    let waiting = tokio::spawn(async move { until_final(&mut client).await });

    // The backend is woken once, then polled while the player waits.
    orchestrator
        .wait_for_request("POST", "/servers/survival/wake")
        .await;
    let polls = |stub: &HttpStub| {
        stub.requests()
            .iter()
            .filter(|(m, p, _)| m == "GET" && p == "/servers/survival")
            .count()
    };
    // At poll_ms = 100, 30 polls take 3 s: three client timeouts, fifteen
    // keep-alive intervals.
    while polls(&orchestrator) < 30 {
        orchestrator.wait_for_hits(orchestrator.hits() + 1).await;
    }
    orchestrator.set_route("/servers/survival", 200, r#"{"ready": true}"#);
    let done = waiting.await.unwrap();

    assert_eq!(done.id, 0x0B, "transferred: {}", passage.log());
    assert_eq!(parse_transfer(&done.body), ("10.0.0.5".to_owned(), 25565));
    assert!(done.keep_alives >= 5, "{} keep-alives", done.keep_alives);
    assert!(done.longest_silence < CLIENT_TIMEOUT);
    // 1.21.6+: the plugin's message in a dialog, in the player's language,
    // shown once (it did not change) and cleared before the Transfer.
    assert_eq!(done.dialogs.len(), 1, "{:?}", done.dialogs);
    let dialog = &done.dialogs[0];
    assert_eq!(dialog["type"], "minecraft:notice");
    assert_eq!(dialog["title"], "Bitte warten");
    assert_eq!(
        dialog_lines(dialog),
        ["survival wird für dich gestartet, einen Moment …"]
    );
    assert_eq!(dialog["can_close_with_escape"], 0);
    assert_eq!(done.cleared, 1);
    let wakes = orchestrator
        .requests()
        .iter()
        .filter(|(m, ..)| m == "POST")
        .count();
    assert_eq!(wakes, 1, "woken once (wake_every_ms is 10 s)");
    passage.wait_for_log(&["player waits", "Steve"]);
    passage.wait_for_log(&["waking survival", "wake-on-join"]);
    passage.wait_for_log(&["wait over", "Steve"]);
}

#[tokio::test]
async fn the_wait_gives_up_at_max_wait_ms_with_a_message() {
    let orchestrator = HttpStub::start(r#"{"ready": false}"#).await;
    orchestrator.set_route("/servers/survival/wake", 202, "{}");
    let passage = wake_on_join(&orchestrator, "[routing]\nmax_wait_ms = 1500\n");
    let started = Instant::now();
    // 1.21.1 has no dialogs: the player sees the loading screen.
    let mut client = configuring(&passage, "Alex", 767, "fr_fr").await;
    let done = until_final(&mut client).await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // ... and not much later: the router pauses at least poll_ms (100 ms)
    // between rounds, so a wait that ended at 1.5 s asked the orchestrator at
    // most 16 times however fast or slow the machine is.
    let polls = orchestrator
        .requests()
        .iter()
        .filter(|(m, p, _)| m == "GET" && p == "/servers/survival")
        .count();
    assert!((1..=16).contains(&polls), "{polls} polls");
    assert_eq!(done.id, 0x02, "disconnected");
    assert_eq!(
        nbt_text(&done.body),
        "Aucun serveur ne s'est libéré à temps. Veuillez réessayer plus tard."
    );
    assert!(done.dialogs.is_empty() && done.cleared == 0);
    assert!(done.keep_alives >= 3, "{} keep-alives", done.keep_alives);
    passage.wait_for_log(&["routing.max_wait_ms", "giving up", "Alex"]);
    let metrics = passage_tests::http_get(passage.metrics_addr(), "/metrics")
        .await
        .unwrap()
        .1;
    assert!(metrics.contains("passage_players_waiting 0"), "{metrics}");
    assert!(
        metrics
            .contains("passage_connections_total{state=\"waiting\",outcome=\"wait_timed_out\"} 1"),
        "{metrics}"
    );
}

fn queue(seat_secs: u32) -> Passage {
    let config = format!(
        r#"
[auth]
mode = "offline"
[limits]
login_per_second = 0
[timeouts]
keep_alive_ms = 200
[plugins.queue]
target = {{ id = "event", host = "10.0.0.9", port = 25565 }}
seats = 1
seat_secs = {seat_secs}
poll_ms = 100
"#
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("queue", plugin_wasm("queue"))],
        ..Default::default()
    })
}

#[tokio::test]
async fn the_queue_shows_positions_and_lets_players_in_as_seats_free() {
    let passage = queue(2);
    let mut a = configuring(&passage, "A", 772, "en_us").await;
    let seated = until_final(&mut a).await;
    assert_eq!(seated.id, 0x0B);
    assert!(seated.dialogs.is_empty(), "a free seat: no wait");

    let mut b = configuring(&passage, "B", 772, "en_us").await;
    assert_eq!(
        b.next_dialog(Duration::from_secs(10)).await,
        [
            "The server is full. You will join as soon as a seat frees up.",
            "Your position in the queue: 1"
        ]
    );
    let mut c = configuring(&passage, "C", 773, "de_de").await;
    assert_eq!(
        c.next_dialog(Duration::from_secs(10)).await,
        [
            "Der Server ist voll. Du kommst rein, sobald ein Platz frei wird.",
            "Deine Position in der Warteschlange: 2"
        ]
    );
    // B gives up: the router gives B's place back and C moves up.
    drop(b);
    passage.wait_for_log(&["reservation released", "queue"]);
    assert_eq!(
        c.next_dialog(Duration::from_secs(10)).await[1],
        "Deine Position in der Warteschlange: 1"
    );
    // A's seat frees (seat_secs): C gets in.
    let done = until_final(&mut c).await;
    assert_eq!(done.id, 0x0B, "{}", passage.log());
    assert_eq!(parse_transfer(&done.body), ("10.0.0.9".to_owned(), 25565));
    assert!(done.cleared >= 1, "the dialog is taken away");
}

/// A router that shuts down does not keep its waiting players into the drain
/// deadline: they are told to reconnect (the load balancer sends them to another
/// replica), in their language, and the drain finishes.
#[tokio::test]
async fn waiting_players_are_asked_to_reconnect_when_the_router_drains() {
    let orchestrator = HttpStub::start(r#"{"ready": false}"#).await;
    orchestrator.set_route("/servers/survival/wake", 202, "{}");
    let mut passage = wake_on_join(&orchestrator, "[shutdown]\ndrain_timeout_ms = 30000\n");
    let mut client = configuring(&passage, "Steve", 772, "es_es").await;
    let waiting = tokio::spawn(async move { until_final(&mut client).await });
    passage.wait_for_log(&["player waits", "Steve"]);
    passage.signal("TERM");
    let done = waiting.await.unwrap();
    assert_eq!(done.id, 0x02, "disconnected");
    assert_eq!(
        nbt_text(&done.body),
        "Este servidor se está reiniciando. Vuelve a conectarte para continuar."
    );
    assert_eq!(
        done.cleared, 1,
        "the dialog is taken away before the Disconnect"
    );
    passage.wait_for_log(&["drained: every connection finished"]);
    assert_eq!(passage.wait_exit(Duration::from_secs(20)), Some(0));
}
