//! Step 4 of the workflow: merge a branch into base, in the worktree where base is checked out,
//! only when its checks passed on exactly the content being merged and git predicts no conflict;
//! then run post_merge in the main worktree and clean up.
//!
//! [`plan`] works everything out without changing anything (the popup shows it as the
//! confirmation or the refusal); [`merge`] carries a plan out.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use git2::{BranchType, Oid, Repository};
use serde::{Deserialize, Serialize};

use super::check::{self, CheckState};
use super::config::{Gate, MergeStrategy};
use super::error::{Error, Result, list_for_message};
use super::git::{self, Git, MergePrediction};
use super::state::{copy_tail, key_of, read_json, write_json};
use super::worktree::{self, RemoveOptions, Removed, Worktree, plural};
use super::{Project, now_unix, status};

#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    pub strategy: Option<MergeStrategy>,
    /// Commit the branch worktree's uncommitted changes with this message first.
    pub commit_message: Option<String>,
    /// Keep worktree, branch and window after the merge.
    pub keep: bool,
    /// Merge even though the checks have not passed on this content.
    pub force: bool,
}

/// A reason a merge cannot go ahead as asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Blocker {
    IsBase,
    BaseNotCheckedOut,
    NothingToMerge,
    BranchDirty {
        files: Vec<String>,
    },
    BaseDirty {
        files: Vec<String>,
    },
    ChecksNotPassed {
        state: CheckState,
        name: Option<String>,
    },
    Conflicts {
        files: Vec<String>,
    },
    RebaseNeedsWorktree,
}

impl Blocker {
    /// Only the check gate gives way to `--force`.
    pub fn forceable(&self) -> bool {
        matches!(self, Blocker::ChecksNotPassed { .. })
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::IsBase => write!(f, "it is the base branch"),
            Blocker::BaseNotCheckedOut => write!(
                f,
                "base is not checked out in any worktree (check it out in the main worktree)"
            ),
            Blocker::NothingToMerge => {
                write!(f, "it has nothing that base lacks (wtmux remove it)")
            }
            Blocker::BranchDirty { files } => write!(
                f,
                "its worktree has {} uncommitted file{} ({}): commit them, or pass --commit MSG",
                files.len(),
                plural(files.len()),
                list_for_message(files, 5)
            ),
            Blocker::BaseDirty { files } => write!(
                f,
                "the base worktree has {} uncommitted file{} ({}): commit or stash them there",
                files.len(),
                plural(files.len()),
                list_for_message(files, 5)
            ),
            Blocker::ChecksNotPassed { state, name } => match (state, name) {
                (CheckState::Failed, Some(name)) => write!(
                    f,
                    "check {name:?} failed on this content (wtmux check --wait; --force merges anyway)"
                ),
                (CheckState::Running, _) => {
                    write!(f, "its checks are still running (wtmux check --wait)")
                }
                (CheckState::Stale, _) => write!(
                    f,
                    "its checks ran on other content than is being merged (wtmux check --wait; --force merges anyway)"
                ),
                _ => write!(
                    f,
                    "its checks have not run on this content (wtmux check --wait; --force merges anyway)"
                ),
            },
            Blocker::Conflicts { files } => write!(
                f,
                "merging would conflict in {} file{}: {} (merge base into the branch and resolve there)",
                files.len(),
                plural(files.len()),
                list_for_message(files, 8)
            ),
            Blocker::RebaseNeedsWorktree => {
                write!(f, "--strategy rebase needs the branch's worktree")
            }
        }
    }
}

