//! Carrying a merge out, one at a time and crash-safe.
//!
//! Under the [`OpLock`], journaled step by step (kind `merge`; each step is a pause point
//! `merge.<step>` for tests):
//!
//! 1. `committed` — with a commit message, the branch worktree's changes are committed (git
//!    runs the hooks; the content must come out as planned).
//! 2. `built` — the result is built off-line ([`super::build`]): objects only.
//! 3. `gate`, `gated` — with `gate = "merged"`, the result is checked in a scratch worktree
//!    (journaled before it exists, so that recovery removes it).
//! 4. `swapped` — base moves by `git update-ref refs/heads/<base> <new> <old>`: only if it is
//!    still where the plan saw it. This is the commit point: before it, recovery rolls back
//!    (nothing to undo but the scratch worktree); after it, recovery finishes.
//! 5. `followed` — the base worktree follows with `git read-tree -m -u <old> <new>` (checked
//!    beforehand with `-n`, so its own uncommitted work and untracked files are never
//!    overwritten; should it fail anyway, base swaps back to `<old>`, again by compare-and-swap,
//!    so an undo only ever takes back this merge's own result).
//! 6. `branch-moved` — a rebased branch moves by compare-and-swap too, and its worktree follows.
//! 7. `post-merge` — recorded before post_merge starts, so that it runs once at most.
//! 8. `cleaned` — worktree, branch and window are removed (saved to the trash first).

use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::build::{self, NotBuilt};
use super::post::{self, MergeFacts, PostMerge};
use super::{ChangedWhileMerging, MergePlan, Merged, NotMerged};
use crate::core::check;
use crate::core::config::{Gate, MergeStrategy};
use crate::core::error::{Error, Result};
use crate::core::git::{self, Git};
use crate::core::journal::{Journal, Record};
use crate::core::oplock::OpLock;
use crate::core::remove::{self, RemoveOptions, Removed};
use crate::core::worktree::{self, Worktree};
use crate::core::{Project, testpoint, trash};

pub const KIND: &str = "merge";

/// What a merge is about to do, with everything needed to undo or finish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    branch: String,
    base: String,
    strategy: MergeStrategy,
    old_base: String,
    old_tip: String,
    base_worktree: PathBuf,
    branch_worktree: Option<PathBuf>,
    keep: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BuiltIds {
    base: String,
    branch: Option<String>,
}

fn oid(text: &str) -> Result<Oid> {
    Ok(Oid::from_str(text)?)
}

fn heads(name: &str) -> String {
    format!("refs/heads/{name}")
}

/// Where a ref points now (`None`: it does not exist).
fn ref_target(project: &Project, name: &str) -> Result<Option<Oid>> {
    Ok(project
        .repo()?
        .find_reference(name)
        .ok()
        .and_then(|r| r.target()))
}

/// `git update-ref <ref> <new> <old>`: moves the ref only if it still points at `old`.
fn swap_ref(project: &Project, name: &str, new: Oid, old: Oid, why: &str) -> Result<()> {
    Git::new(&project.main_worktree)
        .args(["update-ref", "-m", why, name])
        .arg(new.to_string())
        .arg(old.to_string())
        .run()
        .map(|_| ())
}

