//! Step 4 of the workflow: merge a branch into base, in the worktree where base is checked out,
//! only when its checks passed on exactly the content being merged and git predicts no conflict;
//! then run post_merge in the main worktree and clean up.
//!
//! [`plan`] works everything out without changing anything (the popup shows it as the
//! confirmation or the refusal); [`execute`] carries a plan out under the operation lock
//! ([`OpLock`]): the result is built off-line ([`build`]), checked when `gate = "merged"`, and
//! base moves by compare-and-swap, journaled so that a crash is finished or rolled back by the
//! next command ([`apply`]). post_merge is in [`post`].
//!
//! The files: `refusal` (blockers and refusals), `queue` (the merge queue), `build`, `apply`,
//! `post`. This file holds the plan.

mod apply;
pub mod build;
mod post;
mod queue;
mod refusal;

pub use apply::{KIND, recover};
pub use post::{POST_MERGE_COMMAND, PostMerge, WindowEnd, run_post_merge_window};
pub use queue::{LeftOut, NoBranch, Queue, QueueProgress, merge_all_green};
pub use refusal::{Blocker, NotMerged, Refused};

use std::io::Write;

use git2::{Oid, Repository};
use serde::Serialize;

use super::agent::{self, AgentState};
use super::check::{self, CheckState};
use super::config::MergeStrategy;
use super::error::{Error, Result};
use super::git::{self, MergePrediction};
use super::operation;
use super::oplock::OpLock;
use super::remove::Removed;
use super::worktree::{self, Worktree};
use super::{Project, status};

#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    pub strategy: Option<MergeStrategy>,
    /// Commit the branch worktree's uncommitted changes with this message first.
    pub commit_message: Option<String>,
    /// Keep worktree, branch and window after the merge.
    pub keep: bool,
    /// Merge even though the checks have not passed on this content.
    pub force: bool,
}

/// Everything a merge would do, worked out without changing anything. Only [`plan`] makes one
/// (its fields are private), so [`execute`] can trust what it holds.
#[derive(Debug, Clone)]
pub struct MergePlan {
    branch: String,
    base: String,
    strategy: MergeStrategy,
    branch_worktree: Option<Worktree>,
    base_worktree: Option<Worktree>,
    base_commit: Oid,
    /// The branch tip now.
    tip: Oid,
    /// The content that would be merged: the tip's tree plus, with `--commit`, what is
    /// uncommitted.
    content_tree: Oid,
    dirty: Vec<String>,
    /// Commits base would gain: (id, subject), newest first.
    commits: Vec<(Oid, String)>,
    checks_configured: bool,
    blockers: Vec<Blocker>,
    /// What to know before merging, on one line each: the scope guard's overlaps (branches that would start conflicting, or merely overlap;
    /// files outside its declared scope), its agent still at work.
    warnings: Vec<String>,
    /// What the branch changes against where it left base (its content, uncommitted work
    /// included).
    diffstat: Diffstat,
    /// Commits base gained since the branch left it (the merge brings them together with
    /// the branch's, untested together unless the gate is `merged`).
    base_moved: usize,
    /// The task its agent was started with, when there is one (a squash message names it).
    task: Option<String>,
    options: MergeOptions,
}

/// Lines added and removed per file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diffstat {
    /// (path, lines added, lines removed); binary files count 0 and 0.
    pub files: Vec<(String, usize, usize)>,
    pub insertions: usize,
    pub deletions: usize,
}

impl Diffstat {
    /// The changes from `from` to `to` (commits, read from `repo`).
    pub fn between(repo: &Repository, from: Oid, to: Oid) -> Result<Diffstat> {
        let old = repo.find_commit(from)?.tree()?;
        let new = repo.find_commit(to)?.tree()?;
        let diff = repo.diff_tree_to_tree(Some(&old), Some(&new), None)?;
        let mut stat = Diffstat::default();
        for index in 0..diff.deltas().len() {
            let delta = diff.get_delta(index);
            let path = delta
                .and_then(|d| d.new_file().path().or(d.old_file().path()))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (added, removed) = match git2::Patch::from_diff(&diff, index)? {
                Some(patch) => {
                    let (_, added, removed) = patch.line_stats()?;
                    (added, removed)
                }
                None => (0, 0),
            };
            stat.insertions += added;
            stat.deletions += removed;
            stat.files.push((path, added, removed));
        }
        Ok(stat)
    }
}

