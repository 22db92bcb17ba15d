//! `git status` for display, asked of a copy of the worktree's index that git may refresh.
//!
//! What decides asks [`exact_changes`]: git's status on the worktree's own index, with
//! `--no-optional-locks`, so looking never rewrites that index. But then git keeps nothing it
//! learns: every look stats every tracked file and reads every directory again (and hashes again
//! every file whose stat data in the index is stale). Display asks the same question of a copy
//! of the index in wtmux's store, which git may refresh and where it keeps its untracked cache
//! (`core.untrackedCache`: a directory whose stat data did not change is not read again). The
//! answer is the same: the copy holds the real index's entries (paths, modes, objects, stages,
//! flags) — a new copy is made whenever the real index changed, named by its identity — and
//! git's refresh changes only stat data, which decides whether git looks at a file's content or
//! a directory's entries, never what they are. On the benchmark repository this is about a
//! fifth less work per worktree: the untracked scan (README, Benchmarks).
//!
//! Stat data can lie. A directory whose mtime is put back (tar, rsync, `cp -a`) after a file
//! appeared in it still shows a new ctime, so directory stat data is compared in full (ctime
//! and inode forced on, whatever `core.trustctime`/`core.checkStat` say). But git compares whole
//! seconds: a change within the very second git recorded the directory (or a file) keeps all
//! of its stat data, and git's own guard ("racy git": the index must be newer than what it
//! records) looks at the mtime, which was put back. So after every look in which git wrote the
//! copy, the copy is kept only if nothing it records changed within [`RACY`] of that look's
//! start; else it is dropped, and the next look starts again from the real index. Looks at one
//! worktree take turns, so nobody uses a copy before it was checked.
//!
//! Not used (the exact status instead) when the index holds a submodule (git runs a status of
//! its own inside it, and what lets git write the copy would let that one rewrite the
//! submodule's real index), is split or sparse (entries kept in another file or folded into
//! directories), or cannot be read; nor when the real index changed while git looked.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Changes, ContentStore, exact_changes, index_identity, parse_porcelain_v2, real_index};
use crate::core::plumbing::error::{Error, Result};
use crate::core::plumbing::git::Git;
use crate::core::plumbing::state::{key_of, lock_file, worktree_key};

/// A copy is trusted only if nothing it keeps stat data of changed less than this before the
/// look that wrote it began (file systems stamping whole seconds, or two, and the kernel's
/// coarse clock included).
pub const RACY: Duration = Duration::from_secs(2);

impl ContentStore {
    /// What differs from HEAD in the worktree at `path`, for showing it: git's own status (see
    /// the module doc for why it equals [`exact_changes`]).
    pub fn display_changes(&self, path: &Path) -> Result<Changes> {
        let real = real_index(path)?;
        let identity = index_identity(&real);
        let dir = self.index_dir();
        let key = worktree_key(path);
        // Whatever keeps wtmux from keeping a copy (a full disk, a read-only repository), the
        // exact status still answers.
        let Ok(turn) = lock_file(&dir.join(format!("status-{key}.lock"))) else {
            return exact_changes(path);
        };
        let Some(copy) = turn
            .lock()
            .ok()
            .and_then(|()| self.display_index(&key, &real, &identity).ok().flatten())
        else {
            drop(turn);
            return exact_changes(path);
        };
        // Looks take turns: a `.lock` of git's is left over from one that was killed, and
        // would keep git from ever writing the copy again.
        let _ = std::fs::remove_file(copy.with_extension("index.lock"));
        let before = index_identity(&copy);
        let since = SystemTime::now() - RACY;
        let out = Git::new(path)
            .env("GIT_INDEX_FILE", &copy)
            // The copy is wtmux's own: git may write it (the caller's setting is for its index).
            .env("GIT_OPTIONAL_LOCKS", "1")
            .args([
                "-c",
                "core.untrackedCache=true",
                "-c",
                "core.trustctime=true",
                "-c",
                "core.checkStat=default",
                "-c",
                "core.splitIndex=false",
            ])
            .args(super::STATUS_ARGS)
            .run_bytes();
        let keep = out.is_ok()
            && (index_identity(&copy) == before
                || scan_index(&copy).is_ok_and(|scan| scan.trustworthy_since(since)));
        if !keep {
            let _ = std::fs::remove_file(&copy);
        }
        drop(turn);
        match out {
            Ok(out) if index_identity(&real) == identity => parse_porcelain_v2(&out),
            // The real index changed while git looked (its answer may mix two versions), or
            // git failed on the copy: the exact status says what is so, or what is wrong.
            _ => exact_changes(path),
        }
    }