/// Everything a merge would do, worked out without changing anything.
#[derive(Debug, Clone)]
pub struct MergePlan {
    pub branch: String,
    pub base: String,
    pub strategy: MergeStrategy,
    pub branch_worktree: Option<Worktree>,
    pub base_worktree: Option<Worktree>,
    pub base_commit: Oid,
    /// The branch tip now.
    pub tip: Oid,
    /// The content that would be merged: the tip's tree plus, with `--commit`, what is
    /// uncommitted.
    pub content_tree: Oid,
    /// A commit of that content (the tip itself when nothing is uncommitted).
    pub content_commit: Oid,
    pub dirty: Vec<String>,
    /// Commits base would gain: (id, subject), newest first.
    pub commits: Vec<(Oid, String)>,
    pub check: CheckState,
    pub checks_configured: bool,
    pub blockers: Vec<Blocker>,
    /// Active branches that would start conflicting once this one is merged.
    pub warnings: Vec<String>,
    pub options: MergeOptions,
}

impl MergePlan {
    /// Blockers that stop this merge given its options.
    pub fn refusals(&self) -> Vec<&Blocker> {
        self.blockers
            .iter()
            .filter(|b| !(self.options.force && b.forceable()))
            .collect()
    }

    /// The merge goes ahead although the checks did not pass.
    pub fn forced_past_checks(&self) -> bool {
        self.options.force && self.blockers.iter().any(Blocker::forceable)
    }
}

/// Works out a merge of `name` (a branch or worktree; default: the current worktree's branch).
pub fn plan(project: &Project, name: Option<&str>, options: &MergeOptions) -> Result<MergePlan> {
    let repo = project.repo()?;
    let all = worktree::worktrees(project)?;
    let (branch, branch_worktree) = match name {
        Some(name) => match worktree::find(project, name) {
            Ok(w) => (w.branch.clone(), Some(w)),
            Err(_) if repo.find_branch(name, BranchType::Local).is_ok() => {
                (Some(name.to_string()), None)
            }
            Err(e) => return Err(e),
        },
        None => {
            let w = worktree::current(project)?;
            (w.branch.clone(), Some(w))
        }
    };
    let branch = branch
        .ok_or_else(|| Error::refused("that worktree has no branch checked out (detached HEAD)"))?;
    let branch_worktree = branch_worktree.filter(|w| !w.prunable);
    let base = project.base.clone();
    let base_commit = git::resolve_commit(&repo, &format!("refs/heads/{base}"))
        .map_err(|_| Error::UnknownRevision(base.clone()))?;
    let base_worktree = all
        .iter()
        .find(|w| w.branch.as_deref() == Some(base.as_str()) && !w.prunable)
        .cloned();
    let strategy = options.strategy.unwrap_or(project.config.merge_strategy);
    let mut blockers = Vec::new();
    if branch == base {
        blockers.push(Blocker::IsBase);
    }

    let tip = git::resolve_commit(&repo, &format!("refs/heads/{branch}"))?;
    let (dirty, content_tree, content_commit) = match &branch_worktree {
        Some(w) => {
            let wt_repo = Repository::open(&w.path)?;
            let changes = worktree::changes(project, &wt_repo, &w.path)?;
            if changes.is_empty() {
                (Vec::new(), repo.find_commit(tip)?.tree_id(), tip)
            } else {
                let tree = status::content_tree(&wt_repo, &changes)?;
                let commit = git::content_commit(&wt_repo, tree, "wtmux: predicted merge content")?;
                (changes.paths(), tree, commit)
            }
        }
        None => (Vec::new(), repo.find_commit(tip)?.tree_id(), tip),
    };
    if !dirty.is_empty() && options.commit_message.is_none() {
        blockers.push(Blocker::BranchDirty {
            files: dirty.clone(),
        });
    }
    match &base_worktree {
        None => blockers.push(Blocker::BaseNotCheckedOut),
        Some(w) => {
            let base_repo = Repository::open(&w.path)?;
            let tracked_changes = tracked_changes(&base_repo)?;
            if !tracked_changes.is_empty() {
                blockers.push(Blocker::BaseDirty {
                    files: tracked_changes,
                });
            }
        }
    }
    let commits = git::commits_between(&repo, base_commit, tip)?;
    if commits.is_empty() && dirty.is_empty() && branch != base {
        blockers.push(Blocker::NothingToMerge);
    }
    if strategy == MergeStrategy::Rebase && branch_worktree.is_none() {
        blockers.push(Blocker::RebaseNeedsWorktree);
    }

    let checks_configured = !project.config.checks.is_empty();
    let check = if checks_configured {
        match check::result_for_tree(project, content_tree)? {
            Some(outcome) if outcome.passed => CheckState::Passed,
            Some(_) => CheckState::Failed,
            None => match &branch_worktree {
                Some(w) => match check::status_of(project, w)?.state {
                    CheckState::Running => CheckState::Running,
                    CheckState::None => CheckState::None,
                    _ => CheckState::Stale,
                },
                None => CheckState::None,
            },
        }
    } else {
        CheckState::None
    };
    if checks_configured && check != CheckState::Passed {
        let name = match check {
            CheckState::Failed => {
                check::result_for_tree(project, content_tree)?.and_then(|o| o.failed)
            }
            _ => None,
        };
        blockers.push(Blocker::ChecksNotPassed { state: check, name });
    }

    if let MergePrediction::Conflicts { paths } =
        git::predict_merge(&project.common_dir, base_commit, content_commit)?
    {
        blockers.push(Blocker::Conflicts { files: paths });
    }

    let warnings = super::scope::analyze(project)
        .map(|report| super::scope::merge_warnings(&report, &branch))
        .unwrap_or_default();
    Ok(MergePlan {
        branch,
        base,
        strategy,
        branch_worktree,
        base_worktree,
        base_commit,
        tip,
        content_tree,
        content_commit,
        dirty,
        commits,
        check,
        checks_configured,
        blockers,
        warnings,
        options: options.clone(),
    })
}

