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
//!   time in one thread (which `flock` would let block forever) is refused at once; threads of
//!   one process (the popup's actions) wait for or are refused by each other like processes.
//! - This is the lock alone. The workflow takes it through [`crate::core::recovery`], which first
//!   finishes or rolls back whatever an earlier holder left half done (see [`super::journal`]):
//!   only that module knows every kind of operation, so the lock stays below them all.

use std::fs::File;
use std::path::PathBuf;

use super::error::{Error, Result};
use super::state::{lock_file, read_json, write_json};
use super::{Project, now_unix};

pub use super::error::Holder;

/// The repositories (by common dir) whose lock this process holds, and which thread holds
/// it: `flock` does not order the threads of one process (the popup runs actions on several),
/// and the same thread taking it twice would block forever.
static HELD_HERE: std::sync::Mutex<Vec<(PathBuf, std::thread::ThreadId)>> =
    std::sync::Mutex::new(Vec::new());
static RELEASED: std::sync::Condvar = std::sync::Condvar::new();

/// This process's mark on a repository's lock, from before it is taken until it is dropped.
#[derive(Debug)]
struct HeldHere(PathBuf);

/// How [`HeldHere::mark`] deals with another thread of this process holding the lock.
enum InProcess<'a> {
    Wait(&'a mut dyn FnMut()),
    Refuse,
}

impl HeldHere {
    /// Marks the lock as this thread's. `Ok(None)`: another thread holds it and `how` said not
    /// to wait.
    fn mark(common_dir: &std::path::Path, how: InProcess) -> Result<Option<HeldHere>> {
        let me = std::thread::current().id();
        let mut held = HELD_HERE.lock().unwrap_or_else(|e| e.into_inner());
        let mut told = false;
        let mut how = how;
        loop {
            match held.iter().find(|(dir, _)| dir == common_dir) {
                None => break,
                Some((_, thread)) if *thread == me => {
                    return Err(Error::LockTakenTwice);
                }
                Some(_) => match &mut how {
                    InProcess::Refuse => return Ok(None),
                    InProcess::Wait(on_wait) => {
                        if !told {
                            told = true;
                            on_wait();
                        }
                        held = RELEASED.wait(held).unwrap_or_else(|e| e.into_inner());
                    }
                },
            }
        }
        held.push((common_dir.to_path_buf(), me));
        Ok(Some(HeldHere(common_dir.to_path_buf())))
    }
}

impl Drop for HeldHere {
    fn drop(&mut self) {
        let mut held = HELD_HERE.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|(dir, _)| *dir != self.0);
        RELEASED.notify_all();
    }
}

/// The repository-wide operation lock, held until dropped.
#[derive(Debug)]
pub struct OpLock {
    _file: File,
    _here: HeldHere,
    holder: Holder,
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
        let mut told = false;
        let here = HeldHere::mark(
            &project.common_dir,
            InProcess::Wait(&mut || {
                told = true;
                on_wait(&read_holder(project));
            }),
        )?
        .expect("a waiting mark always comes back with the lock");
        let path = lock_path(project)?;
        let file = lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                if !told {
                    on_wait(&read_holder(project));
                }
                file.lock().map_err(|e| Error::io(&path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        Self::held(project, file, here, operation)
    }

    /// Takes the lock if it is free; `Error::Busy` names the holder otherwise.
    pub fn try_acquire(project: &Project, operation: &str) -> Result<OpLock> {
        let Some(here) = HeldHere::mark(&project.common_dir, InProcess::Refuse)? else {
            return Err(Error::Busy(read_holder(project)));
        };
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
        Ok(OpLock {
            _file: file,
            _here: here,
            holder,
            common_dir: project.common_dir.clone(),
        })
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Whether this lock belongs to `project`'s repository (a proof for the wrong repository
    /// proves nothing).
    pub fn covers(&self, project: &Project) -> bool {
        self.common_dir == project.common_dir
    }

    /// Whether this thread holds the lock of `project` (somewhere up the call stack).
    pub fn held_by_this_thread(project: &Project) -> bool {
        let me = std::thread::current().id();
        HELD_HERE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|(dir, thread)| *dir == project.common_dir && *thread == me)
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
