"""The network step against the simulated AWS, through the production session factory."""

from __future__ import annotations

import pytest

from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import Action, RunContext, Runner
from provisioner.planfile import load_plan
from provisioner.steps import network
from tests.conftest import PLANS
from tests.idempotency import check_four_phases, runner, subgraph

DEV = load_plan("dev", PLANS)
NODES = network.resources(DEV)
KINDS = sorted({n.type for n in NODES})


def test_network_builds_every_kind_of_the_seed() -> None:
    assert (
        sorted(
            [
                "ec2:vpc",
                "ec2:subnet",
                "ec2:internet-gateway",
                "ec2:eip",
                "ec2:nat-gateway",
                "ec2:route-table",
                "ec2:network-acl",
                "ec2:default-network-acl",
                "ec2:default-security-group",
                "logs:log-group",
                "iam:role",
                "iam:policy",
                "ec2:flow-log",
            ]
        )
        == KINDS
    )


@pytest.mark.parametrize("kind", KINDS)
def test_apply_kind_is_idempotent_through_four_phases(kind: str, session_for) -> None:
    check_four_phases(DEV, session_for, subgraph(NODES, lambda n: n.type == kind))


@pytest.fixture
def applied(session_for, prepared) -> None:
    """dev's network applied (through `prepared`: built once per process, then restored)."""

    def build() -> None:
        assert runner(DEV, session_for(), NODES).apply().status == "ok"

    prepared("dev network applied", build)


def test_apply_network_matches_the_seed(applied, boto) -> None:
    ec2 = boto("ec2")
    mine = [{"Name": f"tag:{TAG_PLAN}", "Values": ["dev"]}]
    vpc = ec2.describe_vpcs(Filters=mine)["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.10.0.0/16"
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        answer = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)
        assert answer[attribute[0].upper() + attribute[1:]]["Value"] is True
    subnets = ec2.describe_subnets(Filters=mine)["Subnets"]
    public = [s for s in subnets if any(t["Key"] == "kubernetes.io/role/elb" for t in s["Tags"])]
    private = [s for s in subnets if any(t["Key"] == "kubernetes.io/role/internal-elb" for t in s["Tags"])]
    assert len(public) == 2 and len(private) == 2
    assert {s["AvailabilityZone"] for s in public} == {"us-east-1a", "us-east-1b"}
    assert all({"Key": "karpenter.sh/discovery", "Value": "dev-eks"} in s["Tags"] for s in private)
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)
    nats = [n for n in ec2.describe_nat_gateways(Filters=mine)["NatGateways"] if n["State"] == "available"]
    assert sorted(n["SubnetId"] for n in nats) == sorted(s["SubnetId"] for s in public)
    assert len({n["NatGatewayAddresses"][0]["AllocationId"] for n in nats}) == 2
    tables = ec2.describe_route_tables(Filters=mine)["RouteTables"]
    assert len(tables) == 3
    nat_by_subnet = {n["SubnetId"]: n["NatGatewayId"] for n in nats}
    az_of = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    for table in tables:
        default = next(r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")
        associated = [a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")]
        if default.get("GatewayId", "").startswith("igw-"):
            assert sorted(associated) == sorted(s["SubnetId"] for s in public)
        else:
            (subnet,) = associated
            assert subnet in {s["SubnetId"] for s in private}
            nat_subnet = next(p for p, n in nat_by_subnet.items() if n == default["NatGatewayId"])
            assert az_of[nat_subnet] == az_of[subnet], "each private subnet routes through its own AZ's NAT"
    acls = ec2.describe_network_acls(Filters=mine)["NetworkAcls"]
    # The two tier NACLs serve the subnets; the default one (tagged, stripped) serves none.
    assert sorted(len(a["Associations"]) for a in acls if not a["IsDefault"]) == [2, 2]
    (default_acl,) = [a for a in acls if a["IsDefault"]]
    assert default_acl["Associations"] == [] and {e["RuleAction"] for e in default_acl["Entries"]} == {"deny"}
    default_sg = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]
    assert default_sg["IpPermissions"] == [] and default_sg["IpPermissionsEgress"] == []
    (flow_log,) = ec2.describe_flow_logs(Filters=mine)["FlowLogs"]
    assert flow_log["ResourceId"] == vpc["VpcId"] and flow_log["TrafficType"] == "ALL"
    assert flow_log["LogGroupName"] == "/provisioner/dev/vpc-flow-logs"
    group = boto("logs").describe_log_groups(logGroupNamePrefix="/provisioner/dev/")["logGroups"][0]
    assert group["retentionInDays"] == 30
    role = boto("iam").get_role(RoleName="dev-vpc-flow-logs")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}


