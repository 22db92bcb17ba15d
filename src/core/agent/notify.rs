//! Telling about a changed state: the record, the window's options, a message, the bell (only
//! into a pane proven to be the agent's) and the `notify` command.

use std::process::Command;

use super::ensure::ensure_monitor;
use super::observe::Observation;
use super::record::{AgentRecord, modify};
use super::{AgentState, AgentStatus};
use crate::core::Project;
use crate::core::error::Result;
use crate::core::tmux::Pane;

/// What state changes ask of tmux (window options, a message) and of the `notify` command,
/// gathered so that one tmux call and one `notify` call carry them all.
#[derive(Default)]
pub(super) struct Telling {
    commands: Vec<Vec<String>>,
    messages: Vec<String>,
}

impl Telling {
    pub(super) fn set_window_option(&mut self, window: &str, name: &str, value: Option<&str>) {
        let command = match value {
            Some(value) => vec!["set-option", "-w", "-t", window, name, value],
            None => vec!["set-option", "-w", "-u", "-t", window, name],
        };
        self.commands
            .push(command.into_iter().map(str::to_string).collect());
    }

    /// Runs it all now: one tmux call (one message for several changes: tmux shows only one), and
    /// one `notify` call whose message names every turn seen together (with a hundred agents at
    /// work, a process per turn was most of the monitor's cost, and a desktop notifier shows
    /// one bubble instead of a burst).
    pub(super) fn send(self, project: &Project) {
        let commands = self.run_notify(project);
        if let Some(tmux) = &project.tmux
            && !commands.is_empty()
        {
            let _ = tmux.run_sequence(&commands);
        }
    }

    /// Runs the `notify` command now and returns the tmux commands, for a caller that sends
    /// them along with its next tmux call (the monitor: with its next snapshot).
    pub(super) fn run_notify(mut self, project: &Project) -> Vec<Vec<String>> {
        let message = self.messages.join("; ");
        if !self.messages.is_empty() {
            notify(project, &message);
        }
        let Some(tmux) = &project.tmux else {
            return Vec::new();
        };
        if !self.messages.is_empty() {
            let mut command = vec!["display-message".to_string()];
            if let Some(client) = &tmux.client {
                command.extend(["-c".to_string(), client.clone()]);
            }
            command.extend([
                "--".to_string(),
                crate::core::tmux::message_literal(&message),
            ]);
            self.commands.push(command);
        }
        self.commands
    }
}

/// Runs the configured `notify` command with `message`, without waiting for it.
fn notify(project: &Project, message: &str) {
    // An untrusted repository's notify command does not run (nobody is there to tell).
    let Some(notify) = &project.config.notify else {
        return;
    };
    if project.config.require_trusted("notify").is_err() {
        return;
    }
    // The message is "$1" of the notify command, never part of its text.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("{notify} \"$1\""))
        .arg("wtmux-notify")
        .arg(message)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    // Reaped when it ends (the monitor lives long: no zombie per notification), without
    // waiting for it here.
    if let Ok(mut child) = child {
        std::thread::spawn(move || child.wait());
    }
}

/// Records a changed state (and what was learned of the pane, when given), shows it on the
/// window (through `telling`), and tells the user about the turns that need them: once per
/// change, however many processes look at the agent.
pub(super) fn announce(
    project: &Project,
    record: &AgentRecord,
    status: &AgentStatus,
    panes: Option<&std::collections::HashMap<String, Pane>>,
    observed: Option<&Observation>,
    telling: &mut Telling,
) -> Result<()> {
    let changed = modify(project, &record.worktree, |slot| {
        let Some(stored) = slot else { return false };
        if let Some(observed) = observed {
            stored.observed = Some(observed.clone());
        }
        let changed = stored.last_state != status.state;
        stored.last_state = status.state;
        stored.told = Some(status.clone());
        changed
    })?;
    if !changed {
        return Ok(());
    }
    if status.state == AgentState::Done && crate::core::check::auto::enabled(project) {
        crate::core::check::auto::agent_done(project, &record.worktree)?;
        // Under tmux the monitor settles it (this may be an agent's hook, which should not
        // wait for a fingerprint); outside tmux there is no monitor to leave it to.
        if project.tmux.is_some() {
            let _ = ensure_monitor(project);
        } else {
            let _ = crate::core::check::auto::settle_path(project, &record.worktree);
        }
    }
    if project.tmux.is_none() {
        return Ok(());
    }
    if let Some(window) = &record.window {
        telling.set_window_option(window, "@wtmux_state", Some(status.state.as_str()));
        telling.set_window_option(window, "@wtmux_mark", status.state.mark());
    }
    let message = match status.state {
        AgentState::Waiting => format!("wtmux: {} is waiting for you", record.branch),
        AgentState::Done => format!("wtmux: {} is done", record.branch),
        AgentState::Exited => format!(
            "wtmux: {}'s agent exited{}",
            record.branch,
            status
                .exit_code
                .map(|c| format!(" with status {c}"))
                .unwrap_or_default()
        ),
        _ => return Ok(()),
    };
    telling.messages.push(message);
    // The bell goes only to a pane proven to be this agent's (ids restart with the server).
    if project.config.bell
        && let Some(pane) = record.pane.as_ref().and_then(|p| panes?.get(p))
        && let (Some(tmux), Some(id), Some(pid)) = (&project.tmux, &record.pane, record.pane_pid)
        && tmux
            .pane_is_claimed(id, pid, &record.worktree)
            .unwrap_or(false)
    {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(&pane.tty)
            .and_then(|mut tty| std::io::Write::write_all(&mut tty, b"\x07"));
    }
    Ok(())
}
