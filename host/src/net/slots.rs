//! The connection slots: the router-wide cap (`limits.max_connections`), the cap
//! per client address (`limits.max_connections_per_address`), and which
//! connection gives its slot up when the router is full.
//!
//! Both caps apply before a single byte is read, so a host that opens sockets
//! and never speaks (or keeps reopening the ones the handshake deadline closes)
//! can hold at most its own share, never the router. When the router is full
//! anyway (many addresses), a newcomer still gets in: the connection that is
//! cheapest to lose gives its slot up, in this order:
//!
//! 1. the oldest connection that has not completed a handshake: it has cost the
//!    router nothing yet, and a real client completes its handshake in one
//!    round trip, so what lingers there is what floods;
//! 2. the oldest connection of the address holding the most slots, when that
//!    address holds more than one (a newcomer from that same address is
//!    refused instead: shedding its own would gain nothing);
//!
//! and only when neither exists is the newcomer refused. A shed connection is
//! closed at once: its task holds the [`ShedSignal`] that [`Slots::admit`] gave
//! with the slot.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::client_key::ClientKey;

/// Why a newcomer was not given a slot: a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `limits.max_connections` reached and nothing could be shed.
    MaxConnections,
    /// `limits.max_connections_per_address` reached for the client's address.
    PerAddress,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::PerAddress => "max_connections_per_address",
        }
    }
}

/// Why a connection gave its slot up to a newcomer: a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// It had not completed a handshake.
    NoHandshake,
    /// Its address held the most slots.
    BusiestAddress,
}

impl Shed {
    pub fn as_str(self) -> &'static str {
        match self {
            Shed::NoHandshake => "no_handshake",
            Shed::BusiestAddress => "busiest_address",
        }
    }
}

pub struct Slots {
    max_total: usize,
    /// `None`: no per-address cap.
    max_per_address: Option<usize>,
    table: Mutex<Table>,
    /// Woken whenever the last slot is given back (the drain waits for it).
    empty: tokio::sync::Notify,
}

#[derive(Default)]
struct Table {
    /// Increasing, so a smaller id is an older connection.
    next_id: u64,
    entries: HashMap<u64, Entry>,
    /// Ids of connections that have not completed a handshake.
    no_handshake: BTreeSet<u64>,
    /// Ids of each address's connections (trusted proxies' are not counted:
    /// their connections are counted under the client address they carry).
    by_address: HashMap<ClientKey, BTreeSet<u64>>,
    /// `(slots held, address)`: the busiest address is the last.
    busiest: BTreeSet<(usize, ClientKey)>,
}

struct Entry {
    key: Option<ClientKey>,
    shed: oneshot::Sender<Shed>,
}

impl Table {
    fn count(&self, key: &ClientKey) -> usize {
        self.by_address.get(key).map_or(0, BTreeSet::len)
    }

    fn add_to_address(&mut self, id: u64, key: ClientKey) {
        let ids = self.by_address.entry(key).or_default();
        self.busiest.remove(&(ids.len(), key));
        ids.insert(id);
        self.busiest.insert((ids.len(), key));
    }

    fn remove_from_address(&mut self, id: u64, key: ClientKey) {
        let Some(ids) = self.by_address.get_mut(&key) else {
            return;
        };
        self.busiest.remove(&(ids.len(), key));
        ids.remove(&id);
        if ids.is_empty() {
            self.by_address.remove(&key);
        } else {
            self.busiest.insert((ids.len(), key));
        }
    }

    /// Forgets a connection; its entry (with the shed signal) if it was there.
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.no_handshake.remove(&id);
        if let Some(key) = entry.key {
            self.remove_from_address(id, key);
        }
        Some(entry)
    }

    /// The connection to shed for a newcomer from `newcomer`, if any.
    fn victim(&self, newcomer: Option<ClientKey>) -> Option<(u64, Shed)> {
        if let Some(&id) = self.no_handshake.first() {
            return Some((id, Shed::NoHandshake));
        }
        let &(held, key) = self.busiest.last()?;
        if held < 2 || newcomer == Some(key) {
            return None;
        }
        let id = *self.by_address.get(&key)?.first()?;
        Some((id, Shed::BusiestAddress))
    }
}

/// One connection's slot: given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

/// Resolves when the connection must give its slot up to a newcomer.
pub type ShedSignal = oneshot::Receiver<Shed>;

