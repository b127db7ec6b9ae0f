"""Reaching a plan's EKS cluster from a step: endpoint and CA, a client, errors as the engine's.

The API is reached exactly as on EKS: endpoint and CA from the cluster (`eks:cluster` refs
when it was created in this run, else its discovery record), a token from STS (`eks_token`).
No cluster, or one without an endpoint yet: `api_for` answers None, so discovery finds
nothing in it and a plan shows creates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.eks_token import eks_token
from provisioner.constants import cluster_name
from provisioner.engine import PermanentError, RunContext, TemporaryError
from provisioner.kube import client as kube
from provisioner.kube.client import KubeApiError
from provisioner.steps.common.keys import CLUSTER
from provisioner.steps.eks.clusters import Cluster

# --- reaching the cluster -------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    name: str
    endpoint: str
    ca: str


def connection(ctx: RunContext) -> Connection | None:
    """Endpoint and CA of the plan's cluster, or None while there is none to talk to."""
    name = cluster_name(ctx.plan_name)
    endpoint = ca = None
    try:
        endpoint, ca = ctx.refs.get(CLUSTER, "endpoint"), ctx.refs.get(CLUSTER, "certificate_authority")
    except KeyError:  # the cluster node has not run (yet) in this run: use discovery
        pass
    if not (isinstance(endpoint, str) and isinstance(ca, str)):
        endpoint = ca = None
        for live in ctx.live(Cluster):
            status = (live.raw or {}).get("status")
            if live.key == CLUSTER and status not in ("CREATING", "FAILED", "DELETING"):
                endpoint, ca, name = live.outputs.get("endpoint"), live.outputs.get("certificate_authority"), live.id
    if not (isinstance(endpoint, str) and endpoint and isinstance(ca, str) and ca):
        return None
    return Connection(name, endpoint, ca)


def api_for(ctx: RunContext) -> Any | None:
    """A Kubernetes client for the cluster (one per run and endpoint), or None."""
    conn = connection(ctx)
    if conn is None:
        return None
    region = ctx.region

    def make() -> Any:
        return kube.api_client(conn.endpoint, conn.ca, lambda: eks_token(ctx.aws, conn.name, region))

    return ctx.cached(("kube-api", conn.endpoint), make)


def require_api(ctx: RunContext, key: str) -> Any:
    api = api_for(ctx)
    if api is None:
        raise TemporaryError(
            f"cluster {cluster_name(ctx.plan_name)} has no reachable API endpoint yet", key=key, delay=10
        )
    return api


def kube_error(exc: KubeApiError, key: str | None, what: str) -> Exception:
    """A client error as the engine's taxonomy: retry what may pass (no answer, throttling,
    server errors, credentials not yet known to a brand-new cluster), fail the rest."""
    message = f"{what}: Kubernetes API answered {exc.status} {exc.reason}: {exc.message}"
    if exc.status in (0, 429, 500, 502, 503, 504):
        return TemporaryError(
            message,
            key=key,
            code=exc.reason,
            delay=10,
            hint="the cluster's API server may still be starting; the step retries",
        )
    if exc.status in (401, 403):
        return TemporaryError(
            message,
            key=key,
            code=exc.reason,
            delay=10,
            hint="the caller needs an EKS access entry with cluster admin (eks/access/tool-admin); "
            "new entries take a few seconds to apply",
        )
    return PermanentError(message, key=key, code=exc.reason)


def call(key: str | None, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except KubeApiError as exc:
        raise kube_error(exc, key, what) from None


# --- kinds ----------------------------------------------------------------------------------
