"""The EKS step against the sandbox (moto plus the sandbox's EKS extension)."""

from __future__ import annotations

import dataclasses

import pytest

from provisioner.engine import Action
from provisioner.engine.graph import Graph
from provisioner.planfile import load_plan
from provisioner.steps import build, eks
from provisioner.steps.eks.access import AccessEntry
from provisioner.steps.eks.addons import Addon
from provisioner.steps.eks.nodegroups import Nodegroup
from provisioner.steps.eks.pod_identity import PodIdentityAssociation
from tests.conftest import PLANS
from tests.idempotency import check_four_phases, runner, subgraph

DEV = load_plan("dev", PLANS)
NODES = build(DEV)
LISTED = (Addon, AccessEntry, PodIdentityAssociation, Nodegroup)
EKS_KINDS = sorted({n.type for n in eks.resources(DEV) if not n.read_only and n.key.startswith("eks/")})


@pytest.fixture
def session_for(sso_session_for):
    """Every EKS test runs the tool as IAM Identity Center gives it: an assumed role whose role
    has the path /aws-reserved/sso.amazonaws.com/us-east-1/ (tests/conftest.py)."""
    return sso_session_for


def with_eks(**changes: object):
    spec = DEV.spec
    return dataclasses.replace(DEV, spec=spec.model_copy(update={"eks": spec.eks.model_copy(update=changes)}))


def test_graph_lets_the_cluster_start_without_nat_and_orders_nodes_after_vpc_cni() -> None:
    graph = Graph.build(NODES)

    def ancestors(key: str) -> set[str]:
        seen: set[str] = set()
        stack = list(graph.deps[key])
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                stack.extend(graph.deps[k])
        return seen

    assert not any(
        k.startswith(("network/nat/", "network/route-table/", "network/eip/")) for k in ancestors(eks.CLUSTER)
    )
    assert {"eks/addon/vpc-cni", "network/route-table/private-a", "network/route-table/private-b"} <= ancestors(
        eks.NODEGROUP
    )
    assert eks.NODEGROUP in ancestors("eks/addon/coredns")
    assert eks.NODEGROUP not in ancestors("eks/addon/kube-proxy")


@pytest.mark.parametrize("kind", EKS_KINDS)
def test_apply_eks_kind_is_idempotent_through_four_phases(kind: str, session_for) -> None:
    check_four_phases(DEV, session_for, subgraph(NODES, lambda n: n.type == kind and n.key.startswith("eks/")))


@pytest.fixture
def applied(session_for, prepared) -> None:
    """dev applied by the SSO session (through `prepared`: built once per process, then restored)."""

    def build() -> None:
        result = runner(DEV, session_for(), NODES).apply()
        assert result.status == "ok", [(r.key, r.error) for r in result.results.values() if r.status != "done"]

    prepared("dev applied", build)


@pytest.fixture
def sso_role_arn(sso_session_for) -> str:
    return sso_session_for.role_arn


