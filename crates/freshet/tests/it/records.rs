//! WriteRecords and Query through `aws-sdk-timestreamwrite` and `aws-sdk-timestreamquery`: Timestream's write rules,
//! durability across restarts, persistence to data files, and throttling.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_timestreamquery::operation::query::QueryOutput;
use aws_sdk_timestreamquery::types::Datum;
use aws_sdk_timestreamwrite::error::ProvideErrorMetadata;
use aws_sdk_timestreamwrite::operation::write_records::WriteRecordsError;
use aws_sdk_timestreamwrite::types::{
    Dimension, MeasureValue, MeasureValueType, PartitionKey, PartitionKeyEnforcementLevel,
    PartitionKeyType, Record, Schema, TimeUnit,
};

use crate::support::{Server, fixed_env, http_get};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn dim(name: &str, value: &str) -> Dimension {
    Dimension::builder()
        .name(name)
        .value(value)
        .build()
        .unwrap()
}

fn single(host: &str, name: &str, value: &str, t: &str, time_ms: i64) -> Record {
    Record::builder()
        .dimensions(dim("host", host))
        .measure_name(name)
        .measure_value(value)
        .measure_value_type(MeasureValueType::from(t))
        .time(time_ms.to_string())
        .build()
}

async fn setup(server: &Server, db: &str, table: &str) -> aws_sdk_timestreamwrite::Client {
    let w = server.timestream().await;
    w.create_database().database_name(db).send().await.unwrap();
    w.create_table()
        .database_name(db)
        .table_name(table)
        .send()
        .await
        .unwrap();
    w
}

/// A query's answer (its first page).
async fn answer(server: &Server, sql: &str) -> QueryOutput {
    server
        .query()
        .await
        .query()
        .query_string(sql)
        .send()
        .await
        .unwrap()
}

/// An answer's rows as text: each datum's scalar value, or "NULL".
fn texts(out: &QueryOutput) -> Vec<Vec<String>> {
    let text = |d: &Datum| d.scalar_value().unwrap_or("NULL").to_owned();
    out.rows()
        .iter()
        .map(|r| r.data().iter().map(text).collect())
        .collect()
}

/// A query's columns (name and scalar type) and its rows as text.
async fn rows(server: &Server, sql: &str) -> (Vec<(String, String)>, Vec<Vec<String>>) {
    let out = answer(server, sql).await;
    let columns = out
        .column_info()
        .iter()
        .map(|c| {
            let t = c
                .r#type()
                .and_then(|t| t.scalar_type())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            (c.name().unwrap_or_default().to_owned(), t)
        })
        .collect();
    (columns, texts(&out))
}

