//! For the benchmarks: let the disk catch up before a run, so that the write-back of an
//! earlier run (its WAL and database pages, still dirty in the page cache) is not charged
//! to this one.

/// Run `sync` (flush every dirty page to disk) and wait for it; a machine without the
/// command just goes on.
pub fn settle() {
    let _ = std::process::Command::new("sync").status();
}
