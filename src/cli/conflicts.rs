//! `wtmux conflicts`: the scope guard — overlapping work, predicted conflicts, a merge order.

use std::io::Write;
use std::process::ExitCode;

use super::output::{Stdout, print_json, shown};
use crate::core::error::plural;
use crate::core::{Result, scope};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let report = scope::analyze_for_display(&super::project()?)?;
    if args.json {
        print_json(&report)?;
    } else {
        print_conflicts(&mut Stdout, &report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_conflicts(out: &mut dyn Write, report: &scope::Report) {
    if report.worktrees.is_empty() {
        writeln!(out, "no active worktrees").ok();
        return;
    }
    for w in &report.worktrees {
        let mut notes = Vec::new();
        if !w.base_conflicts.is_empty() {
            notes.push(format!(
                "CONFLICTS with {}: {}",
                shown(&report.base),
                shown(&w.base_conflicts.join(", "))
            ));
        }
        if !w.outside_scope.is_empty() {
            notes.push(format!(
                "outside its scope: {}",
                shown(&w.outside_scope.join(", "))
            ));
        }
        for (other, files) in &w.in_others_scope {
            notes.push(format!(
                "inside {}'s scope: {}",
                shown(other),
                shown(&files.join(", "))
            ));
        }
        writeln!(
            out,
            "{:<30} {} file{} changed{}{}",
            shown(&w.branch),
            w.files.len(),
            plural(w.files.len()),
            match &w.not_green {
                None => ", green".to_string(),
                Some(why) => format!(", not green: {}", shown(&why.to_string())),
            },
            if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            }
        )
        .ok();
    }
    if report.pairs.is_empty() {
        writeln!(out, "\nno two worktrees changed the same file").ok();
    } else {
        writeln!(out).ok();
    }
    for pair in &report.pairs {
        if pair.conflicts.is_empty() {
            writeln!(
                out,
                "{} ~ {}: overlap in {}, merge cleanly together",
                shown(&pair.a),
                shown(&pair.b),
                shown(&pair.overlap.join(", "))
            )
        } else {
            writeln!(
                out,
                "{} ✘ {}: CONFLICT in {}",
                shown(&pair.a),
                shown(&pair.b),
                shown(&pair.conflicts.join(", "))
            )
        }
        .ok();
    }
    let order = &report.merge_order;
    if !order.order.is_empty() || !order.blocked.is_empty() {
        writeln!(out).ok();
        writeln!(
            out,
            "merge order of the green branches: {}",
            if order.order.is_empty() {
                "-".to_string()
            } else {
                shown(&order.order.join(" → ")).into_owned()
            }
        )
        .ok();
        for (branch, why) in &order.blocked {
            writeln!(out, "  {} cannot follow: {}", shown(branch), shown(why)).ok();
        }
    }
}
