"""Timestream write control plane through boto3: every implemented operation, happy paths and error paths.

Expected values are AWS's (API reference, botocore model, AWS-verified messages); see the suite README.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from compat_support import (
    ACCOUNT_ID,
    assert_recent,
    client_error,
    db_arn,
    make_client,
    table_arn,
    unique,
)

DEFAULT_RETENTION = {"MemoryStoreRetentionPeriodInHours": 6, "MagneticStoreRetentionPeriodInDays": 73000}
DEFAULT_MAGNETIC = {"EnableMagneticStoreWrites": False}
DEFAULT_SCHEMA = {"CompositePartitionKey": [{"Type": "MEASURE"}]}
NAME_PATTERN = "[a-zA-Z0-9_.-]+"


def tick() -> None:
    """Lets the clock move past the millisecond resolution of CreationTime/LastUpdatedTime."""
    time.sleep(0.02)


def tags_of(client, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceARN=arn)["Tags"]}


def list_all(call, key: str, **kwargs) -> list[dict]:
    """Follows NextToken to the end; fails on a repeated token (a loop)."""
    items, tokens = [], set()
    while True:
        resp = call(**kwargs)
        items += resp[key]
        token = resp.get("NextToken")
        if not token:
            return items
        assert token not in tokens, f"NextToken {token!r} was returned twice"
        tokens.add(token)
        kwargs["NextToken"] = token


# ---------------------------------------------------------------------------------------------------------------------
# DescribeEndpoints


def test_describe_endpoints_advertises_the_server(tsw, server_url):
    resp = tsw.describe_endpoints()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Endpoints"] == [{"Address": server_url, "CachePeriodInMinutes": 1440}]


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_TIMESTREAM_WRITE"])
def test_endpoint_discovery_from_configured_endpoint(monkeypatch, server_url, variable):
    """With the endpoint from configuration, botocore calls DescribeEndpoints first, then uses the advertised address."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_TIMESTREAM_WRITE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, server_url)
    client = make_client("timestream-write", None)
    sent: list[tuple[str, str]] = []
    client.meta.events.register(
        "before-send", lambda request, **_: sent.append((request.headers.get("X-Amz-Target", b"").decode(), request.url))
    )
    try:
        db = unique("disc")
        client.create_database(DatabaseName=db)
        names = [d["DatabaseName"] for d in list_all(client.list_databases, "Databases")]
        assert db in names
    finally:
        client.close()
    targets = [t for t, _ in sent]
    assert targets[0] == "Timestream_20181101.DescribeEndpoints", sent
    assert targets.count("Timestream_20181101.DescribeEndpoints") == 1, f"the endpoint was not cached: {sent}"
    assert all(url.startswith(server_url) for _, url in sent), sent


# ---------------------------------------------------------------------------------------------------------------------
# Databases


def test_create_database_defaults(tsw, db_name):
    resp = tsw.create_database(DatabaseName=db_name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["RequestId"]
    db = resp["Database"]
    assert db["DatabaseName"] == db_name
    assert db["Arn"] == db_arn(db_name)
    assert db["TableCount"] == 0
    assert isinstance(db["KmsKeyId"], str) and db["KmsKeyId"], db
    assert_recent(db["CreationTime"], "CreationTime")
    assert_recent(db["LastUpdatedTime"], "LastUpdatedTime")
    assert db["LastUpdatedTime"] >= db["CreationTime"]

    described = tsw.describe_database(DatabaseName=db_name)["Database"]
    assert described == db


def test_create_database_with_kms_key_and_tags(tsw, db_name):
    key = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555"
    db = tsw.create_database(
        DatabaseName=db_name, KmsKeyId=key, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "empty", "Value": ""}]
    )["Database"]
    assert db["KmsKeyId"] == key
    assert tsw.describe_database(DatabaseName=db_name)["Database"]["KmsKeyId"] == key
    assert tags_of(tsw, db["Arn"]) == {"env": "dev", "empty": ""}


def test_create_database_twice_is_a_conflict(tsw, database):
    message = client_error("ConflictException", 409, tsw.create_database, DatabaseName=database)
    assert database in message


def test_describe_unknown_database(tsw):
    name = unique("nope")
    message = client_error("ResourceNotFoundException", 404, tsw.describe_database, DatabaseName=name)
    assert message == f"The database {name} does not exist."


