//! `seats`: a router plugin (contract 0.3.0) for backends with a fixed number
//! of seats, counted once for every router replica through a key-value bucket
//! the operator grants it (Redis for several replicas, the embedded store for
//! one).
//!
//! A login takes a seat on one of the backends atomically (`acquire` in the
//! bucket: two replicas cannot both take the last seat), for `seat_secs` (how
//! long a player is assumed to stay: the router holds no connection after the
//! transfer, so it cannot see them leave). The reservation names the seat; the
//! router gives it back (`release`) when the player is not sent there after
//! all. When every backend is full the player waits in one line shared by all
//! replicas, seeing their position (`when_full = "wait"`, the default), or is
//! refused with a localized "full" message (`when_full = "reject"`). When the
//! store fails (Redis down), `on_store_error` says what players get: a
//! localized refusal (`"reject"`, the default) or a wait until it is back
//! (`"wait"`).
//!
//! The backends are listed in its table, or (without `backends`) are the
//! targets the discovery plugins find (`network.targets`), each with the
//! number of seats its metadata `capacity_key` gives (default `seats`), else
//! `default_capacity`; a discovered target with neither has no seats.
//!
//! ```toml
//! [plugins.seats]
//! bucket = "seats"
//! backends = [
//!   { id = "event-1", host = "10.0.0.11", port = 25565, capacity = 50 },
//!   { id = "event-2", host = "10.0.0.12", port = 25565, capacity = 50 },
//! ]
//! seat_secs = 1800
//! when_full = "wait"
//! on_store_error = "reject"
//! poll_ms = 1000
//!
//! [plugin_runtime.grants.seats]
//! keyvalue = ["seats"]
//! ```

use std::time::Duration;

use passage_sdk::keyvalue::{Bucket, Error as StoreError};
use passage_sdk::{
    Config, ExtraKeys, Message, Place, Placement, Player, PlayerContext, Plugin, Target, Wait, log,
};

/// One backend and its seats.
#[derive(Debug, Clone)]
pub struct Backend {
    pub target: Target,
    pub capacity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    Wait,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    Reject,
    Wait,
}

/// Where the backends and their seats come from.
#[derive(Debug, Clone)]
pub enum Backends {
    /// Listed in the plugin's table.
    Listed(Vec<Backend>),
    /// The targets the discovery plugins find, asked for on every placement
    /// (the router holds them at most a second old).
    Discovered {
        /// The metadata key holding a target's number of seats.
        capacity_key: String,
        /// Seats of a target whose metadata does not say.
        default_capacity: Option<u32>,
    },
}

pub struct Seats {
    bucket: Bucket,
    backends: Backends,
    seat_for: Duration,
    when_full: WhenFull,
    on_store_error: OnStoreError,
    poll_ms: u32,
    /// How long a waiting player keeps their place without asking again.
    line_for: Duration,
}

/// Reservation prefixes: `seat:<uuid>:<backend id>` and `line:<uuid>`.
const SEAT: &str = "seat:";
const LINE: &str = "line:";
/// The bucket's keys: the holders of each backend's seats, and the line.
const SEATS_KEY: &str = "seats:";
const LINE_KEY: &str = "line";
/// The longest backend id: a reservation is at most 256 bytes.
const MAX_ID: usize = 128;
/// Most backends.
const MAX_BACKENDS: usize = 1000;
/// Most seats on one backend.
const MAX_CAPACITY: u32 = 100_000;

fn positive(config: &Config, key: &str, default: i64, max: i64) -> Result<i64, String> {
    match config.get_i64(key)? {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(v),
        Some(v) => Err(format!("`{key}` must be between 1 and {max}, got {v}")),
    }
}

fn choice<T: Copy>(
    config: &Config,
    key: &str,
    options: &[(&str, T)],
    default: T,
) -> Result<T, String> {
    match config.get_str(key)? {
        None => Ok(default),
        Some(s) => options
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                format!("`{key}` must be one of {}, got \"{s}\"", names.join(", "))
            }),
    }
}

