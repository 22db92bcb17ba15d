//! Worktree status without a git process, and faster than libgit2's.
//!
//! `wtmux list` and the popup need, for every worktree, the paths that differ from HEAD and a
//! fingerprint of the content. libgit2's status costs about twice `git status` here (it parses
//! the index slowly and diffs HEAD to index tree by tree), so the common case is done directly:
//!
//! 1. the index file is read as git writes it (versions 2 to 4);
//! 2. every entry's stat data is compared with `lstat`, as git does; entries whose stat data
//!    changed but whose size did not, and entries too recent to trust ("racily clean"), are
//!    decided by content, with libgit2's filters;
//! 3. staged changes: none when the index's cache tree says the index holds HEAD's tree, else
//!    libgit2's tree-to-index diff;
//! 4. untracked files: the directories that hold tracked files are read, and what the index
//!    does not know is asked of libgit2's ignore rules.
//!
//! Anything unusual (split or sparse index, a SHA-256 repository, a parse surprise, many entries
//! to decide by content) goes to libgit2's own status instead, with `update_index` so the next
//! call is fast again — the same self-healing `git status` does when it rewrites the index.

use std::collections::{BTreeSet, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use git2::{FileMode, ObjectType, Oid, Repository, StatusOptions};

use super::error::Result;

/// How many entries may be decided by content before libgit2 refreshes the index instead.
const CONTENT_CHECK_LIMIT: usize = 64;

/// The paths of a worktree that differ from HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Changes {
    /// Tracked paths whose content differs from HEAD (staged or not, deleted, conflicted).
    pub tracked: BTreeSet<String>,
    /// Untracked, not ignored, paths; a directory holding nothing tracked is one `dir/` entry.
    pub untracked: BTreeSet<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty() && self.untracked.is_empty()
    }

    /// Paths as `git status` would count them.
    pub fn count(&self) -> usize {
        self.tracked.len() + self.untracked.len()
    }

    pub fn paths(&self) -> Vec<String> {
        self.tracked
            .iter()
            .chain(&self.untracked)
            .cloned()
            .collect()
    }
}

/// What differs from HEAD in the worktree of `repo`.
pub fn changes(repo: &Repository) -> Result<Changes> {
    changes_with_cache(repo, &mut UntrackedCache::default())
}

/// [`changes`], reusing and updating what an earlier call learned about untracked files.
pub fn changes_with_cache(repo: &Repository, cache: &mut UntrackedCache) -> Result<Changes> {
    if let Some(changes) = fast_changes(repo, cache) {
        return changes;
    }
    match libgit2_changes(repo, true) {
        // libgit2 cannot read some indexes at all (a split index, say): ask git.
        Err(_) => git_cli_changes(repo),
        done => done,
    }
}

/// `git status`, for the indexes neither reader here understands.
fn git_cli_changes(repo: &Repository) -> Result<Changes> {
    let workdir = repo.workdir().unwrap_or(Path::new("."));
    let out = super::git::Git::new(workdir)
        .args([
            "status",
            "--porcelain=v1",
            "-z",
            "--no-renames",
            "--ignore-submodules",
        ])
        .run()?;
    let mut changes = Changes::default();
    for record in out.split('\0').filter(|r| r.len() > 3) {
        let (code, path) = record.split_at(3);
        if code.starts_with("??") {
            changes.untracked.insert(path.to_string());
        } else {
            changes.tracked.insert(path.to_string());
        }
    }
    Ok(changes)
}

/// libgit2's own status. With `refresh`, stat data it verified is written back to the index.
pub fn libgit2_changes(repo: &Repository, refresh: bool) -> Result<Changes> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(true)
        .renames_head_to_index(false)
        .renames_index_to_workdir(false)
        .update_index(refresh);
    let statuses = repo.statuses(Some(&mut options))?;
    let mut changes = Changes::default();
    for entry in statuses.iter() {
        let Ok(path) = entry.path() else { continue };
        let status = entry.status();
        if status == git2::Status::CURRENT {
            continue;
        }
        if status == git2::Status::WT_NEW {
            changes.untracked.insert(path.to_string());
        } else {
            changes.tracked.insert(path.to_string());
        }
    }
    Ok(changes)
}

