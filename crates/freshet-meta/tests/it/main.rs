//! Integration tests of `SqliteStore` through the `MetadataStore` trait.

use freshet_core::{AccessKeyId, AccountId, Region};
use freshet_meta::*;
use proptest::prelude::*;

fn scope(account: &str, region: &str) -> Scope {
    Scope {
        account: AccountId::parse(account).unwrap(),
        region: Region::parse(region).unwrap(),
    }
}

fn db(scope: &Scope, name: &str) -> DatabaseRecord {
    DatabaseRecord {
        scope: scope.clone(),
        name: name.into(),
        arn: format!("arn:db/{name}"),
        kms_key_id: "k".into(),
        created_ms: 1,
        updated_ms: 1,
    }
}

fn table(scope: &Scope, database: &str, name: &str) -> TableRecord {
    TableRecord {
        id: format!("{database}.{name}"),
        scope: scope.clone(),
        database: database.into(),
        name: name.into(),
        arn: format!("arn:db/{database}/table/{name}"),
        status: TableStatus::Active,
        memory_store_hours: 6,
        magnetic_store_days: 73000,
        magnetic_store_write: MagneticStoreWrite {
            enabled: false,
            rejected_data_location: None,
        },
        partition_keys: vec![PartitionKey {
            kind: "MEASURE".into(),
            name: None,
            enforcement: None,
        }],
        created_ms: 2,
        updated_ms: 2,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn schema_survives_reopen_and_refuses_newer_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.sqlite");
    let s = scope("123456789012", "us-east-1");
    rt().block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        store.create_database(&db(&s, "a")).await.unwrap();
    });
    rt().block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.database(&s, "a").await.unwrap().is_some());
    });
    bump_user_version(&path);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("use a newer freshet"), "{err}");
}

