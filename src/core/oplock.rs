//! One base-moving or deleting operation at a time, repository-wide.
//!
//! Every operation that moves base or deletes something a user made (merge, `merge --all-green`,
//! the cleanup after a merge, remove, restore, add's rollback) holds the [`OpLock`]: an `flock`
//! on `<git common dir>/wtmux/op.lock`, which the kernel drops when its process dies, however it
//! dies. Beside it, `op.json` names the holder (pid, operation, start time) so a waiter can say
//! whom it waits for.
//!
//! API:
//! - [`OpLock::acquire`]`(project, "merge feat/x", on_wait)` blocks until the lock is free;
//!   `on_wait` is called once, with the holder, when it has to wait (the CLI prints one line).
//! - [`OpLock::try_acquire`] never blocks: `Err(Error::Busy { .. })` names the holder.
//! - Re-entrancy: functions that need the lock take `&OpLock` as proof instead of locking again,
//!   so merge's cleanup calls remove's internals with the merge's own lock. Taking it a second
//!   time in one process (which `flock` would let block forever) is refused at once.
//! - Taking the lock first finishes or rolls back whatever an earlier holder left half done
//!   (see [`super::journal`]): what that did is in [`OpLock::recovered`].

use std::fs::File;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::journal::{self, Recovered};
use super::state::{lock_file, read_json, write_json};
use super::{Project, now_unix};

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// What it does, e.g. "merge feat/x".
    pub operation: String,
    /// Unix time it took the lock.
    pub started_at: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {}, for {}s)",
            self.operation,
            self.pid,
            now_unix().saturating_sub(self.started_at)
        )
    }
}

/// The repositories (by common dir) whose lock this process holds: a second acquisition in
/// the same process is a bug to report, not a deadlock (`flock` would block it forever).
static HELD_HERE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// This process's mark on a repository's lock, from before it is taken until it is dropped.
#[derive(Debug)]
struct HeldHere(PathBuf);

impl HeldHere {
    fn mark(common_dir: &std::path::Path) -> Result<HeldHere> {
        let mut held = HELD_HERE.lock().unwrap_or_else(|e| e.into_inner());
        if held.iter().any(|d| d == common_dir) {
            return Err(Error::refused(
                "internal error: the operation lock was taken twice by one process",
            ));
        }
        held.push(common_dir.to_path_buf());
        Ok(HeldHere(common_dir.to_path_buf()))
    }
}

impl Drop for HeldHere {
    fn drop(&mut self) {
        let mut held = HELD_HERE.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|d| *d != self.0);
    }
}

/// The repository-wide operation lock, held until dropped.
#[derive(Debug)]
pub struct OpLock {
    _file: File,
    _here: HeldHere,
    holder: Holder,
    recovered: Vec<Recovered>,
    common_dir: PathBuf,
}

fn lock_path(project: &Project) -> Result<PathBuf> {
    Ok(project.state.dir("")?.join("op.lock"))
}

fn holder_path(project: &Project) -> Result<PathBuf> {
    Ok(project.state.dir("")?.join("op.json"))
}

/// The holder as it recorded itself; a stand-in when it has not written its record yet.
fn read_holder(project: &Project) -> Holder {
    holder_path(project)
        .ok()
        .and_then(|path| read_json(&path))
        .unwrap_or(Holder {
            pid: 0,
            operation: "another wtmux operation".into(),
            started_at: now_unix(),
        })
}

impl OpLock {
    /// Takes the lock, waiting while another process holds it; `on_wait` hears once whom it
    /// waits for.
    pub fn acquire(
        project: &Project,
        operation: &str,
        on_wait: &mut dyn FnMut(&Holder),
    ) -> Result<OpLock> {
        let here = HeldHere::mark(&project.common_dir)?;
        let path = lock_path(project)?;
        let file = lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait(&read_holder(project));
                file.lock().map_err(|e| Error::io(&path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        Self::held(project, file, here, operation)?.usable()
    }

    /// Takes the lock if it is free; `Error::Busy` names the holder otherwise.
    pub fn try_acquire(project: &Project, operation: &str) -> Result<OpLock> {
        Self::try_take(project, operation)?.usable()
    }

    /// Like [`OpLock::try_acquire`], also when recovery failed (the failure is in
    /// [`OpLock::recovered`]): so that reading commands still work and say what is wrong.
    pub(crate) fn try_acquire_for_recovery(project: &Project) -> Result<OpLock> {
        Self::try_take(project, "recovery")
    }

    fn try_take(project: &Project, operation: &str) -> Result<OpLock> {
        let here = HeldHere::mark(&project.common_dir)?;
        let path = lock_path(project)?;
        let file = lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Self::held(project, file, here, operation),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy(read_holder(project))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    fn held(project: &Project, file: File, here: HeldHere, operation: &str) -> Result<OpLock> {
        let holder = Holder {
            pid: std::process::id(),
            operation: operation.to_string(),
            started_at: now_unix(),
        };
        write_json(&holder_path(project)?, &holder)?;
        let mut lock = OpLock {
            _file: file,
            _here: here,
            holder,
            recovered: Vec::new(),
            common_dir: project.common_dir.clone(),
        };
        lock.recovered = journal::recover_locked(project, &lock)?;
        Ok(lock)
    }

    /// Refuses to go on top of an operation that could not be recovered.
    fn usable(self) -> Result<OpLock> {
        match self.recovered.iter().find(|r| r.outcome.is_err()) {
            Some(failed) => Err(Error::refused(failed.to_string())),
            None => Ok(self),
        }
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Interrupted operations that taking this lock finished or rolled back.
    pub fn recovered(&self) -> &[Recovered] {
        &self.recovered
    }

    /// Whether this lock belongs to `project`'s repository (a proof for the wrong repository
    /// proves nothing).
    pub fn covers(&self, project: &Project) -> bool {
        self.common_dir == project.common_dir
    }

    /// Whether this process holds the lock of `project` (somewhere up the call stack).
    pub fn held_by_this_process(project: &Project) -> bool {
        HELD_HERE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&project.common_dir)
    }

    /// Whether some process holds the lock of `project` now, and who.
    pub fn current_holder(project: &Project) -> Result<Option<Holder>> {
        let path = lock_path(project)?;
        Ok(if super::state::is_held(&path)? {
            Some(read_holder(project))
        } else {
            None
        })
    }
}
