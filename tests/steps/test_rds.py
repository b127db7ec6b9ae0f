"""The RDS step against the simulated AWS (moto plus the sandbox's RDS extension)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta
from typing import Any

import pytest

from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import Action, RunContext, Runner
from provisioner.engine.graph import Graph
from provisioner.planfile import load_plan
from provisioner.sandbox.rds import models as rds_models
from provisioner.steps import eks, network, rds
from provisioner.steps.common import keys
from tests.conftest import PLANS
from tests.idempotency import check_four_phases, mutating_calls, runner, subgraph

DEV = load_plan("dev", PLANS)
STAGING = load_plan("staging", PLANS)
PROD = load_plan("prod", PLANS)


def graph_of(plan: Any) -> list[Any]:
    """The rds step with what it depends on (the network and the EKS security groups)."""
    return [*network.resources(plan), *eks.security_groups(plan), *rds.resources(plan)]


def rds_nodes(plan: Any) -> list[Any]:
    return subgraph(graph_of(plan), lambda n: n.key.startswith("rds/"))


def with_database(plan: Any, **changes: Any) -> Any:
    spec = plan.spec
    return dataclasses.replace(
        plan, spec=spec.model_copy(update={"database": spec.database.model_copy(update=changes)})
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str]] = []

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        self.events.append((kind, key, message))

    def messages(self, key: str) -> list[str]:
        return [m for _, k, m in self.events if k == key]


class SandboxClock:
    """The engine's clock and the sandbox's moved together: waits take no real time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        start = rds_models.now()
        monkeypatch.setattr(rds_models, "now", lambda: start + timedelta(seconds=self.elapsed))

    def now(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds


def run(plan: Any, session: Any, nodes: list[Any], clock: Any = None, **flags: Any) -> tuple[Runner, Recorder]:
    recorder = Recorder()
    ctx = RunContext(plan=plan, aws=session, reporter=recorder, clock=clock)
    for name, value in flags.items():
        setattr(ctx, name, value)
    return Runner(ctx, nodes), recorder


def capture_params(session: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every RDS request's parameters, as sent (to prove no password ever is)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def hook(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        sent.append((model.name, dict(params)))

    session._session.events.register("provide-client-params.rds", hook)
    return sent


def instance(boto: Any, region: str = "us-east-1", identifier: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in boto("rds", region).describe_db_instances()["DBInstances"]
        if identifier is None or d["DBInstanceIdentifier"] == identifier
    ]
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------------------------ graph
def test_rds_builds_every_kind_with_only_the_dependencies_it_needs() -> None:
    nodes = {n.key: n for n in rds.resources(PROD)}
    assert {n.type for n in nodes.values()} == {
        "kms:key",
        "ec2:security-group",
        "rds:db-subnet-group",
        "rds:db-parameter-group",
        "rds:db-instance",
        "rds:automated-backups-replication",
    }
    graph = Graph.build(graph_of(PROD))
    closure: set[str] = set()
    stack = [rds.INSTANCE]
    while stack:
        key = stack.pop()
        for dep in graph.deps[key]:
            if dep not in closure:
                closure.add(dep)
                stack.append(dep)
    assert not any(k.startswith(("network/nat", "network/route-table", "network/eip", "network/igw")) for k in closure)
    assert eks.NODE_SG in closure and "network/subnet/private-a" in closure
    assert not any(k.startswith("network/subnet/public") for k in closure)
    assert nodes[rds.BACKUP_REPLICATION].depends_on == (rds.INSTANCE, rds.DR_KMS_KEY)
    assert nodes[rds.DR_KMS_KEY].region == "us-west-2"  # type: ignore[attr-defined]
    # Nothing depends on the replication: apply never waits for it.
    assert not graph.dependents[rds.BACKUP_REPLICATION]
    assert rds.names(DEV)["instance"] == "dev-postgres"


def test_rds_starts_alongside_the_cluster_in_the_whole_environment_graph() -> None:
    from provisioner.steps import build

    nodes = build(PROD)
    if not any(n.key == rds.INSTANCE for n in nodes):  # until the step is wired into build()
        nodes += rds.resources(PROD)
    graph = Graph.build(nodes)
    closure, stack = set(), [rds.INSTANCE]
    while stack:
        for dep in graph.deps[stack.pop()]:
            if dep not in closure:
                closure.add(dep)
                stack.append(dep)
    assert closure <= {
        rds.KMS_KEY,
        rds.SUBNET_GROUP,
        rds.PARAMETER_GROUP,
        rds.SECURITY_GROUP,
        eks.NODE_SG,
        eks.CLUSTER_SG,
        network.VPC,
        *keys.private_subnet_keys(PROD.spec),
    }  # type: ignore[arg-type]


def test_dev_has_no_backup_replication() -> None:
    assert {n.key for n in rds.resources(DEV)} == {
        rds.KMS_KEY,
        rds.SECURITY_GROUP,
        rds.SUBNET_GROUP,
        rds.PARAMETER_GROUP,
        rds.INSTANCE,
    }


# ------------------------------------------------------------------------------ idempotency
@pytest.mark.parametrize(
    "plan,kind",
    [
        (DEV, "rds:db-subnet-group"),
        (DEV, "rds:db-parameter-group"),
        (DEV, "rds:db-instance"),
        (STAGING, "rds:automated-backups-replication"),
    ],
    ids=["subnet-group", "parameter-group", "instance", "backup-replication"],
)
def test_apply_rds_kind_is_idempotent_through_four_phases(plan: Any, kind: str, session_for) -> None:
    check_four_phases(plan, session_for, subgraph(graph_of(plan), lambda n: n.type == kind))


# --------------------------------------------------------------------------------- baseline
@pytest.fixture
def prod_applied(session_for, prepared) -> Any:
    """prod's database applied (through `prepared`: once per process, then restored); the
    RDS requests' parameters as that apply sent them."""

    def build() -> list[tuple[str, dict[str, Any]]]:
        session = session_for()
        sent = capture_params(session)
        result, _ = run(PROD, session, rds_nodes(PROD))
        outcome = result.apply()
        assert outcome.status == "ok", [r for r in outcome.results.values() if r.status != "done"]
        return sent

    return prepared("prod database applied", build)


def test_apply_prod_database_meets_the_security_baseline(prod_applied, boto) -> None:
    db = instance(boto, identifier="prod-postgres")
    assert db["MultiAZ"] is True
    assert db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    kms = boto("kms")
    key = kms.describe_key(KeyId="alias/provisioner/prod/rds")["KeyMetadata"]
    assert db["KmsKeyId"] == key["Arn"] and key["KeyManager"] == "CUSTOMER"
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    assert db["BackupRetentionPeriod"] == 14 and db["PreferredBackupWindow"] == "03:00-04:00"
    assert db["PreferredMaintenanceWindow"] == "sun:05:00-sun:06:00"
    assert db["DeletionProtection"] is True
    assert db["IAMDatabaseAuthenticationEnabled"] is True
    assert db["CopyTagsToSnapshot"] is True and db["AutoMinorVersionUpgrade"] is True
    assert sorted(db["EnabledCloudwatchLogsExports"]) == ["postgresql", "upgrade"]
    assert db["StorageType"] == "gp3" and db["AllocatedStorage"] == 100 and db["MaxAllocatedStorage"] == 500
    assert (db["Engine"], db["EngineVersion"], db["DBInstanceClass"]) == ("postgres", "17.6", "db.r6g.xlarge")
    secret = db["MasterUserSecret"]
    assert secret["KmsKeyId"] == key["Arn"]
    assert boto("secretsmanager").describe_secret(SecretId=secret["SecretArn"])["OwningService"] == "rds"
    tags = {t["Key"]: t["Value"] for t in db["TagList"]}
    assert tags[TAG_PLAN] == "prod" and tags[TAG_KEY] == rds.INSTANCE and tags["Environment"] == "prod"

    (group,) = db["DBParameterGroups"]
    parameters = {
        p["ParameterName"]: p["ParameterValue"]
        for p in boto("rds").describe_db_parameters(DBParameterGroupName=group["DBParameterGroupName"], Source="user")[
            "Parameters"
        ]
    }
    assert parameters["rds.force_ssl"] == "1" and parameters["log_min_duration_statement"] == "1000"
    assert group["DBParameterGroupName"] == "prod-postgres17"
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == "prod-postgres" and len(db["DBSubnetGroup"]["Subnets"]) == 3

    ec2 = boto("ec2")
    (sg_id,) = [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]]
    sg = ec2.describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]
    node_sg = ec2.describe_security_groups(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [eks.NODE_SG]}])[
        "SecurityGroups"
    ][0]
    (rule,) = sg["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 5433, 5433)
    assert db["Endpoint"]["Port"] == PROD.spec.database.port == 5433  # not PostgreSQL's default (RDS.23)
    assert rule["IpRanges"] == [] and [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [node_sg["GroupId"]]
    assert sg["IpPermissionsEgress"] == []

    # Backups replicated to the DR region, encrypted with a key there; the source lists it.
    dr_key = boto("kms", "us-west-2").describe_key(KeyId="alias/provisioner/prod/rds-dr")["KeyMetadata"]
    replicated = [
        b
        for b in boto("rds", "us-west-2").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
        if b["DBInstanceArn"] == db["DBInstanceArn"]
    ]
    assert len(replicated) == 1 and replicated[0]["Status"] == "replicating"
    assert replicated[0]["KmsKeyId"] == dr_key["Arn"] and replicated[0]["BackupRetentionPeriod"] == 14
    assert [r["DBInstanceAutomatedBackupsArn"] for r in db["DBInstanceAutomatedBackupsReplications"]] == [
        replicated[0]["DBInstanceAutomatedBackupsArn"]
    ]


def test_apply_prod_database_never_sends_a_password(prod_applied) -> None:
    sent = prod_applied
    (create,) = [p for op, p in sent if op == "CreateDBInstance"]
    assert create["ManageMasterUserPassword"] is True
    assert not any("MasterUserPassword" in params for _, params in sent)


def test_apply_prod_database_again_changes_nothing(prod_applied, session_for) -> None:
    changes = runner(PROD, session_for(), rds_nodes(PROD)).plan().changes
    assert [c for c in changes if c.action is not Action.NOOP] == []
    session = session_for()
    assert runner(PROD, session, rds_nodes(PROD)).apply().status == "ok"
    assert mutating_calls(session) == []


def test_no_op_plan_of_the_rds_step_makes_few_calls(prod_applied, session_for) -> None:
    session = session_for()
    runner(PROD, session, rds_nodes(PROD)).plan()
    rds_calls = {op: n for op, n in session.calls.items() if op.startswith("rds:")}
    assert sum(rds_calls.values()) <= 8, rds_calls
    assert rds_calls.get("rds:DescribeDBInstances") == 1


# -------------------------------------------------------------------------------------- drift
def test_plan_shows_changed_instance_class_as_update_and_apply_makes_it(session_for, boto) -> None:
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    bigger = with_database(DEV, instance_class="db.t4g.large")
    (change,) = [
        c for c in runner(bigger, session_for(), rds_nodes(bigger)).plan().changes if c.action is not Action.NOOP
    ]
    assert change.key == rds.INSTANCE and change.action is Action.UPDATE
    assert change.diff == {"instance_class": {"from": "db.t4g.medium", "to": "db.t4g.large"}}
    assert runner(bigger, session_for(), rds_nodes(bigger)).apply().status == "ok"
    assert instance(boto)["DBInstanceClass"] == "db.t4g.large"  # dev applies immediately
    assert not runner(bigger, session_for(), rds_nodes(bigger)).plan().has_changes


def test_changing_the_database_port_modifies_the_instance_and_its_security_group_rule(session_for, boto) -> None:
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    assert instance(boto)["Endpoint"]["Port"] == 5433
    moved = with_database(DEV, port=6543)
    changes = {
        c.key: c for c in runner(moved, session_for(), rds_nodes(moved)).plan().changes if c.action is not Action.NOOP
    }
    assert set(changes) == {rds.INSTANCE, rds.SECURITY_GROUP}
    assert changes[rds.INSTANCE].action is Action.UPDATE and changes[rds.INSTANCE].diff == {
        "port": {"from": 5433, "to": 6543}
    }
    assert changes[rds.SECURITY_GROUP].action is Action.UPDATE  # the rule, in place: the group stays
    sent = capture_params(session := session_for())
    assert runner(moved, session, rds_nodes(moved)).apply().status == "ok"
    assert [p["DBPortNumber"] for op, p in sent if op == "ModifyDBInstance"] == [6543]
    db = instance(boto)
    assert db["Endpoint"]["Port"] == 6543
    (rule,) = boto("ec2").describe_security_groups(GroupIds=[db["VpcSecurityGroups"][0]["VpcSecurityGroupId"]])[
        "SecurityGroups"
    ][0]["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (6543, 6543)
    assert not runner(moved, session_for(), rds_nodes(moved)).plan().has_changes


def test_drift_in_backups_multi_az_and_parameters_is_shown_and_undone(session_for, boto) -> None:
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    client = boto("rds")
    client.modify_db_instance(
        DBInstanceIdentifier="dev-postgres",
        BackupRetentionPeriod=3,
        MultiAZ=True,
        AllocatedStorage=30,
        ApplyImmediately=True,
    )
    client.modify_db_parameter_group(
        DBParameterGroupName="dev-postgres17",
        Parameters=[
            {"ParameterName": "log_min_duration_statement", "ParameterValue": "-1", "ApplyMethod": "immediate"},
            {"ParameterName": "work_mem", "ParameterValue": "65536", "ApplyMethod": "immediate"},
        ],
    )
    changes = {
        c.key: c for c in runner(DEV, session_for(), rds_nodes(DEV)).plan().changes if c.action is not Action.NOOP
    }
    assert set(changes) == {rds.INSTANCE, rds.PARAMETER_GROUP}
    # Storage grown (by autoscaling or by hand) is not drift: RDS cannot shrink it anyway.
    assert set(changes[rds.INSTANCE].diff) == {"backup_retention_days", "multi_az"}
    assert changes[rds.INSTANCE].diff["backup_retention_days"] == {"from": 3, "to": 7}
    assert "parameters" in changes[rds.PARAMETER_GROUP].diff

    session = session_for()
    assert runner(DEV, session, rds_nodes(DEV)).apply().status == "ok"
    # The group's name and family came from the instance that uses it (issue #17).
    assert "rds:DescribeDBParameterGroups" not in session.calls, session.calls
    db = instance(boto)
    assert (db["BackupRetentionPeriod"], db["MultiAZ"], db["AllocatedStorage"]) == (7, False, 30)
    parameters = {
        p["ParameterName"]: p["ParameterValue"]
        for p in client.describe_db_parameters(DBParameterGroupName="dev-postgres17", Source="user")["Parameters"]
    }
    assert parameters["log_min_duration_statement"] == "1000"
    assert parameters["work_mem"] == "65536"  # set outside the plan: left alone
    assert not runner(DEV, session_for(), rds_nodes(DEV)).plan().has_changes


def test_a_parameter_group_of_the_plan_its_instance_does_not_use_is_still_found(session_for, boto) -> None:
    """A parameter group tagged for the plan that the instance does not use makes discovery
    list the groups (the instance names only its own), so plan and destroy still see it."""
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    boto("rds").create_db_parameter_group(
        DBParameterGroupName="dev-postgres16",
        DBParameterGroupFamily="postgres16",
        Description="an earlier parameter group of dev",
        Tags=[{"Key": TAG_PLAN, "Value": "dev"}, {"Key": TAG_KEY, "Value": "rds/old-parameter-group"}],
    )
    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, rds_nodes(DEV)).plan().changes if c.action is not Action.NOOP}
    assert {k: c.action for k, c in changes.items()} == {"rds/old-parameter-group": Action.DELETE}
    assert session.calls["rds:DescribeDBParameterGroups"] == 1, session.calls

    result = runner(DEV, session_for(), rds_nodes(DEV)).destroy()
    assert result.status == "ok", result.failures()
    names = {g["DBParameterGroupName"] for g in boto("rds").describe_db_parameter_groups()["DBParameterGroups"]}
    assert not {n for n in names if n.startswith("dev-")}, names


def test_an_instance_moved_to_a_look_alike_parameter_group_is_drift_and_the_group_not_adopted(
    session_for, boto
) -> None:
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    client = boto("rds")
    client.create_db_parameter_group(
        DBParameterGroupName="dev-postgres17-tuned", DBParameterGroupFamily="postgres17", Description="by hand"
    )
    client.modify_db_instance(
        DBInstanceIdentifier="dev-postgres", DBParameterGroupName="dev-postgres17-tuned", ApplyImmediately=True
    )
    changes = {
        c.key: c for c in runner(DEV, session_for(), rds_nodes(DEV)).plan().changes if c.action is not Action.NOOP
    }
    # The plan's group, which the instance no longer uses, is still found (no create), and the
    # instance is moved back to it; the hand-made group is nobody's node.
    assert {k: c.action for k, c in changes.items()} == {rds.INSTANCE: Action.UPDATE}
    assert set(changes[rds.INSTANCE].diff) == {"parameter_group"}


def test_a_parameter_group_whose_description_changed_is_kept_not_replaced(session_for) -> None:
    """RDS cannot change a parameter group's description, and the instance uses the group: a
    wording change is no reason to replace it (as for security groups)."""
    nodes = rds_nodes(DEV)
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    reworded = [
        dataclasses.replace(n, description=n.description + " (reworded)") if n.key == rds.PARAMETER_GROUP else n
        for n in nodes
    ]
    assert runner(DEV, session_for(), reworded).plan().by_key()[rds.PARAMETER_GROUP].action is Action.NOOP


def test_a_subnet_group_changed_by_hand_is_drift_read_from_its_instance(session_for, boto) -> None:
    """The subnet group is read from DescribeDBInstances (issue #17): a subnet added to it and
    its description changed by hand still show as drift and are undone."""
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    ec2 = boto("ec2")
    group = boto("rds").describe_db_subnet_groups(DBSubnetGroupName="dev-postgres")["DBSubnetGroups"][0]
    extra = ec2.create_subnet(VpcId=group["VpcId"], CidrBlock="10.10.240.0/24", AvailabilityZone="us-east-1c")
    ours = sorted(s["SubnetIdentifier"] for s in group["Subnets"])
    boto("rds").modify_db_subnet_group(
        DBSubnetGroupName="dev-postgres",
        DBSubnetGroupDescription="changed by hand",
        SubnetIds=[*ours, extra["Subnet"]["SubnetId"]],
    )

    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, rds_nodes(DEV)).plan().changes if c.action is not Action.NOOP}
    assert set(changes) == {rds.SUBNET_GROUP}
    assert changes[rds.SUBNET_GROUP].action is Action.UPDATE
    assert set(changes[rds.SUBNET_GROUP].diff) == {"subnet_ids", "description"}
    assert "rds:DescribeDBSubnetGroups" not in session.calls  # the instance's description of it

    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    group = boto("rds").describe_db_subnet_groups(DBSubnetGroupName="dev-postgres")["DBSubnetGroups"][0]
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == ours
    assert not runner(DEV, session_for(), rds_nodes(DEV)).plan().has_changes


