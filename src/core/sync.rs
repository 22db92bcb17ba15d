//! Bringing base's new commits into a worktree (`wtmux sync`, the popup's sync key): in the
//! worktree itself, by git's own `merge` or `rebase`, so hooks run and a conflict stays there
//! with its markers, for the agent (or the user) to resolve — see [`super::handoff`].
//!
//! A sync moves nothing but the worktree's own branch (git moves it, in that worktree), so it
//! takes no operation lock; it refuses, changing nothing, a worktree with uncommitted changes
//! (they would be mixed into the result, or make git stop half way) or with a git operation
//! already stopped half way.

use std::fmt;

use git2::Repository;
use serde::Serialize;

use super::error::plural;
use super::error::{Error, Result, list_for_message};
use super::git::{self, Git};
use super::operation::{self, Operation};
use super::worktree;
use super::{Project, status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMethod {
    Merge,
    Rebase,
}

impl fmt::Display for SyncMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncMethod::Merge => "merge",
            SyncMethod::Rebase => "rebase",
        })
    }
}

/// What a sync did.
#[derive(Debug, Clone, Serialize)]
pub struct Synced {
    pub branch: String,
    pub path: std::path::PathBuf,
    pub base: String,
    pub method: SyncMethod,
    /// Base's commits the branch lacked: (id, subject), newest first.
    pub incoming: Vec<(String, String)>,
    pub outcome: SyncOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SyncOutcome {
    /// The branch already held every commit of base.
    UpToDate,
    /// Base's commits are in; the branch is at `head`.
    Synced { head: String },
    /// git stopped on conflicts: the operation is left in the worktree, markers in the files.
    Conflicted {
        operation: Operation,
        files: Vec<String>,
    },
}

impl fmt::Display for Synced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.incoming.len();
        let commits = format!("{n} commit{}", plural(n));
        match &self.outcome {
            SyncOutcome::UpToDate => {
                write!(
                    f,
                    "{} already has every commit of {}",
                    self.branch, self.base
                )
            }
            SyncOutcome::Synced { .. } => match self.method {
                SyncMethod::Merge => {
                    write!(f, "merged {commits} of {} into {}", self.base, self.branch)
                }
                SyncMethod::Rebase => write!(
                    f,
                    "rebased {} onto {} ({commits} new)",
                    self.branch, self.base
                ),
            },
            SyncOutcome::Conflicted { operation, files } => write!(
                f,
                "{}: {} ({}); the conflict stays in its worktree",
                self.branch,
                operation.summary(),
                list_for_message(files, 5)
            ),
        }
    }
}

/// The default method: a repository that merges by rebasing syncs by rebasing too.
pub fn default_method(project: &Project) -> SyncMethod {
    match project.config.merge_strategy {
        super::config::MergeStrategy::Rebase => SyncMethod::Rebase,
        _ => SyncMethod::Merge,
    }
}

/// Why `sync` refused, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the directory of {0} is gone")]
    DirectoryGone(String),
    #[error("in the worktree of {worktree}, {operation}: finish or abort it there first")]
    OperationInProgress {
        worktree: String,
        operation: Operation,
    },
    #[error("that worktree has no branch checked out (detached HEAD)")]
    Detached,
    #[error("{0} is the base branch: there is nothing to bring into it")]
    IsBase(String),
    #[error(
        "the worktree of {branch} has {} uncommitted file{} ({}): commit them first",
        files.len(),
        plural(files.len()),
        list_for_message(files, 5)
    )]
    Uncommitted { branch: String, files: Vec<String> },
    #[error("{0} has no commit yet")]
    NoCommit(String),
    /// git stopped without a conflict (a `pre-merge-commit` or `commit-msg` hook refused, a
    /// file in the way): the half-done merge or rebase was aborted, so the worktree is as it
    /// was; or, when even the abort failed, it is left half way (`put_back` false).
    #[error(
        "git {method} in the worktree of {branch} stopped without a conflict ({detail}); {}",
        stopped_end(*.put_back, *.method)
    )]
    Stopped {
        branch: String,
        method: SyncMethod,
        detail: String,
        put_back: bool,
    },
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        Error::step(refused)
    }
}