/// The directories holding tracked files (the worktree root included, as ""), read from the
/// index: what the popup watches for changes. Empty when the index is not readable here.
pub fn tracked_dirs(repo: &Repository) -> Vec<String> {
    let Some(index) = std::fs::read(repo.path().join("index"))
        .ok()
        .and_then(|bytes| parse_index(&bytes))
    else {
        return Vec::new();
    };
    let mut dirs = BTreeSet::new();
    dirs.insert(String::new());
    for entry in &index.entries {
        let path = &entry.path;
        if let Some(slash) = path.iter().rposition(|b| *b == b'/') {
            let dir = String::from_utf8_lossy(&path[..slash]).into_owned();
            if !dirs.contains(&dir) {
                let mut prefix = String::new();
                for part in dir.split('/') {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(part);
                    dirs.insert(prefix.clone());
                }
            }
        }
    }
    dirs.into_iter().collect()
}

/// `None` when the index is of a kind the fast path does not read.
fn fast_changes(repo: &Repository, cache: &mut UntrackedCache) -> Option<Result<Changes>> {
    let workdir = repo.workdir()?.to_path_buf();
    let index_path = repo.path().join("index");
    let index_meta = std::fs::metadata(&index_path).ok()?;
    let bytes = std::fs::read(&index_path).ok()?;
    let index = parse_index(&bytes)?;
    let config = repo.config().ok()?.snapshot().ok()?;
    let trust_ctime = config.get_bool("core.trustctime").unwrap_or(true);
    let file_mode = config.get_bool("core.filemode").unwrap_or(true);
    let index_mtime = (index_meta.mtime(), index_meta.mtime_nsec());

    let mut changes = Changes::default();
    let mut to_verify = Vec::new();
    let mut dirs = DirCache::open(&workdir)?;
    for entry in &index.entries {
        if entry.skip_worktree || entry.mode == 0o160000 {
            continue;
        }
        if entry.stage != 0 || entry.intent_to_add {
            changes
                .tracked
                .insert(String::from_utf8_lossy(&entry.path).into_owned());
            continue;
        }
        let Some(stat) = dirs.lstat(&entry.path) else {
            changes
                .tracked
                .insert(String::from_utf8_lossy(&entry.path).into_owned());
            continue;
        };
        match compare_stat(entry, &stat, trust_ctime, file_mode, index_mtime) {
            StatMatch::Clean => {}
            StatMatch::Changed => {
                changes
                    .tracked
                    .insert(String::from_utf8_lossy(&entry.path).into_owned());
            }
            StatMatch::Unsure => to_verify.push((
                String::from_utf8_lossy(&entry.path).into_owned(),
                entry.oid,
                stat.mode & 0o170000 == 0o120000,
            )),
        }
    }
    if to_verify.len() > CONTENT_CHECK_LIMIT {
        return None;
    }
    for (path, oid, is_symlink) in to_verify {
        let full = workdir.join(&path);
        let hashed = if is_symlink {
            std::fs::read_link(&full).ok().and_then(|t| {
                Oid::hash_object(ObjectType::Blob, t.as_os_str().as_encoded_bytes()).ok()
            })
        } else {
            Oid::hash_file(ObjectType::Blob, &full).ok()
        };
        if hashed == Some(oid) {
            continue;
        }
        // The raw bytes differ; with clean filters (autocrlf, lfs) the content may still match.
        match repo.status_file(Path::new(&path)) {
            Ok(status) if status == git2::Status::CURRENT => {}
            _ => {
                changes.tracked.insert(path);
            }
        }
    }

    if let Err(e) = add_staged(repo, &index, &mut changes) {
        return Some(Err(e));
    }
    let ignore_key = ignore_key(repo, &index, &mut dirs);
    if let Err(e) = add_untracked(repo, &workdir, &index, ignore_key, cache, &mut changes) {
        return Some(Err(e));
    }
    Some(Ok(changes))
}

