//! The hook entry: `wtmux agent-status <state>`, what an agent's own hooks report.

use std::path::PathBuf;

use super::look::evaluate;
use super::notify::{Telling, announce};
use super::record::{AgentRecord, modify, now_ms, read_record_at};
use super::{AgentState, AgentStatus};
use crate::core::config::PromptMode;
use crate::core::error::{Error, Result};
use crate::core::worktree::{self, Worktree};
use crate::core::{Project, now_unix};

/// What a hook's report became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Recorded for the agent of a worktree wtmux manages.
    Recorded(AgentStatus),
    /// The hook ran outside any worktree wtmux manages (the main worktree, a worktree made by
    /// hand elsewhere, a directory outside every worktree): nothing recorded.
    NotManaged,
}

/// `wtmux agent-status <state>`: records what an agent's hook says, for the worktree given by
/// `$WTMUX_WORKTREE`, else the agent pane `$TMUX_PANE`, else the current directory — only when
/// that is a worktree wtmux manages: hooks run wherever an agent's tool runs, and a state
/// recorded for the main worktree would stay there for good.
pub fn push(project: &Project, state: AgentState) -> Result<Pushed> {
    let by_env = std::env::var_os("WTMUX_WORKTREE")
        .map(PathBuf::from)
        .and_then(|p| worktree::find(project, &p.to_string_lossy()).ok());
    let worktree = match by_env {
        Some(w) => w,
        None => match pane_worktree(project)? {
            Some(w) => w,
            None => match worktree::current(project) {
                Ok(w) => w,
                Err(Error::NotInWorktree) => return Ok(Pushed::NotManaged),
                Err(e) => return Err(e),
            },
        },
    };
    if !worktree::is_managed(project, &worktree) {
        return Ok(Pushed::NotManaged);
    }
    // An agent wtmux did not start: its first hook runs in its pane, which is claimed then (so
    // `send` can later prove the pane is still this agent's).
    let claimed = || {
        let tmux = project.tmux.as_ref()?;
        tmux.claim_pane(tmux.pane.as_ref()?, &worktree.path).ok()
    };
    let fresh = || AgentRecord {
        name: "agent".into(),
        run: String::new(),
        prompt_mode: PromptMode::Arg,
        prompt: None,
        task: None,
        worktree: worktree.path.clone(),
        branch: worktree.label(),
        pane: project.tmux.as_ref().and_then(|t| t.pane.clone()),
        pane_pid: claimed().map(|(_, pid)| pid),
        window: None,
        started_at: now_unix(),
        exit_code: None,
        exited: false,
        hook: None,
        last_state: AgentState::None,
        observed: None,
        told: None,
    };
    let record = modify(project, &worktree.path, |slot| {
        let record = slot.get_or_insert_with(fresh);
        record.hook = Some((state, now_ms()));
        record.clone()
    })?;
    let panes = project.tmux.as_ref().and_then(|t| t.panes().ok());
    let status = evaluate(project, &record, panes.as_ref());
    let mut telling = Telling::default();
    announce(
        project,
        &record,
        &status,
        panes.as_ref(),
        None,
        &mut telling,
    )?;
    telling.send(project);
    Ok(Pushed::Recorded(status))
}

fn pane_worktree(project: &Project) -> Result<Option<Worktree>> {
    let Some(pane) = project.tmux.as_ref().and_then(|t| t.pane.clone()) else {
        return Ok(None);
    };
    let dir = project.state.dir("agents")?;
    for entry in std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .flatten()
    {
        if let Some(record) = read_record_at(&entry.path())
            && record.pane.as_deref() == Some(pane.as_str())
        {
            return worktree::find(project, &record.worktree.to_string_lossy()).map(Some);
        }
    }
    Ok(None)
}
