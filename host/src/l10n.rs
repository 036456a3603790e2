//! Player-facing messages: a built-in table by locale, operator overrides from
//! the config, lookup case-insensitive with fallback to the language, then `en_us`;
//! and the rendering of the messages plugins send (contract 0.3.0), which the
//! operator can override the same way.

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
    /// The player waited `routing.max_wait_ms` and no server took them.
    WaitTimedOut,
    /// The title of the dialog a waiting player sees (1.21.6+).
    WaitingTitle,
    /// The label of that dialog's button, which does nothing.
    WaitingButton,
    /// A line of that dialog; `{position}` is the player's place in the queue.
    QueuePosition,
    /// A waiting player, when this router stops: another one takes them.
    Reconnect,
}

impl Message {
    pub const ALL: [Message; 13] = [
        Message::OutdatedClient,
        Message::FailedToVerify,
        Message::AuthUnavailable,
        Message::NoServerAvailable,
        Message::PluginFailure,
        Message::Timeout,
        Message::ResourcePackRequired,
        Message::RateLimited,
        Message::WaitTimedOut,
        Message::WaitingTitle,
        Message::WaitingButton,
        Message::QueuePosition,
        Message::Reconnect,
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
            Message::WaitTimedOut => "wait_timed_out",
            Message::WaitingTitle => "waiting_title",
            Message::WaitingButton => "waiting_button",
            Message::QueuePosition => "queue_position",
            Message::Reconnect => "reconnect",
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
            (
                Message::WaitTimedOut,
                "No server became available in time. Please try again later.",
            ),
            (Message::WaitingTitle, "Please wait"),
            (Message::WaitingButton, "Waiting…"),
            (
                Message::QueuePosition,
                "Your position in the queue: {position}",
            ),
            (
                Message::Reconnect,
                "This server is restarting. Please reconnect to continue.",
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
            (
                Message::WaitTimedOut,
                "Es wurde nicht rechtzeitig ein Server frei. Bitte versuche es später erneut.",
            ),
            (Message::WaitingTitle, "Bitte warten"),
            (Message::WaitingButton, "Warte …"),
            (
                Message::QueuePosition,
                "Deine Position in der Warteschlange: {position}",
            ),
            (
                Message::Reconnect,
                "Dieser Server startet neu. Bitte verbinde dich erneut, um weiterzumachen.",
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
            (
                Message::WaitTimedOut,
                "Aucun serveur ne s'est libéré à temps. Veuillez réessayer plus tard.",
            ),
            (Message::WaitingTitle, "Veuillez patienter"),
            (Message::WaitingButton, "En attente…"),
            (
                Message::QueuePosition,
                "Votre position dans la file d'attente : {position}",
            ),
            (
                Message::Reconnect,
                "Ce serveur redémarre. Veuillez vous reconnecter pour continuer.",
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
            (
                Message::WaitTimedOut,
                "Ningún servidor quedó libre a tiempo. Inténtalo más tarde.",
            ),
            (Message::WaitingTitle, "Espera, por favor"),
            (Message::WaitingButton, "Esperando…"),
            (Message::QueuePosition, "Tu posición en la cola: {position}"),
            (
                Message::Reconnect,
                "Este servidor se está reiniciando. Vuelve a conectarte para continuar.",
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
            (
                Message::WaitTimedOut,
                "Nenhum servidor ficou disponível a tempo. Tente novamente mais tarde.",
            ),
            (Message::WaitingTitle, "Aguarde"),
            (Message::WaitingButton, "Aguardando…"),
            (Message::QueuePosition, "Sua posição na fila: {position}"),
            (
                Message::Reconnect,
                "Este servidor está reiniciando. Conecte-se novamente para continuar.",
            ),
        ],
    ),
];

/// The message table in force: built-in texts with the operator's overrides.
#[derive(Debug, Clone)]
pub struct Messages {
    /// locale (lower-case) → message → text
    table: HashMap<String, HashMap<Message, String>>,
    /// locale (lower-case) → plugin message key → text: the operator's overrides of
    /// what plugins send (`[messages.<locale>] "allowlist.denied" = "..."`).
    plugin_overrides: HashMap<String, HashMap<String, String>>,
}

/// Longest text a plugin message renders to, in characters (a disconnect
/// screen or a dialog line, not a document).
pub const MAX_PLUGIN_TEXT_CHARS: usize = 1024;

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
        let mut plugin_overrides: HashMap<String, HashMap<String, String>> = HashMap::new();
        for (locale, texts) in BUILT_IN {
            let entry = table.entry((*locale).to_owned()).or_default();
            for (message, text) in *texts {
                entry.insert(*message, (*text).to_owned());
            }
        }
        for (locale, texts) in overrides {
            let entry = table.entry(locale.to_ascii_lowercase()).or_default();
            for (key, text) in texts {
                if is_plugin_key(key) {
                    plugin_overrides
                        .entry(locale.to_ascii_lowercase())
                        .or_default()
                        .insert(key.clone(), text.clone());
                    continue;
                }
                let Some(message) = Message::from_key(key) else {
                    anyhow::bail!(
                        "messages.{locale}.{key}: unknown message (known: {}; a plugin's message keys contain a dot, e.g. \"allowlist.denied\")",
                        Message::ALL.map(Message::key).join(", ")
                    );
                };
                entry.insert(message, text.clone());
            }
        }
        Ok(Messages {
            table,
            plugin_overrides,
        })
    }

    /// A plugin's message as the text component the player sees, in their locale.
    ///
    /// Text is shown as it is; text that is a JSON text component (it starts with
    /// `{`, `[` or `"` and parses) is sent as that component. A localized message
    /// is looked up by its key: the operator's `[messages.<locale>]` override
    /// first, then the plugin's own translations, each by exact locale, then
    /// language, then `en_us`; then the plugin's fallback. `{0}`, `{1}`, … are
    /// replaced by its arguments. Every text is cut at [`MAX_PLUGIN_TEXT_CHARS`].
    pub fn plugin_component(
        &self,
        message: &crate::plugins::types::Message,
        locale: Option<&str>,
    ) -> serde_json::Value {
        use crate::plugins::types::Message as PluginMessage;
        match message {
            PluginMessage::Text(text) => {
                let trimmed = text.trim_start();
                if trimmed.starts_with(['{', '[', '"'])
                    && let Ok(component) = serde_json::from_str::<serde_json::Value>(text)
                {
                    return component;
                }
                serde_json::json!({ "text": bounded(text) })
            }
            PluginMessage::Localized(l) => {
                let locale = locale.map(str::to_ascii_lowercase);
                let operator: Vec<(&str, &str)> = self
                    .plugin_overrides
                    .iter()
                    .filter_map(|(loc, texts)| Some((loc.as_str(), texts.get(&l.key)?.as_str())))
                    .collect();
                let plugin: Vec<(String, &str)> = l
                    .translations
                    .iter()
                    .map(|(loc, text)| (loc.to_ascii_lowercase(), text.as_str()))
                    .collect();
                let plugin: Vec<(&str, &str)> =
                    plugin.iter().map(|(l, t)| (l.as_str(), *t)).collect();
                let template =
                    pick(locale.as_deref(), &[&operator, &plugin]).unwrap_or(l.fallback.as_str());
                serde_json::json!({ "text": bounded(&substitute(template, &l.args)) })
            }
        }
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

/// Keys of plugin messages contain a dot (by convention `<plugin>.<name>`); the
/// host's own keys never do.
fn is_plugin_key(key: &str) -> bool {
    key.contains('.')
}

/// The text for `locale` among `(locale, text)` lists, earlier lists first at each
/// step: exact locale, then a locale of the same language (sorted, so the choice
/// is stable), then `en_us`.
fn pick<'a>(locale: Option<&str>, sources: &[&[(&str, &'a str)]]) -> Option<&'a str> {
    let find = |matches: &dyn Fn(&str) -> bool| {
        sources.iter().find_map(|list| {
            let mut hits: Vec<&(&str, &'a str)> = list.iter().filter(|(l, _)| matches(l)).collect();
            hits.sort_by_key(|(l, _)| *l);
            hits.first().map(|(_, t)| *t)
        })
    };
    let language = locale.and_then(|l| l.split('_').next());
    locale
        .and_then(|wanted| find(&|l: &str| l == wanted))
        .or_else(|| language.and_then(|lang| find(&|l: &str| l.split('_').next() == Some(lang))))
        .or_else(|| find(&|l: &str| l == "en_us"))
}

