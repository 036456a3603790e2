//! Cost of plugin calls through the real runtime and the real shipped plugins:
//! a status ping, and the discovery + strategy round of one login with 10, 100 and
//! 1000 targets (each with 3 metadata pairs), warm and after the targets changed;
//! and the round of contract 0.3.0: admission (`allowlist`), discovery, and a
//! selection that reads the player's `extra` and returns a change to it
//! (`tests/plugins/v3-roles`).
//!
//! Run with `make bench` (it builds the plugins first).

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{player, pool};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use passage::plugins::roles::{Admission, Discovery, Status, Strategy};
use passage::plugins::types::{Discovered, PlayerContext, StatusRequest};
use passage::plugins::{Runtime, TargetSet};

fn targets_config(n: usize) -> serde_json::Value {
    let targets: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("backend-{i:04}"),
                "host": format!("10.0.{}.{}", i / 250, i % 250 + 1),
                "port": 25565,
                "metadata": {"players": (i * 37) % 100, "max_players": 100, "region": "eu-west"},
            })
        })
        .collect();
    serde_json::json!({ "targets": targets })
}

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let rt = Arc::new(Runtime::new(Some(cache.path().to_path_buf())).unwrap());

    let status = pool::<Status>(&rt, "fixed-status", serde_json::json!({"motd": "hi"}), &[]);
    let request = StatusRequest {
        client_ip: "203.0.113.7".into(),
        protocol: 767,
        server_address: "play.example.com".into(),
        server_port: 25565,
    };
    c.bench_function("status/fixed-status", |b| {
        b.to_async(&tokio)
            .iter(|| async { status.status(&request).await.unwrap() })
    });

    let player = player();
    let context = PlayerContext::default();
    let mut group = c.benchmark_group("login-round");
    for n in [10usize, 100, 1000] {
        let discovery = pool::<Discovery>(&rt, "fixed-discovery", targets_config(n), &[]);
        let strategy = pool::<Strategy>(&rt, "player-fill", serde_json::json!({}), &[]);
        let Discovered::Targets { revision, targets } =
            tokio.block_on(discovery.discover(&player, None)).unwrap()
        else {
            panic!("first discovery lists targets")
        };
        let set = TargetSet { id: 1, targets };

        // The steady state of a login: discovery says "unchanged", the strategy
        // already holds the set and receives only the player.
        group.bench_with_input(BenchmarkId::new("warm", n), &n, |b, _| {
            b.to_async(&tokio).iter(|| async {
                let d = discovery.discover(&player, Some(revision)).await.unwrap();
                assert!(matches!(d, Discovered::Unchanged));
                strategy.select(&set, &player, &context).await.unwrap()
            })
        });
        // The targets changed: discovery returns the whole list and the strategy
        // receives it once before selecting.
        let mut next_id = 2u64;
        group.bench_with_input(BenchmarkId::new("targets-changed", n), &n, |b, _| {
            b.to_async(&tokio).iter(|| {
                next_id += 1;
                let discovery = &discovery;
                let strategy = &strategy;
                let (player, context) = (&player, &context);
                let id = next_id;
                async move {
                    let Discovered::Targets { targets, .. } =
                        discovery.discover(player, None).await.unwrap()
                    else {
                        panic!("no known revision: the list comes back")
                    };
                    let set = TargetSet { id, targets };
                    strategy.select(&set, player, context).await.unwrap()
                }
            })
        });
    }
    group.finish();

    // Contract 0.3.0: the player has data from earlier logins, an admission
    // plugin lets them in, the selection answers with a change to the data.
    let admission = pool::<Admission>(
        &rt,
        "allowlist",
        serde_json::json!({"players": ["Alex", "Steve", "8667ba71-b85a-4004-af54-457a9734eed7"]}),
        &[],
    );
    let mut extra = serde_json::Map::new();
    extra.insert("visits".into(), 41.into());
    extra.insert(
        "backend".into(),
        serde_json::json!({"rank": "vip", "since": 1700000000}),
    );
    let returning = PlayerContext { extra };
    let mut group = c.benchmark_group("login-round-0.3");
    for n in [10usize, 1000] {
        let discovery = pool::<Discovery>(&rt, "fixed-discovery", targets_config(n), &[]);
        let selection = pool::<Strategy>(&rt, "v3-roles", serde_json::json!({}), &[]);
        let Discovered::Targets { revision, targets } =
            tokio.block_on(discovery.discover(&player, None)).unwrap()
        else {
            panic!("first discovery lists targets")
        };
        let set = TargetSet { id: 1, targets };
        group.bench_with_input(BenchmarkId::new("warm", n), &n, |b, _| {
            b.to_async(&tokio).iter(|| async {
                admission.admit(&player, &returning).await.unwrap();
                let d = discovery.discover(&player, Some(revision)).await.unwrap();
                assert!(matches!(d, Discovered::Unchanged));
                selection.select(&set, &player, &returning).await.unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
