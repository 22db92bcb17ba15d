//! The core's words name no flag of the CLI and no key of the popup: the front ends phrase the
//! core's facts with their own (`cli/error.rs`, `tui/words.rs`). Every string literal of
//! `src/core` (its test modules left out) that reads as prose — it holds a space — is checked
//! for a long flag of any wtmux command (`--force`, `--commit`, …; git's own flags, like
//! `--no-edit`, are git's words) and for the popup's ways of naming a key (`` `d` ``, "press
//! f", "Esc", "Enter", "v runs").

use std::collections::BTreeSet;
use std::path::Path;

use clap::CommandFactory;

mod rust_source;

const CORE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/core");

/// Every long flag of every wtmux command, `--` included.
fn cli_flags() -> BTreeSet<String> {
    fn walk(command: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long() {
                out.insert(format!("--{long}"));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut flags = BTreeSet::new();
    walk(&wtmux::cli::Cli::command(), &mut flags);
    flags.remove("--help");
    flags.remove("--version");
    flags
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// How the popup names a key in its words, if `text` does so.
fn names_a_key(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    for (n, word) in words.iter().enumerate() {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '`');
        // `d`, `y`: a key in backquotes.
        if bare.len() == 3 && bare.starts_with('`') && bare.ends_with('`') {
            return Some(bare.to_string());
        }
        // The popup's named keys.
        if ["Esc", "Enter", "Tab"].contains(&bare) {
            return Some(bare.to_string());
        }
        // "press f", "d removes it", "v runs them".
        let next = words.get(n + 1).copied().unwrap_or("");
        if bare.len() == 1
            && bare.chars().all(|c| c.is_ascii_alphabetic())
            && bare != "a"
            && [
                "removes", "runs", "brings", "switches", "toggles", "saves", "sends", "opens",
            ]
            .contains(&next)
        {
            return Some(format!("{bare} {next}"));
        }
        if *word == "press" && next.trim_matches(|c: char| !c.is_alphanumeric()).len() == 1 {
            return Some(format!("press {next}"));
        }
    }
    None
}

#[test]
fn no_core_text_names_a_cli_flag_or_a_popup_key() {
    let flags = cli_flags();
    assert!(
        flags.contains("--force") && flags.contains("--commit"),
        "the flags were not found: {flags:?}"
    );
    let mut files = Vec::new();
    rust_files(Path::new(CORE), &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut prose = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(CORE).unwrap().display().to_string();
        for (line, literal) in rust_source::scan(&text).literals {
            if !literal.contains(' ') {
                continue;
            }
            prose += 1;
            for token in literal.split(|c: char| c.is_whitespace() || "()[],;:`'\"".contains(c)) {
                let flag = token.split('=').next().unwrap_or(token);
                if flags.contains(flag) {
                    wrong.push(format!("core{name}:{line}: {flag} in {literal:?}"));
                }
            }
            if let Some(key) = names_a_key(&literal) {
                wrong.push(format!("core{name}:{line}: the key {key:?} in {literal:?}"));
            }
        }
    }
    assert!(prose > 100, "the scan found too little prose: {prose}");
    assert!(
        wrong.is_empty(),
        "core text names the front ends' flags or keys:\n{}",
        wrong.join("\n")
    );
}

/// The core's refusals are typed values with their facts; `Error::Refused(String)` is for the
/// front ends' own.
#[test]
fn the_core_makes_no_refusal_of_plain_text() {
    let mut files = Vec::new();
    rust_files(Path::new(CORE), &mut files);
    let wrong: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("plumbing/error.rs"))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("Error::refused(") || text.contains("Error::Refused(")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(wrong.is_empty(), "plain-text refusals in {wrong:?}");
}

#[test]
fn the_scan_sees_a_flag_and_a_key() {
    let text = "fn f() { g(\"pass --force to go on\"); h(\"d removes it\"); i(\"git commit \\\n --no-edit\"); }";
    let found = rust_source::scan(text).literals;
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[2].1, "git commit --no-edit");
    assert!(cli_flags().contains("--force"));
    assert_eq!(names_a_key(&found[1].1).as_deref(), Some("d removes"));
    assert_eq!(names_a_key("did the agent ask? press enter"), None);
}