#[tokio::test]
async fn single_and_multi_measures_come_back_typed() {
    let server = Server::start();
    let w = setup(&server, "iot", "readings").await;
    let t = now_ms();
    let out = w
        .write_records()
        .database_name("iot")
        .table_name("readings")
        .common_attributes(
            Record::builder()
                .dimensions(dim("region", "eu"))
                .time(t.to_string())
                .build(),
        )
        .records(single("a", "temp", "21.5", "DOUBLE", t))
        .records(single("a", "count", "42", "BIGINT", t))
        .records(single("a", "state", "on", "VARCHAR", t))
        .records(single("a", "ok", "true", "BOOLEAN", t))
        .records(
            Record::builder()
                .dimensions(dim("host", "b"))
                .measure_name("stats")
                .measure_value_type(MeasureValueType::Multi)
                .measure_values(
                    MeasureValue::builder()
                        .name("load")
                        .value("0.5")
                        .r#type(MeasureValueType::Double)
                        .build()
                        .unwrap(),
                )
                .measure_values(
                    MeasureValue::builder()
                        .name("seen")
                        .value("1600000000000")
                        .r#type(MeasureValueType::Timestamp)
                        .build()
                        .unwrap(),
                )
                .time_unit(TimeUnit::Milliseconds)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ingested = out.records_ingested().unwrap();
    assert_eq!(
        (
            ingested.total(),
            ingested.memory_store(),
            ingested.magnetic_store()
        ),
        (5, 5, 0)
    );

    let (columns, data) = rows(&server, "SELECT * FROM iot.readings ORDER BY measure_name").await;
    let names: Vec<_> = columns.iter().map(|(n, t)| format!("{n}:{t}")).collect();
    assert_eq!(
        names,
        [
            "host:VARCHAR",
            "region:VARCHAR",
            "measure_name:VARCHAR",
            "time:TIMESTAMP",
            "measure_value::double:DOUBLE",
            "measure_value::bigint:BIGINT",
            "measure_value::varchar:VARCHAR",
            "measure_value::boolean:BOOLEAN",
            "load:DOUBLE",
            "seen:TIMESTAMP"
        ]
    );
    let time_text = |ms: i64| format!(".{:03}000000", ms % 1000);
    assert_eq!(data.len(), 5);
    assert_eq!(
        data[0][2..],
        [
            "count",
            &data[0][3],
            "NULL",
            "42",
            "NULL",
            "NULL",
            "NULL",
            "NULL"
        ]
    );
    assert!(data[0][3].ends_with(&time_text(t)), "{:?}", data[0][3]);
    assert_eq!(data[1][2], "ok");
    assert_eq!(data[1][7], "true");
    assert_eq!(data[2][6], "on");
    assert_eq!(
        data[3][4..],
        [
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "0.5",
            "2020-09-13 12:26:40.000000000"
        ]
    );
    assert_eq!(data[4][4], "21.5");

    let (columns, data) =
        rows(&server, "SELECT host, avg(measure_value::double) FROM iot.readings WHERE measure_name = 'temp' GROUP BY host").await;
    assert_eq!(
        columns[1].0, "_col1",
        "unnamed expressions are named like Trino's"
    );
    assert_eq!(data, [["a", "21.5"]]);
}

#[tokio::test]
async fn versions_upserts_and_partial_success() {
    let server = Server::start();
    let w = setup(&server, "dbx", "tbl").await;
    let t = now_ms();
    let send = |records: Vec<Record>| {
        w.write_records()
            .database_name("dbx")
            .table_name("tbl")
            .set_records(Some(records))
            .send()
    };
    send(vec![single("h", "cpu", "1", "DOUBLE", t)])
        .await
        .unwrap();
    send(vec![single("h", "cpu", "1", "DOUBLE", t)])
        .await
        .expect("an identical re-send is accepted");

    let err = send(vec![
        single("h", "cpu", "2", "DOUBLE", t),
        single("h2", "cpu", "7", "DOUBLE", t),
        single("h", "cpu", "3", "DOUBLE", t - 7 * 3_600_000),
    ])
    .await
    .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(419));
    let WriteRecordsError::RejectedRecordsException(rejected) = err.into_service_error() else {
        panic!("expected RejectedRecordsException")
    };
    let list = rejected.rejected_records();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].record_index(), list[0].existing_version()),
        (0, Some(1))
    );
    assert!(
        list[0]
            .reason()
            .unwrap()
            .starts_with("A record already exists with the same time, dimensions")
    );
    assert_eq!(list[1].record_index(), 2);
    assert!(
        list[1].reason().unwrap().contains("outside the time range"),
        "{:?}",
        list[1].reason()
    );

    let higher = Record::builder()
        .dimensions(dim("host", "h"))
        .measure_name("cpu")
        .measure_value("5")
        .time(t.to_string())
        .version(3)
        .build();
    send(vec![higher]).await.expect("a higher version replaces");
    let lower = Record::builder()
        .dimensions(dim("host", "h"))
        .measure_name("cpu")
        .measure_value("6")
        .time(t.to_string())
        .version(2)
        .build();
    let err = send(vec![lower]).await.unwrap_err().into_service_error();
    let WriteRecordsError::RejectedRecordsException(rejected) = err else {
        panic!("expected rejection")
    };
    assert_eq!(
        rejected.rejected_records()[0].reason(),
        Some(
            "The record version 2 is lower than the existing version 3. A higher version is required to update the measure value."
        )
    );
    assert_eq!(rejected.rejected_records()[0].existing_version(), Some(3));

    let (_, data) = rows(
        &server,
        "SELECT host, measure_value::double FROM dbx.tbl ORDER BY host",
    )
    .await;
    assert_eq!(
        data,
        [["h", "5.0"], ["h2", "7.0"]],
        "the valid record of the rejected batch was written"
    );

    let wrong_type = single("h", "cpu", "9", "BIGINT", t + 1);
    let err = send(vec![wrong_type])
        .await
        .unwrap_err()
        .into_service_error();
    let WriteRecordsError::RejectedRecordsException(rejected) = err else {
        panic!("expected rejection")
    };
    assert!(
        rejected.rejected_records()[0]
            .reason()
            .unwrap()
            .contains("DOUBLE")
    );

    let e = send(vec![single("h", "cpu", "1", "TIMESTAMP", t)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert_eq!(
        e.message(),
        Some("TIMESTAMP is an invalid measure value type")
    );
    let too_many: Vec<Record> = (0..101)
        .map(|i| single("h", "cpu", "1", "DOUBLE", t - i))
        .collect();
    let e = send(too_many).await.unwrap_err();
    assert!(
        e.message()
            .unwrap()
            .ends_with("Member must have length less than or equal to 100"),
        "{:?}",
        e.message()
    );
}

#[tokio::test]
async fn magnetic_writes_and_required_partition_dimensions() {
    let server = Server::start();
    let w = server.timestream().await;
    w.create_database()
        .database_name("dbx")
        .send()
        .await
        .unwrap();
    let magnetic = aws_sdk_timestreamwrite::types::MagneticStoreWriteProperties::builder()
        .enable_magnetic_store_writes(true)
        .build()
        .unwrap();
    w.create_table()
        .database_name("dbx")
        .table_name("old")
        .magnetic_store_write_properties(magnetic)
        .send()
        .await
        .unwrap();
    let required = Schema::builder()
        .composite_partition_key(
            PartitionKey::builder()
                .r#type(PartitionKeyType::Dimension)
                .name("device")
                .enforcement_in_record(PartitionKeyEnforcementLevel::Required)
                .build()
                .unwrap(),
        )
        .build();
    w.create_table()
        .database_name("dbx")
        .table_name("strict")
        .schema(required)
        .send()
        .await
        .unwrap();

    let two_days_ago = now_ms() - 2 * 86_400_000;
    let out = w
        .write_records()
        .database_name("dbx")
        .table_name("old")
        .records(single("h", "cpu", "1", "DOUBLE", two_days_ago))
        .records(single("h", "cpu", "2", "DOUBLE", now_ms()))
        .send()
        .await
        .unwrap();
    let i = out.records_ingested().unwrap();
    assert_eq!((i.total(), i.memory_store(), i.magnetic_store()), (2, 1, 1));

    let err = w
        .write_records()
        .database_name("dbx")
        .table_name("strict")
        .records(single("h", "cpu", "1", "DOUBLE", now_ms()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let WriteRecordsError::RejectedRecordsException(rejected) = err else {
        panic!("expected rejection")
    };
    assert!(
        rejected.rejected_records()[0]
            .reason()
            .unwrap()
            .contains("device")
    );
}

/// A data directory of its own, and settings that persist every write buffer at once (plus `extra`).
fn persisting(
    extra: &[(&'static str, &'static str)],
) -> (tempfile::TempDir, Vec<(&'static str, &'static str)>) {
    let mut env = fixed_env();
    env.push(("FRESHET_PERSIST_AFTER", "1"));
    env.extend_from_slice(extra);
    (tempfile::tempdir().unwrap(), env)
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_and_persisted_files_serve_queries() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let w = setup(&server, "dbx", "tbl").await;
    let t = now_ms();
    for i in 0..5 {
        w.write_records()
            .database_name("dbx")
            .table_name("tbl")
            .records(single(&format!("h{i}"), "cpu", &i.to_string(), "DOUBLE", t))
            .send()
            .await
            .unwrap();
    }
    // Wait for the buffer to be persisted as a data file.
    let objects = dir.path().join("objects");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let parquet_files = || parquet_count(&objects);
    while parquet_files() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no data file was written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // More rows stay in the buffer and the WAL only; then the process dies without warning.
    w.write_records()
        .database_name("dbx")
        .table_name("tbl")
        .records(single("h9", "cpu", "9", "DOUBLE", t))
        .send()
        .await
        .unwrap();
    drop(server); // SIGKILL

    let server = Server::start_in(dir.path(), &env);
    let (_, data) = rows(
        &server,
        "SELECT host, measure_value::double FROM dbx.tbl ORDER BY host",
    )
    .await;
    let hosts: Vec<_> = data.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(hosts, ["h0", "h1", "h2", "h3", "h4", "h9"]);

    // A persisted row still takes part in the version rules.
    let w = server.timestream().await;
    let err = w
        .write_records()
        .database_name("dbx")
        .table_name("tbl")
        .records(single("h0", "cpu", "100", "DOUBLE", t))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, WriteRecordsError::RejectedRecordsException(_)),
        "{err:?}"
    );

    w.delete_table()
        .database_name("dbx")
        .table_name("tbl")
        .send()
        .await
        .unwrap();
    assert_eq!(
        parquet_files(),
        0,
        "deleting a table deletes its data files"
    );
}

/// Creates `sorted.tbl`, partitioned by an optional `host`, and writes 330 rows of `cpu` to it: 300 of ten hosts,
/// out of order, and 30 without a host; waits for them to be persisted, all in one data file. Returns each row's
/// host, time in milliseconds and value.
async fn hosts_in_one_file(
    server: &Server,
    data_dir: &std::path::Path,
) -> Vec<(Option<String>, i64, i64)> {
    let w = server.timestream().await;
    w.create_database()
        .database_name("sorted")
        .send()
        .await
        .unwrap();
    let by_host = Schema::builder()
        .composite_partition_key(
            PartitionKey::builder()
                .r#type(PartitionKeyType::Dimension)
                .name("host")
                .enforcement_in_record(PartitionKeyEnforcementLevel::Optional)
                .build()
                .unwrap(),
        )
        .build();
    w.create_table()
        .database_name("sorted")
        .table_name("tbl")
        .schema(by_host)
        .send()
        .await
        .unwrap();
    let now = now_ms();
    let written: Vec<_> = (0..330i64)
        .map(|k| {
            let host = (k >= 30).then(|| format!("h{}", (k * 31) % 10));
            (host, now - 1_000 * ((k * 7919) % 330), k)
        })
        .collect();
    write_hosts(&w, &written).await;
    let objects = data_dir.join("objects");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while parquet_count(&objects) == 0 {
        assert!(std::time::Instant::now() < deadline, "no data file");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    written
}

/// Writes `rows` (host, time in milliseconds, value) to `sorted.tbl` as `cpu`, 100 records a request; a row without
/// a host has an `az` dimension instead.
async fn write_hosts(w: &aws_sdk_timestreamwrite::Client, rows: &[(Option<String>, i64, i64)]) {
    let records: Vec<Record> = rows
        .iter()
        .map(|(host, time, value)| {
            let dimension = match host {
                Some(h) => dim("host", h),
                None => dim("az", "a"),
            };
            Record::builder()
                .dimensions(dimension)
                .measure_name("cpu")
                .measure_value(value.to_string())
                .measure_value_type(MeasureValueType::Double)
                .time(time.to_string())
                .build()
        })
        .collect();
    for chunk in records.chunks(100) {
        write_all(w, "sorted", "tbl", chunk.to_vec()).await;
    }
}

/// Waits until the physical plan of `sql` has `operator` in it (once the table's rows are all in data files).
async fn until_planned_with(server: &Server, sql: &str, operator: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, plan) = rows(server, &format!("EXPLAIN {sql}")).await;
        let physical = plan
            .iter()
            .find(|r| r[0] == "physical_plan")
            .map(|r| r[1].clone())
            .unwrap();
        if physical.contains(operator) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{physical}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `GROUP BY` that starts with the partition key, over data files sorted by it, looks up each run of a group's
/// rows once (`RunsAggregateExec`), and answers exactly: with the null group, several aggregates (two of them on
/// two arguments), and a second key.
#[tokio::test]
async fn a_group_by_the_partition_key_over_sorted_files_takes_runs() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let mut written = hosts_in_one_file(&server, dir.path()).await;
    runs_answer_exactly(&server, &written).await;
    // The same hosts again, 400 s earlier, in a second data file: a scan of both files reads each host in two runs.
    let w = server.timestream().await;
    let again: Vec<(Option<String>, i64, i64)> = written
        .iter()
        .map(|(host, time, value)| (host.clone(), time - 400_000, value + 1_000))
        .collect();
    write_hosts(&w, &again).await;
    let objects = dir.path().join("objects");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while parquet_count(&objects) < 2 {
        assert!(std::time::Instant::now() < deadline, "no second data file");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    written.extend(again);
    runs_answer_exactly(&server, &written).await;
}

/// Checks `GROUP BY host` and `GROUP BY host, bin(time, 1m)` over `sorted.tbl`, holding the rows `written`, once
/// their plans take runs: exact counts, sums, minimums and `max_by`, and the same averages and groups as
/// DataFusion's own aggregation (when the first key is not a column).
async fn runs_answer_exactly(server: &Server, written: &[(Option<String>, i64, i64)]) {
    let sql = "SELECT host, count(*), sum(measure_value::double), min(to_milliseconds(time)), \
               max_by(measure_value::double, time), avg(measure_value::double) \
               FROM sorted.tbl GROUP BY host ORDER BY host";
    until_planned_with(server, sql, "RunsAggregateExec").await;
    type Groups = std::collections::BTreeMap<(bool, Option<String>), Vec<(i64, i64)>>;
    let mut groups = Groups::default();
    for (host, time, value) in written {
        let key = (host.is_none(), host.clone());
        groups.entry(key).or_default().push((*time, *value));
    }
    let want: Vec<Vec<String>> = groups
        .iter()
        .map(|((_, host), rows)| {
            let count = rows.len() as i64;
            let sum: i64 = rows.iter().map(|r| r.1).sum();
            let first = rows.iter().map(|r| r.0).min().unwrap();
            let latest = rows.iter().max_by_key(|r| r.0).unwrap().1;
            vec![
                host.clone().unwrap_or("NULL".into()),
                count.to_string(),
                format!("{sum}.0"),
                first.to_string(),
                format!("{latest}.0"),
            ]
        })
        .collect();
    let (_, got) = rows(server, sql).await;
    let got_exact: Vec<Vec<String>> = got.iter().map(|r| r[..5].to_vec()).collect();
    assert_eq!(got_exact, want);
    let theirs = sql
        .replace("GROUP BY host", "GROUP BY concat(host, '')")
        .replace("SELECT host,", "SELECT concat(host, '') AS host,");
    let plain = |rows: Vec<Vec<String>>| -> Vec<(String, String)> {
        rows.into_iter()
            .map(|r| (r[1].clone(), r[5].clone()))
            .collect()
    };
    assert_eq!(plain(rows(server, &theirs).await.1), plain(got));

    let by_minute = "SELECT host, bin(time, 1m) AS m, count(*), sum(measure_value::double) \
                     FROM sorted.tbl GROUP BY host, bin(time, 1m) ORDER BY host, m";
    until_planned_with(server, by_minute, "RunsAggregateExec").await;
    let theirs = by_minute.replace("GROUP BY host,", "GROUP BY concat(host, ''), host,");
    let (_, ours) = rows(server, by_minute).await;
    assert_eq!(rows(server, &theirs).await.1, ours);
    let counted: usize = ours.iter().map(|r| r[2].parse::<usize>().unwrap()).sum();
    assert_eq!(counted, written.len());
}

/// Data files are sorted by the partition key's dimension first, with nulls last, and say so: a query ordered by
/// it sorts each host's rows apart (DataFusion's `PartialSortExec`) instead of the whole result, and still answers
/// exactly, whatever the direction and wherever the nulls go.
#[tokio::test]
async fn an_order_by_the_partition_key_sorts_data_files_by_parts() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let expected: Vec<(Option<String>, i64)> = hosts_in_one_file(&server, dir.path())
        .await
        .into_iter()
        .map(|(host, time, _)| (host, time))
        .collect();
    // Every row in one data file (the buffers are persisted as one), none left in memory.
    let sql = |order: &str| {
        format!("SELECT host, to_milliseconds(time) FROM sorted.tbl ORDER BY {order}")
    };
    until_planned_with(&server, &sql("host, time"), "PartialSortExec").await;
    let text = |(host, time): &(Option<String>, i64)| {
        vec![host.clone().unwrap_or("NULL".into()), time.to_string()]
    };
    type ByHost = fn(&Option<String>, &Option<String>) -> std::cmp::Ordering;
    let orders: [(&str, ByHost); 3] = [
        ("host, time", |a, b| (a.is_none(), a).cmp(&(b.is_none(), b))),
        ("host NULLS FIRST, time", |a, b| a.cmp(b)),
        ("host DESC, time", |a, b| {
            (b.is_some(), b).cmp(&(a.is_some(), a))
        }),
    ];
    for (order, by_host) in orders {
        let mut want = expected.clone();
        want.sort_by(|a, b| by_host(&a.0, &b.0).then(a.1.cmp(&b.1)));
        let want: Vec<Vec<String>> = want.iter().map(text).collect();
        let (_, got) = rows(&server, &sql(order)).await;
        assert_eq!(got, want, "ORDER BY {order}");
    }
}

/// Writes 100 rows three hours old and 100 a minute old to `<db>.tbl`, each batch persisted to a data file of its
/// own; returns the time the rows were written relative to, in milliseconds.
async fn two_persisted_files(server: &Server, data_dir: &std::path::Path, db: &str) -> i64 {
    let w = setup(server, db, "tbl").await;
    let objects = data_dir.join("objects");
    let now = now_ms();
    let (old, new) = (now - 3 * 3_600_000, now - 60_000);
    for (i, base) in [old, new].into_iter().enumerate() {
        let records: Vec<Record> = (0..100)
            .map(|k| single(&format!("h{k}"), "cpu", &k.to_string(), "DOUBLE", base + k))
            .collect();
        w.write_records()
            .database_name(db)
            .table_name("tbl")
            .set_records(Some(records))
            .send()
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while parquet_count(&objects) <= i {
            assert!(std::time::Instant::now() < deadline, "no data file");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    now
}

/// Filters on `time` decide which buffers and data files a query reads: a query for the last hour reads only the
/// newer of two persisted files, which shows in `QueryStatus.CumulativeBytesScanned`, and still answers exactly.
#[tokio::test]
async fn time_filters_prune_data_files() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let now = two_persisted_files(&server, dir.path(), "prune").await;

    let q = server.query().await;
    let run = |sql: String| {
        let q = q.clone();
        async move {
            let out = q.query().query_string(sql).send().await.unwrap();
            let count = out.rows()[0].data()[0].scalar_value().unwrap().to_owned();
            let scanned = out.query_status().unwrap().cumulative_bytes_scanned();
            (count, scanned)
        }
    };
    let cutoff = freshet_core::Civil::from_nanos((now - 3_600_000) * 1_000_000).format(' ');
    let (all, all_bytes) = run("SELECT count(*) FROM prune.tbl".into()).await;
    let (recent, recent_bytes) = run(format!(
        "SELECT count(*) FROM prune.tbl WHERE time >= TIMESTAMP '{cutoff}'"
    ))
    .await;
    let (between, _) = run(format!(
        "SELECT count(*) FROM prune.tbl WHERE time BETWEEN TIMESTAMP '{cutoff}' AND now()"
    ))
    .await;
    assert_eq!(
        (all.as_str(), recent.as_str(), between.as_str()),
        ("200", "100", "100")
    );
    // One file of two, and the two differ by a few bytes of compression.
    assert!(
        recent_bytes > 0 && recent_bytes * 10 <= all_bytes * 6,
        "a query for the last hour read {recent_bytes} bytes, the whole table {all_bytes}"
    );
}

/// A query estimated to read few rows runs on one partition: its plan has no repartitioning, which on a machine
/// with more than one core DataFusion would add for a GROUP BY. Its answer is the same.
#[tokio::test]
async fn small_queries_run_on_one_partition() {
    let server = Server::start();
    let w = setup(&server, "small", "tbl").await;
    let now = now_ms();
    let records: Vec<Record> = (0..100)
        .map(|k| {
            single(
                &format!("h{}", k % 10),
                "cpu",
                &k.to_string(),
                "DOUBLE",
                now - k,
            )
        })
        .collect();
    w.write_records()
        .database_name("small")
        .table_name("tbl")
        .set_records(Some(records))
        .send()
        .await
        .unwrap();
    let sql = "SELECT host, count(*) FROM small.tbl GROUP BY host ORDER BY host";
    let (_, plan) = rows(&server, &format!("EXPLAIN {sql}")).await;
    let physical = plan
        .iter()
        .find(|r| r[0] == "physical_plan")
        .map(|r| r[1].clone())
        .unwrap();
    assert!(physical.contains("AggregateExec"), "{physical}");
    assert!(!physical.contains("RepartitionExec"), "{physical}");
    let (_, counts) = rows(&server, sql).await;
    assert_eq!(counts.len(), 10);
    assert!(counts.iter().all(|r| r[1] == "10"), "{counts:?}");
}

/// `freshet_query_plans_reused_total` from the server's metrics.
fn plans_reused(server: &Server) -> u64 {
    metric(server, "freshet_query_plans_reused_total")
}

fn physical_plans_reused(server: &Server) -> u64 {
    metric(server, "freshet_query_physical_plans_reused_total")
}

/// A counter's or gauge's value from the server's metrics.
fn metric(server: &Server, name: &str) -> u64 {
    let (_, metrics) = http_get(&server.url, "/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .parse()
        .unwrap()
}

/// A query's rows and the bytes it scanned.
async fn rows_and_bytes(server: &Server, sql: &str) -> (Vec<Vec<String>>, i64) {
    let out = answer(server, sql).await;
    let bytes = out.query_status().unwrap().cumulative_bytes_scanned();
    (texts(&out), bytes)
}

/// Runs `sql` until a run uses the physical plan of the one before (once the table's rows are all in data files),
/// and returns that run's rows and bytes.
async fn until_physical_plan_reused(server: &Server, sql: &str) -> (Vec<Vec<String>>, i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let before = physical_plans_reused(server);
        let out = rows_and_bytes(server, sql).await;
        if physical_plans_reused(server) > before {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} never ran its physical plan again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `QueryInsights`: a query's tables, its time range, the share of its partition key's values it reads, and its
/// result's rows, on the page of a query that has ended; at most one such query a second; none without it.
#[tokio::test]
async fn query_insights_tell_tables_time_range_and_partition_key_coverage() {
    use aws_sdk_timestreamquery::types::{QueryInsights, QueryInsightsMode};
    let server = Server::start();
    let w = setup(&server, "ins", "tbl").await;
    let now = now_ms();
    let records = (0..10)
        .map(|i| {
            let measure = if i % 2 == 0 { "cpu" } else { "mem" };
            single(
                &format!("h{i}"),
                measure,
                &i.to_string(),
                "DOUBLE",
                now - 1_000 + i,
            )
        })
        .collect();
    write_all(&w, "ins", "tbl", records).await;
    let arn = w
        .describe_table()
        .database_name("ins")
        .table_name("tbl")
        .send()
        .await
        .unwrap()
        .table()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let q = server.query().await;
    let enabled = QueryInsights::builder()
        .mode(QueryInsightsMode::EnabledWithRateControl)
        .build()
        .unwrap();
    let with_insights = |sql: &str| {
        q.query()
            .query_string(sql)
            .query_insights(enabled.clone())
            .send()
    };

    let out = with_insights("SELECT host FROM ins.tbl WHERE time >= ago(1h)")
        .await
        .unwrap();
    assert_eq!(out.rows().len(), 10);
    let insights = out
        .query_insights_response()
        .expect("QueryInsightsResponse");
    assert_eq!(insights.query_table_count(), Some(1));
    assert_eq!(insights.output_rows(), Some(10));
    assert!(insights.output_bytes().unwrap_or_default() > 0);
    let temporal = insights.query_temporal_range().unwrap().max().unwrap();
    assert_eq!(temporal.table_arn(), Some(arn.as_str()));
    let hour = 3_600_000_000_000i64;
    let range = temporal.value();
    assert!((hour..hour + 60_000_000_000).contains(&range), "{range}");
    let spatial = insights.query_spatial_coverage().unwrap().max().unwrap();
    assert_eq!(spatial.value(), 1.0);
    assert_eq!(spatial.table_arn(), Some(arn.as_str()));
    assert_eq!(spatial.partition_key(), ["measure_name"]);

    // Of two queries at once, one is throttled.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (a, b) = tokio::join!(with_insights("SELECT 1"), with_insights("SELECT 2"));
    let err = match (a, b) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        (a, b) => panic!("one of two should be throttled: {a:?} {b:?}"),
    };
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));

    // One of the two measure names, over a bounded time range.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let sql = format!(
        "SELECT count(*) FROM ins.tbl WHERE measure_name = 'cpu' \
         AND time BETWEEN from_milliseconds({}) AND from_milliseconds({})",
        now - 60_000,
        now
    );
    let out = with_insights(&sql).await.unwrap();
    assert_eq!(texts(&out), [["5"]]);
    let insights = out.query_insights_response().unwrap();
    assert_eq!(insights.output_rows(), Some(1));
    let spatial = insights.query_spatial_coverage().unwrap().max().unwrap();
    assert_eq!(spatial.value(), 0.5);
    let temporal = insights.query_temporal_range().unwrap().max().unwrap();
    assert_eq!(temporal.value(), 60_000_000_000);

    // Without QueryInsights, no QueryInsightsResponse.
    let out = q.query().query_string(&sql).send().await.unwrap();
    assert!(out.query_insights_response().is_none());
}