fn backends(config: &Config) -> Result<Vec<Backend>, String> {
    let list = config
        .get("backends")
        .ok_or("`backends` is required: a list of { id, host, port, capacity }")?
        .as_array()
        .ok_or("`backends` must be a list of { id, host, port, capacity }")?;
    if list.is_empty() || list.len() > MAX_BACKENDS {
        return Err(format!("`backends` must list 1 to {MAX_BACKENDS} backends"));
    }
    let mut capacities = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let obj = item
            .as_object()
            .ok_or_else(|| format!("`backends[{i}]` must be a table"))?;
        if let Some(unknown) = obj
            .keys()
            .find(|k| !["id", "host", "port", "capacity"].contains(&k.as_str()))
        {
            return Err(format!("`backends[{i}].{unknown}`: unknown key"));
        }
        let capacity = obj
            .get("capacity")
            .ok_or_else(|| format!("`backends[{i}].capacity` is required"))?
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .filter(|c| *c <= MAX_CAPACITY)
            .ok_or_else(|| format!("`backends[{i}].capacity` must be 0 to {MAX_CAPACITY}"))?;
        capacities.push(capacity);
    }
    let targets = passage_sdk::targets_from_json(list, ExtraKeys::Ignore)
        .map_err(|e| e.replace("`targets", "`backends"))?;
    targets
        .into_iter()
        .zip(capacities)
        .map(|(target, capacity)| {
            if target.id.len() > MAX_ID {
                return Err(format!(
                    "backend id `{}` is longer than {MAX_ID} bytes",
                    target.id
                ));
            }
            Ok(Backend { target, capacity })
        })
        .collect()
}

/// The discovered targets with their seats: `capacity_key` in a target's
/// metadata (a count), else `default_capacity`; a target with neither, or with
/// an id too long for a reservation, has none and is left out.
pub fn discovered_backends(
    targets: Vec<Target>,
    capacity_key: &str,
    default_capacity: Option<u32>,
) -> Vec<Backend> {
    targets
        .into_iter()
        .filter(|t| t.id.len() <= MAX_ID)
        .filter_map(|target| {
            let capacity = match target.meta_count(capacity_key) {
                Some(n) => u32::try_from(n).ok()?.min(MAX_CAPACITY),
                None => default_capacity?,
            };
            Some(Backend { target, capacity })
        })
        .take(MAX_BACKENDS)
        .collect()
}

fn full_message() -> Message {
    Message::localized(
        "seats.full",
        "Every server is full. Please try again later.",
    )
    .translation("en_us", "Every server is full. Please try again later.")
    .translation(
        "de_de",
        "Alle Server sind voll. Bitte versuche es später noch einmal.",
    )
    .translation(
        "fr_fr",
        "Tous les serveurs sont pleins. Veuillez réessayer plus tard.",
    )
    .translation(
        "es_es",
        "Todos los servidores están llenos. Inténtalo de nuevo más tarde.",
    )
}

fn waiting_message() -> Message {
    Message::localized(
        "seats.waiting",
        "Every server is full. You will join as soon as a seat frees up.",
    )
    .translation(
        "en_us",
        "Every server is full. You will join as soon as a seat frees up.",
    )
    .translation(
        "de_de",
        "Alle Server sind voll. Du kommst rein, sobald ein Platz frei wird.",
    )
    .translation(
        "fr_fr",
        "Tous les serveurs sont pleins. Vous entrerez dès qu'une place se libère.",
    )
    .translation(
        "es_es",
        "Todos los servidores están llenos. Entrarás en cuanto se libere una plaza.",
    )
}

fn unavailable_message() -> Message {
    Message::localized(
        "seats.unavailable",
        "Seats cannot be counted right now. Please try again in a moment.",
    )
    .translation(
        "en_us",
        "Seats cannot be counted right now. Please try again in a moment.",
    )
    .translation(
        "de_de",
        "Die Plätze können gerade nicht gezählt werden. Bitte versuche es gleich noch einmal.",
    )
    .translation(
        "fr_fr",
        "Les places ne peuvent pas être comptées pour le moment. Veuillez réessayer dans un instant.",
    )
    .translation(
        "es_es",
        "Ahora mismo no se pueden contar las plazas. Inténtalo de nuevo en un momento.",
    )
}

/// A stable spread of players over backends: where a player's search starts.
fn start_index(uuid: &str, n: usize) -> usize {
    // FNV-1a: the same start on every replica, whatever its hasher seeds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uuid.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % n as u64) as usize
}

