//! Buckets on a Redis or Valkey server (redis-rs, tokio, rustls): what every
//! replica configured with the same `url` shares.
//!
//! A bucket is a key prefix, `passage:kv:<bucket>:`; a waiting line keeps its
//! members' times in a second key outside every bucket's prefix
//! (`passage:kv-line:<bucket>:<key>`), so `list-keys` shows only the line.
//! Holders and lines are sorted sets changed by Lua scripts, each of which
//! Redis runs to the end before any other command: `acquire` checks and takes
//! a place in one step, on every replica at once. Times come from the
//! server's clock (`TIME`), so replicas whose clocks differ agree.
//!
//! One multiplexed connection (`ConnectionManager`) reconnects on its own in
//! the background; each command has the store's timeout (and the host cuts
//! each operation at the plugin's share of its deadline).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, IntoConnectionInfo, Script, TlsCertificates};

use super::backend::{Backend, BackendError, Fut};

/// How to reach the server; the password was read from a file or the
/// environment, never from the configuration text.
pub struct Settings {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM of a private CA for `rediss://`.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

pub struct Redis {
    conn: ConnectionManager,
    acquire: Script,
    release: Script,
    holders: Script,
    join: Script,
    leave: Script,
}

/// The URL without anything between `://` and `@` (a user name), for logs.
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// The server's clock in milliseconds, as a Lua integer.
const NOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

/// KEYS[1]: holders (sorted set, holder -> until, ms). ARGV: holder, capacity,
/// ttl-ms. Holders whose time ran out go first; a holder renews; the key
/// lives as long as its last holder. The number of holders, or nil when full.
const ACQUIRE: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
if not held and count >= tonumber(ARGV[2]) then return false end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), ARGV[1])
if not held then count = count + 1 end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return count
"#;

/// Whether ARGV[1] held KEYS[1] (and its time had not run out); it no longer does.
const RELEASE: &str = r#"
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(expiry) > now then return 1 end
return 0
"#;

const HOLDERS: &str = r#"
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now), '+inf')
"#;

/// KEYS[1]: the line (member -> order), KEYS[2]: its members' times (member ->
/// until). ARGV: member, ttl-ms, most members. Members whose time ran out
/// leave first; a member keeps its place. Its place, 1 = front.
const JOIN: &str = r#"
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #gone do redis.call('ZREM', KEYS[1], gone[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return redis.error_reply('the line is full (' .. ARGV[3] .. ' members)')
  end
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local order = 0
  if #last > 0 then order = tonumber(last[2]) + 1 end
  redis.call('ZADD', KEYS[1], string.format('%d', order), ARGV[1])
end
redis.call('ZADD', KEYS[2], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
local latest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], latest[2])
redis.call('PEXPIREAT', KEYS[2], latest[2])
return redis.call('ZRANK', KEYS[1], ARGV[1]) + 1
"#;

const LEAVE: &str = r#"
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
local was = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if was == 1 and (not expiry or tonumber(expiry) > now) then return 1 end
return 0
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{NOW}{body}"))
}

fn key(bucket: &str, key: &str) -> String {
    format!("passage:kv:{bucket}:{key}")
}

fn line_times(bucket: &str, key: &str) -> String {
    format!("passage:kv-line:{bucket}:{key}")
}

/// An error the server answered is the operation's; anything else (I/O,
/// timeouts, refused credentials) means the store is unavailable.
fn classify(e: redis::RedisError) -> BackendError {
    match e.kind() {
        ErrorKind::Server(redis::ServerErrorKind::ResponseError)
        | ErrorKind::Extension
        | ErrorKind::UnexpectedReturnType
        | ErrorKind::Parse => BackendError::Failed(format!("redis: {e}")),
        _ => BackendError::Unavailable(format!("redis: {e}")),
    }
}

impl Redis {
    /// A client for `settings`, connecting in the background: the router
    /// starts while the server is down, and its health check says so.
    pub fn connect(settings: &Settings) -> anyhow::Result<Arc<Redis>> {
        let mut info = settings.url.as_str().into_connection_info()?;
        let mut redis = info.redis_settings().clone();
        if let Some(user) = &settings.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &settings.password {
            redis = redis.set_password(password);
        }
        info = info.set_redis_settings(redis);
        let client = match &settings.ca_pem {
            Some(pem) => Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            )?,
            None => Client::open(info)?,
        };
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.timeout))
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_secs(1))))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = client.get_connection_manager_lazy(config)?;
        Ok(Arc::new(Redis {
            conn,
            acquire: script(ACQUIRE),
            release: script(RELEASE),
            holders: script(HOLDERS),
            join: script(JOIN),
            leave: script(LEAVE),
        }))
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, BackendError> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn).await.map_err(classify)
    }
}