enum StatMatch {
    Clean,
    Changed,
    /// Stat data cannot decide: compare content.
    Unsure,
}

/// The stat fields git records in the index.
struct FileStat {
    mode: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    uid: u32,
    gid: u32,
}

/// lstat by directory handle: index entries come sorted, so each directory is opened once and
/// every file is looked up by its bare name (an absolute path per file costs a lookup of every
/// component, which dominated on deep worktree paths).
struct DirCache {
    root: rustix::fd::OwnedFd,
    current: Option<(Vec<u8>, Option<rustix::fd::OwnedFd>)>,
}

impl DirCache {
    fn open(workdir: &Path) -> Option<DirCache> {
        let root = rustix::fs::open(
            workdir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        Some(DirCache {
            root,
            current: None,
        })
    }

    /// `None` when the path (or its directory) does not exist.
    fn lstat(&mut self, path: &[u8]) -> Option<FileStat> {
        use rustix::fs::OFlags;
        let Some(slash) = path.iter().rposition(|b| *b == b'/') else {
            return stat_at(&self.root, path);
        };
        let (dir, name) = (&path[..slash], &path[slash + 1..]);
        if self
            .current
            .as_ref()
            .is_none_or(|(current, _)| current != dir)
        {
            let fd = rustix::fs::openat(
                &self.root,
                std::ffi::OsStr::from_bytes(dir),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                rustix::fs::Mode::empty(),
            )
            .ok();
            self.current = Some((dir.to_vec(), fd));
        }
        let fd = self.current.as_ref()?.1.as_ref()?;
        stat_at(fd, name)
    }
}

fn stat_at(dir: &rustix::fd::OwnedFd, name: &[u8]) -> Option<FileStat> {
    let stat = rustix::fs::statat(
        dir,
        std::ffi::OsStr::from_bytes(name),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .ok()?;
    Some(FileStat {
        mode: stat.st_mode,
        size: stat.st_size as u64,
        mtime: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
        ctime: (stat.st_ctime as i64, stat.st_ctime_nsec as i64),
        ino: stat.st_ino,
        uid: stat.st_uid,
        gid: stat.st_gid,
    })
}

fn compare_stat(
    entry: &IndexEntry,
    stat: &FileStat,
    trust_ctime: bool,
    file_mode: bool,
    index_mtime: (i64, i64),
) -> StatMatch {
    let entry_type = entry.mode & 0o170000;
    if entry_type != stat.mode & 0o170000 || !matches!(entry_type, 0o100000 | 0o120000) {
        return StatMatch::Changed;
    }
    if file_mode && entry_type == 0o100000 && (stat.mode & 0o100 != 0) != (entry.mode & 0o100 != 0)
    {
        return StatMatch::Changed;
    }
    let size_matches = entry.size == stat.size as u32;
    if !size_matches && entry.size != 0 {
        return StatMatch::Changed;
    }
    let same_time = |(sec, nsec): (u32, u32), (fsec, fnsec): (i64, i64)| {
        sec as i64 == fsec && (nsec == 0 || nsec as i64 == fnsec)
    };
    let stat_matches = size_matches
        && same_time(entry.mtime, stat.mtime)
        && (!trust_ctime || same_time(entry.ctime, stat.ctime))
        && entry.ino == stat.ino as u32
        && entry.uid == stat.uid
        && entry.gid == stat.gid;
    let racy = (entry.mtime.0 as i64, entry.mtime.1 as i64) >= index_mtime;
    if stat_matches && !racy {
        StatMatch::Clean
    } else {
        StatMatch::Unsure
    }
}

fn add_staged(repo: &Repository, index: &ParsedIndex, changes: &mut Changes) -> Result<()> {
    let head_tree = match repo.head().ok().and_then(|h| h.peel_to_tree().ok()) {
        Some(tree) => tree,
        None => {
            // Unborn branch: everything in the index is staged.
            for entry in &index.entries {
                changes
                    .tracked
                    .insert(String::from_utf8_lossy(&entry.path).into_owned());
            }
            return Ok(());
        }
    };
    if index.cache_tree_root == Some(head_tree.id()) {
        return Ok(());
    }
    let git_index = repo.index()?;
    let diff = repo.diff_tree_to_index(Some(&head_tree), Some(&git_index), None)?;
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(path) = file.path() {
                changes.tracked.insert(path.to_string_lossy().into_owned());
            }
        }
    }
    Ok(())
}