impl Plugin for Seats {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&[
            "bucket",
            "backends",
            "seat_secs",
            "when_full",
            "on_store_error",
            "poll_ms",
            "capacity_key",
            "default_capacity",
        ])?;
        let bucket_name = config.get_name("bucket", "seats")?;
        let backends = if config.get("backends").is_some() {
            for key in ["capacity_key", "default_capacity"] {
                if config.get(key).is_some() {
                    return Err(format!(
                        "`{key}` is for discovered backends: leave out `backends` to use them"
                    ));
                }
            }
            Backends::Listed(backends(&config)?)
        } else {
            let default_capacity = match config.get_i64("default_capacity")? {
                None => None,
                Some(c) if (0..=i64::from(MAX_CAPACITY)).contains(&c) => u32::try_from(c).ok(),
                Some(c) => {
                    return Err(format!(
                        "`default_capacity` must be 0 to {MAX_CAPACITY}, got {c}"
                    ));
                }
            };
            Backends::Discovered {
                capacity_key: config.get_name("capacity_key", "seats")?,
                default_capacity,
            }
        };
        let seat_secs = positive(&config, "seat_secs", 1800, 30 * 24 * 3600)?;
        let poll_ms = positive(&config, "poll_ms", 1000, 30_000)?;
        let when_full = choice(
            &config,
            "when_full",
            &[("wait", WhenFull::Wait), ("reject", WhenFull::Reject)],
            WhenFull::Wait,
        )?;
        let on_store_error = choice(
            &config,
            "on_store_error",
            &[
                ("reject", OnStoreError::Reject),
                ("wait", OnStoreError::Wait),
            ],
            OnStoreError::Reject,
        )?;
        let bucket = Bucket::open(&bucket_name).map_err(|e| match e {
            StoreError::AccessDenied => format!(
                "cannot open bucket `{bucket_name}`: access denied; the operator grants it with \
                 [plugin_runtime.grants.<this plugin>] keyvalue = [\"{bucket_name}\"]"
            ),
            e => format!("cannot open bucket `{bucket_name}`: {e}"),
        })?;
        let poll_ms = u32::try_from(poll_ms).map_err(|_| "`poll_ms` is too large")?;
        Ok(Seats {
            bucket,
            backends,
            seat_for: Duration::from_secs(seat_secs.unsigned_abs()),
            when_full,
            on_store_error,
            poll_ms,
            line_for: Duration::from_millis(u64::from(poll_ms) * 3).max(Duration::from_secs(10)),
        })
    }
}

impl Seats {
    /// The backends now: the listed ones, or those discovery finds.
    fn current_backends(&self) -> std::borrow::Cow<'_, [Backend]> {
        match &self.backends {
            Backends::Listed(list) => std::borrow::Cow::Borrowed(list),
            Backends::Discovered {
                capacity_key,
                default_capacity,
            } => std::borrow::Cow::Owned(discovered_backends(
                passage_sdk::network::targets(),
                capacity_key,
                *default_capacity,
            )),
        }
    }

    /// A seat on one of the backends, if one has a free seat: the player's
    /// own first (a player who holds a seat renews it), then the others.
    fn take_seat(&self, backends: &[Backend], uuid: &str) -> Result<Option<Place>, StoreError> {
        let n = backends.len();
        if n == 0 {
            return Ok(None);
        }
        let start = start_index(uuid, n);
        for i in 0..n {
            let backend = &backends[(start + i) % n];
            let key = format!("{SEATS_KEY}{}", backend.target.id);
            if self
                .bucket
                .acquire(&key, uuid, backend.capacity, self.seat_for)?
                .is_some()
            {
                return Ok(Some(Place::reserved(
                    backend.target.clone(),
                    format!("{SEAT}{uuid}:{}", backend.target.id),
                )));
            }
        }
        Ok(None)
    }

    /// Seats free on every backend together.
    fn free_seats(&self, backends: &[Backend]) -> Result<u64, StoreError> {
        let mut free = 0u64;
        for backend in backends {
            let held = self
                .bucket
                .holders(&format!("{SEATS_KEY}{}", backend.target.id))?;
            free += u64::from(backend.capacity.saturating_sub(held));
        }
        Ok(free)
    }

    fn decide(&self, uuid: &str) -> Result<Place, StoreError> {
        let backends = self.current_backends();
        if backends.is_empty() {
            // Discovery found nothing with seats: the host's "no server available".
            return Ok(Place::None);
        }
        if self.when_full == WhenFull::Reject {
            return Ok(self
                .take_seat(&backends, uuid)?
                .unwrap_or_else(|| Place::Reject(full_message())));
        }
        // First come, first served: a player may take a free seat when they
        // are at the front of the line, or no further back than seats are free.
        let position = self.bucket.join(LINE_KEY, uuid, self.line_for)?;
        if (position == 1 || u64::from(position) <= self.free_seats(&backends)?)
            && let Some(place) = self.take_seat(&backends, uuid)?
        {
            self.bucket.leave(LINE_KEY, uuid)?;
            return Ok(place);
        }
        Ok(Place::wait_holding(
            Wait::retry_after_ms(self.poll_ms)
                .with_message(waiting_message())
                .at_position(position),
            format!("{LINE}{uuid}"),
        ))
    }
}

