"""EKS tokens: the presigned STS GetCallerIdentity URL that `aws eks get-token` makes."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from provisioner.aws import AwsSession
from provisioner.aws.eks_token import eks_token


def _url(token: str) -> urllib.parse.SplitResult:
    assert token.startswith("k8s-aws-v1.")
    encoded = token[len("k8s-aws-v1.") :]
    assert "=" not in encoded  # unpadded, as aws-iam-authenticator expects
    return urllib.parse.urlsplit(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())


def test_token_is_a_presigned_get_caller_identity_signing_the_cluster_header(session_for: Any, aws: str) -> None:
    url = _url(eks_token(session_for("us-east-1"), "dev-eks"))
    query = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}" == aws  # the sandbox's STS
    assert query["Action"] == "GetCallerIdentity" and query["Version"] == "2011-06-15"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert query["X-Amz-Credential"].split("/")[2:4] == ["us-east-1", "sts"]


def test_token_uses_the_regional_sts_endpoint_without_calling_it() -> None:
    session = AwsSession(
        region="eu-west-1",
        credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )
    url = _url(eks_token(session, "prod-eks"))
    assert url.scheme == "https" and url.hostname == "sts.eu-west-1.amazonaws.com"
    assert _url(eks_token(session, "prod-eks", region="ap-southeast-2")).hostname == "sts.ap-southeast-2.amazonaws.com"
    assert session.total_calls() == 0  # presigning is local


def test_tokens_differ_per_cluster_and_leave_the_session_clients_alone(session_for: Any) -> None:
    session = session_for("us-east-1")
    first, second = eks_token(session, "a"), eks_token(session, "b")
    assert (
        dict(urllib.parse.parse_qsl(_url(first).query))["X-Amz-Signature"]
        != dict(urllib.parse.parse_qsl(_url(second).query))["X-Amz-Signature"]
    )
    # The STS client that makes calls is not the one carrying the token handlers.
    assert session.client("sts").get_caller_identity()["Account"]