def test_log_groups_are_read_by_name_and_drift_and_strays_are_still_found(session_for, boto) -> None:
    """The plan's log groups are read in one DescribeLogGroups by name (issue #17): retention
    changed by hand is drift, and a group tagged for the plan that the plan no longer names
    (found through the bulk tag read) is deleted; another plan's group is left alone."""
    nodes = subgraph(NODES, lambda n: n.type == "logs:log-group")
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    logs = boto("logs")
    logs.put_retention_policy(logGroupName="/provisioner/dev/vpc-flow-logs", retentionInDays=1)
    logs.create_log_group(
        logGroupName="/provisioner/dev/old-flow-logs", tags={TAG_PLAN: "dev", TAG_KEY: "network/old-log-group"}
    )
    logs.create_log_group(
        logGroupName="/provisioner/dev/someone-elses", tags={TAG_PLAN: "staging", TAG_KEY: "network/log-group"}
    )

    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, nodes).plan().changes if c.action is not Action.NOOP}
    assert {k: c.action for k, c in changes.items()} == {
        "network/flow-logs/log-group": Action.UPDATE,
        "network/old-log-group": Action.DELETE,
    }, changes
    assert set(changes["network/flow-logs/log-group"].diff) == {"retention_days"}
    assert session.calls["logs:DescribeLogGroups"] == 1, session.calls

    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/provisioner/")["logGroups"]}
    assert set(groups) == {"/provisioner/dev/vpc-flow-logs", "/provisioner/dev/someone-elses"}
    assert groups["/provisioner/dev/vpc-flow-logs"]["retentionInDays"] == 30


def test_plan_shows_deleted_nat_gateway_and_route_and_apply_restores_them(applied, boto, session_for) -> None:
    ec2 = boto("ec2")
    nat = ec2.describe_nat_gateways(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": ["network/nat/a"]}])["NatGateways"][0]
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    table = ec2.describe_route_tables(
        Filters=[{"Name": f"tag:{TAG_KEY}", "Values": ["network/route-table/private-b"]}]
    )["RouteTables"][0]
    ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")

    changes = {c.key: c for c in runner(DEV, session_for(), NODES).plan().changes if c.action is not Action.NOOP}
    assert changes["network/nat/a"].action is Action.CREATE
    assert changes["network/route-table/private-b"].action is Action.UPDATE
    assert "routes" in changes["network/route-table/private-b"].diff
    assert changes["network/route-table/private-a"].action is Action.UPDATE  # its NAT is new
    assert set(changes) == {"network/nat/a", "network/route-table/private-a", "network/route-table/private-b"}

    assert runner(DEV, session_for(), NODES).apply().status == "ok"
    assert not runner(DEV, session_for(), NODES).plan().has_changes


def test_plan_shows_changed_plan_tag_as_update(applied, boto, session_for) -> None:
    ec2 = boto("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": ["network/vpc"]}])["Vpcs"][0]
    ec2.create_tags(
        Resources=[vpc["VpcId"]], Tags=[{"Key": "Environment", "Value": "edited"}, {"Key": "Team", "Value": "theirs"}]
    )

    (change,) = [c for c in runner(DEV, session_for(), NODES).plan().changes if c.action is not Action.NOOP]
    assert change.key == "network/vpc" and change.action is Action.UPDATE
    assert change.diff == {"tags.Environment": {"from": "edited", "to": "dev"}}  # a tag we do not manage is left alone

    assert runner(DEV, session_for(), NODES).apply().status == "ok"
    tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Tags"]}
    assert tags["Environment"] == "dev" and tags["Team"] == "theirs"