/// Directories known to hold nothing untracked, by their mtime, kept between runs so that
/// unchanged directories need not be read again (git's `core.untrackedCache` idea).
///
/// Sound because creating or removing an entry changes its directory's mtime; a directory is
/// only remembered when its mtime is over two seconds old (timestamps are coarse, the same
/// "racy" reasoning git applies to the index); and the whole cache is dropped when any ignore
/// rule source changes (every tracked `.gitignore`, `info/exclude`, the global excludes file).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UntrackedCache {
    ignore_key: String,
    clean_dirs: std::collections::BTreeMap<String, (i64, i64)>,
}

const RACY_MARGIN_SECS: i64 = 2;

fn add_untracked(
    repo: &Repository,
    workdir: &Path,
    index: &ParsedIndex,
    ignore_key: String,
    cache: &mut UntrackedCache,
    changes: &mut Changes,
) -> Result<()> {
    // Entries are sorted, so each directory's entries are adjacent: one insert per directory.
    let mut tracked_dirs: BTreeSet<&[u8]> = BTreeSet::new();
    tracked_dirs.insert(b"");
    let mut previous: &[u8] = b"";
    for entry in &index.entries {
        let path = entry.path.as_slice();
        let dir = &path[..path.iter().rposition(|b| *b == b'/').unwrap_or(0)];
        if dir != previous {
            previous = dir;
            for (i, byte) in dir.iter().enumerate() {
                if *byte == b'/' {
                    tracked_dirs.insert(&dir[..i]);
                }
            }
            tracked_dirs.insert(dir);
        }
    }
    // Only needed when a directory has to be read; with a warm cache, never.
    let mut tracked: Option<HashSet<&[u8]>> = None;
    if cache.ignore_key != ignore_key {
        cache.clean_dirs.clear();
        cache.ignore_key = ignore_key;
    }
    let cutoff = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        - RACY_MARGIN_SECS;
    let root = DirCache::open(workdir).ok_or_else(|| {
        super::Error::io(workdir, std::io::Error::other("cannot open the worktree"))
    })?;
    // Directories below an untracked `.gitignore`, whose rules the cache did not see.
    let mut uncached_below: Vec<Vec<u8>> = Vec::new();
    let mut clean_dirs = std::collections::BTreeMap::new();
    // BTreeSet order puts every directory before its subdirectories.
    for dir in tracked_dirs.iter().copied() {
        let mtime = if dir.is_empty() {
            stat_at(&root.root, b".")
        } else {
            stat_at(&root.root, dir)
        }
        .filter(|s| s.mode & 0o170000 == 0o040000)
        .map(|s| s.mtime);
        let Some(mtime) = mtime else { continue };
        let text = String::from_utf8_lossy(dir).into_owned();
        let cacheable = !uncached_below.iter().any(|p| {
            p.is_empty() || dir == p.as_slice() || dir.starts_with(&[p.as_slice(), b"/"].concat())
        });
        if cacheable && cache.clean_dirs.get(&text) == Some(&mtime) {
            clean_dirs.insert(text, mtime);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(workdir.join(std::ffi::OsStr::from_bytes(dir))) else {
            continue;
        };
        let mut nothing_untracked = true;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.as_encoded_bytes();
            if dir.is_empty() && name == b".git" {
                continue;
            }
            let mut relative = dir.to_vec();
            if !relative.is_empty() {
                relative.push(b'/');
            }
            relative.extend_from_slice(name);
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let tracked = tracked
                .get_or_insert_with(|| index.entries.iter().map(|e| e.path.as_slice()).collect());
            if tracked.contains(relative.as_slice())
                || (is_dir && tracked_dirs.contains(relative.as_slice()))
            {
                continue;
            }
            let path = String::from_utf8_lossy(&relative).into_owned();
            if is_dir {
                let as_dir = format!("{path}/");
                if repo.is_path_ignored(&as_dir)? {
                    continue;
                }
                nothing_untracked = false;
                if holds_unignored_file(repo, workdir, &path)? {
                    changes.untracked.insert(as_dir);
                }
            } else if !repo.is_path_ignored(&path)? {
                nothing_untracked = false;
                if name == b".gitignore" {
                    uncached_below.push(dir.to_vec());
                }
                changes.untracked.insert(path);
            }
        }
        if nothing_untracked && mtime.0 < cutoff {
            clean_dirs.insert(text, mtime);
        }
    }
    cache.clean_dirs = clean_dirs;
    Ok(())
}

