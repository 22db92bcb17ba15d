//! Following a run as it goes (`check --wait`), and the log worth showing.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{Outcome, Phase, Refused, RunRecord, is_active, run_record_path};
use crate::core::Project;
use crate::core::error::Result;
use crate::core::state::{copy_tail, read_json, worktree_key};
use crate::core::worktree::Worktree;

/// Follows the run of a worktree, writing each check's output to `sink` as it appears, until it
/// ends; returns its outcome.
pub fn follow(project: &Project, worktree: &Worktree, sink: &mut dyn Write) -> Result<Outcome> {
    let key = worktree_key(&worktree.path);
    let record_path = run_record_path(project, &key)?;
    let mut shown: Vec<(PathBuf, u64)> = Vec::new();
    loop {
        let record: Option<RunRecord> = read_json(&record_path);
        let Some(record) = record else {
            return Err(Refused::NoRunRecorded.into());
        };
        let finished = record.phase == Phase::Finished;
        let logs = project.state.root().join("logs").join(&record.run_id);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let offset = match shown.iter_mut().find(|(p, _)| *p == file) {
                Some((_, offset)) => offset,
                None => {
                    let name = file
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let name = name.split_once('-').map(|(_, n)| n).unwrap_or(&name);
                    let _ = writeln!(sink, "── {name} ──");
                    shown.push((file.clone(), 0));
                    &mut shown.last_mut().expect("just pushed").1
                }
            };
            *offset += copy_tail(&file, *offset, sink)?;
        }
        let _ = sink.flush();
        if finished {
            return record
                .outcome
                .ok_or_else(|| Refused::EndedWithoutResult.into());
        }
        // The runner records its end, then lets go of its lock: a run found without its lock
        // may have finished since its record was read (the next round shows its result).
        if !is_active(project, &key, &record)?
            && read_json::<RunRecord>(&record_path).is_some_and(|r| r.phase != Phase::Finished)
        {
            return Err(Refused::StoppedWithoutResult.into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The log worth showing for a worktree: the running check's, else the last run's failed
/// check's, else its last check's.
pub fn current_log(project: &Project, worktree: &Worktree) -> Result<Option<PathBuf>> {
    let key = worktree_key(&worktree.path);
    let Some(record) = read_json::<RunRecord>(&run_record_path(project, &key)?) else {
        return Ok(None);
    };
    if record.current_log.is_some() {
        return Ok(record.current_log);
    }
    Ok(record
        .outcome
        .and_then(|o| o.log.or_else(|| o.steps.last().map(|s| s.log.clone()))))
}
