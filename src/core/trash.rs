//! Nothing a user wrote is lost: before a worktree is removed, its branch tip and its whole
//! content (uncommitted and untracked, not ignored, files included) are saved as a commit under
//! `refs/wtmux/trash/`, from where `restore` brings branch, worktree and files back.
//!
//! A saved state is one commit: its parent is the branch tip, its tree the worktree's content,
//! its message the metadata (branch, path, what was dirty). Being a ref, it keeps every object
//! alive through `git gc`.

use std::path::{Path, PathBuf};

use git2::{BranchType, Oid, Repository};
use serde::Serialize;

use super::error::{Error, Result};
use super::git::{self, Git};
use super::worktree::{self, Worktree};
use super::{Project, branch, now_unix, status};

pub const TRASH_PREFIX: &str = "refs/wtmux/trash/";

#[derive(Debug, Clone, Serialize)]
pub struct TrashEntry {
    pub reference: String,
    pub branch: Option<String>,
    pub path: PathBuf,
    /// Unix time of saving.
    pub saved_at: u64,
    /// The branch tip when it was saved.
    pub tip: Option<String>,
    /// The commit holding the worktree content.
    pub content: String,
    /// Paths that were uncommitted or untracked.
    pub dirty: Vec<String>,
}

/// Saves a worktree (or, when its directory is gone, its branch tip) to the trash.
pub fn save(project: &Project, worktree: &Worktree, dirty: &[String]) -> Result<TrashEntry> {
    let repo = project.repo()?;
    let (tree, tip) = if worktree.prunable {
        let tip = worktree
            .branch
            .as_ref()
            .and_then(|b| repo.find_branch(b, BranchType::Local).ok())
            .and_then(|b| b.get().target());
        let tree = match tip {
            Some(tip) => repo.find_commit(tip)?.tree_id(),
            None => repo.treebuilder(None)?.write()?,
        };
        (tree, tip)
    } else {
        let wt_repo = Repository::open(&worktree.path)?;
        (
            status::content_tree(
                &wt_repo,
                &worktree::changes(project, &wt_repo, &worktree.path)?,
            )?,
            git::head_commit(&wt_repo),
        )
    };
    let saved_at = now_unix();
    let message = metadata_message(worktree, saved_at, dirty);
    let signature = git::wtmux_signature()?;
    let parents: Vec<git2::Commit> = tip
        .map(|t| repo.find_commit(t))
        .transpose()?
        .into_iter()
        .collect();
    let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
    let content = repo.commit(
        None,
        &signature,
        &signature,
        &message,
        &repo.find_tree(tree)?,
        &parent_refs,
    )?;
    let label = worktree
        .branch
        .as_deref()
        .map(branch::slug)
        .unwrap_or_else(|| "detached".into());
    let mut reference = format!("{TRASH_PREFIX}{saved_at}-{label}");
    let mut n = 1;
    while repo.find_reference(&reference).is_ok() {
        n += 1;
        reference = format!("{TRASH_PREFIX}{saved_at}-{label}-{n}");
    }
    repo.reference(&reference, content, false, "wtmux: save before removing")?;
    Ok(TrashEntry {
        reference,
        branch: worktree.branch.clone(),
        path: worktree.path.clone(),
        saved_at,
        tip: tip.map(|t| t.to_string()),
        content: content.to_string(),
        dirty: dirty.to_vec(),
    })
}

fn metadata_message(worktree: &Worktree, saved_at: u64, dirty: &[String]) -> String {
    let mut message = format!(
        "wtmux trash: {}\n\nbranch: {}\npath: {}\nsaved-at: {saved_at}\n",
        worktree.label(),
        worktree.branch.as_deref().unwrap_or(""),
        worktree.path.display(),
    );
    for path in dirty {
        message.push_str(&format!("dirty: {path}\n"));
    }
    message
}

