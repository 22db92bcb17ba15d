//! The merge result, built off-line: objects only, with git's own merge (`merge-tree
//! --write-tree`, `ort`) and `commit-tree`. No ref, index or worktree changes here, so building
//! can fail or be interrupted at any point without anything to undo; base and the branch move
//! later, by compare-and-swap.

use std::path::Path;

use git2::{Oid, Repository};

use crate::core::config::MergeStrategy;
use crate::core::error::{Error, Result};
use crate::core::git::{self, Git};

/// What a merge would make of base (and, for a rebase, of the branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// Base's new tip.
    pub base: Oid,
    /// The branch's new tip after a rebase, when it differs from the old one.
    pub branch: Option<Oid>,
}

/// Why the result could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotBuilt {
    Conflicts {
        /// The branch commit that stopped a rebase, with its subject.
        at: Option<(Oid, String)>,
        files: Vec<String>,
    },
}

/// A squash commit's message, from the branch's commit subjects (`commits` newest first): the
/// subject of its one commit, or of its first with how many follow; then the task its agent
/// was given, when there is one; then every commit.
pub fn squash_message(branch: &str, commits: &[(Oid, String)], task: Option<&str>) -> String {
    let subject = match commits {
        [] => format!("Squash-merge branch '{branch}'"),
        [(_, only)] => only.clone(),
        [.., (_, first)] => format!("{first} (+{} more from {branch})", commits.len() - 1),
    };
    let mut message = format!("{subject}\n\n");
    if let Some(task) = task.map(str::trim).filter(|t| !t.is_empty()) {
        message.push_str(&format!("Task: {task}\n\n"));
    }
    message.push_str(&format!("Squash-merge branch '{branch}':\n\n"));
    for (id, subject) in commits.iter().rev() {
        message.push_str(&format!("* {} {subject}\n", git::short(*id)));
    }
    message
}

/// Builds the result of merging `tip` into `base` with `strategy`. `branch` names it in the
/// commit message; `commits` are the branch's commits (newest first) for a squash message.
pub fn build(
    dir: &Path,
    strategy: MergeStrategy,
    branch: &str,
    base: Oid,
    tip: Oid,
    commits: &[(Oid, String)],
    task: Option<&str>,
) -> Result<std::result::Result<Built, NotBuilt>> {
    let repo = Repository::open(dir)?;
    let fast_forward = repo.graph_descendant_of(tip, base)?;
    Ok(match strategy {
        // Like git merge and git rebase: a branch that already contains base is taken as it is.
        MergeStrategy::Merge | MergeStrategy::Rebase if fast_forward => Ok(Built {
            base: tip,
            branch: None,
        }),
        MergeStrategy::Merge => match merge_tree(dir, base, tip, None)? {
            Err(files) => Err(NotBuilt::Conflicts { at: None, files }),
            Ok(tree) => Ok(Built {
                base: commit_tree(
                    dir,
                    tree,
                    &[base, tip],
                    &format!("Merge branch '{branch}'"),
                    None,
                )?,
                branch: None,
            }),
        },
        MergeStrategy::Squash => match merge_tree(dir, base, tip, None)? {
            Err(files) => Err(NotBuilt::Conflicts { at: None, files }),
            Ok(tree) => Ok(Built {
                base: commit_tree(
                    dir,
                    tree,
                    &[base],
                    &squash_message(branch, commits, task),
                    None,
                )?,
                branch: None,
            }),
        },
        MergeStrategy::Rebase => replay(dir, &repo, base, tip)?.map(|new_tip| Built {
            base: new_tip,
            branch: (new_tip != tip).then_some(new_tip),
        }),
    })
}

