//! Step 5 of the workflow: remove a worktree, its branch and its window without losing
//! anything (the whole worktree goes to the trash first), and recovery of a removal killed
//! half way.

use std::path::{Path, PathBuf};

use git2::{BranchType, Oid, Repository};
use serde::Serialize;

use super::error::{Error, Result, list_for_message, plural};
use super::git::{self, Git};
use super::journal::{Journal, Record};
use super::oplock::OpLock;
use super::tmux::{KillOutcome, Window};
use super::trash::{self, TrashEntry};
use super::worktree::{Worktree, find, worktrees};
use super::{Project, agent, canonical, check, scope, status};

/// What removing a worktree would take away from the branch (the trash keeps all of it).
#[derive(Debug, Clone)]
pub struct RemovePlan {
    pub worktree: Worktree,
    /// Uncommitted and untracked paths, as `git status` lists them (a dirty submodule, a
    /// nested repository and an untracked directory are one path each).
    pub dirty: Vec<String>,
    /// Commits on the branch that base lacks: (id, subject).
    pub unmerged: Vec<(Oid, String)>,
    pub window: Option<Window>,
}

impl RemovePlan {
    pub fn loses_work(&self) -> bool {
        !self.dirty.is_empty() || !self.unmerged.is_empty()
    }

    /// What would be lost, as the facts a refusal carries.
    fn loss(&self, base: &str) -> WouldLoseWork {
        WouldLoseWork {
            worktree: self.worktree.label(),
            dirty: self.dirty.clone(),
            unmerged: self.unmerged_lines(),
            base: base.to_string(),
        }
    }

    fn unmerged_lines(&self) -> Vec<String> {
        self.unmerged
            .iter()
            .map(|(id, subject)| format!("{} {subject}", git::short(*id)))
            .collect()
    }
}

/// Works out what removing `name` would lose, refusing what must never be removed. What is
/// uncommitted comes from `git status` itself (submodules, nested repositories, every
/// excludes source included).
pub fn plan_remove(project: &Project, name: &str) -> Result<RemovePlan> {
    let worktree = find(project, name)?;
    if worktree.is_main {
        return Err(Refused::MainWorktree(worktree.path).into());
    }
    if !crate::core::worktree::is_managed(project, &worktree) {
        return Err(Refused::Unmanaged {
            path: worktree.path,
            worktree_dir: project.config.worktree_dir.clone(),
        }
        .into());
    }
    if worktree.branch.as_deref() == Some(project.base.as_str()) {
        return Err(Refused::HoldsBase {
            path: worktree.path,
            base: project.base.clone(),
        }
        .into());
    }
    if worktree.locked {
        return Err(Refused::Locked(worktree.path).into());
    }
    // Moving it would take the other worktree along and leave that one's admin dir behind.
    if let Some(inner) = worktrees(project)?
        .into_iter()
        .find(|w| w.path != worktree.path && w.path.starts_with(&worktree.path))
    {
        return Err(Refused::HoldsWorktree {
            label: inner.label(),
            path: worktree.path,
            inner: inner.path,
        }
        .into());
    }
    // A worktree of another repository keeps its index, HEAD and own refs in that repository's
    // admin dir: the trash would keep the directory, and that repository could prune the rest.
    if !worktree.prunable {
        for nested in status::nested_repositories(&worktree.path)? {
            let dot_git = worktree.path.join(&nested).join(".git");
            let Some(gitdir) = std::fs::read_to_string(&dot_git)
                .ok()
                .and_then(|t| t.strip_prefix("gitdir: ").map(|g| g.trim().to_string()))
            else {
                continue; // a repository of its own, moved whole
            };
            let gitdir = canonical(&worktree.path.join(&nested).join(gitdir));
            if !gitdir.starts_with(canonical(&project.common_dir)) {
                return Err(Refused::HoldsForeignWorktree {
                    nested: worktree.path.join(&nested),
                    path: worktree.path,
                    gitdir,
                }
                .into());
            }
        }
    }
    let repo = project.repo()?;
    let (dirty, tip) = if worktree.prunable {
        (Vec::new(), None)
    } else {
        let wt_repo = Repository::open(&worktree.path)?;
        (
            status::exact_changes(&worktree.path)?.paths(),
            git::head_commit(&wt_repo),
        )
    };
    let tip = tip.or_else(|| {
        worktree
            .branch
            .as_ref()
            .and_then(|b| repo.find_branch(b, BranchType::Local).ok())
            .and_then(|b| b.get().target())
    });
    // Without base nothing can say which commits are unmerged: refuse rather than lose them.
    let base = Some(project.require_base_commit()?);
    let unmerged = match (tip, base) {
        (Some(tip), Some(base)) => git::commits_between(&repo, base, tip)?,
        _ => Vec::new(),
    };
    let window = match &project.tmux {
        Some(tmux) => tmux.window_for(&worktree.path).unwrap_or(None),
        None => None,
    };
    Ok(RemovePlan {
        worktree,
        dirty,
        unmerged,
        window,
    })
}

