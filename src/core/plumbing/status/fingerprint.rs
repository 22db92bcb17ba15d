//! The content fingerprint: what a worktree holds as `git add -A` would commit it, computed by
//! git into wtmux's own index and object directory (see [`ContentStore`]).

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::Oid;

use super::{Changes, exact_changes, nested_repositories};
use crate::core::plumbing::error::{Error, Result};
use crate::core::plumbing::git::Git;
use crate::core::plumbing::state::{key_of, lock_file, worktree_key};

/// What a worktree holds, as git would commit it with `git add -A`: the tree id, and the key
/// check results are stored under. The key is the tree id itself, unless the tree cannot say
/// everything — a submodule or nested repository with uncommitted work of its own — in which
/// case that work's own fingerprint is folded in, so editing inside it turns a result stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub tree: Oid,
    pub key: String,
}

impl Content {
    /// Content that is exactly a committed tree.
    pub fn of_tree(tree: Oid) -> Content {
        Content {
            tree,
            key: tree.to_string(),
        }
    }

    /// Committing this content would record all of it (no dirty submodule or nested repository).
    pub fn is_plain_tree(&self) -> bool {
        self.key == self.tree.to_string()
    }
}

/// wtmux's own index files and object directory for fingerprints, under
/// `<git common dir>/wtmux/content/<day>/`: `git add -A` writes the blobs of uncommitted files
/// there, never into the repository's object store, and its index per worktree keeps the stat
/// data of what was hashed, so a large untracked file is hashed once, not on every look. A new
/// directory is started each day and those older than the day before are deleted: the store
/// is a cache, and nothing outside it refers to its objects.
#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
    repository_objects: PathBuf,
}

