//! Step 3 of the workflow: run the configured checks in a worktree, under tmux so they outlive
//! whoever started them, and keep their results keyed by the exact content checked.
//!
//! The content key is the fingerprint of the worktree's whole content, as git would commit it
//! (see [`status::ContentStore`]), together with the check configuration. A result therefore turns stale
//! the moment a file changes, and is valid again as soon as the same content is there again, for
//! example once it is committed.
//!
//! Concurrency: a run holds `runs/<worktree key>.lock` while it works. A starter that cannot take
//! that lock, or finds a run that was started moments ago and has not yet taken it, reports the
//! run already going instead of starting a second one. At most `check_jobs` runs work at once
//! across the repository: each takes one of that many slot locks first.
//!
//! The files: `start` (starting a run), `run` (running it, and `verify`), `follow` (following
//! it, its log), `stop` (stopping runs), `auto` (runs started by `verify_on`). This file holds
//! the records and the results keyed by content.

pub mod auto;
mod follow;
mod run;
mod start;
mod stop;

pub use follow::{current_log, follow};
pub use run::{RUNNER_COMMAND, run, verify_commit};
pub use start::{Started, start};
pub use stop::{remove_scratch, stop_running};

use std::path::{Path, PathBuf};

use git2::Repository;
use serde::{Deserialize, Serialize};

use super::config::CheckSpec;
use super::error::{Error, Result};
use super::state::{is_held, key_of, read_json, worktree_key};
use super::status::Changes;
use super::worktree::Worktree;
use super::{Project, now_unix};

/// Why checks could not start, be followed or finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no checks are configured: add a [[check]] with name and run to .wtmux.toml")]
    NoChecks,
    #[error("the directory of {0} is gone")]
    DirectoryGone(String),
    #[error("no check run was recorded for this worktree")]
    NoRunRecorded,
    #[error("the check run ended without a result")]
    EndedWithoutResult,
    #[error("the check run stopped without a result (was its tmux server killed?)")]
    StoppedWithoutResult,
    #[error("the check run of {} does not stop", .0.display())]
    DoesNotStop(PathBuf),
    #[error("{} vanished while its checks waited or ran; the run stopped", .0.display())]
    Vanished(PathBuf),
    /// The runner was started with a key that names no run record.
    #[error("malformed run key")]
    MalformedKey,
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        Error::step(refused)
    }
}

/// How long a run that was handed to tmux may take to start before it counts as lost.
const START_GRACE_SECS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// No checks configured, or never run on this worktree.
    None,
    Running,
    Passed,
    Failed,
    /// The last result was for other content than the worktree holds now.
    Stale,
}

/// A worktree's check state, as `wtmux list` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatus {
    pub state: CheckState,
    /// The running check, or the one that failed.
    pub name: Option<String>,
    pub exit_code: Option<i32>,
    /// The running check's log, or the failed one's.
    pub log: Option<PathBuf>,
}

impl CheckStatus {
    pub fn none() -> CheckStatus {
        CheckStatus {
            state: CheckState::None,
            name: None,
            exit_code: None,
            log: None,
        }
    }

    fn of_outcome(outcome: &Outcome) -> CheckStatus {
        CheckStatus {
            state: if outcome.passed {
                CheckState::Passed
            } else {
                CheckState::Failed
            },
            name: outcome.failed.clone(),
            exit_code: outcome.exit_code,
            log: outcome.log.clone(),
        }
    }
}

/// One check's result within a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub exit_code: i32,
    pub seconds: f64,
    pub log: PathBuf,
}

/// The result of a whole run on one content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub passed: bool,
    /// The check that failed.
    pub failed: Option<String>,
    pub exit_code: Option<i32>,
    pub log: Option<PathBuf>,
    pub steps: Vec<Step>,
    /// The fingerprint of the content checked (its tree id, for content a commit can hold).
    pub tree: String,
    pub finished_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    /// Handed to tmux, not yet picked up.
    Starting,
    /// Waiting for a free slot.
    Queued,
    Running,
    Finished,
}

/// The latest run of one worktree.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRecord {
    run_id: String,
    worktree: PathBuf,
    phase: Phase,
    content_key: Option<String>,
    current: Option<String>,
    current_log: Option<PathBuf>,
    updated_at: u64,
    outcome: Option<Outcome>,
    /// The worktree changed while its checks ran, so no result was recorded.
    content_changed: bool,
    /// The process running the checks (`wtmux __run-checks`), once it picked the run up.
    #[serde(default)]
    runner_pid: Option<u32>,
    /// The process group of the check running now.
    #[serde(default)]
    step_pgid: Option<i32>,
}

