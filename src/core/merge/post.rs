//! post_merge, the deploy step: run once in the main worktree after base really moved.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, Result};
use crate::core::state::{copy_tail, is_held, key_of, lock_file, read_json, try_hold, write_json};
use crate::core::{Project, now_unix};

/// The post_merge window was started with a key that names no job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed job key")]
pub struct MalformedJobKey;

impl From<MalformedJobKey> for Error {
    fn from(refused: MalformedJobKey) -> Error {
        Error::step(refused)
    }
}

/// How post_merge ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostMerge {
    pub command: String,
    pub log: PathBuf,
    /// Known when it ran here; `None` while it runs in its tmux window.
    pub exit_code: Option<i32>,
    pub window: Option<String>,
    /// When it was queued (ns since the epoch): the window runs jobs in this order.
    #[serde(default)]
    pub queued_at: u128,
    /// The window's runner took it (it runs once at most).
    #[serde(default)]
    pub started: bool,
    /// Queued for a runner that died (its window was killed): never run late.
    #[serde(default)]
    pub abandoned: bool,
    /// The merge it deploys, handed to the command as environment values (none in records
    /// written before there was one).
    #[serde(default)]
    pub merge: Option<MergeFacts>,
}

/// The merge a post_merge run deploys. The command gets these as environment values only,
/// never in its text: branch names come from outside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeFacts {
    pub branch: String,
    pub base: String,
    /// Base's new tip: the merge (or the rebased or squashed commit).
    pub commit: String,
    /// Base's tip before the merge.
    pub previous: String,
    pub strategy: String,
    /// The merged branch's worktree, if it had one.
    pub worktree: Option<PathBuf>,
    /// Worktree, branch and window stay (`--keep`); otherwise they are removed right after
    /// post_merge starts.
    pub kept: bool,
}

impl MergeFacts {
    /// The environment of the post_merge command (documented in the README, where post_merge
    /// is described).
    pub fn env(&self, main_worktree: &Path) -> Vec<(&'static str, OsString)> {
        vec![
            ("WTMUX_BRANCH", self.branch.clone().into()),
            ("WTMUX_BASE", self.base.clone().into()),
            ("WTMUX_MERGE_COMMIT", self.commit.clone().into()),
            ("WTMUX_PREVIOUS_COMMIT", self.previous.clone().into()),
            ("WTMUX_STRATEGY", self.strategy.clone().into()),
            (
                "WTMUX_WORKTREE",
                self.worktree.clone().unwrap_or_default().into_os_string(),
            ),
            ("WTMUX_KEPT", if self.kept { "1" } else { "0" }.into()),
            ("WTMUX_MAIN_WORKTREE", main_worktree.as_os_str().to_owned()),
        ]
    }
}

/// The hidden subcommand of the post_merge window: `wtmux __post-merge <job key>` runs that job
/// and every job queued after it, one after another.
pub const POST_MERGE_COMMAND: &str = "__post-merge";

/// The tag of the one post_merge window (its value: the main worktree).
const WINDOW_TAG: &str = "@wtmux_post_merge";

fn job_path(project: &Project, key: &str) -> Result<PathBuf> {
    Ok(project.state.dir("post-merge")?.join(format!("{key}.json")))
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Runs post_merge in the main worktree: visibly in the one `post-merge` tmux window when wtmux
/// runs inside tmux, else here, with its output copied to `output`. The window is reused: a job
/// queued while it runs another runs next in it; it closes once its jobs succeeded and stays
/// after a failure until Enter is pressed there.
pub(super) fn run_post_merge(
    project: &Project,
    command: &str,
    merge: MergeFacts,
    output: &mut dyn Write,
) -> Result<PostMerge> {
    let key =
        key_of(format!("{}-{command}-{:?}", now_unix(), std::time::Instant::now()).as_bytes());
    let dir = project.state.dir("post-merge")?;
    let log = dir.join(format!("{key}.log"));
    let mut job = PostMerge {
        command: command.to_string(),
        log: log.clone(),
        exit_code: None,
        window: None,
        queued_at: now_ns(),
        started: false,
        abandoned: false,
        merge: Some(merge),
    };
    let Some(tmux) = &project.tmux else {
        job.started = true;
        write_json(&job_path(project, &key)?, &job)?;
        job.exit_code = Some(execute_post_merge(project, &job, output)?);
        write_json(&job_path(project, &key)?, &job)?;
        return Ok(job);
    };
    // Under the queue lock, the runner either is alive and takes this job before it ends, or
    // has ended (it lets go of its lock under this one) and a new one is started for it.
    let queue = lock_file(&dir.join("queue.lock"))?;
    queue.lock().map_err(|e| Error::io(&dir, e))?;
    let window = window_of(project, tmux)?;
    job.window = window.clone();
    if is_held(&dir.join("runner.lock"))?
        && let Some(window) = window
    {
        write_json(&job_path(project, &key)?, &job)?;
        let _ = tmux.display_message(&format!(
            "wtmux: post_merge queued in window {window} (after the one running there)"
        ));
        return Ok(job);
    }
    // No runner: whatever is still queued was left by one that died, and is not run late.
    while let Some((path, mut orphan)) = queued(&dir)? {
        orphan.abandoned = true;
        write_json(&path, &orphan)?;
    }
    write_json(&job_path(project, &key)?, &job)?;
    let argv = crate::core::own_command(&[POST_MERGE_COMMAND, &key])?;
    let window = match window {
        // Still there (a dead pane kept by remain-on-exit, or a runner on its way out).
        Some(window) => {
            let mut args: Vec<std::ffi::OsString> = vec![
                "respawn-window".into(),
                "-k".into(),
                "-t".into(),
                window.clone().into(),
                "-c".into(),
                crate::core::tmux::format_literal_os(project.main_worktree.as_os_str()),
            ];
            args.extend(argv.iter().map(Into::into));
            tmux.run(&args)?;
            window
        }
        None => {
            let session = tmux.current_session()?;
            let window = tmux.new_window(
                &session,
                &project.main_worktree,
                "post-merge",
                None,
                &[],
                &argv,
            )?;
            let main = project.main_worktree.as_os_str();
            tmux.run(&[
                "set-option".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                window.as_ref(),
                WINDOW_TAG.as_ref(),
                main,
            ])?;
            // It closes when its runner ends, whatever the user's remain-on-exit.
            tmux.run(&["set-option", "-w", "-t", &window, "remain-on-exit", "off"])?;
            window
        }
    };
    let _ = tmux.display_message(&format!("wtmux: post_merge running in window {window}"));
    job.window = Some(window);
    write_json(&job_path(project, &key)?, &job)?;
    Ok(job)
}

/// The post_merge window of this repository, if one is open.
fn window_of(project: &Project, tmux: &crate::core::tmux::Tmux) -> Result<Option<String>> {
    let end = "\u{1}wtmux-end";
    let out = tmux.run(&[
        "list-windows",
        "-a",
        "-F",
        &format!("#{{window_id}} #{{{WINDOW_TAG}}}{end}"),
    ])?;
    let main = project.main_worktree.to_string_lossy();
    Ok(out.split(&format!("{end}\n")).find_map(|record| {
        let (id, tag) = record.trim_start_matches('\n').split_once(' ')?;
        (tag == main).then(|| id.to_string())
    }))
}

/// What the post_merge window's runner did with its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// Every job it ran succeeded: the window may close.
    Succeeded,
    /// One failed (the last such exit code), and Enter was pressed since.
    Acknowledged(i32),
}

