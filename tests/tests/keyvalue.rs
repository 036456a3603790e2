//! Plugin state shared by router replicas (`wasi:keyvalue` + `keyvalue-ext`):
//! the shipped `seats` plugin in real routers, on a real `redis-server` (started
//! on a free loopback port, without persistence, killed on drop) and on the
//! embedded store. Three replicas never over-fill a backend; waiting players
//! see one line across replicas; a Redis outage gives the plugin's chosen
//! answer without a hang, and the routers serve again once it is back; a
//! bucket that was not granted is refused; TLS with a password works.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use passage_tests::client::{
    Client, Configured, LoginOutcome, LoginParams, client_information, final_packet_traced, login,
    login_to_final_packet,
};
use passage_tests::redis_server::{RedisServer, Tls, unavailable};
use passage_tests::{Passage, PassageSpec, http_get, nbt_text, parse_transfer, plugin_wasm, skip};

/// Bounds waits a working router always ends, so a broken one fails the test
/// instead of hanging it (not a speed requirement).
const NO_HANG: Duration = Duration::from_secs(30);

const FULL_EN: &str = "Every server is full. Please try again later.";
const UNAVAILABLE_EN: &str = "Seats cannot be counted right now. Please try again in a moment.";

/// Two backends of `capacity` seats each.
fn seats_config(store: &str, plugin: &str) -> String {
    format!(
        r#"
[auth]
mode = "offline"
[limits]
login_per_second = 0
max_connections_per_address = 0
[timeouts]
keep_alive_ms = 200
[plugin_runtime.keyvalue]
{store}
[plugin_runtime.grants.seats]
keyvalue = ["seats"]
[plugins.seats]
{plugin}
"#
    )
}

fn two_backends(capacity: u32, extra: &str) -> String {
    format!(
        "backends = [\n  {{ id = \"a\", host = \"10.0.0.1\", port = 25565, capacity = {capacity} }},\n  \
         {{ id = \"b\", host = \"10.0.0.2\", port = 25565, capacity = {capacity} }},\n]\nseat_secs = 600\n{extra}"
    )
}

fn router(config: &str) -> Passage {
    Passage::start(PassageSpec {
        config,
        plugins: vec![("seats", plugin_wasm("seats"))],
        ..Default::default()
    })
}

/// What one login ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    Transfer(String),
    Disconnect(String),
}

async fn one_login(router: std::net::SocketAddr, name: &str) -> Ended {
    let params = LoginParams::new(767, name, None);
    let (id, body, _) =
        tokio::time::timeout(NO_HANG, login_to_final_packet(router, &params, "en_us"))
            .await
            .unwrap_or_else(|_| panic!("{name}: no final packet within {NO_HANG:?}"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    match id {
        0x0B => Ended::Transfer(parse_transfer(&body).0),
        0x02 => Ended::Disconnect(nbt_text(&body)),
        other => panic!("{name}: final packet {other:#x}"),
    }
}

/// `count` logins spread round-robin over `routers`, `parallel` at a time.
async fn logins(routers: &[std::net::SocketAddr], count: usize, parallel: usize) -> Vec<Ended> {
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for i in 0..count {
        let addr = routers[i % routers.len()];
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            one_login(addr, &format!("player{i}")).await
        }));
    }
    let mut ended = Vec::new();
    for t in tasks {
        ended.push(t.await.unwrap());
    }
    ended
}

/// Transfers per host, and the disconnect messages with their counts.
fn tally(ended: &[Ended]) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut hosts = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for e in ended {
        match e {
            Ended::Transfer(h) => *hosts.entry(h.clone()).or_default() += 1,
            Ended::Disconnect(m) => *refused.entry(m.clone()).or_default() += 1,
        }
    }
    (hosts, refused)
}

fn redis() -> Option<RedisServer> {
    if let Some(why) = unavailable() {
        skip(&why);
        return None;
    }
    Some(RedisServer::start().unwrap_or_else(|e| panic!("redis-server: {e}")))
}

