//! Nothing a user wrote is lost: removing a worktree moves it, whole, into the trash, from
//! where `restore` brings it back exactly as it was.
//!
//! A save is a directory `<git common dir>/wtmux/trash/<id>/` holding
//! - `worktree/`: the worktree's directory, moved there by one `rename(2)` — every file,
//!   ignored ones (`.env`, a local database, build output), nested repositories, submodules'
//!   worktrees, empty directories and modes included; nothing is copied or hashed, so saving a
//!   worktree with a gigabyte of build output costs what saving an empty one does;
//! - `admin/`: the worktree's admin dir from `<git common dir>/worktrees/`, moved the same way:
//!   its index (staged and unstaged stay apart), HEAD (a detached one too), its own refs and
//!   reflogs, and the object stores of its submodules (`modules/`), which hold commits made in
//!   them that exist nowhere else;
//! - `entry.json`: what was saved, from where, and what happened to it since.
//!
//! A ref `refs/wtmux/trash/<id>` keeps the branch tip (and so every commit of it) alive
//! through `git gc` after the branch is deleted.
//!
//! Moving the admin dir away is what unregisters the worktree, so a save and the removal are
//! the same step. `entry.json` records the phase before each step: an interrupted save or
//! restore (`kill -9`, a full disk) is finished or rolled back by [`recover`], which every
//! command runs first.
//!
//! Older wtmux versions saved a commit of the content under the same ref prefix; such saves
//! are still listed and restored (as files on the branch).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::git::{self, Git};
use super::journal::{Journal, Record};
use super::oplock::OpLock;
use super::state::{read_json, write_json};
use super::testpoint;
use super::worktree::Worktree;
use super::{Project, branch, now_unix};

pub const TRASH_PREFIX: &str = "refs/wtmux/trash/";

/// The subject's start of the commit a save's ref points at (its tip and what only the
/// worktree's reflogs and own refs reached).
const KEEP_ALIVE_SUBJECT: &str = "wtmux trash: keeps what";

/// The name a save's directory is given, under the trash, while it is being dropped.
const DROPPING: &str = ".dropping-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The directories are being moved into the trash.
    Saving,
    /// In the trash.
    Saved,
    /// Being moved back.
    Restoring,
    /// Moved back to `restored_to`; only this record is left.
    Restored,
}

/// One save, as `entry.json` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrashEntry {
    /// The save's name: its directory under the trash and its ref under `refs/wtmux/trash/`.
    pub id: String,
    pub branch: Option<String>,
    /// Where the worktree was.
    pub path: PathBuf,
    /// The name of its admin dir under `<git common dir>/worktrees/`.
    pub admin: Option<String>,
    /// Unix time of saving.
    pub saved_at: u64,
    /// The commit HEAD pointed at.
    pub tip: Option<String>,
    /// HEAD was detached.
    #[serde(default)]
    pub detached: bool,
    /// Paths that were uncommitted or untracked, as `git status` listed them.
    pub dirty: Vec<String>,
    /// Commits base lacked: "short id subject".
    #[serde(default)]
    pub unmerged: Vec<String>,
    /// Bytes on disk, measured when first listed.
    #[serde(default)]
    pub size: Option<u64>,
    pub phase: Phase,
    #[serde(default)]
    pub restored_to: Option<PathBuf>,
    #[serde(default)]
    pub restored_at: Option<u64>,
    /// The admin dir name it was given back (another worktree may have taken the old one).
    #[serde(default)]
    pub restored_admin: Option<String>,
    /// A save of an older wtmux: a commit of the content, no directory.
    #[serde(skip)]
    pub legacy_content: Option<String>,
}

impl TrashEntry {
    pub fn reference(&self) -> String {
        format!("{TRASH_PREFIX}{}", self.id)
    }
}

/// What the caller knows about the worktree being saved (from its removal plan).
#[derive(Debug, Clone, Default)]
pub struct SaveFacts {
    pub dirty: Vec<String>,
    pub unmerged: Vec<String>,
}

fn trash_root(project: &Project) -> Result<PathBuf> {
    project.state.dir("trash")
}

fn entry_path(dir: &Path) -> PathBuf {
    dir.join("entry.json")
}

fn write_entry(dir: &Path, entry: &TrashEntry) -> Result<()> {
    write_json(&entry_path(dir), entry)
}

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

