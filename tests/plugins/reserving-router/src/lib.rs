//! `reserving-router`: a router plugin (contract 0.2.0) for tests. Each target has a
//! number of slots; `route` reserves a slot on the first target with one free and
//! answers the reservation `<id>#<counter>`, or no target when all are full;
//! `release` frees the slot again. A player named `Trap` makes it panic. With
//! `gate_url` set, a player named `Slow` is held until `GET <gate_url>/Slow`
//! answers, so a test decides when the call ends.
//!
//! ```toml
//! [plugins.reserving-router]
//! gate_url = "http://127.0.0.1:8080/gate"   # optional
//! targets = [
//!     { id = "lobby-1", host = "10.0.0.1", port = 25565, slots = 2 },
//!     { id = "lobby-2", host = "10.0.0.2", port = 25565, slots = 1 },
//! ]
//! ```

use std::collections::HashMap;

use passage_sdk::{Config, Player, Plugin, Routed, RouterPlugin, Target, log};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetConfig {
    id: String,
    host: String,
    port: u16,
    slots: u32,
}

#[derive(Debug)]
struct Slots {
    target: TargetConfig,
    used: u32,
}

#[derive(Debug)]
pub struct Reserving {
    targets: Vec<Slots>,
    /// Reservation -> index in `targets`.
    reservations: HashMap<String, usize>,
    counter: u64,
    gate_url: Option<String>,
}

impl Plugin for Reserving {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["targets", "gate_url"])?;
        let targets = config.get("targets").ok_or("`targets` is missing")?;
        let targets: Vec<TargetConfig> =
            serde_json::from_value(targets.clone()).map_err(|e| format!("`targets`: {e}"))?;
        for (i, t) in targets.iter().enumerate() {
            if targets[..i].iter().any(|o| o.id == t.id) {
                return Err(format!("`targets`: id `{}` appears twice", t.id));
            }
        }
        Ok(Reserving {
            targets: targets
                .into_iter()
                .map(|target| Slots { target, used: 0 })
                .collect(),
            reservations: HashMap::new(),
            counter: 0,
            gate_url: config.get_str("gate_url")?.map(str::to_owned),
        })
    }
}

impl RouterPlugin for Reserving {
    fn route(&mut self, player: &Player) -> Result<Option<Routed>, String> {
        if player.name == "Trap" {
            panic!("reserving-router: deliberate panic");
        }
        if player.name == "Slow"
            && let Some(gate) = &self.gate_url
        {
            log::info("holding Slow at the gate");
            passage_sdk::http::get(&format!("{gate}/Slow"), std::time::Duration::from_secs(120))?;
        }
        let Some(index) = self.targets.iter().position(|s| s.used < s.target.slots) else {
            log::debug(&format!("every target is full; none for {}", player.name));
            return Ok(None);
        };
        let slots = &mut self.targets[index];
        slots.used += 1;
        self.counter += 1;
        let t = &slots.target;
        let reservation = format!("{}#{}", t.id, self.counter);
        self.reservations.insert(reservation.clone(), index);
        Ok(Some(Routed::reserved(
            Target::new(&t.id, &t.host, t.port).with("free", t.slots - slots.used),
            reservation,
        )))
    }

    fn release(&mut self, reservation: &str) {
        match self.reservations.remove(reservation) {
            Some(index) => {
                self.targets[index].used -= 1;
                log::info(&format!("released {reservation}"));
            }
            None => log::warn(&format!("release of unknown reservation `{reservation}`")),
        }
    }
}

passage_sdk::export_router!(Reserving);

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Reserving {
        let config = Config::from_json(
            r#"{"targets":[{"id":"a","host":"10.0.0.1","port":25565,"slots":1},
                           {"id":"b","host":"10.0.0.2","port":25566,"slots":1}]}"#,
        )
        .unwrap();
        Reserving::new(config).unwrap()
    }

    #[test]
    fn reserves_first_free_slot_until_full() {
        let mut r = router();
        let p = Player::example();
        let first = r.route(&p).unwrap().unwrap();
        assert_eq!(first.target.id, "a");
        assert_eq!(first.reservation.as_deref(), Some("a#1"));
        let second = r.route(&p).unwrap().unwrap();
        assert_eq!(
            (second.target.host.as_str(), second.target.port),
            ("10.0.0.2", 25566)
        );
        assert_eq!(second.reservation.as_deref(), Some("b#2"));
        assert!(r.route(&p).unwrap().is_none());
        r.release("a#1");
        r.release("a#1"); // unknown now: logged, nothing freed twice
        assert_eq!(
            r.route(&p).unwrap().unwrap().reservation.as_deref(),
            Some("a#3")
        );
        assert!(r.route(&p).unwrap().is_none());
    }

    #[test]
    fn rejects_bad_config() {
        for bad in [
            r#"{}"#,
            r#"{"targets":[{"id":"a","host":"h","port":1}]}"#,
            r#"{"targets":[{"id":"a","host":"h","port":1,"slots":1},{"id":"a","host":"h","port":2,"slots":1}]}"#,
            r#"{"targets":[],"extra":1}"#,
        ] {
            assert!(
                Reserving::new(Config::from_json(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
