//! `wtmux remove`: stop, save to the trash, delete worktree, branch and window.

use std::io::Write;
use std::process::ExitCode;

use super::output::{shown, shown_path};
use crate::core::Result;
use crate::core::remove::{self, RemoveOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: String,
    /// Remove even with uncommitted files or unmerged commits.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    keep_branch: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Args {
        branch,
        force,
        keep_branch,
    } = args;
    let project = super::project()?;
    let lock = super::take_lock(&project, &format!("remove {branch}"))?;
    let removed = remove::remove_with(
        &project,
        &lock,
        &branch,
        &RemoveOptions { force, keep_branch },
    )?;
    print_removed(&removed);
    Ok(ExitCode::SUCCESS)
}

/// What a removal did (also after a merge that cleans up).
pub(super) fn print_removed(removed: &remove::Removed) {
    if removed.stopped_processes > 0 {
        say!(
            "stopped {} process{} of its window",
            removed.stopped_processes,
            if removed.stopped_processes == 1 {
                ""
            } else {
                "es"
            }
        );
    }
    say!("removed worktree {}", shown_path(&removed.path));
    if removed.branch_deleted
        && let Some(branch) = &removed.branch
    {
        say!("deleted branch {}", shown(branch));
    }
    if removed.window_closed || removed.window_deferred {
        say!("closed its window");
    }
    if removed.branch_kept_moved
        && let Some(branch) = &removed.branch
    {
        say!(
            "kept branch {}: it moved after the worktree was saved",
            shown(branch)
        );
    }
    say!(
        "saved to the trash as {} (wtmux restore --from {})",
        shown(&removed.trash.id),
        shown(&removed.trash.id)
    );
}
