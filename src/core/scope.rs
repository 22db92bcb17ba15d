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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::check;
use super::error::{Error, Result};
use super::git::{self, MergePrediction, ScratchObjects};
use super::operation::{self, Operation};
use super::state::{key_of, read_json, worktree_key, write_json};
use super::worktree::{self, Worktree};
use super::{Project, parallel_map};

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
    #[serde(skip)]
    content: Option<Oid>,
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

// ---------------------------------------------------------------------------------------------
// Declared scope

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

fn matches_any(globs: &[String], file: &str) -> bool {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    globs
        .iter()
        .any(|g| glob::Pattern::new(g).is_ok_and(|p| p.matches_with(file, options)))
}

// ---------------------------------------------------------------------------------------------
// Analysis

/// A merge verdict, cached by the pair of commits merged.
fn cached_merge(
    project: &Project,
    scratch: &ScratchObjects,
    ours: Oid,
    theirs: Oid,
) -> Result<Vec<String>> {
    // A three-way merge's conflicts do not depend on which side is "ours".
    let (first, second) = if ours <= theirs {
        (ours, theirs)
    } else {
        (theirs, ours)
    };
    let path = project.state.dir("conflicts")?.join(format!(
        "{}.json",
        key_of(format!("v1 {first} {second}").as_bytes())
    ));
    if let Some(conflicts) = read_json::<Vec<String>>(&path) {
        return Ok(conflicts);
    }
    let conflicts = match scratch.merge(first, second)? {
        MergePrediction::Clean { .. } => Vec::new(),
        MergePrediction::Conflicts { paths } => paths,
    };
    write_json(&path, &conflicts)?;
    Ok(conflicts)
}

/// The files that differ between two commits' trees. Subtrees with the same id are skipped
/// whole, so the cost follows the size of the change, not of the repository (libgit2's
/// tree-to-tree diff walks every entry of both trees).
fn tree_files(repo: &Repository, from: Oid, to: Oid) -> Result<BTreeSet<String>> {
    let from = repo.find_commit(from)?.tree_id();
    let to = repo.find_commit(to)?.tree_id();
    let mut files = BTreeSet::new();
    diff_trees(repo, Some(from), Some(to), "", &mut files)?;
    Ok(files)
}

fn diff_trees(
    repo: &Repository,
    from: Option<Oid>,
    to: Option<Oid>,
    prefix: &str,
    files: &mut BTreeSet<String>,
) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let entries = |tree: Option<Oid>| -> Result<BTreeMap<String, (Oid, bool)>> {
        let Some(tree) = tree else {
            return Ok(BTreeMap::new());
        };
        Ok(repo
            .find_tree(tree)?
            .iter()
            .map(|e| {
                let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
                (name, (e.id(), e.kind() == Some(git2::ObjectType::Tree)))
            })
            .collect())
    };
    let (old, new) = (entries(from)?, entries(to)?);
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let path = format!("{prefix}{name}");
        let (a, b) = (old.get(name), new.get(name));
        if a == b {
            continue;
        }
        let subtree =
            |e: Option<&(Oid, bool)>| e.filter(|(_, is_tree)| *is_tree).map(|(id, _)| *id);
        let (tree_a, tree_b) = (subtree(a), subtree(b));
        if tree_a.is_some() || tree_b.is_some() {
            diff_trees(repo, tree_a, tree_b, &format!("{path}/"), files)?;
        }
        let is_file = |e: Option<&(Oid, bool)>| e.is_some_and(|(_, is_tree)| !is_tree);
        if is_file(a) || is_file(b) {
            files.insert(path);
        }
    }
    Ok(())
}

/// What a worktree holds.
struct Held {
    head: Oid,
    /// HEAD, or a commit of HEAD plus its uncommitted work written to the scratch objects only.
    content: Oid,
    /// The fingerprint key its check results are stored under.
    content_key: String,
    uncommitted: usize,
    operation: Option<Operation>,
}

