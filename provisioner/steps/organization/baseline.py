"""The account baseline: guardrails the organization sets in every account it manages.

    organization/baseline/<account>/<region>/default-vpc      ec2:default-vpc (absent)
    organization/baseline/<account>/<region>/ebs-encryption   ec2:ebs-encryption-by-default
    organization/baseline/<account>/s3-public-access-block    s3:account-public-access-block

`<account>` is an account key of organization.yaml, or `management-account`; regions are the
plan's `allowed_regions` (the restrict-regions SCP denies the others, so nothing can run
there). Each node is a setting of one account (and region), not a resource the plan owns:

- it is reached through the organization access role (sessions.member_session), or with the
  run's own session in the management account, whose role is not in it;
- it "exists" as soon as its account does (discovery reads the setting), so a setting
  changed by hand shows as an update and is set back; an account not created yet shows as
  a create;
- destroy leaves it (`kept_on_destroy`): a guardrail outlives the plan that set it. Nothing
  is tagged (none of these can carry tags) and nothing is ever an orphan.

Default VPCs. AWS makes one in every region of a new account: 172.31.0.0/16, a default
subnet per AZ that maps public IPs on launch, an internet gateway, a main route table with
0.0.0.0/0 to it, a default NACL and security group that allow traffic. The node deletes it
(gateway detached and deleted, subnets, then the VPC, which takes its main route table,
default NACL and default security group with it) only when nothing else is in it: a network
interface, an instance, a load balancer, a NAT gateway, a database, a VPC endpoint, a
security group, route table or NACL someone added, a subnet that is not a default one. Then
it refuses, naming the account, region, VPC and what is inside, and deletes nothing of that
VPC; other accounts and regions go on. AWS can make a new default VPC later
(CreateDefaultVpc) if one is ever needed.

EBS encryption by default (EnableEbsEncryptionByDefault) is per region and applies to
volumes created afterwards, with the account's default EBS key (aws/ebs) unless one is set.
S3 Block Public Access at account level (s3control PutPublicAccessBlock) sets all four
flags for every bucket of the account, present and future.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from provisioner.aws.blockers import find_blockers
from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code
from provisioner.engine import Live, PermanentError, Refs, Resource, RunContext
from provisioner.engine.gather import gather
from provisioner.steps.organization import _orgs
from provisioner.steps.organization.sessions import member_session

MANAGEMENT = "management-account"
ABSENT = "absent"
BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def baseline_key(account: str, setting: str, region: str | None = None) -> str:
    return (
        f"organization/baseline/{account}/{region}/{setting}"
        if region
        else f"organization/baseline/{account}/{setting}"
    )


@dataclass(kw_only=True)
class AccountSetting(Resource):
    """A setting of one account (and region); see the module docstring."""

    account: str | None  # node key of the member account; None: the management account
    account_email: str | None = None  # how discovery finds that account before refs exist
    region: str

    taggable = False
    kept_on_destroy = True
    create_seconds = 1.0
    delete_seconds = 0.0

    # -- where the setting lives ------------------------------------------------------------
    def account_id(self, ctx: RunContext) -> str | None:
        if self.account is None:
            return str(ctx.aws.account_id)
        email = (self.account_email or "").lower()
        for account in _orgs.accounts(ctx):
            if str(account.get("Email", "")).lower() == email and account.get("Status") == "ACTIVE":
                return str(account["Id"])
        return None

    def client(self, ctx: RunContext, account_id: str, service: str, purpose: str = "mutate") -> Any:
        if account_id == ctx.aws.account_id:
            return ctx.aws.client(service, self.region, purpose=purpose)
        session = member_session(ctx, account_id, self.region, key=self.key)
        return session.client(service, self.region, purpose=purpose)

    def where(self, account_id: str) -> str:
        return (
            f"account {account_id} ({self.account.rsplit('/', 1)[-1] if self.account else MANAGEMENT}), {self.region}"
        )

    def wanted_account(self, refs: Refs) -> Any:
        return refs.id(self.account) if self.account else refs.get("@plan", "account_id")

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        lives = []
        for node in _orgs.nodes_of(ctx, cls):
            account_id = node.account_id(ctx)
            if account_id is None:
                continue  # the account does not exist yet: the setting shows as a create
            item = {"AccountId": account_id, "Region": node.region, **node.current(ctx, account_id)}
            lives.append(
                Live(
                    key=node.key,
                    id=f"{account_id}/{node.region}",
                    fields=cls.observe(item),
                    raw=item,
                    outputs={"account_id": account_id, "region": node.region},
                )
            )
        return lives

    def current(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        """The setting as it is now (discovery): the answers `observe` reads, under AWS's names."""
        raise NotImplementedError

    def apply(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        """Make the setting so; returns the fields it now has."""
        raise NotImplementedError

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        account_id = str(want["account_id"])
        try:
            fields = self.apply(ctx, account_id)
        except ClientError as exc:
            hint = (
                None if self.account is None else f"the organization access role in account {account_id} must allow it"
            )
            raise as_provisioner_error(exc, key=self.key, hint=hint) from exc
        return Live(
            key=self.key,
            id=f"{account_id}/{self.region}",
            fields={"account_id": account_id, **fields},
            outputs={"account_id": account_id, "region": self.region},
        )

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        return self.create(ctx, want)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        _orgs.kept(ctx, have, "an account guardrail: destroy leaves it in place")


@dataclass(kw_only=True)
class DefaultVpc(AccountSetting):
    type = "ec2:default-vpc"
    iam_actions = (
        "sts:AssumeRole",
        "organizations:ListAccounts",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstances",
        "ec2:DescribeNatGateways",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeRouteTables",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeAddresses",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "rds:DescribeDBInstances",
        "ec2:DetachInternetGateway",
        "ec2:DeleteInternetGateway",
        "ec2:DeleteSubnet",
        "ec2:DeleteVpc",
    )
    create_seconds = 3.0

    def current(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        ec2 = self.client(ctx, account_id, "ec2", "poll")
        return {"Vpcs": ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]}

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the account, the region and its default VPCs (DescribeVpcs, is-default)."""
        vpcs = item["Vpcs"]
        return {
            "account_id": item["AccountId"],
            "region": item["Region"],
            "default_vpc": vpcs[0]["VpcId"] if vpcs else ABSENT,
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"account_id": self.wanted_account(refs), "region": self.region, "default_vpc": ABSENT}

    def apply(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        ec2 = self.client(ctx, account_id, "ec2")
        for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
            self._remove(ctx, account_id, ec2, vpc["VpcId"])
        return {"region": self.region, "default_vpc": ABSENT}

    def survey(self, ctx: RunContext, account_id: str, ec2: Any, vpc_id: str) -> Survey:
        """What is in the default VPC besides what AWS put there (one line each), with the
        subnets and internet gateways a removal deletes. The reads need nothing of each other,
        so they are made at once: about five round trips instead of fifteen."""
        by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        session = (
            ctx.aws if account_id == ctx.aws.account_id else member_session(ctx, account_id, self.region, key=self.key)
        )
        subnets, blockers, tables, acls, endpoints = gather(
            lambda: describe_all(ec2, "describe_subnets", "Subnets", Filters=by_vpc),
            lambda: find_blockers(session, "vpc", vpc_id, self.region),
            lambda: describe_all(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc),
            lambda: describe_all(ec2, "describe_network_acls", "NetworkAcls", Filters=by_vpc),
            lambda: describe_all(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc),
        )
        default_subnets = {s["SubnetId"] for s in subnets if s.get("DefaultForAz")}
        survey = Survey(subnets=[s["SubnetId"] for s in subnets])
        for blocker in blockers:
            if blocker.kind == "ec2:internet-gateway":
                survey.gateways.append(blocker.id)  # AWS's own: removed with the VPC
            elif not (blocker.kind == "ec2:subnet" and blocker.id in default_subnets):
                survey.inside.append(blocker.line())
        for table in tables:
            if not any(a.get("Main") for a in table.get("Associations", [])):
                survey.inside.append(f"ec2:route-table {table['RouteTableId']} (not the main route table)")
        for acl in acls:
            if not acl.get("IsDefault"):
                survey.inside.append(f"ec2:network-acl {acl['NetworkAclId']} (not the default NACL)")
        for endpoint in endpoints:
            survey.inside.append(f"ec2:vpc-endpoint {endpoint['VpcEndpointId']} ({endpoint.get('ServiceName', '')})")
        return survey

    def _remove(self, ctx: RunContext, account_id: str, ec2: Any, vpc_id: str) -> None:
        survey = self.survey(ctx, account_id, ec2, vpc_id)
        if survey.inside:
            raise PermanentError(
                f"default VPC {vpc_id} in {self.where(account_id)} is not empty; nothing of it was deleted. It holds:\n    "
                + "\n    ".join(survey.inside),
                key=self.key,
                code="DefaultVpcInUse",
                hint="move or delete what is in it (or set account_baseline.remove_default_vpcs: false), then apply again",
            )
        ctx.progress(self.key, f"deleting default VPC {vpc_id} in {self.where(account_id)}")

        def remove_gateway(gateway: str) -> None:
            _call(ec2, "detach_internet_gateway", InternetGatewayId=gateway, VpcId=vpc_id)
            _call(ec2, "delete_internet_gateway", InternetGatewayId=gateway)

        # The gateway and the subnets (one per AZ: up to six) need nothing of each other; the
        # VPC goes once they are gone, taking its main route table, default NACL and group.
        gather(
            *(partial(remove_gateway, gateway) for gateway in survey.gateways),
            *(partial(_call, ec2, "delete_subnet", SubnetId=subnet) for subnet in survey.subnets),
        )
        _call(ec2, "delete_vpc", VpcId=vpc_id)


@dataclass
class Survey:
    """A default VPC as `DefaultVpc.survey` found it."""

    inside: list[str] = field(default_factory=list)  # what keeps it from being removed
    subnets: list[str] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)  # attached internet gateways


@dataclass(kw_only=True)
class EbsEncryptionByDefault(AccountSetting):
    type = "ec2:ebs-encryption-by-default"
    iam_actions = (
        "sts:AssumeRole",
        "organizations:ListAccounts",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:EnableEbsEncryptionByDefault",
    )

    def current(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        ec2 = self.client(ctx, account_id, "ec2", "poll")
        return {"EbsEncryptionByDefault": ec2.get_ebs_encryption_by_default().get("EbsEncryptionByDefault")}

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the account, the region and GetEbsEncryptionByDefault's answer."""
        return {
            "account_id": item["AccountId"],
            "region": item["Region"],
            "enabled": bool(item.get("EbsEncryptionByDefault")),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"account_id": self.wanted_account(refs), "region": self.region, "enabled": True}

    def apply(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        enabled = self.client(ctx, account_id, "ec2").enable_ebs_encryption_by_default().get("EbsEncryptionByDefault")
        ctx.progress(self.key, f"EBS encryption by default on in {self.where(account_id)}")
        return {"region": self.region, "enabled": bool(enabled)}


@dataclass(kw_only=True)
class AccountPublicAccessBlock(AccountSetting):
    type = "s3:account-public-access-block"
    iam_actions = (
        "sts:AssumeRole",
        "organizations:ListAccounts",
        "s3:GetAccountPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
    )

    def current(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        s3control = self.client(ctx, account_id, "s3control", "poll")
        try:
            block = s3control.get_public_access_block(AccountId=account_id)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
        return {"PublicAccessBlockConfiguration": block}

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the account and its S3 Block Public Access settings ({} when it has none)."""
        block = item["PublicAccessBlockConfiguration"]
        return {"account_id": item["AccountId"], "flags_off": [flag for flag in BPA_FLAGS if not block.get(flag)]}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"account_id": self.wanted_account(refs), "flags_off": []}

    def apply(self, ctx: RunContext, account_id: str) -> dict[str, Any]:
        self.client(ctx, account_id, "s3control").put_public_access_block(
            AccountId=account_id, PublicAccessBlockConfiguration={flag: True for flag in BPA_FLAGS}
        )
        ctx.progress(self.key, f"S3 Block Public Access on for account {account_id}")
        return {"flags_off": []}


def _call(ec2: Any, operation: str, **params: Any) -> None:
    """A delete that finds its target gone has nothing left to do."""
    try:
        getattr(ec2, operation)(**params)
    except ClientError as exc:
        code = error_code(exc) or ""
        if not (code.endswith(".NotFound") or code == "Gateway.NotAttached"):
            raise


def resources(spec: Any, account_key: Callable[[str], str]) -> list[Resource]:
    """The baseline nodes for an OrganizationPlan spec (none when every setting is off);
    `account_key` names an account's node."""
    baseline = spec.account_baseline
    targets: list[tuple[str, str | None, str | None]] = []  # (name in keys, account node key, email)
    if baseline.management_account:
        targets.append((MANAGEMENT, None, None))
    targets += [(key, account_key(key), account.email) for key, account in spec.accounts.items()]
    nodes: list[Resource] = []
    for name, account, email in targets:
        depends = (account,) if account else ()
        common: dict[str, Any] = {"depends_on": depends, "account": account, "account_email": email}
        for region in spec.allowed_regions:
            if baseline.remove_default_vpcs:
                nodes.append(DefaultVpc(key=baseline_key(name, "default-vpc", region), region=region, **common))
            if baseline.ebs_encryption_by_default:
                nodes.append(
                    EbsEncryptionByDefault(key=baseline_key(name, "ebs-encryption", region), region=region, **common)
                )
        if baseline.s3_block_public_access:
            nodes.append(
                AccountPublicAccessBlock(key=baseline_key(name, "s3-public-access-block"), region=spec.region, **common)
            )
    return nodes
