//! Every way a wtmux action can fail or refuse, as facts. The messages here name no flag of the
//! CLI and no key of the popup: the front ends phrase what needs their words (`cli/error.rs`,
//! `tui::app::error_text`). A workflow step's own refusal travels as [`Error::Step`], a typed
//! value defined by the step (`merge::Refused`, `remove::WouldLoseWork`, …) that the front
//! ends downcast; this module imports nothing of the core.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not inside a git repository: {}", .0.display())]
    NotARepository(PathBuf),
    #[error(
        "{} is a bare repository: wtmux needs a main worktree (clone without --bare)",
        .0.display()
    )]
    BareRepository(PathBuf),
    #[error(
        "the main worktree {} has no branch checked out: set `base` in .wtmux.toml",
        .0.display()
    )]
    NoBase(PathBuf),
    #[error(
        "the base branch {base:?} does not exist{}",
        if *configured { " (fix `base` in .wtmux.toml)" } else { " (it has no commit yet, or set `base` in .wtmux.toml)" }
    )]
    MissingBase { base: String, configured: bool },
    #[error(
        "{} is a git repository wtmux cannot read: it uses {what} (wtmux reads SHA-1 repositories with the files ref format)",
        .path.display()
    )]
    UnsupportedRepository { path: PathBuf, what: String },
    #[error("{0}")]
    Config(String),
    #[error("invalid branch name {name:?}: {reason}")]
    InvalidBranch { name: String, reason: String },
    #[error("no worktree for {0:?}")]
    UnknownWorktree(String),
    #[error("{name:?} is ambiguous: it names {}", candidates.join(", "))]
    AmbiguousName {
        name: String,
        candidates: Vec<String>,
    },
    #[error("the current directory is not inside a worktree of this repository")]
    NotInWorktree,
    #[error("branch {branch:?} is already checked out in {}", .path.display())]
    BranchCheckedOut { branch: String, path: PathBuf },
    #[error("{} exists and is not a worktree of this repository", .0.display())]
    PathOccupied(PathBuf),
    #[error("{0:?} does not name a commit")]
    UnknownRevision(String),
    #[error("this needs tmux, and $TMUX is not set (run it inside tmux)")]
    NoTmux,
    #[error("another wtmux operation is running: {0}")]
    Busy(Holder),
    /// The repository file defines commands the user has not trusted (or that changed since).
    #[error(
        "{} defines commands ({}) that are not trusted on this machine; nothing was run",
        .file.display(),
        .keys.join(", ")
    )]
    Untrusted { file: PathBuf, keys: Vec<String> },
    /// A refusal a front end phrased itself (the CLI's `init` over an existing file, the
    /// popup's "no check log yet"). The core never makes one: its refusals are typed values
    /// ([`Error::Step`] and the variants here), which `tests/core_words.rs` holds it to.
    #[error("refused: {0}")]
    Refused(String),
    /// Processes working in a directory did not stop, even when killed.
    #[error(
        "refused: processes working in {} do not stop (pid {}); nothing was moved",
        .dir.display(),
        .pids.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
    )]
    ProcessesDoNotStop { dir: PathBuf, pids: Vec<i32> },
    /// A journal's intent could not be read back.
    #[error("refused: journal {id} of {operation:?} is unreadable: {detail}")]
    JournalUnreadable {
        id: String,
        operation: String,
        detail: String,
    },
    #[error("refused: the journal {0} is in use by another process")]
    JournalInUse(String),
    #[error("refused: no state directory on this platform to keep trust records in")]
    NoStateDirectory,
    /// A bug: one thread took the operation lock it already held.
    #[error("refused: internal error: the operation lock was taken twice by one thread")]
    LockTakenTwice,
    /// A workflow step refused, with its facts as a typed value of that step; its own message
    /// is the plain facts.
    #[error("refused: {0}")]
    Step(Box<dyn std::error::Error + Send + Sync>),
    #[error("{command} failed: {detail}")]
    CommandFailed { command: String, detail: String },
    #[error("git: {}", .0.message())]
    Git2(#[from] git2::Error),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Who holds the operation lock (`op.json` beside `op.lock`, see `oplock`), as a refusal names
/// it. It lives here, with the errors that carry it, so that errors import nothing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// What it does, e.g. "merge feat/x".
    pub operation: String,
    /// Unix time it took the lock.
    pub started_at: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        write!(
            f,
            "{} (pid {}, for {}s)",
            self.operation,
            self.pid,
            now.saturating_sub(self.started_at)
        )
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A front end's own refusal (see [`Error::Refused`]).
    pub fn refused(reason: impl Into<String>) -> Error {
        Error::Refused(reason.into())
    }

    /// A step's typed refusal.
    pub fn step(refusal: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Step(Box::new(refusal))
    }

    /// The step's refusal of type `T`, when this is one.
    pub fn step_refusal<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            Error::Step(refusal) => refusal.downcast_ref::<T>(),
            _ => None,
        }
    }
}

/// Joins a list of names for a one-line message, naming at most `max` and counting the rest.
pub fn list_for_message<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let mut text = items
        .iter()
        .take(max)
        .map(|s| s.as_ref())
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        text.push_str(&format!(" and {} more", items.len() - max));
    }
    text
}

/// The plural ending of a count's noun: "1 file", "2 files".
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
