//! `cargo bench --bench nothing_lost [-- STEPS]`: the long run of the randomized differential
//! walk of tests/nothing_lost.rs (default 20,000 steps, a remove + restore round trip every
//! 100): wtmux's status, listing and content fingerprint against git's, and nothing lost by a
//! removal, on one seed (`WTMUX_SEED`, else the time). Prints the seed first, so a failure can
//! be replayed; ends with the number of steps checked and disagreements found (a disagreement
//! stops the run with the seed and the last steps).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/differential/mod.rs"]
mod differential;

fn main() {
    let steps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("WTMUX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("seed {seed} (WTMUX_SEED={seed} replays), {steps} steps");
    let started = std::time::Instant::now();
    let mut walk = differential::Walk::new(seed);
    walk.progress_every = 1000;
    walk.run(steps, 100);
    println!(
        "{} steps checked, {} remove + restore round trips, 0 disagreements, in {:.0} s",
        walk.checks,
        walk.round_trips,
        started.elapsed().as_secs_f64()
    );
}
