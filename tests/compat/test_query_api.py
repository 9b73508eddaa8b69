"""Query API semantics through boto3 and the AWS CLI: MaxRows/NextToken pages (boto3's paginator and the CLI's
automatic pagination, which sends a new ClientToken with every page), tokens bound to the query string,
ClientToken repeats, CancelQuery, and nested (array/row) results."""

from __future__ import annotations

import time

import pytest

from compat_support import Server, client_error, make_client, require_binary, table_arn, unique

ROWS = 50


@pytest.fixture(scope="module")
def tsq(client_factory):
    return client_factory("timestream-query")


@pytest.fixture(scope="module")
def table(client_factory):
    tsw = client_factory("timestream-write")
    db = unique("paging")
    tsw.create_database(DatabaseName=db)
    tsw.create_table(DatabaseName=db, TableName="tbl")
    now_ms = int(time.time() * 1000)
    records = [
        {
            "Dimensions": [{"Name": "host", "Value": f"h{i:02d}"}],
            "MeasureName": "cpu",
            "MeasureValue": str(i),
            "MeasureValueType": "BIGINT",
            "Time": str(now_ms - i),
        }
        for i in range(ROWS)
    ]
    tsw.write_records(DatabaseName=db, TableName="tbl", Records=records)
    return f'"{db}"."tbl"'


def values(rows):
    return [int(r["Data"][0]["ScalarValue"]) for r in rows]


def test_max_rows_pages_through_the_boto3_paginator(tsq, table):
    sql = f"SELECT measure_value::bigint FROM {table} ORDER BY measure_value::bigint"
    pages = list(tsq.get_paginator("query").paginate(QueryString=sql, PaginationConfig={"PageSize": 4}))
    assert len(pages) >= 13  # 50 rows, 4 per page (LocalStack's AWS-validated test saw >= 13 pages)
    assert all(len(p["Rows"]) <= 4 for p in pages)
    got = [v for p in pages for v in values(p["Rows"])]
    assert got == list(range(ROWS))
    assert len({p["QueryId"] for p in pages}) == 1
    assert "NextToken" not in pages[-1]


def test_tokens_are_bound_to_the_query_and_reusable(tsq, table):
    sql = f"SELECT measure_value::bigint FROM {table} ORDER BY measure_value::bigint"
    first = tsq.query(QueryString=sql, MaxRows=10)
    token = first["NextToken"]
    again = tsq.query(QueryString=sql, NextToken=token)
    assert values(again["Rows"]) == list(range(10, 20))
    assert values(tsq.query(QueryString=sql, NextToken=token)["Rows"]) == list(range(10, 20))
    message = client_error("ValidationException", 400, tsq.query, QueryString=sql + " ", NextToken=token)
    assert "pagination token" in message


def test_a_client_token_repeats_the_first_response(tsq, table):
    sql = f"SELECT count(*) FROM {table}"
    token = "a" * 32
    one = tsq.query(QueryString=sql, ClientToken=token)
    two = tsq.query(QueryString=sql, ClientToken=token)
    assert one["QueryId"] == two["QueryId"]
    assert one["Rows"] == two["Rows"] == [{"Data": [{"ScalarValue": str(ROWS)}]}]


def test_cancel_query_then_pages_conflict(tsq, table):
    sql = f"SELECT measure_value::bigint FROM {table}"
    first = tsq.query(QueryString=sql, MaxRows=5)
    assert tsq.cancel_query(QueryId=first["QueryId"]).get("CancellationMessage") is None
    assert "CancellationMessage" in tsq.cancel_query(QueryId=first["QueryId"])
    client_error("ConflictException", 409, tsq.query, QueryString=sql, NextToken=first["NextToken"])
    client_error("ValidationException", 400, tsq.cancel_query, QueryId="NOSUCHQUERY")


