//! Query results kept between calls: pages for `NextToken`, first responses for `ClientToken` idempotency, and
//! cancellation. Memory is bounded: the oldest results are dropped first.
//!
//! Rules (Query model documentation):
//! - a token is bound to the query string and the principal that started the query;
//! - the same token returns the same page, up to five times and for up to an hour;
//! - using a newer token of a query invalidates its older ones;
//! - pages hold at most `MaxRows` rows and about 1 MB of rows;
//! - a `ClientToken` without a `NextToken` repeated within 4 hours answers with the first response again;
//! - after `CancelQuery`, asking for another page is a `ConflictException`;
//! - a query still running when its call's wait ends is answered with no rows and a `NextToken` for its first page
//!   (`<id>.0`); calls with that token wait for it again, and do not count as uses of the token until it is ready.
//!
//! A result's first page is encoded before the call that ran the query answers; its other pages are encoded on a
//! blocking thread meanwhile, while the client reads the first. A call for a page not encoded yet waits for it.
//! Each page is kept as its whole response body, so that serving it copies nothing (a page is about 1 MB).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_query::Status;
use serde_json::Value as Json;

use crate::error::ApiError;

/// Rows of one page, in bytes of their JSON.
pub const PAGE_BYTES: usize = 1 << 20;
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
const TOKEN_USES: u32 = 5;
const CLIENT_TOKEN_LIFETIME: Duration = Duration::from_secs(4 * 3600);
/// All kept results together.
const MAX_KEPT_BYTES: usize = 256 << 20;
const MAX_KEPT_RESULTS: usize = 100_000;

impl Entry {
    /// A result of `query` for `principal`, with no pages yet.
    fn new(principal: &str, query: &str, column_info: String) -> Self {
        Self {
            principal: principal.to_owned(),
            query: query.to_owned(),
            column_info,
            status: String::new(),
            pages: Vec::new(),
            filling: None,
            fill_error: None,
            bytes: 0,
            created: Instant::now(),
            cancelled: false,
            running: None,
            failed: None,
            deferred: false,
            newest_used: 0,
            uses: HashMap::new(),
        }
    }

    /// The answer of the call that ran the query: its first page, or while it runs (or after it failed
    /// meanwhile) the running answer.
    fn first_response(&self, id: &str) -> Bytes {
        if let Some(r) = &self.running {
            return running_response(id, &self.column_info, r.polls, r.task.progress.now()).into();
        }
        if self.failed.is_some() {
            return running_response(id, &self.column_info, 0, Status::default()).into();
        }
        self.pages[0].clone()
    }

    /// Adds the next page, whose rows are `rows` (the JSON text of an array), as its response body; `more` says
    /// whether a page follows it. Returns the body's length.
    fn add_page(&mut self, id: &str, rows: &str, more: bool) -> usize {
        let next = more.then(|| token(id, self.pages.len() + 1));
        let body = Bytes::from(response(id, rows, &self.column_info, next, &self.status));
        let n = body.len();
        self.pages.push(body);
        n
    }

    /// Marks the later pages as being encoded; returns them with the sender that [`QueryResults::fill`] signals on.
    fn start_filling(
        &mut self,
        more: Box<dyn MorePages>,
    ) -> (Box<dyn MorePages>, tokio::sync::watch::Sender<()>) {
        let (tx, rx) = tokio::sync::watch::channel(());
        self.filling = Some(rx);
        (more, tx)
    }

    /// Whether the result has this page: encoded, still to be encoded, or the one whose encoding failed.
    fn has_page(&self, page: usize) -> bool {
        page < self.pages.len()
            || (page == self.pages.len() && (self.filling.is_some() || self.fill_error.is_some()))
    }
}

/// The task that runs a query: how to stop it, and how far it has got.
#[derive(Debug)]
pub struct QueryTask {
    pub abort: tokio::task::AbortHandle,
    pub progress: Arc<freshet_query::Progress>,
}

/// A query whose first call ended before it did.
#[derive(Debug)]
struct Running {
    done: tokio::sync::watch::Receiver<bool>,
    task: QueryTask,
    /// Answers given while it ran.
    polls: u32,
}

