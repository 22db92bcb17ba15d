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

/// Checks scope globs (`modules/themes/**`) before anything is created.
/// A scope that is not a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScope {
    pub glob: String,
    pub reason: String,
}

impl std::fmt::Display for InvalidScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scope {:?} is not a valid glob: {}",
            self.glob, self.reason
        )
    }
}

impl std::error::Error for InvalidScope {}

pub fn validate_globs(globs: &[String]) -> Result<()> {
    for glob in globs {
        glob::Pattern::new(glob).map_err(|e| {
            Error::step(InvalidScope {
                glob: glob.clone(),
                reason: e.to_string(),
            })
        })?;
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
    globs
        .iter()
        .any(|g| glob::Pattern::new(g).is_ok_and(|p| p.matches_with(file, options)))
}