impl MergePlan {
    pub fn branch(&self) -> &str {
        &self.branch
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn strategy(&self) -> MergeStrategy {
        self.strategy
    }

    /// Uncommitted paths of the branch's worktree.
    pub fn dirty(&self) -> &[String] {
        &self.dirty
    }

    /// Commits base would gain: (id, subject), newest first.
    pub fn commits(&self) -> &[(Oid, String)] {
        &self.commits
    }

    /// What to know before merging (see the field).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// What the branch changes against where it left base.
    pub fn diffstat(&self) -> &Diffstat {
        &self.diffstat
    }

    /// Commits base gained since the branch left it.
    pub fn base_moved(&self) -> usize {
        self.base_moved
    }

    /// The task its agent was started with, when there is one.
    pub fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }

    /// Every blocker found, whether or not the options lift it.
    pub fn blockers(&self) -> &[Blocker] {
        &self.blockers
    }

    /// Blockers that stop this merge given its options.
    pub fn refusals(&self) -> Vec<&Blocker> {
        self.blockers
            .iter()
            .filter(|b| !(self.options.force && b.forceable()))
            .collect()
    }

    /// The branch tip the plan takes.
    pub fn tip(&self) -> Oid {
        self.tip
    }

    /// Checks are configured: without, nothing was checked and nothing gates the merge.
    pub fn checks_configured(&self) -> bool {
        self.checks_configured
    }

    /// The merge goes ahead although the checks did not pass.
    pub fn forced_past_checks(&self) -> bool {
        self.options.force && self.blockers.iter().any(Blocker::forceable)
    }
}

