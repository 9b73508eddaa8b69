"""Bad queries through boto3: the SQL corpus's queries mutated (tokens dropped, repeated, swapped, inserted;
literals replaced), and every documented function called with random arguments. Each answer must be a result or a
ValidationException/QueryExecutionException whose message names no DataFusion or Arrow internals, and the server
must stay up. The seeds are fixed, so a failure repeats; the figures are small enough for every CI run."""

from __future__ import annotations

import random
import re
import time

import pytest
from botocore.exceptions import ClientError

from compat_support import REPO

MUTATIONS = 400
CALLS = 600

# Words of DataFusion's and Arrow's own that a message to a Timestream client must not carry.
LEAKS = re.compile(
    r"DataFusion|Arrow|\bInt(8|16|32|64)\b|\bUInt|\bUtf8|\bFloat(32|64)\b|LogicalPlan|internal error|panick|"
    r"Schema error|Execution error|Error during planning|not implemented|Struct\(|List\(|Timestamp\(ns|"
    r"ScalarValue|Function\(Function|ObjectName\(|__"
)

TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\d+(?:\.\d+)?(?:e\d+)?|\w+|::|->|<=|>=|<>|!=|\|\||\S")
INSERTS = ["SELECT", "FROM", "(", ")", ",", "NULL", "::", "[", "]", "ARRAY", "CAST", "AS", "bigint", "''", "'x'",
           "-", "*", "/", "%", "1", "0", "-9223372036854775808", "9223372036854775807", "1e308", "interval", "1d",
           "ago(1h)", "now()", "time", "measure_value::double", "x -> x", "OVER ()", "GROUP BY 1", "ORDER BY 1",
           "LIMIT 0", "UNNEST", "ROW(1, 'a')", "TIMESTAMP '2020-01-01'", "DATE 'x'", "?", ";"]
LITERALS = ["9223372036854775808", "-9223372036854775808", "0", "-1", "NULL", "'x'", "''", "1e309", "0.0",
            "2147483648", "-2147483649", "TIMESTAMP '9999-12-31 23:59:59'", "ARRAY[]", "CAST(NULL AS varchar)"]
ARGUMENTS = ["NULL", "0", "1", "-1", "2147483647", "-9223372036854775808", "9223372036854775807", "1.5", "-0.0",
             "1e308", "nan()", "infinity()", "'a'", "''", "'2019-12-04 19:00:00'", "'%Y-%m-%d'", "'(\\d+)'", "'['",
             "TIMESTAMP '2019-12-04 19:00:00'", "DATE '2019-12-04'", "TIME '19:00:00'", "1h", "-2d", "10year",
             "ARRAY[1, 2]", "ARRAY[]", "ARRAY[NULL]", "ARRAY['a', NULL]", "ARRAY[ARRAY[1]]", "ROW(1, 'a')", "true",
             "x -> x", "(s, x) -> s + x", "CAST(NULL AS bigint)", "'Infinity'", "'P1DT2H'", "'1.5s'", "'-'",
             "time", "measure_value::double", "instance_id"]


def corpus_queries() -> list[str]:
    queries = []
    for path in sorted((REPO / "tests" / "slt").glob("*.slt")):
        lines = path.read_text().split("\n")
        i = 0
        while i < len(lines):
            if lines[i].startswith(("query", "statement")):
                i += 1
                sql = []
                while i < len(lines) and lines[i] and lines[i] != "----":
                    sql.append(lines[i])
                    i += 1
                queries.append(" ".join(sql))
            i += 1
    return queries


def mutate(sql: str, rnd: random.Random) -> str:
    tokens = TOKEN.findall(sql)
    if not tokens:
        return sql
    kind, i = rnd.randrange(7), rnd.randrange(len(tokens))
    if kind == 0:
        return sql[: rnd.randrange(len(sql))] or sql
    if kind == 1:
        del tokens[i]
    elif kind == 2:
        tokens.insert(i, tokens[i])
    elif kind == 3 and i + 1 < len(tokens):
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    elif kind == 4:
        tokens.insert(i, rnd.choice(INSERTS))
    elif kind == 5:
        literals = [j for j, t in enumerate(tokens) if re.fullmatch(r"\d+(?:\.\d+)?|'(?:[^']|'')*'", t)]
        if literals:
            tokens[rnd.choice(literals)] = rnd.choice(LITERALS)
    else:
        words = [j for j, t in enumerate(tokens) if re.fullmatch(r"[a-z_]+", t)]
        if len(words) > 1:
            a, b = rnd.sample(words, 2)
            tokens[a] = tokens[b]
    return " ".join(tokens) or sql


def function_calls(rnd: random.Random, count: int) -> list[str]:
    reference = (REPO / "docs" / "sql-reference.md").read_text()
    names = sorted(set(re.findall(r"^\| `([a-z_0-9]+)` \|", reference, re.M)))
    assert len(names) > 150, "docs/sql-reference.md lists the functions"
    calls = []
    for _ in range(count):
        args = ", ".join(rnd.choice(ARGUMENTS) for _ in range(rnd.choice([0, 1, 1, 2, 2, 3, 4])))
        table = any(a in args for a in ("time", "measure_value", "instance_id"))
        calls.append(f"SELECT {rnd.choice(names)}({args})" + (" FROM corpus.metrics" if table else ""))
    return calls


@pytest.fixture(scope="module")
def tsq(client_factory):
    """A query client, and a `corpus.metrics` table for the queries that read one (as the corpus's fixture)."""
    tsw = client_factory("timestream-write")
    tsw.create_database(DatabaseName="corpus")
    tsw.create_table(DatabaseName="corpus", TableName="metrics")
    now = int(time.time() * 1000)
    tsw.write_records(DatabaseName="corpus", TableName="metrics", Records=[
        {"Dimensions": [{"Name": "instance_id", "Value": f"i-{j % 2}"}], "MeasureName": "cpu_utilization",
         "MeasureValue": str(30.0 + j), "MeasureValueType": "DOUBLE", "Time": str(now - j * 1000)}
        for j in range(6)
    ])
    return client_factory("timestream-query", read_timeout=60)


def answers_cleanly(tsq, server, queries: list[str]) -> list[str]:
    """The queries whose answer is not a result or a clean Timestream error, with what they got."""
    bad = []
    for sql in queries:
        try:
            tsq.query(QueryString=sql)
        except ClientError as e:
            code, message = e.response["Error"]["Code"], e.response["Error"].get("Message", "")
            if code not in ("ValidationException", "QueryExecutionException") or LEAKS.search(message):
                bad.append(f"{code}: {message[:200]} <- {sql[:200]}")
        assert server.proc.poll() is None, f"the server exited on {sql!r}\n{server.stderr_text()[-3000:]}"
    return bad


def test_mutated_corpus_queries_get_clean_errors(tsq, server):
    rnd = random.Random(20261124)
    queries = corpus_queries()
    mutated = {mutate(rnd.choice(queries), rnd) for _ in range(MUTATIONS)}
    bad = answers_cleanly(tsq, server, sorted(q for q in mutated if q.strip()))
    assert not bad, "\n".join(bad)


def test_functions_called_with_random_arguments_get_clean_errors(tsq, server):
    bad = answers_cleanly(tsq, server, function_calls(random.Random(20261125), CALLS))
    assert not bad, "\n".join(bad)
