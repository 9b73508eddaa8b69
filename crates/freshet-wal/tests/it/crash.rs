//! Crash-cut properties: whatever happens to the tail of the last segment, reopening yields a prefix of what was
//! written, and the WAL goes on accepting appends that survive the next reopen.

use super::{entries, segment_names};
use freshet_wal::{LocalWal, Wal, WalOptions};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;

/// Small, so that most cases have several segments.
const OPTS: WalOptions = WalOptions {
    segment_bytes: 400,
    max_entry_bytes: 1 << 20,
};

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn append_all(wal: &LocalWal, payloads: &[Vec<u8>]) -> Vec<u64> {
    block_on(async {
        let mut seqs = Vec::new();
        for payload in payloads {
            seqs.push(wal.append(payload.clone()).await.unwrap());
        }
        seqs
    })
}

/// Writes `payloads`, lets `damage` change the bytes of the last segment (returning the first offset it touched),
/// and checks what a reopen gives back.
fn check(
    payloads: &[Vec<u8>],
    damage: impl FnOnce(&mut Vec<u8>) -> usize,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = LocalWal::open(dir.path(), OPTS).unwrap();
    append_all(&wal, payloads);
    drop(wal);

    let last_first_seq = *segment_names(dir.path()).last().unwrap();
    let path = dir.path().join(format!("{last_first_seq:020}.wal"));
    let mut bytes = std::fs::read(&path).unwrap();
    let damaged_at = damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();

    // The frames of the last segment that end at or before the damage survive; nothing after them.
    let in_earlier_segments = (last_first_seq - 1) as usize;
    let mut end = 8;
    let survivors = payloads[in_earlier_segments..]
        .iter()
        .take_while(|payload| {
            end += 16 + payload.len();
            end <= damaged_at
        })
        .count();
    let kept = &payloads[..in_earlier_segments + survivors];

    let (wal, replayed) = LocalWal::open(dir.path(), OPTS).unwrap();
    prop_assert_eq!(&replayed, &entries(1, kept));
    let more = [b"after".to_vec(), vec![]];
    let next = kept.len() as u64 + 1;
    prop_assert_eq!(append_all(&wal, &more), [next, next + 1]);
    drop(wal);

    let (_, replayed) = LocalWal::open(dir.path(), OPTS).unwrap();
    let mut expected = entries(1, kept);
    expected.extend(entries(next, &more));
    prop_assert_eq!(replayed, expected);
    Ok(())
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_cut_tail_leaves_a_prefix(payloads in payloads(), at in any::<Index>()) {
        check(&payloads, |bytes| {
            let at = at.index(bytes.len() + 1);
            bytes.truncate(at);
            at
        })?;
    }

    #[test]
    fn a_flipped_byte_leaves_the_prefix_before_its_frame(payloads in payloads(), at in any::<Index>(), flip in 1..=255u8) {
        check(&payloads, |bytes| {
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            at
        })?;
    }
}

#[test]
fn a_last_segment_with_a_torn_header_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{:020}.wal", 1));
    std::fs::write(&path, b"FRW").unwrap();
    let (wal, replayed) = LocalWal::open(dir.path(), OPTS).unwrap();
    assert_eq!(replayed, []);
    assert_eq!(append_all(&wal, &[b"x".to_vec()]), [1]);
    drop(wal);
    assert_eq!(
        LocalWal::open(dir.path(), OPTS).unwrap().1,
        entries(1, &[b"x".to_vec()])
    );
    assert_eq!(Path::new(&path).metadata().unwrap().len(), 8 + 16 + 1);
}
