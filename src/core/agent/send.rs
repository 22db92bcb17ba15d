//! `wtmux send` and `wtmux wait`: typing into a worktree's agent, and waiting for its state.

use std::time::Duration;

use super::ensure::ensure_monitor;
use super::look::evaluate;
use super::record::read_record;
use super::start::type_into;
use super::{AgentState, AgentStatus, Refused};
use crate::core::error::Result;
use crate::core::{Project, worktree};

/// `wtmux send`: types `text` into a worktree's agent.
pub fn send(project: &Project, name: &str, text: &str) -> Result<()> {
    let worktree = worktree::find(project, name)?;
    let tmux = project.require_tmux()?;
    let record =
        read_record(project, &worktree.path)?.ok_or_else(|| Refused::NoAgent(worktree.label()))?;
    if record.pane.is_none() {
        return Err(Refused::NoPane(worktree.label()).into());
    }
    let panes = tmux.panes()?;
    if evaluate(project, &record, Some(&panes)).state == AgentState::Exited {
        return Err(Refused::Exited(worktree.label()).into());
    }
    type_into(tmux, &record, text)
}

/// Whether the worktree at `path` has an agent left to hand something to: one was recorded
/// there and it has not exited (without tmux, its pane cannot be looked at: a recorded agent
/// that has not recorded its exit counts).
pub fn has_live_agent(project: &Project, path: &std::path::Path) -> Result<bool> {
    let Some(record) = read_record(project, path)? else {
        return Ok(false);
    };
    let panes = project.tmux.as_ref().and_then(|t| t.panes().ok());
    Ok(evaluate(project, &record, panes.as_ref()).state != AgentState::Exited)
}

/// `wtmux wait`: blocks until a worktree's agent is in `until`; an agent that exits first, or
/// the timeout, is an error.
pub fn wait(
    project: &Project,
    name: &str,
    until: AgentState,
    timeout: Option<Duration>,
) -> Result<AgentStatus> {
    let worktree = worktree::find(project, name)?;
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let record = read_record(project, &worktree.path)?
            .ok_or_else(|| Refused::NoAgent(worktree.label()))?;
        // The monitor follows the pane between these looks (what changed on its screen, not
        // merely that tmux saw it written to): one that died comes back.
        if !record.exited {
            let _ = ensure_monitor(project);
        }
        let panes = project.tmux.as_ref().and_then(|t| t.panes().ok());
        let status = evaluate(project, &record, panes.as_ref());
        if status.state == until {
            return Ok(status);
        }
        if status.state == AgentState::Exited {
            return Err(Refused::ExitedBefore {
                worktree: worktree.label(),
                exit_code: status.exit_code,
                until,
            }
            .into());
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(Refused::TimedOut {
                worktree: worktree.label(),
                state: status.state,
                until,
            }
            .into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
