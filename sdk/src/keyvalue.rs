//! Key-value buckets the operator grants a plugin: state every router replica
//! sees (with the Redis store) or every instance of one replica sees (the
//! embedded store), over `wasi:keyvalue` 0.2.0-draft and the contract's
//! `keyvalue-ext` (contract 0.3.0; a [`Placement`](crate::Placement) plugin).
//!
//! ```ignore
//! use std::time::Duration;
//! use passage_sdk::keyvalue::Bucket;
//!
//! let seats = Bucket::open("seats")?;            // granted by the operator
//! match seats.acquire("lobby", &player.uuid, 50, Duration::from_secs(1800))? {
//!     Some(_) => { /* one of at most 50 holders, for 30 minutes */ }
//!     None => { /* 50 others hold it */ }
//! }
//! seats.release("lobby", &player.uuid)?;         // give it back early
//! let place = seats.join("line", &player.uuid, Duration::from_secs(10))?; // 1 = front
//! ```
//!
//! # The operator's grant
//!
//! ```toml
//! [plugin_runtime.grants.my-plugin]
//! keyvalue = ["seats"]
//! ```
//!
//! Opening any other bucket fails with [`Error::AccessDenied`] (and the router
//! logs a WARN naming the bucket and this key). Plugins see each other's
//! buckets only when the operator names the same bucket for both.
//!
//! # Errors and deadlines
//!
//! Every operation runs inside the plugin's call, and the router cuts each at
//! its share of the call's deadline: a store that does not answer (Redis
//! down) gives [`Error::Other`] starting with `store unavailable:` quickly,
//! and the plugin decides (refuse the player, hold them, fall back).
//! Limits: keys, holders and members at most 512 bytes, values 64 KiB,
//! batches 100 keys, capacities 100 000, lines 100 000 members, times 1 ms to
//! 30 days.
//!
//! # Natively
//!
//! In a plugin's unit tests (not `wasm32`) there is no router: buckets live
//! in a map of the test's thread with the same semantics, every bucket may be
//! opened, and [`testing`] moves its clock, denies buckets or fails the store.

use std::time::Duration;

/// Why an operation failed (`wasi:keyvalue/store.error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    NoSuchStore,
    /// The operator did not grant this bucket to this plugin.
    AccessDenied,
    /// Anything else: `store unavailable: ...` when the store did not answer,
    /// or what the store or the router said (a bound, a key of another kind).
    Other(String),
}

impl Error {
    /// Whether the store could not be reached (as opposed to refusing).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Other(m) if m.starts_with("store unavailable"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoSuchStore => f.write_str("no such store"),
            Error::AccessDenied => f.write_str("access denied"),
            Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// An open bucket. Dropping it closes the handle.
pub struct Bucket {
    #[cfg(target_arch = "wasm32")]
    inner: wasm::Store,
    #[cfg(not(target_arch = "wasm32"))]
    name: String,
}

impl Bucket {
    /// Opens a bucket the operator granted (`keyvalue = ["<name>"]`).
    pub fn open(name: &str) -> Result<Bucket, Error> {
        #[cfg(target_arch = "wasm32")]
        {
            Ok(Bucket {
                inner: wasm::open(name)?,
            })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            native::open(name)?;
            Ok(Bucket {
                name: name.to_owned(),
            })
        }
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.call(|b| b.get(key))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.call(|b| b.set(key, value, None))
    }

