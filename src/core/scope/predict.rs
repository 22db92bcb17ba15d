//! The prediction: what each worktree changed against base, which pairs overlap and which
//! would conflict (git's own merge, cached per pair of content commits), which no longer merge
//! into base, and which are green.

use std::collections::{BTreeMap, BTreeSet};

use git2::{Oid, Repository};

use super::declared::{declared, matches_any};
use super::order::merge_order;
use super::{Changed, MergeOrder, NotGreen, Pair, Report};
use crate::core::check;
use crate::core::error::Result;
use crate::core::git::{self, MergePrediction, ScratchObjects};
use crate::core::operation::{self, Operation};
use crate::core::state::{key_of, read_json, write_json};
use crate::core::worktree::{self, Worktree};
use crate::core::{Project, fsmonitor, parallel_map, status};

/// Merge verdicts (the conflicted files; empty: clean), each cached by the pair of commits
/// merged. What the cache lacks is merged by git, in one `merge-tree --stdin` per core.
fn cached_merges(
    project: &Project,
    scratch: &ScratchObjects,
    merges: &[(Oid, Oid)],
) -> Result<Vec<Vec<String>>> {
    let dir = project.state.dir("conflicts")?;
    // A three-way merge's conflicts do not depend on which side is "ours".
    let ordered = |(ours, theirs): (Oid, Oid)| {
        if ours <= theirs {
            (ours, theirs)
        } else {
            (theirs, ours)
        }
    };
    let cache_path = |(first, second): (Oid, Oid)| {
        dir.join(format!(
            "{}.json",
            key_of(format!("v1 {first} {second}").as_bytes())
        ))
    };
    let mut verdicts: Vec<Option<Vec<String>>> = parallel_map(merges, |m| {
        read_json::<Vec<String>>(&cache_path(ordered(*m)))
    });
    let missing: Vec<(Oid, Oid)> = merges
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| verdict.is_none())
        .map(|(m, _)| ordered(*m))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let chunk = missing.len().div_ceil(cores).max(1);
    let chunks: Vec<&[(Oid, Oid)]> = missing.chunks(chunk).collect();
    let answered = parallel_map(&chunks, |chunk| scratch.merge_many(chunk))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let mut answers: std::collections::HashMap<(Oid, Oid), Vec<String>> = Default::default();
    for (m, prediction) in missing.iter().zip(answered.into_iter().flatten()) {
        let conflicts = match prediction {
            MergePrediction::Clean { .. } => Vec::new(),
            MergePrediction::Conflicts { paths } => paths,
        };
        write_json(&cache_path(*m), &conflicts)?;
        answers.insert(*m, conflicts);
    }
    for (verdict, asked) in verdicts.iter_mut().zip(merges) {
        if verdict.is_none() {
            *verdict = answers.get(&ordered(*asked)).cloned();
        }
    }
    Ok(verdicts
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// The files that differ between two commits' trees (`from` `None`: an empty tree, every file
/// of `to`). Subtrees with the same id are skipped whole, so the cost follows the size of the
/// change, not of the repository (libgit2's tree-to-tree diff walks every entry of both trees).
fn tree_files(repo: &Repository, from: Option<Oid>, to: Oid) -> Result<BTreeSet<String>> {
    let from = match from {
        Some(from) => Some(repo.find_commit(from)?.tree_id()),
        None => None,
    };
    let to = repo.find_commit(to)?.tree_id();
    let mut files = BTreeSet::new();
    diff_trees(repo, from, Some(to), "", &mut files)?;
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
    /// Its content commit: HEAD, or a commit of HEAD plus its uncommitted work written to the
    /// scratch objects only.
    content_commit: Oid,
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
        Some(_) => fsmonitor::changes_for_display(project, &repo, &worktree.path, monitor)?,
        None => status::exact_changes(&worktree.path)?,
    };
    if changes.is_empty() {
        let tree = repo.find_commit(head)?.tree_id();
        return Ok(Some(Held {
            head,
            content_commit: head,
            content_key: tree.to_string(),
            uncommitted: 0,
            operation,
        }));
    }
    let content = match monitor {
        Some(_) => fsmonitor::content_for_display(project, &worktree.path, monitor, &changes)?,
        None => project.content_store()?.content(&worktree.path, &changes)?,
    };
    Ok(Some(Held {
        head,
        content_commit: scratch.commit(content.tree, &[head])?,
        content_key: content.key,
        uncommitted: changes.paths().len(),
        operation,
    }))
}

