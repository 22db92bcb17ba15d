//! Step 1 of the workflow: a branch, its worktree (with the configured untracked files and
//! post_create), its window and its agent. A failure before the window leaves nothing behind
//! (see `add_rollback`).

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{BranchType, Repository};
use serde::Serialize;

use super::error::{Error, Result};
use super::git::{self, Git};
use super::journal::Journal;
use super::oplock::OpLock;
use super::window::open_window;
use super::worktree::{Worktree, worktree_env, worktrees};
use super::{Project, add_rollback, agent, branch, canonical, check, scope};

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
    pub no_window_reason: Option<NoWindow>,
    /// The agent started in the window.
    pub agent: Option<String>,
}

/// Why `add` made no window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoWindow {
    /// None was asked for.
    NotWanted,
    /// wtmux does not run inside tmux.
    NotInTmux,
}

/// Why `add` refused, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A task was given, and no agent is configured to take it.
    PromptWithoutAgent,
    /// The window was wanted and tmux did not answer.
    TmuxSilent { detail: String },
    /// A copy/symlink pattern goes through a symlink that leads outside the main worktree.
    PatternLeavesMainWorktree {
        pattern: String,
        through: std::path::PathBuf,
    },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::PromptWithoutAgent => {
                write!(f, "a prompt needs an agent: configure `agent` or [agents]")
            }
            Refused::TmuxSilent { detail } => {
                write!(f, "tmux does not answer ({detail}); nothing created")
            }
            Refused::PatternLeavesMainWorktree { pattern, through } => write!(
                f,
                "copy/symlink pattern {pattern:?} goes through {}, a symlink leading outside the \
                 main worktree",
                through.display()
            ),
        }
    }
}

impl std::error::Error for Refused {}

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
        return Err(Error::step(Refused::PromptWithoutAgent));
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
            Error::step(Refused::TmuxSilent {
                detail: e.to_string(),
            })
        })?),
        _ => None,
    };
    let existing_branch = repo.find_branch(branch_name, BranchType::Local).is_ok();
    let start_point = match (existing_branch, &options.base) {
        (true, _) => None,
        (false, Some(rev)) => Some(git::resolve_commit(&repo, rev)?),
        (false, None) => Some(project.require_base_commit()?),
    };

    // A dead add of the same name must have been taken back before this one makes anything:
    // the caller ran `recovery::recover` (the CLI before every command, the popup before add).
    ensure_excluded(project)?;
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
        // holds it already: a restore adds under its own lock). The lock alone: what another
        // operation left half done is recovered by the next command, not by this undo.
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
    // Its first commit is new to the checks that start on commits (`verify_on`).
    let _ = check::auto::adopt(project, &path);

    let mut added = Added {
        branch: branch_name.to_string(),
        path: path.clone(),
        created_branch: start_point.is_some(),
        window: None,
        no_window_reason: None,
        agent: None,
    };
    if check::auto::watches_commits(project) {
        let _ = agent::ensure_monitor(project);
    }
    if options.no_window {
        added.no_window_reason = Some(NoWindow::NotWanted);
        return Ok(added);
    }
    let (Some(tmux), Some(session)) = (&project.tmux, session) else {
        added.no_window_reason = Some(NoWindow::NotInTmux);
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
        // What a cross-filesystem move into the trash could not delete is wtmux's own.
        .filter(|e| {
            !e.file_name()
                .to_string_lossy()
                .starts_with(super::worktree::LEFTOVER_PREFIX)
        })
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
            .envs(worktree_env(project, branch_name, path))
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
    let compiled = glob::Pattern::new(&crate::core::config::glob_as_matched(pattern))
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
            return Err(Error::step(Refused::PatternLeavesMainWorktree {
                pattern: pattern.to_string(),
                through: on_the_way,
            }));
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
