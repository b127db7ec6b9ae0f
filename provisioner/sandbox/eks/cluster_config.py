"""EKS's checks on CreateCluster and UpdateClusterConfig, what EKS fills in on a new cluster
(its security group, endpoint defaults, service CIDR), and the updates each config kind starts."""

from __future__ import annotations

import ipaddress
import logging
import random
import re
import uuid
from typing import Any

from provisioner.sandbox.eks.access_entries import bootstrap_access
from provisioner.sandbox.eks.backends import ec2_backend
from provisioner.sandbox.eks.catalog import AUTH_MODES, LOG_TYPES, PLATFORM_VERSIONS, SUPPORTED_VERSIONS
from provisioner.sandbox.eks.exceptions import invalid, require
from provisioner.sandbox.eks.iam import find_role, trusts
from provisioner.sandbox.eks.lifecycle import new_update, sync_cluster_object, update_param
from provisioner.sandbox.eks.models import ClusterState, Update
from provisioner.sandbox.eks.protocol import Request

log = logging.getLogger(__name__)


def validate_create_cluster(req: Request, body: dict[str, Any]) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """EKS's checks on CreateCluster before anything exists. Returns (VPC id, access config,
    upgrade policy)."""
    require(body, "name", "roleArn", "resourcesVpcConfig")
    name = str(body["name"])
    if not re.fullmatch(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}", name):
        raise invalid(
            "The cluster name must start with an alphanumeric character and contain only "
            "alphanumeric characters, hyphens and underscores (100 at most).",
            cluster=name,
        )
    version = body.get("version")
    if version and version not in SUPPORTED_VERSIONS:
        raise invalid("unsupported Kubernetes version", cluster=name)

    role_arn = str(body["roleArn"])
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):role/.+", role_arn)
    if match is None:
        raise invalid(f"Invalid Role Arn: '{role_arn}'", cluster=name)
    if match.group(1) == req.account:
        role = find_role(req.account, req.region, role_arn)
        if role is None or not trusts(role, "eks.amazonaws.com"):
            raise invalid(
                f"Role with arn: {role_arn}, could not be assumed because it does not exist or the "
                "trusted entity is not correct",
                cluster=name,
            )

    vpc_config = body.get("resourcesVpcConfig") or {}
    vpc_id = check_subnets(req, vpc_config.get("subnetIds") or [], name, two_azs=True)
    _check_security_groups(req, vpc_config.get("securityGroupIds") or [], vpc_id, name)
    if vpc_config.get("endpointPublicAccess") is False and vpc_config.get("endpointPrivateAccess") is False:
        raise invalid("Cluster must have at least one of private or public endpoint access enabled", cluster=name)
    if vpc_config.get("publicAccessCidrs") is not None:
        _check_public_cidrs(vpc_config["publicAccessCidrs"], name)

    access = body.get("accessConfig") or {}
    mode = access.get("authenticationMode") or "API_AND_CONFIG_MAP"
    if mode not in AUTH_MODES:
        raise invalid(f"Unsupported authentication mode: {mode}", cluster=name)
    bootstrap = access.get("bootstrapClusterCreatorAdminPermissions")
    bootstrap = True if bootstrap is None else bool(bootstrap)
    if mode == "CONFIG_MAP" and not bootstrap:
        # With only the ConfigMap, nobody could reach the cluster to edit it.
        raise invalid(
            "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP",
            cluster=name,
        )
    support = (body.get("upgradePolicy") or {}).get("supportType") or "EXTENDED"
    if support not in ("STANDARD", "EXTENDED"):
        raise invalid(f"Unsupported supportType: {support}", cluster=name)
    if body.get("encryptionConfig"):
        validate_encryption_config(req, body["encryptionConfig"])
    if body.get("logging"):
        _merge_logging(body["logging"], [], name)
    return (
        vpc_id,
        {"bootstrapClusterCreatorAdminPermissions": bootstrap, "authenticationMode": mode},
        {"supportType": support},
    )


def check_subnets(req: Request, subnet_ids: list[str], cluster: str, two_azs: bool) -> str | None:
    ec2 = ec2_backend(req.account, req.region)
    subnets = []
    for subnet_id in subnet_ids:
        try:
            subnets.append(ec2.get_subnet(subnet_id))
        except Exception:
            raise invalid(f"The subnet ID '{subnet_id}' does not exist", cluster=cluster) from None
    if two_azs and len({s.availability_zone for s in subnets}) < 2:
        raise invalid("Subnets specified must be in at least two different AZs", cluster=cluster)
    vpcs = {s.vpc_id for s in subnets}
    if len(vpcs) > 1:
        raise invalid("Subnets specified must all be in the same VPC", cluster=cluster)
    return next(iter(vpcs), None)


