//! The embedded store: every bucket in this process's memory, shared by every
//! plugin instance (and every plugin granted the same bucket), kept across
//! plugin reloads, gone at exit. One replica's view only: for several
//! replicas, use Redis.
//!
//! One mutex guards everything; nothing awaits while holding it, and every
//! operation is bounded (keys, values, holders and lines are capped by the
//! host before they get here, and the whole store by `limit_bytes`), so each
//! call is one short atomic step. Expired keys, holders and line members are
//! dropped when touched, and by [`Memory::sweep`] (every second).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::LIST_PAGE;
use super::backend::{Backend, BackendError, Fut};

/// Bytes counted per entry beyond its key and value (maps, expiry).
const ENTRY_OVERHEAD: usize = 64;

pub struct Memory {
    state: Mutex<State>,
    limit_bytes: usize,
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, BTreeMap<String, Entry>>,
    /// What the entries cost, as [`Entry::cost`] counts it.
    bytes: usize,
}

struct Entry {
    value: Value,
    expires: Option<Instant>,
}

enum Value {
    Bytes(Vec<u8>),
    /// `acquire`'s holders and until when each holds.
    Holders(HashMap<String, Instant>),
    Line(Line),
}

/// A waiting line: members in the order they joined, each until its time runs out.
#[derive(Default)]
struct Line {
    order: BTreeMap<u64, String>,
    members: HashMap<String, (u64, Instant)>,
    next: u64,
}

impl Line {
    fn prune(&mut self, now: Instant) {
        let order = &mut self.order;
        self.members.retain(|_, (seq, until)| {
            let live = *until > now;
            if !live {
                order.remove(seq);
            }
            live
        });
    }
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }

    fn cost(key: &str, value: &Value) -> usize {
        ENTRY_OVERHEAD
            + key.len()
            + match value {
                Value::Bytes(b) => b.len(),
                Value::Holders(h) => h.keys().map(|k| k.len() + 32).sum(),
                Value::Line(l) => l.members.keys().map(|k| 2 * k.len() + 48).sum(),
            }
    }
}

/// What an update leaves at the key (refused: the entry as it was), and its
/// answer.
type Step<T> = (Option<Entry>, Result<T, BackendError>);

fn wrong_kind<T>(entry: Entry) -> Step<T> {
    (
        Some(entry),
        Err(BackendError::Failed(WRONG_KIND.to_owned())),
    )
}

const WRONG_KIND: &str =
    "WRONGTYPE the key holds another kind of value (a counter of holders, a line or bytes)";

impl Memory {
    pub fn new(limit_bytes: usize) -> Memory {
        Memory {
            state: Mutex::new(State::default()),
            limit_bytes,
        }
    }