impl ContentStore {
    /// The store of the repository whose git common dir is `common_dir`, with wtmux's state in
    /// `state_root`.
    pub fn open(common_dir: &Path, state_root: &Path) -> Result<ContentStore> {
        let root = state_root.join("content");
        let today = crate::core::plumbing::now_unix() / 86_400;
        let dir = root.join(today.to_string());
        if !dir.exists() {
            std::fs::create_dir_all(dir.join("objects")).map_err(|e| Error::io(&dir, e))?;
            std::fs::create_dir_all(dir.join("index")).map_err(|e| Error::io(&dir, e))?;
            // Older days go; yesterday's stays for whoever is still using it right now.
            if let Ok(entries) = std::fs::read_dir(&root) {
                for entry in entries.flatten() {
                    let day: Option<u64> = entry.file_name().to_str().and_then(|n| n.parse().ok());
                    if day.is_some_and(|day| day + 1 < today) {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
        Ok(ContentStore {
            dir,
            repository_objects: common_dir.join("objects"),
        })
    }

    /// Where the display-only cache keeps the fingerprint of the worktree with this key (see
    /// `fingerprint_cache`): in the store, so it goes with the objects it names.
    pub fn display_cache(&self, worktree_key: &str) -> PathBuf {
        self.dir
            .join("index")
            .join(format!("{worktree_key}.display.json"))
    }

    /// The directory of wtmux's own index files (the fingerprint's, the display status's).
    pub(super) fn index_dir(&self) -> PathBuf {
        self.dir.join("index")
    }

    /// The object directory holding fingerprint objects (an alternate to the repository's).
    pub fn objects(&self) -> PathBuf {
        self.dir.join("objects")
    }

    /// A git command whose objects go to this store (and are read from the repository's,
    /// `objects`, too).
    fn git(&self, worktree: &Path, index: &Path, objects: &Path) -> Git {
        Git::new(worktree)
            .env("GIT_INDEX_FILE", index)
            .env("GIT_OBJECT_DIRECTORY", self.objects())
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", objects)
    }

    /// The fingerprint of the worktree at `path`, whose `git status` is `changes`.
    pub fn content(&self, path: &Path, changes: &Changes) -> Result<Content> {
        self.content_at_depth(path, changes, 0)
    }

    /// [`ContentStore::content`] for display: when it can, `git add -A` takes only the paths
    /// `git status` listed (see [`ContentStore::content_of_listed`]), so its cost follows the
    /// size of the change, not of the worktree; otherwise, and whenever that fails, the full
    /// `git add -A`.
    pub fn content_for_display(&self, path: &Path, changes: &Changes) -> Result<Content> {
        match self.content_of_listed(path, changes) {
            Ok(Some(content)) => Ok(content),
            _ => self.content(path, changes),
        }
    }

    /// The fingerprint by `git add -A` limited to the paths `git status` listed (`changes`), on
    /// a fresh copy of the real index; `None` where that is not known to give what the full
    /// `git add -A` gives, or would cost more.
    ///
    /// Why it is the same tree: a path `git status` does not list is, in the worktree, what
    /// the index holds (tracked) or ignored (untracked), and the full `add -A` leaves both as
    /// they are in the copy; a listed path is taken by the same `add -A`, path by path. Not
    /// taken (the full one runs): a dirty or moved submodule (a directory at a tracked path),
    /// nested repositories, an index that may hold skip-worktree or intent-to-add entries
    /// (version 3 or 4: `git status` hides untracked files below a skip-worktree entry), a
    /// path that is not UTF-8 (`changes` holds it lossily), more than [`LISTED_MAX`] paths or
    /// [`LISTED_MAX_BYTES`] to hash (the full one's reused index hashes a large file once, this
    /// one on every look). A path `add` refuses (gone since `git status`, or behind a symbolic
    /// link) fails the command, and the caller runs the full one.
    pub fn content_of_listed(&self, path: &Path, changes: &Changes) -> Result<Option<Content>> {
        if changes.is_empty()
            || !changes.dirty_submodules.is_empty()
            || changes.count() > LISTED_MAX
        {
            return Ok(None);
        }
        let listed = changes.paths();
        if listed.iter().any(|p| p.contains('\u{FFFD}')) {
            return Ok(None);
        }
        let real = real_index(path)?;
        if real.exists() && index_version(&real) != Some(2) {
            return Ok(None);
        }
        let untracked_dirs: Vec<&String> = changes
            .untracked
            .iter()
            .filter(|u| u.ends_with('/'))
            .collect();
        let mut bytes = 0u64;
        let mut entries = 0usize;
        for tracked in &changes.tracked {
            match path.join(tracked).symlink_metadata() {
                Ok(m) if m.is_dir() => return Ok(None), // a submodule
                Ok(m) => bytes += m.len(),
                Err(_) => {}
            }
        }
        for untracked in &changes.untracked {
            let at = path.join(untracked.trim_end_matches('/'));
            if !size_below(&at, &mut bytes, &mut entries) {
                return Ok(None);
            }
        }
        // Nested repositories lie in (or are) the untracked directories `git status` listed.
        if !untracked_dirs.is_empty() {
            let out = as_written(Git::new(path))
                .args(["ls-files", "-o", "--exclude-standard", "-z", "--"])
                .args(untracked_dirs.iter().map(|d| format!(":(literal){d}")))
                .run_bytes()?;
            if out.split(|b| *b == 0).any(|p| p.ends_with(b"/")) {
                return Ok(None);
            }
        }
        let key = worktree_key(path);
        let _one_at_a_time = lock_file(&one_at_a_time(&self.dir, &key))?;
        _one_at_a_time
            .lock()
            .map_err(|e| Error::io(self.dir.join("index"), e))?;
        let index = self.dir.join("index").join(format!("{key}.listed"));
        let _ = std::fs::remove_file(self.dir.join("index").join(format!("{key}.listed.lock")));
        match std::fs::copy(&real, &index) {
            // The real index's modification time, for git's racy check (see `seeded_index`).
            Ok(_) => keep_modified_time(&real, &index)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(&index); // no index yet: start empty
            }
            Err(e) => return Err(Error::io(&real, e)),
        }
        // Literal pathspecs: `*`, `?`, `[`, `:` and `\\` in a name are not patterns or magic.
        let mut pathspecs = Vec::new();
        for listed in &listed {
            pathspecs.extend_from_slice(b":(literal)");
            pathspecs.extend_from_slice(listed.as_bytes());
            pathspecs.push(0);
        }
        let pathspec_file = self.dir.join("index").join(format!("{key}.pathspecs"));
        std::fs::write(&pathspec_file, &pathspecs).map_err(|e| Error::io(&pathspec_file, e))?;
        let objects = &self.repository_objects;
        let added = as_written(self.git(path, &index, objects))
            .args(["-c", "core.splitIndex=false", "add", "-A", "--sparse"])
            .arg("--pathspec-file-nul")
            .arg(format!("--pathspec-from-file={}", pathspec_file.display()))
            .output()?;
        if !added.status.success() {
            return Ok(None);
        }
        let tree = self.git(path, &index, objects).arg("write-tree").run()?;
        Ok(Some(Content::of_tree(Oid::from_str(tree.trim())?)))
    }

    fn content_at_depth(&self, path: &Path, changes: &Changes, depth: usize) -> Result<Content> {
        // Nothing to commit is HEAD's tree — unless an entry is marked skip-worktree: `git
        // status` then hides untracked files below its path, which `git add -A` takes.
        if changes.is_empty() && has_no_flagged_entries(&real_index(path)?) {
            return Ok(Content::of_tree(head_tree(path)?));
        }
        // Nested repositories are left out of the tree (`git add -A` would record only their
        // HEAD, or fail on one without commits) and folded into the key with their own content.
        let nested = if changes.untracked.iter().any(|u| u.ends_with('/')) {
            nested_repositories(path)?
        } else {
            Vec::new()
        };
        // One fingerprint of a worktree at a time (git would refuse a second on the same index);
        // a `.lock` left by a killed one is stale once this lock is ours. (The lock is not
        // `<key>.lock`: that is git's own lock of the index `<key>`, which is deleted here.)
        let key = worktree_key(path);
        let _one_at_a_time = lock_file(&one_at_a_time(&self.dir, &key))?;
        _one_at_a_time
            .lock()
            .map_err(|e| Error::io(self.dir.join("index"), e))?;
        // With a nested repository, files an earlier `add -A` took may now lie inside it, where
        // `add -A` no longer looks: start from the real index then. A submodule's or nested
        // repository's own index is small and its history with the superproject's intricate
        // (an embedded repository committed as a gitlink): it always starts afresh.
        let (index, reused) = self.seeded_index(path, !nested.is_empty() || depth > 0)?;
        let _ = std::fs::remove_file(index.with_extension("lock"));
        // A submodule or nested repository has an object store of its own.
        let objects = if depth == 0 {
            self.repository_objects.clone()
        } else {
            PathBuf::from(
                Git::new(path)
                    .args([
                        "rev-parse",
                        "--path-format=absolute",
                        "--git-path",
                        "objects",
                    ])
                    .run()?
                    .trim(),
            )
        };
        let add_all = |index: &Path| -> Result<()> {
            let mut add = self.git(path, index, &objects).args([
                "-c",
                "core.splitIndex=false",
                "add",
                "-A",
                // Files outside a sparse checkout's cone count too (without it, add refuses
                // them).
                "--sparse",
                "--",
                ".",
            ]);
            for repo in &nested {
                add = add.arg(format!(":(exclude,literal){repo}"));
            }
            add.run().map(|_| ())
        };
        add_all(&index)?;
        if reused {
            self.reconcile_ignored(path, &index, &objects)?;
            // `add -A` leaves an assume-unchanged or skip-worktree entry alone, so one that a
            // reused index lost along the way (a file that became a directory and back) would
            // not come back as the real index has it: then start again from the real index.
            if !holds_flagged_entries_of(&index, &real_index(path)?) {
                let (index, _) = self.seeded_index(path, true)?;
                add_all(&index)?;
            }
        }
        let tree = self.git(path, &index, &objects).arg("write-tree").run()?;
        let tree = Oid::from_str(tree.trim())?;
        let mut inner = Vec::new();
        if depth < 8 {
            for sub in &changes.dirty_submodules {
                let sub_path = path.join(sub);
                let content =
                    self.content_at_depth(&sub_path, &exact_changes(&sub_path)?, depth + 1)?;
                inner.push(format!("submodule {sub} {}", content.key));
            }
            for repo in &nested {
                let repo_path = path.join(repo);
                let head = Git::new(&repo_path)
                    .args(["rev-parse", "--verify", "-q", "HEAD"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                let content =
                    self.content_at_depth(&repo_path, &exact_changes(&repo_path)?, depth + 1)?;
                inner.push(format!("nested {repo} {head} {}", content.key));
            }
        }
        if inner.is_empty() {
            return Ok(Content::of_tree(tree));
        }
        let key = format!(
            "{tree}+{}",
            key_of(format!("{tree}\n{}", inner.join("\n")).as_bytes())
        );
        Ok(Content { tree, key })
    }

    /// This worktree's fingerprint index: a copy of its real index, made again whenever the
    /// real one changed (a new file: git replaces the index on every write), else the one the
    /// last fingerprint left, whose stat data spares hashing unchanged files again.
    fn seeded_index(&self, worktree: &Path, fresh: bool) -> Result<(PathBuf, bool)> {
        let key = worktree_key(worktree);
        let index = self.dir.join("index").join(&key);
        let seed_record = self.dir.join("index").join(format!("{key}.seed"));
        let real = real_index(worktree)?;
        let identity = index_identity(&real);
        let seeded = std::fs::read_to_string(&seed_record).ok();
        let reusable = format!("{identity} reusable");
        let reused = !fresh && seeded.as_deref() == Some(reusable.as_str()) && index.exists();
        if !reused {
            // A private copy, written next to its final name and renamed, so a concurrent
            // fingerprint of the same worktree never reads half an index.
            let copy = self
                .dir
                .join("index")
                .join(format!("{key}.{}.tmp", std::process::id()));
            match std::fs::copy(&real, &copy) {
                // The copy keeps the real index's modification time: git trusts an entry's
                // stat data only if the file is older than the index holding it ("racy git"),
                // so a copy stamped now would make a same-size rewrite within the real index's
                // last second look unchanged, and give the old content's tree.
                Ok(_) => keep_modified_time(&real, &copy)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&copy); // no index yet: start empty
                }
                Err(e) => return Err(Error::io(&real, e)),
            }
            if copy.exists() {
                std::fs::rename(&copy, &index).map_err(|e| Error::io(&index, e))?;
            } else {
                let _ = std::fs::remove_file(&index);
            }
            std::fs::write(&seed_record, reusable).map_err(|e| Error::io(&seed_record, e))?;
        }
        Ok((index, reused))
    }

    /// `git add -A` on a reused fingerprint index gives what it gives on a fresh copy of the
    /// real index, except for ignored files: it leaves in place what it took when those were
    /// not yet ignored, and does not take back a tracked ignored file it dropped while that
    /// was gone. So the ignored files the index holds are made those the real index holds
    /// (and that exist).
    fn reconcile_ignored(&self, worktree: &Path, index: &Path, objects: &Path) -> Result<()> {
        let ignored_tracked = |git: Git| -> Result<BTreeSet<Vec<u8>>> {
            Ok(git
                .args([
                    "ls-files",
                    "-z",
                    "--cached",
                    "--ignored",
                    "--exclude-standard",
                ])
                .run_bytes()?
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(<[u8]>::to_vec)
                .collect())
        };
        let ours = ignored_tracked(self.git(worktree, index, objects))?;
        let real = ignored_tracked(Git::new(worktree))?;
        let as_os = |p: &Vec<u8>| std::ffi::OsStr::from_bytes(p).to_os_string();
        let stale: Vec<_> = ours.difference(&real).map(as_os).collect();
        let missing: Vec<_> = real
            .difference(&ours)
            .map(as_os)
            // Still there as what the index can hold at that path: a file, a link, or a
            // repository (a gitlink); not a directory of files.
            .filter(|p| {
                let path = worktree.join(p);
                path.symlink_metadata()
                    .is_ok_and(|m| !m.is_dir() || path.join(".git").exists())
                    && reached_without_a_link(worktree, Path::new(p))
            })
            .collect();
        for chunk in stale.chunks(500) {
            self.git(worktree, index, objects)
                .env("GIT_LITERAL_PATHSPECS", "1")
                .args(["rm", "-q", "--cached", "--ignore-unmatch", "--"])
                .args(chunk)
                .run()?;
        }
        for chunk in missing.chunks(500) {
            self.git(worktree, index, objects)
                .env("GIT_LITERAL_PATHSPECS", "1")
                .args(["-c", "core.splitIndex=false", "add", "-f", "--sparse", "--"])
                .args(chunk)
                .run()?;
        }
        Ok(())
    }
}

/// The lock held while a worktree's fingerprint is computed (either way: both write the
/// worktree's objects into the store, and the full way its reused index).
fn one_at_a_time(store: &Path, key: &str) -> PathBuf {
    store.join("index").join(format!("{key}.one-at-a-time"))
}

/// Pathspecs taken as written (with their magic), whatever the caller's environment says.
fn as_written(git: Git) -> Git {
    git.env("GIT_LITERAL_PATHSPECS", "0")
        .env("GIT_GLOB_PATHSPECS", "0")
        .env("GIT_NOGLOB_PATHSPECS", "0")
        .env("GIT_ICASE_PATHSPECS", "0")
}

/// At most this many paths listed by `git status` for [`ContentStore::content_of_listed`].
pub const LISTED_MAX: usize = 1_000;

/// At most this many bytes in the listed paths for [`ContentStore::content_of_listed`].
pub const LISTED_MAX_BYTES: u64 = 16 << 20;

/// Adds the size of `path` (every file below it, for a directory; links not followed) to
/// `bytes`; false when that takes more than [`LISTED_MAX`] entries or [`LISTED_MAX_BYTES`].
fn size_below(path: &Path, bytes: &mut u64, entries: &mut usize) -> bool {
    let mut stack = vec![path.to_path_buf()];
    while let Some(at) = stack.pop() {
        *entries += 1;
        if *entries > LISTED_MAX || *bytes > LISTED_MAX_BYTES {
            return false;
        }
        let Ok(meta) = at.symlink_metadata() else {
            continue; // gone since git status: `add` says so
        };
        if meta.is_dir() {
            match std::fs::read_dir(&at) {
                Ok(children) => stack.extend(children.flatten().map(|c| c.path())),
                Err(_) => return false,
            }
        } else {
            *bytes += meta.len();
        }
    }
    *bytes <= LISTED_MAX_BYTES
}

/// The version in the header of the index file at `path` (`None`: no index, or unreadable).
pub(in crate::core::plumbing) fn index_version(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut header = [0u8; 8];
    std::fs::File::open(path)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    (&header[..4] == b"DIRC")
        .then(|| u32::from_be_bytes([header[4], header[5], header[6], header[7]]))
}

/// Whether every directory leading to `relative` inside `worktree` is a real directory. Git
/// does not follow a symbolic link on the way to a path (`pathspec … is beyond a symbolic
/// link`): to `git add -A` such a path is gone, whatever the link points at.
fn reached_without_a_link(worktree: &Path, relative: &Path) -> bool {
    relative
        .ancestors()
        .skip(1)
        .filter(|leading| !leading.as_os_str().is_empty())
        .all(|leading| {
            worktree
                .join(leading)
                .symlink_metadata()
                .is_ok_and(|m| m.is_dir())
        })
}

/// Gives `copy` the modification time of `original`.
pub(super) fn keep_modified_time(original: &Path, copy: &Path) -> Result<()> {
    let modified = std::fs::metadata(original)
        .and_then(|m| m.modified())
        .map_err(|e| Error::io(original, e))?;
    std::fs::File::options()
        .write(true)
        .open(copy)
        .and_then(|f| f.set_modified(modified))
        .map_err(|e| Error::io(copy, e))
}

/// What tells one version of an index file from another: its checksum (the SHA-1 git writes at
/// its end, or — with `index.skipHash` — a hash of the whole file) with its stat data. Stat
/// data alone is not enough: file times tick in jiffies and inode numbers are reused, so two
/// quick rewrites of the same size (an `update-index --assume-unchanged`, say) can look alike.
pub(in crate::core::plumbing) fn index_identity(index: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(index) else {
        return format!("{} none", index.display());
    };
    let meta = file.metadata().ok();
    let mut trailer = [0u8; 20];
    let checksum = match file
        .seek(SeekFrom::End(-20))
        .and_then(|_| file.read_exact(&mut trailer))
    {
        Ok(()) if trailer.iter().any(|b| *b != 0) => {
            trailer.iter().map(|b| format!("{b:02x}")).collect()
        }
        _ => std::fs::read(index)
            .ok()
            .and_then(|bytes| Oid::hash_object(git2::ObjectType::Blob, &bytes).ok())
            .map(|oid| oid.to_string())
            .unwrap_or_default(),
    };
    match meta {
        Some(m) => format!(
            "{} {checksum} {} {} {}.{} {}.{}",
            index.display(),
            m.len(),
            m.ino(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ),
        None => format!("{} {checksum}", index.display()),
    }
}

/// Whether the fingerprint index at `ours` holds every assume-unchanged or skip-worktree entry
/// of the real index at `real` as the real one has it (path, mode, object, flags). An index
/// libgit2 cannot read (a sparse index) counts as not holding them.
fn holds_flagged_entries_of(ours: &Path, real: &Path) -> bool {
    /// Path, mode, object, assume-unchanged, skip-worktree.
    type FlaggedEntry = (Vec<u8>, u32, Oid, bool, bool);
    let _one_at_a_time = WHOLE_INDEX_READ.lock().unwrap_or_else(|e| e.into_inner());
    let flagged = |path: &Path| -> Option<BTreeSet<FlaggedEntry>> {
        let index = git2::Index::open(path).ok()?;
        Some(
            index
                .iter()
                .filter(|e| {
                    e.flags & ASSUME_UNCHANGED != 0 || e.flags_extended & SKIP_WORKTREE != 0
                })
                .map(|e| {
                    (
                        e.path,
                        e.mode,
                        e.id,
                        e.flags & ASSUME_UNCHANGED != 0,
                        e.flags_extended & SKIP_WORKTREE != 0,
                    )
                })
                .collect(),
        )
    };
    match (flagged(ours), flagged(real)) {
        (Some(ours), Some(real)) => real.is_subset(&ours),
        _ => false,
    }
}

const ASSUME_UNCHANGED: u16 = 0x8000;
const SKIP_WORKTREE: u16 = 1 << 14;

/// libgit2 holds a whole index in memory while reading it (megabytes for tens of thousands of
/// files): listings read worktrees in parallel, so these reads go one at a time, or a
/// long-lived popup would peak at several indexes at once.
static WHOLE_INDEX_READ: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether no entry of the index at `path` is marked assume-unchanged or skip-worktree (false
/// also when libgit2 cannot read it: a split or sparse index).
fn has_no_flagged_entries(path: &Path) -> bool {
    let _one_at_a_time = WHOLE_INDEX_READ.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(index) = git2::Index::open(path) else {
        return !path.exists();
    };
    index
        .iter()
        .all(|e| e.flags & ASSUME_UNCHANGED == 0 && e.flags_extended & SKIP_WORKTREE == 0)
}

/// The index file of the worktree at `path` (its `.git` is a directory, or a file naming the
/// worktree's admin dir).
pub(in crate::core::plumbing) fn real_index(path: &Path) -> Result<PathBuf> {
    let dot_git = path.join(".git");
    if dot_git.is_dir() {
        return Ok(dot_git.join("index"));
    }
    let text = std::fs::read_to_string(&dot_git).map_err(|e| Error::io(&dot_git, e))?;
    let gitdir = text
        .lines()
        .find_map(|l| l.strip_prefix("gitdir: "))
        .ok_or_else(|| Error::CommandFailed {
            command: "reading .git".into(),
            detail: format!("{} names no gitdir", dot_git.display()),
        })?;
    Ok(path.join(gitdir.trim()).join("index"))
}

/// The tree HEAD points at; the empty tree on an unborn branch. In process when libgit2 can
/// read the repository (a clean worktree then costs no git process), else from git.
pub(in crate::core::plumbing) fn head_tree(path: &Path) -> Result<Oid> {
    if let Ok(repo) = git2::Repository::open(path) {
        match repo.head() {
            Ok(head) => {
                if let Ok(tree) = head.peel_to_tree() {
                    return Ok(tree.id());
                }
            }
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
                return Ok(Oid::from_str("4b825dc642cb6eb9a060e54bf8d69288fbee4904")?);
            }
            Err(_) => {}
        }
    }
    let out = Git::new(path)
        .args(["rev-parse", "--verify", "-q", "HEAD^{tree}"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim() {
        "" => Ok(Oid::from_str("4b825dc642cb6eb9a060e54bf8d69288fbee4904")?),
        id => Ok(Oid::from_str(id)?),
    }
}
