"""Versions and enumerations the tool supports, in one place.

Kept as data so validation, the JSON Schema and the steps agree. When AWS adds an EKS or
PostgreSQL version, add it here after checking the steps against it.
"""

from __future__ import annotations

# EKS versions in standard support as of late 2026 that this tool is tested against.
SUPPORTED_EKS_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")

# PostgreSQL major versions RDS offers in standard support.
SUPPORTED_POSTGRES_MAJORS = (14, 15, 16, 17)
# PostgreSQL's default port: FSBP RDS.23 flags an instance listening on it, so
# `database.port` defaults to another (model.py) and plan/live checks compare with this one.
POSTGRES_DEFAULT_PORT = 5432

# The Karpenter release this tool installs (CRD digests are pinned per version).
KARPENTER_VERSIONS = ("1.14.1",)

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")

# The only values CloudWatch Logs PutRetentionPolicy accepts.
CLOUDWATCH_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