/// Tracked files with changes (untracked files never stop a merge into base; git refuses by
/// itself if one would be overwritten, and the merge is then undone).
fn tracked_changes(repo: &Repository) -> Result<Vec<String>> {
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    Ok(repo
        .statuses(Some(&mut options))?
        .iter()
        .filter(|e| e.status() != git2::Status::CURRENT)
        .filter_map(|e| e.path().ok().map(str::to_string))
        .collect())
}

/// What a finished merge did.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    pub branch: String,
    pub base: String,
    pub strategy: MergeStrategy,
    /// Base's new tip.
    pub commit: String,
    /// The commit `--commit` made on the branch first.
    pub committed: Option<String>,
    /// The checks had not passed and `--force` merged anyway.
    pub forced_past_checks: bool,
    pub post_merge: Option<PostMerge>,
    pub removed: Option<Removed>,
    /// Cleanup failed after a successful merge (the merge stands).
    pub cleanup_error: Option<String>,
}

/// Merges as planned; refuses, changing nothing, when the plan has blockers.
pub fn merge(
    project: &Project,
    name: Option<&str>,
    options: &MergeOptions,
    post_merge_output: &mut dyn Write,
) -> Result<Merged> {
    let plan = plan(project, name, options)?;
    execute(project, &plan, post_merge_output)
}

/// `merge --all-green`: every green branch, one by one, in the scope guard's merge order.
/// Stops at the first that fails (base then holds the merges before it, and nothing of that
/// one); returns the order, with the branches that could not follow.
pub fn merge_all_green(
    project: &Project,
    options: &MergeOptions,
    post_merge_output: &mut dyn Write,
    on_merged: &mut dyn FnMut(&Merged),
) -> Result<super::scope::MergeOrder> {
    let order = super::scope::analyze(project)?.merge_order;
    for branch in &order.order {
        let merged = merge(project, Some(branch), options, post_merge_output)
            .map_err(|e| Error::refused(format!("stopped at {branch}: {e}")))?;
        on_merged(&merged);
    }
    Ok(order)
}

