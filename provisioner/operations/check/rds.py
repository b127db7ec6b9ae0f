"""The live audit of the database: encryption, backups, public access, IAM auth, TLS-only
parameters, log exports, its security groups."""

from __future__ import annotations

from provisioner.aws.errors import ClientError, error_code, is_not_found
from provisioner.aws.tags import from_list
from provisioner.operations.check.base import (
    NODE_SG_KEY,
    AuditBase,
    cidr_of,
    port_range,
)
from provisioner.planfile.catalog import POSTGRES_DEFAULT_PORT


class RdsAudit(AuditBase):
    """The database's section (rds)."""

    # -- RDS ----------------------------------------------------------------------------------
    def rds(self) -> None:
        from provisioner.steps import rds as rds_step

        rds = self.client("rds")
        identifier = rds_step.names(self.plan)["instance"]
        controls = (
            "RDS.2",
            "RDS.3",
            "RDS.5",
            "RDS.8",
            "RDS.9",
            "RDS.10",
            "RDS.11",
            "RDS.13",
            "RDS.17",
            "RDS.23",
            "PROV.8",
            "PROV.9",
            "PROV.10",
            "PROV.11",
        )
        try:
            db = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        except ClientError as exc:
            if error_code(exc) != "DBInstanceNotFound" and not is_not_found(exc):
                raise
            self.missing(controls, "rds/instance", f"DB instance {identifier}")
            return
        arn = db.get("DBInstanceArn", identifier)
        r = "rds/instance"
        self.add(
            "RDS.2",
            r,
            not db.get("PubliclyAccessible"),
            f"PubliclyAccessible {str(bool(db.get('PubliclyAccessible'))).lower()}",
            arn,
        )
        encrypted = bool(db.get("StorageEncrypted")) and bool(db.get("KmsKeyId"))
        self.add(
            "RDS.3",
            r,
            encrypted,
            f"encrypted with {db.get('KmsKeyId')}" if encrypted else "storage not encrypted with KMS",
            arn,
        )
        self.add("RDS.5", r, bool(db.get("MultiAZ")), "Multi-AZ" if db.get("MultiAZ") else "single-AZ", arn)
        self.add(
            "RDS.8",
            r,
            bool(db.get("DeletionProtection")),
            f"deletion protection {'on' if db.get('DeletionProtection') else 'off'}",
            arn,
        )
        exports = db.get("EnabledCloudwatchLogsExports") or []
        self.add("RDS.9", r, "postgresql" in exports, f"log exports: {', '.join(exports) or 'none'}", arn)
        self.add(
            "RDS.10",
            r,
            bool(db.get("IAMDatabaseAuthenticationEnabled")),
            f"IAM authentication {'on' if db.get('IAMDatabaseAuthenticationEnabled') else 'off'}",
            arn,
        )
        retention = int(db.get("BackupRetentionPeriod") or 0)
        self.add("RDS.11", r, retention >= 7, f"backups kept {retention} days", arn)
        self.add(
            "RDS.13",
            r,
            bool(db.get("AutoMinorVersionUpgrade")),
            f"automatic minor upgrades {'on' if db.get('AutoMinorVersionUpgrade') else 'off'}",
            arn,
        )
        self.add(
            "RDS.17",
            r,
            bool(db.get("CopyTagsToSnapshot")),
            f"copy tags to snapshots {'on' if db.get('CopyTagsToSnapshot') else 'off'}",
            arn,
        )
        replications = db.get("DBInstanceAutomatedBackupsReplications") or []
        self.add(
            "PROV.8",
            r,
            bool(replications),
            "backups replicated to "
            + ", ".join(x.get("DBInstanceAutomatedBackupsArn", "?").split(":")[3] for x in replications)
            if replications
            else "no automated backups replication",
            arn,
        )
        secret = db.get("MasterUserSecret") or {}
        self.add(
            "PROV.10",
            r,
            bool(secret.get("SecretArn")),
            "master password kept by RDS in Secrets Manager"
            if secret.get("SecretArn")
            else "master password not managed by RDS",
            arn,
        )
        for group in db.get("DBParameterGroups", []):
            name = group["DBParameterGroupName"]
            values = {
                p["ParameterName"]: p.get("ParameterValue")
                for page in rds.get_paginator("describe_db_parameters").paginate(
                    DBParameterGroupName=name, Source="user"
                )
                for p in page["Parameters"]
            }
            force = values.get("rds.force_ssl")
            self.add("PROV.9", "rds/parameter-group", force == "1", f"rds.force_ssl = {force}", name)
        port = (db.get("Endpoint") or {}).get("Port")
        self.add(
            "RDS.23",
            r,
            port is not None and port != POSTGRES_DEFAULT_PORT,
            f"port {port}" + (" (PostgreSQL's default)" if port == POSTGRES_DEFAULT_PORT else ""),
            arn,
        )
        self._db_security_groups([g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])], port)

    def _db_security_groups(self, group_ids: list[str], port: int | None) -> None:
        if not group_ids:
            self.add("PROV.11", "rds/security-group", False, "the instance has no security group", "rds/instance")
            return
        node_groups = {
            g["GroupId"] for g in self.plan_groups() if from_list(g.get("Tags")).get("provisioner:key") == NODE_SG_KEY
        }
        for group in self.client("ec2").describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
            wrong = []
            for permission in group.get("IpPermissions", []):
                ranges = (
                    permission.get("IpRanges", [])
                    + permission.get("Ipv6Ranges", [])
                    + permission.get("PrefixListIds", [])
                )
                sources = {p.get("GroupId") for p in permission.get("UserIdGroupPairs", [])}
                port_ok = (
                    permission.get("IpProtocol") == "tcp"
                    and permission.get("FromPort") == permission.get("ToPort") == port
                )
                if not port_ok or ranges or not sources <= node_groups:
                    wrong.append(
                        f"{port_range(permission)} from {', '.join(sorted(map(str, sources)) + [cidr_of(x) for x in ranges])}"
                    )
            self.add(
                "PROV.11",
                "rds/security-group",
                not wrong,
                f"{port} from the node security group only" if not wrong else "also admits: " + "; ".join(wrong),
                group["GroupId"],
            )
