//! Player authentication: the online-mode session check and offline-mode identities.

pub mod cookie;
pub mod offline;
pub mod session_server;

pub use offline::offline_uuid;
pub use session_server::{Profile, ProfileProperty, SessionError, SessionServer};
