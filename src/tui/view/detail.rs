//! The selected worktree's detail pane (its commits, what the scope guard says of it, its
//! agent's pane tail, its check log's tail), and the full check log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Theme, shown, shown_all};
use crate::core::listing::Row;
use crate::printable::printable;
use crate::tui::app::Model;

/// What the scope guard says of one branch, a line each.
fn scope_lines(model: &Model, row: &Row) -> Vec<String> {
    let (Some(report), Some(branch)) = (model.scope.as_ref(), row.branch.as_deref()) else {
        return Vec::new();
    };
    let Some(changed) = report.worktree(branch) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if !changed.base_conflicts.is_empty() {
        lines.push(format!(
            "! conflicts with {}: {}",
            report.base,
            changed.base_conflicts.join(", ")
        ));
    }
    for (other, pair) in report.pairs_of(branch) {
        if pair.conflicts.is_empty() {
            lines.push(format!(
                "≈ overlaps {other} (merges cleanly): {}",
                pair.overlap.join(", ")
            ));
        } else {
            lines.push(format!(
                "! conflicts with {other}: {}",
                pair.conflicts.join(", ")
            ));
        }
    }
    if !changed.outside_scope.is_empty() {
        lines.push(format!(
            "∉ outside its scope: {}",
            changed.outside_scope.join(", ")
        ));
    }
    for (other, files) in &changed.in_others_scope {
        lines.push(format!("∉ inside {other}'s scope: {}", files.join(", ")));
    }
    lines
}

pub(super) fn render_detail(model: &Model, theme: Theme, frame: &mut Frame, area: Rect) {
    let Some(row) = model.selected_row() else {
        return;
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(format!(" {} ", printable(&row.path.display().to_string())));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = Vec::new();
    let detail = model
        .detail
        .as_ref()
        .filter(|(path, _)| *path == row.path)
        .map(|(_, d)| d);
    if let Some(operation) = &row.operation {
        lines.push(Line::styled(
            format!(
                "! {}: resolve, check, commit in the worktree (or abort the {})",
                operation.summary(),
                operation.kind
            ),
            theme.fg(Color::Red),
        ));
    }
    for line in scope_lines(model, row) {
        let color = if line.starts_with('!') {
            Color::Red
        } else {
            Color::Yellow
        };
        lines.push(Line::styled(line, theme.fg(color)));
    }
    if let Some(detail) = detail {
        if !row.is_main {
            if detail.commits.is_empty() {
                lines.push(Line::styled(
                    format!("no commits that {} lacks", model.base),
                    theme.fg(Color::DarkGray),
                ));
            }
            for (id, subject) in detail.commits.iter().take(5) {
                lines.push(Line::from(vec![
                    Span::styled(id.clone(), theme.fg(Color::Yellow)),
                    Span::raw(format!(" {subject}")),
                ]));
            }
            if detail.commits.len() > 5 {
                lines.push(Line::raw(format!("… {} more", detail.commits.len() - 5)));
            }
        }
        if !detail.agent_tail.is_empty() {
            lines.push(Line::styled(
                format!(
                    "── agent: {} ({}) ──",
                    row.agent.name.as_deref().unwrap_or("agent"),
                    row.agent.state.as_str()
                ),
                theme.fg(Color::Cyan),
            ));
            let room = (inner.height as usize).saturating_sub(lines.len()) / 2;
            let tail = &detail.agent_tail[detail.agent_tail.len().saturating_sub(room.max(1))..];
            lines.extend(tail.iter().map(|l| Line::raw(l.clone())));
        }
        if let Some(log) = &detail.log {
            let name = log
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = name
                .split_once('-')
                .map(|(_, n)| n.to_string())
                .unwrap_or(name);
            lines.push(Line::styled(
                format!("── check log: {name} ──"),
                theme.fg(Color::Cyan),
            ));
            let room = (inner.height as usize).saturating_sub(lines.len());
            let tail = &detail.log_tail[detail.log_tail.len().saturating_sub(room)..];
            lines.extend(tail.iter().map(|l| Line::raw(l.clone())));
        }
    } else {
        lines.push(Line::styled("…", theme.fg(Color::DarkGray)));
    }
    frame.render_widget(Paragraph::new(shown_all(lines)), inner);
}

pub(super) fn render_log(
    title: &str,
    lines: &[String],
    scroll: usize,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let [body, footer] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", printable(title)));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let height = inner.height as usize;
    // `scroll` is the last line shown, so the log opens at its end.
    let end = (scroll + 1).min(lines.len());
    let start = end.saturating_sub(height);
    let visible: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| shown(Line::raw(l.clone())))
        .collect();
    frame.render_widget(Paragraph::new(visible), inner);
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!(
                "lines {}-{} of {}   ↑/↓ pgup/pgdn g/G   q/esc close",
                start + 1,
                end,
                lines.len()
            ),
            theme.fg(Color::DarkGray),
        )),
        footer,
    );
}