def test_the_cli_paginates_automatically(aws_cli, table):
    sql = f"SELECT measure_value::bigint FROM {table} ORDER BY measure_value::bigint"
    result = aws_cli("timestream-query", "query", "--query-string", sql, "--page-size", "7")
    assert result.rc == 0, result.stderr
    assert values(result.out["Rows"]) == list(range(ROWS))


def test_large_results_stream_through_pages_in_order(tsq, aws_cli):
    """A result of many pages, taken from the query's result stream as they are encoded: the CLI's automatic
    pagination and boto3's paginator both get every row, in order, and the last page's status is final."""
    sql = ("SELECT a.x * 10000 + b.y AS n, CAST(b.y AS varchar) AS s FROM UNNEST(sequence(0, 11)) AS a(x) "
           "CROSS JOIN UNNEST(sequence(1, 10000)) AS b(y) ORDER BY 1")
    pages = list(tsq.get_paginator("query").paginate(QueryString=sql))
    assert len(pages) > 2
    assert [v for p in pages for v in values(p["Rows"])] == list(range(1, 120001))
    assert pages[-1]["QueryStatus"]["ProgressPercentage"] == 100.0
    result = aws_cli("timestream-query", "query", "--query-string", sql)
    assert result.rc == 0, result.stderr
    assert values(result.out["Rows"]) == list(range(1, 120001))


def test_order_by_puts_nulls_last_in_either_direction(tsq, aws_cli):
    """Trino's default null ordering is NULLS LAST whichever the direction."""
    sql = "SELECT t.x FROM (VALUES 1, NULL, 3) AS t(x) ORDER BY t.x DESC"
    want = [{"Data": [{"ScalarValue": "3"}]}, {"Data": [{"ScalarValue": "1"}]}, {"Data": [{"NullValue": True}]}]
    assert tsq.query(QueryString=sql)["Rows"] == want
    result = aws_cli("timestream-query", "query", "--query-string", sql)
    assert result.rc == 0, result.stderr
    assert result.out["Rows"] == want


def test_a_null_of_no_type_is_a_null_value(tsq):
    """`SELECT NULL` is a column of type UNKNOWN whose datum is NullValue, in an array too."""
    out = tsq.query(QueryString="SELECT NULL, ARRAY[NULL], reverse(NULL)")
    assert [c["Type"] for c in out["ColumnInfo"]] == [
        {"ScalarType": "UNKNOWN"},
        {"ArrayColumnInfo": {"Type": {"ScalarType": "UNKNOWN"}}},
        {"ScalarType": "UNKNOWN"},
    ]
    assert out["Rows"] == [{"Data": [{"NullValue": True}, {"ArrayValue": [{"NullValue": True}]}, {"NullValue": True}]}]


def test_show_measures_returns_an_array_of_rows(tsq, table):
    out = tsq.query(QueryString=f"SHOW MEASURES FROM {table}")
    assert [c["Name"] for c in out["ColumnInfo"]] == ["measure_name", "data_type", "dimensions"]
    dims_type = out["ColumnInfo"][2]["Type"]
    assert dims_type == {
        "ArrayColumnInfo": {
            "Type": {
                "RowColumnInfo": [
                    {"Name": "dimension_name", "Type": {"ScalarType": "VARCHAR"}},
                    {"Name": "data_type", "Type": {"ScalarType": "VARCHAR"}},
                ]
            }
        }
    }
    row = out["Rows"][0]["Data"]
    assert row[0] == {"ScalarValue": "cpu"} and row[1] == {"ScalarValue": "bigint"}
    assert row[2] == {
        "ArrayValue": [{"RowValue": {"Data": [{"ScalarValue": "host"}, {"ScalarValue": "varchar"}]}}]
    }


