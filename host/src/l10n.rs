//! Player-facing messages by locale, falling back to `en_us`.

/// Every message a player can be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    OutdatedClient,
    FailedToVerify,
    AuthUnavailable,
    NoServerAvailable,
    Timeout,
}

impl Message {
    /// The `en_us` text. `{min}` is replaced by the oldest supported release.
    pub fn en_us(self) -> &'static str {
        match self {
            Message::OutdatedClient => "Please use Minecraft {min} or newer to join this server.",
            Message::FailedToVerify => "Failed to verify username!",
            Message::AuthUnavailable => {
                "Authentication servers are unavailable. Please try again later."
            }
            Message::NoServerAvailable => {
                "No server is available right now. Please try again later."
            }
            Message::Timeout => "Timed out.",
        }
    }

    /// The text for `locale` (matched case-insensitively), with placeholders
    /// filled in. Only `en_us` exists so far; every locale falls back to it.
    pub fn text(self, _locale: Option<&str>) -> String {
        self.en_us()
            .replace("{min}", crate::versions::OLDEST_SUPPORTED_NAME)
    }

    /// As a JSON text component.
    pub fn component(self, locale: Option<&str>) -> serde_json::Value {
        serde_json::json!({ "text": self.text(locale) })
    }
}