fn bump_user_version(path: &std::path::Path) {
    // The SQLite header keeps user_version as a big-endian u32 at byte offset 60.
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(60)).unwrap();
    f.write_all(&999u32.to_be_bytes()).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn databases_are_scoped_paged_and_conflict() {
    rt().block_on(async {
        let store = SqliteStore::in_memory().unwrap();
        let s = scope("123456789012", "us-east-1");
        let other_region = scope("123456789012", "eu-west-1");
        let other_account = scope("210987654321", "us-east-1");
        for name in ["c", "a", "b"] {
            store.create_database(&db(&s, name)).await.unwrap();
        }
        store
            .create_database(&db(&other_region, "a"))
            .await
            .unwrap();
        store
            .create_database(&db(&other_account, "z"))
            .await
            .unwrap();
        assert!(matches!(
            store.create_database(&db(&s, "a")).await,
            Err(Error::Conflict(_))
        ));

        let p1 = store.list_databases(&s, None, 2).await.unwrap();
        assert_eq!(
            p1.items.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(p1.more);
        let p2 = store.list_databases(&s, Some("b"), 2).await.unwrap();
        assert_eq!(
            p2.items.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert!(!p2.more);

        let updated = store.update_database_kms(&s, "a", "new", 9).await.unwrap();
        assert_eq!(
            (
                updated.kms_key_id.as_str(),
                updated.updated_ms,
                updated.created_ms
            ),
            ("new", 9, 1)
        );
        assert!(matches!(
            store.update_database_kms(&s, "nope", "k", 9).await,
            Err(Error::NotFound(_))
        ));
    });
}

#[test]
fn tables_need_their_database_and_block_its_deletion() {
    rt().block_on(async {
        let store = SqliteStore::in_memory().unwrap();
        let s = scope("123456789012", "us-east-1");
        assert!(matches!(
            store.create_table(&table(&s, "db", "t")).await,
            Err(Error::NotFound(_))
        ));
        store.create_database(&db(&s, "db")).await.unwrap();
        store.create_database(&db(&s, "db2")).await.unwrap();
        store.create_table(&table(&s, "db", "t")).await.unwrap();
        store.create_table(&table(&s, "db", "u")).await.unwrap();
        store.create_table(&table(&s, "db2", "a")).await.unwrap();
        assert!(matches!(
            store.create_table(&table(&s, "db", "t")).await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(store.table_count(&s, "db").await.unwrap(), 2);

        let all = store.list_tables(&s, None, None, 10).await.unwrap();
        let names: Vec<_> = all
            .items
            .iter()
            .map(|t| format!("{}.{}", t.database, t.name))
            .collect();
        assert_eq!(names, ["db.t", "db.u", "db2.a"]);
        let after = store
            .list_tables(&s, None, Some(("db", "u")), 10)
            .await
            .unwrap();
        assert_eq!(after.items.len(), 1);
        let only = store
            .list_tables(&s, Some("db"), Some(("db", "t")), 10)
            .await
            .unwrap();
        assert_eq!(only.items[0].name, "u");

        let mut t = store.table(&s, "db", "t").await.unwrap().unwrap();
        assert_eq!(t, table(&s, "db", "t"));
        t.memory_store_hours = 24;
        t.magnetic_store_write.enabled = true;
        t.updated_ms = 5;
        store.update_table(&t).await.unwrap();
        assert_eq!(store.table(&s, "db", "t").await.unwrap().unwrap(), t);

        store
            .tag_resource(
                &t.arn,
                &[Tag {
                    key: "k".into(),
                    value: "v".into(),
                }],
                50,
            )
            .await
            .unwrap();
        assert!(matches!(
            store.delete_database(&s, "db").await,
            Err(Error::NotEmpty(_))
        ));
        store.delete_table(&s, "db", "t").await.unwrap();
        store.delete_table(&s, "db", "u").await.unwrap();
        assert!(matches!(
            store.delete_table(&s, "db", "u").await,
            Err(Error::NotFound(_))
        ));
        assert!(
            store.tags(&t.arn).await.unwrap().is_empty(),
            "tags go with the table"
        );
        store.delete_database(&s, "db").await.unwrap();
        assert!(matches!(
            store.delete_database(&s, "db").await,
            Err(Error::NotFound(_))
        ));
    });
}

#[test]
fn tags_overwrite_remove_and_respect_the_limit() {
    rt().block_on(async {
        let store = SqliteStore::in_memory().unwrap();
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        store
            .tag_resource("arn:x", &[tag("b", "1"), tag("a", "2")], 3)
            .await
            .unwrap();
        store
            .tag_resource("arn:x", &[tag("b", "3")], 3)
            .await
            .unwrap();
        assert_eq!(
            store.tags("arn:x").await.unwrap(),
            vec![tag("a", "2"), tag("b", "3")]
        );
        assert!(matches!(
            store
                .tag_resource("arn:x", &[tag("c", ""), tag("d", "")], 3)
                .await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(
            store.tags("arn:x").await.unwrap().len(),
            2,
            "a refused request changes nothing"
        );
        store
            .untag_resource("arn:x", &["a".into(), "missing".into()])
            .await
            .unwrap();
        assert_eq!(store.tags("arn:x").await.unwrap(), vec![tag("b", "3")]);
    });
}

#[test]
fn access_keys_round_trip_and_record_use() {
    rt().block_on(async {
        let store = SqliteStore::in_memory().unwrap();
        let account = AccountId::parse("123456789012").unwrap();
        store
            .create_account(&AccountRecord {
                id: account.clone(),
                root_email: "root@example.com".into(),
                root_password_hash: "$argon2id$…".into(),
                created_ms: 1,
            })
            .await
            .unwrap();
        let key = AccessKeyRecord {
            id: AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
            account: account.clone(),
            user_name: None,
            sealed_secret: vec![1, 2, 3],
            status: AccessKeyStatus::Active,
            created_ms: 3,
            last_used: None,
        };
        store.create_access_key(&key).await.unwrap();
        assert!(matches!(
            store.create_access_key(&key).await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(store.access_key(&key.id).await.unwrap().unwrap(), key);
        assert_eq!(
            store.access_keys_of(&account, None).await.unwrap(),
            vec![key.clone()]
        );
        assert!(
            store
                .access_keys_of(&account, Some("alice"))
                .await
                .unwrap()
                .is_empty()
        );
        let used = KeyLastUsed {
            at_ms: 7,
            service: "timestream".into(),
            region: "us-east-1".into(),
        };
        store.record_key_use(&key.id, &used).await.unwrap();
        assert_eq!(
            store.access_key(&key.id).await.unwrap().unwrap().last_used,
            Some(used)
        );
        assert_eq!(store.accounts().await.unwrap().len(), 1);
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Paging through databases with any page size yields every name exactly once, in order.
    #[test]
    fn paging_visits_every_database_once(names in proptest::collection::btree_set("[a-z0-9_.-]{3,12}", 0..30), page in 1usize..7) {
        rt().block_on(async {
            let store = SqliteStore::in_memory().unwrap();
            let s = scope("123456789012", "us-east-1");
            for n in &names {
                store.create_database(&db(&s, n)).await.unwrap();
            }
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let p = store.list_databases(&s, after.as_deref(), page).await.unwrap();
                seen.extend(p.items.iter().map(|d| d.name.clone()));
                if !p.more { break; }
                after = seen.last().cloned();
            }
            prop_assert_eq!(seen, names.iter().cloned().collect::<Vec<_>>());
            Ok(())
        })?;
    }
}

#[test]
fn table_schema_and_files_follow_the_table_id() {
    rt().block_on(async {
        let store = SqliteStore::in_memory().unwrap();
        let col = |name: &str, kind, ty: &str, ordinal| ColumnRecord {
            name: name.into(),
            kind,
            data_type: ty.into(),
            ordinal,
        };
        store
            .add_columns(
                "t1",
                &[
                    col("host", ColumnKind::Dimension, "VARCHAR", 0),
                    col("cpu", ColumnKind::MeasureName, "MULTI", 1),
                ],
            )
            .await
            .unwrap();
        store
            .add_columns(
                "t1",
                &[
                    col("host", ColumnKind::Dimension, "VARCHAR", 5),
                    col("usage", ColumnKind::MultiMeasure, "DOUBLE", 2),
                ],
            )
            .await
            .unwrap();
        let cols = store.columns("t1").await.unwrap();
        assert_eq!(
            cols.iter()
                .map(|c| (c.name.as_str(), c.ordinal))
                .collect::<Vec<_>>(),
            [("host", 0), ("cpu", 1), ("usage", 2)]
        );

        let file = |id: &str, min| FileRecord {
            table_id: "t1".into(),
            id: id.into(),
            path: format!("tables/t1/{id}.parquet"),
            min_time: min,
            max_time: min + 10,
            rows: 3,
            bytes: 100,
            level: 0,
            created_ms: 1,
            shadows: id == "b",
            measures: (id == "c").then(|| [("cpu".to_owned(), vec!["host".to_owned()])].into()),
        };
        store
            .replace_files("t1", &[file("b", 20), file("a", 10)], &[])
            .await
            .unwrap();
        store
            .replace_files("t1", &[file("c", 0)], &["a".into()])
            .await
            .unwrap();
        assert_eq!(store.table_ids_with_files().await.unwrap(), ["t1"]);
        let ids: Vec<_> = store
            .files("t1")
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.id, f.shadows))
            .collect();
        assert_eq!(
            ids,
            [("c".into(), false), ("b".into(), true)],
            "ordered by time"
        );
        let measures: Vec<_> = store
            .files("t1")
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.measures)
            .collect();
        assert_eq!(
            measures,
            [
                Some([("cpu".to_owned(), vec!["host".to_owned()])].into()),
                None
            ],
            "a file's measures come back; unknown stays unknown"
        );
        store
            .set_file_measures(
                "t1",
                &[("b".to_owned(), [("mem".to_owned(), vec![])].into())],
            )
            .await
            .unwrap();
        let b = store.files("t1").await.unwrap().pop().unwrap();
        assert_eq!(
            (b.id.as_str(), b.measures),
            ("b", Some([("mem".to_owned(), vec![])].into())),
            "an older file's summary, recorded later"
        );

        let s = scope("123456789012", "us-east-1");
        store.create_database(&db(&s, "db")).await.unwrap();
        store.create_table(&table(&s, "db", "live")).await.unwrap();
        store
            .add_columns("db.live", &[col("x", ColumnKind::Dimension, "VARCHAR", 0)])
            .await
            .unwrap();
        assert_eq!(store.orphaned_table_ids().await.unwrap(), ["t1"]);
        store.forget_table_data("t1").await.unwrap();
        assert!(
            store.files("t1").await.unwrap().is_empty()
                && store.columns("t1").await.unwrap().is_empty()
        );
        assert!(store.orphaned_table_ids().await.unwrap().is_empty());
    });
}
