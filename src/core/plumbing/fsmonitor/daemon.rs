//! The daemon: one per repository, under tmux; it watches the one watch plan (every worktree's
//! directories, admin dirs and the refs), drops a worktree's marker on its first change, and
//! says how much it watches and when it gave up.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::Repository;
use serde::{Deserialize, Serialize};

use super::follow::EVERYTHING;
use super::{Stored, dir};
use crate::core::error::{Error, Result};
use crate::core::state::{is_held, read_json, try_hold, worktree_key, write_json};
use crate::core::status;
use crate::core::{Project, now_unix, worktree};

/// Where the running daemon describes itself (for `doctor`).
pub const STATUS: &str = "status.json";

/// The file-system monitor, as it describes itself (every 5 s at most while things change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub pid: u32,
    /// Unix time it started.
    pub started: u64,
    /// Directories it watches.
    pub watched: usize,
    /// The system's limit on inotify watches per user (all of the user's watchers together).
    pub limit: Option<usize>,
    /// Unix time of the last change it saw in a worktree.
    pub last_event: Option<u64>,
}

/// `fs.inotify.max_user_watches`.
pub fn inotify_limit() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The running daemon, if one runs (its lock is held).
pub fn daemon_status(project: &Project) -> Result<Option<DaemonStatus>> {
    let root = dir(project, "")?;
    if !is_held(&root.join("daemon.lock"))? {
        return Ok(None);
    }
    Ok(read_json(&root.join(STATUS)))
}

/// Whether the last daemon gave up because it could not watch every directory, and when.
pub fn gave_up_at(project: &Project) -> Option<std::time::SystemTime> {
    std::fs::metadata(dir(project, "").ok()?.join("unavailable"))
        .ok()?
        .modified()
        .ok()
}

/// How far the last daemon that gave up got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GaveUp {
    /// Directories it could watch before the system refused more.
    pub watched: usize,
    /// Directories there were to watch.
    pub wanted: usize,
    pub limit: Option<usize>,
}

/// The coverage of the file-system monitor when it could not watch every directory lately (it
/// is not tried again for a while; meanwhile every reader scans).
pub fn coverage_lost(project: &Project) -> Option<GaveUp> {
    let path = dir(project, "").ok()?.join("unavailable");
    let age = std::fs::metadata(&path)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()?;
    if age >= RETRY_AFTER {
        return None;
    }
    read_json(&path)
}

/// How long a daemon that gave up is not started again.
pub const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Lets the next reader start a daemon again at once, even one that gave up lately.
pub fn forget_giving_up(project: &Project) {
    if let Ok(root) = dir(project, "") {
        let _ = std::fs::remove_file(root.join("unavailable"));
    }
}

/// Which worktree a watched directory belongs to (`None`: a change there may affect any).
type Owners = HashMap<PathBuf, Option<String>>;

fn plan_watches(project: &Project) -> Result<Owners> {
    let mut owners: Owners = HashMap::new();
    owners.insert(project.common_dir.clone(), None);
    owners.insert(project.common_dir.join("info"), None);
    owners.insert(project.common_dir.join("worktrees"), None);
    add_tree(&mut owners, &project.common_dir.join("refs"), None);
    let mut checked_out = std::collections::HashSet::new();
    for w in worktree::worktrees(project)? {
        if w.prunable {
            continue;
        }
        let key = worktree_key(&w.path);
        let Ok(repo) = Repository::open(&w.path) else {
            continue;
        };
        if !w.is_main {
            let admin = repo.path().to_path_buf();
            if admin.join("index").exists() {
                checked_out.extend(admin.file_name().map(std::ffi::OsStr::to_os_string));
            }
            owners.insert(admin, Some(key.clone()));
        }
        for tracked in status::tracked_dirs(&repo) {
            owners.insert(w.path.join(tracked), Some(key.clone()));
        }
        watch_untracked_directories(&mut owners, &key, &w.path);
    }
    // A worktree being added: planned before its checkout was written (its index), it would be
    // watched without its directories, or not at all, and nothing in `worktrees/` itself
    // would change again to plan anew. So its admin dir plans anew on every change until then.
    if let Ok(admins) = std::fs::read_dir(project.common_dir.join("worktrees")) {
        for admin in admins.flatten() {
            if admin.file_type().is_ok_and(|t| t.is_dir())
                && !checked_out.contains(&admin.file_name())
            {
                owners.insert(admin.path(), None);
            }
        }
    }
    Ok(owners)
}

