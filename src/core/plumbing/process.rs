//! Stopping what runs in a worktree before the worktree goes away: the processes of its tmux
//! window, or whatever works inside a directory wtmux made.
//!
//! Closing the window alone is not enough: tmux sends SIGHUP, which an agent started with
//! `nohup`, a daemon it spawned, or a build that ignores the signal survives, and keeps writing
//! into a directory that is being removed. So every process of the window's panes — each pane is
//! a session of its own, and whatever left that session still descends from the pane — gets
//! SIGTERM, then SIGKILL if it has not exited within a grace period.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{Error, Result};
use super::tmux::{Tmux, Window};

/// How long processes get to exit on SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Stops what writes into the worktree at `dir`: every process of `window`'s panes and every
/// process working inside `dir` (a server the agent started with `setsid`, a shell of another
/// window), except this process and its ancestors (wtmux may run inside that very window).
/// SIGHUP and SIGTERM first (an interactive shell ignores SIGTERM but not SIGHUP), SIGKILL for
/// what is left after a grace period. Returns how many there were; waits until they are gone.
pub fn stop_writers(tmux: Option<&Tmux>, window: Option<&Window>, dir: &Path) -> Result<usize> {
    let pane_pids: HashSet<i32> = match (tmux, window) {
        (Some(tmux), Some(window)) => tmux
            .run(&["list-panes", "-t", &window.id, "-F", "#{pane_pid}"])
            .map(|out| out.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default(), // the window is gone already
        _ => HashSet::new(),
    };
    let victims = processes_of(&pane_pids, dir);
    if victims.is_empty() {
        return Ok(0);
    }
    signal_all(&victims, libc::SIGHUP);
    signal_all(&victims, libc::SIGTERM);
    super::testpoint::pause("stop.signalled");
    if !wait_gone(&victims, GRACE) {
        signal_all(&victims, libc::SIGKILL);
        if !wait_gone(&victims, Duration::from_secs(10)) {
            return Err(Error::ProcessesDoNotStop {
                dir: dir.to_path_buf(),
                pids: victims
                    .iter()
                    .copied()
                    .filter(|pid| is_alive(*pid))
                    .collect(),
            });
        }
    }
    Ok(victims.len())
}

/// Kills (SIGKILL) every process but this one whose working directory is in `dir`: what a dead
/// wtmux left running in a directory it made (a gate's check, a `post_create`).
pub fn kill_processes_in(dir: &Path) {
    for pid in all_pids() {
        if pid as u32 != std::process::id() && works_in(pid, dir) {
            signal_all(&[pid], libc::SIGKILL);
        }
    }
}

fn works_in(pid: i32, dir: &Path) -> bool {
    std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
}

fn all_pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// `(parent, session)` of every process, from /proc.
fn process_table() -> HashMap<i32, (i32, i32)> {
    all_pids()
        .filter_map(|pid| read_stat(pid).map(|stat| (pid, (stat.parent, stat.session))))
        .collect()
}

struct Stat {
    state: char,
    parent: i32,
    session: i32,
}

/// Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses).
fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        parent: fields.get(1)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
    })
}

/// The panes' processes (members of their sessions and descendants of the pane processes) and
/// those working inside `dir`, minus this process and its ancestors.
fn processes_of(pane_pids: &HashSet<i32>, dir: &Path) -> Vec<i32> {
    let table = process_table();
    let mut spared = HashSet::new();
    let mut pid = std::process::id() as i32;
    while pid > 1 && spared.insert(pid) {
        pid = table.get(&pid).map_or(0, |(parent, _)| *parent);
    }
    let descends = |mut pid: i32| {
        let mut seen = HashSet::new();
        while pid > 1 && seen.insert(pid) {
            if pane_pids.contains(&pid) {
                return true;
            }
            pid = table.get(&pid).map_or(0, |(parent, _)| *parent);
        }
        false
    };
    let mut victims: Vec<i32> = table
        .iter()
        .filter(|(pid, (_, session))| {
            !spared.contains(pid)
                && (pane_pids.contains(session) || descends(**pid) || works_in(**pid, dir))
        })
        .map(|(pid, _)| *pid)
        .collect();
    victims.sort();
    victims
}

fn signal_all(pids: &[i32], signal: i32) {
    for pid in pids {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe {
            libc::kill(*pid, signal);
        }
    }
}

fn is_alive(pid: i32) -> bool {
    read_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// Polls until none of `pids` is alive; false when `limit` passed first.
fn wait_gone(pids: &[i32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !pids.iter().any(|pid| is_alive(*pid)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
