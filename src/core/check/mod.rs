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

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

pub mod auto;
mod stop;

use stop::kill_group;
pub use stop::{remove_scratch, stop_running};

use super::config::CheckSpec;
use super::error::{Error, Result};
use super::state::{
    copy_tail, is_held, key_of, lock_file, read_json, try_hold, worktree_key, write_json,
};
use super::status::Changes;
use super::worktree::{self, Worktree};
use super::{Project, git, now_unix};

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
        return Err(Error::refused(
            "no checks are configured: add a [[check]] with name and run to .wtmux.toml",
        ));
    }
    project.config.require_trusted("check")?;
    if worktree.prunable {
        return Err(Error::refused(format!(
            "the directory of {} is gone",
            worktree.label()
        )));
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

    let argv = super::own_command(&[RUNNER_COMMAND, &key])?;
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

/// The hidden subcommand tmux runs: `wtmux __run-checks <worktree key>`.
pub const RUNNER_COMMAND: &str = "__run-checks";

/// Runs a started check run to its end (the background side of [`start`]).
pub fn run(project: &Project, key: &str) -> Result<()> {
    if !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::refused("malformed run key"));
    }
    let record_path = run_record_path(project, key)?;
    let lock = lock_file(&run_lock_path(project, key)?)?;
    lock.lock().map_err(|e| Error::io(&record_path, e))?;
    let Some(mut record) = read_json::<RunRecord>(&record_path) else {
        return Ok(());
    };
    if record.phase != Phase::Starting {
        return Ok(());
    }
    let save = |record: &mut RunRecord| {
        record.updated_at = now_unix();
        write_json(&record_path, record)
    };
    record.phase = Phase::Queued;
    record.runner_pid = Some(std::process::id());
    save(&mut record)?;
    let worktree = record.worktree.clone();
    let _slot = take_slot(project, &worktree)?;

    let run_id = record.run_id.clone();
    let (outcome, recorded) = verify(project, &worktree, &run_id, |progress| {
        match progress {
            Progress::Content(key) => record.content_key = Some(key.to_string()),
            Progress::Check { name, log } => {
                record.current = Some(name.to_string());
                record.current_log = Some(log.to_path_buf());
                record.step_pgid = None;
            }
            Progress::Spawned(pgid) => record.step_pgid = Some(pgid),
        }
        record.phase = Phase::Running;
        save(&mut record)
    })?;
    record.content_changed = !recorded;
    record.phase = Phase::Finished;
    record.current = None;
    record.current_log = None;
    record.step_pgid = None;
    record.outcome = Some(outcome);
    save(&mut record)
}

/// What [`verify`] tells its caller as it goes.
enum Progress<'a> {
    /// The key the result will be stored under.
    Content(&'a str),
    /// A check starts.
    Check { name: &'a str, log: &'a Path },
    /// The check's process group.
    Spawned(i32),
}

/// Runs the checks in `dir`, in this process, and stores the outcome under the content checked
/// — unless the content changed meanwhile (then the outcome is returned but not recorded:
/// `false`). `progress` hears the content key, then each check as it starts.
fn verify(
    project: &Project,
    dir: &Path,
    run_id: &str,
    mut progress: impl FnMut(Progress) -> Result<()>,
) -> Result<(Outcome, bool)> {
    project.config.require_trusted("check")?;
    let checks = project.config.checks.clone();
    let repo = Repository::open(dir)?;
    let content_before = project.content_of(dir)?.key;
    // After the fingerprint (a change before it is in the key; files written just before, by
    // a checkout, must not count), less one tick of the coarse clock file times come from.
    let started = std::time::SystemTime::now() - Duration::from_millis(10);
    let key = content_key(&content_before, &checks);
    progress(Progress::Content(&key))?;
    let logs = project.state.dir("logs")?.join(run_id);
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let branch = git::head_branch(&repo)?.unwrap_or_default();
    let env = worktree::worktree_env(project, &branch, dir);

    let mut steps = Vec::new();
    for (index, check) in checks.iter().enumerate() {
        let log = logs.join(format!("{index:02}-{}.log", file_safe(&check.name)));
        progress(Progress::Check {
            name: &check.name,
            log: &log,
        })?;
        let started = Instant::now();
        let exit_code = run_step(check, dir, &env, &log, &mut |pgid| {
            progress(Progress::Spawned(pgid))
        })?;
        steps.push(Step {
            name: check.name.clone(),
            exit_code,
            seconds: started.elapsed().as_secs_f64(),
            log,
        });
        if exit_code != 0 {
            break;
        }
    }
    let failed = steps.iter().find(|s| s.exit_code != 0);
    let outcome = Outcome {
        passed: failed.is_none(),
        failed: failed.map(|s| s.name.clone()),
        exit_code: failed.map(|s| s.exit_code),
        log: failed.map(|s| s.log.clone()),
        steps: steps.clone(),
        tree: content_before.clone(),
        finished_at: now_unix(),
    };
    // The same content after as before is not enough: a file changed and changed back while
    // the checks ran means they may have seen other content than the key says.
    let unchanged = project.content_of(dir)?.key == content_before && !touched_since(dir, started)?;
    if unchanged {
        write_json(
            &project.state.dir("results")?.join(format!("{key}.json")),
            &outcome,
        )?;
    }
    Ok((outcome, unchanged))
}

