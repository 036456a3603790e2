//! A player waiting in the configuration state: keep-alives while routing takes
//! longer than the keep-alive interval (the plugin call is held at a gate the test
//! opens), answers to them that never count as excess packets however long the
//! wait (a long resource-pack download), and the bound on everything else.

use passage_tests::client::{
    Client, LoginOutcome, LoginParams, client_information, final_packet, login,
};
use passage_tests::http_stub::HttpStub;
use passage_tests::{Passage, PassageSpec, parse_transfer, plugin_wasm, string, varint};

/// Offline logins from one address; keep-alives every 20 ms.
fn config(extra: &str, gate: &HttpStub) -> String {
    format!(
        "[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 0\n[timeouts]\nkeep_alive_ms = 20\n\
         [plugin_runtime.grants.pick]\ncall_timeout_ms = 60000\nhttp_allow = [\"{}\"]\n\
         [plugins.fixed-discovery]\ntargets = [\n\
           {{ id = \"lobby-1\", host = \"10.0.0.1\", port = 25565, metadata = {{ gate_url = \"{}\" }} }},\n\
         ]\n{extra}",
        gate.addr,
        gate.url("/gate"),
    )
}

/// Bounds a wait that a working router always ends, so a broken one fails the
/// test instead of hanging it.
const NO_HANG: std::time::Duration = std::time::Duration::from_secs(30);

async fn recv(client: &mut Client) -> (i32, Vec<u8>) {
    tokio::time::timeout(NO_HANG, client.recv())
        .await
        .expect("a packet from the router")
        .unwrap()
}

fn start(config: &str) -> Passage {
    Passage::start(PassageSpec {
        config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    })
}

async fn configuring(router: &Passage, name: &str) -> Client {
    let params = LoginParams::new(775, name, None);
    let LoginOutcome::Configuration(mut client, ..) = login(router.addr, &params).await.unwrap()
    else {
        panic!("{name}: login failed\n{}", router.log())
    };
    client
        .send(0x00, &client_information("en_us", 775))
        .await
        .unwrap();
    client
}

/// A routing decision held for many keep-alive intervals: the client hears a
/// Keep Alive every interval (without them a vanilla client would leave), answers
/// each (many more answers than the bound on ignored packets), and is transferred
/// when the plugin finally answers.
#[tokio::test]
async fn keep_alives_flow_while_routing_takes_longer_than_the_interval() {
    let gate = HttpStub::start("").await;
    let router = start(&config("", &gate));
    let mut client = configuring(&router, "Slow").await;
    gate.wait_parked("Slow").await;
    let mut answered = 0;
    while answered < 80 {
        let (id, body) = recv(&mut client).await;
        assert_eq!(id, 0x04, "only keep-alives while the router waits");
        assert_eq!(body.len(), 8, "a Keep Alive carries an i64");
        client.send(0x04, &body).await.unwrap();
        answered += 1;
    }
    // Still waiting on the plugin all along.
    assert!(gate.paths().iter().all(|p| p == "/gate/Slow"));
    gate.open("Slow");
    let (id, body, _) = final_packet(&mut client).await.unwrap();
    assert_eq!(id, 0x0B, "Transfer\n{}", router.log());
    assert_eq!(parse_transfer(&body).0, "10.0.0.1");
    router.wait_for_log(&["gate opened for Slow"]);
}

/// A forced resource pack that takes many keep-alive intervals to download: the
/// answers to the router's keep-alives do not count toward the bound on packets
/// the router ignores, so a slow download is never taken for abuse.
#[tokio::test]
async fn answers_to_keep_alives_during_a_long_pack_download_are_not_excess_packets() {
    let gate = HttpStub::start("").await;
    let packs = "[[resource_packs]]\nurl = \"https://packs.example.com/big.zip\"\n\
                 hash = \"0123456789abcdef0123456789abcdef01234567\"\nforced = true\n";
    let router = start(&config(packs, &gate));
    let mut client = configuring(&router, "Alex").await;
    let (id, body) = recv(&mut client).await;
    assert_eq!(id, 0x09, "Add Resource Pack");
    let uuid = body[..16].to_vec();
    let answer = |result: i32| {
        let mut a = uuid.clone();
        varint(&mut a, result);
        a
    };
    client.send(0x06, &answer(3)).await.unwrap(); // accepted
    let mut answered = 0;
    while answered < 100 {
        let (id, body) = recv(&mut client).await;
        assert_eq!(id, 0x04);
        client.send(0x04, &body).await.unwrap();
        answered += 1;
    }
    client.send(0x06, &answer(4)).await.unwrap(); // downloaded
    client.send(0x06, &answer(0)).await.unwrap(); // loaded
    let (id, body, _) = final_packet(&mut client).await.unwrap();
    assert_eq!(id, 0x0B, "Transfer after the pack\n{}", router.log());
    assert_eq!(parse_transfer(&body).0, "10.0.0.1");
}

/// Everything else a client may send while waiting is bounded: brand messages
/// past the bound, or answers to keep-alives that were never sent, close the
/// connection with a log line saying why.
#[tokio::test]
async fn packets_past_the_bound_close_the_connection() {
    let gate = HttpStub::start("").await;
    let router = start(&config("", &gate));
    // 65 plugin messages (brand) while the router waits on the plugin.
    let mut client = configuring(&router, "Slow1").await;
    gate.wait_parked("Slow1").await;
    let mut brand = Vec::new();
    string(&mut brand, "minecraft:brand");
    string(&mut brand, "vanilla");
    for _ in 0..65 {
        client.send(0x02, &brand).await.unwrap();
    }
    assert!(client.closed().await, "still open after 65 ignored packets");
    router.wait_for_log(&[
        "closing: malformed packet",
        "configuration (too many packets)",
    ]);
    // Keep-alive answers with ids the router never sent count too.
    let mut client = configuring(&router, "Slow2").await;
    gate.wait_parked("Slow2").await;
    for forged in 0..65i64 {
        client
            .send(0x04, &(1_000_000 + forged).to_be_bytes())
            .await
            .unwrap();
    }
    assert!(client.closed().await, "still open after 65 forged answers");
    router.wait_for_log_count(&["configuration (too many packets)"], 2);
    // (Where the bound lies, 64 tolerated and the 65th not, is a unit test of
    // `connection::configuration`.)
}
