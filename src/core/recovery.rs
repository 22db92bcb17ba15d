//! Taking the operation lock as the workflow does: first finishing or rolling back whatever an
//! interrupted operation left half done. This is the one module that knows every journaled
//! kind (merge, add, remove, restore), so it sits above them all; the lock ([`OpLock`]) and
//! the journal ([`super::journal`]) below know none of them.

use super::error::{Error, Result};
use super::journal::{self, RecoverFn, Recovered};
use super::oplock::{Holder, OpLock};
use super::{Project, add_rollback, merge, remove, trash};

/// Every kind of journaled operation and its recovery.
pub const KINDS: &[(&str, RecoverFn)] = &[
    (merge::KIND, merge::recover),
    (add_rollback::KIND, add_rollback::recover),
    (remove::KIND, remove::recover),
    (trash::RESTORE_KIND, trash::recover_restore),
];

/// Finishes or rolls back every operation whose process died half way: run first by every
/// command. Returns one entry per operation, nothing when there was none or when a live
/// operation holds the lock (it recovered what was left when it took the lock). A recovery
/// that failed is in the list, so that reading commands still work and say what is wrong.
pub fn recover(project: &Project) -> Result<Vec<Recovered>> {
    if !journal::any_pending(project) {
        return Ok(Vec::new());
    }
    match OpLock::try_acquire(project, "recovery") {
        Ok(lock) => journal::recover_with(project, &lock, KINDS),
        Err(Error::Busy(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Takes the lock, waiting while another process holds it (`on_wait` hears once whom it waits
/// for), then recovers what was left; returns the lock and what recovery did. Refuses to go on
/// top of an operation that could not be recovered.
pub fn acquire(
    project: &Project,
    operation: &str,
    on_wait: &mut dyn FnMut(&Holder),
) -> Result<(OpLock, Vec<Recovered>)> {
    usable(project, OpLock::acquire(project, operation, on_wait)?)
}

/// Takes the lock if it is free (`Error::Busy` names the holder otherwise), then recovers what
/// was left, as [`acquire`].
pub fn try_acquire(project: &Project, operation: &str) -> Result<(OpLock, Vec<Recovered>)> {
    usable(project, OpLock::try_acquire(project, operation)?)
}

/// An interrupted operation that could not be finished or rolled back (its journal stays, and
/// no operation goes ahead until it is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotRecovered(pub Recovered);

fn usable(project: &Project, lock: OpLock) -> Result<(OpLock, Vec<Recovered>)> {
    let mut recovered = journal::recover_with(project, &lock, KINDS)?;
    match recovered.iter().position(|r| r.outcome.is_err()) {
        Some(at) => Err(Error::step(NotRecovered(recovered.swap_remove(at)))),
        None => Ok((lock, recovered)),
    }
}
