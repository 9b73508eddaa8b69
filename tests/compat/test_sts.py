"""STS GetCallerIdentity: boto3, the AWS CLI, and presigned (query-string SigV4) URLs fetched with urllib."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from compat_support import ACCESS_KEY_ID, ACCOUNT_ID, ROOT_ARN, SECRET_ACCESS_KEY, make_client

NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    return fetch_request(urllib.request.Request(url))


def fetch_request(request: urllib.request.Request) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def xml_error(body: str) -> tuple[str, str]:
    root = ET.fromstring(body)
    code = root.findtext(".//{*}Error/{*}Code")
    message = root.findtext(".//{*}Error/{*}Message") or ""
    assert code, f"no <Error><Code> in {body!r}"
    return code, message


def presign(server_url: str, region: str = "us-east-1", expires: int = 60, **client_kwargs) -> str:
    client = make_client("sts", server_url, region, **client_kwargs)
    try:
        return client.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=expires, HttpMethod="GET")
    finally:
        client.close()


def with_param(url: str, name: str, change) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, change(v) if k == name else v) for k, v in query]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_boto3_get_caller_identity(client_factory, region):
    resp = client_factory("sts", region=region).get_caller_identity()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["RequestId"]
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert (resp["UserId"], resp["Account"], resp["Arn"]) == (ACCOUNT_ID, ACCOUNT_ID, ROOT_ARN)


def test_cli_get_caller_identity(aws_cli):
    result = aws_cli("sts", "get-caller-identity", "--region", "eu-west-1")
    assert result.rc == 0, result.stderr
    assert result.out == {"UserId": ACCOUNT_ID, "Account": ACCOUNT_ID, "Arn": ROOT_ARN}


def test_header_signed_get_request(server_url):
    """awsQuery also accepts GET with the parameters in the query string and SigV4 in the Authorization header."""
    request = AWSRequest(method="GET", url=f"{server_url}/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "sts", "us-east-1").add_auth(request)
    prepared = request.prepare()
    status, headers, body = fetch_request(urllib.request.Request(prepared.url, headers=dict(prepared.headers.items())))
    assert status == 200, body
    assert ET.fromstring(body).findtext(".//sts:Arn", namespaces=NS) == ROOT_ARN


def test_presigned_get_caller_identity(server_url):
    url = presign(server_url)
    assert "X-Amz-Signature=" in url and "Authorization" not in url
    status, headers, body = fetch(url)
    assert status == 200, body
    assert headers.get("x-amzn-requestid")
    root = ET.fromstring(body)
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}GetCallerIdentityResponse"
    result = root.find("sts:GetCallerIdentityResult", NS)
    assert result is not None, body
    assert result.findtext("sts:Arn", namespaces=NS) == ROOT_ARN
    assert result.findtext("sts:Account", namespaces=NS) == ACCOUNT_ID
    assert result.findtext("sts:UserId", namespaces=NS) == ACCOUNT_ID
    assert root.findtext("sts:ResponseMetadata/sts:RequestId", namespaces=NS) == headers["x-amzn-requestid"]
    # A presigned URL can be used more than once until it expires.
    assert fetch(url)[0] == 200


def test_presigned_url_with_changed_signature(server_url):
    url = presign(server_url)
    flip = lambda sig: sig[:-1] + ("0" if sig[-1] != "0" else "1")  # noqa: E731
    status, headers, body = fetch(with_param(url, "X-Amz-Signature", flip))
    assert status == 403, body
    assert headers.get("x-amzn-requestid")
    code, message = xml_error(body)
    assert code == "SignatureDoesNotMatch"
    assert message.startswith("The request signature we calculated does not match the signature you provided."), message


def test_presigned_url_with_changed_action(server_url):
    status, _, body = fetch(with_param(presign(server_url), "Action", lambda _: "GetSessionToken"))
    assert status == 403, body
    assert xml_error(body)[0] == "SignatureDoesNotMatch"


def test_presigned_url_with_wrong_secret_or_unknown_key(server_url):
    status, _, body = fetch(presign(server_url, aws_secret_access_key="not-the-secret-at-all-0000000000000000"))
    assert (status, xml_error(body)[0]) == (403, "SignatureDoesNotMatch"), body
    status, _, body = fetch(presign(server_url, aws_access_key_id="AKIAUNKNOWNKEY000000"))
    assert (status, xml_error(body)[0]) == (403, "InvalidClientTokenId"), body
    assert ACCESS_KEY_ID not in body


def test_expired_presigned_url(server_url):
    url = presign(server_url, expires=1)
    time.sleep(2.1)
    status, headers, body = fetch(url)
    assert status == 403, body
    assert headers.get("x-amzn-requestid")
    code, message = xml_error(body)
    assert "expired" in message.lower(), f"{code}: {message}"
