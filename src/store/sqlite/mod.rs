//! The embedded SQLite store. One writer thread owns the write connection and commits in
//! groups: every job waiting when a transaction starts shares it, so a burst of webhooks
//! pays for one commit, not one each, and each caller is answered only after the commit.
//! Reads use their own pooled connections (WAL lets them run beside the writer).
//! `write.rs` holds what the writer does, `read.rs` the queries, `health.rs` how the store
//! knows it can still write (the file is still ours, the writer runs, the last commit
//! worked) and keeps the WAL bounded.

mod health;
mod read;
mod write;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use health::{FileIdentity, WriterHealth};

use anyhow::Context as _;
use rusqlite::Connection;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{
    AttemptOutcome, Backend, BulkRedrive, ClaimedDelivery, DeadLetterId, DeadLetterPage,
    DeadLetterQuery, DecidedEvent, DecidedWindow, Decision, DecisionError, EventFilter, EventId,
    EventPage, EventTrace, Inserted, PendingEvent, ProviderCounts, Redrive, Selection,
    ShadowSummary, StoreError,
};
use crate::config::Synchronous;
use crate::domain::event::Event;

mod embedded {
    refinery::embed_migrations!("src/store/migrations/sqlite");
}

/// Read connections kept open between reads; more may open under a burst of admin reads,
/// and are closed when returned.
const MAX_IDLE_READERS: usize = 4;
/// Reads at once (admin pages, backtests); more wait for a turn instead of opening more
/// connections, so a burst of reads cannot grow the process's files and memory.
const MAX_READERS: usize = 8;

/// Where a job's caller waits, and what the job produced until its batch commits (a batch
/// that runs again replaces it).
struct Reply<T> {
    sender: oneshot::Sender<Result<T, StoreError>>,
    result: Option<anyhow::Result<T>>,
}

/// The writer's jobs: everything that changes the database.
/// One event to insert, with what the writer needs derived on the caller's thread.
struct InsertRow {
    event: Event,
    json: String,
    user_key: Option<String>,
    order_key: String,
    phone: Option<String>,
    /// The words it is found by (`store::search_words`).
    words: String,
}

impl InsertRow {
    fn new(event: Event) -> Result<InsertRow, StoreError> {
        let json = serde_json::to_string(&event).context("Failed to serialise the event")?;
        Ok(InsertRow {
            user_key: event.user_key(),
            order_key: event.order_key(),
            phone: event.phone_digits(),
            words: super::search_words(&event),
            json,
            event,
        })
    }
}

enum Job {
    Insert {
        event: Box<Event>,
        json: String,
        /// Derived on the caller's thread: the writer thread is the one to spare.
        user_key: Option<String>,
        order_key: String,
        phone: Option<String>,
        /// The words it is found by (`store::search_words`).
        words: String,
        reply: Reply<Inserted>,
    },
    /// The events of one request (a WhatsApp batch): all stored or none, in one savepoint.
    InsertMany {
        rows: Vec<InsertRow>,
        reply: Reply<Vec<Inserted>>,
    },
    Unreadable {
        seq: i64,
        reply: Reply<()>,
    },
    Decide {
        decision: Decision,
        reply: Reply<()>,
    },
    /// Decisions in acceptance order, each in its own savepoint; a key whose decision
    /// failed has its later decisions skipped (they stay waiting, still in order).
    DecideMany {
        decisions: Vec<Decision>,
        reply: Reply<Vec<Result<(), DecisionError>>>,
    },
    Claim {
        provider: String,
        limit: usize,
        lease_ms: i64,
        reply: Reply<Vec<ClaimedDelivery>>,
    },
    Finish {
        outcome: AttemptOutcome,
        reply: Reply<()>,
    },
    Identity {
        provider: String,
        phone: String,
        user_ns: Option<String>,
        reply: Reply<()>,
    },
    Redrive {
        id: DeadLetterId,
        reply: Reply<Redrive>,
    },
    Purge {
        before: i64,
        reply: Reply<usize>,
    },
    RedriveMany {
        selection: Selection,
        reply: Reply<BulkRedrive>,
    },
    DiscardMany {
        selection: Selection,
        reply: Reply<usize>,
    },
    Pause {
        provider: String,
        paused: bool,
        reply: Reply<()>,
    },
}

