"""EKS bearer tokens: what `aws eks get-token` and aws-iam-authenticator hand to kubectl.

A token is `k8s-aws-v1.` + base64url (unpadded) of a presigned STS GetCallerIdentity URL
whose signature covers the header `x-k8s-aws-id: <cluster name>`. The cluster's
authenticator replays the URL to STS with that header; STS accepts it only if the signature
matches, which binds the token to one cluster and yields the caller's IAM identity.

- The presign validity parameter is 60 s, as aws-iam-authenticator and the AWS CLI send it.
  STS ignores it for this use: EKS accepts a token until 15 min after its X-Amz-Date
  (https://github.com/kubernetes-sigs/aws-iam-authenticator, pkg/token/token.go), so refresh
  tokens well before 15 min.
- The URL comes from the session's STS client for the cluster's region, so it points at the
  regional STS endpoint (or at `AWS_ENDPOINT_URL` / the sandbox, whose emulated clusters
  accept that host).
- A token is a credential: never log it or put it in an exception message.
"""

from __future__ import annotations

import base64
from typing import Any

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGN_EXPIRES_SECONDS = 60
# EKS's own limit, measured from the token's X-Amz-Date.
TOKEN_LIFETIME_SECONDS = 15 * 60

# The parameter name the two event handlers below pass the cluster name under; not an STS
# parameter, so it is taken out before botocore validates the call's parameters.
_CLUSTER_PARAM = "ClusterName"
_CONTEXT_KEY = "provisioner_eks_cluster"
_HANDLER_ID = "provisioner-eks-token"


def eks_token(session: Any, cluster_name: str, region: str | None = None) -> str:
    """A bearer token for the EKS cluster `cluster_name` (in `region`, default the session's).

    `session` is a `provisioner.aws.AwsSession`. The token is built locally (presigning makes
    no call); an EKS endpoint verifies it with STS.
    """
    if not cluster_name:
        raise ValueError("cluster_name is required")
    # A client of its own: the handlers below stay off the clients that make calls.
    sts = session.client("sts", region=region, purpose="eks-token")
    _register_handlers(sts)
    url = sts.generate_presigned_url(
        "get_caller_identity",
        Params={_CLUSTER_PARAM: cluster_name},
        ExpiresIn=PRESIGN_EXPIRES_SECONDS,
        HttpMethod="GET",
    )
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return TOKEN_PREFIX + encoded


def _register_handlers(sts: Any) -> None:
    # Same two hooks as the AWS CLI's `eks get-token`: move the cluster name from the call's
    # parameters into the request context, then into a header before SigV4 signs the request.
    # unique_id makes re-registration on the cached client a no-op.
    events = sts.meta.events
    events.register(
        "provide-client-params.sts.GetCallerIdentity",
        _take_cluster_name,
        unique_id=f"{_HANDLER_ID}-params",
    )
    events.register(
        "before-sign.sts.GetCallerIdentity",
        _inject_cluster_header,
        unique_id=f"{_HANDLER_ID}-header",
    )


def _take_cluster_name(params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
    if _CLUSTER_PARAM in params:
        context[_CONTEXT_KEY] = params.pop(_CLUSTER_PARAM)


def _inject_cluster_header(request: Any, **kwargs: Any) -> None:
    cluster = request.context.get(_CONTEXT_KEY)
    if cluster:
        request.headers[CLUSTER_ID_HEADER] = cluster
