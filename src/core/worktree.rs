//! Steps 1 and 5 of the workflow: create a worktree (branch, directory, window, agent), list and
//! open them, and remove them again without losing anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{BranchType, Oid, Repository};
use serde::Serialize;

use super::agent::{self, AgentStatus};
use super::check::{self, CheckStatus};
use super::error::{Error, Result, list_for_message};
use super::git::{self, Git};
use super::journal::{Journal, Record};
use super::operation::{self, Operation};
use super::oplock::OpLock;
use super::tmux::{KillOutcome, Window};
use super::trash::{self, TrashEntry};
use super::{Project, add_rollback, branch, canonical, parallel_map, scope, status};

/// A worktree of the repository, as git records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    /// `None` when HEAD is detached.
    pub branch: Option<String>,
    pub path: PathBuf,
    pub is_main: bool,
    /// Its directory is gone (`git worktree prune` would drop it).
    pub prunable: bool,
    pub locked: bool,
}

impl Worktree {
    /// The branch, or a stand-in for messages when HEAD is detached.
    pub fn label(&self) -> String {
        self.branch
            .clone()
            .unwrap_or_else(|| format!("(detached) {}", self.path.display()))
    }
}

/// Every worktree: the main one first, then the others by path.
pub fn worktrees(project: &Project) -> Result<Vec<Worktree>> {
    let repo = project.repo()?;
    let mut all = vec![Worktree {
        branch: git::head_branch(&repo)?.or_else(|| rebasing_branch(&project.common_dir)),
        path: project.main_worktree.clone(),
        is_main: true,
        prunable: false,
        locked: false,
    }];
    let names = repo.worktrees()?;
    let mut linked = Vec::new();
    for name in names.iter().flatten().flatten() {
        let Ok(worktree) = repo.find_worktree(name) else {
            continue;
        };
        let prunable = worktree.validate().is_err();
        // The worktree's HEAD lives in its admin dir, readable without opening the worktree
        // (and still there when its directory is gone).
        let admin = project.common_dir.join("worktrees").join(name);
        let branch = admin_branch(&admin);
        linked.push(Worktree {
            branch,
            path: canonical(worktree.path()),
            is_main: false,
            prunable,
            locked: !matches!(worktree.is_locked(), Ok(git2::WorktreeLockStatus::Unlocked)),
        });
    }
    linked.sort_by(|a, b| a.path.cmp(&b.path));
    all.extend(linked);
    Ok(all)
}

/// The worktree at `path`, as [`worktrees`] lists it, reading only that worktree's own git
/// files (a refresh of one row must not cost as much as listing all); `None` when git knows no
/// worktree there any more.
pub fn at(project: &Project, path: &Path) -> Result<Option<Worktree>> {
    if path == project.main_worktree {
        return Ok(Some(Worktree {
            branch: git::head_branch(&project.repo()?)?
                .or_else(|| rebasing_branch(&project.common_dir)),
            path: path.to_path_buf(),
            is_main: true,
            prunable: false,
            locked: false,
        }));
    }
    // A linked worktree's `.git` file names its admin dir under the common dir.
    let admin = std::fs::read_to_string(path.join(".git"))
        .ok()
        .and_then(|text| text.trim().strip_prefix("gitdir: ").map(|d| path.join(d)))
        .map(|admin| canonical(&admin))
        .filter(|admin| {
            admin.parent() == Some(project.common_dir.join("worktrees").as_path())
                && admin.join("HEAD").exists()
        });
    let Some(admin) = admin else {
        // Gone, or its directory is (git may still list it, as prunable): ask the full list.
        return Ok(worktrees(project)?.into_iter().find(|w| w.path == path));
    };
    let branch = admin_branch(&admin);
    Ok(Some(Worktree {
        branch,
        path: path.to_path_buf(),
        is_main: false,
        prunable: false,
        locked: admin.join("locked").exists(),
    }))
}

/// The branch of the linked worktree whose admin dir is `admin`, read from its HEAD there
/// (readable without opening the worktree, and still there when its directory is gone); the
/// branch being rebased when a rebase stopped half way.
fn admin_branch(admin: &Path) -> Option<String> {
    std::fs::read_to_string(admin.join("HEAD"))
        .ok()
        .and_then(|head| {
            head.trim()
                .strip_prefix("ref: refs/heads/")
                .map(str::to_string)
        })
        .or_else(|| rebasing_branch(admin))
}

/// The branch a rebase stopped half way in the worktree with git dir `git_dir` is rewriting:
/// HEAD is detached meanwhile, but the branch is as good as checked out there (git refuses to
/// delete it), so wtmux must find the worktree by it.
fn rebasing_branch(git_dir: &Path) -> Option<String> {
    ["rebase-merge", "rebase-apply"].iter().find_map(|dir| {
        std::fs::read_to_string(git_dir.join(dir).join("head-name"))
            .ok()
            .and_then(|name| name.trim().strip_prefix("refs/heads/").map(str::to_string))
    })
}

