//! What stands between the internet and a connection: PROXY protocol headers, the
//! trusted proxy networks, per-address rate limits, and the connection slots.

pub mod client_key;
pub mod proxy_protocol;
pub mod rate_limit;
pub mod slots;
pub mod trusted_networks;
