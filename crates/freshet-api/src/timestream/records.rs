//! `WriteRecords`: request validation with Timestream's rules, `CommonAttributes` merging, and the hand-off to the
//! storage engine; partial success is answered with `RejectedRecordsException` (HTTP 419).

use freshet_storage::{Measures, Value, WriteRow};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::database::{self, scope};
use super::table;
use super::validate::Violations;
use crate::AppState;
use crate::auth::VerifiedRequest;
use crate::error::ApiError;

/// Limits from the Timestream quotas page.
const MAX_RECORDS: usize = 100;
const MAX_DIMENSIONS_PER_RECORD: usize = 128;
const MAX_MEASURES_PER_RECORD: usize = 256;
const MAX_RECORD_BYTES: usize = 2048;
const MAX_DIMENSION_NAME_BYTES: usize = 60;
const MAX_MEASURE_NAME_BYTES: usize = 256;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireDimension {
    name: Option<String>,
    value: Option<String>,
    dimension_value_type: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireMeasureValue {
    name: Option<String>,
    value: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireRecord {
    dimensions: Option<Vec<WireDimension>>,
    measure_name: Option<String>,
    measure_value: Option<String>,
    measure_value_type: Option<String>,
    time: Option<String>,
    time_unit: Option<String>,
    version: Option<i64>,
    measure_values: Option<Vec<WireMeasureValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WriteRecords {
    database_name: Option<String>,
    table_name: Option<String>,
    common_attributes: Option<WireRecord>,
    records: Option<Vec<WireRecord>>,
}

const MEASURE_TYPES: &[&str] = &[
    "DOUBLE",
    "BIGINT",
    "VARCHAR",
    "BOOLEAN",
    "TIMESTAMP",
    "MULTI",
];
const TIME_UNITS: &[&str] = &["MILLISECONDS", "SECONDS", "MICROSECONDS", "NANOSECONDS"];

/// A member path such as `records.3.member.dimensions.1.member.name`, rendered only when a constraint fails.
#[derive(Clone, Copy)]
struct MemberPath<'a> {
    parent: &'a dyn std::fmt::Display,
    member: &'static str,
    /// For a list member: its 0-based position (the path shows `.{position + 1}.member`).
    position: Option<usize>,
}

impl<'a> MemberPath<'a> {
    fn new(parent: &'a dyn std::fmt::Display, member: &'static str) -> Self {
        Self {
            parent,
            member,
            position: None,
        }
    }

    fn item(parent: &'a dyn std::fmt::Display, member: &'static str, position: usize) -> Self {
        Self {
            parent,
            member,
            position: Some(position),
        }
    }
}

impl std::fmt::Display for MemberPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.parent, self.member)?;
        match self.position {
            Some(i) => write!(f, ".{}.member", i + 1),
            None => Ok(()),
        }
    }
}

/// The model's constraints on one record (lengths, enums, required members), as Coral checks them.
fn check_model(v: &mut Violations, r: &WireRecord, path: &dyn std::fmt::Display) {
    let at = |member| MemberPath::new(path, member);
    if let Some(dims) = &r.dimensions {
        v.count(dims, at("dimensions"), 0, MAX_DIMENSIONS_PER_RECORD, || {
            format!("[{} dimensions]", dims.len())
        });
        for (i, d) in dims.iter().enumerate() {
            let p = MemberPath::item(path, "dimensions", i);
            if let Some(n) = v.required(&d.name, MemberPath::new(&p, "name")) {
                v.length(n, MemberPath::new(&p, "name"), 1, usize::MAX);
            }
            v.required(&d.value, MemberPath::new(&p, "value"));
            if let Some(t) = &d.dimension_value_type {
                v.one_of(t, MemberPath::new(&p, "dimensionValueType"), &["VARCHAR"]);
            }
        }
    }
    if let Some(n) = &r.measure_name {
        v.length(n, at("measureName"), 1, usize::MAX);
    }
    if let Some(m) = &r.measure_value {
        v.length(m, at("measureValue"), 1, 2048);
    }
    if let Some(t) = &r.measure_value_type {
        v.one_of(t, at("measureValueType"), MEASURE_TYPES);
    }
    if let Some(t) = &r.time {
        v.length(t, at("time"), 1, 256);
    }
    if let Some(u) = &r.time_unit {
        v.one_of(u, at("timeUnit"), TIME_UNITS);
    }
    for (i, m) in r.measure_values.iter().flatten().enumerate() {
        let p = MemberPath::item(path, "measureValues", i);
        if let Some(n) = v.required(&m.name, MemberPath::new(&p, "name")) {
            v.length(n, MemberPath::new(&p, "name"), 1, usize::MAX);
        }
        if let Some(val) = v.required(&m.value, MemberPath::new(&p, "value")) {
            v.length(val, MemberPath::new(&p, "value"), 1, 2048);
        }
        if let Some(t) = v.required(&m.kind, MemberPath::new(&p, "type")) {
            v.one_of(t, MemberPath::new(&p, "type"), MEASURE_TYPES);
        }
    }
}