    /// The copy of the real index (at `real`, whose identity is `identity`) that display
    /// statuses of the worktree with key `key` ask; `None` when a copy cannot stand for it.
    fn display_index(&self, key: &str, real: &Path, identity: &str) -> Result<Option<PathBuf>> {
        let dir = self.index_dir();
        let prefix = format!("status-{key}-");
        let name = format!("{prefix}{}", key_of(identity.as_bytes()));
        let copy = dir.join(format!("{name}.index"));
        let refused = dir.join(format!("{name}.refused"));
        if copy.exists() {
            return Ok(Some(copy));
        }
        if refused.exists() {
            return Ok(None);
        }
        // The first look at this version of the real index: copy it, next to the final name
        // and renamed into place.
        let partial = dir.join(format!("{name}.{}.tmp", std::process::id()));
        match std::fs::copy(real, &partial) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(Error::io(real, e));
            }
        }
        // git replaces an index by a rename: unchanged identity, so the copy is of this version.
        let same = index_identity(real) == identity;
        let plain = same && scan_index(&partial).is_ok_and(|scan| scan.plain);
        let kept = if plain {
            // git trusts an entry's stat data only if the file is older than the index holding
            // it ("racy git"): the copy must be as old as the real index, not stamped now.
            super::fingerprint::keep_modified_time(real, &partial)?;
            std::fs::rename(&partial, &copy).map_err(|e| Error::io(&copy, e))?;
            Some(copy)
        } else {
            let _ = std::fs::remove_file(&partial);
            if same {
                std::fs::write(&refused, "").map_err(|e| Error::io(&refused, e))?;
            }
            None
        };
        // Copies of earlier versions of this index go.
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if file.starts_with(&prefix) && !file.starts_with(&name) && !file.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(kept)
    }
}

/// What reading an index file found.
#[derive(Debug)]
struct IndexScan {
    /// A version 2 to 4 index of files and symbolic links only — no gitlink (submodule), no
    /// sparse directory entry — that is not split (`link`) or sparse (`sdir`).
    plain: bool,
    /// The latest change time (whole seconds) of anything whose stat data the index keeps:
    /// its entries, and the directories and excludes files of its untracked cache. `None`:
    /// unknown (the untracked cache could not be read).
    latest_change: Option<u32>,
}

impl IndexScan {
    /// Whether a copy git wrote during a look begun at `since` + [`RACY`] can be trusted.
    fn trustworthy_since(&self, since: SystemTime) -> bool {
        let since = since
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.plain
            && self
                .latest_change
                .is_some_and(|latest| u64::from(latest) < since)
    }
}

