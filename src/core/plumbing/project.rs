//! One repository as wtmux sees it: main worktree, shared git dir, configuration, base, the
//! state directory and the tmux server. Every layer above takes a [`Project`].

use std::path::{Path, PathBuf};

use super::config::{self, Config};
use super::error::{Error, Result};
use super::state::StateDir;
use super::tmux::Tmux;
use super::{canonical, git, status};

/// One repository as wtmux sees it: where its main worktree and shared git dir are, its
/// configuration, and the tmux server it may talk to.
#[derive(Debug, Clone)]
pub struct Project {
    /// The main worktree (the one holding `.git`); worktrees live below it.
    pub main_worktree: PathBuf,
    /// The git dir shared by every worktree; wtmux keeps its state below it.
    pub common_dir: PathBuf,
    pub config: Config,
    /// The branch worktrees branch from and merge into.
    pub base: String,
    pub state: StateDir,
    /// The tmux server of `$TMUX`, when wtmux runs inside tmux.
    pub tmux: Option<Tmux>,
    /// The directory the command was started from (resolves "the current worktree").
    pub current_dir: PathBuf,
}

impl Project {
    /// Finds the repository containing `cwd` and loads its configuration.
    pub fn discover(cwd: &Path) -> Result<Project> {
        Self::discover_with(cwd, config::user_config_path(), Tmux::from_env())
    }

    /// Like [`Project::discover`], with the user configuration file and the tmux server given.
    pub fn discover_with(
        cwd: &Path,
        user_config: Option<PathBuf>,
        tmux: Option<Tmux>,
    ) -> Result<Project> {
        let repo = git2::Repository::discover(cwd).map_err(|e| not_readable(cwd, e))?;
        let common_dir = canonical(repo.commondir());
        let main_repo = git2::Repository::open(&common_dir)?;
        let main_worktree = match main_repo.workdir() {
            Some(dir) if !main_repo.is_bare() => canonical(dir),
            _ => return Err(Error::BareRepository(common_dir)),
        };
        let config = Config::load(&main_worktree, user_config.as_deref())?;
        let base = match &config.base {
            Some(base) => base.clone(),
            None => {
                git::head_branch(&main_repo)?.ok_or_else(|| Error::NoBase(main_worktree.clone()))?
            }
        };
        let state = StateDir::new(common_dir.join("wtmux"));
        Ok(Project {
            main_worktree,
            common_dir,
            config,
            base,
            state,
            tmux,
            current_dir: canonical(cwd),
        })
    }

    /// The directory new worktrees are created in.
    pub fn worktree_dir(&self) -> PathBuf {
        self.main_worktree.join(&self.config.worktree_dir)
    }

    /// Opens the repository afresh; `git2::Repository` is not `Sync`, so each task opens its own.
    pub fn repo(&self) -> Result<git2::Repository> {
        Ok(git2::Repository::open(&self.main_worktree)?)
    }

    /// The commit base points at; `None` when the branch does not exist (yet). For display
    /// only: whatever decides something needs [`Project::require_base_commit`].
    pub fn base_commit(&self) -> Result<Option<git2::Oid>> {
        Ok(self
            .repo()?
            .find_reference(&self.base_ref())
            .ok()
            .and_then(|r| r.target()))
    }

    /// The commit base points at, or a refusal naming the missing base: nothing that compares
    /// with base (merge, remove, add from base, the scope guard) may go on without it.
    pub fn require_base_commit(&self) -> Result<git2::Oid> {
        let commit = self.base_commit()?.ok_or_else(|| Error::MissingBase {
            base: self.base.clone(),
            configured: self.config.base.is_some(),
        })?;
        self.repo()?
            .find_commit(commit)
            .map(|c| c.id())
            .map_err(|_| Error::MissingBase {
                base: self.base.clone(),
                configured: self.config.base.is_some(),
            })
    }

    /// `refs/heads/<base>`: refs are always named in full, so a tag named like base never wins.
    pub fn base_ref(&self) -> String {
        format!("refs/heads/{}", self.base)
    }

    /// wtmux's store for content fingerprints (its own index files and objects).
    pub fn content_store(&self) -> Result<status::ContentStore> {
        status::ContentStore::open(&self.common_dir, self.state.root())
    }

    /// A throwaway object directory over the repository's objects and the fingerprint store's,
    /// for predictions that must leave the repository as it was.
    pub fn scratch_objects(&self) -> Result<git::ScratchObjects> {
        git::ScratchObjects::new(&self.common_dir, &self.content_store()?.objects())
    }

    /// The fingerprint of the worktree at `path` as it is now, from git's own status.
    pub fn content_of(&self, path: &Path) -> Result<status::Content> {
        self.content_store()?
            .content(path, &status::exact_changes(path)?)
    }

    /// The tmux server, or an error saying that this needs tmux.
    pub fn require_tmux(&self) -> Result<&Tmux> {
        self.tmux.as_ref().ok_or(Error::NoTmux)
    }
}

/// Why git2 could not open the repository at `cwd`, asking git itself: a directory git does not
/// know is not a repository; one git knows but libgit2 cannot read (reftable refs, SHA-256
/// objects) is named as unsupported.
fn not_readable(cwd: &Path, error: git2::Error) -> Error {
    let Ok(out) = git::Git::new(cwd)
        .args([
            "rev-parse",
            "--show-toplevel",
            "--show-object-format",
            "--show-ref-format",
        ])
        .run()
    else {
        return Error::NotARepository(cwd.to_path_buf());
    };
    let mut lines = out.lines();
    let top = PathBuf::from(lines.next().unwrap_or_default());
    let mut formats = Vec::new();
    if lines.next() == Some("sha256") {
        formats.push("SHA-256 object ids");
    }
    if lines.next() == Some("reftable") {
        formats.push("the reftable ref format");
    }
    let what = if formats.is_empty() {
        error.message().to_string()
    } else {
        formats.join(" and ")
    };
    Error::UnsupportedRepository { path: top, what }
}
