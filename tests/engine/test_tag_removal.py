"""Tags the plan no longer lists are removed from the plan's resources, and only those the
tool set (engine/tags.py): a record tag on each resource lists the keys it manages."""

from __future__ import annotations

import shutil

from provisioner.constants import TAG_MANAGED_TAGS, TAG_PLAN
from provisioner.engine import Action
from provisioner.engine.tags import record, recorded
from provisioner.planfile import load_plan
from provisioner.steps import network
from tests.conftest import PLANS
from tests.idempotency import runner


def test_record_round_trips_keys_with_spaces_and_plus_and_splits_long_records() -> None:
    keys = {"Cost Center", "a+b", "Team", "x" * 128, "y" * 128, "z" * 100}
    tags = record(keys | {TAG_PLAN, "aws:cloudformation:stack-name", "kubernetes.io/cluster/dev-eks"})
    assert all(len(value) <= 256 for value in tags.values())
    assert set(tags) == {TAG_MANAGED_TAGS, f"{TAG_MANAGED_TAGS}:2"}
    # Ownership tags and other systems' prefixes are never recorded (so never removed).
    assert recorded(tags) == keys
    assert record([]) == {}


def _plan_without(tmp_path, tag: str):
    directory = tmp_path / "plans"
    shutil.copytree(PLANS, directory)
    path = directory / "dev.yaml"
    text = path.read_text()
    assert f"  {tag}: " in text
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith(f"  {tag}: ")) + "\n")
    return load_plan("dev", directory)


def _tags(items) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items}


def test_removing_a_plan_tag_removes_it_from_the_vpc_and_keeps_tags_others_set(session_for, boto, tmp_path) -> None:
    dev = load_plan("dev", PLANS)
    assert runner(dev, session_for(), network.resources(dev)).apply().status == "ok"
    ec2 = boto("ec2")
    mine = [{"Name": f"tag:{TAG_PLAN}", "Values": ["dev"]}]
    vpc = ec2.describe_vpcs(Filters=mine)["Vpcs"][0]
    assert _tags(vpc["Tags"])["Owner"] == "platform-team" and "Owner" in recorded(_tags(vpc["Tags"]))
    # Tags set by people and by Kubernetes/AWS: never the tool's to remove.
    others = [{"Key": "CostCenter", "Value": "42"}, {"Key": "kubernetes.io/cluster/dev-eks", "Value": "shared"}]
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=others)

    smaller = _plan_without(tmp_path, "Owner")
    planned = runner(smaller, session_for(), network.resources(smaller)).plan()
    change = planned.by_key()["network/vpc"]
    assert change.action is Action.UPDATE
    assert change.diff["tags.Owner"] == {"from": "platform-team", "to": None}
    assert not any(k in change.diff for k in ("tags.CostCenter", "tags.kubernetes.io/cluster/dev-eks", "tags.Company"))
    assert planned.by_key()["network/flow-logs/role"].diff["tags.Owner"]["to"] is None  # IAM too
    assert planned.by_key()["network/flow-logs/log-group"].diff["tags.Owner"]["to"] is None  # and logs

    assert runner(smaller, session_for(), network.resources(smaller)).apply().status == "ok"
    tags = _tags(ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Tags"])
    assert "Owner" not in tags and tags["Company"] == "innovate"
    assert tags["CostCenter"] == "42" and tags["kubernetes.io/cluster/dev-eks"] == "shared"
    assert "Owner" not in recorded(tags)
    subnets = ec2.describe_subnets(Filters=mine)["Subnets"]
    assert subnets and all("Owner" not in _tags(s["Tags"]) for s in subnets)
    role = boto("iam").list_role_tags(RoleName="dev-vpc-flow-logs")["Tags"]
    assert "Owner" not in _tags(role)
    logs = boto("logs")
    group = logs.describe_log_groups(logGroupNamePrefix="/provisioner/dev/")["logGroups"][0]
    assert "Owner" not in logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"]
    # Converged: the next plan has nothing to do.
    assert not runner(smaller, session_for(), network.resources(smaller)).plan().has_changes


def test_a_tag_that_was_never_recorded_is_not_removed(session_for, boto) -> None:
    dev = load_plan("dev", PLANS)
    assert runner(dev, session_for(), network.resources(dev)).apply().status == "ok"
    ec2 = boto("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": ["dev"]}])["Vpcs"][0]
    # A resource from before the record existed, with a tag the plan does not list.
    ec2.delete_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": TAG_MANAGED_TAGS}])
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Legacy", "Value": "x"}])
    change = runner(dev, session_for(), network.resources(dev)).plan().by_key()["network/vpc"]
    assert set(change.diff) == {f"tags.{TAG_MANAGED_TAGS}"}  # the record comes back; Legacy stays


def test_acceptance_removing_a_tag_from_dev_yaml_and_applying_removes_it_from_the_vpc(
    dev_applied, cli, boto, single_account_plans
) -> None:
    import json

    path = single_account_plans / "dev.yaml"
    path.write_text(
        "\n".join(line for line in path.read_text().splitlines() if not line.startswith("  Owner: ")) + "\n"
    )
    planned = cli("plan", "dev", "--output", "json", "--detailed-exitcode")
    assert planned.code == 2
    changes = {c["key"]: c for c in json.loads(planned.out)["changes"]}
    assert changes["network/vpc"]["action"] == "update"
    assert changes["network/vpc"]["diff"]["tags.Owner"] == {"from": "platform-team", "to": None}
    assert "tags.Owner: platform-team -> (none)" in cli("plan", "dev").out
    applied = cli("apply", "dev", "--yes")
    assert applied.code == 0, applied.out + applied.err
    vpc = boto("ec2").describe_vpcs(Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": ["dev"]}])["Vpcs"][0]
    assert "Owner" not in _tags(vpc["Tags"]) and _tags(vpc["Tags"])["Company"] == "innovate"
    assert cli("plan", "dev", "--detailed-exitcode").code == 0
