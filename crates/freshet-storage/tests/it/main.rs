//! The storage engine with a real WAL, metadata store and object store: replay, persistence, compaction, retention.

use std::sync::Arc;

use freshet_core::{AccountId, Region};
use freshet_meta::{
    DatabaseRecord, MagneticStoreWrite, MetadataStore, Scope, SqliteStore, TableRecord, TableStatus,
};
use freshet_storage::{Measures, Storage, StorageConfig, Value, WriteRow};
use freshet_wal::{LocalWal, WalOptions};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt};

const HOUR: i64 = 3_600_000_000_000;
const NOW: i64 = 1_800_000_000_000_000_000;

fn table() -> TableRecord {
    TableRecord {
        id: "t1".into(),
        scope: Scope {
            account: AccountId::parse("123456789012").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
        },
        database: "db1".into(),
        name: "tbl".into(),
        arn: "arn".into(),
        status: TableStatus::Active,
        memory_store_hours: 24,
        magnetic_store_days: 1,
        magnetic_store_write: MagneticStoreWrite {
            enabled: false,
            rejected_data_location: None,
        },
        partition_keys: vec![],
        created_ms: 0,
        updated_ms: 0,
    }
}

fn row(host: &str, time: i64, version: i64, v: f64) -> WriteRow {
    WriteRow {
        dimensions: vec![("host".into(), host.into())],
        measure_name: "cpu".into(),
        time,
        version,
        measures: Measures::Single(Value::Double(v)),
    }
}

struct Fixture {
    meta: Arc<dyn MetadataStore>,
    objects: Arc<dyn ObjectStore>,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let meta: Arc<dyn MetadataStore> = Arc::new(SqliteStore::in_memory().unwrap());
        let t = table();
        meta.create_database(&DatabaseRecord {
            scope: t.scope.clone(),
            name: "db1".into(),
            arn: "arn:db".into(),
            kms_key_id: "k".into(),
            created_ms: 0,
            updated_ms: 0,
        })
        .await
        .unwrap();
        meta.create_table(&t).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let objects_dir = dir.path().join("objects");
        std::fs::create_dir_all(&objects_dir).unwrap();
        Self {
            meta,
            objects: Arc::new(LocalFileSystem::new_with_prefix(&objects_dir).unwrap()),
            dir,
        }
    }

    async fn stored_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .objects
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        paths.sort();
        paths
    }

    async fn open(&self) -> Storage {
        let (wal, replay) = LocalWal::open(self.dir.path(), WalOptions::default()).unwrap();
        let first = wal.first_seq();
        Storage::open(
            Arc::clone(&self.meta),
            Arc::clone(&self.objects),
            Arc::new(wal),
            replay,
            first,
            StorageConfig {
                replaced_file_grace: std::time::Duration::ZERO,
                ..StorageConfig::default()
            },
        )
        .await
        .unwrap()
    }
}

async fn values(s: &Storage) -> Vec<(i64, f64)> {
    let snap = s.scan(&table(), None, None).await.unwrap();
    let mut out = Vec::new();
    for b in &s.read_snapshot(&snap).await.unwrap() {
        let t = b
            .column_by_name("time")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::TimestampNanosecondArray>()
            .unwrap();
        let v = b
            .column_by_name("measure_value::double")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            out.push((t.value(i), v.value(i)));
        }
    }
    out.sort_by_key(|a| a.0);
    out
}

