//! `passage plugin simulate FILE`: runs a strategy (or router) plugin through
//! the real runtime — the router's loader, limits and pools — against players
//! and targets generated or read from files, and prints what it chose, how
//! often, and how long each call took. Nobody is routed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rand::{Rng, SeedableRng};

use crate::config::Config;
use crate::plugins::TargetSet;
use crate::plugins::pool::Role;
use crate::plugins::types::{Placement, Player, PlayerContext, Selection, Target};

/// What answers for the simulated players.
enum Chooser {
    Router(Arc<crate::plugins::Pool<crate::plugins::roles::Router>>),
    Strategy(Arc<crate::plugins::Pool<crate::plugins::roles::Strategy>>),
}

/// Bounds on what a simulation reads or generates.
const MAX_PLAYERS: usize = 100_000;
const MAX_TARGETS: usize = 10_000;
const MAX_FILE_BYTES: u64 = 16 << 20;

pub struct Options<'a> {
    pub players: usize,
    pub players_file: Option<&'a Path>,
    pub targets: usize,
    pub targets_file: Option<&'a Path>,
    /// The address players typed (generated players).
    pub address: String,
    pub seed: u64,
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    ensure!(
        size <= MAX_FILE_BYTES,
        "{} is {size} bytes, over the limit of {MAX_FILE_BYTES}",
        path.display()
    );
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Targets from a file: `[{"id", "host", "port", "metadata": {..}}]` or
/// `{"targets": [..]}` (what `fixed-discovery` and `http-discovery` read).
pub fn targets_from_file(path: &Path) -> anyhow::Result<Vec<Target>> {
    let json = read_json(path)?;
    let list = json
        .get("targets")
        .unwrap_or(&json)
        .as_array()
        .with_context(|| {
            format!(
                "{}: a list of targets, or {{\"targets\": [...]}}",
                path.display()
            )
        })?;
    ensure!(
        !list.is_empty() && list.len() <= MAX_TARGETS,
        "{}: between 1 and {MAX_TARGETS} targets",
        path.display()
    );
    let mut targets = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let at = |k: &str| format!("{}: targets[{i}].{k}", path.display());
        let text = |k: &str| -> anyhow::Result<String> {
            t.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .with_context(|| format!("{} must be a non-empty string", at(k)))
        };
        let port = match t.get("port") {
            None => 25565,
            Some(p) => p
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .with_context(|| format!("{} must be 1-65535", at("port")))?,
        };
        let mut metadata = Vec::new();
        if let Some(meta) = t.get("metadata") {
            for (k, v) in meta
                .as_object()
                .with_context(|| format!("{} must be a table", at("metadata")))?
            {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => bail!(
                        "{} must be a string, number or boolean",
                        at(&format!("metadata.{k}"))
                    ),
                };
                metadata.push((k.clone(), v));
            }
        }
        targets.push(Target {
            id: text("id")?,
            host: text("host")?,
            port,
            metadata,
        });
    }
    Ok(targets)
}

/// Players from a file: `[{"name", "uuid"?, "client_ip"?, "server_address"?,
/// "locale"?, "last_target"?}]`.
pub fn players_from_file(path: &Path, address: &str) -> anyhow::Result<Vec<Player>> {
    let json = read_json(path)?;
    let list = json
        .as_array()
        .with_context(|| format!("{}: a list of players", path.display()))?;
    ensure!(
        !list.is_empty() && list.len() <= MAX_PLAYERS,
        "{}: between 1 and {MAX_PLAYERS} players",
        path.display()
    );
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let field = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let name = field("name")
                .filter(|n| !n.is_empty() && n.len() <= 16)
                .with_context(|| {
                    format!("{}: players[{i}].name: 1 to 16 characters", path.display())
                })?;
            let mut player = generated_player(i, address);
            player.uuid = field("uuid").unwrap_or_else(|| offline_uuid(&name));
            player.name = name;
            if let Some(ip) = field("client_ip") {
                player.client_ip = ip;
            }
            if let Some(a) = field("server_address") {
                player.server_address = a;
            }
            player.locale = field("locale").or(player.locale);
            player.last_target = field("last_target");
            Ok(player)
        })
        .collect()
}