def test_database_names_are_case_sensitive_and_exact(tsw, database):
    client_error("ResourceNotFoundException", 404, tsw.describe_database, DatabaseName=database.upper())
    client_error("ResourceNotFoundException", 404, tsw.describe_database, DatabaseName=database + "x")


@pytest.mark.parametrize(
    "name, constraint",
    [
        ("a b", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ("db/slash", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ("ab", "Member must have length greater than or equal to 3"),
        ("x" * 257, "Member must have length less than or equal to 256"),
    ],
    ids=["space", "slash", "too-short", "too-long"],
)
def test_create_database_name_validation(tsw_raw, name, constraint):
    message = client_error("ValidationException", 400, tsw_raw.create_database, DatabaseName=name)
    assert message == (
        f"1 validation error detected: Value '{name}' at 'databaseName' failed to satisfy constraint: {constraint}"
    )


def test_several_violations_are_reported_together(tsw_raw):
    message = client_error("ValidationException", 400, tsw_raw.create_database, DatabaseName="a!")
    assert message.startswith("2 validation errors detected: "), message
    assert (
        f"Value 'a!' at 'databaseName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}" in message
    )
    assert (
        "Value 'a!' at 'databaseName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3" in message
    )
    assert message.count("; ") == 1, message


def test_database_name_limits_are_inclusive(tsw):
    suffix = uuid.uuid4().hex
    for name in (suffix[:3], "x" * (256 - len(suffix)) + suffix):
        assert 3 <= len(name) <= 256
        assert tsw.create_database(DatabaseName=name)["Database"]["DatabaseName"] == name


def test_names_may_use_dots_dashes_and_underscores(tsw):
    name = f"My-DB.v1_{uuid.uuid4().hex[:8]}"
    assert tsw.create_database(DatabaseName=name)["Database"]["Arn"] == db_arn(name)
    t = tsw.create_table(DatabaseName=name, TableName="Tbl-1.x_y")["Table"]
    assert t["Arn"] == table_arn(name, "Tbl-1.x_y")


def test_kms_key_length(tsw_raw, db_name):
    message = client_error("ValidationException", 400, tsw_raw.create_database, DatabaseName=db_name, KmsKeyId="k" * 2049)
    assert "at 'kmsKeyId' failed to satisfy constraint: Member must have length less than or equal to 2048" in message


def test_update_database_kms_key(tsw, database):
    before = tsw.describe_database(DatabaseName=database)["Database"]
    tick()
    key = "alias/freshet-compat"
    after = tsw.update_database(DatabaseName=database, KmsKeyId=key)["Database"]
    assert after["KmsKeyId"] == key
    assert after["CreationTime"] == before["CreationTime"]
    assert after["LastUpdatedTime"] > before["LastUpdatedTime"]
    assert after["Arn"] == before["Arn"]
    assert tsw.describe_database(DatabaseName=database)["Database"] == after


def test_update_unknown_database(tsw):
    name = unique("nope")
    message = client_error(
        "ResourceNotFoundException", 404, tsw.update_database, DatabaseName=name, KmsKeyId="alias/x"
    )
    assert message == f"The database {name} does not exist."


def test_update_database_requires_kms_key(tsw_raw, database):
    message = client_error("ValidationException", 400, tsw_raw.update_database, DatabaseName=database)
    assert "Value null at 'kmsKeyId' failed to satisfy constraint: Member must not be null" in message


def test_delete_database(tsw, database):
    resp = tsw.delete_database(DatabaseName=database)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    message = client_error("ResourceNotFoundException", 404, tsw.describe_database, DatabaseName=database)
    assert message == f"The database {database} does not exist."
    message = client_error("ResourceNotFoundException", 404, tsw.delete_database, DatabaseName=database)
    assert message == f"The database {database} does not exist."


def test_delete_database_with_tables_is_refused(tsw, database):
    tsw.create_table(DatabaseName=database, TableName="tb1")
    message = client_error("ValidationException", 400, tsw.delete_database, DatabaseName=database)
    assert database in message
    assert tsw.describe_database(DatabaseName=database)["Database"]["TableCount"] == 1
    tsw.delete_table(DatabaseName=database, TableName="tb1")
    tsw.delete_database(DatabaseName=database)
    client_error("ResourceNotFoundException", 404, tsw.describe_database, DatabaseName=database)


def test_table_count_follows_tables(tsw, database):
    for t in ("ta1", "ta2", "ta3"):
        tsw.create_table(DatabaseName=database, TableName=t)
    assert tsw.describe_database(DatabaseName=database)["Database"]["TableCount"] == 3
    tsw.delete_table(DatabaseName=database, TableName="ta2")
    assert tsw.describe_database(DatabaseName=database)["Database"]["TableCount"] == 2
    listed = [d for d in list_all(tsw.list_databases, "Databases") if d["DatabaseName"] == database]
    assert [d["TableCount"] for d in listed] == [2]


# ---------------------------------------------------------------------------------------------------------------------
# Tables


def test_create_table_defaults(tsw, database):
    resp = tsw.create_table(DatabaseName=database, TableName="metrics")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    t = resp["Table"]
    assert t["Arn"] == table_arn(database, "metrics")
    assert t["TableName"] == "metrics"
    assert t["DatabaseName"] == database
    assert t["TableStatus"] == "ACTIVE"
    assert t["RetentionProperties"] == DEFAULT_RETENTION
    assert t["MagneticStoreWriteProperties"] == DEFAULT_MAGNETIC
    assert t["Schema"] == DEFAULT_SCHEMA
    assert_recent(t["CreationTime"], "CreationTime")
    assert_recent(t["LastUpdatedTime"], "LastUpdatedTime")
    assert tsw.describe_table(DatabaseName=database, TableName="metrics")["Table"] == t


def test_create_table_with_every_property_round_trips(tsw, database):
    spec = dict(
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 12, "MagneticStoreRetentionPeriodInDays": 365},
        MagneticStoreWriteProperties={
            "EnableMagneticStoreWrites": True,
            "MagneticStoreRejectedDataLocation": {
                "S3Configuration": {
                    "BucketName": "freshet-rejected",
                    "ObjectKeyPrefix": "rejected/2026",
                    "EncryptionOption": "SSE_S3",
                }
            },
        },
        Schema={"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "host", "EnforcementInRecord": "REQUIRED"}]},
    )
    tags = [{"Key": "k", "Value": "v"}, {"Key": "ünï/cødé", "Value": "✓ ∆ 東京"}]
    t = tsw.create_table(DatabaseName=database, TableName="full", Tags=tags, **spec)["Table"]
    for key, value in spec.items():
        assert t[key] == value, key
    described = tsw.describe_table(DatabaseName=database, TableName="full")["Table"]
    assert described == t
    assert tags_of(tsw, t["Arn"]) == {"k": "v", "ünï/cødé": "✓ ∆ 東京"}


def test_create_table_in_unknown_database(tsw):
    name = unique("nope")
    message = client_error("ResourceNotFoundException", 404, tsw.create_table, DatabaseName=name, TableName="tbl")
    assert message == f"The database {name} does not exist."


def test_create_table_twice_is_a_conflict(tsw, database):
    tsw.create_table(DatabaseName=database, TableName="dup")
    message = client_error("ConflictException", 409, tsw.create_table, DatabaseName=database, TableName="dup")
    assert "dup" in message


def test_same_table_name_in_two_databases(tsw, database):
    other = unique("db")
    tsw.create_database(DatabaseName=other)
    a = tsw.create_table(DatabaseName=database, TableName="shared")["Table"]
    b = tsw.create_table(DatabaseName=other, TableName="shared")["Table"]
    assert a["Arn"] != b["Arn"]
    assert b["Arn"] == table_arn(other, "shared")


def test_describe_unknown_table(tsw, database):
    message = client_error(
        "ResourceNotFoundException", 404, tsw.describe_table, DatabaseName=database, TableName="missing"
    )
    assert message == "The table missing does not exist."


def test_describe_table_in_unknown_database(tsw):
    name = unique("nope")
    message = client_error("ResourceNotFoundException", 404, tsw.describe_table, DatabaseName=name, TableName="tbl")
    assert message == f"The database {name} does not exist."


@pytest.mark.parametrize(
    "name, constraint",
    [
        ("a b", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ("t", "Member must have length greater than or equal to 3"),
    ],
    ids=["space", "too-short"],
)
def test_create_table_name_validation(tsw_raw, database, name, constraint):
    message = client_error("ValidationException", 400, tsw_raw.create_table, DatabaseName=database, TableName=name)
    assert message == f"1 validation error detected: Value '{name}' at 'tableName' failed to satisfy constraint: {constraint}"


@pytest.mark.parametrize(
    "hours, days, bad, member, constraint",
    [
        (0, 10, "0", "memoryStoreRetentionPeriodInHours", "Member must have value greater than or equal to 1"),
        (8767, 10, "8767", "memoryStoreRetentionPeriodInHours", "Member must have value less than or equal to 8766"),
        (6, 0, "0", "magneticStoreRetentionPeriodInDays", "Member must have value greater than or equal to 1"),
        (6, 73001, "73001", "magneticStoreRetentionPeriodInDays", "Member must have value less than or equal to 73000"),
    ],
    ids=["hours-0", "hours-8767", "days-0", "days-73001"],
)
def test_retention_out_of_range(tsw_raw, database, hours, days, bad, member, constraint):
    retention = {"MemoryStoreRetentionPeriodInHours": hours, "MagneticStoreRetentionPeriodInDays": days}
    message = client_error(
        "ValidationException", 400, tsw_raw.create_table,
        DatabaseName=database, TableName="rrr", RetentionProperties=retention,
    )
    assert message.startswith("1 validation error detected: "), message
    assert f"Value '{bad}' at '" in message and f"{member}' failed to satisfy constraint: {constraint}" in message
    tsw_raw.create_table(DatabaseName=database, TableName="okk")
    message = client_error(
        "ValidationException", 400, tsw_raw.update_table,
        DatabaseName=database, TableName="okk", RetentionProperties=retention,
    )
    assert f"{member}' failed to satisfy constraint: {constraint}" in message


def test_retention_limits_are_inclusive(tsw, database):
    for i, (h, d) in enumerate([(1, 1), (8766, 73000)]):
        r = {"MemoryStoreRetentionPeriodInHours": h, "MagneticStoreRetentionPeriodInDays": d}
        t = tsw.create_table(DatabaseName=database, TableName=f"lim{i}", RetentionProperties=r)["Table"]
        assert t["RetentionProperties"] == r


def test_invalid_encryption_option(tsw_raw, database):
    magnetic = {
        "EnableMagneticStoreWrites": True,
        "MagneticStoreRejectedDataLocation": {"S3Configuration": {"BucketName": "bucket-x", "EncryptionOption": "SSE_FOO"}},
    }
    message = client_error(
        "ValidationException", 400, tsw_raw.create_table,
        DatabaseName=database, TableName="enc", MagneticStoreWriteProperties=magnetic,
    )
    assert "Value 'SSE_FOO' at '" in message
    assert "encryptionOption' failed to satisfy constraint: Member must satisfy enum value set: [SSE_S3, SSE_KMS]" in message


@pytest.mark.parametrize(
    "key, bad, member, allowed",
    [
        ({"Type": "FOO"}, "FOO", "type", "[DIMENSION, MEASURE]"),
        ({"Type": "DIMENSION", "Name": "h", "EnforcementInRecord": "MAYBE"}, "MAYBE", "enforcementInRecord", "[REQUIRED, OPTIONAL]"),
    ],
    ids=["type", "enforcement"],
)
def test_invalid_partition_key_enums(tsw_raw, database, key, bad, member, allowed):
    message = client_error(
        "ValidationException", 400, tsw_raw.create_table,
        DatabaseName=database, TableName="pk1", Schema={"CompositePartitionKey": [key]},
    )
    assert f"Value '{bad}' at '" in message
    assert f"{member}' failed to satisfy constraint: Member must satisfy enum value set: {allowed}" in message


def test_more_than_one_partition_key(tsw, database):
    keys = [{"Type": "DIMENSION", "Name": "a"}, {"Type": "DIMENSION", "Name": "b"}]
    message = client_error(
        "ValidationException", 400, tsw.create_table,
        DatabaseName=database, TableName="pk2", Schema={"CompositePartitionKey": keys},
    )
    assert (
        "You have specified too many partition keys to be used in your composite partition key. "
        "Only 1 partition keys can be specified." in message
    )
    client_error("ResourceNotFoundException", 404, tsw.describe_table, DatabaseName=database, TableName="pk2")


@pytest.mark.parametrize(
    "member, value, path",
    [
        ("RetentionProperties", {"MemoryStoreRetentionPeriodInHours": 6},
         "retentionProperties.magneticStoreRetentionPeriodInDays"),
        ("RetentionProperties", {"MagneticStoreRetentionPeriodInDays": 6},
         "retentionProperties.memoryStoreRetentionPeriodInHours"),
        ("MagneticStoreWriteProperties", {}, "magneticStoreWriteProperties.enableMagneticStoreWrites"),
        ("Schema", {"CompositePartitionKey": [{"Name": "h"}]}, "schema.compositePartitionKey.1.member.type"),
    ],
    ids=["no-days", "no-hours", "no-enable-flag", "no-key-type"],
)
def test_required_nested_members(tsw_raw, database, member, value, path):
    message = client_error(
        "ValidationException", 400, tsw_raw.create_table, DatabaseName=database, TableName="nest", **{member: value}
    )
    assert f"Value null at '{path}' failed to satisfy constraint: Member must not be null" in message


def test_dimension_partition_key_needs_a_name(tsw_raw, database):
    client_error(
        "ValidationException", 400, tsw_raw.create_table,
        DatabaseName=database, TableName="dim", Schema={"CompositePartitionKey": [{"Type": "DIMENSION"}]},
    )


def test_update_table_retention_and_magnetic_writes(tsw, database):
    before = tsw.create_table(DatabaseName=database, TableName="upd")["Table"]
    tick()
    retention = {"MemoryStoreRetentionPeriodInHours": 24, "MagneticStoreRetentionPeriodInDays": 30}
    magnetic = {"EnableMagneticStoreWrites": True}
    after = tsw.update_table(
        DatabaseName=database, TableName="upd", RetentionProperties=retention, MagneticStoreWriteProperties=magnetic
    )["Table"]
    assert after["RetentionProperties"] == retention
    assert after["MagneticStoreWriteProperties"] == magnetic
    assert after["Schema"] == DEFAULT_SCHEMA
    assert after["CreationTime"] == before["CreationTime"]
    assert after["LastUpdatedTime"] > before["LastUpdatedTime"]
    assert tsw.describe_table(DatabaseName=database, TableName="upd")["Table"] == after

    tick()
    only_retention = tsw.update_table(
        DatabaseName=database, TableName="upd", RetentionProperties=DEFAULT_RETENTION
    )["Table"]
    assert only_retention["RetentionProperties"] == DEFAULT_RETENTION
    assert only_retention["MagneticStoreWriteProperties"] == magnetic, "an omitted member must stay unchanged"
    assert only_retention["LastUpdatedTime"] > after["LastUpdatedTime"]


def test_update_table_can_change_enforcement_only(tsw, database):
    schema = {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "host", "EnforcementInRecord": "REQUIRED"}]}
    t = tsw.create_table(DatabaseName=database, TableName="pk1", Schema=schema)["Table"]
    assert t["Schema"] == schema

    relaxed = {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "host", "EnforcementInRecord": "OPTIONAL"}]}
    assert tsw.update_table(DatabaseName=database, TableName="pk1", Schema=relaxed)["Table"]["Schema"] == relaxed
    assert tsw.describe_table(DatabaseName=database, TableName="pk1")["Table"]["Schema"] == relaxed

    for changed in (
        {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "region", "EnforcementInRecord": "OPTIONAL"}]},
        {"CompositePartitionKey": [{"Type": "MEASURE"}]},
    ):
        client_error("ValidationException", 400, tsw.update_table, DatabaseName=database, TableName="pk1", Schema=changed)
    assert tsw.describe_table(DatabaseName=database, TableName="pk1")["Table"]["Schema"] == relaxed


