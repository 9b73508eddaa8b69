"""Crash safety of WriteRecords: a write acknowledged with HTTP 200 survives SIGKILL, and a request is atomic.

Each test runs its own server on its own data directory (never the session server). Writer threads send batches of
records that are unique per (round, thread, batch, seq) and remember which batches were acknowledged; the server is
SIGKILLed at a random moment, restarted on the same directory, and `Query` must then show

* every record of every acknowledged batch, with its value;
* each batch either whole or not at all (a batch in flight at the kill may go either way, but once a restart has
  shown it present or absent it stays so);
* no record that was never sent, and no record twice.

The WAL-damage test then appends garbage to, or cuts, the newest WAL segment of copies of a crashed data directory.

The kill moments (0.3–1.5 s after the first acknowledgement of a round) come from a seeded random generator
(`FRESHET_CRASH_SEED` overrides the seed).
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from compat_support import Server, make_client, require_binary, unique

SEED = int(os.environ.get("FRESHET_CRASH_SEED", "20261122"))
ROUNDS = 5
THREADS = 4
BATCH = 50
TABLE = "crash"
WAL_HEADER = b"FRWAL\0\0\x01"
FRAME_OVERHEAD = 16  # len u32 | crc32 u32 | seq u64, little-endian; the crc covers seq and payload

SAME_VERSION_REASON = (
    "A record already exists with the same time, dimensions, measure name, and record version. A higher record "
    "version must be specified in order to update the measure value. Specifying record version is supported by the "
    "latest SDKs."
)


@pytest.fixture
def launch():
    """`launch(data_dir, *extra_args)` starts a server of this test; any still running at the end is killed."""
    binary = require_binary()
    started: list[Server] = []

    def start(data: Path, *extra_args: str) -> Server:
        srv = Server.start(binary, data, extra_args=extra_args)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        if srv.proc.poll() is None:
            srv.kill()


def client(srv: Server, service: str = "timestream-write"):
    return make_client(service, srv.url, connect_timeout=2, read_timeout=15)


# ---------------------------------------------------------------------------------------------------------------------
# batches and the ledger of what was acknowledged


def tag(bid: tuple[int, int, int]) -> str:
    """The batch id as it is stored in the `bid` dimension; delimited so that no tag is a prefix of another."""
    return "<r{}t{}b{}>".format(*bid)


def value_of(bid: tuple[int, int, int], seq: int) -> int:
    rnd, thread, batch = bid
    return ((rnd * 100 + thread) * 100_000 + batch) * 1_000 + seq


def make_batch(bid: tuple[int, int, int], base_ms: int) -> list[dict]:
    """Even threads write single BIGINT measures, odd threads MULTI records (BIGINT + VARCHAR)."""
    rnd, thread, batch = bid
    records = []
    for seq in range(BATCH):
        r = {
            "Dimensions": [
                {"Name": "bid", "Value": tag(bid)},
                {"Name": "sq", "Value": str(seq)},
            ],
            "Time": str(base_ms + batch * BATCH + seq),
        }
        v = value_of(bid, seq)
        if thread % 2 == 0:
            r.update(MeasureName="single", MeasureValueType="BIGINT", MeasureValue=str(v))
        else:
            r.update(
                MeasureName="multi",
                MeasureValueType="MULTI",
                MeasureValues=[
                    {"Name": "val", "Value": str(v), "Type": "BIGINT"},
                    {"Name": "txt", "Value": f"{tag(bid)}#{seq}", "Type": "VARCHAR"},
                ],
            )
        records.append(r)
    return records


@dataclass
class Ledger:
    acked: set = field(default_factory=set)
    sent: set = field(default_factory=set)
    # Batches sent without an answer, as a restart showed them: True present, False absent.
    resolved: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    # The base time of each round's records, so any batch can be rebuilt exactly.
    bases: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def copy(self) -> "Ledger":
        return Ledger(set(self.acked), set(self.sent), dict(self.resolved), list(self.errors), dict(self.bases))

    def batch(self, bid: tuple[int, int, int]) -> list[dict]:
        return make_batch(bid, self.bases[bid[0]])


def writer(c, db: str, rnd: int, thread: int, ledger: Ledger, stop: threading.Event):
    batch = 0
    while not stop.is_set():
        bid = (rnd, thread, batch)
        records = ledger.batch(bid)
        with ledger.lock:
            ledger.sent.add(bid)
        try:
            resp = c.write_records(DatabaseName=db, TableName=TABLE, Records=records)
        except ClientError as e:
            with ledger.lock:
                ledger.errors.append((bid, e.response["ResponseMetadata"]["HTTPStatusCode"], str(e)))
            return
        except BotoCoreError:
            return  # the server is gone: this batch is in flight, it may or may not be there
        status = resp["ResponseMetadata"]["HTTPStatusCode"]
        if status == 200 and resp["RecordsIngested"]["Total"] == BATCH:
            with ledger.lock:
                ledger.acked.add(bid)
        else:
            with ledger.lock:
                ledger.errors.append((bid, status, str(resp.get("RecordsIngested"))))
            return
        batch += 1


def write_until_killed(srv: Server, db: str, rnd: int, kill_after: float, ledger: Ledger, min_acked: int = 1) -> int:
    """Runs the writers and SIGKILLs the server `kill_after` seconds after `min_acked` batches of this round were
    acknowledged; returns how many batches of the round were acknowledged."""
    before = len(ledger.acked)
    stop = threading.Event()
    ledger.bases[rnd] = int(time.time() * 1000) - 60_000
    clients = [client(srv) for _ in range(THREADS)]
    threads = [
        threading.Thread(target=writer, args=(clients[t], db, rnd, t, ledger, stop), name=f"writer-{t}")
        for t in range(THREADS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(ledger.acked) - before < min_acked and not ledger.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(kill_after)
    assert srv.kill() == -9
    stop.set()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), f"{t.name} hangs after the kill"
    for c in clients:
        c.close()
    assert not ledger.errors, f"writes failed before the kill: {ledger.errors[:3]}"
    acked = len(ledger.acked) - before
    assert acked >= min_acked, f"only {acked} batches were acknowledged in 20 s"
    return acked


def stored(srv: Server, db: str) -> dict[tuple[int, int, int], set[int]]:
    """Every stored record, checked against its expected value; returns the seqs present per batch."""
    q = client(srv, "timestream-query")
    try:
        # Results come in pages of at most 1 MB, as from Timestream: follow NextToken to the end.
        pages = list(
            q.get_paginator("query").paginate(
                QueryString=f'SELECT bid, sq, measure_name, measure_value::bigint, val, txt FROM "{db}"."{TABLE}"'
            )
        )
    finally:
        q.close()
    names = [c["Name"] for c in pages[0]["ColumnInfo"]]
    assert names == ["bid", "sq", "measure_name", "measure_value::bigint", "val", "txt"], names
    out: dict[tuple[int, int, int], set[int]] = {}
    for row in (r for page in pages for r in page["Rows"]):
        bid_text, sq, measure, single, val, txt = (d.get("ScalarValue") for d in row["Data"])
        r, rest = bid_text.strip("<>")[1:].split("t")
        t, b = rest.split("b")
        bid, seq = (int(r), int(t), int(b)), int(sq)
        assert tag(bid) == bid_text, bid_text
        want = str(value_of(bid, seq))
        if bid[1] % 2 == 0:
            assert (measure, single, val, txt) == ("single", want, None, None), row
        else:
            assert (measure, single, val, txt) == ("multi", None, want, f"{bid_text}#{seq}"), row
        seqs = out.setdefault(bid, set())
        assert seq not in seqs, f"{bid_text} seq {seq} is stored twice"
        seqs.add(seq)
    return out


def verify(srv: Server, db: str, ledger: Ledger, lost: frozenset = frozenset()) -> None:
    """Checks the stored records against the ledger; `lost` batches were destroyed on purpose and must be absent."""
    present = stored(srv, db)
    whole = set(range(BATCH))
    for bid, seqs in present.items():
        assert bid in ledger.sent, f"{tag(bid)} was never sent but {len(seqs)} of its records are stored"
        assert seqs == whole, f"{tag(bid)} is torn: {len(seqs)} of {BATCH} records are stored"
    assert not (lost & present.keys()), f"batches cut from the WAL are still stored: {sorted(lost & present.keys())}"
    missing = sorted(ledger.acked - present.keys() - lost)
    assert not missing, (
        f"{len(missing)} acknowledged batches are gone after the restart (seed {SEED}), e.g. "
        f"{[tag(b) for b in missing[:5]]}\n--- server stderr ---\n{srv.stderr_text()}"
    )
    for bid in ledger.sent - ledger.acked:
        now = bid in present
        was = ledger.resolved.setdefault(bid, now)
        assert was == now, f"{tag(bid)} (in flight at a kill) was {'present' if was else 'absent'}, now it is not"


def setup_table(srv: Server) -> str:
    db = unique("crash")
    c = client(srv)
    try:
        c.create_database(DatabaseName=db)
        c.create_table(DatabaseName=db, TableName=TABLE)
    finally:
        c.close()
    return db


def write_batch(srv: Server, db: str, bid: tuple[int, int, int], ledger: Ledger) -> None:
    """Writes one batch and asserts it is acknowledged whole."""
    ledger.bases.setdefault(bid[0], int(time.time() * 1000) - 60_000)
    c = client(srv)
    try:
        ledger.sent.add(bid)
        resp = c.write_records(DatabaseName=db, TableName=TABLE, Records=ledger.batch(bid))
        assert resp["RecordsIngested"] == {"Total": BATCH, "MemoryStore": BATCH, "MagneticStore": 0}
        ledger.acked.add(bid)
    finally:
        c.close()


def changed(records: list[dict]) -> list[dict]:
    """The same keys with other values (same default version 1)."""
    out = []
    for r in records:
        r = {**r}
        if "MeasureValue" in r:
            r["MeasureValue"] = str(int(r["MeasureValue"]) + 1)
        else:
            r["MeasureValues"] = [{**r["MeasureValues"][0], "Value": "-1"}, r["MeasureValues"][1]]
        out.append(r)
    return out


def check_versions_kept(srv: Server, db: str, ledger: Ledger, bids: list[tuple[int, int, int]]) -> None:
    """An acknowledged batch re-sent as is is accepted; with other values and the same version it is refused, every
    record with ExistingVersion 1, and the stored values stay."""
    c = client(srv)
    try:
        for bid in bids:
            resp = c.write_records(DatabaseName=db, TableName=TABLE, Records=ledger.batch(bid))
            assert resp["RecordsIngested"]["Total"] == BATCH, f"identical re-send of {tag(bid)}: {resp}"
            with pytest.raises(ClientError) as info:
                c.write_records(DatabaseName=db, TableName=TABLE, Records=changed(ledger.batch(bid)))
            err = info.value.response
            got = (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"])
            assert got == ("RejectedRecordsException", 419), err
            assert err["RejectedRecords"] == [
                {"RecordIndex": i, "Reason": SAME_VERSION_REASON, "ExistingVersion": 1} for i in range(BATCH)
            ], f"{tag(bid)}: {err['RejectedRecords'][:2]}"
    finally:
        c.close()


def parquet_files(data: Path) -> list[Path]:
    return sorted((data / "objects").rglob("*.parquet"))


def wait_for_parquet(data: Path, more_than: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(parquet_files(data)) <= more_than:
        assert time.monotonic() < deadline, f"no new Parquet file in {data / 'objects'} after {timeout} s"
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------------------------------
# the crash test


def test_acknowledged_writes_survive_sigkill(tmp_path, launch):
    data = tmp_path / "data"
    rng = random.Random(SEED)
    ledger = Ledger()
    # Odd rounds persist buffers to Parquet after 1 s (and truncate the WAL), so kills also hit persistence and
    # restarts read files as well as the WAL.
    modes = [() if rnd % 2 == 0 else ("--persist-after", "1") for rnd in range(ROUNDS + 1)]

    srv = launch(data, *modes[0])
    db = setup_table(srv)
    acked_per_round = []
    for rnd in range(ROUNDS):
        kill_after = rng.uniform(0.3, 1.5)  # after the round's first acknowledgement
        acked_per_round.append(write_until_killed(srv, db, rnd, kill_after, ledger))
        srv = launch(data, *modes[rnd + 1])
        try:
            verify(srv, db, ledger)
        except AssertionError as e:
            raise AssertionError(f"after round {rnd} (killed {kill_after:.2f} s in, seed {SEED}): {e}") from None
    in_flight = len(ledger.sent - ledger.acked)
    print(f"seed {SEED}: acknowledged batches per round {acked_per_round}, in flight at kills {in_flight}, "
          f"of which present afterwards {sum(ledger.resolved.values())}")

    # The last server persists after 1 s: once its buffer (replayed and new rows) is in a Parquet file, the version
    # checks below look the keys up in files written by this process.
    files_before = len(parquet_files(data))
    write_batch(srv, db, (ROUNDS, 0, 0), ledger)
    wait_for_parquet(data, files_before)
    single = min(b for b in ledger.acked if b[1] % 2 == 0)
    multi = min(b for b in ledger.acked if b[1] % 2 == 1)
    check_versions_kept(srv, db, ledger, [single, multi])
    verify(srv, db, ledger)
    assert srv.stop() == 0, srv.stderr_text()

    # A graceful restart keeps everything too, and the versions now come from files of an earlier process.
    srv = launch(data)
    verify(srv, db, ledger)
    check_versions_kept(srv, db, ledger, [single, multi, (ROUNDS, 0, 0)])
    assert srv.stop() == 0, srv.stderr_text()


# ---------------------------------------------------------------------------------------------------------------------
# damaged WAL tails


def wal_frames(path: Path) -> list[tuple[int, int, bytes]]:
    """The valid frames of a WAL segment as (offset, seq, payload); asserts the segment header."""
    data = path.read_bytes()
    assert data[: len(WAL_HEADER)] == WAL_HEADER, f"{path} does not start with the WAL segment header"
    off, frames = len(WAL_HEADER), []
    while off + FRAME_OVERHEAD <= len(data):
        length, crc, seq = struct.unpack_from("<IIQ", data, off)
        end = off + FRAME_OVERHEAD + length
        payload = data[off + FRAME_OVERHEAD : end]
        if end > len(data) or zlib.crc32(struct.pack("<Q", seq) + payload) != crc:
            break
        frames.append((off, seq, payload))
        off = end
    return frames


def newest_segment(data: Path) -> Path:
    segments = sorted((data / "wal").glob("*.wal"))
    assert segments, f"no WAL segment in {data / 'wal'}: {os.listdir(data / 'wal')}"
    return segments[-1]


def batches_in(payload: bytes, ledger: Ledger) -> set:
    return {bid for bid in ledger.sent if tag(bid).encode() in payload}


def test_damaged_wal_tail(tmp_path, launch):
    rng = random.Random(SEED + 1)
    crashed = tmp_path / "crashed"
    ledger = Ledger()
    srv = launch(crashed)
    db = setup_table(srv)
    write_until_killed(srv, db, 0, 0.3, ledger, min_acked=4)

    segment = newest_segment(crashed)
    frames = wal_frames(segment)
    assert len(frames) >= 2, f"{segment} holds {len(frames)} whole frames"
    last_off, last_seq, last_payload = frames[-1]
    in_last = batches_in(last_payload, ledger)
    assert len(in_last) == 1, f"the last frame holds {sorted(in_last)}, not exactly one request"
    rel = segment.relative_to(crashed)

    def run(name: str, damage, lost: frozenset = frozenset()) -> None:
        copy = tmp_path / name
        shutil.copytree(crashed, copy)
        damage(copy / rel)
        mine = ledger.copy()
        step = "first restart"
        s = launch(copy)
        try:
            verify(s, db, mine, lost)
            write_batch(s, db, (1, 0, 0), mine)
            verify(s, db, mine, lost)
            assert s.stop() == 0, s.stderr_text()
            # The repaired log takes new appends in the right place: they survive another crash and restart.
            step = "second restart"
            s = launch(copy)
            verify(s, db, mine, lost)
            write_batch(s, db, (2, 0, 0), mine)
            assert s.kill() == -9
            step = "restart after a crash"
            s = launch(copy)
            verify(s, db, mine, lost)
            assert s.stop() == 0, s.stderr_text()
        except AssertionError as e:
            raise AssertionError(f"{name}, {step}: {e}\n--- server stderr ---\n{s.stderr_text()}") from None

    def append_garbage(path: Path) -> None:
        with path.open("ab") as f:
            f.write(bytes(rng.randrange(256) for _ in range(61)))

    def append_torn_frame(path: Path) -> None:
        # A new frame (the next seq) of which only the header and part of the payload reached the disk.
        frame = struct.pack("<IIQ", len(last_payload), zlib.crc32(struct.pack("<Q", last_seq + 1) + last_payload),
                            last_seq + 1) + last_payload
        with path.open("ab") as f:
            f.write(frame[: FRAME_OVERHEAD + len(last_payload) // 2])

    def append_torn_header(path: Path) -> None:
        with path.open("ab") as f:
            f.write(struct.pack("<IIQ", 100, 0, last_seq + 1)[:7])

    def cut_last_frame(path: Path) -> None:
        # The last frame itself is cut in the middle: its request is lost (deliberately), all else must stay.
        os.truncate(path, last_off + FRAME_OVERHEAD + len(last_payload) // 2)

    run("garbage", append_garbage)
    run("torn-frame", append_torn_frame)
    run("torn-header", append_torn_header)
    run("cut-last-frame", cut_last_frame, lost=frozenset(in_last))


# ---------------------------------------------------------------------------------------------------------------------
# versions across Parquet files and restarts; a dropped table stays dropped


def single_record(host: str, value: int, t: int, version: int | None = None) -> dict:
    r = {"Dimensions": [{"Name": "host", "Value": host}], "MeasureName": "v", "MeasureValueType": "BIGINT",
         "MeasureValue": str(value), "Time": str(t)}
    if version is not None:
        r["Version"] = version
    return r


def current(srv: Server, db: str) -> list[tuple[str, str]]:
    q = client(srv, "timestream-query")
    try:
        resp = q.query(QueryString=f'SELECT host, measure_value::bigint FROM "{db}"."{TABLE}" ORDER BY host')
    finally:
        q.close()
    return [tuple(d.get("ScalarValue") for d in row["Data"]) for row in resp["Rows"]]


def reject(c, db: str, records: list[dict]) -> list[dict]:
    with pytest.raises(ClientError) as info:
        c.write_records(DatabaseName=db, TableName=TABLE, Records=records)
    err = info.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("RejectedRecordsException", 419)
    return err["RejectedRecords"]


def test_upserts_across_parquet_files_and_restarts(tmp_path, launch):
    data = tmp_path / "data"
    srv = launch(data, "--persist-after", "1")
    db = setup_table(srv)
    t = int(time.time() * 1000) - 60_000
    c = client(srv)
    c.write_records(DatabaseName=db, TableName=TABLE, Records=[single_record(h, 1, t) for h in ("k1", "k2", "k3")])
    wait_for_parquet(data, 0)
    files = len(parquet_files(data))

    # The stored versions now come from a data file.
    c.write_records(DatabaseName=db, TableName=TABLE, Records=[single_record("k1", 2, t, version=2)])
    assert reject(c, db, [single_record("k2", 2, t, version=1)]) == [
        {"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 1}
    ]
    c.write_records(DatabaseName=db, TableName=TABLE, Records=[single_record("k3", 1, t)])  # identical
    assert current(srv, db) == [("k1", "2"), ("k2", "1"), ("k3", "1")]
    wait_for_parquet(data, files)  # k1 version 2 in a second file: two files hold k1
    assert current(srv, db) == [("k1", "2"), ("k2", "1"), ("k3", "1")]
    c.close()
    assert srv.kill() == -9

    srv = launch(data)
    assert current(srv, db) == [("k1", "2"), ("k2", "1"), ("k3", "1")]
    c = client(srv)
    assert reject(c, db, [single_record("k1", 5, t, version=2), single_record("k1", 5, t, version=1)]) == [
        {"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 2},
        {"RecordIndex": 1, "Reason": (
            "The record version 1 is lower than the existing version 2. A higher version is required to update the "
            "measure value."
        ), "ExistingVersion": 2},
    ]
    c.write_records(DatabaseName=db, TableName=TABLE, Records=[single_record("k1", 3, t, version=3)])
    c.close()
    assert srv.kill() == -9  # version 3 is only in the WAL, over files that hold versions 1 and 2

    srv = launch(data)
    assert current(srv, db) == [("k1", "3"), ("k2", "1"), ("k3", "1")]
    c = client(srv)
    assert reject(c, db, [single_record("k1", 4, t, version=2)])[0]["ExistingVersion"] == 3
    c.close()
    assert srv.stop() == 0, srv.stderr_text()


def test_dropped_table_stays_dropped_after_a_crash(tmp_path, launch):
    data = tmp_path / "data"
    srv = launch(data)
    db = setup_table(srv)
    t = int(time.time() * 1000) - 60_000
    c = client(srv)
    c.write_records(DatabaseName=db, TableName=TABLE, Records=[single_record("old", 1, t)])
    c.delete_table(DatabaseName=db, TableName=TABLE)
    c.create_table(DatabaseName=db, TableName=TABLE)
    c.write_records(DatabaseName=db, TableName=TABLE, Records=[single_record("new", 2, t)])
    assert current(srv, db) == [("new", "2")]
    c.close()
    assert srv.kill() == -9

    srv = launch(data)
    assert current(srv, db) == [("new", "2")], "the WAL replay brought rows of the dropped table back"
    c = client(srv)
    c.delete_table(DatabaseName=db, TableName=TABLE)
    c.close()
    assert srv.kill() == -9
    srv = launch(data)
    c = client(srv)
    c.create_table(DatabaseName=db, TableName=TABLE)
    c.close()
    q = client(srv, "timestream-query")
    resp = q.query(QueryString=f'SELECT count(*) AS n FROM "{db}"."{TABLE}"')
    q.close()
    assert resp["Rows"] == [{"Data": [{"ScalarValue": "0"}]}], "rows of a dropped table came back"
    assert srv.stop() == 0, srv.stderr_text()