/// The issue's test: three replicas, one Redis, 2 backends of 50 seats and
/// 300 logins spread over the replicas: exactly 100 transferred (50 to each
/// backend, never more), 200 told the network is full.
#[tokio::test]
async fn three_replicas_sharing_redis_never_overfill_a_backend() {
    let Some(redis) = redis() else { return };
    let config = seats_config(
        &format!("url = \"{}\"", redis.url()),
        &two_backends(50, "when_full = \"reject\""),
    );
    let routers: Vec<Passage> = (0..3).map(|_| router(&config)).collect();
    let addrs: Vec<_> = routers.iter().map(|r| r.addr).collect();
    let ended = logins(&addrs, 300, 30).await;
    let (hosts, refused) = tally(&ended);
    let on = |h: &str| hosts.get(h).copied().unwrap_or(0);
    assert_eq!(
        (on("10.0.0.1"), on("10.0.0.2")),
        (50, 50),
        "transfers per backend: {hosts:?}, refusals: {refused:?}"
    );
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused.get(FULL_EN), Some(&200), "{refused:?}");
    // Each replica served a third of the logins, so each took part in the race.
    for r in &routers {
        let metrics = http_get(r.metrics_addr(), "/metrics").await.unwrap().1;
        assert!(
            metrics.contains(
                r#"passage_keyvalue_calls_total{plugin="seats",op="acquire",outcome="ok"}"#
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("passage_keyvalue_backend_up 1"),
            "{metrics}"
        );
    }
    // What Redis holds: 50 holders per backend.
    for backend in ["a", "b"] {
        let key = format!("passage:kv:seats:seats:{backend}");
        assert_eq!(redis.command(&["ZCARD", &key]).unwrap(), ":50");
    }
}

/// The last seat raced for by three replicas at once, many times: players
/// are logged in up to the configuration state on each replica, then all
/// three send their settings in the same instant (that is when the router
/// asks the plugin), so their `acquire`s meet in Redis. Exactly one gets the
/// seat every time; a check-then-take in two steps lets two in.
#[tokio::test]
async fn the_last_seat_raced_for_by_three_replicas_goes_to_one() {
    let Some(redis) = redis() else { return };
    let config = seats_config(
        &format!("url = \"{}\"", redis.url()),
        "backends = [{ id = \"last\", host = \"10.0.0.9\", port = 25565, capacity = 1 }]\n\
         seat_secs = 600\nwhen_full = \"reject\"\n",
    );
    let routers: Vec<Passage> = (0..3).map(|_| router(&config)).collect();
    for round in 0..30 {
        let mut clients = Vec::new();
        for (i, r) in routers.iter().enumerate() {
            let params = LoginParams::new(767, &format!("r{round}p{i}"), None);
            let Ok(LoginOutcome::Configuration(client, ..)) = login(r.addr, &params).await else {
                panic!("login failed\n{}", r.log())
            };
            clients.push(client);
        }
        let settings = client_information("en_us", 767);
        let sent = clients.iter_mut().map(|c| c.send(0x00, &settings));
        for result in futures_join(sent).await {
            result.unwrap();
        }
        let mut transferred = 0;
        for mut c in clients {
            if until_final(&mut c).await.id == 0x0B {
                transferred += 1;
            }
        }
        assert_eq!(
            transferred, 1,
            "round {round}: {transferred} players got the one seat"
        );
        assert_eq!(
            redis
                .command(&["DEL", "passage:kv:seats:seats:last"])
                .unwrap(),
            ":1"
        );
    }
}

/// Polls every future together (no extra dependency for one `join_all`).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.expect("ready")).collect()
}

/// One router with no `[plugin_runtime.keyvalue] url`: the embedded store,
/// nothing to install, the same counts.
#[tokio::test]
async fn the_embedded_store_counts_the_same_within_one_process() {
    let config = seats_config("", &two_backends(50, "when_full = \"reject\""));
    let router = router(&config);
    router.wait_for_log(&["key-value buckets in this process's memory"]);
    let ended = logins(&[router.addr], 300, 30).await;
    let (hosts, refused) = tally(&ended);
    assert_eq!(
        hosts,
        BTreeMap::from([("10.0.0.1".to_owned(), 50), ("10.0.0.2".to_owned(), 50)])
    );
    assert_eq!(refused, BTreeMap::from([(FULL_EN.to_owned(), 200)]));
}

