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
//! file or the previous one, never half.

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

/// Whether another process holds the lock at `path`.
pub fn is_held(path: &Path) -> Result<bool> {
    Ok(try_hold(path)?.is_none())
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
