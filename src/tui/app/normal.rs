//! What an action does on the table itself (no dialog open), and to the selected row.

use super::{Action, Effect, Mode, Model, NewWorktree};
use crate::core::listing::Row;

impl Model {
    pub(super) fn update_normal(&mut self, action: Action) -> (Mode, Vec<Effect>) {
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
