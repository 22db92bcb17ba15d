//! The dialogs over the table: new branch, merge, hand-off, remove, help; each keeps its keys
//! on its last row.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{Theme, shown, shown_all};
use crate::printable::printable;
use crate::tui::app::{HandoffView, MergeView, NewWorktree, RemoveView};

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

pub(super) fn render_new_branch(
    form: &NewWorktree,
    has_agent: bool,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
) {
    use crate::tui::app::NewStep;
    // The scope globs entered, one per line as they were typed; the last few only.
    const SCOPES_SHOWN: usize = 3;
    let scopes_shown = form.scopes.len().min(SCOPES_SHOWN);
    let more = form.scopes.len() - scopes_shown;
    let height = 9 + scopes_shown as u16 + u16::from(more > 0);
    let inner = dialog(frame, area, 64, height, "new worktree");
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut fields = vec![("branch", &form.branch, NewStep::Branch)];
    if has_agent {
        fields.push(("task", &form.task, NewStep::Task));
    }
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
    if form.step == NewStep::Scope {
        let mut label = "scope";
        if more > 0 {
            lines.push(Line::styled(
                format!("{label:<7} … {more} more"),
                theme.fg(Color::DarkGray),
            ));
            label = "";
        }
        for glob in &form.scopes[more..] {
            lines.push(Line::from(vec![
                Span::raw(format!("{label:<7} ")),
                Span::styled(glob.as_str(), bold),
            ]));
            label = "";
        }
        lines.push(Line::from(vec![
            Span::raw(format!("{label:<7} ")),
            Span::styled(format!("{}▏", form.scope), bold),
        ]));
    }
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
        (None, NewStep::Scope) if !form.scope.is_empty() => Line::styled(
            "one glob per line, spaces included   ⏎ add it",
            theme.fg(Color::Green),
        ),
        (None, NewStep::Scope) if form.scopes.is_empty() => {
            lines.push(Line::styled(
                "files it may change: one glob per line, spaces included",
                theme.fg(Color::DarkGray),
            ));
            Line::styled(
                "none: anywhere   ⏎ create and switch",
                theme.fg(Color::Green),
            )
        }
        (None, NewStep::Scope) => Line::styled(
            "another glob, or   ⏎ create and switch   ⌫ edit the last one",
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

pub(super) fn render_merge(view: &MergeView, theme: Theme, frame: &mut Frame, area: Rect) {
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
        lines.push(if view.checks_configured {
            Line::styled("✔ checks passed on this content", theme.fg(Color::Green))
        } else {
            Line::styled(
                "no checks configured: nothing was checked",
                theme.fg(Color::Yellow),
            )
        });
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

/// A dialog's body above its keys, which always show on its last rows (wrapped onto more than
/// one when the dialog is narrower than they are, so none is cut off): a body too tall is cut
/// at its end, or (`show_end`, text being typed) at its start, so its end stays in sight.
fn pinned(frame: &mut Frame, inner: Rect, body: Vec<Line<'_>>, keys: Line<'_>, show_end: bool) {
    if inner.height == 0 {
        return;
    }
    let keys_height = keys_rows(&keys, inner.width).min(inner.height);
    let body_area = Rect {
        height: inner.height - keys_height,
        ..inner
    };
    let keys_area = Rect {
        y: inner.y + inner.height - keys_height,
        height: keys_height,
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
    frame.render_widget(
        Paragraph::new(shown(keys)).wrap(Wrap { trim: true }),
        keys_area,
    );
}

/// The rows a line of keys takes wrapped at `width`, word by word (the keys are separated by
/// runs of spaces, and a word never splits).
fn keys_rows(keys: &Line<'_>, width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let text: String = keys.spans.iter().map(|s| s.content.as_ref()).collect();
    let (mut rows, mut used) = (1u16, 0usize);
    for word in text.split_whitespace() {
        let len = word.chars().count();
        let needed = if used == 0 { len } else { used + 1 + len };
        if needed <= width || used == 0 {
            used = needed;
        } else {
            rows += 1;
            used = len;
        }
        // A word longer than the width wraps onto rows of its own.
        while used > width {
            rows += 1;
            used -= width;
        }
    }
    rows
}

pub(super) fn render_handoff(view: &HandoffView, theme: Theme, frame: &mut Frame, area: Rect) {
    use crate::tui::app::HandoffKind;
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

pub(super) fn render_remove(
    view: &RemoveView,
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

pub(super) fn render_help(theme: Theme, frame: &mut Frame, area: Rect) {
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