/// Carries out a plan with the lock held.
pub(super) fn execute(
    project: &Project,
    lock: &OpLock,
    plan: &MergePlan,
    post_merge_output: &mut dyn Write,
) -> Result<Merged> {
    // A plan without a base worktree holds the blocker that says so.
    let refusals = plan.refusals();
    let (true, Some(base_worktree)) = (refusals.is_empty(), &plan.base_worktree) else {
        return Err(Error::step(super::Refused {
            branch: plan.branch.clone(),
            base: plan.base.clone(),
            blockers: refusals.into_iter().cloned().collect(),
        }));
    };
    let intent = Intent {
        branch: plan.branch.clone(),
        base: plan.base.clone(),
        strategy: plan.strategy,
        old_base: plan.base_commit.to_string(),
        old_tip: plan.tip.to_string(),
        base_worktree: base_worktree.path.clone(),
        branch_worktree: plan.branch_worktree.as_ref().map(|w| w.path.clone()),
        keep: plan.options.keep,
    };
    let mut journal = Journal::begin(
        project,
        lock,
        KIND,
        &format!("merge of {} into {}", plan.branch, plan.base),
        &intent,
    )?;
    let prepared = match prepare(project, plan, &intent, &mut journal) {
        Ok(prepared) => prepared,
        Err(error) => {
            roll_back(project, journal.record());
            journal.finish()?;
            return Err(error);
        }
    };
    let Prepared { built, committed } = prepared;
    let merged_tip = committed.unwrap_or(plan.tip);

    // The commit point.
    let old_base = plan.base_commit;
    if let Err(error) = swap_ref(
        project,
        &heads(&plan.base),
        built.base,
        old_base,
        &format!("wtmux: merge {}", plan.branch),
    ) {
        roll_back(project, journal.record());
        journal.finish()?;
        let now = ref_target(project, &heads(&plan.base))?;
        return Err(if now != Some(old_base) {
            NotMerged::BaseMoved {
                branch: plan.branch.clone(),
                base: plan.base.clone(),
                now: now.map(git::short),
            }
            .into()
        } else {
            error
        });
    }
    testpoint::pause("merge.swap-unrecorded");
    journal.step("swapped")?;
    if let Err(error) = follow(&base_worktree.path, old_base, built.base) {
        // Take back exactly this merge's own result, and only if base still holds it.
        let undone = swap_ref(
            project,
            &heads(&plan.base),
            old_base,
            built.base,
            &format!("wtmux: undo merge {}", plan.branch),
        );
        roll_back(project, journal.record());
        journal.finish()?;
        return Err(NotMerged::BaseWorktreeStuck {
            branch: plan.branch.clone(),
            base: plan.base.clone(),
            error: error.to_string(),
            put_back: undone
                .map(|()| git::short(old_base))
                .map_err(|e| e.to_string()),
        }
        .into());
    }
    journal.step("followed")?;
    let done = |_: &str| false;
    let after = after_swap(
        project,
        lock,
        &intent,
        merged_tip,
        &built,
        &done,
        &mut |step| journal.step(step),
        post_merge_output,
    );
    journal.finish()?;
    Ok(Merged {
        branch: plan.branch.clone(),
        base: plan.base.clone(),
        strategy: plan.strategy,
        commit: built.base.to_string(),
        committed: committed.map(|c| c.to_string()),
        forced_past_checks: plan.forced_past_checks(),
        post_merge: after.post_merge,
        removed: after.removed,
        kept_changed: after.kept_changed,
        cleanup_error: after.error,
    })
}

/// `git add -A` + `git commit -m <message>` in the branch worktree, its index put back as it
/// was when git refuses the commit after staging (a `pre-commit` or `commit-msg` hook, a
/// message that `commit.cleanup` empties): a refused merge leaves partial staging partial and
/// untracked files untracked.
fn commit_everything(worktree: &Path, message: &str) -> Result<()> {
    let index = PathBuf::from(
        Git::new(worktree)
            .args(["rev-parse", "--path-format=absolute", "--git-path", "index"])
            .run()?
            .trim(),
    );
    // Beside the index, so that putting it back is one rename.
    let saved = index.with_file_name("wtmux-index-before-commit");
    let had_index = match std::fs::copy(&index, &saved) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io(&index, e)),
    };
    let committed = Git::new(worktree)
        .args(["add", "-A", "--sparse"])
        .run()
        .and_then(|_| Git::new(worktree).args(["commit", "-m", message]).run());
    match committed {
        Ok(_) => {
            let _ = std::fs::remove_file(&saved);
            Ok(())
        }
        Err(refused) => {
            let _ = if had_index {
                std::fs::rename(&saved, &index)
            } else {
                std::fs::remove_file(&index)
            };
            Err(refused)
        }
    }
}

struct Prepared {
    built: build::Built,
    committed: Option<Oid>,
}