fn held(
    project: &Project,
    scratch: &ScratchObjects,
    worktree: &Worktree,
    monitor: Option<&str>,
) -> Result<Option<Held>> {
    let repo = Repository::open(&worktree.path)?;
    let Some(head) = git::head_commit(&repo) else {
        return Ok(None);
    };
    let operation = operation::in_progress(&repo)?;
    let changes = match monitor {
        Some(_) => super::fsmonitor::changes_for_display(project, &repo, &worktree.path, monitor)?,
        None => super::status::exact_changes(&worktree.path)?,
    };
    if changes.is_empty() {
        let tree = repo.find_commit(head)?.tree_id();
        return Ok(Some(Held {
            head,
            content: head,
            content_key: tree.to_string(),
            uncommitted: 0,
            operation,
        }));
    }
    let content = match monitor {
        Some(_) => {
            super::fsmonitor::content_for_display(project, &worktree.path, monitor, &changes)?
        }
        None => project.content_store()?.content(&worktree.path, &changes)?,
    };
    Ok(Some(Held {
        head,
        content: scratch.commit(content.tree, &[head])?,
        content_key: content.key,
        uncommitted: changes.paths().len(),
        operation,
    }))
}

/// Why a worktree holding `held` is not green, if it is not.
fn not_green(
    project: &Project,
    repo: &Repository,
    worktree: &Worktree,
    held: &Held,
    base_commit: Oid,
) -> Result<Option<NotGreen>> {
    if let Some(operation) = &held.operation {
        return Ok(Some(NotGreen::OperationInProgress {
            operation: operation.clone(),
        }));
    }
    if held.uncommitted > 0 {
        return Ok(Some(NotGreen::Uncommitted {
            files: held.uncommitted,
        }));
    }
    if held.head == base_commit || repo.graph_descendant_of(base_commit, held.head)? {
        return Ok(Some(NotGreen::NothingToMerge));
    }
    if project.config.checks.is_empty() {
        return Ok(None);
    }
    Ok(match check::result_for(project, &held.content_key)? {
        Some(outcome) if outcome.passed => None,
        Some(outcome) => Some(NotGreen::ChecksFailed {
            check: outcome.failed,
        }),
        None if check::is_running(project, &worktree.path)? => Some(NotGreen::ChecksRunning),
        None => Some(NotGreen::Unchecked),
    })
}

/// The full picture for every active worktree (those with a branch other than base), for
/// display: the file-system monitor, when it runs, spares the status of unchanged worktrees.
pub fn analyze(project: &Project) -> Result<Report> {
    analyze_with(project, true)
}

/// The same, with every worktree's status asked of git (for decisions: the merge queue).
pub fn analyze_exact(project: &Project) -> Result<Report> {
    analyze_with(project, false)
}

