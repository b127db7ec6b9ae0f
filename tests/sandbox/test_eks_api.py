"""The sandbox's EKS extension (provisioner.sandbox.eks) through boto3, as the tool sees it.

Every test gets an empty simulated AWS (`aws` fixture) and builds its cluster with real calls:
VPC, subnets in two AZs, IAM roles, then eks.create_cluster.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.sandbox.eks import catalog as eks_catalog
from provisioner.sandbox.eks import models as eks_models

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


class Env:
    """A VPC with two subnets in two AZs, the cluster and node roles, and an EKS client."""

    def __init__(self, boto: Any) -> None:
        self.boto = boto
        self.ec2, self.iam, self.eks = boto("ec2"), boto("iam"), boto("eks")
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")[
                "Subnet"
            ]["SubnetId"]
            for i, az in ((1, "a"), (2, "b"))
        ]
        self.cluster_role = self.iam.create_role(
            RoleName="cluster", AssumeRolePolicyDocument=_trust("eks.amazonaws.com")
        )["Role"]["Arn"]
        self.node_role = self.iam.create_role(RoleName="nodes", AssumeRolePolicyDocument=_trust("ec2.amazonaws.com"))[
            "Role"
        ]["Arn"]
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"):
            self.iam.attach_role_policy(RoleName="nodes", PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        self.pod_role = self.iam.create_role(
            RoleName="pods", AssumeRolePolicyDocument=_trust("pods.eks.amazonaws.com")
        )["Role"]["Arn"]

    def cluster(self, name: str = "c1", **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("version", "1.34")
        kwargs.setdefault("resourcesVpcConfig", {"subnetIds": self.subnets})
        return self.eks.create_cluster(name=name, roleArn=self.cluster_role, **kwargs)["cluster"]  # type: ignore[no-any-return]

    def nodegroup(self, cluster: str = "c1", name: str = "system", **kwargs: Any) -> dict[str, Any]:
        return self.eks.create_nodegroup(
            clusterName=cluster,
            nodegroupName=name,
            subnets=self.subnets,  # type: ignore[no-any-return]
            nodeRole=self.node_role,
            **kwargs,
        )["nodegroup"]


@pytest.fixture
def env(boto: Any) -> Env:
    return Env(boto)


@pytest.fixture
def caller(boto: Any) -> str:
    """What STS calls the `testing` key (moto's stand-in user); EKS takes it as an IAM user."""
    return str(boto("sts").get_caller_identity()["Arn"])


@pytest.fixture
def eks(env: Env) -> Any:
    env.cluster()
    return env.eks


# ------------------------------------------------------------------------------ clusters


def test_create_cluster_reports_what_eks_reports(env: Env) -> None:
    created = env.cluster(accessConfig={"authenticationMode": "API"}, upgradePolicy={"supportType": "STANDARD"})
    assert created["status"] == "CREATING"  # CreateCluster always answers CREATING
    cluster = env.eks.describe_cluster(name="c1")["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    vpc = cluster["resourcesVpcConfig"]
    assert vpc["vpcId"] == env.vpc
    assert (vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"], vpc["publicAccessCidrs"]) == (
        True,
        False,
        ["0.0.0.0/0"],
    )
    # EKS makes a security group for the cluster, tagged with it.
    group = env.ec2.describe_security_groups(GroupIds=[vpc["clusterSecurityGroupId"]])["SecurityGroups"][0]
    assert {"Key": "aws:eks:cluster-name", "Value": "c1"} in group["Tags"]
    assert group["VpcId"] == env.vpc
    assert cluster["kubernetesNetworkConfig"] == {
        "serviceIpv4Cidr": "172.20.0.0/16",
        "ipFamily": "ipv4",
    }  # VPC is in 10/8
    assert cluster["version"] == "1.34" and cluster["platformVersion"].startswith("eks.")
    assert cluster["identity"]["oidc"]["issuer"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")


def test_create_cluster_defaults(env: Env) -> None:
    env.eks.create_cluster(name="c1", roleArn=env.cluster_role, resourcesVpcConfig={"subnetIds": env.subnets})
    cluster = env.eks.describe_cluster(name="c1")["cluster"]
    assert cluster["version"] == eks_catalog.DEFAULT_VERSION
    assert cluster["accessConfig"] == {
        "authenticationMode": "API_AND_CONFIG_MAP",
        "bootstrapClusterCreatorAdminPermissions": True,
    }
    assert cluster["upgradePolicy"] == {"supportType": "EXTENDED"}  # EKS's default
    other = env.eks.create_cluster(name="c2", roleArn=env.cluster_role, resourcesVpcConfig={"subnetIds": env.subnets})[
        "cluster"
    ]
    assert other["endpoint"] != cluster["endpoint"]  # one endpoint per cluster, unlike moto


def test_create_cluster_is_validated(env: Env) -> None:
    base: dict[str, Any] = {
        "name": "bad",
        "roleArn": env.cluster_role,
        "resourcesVpcConfig": {"subnetIds": env.subnets},
    }
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/nope"
    cases: list[dict[str, Any]] = [
        {"version": "1.29"},  # not an EKS version
        {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/missing"},
        {"roleArn": env.node_role},  # a role EKS cannot assume (trusts ec2 only)
        {"resourcesVpcConfig": {"subnetIds": env.subnets[:1]}},  # one AZ
        {"resourcesVpcConfig": {"subnetIds": ["subnet-12345678901234567", "subnet-12345678901234568"]}},
        {"accessConfig": {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": False}},
        {"resourcesVpcConfig": {"subnetIds": env.subnets, "publicAccessCidrs": ["10.0.0.0/8"]}},  # private range
        {"encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": key}}]},
    ]
    for change in cases:
        with pytest.raises(ClientError) as exc:
            env.eks.create_cluster(**{**base, **change})
        assert _code(exc) == "InvalidParameterException", change
    assert env.eks.list_clusters()["clusters"] == []


def test_duplicate_cluster_is_in_use(env: Env) -> None:
    env.cluster()
    with pytest.raises(ClientError) as exc:
        env.cluster()
    assert _code(exc) == "ResourceInUseException"


def test_update_cluster_config_changes_endpoint_access(eks: Any) -> None:
    update = eks.update_cluster_config(
        name="c1",
        resourcesVpcConfig={
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
    )["update"]
    assert update["type"] == "EndpointAccessUpdate"
    assert update["status"] == "Successful"
    assert {"type": "PublicAccessCidrs", "value": '["203.0.113.0/24"]'} in update["params"]
    vpc = eks.describe_cluster(name="c1")["cluster"]["resourcesVpcConfig"]
    assert (vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"], vpc["publicAccessCidrs"]) == (
        True,
        True,
        ["203.0.113.0/24"],
    )
    assert len(vpc["subnetIds"]) == 2  # moto's own update dropped the rest of the config

    assert eks.describe_update(name="c1", updateId=update["id"])["update"] == update
    assert eks.list_updates(name="c1")["updateIds"] == [update["id"]]

    with pytest.raises(ClientError) as exc:  # nothing would change
        eks.update_cluster_config(name="c1", resourcesVpcConfig={"endpointPrivateAccess": True})
    assert _code(exc) == "InvalidParameterException"
    assert "already at the desired configuration" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_config(
            name="c1", resourcesVpcConfig={"endpointPrivateAccess": False, "endpointPublicAccess": False}
        )
    assert _code(exc) == "InvalidParameterException"


def test_update_cluster_config_one_kind_per_call(eks: Any) -> None:
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_config(
            name="c1",
            resourcesVpcConfig={"endpointPrivateAccess": True},
            logging={"clusterLogging": [{"types": ["api"], "enabled": True}]},
        )
    assert _code(exc) == "InvalidParameterException"
    assert "Only one type of update" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_config(name="missing", resourcesVpcConfig={"endpointPrivateAccess": True})
    assert _code(exc) == "ResourceNotFoundException"


def test_update_cluster_logging(eks: Any) -> None:
    update = eks.update_cluster_config(
        name="c1", logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]}
    )["update"]
    assert update["type"] == "LoggingUpdate"
    assert eks.describe_cluster(name="c1")["cluster"]["logging"]["clusterLogging"] == [
        {"types": ["api", "audit"], "enabled": True},
        {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": False},
    ]
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_config(name="c1", logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
    assert _code(exc) == "InvalidParameterException"


def test_authentication_mode_only_moves_towards_api(env: Env, caller: str) -> None:
    env.cluster(accessConfig={"authenticationMode": "CONFIG_MAP"})
    eks = env.eks
    with pytest.raises(ClientError) as exc:
        eks.list_access_entries(clusterName="c1")
    assert _code(exc) == "InvalidRequestException"

    update = eks.update_cluster_config(name="c1", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})["update"]
    assert update["type"] == "AccessConfigUpdate"
    assert eks.describe_cluster(name="c1")["cluster"]["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    # Now that the cluster takes access entries, EKS adds the creator's.
    assert eks.list_access_entries(clusterName="c1")["accessEntries"] == [caller]
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_config(name="c1", accessConfig={"authenticationMode": "CONFIG_MAP"})
    assert _code(exc) == "InvalidParameterException"


def test_update_upgrade_policy(eks: Any) -> None:
    update = eks.update_cluster_config(name="c1", upgradePolicy={"supportType": "STANDARD"})["update"]
    assert update["type"] == "UpgradePolicyUpdate"
    assert eks.describe_cluster(name="c1")["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}


def test_update_cluster_version_one_minor_at_a_time(env: Env) -> None:
    env.cluster(version="1.33")
    eks = env.eks
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_version(name="c1", version="1.35")
    assert _code(exc) == "InvalidParameterException"
    assert "Unsupported Kubernetes minor version update from 1.33 to 1.35" in str(exc.value)
    update = eks.update_cluster_version(name="c1", version="1.34")["update"]
    assert (update["type"], update["status"]) == ("VersionUpdate", "Successful")
    assert {"type": "Version", "value": "1.34"} in update["params"]
    assert eks.describe_cluster(name="c1")["cluster"]["version"] == "1.34"


def test_update_cluster_version_needs_node_groups_first(env: Env) -> None:
    env.cluster(version="1.33")
    env.nodegroup()
    eks = env.eks
    eks.update_cluster_version(name="c1", version="1.34")
    with pytest.raises(ClientError) as exc:  # the node group is still on 1.33
        eks.update_cluster_version(name="c1", version="1.35")
    assert _code(exc) == "InvalidRequestException"
    update = eks.update_nodegroup_version(clusterName="c1", nodegroupName="system")["update"]
    assert update["type"] == "VersionUpdate"
    group = eks.describe_nodegroup(clusterName="c1", nodegroupName="system")["nodegroup"]
    assert group["version"] == "1.34" and group["releaseVersion"].startswith("1.34.")
    assert eks.describe_update(name="c1", updateId=update["id"], nodegroupName="system")["update"]["id"] == update["id"]
    with pytest.raises(ClientError) as exc:  # a node group update is not a cluster update
        eks.describe_update(name="c1", updateId=update["id"])
    assert _code(exc) == "ResourceNotFoundException"
    eks.update_cluster_version(name="c1", version="1.35")


def test_associate_encryption_config(env: Env) -> None:
    env.cluster()
    key = env.boto("kms").create_key()["KeyMetadata"]["Arn"]
    update = env.eks.associate_encryption_config(
        clusterName="c1", encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key}}]
    )["update"]
    assert update["type"] == "AssociateEncryptionConfig"
    assert env.eks.describe_cluster(name="c1")["cluster"]["encryptionConfig"] == [
        {"resources": ["secrets"], "provider": {"keyArn": key}}
    ]
    with pytest.raises(ClientError) as exc:
        env.eks.associate_encryption_config(
            clusterName="c1", encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key}}]
        )
    assert _code(exc) == "InvalidParameterException"


