//! One effect: one call into the core, the same the CLI makes; its result comes back as an
//! action.

use std::path::{Path, PathBuf};

use super::{DETAIL_LOG_LINES, cache_path};
use crate::core::create::{self, AddOptions};
use crate::core::listing;
use crate::core::merge::{self, MergeOptions};
use crate::core::remove::{self, RemoveOptions};
use crate::core::{Error, Project, Result, check, git, state};
use crate::core::{recovery, window, worktree};
use crate::tui::app::{Action, Effect, HandoffKind, HandoffView, MergeView, RemoveView};
use crate::tui::words;

fn name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// One effect: one call into the core, the same the CLI makes.
pub fn perform(project: &Project, effect: Effect) -> Result<Action> {
    Ok(match effect {
        Effect::RefreshAll => {
            let listing = listing::list(project)?;
            let _ = state::write_json(&cache_path(project), &listing);
            Action::Listed {
                base: listing.base,
                rows: listing.worktrees,
                session: listing.session,
            }
        }
        Effect::RefreshRows(paths) => {
            let mut present = Vec::new();
            let mut gone = Vec::new();
            for path in paths {
                match worktree::at(project, &path)? {
                    Some(w) => present.push(w),
                    None => gone.push(path),
                }
            }
            Action::RowsUpdated {
                rows: listing::list_rows(project, &present)?,
                gone,
            }
        }
        Effect::RefreshAgents(paths) => {
            let worktrees: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            // The monitor looked at the panes a moment ago and recorded what it saw: its
            // record changing is why this pass runs. The windows stay as the rows have them.
            if let Some(agents) = crate::core::agent::recorded_statuses(project, &worktrees)? {
                return Ok(Action::AgentsUpdated(
                    paths
                        .into_iter()
                        .zip(agents)
                        .map(|(path, agent)| (path, agent, None))
                        .collect(),
                ));
            }
            let snapshot = project.tmux.as_ref().and_then(|t| t.snapshot().ok());
            let agents = crate::core::agent::statuses(project, &worktrees, snapshot.as_ref())?;
            Action::AgentsUpdated(
                paths
                    .into_iter()
                    .zip(agents)
                    .map(|(path, agent)| {
                        let window = snapshot
                            .as_ref()
                            .and_then(|s| s.windows.get(&path))
                            .map(|w| w.id.clone());
                        (path, agent, Some(window))
                    })
                    .collect(),
            )
        }
        Effect::LoadDetail(path) => {
            let w = worktree::find(project, &name(&path))?;
            Action::DetailLoaded {
                detail: listing::detail(project, &w, DETAIL_LOG_LINES)?,
                path,
            }
        }
        Effect::Open(path) => {
            window::open(project, &name(&path))?;
            Action::Switched
        }
        Effect::Add {
            branch,
            prompt,
            scope,
        } => {
            let options = AddOptions {
                prompt,
                scope,
                ..AddOptions::default()
            };
            // A dead add of the same name must be taken back before this one makes anything
            // (the CLI recovers before every command; a long-lived popup does it here).
            let _ = recovery::recover(project);
            let added = create::add(project, &branch, &options)?;
            match added.window {
                Some(_) => {
                    window::open(project, &branch)?;
                    Action::Switched
                }
                None => Action::Done(format!(
                    "created {} at {} (no window: {})",
                    branch,
                    added.path.display(),
                    match added.no_window_reason {
                        Some(create::NoWindow::NotInTmux) => "not inside tmux",
                        _ => "none asked for",
                    }
                )),
            }
        }
        Effect::Check(paths) => {
            let mut started = Vec::new();
            let mut running = Vec::new();
            for path in &paths {
                let w = worktree::find(project, &name(path))?;
                match check::start(project, &w)? {
                    check::Started::Started { .. } => started.push(w.label()),
                    check::Started::AlreadyRunning { .. } => running.push(w.label()),
                }
            }
            let mut message = String::new();
            if !started.is_empty() {
                message.push_str(&format!("checks started: {}", started.join(", ")));
            }
            if !running.is_empty() {
                if !message.is_empty() {
                    message.push_str("; ");
                }
                message.push_str(&format!("already running: {}", running.join(", ")));
            }
            Action::Done(message)
        }
        Effect::Sync(path) => {
            let synced = crate::core::sync::sync(project, &name(&path), None)?;
            // A conflict with no agent to take it stays in the worktree, on its row: nothing
            // to draft.
            let task = crate::core::handoff::task(project, &synced);
            let agent =
                task.is_some() && crate::core::agent::has_live_agent(project, &synced.path)?;
            match task.filter(|_| agent) {
                Some(text) => Action::HandoffDrafted(HandoffView {
                    kind: HandoffKind::Conflict,
                    branch: synced.branch.clone(),
                    path,
                    summary: synced.to_string(),
                    text,
                }),
                None => Action::Done(synced.to_string()),
            }
        }
        Effect::Handoff { branch, path, text } => {
            crate::core::agent::send(project, &name(&path), &text)?;
            Action::Done(format!("sent to the agent of {branch}"))
        }
        Effect::DraftCoordination(path) => {
            let draft = crate::core::handoff::draft_coordination(project, &name(&path))?;
            Action::HandoffDrafted(HandoffView {
                kind: HandoffKind::Coordinate,
                summary: format!(
                    "{} is predicted to conflict with {}",
                    draft.branch,
                    draft.siblings.join(", ")
                ),
                branch: draft.branch,
                path,
                text: draft.text,
            })
        }
        Effect::PlanMerge(path) => {
            let plan = merge::plan(project, Some(&name(&path)), &MergeOptions::default())?;
            Action::MergePlanned(MergeView {
                branch: plan.branch().to_string(),
                base: plan.base().to_string(),
                strategy: plan.strategy(),
                diffstat: plan.diffstat().clone(),
                squash_message: merge::build::squash_message(
                    plan.branch(),
                    plan.commits(),
                    plan.task(),
                ),
                commits: plan
                    .commits()
                    .iter()
                    .map(|(id, subject)| (git::short(*id), subject.clone()))
                    .collect(),
                post_merge: project.config.post_merge.clone(),
                uncommitted: plan.dirty().len(),
                refusals: plan.refusals().into_iter().map(words::blocker).collect(),
                warnings: words::base_moved(
                    plan.base(),
                    plan.branch(),
                    plan.base_moved(),
                    project.config.gate,
                )
                .into_iter()
                .chain(plan.warnings().iter().cloned())
                .collect(),
                keep: false,
                checks_configured: plan.checks_configured(),
                tip: plan.tip().to_string(),
            })
        }
        Effect::Merge {
            branch,
            keep,
            strategy,
            tip,
        } => {
            let mut output = Vec::new();
            let options = MergeOptions {
                keep,
                strategy: Some(strategy),
                ..MergeOptions::default()
            };
            // The popup does not wait: a merge already under way is reported, in one line.
            let (lock, _) = recovery::try_acquire(project, &format!("merge {branch}"))?;
            let plan = merge::plan(project, Some(&branch), &options)?;
            // What was confirmed is what the dialog showed: commits made since (an agent
            // still at work) would go in unseen.
            if plan.tip().to_string() != tip {
                return Ok(Action::Failed(format!(
                    "not merged: {branch} moved since the dialog opened (now at {}); press m to look again",
                    git::short(plan.tip())
                )));
            }
            let merged = merge::execute(project, &lock, &plan, &mut output)?;
            let mut message = format!("merged {} into {}", merged.branch, merged.base);
            if let Some(post) = &merged.post_merge {
                match (post.exit_code, &post.window) {
                    (_, Some(window)) => {
                        message.push_str(&format!("; post_merge runs in {window}"))
                    }
                    (Some(0), None) => message.push_str("; post_merge succeeded"),
                    (Some(code), None) => message.push_str(&format!(
                        "; post_merge FAILED (exit {code}, {})",
                        post.log.display()
                    )),
                    _ => {}
                }
            }
            if merged.removed.is_some() {
                message.push_str("; worktree removed (saved to trash)");
            }
            if let Some(kept) = &merged.kept_changed {
                message.push_str(&format!("; {kept}"));
            }
            if let Some(error) = merged.cleanup_error {
                return Ok(Action::Failed(format!(
                    "{message}; cleanup failed: {error}"
                )));
            }
            Action::Done(message)
        }
        Effect::PlanRemove(path) => {
            let plan = remove::plan_remove(project, &name(&path))?;
            Action::RemovePlanned(RemoveView {
                branch: plan.worktree.label(),
                path: plan.worktree.path.clone(),
                dirty: plan.dirty.clone(),
                unmerged: plan
                    .unmerged
                    .iter()
                    .map(|(id, subject)| (git::short(*id), subject.clone()))
                    .collect(),
            })
        }
        Effect::Remove { path, force } => {
            let name = name(&path);
            let (lock, _) = recovery::try_acquire(project, &format!("remove {name}"))?;
            let removed = remove::remove_with(
                project,
                &lock,
                &name,
                &RemoveOptions {
                    force,
                    keep_branch: false,
                },
            )?;
            Action::Done(format!(
                "removed {} (saved as {})",
                removed.path.display(),
                removed.trash.id
            ))
        }
        Effect::LoadLog(path) => {
            let w = worktree::find(project, &name(&path))?;
            let log = check::current_log(project, &w)?
                .ok_or_else(|| Error::refused(format!("no check log yet for {}", w.label())))?;
            let text = std::fs::read_to_string(&log).map_err(|e| Error::io(&log, e))?;
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            let keep = lines.len().saturating_sub(10_000);
            Action::LogLoaded {
                title: log.display().to_string(),
                lines: lines[keep..].to_vec(),
            }
        }
        Effect::Analyze => Action::Analyzed(Box::new(
            crate::core::scope::analyze_for_display(project).map_err(|e| e.to_string()),
        )),
        Effect::Quit => Action::Switched,
    })
}