/// Moves `from` to `to`: one rename, or — across file systems — a copy that keeps links,
/// modes and times, made under `<to>.partial` and renamed to `to` once whole, then the
/// original's removal. So `to` exists only complete: where both exist after a crash, the copy
/// was done and only removing the original is left ([`finish_move`]).
fn move_dir(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            use std::os::unix::process::CommandExt;
            let partial = partial_of(to);
            let _ = remove_tree(&partial);
            let mut cp = std::process::Command::new("cp");
            cp.arg("-a").arg("--").arg(from).arg(&partial);
            // SAFETY: prctl(2) in the child before exec, with plain integers: the copy dies
            // with wtmux instead of going on unseen after a kill.
            unsafe {
                cp.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            // cp's own complaints go into the one-line error, not onto the terminal.
            let copied = cp
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
                .map_err(|e| Error::io(to, e))?;
            if !copied.status.success() {
                let _ = remove_tree(&partial);
                let stderr = String::from_utf8_lossy(&copied.stderr);
                let why = stderr
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("cp: ");
                return Err(Error::CommandFailed {
                    command: "cp -a".into(),
                    detail: format!(
                        "copying {} to {} failed: {why}",
                        from.display(),
                        to.display()
                    ),
                });
            }
            std::fs::rename(&partial, to).map_err(|e| Error::io(to, e))?;
            // The copy is whole. The source first goes out of the way in one rename on its own
            // filesystem: deleting it can fail half way (a file marked immutable, a busy
            // mount), and must then neither leave half a worktree at its path nor make the
            // caller undo a complete copy. What cannot be deleted stays, under a hidden name.
            let leftover = leftover_of(from);
            std::fs::rename(from, &leftover).map_err(|e| Error::io(from, e))?;
            let _ = remove_tree(&leftover);
            Ok(())
        }
        Err(e) => Err(Error::io(from, e)),
    }
}

