//! The dialogs over the table — new worktree, merge, remove, hand-off, filter, help, log — and
//! what an action does while one is open.

use std::path::PathBuf;

use super::{Action, Effect, Mode, Model, error_text};
use crate::core::config::MergeStrategy;

/// What a merge would do, as the confirmation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeView {
    pub branch: String,
    pub base: String,
    /// Switchable in the dialog (`s`).
    pub strategy: MergeStrategy,
    /// What the branch changes (against where it left base).
    pub diffstat: crate::core::merge::Diffstat,
    /// The squash commit's message (shown when the strategy is squash).
    pub squash_message: String,
    /// (short id, subject) of the commits base gains.
    pub commits: Vec<(String, String)>,
    pub post_merge: Option<String>,
    pub uncommitted: usize,
    /// Why it cannot merge, each with what to do; empty when it can.
    pub refusals: Vec<String>,
    /// What merging it does to other branches (they would start conflicting).
    pub warnings: Vec<String>,
    /// Keep worktree, branch and window afterwards (the agent keeps its context).
    pub keep: bool,
    /// Checks are configured (without, the dialog says nothing was checked).
    pub checks_configured: bool,
    /// The branch tip shown (full id): the merge goes ahead only while the branch is there.
    pub tip: String,
}

/// The new-worktree form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewWorktree {
    pub branch: String,
    /// The agent's task (asked only when an agent is configured).
    pub task: String,
    /// The scope glob being typed: one glob per entry, as `--scope` takes one per flag, so a
    /// space is part of it (a legal file name).
    pub scope: String,
    /// The scope globs entered so far (`Enter` adds the one typed).
    pub scopes: Vec<String>,
    pub step: NewStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewStep {
    #[default]
    Branch,
    Task,
    Scope,
}

impl NewWorktree {
    /// Why the field being edited cannot be taken, as the form shows it while typing.
    pub fn error(&self) -> Option<String> {
        match self.step {
            NewStep::Branch => Model::branch_error(&self.branch),
            NewStep::Task => None,
            // Nothing typed: the globs entered were checked one by one.
            NewStep::Scope if self.scope.is_empty() => None,
            NewStep::Scope => crate::core::scope::validate_globs(std::slice::from_ref(&self.scope))
                .err()
                .map(|e| error_text(&e)),
        }
    }

    /// The text being edited.
    fn field(&mut self) -> &mut String {
        match self.step {
            NewStep::Branch => &mut self.branch,
            NewStep::Task => &mut self.task,
            NewStep::Scope => &mut self.scope,
        }
    }
}

/// What a removal would take away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveView {
    pub branch: String,
    pub path: PathBuf,
    pub dirty: Vec<String>,
    /// (short id, subject).
    pub unmerged: Vec<(String, String)>,
}

impl RemoveView {
    pub fn loses_work(&self) -> bool {
        !self.dirty.is_empty() || !self.unmerged.is_empty()
    }
}

/// Why a task for an agent was drafted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffKind {
    /// A sync stopped on conflicts in its worktree.
    Conflict,
    /// Its branch is predicted to conflict with a sibling's (`c`).
    Coordinate,
}

/// A task for a worktree's agent, editable before it goes: after a sync stopped on conflicts,
/// or to coordinate with a sibling it is predicted to conflict with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffView {
    pub kind: HandoffKind,
    pub branch: String,
    pub path: PathBuf,
    /// What happened (`feat: merging: 2 conflicted files (a, b)…`).
    pub summary: String,
    pub text: String,
}