/// `git rebase base` done off-line: each non-merge commit of the branch, oldest first, is
/// cherry-picked onto the result so far with `merge-tree --merge-base=<its parent>`, keeping
/// its author and message; commits whose change base already has are dropped, as git does.
fn replay(
    dir: &Path,
    repo: &Repository,
    base: Oid,
    tip: Oid,
) -> Result<std::result::Result<Oid, NotBuilt>> {
    let listed = Git::new(dir)
        .args(["rev-list", "--reverse", "--topo-order", "--no-merges"])
        .arg(tip.to_string())
        .arg(format!("^{base}"))
        .run()?;
    let mut current = base;
    for line in listed.lines() {
        let id = Oid::from_str(line.trim())?;
        let commit = repo.find_commit(id)?;
        let parent = commit.parent_id(0)?;
        if parent == current {
            current = id; // nothing to rewrite yet
            continue;
        }
        let tree = match merge_tree(dir, current, id, Some(parent))? {
            Ok(tree) => tree,
            Err(files) => {
                return Ok(Err(NotBuilt::Conflicts {
                    at: Some((
                        id,
                        commit.summary().ok().flatten().unwrap_or("").to_string(),
                    )),
                    files,
                }));
            }
        };
        if tree == repo.find_commit(current)?.tree_id() {
            continue; // already in base
        }
        let author = commit.author();
        current = commit_tree(
            dir,
            tree,
            &[current],
            commit.message().unwrap_or(""),
            Some(&author),
        )?;
    }
    Ok(Ok(current))
}

/// `git merge-tree --write-tree [--merge-base=B] ours theirs`: the tree, or the conflicted
/// files.
fn merge_tree(
    dir: &Path,
    ours: Oid,
    theirs: Oid,
    merge_base: Option<Oid>,
) -> Result<std::result::Result<Oid, Vec<String>>> {
    let mut command = Git::new(dir).args(["merge-tree", "--write-tree", "--name-only", "-z"]);
    if let Some(merge_base) = merge_base {
        command = command.arg(format!("--merge-base={merge_base}"));
    }
    let output = command
        .arg("--no-messages")
        .arg(ours.to_string())
        .arg(theirs.to_string())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut fields = stdout.split('\0');
    let tree = fields.next().unwrap_or("").trim().to_string();
    match output.status.code() {
        Some(0) => Ok(Ok(Oid::from_str(&tree)?)),
        Some(1) => {
            let mut files: Vec<String> = fields
                .take_while(|f| !f.is_empty())
                .map(str::to_string)
                .collect();
            files.dedup();
            Ok(Err(files))
        }
        _ => Err(Error::CommandFailed {
            command: "git merge-tree".into(),
            detail: git::failure_detail(&output),
        }),
    }
}

/// `git commit-tree`: the user's identity (from git's configuration and environment) commits;
/// `author`, when given, keeps a rebased commit's author and date.
fn commit_tree(
    dir: &Path,
    tree: Oid,
    parents: &[Oid],
    message: &str,
    author: Option<&git2::Signature>,
) -> Result<Oid> {
    let mut command = Git::new(dir).arg("commit-tree").arg(tree.to_string());
    for parent in parents {
        command = command.arg("-p").arg(parent.to_string());
    }
    if let Some(author) = author {
        command = command
            .env("GIT_AUTHOR_NAME", author.name().unwrap_or(""))
            .env("GIT_AUTHOR_EMAIL", author.email().unwrap_or(""))
            .env(
                "GIT_AUTHOR_DATE",
                format!(
                    "@{} {}",
                    author.when().seconds(),
                    offset(author.when().offset_minutes())
                ),
            );
    }
    let id = command.args(["-m", message]).run()?;
    Ok(Oid::from_str(id.trim())?)
}

/// A UTC offset in minutes as git writes it: `+0130`.
fn offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let minutes = minutes.abs();
    format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_squash_message_comes_from_the_subjects() {
        let id = |n: u8| Oid::from_bytes(&[n; 20]).unwrap();
        let one = squash_message("feat", &[(id(1), "Add login".into())], None);
        assert!(
            one.starts_with("Add login\n\nSquash-merge branch 'feat':\n\n* "),
            "{one}"
        );
        let two = squash_message(
            "feat",
            &[(id(2), "Fix typo".into()), (id(1), "Add login".into())],
            Some("Add a login form\nwith validation "),
        );
        assert!(
            two.starts_with(
                "Add login (+1 more from feat)\n\nTask: Add a login form\nwith validation\n\nSquash-merge"
            ),
            "{two}"
        );
        assert!(two.ends_with("Add login\n* 0202020 Fix typo\n"), "{two}");
    }
}