/// Nanoseconds of a time given in `unit`; `None` when it is not an integer or out of range.
fn to_nanos(text: &str, unit: &str) -> Option<i64> {
    let n: i64 = text.trim().parse().ok()?;
    let factor = match unit {
        "SECONDS" => 1_000_000_000,
        "MILLISECONDS" => 1_000_000,
        "MICROSECONDS" => 1_000,
        _ => 1,
    };
    n.checked_mul(factor)
}

/// Names that may not be used for columns (dimensions and multi-measure names).
fn reserved_column_name(name: &str) -> Option<String> {
    if matches!(
        name,
        "measure_value" | "ts_non_existent_col" | "time" | "measure_name"
    ) {
        return Some(format!(
            "{name} is a reserved name and cannot be used as a dimension or measure name."
        ));
    }
    if name.starts_with("ts_") || name.starts_with("measure_name") {
        return Some(format!(
            "The name {name} is invalid: names cannot start with ts_ or measure_name."
        ));
    }
    if name.contains(':') {
        return Some(format!(
            "The name {name} is invalid: names cannot contain ':'."
        ));
    }
    None
}

fn parse_value(
    text: &str,
    t: &str,
    unit: &str,
    what: &dyn std::fmt::Display,
) -> Result<Value, String> {
    let bad = |ty: &str| format!("The value {text} of {what} is not a valid {ty}.");
    match t {
        "DOUBLE" => {
            let d: f64 = text.trim().parse().map_err(|_| bad("DOUBLE"))?;
            if d.is_finite() {
                Ok(Value::Double(d))
            } else {
                Err(format!("{what}: NaN and Infinity cannot be written."))
            }
        }
        "BIGINT" => text
            .trim()
            .parse()
            .map(Value::Bigint)
            .map_err(|_| bad("BIGINT")),
        "BOOLEAN" => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(bad("BOOLEAN")),
        },
        "VARCHAR" => Ok(Value::Varchar(text.to_owned())),
        "TIMESTAMP" => to_nanos(text, unit)
            .map(Value::Timestamp)
            .ok_or_else(|| bad("TIMESTAMP")),
        _ => Err(bad(t)),
    }
}

