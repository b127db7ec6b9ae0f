"""The cleanup step: what controllers inside the cluster leave behind, swept by `destroy`.

A Service of type LoadBalancer, an Ingress, a Karpenter node: controllers in the cluster
make AWS resources the plan never declared, and they keep a VPC from being deleted (the
classic stuck teardown of eksctl and Terraform). These kinds are sweep kinds
(`Resource.sweep`): `apply` never reads them, `plan --destroy` lists what they find, and
`destroy` deletes it, in SPEC section 7's order:

1. `cleanup/kube-load-balancers`: LoadBalancer Services and Ingresses are deleted while the
   cluster, its nodes and controllers still run, so the load balancer controller (or the
   in-tree cloud provider) removes its load balancers itself.
2. NodePools are deleted (they wait for Karpenter's NodeClaims to go), then
   `cleanup/karpenter-instances` terminates any instance still tagged as this cluster's
   Karpenter node and waits until they are terminated; only then the EC2NodeClass, the
   controller, the node group and the cluster go.
3. After the cluster is gone (nothing can make more), the AWS-side sweeps: load balancers
   (ELBv2 and classic), target groups, available network interfaces, security groups,
   launch templates and instance profiles, all before the subnets, security groups, roles
   and VPC of the plan that they would block.

What is swept is selected by this cluster's tags only, the ones those controllers write:
`kubernetes.io/cluster/<cluster>=owned` (in-tree cloud provider, Karpenter),
`elbv2.k8s.aws/cluster`, `karpenter.k8s.aws/cluster`, `karpenter.sh/managed-by`,
`eks:eks-cluster-name`, `aws:eks:cluster-name` and `cluster.k8s.amazonaws.com/name` (VPC CNI)
with the cluster's name as value (aws/controllers.py). Anything carrying a `provisioner:plan` tag is a plan's own
resource (a node of this plan, or another plan's) and is never swept; anything without one
of these tags is never touched, whatever its name or VPC.

Modules: `leftover.py` (the sweep kinds' base, keys and timeouts), `in_cluster.py` (steps 1
and 2), `after_cluster.py` (step 3); `resources` here orders them against the plan's nodes.
"""

from __future__ import annotations

from provisioner.engine import Resource
from provisioner.steps.cleanup.after_cluster import (
    ClassicLoadBalancers,
    InstanceProfiles,
    LaunchTemplates,
    LoadBalancers,
    NetworkInterfaces,
    SecurityGroups,
    TargetGroups,
)
from provisioner.steps.cleanup.in_cluster import KarpenterInstances, KubeLoadBalancers
from provisioner.steps.cleanup.leftover import (
    CLASSIC_LOAD_BALANCERS,
    INSTANCE_PROFILES,
    KARPENTER_INSTANCES,
    KUBE_LOAD_BALANCERS,
    LAUNCH_TEMPLATES,
    LOAD_BALANCERS,
    NETWORK_INTERFACES,
    SECURITY_GROUPS,
    TARGET_GROUPS,
)
from provisioner.steps.common.keys import (
    CLUSTER,
    CLUSTER_SG,
    KARPENTER_NODE_ROLE,
    NODE_ROLE,
    NODE_SG,
    NODEGROUP,
    TOOL_ACCESS,
    VPC,
    addon_key,
)

# --- the graph ------------------------------------------------------------------------------


def resources(nodes: list[Resource]) -> list[Resource]:
    """The sweep nodes of an environment, ordered against its other `nodes` (see the module
    docstring). `depends_on` here means "deleted after this sweep", `destroy_after` "deleted
    before it"; apply never runs these nodes."""
    keys = {node.key for node in nodes}
    of_type = lambda *types: tuple(n.key for n in nodes if n.type in types)
    in_cluster = of_type("k8s:object", "k8s:crd", "k8s:deployment", "k8s:nodepool", "k8s:ec2nodeclass")
    node_pools = of_type("k8s:nodepool")
    subnets = of_type("ec2:subnet")
    groups = tuple(k for k in (CLUSTER_SG, NODE_SG) if k in keys)
    addons = tuple(k for k in keys if k.startswith(addon_key("")))
    cluster_side = tuple(k for k in (CLUSTER, TOOL_ACCESS, NODEGROUP) if k in keys)
    after_cluster = (CLUSTER, KUBE_LOAD_BALANCERS, KARPENTER_INSTANCES)
    vpc_side = (VPC, *subnets, *groups)
    return [
        KubeLoadBalancers(key=KUBE_LOAD_BALANCERS, depends_on=(*cluster_side, *addons, *in_cluster)),
        KarpenterInstances(
            key=KARPENTER_INSTANCES,
            destroy_after=(KUBE_LOAD_BALANCERS, *node_pools),
            depends_on=(
                CLUSTER,
                *of_type("k8s:ec2nodeclass", "k8s:deployment"),
                *subnets,
                *groups,
                *(k for k in (KARPENTER_NODE_ROLE,) if k in keys),
            ),
        ),
        LoadBalancers(key=LOAD_BALANCERS, destroy_after=after_cluster, depends_on=vpc_side),
        ClassicLoadBalancers(key=CLASSIC_LOAD_BALANCERS, destroy_after=after_cluster, depends_on=vpc_side),
        TargetGroups(key=TARGET_GROUPS, destroy_after=(*after_cluster, LOAD_BALANCERS), depends_on=(VPC,)),
        NetworkInterfaces(
            key=NETWORK_INTERFACES,
            destroy_after=(*after_cluster, LOAD_BALANCERS, CLASSIC_LOAD_BALANCERS),
            depends_on=vpc_side,
        ),
        SecurityGroups(
            key=SECURITY_GROUPS,
            destroy_after=(*after_cluster, LOAD_BALANCERS, CLASSIC_LOAD_BALANCERS, NETWORK_INTERFACES),
            depends_on=(VPC, *groups),
        ),
        LaunchTemplates(key=LAUNCH_TEMPLATES, destroy_after=after_cluster),
        InstanceProfiles(
            key=INSTANCE_PROFILES,
            destroy_after=after_cluster,
            depends_on=tuple(k for k in (KARPENTER_NODE_ROLE, NODE_ROLE) if k in keys),
        ),
    ]
