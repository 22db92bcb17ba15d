//! Agents: one per worktree, started in its tmux window with its task, and what each is doing.
//!
//! States: working, waiting (asks something), done (finished its turn), exited (its process is
//! gone), none. Two sources, combined by [`effective`]:
//!
//! 1. Pushed by the agent's own hooks (`wtmux agent-status <state>`; `wtmux setup claude`
//!    writes them).
//! 2. Observed: the window's last output time (tmux `window_activity`), whether the pane is
//!    still alive, and the exit status the wrapper recorded. Output within the last
//!    `agent_quiet` (default 3 s) is working; quiet after that is waiting when the last line
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
//! commits, the last linked worktree is gone: it also runs [`super::check::auto`]'s look at
//! branch tips), turns time into state changes:
//! it records them (the popup watches that directory), sets the window options `@wtmux_state`
//! (the state) and `@wtmux_mark` (a marker, cleared once someone looks at the window), and tells
//! the user when an agent turns waiting, done or exited.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{AgentSpec, PromptMode};
use super::error::{Error, Result};
use super::observe::{self, Observation, Sight, Subject};
use super::state::{
    is_held, lock_file, overwrite_json, read_json, read_json_shared, try_hold, worktree_key,
    write_json,
};
use super::tmux::{Pane, Snapshot, Tmux};
use super::worktree::{self, Worktree};
use super::{Project, now_unix};

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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn record_path(project: &Project, worktree: &Path) -> Result<PathBuf> {
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
fn read_record_at(path: &Path) -> Option<AgentRecord> {
    if path.extension().is_none_or(|e| e != "json") {
        return None;
    }
    read_json_shared(path, &path.with_extension("lock"))
}

/// Changes a worktree's record under its lock: the wrapper, hooks, the monitor and `add` all
/// write it, and none may lose another's change (an exit recorded while `add` notes the pane).
fn modify<T>(
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

/// Whether quiet output reads as a question waiting for an answer.
pub fn looks_like_question(screen: &str) -> bool {
    let Some(last) = screen.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    let lower = last.to_lowercase();
    last.ends_with('?')
        || last.ends_with("? ")
        || [
            "(y/n)",
            "[y/n]",
            "(yes/no)",
            "allow",
            "do you want",
            "press enter",
            "continue?",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

/// What tmux shows of an agent's pane.
#[derive(Debug, Clone, Copy)]
pub enum PaneView<'a> {
    Seen(&'a Pane),
    /// tmux has no such pane any more: its window was closed.
    Gone,
    /// No tmux snapshot, or the agent has no pane yet: only hooks can tell.
    Unknown,
}

/// The state of an agent from its record and what observation says (see [`observe`]).
pub fn effective(
    record: &AgentRecord,
    sight: Sight,
    now_ms: u64,
    quiet: Duration,
    hook_stale: Duration,
) -> AgentStatus {
    let status = |state: AgentState, source: &str| AgentStatus {
        state,
        name: Some(record.name.clone()),
        exit_code: if state == AgentState::Exited {
            record.exit_code
        } else {
            None
        },
        source: Some(source.to_string()),
    };
    let (last_output_ms, question) = match sight {
        _ if record.exited => return status(AgentState::Exited, "observed"),
        Sight::Exited => return status(AgentState::Exited, "observed"),
        Sight::Alive {
            output_ms,
            question,
        } => (output_ms, question),
        Sight::Unknown => {
            return match record.hook {
                Some((state, _)) => status(state, "hook"),
                None => status(AgentState::Working, "observed"),
            };
        }
    };
    let quiet_ms = quiet.as_millis() as u64;
    // Output times have one-second resolution: allow for it.
    let active = now_ms.saturating_sub(last_output_ms) < quiet_ms + 1000;
    let observed = match question {
        _ if active => AgentState::Working,
        Some(true) => AgentState::Waiting,
        Some(false) => AgentState::Done,
        // Quiet, but its screen was not read consistently since it printed: not yet.
        None => AgentState::Working,
    };
    match record.hook {
        None => status(observed, "observed"),
        // Believed for `hook_stale` after the hook or the last output, whichever is later.
        Some((AgentState::Working, at))
            if now_ms.saturating_sub(last_output_ms.max(at)) >= hook_stale.as_millis() as u64 =>
        {
            status(observed, "observed")
        }
        Some((AgentState::Waiting | AgentState::Done, at))
            if active && last_output_ms > at + 2000 =>
        {
            status(AgentState::Working, "observed")
        }
        Some((state, _)) => status(state, "hook"),
    }
}

/// The agent states of several worktrees for `wtmux list` and the popup, from one tmux
/// snapshot; the screens that must be read are read in one more tmux call.
pub fn statuses(
    project: &Project,
    worktrees: &[&Path],
    snapshot: Option<&Snapshot>,
) -> Result<Vec<AgentStatus>> {
    let records = worktrees
        .iter()
        .map(|w| read_record(project, w))
        .collect::<Result<Vec<_>>>()?;
    let present: Vec<&AgentRecord> = records.iter().flatten().collect();
    // A monitor that died (killed, or its tmux server restarted) comes back with the next look.
    // So does the one that starts checks on new commits, while there are worktrees to watch.
    if present
        .iter()
        .any(|r| !r.exited && r.last_state != AgentState::Exited)
        || (worktrees.len() > 1 && super::check::auto::watches_commits(project))
    {
        let _ = ensure_monitor(project);
    }
    let mut evaluated = evaluate_all(project, &present, snapshot.map(|s| &s.panes)).into_iter();
    Ok(records
        .iter()
        .map(|r| match r {
            Some(_) => evaluated
                .next()
                .map(|(status, _)| status)
                .unwrap_or_else(AgentStatus::none),
            None => AgentStatus::none(),
        })
        .collect())
}

/// The agent states of several worktrees as the running monitor last recorded them (a tick
/// old at most), for display that follows the monitor without asking tmux again; `None` when
/// no monitor runs or it has not recorded some agent yet (then [`statuses`] looks).
pub fn recorded_statuses(
    project: &Project,
    worktrees: &[&Path],
) -> Result<Option<Vec<AgentStatus>>> {
    if project.tmux.is_none() || !is_held(&project.state.dir("agents")?.join("monitor.lock"))? {
        return Ok(None);
    }
    let mut recorded = Vec::with_capacity(worktrees.len());
    for worktree in worktrees {
        match read_record(project, worktree)? {
            None => recorded.push(AgentStatus::none()),
            Some(AgentRecord {
                told: Some(told), ..
            }) => recorded.push(told),
            Some(_) => return Ok(None),
        }
    }
    Ok(Some(recorded))
}

fn evaluate(
    project: &Project,
    record: &AgentRecord,
    panes: Option<&std::collections::HashMap<String, Pane>>,
) -> AgentStatus {
    evaluate_all(project, &[record], panes)
        .pop()
        .map(|(status, _)| status)
        .unwrap_or_else(AgentStatus::none)
}

/// The state of each agent, and what its look learned of its pane.
fn evaluate_all(
    project: &Project,
    records: &[&AgentRecord],
    panes: Option<&std::collections::HashMap<String, Pane>>,
) -> Vec<(AgentStatus, observe::Look)> {
    let subjects: Vec<Subject> = records
        .iter()
        .map(|record| Subject {
            pane_id: record.pane.as_deref(),
            pane: match (panes, &record.pane) {
                (Some(panes), Some(id)) => panes.get(id).map_or(PaneView::Gone, PaneView::Seen),
                _ => PaneView::Unknown,
            },
            known: record.observed.as_ref(),
        })
        .collect();
    let now = now_ms();
    let looks = match &project.tmux {
        Some(tmux) => observe::look(tmux, &subjects, now, project.config.agent_quiet),
        None => subjects
            .iter()
            .map(|s| observe::Look {
                sight: Sight::Unknown,
                observation: s.known.cloned(),
            })
            .collect(),
    };
    records
        .iter()
        .zip(looks)
        .map(|(record, look)| {
            let status = effective(
                record,
                look.sight,
                now,
                project.config.agent_quiet,
                project.config.agent_hook_stale,
            );
            (status, look)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Starting

/// The hidden subcommand an agent window runs: `wtmux __agent <worktree key>`.
pub const WRAPPER_COMMAND: &str = "__agent";
/// The hidden subcommand of the monitor: `wtmux __agent-monitor`.
pub const MONITOR_COMMAND: &str = "__agent-monitor";

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
    super::own_command(&[WRAPPER_COMMAND, &worktree_key(worktree)])
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
fn wait_until_ready(tmux: &Tmux, pane: &str) {
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
fn type_into(tmux: &Tmux, record: &AgentRecord, text: &str) -> Result<()> {
    let (Some(pane), Some(pid)) = (&record.pane, record.pane_pid) else {
        return Err(Error::refused(format!(
            "{}'s agent was not started by wtmux in a known pane; nothing typed",
            record.branch
        )));
    };
    if !tmux.pane_is_claimed(pane, pid, &record.worktree)? {
        return Err(Error::refused(format!(
            "pane {pane} is no longer {}'s agent (tmux restarted or the pane was replaced); \
             nothing typed",
            record.branch
        )));
    }
    let pane = pane.as_str();
    let buffer = format!("wtmux-{}", pane.trim_start_matches('%'));
    tmux.run_with_input(&["load-buffer", "-b", &buffer, "-"], text.as_bytes())?;
    tmux.run(&["paste-buffer", "-p", "-d", "-b", &buffer, "-t", pane])?;
    tmux.run(&["send-keys", "-t", pane, "Enter"])?;
    Ok(())
}

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

/// The inside of an agent's window: runs the agent, records how it ended, then leaves a shell
/// in the worktree so the window (and what the agent printed) stays.
pub fn run_wrapper(project: &Project, key: &str) -> Result<std::convert::Infallible> {
    use std::os::unix::process::CommandExt;
    if !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::refused("malformed agent key"));
    }
    let path = project.state.dir("agents")?.join(format!("{key}.json"));
    let record: AgentRecord =
        read_record_at(&path).ok_or_else(|| Error::refused("no such agent record"))?;
    let mut command = Command::new("sh");
    match &record.prompt {
        // The task is "$1" of the agent's command line: a value, never parsed by the shell.
        Some(prompt) => command
            .arg("-c")
            .arg(format!("{} \"$@\"", record.run))
            .arg("wtmux-agent")
            .arg(prompt),
        None => command.arg("-c").arg(&record.run),
    };
    command.current_dir(&record.worktree);
    // SAFETY: only async-signal-safe calls (signal(2)) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
        // Ctrl-C belongs to the agent; the wrapper outlives it to record how it ended.
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let code = match command.status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
        }
        Err(_) => 127,
    };
    let worktree = record.worktree.clone();
    modify(project, &worktree, |slot| {
        if let Some(latest) = slot {
            latest.exit_code = Some(code);
            latest.exited = true;
        }
    })?;
    println!("\n[wtmux] {} exited with status {code}", record.name);
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    // SAFETY: restoring default dispositions before exec.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGQUIT, libc::SIG_DFL);
    }
    let error = Command::new(&shell).current_dir(&record.worktree).exec();
    Err(Error::io(shell, error))
}

// ---------------------------------------------------------------------------------------------
// Hooks

/// `wtmux agent-status <state>`: records what an agent's hook says, for the worktree given by
/// `$WTMUX_WORKTREE`, else the agent pane `$TMUX_PANE`, else the current directory.
pub fn push(project: &Project, state: AgentState) -> Result<AgentStatus> {
    let by_env = std::env::var_os("WTMUX_WORKTREE")
        .map(PathBuf::from)
        .and_then(|p| worktree::find(project, &p.to_string_lossy()).ok());
    let worktree = match by_env {
        Some(w) => w,
        None => match pane_worktree(project)? {
            Some(w) => w,
            None => worktree::current(project)?,
        },
    };
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
    Ok(status)
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

/// What state changes ask of tmux (window options, a message) and of the `notify` command,
/// gathered so that one tmux call and one `notify` call carry them all.
#[derive(Default)]
struct Telling {
    commands: Vec<Vec<String>>,
    messages: Vec<String>,
}

impl Telling {
    fn set_window_option(&mut self, window: &str, name: &str, value: Option<&str>) {
        let command = match value {
            Some(value) => vec!["set-option", "-w", "-t", window, name, value],
            None => vec!["set-option", "-w", "-u", "-t", window, name],
        };
        self.commands
            .push(command.into_iter().map(str::to_string).collect());
    }

    /// Runs it all: one tmux call (one message for several changes: tmux shows only one), and
    /// one `notify` call whose message names every turn seen together (with a hundred agents at
    /// work, a process per turn was most of the monitor's cost, and a desktop notifier shows
    /// one bubble instead of a burst).
    fn send(mut self, project: &Project) {
        let message = self.messages.join("; ");
        if !self.messages.is_empty() {
            notify(project, &message);
        }
        let Some(tmux) = &project.tmux else { return };
        if !self.messages.is_empty() {
            let mut command = vec!["display-message".to_string()];
            if let Some(client) = &tmux.client {
                command.extend(["-c".to_string(), client.clone()]);
            }
            command.extend(["--".to_string(), super::tmux::message_literal(&message)]);
            self.commands.push(command);
        }
        if !self.commands.is_empty() {
            let _ = tmux.run_sequence(&self.commands);
        }
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
fn announce(
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
    if status.state == AgentState::Done && super::check::auto::enabled(project) {
        super::check::auto::agent_done(project, &record.worktree)?;
        // Under tmux the monitor settles it (this may be an agent's hook, which should not
        // wait for a fingerprint); outside tmux there is no monitor to leave it to.
        if project.tmux.is_some() {
            let _ = ensure_monitor(project);
        } else {
            let _ = super::check::auto::settle_path(project, &record.worktree);
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

// ---------------------------------------------------------------------------------------------
// The monitor

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
        &super::own_command(&[MONITOR_COMMAND])?,
    )
}

/// Watches every agent once a second until none is left running: records state changes,
/// marks windows, notifies, and clears a window's marker once someone looks at it. A tick is
/// one tmux call while no agent's pane changed, and at most three when some did (their screens
/// read in one, what changed told in one), however many agents there are.
pub fn run_monitor(project: &Project) -> Result<()> {
    let dir = project.state.dir("agents")?;
    let Some(_lock) = try_hold(&dir.join("monitor.lock"))? else {
        return Ok(()); // another monitor runs
    };
    let mut project = project.clone();
    let mut config = ConfigStamp::of(&project);
    let started = now_unix();
    write_json(
        &project.state.root().join(MONITOR_STATUS),
        &MonitorStatus {
            pid: std::process::id(),
            started,
            last_change: None,
        },
    )?;
    let tmux = project.require_tmux()?.clone();
    let mut records = RecordCache::default();
    let mut idle_rounds = 0;
    let mut status_written = None;
    let period = Duration::from_secs(1);
    loop {
        let tick = std::time::Instant::now();
        // Config changes reach the running monitor (quiet period, bell, notify, their trust);
        // a configuration that no longer loads leaves the last good one in force.
        if let Some(fresh) = config.changed(&project) {
            config = fresh;
            if let Ok(reloaded) = Project::discover_with(
                &project.main_worktree,
                super::config::user_config_path(),
                project.tmux.clone(),
            ) {
                project = reloaded;
            }
        }
        let project = &project;
        let snapshot = match tmux.snapshot() {
            Ok(snapshot) => snapshot,
            Err(_) => return Ok(()), // the server is gone
        };
        let watched: Vec<&AgentRecord> = records
            .refresh(&dir)
            .filter(|r| r.last_state != AgentState::Exited)
            .collect();
        let mut live = 0;
        let mut telling = Telling::default();
        let mut changed_at = None;
        // The next look comes a period later, or when a working agent's quiet period will
        // have passed, if that is sooner: "waiting" is then told without a period's delay.
        let mut next = tick + period;
        let quiet_ms = project.config.agent_quiet.as_millis() as u64 + 1000;
        for (record, (status, look)) in
            watched
                .iter()
                .zip(evaluate_all(project, &watched, Some(&snapshot.panes)))
        {
            if status.state != AgentState::Exited {
                live += 1;
            }
            if let Sight::Alive { output_ms, .. } = look.sight
                && status.state == AgentState::Working
                && let Some(until) = (output_ms + quiet_ms).checked_sub(now_ms())
            {
                next = next.min(std::time::Instant::now() + Duration::from_millis(until + 1));
            }
            let learned = look
                .observation
                .filter(|o| record.observed.as_ref() != Some(o));
            if status.state != record.last_state {
                changed_at = Some(now_unix());
            }
            if status.state != record.last_state
                || learned.is_some()
                || record.told.as_ref() != Some(&status)
            {
                announce(
                    project,
                    record,
                    &status,
                    Some(&snapshot.panes),
                    learned.as_ref(),
                    &mut telling,
                )?;
            }
            if let (Some(window), Some(pane)) = (
                &record.window,
                record.pane.as_ref().and_then(|p| snapshot.panes.get(p)),
            ) && pane.seen
                && snapshot.marked.contains(window)
                && status.state != AgentState::Working
            {
                telling.set_window_option(window, "@wtmux_mark", None);
            }
        }
        telling.send(project);
        // What `doctor` shows: written once a second at most (a state change every few seconds
        // per agent is many a second with a hundred agents).
        if let Some(at) = changed_at
            && status_written != Some(at)
        {
            status_written = Some(at);
            let _ = write_json(
                &project.state.root().join(MONITOR_STATUS),
                &MonitorStatus {
                    pid: std::process::id(),
                    started,
                    last_change: Some(at),
                },
            );
        }
        // After the turns were recorded: a turn to done is settled in the same tick.
        let auto = super::check::auto::tick(project).unwrap_or_default();
        if auto.linked > 0 && super::check::auto::watches_commits(project) {
            live += 1;
        }
        idle_rounds = if live == 0 { idle_rounds + 1 } else { 0 };
        if idle_rounds >= 10 {
            return Ok(());
        }
        std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
    }
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

/// What the configuration files looked like: their modification times (the user's file, the
/// repository's, and the trust store's record of it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConfigStamp(Vec<Option<std::time::SystemTime>>);

impl ConfigStamp {
    fn of(project: &Project) -> ConfigStamp {
        let files = [
            Some(project.main_worktree.join(".wtmux.toml")),
            super::config::user_config_path(),
            super::trust::store_dir(),
        ];
        ConfigStamp(
            files
                .iter()
                .map(|f| {
                    f.as_ref()
                        .and_then(|f| std::fs::metadata(f).ok())
                        .and_then(|m| m.modified().ok())
                })
                .collect(),
        )
    }

    fn changed(&self, project: &Project) -> Option<ConfigStamp> {
        let now = ConfigStamp::of(project);
        (now != *self).then_some(now)
    }
}

/// The agents' records, read again only when their file changed.
#[derive(Default)]
struct RecordCache {
    entries: std::collections::HashMap<PathBuf, (FileStamp, AgentRecord)>,
}

/// What a record's file looked like when it was read, and when that was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: std::time::SystemTime,
    inode: u64,
    len: u64,
    read_at: std::time::SystemTime,
}

impl FileStamp {
    /// Whether a read with this stamp still holds for a file that now looks like `now`.
    /// Records are overwritten in place, and file times are coarse (a few milliseconds): a
    /// second write within the same tick of the clock leaves the time as it was, so a read is
    /// trusted only once it came a clear second after the last write.
    fn still_holds(&self, now: &FileStamp) -> bool {
        self.modified == now.modified
            && self.inode == now.inode
            && self.len == now.len
            && self
                .read_at
                .duration_since(self.modified)
                .is_ok_and(|d| d >= Duration::from_secs(1))
    }
}

impl RecordCache {
    fn refresh(&mut self, dir: &Path) -> impl Iterator<Item = &AgentRecord> {
        let mut present = std::collections::HashSet::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let stamp = FileStamp {
                modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
                inode: std::os::unix::fs::MetadataExt::ino(&meta),
                len: meta.len(),
                read_at: std::time::SystemTime::now(),
            };
            present.insert(path.clone());
            let fresh = self
                .entries
                .get(&path)
                .is_some_and(|(known, _)| known.still_holds(&stamp));
            if !fresh {
                match read_record_at(&path) {
                    Some(record) => {
                        self.entries.insert(path, (stamp, record));
                    }
                    None => {
                        self.entries.remove(&path);
                    }
                }
            }
        }
        self.entries.retain(|path, _| present.contains(path));
        self.entries.values().map(|(_, record)| record)
    }
}

// ---------------------------------------------------------------------------------------------
// Setup of agents' hooks

/// Which agent's hooks `setup` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookedAgent {
    Claude,
    Gemini,
}

impl HookedAgent {
    /// Hook event → the state it means.
    fn events(self) -> &'static [(&'static str, AgentState)] {
        match self {
            HookedAgent::Claude => &[
                ("UserPromptSubmit", AgentState::Working),
                ("PreToolUse", AgentState::Working),
                ("Notification", AgentState::Waiting),
                ("Stop", AgentState::Done),
            ],
            HookedAgent::Gemini => &[
                ("BeforeAgent", AgentState::Working),
                ("BeforeTool", AgentState::Working),
                ("Notification", AgentState::Waiting),
                ("AfterAgent", AgentState::Done),
            ],
        }
    }

    /// The user settings file of that agent.
    pub fn settings_path(self, home: &Path) -> PathBuf {
        match self {
            HookedAgent::Claude => home.join(".claude/settings.json"),
            HookedAgent::Gemini => home.join(".gemini/settings.json"),
        }
    }
}

/// The settings with wtmux's hooks merged in: every other key, and every hook already there,
/// stays; a hook already present is not added twice.
pub fn merge_hooks(
    existing: &serde_json::Value,
    agent: HookedAgent,
    wtmux: &str,
) -> Result<serde_json::Value> {
    use serde_json::{Value, json};
    let mut settings = existing.clone();
    let object = settings
        .as_object_mut()
        .ok_or_else(|| Error::refused("the settings file does not hold a JSON object"))?;
    let hooks = object
        .entry("hooks")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| Error::refused("\"hooks\" in the settings file is not an object"))?;
    for (event, state) in agent.events() {
        let command = format!("{wtmux} agent-status {}", state.as_str());
        let groups = hooks
            .entry(*event)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or_else(|| Error::refused(format!("hooks.{event} is not a list")))?;
        let present = groups.iter().any(|group| {
            group["hooks"].as_array().is_some_and(|hs| {
                hs.iter()
                    .any(|h| h["command"] == Value::String(command.clone()))
            })
        });
        if !present {
            let mut hook = json!({"type": "command", "command": command});
            if agent == HookedAgent::Gemini {
                hook["name"] = json!(format!("wtmux-{}", state.as_str()));
            }
            groups.push(json!({"matcher": "", "hooks": [hook]}));
        }
    }
    Ok(settings)
}

/// A line diff of two texts, `-`/`+` prefixed, unchanged lines as context.
pub fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // Longest common subsequence, fine for settings files.
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            out.push_str(&format!("  {}\n", old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", new[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", old[i]));
            i += 1;
        }
    }
    out
}

