"""TSBS devops cpu-only queries: Freshet (through its HTTP Query API, SigV4-signed) against DuckDB, in one run.

The dataset: HOSTS hosts with the ten TSBS tags, one row of the ten `usage_*` cpu measures per host every 10 s for
DAYS days, values as clamped random walks of whole percentages (as TSBS's cpu-only generator writes them). It is
generated once by DuckDB with a fixed seed, written to Parquet, loaded into a native DuckDB table, and written to a
release `freshet serve` as MULTI records through WriteRecords (100 records per request, several clients).

Each query runs WARMUP + RUNS times on each engine; the report gives the median of the timed runs and the ratios
Freshet / DuckDB-native and Freshet / DuckDB-Parquet. Freshet's time includes every page of the result, following
every NextToken, each page parsed by the client.

--client picks how Freshet is queried (repeatable, each client in columns of its own; the first gives the ratios):
rust-http (SigV4-signed HTTP requests from Rust, pages parsed with serde_json into typed rows), rust (the AWS SDK for
Rust), http (signed HTTP requests from Python, pages parsed with json) or boto3. The default is rust-http, then rust.
With --client-alone, each query's pages are also recorded and served again, in order, by a server in this process
that does nothing else; each Rust client's time against it (the "alone" columns) is what the client costs by itself:
signing, HTTP and parsing every page.

With --work DIR the generated and loaded dataset is kept and reused by later runs with the same size.

Run: scripts/bench-query (builds the release binary and installs the pinned packages first).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import http.server
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import duckdb
from botocore.config import Config

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MEASURES = [
    "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
    "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice",
]
TAGS = [
    "hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version",
    "service_environment",
]


def generate(con: duckdb.DuckDBPyConnection, hosts: int, days: float, end_s: int) -> int:
    """Creates table `cpu` (time as TIMESTAMP, tags, measures) in DuckDB; returns its row count."""
    steps = int(days * 86400 / 10)
    start_s = end_s - steps * 10
    con.execute("SELECT setseed(0.42)")
    walks = ",\n".join(
        # A random walk of steps in [-1, 1] per host, folded into [0, 100], then whole percentages as TSBS writes.
        f"floor(abs(mod(50 + {i * 7} + sum(random() * 2 - 1) OVER (PARTITION BY h ORDER BY s), 200) - 100))::DOUBLE"
        f" AS {m}"
        for i, m in enumerate(MEASURES)
    )
    con.execute(
        f"""
        CREATE TABLE cpu AS
        SELECT
            'host_' || h AS hostname,
            ['us-east-1', 'eu-west-1', 'ap-southeast-2'][h % 3 + 1] AS region,
            ['us-east-1', 'eu-west-1', 'ap-southeast-2'][h % 3 + 1] || ['a', 'b', 'c'][h % 3 + 1] AS datacenter,
            (h % 100)::VARCHAR AS rack,
            ['Ubuntu16.10', 'Ubuntu16.04LTS', 'Ubuntu15.10'][h % 3 + 1] AS os,
            ['x64', 'x86'][h % 2 + 1] AS arch,
            ['SF', 'NYC', 'LON', 'CHI'][h % 4 + 1] AS team,
            (h % 20)::VARCHAR AS service,
            (h % 2)::VARCHAR AS service_version,
            ['production', 'staging', 'test'][h % 3 + 1] AS service_environment,
            make_timestamp(({start_s} + s * 10)::BIGINT * 1000000) AS time,
            {walks}
        FROM range({hosts}) hs(h), range({steps}) ss(s)
        ORDER BY time, hostname
        """
    )
    return con.execute("SELECT count(*) FROM cpu").fetchone()[0]


class Freshet:
    def __init__(self, binary: Path, data_dir: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FRESHET_", "AWS_"))}
        env.update(
            FRESHET_ROOT_ACCESS_KEY_ID=ACCESS_KEY_ID,
            FRESHET_ROOT_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            FRESHET_ACCOUNT_ID="123456789012",
            FRESHET_LOG="warn",
        )
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.url = None
        for line in self.proc.stderr:
            if line.startswith("freshet: listening on "):
                self.url = line.split("listening on ", 1)[1].strip()
                break
        if self.url is None:
            raise SystemExit(f"{binary} did not start")
        # Keep reading stderr so that the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def client(self, service: str):
        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=32),
        )

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def load(fr: Freshet, con: duckdb.DuckDBPyConnection, clients: int) -> float:
    tsw = fr.client("timestream-write")
    tsw.create_database(DatabaseName="benchmark")
    # hostname as the customer-defined partition key: AWS advises a higher-cardinality dimension that queries filter
    # on (developerguide/customer-defined-partition-keys-low-cardinality-dimensions.html). Freshet sorts the table's
    # data files by it first.
    tsw.create_table(
        DatabaseName="benchmark", TableName="cpu",
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 8766, "MagneticStoreRetentionPeriodInDays": 73000},
        Schema={"CompositePartitionKey": [
            {"Type": "DIMENSION", "Name": "hostname", "EnforcementInRecord": "REQUIRED"},
        ]},
    )
    cols = TAGS + ["epoch_ms(time)"] + MEASURES
    rows = con.execute(f"SELECT {', '.join(cols)} FROM cpu").fetchall()

    def record(r):
        return {
            "Dimensions": [{"Name": t, "Value": r[i]} for i, t in enumerate(TAGS)],
            "MeasureName": "cpu",
            "MeasureValueType": "MULTI",
            "Time": str(r[len(TAGS)]),
            "MeasureValues": [
                {"Name": m, "Value": repr(float(r[len(TAGS) + 1 + i])), "Type": "DOUBLE"}
                for i, m in enumerate(MEASURES)
            ],
        }

    batches = [rows[i:i + 100] for i in range(0, len(rows), 100)]
    started = time.monotonic()
    done = 0
    # boto3's parameter validation and serialization cost more than the server's work, so requests are built as
    # JSON and SigV4-signed with botocore directly (the wire format boto3 would send), one connection per thread.
    host = fr.url.split("://", 1)[1]
    local = threading.local()

    def write(batch):
        body = json.dumps({
            "DatabaseName": "benchmark", "TableName": "cpu", "Records": [record(r) for r in batch],
        })
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(host, timeout=60)
        local.conn.request("POST", "/", body=body, headers=sign(fr.url, "WriteRecords", body))
        resp = local.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise SystemExit(f"WriteRecords failed with {resp.status}: {data[:500]!r}")

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for _ in pool.map(write, batches):
            done += 1
            if done % 1000 == 0:
                print(f"\r  loaded {done}/{len(batches)} batches", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.monotonic() - started


def queries(end_s: int) -> list[tuple[str, str, str]]:
    """(name, Timestream SQL over "benchmark"."cpu", DuckDB SQL over {t}) for the TSBS cpu-only query types."""
    ts = lambda s: f"TIMESTAMP '{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(s))}'"  # noqa: E731
    h = 3600
    one_host = "'host_7'"
    eight = ", ".join(f"'host_{i}'" for i in (1, 9, 17, 25, 33, 41, 49, 57))
    all_avg = ", ".join(f"avg({m})" for m in MEASURES)
    all_max = ", ".join(f"max({m})" for m in MEASURES)
    five_max = ", ".join(f"max({m})" for m in MEASURES[:5])
    q = [
        ("single-groupby-1-1-1",
         f"SELECT bin(time, 1m) AS minute, max(usage_user) FROM {{t}} WHERE hostname = {one_host} "
         f"AND time >= {ts(end_s - 6 * h)} AND time < {ts(end_s - 5 * h)} GROUP BY 1 ORDER BY 1"),
        ("single-groupby-5-1-12",
         f"SELECT bin(time, 1m) AS minute, {five_max} FROM {{t}} WHERE hostname = {one_host} "
         f"AND time >= {ts(end_s - 18 * h)} AND time < {ts(end_s - 6 * h)} GROUP BY 1 ORDER BY 1"),
        ("double-groupby-1",
         f"SELECT hostname, bin(time, 1h) AS hour, avg(usage_user) FROM {{t}} "
         f"WHERE time >= {ts(end_s - 18 * h)} AND time < {ts(end_s - 6 * h)} GROUP BY 1, 2 ORDER BY 1, 2"),
        ("double-groupby-all",
         f"SELECT hostname, bin(time, 1h) AS hour, {all_avg} FROM {{t}} "
         f"WHERE time >= {ts(end_s - 18 * h)} AND time < {ts(end_s - 6 * h)} GROUP BY 1, 2 ORDER BY 1, 2"),
        ("high-cpu-1",
         f"SELECT * FROM {{t}} WHERE hostname = {one_host} AND usage_user > 90.0 "
         f"AND time >= {ts(end_s - 18 * h)} AND time < {ts(end_s - 6 * h)} ORDER BY time"),
        ("high-cpu-all",
         f"SELECT * FROM {{t}} WHERE usage_user > 90.0 "
         f"AND time >= {ts(end_s - 18 * h)} AND time < {ts(end_s - 6 * h)} ORDER BY hostname, time"),
        ("lastpoint",
         "SELECT hostname, max_by(usage_user, time) AS usage_user, max(time) AS time FROM {t} "
         "GROUP BY hostname ORDER BY hostname"),
        ("groupby-orderby-limit",
         f"SELECT bin(time, 1m) AS minute, max(usage_user) FROM {{t}} WHERE time < {ts(end_s - 6 * h)} "
         "GROUP BY 1 ORDER BY 1 DESC LIMIT 5"),
        ("cpu-max-all-8",
         f"SELECT hostname, bin(time, 1h) AS hour, {all_max} FROM {{t}} WHERE hostname IN ({eight}) "
         f"AND time >= {ts(end_s - 14 * h)} AND time < {ts(end_s - 6 * h)} GROUP BY 1, 2 ORDER BY 1, 2"),
    ]
    out = []
    for name, sql in q:
        timestream = sql.replace("{t}", '"benchmark"."cpu"')
        # DuckDB spells bin(time, 1m) as time_bucket and has no interval literals like 1m.
        duck = (sql.replace("bin(time, 1m)", "time_bucket(INTERVAL 1 MINUTE, time)")
                   .replace("bin(time, 1h)", "time_bucket(INTERVAL 1 HOUR, time)"))
        out.append((name, timestream, duck))
    return out


def sign(url: str, target: str, body: str) -> dict:
    """SigV4 headers for a Timestream JSON request, as boto3 would send it."""
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=url + "/", data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"Timestream_20181101.{target}"},
    )
    credentials = botocore.credentials.Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    botocore.auth.SigV4Auth(credentials, "timestream", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def follow_pages(fetch):
    """A runner factory: for a query, a function that fetches every page (fetch(sql, next_token) -> response) and
    returns the number of rows."""
    def run_sql(sql):
        def run():
            rows, token = 0, None
            while True:
                out = fetch(sql, token)
                rows += len(out["Rows"])
                token = out.get("NextToken")
                if not token:
                    return rows
        return run
    return run_sql


def http_fetch(fr: Freshet):
    """A page fetcher through the HTTP Query API with SigV4-signed requests: fetch(sql, next_token) -> the
    response body's bytes."""
    conn = http.client.HTTPConnection(fr.url.split("://", 1)[1], timeout=600)

    def fetch(sql, token):
        req = {"QueryString": sql}
        if token:
            req["NextToken"] = token
        body = json.dumps(req)
        conn.request("POST", "/", body=body, headers=sign(fr.url, "Query", body))
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"Query failed with {resp.status}: {data[:300]!r}")
        return data
    return fetch


