//! Moving a directory into or out of the trash: one rename, or a copy across file systems that
//! a crash can finish; the lock that keeps `git worktree prune` off an admin dir while its
//! worktree is away; deleting a tree that holds read-only directories.

use std::path::{Path, PathBuf};

use crate::core::error::{Error, Result};

/// Moves `from` to `to`: one rename, or — across file systems — a copy that keeps links,
/// modes and times, made under `<to>.partial` and renamed to `to` once whole, then the
/// original's removal. So `to` exists only complete: where both exist after a crash, the copy
/// was done and only removing the original is left ([`finish_move`]).
pub(super) fn move_dir(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            use std::os::unix::process::CommandExt;
            let partial = partial_of(to);
            let _ = remove_tree(&partial);
            let mut cp = std::process::Command::new("cp");
            cp.arg("-a").arg("--").arg(from).arg(&partial);
            // SAFETY: prctl(2) in the child before exec, with plain integers: the copy dies
            // with wtmux instead of going on unseen after a kill.
            unsafe {
                cp.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            // cp's own complaints go into the one-line error, not onto the terminal.
            let copied = cp
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
                .map_err(|e| Error::io(to, e))?;
            if !copied.status.success() {
                let _ = remove_tree(&partial);
                let stderr = String::from_utf8_lossy(&copied.stderr);
                let why = stderr
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("cp: ");
                return Err(Error::CommandFailed {
                    command: "cp -a".into(),
                    detail: format!(
                        "copying {} to {} failed: {why}",
                        from.display(),
                        to.display()
                    ),
                });
            }
            std::fs::rename(&partial, to).map_err(|e| Error::io(to, e))?;
            // The copy is whole. The source first goes out of the way in one rename on its own
            // filesystem: deleting it can fail half way (a file marked immutable, a busy
            // mount), and must then neither leave half a worktree at its path nor make the
            // caller undo a complete copy. What cannot be deleted stays, under a hidden name.
            let leftover = leftover_of(from);
            std::fs::rename(from, &leftover).map_err(|e| Error::io(from, e))?;
            let _ = remove_tree(&leftover);
            Ok(())
        }
        Err(e) => Err(Error::io(from, e)),
    }
}

/// Where the source of a copied move waits to be deleted, beside where it was.
fn leftover_of(from: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(crate::core::worktree::LEFTOVER_PREFIX);
    name.push(from.file_name().unwrap_or_default());
    (1..)
        .map(|n| {
            let mut numbered = name.clone();
            numbered.push(format!(".{n}"));
            from.with_file_name(numbered)
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("some name is free")
}

fn partial_of(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

/// After a crash: finishes a move from `from` to `to` that got as far as a whole copy (both
/// exist), and drops a partial copy; returns whether `to` holds the whole directory.
pub(super) fn finish_move(from: &Path, to: &Path) -> Result<bool> {
    let _ = remove_tree(&partial_of(to));
    if to.exists() && from.exists() {
        remove_tree(from)?;
    }
    Ok(to.exists())
}

/// A worktree being moved is locked (`git worktree prune` leaves a locked worktree's admin dir
/// alone even while its directory is away); the lock is wtmux's own, and goes when it comes back.
const MOVING_LOCK: &str = "wtmux: being moved to or from the trash";

pub(super) fn lock_admin(admin_dir: &Path) -> Result<()> {
    let locked = admin_dir.join("locked");
    std::fs::write(&locked, MOVING_LOCK).map_err(|e| Error::io(&locked, e))
}

pub(super) fn unlock_admin(admin_dir: &Path) {
    let locked = admin_dir.join("locked");
    if std::fs::read_to_string(&locked).is_ok_and(|t| t == MOVING_LOCK) {
        let _ = std::fs::remove_file(locked);
    }
}

/// Deletes a directory tree, making read-only directories writable first (build tools and
/// module caches leave them).
pub fn remove_tree(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return Ok(());
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
    std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))
}
