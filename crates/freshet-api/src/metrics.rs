//! Request metrics in Prometheus text form: counts and latencies per operation and status.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: u16,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let mut registry = Registry::with_prefix("freshet");
        registry.register(
            "api_requests",
            "AWS API requests by operation and HTTP status",
            requests.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "AWS API request latency by operation and HTTP status",
            latency.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
        }
    }
}

impl Metrics {
    /// Also reports the query engine's counts, read on each scrape.
    pub fn counting(self, engine: &freshet_query::QueryEngine) -> Self {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .register_collector(Box::new(QueryCounts(engine.clone())));
        self
    }

    /// Counts one finished request. `operation` is the decoded operation name, or `Unknown`.
    pub fn observe(&self, operation: &str, status: StatusCode, took: Duration) {
        let labels = RequestLabels {
            operation: operation.to_owned(),
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// The query engine's counts.
#[derive(Debug)]
struct QueryCounts(freshet_query::QueryEngine);

impl Collector for QueryCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let (file_loads, file_bytes) = self.0.file_cache();
        let counts = [
            (
                "query_file_cache_loads",
                "Data files read whole into memory for queries (each is kept until less recently used files make room)",
                file_loads,
            ),
            (
                "query_plans_reused",
                "Queries run on the kept plan of an earlier run of the same SQL instead of planning it again",
                self.0.plans_reused(),
            ),
            (
                "query_physical_plans_reused",
                "Queries run on the physical plan of an earlier run, whose scans read the same data files",
                self.0.physical_plans_reused(),
            ),
        ];
        for (name, help, count) in counts {
            let counter = ConstCounter::new(count);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let gauge = ConstGauge::new(file_bytes as i64);
        let metric = encoder.encode_descriptor(
            "query_file_cache_bytes",
            "Bytes of data files kept in memory for queries",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

pub(crate) async fn serve(State(app): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}