def test_update_unknown_table(tsw, database):
    message = client_error(
        "ResourceNotFoundException", 404, tsw.update_table,
        DatabaseName=database, TableName="missing", RetentionProperties=DEFAULT_RETENTION,
    )
    assert message == "The table missing does not exist."


def test_delete_table(tsw, database):
    tsw.create_table(DatabaseName=database, TableName="gone")
    assert tsw.delete_table(DatabaseName=database, TableName="gone")["ResponseMetadata"]["HTTPStatusCode"] == 200
    message = client_error("ResourceNotFoundException", 404, tsw.describe_table, DatabaseName=database, TableName="gone")
    assert message == "The table gone does not exist."
    message = client_error("ResourceNotFoundException", 404, tsw.delete_table, DatabaseName=database, TableName="gone")
    assert message == "The table gone does not exist."
    assert tsw.describe_database(DatabaseName=database)["Database"]["TableCount"] == 0


def test_delete_table_in_unknown_database(tsw):
    name = unique("nope")
    message = client_error("ResourceNotFoundException", 404, tsw.delete_table, DatabaseName=name, TableName="tbl")
    assert message == f"The database {name} does not exist."


def test_recreated_table_starts_fresh(tsw, database):
    r = {"MemoryStoreRetentionPeriodInHours": 48, "MagneticStoreRetentionPeriodInDays": 7}
    tsw.create_table(DatabaseName=database, TableName="again", RetentionProperties=r)
    tsw.delete_table(DatabaseName=database, TableName="again")
    t = tsw.create_table(DatabaseName=database, TableName="again")["Table"]
    assert t["RetentionProperties"] == DEFAULT_RETENTION


