"""The sandbox's RDS extension: the APIs moto lacks, answered as AWS does, through boto3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.sandbox.rds import models as rds_models

SOURCE = "prod-postgres"


@pytest.fixture
def source(boto) -> dict[str, Any]:
    """An encrypted PostgreSQL instance in us-east-1, and a KMS key in us-west-2."""
    key = boto("kms").create_key()["KeyMetadata"]["Arn"]
    db = boto("rds").create_db_instance(
        DBInstanceIdentifier=SOURCE,
        DBInstanceClass="db.r6g.xlarge",
        Engine="postgres",
        EngineVersion="17.6",
        MasterUsername="dbadmin",
        ManageMasterUserPassword=True,
        AllocatedStorage=100,
        StorageType="gp3",
        StorageEncrypted=True,
        KmsKeyId=key,
        BackupRetentionPeriod=7,
        MultiAZ=True,
    )["DBInstance"]
    return {"db": db, "dr_key": boto("kms", "us-west-2").create_key()["KeyMetadata"]["Arn"]}


def start(boto: Any, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return boto("rds", "us-west-2").start_db_instance_automated_backups_replication(
        SourceDBInstanceArn=source["db"]["DBInstanceArn"],
        KmsKeyId=source["dr_key"],
        BackupRetentionPeriod=7,
        SourceRegion="us-east-1",
        **extra,
    )["DBInstanceAutomatedBackup"]


def code_of(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def advance(monkeypatch: pytest.MonkeyPatch, seconds: float) -> datetime:
    """Move the sandbox's clock on (instead of sleeping); returns the new time."""
    later = rds_models.now() + timedelta(seconds=seconds)
    monkeypatch.setattr(rds_models, "now", lambda: later)
    return later


# ----------------------------------------------------------------------- backups replication
def test_start_replication_in_the_dr_region_shows_on_both_sides(source, boto) -> None:
    started = start(boto, source, Tags=[{"Key": "provisioner:plan", "Value": "prod"}])
    arn = started["DBInstanceAutomatedBackupsArn"]
    assert arn.startswith("arn:aws:rds:us-west-2:123456789012:auto-backup:ab-")
    assert started["DBInstanceArn"] == source["db"]["DBInstanceArn"] and started["Region"] == "us-east-1"
    assert started["KmsKeyId"] == source["dr_key"] and started["Status"] == "replicating"  # LATENCY_SCALE 0: at once
    assert started["Encrypted"] is True and started["BackupRetentionPeriod"] == 7

    (replica,) = boto("rds", "us-west-2").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
    assert replica["DBInstanceAutomatedBackupsArn"] == arn and replica["TagList"] == [
        {"Key": "provisioner:plan", "Value": "prod"}
    ]
    assert replica["RestoreWindow"]["EarliestTime"] <= replica["RestoreWindow"]["LatestTime"]

    (own,) = boto("rds").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
    assert own["Status"] == "active" and own["Region"] == "us-east-1"
    assert own["DBInstanceAutomatedBackupsReplications"] == [{"DBInstanceAutomatedBackupsArn": arn}]
    db = boto("rds").describe_db_instances(DBInstanceIdentifier=SOURCE)["DBInstances"][0]
    assert db["DBInstanceAutomatedBackupsReplications"] == [{"DBInstanceAutomatedBackupsArn": arn}]


def test_replication_is_pending_for_the_latency_model_time_then_replicating(source, boto, monkeypatch) -> None:
    monkeypatch.setattr(rds_models, "LATENCY_SCALE", 0.5)  # 300 s of the p50 600 s
    advance(monkeypatch, 391)  # the instance's own creation (780 s x 0.5)
    assert start(boto, source)["Status"] == "pending"
    dr = boto("rds", "us-west-2")
    (replica,) = dr.describe_db_instance_automated_backups(Filters=[{"Name": "status", "Values": ["pending"]}])[
        "DBInstanceAutomatedBackups"
    ]
    assert "RestoreWindow" not in replica  # nothing restorable yet
    advance(monkeypatch, 299)
    assert dr.describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"][0]["Status"] == "pending"
    advance(monkeypatch, 2)
    assert dr.describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"][0]["Status"] == "replicating"


