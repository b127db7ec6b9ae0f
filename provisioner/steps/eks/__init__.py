"""The EKS step: cluster, IAM, KMS, add-ons, access and the system node group.

    eks/kms-key -> eks/cluster-role ─┐
    network/subnet/private-* ────────┼-> eks/cluster -> eks/addon/{vpc-cni,kube-proxy,eks-pod-identity-agent}
    eks/cluster-security-group ──────┘        │          eks/oidc-provider, eks/access/*
                                              └-> eks/nodegroup/system (also waits for vpc-cni,
                                                   the private routes, its role, launch template
                                                   and access entry) -> eks/addon/coredns

The cluster also waits for its control-plane log group (made first, with retention: logs.py).
The cluster waits for subnets, its security group, role and key, never for NAT gateways;
only the node group needs the private routes (nodes pull images through NAT).

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
from provisioner.steps.common.keys import (
    CLUSTER,
    CLUSTER_SG,
    NODE_ROLE,
    NODE_SG,
    NODEGROUP,
    TOOL_ACCESS,
    VPC,
    addon_key,
    private_route_keys,
    private_subnet_keys,
)
from provisioner.steps.eks.access import CALLER, CLUSTER_ADMIN, AccessEntry, PolicyAssociation
from provisioner.steps.eks.addons import Addon, AddonVersions
from provisioner.steps.eks.clusters import Cluster
from provisioner.steps.eks.launch_templates import LaunchTemplate
from provisioner.steps.eks.logs import ControlPlaneLogGroup, control_plane_log_group
from provisioner.steps.eks.nodegroups import Nodegroup
from provisioner.steps.eks.oidc import OidcProvider
from provisioner.steps.iam import Role, service_trust, with_boundary
from provisioner.steps.iam.roles import AWS_MANAGED_POLICY
from provisioner.steps.kms import KmsKey
from provisioner.steps.network.security_groups import ALL, Rule, SecurityGroup

KMS_KEY = "eks/kms-key"
CLUSTER_ROLE = "eks/cluster-role"
LOG_GROUP = "eks/log-group"
ADDON_VERSIONS = "eks/addon-versions"
LAUNCH_TEMPLATE = "eks/launch-template/system"
ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns")

SYSTEM_LABELS = {"node.innovate.io/pool": "system"}
SYSTEM_TAINT = ("CriticalAddonsOnly", "true", "NO_SCHEDULE")

MANAGED = AWS_MANAGED_POLICY  # completed with the session's partition by iam:role


def security_groups(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    cluster = cluster_name(plan.name)
    return [
        SecurityGroup(
            key=CLUSTER_SG,
            depends_on=(VPC,),
            vpc=VPC,
            name=resource_name(plan.name, "eks-cluster"),
            description=f"EKS control plane of {cluster}: HTTPS from inside the VPC",
            ingress=(Rule("tcp", spec.network.cidr, 443, 443),),
            tags={"Name": f"{cluster}-cluster"},
        ),
        SecurityGroup(
            key=NODE_SG,
            depends_on=(VPC, CLUSTER_SG),
            vpc=VPC,
            name=resource_name(plan.name, "eks-nodes"),
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


# Where the applications run; the CI deploy role may edit only these namespaces.
APPLICATION_NAMESPACES = ("backend", "frontend")
EDIT_POLICY = "AmazonEKSEditPolicy"  # an access policy, by name (its ARN takes the partition)


def ci_access_entry(deploy_role: str = "ci/deploy-role") -> AccessEntry:
    """The Shared Services CI's deploy role may edit the application namespaces, nothing else."""
    return AccessEntry(
        key="eks/access/ci-deploy",
        depends_on=(CLUSTER, deploy_role),
        cluster=CLUSTER,
        principal=deploy_role,
        policies=(PolicyAssociation(EDIT_POLICY, APPLICATION_NAMESPACES),),
    )