/// The worktree named by `name`: a branch, else a worktree directory name (slug) or a path.
/// An exact branch name always wins: when a local branch `name` exists, only its worktree
/// answers (none, if it has none), never another branch's directory called `name` — `a-b` is
/// never `a/b`. A name that fits several worktrees otherwise is refused with the candidates.
pub fn find(project: &Project, name: &str) -> Result<Worktree> {
    let all = worktrees(project)?;
    if let Some(w) = all.iter().find(|w| w.branch.as_deref() == Some(name)) {
        return Ok(w.clone());
    }
    let repo = project.repo()?;
    if repo.find_reference(&format!("refs/heads/{name}")).is_ok() {
        return Err(Error::UnknownWorktree(name.to_string()));
    }
    let as_path = canonical(&project.current_dir.join(name));
    let candidates: Vec<&Worktree> = all
        .iter()
        .filter(|w| {
            (!w.is_main && w.path.file_name().is_some_and(|f| f == name)) || w.path == as_path
        })
        .collect();
    match candidates.as_slice() {
        [] => Err(Error::UnknownWorktree(name.to_string())),
        [one] => Ok((*one).clone()),
        several => Err(Error::AmbiguousName {
            name: name.to_string(),
            candidates: several
                .iter()
                .map(|w| format!("{} ({})", w.label(), w.path.display()))
                .collect(),
        }),
    }
}

/// The worktree the command was started in.
pub fn current(project: &Project) -> Result<Worktree> {
    worktrees(project)?
        .into_iter()
        .filter(|w| project.current_dir.starts_with(&w.path))
        .max_by_key(|w| w.path.as_os_str().len())
        .ok_or(Error::NotInWorktree)
}

/// `find` when a name is given, else the current worktree.
pub fn find_or_current(project: &Project, name: Option<&str>) -> Result<Worktree> {
    match name {
        Some(name) => find(project, name),
        None => current(project),
    }
}

// ---------------------------------------------------------------------------------------------
// list

/// One row of `wtmux list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Row {
    pub branch: Option<String>,
    pub path: PathBuf,
    pub is_main: bool,
    pub prunable: bool,
    /// Short id of HEAD; `None` on an unborn branch or a prunable worktree.
    pub head: Option<String>,
    pub subject: Option<String>,
    /// Unix time of HEAD's commit.
    pub commit_time: Option<i64>,
    /// Files that differ from HEAD: staged, unstaged, untracked.
    pub changed: usize,
    /// Commits HEAD has that base lacks, and the other way round.
    pub ahead: usize,
    pub behind: usize,
    /// The id of the worktree's tagged tmux window, when it has one.
    pub window: Option<String>,
    pub check: CheckStatus,
    pub agent: AgentStatus,
    /// A git operation (rebase, merge, …) stopped half way in this worktree.
    #[serde(default)]
    pub operation: Option<Operation>,
}

