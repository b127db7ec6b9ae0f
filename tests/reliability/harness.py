"""What the reliability tests share: a private background sandbox driven through the CLI as a
user would, runs stopped at a chosen point, and an inventory of what a plan left in AWS.

- `Sandbox`: its own PROVISIONER_HOME (state, journals, locks) and its own background
  server started with `sandbox start --latency SCALE`, so NAT gateways, EKS and RDS pass
  through their pending states as on AWS; stopped by `close()` (the test's teardown).
- Stop points are counted, not timed: `wait_for_progress` counts the mutating AWS calls in the
  run's journal (written and flushed per call) and the nodes the run reported finished on
  stderr, so a point lands at the same place of the run on a fast or a slow machine.
- `inventory(...)`: every resource in the plan's account and region, by kind, each named by
  its `provisioner:key` tag or, for what carries none, by a label without random ids, so two
  sandboxes' inventories compare equal exactly when they hold the same resources (duplicates
  count twice, and leftovers without our tags show up as `untagged` entries).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import PLANS, REPO

OFFICIAL_CRDS = REPO.parent / "shared" / "karpenter-crds"
PLAN_TAGS = {"Company": "innovate", "Owner": "platform-team", "Environment": "dev", "ManagedBy": "provisioner"}


class Sandbox:
    """A user's shell: own PROVISIONER_HOME, no AWS configuration, own sandbox server."""

    def __init__(self, home: Path, latency: float = 0.0, plans_dir: Path = PLANS):
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.latency = latency
        self.plans_dir = plans_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROVISIONER_"))}
        env.update(
            PROVISIONER_HOME=str(home),
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            PYTHONUNBUFFERED="1",
        )
        if OFFICIAL_CRDS.is_dir():
            env["PROVISIONER_KARPENTER_CRDS_DIR"] = str(OFFICIAL_CRDS)
        self.env = env
        self.endpoint: str | None = None
        self._logs = 0

    # ------------------------------------------------------------------------- commands
    def command(self, *args: str) -> list[str]:
        argv = [sys.executable, "-m", "provisioner", *args]
        if args and args[0] not in ("sandbox", "eks-token"):
            argv += ["--plans-dir", str(self.plans_dir)]
        return argv

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def popen(self, *args: str) -> Run:
        self._logs += 1
        return Run(self, self.command(*args), self.home / f"run-{self._logs:03d}")

    def start(self) -> str:
        started = self.run("sandbox", "start", "--latency", str(self.latency), "--output", "json", timeout=120)
        assert started.returncode == 0, started.stderr
        self.endpoint = json.loads(started.stdout)["aws_endpoint_url"]
        return self.endpoint

    def close(self) -> None:
        self.run("sandbox", "stop", timeout=60)

    def _control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.endpoint}{path}", data=data, method="GET" if data is None else "POST")
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def requests(self) -> int:
        """The sandbox's count of AWS API requests served."""
        return int(self._control("/_sandbox/stats")["requests"])

    def set_faults(self, **faults: Any) -> None:
        """Change the sandbox's fault injection at runtime (no arguments: off)."""
        self._control("/_sandbox/faults", faults)

    # -------------------------------------------------------------------------- journal
    def journals(self, plan: str) -> list[Path]:
        return sorted((self.home / "runs" / plan).glob("*.jsonl"))

    def session(self) -> Any:
        """The management account's session, built by the production session factory."""
        from provisioner.aws import AwsSession
        from provisioner.sandbox import SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY

        return AwsSession(
            region="us-east-1",
            endpoint_url=self.endpoint,
            credentials={
                "aws_access_key_id": SANDBOX_ACCESS_KEY_ID,
                "aws_secret_access_key": SANDBOX_SECRET_ACCESS_KEY,
            },
        )


def read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # the last line of a killed run may be cut short
    return events


class Run:
    """A CLI command running in the background, its output in files (so a full pipe never
    blocks it), with its progress readable while it runs."""

    def __init__(self, sandbox: Sandbox, argv: list[str], prefix: Path):
        self.sandbox = sandbox
        self.stdout_path = prefix.with_suffix(".out")
        self.stderr_path = prefix.with_suffix(".err")
        self._before = set(sandbox.journals("dev"))
        self.started = time.monotonic()
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.process = subprocess.Popen(argv, env=sandbox.env, cwd=REPO, stdout=out, stderr=err)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def journal(self, plan: str = "dev") -> Path | None:
        new = [p for p in self.sandbox.journals(plan) if p not in self._before]
        return new[-1] if new else None

    def calls(self, plan: str = "dev") -> int:
        """Mutating AWS calls this run has journaled so far."""
        path = self.journal(plan)
        return 0 if path is None else sum(1 for e in read_events(path) if e.get("event") == "api-call")

    def nodes_done(self) -> int:
        """Nodes this run reported finished (created, updated, deleted, ...) on stderr."""
        return sum(1 for line in self.stderr.splitlines() if "] ok " in line)

    def wait_for_progress(self, calls: int = 0, nodes: int = 0, timeout: float = 120) -> bool:
        """Wait until the run has journaled `calls` mutating calls and finished `nodes` nodes;
        False if it ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.calls() >= calls and self.nodes_done() >= nodes:
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.01)
        raise AssertionError(f"no progress to {calls} calls / {nodes} nodes within {timeout}s:\n{self.stderr[-3000:]}")

    def wait_for_line(self, pattern: str, timeout: float = 120) -> bool:
        """Wait until a progress line on stderr matches `pattern`; False if the run ended first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if regex.search(self.stderr):
                return True
            if self.process.poll() is not None:
                return bool(regex.search(self.stderr))
            time.sleep(0.01)
        raise AssertionError(f"no progress line /{pattern}/ within {timeout}s:\n{self.stderr[-3000:]}")

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def kill(self) -> int:
        self.signal(signal.SIGKILL)
        return self.process.wait(timeout=30)

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