# ---------------------------------------------------------------------------------------------------------------------
# Listing and pagination (each test uses a region of its own, so the listing holds exactly what it created)


def test_list_databases_pagination(client_factory):
    client = client_factory(region="ap-southeast-2")
    names = sorted(unique(f"p{i}") for i in range(5))
    for n in names:
        client.create_database(DatabaseName=n)
    everything = list_all(client.list_databases, "Databases")
    assert sorted(d["DatabaseName"] for d in everything) == names
    for d in everything:
        assert d["Arn"] == db_arn(d["DatabaseName"], "ap-southeast-2")
    for size in range(1, 7):
        pages = []
        kwargs = {"MaxResults": size}
        while True:
            resp = client.list_databases(**kwargs)
            assert len(resp["Databases"]) <= size
            pages.append([d["DatabaseName"] for d in resp["Databases"]])
            if not resp.get("NextToken"):
                break
            kwargs["NextToken"] = resp["NextToken"]
        seen = [n for page in pages for n in page]
        assert sorted(seen) == names, f"MaxResults={size}: pages {pages}"
        assert len(seen) == len(set(seen)), f"MaxResults={size}: an item was listed twice: {pages}"


def test_list_databases_max_results_range(tsw_raw):
    for bad, constraint in ((0, "greater than or equal to 1"), (21, "less than or equal to 20")):
        message = client_error("ValidationException", 400, tsw_raw.list_databases, MaxResults=bad)
        assert message == (
            f"1 validation error detected: Value '{bad}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value {constraint}"
        )
    assert "Databases" in tsw_raw.list_databases(MaxResults=20)


