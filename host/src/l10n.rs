//! Player-facing messages: a built-in table by locale, operator overrides from
//! the config, lookup case-insensitive with fallback to the language, then `en_us`.

use std::collections::{BTreeMap, HashMap};

/// Every message a player can be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Message {
    OutdatedClient,
    FailedToVerify,
    AuthUnavailable,
    NoServerAvailable,
    PluginFailure,
    Timeout,
    ResourcePackRequired,
    RateLimited,
}

impl Message {
    pub const ALL: [Message; 8] = [
        Message::OutdatedClient,
        Message::FailedToVerify,
        Message::AuthUnavailable,
        Message::NoServerAvailable,
        Message::PluginFailure,
        Message::Timeout,
        Message::ResourcePackRequired,
        Message::RateLimited,
    ];

    /// The key operators use in `[messages.<locale>]`.
    pub fn key(self) -> &'static str {
        match self {
            Message::OutdatedClient => "outdated_client",
            Message::FailedToVerify => "failed_to_verify",
            Message::AuthUnavailable => "auth_unavailable",
            Message::NoServerAvailable => "no_server_available",
            Message::PluginFailure => "plugin_failure",
            Message::Timeout => "timeout",
            Message::ResourcePackRequired => "resource_pack_required",
            Message::RateLimited => "rate_limited",
        }
    }

    pub fn from_key(key: &str) -> Option<Message> {
        Message::ALL.into_iter().find(|m| m.key() == key)
    }
}

/// `(locale, [(message, text)])`; `{min}` is the oldest supported release.
const BUILT_IN: &[(&str, &[(Message, &str)])] = &[
    (
        "en_us",
        &[
            (
                Message::OutdatedClient,
                "Please use Minecraft {min} or newer to join this server.",
            ),
            (Message::FailedToVerify, "Failed to verify username!"),
            (
                Message::AuthUnavailable,
                "Authentication servers are unavailable. Please try again later.",
            ),
            (
                Message::NoServerAvailable,
                "No server is available right now. Please try again later.",
            ),
            (
                Message::PluginFailure,
                "The network could not choose a server for you. Please try again in a moment.",
            ),
            (Message::Timeout, "Timed out."),
            (
                Message::ResourcePackRequired,
                "This server requires its resource pack.",
            ),
            (
                Message::RateLimited,
                "Too many connection attempts. Please wait a moment and try again.",
            ),
        ],
    ),
    (
        "de_de",
        &[
            (
                Message::OutdatedClient,
                "Bitte verwende Minecraft {min} oder neuer, um diesen Server zu betreten.",
            ),
            (
                Message::FailedToVerify,
                "Benutzername konnte nicht verifiziert werden!",
            ),
            (
                Message::AuthUnavailable,
                "Die Authentifizierungsserver sind nicht erreichbar. Bitte versuche es später erneut.",
            ),
            (
                Message::NoServerAvailable,
                "Zurzeit ist kein Server verfügbar. Bitte versuche es später erneut.",
            ),
            (
                Message::PluginFailure,
                "Das Netzwerk konnte keinen Server für dich auswählen. Bitte versuche es gleich noch einmal.",
            ),
            (Message::Timeout, "Zeitüberschreitung."),
            (
                Message::ResourcePackRequired,
                "Dieser Server erfordert sein Ressourcenpaket.",
            ),
            (
                Message::RateLimited,
                "Zu viele Verbindungsversuche. Bitte warte einen Moment und versuche es erneut.",
            ),
        ],
    ),
    (
        "fr_fr",
        &[
            (
                Message::OutdatedClient,
                "Veuillez utiliser Minecraft {min} ou plus récent pour rejoindre ce serveur.",
            ),
            (
                Message::FailedToVerify,
                "Impossible de vérifier le nom d'utilisateur !",
            ),
            (
                Message::AuthUnavailable,
                "Les serveurs d'authentification sont indisponibles. Veuillez réessayer plus tard.",
            ),
            (
                Message::NoServerAvailable,
                "Aucun serveur n'est disponible pour le moment. Veuillez réessayer plus tard.",
            ),
            (
                Message::PluginFailure,
                "Le réseau n'a pas pu vous choisir de serveur. Veuillez réessayer dans un instant.",
            ),
            (Message::Timeout, "Délai d'attente dépassé."),
            (
                Message::ResourcePackRequired,
                "Ce serveur exige son pack de ressources.",
            ),
            (
                Message::RateLimited,
                "Trop de tentatives de connexion. Veuillez patienter un instant et réessayer.",
            ),
        ],
    ),
    (
        "es_es",
        &[
            (
                Message::OutdatedClient,
                "Usa Minecraft {min} o una versión más reciente para entrar en este servidor.",
            ),
            (
                Message::FailedToVerify,
                "¡No se pudo verificar el nombre de usuario!",
            ),
            (
                Message::AuthUnavailable,
                "Los servidores de autenticación no están disponibles. Inténtalo más tarde.",
            ),
            (
                Message::NoServerAvailable,
                "No hay ningún servidor disponible ahora mismo. Inténtalo más tarde.",
            ),
            (
                Message::PluginFailure,
                "La red no pudo elegir un servidor para ti. Inténtalo de nuevo en un momento.",
            ),
            (Message::Timeout, "Tiempo de espera agotado."),
            (
                Message::ResourcePackRequired,
                "Este servidor requiere su paquete de recursos.",
            ),
            (
                Message::RateLimited,
                "Demasiados intentos de conexión. Espera un momento y vuelve a intentarlo.",
            ),
        ],
    ),
    (
        "pt_br",
        &[
            (
                Message::OutdatedClient,
                "Use o Minecraft {min} ou mais recente para entrar neste servidor.",
            ),
            (
                Message::FailedToVerify,
                "Falha ao verificar o nome de usuário!",
            ),
            (
                Message::AuthUnavailable,
                "Os servidores de autenticação estão indisponíveis. Tente novamente mais tarde.",
            ),
            (
                Message::NoServerAvailable,
                "Nenhum servidor está disponível agora. Tente novamente mais tarde.",
            ),
            (
                Message::PluginFailure,
                "A rede não conseguiu escolher um servidor para você. Tente novamente em instantes.",
            ),
            (Message::Timeout, "Tempo esgotado."),
            (
                Message::ResourcePackRequired,
                "Este servidor exige o pacote de recursos dele.",
            ),
            (
                Message::RateLimited,
                "Muitas tentativas de conexão. Aguarde um momento e tente novamente.",
            ),
        ],
    ),
];