def test_a_subnet_group_of_the_plan_its_instance_does_not_use_is_still_found(session_for, boto) -> None:
    """Groups tagged for the plan that the instance does not name (an earlier one, left by a
    killed run) make discovery list the groups, so plan and destroy still see them."""
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    group = boto("rds").describe_db_subnet_groups(DBSubnetGroupName="dev-postgres")["DBSubnetGroups"][0]
    boto("rds").create_db_subnet_group(
        DBSubnetGroupName="dev-postgres-old",
        DBSubnetGroupDescription="an earlier subnet group of dev",
        SubnetIds=[s["SubnetIdentifier"] for s in group["Subnets"]],
        Tags=[{"Key": TAG_PLAN, "Value": "dev"}, {"Key": TAG_KEY, "Value": "rds/old-subnet-group"}],
    )

    session = session_for()
    changes = {c.key: c for c in runner(DEV, session, rds_nodes(DEV)).plan().changes if c.action is not Action.NOOP}
    assert set(changes) == {"rds/old-subnet-group"}
    assert changes["rds/old-subnet-group"].action is Action.DELETE
    assert session.calls["rds:DescribeDBSubnetGroups"] == 1

    result = runner(DEV, session_for(), rds_nodes(DEV)).destroy()
    assert result.status == "ok", result.failures()
    assert [
        g
        for g in boto("rds").describe_db_subnet_groups()["DBSubnetGroups"]
        if g["DBSubnetGroupName"].startswith("dev-")
    ] == []


