"""The EKS step: cluster, IAM, KMS, add-ons, access and the system node group.

Security groups (kept free of cycles, so each is one node):

- `eks/cluster-security-group` is added to the control plane's ENIs: HTTPS (443) from inside
  the VPC only. (Allowing it from the node group instead would make the two groups
  reference each other, a cycle; the VPC range is just as closed to the outside.)
- `eks/node-security-group` is on every node, system and Karpenter's: all traffic between
  nodes, and from the control plane to kubelets and webhooks; egress anywhere (through NAT).
  It carries `karpenter.sh/discovery`, so it is the one group the EC2NodeClass selects, and
  it is the group the database admits on 5432.
"""

from __future__ import annotations

from provisioner.constants import cluster_name, resource_name
from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps.network import VPC
from provisioner.steps.network.security_groups import ALL, Rule, SecurityGroup

CLUSTER_SG = "eks/cluster-security-group"
NODE_SG = "eks/node-security-group"


def security_groups(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    cluster = cluster_name(plan.name)
    return [
        SecurityGroup(
            key=CLUSTER_SG, depends_on=(VPC,), vpc=VPC, name=resource_name(plan.name, "eks-cluster"),
            description=f"EKS control plane of {cluster}: HTTPS from inside the VPC",
            ingress=(Rule("tcp", spec.network.cidr, 443, 443),),
            tags={"Name": f"{cluster}-cluster"},
        ),
        SecurityGroup(
            key=NODE_SG, depends_on=(VPC, CLUSTER_SG), vpc=VPC, name=resource_name(plan.name, "eks-nodes"),
            description=f"Nodes of {cluster}: node to node, control plane to kubelet and webhooks",
            ingress=(
                Rule(ALL, "self"),
                Rule("tcp", CLUSTER_SG, 443, 443),
                Rule("tcp", CLUSTER_SG, 10250, 10250),
                Rule("tcp", CLUSTER_SG, 1025, 65535),
            ),
            tags={"Name": f"{cluster}-nodes", "karpenter.sh/discovery": cluster},
        ),
    ]


def resources(plan: Plan) -> list[Resource]:
    return security_groups(plan)
