//! Data files kept whole in memory for queries, least recently used first out, within a bound on their bytes.
//!
//! Data files never change and their names never repeat, so a file read once can be served from memory for as long
//! as it is kept. A scan then takes its column chunks and pages as slices of the kept bytes: no read, no copy and no
//! zeroed buffer per range. On the query benchmark's data, reading ranges from the page cache took about 7% of a
//! scan-heavy query's CPU and 17% of double-groupby-all's time (docs/benchmarks.md).
//!
//! A file is loaded whole the first time a scan reads from it; concurrent scans of the same file wait for the one
//! load. Files larger than [`FileCache::max_file_bytes`] are never kept (a scan that needs a few pages of one reads
//! only those), and neither is anything when the bound is zero.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use hashlink::LruCache;
use tokio::sync::OnceCell;

/// The largest file kept, whatever the bound: a larger one is read by the ranges a scan needs.
const MAX_FILE_BYTES: u64 = 64 << 20;

#[derive(Debug)]
pub struct FileCache {
    capacity: u64,
    state: Mutex<State>,
    /// Files read whole, ever.
    loads: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// Each kept file by its path, least recently used first. A slot is weighed by its file's size from when it is
    /// made, before its bytes are loaded.
    files: LruCache<String, Arc<Slot>>,
    bytes: u64,
}

#[derive(Debug)]
struct Slot {
    size: u64,
    bytes: OnceCell<Bytes>,
}

impl FileCache {
    /// A cache of at most `capacity` bytes of files.
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            state: Mutex::new(State {
                files: LruCache::new_unbounded(),
                bytes: 0,
            }),
            loads: AtomicU64::new(0),
        }
    }

    /// The largest file kept: an eighth of the bound, and at most 64 MiB.
    pub fn max_file_bytes(&self) -> u64 {
        (self.capacity / 8).min(MAX_FILE_BYTES)
    }

    /// The bytes of `ranges` of the file at `path` (of `size` bytes), from the kept file, which `load` reads whole
    /// when it is not kept yet; `None` for a file too large to keep.
    pub async fn ranges<E>(
        &self,
        path: &str,
        size: u64,
        ranges: &[Range<u64>],
        load: impl AsyncFnOnce() -> Result<Bytes, E>,
    ) -> Option<Result<Vec<Bytes>, E>> {
        if size > self.max_file_bytes() {
            return None;
        }
        let slot = self.slot(path, size);
        let counted = async || {
            self.loads.fetch_add(1, Ordering::Relaxed);
            load().await
        };
        let whole = match slot.bytes.get_or_try_init(counted).await {
            Ok(whole) => whole,
            Err(e) => {
                self.forget(path, &slot);
                return Some(Err(e));
            }
        };
        Some(Ok(ranges
            .iter()
            .map(|r| {
                let end = (r.end as usize).min(whole.len());
                whole.slice((r.start as usize).min(end)..end)
            })
            .collect()))
    }

    /// The slot of `path`, made (and room made for it) if the file is not kept.
    fn slot(&self, path: &str, size: u64) -> Arc<Slot> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = state.files.get(path) {
            return Arc::clone(slot);
        }
        while state.bytes + size > self.capacity
            && let Some((_, old)) = state.files.remove_lru()
        {
            state.bytes -= old.size;
        }
        let slot = Arc::new(Slot {
            size,
            bytes: OnceCell::new(),
        });
        state.files.insert(path.to_owned(), Arc::clone(&slot));
        state.bytes += size;
        slot
    }

    /// Drops the slot of a file that failed to load, so that the next scan tries again.
    fn forget(&self, path: &str, slot: &Arc<Slot>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.files.peek(path).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            state.files.remove(path);
            state.bytes -= slot.size;
        }
    }

    /// The files read whole since the cache was made.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// The bytes of the files kept (or being loaded).
    pub fn kept_bytes(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads bytes 1..3 (and 0..1) of a file of `size` bytes of 7s, counting the loads.
    async fn read(cache: &FileCache, path: &str, size: u64, loads: &mut usize) -> Option<Bytes> {
        let got = cache
            .ranges(path, size, &[1..3, 0..1], async || {
                *loads += 1;
                Ok::<_, ()>(Bytes::from(vec![7u8; size as usize]))
            })
            .await;
        got.map(|r| r.unwrap().remove(0))
    }

    #[tokio::test]
    async fn files_are_loaded_once_and_the_least_recently_used_go_first() {
        let cache = FileCache::new(1600);
        let mut loads = 0;
        for path in ["a", "b", "c", "a"] {
            let got = read(&cache, path, 200, &mut loads).await;
            assert_eq!(got.unwrap(), &[7, 7][..]);
        }
        assert_eq!(loads, 3, "a kept file is not read again");
        for path in ["d", "e", "f", "g", "h"] {
            read(&cache, path, 200, &mut loads).await;
        }
        assert_eq!((loads, cache.kept_bytes()), (8, 1600));
        read(&cache, "i", 200, &mut loads).await;
        assert_eq!((loads, cache.kept_bytes()), (9, 1600), "the bound holds");
        read(&cache, "a", 200, &mut loads).await;
        assert_eq!(
            loads, 9,
            "\"a\" was used after \"b\" and \"c\", so it is kept"
        );
        read(&cache, "b", 200, &mut loads).await;
        assert_eq!(loads, 10, "\"b\" went first");
        assert!(
            read(&cache, "x", 201, &mut loads).await.is_none(),
            "a file over an eighth of the bound is not kept"
        );
        assert_eq!((loads, cache.kept_bytes()), (10, 1600));
    }

    #[tokio::test]
    async fn a_failed_load_is_tried_again_and_nothing_is_kept_without_a_bound() {
        let cache = FileCache::new(800);
        let failed = cache
            .ranges("a", 100, &[0..1, 1..2], async || Err("disk on fire"))
            .await;
        assert_eq!(failed, Some(Err("disk on fire")));
        assert_eq!(cache.kept_bytes(), 0);
        let mut loads = 0;
        read(&cache, "a", 100, &mut loads).await;
        assert_eq!(loads, 1);
        let none = FileCache::new(0);
        assert!(read(&none, "a", 1, &mut loads).await.is_none());
    }
}