fn analyze_with(project: &Project, use_monitor: bool) -> Result<Report> {
    let base_commit = project.require_base_commit()?;
    let active: Vec<Worktree> = worktree::worktrees(project)?
        .into_iter()
        .filter(|w| !w.is_main && !w.prunable)
        .filter(|w| w.branch.as_deref().is_some_and(|b| b != project.base))
        .collect();
    let scratch = project.scratch_objects()?;
    let monitor = if use_monitor {
        super::fsmonitor::sync(project)
    } else {
        None
    };

    let changed: Vec<Changed> = parallel_map(&active, |w| -> Result<Option<Changed>> {
        let Some(held) = held(project, &scratch, w, monitor.as_deref())? else {
            return Ok(None);
        };
        let content = held.content;
        // Content commits live in the scratch objects: read them through it.
        let repo = scratch.repository()?;
        let merge_base = repo.merge_base(content, base_commit)?;
        let files = tree_files(&repo, merge_base, content)?;
        // Base moved since this branched: only then can merging into it conflict.
        let base_moved = tree_files(&repo, merge_base, base_commit)?;
        let base_conflicts = if files.is_disjoint(&base_moved) {
            Vec::new()
        } else {
            cached_merge(project, &scratch, base_commit, content)?
        };
        let not_green = not_green(project, &repo, w, &held, base_commit)?;
        Ok(Some(Changed {
            branch: w.branch.clone().unwrap_or_default(),
            path: w.path.clone(),
            files,
            scope: declared(project, &w.path)?,
            outside_scope: Vec::new(),
            in_others_scope: Vec::new(),
            base_conflicts,
            green: not_green.is_none(),
            not_green,
            content: Some(content),
        }))
    })
    .into_iter()
    .filter_map(|r| r.transpose())
    .collect::<Result<_>>()?;
    let mut changed = changed;

    // Declared scopes.
    let scopes: Vec<(String, Vec<String>)> = changed
        .iter()
        .filter(|c| !c.scope.is_empty())
        .map(|c| (c.branch.clone(), c.scope.clone()))
        .collect();
    for c in &mut changed {
        if !c.scope.is_empty() {
            c.outside_scope = c
                .files
                .iter()
                .filter(|f| !matches_any(&c.scope, f))
                .cloned()
                .collect();
        }
        for (other, globs) in &scopes {
            if *other == c.branch {
                continue;
            }
            let inside: Vec<String> = c
                .files
                .iter()
                .filter(|f| matches_any(globs, f))
                .cloned()
                .collect();
            if !inside.is_empty() {
                c.in_others_scope.push((other.clone(), inside));
            }
        }
    }

    // Pairs: only overlapping ones can conflict.
    let mut candidates = Vec::new();
    for (i, a) in changed.iter().enumerate() {
        for b in &changed[i + 1..] {
            let overlap: Vec<String> = a.files.intersection(&b.files).cloned().collect();
            if !overlap.is_empty() {
                candidates.push((a, b, overlap));
            }
        }
    }
    let pairs = parallel_map(&candidates, |(a, b, overlap)| -> Result<Pair> {
        let conflicts = match (a.content, b.content) {
            (Some(x), Some(y)) => cached_merge(project, &scratch, x, y)?,
            _ => Vec::new(),
        };
        Ok(Pair {
            a: a.branch.clone(),
            b: b.branch.clone(),
            overlap: overlap.clone(),
            conflicts,
        })
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;

    let mut report = Report {
        base: project.base.clone(),
        worktrees: changed,
        pairs,
        merge_order: MergeOrder::default(),
    };
    report.merge_order = merge_order(project, &report, &scratch, base_commit)?;
    if use_monitor && monitor.is_none() {
        super::fsmonitor::start(project);
    }
    Ok(report)
}

/// The green branches in an order that merges one after another without conflict: the most
/// independent first, each checked by merging it onto base plus all before it.
///
/// Branches that changed disjoint files merge cleanly in any order (the same rule the pair
/// matrix rests on), so the simulation runs per group of branches linked by overlapping files:
/// a branch is merged onto base plus the branches of its own group before it. A group's result
/// is cached by base and the group's content commits in order, so after one worktree changes
/// only its group is simulated again; a branch that overlaps nothing needs no merge at all.
fn merge_order(
    project: &Project,
    report: &Report,
    scratch: &ScratchObjects,
    base_commit: Oid,
) -> Result<MergeOrder> {
    let mut green: Vec<&Changed> = report.worktrees.iter().filter(|c| c.green).collect();
    let conflicting = |c: &Changed| {
        report
            .pairs_of(&c.branch)
            .filter(|(_, p)| !p.conflicts.is_empty())
            .count()
    };
    green.sort_by_key(|c| (conflicting(c), c.files.len(), c.branch.clone()));
    let verdicts: BTreeMap<String, Option<String>> =
        parallel_map(&overlap_groups(&green), |group| {
            simulate_group(project, report, scratch, base_commit, group)
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut order = MergeOrder::default();
    for candidate in green {
        match verdicts.get(&candidate.branch) {
            Some(None) => order.order.push(candidate.branch.clone()),
            Some(Some(why)) => order.blocked.push((candidate.branch.clone(), why.clone())),
            None => {}
        }
    }
    Ok(order)
}

/// The candidates split into groups linked by overlapping files, each in the candidates' order.
fn overlap_groups<'a>(candidates: &[&'a Changed]) -> Vec<Vec<&'a Changed>> {
    let mut group_of: Vec<usize> = (0..candidates.len()).collect();
    fn root(group_of: &mut [usize], mut i: usize) -> usize {
        while group_of[i] != i {
            group_of[i] = group_of[group_of[i]];
            i = group_of[i];
        }
        i
    }
    for i in 0..candidates.len() {
        for j in i + 1..candidates.len() {
            if !candidates[i].files.is_disjoint(&candidates[j].files) {
                let (a, b) = (root(&mut group_of, i), root(&mut group_of, j));
                group_of[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<&Changed>> = BTreeMap::new();
    for (i, candidate) in candidates.iter().enumerate() {
        let r = root(&mut group_of, i);
        groups.entry(r).or_default().push(candidate);
    }
    groups.into_values().collect()
}

/// One group's simulation: each branch merged onto base plus the group's branches that merged
/// before it; `None` for a branch that merges, else why it cannot follow. Cached by base and
/// the group's branches and content commits, in order.
fn simulate_group(
    project: &Project,
    report: &Report,
    scratch: &ScratchObjects,
    base_commit: Oid,
    group: &[&Changed],
) -> Result<Vec<(String, Option<String>)>> {
    let mut key = format!("order v1 {base_commit}");
    for c in group {
        let content = c.content.map(|c| c.to_string()).unwrap_or_default();
        key.push_str(&format!("\n{} {content}", c.branch));
    }
    let path = project
        .state
        .dir("conflicts")?
        .join(format!("order-{}.json", key_of(key.as_bytes())));
    if let Some(verdicts) = read_json(&path) {
        return Ok(verdicts);
    }
    let mut verdicts: Vec<(String, Option<String>)> = Vec::new();
    let mut merged: Vec<&str> = Vec::new();
    // Base plus the branches merged so far; `None` until a later branch needs it built.
    let mut simulated = Some(base_commit);
    let mut pending: Vec<Oid> = Vec::new();
    for candidate in group {
        let Some(content) = candidate.content else {
            continue;
        };
        let verdict = if !candidate.base_conflicts.is_empty() {
            Some(format!(
                "conflicts with {} in {}",
                report.base,
                candidate.base_conflicts.join(", ")
            ))
        } else {
            let with: Vec<String> = report
                .pairs_of(&candidate.branch)
                .filter(|(other, p)| !p.conflicts.is_empty() && merged.contains(other))
                .map(|(other, p)| format!("{other} in {}", p.conflicts.join(", ")))
                .collect();
            if !with.is_empty() {
                Some(format!(
                    "conflicts with {} (merged before it)",
                    with.join("; ")
                ))
            } else if merged.is_empty() {
                // Onto base alone: clean, as its base verdict says.
                pending.push(content);
                None
            } else {
                let onto = build(scratch, base_commit, &mut simulated, &mut pending)?;
                match scratch.merge(onto, content)? {
                    MergePrediction::Clean { tree } => {
                        simulated = Some(scratch.commit(tree, &[onto, content])?);
                        None
                    }
                    MergePrediction::Conflicts { paths } => Some(format!(
                        "conflicts with {} after {} in {}",
                        report.base,
                        merged.join(", "),
                        paths.join(", ")
                    )),
                }
            }
        };
        if verdict.is_none() {
            merged.push(&candidate.branch);
        }
        verdicts.push((candidate.branch.clone(), verdict));
    }
    write_json(&path, &verdicts)?;
    Ok(verdicts)
}

/// Base plus every merged branch, built from `simulated` by merging the `pending` ones (a
/// branch that contains base needs no merge: it is what merging it onto base gives).
fn build(
    scratch: &ScratchObjects,
    base_commit: Oid,
    simulated: &mut Option<Oid>,
    pending: &mut Vec<Oid>,
) -> Result<Oid> {
    let repo = scratch.repository()?;
    let mut onto = simulated.unwrap_or(base_commit);
    for content in pending.drain(..) {
        onto = if onto == base_commit && repo.graph_descendant_of(content, base_commit)? {
            content
        } else {
            match scratch.merge(onto, content)? {
                MergePrediction::Clean { tree } => scratch.commit(tree, &[onto, content])?,
                MergePrediction::Conflicts { .. } => onto,
            }
        };
    }
    *simulated = Some(onto);
    Ok(onto)
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
