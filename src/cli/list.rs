//! `wtmux list`: every worktree as a table, or as JSON.

use std::io::Write;
use std::process::ExitCode;

use super::output::{Stdout, print_json, shown};
use crate::core::Result;
use crate::core::agent::AgentState;
use crate::core::check::{CheckState, CheckStatus};
use crate::core::listing;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the stable JSON schema documented in README.md.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let project = super::project()?;
    let listing = listing::list(&project)?;
    if args.json {
        print_json(&listing)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_listing(&mut Stdout, &listing);
    if let Some(lost) = &listing.coverage {
        say!(
            "file-system monitor: watching {} of {} directories (inotify limit {}): every listing scans every worktree",
            lost.watched,
            lost.wanted,
            lost.limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| "unknown".into())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A check state in a few characters, for tables.
fn check_label(status: &CheckStatus) -> String {
    match status.state {
        CheckState::None => "-".into(),
        CheckState::Running => format!("running {}", status.name.as_deref().unwrap_or("")),
        CheckState::Passed => "passed".into(),
        CheckState::Failed => format!("FAILED {}", status.name.as_deref().unwrap_or("")),
        CheckState::Stale => "stale".into(),
    }
}

fn print_listing(out: &mut dyn Write, listing: &listing::Listing) {
    let rows: Vec<[String; 7]> = listing
        .worktrees
        .iter()
        .map(|row| {
            let branch = shown(row.branch.as_deref().unwrap_or("(detached)")).into_owned();
            [
                format!("{}{branch}", if row.is_main { "* " } else { "  " }),
                match (&row.operation, row.prunable, row.changed) {
                    (_, true, _) => "gone".into(),
                    (Some(op), _, _) => format!("~{} {}", row.changed, op.summary()),
                    (None, _, 0) => "clean".into(),
                    (None, _, changed) => format!("~{changed}"),
                },
                format!("↑{} ↓{}", row.ahead, row.behind),
                match (row.agent.state, row.agent.exit_code) {
                    (AgentState::None, _) => "-".to_string(),
                    (AgentState::Exited, Some(code)) => format!("exited {code}"),
                    (state, _) => state.as_str().to_string(),
                },
                shown(&check_label(&row.check)).into_owned(),
                row.window.clone().unwrap_or_else(|| "-".into()),
                format!(
                    "{} {}",
                    row.head.as_deref().unwrap_or("-------"),
                    shown(row.subject.as_deref().unwrap_or(""))
                ),
            ]
        })
        .collect();
    let headers = [
        "BRANCH", "CHANGES", "BASE", "AGENT", "CHECKS", "WINDOW", "HEAD",
    ];
    let mut widths = headers.map(|h| h.chars().count());
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == cells.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(&headers.map(String::from))).ok();
    for row in &rows {
        writeln!(out, "{}", line(row)).ok();
    }
    writeln!(out, "base: {}", shown(&listing.base)).ok();
}
