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
//! merge plan, the trash, what a removal would lose) always scans.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::Repository;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::state::{is_held, read_json, try_hold, worktree_key, write_json};
use super::status::{self, Changes, Content};
use super::{Project, worktree};

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
/// from [`sync`]) has seen no change there since the last scan, scanned otherwise.
pub fn changes_for_display(
    project: &Project,
    _repo: &Repository,
    path: &Path,
    session: Option<&str>,
) -> Result<Changes> {
    let Some(session) = session else {
        return status::exact_changes(path);
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
    let changes = status::exact_changes(path)?;
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

// ---------------------------------------------------------------------------------------------
// The daemon

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
    for w in worktree::worktrees(project)? {
        if w.prunable {
            continue;
        }
        let key = worktree_key(&w.path);
        let Ok(repo) = Repository::open(&w.path) else {
            continue;
        };
        if !w.is_main {
            owners.insert(repo.path().to_path_buf(), Some(key.clone()));
        }
        for tracked in status::tracked_dirs(&repo) {
            owners.insert(w.path.join(tracked), Some(key.clone()));
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

/// `dir` and every directory below it.
fn add_tree(owners: &mut Owners, dir: &Path, owner: Option<String>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            stack.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        owners.insert(dir, owner.clone());
    }
}

/// Runs the daemon until the repository is gone. One per repository: a second one exits.
pub fn run_daemon(project: &Project) -> Result<()> {
    use super::watch::{Batch, DirWatcher, Kind};
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
    let session = format!("{}-{}", std::process::id(), super::now_unix());

    // Changes only: the readers' own reads (git status opening files) do not wake the daemon.
    let (tx, rx) = std::sync::mpsc::channel::<Batch>();
    let watcher =
        DirWatcher::new(move |batch| tx.send(batch).is_ok()).map_err(|e| Error::io(&root, e))?;
    let stored_dir = dir(project, "changes")?;
    let mut owners = plan_watches(project)?;
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
    if !watch_all(&watcher, &owners, &mut watched) {
        give_up(&watched, &owners);
        return Ok(());
    }
    // Readers trust markers only once every watch is in place.
    std::fs::write(root.join("session"), &session).map_err(|e| Error::io(&root, e))?;
    let mut status = DaemonStatus {
        pid: std::process::id(),
        started: super::now_unix(),
        watched: watched.len(),
        limit: inotify_limit(),
        last_event: None,
    };
    write_json(&root.join(STATUS), &status)?;
    let mut status_written = std::time::Instant::now();

    let mut marked: HashSet<String> = HashSet::new();
    let forget_all = |marked: &mut HashSet<String>| {
        for key in marked.drain() {
            let _ = std::fs::remove_file(clean.join(key));
        }
    };
    loop {
        let batch = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(batch) => batch,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
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
                let mut fresh = false;
                for (key, dir) in untracked_dirs(path, &roots) {
                    if !owners.contains_key(&dir) {
                        add_tree(&mut owners, &dir, Some(key.clone()));
                        fresh = true;
                        if marked.remove(&key) {
                            let _ = std::fs::remove_file(clean.join(&key));
                        }
                    }
                }
                if fresh && !watch_all(&watcher, &owners, &mut watched) {
                    give_up(&watched, &owners);
                    return Ok(());
                }
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
                }
                None => {
                    forget_all(&mut marked);
                    everything = true;
                    replan |= path.starts_with(project.common_dir.join("worktrees"));
                }
            }
            // A new directory: watch it (and what it holds) too.
            if change.kind == Kind::Created && change.is_dir {
                let mut added = Owners::new();
                add_tree(&mut added, path, owner);
                owners.extend(added);
                if !watch_all(&watcher, &owners, &mut watched) {
                    give_up(&watched, &owners);
                    return Ok(());
                }
            }
        }
        // What `doctor` shows, written at most every 5 s.
        if seen_change || watched.len() != status.watched {
            status.watched = watched.len();
            if seen_change {
                status.last_event = Some(super::now_unix());
            }
            if status_written.elapsed() >= std::time::Duration::from_secs(5) {
                let _ = write_json(&root.join(STATUS), &status);
                status_written = std::time::Instant::now();
            }
        }
        if everything {
            // Followers (the popup) read every row again: a worktree may have come or gone.
            let _ = std::fs::write(root.join(EVERYTHING), "");
        }
        if replan {
            // A worktree came or went: watch anew (untracked directories are learned again from
            // the next scans, which the cleared markers force).
            owners = plan_watches(project)?;
            roots = worktree_roots();
            if !watch_all(&watcher, &owners, &mut watched) {
                give_up(&watched, &owners);
                return Ok(());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Following the daemon

/// What a display following the daemon learns (see [`follow`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// Something in this worktree changed (the daemon dropped its marker), or its check run's
    /// record did: read it again.
    Worktree(PathBuf),
    /// Only its agent's record changed.
    Agent(PathBuf),
    /// Anything may have changed: a worktree came or went, base moved, or events were lost.
    Everything,
    /// The daemon started, stopped or gave up: see [`coverage`].
    Daemon,
}

/// How much of every worktree the daemon watches, for a display that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// A daemon runs and watches everything: its events are the whole story.
    Complete,
    /// The daemon gave up at the system's inotify limit: how far it got.
    Partial(GaveUp),
    /// No daemon (outside tmux, `WTMUX_FSMONITOR=off`, or not started yet).
    None,
}

/// Whether a daemon runs and watches everything.
pub fn coverage(project: &Project) -> Coverage {
    if let Some(lost) = coverage_lost(project) {
        return Coverage::Partial(lost);
    }
    let Ok(root) = dir(project, "") else {
        return Coverage::None;
    };
    if !disabled()
        && is_held(&root.join("daemon.lock")).unwrap_or(false)
        && live_session(&root).is_some()
    {
        Coverage::Complete
    } else {
        Coverage::None
    }
}

/// The running daemon's session once it watches everything (what [`sync`] answers when it
/// answers), without syncing: for a follower to tell whether its rows were read in it.
pub fn session(project: &Project) -> Option<String> {
    if coverage(project) != Coverage::Complete {
        return None;
    }
    live_session(&dir(project, "").ok()?)
}

/// The session in `root`, if the daemon that wrote it (`<pid>-<time>`) still lives: one killed
/// without a word leaves its session behind until the next one, holding the lock already,
/// removes it.
fn live_session(root: &Path) -> Option<String> {
    let session = std::fs::read_to_string(root.join("session")).ok()?;
    let pid: libc::pid_t = session.split('-').next()?.parse().ok()?;
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(session)
}

/// For a display about to read every worktree: starts the daemon if none runs, and waits up to
/// `patience` for it to watch everything (or give up). Read then, every worktree is marked in
/// its session at once; read before, each would be read again once it watches (its markers
/// start only then). Returns the coverage reached.
pub fn start_and_wait(project: &Project, patience: std::time::Duration) -> Coverage {
    let now = coverage(project);
    if now != Coverage::None || project.tmux.is_none() || disabled() {
        return now;
    }
    start(project);
    let deadline = std::time::Instant::now() + patience;
    loop {
        let now = coverage(project);
        if now != Coverage::None || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The file the daemon writes when anything may have changed (see [`Event::Everything`]).
const EVERYTHING: &str = "everything";

/// A display following the daemon: see [`follow`].
pub struct Follower {
    _watcher: super::watch::DirWatcher,
    keys: std::sync::Arc<std::sync::RwLock<HashMap<String, PathBuf>>>,
}

impl Follower {
    /// The worktrees shown: their changes are told by path.
    pub fn show<'a>(&self, worktrees: impl IntoIterator<Item = &'a Path>) {
        let keys = worktrees
            .into_iter()
            .map(|p| (worktree_key(p), p.to_path_buf()))
            .collect();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }
}

/// Follows the daemon's view of every worktree, for a display (the popup): the daemon holds
/// the one watch plan (every worktree's directories, admin dirs, refs, directories created
/// later); a follower watches only what the daemon says — its markers, dropped on the first
/// change in a worktree, and its signals for everything else — and wtmux's own records (check
/// runs, agents). So a display adds a handful of watches, whatever the size of the worktrees,
/// and sees exactly what `list` would. Changes come to `deliver`, in batches, on a thread of
/// the follower's own.
pub fn follow(
    project: &Project,
    mut deliver: impl FnMut(Vec<Event>) -> bool + Send + 'static,
) -> Result<Follower> {
    use super::watch::{Batch, DirWatcher, Kind};
    let root = dir(project, "")?;
    let clean = dir(project, "clean")?;
    let runs = project.state.dir("runs")?;
    let agents = project.state.dir("agents")?;
    let keys: std::sync::Arc<std::sync::RwLock<HashMap<String, PathBuf>>> = Default::default();
    let known = keys.clone();
    let (root_dir, clean_dir, runs_dir, agents_dir) =
        (root.clone(), clean.clone(), runs.clone(), agents.clone());
    let watcher = DirWatcher::new(move |batch| {
        let changes = match batch {
            Batch::Lost => return deliver(vec![Event::Everything]),
            Batch::Changes(changes) => changes,
        };
        let keys = known.read().unwrap_or_else(|e| e.into_inner());
        let mut events = Vec::new();
        for change in changes {
            let (Some(parent), Some(name)) = (change.path.parent(), change.path.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            // Temporary files and cookies come and go without meaning anything.
            if name.starts_with('.') {
                continue;
            }
            let worktree = |stem: &str| keys.get(stem).cloned();
            if parent == clean_dir {
                // A marker dropped: its worktree changed. (Readers set them again.)
                if change.kind == Kind::Removed
                    && let Some(path) = worktree(&name)
                {
                    events.push(Event::Worktree(path));
                }
            } else if parent == runs_dir || parent == agents_dir {
                let Some(stem) = name.strip_suffix(".json") else {
                    continue;
                };
                if let Some(path) = worktree(stem) {
                    events.push(if parent == runs_dir {
                        Event::Worktree(path)
                    } else {
                        Event::Agent(path)
                    });
                }
            } else if parent == root_dir {
                match &*name {
                    EVERYTHING => events.push(Event::Everything),
                    // Only holders open the lock for writing (its close is the event): a daemon
                    // starting, or ending however it ends.
                    "session" | "unavailable" | "daemon.lock" => events.push(Event::Daemon),
                    _ => {}
                }
            }
        }
        drop(keys);
        events.dedup();
        events.is_empty() || deliver(events)
    })
    .map_err(|e| Error::io(&root, e))?;
    for dir in [&root, &clean, &runs, &agents] {
        watcher.watch(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(Follower {
        _watcher: watcher,
        keys,
    })
}
