//! Trust for the commands a repository's `.wtmux.toml` defines (checks, `post_create`,
//! `post_merge`, `notify`, the agent and `[agents]`), as direnv and mise do it: a cloned
//! repository runs none of them until the user trusts them on this machine, and a change to any
//! of them needs trust again.
//!
//! The record lives in the user's state directory (the platform's, via `directories`: on Linux
//! `$XDG_STATE_HOME/wtmux/trusted/`, else `~/.local/state/wtmux/trusted/`), outside every
//! repository, one file per main worktree path, holding the SHA-256 of exactly those commands.
//! The user's own configuration file is trusted as it is.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{Error, Result};

/// The commands a repository file defines, and whether they are trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoCommands {
    /// The repository file.
    pub file: PathBuf,
    /// Its command keys: `check`, `post_create`, `post_merge`, `notify`, `agent`,
    /// `agents.NAME`. Empty: nothing to trust.
    pub keys: Vec<String>,
    /// Every command, as `key: command`, in the file's order (what `wtmux trust` shows).
    pub commands: Vec<String>,
    /// SHA-256 (hex) of exactly those commands.
    pub digest: String,
    pub trusted: bool,
}

impl RepoCommands {
    /// `key` came from the repository file and is not trusted: the typed refusal, with the
    /// facts for the CLI and the popup to phrase.
    pub fn require(&self, key: &str) -> Result<()> {
        if self.trusted || !self.keys.iter().any(|k| k == key) {
            return Ok(());
        }
        Err(Error::Untrusted {
            file: self.file.clone(),
            keys: self.keys.clone(),
        })
    }

    /// The digest of `commands` (each `key: command`).
    pub fn digest_of(commands: &[String]) -> String {
        let mut hasher = Sha256::new();
        for command in commands {
            hasher.update((command.len() as u64).to_le_bytes());
            hasher.update(command.as_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Where trust records live, or `None` when the platform has no home for them.
pub fn store_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "wtmux")?;
    let base = dirs
        .state_dir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dirs.data_local_dir().to_path_buf());
    Some(base.join("trusted"))
}

fn record_path(store: &Path, main_worktree: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let key =
        RepoCommands::digest_of(&[
            String::from_utf8_lossy(main_worktree.as_os_str().as_bytes()).into_owned(),
        ]);
    store.join(&key[..32])
}

/// Whether the commands with `digest` of the repository at `main_worktree` are trusted.
pub fn is_trusted(main_worktree: &Path, digest: &str) -> bool {
    let Some(store) = store_dir() else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(record_path(&store, main_worktree)) else {
        return false;
    };
    let mut lines = text.lines();
    lines.next() == Some(&*main_worktree.to_string_lossy()) && lines.next() == Some(digest)
}

/// Records trust in the commands with `digest` of the repository at `main_worktree`, replacing
/// any earlier trust of that repository. Returns the record's path.
pub fn grant(main_worktree: &Path, digest: &str) -> Result<PathBuf> {
    let store = store_dir().ok_or_else(|| {
        Error::refused("no state directory on this platform to keep trust records in")
    })?;
    std::fs::create_dir_all(&store).map_err(|e| Error::io(&store, e))?;
    let path = record_path(&store, main_worktree);
    let mut file = tempfile::NamedTempFile::new_in(&store).map_err(|e| Error::io(&store, e))?;
    std::io::Write::write_all(
        &mut file,
        format!("{}\n{digest}\n", main_worktree.to_string_lossy()).as_bytes(),
    )
    .map_err(|e| Error::io(&path, e))?;
    file.persist(&path).map_err(|e| Error::io(&path, e.error))?;
    Ok(path)
}
