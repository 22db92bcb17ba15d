//! Draws the model. Pure: the same model gives the same frame, which the snapshot tests hold.

//!
//! The files: `rows` (the table), `detail` (the detail pane and the full log), `dialogs` (the
//! boxes over the table). This file holds the frame's layout, the header, status and footer.

mod detail;
mod dialogs;
mod rows;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{Mode, Model};
use crate::printable::printable;

use detail::{render_detail, render_log};
use dialogs::{render_handoff, render_help, render_merge, render_new_branch, render_remove};
use rows::render_table;

pub use rows::{age, agent_cell, check_cell, scope_marker};

const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// Colours, or none at all when `NO_COLOR` is set.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }
}

/// A line of outside text (branch names, paths, subjects, file names, pane tails, log lines, core
/// messages) as it may be drawn: control characters and escape sequences shown escaped, not
/// dropped or passed to the terminal.
fn shown(mut line: Line<'_>) -> Line<'_> {
    for span in &mut line.spans {
        if let std::borrow::Cow::Owned(escaped) = printable(&span.content) {
            span.content = escaped.into();
        }
    }
    line
}

fn shown_all(lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    lines.into_iter().map(shown).collect()
}

pub fn render(model: &Model, theme: Theme, frame: &mut Frame) {
    let area = frame.area();
    if let Mode::Log {
        title,
        lines,
        scroll,
    } = &model.mode
    {
        render_log(title, lines, *scroll, theme, frame, area);
        return;
    }
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(model, theme, frame, header);
    let visible = model.visible();
    let table_height = (visible.len() as u16 + 1).max(2);
    let detail_wanted = body.height >= table_height + 4;
    let (table_area, detail_area) = if detail_wanted {
        let [t, d] =
            Layout::vertical([Constraint::Length(table_height), Constraint::Min(3)]).areas(body);
        (t, Some(d))
    } else {
        (body, None)
    };
    render_table(model, &visible, theme, frame, table_area);
    if let Some(area) = detail_area {
        render_detail(model, theme, frame, area);
    }
    render_status(model, theme, frame, status);
    render_footer(model, theme, frame, footer);
    match &model.mode {
        Mode::NewBranch(form) => render_new_branch(form, model.has_agent, theme, frame, area),
        Mode::Merge(view) => render_merge(view, theme, frame, area),
        Mode::Handoff(view) => render_handoff(view, theme, frame, area),
        Mode::Remove { view, force } => render_remove(view, *force, theme, frame, area),
        Mode::Help => render_help(theme, frame, area),
        _ => {}
    }
}

fn render_header(model: &Model, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![
        Span::styled("wtmux", theme.fg(Color::Cyan).add_modifier(Modifier::BOLD)),
        Span::raw(format!("  base {}", model.base)),
        Span::raw(format!("  {} worktrees", model.rows.len())),
    ];
    if model.loading {
        spans.push(Span::styled("  loading…", theme.fg(Color::DarkGray)));
    }
    if !model.filter.is_empty() {
        spans.push(Span::raw(format!("  filter: {}", model.filter)));
    }
    frame.render_widget(Paragraph::new(shown(Line::from(spans))), area);
}

fn render_status(model: &Model, theme: Theme, frame: &mut Frame, area: Rect) {
    let line = if let Mode::Filter = model.mode {
        Line::from(format!("/{}▏", model.filter))
    } else if let Some(busy) = &model.busy {
        Line::styled(
            format!("{} {busy}…", SPINNER[model.spinner % SPINNER.len()]),
            theme.fg(Color::Yellow),
        )
    } else if let Some((text, is_error)) = &model.status {
        Line::styled(
            text.clone(),
            if *is_error {
                theme.fg(Color::Red)
            } else {
                theme.fg(Color::Green)
            },
        )
    } else {
        Line::raw("")
    };
    frame.render_widget(Paragraph::new(shown(line)), area);
}

fn render_footer(model: &Model, theme: Theme, frame: &mut Frame, area: Rect) {
    let keys = match model.mode {
        Mode::Filter => "type to filter  ⏎ keep  esc clear",
        _ if area.width >= 96 => {
            "⏎ open  n new  v verify  V all  u sync  m merge  d remove  l log  / filter  r refresh  ? help  q quit"
        }
        _ => "⏎ open  n new  v verify  m merge  d remove  ? more  q quit",
    };
    frame.render_widget(
        Paragraph::new(Line::styled(keys, theme.fg(Color::DarkGray))),
        area,
    );
}