impl Placement for Seats {
    fn place(&mut self, player: &Player, _context: &PlayerContext) -> Result<Place, String> {
        match self.decide(&player.uuid) {
            Ok(place) => Ok(place),
            Err(e) => {
                log::warn(&format!(
                    "seats cannot be counted for {}: {e}; answering with on_store_error = {}",
                    player.name,
                    match self.on_store_error {
                        OnStoreError::Reject => "\"reject\"",
                        OnStoreError::Wait => "\"wait\"",
                    }
                ));
                Ok(match self.on_store_error {
                    OnStoreError::Reject => Place::Reject(unavailable_message()),
                    OnStoreError::Wait => Place::wait(
                        Wait::retry_after_ms(self.poll_ms).with_message(unavailable_message()),
                    ),
                })
            }
        }
    }

    fn release(&mut self, reservation: &str) {
        let result = if let Some(rest) = reservation.strip_prefix(SEAT) {
            match rest.split_once(':') {
                Some((uuid, id)) => self
                    .bucket
                    .release(&format!("{SEATS_KEY}{id}"), uuid)
                    .map(|_| ()),
                None => Ok(()),
            }
        } else if let Some(uuid) = reservation.strip_prefix(LINE) {
            self.bucket.leave(LINE_KEY, uuid).map(|_| ())
        } else {
            Ok(())
        };
        if let Err(e) = result {
            // The seat or place then frees itself when its time runs out.
            log::warn(&format!("cannot give back {reservation}: {e}"));
        }
    }
}