#[derive(Debug, Clone, Default)]
pub struct RemoveOptions {
    /// Remove even when work would leave the branch (the trash keeps it, as always).
    pub force: bool,
    pub keep_branch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub branch: Option<String>,
    pub path: PathBuf,
    pub trash: TrashEntry,
    pub branch_deleted: bool,
    /// The branch moved after the save (someone committed), so it was kept.
    pub branch_kept_moved: bool,
    /// Processes of the worktree's window (its agent) that were stopped first.
    pub stopped_processes: usize,
    pub window_closed: bool,
    /// The window is the one wtmux ran in; tmux closes it a moment later.
    pub window_deferred: bool,
}

/// Removes worktree, branch and window, under the operation lock the caller holds. Refuses to
/// lose work unless `force`; either way the whole worktree goes to the trash, from where
/// `restore` brings it back.
pub fn remove_with(
    project: &Project,
    lock: &OpLock,
    name: &str,
    options: &RemoveOptions,
) -> Result<Removed> {
    let plan = plan_remove(project, name)?;
    if plan.loses_work() && !options.force {
        return Err(Error::step(plan.loss(&project.base)));
    }
    execute_remove(project, lock, &plan, options)
}

/// A removal refused, changing nothing, because work would leave the branch (unless forced:
/// the trash keeps it either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WouldLoseWork {
    /// The worktree's branch (or a stand-in when detached).
    pub worktree: String,
    /// Uncommitted and untracked paths, as `git status` lists them.
    pub dirty: Vec<String>,
    /// Commits base lacks: "<short id> <subject>".
    pub unmerged: Vec<String>,
    pub base: String,
}

/// "feat has 2 uncommitted files (a, b) and 1 commit not in main (abc1234 msg); nothing
/// removed".
impl std::fmt::Display for WouldLoseWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.dirty.is_empty() {
            parts.push(format!(
                "{} uncommitted file{} ({})",
                self.dirty.len(),
                plural(self.dirty.len()),
                list_for_message(&self.dirty, 5)
            ));
        }
        if !self.unmerged.is_empty() {
            parts.push(format!(
                "{} commit{} not in {} ({})",
                self.unmerged.len(),
                plural(self.unmerged.len()),
                self.base,
                list_for_message(&self.unmerged, 3)
            ));
        }
        write!(
            f,
            "{} has {}; nothing removed",
            self.worktree,
            parts.join(" and ")
        )
    }
}

impl std::error::Error for WouldLoseWork {}

/// Why `remove` refused a worktree it must never remove, or could not save, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{} is the main worktree; wtmux never removes it", .0.display())]
    MainWorktree(PathBuf),
    #[error(
        "{} is outside {}; wtmux only removes worktrees it manages",
        .path.display(),
        .worktree_dir.display()
    )]
    Unmanaged {
        path: PathBuf,
        worktree_dir: PathBuf,
    },
    #[error("{} holds the base branch {base}", .path.display())]
    HoldsBase { path: PathBuf, base: String },
    /// Locked with `git worktree lock`.
    #[error("{} is locked (git worktree unlock it first)", .0.display())]
    Locked(PathBuf),
    /// Another registered worktree lies inside it.
    #[error(
        "{} holds the worktree {} ({label}): remove that one first",
        .path.display(),
        .inner.display()
    )]
    HoldsWorktree {
        path: PathBuf,
        inner: PathBuf,
        label: String,
    },
    /// A worktree of another repository lies inside it, its git data in `gitdir`.
    #[error(
        "{} holds {}, whose git data lives outside it, in {}: move it out first",
        .path.display(),
        .nested.display(),
        .gitdir.display()
    )]
    HoldsForeignWorktree {
        path: PathBuf,
        nested: PathBuf,
        gitdir: PathBuf,
    },
    /// Moving it into the trash failed, and undid itself.
    #[error(
        "could not move {} into the trash ({error}); it is still in place and registered",
        .path.display()
    )]
    NotSaved { path: PathBuf, error: String },
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        Error::step(refused)
    }
}

/// The journal kind of a removal.
pub const KIND: &str = "remove";

/// What a removal's journal records before it starts.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct RemoveIntent {
    path: PathBuf,
    branch: Option<String>,
    delete_branch: bool,
}

