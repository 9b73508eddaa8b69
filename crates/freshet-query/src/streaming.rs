//! A query's result as it is produced. A task on the query runtime drives the physical plan to its end and sends
//! each batch on as it comes, so that the first page of a large result can be answered while the rest is still
//! being computed (a sort of the table's partition key streams: `sorted.rs`). The task runs on whether or not
//! anyone reads: a query nobody reads to its end must not hold its plan's buffers (a Parquet reader holds a row
//! group's columns), and the rows it queues are counted ([`StreamHandle::queued_bytes`]) so that whoever keeps them
//! can bound them. It is bounded by the query's time limit and result limit, and stops when the stream is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use futures::future::BoxFuture;

use crate::insights::Insights;
use crate::{AbortOnDrop, Error, QueryResult, Result};

/// What a result stream gives next.
#[derive(Debug)]
pub enum Next {
    Batch(RecordBatch),
    /// The query has ended: every batch has been given.
    End(Ended),
}

/// What is known of a query once it has ended.
#[derive(Debug, Clone, Default)]
pub struct Ended {
    /// Bytes of table data the query read.
    pub bytes_scanned: u64,
    /// Its insights, when they were asked for.
    pub insights: Option<Arc<Insights>>,
}

/// The batches of a running query, in order.
#[derive(Debug)]
pub struct ResultStream {
    schema: SchemaRef,
    rx: mpsc::UnboundedReceiver<Result<Next>>,
    /// Bytes of the batches sent and not yet taken.
    queued: Arc<AtomicUsize>,
    /// Set once the end has been given.
    ended: Option<Ended>,
    producer: Option<AbortOnDrop<()>>,
}

impl ResultStream {
    /// A result already whole (SHOW, DESCRIBE, or one collected first).
    pub(crate) fn whole(result: QueryResult) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = result
            .batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum();
        for batch in result.batches {
            let _ = tx.send(Ok(Next::Batch(batch)));
        }
        let _ = tx.send(Ok(Next::End(Ended {
            bytes_scanned: result.bytes_scanned,
            insights: result.insights,
        })));
        Self {
            schema: result.schema,
            rx,
            queued: Arc::new(AtomicUsize::new(queued)),
            ended: None,
            producer: None,
        }
    }

    /// Runs `stream` to its end on the current runtime, sending each batch through `prepare` and on to the
    /// returned stream. `end` is called once the plan has given its last batch, and gives what is known of the
    /// ended query (within the time limit too); errors go through `located`.
    pub(crate) fn spawn(
        schema: SchemaRef,
        mut stream: SendableRecordBatchStream,
        limits: Limits,
        prepare: impl Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync + 'static,
        located: impl Fn(datafusion::error::DataFusionError) -> Error + Send + Sync + 'static,
        end: impl FnOnce() -> BoxFuture<'static, Ended> + Send + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&queued);
        let producer = tokio::spawn(async move {
            let mut held = 0usize;
            let run = async {
                while let Some(batch) = stream.next().await {
                    let batch = prepare(batch.map_err(&located)?)?;
                    let size = batch.get_array_memory_size();
                    held += size;
                    if held > limits.result_bytes {
                        return Err(Error::Execution(format!(
                            "Query aborted as its result exceeded {} bytes, the most a result may hold",
                            limits.result_bytes
                        )));
                    }
                    counter.fetch_add(size, Ordering::Relaxed);
                    if tx.send(Ok(Next::Batch(batch))).is_err() {
                        return Ok(None); // nobody reads on
                    }
                }
                Ok(Some(end().await))
            };
            let last = match limits.bound(run).await {
                Ok(None) => return,
                Ok(Some(ended)) => Ok(Next::End(ended)),
                Err(e) => Err(e),
            };
            let _ = tx.send(last);
        });
        Self {
            schema,
            rx,
            queued,
            ended: None,
            producer: Some(AbortOnDrop(producer)),
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The next batch, or the end. Waits for the query.
    pub async fn next(&mut self) -> Result<Next> {
        if let Some(ended) = &self.ended {
            return Ok(Next::End(ended.clone()));
        }
        let next = self.rx.recv().await;
        self.took(next)
    }

    /// As [`ResultStream::next`], blocking the thread: only outside the async runtime.
    pub fn blocking_next(&mut self) -> Result<Next> {
        if let Some(ended) = &self.ended {
            return Ok(Next::End(ended.clone()));
        }
        let next = self.rx.blocking_recv();
        self.took(next)
    }

    fn took(&mut self, next: Option<Result<Next>>) -> Result<Next> {
        match next {
            Some(Ok(Next::Batch(batch))) => {
                self.queued
                    .fetch_sub(batch.get_array_memory_size(), Ordering::Relaxed);
                Ok(Next::Batch(batch))
            }
            Some(Ok(Next::End(ended))) => {
                self.ended = Some(ended.clone());
                Ok(Next::End(ended))
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::Internal("the query stopped before its end".into())),
        }
    }

    /// Whether the end has been given.
    pub fn ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Bytes of the batches computed and not yet taken.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// A handle on the task computing the rows: it stops the query (as dropping the stream does) and tells the
    /// bytes of rows computed and not yet taken. `None` for a result already whole.
    pub fn handle(&self) -> Option<StreamHandle> {
        self.producer.as_ref().map(|p| StreamHandle {
            task: p.0.abort_handle(),
            queued: Arc::clone(&self.queued),
        })
    }

    /// Every batch, to the end.
    pub async fn collect(mut self) -> Result<QueryResult> {
        let mut batches = Vec::new();
        loop {
            match self.next().await? {
                Next::Batch(batch) => batches.push(batch),
                Next::End(ended) => {
                    return Ok(QueryResult {
                        schema: self.schema,
                        batches,
                        bytes_scanned: ended.bytes_scanned,
                        insights: ended.insights,
                    });
                }
            }
        }
    }
}

/// The task computing a [`ResultStream`]'s rows.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    task: tokio::task::AbortHandle,
    queued: Arc<AtomicUsize>,
}