/// Checks a commit's content now, in a scratch worktree of its own, waiting for the outcome
/// (which is recorded under that content like any other): how `gate = "merged"` checks a merge
/// result before base moves.
/// `before_scratch` hears the scratch worktree's path before it is made, so that a journal can
/// remove it should this process die.
pub fn verify_commit(
    project: &Project,
    commit: Oid,
    before_scratch: &mut dyn FnMut(&Path) -> Result<()>,
) -> Result<Outcome> {
    let tree = project.repo()?.find_commit(commit)?.tree_id();
    if let Some(outcome) = result_for(project, &tree.to_string())? {
        return Ok(outcome);
    }
    let scratch = project.state.dir("scratch")?.join(format!(
        "{}-{}",
        git::short(commit),
        std::process::id()
    ));
    before_scratch(&scratch)?;
    git::Git::new(&project.main_worktree)
        .args(["worktree", "add", "--detach", "--force"])
        .arg(&scratch)
        .arg(commit.to_string())
        .run()?;
    super::testpoint::pause("gate.scratch");
    let _slot = take_slot(project, &scratch)?;
    let outcome = verify(
        project,
        &scratch,
        &format!("merged-{}", git::short(commit)),
        |_| Ok(()),
    );
    remove_scratch(project, &scratch);
    Ok(outcome?.0)
}

