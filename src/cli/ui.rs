//! `wtmux ui` (and bare `wtmux`): the popup dashboard.

use std::io::Write;
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
    if !has_terminal() {
        warn!("the dashboard needs a terminal: run `wtmux ui` in tmux or a terminal");
        return Ok(ExitCode::FAILURE);
    }
    crate::tui::run(project)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether the dashboard can run here: it draws on standard output and reads keys from standard
/// input, or else from the controlling terminal (`/dev/tty`), as crossterm does.
fn has_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
        && (std::io::stdin().is_terminal()
            || std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .is_ok())
}