/// Where the source of a copied move waits to be deleted, beside where it was.
fn leftover_of(from: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(super::worktree::LEFTOVER_PREFIX);
    name.push(from.file_name().unwrap_or_default());
    (1..)
        .map(|n| {
            let mut numbered = name.clone();
            numbered.push(format!(".{n}"));
            from.with_file_name(numbered)
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("some name is free")
}

fn partial_of(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

/// After a crash: finishes a move from `from` to `to` that got as far as a whole copy (both
/// exist), and drops a partial copy; returns whether `to` holds the whole directory.
fn finish_move(from: &Path, to: &Path) -> Result<bool> {
    let _ = remove_tree(&partial_of(to));
    if to.exists() && from.exists() {
        remove_tree(from)?;
    }
    Ok(to.exists())
}

/// A worktree being moved is locked (`git worktree prune` leaves a locked worktree's admin dir
/// alone even while its directory is away); the lock is wtmux's own, and goes when it comes back.
const MOVING_LOCK: &str = "wtmux: being moved to or from the trash";

fn lock_admin(admin_dir: &Path) -> Result<()> {
    let locked = admin_dir.join("locked");
    std::fs::write(&locked, MOVING_LOCK).map_err(|e| Error::io(&locked, e))
}

fn unlock_admin(admin_dir: &Path) {
    let locked = admin_dir.join("locked");
    if std::fs::read_to_string(&locked).is_ok_and(|t| t == MOVING_LOCK) {
        let _ = std::fs::remove_file(locked);
    }
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

/// Deletes a directory tree, making read-only directories writable first (build tools and
/// module caches leave them).
pub fn remove_tree(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return Ok(());
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
    std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))
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

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub branch: Option<String>,
    pub path: PathBuf,
    /// Uncommitted paths it had when saved.
    pub restored_files: usize,
    /// The save it came from.
    pub from: String,
    /// It could not go back where it was (something else is there now).
    pub moved_from: Option<PathBuf>,
}

/// Which save `restore` takes: the newest of a branch, or one by id.
pub fn find(project: &Project, branch_name: &str, id: Option<&str>) -> Result<TrashEntry> {
    let entries = list(project)?;
    let mut of_branch = entries.iter().filter(|e| match id {
        Some(id) => e.id == id,
        None => e.branch.as_deref() == Some(branch_name),
    });
    let Some(entry) = of_branch.find(|e| e.phase != Phase::Restored).or_else(|| {
        entries.iter().find(|e| match id {
            Some(id) => e.id == id,
            None => e.branch.as_deref() == Some(branch_name),
        })
    }) else {
        return Err(Error::refused(match id {
            Some(id) => format!("no save {id:?} in the trash"),
            None => format!("nothing of {branch_name:?} is in the trash"),
        }));
    };
    if entry.phase == Phase::Restored {
        return Err(Error::refused(format!(
            "the save {} of {} was already restored to {} ({} ago)",
            entry.id,
            entry.branch.as_deref().unwrap_or("a detached worktree"),
            entry
                .restored_to
                .as_deref()
                .unwrap_or(Path::new("?"))
                .display(),
            humantime::format_duration(std::time::Duration::from_secs(
                now_unix().saturating_sub(entry.restored_at.unwrap_or(0))
            ))
        )));
    }
    Ok(entry.clone())
}

/// Brings a save back: the directory where it was (or beside it, when that place is taken),
/// registered as a worktree again with its index, HEAD and submodules' stores, and the branch
/// at its saved tip when it was deleted.
pub fn restore(
    project: &Project,
    lock: &OpLock,
    branch_name: &str,
    id: Option<&str>,
) -> Result<Restored> {
    let entry = find(project, branch_name, id)?;
    if entry.legacy_content.is_some() {
        return restore_legacy(project, branch_name, &entry);
    }
    let dir = trash_root(project)?.join(&entry.id);
    let repo = project.repo()?;
    if let (Some(branch), false) = (&entry.branch, entry.detached) {
        let existing = git::resolve_commit(&repo, &format!("refs/heads/{branch}")).ok();
        let tip = entry.tip.as_deref();
        if let Some(existing) = existing
            && Some(existing.to_string().as_str()) != tip
        {
            return Err(Error::refused(format!(
                "branch {branch} exists and points elsewhere ({}) than the saved tip {}; rename or delete it first",
                git::short(existing),
                tip.map(|t| &t[..7]).unwrap_or("(none)")
            )));
        }
        if let Some(w) = super::worktree::worktrees(project)?
            .into_iter()
            .find(|w| w.branch.as_deref() == Some(branch))
        {
            return Err(Error::BranchCheckedOut {
                branch: branch.clone(),
                path: w.path,
            });
        }
    }
    let target = free_path(&entry.path);
    let admin_name = free_admin_name(project, entry.admin.as_deref().unwrap_or("restored"));
    // Submodules find their object stores by relative paths from where the worktree and its
    // admin dir were: elsewhere they would point into another worktree's stores.
    let relocated = target != entry.path || Some(&admin_name) != entry.admin.as_ref();
    if relocated && dir.join("admin").join("modules").exists() {
        return Err(Error::refused(format!(
            "the save {} holds submodules, which only work where it was ({}, admin dir {}); that place is taken now: move what is there away, then restore",
            entry.id,
            entry.path.display(),
            entry.admin.as_deref().unwrap_or("?")
        )));
    }
    let admin_dir = project.common_dir.join("worktrees").join(&admin_name);
    let journal = Journal::begin(
        project,
        lock,
        RESTORE_KIND,
        &format!(
            "restore of {}",
            entry.branch.as_deref().unwrap_or("a detached worktree")
        ),
        &entry.id,
    )?;
    let mut record = entry.clone();
    record.phase = Phase::Restoring;
    record.restored_to = Some(target.clone());
    record.restored_admin = Some(admin_name.clone());
    write_entry(&dir, &record)?;

    if let (Some(branch), Some(tip), false) = (&entry.branch, &entry.tip, entry.detached) {
        // Only when missing (the check above): never moves an existing branch.
        let _ = Git::new(&project.main_worktree)
            .args(["update-ref", "-m", "wtmux: restored"])
            .arg(format!("refs/heads/{branch}"))
            .arg(tip)
            .arg("")
            .run();
    }
    let has_directory = dir.join("worktree").exists();
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::fs::create_dir_all(project.common_dir.join("worktrees"))
        .map_err(|e| Error::io(&project.common_dir, e))?;
    if dir.join("admin").exists() {
        move_dir(&dir.join("admin"), &admin_dir)?;
    }
    testpoint::pause("restore.admin-moved");
    if has_directory {
        move_dir(&dir.join("worktree"), &target)?;
        link_worktree(&target, &admin_dir)?;
        unlock_admin(&admin_dir);
    } else {
        // Saved when its directory was already gone: check it out afresh.
        let _ = remove_tree(&admin_dir);
        let mut add = Git::new(&project.main_worktree).args(["worktree", "add"]);
        add = match (&entry.branch, entry.detached) {
            (Some(branch), false) => add.arg(&target).arg(branch),
            _ => add
                .arg("--detach")
                .arg(&target)
                .arg(entry.tip.as_deref().unwrap_or("HEAD")),
        };
        add.run()?;
    }
    finish_restore(project, &dir, record)?;
    testpoint::pause("restore.finished");
    journal.finish()?;
    Ok(Restored {
        branch: entry.branch.clone(),
        path: target.clone(),
        restored_files: entry.dirty.len(),
        from: entry.id.clone(),
        moved_from: (target != entry.path).then(|| entry.path.clone()),
    })
}

/// Points a worktree directory and its admin dir at each other again (what
/// `git worktree repair` does, for a pair we know belongs together).
fn link_worktree(worktree: &Path, admin_dir: &Path) -> Result<()> {
    let dot_git = worktree.join(".git");
    std::fs::write(&dot_git, format!("gitdir: {}\n", admin_dir.display()))
        .map_err(|e| Error::io(&dot_git, e))?;
    let gitdir = admin_dir.join("gitdir");
    std::fs::write(&gitdir, format!("{}\n", dot_git.display())).map_err(|e| Error::io(&gitdir, e))
}

fn finish_restore(project: &Project, dir: &Path, mut record: TrashEntry) -> Result<()> {
    let _ = Git::new(&project.main_worktree)
        .args(["update-ref", "-d"])
        .arg(record.reference())
        .run();
    record.phase = Phase::Restored;
    record.restored_at = Some(now_unix());
    record.size = Some(0);
    write_entry(dir, &record)
}

/// `path`, or the first of `path-restored`, `path-restored-2`, … that does not exist.
fn free_path(path: &Path) -> PathBuf {
    if !path.exists() && !path.is_symlink() {
        return path.to_path_buf();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (1..)
        .map(|n| match n {
            1 => path.with_file_name(format!("{name}-restored")),
            n => path.with_file_name(format!("{name}-restored-{n}")),
        })
        .find(|p| !p.exists() && !p.is_symlink())
        .expect("some name is free")
}

fn free_admin_name(project: &Project, wanted: &str) -> String {
    let admins = project.common_dir.join("worktrees");
    (1..)
        .map(|n| match n {
            1 => wanted.to_string(),
            n => format!("{wanted}{n}"),
        })
        .find(|name| !admins.join(name).exists())
        .expect("some name is free")
}

/// A save of an older wtmux: the branch at its tip, a new worktree, the files as unstaged
/// changes.
fn restore_legacy(project: &Project, branch_name: &str, entry: &TrashEntry) -> Result<Restored> {
    let Some(tip) = &entry.tip else {
        return Err(Error::refused(format!(
            "{branch_name:?} was saved without a commit; its files are in {}",
            entry.legacy_content.as_deref().unwrap_or("")
        )));
    };
    let repo = project.repo()?;
    match git::resolve_commit(&repo, &format!("refs/heads/{branch_name}")) {
        Ok(existing) if existing.to_string() != *tip => {
            return Err(Error::refused(format!(
                "branch {branch_name} exists and points elsewhere than the saved tip {}; rename or remove it first",
                &tip[..7]
            )));
        }
        Ok(_) => {}
        Err(_) => {
            Git::new(&project.main_worktree)
                .args(["branch", branch_name, tip])
                .run()?;
        }
    }
    let added = super::create::add(
        project,
        branch_name,
        &super::create::AddOptions {
            no_agent: true,
            ..Default::default()
        },
    )?;
    Git::new(&added.path)
        .args(["restore", "--worktree", "--source"])
        .arg(entry.legacy_content.as_deref().unwrap_or(""))
        .args(["--", ":/"])
        .run()?;
    Git::new(&project.main_worktree)
        .args(["update-ref", "-d"])
        .arg(entry.reference())
        .run()?;
    Ok(Restored {
        branch: Some(branch_name.to_string()),
        path: added.path,
        restored_files: entry.dirty.len(),
        from: entry.id.clone(),
        moved_from: None,
    })
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

/// The journal kind of a restore.
pub const RESTORE_KIND: &str = "restore";

/// Recovery of a restore whose process died: once it had begun moving things back, it goes
/// on to its end; before that, the save is still in the trash as it was.
pub fn recover_restore(project: &Project, _lock: &OpLock, record: &Record) -> Result<String> {
    let id: String = record.intent()?;
    let dir = trash_root(project)?.join(&id);
    let Some(entry) = read_json::<TrashEntry>(&entry_path(&dir)) else {
        return Ok(format!("the save {id} is gone; nothing to finish"));
    };
    let what = entry
        .branch
        .clone()
        .unwrap_or_else(|| "a detached worktree".into());
    if entry.phase == Phase::Restored {
        let to = entry.restored_to.as_ref().unwrap_or(&entry.path);
        return Ok(format!(
            "{what} had been restored to {} already",
            to.display()
        ));
    }
    if entry.phase != Phase::Restoring {
        return Ok(format!(
            "nothing of {what} had moved yet: it is still in the trash as {id}"
        ));
    }
    let target = entry
        .restored_to
        .clone()
        .unwrap_or_else(|| entry.path.clone());
    let admin_name = entry
        .restored_admin
        .clone()
        .or_else(|| entry.admin.clone())
        .unwrap_or_else(|| "restored".into());
    let admin_dir = project.common_dir.join("worktrees").join(admin_name);
    if !finish_move(&dir.join("admin"), &admin_dir)? && dir.join("admin").exists() {
        move_dir(&dir.join("admin"), &admin_dir)?;
    }
    if !finish_move(&dir.join("worktree"), &target)? && dir.join("worktree").exists() {
        move_dir(&dir.join("worktree"), &target)?;
    }
    if target.exists() && admin_dir.exists() {
        link_worktree(&target, &admin_dir)?;
        unlock_admin(&admin_dir);
    }
    finish_restore(project, &dir, entry)?;
    Ok(format!("finished restoring {what} to {}", target.display()))
}
