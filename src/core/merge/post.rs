//! post_merge, the deploy step: run once in the main worktree after base really moved.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, Result};
use crate::core::state::{copy_tail, key_of, read_json, write_json};
use crate::core::{Project, now_unix};

/// How post_merge ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostMerge {
    pub command: String,
    pub log: PathBuf,
    /// Known when it ran here; `None` while it runs in its tmux window.
    pub exit_code: Option<i32>,
    pub window: Option<String>,
}

/// The hidden subcommand a post_merge window runs: `wtmux __post-merge <job key>`.
pub const POST_MERGE_COMMAND: &str = "__post-merge";

fn job_path(project: &Project, key: &str) -> Result<PathBuf> {
    Ok(project.state.dir("post-merge")?.join(format!("{key}.json")))
}

/// Runs post_merge in the main worktree: visibly in a tmux window when wtmux runs inside tmux
/// (the window stays until Enter is pressed), else here, with its output copied to `output`.
pub(super) fn run_post_merge(
    project: &Project,
    command: &str,
    output: &mut dyn Write,
) -> Result<PostMerge> {
    let key =
        key_of(format!("{}-{command}-{:?}", now_unix(), std::time::Instant::now()).as_bytes());
    let log = project.state.dir("post-merge")?.join(format!("{key}.log"));
    let mut job = PostMerge {
        command: command.to_string(),
        log: log.clone(),
        exit_code: None,
        window: None,
    };
    write_json(&job_path(project, &key)?, &job)?;
    match &project.tmux {
        Some(tmux) => {
            let session = tmux.current_session()?;
            let window = tmux.new_window(
                &session,
                &project.main_worktree,
                "post-merge",
                None,
                &[],
                &crate::core::own_command(&[POST_MERGE_COMMAND, &key])?,
            )?;
            let _ = tmux.display_message(&format!("wtmux: post_merge running in window {window}"));
            job.window = Some(window);
            Ok(job)
        }
        None => {
            job.exit_code = Some(execute_post_merge(project, &job, output)?);
            Ok(job)
        }
    }
}

/// Runs a recorded post_merge job (the inside of its tmux window): output to `output` and to
/// its log, exit code into its record.
pub fn run_post_merge_job(project: &Project, key: &str, output: &mut dyn Write) -> Result<i32> {
    if !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::refused("malformed job key"));
    }
    let path = job_path(project, key)?;
    let mut job: PostMerge =
        read_json(&path).ok_or_else(|| Error::refused("no such post_merge job"))?;
    let code = execute_post_merge(project, &job, output)?;
    job.exit_code = Some(code);
    write_json(&path, &job)?;
    Ok(code)
}

fn execute_post_merge(project: &Project, job: &PostMerge, output: &mut dyn Write) -> Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    let log = std::fs::File::create(&job.log).map_err(|e| Error::io(&job.log, e))?;
    let err = log.try_clone().map_err(|e| Error::io(&job.log, e))?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&job.command)
        .current_dir(&project.main_worktree)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| Error::io(&project.main_worktree, e))?;
    let mut shown = 0;
    let status = loop {
        shown += copy_tail(&job.log, shown, output)?;
        if let Some(status) = child.try_wait().map_err(|e| Error::io(&job.log, e))? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    copy_tail(&job.log, shown, output)?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
