//! The WAL directory on disk: segment and mark files, and reading them back after a restart.
//!
//! Recovery never fails on file content, only on real i/o errors: a damaged tail of the last segment is cut off,
//! the damaged rest of an earlier segment is skipped, and both are logged.

use crate::Entry;
use crate::frame::{self, Damage, SEGMENT_HEADER};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Holds the highest `upto` given to `truncate`, as decimal text.
const MARK_FILE: &str = "truncated_upto";
const MARK_TEMP_FILE: &str = "truncated_upto.tmp";

/// What the WAL knows about one segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// From the file name; every entry in the segment has a seq at least this.
    pub first_seq: u64,
    /// `None` while the segment holds no entry.
    pub last_seq: Option<u64>,
    /// Size of the file, header included.
    pub bytes: u64,
}

/// The state of the directory after recovery.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Entries above the truncation mark, in order.
    pub entries: Vec<Entry>,
    /// Every segment file, oldest first.
    pub segments: Vec<Segment>,
    /// The seq the next append gets.
    pub next_seq: u64,
    /// The persisted truncation mark (0 if none).
    pub mark: u64,
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

/// Makes the directory's entries (files created, renamed or removed) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates an empty segment file, durably: header fsynced, directory fsynced.
pub(crate) fn create_segment(dir: &Path, first_seq: u64) -> io::Result<(Segment, File)> {
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(segment_path(dir, first_seq))?;
    file.write_all(&SEGMENT_HEADER)?;
    file.sync_all()?;
    sync_dir(dir)?;
    let segment = Segment {
        first_seq,
        last_seq: None,
        bytes: SEGMENT_HEADER.len() as u64,
    };
    Ok((segment, file))
}

/// Persists the truncation mark atomically: temp file, fsync, rename, directory fsync.
pub(crate) fn write_mark(dir: &Path, upto: u64) -> io::Result<()> {
    let temp = dir.join(MARK_TEMP_FILE);
    let mut file = File::create(&temp)?;
    file.write_all(format!("{upto}\n").as_bytes())?;
    file.sync_all()?;
    fs::rename(&temp, dir.join(MARK_FILE))?;
    sync_dir(dir)
}

