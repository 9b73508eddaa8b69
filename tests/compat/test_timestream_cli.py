"""Timestream write control plane through the AWS CLI v1 (`python -m awscli`, pinned in requirements.txt).

AWS CLI v1 exits with 255 when the service returns an error (v2 would exit with 254), and prints
`An error occurred (<Code>) when calling the <Operation> operation: <Message>` on stderr.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from compat_support import ACCOUNT_ID, ROOT_ARN, db_arn, table_arn, unique

CLI_SERVICE_ERROR_RC = 255


def ok(result):
    assert result.rc == 0, f"exit code {result.rc}\nstderr: {result.stderr}\nstdout: {result.stdout}"
    return result.out


def timestamp(value) -> dt.datetime:
    """CLI v1 prints timestamps as they came on the wire (`cli_timestamp_format = none`): awsJson epoch seconds."""
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"not epoch seconds: {value!r}"
    t = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    assert t.tzinfo is not None, value
    assert abs((dt.datetime.now(dt.timezone.utc) - t).total_seconds()) < 300, value
    return t


def service_error(result, code: str, operation: str, message: str | None = None) -> str:
    """Asserts the CLI failed with a service error; returns the message it printed."""
    assert result.rc == CLI_SERVICE_ERROR_RC, f"exit code {result.rc}, stderr: {result.stderr!r}"
    prefix = f"An error occurred ({code}) when calling the {operation} operation: "
    text = result.stderr.strip()
    assert text.startswith(prefix), f"stderr: {result.stderr!r}"
    if message is not None:
        assert text == prefix + message, f"stderr: {result.stderr!r}"
    assert result.stdout.strip() == ""
    return text[len(prefix):]


def test_describe_endpoints(aws_cli, server_url):
    out = ok(aws_cli("timestream-write", "describe-endpoints"))
    assert out == {"Endpoints": [{"Address": server_url, "CachePeriodInMinutes": 1440}]}


def test_database_lifecycle(aws_cli):
    region = "sa-east-1"  # a region of its own: the first page of list-databases holds all of it

    def cli(*args: str):
        return aws_cli(*args, "--region", region)

    db = unique("cli")
    created = ok(cli("timestream-write", "create-database", "--database-name", db, "--tags", "Key=env,Value=dev"))
    d = created["Database"]
    assert d["DatabaseName"] == db
    assert d["Arn"] == db_arn(db, region)
    assert d["TableCount"] == 0
    assert d["KmsKeyId"]
    created_at = timestamp(d["CreationTime"])
    updated_at = timestamp(d["LastUpdatedTime"])

    assert ok(cli("timestream-write", "describe-database", "--database-name", db)) == created

    listed = ok(cli("timestream-write", "list-databases", "--max-results", "20"))
    assert [x for x in listed["Databases"] if x["DatabaseName"] == db] == [d]
    assert "NextToken" not in listed

    key = f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    updated = ok(cli("timestream-write", "update-database", "--database-name", db, "--kms-key-id", key))["Database"]
    assert updated["KmsKeyId"] == key
    assert timestamp(updated["CreationTime"]) == created_at
    assert timestamp(updated["LastUpdatedTime"]) > updated_at

    tags = ok(cli("timestream-write", "list-tags-for-resource", "--resource-arn", d["Arn"]))
    assert tags == {"Tags": [{"Key": "env", "Value": "dev"}]}

    result = cli("timestream-write", "delete-database", "--database-name", db)
    assert result.rc == 0, result.stderr
    assert result.out is None, "DeleteDatabase returns an empty body; the CLI prints nothing"
    service_error(
        cli("timestream-write", "describe-database", "--database-name", db),
        "ResourceNotFoundException", "DescribeDatabase", f"The database {db} does not exist.",
    )


def test_table_lifecycle_and_tags(aws_cli):
    db = unique("cli")
    ok(aws_cli("timestream-write", "create-database", "--database-name", db))
    schema = {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "host", "EnforcementInRecord": "REQUIRED"}]}
    created = ok(aws_cli(
        "timestream-write", "create-table", "--database-name", db, "--table-name", "cpu",
        "--retention-properties", "MemoryStoreRetentionPeriodInHours=12,MagneticStoreRetentionPeriodInDays=365",
        "--magnetic-store-write-properties", json.dumps({"EnableMagneticStoreWrites": True}),
        "--schema", json.dumps(schema),
        "--tags", "Key=team,Value=obs", "Key=tier,Value=hot",
    ))["Table"]
    assert created["Arn"] == table_arn(db, "cpu")
    assert created["TableName"] == "cpu" and created["DatabaseName"] == db
    assert created["TableStatus"] == "ACTIVE"
    assert created["RetentionProperties"] == {
        "MemoryStoreRetentionPeriodInHours": 12, "MagneticStoreRetentionPeriodInDays": 365,
    }
    assert created["MagneticStoreWriteProperties"] == {"EnableMagneticStoreWrites": True}
    assert created["Schema"] == schema
    created_at = timestamp(created["CreationTime"])

    assert ok(aws_cli("timestream-write", "describe-table", "--database-name", db, "--table-name", "cpu")) == {
        "Table": created
    }
    listed = ok(aws_cli("timestream-write", "list-tables", "--database-name", db))
    assert [t["TableName"] for t in listed["Tables"]] == ["cpu"]

    relaxed = {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "host", "EnforcementInRecord": "OPTIONAL"}]}
    updated = ok(aws_cli(
        "timestream-write", "update-table", "--database-name", db, "--table-name", "cpu",
        "--retention-properties", "MemoryStoreRetentionPeriodInHours=24,MagneticStoreRetentionPeriodInDays=30",
        "--magnetic-store-write-properties", "EnableMagneticStoreWrites=false",
        "--schema", json.dumps(relaxed),
    ))["Table"]
    assert updated["RetentionProperties"] == {
        "MemoryStoreRetentionPeriodInHours": 24, "MagneticStoreRetentionPeriodInDays": 30,
    }
    assert updated["MagneticStoreWriteProperties"] == {"EnableMagneticStoreWrites": False}
    assert updated["Schema"] == relaxed
    assert timestamp(updated["CreationTime"]) == created_at
    assert timestamp(updated["LastUpdatedTime"]) > timestamp(created["LastUpdatedTime"])

    arn = created["Arn"]
    assert ok(aws_cli("timestream-write", "tag-resource", "--resource-arn", arn, "--tags", "Key=tier,Value=cold")) is None
    assert ok(aws_cli("timestream-write", "untag-resource", "--resource-arn", arn, "--tag-keys", "team")) is None
    tags = ok(aws_cli("timestream-write", "list-tags-for-resource", "--resource-arn", arn))["Tags"]
    assert tags == [{"Key": "tier", "Value": "cold"}]

    assert ok(aws_cli("timestream-write", "delete-table", "--database-name", db, "--table-name", "cpu")) is None
    service_error(
        aws_cli("timestream-write", "describe-table", "--database-name", db, "--table-name", "cpu"),
        "ResourceNotFoundException", "DescribeTable", "The table cpu does not exist.",
    )
    assert ok(aws_cli("timestream-write", "delete-database", "--database-name", db)) is None


def test_error_unknown_database(aws_cli):
    service_error(
        aws_cli("timestream-write", "describe-database", "--database-name", "nope"),
        "ResourceNotFoundException", "DescribeDatabase", "The database nope does not exist.",
    )


def test_error_conflict_and_validation(aws_cli):
    db = unique("cli")
    ok(aws_cli("timestream-write", "create-database", "--database-name", db))
    message = service_error(aws_cli("timestream-write", "create-database", "--database-name", db),
                            "ConflictException", "CreateDatabase")
    assert db in message
    service_error(
        aws_cli("timestream-write", "create-database", "--database-name", "a b"),
        "ValidationException", "CreateDatabase",
        "1 validation error detected: Value 'a b' at 'databaseName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    )


def test_error_table_in_unknown_database(aws_cli):
    service_error(
        aws_cli("timestream-write", "create-table", "--database-name", "nope", "--table-name", "cpu"),
        "ResourceNotFoundException", "CreateTable", "The database nope does not exist.",
    )


def test_error_tags_of_unknown_resource(aws_cli):
    arn = db_arn(unique("nope"))
    service_error(
        aws_cli("timestream-write", "list-tags-for-resource", "--resource-arn", arn),
        "ResourceNotFoundException", "ListTagsForResource",
    )


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_TIMESTREAM_WRITE"])
def test_endpoint_discovery_without_endpoint_url_flag(aws_cli, server_url, variable):
    """No --endpoint-url: botocore discovers the endpoint with DescribeEndpoints and follows the `http://` address."""
    db = unique("disc")
    region = "ca-central-1"  # few databases there, so the first page of ListDatabases holds this one
    ok(aws_cli("timestream-write", "create-database", "--database-name", db, "--region", region))
    result = aws_cli(
        "timestream-write", "list-databases", "--debug", "--region", region, endpoint=False, env={variable: server_url}
    )
    out = ok(result)
    assert db in [d["DatabaseName"] for d in out["Databases"]]
    assert "Making request for OperationModel(name=DescribeEndpoints)" in result.stderr
    assert f"'url': '{server_url}/'" in result.stderr


def test_sts_get_caller_identity(aws_cli):
    out = ok(aws_cli("sts", "get-caller-identity"))
    assert out == {"UserId": ACCOUNT_ID, "Account": ACCOUNT_ID, "Arn": ROOT_ARN}
