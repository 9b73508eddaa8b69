//! Times 10,000 sequential 1 KiB appends against 10,000 concurrent ones, to show what group commit buys.
//!
//! Run with `cargo run --release -p freshet-wal --example append_throughput [DIR]` (default: a temp dir).

use freshet_wal::{LocalWal, Wal, WalOptions};
use std::sync::Arc;
use std::time::Instant;

const APPENDS: usize = 10_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), freshet_wal::Error> {
    let temp = tempfile::tempdir()?;
    let root = std::env::args_os()
        .nth(1)
        .map_or_else(|| temp.path().to_owned(), Into::into);
    let payload = vec![0x5a; 1024];

    let (wal, _) = LocalWal::open(&root.join("sequential"), WalOptions::default())?;
    let start = Instant::now();
    for _ in 0..APPENDS {
        wal.append(payload.clone()).await?;
    }
    let sequential = start.elapsed();
    eprintln!(
        "{APPENDS} sequential appends: {sequential:?}, {} fsyncs",
        wal.sync_count()
    );

    let (wal, _) = LocalWal::open(&root.join("concurrent"), WalOptions::default())?;
    let wal = Arc::new(wal);
    let start = Instant::now();
    let tasks: Vec<_> = (0..APPENDS)
        .map(|_| {
            let (wal, payload) = (Arc::clone(&wal), payload.clone());
            tokio::spawn(async move { wal.append(payload).await })
        })
        .collect();
    for task in tasks {
        task.await.map_err(std::io::Error::other)??;
    }
    let concurrent = start.elapsed();
    eprintln!(
        "{APPENDS} concurrent appends: {concurrent:?}, {} fsyncs",
        wal.sync_count()
    );
    Ok(())
}
