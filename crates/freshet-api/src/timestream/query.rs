//! `Query`: runs Timestream SQL through the query engine and encodes the result as `ColumnInfo` and `Rows` of
//! `Datum`, with Timestream's text formats (9-digit timestamps, Java-style doubles).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, IntervalUnit, TimeUnit};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::database::scope;
use super::results::{
    Finished, MorePages, PAGE_BYTES, Page, QueryTask, running_status, status_text,
};
use super::validate::Violations;
use crate::AppState;
use crate::auth::VerifiedRequest;
use crate::error::ApiError;

/// Timestream meters at least 10 MB per query.
const MIN_METERED_BYTES: u64 = 10_000_000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Query {
    query_string: Option<String>,
    client_token: Option<String>,
    next_token: Option<String>,
    max_rows: Option<i64>,
    query_insights: Option<QueryInsights>,
}

/// `QueryInsights`: with `ENABLED_WITH_RATE_CONTROL`, pages encoded once the query has ended carry a
/// `QueryInsightsResponse` (`freshet_query::Insights`, and the result's rows and bytes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryInsights {
    mode: Option<String>,
}

pub async fn query(app: &AppState, req: &VerifiedRequest, r: Query) -> Result<Bytes, ApiError> {
    let mut v = Violations::default();
    check_query_string(&mut v, &r.query_string);
    if let Some(t) = &r.client_token {
        v.length(t, "clientToken", 32, 128);
    }
    if let Some(t) = &r.next_token {
        v.length(t, "nextToken", 1, 2048);
    }
    if let Some(m) = r.max_rows {
        v.range(m, "maxRows", 1, 1000);
    }
    if let Some(insights) = &r.query_insights
        && let Some(mode) = v.required(&insights.mode, "queryInsights.mode")
    {
        v.one_of(
            mode,
            "queryInsights.mode",
            &["ENABLED_WITH_RATE_CONTROL", "DISABLED"],
        );
    }
    v.finish()?;
    let sql = r.query_string.unwrap_or_default();
    let principal = req.principal.arn().to_string();
    if let Some(t) = &r.next_token {
        return next_page(app, &principal, &sql, t).await;
    }
    if let Some(t) = &r.client_token
        && let Some(earlier) = app.results.repeated(&principal, t, &sql)
    {
        return Ok(earlier);
    }
    // A repeated ClientToken is answered above, as a retry; a new query with insights counts towards their rate.
    let insights = r
        .query_insights
        .as_ref()
        .is_some_and(|i| i.mode.as_deref() == Some("ENABLED_WITH_RATE_CONTROL"));
    if insights
        && !app
            .results
            .insights_allowed(&req.principal.account.to_string())
    {
        return Err(ApiError::Throttling(
            "Rate exceeded: QueryInsights is limited to one query a second".into(),
        ));
    }
    // The query runs in a task of its own. A call answers with the first page when the query ends within the
    // wait (AWS's calls last at most 60 s); otherwise with a NextToken and no rows, and later calls with that
    // token wait again.
    let query_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let max_rows = r.max_rows.and_then(|m| usize::try_from(m).ok());
    let (engine, text) = (app.query.clone(), sql.clone());
    let scope = scope(req);
    let task_scope = scope.clone();
    let progress = Arc::new(freshet_query::Progress::default());
    let task_progress = Arc::clone(&progress);
    let time_limit = app.results.time_limit();
    let mut task = tokio::spawn(async move {
        run_encoded(
            &engine,
            &task_scope,
            &text,
            Request {
                max_rows,
                progress: task_progress,
                time_limit,
                insights,
            },
        )
        .await
    });
    match tokio::time::timeout(app.results.wait(), &mut task).await {
        Ok(joined) => {
            let finished = joined.map_err(task_failed)??;
            Ok(app.results.first_page(
                &principal,
                &sql,
                r.client_token.as_deref(),
                query_id,
                finished,
            ))
        }
        Err(_) => {
            // The columns it will return, for the answers while it runs (SDK paginators keep the first page's).
            let prepared = app.query.prepare(&scope, &sql).await.unwrap_or_default();
            let column_info: Vec<Json> = prepared
                .columns
                .iter()
                .map(|c| name_and_type(&c.name, &c.data_type))
                .collect();
            let (done, running) = app.results.start(
                &principal,
                &sql,
                r.client_token.as_deref(),
                &query_id,
                json!(column_info),
                QueryTask {
                    abort: task.abort_handle(),
                    progress,
                },
            );
            let results = app.results.clone();
            tokio::spawn(async move {
                let outcome = task.await.map_err(task_failed).and_then(|r| r);
                results.finish(&query_id, outcome);
                let _ = done.send(true);
            });
            Ok(running)
        }
    }
}

