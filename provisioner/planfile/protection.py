"""Which plans are protected (destroy asks for confirmation) and strict (the full security
baseline is enforced)."""

from __future__ import annotations

from provisioner.planfile.model import EnvironmentPlan, OrganizationPlan, SharedPlan


def is_protected(spec: EnvironmentPlan | SharedPlan | OrganizationPlan, name: str) -> bool:
    """Protected plans, and any plan named prod, refuse destroy without confirmation."""
    return spec.protection or name == "prod"


def is_strict(spec: EnvironmentPlan | SharedPlan | OrganizationPlan, name: str) -> bool:
    """Plans that must keep the full security baseline: the protected ones, and staging,
    which mirrors prod (SPEC section 9: Multi-AZ in staging and prod)."""
    return is_protected(spec, name) or name == "staging"