# ----------------------------------------------------------------------------- node groups


def test_nodegroup_defaults_and_node_access_entry(env: Env) -> None:
    env.cluster()
    created = env.nodegroup(scalingConfig={"minSize": 2, "maxSize": 3, "desiredSize": 2})
    assert created["status"] == "CREATING"
    group = env.eks.describe_nodegroup(clusterName="c1", nodegroupName="system")["nodegroup"]
    assert group["status"] == "ACTIVE"
    assert group["version"] == "1.34" and group["amiType"] == "AL2023_x86_64_STANDARD"
    assert "remoteAccess" not in group
    # EKS gives a managed node group's role an EC2_LINUX access entry.
    entry = env.eks.describe_access_entry(clusterName="c1", principalArn=env.node_role)["accessEntry"]
    assert (entry["type"], entry["username"], entry["kubernetesGroups"]) == (
        "EC2_LINUX",
        "system:node:{{EC2PrivateDNSName}}",
        ["system:nodes"],
    )


def test_nodegroup_role_must_carry_eks_policies(env: Env) -> None:
    env.cluster()
    bare = env.iam.create_role(RoleName="bare", AssumeRolePolicyDocument=_trust("ec2.amazonaws.com"))["Role"]["Arn"]
    with pytest.raises(ClientError) as exc:
        env.eks.create_nodegroup(clusterName="c1", nodegroupName="ng", subnets=env.subnets, nodeRole=bare)
    assert _code(exc) == "InvalidParameterException"
    assert "AmazonEKSWorkerNodePolicy" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        env.nodegroup(scalingConfig={"minSize": 3, "maxSize": 2, "desiredSize": 2})
    assert _code(exc) == "InvalidParameterException"


