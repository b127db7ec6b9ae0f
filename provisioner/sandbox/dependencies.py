"""The dependency checks AWS makes on delete and moto 5.2 skips, so a teardown order that
works in the sandbox also works on AWS (issue #7).

Each check runs where a client's call enters moto (the EC2 response handlers; RDS's backend,
which nothing inside moto calls), so moto's own internal deletes stay possible: DeleteVpc
removing the default group, TerminateInstances removing its interfaces, fidelity.py freeing a
deleted NAT gateway's interface. Errors are moto's exception classes with AWS's code and
message, so boto3 sees what it sees on AWS (HTTP 400):

- DeleteSubnet -> DependencyViolation "The subnet 'subnet-..' has dependencies and cannot be
  deleted." while the subnet holds a NAT gateway that is not `deleted` (`deleting` ones too),
  a network interface, an instance that is not `terminated`, an ELBv2 load balancer, or a DB
  instance placed there by its subnet group (RDS's own interfaces live in the subnet).
- DeleteSecurityGroup -> DependencyViolation "resource sg-.. has a dependent object" while
  another group's ingress or egress rule references it (a self-reference does not count), or
  a network interface, an instance that is not terminated, an ELBv2 load balancer or an RDS DB
  instance (VpcSecurityGroups) uses it.
- DeleteVpc -> DependencyViolation "The vpc 'vpc-..' has dependencies and cannot be deleted."
  while an internet gateway is attached or a non-default security group remains (moto itself
  checks subnets and route tables).
- DetachInternetGateway -> DependencyViolation "Network vpc-.. has some mapped public
  address(es). Please unmap those public address(es) before detaching the gateway." while an
  Elastic IP is associated with an interface in the VPC (a NAT gateway's until it is deleted).
- ReleaseAddress of an Elastic IP a NAT gateway holds (until the gateway is `deleted`) ->
  AuthFailure "You do not have permission to access the specified resource.": the misleading
  answer EC2 really gives, since the address sits on an interface the NAT service owns (seen
  by many teardown tools: genevieve/leftovers#33, eformat/sno-for-100#5). Any other address
  still associated in a non-default VPC -> InvalidIPAddress.InUse, as the ReleaseAddress API
  reference says. moto silently disassociates in both cases.
- DeleteNetworkInterface -> InvalidParameterValue "Network interface 'eni-..' is currently in
  use." for an interface attached to an instance or held by a NAT gateway.
- DeleteDBSubnetGroup -> InvalidDBSubnetGroupStateFault while a DB instance or cluster uses it.
- DeleteDBParameterGroup -> InvalidDBParameterGroupState while a DB instance uses it.

Lifecycle fixes without which those checks could never pass, or would mislead:

- A NAT gateway's interface looks as on AWS (type `nat_gateway`, requester-managed, `in-use`,
  no security groups, described "Interface for NAT Gateway nat-.."); fidelity.py deletes it
  when the gateway reaches `deleted`.
- Interfaces that RunInstances creates are deleted when the instance terminates: AWS defaults
  DeleteOnTermination to true for them, moto to false, so their subnet could never go. An
  interface attached by id survives termination detached and `available`, as on AWS.
  Terminating a terminated instance stays a no-op.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_applied = False
_lock = threading.Lock()

# States in which a NAT gateway no longer holds its interface or Elastic IP.
NAT_GONE = ("deleted", "failed")


def apply_patches() -> None:
    """Install every check; idempotent (once per process), like fidelity.apply_patches."""
    global _applied
    with _lock:
        if _applied:
            return
        _patch_nat_interfaces()
        _patch_instance_interfaces()
        _patch_ec2_deletes()
        _patch_rds_subnet_groups()
        _applied = True


# -- what depends on what (read from moto's in-process backends) ------------------------------


def _peer(backends: Any, account: str, region: str) -> Any:
    """Another service's backend for the same account and region, or None if it was never
    used (plain dict lookups: indexing a moto BackendDict would create one)."""
    by_account = dict.get(backends, account)
    return dict.get(by_account, region) if by_account is not None else None


def _load_balancers(ec2: Any) -> list[Any]:
    from moto.elbv2.models import elbv2_backends

    backend = _peer(elbv2_backends, ec2.account_id, ec2.region_name)
    return list(backend.load_balancers.values()) if backend is not None else []


def _rds(ec2: Any) -> Any:
    from moto.rds.models import rds_backends

    return _peer(rds_backends, ec2.account_id, ec2.region_name)


def _db_instances(ec2: Any) -> list[Any]:
    backend = _rds(ec2)
    return list(backend.databases.values()) if backend is not None else []


def _live_nat_gateways(ec2: Any) -> list[Any]:
    # fidelity.py moves `deleting` gateways on to `deleted` when they are described.
    ec2.describe_nat_gateways(None, None)
    return [nat for nat in ec2.nat_gateways.values() if nat.state not in NAT_GONE]


def _live_instances(ec2: Any) -> list[Any]:
    return [instance for instance in ec2.all_instances() if instance.state != "terminated"]


def _group_ids(groups: Any) -> set[str]:
    return {group if isinstance(group, str) else group.id for group in groups or []}


def _db_subnet_ids(db: Any) -> set[str]:
    """The subnets a DB instance's interfaces sit in: its AZ's subnet of the group (any of
    them for Multi-AZ, whose standby may be in any other AZ of the group)."""
    group = getattr(db, "db_subnet_group", None)
    subnets = list(getattr(group, "_subnets", None) or [])
    if not getattr(db, "multi_az", False):
        in_az = [s for s in subnets if s.availability_zone == getattr(db, "availability_zone", None)]
        subnets = in_az or subnets
    return {subnet.id for subnet in subnets}


def subnet_dependents(ec2: Any, subnet_id: str) -> list[str]:
    """What keeps a subnet from being deleted, as `kind id` strings."""
    found = [f"nat-gateway {nat.id}" for nat in _live_nat_gateways(ec2) if nat.subnet_id == subnet_id]
    found += [f"network-interface {eni.id}" for eni in ec2.enis.values() if eni.subnet.id == subnet_id]
    found += [f"instance {i.id}" for i in _live_instances(ec2) if i.subnet_id == subnet_id]
    found += [f"load-balancer {lb.arn}" for lb in _load_balancers(ec2) if subnet_id in {s.id for s in lb.subnets}]
    found += [
        f"db-instance {db.db_instance_identifier}" for db in _db_instances(ec2) if subnet_id in _db_subnet_ids(db)
    ]
    return found


def security_group_dependents(ec2: Any, group: Any) -> list[str]:
    """What keeps a security group from being deleted, as `kind id` strings."""
    found = []
    for groups in ec2.groups.values():
        for other in list(groups.values()):
            if other.id == group.id:
                continue  # a group's rules may name itself; that does not block its deletion
            for rule in [*other.ingress_rules, *other.egress_rules]:
                source = rule.source_group or {}
                if source.get("GroupId") == group.id or (
                    not source.get("GroupId") and source.get("GroupName") == group.name and other.vpc_id == group.vpc_id
                ):
                    found.append(f"security-group {other.id}")
                    break
    found += [f"network-interface {eni.id}" for eni in ec2.enis.values() if group.id in _group_ids(eni.group_set)]
    found += [f"instance {i.id}" for i in _live_instances(ec2) if group.id in _group_ids(i.security_groups)]
    found += [f"load-balancer {lb.arn}" for lb in _load_balancers(ec2) if group.id in _group_ids(lb.security_groups)]
    found += [
        f"db-instance {db.db_instance_identifier}"
        for db in _db_instances(ec2)
        if group.id in _group_ids(getattr(db, "vpc_security_group_ids", None))
    ]
    return found


def vpc_dependents(ec2: Any, vpc_id: str) -> list[str]:
    """What keeps a VPC from being deleted beyond the subnets and route tables moto checks."""
    found = [
        f"internet-gateway {igw.id}"
        for igw in ec2.internet_gateways.values()
        if igw.vpc is not None and igw.vpc.id == vpc_id
    ]
    found += [f"security-group {g.id}" for g in ec2.groups.get(vpc_id, {}).values() if g.name != "default"]
    return found


def _nat_holding(ec2: Any, address: Any) -> Any:
    if address.eni is None:
        return None
    for nat in _live_nat_gateways(ec2):
        if getattr(nat, "_eni", None) is address.eni:
            return nat
    return None


def _address(ec2: Any, public_ip: str | None, allocation_id: str | None) -> Any:
    if public_ip:
        return ec2.address_by_ip([public_ip])[0]
    return ec2.address_by_allocation([allocation_id])[0]


# -- the patches ----------------------------------------------------------------------------


def _patch_nat_interfaces() -> None:
    from moto.ec2.models.nat_gateways import NatGatewayBackend

    original = NatGatewayBackend.create_nat_gateway

    def create_nat_gateway(self: Any, *args: Any, **kwargs: Any) -> Any:
        nat = original(self, *args, **kwargs)
        eni = nat._eni
        # What DescribeNetworkInterfaces shows for a NAT gateway's interface on AWS.
        eni.description = f"Interface for NAT Gateway {nat.id}"
        eni.interface_type = "nat_gateway"
        eni.requester_managed = True
        eni.status = "in-use"
        eni._group_set = []
        return nat

    NatGatewayBackend.create_nat_gateway = create_nat_gateway  # type: ignore[method-assign]


def _patch_instance_interfaces() -> None:
    from moto.ec2.models.instances import Instance

    original_prep = Instance.prep_nics
    original_terminate = Instance.terminate

    def prep_nics(self: Any, nic_spec: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        before = set(self.ec2_backend.enis)
        explicit = {int(spec.get("DeviceIndex", 0)): spec.get("DeleteOnTermination") for spec in nic_spec or []}
        original_prep(self, nic_spec, *args, **kwargs)
        for index, eni in self.nics.items():
            # RunInstances' own interfaces default to DeleteOnTermination=true on AWS.
            if eni.id not in before and explicit.get(index) not in (False, "false"):
                eni.delete_on_termination = True

    def terminate(self: Any) -> Any:
        if self.state == "terminated":
            return copy.copy(self._state)
        previous = original_terminate(self)
        for eni in self.nics.values():
            if eni.instance is self and eni.id in self.ec2_backend.enis:
                # Kept (DeleteOnTermination false): AWS detaches it; it is `available` again.
                eni.instance = None
                eni.attachment_id = None
                eni.attach_time = None
                eni.status = "available"
        return previous

    Instance.prep_nics = prep_nics  # type: ignore[method-assign]
    Instance.terminate = terminate  # type: ignore[method-assign]


def _patch_ec2_deletes() -> None:
    from moto.ec2.exceptions import DependencyViolationError, EC2ClientError, InvalidSecurityGroupNotFoundError
    from moto.ec2.responses.elastic_ip_addresses import ElasticIPAddresses
    from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
    from moto.ec2.responses.internet_gateways import InternetGateways
    from moto.ec2.responses.security_groups import SecurityGroups
    from moto.ec2.responses.subnets import Subnets
    from moto.ec2.responses.vpcs import VPCs

    def guard(cls: Any, name: str, check: Any) -> None:
        original = getattr(cls, name)

        def handler(self: Any) -> Any:
            check(self, self.ec2_backend)
            return original(self)

        handler.__name__ = name
        handler.__doc__ = original.__doc__
        setattr(cls, name, handler)

    def check_subnet(response: Any, ec2: Any) -> None:
        subnet_id = response._get_param("SubnetId")
        ec2.get_subnet(subnet_id)  # InvalidSubnetID.NotFound first, as AWS answers
        if subnet_dependents(ec2, subnet_id):
            raise DependencyViolationError(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")

    def check_security_group(response: Any, ec2: Any) -> None:
        if response._get_param("DryRun"):
            return
        group_id = response._get_param("GroupId")
        name = response._get_param("GroupName")
        group = (
            ec2.get_security_group_from_id(group_id)
            if group_id
            else (ec2.get_security_group_by_name_or_id(name) if name else None)
        )
        if group is None:
            if group_id or name:
                raise InvalidSecurityGroupNotFoundError(group_id or name)
            return
        if security_group_dependents(ec2, group):
            raise DependencyViolationError(f"resource {group.id} has a dependent object")

    def check_vpc(response: Any, ec2: Any) -> None:
        vpc_id = response._get_param("VpcId")
        if vpc_id not in ec2.vpcs:
            return  # moto answers InvalidVpcID.NotFound
        if ec2.describe_subnets(filters={"vpc-id": vpc_id}):
            return  # moto's own check answers the same error
        if vpc_dependents(ec2, vpc_id):
            raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")

    def check_detach_gateway(response: Any, ec2: Any) -> None:
        if response._get_param("DryRun"):
            return
        vpc_id = response._get_param("VpcId")
        _live_nat_gateways(ec2)  # let `deleting` NAT gateways that are due free their addresses
        mapped = [a for a in ec2.addresses if a.eni is not None and a.eni.subnet.vpc_id == vpc_id]
        if mapped:
            raise DependencyViolationError(
                f"Network {vpc_id} has some mapped public address(es). "
                "Please unmap those public address(es) before detaching the gateway."
            )

    def check_release(response: Any, ec2: Any) -> None:
        if response._get_param("DryRun"):
            return
        public_ip, allocation_id = response._get_param("PublicIp"), response._get_param("AllocationId")
        if not (public_ip or allocation_id):
            return  # moto answers MissingParameter
        address = _address(ec2, public_ip, allocation_id)
        if _nat_holding(ec2, address) is not None:
            raise EC2ClientError("AuthFailure", "You do not have permission to access the specified resource.")
        eni = address.eni
        instance = address.instance or (eni.instance if eni is not None else None)
        vpc = ec2.vpcs.get(eni.subnet.vpc_id) if eni is not None else None
        if (eni is not None or instance is not None) and not (vpc is not None and vpc.is_default):
            raise EC2ClientError("InvalidIPAddress.InUse", f"Address {address.public_ip} is in use.")

    def check_interface(response: Any, ec2: Any) -> None:
        if response._get_param("DryRun"):
            return
        eni_id = response._get_param("NetworkInterfaceId")
        eni = ec2.get_network_interface(eni_id)
        attached = eni.instance is not None and eni.instance.state != "terminated"
        held = any(getattr(nat, "_eni", None) is eni for nat in _live_nat_gateways(ec2))
        if attached or held:
            raise EC2ClientError("InvalidParameterValue", f"Network interface '{eni_id}' is currently in use.")

    guard(Subnets, "delete_subnet", check_subnet)
    guard(SecurityGroups, "delete_security_group", check_security_group)
    guard(VPCs, "delete_vpc", check_vpc)
    guard(InternetGateways, "detach_internet_gateway", check_detach_gateway)
    guard(ElasticIPAddresses, "release_address", check_release)
    guard(ElasticNetworkInterfaces, "delete_network_interface", check_interface)


def _patch_rds_subnet_groups() -> None:
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    original = RDSBackend.delete_subnet_group

    def delete_subnet_group(self: Any, subnet_name: str) -> Any:
        name = (subnet_name or "").lower()
        users = [
            db.db_instance_identifier
            for db in self.databases.values()
            if getattr(getattr(db, "db_subnet_group", None), "name", None) == name
        ]
        users += [
            c.db_cluster_identifier
            for c in self.clusters.values()
            if str(getattr(c, "db_subnet_group_name", "") or "").lower() == name
        ]
        if users:
            raise RDSClientError(
                "InvalidDBSubnetGroupStateFault",
                f"Cannot delete the subnet group '{subnet_name}' because at least one database "
                f"instance: {users[0]} is still using it.",
            )
        return original(self, subnet_name)

    RDSBackend.delete_subnet_group = delete_subnet_group  # type: ignore[method-assign]

    def modify_db_subnet_group(self: Any, subnet_name: str, description: str | None, subnets: list[Any]) -> Any:
        # moto 5.2 pops the group from its table and never puts it back: the modify answers,
        # then the group, and with it its tags, is gone. AWS changes it in place, and refuses
        # subnets that span fewer than two AZs or more than one VPC.
        from moto.rds.exceptions import DBSubnetGroupNotFoundError

        group = self.subnet_groups.get(subnet_name)
        if group is None:
            raise DBSubnetGroupNotFoundError(subnet_name)
        if len({s.availability_zone for s in subnets}) < 2:
            raise RDSClientError(
                "DBSubnetGroupDoesNotCoverEnoughAZs",
                "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. "
                "Current AZ coverage: "
                + ", ".join(sorted({s.availability_zone for s in subnets}))
                + ". Add subnets to cover at least 2 AZs.",
            )
        if len({s.vpc_id for s in subnets}) > 1:
            raise RDSClientError("InvalidSubnet", "Subnets in a DB subnet group must all be in the same VPC.")
        group.subnets = subnets
        group.vpc_id = subnets[0].vpc_id
        if description is not None:
            group.description = description
        return group

    RDSBackend.modify_db_subnet_group = modify_db_subnet_group  # type: ignore[method-assign]

    original_parameters = RDSBackend.delete_db_parameter_group

    def delete_db_parameter_group(self: Any, db_parameter_group_name: str) -> Any:
        # AWS refuses while an instance uses the group; moto deletes it and then fails every
        # DescribeDBInstances of that instance with a 500.
        users = [
            db.db_instance_identifier
            for db in self.databases.values()
            if getattr(db, "db_parameter_group_name", None) == db_parameter_group_name
        ]
        if users:
            raise RDSClientError(
                "InvalidDBParameterGroupState",
                f"One or more database instances are still members of this parameter group "
                f"{db_parameter_group_name}, so the group cannot be deleted (in use by {users[0]}).",
            )
        return original_parameters(self, db_parameter_group_name)

    RDSBackend.delete_db_parameter_group = delete_db_parameter_group  # type: ignore[method-assign]
