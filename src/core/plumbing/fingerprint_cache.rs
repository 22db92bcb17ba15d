//! A display-only cache of the content fingerprint, for listings made without the file-system
//! monitor (outside tmux, `WTMUX_FSMONITOR=off`, while it starts) and for the monitor's own
//! first look at a worktree.
//!
//! The fingerprint of a dirty worktree costs a `git add -A` (git stats every tracked file again),
//! `git ls-files` twice and a `git write-tree`: about twice a `git status`. Its answer depends
//! only on what git would read: the real index (staged content, flags), HEAD, the configuration
//! (filters, `core.autocrlf`) and the files `git status` lists as changed. So the answer is kept
//! under a snapshot of exactly those: the index's checksum and stat data, HEAD's tree, the stat
//! data (size, mode, inode, mtime, ctime, in nanoseconds) of the configuration files, of every
//! changed path (every entry below an untracked directory), and of their parent directories.
//!
//! Racy git: a file rewritten within one tick of the clock that stamps it, with the same size,
//! keeps all of its stat data. So nothing is cached while any entry of the snapshot changed less
//! than [`RACY`] ago (2 s: file systems stamping whole seconds, or two, included), and a
//! snapshot is stored only if it is the same after the fingerprint was computed as before.
//!
//! A tracked file changed between `git status` and the snapshot is not among the changed paths:
//! the fingerprint computed then would hold it while the key does not. So an answer is stored
//! only if every path where its tree differs from HEAD's is one of the changed paths.
//!
//! A submodule whose commit moved is keyed by that commit. Not cached (always computed by
//! git): an index of version 3 or 4 (it may hold skip-worktree entries), dirty submodules,
//! nested repositories, more than [`MAX_ENTRIES`] entries below untracked directories.
//! Decisions (the check runner, the merge gate, the trash) never use this: they call
//! [`ContentStore::content`] directly.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::Oid;
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::state::{key_of, read_json, worktree_key, write_json};
use super::status::{self, Changes, Content, ContentStore};

/// How old every entry of a snapshot must be for the snapshot to stand for its content.
pub const RACY: Duration = Duration::from_secs(2);

/// Entries below untracked directories beyond which a worktree is not cached.
pub const MAX_ENTRIES: usize = 20_000;

#[derive(Serialize, Deserialize)]
struct Cached {
    snapshot: String,
    tree: String,
    key: String,
}

/// Whether an answer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cached,
    /// Computed by git, and stored for next time.
    Stored,
    /// Computed by git, not storable (racy, changed meanwhile, or not cacheable at all).
    Computed,
}

/// The fingerprint of the worktree at `path` (whose `git status` is `changes`), for display:
/// the cached one while its snapshot stands, else git's (see the module doc).
pub fn content(
    store: &ContentStore,
    common_dir: &Path,
    path: &Path,
    changes: &Changes,
) -> Result<Content> {
    content_from(store, common_dir, path, changes, RACY).map(|(content, _)| content)
}

/// [`content`] with entries trusted once `racy` old (tests shorten [`RACY`] to make hits
/// likely; it must stay above the clock's tick), and where the answer came from.
pub fn content_from(
    store: &ContentStore,
    common_dir: &Path,
    path: &Path,
    changes: &Changes,
    racy: Duration,
) -> Result<(Content, Source)> {
    let file = store.display_cache(&worktree_key(path));
    let snapshot = |changes| snapshot(common_dir, path, changes, racy);
    let Some(before) = snapshot(changes) else {
        return Ok((store.content_for_display(path, changes)?, Source::Computed));
    };
    let before = key_of(before.as_bytes());
    if let Some(cached) = read_json::<Cached>(&file).filter(|c| c.snapshot == before)
        && let Ok(tree) = Oid::from_str(&cached.tree)
    {
        return Ok((
            Content {
                tree,
                key: cached.key,
            },
            Source::Cached,
        ));
    }
    let content = store.content_for_display(path, changes)?;
    let after = snapshot(changes).map(|s| key_of(s.as_bytes()));
    if after.as_deref() != Some(before.as_str())
        || !differs_only_at(store, path, content.tree, changes)
    {
        return Ok((content, Source::Computed));
    }
    write_json(
        &file,
        &Cached {
            snapshot: before,
            tree: content.tree.to_string(),
            key: content.key.clone(),
        },
    )?;
    Ok((content, Source::Stored))
}

