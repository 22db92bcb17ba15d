//! The merge queue (`merge --all-green`): every green branch, one by one, in the scope guard's
//! merge order, under one hold of the lock.

use std::fmt;
use std::io::Write;

use serde::Serialize;

use super::{MergeOptions, Merged, execute, plan};
use crate::core::Project;
use crate::core::check;
use crate::core::error::Result;
use crate::core::oplock::OpLock;
use crate::core::scope::{self, NotGreen};
use crate::core::worktree::{self, Worktree};

/// Why the merge queue left a worktree's branch out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeftOut {
    /// It is not green.
    NotGreen { why: NotGreen },
    /// Green, but it would conflict (with base, or with a branch merged before it).
    WouldConflict { why: String },
    /// Green and mergeable when the queue started, but its merge was refused (for instance
    /// base got dirty): the blockers' facts, in words.
    Refused { why: String },
    /// Green and mergeable when the queue started, but its merge failed.
    Failed { why: String },
    /// It holds no branch the queue could merge.
    NoBranch { why: NoBranch },
}

/// Why a worktree holds no branch to merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoBranch {
    /// Its HEAD is detached (not mid-rebase, which names its branch).
    Detached,
    /// Its branch has no commit yet.
    Unborn,
    /// Its directory is gone.
    DirectoryGone,
}

impl fmt::Display for NoBranch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoBranch::Detached => "its HEAD is detached: there is no branch to merge",
            NoBranch::Unborn => "its branch has no commit yet",
            NoBranch::DirectoryGone => "its directory is gone",
        })
    }
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeftOut::NotGreen { why } => write!(f, "{why}"),
            LeftOut::WouldConflict { why } => write!(f, "it {why}"),
            LeftOut::Refused { why } => write!(f, "its merge was refused: {why}"),
            LeftOut::Failed { why } => write!(f, "its merge failed: {why}"),
            LeftOut::NoBranch { why } => write!(f, "{why}"),
        }
    }
}

/// What the merge queue did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Queue {
    /// The branches merged, in order.
    pub merged: Vec<String>,
    /// Every other active branch, with the reason, in the scope guard's order of worktrees.
    pub left_out: Vec<(String, LeftOut)>,
}

impl Queue {
    /// Every branch that was green and mergeable merged.
    pub fn all_merged(&self) -> bool {
        !self
            .left_out
            .iter()
            .any(|(_, why)| matches!(why, LeftOut::Refused { .. } | LeftOut::Failed { .. }))
    }
}

/// What the queue reports while it works.
pub trait QueueProgress {
    /// Checks were started (or were already running) on these branches; the queue waits.
    fn verifying(&mut self, _branches: &[String]) {}
    fn merged(&mut self, _merged: &Merged) {}
}

/// `merge --all-green`: every green branch, one by one, in the scope guard's merge order, all
/// under one hold of the lock; each merge is planned again on base as it is then, and one that
/// is refused or fails leaves base as it was and the queue goes on with the next. With
/// `verify`, the checks of worktrees not checked on their current content run first, and the
/// queue waits for them (and for runs already going).
pub fn merge_all_green(
    project: &Project,
    lock: &OpLock,
    options: &MergeOptions,
    verify: bool,
    post_merge_output: &mut dyn Write,
    progress: &mut dyn QueueProgress,
) -> Result<Queue> {
    let mut report = scope::analyze_exact(project)?;
    // Two rounds: a run already going when the queue started may be on older content (the
    // agent committed since); once it ended, the current content is checked in the second.
    for round in 1..=if verify { 2 } else { 0 } {
        let unchecked: Vec<&std::path::Path> = report
            .worktrees
            .iter()
            .filter(|c| {
                matches!(
                    c.not_green,
                    Some(NotGreen::Unchecked | NotGreen::ChecksRunning)
                )
            })
            .map(|c| c.path.as_path())
            .collect();
        let waiting: Vec<Worktree> = worktree::worktrees(project)?
            .into_iter()
            .filter(|w| unchecked.contains(&w.path.as_path()))
            .collect();
        if waiting.is_empty() {
            break;
        }
        let names: Vec<String> = waiting.iter().map(Worktree::label).collect();
        progress.verifying(&names);
        for w in &waiting {
            check::start(project, w)?;
        }
        crate::core::testpoint::pause(&format!("queue.verifying.{round}"));
        for w in &waiting {
            check::follow(project, w, &mut std::io::sink())?;
        }
        report = scope::analyze_exact(project)?;
    }
    let mut queue = Queue::default();
    // The scope guard looks only at worktrees with a branch and a commit: the others are
    // listed too, so that every worktree the queue leaves alone is named with the reason.
    for w in worktree::worktrees(project)? {
        if w.is_main
            || w.branch.as_deref() == Some(report.base.as_str())
            || report.worktrees.iter().any(|c| c.path == w.path)
        {
            continue;
        }
        let why = match (&w.branch, w.prunable) {
            (_, true) => NoBranch::DirectoryGone,
            (None, false) => NoBranch::Detached,
            (Some(_), false) => NoBranch::Unborn,
        };
        queue.left_out.push((w.label(), LeftOut::NoBranch { why }));
    }
    for changed in &report.worktrees {
        if let Some(why) = &changed.not_green {
            queue.left_out.push((
                changed.branch.clone(),
                LeftOut::NotGreen { why: why.clone() },
            ));
        }
    }
    for (branch, why) in &report.merge_order.blocked {
        queue
            .left_out
            .push((branch.clone(), LeftOut::WouldConflict { why: why.clone() }));
    }
    for branch in &report.merge_order.order {
        // execute refuses, changing nothing, a plan with blockers.
        let attempt = plan(project, Some(branch), options)
            .and_then(|plan| execute(project, lock, &plan, post_merge_output));
        match attempt {
            Ok(merged) => {
                progress.merged(&merged);
                queue.merged.push(branch.clone());
            }
            Err(e) => {
                // A refusal names the branch and base itself; the line already does.
                let left_out = match e.step_refusal::<super::Refused>() {
                    Some(refused) => LeftOut::Refused {
                        why: refused
                            .blockers
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    },
                    None => LeftOut::Failed { why: e.to_string() },
                };
                queue.left_out.push((branch.clone(), left_out));
            }
        }
    }
    Ok(queue)
}
