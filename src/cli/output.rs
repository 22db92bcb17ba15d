//! Everything the CLI prints goes through here: one writer per stream that survives a closed
//! pipe, outside text made printable, JSON exact, and clap's errors on one line (wtmux's own
//! are phrased by `error.rs`).

use std::io::Write;
use std::process::ExitCode;

use crate::core::{Error, Result};
use crate::printable::printable;

/// Standard output of every command. A closed pipe (`wtmux list --json | head -1`) discards the
/// rest silently instead of panicking, and the command ends as it would have.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        ignore_closed_pipe(std::io::stdout().write(buf), buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        ignore_closed_pipe(std::io::stdout().flush(), ())
    }
}

/// Standard error, likewise.
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        ignore_closed_pipe(std::io::stderr().write(buf), buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        ignore_closed_pipe(std::io::stderr().flush(), ())
    }
}

fn ignore_closed_pipe<T>(result: std::io::Result<T>, discarded: T) -> std::io::Result<T> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(discarded),
        other => other,
    }
}

/// A line on standard output (outside text in it goes through [`shown`]).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!($crate::cli::output::Stdout, $($arg)*);
    }};
}

/// A `wtmux: ` line on standard error.
macro_rules! warn {
    ($($arg:tt)*) => {{
        let _ = writeln!($crate::cli::output::Stderr, "wtmux: {}", format_args!($($arg)*));
    }};
}

/// A child's exit status as this process's exit code: what `exit(2)` keeps of it, the low
/// eight bits.
pub fn exit_status(code: i32) -> ExitCode {
    ExitCode::from((code & 0xff) as u8)
}

/// Outside text (branch names, paths, subjects, file names, commands) as it may be printed.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    printable(text)
}

pub fn shown_path(path: &std::path::Path) -> String {
    printable(&path.display().to_string()).into_owned()
}

/// clap's usage error on one line: its message without the usage block, the `--help` hint or
/// line breaks.
pub fn usage_error_line(rendered: &str) -> String {
    let message = rendered
        .split("\n\nUsage:")
        .next()
        .unwrap_or(rendered)
        .split("\n\nFor more information")
        .next()
        .unwrap_or(rendered);
    let message = message.strip_prefix("error: ").unwrap_or(message);
    message.split_whitespace().collect::<Vec<_>>().join(" ") + " (see --help)"
}

/// JSON output: exact (serde_json escapes control characters itself), and a closed pipe ends
/// it silently.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::CommandFailed {
        command: "JSON output".into(),
        detail: e.to_string(),
    })?;
    say!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_error_is_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  <BRANCH>\n\nUsage: wtmux add <BRANCH>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(rendered),
            "the following required arguments were not provided: <BRANCH> (see --help)"
        );
    }
}
