"""IAM kinds shared by the steps."""

from provisioner.steps.iam.boundary import BOUNDARY, BoundaryPolicy, boundary_policy, with_boundary
from provisioner.steps.iam.roles import AWS_MANAGED_POLICIES, Role
from provisioner.steps.iam.service_linked_roles import ServiceLinkedRole
from provisioner.steps.iam.trust import service_trust

__all__ = [
    "AWS_MANAGED_POLICIES",
    "BOUNDARY",
    "BoundaryPolicy",
    "Role",
    "ServiceLinkedRole",
    "boundary_policy",
    "service_trust",
    "with_boundary",
]