    /// Drops what expired every second, for as long as the store is in use.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(store) => store.sweep(Instant::now()),
                    None => return,
                }
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops expired keys, holders and line members.
    pub fn sweep(&self, now: Instant) {
        let mut state = self.lock();
        let mut bytes = 0;
        for bucket in state.buckets.values_mut() {
            bucket.retain(|key, e| {
                if !e.live(now) {
                    return false;
                }
                match &mut e.value {
                    Value::Holders(h) => h.retain(|_, until| *until > now),
                    Value::Line(l) => l.prune(now),
                    Value::Bytes(_) => {}
                }
                bytes += Entry::cost(key, &e.value);
                true
            });
        }
        state.buckets.retain(|_, b| !b.is_empty());
        state.bytes = bytes;
    }

    /// What the entries cost now (for tests and the limit).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Runs `f` on the live entry at `key` (`None` when absent or expired),
    /// then stores what `f` left (`None` deletes). `growth` bounds how many
    /// bytes `f` may add: past the store's limit nothing is done. When `f`
    /// refuses, it hands the entry back unchanged.
    fn update<T>(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        growth: usize,
        f: impl FnOnce(Option<Entry>) -> Step<T>,
    ) -> Result<T, BackendError> {
        let mut state = self.lock();
        let state = &mut *state;
        if state.bytes.saturating_add(growth) > self.limit_bytes {
            return Err(BackendError::Failed(format!(
                "the in-memory store is full ({} MiB, plugin_runtime.keyvalue.memory_limit_mib)",
                self.limit_bytes >> 20
            )));
        }
        let map = state.buckets.entry(bucket.to_owned()).or_default();
        let old = map.remove(key);
        let old_cost = old.as_ref().map_or(0, |e| Entry::cost(key, &e.value));
        let others = state.bytes.saturating_sub(old_cost);
        let (keep, answer) = f(old.filter(|e| e.live(now)));
        let new_cost = keep.as_ref().map_or(0, |e| Entry::cost(key, &e.value));
        state.bytes = others + new_cost;
        if let Some(e) = keep {
            map.insert(key.to_owned(), e);
        }
        if map.is_empty() {
            state.buckets.remove(bucket);
        }
        answer
    }

    fn read<T>(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        f: impl FnOnce(Option<&Entry>) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let state = self.lock();
        let entry = state
            .buckets
            .get(bucket)
            .and_then(|b| b.get(key))
            .filter(|e| e.live(now));
        f(entry)
    }

    pub fn get_at(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        self.read(now, bucket, key, |e| match e.map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b.clone())),
            Some(_) => Err(BackendError::Failed(WRONG_KIND.to_owned())),
        })
    }

    pub fn set_at(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), BackendError> {
        let growth = ENTRY_OVERHEAD + key.len() + value.len();
        self.update(now, bucket, key, growth, |_| {
            let entry = Entry {
                value: Value::Bytes(value),
                expires: ttl.map(|t| now + t),
            };
            (Some(entry), Ok(()))
        })
    }

    pub fn delete_at(&self, now: Instant, bucket: &str, keys: &[String]) {
        for key in keys {
            let _ = self.update(now, bucket, key, 0, |_| (None, Ok(())));
        }
    }

    pub fn exists_at(&self, now: Instant, bucket: &str, key: &str) -> bool {
        self.read(now, bucket, key, |e| Ok(e.is_some()))
            .unwrap_or(false)
    }

    /// Pages in key order; the cursor is how many live keys came before.
    pub fn list_keys_at(
        &self,
        now: Instant,
        bucket: &str,
        cursor: Option<u64>,
    ) -> (Vec<String>, Option<u64>) {
        let state = self.lock();
        let Some(map) = state.buckets.get(bucket) else {
            return (Vec::new(), None);
        };
        let skip = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        let mut live = map.iter().filter(|(_, e)| e.live(now)).map(|(k, _)| k);
        let page: Vec<String> = live.by_ref().skip(skip).take(LIST_PAGE).cloned().collect();
        let more = live.next().is_some();
        let next = skip.saturating_add(page.len()) as u64;
        (page, more.then_some(next))
    }

    /// Counters are decimal ASCII, as Redis keeps them: `get` reads `b"17"` on
    /// both backends.
    pub fn increment_at(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        delta: u64,
    ) -> Result<u64, BackendError> {
        let growth = ENTRY_OVERHEAD + key.len() + 20;
        self.update(now, bucket, key, growth, |old| {
            let (current, expires, old) = match old {
                None => (0, None, None),
                Some(e) => {
                    let Value::Bytes(b) = &e.value else {
                        return wrong_kind(e);
                    };
                    let n = std::str::from_utf8(b)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .filter(|n| *n >= 0);
                    let Some(n) = n else {
                        return (
                            Some(e),
                            Err(BackendError::Failed(
                                "ERR value is not a non-negative integer".to_owned(),
                            )),
                        );
                    };
                    (n.unsigned_abs(), e.expires, Some(e))
                }
            };
            // The same bound as Redis: a signed 64-bit counter.
            let Some(next) = current
                .checked_add(delta)
                .filter(|n| i64::try_from(*n).is_ok())
            else {
                return (
                    old,
                    Err(BackendError::Failed(
                        "ERR increment or decrement would overflow".to_owned(),
                    )),
                );
            };
            let entry = Entry {
                value: Value::Bytes(next.to_string().into_bytes()),
                expires,
            };
            (Some(entry), Ok(next))
        })
    }

    pub fn get_many_at(
        &self,
        now: Instant,
        bucket: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let state = self.lock();
        let map = state.buckets.get(bucket);
        Ok(keys
            .iter()
            .map(|k| {
                // Like Redis MGET: a key of another kind reads as absent.
                match map.and_then(|m| m.get(k)).filter(|e| e.live(now)) {
                    Some(Entry {
                        value: Value::Bytes(b),
                        ..
                    }) => Some(b.clone()),
                    _ => None,
                }
            })
            .collect())
    }

    pub fn acquire_at(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        holder: &str,
        capacity: u32,
        ttl: Duration,
    ) -> Result<Option<u32>, BackendError> {
        let growth = ENTRY_OVERHEAD + key.len() + holder.len() + 32;
        self.update(now, bucket, key, growth, |old| {
            let (mut holders, expires) = match old {
                None => (HashMap::new(), None),
                Some(Entry {
                    value: Value::Holders(h),
                    expires,
                }) => (h, expires),
                Some(e) => return wrong_kind(e),
            };
            holders.retain(|_, until| *until > now);
            let held = holders.contains_key(holder);
            if !held && holders.len() >= capacity as usize {
                let count = holders.len();
                let keep = (count > 0).then_some(Entry {
                    value: Value::Holders(holders),
                    expires,
                });
                return (keep, Ok(None));
            }
            let until = now + ttl;
            holders.insert(holder.to_owned(), until);
            let count = u32::try_from(holders.len()).unwrap_or(u32::MAX);
            // The key lives as long as its last holder.
            let last = holders.values().max().copied();
            let entry = Entry {
                value: Value::Holders(holders),
                expires: last,
            };
            (Some(entry), Ok(Some(count)))
        })
    }

    pub fn release_at(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        holder: &str,
    ) -> Result<bool, BackendError> {
        self.update(now, bucket, key, 0, |old| match old {
            None => (None, Ok(false)),
            Some(Entry {
                value: Value::Holders(mut h),
                expires,
            }) => {
                h.retain(|_, until| *until > now);
                let held = h.remove(holder).is_some();
                let keep = (!h.is_empty()).then_some(Entry {
                    value: Value::Holders(h),
                    expires,
                });
                (keep, Ok(held))
            }
            Some(e) => wrong_kind(e),
        })
    }

    pub fn holders_at(&self, now: Instant, bucket: &str, key: &str) -> Result<u32, BackendError> {
        self.read(now, bucket, key, |e| match e.map(|e| &e.value) {
            None => Ok(0),
            Some(Value::Holders(h)) => {
                Ok(u32::try_from(h.values().filter(|u| **u > now).count()).unwrap_or(u32::MAX))
            }
            Some(_) => Err(BackendError::Failed(WRONG_KIND.to_owned())),
        })
    }

    pub fn join_at(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        member: &str,
        ttl: Duration,
        max_members: usize,
    ) -> Result<u32, BackendError> {
        let growth = ENTRY_OVERHEAD + key.len() + 2 * member.len() + 48;
        self.update(now, bucket, key, growth, |old| {
            let (mut line, expires) = match old {
                None => (Line::default(), None),
                Some(Entry {
                    value: Value::Line(l),
                    expires,
                }) => (l, expires),
                Some(e) => return wrong_kind(e),
            };
            line.prune(now);
            let until = now + ttl;
            let seq = match line.members.get_mut(member) {
                Some((seq, expiry)) => {
                    *expiry = until;
                    *seq
                }
                None => {
                    if line.members.len() >= max_members {
                        let unchanged = Entry {
                            value: Value::Line(line),
                            expires,
                        };
                        return (
                            Some(unchanged),
                            Err(BackendError::Failed(format!(
                                "the line is full ({max_members} members)"
                            ))),
                        );
                    }
                    let seq = line.next;
                    line.next += 1;
                    line.order.insert(seq, member.to_owned());
                    line.members.insert(member.to_owned(), (seq, until));
                    seq
                }
            };
            let position = line.order.range(..seq).count() + 1;
            let last = line.members.values().map(|(_, u)| *u).max();
            let entry = Entry {
                value: Value::Line(line),
                expires: last,
            };
            (Some(entry), Ok(u32::try_from(position).unwrap_or(u32::MAX)))
        })
    }

    pub fn leave_at(
        &self,
        now: Instant,
        bucket: &str,
        key: &str,
        member: &str,
    ) -> Result<bool, BackendError> {
        self.update(now, bucket, key, 0, |old| match old {
            None => (None, Ok(false)),
            Some(Entry {
                value: Value::Line(mut l),
                expires,
            }) => {
                l.prune(now);
                let was = match l.members.remove(member) {
                    Some((seq, _)) => {
                        l.order.remove(&seq);
                        true
                    }
                    None => false,
                };
                let keep = (!l.members.is_empty()).then_some(Entry {
                    value: Value::Line(l),
                    expires,
                });
                (keep, Ok(was))
            }
            Some(e) => wrong_kind(e),
        })
    }
}

