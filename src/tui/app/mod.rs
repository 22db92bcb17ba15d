//! The popup's state and what every action does to it. Pure: no terminal, no git, no tmux —
//! work that touches the outside world is returned as [`Effect`]s for the runtime to carry out,
//! and comes back as result actions.
//!
//! The files: `dialogs` (the boxes over the table: their views and what keys do in them),
//! `normal` (what keys do on the table). This file holds the model, the actions and effects,
//! and `update`.

mod dialogs;
mod normal;

use std::path::PathBuf;

use crate::core::branch;
use crate::core::check::CheckState;
use crate::core::config::MergeStrategy;
use crate::core::listing::{Detail, Row};

/// A core error as the popup says it (phrased in `words`).
pub use super::words::error_text;
pub use dialogs::{HandoffKind, HandoffView, MergeView, NewStep, NewWorktree, RemoveView};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// After a conflicting sync: the hand-off to the agent, shown and editable.
    Handoff(HandoffView),
    Filter,
    /// `n`: the branch name, then (when an agent is configured) its task, then its scope.
    NewBranch(NewWorktree),
    Merge(MergeView),
    Remove {
        view: RemoveView,
        force: bool,
    },
    Help,
    Log {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
}

/// Everything that can happen to the popup: keys (already mapped), and results of effects.
#[derive(Debug, Clone)]
pub enum Action {
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Enter,
    New,
    Verify,
    VerifyAll,
    /// Bring base's new commits into the selected worktree.
    Sync,
    Merge,
    Remove,
    Force,
    /// In the merge dialog: keep the worktree or not.
    ToggleKeep,
    /// In the merge dialog: the next strategy (merge, rebase, squash).
    CycleStrategy,
    /// Draft a task for the selected worktree's agent to coordinate with the siblings it is
    /// predicted to conflict with.
    Coordinate,
    ShowLog,
    Filter,
    Refresh,
    Help,
    Quit,
    Confirm,
    Cancel,
    Char(char),
    Backspace,
    /// The spinner advances.
    Tick,
    // Results of effects.
    Listed {
        base: String,
        rows: Vec<Row>,
        /// The file-system monitor's session the rows were read in (see `Listing::session`).
        session: Option<String>,
    },
    RowUpdated(Row),
    RowGone(PathBuf),
    /// One refresh pass over some worktrees: their new rows, and those no longer there.
    RowsUpdated {
        rows: Vec<Row>,
        gone: Vec<PathBuf>,
    },
    /// The agents (and windows) of some worktrees.
    /// Agents' states, and their rows' windows when they were asked of tmux too (`None`: as
    /// they were).
    AgentsUpdated(
        Vec<(
            PathBuf,
            crate::core::agent::AgentStatus,
            Option<Option<String>>,
        )>,
    ),
    DetailLoaded {
        path: PathBuf,
        detail: Detail,
    },
    MergePlanned(MergeView),
    RemovePlanned(RemoveView),
    /// A sync stopped on conflicts; here is the hand-off for its agent.
    HandoffDrafted(HandoffView),
    LogLoaded {
        title: String,
        lines: Vec<String>,
    },
    /// The scope guard's picture of every worktree, or why it could not be had.
    Analyzed(Box<Result<crate::core::scope::Report, String>>),
    /// An action finished: a message for the status line.
    Done(String),
    Failed(String),
    /// The client moved to another window: the popup's job is done.
    Switched,
}

