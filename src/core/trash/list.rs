//! What the trash holds (saves of older wtmux versions too), what it takes on disk, and
//! dropping saves: by age and size (`prune`), and finishing drops a kill interrupted.

use std::path::{Path, PathBuf};

use super::moving::remove_tree;
use super::{
    DROPPING, KEEP_ALIVE_SUBJECT, Phase, TRASH_PREFIX, TrashEntry, entry_path, trash_root,
    write_entry,
};
use crate::core::error::{Error, Result};
use crate::core::git::Git;
use crate::core::state::read_json;
use crate::core::testpoint;
use crate::core::{Project, now_unix};

/// Every save, newest first (restored ones too: they say where they went).
pub fn list(project: &Project) -> Result<Vec<TrashEntry>> {
    let root = trash_root(project)?;
    let mut entries: Vec<TrashEntry> = std::fs::read_dir(&root)
        .map_err(|e| Error::io(&root, e))?
        .flatten()
        // A save being dropped was renamed out of sight first (see `drop_entry`).
        .filter(|d| !d.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|d| read_json::<TrashEntry>(&entry_path(&d.path())))
        .collect();
    entries.extend(legacy_entries(project)?);
    entries.sort_by(|a, b| b.saved_at.cmp(&a.saved_at).then(b.id.cmp(&a.id)));
    Ok(entries)
}

/// Saves of older wtmux versions: refs whose commit holds the content (parent: the tip).
fn legacy_entries(project: &Project) -> Result<Vec<TrashEntry>> {
    let repo = project.repo()?;
    let root = trash_root(project)?;
    let mut entries = Vec::new();
    for reference in repo.references_glob(&format!("{TRASH_PREFIX}*"))? {
        let reference = reference?;
        let (Some(name), Some(target)) = (reference.name().ok(), reference.target()) else {
            continue;
        };
        let id = name.trim_start_matches(TRASH_PREFIX).to_string();
        if root.join(&id).exists() || root.join(format!("{DROPPING}{id}")).exists() {
            continue;
        }
        let Ok(commit) = repo.find_commit(target) else {
            continue;
        };
        let message = commit.message().unwrap_or("");
        // A keep-alive ref whose directory is gone is what a dropped save left, not a save.
        if !message.starts_with("wtmux trash:") || message.starts_with(KEEP_ALIVE_SUBJECT) {
            continue;
        }
        let field = |key: &str| {
            message
                .lines()
                .find_map(|l| l.strip_prefix(key).map(str::to_string))
        };
        entries.push(TrashEntry {
            id,
            branch: field("branch: ").filter(|b| !b.is_empty()),
            path: PathBuf::from(field("path: ").unwrap_or_default()),
            admin: None,
            saved_at: field("saved-at: ")
                .and_then(|t| t.parse().ok())
                .unwrap_or(commit.time().seconds().max(0) as u64),
            tip: commit.parent_id(0).ok().map(|p| p.to_string()),
            detached: false,
            dirty: message
                .lines()
                .filter_map(|l| l.strip_prefix("dirty: ").map(str::to_string))
                .collect(),
            unmerged: Vec::new(),
            size: None,
            phase: Phase::Saved,
            restored_to: None,
            restored_at: None,
            restored_admin: None,
            legacy_content: Some(commit.id().to_string()),
        });
    }
    Ok(entries)
}

/// Bytes a save takes on disk; measured once and kept in its record.
pub fn size_of(project: &Project, entry: &mut TrashEntry) -> u64 {
    if let Some(size) = entry.size {
        return size;
    }
    let Ok(root) = trash_root(project) else {
        return 0;
    };
    let dir = root.join(&entry.id);
    let size = disk_usage(&dir);
    if entry.legacy_content.is_none() && entry.phase != Phase::Saving {
        entry.size = Some(size);
        let _ = write_entry(&dir, entry);
    }
    size
}

fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
}

/// Drops saves older than `max_age_days`, then the oldest until all together take at most
/// `max_bytes`; returns what was dropped. Restored saves' records go with the age rule.
pub fn prune(
    project: &Project,
    max_age_days: u64,
    max_bytes: Option<u64>,
) -> Result<Vec<TrashEntry>> {
    finish_drops(project)?;
    let max_age = max_age_days.saturating_mul(24 * 60 * 60);
    let now = now_unix();
    let mut entries = list(project)?;
    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for entry in entries.drain(..) {
        if now.saturating_sub(entry.saved_at) >= max_age
            && entry.phase != Phase::Saving
            && entry.phase != Phase::Restoring
        {
            drop_entry(project, &entry)?;
            dropped.push(entry);
        } else {
            kept.push(entry);
        }
    }
    if let Some(max_bytes) = max_bytes {
        let mut total: u64 = kept.iter_mut().map(|e| size_of(project, e)).sum();
        // Newest first: drop from the end.
        while total > max_bytes {
            let Some(position) = kept.iter().rposition(|e| e.phase == Phase::Saved) else {
                break;
            };
            let mut entry = kept.remove(position);
            total = total.saturating_sub(size_of(project, &mut entry));
            drop_entry(project, &entry)?;
            dropped.push(entry);
        }
    }
    Ok(dropped)
}

/// Drops a save. Its directory is first renamed out of sight, in one step: deleting takes a
/// while, and a save killed half way through it must not be listed, or restored, as whole. What
/// a killed drop left is finished by `finish_drops`.
fn drop_entry(project: &Project, entry: &TrashEntry) -> Result<()> {
    let root = trash_root(project)?;
    let dir = root.join(&entry.id);
    let dropping = root.join(format!("{DROPPING}{}", entry.id));
    if dir.exists() {
        std::fs::rename(&dir, &dropping).map_err(|e| Error::io(&dir, e))?;
    }
    testpoint::pause("trash.drop-renamed");
    delete_ref(project, &entry.reference());
    testpoint::pause("trash.drop-unreferenced");
    remove_tree(&dropping)
}

fn delete_ref(project: &Project, reference: &str) {
    let _ = Git::new(&project.main_worktree)
        .args(["update-ref", "-d"])
        .arg(reference)
        .run();
}

/// How old a directory in the trash without a record must be before it counts as left over: a
/// save writes its record first thing, so only a save killed in that very moment leaves one.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Finishes what killed drops left: directories renamed for dropping, keep-alive refs whose
/// save is gone, and directories that hold no record and nothing moved in.
fn finish_drops(project: &Project) -> Result<()> {
    let root = trash_root(project)?;
    for dir in std::fs::read_dir(&root)
        .map_err(|e| Error::io(&root, e))?
        .flatten()
    {
        let name = dir.file_name().to_string_lossy().into_owned();
        let path = dir.path();
        if let Some(id) = name.strip_prefix(DROPPING) {
            delete_ref(project, &format!("{TRASH_PREFIX}{id}"));
            remove_tree(&path)?;
        } else if !entry_path(&path).exists()
            && !path.join("worktree").exists()
            && !path.join("admin").exists()
            && path
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > ORPHAN_AGE))
        {
            remove_tree(&path)?;
        }
    }
    let repo = project.repo()?;
    for reference in repo.references_glob(&format!("{TRASH_PREFIX}*"))? {
        let reference = reference?;
        let (Some(name), Some(target)) = (reference.name().ok(), reference.target()) else {
            continue;
        };
        let id = name.trim_start_matches(TRASH_PREFIX);
        let keeps_alive = repo
            .find_commit(target)
            .is_ok_and(|c| c.message().unwrap_or("").starts_with(KEEP_ALIVE_SUBJECT));
        if keeps_alive && !root.join(id).exists() {
            delete_ref(project, name);
        }
    }
    Ok(())
}
