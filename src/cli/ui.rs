//! `wtmux ui` (and bare `wtmux`): the popup dashboard.

use std::process::ExitCode;

use crate::core::{Project, Result};

pub fn run() -> Result<ExitCode> {
    // The popup binding hands over the pane it was opened from (`WTMUX_PANE`); the
    // repository is that pane's.
    let popup_pane = std::env::var("WTMUX_PANE").ok().filter(|p| !p.is_empty());
    let dir = popup_pane.and_then(|pane| crate::core::tmux::Tmux::from_env()?.pane_dir(&pane));
    let project = match dir {
        Some(dir) => Project::discover(&dir)?,
        None => super::project()?,
    };
    crate::tui::run(project)?;
    Ok(ExitCode::SUCCESS)
}
