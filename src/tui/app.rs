//! The popup's state and what every action does to it. Pure: no terminal, no git, no tmux —
//! work that touches the outside world is returned as [`Effect`]s for the runtime to carry out,
//! and comes back as result actions.

use std::path::PathBuf;

use crate::core::branch;
use crate::core::check::CheckState;
use crate::core::config::MergeStrategy;
use crate::core::listing::{Detail, Row};

/// A core error as the popup says it (phrased in `words`).
pub use super::words::error_text;

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
}

/// The new-worktree form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewWorktree {
    pub branch: String,
    /// The agent's task (asked only when an agent is configured).
    pub task: String,
    /// Scope globs, separated by spaces.
    pub scope: String,
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
            NewStep::Scope => crate::core::scope::validate_globs(&self.scope_globs())
                .err()
                .map(|e| error_text(&e)),
        }
    }

    pub fn scope_globs(&self) -> Vec<String> {
        self.scope.split_whitespace().map(str::to_string).collect()
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
            Action::Listed { base, rows } => {
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

    fn update_mode(&mut self, mode: Mode, action: Action) -> (Mode, Vec<Effect>) {
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
                let field = match form.step {
                    NewStep::Branch => &mut form.branch,
                    NewStep::Task => &mut form.task,
                    NewStep::Scope => &mut form.scope,
                };
                match action {
                    Action::Char(c) => field.push(c),
                    Action::Backspace => {
                        field.pop();
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
                    Action::Confirm => {
                        self.busy = Some(format!("creating {}", form.branch));
                        let prompt = Some(form.task.clone()).filter(|t| !t.trim().is_empty());
                        return (
                            Mode::Normal,
                            vec![Effect::Add {
                                scope: form.scope_globs(),
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

    fn update_normal(&mut self, action: Action) -> (Mode, Vec<Effect>) {
        let selected = self.selected_row().cloned();
        let effects = match action {
            Action::Up => self.select(self.selected.saturating_sub(1)),
            Action::Down => self.select(self.selected + 1),
            Action::Top => self.select(0),
            Action::Bottom => self.select(usize::MAX),
            Action::PageUp => self.select(self.selected.saturating_sub(10)),
            Action::PageDown => self.select(self.selected.saturating_add(10)),
            Action::Quit | Action::Cancel => vec![Effect::Quit],
            Action::Help => return (Mode::Help, Vec::new()),
            Action::Filter => return (Mode::Filter, Vec::new()),
            Action::Refresh => {
                self.info("refreshing…");
                vec![Effect::RefreshAll]
            }
            _ if self.busy.is_some() => {
                let busy = self.busy.clone().unwrap_or_default();
                self.info(format!("wait: {busy}"));
                Vec::new()
            }
            Action::New => {
                return (Mode::NewBranch(NewWorktree::default()), Vec::new());
            }
            Action::VerifyAll => {
                let paths = self
                    .rows
                    .iter()
                    .filter(|r| !r.prunable)
                    .map(|r| r.path.clone())
                    .collect();
                vec![Effect::Check(paths)]
            }
            action => match selected {
                Some(row) => self.act_on_row(action, row),
                None => Vec::new(),
            },
        };
        (Mode::Normal, effects)
    }

    /// The actions that work on the selected row.
    fn act_on_row(&mut self, action: Action, row: Row) -> Vec<Effect> {
        match action {
            Action::Enter | Action::Confirm => vec![Effect::Open(row.path)],
            Action::Verify => vec![Effect::Check(vec![row.path])],
            Action::ShowLog => vec![Effect::LoadLog(row.path)],
            Action::Sync if row.is_main => {
                self.error("the main worktree is base's own; pick a branch's row");
                Vec::new()
            }
            Action::Sync => {
                self.busy = Some("bringing in base's commits".into());
                vec![Effect::Sync(row.path)]
            }
            Action::Merge if row.is_main => {
                self.error("the main worktree is not merged; pick a branch's row");
                Vec::new()
            }
            Action::Merge => {
                self.busy = Some("working out the merge".into());
                vec![Effect::PlanMerge(row.path)]
            }
            Action::Coordinate => {
                let Some(branch) = row.branch.clone().filter(|_| !row.is_main) else {
                    self.error(
                        "c tells a branch's agent about predicted conflicts; pick a branch's row",
                    );
                    return Vec::new();
                };
                let conflicting = self.scope.as_ref().map(|report| {
                    report
                        .pairs_of(&branch)
                        .filter(|(_, p)| !p.conflicts.is_empty())
                        .count()
                });
                match conflicting {
                    None => {
                        self.info(
                            "the conflict prediction is still running; try again in a moment",
                        );
                        Vec::new()
                    }
                    Some(0) => {
                        self.info(format!(
                            "{branch} is not predicted to conflict with another branch"
                        ));
                        Vec::new()
                    }
                    Some(_) if row.agent.state == crate::core::agent::AgentState::None => {
                        self.error(format!("no agent runs in {branch}'s worktree to tell"));
                        Vec::new()
                    }
                    Some(_) => {
                        self.busy = Some(format!("drafting the note for {branch}'s agent"));
                        vec![Effect::DraftCoordination(row.path)]
                    }
                }
            }
            Action::Remove if row.is_main => {
                self.error("the main worktree is never removed");
                Vec::new()
            }
            Action::Remove => {
                self.busy = Some("working out the removal".into());
                vec![Effect::PlanRemove(row.path)]
            }
            _ => Vec::new(),
        }
    }
}