fn read_mark(dir: &Path) -> io::Result<u64> {
    let bytes = match fs::read(dir.join(MARK_FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mark = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    Ok(mark.unwrap_or_else(|| {
        // Safe to ignore: the mark only filters entries that callers must replay idempotently anyway.
        tracing::warn!(dir = %dir.display(), "ignoring an unreadable wal truncation mark");
        0
    }))
}

/// The segment files in `dir` (`<20 digits>.wal`), ordered by their first seq.
fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let first_seq = name
            .to_str()
            .and_then(|name| name.strip_suffix(".wal"))
            .filter(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok());
        if let Some(first_seq) = first_seq {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// The valid frames at the start of one segment's bytes.
#[derive(Debug)]
struct Scan {
    entries: Vec<Entry>,
    /// Bytes up to the end of the last good frame (0 if even the header is bad).
    valid_len: u64,
    /// Why scanning stopped before the end of the file.
    damage: Option<Damage>,
}

/// Reads the frames of a segment named `first_seq`, accepting only seqs that increase from above `after`.
fn scan(bytes: &[u8], first_seq: u64, after: u64) -> Scan {
    let Some(mut rest) = bytes.strip_prefix(&SEGMENT_HEADER[..]) else {
        let damage = Some(Damage::SegmentHeader);
        return Scan {
            entries: Vec::new(),
            valid_len: 0,
            damage,
        };
    };
    let mut entries = Vec::new();
    let mut last = after;
    let damage = loop {
        if rest.is_empty() {
            break None;
        }
        match frame::decode(rest) {
            Ok((seq, payload, used)) if seq > last && seq >= first_seq => {
                entries.push(Entry {
                    seq,
                    payload: payload.to_vec(),
                });
                last = seq;
                // In bounds: `decode` only reports bytes it found in `rest`.
                rest = &rest[used..];
            }
            Ok(_) => break Some(Damage::Sequence),
            Err(damage) => break Some(damage),
        }
    };
    let valid_len = (bytes.len() - rest.len()) as u64;
    Scan {
        entries,
        valid_len,
        damage,
    }
}

/// Cuts the last segment back to `valid_len` (rewriting its header if that was damaged) and fsyncs it.
fn cut(path: &Path, valid_len: u64) -> io::Result<u64> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    let len = if valid_len < SEGMENT_HEADER.len() as u64 {
        file.set_len(0)?;
        file.write_all(&SEGMENT_HEADER)?;
        SEGMENT_HEADER.len() as u64
    } else {
        file.set_len(valid_len)?;
        valid_len
    };
    file.sync_all()?;
    Ok(len)
}

/// Reads every segment in `dir`, repairs a damaged tail, and works out where appending continues.
pub(crate) fn recover(dir: &Path) -> io::Result<Recovered> {
    let mark = read_mark(dir)?;
    let files = list_segments(dir)?;
    let mut entries = Vec::new();
    let mut segments = Vec::with_capacity(files.len());
    let mut last_seq = 0;
    for (i, (first_seq, path)) in files.iter().enumerate() {
        let bytes = fs::read(path)?;
        let scan = scan(&bytes, *first_seq, last_seq);
        let mut size = bytes.len() as u64;
        if let Some(damage) = scan.damage {
            let (offset, lost_bytes) = (scan.valid_len, size - scan.valid_len);
            let segment = path.display();
            if i + 1 == files.len() {
                tracing::warn!(%segment, offset, lost_bytes, %damage, "cutting off the damaged tail of the wal");
                size = cut(path, scan.valid_len)?;
            } else {
                tracing::warn!(%segment, offset, lost_bytes, %damage, "skipping the damaged rest of a wal segment");
            }
        }
        let segment_last = scan.entries.last().map(|e| e.seq);
        last_seq = segment_last.unwrap_or(last_seq);
        segments.push(Segment {
            first_seq: *first_seq,
            last_seq: segment_last,
            bytes: size,
        });
        entries.extend(scan.entries.into_iter().filter(|e| e.seq > mark));
    }
    // Never reuse a seq at or below the mark (it would be filtered out on the next open) or below the name of the
    // segment appends go to.
    let named = files
        .last()
        .map_or(0, |(first_seq, _)| first_seq.saturating_sub(1));
    let next_seq = last_seq.max(mark).max(named).saturating_add(1);
    Ok(Recovered {
        entries,
        segments,
        next_seq,
        mark,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(frames: &[(u64, &[u8])]) -> Vec<u8> {
        let mut bytes = SEGMENT_HEADER.to_vec();
        for (seq, payload) in frames {
            frame::encode(*seq, payload, &mut bytes);
        }
        bytes
    }

    #[test]
    fn scan_stops_at_the_first_damage() {
        let good = segment(&[(1, b"a"), (2, b"bc")]);
        let s = scan(&good, 1, 0);
        assert_eq!(
            (s.entries.len(), s.valid_len, s.damage),
            (2, good.len() as u64, None)
        );

        let s = scan(&good[..good.len() - 1], 1, 0);
        assert_eq!(
            (s.entries.len(), s.valid_len, s.damage),
            (1, 25, Some(Damage::Length))
        );

        let s = scan(&good[..3], 1, 0);
        assert_eq!(
            (s.entries.len(), s.valid_len, s.damage),
            (0, 0, Some(Damage::SegmentHeader))
        );

        // Not increasing, or below the segment's name: treated like a bad frame.
        let s = scan(&segment(&[(1, b"a"), (1, b"b")]), 1, 0);
        assert_eq!((s.entries.len(), s.damage), (1, Some(Damage::Sequence)));
        let s = scan(&good, 5, 0);
        assert_eq!((s.entries.len(), s.damage), (0, Some(Damage::Sequence)));
        let s = scan(&good, 1, 1);
        assert_eq!((s.entries.len(), s.damage), (0, Some(Damage::Sequence)));
    }

    #[test]
    fn list_segments_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "00000000000000000007.wal",
            "00000000000000000001.wal",
            "x.wal",
            "1.wal",
            MARK_FILE,
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        fs::write(dir.path().join("99999999999999999999.wal"), b"").unwrap(); // beyond u64
        let firsts: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(firsts, [1, 7]);
    }

    #[test]
    fn an_unreadable_mark_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_mark(dir.path()).unwrap(), 0);
        write_mark(dir.path(), 42).unwrap();
        assert_eq!(read_mark(dir.path()).unwrap(), 42);
        fs::write(dir.path().join(MARK_FILE), b"\xff garbage").unwrap();
        assert_eq!(read_mark(dir.path()).unwrap(), 0);
    }
}
