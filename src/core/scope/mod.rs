//! The scope guard: which files each worktree changed, which worktrees overlap, which pairs
//! would conflict when both are merged, which no longer merge into base, which stray outside
//! their declared scope — and the order in which the green ones merge cleanly.
//!
//! What each worktree changed is its content (HEAD plus uncommitted work, as a commit object)
//! against its merge base with base. Two worktrees whose changed files are disjoint merge
//! cleanly (their three-way merge touches no path twice), so only overlapping pairs are given to
//! `git merge-tree --write-tree`, git's own merge with nothing on disk changed; its verdict is
//! cached per pair of content commits, so a refresh after one worktree changed merges only that
//! worktree's pairs again. (git's directory-rename detection can, rarely, make disjoint changes
//! conflict; such a pair shows up as a conflict with base once the other is merged.)
//!
//! The files: `declared` (declared scopes), `predict` (the analysis: changes, pairs,
//! conflicts, green), `order` (the merge order). This file holds the report they fill.

mod declared;
mod order;
mod predict;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use git2::Oid;
use serde::{Deserialize, Serialize};

use super::operation::Operation;

pub use declared::{InvalidScope, check_glob, declare, declared, forget, validate_globs};
pub use predict::{analyze_exact, analyze_for_display};

/// What one worktree changed against base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub branch: String,
    pub path: PathBuf,
    /// The files it changed since its merge base with base, committed or not.
    pub files: BTreeSet<String>,
    /// Its declared scope (globs); empty when none was declared.
    pub scope: Vec<String>,
    /// Files outside its own declared scope.
    pub outside_scope: Vec<String>,
    /// Files inside another worktree's declared scope: (other branch, files).
    pub in_others_scope: Vec<(String, Vec<String>)>,
    /// Files that conflict when merged into base as it is now (empty: merges cleanly).
    pub base_conflicts: Vec<String>,
    /// It can merge as it is: committed work base lacks, nothing uncommitted, no git operation
    /// stopped half way, and its checks passed on exactly this content.
    pub green: bool,
    /// Why it is not green (null when it is).
    #[serde(default)]
    pub not_green: Option<NotGreen>,
    /// Its content commit (HEAD plus uncommitted work, in the scratch objects).
    #[serde(skip)]
    content_commit: Option<Oid>,
}

/// Why a worktree is not green: the merge queue leaves it alone and says this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NotGreen {
    /// A git operation (rebase, merge…) stopped half way in it.
    OperationInProgress { operation: Operation },
    /// It has uncommitted changes (an agent still at work, or work nobody committed).
    Uncommitted { files: usize },
    /// Its branch has no commit base lacks (for instance an agent that has just started).
    NothingToMerge,
    /// Its branch shares no commit with base (an orphan branch): git refuses to merge it.
    UnrelatedHistory,
    /// Everything it changed is in base already (it was merged by squash or cherry-picked,
    /// and kept): merging it again would change nothing.
    AlreadyInBase,
    /// Its checks are running.
    ChecksRunning,
    /// Its checks have not run on its current content.
    Unchecked,
    /// Its checks failed on its current content.
    ChecksFailed { check: Option<String> },
}

impl fmt::Display for NotGreen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotGreen::OperationInProgress { operation } => write!(f, "{operation}"),
            NotGreen::Uncommitted { files } => write!(
                f,
                "it has {files} uncommitted file{}",
                if *files == 1 { "" } else { "s" }
            ),
            NotGreen::NothingToMerge => write!(f, "it has no commit that base lacks"),
            NotGreen::UnrelatedHistory => write!(f, "it shares no history with base"),
            NotGreen::AlreadyInBase => write!(f, "everything it changed is already in base"),
            NotGreen::ChecksRunning => write!(f, "its checks are still running"),
            NotGreen::Unchecked => write!(f, "its checks have not run on its current content"),
            NotGreen::ChecksFailed { check: Some(check) } => {
                write!(f, "check {check:?} failed on its current content")
            }
            NotGreen::ChecksFailed { check: None } => {
                write!(f, "its checks failed on its current content")
            }
        }
    }
}

/// Two worktrees that changed the same files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub overlap: Vec<String>,
    /// Files that conflict when both are merged (empty: they merge cleanly together).
    pub conflicts: Vec<String>,
}

/// The order in which the green branches merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MergeOrder {
    /// Branches that merge one after another without conflict, in this order.
    pub order: Vec<String>,
    /// Green branches that cannot follow: (branch, why).
    pub blocked: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub base: String,
    pub worktrees: Vec<Changed>,
    /// Every pair that overlaps (pairs that changed disjoint files are left out).
    pub pairs: Vec<Pair>,
    pub merge_order: MergeOrder,
}

impl Report {
    /// The pairs one branch is part of: (other branch, pair).
    pub fn pairs_of<'a>(&'a self, branch: &'a str) -> impl Iterator<Item = (&'a str, &'a Pair)> {
        self.pairs.iter().filter_map(move |p| {
            if p.a == branch {
                Some((p.b.as_str(), p))
            } else if p.b == branch {
                Some((p.a.as_str(), p))
            } else {
                None
            }
        })
    }

    pub fn worktree(&self, branch: &str) -> Option<&Changed> {
        self.worktrees.iter().find(|w| w.branch == branch)
    }
}

/// One-line warnings for merging `branch`: the active branches it would make conflict once
/// merged, those it overlaps (cleanly), and its files outside its declared scope or inside
/// another's.
pub fn merge_warnings(report: &Report, branch: &str) -> Vec<String> {
    let mut warnings: Vec<String> = report
        .pairs_of(branch)
        .filter(|(_, p)| !p.conflicts.is_empty())
        .map(|(other, p)| {
            format!(
                "{other} will conflict with {} once {branch} is merged ({})",
                report.base,
                p.conflicts.join(", ")
            )
        })
        .collect();
    let files = |files: &[String]| super::error::list_for_message(files, 3);
    let clean: Vec<String> = report
        .pairs_of(branch)
        .filter(|(_, p)| p.conflicts.is_empty())
        .map(|(other, p)| format!("{other} ({})", files(&p.overlap)))
        .collect();
    if !clean.is_empty() {
        warnings.push(format!("overlaps {} (merges cleanly)", clean.join(", ")));
    }
    if let Some(changed) = report.worktree(branch) {
        if !changed.outside_scope.is_empty() {
            warnings.push(format!(
                "changes files outside its declared scope: {}",
                files(&changed.outside_scope)
            ));
        }
        for (other, inside) in &changed.in_others_scope {
            warnings.push(format!(
                "changes files in {other}'s declared scope: {}",
                files(inside)
            ));
        }
    }
    warnings
}
