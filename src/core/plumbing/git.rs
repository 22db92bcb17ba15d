//! The one git client.
//!
//! The rule: git2 (in process, no fork) for reads — worktree listing, ahead/behind, and what
//! `status.rs` does not read itself — and for objects and refs that only wtmux uses (`refs/wtmux/*`). The
//! `git` binary, always with an argv and never through a shell, for every write that users see:
//! worktree add/remove, commit, merge, rebase, branch deletion, restore. git runs the user's
//! hooks, merges with `ort` (libgit2's merge disagrees with it, libgit2 #7128), handles worktree
//! names with `/` (libgit2 #6327), and has `merge-tree --write-tree`, which libgit2 lacks.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use git2::{Oid, Repository};

use super::error::{Error, Result};

/// A `git` invocation being built: `Git::new(dir).args(["merge", "--no-edit"]).run()`.
pub struct Git {
    command: Command,
    shown: Vec<OsString>,
}

impl Git {
    /// `git -C dir`, with an environment that does not leak the caller's repository (wtmux may
    /// be started from a hook, where `GIT_DIR` and friends point elsewhere).
    pub fn new(dir: &Path) -> Git {
        let mut command = Command::new("git");
        command.arg("-C").arg(dir);
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_PREFIX",
        ] {
            command.env_remove(var);
        }
        command
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_EDITOR", "true")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        Git {
            command,
            shown: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Git {
        self.shown.push(arg.as_ref().to_os_string());
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Git {
        self.command.env(key, value);
        self
    }

    fn display(&self) -> String {
        let words: Vec<String> = self
            .shown
            .iter()
            .take(3)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("git {}", words.join(" "))
    }

    /// Runs to completion whatever the exit status.
    pub fn output(mut self) -> Result<Output> {
        let shown = self.display();
        self.command.output().map_err(|e| Error::CommandFailed {
            command: shown,
            detail: e.to_string(),
        })
    }

    /// [`Git::output`], with `input` on its standard input (written while git runs, so a long
    /// answer cannot block it).
    pub fn output_with_input(mut self, input: Vec<u8>) -> Result<Output> {
        let shown = self.display();
        let failed = |e: std::io::Error| Error::CommandFailed {
            command: shown.clone(),
            detail: e.to_string(),
        };
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(failed)?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
        let output = child.wait_with_output().map_err(failed)?;
        // git stopping early (an error it reports) closes the pipe: its exit status says why.
        let _ = writer.join();
        Ok(output)
    }

    /// Runs and returns stdout; a non-zero exit is an error carrying git's own message.
    pub fn run(self) -> Result<String> {
        self.run_bytes()
            .map(|out| String::from_utf8_lossy(&out).into_owned())
    }

    /// [`Git::run`], with stdout as git wrote it (paths need not be UTF-8).
    pub fn run_bytes(self) -> Result<Vec<u8>> {
        let shown = self.display();
        let output = self.output()?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(Error::CommandFailed {
                command: shown,
                detail: failure_detail(&output),
            })
        }
    }
}

/// What git printed, line by line: its standard error, then its output, trimmed, with blank
/// lines and hints left out.
pub fn printed_lines(output: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .map(str::to_string)
        .collect()
}

/// git's complaint in one line: the first `fatal:`/`error:` line, else the last line it printed.
pub fn failure_detail(output: &Output) -> String {
    let lines = printed_lines(output);
    lines
        .iter()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:") || l.starts_with("CONFLICT"))
        .or(lines.last())
        .cloned()
        .unwrap_or_else(|| format!("exit status {}", output.status))
}

/// The branch checked out in `repo`'s worktree, `None` when HEAD is detached.
pub fn head_branch(repo: &Repository) -> Result<Option<String>> {
    let head = match repo.find_reference("HEAD") {
        Ok(head) => head,
        Err(_) => return Ok(None),
    };
    Ok(head
        .symbolic_target()
        .ok()
        .flatten()
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .map(str::to_string))
}

/// The commit HEAD points at; `None` on an unborn branch.
pub fn head_commit(repo: &Repository) -> Option<Oid> {
    repo.head().ok().and_then(|h| h.target())
}

/// Resolves a revision (branch, tag, id) to a commit id.
pub fn resolve_commit(repo: &Repository, rev: &str) -> Result<Oid> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id())
        .map_err(|_| Error::UnknownRevision(rev.to_string()))
}

/// The identity of commits wtmux writes for itself (trash, predictions), never on user branches.
pub fn wtmux_signature() -> Result<git2::Signature<'static>> {
    Ok(git2::Signature::now("wtmux", "wtmux@localhost")?)
}