/// The untracked directories a reader's scan found, which the daemon watches from then on (it
/// learns them from the readers rather than scanning every worktree itself at start).
fn untracked_dirs(stored: &Path, worktrees: &HashMap<String, PathBuf>) -> Vec<(String, PathBuf)> {
    let Some(key) = stored.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let (Some(root), Some(stored)) = (worktrees.get(&key), read_json::<Stored>(stored)) else {
        return Vec::new();
    };
    stored
        .changes
        .untracked
        .iter()
        .filter(|u| u.ends_with('/'))
        .map(|u| (key.clone(), root.join(u)))
        .collect()
}

/// Plans every untracked directory of the worktree at `root` (with all below it), those `git
/// status` does not list included: empty, or holding only ignored files (see
/// `status::untracked_directories`).
fn watch_untracked_directories(owners: &mut Owners, key: &str, root: &Path) {
    for dir in unplanned_untracked_directories(owners, root) {
        add_tree(owners, &dir, Some(key.to_string()));
    }
}

/// The untracked directories of the worktree at `root` (as [`watch_untracked_directories`])
/// not planned yet.
fn unplanned_untracked_directories(owners: &Owners, root: &Path) -> Vec<PathBuf> {
    status::untracked_directories(root)
        .into_iter()
        .map(|dir| root.join(dir))
        .filter(|dir| !owners.contains_key(dir))
        .collect()
}

/// `dir` and every directory below it. A directory already planned keeps its owner: a new
/// directory is owned like its parent, except where the plan knows better — a worktree's root
/// inside another worktree (`.worktrees/<name>` in the main one) is its own.
fn add_tree(owners: &mut Owners, dir: &Path, owner: Option<String>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        stack.extend(subdirectories(&dir));
        owners.entry(dir).or_insert_with(|| owner.clone());
    }
}

/// The directories directly inside `dir` (none when it cannot be read: gone meanwhile).
fn subdirectories(dir: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
}

/// Watches `dir` and every directory below it, each before listing it: a directory made in one
/// meanwhile is then either listed or told by an event (listed first, one made between the
/// listing and the watch would go unwatched for good). Owners as in [`add_tree`]. Whether every
/// directory that exists is watched.
fn watch_tree(
    watcher: &crate::core::watch::DirWatcher,
    owners: &mut Owners,
    watched: &mut HashSet<PathBuf>,
    dir: &Path,
    owner: Option<String>,
) -> bool {
    let mut complete = true;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if !watched.contains(&dir) {
            match watcher.watch(&dir) {
                Ok(()) => {
                    watched.insert(dir.clone());
                }
                Err(_) => {
                    complete &= !dir.exists();
                    continue;
                }
            }
        }
        stack.extend(subdirectories(&dir));
        owners.entry(dir).or_insert_with(|| owner.clone());
    }
    complete
}

/// The global excludes file: `core.excludesFile`, or git's default `$XDG_CONFIG_HOME/git/ignore`
/// (`~/.config/git/ignore`). An edit there changes what is ignored in every worktree.
fn global_excludes(project: &Project) -> Option<PathBuf> {
    let configured = crate::core::git::Git::new(&project.main_worktree)
        .args(["config", "--path", "--get", "core.excludesFile"])
        .run()
        .ok()
        .map(|out| out.trim_end_matches('\n').to_string())
        .filter(|out| !out.is_empty());
    if let Some(path) = configured {
        return Some(project.main_worktree.join(path));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("git/ignore"))
}