/// Without `backends`, seats places players on what discovery finds, each
/// target with the seats its metadata gives (`seats`) or `default_capacity`,
/// and follows the discovered list.
#[tokio::test]
async fn seats_counts_the_seats_of_the_targets_discovery_finds() {
    // a and b say how many seats they have; c does not.
    let router = |seats: &str| {
        let config = format!(
            "{}[plugins.fixed-discovery]\ntargets = [\n  \
             {{ id = \"a\", host = \"10.0.0.1\", port = 25565, metadata = {{ seats = 3 }} }},\n  \
             {{ id = \"b\", host = \"10.0.0.2\", port = 25565, metadata = {{ seats = 2 }} }},\n  \
             {{ id = \"c\", host = \"10.0.0.3\", port = 25565 }},\n]\n",
            seats_config(
                "",
                &format!("when_full = \"reject\"\nseat_secs = 600\n{seats}")
            )
        );
        Passage::start(PassageSpec {
            config: &config,
            plugins: vec![
                ("seats", plugin_wasm("seats")),
                ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ],
            ..Default::default()
        })
    };
    let host = |h: &str, n: usize| (h.to_owned(), n);

    // No default: c gets no one.
    let without_default = router("");
    let (hosts, refused) = tally(&logins(&[without_default.addr], 12, 4).await);
    assert_eq!(
        hosts,
        BTreeMap::from([host("10.0.0.1", 3), host("10.0.0.2", 2)])
    );
    assert_eq!(refused, BTreeMap::from([(FULL_EN.to_owned(), 7)]));

    // With a default capacity, c has seats too.
    let with_default = router("default_capacity = 4");
    let (hosts, refused) = tally(&logins(&[with_default.addr], 12, 4).await);
    assert_eq!(
        hosts,
        BTreeMap::from([
            host("10.0.0.1", 3),
            host("10.0.0.2", 2),
            host("10.0.0.3", 4)
        ])
    );
    assert_eq!(refused, BTreeMap::from([(FULL_EN.to_owned(), 3)]));
}

async fn configuring(router: &Passage, name: &str) -> Client {
    let params = LoginParams::new(772, name, None);
    let mut client = match login(router.addr, &params).await {
        Ok(LoginOutcome::Configuration(client, ..)) => client,
        Ok(_) => panic!(
            "{name}: login did not reach configuration\n{}",
            router.log()
        ),
        Err(e) => panic!("{name}: login failed: {e}\n{}", router.log()),
    };
    client
        .send(0x00, &client_information("en_us", 772))
        .await
        .unwrap();
    client
}

/// Reads dialogs until one shows `position` (the line moves on the next poll).
async fn until_position(client: &mut Client, position: u32) {
    let want = format!("Your position in the queue: {position}");
    loop {
        let lines = client.next_dialog(NO_HANG).await;
        if lines.contains(&want) {
            return;
        }
    }
}

async fn until_final(client: &mut Client) -> Configured {
    tokio::time::timeout(NO_HANG, final_packet_traced(client, NO_HANG))
        .await
        .expect("a final packet")
        .expect("the router kept talking")
}

/// Players waiting on three replicas stand in one line: their positions
/// count the others', move up when one leaves, and the front gets the next
/// free seat.
#[tokio::test]
async fn waiting_players_stand_in_one_line_across_replicas() {
    let Some(redis) = redis() else { return };
    let config = seats_config(
        &format!("url = \"{}\"", redis.url()),
        "backends = [{ id = \"event\", host = \"10.0.0.9\", port = 25565, capacity = 1 }]\n\
         seat_secs = 600\npoll_ms = 100\n",
    );
    let routers: Vec<Passage> = (0..3).map(|_| router(&config)).collect();
    // A takes the only seat.
    let mut a = configuring(&routers[0], "A").await;
    let seated = until_final(&mut a).await;
    assert_eq!(seated.id, 0x0B, "{}", routers[0].log());
    assert!(seated.dialogs.is_empty(), "a free seat: no wait");
    // B, C and D wait, each on another replica than the one before.
    let mut b = configuring(&routers[1], "B").await;
    let first = b.next_dialog(NO_HANG).await;
    assert_eq!(
        first,
        [
            "Every server is full. You will join as soon as a seat frees up.",
            "Your position in the queue: 1"
        ]
    );
    let mut c = configuring(&routers[2], "C").await;
    until_position(&mut c, 2).await;
    let mut d = configuring(&routers[0], "D").await;
    until_position(&mut d, 3).await;
    // B gives up: its replica gives its place back, and C and D, on the
    // other two replicas, move up.
    drop(b);
    routers[1].wait_for_log(&["reservation released", "seats"]);
    until_position(&mut c, 1).await;
    until_position(&mut d, 2).await;
    // The seat frees (an operator clears it by hand here; otherwise after
    // seat_secs): the front of the line, C, gets it, and D moves up.
    assert_eq!(
        redis
            .command(&["DEL", "passage:kv:seats:seats:event"])
            .unwrap(),
        ":1"
    );
    let done = until_final(&mut c).await;
    assert_eq!(done.id, 0x0B, "{}", routers[2].log());
    assert_eq!(parse_transfer(&done.body), ("10.0.0.9".to_owned(), 25565));
    until_position(&mut d, 1).await;
}

async fn readyz(router: &Passage) -> u16 {
    http_get(router.metrics_addr(), "/readyz").await.unwrap().0
}

