//! A worktree's status and content fingerprint, as git itself answers them.
//!
//! Everything that decides (what a removal would lose, what the trash keeps, what a merge
//! carries, which content a check result belongs to) needs git's exact answer, with every
//! excludes source, attribute filter, `core.ignorecase`, `core.symlinks`, assume-unchanged bit,
//! split or sparse index and submodule state that git knows of. So nothing here reads the
//! index or walks the worktree itself: it asks `git status --porcelain=v2 -z` and, for the
//! fingerprint, `git add -A` + `git write-tree` into an index and an object directory of
//! wtmux's own (see [`ContentStore`]). A hand-written reader used to do this for speed; it was
//! wrong on submodules, nested repositories, restored directory mtimes and more, and measured
//! against git run on all cores it did not pay (see README, Benchmarks).
//!
//! Looking never writes: `status` runs with `--no-optional-locks` (git then does not refresh
//! the worktree's index); the fingerprint, and the status asked for display (`display`: the
//! same question, asked of a copy of the index that git may refresh), write only into wtmux's
//! own store.

use std::collections::BTreeSet;
use std::path::Path;

use super::error::{Error, Result};
use super::git::Git;

mod display;
mod fingerprint;
pub use fingerprint::{Content, ContentStore};
pub(in crate::core::plumbing) use fingerprint::{
    head_tree, index_identity, index_version, real_index,
};

/// The paths of a worktree that differ from HEAD, as `git status` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Changes {
    /// Tracked paths whose content differs from HEAD (staged or not, deleted, conflicted, a
    /// submodule whose commit moved or whose worktree is dirty).
    pub tracked: BTreeSet<String>,
    /// Untracked, not ignored, paths; a directory holding nothing tracked is one `dir/` entry
    /// (so is a nested repository).
    pub untracked: BTreeSet<String>,
    /// Submodules (among `tracked`) with modified or untracked content inside them: their own
    /// content belongs to the fingerprint.
    #[serde(default)]
    pub dirty_submodules: BTreeSet<String>,
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

/// The `git status` both the exact and the display status ask: the same question, so the
/// same answer (display only changes which index git reads and may refresh).
pub(in crate::core::plumbing) const STATUS_ARGS: [&str; 6] = [
    "status",
    "--porcelain=v2",
    "-z",
    "--no-renames",
    "--untracked-files=normal",
    "--ignore-submodules=none",
];

/// What differs from HEAD in the worktree at `path`: git's own exact answer (`git status`,
/// without refreshing its index). What decides something asks this; display may take
/// `fsmonitor::changes_for_display`, which reuses an answer while nothing changed.
pub fn exact_changes(path: &Path) -> Result<Changes> {
    let out = Git::new(path)
        .args(["--no-optional-locks"])
        .args(STATUS_ARGS)
        .run_bytes()?;
    parse_porcelain_v2(&out)
}

fn parse_porcelain_v2(out: &[u8]) -> Result<Changes> {
    let mut changes = Changes::default();
    let mut records = out.split(|b| *b == 0).filter(|r| !r.is_empty());
    let bad = |record: &[u8]| Error::CommandFailed {
        command: "git status".into(),
        detail: format!(
            "unexpected output {:?}",
            String::from_utf8_lossy(&record[..record.len().min(80)])
        ),
    };
    while let Some(record) = records.next() {
        let text = String::from_utf8_lossy(record);
        let kind = text.as_bytes()[0];
        // Fields before the path: ordinary 8, rename 9 (its original path is the next
        // record), unmerged 10.
        let fields_before_path = match kind {
            b'1' => 8,
            b'2' => 9,
            b'u' => 10,
            b'?' => {
                changes.untracked.insert(text[2..].to_string());
                continue;
            }
            b'#' | b'!' => continue,
            _ => return Err(bad(record)),
        };
        let fields: Vec<&str> = text.splitn(fields_before_path + 1, ' ').collect();
        let (Some(sub), Some(path)) = (fields.get(2), fields.get(fields_before_path)) else {
            return Err(bad(record));
        };
        if kind == b'2' {
            records.next(); // the original path of a rename
        }
        // `S<c><m><u>`: a submodule; m and u say its own worktree is dirty.
        let sub = sub.as_bytes();
        if sub.first() == Some(&b'S') && (sub.get(2) == Some(&b'M') || sub.get(3) == Some(&b'U')) {
            changes.dirty_submodules.insert(path.to_string());
        }
        changes.tracked.insert(path.to_string());
    }
    Ok(changes)
}

/// The directories holding tracked files (the worktree root included, as ""), from
/// `git ls-files`: what a file-system monitor watches. Empty when git cannot list them.
pub fn tracked_dirs(repo: &git2::Repository) -> Vec<String> {
    let Some(workdir) = repo.workdir() else {
        return Vec::new();
    };
    let Ok(out) = Git::new(workdir).args(["ls-files", "-z"]).run_bytes() else {
        return Vec::new();
    };
    let mut dirs = BTreeSet::new();
    dirs.insert(String::new());
    for path in out.split(|b| *b == 0) {
        let mut end = path.len();
        while let Some(slash) = path[..end].iter().rposition(|b| *b == b'/') {
            if !dirs.insert(String::from_utf8_lossy(&path[..slash]).into_owned()) {
                break; // its parents are in already
            }
            end = slash;
        }
    }
    dirs.into_iter().collect()
}

/// The untracked, not ignored, directories of the worktree at `path` as `git ls-files -o
/// --directory` shows them (relative, ending in `/`), empty ones and those holding only ignored
/// files included — which `git status` does not list, yet a file put there is a change: what
/// a file-system monitor watches besides the directories of tracked files. Empty when git
/// cannot list them.
pub fn untracked_directories(path: &Path) -> Vec<String> {
    let Ok(out) = Git::new(path)
        .args(["ls-files", "-o", "--directory", "--exclude-standard", "-z"])
        .run_bytes()
    else {
        return Vec::new();
    };
    out.split(|b| *b == 0)
        .filter(|p| p.ends_with(b"/"))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// The repositories git finds inside the worktree at `path` that it does not track (untracked,
/// not ignored), relative to `path`.
pub fn nested_repositories(path: &Path) -> Result<Vec<String>> {
    let out = Git::new(path)
        .args(["ls-files", "-o", "--exclude-standard", "-z"])
        .run_bytes()?;
    Ok(out
        .split(|b| *b == 0)
        .filter(|p| p.ends_with(b"/"))
        .map(|p| String::from_utf8_lossy(&p[..p.len() - 1]).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_v2_records() {
        let out = b"# branch.oid abc\0\
1 .M N... 100644 100644 100644 aaa aaa a file.txt\0\
1 .M S.M. 160000 160000 160000 bbb bbb sub\0\
1 M. SC.. 160000 160000 160000 ccc ddd other sub\0\
2 R. N... 100644 100644 100644 eee eee R100 new name\0old name\0\
u UU N... 100644 100644 100644 100644 f1 f2 f3 both\0\
? untracked dir/\0\
! ignored\0";
        let changes = parse_porcelain_v2(out).unwrap();
        assert_eq!(
            changes.tracked.iter().collect::<Vec<_>>(),
            ["a file.txt", "both", "new name", "other sub", "sub"]
        );
        assert_eq!(
            changes.untracked.iter().collect::<Vec<_>>(),
            ["untracked dir/"]
        );
        assert_eq!(changes.dirty_submodules.iter().collect::<Vec<_>>(), ["sub"]);
    }
}
