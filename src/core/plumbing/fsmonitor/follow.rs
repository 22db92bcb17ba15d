//! Following the daemon, for the popup: its coverage, its session, and the changes it saw,
//! as events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::daemon::{GaveUp, coverage_lost};
use super::{dir, disabled, start};
use crate::core::Project;
use crate::core::error::{Error, Result};
use crate::core::state::{is_held, worktree_key};

/// What a display following the daemon learns (see [`follow`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// Something in this worktree changed (the daemon dropped its marker), or its check run's
    /// record did: read it again.
    Worktree(PathBuf),
    /// Only its agent's record changed.
    Agent(PathBuf),
    /// Anything may have changed: a worktree came or went, base moved, or events were lost.
    Everything,
    /// The daemon started, stopped or gave up: see [`coverage`].
    Daemon,
}

/// How much of every worktree the daemon watches, for a display that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// A daemon runs and watches everything: its events are the whole story.
    Complete,
    /// The daemon gave up at the system's inotify limit: how far it got.
    Partial(GaveUp),
    /// No daemon (outside tmux, `WTMUX_FSMONITOR=off`, or not started yet).
    None,
}

/// Whether a daemon runs and watches everything.
pub fn coverage(project: &Project) -> Coverage {
    if let Some(lost) = coverage_lost(project) {
        return Coverage::Partial(lost);
    }
    let Ok(root) = dir(project, "") else {
        return Coverage::None;
    };
    if !disabled()
        && is_held(&root.join("daemon.lock")).unwrap_or(false)
        && live_session(&root).is_some()
    {
        Coverage::Complete
    } else {
        Coverage::None
    }
}

/// The running daemon's session once it watches everything (what [`sync`] answers when it
/// answers), without syncing: for a follower to tell whether its rows were read in it.
pub fn session(project: &Project) -> Option<String> {
    if coverage(project) != Coverage::Complete {
        return None;
    }
    live_session(&dir(project, "").ok()?)
}

/// The session in `root`, if the daemon that wrote it (`<pid>-<time>`) still lives: one killed
/// without a word leaves its session behind until the next one, holding the lock already,
/// removes it.
pub(super) fn live_session(root: &Path) -> Option<String> {
    let session = std::fs::read_to_string(root.join("session")).ok()?;
    let pid: libc::pid_t = session.split('-').next()?.parse().ok()?;
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(session)
}

/// For a display about to read every worktree: starts the daemon if none runs, and waits up to
/// `patience` for it to watch everything (or give up). Read then, every worktree is marked in
/// its session at once; read before, each would be read again once it watches (its markers
/// start only then). Returns the coverage reached.
pub fn start_and_wait(project: &Project, patience: std::time::Duration) -> Coverage {
    let now = coverage(project);
    if now != Coverage::None || project.tmux.is_none() || disabled() {
        return now;
    }
    start(project);
    let deadline = std::time::Instant::now() + patience;
    loop {
        let now = coverage(project);
        if now != Coverage::None || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The file the daemon writes when anything may have changed (see [`Event::Everything`]).
pub(super) const EVERYTHING: &str = "everything";

/// A display following the daemon: see [`follow`].
pub struct Follower {
    _watcher: crate::core::watch::DirWatcher,
    keys: std::sync::Arc<std::sync::RwLock<HashMap<String, PathBuf>>>,
}

impl Follower {
    /// The worktrees shown: their changes are told by path.
    pub fn show<'a>(&self, worktrees: impl IntoIterator<Item = &'a Path>) {
        let keys = worktrees
            .into_iter()
            .map(|p| (worktree_key(p), p.to_path_buf()))
            .collect();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }
}

/// Follows the daemon's view of every worktree, for a display (the popup): the daemon holds
/// the one watch plan (every worktree's directories, admin dirs, refs, directories created
/// later); a follower watches only what the daemon says — its markers, dropped on the first
/// change in a worktree, and its signals for everything else — and wtmux's own records (check
/// runs, agents). So a display adds a handful of watches, whatever the size of the worktrees,
/// and sees exactly what `list` would. Changes come to `deliver`, in batches, on a thread of
/// the follower's own.
pub fn follow(
    project: &Project,
    mut deliver: impl FnMut(Vec<Event>) -> bool + Send + 'static,
) -> Result<Follower> {
    use crate::core::watch::{Batch, DirWatcher, Kind};
    let root = dir(project, "")?;
    let clean = dir(project, "clean")?;
    let runs = project.state.dir("runs")?;
    let agents = project.state.dir("agents")?;
    let keys: std::sync::Arc<std::sync::RwLock<HashMap<String, PathBuf>>> = Default::default();
    let known = keys.clone();
    let (root_dir, clean_dir, runs_dir, agents_dir) =
        (root.clone(), clean.clone(), runs.clone(), agents.clone());
    let watcher = DirWatcher::new(move |batch| {
        let changes = match batch {
            Batch::Lost => return deliver(vec![Event::Everything]),
            Batch::Changes(changes) => changes,
        };
        let keys = known.read().unwrap_or_else(|e| e.into_inner());
        let mut events = Vec::new();
        for change in changes {
            let (Some(parent), Some(name)) = (change.path.parent(), change.path.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            // Temporary files and cookies come and go without meaning anything.
            if name.starts_with('.') {
                continue;
            }
            let worktree = |stem: &str| keys.get(stem).cloned();
            if parent == clean_dir {
                // A marker dropped: its worktree changed. (Readers set them again.)
                if change.kind == Kind::Removed
                    && let Some(path) = worktree(&name)
                {
                    events.push(Event::Worktree(path));
                }
            } else if parent == runs_dir || parent == agents_dir {
                let Some(stem) = name.strip_suffix(".json") else {
                    continue;
                };
                if let Some(path) = worktree(stem) {
                    events.push(if parent == runs_dir {
                        Event::Worktree(path)
                    } else {
                        Event::Agent(path)
                    });
                }
            } else if parent == root_dir {
                match &*name {
                    EVERYTHING => events.push(Event::Everything),
                    // Only holders open the lock for writing (its close is the event): a daemon
                    // starting, or ending however it ends.
                    "session" | "unavailable" | "daemon.lock" => events.push(Event::Daemon),
                    _ => {}
                }
            }
        }
        drop(keys);
        events.dedup();
        events.is_empty() || deliver(events)
    })
    .map_err(|e| Error::io(&root, e))?;
    for dir in [&root, &clean, &runs, &agents] {
        watcher.watch(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(Follower {
        _watcher: watcher,
        keys,
    })
}
