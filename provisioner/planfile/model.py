"""The plan file schema: frozen pydantic models, one per plan kind.

A plan file is one of three kinds, chosen by its `kind` field:

- `organization` (plans/organization.yaml): the management account's organization, OUs,
  member accounts, service control policies, GuardDuty, the organization trail and the
  account baseline;
- `shared` (plans/shared.yaml): the Shared Services account's registries and CI/CD access;
- `environment` (dev, staging, prod): one workload environment in its own account: network,
  EKS, RDS PostgreSQL and Karpenter.

Field-level rules live here (types, ranges, formats, unknown keys refused). Rules that look
across fields or files (CIDR containment and overlap, account references, the prod security
baseline) live in `checks.py`. Models are strict: `min_size: "2"` is a wrong type, not 2, and
`version: 1.30` (a YAML float) is refused with a hint to quote it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from provisioner.planfile.catalog import (
    CLOUDWATCH_RETENTION_DAYS,
    EKS_LOG_TYPES,
    KARPENTER_VERSIONS,
    SUPPORTED_EKS_VERSIONS,
    SUPPORTED_POSTGRES_MAJORS,
)


class Spec(BaseModel):
    """Base of every plan model: unknown keys refused, no coercion, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a valid CIDR block ({exc}); allowed: an IPv4 CIDR with its host bits zero, e.g. 10.0.0.0/16"
        ) from None
    return str(network)


def _eks_version(value: str) -> str:
    if value not in SUPPORTED_EKS_VERSIONS:
        raise ValueError(f"EKS version {value!r} is not supported; allowed: {', '.join(SUPPORTED_EKS_VERSIONS)}")
    return value


def _postgres_version(value: str) -> str:
    match = re.fullmatch(r"(\d+)\.(\d+)", value)
    if not match or int(match.group(1)) not in SUPPORTED_POSTGRES_MAJORS:
        majors = ", ".join(str(m) for m in SUPPORTED_POSTGRES_MAJORS)
        raise ValueError(f"PostgreSQL version {value!r} is not supported; allowed: MAJOR.MINOR with major {majors}")
    return value


def _retention(value: int) -> int:
    if value not in CLOUDWATCH_RETENTION_DAYS:
        raise ValueError(
            f"{value} days is not a CloudWatch Logs retention; allowed: "
            + ", ".join(str(d) for d in CLOUDWATCH_RETENTION_DAYS)
        )
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
AvailabilityZone = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")]
AccountRef = Annotated[str, StringConstraints(pattern=r"^([a-z][a-z0-9-]{0,62}|\d{12})$")]
RoleArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
Duration = Annotated[str, StringConstraints(pattern=r"^(\d+h)?(\d+m)?(\d+s)?$", min_length=2)]


def _tag_key(value: str) -> str:
    if value.lower().startswith("aws:"):
        raise ValueError(f"tag key {value!r} starts with `aws:`, which AWS reserves; allowed: any other key")
    # The ownership tags (SPEC section 5) are the tool's: a plan that set them would be
    # silently overridden, or, worse, claim another plan's resources.
    if value.lower().startswith("provisioner:") or value == "ManagedBy":
        raise ValueError(
            f"tag key {value!r} is one of the ownership tags provisioner sets itself "
            "(provisioner:plan, provisioner:key, ManagedBy); allowed: any other key"
        )
    return value


TagKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[\w .:/=+\-@]+$"),
    AfterValidator(_tag_key),
]
TagValue = Annotated[str, StringConstraints(max_length=256, pattern=r"^[\w .:/=+\-@]*$")]
Tags = dict[TagKey, TagValue]


class LockSpec(Spec):
    """Where runs of this plan take their lock: always a local lock, plus DynamoDB if named."""

    dynamodb_table: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_.-]{3,255}$")] | None = None
    lease_seconds: Annotated[int, Field(ge=60, le=86_400)] = 900


# ----------------------------------------------------------------------------- environment


class FlowLogsSpec(Spec):
    retention_days: Annotated[int, AfterValidator(_retention)] = 90
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"


class TransitAttachmentSpec(Spec):
    """Attachment of the environment's VPC to the Shared Services Transit Gateway (issue 18)."""

    attach: bool = False
    # The Transit Gateway route table the attachment is associated with: prod and nonprod
    # each reach the shared VPC, never each other.
    segment: Literal["prod", "nonprod"] = "nonprod"
    # Whether the shared VPC (CI runners) may reach the cluster's API (443) and nothing else.
    ci_access: bool = True


class NetworkSpec(Spec):
    """A /16-ish VPC with one public and one private subnet per AZ and a NAT gateway per AZ."""

    cidr: Cidr
    availability_zones: Annotated[list[AvailabilityZone], Field(min_length=2, max_length=6)]
    public_subnets: Annotated[list[Cidr], Field(min_length=2, max_length=6)]
    private_subnets: Annotated[list[Cidr], Field(min_length=2, max_length=6)]
    flow_logs: FlowLogsSpec = FlowLogsSpec()
    transit: TransitAttachmentSpec = TransitAttachmentSpec()


