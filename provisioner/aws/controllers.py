"""What the controllers inside an EKS cluster leave in the account, and how to recognise it.

The in-tree cloud provider, the AWS Load Balancer Controller, Karpenter, EKS and the VPC CNI
tag what they make with the cluster: `kubernetes.io/cluster/<cluster>` carries the name in
its key, the others carry it as the value of a fixed key. The destroy's sweep (steps/cleanup)
deletes what carries these tags; aws/blockers.py names them as the owner of what keeps a VPC.
"""

from __future__ import annotations

from collections.abc import Mapping

CLUSTER_KEY_PREFIX = "kubernetes.io/cluster/"  # `kubernetes.io/cluster/<cluster>=owned|shared`
# Keys whose value is the cluster's name: the AWS Load Balancer Controller, Karpenter (two),
# EKS (two spellings) and the VPC CNI, in the order a resource's owner is named.
CLUSTER_VALUE_TAGS = (
    "elbv2.k8s.aws/cluster",
    "karpenter.k8s.aws/cluster",
    "karpenter.sh/managed-by",
    "eks:eks-cluster-name",
    "aws:eks:cluster-name",
    "cluster.k8s.amazonaws.com/name",
)
# Instance states in which an instance still holds its interfaces (all but `terminated`).
ALIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]


def cluster_tag(tags: Mapping[str, str], cluster: str) -> str | None:
    """The tag (`key=value`) that marks a resource as made for `cluster`, or None."""
    if tags.get(f"{CLUSTER_KEY_PREFIX}{cluster}") == "owned":
        return f"{CLUSTER_KEY_PREFIX}{cluster}=owned"
    for key in CLUSTER_VALUE_TAGS:
        if tags.get(key) == cluster:
            return f"{key}={cluster}"
    return None
