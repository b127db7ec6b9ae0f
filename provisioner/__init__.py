"""provisioner: builds Innovate Inc.'s AWS platform from plan files by calling AWS APIs with boto3."""

__version__ = "0.1.0"
