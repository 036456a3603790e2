//! Router CPU time from /proc (Linux): user + system time of one process.

use std::time::Duration;

/// Clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be asked.
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/stat line, in ticks.
/// Field 2, the command name in parentheses, may itself hold spaces and
/// parentheses: fields are counted from the last `)`.
pub fn parse_stat(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // `after` starts at field 3 (state): fields 14 and 15 are its 12th and 13th.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time used so far by `pid`.
pub struct Cpu {
    pid: u32,
    ticks_per_second: u64,
}

impl Cpu {
    pub fn new(pid: u32) -> std::io::Result<Cpu> {
        let cpu = Cpu {
            pid,
            ticks_per_second: clock_ticks(),
        };
        cpu.ticks()?;
        Ok(cpu)
    }

    pub fn ticks(&self) -> std::io::Result<u64> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path)?;
        parse_stat(&stat).ok_or_else(|| std::io::Error::other(format!("cannot parse {path}")))
    }

    pub fn to_duration(&self, ticks: u64) -> Duration {
        Duration::from_secs_f64(ticks as f64 / self.ticks_per_second as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_14_and_15() {
        let line =
            "4242 (passage) S 1 4242 4242 0 -1 4194560 1234 0 0 0 170 35 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(line), Some(205));
        let odd = "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat(odd), Some(7));
        assert_eq!(parse_stat("7 (x) R 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_process_has_a_stat() {
        let cpu = Cpu::new(std::process::id()).unwrap();
        assert!(cpu.ticks().is_ok());
        assert!(cpu.ticks_per_second > 0);
        assert_eq!(
            Cpu {
                pid: 0,
                ticks_per_second: 100
            }
            .to_duration(250),
            Duration::from_millis(2500)
        );
    }
}