/// A record merged with the common attributes: either a row for the engine, or the reason it is rejected.
/// Errors that Timestream reports for the whole request come back as `Err(ApiError)`.
///
/// Takes the record by value so that its strings move into the row instead of being copied.
fn convert(common: &WireRecord, mut r: WireRecord) -> Result<Result<WriteRow, String>, ApiError> {
    let common_names: Vec<&str> = common
        .dimensions
        .iter()
        .flatten()
        .filter_map(|d| d.name.as_deref())
        .collect();
    if let Some(d) = r
        .dimensions
        .iter()
        .flatten()
        .find(|d| d.name.as_deref().is_some_and(|n| common_names.contains(&n)))
    {
        return Err(ApiError::Validation(format!(
            "Dimension {} appears both in CommonAttributes and in a record; dimensions may not overlap.",
            d.name.as_deref().unwrap_or_default()
        )));
    }
    let mut dimensions: Vec<(String, String)> = Vec::new();
    for d in common.dimensions.iter().flatten() {
        if let (Some(n), Some(val)) = (&d.name, &d.value) {
            dimensions.push((n.clone(), val.clone()));
        }
    }
    for d in r.dimensions.take().into_iter().flatten() {
        if let (Some(n), Some(val)) = (d.name, d.value) {
            dimensions.push((n, val));
        }
    }
    let measure_type = r
        .measure_value_type
        .as_ref()
        .or(common.measure_value_type.as_ref())
        .map_or("DOUBLE", |s| s.as_str());
    if measure_type == "TIMESTAMP" {
        return Err(ApiError::Validation(
            "TIMESTAMP is an invalid measure value type".into(),
        ));
    }
    let unit = r
        .time_unit
        .as_ref()
        .or(common.time_unit.as_ref())
        .map_or("MILLISECONDS", |s| s.as_str());
    let Some(time_text) = r.time.as_ref().or(common.time.as_ref()) else {
        return Ok(Err(
            "The record has no Time, neither its own nor from CommonAttributes.".into(),
        ));
    };
    let Some(time) = to_nanos(time_text, unit) else {
        return Err(ApiError::Validation("Invalid time for record.".into()));
    };
    let version = r.version.or(common.version).unwrap_or(1);
    if version < 1 {
        return Err(ApiError::Validation(format!(
            "Record version {version} is invalid: Version must be 1 or greater."
        )));
    }
    let Some(measure_name) = r
        .measure_name
        .take()
        .or_else(|| common.measure_name.clone())
    else {
        return Ok(Err(
            "The record has no MeasureName, neither its own nor from CommonAttributes.".into(),
        ));
    };

    Ok((|| {
        dimensions.sort();
        if let Some(w) = dimensions.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "Dimension {} appears more than once in the record.",
                w[0].0
            ));
        }
        for (n, _) in &dimensions {
            if n.len() > MAX_DIMENSION_NAME_BYTES {
                return Err(format!(
                    "Dimension name {n} is longer than {MAX_DIMENSION_NAME_BYTES} bytes."
                ));
            }
            if let Some(reason) = reserved_column_name(n) {
                return Err(reason);
            }
        }
        if measure_name.len() > MAX_MEASURE_NAME_BYTES {
            return Err(format!(
                "Measure name {measure_name} is longer than {MAX_MEASURE_NAME_BYTES} bytes."
            ));
        }
        let mut size = measure_name.len()
            + dimensions
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let measures = if measure_type == "MULTI" {
            if r.measure_value.is_some()
                || common.measure_value.is_some() && r.measure_values.is_none()
            {
                return Err("A MULTI record takes MeasureValues, not MeasureValue.".into());
            }
            let values = r
                .measure_values
                .take()
                .or_else(|| common.measure_values.clone())
                .filter(|m| !m.is_empty());
            let Some(values) = values else {
                return Err("A MULTI record needs at least one entry in MeasureValues.".into());
            };
            if values.len() > MAX_MEASURES_PER_RECORD {
                return Err(format!(
                    "A record can have at most {MAX_MEASURES_PER_RECORD} measures."
                ));
            }
            let mut out = Vec::with_capacity(values.len());
            for m in values {
                let (Some(n), Some(val), Some(t)) = (m.name, m.value, m.kind) else {
                    continue;
                };
                if t == "MULTI" {
                    return Err(format!(
                        "Measure {n} has the type MULTI, which is only valid for a whole record."
                    ));
                }
                if let Some(reason) = reserved_column_name(&n) {
                    return Err(reason);
                }
                if n.len() > MAX_MEASURE_NAME_BYTES {
                    return Err(format!(
                        "Measure name {n} is longer than {MAX_MEASURE_NAME_BYTES} bytes."
                    ));
                }
                size += n.len() + val.len();
                let value = parse_value(&val, &t, unit, &format_args!("measure {n}"))?;
                out.push((n, value));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(format!(
                    "Measure {} appears more than once in the record.",
                    w[0].0
                ));
            }
            if let Some((n, _)) = out
                .iter()
                .find(|(n, _)| dimensions.iter().any(|(d, _)| d == n))
            {
                return Err(format!(
                    "{n} is used both as a dimension and as a measure in the record."
                ));
            }
            Measures::Multi(out)
        } else {
            if r.measure_values.is_some() {
                return Err("MeasureValues can only be used with MeasureValueType MULTI.".into());
            }
            let Some(text) = r.measure_value.as_ref().or(common.measure_value.as_ref()) else {
                return Err(
                    "The record has no MeasureValue, neither its own nor from CommonAttributes."
                        .into(),
                );
            };
            size += text.len();
            Measures::Single(parse_value(
                text,
                measure_type,
                unit,
                &format_args!("measure {measure_name}"),
            )?)
        };
        if size > MAX_RECORD_BYTES {
            return Err(format!(
                "The record is {size} bytes; the maximum record size is 2 KB."
            ));
        }
        Ok(WriteRow {
            dimensions,
            measure_name,
            time,
            version,
            measures,
        })
    })())
}