def test_start_replication_refuses_what_aws_refuses(source, boto) -> None:
    dr = boto("rds", "us-west-2")
    with pytest.raises(ClientError) as unknown:
        dr.start_db_instance_automated_backups_replication(
            SourceDBInstanceArn="arn:aws:rds:us-east-1:123456789012:db:nope",
            KmsKeyId=source["dr_key"],
            SourceRegion="us-east-1",
        )
    assert code_of(unknown) == "DBInstanceNotFound"
    with pytest.raises(ClientError) as no_key:
        dr.start_db_instance_automated_backups_replication(
            SourceDBInstanceArn=source["db"]["DBInstanceArn"], SourceRegion="us-east-1"
        )
    assert code_of(no_key) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as bad_key:
        dr.start_db_instance_automated_backups_replication(
            SourceDBInstanceArn=source["db"]["DBInstanceArn"],
            KmsKeyId="arn:aws:kms:us-west-2:123456789012:key/missing",
            SourceRegion="us-east-1",
        )
    assert code_of(bad_key) == "KMSKeyNotAccessibleFault"
    with pytest.raises(ClientError) as same_region:
        boto("rds").start_db_instance_automated_backups_replication(
            SourceDBInstanceArn=source["db"]["DBInstanceArn"], KmsKeyId=source["dr_key"]
        )
    assert code_of(same_region) == "InvalidParameterValue"
    start(boto, source)
    with pytest.raises(ClientError) as twice:
        start(boto, source)
    assert code_of(twice) == "InvalidDBInstanceAutomatedBackupState"


def test_stop_replication_retains_the_copied_backups(source, boto) -> None:
    arn = start(boto, source)["DBInstanceAutomatedBackupsArn"]
    dr = boto("rds", "us-west-2")
    stopped = dr.stop_db_instance_automated_backups_replication(SourceDBInstanceArn=source["db"]["DBInstanceArn"])
    assert stopped["DBInstanceAutomatedBackup"]["DBInstanceAutomatedBackupsArn"] == arn
    assert stopped["DBInstanceAutomatedBackup"]["Status"] == "retained"
    assert "DBInstanceAutomatedBackupsReplications" not in boto("rds").describe_db_instances()["DBInstances"][0]
    with pytest.raises(ClientError) as again:
        dr.stop_db_instance_automated_backups_replication(SourceDBInstanceArn=source["db"]["DBInstanceArn"])
    assert code_of(again) == "InvalidDBInstanceState"
    # A new start makes a new replicated backup; the retained one stays.
    assert start(boto, source)["DBInstanceAutomatedBackupsArn"] != arn
    statuses = sorted(b["Status"] for b in dr.describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"])
    assert statuses == ["replicating", "retained"]


def test_describe_automated_backups_filters_and_not_found(source, boto) -> None:
    arn = start(boto, source)["DBInstanceAutomatedBackupsArn"]
    dr = boto("rds", "us-west-2")
    assert (
        len(dr.describe_db_instance_automated_backups(DBInstanceAutomatedBackupsArn=arn)["DBInstanceAutomatedBackups"])
        == 1
    )
    assert (
        len(dr.describe_db_instance_automated_backups(DBInstanceIdentifier=SOURCE)["DBInstanceAutomatedBackups"]) == 1
    )
    assert (
        dr.describe_db_instance_automated_backups(Filters=[{"Name": "status", "Values": ["retained"]}])[
            "DBInstanceAutomatedBackups"
        ]
        == []
    )
    with pytest.raises(ClientError) as missing:
        dr.describe_db_instance_automated_backups(DBInstanceAutomatedBackupsArn=arn + "x")
    assert code_of(missing) == "DBInstanceAutomatedBackupNotFound"
    # Paginators work (no Marker: one page).
    pages = list(dr.get_paginator("describe_db_instance_automated_backups").paginate())
    assert len(pages) == 1


def test_deleting_the_source_ends_replication_and_can_retain_its_own_backups(source, boto) -> None:
    start(boto, source)
    boto("rds").delete_db_instance(
        DBInstanceIdentifier=SOURCE, FinalDBSnapshotIdentifier="last", DeleteAutomatedBackups=False
    )
    (replica,) = boto("rds", "us-west-2").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
    assert replica["Status"] == "retained"
    (own,) = boto("rds").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"]
    assert own["Status"] == "retained" and own["DBInstanceIdentifier"] == SOURCE


# ------------------------------------------------------------------------------------ restore
def test_point_in_time_restore_checks_the_window_and_the_name(source, boto) -> None:
    client = boto("rds")
    with pytest.raises(ClientError) as outside:
        client.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier=SOURCE,
            TargetDBInstanceIdentifier="drill",
            RestoreTime=datetime.now(UTC) - timedelta(days=2),
        )
    assert code_of(outside) == "InvalidRestoreFault" and "restorable window" in str(outside.value)
    restored = client.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier=SOURCE,
        TargetDBInstanceIdentifier="drill",
        UseLatestRestorableTime=True,
        ManageMasterUserPassword=True,
        Tags=[{"Key": "purpose", "Value": "drill"}],
    )["DBInstance"]
    assert restored["DBInstanceIdentifier"] == "drill" and restored["TagList"] == [{"Key": "purpose", "Value": "drill"}]
    assert restored["KmsKeyId"] == source["db"]["KmsKeyId"] and restored["EngineVersion"] == "17.6"
    assert restored["DbiResourceId"] != source["db"]["DbiResourceId"]
    assert "DBInstanceAutomatedBackupsReplications" not in restored
    with pytest.raises(ClientError) as taken:
        client.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier=SOURCE, TargetDBInstanceIdentifier="drill", UseLatestRestorableTime=True
        )
    assert code_of(taken) == "DBInstanceAlreadyExists"


