//! Running checks: the background side of a started run, `verify` (the checks of one
//! content, in this process), `verify_commit` (a commit's, in a scratch worktree), the
//! `check_jobs` slots, and one check under `sh -c` with its timeout.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::{Oid, Repository};

use super::stop::kill_group;
use super::{
    Outcome, Phase, Refused, RunRecord, Step, content_key, remove_scratch, result_for,
    run_lock_path, run_record_path,
};
use crate::core::config::CheckSpec;
use crate::core::error::{Error, Result};
use crate::core::state::{lock_file, read_json, try_hold, write_json};
use crate::core::worktree;
use crate::core::{Project, git, now_unix, testpoint};

/// The hidden subcommand tmux runs: `wtmux __run-checks <worktree key>`.
pub const RUNNER_COMMAND: &str = "__run-checks";

/// Runs a started check run to its end (the background side of [`start`]).
pub fn run(project: &Project, key: &str) -> Result<()> {
    if !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Refused::MalformedKey.into());
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
    testpoint::pause("gate.scratch");
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
    Refused::Vanished(worktree.to_path_buf()).into()
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
