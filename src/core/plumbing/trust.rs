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
    // The digest's line, then the path (which may hold newlines) to the end.
    text.split_once('\n').is_some_and(|(recorded, path)| {
        recorded == digest && path == main_worktree.to_string_lossy()
    })
}

/// Records trust in the commands with `digest` of the repository at `main_worktree`, replacing
/// any earlier trust of that repository. Returns the record's path.
pub fn grant(main_worktree: &Path, digest: &str) -> Result<PathBuf> {
    let store = store_dir().ok_or(Error::NoStateDirectory)?;
    std::fs::create_dir_all(&store).map_err(|e| Error::io(&store, e))?;
    let path = record_path(&store, main_worktree);
    let mut file = tempfile::NamedTempFile::new_in(&store).map_err(|e| Error::io(&store, e))?;
    std::io::Write::write_all(
        &mut file,
        format!("{digest}\n{}", main_worktree.to_string_lossy()).as_bytes(),
    )
    .map_err(|e| Error::io(&path, e))?;
    file.persist(&path).map_err(|e| Error::io(&path, e.error))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_tells_every_split_and_order_apart() {
        let digest = |c: &[&str]| {
            RepoCommands::digest_of(&c.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_ne!(digest(&["a", "b"]), digest(&["b", "a"]));
        assert_ne!(digest(&["a"]), digest(&["a", ""]));
        assert_eq!(digest(&["check: [t] true"]).len(), 64);
    }

    #[test]
    fn only_untrusted_keys_of_the_repository_file_are_refused() {
        let commands = RepoCommands {
            file: "/r/.wtmux.toml".into(),
            keys: vec!["check".into()],
            trusted: false,
            ..RepoCommands::default()
        };
        assert!(matches!(
            commands.require("check"),
            Err(Error::Untrusted { .. })
        ));
        assert!(commands.require("post_merge").is_ok(), "not from this file");
        let trusted = RepoCommands {
            trusted: true,
            ..commands
        };
        assert!(trusted.require("check").is_ok());
    }
}