/// Wraps an answer computed under the lock in the backend's future type.
fn ready<'a, T: Send + 'a>(r: Result<T, BackendError>) -> Fut<'a, T> {
    Box::pin(std::future::ready(r))
}

impl Backend for Memory {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Fut<'a, Option<Vec<u8>>> {
        ready(self.get_at(Instant::now(), bucket, key))
    }

    fn set<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Fut<'a, ()> {
        ready(self.set_at(Instant::now(), bucket, key, value, ttl))
    }

    fn delete<'a>(&'a self, bucket: &'a str, keys: &'a [String]) -> Fut<'a, ()> {
        self.delete_at(Instant::now(), bucket, keys);
        ready(Ok(()))
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> Fut<'a, bool> {
        ready(Ok(self.exists_at(Instant::now(), bucket, key)))
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> Fut<'a, (Vec<String>, Option<u64>)> {
        ready(Ok(self.list_keys_at(Instant::now(), bucket, cursor)))
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> Fut<'a, u64> {
        ready(self.increment_at(Instant::now(), bucket, key, delta))
    }

    fn get_many<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> Fut<'a, Vec<Option<Vec<u8>>>> {
        ready(self.get_many_at(Instant::now(), bucket, keys))
    }

    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Fut<'a, ()> {
        let now = Instant::now();
        let mut result = Ok(());
        for (key, value) in entries {
            result = self.set_at(now, bucket, &key, value, None);
            if result.is_err() {
                break;
            }
        }
        ready(result)
    }

    fn acquire<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        holder: &'a str,
        capacity: u32,
        ttl: Duration,
    ) -> Fut<'a, Option<u32>> {
        ready(self.acquire_at(Instant::now(), bucket, key, holder, capacity, ttl))
    }

    fn release<'a>(&'a self, bucket: &'a str, key: &'a str, holder: &'a str) -> Fut<'a, bool> {
        ready(self.release_at(Instant::now(), bucket, key, holder))
    }

    fn holders<'a>(&'a self, bucket: &'a str, key: &'a str) -> Fut<'a, u32> {
        ready(self.holders_at(Instant::now(), bucket, key))
    }

    fn join<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        member: &'a str,
        ttl: Duration,
    ) -> Fut<'a, u32> {
        ready(self.join_at(
            Instant::now(),
            bucket,
            key,
            member,
            ttl,
            super::MAX_LINE_MEMBERS,
        ))
    }

    fn leave<'a>(&'a self, bucket: &'a str, key: &'a str, member: &'a str) -> Fut<'a, bool> {
        ready(self.leave_at(Instant::now(), bucket, key, member))
    }

    fn ping(&self) -> Fut<'_, ()> {
        ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn store() -> Memory {
        Memory::new(1 << 20)
    }

    #[test]
    fn keys_expire_at_their_time_and_not_before() {
        let m = store();
        let t0 = Instant::now();
        m.set_at(t0, "b", "k", b"v".to_vec(), Some(100 * MS))
            .unwrap();
        m.set_at(t0, "b", "forever", b"f".to_vec(), None).unwrap();
        assert_eq!(
            m.get_at(t0 + 99 * MS, "b", "k").unwrap(),
            Some(b"v".to_vec())
        );
        assert!(m.exists_at(t0 + 99 * MS, "b", "k"));
        assert_eq!(m.get_at(t0 + 100 * MS, "b", "k").unwrap(), None);
        assert!(!m.exists_at(t0 + 100 * MS, "b", "k"));
        let (keys, next) = m.list_keys_at(t0 + 100 * MS, "b", None);
        assert_eq!((keys, next), (vec!["forever".to_owned()], None));
        // A sweep frees what expired, and only that.
        let before = m.bytes();
        m.sweep(t0 + 100 * MS);
        assert!(m.bytes() < before);
        assert_eq!(
            m.get_at(t0 + 100 * MS, "b", "forever").unwrap(),
            Some(b"f".to_vec())
        );
        // Setting again without a time keeps the key.
        m.set_at(t0, "b", "k", b"v2".to_vec(), Some(10 * MS))
            .unwrap();
        m.set_at(t0, "b", "k", b"v3".to_vec(), None).unwrap();
        assert_eq!(
            m.get_at(t0 + 3600 * 1000 * MS, "b", "k").unwrap(),
            Some(b"v3".to_vec())
        );
    }

    #[test]
    fn buckets_are_disjoint() {
        let m = store();
        let t0 = Instant::now();
        m.set_at(t0, "a", "k", b"1".to_vec(), None).unwrap();
        assert_eq!(m.get_at(t0, "b", "k").unwrap(), None);
        assert_eq!(
            m.acquire_at(t0, "a", "seat", "p", 1, 10 * MS).unwrap(),
            Some(1)
        );
        assert_eq!(
            m.acquire_at(t0, "b", "seat", "q", 1, 10 * MS).unwrap(),
            Some(1)
        );
        assert_eq!(m.list_keys_at(t0, "b", None).0, ["seat"]);
    }

    #[test]
    fn acquire_is_bounded_renews_and_forgets_expired_holders() {
        let m = store();
        let t0 = Instant::now();
        let ttl = 100 * MS;
        assert_eq!(m.acquire_at(t0, "b", "s", "p1", 2, ttl).unwrap(), Some(1));
        assert_eq!(m.acquire_at(t0, "b", "s", "p2", 2, ttl).unwrap(), Some(2));
        // Full: a third is refused, however often it asks.
        for _ in 0..3 {
            assert_eq!(m.acquire_at(t0, "b", "s", "p3", 2, ttl).unwrap(), None);
        }
        assert_eq!(m.holders_at(t0, "b", "s").unwrap(), 2);
        // A holder renews without taking a second place.
        assert_eq!(
            m.acquire_at(t0 + 50 * MS, "b", "s", "p1", 2, ttl).unwrap(),
            Some(2)
        );
        // p2's time runs out at 100 ms, p1's (renewed) at 150 ms.
        assert_eq!(m.holders_at(t0 + 100 * MS, "b", "s").unwrap(), 1);
        assert_eq!(
            m.acquire_at(t0 + 100 * MS, "b", "s", "p3", 2, ttl).unwrap(),
            Some(2)
        );
        assert_eq!(
            m.acquire_at(t0 + 120 * MS, "b", "s", "p4", 2, ttl).unwrap(),
            None
        );
        // Releasing frees the place at once; releasing twice says it was not held.
        assert!(m.release_at(t0 + 120 * MS, "b", "s", "p3").unwrap());
        assert!(!m.release_at(t0 + 120 * MS, "b", "s", "p3").unwrap());
        assert_eq!(
            m.acquire_at(t0 + 120 * MS, "b", "s", "p4", 2, ttl).unwrap(),
            Some(2)
        );
        // An expired holder does not count as holding.
        assert!(!m.release_at(t0 + 400 * MS, "b", "s", "p4").unwrap());
        assert_eq!(m.holders_at(t0 + 400 * MS, "b", "s").unwrap(), 0);
        // Capacity 0 holds no one.
        assert_eq!(m.acquire_at(t0, "b", "none", "p", 0, ttl).unwrap(), None);
    }

    #[test]
    fn line_positions_keep_their_order_and_move_up() {
        let m = store();
        let t0 = Instant::now();
        let ttl = 100 * MS;
        let join = |t, who| m.join_at(t0 + t * MS, "b", "line", who, ttl, 1000).unwrap();
        assert_eq!(join(0, "a"), 1);
        assert_eq!(join(0, "b"), 2);
        assert_eq!(join(0, "c"), 3);
        // Joining again keeps one's place (and renews one's time).
        assert_eq!(join(10, "c"), 3);
        assert_eq!(join(60, "a"), 1);
        // b leaves: c moves up.
        assert!(m.leave_at(t0 + 60 * MS, "b", "line", "b").unwrap());
        assert!(!m.leave_at(t0 + 60 * MS, "b", "line", "b").unwrap());
        assert_eq!(join(60, "c"), 2);
        // a stops asking: its time runs out (160 ms) and c is at the front.
        assert_eq!(join(159, "c"), 2);
        assert_eq!(join(161, "c"), 1);
        // Someone who left and comes back goes to the end.
        assert_eq!(join(161, "b"), 2);
        // A full line refuses newcomers, not members.
        assert!(m.join_at(t0 + 161 * MS, "b", "line", "z", ttl, 2).is_err());
        assert_eq!(
            m.join_at(t0 + 161 * MS, "b", "line", "b", ttl, 2).unwrap(),
            2
        );
    }

    #[test]
    fn kinds_do_not_mix_and_counters_count_in_decimal() {
        let m = store();
        let t0 = Instant::now();
        assert_eq!(m.increment_at(t0, "b", "n", 5).unwrap(), 5);
        assert_eq!(m.increment_at(t0, "b", "n", 2).unwrap(), 7);
        assert_eq!(m.get_at(t0, "b", "n").unwrap(), Some(b"7".to_vec()));
        m.set_at(t0, "b", "text", b"x".to_vec(), None).unwrap();
        assert!(m.increment_at(t0, "b", "text", 1).is_err());
        assert!(m.increment_at(t0, "b", "n", u64::MAX).is_err());
        assert_eq!(m.get_at(t0, "b", "n").unwrap(), Some(b"7".to_vec()));
        m.acquire_at(t0, "b", "seats", "p", 1, MS * 100).unwrap();
        assert!(m.get_at(t0, "b", "seats").is_err());
        assert!(m.join_at(t0, "b", "seats", "p", MS, 10).is_err());
        // A failed operation leaves the key as it was.
        assert_eq!(m.holders_at(t0, "b", "seats").unwrap(), 1);
        assert!(m.acquire_at(t0, "b", "text", "p", 1, MS).is_err());
        assert_eq!(m.get_at(t0, "b", "text").unwrap(), Some(b"x".to_vec()));
        let many = m
            .get_many_at(t0, "b", &["n".into(), "nope".into(), "seats".into()])
            .unwrap();
        assert_eq!(many, [Some(b"7".to_vec()), None, None]);
    }

    #[test]
    fn the_store_is_bounded_and_pages_its_keys() {
        let m = Memory::new(64 << 10);
        let t0 = Instant::now();
        let value = vec![0u8; 16 << 10];
        m.set_at(t0, "b", "1", value.clone(), None).unwrap();
        m.set_at(t0, "b", "2", value.clone(), None).unwrap();
        m.set_at(t0, "b", "3", value.clone(), None).unwrap();
        let e = m.set_at(t0, "b", "4", value.clone(), None).unwrap_err();
        assert!(
            matches!(&e, BackendError::Failed(m) if m.contains("full")),
            "{e:?}"
        );
        // Replacing a value with a smaller one is always possible.
        m.set_at(t0, "b", "3", vec![1], None).unwrap();
        m.set_at(t0, "b", "4", value, None).unwrap();

        let m = store();
        for i in 0..(LIST_PAGE + 5) {
            m.set_at(t0, "b", &format!("k{i:05}"), Vec::new(), None)
                .unwrap();
        }
        let (first, next) = m.list_keys_at(t0, "b", None);
        assert_eq!(first.len(), LIST_PAGE);
        let (rest, end) = m.list_keys_at(t0, "b", next);
        assert_eq!((rest.len(), end), (5, None));
        assert_eq!(rest[4], format!("k{:05}", LIST_PAGE + 4));
        m.delete_at(t0, "b", &first);
        assert_eq!(m.list_keys_at(t0, "b", None).0.len(), 5);
    }
}