/// Works out a merge of `name` (a branch or worktree; default: the current worktree's branch).
pub fn plan(project: &Project, name: Option<&str>, options: &MergeOptions) -> Result<MergePlan> {
    if project.config.post_merge.is_some() {
        project.config.require_trusted("post_merge")?;
    }
    let repo = project.repo()?;
    let all = worktree::worktrees(project)?;
    let (branch, branch_worktree) = match name {
        Some(name) => match worktree::find(project, name) {
            Ok(w) => (w.branch.clone(), Some(w)),
            Err(Error::UnknownWorktree(_))
                if repo.find_reference(&format!("refs/heads/{name}")).is_ok() =>
            {
                (Some(name.to_string()), None)
            }
            Err(e) => return Err(e),
        },
        None => {
            let w = worktree::current(project)?;
            (w.branch.clone(), Some(w))
        }
    };
    let branch = branch.ok_or(NotMerged::Detached)?;
    let branch_worktree = branch_worktree.filter(|w| !w.prunable);
    let base = project.base.clone();
    let base_commit = project.require_base_commit()?;
    let base_worktree = all
        .iter()
        .find(|w| w.branch.as_deref() == Some(base.as_str()) && !w.prunable)
        .cloned();
    let strategy = options.strategy.unwrap_or(project.config.merge_strategy);
    let mut blockers = Vec::new();
    if branch == base {
        blockers.push(Blocker::IsBase);
    }
    // Refused here, before anything is staged: git refuses an empty message only after
    // `git add -A`, leaving the worktree's staging changed.
    if options
        .commit_message
        .as_deref()
        .is_some_and(|m| m.trim().is_empty())
    {
        blockers.push(Blocker::EmptyCommitMessage);
    }

    let tip = git::resolve_commit(&repo, &format!("refs/heads/{branch}"))?;
    let mut stopped = Vec::new();
    let scratch = project.scratch_objects()?;
    let tip_content = status::Content::of_tree(repo.find_commit(tip)?.tree_id());
    let (dirty, content, content_commit) = match &branch_worktree {
        Some(w) => {
            let wt_repo = Repository::open(&w.path)?;
            if let Some(operation) = operation::in_progress(&wt_repo)? {
                stopped.push(Blocker::OperationInProgress {
                    branch: branch.clone(),
                    operation,
                });
            }
            let changes = status::exact_changes(&w.path)?;
            if changes.is_empty() {
                (Vec::new(), tip_content, tip)
            } else {
                let content = project.content_store()?.content(&w.path, &changes)?;
                let head = git::head_commit(&wt_repo).unwrap_or(tip);
                let commit = scratch.commit(content.tree, &[head])?;
                (changes.paths(), content, commit)
            }
        }
        None => (Vec::new(), tip_content, tip),
    };
    let content_tree = content.tree;
    let branch_mid_operation = !stopped.is_empty();
    if !stopped.is_empty() {
        // Never suggest committing a half-done rebase or merge.
        blockers.append(&mut stopped);
    } else if !dirty.is_empty()
        // A submodule or nested repository with uncommitted work of its own: a commit here
        // would not hold that work, so what was checked is not what would merge.
        && (options.commit_message.is_none() || !content.is_plain_tree())
    {
        blockers.push(Blocker::BranchDirty {
            files: dirty.clone(),
        });
    }
    match &base_worktree {
        None => blockers.push(Blocker::BaseNotCheckedOut),
        Some(w) => {
            let base_repo = Repository::open(&w.path)?;
            if let Some(operation) = operation::in_progress(&base_repo)? {
                blockers.push(Blocker::OperationInProgress {
                    branch: base.clone(),
                    operation,
                });
            }
            let tracked_changes = tracked_changes(&base_repo)?;
            if !tracked_changes.is_empty() {
                blockers.push(Blocker::BaseDirty {
                    files: tracked_changes,
                });
            }
        }
    }
    let commits = git::commits_between(&repo, base_commit, tip)?;
    if commits.is_empty() && dirty.is_empty() && branch != base {
        blockers.push(Blocker::NothingToMerge);
    }

    let checks_configured = !project.config.checks.is_empty();
    let check = if checks_configured {
        match check::result_for(project, &content.key)? {
            Some(outcome) if outcome.passed => CheckState::Passed,
            Some(_) => CheckState::Failed,
            None => match &branch_worktree {
                Some(w) => match check::status_of(project, w)?.state {
                    CheckState::Running => CheckState::Running,
                    CheckState::None => CheckState::None,
                    _ => CheckState::Stale,
                },
                None => CheckState::None,
            },
        }
    } else {
        CheckState::None
    };
    if checks_configured && check != CheckState::Passed {
        let name = match check {
            CheckState::Failed => check::result_for(project, &content.key)?.and_then(|o| o.failed),
            _ => None,
        };
        blockers.push(Blocker::ChecksNotPassed { state: check, name });
    }

    let scratch_repo = scratch.repository()?;
    let fork = git::merge_base(&scratch_repo, base_commit, content_commit)?;
    let (diffstat, base_moved) = match fork {
        Some(fork) => {
            // A half-done rebase or merge holds markers and a moved HEAD: what it would
            // conflict in says nothing (and the hint to merge base in would send the user into
            // a second one).
            if !branch_mid_operation
                && let MergePrediction::Conflicts { paths } =
                    scratch.merge(base_commit, content_commit)?
            {
                blockers.push(Blocker::Conflicts { files: paths });
            }
            (
                Diffstat::between(&scratch_repo, fork, content_commit)?,
                git::commits_between(&scratch_repo, fork, base_commit)?.len(),
            )
        }
        // An orphan branch: git would refuse the merge itself.
        None => {
            blockers.push(Blocker::UnrelatedHistory);
            (Diffstat::default(), 0)
        }
    };
    let mut warnings = Vec::new();
    if let Ok(report) = super::scope::analyze_for_display(project) {
        warnings.extend(super::scope::merge_warnings(&report, &branch));
    }
    let record = match &branch_worktree {
        Some(w) => agent::read_record(project, &w.path)?,
        None => None,
    };
    if let (Some(record), Some(w)) = (&record, &branch_worktree) {
        let snapshot = project.tmux.as_ref().and_then(|t| t.snapshot().ok());
        let state = agent::statuses(project, &[w.path.as_path()], snapshot.as_ref())?
            .pop()
            .map(|s| s.state);
        match state {
            Some(AgentState::Working) => warnings.push(format!(
                "{branch}'s agent ({}) is still working: what it writes next is not in this merge",
                record.name
            )),
            Some(AgentState::Waiting) => warnings.push(format!(
                "{branch}'s agent ({}) is waiting for an answer",
                record.name
            )),
            _ => {}
        }
    }
    let task = record.and_then(|r| r.task);
    Ok(MergePlan {
        branch,
        base,
        strategy,
        branch_worktree,
        base_worktree,
        base_commit,
        tip,
        content_tree,
        dirty,
        commits,
        checks_configured,
        blockers,
        warnings,
        diffstat,
        base_moved,
        task,
        options: options.clone(),
    })
}