def test_point_in_time_restore_from_the_replicated_backups_in_the_dr_region(source, boto, monkeypatch) -> None:
    monkeypatch.setattr(rds_models, "LATENCY_SCALE", 1.0)
    advance(monkeypatch, 781)
    arn = start(boto, source)["DBInstanceAutomatedBackupsArn"]
    dr = boto("rds", "us-west-2")
    with pytest.raises(ClientError) as pending:
        dr.restore_db_instance_to_point_in_time(
            SourceDBInstanceAutomatedBackupsArn=arn, TargetDBInstanceIdentifier="dr", UseLatestRestorableTime=True
        )
    assert code_of(pending) == "InvalidDBInstanceAutomatedBackupState"
    later = advance(monkeypatch, 700)
    restored = dr.restore_db_instance_to_point_in_time(
        SourceDBInstanceAutomatedBackupsArn=arn,
        TargetDBInstanceIdentifier="dr",
        RestoreTime=later - timedelta(seconds=30),
        ManageMasterUserPassword=True,
        MasterUserSecretKmsKeyId=source["dr_key"],
    )["DBInstance"]
    assert restored["DBInstanceArn"].startswith("arn:aws:rds:us-west-2:")
    assert restored["KmsKeyId"] == source["dr_key"] and restored["DBInstanceClass"] == "db.r6g.xlarge"
    # Before replication became active nothing was copied: not restorable.
    with pytest.raises(ClientError) as early:
        dr.restore_db_instance_to_point_in_time(
            SourceDBInstanceAutomatedBackupsArn=arn,
            TargetDBInstanceIdentifier="dr-2",
            RestoreTime=later - timedelta(seconds=650),
        )
    assert code_of(early) == "InvalidRestoreFault"