/// Reads an agent's settings file (empty object when absent) and returns it with the merged
/// version, both as pretty JSON.
pub fn plan_setup(path: &Path, agent: HookedAgent, wtmux: &str) -> Result<(String, String)> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let existing: serde_json::Value = if old.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(&old)
            .map_err(|e| Error::Config(format!("{}: not valid JSON ({e})", path.display())))?
    };
    let merged = merge_hooks(&existing, agent, wtmux)?;
    let new = serde_json::to_string_pretty(&merged).expect("JSON serializes") + "\n";
    Ok((old, new))
}

/// Writes the merged settings (atomically, keeping a `.bak` of the old file).
pub fn apply_setup(path: &Path, old: &str, new: &str) -> Result<()> {
    if !old.is_empty() {
        let backup = path.with_extension("json.bak");
        std::fs::write(&backup, old).map_err(|e| Error::io(&backup, e))?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    std::io::Write::write_all(&mut file, new.as_bytes()).map_err(|e| Error::io(path, e))?;
    file.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hook: Option<(AgentState, u64)>) -> AgentRecord {
        AgentRecord {
            name: "fake".into(),
            run: "fake".into(),
            prompt_mode: PromptMode::Arg,
            prompt: None,
            task: None,
            worktree: PathBuf::from("/w"),
            branch: "b".into(),
            pane: Some("%1".into()),
            pane_pid: None,
            window: Some("@1".into()),
            started_at: 0,
            exit_code: None,
            exited: false,
            hook,
            last_state: AgentState::Working,
            observed: None,
            told: None,
        }
    }

    /// Alive, last printed at `activity` (s), its screen read since.
    fn pane(activity: u64, screen: &str) -> Sight {
        Sight::Alive {
            output_ms: activity * 1000,
            question: Some(looks_like_question(screen)),
        }
    }

    const Q: Duration = Duration::from_secs(3);
    const STALE: Duration = Duration::from_secs(30);

    fn state(record: &AgentRecord, sight: Sight, now: u64) -> AgentState {
        effective(record, sight, now * 1000, Q, STALE).state
    }

    #[test]
    fn observation_alone() {
        let r = record(None);
        assert_eq!(state(&r, pane(100, ""), 101), AgentState::Working);
        assert_eq!(
            state(&r, pane(100, "Proceed? (y/n)"), 110),
            AgentState::Waiting
        );
        assert_eq!(state(&r, pane(100, "all done\n> "), 110), AgentState::Done);
        assert_eq!(
            state(&r, Sight::Exited, 110),
            AgentState::Exited,
            "its pane is gone"
        );
    }

    #[test]
    fn hooks_win_until_observation_contradicts_them() {
        let r = record(Some((AgentState::Working, 100_000)));
        assert_eq!(
            state(&r, pane(100, "> "), 120),
            AgentState::Working,
            "quiet, but not for long"
        );
        assert_eq!(
            state(&r, pane(100, "> "), 131),
            AgentState::Done,
            "a silent hook heals"
        );
        let r = record(Some((AgentState::Done, 100_000)));
        assert_eq!(
            state(&r, pane(101, ""), 101),
            AgentState::Done,
            "its own redraw"
        );
        assert_eq!(
            state(&r, pane(110, ""), 110),
            AgentState::Working,
            "output long after"
        );
        let mut r = record(Some((AgentState::Waiting, 100_000)));
        r.exited = true;
        r.exit_code = Some(2);
        let status = effective(&r, pane(100, ""), 100_000, Q, STALE);
        assert_eq!(
            (status.state, status.exit_code),
            (AgentState::Exited, Some(2))
        );
    }

    #[test]
    fn questions_are_recognised() {
        for screen in [
            "Do you want to proceed?",
            "Apply edit? [Y/n]",
            "Allow Bash(ls)",
            "x\nContinue? (y/n) ",
        ] {
            assert!(looks_like_question(screen), "{screen}");
        }
        for screen in ["", "Done.", "> ", "wrote 3 files"] {
            assert!(!looks_like_question(screen), "{screen}");
        }
    }

    #[test]
    fn merging_hooks_keeps_everything_and_adds_once() {
        let existing = serde_json::json!({
            "model": "opus",
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}
        });
        let merged = merge_hooks(&existing, HookedAgent::Claude, "wtmux").unwrap();
        assert_eq!(merged["model"], "opus");
        let stop = merged["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(stop[0]["hooks"][0]["command"], "say done");
        assert_eq!(stop[1]["hooks"][0]["command"], "wtmux agent-status done");
        let again = merge_hooks(&merged, HookedAgent::Claude, "wtmux").unwrap();
        assert_eq!(again, merged, "idempotent");
    }
}
