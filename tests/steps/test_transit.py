"""The Transit Gateway that links the accounts (issue 18), run as the CLI runs it: the
organization plan in the management account, the shared plan in Shared Services, each
environment in its own account (sessions from aws.accounts.session_for_plan), then read
straight from the sandbox. Environments apply only their network subgraph (plus the cluster
security group), which is all the transit touches, to keep the tests fast."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from provisioner.aws import AwsSession
from provisioner.aws.accounts import session_for_plan
from provisioner.constants import TAG_PLAN
from provisioner.engine import Action, PermanentError, RunContext, Runner
from provisioner.planfile import load_plan
from provisioner.planfile.transit import format_matrix, segment_matrix
from provisioner.steps import build, organization, shared
from provisioner.steps.eks import CLUSTER_SG
from provisioner.steps.shared.network import GUARD, guarded
from tests.conftest import PLANS
from tests.idempotency import mutating_calls, runner, subgraph
from tests.steps.test_organization import check_four_phases_keeping

ORG = load_plan("organization", PLANS)
SHARED = load_plan("shared", PLANS)
ENVIRONMENTS = {name: load_plan(name, PLANS) for name in ("dev", "staging", "prod")}
ACCOUNT_OF = {"dev": "development", "staging": "staging", "prod": "production"}
# The shared plan's network and transit, with the guard over them (the registries and CI
# roles have their own tests); the organization's accounts and RAM sharing, likewise.
SHARED_NODES = guarded(
    subgraph(
        [n for n in shared.resources(SHARED) if n.key != GUARD],
        lambda n: n.key.startswith(("shared/network/", "shared/transit/")),
    )
)
ORG_NODES = subgraph(
    organization.resources(ORG), lambda n: n.type in ("organizations:account", "ram:organization-sharing")
)
TRANSIT_KINDS = sorted({n.type for n in SHARED_NODES if n.key.startswith("shared/transit/")})


def environment_nodes(plan: Any, ids: dict[str, str]) -> list[Any]:
    nodes = build(plan, account_ids=ids)
    return subgraph(nodes, lambda n: n.key.startswith("network/") or n.key == CLUSTER_SG)


@pytest.fixture
def management(session_for, prepared) -> Any:
    """The management account's session, the organization's accounts and RAM sharing applied."""

    def build() -> None:
        result = Runner(RunContext(plan=ORG, aws=session_for()), ORG_NODES).apply()
        assert result.status == "ok", result.failures()

    prepared("organization accounts and RAM sharing", build)
    return session_for()


def account_ids(management: Any) -> dict[str, str]:
    organizations = management.client("organizations", purpose="test")
    by_email = {a["Email"]: a["Id"] for a in organizations.list_accounts()["Accounts"]}
    return {key: by_email[account.email] for key, account in ORG.spec.accounts.items()}


@pytest.fixture
def ids(management) -> dict[str, str]:
    return account_ids(management)


@pytest.fixture
def in_account(management) -> Any:
    """A session for a plan, made as the CLI makes it (organization access role)."""
    return lambda plan: session_for_plan(management, plan)


class Estate:
    """organization, shared, dev, staging and prod applied once for the module's estate tests
    (the sandbox is reset first; tests that change it leave it converged again)."""

    def __init__(self, url: str) -> None:
        self.management = AwsSession(
            region="us-east-1",
            endpoint_url=url,
            credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
        )
        result = Runner(RunContext(plan=ORG, aws=self.management), ORG_NODES).apply()
        assert result.status == "ok", result.failures()
        self.ids = account_ids(self.management)
        result = runner(SHARED, self.session(SHARED), SHARED_NODES).apply()
        assert result.status == "ok", result.failures()
        self.nodes = {}
        for name, plan in ENVIRONMENTS.items():
            self.nodes[name] = environment_nodes(plan, self.ids)
            result = runner(plan, self.session(plan), self.nodes[name]).apply()
            assert result.status == "ok", result.failures()

    def session(self, plan: Any) -> Any:
        return session_for_plan(self.management, plan)


@pytest.fixture(scope="module")
def estate(moto_server) -> Estate:
    moto_server.reset()
    return Estate(moto_server.url)


def client(session: Any, service: str) -> Any:
    return session.client(service, purpose="test")


# ---------------------------------------------------------------------------------- graph
def test_shared_plan_builds_the_transit_kinds() -> None:
    assert (
        sorted(
            [
                "ec2:transit-gateway",
                "ec2:transit-gateway-route-table",
                "ram:resource-share",
                "ec2:transit-gateway-vpc-attachment",
                "ec2:transit-gateway-routing",
                "ec2:transit-gateway-guard",
            ]
        )
        == TRANSIT_KINDS
    )


def test_organization_enables_ram_sharing_and_keeps_it(management, boto) -> None:
    services = {
        s["ServicePrincipal"]
        for s in boto("organizations").list_aws_service_access_for_organization()["EnabledServicePrincipals"]
    }
    assert "ram.amazonaws.com" in services
    plan = Runner(RunContext(plan=ORG, aws=management), ORG_NODES).plan(destroy=True)
    (change,) = [c for c in plan.changes if c.key == "organization/ram-sharing"]
    assert change.action is Action.NOOP and "kept" in (change.reason or "")


@pytest.mark.parametrize(
    "kind",
    [
        "ec2:transit-gateway",
        "ec2:transit-gateway-route-table",
        "ram:resource-share",
        "ec2:transit-gateway-vpc-attachment",
        "ec2:transit-gateway-routing",
    ],
)
def test_transit_kind_is_idempotent_through_four_phases(kind: str, in_account, ids) -> None:
    check_four_phases_keeping(SHARED, lambda: in_account(SHARED), subgraph(SHARED_NODES, lambda n: n.type == kind))


def test_an_environment_whose_cidr_overlaps_the_shared_vpc_is_refused_before_any_call(tmp_path) -> None:
    """Building the graph (which makes no AWS call) refuses it; `validate` does too."""
    for name in ("organization", "shared"):
        (tmp_path / f"{name}.yaml").write_text((PLANS / f"{name}.yaml").read_text())
    (tmp_path / "dev.yaml").write_text((PLANS / "dev.yaml").read_text().replace("10.10.", "10.100."))
    plan = load_plan("dev", tmp_path)
    with pytest.raises(PermanentError, match="overlaps 10.100.0.0/24"):
        build(plan, account_ids={"shared-services": "111111111111"})
    from provisioner.planfile.transit import transit_plan_issues

    (issue,) = transit_plan_issues([plan, load_plan("shared", tmp_path)])
    assert issue.path == "network.cidr" and "overlaps" in issue.problem and issue.file.endswith("dev.yaml")


def test_an_environment_without_the_shared_gateway_is_told_to_apply_shared(in_account, ids) -> None:
    """No route tables of the shared plan to take the gateway from: the gateway is read by its
    tags, and its absence is the error it always was."""
    dev = ENVIRONMENTS["dev"]
    nodes = environment_nodes(dev, ids)
    with pytest.raises(PermanentError, match="Transit Gateway does not exist") as raised:
        runner(dev, in_account(dev), nodes).plan()
    assert raised.value.code == "TransitGatewayNotFound"


# ------------------------------------------------------------------------------- the estate
# (after every test that resets the sandbox: the estate is applied once for these)
def test_one_gateway_shared_with_the_environments_each_attached_in_every_az(estate) -> None:
    in_account, ids = estate.session, estate.ids
    shared_session = in_account(SHARED)
    ec2 = client(shared_session, "ec2")
    (gateway,) = ec2.describe_transit_gateways()["TransitGateways"]
    assert gateway["OwnerId"] == ids["shared-services"]
    assert gateway["Options"]["AmazonSideAsn"] == 64600
    assert gateway["Options"]["DefaultRouteTableAssociation"] == "disable"
    assert gateway["Options"]["DefaultRouteTablePropagation"] == "disable"
    assert gateway["Options"]["AutoAcceptSharedAttachments"] == "enable"
    assert gateway["Options"]["DnsSupport"] == "enable"
    ram = client(shared_session, "ram")
    (share,) = [s for s in ram.get_resource_shares(resourceOwner="SELF")["resourceShares"] if s["status"] == "ACTIVE"]
    principals = {
        a["associatedEntity"]
        for a in ram.get_resource_share_associations(
            associationType="PRINCIPAL", resourceShareArns=[share["resourceShareArn"]]
        )["resourceShareAssociations"]
    }
    assert principals == {ids[ACCOUNT_OF[name]] for name in ENVIRONMENTS}

    for name, plan in ENVIRONMENTS.items():
        env = client(in_account(plan), "ec2")
        (seen,) = env.describe_transit_gateways()["TransitGateways"]
        assert seen["TransitGatewayId"] == gateway["TransitGatewayId"]
        (attachment,) = env.describe_transit_gateway_vpc_attachments()["TransitGatewayVpcAttachments"]
        assert attachment["State"] == "available" and attachment["VpcOwnerId"] == ids[ACCOUNT_OF[name]]
        subnets = env.describe_subnets(SubnetIds=attachment["SubnetIds"])["Subnets"]
        assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(plan.spec.network.availability_zones)
        assert sorted(s["CidrBlock"] for s in subnets) == sorted(plan.spec.network.private_subnets)
        # Private route tables send the shared VPC's CIDR to the gateway; public ones do not.
        tables = env.describe_route_tables(Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": [name]}])["RouteTables"]
        for table in tables:
            via = {r["DestinationCidrBlock"]: r.get("TransitGatewayId") for r in table["Routes"]}
            private = any(t["Key"] == "Name" and "-private-" in t["Value"] for t in table["Tags"])
            assert (via.get(SHARED.spec.network.cidr) == gateway["TransitGatewayId"]) is private
        # Cluster API (443) admits the shared VPC; nothing else does.
        groups = env.describe_security_groups(
            Filters=[{"Name": "ip-permission.cidr", "Values": [SHARED.spec.network.cidr]}]
        )["SecurityGroups"]
        assert [g["GroupName"] for g in groups] == [f"{name}-eks-cluster"]
        (permission,) = [
            p for p in groups[0]["IpPermissions"] if any(r["CidrIp"] == SHARED.spec.network.cidr for r in p["IpRanges"])
        ]
        assert (permission["IpProtocol"], permission["FromPort"], permission["ToPort"]) == ("tcp", 443, 443)


def routes_by_segment(session: Any) -> dict[str, set[str]]:
    ec2 = client(session, "ec2")
    out = {}
    for table in ec2.describe_transit_gateway_route_tables()["TransitGatewayRouteTables"]:
        name = next(t["Value"] for t in table["Tags"] if t["Key"] == "provisioner:key").rsplit("/", 1)[1]
        routes = ec2.search_transit_gateway_routes(
            TransitGatewayRouteTableId=table["TransitGatewayRouteTableId"],
            Filters=[{"Name": "state", "Values": ["active"]}],
        )["Routes"]
        out[name] = {r["DestinationCidrBlock"] for r in routes}
    return out


def test_segments_keep_prod_and_nonprod_apart_and_all_reach_shared(estate) -> None:
    in_account = estate.session
    routes = routes_by_segment(in_account(SHARED))
    shared_cidr = SHARED.spec.network.cidr
    cidr = {name: plan.spec.network.cidr for name, plan in ENVIRONMENTS.items()}
    assert routes["prod"] == {shared_cidr}
    assert routes["nonprod"] == {shared_cidr}
    assert routes["shared"] == set(cidr.values())

    # Who reaches whom, from the live routes: A's segment holds B's CIDR and B's holds A's.
    segment = {"dev": "nonprod", "staging": "nonprod", "prod": "prod", "shared": "shared"}
    cidr["shared"] = shared_cidr

    def reaches(a: str, b: str) -> bool:
        return any(
            ipaddress.ip_network(cidr[b]).subnet_of(ipaddress.ip_network(r)) for r in routes[segment[a]]
        ) and any(ipaddress.ip_network(cidr[a]).subnet_of(ipaddress.ip_network(r)) for r in routes[segment[b]])

    for env in ENVIRONMENTS:
        assert reaches(env, "shared") and reaches("shared", env)
    for a, b in (("dev", "prod"), ("staging", "prod"), ("prod", "dev"), ("prod", "staging")):
        assert not reaches(a, b)
    # The plan's matrix says the same.
    matrix = segment_matrix(segment)
    assert all(matrix[a][b] == reaches(a, b) for a in segment for b in segment if a != b)
    assert any("no" in line for line in format_matrix(matrix))


def test_nothing_to_do_after_apply(estate) -> None:
    in_account = estate.session
    session = in_account(SHARED)
    assert not runner(SHARED, session, SHARED_NODES).plan().has_changes
    for name, plan in ENVIRONMENTS.items():
        session = in_account(plan)
        assert not [c for c in runner(plan, session, estate.nodes[name]).plan().changes if c.action is not Action.NOOP]
        assert runner(plan, session, estate.nodes[name]).apply().status == "ok"
        assert mutating_calls(session) == []


def test_an_environment_takes_the_gateway_from_the_route_tables_it_reads(estate, moto_server) -> None:
    """The shared plan's route tables name their gateway: an environment's plan reads them once
    (for its routing) and makes no DescribeTransitGateways (issue #17)."""
    dev = ENVIRONMENTS["dev"]
    session = estate.session(dev)
    moto_server.app.reset_stats()
    planned = runner(dev, session, estate.nodes["dev"]).plan()
    operations = moto_server.app.stats()["operations"]
    assert not [c for c in planned.changes if c.action is not Action.NOOP]
    assert "ec2:DescribeTransitGateways" not in operations, operations
    assert operations["ec2:DescribeTransitGatewayRouteTables"] == 1, operations
    gateway = client(estate.session(SHARED), "ec2").describe_transit_gateways(
        Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": ["shared"]}]
    )["TransitGateways"]
    (lookup,) = [c for c in planned.changes if c.key == "network/transit/gateway"]
    assert [g["TransitGatewayId"] for g in gateway] == [lookup.id]


def test_destroy_an_environment_then_apply_it_again_converges(estate) -> None:
    in_account = estate.session
    dev = ENVIRONMENTS["dev"]
    result = runner(dev, in_account(dev), estate.nodes["dev"]).destroy()
    assert result.status == "ok", result.failures()
    assert routes_by_segment(in_account(SHARED))["shared"] == {
        ENVIRONMENTS[n].spec.network.cidr for n in ("staging", "prod")
    }
    assert not client(in_account(dev), "ec2").describe_transit_gateway_vpc_attachments(
        Filters=[{"Name": "state", "Values": ["available", "pending"]}]
    )["TransitGatewayVpcAttachments"]
    result = runner(dev, in_account(dev), estate.nodes["dev"]).apply()
    assert result.status == "ok", result.failures()
    assert not [
        c for c in runner(dev, in_account(dev), estate.nodes["dev"]).plan().changes if c.action is not Action.NOOP
    ]
    assert ENVIRONMENTS["dev"].spec.network.cidr in routes_by_segment(in_account(SHARED))["shared"]


def test_destroying_shared_with_environments_attached_is_refused_and_deletes_nothing(estate) -> None:
    in_account, ids = estate.session, estate.ids
    session = in_account(SHARED)
    preflight = runner(SHARED, session, SHARED_NODES).plan(destroy=True)
    blockers = "\n".join(preflight.blockers)
    for name in ENVIRONMENTS:
        assert ids[ACCOUNT_OF[name]] in blockers
    before = sorted(c.key for c in runner(SHARED, session, SHARED_NODES).plan().changes)
    result = runner(SHARED, in_account(SHARED), SHARED_NODES).destroy()
    assert result.status != "ok"
    (failure,) = [r for r in result.results.values() if r.status == "failed"]
    assert failure.key == GUARD
    for name in ENVIRONMENTS:
        assert ids[ACCOUNT_OF[name]] in str(failure.error)
        assert f"({ORG.spec.accounts[ACCOUNT_OF[name]].name})" in str(failure.error)
    # Nothing was deleted: the plan is still fully applied.
    again = runner(SHARED, in_account(SHARED), SHARED_NODES).plan()
    assert not again.has_changes and sorted(c.key for c in again.changes) == before
    assert mutating_calls(session) == []


def test_check_shows_the_live_matrix_and_fails_when_prod_and_nonprod_are_joined(estate) -> None:
    from provisioner.operations.check import live_findings

    session = estate.session(SHARED)
    (finding,) = [f for f in live_findings(session, SHARED) if f.control == "PROV.18"]
    assert finding.status == "pass"
    assert "prod -> nonprod: no" in finding.detail and "nonprod -> prod: no" in finding.detail
    assert "prod -> shared: yes" in finding.detail and "shared -> nonprod: yes" in finding.detail

    # Someone propagates dev's attachment into the prod table by hand: prod now routes to dev.
    ec2 = client(session, "ec2")
    tables = {
        next(t["Value"] for t in table["Tags"] if t["Key"] == "provisioner:key").rsplit("/", 1)[1]: table[
            "TransitGatewayRouteTableId"
        ]
        for table in ec2.describe_transit_gateway_route_tables()["TransitGatewayRouteTables"]
    }
    (dev_attachment,) = client(estate.session(ENVIRONMENTS["dev"]), "ec2").describe_transit_gateway_vpc_attachments(
        Filters=[{"Name": "state", "Values": ["available"]}]
    )["TransitGatewayVpcAttachments"]
    attachment_id = dev_attachment["TransitGatewayAttachmentId"]
    ec2.enable_transit_gateway_route_table_propagation(
        TransitGatewayRouteTableId=tables["prod"], TransitGatewayAttachmentId=attachment_id
    )
    try:
        (finding,) = [f for f in live_findings(session, SHARED) if f.control == "PROV.18"]
        assert finding.status == "fail" and attachment_id in finding.detail
        # dev's own plan sees its routing drift and puts it back.
        dev = ENVIRONMENTS["dev"]
        (change,) = [
            c
            for c in runner(dev, estate.session(dev), estate.nodes["dev"]).plan().changes
            if c.action is not Action.NOOP
        ]
        assert change.key == "network/transit/routing" and "propagations" in change.diff
        assert runner(dev, estate.session(dev), estate.nodes["dev"]).apply().status == "ok"
        (finding,) = [f for f in live_findings(session, SHARED) if f.control == "PROV.18"]
        assert finding.status == "pass"
    finally:
        try:
            ec2.disable_transit_gateway_route_table_propagation(
                TransitGatewayRouteTableId=tables["prod"], TransitGatewayAttachmentId=attachment_id
            )
        except Exception:
            pass