/// A query reads each data file it scans into memory once, and later queries read it there: the kept bytes are the
/// file's size on disk. A server that keeps no files answers the same.
#[tokio::test]
async fn queries_read_a_data_file_into_memory_once() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let w = setup(&server, "kept", "tbl").await;
    let now = now_ms();
    let records = (0..50)
        .map(|i| {
            let host = format!("h{}", i % 5);
            single(&host, "cpu", &i.to_string(), "DOUBLE", now - 1000 + i)
        })
        .collect();
    write_all(&w, "kept", "tbl", records).await;
    let sql = "SELECT host, count(*), sum(measure_value::double) FROM kept.tbl GROUP BY host ORDER BY host";
    let expected: Vec<Vec<String>> = (0..5)
        .map(|h| {
            let sum: i64 = (0..50).filter(|i| i % 5 == h).sum();
            vec![format!("h{h}"), "10".into(), format!("{sum}.0")]
        })
        .collect();
    // Once the rows are all in the data file, that file is read from disk once.
    assert_eq!(until_physical_plan_reused(&server, sql).await.0, expected);
    let objects = dir.path().join("objects");
    let files = parquet_files(&objects);
    assert_eq!(files.len(), 1, "{files:?}");
    let size = std::fs::metadata(&files[0]).unwrap().len();
    let kept = |server: &Server| {
        (
            metric(server, "freshet_query_file_cache_loads_total"),
            metric(server, "freshet_query_file_cache_bytes"),
        )
    };
    assert_eq!(kept(&server), (1, size));
    for _ in 0..3 {
        assert_eq!(rows(&server, sql).await.1, expected);
    }
    assert_eq!(kept(&server), (1, size), "the kept file is read again");
    drop(server);

    let mut env = env;
    env.push(("FRESHET_QUERY_FILE_CACHE_BYTES", "0"));
    let server = Server::start_in(dir.path(), &env);
    for _ in 0..2 {
        assert_eq!(rows(&server, sql).await.1, expected);
    }
    assert_eq!(kept(&server), (0, 0));
}