/// Work for the runtime; each is one call into the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    RefreshAll,
    /// The rows of these worktrees, read in one pass.
    RefreshRows(Vec<PathBuf>),
    /// Just the agent and window of these worktrees (their agents' records changed).
    RefreshAgents(Vec<PathBuf>),
    LoadDetail(PathBuf),
    Open(PathBuf),
    Add {
        branch: String,
        prompt: Option<String>,
        scope: Vec<String>,
    },
    Check(Vec<PathBuf>),
    Sync(PathBuf),
    /// Type the hand-off into the agent of that worktree.
    Handoff {
        branch: String,
        path: PathBuf,
        text: String,
    },
    PlanMerge(PathBuf),
    Merge {
        branch: String,
        keep: bool,
        strategy: MergeStrategy,
        /// The branch tip the dialog showed: a branch that moved since is not merged.
        tip: String,
    },
    /// Draft the coordination task for the agent of that worktree.
    DraftCoordination(PathBuf),
    PlanRemove(PathBuf),
    Remove {
        path: PathBuf,
        force: bool,
    },
    LoadLog(PathBuf),
    /// Recompute overlaps and predicted conflicts (in the background; cached per pair).
    Analyze,
    Quit,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub base: String,
    pub rows: Vec<Row>,
    /// Index into the filtered rows.
    pub selected: usize,
    pub filter: String,
    pub mode: Mode,
    pub status: Option<(String, bool)>,
    pub detail: Option<(PathBuf, Detail)>,
    pub spinner: usize,
    /// Unix time, for commit ages.
    pub now: i64,
    /// The rows come from the last popup's cache and are not live yet.
    pub loading: bool,
    /// An action is under way (a merge, a removal): keys that start another wait.
    pub busy: Option<String>,
    pub post_merge: Option<String>,
    /// A new worktree starts an agent, so `n` asks for its task too.
    pub has_agent: bool,
    pub scope: Option<crate::core::scope::Report>,
}

/// Two rows of a worktree agree on what the scope guard reads (all but agent and window).
fn same_content(a: &Row, b: &Row) -> bool {
    Row {
        agent: b.agent.clone(),
        window: b.window.clone(),
        ..a.clone()
    } == *b
}

impl Model {
    pub fn new(base: String, rows: Vec<Row>, now: i64) -> Model {
        Model {
            base,
            rows,
            selected: 0,
            filter: String::new(),
            mode: Mode::Normal,
            status: None,
            detail: None,
            spinner: 0,
            now,
            loading: true,
            busy: None,
            post_merge: None,
            has_agent: false,
            scope: None,
        }
    }

    /// The rows the filter lets through.
    pub fn visible(&self) -> Vec<&Row> {
        let needle = self.filter.to_lowercase();
        self.rows
            .iter()
            .filter(|r| {
                needle.is_empty()
                    || r.branch
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(&needle)
                    || r.subject
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(&needle)
            })
            .collect()
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.visible().get(self.selected).copied()
    }

    /// Something moves on screen by itself: a running check, a working agent, an action.
    pub fn any_running(&self) -> bool {
        self.rows.iter().any(|r| {
            r.check.state == CheckState::Running
                || r.agent.state == crate::core::agent::AgentState::Working
        }) || self.busy.is_some()
    }

    /// A check runs or an action is under way: the spinner turns at full pace.
    pub fn checks_running(&self) -> bool {
        self.busy.is_some()
            || self
                .rows
                .iter()
                .any(|r| r.check.state == CheckState::Running)
    }