impl Row {
    /// A worktree's row before anything about it is read.
    pub fn bare(worktree: &Worktree) -> Row {
        Row {
            branch: worktree.branch.clone(),
            path: worktree.path.clone(),
            is_main: worktree.is_main,
            prunable: worktree.prunable,
            head: None,
            subject: None,
            commit_time: None,
            changed: 0,
            ahead: 0,
            behind: 0,
            window: None,
            check: CheckStatus::none(),
            agent: AgentStatus::none(),
            operation: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Listing {
    pub base: String,
    pub main_worktree: PathBuf,
    pub worktrees: Vec<Row>,
}

/// Every worktree with its live status, computed in parallel in this process (no git process
/// per worktree).
pub fn list(project: &Project) -> Result<Listing> {
    let all = worktrees(project)?;
    // tmux answers in a separate process: ask it (once) while the worktrees are read.
    let snapshot = std::thread::spawn({
        let tmux = project.tmux.clone();
        move || tmux?.snapshot().ok()
    });
    let base_commit = project.base_commit()?;
    let monitor = super::fsmonitor::sync(project);
    let mut worktrees = parallel_map(&all, |w| row(project, w, base_commit, monitor.as_deref()))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    if monitor.is_none() {
        super::fsmonitor::start(project);
    }
    let snapshot = snapshot.join().ok().flatten();
    fill_tmux_fields(project, &mut worktrees, snapshot.as_ref())?;
    Ok(Listing {
        base: project.base.clone(),
        main_worktree: project.main_worktree.clone(),
        worktrees,
    })
}

/// The window and agent of each row, from one tmux snapshot (`None`: outside tmux).
fn fill_tmux_fields(
    project: &Project,
    rows: &mut [Row],
    snapshot: Option<&super::tmux::Snapshot>,
) -> Result<()> {
    let paths: Vec<&Path> = rows.iter().map(|r| r.path.as_path()).collect();
    let agents = agent::statuses(project, &paths, snapshot)?;
    for (row, agent) in rows.iter_mut().zip(agents) {
        row.window = snapshot
            .and_then(|s| s.windows.get(&row.path))
            .map(|w| w.id.clone());
        row.agent = agent;
    }
    Ok(())
}

/// The list row of one worktree.
pub fn list_row(project: &Project, worktree: &Worktree) -> Result<Row> {
    Ok(list_rows(project, std::slice::from_ref(worktree))?.remove(0))
}

/// The rows of some worktrees: each reads only its own worktree, and tmux is asked once for
/// all of them.
pub fn list_rows(project: &Project, worktrees: &[Worktree]) -> Result<Vec<Row>> {
    let snapshot = std::thread::spawn({
        let tmux = project.tmux.clone();
        move || tmux?.snapshot().ok()
    });
    let base_commit = project.base_commit()?;
    let monitor = super::fsmonitor::sync(project);
    let mut rows = parallel_map(worktrees, |w| {
        row(project, w, base_commit, monitor.as_deref())
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let snapshot = snapshot.join().ok().flatten();
    fill_tmux_fields(project, &mut rows, snapshot.as_ref())?;
    Ok(rows)
}

/// What the popup's detail pane shows of a worktree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// Commits the worktree has that base lacks: (short id, subject), newest first.
    pub commits: Vec<(String, String)>,
    /// The running check's log, else the latest run's failed (or last) check's.
    pub log: Option<PathBuf>,
    pub log_tail: Vec<String>,
    /// The last lines its agent's pane shows.
    pub agent_tail: Vec<String>,
}

/// The detail of one worktree: its unmerged commits and the tail of its check log.
pub fn detail(project: &Project, worktree: &Worktree, log_lines: usize) -> Result<Detail> {
    let mut detail = Detail::default();
    if worktree.prunable {
        return Ok(detail);
    }
    let repo = Repository::open(&worktree.path)?;
    let base = project.base_commit()?;
    if let (Some(head), Some(base)) = (git::head_commit(&repo), base) {
        detail.commits = git::commits_between(&repo, base, head)?
            .into_iter()
            .take(20)
            .map(|(id, subject)| (git::short(id), subject))
            .collect();
    }
    if let (Some(tmux), Some(record)) =
        (&project.tmux, agent::read_record(project, &worktree.path)?)
        && let Some(pane) = &record.pane
        && let Ok(screen) = tmux.capture(pane)
    {
        let lines: Vec<&str> = screen.lines().collect();
        let end = lines
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .map_or(0, |i| i + 1);
        detail.agent_tail = lines[end.saturating_sub(log_lines.min(12))..end]
            .iter()
            .map(|l| l.to_string())
            .collect();
    }
    detail.log = check::current_log(project, worktree)?;
    if let Some(log) = &detail.log {
        detail.log_tail = tail_lines(log, log_lines);
    }
    Ok(detail)
}

/// The last `n` lines of a file (reading at most its last 64 KiB).
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

fn row(
    project: &Project,
    worktree: &Worktree,
    base_commit: Option<Oid>,
    monitor: Option<&str>,
) -> Result<Row> {
    let mut row = Row::bare(worktree);
    if worktree.prunable {
        return Ok(row);
    }
    let repo = Repository::open(&worktree.path)?;
    let head = git::head_commit(&repo);
    if let Some(id) = head {
        let commit = repo.find_commit(id)?;
        row.head = Some(git::short(id));
        row.subject = commit.summary().ok().flatten().map(str::to_string);
        row.commit_time = Some(commit.time().seconds());
        if let Some(base) = base_commit {
            let (ahead, behind) = repo.graph_ahead_behind(id, base)?;
            row.ahead = ahead;
            row.behind = behind;
        }
    }
    row.operation = operation::in_progress(&repo)?;
    let changes = super::fsmonitor::changes_for_display(project, &repo, &worktree.path, monitor)?;
    row.changed = changes.count();
    row.check = check::status(project, &worktree.path, &changes, monitor)?;
    Ok(row)
}

// ---------------------------------------------------------------------------------------------
// add

#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Start point of a new branch; default: the configured base.
    pub base: Option<String>,
    pub no_window: bool,
    pub no_agent: bool,
    /// A named agent from `[agents]` instead of the default one.
    pub agent: Option<String>,
    /// The agent's task.
    pub prompt: Option<String>,
    /// Globs of the files this worktree is meant to change (the scope guard flags others).
    pub scope: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub branch: String,
    pub path: PathBuf,
    /// False when an existing branch was checked out.
    pub created_branch: bool,
    pub window: Option<String>,
    /// Why no window was made, when none was.
    pub no_window_reason: Option<String>,
    /// The agent started in the window.
    pub agent: Option<String>,
}

/// Creates branch (unless it exists), worktree and window, applies copy/symlink/post_create and
/// starts the agent. A failure before the window leaves nothing behind.
pub fn add(project: &Project, branch_name: &str, options: &AddOptions) -> Result<Added> {
    branch::validate(branch_name)?;
    if !project.config.post_create.is_empty() {
        project.config.require_trusted("post_create")?;
    }
    let agent = if options.no_agent {
        None
    } else {
        project.config.agent(options.agent.as_deref())?
    };
    scope::validate_globs(&options.scope)?;
    if options.prompt.is_some() && agent.is_none() {
        return Err(Error::refused(
            "a prompt needs an agent: configure `agent` or [agents], or pass --agent NAME",
        ));
    }
    let repo = project.repo()?;
    let path = project.worktree_dir().join(branch::slug(branch_name));
    let all = worktrees(project)?;
    check_worktree_dir(project, &repo, &all)?;
    if let Some(existing) = all
        .iter()
        .find(|w| w.branch.as_deref() == Some(branch_name))
    {
        return Err(Error::BranchCheckedOut {
            branch: branch_name.to_string(),
            path: existing.path.clone(),
        });
    }
    if path.exists() || all.iter().any(|w| w.path == path) {
        return Err(Error::PathOccupied(path));
    }
    // The window's session, found before anything is created: a tmux that does not answer
    // must not leave a worktree behind.
    let session = match (&project.tmux, options.no_window) {
        (Some(tmux), false) => Some(tmux.current_session().map_err(|e| {
            Error::refused(format!(
                "tmux does not answer ({e}); nothing created (--no-window works without it)"
            ))
        })?),
        _ => None,
    };
    let existing_branch = repo.find_branch(branch_name, BranchType::Local).is_ok();
    let start_point = match (existing_branch, &options.base) {
        (true, _) => None,
        (false, Some(rev)) => Some(git::resolve_commit(&repo, rev)?),
        (false, None) => Some(project.require_base_commit()?),
    };

    ensure_excluded(project)?;
    // A dead add of the same name must be taken back before this one makes anything (the CLI
    // has done it already; a long-lived popup may not have).
    let _ = super::journal::recover(project);
    let intent = add_rollback::Intent {
        branch: branch_name.to_string(),
        path: path.clone(),
        created_at: start_point.map(|s| s.to_string()),
    };
    let mut journal = Journal::begin_unlocked(
        project,
        add_rollback::KIND,
        &format!("add of {branch_name}"),
        &intent,
    )?;
    let mut add = Git::new(&project.main_worktree).args(["worktree", "add"]);
    add = match start_point {
        Some(start) => add
            .args(["-b", branch_name])
            .arg(&path)
            .arg(start.to_string()),
        None => add.arg(&path).arg(branch_name),
    };
    let path = match add.run() {
        Ok(_) => canonical(&path),
        Err(error) => {
            // git cleans up after itself; a branch it made before failing is taken back.
            let _ = add_rollback::roll_back(project, &intent);
            journal.finish()?;
            return Err(error);
        }
    };
    journal.step("worktree-added")?;

    let undo = |error: Error| -> Error {
        // Deleting is done under the operation lock, like every deletion (unless this process
        // holds it already: a restore adds under its own lock).
        let _lock = if OpLock::held_by_this_thread(project) {
            None
        } else {
            OpLock::acquire(
                project,
                &format!("undo of adding {branch_name}"),
                &mut |_| {},
            )
            .ok()
        };
        let _ = add_rollback::roll_back(project, &intent);
        error
    };
    if let Err(error) = provision(project, branch_name, &path)
        .and_then(|()| scope::declare(project, &path, &options.scope))
    {
        let error = undo(error);
        journal.finish()?;
        return Err(error);
    }
    journal.step("provisioned")?;
    journal.finish()?;

    let mut added = Added {
        branch: branch_name.to_string(),
        path: path.clone(),
        created_branch: start_point.is_some(),
        window: None,
        no_window_reason: None,
        agent: None,
    };
    if options.no_window {
        added.no_window_reason = Some("--no-window".into());
        return Ok(added);
    }
    let (Some(tmux), Some(session)) = (&project.tmux, session) else {
        added.no_window_reason = Some("not inside tmux".into());
        return Ok(added);
    };
    let command = match &agent {
        Some(spec) => agent::prepare(project, &path, branch_name, spec, options.prompt.as_deref())?,
        None => Vec::new(),
    };
    let window = open_window(project, tmux, &session, branch_name, &path, &command)?;
    if let Some(spec) = &agent {
        agent::started(project, &path, &window, options.prompt.as_deref())?;
        added.agent = Some(spec.name.clone());
    }
    added.window = Some(window);
    Ok(added)
}

/// `worktree_dir` as the repository sees it, before anything is created there: not tracked
/// (once excluded, new files there would vanish from status), not leading out of the main
/// worktree through a symlink, and — when it exists already and is not empty — already holding
/// worktrees of this repository (not somebody's build output).
fn check_worktree_dir(project: &Project, repo: &Repository, all: &[Worktree]) -> Result<()> {
    let setting = &project.config.worktree_dir;
    let refuse = |why: String| {
        Error::Config(format!(
            "worktree_dir {:?} {why}",
            setting.display().to_string()
        ))
    };
    let relative = setting.to_string_lossy();
    let prefix = format!("{}/", relative.trim_end_matches('/'));
    let tracked = repo.index()?.iter().any(|entry| {
        entry.path.starts_with(prefix.as_bytes())
            || entry.path == prefix.as_bytes()[..prefix.len() - 1]
    });
    if tracked {
        return Err(refuse(
            "holds tracked files: choose a directory of its own (e.g. \".worktrees\")".into(),
        ));
    }
    let dir = project.worktree_dir();
    if std::fs::symlink_metadata(&dir).is_err() {
        return Ok(()); // new
    }
    if !canonical(&dir).starts_with(&project.main_worktree) {
        return Err(refuse("leads outside the main worktree (a symlink)".into()));
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .flatten()
        .map(|e| canonical(&e.path()))
        .collect();
    let used = entries
        .iter()
        .any(|path| all.iter().any(|w| &w.path == path));
    if let Some(first) = entries.first().filter(|_| !used) {
        return Err(refuse(format!(
            "already holds {} and no worktree of this repository: choose a new directory",
            first.display()
        )));
    }
    Ok(())
}

/// Copies and symlinks the configured untracked files, then runs post_create.
fn provision(project: &Project, branch_name: &str, path: &Path) -> Result<()> {
    let main = &project.main_worktree;
    for (patterns, link) in [
        (&project.config.copy, false),
        (&project.config.symlink, true),
    ] {
        for pattern in patterns {
            for source in matches(main, &project.config.worktree_dir, pattern)? {
                let relative = source.strip_prefix(main).unwrap_or(&source);
                let target = path.join(relative);
                if target.exists() || target.is_symlink() {
                    continue; // tracked, so already checked out
                }
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                let done = if link {
                    std::os::unix::fs::symlink(&source, &target)
                } else {
                    copy_tree(&source, &target)
                };
                done.map_err(|e| Error::io(&target, e))?;
            }
        }
    }
    for command in &project.config.post_create {
        let log = project
            .state
            .dir("post-create")?
            .join(format!("{}.log", branch::slug(branch_name)));
        let log_file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
        let err_file = log_file.try_clone().map_err(|e| Error::io(&log, e))?;
        let status = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(path)
            .envs(agent_env(project, branch_name, path))
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .status()
            .map_err(|e| Error::io(path, e))?;
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(Error::CommandFailed {
                command: format!("post_create `{command}`"),
                detail: format!(
                    "exit {} ({}); nothing was created. Log: {}",
                    status.code().unwrap_or(-1),
                    last.trim(),
                    log.display()
                ),
            });
        }
    }
    Ok(())
}

/// The paths a copy/symlink glob matches, found by walking the main worktree `root` without
/// following symlinks (glob's own walk follows them: a committed link loop would make `**`
/// explode), skipping `.git` and the worktrees. A matched directory is taken whole. Every match
/// is inside the main worktree (the config refuses absolute patterns and `..`, and a pattern
/// naming a directory that is a symlink leading out is refused); a matched symlink is handled
/// as the link it is.
fn matches(root: &Path, worktree_dir: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let compiled = glob::Pattern::new(pattern)
        .map_err(|e| Error::Config(format!("copy/symlink pattern {pattern:?}: {e}")))?;
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    let components: Vec<&str> = pattern
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let recursive = components.contains(&"**");
    // Start below the pattern's literal leading directories; without `**`, a match is never
    // deeper than the pattern.
    let literal = components
        .iter()
        .take_while(|c| !c.contains(['*', '?', '[']))
        .count()
        .min(components.len().saturating_sub(1));
    let start: PathBuf = components[..literal].iter().collect();
    for depth in 1..=literal {
        let on_the_way = root.join(components[..depth].iter().collect::<PathBuf>());
        let is_link = std::fs::symlink_metadata(&on_the_way).is_ok_and(|m| m.is_symlink());
        if is_link && !canonical(&on_the_way).starts_with(root) {
            return Err(Error::refused(format!(
                "copy/symlink pattern {pattern:?} goes through {}, a symlink leading outside the \
                 main worktree",
                on_the_way.display()
            )));
        }
    }
    let max_depth = if recursive {
        usize::MAX
    } else {
        components.len()
    };
    let skip = [PathBuf::from(".git"), worktree_dir.to_path_buf()];
    let mut found = Vec::new();
    let mut todo = vec![start];
    while let Some(dir) = todo.pop() {
        let full = root.join(&dir);
        if !std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let mut entries: Vec<_> = std::fs::read_dir(&full)
            .map_err(|e| Error::io(&full, e))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let relative = dir.join(entry.file_name());
            if skip.contains(&relative) {
                continue;
            }
            if compiled.matches_path_with(&relative, options) {
                found.push(root.join(&relative));
                continue;
            }
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir()); // not a symlink's target
            if is_dir && relative.components().count() < max_depth {
                todo.push(relative);
            }
        }
    }
    Ok(found)
}

/// Copies a file or directory tree without following symlinks: a link is copied as the link it
/// is (so nothing outside is read, and a link loop is not entered).
fn copy_tree(source: &Path, target: &Path) -> std::io::Result<()> {
    let kind = std::fs::symlink_metadata(source)?.file_type();
    if kind.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(source)?, target)
    } else if kind.is_dir() {
        std::fs::create_dir_all(target)?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_tree(&entry.path(), &target.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(source, target).map(|_| ())
    }
}

