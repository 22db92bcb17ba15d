//! `wtmux init`: a commented .wtmux.toml in the main worktree.

use std::io::Write;
use std::process::ExitCode;

use super::output::shown_path;
use crate::core::{Error, Result, config, trust};

pub fn run() -> Result<ExitCode> {
    let project = super::project()?;
    let path = project.main_worktree.join(config::REPO_CONFIG_FILE);
    if path.exists() {
        return Err(Error::refused(format!("{} already exists", path.display())));
    }
    std::fs::write(&path, config::EXAMPLE).map_err(|e| Error::io(&path, e))?;
    // What wtmux writes itself is trusted.
    let written = config::Config::load(&project.main_worktree, None)?.repo_commands;
    if !written.keys.is_empty() {
        trust::grant(&project.main_worktree, &written.digest)?;
    }
    say!("wrote {}", shown_path(&path));
    Ok(ExitCode::SUCCESS)
}
