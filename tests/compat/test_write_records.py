"""WriteRecords and Query through boto3 (and once through the AWS CLI): request validation, per-record rejections
(HTTP 419 `RejectedRecordsException` with the valid records of the request still written), upserts by version, every
TimeUnit, every measure type (single and MULTI), CommonAttributes merging, the ingestion time window with and without
magnetic store writes, REQUIRED partition-key dimensions and the `RecordsIngested` counts.

Expected values are AWS's (API reference, botocore model, AWS-verified messages); see the suite README. Each test uses
its own database, and every record time is close to now, so tests do not depend on one another.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from compat_support import client_error, unique

TABLE = "tbl"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

SAME_VERSION_REASON = (
    "A record already exists with the same time, dimensions, measure name, and record version. A higher record "
    "version must be specified in order to update the measure value. Specifying record version is supported by the "
    "latest SDKs."
)


def lower_version_reason(version: int, existing: int) -> str:
    return (
        f"The record version {version} is lower than the existing version {existing}. A higher version is required "
        "to update the measure value."
    )


# ---------------------------------------------------------------------------------------------------------------------
# helpers


def now_ms() -> int:
    """A millisecond time a little in the past (well inside the memory store window of every table here)."""
    return int(time.time() * 1000) - 5_000


def ts_text(ns: int) -> str:
    """Timestream's TIMESTAMP text for `ns` nanoseconds since the epoch: `YYYY-MM-DD hh:mm:ss.nnnnnnnnn` (UTC)."""
    secs, frac = divmod(ns, 1_000_000_000)
    day = dt.datetime.fromtimestamp(secs, dt.timezone.utc)
    return f"{day:%Y-%m-%d %H:%M:%S}.{frac:09d}"


def dim(name: str, value: str) -> dict:
    return {"Name": name, "Value": value}


def rec(host: str, value: str = "1.0", *, t: int | None = None, measure: str = "cpu", vtype: str = "DOUBLE", **extra):
    """A single-measure record with one dimension `host`."""
    r = {
        "Dimensions": [dim("host", host)],
        "MeasureName": measure,
        "MeasureValue": value,
        "MeasureValueType": vtype,
        "Time": str(now_ms() if t is None else t),
    }
    r.update(extra)
    return r


def multi(host: str, values: list[tuple[str, str, str]], *, t: int | None = None, measure: str = "m", **extra):
    """A MULTI record; `values` are (name, value, type)."""
    r = {
        "Dimensions": [dim("host", host)],
        "MeasureName": measure,
        "MeasureValueType": "MULTI",
        "MeasureValues": [{"Name": n, "Value": v, "Type": ty} for n, v, ty in values],
        "Time": str(now_ms() if t is None else t),
    }
    r.update(extra)
    return r


