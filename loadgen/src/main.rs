//! `passage-loadgen`: load for Minecraft Java Edition routers (Passage or any
//! other) — status pings, logins up to the Transfer, cookie reconnects — with a
//! report of rates, latencies and errors. See README.md.

mod cli;
mod cpu;
mod proto;
mod run;
mod stats;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

/// The first panic is printed as usual; later ones are only counted (as
/// `protocol` errors), so a misbehaving server cannot flood the terminal.
fn quiet_panics() {
    let default = std::panic::take_hook();
    let printed = AtomicBool::new(false);
    std::panic::set_hook(Box::new(move |info| {
        if !printed.swap(true, Ordering::Relaxed) {
            default(info);
            eprintln!(
                "passage-loadgen: further panics are counted as protocol errors, not printed"
            );
        }
    }));
}

fn main() -> ExitCode {
    let config = match cli::validate(cli::Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("passage-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    quiet_panics();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("passage-loadgen: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = config.json;
    let report = match runtime.block_on(run::run(config)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("passage-loadgen: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        match serde_json::to_string(&report) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("passage-loadgen: report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.text());
    }
    // Do not wait for the built-in session server's tasks.
    runtime.shutdown_background();
    if report.connections_succeeded == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
