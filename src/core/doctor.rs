//! The background monitors as they describe themselves (`wtmux doctor`), and restarting them.
//!
//! Two run per repository under tmux: the agent monitor ([`super::agent::run_monitor`]) and the
//! file-system monitor ([`super::fsmonitor::run_daemon`]). Each holds a lock while it lives and
//! writes a small status file; a monitor is running exactly when its lock is held.

use std::time::{Duration, Instant};

use super::agent::{self, MonitorStatus};
use super::error::{Error, Result};
use super::fsmonitor::{self, DaemonStatus};
use super::{Project, state};

/// What `doctor` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub agents: Option<MonitorStatus>,
    pub files: Option<DaemonStatus>,
    /// When the last file-system monitor gave up (it could not watch every directory).
    pub files_gave_up: Option<std::time::SystemTime>,
    /// Agents whose record says they have not exited.
    pub live_agents: usize,
    /// What `agent-status` could not record (it exits 0 and says nothing), in the last day,
    /// oldest first.
    pub hook_errors: Vec<agent::HookError>,
}

/// How far back `doctor` looks at the errors hooks swallowed (a day).
pub const HOOK_ERRORS_SHOWN_FOR: Duration = Duration::from_secs(24 * 60 * 60);

pub fn report(project: &Project) -> Result<Report> {
    let dir = project.state.dir("agents")?;
    let live_agents = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| state::read_json::<agent::AgentRecord>(&e.path()))
        .filter(|r| !r.exited && r.last_state != agent::AgentState::Exited)
        .count();
    Ok(Report {
        agents: agent::monitor_status(project)?,
        files: fsmonitor::daemon_status(project)?,
        files_gave_up: fsmonitor::gave_up_at(project),
        live_agents,
        hook_errors: agent::hook_errors_since(
            project,
            super::now_unix().saturating_sub(HOOK_ERRORS_SHOWN_FOR.as_secs()),
        ),
    })
}

/// Stops both monitors and starts them again (the agent monitor only when some agent lives: it
/// would stop again at once otherwise); returns the report once they are back.
pub fn restart(project: &Project) -> Result<Report> {
    project.require_tmux()?;
    let before = report(project)?;
    if let Some(status) = &before.agents {
        stop(
            status.pid,
            agent::MONITOR_COMMAND,
            &project.state.dir("agents")?.join("monitor.lock"),
        )?;
    }
    if let Some(status) = &before.files {
        stop(
            status.pid,
            fsmonitor::COMMAND,
            &project.state.dir("fsmonitor")?.join("daemon.lock"),
        )?;
    }
    fsmonitor::forget_giving_up(project);
    fsmonitor::start(project);
    if before.live_agents > 0 {
        agent::ensure_monitor(project)?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = report(project)?;
        let agents_back = now.agents.is_some() || before.live_agents == 0;
        let files_back = now.files.is_some() || now.files_gave_up.is_some();
        if (agents_back && files_back) || Instant::now() >= deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ends the monitor `pid` — after making sure it is one (its command line names `command`) —
/// and waits until its lock is free.
/// A monitor that did not stop when told to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the monitor (pid {pid}) did not stop; its lock {} is still held", .lock.display())]
pub struct MonitorDoesNotStop {
    pub pid: u32,
    pub lock: std::path::PathBuf,
}

fn stop(pid: u32, command: &str, lock: &std::path::Path) -> Result<()> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let is_monitor = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == command.as_bytes());
    if is_monitor && let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid checked above to be the monitor's.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while state::is_held(lock)? {
        if Instant::now() >= deadline {
            return Err(Error::step(MonitorDoesNotStop {
                pid,
                lock: lock.to_path_buf(),
            }));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