/// The inside of the post_merge window: runs job `first` and then every job queued, one after
/// another, output to `output`. After a failure it asks for Enter (`ask` with the exit codes of
/// the last job and of the failed one, then `enter_pressed(timeout)` until it says so) while
/// looking for more jobs; it returns when
/// nothing is queued and no failure waits to be seen. A second runner returns at once.
pub fn run_post_merge_window(
    project: &Project,
    first: &str,
    output: &mut dyn Write,
    ask: &mut dyn FnMut(&mut dyn Write, i32, i32),
    enter_pressed: &mut dyn FnMut(Duration) -> bool,
) -> Result<WindowEnd> {
    if !first.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(MalformedJobKey.into());
    }
    let dir = project.state.dir("post-merge")?;
    let Some(runner) = try_hold(&dir.join("runner.lock"))? else {
        return Ok(WindowEnd::Succeeded);
    };
    let mut failed: Option<i32> = None;
    let mut last: Option<i32> = None;
    loop {
        let next = {
            let queue = lock_file(&dir.join("queue.lock"))?;
            queue.lock().map_err(|e| Error::io(&dir, e))?;
            let next = take_next(&dir)?;
            if next.is_none() && failed.is_none() {
                // Let go under the queue lock: a job queued from now on starts a new runner.
                drop(runner);
                return Ok(WindowEnd::Succeeded);
            }
            next
        };
        match next {
            Some((path, mut job)) => {
                if last.is_some() {
                    let _ = writeln!(output, "\n── next post_merge: {} ──", job.command);
                }
                let code = execute_post_merge(project, &job, output)?;
                job.exit_code = Some(code);
                write_json(&path, &job)?;
                last = Some(code);
                if code != 0 {
                    failed = Some(code);
                }
                if let Some(failed) = failed {
                    ask(output, code, failed);
                }
            }
            None => {
                // A failure waits to be seen: until Enter, or the next job.
                if enter_pressed(Duration::from_millis(200)) {
                    let code = failed.take().unwrap_or(1);
                    let queue = lock_file(&dir.join("queue.lock"))?;
                    queue.lock().map_err(|e| Error::io(&dir, e))?;
                    if queued(&dir)?.is_some() {
                        continue;
                    }
                    drop(runner);
                    return Ok(WindowEnd::Acknowledged(code));
                }
            }
        }
    }
}

/// The oldest job not yet started, marked started (under the queue lock).
fn take_next(dir: &std::path::Path) -> Result<Option<(PathBuf, PostMerge)>> {
    let Some((path, mut job)) = queued(dir)? else {
        return Ok(None);
    };
    job.started = true;
    write_json(&path, &job)?;
    Ok(Some((path, job)))
}

fn queued(dir: &std::path::Path) -> Result<Option<(PathBuf, PostMerge)>> {
    let mut oldest: Option<(PathBuf, PostMerge)> = None;
    for entry in std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Some(job) = read_json::<PostMerge>(&path) else {
            continue;
        };
        // Older records have no queue time: never picked up.
        if job.started || job.abandoned || job.exit_code.is_some() || job.queued_at == 0 {
            continue;
        }
        if oldest
            .as_ref()
            .is_none_or(|(_, o)| job.queued_at < o.queued_at)
        {
            oldest = Some((path, job));
        }
    }
    Ok(oldest)
}

fn execute_post_merge(project: &Project, job: &PostMerge, output: &mut dyn Write) -> Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    let log = std::fs::File::create(&job.log).map_err(|e| Error::io(&job.log, e))?;
    let err = log.try_clone().map_err(|e| Error::io(&job.log, e))?;
    let mut command = Command::new("sh");
    command.arg("-c").arg(&job.command);
    if let Some(merge) = &job.merge {
        command.envs(merge.env(&project.main_worktree));
    }
    let mut child = command
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
