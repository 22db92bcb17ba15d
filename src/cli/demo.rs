//! `wtmux demo`: a throwaway repository in every state, in a tmux session.

use std::io::Write;
use std::process::ExitCode;

use super::output::{Stdout, shown_path};
use crate::core::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Set everything up, but do not attach to (or switch to) the demo session.
    #[arg(long)]
    no_attach: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let exe = crate::core::own_exe()?;
    let demo = crate::core::demo::create(&exe)?;
    say!("demo repository: {}", shown_path(&demo.repo));
    say!(
        "tmux session {}: press the prefix key (C-b), then w",
        demo.session
    );
    if args.no_attach {
        return Ok(ExitCode::SUCCESS);
    }
    Stdout.flush().ok();
    let mut tmux = std::process::Command::new("tmux");
    if std::env::var_os("TMUX").is_some() {
        tmux.args(["switch-client", "-t", &demo.session]);
        let status = tmux.status().map_err(|e| Error::io("tmux", e))?;
        return Ok(if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    use std::os::unix::process::CommandExt;
    let error = tmux.args(["attach-session", "-t", &demo.session]).exec();
    Err(Error::io("tmux attach-session", error))
}