def rejected(call, **kwargs) -> list[dict]:
    """Calls WriteRecords, asserts HTTP 419 `RejectedRecordsException`, returns its `RejectedRecords`."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    resp = info.value.response
    got = (resp["Error"].get("Code"), resp["ResponseMetadata"]["HTTPStatusCode"])
    assert got == ("RejectedRecordsException", 419), f"got {got}: {resp['Error'].get('Message')!r} {resp}"
    assert resp["Error"].get("Message") == "One or more records have been rejected. See RejectedRecords for details."
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
    assert "RejectedRecords" in resp, f"no RejectedRecords in {resp}"
    return resp["RejectedRecords"]


def indexes(rejections: list[dict]) -> list[int]:
    return [r["RecordIndex"] for r in rejections]


def result(resp) -> tuple[dict[str, str], list[dict[str, str | None]]]:
    """ColumnInfo as {name: ScalarType} and Rows as dicts {column: ScalarValue or None (NullValue)}."""
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    cols = resp["ColumnInfo"]
    names = [c["Name"] for c in cols]
    assert len(set(names)) == len(names), f"duplicate column names {names}"
    types = {c["Name"]: c["Type"].get("ScalarType") for c in cols}
    rows = []
    for row in resp["Rows"]:
        data = row["Data"]
        assert len(data) == len(names), f"row {data} does not match columns {names}"
        out = {}
        for name, datum in zip(names, data):
            if datum.get("NullValue"):
                assert "ScalarValue" not in datum, datum
                out[name] = None
            else:
                assert isinstance(datum.get("ScalarValue"), str), f"{name}: {datum}"
                out[name] = datum["ScalarValue"]
        rows.append(out)
    return types, rows


class Table:
    """A fresh database with one table, and shortcuts to write to it and query it."""

    def __init__(self, tsw, tsq, **create_kwargs):
        self.tsw, self.tsq = tsw, tsq
        self.db = unique("wr")
        self.name = TABLE
        tsw.create_database(DatabaseName=self.db)
        tsw.create_table(DatabaseName=self.db, TableName=self.name, **create_kwargs)
        self.ref = f'"{self.db}"."{self.name}"'

    def write(self, records: list[dict], client=None, **kwargs) -> dict:
        resp = (client or self.tsw).write_records(
            DatabaseName=self.db, TableName=self.name, Records=records, **kwargs
        )
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
        return resp["RecordsIngested"]

    def reject(self, records: list[dict], client=None, **kwargs) -> list[dict]:
        return rejected(
            (client or self.tsw).write_records, DatabaseName=self.db, TableName=self.name, Records=records, **kwargs
        )

    def query(self, sql: str):
        """`sql` with `{t}` standing for the quoted table reference."""
        return result(self.tsq.query(QueryString=sql.format(t=self.ref)))

    def rows(self, sql: str) -> list[dict]:
        return self.query(sql)[1]


@pytest.fixture(scope="module")
def tsq(client_factory):
    return client_factory("timestream-query")


@pytest.fixture
def table(tsw, tsq) -> Table:
    return Table(tsw, tsq)


def hosts_and_values(table: Table) -> list[tuple[str, str | None]]:
    return [(r["host"], r["measure_value::double"]) for r in table.rows(
        "SELECT host, measure_value::double FROM {t} ORDER BY host"
    )]


# ---------------------------------------------------------------------------------------------------------------------
# Whole-request validation: ValidationException, nothing of the request is written


@pytest.mark.parametrize(
    "bad, message",
    [
        pytest.param(
            rec("bad", "5", vtype="TIMESTAMP"),
            "TIMESTAMP is an invalid measure value type",
            id="timestamp-as-scalar-type",
        ),
        pytest.param(rec("bad", Time="yesterday"), "Invalid time for record.", id="time-not-a-number"),
        pytest.param(rec("bad", Time="1.5"), "Invalid time for record.", id="time-with-fraction"),
        pytest.param(rec("bad", Time="99999999999999999999"), "Invalid time for record.", id="time-overflow"),
    ],
)
def test_request_level_validation(table, tsw_raw, bad, message):
    table.write([rec("before", "1")])
    got = client_error(
        "ValidationException", 400, tsw_raw.write_records,
        DatabaseName=table.db, TableName=table.name, Records=[rec("good", "2"), bad],
    )
    assert got == message
    assert hosts_and_values(table) == [("before", "1.0")], "nothing of a request failing validation is written"


@pytest.mark.parametrize("version", [0, -1])
def test_version_below_one_is_a_validation_error(table, tsw_raw, version):
    table.write([rec("before", "1")])
    got = client_error(
        "ValidationException", 400, tsw_raw.write_records,
        DatabaseName=table.db, TableName=table.name, Records=[rec("good", "2"), rec("bad", "3", Version=version)],
    )
    assert "version" in got.lower(), got
    assert hosts_and_values(table) == [("before", "1.0")]


def test_more_than_128_dimensions(table, tsw_raw):
    record = {**rec("a"), "Dimensions": [dim(f"d{i}", "x") for i in range(129)]}
    got = client_error(
        "ValidationException", 400, tsw_raw.write_records,
        DatabaseName=table.db, TableName=table.name, Records=[record],
    )
    assert got.startswith("1 validation error detected: Value "), got
    assert got.endswith(
        " at 'records.1.member.dimensions' failed to satisfy constraint: Member must have length less than or equal "
        "to 128"
    ), got


def test_more_than_100_records(table, tsw_raw):
    t = now_ms()
    records = [rec(f"h{i:03d}", str(i), t=t) for i in range(101)]
    got = client_error(
        "ValidationException", 400, tsw_raw.write_records,
        DatabaseName=table.db, TableName=table.name, Records=records,
    )
    assert got.startswith("1 validation error detected: Value "), got
    assert got.endswith(
        " at 'records' failed to satisfy constraint: Member must have length less than or equal to 100"
    ), got
    # Exactly 100 is fine.
    assert table.write(records[:100]) == {"Total": 100, "MemoryStore": 100, "MagneticStore": 0}


def test_no_records(table, tsw_raw):
    got = client_error(
        "ValidationException", 400, tsw_raw.write_records, DatabaseName=table.db, TableName=table.name, Records=[]
    )
    assert got.startswith("1 validation error detected: Value "), got
    assert got.endswith(
        " at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1"
    ), got


def test_timestamp_type_from_common_attributes(table, tsw_raw):
    table.write([rec("before", "1")])
    record = rec("good", "5")
    del record["MeasureValueType"]
    got = client_error(
        "ValidationException", 400, tsw_raw.write_records,
        DatabaseName=table.db, TableName=table.name, Records=[record],
        CommonAttributes={"MeasureValueType": "TIMESTAMP"},
    )
    assert got == "TIMESTAMP is an invalid measure value type"
    assert hosts_and_values(table) == [("before", "1.0")]


def test_hundred_records_of_nearly_2kb(table):
    t = now_ms()
    records = [{**rec(f"h{i:03d}", str(i), t=t), "Dimensions": [dim("host", f"h{i:03d}"), dim("pad", "p" * 1900)]}
               for i in range(100)]
    assert table.write(records) == {"Total": 100, "MemoryStore": 100, "MagneticStore": 0}
    assert table.rows("SELECT count(*) AS n, sum(measure_value::double) AS s FROM {t}") == [
        {"n": "100", "s": "4950.0"}
    ]


def test_common_attribute_dimensions_may_not_overlap_record_dimensions(table, tsw_raw):
    table.write([rec("before", "1")])
    client_error(
        "ValidationException", 400, tsw_raw.write_records,
        DatabaseName=table.db, TableName=table.name,
        CommonAttributes={"Dimensions": [dim("host", "common")]},
        Records=[{"MeasureName": "cpu", "MeasureValue": "2", "Time": str(now_ms())}, rec("overlap", "3")],
    )
    assert hosts_and_values(table) == [("before", "1.0")]


def test_unknown_table_and_database(tsw, table):
    client_error(
        "ResourceNotFoundException", 404, tsw.write_records,
        DatabaseName=table.db, TableName="no_such_table", Records=[rec("a")],
    )
    client_error(
        "ResourceNotFoundException", 404, tsw.write_records,
        DatabaseName=unique("nodb"), TableName=TABLE, Records=[rec("a")],
    )


# ---------------------------------------------------------------------------------------------------------------------
# Per-record rejections: 419 with the index of the bad record; the good records of the same request are written


def _measures(n: int) -> list[tuple[str, str, str]]:
    return [(f"m{i}", "1", "BIGINT") for i in range(n)]


# id -> (records written first, the bad record)
BAD_RECORDS = {
    "double-not-a-number": ([], rec("bad", "abc")),
    "double-nan": ([], rec("bad", "NaN")),
    "double-infinity": ([], rec("bad", "Infinity")),
    "double-minus-infinity": ([], rec("bad", "-Infinity")),
    "bigint-fraction": ([], rec("bad", "1.5", measure="n", vtype="BIGINT")),
    "bigint-overflow": ([], rec("bad", "9223372036854775808", measure="n", vtype="BIGINT")),
    "boolean-yes": ([], rec("bad", "yes", measure="flag", vtype="BOOLEAN")),
    "multi-bad-double": ([], multi("bad", [("x", "abc", "DOUBLE")])),
    "multi-nan": ([], multi("bad", [("x", "NaN", "DOUBLE")])),
    "multi-bad-timestamp": ([], multi("bad", [("x", "soon", "TIMESTAMP")])),
    "dimension-named-time": ([], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("time", "x")]}),
    "dimension-named-measure_value": (
        [], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("measure_value", "x")]}
    ),
    "dimension-named-measure_name": ([], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("measure_name", "x")]}),
    "dimension-ts_-prefix": ([], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("ts_x", "x")]}),
    "dimension-with-colon": ([], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("a:b", "x")]}),
    "multi-measure-named-time": ([], multi("bad", [("time", "1", "BIGINT")])),
    "multi-measure-ts_-prefix": ([], multi("bad", [("ts_x", "1", "BIGINT")])),
    "multi-measure-with-colon": ([], multi("bad", [("a:b", "1", "BIGINT")])),
    "dimension-name-over-60-bytes": ([], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("d" * 61, "x")]}),
    "measure-name-over-256-bytes": ([], rec("bad", measure="m" * 257)),
    "duplicate-dimension": ([], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("host", "again")]}),
    "duplicate-multi-measure": ([], multi("bad", [("x", "1", "BIGINT"), ("x", "2", "BIGINT")])),
    "record-over-2kb": (
        [], {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("a", "a" * 1100), dim("b", "b" * 1100)]}
    ),
    "multi-over-256-measures": ([], multi("bad", _measures(257))),
    "measure-type-change": ([rec("setup", "1")], rec("bad", "7", vtype="BIGINT")),
    "measure-single-to-multi": ([rec("setup", "1")], multi("bad", [("x", "1", "DOUBLE")], measure="cpu")),
    "multi-measure-type-change": ([multi("setup", [("x", "1", "DOUBLE")])], multi("bad", [("x", "one", "VARCHAR")])),
    "multi-measure-named-like-dimension": ([], multi("bad", [("host", "1", "BIGINT")])),
    "dimension-named-like-multi-measure": (
        [multi("setup", [("x", "1", "DOUBLE")])],
        {**rec("bad"), "Dimensions": [dim("host", "bad"), dim("x", "1")]},
    ),
    "same-name-dimension-and-measure-in-record": (
        [],
        {**multi("bad", [("z", "1", "BIGINT")]), "Dimensions": [dim("host", "bad"), dim("z", "1")]},
    ),
    "multi-with-measure-value": ([], {**multi("bad", [("x", "1", "BIGINT")]), "MeasureValue": "1"}),
    "multi-without-measure-values": ([], {**multi("bad", []), "MeasureValues": []}),
    "single-with-measure-values": (
        [], {**rec("bad"), "MeasureValues": [{"Name": "x", "Value": "1", "Type": "DOUBLE"}]}
    ),
    # Times relative to now are made when the test runs.
    "time-more-than-15-minutes-ahead": ([], lambda: rec("bad", t=now_ms() + 20 * 60 * 1000)),
    "time-before-memory-retention": ([], lambda: rec("bad", t=now_ms() - 7 * HOUR_MS)),
}


@pytest.mark.parametrize("setup, bad", list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_rejected_record_and_the_rest_is_written(table, tsw_raw, setup, bad):
    bad = bad() if callable(bad) else bad
    if setup:
        table.write(setup)
    t = now_ms()
    rejections = table.reject([rec("good0", "1", t=t), bad, rec("good2", "3", t=t)], client=tsw_raw)
    assert indexes(rejections) == [1], rejections
    assert isinstance(rejections[0].get("Reason"), str) and rejections[0]["Reason"], rejections
    assert "ExistingVersion" not in rejections[0], rejections
    good = [r for r in hosts_and_values(table) if r[0].startswith("good")]
    assert good == [("good0", "1.0"), ("good2", "3.0")]
    assert all(r[0] != "bad" for r in hosts_and_values(table))


def test_several_rejections_are_listed_in_order(table):
    t = now_ms()
    records = [
        rec("h0", "0", t=t),
        rec("h1", "abc", t=t),
        rec("h2", "2", t=t),
        rec("h3", "NaN", t=t),
        {**rec("h4", "4", t=t), "Dimensions": [dim("host", "h4"), dim("time", "x")]},
        rec("h5", "5", t=t),
        rec("h6", "6", t=t + 60 * 60 * 1000),  # an hour ahead
        rec("h7", "7", t=t),
    ]
    rejections = table.reject(records)
    assert indexes(rejections) == [1, 3, 4, 6]
    assert hosts_and_values(table) == [("h0", "0.0"), ("h2", "2.0"), ("h5", "5.0"), ("h7", "7.0")]


def test_every_record_rejected(table):
    table.write([rec("before", "1")])
    rejections = table.reject([rec("a", "x"), rec("b", "y")])
    assert indexes(rejections) == [0, 1]
    assert hosts_and_values(table) == [("before", "1.0")]


def test_required_partition_key_dimension(tsw, tsq):
    schema = {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "region", "EnforcementInRecord": "REQUIRED"}]}
    table = Table(tsw, tsq, Schema=schema)
    t = now_ms()
    with_key = {**rec("a", "1", t=t), "Dimensions": [dim("host", "a"), dim("region", "eu")]}
    without = rec("b", "2", t=t)
    also = {**rec("c", "3", t=t), "Dimensions": [dim("host", "c"), dim("region", "us")]}
    rejections = table.reject([with_key, without, also])
    assert indexes(rejections) == [1]
    assert "region" in rejections[0]["Reason"], rejections
    rows = table.rows("SELECT host, region, measure_value::double FROM {t} ORDER BY host")
    assert rows == [
        {"host": "a", "region": "eu", "measure_value::double": "1.0"},
        {"host": "c", "region": "us", "measure_value::double": "3.0"},
    ]
    # The dimension may come from CommonAttributes.
    assert table.write([rec("d", "4", t=t)], CommonAttributes={"Dimensions": [dim("region", "ap")]})["Total"] == 1


def test_optional_partition_key_dimension(tsw, tsq):
    schema = {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "region", "EnforcementInRecord": "OPTIONAL"}]}
    table = Table(tsw, tsq, Schema=schema)
    assert table.write([rec("a", "1")]) == {"Total": 1, "MemoryStore": 1, "MagneticStore": 0}


# ---------------------------------------------------------------------------------------------------------------------
# Versions and upserts


def test_version_rules(table):
    t = now_ms()
    assert table.write([rec("a", "1", t=t, Version=1)])["Total"] == 1
    # An identical re-send is accepted.
    assert table.write([rec("a", "1", t=t, Version=1)])["Total"] == 1
    assert hosts_and_values(table) == [("a", "1.0")]

    # Same version, another value: rejected, with the version stored.
    rejections = table.reject([rec("a", "2", t=t, Version=1)])
    assert rejections == [{"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 1}]

    # A higher version replaces the value.
    assert table.write([rec("a", "5", t=t, Version=5)])["Total"] == 1
    assert hosts_and_values(table) == [("a", "5.0")]

    # A lower version with another value: rejected.
    rejections = table.reject([rec("a", "3", t=t, Version=2)])
    assert rejections == [{"RecordIndex": 0, "Reason": lower_version_reason(2, 5), "ExistingVersion": 5}]
    assert hosts_and_values(table) == [("a", "5.0")]

    # A higher version with the same value only raises the version.
    assert table.write([rec("a", "5", t=t, Version=6)])["Total"] == 1
    rejections = table.reject([rec("a", "9", t=t, Version=6)])
    assert rejections == [{"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 6}]
    assert hosts_and_values(table) == [("a", "5.0")]


def test_version_conflict_in_a_partially_rejected_request(table):
    t = now_ms()
    table.write([rec("a", "1", t=t, Version=3), rec("b", "1", t=t, Version=3)])
    rejections = table.reject([
        rec("a", "2", t=t, Version=3),  # same version, other value
        rec("b", "2", t=t, Version=4),  # replaces
        rec("c", "2", t=t),  # new
        rec("a", "2", t=t, Version=1),  # lower version
    ])
    assert rejections == [
        {"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 3},
        {"RecordIndex": 3, "Reason": lower_version_reason(1, 3), "ExistingVersion": 3},
    ]
    assert hosts_and_values(table) == [("a", "1.0"), ("b", "2.0"), ("c", "2.0")]


def test_same_instant_in_another_unit_is_the_same_record(table):
    second = _second()
    table.write([rec("a", "1", t=second, TimeUnit="SECONDS")])
    # Identical: accepted.
    assert table.write([rec("a", "1", t=second * 1_000_000, TimeUnit="MICROSECONDS")])["Total"] == 1
    rejections = table.reject([rec("a", "2", t=second * 1000, TimeUnit="MILLISECONDS")])
    assert rejections == [{"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 1}]
    assert hosts_and_values(table) == [("a", "1.0")]


def test_dimension_order_does_not_matter(table):
    t = now_ms()
    table.write([{**rec("a", "1", t=t), "Dimensions": [dim("host", "a"), dim("region", "eu")]}])
    rejections = table.reject([{**rec("a", "2", t=t), "Dimensions": [dim("region", "eu"), dim("host", "a")]}])
    assert rejections == [{"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 1}]
    # Another dimension set is another series, even with one dimension more.
    table.write([{**rec("a", "3", t=t), "Dimensions": [dim("host", "a"), dim("region", "eu"), dim("az", "1")]}])
    rows = table.rows("SELECT host, region, az, measure_value::double FROM {t} ORDER BY measure_value::double")
    assert rows == [
        {"host": "a", "region": "eu", "az": None, "measure_value::double": "1.0"},
        {"host": "a", "region": "eu", "az": "1", "measure_value::double": "3.0"},
    ]


def test_concurrent_versions_of_one_record(table, client_factory):
    """Racing writers of one key: the highest version wins, every lower one is refused or superseded."""
    t = now_ms()
    clients = [client_factory("timestream-write") for _ in range(4)]
    versions = list(range(1, 41))
    random.Random(7).shuffle(versions)
    outcomes: dict[int, str] = {}

    def send(i: int) -> None:
        c = clients[i % len(clients)]
        for v in versions[i::len(clients)]:
            try:
                c.write_records(DatabaseName=table.db, TableName=table.name,
                                Records=[rec("a", str(v), t=t, Version=v)])
                outcomes[v] = "ok"
            except ClientError as e:
                rr = e.response.get("RejectedRecords") or [{}]
                assert e.response["Error"]["Code"] == "RejectedRecordsException", e.response
                assert rr[0]["ExistingVersion"] > v, (v, rr)
                assert rr[0]["Reason"] == lower_version_reason(v, rr[0]["ExistingVersion"]), rr
                outcomes[v] = "rejected"

    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(send, range(len(clients))))
    assert outcomes[40] == "ok"
    assert hosts_and_values(table) == [("a", "40.0")]
    rejections = table.reject([rec("a", "1", t=t, Version=39)])
    assert rejections[0]["ExistingVersion"] == 40


def test_default_version_is_one(table):
    t = now_ms()
    table.write([rec("a", "1", t=t)])
    rejections = table.reject([rec("a", "2", t=t, Version=1)])
    assert rejections == [{"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 1}]
    table.write([rec("a", "2", t=t, Version=2)])
    assert hosts_and_values(table) == [("a", "2.0")]


def test_duplicate_key_within_one_request(table):
    t = now_ms()
    rejections = table.reject([rec("a", "1", t=t), rec("a", "2", t=t)])
    assert rejections == [{"RecordIndex": 1, "Reason": SAME_VERSION_REASON, "ExistingVersion": 1}]
    assert hosts_and_values(table) == [("a", "1.0")]


def test_multi_measure_upsert(table):
    t = now_ms()
    table.write([multi("a", [("x", "1", "DOUBLE"), ("s", "one", "VARCHAR")], t=t, Version=1)])
    table.write([multi("a", [("x", "2", "DOUBLE"), ("s", "two", "VARCHAR")], t=t, Version=2)])
    rows = table.rows("SELECT host, x, s FROM {t}")
    assert rows == [{"host": "a", "x": "2.0", "s": "two"}]
    rejections = table.reject([multi("a", [("x", "3", "DOUBLE"), ("s", "three", "VARCHAR")], t=t, Version=2)])
    assert rejections == [{"RecordIndex": 0, "Reason": SAME_VERSION_REASON, "ExistingVersion": 2}]
    # Identical re-send of the current record.
    table.write([multi("a", [("x", "2", "DOUBLE"), ("s", "two", "VARCHAR")], t=t, Version=2)])
    assert table.rows("SELECT host, x, s FROM {t}") == [{"host": "a", "x": "2.0", "s": "two"}]


def test_version_in_common_attributes(table):
    t = now_ms()
    table.write([rec("a", "1", t=t)], CommonAttributes={"Version": 4})
    rejections = table.reject([rec("a", "2", t=t)], CommonAttributes={"Version": 3})
    assert rejections == [{"RecordIndex": 0, "Reason": lower_version_reason(3, 4), "ExistingVersion": 4}]
    # A record's own version overrides the common one.
    table.write([rec("a", "2", t=t, Version=5)], CommonAttributes={"Version": 3})
    assert hosts_and_values(table) == [("a", "2.0")]


# ---------------------------------------------------------------------------------------------------------------------
# Time units, measure types, CommonAttributes


def _second() -> int:
    return int(time.time()) - 10


@pytest.mark.parametrize(
    "unit, scale, fraction",
    [
        ("SECONDS", 1, 0),
        ("MILLISECONDS", 1_000, 123),
        ("MICROSECONDS", 1_000_000, 123_456),
        ("NANOSECONDS", 1_000_000_000, 123_456_789),
        (None, 1_000, 987),  # MILLISECONDS is the default
    ],
)
def test_time_units(table, unit, scale, fraction):
    second = _second()
    value = second * scale + fraction
    record = rec("a", "1", t=value)
    if unit is not None:
        record["TimeUnit"] = unit
    table.write([record])
    expected = ts_text(second * 1_000_000_000 + fraction * (1_000_000_000 // scale))
    types, rows = table.query("SELECT host, time FROM {t}")
    assert types["time"] == "TIMESTAMP"
    assert rows == [{"host": "a", "time": expected}]


def test_time_unit_from_common_attributes(table):
    second = _second()
    table.write(
        [rec("a", "1", t=second * 1_000_000 + 5), rec("b", "2", t=second * 1_000 + 7, TimeUnit="MILLISECONDS")],
        CommonAttributes={"TimeUnit": "MICROSECONDS"},
    )
    rows = table.rows("SELECT host, time FROM {t} ORDER BY host")
    base = second * 1_000_000_000
    assert rows == [{"host": "a", "time": ts_text(base + 5_000)}, {"host": "b", "time": ts_text(base + 7_000_000)}]


def test_nanosecond_times_stay_distinct(table):
    base = _second() * 1_000_000_000
    table.write([rec("a", str(i), t=base + i, TimeUnit="NANOSECONDS") for i in range(1, 4)])
    rows = table.rows("SELECT time, measure_value::double FROM {t} ORDER BY time")
    assert rows == [{"time": ts_text(base + i), "measure_value::double": f"{i}.0"} for i in range(1, 4)]


def test_single_measure_of_each_type(table):
    t = now_ms()
    table.write([
        rec("a", "2.5", t=t, measure="cpu", vtype="DOUBLE"),
        rec("a", "9223372036854775807", t=t, measure="count", vtype="BIGINT"),
        rec("a", "all good", t=t, measure="status", vtype="VARCHAR"),
        rec("a", "true", t=t, measure="up", vtype="BOOLEAN"),
        rec("b", "1", t=t, measure="cpu", vtype="DOUBLE"),
        rec("b", "-3", t=t, measure="count", vtype="BIGINT"),
        rec("b", "false", t=t, measure="up", vtype="BOOLEAN"),
    ])
    types, rows = table.query("SELECT * FROM {t} ORDER BY host, measure_name")
    names = list(types)
    assert names[:3] == ["host", "measure_name", "time"], names
    assert sorted(names[3:]) == sorted(
        ["measure_value::double", "measure_value::bigint", "measure_value::varchar", "measure_value::boolean"]
    ), names
    assert types == {
        "host": "VARCHAR",
        "measure_name": "VARCHAR",
        "time": "TIMESTAMP",
        "measure_value::double": "DOUBLE",
        "measure_value::bigint": "BIGINT",
        "measure_value::varchar": "VARCHAR",
        "measure_value::boolean": "BOOLEAN",
    }
    tt = ts_text(t * 1_000_000)
    none = dict.fromkeys(names[3:])

    def row(host, measure, column, value):
        return {"host": host, "measure_name": measure, "time": tt, **none, column: value}

    assert rows == [
        row("a", "count", "measure_value::bigint", "9223372036854775807"),
        row("a", "cpu", "measure_value::double", "2.5"),
        row("a", "status", "measure_value::varchar", "all good"),
        row("a", "up", "measure_value::boolean", "true"),
        row("b", "count", "measure_value::bigint", "-3"),
        row("b", "cpu", "measure_value::double", "1.0"),
        row("b", "up", "measure_value::boolean", "false"),
    ]


def test_measure_value_type_defaults_to_double(table):
    record = rec("a", "3")
    del record["MeasureValueType"]
    typed = {**rec("b", "4"), "Dimensions": [{"Name": "host", "Value": "b", "DimensionValueType": "VARCHAR"}]}
    table.write([record, typed])
    types, rows = table.query("SELECT host, measure_value::double FROM {t} ORDER BY host")
    assert types == {"host": "VARCHAR", "measure_value::double": "DOUBLE"}
    assert rows == [{"host": "a", "measure_value::double": "3.0"}, {"host": "b", "measure_value::double": "4.0"}]


@pytest.mark.parametrize(
    "written, shown",
    [
        ("1", "1.0"),
        ("-0.5", "-0.5"),
        ("123.456", "123.456"),
        ("9999999", "9999999.0"),
        ("1e7", "1.0E7"),
        ("12345678.9", "1.23456789E7"),
        ("0.001", "0.001"),
        ("0.0001", "1.0E-4"),
        ("-2.5e-5", "-2.5E-5"),
        ("1e21", "1.0E21"),
        ("0", "0.0"),
    ],
)
def test_double_text_is_java_style(table, written, shown):
    table.write([rec("a", written)])
    assert hosts_and_values(table) == [("a", shown)]


def test_text_round_trips(table):
    t = now_ms()
    text = "é ü 字 'single' \"double\" back\\slash, comma; tab\t"
    table.write([
        {**rec("a", "1", t=t), "Dimensions": [dim("host", text)]},
        rec("b", text, t=t, measure="note", vtype="VARCHAR"),
        rec("b", "-9223372036854775808", t=t, measure="n", vtype="BIGINT"),
    ])
    rows = table.rows(
        "SELECT host, measure_name, measure_value::double, measure_value::varchar, measure_value::bigint FROM {t} "
        "ORDER BY measure_name"
    )
    assert rows == [
        {"host": text, "measure_name": "cpu", "measure_value::double": "1.0", "measure_value::varchar": None,
         "measure_value::bigint": None},
        {"host": "b", "measure_name": "n", "measure_value::double": None, "measure_value::varchar": None,
         "measure_value::bigint": "-9223372036854775808"},
        {"host": "b", "measure_name": "note", "measure_value::double": None, "measure_value::varchar": text,
         "measure_value::bigint": None},
    ]
    rows = table.rows("SELECT measure_name FROM {t} WHERE host = 'b' AND measure_value::varchar = '"
                      + text.replace("'", "''") + "'")
    assert rows == [{"measure_name": "note"}]


@pytest.mark.parametrize("literal", ["é", "字", "naïve café", "a\u00a0b"], ids=["e-acute", "cjk", "words", "nbsp"])
def test_query_with_non_ascii_string_literal(table, literal):
    t = now_ms()
    table.write([rec(literal, "1", t=t), rec("plain", "2", t=t)])
    assert table.rows("SELECT measure_value::double FROM {t} WHERE host = '" + literal + "'") == [
        {"measure_value::double": "1.0"}
    ]
    assert table.rows("SELECT host FROM {t} WHERE host <> 'plain' -- ünïcode in a comment") == [{"host": literal}]


def test_measure_value_columns_by_name(table):
    t = now_ms()
    table.write([rec("a", "2.5", t=t), rec("a", "7", t=t, measure="n", vtype="BIGINT")])
    types, rows = table.query(
        "SELECT measure_name, measure_value::double, measure_value::bigint FROM {t} ORDER BY measure_name"
    )
    assert types == {"measure_name": "VARCHAR", "measure_value::double": "DOUBLE", "measure_value::bigint": "BIGINT"}
    assert rows == [
        {"measure_name": "cpu", "measure_value::double": "2.5", "measure_value::bigint": None},
        {"measure_name": "n", "measure_value::double": None, "measure_value::bigint": "7"},
    ]


def test_measure_name_values_do_not_clash_with_dimension_names(table):
    """`measure_name` holds values, not column names: a dimension may be called like a single measure."""
    t = now_ms()
    table.write([rec("a", "1", t=t, measure="cpu")])
    table.write([{**rec("b", "2", t=t, measure="mem"), "Dimensions": [dim("host", "b"), dim("cpu", "x")]}])
    rows = table.rows("SELECT host, cpu, measure_name FROM {t} ORDER BY host")
    assert rows == [{"host": "a", "cpu": None, "measure_name": "cpu"}, {"host": "b", "cpu": "x", "measure_name": "mem"}]


def test_multi_measure_with_every_type(table):
    t = now_ms()
    stamp = t - 60_000
    table.write([
        multi("a", [
            ("d", "1.5", "DOUBLE"),
            ("b", "-7", "BIGINT"),
            ("v", "hello", "VARCHAR"),
            ("f", "false", "BOOLEAN"),
            ("ts", str(stamp), "TIMESTAMP"),
        ], t=t, measure="metrics"),
        multi("b", [("d", "2", "DOUBLE"), ("f", "true", "BOOLEAN")], t=t, measure="metrics"),
    ])
    types, rows = table.query("SELECT * FROM {t} ORDER BY host")
    names = list(types)
    assert names[:3] == ["host", "measure_name", "time"], names
    assert sorted(names[3:]) == ["b", "d", "f", "ts", "v"], names
    assert types == {
        "host": "VARCHAR", "measure_name": "VARCHAR", "time": "TIMESTAMP",
        "d": "DOUBLE", "b": "BIGINT", "v": "VARCHAR", "f": "BOOLEAN", "ts": "TIMESTAMP",
    }
    tt = ts_text(t * 1_000_000)
    assert rows == [
        {"host": "a", "measure_name": "metrics", "time": tt, "d": "1.5", "b": "-7", "v": "hello", "f": "false",
         "ts": ts_text(stamp * 1_000_000)},
        {"host": "b", "measure_name": "metrics", "time": tt, "d": "2.0", "b": None, "v": None, "f": "true",
         "ts": None},
    ]


def test_single_and_multi_measures_in_one_table(table):
    t = now_ms()
    table.write([rec("a", "1", t=t), multi("a", [("x", "5", "BIGINT")], t=t)])
    types, rows = table.query("SELECT host, measure_name, measure_value::double, x FROM {t} ORDER BY measure_name")
    assert types == {"host": "VARCHAR", "measure_name": "VARCHAR", "measure_value::double": "DOUBLE", "x": "BIGINT"}
    assert rows == [
        {"host": "a", "measure_name": "cpu", "measure_value::double": "1.0", "x": None},
        {"host": "a", "measure_name": "m", "measure_value::double": None, "x": "5"},
    ]


def test_common_attributes_merge(table):
    t = now_ms()
    common = {
        "Dimensions": [dim("region", "eu")],
        "MeasureName": "cpu",
        "MeasureValueType": "DOUBLE",
        "Time": str(t),
        "TimeUnit": "MILLISECONDS",
    }
    records = [
        {"Dimensions": [dim("host", "a")], "MeasureValue": "1"},
        {"Dimensions": [dim("host", "b")], "MeasureValue": "2", "Time": str(t - 1000), "MeasureName": "mem"},
        {"Dimensions": [dim("host", "c")], "MeasureValue": "3", "MeasureValueType": "BIGINT", "MeasureName": "n"},
        {"MeasureValue": "4"},  # only the common dimension
    ]
    assert table.write(records, CommonAttributes=common) == {"Total": 4, "MemoryStore": 4, "MagneticStore": 0}
    rows = table.rows(
        "SELECT region, host, measure_name, time, measure_value::double, measure_value::bigint FROM {t} "
        "ORDER BY measure_name, host"
    )
    tt, earlier = ts_text(t * 1_000_000), ts_text((t - 1000) * 1_000_000)
    assert rows == [
        {"region": "eu", "host": "a", "measure_name": "cpu", "time": tt,
         "measure_value::double": "1.0", "measure_value::bigint": None},
        {"region": "eu", "host": None, "measure_name": "cpu", "time": tt,  # NULLS LAST is the default
         "measure_value::double": "4.0", "measure_value::bigint": None},
        {"region": "eu", "host": "b", "measure_name": "mem", "time": earlier,
         "measure_value::double": "2.0", "measure_value::bigint": None},
        {"region": "eu", "host": "c", "measure_name": "n", "time": tt,
         "measure_value::double": None, "measure_value::bigint": "3"},
    ]


def test_common_attributes_carry_the_measure_value(table):
    t = now_ms()
    common = {"MeasureName": "cpu", "MeasureValueType": "DOUBLE", "MeasureValue": "7", "Time": str(t)}
    table.write([{"Dimensions": [dim("host", "a")]}, {"Dimensions": [dim("host", "b")], "MeasureValue": "8"}],
                CommonAttributes=common)
    assert hosts_and_values(table) == [("a", "7.0"), ("b", "8.0")]


def test_common_attributes_multi_measure(table):
    t = now_ms()
    common = {"MeasureName": "m", "MeasureValueType": "MULTI", "Time": str(t), "Dimensions": [dim("region", "eu")]}
    table.write([
        {"Dimensions": [dim("host", "a")], "MeasureValues": [{"Name": "x", "Value": "1", "Type": "BIGINT"}]},
        {"Dimensions": [dim("host", "b")], "MeasureValues": [{"Name": "x", "Value": "2", "Type": "BIGINT"}]},
    ], CommonAttributes=common)
    rows = table.rows("SELECT region, host, x FROM {t} ORDER BY host")
    assert rows == [{"region": "eu", "host": "a", "x": "1"}, {"region": "eu", "host": "b", "x": "2"}]


# ---------------------------------------------------------------------------------------------------------------------
# Time window, magnetic store, RecordsIngested


def test_records_ingested_counts(table):
    t = now_ms()
    assert table.write([rec("a", "1", t=t), rec("b", "2", t=t), rec("c", "3", t=t)]) == {
        "Total": 3, "MemoryStore": 3, "MagneticStore": 0,
    }
    assert table.write([rec("d", "4", t=t)]) == {"Total": 1, "MemoryStore": 1, "MagneticStore": 0}


def test_time_window_edges(tsw, tsq):
    table = Table(tsw, tsq, RetentionProperties={
        "MemoryStoreRetentionPeriodInHours": 1, "MagneticStoreRetentionPeriodInDays": 1,
    })
    t = now_ms()
    rejections = table.reject([
        rec("ahead5", "1", t=t + 5 * 60_000),  # accepted: within 15 minutes ahead
        rec("ahead20", "2", t=t + 20 * 60_000),
        rec("ago30", "3", t=t - 30 * 60_000),  # accepted: within one hour back
        rec("ago2h", "4", t=t - 2 * HOUR_MS),
    ])
    assert indexes(rejections) == [1, 3]
    assert hosts_and_values(table) == [("ago30", "3.0"), ("ahead5", "1.0")]


def test_magnetic_store_writes(tsw, tsq):
    magnetic = Table(tsw, tsq, MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True})
    memory_only = Table(tsw, tsq)
    old = now_ms() - 2 * DAY_MS
    assert magnetic.write([rec("old", "1", t=old)]) == {"Total": 1, "MemoryStore": 0, "MagneticStore": 1}
    assert magnetic.rows("SELECT host, time, measure_value::double FROM {t}") == [
        {"host": "old", "time": ts_text(old * 1_000_000), "measure_value::double": "1.0"}
    ]
    assert indexes(memory_only.reject([rec("old", "1", t=old)])) == [0]

    t = now_ms()
    ingested = magnetic.write([rec("new", "2", t=t), rec("old2", "3", t=old - 1000), rec("new2", "4", t=t)])
    assert ingested == {"Total": 3, "MemoryStore": 2, "MagneticStore": 1}
    assert hosts_and_values(magnetic) == [("new", "2.0"), ("new2", "4.0"), ("old", "1.0"), ("old2", "3.0")]


def test_magnetic_store_retention_limits_old_records(tsw, tsq):
    table = Table(
        tsw, tsq,
        MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True},
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 1, "MagneticStoreRetentionPeriodInDays": 1},
    )
    t = now_ms()
    rejections = table.reject([rec("h5", "1", t=t - 5 * HOUR_MS), rec("d2", "2", t=t - 2 * DAY_MS)])
    assert indexes(rejections) == [1]
    assert hosts_and_values(table) == [("h5", "1.0")]


def test_enabling_magnetic_writes_later(tsw, tsq):
    table = Table(tsw, tsq)
    old = now_ms() - 2 * DAY_MS
    assert indexes(table.reject([rec("old", "1", t=old)])) == [0]
    tsw.update_table(
        DatabaseName=table.db, TableName=table.name,
        MagneticStoreWriteProperties={"EnableMagneticStoreWrites": True},
    )
    assert table.write([rec("old", "1", t=old)]) == {"Total": 1, "MemoryStore": 0, "MagneticStore": 1}


# ---------------------------------------------------------------------------------------------------------------------
# Query


def test_query_where_order_limit_aggregates(table):
    t = now_ms()
    table.write([rec(f"h{i}", str(i / 2), t=t - i * 1000) for i in range(6)])
    rows = table.rows(
        "SELECT host, measure_value::double AS v FROM {t} WHERE measure_value::double > 1.0 ORDER BY v DESC LIMIT 2"
    )
    assert rows == [{"host": "h5", "v": "2.5"}, {"host": "h4", "v": "2.0"}]
    types, rows = table.query(
        "SELECT count(*) AS n, avg(measure_value::double) AS a, max(time) AS latest, min(host) AS first FROM {t}"
    )
    assert types == {"n": "BIGINT", "a": "DOUBLE", "latest": "TIMESTAMP", "first": "VARCHAR"}
    assert rows == [{"n": "6", "a": "1.25", "latest": ts_text(t * 1_000_000), "first": "h0"}]
    rows = table.rows(
        "SELECT host FROM {t} WHERE host IN ('h1', 'h3') AND measure_name = 'cpu' ORDER BY host"
    )
    assert rows == [{"host": "h1"}, {"host": "h3"}]


def test_query_without_matching_rows(table):
    table.write([rec("a", "1")])
    types, rows = table.query("SELECT host, measure_value::double FROM {t} WHERE host = 'zzz'")
    assert types == {"host": "VARCHAR", "measure_value::double": "DOUBLE"}
    assert rows == []


def test_query_unquoted_table_reference(table):
    table.write([rec("a", "1")])
    types, rows = result(table.tsq.query(QueryString=f"SELECT host FROM {table.db}.{table.name}"))
    assert rows == [{"host": "a"}]


def test_query_status(table):
    table.write([rec("a", "1")])
    resp = table.tsq.query(QueryString=f"SELECT host FROM {table.ref}")
    assert isinstance(resp["QueryId"], str) and resp["QueryId"]
    status = resp["QueryStatus"]
    assert status["ProgressPercentage"] == 100.0
    assert status["CumulativeBytesMetered"] >= 10_000_000
    assert status["CumulativeBytesScanned"] >= 0
    assert "NextToken" not in resp


def test_query_unknown_database(tsq):
    db = unique("nodb")
    got = client_error("ValidationException", 400, tsq.query, QueryString=f"SELECT * FROM {db}.tbl")
    assert got == f"Requested database '{db}' not found for identifier '{db}.tbl' at line 1:15"


def test_query_unknown_table(tsq, table):
    got = client_error("ValidationException", 400, tsq.query, QueryString=f"SELECT * FROM {table.db}.nosuch")
    assert "nosuch" in got, got


def test_recreated_table_starts_empty(tsw, table):
    table.write([rec("old", "1")])
    tsw.delete_table(DatabaseName=table.db, TableName=table.name)
    tsw.create_table(DatabaseName=table.db, TableName=table.name)
    assert table.rows("SELECT count(*) AS n FROM {t}") == [{"n": "0"}]
    table.write([rec("new", "2", measure="cpu2")])
    assert table.rows("SELECT host, measure_name FROM {t}") == [{"host": "new", "measure_name": "cpu2"}]
    # The old table's schema is gone too: the measure name may take another type now.
    table.write([rec("new", "3", measure="cpu", vtype="BIGINT")])


def test_other_region_does_not_see_the_table(client_factory, table):
    table.write([rec("a", "1")])
    other_w = client_factory("timestream-write", region="eu-west-1")
    other_q = client_factory("timestream-query", region="eu-west-1")
    client_error(
        "ResourceNotFoundException", 404, other_w.write_records,
        DatabaseName=table.db, TableName=table.name, Records=[rec("b", "2")],
    )
    got = client_error("ValidationException", 400, other_q.query, QueryString=f"SELECT * FROM {table.db}.{table.name}")
    assert got == f"Requested database '{table.db}' not found for identifier '{table.db}.{table.name}' at line 1:15"
    assert hosts_and_values(table) == [("a", "1.0")]


def test_query_empty_table(table):
    types, rows = table.query("SELECT count(*) AS n FROM {t}")
    assert (types, rows) == ({"n": "BIGINT"}, [{"n": "0"}])


# ---------------------------------------------------------------------------------------------------------------------
# AWS CLI


def test_cli_write_records_and_query(aws_cli, tsw, tsq):
    table = Table(tsw, tsq)
    t = now_ms()
    records = [
        {"Dimensions": [dim("host", "a")], "MeasureName": "cpu", "MeasureValue": "1.5", "Time": str(t)},
        {"Dimensions": [dim("host", "b")], "MeasureName": "m", "MeasureValueType": "MULTI", "Time": str(t),
         "MeasureValues": [{"Name": "x", "Value": "3", "Type": "BIGINT"}]},
    ]
    w = aws_cli(
        "timestream-write", "write-records", "--database-name", table.db, "--table-name", table.name,
        "--common-attributes", json.dumps({"MeasureValueType": "DOUBLE", "Dimensions": [dim("region", "eu")]}),
        "--records", json.dumps(records),
    )
    assert w.rc == 0, w.stderr
    assert w.out == {"RecordsIngested": {"Total": 2, "MemoryStore": 2, "MagneticStore": 0}}

    q = aws_cli(
        "timestream-query", "query", "--query-string",
        f'SELECT region, host, measure_value::double, x, time FROM "{table.db}"."{table.name}" ORDER BY host',
    )
    assert q.rc == 0, q.stderr
    assert q.out["ColumnInfo"] == [
        {"Name": "region", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "host", "Type": {"ScalarType": "VARCHAR"}},
        {"Name": "measure_value::double", "Type": {"ScalarType": "DOUBLE"}},
        {"Name": "x", "Type": {"ScalarType": "BIGINT"}},
        {"Name": "time", "Type": {"ScalarType": "TIMESTAMP"}},
    ]
    tt = ts_text(t * 1_000_000)
    assert q.out["Rows"] == [
        {"Data": [{"ScalarValue": "eu"}, {"ScalarValue": "a"}, {"ScalarValue": "1.5"}, {"NullValue": True},
                  {"ScalarValue": tt}]},
        {"Data": [{"ScalarValue": "eu"}, {"ScalarValue": "b"}, {"NullValue": True}, {"ScalarValue": "3"},
                  {"ScalarValue": tt}]},
    ]
    assert q.out["QueryStatus"]["ProgressPercentage"] == 100.0

    bad = aws_cli(
        "timestream-write", "write-records", "--database-name", table.db, "--table-name", table.name,
        "--records", json.dumps([{**records[0], "MeasureValue": "oops", "Dimensions": [dim("host", "c")]}]),
    )
    assert bad.rc == 255, (bad.rc, bad.stderr)
    assert bad.stderr.strip().startswith(
        "An error occurred (RejectedRecordsException) when calling the WriteRecords operation: "
    ), bad.stderr
