"""Rules that look across fields or files, run after the schema accepted a plan.

Each check yields `(path, problem, allowed)` triples; the loader turns them into located
issues. Nothing here touches AWS: these are the mistakes AWS would otherwise report one at a
time, minutes into an apply (overlapping subnets, a backup window inside the maintenance
window, a max storage below RDS's 10 % headroom), plus the security baseline that a
protected plan may not weaken (SPEC section 9).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from provisioner.planfile.baseline import FAIL, environment_findings
from provisioner.planfile.catalog import EKS_LOG_TYPES
from provisioner.planfile.model import (
    EnvironmentPlan,
    OrganizationalUnitSpec,
    OrganizationPlan,
    SharedPlan,
)
from provisioner.planfile.protection import is_strict
from provisioner.planfile.transit import check_shared_network

Finding = tuple[tuple[str | int, ...], str, str | None]

_GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def check_environment(
    spec: EnvironmentPlan, name: str, accounts: set[str] | None, skip_refs: bool = False, enforce_baseline: bool = True
) -> Iterator[Finding]:
    if not skip_refs:
        yield from _check_account_ref(("account",), spec.account, accounts)
    if spec.dr_region == spec.region:
        yield ("dr_region",), "the DR region is the primary region", "another region than `region`"
    yield from _check_network(spec)
    yield from _check_eks(spec)
    yield from _check_database(spec)
    yield from _check_karpenter(spec)
    # `check` loads plans without it, to report a weakened plan's findings instead of refusing.
    if enforce_baseline and is_strict(spec, name):
        yield from _check_baseline(spec, name)


def _check_network(spec: EnvironmentPlan) -> Iterator[Finding]:
    net = spec.network
    vpc = ipaddress.IPv4Network(net.cidr)
    if not 16 <= vpc.prefixlen <= 24:
        yield ("network", "cidr"), f"a /{vpc.prefixlen} VPC", "a prefix from /16 to /24"
    if not (vpc.is_private):
        yield (
            ("network", "cidr"),
            f"{net.cidr} is not a private (RFC 1918) range",
            "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
        )
    seen_az: dict[str, int] = {}
    for index, az in enumerate(net.availability_zones):
        if not az.startswith(spec.region):
            yield (
                ("network", "availability_zones", index),
                f"{az} is not in region {spec.region}",
                f"zones named {spec.region}a, {spec.region}b, ...",
            )
        if az in seen_az:
            yield ("network", "availability_zones", index), f"{az} is listed twice", "distinct zones"
        seen_az[az] = index
    zones = len(net.availability_zones)
    subnets: list[tuple[tuple[str | int, ...], ipaddress.IPv4Network]] = []
    for tier in ("public_subnets", "private_subnets"):
        cidrs = getattr(net, tier)
        if len(cidrs) != zones:
            yield (
                ("network", tier),
                f"{len(cidrs)} subnets for {zones} availability zones",
                "one subnet per availability zone, in the same order",
            )
        for index, cidr in enumerate(cidrs):
            subnet = ipaddress.IPv4Network(cidr)
            path = ("network", tier, index)
            if not subnet.subnet_of(vpc):
                yield path, f"{cidr} is outside the VPC {net.cidr}", f"a block inside {net.cidr}"
            elif not 16 <= subnet.prefixlen <= 28:
                yield path, f"a /{subnet.prefixlen} subnet", "a prefix from /16 to /28"
            for other_path, other in subnets:
                if subnet.overlaps(other):
                    where = f"{other_path[1]}[{other_path[2]}]"
                    yield path, f"{cidr} overlaps {other} ({where})", "subnets that do not overlap"
            subnets.append((path, subnet))


def _check_eks(spec: EnvironmentPlan) -> Iterator[Finding]:
    endpoint = spec.eks.endpoint
    if not endpoint.private and not endpoint.public:
        yield (
            ("eks", "endpoint"),
            "both the private and the public endpoint are off",
            "private: true (and optionally public)",
        )
    if endpoint.public_cidrs and not endpoint.public:
        yield (
            ("eks", "endpoint", "public_cidrs"),
            "CIDRs listed while the public endpoint is off",
            "public: true, or no public_cidrs",
        )
    nodes = spec.eks.system_nodes
    if not nodes.min_size <= nodes.desired_size <= nodes.max_size:
        yield (
            ("eks", "system_nodes"),
            (f"min {nodes.min_size}, desired {nodes.desired_size}, max {nodes.max_size}"),
            "min_size <= desired_size <= max_size",
        )
    if len(set(spec.eks.logging)) != len(spec.eks.logging):
        yield ("eks", "logging"), "a log type is listed twice", ", ".join(EKS_LOG_TYPES)


def _check_database(spec: EnvironmentPlan) -> Iterator[Finding]:
    db = spec.database
    if db.max_allocated_storage_gib < int(db.allocated_storage_gib * 1.1 + 0.999):
        yield (
            ("database", "max_allocated_storage_gib"),
            (f"{db.max_allocated_storage_gib} GiB leaves no autoscaling headroom over {db.allocated_storage_gib} GiB"),
            "at least 10 % more than allocated_storage_gib (RDS storage autoscaling)",
        )
    backup = _minutes(db.backup_window)
    if (backup[1] - backup[0]) % 1440 < 30:
        yield ("database", "backup_window"), "shorter than 30 minutes", "a window of 30 minutes or more (RDS)"
    if _windows_overlap(db.backup_window, db.maintenance_window):
        yield (
            ("database", "maintenance_window"),
            (f"{db.maintenance_window} overlaps the daily backup window {db.backup_window}"),
            "a maintenance window outside the backup window (RDS refuses overlapping windows)",
        )


def _check_karpenter(spec: EnvironmentPlan) -> Iterator[Finding]:
    names: set[str] = set()
    for index, pool in enumerate(spec.karpenter.node_pools):
        path = ("karpenter", "node_pools", index)
        if pool.name in names:
            yield path + ("name",), f"NodePool {pool.name!r} is listed twice", "unique NodePool names"
        names.add(pool.name)
        for f_index, family in enumerate(pool.instance_families):
            graviton = bool(_GRAVITON_FAMILY.match(family))
            if graviton != (pool.architecture == "arm64"):
                kind = "a Graviton (arm64)" if graviton else "an x86 (amd64)"
                yield (
                    path + ("instance_families", f_index),
                    (f"{family} is {kind} family in a {pool.architecture} NodePool"),
                    f"families built for {pool.architecture}",
                )
        if len(set(pool.capacity_types)) != len(pool.capacity_types):
            yield path + ("capacity_types",), "a capacity type is listed twice", "spot, on-demand"


def _check_baseline(spec: EnvironmentPlan, name: str) -> Iterator[Finding]:
    """SPEC section 9: what a strict (prod, staging, protected) plan may not weaken.

    The rules live in one table, `baseline.py`, which `check` also reports from; here every
    failing plan-side finding with a field path becomes a validation issue (one per field).
    """
    why = "required in prod, staging and protected plans (security baseline)"
    seen: set[tuple[str | int, ...]] = set()
    for found in environment_findings(spec, strict=is_strict(spec, name)):
        if found.status != FAIL or found.path is None or found.path in seen:
            continue
        seen.add(found.path)
        yield found.path, found.detail, f"{found.expected}; {why}"


def check_shared(spec: SharedPlan, name: str, accounts: set[str] | None, skip_refs: bool = False) -> Iterator[Finding]:
    if skip_refs:
        accounts = {spec.account, *spec.ecr.pull_accounts}
    yield from _check_account_ref(("account",), spec.account, accounts)
    if spec.dr_region == spec.region:
        yield ("dr_region",), "the DR region is the primary region", "another region than `region`"
    for index, ref in enumerate(spec.ecr.pull_accounts):
        yield from _check_account_ref(("ecr", "pull_accounts", index), ref, accounts)
    seen: set[str] = set()
    for index, repo in enumerate(spec.ecr.repositories):
        if repo.name in seen:
            yield ("ecr", "repositories", index, "name"), f"repository {repo.name!r} is listed twice", "unique names"
        seen.add(repo.name)
    if spec.network is not None:
        for index, ref in enumerate(spec.network.share_with):
            if not skip_refs:
                yield from _check_account_ref(("network", "share_with", index), ref, accounts)
        yield from check_shared_network(spec.network, spec.region)


def check_organization(spec: OrganizationPlan, name: str) -> Iterator[Finding]:
    paths: set[str] = set()

    def walk(units: list[OrganizationalUnitSpec], prefix: str, path: tuple[str | int, ...]) -> Iterator[Finding]:
        names: set[str] = set()
        for index, unit in enumerate(units):
            if unit.name in names:
                yield (
                    path + (index, "name"),
                    f"OU {unit.name!r} appears twice under the same parent",
                    "unique names among siblings",
                )
            names.add(unit.name)
            full = f"{prefix}{unit.name}"
            paths.add(full)
            yield from walk(unit.children, full + "/", path + (index, "children"))

    yield from walk(spec.organizational_units, "", ("organizational_units",))
    known = ", ".join(sorted(paths)) or "(no OUs defined)"
    emails: dict[str, str] = {}
    for key, account in spec.accounts.items():
        if account.ou not in paths:
            yield ("accounts", key, "ou"), f"unknown OU {account.ou!r}", f"one of: {known}"
        if account.email.lower() in emails:
            yield (
                ("accounts", key, "email"),
                f"email also used by account {emails[account.email.lower()]!r}",
                "a distinct email per account (AWS requires it)",
            )
        emails[account.email.lower()] = key
    for index, attachment in enumerate(spec.service_control_policies):
        for t_index, target in enumerate(attachment.targets):
            if target != "root" and target not in paths:
                yield (
                    ("service_control_policies", index, "targets", t_index),
                    f"unknown target {target!r}",
                    f"root or one of: {known}",
                )
    if spec.guardduty.delegated_admin not in spec.accounts:
        yield (
            ("guardduty", "delegated_admin"),
            f"unknown account {spec.guardduty.delegated_admin!r}",
            "one of: " + ", ".join(spec.accounts),
        )
    for index, region in enumerate(spec.guardduty.regions):
        if region not in spec.allowed_regions:
            yield (
                ("guardduty", "regions", index),
                f"{region} is not in allowed_regions",
                ", ".join(spec.allowed_regions),
            )
    if spec.region not in spec.allowed_regions:
        yield ("region",), f"{spec.region} is not in allowed_regions", ", ".join(spec.allowed_regions)


def _check_account_ref(path: tuple[str | int, ...], ref: str, accounts: set[str] | None) -> Iterator[Finding]:
    if re.fullmatch(r"\d{12}", ref):
        return
    if accounts is None:
        yield (
            path,
            f"account {ref!r} cannot be resolved: no organization plan beside this file",
            "a 12-digit account id, or an account key of organization.yaml",
        )
    elif ref not in accounts:
        yield path, f"unknown account {ref!r}", "an account key of organization.yaml: " + ", ".join(sorted(accounts))


def _minutes(window: str) -> tuple[int, int]:
    start, end = window.split("-")
    to_min = lambda hm: int(hm[:2]) * 60 + int(hm[3:5])
    return to_min(start), to_min(end)


def _windows_overlap(backup: str, maintenance: str) -> bool:
    """Does the weekly maintenance window intersect the daily backup window on any day?"""
    b_start, b_end = _minutes(backup)
    if b_end <= b_start:
        b_end += 1440
    m_from, m_to = maintenance.split("-")
    week = 7 * 1440

    def at(text: str) -> int:
        day, hh, mm = text.split(":")
        return _DAYS.index(day) * 1440 + int(hh) * 60 + int(mm)

    m_start, m_end = at(m_from), at(m_to)
    if m_end <= m_start:
        m_end += week
    for day in range(-1, 8):
        start, end = day * 1440 + b_start, day * 1440 + b_end
        for shift in (-week, 0, week):
            if start < m_end + shift and m_start + shift < end:
                return True
    return False
