"""The RDS step: the environment's PostgreSQL, its network, keys and DR copy, as graph nodes.

    rds/kms-key             kms:key                      storage, snapshots, master secret
    rds/security-group      ec2:security-group           database.port from the EKS nodes' group only; no egress
    rds/subnet-group        rds:db-subnet-group          the private subnets
    rds/parameter-group     rds:db-parameter-group       rds.force_ssl=1 and logging
    rds/instance            rds:db-instance              needs the four above
    rds/dr-kms-key          kms:key (DR region)          }  when database.backup_replication
    rds/backup-replication  rds:automated-backups-replication  }  (never waited for)

The instance depends only on what it really needs (private subnets via the subnet group, its
security group, which needs the VPC and the nodes' security group, its key and its
parameter group), never on NAT gateways, route tables or the EKS cluster: it starts while
the cluster is being created and the two ~13-minute chains overlap (latency-model.md).
"""

from __future__ import annotations

from provisioner.constants import resource_name
from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps.common.keys import NODE_SG, VPC, private_subnet_keys
from provisioner.steps.kms import KmsKey
from provisioner.steps.network.security_groups import Rule, SecurityGroup
from provisioner.steps.rds._rds import rds_call, rds_error, rds_name
from provisioner.steps.rds.backup_replications import AutomatedBackupsReplication
from provisioner.steps.rds.instances import DbInstance, identifier_for
from provisioner.steps.rds.parameter_groups import POSTGRES_PARAMETERS, DbParameterGroup, family
from provisioner.steps.rds.subnet_groups import DbSubnetGroup

KMS_KEY = "rds/kms-key"
DR_KMS_KEY = "rds/dr-kms-key"
SECURITY_GROUP = "rds/security-group"
SUBNET_GROUP = "rds/subnet-group"
PARAMETER_GROUP = "rds/parameter-group"
INSTANCE = "rds/instance"
BACKUP_REPLICATION = "rds/backup-replication"

__all__ = [
    "BACKUP_REPLICATION",
    "DR_KMS_KEY",
    "INSTANCE",
    "KMS_KEY",
    "PARAMETER_GROUP",
    "SECURITY_GROUP",
    "SUBNET_GROUP",
    "AutomatedBackupsReplication",
    "DbInstance",
    "DbParameterGroup",
    "DbSubnetGroup",
    "names",
    "rds_call",
    "rds_error",
    "rds_name",
    "resources",
]


def names(plan: Plan) -> dict[str, str]:
    """The deterministic names of the plan's RDS resources (also used by `restore`)."""
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    return {
        "instance": identifier_for(plan.name),
        "subnet_group": rds_name(plan.name, "postgres", max_length=255),
        "parameter_group": rds_name(plan.name, family(spec.database.engine_version), max_length=255),
        "security_group": resource_name(plan.name, "postgres"),
        "family": family(spec.database.engine_version),
    }


def resources(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    db = spec.database
    named = names(plan)
    private = tuple(private_subnet_keys(spec))
    # Destroy keeps a final snapshot (and the retained backups) unless the plan skips it; the
    # keys that encrypt them must outlive the destroy, or that data becomes unrecoverable.
    keeps_data = not db.skip_final_snapshot or plan.protected
    nodes: list[Resource] = [
        KmsKey(
            key=KMS_KEY,
            name="rds",
            description=f"RDS PostgreSQL of {plan.name}: storage, snapshots, master secret",
            retain_on_destroy=keeps_data,
        ),
        SecurityGroup(
            key=SECURITY_GROUP,
            depends_on=(VPC, NODE_SG),
            vpc=VPC,
            name=named["security_group"],
            # No port in the description: AWS cannot change a group's description, so a port
            # change would replace a group the instance uses; the rule changes in place.
            description=f"PostgreSQL of {plan.name}: the database port from the EKS nodes only",
            ingress=(Rule("tcp", NODE_SG, db.port, db.port),),
            egress=(),
            tags={"Name": named["security_group"]},
        ),
        DbSubnetGroup(
            key=SUBNET_GROUP,
            depends_on=private,
            name=named["subnet_group"],
            description=f"PostgreSQL of {plan.name}: private subnets",
            subnets=private,
        ),
        DbParameterGroup(
            key=PARAMETER_GROUP,
            name=named["parameter_group"],
            family=named["family"],
            description=f"PostgreSQL of {plan.name}: TLS only, logging",
            parameters=dict(POSTGRES_PARAMETERS),
        ),
        DbInstance(
            key=INSTANCE,
            depends_on=(SUBNET_GROUP, PARAMETER_GROUP, SECURITY_GROUP, KMS_KEY),
            identifier=named["instance"],
            database=db,
            subnet_group=SUBNET_GROUP,
            parameter_group=PARAMETER_GROUP,
            security_group=SECURITY_GROUP,
            kms_key=KMS_KEY,
            tags={"Name": named["instance"]},
        ),
    ]
    if db.backup_replication:
        nodes += [
            KmsKey(
                key=DR_KMS_KEY,
                name="rds-dr",
                region=spec.dr_region,
                retain_on_destroy=keeps_data,
                description=f"RDS PostgreSQL of {plan.name}: automated backups replicated to {spec.dr_region}",
            ),
            AutomatedBackupsReplication(
                key=BACKUP_REPLICATION,
                depends_on=(INSTANCE, DR_KMS_KEY),
                instance=INSTANCE,
                kms_key=DR_KMS_KEY,
                region=spec.dr_region,
                retention_days=db.backup_retention_days,
            ),
        ]
    return nodes
