//! The popup dashboard: `app` (state and actions, pure), `view` (drawing, pure), `keys` (keys to
//! actions), `words` (the core's facts in the popup's words and keys) and `runtime` (the event
//! loop that runs effects through the core).

pub mod app;
pub mod keys;
pub mod refresh;
pub mod runtime;
pub mod view;
pub mod words;

use std::sync::OnceLock;
use std::time::Instant;

use crate::core::{Project, Result};

/// When the process started, for the first-frame timing the benchmarks read.
pub static STARTED: OnceLock<Instant> = OnceLock::new();

/// Runs the dashboard in the current terminal until it is closed.
pub fn run(project: Project) -> Result<()> {
    runtime::run(project, *STARTED.get_or_init(Instant::now))
}
