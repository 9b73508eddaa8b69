"""Constants and helpers shared by the compatibility tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import subprocess
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"


def unique(prefix: str = "compat") -> str:
    """A resource name no other test uses (valid for Timestream: `[a-zA-Z0-9_.-]`, 3–256 chars)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def db_arn(db: str, region: str = REGION) -> str:
    return f"arn:aws:timestream:{region}:{ACCOUNT_ID}:database/{db}"


def table_arn(db: str, table: str, region: str = REGION) -> str:
    return f"arn:aws:timestream:{region}:{ACCOUNT_ID}:database/{db}/table/{table}"


def client_error(code: str, status: int, call: Callable[..., Any], **kwargs: Any) -> str:
    """Calls `call(**kwargs)`, asserts it fails with AWS error `code` and HTTP `status`, returns the message."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    resp = info.value.response
    got = (resp["Error"].get("Code"), resp["ResponseMetadata"]["HTTPStatusCode"])
    assert got == (code, status), f"expected {code}/{status}, got {got[0]}/{got[1]}: {resp['Error'].get('Message')!r}"
    headers = resp["ResponseMetadata"].get("HTTPHeaders", {})
    assert headers.get("x-amzn-requestid"), f"error response without x-amzn-RequestId: {headers}"
    return resp["Error"].get("Message", "")


def assert_recent(value: Any, what: str, slack_s: float = 120) -> None:
    """`value` is a timezone-aware datetime (botocore parses awsJson epoch seconds) close to now."""
    assert isinstance(value, dt.datetime), f"{what} is {type(value).__name__}, not a datetime: {value!r}"
    assert value.tzinfo is not None, f"{what} has no timezone: {value!r}"
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - value).total_seconds()) < slack_s, f"{what} = {value} is not close to now ({now})"


class RequestIdRecorder:
    """Records every HTTP response a client receives, to check that each one carries `x-amzn-RequestId`."""

    def __init__(self) -> None:
        self.missing: list[str] = []
        self.seen = 0

    def __call__(self, http_response=None, model=None, **_: Any) -> None:
        if http_response is None:
            return
        self.seen += 1
        if not http_response.headers.get("x-amzn-RequestId"):
            self.missing.append(f"{getattr(model, 'name', '?')} -> {http_response.status_code}")


def make_client(
    service: str,
    url: str | None,
    region: str = REGION,
    recorder: RequestIdRecorder | None = None,
    *,
    aws_access_key_id: str = ACCESS_KEY_ID,
    aws_secret_access_key: str = SECRET_ACCESS_KEY,
    **config: Any,
):
    """A boto3 client with the root credentials (unless overridden), no retries, and `config` as botocore Config."""
    defaults = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 5, "read_timeout": 30}
    cfg = Config(**{**defaults, **config})
    client = boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        config=cfg,
    )
    if recorder is not None:
        client.meta.events.register("after-call", recorder)
    return client


STARTUP_TIMEOUT_S = 20
SHUTDOWN_TIMEOUT_S = 5
LISTENING_PREFIX = "freshet: listening on "


def require_binary() -> Path:
    """The server binary (`$FRESHET_BIN` or `<repo>/target/debug/freshet`); fails the test (never skips) when missing."""
    binary = Path(os.environ.get("FRESHET_BIN") or REPO / "target" / "debug" / "freshet")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"The freshet binary {binary} does not exist. Build it first with `cargo build -p freshet` "
            "(in the repository root), or point FRESHET_BIN at a built binary.",
            pytrace=False,
        )
    return binary


class Server:
    """A running `freshet serve` process; its stderr is collected by a thread so the pipe never fills."""

    def __init__(self, binary: Path, data_dir: Path, extra_args: tuple[str, ...] = ()):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FRESHET_", "AWS_"))}
        env.update(
            FRESHET_ROOT_ACCESS_KEY_ID=ACCESS_KEY_ID,
            FRESHET_ROOT_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            FRESHET_ACCOUNT_ID=ACCOUNT_ID,
        )
        self.data_dir = data_dir
        self.lines: collections.deque[str] = collections.deque(maxlen=400)
        self.url: str | None = None
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", *extra_args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._drain, name="freshet-stderr", daemon=True)
        self._reader.start()

    @classmethod
    def start(
        cls, binary: Path, data_dir: Path, timeout: float = STARTUP_TIMEOUT_S, extra_args: tuple[str, ...] = ()
    ) -> "Server":
        """`extra_args` are added to `freshet serve` (e.g. `("--persist-after", "1")`)."""
        srv = cls(binary, data_dir, extra_args)
        srv.wait_ready(timeout)
        return srv

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.url is None and line.startswith(LISTENING_PREFIX):
                self.url = line[len(LISTENING_PREFIX):].strip().rstrip("/")
                self._ready.set()
        self._ready.set()  # EOF: the process is gone

    def stderr_text(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float) -> None:
        if not self._ready.wait(timeout) or self.url is None:
            code = self.proc.poll()
            state = f"exited with code {code}" if code is not None else f"still running after {timeout} s"
            self.stop(check=False)
            pytest.fail(
                f"freshet did not print '{LISTENING_PREFIX}…' ({state}).\n--- server stderr ---\n{self.stderr_text()}",
                pytrace=False,
            )
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
            assert r.status == 200, f"/health answered {r.status}"

    def kill(self) -> int:
        """SIGKILL: no shutdown work at all, as in a crash. Returns the exit status (-9)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait()
        self._reader.join(5)
        return code

    def stop(self, check: bool = True) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    pytest.fail(
                        f"freshet did not exit within {SHUTDOWN_TIMEOUT_S} s of SIGTERM (no graceful shutdown)."
                        f"\n--- server stderr ---\n{self.stderr_text()}",
                        pytrace=False,
                    )
        self._reader.join(5)
        return self.proc.returncode
