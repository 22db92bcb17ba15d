//! Saving: a removed worktree's directory and admin dir move into the trash, a keep-alive ref
//! holds its commits, and an interrupted save is finished or undone.

use std::path::{Path, PathBuf};

use super::list::list;
use super::moving::{finish_move, lock_admin, move_dir, remove_tree, unlock_admin};
use super::{
    KEEP_ALIVE_SUBJECT, Phase, SaveFacts, TrashEntry, entry_path, trash_root, write_entry,
};
use crate::core::error::{Error, Result};
use crate::core::git::{self, Git};
use crate::core::state::read_json;
use crate::core::testpoint;
use crate::core::worktree::Worktree;
use crate::core::{Project, branch, now_unix};

/// The admin dir name of a linked worktree, from its `.git` file (or, when its directory is
/// gone, by looking for the admin dir that points at it).
fn admin_name(project: &Project, worktree: &Worktree) -> Option<String> {
    let from_dot_git = (!worktree.prunable)
        .then(|| std::fs::read_to_string(worktree.path.join(".git")).ok())
        .flatten()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("gitdir: "))
                .map(|d| PathBuf::from(d.trim()))
        })
        .and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()));
    if from_dot_git.is_some() {
        return from_dot_git;
    }
    let admins = std::fs::read_dir(project.common_dir.join("worktrees")).ok()?;
    admins.flatten().find_map(|admin| {
        let gitdir = std::fs::read_to_string(admin.path().join("gitdir")).ok()?;
        (Path::new(gitdir.trim()).parent()? == worktree.path)
            .then(|| admin.file_name().to_string_lossy().into_owned())
    })
}

/// A commit that keeps alive, through `git gc`, every object the saved worktree refers to
/// that no ref of the repository may: the tip, every commit its HEAD and own refs point to or
/// did (reflogs, ORIG_HEAD), and the blobs of its index (staged content that exists nowhere
/// else). Its tree lists those blobs under numbered names; its parents are those commits.
fn keep_alive_commit(
    project: &Project,
    worktree: &Worktree,
    admin_dir: Option<&Path>,
    tip: Option<&str>,
) -> Result<Option<git2::Oid>> {
    let repo = project.repo()?;
    let mut commits: Vec<git2::Oid> = tip
        .and_then(|t| git2::Oid::from_str(t).ok())
        .into_iter()
        .collect();
    let mut blobs = Vec::new();
    if let Some(admin) = admin_dir {
        let mut ids = Vec::new();
        let mut stack = vec![admin.join("logs"), admin.join("refs")];
        for file in [
            "HEAD",
            "ORIG_HEAD",
            "FETCH_HEAD",
            "MERGE_HEAD",
            "CHERRY_PICK_HEAD",
        ] {
            if let Ok(text) = std::fs::read_to_string(admin.join(file)) {
                ids.extend(text.split_whitespace().map(str::to_string));
            }
        }
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                } else if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    ids.extend(text.split_whitespace().map(str::to_string));
                }
            }
        }
        for id in ids {
            if id.len() == 40
                && let Ok(oid) = git2::Oid::from_str(&id)
                && !oid.is_zero()
                && repo.find_commit(oid).is_ok()
                && !commits.contains(&oid)
            {
                commits.push(oid);
            }
        }
        if !worktree.prunable
            && let Ok(listing) = Git::new(&worktree.path)
                .env("GIT_INDEX_FILE", admin.join("index"))
                .args(["ls-files", "--stage", "-z"])
                .run_bytes()
        {
            for record in listing.split(|b| *b == 0) {
                let text = String::from_utf8_lossy(record);
                let mut fields = text.split_whitespace();
                let (Some(mode), Some(id)) = (fields.next(), fields.next()) else {
                    continue;
                };
                if mode != "160000"
                    && let Ok(oid) = git2::Oid::from_str(id)
                    && repo.find_blob(oid).is_ok()
                {
                    blobs.push(oid);
                }
            }
        }
    }
    if commits.is_empty() && blobs.is_empty() {
        return Ok(None);
    }
    blobs.sort();
    blobs.dedup();
    let mut tree = repo.treebuilder(None)?;
    for (n, blob) in blobs.iter().enumerate() {
        tree.insert(n.to_string(), *blob, 0o100644)?;
    }
    let tree = repo.find_tree(tree.write()?)?;
    let parents: Vec<git2::Commit> = commits
        .iter()
        .filter_map(|c| repo.find_commit(*c).ok())
        .collect();
    let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
    let signature = git::wtmux_signature()?;
    Ok(Some(repo.commit(
        None,
        &signature,
        &signature,
        &format!("{KEEP_ALIVE_SUBJECT} {} referred to", worktree.label()),
        &tree,
        &parent_refs,
    )?))
}

