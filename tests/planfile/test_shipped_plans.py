"""Every plan shipped in plans/ loads, and holds the values the platform design relies on."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from pydantic import ValidationError

from provisioner.planfile import (
    EnvironmentPlan,
    OrganizationPlan,
    Plan,
    SharedPlan,
    load_plan,
    plan_names,
)

from ._helpers import PLANS

ENVIRONMENTS = ("dev", "staging", "prod")


def _load(name: str) -> Plan:
    return load_plan(name, plans_dir=PLANS)


def test_list_shipped_plans_names_all_five() -> None:
    assert plan_names(PLANS) == ["dev", "organization", "prod", "shared", "staging"]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("organization", OrganizationPlan),
        ("shared", SharedPlan),
        ("dev", EnvironmentPlan),
        ("staging", EnvironmentPlan),
        ("prod", EnvironmentPlan),
    ],
)
def test_load_shipped_plan_succeeds(name: str, model: type) -> None:
    plan = _load(name)
    assert plan.name == name
    assert plan.path == PLANS / f"{name}.yaml"
    assert isinstance(plan.spec, model)
    assert plan.organization is not None
    assert set(plan.organization.accounts) == {"shared-services", "development", "staging", "production"}


@pytest.mark.parametrize(("name", "zones"), [("dev", 2), ("staging", 3), ("prod", 3)])
def test_load_environment_has_one_subnet_per_zone(name: str, zones: int) -> None:
    network = _load(name).spec.network
    assert len(network.availability_zones) == zones
    assert all(az.startswith("us-east-1") for az in network.availability_zones)
    assert len(network.public_subnets) == len(network.private_subnets) == zones


def test_load_environments_vpc_cidrs_are_distinct_and_disjoint() -> None:
    cidrs = {name: ipaddress.IPv4Network(_load(name).spec.network.cidr) for name in ENVIRONMENTS}
    assert cidrs == {
        "dev": ipaddress.IPv4Network("10.10.0.0/16"),
        "staging": ipaddress.IPv4Network("10.20.0.0/16"),
        "prod": ipaddress.IPv4Network("10.30.0.0/16"),
    }
    for a, b in itertools.combinations(cidrs.values(), 2):
        assert not a.overlaps(b)


@pytest.mark.parametrize(
    ("name", "protected"),
    [("dev", False), ("staging", False), ("prod", True), ("organization", True), ("shared", False)],
)
def test_load_plan_protection_matches_environment(name: str, protected: bool) -> None:
    assert _load(name).protected is protected


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_load_environment_karpenter_pools_split_by_architecture(name: str) -> None:
    pools = {pool.name: pool for pool in _load(name).spec.karpenter.node_pools}
    assert set(pools) == {"amd64", "arm64"}
    assert pools["amd64"].architecture == "amd64"
    assert pools["amd64"].instance_families == ["m5", "c5"]
    assert pools["arm64"].architecture == "arm64"
    assert pools["arm64"].instance_families == ["m7g", "c7g"]


def test_load_prod_keeps_the_security_baseline() -> None:
    spec = _load("prod").spec
    assert spec.account == "production"
    assert spec.eks.version == "1.34"
    assert spec.eks.endpoint.private is True
    assert spec.eks.endpoint.public_cidrs == ["203.0.113.0/24"]
    assert spec.eks.logging == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert spec.database.multi_az is True
    assert spec.database.deletion_protection is True
    assert spec.database.skip_final_snapshot is False


def test_load_dev_is_the_cheaper_layout() -> None:
    dev, staging = _load("dev").spec, _load("staging").spec
    assert dev.account == "development"
    assert dev.database.multi_az is False and staging.database.multi_az is True
    assert dev.database.engine_version == staging.database.engine_version == "17.6"
    assert dev.eks.system_nodes.desired_size < staging.eks.system_nodes.desired_size


def test_load_shared_resolves_pull_accounts() -> None:
    plan = _load("shared")
    assert plan.spec.account == "shared-services"
    assert set(plan.spec.ecr.pull_accounts) <= set(plan.organization.accounts)


def test_load_organization_has_ous_and_scps() -> None:
    spec = _load("organization").spec
    assert [ou.name for ou in spec.organizational_units] == ["Infrastructure", "Workloads"]
    assert spec.accounts["production"].ou == "Workloads/Prod"
    assert {scp.policy for scp in spec.service_control_policies} == {
        "deny-leave-organization",
        "protect-security-services",
        "restrict-regions",
        "deny-root-user",
    }


def test_load_plan_spec_is_frozen() -> None:
    spec = _load("dev").spec
    with pytest.raises(ValidationError):
        spec.network.cidr = "10.99.0.0/16"
