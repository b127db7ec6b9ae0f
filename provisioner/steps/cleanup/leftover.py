"""The sweep kinds' base: `Leftover` selects what carries the cluster's tags and no plan's
(see the package docstring), and the sweep nodes' keys and timeouts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from provisioner.aws.calls import call
from provisioner.aws.controllers import cluster_tag
from provisioner.aws.discovery import describe_plan_ec2
from provisioner.aws.errors import TEMPORARY_CODES
from provisioner.constants import TAG_PLAN, cluster_name
from provisioner.engine import Live, Resource, RunContext

KUBE_LOAD_BALANCERS = "cleanup/kube-load-balancers"
KARPENTER_INSTANCES = "cleanup/karpenter-instances"
LOAD_BALANCERS = "cleanup/load-balancers"
CLASSIC_LOAD_BALANCERS = "cleanup/classic-load-balancers"
TARGET_GROUPS = "cleanup/target-groups"
NETWORK_INTERFACES = "cleanup/network-interfaces"
SECURITY_GROUPS = "cleanup/security-groups"
LAUNCH_TEMPLATES = "cleanup/launch-templates"
INSTANCE_PROFILES = "cleanup/instance-profiles"

# How long a LoadBalancer Service or Ingress may take to go (its controller deletes the load
# balancer first). Past it the destroy goes on: the AWS-side sweep removes what is left.
KUBE_OBJECT_DELETE_TIMEOUT = 300.0
INSTANCE_TERMINATE_TIMEOUT = 900.0  # EC2 terminates within minutes; p95 well under this


def plan_vpc_id(ctx: RunContext) -> str | None:
    """The plan's VPC (by its ownership tags), or None once it is gone."""
    for vpc in describe_plan_ec2(ctx, "describe_vpcs", "Vpcs"):
        if vpc.get("State") != "deleting":
            return str(vpc["VpcId"])
    return None


@dataclass(kw_only=True)
class Leftover(Resource):
    """A sweep kind: `candidates` lists what might be the cluster's; `discover` keeps what
    carries one of the cluster's tags and no plan's."""

    sweep = True
    taggable = False
    create_seconds = 0.0
    delete_seconds = 5.0
    sweep_key: ClassVar[str]

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        """(id, tags, raw) of every resource of the kind that may be the cluster's."""
        raise NotImplementedError

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        cluster = cluster_name(ctx.plan_name)
        lives = []
        for id_, tags, raw in cls.candidates(ctx):
            why = cluster_tag(tags, cluster)
            if why and TAG_PLAN not in tags:
                lives.append(
                    Live(
                        key=cls.sweep_key,
                        id=id_,
                        fields=cls.observe({"cluster": cluster, "tagged": why}),
                        tags=tags,
                        raw=raw,
                    )
                )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """A sweep compares nothing: its one field says why it deletes what it found. `item`:
        the cluster, and the tag that names it (`cluster_tag`)."""
        return {"reason": f"made for cluster {item['cluster']}: tagged {item['tagged']}"}

    @classmethod
    def call(
        cls, ctx: RunContext, service: str, operation: str, *, temporary: Iterable[str] = (), **params: Any
    ) -> Any:
        """One call; "not found" is success (already gone), `temporary` codes are retried
        (with the shared ones)."""
        return call(
            ctx,
            service,
            operation,
            key=cls.sweep_key,
            missing_ok=True,
            temporary=TEMPORARY_CODES | frozenset(temporary),
            **params,
        )