fn task_failed(e: tokio::task::JoinError) -> ApiError {
    if e.is_cancelled() {
        ApiError::Conflict("The query was canceled.".into())
    } else {
        ApiError::Internal(format!("query task failed: {e}"))
    }
}

/// The page a `NextToken` stands for; while its query still runs, waits for it up to the wait.
async fn next_page(
    app: &AppState,
    principal: &str,
    sql: &str,
    token: &str,
) -> Result<Bytes, ApiError> {
    let deadline = tokio::time::Instant::now() + app.results.wait();
    loop {
        match app.results.page(principal, sql, token)? {
            Page::Ready(page) => return Ok(page),
            Page::Running(mut done, running) => {
                let waited =
                    tokio::time::timeout_at(deadline, done.wait_for(|finished| *finished)).await;
                if waited.is_err() {
                    return Ok(running.into());
                }
            }
            // Encoding takes milliseconds a page, and ends (or fails) on its own.
            Page::Encoding(mut changed) => {
                let _ = changed.changed().await;
            }
        }
    }
}

/// Starts a query and encodes its `ColumnInfo`, `QueryStatus` and first page as soon as it has the rows of one; the
/// other pages are encoded later, while the query may still run.
async fn run_encoded(
    engine: &freshet_query::QueryEngine,
    scope: &freshet_meta::Scope,
    sql: &str,
    request: Request,
) -> Result<Finished, ApiError> {
    let Request {
        max_rows,
        progress,
        time_limit,
        insights,
    } = request;
    let mut stream = engine
        .stream(
            scope,
            sql,
            Arc::clone(&progress),
            Some(time_limit),
            insights,
        )
        .await
        .map_err(query_error)?;
    let column_info: Vec<Json> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| name_and_type(f.name(), f.data_type()))
        .collect();
    // A small result (most are) is whole within moments, and encodes in well under a millisecond: here, without
    // handing it to another thread.
    let mut batches = Vec::new();
    let mut memory = 0;
    let ended = loop {
        if memory > INLINE_BYTES {
            break None;
        }
        match stream.next().await.map_err(query_error)? {
            freshet_query::Next::Batch(b) => {
                memory += b.get_array_memory_size();
                batches.push(b);
            }
            freshet_query::Next::End(ended) => break Some(ended),
        }
    };
    let mut pager = Pager::new(batches, max_rows, progress);
    let (first, pager) = match ended {
        Some(ended) => {
            pager.ended(ended);
            (pager.next_page()?, pager)
        }
        None => {
            // Encoding waits for the query's rows on a blocking thread; if this call is dropped meanwhile
            // (CancelQuery), the query stops, and with it the wait.
            let mut stop = StopUnlessDone(stream.handle());
            pager.stream = Some(stream);
            let encoded =
                tokio::task::spawn_blocking(move || pager.next_page().map(|p| (p, pager)))
                    .await
                    .map_err(task_failed)??;
            stop.0 = None;
            encoded
        }
    };
    Ok(Finished {
        column_info: json!(column_info),
        first,
        status: pager.status(),
        insights: pager.insights(),
        more: (!pager.done()).then(|| Box::new(pager) as Box<dyn MorePages>),
    })
}

/// How a `Query` call asks for its query to run.
struct Request {
    max_rows: Option<usize>,
    progress: Arc<freshet_query::Progress>,
    time_limit: Duration,
    /// Whether `QueryInsights` is enabled.
    insights: bool,
}

/// Stops a query when dropped, unless its handle has been taken.
struct StopUnlessDone(Option<freshet_query::StreamHandle>);

