//! The monitor from outside: starting it when none runs, and what a running one says about
//! itself (for `wtmux doctor`). Below the monitor loop, so everything that may need a monitor
//! (starting an agent, telling about a turn, a look from `list`) can start one.

use serde::{Deserialize, Serialize};

use crate::core::Project;
use crate::core::error::Result;
use crate::core::state::{is_held, read_json};

/// The hidden subcommand of the monitor: `wtmux __agent-monitor`.
pub const MONITOR_COMMAND: &str = "__agent-monitor";

/// Starts the monitor under tmux unless one runs.
pub fn ensure_monitor(project: &Project) -> Result<()> {
    let Some(tmux) = &project.tmux else {
        return Ok(());
    };
    if is_held(&project.state.dir("agents")?.join("monitor.lock"))? {
        return Ok(());
    }
    tmux.spawn_background(
        &project.main_worktree,
        &crate::core::own_command(&[MONITOR_COMMAND])?,
    )
}

/// Where the running monitor says who it is and when it last saw a change (for `doctor`), in
/// the state dir (not among the agents' records).
pub const MONITOR_STATUS: &str = "agent-monitor.json";

/// The agent monitor, as it describes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorStatus {
    pub pid: u32,
    /// Unix time it started.
    pub started: u64,
    /// Unix time of the last state change it recorded.
    pub last_change: Option<u64>,
}

/// The running agent monitor, if one runs (its lock is held).
pub fn monitor_status(project: &Project) -> Result<Option<MonitorStatus>> {
    let dir = project.state.dir("agents")?;
    if !is_held(&dir.join("monitor.lock"))? {
        return Ok(None);
    }
    Ok(read_json(&project.state.root().join(MONITOR_STATUS)))
}
