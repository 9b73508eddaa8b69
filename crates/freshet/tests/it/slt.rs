//! The SQL corpus: every `tests/slt/*.slt` file at the repository root runs against a real server through
//! `aws-sdk-timestreamquery`, and results are compared in Timestream's text forms (the `ScalarValue` strings).
//!
//! Fixtures: database `corpus` with table `metrics`, the six rows of the `metrics` example in the Timestream
//! documentation (time-series views page).
//!
//! To regenerate the expected results of the files after an intended change, run
//! `FRESHET_SLT_COMPLETE=1 cargo test -p freshet --test it slt` and review the diff; results quoted from AWS's
//! documentation must stay as the documentation gives them.

use std::path::PathBuf;

use aws_sdk_timestreamquery::types::Datum;
use aws_sdk_timestreamwrite::types::{
    Dimension, MagneticStoreWriteProperties, MeasureValueType, Record, RetentionProperties,
    TimeUnit,
};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::support::Server;

#[derive(Debug)]
struct QueryError(String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

struct Timestream {
    client: aws_sdk_timestreamquery::Client,
}

/// A datum as text: scalars as Timestream prints them, `NULL`, and nested values in brackets.
fn text(d: &Datum) -> String {
    if let Some(s) = d.scalar_value() {
        return s.to_owned();
    }
    if d.null_value() == Some(true) {
        return "NULL".into();
    }
    if let Some(a) = &d.array_value {
        return format!("[{}]", a.iter().map(text).collect::<Vec<_>>().join(", "));
    }
    if let Some(r) = d.row_value() {
        return format!(
            "({})",
            r.data().iter().map(text).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(ts) = &d.time_series_value {
        let points: Vec<String> = ts
            .iter()
            .map(|p| format!("{}={}", p.time(), p.value().map(text).unwrap_or_default()))
            .collect();
        return format!("{{{}}}", points.join(", "));
    }
    "?".into()
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Timestream {
    type Error = QueryError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, QueryError> {
        let mut rows = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .query()
                .query_string(sql)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| {
                    let e = e.into_service_error();
                    QueryError(format!(
                        "{}: {}",
                        aws_sdk_timestreamquery::error::ProvideErrorMetadata::code(&e)
                            .unwrap_or("?"),
                        aws_sdk_timestreamquery::error::ProvideErrorMetadata::message(&e)
                            .unwrap_or("")
                    ))
                })?;
            let types = out
                .column_info()
                .iter()
                .map(
                    |c| match c.r#type().and_then(|t| t.scalar_type()).map(|s| s.as_str()) {
                        Some("VARCHAR") => DefaultColumnType::Text,
                        Some("BIGINT" | "INTEGER") => DefaultColumnType::Integer,
                        Some("DOUBLE") => DefaultColumnType::FloatingPoint,
                        _ => DefaultColumnType::Any,
                    },
                )
                .collect();
            rows.extend(
                out.rows()
                    .iter()
                    .map(|r| r.data().iter().map(text).collect::<Vec<_>>()),
            );
            next = out.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(DBOutput::Rows { types, rows });
            }
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "freshet"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }
}

/// The documentation's `metrics` table.
async fn load_fixtures(server: &Server) {
    let w = server.timestream().await;
    w.create_database()
        .database_name("corpus")
        .send()
        .await
        .unwrap();
    w.create_table()
        .database_name("corpus")
        .table_name("metrics")
        .retention_properties(
            RetentionProperties::builder()
                .memory_store_retention_period_in_hours(24)
                .magnetic_store_retention_period_in_days(73_000)
                .build()
                .unwrap(),
        )
        .magnetic_store_write_properties(
            MagneticStoreWriteProperties::builder()
                .enable_magnetic_store_writes(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let dim = |n: &str, v: &str| Dimension::builder().name(n).value(v).build().unwrap();
    // 2019-12-04 19:00:00 UTC; the points are one second apart, as in the documentation's table
    let base_ms = 1_575_486_000_000_i64;
    let mut records = Vec::new();
    for (instance, values) in [
        ("i-1234567890abcdef0", ["35.0", "38.2", "45.3"]),
        ("i-1234567890abcdef1", ["54.1", "42.5", "33.7"]),
    ] {
        for (k, v) in values.iter().enumerate() {
            records.push(
                Record::builder()
                    .dimensions(dim("region", "us-east-1"))
                    .dimensions(dim("az", "us-east-1d"))
                    .dimensions(dim("vpc", "vpc-1a2b3c4d"))
                    .dimensions(dim("instance_id", instance))
                    .measure_name("cpu_utilization")
                    .measure_value(*v)
                    .measure_value_type(MeasureValueType::Double)
                    .time((base_ms + k as i64 * 1_000).to_string())
                    .time_unit(TimeUnit::Milliseconds)
                    .build(),
            );
        }
    }
    w.write_records()
        .database_name("corpus")
        .table_name("metrics")
        .set_records(Some(records))
        .send()
        .await
        .unwrap();
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    files
}

#[tokio::test]
async fn slt_corpus() {
    let server = Server::start();
    load_fixtures(&server).await;
    let client = server.query().await;
    let complete = std::env::var_os("FRESHET_SLT_COMPLETE").is_some();
    let mut failures = Vec::new();
    for file in corpus_files() {
        let client = client.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let client = client.clone();
            async move { Ok(Timestream { client }) }
        });
        if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("updating {}: {e}", file.display()));
        } else if let Err(e) = runner.run_file_async(&file).await {
            failures.push(format!("{}:\n{}", file.display(), e.display(false)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every example in the SQL reference (`docs/sql-reference.md`) answers through the SDK with the result it shows.
#[tokio::test]
async fn sql_reference_examples_answer_as_shown() {
    let server = Server::start();
    let client = server.query().await;
    let mut wrong = Vec::new();
    for f in freshet_query::reference::FUNCTIONS {
        let got = match client.query().query_string(f.example).send().await {
            Ok(out) => out
                .rows()
                .first()
                .and_then(|r| r.data().first())
                .map(text)
                .unwrap_or_else(|| "(no rows)".into()),
            Err(e) => format!("error: {}", e.into_service_error()),
        };
        if got != f.result {
            wrong.push(format!(
                "{} ({}): {}\n  shown: {}\n  got:   {got}",
                f.name, f.category, f.example, f.result
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