/// Whether every one of `files` is in `base` as it is in `content` (present with the same
/// object and mode, or absent from both): merging `content` then changes nothing, whatever
/// its commits (a branch merged by squash or cherry-picked, and kept).
fn all_in(repo: &Repository, files: &BTreeSet<String>, content: Oid, base: Oid) -> Result<bool> {
    let (content, base) = (
        repo.find_commit(content)?.tree()?,
        repo.find_commit(base)?.tree()?,
    );
    let entry = |tree: &git2::Tree, file: &str| {
        tree.get_path(std::path::Path::new(file))
            .ok()
            .map(|e| (e.id(), e.filemode()))
    };
    // A name that is not UTF-8 is held lossily and found in neither tree: never "the same".
    Ok(!files.is_empty()
        && files
            .iter()
            .all(|f| !f.contains('\u{FFFD}') && entry(&content, f) == entry(&base, f)))
}

/// Why a worktree holding `held` is not green, if it is not.
fn not_green(
    project: &Project,
    repo: &Repository,
    worktree: &Worktree,
    held: &Held,
    base_commit: Oid,
    shares_history: bool,
    all_in_base: bool,
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
    if !shares_history {
        return Ok(Some(NotGreen::UnrelatedHistory));
    }
    if held.head == base_commit || repo.graph_descendant_of(base_commit, held.head)? {
        return Ok(Some(NotGreen::NothingToMerge));
    }
    if all_in_base {
        return Ok(Some(NotGreen::AlreadyInBase));
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
pub fn analyze_for_display(project: &Project) -> Result<Report> {
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
        fsmonitor::sync(project)
    } else {
        None
    };

    let changed = parallel_map(&active, |w| -> Result<Option<(bool, Changed)>> {
        let Some(held) = held(project, &scratch, w, monitor.as_deref())? else {
            return Ok(None);
        };
        let content_commit = held.content_commit;
        // Content commits live in the scratch objects: read them through it.
        let repo = scratch.repository()?;
        // `None`: a branch with no commit in common with base (an orphan branch). Its changes
        // are all its files; it overlaps whoever touches them, and cannot merge into base.
        let merge_base = git::merge_base(&repo, content_commit, base_commit)?;
        let files = tree_files(&repo, merge_base, content_commit)?;
        // Base moved since this branched: only then can merging into it conflict.
        let base_moved = tree_files(&repo, merge_base, base_commit)?;
        let may_conflict_with_base = merge_base.is_some() && !files.is_disjoint(&base_moved);
        let in_base = merge_base.is_some() && all_in(&repo, &files, content_commit, base_commit)?;
        let not_green = not_green(
            project,
            &repo,
            w,
            &held,
            base_commit,
            merge_base.is_some(),
            in_base,
        )?;
        Ok(Some((
            may_conflict_with_base,
            Changed {
                branch: w.branch.clone().unwrap_or_default(),
                path: w.path.clone(),
                files,
                scope: declared(project, &w.path)?,
                outside_scope: Vec::new(),
                in_others_scope: Vec::new(),
                base_conflicts: Vec::new(),
                green: not_green.is_none(),
                not_green,
                content_commit: Some(content_commit),
            },
        )))
    })
    .into_iter()
    .filter_map(|r| r.transpose())
    .collect::<Result<Vec<_>>>()?;
    let (may_conflict_with_base, mut changed): (Vec<bool>, Vec<Changed>) =
        changed.into_iter().unzip();

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
        for (j, b) in changed.iter().enumerate().skip(i + 1) {
            let overlap: Vec<String> = a.files.intersection(&b.files).cloned().collect();
            if !overlap.is_empty() {
                candidates.push((i, j, overlap));
            }
        }
    }
    // Every merge asked at once (into base where base moved under a worktree's files, and
    // each overlapping pair): git answers the uncached ones in a batch.
    let content = |c: &Changed| c.content_commit.expect("set above");
    let into_base: Vec<usize> = (0..changed.len())
        .filter(|i| may_conflict_with_base[*i])
        .collect();
    let merges: Vec<(Oid, Oid)> = into_base
        .iter()
        .map(|i| (base_commit, content(&changed[*i])))
        .chain(
            candidates
                .iter()
                .map(|(i, j, _)| (content(&changed[*i]), content(&changed[*j]))),
        )
        .collect();
    let mut verdicts = cached_merges(project, &scratch, &merges)?.into_iter();
    for i in into_base {
        changed[i].base_conflicts = verdicts.next().unwrap_or_default();
    }
    let pairs: Vec<Pair> = candidates
        .into_iter()
        .zip(verdicts)
        .map(|((i, j, overlap), conflicts)| Pair {
            a: changed[i].branch.clone(),
            b: changed[j].branch.clone(),
            overlap,
            conflicts,
        })
        .collect();

    let mut report = Report {
        base: project.base.clone(),
        worktrees: changed,
        pairs,
        merge_order: MergeOrder::default(),
    };
    report.merge_order = merge_order(project, &report, &scratch, base_commit)?;
    if use_monitor && monitor.is_none() {
        fsmonitor::start(project);
    }
    Ok(report)
}