# ------------------------------------------------------------------------------ inventory
_RANDOM_ID = re.compile(
    r"\b(?:[a-z]+-[0-9a-f]{8,17}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{12})\b"
)


def _tags(items: Any) -> dict[str, str]:
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in items or []}


class Inventory:
    """kind -> Counter of names; plus the tags of every resource that says it is the plan's."""

    def __init__(self, plan: str):
        self.plan = plan
        self.kinds: dict[str, Counter[str]] = {}
        self.owned: list[tuple[str, str, dict[str, str]]] = []

    def add(self, kind: str, tags: dict[str, str] | None = None, label: str | None = None) -> None:
        tags = tags or {}
        if tags.get("provisioner:plan") == self.plan:
            self.owned.append((kind, tags.get("provisioner:key", "?"), tags))
        name = tags.get("provisioner:key") or (_RANDOM_ID.sub("*", label) if label else "untagged")
        self.kinds.setdefault(kind, Counter())[name] += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {kind: dict(sorted(names.items())) for kind, names in sorted(self.kinds.items())}

    def duplicates(self) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for kind, key, _ in self.owned:
            count = sum(1 for k, other, _ in self.owned if k == kind and other == key)
            if count > 1:
                found.setdefault(kind, {})[key] = count
        return found

    def missing_plan_tags(self, expected: dict[str, str]) -> list[str]:
        return [f"{kind} {key}" for kind, key, tags in self.owned if any(tags.get(k) != v for k, v in expected.items())]


