"""What the kinds that live inside the plan's EKS cluster share: they are listed per cluster
(ListAddons, ListAccessEntries, ListPodIdentityAssociations, ListNodegroups take its name) and
described one by one, through the generic discover of steps/common/listed.py."""

from __future__ import annotations

from provisioner.engine import RunContext
from provisioner.steps.common.listed import ListedResource
from provisioner.steps.eks.clusters import Cluster


class InCluster(ListedResource):
    """A `ListedResource` whose scopes are the clusters discovery found (one per plan); the
    node names its cluster's node key in `cluster`."""

    cluster: str

    def container(self) -> str | None:
        return self.cluster  # it lives in the cluster, and goes with it

    @classmethod
    def scopes(cls, ctx: RunContext) -> list[str | None]:
        return [cluster.id for cluster in ctx.live(Cluster)]
