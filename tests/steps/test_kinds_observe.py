"""Every kind's `observe(item)`: declared by the kind (engine/resource.py's protocol), a
classmethod, and pure: for a sample item as AWS (or the API server) describes it, it opens no
connection, leaves the item as it was, and gives the same fields every time.

The samples are the items each kind's `discover` builds (trimmed to what `observe` reads), so
they also document what a kind reads; a new kind without a sample fails
`test_every_kind_has_a_sample_item` until one is added here.
"""

from __future__ import annotations

import copy
import inspect
import json
import socket
from typing import Any

import pytest

from provisioner.engine import Resource
from provisioner.operations.iam_policy import all_kinds
from provisioner.steps.common.listed import ListedResource

CLUSTER = "dev-eks"
ROLE = "arn:aws:iam::111111111111:role/provisioner/dev/dev-nodes"
TAGS = {"provisioner:plan": "dev", "provisioner:key": "eks/x"}
POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})
KUBE_OBJECT = {
    "apiVersion": "v1",
    "kind": "ServiceAccount",
    "metadata": {"name": "karpenter", "namespace": "kube-system", "labels": {"a": "b"}},
}
CRD = {
    "metadata": {"name": "nodepools.karpenter.sh", "annotations": {}},
    "spec": {"group": "karpenter.sh"},
}

