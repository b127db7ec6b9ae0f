"""Manual snapshots and point-in-time restores of a plan's database, against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import PermanentError, RunContext, Runner
from provisioner.operations.rds import parse_time, restore_to_time, take_snapshot
from provisioner.planfile import load_plan
from provisioner.steps import eks, network, rds
from tests.conftest import PLANS
from tests.idempotency import runner, subgraph
from tests.steps.test_rds import capture_params

PROD = load_plan("prod", PLANS)
DEV = load_plan("dev", PLANS)


def rds_nodes(plan: Any) -> list[Any]:
    return subgraph(
        [*network.resources(plan), *eks.security_groups(plan), *rds.resources(plan)], lambda n: n.key.startswith("rds/")
    )


@pytest.fixture
def prod(session_for) -> Any:
    assert runner(PROD, session_for(), rds_nodes(PROD)).apply().status == "ok"
    return PROD


def tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("TagList", [])}


# ---------------------------------------------------------------------------------- snapshot
def test_take_snapshot_makes_a_uniquely_named_manual_snapshot_and_waits(prod, session_for, boto) -> None:
    result = take_snapshot(session_for(), PROD)
    assert result["snapshot"].startswith("prod-postgres-manual-20") and result["status"] == "available"
    assert result["instance"] == "prod-postgres" and result["encrypted"] is True
    (snapshot,) = boto("rds").describe_db_snapshots(DBSnapshotIdentifier=result["snapshot"])["DBSnapshots"]
    assert snapshot["SnapshotType"] == "manual" and snapshot["Status"] == "available"
    assert tags(snapshot)[TAG_PLAN] == "prod" and TAG_KEY not in tags(snapshot)


def test_take_snapshot_with_a_name_refuses_a_taken_or_invalid_name(prod, session_for) -> None:
    assert take_snapshot(session_for(), PROD, name="before-migration")["snapshot"] == "before-migration"
    with pytest.raises(PermanentError, match="already exists") as taken:
        take_snapshot(session_for(), PROD, name="before-migration")
    assert taken.value.hint and "--name" in taken.value.hint
    with pytest.raises(PermanentError, match="not a valid snapshot name"):
        take_snapshot(session_for(), PROD, name="2-bad--name")


def test_take_snapshot_without_a_database_says_to_apply(session_for) -> None:
    with pytest.raises(PermanentError, match="has no database") as missing:
        take_snapshot(session_for(), DEV)
    assert missing.value.hint == "apply dev first"


def test_take_snapshot_journals_its_calls_under_its_own_key(prod, session_for, home) -> None:
    import json

    from provisioner.engine.journal import Journal

    journal = Journal(home, "prod", "snapshot")
    session = session_for(journal=journal)
    take_snapshot(RunContext(plan=PROD, aws=session, journal=journal, dry_run=False), PROD)
    journal.close("ok")
    calls = [json.loads(line) for line in journal.path.read_text().splitlines() if '"api-call"' in line]
    assert [(c["key"], c["operation"]) for c in calls] == [("operations/snapshot", "CreateDBSnapshot")]


# ----------------------------------------------------------------------------------- restore
def test_restore_to_a_time_makes_a_new_instance_with_the_same_network_and_parameters(prod, session_for, boto) -> None:
    source = boto("rds").describe_db_instances(DBInstanceIdentifier="prod-postgres")["DBInstances"][0]
    when = datetime.now(UTC)
    session = session_for()
    sent = capture_params(session)
    result = restore_to_time(session, PROD, when, as_name="drill")
    assert result["instance"] == "drill" and result["status"] == "available" and result["region"] == "us-east-1"
    # On the plan's port (which the database's security group admits), asked for explicitly.
    assert [p["Port"] for op, p in sent if op == "RestoreDBInstanceToPointInTime"] == [PROD.spec.database.port]
    assert result["port"] == PROD.spec.database.port == 5433
    restored = boto("rds").describe_db_instances(DBInstanceIdentifier="drill")["DBInstances"][0]
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == source["DBSubnetGroup"]["DBSubnetGroupName"]
    assert restored["VpcSecurityGroups"] == source["VpcSecurityGroups"]
    assert [g["DBParameterGroupName"] for g in restored["DBParameterGroups"]] == ["prod-postgres17"]
    assert restored["StorageEncrypted"] and restored["KmsKeyId"] == source["KmsKeyId"]
    assert restored["PubliclyAccessible"] is False and restored["MultiAZ"] is True
    assert restored["IAMDatabaseAuthenticationEnabled"] and sorted(restored["EnabledCloudwatchLogsExports"]) == [
        "postgresql",
        "upgrade",
    ]
    assert restored["MasterUserSecret"]["SecretArn"] != source["MasterUserSecret"]["SecretArn"]
    # Not the plan's: apply and destroy leave it alone.
    assert TAG_KEY not in tags(restored) and TAG_PLAN not in tags(restored)
    assert tags(restored)["provisioner:restored-from"] == source["DBInstanceArn"]
    assert not runner(PROD, session_for(), rds_nodes(PROD)).plan().has_changes


def test_restore_refuses_a_taken_name_and_a_time_outside_the_window(prod, session_for) -> None:
    restore_to_time(session_for(), PROD, None, as_name="drill")
    with pytest.raises(PermanentError, match="already exists") as taken:
        restore_to_time(session_for(), PROD, None, as_name="drill")
    assert "--as" in (taken.value.hint or "")
    with pytest.raises(PermanentError, match="outside the restorable window") as outside:
        restore_to_time(session_for(), PROD, datetime.now(UTC) - timedelta(days=3), as_name="drill-2")
    assert outside.value.code == "InvalidRestoreFault" and "choose a time from" in (outside.value.hint or "")
    with pytest.raises(PermanentError, match="in the future"):
        restore_to_time(session_for(), PROD, datetime.now(UTC) + timedelta(hours=1), as_name="drill-3")


def test_restore_in_the_dr_region_uses_the_replicated_backups(prod, session_for, boto) -> None:
    with pytest.raises(PermanentError, match="no network") as no_network:
        restore_to_time(session_for(), PROD, None, region="us-west-2", as_name="dr-drill")
    assert "default" in (no_network.value.hint or "")

    result = restore_to_time(
        session_for(), PROD, datetime.now(UTC), region="us-west-2", as_name="dr-drill", use_default_network=True
    )
    assert result["region"] == "us-west-2" and result["status"] == "available"
    dr = boto("rds", "us-west-2")
    restored = dr.describe_db_instances(DBInstanceIdentifier="dr-drill")["DBInstances"][0]
    dr_key = boto("kms", "us-west-2").describe_key(KeyId="alias/provisioner/prod/rds-dr")["KeyMetadata"]["Arn"]
    assert restored["KmsKeyId"] == dr_key and restored["MasterUserSecret"]["KmsKeyId"] == dr_key
    assert restored["PubliclyAccessible"] is False
    assert result["source"].startswith("arn:aws:rds:us-west-2:") and ":auto-backup:" in result["source"]
    # The parameter group was copied there, TLS enforced.
    parameters = {
        p["ParameterName"]: p["ParameterValue"]
        for p in dr.describe_db_parameters(DBParameterGroupName="prod-postgres17", Source="user")["Parameters"]
    }
    assert parameters["rds.force_ssl"] == "1"
    assert [g["DBParameterGroupName"] for g in restored["DBParameterGroups"]] == ["prod-postgres17"]


def test_restore_in_the_dr_region_uses_a_prepared_network(prod, session_for, boto) -> None:
    ec2 = boto("ec2", "us-west-2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"us-west-2{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in enumerate("ab")
    ]
    boto("rds", "us-west-2").create_db_subnet_group(
        DBSubnetGroupName="prod-postgres", DBSubnetGroupDescription="DR", SubnetIds=subnets
    )
    group = ec2.create_security_group(
        GroupName="prod-postgres",
        Description="DR",
        VpcId=vpc,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [{"Key": TAG_PLAN, "Value": "prod"}, {"Key": TAG_KEY, "Value": rds.SECURITY_GROUP}],
            }
        ],
    )["GroupId"]
    result = restore_to_time(session_for(), PROD, None, region="us-west-2", as_name="dr-drill")
    assert result["subnet_group"] == "prod-postgres" and result["security_group_ids"] == [group]


def test_restore_in_the_dr_region_waits_for_replication_to_be_active(session_for, monkeypatch) -> None:
    from provisioner.sandbox.rds import models as rds_models
    from tests.steps.test_rds import SandboxClock

    monkeypatch.setattr(rds_models, "LATENCY_SCALE", 1.0)
    clock = SandboxClock(monkeypatch)
    assert Runner(RunContext(plan=PROD, aws=session_for(), clock=clock), rds_nodes(PROD)).apply().status == "ok"
    with pytest.raises(PermanentError, match="still being replicated"):
        restore_to_time(session_for(), PROD, None, region="us-west-2", as_name="dr-drill", use_default_network=True)


def test_restore_after_the_database_is_gone_uses_its_retained_backups(session_for, boto) -> None:
    staging = load_plan("staging", PLANS)
    assert runner(staging, session_for(), rds_nodes(staging)).apply().status == "ok"
    when = datetime.now(UTC)
    assert runner(staging, session_for(), rds_nodes(staging)).destroy().status == "ok"
    assert (
        runner(
            staging,
            session_for(),
            subgraph(
                rds_nodes(staging), lambda n: n.key in (rds.SUBNET_GROUP, rds.PARAMETER_GROUP, rds.SECURITY_GROUP)
            ),
        )
        .apply()
        .status
        == "ok"
    )
    result = restore_to_time(session_for(), staging, when, as_name="staging-recovered")
    assert result["status"] == "available" and ":auto-backup:" in result["source"]
    assert result["subnet_group"] == "staging-postgres"


def test_parse_time_reads_iso_times_and_latest() -> None:
    assert parse_time("latest") is None
    assert parse_time("2026-11-25T20:15:00Z") == datetime(2026, 11, 25, 20, 15, tzinfo=UTC)
    assert parse_time("2026-11-25T21:15:00+01:00") == datetime(2026, 11, 25, 20, 15, tzinfo=UTC)
    assert parse_time("2026-11-25 20:15").tzinfo == UTC  # type: ignore[union-attr]
    with pytest.raises(PermanentError, match="not a time"):
        parse_time("yesterday")


# ------------------------------------------------------------------------------------ drills
def test_restore_drills_are_listed_and_deleted_and_nothing_else_is(prod, session_for, boto) -> None:
    from provisioner.operations.rds import delete_drill, list_drills

    assert list_drills(session_for(), PROD) == []
    restore_to_time(session_for(), PROD, None, as_name="drill")
    # An instance restored before drills were tagged for their plan is found by its source.
    rds = boto("rds")
    arn = rds.describe_db_instances(DBInstanceIdentifier="drill")["DBInstances"][0]["DBInstanceArn"]
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["provisioner:restored-for"])
    restore_to_time(session_for(), PROD, None, as_name="drill-2")
    drills = list_drills(session_for(), PROD)
    assert [(d["instance"], d["region"], d["status"]) for d in drills] == [
        ("drill", "us-east-1", "available"),
        ("drill-2", "us-east-1", "available"),
    ]
    assert drills[0]["deletion_protection"] is True  # prod's restores are protected like prod
    assert list_drills(session_for(), DEV) == []

    with pytest.raises(PermanentError, match="not a restore drill of plan prod"):
        delete_drill(session_for(), PROD, "prod-postgres")  # the plan's own instance: never
    assert delete_drill(session_for(), PROD, "drill") == {"deleted": "drill", "region": "us-east-1"}
    assert [d["instance"] for d in list_drills(session_for(), PROD)] == ["drill-2"]
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [
        "prod-postgres",
        "drill-2",
    ]


def test_a_drill_blocking_destroy_is_named_with_the_command_that_removes_it(session_for, boto) -> None:
    nodes = rds_nodes(DEV)
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    restore_to_time(session_for(), DEV, None, as_name="dev-drill")
    destroyed = runner(DEV, session_for(), nodes).destroy()
    failure = destroyed.results["rds/subnet-group"]
    assert failure.status == "failed" and "dev-drill" in (failure.error or "")
    assert "provisioner restore dev --list" in (failure.error or "")


def test_restore_list_and_delete_from_the_command_line(cli, session_for) -> None:
    import json

    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    assert cli("restore", "dev").code == 1  # neither --to nor --list/--delete
    made = cli("restore", "dev", "--to", "latest", "--as", "dev-drill")
    assert made.code == 0, made.err
    listed = cli("restore", "dev", "--list", "--output", "json")
    assert listed.code == 0 and [d["instance"] for d in json.loads(listed.out)] == ["dev-drill"]
    assert "--yes" in cli("restore", "dev", "--delete", "dev-drill").err  # no terminal: needs --yes
    deleted = cli("restore", "dev", "--delete", "dev-drill", "--yes")
    assert deleted.code == 0, deleted.err
    assert "No restore drills of dev." in cli("restore", "dev", "--list").out


def test_plan_destroy_shows_the_key_of_a_kept_snapshot_as_kept_and_destroy_keeps_it(session_for, boto) -> None:
    import io

    from provisioner.cli.render import render_changes
    from provisioner.engine import Action

    nodes = rds_nodes(DEV)
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    snapshot = take_snapshot(session_for(), DEV)["snapshot"]
    planned = runner(DEV, session_for(), nodes).plan(destroy=True)
    key = planned.by_key()["rds/kms-key"]
    assert key.action is Action.NOOP and key.reason == f"kept: it encrypts DB snapshot(s) {snapshot}"
    assert planned.by_key()["rds/instance"].action is Action.DELETE
    text = io.StringIO()
    render_changes(planned, text, verbose=False)
    assert f"= rds/kms-key  kms:key [{key.id}]  would keep (it encrypts DB snapshot(s) {snapshot})" in text.getvalue()

    destroyed = runner(DEV, session_for(), nodes).destroy()
    assert destroyed.status == "ok"
    done = destroyed.changeset.by_key()["rds/kms-key"]
    assert done.action is Action.NOOP and (done.reason or "").startswith("kept: ")
    assert boto("kms").describe_key(KeyId=key.id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_restore_into_a_default_network_the_baseline_removed_says_what_to_do(prod, session_for, boto) -> None:
    ec2 = boto("ec2", "us-west-2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    for igw in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]:
        ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc["VpcId"])
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    with pytest.raises(PermanentError, match="no default VPC") as error:
        restore_to_time(session_for(), PROD, None, region="us-west-2", as_name="dr-drill", use_default_network=True)
    assert "create-default-vpc --region us-west-2" in (error.value.hint or "")
    assert boto("rds", "us-west-2").describe_db_instances()["DBInstances"] == []