#[tokio::test]
async fn persisted_upserted_compacted_and_expired() {
    let f = Fixture::new().await;
    let s = f.open().await;
    // Four persisted generations; the last one upserts a row that is already in a file.
    for i in 0..4 {
        let out = s
            .write(
                &table(),
                vec![(0, row("a", NOW - i * HOUR, 1, i as f64))],
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(out.memory_store, 1);
        s.persist(true).await.unwrap();
    }
    let out = s
        .write(&table(), vec![(0, row("a", NOW, 2, 99.0))], NOW)
        .await
        .unwrap();
    assert!(out.rejected.is_empty(), "{out:?}");
    let conflict = s
        .write(&table(), vec![(0, row("a", NOW - HOUR, 1, 5.0))], NOW)
        .await
        .unwrap();
    assert_eq!(
        conflict.rejected[0].existing_version,
        Some(1),
        "a persisted row takes part in the version rules"
    );
    s.persist(true).await.unwrap();
    assert_eq!(f.meta.files("t1").await.unwrap().len(), 5);
    assert_eq!(
        values(&s).await,
        [
            (NOW - 3 * HOUR, 3.0),
            (NOW - 2 * HOUR, 2.0),
            (NOW - HOUR, 1.0),
            (NOW, 99.0)
        ]
    );

    // Compaction merges the files into one and keeps only the highest version; the replaced files are deleted
    // once their grace period (zero here) is over.
    s.maintain(NOW).await.unwrap();
    let files = f.meta.files("t1").await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].rows, 4);
    assert_eq!(f.stored_paths().await, [files[0].path.clone()]);
    assert_eq!(
        values(&s).await,
        [
            (NOW - 3 * HOUR, 3.0),
            (NOW - 2 * HOUR, 2.0),
            (NOW - HOUR, 1.0),
            (NOW, 99.0)
        ]
    );

    // Retention (one day): 22.5 hours later, the rows more than a day old are gone.
    s.maintain(NOW + 24 * HOUR - 90 * 60 * 1_000_000_000)
        .await
        .unwrap();
    assert_eq!(values(&s).await, [(NOW - HOUR, 1.0), (NOW, 99.0)]);

    // After a restart the state comes back from files and the WAL. A file no table lists (left by a crash between
    // writing and registering it) is deleted when the engine opens.
    drop(s);
    let stray = "tables/t1/0123456789abcdef.parquet";
    f.objects
        .put(&stray.into(), bytes::Bytes::from_static(b"PAR1").into())
        .await
        .unwrap();
    let s = f.open().await;
    assert_eq!(values(&s).await, [(NOW - HOUR, 1.0), (NOW, 99.0)]);
    let registered: Vec<String> = f
        .meta
        .files("t1")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(f.stored_paths().await, registered);
}

/// Each measure's dimensions come from the data files' summaries and the buffered series, without reading rows.
#[tokio::test]
async fn measure_dimensions_come_from_file_summaries_and_buffers() {
    let f = Fixture::new().await;
    let s = f.open().await;
    s.write(&table(), vec![(0, row("a", NOW - HOUR, 1, 1.0))], NOW)
        .await
        .unwrap();
    s.persist(true).await.unwrap();
    let mem = WriteRow {
        dimensions: vec![("host".into(), "a".into()), ("region".into(), "eu".into())],
        measure_name: "mem".into(),
        time: NOW,
        version: 1,
        measures: Measures::Single(Value::Double(2.0)),
    };
    s.write(&table(), vec![(0, mem)], NOW).await.unwrap();
    let files = f.meta.files("t1").await.unwrap();
    assert_eq!(
        files[0].measures,
        Some([("cpu".to_owned(), vec!["host".to_owned()])].into()),
        "the file's summary"
    );
    let found = s.measure_dimensions(&table()).await.unwrap();
    let found: Vec<(String, Vec<String>)> = found
        .into_iter()
        .map(|(m, d)| (m, d.into_iter().collect()))
        .collect();
    assert_eq!(
        found,
        [
            ("cpu".to_owned(), vec!["host".to_owned()]),
            (
                "mem".to_owned(),
                vec!["host".to_owned(), "region".to_owned()]
            )
        ]
    );
}

/// A file's rows count in proportion to the part of its time range a scan covers; buffered rows all count.
#[tokio::test]
async fn row_estimates_follow_the_time_range() {
    let f = Fixture::new().await;
    let s = f.open().await;
    // One file of 11 rows over ten hours (one an hour), then 3 buffered rows.
    let rows: Vec<(usize, WriteRow)> = (0..=10)
        .map(|i| (i, row("a", NOW - 10 * HOUR + i as i64 * HOUR, 1, 1.0)))
        .collect();
    s.write(&table(), rows, NOW).await.unwrap();
    s.persist(true).await.unwrap();
    let buffered: Vec<(usize, WriteRow)> = (0..3)
        .map(|i| (i, row("b", NOW - i as i64, 1, 1.0)))
        .collect();
    s.write(&table(), buffered, NOW).await.unwrap();

    let estimate = |from: Option<i64>, to: Option<i64>| {
        let s = &s;
        async move { s.estimate_rows(&table(), from, to).await.unwrap() }
    };
    assert_eq!(estimate(None, None).await, 14);
    // Half the file's range: about half its rows.
    let half = estimate(Some(NOW - 5 * HOUR), None).await;
    assert!((8..=10).contains(&half), "{half}");
    // Outside the file's range: the buffered rows only.
    assert_eq!(estimate(Some(NOW + HOUR), None).await, 3);
}