def http_runner(fr: Freshet):
    """Queries through the HTTP Query API with SigV4-signed requests and the standard JSON parser: the server's
    cost, without boto3's per-field response parsing in Python."""
    fetch = http_fetch(fr)
    return follow_pages(lambda sql, token: json.loads(fetch(sql, token)))


def boto3_runner(fr: Freshet):
    """Queries with boto3's timestream-query client."""
    tsq = fr.client("timestream-query")
    return follow_pages(lambda sql, token: tsq.query(QueryString=sql, **({"NextToken": token} if token else {})))


class RustTimer:
    """Times queries through a Rust client: `query-client` (crates/freshet-bench) runs the warm-up and timed runs
    itself and reports the median, so Python's own costs stay out of the figure. `kind` is its --client: `sdk` (the
    AWS SDK for Rust) or `http` (signed HTTP, pages parsed with serde_json)."""

    def __init__(self, url: str, binary: Path, kind: str):
        self.proc = subprocess.Popen([str(binary), "--endpoint", url, "--client", kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def timed(self, sql: str, warmup: int, runs: int) -> tuple[float, int]:
        # One request per line: a line break inside the SQL is whitespace to the query, so it becomes a space.
        self.proc.stdin.write(f"{warmup} {runs} {' '.join(sql.splitlines())}\n")
        self.proc.stdin.flush()
        status, *rest = self.proc.stdout.readline().rstrip("\n").split(" ", 1)
        if status != "ok":
            raise RuntimeError(rest[0] if rest else "query-client exited")
        median, rows = rest[0].split()
        return float(median), int(rows)


# The clients Freshet can be timed with: Python ones are run by `timed` here, Rust ones by `query-client`.
RUST_CLIENTS = {"rust": "sdk", "rust-http": "http"}
CLIENTS = ["http", "boto3", *RUST_CLIENTS]


def freshet_timer(client: str, url: str, fr: Freshet | None, query_client: Path):
    """timed(sql, warmup, runs) -> (median seconds, rows) for one of CLIENTS against `url` (`fr`'s, for the Python
    clients)."""
    if client in RUST_CLIENTS:
        return RustTimer(url, query_client, RUST_CLIENTS[client]).timed
    run = http_runner(fr) if client == "http" else boto3_runner(fr)
    return lambda sql, warmup, runs: timed(run(sql), warmup, runs)


class Replay:
    """An HTTP server, on a thread of this process, that answers each request with the next of a query's recorded
    pages, in order and over again: a query client timed against it measures the client's own cost."""

    def __init__(self):
        replay = self
        self.pages: list[bytes] = []
        self.next = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out in two writes: without TCP_NODELAY, the second waits for the
            # client's delayed ACK (40 ms).
            disable_nagle_algorithm = True

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                page = replay.pages[replay.next % len(replay.pages)]
                replay.next += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        # A thread a connection: each Rust client keeps its connection open between queries.
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def record(self, fr: Freshet, sql: str) -> None:
        """Fetches every page of `sql` from Freshet, to be served from the first on."""
        fetch, pages = http_fetch(fr), []

        def keep(sql, token):
            pages.append(fetch(sql, token))
            return json.loads(pages[-1])
        follow_pages(keep)(sql)()
        self.pages, self.next = pages, 0


def timed(run, warmup: int, runs: int) -> tuple[float, int]:
    rows = 0
    for _ in range(warmup):
        rows = run()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rows = run()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--server-bin", type=Path, default=Path("target/release/freshet"))
    ap.add_argument("--work", type=Path,
                    help="keep the generated and loaded dataset in this directory and reuse it on later runs with the "
                         "same --hosts and --days (the server then starts on the loaded data directory)")
    ap.add_argument("--only", action="append", help="run only this query (repeatable)")
    ap.add_argument("--client", choices=CLIENTS, action="append",
                    help="how Freshet is queried: signed HTTP requests from Rust parsed with serde_json (rust-http), "
                         "the AWS SDK for Rust (rust), signed HTTP requests from Python parsed with json (http), or "
                         "boto3; the Rust clients are target/release/query-client. Repeatable: the first client's "
                         "time gives the ratios, each further one adds columns of its own (default: rust-http, "
                         "then rust)")
    ap.add_argument("--client-alone", action="store_true",
                    help="also time each Rust client against a server replaying each query's recorded pages (the "
                         "client's own cost, in a column of its own)")
    args = ap.parse_args()
    clients = args.client or ["rust-http", "rust"]
    alone_clients = [c for c in clients if c in RUST_CLIENTS] if args.client_alone else []
    if args.client_alone and not alone_clients:
        raise SystemExit("--client-alone needs a Rust --client (rust or rust-http)")

    work = args.work or Path(tempfile.mkdtemp(prefix="freshet-query-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "loaded.json"
    # "layout" changes when the loaded table changes shape (2: hostname is the partition key; 3: data files name the
    # dimension they are sorted by).
    wanted = {"hosts": args.hosts, "days": args.days, "layout": 3}
    reuse = marker.exists() and {k: v for k, v in json.loads(marker.read_text()).items() if k in wanted} == wanted
    parquet = work / "cpu.parquet"
    if reuse:
        end_s = json.loads(marker.read_text())["end_s"]
        con = duckdb.connect(str(work / "bench.duckdb"))
        n = con.execute("SELECT count(*) FROM cpu").fetchone()[0]
        print(f"reusing the dataset in {work}: {n} rows", file=sys.stderr)
    else:
        if marker.exists():
            raise SystemExit(f"{work} holds a dataset of another size or layout; remove it or pick another --work")
        end_s = (int(time.time()) // 3600) * 3600
        con = duckdb.connect(str(work / "bench.duckdb"))
        print(f"generating {args.hosts} hosts x {args.days} days at 10 s ...", file=sys.stderr)
        n = generate(con, args.hosts, args.days, end_s)
        con.execute(f"COPY cpu TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)")
        print(f"{n} rows, {n * len(MEASURES)} measure values", file=sys.stderr)

    fr = Freshet(args.server_bin, work / "freshet")
    try:
        if not reuse:
            print("loading Freshet through WriteRecords ...", file=sys.stderr)
            took = load(fr, con, args.clients)
            print(f"loaded in {took:.1f} s ({n * len(MEASURES) / took:,.0f} values/s)", file=sys.stderr)
            marker.write_text(json.dumps({**wanted, "end_s": end_s}))
        query_client = args.server_bin.parent / "query-client"
        timers = {c: freshet_timer(c, fr.url, fr, query_client) for c in clients}
        if alone_clients:
            replay = Replay()
            alone = {c: freshet_timer(c, replay.url, None, query_client) for c in alone_clients}
        extra = [h for c in clients[1:] for h in (f"{c} (ms)", f"{c} / native")]
        extra += [f"{c} alone (ms)" for c in alone_clients]
        print(f"| query | Freshet, {clients[0]} (ms) | DuckDB native (ms) | DuckDB Parquet (ms) | Freshet / native | "
              f"Freshet / Parquet | rows |{''.join(f' {h} |' for h in extra)}")
        print(f"|---|---|---|---|---|---|---|{'---|' * len(extra)}")
        ratios_native, ratios_parquet = [], []
        client_ratios = {c: [] for c in clients[1:]}
        for name, ts_sql, duck_sql in queries(end_s):
            if args.only and name not in args.only:
                continue
            try:
                times = {c: timers[c](ts_sql, args.warmup, args.runs) for c in clients}
            except Exception as e:  # a query Freshet cannot run yet is reported, not hidden
                print(f"| {name} | failed: {str(e)[:150]} | | | | | |", flush=True)
                continue
            f_s, f_rows = times[clients[0]]
            n_s, n_rows = timed(lambda: len(con.execute(duck_sql.replace("{t}", "cpu")).fetchall()),
                                args.warmup, args.runs)
            p_s, p_rows = timed(
                lambda: len(con.execute(duck_sql.replace("{t}", f"read_parquet('{parquet}')")).fetchall()),
                args.warmup, args.runs)
            if not (f_rows == n_rows == p_rows) or any(rows != f_rows for _, rows in times.values()):
                print(f"warning: {name}: row counts differ (Freshet {({c: r for c, (_, r) in times.items()})}, "
                      f"native {n_rows}, parquet {p_rows})", file=sys.stderr)
            ratios_native.append(f_s / n_s)
            ratios_parquet.append(f_s / p_s)
            for c in clients[1:]:
                client_ratios[c].append(times[c][0] / n_s)
            cells = [cell for c in clients[1:] for cell in (f"{times[c][0] * 1000:.1f}", f"{times[c][0] / n_s:.2f}")]
            if alone_clients:
                replay.record(fr, ts_sql)
                for c in alone_clients:
                    a_s, a_rows = alone[c](ts_sql, args.warmup, args.runs)
                    cells.append(f"{a_s * 1000:.1f}")
                    if a_rows != f_rows:
                        print(f"warning: {name}: the replay gave {c} {a_rows} rows, Freshet {f_rows}",
                              file=sys.stderr)
            print(f"| {name} | {f_s * 1000:.1f} | {n_s * 1000:.1f} | {p_s * 1000:.1f} | {f_s / n_s:.2f} | "
                  f"{f_s / p_s:.2f} | {f_rows} |{''.join(f' {c} |' for c in cells)}", flush=True)
        geo = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))  # noqa: E731
        cells = [cell for c in clients[1:] for cell in ("", f"**{geo(client_ratios[c]):.2f}**")]
        cells += ["" for _ in alone_clients]
        print(f"| **geometric mean** | | | | **{geo(ratios_native):.2f}** | **{geo(ratios_parquet):.2f}** | |"
              f"{''.join(f' {c} |' for c in cells)}")
    finally:
        fr.stop()


if __name__ == "__main__":
    main()