# kind name -> an item `observe` takes (see the module docstring)
SAMPLES: dict[str, Any] = {
    # sweeps: what they found and why
    "elb:load-balancer": {"cluster": CLUSTER, "tagged": "kubernetes.io/cluster/dev-eks"},
    "iam:instance-profile": {"cluster": CLUSTER, "tagged": "karpenter.k8s.aws/ec2nodeclass"},
    "ec2:launch-template/leftover": {"cluster": CLUSTER, "tagged": "karpenter.sh/nodepool"},
    "elbv2:load-balancer": {"cluster": CLUSTER, "tagged": "elbv2.k8s.aws/cluster"},
    "ec2:network-interface": {"cluster": CLUSTER, "tagged": "cluster.k8s.amazonaws.com/name"},
    "ec2:security-group/leftover": {"cluster": CLUSTER, "tagged": "elbv2.k8s.aws/cluster"},
    "elbv2:target-group": {"cluster": CLUSTER, "tagged": "elbv2.k8s.aws/cluster"},
    "ec2:instance": {"cluster": CLUSTER, "tagged": "karpenter.sh/nodepool"},
    "k8s:load-balancer": {"what": "Ingress"},
    # data sources
    "organizations:accounts": {},
    "eks:addon-versions": {},
    "ec2:transit-gateway-lookup": {},
    # EKS
    "eks:access-entry": {
        "clusterName": CLUSTER,
        "principalArn": ROLE,
        "type": "STANDARD",
        "tags": TAGS,
        "associatedAccessPolicies": [
            {
                "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                "accessScope": {"type": "namespace", "namespaces": ["b", "a"]},
            }
        ],
    },
    "eks:addon": {"clusterName": CLUSTER, "addonName": "vpc-cni", "addonVersion": "v1.19.0-eksbuild.1", "tags": TAGS},
    "eks:cluster": {
        "name": CLUSTER,
        "version": "1.31",
        "resourcesVpcConfig": {"subnetIds": ["subnet-2", "subnet-1"], "endpointPublicAccess": False},
        "logging": {"clusterLogging": [{"types": ["audit", "api"], "enabled": True}]},
        "encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}}],
    },
    "logs:log-group/eks-control-plane": {"logGroupName": f"/aws/eks/{CLUSTER}/cluster", "retentionInDays": 90},
    "ec2:launch-template": {"LaunchTemplateName": "dev-system", "LaunchTemplateId": "lt-1"},
    "eks:nodegroup": {
        "clusterName": CLUSTER,
        "nodegroupName": "system",
        "subnets": ["subnet-2", "subnet-1"],
        "scalingConfig": {"minSize": 2, "desiredSize": 2, "maxSize": 3},
        "taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}],
        "launchTemplate": {"id": "lt-1", "version": 3},
        "tags": TAGS,
    },
    "iam:oidc-provider": {"Url": "oidc.eks.us-east-1.amazonaws.com/id/ABC", "ClientIDList": ["sts.amazonaws.com"]},
    "eks:pod-identity-association": {
        "clusterName": CLUSTER,
        "associationId": "a-1",
        "namespace": "kube-system",
        "serviceAccount": "karpenter",
        "roleArn": ROLE,
        "tags": TAGS,
    },
    # IAM
    "iam:policy": {"Document": "%7B%22Version%22%3A%20%222012-10-17%22%7D", "IsDefaultVersion": True},
    "iam:role": {
        "RoleName": "dev-nodes",
        "AssumeRolePolicyDocument": POLICY,
        "AttachedManagedPolicies": [
            {"PolicyArn": "arn:aws:iam::aws:policy/B"},
            {"PolicyArn": "arn:aws:iam::aws:policy/A"},
        ],
        "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": POLICY}],
        "PermissionsBoundary": {"PermissionsBoundaryArn": "arn:aws:iam::1:policy/boundary"},
    },
    "iam:role/ci": {"RoleName": "dev-ci", "AssumeRolePolicyDocument": {"Version": "2012-10-17"}},
    "iam:service-linked-role": {"RoleName": "AWSServiceRoleForEC2Spot", "Arn": "arn:aws:iam::1:role/x"},
    "iam:oidc-provider/github": {"Url": "token.actions.githubusercontent.com", "ClientIDList": ["sts.amazonaws.com"]},
    # Kubernetes
    "k8s:object": {"object": KUBE_OBJECT, "manifest": KUBE_OBJECT},
    "k8s:crd": {"object": CRD, "upstream": CRD["spec"]},
    "k8s:deployment": {"object": KUBE_OBJECT, "manifest": KUBE_OBJECT},
    "k8s:ec2nodeclass": {"object": KUBE_OBJECT, "manifest": KUBE_OBJECT},
    "k8s:nodepool": {"object": KUBE_OBJECT, "manifest": KUBE_OBJECT},
    # Karpenter's AWS side, KMS
    "events:rule": {
        "Name": "dev-eks-spot",
        "EventPattern": json.dumps({"source": ["aws.ec2"]}),
        "State": "ENABLED",
        "Targets": ["arn:aws:sqs:us-east-1:1:q"],
    },
    "sqs:queue": {
        "QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/dev-eks",
        "MessageRetentionPeriod": "300",
        "SqsManagedSseEnabled": "true",
        "Policy": POLICY,
    },
    "kms:key": {
        "KeyId": "k-1",
        "KeyState": "Enabled",
        "Region": "us-east-1",
        "KeyRotationEnabled": True,
        "Aliases": ["alias/dev-eks"],
    },
    # network
    "ec2:eip": {"AllocationId": "eipalloc-1", "Domain": "vpc"},
    "ec2:flow-log": {"FlowLogId": "fl-1", "ResourceId": "vpc-1", "TrafficType": "ALL", "LogGroupName": "g"},
    "logs:log-group": {"logGroupName": "/provisioner/dev/flow-logs", "retentionInDays": 30},
    "ec2:internet-gateway": {"Attachments": [{"VpcId": "vpc-1", "State": "available"}]},
    "ec2:nat-gateway": {"SubnetId": "subnet-1", "NatGatewayAddresses": [{"AllocationId": "eipalloc-1"}]},
    "ec2:default-network-acl": {
        "VpcId": "vpc-1",
        "Entries": [{"RuleNumber": 100, "RuleAction": "allow"}, {"RuleNumber": 32767, "RuleAction": "deny"}],
    },
    "ec2:network-acl": {
        "VpcId": "vpc-1",
        "Entries": [
            {"RuleNumber": 100, "RuleAction": "allow", "Egress": False, "Protocol": "6", "CidrBlock": "10.0.0.0/16"},
            {"RuleNumber": 32767, "RuleAction": "deny", "Egress": False, "Protocol": "-1"},
        ],
        "Associations": [{"SubnetId": "subnet-2"}, {"SubnetId": "subnet-1"}],
    },
    "ec2:route-table": {
        "VpcId": "vpc-1",
        "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"}],
        "Associations": [{"SubnetId": "subnet-1"}],
    },
    "ec2:default-security-group": {"VpcId": "vpc-1", "IpPermissions": [{}], "IpPermissionsEgress": []},
    "ec2:security-group": {
        "VpcId": "vpc-1",
        "GroupId": "sg-1",
        "GroupName": "dev-nodes",
        "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-1"}]}],
        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    },
    "ec2:subnet": {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/20", "AvailabilityZone": "us-east-1a"},
    "ec2:transit-gateway-vpc-attachment": {"TransitGatewayId": "tgw-1", "VpcId": "vpc-1", "SubnetIds": ["subnet-1"]},
    "ec2:transit-gateway-routing": {
        "TransitGatewayAttachmentId": "tgw-attach-1",
        "AssociatedSegment": "dev",
        "PropagatedSegments": ["shared", "dev"],
    },
    "ec2:vpc": {"CidrBlock": "10.0.0.0/16", "EnableDnsSupport": {"Value": True}, "EnableDnsHostnames": {"Value": True}},
    # organization
    "organizations:account": {"Id": "2", "Email": "dev@example.com", "Status": "ACTIVE", "Parents": [{"Id": "ou-1"}]},
    "s3:account-public-access-block": {"AccountId": "2", "Region": "us-east-1", "PublicAccessBlockConfiguration": {}},
    "ec2:default-vpc": {"AccountId": "2", "Region": "us-east-1", "Vpcs": [{"VpcId": "vpc-default"}]},
    "ec2:ebs-encryption-by-default": {"AccountId": "2", "Region": "us-east-1", "EbsEncryptionByDefault": True},
    "s3:bucket": {
        "Name": "org-trail-1",
        "Region": "us-east-1",
        "PublicAccessBlock": None,
        "Encryption": None,
        "Policy": {"Policy": POLICY},
        "OwnershipControls": None,
        "LifecycleConfiguration": {"Rules": [{"Status": "Enabled", "Expiration": {"Days": 365}}]},
        "Versioning": {"Status": "Enabled"},
    },
    "guardduty:detector": {"Region": "us-east-1", "Status": "ENABLED", "FindingPublishingFrequency": "SIX_HOURS"},
    "guardduty:organization-admin": {"Region": "us-east-1", "AdminAccountId": "3", "AdminStatus": "ENABLED"},
    "guardduty:organization-configuration": {"Region": "us-east-1", "AdminAccountId": "3", "AutoEnable": True},
    "kms:key-policy": {"KeyId": "k-1", "Policy": POLICY},
    "organizations:organization": {
        "Id": "o-1",
        "FeatureSet": "ALL",
        "EnabledPolicyTypes": ["SERVICE_CONTROL_POLICY"],
        "EnabledServicePrincipals": ["guardduty.amazonaws.com"],
    },
    "organizations:policy": {
        "PolicySummary": {"Id": "p-1", "Name": "deny-leave", "Description": ""},
        "Content": POLICY,
        "Targets": [{"TargetId": "ou-2"}, {"TargetId": "ou-1"}],
    },
    "ram:organization-sharing": {"ServicePrincipal": "ram.amazonaws.com", "Enabled": True},
    "cloudtrail:trail": {"Name": "org", "S3BucketName": "org-trail-1", "IsOrganizationTrail": True, "IsLogging": True},
    "organizations:ou": {"Id": "ou-1", "Name": "workloads", "ParentId": "r-1"},
    # RDS
    "rds:automated-backups-replication": {"ReplicaRegion": "us-west-2", "Status": "replicating"},
    "rds:db-instance": {"DBInstanceIdentifier": "dev-postgres", "Engine": "postgres", "EngineVersion": "16.4"},
    "rds:db-parameter-group": {
        "DBParameterGroupName": "dev-postgres16",
        "DBParameterGroupFamily": "postgres16",
        "UserParameters": {"rds.force_ssl": "1"},
    },
    "rds:db-subnet-group": {"DBSubnetGroupName": "dev", "Subnets": [{"SubnetIdentifier": "subnet-1"}]},
    # shared services
    "ecr:replication-configuration": {"rules": [{"destinations": [{"region": "us-west-2", "registryId": "1"}]}]},
    "ecr:repository": {
        "repositoryName": "app",
        "imageTagMutability": "IMMUTABLE",
        "lifecyclePolicyText": POLICY,
        "policyText": None,
        "region": "us-east-1",
    },
    "ram:resource-share": {"name": "shared-transit-gateway", "associations": {"PRINCIPAL": ["2"], "RESOURCE": ["a"]}},
    "ec2:transit-gateway": {"TransitGatewayId": "tgw-1", "Options": {"AmazonSideAsn": 64512, "DnsSupport": "enable"}},
    "ec2:transit-gateway-guard": {},
    "ec2:transit-gateway-route-table": {"TransitGatewayId": "tgw-1"},
}

