//! Times queries for `bench/query/tsbs_query.py`, through one of two Rust clients of the HTTP Query API:
//! - `--client sdk` (the default): the AWS SDK for Rust (`aws-sdk-timestreamquery`), which parses every page into
//!   its `Row`/`Datum` values;
//! - `--client http`: SigV4-signed requests (signed by `aws-sigv4`, the SDK's own signer) over hyper, each page
//!   parsed with serde_json into typed rows of owned strings. It is the harness's Python `--client http` (signed
//!   HTTP, pages parsed with `json`) in Rust: the server's cost with the lightest parse a real client would do.
//!
//! The benchmark harness is Python (DuckDB comes from PyPI); this process is its Rust client. It reads one request
//! per line on stdin, `<warmup> <runs> <sql>`, runs the query `warmup` times untimed and `runs` times timed, each
//! time following every `NextToken` to the last page, and answers with one line on stdout: `ok <median seconds>
//! <rows>`, or `error <message>`. The timed span is the client's whole work: signing, HTTP, and parsing every page.
//!
//! Run by hand: `echo '1 5 SELECT 1' | target/release/query-client --endpoint http://127.0.0.1:8000`

use std::io::{BufRead, Write};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use freshet_bench::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, sdk_config};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

/// mimalloc, as the server uses: parsing a large result allocates a String for every datum, and glibc's allocator
/// took about a fifth of this client's CPU on high-cpu-all.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// The server to query, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    endpoint: String,
    /// Which client times the queries.
    #[arg(long, value_enum, default_value_t = Kind::Sdk)]
    client: Kind,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// The AWS SDK for Rust.
    Sdk,
    /// Signed HTTP requests, pages parsed with serde_json.
    Http,
}

enum Client {
    Sdk(aws_sdk_timestreamquery::Client),
    Http(Box<HttpClient>),
}

impl Client {
    /// Runs `sql` to its last page and returns the number of rows.
    async fn run(&self, sql: &str) -> anyhow::Result<usize> {
        let (mut rows, mut token) = (0, None);
        loop {
            token = match self {
                Self::Sdk(client) => {
                    let page = client
                        .query()
                        .query_string(sql)
                        .set_next_token(token)
                        .send()
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "{}",
                                aws_sdk_timestreamquery::error::DisplayErrorContext(e)
                            )
                        })?;
                    rows += page.rows().len();
                    page.next_token
                }
                Self::Http(client) => {
                    let page = client.page(sql, token.as_deref()).await?;
                    rows += page.rows.len();
                    page.next_token
                }
            };
            if token.is_none() {
                return Ok(rows);
            }
        }
    }
}

/// A Query API client of signed HTTP requests, as the harness's Python `--client http` is.
struct HttpClient {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    url: String,
    host: String,
    credentials: aws_credential_types::Credentials,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueryRequest<'a> {
    query_string: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

/// A page as the SDK's `QueryOutput` has it, every value owned. Fields other than `rows` and `next_token` are parsed
/// to be materialized as a client's would be, and are not read.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Page {
    rows: Vec<Row>,
    next_token: Option<String>,
    #[expect(dead_code, reason = "parsed as a client would, not read")]
    query_id: String,
    #[expect(dead_code, reason = "parsed as a client would, not read")]
    column_info: Vec<ColumnInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[expect(dead_code, reason = "parsed as a client would, not read")]
struct Row {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[expect(dead_code, reason = "parsed as a client would, not read")]
struct Datum {
    scalar_value: Option<String>,
    time_series_value: Option<Vec<TimeSeriesDataPoint>>,
    array_value: Option<Vec<Datum>>,
    row_value: Option<Row>,
    null_value: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[expect(dead_code, reason = "parsed as a client would, not read")]
struct TimeSeriesDataPoint {
    time: String,
    value: Datum,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[expect(dead_code, reason = "parsed as a client would, not read")]
struct ColumnInfo {
    name: Option<String>,
    r#type: Type,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
#[expect(dead_code, reason = "parsed as a client would, not read")]
struct Type {
    scalar_type: Option<String>,
    array_column_info: Option<Box<ColumnInfo>>,
    time_series_measure_value_column_info: Option<Box<ColumnInfo>>,
    row_column_info: Option<Vec<ColumnInfo>>,
}

impl HttpClient {
    fn new(endpoint: &str) -> anyhow::Result<Self> {
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("endpoint {endpoint}"))?;
        let host = uri
            .authority()
            .context("the endpoint has no host")?
            .to_string();
        let credentials = aws_credential_types::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "bench",
        );
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(Self {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            url,
            host,
            credentials,
        })
    }

    /// One page of `sql`'s result.
    async fn page(&self, sql: &str, token: Option<&str>) -> anyhow::Result<Page> {
        let body = serde_json::to_vec(&QueryRequest {
            query_string: sql,
            next_token: token,
        })?;
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "Timestream_20181101.Query"),
            ("host", self.host.as_str()),
        ];
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )?;
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("timestream")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::post(&self.url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request.body(Full::new(Bytes::from(body)))?;
        instructions.apply_to_request_http1x(&mut request);
        let response = self.http.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "Query failed with {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// Times one request line: `<warmup> <runs> <sql>`.
async fn timed(client: &Client, line: &str) -> anyhow::Result<(Duration, usize)> {
    let mut parts = line.splitn(3, ' ');
    let mut count = || -> anyhow::Result<usize> { Ok(parts.next().unwrap_or_default().parse()?) };
    let (warmup, runs) = (count()?, count()?.max(1));
    let sql = parts.next().unwrap_or_default();
    let mut rows = 0;
    for _ in 0..warmup {
        rows = client.run(sql).await?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        rows = client.run(sql).await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    // As Python's statistics.median, which times DuckDB in the harness: the mean of the middle two of an even count.
    let median = (samples[(runs - 1) / 2] + samples[runs / 2]) / 2;
    Ok((median, rows))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = match args.client {
        Kind::Sdk => Client::Sdk(aws_sdk_timestreamquery::Client::new(
            &sdk_config(&args.endpoint).await,
        )),
        Kind::Http => Client::Http(Box::new(HttpClient::new(&args.endpoint)?)),
    };
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        match timed(&client, line.trim_end()).await {
            Ok((median, rows)) => writeln!(out, "ok {} {rows}", median.as_secs_f64())?,
            Err(e) => writeln!(out, "error {}", format!("{e:#}").replace('\n', " "))?,
        }
        out.flush()?;
    }
    Ok(())
}
