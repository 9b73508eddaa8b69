//! Times queries through the AWS SDK for Rust (`aws-sdk-timestreamquery`), for `bench/query/tsbs_query.py`.
//!
//! The benchmark harness is Python (DuckDB comes from PyPI); this process is its Rust client. It reads one request
//! per line on stdin, `<warmup> <runs> <sql>`, runs the query `warmup` times untimed and `runs` times timed, each
//! time following every `NextToken` to the last page, and answers with one line on stdout: `ok <median seconds>
//! <rows>`, or `error <message>`. The timed span is the SDK's whole work: signing, HTTP, and parsing every page
//! into the SDK's `Row`/`Datum` values.
//!
//! Run by hand: `echo '1 5 SELECT 1' | target/release/query-client --endpoint http://127.0.0.1:8000`

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use clap::Parser;
use freshet_bench::sdk_config;

/// mimalloc, as the server uses: parsing a large result allocates a String for every datum, and glibc's allocator
/// took about a fifth of this client's CPU on high-cpu-all.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// The server to query, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    endpoint: String,
}

/// Runs `sql` to its last page and returns the number of rows.
async fn run(client: &aws_sdk_timestreamquery::Client, sql: &str) -> anyhow::Result<usize> {
    let (mut rows, mut token) = (0, None);
    loop {
        let page = client
            .query()
            .query_string(sql)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("{}", aws_sdk_timestreamquery::error::DisplayErrorContext(e))
            })?;
        rows += page.rows().len();
        token = page.next_token;
        if token.is_none() {
            return Ok(rows);
        }
    }
}

/// Times one request line: `<warmup> <runs> <sql>`.
async fn timed(
    client: &aws_sdk_timestreamquery::Client,
    line: &str,
) -> anyhow::Result<(Duration, usize)> {
    let mut parts = line.splitn(3, ' ');
    let mut count = || -> anyhow::Result<usize> { Ok(parts.next().unwrap_or_default().parse()?) };
    let (warmup, runs) = (count()?, count()?.max(1));
    let sql = parts.next().unwrap_or_default();
    let mut rows = 0;
    for _ in 0..warmup {
        rows = run(client, sql).await?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        rows = run(client, sql).await?;
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
    let client = aws_sdk_timestreamquery::Client::new(&sdk_config(&args.endpoint).await);
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
