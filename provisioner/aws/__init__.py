"""The only package that imports boto3/botocore: session factory, retries, waiters, tags."""

from provisioner.aws.errors import ClientError, error_code, is_not_found
from provisioner.aws.session import AwsSession

__all__ = ["AwsSession", "ClientError", "error_code", "is_not_found"]