KINDS = {kind.kind_name(): kind for kind in all_kinds()}


def test_every_kind_declares_observe_as_a_classmethod() -> None:
    assert len(KINDS) > 60
    for name, kind in KINDS.items():
        owner = next(klass for klass in kind.__mro__ if "observe" in vars(klass))
        assert owner is not Resource, f"{name} ({kind.__qualname__}) does not define observe"
        assert isinstance(vars(owner)["observe"], classmethod), f"{name}: observe is not a classmethod"
        assert list(inspect.signature(kind.observe).parameters) == ["item"], f"{name}: observe(item) only"


def test_every_kind_has_a_sample_item() -> None:
    assert sorted(set(KINDS) - set(SAMPLES)) == []
    assert sorted(set(SAMPLES) - set(KINDS)) == []  # no sample for a kind that is gone


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: observe must not reach AWS or the cluster."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("observe opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_observe_is_pure_for_a_sample_item(name: str, no_network: None) -> None:
    kind, item = KINDS[name], SAMPLES[name]
    before = copy.deepcopy(item)
    first = kind.observe(item)
    assert item == before, "observe changed its item"
    assert kind.observe(copy.deepcopy(item)) == first, "observe gave other fields for the same item"
    assert isinstance(first, dict)
    json.dumps(first)  # plain data: what plan prints and the journal records


