//! Why a merge does not happen: the blockers a plan finds (a refusal, changing nothing), and
//! what stops a merge on its way (base then as it was).

use std::fmt;

use serde::Serialize;

use crate::core::check::CheckState;
use crate::core::config::MergeStrategy;
use crate::core::error::plural;
use crate::core::error::{Error, list_for_message};
use crate::core::operation::Operation;

/// A reason a merge cannot go ahead as asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Blocker {
    IsBase,
    BaseNotCheckedOut,
    NothingToMerge,
    BranchDirty {
        files: Vec<String>,
    },
    BaseDirty {
        files: Vec<String>,
    },
    ChecksNotPassed {
        state: CheckState,
        name: Option<String>,
    },
    Conflicts {
        files: Vec<String>,
    },
    /// A git operation stopped half way in the branch's or base's worktree: committing there
    /// would record the half-done state.
    OperationInProgress {
        branch: String,
        operation: Operation,
    },
    /// The message to commit the branch worktree's changes with is empty (or blank): git would
    /// refuse it only after everything was staged.
    EmptyCommitMessage,
    /// The branch shares no commit with base (an orphan branch): git refuses to merge
    /// unrelated histories.
    UnrelatedHistory,
}

impl Blocker {
    /// Only the check gate gives way to `--force`.
    pub fn forceable(&self) -> bool {
        matches!(self, Blocker::ChecksNotPassed { .. })
    }
}

/// The facts of a blocker in plain words, naming no flag or key: the CLI adds its flags
/// (`cli/error.rs`), the popup its keys.
impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::IsBase => write!(f, "it is the base branch"),
            Blocker::BaseNotCheckedOut => write!(
                f,
                "base is not checked out in any worktree (check it out in the main worktree)"
            ),
            Blocker::NothingToMerge => write!(f, "it has nothing that base lacks"),
            Blocker::BranchDirty { files } => write!(
                f,
                "its worktree has {} uncommitted file{} ({})",
                files.len(),
                plural(files.len()),
                list_for_message(files, 5)
            ),
            Blocker::BaseDirty { files } => write!(
                f,
                "the base worktree has {} uncommitted file{} ({}): commit or stash them there",
                files.len(),
                plural(files.len()),
                list_for_message(files, 5)
            ),
            Blocker::ChecksNotPassed { state, name } => match (state, name) {
                (CheckState::Failed, Some(name)) => {
                    write!(f, "check {name:?} failed on this content")
                }
                (CheckState::Running, _) => write!(f, "its checks are still running"),
                (CheckState::Stale, _) => {
                    write!(f, "its checks ran on other content than is being merged")
                }
                _ => write!(f, "its checks have not run on this content"),
            },
            Blocker::Conflicts { files } => write!(
                f,
                "merging would conflict in {} file{}: {} (merge base into the branch and resolve there)",
                files.len(),
                plural(files.len()),
                list_for_message(files, 8)
            ),
            Blocker::OperationInProgress { branch, operation } => write!(
                f,
                "in the worktree of {branch}, {operation}: finish or abort it there first"
            ),
            Blocker::EmptyCommitMessage => write!(f, "the commit message is empty"),
            Blocker::UnrelatedHistory => write!(
                f,
                "it shares no history with base (git refuses to merge unrelated histories)"
            ),
        }
    }
}

/// A merge refused, changing nothing, for these blockers (those `--force` did not lift).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub branch: String,
    pub base: String,
    pub blockers: Vec<Blocker>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reasons: Vec<String> = self.blockers.iter().map(Blocker::to_string).collect();
        write!(
            f,
            "not merging {} into {}: {}",
            self.branch,
            self.base,
            reasons.join("; ")
        )
    }
}

impl std::error::Error for Refused {}

/// A merge that could not be made, or stopped on its way with base as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotMerged {
    #[error("that worktree has no branch checked out (detached HEAD)")]
    Detached,
    /// A lock of another repository was passed in: a bug of the caller.
    #[error("internal error: the lock of another repository")]
    ForeignLock,
    /// The commit of the branch's uncommitted work left no HEAD.
    #[error("commit failed")]
    CommitFailed,
    /// A commit hook changed what it committed, so the checks' result is not for it.
    #[error(
        "committed {commit}, but a commit hook changed the content: check it again before merging"
    )]
    HookChangedContent { commit: String },
    #[error(
        "not merging {branch} into {base}: {strategy} conflicts{} in {}; the branch is as it was",
        at.as_deref().map(|at| format!(" at {at}")).unwrap_or_default(),
        list_for_message(files, 8)
    )]
    Conflicts {
        branch: String,
        base: String,
        strategy: MergeStrategy,
        /// The commit it stopped at ("<short id> <subject>"), when rebasing.
        at: Option<String>,
        files: Vec<String>,
    },
    /// `gate = "merged"`: a check failed on the merge result.
    #[error(
        "not merging {branch} into {base}: check {check:?} failed on the merge result (exit {exit_code}, log: {}); {base} is unchanged",
        log.as_deref().map(|l| l.display().to_string()).unwrap_or_default()
    )]
    GateFailed {
        branch: String,
        base: String,
        check: String,
        exit_code: i32,
        log: Option<std::path::PathBuf>,
    },
    /// The worktree where base is checked out cannot take the result (found before base moved).
    #[error("not merging {branch}: the worktree of {base} cannot take the result ({detail})")]
    BaseWorktreeCannotTake {
        branch: String,
        base: String,
        detail: String,
    },
    #[error(
        "not merging {branch}: {base} moved while the merge was prepared (to {}); nothing changed, try again",
        now.as_deref().unwrap_or("nowhere")
    )]
    BaseMoved {
        branch: String,
        base: String,
        now: Option<String>,
    },
    /// Base moved, and its worktree could not follow: base was put back (`Ok`: where), or not
    /// (`Err`: why).
    #[error(
        "not merging {branch}: the worktree of {base} could not follow ({error}); {}",
        match put_back {
            Ok(old) => format!("{base} is back at {old}"),
            Err(e) => format!("{base} could not be put back: {e}"),
        }
    )]
    BaseWorktreeStuck {
        branch: String,
        base: String,
        error: String,
        put_back: std::result::Result<String, String>,
    },
    /// A worktree's index changed while the merge ran; it was left alone.
    #[error("the index of {} changed meanwhile; it was left as it is", .0.display())]
    IndexChanged(std::path::PathBuf),
    /// After a rebase merge, the branch moved before it could be set to the rebased commits.
    #[error(
        "{branch} moved meanwhile, so it was not rebased (its commits are in {base} all the same)"
    )]
    BranchMovedNotRebased { branch: String, base: String },
}

impl From<NotMerged> for Error {
    fn from(not_merged: NotMerged) -> Error {
        Error::step(not_merged)
    }
}