def test_update_nodegroup_config(env: Env) -> None:
    env.cluster()
    env.nodegroup(scalingConfig={"minSize": 2, "maxSize": 3, "desiredSize": 2})
    update = env.eks.update_nodegroup_config(
        clusterName="c1",
        nodegroupName="system",
        scalingConfig={"maxSize": 5, "desiredSize": 4},
        labels={"addOrUpdateLabels": {"role": "system"}},
    )["update"]
    assert (update["type"], update["status"]) == ("ConfigUpdate", "Successful")
    assert {p["type"] for p in update["params"]} == {"MaxSize", "DesiredSize", "LabelsToAdd"}
    group = env.eks.describe_nodegroup(clusterName="c1", nodegroupName="system")["nodegroup"]
    assert group["scalingConfig"] == {"minSize": 2, "maxSize": 5, "desiredSize": 4}
    assert group["labels"] == {"role": "system"}
    assert env.eks.list_updates(name="c1", nodegroupName="system")["updateIds"] == [update["id"]]
    with pytest.raises(ClientError) as exc:
        env.eks.update_nodegroup_config(clusterName="c1", nodegroupName="system", scalingConfig={"desiredSize": 9})
    assert _code(exc) == "InvalidParameterException"


# --------------------------------------------------------------------------------- add-ons