pub async fn write(
    app: &AppState,
    req: &VerifiedRequest,
    r: WriteRecords,
) -> Result<Json, ApiError> {
    let mut v = Violations::default();
    v.required(&r.database_name, "databaseName");
    v.required(&r.table_name, "tableName");
    if let Some(records) = v.required(&r.records, "records") {
        v.count(records, "records", 1, MAX_RECORDS, || {
            format!("[{} records]", records.len())
        });
        if records.len() <= MAX_RECORDS {
            for (i, rec) in records.iter().enumerate() {
                check_model(&mut v, rec, &format_args!("records.{}.member", i + 1));
            }
        }
    }
    if let Some(c) = &r.common_attributes {
        check_model(&mut v, c, &"commonAttributes");
    }
    v.finish()?;

    let common = r.common_attributes.unwrap_or_default();
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    for (index, rec) in r.records.unwrap_or_default().into_iter().enumerate() {
        match convert(&common, rec)? {
            Ok(row) => rows.push((index, row)),
            Err(reason) => rejected.push(freshet_storage::Rejection {
                index,
                reason,
                existing_version: None,
            }),
        }
    }

    let (db, name) = (
        r.database_name.unwrap_or_default(),
        r.table_name.unwrap_or_default(),
    );
    let scope = scope(req);
    // One catalog read in the common case; the database is looked up only to word a missing table's error.
    let Some(t) = app.store.table(&scope, &db, &name).await? else {
        if app.store.database(&scope, &db).await?.is_none() {
            return Err(database::not_found(&db));
        }
        return Err(table::not_found(&name));
    };
    let storage = app.storage.clone();
    let now = app.clock.now_nanos();
    // The engine must not be cancelled halfway (a client hanging up drops this future), so it runs as its own task.
    let outcome = tokio::spawn(async move { storage.write(&t, rows, now).await })
        .await
        .map_err(|e| ApiError::Internal(format!("write task failed: {e}")))?
        .map_err(storage_error)?;
    rejected.extend(outcome.rejected);
    if !rejected.is_empty() {
        rejected.sort_by_key(|r| r.index);
        let list: Vec<Json> = rejected
            .iter()
            .map(|r| {
                let mut o = json!({ "RecordIndex": r.index, "Reason": r.reason });
                if let Some(v) = r.existing_version {
                    o["ExistingVersion"] = json!(v);
                }
                o
            })
            .collect();
        return Err(ApiError::RejectedRecords(list));
    }
    let total = outcome.memory_store + outcome.magnetic_store;
    Ok(json!({ "RecordsIngested": {
        "Total": total, "MemoryStore": outcome.memory_store, "MagneticStore": outcome.magnetic_store
    }}))
}

pub fn storage_error(e: freshet_storage::Error) -> ApiError {
    match e {
        freshet_storage::Error::Throttled(_) => ApiError::Throttling(
            "Write throughput exceeds what the server can persist right now; retry with backoff."
                .into(),
        ),
        e => ApiError::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_unit() {
        assert_eq!(to_nanos("1", "SECONDS"), Some(1_000_000_000));
        assert_eq!(to_nanos("1", "MILLISECONDS"), Some(1_000_000));
        assert_eq!(to_nanos("1", "MICROSECONDS"), Some(1_000));
        assert_eq!(to_nanos("1", "NANOSECONDS"), Some(1));
        assert_eq!(to_nanos("1.5", "SECONDS"), None);
        assert_eq!(
            to_nanos("99999999999999999", "SECONDS"),
            None,
            "overflow is refused"
        );
    }

    #[test]
    fn values() {
        assert_eq!(parse_value("1", "DOUBLE", "", &"m"), Ok(Value::Double(1.0)));
        assert!(parse_value("NaN", "DOUBLE", "", &"m").is_err());
        assert!(parse_value("Infinity", "DOUBLE", "", &"m").is_err());
        assert_eq!(
            parse_value("TRUE", "BOOLEAN", "", &"m"),
            Ok(Value::Boolean(true))
        );
        assert!(parse_value("1.5", "BIGINT", "", &"m").is_err());
        assert_eq!(
            parse_value("2", "TIMESTAMP", "SECONDS", &"m"),
            Ok(Value::Timestamp(2_000_000_000))
        );
    }
}
