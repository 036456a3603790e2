//! Which Minecraft protocol versions Passage can route.

/// 1.20.5: the first version with Transfer packets and cookies.
pub const OLDEST_SUPPORTED: i32 = 766;
/// 26.1, the newest version whose packet ids are known. Newer clients are served
/// with its layouts (the ids of the pre-play states did not change from 766 to 775).
pub const NEWEST_KNOWN: i32 = 775;

/// Oldest and newest release names, for messages.
pub const OLDEST_SUPPORTED_NAME: &str = "1.20.5";
pub const NEWEST_KNOWN_NAME: &str = "26.1";

/// A client Passage can log in and transfer.
pub fn is_supported(protocol: i32) -> bool {
    protocol >= OLDEST_SUPPORTED
}