def test_addon_lifecycle_and_waiters(eks: Any) -> None:
    created = eks.create_addon(clusterName="c1", addonName="vpc-cni", tags={"team": "platform"})["addon"]
    assert created["status"] == "CREATING"
    assert created["addonVersion"] == eks_catalog.default_addon_version("vpc-cni", "1.34")
    assert re.fullmatch(rf"arn:aws:eks:us-east-1:{ACCOUNT}:addon/c1/vpc-cni/[0-9a-f-]{{36}}", created["addonArn"])
    eks.get_waiter("addon_active").wait(
        clusterName="c1", addonName="vpc-cni", WaiterConfig={"Delay": 1, "MaxAttempts": 3}
    )
    addon = eks.describe_addon(clusterName="c1", addonName="vpc-cni")["addon"]
    assert addon["status"] == "ACTIVE"
    assert addon["health"] == {"issues": []} and addon["tags"] == {"team": "platform"}
    assert eks.list_addons(clusterName="c1")["addons"] == ["vpc-cni"]

    update = eks.update_addon(
        clusterName="c1",
        addonName="vpc-cni",
        addonVersion="v1.21.1-eksbuild.1",
        configurationValues='{"env": {"ENABLE_PREFIX_DELEGATION": "true"}}',
    )["update"]
    assert (update["type"], update["status"]) == ("AddonUpdate", "Successful")
    assert {"type": "AddonVersion", "value": "v1.21.1-eksbuild.1"} in update["params"]
    addon = eks.describe_addon(clusterName="c1", addonName="vpc-cni")["addon"]
    assert addon["addonVersion"] == "v1.21.1-eksbuild.1"
    assert addon["configurationValues"] == '{"env": {"ENABLE_PREFIX_DELEGATION": "true"}}'
    assert eks.describe_update(name="c1", updateId=update["id"], addonName="vpc-cni")["update"]["id"] == update["id"]
    assert eks.list_updates(name="c1", addonName="vpc-cni")["updateIds"] == [update["id"]]

    deleted = eks.delete_addon(clusterName="c1", addonName="vpc-cni")["addon"]
    assert deleted["status"] == "DELETING"
    eks.get_waiter("addon_deleted").wait(
        clusterName="c1", addonName="vpc-cni", WaiterConfig={"Delay": 1, "MaxAttempts": 3}
    )
    assert eks.list_addons(clusterName="c1")["addons"] == []


