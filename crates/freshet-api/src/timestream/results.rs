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
//! blocking thread, at most [`LOOKAHEAD`] pages ahead of the newest page asked for, while the client reads. A call for
//! a page not encoded yet waits for it. Each page is kept as its whole response body, so that serving it copies
//! nothing (a page is about 1 MB), until a newer page is read: then its token is invalid, and only the first page
//! (the answer to a repeated `ClientToken`) stays. A large result thus holds its rows (as Arrow arrays) and a few
//! pages, not all of its pages' text, which is about twice the size of its rows.

use std::collections::{HashMap, HashSet, VecDeque};
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
/// Pages encoded ahead of the newest page asked for: enough that a client reading pages one after another does not
/// wait for them (encoding a page takes a few milliseconds, a client's parsing of it several times that).
const LOOKAHEAD: usize = 2;

impl Entry {
    /// A result of `query` for `principal`, with no pages yet.
    fn new(principal: &str, query: &str, column_info: String) -> Self {
        Self {
            principal: principal.to_owned(),
            query: query.to_owned(),
            column_info,
            status: String::new(),
            pages: Vec::new(),
            more: None,
            producer: None,
            held: 0,
            filling: None,
            fill_error: None,
            bytes: 0,
            created: Instant::now(),
            cancelled: false,
            running: None,
            failed: None,
            deferred: false,
            newest_used: 0,
            newest_asked: 0,
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
    /// whether a page follows it.
    fn add_page(&mut self, id: &str, rows: &str, more: bool) {
        let next = more.then(|| token(id, self.pages.len() + 1));
        let body = Bytes::from(response(id, rows, &self.column_info, next, &self.status));
        self.pages.push(body);
    }

    /// Keeps the encoder of the pages after the first, and a way to stop the query they come from.
    fn keep_first_more(&mut self, more: Box<dyn MorePages>) {
        self.producer = more.producer().map(Producer);
        self.keep_more(more);
    }

    /// Keeps the encoder of the pages not yet encoded, while none is being encoded.
    fn keep_more(&mut self, more: Box<dyn MorePages>) {
        self.held = more.held_bytes();
        self.more = Some(more);
    }

    /// When fewer than [`LOOKAHEAD`] pages are encoded past the newest page asked for and no encoding runs: marks
    /// the later pages as being encoded, and returns their encoder with the sender that [`QueryResults::fill`]
    /// signals on.
    fn start_encoding(&mut self) -> Option<(Box<dyn MorePages>, tokio::sync::watch::Sender<()>)> {
        if self.cancelled || self.filling.is_some() || !self.behind() {
            return None;
        }
        let more = self.more.take()?;
        let (tx, rx) = tokio::sync::watch::channel(());
        self.filling = Some(rx);
        Some((more, tx))
    }

    /// Page `page`, encoded, read with its token: `None` when the token is past its hour or its uses. Reading a page
    /// invalidates the tokens of the pages before it, so their bodies are let go (all but the first's, which a
    /// repeated `ClientToken` is answered with).
    fn read(&mut self, page: usize) -> Option<Bytes> {
        if self.created.elapsed() >= TOKEN_LIFETIME {
            return None;
        }
        let uses = self.uses.entry(page).or_insert(0);
        if *uses >= TOKEN_USES {
            return None;
        }
        *uses += 1;
        for old in self.newest_used.max(1)..page {
            self.pages[old] = Bytes::new();
            self.uses.remove(&old);
        }
        self.newest_used = page;
        Some(self.pages[page].clone())
    }

    /// Whether fewer pages are encoded than the newest page asked for and [`LOOKAHEAD`] more.
    fn behind(&self) -> bool {
        self.pages.len() <= self.newest_asked + LOOKAHEAD
    }

    /// The bytes the result holds: its pages', its rows' not yet encoded, and those its query has computed and
    /// queued.
    fn weight(&self) -> usize {
        let queued = self.producer.as_ref().map_or(0, |p| p.0.queued_bytes());
        self.pages.iter().map(Bytes::len).sum::<usize>() + self.held + queued
    }

    /// Whether the result has this page: encoded, still to be encoded, or the one whose encoding failed.
    fn has_page(&self, page: usize) -> bool {
        page < self.pages.len()
            || (page == self.pages.len()
                && (self.filling.is_some() || self.more.is_some() || self.fill_error.is_some()))
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
    /// `ColumnInfo` and `QueryStatus` as JSON text, encoded once for every page. The status text is followed by
    /// `,"QueryInsightsResponse":{…}` once the query has ended with insights ([`status_text`]).
    column_info: String,
    status: String,
    /// Each page's response body, encoded once. Pages before the newest one read are emptied (their tokens are
    /// invalid), except the first.
    pages: Vec<Bytes>,
    /// The encoder of the pages not encoded yet, while no encoding runs. `None` once every page is encoded.
    more: Option<Box<dyn MorePages>>,
    /// The query, while it may still run after the first page.
    producer: Option<Producer>,
    /// The bytes held by the encoder (the rows not yet encoded), as of when it was last kept.
    held: usize,
    /// Set while later pages are being encoded: it changes as each is added, and closes when encoding stops.
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
    /// The newest page asked for, read or not yet encoded: pages are encoded up to [`LOOKAHEAD`] past it.
    newest_asked: usize,
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
    /// Results whose queries still compute rows after their first page: their weight grows between calls.
    producing: HashSet<String>,
}

#[derive(Debug)]
pub struct QueryResults {
    inner: Mutex<Inner>,
    /// How long one call waits for its query.
    wait: Duration,
    /// How long a query may run before it is stopped.
    time_limit: Duration,
    /// When each account last ran a query with `QueryInsights`: at most one a second.
    insights: Mutex<HashMap<String, Instant>>,
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
    /// The bytes of memory held for the pages not yet returned.
    fn held_bytes(&self) -> usize {
        0
    }
    /// `QueryStatus` for the next page, as [`status_text`], when it changes from page to page (while the query
    /// runs, and once when it ends).
    fn status(&self) -> Option<String> {
        None
    }
    /// The query the pages come from, while it may still run: its rows queued for the pages weigh on the kept
    /// results, and cancelling or letting go of the result stops it.
    fn producer(&self) -> Option<freshet_query::StreamHandle> {
        None
    }
}

/// The query a result's later pages come from, stopped when the result is cancelled or let go.
#[derive(Debug)]
struct Producer(freshet_query::StreamHandle);

impl Drop for Producer {
    fn drop(&mut self) {
        self.0.stop();
    }
}

impl std::fmt::Debug for dyn MorePages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MorePages")
            .field("held_bytes", &self.held_bytes())
            .finish()
    }
}

/// A query's result: `ColumnInfo`, its first page of rows, the pages after it, and `QueryStatus`.
pub struct Finished {
    pub column_info: Json,
    pub first: String,
    /// `None` when the first page holds every row.
    pub more: Option<Box<dyn MorePages>>,
    pub status: Json,
    /// `QueryInsightsResponse`, when the query was asked for it and has ended.
    pub insights: Option<Json>,
}

/// `QueryStatus`'s JSON text as pages splice it, followed by `QueryInsightsResponse` when there is one.
pub fn status_text(status: &Json, insights: Option<&Json>) -> String {
    match insights {
        Some(insights) => format!("{status},\"QueryInsightsResponse\":{insights}"),
        None => status.to_string(),
    }
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
    response(
        query_id,
        "[]",
        column_info,
        Some(format!("{}~{poll}", token(query_id, 0))),
        &running_status(status).to_string(),
    )
}

/// `QueryStatus` while a query runs: its progress, and as many bytes metered as scanned so far (the 10 MB minimum
/// is applied when it ends).
pub fn running_status(status: Status) -> Json {
    serde_json::json!({
        "ProgressPercentage": status.percent,
        "CumulativeBytesScanned": status.bytes_scanned,
        "CumulativeBytesMetered": status.bytes_scanned,
    })
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
            insights: Mutex::default(),
        }
    }

    /// Whether `account` may run a query with `QueryInsights` now (Timestream's rate control: one a second), and
    /// if so, counts it.
    pub fn insights_allowed(&self, account: &str) -> bool {
        let mut last = self.insights.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        last.retain(|_, at| now.duration_since(*at) < Duration::from_secs(1));
        if last.contains_key(account) {
            return false;
        }
        last.insert(account.to_owned(), now);
        true
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
        if entry.producer.is_some() {
            inner.producing.insert(query_id.to_owned());
        }
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
        match outcome {
            Ok(f) => {
                e.column_info = f.column_info.to_string();
                e.status = status_text(&f.status, f.insights.as_ref());
                e.pages.clear();
                e.add_page(query_id, &f.first, f.more.is_some());
                if let Some(more) = f.more {
                    e.keep_first_more(more);
                }
            }
            Err(error) => e.failed = Some(error),
        }
        let producing = e.producer.is_some();
        let encoding = e.start_encoding();
        if producing {
            inner.producing.insert(query_id.to_owned());
        }
        inner.reweigh(query_id);
        drop(inner);
        if let Some((more, tx)) = encoding {
            self.fill(query_id, more, tx);
        }
    }

    /// Encodes pages on a blocking thread, adding each to the result as it is done, until [`LOOKAHEAD`] pages are
    /// encoded past the newest page asked for (then the encoder is kept for later) or every page is. Stops when the
    /// result is dropped or cancelled meanwhile. `tx` is the sender of the result's `filling`.
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
                let status = more.status();
                let mut inner = results.lock();
                let Some(e) = inner.entries.get_mut(&id).filter(|e| !e.cancelled) else {
                    return; // dropped or cancelled: nobody reads the rest
                };
                if let Some(status) = status {
                    e.status = status;
                }
                match page {
                    Ok(p) => e.add_page(&id, &p, !last),
                    Err(error) => e.fill_error = Some(error),
                }
                let pause = !last && !e.behind();
                if !(last || pause) {
                    inner.reweigh(&id);
                    drop(inner);
                    tx.send_replace(());
                    continue;
                }
                e.filling = None;
                if pause {
                    e.keep_more(more);
                }
                inner.reweigh(&id);
                drop(inner);
                tx.send_replace(());
                return;
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
            status: status_text(&finished.status, finished.insights.as_ref()),
            ..Entry::new(principal, query, finished.column_info.to_string())
        };
        entry.add_page(&query_id, &finished.first, finished.more.is_some());
        if let Some(more) = finished.more {
            entry.keep_first_more(more);
        }
        entry.bytes = entry.weight();
        let encoding = entry.start_encoding();
        let first = entry.first_response(&query_id);
        self.keep(client_token, &query_id, entry);
        if let Some((more, tx)) = encoding {
            self.fill(&query_id, more, tx);
        }
        first
    }

    /// The page a `NextToken` stands for. Asking for a page also has the pages up to [`LOOKAHEAD`] past it encoded.
    pub fn page(
        self: &Arc<Self>,
        principal: &str,
        query: &str,
        next_token: &str,
    ) -> Result<Page, ApiError> {
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
        e.newest_asked = e.newest_asked.max(page);
        let encoding = e.start_encoding();
        let answer = if page == e.pages.len() {
            match (&e.filling, &e.fill_error) {
                (Some(filling), _) => {
                    let mut changed = filling.clone();
                    changed.mark_unchanged();
                    Ok(Page::Encoding(changed))
                }
                (None, Some(error)) => Err(error.clone()),
                (None, None) => Err(invalid()),
            }
        } else {
            e.read(page).ok_or_else(invalid).map(Page::Ready)
        };
        inner.reweigh(id);
        drop(inner);
        if let Some((more, tx)) = encoding {
            self.fill(id, more, tx);
        }
        answer
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
        // Nobody reads its later pages now: stop the query, and let go of the rows they would have been encoded
        // from.
        e.producer = None;
        e.more = None;
        e.held = 0;
        inner.reweigh(query_id);
        Ok(None)
    }
}