impl Model {
    pub(super) fn update_mode(&mut self, mode: Mode, action: Action) -> (Mode, Vec<Effect>) {
        match mode {
            Mode::Normal => self.update_normal(action),
            Mode::Filter => match action {
                Action::Char(c) => {
                    self.filter.push(c);
                    self.selected = 0;
                    (Mode::Filter, self.select(0))
                }
                Action::Backspace => {
                    self.filter.pop();
                    (Mode::Filter, self.select(0))
                }
                Action::Confirm => (Mode::Normal, Vec::new()),
                Action::Cancel => {
                    self.filter.clear();
                    (Mode::Normal, self.select(0))
                }
                Action::Up => (Mode::Filter, self.select(self.selected.saturating_sub(1))),
                Action::Down => (Mode::Filter, self.select(self.selected + 1)),
                _ => (Mode::Filter, Vec::new()),
            },
            Mode::NewBranch(mut form) => {
                match action {
                    Action::Char(c) => form.field().push(c),
                    // On an empty scope line: the last glob entered comes back to be edited.
                    Action::Backspace if form.step == NewStep::Scope && form.scope.is_empty() => {
                        form.scope = form.scopes.pop().unwrap_or_default();
                    }
                    Action::Backspace => {
                        form.field().pop();
                    }
                    Action::Cancel => return (Mode::Normal, Vec::new()),
                    // A rejected field stays, with its reason shown.
                    Action::Confirm if form.error().is_some() => {}
                    Action::Confirm if form.step == NewStep::Branch && form.branch.is_empty() => {}
                    Action::Confirm if form.step == NewStep::Branch => {
                        form.step = if self.has_agent {
                            NewStep::Task
                        } else {
                            NewStep::Scope
                        };
                    }
                    Action::Confirm if form.step == NewStep::Task => form.step = NewStep::Scope,
                    Action::Confirm if !form.scope.is_empty() => {
                        form.scopes.push(std::mem::take(&mut form.scope));
                    }
                    Action::Confirm => {
                        self.busy = Some(format!("creating {}", form.branch));
                        let prompt = Some(form.task.clone()).filter(|t| !t.trim().is_empty());
                        return (
                            Mode::Normal,
                            vec![Effect::Add {
                                scope: form.scopes,
                                branch: form.branch,
                                prompt,
                            }],
                        );
                    }
                    _ => {}
                }
                (Mode::NewBranch(form), Vec::new())
            }
            Mode::Handoff(mut view) => {
                match action {
                    Action::Char(c) => view.text.push(c),
                    Action::Backspace => {
                        view.text.pop();
                    }
                    Action::Cancel => {
                        self.info(match view.kind {
                            HandoffKind::Conflict => format!(
                                "not sent; the conflict stays in {}'s worktree",
                                view.branch
                            ),
                            HandoffKind::Coordinate => {
                                format!("not sent to {}'s agent", view.branch)
                            }
                        });
                        return (Mode::Normal, Vec::new());
                    }
                    Action::Confirm if view.text.trim().is_empty() => {}
                    Action::Confirm => {
                        self.busy = Some(format!("telling {}'s agent", view.branch));
                        return (
                            Mode::Normal,
                            vec![Effect::Handoff {
                                branch: view.branch,
                                path: view.path,
                                text: view.text,
                            }],
                        );
                    }
                    _ => {}
                }
                (Mode::Handoff(view), Vec::new())
            }
            Mode::Merge(view) => match action {
                Action::Confirm if view.refusals.is_empty() => {
                    self.busy = Some(format!("merging {}", view.branch));
                    (
                        Mode::Normal,
                        vec![Effect::Merge {
                            branch: view.branch,
                            keep: view.keep,
                            strategy: view.strategy,
                            tip: view.tip,
                        }],
                    )
                }
                Action::CycleStrategy if view.refusals.is_empty() => {
                    let strategy = match view.strategy {
                        MergeStrategy::Merge => MergeStrategy::Rebase,
                        MergeStrategy::Rebase => MergeStrategy::Squash,
                        MergeStrategy::Squash => MergeStrategy::Merge,
                    };
                    (Mode::Merge(MergeView { strategy, ..view }), Vec::new())
                }
                Action::ToggleKeep if view.refusals.is_empty() => {
                    let keep = !view.keep;
                    (Mode::Merge(MergeView { keep, ..view }), Vec::new())
                }
                Action::Cancel | Action::Confirm | Action::Quit => (Mode::Normal, Vec::new()),
                _ => (Mode::Merge(view), Vec::new()),
            },
            Mode::Remove { view, force } => match action {
                Action::Confirm if !view.loses_work() || force => {
                    self.busy = Some(format!("removing {}", view.branch));
                    let effect = Effect::Remove {
                        path: view.path.clone(),
                        force,
                    };
                    (Mode::Normal, vec![effect])
                }
                Action::Force if view.loses_work() => {
                    (Mode::Remove { view, force: true }, Vec::new())
                }
                Action::Cancel | Action::Quit => (Mode::Normal, Vec::new()),
                _ => (Mode::Remove { view, force }, Vec::new()),
            },
            Mode::Help => match action {
                Action::Up | Action::Down => (Mode::Help, Vec::new()),
                _ => (Mode::Normal, Vec::new()),
            },
            Mode::Log {
                title,
                lines,
                scroll,
            } => {
                let last = lines.len().saturating_sub(1);
                let scroll = match action {
                    Action::Up => scroll.saturating_sub(1),
                    Action::Down => (scroll + 1).min(last),
                    Action::PageUp => scroll.saturating_sub(10),
                    Action::PageDown => (scroll + 10).min(last),
                    Action::Top => 0,
                    Action::Bottom => last,
                    Action::Cancel | Action::Quit | Action::ShowLog | Action::Confirm => {
                        return (Mode::Normal, Vec::new());
                    }
                    _ => scroll,
                };
                (
                    Mode::Log {
                        title,
                        lines,
                        scroll,
                    },
                    Vec::new(),
                )
            }
        }
    }
}