def resources(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    eks = spec.eks
    cluster = cluster_name(plan.name)
    private = tuple(private_subnet_keys(spec))
    pinned = eks.addons.model_dump(by_alias=True)
    admin_keys = [f"eks/access/admin-{index + 1}" for index in range(len(eks.admin_roles))]
    nodes: list[Resource] = [
        *security_groups(plan),
        KmsKey(key=KMS_KEY, name="eks-secrets", description=f"Kubernetes secrets of {cluster}"),
        Role(
            key=CLUSTER_ROLE,
            depends_on=(KMS_KEY,),
            name=resource_name(plan.name, "eks-cluster"),
            trust=service_trust("eks.amazonaws.com"),
            managed_policies=(f"{MANAGED}AmazonEKSClusterPolicy",),
            inline_policies={
                "secrets-encryption": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "kms:Encrypt",
                                "kms:Decrypt",
                                "kms:DescribeKey",
                                "kms:ListGrants",
                                "kms:CreateGrant",
                            ],
                            "Resource": {"ref": KMS_KEY, "attr": "arn"},
                        }
                    ],
                }
            },
        ),
        Role(
            key=NODE_ROLE,
            name=resource_name(plan.name, "eks-system-nodes"),
            trust=service_trust("ec2.amazonaws.com"),
            managed_policies=tuple(
                f"{MANAGED}{p}"
                for p in (
                    "AmazonEKSWorkerNodePolicy",
                    "AmazonEKS_CNI_Policy",
                    "AmazonEC2ContainerRegistryPullOnly",
                    "AmazonSSMManagedInstanceCore",
                )
            ),
        ),
        ControlPlaneLogGroup(
            key=LOG_GROUP, name=control_plane_log_group(cluster), retention_days=eks.log_retention_days
        ),
        Cluster(
            key=CLUSTER,
            depends_on=(CLUSTER_ROLE, KMS_KEY, CLUSTER_SG, LOG_GROUP, VPC, *private),
            name=cluster,
            version=eks.version,
            role=CLUSTER_ROLE,
            subnets=private,
            subnet_zones=tuple(spec.network.availability_zones),
            vpc=VPC,
            security_group=CLUSTER_SG,
            kms_key=KMS_KEY,
            endpoint_private=eks.endpoint.private,
            endpoint_public=eks.endpoint.public,
            public_cidrs=tuple(eks.endpoint.public_cidrs),
            log_types=tuple(eks.logging),
            support_type=eks.support_type,
        ),
        OidcProvider(key="eks/oidc-provider", depends_on=(CLUSTER,), cluster=CLUSTER),
        AddonVersions(key=ADDON_VERSIONS, kubernetes_version=eks.version, addons=ADDONS),
        # The operator's entry (whoever runs the tool); if the caller is also one of the plan's
        # admin_roles, that node makes the one entry EKS allows per principal (access.py).
        AccessEntry(
            key=TOOL_ACCESS,
            depends_on=(CLUSTER, *admin_keys),
            cluster=CLUSTER,
            principal=CALLER,
            policies=(PolicyAssociation(CLUSTER_ADMIN),),
            defer_to=dict(zip(eks.admin_roles, admin_keys, strict=False)),
        ),
        AccessEntry(
            key="eks/access/system-nodes",
            depends_on=(CLUSTER, NODE_ROLE),
            cluster=CLUSTER,
            principal=NODE_ROLE,
            entry_type="EC2_LINUX",
        ),
        LaunchTemplate(
            key=LAUNCH_TEMPLATE,
            depends_on=(NODE_SG,),
            name=resource_name(plan.name, "eks-system-nodes"),
            security_groups=(NODE_SG,),
            volume_gib=eks.system_nodes.disk_size_gib,
            instance_tags={"Name": f"{cluster}-system"},
        ),
        Nodegroup(
            key=NODEGROUP,
            depends_on=(
                CLUSTER,
                NODE_ROLE,
                LAUNCH_TEMPLATE,
                addon_key("vpc-cni"),
                "eks/access/system-nodes",
                *private,
                *private_route_keys(spec),
            ),
            cluster=CLUSTER,
            name="system",
            role=NODE_ROLE,
            subnets=private,
            launch_template=LAUNCH_TEMPLATE,
            instance_types=tuple(eks.system_nodes.instance_types),
            capacity_type=eks.system_nodes.capacity_type,
            min_size=eks.system_nodes.min_size,
            desired_size=eks.system_nodes.desired_size,
            max_size=eks.system_nodes.max_size,
            labels=dict(SYSTEM_LABELS),
            taints=(SYSTEM_TAINT,),
            kubernetes_version=eks.version,
        ),
    ]
    for role_arn, key in zip(eks.admin_roles, admin_keys, strict=False):
        nodes.append(
            AccessEntry(
                key=key,
                depends_on=(CLUSTER,),
                cluster=CLUSTER,
                principal=role_arn,
                policies=(PolicyAssociation(CLUSTER_ADMIN),),
                caller_policies=(PolicyAssociation(CLUSTER_ADMIN),),
            )
        )
    for name in ADDONS:
        deps = (CLUSTER, ADDON_VERSIONS) + ((NODEGROUP,) if name == "coredns" else ())
        nodes.append(
            Addon(
                key=addon_key(name),
                depends_on=deps,
                cluster=CLUSTER,
                name=name,
                versions=ADDON_VERSIONS,
                pinned_version=pinned.get(name),
            )
        )
    return with_boundary(nodes)
