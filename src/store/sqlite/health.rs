//! How the SQLite store knows it can still write, and the checkpoint thread that keeps the
//! WAL bounded.
//!
//! Health: the database file must still be the one opened (a removed or replaced file would
//! swallow every later commit into an inode nobody will open again), the writer thread must
//! run, and its last commit must have worked. The writer checks the file before each batch,
//! so within one batch of the file going away webhooks answer 503 instead of 202.
//!
//! Checkpoints never run inside the writer's commit. A thread of their own runs a passive
//! one every `CHECKPOINT_EVERY` (it never blocks the writer: it copies the WAL's pages back
//! into the database file) and a truncating one once the writer has been idle for
//! `IDLE_BEFORE_TRUNCATE`, which gives the disk back. A busy writer would starve any
//! checkpoint that needs its lock, so when the WAL has grown past `WAL_RESTART_BYTES` the
//! writer itself, between two batches, runs a restarting one (`restart_if_large`), which
//! lets the next commit write the WAL from its start. It costs the callers that arrive
//! meanwhile tens of milliseconds (the checkpoint's copy and fsync), so it runs when no job
//! is waiting, or past `WAL_MUST_RESTART_BYTES` in any case.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use super::write::CommitFailed;
use crate::domain::event::now_millis;

/// How often the checkpoint thread looks at the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A WAL larger than this gets a restarting checkpoint.
pub(super) const WAL_RESTART_BYTES: u64 = 128 * 1024 * 1024;
/// Past this, the writer restarts the WAL even with callers waiting.
pub(super) const WAL_MUST_RESTART_BYTES: u64 = 320 * 1024 * 1024;
/// After a checkpoint resets the WAL, the writer truncates the file to this size.
pub(super) const WAL_KEEP_BYTES: u64 = WAL_RESTART_BYTES;
/// How long a checkpoint that needs readers gone waits for them before it gives up (it is
/// tried again soon); writers wait meanwhile.
const READERS_WAIT: Duration = Duration::from_millis(20);
/// How long the writer's connection waits on a lock otherwise.
const WRITER_BUSY: Duration = Duration::from_secs(5);
/// The writer idle this long: truncate the WAL to nothing.
const IDLE_BEFORE_TRUNCATE: i64 = 1_000;

/// Which file a path names: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    pub(super) fn of(path: &Path) -> std::io::Result<FileIdentity> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Ok(FileIdentity {
                dev: meta.dev(),
                ino: meta.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            Ok(FileIdentity { dev: 0, ino: 0 })
        }
    }
}

/// Shared by the writer, the checkpoint thread and `ping`.
pub(super) struct WriterHealth {
    path: PathBuf,
    identity: Option<FileIdentity>,
    writer_running: AtomicBool,
    /// Why the last commit failed; cleared by the next one that works.
    last_commit_error: Mutex<Option<CommitFailed>>,
    /// Unix ms of the writer's last batch that changed something (empty claims write
    /// nothing to the WAL and do not count).
    last_active: AtomicI64,
    stop: AtomicBool,
}

impl WriterHealth {
    pub(super) fn new(path: PathBuf, identity: FileIdentity) -> WriterHealth {
        WriterHealth {
            path,
            identity: Some(identity),
            writer_running: AtomicBool::new(true),
            last_commit_error: Mutex::new(None),
            last_active: AtomicI64::new(now_millis()),
            stop: AtomicBool::new(false),
        }
    }

    /// A store opened read-only: it never writes.
    pub(super) fn stopped(path: PathBuf) -> WriterHealth {
        WriterHealth {
            path,
            identity: None,
            writer_running: AtomicBool::new(false),
            last_commit_error: Mutex::new(None),
            last_active: AtomicI64::new(0),
            stop: AtomicBool::new(true),
        }
    }

    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Why the database file is not the one opened, if it is not.
    pub(super) fn file_problem(&self) -> Option<String> {
        let expected = self.identity?;
        match FileIdentity::of(&self.path) {
            Ok(found) if found == expected => None,
            Ok(_) => Some(format!(
                "the database file {} was replaced while the store had it open",
                self.path.display()
            )),
            Err(_) => Some(format!(
                "the database file {} was removed while the store had it open",
                self.path.display()
            )),
        }
    }

    /// Why the store cannot write now, if it cannot.
    pub(super) fn problem(&self) -> Option<String> {
        if !self.writer_running.load(Ordering::SeqCst) {
            return Some("the store's writer thread has stopped".into());
        }
        if let Some(problem) = self.file_problem() {
            return Some(problem);
        }
        self.last_commit_error
            .lock()
            .expect("commit error")
            .as_ref()
            .map(|e| format!("the last write failed: {e}"))
    }

    pub(super) fn committed(&self, result: &Result<(), CommitFailed>, changed: bool) {
        *self.last_commit_error.lock().expect("commit error") = result.as_ref().err().cloned();
        if changed {
            self.last_active.store(now_millis(), Ordering::SeqCst);
        }
    }

    pub(super) fn writer_stopped(&self) {
        self.writer_running.store(false, Ordering::SeqCst);
    }
}

fn wal_bytes(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len())
}

/// On the writer thread, between batches: a restarting checkpoint when the WAL has grown
/// past `WAL_RESTART_BYTES` and no job is waiting, or past `WAL_MUST_RESTART_BYTES` in any
/// case (at most one restart per 250 ms).
pub(super) fn restart_if_large(
    conn: &Connection,
    health: &WriterHealth,
    last_try: &mut i64,
    nobody_waiting: bool,
) {
    let now = now_millis();
    if now - *last_try < 250 {
        return;
    }
    // The size is looked at after every batch (one stat, about a microsecond): a restart
    // waits for a moment when no job is waiting, and checking only every 250 ms missed
    // most such moments (the WAL then peaked at 368 MiB instead of about 180).
    let size = wal_bytes(&health.path);
    if size <= WAL_RESTART_BYTES || (!nobody_waiting && size <= WAL_MUST_RESTART_BYTES) {
        return;
    }
    *last_try = now;
    let _ = conn.busy_timeout(READERS_WAIT);
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
        row.get::<_, i64>(0)
    }) {
        tracing::warn!("SQLite RESTART checkpoint failed: {e}");
    }
    let _ = conn.busy_timeout(WRITER_BUSY);
}

/// The checkpoint thread's loop, until the store closes.
pub(super) fn checkpoints(conn: Connection, health: &WriterHealth) {
    let _ = conn.busy_timeout(READERS_WAIT);
    while !health.stop.load(Ordering::SeqCst) {
        std::thread::sleep(CHECKPOINT_EVERY);
        if health.file_problem().is_some() {
            continue;
        }
        let size = wal_bytes(&health.path);
        let idle = now_millis() - health.last_active.load(Ordering::SeqCst);
        let mode = if size == 0 {
            continue;
        } else if idle >= IDLE_BEFORE_TRUNCATE {
            "TRUNCATE"
        } else {
            "PASSIVE"
        };
        if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(0)
        }) {
            tracing::warn!("SQLite {mode} checkpoint failed: {e}");
        }
    }
}