def test_integer_literals_are_integer_columns(tsq):
    """Trino types an integer literal INTEGER when it fits in 32 bits, BIGINT otherwise; Timestream's ColumnInfo
    says so."""
    out = tsq.query(QueryString="SELECT 1 AS one, 2147483648 AS big, CASE WHEN 1 > 0 THEN 1 ELSE 0 END AS flag")
    assert [(c["Name"], c["Type"]) for c in out["ColumnInfo"]] == [
        ("one", {"ScalarType": "INTEGER"}),
        ("big", {"ScalarType": "BIGINT"}),
        ("flag", {"ScalarType": "INTEGER"}),
    ]
    assert out["Rows"] == [{"Data": [{"ScalarValue": "1"}, {"ScalarValue": "2147483648"}, {"ScalarValue": "1"}]}]
    message = client_error("QueryExecutionException", 400, tsq.query, QueryString="SELECT 2147483647 + 1")
    assert message == "integer addition overflow: 2147483647 + 1"


def test_sum_and_negation_of_bigints_fail_on_overflow(tsq):
    """Trino's sum adds bigints with its checked addition, and its negation and abs are checked too: an overflow is
    a QueryExecutionException."""
    message = client_error("QueryExecutionException", 400, tsq.query,
                           QueryString="SELECT sum(t.x) FROM (VALUES 9223372036854775807, 1) AS t(x)")
    assert message == "bigint addition overflow: 9223372036854775807 + 1"
    message = client_error("QueryExecutionException", 400, tsq.query,
                           QueryString="SELECT -t.x FROM (VALUES CAST('-9223372036854775808' AS bigint)) AS t(x)")
    assert message == "bigint negation overflow: -9223372036854775808"
    message = client_error("QueryExecutionException", 400, tsq.query,
                           QueryString="SELECT abs(t.x) FROM (VALUES CAST('-9223372036854775808' AS bigint)) AS t(x)")
    assert message == "Value -9223372036854775808 is out of range for abs(bigint)"


def test_query_insights_tell_the_tables_time_range_and_partition_key_coverage(tsq, aws_cli, table):
    """QueryInsights with ENABLED_WITH_RATE_CONTROL: the ended query's page carries QueryInsightsResponse (one
    query a second per account); an invalid mode is refused."""
    db = table.split(".")[0].strip('"')
    arn = table_arn(db, "tbl")
    out = tsq.query(QueryString=f"SELECT count(*) FROM {table} WHERE time > ago(1h)",
                    QueryInsights={"Mode": "ENABLED_WITH_RATE_CONTROL"})
    assert out["Rows"] == [{"Data": [{"ScalarValue": str(ROWS)}]}]
    insights = out["QueryInsightsResponse"]
    assert insights["QueryTableCount"] == 1
    assert insights["OutputRows"] == 1
    assert insights["OutputBytes"] > 0
    assert insights["QuerySpatialCoverage"]["Max"] == {"Value": 1.0, "TableArn": arn, "PartitionKey": ["measure_name"]}
    temporal = insights["QueryTemporalRange"]["Max"]
    assert temporal["TableArn"] == arn
    assert 3600 * 10**9 <= temporal["Value"] < 3660 * 10**9
    time.sleep(1.1)
    # The AWS CLI, with a measure name that the table does not hold: none of its one measure name is read.
    result = aws_cli("timestream-query", "query", "--query-string",
                     f"SELECT count(*) FROM {table} WHERE measure_name = 'mem' AND time > ago(1h)",
                     "--query-insights", "Mode=ENABLED_WITH_RATE_CONTROL")
    assert result.rc == 0, result.stderr
    assert result.out["QueryInsightsResponse"]["QuerySpatialCoverage"]["Max"]["Value"] == 0.0
    assert result.out["QueryInsightsResponse"]["OutputRows"] == 1
    message = client_error("ValidationException", 400, tsq.query, QueryString="SELECT 1",
                           QueryInsights={"Mode": "SOMETIMES"})
    assert message == ("1 validation error detected: Value 'SOMETIMES' at 'queryInsights.mode' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [ENABLED_WITH_RATE_CONTROL, DISABLED]")
    assert "QueryInsightsResponse" not in tsq.query(QueryString="SELECT 1")