/// The message table in force: built-in texts with the operator's overrides.
#[derive(Debug, Clone)]
pub struct Messages {
    /// locale (lower-case) → message → text
    table: HashMap<String, HashMap<Message, String>>,
}

impl Default for Messages {
    fn default() -> Self {
        Messages::new(&BTreeMap::new()).expect("the built-in table has no unknown keys")
    }
}

impl Messages {
    /// Builds the table; `overrides` is `[messages.<locale>]` from the config. An
    /// unknown message key is an error naming it.
    pub fn new(overrides: &BTreeMap<String, BTreeMap<String, String>>) -> anyhow::Result<Messages> {
        let mut table: HashMap<String, HashMap<Message, String>> = HashMap::new();
        for (locale, texts) in BUILT_IN {
            let entry = table.entry((*locale).to_owned()).or_default();
            for (message, text) in *texts {
                entry.insert(*message, (*text).to_owned());
            }
        }
        for (locale, texts) in overrides {
            let entry = table.entry(locale.to_ascii_lowercase()).or_default();
            for (key, text) in texts {
                let Some(message) = Message::from_key(key) else {
                    anyhow::bail!(
                        "messages.{locale}.{key}: unknown message (known: {})",
                        Message::ALL.map(Message::key).join(", ")
                    );
                };
                entry.insert(message, text.clone());
            }
        }
        Ok(Messages { table })
    }

    /// The text for `locale`: exact locale (any case), then another locale of the
    /// same language (`de_at` → `de_de`), then `en_us`.
    pub fn text(&self, message: Message, locale: Option<&str>) -> String {
        let locale = locale.map(str::to_ascii_lowercase);
        let exact = locale
            .as_deref()
            .and_then(|l| self.table.get(l)?.get(&message));
        let language = || {
            let lang = locale.as_deref()?.split('_').next()?;
            let mut candidates: Vec<_> = self
                .table
                .iter()
                .filter(|(l, _)| l.split('_').next() == Some(lang))
                .filter_map(|(l, t)| Some((l, t.get(&message)?)))
                .collect();
            candidates.sort_by_key(|(l, _)| *l);
            candidates.first().map(|(_, t)| *t)
        };
        let text = exact
            .or_else(language)
            .or_else(|| self.table.get("en_us")?.get(&message))
            .map(String::as_str)
            .unwrap_or(message.key());
        text.replace("{min}", crate::versions::OLDEST_SUPPORTED_NAME)
    }

    /// As a JSON text component.
    pub fn component(&self, message: Message, locale: Option<&str>) -> serde_json::Value {
        serde_json::json!({ "text": self.text(message, locale) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_locale_has_every_message() {
        for (locale, texts) in BUILT_IN {
            for m in Message::ALL {
                assert!(
                    texts.iter().any(|(k, _)| *k == m),
                    "{locale} lacks {}",
                    m.key()
                );
            }
        }
    }

    #[test]
    fn lookup_falls_back_by_case_language_then_english() {
        let m = Messages::default();
        let de = m.text(Message::NoServerAvailable, Some("de_de"));
        assert!(de.starts_with("Zurzeit"), "{de}");
        assert_eq!(m.text(Message::NoServerAvailable, Some("DE_DE")), de);
        assert_eq!(m.text(Message::NoServerAvailable, Some("de_at")), de);
        assert!(
            m.text(Message::NoServerAvailable, Some("ja_jp"))
                .starts_with("No server")
        );
        assert!(
            m.text(Message::NoServerAvailable, None)
                .starts_with("No server")
        );
        assert!(m.text(Message::OutdatedClient, None).contains("1.20.5"));
    }

    #[test]
    fn operators_override_and_add_locales() {
        let mut o = BTreeMap::new();
        o.insert(
            "en_US".to_owned(),
            BTreeMap::from([(
                "no_server_available".to_owned(),
                "Come back soon!".to_owned(),
            )]),
        );
        o.insert(
            "ja_jp".to_owned(),
            BTreeMap::from([(
                "no_server_available".to_owned(),
                "サーバーがありません".to_owned(),
            )]),
        );
        let m = Messages::new(&o).unwrap();
        assert_eq!(
            m.text(Message::NoServerAvailable, Some("en_us")),
            "Come back soon!"
        );
        assert_eq!(
            m.text(Message::NoServerAvailable, Some("ja_JP")),
            "サーバーがありません"
        );
        // Other messages of an added locale fall back to English.
        assert!(
            m.text(Message::Timeout, Some("ja_jp"))
                .starts_with("Timed out")
        );
    }

    #[test]
    fn unknown_override_key_is_named() {
        let o = BTreeMap::from([(
            "en_us".to_owned(),
            BTreeMap::from([("no_servers".to_owned(), "x".to_owned())]),
        )]);
        let e = Messages::new(&o).unwrap_err().to_string();
        assert!(e.contains("messages.en_us.no_servers"), "{e}");
    }
}
