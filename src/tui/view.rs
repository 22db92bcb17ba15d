//! Draws the model. Pure: the same model gives the same frame, which the snapshot tests hold.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table, Wrap};

use super::app::{Mode, Model};
use crate::core::agent::AgentState;
use crate::core::check::CheckState;
use crate::core::listing::Row;
use crate::printable::printable;

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

fn render_table(model: &Model, visible: &[&Row], theme: Theme, frame: &mut Frame, area: Rect) {
    let header = TableRow::new(["", "BRANCH", "AGENT", "CHECKS", "CHANGES", "BASE", "AGE"])
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
        TableRow::new(vec![
            Cell::from(if row.is_main { "*" } else { " " }),
            Cell::from(shown(branch)),
            Cell::from(shown(Line::from(agent_cell(row, model.spinner, theme)))),
            Cell::from(shown(Line::from(check_cell(row, model.spinner, theme)))),
            Cell::from(changes),
            Cell::from(base),
            Cell::from(age(model.now, row.commit_time)),
        ])
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Fill(3),
        Constraint::Length(6),
        Constraint::Fill(2),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(4),
    ];
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

fn render_detail(model: &Model, theme: Theme, frame: &mut Frame, area: Rect) {
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

/// A centred box of at most `width` x `height`, cleared.
fn dialog(frame: &mut Frame, area: Rect, width: u16, height: u16, title: &str) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", printable(title)));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}

fn render_new_branch(
    form: &super::app::NewWorktree,
    has_agent: bool,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    use super::app::NewStep;
    let inner = dialog(frame, area, 64, 9, "new worktree");
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut fields = vec![("branch", &form.branch, NewStep::Branch)];
    if has_agent {
        fields.push(("task", &form.task, NewStep::Task));
    }
    fields.push(("scope", &form.scope, NewStep::Scope));
    let mut lines: Vec<Line> = fields
        .iter()
        .filter(|(_, _, step)| *step as u8 <= form.step as u8)
        .map(|(label, text, step)| {
            let cursor = if *step == form.step { "▏" } else { "" };
            Line::from(vec![
                Span::raw(format!("{label:<7} ")),
                Span::styled(format!("{text}{cursor}"), bold),
            ])
        })
        .collect();
    let hint = match (form.error(), form.step) {
        (Some(reason), _) => Line::styled(format!("✘ {reason}"), theme.fg(Color::Red)),
        (None, NewStep::Branch) if form.branch.is_empty() => Line::styled(
            "letters, digits, '.', '_', '-', '/'",
            theme.fg(Color::DarkGray),
        ),
        (None, NewStep::Branch) => Line::styled("⏎ next", theme.fg(Color::Green)),
        (None, NewStep::Task) => Line::styled(
            "the agent's task (empty: none)   ⏎ next",
            theme.fg(Color::Green),
        ),
        (None, NewStep::Scope) => Line::styled(
            "files it may change, as globs (empty: anywhere)   ⏎ create and switch",
            theme.fg(Color::Green),
        ),
    };
    lines.push(hint);
    lines.push(Line::styled("esc cancels", theme.fg(Color::DarkGray)));
    frame.render_widget(
        Paragraph::new(shown_all(lines)).wrap(Wrap { trim: false }),
        inner,
    );
}

fn render_merge(view: &super::app::MergeView, theme: Theme, frame: &mut Frame, area: Rect) {
    use crate::core::config::MergeStrategy;
    let mut lines = Vec::new();
    let mut keys = "esc close";
    if view.refusals.is_empty() {
        lines.push(Line::from(format!(
            "Merge {} into {}:",
            view.branch, view.base
        )));
        let mut strategies = vec![Span::raw("strategy ")];
        for strategy in [
            MergeStrategy::Merge,
            MergeStrategy::Rebase,
            MergeStrategy::Squash,
        ] {
            strategies.push(if strategy == view.strategy {
                Span::styled(
                    format!("[{strategy}]"),
                    theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                )
            } else {
                Span::styled(format!(" {strategy} "), theme.fg(Color::DarkGray))
            });
        }
        lines.push(Line::from(strategies));
        for (id, subject) in view.commits.iter().take(6) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {id}"), theme.fg(Color::Yellow)),
                Span::raw(format!(" {subject}")),
            ]));
        }
        if view.commits.len() > 6 {
            lines.push(Line::raw(format!("  … {} more", view.commits.len() - 6)));
        }
        if view.uncommitted > 0 {
            lines.push(Line::raw(format!(
                "  + {} uncommitted file(s), committed first",
                view.uncommitted
            )));
        }
        let stat = &view.diffstat;
        let count = stat.files.len();
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{count} file{} changed, ",
                if count == 1 { "" } else { "s" }
            )),
            Span::styled(format!("+{}", stat.insertions), theme.fg(Color::Green)),
            Span::raw(" "),
            Span::styled(format!("−{}", stat.deletions), theme.fg(Color::Red)),
        ]));
        for (path, added, removed) in stat.files.iter().take(4) {
            lines.push(Line::from(vec![
                Span::raw(format!("  {path} ")),
                Span::styled(format!("+{added}"), theme.fg(Color::Green)),
                Span::raw(" "),
                Span::styled(format!("−{removed}"), theme.fg(Color::Red)),
            ]));
        }
        if count > 4 {
            lines.push(Line::raw(format!("  … {} more files", count - 4)));
        }
        if view.strategy == MergeStrategy::Squash {
            let mut message = view.squash_message.lines().filter(|l| !l.is_empty());
            if let Some(subject) = message.next() {
                lines.push(Line::raw(format!("one commit: {subject}")));
            }
            if let Some(task) = message.next().filter(|l| l.starts_with("Task: ")) {
                lines.push(Line::raw(format!("  {task}")));
            }
        }
        lines.push(Line::styled(
            "✔ checks passed on this content",
            theme.fg(Color::Green),
        ));
        for warning in &view.warnings {
            lines.push(Line::styled(
                format!("! {warning}"),
                theme.fg(Color::Yellow),
            ));
        }
        match &view.post_merge {
            Some(command) => lines.push(Line::raw(format!(
                "then runs `{command}` in the main worktree"
            ))),
            None => lines.push(Line::raw("no post_merge configured")),
        }
        lines.push(Line::raw(if view.keep {
            "and keeps its worktree, branch and window (its agent keeps its context)"
        } else {
            "and removes its worktree, branch and window (saved to trash)"
        }));
        keys = if view.keep {
            "y/⏎ merge   s strategy   k remove it after all   n/esc cancel"
        } else {
            "y/⏎ merge   s strategy   k keep worktree   n/esc cancel"
        };
    } else {
        lines.push(Line::styled(
            format!("Cannot merge {} into {}:", view.branch, view.base),
            theme.fg(Color::Red),
        ));
        for reason in &view.refusals {
            lines.push(Line::raw(format!("• {reason}")));
        }
    }
    let height = wrapped_height(&lines, 74) + 1 + 2;
    let inner = dialog(frame, area, 76, height, "merge");
    pinned(
        frame,
        inner,
        lines,
        Line::styled(keys, theme.fg(Color::DarkGray)),
        false,
    );
}

