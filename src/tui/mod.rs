//! The popup dashboard.

use crate::core::{Error, Project, Result};

pub fn run(_project: Project) -> Result<i32> {
    Err(Error::refused(
        "the dashboard is not built yet; use the subcommands (wtmux --help)",
    ))
}