pub struct SqliteStore {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// A read's turn (`MAX_READERS` at once).
    read_turns: tokio::sync::Semaphore,
    /// Held until `close`: one `serve` per SQLite file. `None` when read-only.
    lock: Mutex<Option<File>>,
    /// What the writer and the checkpoint thread know of the store's health.
    health: Arc<WriterHealth>,
}

impl SqliteStore {
    /// Open (or create) the database, take the process lock, apply the schema, return
    /// in-flight deliveries left by a crash to `pending`, and start the writer.
    ///
    /// # Errors
    /// `Locked` naming the pid that holds the file; `Unexpected` for I/O and SQLite errors.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create the folder {}", dir.display()))?;
        }
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lost = !path.exists() && lock_was_used(&lock_path);
        let lock = take_lock(path)?;
        if lost {
            tracing::warn!(
                "no database at {} although a Switchboard store was used here before (its lock \
                 file exists): starting with an empty store. If the file was removed by mistake, \
                 stop now and restore it",
                path.display()
            );
        }
        let mut conn = connect(path, synchronous)?;
        embedded::migrations::runner()
            .run(&mut conn)
            .map_err(|e| anyhow::anyhow!("Failed to migrate the database schema: {e}"))?;
        conn.execute(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE status = 'in_flight'",
            [],
        )
        .context("Failed to release in-flight deliveries")?;
        // Checkpoints copy the WAL back into the database file. Left automatic, SQLite runs
        // them inside a commit, on the writer thread, and every webhook waiting for that
        // commit waits for the checkpoint's fsync too. A thread of their own runs them
        // instead (`health::checkpoints`); after a checkpoint resets the WAL, the writer
        // truncates it to `journal_size_limit`.
        // The writer's page cache: 8 MiB. Every commit walks the cache's page table (SQLite
        // drops pages past the file's end), so a large cache costs each commit: 64 MiB made
        // the writer a third slower in `examples/store_cycle.rs`, while pages not cached are
        // read from the operating system's file cache.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {}; PRAGMA cache_size = -8192;",
            health::WAL_KEEP_BYTES
        ))
        .context("Failed to configure checkpoints")?;
        let identity = FileIdentity::of(path).context("Failed to read the database file")?;
        let health = Arc::new(WriterHealth::new(path.to_path_buf(), identity));
        let checkpointer = connect(path, synchronous)?;
        let checkpoint_health = health.clone();
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || health::checkpoints(checkpointer, &checkpoint_health))
            .context("Failed to start the checkpoint thread")?;
        let (sender, receiver) = mpsc::channel();
        let writer_health = health.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write::writer_loop(conn, receiver, &writer_health))
            .context("Failed to start the store writer thread")?;
        Ok(SqliteStore {
            jobs: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            read_turns: tokio::sync::Semaphore::new(MAX_READERS),
            lock: Mutex::new(Some(lock)),
            health,
        })
    }

    /// Open an existing database for reading only, beside a running `serve`
    /// (`switchboard fixture`). Writes answer `Unavailable`.
    ///
    /// # Errors
    /// When the file does not exist or is not a Switchboard database.
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "no database at {}",
                path.display()
            )));
        }
        let conn = connect(path, Synchronous::Normal)?;
        conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .with_context(|| format!("{} is not a Switchboard database", path.display()))?;
        Ok(SqliteStore {
            jobs: Mutex::new(None),
            writer: Mutex::new(None),
            closed: AtomicBool::new(true),
            path: path.to_path_buf(),
            readers: Mutex::new(vec![conn]),
            read_turns: tokio::sync::Semaphore::new(MAX_READERS),
            lock: Mutex::new(None),
            health: Arc::new(WriterHealth::stopped(path.to_path_buf())),
        })
    }

    async fn submit<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (sender, answer) = oneshot::channel();
        let reply = Reply {
            sender,
            result: None,
        };
        {
            let jobs = self.jobs.lock().expect("jobs sender");
            let sender = jobs
                .as_ref()
                .ok_or_else(|| StoreError::Unavailable("the store is shut down".into()))?;
            sender
                .send(make(reply))
                .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?;
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?
    }

    /// Mark an accepted event that cannot be read back `failed` (`unreadable`).
    pub async fn mark_unreadable(&self, seq: i64) -> Result<(), StoreError> {
        self.submit(|reply| Job::Unreadable { seq, reply }).await
    }

    /// Run a read on a pooled read connection, off the async workers.
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _turn = self
            .read_turns
            .acquire()
            .await
            .map_err(|e| StoreError::Unavailable(format!("the store is closing: {e}")))?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_now(f))
            .await
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("read task failed: {e}")))?
    }

    /// Run a read on the calling thread (which may block).
    pub fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = match self.readers.lock().expect("reader pool").pop() {
            Some(conn) => conn,
            None => connect(&self.path, Synchronous::Normal)?,
        };
        let result = f(&conn);
        let mut idle = self.readers.lock().expect("reader pool");
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        drop(idle);
        result.map_err(StoreError::from)
    }

    /// The oldest events whose rules have not run, in acceptance order. One that cannot be
    /// read back is marked `failed` (`unreadable`) and left out.
    pub async fn pending_events(
        self: &Arc<Self>,
        limit: usize,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let (pending, unreadable) = self
            .read(move |conn| read::pending_events(conn, limit))
            .await?;
        for (seq, event_id, error) in unreadable {
            tracing::error!(%event_id, "a stored event cannot be read back; marked failed (unreadable): {error}");
            self.mark_unreadable(seq).await?;
        }
        Ok(pending)
    }
}

