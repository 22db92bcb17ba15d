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
    evaluate_with(project, records, panes, None)
}

/// The state of each agent from a snapshot whose call also read the screens expected to be
/// needed (the monitor's: see [`observe::look_at_screens`]), as of `called_ms`, the time just
/// before that call: a screen is known to be read after a second ended only if that second had
/// ended before the call.
pub(super) fn evaluate_at_screens(
    project: &Project,
    records: &[&AgentRecord],
    panes: &std::collections::HashMap<String, Pane>,
    screens: std::collections::HashMap<String, crate::core::tmux::ScreenRead>,
    called_ms: u64,
) -> Vec<(AgentStatus, observe::Look)> {
    evaluate_with(project, records, Some(panes), Some((screens, called_ms)))
}

fn evaluate_with(
    project: &Project,
    records: &[&AgentRecord],
    panes: Option<&std::collections::HashMap<String, Pane>>,
    screens: Option<(
        std::collections::HashMap<String, crate::core::tmux::ScreenRead>,
        u64,
    )>,
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
    // Before any screen is read (a look reads them after this).
    let now = screens.as_ref().map_or_else(now_ms, |(_, called)| *called);
    let looks = match (&project.tmux, screens) {
        (Some(_), Some((screens, _))) => {
            observe::look_at_screens(&subjects, screens, now, project.config.agent_quiet)
        }
        (Some(tmux), None) => observe::look(tmux, &subjects, now, project.config.agent_quiet),
        (None, _) => subjects
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