/// Brings base's new commits into the worktree of `name` (a branch or worktree).
pub fn sync(project: &Project, name: &str, method: Option<SyncMethod>) -> Result<Synced> {
    let target = worktree::find(project, name)?;
    if target.prunable {
        return Err(Refused::DirectoryGone(target.label()).into());
    }
    let repo = Repository::open(&target.path)?;
    if let Some(operation) = operation::in_progress(&repo)? {
        return Err(Refused::OperationInProgress {
            worktree: target.label(),
            operation,
        }
        .into());
    }
    let branch = target.branch.clone().ok_or(Refused::Detached)?;
    if branch == project.base {
        return Err(Refused::IsBase(branch).into());
    }
    let changes = status::exact_changes(&target.path)?;
    if !changes.is_empty() {
        return Err(Refused::Uncommitted {
            branch,
            files: changes.paths(),
        }
        .into());
    }
    let method = method.unwrap_or_else(|| default_method(project));
    let base_commit = project.require_base_commit()?;
    let head = git::head_commit(&repo).ok_or_else(|| Refused::NoCommit(branch.clone()))?;
    let incoming: Vec<(String, String)> = git::commits_between(&repo, head, base_commit)?
        .into_iter()
        .map(|(id, subject)| (id.to_string(), subject))
        .collect();
    let synced = |outcome| Synced {
        branch: branch.clone(),
        path: target.path.clone(),
        base: project.base.clone(),
        method,
        incoming: incoming.clone(),
        outcome,
    };
    if incoming.is_empty() {
        return Ok(synced(SyncOutcome::UpToDate));
    }
    // The commit id, not the name: exactly the base the commits above were counted against.
    let base_id = base_commit.to_string();
    let git = Git::new(&target.path);
    let output = match method {
        SyncMethod::Merge => git
            .args(["merge", "--no-edit", "--no-ff", "-m"])
            .arg(format!("Merge branch '{}' into {branch}", project.base))
            .arg(&base_id)
            .output()?,
        SyncMethod::Rebase => git.args(["rebase", "--no-autostash", &base_id]).output()?,
    };
    let repo = Repository::open(&target.path)?;
    if output.status.success() {
        let head = git::head_commit(&repo).unwrap_or(head);
        return Ok(synced(SyncOutcome::Synced {
            head: head.to_string(),
        }));
    }
    match operation::in_progress(&repo)? {
        Some(operation) if operation.conflicted > 0 => {
            let files = operation::conflicted_files(&repo)?;
            Ok(synced(SyncOutcome::Conflicted { operation, files }))
        }
        // Stopped half way with nothing to resolve: only a conflict is left to the agent.
        Some(_) => {
            let put_back = Git::new(&target.path)
                .args([method.to_string().as_str(), "--abort"])
                .output()
                .is_ok_and(|aborted| aborted.status.success());
            Err(Refused::Stopped {
                branch,
                method,
                detail: what_git_said(&output),
                put_back,
            }
            .into())
        }
        None => Err(Error::CommandFailed {
            command: format!("git {method}"),
            detail: git::failure_detail(&output),
        }),
    }
}

/// How a sync that stopped without a conflict ended.
fn stopped_end(put_back: bool, method: SyncMethod) -> String {
    if put_back {
        "put back as it was".to_string()
    } else {
        format!("it is left half way: finish or abort it there (git {method} --abort)")
    }
}

/// What git (and the hook that refused) printed, on one line: its first few lines, hints left
/// out; a hook's own words come before git's summary, so the last line alone would hide them.
fn what_git_said(output: &std::process::Output) -> String {
    let mut lines = git::printed_lines(output);
    lines.truncate(3);
    if lines.is_empty() {
        format!("exit status {}", output.status)
    } else {
        lines.join(" / ")
    }
}
