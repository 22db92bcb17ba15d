//! Stopping checks: the run of a worktree being removed, and whatever a dead gate left running
//! in its scratch worktree.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Phase, RUNNER_COMMAND, Refused, RunRecord, run_lock_path, run_record_path};
use crate::core::error::Result;
use crate::core::state::{is_held, read_json, worktree_key, write_json};
use crate::core::{Project, git, now_unix};

/// Stops the check run of the worktree at `path`, if one is going or queued: the runner process
/// and the running check's process group are killed, its `check_jobs` slot and run lock are
/// free when this returns, and a run not yet picked up will not start. Returns whether a live
/// run was stopped. For removing a worktree.
pub fn stop_running(project: &Project, path: &Path) -> Result<bool> {
    let key = worktree_key(path);
    let record_path = run_record_path(project, &key)?;
    let lock_path = run_lock_path(project, &key)?;
    let Some(record) = read_json::<RunRecord>(&record_path) else {
        return Ok(false);
    };
    if record.phase == Phase::Finished {
        return Ok(false);
    }
    let mut stopped = false;
    if is_held(&lock_path)? {
        // The runner first, so that it starts no further check; then the check it ran.
        if let Some(pid) = record.runner_pid
            && is_runner(pid, &key)
        {
            // SAFETY: kill(2) on a pid verified to be this run's runner; no memory is touched.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while is_held(&lock_path)? {
            if Instant::now() >= deadline {
                return Err(Refused::DoesNotStop(path.to_path_buf()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stopped = true;
    }
    let Some(mut record) = read_json::<RunRecord>(&record_path) else {
        return Ok(stopped);
    };
    if let Some(pgid) = record.step_pgid {
        kill_group(pgid, libc::SIGKILL);
    }
    if record.phase != Phase::Finished {
        record.phase = Phase::Finished;
        record.current = None;
        record.current_log = None;
        record.step_pgid = None;
        record.updated_at = now_unix();
        write_json(&record_path, &record)?;
    }
    Ok(stopped)
}

/// Whether `pid` is the runner of the run `key` (a pid can be reused once its process died).
fn is_runner(pid: u32, key: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.contains(&RUNNER_COMMAND.as_bytes()) && args.contains(&key.as_bytes())
    })
}

/// Removes a scratch worktree of [`super::verify_commit`], stopping whatever still runs in it (the
/// checks of a process that died), and unregisters it.
pub fn remove_scratch(project: &Project, scratch: &Path) {
    crate::core::process::kill_processes_in(scratch);
    let _ = git::Git::new(&project.main_worktree)
        .args(["worktree", "remove", "--force", "--force"])
        .arg(scratch)
        .run();
    let _ = std::fs::remove_dir_all(scratch);
    let _ = git::Git::new(&project.main_worktree)
        .args(["worktree", "prune"])
        .run();
}

pub(super) fn kill_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group and touches no memory.
    unsafe {
        libc::kill(-pgid, signal);
    }
}
