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

/// An unknown option on one line, phrased by wtmux rather than clap, whose tip for `-rf` names
/// `-r` alone and suggests passing it as a value (a branch cannot start with `-`): the word as
/// typed, the similar option if clap found one, else the options the command has; and `hint`,
/// how to pass a value that starts with `-`, where one may.
pub fn unknown_option_line(
    command: &str,
    typed: &str,
    suggested: Option<&str>,
    options: &[String],
    hint: Option<&str>,
) -> String {
    let mut line = format!("{command} has no option '{typed}'");
    match suggested {
        Some(similar) => line.push_str(&format!(": did you mean {similar}?")),
        None if options.is_empty() => line.push_str(" (it takes no options)"),
        None => line.push_str(&format!(" (its options: {})", options.join(", "))),
    }
    if let Some(hint) = hint {
        line.push_str(&format!("; {hint}"));
    }
    line + " (see --help)"
}

/// Where in `args` (those after the subcommand) the user typed the argument clap's `invalid`
/// (`-r` of `-rf`, `--no-windw` of `--no-windw=1`) came from, before `--` (`None`: it was not
/// an option but an argument too many).
pub fn typed_argument(args: &[String], invalid: &str) -> Option<usize> {
    let short = invalid.len() == 2 && !invalid.starts_with("--");
    args.iter().take_while(|a| *a != "--").position(|a| {
        if short {
            a.starts_with('-') && !a.starts_with("--") && a[1..].contains(&invalid[1..])
        } else {
            a == invalid || a.starts_with(&format!("{invalid}="))
        }
    })
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

    #[test]
    fn an_unknown_option_is_named_as_typed_with_the_options_that_exist() {
        let args: Vec<String> = ["add", "x", "-rf", "--", "-q"].map(String::from).into();
        assert_eq!(typed_argument(&args, "-r"), Some(2));
        assert_eq!(
            typed_argument(&args, "-q"),
            None,
            "after -- is not an option"
        );
        let args: Vec<String> = ["add", "--no-windw=1"].map(String::from).into();
        assert_eq!(typed_argument(&args, "--no-windw"), Some(1));
        let options = ["--base".to_string(), "--no-window".to_string()];
        assert_eq!(
            unknown_option_line("add", "-rf", None, &options, None),
            "add has no option '-rf' (its options: --base, --no-window) (see --help)"
        );
        assert_eq!(
            unknown_option_line("add", "--no-windw", Some("--no-window"), &options, None),
            "add has no option '--no-windw': did you mean --no-window? (see --help)"
        );
    }
}
