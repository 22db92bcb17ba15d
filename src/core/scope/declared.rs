//! A worktree's declared scope (globs): validated, stored, matched.

use std::path::{Path, PathBuf};

use crate::core::Project;
use crate::core::error::{Error, Result};
use crate::core::state::{read_json, worktree_key, write_json};

fn scope_path(project: &Project, worktree: &Path) -> Result<PathBuf> {
    Ok(project
        .state
        .dir("scope")?
        .join(format!("{}.json", worktree_key(worktree))))
}

/// A scope that cannot be one: not a glob, or not naming files inside the worktree (empty,
/// absolute, or with `..`, by the rule `copy`/`symlink` patterns follow too), or naming none
/// that git could list (`~/…`, under `.git`, a NUL byte, a trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScope {
    pub glob: String,
    /// What is wrong, said of the glob ("is empty", "is not a valid glob: …").
    pub reason: String,
}

impl std::fmt::Display for InvalidScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scope {:?} {}", self.glob, self.reason)
    }
}

impl std::error::Error for InvalidScope {}

/// Checks one scope glob (`modules/themes/**`): a valid glob of paths inside the worktree.
pub fn check_glob(glob: &str) -> std::result::Result<(), InvalidScope> {
    let invalid = |reason: String| InvalidScope {
        glob: glob.to_string(),
        reason,
    };
    if let Some(problem) = crate::core::config::glob_outside_problem(glob) {
        return Err(invalid(format!(
            "{problem} (a glob of paths inside the worktree: relative, no `..`)"
        )));
    }
    if let Some(problem) = never_matches(glob) {
        return Err(invalid(problem.to_string()));
    }
    glob::Pattern::new(glob).map_err(|e| invalid(format!("is not a valid glob: {e}")))?;
    Ok(())
}

/// Why a glob inside the worktree still names no path git could list there: it would flag
/// every change as outside the scope and say nothing of why.
fn never_matches(glob: &str) -> Option<&'static str> {
    let matched = crate::core::config::glob_as_matched(glob);
    if glob.contains('\0') {
        Some("contains a NUL byte, which no path has")
    } else if glob.starts_with('~') {
        // A quoted `~/x` reaches wtmux unexpanded; `./~/x` still names a directory called `~`.
        Some(
            "starts with a tilde, which is not expanded here (a glob of paths inside the worktree; \
             `./~/…` names a directory called so)",
        )
    } else if matched
        .split('/')
        .any(|component| component.eq_ignore_ascii_case(".git"))
    {
        Some("names paths in `.git`, which git never tracks")
    } else if matched.ends_with('/') {
        Some("ends with a slash, which no file's path does (`dir/**` is every file under dir)")
    } else {
        None
    }
}

/// Checks scope globs before anything is created.
pub fn validate_globs(globs: &[String]) -> Result<()> {
    for glob in globs {
        check_glob(glob).map_err(Error::step)?;
    }
    Ok(())
}

pub fn declare(project: &Project, worktree: &Path, globs: &[String]) -> Result<()> {
    validate_globs(globs)?;
    write_json(&scope_path(project, worktree)?, &globs)
}

pub fn declared(project: &Project, worktree: &Path) -> Result<Vec<String>> {
    Ok(read_json(&scope_path(project, worktree)?).unwrap_or_default())
}

pub fn forget(project: &Project, worktree: &Path) {
    if let Ok(path) = scope_path(project, worktree) {
        let _ = std::fs::remove_file(path);
    }
}

pub(super) fn matches_any(globs: &[String], file: &str) -> bool {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    globs.iter().any(|g| {
        glob::Pattern::new(&crate::core::config::glob_as_matched(g))
            .is_ok_and(|p| p.matches_with(file, options))
    })
}