    /// Sets `key`, deleted by the store after `ttl` (a reservation whose
    /// player never arrives frees itself).
    pub fn set_expiring(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        self.call(|b| b.set(key, value, Some(ms(ttl))))
    }

    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.call(|b| b.delete(key))
    }

    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        self.call(|b| b.exists(key))
    }

    /// Adds `delta` to the counter at `key` (0 when absent); the new value.
    /// Counters are decimal text: `get` reads `b"7"`.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64, Error> {
        self.call(|b| b.increment(key, delta))
    }

    /// Makes `holder` one of at most `capacity` holders of `key` for `ttl`
    /// (renewed when it holds already), atomically on every replica.
    /// `Some(holders now)`, or `None` when `capacity` others hold it.
    pub fn acquire(
        &self,
        key: &str,
        holder: &str,
        capacity: u32,
        ttl: Duration,
    ) -> Result<Option<u32>, Error> {
        self.call(|b| b.acquire(key, holder, capacity, ms(ttl)))
    }

    /// Gives a hold up before its time runs out; whether `holder` held `key`.
    pub fn release(&self, key: &str, holder: &str) -> Result<bool, Error> {
        self.call(|b| b.release(key, holder))
    }

    /// How many hold `key` now.
    pub fn holders(&self, key: &str) -> Result<u32, Error> {
        self.call(|b| b.holders(key))
    }

    /// Puts `member` in the line `key` (keeping its place when it is in it)
    /// for `ttl` from now; its place, 1 = front.
    pub fn join(&self, key: &str, member: &str, ttl: Duration) -> Result<u32, Error> {
        self.call(|b| b.join(key, member, ms(ttl)))
    }

    /// Takes `member` out of the line `key`; whether it was in it.
    pub fn leave(&self, key: &str, member: &str) -> Result<bool, Error> {
        self.call(|b| b.leave(key, member))
    }

    /// Every key of the bucket (paging through `list-keys`), at most `limit`.
    pub fn keys(&self, limit: usize) -> Result<Vec<String>, Error> {
        self.call(|b| b.keys(limit))
    }

    #[cfg(target_arch = "wasm32")]
    fn call<T>(&self, f: impl FnOnce(&wasm::Store) -> Result<T, Error>) -> Result<T, Error> {
        f(&self.inner)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn call<T>(
        &self,
        f: impl FnOnce(&mut native::Store<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        native::with(&self.name, f)
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::Error;
    use crate::bindings::placement::passage::plugin::keyvalue_ext as ext;
    use crate::bindings::placement::wasi::keyvalue::{atomics, store};

    pub struct Store(store::Bucket);

    fn err(e: store::Error) -> Error {
        match e {
            store::Error::NoSuchStore => Error::NoSuchStore,
            store::Error::AccessDenied => Error::AccessDenied,
            store::Error::Other(m) => Error::Other(m),
        }
    }

    pub fn open(name: &str) -> Result<Store, Error> {
        store::open(name).map(Store).map_err(err)
    }

    impl Store {
        pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            self.0.get(key).map_err(err)
        }
        pub fn set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), Error> {
            match ttl_ms {
                Some(ms) => ext::set_expiring(&self.0, key, value, ms),
                None => self.0.set(key, value),
            }
            .map_err(err)
        }
        pub fn delete(&self, key: &str) -> Result<(), Error> {
            self.0.delete(key).map_err(err)
        }
        pub fn exists(&self, key: &str) -> Result<bool, Error> {
            self.0.exists(key).map_err(err)
        }
        pub fn increment(&self, key: &str, delta: u64) -> Result<u64, Error> {
            atomics::increment(&self.0, key, delta).map_err(err)
        }
        pub fn acquire(
            &self,
            key: &str,
            holder: &str,
            capacity: u32,
            ttl_ms: u64,
        ) -> Result<Option<u32>, Error> {
            ext::acquire(&self.0, key, holder, capacity, ttl_ms).map_err(err)
        }
        pub fn release(&self, key: &str, holder: &str) -> Result<bool, Error> {
            ext::release(&self.0, key, holder).map_err(err)
        }
        pub fn holders(&self, key: &str) -> Result<u32, Error> {
            ext::holders(&self.0, key).map_err(err)
        }
        pub fn join(&self, key: &str, member: &str, ttl_ms: u64) -> Result<u32, Error> {
            ext::join(&self.0, key, member, ttl_ms).map_err(err)
        }
        pub fn leave(&self, key: &str, member: &str) -> Result<bool, Error> {
            ext::leave(&self.0, key, member).map_err(err)
        }
        pub fn keys(&self, limit: usize) -> Result<Vec<String>, Error> {
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                let page = self.0.list_keys(cursor).map_err(err)?;
                keys.extend(page.keys);
                if keys.len() >= limit {
                    keys.truncate(limit);
                    return Ok(keys);
                }
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(keys),
                }
            }
        }
    }
}

