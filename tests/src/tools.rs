//! External tools the sharing tests run for real: Debian's `docker-registry`
//! (the CNCF distribution registry) on loopback, and the `minisign` tool.
//! `make e2e` installs both (`make test-tools`); when it could not, the reason
//! is in `target/toolchains/<tool>.unavailable` and the tests skip with it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The path of `tool` on PATH, or why it is not there.
pub fn tool(name: &str) -> Result<PathBuf, String> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if let Some(path) = found {
        return Ok(path);
    }
    let marker = crate::workspace_root()
        .join("target/toolchains")
        .join(format!("{name}.unavailable"));
    Err(match std::fs::read_to_string(&marker) {
        Ok(why) => why.trim().to_owned(),
        Err(_) => format!("{name} is not installed (`make test-tools` installs it)"),
    })
}

/// A `docker-registry` serving on a free loopback port from a temporary
/// directory, without authentication. Stopped (by its pid) when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`, the registry part of references.
    pub host: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one and waits until it listens.
    pub fn start() -> Result<Registry, String> {
        Registry::start_with(None)
    }

    /// One that wants HTTP Basic credentials (`htpasswd -B`: bcrypt, which
    /// the registry requires).
    pub fn start_with_login(user: &str, password: &str) -> Result<Registry, String> {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Result<Registry, String> {
        let bin = tool("docker-registry")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = dir.path().join("config.yml");
        let mut yaml = "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ROOT\nhttp:\n  addr: 127.0.0.1:0\n  secret: passage-tests\n"
            .replace("ROOT", &dir.path().join("data").display().to_string());
        if let Some((user, password)) = login {
            let htpasswd = tool("htpasswd")?;
            let out = Command::new(htpasswd)
                .args(["-Bbn", user, password])
                .output()
                .map_err(|e| format!("cannot run htpasswd: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "htpasswd failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).map_err(|e| e.to_string())?;
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: passage-tests\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
        // A free port, taken and given back: the registry binds it at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .env("REGISTRY_HTTP_ADDR", &host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start docker-registry: {e}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let registry = Registry {
            child,
            host,
            log,
            _dir: dir,
        };
        // Its own "listening on" line is the event; bounded only to catch a hang.
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(()) => Ok(registry),
            Err(_) => Err(format!(
                "docker-registry did not listen within 30 s:\n{}",
                registry.log()
            )),
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `minisign` with `args` in `dir`, no standard input; exit code, stdout
/// and stderr.
pub fn minisign(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String, String) {
    let bin = tool("minisign").expect("checked by the caller");
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run minisign");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits (bounded) for `done`; for conditions the code under test makes true.
pub fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
