//! Agents: one per worktree, started in its tmux window with its task, and what each is doing.
//!
//! States: working, waiting (asks something), done (finished its turn), exited (its process is
//! gone), none. Two sources, combined by [`effective`]:
//!
//! 1. Pushed by the agent's own hooks (`wtmux agent-status <state>`; `wtmux setup claude`
//!    writes them).
//! 2. Observed: what the pane shows, whether it is still alive, and the exit status the wrapper
//!    recorded. Output is a change of the pane's text (tmux's `window_activity`, which the bell
//!    or a redraw of the same screen move too, only says which screens to read: see
//!    [`observe`]). Output within the last `agent_quiet` (default 3 s) is working; quiet after that is waiting when the last line
//!    reads as a question (`?`, `(y/n)`, `[Y/n]`, "Allow", "Do you want", "Press Enter"), done
//!    otherwise.
//!
//! Hooks go missing (an agent killed, an API error, an interrupted turn), so a hook's state is
//! checked against observation: "working" with no output for `agent_hook_stale` (default 30 s)
//! gives way to the observed state; "waiting"/"done" followed by fresh output more than 2 s later
//! (past the agent's own redraw) gives way to working; an exited process beats any hook.
//!
//! Records live in `<git common dir>/wtmux/agents/<worktree key>.json`. A monitor, started under
//! tmux with the first agent and gone when the last one exits (or, when checks start on new
//! commits, the last linked worktree is gone: it also runs [`crate::core::check::auto`]'s look at
//! branch tips), turns time into state changes:
//! it records them (the popup watches that directory), sets the window options `@wtmux_state`
//! (the state) and `@wtmux_mark` (a marker, cleared once someone looks at the window), and tells
//! the user when an agent turns waiting, done or exited.
//!
//! The files, lowest first: `observe` (looking at panes), `record` (the record store), `infer`
//! (state inference, pure), `look` (records plus a look), `ensure` (starting the monitor),
//! `notify` (telling about a change), `start` (starting and pasting), `send` (send and wait),
//! `wrapper` (the agent's process), `hook` (the hook entry), `hook_errors` (what a hook could
//! not record), `monitor` (the monitor loop),
//! `setup` (the settings installer). This file holds the states they share.

mod ensure;
mod hook;
mod hook_errors;
mod infer;
mod look;
mod monitor;
mod notify;
pub mod observe;
mod record;
mod send;
mod setup;
mod start;
mod wrapper;

use serde::{Deserialize, Serialize};

pub use ensure::{MONITOR_COMMAND, MONITOR_STATUS, MonitorStatus, ensure_monitor, monitor_status};
pub use hook::{Pushed, push};
pub use hook_errors::{
    HookError, hook_errors_log, hook_errors_since, log_hook_error, state_root_of,
};
pub use infer::effective;
pub use monitor::{recorded_statuses, run_monitor, statuses};
pub use observe::{PaneView, looks_like_question};
pub use record::{AgentRecord, forget, read_record};
pub use send::{has_live_agent, send, wait};
pub use setup::{HookedAgent, apply_setup, merge_hooks, plan_setup};
pub use start::{WRAPPER_COMMAND, prepare, started};
pub use wrapper::run_wrapper;

/// Why an agent could not be typed into, waited for, run or set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} has no agent")]
    NoAgent(String),
    #[error("{0}'s agent has no pane")]
    NoPane(String),
    #[error("{0}'s agent has exited; nothing to type into")]
    Exited(String),
    #[error(
        "{worktree}'s agent exited{} before it was {}",
        exit_code.map(|c| format!(" with status {c}")).unwrap_or_default(),
        until.as_str()
    )]
    ExitedBefore {
        worktree: String,
        exit_code: Option<i32>,
        until: AgentState,
    },
    #[error("timed out: {worktree}'s agent is {}, not {}", state.as_str(), until.as_str())]
    TimedOut {
        worktree: String,
        state: AgentState,
        until: AgentState,
    },
    /// Its record names no pane and process: typing anywhere could reach somebody else's pane.
    #[error("{0}'s agent was not started by wtmux in a known pane; nothing typed")]
    NotStartedInAPane(String),
    #[error(
        "pane {pane} is no longer {branch}'s agent (tmux restarted or the pane was replaced); \
         nothing typed"
    )]
    PaneReplaced { pane: String, branch: String },
    /// The wrapper was started with a key that names no record file.
    #[error("malformed agent key")]
    MalformedKey,
    #[error("no such agent record")]
    NoRecord,
    #[error("the settings file does not hold a JSON object")]
    SettingsNotAnObject,
    #[error("\"hooks\" in the settings file is not an object")]
    HooksNotAnObject,
    #[error("hooks.{0} is not a list")]
    HooksOfEventNotAList(String),
}

impl From<Refused> for crate::core::Error {
    fn from(refused: Refused) -> crate::core::Error {
        crate::core::Error::step(refused)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    #[default]
    None,
    Working,
    Waiting,
    Done,
    Exited,
}

impl AgentState {
    pub fn parse(text: &str) -> Option<AgentState> {
        Some(match text {
            "working" => AgentState::Working,
            "waiting" => AgentState::Waiting,
            "done" => AgentState::Done,
            "exited" => AgentState::Exited,
            "none" => AgentState::None,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::None => "none",
            AgentState::Working => "working",
            AgentState::Waiting => "waiting",
            AgentState::Done => "done",
            AgentState::Exited => "exited",
        }
    }

    fn mark(self) -> Option<&'static str> {
        match self {
            AgentState::Waiting => Some("?"),
            AgentState::Done => Some("✔"),
            AgentState::Exited => Some("✘"),
            _ => None,
        }
    }
}

/// A worktree's agent, as `wtmux list` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub state: AgentState,
    /// The agent's name (`claude`, or the command's first word).
    pub name: Option<String>,
    /// When exited: its exit status (None when its pane was closed).
    pub exit_code: Option<i32>,
    /// `hook` or `observed`: where the state comes from.
    pub source: Option<String>,
}

impl AgentStatus {
    pub fn none() -> AgentStatus {
        AgentStatus {
            state: AgentState::None,
            name: None,
            exit_code: None,
            source: None,
        }
    }
}
