//! `wtmux demo`: a throwaway repository with worktrees in every state, in a tmux session with
//! the popup bound, so a newcomer can press Prefix + w at once.

use std::path::{Path, PathBuf};

use super::check;
use super::create::{self, AddOptions};
use super::error::{Error, Result};
use super::git::Git;
use super::tmux::Tmux;
use super::worktree;
use super::{Project, config};

/// The plugin, built in: the demo binds the key with the very file users source.
pub const PLUGIN: &str = include_str!("../../tmux/wtmux.tmux");

pub const SESSION: &str = "wtmux-demo";

#[derive(Debug, Clone)]
pub struct Demo {
    pub repo: PathBuf,
    pub session: String,
}

const CONFIG: &str = r#"# The demo's checks: lint fails when BROKEN exists; test takes a minute when SLOW exists.
agent = ""

[[check]]
name = "lint"
run = "test ! -f BROKEN || { echo 'lint: BROKEN is present'; exit 1; }"

[[check]]
name = "test"
run = "if [ -f SLOW ]; then echo 'a slow test suite…'; sleep 60; fi; echo 'all tests passed'"
"#;

/// Builds the demo repository under the temp dir and a detached tmux session on it (on the
/// server of `$TMUX`, else the default server), with the popup bound and the checks started.
pub fn create(exe: &Path) -> Result<Demo> {
    let repo = tempfile::Builder::new()
        .prefix("wtmux-demo-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?
        .keep();
    let repo = super::canonical(&repo);
    let write = |name: &str, text: &str| {
        let path = repo.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    };
    let git = |dir: &Path, args: &[&str]| {
        Git::new(dir)
            .args([
                "-c",
                "user.name=wtmux demo",
                "-c",
                "user.email=demo@wtmux.invalid",
            ])
            .args(args)
            .run()
    };
    git(&repo, &["init", "-q", "-b", "main"])?;
    write(
        "README.md",
        "# demo\n\nA throwaway repository for trying wtmux.\n",
    )?;
    write("src/app.txt", "the application\n")?;
    write(config::REPO_CONFIG_FILE, CONFIG)?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "Start the demo project"])?;

    // The demo's checks are wtmux's own: trusted.
    let commands = config::Config::load(&repo, None)?.repo_commands;
    super::trust::grant(&super::canonical(&repo), &commands.digest)?;
    let tmux = start_session(&repo, exe)?;
    let session = SESSION.to_string();
    let mut in_session = tmux.clone();
    in_session.pane = Some(
        tmux.run(&["display-message", "-p", "-t", &session, "#{pane_id}"])?
            .trim()
            .to_string(),
    );
    let project = Project::discover_with(&repo, None, Some(in_session))?;

    let branches = [
        ("feat/green", None, true),
        ("feat/red", Some("BROKEN"), true),
        ("feat/slow", Some("SLOW"), true),
        ("feat/dirty", None, false),
    ];
    for (branch, marker, commit) in branches {
        let added = create::add(&project, branch, &AddOptions::default())?;
        let dir = &added.path;
        // Each works on a file of its own, but red and dirty also both rewrite the
        // application: the scope guard's conflict marker has something to show.
        let own = dir.join(format!("src/{}.txt", branch.replace('/', "-")));
        std::fs::write(&own, format!("work of {branch}\n")).map_err(|e| Error::io(&own, e))?;
        if matches!(branch, "feat/red" | "feat/dirty") {
            let app = dir.join("src/app.txt");
            std::fs::write(&app, format!("the application, as {branch} sees it\n"))
                .map_err(|e| Error::io(&app, e))?;
        }
        if let Some(marker) = marker {
            std::fs::write(dir.join(marker), "").map_err(|e| Error::io(dir, e))?;
        }
        if commit {
            git(dir, &["add", "-A"])?;
            git(dir, &["commit", "-q", "-m", &format!("Work on {branch}")])?;
            check::start(&project, &worktree::find(&project, branch)?)?;
        }
    }
    let _ = tmux.run(&[
        "display-message",
        "-t",
        &session,
        "wtmux demo: press the prefix key, then w",
    ]);
    Ok(Demo { repo, session })
}

/// A fresh detached session on the demo repository — on the server of `$TMUX`, else the
/// default server — with the plugin bound to the demo binary. Returns that server.
fn start_session(repo: &Path, exe: &Path) -> Result<Tmux> {
    let mut new = std::process::Command::new("tmux");
    if let Some(inside) = Tmux::from_env() {
        new.arg("-S").arg(inside.socket());
    }
    let out = new
        .args([
            "new-session",
            "-d",
            "-P",
            "-F",
            "#{socket_path}",
            "-s",
            SESSION,
            "-c",
        ])
        .arg(super::tmux::format_literal_os(repo.as_os_str()))
        .output()
        .map_err(|e| Error::io("tmux", e))?;
    if !out.status.success() {
        return Err(Error::CommandFailed {
            command: "tmux new-session".into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let tmux = Tmux::with_socket(String::from_utf8_lossy(&out.stdout).trim());
    let plugin = repo.join(".git/wtmux-plugin.tmux");
    std::fs::write(&plugin, PLUGIN).map_err(|e| Error::io(&plugin, e))?;
    tmux.run(&["set-option", "-g", "@wtmux-bin", &exe.to_string_lossy()])?;
    let source = format!(
        "bash {}",
        super::tmux::shell_quote(&plugin.to_string_lossy())
    );
    tmux.run(&[
        "run-shell",
        "-t",
        SESSION,
        &super::tmux::format_literal(&source),
    ])?;
    Ok(tmux)
}
