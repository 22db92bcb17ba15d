//! Looking at agents now: their records, one look at their panes, and the state inferred.

use super::AgentStatus;
use super::infer::effective;
use super::observe::{self, PaneView, Sight, Subject};
use super::record::{AgentRecord, now_ms};
use crate::core::Project;
use crate::core::tmux::Pane;

pub(super) fn evaluate(
    project: &Project,
    record: &AgentRecord,
    panes: Option<&std::collections::HashMap<String, Pane>>,
) -> AgentStatus {
    evaluate_all(project, &[record], panes)
        .pop()
        .map(|(status, _)| status)
        .unwrap_or_else(AgentStatus::none)
}

/// The state of each agent, and what its look learned of its pane.
pub(super) fn evaluate_all(
    project: &Project,
    records: &[&AgentRecord],
    panes: Option<&std::collections::HashMap<String, Pane>>,
) -> Vec<(AgentStatus, observe::Look)> {
    let subjects: Vec<Subject> = records
        .iter()
        .map(|record| Subject {
            pane_id: record.pane.as_deref(),
            pane: match (panes, &record.pane) {
                (Some(panes), Some(id)) => panes.get(id).map_or(PaneView::Gone, PaneView::Seen),
                _ => PaneView::Unknown,
            },
            known: record.observed.as_ref(),
        })
        .collect();
    let now = now_ms();
    let looks = match &project.tmux {
        Some(tmux) => observe::look(tmux, &subjects, now, project.config.agent_quiet),
        None => subjects
            .iter()
            .map(|s| observe::Look {
                sight: Sight::Unknown,
                observation: s.known.cloned(),
            })
            .collect(),
    };
    records
        .iter()
        .zip(looks)
        .map(|(record, look)| {
            let status = effective(
                record,
                look.sight,
                now,
                project.config.agent_quiet,
                project.config.agent_hook_stale,
            );
            (status, look)
        })
        .collect()
}
