//! The host side of `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` and
//! `passage:plugin/keyvalue-ext@0.3.0`: grants, bounds, deadlines, metrics and
//! warnings around a [`Backend`](super::Backend). The generated types stay in
//! this file and `contract::v0_3`.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::backend::{BackendError, Fut};
use super::{
    BucketHandle, KvAccess, KvError, MAX_BATCH, MAX_CAPACITY, MAX_KEY, MAX_OPEN_BUCKETS,
    MAX_TTL_MS, MAX_VALUE, Outcome,
};
use crate::plugins::contract::v0_3::{keyvalue_ext as ext, wasi_keyvalue};
use crate::plugins::host_api::HostState;
use wasi_keyvalue::{atomics, batch, store};

/// What the key-value functions of one instance work with: its grant and
/// store, and its resource table (where the guest's bucket handles live).
pub struct KvView<'a> {
    pub(crate) access: &'a mut KvAccess,
    pub(crate) table: &'a mut ResourceTable,
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

/// Links the four interfaces for every plugin; what each may open is its grant.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    store::add_to_linker::<_, HasKv>(linker, HostState::keyvalue)?;
    atomics::add_to_linker::<_, HasKv>(linker, HostState::keyvalue)?;
    batch::add_to_linker::<_, HasKv>(linker, HostState::keyvalue)?;
    ext::add_to_linker::<_, HasKv>(linker, HostState::keyvalue)?;
    Ok(())
}

fn invalid(why: String) -> Result<(), (Outcome, String)> {
    Err((Outcome::Invalid, why))
}