#[tokio::test]
async fn unpersisted_writes_replay_and_deleted_tables_stay_deleted() {
    let f = Fixture::new().await;
    let s = f.open().await;
    let rows: Vec<_> = (0..50)
        .map(|i| (i as usize, row(&format!("h{i}"), NOW - i, 1, i as f64)))
        .collect();
    s.write(&table(), rows, NOW).await.unwrap();
    drop(s);
    let s = f.open().await;
    assert_eq!(values(&s).await.len(), 50, "replayed from the WAL");

    s.persist(true).await.unwrap();
    f.meta
        .delete_table(&table().scope, "db1", "tbl")
        .await
        .unwrap();
    s.drop_table("t1").await.unwrap();
    assert!(f.meta.files("t1").await.unwrap().is_empty());
    drop(s);
    // Recreated under the same name, the table gets a new id and none of the old rows.
    let mut t2 = table();
    t2.id = "t2".into();
    f.meta.create_table(&t2).await.unwrap();
    let s = f.open().await;
    let snap = s.scan(&t2, None, None).await.unwrap();
    assert!(snap.batches.is_empty() && snap.files.is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        host: u8,
        minute: i64,
        version: i64,
        value: u8,
    },
    Persist,
    Maintain,
    Reopen,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (0u8..3, 0i64..12, 1i64..4, 0u8..4)
            .prop_map(|(host, minute, version, value)| Op::Write { host, minute, version, value }),
        2 => Just(Op::Persist),
        1 => Just(Op::Maintain),
        1 => Just(Op::Reopen),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever mix of buffers, files, compactions and restarts holds the rows, a scan returns exactly the newest
    /// accepted value of every key, once.
    #[test]
    fn scans_return_each_key_once_with_its_newest_value(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let f = Fixture::new().await;
            let mut s = f.open().await;
            let mut model: std::collections::BTreeMap<(u8, i64), f64> = Default::default();
            for op in ops {
                match op {
                    Op::Write { host, minute, version, value } => {
                        let time = NOW - minute * 60_000_000_000;
                        let r = row(&format!("h{host}"), time, version, f64::from(value));
                        let out = s.write(&table(), vec![(0, r)], NOW).await.unwrap();
                        if out.rejected.is_empty() {
                            model.insert((host, time), f64::from(value));
                        }
                    }
                    Op::Persist => s.persist(true).await.unwrap(),
                    Op::Maintain => s.maintain(NOW).await.unwrap(),
                    Op::Reopen => {
                        drop(s);
                        s = f.open().await;
                    }
                }
                let snap = s.scan(&table(), None, None).await.unwrap();
                let mut got: Vec<(String, i64, f64)> = Vec::new();
                for b in s.read_snapshot(&snap).await.unwrap() {
                    let host = b.column_by_name("host").unwrap().as_any()
                        .downcast_ref::<arrow::array::StringArray>().unwrap();
                    let t = b.column_by_name("time").unwrap().as_any()
                        .downcast_ref::<arrow::array::TimestampNanosecondArray>().unwrap();
                    let v = b.column_by_name("measure_value::double").unwrap().as_any()
                        .downcast_ref::<arrow::array::Float64Array>().unwrap();
                    for i in 0..b.num_rows() {
                        got.push((host.value(i).to_owned(), t.value(i), v.value(i)));
                    }
                }
                got.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
                let want: Vec<(String, i64, f64)> =
                    model.iter().map(|((h, t), v)| (format!("h{h}"), *t, *v)).collect();
                assert_eq!(got, want);
            }
        });
    }
}
