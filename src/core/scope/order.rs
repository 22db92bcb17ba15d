//! The merge order: the green branches in an order that merges one after another without
//! conflict, simulated per group of branches linked by overlapping files.

use std::collections::BTreeMap;

use git2::Oid;

use super::{Changed, MergeOrder, Report};
use crate::core::error::Result;
use crate::core::git::{MergePrediction, ScratchObjects};
use crate::core::state::{key_of, read_json, write_json};
use crate::core::{Project, parallel_map};

/// The green branches in an order that merges one after another without conflict: the most
/// independent first, each checked by merging it onto base plus all before it.
///
/// Branches that changed disjoint files merge cleanly in any order (the same rule the pair
/// matrix rests on), so the simulation runs per group of branches linked by overlapping files:
/// a branch is merged onto base plus the branches of its own group before it. A group's result
/// is cached by base and the group's content commits in order, so after one worktree changes
/// only its group is simulated again; a branch that overlaps nothing needs no merge at all.
pub(super) fn merge_order(
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
        let content_commit = c.content_commit.map(|c| c.to_string()).unwrap_or_default();
        key.push_str(&format!("\n{} {content_commit}", c.branch));
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
        let Some(content_commit) = candidate.content_commit else {
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
                pending.push(content_commit);
                None
            } else {
                let onto = build(scratch, base_commit, &mut simulated, &mut pending)?;
                match scratch.merge(onto, content_commit)? {
                    MergePrediction::Clean { tree } => {
                        simulated = Some(scratch.commit(tree, &[onto, content_commit])?);
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
    for content_commit in pending.drain(..) {
        onto = if onto == base_commit && repo.graph_descendant_of(content_commit, base_commit)? {
            content_commit
        } else {
            match scratch.merge(onto, content_commit)? {
                MergePrediction::Clean { tree } => scratch.commit(tree, &[onto, content_commit])?,
                MergePrediction::Conflicts { .. } => onto,
            }
        };
    }
    *simulated = Some(onto);
    Ok(onto)
}
