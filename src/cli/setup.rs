//! `wtmux setup claude|gemini`: wtmux's hooks merged into an agent's settings, after asking.

use std::io::Write;
use std::process::ExitCode;

use super::output::{Stdout, shown_path};
use crate::core::agent;
use crate::core::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    agent: SetupArg,
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
    /// The settings file (default: the agent's user settings under $HOME).
    #[arg(long, value_name = "FILE")]
    settings: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SetupArg {
    Claude,
    Gemini,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let which = match args.agent {
        SetupArg::Claude => agent::HookedAgent::Claude,
        SetupArg::Gemini => agent::HookedAgent::Gemini,
    };
    let home = directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .ok_or_else(|| Error::refused("no home directory"))?;
    let path = args.settings.unwrap_or_else(|| which.settings_path(&home));
    let exe = crate::core::own_exe()?;
    let (old, new) = agent::plan_setup(&path, which, &exe.to_string_lossy())?;
    if old == new {
        say!("{} already has wtmux's hooks", shown_path(&path));
        return Ok(ExitCode::SUCCESS);
    }
    say!("{}:", shown_path(&path));
    let _ = write!(Stdout, "{}", line_diff(&old, &new));
    if !args.yes {
        let _ = write!(Stdout, "apply this change? [y/N] ");
        Stdout.flush().ok();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Error::refused(format!("{} not changed", path.display())));
        }
    }
    agent::apply_setup(&path, &old, &new)?;
    say!("wrote {}", shown_path(&path));
    Ok(ExitCode::SUCCESS)
}

/// A line diff of two texts, `-`/`+` prefixed, unchanged lines as context.
pub fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // Longest common subsequence, fine for settings files.
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            out.push_str(&format!("  {}\n", old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", new[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", old[i]));
            i += 1;
        }
    }
    out
}
