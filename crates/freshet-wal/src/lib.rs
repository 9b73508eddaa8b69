//! The write-ahead log of the storage engine: a write is acknowledged only once its entry is on disk.
//!
//! `Wal` is the narrow seam the rest of Freshet sees (held as `Arc<dyn Wal>`); `LocalWal` keeps segments in a
//! directory on local disk. One writer thread batches concurrent appends so that they share one fsync (group
//! commit). `LocalWal::open` recovers the log after a crash and hands back every entry not yet truncated.
//!
//! Replay is at-least-once: `truncate` drops whole segments and records its mark, but a caller must still treat
//! re-applying an entry it has already persisted as a no-op (see `LocalWal::open`).

mod frame;
mod local;
mod recover;

pub use local::LocalWal;

/// One durable entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub payload: Vec<u8>,
}

#[async_trait::async_trait]
pub trait Wal: Send + Sync + std::fmt::Debug {
    /// Appends one entry and returns its sequence number once it is durable (written and fsynced).
    /// Concurrent appends share one fsync (group commit). Sequence numbers are strictly increasing, gap-free from 1
    /// (continuing after the last replayed entry on reopen).
    ///
    /// If the returned future is dropped before it completes, the entry may or may not end up in the log.
    async fn append(&self, payload: Vec<u8>) -> Result<u64>;
    /// Declares every entry with `seq <= upto` persisted elsewhere: segments whose entries are all `<= upto` are
    /// deleted. `upto` beyond the last appended entry is clamped to it.
    async fn truncate(&self, upto: u64) -> Result<()>;
    /// Bytes currently held in live segments (for metrics/backpressure).
    fn size_bytes(&self) -> u64;
}

/// Tuning of a `LocalWal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Start a new segment once the active one holds at least this many bytes (default 64 MiB).
    pub segment_bytes: u64,
    /// Larger payloads are refused with `Error::EntryTooLarge` (default 16 MiB; at most `u32::MAX` is honoured).
    pub max_entry_bytes: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
            max_entry_bytes: 16 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the log failed. After a failed append the log refuses further appends.
    #[error("wal i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The caller's payload is larger than `WalOptions::max_entry_bytes`.
    #[error("wal entry of {0} bytes exceeds the limit of {1}")]
    EntryTooLarge(usize, usize),
    /// The log stopped accepting work, after an earlier i/o failure.
    #[error("wal is closed")]
    Closed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
