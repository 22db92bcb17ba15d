//! wtmux's files under `<git common dir>/wtmux/`, shared by every worktree, every CLI call, every
//! popup and every background job:
//!
//! - `runs/<worktree key>.json`  the latest check run of a worktree (and `.lock`, held while it runs)
//! - `results/<content key>.json` the outcome of checks on one exact content
//! - `logs/<run id>/<n>-<check>.log` check output
//! - `slots/<n>.lock`             how many check runs may go at once
//! - `post-merge/`                logs and exit status of post-merge commands
//! - `op.lock`, `op.json`         the repository-wide operation lock and its holder ([`super::oplock`])
//! - `journal/<id>.json`          the journal of an operation under way ([`super::journal`])
//!
//! Every write goes to a temporary file that is renamed into place, so a reader sees a whole
//! file or the previous one, never half; the agents' records, written under a lock, are
//! overwritten in place instead ([`overwrite_json`]), and their readers share that lock.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A subdirectory, created on first use.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir)
    }
}

/// Writes `value` as JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    let json = serde_json::to_vec_pretty(value).expect("state serializes");
    file.write_all(&json).map_err(|e| Error::io(path, e))?;
    file.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes `value` as JSON into `path` in place, for a file whose writers hold `lock` and whose
/// readers share it ([`read_json_shared`]). No new file per write: on ext4, replacing a file by
/// a rename also flushes it to disk, which with a hundred agents changing state every few
/// seconds was most of the agent monitor's cost. The text is padded with spaces (trailing
/// whitespace is valid JSON) to the old length, so one write replaces the whole of it and the
/// file never needs shrinking: a writer killed at any point leaves the old text or the new.
pub fn overwrite_json<T: Serialize>(path: &Path, value: &T, _lock: &File) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let old_len = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    let mut json = serde_json::to_vec_pretty(value).expect("state serializes");
    json.push(b'\n');
    if json.len() < old_len {
        json.resize(old_len, b' ');
    }
    file.write_all_at(&json, 0).map_err(|e| Error::io(path, e))
}

/// Reads JSON that [`overwrite_json`] writes, holding its `lock` shared meanwhile (so no write
/// is seen half done); `None` as [`read_json`].
pub fn read_json_shared<T: DeserializeOwned>(path: &Path, lock: &Path) -> Option<T> {
    // Opened for reading only: a reader leaves no trace a watcher of the directory would see.
    let guard = File::open(lock).ok();
    if let Some(guard) = &guard {
        guard.lock_shared().ok()?;
    }
    read_json(path)
}

/// Reads JSON from `path`; a missing file is `None`, and so is one this version cannot read
/// (state from another wtmux version must not break listing).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Opens (creating) a lock file.
pub fn lock_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Takes the lock at `path` for as long as the returned file lives; `None` when another process
/// holds it. The locks mark a live owner (a check run, a monitor, a daemon): the kernel drops
/// them when their process dies, however it dies.
pub fn try_hold(path: &Path) -> Result<Option<File>> {
    let file = lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// Whether another process holds the lock at `path`. The file is opened for reading only:
/// closing a file opened for writing is an event for watchers of its directory, and a
/// follower of the file-system monitor takes that event as the monitor starting or ending.
pub fn is_held(path: &Path) -> Result<bool> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// A short, stable, file-name-safe key for arbitrary bytes (a SHA-1 prefix).
pub fn key_of(bytes: &[u8]) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, bytes)
        .map(|oid| oid.to_string()[..20].to_string())
        .unwrap_or_else(|_| "0".repeat(20))
}

/// Appends what `path` holds past `offset` to `sink`; returns how many bytes that was. A file
/// that does not exist yet holds nothing.
pub fn copy_tail(path: &Path, offset: u64, sink: &mut dyn Write) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return Ok(0);
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let _ = sink.write_all(&bytes);
    Ok(bytes.len() as u64)
}

/// The key of a worktree's own files (run records, status cache): its path, hashed.
pub fn worktree_key(path: &Path) -> String {
    key_of(path.as_os_str().as_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overwritten_file_holds_exactly_the_last_value() {
        let dir = tempfile::tempdir().unwrap();
        let (path, lock_path) = (dir.path().join("r.json"), dir.path().join("r.lock"));
        let lock = lock_file(&lock_path).unwrap();
        overwrite_json(&path, &vec!["a long first value"; 8], &lock).unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        overwrite_json(&path, &vec!["short"], &lock).unwrap();
        assert_eq!(
            read_json_shared::<Vec<String>>(&path, &lock_path),
            Some(vec!["short".to_string()])
        );
        // In place: the same file, no temporary one beside it.
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&meta), inode);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
