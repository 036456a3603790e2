//! What a key-value store must do for plugins, whatever keeps the data: the
//! embedded map (`memory`) or a Redis/Valkey server (`redis`). Every bucket is
//! a namespace of its own; the host checks grants and bounds before it calls a
//! backend, so a backend sees only keys, values and counts within the limits of
//! `keyvalue` (`MAX_KEY`, `MAX_VALUE`, ...).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Why a backend could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The store cannot be reached or did not answer (Redis down, a timeout,
    /// refused credentials): the plugin sees `store unavailable: ...`.
    Unavailable(String),
    /// The store answered with an error (a key holding another kind of
    /// value, a counter that is not a number, a full store).
    Failed(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Unavailable(why) => write!(f, "store unavailable: {why}"),
            BackendError::Failed(why) => f.write_str(why),
        }
    }
}

pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, BackendError>> + Send + 'a>>;

/// A key-value store. Each call is one atomic step: two replicas acquiring
/// the last place in `capacity` cannot both get it.
pub trait Backend: Send + Sync {
    /// `memory` or `redis`, for logs and `/plugins`.
    fn kind(&self) -> &'static str;

    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Fut<'a, Option<Vec<u8>>>;
    /// `ttl`: deleted by the store after it; `None` keeps the key until deleted.
    fn set<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Fut<'a, ()>;
    fn delete<'a>(&'a self, bucket: &'a str, keys: &'a [String]) -> Fut<'a, ()>;
    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> Fut<'a, bool>;
    /// A page of the bucket's keys from `cursor` (`None`: the start), and the
    /// cursor of the next page (`None`: that was the last one). A page may be
    /// empty while more follow, and a key may appear twice.
    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> Fut<'a, (Vec<String>, Option<u64>)>;
    /// Adds `delta` to the decimal number stored at `key` (0 when absent).
    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> Fut<'a, u64>;
    fn get_many<'a>(&'a self, bucket: &'a str, keys: &'a [String])
    -> Fut<'a, Vec<Option<Vec<u8>>>>;
    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Fut<'a, ()>;
    /// `Some(holders now)` when `holder` holds `key` (newly or renewed) for
    /// `ttl`; `None` when `capacity` others hold it.
    fn acquire<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        holder: &'a str,
        capacity: u32,
        ttl: Duration,
    ) -> Fut<'a, Option<u32>>;
    fn release<'a>(&'a self, bucket: &'a str, key: &'a str, holder: &'a str) -> Fut<'a, bool>;
    fn holders<'a>(&'a self, bucket: &'a str, key: &'a str) -> Fut<'a, u32>;
    /// `member`'s place in the line `key` (1 = front), joining at the end
    /// unless it is in it; its time in the line is renewed to `ttl`.
    fn join<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        member: &'a str,
        ttl: Duration,
    ) -> Fut<'a, u32>;
    fn leave<'a>(&'a self, bucket: &'a str, key: &'a str, member: &'a str) -> Fut<'a, bool>;
    /// Whether the store answers now.
    fn ping(&self) -> Fut<'_, ()>;
}