class EndpointAccessSpec(Spec):
    private: bool = True
    public: bool = False
    public_cidrs: list[Cidr] = []


class NodeGroupSpec(Spec):
    """The small managed node group that runs system workloads (Karpenter, CoreDNS)."""

    instance_types: Annotated[list[InstanceType], Field(min_length=1, max_length=10)]
    min_size: Annotated[int, Field(ge=2, le=100)] = 2
    desired_size: Annotated[int, Field(ge=2, le=100)] = 2
    max_size: Annotated[int, Field(ge=2, le=100)] = 3
    disk_size_gib: Annotated[int, Field(ge=20, le=16_384)] = 50
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"


class AddonVersionsSpec(Spec):
    """Pinned add-on versions; unset means EKS's default for the cluster version when the add-on
    is created or the cluster changes version, kept as it is otherwise (steps/eks/addons.py)."""

    vpc_cni: str | None = Field(default=None, alias="vpc-cni")
    kube_proxy: str | None = Field(default=None, alias="kube-proxy")
    coredns: str | None = None
    eks_pod_identity_agent: str | None = Field(default=None, alias="eks-pod-identity-agent")

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)


class EksSpec(Spec):
    version: Annotated[str, AfterValidator(_eks_version)]
    endpoint: EndpointAccessSpec = EndpointAccessSpec()
    logging: list[Literal[EKS_LOG_TYPES]] = list(EKS_LOG_TYPES)  # type: ignore[valid-type]
    admin_roles: list[RoleArn] = []
    addons: AddonVersionsSpec = AddonVersionsSpec()
    system_nodes: NodeGroupSpec
    # EKS's upgradePolicy.supportType. EKS defaults to EXTENDED, which bills extended support
    # once the version leaves standard support; the plan must ask for it.
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    # Retention of the control plane's log group /aws/eks/<cluster>/cluster.
    log_retention_days: Annotated[int, AfterValidator(_retention)] = 90


class DatabaseSpec(Spec):
    engine_version: Annotated[str, AfterValidator(_postgres_version)]
    instance_class: Annotated[str, StringConstraints(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")]
    multi_az: bool = True
    database_name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$")] = "app"
    master_username: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,15}$")] = "dbadmin"
    # The port the instance listens on. RDS for PostgreSQL accepts 1150-65535; FSBP RDS.23
    # flags the engine's default (5432), so the default here is not it (catalog.POSTGRES_DEFAULT_PORT).
    port: Annotated[int, Field(ge=1150, le=65_535)] = 5433
    allocated_storage_gib: Annotated[int, Field(ge=20, le=65_536)] = 50
    max_allocated_storage_gib: Annotated[int, Field(ge=20, le=65_536)] = 200
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 7
    backup_window: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")] = (
        "03:00-04:00"
    )
    maintenance_window: Annotated[
        str,
        StringConstraints(
            pattern=r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
        ),
    ] = "sun:05:00-sun:06:00"
    deletion_protection: bool = True
    skip_final_snapshot: bool = False
    backup_replication: bool = True
    apply_immediately: bool = False


class NodePoolSpec(Spec):
    """One Karpenter NodePool; `architecture` and `instance_families` choose the nodes."""

    name: Name
    architecture: Literal["amd64", "arm64"]
    instance_families: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]], Field(min_length=1)
    ]
    capacity_types: Annotated[list[Literal["spot", "on-demand"]], Field(min_length=1)] = ["spot", "on-demand"]
    cpu_limit: Annotated[int, Field(ge=1, le=100_000)]
    memory_limit_gib: Annotated[int, Field(ge=1, le=1_000_000)]
    consolidation_policy: Literal["WhenEmptyOrUnderutilized", "WhenEmpty"] = "WhenEmptyOrUnderutilized"
    consolidate_after: Duration = "1m"
    expire_after: Duration | Literal["Never"] = "720h"
    disruption_budget_nodes: Annotated[str, StringConstraints(pattern=r"^(\d+|\d+%)$")] = "10%"
    weight: Annotated[int, Field(ge=1, le=100)] | None = None


class KarpenterSpec(Spec):
    version: Literal[KARPENTER_VERSIONS] = KARPENTER_VERSIONS[0]  # type: ignore[valid-type]
    ami_alias: Annotated[str, StringConstraints(pattern=r"^al2023@(latest|v\d{8})$")] = "al2023@latest"
    root_volume_gib: Annotated[int, Field(ge=20, le=16_384)] = 50
    node_pools: Annotated[list[NodePoolSpec], Field(min_length=1, max_length=10)]


class MemberAccountPlan(Spec):
    """What every plan that runs inside one member account has (environment and shared)."""

    name: Name | None = None
    description: str = ""
    account: AccountRef
    region: Region
    dr_region: Region
    protection: bool = False
    tags: Tags = {}
    lock: LockSpec = LockSpec()