def test_prod_waits_for_the_maintenance_window_unless_asked(prod_applied, session_for, boto) -> None:
    bigger = with_database(PROD, instance_class="db.r6g.2xlarge")
    (change,) = [
        c for c in runner(bigger, session_for(), rds_nodes(bigger)).plan().changes if c.action is not Action.NOOP
    ]
    assert change.diff == {"instance_class": {"from": "db.r6g.xlarge", "to": "db.r6g.2xlarge"}}

    applying, recorder = run(bigger, session_for(), rds_nodes(bigger))
    assert applying.apply().status == "ok"
    db = instance(boto, identifier="prod-postgres")
    assert db["DBInstanceClass"] == "db.r6g.xlarge"
    assert db["PendingModifiedValues"] == {"DBInstanceClass": "db.r6g.2xlarge"}
    assert any("maintenance window" in m for m in recorder.messages(rds.INSTANCE))

    # Pending is not drift: plan reports it and proposes nothing.
    planning, recorder = run(bigger, session_for(), rds_nodes(bigger))
    assert not planning.plan().has_changes
    assert any(
        "pending until the maintenance window" in m and "db.r6g.2xlarge" in m for m in recorder.messages(rds.INSTANCE)
    )
    (node,) = [n for n in rds_nodes(bigger) if n.key == rds.INSTANCE]
    (live,) = RunContext(plan=bigger, aws=session_for()).live(rds.DbInstance)
    assert node.report(live) == {
        "status": "available",
        "pending_maintenance": {"window": "sun:05:00-sun:06:00", "changes": {"DBInstanceClass": "db.r6g.2xlarge"}},
    }

    assert rds_models.run_maintenance(identifier="prod-postgres") == 1
    assert instance(boto, identifier="prod-postgres")["DBInstanceClass"] == "db.r6g.2xlarge"
    assert not runner(bigger, session_for(), rds_nodes(bigger)).plan().has_changes

    # Asked for at once (the CLI's --apply-immediately): applied now, with what was pending.
    biggest = with_database(PROD, instance_class="db.r6g.4xlarge")
    now, _ = run(biggest, session_for(), rds_nodes(biggest), apply_immediately=True)
    assert now.apply().status == "ok"
    db = instance(boto, identifier="prod-postgres")
    assert db["DBInstanceClass"] == "db.r6g.4xlarge" and not db.get("PendingModifiedValues")


