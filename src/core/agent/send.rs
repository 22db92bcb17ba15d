//! `wtmux send` and `wtmux wait`: typing into a worktree's agent, and waiting for its state.

use std::time::Duration;

use super::look::evaluate;
use super::record::read_record;
use super::start::type_into;
use super::{AgentState, AgentStatus};
use crate::core::error::{Error, Result};
use crate::core::{Project, worktree};

/// `wtmux send`: types `text` into a worktree's agent.
pub fn send(project: &Project, name: &str, text: &str) -> Result<()> {
    let worktree = worktree::find(project, name)?;
    let tmux = project.require_tmux()?;
    let record = read_record(project, &worktree.path)?
        .ok_or_else(|| Error::refused(format!("{} has no agent", worktree.label())))?;
    if record.pane.is_none() {
        return Err(Error::refused(format!(
            "{}'s agent has no pane",
            worktree.label()
        )));
    }
    let panes = tmux.panes()?;
    if evaluate(project, &record, Some(&panes)).state == AgentState::Exited {
        return Err(Error::refused(format!(
            "{}'s agent has exited; nothing to type into",
            worktree.label()
        )));
    }
    type_into(tmux, &record, text)
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
            .ok_or_else(|| Error::refused(format!("{} has no agent", worktree.label())))?;
        let panes = project.tmux.as_ref().and_then(|t| t.panes().ok());
        let status = evaluate(project, &record, panes.as_ref());
        if status.state == until {
            return Ok(status);
        }
        if status.state == AgentState::Exited {
            return Err(Error::refused(format!(
                "{}'s agent exited{} before it was {}",
                worktree.label(),
                status
                    .exit_code
                    .map(|c| format!(" with status {c}"))
                    .unwrap_or_default(),
                until.as_str()
            )));
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(Error::refused(format!(
                "timed out: {}'s agent is {}, not {}",
                worktree.label(),
                status.state.as_str(),
                until.as_str()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
