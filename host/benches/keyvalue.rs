//! Cost of a key-value call from a plugin, through the real runtime and the
//! real shipped `seats` plugin: one `place` (one `acquire` in the bucket) and
//! one `release` (one `release` in the bucket) per iteration, on the embedded
//! store and on a `redis-server` on loopback (started here on a free port,
//! without persistence, killed at the end; skipped when there is none). The
//! `queue` plugin's `place` + `release`, which count in the plugin's own
//! memory, is the same two plugin calls without the store.
//!
//! Run with `make bench` (it builds the plugins and installs redis-server).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{player, pool};
use criterion::{Criterion, criterion_group, criterion_main};
use passage::plugins::keyvalue::KeyValue;
use passage::plugins::roles::Router;
use passage::plugins::types::{Placement, Player, PlayerContext};
use passage::plugins::{Pool, Runtime};

fn seats_config() -> serde_json::Value {
    serde_json::json!({
        "backends": [{"id": "a", "host": "10.0.0.1", "port": 25565, "capacity": 50}],
        "when_full": "reject",
        "seat_secs": 600,
    })
}

/// A `redis-server` on a free loopback port, killed when dropped.
struct RedisServer(Child, u16);

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer(child, port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One `place` and one `release` of the plugin's reservation.
async fn round(pool: &Pool<Router>, player: &Player, context: &PlayerContext) {
    let (placed, serial) = pool.place(player, context).await.unwrap();
    let Placement::Placed {
        reservation: Some(token),
        ..
    } = placed
    else {
        panic!("placed with a reservation")
    };
    pool.release(&token, serial).await.unwrap();
}

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = tokio.enter();
    let player = player();
    let context = PlayerContext::default();
    let cache = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("keyvalue");

    // The same two plugin calls, state in the plugin's memory.
    let rt = Arc::new(Runtime::new(Some(cache.path().to_path_buf())).unwrap());
    let queue = pool::<Router>(
        &rt,
        "queue",
        serde_json::json!({"target": {"id": "e", "host": "10.0.0.1", "port": 25565}, "seats": 50}),
        &["seats"],
    );
    group.bench_function("queue place+release (plugin memory)", |b| {
        b.to_async(&tokio)
            .iter(|| async { round(&queue, &player, &context).await })
    });

    let rt = Arc::new(Runtime::new(Some(cache.path().to_path_buf())).unwrap());
    let _ = rt.services().set_keyvalue(KeyValue::memory(64 << 20));
    let seats = pool::<Router>(&rt, "seats", seats_config(), &["seats"]);
    group.bench_function("seats place+release (embedded store)", |b| {
        b.to_async(&tokio)
            .iter(|| async { round(&seats, &player, &context).await })
    });

    match RedisServer::start() {
        Some(redis) => {
            let rt = Arc::new(Runtime::new(Some(cache.path().to_path_buf())).unwrap());
            let config = passage::config::KeyValue {
                url: Some(format!("redis://127.0.0.1:{}", redis.1)),
                timeout_ms: 1000,
                ..Default::default()
            };
            let store = KeyValue::from_config(&config).unwrap();
            let _ = rt.services().set_keyvalue(store);
            let seats = pool::<Router>(&rt, "seats", seats_config(), &["seats"]);
            group.bench_function("seats place+release (redis on loopback)", |b| {
                b.to_async(&tokio)
                    .iter(|| async { round(&seats, &player, &context).await })
            });
            drop(redis);
        }
        None => eprintln!("redis-server not found: the Redis case is skipped (make redis-tools)"),
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
