"""Warm the sandbox up after it starts, so its first answers are as quick as its later ones.

moto builds a service's backend, and renders each response template for the first time,
on the first request that needs it; on 2 cores the first discovery of an environment (some
45 kinds of reads at once) then takes about 2 s longer than any later one. Real AWS has no
such cold start, and in a latency-scaled sandbox it would sit on the critical path of the
first `apply`. So the server makes those reads itself, once, in the background, as an
account of its own that nothing else uses. Its requests carry `WARMUP_HEADER`: the
middleware neither counts them nor injects faults into them.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

WARMUP_HEADER = "X-Sandbox-Warmup"
WARMUP_ACCOUNT = "000000000000"  # moto's `X-Moto-Account-Id`: an account no plan uses

# (service, operation, parameters): the reads an environment's discovery makes.
READS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ec2", "describe_vpcs", {}),
    ("ec2", "describe_subnets", {}),
    ("ec2", "describe_route_tables", {}),
    ("ec2", "describe_internet_gateways", {}),
    ("ec2", "describe_nat_gateways", {}),
    ("ec2", "describe_addresses", {}),
    ("ec2", "describe_security_groups", {}),
    ("ec2", "describe_network_acls", {}),
    ("ec2", "describe_flow_logs", {}),
    ("ec2", "describe_launch_templates", {}),
    ("ec2", "describe_launch_template_versions", {"Versions": ["$Default"]}),
    ("ec2", "describe_instances", {}),
    ("ec2", "describe_network_interfaces", {}),
    ("iam", "get_account_authorization_details", {"Filter": ["Role"]}),
    ("iam", "list_open_id_connect_providers", {}),
    ("iam", "list_instance_profiles", {}),
    ("rds", "describe_db_instances", {}),
    ("rds", "describe_db_subnet_groups", {}),
    ("rds", "describe_db_parameter_groups", {}),
    ("rds", "describe_db_snapshots", {}),
    ("eks", "list_clusters", {}),
    ("sqs", "list_queues", {}),
    ("events", "list_rules", {}),
    ("logs", "describe_log_groups", {}),
    ("kms", "list_aliases", {}),
    ("kms", "list_keys", {}),
    ("resourcegroupstaggingapi", "get_resources", {}),
    ("secretsmanager", "list_secrets", {}),
    ("ecr", "describe_repositories", {}),
    ("elbv2", "describe_load_balancers", {}),
    ("elbv2", "describe_target_groups", {}),
    ("elb", "describe_load_balancers", {}),
    ("sts", "get_caller_identity", {}),
)


def start(url: str, region: str = "us-east-1") -> threading.Thread:
    """Make the reads against the server at `url` in a background thread."""
    thread = threading.Thread(target=_warm, args=(url, region), name="sandbox-warmup", daemon=True)
    thread.start()
    return thread


def _warm(url: str, region: str) -> None:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="warmup", aws_secret_access_key="warmup", region_name=region)

    def mark(request: Any, **kwargs: Any) -> None:
        request.headers[WARMUP_HEADER] = "1"
        request.headers["X-Moto-Account-Id"] = WARMUP_ACCOUNT

    config = Config(retries={"max_attempts": 1})
    for service, operation, params in READS:
        with contextlib.suppress(Exception):  # a warm-up only: whatever fails is built on demand later
            client = session.client(service, endpoint_url=url, config=config)
            client.meta.events.register("before-send", mark)
            getattr(client, operation)(**params)