/// The best common ancestor of two commits; `None` when they share no history (an orphan
/// branch's commits and base's).
pub fn merge_base(repo: &Repository, one: Oid, two: Oid) -> Result<Option<Oid>> {
    match repo.merge_base(one, two) {
        Ok(base) => Ok(Some(base)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Short form of a commit id.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..7].to_string()
}

/// The subjects of commits reachable from `tip` but not from `base`, newest first.
pub fn commits_between(repo: &Repository, base: Oid, tip: Oid) -> Result<Vec<(Oid, String)>> {
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.hide(base)?;
    walk.map(|id| {
        let id = id?;
        let commit = repo.find_commit(id)?;
        Ok((
            id,
            commit.summary().ok().flatten().unwrap_or("").to_string(),
        ))
    })
    .collect()
}

/// What `git merge-tree --write-tree` predicts for merging `theirs` into `ours`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergePrediction {
    Clean { tree: Oid },
    Conflicts { paths: Vec<String> },
}

/// A throwaway object directory layered over the repository's (and over the fingerprint
/// store's, where the trees of uncommitted content are): what `merge-tree` and `commit` write
/// there vanishes with it, so predictions leave the repository as it was.
pub struct ScratchObjects {
    /// Its object directory is where everything is written; made a bare repository (for
    /// libgit2 to write into) only once something is written in this process.
    dir: tempfile::TempDir,
    initialised: std::sync::OnceLock<()>,
    common_dir: std::path::PathBuf,
    alternates: OsString,
}

impl ScratchObjects {
    /// Scratch objects over the repository at `common_dir` and the object directory
    /// `content_objects` (the fingerprint store's).
    pub fn new(common_dir: &Path, content_objects: &Path) -> Result<ScratchObjects> {
        let mut alternates = common_dir.join("objects").into_os_string();
        alternates.push(":");
        alternates.push(content_objects);
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let objects = dir.path().join("objects");
        std::fs::create_dir(&objects).map_err(|e| Error::io(&objects, e))?;
        Ok(ScratchObjects {
            dir,
            initialised: std::sync::OnceLock::new(),
            common_dir: common_dir.to_path_buf(),
            alternates,
        })
    }

    fn objects(&self) -> std::path::PathBuf {
        self.dir.path().join("objects")
    }

    /// The repository with these scratch objects (and the fingerprint store's) readable too.
    pub fn repository(&self) -> Result<Repository> {
        let repo = Repository::open(&self.common_dir)?;
        {
            let odb = repo.odb()?;
            for dir in std::env::split_paths(&self.alternates).skip(1) {
                odb.add_disk_alternate(&dir.to_string_lossy())?;
            }
            odb.add_disk_alternate(&self.objects().to_string_lossy())?;
        }
        Ok(repo)
    }

    /// The scratch repository itself, with the repository's and the fingerprint store's
    /// objects readable: what it writes goes into the scratch objects only.
    fn writable(&self) -> Result<Repository> {
        if self.initialised.get().is_none() {
            // Without git's template (sample hooks): only the objects matter here.
            Repository::init_opts(
                self.dir.path(),
                git2::RepositoryInitOptions::new()
                    .bare(true)
                    .external_template(false),
            )?;
            let _ = self.initialised.set(());
        }
        let repo = Repository::open_bare(self.dir.path())?;
        {
            let odb = repo.odb()?;
            for dir in std::env::split_paths(&self.alternates) {
                odb.add_disk_alternate(&dir.to_string_lossy())?;
            }
        }
        Ok(repo)
    }

