"""The Karpenter step's AWS side (SPEC section 8); the in-cluster install is in `cluster.py`.

- the controller's role, trusted by EKS Pod Identity and bound to the `karpenter` service
  account, with the official v1.14.1 getting-started template's six controller policies
  (policies.py, with the deliberate differences listed there): it may launch, tag and
  terminate only instances and launch templates carrying this cluster's ownership tags,
  pass only the node role, manage only instance profiles tagged for this cluster, and read
  only this cluster and queue;
- the node role (worker, CNI, ECR pull-only and SSM core policies, as the template) with an
  EC2_LINUX access entry, so nodes Karpenter launches can join;
- the interruption queue and its five EventBridge rules, as the template;
- the EC2 Spot service-linked role when the account lacks it.
The subnets and the node security group already carry `karpenter.sh/discovery` (network and
EKS steps).
"""

from __future__ import annotations

from provisioner.constants import cluster_name, resource_name
from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps.common.keys import CLUSTER, KARPENTER_NODE_ROLE, addon_key
from provisioner.steps.eks.access import AccessEntry
from provisioner.steps.eks.pod_identity import PodIdentityAssociation
from provisioner.steps.iam import Role, ServiceLinkedRole, service_trust
from provisioner.steps.karpenter.policies import NODE_TRUST, controller_policies, node_managed_policies, with_plan_facts
from provisioner.steps.karpenter.queues import EventRule, Queue

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
CONTROLLER_ROLE = "karpenter/controller-role"
NODE_ROLE = KARPENTER_NODE_ROLE
QUEUE = "karpenter/interruption-queue"
POD_IDENTITY = "karpenter/pod-identity"
NODE_ACCESS_ENTRY = "karpenter/node-access-entry"

# EventBridge patterns Karpenter consumes (the official getting-started template, v1.14.1).
EVENT_RULES = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "capacity-reservation-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}


def controller_inline_policies(cluster: str, region: str) -> dict[str, dict]:
    """The controller role's policies (policies.py) with refs for the queue's and node role's
    ARNs and placeholders for the session's partition and account."""
    return with_plan_facts(
        controller_policies(cluster, region, {"ref": QUEUE, "attr": "arn"}, {"ref": NODE_ROLE, "attr": "arn"})
    )


def aws_resources(plan: Plan, region: str) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    cluster = cluster_name(plan.name)
    nodes: list[Resource] = [
        Queue(key=QUEUE, name=cluster),
        Role(
            key=NODE_ROLE,
            name=resource_name(plan.name, "karpenter-nodes"),
            trust=NODE_TRUST,
            managed_policies=node_managed_policies(),
        ),
        Role(
            key=CONTROLLER_ROLE,
            depends_on=(QUEUE, NODE_ROLE, CLUSTER),
            name=resource_name(plan.name, "karpenter-controller"),
            trust=service_trust("pods.eks.amazonaws.com"),
            inline_policies=controller_inline_policies(cluster, region),
        ),
        AccessEntry(
            key=NODE_ACCESS_ENTRY,
            depends_on=(CLUSTER, NODE_ROLE),
            cluster=CLUSTER,
            principal=NODE_ROLE,
            entry_type="EC2_LINUX",
        ),
        PodIdentityAssociation(
            key=POD_IDENTITY,
            depends_on=(CLUSTER, CONTROLLER_ROLE, addon_key("eks-pod-identity-agent")),
            cluster=CLUSTER,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role=CONTROLLER_ROLE,
        ),
        ServiceLinkedRole(
            key="karpenter/spot-service-linked-role", service="spot.amazonaws.com", role_name="AWSServiceRoleForEC2Spot"
        ),
    ]
    for name, pattern in EVENT_RULES.items():
        nodes.append(
            EventRule(
                key=f"karpenter/rule/{name}",
                depends_on=(QUEUE,),
                name=f"{cluster}-karpenter-{name}",
                pattern=pattern,
                queue=QUEUE,
            )
        )
    return nodes