class EnvironmentPlan(MemberAccountPlan):
    """One workload environment (dev, staging, prod) in its own account."""

    kind: Literal["environment"]
    network: NetworkSpec
    eks: EksSpec
    database: DatabaseSpec
    karpenter: KarpenterSpec


# ---------------------------------------------------------------------------- organization


class OrganizationalUnitSpec(Spec):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9 _-]{0,127}$")]
    children: list[OrganizationalUnitSpec] = []


class AccountSpec(Spec):
    name: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", max_length=64)]
    ou: Annotated[str, StringConstraints(min_length=1)]


ScpName = Literal["deny-leave-organization", "protect-security-services", "restrict-regions", "deny-root-user"]


class ScpAttachmentSpec(Spec):
    policy: ScpName
    targets: Annotated[list[str], Field(min_length=1)]


class GuardDutySpec(Spec):
    delegated_admin: AccountRef
    regions: Annotated[list[Region], Field(min_length=1)]
    auto_enable: Literal["ALL", "NEW"] = "ALL"


class AccountBaselineSpec(Spec):
    """Account-wide guardrails the organization plan sets in every account it manages (and,
    with `management_account`, in the management account), in every allowed region. Destroy
    leaves them in place: they are guardrails, not resources of the plan."""

    remove_default_vpcs: bool = True
    ebs_encryption_by_default: bool = True
    s3_block_public_access: bool = True
    management_account: bool = True


class CloudTrailSpec(Spec):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$")] = "organization-trail"
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 365


class OrganizationPlan(Spec):
    """The management account: organization, OUs, accounts, guardrails, GuardDuty, CloudTrail."""

    kind: Literal["organization"]
    name: Name | None = None
    description: str = ""
    region: Region
    allowed_regions: Annotated[list[Region], Field(min_length=1)]
    access_role_name: Annotated[str, StringConstraints(pattern=r"^[\w+=,.@-]{1,64}$")] = "OrganizationAccountAccessRole"
    protection: bool = True
    tags: Tags = {}
    lock: LockSpec = LockSpec()
    organizational_units: list[OrganizationalUnitSpec] = []
    accounts: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")], AccountSpec]
    service_control_policies: list[ScpAttachmentSpec] = []
    guardduty: GuardDutySpec
    cloudtrail: CloudTrailSpec = CloudTrailSpec()
    account_baseline: AccountBaselineSpec = AccountBaselineSpec()


# ---------------------------------------------------------------------------------- shared


class RepositorySpec(Spec):
    name: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", max_length=256),
    ]


class EcrSpec(Spec):
    repositories: Annotated[list[RepositorySpec], Field(min_length=1)]
    untagged_expire_days: Annotated[int, Field(ge=1, le=365)] = 7
    keep_tagged_images: Annotated[int, Field(ge=1, le=10_000)] = 50
    pull_accounts: list[AccountRef] = []
    replicate_to_dr: bool = True


class GithubCiSpec(Spec):
    repository: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")]
    branches: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=255)]], Field(min_length=1)]


def _asn(value: int) -> int:
    if not (64512 <= value <= 65534 or 4_200_000_000 <= value <= 4_294_967_294):
        raise ValueError(f"{value} is not a private ASN; allowed: 64512-65534 or 4200000000-4294967294")
    return value


class TransitGatewaySpec(Spec):
    amazon_side_asn: Annotated[int, AfterValidator(_asn)] = 64512


class SharedNetworkSpec(Spec):
    """The shared tooling VPC (CI runners): private subnets only, and the Transit Gateway."""

    cidr: Cidr
    availability_zones: Annotated[list[AvailabilityZone], Field(min_length=2, max_length=6)]
    private_subnets: Annotated[list[Cidr], Field(min_length=2, max_length=6)]
    transit_gateway: TransitGatewaySpec = TransitGatewaySpec()
    # What the shared VPC sends to the Transit Gateway: blocks holding the attached
    # environments' VPCs (the gateway's route tables decide what is reachable).
    transit_routes: Annotated[list[Cidr], Field(min_length=1)] = ["10.0.0.0/8"]
    # The accounts the Transit Gateway is shared with through AWS RAM (the environments').
    share_with: list[AccountRef] = []


class SharedPlan(MemberAccountPlan):
    """The Shared Services account: container registries and CI/CD access."""

    kind: Literal["shared"]
    ecr: EcrSpec
    ci: GithubCiSpec
    network: SharedNetworkSpec | None = None


PlanSpec = EnvironmentPlan | OrganizationPlan | SharedPlan
PLAN_MODELS: dict[str, type[EnvironmentPlan] | type[OrganizationPlan] | type[SharedPlan]] = {
    "environment": EnvironmentPlan,
    "organization": OrganizationPlan,
    "shared": SharedPlan,
}