/// Runs the daemon until the repository is gone. One per repository: a second one exits.
pub fn run_daemon(project: &Project) -> Result<()> {
    use crate::core::watch::{Batch, DirWatcher, Kind};
    let root = dir(project, "")?;
    let Some(_lock) = try_hold(&root.join("daemon.lock"))? else {
        return Ok(()); // another daemon runs
    };
    // A daemon killed without a word (kill -9, its tmux server gone) leaves its session behind:
    // until this one watches everything, no reader may take that for a daemon that does.
    let _ = std::fs::remove_file(root.join("session"));
    let clean = dir(project, "clean")?;
    for stale in std::fs::read_dir(&clean)
        .map_err(|e| Error::io(&clean, e))?
        .flatten()
    {
        let _ = std::fs::remove_file(stale.path());
    }
    let session = format!("{}-{}", std::process::id(), now_unix());

    // Changes only: the readers' own reads (git status opening files) do not wake the daemon.
    let (tx, rx) = std::sync::mpsc::channel::<Batch>();
    let watcher =
        DirWatcher::new(move |batch| tx.send(batch).is_ok()).map_err(|e| Error::io(&root, e))?;
    let stored_dir = dir(project, "changes")?;
    let owners = plan_watches(project)?;
    let worktree_roots = || -> HashMap<String, PathBuf> {
        worktree::worktrees(project)
            .unwrap_or_default()
            .into_iter()
            .map(|w| (worktree_key(&w.path), w.path))
            .collect()
    };
    let mut roots = worktree_roots();
    let mut watched: HashSet<PathBuf> = HashSet::new();
    // Whether every directory that exists is watched: one that cannot be (inotify's watch limit,
    // fs.inotify.max_user_watches) would hide its changes, so the daemon then gives up and
    // readers scan.
    let watch_all =
        |watcher: &DirWatcher, owners: &Owners, watched: &mut HashSet<PathBuf>| -> bool {
            let mut complete = true;
            for path in owners.keys().chain([&clean, &stored_dir]) {
                if watched.contains(path) {
                    continue;
                }
                match watcher.watch(path) {
                    Ok(()) => {
                        watched.insert(path.clone());
                    }
                    Err(_) => complete &= !path.exists(),
                }
            }
            complete
        };
    // Says how far it got (for `list`, the popup and `doctor`), then readers scan.
    let give_up = |watched: &HashSet<PathBuf>, owners: &Owners| {
        let _ = std::fs::remove_file(root.join("session"));
        let _ = write_json(
            &root.join("unavailable"),
            &GaveUp {
                watched: watched.len(),
                wanted: owners.len() + 2,
                limit: inotify_limit(),
            },
        );
        if let Ok(entries) = std::fs::read_dir(&clean) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    };
    // Listing comes before watching: a directory made in between is in neither (its parent's
    // watch came after it). So, once everything listed is watched, list again and watch what
    // is new: whatever is made after that is seen being made.
    let plan_then_watch =
        |first: Owners, watched: &mut HashSet<PathBuf>| -> Result<Option<Owners>> {
            let mut owners = first;
            crate::core::testpoint::pause("fsmonitor-planned");
            if !watch_all(&watcher, &owners, watched) {
                give_up(watched, &owners);
                return Ok(None);
            }
            let again = plan_watches(project)?;
            let before = owners.len();
            for (dir, owner) in again {
                owners.entry(dir).or_insert(owner);
            }
            if owners.len() > before && !watch_all(&watcher, &owners, watched) {
                give_up(watched, &owners);
                return Ok(None);
            }
            Ok(Some(owners))
        };
    let Some(mut owners) = plan_then_watch(owners, &mut watched)? else {
        return Ok(());
    };
    // The global excludes file, as named and, when that is a symbolic link (dotfiles kept
    // elsewhere), the file it leads to: an edit of either changes what is ignored. Each is
    // watched in its directory, or, where that does not exist yet, in the nearest directory
    // above that does, so that making the missing directories is seen too (only events on
    // these paths, or on directories leading to them, count there).
    let watch_excludes = |watcher: &DirWatcher| -> Vec<PathBuf> {
        let Some(file) = global_excludes(project) else {
            return Vec::new();
        };
        let mut files = vec![file.clone()];
        if let Ok(target) = std::fs::canonicalize(&file)
            && target != file
        {
            files.push(target);
        }
        for file in &files {
            let mut dir = file.parent();
            while let Some(at) = dir {
                if watcher.watch(at).is_ok() {
                    break;
                }
                dir = at.parent();
            }
        }
        files
    };
    let mut excludes = watch_excludes(&watcher);
    // Readers trust markers only once every watch is in place.
    std::fs::write(root.join("session"), &session).map_err(|e| Error::io(&root, e))?;
    let mut status = DaemonStatus {
        pid: std::process::id(),
        started: now_unix(),
        watched: watched.len(),
        limit: inotify_limit(),
        last_event: None,
    };
    write_json(&root.join(STATUS), &status)?;
    let mut status_written = std::time::Instant::now();
    // A change to it held back by the 5 s limit, written once things go quiet.
    let mut status_held = false;

    let mut marked: HashSet<String> = HashSet::new();
    let forget_all = |marked: &mut HashSet<String>| {
        for key in marked.drain() {
            let _ = std::fs::remove_file(clean.join(key));
        }
    };
    loop {
        let wait = if status_held {
            std::time::Duration::from_secs(5).saturating_sub(status_written.elapsed())
        } else {
            std::time::Duration::from_secs(60)
        };
        let batch = match rx.recv_timeout(wait) {
            Ok(batch) => batch,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if status_held {
                    let _ = write_json(&root.join(STATUS), &status);
                    status_written = std::time::Instant::now();
                    status_held = false;
                }
                if !project.common_dir.exists() {
                    return Ok(());
                }
                continue;
            }
            Err(_) => return Ok(()),
        };
        let changes = match batch {
            Batch::Changes(changes) => changes,
            Batch::Lost => {
                forget_all(&mut marked); // the kernel's queue overflowed: trust nothing
                let _ = std::fs::write(root.join(EVERYTHING), "");
                continue;
            }
        };
        let mut everything = false;
        let mut replan = false;
        let mut seen_change = false;
        for change in &changes {
            let path = &change.path;
            if path.parent() == Some(clean.as_path()) {
                let key = path.file_name().map(|n| n.to_string_lossy().into_owned());
                if key.as_deref().is_some_and(|k| k.starts_with(".cookie-")) {
                    // A reader syncing: everything before this event has been handled.
                    if change.kind == Kind::Created {
                        let _ = std::fs::remove_file(path);
                    }
                    continue;
                }
                if let Some(key) = key.filter(|k| !k.starts_with(".tmp")) {
                    if path.exists() {
                        marked.insert(key);
                    } else {
                        marked.remove(&key);
                    }
                }
                continue;
            }
            if path.parent() == Some(stored_dir.as_path()) {
                // A reader stored a scan: watch the untracked directories it found. A marker
                // set before the watch existed is not trusted.
                for (key, dir) in untracked_dirs(path, &roots) {
                    if !owners.contains_key(&dir) {
                        if !watch_tree(&watcher, &mut owners, &mut watched, &dir, Some(key.clone()))
                        {
                            give_up(&watched, &owners);
                            return Ok(());
                        }
                        if marked.remove(&key) {
                            let _ = std::fs::remove_file(clean.join(&key));
                        }
                    }
                }
                continue;
            }
            if excludes.iter().any(|file| file.starts_with(path)) {
                // What is ignored changed in every worktree: plan anew.
                forget_all(&mut marked);
                everything = true;
                replan = true;
                seen_change = true;
                continue;
            }
            let dir = path.parent().unwrap_or(path);
            let Some(owner) = owners
                .get(dir)
                .or_else(|| owners.get(path.as_path()))
                .cloned()
            else {
                continue;
            };
            seen_change = true;
            match &owner {
                Some(key) => {
                    if marked.remove(key) {
                        let _ = std::fs::remove_file(clean.join(key));
                    }
                    // A `.gitignore` edit may un-ignore directories: watch them before a
                    // reader (synced after this event) can look.
                    if path.file_name().is_some_and(|n| n == ".gitignore")
                        && let Some(root) = roots.get(key)
                    {
                        for dir in unplanned_untracked_directories(&owners, root) {
                            if !watch_tree(&watcher, &mut owners, &mut watched, &dir, owner.clone())
                            {
                                give_up(&watched, &owners);
                                return Ok(());
                            }
                        }
                        // Once watched, what the un-ignored directories hold is new to readers:
                        // one that scanned since this event began is not trusted.
                        if marked.remove(key) {
                            let _ = std::fs::remove_file(clean.join(key));
                        }
                    }
                }
                None => {
                    forget_all(&mut marked);
                    everything = true;
                    // A worktree came or went, info/exclude changed what is ignored, or the
                    // config may name another global excludes file.
                    replan |= path.starts_with(project.common_dir.join("worktrees"))
                        || *path == project.common_dir.join("info/exclude")
                        || *path == project.common_dir.join("config");
                }
            }
            // A directory of a worktree deleted or moved away: its watch (and those below it)
            // is gone or follows it elsewhere, so one made again at that path, or moved there,
            // must be watched anew (it was taken for watched, and went unseen).
            let unwatched = change.kind == Kind::Removed
                && owner.is_some()
                && (change.is_dir || owners.contains_key(path.as_path()));
            if unwatched {
                let below: Vec<PathBuf> = watched
                    .iter()
                    .filter(|w| w.starts_with(path))
                    .cloned()
                    .collect();
                for gone in below {
                    watcher.unwatch(&gone);
                    watched.remove(&gone);
                    owners.remove(&gone);
                }
            }
            // A new directory (made, or moved in from elsewhere with all it holds): watch it and
            // everything below it. So is a directory at a path whose watch was just dropped: the
            // event told of the one that was there when it happened (events are named when read,
            // and a self event can come after another directory took that path), not of the one
            // there now.
            let is_dir_now = || std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            if (change.kind == Kind::Created && change.is_dir) || (unwatched && is_dir_now()) {
                if !watch_tree(&watcher, &mut owners, &mut watched, path, owner.clone()) {
                    give_up(&watched, &owners);
                    return Ok(());
                }
                // What was made in it before its watch was in place was told by no event: a
                // reader that scanned since the directory's own event must not be trusted.
                if let Some(key) = &owner
                    && marked.remove(key)
                {
                    let _ = std::fs::remove_file(clean.join(key));
                }
            }
        }
        // What `doctor` shows, written at most every 5 s (the last change of a burst too).
        if seen_change || watched.len() != status.watched {
            status.watched = watched.len();
            if seen_change {
                status.last_event = Some(now_unix());
            }
            status_held = status_written.elapsed() < std::time::Duration::from_secs(5);
            if !status_held {
                let _ = write_json(&root.join(STATUS), &status);
                status_written = std::time::Instant::now();
            }
        }
        if everything {
            // Followers (the popup) read every row again: a worktree may have come or gone.
            let _ = std::fs::write(root.join(EVERYTHING), "");
        }
        if replan {
            // A worktree came or went, or what is ignored changed: watch anew. A reader may have
            // marked a worktree clean since this batch's first event, with a scan made before
            // these watches: not trusted.
            let Some(planned) = plan_then_watch(plan_watches(project)?, &mut watched)? else {
                return Ok(());
            };
            owners = planned;
            roots = worktree_roots();
            excludes = watch_excludes(&watcher);
            forget_all(&mut marked);
        }
    }
}
