//! The workflow core: everything wtmux does, with no knowledge of terminals.
//!
//! The CLI (`src/cli/`) and the popup (`src/tui/`) are thin shells over the functions here;
//! no action has a second implementation. Functions take plain values and return typed results
//! and typed errors; nothing here prints or reads the terminal.
//!
//! Two layers, arrows pointing down only:
//! - [`plumbing`]: git, tmux, state files, locks and journals, config, the Worktree model, the
//!   watches. Re-exported here (`core::git`, `core::Project`, …) because everything uses it.
//! - the workflow, one module per step, each importing only downward or sideways in one
//!   direction: `create` (+ `add_rollback`), `window`, `listing`, `check`, `agent` (+
//!   `observe`), `scope`, `sync` (+ `handoff`), `merge` (and the queue), `remove`, `trash`
//!   (and restore); `recovery` above them all (it knows every journaled kind), then `doctor`
//!   and `demo`.

pub mod plumbing;

pub mod add_rollback;
pub mod agent;
pub mod check;
pub mod create;
pub mod demo;
pub mod doctor;
pub mod handoff;
pub mod listing;
pub mod merge;
pub mod recovery;
pub mod remove;
pub mod scope;
pub mod sync;
pub mod trash;
pub mod window;

pub use plumbing::{
    Config, Error, Project, Result, canonical, now_unix, own_command, own_exe, parallel_map,
};
pub use plumbing::{
    branch, config, error, fingerprint_cache, fsmonitor, git, journal, operation, oplock, process,
    project, state, status, testpoint, tmux, trust, watch, worktree,
};