def test_prepare_query_validates_and_describes_columns(tsq, aws_cli, table):
    sql = f"SELECT host AS h, max(measure_value::bigint) FROM {table} GROUP BY host"
    out = tsq.prepare_query(QueryString=sql, ValidateOnly=True)
    assert out["QueryString"] == sql
    assert out["Parameters"] == []
    assert [(c["Name"], c["Type"], c["Aliased"]) for c in out["Columns"]] == [
        ("h", {"ScalarType": "VARCHAR"}, True),
        ("_col1", {"ScalarType": "BIGINT"}, False),
    ]
    message = client_error("ValidationException", 400, tsq.prepare_query,
                           QueryString=f"SELECT nope FROM {table}", ValidateOnly=True)
    assert "nope" in message
    result = aws_cli("timestream-query", "prepare-query", "--query-string", sql, "--validate-only")
    assert result.rc == 0, result.stderr
    assert [c["Name"] for c in result.out["Columns"]] == ["h", "_col1"]

    # A scheduled query's parameter is listed with its type.
    scheduled = f"SELECT count(*) FROM {table} WHERE time BETWEEN @scheduled_runtime - 1h AND @scheduled_runtime"
    out = tsq.prepare_query(QueryString=scheduled, ValidateOnly=True)
    assert out["Parameters"] == [{"Name": "@scheduled_runtime", "Type": {"ScalarType": "TIMESTAMP"}}]
    result = aws_cli("timestream-query", "prepare-query", "--query-string", scheduled, "--validate-only")
    assert result.rc == 0, result.stderr
    assert result.out["Parameters"] == out["Parameters"]


def test_timeseries_results_and_unnest(tsq, aws_cli, table):
    """A timeseries column: TimeSeriesMeasureValueColumnInfo, and TimeSeriesValue points sorted by time."""
    sql = (f"SELECT host, CREATE_TIME_SERIES(time, measure_value::bigint) AS cpu FROM {table} "
           "WHERE host IN ('h01', 'h02') GROUP BY host ORDER BY host")
    out = tsq.query(QueryString=sql)
    assert out["ColumnInfo"][1] == {
        "Name": "cpu",
        "Type": {"TimeSeriesMeasureValueColumnInfo": {"Type": {"ScalarType": "BIGINT"}}},
    }
    series = out["Rows"][0]["Data"][1]["TimeSeriesValue"]
    assert [p["Value"] for p in series] == [{"ScalarValue": "1"}]
    assert len(series[0]["Time"]) == len("2019-12-04 19:00:00.000000000")
    result = aws_cli("timestream-query", "query", "--query-string", sql)
    assert result.rc == 0, result.stderr
    assert result.out["Rows"] == out["Rows"]

    # The points of every host's series, back as rows, and interpolated at their own times.
    unnested = tsq.query(QueryString=(
        f"WITH s AS (SELECT host, CREATE_TIME_SERIES(time, measure_value::bigint) AS cpu FROM {table} GROUP BY host) "
        "SELECT host, t.value, interpolate_locf(cpu, t.time) FROM s CROSS JOIN UNNEST(cpu) AS t (time, value) "
        "ORDER BY t.value"))
    assert [[d["ScalarValue"] for d in r["Data"]] for r in unnested["Rows"]] == [
        [f"h{i:02d}", str(i), str(i)] for i in range(ROWS)
    ]