/// The index file at `path`, read as a stream (see [`IndexScan`]). Reading stops at the first
/// thing that makes it not plain.
fn scan_index(path: &Path) -> std::io::Result<IndexScan> {
    const HASH: u64 = 20;
    const NOT_PLAIN: IndexScan = IndexScan {
        plain: false,
        latest_change: None,
    };
    let len = std::fs::metadata(path)?.len();
    let mut file = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut header = [0u8; 12];
    file.read_exact(&mut header)?;
    let version = be32(&header[4..8]);
    if &header[..4] != b"DIRC" || !(2..=4).contains(&version) {
        return Ok(NOT_PLAIN);
    }
    let mut latest = 0u32;
    let mut offset = 12u64;
    let mut name = Vec::new();
    for _ in 0..be32(&header[8..12]) {
        // ctime, mtime (seconds, nanoseconds), dev, ino, mode, uid, gid, size, object id, flags.
        let mut fixed = [0u8; 62];
        file.read_exact(&mut fixed)?;
        latest = latest.max(be32(&fixed[0..4])).max(be32(&fixed[8..12]));
        let mut size = fixed.len() as u64;
        if u16::from_be_bytes([fixed[60], fixed[61]]) & 0x4000 != 0 {
            if version < 3 {
                return Ok(NOT_PLAIN);
            }
            file.read_exact(&mut [0u8; 2])?; // extended flags
            size += 2;
        }
        if !matches!(be32(&fixed[24..28]) & 0o170000, 0o100000 | 0o120000) {
            return Ok(NOT_PLAIN); // a gitlink (0o160000) or a sparse directory (0o040000)
        }
        name.clear();
        if version == 4 {
            // How much of the previous name to drop (a varint), then the rest of the name.
            loop {
                let mut byte = [0u8; 1];
                file.read_exact(&mut byte)?;
                size += 1;
                if byte[0] & 0x80 == 0 {
                    break;
                }
            }
            size += file.read_until(0, &mut name)? as u64;
        } else {
            // The name, then 1 to 8 NULs up to a multiple of 8 bytes for the whole entry.
            let read = file.read_until(0, &mut name)? as u64;
            if name.last() == Some(&0) {
                let entry = (size + read - 1 + 8) & !7;
                let padding = entry - size - read;
                std::io::copy(&mut (&mut file).take(padding), &mut std::io::sink())?;
                size = entry;
            }
        }
        if name.last() != Some(&0) {
            return Ok(NOT_PLAIN); // ended inside a name
        }
        offset += size;
    }
    // Extensions (signature, size, data) up to the checksum.
    let mut untracked_cache_read = true;
    while offset + HASH < len {
        let mut extension = [0u8; 8];
        file.read_exact(&mut extension)?;
        let size = u64::from(be32(&extension[4..8]));
        match &extension[..4] {
            b"link" | b"sdir" => return Ok(NOT_PLAIN),
            b"UNTR" => {
                let mut data = Vec::new();
                (&mut file).take(size).read_to_end(&mut data)?;
                match untracked_cache_latest_change(&data) {
                    Some(changed) => latest = latest.max(changed),
                    None => untracked_cache_read = false,
                }
            }
            _ => {
                std::io::copy(&mut (&mut file).take(size), &mut std::io::sink())?;
            }
        }
        offset += 8 + size;
    }
    if offset + HASH != len {
        return Ok(NOT_PLAIN);
    }
    Ok(IndexScan {
        plain: true,
        latest_change: untracked_cache_read.then_some(latest),
    })
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The latest ctime or mtime (seconds) in the stat data an untracked cache extension keeps
/// (git's `read_untracked_extension`): of `info/exclude`, of `core.excludesFile`, and of every
/// directory it holds as valid. `None` when it cannot be read.
fn untracked_cache_latest_change(data: &[u8]) -> Option<u32> {
    const STAT: usize = 36; // ctime, mtime (seconds, nanoseconds), dev, ino, uid, gid, size
    let changed = |stat: &[u8]| be32(&stat[0..4]).max(be32(&stat[8..12]));
    let mut at = Cursor { data, at: 0 };
    let ident = at.varint()?;
    at.skip(usize::try_from(ident).ok()?)?;
    // The excludes files' stat data, the directory flags, their two object ids.
    let header = at.take(2 * STAT + 4 + 2 * 20)?;
    let mut latest = changed(&header[..STAT]).max(changed(&header[STAT..2 * STAT]));
    at.string()?; // the per-directory excludes file name
    let directories = if at.at < data.len().saturating_sub(1) {
        at.varint()?
    } else {
        0
    };
    if directories == 0 {
        return Some(latest);
    }
    // Depth first: untracked count, subdirectory count, name, the untracked names.
    for _ in 0..directories {
        let untracked = at.varint()?;
        at.varint()?;
        at.string()?;
        for _ in 0..untracked {
            at.string()?;
        }
    }
    // Bitmaps: valid, check-only, excludes-file id valid; then the valid ones' stat data.
    let valid = at.ewah_ones()?;
    at.ewah_ones()?;
    at.ewah_ones()?;
    for _ in 0..valid {
        latest = latest.max(changed(at.take(STAT)?));
    }
    Some(latest)
}

/// Reading an untracked cache extension.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    /// A NUL-terminated string.
    fn string(&mut self) -> Option<&'a [u8]> {
        let rest = self.data.get(self.at..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        self.at += end + 1;
        Some(&rest[..end])
    }

    /// git's variable-width integer (`decode_varint`).
    fn varint(&mut self) -> Option<u64> {
        let mut byte = self.take(1)?[0];
        let mut value = u64::from(byte & 0x7f);
        while byte & 0x80 != 0 {
            value = value.checked_add(1)?;
            if value >> 57 != 0 {
                return None;
            }
            byte = self.take(1)?[0];
            value = (value << 7) + u64::from(byte & 0x7f);
        }
        Some(value)
    }

    /// An EWAH bitmap as git writes it (bit count, word count, words, position of the last
    /// run-length word): how many bits are set.
    fn ewah_ones(&mut self) -> Option<u64> {
        self.skip(4)?;
        let words = be32(self.take(4)?) as usize;
        let mut ones = 0u64;
        let mut left = words;
        while left > 0 {
            // A run-length word: the run's bit, its length in words, then literal words.
            let marker = u64::from_be_bytes(self.take(8)?.try_into().ok()?);
            left -= 1;
            if marker & 1 != 0 {
                ones += ((marker >> 1) & 0xffff_ffff) * 64;
            }
            let literals = (marker >> 33) as usize;
            if literals > left {
                return None;
            }
            for _ in 0..literals {
                ones += u64::from(u64::from_be_bytes(self.take(8)?.try_into().ok()?).count_ones());
            }
            left -= literals;
        }
        self.skip(4)?;
        Some(ones)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .args(args)
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    }

    fn repo_with_files() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        for name in ["a", "d/b", "d/e/a-rather-long-name-to-pad-differently.txt"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, name).unwrap();
        }
        std::os::unix::fs::symlink("a", dir.path().join("link")).unwrap();
        git(dir.path(), &["add", "-A"]);
        dir
    }

    #[test]
    fn plain_indexes_of_every_version_read_to_their_checksum() {
        let dir = repo_with_files();
        let index = dir.path().join(".git/index");
        for version in ["2", "3", "4"] {
            git(dir.path(), &["update-index", "--index-version", version]);
            assert!(scan_index(&index).unwrap().plain, "version {version}");
        }
        // Extended flags (version 3) and extensions (a cache tree, the untracked cache).
        git(dir.path(), &["update-index", "--index-version", "3"]);
        git(dir.path(), &["update-index", "--skip-worktree", "d/b"]);
        git(dir.path(), &["write-tree"]);
        git(dir.path(), &["update-index", "--untracked-cache"]);
        std::fs::create_dir_all(dir.path().join("u/v")).unwrap();
        std::fs::write(dir.path().join("u/v/w"), "").unwrap();
        git(dir.path(), &["status", "-unormal"]);
        let scan = scan_index(&index).unwrap();
        assert!(scan.plain);
        // The untracked cache was read: the directories just made are its latest change.
        let made = std::fs::metadata(dir.path().join("u/v")).unwrap();
        let made = std::os::unix::fs::MetadataExt::ctime(&made) as u32;
        assert!(scan.latest_change.is_some_and(|t| t >= made), "{scan:?}");
    }

    #[test]
    fn ewah_bitmaps_count_runs_and_literals() {
        // Three words: a run of 2 words of ones announcing `literals` literal words, then two.
        let bitmap = |literals: u64| {
            let mut bytes = Vec::new();
            bytes.extend(200u32.to_be_bytes()); // bits
            bytes.extend(3u32.to_be_bytes()); // words
            bytes.extend((1u64 | (2 << 1) | (literals << 33)).to_be_bytes());
            bytes.extend(0b1011u64.to_be_bytes());
            bytes.extend(u64::MAX.to_be_bytes());
            bytes.extend(0u32.to_be_bytes()); // where the last run-length word is
            bytes
        };
        let bytes = bitmap(2);
        let mut at = Cursor {
            data: &bytes,
            at: 0,
        };
        assert_eq!(at.ewah_ones(), Some(128 + 3 + 64));
        assert_eq!(at.at, bytes.len());
        let bytes = bitmap(3);
        let mut at = Cursor {
            data: &bytes,
            at: 0,
        };
        assert_eq!(
            at.ewah_ones(),
            None,
            "three literal words announced, two given"
        );
    }

    #[test]
    fn submodules_split_indexes_and_damage_are_refused() {
        let dir = repo_with_files();
        let index = dir.path().join(".git/index");
        git(dir.path(), &["update-index", "--split-index"]);
        assert!(!scan_index(&index).unwrap().plain);
        git(dir.path(), &["update-index", "--no-split-index"]);
        assert!(scan_index(&index).unwrap().plain);

        let bytes = std::fs::read(&index).unwrap();
        let cut = dir.path().join("cut");
        std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
        assert!(!scan_index(&cut).is_ok_and(|s| s.plain));

        let id = "0123456789012345678901234567890123456789";
        git(
            dir.path(),
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{id},sub"),
            ],
        );
        assert!(!scan_index(&index).unwrap().plain);
    }
}