def subnet_zones(req: Request, subnet_ids: list[str]) -> frozenset[str]:
    ec2 = ec2_backend(req.account, req.region)
    zones = set()
    for subnet_id in subnet_ids:
        try:
            zones.add(ec2.get_subnet(subnet_id).availability_zone)
        except Exception:
            continue
    return frozenset(zones)


def _check_security_groups(req: Request, group_ids: list[str], vpc_id: str | None, cluster: str) -> None:
    ec2 = ec2_backend(req.account, req.region)
    for group_id in group_ids:
        group = ec2.get_security_group_from_id(group_id)
        if group is None:
            raise invalid(f"The security group '{group_id}' does not exist", cluster=cluster)
        if vpc_id and group.vpc_id != vpc_id:
            raise invalid(f"Security group {group_id} is not in the VPC of the subnets ({vpc_id})", cluster=cluster)


_PRIVATE_NETS = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16")
]


def _check_public_cidrs(cidrs: list[str], cluster: str) -> None:
    """publicAccessCidrs must be canonical public IPv4 blocks."""
    bad = []
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            bad.append(cidr)
            continue
        if any(network.overlaps(private) for private in _PRIVATE_NETS) and network.prefixlen > 0:
            bad.append(cidr)
    if bad:
        raise invalid(f"The following CIDRs are invalid in publicAccessCidrs: [{', '.join(bad)}]", cluster=cluster)