def test_apply_dev_builds_the_cluster_the_seed_describes(applied, boto, sso_role_arn) -> None:
    ec2, eks_api = boto("ec2"), boto("eks")
    cluster = eks_api.describe_cluster(name="dev-eks")["cluster"]
    private = {
        s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "tag:provisioner:plan", "Values": ["dev"]}])["Subnets"]
        if any(t["Key"] == "kubernetes.io/role/internal-elb" for t in s["Tags"])
    }
    vpc = cluster["resourcesVpcConfig"]
    assert set(vpc["subnetIds"]) == private
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    enabled = {t for e in cluster["logging"]["clusterLogging"] if e["enabled"] for t in e["types"]}
    assert enabled == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    (encryption,) = cluster["encryptionConfig"]
    kms = boto("kms")
    assert kms.get_key_rotation_status(KeyId=encryption["provider"]["keyArn"])["KeyRotationEnabled"] is True
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert cluster["version"] == "1.34"

    assert sorted(eks_api.list_addons(clusterName="dev-eks")["addons"]) == sorted(eks.ADDONS)
    for name in eks.ADDONS:
        assert eks_api.describe_addon(clusterName="dev-eks", addonName=name)["addon"]["status"] == "ACTIVE"

    entries = eks_api.list_access_entries(clusterName="dev-eks")["accessEntries"]
    caller = sso_role_arn  # the role's real ARN, with its path, not the STS session's
    assert caller in entries
    policies = eks_api.list_associated_access_policies(clusterName="dev-eks", principalArn=caller)[
        "associatedAccessPolicies"
    ]
    assert [p["policyArn"] for p in policies] == ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"]
    node_role = boto("iam").get_role(RoleName="dev-eks-system-nodes")["Role"]["Arn"]
    assert (
        eks_api.describe_access_entry(clusterName="dev-eks", principalArn=node_role)["accessEntry"]["type"]
        == "EC2_LINUX"
    )

    group = eks_api.describe_nodegroup(clusterName="dev-eks", nodegroupName="system")["nodegroup"]
    assert group["scalingConfig"]["minSize"] >= 2 and group["scalingConfig"]["desiredSize"] >= 2
    azs = {s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=group["subnets"])["Subnets"]}
    assert len(azs) >= 2
    assert group["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    template = ec2.describe_launch_template_versions(
        LaunchTemplateId=group["launchTemplate"]["id"], Versions=["$Default"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert template["MetadataOptions"]["HttpTokens"] == "required"
    assert template["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    ebs = template["BlockDeviceMappings"][0]["Ebs"]
    assert ebs["Encrypted"] is True and ebs["VolumeType"] == "gp3"

    oidc = boto("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert len(oidc) == 1


def test_discover_finds_the_listed_kinds_with_fields_from_observe_alone(applied, session_for) -> None:
    """The generic list-then-describe discover (steps/common/listed.py) finds each add-on,
    access entry, pod identity association and node group, keyed by its node, with fields that
    `observe` makes from the described item it keeps (no field added beside it)."""
    ctx = runner(DEV, session_for(), NODES).ctx
    ctx.nodes = {n.key: n for n in NODES}
    wanted = {kind: {n.key for n in NODES if type(n) is kind} for kind in LISTED}
    for kind, keys in wanted.items():
        assert keys, kind.type  # the dev plan has nodes of each
        lives = kind.discover(ctx)
        assert {live.key for live in lives} >= keys, kind.type
        for live in lives:
            if "covered_by" in live.fields:
                continue  # the operator's stand-in record for another node's entry (access.py)
            assert live.fields == kind.observe(live.raw), live.key
            assert live.id == kind.listing.live_id.format_map(live.raw), live.key


def test_plan_shows_changed_public_cidrs_as_one_update_and_apply_makes_it(applied, session_for, boto) -> None:
    plan = with_eks(endpoint=DEV.spec.eks.endpoint.model_copy(update={"public_cidrs": ["198.51.100.0/24"]}))
    nodes = build(plan)
    changes = [c for c in runner(plan, session_for(), nodes).plan().changes if c.action is not Action.NOOP]
    assert [(c.key, c.action) for c in changes] == [(eks.CLUSTER, Action.UPDATE)]
    assert changes[0].diff == {"public_cidrs": {"from": ["203.0.113.0/24"], "to": ["198.51.100.0/24"]}}
    assert runner(plan, session_for(), nodes).apply().status == "ok"
    cluster = boto("eks").describe_cluster(name="dev-eks")["cluster"]
    assert cluster["resourcesVpcConfig"]["publicAccessCidrs"] == ["198.51.100.0/24"]
    assert not runner(plan, session_for(), nodes).plan().has_changes


def test_plan_shows_node_group_scaling_and_logging_drift(applied, session_for, boto) -> None:
    plan = with_eks(
        system_nodes=DEV.spec.eks.system_nodes.model_copy(update={"desired_size": 3}),
        logging=["api", "audit", "authenticator"],
    )
    nodes = build(plan)
    changes = {c.key: c for c in runner(plan, session_for(), nodes).plan().changes if c.action is not Action.NOOP}
    assert set(changes) == {eks.CLUSTER, eks.NODEGROUP}
    assert "scaling" in changes[eks.NODEGROUP].diff and "log_types" in changes[eks.CLUSTER].diff
    assert runner(plan, session_for(), nodes).apply().status == "ok"
    assert (
        boto("eks").describe_nodegroup(clusterName="dev-eks", nodegroupName="system")["nodegroup"]["scalingConfig"][
            "desiredSize"
        ]
        == 3
    )
    assert not runner(plan, session_for(), nodes).plan().has_changes


def test_plan_shows_version_upgrade_and_addon_defaults_follow(applied, session_for, boto) -> None:
    plan = with_eks(version="1.35")
    nodes = build(plan)
    session = session_for()
    changes = {c.key: c for c in runner(plan, session, nodes).plan().changes if c.action is not Action.NOOP}
    assert changes[eks.CLUSTER].diff["version"] == {"from": "1.34", "to": "1.35"}
    # The cluster moves to another version: the add-ons move to its defaults (the catalog is read).
    assert changes["eks/addon/coredns"].diff["version"] == {"from": "v1.12.4-eksbuild.1", "to": "v1.13.1-eksbuild.1"}
    assert session.calls["eks:DescribeAddonVersions"] == 1, session.calls
    assert runner(plan, session_for(), nodes).apply().status == "ok"
    assert boto("eks").describe_cluster(name="dev-eks")["cluster"]["version"] == "1.35"
    assert not runner(plan, session_for(), nodes).plan().has_changes


def test_oidc_provider_is_read_by_its_issuer_and_drift_in_it_is_still_seen(applied, session_for, boto) -> None:
    """While the cluster exists its provider is read by the ARN its issuer gives (issue #17),
    without listing the account's providers; a tag removed by hand is still drift."""
    issuer = boto("eks").describe_cluster(name="dev-eks")["cluster"]["identity"]["oidc"]["issuer"]
    iam = boto("iam")
    (arn,) = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert arn.endswith(":oidc-provider/" + issuer.removeprefix("https://"))
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["Owner"])

    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, NODES).plan().changes if c.action is not Action.NOOP}
    assert set(changes) == {"eks/oidc-provider"}
    assert changes["eks/oidc-provider"].action is Action.UPDATE
    assert [k for k in changes["eks/oidc-provider"].diff if "Owner" in k], changes["eks/oidc-provider"].diff
    assert "iam:ListOpenIDConnectProviders" not in session.calls
    assert session.calls["iam:GetOpenIDConnectProvider"] == 1


def test_oidc_provider_of_an_earlier_issuer_is_still_found(applied, session_for, boto) -> None:
    """No provider at the cluster's issuer: the providers are listed, so one the plan made for
    an earlier issuer (a replaced cluster's) is found and replaced, not left behind."""
    iam = boto("iam")
    (arn,) = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    tags = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["Tags"]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    old = iam.create_open_id_connect_provider(
        Url="https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        Tags=tags,
    )["OpenIDConnectProviderArn"]

    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, NODES).plan().changes if c.action is not Action.NOOP}
    assert set(changes) == {"eks/oidc-provider"}
    assert changes["eks/oidc-provider"].action is Action.REPLACE
    assert session.calls["iam:ListOpenIDConnectProviders"] == 1

    assert runner(DEV, session_for(), NODES).apply().status == "ok"
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert old not in arns and len(arns) == 1