def test_list_databases_invalid_next_token(tsw):
    client_error("ValidationException", 400, tsw.list_databases, NextToken="not-a-token")
    client_error("ValidationException", 400, tsw.list_databases, NextToken="eyJvcCI6IkxpbmUifQ")


def test_list_tables_pagination_within_and_across_databases(client_factory):
    client = client_factory(region="us-west-2")
    dbs = sorted(unique(f"lt{i}") for i in range(2))
    expected = []
    for db in dbs:
        client.create_database(DatabaseName=db)
        for t in ("t_a", "t_b", "t_c"):
            client.create_table(DatabaseName=db, TableName=t)
            expected.append((db, t))
    expected.sort()

    for size in range(1, 5):
        got = list_all(client.list_tables, "Tables", DatabaseName=dbs[0], MaxResults=size)
        assert sorted(t["TableName"] for t in got) == ["t_a", "t_b", "t_c"], f"MaxResults={size}"
        assert all(t["DatabaseName"] == dbs[0] for t in got)

    for size in range(1, 8):
        got = list_all(client.list_tables, "Tables", MaxResults=size)
        pairs = [(t["DatabaseName"], t["TableName"]) for t in got]
        assert sorted(pairs) == expected, f"MaxResults={size}: {pairs}"
        assert len(pairs) == len(set(pairs)), f"MaxResults={size}: a table was listed twice: {pairs}"
    full = {t["Arn"]: t for t in list_all(client.list_tables, "Tables")}
    for db, name in expected:
        t = full[table_arn(db, name, "us-west-2")]
        assert t["TableStatus"] == "ACTIVE"
        assert t["RetentionProperties"] == DEFAULT_RETENTION


