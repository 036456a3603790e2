//! `fixed-status`: answers the server-list ping with a fixed MOTD, version, player
//! counts and favicon taken from its `[plugins.fixed-status]` config table
//! (the keys of [`passage_sdk::status_settings`]).

use passage_sdk::status_settings::{KEYS, StatusSettings};
use passage_sdk::{Config, Plugin, Status, StatusRequest, StatusResponse};

#[derive(Debug)]
pub struct FixedStatus(StatusSettings);

impl Plugin for FixedStatus {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(KEYS)?;
        StatusSettings::from_config(&config).map(FixedStatus)
    }
}

impl Status for FixedStatus {
    fn status(&mut self, request: &StatusRequest) -> Option<StatusResponse> {
        Some(self.0.response(request))
    }
}

passage_sdk::export_status!(FixedStatus);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_rejects_unknown_keys() {
        let mut p = FixedStatus::new(Config::from_json(r#"{"motd": "hi"}"#).unwrap()).unwrap();
        let request = StatusRequest {
            client_ip: "127.0.0.1".into(),
            protocol: 767,
            server_address: "play.example.com".into(),
            server_port: 25565,
        };
        assert_eq!(p.status(&request).unwrap().version_protocol, Some(767));
        let e = FixedStatus::new(Config::from_json(r#"{"mtod": "x"}"#).unwrap()).unwrap_err();
        assert!(e.contains("`mtod`"), "{e}");
    }
}
