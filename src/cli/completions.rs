//! `wtmux completions`: shell completions.

use std::process::ExitCode;

use clap::CommandFactory;

use super::output::Stdout;
use crate::core::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<ExitCode> {
    clap_complete::generate(args.shell, &mut super::Cli::command(), "wtmux", &mut Stdout);
    Ok(ExitCode::SUCCESS)
}