impl Drop for StopUnlessDone {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.stop();
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrepareQuery {
    query_string: Option<String>,
    validate_only: Option<bool>,
}

/// `QueryString` of `Query` and `PrepareQuery`: required, 1 to 262,144 characters.
fn check_query_string(v: &mut Violations, query_string: &Option<String>) {
    if let Some(q) = v.required(query_string, "queryString") {
        v.length(q, "queryString", 1, 262_144);
    }
}

/// `PrepareQuery`: Timestream serves it only with `ValidateOnly` set to true, as a check of a query and a
/// description of the columns it would return; nothing is stored.
pub async fn prepare(
    app: &AppState,
    req: &VerifiedRequest,
    r: PrepareQuery,
) -> Result<Json, ApiError> {
    let mut v = Violations::default();
    check_query_string(&mut v, &r.query_string);
    v.finish()?;
    if r.validate_only != Some(true) {
        return Err(ApiError::Validation(
            "PrepareQuery is supported only with ValidateOnly set to true.".into(),
        ));
    }
    let sql = r.query_string.unwrap_or_default();
    let prepared = app
        .query
        .prepare(&scope(req), &sql)
        .await
        .map_err(query_error)?;
    let columns: Vec<Json> = prepared
        .columns
        .iter()
        .map(|c| {
            let mut column = json!({
                "Name": c.name,
                "Type": column_type(&c.data_type),
                "Aliased": c.aliased,
            });
            if let Some((db, table)) = &c.source {
                column["DatabaseName"] = json!(db);
                column["TableName"] = json!(table);
            }
            column
        })
        .collect();
    let parameters: Vec<Json> = prepared
        .parameters
        .iter()
        .map(|(name, t)| name_and_type(name, t))
        .collect();
    Ok(json!({ "QueryString": sql, "Columns": columns, "Parameters": parameters }))
}

fn query_error(e: freshet_query::Error) -> ApiError {
    match e {
        freshet_query::Error::Validation(m) => ApiError::Validation(m),
        freshet_query::Error::Execution(m) => ApiError::QueryExecution(m),
        freshet_query::Error::Internal(m) => ApiError::Internal(m),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelQuery {
    query_id: Option<String>,
}

pub async fn cancel(
    app: &AppState,
    req: &VerifiedRequest,
    r: CancelQuery,
) -> Result<Json, ApiError> {
    let mut v = Violations::default();
    if let Some(id) = v.required(&r.query_id, "queryId") {
        v.length(id, "queryId", 1, 64);
        v.pattern(
            id,
            "queryId",
            "[a-zA-Z0-9]+",
            id.bytes().all(|b| b.is_ascii_alphanumeric()),
        );
    }
    v.finish()?;
    let id = r.query_id.unwrap_or_default();
    Ok(
        match app.results.cancel(&req.principal.arn().to_string(), &id)? {
            Some(message) => json!({ "CancellationMessage": message }),
            None => json!({}),
        },
    )
}

/// A `ColumnInfo` (or `ParameterMapping`): `{"Name": …, "Type": …}`.
fn name_and_type(name: &str, t: &DataType) -> Json {
    json!({ "Name": name, "Type": column_type(t) })
}

/// A column's `Type`: a scalar type, or `TimeSeriesMeasureValueColumnInfo` / `ArrayColumnInfo` (whose nested info
/// has no name) / `RowColumnInfo`.
fn column_type(t: &DataType) -> Json {
    if let Some(value) = freshet_query::timeseries_value_type(t) {
        return json!({ "TimeSeriesMeasureValueColumnInfo": { "Type": column_type(value) } });
    }
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            json!({ "ArrayColumnInfo": { "Type": column_type(f.data_type()) } })
        }
        DataType::Struct(fields) => json!({
            "RowColumnInfo": fields
                .iter()
                .map(|f| name_and_type(f.name(), f.data_type()))
                .collect::<Vec<_>>()
        }),
        _ => json!({ "ScalarType": scalar_type(t) }),
    }
}

fn scalar_type(t: &DataType) -> &'static str {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR",
        DataType::Float64
        | DataType::Float32
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "DOUBLE",
        DataType::Int64 | DataType::UInt64 | DataType::UInt32 => "BIGINT",
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt16 | DataType::UInt8 => {
            "INTEGER"
        }
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(..) => "TIMESTAMP",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Time32(_) | DataType::Time64(_) => "TIME",
        DataType::Duration(_) | DataType::Interval(IntervalUnit::DayTime) => {
            "INTERVAL_DAY_TO_SECOND"
        }
        DataType::Interval(_) => "INTERVAL_YEAR_TO_MONTH",
        DataType::Null => "UNKNOWN",
        _ => "VARCHAR",
    }
}