/// Once a table's rows are all in data files, a repeated query runs the physical plan of its last run again, and
/// scans the same bytes. Rows written since (in memory, then in a new file) make it plan again, and it reads them.
/// A query with a TopK, whose dynamic filter carries one run's state, is always planned again.
#[tokio::test]
async fn physical_plans_run_again_only_while_the_table_s_files_are_the_same() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let w = setup(&server, "phys", "tbl").await;
    let now = now_ms();
    let write = |records: Vec<Record>| write_all(&w, "phys", "tbl", records);
    write(
        (0..5)
            .map(|i| {
                single(
                    &format!("h{i}"),
                    "cpu",
                    &i.to_string(),
                    "DOUBLE",
                    now - 100 + i,
                )
            })
            .collect(),
    )
    .await;
    let sum = format!(
        "SELECT measure_name, count(*), sum(measure_value::double) FROM phys.tbl \
         WHERE time >= from_milliseconds({}) GROUP BY measure_name ORDER BY measure_name",
        now - 1000
    );
    let (first, bytes) = until_physical_plan_reused(&server, &sum).await;
    assert_eq!(first, [["cpu", "5", "10.0"]]);
    assert!(bytes > 0);
    // Later runs run it again, and it is planned again every 8 runs (a plan's scans gather metrics with each run).
    let reused = physical_plans_reused(&server);
    for _ in 0..16 {
        assert_eq!(rows_and_bytes(&server, &sum).await, (first.clone(), bytes));
    }
    let runs_again = physical_plans_reused(&server) - reused;
    assert!((13..=14).contains(&runs_again), "{runs_again} of 16");
    // Planned afresh (the SQL differs), the same query scans the same bytes.
    let planned = rows_and_bytes(&server, &sum.replace("GROUP", "AND 1 = 1 GROUP")).await;
    assert_eq!(planned, (first.clone(), bytes));

    // A new row is in memory: the query is planned again and reads it.
    let reused = physical_plans_reused(&server);
    write(vec![single("h9", "cpu", "5", "DOUBLE", now - 1)]).await;
    assert_eq!(
        rows_and_bytes(&server, &sum).await.0,
        [["cpu", "6", "15.0"]]
    );
    assert_eq!(physical_plans_reused(&server), reused);
    // Once it is in a data file too, the plan is made for the new files, then run again.
    let (again, more_bytes) = until_physical_plan_reused(&server, &sum).await;
    assert_eq!(again, [["cpu", "6", "15.0"]]);
    assert!(more_bytes > bytes, "{more_bytes} after {bytes}");

    let top =
        "SELECT measure_value::double FROM phys.tbl ORDER BY measure_value::double DESC LIMIT 2";
    let reused = physical_plans_reused(&server);
    for _ in 0..3 {
        assert_eq!(rows(&server, top).await.1, [["5.0"], ["4.0"]]);
    }
    assert_eq!(physical_plans_reused(&server), reused);
}

