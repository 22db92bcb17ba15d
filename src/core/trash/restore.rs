//! Restoring a save: the directory and admin dir go back (beside where they were when that
//! place is taken), linked to each other again, the branch at its saved tip; and the
//! recovery of a restore whose process died.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::list::list;
use super::moving::{finish_move, move_dir, remove_tree, unlock_admin};
use super::{Phase, TrashEntry, entry_path, trash_root, write_entry};
use crate::core::error::{Error, Result};
use crate::core::git::{self, Git};
use crate::core::journal::{Journal, Record};
use crate::core::oplock::OpLock;
use crate::core::state::read_json;
use crate::core::testpoint;
use crate::core::{Project, now_unix};

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

/// Why `restore` refused, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no save {0:?} in the trash")]
    NoSave(String),
    #[error("nothing of {0:?} is in the trash")]
    NothingOf(String),
    #[error(
        "the save {id} of {} was already restored to {} ({} ago)",
        branch.as_deref().unwrap_or("a detached worktree"),
        restored_to.as_deref().unwrap_or(Path::new("?")).display(),
        humantime::format_duration(std::time::Duration::from_secs(*secs_ago))
    )]
    AlreadyRestored {
        id: String,
        branch: Option<String>,
        restored_to: Option<PathBuf>,
        secs_ago: u64,
    },
    /// The branch exists again, at another commit than the saved tip.
    #[error(
        "branch {branch} exists and points elsewhere ({now}) than the saved tip {}; rename or delete it first",
        saved_tip.as_deref().unwrap_or("(none)")
    )]
    BranchMoved {
        branch: String,
        now: String,
        saved_tip: Option<String>,
    },
    /// Its submodules find their stores by relative paths: only where it was.
    #[error(
        "the save {id} holds submodules, which only work where it was ({}, admin dir {}); that place is taken now: move what is there away, then restore",
        path.display(),
        admin.as_deref().unwrap_or("?")
    )]
    SubmodulesElsewhere {
        id: String,
        path: PathBuf,
        admin: Option<String>,
    },
    #[error("{branch:?} was saved without a commit; its files are in {content}")]
    LegacyWithoutCommit { branch: String, content: String },
    #[error(
        "branch {branch} exists and points elsewhere than the saved tip {saved_tip}; rename or remove it first"
    )]
    LegacyBranchMoved { branch: String, saved_tip: String },
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        Error::step(refused)
    }
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
        return Err(match id {
            Some(id) => Refused::NoSave(id.to_string()),
            None => Refused::NothingOf(branch_name.to_string()),
        }
        .into());
    };
    if entry.phase == Phase::Restored {
        return Err(Refused::AlreadyRestored {
            id: entry.id.clone(),
            branch: entry.branch.clone(),
            restored_to: entry.restored_to.clone(),
            secs_ago: now_unix().saturating_sub(entry.restored_at.unwrap_or(0)),
        }
        .into());
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
            return Err(Refused::BranchMoved {
                branch: branch.clone(),
                now: git::short(existing),
                saved_tip: tip.map(|t| t[..7].to_string()),
            }
            .into());
        }
        if let Some(w) = crate::core::worktree::worktrees(project)?
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
        return Err(Refused::SubmodulesElsewhere {
            id: entry.id.clone(),
            path: entry.path.clone(),
            admin: entry.admin.clone(),
        }
        .into());
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
        return Err(Refused::LegacyWithoutCommit {
            branch: branch_name.to_string(),
            content: entry.legacy_content.clone().unwrap_or_default(),
        }
        .into());
    };
    let repo = project.repo()?;
    match git::resolve_commit(&repo, &format!("refs/heads/{branch_name}")) {
        Ok(existing) if existing.to_string() != *tip => {
            return Err(Refused::LegacyBranchMoved {
                branch: branch_name.to_string(),
                saved_tip: tip[..7].to_string(),
            }
            .into());
        }
        Ok(_) => {}
        Err(_) => {
            Git::new(&project.main_worktree)
                .args(["branch", branch_name, tip])
                .run()?;
        }
    }
    let added = crate::core::create::add(
        project,
        branch_name,
        &crate::core::create::AddOptions {
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
