//! Starting an agent in a worktree's window: its record, the wrapper command, and its task
//! pasted into a pane proven to be its own.

use std::path::Path;
use std::time::Duration;

use super::ensure::ensure_monitor;
use super::record::{AgentRecord, modify};
use super::{AgentState, Refused};
use crate::core::config::{AgentSpec, PromptMode};
use crate::core::error::Result;
use crate::core::state::worktree_key;
use crate::core::tmux::Tmux;
use crate::core::{Project, now_unix};

/// The hidden subcommand an agent window runs: `wtmux __agent <worktree key>`.
pub const WRAPPER_COMMAND: &str = "__agent";

/// The window command that runs `spec` in a worktree's new window (through the wrapper, which
/// records its exit status), after writing its record.
pub fn prepare(
    project: &Project,
    worktree: &Path,
    branch: &str,
    spec: &AgentSpec,
    prompt: Option<&str>,
) -> Result<Vec<String>> {
    let record = AgentRecord {
        name: spec.name.clone(),
        run: spec.run.clone(),
        prompt_mode: spec.prompt,
        prompt: match spec.prompt {
            PromptMode::Arg => prompt.map(str::to_string),
            PromptMode::Paste => None,
        },
        task: prompt.map(str::to_string).filter(|t| !t.trim().is_empty()),
        worktree: worktree.to_path_buf(),
        branch: branch.to_string(),
        pane: None,
        pane_pid: None,
        window: None,
        started_at: now_unix(),
        exit_code: None,
        exited: false,
        hook: None,
        last_state: AgentState::Working,
        observed: None,
        told: None,
    };
    modify(project, worktree, |slot| *slot = Some(record))?;
    crate::core::own_command(&[WRAPPER_COMMAND, &worktree_key(worktree)])
}

/// After the window exists: remembers its pane, pastes the task when that is how this agent
/// takes it, and makes sure the monitor runs.
pub fn started(
    project: &Project,
    worktree: &Path,
    window: &str,
    prompt: Option<&str>,
) -> Result<()> {
    let tmux = project.require_tmux()?;
    let (pane, pid) = tmux.claim_pane(window, worktree)?;
    let record = modify(project, worktree, |slot| {
        let record = slot.as_mut()?;
        record.pane = Some(pane.clone());
        record.pane_pid = Some(pid);
        record.window = Some(window.to_string());
        Some(record.clone())
    })?;
    let _ = tmux.set_window_option(window, "@wtmux_state", Some("working"));
    if let Some(record) = record
        && record.prompt_mode == PromptMode::Paste
        && let Some(prompt) = prompt
    {
        wait_until_ready(tmux, &pane);
        type_into(tmux, &record, prompt)?;
    }
    ensure_monitor(project)
}

/// Waits until the pane has shown something and then been still for half a second (at most
/// 20 s): a program that has drawn its prompt.
pub(super) fn wait_until_ready(tmux: &Tmux, pane: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    let mut still_since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        let screen = tmux.capture(pane).unwrap_or_default();
        if screen != last {
            last = screen;
            still_since = std::time::Instant::now();
        } else if !last.trim().is_empty() && still_since.elapsed() >= Duration::from_millis(500) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Delivers `text` to the agent's pane as a paste (a tmux buffer loaded from stdin: no shell, no
/// key parsing), then Enter — only when that pane is proven to be the agent's: tagged with its
/// worktree and running the process recorded when the agent started.
pub(super) fn type_into(tmux: &Tmux, record: &AgentRecord, text: &str) -> Result<()> {
    let (Some(pane), Some(pid)) = (&record.pane, record.pane_pid) else {
        return Err(Refused::NotStartedInAPane(record.branch.clone()).into());
    };
    if !tmux.pane_is_claimed(pane, pid, &record.worktree)? {
        return Err(Refused::PaneReplaced {
            pane: pane.clone(),
            branch: record.branch.clone(),
        }
        .into());
    }
    let pane = pane.as_str();
    let buffer = format!("wtmux-{}", pane.trim_start_matches('%'));
    tmux.run_with_input(&["load-buffer", "-b", &buffer, "-"], text.as_bytes())?;
    tmux.run(&["paste-buffer", "-p", "-d", "-b", &buffer, "-t", pane])?;
    tmux.run(&["send-keys", "-t", pane, "Enter"])?;
    Ok(())
}