/// How many rows `lines` take wrapped at `width` (an estimate by characters).
fn wrapped_height(lines: &[Line<'_>], width: usize) -> u16 {
    lines
        .iter()
        .map(|line| line.width().max(1).div_ceil(width.max(1)) as u16)
        .sum()
}

/// A dialog's body above its keys, which always show on its last row: a body too tall is cut
/// at its end, or (`show_end`, text being typed) at its start, so its end stays in sight.
fn pinned(frame: &mut Frame, inner: Rect, body: Vec<Line<'_>>, keys: Line<'_>, show_end: bool) {
    if inner.height == 0 {
        return;
    }
    let body_area = Rect {
        height: inner.height - 1,
        ..inner
    };
    let keys_area = Rect {
        y: inner.y + inner.height - 1,
        height: 1,
        ..inner
    };
    let overflow = wrapped_height(&body, inner.width as usize).saturating_sub(body_area.height);
    let scroll = if show_end { overflow } else { 0 };
    frame.render_widget(
        Paragraph::new(shown_all(body))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        body_area,
    );
    frame.render_widget(Paragraph::new(shown(keys)), keys_area);
}

fn render_handoff(view: &super::app::HandoffView, theme: Theme, frame: &mut Frame, area: Rect) {
    use super::app::HandoffKind;
    let (summary_color, title) = match view.kind {
        HandoffKind::Conflict => (Color::Red, "hand the conflict to the agent"),
        HandoffKind::Coordinate => (Color::Yellow, "tell the agent: predicted conflict"),
    };
    let lines = vec![
        Line::styled(view.summary.clone(), theme.fg(summary_color)),
        Line::raw(format!("For {}'s agent (type to edit):", view.branch)),
        Line::styled(format!("{}▏", view.text), theme.fg(Color::Yellow)),
    ];
    let height = wrapped_height(&lines, 74) + 1 + 2;
    let inner = dialog(frame, area, 76, height, title);
    pinned(
        frame,
        inner,
        lines,
        Line::styled(
            "⏎ send to its agent   ⌫ delete   esc don't send",
            theme.fg(Color::DarkGray),
        ),
        true,
    );
}

fn render_remove(
    view: &super::app::RemoveView,
    force: bool,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let mut lines = vec![Line::from(format!(
        "Remove {} ({})?",
        view.branch,
        view.path.display()
    ))];
    if view.loses_work() {
        if !view.dirty.is_empty() {
            lines.push(Line::styled(
                format!("{} uncommitted file(s):", view.dirty.len()),
                theme.fg(Color::Yellow),
            ));
            for path in view.dirty.iter().take(5) {
                lines.push(Line::raw(format!("  {path}")));
            }
            if view.dirty.len() > 5 {
                lines.push(Line::raw(format!("  … {} more", view.dirty.len() - 5)));
            }
        }
        if !view.unmerged.is_empty() {
            lines.push(Line::styled(
                format!("{} commit(s) not in base:", view.unmerged.len()),
                theme.fg(Color::Yellow),
            ));
            for (id, subject) in view.unmerged.iter().take(5) {
                lines.push(Line::raw(format!("  {id} {subject}")));
            }
        }
        if force {
            lines.push(Line::styled(
                "Really remove? Everything above is saved to the trash (wtmux restore).",
                theme.fg(Color::Red),
            ));
            lines.push(Line::styled(
                "y/⏎ remove anyway   n/esc cancel",
                theme.fg(Color::DarkGray),
            ));
        } else {
            lines.push(Line::styled(
                "f force (saves it to the trash first)   n/esc cancel",
                theme.fg(Color::DarkGray),
            ));
        }
    } else {
        lines.push(Line::raw("Nothing would be lost: it is clean and merged."));
        lines.push(Line::styled(
            "y/⏎ remove   n/esc cancel",
            theme.fg(Color::DarkGray),
        ));
    }
    let height = lines.len() as u16 + 2;
    let inner = dialog(frame, area, 76, height, "remove");
    frame.render_widget(
        Paragraph::new(shown_all(lines)).wrap(Wrap { trim: false }),
        inner,
    );
}

const HELP: &[(&str, &str)] = &[
    ("↑/↓ j/k", "move"),
    ("g/G", "first / last"),
    ("⏎", "switch to the worktree's window"),
    ("n", "new worktree, branch and window"),
    ("v / V", "verify this / every worktree"),
    ("u", "sync: bring base's new commits in"),
    ("c", "warn its agent: predicted conflict"),
    ("m", "merge into base (gated on checks)"),
    ("d", "remove worktree, branch, window"),
    ("l", "full check log"),
    ("/", "filter rows"),
    ("r", "refresh"),
    ("q / esc", "close"),
];

fn render_help(theme: Theme, frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:>9}  "), theme.fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    let inner = dialog(frame, area, 50, lines.len() as u16 + 2, "keys");
    frame.render_widget(Paragraph::new(shown_all(lines)), inner);
}

fn render_log(
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