def test_list_tables_unknown_database(tsw):
    name = unique("nope")
    message = client_error("ResourceNotFoundException", 404, tsw.list_tables, DatabaseName=name)
    assert message == f"The database {name} does not exist."


def test_list_tables_errors(tsw_raw, database):
    client_error("ValidationException", 400, tsw_raw.list_tables, DatabaseName=database, NextToken="garbage!!")
    message = client_error("ValidationException", 400, tsw_raw.list_tables, DatabaseName=database, MaxResults=21)
    assert "Value '21' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 20" in message
    assert tsw_raw.list_tables(DatabaseName=database)["Tables"] == []


# ---------------------------------------------------------------------------------------------------------------------
# Tags


def test_tag_untag_list_on_database_and_table(tsw, database):
    tsw.create_table(DatabaseName=database, TableName="tagged")
    for arn in (db_arn(database), table_arn(database, "tagged")):
        assert tags_of(tsw, arn) == {}
        resp = tsw.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert tags_of(tsw, arn) == {"a": "1", "b": "2"}
        tsw.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "changed"}, {"Key": "c", "Value": "3"}])
        assert tags_of(tsw, arn) == {"a": "changed", "b": "2", "c": "3"}
        resp = tsw.untag_resource(ResourceARN=arn, TagKeys=["b", "never-set"])
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert tags_of(tsw, arn) == {"a": "changed", "c": "3"}
    # a database's tags are not its tables' tags
    tsw.untag_resource(ResourceARN=db_arn(database), TagKeys=["a", "c"])
    assert tags_of(tsw, db_arn(database)) == {}
    assert tags_of(tsw, table_arn(database, "tagged")) == {"a": "changed", "c": "3"}


