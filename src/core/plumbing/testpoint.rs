//! Pause points that tests use to stop an operation at an exact step: to run a second operation
//! against the first one's half-done state, or to `kill -9` it there. Always compiled in, inert
//! unless `WTMUX_TEST_PAUSE=<step>[,<step>…]:<fifo>` names the step reached.
//!
//! At such a step the process opens the FIFO for writing (blocking until the test opens it for
//! reading), writes the step's name and closes it; then it opens the FIFO for reading and waits
//! for end of file (the test opening it for writing and closing it) before going on. So the test
//! knows exactly where the process is, and nothing depends on timing.

use std::io::{Read, Write};

pub const ENV: &str = "WTMUX_TEST_PAUSE";

/// Blocks here if the test asked to pause at `step`.
pub fn pause(step: &str) {
    let Some(spec) = std::env::var_os(ENV) else {
        return;
    };
    let spec = spec.to_string_lossy();
    let Some((steps, fifo)) = spec.split_once(':') else {
        return;
    };
    if !steps.split(',').any(|s| s == step) {
        return;
    }
    if let Ok(mut announce) = std::fs::OpenOptions::new().write(true).open(fifo) {
        let _ = writeln!(announce, "{step}");
    }
    if let Ok(mut release) = std::fs::File::open(fifo) {
        let mut ignored = Vec::new();
        let _ = release.read_to_end(&mut ignored);
    }
}