/// Results whose Arrow arrays take at most this many bytes have their first page encoded on the calling task.
const INLINE_BYTES: usize = 64 << 10;

/// Rows encoded at a time: few enough that each column's text stays in cache while its rows are assembled.
const CHUNK_ROWS: usize = 1024;

/// A result's rows, encoded into pages one page at a time: each page holds at most `MaxRows` rows and about
/// [`PAGE_BYTES`] of them (at least one row). The text of 100k rows of 22 columns is about 70 MB, so the pages after
/// the first are encoded on a blocking thread while the client reads the first. Rows still to come from the query
/// are waited for there.
struct Pager {
    /// The rows not yet encoded, as slices of at most [`CHUNK_ROWS`] rows.
    chunks: VecDeque<RecordBatch>,
    /// Rows encoded but not yet on a page, and the next of them.
    pending: Option<(Encoded, usize)>,
    /// The query's rows still to come; `None` once it has ended.
    stream: Option<freshet_query::ResultStream>,
    /// What is known of the query once it has ended.
    ended: Option<freshet_query::Ended>,
    progress: Arc<freshet_query::Progress>,
    max_rows: usize,
    /// The length of the last page, as the next one's capacity.
    last_len: usize,
    /// The bytes of the result's arrays taken so far and their number of rows, to weigh the rows not yet encoded.
    memory: usize,
    rows: usize,
}

impl Pager {
    fn new(
        batches: Vec<RecordBatch>,
        max_rows: Option<usize>,
        progress: Arc<freshet_query::Progress>,
    ) -> Self {
        let mut pager = Self {
            chunks: VecDeque::new(),
            pending: None,
            stream: None,
            ended: None,
            progress,
            max_rows: max_rows.unwrap_or(usize::MAX).max(1),
            last_len: 0,
            memory: 0,
            rows: 0,
        };
        for b in batches {
            pager.take(b);
        }
        pager
    }

    /// Adds a batch of the result's rows after those taken before.
    fn take(&mut self, b: RecordBatch) {
        self.memory += b.get_array_memory_size();
        self.rows += b.num_rows();
        let mut offset = 0;
        while offset < b.num_rows() {
            let len = CHUNK_ROWS.min(b.num_rows() - offset);
            self.chunks.push_back(b.slice(offset, len));
            offset += len;
        }
    }

    /// Records the end of the query.
    fn ended(&mut self, ended: freshet_query::Ended) {
        self.stream = None;
        self.ended = Some(ended);
    }

    /// Waits for the query's next rows, or its end, when every row taken is encoded.
    fn wait_for_rows(&mut self) -> Result<(), ApiError> {
        while self.chunks.is_empty() && self.pending_used_up() {
            let Some(stream) = &mut self.stream else {
                return Ok(());
            };
            match stream.blocking_next().map_err(query_error)? {
                freshet_query::Next::Batch(b) => self.take(b),
                freshet_query::Next::End(ended) => self.ended(ended),
            }
        }
        Ok(())
    }

    /// Whether every encoded row is on a page already.
    fn pending_used_up(&self) -> bool {
        self.pending
            .as_ref()
            .is_none_or(|(e, i)| *i == e.ends.len())
    }

    /// `QueryStatus`: the query's progress while it runs; once it has ended, all it scanned and metered.
    fn status(&self) -> Json {
        match self.ended.as_ref().map(|e| e.bytes_scanned) {
            Some(bytes) => json!({
                "ProgressPercentage": 100.0,
                "CumulativeBytesScanned": bytes,
                "CumulativeBytesMetered": bytes.max(MIN_METERED_BYTES),
            }),
            None => running_status(self.progress.now()),
        }
    }