/// Takes one of the `check_jobs` slots, waiting for one to free up — unless the worktree to
/// check vanishes meanwhile (removed while its run was queued).
fn take_slot(project: &Project, worktree: &Path) -> Result<File> {
    let dir = project.state.dir("slots")?;
    loop {
        for n in 0..project.config.check_jobs {
            if let Some(slot) = try_hold(&dir.join(format!("{n}.lock")))? {
                return Ok(slot);
            }
        }
        if !worktree.exists() {
            return Err(vanished(worktree));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn vanished(worktree: &Path) -> Error {
    Error::refused(format!(
        "{} vanished while its checks waited or ran; the run stopped",
        worktree.display()
    ))
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs one check with `sh -c`, output to `log`; returns its exit code (124 on timeout,
/// 128 + signal when killed).
fn run_step(
    check: &CheckSpec,
    dir: &Path,
    env: &[(&str, String)],
    log: &Path,
    spawned: &mut dyn FnMut(i32) -> Result<()>,
) -> Result<i32> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let out = File::create(log).map_err(|e| Error::io(log, e))?;
    let err = out.try_clone().map_err(|e| Error::io(log, e))?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&check.run)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(dir, e))?;
    let pgid = child.id() as i32;
    spawned(pgid)?;
    let deadline = check.timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    let mut next_presence_check = Instant::now() + Duration::from_secs(1);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::io(dir, e))? {
            break status;
        }
        // A check of a worktree that was removed under it must not hold its slot forever.
        if Instant::now() >= next_presence_check {
            next_presence_check = Instant::now() + Duration::from_secs(1);
            if !dir.exists() {
                kill_group(pgid, libc::SIGKILL);
                let _ = child.wait();
                return Err(vanished(dir));
            }
        }
        if let Some(deadline) = deadline
            && Instant::now() >= deadline
            && !timed_out
        {
            timed_out = true;
            kill_group(pgid, libc::SIGTERM);
            let grace = Instant::now() + Duration::from_secs(3);
            while Instant::now() < grace {
                if child.try_wait().map_err(|e| Error::io(dir, e))?.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            kill_group(pgid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    // Whatever the check left running in its group goes with it.
    kill_group(pgid, libc::SIGKILL);
    if timed_out {
        let mut file = File::options()
            .append(true)
            .open(log)
            .map_err(|e| Error::io(log, e))?;
        let _ = writeln!(
            file,
            "\nwtmux: {:?} timed out after {}",
            check.name,
            humantime::format_duration(check.timeout.unwrap_or_default())
        );
        return Ok(124);
    }
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Follows the run of a worktree, writing each check's output to `sink` as it appears, until it
/// ends; returns its outcome.
pub fn follow(project: &Project, worktree: &Worktree, sink: &mut dyn Write) -> Result<Outcome> {
    let key = worktree_key(&worktree.path);
    let record_path = run_record_path(project, &key)?;
    let mut shown: Vec<(PathBuf, u64)> = Vec::new();
    loop {
        let record: Option<RunRecord> = read_json(&record_path);
        let Some(record) = record else {
            return Err(Error::refused(
                "no check run was recorded for this worktree",
            ));
        };
        let finished = record.phase == Phase::Finished;
        let logs = project.state.root().join("logs").join(&record.run_id);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let offset = match shown.iter_mut().find(|(p, _)| *p == file) {
                Some((_, offset)) => offset,
                None => {
                    let name = file
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let name = name.split_once('-').map(|(_, n)| n).unwrap_or(&name);
                    let _ = writeln!(sink, "── {name} ──");
                    shown.push((file.clone(), 0));
                    &mut shown.last_mut().expect("just pushed").1
                }
            };
            *offset += copy_tail(&file, *offset, sink)?;
        }
        let _ = sink.flush();
        if finished {
            return record
                .outcome
                .ok_or_else(|| Error::refused("the check run ended without a result"));
        }
        // The runner records its end, then lets go of its lock: a run found without its lock
        // may have finished since its record was read (the next round shows its result).
        if !is_active(project, &key, &record)?
            && read_json::<RunRecord>(&record_path).is_some_and(|r| r.phase != Phase::Finished)
        {
            return Err(Error::refused(
                "the check run stopped without a result (was its tmux server killed?)",
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The log worth showing for a worktree: the running check's, else the last run's failed
/// check's, else its last check's.
pub fn current_log(project: &Project, worktree: &Worktree) -> Result<Option<PathBuf>> {
    let key = worktree_key(&worktree.path);
    let Some(record) = read_json::<RunRecord>(&run_record_path(project, &key)?) else {
        return Ok(None);
    };
    if record.current_log.is_some() {
        return Ok(record.current_log);
    }
    Ok(record
        .outcome
        .and_then(|o| o.log.or_else(|| o.steps.last().map(|s| s.log.clone()))))
}

/// Forgets the run record of a removed worktree (results stay: they belong to content).
pub fn forget_worktree(project: &Project, path: &Path) {
    if let Ok(path) = run_record_path(project, &worktree_key(path)) {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether a file of the worktree at `dir` that its content consists of (tracked, or
/// untracked and not ignored) had its inode changed (written, replaced, chmod) at or after
/// `since`.
fn touched_since(dir: &Path, since: std::time::SystemTime) -> Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let since = since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let listing = git::Git::new(dir)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .run_bytes()?;
    Ok(listing
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .filter_map(|p| std::fs::symlink_metadata(dir.join(std::ffi::OsStr::from_bytes(p))).ok())
        .any(|m| {
            Duration::new(
                m.ctime().max(0) as u64,
                m.ctime_nsec().clamp(0, 999_999_999) as u32,
            ) >= since
        }))
}