def test_apply_reports_an_engine_version_rds_does_not_offer(session_for) -> None:
    unknown = with_database(DEV, engine_version="17.99")
    result = runner(unknown, session_for(), rds_nodes(unknown)).apply()
    failure = result.results[rds.INSTANCE]
    assert failure.status == "failed" and failure.error_code == "InvalidParameterCombination"
    assert "17.99" in failure.error and "describe-orderable-db-instance-options" in failure.error


def test_apply_refuses_to_adopt_an_instance_with_our_name_but_not_our_tags(session_for, boto) -> None:
    boto("rds").create_db_instance(
        DBInstanceIdentifier="dev-postgres",
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        EngineVersion="17.6",
        MasterUsername="someone",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
    )
    result = runner(DEV, session_for(), rds_nodes(DEV)).apply()
    assert result.results[rds.INSTANCE].status == "failed"
    assert "not this plan's" in (result.results[rds.INSTANCE].error or "")
    assert not runner(DEV, session_for(), rds_nodes(DEV)).destroy().failures()
    assert instance(boto)["MasterUsername"] == "someone"  # never touched


def test_turning_backup_replication_off_stops_it(session_for, boto) -> None:
    assert runner(STAGING, session_for(), rds_nodes(STAGING)).apply().status == "ok"
    off = with_database(STAGING, backup_replication=False)
    changes = {
        c.key: c for c in runner(off, session_for(), rds_nodes(off)).plan().changes if c.action is not Action.NOOP
    }
    assert changes[rds.INSTANCE].diff == {"backup_replication_regions": {"from": ["us-west-2"], "to": []}}
    assert changes[rds.DR_KMS_KEY].action is Action.DELETE
    assert runner(off, session_for(), rds_nodes(off)).apply().status == "ok"
    statuses = [
        b["Status"]
        for b in boto("rds", "us-west-2").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
    ]
    assert statuses == ["retained"]
    assert not runner(off, session_for(), rds_nodes(off)).plan().has_changes


