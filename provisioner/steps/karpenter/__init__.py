"""The Karpenter step: AWS prerequisites here, the in-cluster install in `cluster.py`.

AWS side (SPEC section 8):
- the controller's role, trusted by EKS Pod Identity and bound to the `karpenter` service
  account, with a policy scoped the way Karpenter's reference CloudFormation scopes it: it
  may launch, tag and terminate only instances and launch templates carrying this cluster's
  ownership tags, pass only the node role, and read only this cluster and queue;
- the node role (worker, CNI, ECR pull-only and SSM core policies) with an EC2_LINUX access
  entry, so nodes Karpenter launches can join;
- the interruption queue and its five EventBridge rules;
- the EC2 Spot service-linked role when the account lacks it.
The subnets and the node security group already carry `karpenter.sh/discovery` (network and
EKS steps).
"""

from __future__ import annotations

from provisioner.constants import cluster_name, resource_name
from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps.eks import CLUSTER, MANAGED, _trust
from provisioner.steps.eks.access import AccessEntry
from provisioner.steps.eks.pod_identity import PodIdentityAssociation
from provisioner.steps.iam import Role, ServiceLinkedRole
from provisioner.steps.karpenter.queues import EventRule, Queue

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
CONTROLLER_ROLE = "karpenter/controller-role"
NODE_ROLE = "karpenter/node-role"
QUEUE = "karpenter/interruption-queue"

# EventBridge patterns Karpenter consumes (its reference CloudFormation, v1).
EVENT_RULES = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "capacity-reservation-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"]},
}


def controller_policy(cluster: str, region: str, queue_key: str, node_role_key: str) -> dict:
    """The controller's permissions; refs in it ({"ref": key, "attr": ...}) are resolved at plan time."""
    ec2 = f"arn:aws:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster}
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*",
                      f"{ec2}:*:capacity-reservation/*"]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"], "Resource": f"{ec2}:*:launch-template/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
         "Resource": [f"{ec2}:*:fleet/*", f"{ec2}:*:instance/*", f"{ec2}:*:volume/*", f"{ec2}:*:network-interface/*",
                      f"{ec2}:*:launch-template/*", f"{ec2}:*:spot-instances-request/*"],
         "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": [f"{ec2}:*:fleet/*", f"{ec2}:*:instance/*", f"{ec2}:*:volume/*", f"{ec2}:*:network-interface/*",
                      f"{ec2}:*:launch-template/*", f"{ec2}:*:spot-instances-request/*"],
         "Condition": {"StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": f"{ec2}:*:instance/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow", "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow",
         "Action": ["ec2:DescribeAvailabilityZones", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
                    "ec2:DescribeCapacityReservations"],
         "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:aws:ssm:{region}::parameter/aws/service/*"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow",
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], "Resource": {"ref": queue_key, "attr": "arn"}},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": {"ref": node_role_key, "attr": "arn"},
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}}},
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow",
         "Action": ["iam:CreateInstanceProfile"], "Resource": "arn:aws:iam::*:instance-profile/*",
         "Condition": {"StringEquals": {**owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileTagActions", "Effect": "Allow", "Action": ["iam:TagInstanceProfile"],
         "Resource": "arn:aws:iam::*:instance-profile/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                                        "aws:ResourceTag/topology.kubernetes.io/region": region, **owned,
                                        "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                                      "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow",
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
         "Resource": "arn:aws:iam::*:instance-profile/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                                        "aws:ResourceTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Action": "iam:GetInstanceProfile",
         "Resource": "arn:aws:iam::*:instance-profile/*"},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": {"ref": CLUSTER, "attr": "arn"}},
    ]}


def aws_resources(plan: Plan, region: str) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    cluster = cluster_name(plan.name)
    nodes: list[Resource] = [
        Queue(key=QUEUE, name=cluster),
        Role(key=NODE_ROLE, name=resource_name(plan.name, "karpenter-nodes"), trust=_trust("ec2.amazonaws.com"),
             managed_policies=tuple(f"{MANAGED}{p}" for p in (
                 "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly",
                 "AmazonSSMManagedInstanceCore"))),
        Role(key=CONTROLLER_ROLE, depends_on=(QUEUE, NODE_ROLE, CLUSTER), name=resource_name(plan.name, "karpenter-controller"),
             trust=_trust("pods.eks.amazonaws.com"),
             inline_policies={"karpenter-controller": controller_policy(cluster, region, QUEUE, NODE_ROLE)}),
        AccessEntry(key="karpenter/node-access-entry", depends_on=(CLUSTER, NODE_ROLE), cluster=CLUSTER,
                    principal=NODE_ROLE, entry_type="EC2_LINUX"),
        PodIdentityAssociation(key="karpenter/pod-identity", depends_on=(CLUSTER, CONTROLLER_ROLE, "eks/addon/eks-pod-identity-agent"),
                               cluster=CLUSTER, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT, role=CONTROLLER_ROLE),
        ServiceLinkedRole(key="karpenter/spot-service-linked-role", service="spot.amazonaws.com", role_name="AWSServiceRoleForEC2Spot"),
    ]
    for name, pattern in EVENT_RULES.items():
        nodes.append(EventRule(key=f"karpenter/rule/{name}", depends_on=(QUEUE,), name=f"{cluster}-karpenter-{name}",
                               pattern=pattern, queue=QUEUE))
    return nodes


def resources(plan: Plan, region: str) -> list[Resource]:
    from provisioner.steps.karpenter import cluster  # lazy: cluster.py reads this module's names

    return [*aws_resources(plan, region), *cluster.resources(plan, region)]