/// The same SQL run again reuses its optimized plan, and still reads the rows written since, the columns of new
/// measures and the current time. A table dropped and created again under its name is planned again.
#[tokio::test]
async fn repeated_queries_reuse_their_plan_and_see_what_changed() {
    let server = Server::start();
    let w = setup(&server, "again", "tbl").await;
    let now = now_ms();
    let write = |records: Vec<Record>| write_all(&w, "again", "tbl", records);
    write(vec![single("h1", "cpu", "1", "DOUBLE", now - 10)]).await;
    let count =
        "SELECT count(*), sum(measure_value::double) FROM again.tbl WHERE measure_name = 'cpu'";
    assert_eq!(rows(&server, count).await.1, [["1", "1.0"]]);
    assert_eq!(plans_reused(&server), 0);
    write(vec![single("h2", "cpu", "2.5", "DOUBLE", now - 5)]).await;
    assert_eq!(rows(&server, count).await.1, [["2", "3.5"]]);
    assert_eq!(plans_reused(&server), 1);

    // A BIGINT measure adds a column: the kept plan of `SELECT *` no longer fits the table.
    let star = "SELECT * FROM again.tbl ORDER BY time";
    assert_eq!(rows(&server, star).await.0.len(), 4);
    write(vec![single("h1", "mem", "7", "BIGINT", now - 1)]).await;
    let (columns, data) = rows(&server, star).await;
    assert_eq!(columns.len(), 5, "{columns:?}");
    assert_eq!(data.len(), 3);
    assert_eq!(plans_reused(&server), 1);
    assert_eq!(rows(&server, star).await.1, data);
    assert_eq!(plans_reused(&server), 2);

    // now() is the time of each run, never the first run's.
    let clock = "SELECT to_nanoseconds(now()), ago(1s) < now()";
    let first = rows(&server, clock).await.1;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = rows(&server, clock).await.1;
    assert!(second[0][0].parse::<i64>().unwrap() > first[0][0].parse::<i64>().unwrap());
    assert_eq!(plans_reused(&server), 2);

    w.delete_table()
        .database_name("again")
        .table_name("tbl")
        .send()
        .await
        .unwrap();
    w.create_table()
        .database_name("again")
        .table_name("tbl")
        .send()
        .await
        .unwrap();
    write(vec![single("h3", "cpu", "4", "DOUBLE", now)]).await;
    assert_eq!(rows(&server, count).await.1, [["1", "4.0"]]);
    assert_eq!(plans_reused(&server), 2);
}

/// Writes `records` into `db.table`; the write must succeed.
async fn write_all(
    w: &aws_sdk_timestreamwrite::Client,
    db: &str,
    table: &str,
    records: Vec<Record>,
) {
    w.write_records()
        .database_name(db)
        .table_name(table)
        .set_records(Some(records))
        .send()
        .await
        .unwrap();
}