def test_tags_on_unknown_resources(tsw, database):
    for arn in (
        db_arn(unique("nope")),
        table_arn(database, "missing"),
        table_arn(unique("nope"), "missing"),
    ):
        client_error("ResourceNotFoundException", 404, tsw.list_tags_for_resource, ResourceARN=arn)
        client_error("ResourceNotFoundException", 404, tsw.tag_resource, ResourceARN=arn, Tags=[{"Key": "k", "Value": "v"}])
        client_error("ResourceNotFoundException", 404, tsw.untag_resource, ResourceARN=arn, TagKeys=["k"])


def test_tags_vanish_when_resource_is_deleted_and_recreated(tsw, db_name):
    tsw.create_database(DatabaseName=db_name, Tags=[{"Key": "owner", "Value": "x"}])
    tsw.create_table(DatabaseName=db_name, TableName="tb1", Tags=[{"Key": "tier", "Value": "hot"}])
    assert tags_of(tsw, table_arn(db_name, "tb1")) == {"tier": "hot"}

    tsw.delete_table(DatabaseName=db_name, TableName="tb1")
    client_error("ResourceNotFoundException", 404, tsw.list_tags_for_resource, ResourceARN=table_arn(db_name, "tb1"))
    tsw.create_table(DatabaseName=db_name, TableName="tb1")
    assert tags_of(tsw, table_arn(db_name, "tb1")) == {}

    tsw.delete_table(DatabaseName=db_name, TableName="tb1")
    tsw.delete_database(DatabaseName=db_name)
    tsw.create_database(DatabaseName=db_name)
    assert tags_of(tsw, db_arn(db_name)) == {}


@pytest.mark.parametrize(
    "tags, fragment",
    [
        ([{"Key": "", "Value": "v"}], "Value '' at 'tags.1.member.key' failed to satisfy constraint: "
                                      "Member must have length greater than or equal to 1"),
        ([{"Key": "k" * 129, "Value": "v"}], "at 'tags.1.member.key' failed to satisfy constraint: "
                                             "Member must have length less than or equal to 128"),
        ([{"Key": "ok", "Value": "v"}, {"Key": "k", "Value": "v" * 257}],
         "at 'tags.2.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"),
        ([{"Key": f"k{i}", "Value": "v"} for i in range(201)],
         "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200"),
    ],
    ids=["empty-key", "long-key", "long-value", "too-many"],
)
def test_tag_validation(tsw_raw, database, tags, fragment):
    for call, kwargs in (
        (tsw_raw.tag_resource, {"ResourceARN": db_arn(database)}),
        (tsw_raw.create_table, {"DatabaseName": database, "TableName": "tagv"}),
    ):
        message = client_error("ValidationException", 400, call, Tags=tags, **kwargs)
        assert fragment in message, message
    assert tags_of(tsw_raw, db_arn(database)) == {}


def test_tag_resource_requires_tags_and_keys(tsw_raw, database):
    message = client_error("ValidationException", 400, tsw_raw.tag_resource, ResourceARN=db_arn(database))
    assert "Value null at 'tags' failed to satisfy constraint: Member must not be null" in message
    message = client_error("ValidationException", 400, tsw_raw.untag_resource, ResourceARN=db_arn(database))
    assert "Value null at 'tagKeys' failed to satisfy constraint: Member must not be null" in message
    message = client_error("ValidationException", 400, tsw_raw.list_tags_for_resource)
    assert "Value null at 'resourceARN' failed to satisfy constraint: Member must not be null" in message