#[derive(Debug)]
struct Entry {
    principal: String,
    query: String,
    /// `ColumnInfo` and `QueryStatus` as JSON text, encoded once for every page.
    column_info: String,
    status: String,
    /// Each page's response body, encoded once.
    pages: Vec<Bytes>,
    /// Set while later pages are being encoded: it changes as each is added, and closes after the last.
    filling: Option<tokio::sync::watch::Receiver<()>>,
    /// Why the page after the last encoded one could not be encoded.
    fill_error: Option<ApiError>,
    bytes: usize,
    created: Instant,
    cancelled: bool,
    /// Set while the query runs; its pages are empty until then.
    running: Option<Running>,
    /// The query's error, when it failed after its first call.
    failed: Option<ApiError>,
    /// Its first page is read with a token (`<id>.0`): the query outlasted its first call.
    deferred: bool,
    /// The newest page a token has been used for; tokens of earlier pages are invalid.
    newest_used: usize,
    /// Uses of each page's token.
    uses: HashMap<usize, u32>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// (principal, client token) → query id.
    client_tokens: HashMap<(String, String), String>,
    /// Query ids, oldest first.
    order: VecDeque<String>,
    bytes: usize,
}

#[derive(Debug)]
pub struct QueryResults {
    inner: Mutex<Inner>,
    /// How long one call waits for its query.
    wait: Duration,
    /// How long a query may run before it is stopped.
    time_limit: Duration,
}

/// How long one call waits for its query by default. AWS's calls last up to 60 s, and SDKs give up on a response
/// after about as long; a shorter wait keeps within their defaults.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);

/// How long a query may run by default: Timestream's quota on query execution time, one hour.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);

impl Default for QueryResults {
    fn default() -> Self {
        Self::new(DEFAULT_WAIT)
    }
}

/// The pages of a result after its first, encoded one at a time on a blocking thread.
pub trait MorePages: Send + 'static {
    /// The next page's rows as the JSON text of an array. Called only while [`MorePages::done`] is false.
    fn next_page(&mut self) -> Result<String, ApiError>;
    /// Whether every page has been returned.
    fn done(&self) -> bool;
}

/// A query's result: `ColumnInfo`, its first page of rows, the pages after it, and `QueryStatus`.
pub struct Finished {
    pub column_info: Json,
    pub first: String,
    /// `None` when the first page holds every row.
    pub more: Option<Box<dyn MorePages>>,
    pub status: Json,
}

/// A page asked for with a `NextToken`.
#[derive(Debug)]
pub enum Page {
    Ready(Bytes),
    /// The query still runs: the signal that it has ended, and the answer to give if it has not by the wait's end.
    Running(tokio::sync::watch::Receiver<bool>, String),
    /// The page is being encoded: the signal that changes when a page is added (or encoding ends). Ask again then.
    Encoding(tokio::sync::watch::Receiver<()>),
}

/// The answer while a query runs: no rows yet, its progress, and a token of its first page. Each answer gets a
/// token of its own (`<id>.0~<n>`): SDK paginators stop when a token repeats. The bytes metered so far are the
/// bytes scanned so far; the 10 MB minimum is applied when the query ends.
fn running_response(query_id: &str, column_info: &str, poll: u32, status: Status) -> String {
    let Status {
        percent,
        bytes_scanned,
    } = status;
    response(
        query_id,
        "[]",
        column_info,
        Some(format!("{}~{poll}", token(query_id, 0))),
        &format!(
            "{{\"ProgressPercentage\":{percent:?},\"CumulativeBytesScanned\":{bytes_scanned},\
             \"CumulativeBytesMetered\":{bytes_scanned}}}"
        ),
    )
}

fn token(query_id: &str, page: usize) -> String {
    format!("{query_id}.{page}")
}

/// The response body of one page: the page's rows are spliced in as they were encoded.
fn response(
    query_id: &str,
    rows: &str,
    column_info: &str,
    next: Option<String>,
    status: &str,
) -> String {
    let next_len = next.as_ref().map_or(0, String::len);
    let mut r =
        String::with_capacity(rows.len() + column_info.len() + status.len() + next_len + 128);
    r.push_str("{\"QueryId\":");
    r.push_str(&Json::from(query_id).to_string());
    r.push_str(",\"Rows\":");
    r.push_str(rows);
    r.push_str(",\"ColumnInfo\":");
    r.push_str(column_info);
    r.push_str(",\"QueryStatus\":");
    r.push_str(status);
    if let Some(t) = next {
        r.push_str(",\"NextToken\":");
        r.push_str(&Json::from(t).to_string());
    }
    r.push('}');
    r
}

