"""TagResource, UntagResource and ListTagsForResource for every EKS ARN (moto knows only clusters)."""

from __future__ import annotations

import re

from provisioner.sandbox.eks.backends import eks_backend
from provisioner.sandbox.eks.exceptions import EksError
from provisioner.sandbox.eks.models import cluster_states
from provisioner.sandbox.eks.protocol import Reply, Request


def list_tags_for_resource(req: Request, arn: str) -> Reply:
    return Reply(body={"tags": dict(_taggable(req, arn))})


def tag_resource(req: Request, arn: str) -> Reply:
    tags = _taggable(req, arn)
    new = req.json().get("tags") or {}
    if not isinstance(new, dict) or not new:
        raise EksError("BadRequestException", "tags must be a non-empty map")
    if any(str(key).lower().startswith("aws:") for key in new):
        raise EksError("BadRequestException", "Tag keys starting with 'aws:' are reserved for AWS use")
    tags.update({str(k): str(v) for k, v in new.items()})
    return Reply(body={})


def untag_resource(req: Request, arn: str) -> Reply:
    tags = _taggable(req, arn)
    keys = req.query.get("tagKeys", [])
    if not keys:
        raise EksError("BadRequestException", "tagKeys is required")
    for key in keys:
        tags.pop(key, None)
    return Reply(body={})


_EKS_ARN = re.compile(r"arn:aws[a-z-]*:eks:([a-z0-9-]+):(\d{12}):([a-z-]+)/(.+)")


def _taggable(req: Request, arn: str) -> dict[str, str]:
    """The live tag map of the EKS resource an ARN names (moto's objects for clusters and node
    groups; this package's records for the rest)."""
    match = _EKS_ARN.fullmatch(arn)
    if match is None:
        raise EksError("BadRequestException", f"{arn} is not a valid EKS resource ARN")
    region, account, kind, rest = match.groups()
    parts = rest.split("/")
    not_found = EksError("NotFoundException", "Resource was not found")
    cluster = eks_backend(account, region).clusters.get(parts[0])
    if cluster is None:
        raise not_found
    if kind == "cluster" and len(parts) == 1:
        if cluster.tags is None:
            cluster.tags = {}
        return cluster.tags
    if (
        kind == "nodegroup"
        and len(parts) >= 2
        and parts[1] in cluster.nodegroups
        and cluster.nodegroups[parts[1]].arn == arn
    ):
        group = cluster.nodegroups[parts[1]]
        if group.tags is None:
            group.tags = {}
        return group.tags
    state = cluster_states.get((account, region, parts[0]))
    if state is None or state.obj is not cluster:
        raise not_found
    if kind == "addon":
        addon = state.addons.get(parts[1]) if len(parts) >= 2 else None
        if addon is not None and addon.arn == arn:
            return addon.tags
    elif kind == "access-entry":
        for entry in state.entries.values():
            if entry.arn == arn:
                return entry.tags
    elif kind == "podidentityassociation":
        association = state.associations.get(parts[-1])
        if association is not None and association.arn == arn:
            return association.tags
    raise not_found