/// `SHOW MEASURES FROM meas.tbl` as (measure, its dimensions' names).
async fn measure_dimensions(server: &Server) -> Vec<(String, Vec<String>)> {
    let out = server
        .query()
        .await
        .query()
        .query_string("SHOW MEASURES FROM meas.tbl")
        .send()
        .await
        .unwrap();
    out.rows()
        .iter()
        .map(|r| {
            let dims: Vec<String> = r.data()[2]
                .array_value()
                .iter()
                .map(|d| {
                    d.row_value().unwrap().data()[0]
                        .scalar_value()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            (r.data()[0].scalar_value().unwrap().to_owned(), dims)
        })
        .collect()
}

/// `SHOW MEASURES` lists each measure's own dimensions: from the data files' summaries and the buffered series, and
/// (the same answer) by reading the files once when they have no summary, as files written by older versions.
#[tokio::test]
async fn show_measures_knows_each_measure_s_dimensions_without_reading_rows() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let w = setup(&server, "meas", "tbl").await;
    let now = now_ms();
    let write = |records: Vec<Record>| write_all(&w, "meas", "tbl", records);
    let with_region = |name: &str, k: i64| {
        Record::builder()
            .dimensions(dim("host", "h1"))
            .dimensions(dim("region", "eu"))
            .measure_name(name)
            .measure_value(k.to_string())
            .measure_value_type(MeasureValueType::Bigint)
            .time((now - k).to_string())
            .build()
    };
    write(
        (0..10)
            .map(|k| single("h1", "cpu", "1.5", "DOUBLE", now - k))
            .collect(),
    )
    .await;
    write((0..10).map(|k| with_region("mem", k)).collect()).await;
    let objects = dir.path().join("objects");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while parquet_count(&objects) == 0 {
        assert!(std::time::Instant::now() < deadline, "no data file");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One more measure, likely still buffered when asked about.
    write(vec![with_region("disk", 0)]).await;

    let expected = vec![
        ("cpu".to_owned(), vec!["host".to_owned()]),
        (
            "disk".to_owned(),
            vec!["host".to_owned(), "region".to_owned()],
        ),
        (
            "mem".to_owned(),
            vec!["host".to_owned(), "region".to_owned()],
        ),
    ];
    assert_eq!(measure_dimensions(&server).await, expected);

    // As if written before summaries were kept: the files' records lose theirs.
    assert!(server.stop().success());
    use freshet_meta::MetadataStore;
    let scope = freshet_meta::Scope {
        account: freshet_core::AccountId::parse("123456789012").unwrap(),
        region: freshet_core::Region::parse("us-east-1").unwrap(),
    };
    {
        let meta = freshet_meta::SqliteStore::open(&dir.path().join("metadata.sqlite")).unwrap();
        let table = meta.table(&scope, "meas", "tbl").await.unwrap().unwrap();
        let files = meta.files(&table.id).await.unwrap();
        assert!(!files.is_empty() && files.iter().all(|f| f.measures.is_some()));
        let ids: Vec<String> = files.iter().map(|f| f.id.clone()).collect();
        let older: Vec<_> = files
            .into_iter()
            .map(|f| freshet_meta::FileRecord {
                measures: None,
                id: format!("{}old", f.id),
                ..f
            })
            .collect();
        meta.replace_files(&table.id, &older, &ids).await.unwrap();
    }
    let server = Server::start_in(dir.path(), &env);
    assert_eq!(measure_dimensions(&server).await, expected);
    // The summaries were read from the files once, and recorded.
    assert!(server.stop().success());
    let meta = freshet_meta::SqliteStore::open(&dir.path().join("metadata.sqlite")).unwrap();
    let table = meta.table(&scope, "meas", "tbl").await.unwrap().unwrap();
    let files = meta.files(&table.id).await.unwrap();
    assert!(!files.is_empty() && files.iter().all(|f| f.measures.is_some()));
}

/// `PrepareQuery` with `ValidateOnly` checks a query and describes its columns without running it.
#[tokio::test]
async fn prepare_query_validates_and_describes_columns() {
    let server = Server::start();
    let w = setup(&server, "prep", "tbl").await;
    w.write_records()
        .database_name("prep")
        .table_name("tbl")
        .records(single("a", "cpu", "1.5", "DOUBLE", now_ms()))
        .send()
        .await
        .unwrap();
    let q = server.query().await;
    let sql = "SELECT host, measure_value::double AS v, count(*) FROM prep.tbl GROUP BY 1, 2";
    let out = q
        .prepare_query()
        .query_string(sql)
        .validate_only(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.query_string(), sql);
    assert!(out.parameters().is_empty());
    let columns: Vec<_> = out
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().unwrap_or_default().to_owned(),
                c.r#type()
                    .and_then(|t| t.scalar_type())
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                c.database_name().map(str::to_owned),
                c.table_name().map(str::to_owned),
                c.aliased(),
            )
        })
        .collect();
    let col = |n: &str, t: &str, source: bool, aliased: bool| {
        (
            n.to_owned(),
            t.to_owned(),
            source.then(|| "prep".to_owned()),
            source.then(|| "tbl".to_owned()),
            Some(aliased),
        )
    };
    assert_eq!(
        columns,
        [
            col("host", "VARCHAR", true, false),
            col("v", "DOUBLE", false, true),
            col("_col2", "BIGINT", false, false),
        ]
    );

    let err = q
        .prepare_query()
        .query_string(sql)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = q
        .prepare_query()
        .query_string("SELECT * FROM prep.nope")
        .validate_only(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.meta()
            .message()
            .is_some_and(|m| m.contains("Requested table 'nope' not found")),
        "{err:?}"
    );
}

