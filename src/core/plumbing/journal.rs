//! A journal per operation, so that `kill -9` at any point leaves nothing half done: the next
//! wtmux command finishes or rolls back the interrupted operation and says so in one line.
//!
//! An operation that moves base or deletes holds the [`OpLock`] and writes
//! `<git common dir>/wtmux/journal/<id>.json`: first its intent (what it is about to do, with
//! every fact needed to undo it: old ref values, paths), then each step as it completes, each
//! time as a whole new file renamed into place. On success it removes the file. The
//! operation also holds an `flock` on `<id>.lock` for as long as its process lives, so a
//! journal file whose lock is free belongs to a process that died.
//!
//! API:
//! - [`Journal::begin`]`(project, &lock, "merge", "merge feat/x", &intent)` (or
//!   [`Journal::begin_unlocked`] for an operation that does not hold the lock: each journal
//!   also holds `<id>.lock` while its process lives, and recovery skips a live one), then
//!   [`Journal::step`]`("swapped")` / [`Journal::step_with`]`("built", &data)` after each step,
//!   and [`Journal::finish`] at the end (also after a rollback the operation did itself).
//! - Each kind registers its recovery in [`crate::core::recovery::KINDS`] (above every kind, so this
//!   module knows none of them): `fn(&Project, &OpLock, &Record) ->
//!   Result<String>` that rolls the operation forward or back from what the record says was done
//!   and returns one line saying which. An operation's own failure path can call the same
//!   function, so there is one rollback and not two. Recovery records what it does with
//!   [`Record::record_step`] (a pause point `recover.<kind>.<step>`), so that an interrupted
//!   recovery does nothing twice either.
//! - [`crate::core::recovery::recover`]`(project)` is what every command runs first (the CLI, hence
//!   the popup too): cheap when the journal directory is empty; otherwise it takes the lock
//!   (unless a live process holds it) and recovers every journal left, oldest first, with
//!   [`recover_with`]. Taking the lock through [`crate::core::recovery::acquire`] does the same, so
//!   no operation ever starts on top of a half-done one.
//! - Every step is a pause point for tests (see [`super::testpoint`]): `<kind>.<step>`, and
//!   `<kind>.begin` once the intent is written.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::oplock::OpLock;
use super::state::{read_json, try_hold, write_json};
use super::{Project, now_unix, testpoint};

/// How one kind of operation is finished or rolled back after its process died: returns one
/// line saying what was done.
pub type RecoverFn = fn(&Project, &OpLock, &Record) -> Result<String>;

/// One completed step, with whatever facts it learned (new object ids, paths).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDone {
    pub name: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// What a journal file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub kind: String,
    /// For messages, e.g. "merge feat/x".
    pub operation: String,
    pub pid: u32,
    pub started_at: u64,
    pub intent: serde_json::Value,
    pub steps: Vec<StepDone>,
    /// The journal file, when this record was read from one.
    #[serde(skip)]
    file: Option<PathBuf>,
}

impl Record {
    /// The intent, as the operation wrote it.
    pub fn intent<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.intent.clone()).map_err(|e| Error::JournalUnreadable {
            id: self.id.clone(),
            operation: self.operation.clone(),
            detail: e.to_string(),
        })
    }

    pub fn done(&self, step: &str) -> bool {
        self.steps.iter().any(|s| s.name == step)
    }

    /// The data recorded with a completed step.
    pub fn data<T: DeserializeOwned>(&self, step: &str) -> Option<T> {
        self.steps
            .iter()
            .rev()
            .find(|s| s.name == step)
            .and_then(|s| serde_json::from_value(s.data.clone()).ok())
    }

    pub fn last_step(&self) -> Option<&str> {
        self.steps.last().map(|s| s.name.as_str())
    }

    /// For recovery: records in the journal file that `step` is now done, so that recovery
    /// interrupted in its turn does not do it twice. (The record itself stays as it was read;
    /// a step is done once per recovery anyway.)
    pub fn record_step(&self, step: &str) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut current: Record = read_json(file).unwrap_or_else(|| self.clone());
        current.steps.push(StepDone {
            name: step.to_string(),
            data: serde_json::Value::Null,
        });
        write_json(file, &current)?;
        testpoint::pause(&format!("recover.{}.{step}", self.kind));
        Ok(())
    }
}

/// An operation's journal while it runs. Dropping it without [`Journal::finish`] leaves the file,
/// which the next command then recovers: an operation must finish its journal on every path
/// where it is done (succeeded, or rolled back itself).
#[derive(Debug)]
pub struct Journal<'l> {
    path: PathBuf,
    record: Record,
    /// Held while the operation's process lives (`<id>.lock`): recovery leaves a journal whose
    /// process is alive alone, whoever holds the operation lock.
    _alive: std::fs::File,
    _lock: Option<&'l OpLock>,
}

