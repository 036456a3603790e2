//! `queue`: an example router plugin (contract 0.3.0) for a backend with a fixed
//! number of seats, such as an event server. Players beyond the seats wait in
//! line, seeing their position (1.21.6 and newer show it in a dialog), and get
//! in, first come first served, as seats free.
//!
//! A seat is taken when a player is sent to the backend and counts as taken for
//! `seat_secs` (how long a player is assumed to stay; the router holds no
//! connection afterwards, so it cannot see them leave). A player who leaves the
//! line (closes the game) is taken out of it at once: their place in line is a
//! reservation the router gives back when they go.
//!
//! State lives in the plugin's memory, so it is per router replica; the router
//! runs one instance of a router plugin, so within a replica it is exact.
//!
//! ```toml
//! [plugins.queue]
//! target = { id = "event", host = "10.0.0.9", port = 25565 }
//! seats = 100
//! seat_secs = 1800
//! poll_ms = 1000
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use passage_sdk::{
    Config, ExtraKeys, Message, Place, Placement, Player, PlayerContext, Plugin, Target, Wait, log,
};

#[derive(Debug)]
pub struct Queue {
    target: Target,
    seats: usize,
    seat_for: Duration,
    poll_ms: u32,
    /// Seated players (UUID) and when their seat frees.
    seated: HashMap<String, Instant>,
    /// Waiting players, front first, with when they last asked.
    line: VecDeque<(String, Instant)>,
}

const SEAT: &str = "seat:";
const LINE: &str = "line:";

fn positive(config: &Config, key: &str, default: i64) -> Result<i64, String> {
    match config.get_i64(key)? {
        None => Ok(default),
        Some(v) if v > 0 => Ok(v),
        Some(v) => Err(format!("`{key}` must be positive, got {v}")),
    }
}

impl Plugin for Queue {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["target", "seats", "seat_secs", "poll_ms"])?;
        let target = config
            .get("target")
            .ok_or("`target` (the backend behind the queue) is required")?;
        let target =
            passage_sdk::targets_from_json(std::slice::from_ref(target), ExtraKeys::Reject)
                .map_err(|e| format!("`target`: {e}"))?
                .pop()
                .ok_or("`target` is required")?;
        let seats = match config.get_i64("seats")? {
            None => return Err("`seats` is required".to_owned()),
            Some(n) => {
                usize::try_from(n).map_err(|_| format!("`seats` must be 0 or more, got {n}"))?
            }
        };
        let seat_secs = positive(&config, "seat_secs", 1800)?;
        let poll_ms = u32::try_from(positive(&config, "poll_ms", 1000)?)
            .map_err(|_| "`poll_ms` is too large")?;
        Ok(Queue {
            target,
            seats,
            seat_for: Duration::from_secs(seat_secs.unsigned_abs()),
            poll_ms,
            seated: HashMap::new(),
            line: VecDeque::new(),
        })
    }
}

fn waiting_message() -> Message {
    Message::localized(
        "queue.waiting",
        "The server is full. You will join as soon as a seat frees up.",
    )
    .translation(
        "en_us",
        "The server is full. You will join as soon as a seat frees up.",
    )
    .translation(
        "de_de",
        "Der Server ist voll. Du kommst rein, sobald ein Platz frei wird.",
    )
    .translation(
        "fr_fr",
        "Le serveur est plein. Vous entrerez dès qu'une place se libère.",
    )
    .translation(
        "es_es",
        "El servidor está lleno. Entrarás en cuanto se libere una plaza.",
    )
    .translation(
        "pt_br",
        "O servidor está cheio. Você entrará assim que uma vaga abrir.",
    )
}

impl Queue {
    /// Forgets seats whose time is up, and waiting players who stopped asking
    /// (a router that lost them without releasing: a restart).
    fn expire(&mut self, now: Instant) {
        self.seated.retain(|_, until| *until > now);
        let stale = Duration::from_millis(u64::from(self.poll_ms) * 3).max(Duration::from_secs(10));
        self.line
            .retain(|(_, asked)| now.duration_since(*asked) < stale);
    }

