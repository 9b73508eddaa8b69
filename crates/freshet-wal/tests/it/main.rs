//! Integration tests of `LocalWal` through the `Wal` trait: round trips, rotation and truncation, limits.

mod crash;
mod group_commit;

use freshet_wal::{Entry, Error, LocalWal, Wal, WalOptions};
use std::path::Path;

fn open(dir: &Path, segment_bytes: u64) -> (LocalWal, Vec<Entry>) {
    let opts = WalOptions {
        segment_bytes,
        ..WalOptions::default()
    };
    LocalWal::open(dir, opts).unwrap()
}

/// The entries that `payloads` become when appended starting at `first_seq`.
fn entries(first_seq: u64, payloads: &[Vec<u8>]) -> Vec<Entry> {
    (first_seq..)
        .zip(payloads)
        .map(|(seq, payload)| Entry {
            seq,
            payload: payload.clone(),
        })
        .collect()
}

/// The first seqs of the segment files in `dir`, from their names.
fn segment_names(dir: &Path) -> Vec<u64> {
    let mut names: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_str()?
                .strip_suffix(".wal")?
                .parse()
                .ok()
        })
        .collect();
    names.sort();
    names
}

fn bytes_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[tokio::test]
async fn entries_come_back_in_order_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = vec![
        vec![],
        b"a".to_vec(),
        vec![7; 1000],
        vec![],
        vec![1; 70_000],
        b"last".to_vec(),
    ];
    {
        let (wal, replayed) = open(dir.path(), 64 << 20);
        assert_eq!(replayed, []);
        for (seq, payload) in (1..).zip(&payloads) {
            assert_eq!(wal.append(payload.clone()).await.unwrap(), seq);
        }
        assert_eq!(wal.size_bytes(), bytes_on_disk(dir.path()));
    }
    let (wal, replayed) = open(dir.path(), 64 << 20);
    assert_eq!(replayed, entries(1, &payloads));
    assert_eq!(wal.append(b"after reopen".to_vec()).await.unwrap(), 7);
    drop(wal);

    let (_, replayed) = open(dir.path(), 64 << 20);
    assert_eq!(replayed.len(), 7);
    assert_eq!(
        replayed[6],
        Entry {
            seq: 7,
            payload: b"after reopen".to_vec()
        }
    );
}

#[tokio::test]
async fn segments_rotate_and_truncate_deletes_the_persisted_ones() {
    let dir = tempfile::tempdir().unwrap();
    // 8-byte header + two 66-byte frames reach 100 bytes: two entries per segment.
    let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 50]).collect();
    let (wal, _) = open(dir.path(), 100);
    for payload in &payloads {
        wal.append(payload.clone()).await.unwrap();
    }
    assert_eq!(segment_names(dir.path()), [1, 3, 5, 7, 9]);
    assert_eq!(wal.size_bytes(), bytes_on_disk(dir.path()));

    // Segment 5 holds 5 and 6: only partly persisted, so it stays.
    wal.truncate(5).await.unwrap();
    assert_eq!(segment_names(dir.path()), [5, 7, 9]);
    assert_eq!(wal.size_bytes(), bytes_on_disk(dir.path()));
    drop(wal);

    let (wal, replayed) = open(dir.path(), 100);
    assert_eq!(
        replayed,
        entries(6, &payloads[5..]),
        "the mark filters entry 5"
    );

    // Beyond the end: clamped to the last entry; the active segment is never deleted.
    wal.truncate(1_000).await.unwrap();
    assert_eq!(segment_names(dir.path()), [9]);
    assert_eq!(wal.size_bytes(), bytes_on_disk(dir.path()));
    assert_eq!(wal.append(b"new".to_vec()).await.unwrap(), 11);
    drop(wal);

    let (wal, replayed) = open(dir.path(), 100);
    assert_eq!(
        replayed,
        [Entry {
            seq: 11,
            payload: b"new".to_vec()
        }]
    );
    // A lower mark than before changes nothing.
    wal.truncate(3).await.unwrap();
    drop(wal);
    assert_eq!(open(dir.path(), 100).1.len(), 1);
}

#[tokio::test]
async fn seqs_continue_after_everything_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), 1);
    for _ in 0..3 {
        wal.append(b"x".to_vec()).await.unwrap();
    }
    wal.truncate(3).await.unwrap();
    assert_eq!(segment_names(dir.path()), [3], "the active segment stays");
    drop(wal);

    let (wal, replayed) = open(dir.path(), 1);
    assert_eq!(replayed, []);
    assert_eq!(wal.append(b"y".to_vec()).await.unwrap(), 4);
    drop(wal);
    assert_eq!(open(dir.path(), 1).1, entries(4, &[b"y".to_vec()]));
}

#[tokio::test]
async fn an_entry_too_large_is_refused_and_the_wal_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        max_entry_bytes: 10,
        ..WalOptions::default()
    };
    let (wal, _) = LocalWal::open(dir.path(), opts).unwrap();
    let err = wal.append(vec![0; 11]).await.unwrap_err();
    assert!(matches!(err, Error::EntryTooLarge(11, 10)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "wal entry of 11 bytes exceeds the limit of 10"
    );
    assert_eq!(wal.append(vec![0; 10]).await.unwrap(), 1);
    drop(wal);
    assert_eq!(
        LocalWal::open(dir.path(), opts).unwrap().1,
        entries(1, &[vec![0; 10]])
    );
}

#[tokio::test]
async fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("data/wal");
    let (wal, replayed) = open(&nested, 1 << 20);
    assert_eq!(replayed, []);
    assert_eq!(wal.append(vec![]).await.unwrap(), 1);
    assert_eq!(segment_names(&nested), [1]);
}

#[test]
fn a_damaged_earlier_segment_loses_only_its_own_rest() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 50]).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (wal, _) = open(dir.path(), 100);
        for payload in &payloads {
            wal.append(payload.clone()).await.unwrap();
        }
    });
    assert_eq!(segment_names(dir.path()), [1, 3, 5]);
    // Damage the second frame (seq 4) of segment 3.
    let path = dir.path().join(format!("{:020}.wal", 3));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8 + 66 + 20] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let (wal, replayed) = open(dir.path(), 100);
    let mut expected = entries(1, &payloads[..3]);
    expected.extend(entries(5, &payloads[4..]));
    assert_eq!(replayed, expected);
    assert_eq!(runtime.block_on(wal.append(vec![])).unwrap(), 7);
}

#[test]
fn open_never_panics_on_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("00000000000000000001.wal"),
        b"FRWAL\0\0\x01garbage that is no frame",
    )
    .unwrap();
    std::fs::write(dir.path().join("00000000000000000005.wal"), b"").unwrap();
    std::fs::write(dir.path().join("18446744073709551615.wal"), [0xff; 40]).unwrap();
    std::fs::write(dir.path().join("truncated_upto"), b"18446744073709551615").unwrap();
    let (wal, replayed) = open(dir.path(), 100);
    assert_eq!(replayed, []);
    // Every seq is used up: appends fail cleanly instead of reusing one.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(runtime.block_on(wal.append(vec![1])).is_err());
}
