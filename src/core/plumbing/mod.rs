//! The lower layer: what the workflow is built on, knowing nothing of it — the git client and
//! git's exact status, the tmux client and processes, wtmux's state files, locks and journals,
//! configuration and trust, the Worktree model (which worktrees exist, found by name), and the
//! watches that serve display. Nothing here imports a workflow module (`core::create`,
//! `core::merge`, …); the workflow imports from here.
//!
//! Import order inside (lowest first): error; branch, git, operation, state, testpoint, tmux,
//! trust, watch; process, status, fingerprint_cache, config; project; oplock, worktree;
//! journal, fsmonitor.

pub mod branch;
pub mod config;
pub mod error;
pub mod fingerprint_cache;
pub mod fsmonitor;
pub mod git;
pub mod journal;
pub mod operation;
pub mod oplock;
pub mod process;
pub mod project;
pub mod state;
pub mod status;
pub mod testpoint;
pub mod tmux;
pub mod trust;
pub mod watch;
pub mod worktree;

use std::path::{Path, PathBuf};

pub use config::Config;
pub use error::{Error, Result};
pub use project::Project;

/// This wtmux executable.
pub fn own_exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::io("current executable", e))
}

/// The argv that runs this wtmux with `args`: how work that must outlive the caller (checks,
/// agents' wrapper, the monitors, post_merge) is handed to tmux.
pub fn own_command(args: &[&str]) -> Result<Vec<String>> {
    Ok(std::iter::once(own_exe()?.to_string_lossy().into_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .collect())
}

/// Canonical form of a path when it exists, the path itself otherwise: worktree paths are
/// compared and used as keys, so symlinked temp dirs (macOS `/var`) must not split them.
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `items.map(f)` on every core at once; each thread takes the next item when it is free, so
/// one slow worktree does not hold back a whole share of them. Results keep the items' order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8)
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
