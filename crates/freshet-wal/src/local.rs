//! `LocalWal`: segment files in a local directory, written by one thread that commits appends in groups.
//!
//! Callers send requests over a channel to the writer thread. The writer takes everything pending, writes the
//! frames with one `write_all`, calls `sync_data` once, and only then answers every waiter of the batch. If a write
//! or fsync fails, the batch's waiters get the error and the writer stops: the state of the file after a failed
//! fsync is unknown, so nothing later may be acknowledged.

use crate::frame::{self, FRAME_OVERHEAD};
use crate::recover::{self, Recovered, Segment};
use crate::{Entry, Error, Result, Wal, WalOptions};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use tokio::sync::oneshot;

/// A WAL kept as segment files in one directory on local disk.
pub struct LocalWal {
    dir: PathBuf,
    /// The sequence number the first append after `open` gets.
    first_seq: u64,
    max_entry_bytes: usize,
    /// `None` only while dropping: closing the channel tells the writer to finish.
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<thread::JoinHandle<()>>,
    stats: Arc<Stats>,
}

/// Counters the writer publishes for `size_bytes` and `sync_count`.
#[derive(Debug, Default)]
struct Stats {
    size_bytes: AtomicU64,
    syncs: AtomicU64,
    /// Makes the next batch fail as if its write had failed.
    #[cfg(test)]
    fail_next_write: std::sync::atomic::AtomicBool,
}

enum Request {
    Append {
        payload: Vec<u8>,
        done: oneshot::Sender<Result<u64>>,
    },
    Truncate {
        upto: u64,
        done: oneshot::Sender<Result<()>>,
    },
}