fn check_key(what: &str, key: &str) -> Result<(), (Outcome, String)> {
    if key.len() > MAX_KEY {
        return invalid(format!(
            "{what} is {} bytes, over the limit of {MAX_KEY}",
            key.len()
        ));
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<(), (Outcome, String)> {
    if name.is_empty() {
        return invalid(format!("{what} is empty"));
    }
    check_key(what, name)
}

fn check_value(value: &[u8]) -> Result<(), (Outcome, String)> {
    if value.len() > MAX_VALUE {
        return invalid(format!(
            "the value is {} bytes, over the limit of {MAX_VALUE}",
            value.len()
        ));
    }
    Ok(())
}

fn check_batch(n: usize) -> Result<(), (Outcome, String)> {
    if n > MAX_BATCH {
        return invalid(format!(
            "{n} keys in one batch, over the limit of {MAX_BATCH}"
        ));
    }
    Ok(())
}

fn ttl(ms: u64) -> Result<std::time::Duration, (Outcome, String)> {
    if ms == 0 || ms > MAX_TTL_MS {
        return Err((
            Outcome::Invalid,
            format!("ttl-ms {ms} is not between 1 and {MAX_TTL_MS} (30 days)"),
        ));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// A guest-chosen name for a log line: escaped, at most 80 characters.
fn shown(name: &str) -> String {
    let cut: String = name.chars().take(80).collect();
    let mut shown = format!("{cut:?}");
    if cut.len() < name.len() {
        shown.push_str("...");
    }
    shown
}

impl KvView<'_> {
    fn bucket(&self, bucket: &Resource<BucketHandle>) -> Result<Arc<str>, KvError> {
        Ok(self.table.get(bucket)?.name.clone())
    }

    /// Runs one operation on the store (unless `checked` refused it), bounded
    /// by the instance's operation deadline; counts and reports it.
    async fn run<T>(
        &mut self,
        op: &'static str,
        checked: Result<(), (Outcome, String)>,
        work: impl FnOnce() -> Fut<'static, T>,
    ) -> Result<T, KvError> {
        run(self.access, op, checked, work).await
    }
    /// The store and bucket an operation works on, owned, so the operation's
    /// future borrows nothing of the instance.
    fn target(
        &self,
        bucket: &Resource<BucketHandle>,
    ) -> Result<(Arc<super::KeyValue>, Arc<str>), KvError> {
        Ok((self.access.store.clone(), self.bucket(bucket)?))
    }
}

/// See [`KvView::run`]: what runs it needs only the instance's access (which,
/// unlike its resource table, may be shared across the `.await`).
async fn run<T>(
    access: &KvAccess,
    op: &'static str,
    checked: Result<(), (Outcome, String)>,
    work: impl FnOnce() -> Fut<'static, T>,
) -> Result<T, KvError> {
    let result = match checked {
        Err(refused) => Err(refused),
        Ok(()) => {
            let limit = access.op_timeout;
            let answer = match tokio::time::timeout(limit, work()).await {
                Ok(answer) => answer,
                Err(_) => Err(BackendError::Unavailable(format!(
                    "no answer within {} ms",
                    limit.as_millis()
                ))),
            };
            match answer {
                Ok(v) => {
                    if !access.store.is_up() {
                        access.store.set_up(true, None);
                    }
                    Ok(v)
                }
                Err(e @ BackendError::Unavailable(_)) => {
                    access.store.set_up(false, Some(&e.to_string()));
                    Err((Outcome::Unavailable, e.to_string()))
                }
                Err(e @ BackendError::Failed(_)) => Err((Outcome::Error, e.to_string())),
            }
        }
    };
    let outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err((o, _)) => *o,
    };
    crate::metrics::metrics().keyvalue_call(&access.plugin, op, outcome.as_str());
    result.map_err(|(outcome, message)| {
        if outcome == Outcome::Unavailable
            && let Some(held) = access.store.may_warn(&access.plugin, "unavailable")
        {
            tracing::warn!(
                plugin = &*access.plugin,
                op,
                held_back = held,
                "plugin's key-value call failed: {message} (the plugin gets the error and decides)"
            );
        }
        KvError::Other(message)
    })
}

impl store::Host for KvView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<BucketHandle>, KvError> {
        let access = &mut *self.access;
        let metrics = crate::metrics::metrics();
        let Some(name) = access.granted.iter().find(|b| **b == identifier) else {
            metrics.keyvalue_call(&access.plugin, "open", Outcome::Denied.as_str());
            if let Some(held) = access.store.may_warn(&access.plugin, "denied") {
                let plugin = &*access.plugin;
                tracing::warn!(
                    plugin,
                    bucket = %shown(&identifier),
                    held_back = held,
                    "plugin's key-value open denied: bucket {} is not in plugin_runtime.grants.{plugin}.keyvalue",
                    shown(&identifier)
                );
            }
            return Err(KvError::AccessDenied);
        };
        if access.open >= MAX_OPEN_BUCKETS {
            metrics.keyvalue_call(&access.plugin, "open", Outcome::Invalid.as_str());
            return Err(KvError::Other(format!(
                "{MAX_OPEN_BUCKETS} buckets are open in this instance already: drop one first"
            )));
        }
        let handle = self.table.push(BucketHandle {
            name: name.as_str().into(),
        })?;
        access.open += 1;
        metrics.keyvalue_call(&access.plugin, "open", Outcome::Ok.as_str());
        Ok(handle)
    }

    fn convert_error(&mut self, err: KvError) -> wasmtime::Result<store::Error> {
        match err {
            KvError::NoSuchStore => Ok(store::Error::NoSuchStore),
            KvError::AccessDenied => Ok(store::Error::AccessDenied),
            KvError::Other(message) => Ok(store::Error::Other(message)),
            KvError::Trap(e) => Err(e),
        }
    }
}

impl store::HostBucket for KvView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KvError> {
        let (kv, name) = self.target(&bucket)?;
        self.run("get", check_key("the key", &key), move || {
            Box::pin(async move {
                let value = kv.backend().get(&name, &key).await?;
                // Written by someone else than a plugin, perhaps: bounded too.
                match value {
                    Some(v) if v.len() > MAX_VALUE => Err(BackendError::Failed(format!(
                        "the value is {} bytes, over the limit of {MAX_VALUE}",
                        v.len()
                    ))),
                    v => Ok(v),
                }
            })
        })
        .await
    }

    async fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let (kv, name) = self.target(&bucket)?;
        let checked = check_key("the key", &key).and_then(|()| check_value(&value));
        self.run("set", checked, move || {
            Box::pin(async move { kv.backend().set(&name, &key, value, None).await })
        })
        .await
    }

    async fn delete(&mut self, bucket: Resource<BucketHandle>, key: String) -> Result<(), KvError> {
        let (kv, name) = self.target(&bucket)?;
        self.run("delete", check_key("the key", &key), move || {
            Box::pin(async move { kv.backend().delete(&name, &[key]).await })
        })
        .await
    }

    async fn exists(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<bool, KvError> {
        let (kv, name) = self.target(&bucket)?;
        self.run("exists", check_key("the key", &key), move || {
            Box::pin(async move { kv.backend().exists(&name, &key).await })
        })
        .await
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvError> {
        let (kv, name) = self.target(&bucket)?;
        let (keys, cursor) = self
            .run("list_keys", Ok(()), move || {
                Box::pin(async move { kv.backend().list_keys(&name, cursor).await })
            })
            .await?;
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        self.access.open = self.access.open.saturating_sub(1);
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvError> {
        let (kv, name) = self.target(&bucket)?;
        let checked = check_key("the key", &key).and_then(|()| {
            if i64::try_from(delta).is_err() {
                return invalid(format!("delta {delta} is over 2^63-1"));
            }
            Ok(())
        });
        self.run("increment", checked, move || {
            Box::pin(async move { kv.backend().increment(&name, &key, delta).await })
        })
        .await
    }
}

impl batch::Host for KvView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        let (kv, name) = self.target(&bucket)?;
        let checked = check_batch(keys.len())
            .and_then(|()| keys.iter().try_for_each(|k| check_key("a key", k)));
        self.run("get_many", checked, move || {
            Box::pin(async move {
                let values = kv.backend().get_many(&name, &keys).await?;
                if values.iter().flatten().any(|v| v.len() > MAX_VALUE) {
                    return Err(BackendError::Failed(format!(
                        "a value is over the limit of {MAX_VALUE} bytes"
                    )));
                }
                Ok(keys
                    .into_iter()
                    .zip(values)
                    .map(|(k, v)| v.map(|v| (k, v)))
                    .collect())
            })
        })
        .await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let (kv, name) = self.target(&bucket)?;
        let checked = check_batch(key_values.len()).and_then(|()| {
            key_values.iter().try_for_each(|(k, v)| {
                check_key("a key", k)?;
                check_value(v)
            })
        });
        self.run("set_many", checked, move || {
            Box::pin(async move { kv.backend().set_many(&name, key_values).await })
        })
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> Result<(), KvError> {
        let (kv, name) = self.target(&bucket)?;
        let checked = check_batch(keys.len())
            .and_then(|()| keys.iter().try_for_each(|k| check_key("a key", k)));
        self.run("delete_many", checked, move || {
            Box::pin(async move { kv.backend().delete(&name, &keys).await })
        })
        .await
    }
}

impl ext::Host for KvView<'_> {
    async fn set_expiring(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> Result<(), KvError> {
        let (kv, name) = self.target(&bucket)?;
        let mut expiry = None;
        let checked = check_key("the key", &key)
            .and_then(|()| check_value(&value))
            .and_then(|()| {
                expiry = Some(ttl(ttl_ms)?);
                Ok(())
            });
        self.run("set_expiring", checked, move || {
            Box::pin(async move { kv.backend().set(&name, &key, value, expiry).await })
        })
        .await
    }

    async fn acquire(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        holder: String,
        capacity: u32,
        ttl_ms: u64,
    ) -> Result<Option<u32>, KvError> {
        let (kv, name) = self.target(&bucket)?;
        let mut expiry = std::time::Duration::ZERO;
        let checked = check_key("the key", &key)
            .and_then(|()| check_name("the holder", &holder))
            .and_then(|()| {
                if capacity > MAX_CAPACITY {
                    return invalid(format!(
                        "capacity {capacity} is over the limit of {MAX_CAPACITY}"
                    ));
                }
                expiry = ttl(ttl_ms)?;
                Ok(())
            });
        self.run("acquire", checked, move || {
            Box::pin(async move {
                kv.backend()
                    .acquire(&name, &key, &holder, capacity, expiry)
                    .await
            })
        })
        .await
    }

    async fn release(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        holder: String,
    ) -> Result<bool, KvError> {
        let (kv, name) = self.target(&bucket)?;
        let checked = check_key("the key", &key).and_then(|()| check_name("the holder", &holder));
        self.run("release", checked, move || {
            Box::pin(async move { kv.backend().release(&name, &key, &holder).await })
        })
        .await
    }

    async fn holders(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> Result<u32, KvError> {
        let (kv, name) = self.target(&bucket)?;
        self.run("holders", check_key("the key", &key), move || {
            Box::pin(async move { kv.backend().holders(&name, &key).await })
        })
        .await
    }

    async fn join(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        member: String,
        ttl_ms: u64,
    ) -> Result<u32, KvError> {
        let (kv, name) = self.target(&bucket)?;
        let mut expiry = std::time::Duration::ZERO;
        let checked = check_key("the key", &key)
            .and_then(|()| check_name("the member", &member))
            .and_then(|()| {
                expiry = ttl(ttl_ms)?;
                Ok(())
            });
        self.run("join", checked, move || {
            Box::pin(async move { kv.backend().join(&name, &key, &member, expiry).await })
        })
        .await
    }

    async fn leave(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        member: String,
    ) -> Result<bool, KvError> {
        let (kv, name) = self.target(&bucket)?;
        let checked = check_key("the key", &key).and_then(|()| check_name("the member", &member));
        self.run("leave", checked, move || {
            Box::pin(async move { kv.backend().leave(&name, &key, &member).await })
        })
        .await
    }
}
