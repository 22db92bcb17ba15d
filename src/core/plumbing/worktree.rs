//! The Worktree model: the worktrees git records, found by name or by the current directory.
//! Knows nothing of the workflow steps (create, list, remove live in their own modules).

use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::{Project, canonical, git};

/// The start of a hidden name wtmux gives a directory it could not delete (what a
/// cross-filesystem move into the trash left in `worktree_dir`): wtmux's own, never a worktree.
pub const LEFTOVER_PREFIX: &str = ".wtmux-leftover-";

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

/// Whether wtmux manages `worktree`: a linked worktree inside `worktree_dir` (what `add` makes
/// and `remove` may remove), not the main worktree nor one made elsewhere by hand.
pub fn is_managed(project: &Project, worktree: &Worktree) -> bool {
    !worktree.is_main
        && worktree
            .path
            .starts_with(canonical(&project.worktree_dir()))
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

/// The environment of everything wtmux starts in a worktree: its agent, post_create, checks
/// (`WTMUX_BRANCH`, `WTMUX_WORKTREE`, `WTMUX_BASE`, `WTMUX_MAIN_WORKTREE`).
pub fn worktree_env(
    project: &Project,
    branch_name: &str,
    path: &Path,
) -> Vec<(&'static str, String)> {
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