/// The environment of everything wtmux starts in a worktree (agent, post_create, checks).
pub fn agent_env(project: &Project, branch_name: &str, path: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("WTMUX_BRANCH", branch_name.to_string()),
        ("WTMUX_WORKTREE", path.display().to_string()),
        ("WTMUX_BASE", project.base.clone()),
        (
            "WTMUX_MAIN_WORKTREE",
            project.main_worktree.display().to_string(),
        ),
    ]
}

/// Adds `/<worktree_dir>/` to the repository's `info/exclude`, once.
fn ensure_excluded(project: &Project) -> Result<()> {
    let entry = format!(
        "/{}/",
        project
            .config
            .worktree_dir
            .display()
            .to_string()
            .trim_end_matches('/')
    );
    let info = project.common_dir.join("info");
    let exclude = info.join("exclude");
    let current = std::fs::read_to_string(&exclude).unwrap_or_default();
    if current.lines().any(|l| l.trim() == entry) {
        return Ok(());
    }
    std::fs::create_dir_all(&info).map_err(|e| Error::io(&info, e))?;
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&entry);
    text.push('\n');
    std::fs::write(&exclude, text).map_err(|e| Error::io(&exclude, e))
}

/// Creates a worktree's tagged window running `command` (an argv; empty: a shell) and returns
/// its id.
fn open_window(
    project: &Project,
    tmux: &super::tmux::Tmux,
    session: &str,
    branch_name: &str,
    path: &Path,
    command: &[String],
) -> Result<String> {
    tmux.new_window(
        session,
        path,
        &branch::slug(branch_name),
        Some(path),
        &agent_env(project, branch_name, path),
        command,
    )
}