def test_in_and_exists_subqueries_in_the_select_list(tsq, aws_cli, table):
    """IN, NOT IN and EXISTS with a subquery as values of the SELECT list, with SQL's nulls: no match is NULL where
    the subquery has a NULL. An unnamed column is named as Timestream names it."""
    sql = (f"SELECT host, host IN (SELECT host FROM {table} WHERE measure_value::bigint < 2), "
           f"EXISTS (SELECT 1 FROM {table} AS b WHERE b.host = a.host AND b.measure_value::bigint > 47) AS high, "
           "host NOT IN (SELECT y FROM (VALUES 'h01', NULL) AS s(y)) AS not_listed "
           f"FROM {table} AS a WHERE host IN ('h00', 'h01', 'h48') ORDER BY host")
    out = tsq.query(QueryString=sql)
    assert [(c["Name"], c["Type"]) for c in out["ColumnInfo"]] == [
        ("host", {"ScalarType": "VARCHAR"}),
        ("_col1", {"ScalarType": "BOOLEAN"}),
        ("high", {"ScalarType": "BOOLEAN"}),
        ("not_listed", {"ScalarType": "BOOLEAN"}),
    ]
    assert out["Rows"] == [
        {"Data": [{"ScalarValue": "h00"}, {"ScalarValue": "true"}, {"ScalarValue": "false"}, {"NullValue": True}]},
        {"Data": [{"ScalarValue": "h01"}, {"ScalarValue": "true"}, {"ScalarValue": "false"}, {"ScalarValue": "false"}]},
        {"Data": [{"ScalarValue": "h48"}, {"ScalarValue": "false"}, {"ScalarValue": "true"}, {"NullValue": True}]},
    ]
    result = aws_cli("timestream-query", "query", "--query-string", sql)
    assert result.rc == 0, result.stderr
    assert result.out["Rows"] == out["Rows"]
    message = client_error(
        "ValidationException", 400, tsq.query,
        QueryString=(f"SELECT host IN (SELECT max(b.host) FROM {table} AS b WHERE b.measure_value::bigint = "
                     f"a.measure_value::bigint) FROM {table} AS a"))
    assert message == "Given correlated subquery is not supported"


def test_output_columns_may_share_a_name(tsq, table):
    """Trino lets two output columns have one name; DataFusion plans them under others, the result keeps them."""
    out = tsq.query(QueryString=f"SELECT host, host, measure_value::bigint AS v, 1 AS v FROM {table} "
                                "WHERE host = 'h03'")
    assert [c["Name"] for c in out["ColumnInfo"]] == ["host", "host", "v", "v"]
    assert [d["ScalarValue"] for d in out["Rows"][0]["Data"]] == ["h03", "h03", "3", "1"]
    prepared = tsq.prepare_query(QueryString=f"SELECT host, host FROM {table}", ValidateOnly=True)
    assert [c["Name"] for c in prepared["Columns"]] == ["host", "host"]


# A query of about 30 million rows: long enough to outlast a call's 1 ms wait.
SLOW = ("SELECT count(*) FROM (SELECT * FROM UNNEST(sequence(1, 10000)) AS a(x)) "
        "CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 3000)) AS b(y))")


def test_long_queries_answer_with_a_token_to_poll(tmp_path, aws_cli):
    """A query still running when its call's wait ends gets a NextToken and no rows; polling, boto3's paginator and
    the CLI's automatic pagination all reach the result, and CancelQuery makes later polls a ConflictException."""
    srv = Server.start(require_binary(), tmp_path / "data", extra_args=("--query-wait-ms", "1"))
    try:
        tsq = make_client("timestream-query", srv.url)
        first = tsq.query(QueryString=SLOW)
        column_info = [{"Name": "_col0", "Type": {"ScalarType": "BIGINT"}}]
        assert first["Rows"] == [] and first["ColumnInfo"] == column_info
        assert first["QueryStatus"]["ProgressPercentage"] == 0.0
        assert first["NextToken"].startswith(first["QueryId"])
        out = first
        for _ in range(10_000):
            out = tsq.query(QueryString=SLOW, NextToken=out["NextToken"])
            if out["Rows"]:
                break
        assert out["Rows"] == [{"Data": [{"ScalarValue": "30000000"}]}]
        assert out["ColumnInfo"] == column_info
        assert out["QueryStatus"]["ProgressPercentage"] == 100.0 and "NextToken" not in out

        pages = list(tsq.get_paginator("query").paginate(QueryString=SLOW))
        assert [r for p in pages for r in p["Rows"]] == [{"Data": [{"ScalarValue": "30000000"}]}]

        result = aws_cli("timestream-query", "query", "--query-string", SLOW, "--endpoint-url", srv.url,
                         endpoint=False)
        assert result.rc == 0, result.stderr
        assert result.out["Rows"] == [{"Data": [{"ScalarValue": "30000000"}]}]
        assert result.out["ColumnInfo"] == column_info

        running = tsq.query(QueryString=SLOW)
        tsq.cancel_query(QueryId=running["QueryId"])
        client_error("ConflictException", 409, tsq.query, QueryString=SLOW, NextToken=running["NextToken"])
    finally:
        srv.stop()


