//! `wtmux trust`: trust the commands this repository's .wtmux.toml defines, on this machine.

use std::io::Write;
use std::process::ExitCode;

use super::output::{shown, shown_path};
use crate::core::{Result, config, trust};

pub fn run() -> Result<ExitCode> {
    let project = super::project()?;
    let commands = &project.config.repo_commands;
    if commands.keys.is_empty() {
        say!(
            "{} defines no commands: nothing to trust",
            shown_path(&project.main_worktree.join(config::REPO_CONFIG_FILE))
        );
        return Ok(ExitCode::SUCCESS);
    }
    trust::grant(&project.main_worktree, &commands.digest)?;
    say!("trusted the commands of {}:", shown_path(&commands.file));
    for command in &commands.commands {
        say!("  {}", shown(command));
    }
    Ok(ExitCode::SUCCESS)
}