# ---------------------------------------------------------------------------- replication
def test_apply_waits_for_the_instance_but_not_for_backup_replication(session_for, boto, monkeypatch) -> None:
    monkeypatch.setattr(rds_models, "LATENCY_SCALE", 1.0)  # real AWS time: creating 780 s, pending 600 s
    clock = SandboxClock(monkeypatch)
    applying, recorder = run(STAGING, session_for(), rds_nodes(STAGING), clock=clock)
    assert applying.apply().status == "ok"
    assert 780 <= clock.elapsed < 800, "waited for the instance, then not for the replication"
    assert max(clock.sleeps) <= 10, "polls every 10 s or less"
    assert any("creating" in m for m in recorder.messages(rds.INSTANCE))
    assert any("started: pending (not waited for)" in m for m in recorder.messages(rds.BACKUP_REPLICATION))
    (backup,) = boto("rds", "us-west-2").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
    assert backup["Status"] == "pending"

    planning, recorder = run(STAGING, session_for(), rds_nodes(STAGING), clock=clock)
    assert not planning.plan().has_changes
    assert any(": pending" in m for m in recorder.messages(rds.BACKUP_REPLICATION))
    (node,) = [n for n in rds_nodes(STAGING) if n.key == rds.BACKUP_REPLICATION]
    (live,) = RunContext(plan=STAGING, aws=session_for()).live(rds.AutomatedBackupsReplication)
    assert node.report(live) == {"status": "pending", "latest_restorable_time": None}

    clock.sleep(601)
    planning, recorder = run(STAGING, session_for(), rds_nodes(STAGING), clock=clock)
    assert not planning.plan().has_changes
    assert any(m.endswith(": replicating") for m in recorder.messages(rds.BACKUP_REPLICATION))