# 10^12 rows: hours of work.
ENDLESS = ("SELECT count(*) FROM (SELECT * FROM UNNEST(sequence(1, 10000)) AS a(x)) "
           "CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 10000)) AS b(y)) "
           "CROSS JOIN (SELECT * FROM UNNEST(sequence(1, 10000)) AS c(z))")


def test_queries_past_the_time_limit_fail_with_query_execution_exception(tmp_path, aws_cli):
    """A query that runs past --query-timeout-ms fails with Trino's message, for boto3 and for the CLI; so does
    one whose result outgrows --query-result-limit-bytes, with ours."""
    srv = Server.start(require_binary(), tmp_path / "data",
                       extra_args=("--query-timeout-ms", "300", "--query-result-limit-bytes", "100000"))
    try:
        tsq = make_client("timestream-query", srv.url)
        message = client_error("QueryExecutionException", 400, tsq.query, QueryString=ENDLESS)
        assert message == "Query exceeded maximum time limit of 300.00ms"
        result = aws_cli("timestream-query", "query", "--query-string", ENDLESS, "--endpoint-url", srv.url,
                         endpoint=False)
        assert result.rc != 0
        assert "QueryExecutionException" in result.stderr, result.stderr
        assert "Query exceeded maximum time limit of 300.00ms" in result.stderr, result.stderr
        assert tsq.query(QueryString="SELECT 1")["Rows"] == [{"Data": [{"ScalarValue": "1"}]}]
        big = "SELECT x, y FROM UNNEST(sequence(1, 10000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 100)) AS b(y)"
        message = client_error("QueryExecutionException", 400, tsq.query, QueryString=big)
        assert message == "Query aborted as its result exceeded 100000 bytes, the most a result may hold"
    finally:
        srv.stop()


def test_show_measures_lists_each_measures_own_dimensions(client_factory, tsq):
    tsw = client_factory("timestream-write")
    db = unique("measures")
    tsw.create_database(DatabaseName=db)
    tsw.create_table(DatabaseName=db, TableName="tbl")
    now_ms = int(time.time() * 1000)

    def record(name, dims, value, offset):
        return {"Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()], "MeasureName": name,
                "MeasureValue": value, "MeasureValueType": "DOUBLE", "Time": str(now_ms - offset)}

    tsw.write_records(DatabaseName=db, TableName="tbl", Records=[
        record("cpu", {"host": "a", "region": "r1"}, "1.0", 1),
        record("mem", {"host": "a"}, "2.0", 2),
        record("disk", {"region": "r2"}, "3.0", 3),
    ])
    out = tsq.query(QueryString=f'SHOW MEASURES FROM "{db}"."tbl"')
    dims = {r["Data"][0]["ScalarValue"]: [d["RowValue"]["Data"][0]["ScalarValue"] for d in r["Data"][2]["ArrayValue"]]
            for r in out["Rows"]}
    assert dims == {"cpu": ["host", "region"], "disk": ["region"], "mem": ["host"]}