fn run_record_path(project: &Project, worktree_key: &str) -> Result<PathBuf> {
    Ok(project
        .state
        .dir("runs")?
        .join(format!("{worktree_key}.json")))
}

fn run_lock_path(project: &Project, worktree_key: &str) -> Result<PathBuf> {
    Ok(project
        .state
        .dir("runs")?
        .join(format!("{worktree_key}.lock")))
}

/// The key results are stored under: the content's fingerprint (for committed content, its
/// tree id) and the checks that ran on it.
pub fn content_key(content: &str, checks: &[CheckSpec]) -> String {
    let mut text = format!("wtmux-checks-v1\n{content}\n");
    for check in checks {
        text.push_str(&format!(
            "{}\0{}\0{:?}\n",
            check.name, check.run, check.timeout
        ));
    }
    key_of(text.as_bytes())
}

/// The recorded outcome of the checks on exactly this content (a fingerprint key, see
/// [`status::Content`]), if they ran on it.
pub fn result_for(project: &Project, content: &str) -> Result<Option<Outcome>> {
    let key = content_key(content, &project.config.checks);
    Ok(read_json(
        &project.state.dir("results")?.join(format!("{key}.json")),
    ))
}

fn is_active(project: &Project, worktree_key: &str, record: &RunRecord) -> Result<bool> {
    if record.phase == Phase::Finished {
        return Ok(false);
    }
    Ok(is_held(&run_lock_path(project, worktree_key)?)?
        || (record.phase == Phase::Starting
            && now_unix().saturating_sub(record.updated_at) < START_GRACE_SECS))
}

/// A check run is going on in the worktree at `path`.
pub fn is_running(project: &Project, path: &Path) -> Result<bool> {
    let key = worktree_key(path);
    match read_json::<RunRecord>(&run_record_path(project, &key)?) {
        Some(record) => is_active(project, &key, &record),
        None => Ok(false),
    }
}

/// The check state of the worktree at `path` (with `changes` against HEAD), for showing it:
/// the file-system monitor's session (`monitor`) lets an unchanged worktree's fingerprint be
/// reused.
pub fn status(
    project: &Project,
    path: &Path,
    changes: &Changes,
    monitor: Option<&str>,
) -> Result<CheckStatus> {
    if project.config.checks.is_empty() {
        return Ok(CheckStatus::none());
    }
    let key = worktree_key(path);
    let record: Option<RunRecord> = read_json(&run_record_path(project, &key)?);
    if let Some(record) = &record
        && is_active(project, &key, record)?
    {
        return Ok(CheckStatus {
            state: CheckState::Running,
            name: Some(
                record
                    .current
                    .clone()
                    .unwrap_or_else(|| match record.phase {
                        Phase::Queued => "(queued)".into(),
                        _ => "(starting)".into(),
                    }),
            ),
            exit_code: None,
            log: record.current_log.clone(),
        });
    }
    let content = super::fsmonitor::content_for_display(project, path, monitor, changes)?;
    if let Some(outcome) = result_for(project, &content.key)? {
        return Ok(CheckStatus::of_outcome(&outcome));
    }
    Ok(if record.is_some() {
        CheckStatus {
            state: CheckState::Stale,
            ..CheckStatus::none()
        }
    } else {
        CheckStatus::none()
    })
}

/// The check state of a worktree by its record (opens the repository itself).
pub fn status_of(project: &Project, worktree: &Worktree) -> Result<CheckStatus> {
    if worktree.prunable {
        return Ok(CheckStatus::none());
    }
    let repo = Repository::open(&worktree.path)?;
    let monitor = super::fsmonitor::sync(project);
    let changes =
        super::fsmonitor::changes_for_display(project, &repo, &worktree.path, monitor.as_deref())?;
    status(project, &worktree.path, &changes, monitor.as_deref())
}

/// Forgets the run record of a removed worktree (results stay: they belong to content).
pub fn forget_worktree(project: &Project, path: &Path) {
    if let Ok(path) = run_record_path(project, &worktree_key(path)) {
        let _ = std::fs::remove_file(path);
    }
}
