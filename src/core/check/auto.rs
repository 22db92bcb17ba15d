//! Checks that start by themselves (`verify_on = ["commit", "done"]`): when a worktree's branch
//! gets a new commit, or its agent finishes a turn, its checks start — once per content.
//!
//! Who notices, with the popup closed: the agent monitor (one per repository under tmux, a
//! tick a second) compares each linked worktree's branch tip with the last one it noted, and
//! the agent's turn to "done" is noted where that turn is recorded (the monitor's observation,
//! or the agent's own hook, `wtmux agent-status done`). A noted trigger is *pending* in
//! `<git common dir>/wtmux/auto/<worktree key>.json` until it is settled, so a commit made
//! while no monitor ran is still acted on when one runs again.
//!
//! Settling a pending trigger: content that already has a result (passed or failed) is not
//! checked again; while a run is going in the worktree the trigger waits for it to end (the
//! run may well be on this very content, and then its result settles it); otherwise the checks
//! start like `v` does ([`super::start`]). So two triggers for the same content — the commit
//! and the turn that made it — make one run.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Started, is_running, result_for, start};
use crate::core::Project;
use crate::core::config::VerifyOn;
use crate::core::error::{Error, Result};
use crate::core::state::{lock_file, read_json, worktree_key, write_json};
use crate::core::worktree::{self, Worktree};

/// What is known of one worktree for starting its checks by themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Watch {
    /// Its branch's tip when last noted.
    tip: Option<String>,
    /// A trigger not yet settled.
    pending: Option<VerifyOn>,
}

/// Whether checks start by themselves here at all.
pub fn enabled(project: &Project) -> bool {
    !project.config.verify_on.is_empty() && !project.config.checks.is_empty()
}

/// Whether new commits start checks: then a monitor must run while worktrees exist.
pub fn watches_commits(project: &Project) -> bool {
    enabled(project) && project.config.verify_on.contains(&VerifyOn::Commit)
}

fn modify<T>(
    project: &Project,
    worktree: &Path,
    change: impl FnOnce(&mut Watch) -> T,
) -> Result<T> {
    let path = project
        .state
        .dir("auto")?
        .join(format!("{}.json", worktree_key(worktree)));
    let lock = lock_file(&path.with_extension("lock"))?;
    lock.lock().map_err(|e| Error::io(&path, e))?;
    let mut watch: Watch = read_json(&path).unwrap_or_default();
    let before = watch.clone();
    let result = change(&mut watch);
    if watch != before {
        write_json(&path, &watch)?;
    }
    Ok(result)
}

/// Notes a new worktree's branch tip, so that its first commit counts as new (even one made
/// before a monitor looked).
pub fn adopt(project: &Project, worktree: &Path) -> Result<()> {
    let tip = tip_of(project, worktree)?;
    modify(project, worktree, |watch| watch.tip = tip)
}

/// Forgets a removed worktree.
pub fn forget(project: &Project, worktree: &Path) {
    if let Ok(dir) = project.state.dir("auto") {
        let key = worktree_key(worktree);
        let _ = std::fs::remove_file(dir.join(format!("{key}.json")));
        let _ = std::fs::remove_file(dir.join(format!("{key}.lock")));
    }
}

fn tip_of(project: &Project, worktree: &Path) -> Result<Option<String>> {
    let Some(found) = worktree::at(project, worktree)? else {
        return Ok(None);
    };
    let Some(branch) = found.branch else {
        return Ok(None);
    };
    Ok(project
        .repo()?
        .refname_to_id(&format!("refs/heads/{branch}"))
        .ok()
        .map(|id| id.to_string()))
}

/// An agent finished a turn in `worktree`: its checks are due, when `verify_on` says so.
pub fn agent_done(project: &Project, worktree: &Path) -> Result<()> {
    if !enabled(project) || !project.config.verify_on.contains(&VerifyOn::Done) {
        return Ok(());
    }
    modify(project, worktree, |watch| {
        watch.pending.get_or_insert(VerifyOn::Done);
    })
}

/// What one [`tick`] saw and did.
#[derive(Debug, Default)]
pub struct Tick {
    /// Linked worktrees there are (a monitor watching commits stays while there are any).
    pub linked: usize,
    /// The worktrees whose checks it started.
    pub started: Vec<String>,
}

/// One look at every linked worktree (the monitor's tick): a branch whose tip moved since it
/// was last noted has its checks due; then every due worktree is settled.
pub fn tick(project: &Project) -> Result<Tick> {
    let mut tick = Tick::default();
    if !enabled(project) {
        return Ok(tick);
    }
    let repo = project.repo()?;
    let commits = project.config.verify_on.contains(&VerifyOn::Commit);
    for worktree in worktree::worktrees(project)? {
        if worktree.is_main || worktree.prunable {
            continue;
        }
        tick.linked += 1;
        let tip = worktree
            .branch
            .as_ref()
            .and_then(|b| repo.refname_to_id(&format!("refs/heads/{b}")).ok())
            .map(|id| id.to_string());
        let due = modify(project, &worktree.path, |watch| {
            // Mid-rebase (no branch) nothing is noted: the branch moves when it is done.
            if let Some(tip) = &tip
                && watch.tip.as_ref() != Some(tip)
            {
                let first_sight = watch.tip.is_none();
                watch.tip = Some(tip.clone());
                if commits && !first_sight {
                    watch.pending.get_or_insert(VerifyOn::Commit);
                }
            }
            watch.pending.is_some()
        })?;
        if due && settle(project, &worktree)? {
            tick.started.push(worktree.label());
        }
    }
    Ok(tick)
}

/// Acts on a worktree's pending trigger: starts its checks unless its content has a result
/// already; waits while a run is going there. True when it started a run.
pub fn settle(project: &Project, worktree: &Worktree) -> Result<bool> {
    if is_running(project, &worktree.path)? {
        return Ok(false); // settled once it ends: its result may be for this content
    }
    // Content as git sees it now (never a display cache): what the run would check.
    let content = match project.content_of(&worktree.path) {
        Ok(content) => content,
        Err(_) if !worktree.path.exists() => {
            modify(project, &worktree.path, |w| w.pending = None)?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    // Checked already (passed or failed), or commands nobody trusted (`v` would refuse too).
    let checked = result_for(project, &content.key)?.is_some();
    let outcome = if checked || project.config.require_trusted("check").is_err() {
        None
    } else {
        Some(start(project, worktree)?)
    };
    modify(project, &worktree.path, |w| w.pending = None)?;
    Ok(matches!(outcome, Some(Started::Started { .. })))
}

/// Settles one worktree's pending trigger now (for a process that noted it and has no
/// monitor to leave it to: outside tmux).
pub fn settle_path(project: &Project, path: &Path) -> Result<bool> {
    match worktree::at(project, path)? {
        Some(w) if !w.is_main && !w.prunable => {
            let due = modify(project, path, |watch| watch.pending.is_some())?;
            if due { settle(project, &w) } else { Ok(false) }
        }
        _ => Ok(false),
    }
}