/// `{0}`, `{1}`, … replaced by the arguments (in one pass: an argument's own
/// braces are not expanded again).
fn substitute(template: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let index = after
            .find('}')
            .and_then(|close| Some((after[..close].parse::<usize>().ok()?, close)));
        match index.and_then(|(i, close)| Some((args.get(i)?, close))) {
            Some((arg, close)) => {
                out.push_str(arg);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_PLUGIN_TEXT_CHARS).collect()
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

    fn localized(
        key: &str,
        args: &[&str],
        translations: &[(&str, &str)],
    ) -> crate::plugins::types::Message {
        crate::plugins::types::Message::Localized(crate::plugins::types::Localized {
            key: key.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            translations: translations
                .iter()
                .map(|(l, t)| ((*l).to_owned(), (*t).to_owned()))
                .collect(),
            fallback: "Go away, {0}".into(),
        })
    }

    #[test]
    fn plugin_messages_by_locale_operator_first() {
        let m = Messages::new(&BTreeMap::from([(
            "de_DE".to_owned(),
            BTreeMap::from([(
                "allowlist.denied".to_owned(),
                "Nur für Freunde, {0}.".to_owned(),
            )]),
        )]))
        .unwrap();
        let msg = localized(
            "allowlist.denied",
            &["Steve"],
            &[
                ("en_US", "Not on the list, {0}."),
                ("fr_fr", "Pas sur la liste, {0}."),
            ],
        );
        let text = |locale| {
            m.plugin_component(&msg, locale)["text"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(text(Some("de_de")), "Nur für Freunde, Steve.");
        assert_eq!(text(Some("de_at")), "Nur für Freunde, Steve.");
        assert_eq!(text(Some("fr_ca")), "Pas sur la liste, Steve.");
        assert_eq!(text(Some("ja_jp")), "Not on the list, Steve.");
        assert_eq!(text(None), "Not on the list, Steve.");
        // Without any translation that fits, the plugin's fallback.
        let bare = localized("allowlist.other", &["Alex"], &[("fr_fr", "Non, {0}.")]);
        assert_eq!(
            m.plugin_component(&bare, Some("ja_jp"))["text"],
            "Go away, Alex"
        );
    }

    #[test]
    fn plugin_text_and_components() {
        use crate::plugins::types::Message as P;
        let m = Messages::default();
        assert_eq!(
            m.plugin_component(&P::Text("Closed".into()), None),
            serde_json::json!({"text": "Closed"})
        );
        assert_eq!(
            m.plugin_component(&P::Text(r#"{"text":"Closed","color":"red"}"#.into()), None),
            serde_json::json!({"text": "Closed", "color": "red"})
        );
        // Looks like JSON but is not: shown as it is.
        assert_eq!(
            m.plugin_component(&P::Text("{closed".into()), None)["text"],
            "{closed"
        );
        let long = m.plugin_component(&P::Text("x".repeat(5000)), None);
        assert_eq!(long["text"].as_str().unwrap().len(), MAX_PLUGIN_TEXT_CHARS);
    }

    #[test]
    fn arguments_are_substituted_once() {
        let args = ["{1}".to_owned(), "b".to_owned()];
        assert_eq!(
            substitute("{0} and {1}, {2} {x} {", &args),
            "{1} and b, {2} {x} {"
        );
        assert_eq!(substitute("ünï{0}cödé", &args), "ünï{1}cödé");
    }
}