/// The destructive part of `remove`, after the plan was accepted: first stop what writes into
/// the worktree (its window's processes — the agent — and its running check), then move it
/// whole into the trash (which unregisters it), then delete the branch and close the window.
/// If the save fails, nothing has moved and the worktree is still registered. Journaled: a
/// removal killed half way is finished (or, before anything moved, undone) by the next command.
pub fn execute_remove(
    project: &Project,
    lock: &OpLock,
    plan: &RemovePlan,
    options: &RemoveOptions,
) -> Result<Removed> {
    let worktree = &plan.worktree;
    let mut journal = Journal::begin(
        project,
        lock,
        KIND,
        &format!("removal of {}", worktree.label()),
        &RemoveIntent {
            path: worktree.path.clone(),
            branch: worktree.branch.clone(),
            delete_branch: !options.keep_branch,
        },
    )?;
    let stopped_processes =
        super::process::stop_writers(project.tmux.as_ref(), plan.window.as_ref(), &worktree.path)?;
    check::stop_running(project, &worktree.path)?;
    journal.step("stopped")?;
    let trash = match trash::save(
        project,
        worktree,
        &trash::SaveFacts {
            dirty: plan.dirty.clone(),
            unmerged: plan.unmerged_lines(),
        },
    ) {
        Ok(trash) => trash,
        Err(error) => {
            journal.finish()?; // the save undid itself: nothing to recover
            return Err(Refused::NotSaved {
                path: worktree.path.clone(),
                error: error.to_string(),
            }
            .into());
        }
    };
    super::testpoint::pause("remove.save-finished");
    journal.step_with("saved", &trash.id)?;
    let (branch_deleted, branch_kept_moved) = match (&worktree.branch, options.keep_branch) {
        (Some(branch), false) => delete_saved_branch(project, branch, trash.tip.as_deref()),
        _ => (false, false),
    };
    journal.step("branch")?;
    forget(project, &worktree.path);
    let (mut window_closed, mut window_deferred) = (false, false);
    if let (Some(tmux), Some(window)) = (&project.tmux, &plan.window) {
        match tmux.kill_window(window) {
            Ok(KillOutcome::Killed) => window_closed = true,
            Ok(KillOutcome::Deferred) => window_deferred = true,
            // Its processes were stopped: tmux may have closed it already.
            Err(_) => window_closed = tmux.window_for(&worktree.path)?.is_none(),
        }
    }
    journal.finish()?;
    Ok(Removed {
        branch: worktree.branch.clone(),
        path: worktree.path.clone(),
        trash,
        branch_deleted,
        branch_kept_moved,
        stopped_processes,
        window_closed,
        window_deferred,
    })
}

/// Deletes a removed worktree's branch by compare-and-swap on the tip that was saved: a branch
/// that moved since (a commit made elsewhere) is kept rather than lost. Returns (deleted,
/// kept because it moved).
fn delete_saved_branch(project: &Project, branch: &str, saved_tip: Option<&str>) -> (bool, bool) {
    let Some(tip) = saved_tip else {
        return (false, false);
    };
    let deleted = Git::new(&project.main_worktree)
        .args(["update-ref", "-d"])
        .arg(format!("refs/heads/{branch}"))
        .arg(tip)
        .run()
        .is_ok();
    if deleted {
        let _ = Git::new(&project.main_worktree)
            .args(["config", "--remove-section"])
            .arg(format!("branch.{branch}"))
            .output();
    }
    let still_there = project
        .repo()
        .is_ok_and(|repo| git::resolve_commit(&repo, &format!("refs/heads/{branch}")).is_ok());
    (deleted, !deleted && still_there)
}

/// Drops what wtmux kept about a worktree that is gone (run record, agent record, scope).
fn forget(project: &Project, path: &Path) {
    check::forget_worktree(project, path);
    agent::forget(project, path);
    scope::forget(project, path);
    check::auto::forget(project, path);
}

/// Recovery of a removal whose process died: once the worktree is in the trash (or was on its
/// way there), the removal is finished; before anything moved, nothing is to be done.
pub fn recover(project: &Project, _lock: &OpLock, record: &Record) -> Result<String> {
    let intent: RemoveIntent = record.intent()?;
    let label = intent
        .branch
        .clone()
        .unwrap_or_else(|| intent.path.display().to_string());
    let saved = match record.data::<String>("saved") {
        Some(id) => trash::find(project, "", Some(&id)).ok(),
        None => match trash::unfinished_save(project, &intent.path)? {
            Some(entry) => match trash::finish_or_undo_save(project, entry)? {
                trash::SaveRecovery::Finished(entry) => Some(*entry),
                trash::SaveRecovery::Undone => None,
            },
            // Killed after the save had finished, before the journal said so.
            None if !intent.path.exists() => {
                trash::saved_since(project, &intent.path, record.started_at)?
            }
            None => None,
        },
    };
    let Some(entry) = saved else {
        // The stop may have been under way: the window gone, a process that ignores the
        // signals still writing. Removing was asked for, so the stop is finished; the rest is
        // not done.
        let stopped = if record.done("stopped") {
            0
        } else {
            super::process::stop_writers(None, None, &intent.path).unwrap_or(0)
        };
        let stopped = match stopped {
            0 => String::new(),
            1 => " (the one process still working in it was stopped)".to_string(),
            n => format!(" (the {n} processes still working in it were stopped)"),
        };
        return Ok(format!(
            "nothing of {label} had moved yet: it is still at {}{stopped}",
            intent.path.display()
        ));
    };
    if let (Some(branch), true, false) =
        (&intent.branch, intent.delete_branch, record.done("branch"))
    {
        delete_saved_branch(project, branch, entry.tip.as_deref());
    }
    forget(project, &intent.path);
    if let Some(tmux) = &project.tmux
        && let Ok(Some(window)) = tmux.window_for(&intent.path)
    {
        let _ = tmux.kill_window(&window);
    }
    Ok(format!(
        "finished removing {label}: saved to the trash as {}",
        entry.id
    ))
}
