//! `misbehave`: a status plugin that fails on purpose, for end-to-end tests of the
//! sandbox. Its config `mode` picks the failure; requests for the server address
//! `ok.test` are always answered normally, so a test can show that the router
//! replaced a failed instance and the plugin serves again.
//!
//! It is also a discovery plugin, for the adversarial tests of target validation:
//! mode `bad-targets` lists a target with port 0, one with an invalid host and a
//! valid one (`good`); `only-bad-targets` lists the two invalid ones alone;
//! `huge-targets` lists 200,000 targets; `fat-targets` lists one target with
//! 10,000 metadata pairs and a good one. Any other mode discovers nothing.
//!
//! Status modes `log-flood` (a million log lines per call) and `log-forge` (a
//! line with newlines that imitate router log lines) test the `log` import.

use passage_sdk::{
    Config, Discovered, Discovery, Player, Plugin, Status, StatusRequest, StatusResponse, Target,
    TargetList, Text,
};

#[derive(Debug)]
pub struct Misbehave {
    mode: String,
}

impl Plugin for Misbehave {
    fn new(config: Config) -> Result<Self, String> {
        let mode = config.get_str("mode")?.unwrap_or("ok").to_owned();
        match mode.as_str() {
            "reject-config" => Err("mode reject-config: refusing this configuration".to_owned()),
            "loop-in-configure" => loop {
                std::hint::black_box(&mode);
            },
            _ => Ok(Misbehave { mode }),
        }
    }
}

impl Status for Misbehave {
    fn status(&mut self, request: &StatusRequest) -> Option<StatusResponse> {
        let answer = |text: String| Some(StatusResponse::new(Text::Plain(text)));
        if request.server_address == "ok.test" {
            return answer("misbehave ok".to_owned());
        }
        match self.mode.as_str() {
            "loop" => loop {
                std::hint::black_box(request);
            },
            "trap" => panic!("misbehave: deliberate panic"),
            "oom" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hog);
                }
            }
            "decline" => None,
            "huge-motd" => answer("x".repeat(2 << 20)),
            "bad-json" => Some(StatusResponse::new(Text::Json("{not json".to_owned()))),
            // A favicon that is not a PNG data URI, and one far too large.
            "bad-favicon" | "huge-favicon" => {
                let mut response = StatusResponse::new(Text::Plain("misbehave icon".to_owned()));
                response.favicon = Some(if self.mode == "bad-favicon" {
                    "http://example.com/icon.png".to_owned()
                } else {
                    format!("data:image/png;base64,{}", "A".repeat(1 << 20))
                });
                Some(response)
            }
            // Tries to reach beyond the sandbox and reports what it got.
            "escape" => {
                let fs = std::fs::read_to_string("/etc/passwd").is_ok();
                let dir = std::fs::read_dir("/").is_ok() || std::fs::read_dir(".").is_ok();
                let env = std::env::vars().next().is_some() || std::env::args().len() > 1;
                let net = std::net::TcpStream::connect(("127.0.0.1", request.server_port)).is_ok();
                let verdict = |reached: bool| if reached { "REACHED" } else { "denied" };
                answer(format!(
                    "fs:{} dir:{} env:{} net:{}",
                    verdict(fs),
                    verdict(dir),
                    verdict(env),
                    verdict(net)
                ))
            }
            "log" => {
                passage_sdk::log::info("misbehave: hello from the plugin");
                answer("misbehave logged".to_owned())
            }
            "log-flood" => {
                for i in 0..1_000_000 {
                    passage_sdk::log::info(&format!("misbehave: flood line {i}"));
                }
                answer("misbehave flooded".to_owned())
            }
            "log-forge" => {
                passage_sdk::log::warn(
                    "misbehave: innocent\n2026-12-01T00:00:00.000000Z ERROR passage: FORGED line\r\x1b[31mred",
                );
                answer("misbehave forged".to_owned())
            }
            _ => answer("misbehave ok".to_owned()),
        }
    }
}

impl Discovery for Misbehave {
    fn discover(
        &mut self,
        _player: &Player,
        _known_revision: Option<u64>,
    ) -> Result<Discovered, String> {
        let mut targets = Vec::new();
        if matches!(self.mode.as_str(), "bad-targets" | "only-bad-targets") {
            targets.push(Target::new("zero-port", "10.0.0.9", 0));
            targets.push(Target::new("bad-host", "not a host!", 25565));
        }
        if matches!(self.mode.as_str(), "bad-targets" | "fat-targets") {
            targets.push(Target::new("good", "10.0.0.1", 25565));
        }
        if self.mode == "fat-targets" {
            let mut fat = Target::new("fat", "10.0.0.2", 25565);
            fat.metadata = (0..10_000)
                .map(|i| (format!("k{i}"), "v".to_owned()))
                .collect();
            targets.insert(0, fat);
        }
        if self.mode == "huge-targets" {
            targets = (0..200_000)
                .map(|i| Target::new(&format!("t{i}"), "10.0.0.3", 25565))
                .collect();
        }
        Ok(Discovered::Targets(TargetList {
            revision: 1,
            targets,
        }))
    }
}

passage_sdk::export_status!(Misbehave);
passage_sdk::export_discovery!(Misbehave);