# ------------------------------------------------------------------------------------ destroy
def test_destroy_dev_deletes_without_final_snapshot_and_removes_its_groups(session_for, boto) -> None:
    assert runner(DEV, session_for(), rds_nodes(DEV)).apply().status == "ok"
    result = runner(DEV, session_for(), rds_nodes(DEV)).destroy()
    assert result.status == "ok", result.failures()
    client = boto("rds")
    assert client.describe_db_instances()["DBInstances"] == []
    assert client.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
    assert [
        g for g in client.describe_db_subnet_groups()["DBSubnetGroups"] if g["DBSubnetGroupName"].startswith("dev-")
    ] == []
    assert [
        g
        for g in client.describe_db_parameter_groups()["DBParameterGroups"]
        if g["DBParameterGroupName"].startswith("dev-")
    ] == []
    groups = boto("ec2").describe_security_groups(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [rds.SECURITY_GROUP]}])[
        "SecurityGroups"
    ]
    assert groups == []


def test_destroy_staging_keeps_a_uniquely_named_final_snapshot(session_for, boto) -> None:
    assert runner(STAGING, session_for(), rds_nodes(STAGING)).apply().status == "ok"
    assert instance(boto)["DeletionProtection"] is True
    result = runner(STAGING, session_for(), rds_nodes(STAGING)).destroy()
    assert result.status == "ok", result.failures()
    client = boto("rds")
    assert client.describe_db_instances()["DBInstances"] == []
    (snapshot,) = client.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert snapshot["DBSnapshotIdentifier"].startswith("staging-postgres-final-20")
    assert snapshot["DBInstanceIdentifier"] == "staging-postgres"
    # The DR copy is stopped, and what was copied is kept.
    statuses = [
        b["Status"]
        for b in boto("rds", "us-west-2").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
    ]
    assert statuses == ["retained"]
    # Automated backups are kept too when a final snapshot is (point-in-time restore stays possible).
    assert [b["Status"] for b in client.describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]] == [
        "retained"
    ]


