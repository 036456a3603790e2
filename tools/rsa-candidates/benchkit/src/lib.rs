//! Tiny timing helper shared by the candidate binaries (no criterion, to keep
//! build-time measurements about the crypto crates only).
use std::time::Instant;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec owned by this frame, which is all
    // clock_gettime writes to; the clock id is a constant the kernel supports.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn iters_from_env(default: usize) -> usize {
    std::env::var("ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Runs `f` `warmup` times, then `n` times timing each call individually with
/// the wall clock; also reports total thread CPU time / n (robust against the
/// other builds sharing the 2 cores: descheduled time is not counted).
/// Prints one line: label median p10 p90 min cpu_mean (all µs).
pub fn bench<F: FnMut()>(label: &str, n: usize, mut f: F) -> f64 {
    for _ in 0..(n / 10).max(5) {
        f();
    }
    let mut samples = Vec::with_capacity(n);
    let cpu0 = thread_cpu_ns();
    for _ in 0..n {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1000.0 / n as f64;
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    let med = q(0.5);
    println!(
        "{label:<44} n={n:<6} median={med:>10.1}us p10={:>10.1} p90={:>10.1} min={:>10.1} cpu_mean={cpu:>10.1}us",
        q(0.1),
        q(0.9),
        samples[0]
    );
    med
}