    fn decide(&mut self, uuid: &str, now: Instant) -> Place {
        self.expire(now);
        if self.seated.contains_key(uuid) {
            // Seated already (asked again before arriving): the same seat.
            return Place::reserved(self.target.clone(), format!("{SEAT}{uuid}"));
        }
        let index = match self.line.iter().position(|(u, _)| u == uuid) {
            Some(i) => {
                self.line[i].1 = now;
                i
            }
            None => {
                self.line.push_back((uuid.to_owned(), now));
                self.line.len() - 1
            }
        };
        let free = self.seats.saturating_sub(self.seated.len());
        if index < free {
            self.line.remove(index);
            self.seated.insert(uuid.to_owned(), now + self.seat_for);
            return Place::reserved(self.target.clone(), format!("{SEAT}{uuid}"));
        }
        let position = u32::try_from(index - free + 1).unwrap_or(u32::MAX);
        Place::wait_holding(
            Wait::retry_after_ms(self.poll_ms)
                .with_message(waiting_message())
                .at_position(position),
            format!("{LINE}{uuid}"),
        )
    }
}

impl Placement for Queue {
    fn place(&mut self, player: &Player, _context: &PlayerContext) -> Result<Place, String> {
        let place = self.decide(&player.uuid, Instant::now());
        if let Place::Wait(held) = &place {
            log::debug(&format!(
                "{} waits at {:?}",
                player.name, held.wait.position
            ));
        }
        Ok(place)
    }

    fn release(&mut self, reservation: &str) {
        if let Some(uuid) = reservation.strip_prefix(SEAT) {
            // The transfer did not happen: the seat is free again.
            self.seated.remove(uuid);
        } else if let Some(uuid) = reservation.strip_prefix(LINE) {
            self.line.retain(|(u, _)| u != uuid);
        }
    }
}

passage_sdk::export_placement!(Queue);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(seats: usize) -> Queue {
        Queue::new(
            Config::from_json(&format!(
                r#"{{"target":{{"id":"event","host":"10.0.0.9","port":25565}},"seats":{seats},"seat_secs":5}}"#
            ))
            .unwrap(),
        )
        .unwrap()
    }

    fn position(place: &Place) -> Option<u32> {
        match place {
            Place::Wait(held) => held.wait.position,
            _ => None,
        }
    }

    fn seated(place: &Place) -> bool {
        matches!(place, Place::Placed(p) if p.target.id == "event")
    }

    #[test]
    fn first_come_first_served_as_seats_free() {
        let mut q = queue(1);
        let t0 = Instant::now();
        assert!(seated(&q.decide("a", t0)));
        assert_eq!(position(&q.decide("b", t0)), Some(1));
        assert_eq!(position(&q.decide("c", t0)), Some(2));
        // Asking again keeps one's place.
        assert_eq!(position(&q.decide("c", t0)), Some(2));
        // b leaves the line (the router gives its place back): c moves up.
        q.release("line:b");
        assert_eq!(position(&q.decide("c", t0)), Some(1));
        // a's seat frees when its time is up, and c gets it.
        assert!(seated(&q.decide("c", t0 + Duration::from_secs(6))));
    }

    #[test]
    fn the_front_of_the_line_goes_first() {
        let mut q = queue(1);
        let t0 = Instant::now();
        assert!(seated(&q.decide("a", t0)));
        q.decide("b", t0);
        q.decide("c", t0);
        // The seat is free; c asks first, but b is ahead of it.
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(position(&q.decide("c", t1)), Some(1));
        assert!(seated(&q.decide("b", t1)));
        assert_eq!(position(&q.decide("c", t1)), Some(1));
    }

    #[test]
    fn a_seat_given_back_is_free_again_and_silent_waiters_leave() {
        let mut q = queue(1);
        let t0 = Instant::now();
        assert!(seated(&q.decide("a", t0)));
        assert_eq!(position(&q.decide("b", t0)), Some(1));
        q.release("seat:a");
        assert!(seated(&q.decide("b", t0)));
        // c stops asking (its router restarted): after a while it is no longer ahead of d.
        let mut q = queue(0);
        q.decide("c", t0);
        assert_eq!(position(&q.decide("d", t0)), Some(2));
        assert_eq!(
            position(&q.decide("d", t0 + Duration::from_secs(11))),
            Some(1)
        );
    }

    #[test]
    fn config_errors() {
        let e = Queue::new(Config::from_json(r#"{"seats":1}"#).unwrap()).unwrap_err();
        assert!(e.contains("target"), "{e}");
        let e =
            Queue::new(Config::from_json(r#"{"target":{"id":"e","host":"h","port":1}}"#).unwrap())
                .unwrap_err();
        assert!(e.contains("seats"), "{e}");
    }
}