def test_destroy_prod_is_refused_without_confirmation_and_then_keeps_a_final_snapshot(
    prod_applied, session_for, boto
) -> None:
    refused = runner(PROD, session_for(), rds_nodes(PROD)).destroy()
    assert refused.status == "failed"
    assert (
        refused.results[rds.INSTANCE].status == "failed" or refused.results[rds.BACKUP_REPLICATION].status == "failed"
    )
    db = instance(boto, identifier="prod-postgres")
    assert db["DeletionProtection"] is True and db["DBInstanceAutomatedBackupsReplications"]
    assert boto("rds").describe_db_subnet_groups(DBSubnetGroupName="prod-postgres")["DBSubnetGroups"]

    confirmed, _ = run(PROD, session_for(), rds_nodes(PROD), allow_protected=True)
    result = confirmed.destroy()
    assert result.status == "ok", result.failures()
    assert boto("rds").describe_db_instances()["DBInstances"] == []
    (snapshot,) = boto("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert snapshot["DBSnapshotIdentifier"].startswith("prod-postgres-final-")


def test_final_snapshot_names_are_unique_per_moment() -> None:
    from datetime import datetime

    from provisioner.steps.rds.instances import final_snapshot_name

    first = final_snapshot_name("prod-postgres", datetime(2026, 11, 25, 20, 0, 0, tzinfo=UTC))
    second = final_snapshot_name("prod-postgres", datetime(2026, 11, 25, 20, 0, 1, tzinfo=UTC))
    assert first == "prod-postgres-final-20261125-200000" and first != second


def test_unprotected_plan_with_apply_immediately_false_waits_for_the_maintenance_window(session_for, boto) -> None:
    """Issue 13 item 9: the plan's `apply_immediately` decides, protected or not (staging is
    not protected and says false); `--apply-immediately` is the only override."""
    assert not STAGING.protected and STAGING.spec.database.apply_immediately is False
    assert runner(STAGING, session_for(), rds_nodes(STAGING)).apply().status == "ok"
    identifier = "staging-postgres"
    before = instance(boto, identifier=identifier)["DBInstanceClass"]
    bigger_class = "db.r6g.2xlarge"
    bigger = with_database(STAGING, instance_class=bigger_class)
    applying, recorder = run(bigger, session_for(), rds_nodes(bigger))
    assert applying.apply().status == "ok"
    db = instance(boto, identifier=identifier)
    assert db["DBInstanceClass"] == before
    assert db["PendingModifiedValues"] == {"DBInstanceClass": bigger_class}
    assert any("maintenance window" in m for m in recorder.messages(rds.INSTANCE))

    biggest = with_database(STAGING, instance_class="db.r6g.8xlarge")
    overriding, _ = run(biggest, session_for(), rds_nodes(biggest), apply_immediately=True)
    assert overriding.apply().status == "ok"
    db = instance(boto, identifier=identifier)
    assert db["DBInstanceClass"] == "db.r6g.8xlarge" and not db.get("PendingModifiedValues")


def test_a_security_group_whose_description_changed_is_kept_not_replaced(session_for) -> None:
    """AWS cannot change a group's description; replacing the database's group in use for a
    wording change would break the database (the port left the description in issue 14)."""
    nodes = subgraph(graph_of(DEV), lambda n: n.key == "rds/security-group")
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    reworded = [
        dataclasses.replace(n, description=n.description + " (reworded)") if n.key == "rds/security-group" else n
        for n in nodes
    ]
    planned = runner(DEV, session_for(), reworded).plan()
    assert planned.by_key()["rds/security-group"].action is Action.NOOP