impl StreamHandle {
    /// Stops the query.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Whether the query has computed its last row (or stopped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Bytes of the rows computed and not yet taken from the stream.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// How far a query may go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// When it must have ended, and its time limit (for the message).
    pub deadline: Option<(Instant, Duration)>,
    /// The most bytes (of Arrow arrays) its result may hold.
    pub result_bytes: usize,
}

impl Limits {
    /// `work`, failed with Trino's error once the deadline passes.
    pub async fn bound<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        match self.deadline {
            Some((deadline, limit)) => tokio::time::timeout_at(deadline, work)
                .await
                .unwrap_or_else(|_| Err(time_limit_exceeded(limit))),
            None => work.await,
        }
    }
}

/// Trino's error for a query that ran past its time limit, which Timestream's engine reports.
fn time_limit_exceeded(limit: Duration) -> Error {
    Error::Execution(format!(
        "Query exceeded maximum time limit of {}",
        succinct(limit)
    ))
}

/// A duration as Trino prints one (airlift's `Duration`): two decimals in the largest unit in which it is at
/// least 1, e.g. `1.00h`, `250.00ms`.
fn succinct(d: Duration) -> String {
    const UNITS: [(f64, &str); 7] = [
        (86_400e9, "d"),
        (3_600e9, "h"),
        (60e9, "m"),
        (1e9, "s"),
        (1e6, "ms"),
        (1e3, "us"),
        (1.0, "ns"),
    ];
    let ns = d.as_nanos() as f64;
    let (size, unit) = UNITS
        .into_iter()
        .find(|(size, _)| ns >= *size)
        .unwrap_or((1.0, "ns"));
    format!("{:.2}{unit}", ns / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_are_printed_as_trino_prints_durations() {
        let ms = Duration::from_millis;
        assert_eq!(succinct(ms(3_600_000)), "1.00h");
        assert_eq!(succinct(ms(90_000)), "1.50m");
        assert_eq!(succinct(ms(250)), "250.00ms");
        assert_eq!(succinct(ms(172_800_000)), "2.00d");
        assert_eq!(succinct(Duration::from_nanos(7)), "7.00ns");
    }
}