/// What the ignore rules depend on: every `.gitignore` the index tracks (as it is on disk now),
/// `info/exclude` and the global excludes file.
fn ignore_key(repo: &Repository, index: &ParsedIndex, dirs: &mut DirCache) -> String {
    let mut key = String::new();
    for entry in &index.entries {
        if entry.path.ends_with(b".gitignore")
            && (entry.path.len() == 10 || entry.path.ends_with(b"/.gitignore"))
        {
            let stat = dirs.lstat(&entry.path);
            key.push_str(&format!(
                "{}:{:?}\n",
                String::from_utf8_lossy(&entry.path),
                stat.map(|s| (s.mtime, s.ctime, s.size, s.ino))
            ));
        }
    }
    let global = repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.excludesfile").ok());
    for path in [Some(repo.commondir().join("info/exclude")), global]
        .into_iter()
        .flatten()
    {
        let stat = std::fs::metadata(&path).ok();
        key.push_str(&format!(
            "{}:{:?}\n",
            path.display(),
            stat.map(|m| (
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
                m.size(),
                m.ino()
            ))
        ));
    }
    super::state::key_of(key.as_bytes())
}

/// Whether an untracked directory holds any file that is not ignored (git lists it only then).
fn holds_unignored_file(repo: &Repository, workdir: &Path, dir: &str) -> Result<bool> {
    let mut stack = vec![dir.to_string()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(workdir.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                if entry.path().join(".git").exists() {
                    return Ok(true); // a nested repository shows as untracked
                }
                if !repo.is_path_ignored(format!("{path}/"))? {
                    stack.push(path);
                }
            } else if !repo.is_path_ignored(&path)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The id of the tree the worktree's content would have if everything in it were committed:
/// HEAD's tree with every changed path replaced by what the worktree holds. Ignored files are
/// left out, as `git add -A` would.
pub fn content_tree(repo: &Repository, changes: &Changes) -> Result<Oid> {
    let head_tree = match repo.head().ok().and_then(|h| h.peel_to_tree().ok()) {
        Some(tree) => tree,
        None => repo.find_tree(repo.treebuilder(None)?.write()?)?,
    };
    if changes.is_empty() {
        return Ok(head_tree.id());
    }
    match content_tree_in_process(repo, &head_tree, changes) {
        Ok(tree) => Ok(tree),
        // libgit2 reads attributes from the index for its filters; an index it cannot read
        // (split index) leaves git's own way: stage everything into a copy of the index.
        Err(_) => git_cli_content_tree(repo),
    }
}

fn content_tree_in_process(
    repo: &Repository,
    head_tree: &git2::Tree,
    changes: &Changes,
) -> Result<Oid> {
    let workdir = repo.workdir().unwrap_or(Path::new(".")).to_path_buf();
    let mut content = Content::default();
    for path in &changes.tracked {
        content.take_path(repo, &workdir, path)?;
    }
    for path in &changes.untracked {
        match path.strip_suffix('/') {
            Some(dir) => content.take_dir(repo, &workdir, dir)?,
            None => content.take_path(repo, &workdir, path)?,
        }
    }
    // Removals first, in their own pass: a file that became a directory is removed, then
    // the directory's files are added.
    let mut removals = git2::build::TreeUpdateBuilder::new();
    for path in &content.removed {
        removals.remove(path.as_str());
    }
    let without = repo.find_tree(removals.create_updated(repo, head_tree)?)?;
    let mut upserts = git2::build::TreeUpdateBuilder::new();
    for (path, (blob, mode)) in &content.files {
        upserts.upsert(path.as_str(), *blob, *mode);
    }
    Ok(upserts.create_updated(repo, &without)?)
}

fn git_cli_content_tree(repo: &Repository) -> Result<Oid> {
    let workdir = repo.workdir().unwrap_or(Path::new("."));
    let scratch = tempfile::tempdir().map_err(|e| super::Error::io(std::env::temp_dir(), e))?;
    let index = scratch.path().join("index");
    std::fs::copy(repo.path().join("index"), &index).map_err(|e| super::Error::io(&index, e))?;
    super::git::Git::new(workdir)
        .env("GIT_INDEX_FILE", &index)
        .args(["add", "-A"])
        .run()?;
    let tree = super::git::Git::new(workdir)
        .env("GIT_INDEX_FILE", &index)
        .arg("write-tree")
        .run()?;
    Ok(Oid::from_str(tree.trim())?)
}

/// What the worktree holds at the changed paths.
#[derive(Default)]
struct Content {
    removed: BTreeSet<String>,
    files: std::collections::BTreeMap<String, (Oid, FileMode)>,
}

impl Content {
    fn take_path(&mut self, repo: &Repository, workdir: &Path, path: &str) -> Result<()> {
        let full = workdir.join(path);
        match std::fs::symlink_metadata(&full) {
            Err(_) => {
                self.removed.insert(path.to_string());
            }
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&full).map_err(|e| super::Error::io(&full, e))?;
                let blob = repo.blob(target.as_os_str().as_encoded_bytes())?;
                self.files.insert(path.to_string(), (blob, FileMode::Link));
            }
            Ok(meta) if meta.is_file() => {
                let blob = repo.blob_path(&full)?;
                let mode = if meta.mode() & 0o100 != 0 {
                    FileMode::BlobExecutable
                } else {
                    FileMode::Blob
                };
                self.files.insert(path.to_string(), (blob, mode));
            }
            Ok(meta) if meta.is_dir() => {
                // A tracked file replaced by a directory.
                self.removed.insert(path.to_string());
                self.take_dir(repo, workdir, path)?;
            }
            Ok(_) => {}
        }
        Ok(())
    }

    fn take_dir(&mut self, repo: &Repository, workdir: &Path, dir: &str) -> Result<()> {
        if workdir.join(dir).join(".git").exists() {
            return Ok(()); // a nested repository: `git add -A` would not take its files either
        }
        let Ok(entries) = std::fs::read_dir(workdir.join(dir)) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                if !repo.is_path_ignored(format!("{path}/"))? {
                    self.take_dir(repo, workdir, &path)?;
                }
            } else if !repo.is_path_ignored(&path)? {
                self.take_path(repo, workdir, &path)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The index file (git's Documentation/gitformat-index.txt)

struct IndexEntry {
    ctime: (u32, u32),
    mtime: (u32, u32),
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u32,
    oid: Oid,
    stage: u8,
    skip_worktree: bool,
    intent_to_add: bool,
    path: Vec<u8>,
}

struct ParsedIndex {
    entries: Vec<IndexEntry>,
    /// The cache tree's root, when valid: the tree the index holds.
    cache_tree_root: Option<Oid>,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// Reads an index of versions 2-4 with SHA-1 ids; `None` for anything else (split index,
/// sparse index, other hash), which libgit2 then handles.
fn parse_index(bytes: &[u8]) -> Option<ParsedIndex> {
    const HASH: usize = 20;
    if bytes.get(..4)? != b"DIRC" || bytes.len() < 12 + HASH {
        return None;
    }
    let version = be32(bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(bytes, 8)? as usize;
    let end = bytes.len() - HASH;
    let mut at = 12;
    // The count is read from the file: a corrupt one must not size an allocation (an entry
    // takes at least 62 bytes, so the file itself bounds how many there can be).
    let mut entries = Vec::with_capacity(count.min(bytes.len() / 62));
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let field = |n: usize| be32(bytes, start + 4 * n);
        let oid = Oid::from_bytes(bytes.get(start + 40..start + 40 + HASH)?).ok()?;
        let flags = be16(bytes, start + 60)?;
        let mut cursor = start + 62;
        let (mut skip_worktree, mut intent_to_add) = (false, false);
        if flags & 0x4000 != 0 {
            if version < 3 {
                return None;
            }
            let extended = be16(bytes, cursor)?;
            skip_worktree = extended & 0x4000 != 0;
            intent_to_add = extended & 0x2000 != 0;
            cursor += 2;
        }
        let path = if version == 4 {
            let (strip, used) = read_offset_varint(bytes.get(cursor..)?)?;
            cursor += used;
            let nul = bytes.get(cursor..end)?.iter().position(|b| *b == 0)?;
            let keep = previous.len().checked_sub(strip)?;
            let mut path = previous[..keep].to_vec();
            path.extend_from_slice(&bytes[cursor..cursor + nul]);
            at = cursor + nul + 1;
            path
        } else {
            let nul = bytes.get(cursor..end)?.iter().position(|b| *b == 0)?;
            let path = bytes[cursor..cursor + nul].to_vec();
            let entry_len = cursor - start + nul;
            at = start + (entry_len + 8) / 8 * 8;
            path
        };
        previous.clone_from(&path);
        entries.push(IndexEntry {
            ctime: (field(0)?, field(1)?),
            mtime: (field(2)?, field(3)?),
            ino: field(5)?,
            mode: field(6)?,
            uid: field(7)?,
            gid: field(8)?,
            size: field(9)?,
            oid,
            stage: ((flags >> 12) & 0x3) as u8,
            skip_worktree,
            intent_to_add,
            path,
        });
        if at > end {
            return None;
        }
    }
    let mut cache_tree_root = None;
    while at + 8 <= end {
        let signature = bytes.get(at..at + 4)?;
        let size = be32(bytes, at + 4)? as usize;
        let data = bytes.get(at + 8..at + 8 + size)?;
        match signature {
            b"TREE" => cache_tree_root = parse_cache_tree_root(data),
            b"link" | b"sdir" => return None,
            _ => {}
        }
        at += 8 + size;
    }
    Some(ParsedIndex {
        entries,
        cache_tree_root,
    })
}

/// The root of a `TREE` extension: `\0<entry count> <subtrees>\n<id>`, valid when the count is
/// not negative.
fn parse_cache_tree_root(data: &[u8]) -> Option<Oid> {
    if data.first()? != &0 {
        return None;
    }
    let newline = data.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&data[1..newline]).ok()?;
    let count: i64 = header.split(' ').next()?.parse().ok()?;
    if count < 0 {
        return None;
    }
    Oid::from_bytes(data.get(newline + 1..newline + 21)?).ok()
}

/// git's offset varint (varint.c), used by index v4 for path prefixes.
fn read_offset_varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut used = 0;
    let mut byte = *bytes.get(used)?;
    used += 1;
    let mut value = (byte & 127) as usize;
    while byte & 128 != 0 {
        value += 1;
        byte = *bytes.get(used)?;
        used += 1;
        value = (value << 7) + (byte & 127) as usize;
    }
    Some((value, used))
}
