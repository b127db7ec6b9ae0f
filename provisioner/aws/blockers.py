"""What keeps a VPC, subnet, security group or Elastic IP from being deleted (issue #7).

EC2 answers DependencyViolation ("The subnet '...' has dependencies and cannot be deleted.",
"resource sg-... has a dependent object") without naming the dependency, and for an Elastic
IP a NAT gateway holds it answers a misleading AuthFailure. `find_blockers` asks the
services what AWS would have meant, and `format_blockers` renders the answer for an error
message: kind, id, state, who made it (from tags and descriptions) and what to do.

What counts, as AWS counts it:

- subnet: network interfaces in it (NAT gateways', load balancers', RDS's and EKS's included),
  instances not terminated, NAT gateways not `deleted`, ELBv2 load balancers placed in it, DB
  instances whose subnet group includes it;
- security group: network interfaces and instances using it, groups whose ingress or egress
  rules reference it, ELBv2 load balancers and DB instances using it;
- VPC: all of a subnet's blockers anywhere in the VPC, plus its subnets, non-default security
  groups and attached internet gateways;
- Elastic IP: the NAT gateway, network interface or instance it is associated with.

Calls are filtered describes, all pages, one per kind (two for rule references, one
DescribeTags per 20 load balancers); ELBv2 and RDS have no VPC filter, so their lists are
filtered here. Reads only: this module changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.aws.blocker_owners import (
    EKS_DESCRIPTION,
    ELB_DESCRIPTION,
    NAT_DESCRIPTION,
    by_whom,
    cluster_of,
    controller_hint,
    elb_name,
    owner_of,
    tag_text,
)
from provisioner.aws.controllers import ALIVE_INSTANCE_STATES
from provisioner.aws.discovery import describe_all
from provisioner.aws.tags import from_list
from provisioner.constants import TAG_PLAN
from provisioner.engine.errors import PermanentError, TemporaryError

RESOURCE_TYPES = {
    "vpc": "vpc",
    "ec2:vpc": "vpc",
    "subnet": "subnet",
    "ec2:subnet": "subnet",
    "security-group": "security-group",
    "sg": "security-group",
    "ec2:security-group": "security-group",
    "eip": "eip",
    "elastic-ip": "eip",
    "ec2:elastic-ip": "eip",
    "ec2:eip": "eip",
}
# A NAT gateway holds its interface and Elastic IP until it is `deleted` (`failed` ones free them).
LIVE_NAT_STATES = ["pending", "available", "deleting"]
ELBV2_TAGS_PER_CALL = 20  # DescribeTags takes at most 20 ARNs


@dataclass(frozen=True)
class Blocker:
    """One thing that keeps a resource from being deleted."""

    kind: str  # `<service>:<kind>`, as in plan output: ec2:network-interface, elbv2:load-balancer, ...
    id: str
    state: str
    owner: str  # who made it: `provisioner:plan=dev key=...`, `kubernetes.io/cluster/dev-eks=owned`, `untagged`
    what_to_do: str
    detail: str = ""  # the kind's own facts: interface type, description, attachment, ...

    def line(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.kind} {self.id} [{self.state}] owner: {self.owner}{detail} -> {self.what_to_do}"


def format_blockers(blockers: Iterable[Blocker], resource: str | None = None) -> str:
    """Multi-line text for an error message; `resource` names what could not be deleted."""
    blockers = list(blockers)
    if not blockers:
        head = f"nothing found that blocks {resource}" if resource else "nothing found that blocks the deletion"
        return head + " (it may have just gone: retry)"
    head = f"{resource} is in use by:" if resource else "in use by:"
    return "\n".join([head, *(f"  - {b.line()}" for b in blockers)])


def find_blockers(session: Any, resource_type: str, resource_id: str, region: str | None = None) -> list[Blocker]:
    """Why `resource_id` (a `vpc`, `subnet`, `security-group` or `eip`, by id; an Elastic IP
    also by public address) cannot be deleted. `session` is an AwsSession (or anything with
    its `client(service, region)`)."""
    kind = RESOURCE_TYPES.get(resource_type)
    if kind is None:
        raise ValueError(f"unknown resource type {resource_type!r} (allowed: vpc, subnet, security-group, eip)")
    reader = _Reader(session, region)
    if kind == "eip":
        return reader.address(resource_id)
    return reader.scoped(kind, resource_id)


class _Reader:
    def __init__(self, session: Any, region: str | None) -> None:
        self.ec2 = session.client("ec2", region)
        self.session = session
        self.region = region

    # -- the three scoped kinds ---------------------------------------------------------------
    def scoped(self, kind: str, resource_id: str) -> list[Blocker]:
        ec2_filter = {"vpc": "vpc-id", "subnet": "subnet-id", "security-group": "group-id"}[kind]
        instance_filter = "instance.group-id" if kind == "security-group" else ec2_filter
        blockers: list[Blocker] = []
        if kind == "vpc":
            blockers += [self._subnet(s) for s in self._describe("describe_subnets", "Subnets", "vpc-id", resource_id)]
        if kind != "security-group":
            nats = self._describe(
                "describe_nat_gateways",
                "NatGateways",
                ec2_filter,
                resource_id,
                extra=[{"Name": "state", "Values": LIVE_NAT_STATES}],
            )
            blockers += [self._nat(n) for n in nats]
        enis = self._describe("describe_network_interfaces", "NetworkInterfaces", ec2_filter, resource_id)
        blockers += [self._interface(e) for e in enis]
        instances = [
            i
            for r in self._describe(
                "describe_instances",
                "Reservations",
                instance_filter,
                resource_id,
                extra=[{"Name": "instance-state-name", "Values": ALIVE_INSTANCE_STATES}],
            )
            for i in r.get("Instances", [])
        ]
        blockers += [self._instance(i) for i in instances]
        if kind == "security-group":
            blockers += self._referencing_groups(resource_id)
        if kind == "vpc":
            groups = self._describe("describe_security_groups", "SecurityGroups", "vpc-id", resource_id)
            blockers += [self._group(g) for g in groups if g.get("GroupName") != "default"]
            igws = self._describe("describe_internet_gateways", "InternetGateways", "attachment.vpc-id", resource_id)
            blockers += [self._gateway(g, resource_id) for g in igws]
        blockers += self._load_balancers(kind, resource_id)
        blockers += self._databases(kind, resource_id)
        return blockers

    def address(self, resource_id: str) -> list[Blocker]:
        key = "PublicIps" if re.fullmatch(r"[\d.]+", resource_id) else "AllocationIds"
        addresses = self.ec2.describe_addresses(**{key: [resource_id]}).get("Addresses", [])
        blockers: list[Blocker] = []
        for address in addresses:
            allocation = address.get("AllocationId")
            nats = [
                n
                for n in self._describe("describe_nat_gateways", "NatGateways", "state", *LIVE_NAT_STATES)
                if any(a.get("AllocationId") == allocation for a in n.get("NatGatewayAddresses", []))
            ]
            if nats:
                blockers += [self._nat(n) for n in nats]
            elif address.get("NetworkInterfaceId"):
                enis = self._describe(
                    "describe_network_interfaces",
                    "NetworkInterfaces",
                    "network-interface-id",
                    address["NetworkInterfaceId"],
                )
                blockers += [self._interface(e, address=address) for e in enis]
            elif address.get("InstanceId"):
                blockers.append(
                    Blocker(
                        "ec2:instance",
                        address["InstanceId"],
                        "associated",
                        "unknown",
                        f"disassociate {address.get('PublicIp')} (association "
                        f"{address.get('AssociationId')}) before releasing it",
                    )
                )
        return blockers

    # -- reads ----------------------------------------------------------------------------
    def _describe(
        self, operation: str, result_key: str, name: str, *values: str, extra: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        filters = [{"Name": name, "Values": list(values)}, *(extra or [])]
        return describe_all(self.ec2, operation, result_key, Filters=filters)

    def _referencing_groups(self, group_id: str) -> list[Blocker]:
        found: dict[str, dict[str, Any]] = {}
        for name in ("ip-permission.group-id", "egress.ip-permission.group-id"):
            for group in self._describe("describe_security_groups", "SecurityGroups", name, group_id):
                if group["GroupId"] != group_id:  # a group's reference to itself does not block it
                    found.setdefault(group["GroupId"], group)
        blockers = []
        for group in found.values():
            tags = from_list(group.get("Tags"))
            blockers.append(
                Blocker(
                    "ec2:security-group",
                    group["GroupId"],
                    "references",
                    owner_of(tags),
                    f"revoke its rules that reference {group_id}, or delete it" + by_whom(tags, " first"),
                    f"{group.get('GroupName', '')}: a rule allows traffic from/to {group_id}",
                )
            )
        return blockers

    def _load_balancers(self, kind: str, resource_id: str) -> list[Blocker]:
        elbv2 = self.session.client("elbv2", self.region)
        matched = []
        for lb in describe_all(elbv2, "describe_load_balancers", "LoadBalancers"):
            subnets = {z.get("SubnetId") for z in lb.get("AvailabilityZones", [])}
            if (
                (kind == "vpc" and lb.get("VpcId") == resource_id)
                or (kind == "subnet" and resource_id in subnets)
                or (kind == "security-group" and resource_id in lb.get("SecurityGroups", []))
            ):
                matched.append(lb)
        tags: dict[str, dict[str, str]] = {}
        arns = [lb["LoadBalancerArn"] for lb in matched]
        for start in range(0, len(arns), ELBV2_TAGS_PER_CALL):
            batch = arns[start : start + ELBV2_TAGS_PER_CALL]
            for description in elbv2.describe_tags(ResourceArns=batch)["TagDescriptions"]:
                tags[description["ResourceArn"]] = from_list(description.get("Tags"))
        blockers = []
        for lb in matched:
            lb_tags = tags.get(lb["LoadBalancerArn"], {})
            name = elb_name(lb["LoadBalancerArn"])
            blockers.append(
                Blocker(
                    "elbv2:load-balancer",
                    lb["LoadBalancerArn"],
                    lb.get("State", {}).get("Code", "?"),
                    owner_of(lb_tags, default=f"ELB {name}"),
                    controller_hint(lb_tags, "a load balancer", "delete it (its network interfaces go with it)"),
                    f"{lb.get('Type', '')} {lb.get('LoadBalancerName', '')}".strip(),
                )
            )
        return blockers + self._classic_load_balancers(kind, resource_id)

    def _classic_load_balancers(self, kind: str, resource_id: str) -> list[Blocker]:
        """Classic load balancers (the in-tree cloud provider's): their ENIs say only `ELB
        <name>`, so without listing them a foreign one would look like an ENI about to go."""
        elb = self.session.client("elb", self.region)
        matched = [
            lb
            for lb in describe_all(elb, "describe_load_balancers", "LoadBalancerDescriptions")
            if (kind == "vpc" and lb.get("VPCId") == resource_id)
            or (kind == "subnet" and resource_id in lb.get("Subnets", []))
            or (kind == "security-group" and resource_id in lb.get("SecurityGroups", []))
        ]
        names = [lb["LoadBalancerName"] for lb in matched]
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(names), ELBV2_TAGS_PER_CALL):
            for description in elb.describe_tags(LoadBalancerNames=names[start : start + ELBV2_TAGS_PER_CALL])[
                "TagDescriptions"
            ]:
                tags[description["LoadBalancerName"]] = from_list(description.get("Tags"))
        return [
            Blocker(
                "elb:load-balancer",
                name,
                "active",
                owner_of(tags.get(name, {}), default=f"ELB {name}"),
                controller_hint(
                    tags.get(name, {}), "a classic load balancer", "delete it (its network interfaces go with it)"
                ),
                "classic",
            )
            for name in names
        ]

    def _databases(self, kind: str, resource_id: str) -> list[Blocker]:
        rds = self.session.client("rds", self.region)
        blockers = []
        for db in describe_all(rds, "describe_db_instances", "DBInstances"):
            group = db.get("DBSubnetGroup") or {}
            subnets = {s.get("SubnetIdentifier") for s in group.get("Subnets", [])}
            groups = {g.get("VpcSecurityGroupId") for g in db.get("VpcSecurityGroups", [])}
            if (
                (kind == "vpc" and group.get("VpcId") == resource_id)
                or (kind == "subnet" and resource_id in subnets)
                or (kind == "security-group" and resource_id in groups)
            ):
                tags = from_list(db.get("TagList"))
                blockers.append(
                    Blocker(
                        "rds:db-instance",
                        db["DBInstanceIdentifier"],
                        db.get("DBInstanceStatus", "?"),
                        owner_of(tags, default="RDS"),
                        "delete the DB instance (its network interfaces go with it)" + by_whom(tags),
                        f"subnet group {group.get('DBSubnetGroupName', '?')}",
                    )
                )
        return blockers

    # -- one blocker per item ------------------------------------------------------------------
    def _subnet(self, subnet: dict[str, Any]) -> Blocker:
        tags = from_list(subnet.get("Tags"))
        return Blocker(
            "ec2:subnet",
            subnet["SubnetId"],
            subnet.get("State", "?"),
            owner_of(tags),
            "delete it once nothing is left in it" + by_whom(tags),
            f"{subnet.get('CidrBlock', '')} {subnet.get('AvailabilityZone', '')}".strip(),
        )

    def _nat(self, nat: dict[str, Any]) -> Blocker:
        tags = from_list(nat.get("Tags"))
        state = nat.get("State", "?")
        if state == "deleting":
            hint = (
                "being deleted: wait until it is `deleted` (about a minute); "
                "it holds its subnet and Elastic IP till then"
            )
        else:
            hint = "delete it and wait until it is `deleted` before releasing its Elastic IP" + by_whom(tags)
        addresses = ", ".join(
            a.get("PublicIp") or a.get("AllocationId", "") for a in nat.get("NatGatewayAddresses", [])
        )
        return Blocker(
            "ec2:nat-gateway",
            nat["NatGatewayId"],
            state,
            owner_of(tags),
            hint,
            f"subnet {nat.get('SubnetId')}" + (f", address {addresses}" if addresses else ""),
        )

    def _interface(self, eni: dict[str, Any], address: Mapping[str, Any] | None = None) -> Blocker:
        tags = from_list(eni.get("TagSet"))
        description = eni.get("Description", "") or ""
        interface_type = eni.get("InterfaceType", "interface")
        attachment = eni.get("Attachment") or {}
        instance = attachment.get("InstanceId")
        owner = owner_of(
            tags, description=description, interface_type=interface_type, requester=eni.get("RequesterId", "")
        )
        nat = NAT_DESCRIPTION.match(description)
        elb = ELB_DESCRIPTION.match(description)
        eks = EKS_DESCRIPTION.match(description)
        if nat or interface_type == "nat_gateway":
            hint = f"goes when NAT gateway {nat.group('nat') if nat else '(its owner)'} is `deleted`"
        elif elb:
            hint = f"goes when load balancer {elb.group('name')} is deleted"
        elif eks:
            hint = f"goes when EKS cluster {eks.group('cluster')} is deleted (EKS removes it some minutes later)"
        elif description.startswith("RDSNetworkInterface") or eni.get("RequesterId") == "amazon-rds":
            hint = "goes when the DB instance using it is deleted"
        elif instance:
            hint = f"goes when instance {instance} terminates (or detach it if it is a secondary interface)"
        elif eni.get("Status") == "available":
            hint = controller_hint(
                tags,
                "a detached interface",
                "delete it: nothing uses it",
                fallback="a detached interface left behind: delete it",
            )
        else:
            hint = "in use by an AWS service: delete what uses it" + by_whom(tags)
        if address is not None:
            hint = f"disassociate {address.get('PublicIp')} first, or " + hint
        detail = ", ".join(
            part
            for part in (
                f"type {interface_type}",
                f"status {eni.get('Status', '?')}",
                f"description {description!r}" if description else "",
                f"requester {eni['RequesterId']}" if eni.get("RequesterId") else "",
                f"attached to {instance}" if instance else "",
                f"tags {tag_text(tags)}" if tags else "",
            )
            if part
        )
        return Blocker("ec2:network-interface", eni["NetworkInterfaceId"], eni.get("Status", "?"), owner, hint, detail)

    def _instance(self, instance: dict[str, Any]) -> Blocker:
        tags = from_list(instance.get("Tags"))
        state = instance.get("State", {}).get("Name", "?")
        if state == "shutting-down":
            hint = "terminating: wait until it is `terminated`"
        elif "karpenter.sh/nodepool" in tags and not tags.get(TAG_PLAN):
            hint = (
                f"a node Karpenter launched for cluster {cluster_of(tags) or '?'} (NodePool "
                f"{tags['karpenter.sh/nodepool']}): `destroy` deletes the NodePools and sweeps it; "
                "terminate it by hand if the cluster is gone"
            )
        else:
            hint = controller_hint(tags, "an instance", "terminate it", fallback="terminate it" + by_whom(tags))
        return Blocker(
            "ec2:instance",
            instance["InstanceId"],
            state,
            owner_of(tags),
            hint,
            f"{instance.get('InstanceType', '')} in {instance.get('SubnetId', '?')}".strip(),
        )

    def _group(self, group: dict[str, Any]) -> Blocker:
        tags = from_list(group.get("Tags"))
        return Blocker(
            "ec2:security-group",
            group["GroupId"],
            "exists",
            owner_of(tags),
            controller_hint(tags, "a security group", "delete it", fallback="delete it" + by_whom(tags)),
            group.get("GroupName", ""),
        )

    def _gateway(self, igw: dict[str, Any], vpc_id: str) -> Blocker:
        tags = from_list(igw.get("Tags"))
        return Blocker(
            "ec2:internet-gateway",
            igw["InternetGatewayId"],
            "attached",
            owner_of(tags),
            "detach it (after the NAT gateways are deleted and their Elastic IPs released), then delete it"
            + by_whom(tags),
            f"attached to {vpc_id}",
        )


# -- a deletion refused with DependencyViolation ------------------------------------------------


def goes_by_itself(blocker: Blocker, plan: str, cluster: str, leaving: Collection[str] | None = None) -> bool:
    """Whether a blocker will go without anyone acting: it is already going (`deleting`,
    `shutting-down`), it is this plan's own (another node of the run deletes it: in a
    destroy every one, in an apply those in `leaving`), it is an interface EKS made for this
    plan's cluster, or an interface an AWS service holds for a parent that is listed itself
    (or already gone)."""
    if blocker.state in ("deleting", "shutting-down"):
        return True
    if blocker.owner.startswith(f"{TAG_PLAN}={plan} ") and not blocker.owner.endswith(" key=?"):
        # A node of this run deletes it (without a key it is no node's: a restore drill).
        return leaving is None or blocker.owner.rsplit(" key=", 1)[-1] in leaving
    if blocker.owner == f"created by EKS for cluster {cluster}":
        return True  # EKS removes its control-plane interfaces some minutes after the cluster
    # Anything else the cluster's controllers made was swept before the subnets, groups and
    # VPC are deleted: one still there (and not already going) will not go by itself; the
    # next destroy sweeps it again.
    if blocker.kind == "ec2:network-interface":
        return (
            blocker.owner.startswith(("NAT gateway", "ELB ", "RDS", "VPC CNI of instance"))
            or "attached to" in blocker.detail
        )
    return False


def explain_refusal(
    session: Any,
    resource_type: str,
    resource_id: str,
    *,
    plan: str,
    cluster: str,
    key: str,
    error: Exception,
    leaving: Collection[str] | None = None,
) -> Exception:
    """The error to raise for a deletion AWS refused because something still uses the
    resource: temporary (retried, naming what it waits for) while every blocker goes by
    itself, permanent at once, naming the blockers and what to do, when one never will."""
    code = getattr(error, "code", None)
    try:
        blockers = find_blockers(session, resource_type, resource_id)
    except Exception:
        return error
    described = format_blockers(blockers, f"{resource_type} {resource_id}")
    stuck = [b for b in blockers if not goes_by_itself(b, plan, cluster, leaving)]
    if not stuck:
        return TemporaryError(
            described, key=key, code=code, delay=5.0, hint="waiting for those to go; the step retries"
        )
    staying = [b for b in stuck if b.owner.startswith(f"{TAG_PLAN}={plan} ")]
    if staying:
        return PermanentError(
            format_blockers(stuck, f"{resource_type} {resource_id}"),
            key=key,
            code=code,
            hint=f"plan {plan} keeps {', '.join(b.owner.rsplit(' key=', 1)[-1] for b in staying)} in it, and AWS deletes "
            f"no {resource_type} something still uses: keep the {resource_type} in the plan, or move those off it first",
        )
    return PermanentError(
        format_blockers(stuck, f"{resource_type} {resource_id}"),
        key=key,
        code=code,
        hint=f"these do not belong to plan {plan} or cluster {cluster}, so destroy leaves them alone: remove or move "
        "them as each line says, then run destroy again (everything else that could go is deleted)",
    )
