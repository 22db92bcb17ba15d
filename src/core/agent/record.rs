//! The record store: one JSON file per worktree's agent under `<state>/agents/`, changed only
//! under its lock (the wrapper, hooks, the monitor and `add` all write it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::observe::Observation;
use super::{AgentState, AgentStatus};
use crate::core::Project;
use crate::core::config::PromptMode;
use crate::core::error::{Error, Result};
use crate::core::state::{lock_file, overwrite_json, read_json, read_json_shared, worktree_key};

/// Everything known about one worktree's agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRecord {
    pub name: String,
    pub run: String,
    pub prompt_mode: PromptMode,
    /// The task, when it is passed as an argument (read by the wrapper, never by a shell).
    pub prompt: Option<String>,
    /// The task it was started with (`add --prompt`, the popup's `n`), however it was given:
    /// a squash merge's message names it.
    #[serde(default)]
    pub task: Option<String>,
    pub worktree: PathBuf,
    pub branch: String,
    pub pane: Option<String>,
    /// The process of that pane, recorded when wtmux started the agent: with the pane's tag,
    /// the proof that a pane id still names this agent's pane (ids restart with the server).
    #[serde(default)]
    pub pane_pid: Option<u32>,
    pub window: Option<String>,
    pub started_at: u64,
    pub exit_code: Option<i32>,
    pub exited: bool,
    /// The last state a hook pushed, and when (unix ms).
    pub hook: Option<(AgentState, u64)>,
    /// The state last recorded by the monitor or a hook, for noticing changes.
    pub last_state: AgentState,
    /// What the monitor last learned of the pane, so the next look reads no screen while
    /// nothing changed.
    #[serde(default)]
    pub observed: Option<Observation>,
    /// The status last recorded (by the monitor or a hook), for display that follows the
    /// monitor instead of looking at the pane again (see [`recorded_statuses`]).
    #[serde(default)]
    pub told: Option<AgentStatus>,
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(super) fn record_path(project: &Project, worktree: &Path) -> Result<PathBuf> {
    Ok(project
        .state
        .dir("agents")?
        .join(format!("{}.json", worktree_key(worktree))))
}

pub fn read_record(project: &Project, worktree: &Path) -> Result<Option<AgentRecord>> {
    Ok(read_record_at(&record_path(project, worktree)?))
}

/// A record, read while no one writes it (see [`modify`]); `None` for what is not a record (its
/// lock, the monitor's lock: waiting for those would wait for ever).
pub(super) fn read_record_at(path: &Path) -> Option<AgentRecord> {
    if path.extension().is_none_or(|e| e != "json") {
        return None;
    }
    read_json_shared(path, &path.with_extension("lock"))
}

/// Changes a worktree's record under its lock: the wrapper, hooks, the monitor and `add` all
/// write it, and none may lose another's change (an exit recorded while `add` notes the pane).
pub(super) fn modify<T>(
    project: &Project,
    worktree: &Path,
    change: impl FnOnce(&mut Option<AgentRecord>) -> T,
) -> Result<T> {
    let path = record_path(project, worktree)?;
    let lock = lock_file(&path.with_extension("lock"))?;
    lock.lock().map_err(|e| Error::io(&path, e))?;
    let mut record = read_json::<AgentRecord>(&path);
    let before = record
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_default());
    let result = change(&mut record);
    let after = record
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_default());
    if let Some(record) = &record
        && before != after
    {
        overwrite_json(&path, record, &lock)?;
    }
    Ok(result)
}

/// Forgets the agent of a removed worktree.
pub fn forget(project: &Project, worktree: &Path) {
    if let Ok(path) = record_path(project, worktree) {
        let _ = std::fs::remove_file(path);
    }
}
