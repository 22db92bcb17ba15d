//! `wtmux trash`: what removals saved, or pruning old saves.

use std::io::Write;
use std::process::ExitCode;

use super::output::{shown, shown_path};
use crate::core::error::plural;
use crate::core::{Result, config, trash};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Drop saves older than `trash_days` (config; default 30), then the oldest beyond
    /// `trash_max_size` (default 20 GiB).
    #[arg(long)]
    prune: bool,
    /// With --prune: drop saves older than this many days instead.
    #[arg(long, value_name = "DAYS", requires = "prune", value_parser = config::parse_days)]
    older_than: Option<u64>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let project = super::project()?;
    if args.prune {
        let days = args.older_than.unwrap_or(project.config.trash_days);
        let dropped = trash::prune(&project, days, project.config.trash_max_size)?;
        say!(
            "pruned {} saved state{}",
            dropped.len(),
            plural(dropped.len())
        );
        return Ok(ExitCode::SUCCESS);
    }
    let entries = trash::list(&project)?;
    if entries.is_empty() {
        say!("the trash is empty");
    }
    for mut entry in entries {
        let age = std::time::Duration::from_secs(
            crate::core::now_unix().saturating_sub(entry.saved_at) / 60 * 60,
        );
        let holds = match entry.phase {
            trash::Phase::Restored => format!(
                "restored to {}",
                shown_path(
                    entry
                        .restored_to
                        .as_deref()
                        .unwrap_or(std::path::Path::new("?"))
                )
            ),
            _ => format!(
                "{} uncommitted, {} commit{} not in {}",
                entry.dirty.len(),
                entry.unmerged.len(),
                plural(entry.unmerged.len()),
                shown(&project.base)
            ),
        };
        let size = trash::size_of(&project, &mut entry);
        say!(
            "{:<28} {:>10}  {:>9} ago  {holds}  [{}]",
            shown(entry.branch.as_deref().unwrap_or("(detached)")),
            bytesize::ByteSize::b(size)
                .display()
                .iec_short()
                .to_string(),
            if age.is_zero() {
                "<1m".into()
            } else {
                humantime::format_duration(age).to_string()
            },
            shown(&entry.id)
        );
    }
    Ok(ExitCode::SUCCESS)
}