# ---------------------------------------------------------------------------------- instances
def test_modify_without_apply_immediately_waits_for_the_maintenance_window(source, boto) -> None:
    client = boto("rds")
    modified = client.modify_db_instance(
        DBInstanceIdentifier=SOURCE, DBInstanceClass="db.r6g.2xlarge", AllocatedStorage=200, BackupRetentionPeriod=14
    )["DBInstance"]
    assert modified["DBInstanceClass"] == "db.r6g.xlarge" and modified["AllocatedStorage"] == 100
    assert modified["PendingModifiedValues"] == {"DBInstanceClass": "db.r6g.2xlarge", "AllocatedStorage": 200}
    assert modified["BackupRetentionPeriod"] == 14  # applies at once either way
    described = client.describe_db_instances(DBInstanceIdentifier=SOURCE)["DBInstances"][0]
    assert described["PendingModifiedValues"] == modified["PendingModifiedValues"]

    # ApplyImmediately applies what is pending along with the new change.
    now = client.modify_db_instance(DBInstanceIdentifier=SOURCE, MultiAZ=False, ApplyImmediately=True)["DBInstance"]
    assert (now["DBInstanceClass"], now["AllocatedStorage"], now["MultiAZ"]) == ("db.r6g.2xlarge", 200, False)
    assert "PendingModifiedValues" not in now


def test_maintenance_window_applies_pending_modifications(source, boto) -> None:
    client = boto("rds")
    client.modify_db_instance(DBInstanceIdentifier=SOURCE, MultiAZ=False)
    assert client.describe_db_instances()["DBInstances"][0]["MultiAZ"] is True
    assert rds_models.run_maintenance() == 1
    db = client.describe_db_instances()["DBInstances"][0]
    assert db["MultiAZ"] is False and "PendingModifiedValues" not in db
    # Asking again for the value it has is not a pending change.
    client.modify_db_instance(DBInstanceIdentifier=SOURCE, MultiAZ=False)
    assert "PendingModifiedValues" not in client.describe_db_instances()["DBInstances"][0]


@pytest.mark.parametrize(
    "version,instance_class", [("99.1", "db.t4g.medium"), ("17.99", "db.t4g.medium"), ("17.6", "db.foo.bar")]
)
def test_create_refuses_versions_and_classes_rds_does_not_offer(version: str, instance_class: str, boto) -> None:
    with pytest.raises(ClientError) as refused:
        boto("rds").create_db_instance(
            DBInstanceIdentifier="bad",
            DBInstanceClass=instance_class,
            Engine="postgres",
            EngineVersion=version,
            MasterUsername="x",
            ManageMasterUserPassword=True,
            AllocatedStorage=20,
        )
    assert code_of(refused) == "InvalidParameterCombination"
    assert boto("rds").describe_db_instances()["DBInstances"] == []


def test_each_instance_has_its_own_resource_id(source, boto) -> None:
    other = boto("rds").create_db_instance(
        DBInstanceIdentifier="other",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        EngineVersion="16.4",
        MasterUsername="x",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
    )["DBInstance"]
    ids = {d["DbiResourceId"] for d in boto("rds").describe_db_instances()["DBInstances"]}
    assert len(ids) == 2 and other["DbiResourceId"] in ids and source["db"]["DbiResourceId"] in ids


def test_describe_a_missing_parameter_group_is_not_found(boto) -> None:
    with pytest.raises(ClientError) as missing:
        boto("rds").describe_db_parameter_groups(DBParameterGroupName="nope")
    assert code_of(missing) == "DBParameterGroupNotFound"


def test_an_instance_refuses_a_parameter_group_of_another_family(source, boto) -> None:
    rds = boto("rds")
    for name, family in (("pg16", "postgres16"), ("pg17", "postgres17"), ("pg18", "postgres18")):
        rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily=family, Description=name)
    with pytest.raises(ClientError) as refused:
        rds.create_db_instance(
            DBInstanceIdentifier="other",
            DBInstanceClass="db.t4g.medium",
            Engine="postgres",
            EngineVersion="17.6",
            MasterUsername="dbadmin",
            AllocatedStorage=20,
            DBParameterGroupName="pg16",
        )
    assert code_of(refused) == "InvalidParameterCombination" and "postgres17" in str(refused.value)
    with pytest.raises(ClientError) as refused:  # the 17.6 instance, given a 16 group
        rds.modify_db_instance(DBInstanceIdentifier=SOURCE, DBParameterGroupName="pg16", ApplyImmediately=True)
    assert code_of(refused) == "InvalidParameterCombination"
    rds.modify_db_instance(DBInstanceIdentifier=SOURCE, DBParameterGroupName="pg17", ApplyImmediately=True)
    # A major version upgrade names the new version's group along with the new version.
    rds.modify_db_instance(
        DBInstanceIdentifier=SOURCE,
        EngineVersion="18.1",
        AllowMajorVersionUpgrade=True,
        DBParameterGroupName="pg18",
        ApplyImmediately=True,
    )


