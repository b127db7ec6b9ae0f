"""Where moto differs from AWS in ways the tool depends on, made to behave like AWS.

Each patch names the AWS behaviour it restores. They are applied once per process, before
the server serves (`server.build_app`), so the background sandbox and the in-process test
server behave the same.

- NAT gateways: DeleteNatGateway frees the Elastic IP and the gateway's ENI (moto keeps the
  EIP associated forever, so a NAT gateway re-created on the same EIP fails with
  Resource.AlreadyAssociated, which never happens on AWS) and is then forgotten with its
  tags, as AWS forgets deleted gateways after about an hour; DescribeNatGateways honours
  `tag:` filters (moto ignores them and returns every gateway); CreateNatGateway honours
  ClientToken as EC2's idempotency contract says (same token, same gateway).
- ClientToken on CreateRouteTable, CreateNetworkAcl and CreateLaunchTemplateVersion (moto
  ignores it, so a retried create makes a second table, ACL or version): the same token
  returns the first call's result while its resource exists, and the same token with other
  parameters is IdempotentParameterMismatch, as EC2 documents ("Ensuring idempotency").
- GetCallerIdentity for the sandbox's own keys answers an IAM user ARN
  (`arn:aws:iam::<account>:user/moto`), as STS does for users; moto answers an impossible
  `arn:aws:sts::<account>:user/moto`, which EKS access entries rightly refuse.
- Service-linked roles: CreateServiceLinkedRole names roles as AWS does
  (`AWSServiceRoleForEC2Spot` for spot.amazonaws.com; moto says `AWSServiceRoleForspot`).
- IAM permissions boundaries: CreateRole and PutRolePermissionsBoundary refuse a boundary
  policy that does not exist (NoSuchEntity "Scope ARN: ... does not exist or is not
  attachable."), as IAM does; moto accepts any well-formed ARN, so a role could point at a
  boundary the tool never made.
- DynamoDB CreateTable is atomic: of concurrent creates of one table exactly one succeeds.
- DescribeLaunchTemplates shows a template's current tags, as EC2 does; moto answers the tags
  given at creation forever, so CreateTags and DeleteTags on a template never showed.
- Default VPCs as AWS makes them in every region of an account: moto makes the VPC
  (172.31.0.0/16) and a default subnet per AZ mapping public IPs, lazily when an account
  and region are first used (which reads the same as "at account creation" through the
  API), but no internet gateway; the sandbox adds one, attached, and the main route table's
  0.0.0.0/0 route to it (https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc.html).
  CreateDefaultVpc makes the same.
- DeleteVpc removes the VPC's default network ACL with it, as AWS does (moto keeps it, so a
  deleted VPC's default NACL, with its tags, would still be listed).
- EBS encryption by default: moto stores the setting (Get/Enable/DisableEbsEncryptionByDefault)
  but creates volumes unencrypted; with it on, a volume created afterwards (CreateVolume, an
  instance's block devices) is encrypted with the default key, as on AWS.
- DescribeLogGroups honours `logGroupIdentifiers` (moto ignores it and lists every group): only
  the named groups come back (by name: ARNs name groups only in a cross-account monitoring
  account), at most 50 names, and not together with a name prefix or pattern, as CloudWatch
  Logs documents.
- Delete-time dependency checks moto skips (a subnet with a NAT gateway, ENI, instance or
  load balancer in it; a security group referenced or in use; a VPC with an internet gateway
  or a non-default group; an Elastic IP a NAT gateway holds): `sandbox/dependencies.py`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_applied = False
_lock = threading.Lock()

# SPEC section 6: slow resources report their transitional state for p50 x LATENCY_SCALE
# seconds of latency-model.md (0: final at once, moto's own behaviour).
LATENCY_SCALE = 0.0
NAT_CREATE_P50 = 105.0
NAT_DELETE_P50 = 60.0


def apply_patches() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _patch_nat_gateways()
        _patch_client_tokens()
        _patch_service_linked_role_names()
        _patch_caller_identity()
        _patch_dynamodb_create_table()
        _patch_launch_template_tags()
        _patch_permissions_boundaries()
        _patch_default_vpc()
        _patch_delete_vpc()
        _patch_ebs_encryption_by_default()
        _patch_role_listing()
        _patch_log_group_identifiers()
        from provisioner.sandbox import dependencies  # AWS's delete-time dependency checks

        dependencies.apply_patches()
        _applied = True


def _patch_role_listing() -> None:
    """moto's IAM lists roles as a live view of its dict, and GetRole walks it: a CreateRole
    served on another thread meanwhile (the tool creates roles in parallel) fails the GetRole
    with "dictionary changed size during iteration", an HTTP 500 botocore cannot parse. AWS
    has no such failure; a snapshot of the roles does not either."""
    from moto.iam.models import IAMBackend

    def get_roles(self: Any) -> list[Any]:
        return list(self.roles.values())  # one C-level copy: no other request runs during it

    IAMBackend.get_roles = get_roles  # type: ignore[method-assign]


def _patch_log_group_identifiers() -> None:
    """https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html"""
    import json

    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.responses import LogsResponse

    original = LogsResponse.describe_log_groups

    def describe_log_groups(self: Any) -> str:
        identifiers = self._get_param("logGroupIdentifiers")
        if identifiers is None:
            return original(self)
        if self._get_param("logGroupNamePrefix") or self._get_param("logGroupNamePattern"):
            raise InvalidParameterException(
                msg="If you specify logGroupIdentifiers, you cannot specify logGroupNamePrefix or logGroupNamePattern"
            )
        if not 1 <= len(identifiers) <= 50:
            raise InvalidParameterException(
                constraint="Member must have length less than or equal to 50",
                parameter="logGroupIdentifiers",
                value=identifiers,
            )
        # Outside a cross-account monitoring account (the sandbox has none) only names count.
        wanted = {str(i) for i in identifiers}
        groups = [g for name, g in sorted(self.logs_backend.groups.items()) if name in wanted]
        return json.dumps({"logGroups": [g.to_describe_dict() for g in groups]})

    LogsResponse.describe_log_groups = describe_log_groups  # type: ignore[method-assign]


def _patch_launch_template_tags() -> None:
    from moto.ec2.models.launch_templates import LaunchTemplate

    def tags(self: Any) -> list[dict[str, str]]:
        return self.get_tags()  # the tag store CreateTags/DeleteTags write, read now

    def set_tags(self: Any, value: Any) -> None:  # moto's __init__ assigns a snapshot: ignored
        return None

    LaunchTemplate.tags = property(tags, set_tags)  # type: ignore[assignment]  # moto types it as a list


def _patch_client_tokens() -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.launch_templates import LaunchTemplates
    from moto.ec2.responses.network_acls import NetworkACLs
    from moto.ec2.responses.route_tables import RouteTables

    def exists_route_table(backend: Any, result: Any) -> bool:
        return result["RouteTable"].id in backend.route_tables

    def exists_network_acl(backend: Any, result: Any) -> bool:
        return result["NetworkAcl"].id in backend.network_acls

    def exists_version(backend: Any, result: Any) -> bool:
        version = result["LaunchTemplateVersion"]
        template = backend.launch_templates.get(version["LaunchTemplateId"])
        return template is not None and any(v.number == version["VersionNumber"] for v in template.versions)

    token_lock = threading.Lock()

    def honour(cls: Any, method: str, exists: Any) -> None:
        original = getattr(cls, method)

        def create(self: Any) -> Any:
            token = self._get_param("ClientToken")
            if not token:
                return original(self)
            params = sorted(
                (k, str(v)) for k, v in self.querystring.items() if k not in ("ClientToken", "Action", "Version")
            )
            with token_lock:
                store: dict[tuple[str, str], tuple[Any, Any]] = self.ec2_backend.__dict__.setdefault(
                    "_sandbox_client_tokens", {}
                )
                seen = store.get((method, token))
                if seen is not None and exists(self.ec2_backend, seen[1].result):
                    if seen[0] != params:
                        raise EC2ClientError(
                            "IdempotentParameterMismatch",
                            f"Client token {token} was already used with different parameters.",
                        )
                    return seen[1]
                result = original(self)
                store[(method, token)] = (params, result)
                return result

        setattr(cls, method, create)

    honour(RouteTables, "create_route_table", exists_route_table)
    honour(NetworkACLs, "create_network_acl", exists_network_acl)
    honour(LaunchTemplates, "create_launch_template_version", exists_version)


def _patch_default_vpc() -> None:
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.create_default_vpc
    if getattr(original, "_sandbox", False):
        return

    def create_default_vpc(self: Any) -> Any:
        vpc = original(self)
        igw = self.create_internet_gateway()
        self.attach_internet_gateway(igw.id, vpc.id)
        for table in list(self.route_tables.values()):
            if table.vpc_id == vpc.id and table.main_association_id:
                self.create_route(table.id, "0.0.0.0/0", gateway_id=igw.id)
        return vpc

    create_default_vpc._sandbox = True  # type: ignore[attr-defined]
    VPCBackend.create_default_vpc = create_default_vpc  # type: ignore[method-assign]


def _patch_delete_vpc() -> None:
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.delete_vpc

    def delete_vpc(self: Any, vpc_id: str) -> Any:
        vpc = original(self, vpc_id)
        for acl_id, acl in list(self.network_acls.items()):
            if acl.vpc_id == vpc_id and str(acl.default).lower() == "true":
                self.network_acls.pop(acl_id, None)
        return vpc

    VPCBackend.delete_vpc = delete_vpc  # type: ignore[method-assign]


def _patch_ebs_encryption_by_default() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend

    original = EBSBackend.create_volume

    def create_volume(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "ebs_encryption_by_default", False) and not kwargs.get("encrypted"):
            kwargs["encrypted"] = True
        return original(self, *args, **kwargs)

    EBSBackend.create_volume = create_volume  # type: ignore[method-assign]


def _patch_dynamodb_create_table() -> None:
    """CreateTable is atomic in DynamoDB: of two concurrent creates of one table, one gets
    ResourceInUseException. moto checks and inserts without a lock, so both can "win" and the
    second wipes the first's items (a lock table racing on its first use). Serialise it."""
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.create_table
    create_lock = threading.Lock()

    def create_table(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        with create_lock:
            return original(self, name, *args, **kwargs)

    DynamoDBBackend.create_table = create_table  # type: ignore[method-assign]


def _patch_permissions_boundaries() -> None:
    from moto.iam.exceptions import NoSuchEntity
    from moto.iam.models import IAMBackend

    def check(backend: Any, arn: str | None) -> None:
        if arn and arn not in backend.managed_policies:
            raise NoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.")

    create_role = IAMBackend.create_role
    put_boundary = IAMBackend.put_role_permissions_boundary

    def patched_create_role(
        self: Any,
        role_name: str,
        assume_role_policy_document: str,
        path: str,
        permissions_boundary: str | None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        check(self, permissions_boundary)
        return create_role(self, role_name, assume_role_policy_document, path, permissions_boundary, *args, **kwargs)

    def patched_put_boundary(self: Any, role_name: str, permissions_boundary: str) -> None:
        check(self, permissions_boundary)
        return put_boundary(self, role_name, permissions_boundary)

    IAMBackend.create_role = patched_create_role  # type: ignore[method-assign]
    IAMBackend.put_role_permissions_boundary = patched_put_boundary  # type: ignore[method-assign]


def _patch_caller_identity() -> None:
    from moto.sts.models import STSBackend

    original = STSBackend.get_caller_identity

    def get_caller_identity(self: Any, access_key_id: str, region: str) -> tuple[str, str, str]:
        user_id, arn, account = original(self, access_key_id, region)
        parts = arn.split(":")
        if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("user/"):
            arn = ":".join([parts[0], parts[1], "iam", "", parts[4], parts[5]])
        return user_id, arn, account

    STSBackend.get_caller_identity = get_caller_identity  # type: ignore[method-assign]


# AWS's names for the service-linked roles of services whose name moto derives wrongly.
SERVICE_LINKED_ROLE_NAMES = {
    "spot": "EC2Spot",
    "elasticloadbalancing": "ElasticLoadBalancing",
    "eks": "AmazonEKS",
    "eks-nodegroup": "AmazonEKSNodegroup",
    "rds": "RDS",
    "guardduty": "AmazonGuardDuty",
    "organizations": "Organizations",
    "ecs": "ECS",
}


def _patch_service_linked_role_names() -> None:
    from moto.iam import models

    models.SERVICE_NAME_CONVERSION.update(SERVICE_LINKED_ROLE_NAMES)


def _patch_nat_gateways() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models.nat_gateways import NatGatewayBackend
    from moto.ec2.responses.nat_gateways import NatGateways as NatGatewayResponses
    from moto.ec2.utils import add_tag_specification

    original_delete = NatGatewayBackend.delete_nat_gateway
    original_describe = NatGatewayBackend.describe_nat_gateways

    def delete_nat_gateway(self: Any, nat_gateway_id: str) -> Any:
        if LATENCY_SCALE > 0 and nat_gateway_id in self.nat_gateways:
            # `deleting` for the model's p50; the EIP and ENI are freed when it is `deleted`.
            nat = self.nat_gateways[nat_gateway_id]
            nat.state = "deleting"
            nat._sandbox_deleted_at = time.monotonic() + NAT_DELETE_P50 * LATENCY_SCALE
            return nat
        return _finish_delete(self, nat_gateway_id)

    def _finish_delete(self: Any, nat_gateway_id: str) -> Any:
        nat = original_delete(self, nat_gateway_id)
        eni = getattr(nat, "_eni", None)
        for address in self.addresses:
            if eni is not None and address.eni is not None and address.eni.id == eni.id:
                address.eni = None
                address.instance = None
                address.association_id = None
        if eni is not None and eni.id in getattr(self, "enis", {}):
            try:
                self.delete_network_interface(eni.id)
            except Exception:  # already gone
                pass
        # AWS lists a deleted gateway for about an hour, then forgets it. The sandbox is
        # instant, so it forgets at once: its tags go too, as they do on AWS.
        self.nat_gateways.pop(nat_gateway_id, None)
        self.tags.pop(nat_gateway_id, None)
        return nat

    def advance(self: Any) -> None:
        now = time.monotonic()
        for nat in list(self.nat_gateways.values()):
            if nat.state == "pending" and getattr(nat, "_sandbox_available_at", 0) <= now:
                nat.state = "available"
            elif nat.state == "deleting" and getattr(nat, "_sandbox_deleted_at", 0) <= now:
                _finish_delete(self, nat.id)

    def describe_nat_gateways(self: Any, filters: Any, nat_gateway_ids: Any) -> Any:
        advance(self)
        gateways = original_describe(self, filters, nat_gateway_ids)
        for name, values in (filters or {}).items():
            if name.startswith("tag:"):
                tag = name[4:]
                gateways = [
                    g
                    for g in gateways
                    if g.get_tags() and any(t["key"] == tag and t["value"] in values for t in g.get_tags())
                ]
            elif name == "tag-key":
                gateways = [g for g in gateways if any(t["key"] in values for t in g.get_tags())]
        return gateways

    def create_nat_gateway_response(self: Any) -> Any:
        token = self._get_param("ClientToken")
        tokens: dict[str, str] = self.ec2_backend.__dict__.setdefault("_sandbox_nat_tokens", {})
        if token and token in tokens and tokens[token] in self.ec2_backend.nat_gateways:
            return ActionResult({"NatGateway": self.ec2_backend.nat_gateways[tokens[token]], "ClientToken": token})
        nat = self.ec2_backend.create_nat_gateway(
            subnet_id=self._get_param("SubnetId"),
            allocation_id=self._get_param("AllocationId"),
            tags=add_tag_specification(self._get_param("TagSpecifications", [])),
            connectivity_type=self._get_param("ConnectivityType"),
        )
        if token:
            tokens[token] = nat.id
        if LATENCY_SCALE > 0:
            nat.state = "pending"
            nat._sandbox_available_at = time.monotonic() + NAT_CREATE_P50 * LATENCY_SCALE
        return ActionResult({"NatGateway": nat, "ClientToken": token} if token else {"NatGateway": nat})

    NatGatewayBackend.delete_nat_gateway = delete_nat_gateway  # type: ignore[method-assign]
    NatGatewayBackend.describe_nat_gateways = describe_nat_gateways  # type: ignore[method-assign]
    NatGatewayResponses.create_nat_gateway = create_nat_gateway_response  # type: ignore[method-assign]
