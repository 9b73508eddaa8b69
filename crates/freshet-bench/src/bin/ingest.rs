//! Ingestion benchmark: a TSBS-devops-like dataset (hosts × 10 cpu measures every 10 s, as MULTI records, batches of
//! 100) written by concurrent clients through the real HTTP API with SigV4, against a release `freshet serve`.
//!
//! Run: `cargo build --release -p freshet -p freshet-bench && target/release/ingest`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use aws_sdk_timestreamwrite::types::{Dimension, MeasureValue, MeasureValueType, Record, TimeUnit};
use clap::Parser;
use freshet_bench::{Server, default_server_bin, disk_bytes, own_cpu_time, quantile, sdk_config};
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
struct Args {
    /// Number of simulated hosts.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Hours of data, one point per host every 10 s, ending now.
    #[arg(long, default_value_t = 1.0)]
    hours: f64,
    /// Concurrent writer clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// How cpu values are written: `tsbs` as TSBS's cpu-only generator emits them (whole percentages, e.g.
    /// `usage_user=58i`), or `full-precision` doubles (random 52-bit mantissas, which no encoding can shrink much
    /// below 8 bytes).
    #[arg(long, value_enum, default_value_t = Values::Tsbs)]
    values: Values,
    /// The freshet binary to benchmark [default: the release build next to this one].
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Values {
    Tsbs,
    FullPrecision,
}

const MEASURES: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

/// The ten TSBS devops tags of host `h`.
fn tags(h: usize) -> Vec<Dimension> {
    let d = |n: &str, v: String| {
        Dimension::builder()
            .name(n)
            .value(v)
            .build()
            .expect("name and value set")
    };
    vec![
        d("hostname", format!("host_{h}")),
        d("region", REGIONS[h % 3].into()),
        d(
            "datacenter",
            format!("{}{}", REGIONS[h % 3], ["a", "b", "c"][h % 3]),
        ),
        d("rack", (h % 100).to_string()),
        d(
            "os",
            ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"][h % 3].into(),
        ),
        d("arch", ["x64", "x86"][h % 2].into()),
        d("team", ["SF", "NYC", "LON", "CHI"][h % 4].into()),
        d("service", (h % 20).to_string()),
        d("service_version", (h % 2).to_string()),
        d(
            "service_environment",
            ["production", "staging", "test"][h % 3].into(),
        ),
    ]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = args.server_bin.clone().unwrap_or_else(default_server_bin);
    let server = Server::start(&bin, &[("FRESHET_PERSIST_AFTER", "10")])?;
    let config = sdk_config(&server.url).await;
    let client = aws_sdk_timestreamwrite::Client::new(&config);
    client
        .create_database()
        .database_name("benchmark")
        .send()
        .await
        .context("create database")?;
    client
        .create_table()
        .database_name("benchmark")
        .table_name("cpu")
        .send()
        .await
        .context("create table")?;

    // Every batch: 100 hosts at one instant. Values are TSBS-like random walks in [0, 100].
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let steps = ((args.hours * 3600.0) / 10.0) as i64;
    let start_ms = now_ms - steps * 10_000;
    let host_tags: Vec<Vec<Dimension>> = (0..args.hosts).map(tags).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut walk: Vec<[f64; 10]> = (0..args.hosts)
        .map(|_| [0.0; 10].map(|_| rng.gen_range(0.0..100.0)))
        .collect();
    eprintln!("generating {} records …", steps as usize * args.hosts);
    let mut batches: Vec<Vec<Record>> = Vec::new();
    for step in 0..steps {
        let t = (start_ms + step * 10_000).to_string();
        for chunk in (0..args.hosts).collect::<Vec<_>>().chunks(100) {
            let mut records = Vec::with_capacity(chunk.len());
            for &h in chunk {
                let mut b = Record::builder()
                    .set_dimensions(Some(host_tags[h].clone()))
                    .measure_name("cpu")
                    .measure_value_type(MeasureValueType::Multi)
                    .time(&t)
                    .time_unit(TimeUnit::Milliseconds);
                for (i, name) in MEASURES.iter().enumerate() {
                    let v = (walk[h][i] + rng.gen_range(-1.0..1.0)).clamp(0.0, 100.0);
                    walk[h][i] = v;
                    b = b.measure_values(
                        MeasureValue::builder()
                            .name(*name)
                            .value(match args.values {
                                Values::Tsbs => format!("{}", v.trunc()),
                                Values::FullPrecision => v.to_string(),
                            })
                            .r#type(MeasureValueType::Double)
                            .build()
                            .expect("all members set"),
                    );
                }
                records.push(b.build());
            }
            batches.push(records);
        }
    }
    let batches = Arc::new(batches);
    let total_records: usize = batches.iter().map(Vec::len).sum();
    let total_values = total_records * MEASURES.len();

    eprintln!("writing with {} clients …", args.clients);
    let next = Arc::new(AtomicUsize::new(0));
    let (server_cpu0, client_cpu0) = (server.cpu_time(), own_cpu_time());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, batches, next) = (client.clone(), Arc::clone(&batches), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(records) = batches.get(i) else { break };
                let t0 = Instant::now();
                client
                    .write_records()
                    .database_name("benchmark")
                    .table_name("cpu")
                    .set_records(Some(records.clone()))
                    .send()
                    .await
                    .with_context(|| format!("batch {i}"))?;
                latencies.push(t0.elapsed());
                if i % 500 == 0 {
                    eprint!("\r{i}/{} batches", batches.len());
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let server_cpu = server.cpu_time().zip(server_cpu0).map(|(b, a)| b - a);
    let client_cpu = own_cpu_time().zip(client_cpu0).map(|(b, a)| b - a);
    eprintln!();
    latencies.sort();
    let rss = server.peak_rss_bytes().unwrap_or(0);

    // Let the buffer persist (10 s) and compaction run, then measure the data files. Files replaced by compaction
    // stay on disk for a 30 s grace period (for queries that listed them), so the size counts only once it has not
    // changed for longer than that.
    eprintln!("waiting for persistence, compaction and the removal of replaced files …");
    let objects = server.data_dir.join("objects");
    let mut last = (0, 0);
    let mut stable_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        let now = (disk_bytes(&objects, ".parquet"), count_files(&objects));
        if now != last || now.0 == 0 {
            last = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_secs(35) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let parquet = disk_bytes(&objects, ".parquet");
    let wal = disk_bytes(&server.data_dir.join("wal"), "");

    let secs = elapsed.as_secs_f64();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| records written | {total_records} ({} hosts × {steps} points) |",
        args.hosts
    );
    println!("| measure values written | {total_values} |");
    println!("| clients × batch size | {} × 100 records |", args.clients);
    println!("| cpu values | {:?} |", args.values);
    println!("| wall time | {secs:.2} s |");
    println!("| records/s | {:.0} |", total_records as f64 / secs);
    println!("| measure values/s | {:.0} |", total_values as f64 / secs);
    println!(
        "| request latency p50 / p99 | {:.1} ms / {:.1} ms |",
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.99))
    );
    let share = |cpu: Option<Duration>| {
        cpu.map_or("unknown".to_owned(), |c| {
            format!(
                "{:.1} s ({:.2} cores)",
                c.as_secs_f64(),
                c.as_secs_f64() / secs
            )
        })
    };
    println!(
        "| CPU used while writing: server / benchmark client | {} / {} |",
        share(server_cpu),
        share(client_cpu)
    );
    println!(
        "| server peak RSS | {:.0} MiB |",
        rss as f64 / (1 << 20) as f64
    );
    println!(
        "| data files after compaction | {} files, {} bytes |",
        count_files(&objects),
        parquet
    );
    println!(
        "| bytes per measure value (data files) | {:.2} |",
        parquet as f64 / total_values as f64
    );
    println!("| WAL left on disk | {wal} bytes |");
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn count_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            n += count_files(&p);
        } else if p.extension().is_some_and(|e| e == "parquet") {
            n += 1;
        }
    }
    n
}
