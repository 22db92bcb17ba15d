//! `wtmux open`: focus a worktree's window, re-creating it if it is gone.

use std::io::Write;
use std::process::ExitCode;

use crate::core::Result;
use crate::core::window;

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let project = super::project()?;
    let opened = window::open(&project, &args.branch)?;
    if opened.created {
        say!("window {} (created)", opened.window);
    } else {
        say!("window {}", opened.window);
    }
    Ok(ExitCode::SUCCESS)
}