    fn clamp_selection(&mut self) {
        let n = self.visible().len();
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    fn select(&mut self, index: usize) -> Vec<Effect> {
        let before = self.selected_row().map(|r| r.path.clone());
        self.selected = index;
        self.clamp_selection();
        let after = self.selected_row().map(|r| r.path.clone());
        match after {
            Some(path) if before.as_ref() != Some(&path) => vec![Effect::LoadDetail(path)],
            _ => Vec::new(),
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), false));
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), true));
    }

    /// Why a branch name is rejected, as the input shows it while typing.
    pub fn branch_error(input: &str) -> Option<String> {
        if input.is_empty() {
            return None;
        }
        branch::validate(input).err().map(|e| match e {
            crate::core::Error::InvalidBranch { reason, .. } => reason,
            other => other.to_string(),
        })
    }

    /// Applies one action; returns the work it asks for.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Tick => {
                self.spinner = self.spinner.wrapping_add(1);
                return Vec::new();
            }
            Action::Listed { base, rows, .. } => {
                let selected = self.selected_row().map(|r| r.path.clone());
                self.base = base;
                self.rows = rows;
                self.loading = false;
                if let Some(path) = selected
                    && let Some(i) = self.visible().iter().position(|r| r.path == path)
                {
                    self.selected = i;
                }
                self.clamp_selection();
                let mut effects = vec![Effect::Analyze];
                effects.extend(
                    self.selected_row()
                        .map(|r| Effect::LoadDetail(r.path.clone())),
                );
                return effects;
            }
            Action::RowUpdated(row) => {
                return self.update(Action::RowsUpdated {
                    rows: vec![row],
                    gone: Vec::new(),
                });
            }
            Action::AgentsUpdated(agents) => {
                let rows = agents
                    .into_iter()
                    .filter_map(|(path, agent, window)| {
                        let existing = self.rows.iter().find(|r| r.path == path)?;
                        Some(Row {
                            agent,
                            window: window.unwrap_or_else(|| existing.window.clone()),
                            ..existing.clone()
                        })
                    })
                    .collect();
                return self.update(Action::RowsUpdated {
                    rows,
                    gone: Vec::new(),
                });
            }
            Action::RowsUpdated { rows, gone } => {
                let selected = self.selected_row().map(|r| r.path.clone());
                let touched =
                    |path: &PathBuf| rows.iter().any(|r| &r.path == path) || gone.contains(path);
                let reload = selected.as_ref().is_some_and(touched);
                // The scope guard reads content and commits: an agent's or a window's change
                // alone does not ask for it again.
                let mut analyze = !gone.is_empty();
                for row in rows {
                    match self.rows.iter_mut().find(|r| r.path == row.path) {
                        Some(existing) => {
                            analyze |= !same_content(existing, &row);
                            *existing = row;
                        }
                        None => {
                            analyze = true;
                            self.rows.push(row);
                        }
                    }
                }
                self.rows.retain(|r| !gone.contains(&r.path));
                self.clamp_selection();
                let mut effects = Vec::new();
                if analyze {
                    effects.push(Effect::Analyze);
                }
                if reload || self.selected_row().map(|r| &r.path) != selected.as_ref() {
                    effects.extend(
                        self.selected_row()
                            .map(|r| Effect::LoadDetail(r.path.clone())),
                    );
                }
                return effects;
            }
            Action::Analyzed(report) => {
                match *report {
                    Ok(report) => self.scope = Some(report),
                    Err(error) => self.error(format!("conflict prediction failed: {error}")),
                }
                return Vec::new();
            }
            Action::RowGone(path) => {
                self.rows.retain(|r| r.path != path);
                self.clamp_selection();
                return Vec::new();
            }
            Action::DetailLoaded { path, detail } => {
                // Loads finish out of order when the selection moves fast: keep the selected.
                if self.selected_row().is_some_and(|r| r.path == path) {
                    self.detail = Some((path, detail));
                }
                return Vec::new();
            }
            Action::MergePlanned(view) => {
                self.busy = None;
                self.mode = Mode::Merge(view);
                return Vec::new();
            }
            Action::HandoffDrafted(view) => {
                self.busy = None;
                let conflict = view.kind == HandoffKind::Conflict;
                if conflict {
                    self.error(view.summary.clone());
                } else {
                    self.info(view.summary.clone());
                }
                self.mode = Mode::Handoff(view);
                // A conflicting sync changed the worktree.
                return if conflict {
                    vec![Effect::RefreshAll]
                } else {
                    Vec::new()
                };
            }
            Action::RemovePlanned(view) => {
                self.busy = None;
                self.mode = Mode::Remove { view, force: false };
                return Vec::new();
            }
            Action::LogLoaded { title, lines } => {
                let scroll = lines.len().saturating_sub(1);
                self.mode = Mode::Log {
                    title,
                    lines,
                    scroll,
                };
                return Vec::new();
            }
            Action::Done(message) => {
                self.busy = None;
                self.info(message);
                return vec![Effect::RefreshAll];
            }
            Action::Failed(message) => {
                self.busy = None;
                self.error(message);
                return Vec::new();
            }
            Action::Switched => return vec![Effect::Quit],
            _ => {}
        }
        let mode = std::mem::replace(&mut self.mode, Mode::Normal);
        let (mode, effects) = self.update_mode(mode, action);
        self.mode = mode;
        effects
    }
}
