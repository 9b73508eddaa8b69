"""Malformed, unsigned, mis-signed and oversized requests, sent raw: one table, one driver.

Each case builds a request with botocore's `AWSRequest` + `SigV4Auth` (or deliberately breaks it) and sends it with
`http.client`; the driver checks the HTTP status, the AWS error code (`__type` after `#` for awsJson, `<Code>` for
awsQuery XML), an optional message fragment, the `x-amzn-RequestId` header, and that the server still answers a
well-formed request afterwards.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import Callable
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from compat_support import ACCESS_KEY_ID, SECRET_ACCESS_KEY

JSON, QUERY = "json", "query"
STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided."
INVALID_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True)
class Raw:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Req:
    """How to build one request; `build(url)` signs it (unless `sign=False`) and applies `tamper`."""

    protocol: str = JSON
    operation: str = "ListDatabases"
    target: str | None = None  # overrides Timestream_20181101.<operation>
    body: bytes | None = None
    sign: bool = True
    service: str | None = None  # SigV4 signing name; timestream / sts by default
    access_key_id: str = ACCESS_KEY_ID
    secret: str = SECRET_ACCESS_KEY
    token: str | None = None
    skew: dt.timedelta = dt.timedelta(0)
    tamper: Callable[[Raw], Raw] | None = None

    def build(self, url: str) -> Raw:
        if self.protocol == JSON:
            headers = {
                "X-Amz-Target": self.target or f"Timestream_20181101.{self.operation}",
                "Content-Type": "application/x-amz-json-1.0",
            }
            body = b"{}" if self.body is None else self.body
            service = self.service or "timestream"
        else:
            headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
            body = STS_BODY if self.body is None else self.body
            service = self.service or "sts"
        request = AWSRequest(method="POST", url=f"{url}/", data=body, headers=headers)
        if self.sign:
            when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + self.skew
            with mock.patch("botocore.auth.get_current_datetime", return_value=when):
                SigV4Auth(Credentials(self.access_key_id, self.secret, self.token), service, "us-east-1").add_auth(request)
        raw = Raw("POST", "/", {k: v for k, v in request.headers.items()}, body)
        return self.tamper(raw) if self.tamper else raw


@dataclass(frozen=True)
class Case:
    name: str
    request: Req
    status: int
    code: str | None  # None: only the status is checked
    message: str | None = None  # a fragment the message must contain
    message_prefix: str | None = None
    notes: str = field(default="", compare=False)


def altered_body(raw: Raw) -> Raw:
    return replace(raw, body=raw.body.replace(b"{}", b'{"MaxResults":1}') if raw.body == b"{}" else raw.body + b" ")


def header_changed(name: str, value: str | None) -> Callable[[Raw], Raw]:
    """Replaces (or, with None, removes) a header after signing."""

    def tamper(raw: Raw) -> Raw:
        headers = {k: v for k, v in raw.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return replace(raw, headers=headers)

    return tamper


def host_not_signed(raw: Raw) -> Raw:
    auth = raw.headers["Authorization"].replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")
    assert ";host" not in auth and "=host" not in auth, auth
    return replace(raw, headers={**raw.headers, "Authorization": auth})


def without_signature(raw: Raw) -> Raw:
    auth = re.sub(r",\s*Signature=[0-9a-f]+", "", raw.headers["Authorization"])
    assert "Signature=" not in auth
    return replace(raw, headers={**raw.headers, "Authorization": auth})


FIVE_MIB = 5 * 1024 * 1024
BIG_BODY = b'{"DatabaseName":"' + b"x" * FIVE_MIB + b'"}'
TWENTY_MIN = dt.timedelta(minutes=20)

CASES = [
    # --- authentication, awsJson (Timestream) and awsQuery (STS)
    Case("json-unsigned", Req(sign=False), 400, "MissingAuthenticationTokenException"),
    Case("sts-unsigned", Req(QUERY, sign=False), 403, "MissingAuthenticationToken"),
    Case("json-unknown-access-key", Req(access_key_id="AKIAUNKNOWNKEY000000"), 400, "UnrecognizedClientException",
         INVALID_TOKEN),
    Case("sts-unknown-access-key", Req(QUERY, access_key_id="AKIAUNKNOWNKEY000000"), 403, "InvalidClientTokenId",
         INVALID_TOKEN),
    Case("json-wrong-secret", Req(secret="wrong" + SECRET_ACCESS_KEY[5:]), 400, "InvalidSignatureException",
         SIGNATURE_MISMATCH),
    Case("sts-wrong-secret", Req(QUERY, secret="wrong" + SECRET_ACCESS_KEY[5:]), 403, "SignatureDoesNotMatch",
         SIGNATURE_MISMATCH),
    Case("json-body-altered-after-signing", Req(tamper=altered_body), 400, "InvalidSignatureException",
         SIGNATURE_MISMATCH),
    Case("sts-body-altered-after-signing", Req(QUERY, tamper=altered_body), 403, "SignatureDoesNotMatch",
         SIGNATURE_MISMATCH),
    Case("json-signed-20-min-ago", Req(skew=-TWENTY_MIN), 400, "InvalidSignatureException",
         message_prefix="Signature expired: "),
    Case("sts-signed-20-min-ago", Req(QUERY, skew=-TWENTY_MIN), 403, "SignatureDoesNotMatch",
         message_prefix="Signature expired: "),
    Case("json-signed-20-min-ahead", Req(skew=TWENTY_MIN), 400, "InvalidSignatureException",
         message_prefix="Signature not yet current: "),
    Case("json-signed-for-dynamodb", Req(service="dynamodb"), 400, "InvalidSignatureException",
         "Credential should be scoped to correct service: 'timestream'"),
    Case("sts-signed-for-dynamodb", Req(QUERY, service="dynamodb"), 403, "SignatureDoesNotMatch",
         "Credential should be scoped to correct service: 'sts'"),
    Case("json-authorization-without-signature", Req(tamper=without_signature), 400, "IncompleteSignatureException",
         "Signature"),
    Case("sts-authorization-without-signature", Req(QUERY, tamper=without_signature), 400, "IncompleteSignature",
         "Signature"),
    Case("json-target-changed-after-signing", Req(tamper=header_changed("X-Amz-Target", "Timestream_20181101.DeleteDatabase")),
         400, "InvalidSignatureException", SIGNATURE_MISMATCH),
    Case("json-x-amz-date-removed", Req(tamper=header_changed("X-Amz-Date", None)), 400, "IncompleteSignatureException",
         "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."),
    Case("json-host-not-signed", Req(tamper=host_not_signed), 400, "IncompleteSignatureException",
         "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
    Case("json-long-term-key-with-session-token", Req(token="FQoGZXIvYXdzEBogus"), 400,
         "UnrecognizedClientException", INVALID_TOKEN),
    Case("sts-long-term-key-with-session-token", Req(QUERY, token="FQoGZXIvYXdzEBogus"), 403,
         "InvalidClientTokenId", INVALID_TOKEN),
    # --- awsJson bodies and targets (all correctly signed)
    Case("json-malformed-body", Req(body=b'{"MaxResults":'), 400, "SerializationException"),
    Case("json-array-body", Req(body=b"[]"), 400, "SerializationException"),
    Case("json-string-body", Req(body=b'"ListDatabases"'), 400, "SerializationException"),
    Case("json-invalid-utf8-body", Req(body=b'{"DatabaseName":"\xff\xfe"}', operation="DescribeDatabase"), 400,
         "SerializationException"),
    Case("json-wrong-member-type", Req(body=b'{"MaxResults":"abc"}'), 400, "SerializationException"),
    Case("json-wrong-nested-type", Req(operation="CreateDatabase", body=b'{"DatabaseName":"abc","Tags":{"k":"v"}}'),
         400, "SerializationException"),
    Case("json-unknown-operation", Req(target="Timestream_20181101.NoSuchOperation"), 404, "UnknownOperationException"),
    Case("json-other-service-target", Req(target="DynamoDB_20120810.ListTables"), 404, "UnknownOperationException"),
    Case("json-missing-required-member", Req(operation="DescribeDatabase"), 400, "ValidationException",
         "1 validation error detected: Value null at 'databaseName' failed to satisfy constraint: "
         "Member must not be null"),
    Case("json-oversized-body", Req(operation="CreateDatabase", body=BIG_BODY), 413, None),
    # --- awsQuery actions
    Case("sts-unknown-action", Req(QUERY, body=b"Action=NoSuchAction&Version=2011-06-15"), 400, "InvalidAction",
         "NoSuchAction"),
    Case("sts-missing-action", Req(QUERY, body=b"Version=2011-06-15"), 400, "MissingAction"),
]


def send(url: str, raw: Raw, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {k: v for k, v in raw.headers.items() if k.lower() != "content-length"}
        try:
            conn.request(raw.method, raw.path, body=raw.body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a server may answer an oversized body before reading all of it; the answer is still readable
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def parse_error(protocol: str, headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """(code, message) of an error response; also checks the protocol's content type."""
    if protocol == JSON:
        assert headers.get("content-type", "").startswith("application/x-amz-json-1.0"), headers
        doc = json.loads(body)
        assert isinstance(doc, dict) and "__type" in doc, body
        return doc["__type"].rsplit("#", 1)[-1], doc.get("Message", doc.get("message", ""))
    assert headers.get("content-type", "").startswith("text/xml"), headers
    root = ET.fromstring(body)
    return root.findtext(".//{*}Error/{*}Code") or "", root.findtext(".//{*}Error/{*}Message") or ""


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_request(server_url, case: Case):
    status, headers, body = send(server_url, case.request.build(server_url))
    shown = body[:500].decode(errors="replace")
    assert status == case.status, f"expected HTTP {case.status}, got {status}: {shown}"
    assert headers.get("x-amzn-requestid"), f"no x-amzn-RequestId header: {headers}"
    if case.code is not None:
        code, message = parse_error(case.request.protocol, headers, body)
        assert code == case.code, f"expected {case.code}, got {code}: {message!r}"
        if case.message is not None:
            assert case.message in message, f"{message!r} does not contain {case.message!r}"
        if case.message_prefix is not None:
            assert message.startswith(case.message_prefix), f"{message!r} does not start with {case.message_prefix!r}"

    # The server still answers a well-formed request of the same protocol.
    status, _, body = send(server_url, Req(case.request.protocol).build(server_url))
    assert status == 200, f"a valid request after the bad one got HTTP {status}: {body[:300]!r}"


def test_server_is_still_healthy(server_url, server):
    status, _, body = send(server_url, Raw("GET", "/health", {}, b""))
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert server.proc.poll() is None, "the server exited"
    assert "panicked" not in server.stderr_text(), server.stderr_text()
