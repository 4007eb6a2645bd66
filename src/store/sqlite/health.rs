//! How the SQLite store knows it can still write, and the checkpoint thread that keeps the
//! WAL bounded.
//!
//! Health: the database file must still be the one opened (a removed or replaced file would
//! swallow every later commit into an inode nobody will open again), the writer thread must
//! run, and its last commit must have worked. The writer checks the file before each batch,
//! so within one batch of the file going away webhooks answer 503 instead of 202.
//!
//! Checkpoints run on a thread of their own, never inside the writer's commit: a passive
//! one every `CHECKPOINT_EVERY` (it never blocks the writer); a restarting one when the WAL
//! has grown past `WAL_RESTART_BYTES` (it waits for readers and briefly holds the writer,
//! which is what lets the WAL be reused from its start); and a truncating one once the
//! writer has been idle for `IDLE_BEFORE_TRUNCATE`, which gives the disk back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use crate::event::now_millis;

/// How often the checkpoint thread looks at the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A WAL larger than this gets a restarting checkpoint.
pub(super) const WAL_RESTART_BYTES: u64 = 64 * 1024 * 1024;
/// After a checkpoint resets the WAL, the writer truncates the file to this size.
pub(super) const WAL_KEEP_BYTES: u64 = 16 * 1024 * 1024;
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
    last_commit_error: Mutex<Option<String>>,
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

    pub(super) fn committed(&self, result: &Result<(), String>, changed: bool) {
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

/// The checkpoint thread's loop, until the store closes.
pub(super) fn checkpoints(conn: Connection, health: &WriterHealth) {
    // A restarting or truncating checkpoint holds new writers off while it waits for
    // readers: give up after a moment rather than stall ingest (it is tried again soon).
    if let Err(e) = conn.busy_timeout(Duration::from_millis(100)) {
        tracing::warn!("could not configure the checkpoint connection: {e}");
    }
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
        } else if size > WAL_RESTART_BYTES {
            "RESTART"
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
