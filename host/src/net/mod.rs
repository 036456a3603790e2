//! What stands between the internet and a connection: PROXY protocol headers, the
//! trusted proxy networks, and per-address rate limits.

pub mod proxy_protocol;
pub mod rate_limit;
pub mod trusted_networks;