def inventory(sandbox: Sandbox, plan_name: str = "dev", region: str = "us-east-1") -> Inventory:
    """Everything in the plan's account and region, and the organization's accounts."""
    from provisioner.aws.accounts import session_for_plan
    from provisioner.planfile import load_plan

    plan = load_plan(plan_name, sandbox.plans_dir)
    management = sandbox.session()
    session = session_for_plan(management, plan)
    inv = Inventory(plan_name)
    ec2 = session.client("ec2", region)

    vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    vpc_ids = [v["VpcId"] for v in vpcs]
    in_vpcs = [{"Name": "vpc-id", "Values": vpc_ids}] if vpc_ids else None
    for vpc in vpcs:
        inv.add("ec2:vpc", _tags(vpc.get("Tags")), "vpc")
    if in_vpcs:
        for subnet in ec2.describe_subnets(Filters=in_vpcs)["Subnets"]:
            inv.add("ec2:subnet", _tags(subnet.get("Tags")), f"subnet {subnet['CidrBlock']}")
        for table in ec2.describe_route_tables(Filters=in_vpcs)["RouteTables"]:
            main = any(a.get("Main") for a in table.get("Associations", []))
            inv.add("ec2:route-table", {} if main else _tags(table.get("Tags")), "main" if main else "route-table")
        for group in ec2.describe_security_groups(Filters=in_vpcs)["SecurityGroups"]:
            inv.add(
                "ec2:security-group",
                _tags(group.get("Tags")) if group["GroupName"] != "default" else {},
                f"sg {group['GroupName']}",
            )
        for acl in ec2.describe_network_acls(Filters=in_vpcs)["NetworkAcls"]:
            inv.add(
                "ec2:network-acl",
                {} if acl.get("IsDefault") else _tags(acl.get("Tags")),
                "default" if acl.get("IsDefault") else "acl",
            )
    for nat in ec2.describe_nat_gateways()["NatGateways"]:
        if nat["State"] not in ("deleted",):
            inv.add("ec2:nat-gateway", _tags(nat.get("Tags")), f"nat {nat['State']}")
    for address in ec2.describe_addresses()["Addresses"]:
        inv.add("ec2:eip", _tags(address.get("Tags")), "eip")
    for gateway in ec2.describe_internet_gateways()["InternetGateways"]:
        inv.add("ec2:internet-gateway", _tags(gateway.get("Tags")), "igw")
    for eni in ec2.describe_network_interfaces()["NetworkInterfaces"]:
        inv.add("ec2:network-interface", {}, f"eni {eni.get('InterfaceType', '')} {eni.get('Description', '')}")
    for flow_log in ec2.describe_flow_logs()["FlowLogs"]:
        inv.add("ec2:flow-log", _tags(flow_log.get("Tags")), "flow-log")
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] != "terminated":
                inv.add("ec2:instance", _tags(instance.get("Tags")), "instance")
    for template in ec2.describe_launch_templates()["LaunchTemplates"]:
        inv.add("ec2:launch-template", _tags(template.get("Tags")), f"lt {template['LaunchTemplateName']}")

    eks = session.client("eks", region)
    for name in eks.list_clusters()["clusters"]:
        cluster = eks.describe_cluster(name=name)["cluster"]
        inv.add("eks:cluster", _tags(cluster.get("tags")), f"cluster {name}")
        for group in eks.list_nodegroups(clusterName=name)["nodegroups"]:
            described = eks.describe_nodegroup(clusterName=name, nodegroupName=group)["nodegroup"]
            inv.add("eks:nodegroup", _tags(described.get("tags")), f"nodegroup {group}")
        for addon in eks.list_addons(clusterName=name)["addons"]:
            inv.add("eks:addon", {}, f"addon {addon}")
        for principal in eks.list_access_entries(clusterName=name)["accessEntries"]:
            inv.add("eks:access-entry", {}, f"access-entry {principal}")
        for association in eks.list_pod_identity_associations(clusterName=name)["associations"]:
            inv.add(
                "eks:pod-identity-association",
                {},
                f"pod-identity {association['namespace']}/{association['serviceAccount']}",
            )

    rds = session.client("rds", region)
    for instance in rds.describe_db_instances()["DBInstances"]:
        inv.add("rds:db-instance", _tags(instance.get("TagList")), f"db {instance['DBInstanceIdentifier']}")
    for group in rds.describe_db_subnet_groups()["DBSubnetGroups"]:
        inv.add("rds:db-subnet-group", {}, f"subnet-group {group['DBSubnetGroupName']}")
    for group in rds.describe_db_parameter_groups()["DBParameterGroups"]:
        if not group["DBParameterGroupName"].startswith("default."):
            inv.add("rds:db-parameter-group", {}, f"parameter-group {group['DBParameterGroupName']}")
    secrets = session.client("secretsmanager", region)
    for secret in secrets.list_secrets()["SecretList"]:
        inv.add("secretsmanager:secret", {}, "secret " + re.sub(r"!.*", "!*", secret["Name"]))  # RDS: rds!db-<uuid>

    iam = session.client("iam")
    for role in iam.list_roles()["Roles"]:
        inv.add("iam:role", {}, f"role {role['Path']}{role['RoleName']}")
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        # The issuer's id is random per cluster: oidc.eks.<region>.amazonaws.com/id/<hex>.
        inv.add(
            "iam:oidc-provider", {}, "oidc-provider " + re.sub(r"/id/\w+$", "/id/*", provider["Arn"].split("/", 1)[1])
        )
    for profile in iam.list_instance_profiles()["InstanceProfiles"]:
        # Karpenter names its profiles <cluster>_<hash of the region and the EC2NodeClass's uid>:
        # a new uid in every cluster, as on AWS (the emulated controller makes them too).
        inv.add(
            "iam:instance-profile", {}, "instance-profile " + re.sub(r"_\d+$", "_*", profile["InstanceProfileName"])
        )

    kms = session.client("kms", region)
    for key in kms.list_keys()["Keys"]:
        metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if metadata.get("KeyManager") == "AWS" or metadata["KeyState"] == "PendingDeletion":
            continue
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
        inv.add("kms:key", tags, f"key {metadata['KeyState']}")
    sqs = session.client("sqs", region)
    for url in sqs.list_queues().get("QueueUrls", []):
        inv.add("sqs:queue", {}, "queue " + url.rsplit("/", 1)[1])
    events = session.client("events", region)
    for rule in events.list_rules()["Rules"]:
        inv.add("events:rule", {}, f"rule {rule['Name']}")
    logs = session.client("logs", region)
    for group in logs.describe_log_groups()["logGroups"]:
        inv.add("logs:log-group", {}, f"log-group {group['logGroupName']}")

    # The organization's accounts (in the management account): never duplicated by a crash.
    organizations = management.client("organizations")
    for account in organizations.list_accounts()["Accounts"]:
        inv.add("organizations:account", {}, f"account {account['Email']} {account['Status']}")
    return inv


def owned_leftovers(inv: Inventory) -> dict[str, dict[str, int]]:
    """What an `Inventory` still holds that carries the plan's tags or its names."""
    prefix = f"{inv.plan}-"
    left: dict[str, dict[str, int]] = {}
    for kind, key, _ in inv.owned:
        left.setdefault(kind, {})[key] = left.get(kind, {}).get(key, 0) + 1
    for kind, names in inv.kinds.items():
        for name, count in names.items():
            if prefix in name or f"/{inv.plan}/" in name:
                left.setdefault(kind, {})[name] = count
    return left
