"""The server process itself: graceful SIGTERM with a client's idle keep-alive connection open, and durable metadata
across a restart on the same data directory (credentials, databases, tables, tags)."""

from __future__ import annotations

import http.client
import time
import urllib.parse

from compat_support import ACCOUNT_ID, ROOT_ARN, SHUTDOWN_TIMEOUT_S, Server, make_client, require_binary, unique


def test_restart_keeps_metadata_and_sigterm_is_graceful(tmp_path):
    binary = require_binary()
    data_dir = tmp_path / "data"
    db = unique("durable")
    schema = {"CompositePartitionKey": [{"Type": "DIMENSION", "Name": "host", "EnforcementInRecord": "REQUIRED"}]}
    retention = {"MemoryStoreRetentionPeriodInHours": 10, "MagneticStoreRetentionPeriodInDays": 100}

    first = Server.start(binary, data_dir)
    idle = None
    try:
        client = make_client("timestream-write", first.url)
        before_db = client.create_database(DatabaseName=db, Tags=[{"Key": "keep", "Value": "me"}])["Database"]
        before_table = client.create_table(
            DatabaseName=db, TableName="tbl", Schema=schema, RetentionProperties=retention
        )["Table"]
        before_db = client.describe_database(DatabaseName=db)["Database"]

        # An idle keep-alive connection, as every SDK's connection pool holds, must not block shutdown.
        parts = urllib.parse.urlsplit(first.url)
        idle = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        idle.request("GET", "/health")
        assert idle.getresponse().read()

        started = time.monotonic()
        code = first.stop()
        took = time.monotonic() - started
        assert code == 0, f"exit code {code} after SIGTERM\n{first.stderr_text()}"
        assert took < SHUTDOWN_TIMEOUT_S
        client.close()
    finally:
        if idle is not None:
            idle.close()
        first.stop(check=False)

    second = Server.start(binary, data_dir)
    try:
        client = make_client("timestream-write", second.url)
        assert client.describe_database(DatabaseName=db)["Database"] == before_db
        assert client.describe_table(DatabaseName=db, TableName="tbl")["Table"] == before_table
        tags = client.list_tags_for_resource(ResourceARN=before_db["Arn"])["Tags"]
        assert tags == [{"Key": "keep", "Value": "me"}]
        client.close()
        sts = make_client("sts", second.url)
        ident = sts.get_caller_identity()
        assert (ident["Account"], ident["Arn"]) == (ACCOUNT_ID, ROOT_ARN)
        sts.close()
        assert second.stop() == 0, second.stderr_text()
    finally:
        second.stop(check=False)


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path):
    binary = require_binary()
    data_dir = tmp_path / "data"
    first = Server.start(binary, data_dir)
    try:
        second = Server(binary, data_dir)
        try:
            code = second.proc.wait(timeout=SHUTDOWN_TIMEOUT_S * 4)
        finally:
            second.stop(check=False)
        second._reader.join(timeout=5)
        assert code != 0
        assert "is in use by another freshet process" in second.stderr_text(), second.stderr_text()
        # The first server is unaffected and still answers.
        client = make_client("timestream-write", first.url)
        client.create_database(DatabaseName=unique("stillhere"))
        client.close()
    finally:
        first.stop(check=False)

    # Once the first server is gone, the directory can be opened again.
    third = Server.start(binary, data_dir)
    third.stop(check=False)