/// Queries read data files through DataFusion's Parquet reader: the answers match the rows written, whether they
/// sit in an older file without a later column, in a newer file, or in the buffer as an upsert of a persisted row,
/// and again after a restart, when the engine no longer knows which files overlap.
#[tokio::test]
async fn files_of_older_schemas_and_upserts_of_persisted_rows_answer_exactly() {
    let (dir, env) = persisting(&[]);
    let server = Server::start_in(dir.path(), &env);
    let w = setup(&server, "files", "tbl").await;
    let objects = dir.path().join("objects");
    let parquet_files = || parquet_count(&objects);
    let base = now_ms() - 600_000;
    let measure = |name: &str, value: String, t: MeasureValueType| {
        MeasureValue::builder()
            .name(name)
            .value(value)
            .r#type(t)
            .build()
            .unwrap()
    };
    let record = |host: usize, k: i64, measures: Vec<MeasureValue>, version: i64| {
        Record::builder()
            .dimensions(dim("host", &format!("h{host}")))
            .dimensions(dim(
                "region",
                if host.is_multiple_of(2) {
                    "east"
                } else {
                    "west"
                },
            ))
            .measure_name("m")
            .measure_value_type(MeasureValueType::Multi)
            .set_measure_values(Some(measures))
            .time((base + k * 1000).to_string())
            .version(version)
            .build()
    };
    // File 1: column a only. File 2 (later times): columns a and b.
    for (round, with_b) in [(0i64, false), (1, true)] {
        let records: Vec<Record> = (0..4)
            .flat_map(|host| (0..25).map(move |k| (host, round * 100 + k)))
            .map(|(host, k)| {
                let mut m = vec![measure(
                    "a",
                    format!("{}.5", k + host as i64),
                    MeasureValueType::Double,
                )];
                if with_b {
                    m.push(measure("b", (k * 10).to_string(), MeasureValueType::Bigint));
                }
                record(host, k, m, 1)
            })
            .collect();
        for chunk in records.chunks(100) {
            w.write_records()
                .database_name("files")
                .table_name("tbl")
                .set_records(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while parquet_files() <= round as usize {
            assert!(std::time::Instant::now() < deadline, "no data file");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // An upsert of a persisted row of file 1 stays in the buffer, with a higher version.
    w.write_records()
        .database_name("files")
        .table_name("tbl")
        .records(record(
            2,
            7,
            vec![measure("a", "-1".into(), MeasureValueType::Double)],
            2,
        ))
        .send()
        .await
        .unwrap();

    async fn check(server: &Server) {
        {
            let (_, data) = rows(server, "SELECT count(*), count(b), sum(a) FROM files.tbl").await;
            // sum over both rounds of k + host + 0.5, minus the upserted 9.5, plus its new -1.
            let sum: f64 = (0..4)
                .flat_map(|h| (0..25).flat_map(move |k| [k + h, 100 + k + h]))
                .map(|v| v as f64 + 0.5)
                .sum::<f64>()
                - 9.5
                - 1.0;
            assert_eq!(data, [["200", "100", &sum.to_string()]]);
            // No column at all is read for this one, yet contested rows must still be skipped.
            let (_, data) = rows(server, "SELECT count(*) FROM files.tbl").await;
            assert_eq!(data, [["200"]]);
            let (_, data) = rows(
                server,
                "SELECT time, a, b FROM files.tbl WHERE host = 'h2' AND region = 'east' AND a < 10 ORDER BY time",
            )
            .await;
            let a: Vec<&str> = data.iter().map(|r| r[1].as_str()).collect();
            assert_eq!(a, ["2.5", "3.5", "4.5", "5.5", "6.5", "7.5", "8.5", "-1.0"]);
            assert!(data.iter().all(|r| r[2] == "NULL"), "{data:?}");
            let (_, data) = rows(
                server,
                "SELECT host, max(b) FROM files.tbl WHERE b >= 1200 GROUP BY host ORDER BY host",
            )
            .await;
            assert_eq!(
                data,
                [
                    ["h0", "1240"],
                    ["h1", "1240"],
                    ["h2", "1240"],
                    ["h3", "1240"]
                ]
            );
        }
    }
    check(&server).await;
    drop(server);
    let server = Server::start_in(dir.path(), &env);
    check(&server).await;
}

#[tokio::test]
async fn writes_are_throttled_when_the_buffer_is_full() {
    let server = Server::start_with(&[
        ("FRESHET_WRITE_BUFFER_LIMIT", "1"),
        ("FRESHET_PERSIST_AFTER", "1"),
    ]);
    let w = setup(&server, "dbx", "tbl").await;
    let t = now_ms();
    let write = |i: i64| {
        w.write_records()
            .database_name("dbx")
            .table_name("tbl")
            .records(single("h", "cpu", "1", "DOUBLE", t + i))
            .send()
    };
    write(0).await.unwrap();
    let e = write(1).await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert_eq!(e.code(), Some("ThrottlingException"));
    // Once the buffer is persisted, writes are accepted again; nothing acknowledged was lost.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while write(2).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "writes stayed throttled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, data) = rows(&server, "SELECT count(*) FROM dbx.tbl").await;
    assert_eq!(data, [["2"]]);
}

fn parquet_count(dir: &std::path::Path) -> usize {
    parquet_files(dir).len()
}

/// The Parquet files under `dir`.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The answer to `sql` asked again with the token of the answer before (a running query's poll, or its next page).
async fn poll(q: &aws_sdk_timestreamquery::Client, sql: &str, before: &QueryOutput) -> QueryOutput {
    q.query()
        .query_string(sql)
        .set_next_token(before.next_token().map(str::to_owned))
        .send()
        .await
        .unwrap()
}

/// A query that outlasts its call's wait is answered with a NextToken and no rows, then polled to its result; a
/// cancelled query's token is a ConflictException. (The Rust SDK has no paginator for Query; boto3's and the CLI's
/// are tested in the compatibility suite.)
#[tokio::test]
async fn long_queries_answer_with_a_token_to_poll() {
    let server = Server::start_with(&[("FRESHET_QUERY_WAIT_MS", "1")]);
    let q = server.query().await;
    let sql = "SELECT count(*) FROM (SELECT * FROM UNNEST(sequence(1, 10000)) AS a(x)) \
               CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 3000)) AS b(y))";
    let first = q.query().query_string(sql).send().await.unwrap();
    assert!(first.rows().is_empty());
    assert_eq!(
        first.column_info().len(),
        1,
        "the columns come with the first answer"
    );
    assert_eq!(
        first.query_status().map(|s| s.progress_percentage()),
        Some(0.0)
    );
    let mut out = first.clone();
    for _ in 0..10_000 {
        out = poll(&q, sql, &out).await;
        if !out.rows().is_empty() {
            break;
        }
    }
    let value = |rows: &[aws_sdk_timestreamquery::types::Row]| {
        rows.first()
            .and_then(|r| r.data().first())
            .and_then(Datum::scalar_value)
            .map(str::to_owned)
    };
    assert_eq!(value(out.rows()).as_deref(), Some("30000000"));
    assert!(out.next_token().is_none());

    let running = q.query().query_string(sql).send().await.unwrap();
    q.cancel_query()
        .query_id(running.query_id())
        .send()
        .await
        .unwrap();
    let err = q
        .query()
        .query_string(sql)
        .set_next_token(running.next_token().map(str::to_owned))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conflict_exception(), "{err:?}");
}

/// 10^12 rows: hours of work.
const ENDLESS: &str = "SELECT count(*) FROM (SELECT * FROM UNNEST(sequence(1, 10000)) AS a(x)) \
                       CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 10000)) AS b(y)) \
                       CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 10000)) AS c(z))";

/// A query that runs past `--query-timeout-ms` is stopped: the poll after it gets Trino's QueryExecutionException,
/// its work ends, and the server answers other queries as before.
#[tokio::test]
async fn queries_stop_at_their_time_limit() {
    let server = Server::start_with(&[
        ("FRESHET_QUERY_WAIT_MS", "1"),
        ("FRESHET_QUERY_TIMEOUT_MS", "300"),
    ]);
    let q = server.query().await;
    let sql = ENDLESS;
    let started = std::time::Instant::now();
    let mut out = q.query().query_string(sql).send().await.unwrap();
    let err = loop {
        match q
            .query()
            .query_string(sql)
            .set_next_token(out.next_token().map(str::to_owned))
            .send()
            .await
        {
            Ok(next) => {
                assert!(next.rows().is_empty(), "{next:?}");
                out = next;
            }
            Err(e) => break e.into_service_error(),
        }
    };
    assert!(err.is_query_execution_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some("Query exceeded maximum time limit of 300.00ms")
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    server.assert_idle();
    let mut quick = q.query().query_string("SELECT 1").send().await.unwrap();
    while quick.rows().is_empty() {
        quick = poll(&q, "SELECT 1", &quick).await;
    }
    assert_eq!(quick.rows()[0].data()[0].scalar_value(), Some("1"));
}

/// A query past its time limit after its first page has been answered fails on a later page, with the same error,
/// once the rows it gave before are read; its work ends. (The rows with `y = 1` come first, at once; then one in a
/// thousand of 10^9 combinations: longer than the limit in a debug build.)
#[tokio::test]
async fn queries_past_their_time_limit_after_the_first_page_fail_on_a_later_page() {
    let server = Server::start_with(&[("FRESHET_QUERY_TIMEOUT_MS", "3000")]);
    let q = server.query().await;
    let sql = "SELECT a.x, bc.y, bc.z FROM (SELECT * FROM UNNEST(sequence(1, 10)) AS a(x)) \
               CROSS JOIN (SELECT b.y, c.z FROM UNNEST(sequence(1, 10000)) AS b(y) \
                           CROSS JOIN UNNEST(sequence(1, 10000)) AS c(z)) AS bc \
               WHERE bc.y = 1 OR (a.x * 7 + bc.y * 13 + bc.z) % 1000 = 0";
    let mut token = None;
    let mut rows = 0;
    let err = loop {
        match q
            .query()
            .query_string(sql)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(next) => {
                rows += next.rows().len();
                token = next.next_token().map(str::to_owned);
                assert!(token.is_some(), "the query ended after {rows} rows");
            }
            Err(e) => break e.into_service_error(),
        }
    };
    assert!(err.is_query_execution_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some("Query exceeded maximum time limit of 3.00s")
    );
    assert!(rows > 0, "no page came before the limit");
    assert!(rows < 1_100_000, "{rows} rows, all of the result");
    server.assert_idle();
}

/// A query whose result outgrows `--query-result-limit-bytes` fails with a QueryExecutionException instead of
/// filling the server's memory; smaller results are answered as before.
#[tokio::test]
async fn results_past_the_limit_fail() {
    let server = Server::start_with(&[("FRESHET_QUERY_RESULT_LIMIT_BYTES", "100000")]);
    let q = server.query().await;
    // A million rows, 8 MB of bigints at the least.
    let big = "SELECT x, y FROM UNNEST(sequence(1, 10000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 100)) AS b(y)";
    let err = q
        .query()
        .query_string(big)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_query_execution_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some("Query aborted as its result exceeded 100000 bytes, the most a result may hold")
    );
    let small = answer(
        &server,
        "SELECT count(*) FROM UNNEST(sequence(1, 10000)) AS a(x)",
    )
    .await;
    assert_eq!(texts(&small), [["10000"]]);
}

/// CancelQuery stops the query's work, not only its answers.
#[tokio::test]
async fn cancelled_queries_stop_working() {
    let server = Server::start_with(&[("FRESHET_QUERY_WAIT_MS", "1")]);
    let q = server.query().await;
    let running = q.query().query_string(ENDLESS).send().await.unwrap();
    assert!(running.rows().is_empty(), "{running:?}");
    q.cancel_query()
        .query_id(running.query_id())
        .send()
        .await
        .unwrap();
    server.assert_idle();
}

/// A query's first page is answered as soon as its rows are there, while the query runs on: here, the first
/// thousand of a million rows, one in a thousand of 10^9 combinations. Cancelling it then stops its work.
#[tokio::test]
async fn first_pages_come_while_the_query_runs_and_cancelling_stops_it() {
    let server = Server::start();
    let q = server.query().await;
    // Joins collect their left side and stream their right one, the 10^8 rows of `bc`; each batch of it is little
    // work, so the query yields (and can be stopped) often.
    let sql = "SELECT a.x, bc.y, bc.z FROM (SELECT * FROM UNNEST(sequence(1, 10)) AS a(x)) \
               CROSS JOIN (SELECT b.y, c.z FROM UNNEST(sequence(1, 10000)) AS b(y) \
                           CROSS JOIN UNNEST(sequence(1, 10000)) AS c(z)) AS bc \
               WHERE (a.x * 7 + bc.y * 13 + bc.z) % 1000 = 0";
    let first = q
        .query()
        .query_string(sql)
        .max_rows(1000)
        .send()
        .await
        .unwrap();
    assert_eq!(first.rows().len(), 1000);
    assert!(first.next_token().is_some());
    let status = first.query_status().unwrap();
    assert!(
        status.progress_percentage() < 100.0,
        "the query had ended: {status:?}"
    );
    let second = q
        .query()
        .query_string(sql)
        .max_rows(1000)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second.rows().len(), 1000);
    q.cancel_query()
        .query_id(first.query_id())
        .send()
        .await
        .unwrap();
    let after = q
        .query()
        .query_string(sql)
        .next_token(second.next_token().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        after.into_service_error().meta().code(),
        Some("ConflictException")
    );
    server.assert_idle();
}

/// While a query runs, its `QueryStatus` tells the share of its data files read and the bytes read from them:
/// never less than at the poll before, below 100% until the query ends, and above 0 once a file has been read.
/// The result's own status is 100% with every byte of the files.
#[tokio::test]
async fn running_queries_report_their_progress() {
    let (dir, env) = persisting(&[("FRESHET_QUERY_WAIT_MS", "1")]);
    let server = Server::start_in(dir.path(), &env);
    two_persisted_files(&server, dir.path(), "progress").await;
    let q = server.query().await;
    // Reading the two files is quick; joining their 200 rows with 150,000 numbers is not.
    let sql = "SELECT count(*) FROM (SELECT host FROM progress.tbl) \
               CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 10000)) AS a(x)) \
               CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 15)) AS b(y))";
    let mut out = q.query().query_string(sql).send().await.unwrap();
    let mut seen = Vec::new();
    while out.rows().is_empty() {
        let s = out.query_status().unwrap();
        seen.push((s.progress_percentage(), s.cumulative_bytes_scanned()));
        assert_eq!(s.cumulative_bytes_metered(), s.cumulative_bytes_scanned());
        out = poll(&q, sql, &out).await;
    }
    assert_eq!(
        out.rows()[0].data()[0].scalar_value(),
        Some("30000000"),
        "200 rows times 150,000"
    );
    let last = out.query_status().unwrap();
    assert_eq!(last.progress_percentage(), 100.0);
    assert!(
        seen.len() > 1,
        "the query ended before it was polled: {seen:?}"
    );
    assert!(
        seen.windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
        "progress went back: {seen:?}"
    );
    assert!(
        seen.iter().all(|&(p, _)| (0.0..100.0).contains(&p)),
        "{seen:?}"
    );
    let (percent, bytes) = *seen.last().unwrap();
    assert!(
        percent > 0.0 && bytes > 0,
        "the files were read long before the join ended: {seen:?}"
    );
    assert!(
        bytes <= last.cumulative_bytes_scanned(),
        "{bytes} read while running, {} at the end",
        last.cumulative_bytes_scanned()
    );
}

/// A result of 50,000 rows is split into pages of at most 1 MB, the first encoded before the call answers and the
/// rest while the client reads: every row comes back once, in the query's order, with its datums in Timestream's
/// formats. The same holds when the query outlasts its first call and its pages are read after polling.
#[tokio::test]
async fn large_results_come_back_whole_and_in_order_across_pages() {
    let sql = "SELECT x, y, CAST(x * 1000 + y AS DOUBLE) / 4 AS d, from_unixtime(x * 1000 + y) AS t, \
               'row ' || CAST(x AS VARCHAR) || '\"' AS s \
               FROM (SELECT * FROM UNNEST(sequence(1, 250)) AS a(x)) \
               CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 200)) AS b(y)) ORDER BY x, y";
    for wait in [None, Some("1")] {
        let server = match wait {
            None => Server::start(),
            Some(ms) => Server::start_with(&[("FRESHET_QUERY_WAIT_MS", ms)]),
        };
        let q = server.query().await;
        check_large_result(&q, sql, wait.is_some()).await;
    }
}

async fn check_large_result(q: &aws_sdk_timestreamquery::Client, sql: &str, polled: bool) {
    let (mut rows, mut pages, mut polls, mut token) = (Vec::new(), 0, 0, None::<String>);
    loop {
        let out = q
            .query()
            .query_string(sql)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        if out.rows().is_empty() {
            polls += 1;
        } else {
            pages += 1;
        }
        rows.extend(out.rows().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(polls > 0, polled, "answers without rows: {polls}");
    assert_eq!(rows.len(), 50_000);
    assert!(
        pages >= 4,
        "about 7 MB of rows need several pages, got {pages}"
    );
    let text = |r: &aws_sdk_timestreamquery::types::Row, i: usize| {
        r.data()[i].scalar_value().unwrap_or_default().to_owned()
    };
    for (k, r) in rows.iter().enumerate() {
        let (x, y) = (k / 200 + 1, k % 200 + 1);
        let n = x * 1000 + y;
        assert_eq!(text(r, 0), x.to_string(), "row {k}");
        assert_eq!(text(r, 1), y.to_string(), "row {k}");
        let d = n as f64 / 4.0;
        let expected = if d.fract() == 0.0 {
            format!("{d:.1}")
        } else {
            d.to_string()
        };
        assert_eq!(text(r, 2), expected, "row {k}");
        assert!(
            text(r, 3).ends_with(".000000000"),
            "row {k}: {}",
            text(r, 3)
        );
        assert_eq!(text(r, 4), format!("row {x}\""), "row {k}");
    }
}