def test_launch_template_is_read_with_every_default_version_and_drift_is_seen(session_for, boto) -> None:
    """Templates come from one DescribeLaunchTemplateVersions of every template's default
    version, tags from the bulk tag read (issue #17): a new default version made by hand is
    drift; a template without the plan's tags is read by id only when named like the plan's,
    never adopted, and survives destroy."""
    nodes = subgraph(NODES, lambda n: n.key == eks.LAUNCH_TEMPLATE)
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    ec2 = boto("ec2")
    (ours,) = ec2.describe_launch_templates(LaunchTemplateNames=["dev-eks-system-nodes"])["LaunchTemplates"]
    (first,) = ec2.describe_launch_template_versions(LaunchTemplateId=ours["LaunchTemplateId"], Versions=["1"])[
        "LaunchTemplateVersions"
    ]
    data = {**first["LaunchTemplateData"], "MetadataOptions": {"HttpTokens": "optional", "HttpPutResponseHopLimit": 2}}
    ec2.create_launch_template_version(LaunchTemplateId=ours["LaunchTemplateId"], LaunchTemplateData=data)
    ec2.modify_launch_template(LaunchTemplateId=ours["LaunchTemplateId"], DefaultVersion="2")
    ec2.create_launch_template(LaunchTemplateName="dev-eks-look-alike", LaunchTemplateData={})
    ec2.create_launch_template(LaunchTemplateName="karpenter.k8s.aws/123", LaunchTemplateData={})

    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, nodes).plan().changes if c.action is not Action.NOOP}
    assert {k: c.action for k, c in changes.items()} == {eks.LAUNCH_TEMPLATE: Action.UPDATE}
    assert set(changes[eks.LAUNCH_TEMPLATE].diff) == {"metadata"}
    assert session.calls["ec2:DescribeLaunchTemplateVersions"] == 1
    assert session.calls["ec2:DescribeLaunchTemplates"] == 1  # the look-alike's tags, by id

    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    (default,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=ours["LaunchTemplateId"], Versions=["$Default"]
    )["LaunchTemplateVersions"]
    assert default["VersionNumber"] == 3
    assert default["LaunchTemplateData"]["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert not runner(DEV, session_for(), nodes).plan().has_changes

    assert runner(DEV, session_for(), nodes).destroy().status == "ok"
    left = sorted(t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"])
    assert left == ["dev-eks-look-alike", "karpenter.k8s.aws/123"]


def test_destroy_removes_the_cluster_and_everything_around_it(applied, session_for, boto) -> None:
    assert runner(DEV, session_for(), NODES).destroy().status == "ok"
    assert boto("eks").list_clusters()["clusters"] == []
    assert boto("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert boto("iam").list_roles(PathPrefix="/provisioner/dev/")["Roles"] == []
    kms = boto("kms")
    states = {kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"]}
    assert states == {"PendingDeletion"}
    assert not boto("ec2").describe_launch_templates(Filters=[{"Name": "tag:provisioner:plan", "Values": ["dev"]}])[
        "LaunchTemplates"
    ]


def test_plan_of_existing_unpinned_addons_keeps_their_versions_without_the_catalog(applied, session_for) -> None:
    session = session_for()
    assert not runner(DEV, session, NODES).plan().has_changes
    assert "eks:DescribeAddonVersions" not in session.calls, session.calls


def test_plan_of_a_pinned_addon_shows_its_version_drift(applied, session_for, boto) -> None:
    plan = with_eks(addons=DEV.spec.eks.addons.model_copy(update={"coredns": "v1.12.1-eksbuild.2"}))
    nodes = build(plan)
    changes = {c.key: c for c in runner(plan, session_for(), nodes).plan().changes if c.action is not Action.NOOP}
    assert set(changes) == {"eks/addon/coredns"}
    assert changes["eks/addon/coredns"].diff["version"] == {"from": "v1.12.4-eksbuild.1", "to": "v1.12.1-eksbuild.2"}


def test_plan_of_an_addon_deleted_by_hand_creates_it_at_the_default(applied, session_for, boto) -> None:
    boto("eks").delete_addon(clusterName="dev-eks", addonName="coredns")
    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, NODES).plan().changes if c.action is not Action.NOOP}
    assert changes["eks/addon/coredns"].action is Action.CREATE
    assert session.calls["eks:DescribeAddonVersions"] == 1, session.calls
    assert runner(DEV, session_for(), NODES).apply().status == "ok"
    made = boto("eks").describe_addon(clusterName="dev-eks", addonName="coredns")["addon"]
    assert made["addonVersion"] == "v1.12.4-eksbuild.1"  # the default for 1.34
