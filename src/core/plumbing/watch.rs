//! inotify on directories, for changes only. The `notify` crate asks for open events too
//! (`IN_OPEN`), so every file a reader opens — `git status`, wtmux's own listing — woke every
//! watcher of its directory; these watches ask only for what changes content or names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

/// What happened to one entry of a watched directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Created, or moved in.
    Created,
    /// Deleted, or moved out.
    Removed,
    /// Written, or its attributes changed.
    Written,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub kind: Kind,
    pub is_dir: bool,
}

/// What the watcher delivers: changes, or the news that some were lost (the kernel's queue
/// overflowed), after which nothing may be assumed unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    Changes(Vec<Change>),
    Lost,
}

/// `WTMUX_TEST_MAX_WATCHES=<n>`: a watcher refuses watches beyond `n` as the system does at
/// its limit, so tests reach the limit without lowering it for every user of the machine.
pub const TEST_MAX_WATCHES: &str = "WTMUX_TEST_MAX_WATCHES";

fn test_limit() -> Option<usize> {
    std::env::var(TEST_MAX_WATCHES).ok()?.parse().ok()
}

/// Watches directories (not recursively) and hands what changed in them, batch by batch, to a
/// callback on its own thread.
pub struct DirWatcher {
    watches: Mutex<Watches>,
    dirs: Arc<Mutex<HashMap<WatchDescriptor, PathBuf>>>,
    by_path: Mutex<HashMap<PathBuf, WatchDescriptor>>,
}

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::ATTRIB
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

impl DirWatcher {
    pub fn new(mut deliver: impl FnMut(Batch) -> bool + Send + 'static) -> std::io::Result<Self> {
        let mut inotify = Inotify::init()?;
        let watches = inotify.watches();
        let dirs: Arc<Mutex<HashMap<WatchDescriptor, PathBuf>>> = Arc::default();
        let names = dirs.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let Ok(events) = inotify.read_events_blocking(&mut buffer) else {
                    return;
                };
                let mut changes = Vec::new();
                let mut lost = false;
                {
                    let names = names.lock().unwrap_or_else(|e| e.into_inner());
                    for event in events {
                        if event.mask.contains(EventMask::Q_OVERFLOW) {
                            lost = true;
                            continue;
                        }
                        let Some(dir) = names.get(&event.wd) else {
                            continue;
                        };
                        let path = match event.name {
                            Some(name) => dir.join(name),
                            None => dir.clone(),
                        };
                        let kind = if event
                            .mask
                            .intersects(EventMask::CREATE | EventMask::MOVED_TO)
                        {
                            Kind::Created
                        } else if event.mask.intersects(
                            EventMask::DELETE
                                | EventMask::MOVED_FROM
                                | EventMask::DELETE_SELF
                                | EventMask::MOVE_SELF,
                        ) {
                            Kind::Removed
                        } else {
                            Kind::Written
                        };
                        changes.push(Change {
                            path,
                            kind,
                            is_dir: event.mask.contains(EventMask::ISDIR),
                        });
                    }
                }
                if lost && !deliver(Batch::Lost) {
                    return;
                }
                if !changes.is_empty() && !deliver(Batch::Changes(changes)) {
                    return;
                }
            }
        });
        Ok(DirWatcher {
            watches: Mutex::new(watches),
            dirs,
            by_path: Mutex::default(),
        })
    }

    /// Watches `dir`; an error when the system refuses (no such directory, or the limit on
    /// watches, `fs.inotify.max_user_watches`, is reached).
    pub fn watch(&self, dir: &Path) -> std::io::Result<()> {
        if let Some(limit) = test_limit()
            && self.by_path.lock().unwrap_or_else(|e| e.into_inner()).len() >= limit
        {
            // What inotify says when `fs.inotify.max_user_watches` is reached.
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        let wd = self
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(dir, mask())?;
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(wd.clone(), dir.to_path_buf());
        self.by_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_path_buf(), wd);
        Ok(())
    }

    pub fn unwatch(&self, dir: &Path) {
        let wd = self
            .by_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(dir);
        if let Some(wd) = wd {
            let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
            // An inode has one watch per inotify: a directory moved and watched again at its new
            // path got the same descriptor back, and that watch stays.
            if dirs.get(&wd).is_some_and(|now| now != dir) {
                return;
            }
            dirs.remove(&wd);
            drop(dirs);
            let _ = self
                .watches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(wd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_file_is_no_change_and_writing_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = DirWatcher::new(move |batch| tx.send(batch).is_ok()).unwrap();
        watcher.watch(dir.path()).unwrap();
        let _ = std::fs::read(&file).unwrap();
        std::fs::write(dir.path().join("g"), "y").unwrap();
        // Events come in order: the first batch holding anything is about g.
        let batch = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        let Batch::Changes(changes) = batch else {
            panic!("lost events")
        };
        assert!(
            changes.iter().all(|c| c.path == dir.path().join("g")),
            "{changes:?}"
        );
        assert_eq!(changes[0].kind, Kind::Created);
    }
}