/// Natively: the same semantics in a map of the test's thread.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::time::{Duration, Instant};

    use super::Error;

    enum Value {
        Bytes(Vec<u8>, Option<Instant>),
        Holders(HashMap<String, Instant>),
        /// Members in the order they joined, each until its time runs out.
        Line(Vec<(String, Instant)>),
    }

    #[derive(Default)]
    pub struct State {
        data: BTreeMap<(String, String), Value>,
        denied: HashSet<String>,
        failing: Option<String>,
        offset: Duration,
        started: Option<Instant>,
    }

    thread_local! {
        static STATE: RefCell<State> = RefCell::new(State::default());
    }

    pub fn state<T>(f: impl FnOnce(&mut State) -> T) -> T {
        STATE.with(|s| f(&mut s.borrow_mut()))
    }

    pub fn open(name: &str) -> Result<(), Error> {
        state(|s| {
            if s.denied.contains(name) {
                Err(Error::AccessDenied)
            } else {
                Ok(())
            }
        })
    }

    pub struct Store<'a> {
        data: &'a mut BTreeMap<(String, String), Value>,
        bucket: &'a str,
        now: Instant,
    }

    pub fn with<T>(
        bucket: &str,
        f: impl FnOnce(&mut Store<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        state(|s| {
            if let Some(why) = &s.failing {
                return Err(Error::Other(format!("store unavailable: {why}")));
            }
            let now = *s.started.get_or_insert_with(Instant::now) + s.offset;
            f(&mut Store {
                data: &mut s.data,
                bucket,
                now,
            })
        })
    }

    impl State {
        pub fn advance(&mut self, by: Duration) {
            self.offset += by;
        }
        pub fn deny(&mut self, bucket: &str) {
            self.denied.insert(bucket.to_owned());
        }
        pub fn fail(&mut self, why: Option<&str>) {
            self.failing = why.map(str::to_owned);
        }
        pub fn clear(&mut self) {
            *self = State::default();
        }
    }

    fn wrong_kind<T>() -> Result<T, Error> {
        Err(Error::Other(
            "WRONGTYPE the key holds another kind of value".to_owned(),
        ))
    }

    impl Store<'_> {
        fn k(&self, key: &str) -> (String, String) {
            (self.bucket.to_owned(), key.to_owned())
        }

        /// The live value at `key`; expired ones are dropped on the way.
        fn live(&mut self, key: &str) -> Option<&mut Value> {
            let k = self.k(key);
            let now = self.now;
            let expired = match self.data.get_mut(&k) {
                Some(Value::Bytes(_, Some(t))) => *t <= now,
                Some(Value::Holders(h)) => {
                    h.retain(|_, until| *until > now);
                    h.is_empty()
                }
                Some(Value::Line(l)) => {
                    l.retain(|(_, until)| *until > now);
                    l.is_empty()
                }
                _ => false,
            };
            if expired {
                self.data.remove(&k);
            }
            self.data.get_mut(&k)
        }

        pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            match self.live(key) {
                None => Ok(None),
                Some(Value::Bytes(v, _)) => Ok(Some(v.clone())),
                Some(_) => wrong_kind(),
            }
        }

        pub fn set(&mut self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), Error> {
            let until = ttl_ms.map(|ms| self.now + Duration::from_millis(ms));
            let k = self.k(key);
            self.data.insert(k, Value::Bytes(value.to_vec(), until));
            Ok(())
        }

        pub fn delete(&mut self, key: &str) -> Result<(), Error> {
            let k = self.k(key);
            self.data.remove(&k);
            Ok(())
        }

        pub fn exists(&mut self, key: &str) -> Result<bool, Error> {
            Ok(self.live(key).is_some())
        }

        pub fn increment(&mut self, key: &str, delta: u64) -> Result<u64, Error> {
            let current = match self.live(key) {
                None => 0,
                Some(Value::Bytes(v, _)) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| Error::Other("ERR value is not an integer".to_owned()))?,
                Some(_) => return wrong_kind(),
            };
            let next = current
                .checked_add(delta)
                .filter(|n| i64::try_from(*n).is_ok())
                .ok_or_else(|| Error::Other("ERR increment would overflow".to_owned()))?;
            let k = self.k(key);
            let expiry = match self.data.get(&k) {
                Some(Value::Bytes(_, e)) => *e,
                _ => None,
            };
            self.data
                .insert(k, Value::Bytes(next.to_string().into_bytes(), expiry));
            Ok(next)
        }

        pub fn acquire(
            &mut self,
            key: &str,
            holder: &str,
            capacity: u32,
            ttl_ms: u64,
        ) -> Result<Option<u32>, Error> {
            let until = self.now + Duration::from_millis(ttl_ms);
            let k = self.k(key);
            if self.live(key).is_none() {
                self.data.insert(k.clone(), Value::Holders(HashMap::new()));
            }
            let Some(Value::Holders(holders)) = self.data.get_mut(&k) else {
                return wrong_kind();
            };
            if !holders.contains_key(holder) && holders.len() >= capacity as usize {
                let empty = holders.is_empty();
                if empty {
                    self.data.remove(&k);
                }
                return Ok(None);
            }
            holders.insert(holder.to_owned(), until);
            Ok(Some(u32::try_from(holders.len()).unwrap_or(u32::MAX)))
        }

        pub fn release(&mut self, key: &str, holder: &str) -> Result<bool, Error> {
            match self.live(key) {
                None => Ok(false),
                Some(Value::Holders(h)) => Ok(h.remove(holder).is_some()),
                Some(_) => wrong_kind(),
            }
        }

        pub fn holders(&mut self, key: &str) -> Result<u32, Error> {
            match self.live(key) {
                None => Ok(0),
                Some(Value::Holders(h)) => Ok(u32::try_from(h.len()).unwrap_or(u32::MAX)),
                Some(_) => wrong_kind(),
            }
        }

        pub fn join(&mut self, key: &str, member: &str, ttl_ms: u64) -> Result<u32, Error> {
            let until = self.now + Duration::from_millis(ttl_ms);
            let k = self.k(key);
            if self.live(key).is_none() {
                self.data.insert(k.clone(), Value::Line(Vec::new()));
            }
            let Some(Value::Line(line)) = self.data.get_mut(&k) else {
                return wrong_kind();
            };
            let index = match line.iter().position(|(m, _)| m == member) {
                Some(i) => {
                    line[i].1 = until;
                    i
                }
                None => {
                    line.push((member.to_owned(), until));
                    line.len() - 1
                }
            };
            Ok(u32::try_from(index + 1).unwrap_or(u32::MAX))
        }

        pub fn leave(&mut self, key: &str, member: &str) -> Result<bool, Error> {
            match self.live(key) {
                None => Ok(false),
                Some(Value::Line(l)) => {
                    let before = l.len();
                    l.retain(|(m, _)| m != member);
                    Ok(l.len() < before)
                }
                Some(_) => wrong_kind(),
            }
        }

        pub fn keys(&mut self, limit: usize) -> Result<Vec<String>, Error> {
            let bucket = self.bucket.to_owned();
            let keys: Vec<String> = self
                .data
                .keys()
                .filter(|(b, _)| *b == bucket)
                .map(|(_, k)| k.clone())
                .collect();
            let mut live = Vec::new();
            for k in keys {
                if live.len() >= limit {
                    break;
                }
                if self.live(&k).is_some() {
                    live.push(k);
                }
            }
            Ok(live)
        }
    }
}