impl Backend for SqliteStore {
    async fn claim_events(
        self: &Arc<Self>,
        limit: usize,
        _lease_ms: i64,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        // One process owns the file: no leases, just the oldest waiting events.
        self.pending_events(limit).await
    }

    /// Rate limits are kept in the one process that owns the file.
    async fn rate_slot(
        self: &Arc<Self>,
        _key: &str,
        _period_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    async fn pause_rate(self: &Arc<Self>, _key: &str, _until: i64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn share_rate(self: &Arc<Self>, _key: &str, _period_ms: i64) -> Result<(), StoreError> {
        Ok(())
    }

    /// Stop taking writes: jobs already queued are committed, later ones answer
    /// `Unavailable`.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.health.stop();
        self.jobs.lock().expect("jobs sender").take();
        if let Some(handle) = self.writer.lock().expect("writer handle").take() {
            let _ = handle.join();
        }
        // Nothing writes any more: another process may take the file.
        self.lock.lock().expect("lock file").take();
    }

    fn is_available(&self) -> bool {
        !self.closed.load(Ordering::SeqCst)
    }

    /// Why the store cannot take writes now, if it cannot: the database file was removed or
    /// replaced, the writer stopped, or its last commit failed (disk full, I/O error).
    fn write_problem(&self) -> Option<String> {
        if !self.is_available() {
            return Some("the store is shut down".into());
        }
        self.health.problem()
    }

    /// Store an accepted event, or find the first one with the same (source, event.id).
    ///
    /// # Errors
    /// `Unavailable` when the event could not be committed.
    async fn insert_event(self: &Arc<Self>, event: Event) -> Result<Inserted, StoreError> {
        let json = serde_json::to_string(&event).context("Failed to serialise the event")?;
        let (user_key, order_key, phone) =
            (event.user_key(), event.order_key(), event.phone_digits());
        let words = super::search_words(&event);
        self.submit(|reply| Job::Insert {
            event: Box::new(event),
            json,
            user_key,
            order_key,
            phone,
            words,
            reply,
        })
        .await
    }

    /// Store the events of one request in one transaction (each, or the first one with the
    /// same (source, event.id), in order).
    async fn insert_events(
        self: &Arc<Self>,
        events: Vec<Event>,
    ) -> Result<Vec<Inserted>, StoreError> {
        let rows = events
            .into_iter()
            .map(InsertRow::new)
            .collect::<Result<Vec<_>, _>>()?;
        self.submit(|reply| Job::InsertMany { rows, reply }).await
    }

    /// Store what the rules decided for an event, its deliveries and memory writes, in one
    /// transaction.
    async fn decide(self: &Arc<Self>, decision: Decision) -> Result<(), StoreError> {
        self.submit(|reply| Job::Decide { decision, reply }).await
    }

    /// Store many decisions (acceptance order) in one job; one result per decision.
    async fn decide_many(
        self: &Arc<Self>,
        decisions: Vec<Decision>,
    ) -> Result<Vec<Result<(), DecisionError>>, StoreError> {
        self.submit(|reply| Job::DecideMany { decisions, reply })
            .await
    }

    /// Claim up to `limit` due deliveries of one provider whose key has nothing earlier open.
    async fn claim_deliveries(
        self: &Arc<Self>,
        provider: &str,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let provider = provider.to_string();
        self.submit(|reply| Job::Claim {
            provider,
            limit,
            lease_ms,
            reply,
        })
        .await
    }

    /// Record an attempt and what follows it.
    async fn finish_attempt(self: &Arc<Self>, outcome: AttemptOutcome) -> Result<(), StoreError> {
        self.submit(|reply| Job::Finish { outcome, reply }).await
    }

    /// Remember (`Some`) or forget (`None`) the UChat subscriber of a phone.
    async fn set_identity(
        self: &Arc<Self>,
        provider: &str,
        phone: &str,
        user_ns: Option<String>,
    ) -> Result<(), StoreError> {
        let (provider, phone) = (provider.to_string(), phone.to_string());
        self.submit(|reply| Job::Identity {
            provider,
            phone,
            user_ns,
            reply,
        })
        .await
    }

    /// Send a dead letter's delivery again, from its first attempt, out of order.
    async fn redrive(self: &Arc<Self>, id: DeadLetterId) -> Result<Redrive, StoreError> {
        self.submit(|reply| Job::Redrive { id, reply }).await
    }

    /// Delete finished events (and their rule runs, deliveries and attempts) that finished
    /// before `before` (unix ms). Dead letters and unfinished work are kept.
    async fn purge_finished(self: &Arc<Self>, before: i64) -> Result<usize, StoreError> {
        self.submit(|reply| Job::Purge { before, reply }).await
    }

    async fn set_paused(self: &Arc<Self>, provider: &str, paused: bool) -> Result<(), StoreError> {
        let provider = provider.to_string();
        self.submit(|reply| Job::Pause {
            provider,
            paused,
            reply,
        })
        .await
    }

    async fn paused_providers(self: &Arc<Self>) -> Result<Vec<String>, StoreError> {
        self.read(read::paused_providers).await
    }

    async fn provider_counts(self: &Arc<Self>) -> Result<ProviderCounts, StoreError> {
        self.read(read::provider_counts).await
    }

    /// The remembered UChat subscriber of a phone.
    async fn identity(
        self: &Arc<Self>,
        provider: &str,
        phone: &str,
    ) -> Result<Option<String>, StoreError> {
        let (provider, phone) = (provider.to_string(), phone.to_string());
        self.read(move |conn| read::identity(conn, &provider, &phone))
            .await
    }

    /// Everything that happened to one event.
    async fn event_trace(
        self: &Arc<Self>,
        event_id: &EventId,
    ) -> Result<Option<EventTrace>, StoreError> {
        let event_id = event_id.clone();
        self.read(move |conn| read::trace(conn, &event_id)).await
    }

    /// The stored event and its position, for a replay.
    async fn stored_event(
        self: &Arc<Self>,
        event_id: &EventId,
    ) -> Result<Option<PendingEvent>, StoreError> {
        let event_id = event_id.clone();
        self.read(move |conn| read::stored_event(conn, &event_id))
            .await
    }

    /// Events, newest accepted first, filtered and paged.
    async fn list_events(self: &Arc<Self>, filter: EventFilter) -> Result<EventPage, StoreError> {
        self.read(move |conn| read::list_events(conn, &filter))
            .await
    }

    /// Dead letters, newest first, filtered and paged, and how many match.
    async fn dead_letters(
        self: &Arc<Self>,
        query: DeadLetterQuery,
    ) -> Result<DeadLetterPage, StoreError> {
        self.read(move |conn| read::dead_letters(conn, &query))
            .await
    }

    /// One writer job: a few set-wide statements, whatever the number of letters.
    async fn redrive_many(
        self: &Arc<Self>,
        selection: Selection,
    ) -> Result<BulkRedrive, StoreError> {
        self.submit(|reply| Job::RedriveMany { selection, reply })
            .await
    }

    async fn discard_many(self: &Arc<Self>, selection: Selection) -> Result<usize, StoreError> {
        self.submit(|reply| Job::DiscardMany { selection, reply })
            .await
    }

    /// Every unexpired value a user's rules remembered.
    async fn memory_of(
        self: &Arc<Self>,
        source: &str,
        user_id: &str,
        now: i64,
    ) -> Result<serde_json::Map<String, Value>, StoreError> {
        let (source, user_id) = (source.to_string(), user_id.to_string());
        self.read(move |conn| read::memory_of(conn, &source, &user_id, now))
            .await
    }

    /// How many events and deliveries are not finished yet.
    async fn decided_events(
        self: &Arc<Self>,
        window: DecidedWindow,
    ) -> Result<Vec<DecidedEvent>, StoreError> {
        self.read(move |conn| read::decided_events(conn, &window))
            .await
    }

    async fn shadow_summary(
        self: &Arc<Self>,
        since: i64,
    ) -> Result<Vec<ShadowSummary>, StoreError> {
        self.read(move |conn| read::shadow_summary(conn, since))
            .await
    }

    async fn queue_depth(self: &Arc<Self>) -> Result<(i64, i64), StoreError> {
        self.read(read::queue_depth).await
    }

    /// Whether the database answers a query.
    async fn ping(self: &Arc<Self>) -> bool {
        self.is_available()
            && self
                .read(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
                .await
                .is_ok()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn take_lock(path: &Path) -> Result<File, StoreError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("Failed to open the lock file {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).context("Failed to write the lock file")?;
            file.rewind().context("Failed to write the lock file")?;
            write!(file, "{}", std::process::id()).context("Failed to write the lock file")?;
            file.flush().context("Failed to write the lock file")?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            Err(StoreError::Locked(if pid.is_empty() {
                "unknown".into()
            } else {
                pid.to_string()
            }))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unexpected(
            anyhow::Error::new(e).context(format!("Failed to lock {}", lock_path.display())),
        )),
    }
}

/// Whether a lock file names an earlier `serve` (it is written with a pid, and left behind).
fn lock_was_used(lock_path: &Path) -> bool {
    std::fs::metadata(lock_path).is_ok_and(|m| m.len() > 0)
}

fn connect(path: &Path, synchronous: Synchronous) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("Failed to open the SQLite database {}", path.display()))?;
    let sync = match synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 5000; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;"
    ))
    .context("Failed to configure the SQLite connection")?;
    Ok(conn)
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    /// A store made before V4 gains the search index of the events it already holds.
    #[test]
    fn v4_indexes_the_words_of_events_stored_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = connect(&path, Synchronous::Normal).unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(3))
            .run(&mut conn)
            .unwrap();
        let event = serde_json::json!({
            "text": "Hola Mundo", "raw": {"value": {"note": "Zebra crossing", "n": 4242}}
        });
        // (Values as parameters: quoted words in this folder must be states, see
        // `domain::status`.)
        for (id, json) in [
            ("evt_old", event.to_string()),
            ("evt_bad", "not json".into()),
        ] {
            conn.execute(
                "INSERT INTO events (event_id, source, dedupe_id, kind, received_at, status, event) \
                 VALUES (?1, ?2, ?1, ?3, 1, ?4, ?5)",
                rusqlite::params![id, "jelou", "other", "done", json],
            )
            .unwrap();
        }
        embedded::migrations::runner().run(&mut conn).unwrap();
        let found = |word: &str| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM events_search WHERE events_search MATCH ?1",
                [format!("\"{word}\"")],
                |r| r.get(0),
            )
            .unwrap()
        };
        for word in ["hola", "mundo", "zebra", "crossing", "4242"] {
            assert_eq!(found(word), 1, "{word}");
        }
        assert_eq!(found("note"), 0, "keys are not words");
    }
}
