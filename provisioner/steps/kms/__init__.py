"""KMS kinds shared by the steps (EKS secrets, RDS storage and its DR copy, ECR, CloudTrail)."""

from provisioner.steps.kms.keys import KmsKey

__all__ = ["KmsKey"]
