//! A file-system monitor, so showing worktrees (`list`, `conflicts`, the popup) need not stat
//! every tracked file of every worktree each time: git's `fsmonitor` idea, with inotify.
//!
//! A daemon (one per repository, under tmux) watches every directory holding tracked or
//! untracked-not-ignored files of every worktree, each worktree's git admin dir (HEAD, index),
//! the refs, and its own `clean/` directory. A reader that scans a worktree first writes a marker
//! `clean/<worktree key>` holding the daemon's session and a fresh token, then scans, then stores
//! the result with that token. The daemon deletes a worktree's marker on the first change in it.
//! A later reader whose marker (same live session, same token as the stored result) is still
//! there reuses the result without scanning. Any doubt — no daemon, another session, a lost
//! event queue, a token mismatch — means a scan.
//!
//! inotify reports asynchronously, so a reader first syncs with the daemon, as git's fsmonitor
//! does with its cookie files: it creates `clean/.cookie-<pid>` and waits until the daemon has
//! removed it. Events come in order, so every change made before the cookie has then been seen.
//!
//! Only display paths use this. Everything that decides (the check runner's fingerprint, the
//! merge plan, the trash, what a removal would lose) always scans.//!
//! The files: this one is the reader's side (syncing, markers, stored results); `daemon` the
//! watching; `follow` following it (the popup).

mod daemon;
mod follow;

use std::path::{Path, PathBuf};

use git2::Repository;
use serde::{Deserialize, Serialize};

use super::Project;
use super::error::{Error, Result};
use super::state::{is_held, read_json, worktree_key, write_json};
use super::status::{self, Changes, Content};

pub use daemon::{
    DaemonStatus, GaveUp, RETRY_AFTER, STATUS, coverage_lost, daemon_status, forget_giving_up,
    gave_up_at, inotify_limit, run_daemon,
};
use follow::live_session;
pub use follow::{Coverage, Event, Follower, coverage, follow, session, start_and_wait};

/// The hidden subcommand of the daemon: `wtmux __fsmonitor`.
pub const COMMAND: &str = "__fsmonitor";

fn dir(project: &Project, sub: &str) -> Result<PathBuf> {
    project.state.dir(&format!("fsmonitor/{sub}"))
}

/// `WTMUX_FSMONITOR=off`: this process neither uses nor starts the daemon (a full scan), to
/// compare the two or to rule the daemon out.
fn disabled() -> bool {
    std::env::var_os("WTMUX_FSMONITOR").is_some_and(|v| v == "off")
}

/// The running daemon's session, once it has caught up with every change made before this
/// call; `None` when none runs or it does not answer in time. One call per operation: its
/// answer is good for changes made before it.
pub fn sync(project: &Project) -> Option<String> {
    if disabled() {
        return None;
    }
    let root = dir(project, "").ok()?;
    if !is_held(&root.join("daemon.lock")).ok()? {
        return None; // no daemon
    }
    let session = live_session(&root)?;
    let cookie = dir(project, "clean")
        .ok()?
        .join(format!(".cookie-{}", std::process::id()));
    std::fs::write(&cookie, "").ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while cookie.exists() {
        if std::time::Instant::now() > deadline {
            let _ = std::fs::remove_file(&cookie);
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Some(session)
}

/// Starts the daemon under tmux (a second one exits at once). Called after an operation that
/// found none, so that its start-up does not compete with that operation.
pub fn start(project: &Project) {
    let Some(tmux) = &project.tmux else { return };
    if disabled() {
        return;
    }
    // A daemon that could not watch everything (inotify's limit) is not tried again for a while.
    let gave_up = dir(project, "")
        .ok()
        .and_then(|d| std::fs::metadata(d.join("unavailable")).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < RETRY_AFTER);
    if gave_up {
        return;
    }
    if let Ok(argv) = super::own_command(&[COMMAND]) {
        let _ = tmux.spawn_background(&project.main_worktree, &argv);
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    token: String,
    changes: Changes,
    /// The content fingerprint (tree, key), once a reader computed it for these changes.
    #[serde(default)]
    content: Option<(String, String)>,
}

/// What differs from HEAD in a worktree, for showing it: reused while the daemon (`session`,
/// from [`sync`]) has seen no change there since the last scan, scanned otherwise (git's
/// status, asked of wtmux's refreshed copy of the index: `ContentStore::display_changes`).
pub fn changes_for_display(
    project: &Project,
    _repo: &Repository,
    path: &Path,
    session: Option<&str>,
) -> Result<Changes> {
    let Some(session) = session else {
        return display_changes(project, path);
    };
    let key = worktree_key(path);
    let marker = dir(project, "clean")?.join(&key);
    let stored_path = dir(project, "changes")?.join(format!("{key}.json"));
    if let (Ok(mark), Some(stored)) = (
        std::fs::read_to_string(&marker),
        read_json::<Stored>(&stored_path),
    ) && mark == format!("{session} {}", stored.token)
    {
        return Ok(stored.changes);
    }
    let token = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    // The marker goes first: a change during the scan deletes it again.
    write_marker(&marker, &format!("{session} {token}"))?;
    let changes = display_changes(project, path)?;
    write_json(
        &stored_path,
        &Stored {
            token,
            changes: changes.clone(),
            content: None,
        },
    )?;
    Ok(changes)
}

/// git's status of a worktree, asked of wtmux's refreshed copy of its index (the exact status
/// where wtmux cannot keep one).
fn display_changes(project: &Project, path: &Path) -> Result<Changes> {
    match project.content_store() {
        Ok(store) => store.display_changes(path),
        Err(_) => status::exact_changes(path),
    }
}

/// The content fingerprint of a worktree, for showing its check state: reused while the daemon
/// has seen no change there since it was computed, computed (by git) otherwise. `changes` are
/// what [`changes_for_display`] returned for it in this operation.
pub fn content_for_display(
    project: &Project,
    path: &Path,
    session: Option<&str>,
    changes: &Changes,
) -> Result<Content> {
    // Without the daemon's word, the display cache's (keyed by stat data, as git's index is).
    let compute = || {
        super::fingerprint_cache::content(
            &project.content_store()?,
            &project.common_dir,
            path,
            changes,
        )
    };
    let Some(session) = session else {
        return compute();
    };
    let key = worktree_key(path);
    let marker = dir(project, "clean")?.join(&key);
    let stored_path = dir(project, "changes")?.join(format!("{key}.json"));
    let still_clean = |stored: &Stored| {
        std::fs::read_to_string(&marker).is_ok_and(|m| m == format!("{session} {}", stored.token))
    };
    let Some(mut stored) = read_json::<Stored>(&stored_path).filter(|s| still_clean(s)) else {
        return compute();
    };
    if let Some((tree, key)) = &stored.content
        && let Ok(tree) = git2::Oid::from_str(tree)
    {
        return Ok(Content {
            tree,
            key: key.clone(),
        });
    }
    let content = compute()?;
    // Kept only if nothing changed while it was computed (the daemon deletes the marker).
    if still_clean(&stored) {
        stored.content = Some((content.tree.to_string(), content.key.clone()));
        write_json(&stored_path, &stored)?;
    }
    Ok(content)
}

fn write_marker(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| Error::io(path, e))?;
    file.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
