//! Group commit: concurrent appends share fsyncs, and every one of them is durable once acknowledged.

use freshet_wal::{LocalWal, Wal, WalOptions};
use std::collections::BTreeMap;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = LocalWal::open(dir.path(), WalOptions::default()).unwrap();
    let wal = Arc::new(wal);
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move { (wal.append(i.to_le_bytes().to_vec()).await.unwrap(), i) })
        })
        .collect();
    let mut acknowledged = BTreeMap::new();
    for task in tasks {
        let (seq, i) = task.await.unwrap();
        acknowledged.insert(seq, i.to_le_bytes().to_vec());
    }
    let syncs = wal.sync_count();
    eprintln!("200 concurrent appends took {syncs} fsyncs");
    assert!(syncs <= 50, "{syncs} fsyncs for 200 concurrent appends");
    assert_eq!(
        acknowledged.keys().copied().collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );

    drop(Arc::into_inner(wal).unwrap());
    let (_, replayed) = LocalWal::open(dir.path(), WalOptions::default()).unwrap();
    let replayed: BTreeMap<_, _> = replayed.into_iter().map(|e| (e.seq, e.payload)).collect();
    assert_eq!(replayed, acknowledged);
}