/// Carries out a plan.
pub fn execute(
    project: &Project,
    plan: &MergePlan,
    post_merge_output: &mut dyn Write,
) -> Result<Merged> {
    let refusals = plan.refusals();
    if !refusals.is_empty() {
        let reasons: Vec<String> = refusals.iter().map(|b| b.to_string()).collect();
        return Err(Error::refused(format!(
            "not merging {} into {}: {}",
            plan.branch,
            plan.base,
            reasons.join("; ")
        )));
    }
    let base_worktree = plan
        .base_worktree
        .as_ref()
        .expect("a plan without a base worktree is refused");

    let mut tip = plan.tip;
    let mut committed = None;
    if !plan.dirty.is_empty()
        && let (Some(message), Some(w)) = (&plan.options.commit_message, &plan.branch_worktree)
    {
        Git::new(&w.path).args(["add", "-A"]).run()?;
        Git::new(&w.path).args(["commit", "-m", message]).run()?;
        let wt_repo = Repository::open(&w.path)?;
        tip = git::head_commit(&wt_repo).ok_or_else(|| Error::refused("commit failed"))?;
        committed = Some(tip.to_string());
        if wt_repo.find_commit(tip)?.tree_id() != plan.content_tree {
            return Err(Error::refused(format!(
                "committed {}, but a commit hook changed the content: check it again before merging",
                git::short(tip)
            )));
        }
    }

    let base_dir = &base_worktree.path;
    let base_repo = Repository::open(base_dir)?;
    if git::head_commit(&base_repo) != Some(plan.base_commit) {
        return Err(Error::refused(format!(
            "{} moved while merging was being prepared; try again",
            plan.base
        )));
    }
    if project.config.gate == Gate::Merged && plan.checks_configured && !plan.options.force {
        gate_merge_result(project, plan, tip)?;
    }
    let merged = match plan.strategy {
        MergeStrategy::Merge => Git::new(base_dir)
            .args(["merge", "--no-edit", "-m"])
            .arg(format!("Merge branch '{}'", plan.branch))
            .arg(tip.to_string())
            .run()
            .map(|_| ()),
        MergeStrategy::Squash => squash(base_dir, plan, tip),
        MergeStrategy::Rebase => rebase(base_dir, plan),
    };
    if let Err(error) = merged {
        undo_merge(base_dir, plan.base_commit);
        return Err(error);
    }
    let commit = git::head_commit(&Repository::open(base_dir)?)
        .map(|c| c.to_string())
        .unwrap_or_default();

    let post_merge = match &project.config.post_merge {
        Some(command) => Some(run_post_merge(project, command, post_merge_output)?),
        None => None,
    };

    let mut removed = None;
    let mut cleanup_error = None;
    if !plan.options.keep {
        match cleanup(project, plan) {
            Ok(done) => removed = done,
            Err(e) => cleanup_error = Some(e.to_string()),
        }
    }
    Ok(Merged {
        branch: plan.branch.clone(),
        base: plan.base.clone(),
        strategy: plan.strategy,
        commit,
        committed,
        forced_past_checks: plan.forced_past_checks(),
        post_merge,
        removed,
        cleanup_error,
    })
}