def validate_encryption_config(req: Request, config: Any) -> list[dict[str, Any]]:
    if not isinstance(config, list) or len(config) != 1:
        raise invalid("Exactly one encryptionConfig is supported")
    item = config[0] or {}
    if item.get("resources") != ["secrets"]:
        raise invalid("Only 'secrets' may be encrypted: encryptionConfig.resources must be [\"secrets\"]")
    key_arn = (item.get("provider") or {}).get("keyArn")
    if not key_arn:
        raise invalid("encryptionConfig.provider.keyArn is required")
    match = re.fullmatch(r"arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)/.+", str(key_arn))
    if match is None:
        raise invalid(f"Key ARN {key_arn} is not a valid KMS key ARN")
    if match.group(1) != req.region:
        raise invalid(f"Key {key_arn} must be in the cluster's region {req.region}")
    if match.group(2) == req.account:
        from moto.kms.models import kms_backends

        try:
            key = kms_backends[req.account][req.region].describe_key(str(key_arn))
        except Exception:
            raise invalid(f"Key {key_arn} not found") from None
        if (
            getattr(key, "key_spec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
            or getattr(key, "key_state", "Enabled") != "Enabled"
        ):
            raise invalid(f"Key {key_arn} must be an enabled symmetric key")
    return [{"resources": ["secrets"], "provider": {"keyArn": str(key_arn)}}]


def complete_cluster(state: ClusterState, cluster: Any, body: dict[str, Any], vpc_id: str | None) -> None:
    """Give moto's new cluster what EKS reports for one: endpoint defaults, the VPC, its own
    security group, endpoint, OIDC issuer, service CIDR, platform version, logging groups."""
    requested = body.get("resourcesVpcConfig") or {}
    vpc = {
        "subnetIds": list(requested.get("subnetIds") or []),
        "securityGroupIds": list(requested.get("securityGroupIds") or []),
        "endpointPublicAccess": requested.get("endpointPublicAccess", True) is not False,
        "endpointPrivateAccess": bool(requested.get("endpointPrivateAccess", False)),
        "publicAccessCidrs": list(requested.get("publicAccessCidrs") or ["0.0.0.0/0"]),
    }
    if vpc_id:
        vpc["vpcId"] = vpc_id
        group_id = _create_cluster_security_group(state, vpc_id)
        if group_id:
            vpc["clusterSecurityGroupId"] = group_id
    cluster.resources_vpc_config = vpc
    token = uuid.uuid4().hex.upper()
    cluster.endpoint = f"https://{token}.gr7.{state.region}.eks.amazonaws.com"
    cluster.identity = {"oidc": {"issuer": f"https://oidc.eks.{state.region}.amazonaws.com/id/{token}"}}
    network = dict(body.get("kubernetesNetworkConfig") or {})
    network.setdefault("ipFamily", "ipv4")
    if not network.get("serviceIpv4Cidr"):
        # EKS picks 10.100.0.0/16, or 172.20.0.0/16 when the VPC itself is in 10.0.0.0/8.
        network["serviceIpv4Cidr"] = "172.20.0.0/16" if _vpc_in_ten(state, vpc_id) else "10.100.0.0/16"
    cluster.kubernetes_network_config = network
    cluster.platformVersion = PLATFORM_VERSIONS.get(str(cluster.version), "eks.1")
    cluster.logging = {"clusterLogging": _merge_logging((body.get("logging") or {}), [], state.name)}
    cluster.encryption_config = _encryption_config(body.get("encryptionConfig"))
    sync_cluster_object(state)


def _encryption_config(config: Any) -> list[dict[str, Any]]:
    """The encryptionConfig EKS reports for an (already validated) CreateCluster request."""
    if not config:
        return []
    item = config[0]
    return [{"resources": ["secrets"], "provider": {"keyArn": item["provider"]["keyArn"]}}]


def _vpc_in_ten(state: ClusterState, vpc_id: str | None) -> bool:
    if not vpc_id:
        return False
    try:
        vpc = ec2_backend(state.account, state.region).get_vpc(vpc_id)
        network = ipaddress.ip_network(vpc.cidr_block)
        return isinstance(network, ipaddress.IPv4Network) and network.subnet_of(ipaddress.IPv4Network("10.0.0.0/8"))
    except Exception:
        return False


def _create_cluster_security_group(state: ClusterState, vpc_id: str) -> str | None:
    """The security group EKS makes for the control plane ENIs and managed nodes: tagged with the
    cluster, allowing all traffic from itself, deleted with the cluster."""
    ec2 = ec2_backend(state.account, state.region)
    group_name = f"eks-cluster-sg-{state.name}-{random.randint(10**9, 10**10 - 1)}"
    try:
        group = ec2.create_security_group(
            name=group_name,
            description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, "
            "as well as any managed workloads.",
            vpc_id=vpc_id,
            tags={
                "Name": group_name,
                f"kubernetes.io/cluster/{state.name}": "owned",
                "aws:eks:cluster-name": state.name,
            },
        )
        ec2.authorize_security_group_ingress(
            group.id, "-1", None, None, [], source_groups=[{"GroupId": group.id}], vpc_id=vpc_id
        )
    except Exception:
        log.exception("sandbox: cannot create the cluster security group for %s", state.name)
        return None
    state.security_group_id = group.id
    return str(group.id)


def _merge_logging(request: dict[str, Any], current: list[dict[str, Any]], cluster: str) -> list[dict[str, Any]]:
    """EKS's logging groups after applying `request` to `current`: one enabled group, one
    disabled group, each listing its types in EKS's order."""
    enabled = {t for group in current if group.get("enabled") for t in group.get("types", [])}
    for group in request.get("clusterLogging") or []:
        for log_type in group.get("types") or []:
            if log_type not in LOG_TYPES:
                raise invalid(f"Unknown log type {log_type}; valid types are {', '.join(LOG_TYPES)}", cluster=cluster)
            if group.get("enabled"):
                enabled.add(log_type)
            else:
                enabled.discard(log_type)
    groups = []
    if enabled:
        groups.append({"types": [t for t in LOG_TYPES if t in enabled], "enabled": True})
    if len(enabled) < len(LOG_TYPES):
        groups.append({"types": [t for t in LOG_TYPES if t not in enabled], "enabled": False})
    return groups


# -- cluster updates


def endpoint_update(state: ClusterState, cluster: Any, request: dict[str, Any]) -> Update:
    vpc = cluster.resources_vpc_config
    public = bool(request.get("endpointPublicAccess", vpc.get("endpointPublicAccess", True)))
    private = bool(request.get("endpointPrivateAccess", vpc.get("endpointPrivateAccess", False)))
    cidrs = list(request.get("publicAccessCidrs") or vpc.get("publicAccessCidrs") or ["0.0.0.0/0"])
    if not public and not private:
        raise invalid("Cluster must have at least one of private or public endpoint access enabled", cluster=state.name)
    if request.get("publicAccessCidrs") is not None:
        _check_public_cidrs(request["publicAccessCidrs"], state.name)
    if (public, private, cidrs) == (
        vpc.get("endpointPublicAccess"),
        vpc.get("endpointPrivateAccess"),
        vpc.get("publicAccessCidrs"),
    ):
        raise invalid(
            f"Cluster is already at the desired configuration with endpointPrivateAccess: {str(private).lower()} , "
            f"endpointPublicAccess: {str(public).lower()}, and Public Endpoint Restrictions: [{', '.join(cidrs)}]",
            cluster=state.name,
        )
    params = []
    if "endpointPublicAccess" in request:
        params.append(update_param("EndpointPublicAccess", public))
    if "endpointPrivateAccess" in request:
        params.append(update_param("EndpointPrivateAccess", private))
    if "publicAccessCidrs" in request:
        params.append(update_param("PublicAccessCidrs", cidrs))

    def apply() -> None:
        vpc.update(endpointPublicAccess=public, endpointPrivateAccess=private, publicAccessCidrs=cidrs)

    return new_update(state, "EndpointAccessUpdate", params, "cluster_config_update", apply)


def vpc_update(req: Request, state: ClusterState, cluster: Any, request: dict[str, Any]) -> Update:
    vpc = cluster.resources_vpc_config
    params = []
    subnets = request.get("subnetIds")
    groups = request.get("securityGroupIds")
    if subnets is not None:
        if check_subnets(req, subnets, state.name, two_azs=True) != vpc.get("vpcId"):
            raise invalid("Subnets must be in the cluster's VPC", cluster=state.name)
        # EKS: all subnets must be in the same set of AZs as originally provided at creation,
        # at least one in each (EKS user guide, networking requirements for VPC and subnets).
        original = state.zones or subnet_zones(req, vpc.get("subnetIds") or [])
        requested = subnet_zones(req, subnets)
        if requested != original:
            outside, uncovered = sorted(requested - original), sorted(original - requested)
            problem = (
                f"subnets in {', '.join(outside)}, outside" if outside else f"no subnet in {', '.join(uncovered)}, one"
            )
            raise invalid(
                f"Provided subnets are not in the same set of Availability Zones as the cluster was created "
                f"with ({', '.join(sorted(original))}): {problem} of the cluster's Availability Zones",
                cluster=state.name,
            )
        params.append(update_param("Subnets", subnets))
    if groups is not None:
        _check_security_groups(req, groups, vpc.get("vpcId"), state.name)
        params.append(update_param("SecurityGroups", groups))

    def apply() -> None:
        if subnets is not None:
            vpc["subnetIds"] = list(subnets)
        if groups is not None:
            vpc["securityGroupIds"] = list(groups)

    return new_update(state, "VpcConfigUpdate", params, "cluster_config_update", apply)


def logging_update(state: ClusterState, cluster: Any, request: dict[str, Any]) -> Update:
    current = (cluster.logging or {}).get("clusterLogging") or []
    merged = _merge_logging(request, current, state.name)
    if merged == _merge_logging({}, current, state.name):
        raise invalid("No changes needed for the logging config provided", cluster=state.name)

    def apply() -> None:
        cluster.logging = {"clusterLogging": merged}

    return new_update(
        state,
        "LoggingUpdate",
        [update_param("ClusterLogging", request.get("clusterLogging") or [])],
        "cluster_config_update",
        apply,
    )


def access_config_update(state: ClusterState, cluster: Any, request: dict[str, Any]) -> Update:
    current = state.access_config.get("authenticationMode", "API_AND_CONFIG_MAP")
    mode = request.get("authenticationMode")
    if mode not in AUTH_MODES:
        raise invalid(f"Unsupported authentication mode: {mode}", cluster=state.name)
    # EKS moves CONFIG_MAP -> API_AND_CONFIG_MAP -> API and never back.
    if AUTH_MODES.index(mode) <= AUTH_MODES.index(current):
        raise invalid(f"Unsupported authentication mode update from {current} to {mode}", cluster=state.name)

    def apply() -> None:
        state.access_config["authenticationMode"] = mode
        sync_cluster_object(state)
        bootstrap_access(state, cluster)  # EKS adds the creator's and nodes' entries now

    return new_update(
        state, "AccessConfigUpdate", [update_param("AuthenticationMode", mode)], "cluster_config_update", apply
    )


def upgrade_policy_update(state: ClusterState, cluster: Any, request: dict[str, Any]) -> Update:
    support = request.get("supportType")
    if support not in ("STANDARD", "EXTENDED"):
        raise invalid(f"Unsupported supportType: {support}", cluster=state.name)
    if (getattr(cluster, "upgrade_policy", None) or {}).get("supportType") == support:
        raise invalid(f"Cluster is already at the desired upgrade policy supportType: {support}", cluster=state.name)

    def apply() -> None:
        cluster.upgrade_policy = {"supportType": support}

    return new_update(
        state, "UpgradePolicyUpdate", [update_param("UpgradePolicy", support)], "cluster_config_update", apply
    )