/// What the fingerprint of the worktree at `path` depends on, as text; `None` when it cannot
/// be cached now (see the module doc).
fn snapshot(common_dir: &Path, path: &Path, changes: &Changes, racy: Duration) -> Option<String> {
    if !changes.dirty_submodules.is_empty() {
        return None;
    }
    let now = SystemTime::now();
    let mut text = String::new();
    let index = status::real_index(path).ok()?;
    // Only version 2 holds no skip-worktree or intent-to-add entry, and `git status` hides
    // what is written below a skip-worktree entry (a file turned into a directory) while
    // `git add -A` takes it: a key built from the listed paths would miss it.
    if index.exists() && status::index_version(&index) != Some(2) {
        return None;
    }
    let _ = writeln!(text, "index {}", status::index_identity(&index));
    let _ = writeln!(text, "head {}", status::head_tree(path).ok()?);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut config = vec![
        common_dir.join("config"),
        common_dir.join("info/attributes"),
        common_dir.join("info/exclude"),
        index.with_file_name("config.worktree"),
    ];
    config.extend(home.map(|h| h.join(".gitconfig")));
    config.extend(
        xdg.iter()
            .flat_map(|x| [x.join("git/config"), x.join("git/attributes")]),
    );
    config.extend(std::env::var_os("GIT_CONFIG_GLOBAL").map(PathBuf::from));
    let mut entries = 0;
    for file in &config {
        entry(&mut text, file, now, racy)?;
    }
    let mut parents = BTreeSet::new();
    for changed in &changes.tracked {
        let at = path.join(changed);
        if at.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            // A submodule whose commit moved (a dirty one is not cached at all): its commit is
            // what the tree records, and no stat data says it.
            let head = git2::Repository::open(&at).ok()?.head().ok()?.target()?;
            let _ = writeln!(text, "gitlink {changed} {head}");
            continue;
        }
        entry(&mut text, &at, now, racy)?;
        parents.extend(at.parent().map(Path::to_path_buf));
    }
    for untracked in &changes.untracked {
        let at = path.join(untracked.trim_end_matches('/'));
        parents.extend(at.parent().map(Path::to_path_buf));
        if untracked.ends_with('/') {
            walk(&mut text, &at, now, racy, &mut entries)?;
        } else {
            entry(&mut text, &at, now, racy)?;
        }
    }
    for parent in &parents {
        entry(&mut text, parent, now, racy)?;
    }
    Some(text)
}

/// One line of stat data; `None` when it changed less than `racy` ago.
fn entry(text: &mut String, path: &Path, now: SystemTime, racy: Duration) -> Option<()> {
    match path.symlink_metadata() {
        Ok(m) => {
            let changed = SystemTime::UNIX_EPOCH
                + Duration::new(m.ctime().max(0) as u64, m.ctime_nsec().max(0) as u32);
            if now.duration_since(changed).is_ok_and(|age| age < racy) || changed > now {
                return None;
            }
            let _ = writeln!(
                text,
                "{} {:o} {} {}:{} {}.{} {}.{}",
                path.display(),
                m.mode(),
                m.size(),
                m.dev(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            );
            Some(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = writeln!(text, "{} -", path.display());
            Some(())
        }
        Err(_) => None,
    }
}

/// Every entry below an untracked directory (not following links); `None` for a nested
/// repository or too many entries.
fn walk(
    text: &mut String,
    dir: &Path,
    now: SystemTime,
    racy: Duration,
    entries: &mut usize,
) -> Option<()> {
    entry(text, dir, now, racy)?;
    let mut names: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for child in names {
        *entries += 1;
        if *entries > MAX_ENTRIES || child.file_name() == ".git" {
            return None;
        }
        if child.file_type().ok()?.is_dir() {
            walk(text, &child.path(), now, racy, entries)?;
        } else {
            entry(text, &child.path(), now, racy)?;
        }
    }
    Some(())
}

/// Whether every path where `tree` differs from HEAD's tree is one `git status` listed.
fn differs_only_at(store: &ContentStore, path: &Path, tree: Oid, changes: &Changes) -> bool {
    let listed = |p: &str| {
        changes.tracked.contains(p)
            || changes.untracked.contains(p)
            || changes
                .untracked
                .iter()
                .any(|u| u.ends_with('/') && p.starts_with(u.as_str()))
    };
    let check = || -> std::result::Result<bool, git2::Error> {
        let repo = git2::Repository::open(path)?;
        repo.odb()?
            .add_disk_alternate(&store.objects().to_string_lossy())?;
        let head = repo.find_tree(status::head_tree(path).map_err(|_| {
            git2::Error::from_str("no HEAD tree") // an unborn branch: not cached
        })?)?;
        let new = repo.find_tree(tree)?;
        let diff = repo.diff_tree_to_tree(Some(&head), Some(&new), None)?;
        Ok(diff.deltas().all(|d| {
            [d.old_file().path(), d.new_file().path()]
                .into_iter()
                .flatten()
                .all(|p| p.to_str().is_some_and(listed))
        }))
    };
    check().unwrap_or(false)
}
