//! The wrapper: the process an agent's window runs. It runs the agent, records how it ended,
//! then leaves a shell in the worktree so the window (and what the agent printed) stays.

use std::process::Command;

use super::Refused;
use super::record::{AgentRecord, modify, read_record_at};
use crate::core::Project;
use crate::core::error::{Error, Result};
use crate::printable::printable;

/// The inside of an agent's window: runs the agent, records how it ended, then leaves a shell
/// in the worktree so the window (and what the agent printed) stays.
pub fn run_wrapper(project: &Project, key: &str) -> Result<std::convert::Infallible> {
    use std::os::unix::process::CommandExt;
    if !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Refused::MalformedKey.into());
    }
    let path = project.state.dir("agents")?.join(format!("{key}.json"));
    let record: AgentRecord = read_record_at(&path).ok_or(Refused::NoRecord)?;
    let mut command = Command::new("sh");
    match &record.prompt {
        // The task is "$1" of the agent's command line: a value, never parsed by the shell.
        Some(prompt) => command
            .arg("-c")
            .arg(format!("{} \"$@\"", record.run))
            .arg("wtmux-agent")
            .arg(prompt),
        None => command.arg("-c").arg(&record.run),
    };
    command.current_dir(&record.worktree);
    // SAFETY: only async-signal-safe calls (signal(2)) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
        // Ctrl-C belongs to the agent; the wrapper outlives it to record how it ended.
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let code = match command.status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
        }
        Err(_) => 127,
    };
    let worktree = record.worktree.clone();
    modify(project, &worktree, |slot| {
        if let Some(latest) = slot {
            latest.exit_code = Some(code);
            latest.exited = true;
        }
    })?;
    // The name comes from the configuration (a key of `[agents]`, or a command): outside text,
    // which must not act on the terminal of the pane it is printed into.
    println!(
        "\n[wtmux] {} exited with status {code}",
        printable(&record.name)
    );
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    // SAFETY: restoring default dispositions before exec.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGQUIT, libc::SIG_DFL);
    }
    let error = Command::new(&shell).current_dir(&record.worktree).exec();
    Err(Error::io(shell, error))
}
