"""Karpenter's AWS permissions, written after the official getting-started CloudFormation of
the pinned release (v1.14.1), and every place where they deliberately differ from it.

What the template defines and where it lives here:

- the node role's trust (EC2) and four AWS managed policies: `NODE_TRUST`, `node_managed_policies()`;
- the controller's six managed policies (NodeLifecycle, IAMIntegration, EKSIntegration,
  Interruption, ZonalShift, ResourceDiscovery): `controller_policies()`, one inline policy
  per template policy, named as the template names it without the `-<cluster>` suffix,
  with the same statements (same Sid, actions, resources and conditions);
- the interruption queue's policy: `queue_policy()` (queues.py applies it).

The template's parameters are filled the way CloudFormation would: the partition and the
account from the run's session (the `@plan` ref: `{partition}` and `{account}` in strings
below become placeholders that `Role` resolves at plan time), the region and the cluster
name from the plan, the queue's and the node role's ARNs from their nodes' refs. No ARN
names the `aws` partition directly, so the ARNs are right in aws-us-gov and aws-cn too. (One thing is
not partition-aware: the node role trusts `ec2.amazonaws.com`, which is the template's
`ec2.${AWS::URLSuffix}` everywhere but in China, where the suffix is `amazonaws.com.cn`.)

`DIFFERENCES` lists, in one place, each deliberate difference from the template with its
reason; the conformance test (tests/conformance/test_karpenter_aws_reference.py) applies
exactly these to the template and requires the result to equal what the tool makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARTITION = "{partition}"
ACCOUNT = "{account}"
_FACTS = {"partition": ["@plan", "partition"], "account": ["@plan", "account_id"]}

# The AWS managed policies the template attaches to the node role.
NODE_MANAGED_POLICIES = (
    "AmazonEKS_CNI_Policy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)

# The template's node role trust: EC2 may assume it (nothing else, no session tags).
NODE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole"]}],
}


def with_plan_facts(document: Any) -> Any:
    """Strings naming `{partition}` or `{account}` become `{"fmt", "args"}` placeholders that
    steps/iam's Role fills from the `@plan` ref (the session's partition and account)."""
    if isinstance(document, dict):
        return {k: with_plan_facts(v) for k, v in document.items()}
    if isinstance(document, list):
        return [with_plan_facts(v) for v in document]
    if isinstance(document, str) and (PARTITION in document or ACCOUNT in document):
        return {"fmt": document, "args": {k: list(v) for k, v in _FACTS.items()}}
    return document


def node_managed_policies() -> tuple[Any, ...]:
    return tuple(with_plan_facts(f"arn:{PARTITION}:iam::aws:policy/{name}") for name in NODE_MANAGED_POLICIES)


def controller_policies(
    cluster: str, region: str, queue_arn: Any, node_role_arn: Any, partition: str = PARTITION, account: str = ACCOUNT
) -> dict[str, dict[str, Any]]:
    """The controller's inline policies: template policy name (without `-<cluster>`) -> document."""
    ec2 = f"arn:{partition}:ec2:{region}"
    profile = f"arn:{partition}:iam::{account}:instance-profile/*"
    cluster_arn = f"arn:{partition}:eks:{region}:{account}:cluster/{cluster}"
    owned_resource = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    owned_request = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster,
    }
    nodepool_resource = {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    ec2_launch = ["ec2:RunInstances", "ec2:CreateFleet"]

    def statement(sid: str, resource: Any, action: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {"Sid": sid, "Effect": "Allow", "Resource": resource, "Action": action}
        if condition:
            out["Condition"] = condition
        return out

    def document(*statements: dict[str, Any]) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": list(statements)}

    return {
        "KarpenterControllerNodeLifecyclePolicy": document(
            statement(
                "AllowScopedEC2InstanceAccessActions",
                [
                    f"{ec2}::image/*",
                    f"{ec2}::snapshot/*",
                    f"{ec2}:*:security-group/*",
                    f"{ec2}:*:subnet/*",
                    f"{ec2}:*:capacity-reservation/*",
                    f"{ec2}:*:placement-group/*",
                ],
                ec2_launch,
            ),
            statement(
                "AllowScopedEC2LaunchTemplateAccessActions",
                f"{ec2}:*:launch-template/*",
                ec2_launch,
                {"StringEquals": owned_resource, "StringLike": nodepool_resource},
            ),
            statement(
                "AllowScopedEC2InstanceActionsWithTags",
                launched,
                [*ec2_launch, "ec2:CreateLaunchTemplate"],
                {"StringEquals": owned_request, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
            ),
            statement(
                "AllowScopedResourceCreationTagging",
                launched,
                "ec2:CreateTags",
                {
                    "StringEquals": {
                        **owned_request,
                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                    },
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            ),
            statement(
                "AllowScopedResourceTagging",
                f"{ec2}:*:instance/*",
                "ec2:CreateTags",
                {
                    "StringEquals": owned_resource,
                    "StringLike": nodepool_resource,
                    "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                    },
                },
            ),
            statement(
                "AllowScopedDeletion",
                [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
                ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                {"StringEquals": owned_resource, "StringLike": nodepool_resource},
            ),
        ),
        "KarpenterControllerIAMIntegrationPolicy": document(
            statement(
                "AllowPassingInstanceRole",
                node_role_arn,
                "iam:PassRole",
                {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
            ),
            statement(
                "AllowScopedInstanceProfileCreationActions",
                profile,
                ["iam:CreateInstanceProfile"],
                {
                    "StringEquals": {**owned_request, "aws:RequestTag/topology.kubernetes.io/region": region},
                    "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            ),
            statement(
                "AllowScopedInstanceProfileTagActions",
                profile,
                ["iam:TagInstanceProfile"],
                {
                    "StringEquals": {
                        **owned_resource,
                        "aws:ResourceTag/topology.kubernetes.io/region": region,
                        **owned_request,
                        "aws:RequestTag/topology.kubernetes.io/region": region,
                    },
                    "StringLike": {
                        "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                        "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    },
                },
            ),
            statement(
                "AllowScopedInstanceProfileActions",
                profile,
                ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
                {
                    "StringEquals": {**owned_resource, "aws:ResourceTag/topology.kubernetes.io/region": region},
                    "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            ),
        ),
        "KarpenterControllerEKSIntegrationPolicy": document(
            statement("AllowAPIServerEndpointDiscovery", cluster_arn, "eks:DescribeCluster"),
        ),
        "KarpenterControllerInterruptionPolicy": document(
            statement(
                "AllowInterruptionQueueActions",
                queue_arn,
                ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            ),
        ),
        "KarpenterControllerZonalShiftPolicy": document(
            statement(
                "AllowZonalShiftStatusReadOnly",
                "*",
                ["arc-zonal-shift:GetManagedResource"],
                {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}},
            ),
        ),
        "KarpenterControllerResourceDiscoveryPolicy": document(
            statement(
                "AllowRegionalReadActions",
                "*",
                [
                    "ec2:DescribeCapacityReservations",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribePlacementGroups",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory",
                    "ec2:DescribeSubnets",
                ],
                {"StringEquals": {"aws:RequestedRegion": region}},
            ),
            statement(
                "AllowSSMReadActions", f"arn:{partition}:ssm:{region}::parameter/aws/service/*", "ssm:GetParameter"
            ),
            statement("AllowPricingReadActions", "*", "pricing:GetProducts"),
            statement("AllowUnscopedInstanceProfileListAction", "*", "iam:ListInstanceProfiles"),
            statement("AllowInstanceProfileReadActions", profile, "iam:GetInstanceProfile"),
        ),
    }


def queue_policy(queue_arn: Any, account: Any) -> dict[str, Any]:
    """The interruption queue's policy: EventBridge (and SQS) may send, from this account only;
    anything not over TLS is denied."""
    return {
        "Version": "2012-10-17",
        "Id": "EC2InterruptionPolicy",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Principal": "*",
            },
        ],
    }


# --- deliberate differences from the template ------------------------------------------------

ABSENT = "<absent>"


@dataclass(frozen=True)
class Difference:
    """One deliberate difference from the template.

    `resource` is the template's logical id, `path` a path into what the test compares for it
    (the substituted policy document, queue properties, rule pattern or role facts); `ours`
    is what the tool has there, written in the template's `${...}` parameter syntax (plus
    `${Plan}`, the plan's name) (`ABSENT` when the tool leaves out what the template sets, or the template leaves out
    what the tool sets). A path of `()` means the resource's form differs as a whole and its
    names are not compared (the content still is).
    """

    resource: str
    path: tuple[Any, ...]
    ours: Any
    reason: str


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "KarpenterInterruptionQueuePolicy",
        ("Statement", 0, "Condition"),
        {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}},
        "confused deputy: only EventBridge rules (and SQS) of this account may send to the queue; "
        "the template lets the services send on behalf of any account",
    ),
    Difference(
        "KarpenterInterruptionQueuePolicy",
        ("Version",),
        "2012-10-17",
        "without a Version SQS reads the policy as language version 2008-10-17",
    ),
    Difference(
        "AWS::IAM::ManagedPolicy",
        (),
        None,
        "the six controller policies are inline policies of the controller role (named like the template's "
        "managed policies without the -<cluster> suffix): they live and die with the role, nothing else can attach them",
    ),
    Difference(
        "KarpenterNodeRole",
        ("RoleName",),
        "${Plan}-karpenter-nodes",
        "the tool's naming (<plan>-<name>) instead of KarpenterNodeRole-<cluster>",
    ),
    Difference(
        "KarpenterNodeRole",
        ("Path",),
        "/provisioner/${Plan}/",
        "every role of a plan lives under /provisioner/<plan>/: that path is how the tool finds its roles",
    ),
)