/// Polls `check` (an event with a deadline, not a sleep).
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + NO_HANG;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {NO_HANG:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis dies while the routers serve: a player gets the plugin's chosen
/// answer (a localized refusal from one replica, a wait with the same message
/// from the other, configured `on_store_error = "wait"`), from the plugin and
/// not from a missed deadline, without a hang; the routers keep serving, show
/// the outage (log, metrics, `/readyz` where asked), and transfer again once
/// Redis is back — the waiting player too.
#[tokio::test]
async fn a_redis_outage_gives_the_plugins_answer_and_the_routers_recover() {
    let Some(mut redis) = redis() else { return };
    let store = format!("url = \"{}\"\nready_requires_store = true", redis.url());
    let refusing = router(&seats_config(
        &store,
        &two_backends(50, "on_store_error = \"reject\"\npoll_ms = 100"),
    ));
    let holding = router(&seats_config(
        &format!("url = \"{}\"", redis.url()),
        &two_backends(50, "on_store_error = \"wait\"\npoll_ms = 100"),
    ));
    assert!(matches!(
        one_login(refusing.addr, "before").await,
        Ended::Transfer(_)
    ));
    assert_eq!(readyz(&refusing).await, 200);

    redis.kill();
    let started = Instant::now();
    assert_eq!(
        one_login(refusing.addr, "during").await,
        Ended::Disconnect(UNAVAILABLE_EN.to_owned()),
        "{}",
        refusing.log()
    );
    let refused_after = started.elapsed();
    refusing.wait_for_log(&["WARN", "plugin's key-value call failed: store unavailable"]);
    refusing.wait_for_log(&[
        "seats cannot be counted for during",
        "on_store_error = \"reject\"",
    ]);
    // The plugin answered: its call did not run into its deadline.
    assert!(
        !refusing.log().contains("missed its deadline"),
        "{}",
        refusing.log()
    );
    // The other replica holds its player, showing the same message.
    let mut waiting = configuring(&holding, "patient").await;
    assert_eq!(waiting.next_dialog(NO_HANG).await, [UNAVAILABLE_EN]);
    let waiter = tokio::spawn(async move { until_final(&mut waiting).await });
    // Both routers keep serving the operator; only the one that asks for it
    // says "not ready".
    for r in [&refusing, &holding] {
        assert_eq!(http_get(r.metrics_addr(), "/healthz").await.unwrap().0, 200);
    }
    async fn not(code: impl std::future::Future<Output = u16>) -> bool {
        code.await == 503
    }
    eventually("readyz 503 while Redis is down", || not(readyz(&refusing))).await;
    assert_eq!(readyz(&holding).await, 200);
    let metrics = http_get(refusing.metrics_addr(), "/metrics")
        .await
        .unwrap()
        .1;
    assert!(
        metrics.contains("passage_keyvalue_backend_up 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"passage_keyvalue_calls_total{plugin="seats",op="join",outcome="unavailable"}"#
        ),
        "{metrics}"
    );

    redis.restart().unwrap();
    // The waiting player gets in once the store answers again ...
    let done = tokio::time::timeout(NO_HANG, waiter)
        .await
        .expect("the waiting player's end")
        .unwrap();
    assert_eq!(done.id, 0x0B, "{}", holding.log());
    // ... and so does the next player on the refusing replica.
    let deadline = Instant::now() + NO_HANG;
    loop {
        match one_login(refusing.addr, "after").await {
            Ended::Transfer(_) => break,
            Ended::Disconnect(m) => {
                assert_eq!(m, UNAVAILABLE_EN);
                assert!(
                    Instant::now() < deadline,
                    "no transfer after Redis came back"
                );
            }
        }
    }
    async fn ready(code: impl std::future::Future<Output = u16>) -> bool {
        code.await == 200
    }
    eventually("readyz 200 once Redis is back", || ready(readyz(&refusing))).await;
    refusing.wait_for_log(&["key-value store reachable again"]);
    eprintln!("refused within {refused_after:?} of the outage");
}

/// A Redis that stops answering (paused, as a hung server or a partition
/// would be) rather than refusing connections: each operation is cut at the
/// store's timeout inside the plugin's call, so the player gets the plugin's
/// answer, never the router's "missed its deadline".
#[tokio::test]
async fn a_store_that_does_not_answer_fails_the_operation_not_the_call() {
    let Some(redis) = redis() else { return };
    let router = router(&seats_config(
        // The client's own timeout (80 ms) is longer than the plugin's share of
        // its 100 ms deadline: the host's cut at 50 ms is what answers.
        &format!("url = \"{}\"\ntimeout_ms = 80", redis.url()),
        &two_backends(50, "when_full = \"reject\""),
    ));
    assert!(matches!(
        one_login(router.addr, "before").await,
        Ended::Transfer(_)
    ));
    // Every client's commands wait for 3 s; the plugin's deadline is 100 ms.
    assert_eq!(
        redis.command(&["CLIENT", "PAUSE", "3000", "ALL"]).unwrap(),
        "+OK"
    );
    assert_eq!(
        one_login(router.addr, "paused").await,
        Ended::Disconnect(UNAVAILABLE_EN.to_owned()),
        "{}",
        router.log()
    );
    router.wait_for_log(&[
        "plugin's key-value call failed: store unavailable: no answer within 50 ms",
    ]);
    assert!(
        !router.log().contains("missed its deadline"),
        "{}",
        router.log()
    );
    // Once it answers again, so does the plugin (polled: the pause ends on
    // Redis's clock).
    let deadline = Instant::now() + NO_HANG;
    loop {
        match one_login(router.addr, "after").await {
            Ended::Transfer(_) => break,
            Ended::Disconnect(m) => assert_eq!(m, UNAVAILABLE_EN),
        }
        assert!(Instant::now() < deadline, "no transfer after the pause");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plugin that opens a bucket its grant does not name gets `access-denied`
/// (the seats plugin then refuses its configuration), and the router logs a
/// WARN naming the plugin, the bucket and the key to change.
#[tokio::test]
async fn a_bucket_that_was_not_granted_is_refused_with_a_warning() {
    let config = seats_config("", &two_backends(1, "bucket = \"seats\""))
        .replace("keyvalue = [\"seats\"]", "keyvalue = [\"other\"]");
    let spec = PassageSpec {
        config: &config,
        plugins: vec![("seats", plugin_wasm("seats"))],
        ..Default::default()
    };
    let Err((log, why)) = Passage::try_start(spec) else {
        panic!("the router started with a plugin that was denied its bucket")
    };
    assert!(why.contains("exited"), "{why}");
    assert!(
        log.contains(
            r#"plugin's key-value open denied: bucket "seats" is not in plugin_runtime.grants.seats.keyvalue"#
        ),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("open denied")),
        "{log}"
    );
    assert!(
        log.contains("cannot open bucket `seats`: access denied"),
        "{log}"
    );
}

/// `rediss://` with a private CA and a password read from a file: the seats
/// are counted there; the same server without the password is "unavailable".
#[tokio::test]
async fn redis_over_tls_with_a_password_from_a_file() {
    if let Some(why) = unavailable() {
        return skip(&why);
    }
    let dir = tempfile::tempdir().unwrap();
    let tls = match Tls::generate(dir.path()) {
        Ok(tls) => tls,
        Err(why) => return skip(&format!("no throwaway certificate: {why}")),
    };
    let password = "correct-horse-battery-staple";
    let redis = match RedisServer::start_tls(&tls, password) {
        Ok(r) => r,
        Err(why) if why.contains("TLS") || why.contains("tls") => {
            return skip(&format!("redis-server without TLS support: {why}"));
        }
        Err(why) => panic!("redis-server over TLS: {why}"),
    };
    let password_file = dir.path().join("redis-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let store = |with_password: bool| {
        format!(
            "url = \"rediss://127.0.0.1:{}\"\nca_file = \"{}\"\n{}",
            redis.port,
            tls.ca.display(),
            if with_password {
                format!("password_file = \"{}\"", password_file.display())
            } else {
                String::new()
            }
        )
    };
    let plugin = two_backends(1, "when_full = \"reject\"");
    let good = router(&seats_config(&store(true), &plugin));
    // One seat on each backend: two of four players get in.
    let ended = logins(&[good.addr], 4, 1).await;
    let (hosts, refused) = tally(&ended);
    assert_eq!(
        hosts,
        BTreeMap::from([("10.0.0.1".to_owned(), 1), ("10.0.0.2".to_owned(), 1)]),
        "{}",
        good.log()
    );
    assert_eq!(refused, BTreeMap::from([(FULL_EN.to_owned(), 2)]));
    assert!(
        !good.log().contains(password),
        "the password is never logged"
    );
    let anonymous = router(&seats_config(&store(false), &plugin));
    assert_eq!(
        one_login(anonymous.addr, "nopass").await,
        Ended::Disconnect(UNAVAILABLE_EN.to_owned())
    );
    anonymous.wait_for_log(&["store unavailable"]);
}