    /// `QueryInsightsResponse`, once the query has ended, when it was asked for: the engine's insights, and the
    /// result's rows and the bytes of their values in memory (Arrow arrays).
    fn insights(&self) -> Option<Json> {
        let insights = self.ended.as_ref()?.insights.as_ref()?;
        let mut out = serde_json::Map::new();
        if let Some((arn, share, key)) = &insights.spatial {
            out.insert(
                "QuerySpatialCoverage".into(),
                json!({"Max": {"Value": share, "TableArn": arn, "PartitionKey": [key]}}),
            );
        }
        if let Some((arn, range)) = &insights.temporal {
            out.insert(
                "QueryTemporalRange".into(),
                json!({"Max": {"Value": range, "TableArn": arn}}),
            );
        }
        out.insert("QueryTableCount".into(), json!(insights.table_count));
        out.insert("OutputRows".into(), json!(self.rows));
        out.insert("OutputBytes".into(), json!(self.memory));
        Some(Json::Object(out))
    }
}

impl MorePages for Pager {
    fn done(&self) -> bool {
        self.chunks.is_empty() && self.pending_used_up() && self.stream.is_none()
    }

    /// The rows taken and not yet on a page, as their share of the result's arrays taken (chunks are slices of the
    /// result's batches, sharing their buffers), and those of a whole result still in its stream. The rows a running
    /// query queues are weighed through its producer ([`MorePages::producer`]), as they grow.
    fn held_bytes(&self) -> usize {
        let pending = self.pending.as_ref().map_or(0, |(e, i)| e.ends.len() - i);
        let left = self.chunks.iter().map(RecordBatch::num_rows).sum::<usize>() + pending;
        let taken = (self.memory as u128 * left as u128 / self.rows.max(1) as u128) as usize;
        let whole = self
            .stream
            .as_ref()
            .filter(|s| s.handle().is_none())
            .map_or(0, |s| s.queued_bytes());
        taken + whole
    }

    fn status(&self) -> Option<String> {
        Some(status_text(&Pager::status(self), self.insights().as_ref()))
    }

    fn producer(&self) -> Option<freshet_query::StreamHandle> {
        self.stream.as_ref().and_then(|s| s.handle())
    }

    /// The next page as the JSON text of an array of rows (`[]` for a result without rows). Waits for the query's
    /// rows when it has not computed enough yet, and after the page, until it is known whether another follows.
    fn next_page(&mut self) -> Result<String, ApiError> {
        let mut page = String::with_capacity(self.last_len);
        page.push('[');
        let mut in_page = 0;
        loop {
            if self.pending_used_up() {
                self.wait_for_rows()?;
                match self.chunks.pop_front() {
                    Some(chunk) => self.pending = Some((encode_batch(&chunk)?, 0)),
                    None => break,
                }
            }
            let Some((encoded, next)) = &mut self.pending else {
                break;
            };
            let row = encoded.get(*next);
            if in_page > 0 && (in_page >= self.max_rows || page.len() + row.len() + 2 > PAGE_BYTES)
            {
                break;
            }
            if in_page > 0 {
                page.push(',');
            }
            page.push_str(row);
            in_page += 1;
            *next += 1;
        }
        page.push(']');
        self.wait_for_rows()?;
        if self.done() {
            // Kept results are bounded by their bytes: the last page should not hold capacity it does not use.
            page.shrink_to_fit();
        }
        self.last_len = page.len();
        Ok(page)
    }
}

/// The `{"Data":[…]}` text of each row of a batch.
fn encode_batch(batch: &RecordBatch) -> Result<Encoded, ApiError> {
    let columns: Vec<Encoded> = batch.columns().iter().map(encode_column).collect();
    let n = batch.num_rows();
    let mut text =
        String::with_capacity(columns.iter().map(|c| c.text.len() + n).sum::<usize>() + 12 * n);
    let mut ends = Vec::with_capacity(n);
    for i in 0..n {
        let start = text.len();
        text.push_str("{\"Data\":");
        join_into(&mut text, columns.iter().map(|c| c.get(i)));
        text.push('}');
        if text.len() - start > PAGE_BYTES {
            // AWS's wording (Query documentation).
            return Err(ApiError::QueryExecution(
                "Query aborted as max page response size has been exceeded by the output result row".into(),
            ));
        }
        ends.push(text.len());
    }
    Ok(Encoded { text, ends })
}

