"""IAM kinds shared by the steps."""

from provisioner.steps.iam.roles import Role

__all__ = ["Role"]