impl Inner {
    /// Counts a result's bytes again after its pages or rows changed, and drops old results if over the limit.
    fn reweigh(&mut self, id: &str) {
        if let Some(e) = self.entries.get_mut(id) {
            let weight = e.weight();
            self.bytes = self.bytes - e.bytes + weight;
            e.bytes = weight;
        }
        self.shrink();
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.entries.remove(id) {
            self.bytes -= e.bytes;
        }
        self.producing.remove(id);
    }

    /// Weighs again the results whose queries still compute rows; forgets those whose queries have ended.
    fn weigh_producing(&mut self) {
        let ids: Vec<String> = self.producing.iter().cloned().collect();
        for id in ids {
            let Some(e) = self.entries.get_mut(&id) else {
                self.producing.remove(&id);
                continue;
            };
            // Weighed after its end, its queued rows are all counted.
            if e.producer.as_ref().is_none_or(|p| p.0.is_finished()) {
                self.producing.remove(&id);
            }
            let weight = e.weight();
            self.bytes = self.bytes - e.bytes + weight;
            e.bytes = weight;
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
        self.weigh_producing();
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
    async fn page(
        r: &Arc<QueryResults>,
        principal: &str,
        q: &str,
        t: &str,
    ) -> Result<Json, ApiError> {
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
            insights: None,
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

    /// Waits for the encoding of a result's pages to stop; returns which pages are held (with their bodies).
    async fn held_pages(r: &QueryResults, id: &str) -> Vec<usize> {
        loop {
            {
                let inner = r.lock();
                let e = &inner.entries[id];
                if e.filling.is_none() {
                    assert_eq!(inner.bytes, e.weight(), "the result's bytes are counted");
                    return (0..e.pages.len())
                        .filter(|&i| !e.pages[i].is_empty())
                        .collect();
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn pages_are_encoded_a_few_ahead_and_let_go_once_read_past() {
        let r = Arc::new(QueryResults::default());
        let first = keep(&r, pages(20, 1));
        assert_eq!(held_pages(&r, "Q1").await, [0, 1, 2], "two pages ahead");
        let mut out = first;
        for n in 1..=5 {
            out = page(&r, "p", "q", out["NextToken"].as_str().unwrap())
                .await
                .unwrap();
            assert_eq!(out["Rows"][0]["Data"][0]["ScalarValue"], n.to_string());
        }
        assert_eq!(
            held_pages(&r, "Q1").await,
            [0, 5, 6, 7],
            "the first page, the one read last and two ahead"
        );
        while out.get("NextToken").is_some() {
            out = page(&r, "p", "q", out["NextToken"].as_str().unwrap())
                .await
                .unwrap();
        }
        assert_eq!(out["Rows"][0]["Data"][0]["ScalarValue"], "19");
        assert_eq!(held_pages(&r, "Q1").await, [0, 19]);
        assert_eq!(
            r.repeated("p", "ct", "q")
                .map(|s| parse(&s)["Rows"].clone()),
            Some(json!([{ "Data": [{ "ScalarValue": "0" }] }])),
            "a repeated client token still gets the first page"
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
