//! The table of worktrees: one row each, with its check, agent and scope cells.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row as TableRow, Table};

use super::{SPINNER, Theme, shown};
use crate::core::agent::AgentState;
use crate::core::check::CheckState;
use crate::core::listing::Row;
use crate::tui::app::Model;

pub fn check_cell(row: &Row, spinner: usize, theme: Theme) -> Span<'static> {
    let name = row.check.name.clone().unwrap_or_default();
    match row.check.state {
        CheckState::None => Span::styled("-", theme.fg(Color::DarkGray)),
        CheckState::Running => Span::styled(
            format!("{} {name}", SPINNER[spinner % SPINNER.len()]),
            theme.fg(Color::Yellow),
        ),
        CheckState::Passed => Span::styled("✔ passed", theme.fg(Color::Green)),
        CheckState::Failed => Span::styled(format!("✘ {name}"), theme.fg(Color::Red)),
        CheckState::Stale => Span::styled("◌ stale", theme.fg(Color::Magenta)),
    }
}

pub fn age(now: i64, then: Option<i64>) -> String {
    let Some(then) = then else {
        return "-".into();
    };
    let seconds = (now - then).max(0);
    match seconds {
        s if s < 60 => "now".into(),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 14 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}w", s / (7 * 86_400)),
    }
}

pub fn agent_cell(row: &Row, spinner: usize, theme: Theme) -> Span<'static> {
    match row.agent.state {
        AgentState::None => Span::styled("-", theme.fg(Color::DarkGray)),
        AgentState::Working => Span::styled(
            format!("{} work", SPINNER[spinner % SPINNER.len()]),
            theme.fg(Color::Yellow),
        ),
        AgentState::Waiting => Span::styled("? wait", theme.fg(Color::Magenta)),
        AgentState::Done => Span::styled("✔ done", theme.fg(Color::Green)),
        AgentState::Exited => Span::styled(
            match row.agent.exit_code {
                Some(code) => format!("✘ {code}"),
                None => "✘ gone".to_string(),
            },
            theme.fg(Color::Red),
        ),
    }
}

/// The scope guard's marker after a branch: `!n` conflicts (with n branches, or `!base`), `≈n`
/// overlaps that merge cleanly, `∉` work outside its declared scope or inside another's.
/// (Single-width symbols: emoji-width ones shift the columns in many terminals.) `true`: a conflict.
pub fn scope_marker(model: &Model, row: &Row) -> Option<(String, bool)> {
    let report = model.scope.as_ref()?;
    let branch = row.branch.as_deref()?;
    let changed = report.worktree(branch)?;
    let (mut overlaps, mut conflicts) = (0, 0);
    for (_, pair) in report.pairs_of(branch) {
        overlaps += 1;
        if !pair.conflicts.is_empty() {
            conflicts += 1;
        }
    }
    if !changed.base_conflicts.is_empty() {
        return Some((format!("!{}", report.base), true));
    }
    if conflicts > 0 {
        return Some((format!("!{conflicts}"), true));
    }
    if !changed.outside_scope.is_empty() || !changed.in_others_scope.is_empty() {
        return Some(("∉".into(), false));
    }
    (overlaps > 0).then(|| (format!("≈{overlaps}"), false))
}

/// Below this width the table shows only the branch, its checks and its changes.
const NARROW_TABLE: u16 = 56;

pub(super) fn render_table(
    model: &Model,
    visible: &[&Row],
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    // Too narrow for every column, the table keeps the branch, its checks and its changes: the
    // fixed columns alone would take all the room and leave the branch column empty.
    let narrow = area.width < NARROW_TABLE;
    let kept = |cells: Vec<Cell<'static>>| -> Vec<Cell<'static>> {
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !narrow || [0, 1, 3, 4].contains(i))
            .map(|(_, cell)| cell)
            .collect()
    };
    let header = TableRow::new(kept(
        ["", "BRANCH", "AGENT", "CHECKS", "CHANGES", "BASE", "AGE"]
            .into_iter()
            .map(Cell::from)
            .collect(),
    ))
    .style(Style::default().add_modifier(Modifier::BOLD));
    // Only the rows that fit are built (a frame with a hundred rows would otherwise format them
    // all, eight times a second while a spinner turns): the window ends at the selection when
    // it lies below the first screenful, as a table scrolled to it would show.
    let height = usize::from(area.height.saturating_sub(1)).max(1);
    let offset = model.selected.saturating_sub(height - 1);
    let shown_rows = &visible[offset.min(visible.len())..(offset + height).min(visible.len())];
    let rows = shown_rows.iter().map(|row| {
        let branch = row.branch.clone().unwrap_or_else(|| "(detached)".into());
        let changes = if row.prunable {
            Span::styled("gone", theme.fg(Color::Red))
        } else if row.operation.is_some() {
            // The branch cell names the operation; its files are in its hands.
            Span::styled(format!("~{}", row.changed), theme.fg(Color::Red))
        } else if row.changed > 0 {
            Span::styled(format!("~{}", row.changed), theme.fg(Color::Yellow))
        } else {
            Span::styled("clean", theme.fg(Color::DarkGray))
        };
        let base = if row.is_main {
            String::new()
        } else {
            format!("↑{} ↓{}", row.ahead, row.behind)
        };
        let marker = scope_marker(model, row);
        let branch = Line::from(vec![
            Span::raw(branch),
            match marker {
                Some((text, true)) => Span::styled(format!(" {text}"), theme.fg(Color::Red)),
                Some((text, false)) => Span::styled(format!(" {text}"), theme.fg(Color::Yellow)),
                None => Span::raw(""),
            },
            match &row.operation {
                // A stopped rebase or merge matters more than anything else on the row.
                Some(operation) => {
                    Span::styled(format!("  {}", operation.summary()), theme.fg(Color::Red))
                }
                None => Span::raw(""),
            },
        ]);
        TableRow::new(kept(vec![
            Cell::from(if row.is_main { "*" } else { " " }),
            Cell::from(shown(branch)),
            Cell::from(shown(Line::from(agent_cell(row, model.spinner, theme)))),
            Cell::from(shown(Line::from(check_cell(row, model.spinner, theme)))),
            Cell::from(changes),
            Cell::from(base),
            Cell::from(age(model.now, row.commit_time)),
        ]))
    });
    let widths: Vec<Constraint> = if narrow {
        vec![
            Constraint::Length(1),
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(7),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Fill(3),
            Constraint::Length(6),
            Constraint::Fill(2),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(4),
        ]
    };
    let highlight = if theme.color {
        Style::default()
            .bg(Color::Indexed(237))
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::REVERSED)
    };
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(highlight)
        .column_spacing(1);
    let mut state = ratatui::widgets::TableState::default();
    if !shown_rows.is_empty() {
        state.select(Some(model.selected - offset));
    }
    frame.render_stateful_widget(table, area, &mut state);
}
