//! `wtmux restore`: a removed worktree back exactly as it was.

use std::io::Write;
use std::process::ExitCode;

use super::output::{shown, shown_path};
use crate::core::error::plural;
use crate::core::{Result, trash};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The branch whose newest save comes back (not needed with --from).
    #[arg(required_unless_present = "from")]
    branch: Option<String>,
    /// Restore this save (an id from `wtmux trash`) instead of the branch's newest.
    #[arg(long, value_name = "ID")]
    from: Option<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Args { branch, from } = args;
    let project = super::project()?;
    let what = branch.as_deref().or(from.as_deref()).unwrap_or_default();
    let lock = super::take_lock(&project, &format!("restore {what}"))?;
    let restored = trash::restore(
        &project,
        &lock,
        branch.as_deref().unwrap_or(""),
        from.as_deref(),
    )?;
    if let Some(was) = &restored.moved_from {
        say!("{} is taken; restoring beside it", shown_path(was));
    }
    say!(
        "restored {} at {} ({} uncommitted file{} as they were)",
        shown(restored.branch.as_deref().unwrap_or("a detached worktree")),
        shown_path(&restored.path),
        restored.restored_files,
        plural(restored.restored_files)
    );
    if project.tmux.is_some()
        && let Some(branch) = &restored.branch
    {
        say!("(wtmux open {} gives it a window)", shown(branch));
    }
    Ok(ExitCode::SUCCESS)
}