/// Steps 1 to 3: everything before base moves.
fn prepare(
    project: &Project,
    plan: &MergePlan,
    intent: &Intent,
    journal: &mut Journal,
) -> Result<Prepared> {
    let mut tip = plan.tip;
    let mut committed = None;
    if !plan.dirty.is_empty()
        && let (Some(message), Some(w)) = (&plan.options.commit_message, &plan.branch_worktree)
    {
        commit_everything(&w.path, message)?;
        let wt_repo = Repository::open(&w.path)?;
        tip = git::head_commit(&wt_repo).ok_or(NotMerged::CommitFailed)?;
        committed = Some(tip);
        journal.step_with("committed", &tip.to_string())?;
        if wt_repo.find_commit(tip)?.tree_id() != plan.content_tree {
            return Err(NotMerged::HookChangedContent {
                commit: git::short(tip),
            }
            .into());
        }
    }
    let built = match build::build(
        &intent.base_worktree,
        plan.strategy,
        &plan.branch,
        plan.base_commit,
        tip,
        &plan.commits,
        plan.task.as_deref(),
    )? {
        Ok(built) => built,
        Err(NotBuilt::Conflicts { at, files }) => {
            return Err(NotMerged::Conflicts {
                branch: plan.branch.clone(),
                base: plan.base.clone(),
                strategy: plan.strategy,
                at: at.map(|(id, subject)| format!("{} {subject}", git::short(id))),
                files,
            }
            .into());
        }
    };
    journal.step_with(
        "built",
        &BuiltIds {
            base: built.base.to_string(),
            branch: built.branch.map(|b| b.to_string()),
        },
    )?;
    if project.config.gate == Gate::Merged && plan.checks_configured && !plan.options.force {
        let outcome = check::verify_commit(project, built.base, &mut |scratch| {
            journal.step_with("gate", &scratch)
        })?;
        if !outcome.passed {
            return Err(NotMerged::GateFailed {
                branch: plan.branch.clone(),
                base: plan.base.clone(),
                check: outcome.failed.unwrap_or_default(),
                exit_code: outcome.exit_code.unwrap_or(-1),
                log: outcome.log,
            }
            .into());
        }
        journal.step("gated")?;
    }
    // Base's worktree must be able to follow; found out now, while nothing has moved.
    refresh_index(&intent.base_worktree);
    let dry_run = Git::new(&intent.base_worktree)
        .args(["read-tree", "-m", "-u", "-n"])
        .arg(plan.base_commit.to_string())
        .arg(built.base.to_string())
        .output()?;
    if !dry_run.status.success() {
        return Err(NotMerged::BaseWorktreeCannotTake {
            branch: plan.branch.clone(),
            base: plan.base.clone(),
            detail: git::failure_detail(&dry_run),
        }
        .into());
    }
    Ok(Prepared { built, committed })
}

/// `git update-index -q --refresh`: what `git merge` and `git checkout` do first. `read-tree
/// -m -u` takes a file whose stat data no longer matches its index entry (touched, saved
/// unchanged by an editor, copied with `cp -a`) for a local change and refuses to update it,
/// so a clean worktree could not follow. A refresh that fails (another git holds the index)
/// leaves that refusal to `read-tree`.
fn refresh_index(dir: &Path) {
    let _ = Git::new(dir)
        .args(["update-index", "-q", "--refresh"])
        .output();
}

/// Makes the worktree at `dir` (whose branch just moved from `old` to `new`) show `new`,
/// keeping its own uncommitted work, as `git checkout` would.
fn follow(dir: &Path, old: Oid, new: Oid) -> Result<()> {
    refresh_index(dir);
    Git::new(dir)
        .args(["read-tree", "-m", "-u"])
        .arg(old.to_string())
        .arg(new.to_string())
        .run()
        .map(|_| ())
}

/// Recovery's `follow`: the worktree may already show `new`, or be half way (files written,
/// index not yet), which only a reset of the paths that differ between the two finishes.
fn follow_after_crash(dir: &Path, old: Oid, new: Oid) -> Result<()> {
    let repo = Repository::open(dir)?;
    let index_tree = repo.index()?.write_tree()?;
    let tree_of = |id: Oid| -> Result<Oid> { Ok(repo.find_commit(id)?.tree_id()) };
    if index_tree == tree_of(new)? {
        return Ok(());
    }
    if index_tree != tree_of(old)? {
        return Err(NotMerged::IndexChanged(dir.to_path_buf()).into());
    }
    follow(dir, old, new).or_else(|_| {
        Git::new(dir)
            .args(["read-tree", "--reset", "-u"])
            .arg(old.to_string())
            .arg(new.to_string())
            .run()
            .map(|_| ())
    })
}

/// Undoes what came before the swap: only the scratch worktree of the gate exists to remove.
fn roll_back(project: &Project, record: &Record) {
    if let Some(scratch) = record.data::<PathBuf>("gate") {
        check::remove_scratch(project, &scratch);
    }
}