/// Every saved state, newest first.
pub fn list(project: &Project) -> Result<Vec<TrashEntry>> {
    let repo = project.repo()?;
    let mut entries = Vec::new();
    for reference in repo.references_glob(&format!("{TRASH_PREFIX}*"))? {
        let reference = reference?;
        let (Some(name), Some(target)) = (reference.name().ok(), reference.target()) else {
            continue;
        };
        let commit = repo.find_commit(target)?;
        entries.push(parse_entry(name, &commit));
    }
    entries.sort_by(|a, b| {
        b.saved_at
            .cmp(&a.saved_at)
            .then(b.reference.cmp(&a.reference))
    });
    Ok(entries)
}

fn parse_entry(reference: &str, commit: &git2::Commit) -> TrashEntry {
    let message = commit.message().unwrap_or("");
    let field = |key: &str| {
        message
            .lines()
            .find_map(|l| l.strip_prefix(key).map(str::to_string))
    };
    TrashEntry {
        reference: reference.to_string(),
        branch: field("branch: ").filter(|b| !b.is_empty()),
        path: PathBuf::from(field("path: ").unwrap_or_default()),
        saved_at: field("saved-at: ")
            .and_then(|t| t.parse().ok())
            .unwrap_or(commit.time().seconds().max(0) as u64),
        tip: commit.parent_id(0).ok().map(|p| p.to_string()),
        content: commit.id().to_string(),
        dirty: message
            .lines()
            .filter_map(|l| l.strip_prefix("dirty: ").map(str::to_string))
            .collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub branch: String,
    pub path: PathBuf,
    pub restored_files: usize,
    pub from: String,
}

/// Brings back the newest saved state of `branch_name`: the branch at its saved tip, its worktree,
/// and the uncommitted files (as unstaged changes).
pub fn restore(project: &Project, branch_name: &str) -> Result<Restored> {
    let entry = list(project)?
        .into_iter()
        .find(|e| e.branch.as_deref() == Some(branch_name))
        .ok_or_else(|| Error::refused(format!("nothing of {branch_name:?} is in the trash")))?;
    let repo = project.repo()?;
    let tip = entry.tip.as_deref().map(Oid::from_str).transpose()?;
    let Some(tip) = tip else {
        return Err(Error::refused(format!(
            "{branch_name:?} was saved without a commit; its files are in {}",
            entry.content
        )));
    };
    match repo.find_branch(branch_name, BranchType::Local) {
        Ok(existing) if existing.get().target() != Some(tip) => {
            return Err(Error::refused(format!(
                "branch {branch_name} exists and points elsewhere than the saved tip {}; rename or remove it first",
                git::short(tip)
            )));
        }
        Ok(_) => {}
        Err(_) => {
            Git::new(&project.main_worktree)
                .args(["branch", branch_name])
                .arg(tip.to_string())
                .run()?;
        }
    }
    let added = worktree::add(
        project,
        branch_name,
        &worktree::AddOptions {
            no_agent: true,
            ..Default::default()
        },
    )?;
    restore_content(&added.path, &entry.content)?;
    repo.find_reference(&entry.reference)?.delete()?;
    Ok(Restored {
        branch: branch_name.to_string(),
        path: added.path,
        restored_files: entry.dirty.len(),
        from: entry.reference,
    })
}

/// Makes the worktree's files equal to the saved content, leaving index and HEAD alone, so
/// what was uncommitted shows as uncommitted again.
fn restore_content(path: &Path, content: &str) -> Result<()> {
    Git::new(path)
        .args(["restore", "--worktree", "--source"])
        .arg(content)
        .args(["--", ":/"])
        .run()
        .map(|_| ())
}

/// Drops saved states older than `max_age_days`; returns what was dropped.
pub fn prune(project: &Project, max_age_days: u64) -> Result<Vec<TrashEntry>> {
    let repo = project.repo()?;
    let cutoff = now_unix().saturating_sub(max_age_days * 24 * 60 * 60);
    let mut dropped = Vec::new();
    for entry in list(project)? {
        if entry.saved_at < cutoff {
            repo.find_reference(&entry.reference)?.delete()?;
            dropped.push(entry);
        }
    }
    Ok(dropped)
}
