//! `wtmux completions`: shell completions.

use clap::CommandFactory;

use super::output::Stdout;
use crate::core::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<i32> {
    clap_complete::generate(args.shell, &mut super::Cli::command(), "wtmux", &mut Stdout);
    Ok(0)
}