impl LocalWal {
    /// The sequence number the first append after `open` gets: every lower one is replayed or truncated.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Opens (creating) the WAL in `dir`, recovers, and returns it with every entry not yet truncated, in order.
    ///
    /// A torn or corrupt tail (partial frame, bad checksum, bad length) is cut off: the file is truncated to its last
    /// good frame and fsynced, and a warning is logged. Damage in an earlier segment loses the rest of that segment
    /// (logged too); the entries returned then have a gap but still increase. Only real i/o failure is an error.
    ///
    /// Entries at or below the highest `truncate` mark are filtered out, but the caller must still treat replay as
    /// idempotent: re-applying an entry it has already persisted must be a no-op (a crash can come between
    /// persisting and truncating).
    ///
    /// This does blocking file i/o; calling it from inside a tokio runtime at startup is fine.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<(Self, Vec<Entry>)> {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                recover::sync_dir(parent)?;
            }
        }
        let Recovered {
            entries,
            segments,
            next_seq,
            mark,
        } = recover::recover(dir)?;
        let mut closed = VecDeque::from(segments);
        let (active, file) = match closed.pop_back() {
            Some(last) => {
                let path = recover::segment_path(dir, last.first_seq);
                (last, OpenOptions::new().append(true).open(path)?)
            }
            None => recover::create_segment(dir, next_seq)?,
        };
        let stats = Arc::new(Stats::default());
        let writer = Writer {
            dir: dir.to_owned(),
            segment_bytes: opts.segment_bytes,
            closed,
            active,
            file,
            next_seq,
            mark,
            stats: Arc::clone(&stats),
        };
        writer.publish_size();
        let (requests, receiver) = mpsc::channel();
        let writer = thread::Builder::new()
            .name("freshet-wal".into())
            .spawn(move || writer.run(receiver))?;
        let wal = LocalWal {
            dir: dir.to_owned(),
            first_seq: next_seq,
            max_entry_bytes: opts.max_entry_bytes.min(u32::MAX as usize),
            requests: Some(requests),
            writer: Some(writer),
            stats,
        };
        Ok((wal, entries))
    }

    /// How many times appended data has been fsynced: with group commit, far fewer than appends under load.
    pub fn sync_count(&self) -> u64 {
        self.stats.syncs.load(Ordering::Relaxed)
    }

    fn send(&self, request: Request) -> Result<()> {
        let requests = self.requests.as_ref().ok_or(Error::Closed)?;
        requests.send(request).map_err(|_| Error::Closed)
    }

    #[cfg(test)]
    fn fail_next_write(&self) {
        self.stats.fail_next_write.store(true, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Wal for LocalWal {
    async fn append(&self, payload: Vec<u8>) -> Result<u64> {
        if payload.len() > self.max_entry_bytes {
            return Err(Error::EntryTooLarge(payload.len(), self.max_entry_bytes));
        }
        let (done, answer) = oneshot::channel();
        self.send(Request::Append { payload, done })?;
        // A dropped sender means the writer stopped after a failure.
        answer.await.map_err(|_| Error::Closed)?
    }

    async fn truncate(&self, upto: u64) -> Result<()> {
        let (done, answer) = oneshot::channel();
        self.send(Request::Truncate { upto, done })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    fn size_bytes(&self) -> u64 {
        self.stats.size_bytes.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for LocalWal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalWal")
            .field("dir", &self.dir)
            .field("size_bytes", &self.size_bytes())
            .field("sync_count", &self.sync_count())
            .finish_non_exhaustive()
    }
}

impl Drop for LocalWal {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued and then return; joining waits for at most
        // that last batch and its fsync.
        drop(self.requests.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(dir = %self.dir.display(), "wal writer thread panicked");
        }
    }
}

/// The state owned by the writer thread.
struct Writer {
    dir: PathBuf,
    segment_bytes: u64,
    /// Full segments, oldest first.
    closed: VecDeque<Segment>,
    /// The segment appends go to, and its file (opened for append).
    active: Segment,
    file: File,
    next_seq: u64,
    /// The persisted truncation mark.
    mark: u64,
    stats: Arc<Stats>,
}

impl Writer {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut appends = Vec::new();
            let mut truncates = Vec::new();
            for request in std::iter::once(first).chain(requests.try_iter()) {
                match request {
                    Request::Append { payload, done } => appends.push((payload, done)),
                    Request::Truncate { upto, done } => truncates.push((upto, done)),
                }
            }
            // A waiter that went away no longer needs its answer, so failed `send`s are ignored below.
            if !appends.is_empty() {
                match self.commit(appends.iter().map(|(payload, _)| payload.as_slice())) {
                    Ok(first_seq) => {
                        for (seq, (_, done)) in (first_seq..).zip(appends) {
                            let _ = done.send(Ok(seq));
                        }
                    }
                    Err(e) => {
                        tracing::error!(dir = %self.dir.display(), error = %e, "wal write failed; refusing further appends");
                        for (_, done) in appends {
                            let _ =
                                done.send(Err(Error::Io(io::Error::new(e.kind(), e.to_string()))));
                        }
                        // Dropping the receiver answers every queued and later request with `Error::Closed`.
                        return;
                    }
                }
            }
            for (upto, done) in truncates {
                let _ = done.send(self.truncate(upto).map_err(Error::from));
            }
        }
    }

    /// Writes and fsyncs one batch; returns the seq of its first entry. Rotates between frames when the active
    /// segment is full.
    fn commit<'a>(&mut self, payloads: impl Iterator<Item = &'a [u8]>) -> io::Result<u64> {
        let first_seq = self.next_seq;
        let mut buf = Vec::new();
        for payload in payloads {
            if self.active.last_seq.is_some() && self.active.bytes >= self.segment_bytes {
                self.flush(&mut buf)?;
                self.rotate()?;
            }
            let seq = self.next_seq;
            frame::encode(seq, payload, &mut buf);
            self.active.bytes += (FRAME_OVERHEAD + payload.len()) as u64;
            self.active.last_seq = Some(seq);
            self.next_seq = seq
                .checked_add(1)
                .ok_or_else(|| io::Error::other("wal sequence numbers exhausted"))?;
        }
        self.flush(&mut buf)?;
        Ok(first_seq)
    }

    /// Writes `buf` to the active segment and fsyncs it.
    fn flush(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        #[cfg(test)]
        if self.stats.fail_next_write.swap(false, Ordering::SeqCst) {
            return Err(io::Error::other("injected write failure"));
        }
        self.file.write_all(buf)?;
        self.file.sync_data()?;
        buf.clear();
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        self.publish_size();
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let (segment, file) = recover::create_segment(&self.dir, self.next_seq)?;
        self.closed
            .push_back(std::mem::replace(&mut self.active, segment));
        self.file = file;
        self.publish_size();
        Ok(())
    }

    /// Records the mark, then deletes the closed segments whose entries are all `<= upto`.
    fn truncate(&mut self, upto: u64) -> io::Result<()> {
        // A mark beyond what was appended would hide the entries appended next.
        let upto = upto.min(self.next_seq - 1);
        if upto > self.mark {
            recover::write_mark(&self.dir, upto)?;
            self.mark = upto;
        }
        while let Some(oldest) = self.closed.front() {
            if oldest.last_seq.is_some_and(|last| last > upto) {
                break;
            }
            // No directory fsync: a deleted segment that comes back after a crash is filtered by the mark.
            match fs::remove_file(recover::segment_path(&self.dir, oldest.first_seq)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => self.closed.pop_front(),
            };
            self.publish_size();
        }
        Ok(())
    }

    fn publish_size(&self) {
        let closed: u64 = self.closed.iter().map(|s| s.bytes).sum();
        self.stats
            .size_bytes
            .store(closed + self.active.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_acknowledges_nothing_and_closes_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = LocalWal::open(dir.path(), WalOptions::default()).unwrap();
        let wal = Arc::new(wal);
        assert_eq!(wal.append(b"before".to_vec()).await.unwrap(), 1);

        wal.fail_next_write();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let wal = Arc::clone(&wal);
                tokio::spawn(async move { wal.append(vec![i]).await })
            })
            .collect();
        for task in tasks {
            let result = task.await.unwrap();
            assert!(
                matches!(result, Err(Error::Io(_) | Error::Closed)),
                "{result:?}"
            );
        }
        assert!(matches!(
            wal.append(b"after".to_vec()).await,
            Err(Error::Closed)
        ));
        assert!(matches!(wal.truncate(1).await, Err(Error::Closed)));
        drop(wal);

        let (_, entries) = LocalWal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(
            entries,
            [Entry {
                seq: 1,
                payload: b"before".to_vec()
            }]
        );
    }
}