/// Moves a worktree (its directory and its admin dir) into the trash, which unregisters it.
/// On failure nothing has moved and the worktree is still registered.
pub fn save(project: &Project, worktree: &Worktree, facts: &SaveFacts) -> Result<TrashEntry> {
    let root = trash_root(project)?;
    let saved_at = now_unix();
    let label = worktree
        .branch
        .as_deref()
        .map(branch::slug)
        .unwrap_or_else(|| "detached".into());
    let mut id = format!("{saved_at}-{label}");
    let mut n = 1;
    // create_dir is the claim: two saves in the same second get different ids.
    while std::fs::create_dir(root.join(&id)).is_err() {
        n += 1;
        id = format!("{saved_at}-{label}-{n}");
        if n > 1000 {
            return Err(Error::io(
                root.join(&id),
                std::io::Error::other("cannot claim"),
            ));
        }
    }
    let dir = root.join(&id);
    let admin = admin_name(project, worktree);
    let admin_dir = admin
        .as_ref()
        .map(|name| project.common_dir.join("worktrees").join(name));
    let head = admin_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("HEAD")).ok())
        .unwrap_or_default();
    let detached = !head.trim().is_empty() && !head.starts_with("ref:");
    let tip = if detached {
        Some(head.trim().to_string())
    } else {
        worktree
            .branch
            .as_ref()
            .and_then(|b| {
                git::resolve_commit(&project.repo().ok()?, &format!("refs/heads/{b}")).ok()
            })
            .map(|t| t.to_string())
    };
    let mut entry = TrashEntry {
        id: id.clone(),
        branch: worktree.branch.clone(),
        path: worktree.path.clone(),
        admin: admin.clone(),
        saved_at,
        tip: tip.clone(),
        detached,
        dirty: facts.dirty.clone(),
        unmerged: facts.unmerged.clone(),
        size: None,
        phase: Phase::Saving,
        restored_to: None,
        restored_at: None,
        restored_admin: None,
        legacy_content: None,
    };
    write_entry(&dir, &entry)?;
    let undo = |error: Error| -> Error {
        let _ = remove_tree(&dir);
        error
    };
    let keep =
        keep_alive_commit(project, worktree, admin_dir.as_deref(), tip.as_deref()).map_err(undo)?;
    if let Some(keep) = keep {
        Git::new(&project.main_worktree)
            .args(["update-ref", "-m", "wtmux: saved before removing"])
            .arg(entry.reference())
            .arg(keep.to_string())
            .arg("")
            .run()
            .map_err(undo)?;
    }
    let undo_ref = |error: Error| -> Error {
        let _ = Git::new(&project.main_worktree)
            .args(["update-ref", "-d"])
            .arg(entry.reference())
            .run();
        undo(error)
    };
    if let Some(admin_dir) = admin_dir.as_deref().filter(|d| d.exists()) {
        lock_admin(admin_dir).map_err(undo_ref)?;
    }
    let unlock_and_undo = |error: Error| -> Error {
        if let Some(admin_dir) = &admin_dir {
            unlock_admin(admin_dir);
        }
        undo_ref(error)
    };
    testpoint::pause("trash.before-move");
    if !worktree.prunable {
        move_dir(&worktree.path, &dir.join("worktree")).map_err(unlock_and_undo)?;
    }
    testpoint::pause("trash.worktree-moved");
    if let Some(admin_dir) = admin_dir.as_deref().filter(|d| d.exists())
        && let Err(error) = move_dir(admin_dir, &dir.join("admin"))
    {
        if !worktree.prunable {
            let _ = move_dir(&dir.join("worktree"), &worktree.path);
        }
        return Err(unlock_and_undo(error));
    }
    entry.phase = Phase::Saved;
    write_entry(&dir, &entry)?;
    Ok(entry)
}

/// The save of the worktree that was at `path` made at or after `since` (unix time): what a
/// removal killed right after its save had finished left.
pub fn saved_since(project: &Project, path: &Path, since: u64) -> Result<Option<TrashEntry>> {
    Ok(list(project)?
        .into_iter()
        .find(|e| e.phase == Phase::Saved && e.path == path && e.saved_at >= since))
}

/// A save that was interrupted (`entry.json` still says it was being saved) of the worktree
/// that was at `path`.
pub fn unfinished_save(project: &Project, path: &Path) -> Result<Option<TrashEntry>> {
    let root = trash_root(project)?;
    Ok(std::fs::read_dir(&root)
        .map_err(|e| Error::io(&root, e))?
        .flatten()
        .filter_map(|d| read_json::<TrashEntry>(&entry_path(&d.path())))
        .find(|e| e.phase == Phase::Saving && e.path == path))
}

/// What became of an interrupted save.
pub enum SaveRecovery {
    /// The directory had moved: the rest followed, it is in the trash.
    Finished(Box<TrashEntry>),
    /// Nothing had moved: the save is gone, the worktree is where it was.
    Undone,
}

/// Finishes an interrupted save whose directory already moved (nothing is lost either way,
/// and the removal was asked for), or undoes one that had not moved anything.
pub fn finish_or_undo_save(project: &Project, mut entry: TrashEntry) -> Result<SaveRecovery> {
    let dir = trash_root(project)?.join(&entry.id);
    let admin_dir = entry
        .admin
        .as_ref()
        .map(|a| project.common_dir.join("worktrees").join(a));
    let moved = finish_move(&entry.path, &dir.join("worktree"))?;
    if moved || !entry.path.exists() {
        if let Some(admin_dir) = admin_dir
            && !finish_move(&admin_dir, &dir.join("admin"))?
            && admin_dir.exists()
        {
            move_dir(&admin_dir, &dir.join("admin"))?;
        }
        entry.phase = Phase::Saved;
        write_entry(&dir, &entry)?;
        return Ok(SaveRecovery::Finished(Box::new(entry)));
    }
    if let Some(admin_dir) = &admin_dir {
        unlock_admin(admin_dir);
    }
    let _ = Git::new(&project.main_worktree)
        .args(["update-ref", "-d"])
        .arg(entry.reference())
        .run();
    remove_tree(&dir)?;
    Ok(SaveRecovery::Undone)
}