impl Backend for Redis {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn get<'a>(&'a self, bucket: &'a str, k: &'a str) -> Fut<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.query(redis::cmd("GET").arg(key(bucket, k))).await })
    }

    fn set<'a>(
        &'a self,
        bucket: &'a str,
        k: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Fut<'a, ()> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key(bucket, k)).arg(value);
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl.as_millis() as u64);
            }
            self.query::<()>(&cmd).await
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, keys: &'a [String]) -> Fut<'a, ()> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(());
            }
            let mut cmd = redis::cmd("DEL");
            for k in keys {
                cmd.arg(key(bucket, k)).arg(line_times(bucket, k));
            }
            self.query::<()>(&cmd).await
        })
    }

    fn exists<'a>(&'a self, bucket: &'a str, k: &'a str) -> Fut<'a, bool> {
        Box::pin(async move {
            let n: i64 = self.query(redis::cmd("EXISTS").arg(key(bucket, k))).await?;
            Ok(n > 0)
        })
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> Fut<'a, (Vec<String>, Option<u64>)> {
        Box::pin(async move {
            // Bucket names are [a-z0-9_-]: nothing in the prefix is a glob.
            let prefix = key(bucket, "");
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor.unwrap_or(0))
                        .arg("MATCH")
                        .arg(format!("{prefix}*"))
                        .arg("COUNT")
                        .arg(100),
                )
                .await?;
            let keys = keys
                .iter()
                .filter_map(|k| k.strip_prefix(prefix.as_bytes()))
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            Ok((keys, (next != 0).then_some(next)))
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, k: &'a str, delta: u64) -> Fut<'a, u64> {
        Box::pin(async move {
            let delta = i64::try_from(delta)
                .map_err(|_| BackendError::Failed("delta over 2^63-1".to_owned()))?;
            let n: i64 = self
                .query(redis::cmd("INCRBY").arg(key(bucket, k)).arg(delta))
                .await?;
            u64::try_from(n)
                .map_err(|_| BackendError::Failed(format!("the counter is negative ({n})")))
        })
    }

    fn get_many<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> Fut<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut cmd = redis::cmd("MGET");
            for k in keys {
                cmd.arg(key(bucket, k));
            }
            self.query(&cmd).await
        })
    }

    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Fut<'a, ()> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(());
            }
            let mut cmd = redis::cmd("MSET");
            for (k, v) in entries {
                cmd.arg(key(bucket, &k)).arg(v);
            }
            self.query::<()>(&cmd).await
        })
    }

    fn acquire<'a>(
        &'a self,
        bucket: &'a str,
        k: &'a str,
        holder: &'a str,
        capacity: u32,
        ttl: Duration,
    ) -> Fut<'a, Option<u32>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: Option<u32> = self
                .acquire
                .key(key(bucket, k))
                .arg(holder)
                .arg(capacity)
                .arg(ttl.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
                .map_err(classify)?;
            Ok(n)
        })
    }

    fn release<'a>(&'a self, bucket: &'a str, k: &'a str, holder: &'a str) -> Fut<'a, bool> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = self
                .release
                .key(key(bucket, k))
                .arg(holder)
                .invoke_async(&mut conn)
                .await
                .map_err(classify)?;
            Ok(n == 1)
        })
    }

    fn holders<'a>(&'a self, bucket: &'a str, k: &'a str) -> Fut<'a, u32> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            self.holders
                .key(key(bucket, k))
                .invoke_async(&mut conn)
                .await
                .map_err(classify)
        })
    }

    fn join<'a>(
        &'a self,
        bucket: &'a str,
        k: &'a str,
        member: &'a str,
        ttl: Duration,
    ) -> Fut<'a, u32> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            self.join
                .key(key(bucket, k))
                .key(line_times(bucket, k))
                .arg(member)
                .arg(ttl.as_millis() as u64)
                .arg(super::MAX_LINE_MEMBERS)
                .invoke_async(&mut conn)
                .await
                .map_err(classify)
        })
    }

    fn leave<'a>(&'a self, bucket: &'a str, k: &'a str, member: &'a str) -> Fut<'a, bool> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = self
                .leave
                .key(key(bucket, k))
                .key(line_times(bucket, k))
                .arg(member)
                .invoke_async(&mut conn)
                .await
                .map_err(classify)?;
            Ok(n == 1)
        })
    }

    fn ping(&self) -> Fut<'_, ()> {
        Box::pin(async move {
            let _: String = self.query(&redis::cmd("PING")).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_user_names() {
        assert_eq!(
            display_url("rediss://passage@redis.example:6380/2"),
            "rediss://redis.example:6380/2"
        );
        assert_eq!(
            display_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn buckets_are_prefixes_that_cannot_overlap() {
        // A bucket name has no `:`, so `a` + key `b:c` is never bucket `a:b`.
        assert_eq!(key("seats", "backend:a"), "passage:kv:seats:backend:a");
        assert!(!line_times("seats", "line").starts_with(&key("seats", "")));
    }
}
