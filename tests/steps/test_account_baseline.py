"""The account baseline (issue 14): default VPCs removed, EBS encryption by default and
account-level S3 Block Public Access, in every account of the organization and every allowed
region, against the simulated AWS through the production session factory."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from provisioner.aws.session import route_s3control_locally
from provisioner.engine import Action, RunContext, Runner
from provisioner.planfile import load_plan
from provisioner.steps import organization
from provisioner.steps.organization.baseline import (
    MANAGEMENT,
    AccountPublicAccessBlock,
    DefaultVpc,
    EbsEncryptionByDefault,
)
from tests.conftest import PLANS
from tests.idempotency import mutating_calls, runner, subgraph
from tests.steps.test_organization import KEPT, Events, account_ids, apply, check_four_phases_keeping, member

ORG = load_plan("organization", PLANS)
NODES = organization.resources(ORG)
BASELINE_KINDS = {"ec2:default-vpc", "ec2:ebs-encryption-by-default", "s3:account-public-access-block"}
REGIONS = ("us-east-1", "us-west-2")
MEMBERS = ("shared-services", "development", "staging", "production")


def emails() -> dict[str, str]:
    return {key: account.email for key, account in ORG.spec.accounts.items()}


def clients(boto: Any, service: str, region: str) -> dict[str, Any]:
    """A client per account of the organization (the management account's own, members' through the role)."""
    ids = account_ids(boto)
    found = {MANAGEMENT: boto(service, region)}
    for key, email in emails().items():
        found[key] = member(boto, ids[email], service, region)
    for client in found.values():
        route_s3control_locally(client, client.meta.endpoint_url)
    return found


# ------------------------------------------------------------------------------------ graph
def test_baseline_nodes_cover_every_account_and_allowed_region_and_wait_only_for_their_account() -> None:
    baseline = [n for n in NODES if n.type in BASELINE_KINDS]
    assert {n.key for n in baseline if isinstance(n, DefaultVpc)} == {
        f"organization/baseline/{a}/{r}/default-vpc" for a in (MANAGEMENT, *MEMBERS) for r in REGIONS
    }
    assert {n.key for n in baseline if isinstance(n, EbsEncryptionByDefault)} == {
        f"organization/baseline/{a}/{r}/ebs-encryption" for a in (MANAGEMENT, *MEMBERS) for r in REGIONS
    }
    assert {n.key for n in baseline if isinstance(n, AccountPublicAccessBlock)} == {
        f"organization/baseline/{a}/s3-public-access-block" for a in (MANAGEMENT, *MEMBERS)
    }
    for node in baseline:
        expected = () if node.account is None else (node.account,)
        assert node.depends_on == expected, node.key
        assert node.kept_on_destroy and not node.taggable and node.iam_actions


def test_baseline_settings_follow_the_plan_file() -> None:
    spec = ORG.spec.model_copy(
        update={
            "account_baseline": ORG.spec.account_baseline.model_copy(
                update={"remove_default_vpcs": False, "management_account": False}
            )
        }
    )
    nodes = organization.resources(dataclasses.replace(ORG, spec=spec))
    kinds = {n.type for n in nodes}
    assert (
        "ec2:default-vpc" not in kinds and {"ec2:ebs-encryption-by-default", "s3:account-public-access-block"} <= kinds
    )
    assert not any(MANAGEMENT in n.key for n in nodes)


@pytest.mark.parametrize("kind", sorted(BASELINE_KINDS))
def test_baseline_kind_is_idempotent_through_four_phases(kind: str, session_for) -> None:
    # A member account's settings: the account does not exist at first, so each shows as a
    # create; destroy leaves them (and the account), so the last plan shows no change.
    nodes = subgraph(NODES, lambda n: n.type == kind and "/production/" in n.key)
    check_four_phases_keeping(ORG, session_for, nodes, kept=KEPT | BASELINE_KINDS)


# ------------------------------------------------------------------------------------ apply
@pytest.fixture
def applied(organization_applied) -> Any:
    """The organization plan applied (see tests/conftest.py)."""
    return organization_applied


@pytest.mark.shares_state  # reads, or applies what is converged
def test_apply_removes_default_vpcs_and_sets_encryption_and_bpa_in_every_account(applied, boto) -> None:
    for region in REGIONS:
        for name, ec2 in clients(boto, "ec2", region).items():
            assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"] == [], (name, region)
            assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True, (name, region)
    ids = account_ids(boto)
    for name, s3control in clients(boto, "s3control", "us-east-1").items():
        account = boto("sts").get_caller_identity()["Account"] if name == MANAGEMENT else ids[emails()[name]]
        block = s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4, name


def test_plan_shows_a_setting_changed_by_hand_and_apply_sets_it_back(applied, boto, session_for) -> None:
    ids = account_ids(boto)
    staging = member(boto, ids[emails()["staging"]], "ec2", "us-west-2")
    staging.disable_ebs_encryption_by_default()
    changes = {c.key: c for c in runner(ORG, session_for(), NODES).plan().changes}
    change = changes["organization/baseline/staging/us-west-2/ebs-encryption"]
    assert change.action is Action.UPDATE and change.diff["enabled"] == {"from": False, "to": True}
    assert {c.key for c in changes.values() if c.action is not Action.NOOP} == {change.key}
    apply(session_for())
    assert staging.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True


@pytest.mark.shares_state  # reads, or applies what is converged
def test_second_apply_makes_no_mutating_call(applied, session_for) -> None:
    session = session_for()
    apply(
        session,
        nodes=[
            n
            for n in NODES
            if n.type in BASELINE_KINDS
            or not n.depends_on
            or n.key.startswith(("organization/organization", "organization/ou/", "organization/account/"))
        ],
    )
    assert mutating_calls(session) == []


def test_destroy_leaves_the_baseline_in_place_and_says_so(applied, boto, session_for) -> None:
    changes = runner(ORG, session_for(), NODES).plan(destroy=True).changes
    kept = [c for c in changes if c.type in BASELINE_KINDS]
    assert kept and all(c.action is Action.NOOP and c.reason and "kept" in c.reason for c in kept)
    result = Runner(RunContext(plan=ORG, aws=session_for(), reporter=Events()), NODES).destroy()
    assert result.status == "ok", result.failures()
    ids = account_ids(boto)
    production = member(boto, ids[emails()["production"]], "ec2")
    assert production.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    assert production.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"] == []


def test_cli_destroy_plan_lists_the_kept_guardrails(cli) -> None:
    assert cli("apply", "organization", "--yes").code == 0
    result = cli("plan", "organization", "--destroy")
    assert result.code == 0, result.err
    assert "organization/baseline/production/us-east-1/default-vpc" in result.out
    assert "would keep (destroy never deletes it)" in result.out


# -------------------------------------------------------------------------- default VPC in use
def test_default_vpc_with_an_instance_is_named_and_nothing_of_it_is_deleted(boto, session_for) -> None:
    # Build the organization without the baseline, then put an instance in development's
    # default VPC in us-west-2 (in its default subnet, as a quick test launch would).
    apply(session_for(), nodes=[n for n in NODES if n.type not in BASELINE_KINDS])
    ids = account_ids(boto)
    development = ids[emails()["development"]]
    ec2 = member(boto, development, "ec2", "us-west-2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]
    assert subnets and gateways  # as AWS makes it: a default subnet per AZ and an attached gateway
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnets[0]["SubnetId"]
    )["Instances"][0]["InstanceId"]

    result = Runner(RunContext(plan=ORG, aws=session_for()), NODES).apply()
    assert result.status == "failed"
    (failure,) = result.failures()
    assert failure.key == "organization/baseline/development/us-west-2/default-vpc"
    message = str(failure.error)
    assert development in message and "us-west-2" in message and vpc["VpcId"] in message and instance in message
    assert "nothing of it was deleted" in message
    # Nothing of that VPC went; every other account and region was done.
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]] == [
        vpc["VpcId"]
    ]
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]) == len(subnets)
    assert ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]
    east = member(boto, development, "ec2", "us-east-1")
    assert east.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"] == []
    assert (
        member(boto, ids[emails()["production"]], "ec2", "us-west-2").describe_vpcs(
            Filters=[{"Name": "is-default", "Values": ["true"]}]
        )["Vpcs"]
        == []
    )


def test_cli_apply_names_the_default_vpc_in_use(cli, boto) -> None:
    boto("ec2", "us-west-2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro")
    result = cli("apply", "organization", "--yes")
    assert result.code != 0
    text = result.out + result.err
    assert "organization/baseline/management-account/us-west-2/default-vpc" in text
    assert "ec2:instance" in text and "is not empty" in text


# ------------------------------------------------------------------------ calls and sessions
class Journal:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, event: str, **fields: Any) -> None:
        with self._lock:
            self.records.append({"event": event, **fields})


def test_baseline_assumes_each_member_role_once_and_journals_each_delete_under_its_node(
    boto, session_for, moto_server
) -> None:
    apply(session_for(), nodes=[n for n in NODES if n.type not in BASELINE_KINDS])
    journal = Journal()
    moto_server.app.reset_stats()
    apply(
        session_for(journal=journal),
        nodes=[
            n
            for n in NODES
            if n.type in BASELINE_KINDS
            or n.key.startswith(("organization/organization", "organization/ou/", "organization/account/"))
        ],
    )
    operations = moto_server.app.stats()["operations"]
    # One session per member account serves both regions and S3 (it was one per region).
    assert operations["sts:AssumeRole"] == len(MEMBERS)
    # Each default VPC is read once for its removal: its subnets and gateways are not read again.
    vpc_nodes = len(MEMBERS + (MANAGEMENT,)) * len(REGIONS)
    assert operations["ec2:DescribeInternetGateways"] == vpc_nodes
    assert operations["ec2:DeleteVpc"] == vpc_nodes
    # The deletes made at once still name the node that made them.
    deletes = [
        r for r in journal.records if r.get("operation") in ("DeleteSubnet", "DeleteInternetGateway", "DeleteVpc")
    ]
    assert deletes and all(str(r["key"]).endswith("/default-vpc") for r in deletes)
    assert {str(r["key"]).split("/")[2] for r in deletes} == {MANAGEMENT, *MEMBERS}
    for region in REGIONS:
        for name, ec2 in clients(boto, "ec2", region).items():
            assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"] == [], (name, region)
