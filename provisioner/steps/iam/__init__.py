"""IAM kinds shared by the steps."""

from provisioner.steps.iam.roles import Role
from provisioner.steps.iam.service_linked_roles import ServiceLinkedRole

__all__ = ["Role", "ServiceLinkedRole"]