// ---------------------------------------------------------------------------------------------
// open

#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub window: String,
    /// The window was gone and was made again.
    pub created: bool,
}

/// Focuses a worktree's window, creating it when it is gone.
pub fn open(project: &Project, name: &str) -> Result<Opened> {
    let worktree = find(project, name)?;
    if worktree.prunable {
        return Err(Error::refused(format!(
            "the directory of {} is gone ({}); `wtmux remove` it",
            worktree.label(),
            worktree.path.display()
        )));
    }
    let tmux = project.require_tmux()?;
    let (window, created) = match tmux.window_for(&worktree.path)? {
        Some(window) => (window, false),
        None => {
            let label = worktree.branch.clone().unwrap_or_else(|| {
                worktree
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let session = tmux.current_session()?;
            let id = open_window(project, tmux, &session, &label, &worktree.path, &[])?;
            let window = tmux
                .window_for(&worktree.path)?
                .filter(|w| w.id == id)
                .ok_or_else(|| Error::CommandFailed {
                    command: "tmux new-window".into(),
                    detail: "the new window was not found".into(),
                })?;
            (window, true)
        }
    };
    tmux.focus(&window)?;
    Ok(Opened {
        window: window.id,
        created,
    })
}

// ---------------------------------------------------------------------------------------------
// remove

/// What removing a worktree would take away from the branch (the trash keeps all of it).
#[derive(Debug, Clone)]
pub struct RemovePlan {
    pub worktree: Worktree,
    /// Uncommitted and untracked paths, as `git status` lists them (a dirty submodule, a
    /// nested repository and an untracked directory are one path each).
    pub dirty: Vec<String>,
    /// Commits on the branch that base lacks: (id, subject).
    pub unmerged: Vec<(Oid, String)>,
    pub window: Option<Window>,
}

impl RemovePlan {
    pub fn loses_work(&self) -> bool {
        !self.dirty.is_empty() || !self.unmerged.is_empty()
    }

    /// "2 uncommitted files (a, b) and 1 commit not in main (abc1234 msg)".
    pub fn describe_loss(&self, base: &str) -> String {
        let mut parts = Vec::new();
        if !self.dirty.is_empty() {
            parts.push(format!(
                "{} uncommitted file{} ({})",
                self.dirty.len(),
                plural(self.dirty.len()),
                list_for_message(&self.dirty, 5)
            ));
        }
        if !self.unmerged.is_empty() {
            let commits = self.unmerged_lines();
            parts.push(format!(
                "{} commit{} not in {base} ({})",
                commits.len(),
                plural(commits.len()),
                list_for_message(&commits, 3)
            ));
        }
        parts.join(" and ")
    }

    fn unmerged_lines(&self) -> Vec<String> {
        self.unmerged
            .iter()
            .map(|(id, subject)| format!("{} {subject}", git::short(*id)))
            .collect()
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Works out what removing `name` would lose, refusing what must never be removed. What is
/// uncommitted comes from `git status` itself (submodules, nested repositories, every
/// excludes source included).
pub fn plan_remove(project: &Project, name: &str) -> Result<RemovePlan> {
    let worktree = find(project, name)?;
    if worktree.is_main {
        return Err(Error::refused(format!(
            "{} is the main worktree; wtmux never removes it",
            worktree.path.display()
        )));
    }
    if !worktree
        .path
        .starts_with(canonical(&project.worktree_dir()))
    {
        return Err(Error::refused(format!(
            "{} is outside {}; wtmux only removes worktrees it manages",
            worktree.path.display(),
            project.config.worktree_dir.display()
        )));
    }
    if worktree.branch.as_deref() == Some(project.base.as_str()) {
        return Err(Error::refused(format!(
            "{} holds the base branch {}",
            worktree.path.display(),
            project.base
        )));
    }
    if worktree.locked {
        return Err(Error::refused(format!(
            "{} is locked (git worktree unlock it first)",
            worktree.path.display()
        )));
    }
    // Moving it would take the other worktree along and leave that one's admin dir behind.
    if let Some(inner) = worktrees(project)?
        .into_iter()
        .find(|w| w.path != worktree.path && w.path.starts_with(&worktree.path))
    {
        return Err(Error::refused(format!(
            "{} holds the worktree {} ({}): remove that one first",
            worktree.path.display(),
            inner.path.display(),
            inner.label()
        )));
    }
    let repo = project.repo()?;
    let (dirty, tip) = if worktree.prunable {
        (Vec::new(), None)
    } else {
        let wt_repo = Repository::open(&worktree.path)?;
        (
            status::changes(&worktree.path)?.paths(),
            git::head_commit(&wt_repo),
        )
    };
    let tip = tip.or_else(|| {
        worktree
            .branch
            .as_ref()
            .and_then(|b| repo.find_branch(b, BranchType::Local).ok())
            .and_then(|b| b.get().target())
    });
    // Without base nothing can say which commits are unmerged: refuse rather than lose them.
    let base = Some(project.require_base_commit()?);
    let unmerged = match (tip, base) {
        (Some(tip), Some(base)) => git::commits_between(&repo, base, tip)?,
        _ => Vec::new(),
    };
    let window = match &project.tmux {
        Some(tmux) => tmux.window_for(&worktree.path).unwrap_or(None),
        None => None,
    };
    Ok(RemovePlan {
        worktree,
        dirty,
        unmerged,
        window,
    })
}

#[derive(Debug, Clone, Default)]
pub struct RemoveOptions {
    /// Remove even when work would leave the branch (the trash keeps it, as always).
    pub force: bool,
    pub keep_branch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub branch: Option<String>,
    pub path: PathBuf,
    pub trash: TrashEntry,
    pub branch_deleted: bool,
    /// The branch moved after the save (someone committed), so it was kept.
    pub branch_kept_moved: bool,
    /// Processes of the worktree's window (its agent) that were stopped first.
    pub stopped_processes: usize,
    pub window_closed: bool,
    /// The window is the one wtmux ran in; tmux closes it a moment later.
    pub window_deferred: bool,
}

/// Removes worktree, branch and window, taking the operation lock without waiting (the popup:
/// another operation under way is reported in one line). Refuses to lose work unless `force`;
/// either way the whole worktree goes to the trash, from where `restore` brings it back.
pub fn remove(project: &Project, name: &str, options: &RemoveOptions) -> Result<Removed> {
    let lock = OpLock::try_acquire(project, &format!("remove {name}"))?;
    remove_with(project, &lock, name, options)
}

/// [`remove`], under a lock the caller holds.
pub fn remove_with(
    project: &Project,
    lock: &OpLock,
    name: &str,
    options: &RemoveOptions,
) -> Result<Removed> {
    let plan = plan_remove(project, name)?;
    if plan.loses_work() && !options.force {
        return Err(Error::refused(format!(
            "{} has {}; nothing removed (--force saves them to the trash, then removes)",
            plan.worktree.label(),
            plan.describe_loss(&project.base)
        )));
    }
    execute_remove(project, lock, &plan, options)
}

/// The journal kind of a removal.
pub const REMOVE_KIND: &str = "remove";

/// What a removal's journal records before it starts.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct RemoveIntent {
    path: PathBuf,
    branch: Option<String>,
    delete_branch: bool,
}

/// The destructive part of `remove`, after the plan was accepted: first stop what writes into
/// the worktree (its window's processes — the agent — and its running check), then move it
/// whole into the trash (which unregisters it), then delete the branch and close the window.
/// If the save fails, nothing has moved and the worktree is still registered. Journaled: a
/// removal killed half way is finished (or, before anything moved, undone) by the next command.
pub fn execute_remove(
    project: &Project,
    lock: &OpLock,
    plan: &RemovePlan,
    options: &RemoveOptions,
) -> Result<Removed> {
    let worktree = &plan.worktree;
    let mut journal = Journal::begin(
        project,
        lock,
        REMOVE_KIND,
        &format!("removal of {}", worktree.label()),
        &RemoveIntent {
            path: worktree.path.clone(),
            branch: worktree.branch.clone(),
            delete_branch: !options.keep_branch,
        },
    )?;
    let stopped_processes =
        super::process::stop_writers(project.tmux.as_ref(), plan.window.as_ref(), &worktree.path)?;
    check::stop_running(project, &worktree.path)?;
    journal.step("stopped")?;
    let trash = match trash::save(
        project,
        worktree,
        &trash::SaveFacts {
            dirty: plan.dirty.clone(),
            unmerged: plan.unmerged_lines(),
        },
    ) {
        Ok(trash) => trash,
        Err(error) => {
            journal.finish()?; // the save undid itself: nothing to recover
            return Err(Error::refused(format!(
                "could not move {} into the trash ({error}); it is still in place and registered",
                worktree.path.display()
            )));
        }
    };
    journal.step_with("saved", &trash.id)?;
    let (branch_deleted, branch_kept_moved) = match (&worktree.branch, options.keep_branch) {
        (Some(branch), false) => delete_saved_branch(project, branch, trash.tip.as_deref()),
        _ => (false, false),
    };
    journal.step("branch")?;
    forget(project, &worktree.path);
    let (mut window_closed, mut window_deferred) = (false, false);
    if let (Some(tmux), Some(window)) = (&project.tmux, &plan.window) {
        match tmux.kill_window(window) {
            Ok(KillOutcome::Killed) => window_closed = true,
            Ok(KillOutcome::Deferred) => window_deferred = true,
            // Its processes were stopped: tmux may have closed it already.
            Err(_) => window_closed = tmux.window_for(&worktree.path)?.is_none(),
        }
    }
    journal.finish()?;
    Ok(Removed {
        branch: worktree.branch.clone(),
        path: worktree.path.clone(),
        trash,
        branch_deleted,
        branch_kept_moved,
        stopped_processes,
        window_closed,
        window_deferred,
    })
}

/// Deletes a removed worktree's branch by compare-and-swap on the tip that was saved: a branch
/// that moved since (a commit made elsewhere) is kept rather than lost. Returns (deleted,
/// kept because it moved).
fn delete_saved_branch(project: &Project, branch: &str, saved_tip: Option<&str>) -> (bool, bool) {
    let Some(tip) = saved_tip else {
        return (false, false);
    };
    let deleted = Git::new(&project.main_worktree)
        .args(["update-ref", "-d"])
        .arg(format!("refs/heads/{branch}"))
        .arg(tip)
        .run()
        .is_ok();
    if deleted {
        let _ = Git::new(&project.main_worktree)
            .args(["config", "--remove-section"])
            .arg(format!("branch.{branch}"))
            .output();
    }
    let still_there = project
        .repo()
        .is_ok_and(|repo| git::resolve_commit(&repo, &format!("refs/heads/{branch}")).is_ok());
    (deleted, !deleted && still_there)
}

/// Drops what wtmux kept about a worktree that is gone (run record, agent record, scope).
fn forget(project: &Project, path: &Path) {
    check::forget_worktree(project, path);
    agent::forget(project, path);
    scope::forget(project, path);
}

/// Recovery of a removal whose process died: once the worktree is in the trash (or was on its
/// way there), the removal is finished; before anything moved, nothing is to be done.
pub fn recover_remove(project: &Project, _lock: &OpLock, record: &Record) -> Result<String> {
    let intent: RemoveIntent = record.intent()?;
    let label = intent
        .branch
        .clone()
        .unwrap_or_else(|| intent.path.display().to_string());
    let saved = match record.data::<String>("saved") {
        Some(id) => trash::find(project, "", Some(&id)).ok(),
        None => match trash::unfinished_save(project, &intent.path)? {
            Some(entry) => match trash::finish_or_undo_save(project, entry)? {
                trash::SaveRecovery::Finished(entry) => Some(*entry),
                trash::SaveRecovery::Undone => None,
            },
            None => None,
        },
    };
    let Some(entry) = saved else {
        return Ok(format!(
            "nothing of {label} had moved yet: it is still at {}",
            intent.path.display()
        ));
    };
    if let (Some(branch), true, false) =
        (&intent.branch, intent.delete_branch, record.done("branch"))
    {
        delete_saved_branch(project, branch, entry.tip.as_deref());
    }
    forget(project, &intent.path);
    if let Some(tmux) = &project.tmux
        && let Ok(Some(window)) = tmux.window_for(&intent.path)
    {
        let _ = tmux.kill_window(&window);
    }
    Ok(format!(
        "finished removing {label}: saved to the trash as {}",
        entry.id
    ))
}