fn offline_uuid(name: &str) -> String {
    uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())
        .hyphenated()
        .to_string()
}

fn generated_player(i: usize, address: &str) -> Player {
    let name = format!("Player{i:04}");
    Player {
        uuid: offline_uuid(&name),
        name,
        client_ip: format!("192.0.2.{}", i % 254 + 1),
        protocol: 767,
        server_address: address.to_owned(),
        server_port: 25565,
        locale: Some("en_us".to_owned()),
        last_target: None,
    }
}

/// The simulation's targets, as `network.targets()` gives them.
struct GivenTargets(Vec<Target>);

impl crate::plugins::host_api::NetworkView for GivenTargets {
    fn targets(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Target>> + Send + '_>> {
        Box::pin(std::future::ready(self.0.clone()))
    }
}

/// `count` targets with the metadata the shipped strategies read: `players`
/// (random), `max_players` (100), `group` (lobby/survival/creative in turn) and
/// `weight` (1-4).
pub fn generated_targets(count: usize, seed: u64) -> Vec<Target> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| Target {
            id: format!("target-{}", i + 1),
            host: format!("10.0.{}.{}", (i + 1) / 256, (i + 1) % 256),
            port: 25565,
            metadata: vec![
                ("players".to_owned(), rng.gen_range(0..100u32).to_string()),
                ("max_players".to_owned(), "100".to_owned()),
                (
                    "group".to_owned(),
                    ["lobby", "survival", "creative"][i % 3].to_owned(),
                ),
                ("weight".to_owned(), rng.gen_range(1..5u32).to_string()),
            ],
        })
        .collect()
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// Runs the simulation; the report.
pub async fn simulate(
    file: &Path,
    config: &Config,
    options: Options<'_>,
) -> anyhow::Result<String> {
    let name = super::name_of_file(file)?;
    let players = match options.players_file {
        Some(path) => players_from_file(path, &options.address)?,
        None => {
            ensure!(
                (1..=MAX_PLAYERS).contains(&options.players),
                "--players: between 1 and {MAX_PLAYERS}"
            );
            (0..options.players)
                .map(|i| generated_player(i, &options.address))
                .collect()
        }
    };
    let (targets, targets_from) = match options.targets_file {
        Some(path) => (targets_from_file(path)?, path.display().to_string()),
        None => {
            ensure!(
                (1..=MAX_TARGETS).contains(&options.targets),
                "--targets: between 1 and {MAX_TARGETS}"
            );
            (
                generated_targets(options.targets, options.seed),
                "generated".to_owned(),
            )
        }
    };
    let runtime = Arc::new(crate::plugins::Runtime::new(
        config.plugin_runtime.cache_dir(),
    )?);
    // What `network.targets()` answers here, as discovery would in a router:
    // a placement router that places players on discovered targets sees them.
    runtime
        .services()
        .set_network(Arc::new(GivenTargets(targets.clone())));
    let loaded = crate::plugins::registry::load_one(runtime, config, &name, file).await?;
    // A router answers for the logins it serves; otherwise the strategy.
    let chooser = match (loaded.router_pool(), loaded.strategy_pool()) {
        (Some(router), _) => Chooser::Router(router.clone()),
        (None, Some(strategy)) => Chooser::Strategy(strategy.clone()),
        (None, None) => {
            bail!("it is neither a strategy nor a router plugin: nothing to simulate")
        }
    };
    let (role, contract) = match &chooser {
        Chooser::Router(r) => (Role::Router, r.contract()),
        Chooser::Strategy(s) => (Role::Strategy, s.contract()),
    };
    let set = TargetSet { id: 1, targets };
    let context = PlayerContext::default();
    let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
    let (mut none, mut reserved, mut rejected, mut waited) = (0usize, 0usize, 0usize, 0usize);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut latencies = Vec::with_capacity(players.len());
    for player in &players {
        let started = Instant::now();
        // `Some(id)`, `None` for no target; rejections and waits counted apart.
        let answer = match &chooser {
            Chooser::Router(router) => {
                router
                    .place(player, &context)
                    .await
                    .map(|(placement, _)| match placement {
                        Placement::Placed {
                            target,
                            reservation,
                            ..
                        } => {
                            reserved += usize::from(reservation.is_some());
                            Some(target.id)
                        }
                        Placement::None => None,
                        Placement::Reject(_) => {
                            rejected += 1;
                            None
                        }
                        Placement::Wait { .. } => {
                            waited += 1;
                            None
                        }
                    })
            }
            Chooser::Strategy(strategy) => {
                strategy
                    .select(&set, player, &context)
                    .await
                    .map(|selection| match selection {
                        Selection::Target { id, .. } => Some(id),
                        Selection::None => None,
                        Selection::Reject(_) => {
                            rejected += 1;
                            None
                        }
                        Selection::Wait(_) => {
                            waited += 1;
                            None
                        }
                    })
            }
        };
        latencies.push(started.elapsed());
        match answer {
            Ok(Some(id)) => *chosen.entry(id).or_default() += 1,
            Ok(None) => none += 1,
            Err(e) => *errors.entry(e.to_string()).or_default() += 1,
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let total = players.len();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plugin:    {name} ({role}, contract {})",
        contract.as_str()
    );
    let _ = writeln!(
        out,
        "players:   {total} {}",
        if options.players_file.is_some() {
            "from the file"
        } else {
            "generated"
        }
    );
    if role == Role::Router {
        let _ = writeln!(
            out,
            "targets:   the router's own, or these {} ({targets_from}) if it asks network.targets()",
            set.targets.len()
        );
    } else {
        let _ = writeln!(out, "targets:   {} ({targets_from})", set.targets.len());
    }
    let _ = writeln!(out, "chosen:");
    let width = chosen.keys().map(String::len).max().unwrap_or(6).max(6);
    let mut rows: Vec<(&String, &usize)> = chosen.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let share = |n: usize| 100.0 * n as f64 / total as f64;
    for (id, n) in rows {
        let _ = writeln!(out, "  {id:<width$}  {n:>7}  {:5.1}%", share(*n));
    }
    let _ = writeln!(
        out,
        "  {:<width$}  {none:>7}  {:5.1}%",
        "(none)",
        share(none)
    );
    if rejected > 0 || waited > 0 {
        let _ = writeln!(
            out,
            "  of which: {rejected} refused with a reason, {waited} asked to wait"
        );
    }
    for (e, n) in &errors {
        let _ = writeln!(out, "  error ({n}x): {e}");
    }
    if role == Role::Router {
        let _ = writeln!(
            out,
            "reserved:  {reserved} (never released: as if every player joined)"
        );
    }
    let _ = writeln!(
        out,
        "latency:   min {}, median {}, p99 {}, max {} per call ({} calls; the first call also hands the targets over)",
        micros(latencies[0]),
        micros(pct(0.5)),
        micros(pct(0.99)),
        micros(latencies[latencies.len() - 1]),
        latencies.len()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_inputs_are_deterministic_and_bounded() {
        let a = generated_targets(5, 7);
        assert_eq!(a.len(), 5);
        let again = generated_targets(5, 7);
        assert!(a.iter().zip(&again).all(|(x, y)| x.metadata == y.metadata));
        assert_eq!(a[0].id, "target-1");
        assert!(a.iter().all(|t| t.metadata.len() == 4));
        let p = generated_player(3, "play.example.com");
        assert_eq!(p.name, "Player0003");
        assert_eq!(p.uuid.len(), 36);
    }

    #[test]
    fn target_files_are_checked_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.json");
        std::fs::write(
            &f,
            r#"{"targets":[{"id":"a","host":"10.0.0.1","metadata":{"players":3,"vip":true}}]}"#,
        )
        .unwrap();
        let t = targets_from_file(&f).unwrap();
        assert_eq!(t[0].port, 25565);
        assert_eq!(
            t[0].metadata,
            [
                ("players".into(), "3".into()),
                ("vip".into(), "true".into())
            ]
        );
        std::fs::write(&f, r#"[{"id":"a","host":"h","port":0}]"#).unwrap();
        let e = targets_from_file(&f).unwrap_err().to_string();
        assert!(e.contains("targets[0].port"), "{e}");
    }
}