def test_plan_shows_default_security_group_rule_added_by_hand(applied, boto, session_for) -> None:
    ec2 = boto("ec2")
    group = ec2.describe_security_groups(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": ["network/default-sg"]}])[
        "SecurityGroups"
    ][0]
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    (change,) = [c for c in runner(DEV, session_for(), NODES).plan().changes if c.action is not Action.NOOP]
    assert change.key == "network/default-sg" and change.diff["ingress_rules"] == {"from": 1, "to": 0}
    assert runner(DEV, session_for(), NODES).apply().status == "ok"
    assert ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]["IpPermissions"] == []


def test_default_nacl_is_stripped_of_its_allow_rules_and_a_rule_added_back_is_undone(
    applied, boto, session_for
) -> None:
    ec2 = boto("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": ["network/vpc"]}])["Vpcs"][0]["VpcId"]
    (acl,) = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}]
    )["NetworkAcls"]
    assert {e["RuleAction"] for e in acl["Entries"]} == {"deny"}  # only AWS's `*` rules are left
    assert {"Key": TAG_KEY, "Value": "network/default-nacl"} in acl["Tags"]
    ec2.create_network_acl_entry(
        NetworkAclId=acl["NetworkAclId"],
        RuleNumber=100,
        Protocol="-1",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
    )
    (change,) = [c for c in runner(DEV, session_for(), NODES).plan().changes if c.action is not Action.NOOP]
    assert change.key == "network/default-nacl" and change.diff["allow_entries"] == {"from": 1, "to": 0}
    assert runner(DEV, session_for(), NODES).apply().status == "ok"
    entries = ec2.describe_network_acls(NetworkAclIds=[acl["NetworkAclId"]])["NetworkAcls"][0]["Entries"]
    assert {e["RuleAction"] for e in entries} == {"deny"}
    # The tier NACLs are still the plan's two, and the default one is never taken for one.
    plan_acls = ec2.describe_network_acls(Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": ["dev"]}])["NetworkAcls"]
    assert len(plan_acls) == 3 and sum(1 for a in plan_acls if a["IsDefault"]) == 1


def test_destroy_network_leaves_lookalikes_untouched(applied, boto, session_for) -> None:
    ec2 = boto("ec2")
    lookalike = ec2.create_vpc(
        CidrBlock="10.10.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "dev-vpc"}]}],
    )["Vpc"]
    subnet = ec2.create_subnet(VpcId=lookalike["VpcId"], CidrBlock="10.10.0.0/22", AvailabilityZone="us-east-1a")[
        "Subnet"
    ]
    eip = ec2.allocate_address(Domain="vpc")
    other_plan = ec2.create_vpc(
        CidrBlock="10.50.0.0/16",
        TagSpecifications=[
            {
                "ResourceType": "vpc",
                "Tags": [{"Key": TAG_PLAN, "Value": "staging"}, {"Key": TAG_KEY, "Value": "network/vpc"}],
            }
        ],
    )["Vpc"]

    # Never adopted: a plan still sees only its own resources.
    assert not runner(DEV, session_for(), NODES).plan().has_changes

    result = runner(DEV, session_for(), NODES).destroy()
    assert result.status == "ok"
    vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert {lookalike["VpcId"], other_plan["VpcId"]} <= vpcs
    assert ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"]
    assert ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"]
    tagged = boto("resourcegroupstaggingapi").get_resources(TagFilters=[{"Key": TAG_PLAN, "Values": ["dev"]}])[
        "ResourceTagMappingList"
    ]
    assert tagged == []
    assert boto("iam").list_roles(PathPrefix="/provisioner/dev/")["Roles"] == []


def test_apply_refuses_to_adopt_a_role_with_our_name_but_not_our_tags(boto, session_for) -> None:
    boto("iam").create_role(RoleName="dev-vpc-flow-logs", AssumeRolePolicyDocument="{}")
    result = runner(DEV, session_for(), NODES).apply()
    assert result.status == "failed"
    assert result.results["network/flow-logs/role"].error_code == "EntityAlreadyExists"
    assert result.results["network/flow-logs"].status == "skipped"
    assert result.results["network/vpc"].status == "done"  # independent branches finish


def test_apply_removes_resources_of_an_availability_zone_dropped_from_the_plan(session_for, boto) -> None:
    prod = load_plan("prod", PLANS)
    assert runner(prod, session_for(), network.resources(prod)).apply().status == "ok"
    import dataclasses

    spec = prod.spec
    smaller = spec.model_copy(
        update={
            "network": spec.network.model_copy(
                update={
                    "availability_zones": spec.network.availability_zones[:2],
                    "public_subnets": spec.network.public_subnets[:2],
                    "private_subnets": spec.network.private_subnets[:2],
                }
            )
        }
    )
    two_zones = dataclasses.replace(prod, spec=smaller)
    nodes = network.resources(two_zones)
    changes = runner(two_zones, session_for(), nodes).plan().changes
    deleted = sorted(c.key for c in changes if c.action is Action.DELETE)
    assert deleted == sorted(
        [
            "network/subnet/public-c",
            "network/subnet/private-c",
            "network/eip/c",
            "network/nat/c",
            "network/route-table/private-c",
        ]
    )
    assert runner(two_zones, session_for(), nodes).apply().status == "ok"
    assert not runner(two_zones, session_for(), nodes).plan().has_changes
    subnets = boto("ec2").describe_subnets(Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": ["prod"]}])["Subnets"]
    assert len(subnets) == 4


def test_apply_journals_mutating_calls_with_their_node(session_for, home) -> None:
    import json

    from provisioner.engine.journal import Journal

    journal = Journal(home, "dev", "apply")
    session = session_for(journal=journal)
    nodes = subgraph(NODES, lambda n: n.type == "ec2:subnet")
    Runner(RunContext(plan=DEV, aws=session, journal=journal), nodes).apply()
    journal.close("ok")
    events = [json.loads(line) for line in journal.path.read_text().splitlines()]
    calls = [e for e in events if e["event"] == "api-call"]
    assert {(c["key"], c["operation"]) for c in calls} >= {
        ("network/vpc", "CreateVpc"),
        ("network/subnet/public-a", "CreateSubnet"),
    }
    assert all(c["request_id"] for c in calls)
    assert not any(c["operation"].startswith("Describe") for c in calls)
    assert events[-1]["event"] == "run-end"


def test_apply_replaces_the_vpc_and_what_is_in_it_when_the_cidr_changes(applied, session_for, boto) -> None:
    import dataclasses

    spec = DEV.spec
    moved = spec.model_copy(
        update={
            "network": spec.network.model_copy(
                update={
                    "cidr": "10.11.0.0/16",
                    "public_subnets": ["10.11.0.0/22", "10.11.4.0/22"],
                    "private_subnets": ["10.11.64.0/18", "10.11.128.0/18"],
                }
            )
        }
    )
    plan = dataclasses.replace(DEV, spec=moved)
    nodes = network.resources(plan)
    changes = {c.key: c.action for c in runner(plan, session_for(), nodes).plan().changes}
    assert changes["network/vpc"] is Action.REPLACE
    assert changes["network/subnet/private-a"] is Action.REPLACE
    assert changes["network/igw"] is Action.REPLACE

    result = runner(plan, session_for(), nodes).apply()
    assert result.status == "ok", [(r.key, r.error) for r in result.results.values() if r.status != "done"]
    assert not runner(plan, session_for(), nodes).plan().has_changes
    vpcs = boto("ec2").describe_vpcs(Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": ["dev"]}])["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == ["10.11.0.0/16"]