fn journal_dir(project: &Project) -> Result<PathBuf> {
    project.state.dir("journal")
}

impl<'l> Journal<'l> {
    /// Writes the intent of a new operation of `kind`, which holds the operation lock.
    pub fn begin<T: Serialize>(
        project: &Project,
        lock: &'l OpLock,
        kind: &str,
        operation: &str,
        intent: &T,
    ) -> Result<Journal<'l>> {
        debug_assert!(
            lock.covers(project),
            "a journal needs this repository's lock"
        );
        Self::start(project, Some(lock), kind, operation, intent)
    }

    /// Writes the intent of an operation that does not hold the operation lock (it moves no
    /// base and deletes nothing a user made, as `add` until it succeeds); its recovery runs
    /// under the lock once its process is gone.
    pub fn begin_unlocked<T: Serialize>(
        project: &Project,
        kind: &str,
        operation: &str,
        intent: &T,
    ) -> Result<Journal<'static>> {
        Journal::start(project, None, kind, operation, intent)
    }

    fn start<T: Serialize>(
        project: &Project,
        lock: Option<&'l OpLock>,
        kind: &str,
        operation: &str,
        intent: &T,
    ) -> Result<Journal<'l>> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let started_at = now_unix();
        let pid = std::process::id();
        let id = format!(
            "{started_at:012}-{pid}-{}",
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let dir = journal_dir(project)?;
        let alive = try_hold(&dir.join(format!("{id}.lock")))?
            .ok_or_else(|| Error::JournalInUse(id.clone()))?;
        let journal = Journal {
            path: dir.join(format!("{id}.json")),
            record: Record {
                id,
                kind: kind.to_string(),
                operation: operation.to_string(),
                pid,
                started_at,
                intent: serde_json::to_value(intent).expect("intent serializes"),
                steps: Vec::new(),
                file: None,
            },
            _alive: alive,
            _lock: lock,
        };
        write_json(&journal.path, &journal.record)?;
        testpoint::pause(&format!("{kind}.begin"));
        Ok(journal)
    }

    /// Records that `step` completed.
    pub fn step(&mut self, step: &str) -> Result<()> {
        self.step_with(step, &serde_json::Value::Null)
    }

    /// Records that `step` completed, with what it learned.
    pub fn step_with<T: Serialize>(&mut self, step: &str, data: &T) -> Result<()> {
        self.record.steps.push(StepDone {
            name: step.to_string(),
            data: serde_json::to_value(data).expect("step data serializes"),
        });
        write_json(&self.path, &self.record)?;
        testpoint::pause(&format!("{}.{step}", self.record.kind));
        Ok(())
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The operation is over (done, or undone by itself): nothing is left to recover.
    pub fn finish(self) -> Result<()> {
        let removed = match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&self.path, e)),
        };
        let _ = std::fs::remove_file(self.path.with_extension("lock"));
        removed
    }
}

/// What recovery did about one interrupted operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovered {
    pub kind: String,
    pub operation: String,
    pub pid: u32,
    /// What was done (finished, rolled back), or why it could not be (the journal then stays).
    pub outcome: std::result::Result<String, String>,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(done) => write!(
                f,
                "interrupted {} (pid {}): {done}",
                self.operation, self.pid
            ),
            Err(why) => write!(
                f,
                "interrupted {} (pid {}) could not be recovered: {why}",
                self.operation, self.pid
            ),
        }
    }
}