/// Tracked files with changes (untracked files never stop a merge into base; git refuses by
/// itself if one would be overwritten, and the merge is then undone).
fn tracked_changes(repo: &Repository) -> Result<Vec<String>> {
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    Ok(repo
        .statuses(Some(&mut options))?
        .iter()
        .filter(|e| e.status() != git2::Status::CURRENT)
        .filter_map(|e| e.path().ok().map(str::to_string))
        .collect())
}

/// What a finished merge did.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    pub branch: String,
    pub base: String,
    pub strategy: MergeStrategy,
    /// Base's new tip.
    pub commit: String,
    /// The commit `--commit` made on the branch first.
    pub committed: Option<String>,
    /// The checks had not passed and `--force` merged anyway.
    pub forced_past_checks: bool,
    pub post_merge: Option<PostMerge>,
    pub removed: Option<Removed>,
    /// The branch or its worktree changed while it was merged, so worktree, branch and
    /// window were kept (instead of removed) with what the merge did not take.
    pub kept_changed: Option<ChangedWhileMerging>,
    /// Cleanup failed after a successful merge (the merge stands).
    pub cleanup_error: Option<String>,
}

/// The branch or its worktree changed between the moment a merge took the branch and its
/// cleanup (an agent committing or writing while the merge was planned, gated, confirmed):
/// the cleanup kept worktree, branch and window rather than put that work in the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedWhileMerging {
    pub branch: String,
    /// The branch's tip now (short id), when it is not the tip that was merged.
    pub tip: Option<String>,
    /// Its commits the merge did not take: "<short id> <subject>", newest first.
    pub new_commits: Vec<String>,
    /// Uncommitted paths in its worktree, as `git status` lists them.
    pub uncommitted: Vec<String>,
}

/// "kept feat/x (worktree, branch and window): it changed while it was merged (1 new commit
/// (abc1234 msg), 2 uncommitted files (a, b)), which is not in the merge".
impl std::fmt::Display for ChangedWhileMerging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::error::{list_for_message, plural};
        let mut parts = Vec::new();
        match (&self.tip, self.new_commits.len()) {
            (Some(tip), 0) => parts.push(format!("its branch moved to {tip}")),
            (None, 0) => {}
            (_, n) => parts.push(format!(
                "{n} new commit{} ({})",
                plural(n),
                list_for_message(&self.new_commits, 3)
            )),
        }
        if !self.uncommitted.is_empty() {
            parts.push(format!(
                "{} uncommitted file{} ({})",
                self.uncommitted.len(),
                plural(self.uncommitted.len()),
                list_for_message(&self.uncommitted, 5)
            ));
        }
        write!(
            f,
            "kept {} (worktree, branch and window): it changed while it was merged ({}), which is not in the merge",
            self.branch,
            parts.join(", ")
        )
    }
}

/// Carries out a plan; the plan must have been made with `lock` held (base is compared and
/// swapped all the same: a plan that went stale changes nothing).
pub fn execute(
    project: &Project,
    lock: &OpLock,
    plan: &MergePlan,
    post_merge_output: &mut dyn Write,
) -> Result<Merged> {
    if !lock.covers(project) {
        return Err(NotMerged::ForeignLock.into());
    }
    apply::execute(project, lock, plan, post_merge_output)
}
