//! Taking back a half-made `add`: when provisioning fails, and — journaled as kind `add` — when
//! the process dies before the new worktree is complete (`kill -9` during `git worktree add`,
//! the copies or `post_create`): the next command removes what was made. Deleting happens under
//! the operation lock, like every deletion.

use std::path::{Path, PathBuf};

use git2::Oid;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::git::Git;
use super::journal::Record;
use super::oplock::OpLock;
use super::{Project, canonical, scope, worktree};

pub const KIND: &str = "add";

/// What an `add` is about to make.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    pub branch: String,
    pub path: PathBuf,
    /// Where a branch made by this add starts; `None` when the branch existed before.
    pub created_at: Option<String>,
}

/// The directory an add recorded lies outside `worktree_dir`: it is left alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is outside {}; left as it is", .path.display(), .worktree_dir.display())]
pub struct Outside {
    pub path: PathBuf,
    pub worktree_dir: PathBuf,
}

/// Removes the worktree and the branch this add made, and nothing else: the directory only if
/// it is under `worktree_dir`, the branch only if it still points where this add made it and
/// no worktree has it checked out.
pub fn roll_back(project: &Project, intent: &Intent) -> Result<()> {
    let worktree_dir = canonical(&project.worktree_dir());
    let path = canonical(&intent.path);
    if !path.starts_with(&worktree_dir) {
        return Err(Error::step(Outside { path, worktree_dir }));
    }
    if path.exists() {
        super::process::kill_processes_in(&path);
        let _ = Git::new(&project.main_worktree)
            .args(["worktree", "remove", "--force", "--force"])
            .arg(&path)
            .run();
    }
    if path.exists() {
        remove_dir(&path)?;
    }
    Git::new(&project.main_worktree)
        .args(["worktree", "prune"])
        .run()?;
    scope::forget(project, &path);
    if let Some(start) = &intent.created_at {
        let start = Oid::from_str(start)?;
        let tip = project
            .repo()?
            .find_reference(&format!("refs/heads/{}", intent.branch))
            .ok()
            .and_then(|r| r.target());
        let checked_out = worktree::worktrees(project)?
            .iter()
            .any(|w| w.branch.as_deref() == Some(intent.branch.as_str()));
        if tip == Some(start) && !checked_out {
            Git::new(&project.main_worktree)
                .args(["branch", "-D", &intent.branch])
                .run()?;
        }
    }
    Ok(())
}

fn remove_dir(path: &Path) -> Result<()> {
    std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))
}

/// Recovery of an `add` whose process died.
pub fn recover(project: &Project, _lock: &OpLock, record: &Record) -> Result<String> {
    if record.done("provisioned") {
        return Ok("it had finished; nothing to do".into());
    }
    let intent: Intent = record.intent()?;
    roll_back(project, &intent)?;
    Ok(format!(
        "rolled back; the half-made worktree{} removed",
        if intent.created_at.is_some() {
            " and its new branch were"
        } else {
            " was"
        }
    ))
}
