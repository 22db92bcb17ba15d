//! `wtmux merge`: one branch into base, gated on its checks; or `--all-green`, the merge queue.

use std::io::Write;
use std::process::ExitCode;

use super::output::{Stdout, shown, shown_path};
use crate::core::config::MergeStrategy;
use crate::core::merge::{self, MergeOptions};
use crate::core::oplock::OpLock;
use crate::core::{Project, Result};
use crate::printable::EscapingLines;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(conflicts_with = "all_green")]
    branch: Option<String>,
    /// Merge every green branch, one by one, in an order that does not conflict; list
    /// every other branch with the reason (base is left clean after each step).
    #[arg(long)]
    all_green: bool,
    /// With --all-green: first run the checks of worktrees not checked on their current
    /// content, and wait for them.
    #[arg(long, requires = "all_green")]
    verify: bool,
    #[arg(long, value_enum)]
    strategy: Option<StrategyArg>,
    /// Commit the worktree's uncommitted changes with this message first.
    // Not with --all-green: the queue leaves uncommitted work alone, and one message for
    // every worktree's work would be no message.
    #[arg(long, value_name = "MSG", value_parser = commit_message, conflicts_with = "all_green")]
    commit: Option<String>,
    /// Keep worktree, branch and window afterwards.
    #[arg(long)]
    keep: bool,
    /// Merge even if the checks have not passed on this content.
    // Not with --all-green: the queue merges green branches only, so it would force nothing.
    #[arg(long, conflicts_with = "all_green")]
    force: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    Merge,
    Rebase,
    Squash,
}

impl From<StrategyArg> for MergeStrategy {
    fn from(arg: StrategyArg) -> Self {
        match arg {
            StrategyArg::Merge => MergeStrategy::Merge,
            StrategyArg::Rebase => MergeStrategy::Rebase,
            StrategyArg::Squash => MergeStrategy::Squash,
        }
    }
}

/// A message git would take: not empty once blank lines and spaces are gone (git refuses an
/// empty one only after the worktree's changes were staged, which would change the worktree).
fn commit_message(text: &str) -> std::result::Result<String, String> {
    if text.trim().is_empty() {
        return Err("the commit message is empty".into());
    }
    Ok(text.to_string())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Args {
        branch,
        all_green,
        verify,
        strategy,
        commit,
        keep,
        force,
    } = args;
    let project = super::project()?;
    let options = MergeOptions {
        strategy: strategy.map(Into::into),
        commit_message: commit,
        keep,
        force,
    };
    let what = match (&branch, all_green) {
        (_, true) => "merge of every green branch".to_string(),
        (Some(branch), _) => format!("merge of {branch}"),
        (None, _) => "merge".to_string(),
    };
    let lock = super::take_lock(&project, &what)?;
    if all_green {
        return merge_all_green(&project, &lock, &options, verify);
    }
    let plan = merge::plan(&project, branch.as_deref(), &options)?;
    // A refusal is one line; the warnings are for a merge that goes ahead.
    if plan.refusals().is_empty() {
        for warning in plan.warnings() {
            warn!("warning: {}", shown(warning));
        }
    }
    let merged = {
        // post_merge's output, shown line by line, escaped.
        let mut escaped = EscapingLines::new(Stdout);
        let merged = merge::execute(&project, &lock, &plan, &mut escaped);
        escaped.finish().ok();
        merged?
    };
    if merged.forced_past_checks {
        warn!(
            "WARNING: {} was merged WITHOUT passing checks on its content (--force)",
            shown(&merged.branch)
        );
    }
    if let Some(commit) = &merged.committed {
        say!("committed {} on {}", &commit[..7], shown(&merged.branch));
    }
    Ok(if print_merged(&merged) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a merge did after base moved: the merge line, post_merge, the cleanup. `false` when
/// post_merge or the cleanup failed (the merge stands).
fn print_merged(merged: &merge::Merged) -> bool {
    say!(
        "merged {} into {} ({}), now at {}",
        shown(&merged.branch),
        shown(&merged.base),
        merged.strategy,
        &merged.commit[..merged.commit.len().min(7)]
    );
    let mut fine = true;
    if let Some(post) = &merged.post_merge {
        match (post.exit_code, &post.window) {
            (Some(0), _) => say!("post_merge `{}` succeeded", shown(&post.command)),
            (Some(code_), _) => {
                warn!(
                    "post_merge `{}` failed with exit {code_} (log: {})",
                    shown(&post.command),
                    shown_path(&post.log)
                );
                fine = false;
            }
            (None, Some(window)) => say!(
                "post_merge `{}` running in window {window} (log: {})",
                shown(&post.command),
                shown_path(&post.log)
            ),
            (None, None) => {}
        }
    }
    if let Some(removed) = &merged.removed {
        super::remove::print_removed(removed);
    }
    if let Some(kept) = &merged.kept_changed {
        warn!(
            "{}: merge it again, or `wtmux remove {}`",
            shown(&kept.to_string()),
            shown(&kept.branch)
        );
    }
    if let Some(error) = &merged.cleanup_error {
        warn!("merged, but cleanup failed: {}", shown(&error.to_string()));
        fine = false;
    }
    fine
}

/// `merge --all-green [--verify]`: exit 0 when every branch that was green and mergeable merged.
fn merge_all_green(
    project: &Project,
    lock: &OpLock,
    options: &MergeOptions,
    verify: bool,
) -> Result<ExitCode> {
    /// `fine` turns false when a post_merge or a cleanup after a merge failed.
    struct Progress {
        fine: bool,
    }
    impl merge::QueueProgress for Progress {
        fn verifying(&mut self, branches: &[String]) {
            say!(
                "running the checks of {} and waiting for them",
                shown(&branches.join(", "))
            );
        }
        fn merged(&mut self, merged: &merge::Merged) {
            self.fine &= print_merged(merged);
        }
    }
    let mut progress = Progress { fine: true };
    let mut escaped = EscapingLines::new(Stdout);
    let queue = merge::merge_all_green(project, lock, options, verify, &mut escaped, &mut progress);
    escaped.finish().ok();
    let queue = queue?;
    if queue.merged.is_empty() {
        if queue.all_merged() {
            say!("no green branch to merge");
        } else {
            say!("merged nothing: every green branch's merge was refused or failed");
        }
    }
    for (branch, why) in &queue.left_out {
        warn!("not merging {}: {}", shown(branch), shown(&why.to_string()));
    }
    Ok(if queue.all_merged() && progress.fine {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