def test_observe_reads_the_merged_reads_from_the_item() -> None:
    """Facts read beyond the describe arrive in the item, so observe alone turns them into
    fields (the VPC's DNS attributes, an access entry's policies, a trail's logging)."""
    assert KINDS["ec2:vpc"].observe(SAMPLES["ec2:vpc"]) == {
        "cidr": "10.0.0.0/16",
        "dns_support": True,
        "dns_hostnames": True,
    }
    assert KINDS["eks:access-entry"].observe(SAMPLES["eks:access-entry"])["policies"] == [
        ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", "namespace", ["a", "b"]]
    ]
    assert KINDS["cloudtrail:trail"].observe(SAMPLES["cloudtrail:trail"])["logging"] is True
    assert KINDS["eks:nodegroup"].observe(SAMPLES["eks:nodegroup"])["launch_template_version"] == "3"


@pytest.mark.parametrize(
    ("name", "expected_id"),
    [
        ("eks:addon", f"{CLUSTER}/vpc-cni"),
        ("eks:access-entry", f"{CLUSTER}|{ROLE}"),
        ("eks:pod-identity-association", f"{CLUSTER}|a-1"),
        ("eks:nodegroup", f"{CLUSTER}/system"),
    ],
)
def test_listed_kinds_build_their_record_from_the_item_alone(name: str, expected_id: str, no_network: None) -> None:
    kind = KINDS[name]
    assert issubclass(kind, ListedResource)
    live = kind.live_of("eks/x", SAMPLES[name])
    assert live.id == expected_id
    assert live.fields == kind.observe(SAMPLES[name])
    assert live.tags == TAGS