/// `gate = "merged"`: the merge result itself must pass the checks before base moves. It is
/// the tree git's merge will produce, committed as an object and checked in a scratch worktree
/// (or known to have passed already: results are keyed by content).
fn gate_merge_result(project: &Project, plan: &MergePlan, tip: Oid) -> Result<()> {
    let repo = project.repo()?;
    let out = Git::new(&project.main_worktree)
        .args(["merge-tree", "--write-tree", "--no-messages"])
        .arg(plan.base_commit.to_string())
        .arg(tip.to_string())
        .output()?;
    if !out.status.success() {
        return Err(Error::refused(format!(
            "not merging {}: the merge result could not be formed ({})",
            plan.branch,
            git::failure_detail(&out)
        )));
    }
    let tree = Oid::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim(),
    )?;
    let signature = git::wtmux_signature()?;
    let parents = [repo.find_commit(plan.base_commit)?, repo.find_commit(tip)?];
    let commit = repo.commit(
        None,
        &signature,
        &signature,
        &format!(
            "wtmux: merge result of {} into {}, to check",
            plan.branch, plan.base
        ),
        &repo.find_tree(tree)?,
        &[&parents[0], &parents[1]],
    )?;
    let outcome = check::verify_commit(project, commit)?;
    if outcome.passed {
        return Ok(());
    }
    Err(Error::refused(format!(
        "not merging {} into {}: check {:?} failed on the merge result (exit {}, log: {}); {} is unchanged",
        plan.branch,
        plan.base,
        outcome.failed.unwrap_or_default(),
        outcome.exit_code.unwrap_or(-1),
        outcome
            .log
            .map(|l| l.display().to_string())
            .unwrap_or_default(),
        plan.base
    )))
}

fn squash(base_dir: &std::path::Path, plan: &MergePlan, tip: Oid) -> Result<()> {
    Git::new(base_dir)
        .args(["merge", "--squash"])
        .arg(tip.to_string())
        .run()?;
    let mut message = format!("Squash-merge branch '{}'\n\n", plan.branch);
    for (id, subject) in plan.commits.iter().rev() {
        message.push_str(&format!("* {} {subject}\n", git::short(*id)));
    }
    Git::new(base_dir)
        .args(["commit", "-m", &message])
        .run()
        .map(|_| ())
}

fn rebase(base_dir: &std::path::Path, plan: &MergePlan) -> Result<()> {
    let branch_dir = &plan
        .branch_worktree
        .as_ref()
        .expect("a rebase plan without a worktree is refused")
        .path;
    if let Err(error) = Git::new(branch_dir)
        .arg("rebase")
        .arg(plan.base_commit.to_string())
        .run()
    {
        let _ = Git::new(branch_dir).args(["rebase", "--abort"]).run();
        return Err(Error::refused(format!(
            "rebasing {} onto {} stopped ({error}); the branch is as it was: try --strategy merge",
            plan.branch, plan.base
        )));
    }
    Git::new(base_dir)
        .args(["merge", "--ff-only", &plan.branch])
        .run()
        .map(|_| ())
}

/// Puts base back exactly where it was after a failed merge.
fn undo_merge(base_dir: &std::path::Path, base_commit: Oid) {
    let _ = Git::new(base_dir).args(["merge", "--abort"]).run();
    let _ = Git::new(base_dir).args(["reset", "--merge"]).run();
    let moved = Repository::open(base_dir)
        .ok()
        .and_then(|r| git::head_commit(&r))
        .is_some_and(|head| head != base_commit);
    if moved {
        let _ = Git::new(base_dir)
            .args(["reset", "--keep"])
            .arg(base_commit.to_string())
            .run();
    }
}

fn cleanup(project: &Project, plan: &MergePlan) -> Result<Option<Removed>> {
    let remove = RemoveOptions {
        force: true, // everything is saved to the trash first; squashed commits look unmerged
        keep_branch: false,
    };
    match &plan.branch_worktree {
        Some(w) if !w.is_main => {
            let removal = worktree::plan_remove(project, &plan.branch)?;
            worktree::execute_remove(project, &removal, &remove).map(Some)
        }
        Some(_) => Ok(None),
        None => {
            let detached = Worktree {
                branch: Some(plan.branch.clone()),
                path: PathBuf::new(),
                is_main: false,
                prunable: true,
                locked: false,
            };
            super::trash::save(project, &detached, &[])?;
            Git::new(&project.main_worktree)
                .args(["branch", "-D", &plan.branch])
                .run()?;
            Ok(None)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// post_merge

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
fn run_post_merge(project: &Project, command: &str, output: &mut dyn Write) -> Result<PostMerge> {
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
                &super::own_command(&[POST_MERGE_COMMAND, &key])?,
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
