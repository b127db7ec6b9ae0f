"""Plans that are YAML mappings but break the schema or a cross-field rule.

Each case mutates one shipped plan (dev unless noted) and expects one issue at the field's
dotted path, on the line where that field (or its nearest located ancestor) is written, with
a problem saying what was wrong and `allowed` saying what would be accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.planfile import load_plan

from ._helpers import BadPlan, mutate, shipped

BadPlanFn = Callable[..., BadPlan]


def case(
    id: str,
    old: str,
    new: str,
    field: str,
    *,
    at: str | None = None,
    problem: tuple[str, ...] = (),
    allowed: tuple[str, ...] = (),
    base: str = "dev",
) -> object:
    """One mutation of plans/<base>.yaml; `at` (default: `new`) locates the expected line."""
    return pytest.param(base, old, new, field, at if at is not None else new, problem, allowed, id=id)


SCHEMA_CASES = [
    case(
        "unknown-top-level-key",
        "kind: environment\n",
        "kind: environment\nowner: me\n",
        "owner",
        at="owner: me",
        problem=("unknown key 'owner'",),
        allowed=("network", "eks", "database", "karpenter"),
    ),
    case(
        "unknown-nested-key",
        "    traffic_type: ALL\n",
        "    traffic_type: ALL\n    retention: 7\n",
        "network.flow_logs.retention",
        at="retention: 7",
        problem=("unknown key 'retention'",),
        allowed=("retention_days, traffic_type",),
    ),
    case(
        "unknown-node-pool-key",
        "      weight: 10\n",
        "      weight: 10\n      zone: us-east-1a\n",
        "karpenter.node_pools[0].zone",
        at="zone: us-east-1a",
        problem=("unknown key 'zone'",),
        allowed=("instance_families", "cpu_limit"),
    ),
    case(
        "unknown-addon-key",
        "  admin_roles: []\n",
        "  admin_roles: []\n  addons:\n    cni: v1.19.0\n",
        "eks.addons.cni",
        at="cni: v1.19.0",
        problem=("unknown key 'cni'",),
        allowed=("vpc-cni", "kube-proxy"),
    ),
    case(
        "missing-required-key",
        "  cidr: 10.10.0.0/16\n",
        "",
        "network.cidr",
        at="network:\n",
        problem=("required key is missing",),
    ),
    case(
        "string-for-int",
        "    min_size: 2",
        '    min_size: "2"',
        "eks.system_nodes.min_size",
        problem=("wrong type: str '2'",),
        allowed=("an integer",),
    ),
    case(
        "float-eks-version",
        'version: "1.34"',
        "version: 1.34",
        "eks.version",
        problem=("float 1.34",),
        allowed=("a string", 'quote it: "1.34"'),
    ),
    case(
        "float-postgres-version",
        'engine_version: "17.6"',
        "engine_version: 17.6",
        "database.engine_version",
        problem=("float 17.6",),
        allowed=('quote it: "17.6"',),
    ),
    case(
        "bool-as-string",
        "multi_az: false",
        'multi_az: "false"',
        "database.multi_az",
        problem=("wrong type: str 'false'",),
        allowed=("boolean (true or false)",),
    ),
    case(
        "string-for-list",
        "instance_types: [t3.large]",
        "instance_types: t3.large",
        "eks.system_nodes.instance_types",
        problem=("wrong type: str 't3.large'",),
        allowed=("a list",),
    ),
    case(
        "string-for-mapping",
        "  flow_logs:\n    retention_days: 30\n    traffic_type: ALL\n",
        "  flow_logs: enabled\n",
        "network.flow_logs",
        problem=("wrong type: str 'enabled'",),
        allowed=("a mapping",),
    ),
    case(
        "invalid-cidr",
        "cidr: 10.10.0.0/16",
        "cidr: 10.10.0.0/33",
        "network.cidr",
        problem=("'10.10.0.0/33' is not a valid CIDR block", "not a valid netmask"),
        allowed=("host bits zero",),
    ),
    case("cidr-host-bits-set", "cidr: 10.10.0.0/16", "cidr: 10.10.0.1/16", "network.cidr", problem=("host bits set",)),
    case("ipv6-cidr", "cidr: 10.10.0.0/16", "cidr: fd00::/48", "network.cidr", problem=("is not a valid CIDR block",)),
    case(
        "one-availability-zone",
        "[us-east-1a, us-east-1b]",
        "[us-east-1a]",
        "network.availability_zones",
        problem=("at least 2 items",),
    ),
    case(
        "malformed-availability-zone",
        "[us-east-1a, us-east-1b]",
        "[us-east-1a, east]",
        "network.availability_zones[1]",
        problem=("'east' has the wrong format",),
        allowed=("text matching",),
    ),
    case(
        "unsupported-eks-version",
        'version: "1.34"',
        'version: "1.29"',
        "eks.version",
        problem=("EKS version '1.29' is not supported",),
        allowed=("1.31", "1.35"),
    ),
    case(
        "unsupported-postgres-version",
        'engine_version: "17.6"',
        'engine_version: "12.4"',
        "database.engine_version",
        problem=("PostgreSQL version '12.4' is not supported",),
        allowed=("14, 15, 16, 17",),
    ),
    case(
        "node-group-below-minimum",
        "    min_size: 2",
        "    min_size: 1",
        "eks.system_nodes.min_size",
        problem=("1 is out of range",),
        allowed=(">= 2",),
    ),
    case(
        "unknown-enum-value",
        "traffic_type: ALL",
        "traffic_type: SOME",
        "network.flow_logs.traffic_type",
        problem=("'SOME' is not allowed",),
        allowed=("'ALL', 'ACCEPT' or 'REJECT'",),
    ),
    case(
        "unknown-architecture",
        "architecture: arm64",
        "architecture: x86",
        "karpenter.node_pools[1].architecture",
        allowed=("'amd64' or 'arm64'",),
    ),
    case(
        "invalid-log-retention",
        "retention_days: 30",
        "retention_days: 31",
        "network.flow_logs.retention_days",
        problem=("31 days is not a CloudWatch Logs retention",),
        allowed=("30, 60",),
    ),
    case(
        "reserved-tag-key",
        "  Company: innovate",
        '  "aws:company": innovate',
        "tags.aws:company",
        problem=("which AWS reserves",),
    ),
]

CROSS_FIELD_CASES = [
    case(
        "vpc-prefix-too-small",
        "cidr: 10.10.0.0/16",
        "cidr: 10.0.0.0/8",
        "network.cidr",
        problem=("a /8 VPC",),
        allowed=("/16 to /24",),
    ),
    case(
        "subnet-outside-vpc",
        "[10.10.0.0/22, 10.10.4.0/22]",
        "[10.10.0.0/22, 10.99.4.0/22]",
        "network.public_subnets[1]",
        problem=("10.99.4.0/22 is outside the VPC 10.10.0.0/16",),
        allowed=("a block inside 10.10.0.0/16",),
    ),
    case(
        "overlapping-subnets",
        "[10.10.0.0/22, 10.10.4.0/22]",
        "[10.10.0.0/22, 10.10.2.0/23]",
        "network.public_subnets[1]",
        problem=("10.10.2.0/23 overlaps 10.10.0.0/22",),
        allowed=("subnets that do not overlap",),
    ),
    case(
        "availability-zone-of-another-region",
        "[us-east-1a, us-east-1b]",
        "[us-east-1a, us-west-2b]",
        "network.availability_zones[1]",
        problem=("us-west-2b is not in region us-east-1",),
        allowed=("us-east-1a",),
    ),
    case(
        "duplicate-availability-zone",
        "[us-east-1a, us-east-1b]",
        "[us-east-1a, us-east-1a]",
        "network.availability_zones[1]",
        problem=("listed twice",),
        allowed=("distinct zones",),
    ),
    case(
        "subnet-count-not-matching-zones",
        "[us-east-1a, us-east-1b]",
        "[us-east-1a, us-east-1b, us-east-1c]",
        "network.public_subnets",
        at="public_subnets:",
        problem=("2 subnets for 3 availability zones",),
        allowed=("one subnet per availability zone",),
    ),
    case(
        "dr-region-is-primary",
        "dr_region: us-west-2",
        "dr_region: us-east-1",
        "dr_region",
        problem=("the DR region is the primary region",),
        allowed=("another region",),
    ),
    case(
        "unknown-account",
        "account: development",
        "account: marketing",
        "account",
        problem=("unknown account 'marketing'",),
        allowed=("development, production, shared-services, staging",),
    ),
    case(
        "public-cidrs-with-public-endpoint-off",
        "    public: true\n",
        "    public: false\n",
        "eks.endpoint.public_cidrs",
        at="public_cidrs:",
        problem=("public endpoint is off",),
        allowed=("public: true",),
    ),
    case(
        "min-size-above-desired",
        "    min_size: 2",
        "    min_size: 3",
        "eks.system_nodes",
        at="  system_nodes:",
        problem=("min 3, desired 2, max 3",),
        allowed=("min_size <= desired_size <= max_size",),
    ),
    case(
        "desired-size-above-max",
        "    desired_size: 2",
        "    desired_size: 5",
        "eks.system_nodes",
        at="  system_nodes:",
        problem=("min 2, desired 5, max 3",),
    ),
    case(
        "graviton-family-in-amd64-pool",
        "[m5, c5]",
        "[m5, m7g]",
        "karpenter.node_pools[0].instance_families[1]",
        problem=("m7g is a Graviton (arm64) family in a amd64 NodePool",),
        allowed=("families built for amd64",),
    ),
    case(
        "x86-family-in-arm64-pool",
        "[m7g, c7g]",
        "[m7g, c5]",
        "karpenter.node_pools[1].instance_families[1]",
        problem=("c5 is an x86 (amd64) family in a arm64 NodePool",),
        allowed=("families built for arm64",),
    ),
    case(
        "duplicate-nodepool-name",
        "    - name: arm64\n      architecture: arm64",
        "    - name: amd64\n      architecture: arm64",
        "karpenter.node_pools[1].name",
        problem=("NodePool 'amd64' is listed twice",),
        allowed=("unique NodePool names",),
    ),
    case(
        "backup-window-overlaps-maintenance",
        '"sun:05:00-sun:06:00"',
        '"sun:03:30-sun:04:30"',
        "database.maintenance_window",
        problem=("overlaps the daily backup window 03:00-04:00",),
        allowed=("outside the backup window",),
    ),
    case(
        "backup-window-too-short",
        '"03:00-04:00"',
        '"03:00-03:15"',
        "database.backup_window",
        problem=("shorter than 30 minutes",),
        allowed=("30 minutes or more",),
    ),
    case(
        "max-storage-without-headroom",
        "max_allocated_storage_gib: 100",
        "max_allocated_storage_gib: 21",
        "database.max_allocated_storage_gib",
        problem=("21 GiB", "over 20 GiB"),
        allowed=("at least 10 %",),
    ),
]

BASELINE = ("security baseline",)
PROD_BASELINE_CASES = [
    case(
        "prod-public-endpoint-open-to-internet",
        "public_cidrs: [203.0.113.0/24]",
        "public_cidrs: []",
        "eks.endpoint.public_cidrs",
        problem=("open to 0.0.0.0/0",),
        allowed=BASELINE,
        base="prod",
    ),
    case(
        "prod-public-cidr-0.0.0.0/0",
        "public_cidrs: [203.0.113.0/24]",
        "public_cidrs: [0.0.0.0/0]",
        "eks.endpoint.public_cidrs[0]",
        problem=("0.0.0.0/0 opens the API to the internet",),
        allowed=BASELINE,
        base="prod",
    ),
    case(
        "prod-private-endpoint-off",
        "    private: true",
        "    private: false",
        "eks.endpoint.private",
        problem=("private endpoint is off",),
        allowed=BASELINE,
        base="prod",
    ),
    case(
        "prod-log-types-missing",
        "logging: [api, audit, authenticator, controllerManager, scheduler]",
        "logging: [api, audit]",
        "eks.logging",
        problem=("control-plane logs off: authenticator, controllerManager, scheduler",),
        allowed=BASELINE,
        base="prod",
    ),
    case(
        "prod-single-az-database",
        "multi_az: true",
        "multi_az: false",
        "database.multi_az",
        problem=("false",),
        allowed=("true",) + BASELINE,
        base="prod",
    ),
    case(
        "prod-skip-final-snapshot",
        "skip_final_snapshot: false",
        "skip_final_snapshot: true",
        "database.skip_final_snapshot",
        problem=("true",),
        allowed=("false",) + BASELINE,
        base="prod",
    ),
    case(
        "prod-no-deletion-protection",
        "deletion_protection: true",
        "deletion_protection: false",
        "database.deletion_protection",
        allowed=("true",) + BASELINE,
        base="prod",
    ),
    case(
        "prod-short-backup-retention",
        "backup_retention_days: 14",
        "backup_retention_days: 3",
        "database.backup_retention_days",
        problem=("3 days",),
        allowed=("7 or more",) + BASELINE,
        base="prod",
    ),
    case(
        "prod-partial-flow-logs",
        "traffic_type: ALL",
        "traffic_type: REJECT",
        "network.flow_logs.traffic_type",
        problem=("REJECT only",),
        allowed=("ALL",) + BASELINE,
        base="prod",
    ),
]


@pytest.mark.parametrize(
    ("base", "old", "new", "field", "at", "problem", "allowed"),
    SCHEMA_CASES + CROSS_FIELD_CASES + PROD_BASELINE_CASES,
)
def test_load_malformed_plan_reports_located_issue(
    bad_plan: BadPlanFn,
    base: str,
    old: str,
    new: str,
    field: str,
    at: str,
    problem: tuple[str, ...],
    allowed: tuple[str, ...],
) -> None:
    bad = bad_plan(mutate(shipped(base), old, new))
    bad.assert_issue(field, line=bad.line(at), problem=problem, allowed=allowed)


def test_load_subnet_count_mismatch_reports_both_tiers(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(mutate(shipped("dev"), "[us-east-1a, us-east-1b]", "[us-east-1a, us-east-1b, us-east-1c]"))
    assert sorted(i.path for i in bad.issues) == ["network.private_subnets", "network.public_subnets"]


def test_load_public_vpc_range_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(shipped("dev").replace("10.10.", "8.8."))
    bad.assert_issue(
        "network.cidr",
        line=bad.line("cidr: 8.8.0.0/16"),
        problem=("8.8.0.0/16 is not a private (RFC 1918) range",),
        allowed=("10.0.0.0/8",),
    )


def test_load_prod_weakened_four_ways_reports_each_separately(bad_plan: BadPlanFn) -> None:
    text = shipped("prod")
    for old, new in [
        ("public_cidrs: [203.0.113.0/24]", "public_cidrs: []"),
        ("multi_az: true", "multi_az: false"),
        ("skip_final_snapshot: false", "skip_final_snapshot: true"),
        ("logging: [api, audit, authenticator, controllerManager, scheduler]", "logging: [api, audit]"),
    ]:
        text = mutate(text, old, new)
    bad = bad_plan(text)
    assert [(i.path, i.line) for i in bad.issues] == [
        ("eks.endpoint.public_cidrs", bad.line("public_cidrs: []")),
        ("eks.logging", bad.line("logging: [api, audit]")),
        ("database.multi_az", bad.line("multi_az: false")),
        ("database.skip_final_snapshot", bad.line("skip_final_snapshot: true")),
    ]
    assert all("security baseline" in (i.allowed or "") for i in bad.issues)


def test_load_plan_named_prod_is_strict_without_protection_flag(bad_plan: BadPlanFn) -> None:
    text = mutate(shipped("prod"), "\nprotection: true", "\nprotection: false")
    bad = bad_plan(mutate(text, "multi_az: true", "multi_az: false"), name="prod.yaml")
    bad.assert_issue("database.multi_az", line=bad.line("multi_az: false"), allowed=BASELINE)


def test_load_unprotected_plan_may_relax_the_baseline(plan_dir: Path) -> None:
    # dev already runs single-AZ with skip_final_snapshot; an open public endpoint is also allowed there.
    path = plan_dir / "dev.yaml"
    path.write_text(mutate(shipped("dev"), "public_cidrs: [203.0.113.0/24]", "public_cidrs: []"))
    plan = load_plan(path, plans_dir=plan_dir)
    assert plan.protected is False
    assert plan.spec.database.multi_az is False


def test_load_several_schema_mistakes_reports_all(bad_plan: BadPlanFn) -> None:
    text = shipped("dev")
    for old, new in [
        ("description:", "descr:"),
        ("cidr: 10.10.0.0/16", "cidr: 10.10.0.0/33"),
        ("    min_size: 2", '    min_size: "2"'),
        ("multi_az: false", 'multi_az: "no"'),
    ]:
        text = mutate(text, old, new)
    bad = bad_plan(text)
    assert [(i.path, i.line) for i in bad.issues] == [
        ("descr", bad.line("descr:")),
        ("network.cidr", bad.line("cidr: 10.10.0.0/33")),
        ("eks.system_nodes.min_size", bad.line('min_size: "2"')),
        ("database.multi_az", bad.line('multi_az: "no"')),
    ]


def test_load_several_cross_field_mistakes_reports_all(bad_plan: BadPlanFn) -> None:
    text = shipped("dev")
    for old, new in [
        ("cidr: 10.10.0.0/16", "cidr: 10.0.0.0/8"),
        ("    min_size: 2", "    min_size: 3"),
        ("[m5, c5]", "[m5, m7g]"),
        ("max_allocated_storage_gib: 100", "max_allocated_storage_gib: 21"),
        ('"sun:05:00-sun:06:00"', '"sun:03:30-sun:04:30"'),
    ]:
        text = mutate(text, old, new)
    bad = bad_plan(text)
    assert len(bad.issues) >= 3
    assert {i.path for i in bad.issues} == {
        "network.cidr",
        "eks.system_nodes",
        "karpenter.node_pools[0].instance_families[1]",
        "database.max_allocated_storage_gib",
        "database.maintenance_window",
    }
    assert [i.line for i in bad.issues] == sorted(i.line for i in bad.issues)


# ------------------------------------------------------------- formerly known defects


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("[us-east-1a, us-east-1b]", "[us-east-1a]", "network.availability_zones"),
        ("    min_size: 2", "    min_size: 1", "eks.system_nodes.min_size"),
        ("cidr: 10.10.0.0/16", "cidr: 10.10.0.1/16", "network.cidr"),
        ('version: "1.34"', 'version: "1.29"', "eks.version"),
        ('engine_version: "17.6"', 'engine_version: "12.4"', "database.engine_version"),
    ],
    ids=["too-short", "below-minimum", "cidr", "eks-version", "postgres-version"],
)
def test_load_field_constraint_error_fills_allowed(bad_plan: BadPlanFn, old: str, new: str, field: str) -> None:
    bad = bad_plan(mutate(shipped("dev"), old, new))
    assert bad.issue(field).allowed


def test_load_float_version_hint_keeps_written_digits(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(mutate(shipped("dev"), 'version: "1.34"', "version: 1.30"))
    assert 'quote it: "1.30"' in (bad.issue("eks.version").allowed or "")


def test_load_union_field_error_names_the_field(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(
        mutate(
            shipped("dev"),
            "      expire_after: 168h\n      weight: 10",
            "      expire_after: forever\n      weight: 10",
        )
    )
    assert [i.path for i in bad.issues] == ["karpenter.node_pools[0].expire_after"]