passage_sdk::export_placement!(Seats);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;
    use passage_sdk::keyvalue::testing;

    fn seats(extra: &str) -> Seats {
        testing::clear();
        Seats::new(
            Config::from_json(&format!(
                r#"{{"backends":[{{"id":"a","host":"10.0.0.1","port":25565,"capacity":2}},{{"id":"b","host":"10.0.0.2","capacity":1}}],"seat_secs":60{extra}}}"#
            ))
            .unwrap(),
        )
        .unwrap()
    }

    fn player(n: usize) -> Player {
        Player {
            uuid: format!("00000000-0000-0000-0000-{n:012}"),
            name: format!("p{n}"),
            ..Player::example()
        }
    }

    fn place(s: &mut Seats, n: usize) -> Place {
        s.place(&player(n), &PlayerContext::default()).unwrap()
    }

    fn host(p: &Place) -> Option<&str> {
        match p {
            Place::Placed(p) => Some(&p.target.host),
            _ => None,
        }
    }

    fn position(p: &Place) -> Option<u32> {
        match p {
            Place::Wait(h) => h.wait.position,
            _ => None,
        }
    }

    #[test]
    fn never_more_than_the_capacity_and_a_full_message_after() {
        let mut s = seats(r#","when_full":"reject""#);
        let hosts: Vec<_> = (0..5)
            .map(|n| host(&place(&mut s, n)).map(str::to_owned))
            .collect();
        let on = |h: &str| hosts.iter().filter(|x| x.as_deref() == Some(h)).count();
        assert_eq!((on("10.0.0.1"), on("10.0.0.2")), (2, 1), "{hosts:?}");
        assert!(
            matches!(place(&mut s, 9), Place::Reject(Message::Localized(l)) if l.key == "seats.full")
        );
        // A player holding a seat keeps it when they log in again.
        let again = (0..5).find(|n| hosts[*n].is_some()).unwrap();
        assert!(host(&place(&mut s, again)).is_some());
        // A released seat is free again; seats free themselves after seat_secs.
        let Place::Placed(p) = place(&mut s, again) else {
            panic!()
        };
        s.release(p.reservation.as_deref().unwrap());
        assert!(host(&place(&mut s, 7)).is_some());
        assert!(host(&place(&mut s, 8)).is_none());
        testing::advance(Duration::from_secs(61));
        assert!(host(&place(&mut s, 8)).is_some());
    }

    #[test]
    fn a_full_network_is_a_line_with_positions() {
        let mut s = seats("");
        let mut reservations = Vec::new();
        for n in 0..3 {
            let Place::Placed(p) = place(&mut s, n) else {
                panic!()
            };
            reservations.push(p.reservation.unwrap());
        }
        assert_eq!(position(&place(&mut s, 10)), Some(1));
        assert_eq!(position(&place(&mut s, 11)), Some(2));
        assert_eq!(position(&place(&mut s, 12)), Some(3));
        assert_eq!(position(&place(&mut s, 11)), Some(2));
        // 10 leaves (the router releases its place in line): the others move up.
        s.release(&format!("line:{}", player(10).uuid));
        assert_eq!(position(&place(&mut s, 12)), Some(2));
        // A seat frees: the front of the line gets it, not whoever asks first.
        s.release(&reservations[0]);
        assert_eq!(position(&place(&mut s, 12)), Some(2));
        assert!(host(&place(&mut s, 11)).is_some());
        assert_eq!(position(&place(&mut s, 12)), Some(1));
    }

    #[test]
    fn a_store_error_is_the_configured_answer() {
        let mut s = seats("");
        testing::fail(Some("redis down"));
        assert!(
            matches!(place(&mut s, 1), Place::Reject(Message::Localized(l)) if l.key == "seats.unavailable")
        );
        let mut s = seats(r#","on_store_error":"wait""#);
        testing::fail(Some("redis down"));
        let Place::Wait(held) = place(&mut s, 1) else {
            panic!()
        };
        assert!(held.reservation.is_none());
        assert!(
            matches!(held.wait.message, Some(Message::Localized(l)) if l.key == "seats.unavailable")
        );
        testing::fail(None);
        assert!(host(&place(&mut s, 1)).is_some());
    }

    #[test]
    fn discovered_targets_have_the_seats_their_metadata_says() {
        let targets = vec![
            Target::new("a", "10.0.0.1", 25565).with("seats", 20),
            Target::new("b", "10.0.0.2", 25565),
            Target::new("c", "10.0.0.3", 25565).with("seats", "many"),
            Target::new(&"x".repeat(MAX_ID + 1), "10.0.0.4", 25565).with("seats", 5),
        ];
        let seats = |default| {
            discovered_backends(targets.clone(), "seats", default)
                .into_iter()
                .map(|b| (b.target.id, b.capacity))
                .collect::<Vec<_>>()
        };
        // Without a default, only targets that say how many seats they have.
        assert_eq!(seats(None), [("a".to_owned(), 20)]);
        assert_eq!(
            seats(Some(3)),
            [
                ("a".to_owned(), 20),
                ("b".to_owned(), 3),
                ("c".to_owned(), 3)
            ]
        );
        // Nothing discovered with seats: the host's "no server available".
        testing::clear();
        let mut s = Seats::new(Config::from_json("{}").unwrap()).unwrap();
        assert!(matches!(place(&mut s, 1), Place::None));
    }

    #[test]
    fn config_errors_name_the_key() {
        let bad = |json: &str| {
            testing::clear();
            Seats::new(Config::from_json(json).unwrap()).err().unwrap()
        };
        // Without `backends`: the discovered targets.
        testing::clear();
        assert!(matches!(
            Seats::new(Config::from_json("{}").unwrap()).map(|s| s.backends),
            Ok(Backends::Discovered { ref capacity_key, default_capacity: None }) if capacity_key == "seats"
        ));
        let e = bad(r#"{"backends":[{"id":"a","host":"h","capacity":1}],"default_capacity":3}"#);
        assert!(
            e.contains("default_capacity") && e.contains("leave out `backends`"),
            "{e}"
        );
        assert!(bad(r#"{"default_capacity":-1}"#).contains("default_capacity"));
        assert!(bad(r#"{"capacity_key":""}"#).contains("capacity_key"));
        assert!(bad(r#"{"backends":[{"id":"a","host":"h"}]}"#).contains("capacity"));
        assert!(
            bad(r#"{"backends":[{"id":"a","host":"h","capacity":1,"x":1}]}"#)
                .contains("backends[0].x")
        );
        let e = bad(r#"{"backends":[{"id":"a","host":"h","capacity":1}],"when_full":"queue"}"#);
        assert!(e.contains("when_full"), "{e}");
        testing::clear();
        testing::deny("seats");
        let e = Seats::new(
            Config::from_json(r#"{"backends":[{"id":"a","host":"h","capacity":1}]}"#).unwrap(),
        )
        .err()
        .unwrap();
        assert!(
            e.contains("access denied") && e.contains("keyvalue = [\"seats\"]"),
            "{e}"
        );
    }
}
