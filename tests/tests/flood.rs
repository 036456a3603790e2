//! Floods at the edge: sockets that never speak, from one address and from many,
//! connections that never read, against the real binary. Each test checks that
//! another client is still served, and how the router made room (its log and its
//! metrics).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use passage_tests::client::{LoginOutcome, LoginParams, client_information, login};
use passage_tests::http_stub::HttpStub;
use passage_tests::{
    Passage, PassageSpec, expect_closed, frame, handshake, http_get, ping, plugin_wasm,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// Bounds a wait a working router always ends.
const NO_HANG: Duration = Duration::from_secs(30);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A TCP connection from `source` (a loopback address: all of 127.0.0.0/8 is
/// this machine), optionally with a tiny receive buffer.
async fn connect_from(addr: SocketAddr, source: IpAddr, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.connect(addr).await.unwrap()
}

/// A ping from `source`.
async fn ping_from(addr: SocketAddr, source: IpAddr) -> anyhow::Result<serde_json::Value> {
    let mut stream = connect_from(addr, source, None).await;
    let mut out = handshake(775, "play.example.com", addr.port(), 1);
    out.extend(frame(0x00, &[]));
    stream.write_all(&out).await?;
    let (id, body) = tokio::time::timeout(NO_HANG, passage_tests::read_frame(&mut stream))
        .await
        .map_err(|_| anyhow::anyhow!("no answer"))??;
    anyhow::ensure!(id == 0x00, "Status Response expected, got {id:#x}");
    let mut cursor = &body[..];
    Ok(serde_json::from_str(&passage_tests::take_string(
        &mut cursor,
    ))?)
}

/// The value of the sample whose line starts with `series`, 0 when absent.
async fn sample(router: &Passage, series: &str) -> f64 {
    let (_, text) = http_get(router.metrics_addr(), "/metrics").await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Polls `/metrics` until `series` reaches `at_least`.
async fn wait_for_sample(router: &Passage, series: &str, at_least: f64) {
    let deadline = tokio::time::Instant::now() + NO_HANG;
    loop {
        let now = sample(router, series).await;
        if now >= at_least {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} stayed at {now}, below {at_least}\n{}",
            router.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One address holds every socket it can and reopens the ones the router
/// closes; with the default per-address cap it holds 64, and another address's
/// pings are all answered. (Before the per-address cap, the flood took every
/// slot: 3 of 25 pings from another address were answered.)
#[tokio::test]
async fn one_address_cannot_take_every_slot() {
    let router = Passage::start(PassageSpec {
        // A handshake deadline longer than the test: only the caps close sockets.
        config: "[timeouts]\nhandshake_ms = 60000\n[limits]\nmax_connections = 200\nstatus_per_second = 0\n",
        ..Default::default()
    });
    let attacker = ip("127.0.0.1");
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(connect_from(router.addr, attacker, None).await);
    }
    // 64 are held; every one past the cap was closed at accept.
    wait_for_sample(
        &router,
        r#"passage_connections_rejected_total{reason="max_connections_per_address"}"#,
        236.0,
    )
    .await;
    for _ in 0..25 {
        let status = ping_from(router.addr, ip("127.0.0.2")).await.unwrap();
        assert!(status["version"].is_object(), "{status}");
    }
    // The attacker reopens what is closed: still capped.
    for _ in 0..100 {
        held.push(connect_from(router.addr, attacker, None).await);
    }
    wait_for_sample(
        &router,
        r#"passage_connections_rejected_total{reason="max_connections_per_address"}"#,
        336.0,
    )
    .await;
    ping_from(router.addr, ip("127.0.0.2")).await.unwrap();
    router.wait_for_log(&[
        "connection refused at accept",
        "limits.max_connections_per_address",
    ]);
}

/// Many addresses fill every slot with sockets that never speak: a newcomer
/// still gets in, because the oldest connection without a handshake gives its
/// slot up.
#[tokio::test]
async fn a_full_router_sheds_the_oldest_silent_connection_for_a_newcomer() {
    let router = Passage::start(PassageSpec {
        config: "[timeouts]\nhandshake_ms = 60000\n[limits]\nmax_connections = 50\n\
                 max_connections_per_address = 0\nstatus_per_second = 0\n",
        ..Default::default()
    });
    let mut silent = Vec::new();
    for i in 0..50u8 {
        silent.push(connect_from(router.addr, ip(&format!("127.0.1.{i}")), None).await);
    }
    wait_for_sample(&router, "passage_connections_active", 50.0).await;
    for i in 0..10u8 {
        // Full: the ping takes the slot of the oldest silent socket...
        ping_from(router.addr, ip("127.0.0.2")).await.unwrap();
        // ...and once it is done, another silent socket fills the router again.
        let deadline = tokio::time::Instant::now() + NO_HANG;
        while sample(&router, "passage_connections_active").await > 49.0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the ping never ended"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        silent.push(connect_from(router.addr, ip(&format!("127.0.2.{i}")), None).await);
        wait_for_sample(&router, "passage_connections_active", 50.0).await;
    }
    // The ten oldest silent sockets were closed to make room, the others not.
    for stream in &mut silent[..10] {
        expect_closed(stream, NO_HANG).await.unwrap();
    }
    assert_eq!(
        sample(
            &router,
            r#"passage_connections_shed_total{reason="no_handshake"}"#
        )
        .await,
        10.0
    );
    assert_eq!(
        sample(
            &router,
            r#"passage_connections_rejected_total{reason="max_connections"}"#
        )
        .await,
        0.0
    );
}

/// Every slot held by logins past their handshake (held at a gate in the
/// strategy): a newcomer from another address takes the oldest slot of the
/// address holding the most; a newcomer from that same address is refused.
#[tokio::test]
async fn a_full_router_sheds_a_connection_of_the_busiest_address() {
    let gate = HttpStub::start("").await;
    let config = format!(
        "[auth]\nmode = \"offline\"\n[limits]\nmax_connections = 3\nmax_connections_per_address = 0\n\
         login_per_second = 0\nstatus_per_second = 0\n\
         [plugin_runtime.grants.pick]\ncall_timeout_ms = 60000\nhttp_allow = [\"{}\"]\n\
         [plugins.fixed-discovery]\ntargets = [{{ id = \"a\", host = \"10.0.0.1\", port = 25565, metadata = {{ gate_url = \"{}\" }} }}]\n",
        gate.addr,
        gate.url("/gate")
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    });
    let mut parked = Vec::new();
    for (name, source) in [
        ("Slow1", "127.0.0.1"),
        ("Slow2", "127.0.0.1"),
        ("Slow3", "127.0.0.3"),
    ] {
        let mut params = LoginParams::new(775, name, None);
        params.source_ip = Some(ip(source));
        let LoginOutcome::Configuration(mut client, ..) =
            login(router.addr, &params).await.unwrap()
        else {
            panic!("{name}: login failed")
        };
        client
            .send(0x00, &client_information("en_us", 775))
            .await
            .unwrap();
        gate.wait_parked(name).await;
        parked.push(client);
    }
    // From the busiest address itself: nothing to gain, refused at accept.
    assert!(ping_from(router.addr, ip("127.0.0.1")).await.is_err());
    wait_for_sample(
        &router,
        r#"passage_connections_rejected_total{reason="max_connections"}"#,
        1.0,
    )
    .await;
    // From elsewhere: Slow1, the oldest of 127.0.0.1, gives its slot up.
    ping_from(router.addr, ip("127.0.0.2")).await.unwrap();
    assert!(parked[0].closed().await, "Slow1 was shed");
    wait_for_sample(
        &router,
        r#"passage_connections_shed_total{reason="busiest_address"}"#,
        1.0,
    )
    .await;
    router.wait_for_log(&["gave its slot to a newcomer (busiest_address)"]);
    gate.open("Slow2");
    gate.open("Slow3");
    for client in &mut parked[1..] {
        let (id, _, _) = passage_tests::client::final_packet(client).await.unwrap();
        assert_eq!(id, 0x0B, "the others are transferred");
    }
}

/// A client that never reads a large status answer (a full 32 K-unit MOTD, far
/// more than the socket buffers hold): the write waits for a window that never
/// opens, until the status deadline ends the connection and frees its slot.
#[tokio::test]
async fn a_client_that_never_reads_is_dropped_at_the_state_deadline() {
    let motd = "€".repeat(30_000); // 90 KB of UTF-8, 30 000 UTF-16 units
    let config = format!(
        "[timeouts]\nstatus_ms = 1000\n[limits]\nstatus_per_second = 0\n\
         [plugins.fixed-status]\nmotd = \"{motd}\"\n"
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("fixed-status", plugin_wasm("fixed-status"))],
        ..Default::default()
    });
    // Readers get the whole answer.
    let status = ping(router.addr, 775, "play.example.com").await.unwrap();
    assert_eq!(status.status["description"]["text"], motd.as_str());
    let mut stuck = connect_from(router.addr, ip("127.0.0.1"), Some(1024)).await;
    let mut out = handshake(775, "play.example.com", router.addr.port(), 1);
    out.extend(frame(0x00, &[]));
    stuck.write_all(&out).await.unwrap();
    router.wait_for_log(&[
        "closing: timed out in state status writing to a client that does not read",
    ]);
    wait_for_sample(
        &router,
        r#"passage_connections_total{state="status",outcome="timeout"}"#,
        1.0,
    )
    .await;
    assert_eq!(sample(&router, "passage_connections_active").await, 0.0);
    drop(stuck);
}

/// A login flood against a strategy with one instance whose every call takes
/// 200 ms (it asks a slow backend): most logins find the instance busy for their
/// whole deadline. That is load, not a broken plugin: it is counted as saturation,
/// never toward the failure threshold, so the strategy is never marked unhealthy;
/// the fallback strategy routes those players meanwhile. (Before, each of these
/// counted as a missed deadline and five in a row backed the plugin off.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_plugin_is_not_a_broken_plugin() {
    let slow = HttpStub::start("").await;
    let config = format!(
        "[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 0\nmax_connections_per_address = 0\n\
         [routing]\nstrategy = \"pick\"\nfallback_strategy = \"player-fill\"\n\
         [plugin_runtime.grants.pick]\ncall_timeout_ms = 1000\nmax_instances = 1\nhttp_allow = [\"{}\"]\n\
         [plugins.fixed-discovery]\ntargets = [{{ id = \"a\", host = \"10.0.0.1\", port = 25565, \
         metadata = {{ gate_url = \"{}\", players = 1, max_players = 10 }} }}]\n",
        slow.addr,
        slow.url("/delay/200")
    );
    let router = std::sync::Arc::new(Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    }));
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..20 {
        let addr = router.addr;
        logins.spawn(async move {
            let params = LoginParams::new(775, &format!("Slow{i}"), None);
            passage_tests::client::login_to_final_packet(addr, &params, "en_us").await
        });
    }
    while let Some(done) = logins.join_next().await {
        let (id, _, _) = done.unwrap().unwrap();
        assert_eq!(id, 0x0B, "every player is transferred\n{}", router.log());
    }
    // 20 calls of 200 ms each cannot fit one instance within a 1 s wait.
    let busy = sample(&router, r#"passage_plugin_saturated_total{plugin="pick"}"#).await;
    assert!(busy >= 10.0, "{busy} calls found the instance busy");
    assert_eq!(
        sample(
            &router,
            r#"passage_plugin_deadline_hits_total{plugin="pick"}"#
        )
        .await,
        0.0
    );
    assert_eq!(
        sample(&router, r#"passage_plugin_unhealthy{plugin="pick"}"#).await,
        0.0
    );
    assert!(
        !router.log().contains("plugin unhealthy"),
        "{}",
        router.log()
    );
    router.wait_for_log(&["strategy failed", "is busy: no instance came free"]);
}
