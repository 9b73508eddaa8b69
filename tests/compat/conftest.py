"""Fixtures of the Freshet compatibility suite: a real `freshet serve` on a free port, boto3 clients and an AWS CLI runner.

The server binary is `$FRESHET_BIN`, by default `<repo>/target/debug/freshet` (build it with `cargo build -p freshet`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from compat_support import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    RequestIdRecorder,
    Server,
    make_client,
    require_binary,
    unique,
)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One server for the session; at the end it must stop on SIGTERM with exit code 0 within a few seconds."""
    srv = Server.start(require_binary(), tmp_path_factory.mktemp("freshet-data"))
    yield srv
    code = srv.stop()
    assert code == 0, f"freshet exited with code {code} after SIGTERM\n--- server stderr ---\n{srv.stderr_text()}"


@pytest.fixture(scope="session")
def server_url(server: Server) -> str:
    assert server.url
    return server.url


# ---------------------------------------------------------------------------------------------------------------------
# boto3


@pytest.fixture(scope="session")
def request_ids():
    rec = RequestIdRecorder()
    yield rec
    assert not rec.missing, f"responses without an x-amzn-RequestId header: {rec.missing}"


@pytest.fixture(scope="session")
def client_factory(server_url: str, request_ids: RequestIdRecorder):
    """`client_factory(service, region=..., **botocore_config)`; every client is closed at the end of the session."""
    made = []

    def factory(service: str = "timestream-write", region: str = REGION, **config):
        c = make_client(service, server_url, region, request_ids, **config)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def tsw(client_factory):
    """timestream-write, us-east-1, pointed at the server (no endpoint discovery, as with any explicit endpoint_url)."""
    return client_factory("timestream-write")


@pytest.fixture(scope="session")
def tsw_raw(client_factory):
    """timestream-write without botocore's client-side parameter validation, so the server's validation is exercised."""
    return client_factory("timestream-write", parameter_validation=False)


@pytest.fixture(scope="session")
def sts(client_factory):
    return client_factory("sts")


@pytest.fixture
def db_name() -> str:
    return unique("db")


@pytest.fixture
def database(tsw, db_name) -> str:
    """A fresh database in us-east-1."""
    tsw.create_database(DatabaseName=db_name)
    return db_name


# ---------------------------------------------------------------------------------------------------------------------
# AWS CLI


@dataclass
class CliResult:
    rc: int
    out: Any  # stdout parsed as JSON; None when stdout is empty
    stderr: str
    stdout: str


@pytest.fixture(scope="session")
def aws_cli(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CliResult]:
    """Runs the pinned AWS CLI (`python -m awscli`) against the server.

    `aws_cli("timestream-write", "list-databases")` adds `--endpoint-url` and `--output json`; pass `endpoint=False` to
    leave the endpoint to the environment (`env={...}` entries are added to the isolated environment).
    """
    home = tmp_path_factory.mktemp("aws-home")
    config_file = home / "config"
    creds_file = home / "credentials"
    config_file.write_text("")
    creds_file.write_text("")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FRESHET_"))}
    base_env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(config_file),
        AWS_SHARED_CREDENTIALS_FILE=str(creds_file),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
        HOME=str(home),
    )

    def run(*args: str, endpoint: bool = True, env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
        cmd = [sys.executable, "-m", "awscli", *args, "--output", "json"]
        if endpoint:
            cmd += ["--endpoint-url", server_url]
        proc = subprocess.run(
            cmd,
            env={**base_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(home),
        )
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
        return CliResult(proc.returncode, out, proc.stderr, proc.stdout)

    return run

