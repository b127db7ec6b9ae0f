"""What RDS offers for PostgreSQL: engine versions and instance classes, and the check
CreateDBInstance and ModifyDBInstance make against them."""

from __future__ import annotations

import re

from provisioner.sandbox.rds.models import RdsError

# PostgreSQL versions RDS offers (majors in standard support and their minor releases).
POSTGRES_MINORS = {14: range(1, 21), 15: range(2, 16), 16: range(1, 12), 17: range(1, 8), 18: range(1, 2)}
INSTANCE_FAMILIES = {
    "t3",
    "t4g",
    "m5",
    "m5d",
    "m6g",
    "m6gd",
    "m6i",
    "m6id",
    "m6in",
    "m6idn",
    "m7g",
    "m7gd",
    "m7i",
    "m8g",
    "r5",
    "r5b",
    "r5d",
    "r6g",
    "r6gd",
    "r6i",
    "r6id",
    "r6in",
    "r6idn",
    "r7g",
    "r7gd",
    "r7i",
    "r8g",
    "x2g",
    "x2idn",
    "x2iedn",
    "c6gd",
    "z1d",
}
INSTANCE_SIZES = {
    "micro",
    "small",
    "medium",
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "32xlarge",
    "48xlarge",
}


def validate_engine(engine: str, version: str | None, instance_class: str | None) -> None:
    """RDS refuses versions it does not offer and classes that do not exist for the engine."""
    if engine == "postgres" and version:
        match = re.fullmatch(r"(\d+)\.(\d+)", version)
        if not match or int(match.group(2)) not in POSTGRES_MINORS.get(int(match.group(1)), ()):
            raise RdsError("InvalidParameterCombination", f"Cannot find version {version} for {engine}")
    if instance_class and engine == "postgres":
        parts = instance_class.split(".")
        if len(parts) != 3 or parts[0] != "db" or parts[1] not in INSTANCE_FAMILIES or parts[2] not in INSTANCE_SIZES:
            raise RdsError(
                "InvalidParameterCombination",
                (
                    "RDS does not support creating a DB instance with the following combination: "
                    f"DBInstanceClass={instance_class}, Engine={engine}, EngineVersion={version or '-'}, "
                    "LicenseModel=postgresql-license. For supported combinations of instance class and database engine "
                    "version, see the documentation."
                ),
            )


def validate_parameter_group_family(engine: str, version: str | None, group: str | None, family: str | None) -> None:
    """RDS refuses a DB parameter group of another family than the instance's engine version
    (`postgres17` for PostgreSQL 17.x), on CreateDBInstance and ModifyDBInstance alike; a major
    version upgrade names the new version's group with the new version. So the group an
    instance uses has its engine's family, which discovery relies on (steps/rds)."""
    if engine != "postgres" or not version or not group or family is None:
        return
    wanted = f"postgres{version.split('.')[0]}"
    if family != wanted:
        raise RdsError(
            "InvalidParameterCombination",
            f"The parameter group {group} with DBParameterGroupFamily {family} can't be used for this instance. "
            f"Use a parameter group with DBParameterGroupFamily {wanted}.",
        )
