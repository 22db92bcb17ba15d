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
//!
//! The files: `moving` (moving directories in and out, crash-safe), `save`, `list` (what is
//! there, and dropping: prune), `restore`. This file holds the records they share.

mod list;
mod moving;
mod restore;
mod save;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Project;
use super::error::Result;
use super::state::write_json;

pub use list::{list, prune, size_of};
pub use moving::remove_tree;
pub use restore::{RESTORE_KIND, Refused, Restored, find, recover_restore, restore};
pub use save::{SaveRecovery, finish_or_undo_save, save, saved_since, unfinished_save};

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