/// Natively (unit tests): control the map behind [`Bucket`] on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub mod testing {
    use std::time::Duration;

    /// Moves the store's clock forward: expiries come due without waiting.
    pub fn advance(by: Duration) {
        super::native::state(|s| s.advance(by));
    }

    /// Opening `bucket` fails with `AccessDenied`, as without a grant.
    pub fn deny(bucket: &str) {
        super::native::state(|s| s.deny(bucket));
    }

    /// Every operation fails with `store unavailable: <why>` (`None`: works again).
    pub fn fail(why: Option<&str>) {
        super::native::state(|s| s.fail(why));
    }

    /// Forgets every key, denial and failure of this thread's store.
    pub fn clear() {
        super::native::state(|s| s.clear());
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn natively_the_store_has_the_routers_semantics() {
        testing::clear();
        let b = Bucket::open("seats").unwrap();
        assert_eq!(b.acquire("a", "p1", 2, 10 * S).unwrap(), Some(1));
        assert_eq!(b.acquire("a", "p2", 2, 10 * S).unwrap(), Some(2));
        assert_eq!(b.acquire("a", "p3", 2, 10 * S).unwrap(), None);
        assert_eq!(b.acquire("a", "p1", 2, 10 * S).unwrap(), Some(2));
        assert_eq!(b.holders("a").unwrap(), 2);
        assert!(b.release("a", "p2").unwrap());
        assert_eq!(b.acquire("a", "p3", 2, 10 * S).unwrap(), Some(2));
        testing::advance(11 * S);
        assert_eq!(b.holders("a").unwrap(), 0);

        assert_eq!(b.join("line", "x", 5 * S).unwrap(), 1);
        assert_eq!(b.join("line", "y", 5 * S).unwrap(), 2);
        assert_eq!(b.join("line", "y", 5 * S).unwrap(), 2);
        assert!(b.leave("line", "x").unwrap());
        assert_eq!(b.join("line", "y", 5 * S).unwrap(), 1);

        b.set_expiring("k", b"v", S).unwrap();
        assert_eq!(b.get("k").unwrap(), Some(b"v".to_vec()));
        testing::advance(S);
        assert_eq!(b.get("k").unwrap(), None);
        assert_eq!(b.increment("n", 3).unwrap(), 3);
        assert_eq!(b.get("n").unwrap(), Some(b"3".to_vec()));
        assert!(b.get("line").is_err(), "a line is not bytes");
        assert!(b.keys(10).unwrap().contains(&"n".to_owned()));

        testing::deny("other");
        assert_eq!(Bucket::open("other").err(), Some(Error::AccessDenied));
        testing::fail(Some("redis down"));
        let e = b.get("n").unwrap_err();
        assert!(e.is_unavailable(), "{e}");
        testing::fail(None);
        assert!(b.get("n").is_ok());
    }
}