def test_reset_forgets_replications(source, boto, moto_server) -> None:
    start(boto, source)
    moto_server.reset()
    assert boto("rds", "us-west-2").describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"] == []
    assert rds_models.store.backups == {}


def test_other_services_and_rds_calls_pass_through(boto) -> None:
    assert boto("rds").describe_db_instances()["DBInstances"] == []
    assert "Vpcs" in boto("ec2").describe_vpcs()


def test_with_latency_a_new_instance_is_creating_for_the_latency_model_time(boto, monkeypatch) -> None:
    monkeypatch.setattr(rds_models, "LATENCY_SCALE", 0.1)  # 78 s of the p50 780 s
    client = boto("rds")
    created = client.create_db_instance(
        DBInstanceIdentifier="slow",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        EngineVersion="17.6",
        MasterUsername="x",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
        BackupRetentionPeriod=7,
    )["DBInstance"]
    assert created["DBInstanceStatus"] == "creating"
    with pytest.raises(ClientError) as busy:
        client.modify_db_instance(DBInstanceIdentifier="slow", BackupRetentionPeriod=8, ApplyImmediately=True)
    assert code_of(busy) == "InvalidDBInstanceState"
    advance(monkeypatch, 79)
    assert (
        client.describe_db_instances(DBInstanceIdentifier="slow")["DBInstances"][0]["DBInstanceStatus"] == "available"
    )
    # A failed create under a taken name does not make the existing instance new again.
    with pytest.raises(ClientError):
        client.create_db_instance(
            DBInstanceIdentifier="slow",
            DBInstanceClass="db.t4g.medium",
            Engine="postgres",
            EngineVersion="17.6",
            MasterUsername="x",
            ManageMasterUserPassword=True,
            AllocatedStorage=20,
        )
    assert (
        client.describe_db_instances(DBInstanceIdentifier="slow")["DBInstances"][0]["DBInstanceStatus"] == "available"
    )


def test_modify_db_subnet_group_changes_it_in_place_keeping_its_tags(boto) -> None:
    ec2, rds = boto("ec2"), boto("rds")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("abc")
    ]
    group = rds.create_db_subnet_group(
        DBSubnetGroupName="g",
        DBSubnetGroupDescription="d",
        SubnetIds=subnets[:2],
        Tags=[{"Key": "Team", "Value": "db"}],
    )["DBSubnetGroup"]
    modified = rds.modify_db_subnet_group(DBSubnetGroupName="g", SubnetIds=subnets)["DBSubnetGroup"]
    assert sorted(s["SubnetIdentifier"] for s in modified["Subnets"]) == sorted(subnets)
    (described,) = rds.describe_db_subnet_groups(DBSubnetGroupName="g")["DBSubnetGroups"]
    assert sorted(s["SubnetIdentifier"] for s in described["Subnets"]) == sorted(subnets)
    assert described["DBSubnetGroupDescription"] == "d"
    tags = rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"]
    assert tags == [{"Key": "Team", "Value": "db"}]
    # As AWS: at least two AZs, and a missing group is not found.
    with pytest.raises(ClientError) as single_az:
        rds.modify_db_subnet_group(DBSubnetGroupName="g", SubnetIds=subnets[:1])
    assert code_of(single_az) == "DBSubnetGroupDoesNotCoverEnoughAZs"
    with pytest.raises(ClientError) as missing:
        rds.modify_db_subnet_group(DBSubnetGroupName="nope", SubnetIds=subnets)
    assert code_of(missing) == "DBSubnetGroupNotFoundFault"