def test_create_addon_errors(eks: Any) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"addonName": "not-an-addon"}, "InvalidParameterException"),
        ({"addonName": "kube-proxy", "addonVersion": "v1.33.0-eksbuild.2"}, "InvalidParameterException"),  # 1.33 only
        ({"addonName": "coredns", "addonVersion": "v9.9.9-eksbuild.1"}, "InvalidParameterException"),
        ({"addonName": "coredns", "configurationValues": "[not, a, mapping]"}, "InvalidParameterException"),
        ({"addonName": "coredns", "resolveConflicts": "SOMETIMES"}, "InvalidParameterException"),
        ({"addonName": "coredns", "clusterName": "missing"}, "ResourceNotFoundException"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as exc:
            eks.create_addon(**{"clusterName": "c1", **kwargs})
        assert _code(exc) == code, kwargs
    assert eks.list_addons(clusterName="c1")["addons"] == []


def test_addon_duplicates_and_missing(eks: Any) -> None:
    eks.create_addon(clusterName="c1", addonName="coredns")
    with pytest.raises(ClientError) as exc:
        eks.create_addon(clusterName="c1", addonName="coredns")
    assert _code(exc) == "ResourceInUseException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    for call in (eks.describe_addon, eks.delete_addon):
        with pytest.raises(ClientError) as exc:
            call(clusterName="c1", addonName="kube-proxy")
        assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:  # EKS does not downgrade add-ons
        eks.update_addon(clusterName="c1", addonName="coredns", addonVersion="v1.12.1-eksbuild.2")
    assert _code(exc) == "InvalidParameterException"


def test_describe_addon_versions_catalog(boto: Any, aws: str) -> None:
    eks = boto("eks")
    addons = eks.describe_addon_versions()["addons"]
    assert {a["addonName"] for a in addons} >= {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"}
    for addon in addons:
        for cluster_version in eks_catalog.SUPPORTED_VERSIONS:
            defaults = [
                v["addonVersion"]
                for v in addon["addonVersions"]
                for c in v["compatibilities"]
                if c["clusterVersion"] == cluster_version and c["defaultVersion"]
            ]
            assert len(defaults) == 1, (addon["addonName"], cluster_version, defaults)
        for version in addon["addonVersions"]:
            assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", version["addonVersion"])

    filtered = eks.describe_addon_versions(kubernetesVersion="1.33", addonName="kube-proxy")["addons"]
    assert [a["addonName"] for a in filtered] == ["kube-proxy"]
    versions = filtered[0]["addonVersions"]
    assert all(c["clusterVersion"] == "1.33" for v in versions for c in v["compatibilities"])
    assert [v["addonVersion"] for v in versions if v["compatibilities"][0]["defaultVersion"]] == ["v1.33.0-eksbuild.2"]
    paged = eks.get_paginator("describe_addon_versions").paginate(PaginationConfig={"PageSize": 1})
    assert sum(len(page["addons"]) for page in paged) == len(addons)


def test_addon_pod_identity_goes_with_the_addon(env: Env) -> None:
    env.cluster()
    eks = env.eks
    addon = eks.create_addon(
        clusterName="c1",
        addonName="vpc-cni",
        podIdentityAssociations=[{"serviceAccount": "aws-node", "roleArn": env.node_role}],
    )["addon"]
    [association_arn] = addon["podIdentityAssociations"]
    [summary] = eks.list_pod_identity_associations(clusterName="c1")["associations"]
    assert summary["associationArn"] == association_arn
    assert (summary["namespace"], summary["serviceAccount"], summary["ownerArn"]) == (
        "kube-system",
        "aws-node",
        addon["addonArn"],
    )
    with pytest.raises(ClientError) as exc:  # kube-proxy uses no IAM
        eks.create_addon(
            clusterName="c1",
            addonName="kube-proxy",
            podIdentityAssociations=[{"serviceAccount": "kube-proxy", "roleArn": env.node_role}],
        )
    assert _code(exc) == "InvalidParameterException"
    eks.delete_addon(clusterName="c1", addonName="vpc-cni")
    assert eks.list_pod_identity_associations(clusterName="c1")["associations"] == []


# -------------------------------------------------------------------------- access entries


def test_cluster_creator_gets_an_admin_entry(eks: Any, caller: str) -> None:
    assert caller.endswith(":user/moto")  # the same identity STS reports
    assert eks.list_access_entries(clusterName="c1")["accessEntries"] == [caller]
    policies = eks.list_associated_access_policies(clusterName="c1", principalArn=caller)["associatedAccessPolicies"]
    assert [(p["policyArn"], p["accessScope"]["type"]) for p in policies] == [(CLUSTER_ADMIN, "cluster")]


def test_no_creator_entry_when_not_asked(env: Env) -> None:
    env.cluster(accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False})
    assert env.eks.list_access_entries(clusterName="c1")["accessEntries"] == []


def test_creator_is_the_assumed_role(env: Env, aws: str) -> None:
    import boto3

    admin = env.iam.create_role(
        RoleName="admin", Path="/platform/", AssumeRolePolicyDocument=_trust("ec2.amazonaws.com")
    )["Role"]["Arn"]
    creds = env.boto("sts").assume_role(RoleArn=admin, RoleSessionName="ci")["Credentials"]
    eks = boto3.client(
        "eks",
        region_name="us-east-1",
        endpoint_url=aws,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    eks.create_cluster(name="c1", roleArn=env.cluster_role, resourcesVpcConfig={"subnetIds": env.subnets})
    assert eks.list_access_entries(clusterName="c1")["accessEntries"] == [admin]
    entry = eks.describe_access_entry(clusterName="c1", principalArn=admin)["accessEntry"]
    # The generated username drops the role's path.
    assert entry["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/{{{{SessionName}}}}"


def test_access_entry_lifecycle(env: Env, caller: str) -> None:
    env.cluster()
    eks = env.eks
    admin = env.iam.create_role(
        RoleName="ops", Path="/dev/apps/", AssumeRolePolicyDocument=_trust("ec2.amazonaws.com")
    )["Role"]["Arn"]
    entry = eks.create_access_entry(clusterName="c1", principalArn=admin, kubernetesGroups=["ops"], tags={"a": "b"})[
        "accessEntry"
    ]
    assert entry["type"] == "STANDARD"
    assert re.fullmatch(
        rf"arn:aws:eks:us-east-1:{ACCOUNT}:access-entry/c1/role/{ACCOUNT}/ops/[0-9a-f-]{{36}}", entry["accessEntryArn"]
    )
    # The principal ARN (with a path) travels URL-encoded in the path.
    described = eks.describe_access_entry(clusterName="c1", principalArn=admin)["accessEntry"]
    assert described["kubernetesGroups"] == ["ops"] and described["tags"] == {"a": "b"}

    updated = eks.update_access_entry(
        clusterName="c1", principalArn=admin, kubernetesGroups=["ops", "viewers"], username="ops-user"
    )["accessEntry"]
    assert (updated["kubernetesGroups"], updated["username"]) == (["ops", "viewers"], "ops-user")

    associated = eks.associate_access_policy(
        clusterName="c1", principalArn=admin, policyArn=VIEW, accessScope={"type": "namespace", "namespaces": ["apps"]}
    )
    assert associated["associatedAccessPolicy"]["accessScope"] == {"type": "namespace", "namespaces": ["apps"]}
    # Associating again replaces the scope.
    eks.associate_access_policy(clusterName="c1", principalArn=admin, policyArn=VIEW, accessScope={"type": "cluster"})
    [policy] = eks.list_associated_access_policies(clusterName="c1", principalArn=admin)["associatedAccessPolicies"]
    assert policy["accessScope"]["type"] == "cluster"
    assert eks.list_access_entries(clusterName="c1", associatedPolicyArn=VIEW)["accessEntries"] == [admin]

    eks.disassociate_access_policy(clusterName="c1", principalArn=admin, policyArn=VIEW)
    assert eks.list_associated_access_policies(clusterName="c1", principalArn=admin)["associatedAccessPolicies"] == []
    eks.delete_access_entry(clusterName="c1", principalArn=admin)
    with pytest.raises(ClientError) as exc:
        eks.describe_access_entry(clusterName="c1", principalArn=admin)
    assert _code(exc) == "ResourceNotFoundException"
    assert sorted(eks.list_access_entries(clusterName="c1")["accessEntries"]) == [caller]


def test_access_entry_errors(env: Env, caller: str) -> None:
    env.cluster()
    eks = env.eks
    node_role = env.node_role

    def code(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as exc:
            call(clusterName="c1", **kwargs)
        return _code(exc)

    # Node entries take no groups or username and no access policy.
    assert (
        code(eks.create_access_entry, principalArn=node_role, type="EC2_LINUX", kubernetesGroups=["x"])
        == "InvalidParameterException"
    )
    assert (
        code(eks.create_access_entry, principalArn=node_role, type="EC2_LINUX", username="me")
        == "InvalidParameterException"
    )
    eks.create_access_entry(clusterName="c1", principalArn=node_role, type="EC2_LINUX")
    assert code(eks.create_access_entry, principalArn=node_role) == "ResourceInUseException"
    assert (
        code(eks.associate_access_policy, principalArn=node_role, policyArn=VIEW, accessScope={"type": "cluster"})
        == "InvalidParameterException"
    )
    assert code(eks.update_access_entry, principalArn=node_role, kubernetesGroups=["x"]) == "InvalidParameterException"
    # Principals must be real IAM roles or users, not sessions.
    assert (
        code(eks.create_access_entry, principalArn=f"arn:aws:iam::{ACCOUNT}:role/nobody") == "InvalidParameterException"
    )
    assert (
        code(eks.create_access_entry, principalArn=f"arn:aws:sts::{ACCOUNT}:assumed-role/nodes/s")
        == "InvalidParameterException"
    )
    assert (
        code(eks.create_access_entry, principalArn=env.pod_role, username="system:admin") == "InvalidParameterException"
    )
    # Policies must exist; namespace scopes need namespaces.
    assert (
        code(
            eks.associate_access_policy,
            principalArn=caller,
            policyArn="arn:aws:eks::aws:cluster-access-policy/Nope",
            accessScope={"type": "cluster"},
        )
        == "InvalidParameterException"
    )
    assert (
        code(eks.associate_access_policy, principalArn=caller, policyArn=VIEW, accessScope={"type": "namespace"})
        == "InvalidParameterException"
    )
    assert (
        code(eks.associate_access_policy, principalArn=env.pod_role, policyArn=VIEW, accessScope={"type": "cluster"})
        == "ResourceNotFoundException"
    )
    assert code(eks.disassociate_access_policy, principalArn=caller, policyArn=VIEW) == "ResourceNotFoundException"
    assert code(eks.delete_access_entry, principalArn=env.pod_role) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        eks.list_access_entries(clusterName="missing")
    assert _code(exc) == "ResourceNotFoundException"


def test_root_and_stand_in_principals(env: Env, caller: str) -> None:
    env.cluster(accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False})
    eks = env.eks
    # A tool may give its own caller (as STS reports it) an entry, and the account root one.
    for principal in (caller, ROOT):
        entry = eks.create_access_entry(clusterName="c1", principalArn=principal)["accessEntry"]
        assert (entry["type"], entry["username"]) == ("STANDARD", principal)
    # Other STS ARNs (sessions) are not IAM principals.
    with pytest.raises(ClientError) as exc:
        eks.create_access_entry(clusterName="c1", principalArn=f"arn:aws:sts::{ACCOUNT}:user/someone")
    assert _code(exc) == "InvalidParameterException"


def test_list_access_policies(boto: Any, aws: str) -> None:
    policies = {p["name"]: p["arn"] for p in boto("eks").list_access_policies()["accessPolicies"]}
    for name in ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"):
        assert policies[name] == f"arn:aws:eks::aws:cluster-access-policy/{name}"


# ------------------------------------------------------------------ pod identity associations


def test_pod_identity_lifecycle(env: Env) -> None:
    env.cluster()
    eks = env.eks
    created = eks.create_pod_identity_association(
        clusterName="c1",
        namespace="karpenter",
        serviceAccount="karpenter",
        roleArn=env.pod_role,
        tags={"app": "karpenter"},
    )["association"]
    association_id = created["associationId"]
    assert re.fullmatch(r"a-[a-z0-9]{17}", association_id)
    assert created["associationArn"] == f"arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/c1/{association_id}"
    eks.create_pod_identity_association(
        clusterName="c1", namespace="kube-system", serviceAccount="ebs", roleArn=env.pod_role
    )
    with pytest.raises(ClientError) as exc:
        eks.create_pod_identity_association(
            clusterName="c1", namespace="karpenter", serviceAccount="karpenter", roleArn=env.node_role
        )
    assert _code(exc) == "ResourceInUseException"
    assert association_id in str(exc.value)

    listed = eks.list_pod_identity_associations(clusterName="c1", namespace="karpenter")["associations"]
    assert [a["associationId"] for a in listed] == [association_id]
    assert len(eks.list_pod_identity_associations(clusterName="c1")["associations"]) == 2
    assert eks.list_pod_identity_associations(clusterName="c1", serviceAccount="nobody")["associations"] == []

    updated = eks.update_pod_identity_association(
        clusterName="c1", associationId=association_id, roleArn=env.node_role
    )["association"]
    assert updated["roleArn"] == env.node_role
    described = eks.describe_pod_identity_association(clusterName="c1", associationId=association_id)["association"]
    assert (described["roleArn"], described["tags"]) == (env.node_role, {"app": "karpenter"})

    eks.delete_pod_identity_association(clusterName="c1", associationId=association_id)
    for call in (eks.describe_pod_identity_association, eks.delete_pod_identity_association):
        with pytest.raises(ClientError) as exc:
            call(clusterName="c1", associationId=association_id)
        assert _code(exc) == "ResourceNotFoundException"


# ----------------------------------------------------------------------------------- tags


def test_tags_on_addons_entries_and_associations(env: Env, caller: str) -> None:
    env.cluster()
    eks = env.eks
    addon = eks.create_addon(clusterName="c1", addonName="coredns", tags={"a": "1"})["addon"]["addonArn"]
    association = eks.create_pod_identity_association(
        clusterName="c1", namespace="n", serviceAccount="s", roleArn=env.pod_role
    )["association"]["associationArn"]
    entry = eks.describe_access_entry(clusterName="c1", principalArn=caller)["accessEntry"]["accessEntryArn"]
    for arn in (addon, association, entry):
        eks.tag_resource(resourceArn=arn, tags={"b": "2"})
        eks.untag_resource(resourceArn=arn, tagKeys=["a"])
        assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assert eks.describe_addon(clusterName="c1", addonName="coredns")["addon"]["tags"] == {"b": "2"}
    cluster_arn = eks.describe_cluster(name="c1")["cluster"]["arn"]
    eks.tag_resource(resourceArn=cluster_arn, tags={"env": "dev"})
    assert eks.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == {"env": "dev"}
    with pytest.raises(ClientError) as exc:
        eks.list_tags_for_resource(resourceArn=f"arn:aws:eks:us-east-1:{ACCOUNT}:addon/c1/vpc-cni/x")
    assert _code(exc) == "NotFoundException"


# ------------------------------------------------------------------ deletion, reset, hooks


def test_delete_cluster_takes_its_addons_entries_and_associations(
    env: Env, monkeypatch: pytest.MonkeyPatch, caller: str
) -> None:
    deleted: list[tuple[str, str, str]] = []
    monkeypatch.setattr(eks_models, "CLUSTER_DELETED_HOOKS", [])
    eks_models.on_cluster_deleted(lambda *args: deleted.append(args))
    env.cluster()
    eks = env.eks
    eks.create_addon(clusterName="c1", addonName="vpc-cni")
    eks.create_access_entry(clusterName="c1", principalArn=env.pod_role)
    eks.create_pod_identity_association(clusterName="c1", namespace="n", serviceAccount="s", roleArn=env.pod_role)
    group_id = eks.describe_cluster(name="c1")["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
    env.nodegroup()
    with pytest.raises(ClientError) as exc:  # EKS refuses while node groups are attached
        eks.delete_cluster(name="c1")
    assert _code(exc) == "ResourceInUseException"
    eks.delete_nodegroup(clusterName="c1", nodegroupName="system")

    assert eks.delete_cluster(name="c1")["cluster"]["status"] == "DELETING"
    assert deleted == [(ACCOUNT, "us-east-1", "c1")]
    with pytest.raises(ClientError) as exc:
        eks.describe_cluster(name="c1")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        eks.list_addons(clusterName="c1")
    assert _code(exc) == "ResourceNotFoundException"
    assert (
        env.ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroups"] == []
    )

    # A new cluster under the same name starts empty (apart from EKS's creator entry).
    env.cluster()
    assert eks.list_addons(clusterName="c1")["addons"] == []
    assert eks.list_access_entries(clusterName="c1")["accessEntries"] == [caller]
    assert eks.list_pod_identity_associations(clusterName="c1")["associations"] == []


def test_reset_forgets_everything(env: Env, moto_server: Any) -> None:
    env.cluster()
    env.eks.create_addon(clusterName="c1", addonName="coredns")
    assert eks_models.cluster_states
    moto_server.reset()
    assert not eks_models.cluster_states
    assert env.eks.list_clusters()["clusters"] == []


def test_endpoint_provider_replaces_endpoint_and_ca(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, str]] = []

    def provider(account: str, region: str, name: str) -> tuple[str, str] | None:
        calls.append((account, region, name))
        return ("https://127.0.0.1:6443", "Q0EtREFUQQ==") if name == "c1" else None

    monkeypatch.setattr(eks_models, "CLUSTER_ENDPOINT_PROVIDER", provider)
    created = env.cluster()
    assert (created["endpoint"], created["certificateAuthority"]["data"]) == ("https://127.0.0.1:6443", "Q0EtREFUQQ==")
    described = env.eks.describe_cluster(name="c1")["cluster"]
    assert (described["endpoint"], described["certificateAuthority"]["data"]) == (
        "https://127.0.0.1:6443",
        "Q0EtREFUQQ==",
    )
    other = env.cluster("c2")
    assert other["endpoint"].endswith(".eks.amazonaws.com")  # None keeps the simulated endpoint
    assert (ACCOUNT, "us-east-1", "c1") in calls


# -------------------------------------------------------------------------------- latency


def test_latency_reports_transitional_states(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(eks_models, "clock", lambda: now[0])
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 1.0)
    env.cluster()
    eks = env.eks
    assert eks.describe_cluster(name="c1")["cluster"]["status"] == "CREATING"
    with pytest.raises(ClientError) as exc:
        eks.create_addon(clusterName="c1", addonName="coredns")
    assert _code(exc) == "InvalidRequestException"
    now[0] += eks_models.P50_SECONDS["cluster_create"]
    assert eks.describe_cluster(name="c1")["cluster"]["status"] == "ACTIVE"

    eks.create_addon(clusterName="c1", addonName="coredns")
    assert eks.describe_addon(clusterName="c1", addonName="coredns")["addon"]["status"] == "CREATING"
    now[0] += eks_models.P50_SECONDS["addon:coredns"]
    assert eks.describe_addon(clusterName="c1", addonName="coredns")["addon"]["status"] == "ACTIVE"

    update = eks.update_cluster_config(name="c1", resourcesVpcConfig={"endpointPrivateAccess": True})["update"]
    assert update["status"] == "InProgress"
    cluster = eks.describe_cluster(name="c1")["cluster"]
    assert cluster["status"] == "UPDATING"
    assert cluster["resourcesVpcConfig"]["endpointPrivateAccess"] is False  # not yet applied
    with pytest.raises(ClientError) as exc:
        eks.update_cluster_config(name="c1", upgradePolicy={"supportType": "STANDARD"})
    assert _code(exc) == "ResourceInUseException"
    now[0] += eks_models.P50_SECONDS["cluster_config_update"]
    assert eks.describe_update(name="c1", updateId=update["id"])["update"]["status"] == "Successful"
    cluster = eks.describe_cluster(name="c1")["cluster"]
    assert (cluster["status"], cluster["resourcesVpcConfig"]["endpointPrivateAccess"]) == ("ACTIVE", True)

    eks.delete_addon(clusterName="c1", addonName="coredns")
    assert eks.describe_addon(clusterName="c1", addonName="coredns")["addon"]["status"] == "DELETING"
    eks.delete_cluster(name="c1")
    assert eks.describe_cluster(name="c1")["cluster"]["status"] == "DELETING"
    now[0] += eks_models.P50_SECONDS["cluster_delete"]
    assert eks.list_clusters()["clusters"] == []


def test_addon_waiter_polls_while_creating(eks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 0.02)  # coredns: 0.3 s
    eks.create_addon(clusterName="c1", addonName="coredns")
    assert eks.describe_addon(clusterName="c1", addonName="coredns")["addon"]["status"] == "CREATING"
    eks.get_waiter("addon_active").wait(
        clusterName="c1", addonName="coredns", WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    assert eks.describe_addon(clusterName="c1", addonName="coredns")["addon"]["status"] == "ACTIVE"


def test_other_services_pass_through(boto: Any, aws: str) -> None:
    assert boto("sts").get_caller_identity()["Account"] == ACCOUNT
    assert boto("eks").list_clusters()["clusters"] == []