/// The JSON text of every datum of a column (or every row of a batch), in one buffer.
struct Encoded {
    text: String,
    /// Where each row's datum ends in `text`.
    ends: Vec<usize>,
}

impl Encoded {
    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// Writes `[a,b,…]`.
fn join_into<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (k, item) in items.enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
}

/// Appends `{"ScalarValue":"…"}` with what `write` appends as the text, which must need no JSON escaping
/// (numbers, times, intervals, booleans).
fn plain_scalar(out: &mut String, write: impl FnOnce(&mut String)) {
    out.push_str("{\"ScalarValue\":\"");
    write(out);
    out.push_str("\"}");
}

/// Appends `{"ScalarValue":…}` with `text` escaped as a JSON string.
fn string_scalar(out: &mut String, text: &str) {
    out.push_str("{\"ScalarValue\":");
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        // Serializing a str cannot fail.
        out.push_str(&serde_json::to_string(text).unwrap_or_default());
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
    out.push('}');
}

const NULL_DATUM: &str = "{\"NullValue\":true}";

fn encode_column(col: &ArrayRef) -> Encoded {
    let n = col.len();
    // One datum per row: `NullValue` for a null, else what `datum` writes for the row.
    let each = |datum: &dyn Fn(&mut String, usize)| -> Encoded {
        let mut text = String::with_capacity(n * 24);
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            if col.is_null(i) {
                text.push_str(NULL_DATUM);
            } else {
                datum(&mut text, i);
            }
            ends.push(text.len());
        }
        Encoded { text, ends }
    };
    let all_null = || each(&|out, _| out.push_str(NULL_DATUM));
    // Casts keep nulls where they are, so `each` may test the original column.
    let cast = |t: &DataType| arrow::compute::cast(col, t).ok();
    match col.data_type() {
        // A null of no type (`SELECT NULL`): Arrow's null array has no validity buffer, so `is_null` says false.
        DataType::Null => all_null(),
        t if freshet_query::timeseries_value_type(t).is_some() => {
            // `{"TimeSeriesValue":[{"Time":"…","Value":datum},…]}`
            let list = col.as_list::<i32>();
            let points = list.values().as_struct();
            let Some(times) = arrow::compute::cast(
                points.column(0),
                &DataType::Timestamp(TimeUnit::Nanosecond, None),
            )
            .ok() else {
                return all_null();
            };
            let times = times.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
            let values = encode_column(points.column(1));
            let offsets = list.value_offsets();
            each(&|out, i| {
                out.push_str("{\"TimeSeriesValue\":[");
                for k in offsets[i] as usize..offsets[i + 1] as usize {
                    if k > offsets[i] as usize {
                        out.push(',');
                    }
                    out.push_str("{\"Time\":\"");
                    write_timestamp(out, times.value(k));
                    out.push_str("\",\"Value\":");
                    out.push_str(values.get(k));
                    out.push('}');
                }
                out.push_str("]}");
            })
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let Some(list) = cast(&DataType::new_list(list_item(col.data_type()), true)) else {
                return all_null();
            };
            let list = list.as_list::<i32>();
            let items = encode_column(list.values());
            let offsets = list.value_offsets();
            each(&|out, i| {
                out.push_str("{\"ArrayValue\":");
                let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
                join_into(out, (from..to).map(|k| items.get(k)));
                out.push('}');
            })
        }
        DataType::Struct(_) => {
            let fields: Vec<Encoded> = col
                .as_struct()
                .columns()
                .iter()
                .map(encode_column)
                .collect();
            each(&|out, i| {
                out.push_str("{\"RowValue\":{\"Data\":");
                join_into(out, fields.iter().map(|f| f.get(i)));
                out.push_str("}}");
            })
        }
        DataType::Float64
        | DataType::Float32
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => match cast(&DataType::Float64) {
            Some(c) => {
                let a = c.as_primitive::<Float64Type>();
                each(&|out, i| plain_scalar(out, |out| write_java_double(out, a.value(i))))
            }
            None => all_null(),
        },
        DataType::Timestamp(..) => match cast(&DataType::Timestamp(TimeUnit::Nanosecond, None)) {
            Some(c) => {
                let a = c.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
                each(&|out, i| plain_scalar(out, |out| write_timestamp(out, a.value(i))))
            }
            None => all_null(),
        },
        DataType::Int64 => {
            let a = col.as_primitive::<Int64Type>();
            each(&|out, i| {
                plain_scalar(out, |out| {
                    out.push_str(itoa::Buffer::new().format(a.value(i)))
                })
            })
        }
        DataType::Duration(_) => match cast(&DataType::Duration(TimeUnit::Nanosecond)) {
            Some(c) => {
                let a = c.as_primitive::<arrow::datatypes::DurationNanosecondType>();
                each(&|out, i| plain_scalar(out, |out| out.push_str(&day_to_second(a.value(i)))))
            }
            None => all_null(),
        },
        DataType::Interval(IntervalUnit::YearMonth) => {
            let a = col.as_primitive::<arrow::datatypes::IntervalYearMonthType>();
            each(&|out, i| plain_scalar(out, |out| out.push_str(&year_to_month(a.value(i)))))
        }
        DataType::Boolean => {
            let a = col.as_boolean();
            each(&|out, i| {
                plain_scalar(out, |out| {
                    out.push_str(if a.value(i) { "true" } else { "false" })
                })
            })
        }
        DataType::Utf8View => {
            let a = col.as_string_view();
            each(&|out, i| string_scalar(out, a.value(i)))
        }
        _ => match cast(&DataType::Utf8) {
            Some(c) => {
                let a = c.as_string::<i32>();
                each(&|out, i| string_scalar(out, a.value(i)))
            }
            None => all_null(),
        },
    }
}