impl Slots {
    /// `max_per_address` of 0 turns the per-address cap off.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max_total,
            max_per_address: (max_per_address > 0).then_some(max_per_address),
            table: Mutex::new(Table::default()),
            empty: tokio::sync::Notify::new(),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Every method leaves the table consistent between statements.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a connection from `peer`, or why not. `peer` is `None` for a
    /// trusted proxy's connection, whose client is told by its PROXY header
    /// ([`Slot::set_client`]); until then only the router-wide cap applies.
    /// When the router is full, another connection may be shed for this one.
    pub fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> Result<(Slot, ShedSignal), Refusal> {
        let key = peer.map(ClientKey::from);
        let mut table = self.table();
        if let (Some(max), Some(key)) = (self.max_per_address, key)
            && table.count(&key) >= max
        {
            return Err(Refusal::PerAddress);
        }
        if table.entries.len() >= self.max_total {
            let (victim, why) = table.victim(key).ok_or(Refusal::MaxConnections)?;
            if let Some(entry) = table.remove(victim) {
                // The connection may have ended meanwhile: nothing to tell then.
                let _ = entry.shed.send(why);
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let (tx, rx) = oneshot::channel();
        table.entries.insert(id, Entry { key, shed: tx });
        table.no_handshake.insert(id);
        if let Some(key) = key {
            table.add_to_address(id, key);
        }
        Ok((
            Slot {
                slots: self.clone(),
                id,
            },
            rx,
        ))
    }

    /// Waits until every slot has been given back.
    pub async fn all_free(&self) {
        loop {
            let notified = self.empty.notified();
            if self.in_use() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Connections holding a slot now.
    pub fn in_use(&self) -> usize {
        self.table().entries.len()
    }

    /// Slots held by `ip`'s address (its /64 for IPv6).
    pub fn held_by(&self, ip: IpAddr) -> usize {
        self.table().count(&ClientKey::from(ip))
    }

    pub fn capacity(&self) -> usize {
        self.max_total
    }
}

impl Slot {
    /// Counts this connection (a trusted proxy's) under the client address its
    /// PROXY header carries, or refuses it when that address is at its cap.
    pub fn set_client(&mut self, client: IpAddr) -> Result<(), Refusal> {
        let key = ClientKey::from(client);
        let mut table = self.slots.table();
        if let Some(max) = self.slots.max_per_address
            && table.count(&key) >= max
        {
            return Err(Refusal::PerAddress);
        }
        let Some(entry) = table.entries.get_mut(&self.id) else {
            return Ok(()); // shed meanwhile: the task is about to end
        };
        let previous = entry.key.replace(key);
        if let Some(previous) = previous {
            table.remove_from_address(self.id, previous);
        }
        table.add_to_address(self.id, key);
        Ok(())
    }

    /// The handshake is complete: no longer among the first to be shed.
    pub fn handshake_done(&self) {
        self.slots.table().no_handshake.remove(&self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.table();
        table.remove(self.id);
        if table.entries.is_empty() {
            self.slots.empty.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_per_address_cap_counts_ipv6_by_64_and_frees_on_drop() {
        let slots = Slots::new(100, 2);
        let a = slots.admit(ip("2001:db8::1")).unwrap();
        let _b = slots.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(
            slots.admit(ip("2001:db8::3")).err(),
            Some(Refusal::PerAddress),
            "the same /64"
        );
        let _other = slots.admit(ip("2001:db8:0:1::1")).unwrap();
        drop(a);
        let _c = slots.admit(ip("2001:db8::3")).unwrap();
        assert_eq!(slots.in_use(), 3);
        assert_eq!(slots.held_by("2001:db8::9".parse().unwrap()), 2);
    }

    #[test]
    fn when_full_the_oldest_without_a_handshake_is_shed_first() {
        let slots = Slots::new(3, 0);
        let (old, mut old_shed) = slots.admit(ip("192.0.2.1")).unwrap();
        let (done, _) = slots.admit(ip("192.0.2.2")).unwrap();
        done.handshake_done();
        let (_young, mut young_shed) = slots.admit(ip("192.0.2.3")).unwrap();
        let _newcomer = slots.admit(ip("192.0.2.4")).unwrap();
        assert_eq!(old_shed.try_recv(), Ok(Shed::NoHandshake));
        assert!(young_shed.try_recv().is_err());
        assert_eq!(slots.in_use(), 3);
        // The shed slot's own drop later changes nothing.
        drop(old);
        assert_eq!(slots.in_use(), 3);
    }

    #[test]
    fn when_full_of_handshaken_connections_the_busiest_address_gives_one_up() {
        let slots = Slots::new(3, 0);
        let (first, mut first_shed) = slots.admit(ip("192.0.2.1")).unwrap();
        let (second, mut second_shed) = slots.admit(ip("192.0.2.1")).unwrap();
        let (alone, mut alone_shed) = slots.admit(ip("192.0.2.9")).unwrap();
        for s in [&first, &second, &alone] {
            s.handshake_done();
        }
        // From the busiest address itself: refused, nothing shed.
        assert_eq!(
            slots.admit(ip("192.0.2.1")).err(),
            Some(Refusal::MaxConnections)
        );
        let (newcomer, _) = slots.admit(ip("198.51.100.5")).unwrap();
        assert_eq!(first_shed.try_recv(), Ok(Shed::BusiestAddress));
        assert!(second_shed.try_recv().is_err() && alone_shed.try_recv().is_err());
        newcomer.handshake_done();
        // Now every address holds one slot: nobody is shed for the next.
        assert_eq!(
            slots.admit(ip("203.0.113.1")).err(),
            Some(Refusal::MaxConnections)
        );
    }

    #[test]
    fn a_proxy_connection_counts_under_its_client_once_known() {
        let slots = Slots::new(10, 1);
        let (mut via_proxy, _) = slots.admit(None).unwrap();
        // The proxy itself is never at a per-address cap.
        let (mut also_via_proxy, _) = slots.admit(None).unwrap();
        via_proxy
            .set_client("203.0.113.7".parse().unwrap())
            .unwrap();
        assert_eq!(
            also_via_proxy.set_client("203.0.113.7".parse().unwrap()),
            Err(Refusal::PerAddress)
        );
        also_via_proxy
            .set_client("203.0.113.8".parse().unwrap())
            .unwrap();
        assert_eq!(slots.held_by("203.0.113.7".parse().unwrap()), 1);
        drop(via_proxy);
        assert_eq!(slots.held_by("203.0.113.7".parse().unwrap()), 0);
        assert_eq!(slots.in_use(), 1);
    }
}