    fn git(&self) -> Git {
        Git::new(&self.common_dir)
            .env("GIT_OBJECT_DIRECTORY", self.objects())
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &self.alternates)
    }

    /// `git merge-tree --write-tree` of every pair, in one `git merge-tree --stdin` (git ≥
    /// 2.40): one process for many merges, instead of a process (and a fresh look at the object
    /// store) each. Results keep the pairs' order. A pair of unrelated histories is merged
    /// from an empty tree, not refused: whoever asks about merging into base checks for a merge
    /// base first, as `git merge` refuses unrelated histories.
    pub fn merge_many(&self, pairs: &[(Oid, Oid)]) -> Result<Vec<MergePrediction>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let input: String = pairs.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
        let output = self
            .git()
            .args([
                "merge-tree",
                "--stdin",
                "--write-tree",
                // Two commits without a common ancestor (an orphan branch's) merge as `git merge
                // --allow-unrelated-histories` would, from an empty tree: without it, git stops
                // the whole batch. (A merge into base is asked only where there is a merge base.)
                "--allow-unrelated-histories",
                "--name-only",
                "-z",
                "--no-messages",
            ])
            .output_with_input(input.into_bytes())?;
        let failed = |detail: String| Error::CommandFailed {
            command: "git merge-tree --stdin".into(),
            detail,
        };
        if !output.status.success() {
            return Err(failed(failure_detail(&output)));
        }
        // Per merge: its status (1 clean, 0 conflicted), its tree, the conflicted paths, and
        // an empty field.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut fields = stdout.split('\0');
        let mut predictions = Vec::with_capacity(pairs.len());
        for _ in pairs {
            let (Some(status), Some(tree)) = (fields.next(), fields.next()) else {
                return Err(failed(format!(
                    "{} answers for {} merges",
                    predictions.len(),
                    pairs.len()
                )));
            };
            let mut paths: Vec<String> = fields
                .by_ref()
                .take_while(|f| !f.is_empty())
                .map(str::to_string)
                .collect();
            paths.dedup();
            predictions.push(match status {
                "1" if paths.is_empty() => MergePrediction::Clean {
                    tree: Oid::from_str(tree)?,
                },
                "0" => MergePrediction::Conflicts { paths },
                other => return Err(failed(format!("unexpected merge status {other:?}"))),
            });
        }
        Ok(predictions)
    }

    /// `git merge-tree --write-tree ours theirs` (see [`ScratchObjects::merge_many`]).
    pub fn merge(&self, ours: Oid, theirs: Oid) -> Result<MergePrediction> {
        let mut predictions = self.merge_many(&[(ours, theirs)])?;
        Ok(predictions.pop().expect("one answer per merge"))
    }

    /// A commit of `tree` on `parents`, written here only: a worktree's uncommitted content on
    /// its HEAD, or the next step of a simulated series of merges. Its identity and time are
    /// fixed, so the same tree on the same parents is the same commit, and what is cached per
    /// commit (merge verdicts) stays valid from one look to the next.
    pub fn commit(&self, tree: Oid, parents: &[Oid]) -> Result<Oid> {
        // In this process (no `git commit-tree`): the same bytes git writes for
        // `commit-tree -m` with this identity and time, so the same id.
        let repo = self.writable()?;
        let tree = repo.find_tree(tree)?;
        let parents = parents
            .iter()
            .map(|p| repo.find_commit(*p))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        let wtmux = git2::Signature::new("wtmux", "wtmux@localhost", &git2::Time::new(0, 0))?;
        Ok(repo.commit(
            None,
            &wtmux,
            &wtmux,
            "wtmux: worktree content\n",
            &tree,
            &parents,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// git with no configuration of the machine's and wtmux's identity and time.
    fn as_wtmux(git: Git) -> Git {
        git.env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "wtmux")
            .env("GIT_AUTHOR_EMAIL", "wtmux@localhost")
            .env("GIT_AUTHOR_DATE", "@0 +0000")
            .env("GIT_COMMITTER_NAME", "wtmux")
            .env("GIT_COMMITTER_EMAIL", "wtmux@localhost")
            .env("GIT_COMMITTER_DATE", "@0 +0000")
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        as_wtmux(Git::new(dir))
            .args(args)
            .run()
            .unwrap()
            .trim()
            .to_string()
    }

    /// A scratch commit is the commit `git commit-tree -m` writes with the same identity and
    /// time (so the ids cached by earlier versions, which ran git for it, stay valid), and it
    /// lands in the scratch objects only.
    #[test]
    fn a_scratch_commit_is_gits_commit_tree_and_stays_out_of_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.txt"), "a\n").unwrap();
        git(repo, &["add", "a.txt"]);
        git(repo, &["commit", "-q", "-m", "first"]);
        let head = Oid::from_str(&git(repo, &["rev-parse", "HEAD"])).unwrap();
        let tree = Oid::from_str(&git(repo, &["rev-parse", "HEAD^{tree}"])).unwrap();
        let content = tempfile::tempdir().unwrap();
        let scratch = ScratchObjects::new(&repo.join(".git"), content.path()).unwrap();

        let one_parent = scratch.commit(tree, &[head]).unwrap();
        let merge = scratch.commit(tree, &[head, one_parent]).unwrap();
        let expected = |parents: &[Oid]| {
            let mut args = vec![
                "commit-tree".to_string(),
                "-m".into(),
                "wtmux: worktree content".into(),
                tree.to_string(),
            ];
            for p in parents {
                args.extend(["-p".to_string(), p.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            // Into another throwaway object directory: the repository stays as it was.
            let elsewhere = tempfile::tempdir().unwrap();
            let out = as_wtmux(Git::new(repo))
                .env("GIT_OBJECT_DIRECTORY", elsewhere.path())
                .env(
                    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                    std::env::join_paths([repo.join(".git/objects"), scratch.objects()]).unwrap(),
                )
                .args(&args)
                .run()
                .unwrap();
            Oid::from_str(out.trim()).unwrap()
        };
        assert_eq!(one_parent, expected(&[head]));
        assert_eq!(merge, expected(&[head, one_parent]));
        // Readable through the scratch objects, absent from the repository's own.
        assert!(scratch.repository().unwrap().find_commit(merge).is_ok());
        assert!(
            Repository::open(repo)
                .unwrap()
                .find_commit(one_parent)
                .is_err()
        );
    }
}