fn list_item(t: &DataType) -> DataType {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().clone()
        }
        other => other.clone(),
    }
}

/// An `interval day to second` as Timestream prints it: `D hh:mm:ss.nnnnnnnnn` (`1 00:00:00.000000000`,
/// `0 00:00:00.042800000`), with a leading `-` when negative.
pub fn day_to_second(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    let (secs, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    format!(
        "{sign}{} {:02}:{:02}:{:02}.{frac:09}",
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// An `interval year to month` as Timestream prints it: `Y-M` (`1-0`, `4-2`).
pub fn year_to_month(months: i32) -> String {
    let sign = if months < 0 { "-" } else { "" };
    let m = months.unsigned_abs();
    format!("{sign}{}-{}", m / 12, m % 12)
}

/// Appends `YYYY-MM-DD hh:mm:ss.nnnnnnnnn`, UTC. Result pages print one per row and time column, so this writes
/// the digits itself instead of going through `format!`.
fn write_timestamp(out: &mut String, ns: i64) {
    let c = freshet_core::Civil::from_nanos(ns);
    if !(0..=9999).contains(&c.year) {
        out.push_str(&c.format(' '));
        return;
    }
    let mut b = *b"0000-00-00 00:00:00.000000000";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for k in (at..at + width).rev() {
            b[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, c.year as u64);
    put(5, 2, c.month as u64);
    put(8, 2, c.day as u64);
    put(11, 2, c.hour as u64);
    put(14, 2, c.minute as u64);
    put(17, 2, c.second as u64);
    put(20, 9, c.nanos as u64);
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// Appends Java's `Double.toString`: plain notation in [1e-3, 1e7), otherwise `d.dddE±n`; always a fraction
/// digit.
fn write_java_double(out: &mut String, d: f64) {
    if d.is_nan() {
        out.push_str("NaN");
    } else if d.is_infinite() {
        out.push_str(if d > 0.0 { "Infinity" } else { "-Infinity" });
    } else if d == 0.0 {
        out.push_str(if d.is_sign_negative() { "-0.0" } else { "0.0" });
    } else if d.abs() < 1e7 && d.fract() == 0.0 {
        // Whole numbers are common (counts, whole percentages): digits and ".0", without the float formatter.
        out.push_str(itoa::Buffer::new().format(d as i64));
        out.push_str(".0");
    } else if (1e-3..1e7).contains(&d.abs()) {
        // ryu prints the shortest round-trip digits, in plain notation with a fraction digit in this range
        // (it switches to exponents only below 1e-5 and from 1e16).
        out.push_str(ryu::Buffer::new().format_finite(d));
    } else {
        let s = format!("{d:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        out.push_str(mantissa);
        if !mantissa.contains('.') {
            out.push_str(".0");
        }
        out.push('E');
        out.push_str(exp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(ns: i64) -> String {
        let mut out = String::new();
        write_timestamp(&mut out, ns);
        out
    }

    fn java_double(d: f64) -> String {
        let mut out = String::new();
        write_java_double(&mut out, d);
        out
    }

    fn all_pages(batches: Vec<RecordBatch>, max_rows: Option<usize>) -> Vec<Json> {
        let mut pager = Pager::new(batches, max_rows, Arc::default());
        let mut pages = vec![pager.next_page().unwrap()];
        while !pager.done() {
            pages.push(pager.next_page().unwrap());
        }
        pages
            .iter()
            .map(|p| {
                assert!(p.len() <= PAGE_BYTES, "a page of {} bytes", p.len());
                serde_json::from_str(p).unwrap()
            })
            .collect()
    }

    fn strings(values: impl IntoIterator<Item = String>) -> RecordBatch {
        let a = arrow::array::StringArray::from_iter_values(values);
        RecordBatch::try_from_iter([("s", std::sync::Arc::new(a) as ArrayRef)]).unwrap()
    }

    #[test]
    fn pages_stay_under_a_megabyte_and_keep_every_row_in_order() {
        // 300 rows of 10 kB over two batches: at most about 100 a page.
        let batches = vec![
            strings((0..200).map(|i| format!("{i:05}{}", "x".repeat(10_000)))),
            strings((200..300).map(|i| format!("{i:05}{}", "x".repeat(10_000)))),
        ];
        let pages = all_pages(batches, None);
        assert!(pages.len() >= 3);
        let rows: Vec<String> = pages
            .iter()
            .flat_map(|p| p.as_array().unwrap().clone())
            .map(|r| r["Data"][0]["ScalarValue"].as_str().unwrap()[..5].to_owned())
            .collect();
        let expected: Vec<String> = (0..300).map(|i| format!("{i:05}")).collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn pages_hold_max_rows_and_an_empty_result_is_one_empty_page() {
        let batches = vec![strings((0..2500).map(|i| i.to_string()))];
        let sizes: Vec<usize> = all_pages(batches, Some(1000))
            .iter()
            .map(|p| p.as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        assert_eq!(all_pages(vec![], None), [serde_json::json!([])]);
        assert_eq!(
            all_pages(vec![strings([])], Some(3)),
            [serde_json::json!([])]
        );
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(35.2), "35.2");
        // Shortest round-trip digits, as Java 19+ prints. AWS's doc example shows the older JDK's
        // "1.6554878837710001E9" for this value; docs/compatibility.md lists the difference.
        assert_eq!(java_double(1_655_487_883.771), "1.655487883771E9");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(-2.5e-5), "-2.5E-5");
        assert_eq!(java_double(-0.0), "-0.0");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(9_999_999.5), "9999999.5");
        assert_eq!(java_double(-58.0), "-58.0");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
        assert_eq!(java_double(-1.0), "-1.0");
    }

    #[test]
    fn plain_doubles_have_the_shortest_digits_that_read_back() {
        // Spread over the plain range [1e-3, 1e7): what ryu prints matches Rust's own shortest formatting.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = 1e-3 * 1e10_f64.powf((x >> 11) as f64 / (1u64 << 53) as f64);
            if !(1e-3..1e7).contains(&d) {
                continue;
            }
            let std = d.to_string();
            let expected = if std.contains('.') {
                std
            } else {
                format!("{std}.0")
            };
            assert_eq!(java_double(d), expected);
            assert_eq!(java_double(d).parse::<f64>().ok(), Some(d));
        }
    }

    #[test]
    fn timestamps_have_nine_fraction_digits() {
        assert_eq!(
            timestamp(1_655_487_883_771_000_678),
            "2022-06-17 17:44:43.771000678"
        );
        assert_eq!(timestamp(1_000_000), "1970-01-01 00:00:00.001000000");
        assert_eq!(timestamp(-1), "1969-12-31 23:59:59.999999999");
        assert_eq!(timestamp(i64::MAX), "2262-04-11 23:47:16.854775807");
        assert_eq!(timestamp(i64::MIN), "1677-09-21 00:12:43.145224192");
    }
}