fn pending(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Whether any journal is left (an operation running, or one whose process died).
pub fn any_pending(project: &Project) -> bool {
    !pending(&project.state.root().join("journal")).is_empty()
}

/// Finishes or rolls back, with the lock held, every operation whose process died half way,
/// oldest first, each by the recovery `kinds` gives for its kind; stops at the first that
/// fails (later ones may build on it).
pub fn recover_with(
    project: &Project,
    lock: &OpLock,
    kinds: &[(&str, RecoverFn)],
) -> Result<Vec<Recovered>> {
    let mut recovered = Vec::new();
    for path in pending(&project.state.root().join("journal")) {
        // A journal whose process still runs (one that does not hold the operation lock) is
        // not interrupted; holding its liveness lock keeps that so while it is recovered.
        let Some(_alive) = try_hold(&path.with_extension("lock"))? else {
            continue;
        };
        let Some(mut record) = read_json::<Record>(&path) else {
            recovered.push(Recovered {
                kind: "?".into(),
                operation: "operation".into(),
                pid: 0,
                outcome: Err(format!("its journal {} is unreadable", path.display())),
            });
            break;
        };
        record.file = Some(path.clone());
        let outcome = match kinds.iter().find(|(kind, _)| *kind == record.kind) {
            Some((_, recover)) => recover(project, lock, &record).map_err(|e| e.to_string()),
            None => Err(format!(
                "this wtmux does not know operations of kind {:?}",
                record.kind
            )),
        };
        let stop = match &outcome {
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(path.with_extension("lock"));
                false
            }
            // Later operations may build on this one's state: leave them for after it is fixed.
            Err(_) => true,
        };
        recovered.push(Recovered {
            kind: record.kind,
            operation: record.operation,
            pid: record.pid,
            outcome: outcome
                .map_err(|why| format!("{why}; its journal stays at {}", path.display())),
        });
        if stop {
            break;
        }
    }
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let signature = git2::Signature::now("t", "t@t").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        repo.commit(Some("HEAD"), &signature, &signature, "init", &tree, &[])
            .unwrap();
        let project = Project::discover_with(dir.path(), None, None).unwrap();
        (dir, project)
    }

    fn roll_back(_: &Project, _: &OpLock, record: &Record) -> Result<String> {
        let intent: String = record.intent()?;
        Ok(format!(
            "rolled back {intent} after {}",
            record.last_step().unwrap_or("nothing")
        ))
    }

    fn refuse(_: &Project, _: &OpLock, _: &Record) -> Result<String> {
        Err(Error::Config("cannot".into()))
    }

    #[test]
    fn a_journal_left_behind_is_recovered_once_and_a_finished_one_is_not() {
        let (_dir, project) = project();
        let lock = OpLock::try_acquire(&project, "test").unwrap();
        let mut left = Journal::begin(&project, &lock, "demo", "demo x", &"x").unwrap();
        left.step_with("built", &42).unwrap();
        assert_eq!(left.record().data::<i32>("built"), Some(42));
        drop(left);
        let mut done = Journal::begin(&project, &lock, "demo", "demo y", &"y").unwrap();
        done.step("built").unwrap();
        done.finish().unwrap();

        let kinds: &[(&str, RecoverFn)] = &[("demo", roll_back)];
        let recovered = recover_with(&project, &lock, kinds).unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(
            recovered[0].to_string(),
            format!(
                "interrupted demo x (pid {}): rolled back x after built",
                std::process::id()
            )
        );
        assert!(recover_with(&project, &lock, kinds).unwrap().is_empty());
    }

    #[test]
    fn a_failed_recovery_keeps_the_journal_and_says_so() {
        let (_dir, project) = project();
        let lock = OpLock::try_acquire(&project, "test").unwrap();
        drop(Journal::begin(&project, &lock, "demo", "demo z", &"z").unwrap());
        let kinds: &[(&str, RecoverFn)] = &[("demo", refuse)];
        let first = recover_with(&project, &lock, kinds).unwrap();
        assert!(first[0].outcome.as_ref().unwrap_err().contains("cannot"));
        assert_eq!(recover_with(&project, &lock, kinds).unwrap().len(), 1);
        // An unknown kind is reported, not dropped.
        let none: &[(&str, RecoverFn)] = &[];
        let unknown = recover_with(&project, &lock, none).unwrap();
        assert!(unknown[0].to_string().contains("\"demo\""), "{unknown:?}");
    }

    #[test]
    fn the_lock_names_its_holder_and_is_never_taken_twice_by_one_thread() {
        let (_dir, project) = project();
        let lock = OpLock::try_acquire(&project, "merge feat/x").unwrap();
        // Taken twice by one thread: refused at once instead of blocking forever.
        let twice = OpLock::acquire(&project, "remove y", &mut |_| panic!("must not wait"));
        assert!(twice.unwrap_err().to_string().contains("twice"));
        assert_eq!(
            OpLock::current_holder(&project).unwrap().unwrap().operation,
            "merge feat/x"
        );
        drop(lock);
        assert!(OpLock::current_holder(&project).unwrap().is_none());
        let mut waited = false;
        let again = OpLock::acquire(&project, "remove y", &mut |_| waited = true).unwrap();
        assert!(!waited);
        assert_eq!(again.holder().operation, "remove y");
    }

    #[test]
    fn threads_of_one_process_wait_for_or_are_refused_by_each_other() {
        let (_dir, project) = project();
        let held = OpLock::try_acquire(&project, "merge a").unwrap();
        let (told_send, told) = std::sync::mpsc::channel();
        let other = std::thread::spawn({
            let project = project.clone();
            move || {
                match OpLock::try_acquire(&project, "merge b") {
                    Err(Error::Busy(holder)) => assert_eq!(holder.operation, "merge a"),
                    other => panic!("expected Busy, got {other:?}"),
                }
                let lock = OpLock::acquire(&project, "merge b", &mut |holder| {
                    told_send.send(holder.operation.clone()).unwrap();
                })
                .unwrap();
                lock.holder().operation.clone()
            }
        });
        // The other thread says whom it waits for, and only gets the lock once it is released.
        assert_eq!(told.recv().unwrap(), "merge a");
        drop(held);
        assert_eq!(other.join().unwrap(), "merge b");
    }
}