def test_reserved_aws_tag_prefix(tsw, database):
    client_error(
        "ValidationException", 400, tsw.tag_resource,
        ResourceARN=db_arn(database), Tags=[{"Key": "aws:cloudformation:stack-name", "Value": "x"}],
    )
    assert tags_of(tsw, db_arn(database)) == {}


def test_query_client_shares_endpoint_and_tags(client_factory, tsw, server_url, database):
    """timestream-query has the same target prefix and signing name; its ListTagsForResource is paged."""
    tsq = client_factory("timestream-query")
    assert tsq.describe_endpoints()["Endpoints"] == [{"Address": server_url, "CachePeriodInMinutes": 1440}]
    arn = db_arn(database)
    tsw.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": str(i)} for i in range(5)])
    seen, kwargs = [], {"ResourceARN": arn, "MaxResults": 2}
    while True:
        page = tsq.list_tags_for_resource(**kwargs)
        assert len(page["Tags"]) <= 2
        seen += [t["Key"] for t in page["Tags"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert sorted(seen) == [f"k{i}" for i in range(5)]
    tsq.untag_resource(ResourceARN=arn, TagKeys=["k0"])
    assert sorted(tags_of(tsw, arn)) == [f"k{i}" for i in range(1, 5)]


# ---------------------------------------------------------------------------------------------------------------------
# Region scoping


def test_resources_are_scoped_by_region(tsw, client_factory, database):
    eu = client_factory(region="eu-west-1")
    assert tsw.describe_database(DatabaseName=database)["Database"]["Arn"] == db_arn(database, "us-east-1")

    message = client_error("ResourceNotFoundException", 404, eu.describe_database, DatabaseName=database)
    assert message == f"The database {database} does not exist."
    assert database not in [d["DatabaseName"] for d in list_all(eu.list_databases, "Databases")]
    client_error("ResourceNotFoundException", 404, eu.list_tags_for_resource, ResourceARN=db_arn(database, "us-east-1"))

    created = eu.create_database(DatabaseName=database)["Database"]
    assert created["Arn"] == db_arn(database, "eu-west-1")
    eu.create_table(DatabaseName=database, TableName="only_eu")
    assert eu.describe_database(DatabaseName=database)["Database"]["TableCount"] == 1
    assert tsw.describe_database(DatabaseName=database)["Database"]["TableCount"] == 0
    client_error("ResourceNotFoundException", 404, tsw.describe_table, DatabaseName=database, TableName="only_eu")
    assert eu.describe_table(DatabaseName=database, TableName="only_eu")["Table"]["Arn"] == table_arn(
        database, "only_eu", "eu-west-1"
    )
    tsw.delete_database(DatabaseName=database)
    assert eu.describe_database(DatabaseName=database)["Database"]["DatabaseName"] == database


# ---------------------------------------------------------------------------------------------------------------------
# Concurrency


def test_concurrent_creates(tsw):
    """Parallel clients (an SDK's connection pool) get consistent answers: all distinct creates succeed, and of
    simultaneous creates of one name exactly one wins while the others get ConflictException."""
    names = [unique("conc") for _ in range(12)]

    def create(name: str) -> str:
        tsw.create_database(DatabaseName=name)
        for t in ("tc1", "tc2"):
            tsw.create_table(DatabaseName=name, TableName=t)
        return name

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(create, names)) == sorted(names)
    for name in names:
        assert tsw.describe_database(DatabaseName=name)["Database"]["TableCount"] == 2

    same = unique("race")

    def race(_: int) -> str:
        try:
            tsw.create_database(DatabaseName=same)
            return "created"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(race, range(8)))
    assert sorted(outcomes) == ["ConflictException"] * 7 + ["created"], outcomes


# ---------------------------------------------------------------------------------------------------------------------
# Response metadata


def test_every_response_has_a_request_id(tsw, database):
    ok = tsw.describe_database(DatabaseName=database)
    assert ok["ResponseMetadata"]["RequestId"]
    assert ok["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == ok["ResponseMetadata"]["RequestId"]
    assert ok["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.0"
    other = tsw.describe_database(DatabaseName=database)
    assert other["ResponseMetadata"]["RequestId"] != ok["ResponseMetadata"]["RequestId"]