struct After {
    post_merge: Option<PostMerge>,
    removed: Option<Removed>,
    kept_changed: Option<ChangedWhileMerging>,
    error: Option<String>,
}

/// Steps 6 to 8, after base moved and its worktree followed: the merge stands whatever
/// happens here; failures are reported. Steps `done` says were done are skipped. `merged_tip`
/// is the branch tip the merge took (`built.branch`, the rebased tip, for a rebase).
#[allow(clippy::too_many_arguments)]
fn after_swap(
    project: &Project,
    lock: &OpLock,
    intent: &Intent,
    merged_tip: Oid,
    built: &build::Built,
    done: &dyn Fn(&str) -> bool,
    record_step: &mut dyn FnMut(&str) -> Result<()>,
    post_merge_output: &mut dyn Write,
) -> After {
    let mut after = After {
        post_merge: None,
        removed: None,
        kept_changed: None,
        error: None,
    };
    let mut errors = Vec::new();
    if let Some(new_tip) = built.branch
        && !done("branch-moved")
    {
        match move_branch(project, intent, new_tip) {
            Ok(()) => {
                if let Err(e) = record_step("branch-moved") {
                    errors.push(e.to_string());
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if let Some(command) = &project.config.post_merge
        && !done("post-merge")
    {
        let facts = MergeFacts {
            branch: intent.branch.clone(),
            base: intent.base.clone(),
            commit: built.base.to_string(),
            previous: intent.old_base.clone(),
            strategy: intent.strategy.to_string(),
            worktree: intent.branch_worktree.clone(),
            kept: intent.keep,
        };
        // Recorded first: post_merge (the deploy) runs once at most.
        match record_step("post-merge")
            .and_then(|()| post::run_post_merge(project, command, facts, post_merge_output))
        {
            Ok(job) => after.post_merge = Some(job),
            Err(e) => errors.push(format!("post_merge: {e}")),
        }
    }
    if !intent.keep && !done("cleaned") {
        match cleanup(project, lock, intent, built.branch.unwrap_or(merged_tip)) {
            Ok(cleaned) => {
                match cleaned {
                    Cleaned::Removed(removed) => after.removed = removed.map(|r| *r),
                    Cleaned::Kept(changed) => after.kept_changed = Some(changed),
                }
                if let Err(e) = record_step("cleaned") {
                    errors.push(e.to_string());
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        after.error = Some(errors.join("; "));
    }
    after
}

/// A rebased branch takes its new commits, by compare-and-swap; its worktree follows.
fn move_branch(project: &Project, intent: &Intent, new_tip: Oid) -> Result<()> {
    let old_tip = oid(&intent.old_tip)?;
    let name = heads(&intent.branch);
    if ref_target(project, &name)? == Some(new_tip) {
        return Ok(());
    }
    swap_ref(
        project,
        &name,
        new_tip,
        old_tip,
        &format!("wtmux: rebased onto {}", intent.base),
    )
    .map_err(|_| {
        Error::from(NotMerged::BranchMovedNotRebased {
            branch: intent.branch.clone(),
            base: intent.base.clone(),
        })
    })?;
    if let Some(dir) = &intent.branch_worktree
        && dir.exists()
    {
        follow_after_crash(dir, old_tip, new_tip)?;
    }
    Ok(())
}

enum Cleaned {
    Removed(Option<Box<Removed>>),
    /// Kept: the branch or its worktree changed since the merge took it.
    Kept(ChangedWhileMerging),
}

/// What the branch and its worktree hold that the merge did not take (`merged`: the tip it
/// took); `None` when nothing.
fn changed_while_merging(
    project: &Project,
    intent: &Intent,
    merged: Oid,
    uncommitted: Vec<String>,
) -> Result<Option<ChangedWhileMerging>> {
    let tip = ref_target(project, &heads(&intent.branch))?;
    let new_commits = match tip {
        Some(tip) if tip != merged => git::commits_between(&project.repo()?, merged, tip)?
            .into_iter()
            .map(|(id, subject)| format!("{} {subject}", git::short(id)))
            .collect(),
        _ => Vec::new(),
    };
    let moved = tip.is_some_and(|tip| tip != merged);
    if !moved && uncommitted.is_empty() {
        return Ok(None);
    }
    Ok(Some(ChangedWhileMerging {
        branch: intent.branch.clone(),
        tip: tip.filter(|_| moved).map(git::short),
        new_commits,
        uncommitted,
    }))
}

/// Removes worktree, branch and window after a merge, unless they changed since the merge took
/// the branch (its agent went on committing or writing while the merge was planned, gated or
/// confirmed): the merge stands, and what it did not take stays where it is, not in the trash.
fn cleanup(project: &Project, lock: &OpLock, intent: &Intent, merged: Oid) -> Result<Cleaned> {
    let remove = RemoveOptions {
        force: true, // everything is saved to the trash first; squashed commits look unmerged
        keep_branch: false,
    };
    match worktree::find(project, &intent.branch) {
        Ok(w) if w.is_main => Ok(Cleaned::Removed(None)),
        Ok(_) => {
            let removal = remove::plan_remove(project, &intent.branch)?;
            if let Some(changed) =
                changed_while_merging(project, intent, merged, removal.dirty.clone())?
            {
                return Ok(Cleaned::Kept(changed));
            }
            remove::execute_remove(project, lock, &removal, &remove)
                .map(|removed| Cleaned::Removed(Some(Box::new(removed))))
        }
        Err(_) => {
            if ref_target(project, &heads(&intent.branch))?.is_none() {
                return Ok(Cleaned::Removed(None)); // removed already
            }
            if let Some(changed) = changed_while_merging(project, intent, merged, Vec::new())? {
                return Ok(Cleaned::Kept(changed));
            }
            let detached = Worktree {
                branch: Some(intent.branch.clone()),
                path: PathBuf::new(),
                is_main: false,
                prunable: true,
                locked: false,
            };
            trash::save(project, &detached, &Default::default())?;
            Git::new(&project.main_worktree)
                .args(["branch", "-D", &intent.branch])
                .run()?;
            Ok(Cleaned::Removed(None))
        }
    }
}

/// Recovery of a merge whose process died: rolled back before base moved, finished after.
pub fn recover(project: &Project, lock: &OpLock, record: &Record) -> Result<String> {
    let intent: Intent = record.intent()?;
    let old_base = oid(&intent.old_base)?;
    let built: Option<BuiltIds> = record.data("built");
    let base_now = ref_target(project, &heads(&intent.base))?;
    let new_base = built.as_ref().map(|b| oid(&b.base)).transpose()?;
    // The swap may have happened just before the process died, unrecorded: the ref tells.
    let swapped = record.done("swapped") || (new_base.is_some() && base_now == new_base);
    let committed = record
        .data::<String>("committed")
        .map(|c| {
            format!(
                " (the commit {} on {} stays)",
                &c[..7.min(c.len())],
                intent.branch
            )
        })
        .unwrap_or_default();
    let Some(new_base) = new_base.filter(|_| swapped) else {
        roll_back(project, record);
        return Ok(format!(
            "rolled back; {} unchanged at {}{committed}",
            intent.base,
            git::short(base_now.unwrap_or(old_base))
        ));
    };
    let mut notes = Vec::new();
    if !record.done("followed") {
        match follow_after_crash(&intent.base_worktree, old_base, new_base) {
            Ok(()) => record.record_step("followed")?,
            Err(e) => notes.push(format!("its worktree did not follow: {e}")),
        }
    }
    let rebased = built.and_then(|b| b.branch).map(|b| oid(&b)).transpose()?;
    let merged_tip = match record.data::<String>("committed") {
        Some(committed) => oid(&committed)?,
        None => oid(&intent.old_tip)?,
    };
    let done = |step: &str| record.done(step);
    let interrupted_post_merge = record.done("post-merge") && project.config.post_merge.is_some();
    let mut sink = Vec::new();
    // Steps done now are recorded too: recovery itself may be interrupted.
    let after = after_swap(
        project,
        lock,
        &intent,
        merged_tip,
        &build::Built {
            base: new_base,
            branch: rebased,
        },
        &done,
        &mut |step| record.record_step(step),
        &mut sink,
    );
    if interrupted_post_merge {
        notes.push("post_merge was interrupted (it may not have run; it never runs twice)".into());
    } else if let Some(job) = &after.post_merge {
        notes.push(format!("post_merge ran (log: {})", job.log.display()));
    }
    if let Some(changed) = &after.kept_changed {
        notes.push(changed.to_string());
    }
    if let Some(error) = after.error {
        notes.push(error);
    }
    Ok(format!(
        "finished; {} is at {}{}",
        intent.base,
        git::short(new_base),
        if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        }
    ))
}
