//! Starting a worktree's check run: handed to tmux (or a background process), unless one is
//! already going there.

use std::process::{Command, Stdio};

use serde::Serialize;

use super::{
    Phase, RUNNER_COMMAND, Refused, RunRecord, START_GRACE_SECS, run_lock_path, run_record_path,
};
use crate::core::error::{Error, Result};
use crate::core::state::{read_json, try_hold, worktree_key, write_json};
use crate::core::worktree::Worktree;
use crate::core::{Project, now_unix, own_command};

/// What `start` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Started {
    /// A new run was handed to tmux (or, outside tmux, to a background process).
    Started { under_tmux: bool },
    /// A run on this worktree was already going; nothing new was started.
    AlreadyRunning { name: Option<String> },
}

/// Starts the checks of a worktree in the background, unless they are already running there.
pub fn start(project: &Project, worktree: &Worktree) -> Result<Started> {
    if project.config.checks.is_empty() {
        return Err(Refused::NoChecks.into());
    }
    project.config.require_trusted("check")?;
    if worktree.prunable {
        return Err(Refused::DirectoryGone(worktree.label()).into());
    }
    let key = worktree_key(&worktree.path);
    let record_path = run_record_path(project, &key)?;
    let already = |record: Option<RunRecord>| Started::AlreadyRunning {
        name: record.and_then(|r| r.current),
    };
    let Some(lock) = try_hold(&run_lock_path(project, &key)?)? else {
        return Ok(already(read_json(&record_path)));
    };
    let previous: Option<RunRecord> = read_json(&record_path);
    if let Some(record) = &previous
        && record.phase == Phase::Starting
        && now_unix().saturating_sub(record.updated_at) < START_GRACE_SECS
    {
        return Ok(already(previous));
    }
    let run_id = format!("{}-{}", now_unix(), &key[..8]);
    write_json(
        &record_path,
        &RunRecord {
            run_id,
            worktree: worktree.path.clone(),
            phase: Phase::Starting,
            content_key: None,
            current: None,
            current_log: None,
            updated_at: now_unix(),
            outcome: None,
            content_changed: false,
            runner_pid: None,
            step_pgid: None,
        },
    )?;
    drop(lock);

    let argv = own_command(&[RUNNER_COMMAND, &key])?;
    match &project.tmux {
        Some(tmux) => {
            tmux.spawn_background(&worktree.path, &argv)?;
            Ok(Started::Started { under_tmux: true })
        }
        None => {
            use std::os::unix::process::CommandExt;
            Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(&worktree.path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| Error::io(&argv[0], e))?;
            Ok(Started::Started { under_tmux: false })
        }
    }
}