impl QueryResults {
    pub fn new(wait: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            wait,
            time_limit: DEFAULT_TIME_LIMIT,
        }
    }

    pub fn with_time_limit(self, time_limit: Duration) -> Self {
        Self { time_limit, ..self }
    }

    pub fn wait(&self) -> Duration {
        self.wait
    }

    pub fn time_limit(&self) -> Duration {
        self.time_limit
    }

    /// Keeps a query that outlasted its first call, and answers that call. Returns the sender that signals its
    /// end.
    pub fn start(
        &self,
        principal: &str,
        query: &str,
        client_token: Option<&str>,
        query_id: &str,
        column_info: Json,
        task: QueryTask,
    ) -> (tokio::sync::watch::Sender<bool>, Bytes) {
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let entry = Entry {
            running: Some(Running {
                done,
                task,
                polls: 0,
            }),
            deferred: true,
            ..Entry::new(principal, query, column_info.to_string())
        };
        let answer = entry.first_response(query_id);
        self.keep(client_token, query_id, entry);
        (done_tx, answer)
    }

    /// Keeps `entry` as the result of `query_id` (and of its client token).
    fn keep(&self, client_token: Option<&str>, query_id: &str, entry: Entry) {
        let mut inner = self.lock();
        inner.expire();
        if let Some(t) = client_token {
            inner
                .client_tokens
                .insert((entry.principal.clone(), t.to_owned()), query_id.to_owned());
        }
        inner.bytes += entry.bytes;
        inner.order.push_back(query_id.to_owned());
        inner.entries.insert(query_id.to_owned(), entry);
        inner.shrink();
    }

    /// Records the outcome of a query that outlasted its first call.
    pub fn finish(self: &Arc<Self>, query_id: &str, outcome: Result<Finished, ApiError>) {
        let mut inner = self.lock();
        let Some(e) = inner.entries.get_mut(query_id) else {
            return; // dropped meanwhile
        };
        e.running = None;
        let (added, more) = match outcome {
            Ok(f) => {
                e.column_info = f.column_info.to_string();
                e.status = f.status.to_string();
                e.pages.clear();
                e.bytes = e.add_page(query_id, &f.first, f.more.is_some());
                (e.bytes, f.more)
            }
            Err(error) => {
                e.failed = Some(error);
                (0, None)
            }
        };
        let filling = more.map(|more| e.start_filling(more));
        inner.bytes += added;
        inner.shrink();
        drop(inner);
        if let Some((more, tx)) = filling {
            self.fill(query_id, more, tx);
        }
    }

    /// Encodes the pages after the first on a blocking thread, adding each to the result as it is done. Stops when
    /// the result is dropped or cancelled meanwhile.
    /// `tx` is the sender of the result's `filling`.
    fn fill(
        self: &Arc<Self>,
        query_id: &str,
        mut more: Box<dyn MorePages>,
        tx: tokio::sync::watch::Sender<()>,
    ) {
        let (results, id) = (self.clone(), query_id.to_owned());
        tokio::task::spawn_blocking(move || {
            loop {
                // A panic while encoding must not leave callers waiting for a page that never comes.
                let page =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| more.next_page()))
                        .unwrap_or_else(|_| {
                            Err(ApiError::Internal("encoding a result page panicked".into()))
                        });
                let last = page.is_err() || more.done();
                let mut inner = results.lock();
                let Some(e) = inner.entries.get_mut(&id).filter(|e| !e.cancelled) else {
                    return; // dropped or cancelled: nobody reads the rest
                };
                let added = match page {
                    Ok(p) => {
                        let n = e.add_page(&id, &p, !last);
                        e.bytes += n;
                        n
                    }
                    Err(error) => {
                        e.fill_error = Some(error);
                        0
                    }
                };
                if last {
                    e.filling = None;
                }
                inner.bytes += added;
                inner.shrink();
                drop(inner);
                tx.send_replace(());
                if last {
                    return;
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first response of an earlier run with this client token, if it ran the same query for this principal.
    pub fn repeated(&self, principal: &str, client_token: &str, query: &str) -> Option<Bytes> {
        let mut inner = self.lock();
        inner.expire();
        let id = inner
            .client_tokens
            .get(&(principal.to_owned(), client_token.to_owned()))?
            .clone();
        let e = inner.entries.get(&id)?;
        (e.query == query && e.created.elapsed() < CLIENT_TOKEN_LIFETIME)
            .then(|| e.first_response(&id))
    }

    /// Keeps a fresh result, starts encoding its later pages, and answers with its first page.
    pub fn first_page(
        self: &Arc<Self>,
        principal: &str,
        query: &str,
        client_token: Option<&str>,
        query_id: String,
        finished: Finished,
    ) -> Bytes {
        let mut entry = Entry {
            status: finished.status.to_string(),
            ..Entry::new(principal, query, finished.column_info.to_string())
        };
        entry.bytes = entry.add_page(&query_id, &finished.first, finished.more.is_some());
        let filling = finished.more.map(|more| entry.start_filling(more));
        let first = entry.first_response(&query_id);
        self.keep(client_token, &query_id, entry);
        if let Some((more, tx)) = filling {
            self.fill(&query_id, more, tx);
        }
        first
    }

    /// The page a `NextToken` stands for.
    pub fn page(&self, principal: &str, query: &str, next_token: &str) -> Result<Page, ApiError> {
        let invalid = || ApiError::Validation("The pagination token is invalid.".into());
        let (id, page) = next_token.rsplit_once('.').ok_or_else(invalid)?;
        // `<page>`, or `0~<n>` while the query ran.
        let page: usize = match page.split_once('~') {
            Some(("0", n)) if n.parse::<u32>().is_ok() => 0,
            Some(_) => return Err(invalid()),
            None => page.parse().map_err(|_| invalid())?,
        };
        let mut inner = self.lock();
        inner.expire();
        let e = inner.entries.get_mut(id).ok_or_else(invalid)?;
        if e.principal != principal || e.query != query {
            return Err(invalid());
        }
        if e.cancelled {
            return Err(ApiError::Conflict(format!(
                "Query {id} was canceled; start it again to read its results."
            )));
        }
        if page == 0 && e.deferred {
            if let Some(r) = &mut e.running {
                r.polls += 1;
                return Ok(Page::Running(
                    r.done.clone(),
                    running_response(id, &e.column_info, r.polls, r.task.progress.now()),
                ));
            }
            if let Some(error) = &e.failed {
                return Err(error.clone());
            }
        }
        if (page == 0 && !e.deferred) || !e.has_page(page) || page < e.newest_used {
            return Err(invalid());
        }
        if page == e.pages.len() {
            if let Some(filling) = &e.filling {
                let mut changed = filling.clone();
                changed.mark_unchanged();
                return Ok(Page::Encoding(changed));
            }
            if let Some(error) = &e.fill_error {
                return Err(error.clone());
            }
        }
        if e.created.elapsed() >= TOKEN_LIFETIME {
            return Err(invalid());
        }
        let uses = e.uses.entry(page).or_insert(0);
        if *uses >= TOKEN_USES {
            return Err(invalid());
        }
        *uses += 1;
        e.newest_used = page;
        Ok(Page::Ready(e.pages[page].clone()))
    }

    /// Cancels a query whose pages have not all been read. Returns the `CancellationMessage`, if any.
    pub fn cancel(&self, principal: &str, query_id: &str) -> Result<Option<String>, ApiError> {
        let mut inner = self.lock();
        let Some(e) = inner
            .entries
            .get_mut(query_id)
            .filter(|e| e.principal == principal)
        else {
            return Err(ApiError::Validation(format!(
                "The query ID {query_id} does not match a query this caller started in the last hour."
            )));
        };
        if e.cancelled {
            return Ok(Some(format!("Query {query_id} has already been canceled.")));
        }
        e.cancelled = true;
        if let Some(r) = e.running.take() {
            r.task.abort.abort();
        }
        Ok(None)
    }
}

impl Inner {
    fn remove(&mut self, id: &str) {
        if let Some(e) = self.entries.remove(id) {
            self.bytes -= e.bytes;
        }
    }

    fn expire(&mut self) {
        let mut removed = false;
        while let Some(id) = self.order.front() {
            let old = self
                .entries
                .get(id)
                .is_none_or(|e| e.created.elapsed() >= CLIENT_TOKEN_LIFETIME);
            if !old {
                break;
            }
            let id = self.order.pop_front().expect("front exists");
            self.remove(&id);
            removed = true;
        }
        if removed {
            self.forget_dangling_client_tokens();
        }
    }

    /// Over a limit, drops the oldest results down to 90% of it, so that the client-token sweep stays rare.
    fn shrink(&mut self) {
        if self.bytes <= MAX_KEPT_BYTES && self.order.len() <= MAX_KEPT_RESULTS {
            return;
        }
        let mut removed = false;
        while (self.bytes > MAX_KEPT_BYTES / 10 * 9 || self.order.len() > MAX_KEPT_RESULTS / 10 * 9)
            && self.order.len() > 1
        {
            let id = self.order.pop_front().expect("more than one");
            self.remove(&id);
            removed = true;
        }
        if removed {
            self.forget_dangling_client_tokens();
        }
    }

    fn forget_dangling_client_tokens(&mut self) {
        let entries = &self.entries;
        self.client_tokens.retain(|_, id| entries.contains_key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Pages given in advance, the last of which may be an error.
    struct Given(VecDeque<Result<String, ApiError>>);

    impl MorePages for Given {
        fn next_page(&mut self) -> Result<String, ApiError> {
            self.0.pop_front().expect("not done")
        }
        fn done(&self) -> bool {
            self.0.is_empty()
        }
    }

    /// Rows `0..n` as pages of `per_page` rows.
    fn pages(n: usize, per_page: usize) -> VecDeque<Result<String, ApiError>> {
        let rows: Vec<String> = (0..n)
            .map(|i| json!({ "Data": [{ "ScalarValue": i.to_string() }] }).to_string())
            .collect();
        rows.chunks(per_page)
            .map(|c| Ok(format!("[{}]", c.join(","))))
            .collect()
    }

    fn parse(body: &[u8]) -> Json {
        serde_json::from_slice(body).unwrap()
    }

    /// A page as `Query` with a `NextToken` answers it: waiting while it is encoded.
    async fn page(r: &QueryResults, principal: &str, q: &str, t: &str) -> Result<Json, ApiError> {
        loop {
            match r.page(principal, q, t)? {
                Page::Ready(s) => return Ok(parse(&s)),
                Page::Running(..) => panic!("the query is still running"),
                Page::Encoding(mut changed) => {
                    let _ = changed.changed().await;
                }
            }
        }
    }

    fn keep(r: &Arc<QueryResults>, mut pages: VecDeque<Result<String, ApiError>>) -> Json {
        let first = pages.pop_front().unwrap().unwrap();
        let more = (!pages.is_empty()).then(|| Box::new(Given(pages)) as Box<dyn MorePages>);
        let finished = Finished {
            column_info: json!([]),
            first,
            more,
            status: json!({}),
        };
        parse(&r.first_page("p", "q", Some("ct"), "Q1".into(), finished))
    }

    #[tokio::test]
    async fn pages_follow_max_rows_and_tokens_follow_the_rules() {
        let r = Arc::new(QueryResults::default());
        let first = keep(&r, pages(10, 4));
        assert_eq!(first["Rows"].as_array().unwrap().len(), 4);
        let t1 = first["NextToken"].as_str().unwrap().to_owned();
        // Bound to principal and query string.
        assert!(page(&r, "other", "q", &t1).await.is_err());
        assert!(page(&r, "p", "other query", &t1).await.is_err());
        let second = page(&r, "p", "q", &t1).await.unwrap();
        assert_eq!(
            second,
            page(&r, "p", "q", &t1).await.unwrap(),
            "same token, same page"
        );
        assert_eq!(second["Rows"][0]["Data"][0]["ScalarValue"], "4");
        let t2 = second["NextToken"].as_str().unwrap().to_owned();
        let third = page(&r, "p", "q", &t2).await.unwrap();
        assert_eq!(third["Rows"].as_array().unwrap().len(), 2);
        assert!(third.get("NextToken").is_none());
        assert!(
            page(&r, "p", "q", &t1).await.is_err(),
            "a newer token invalidates older ones"
        );
        for _ in 0..4 {
            page(&r, "p", "q", &t2).await.unwrap();
        }
        assert!(page(&r, "p", "q", &t2).await.is_err(), "five uses at most");
        assert!(page(&r, "p", "q", "garbage").await.is_err());
        assert!(
            page(&r, "p", "q", "Q1.3").await.is_err(),
            "no page after the last"
        );
    }

    #[tokio::test]
    async fn a_page_that_cannot_be_encoded_is_an_error_of_its_token() {
        let r = Arc::new(QueryResults::default());
        let mut given = pages(4, 2);
        given.push_back(Err(ApiError::QueryExecution("too big".into())));
        let first = keep(&r, given);
        let t1 = first["NextToken"].as_str().unwrap().to_owned();
        let second = page(&r, "p", "q", &t1).await.unwrap();
        let t2 = second["NextToken"].as_str().unwrap().to_owned();
        assert!(matches!(
            page(&r, "p", "q", &t2).await,
            Err(ApiError::QueryExecution(m)) if m == "too big"
        ));
    }

    #[tokio::test]
    async fn client_tokens_repeat_and_cancel_conflicts() {
        let r = Arc::new(QueryResults::default());
        let first = keep(&r, pages(3, 1));
        assert_eq!(
            r.repeated("p", "ct", "q").map(|s| parse(&s)),
            Some(first.clone())
        );
        assert_eq!(r.repeated("p", "ct", "other"), None);
        assert_eq!(r.cancel("p", "Q1").unwrap(), None);
        assert!(r.cancel("p", "Q1").unwrap().is_some());
        let t = first["NextToken"].as_str().unwrap();
        assert!(matches!(
            page(&r, "p", "q", t).await,
            Err(ApiError::Conflict(_))
        ));
        assert!(r.cancel("p", "nope").is_err());
    }
}
