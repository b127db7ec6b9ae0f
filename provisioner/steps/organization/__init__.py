"""The organization step: the management account's organization, as graph nodes.

    organization/organization                     organizations:organization (all features,
    │                                             SCPs enabled on the root, CloudTrail trusted)
    ├── organization/ram-sharing                  ram:organization-sharing (RAM trusted, kept)
    ├── organization/ou/<path>                    organizations:ou, nested (Workloads/NonProd)
    │   └── organization/account/<key>            organizations:account (CreateAccount, polled;
    │                                             adopted by email; moved into its OU)
    ├── organization/scp/<policy>                 organizations:policy, attached to root / OUs
    ├── organization/guardduty/detector/<region>  guardduty:detector (management account)
    ├── organization/guardduty/admin/<region>     guardduty:organization-admin (needs the account)
    │   └── organization/guardduty/auto-enable/<region>
    │                                             guardduty:organization-configuration, in the
    │                                             delegated administrator's account
    ├── organization/cloudtrail/trail             cloudtrail:trail (organization, multi-region,
    │   ├── organization/cloudtrail/bucket        s3:bucket   log validation, KMS)
    │   ├── organization/cloudtrail/key-policy    kms:key-policy
    │   └── organization/cloudtrail/kms-key       kms:key
    └── organization/baseline/<account>/...       the account baseline (baseline.py): default
                                                  VPCs removed, EBS encryption by default,
                                                  account-level S3 Block Public Access; each
                                                  account's nodes wait for that account only

SCPs wait only for the root and their target OUs, never for accounts; account creation (the
slow part, ~90 s each, all four at once) waits only for its OU. GuardDuty's administrator waits
for its account; nothing else does.

`member_session(ctx, account_id)` (sessions.py) gives kinds a session in a member account
through the organization access role; the shared and environment plans use the same helper.
"""

from __future__ import annotations

from provisioner.engine import Resource
from provisioner.planfile import OrganizationPlan, Plan
from provisioner.planfile.model import OrganizationalUnitSpec
from provisioner.steps.common.directory import AccountDirectory, directory_for
from provisioner.steps.kms import KmsKey
from provisioner.steps.organization import baseline, scp_documents
from provisioner.steps.organization.accounts import Account
from provisioner.steps.organization.baseline import AccountPublicAccessBlock, DefaultVpc, EbsEncryptionByDefault
from provisioner.steps.organization.buckets import CloudTrailBucket
from provisioner.steps.organization.guardduty import Detector, OrganizationAdmin, OrganizationConfiguration
from provisioner.steps.organization.key_policies import CloudTrailKeyPolicy
from provisioner.steps.organization.organizations import Organization
from provisioner.steps.organization.policies import ServiceControlPolicy
from provisioner.steps.organization.ram_sharing import OrganizationSharing
from provisioner.steps.organization.sessions import member_session
from provisioner.steps.organization.trails import Trail
from provisioner.steps.organization.units import OrganizationalUnit

ORGANIZATION = "organization/organization"
TRAIL_KEY = "organization/cloudtrail/kms-key"
TRAIL_KEY_POLICY = "organization/cloudtrail/key-policy"
TRAIL_BUCKET = "organization/cloudtrail/bucket"
TRAIL = "organization/cloudtrail/trail"
RAM_SHARING = "organization/ram-sharing"  # RAM shares within the organization (the Transit Gateway's)
TRUSTED_SERVICES = ("cloudtrail.amazonaws.com",)

__all__ = [
    "Account",
    "AccountDirectory",
    "AccountPublicAccessBlock",
    "CloudTrailBucket",
    "CloudTrailKeyPolicy",
    "DefaultVpc",
    "Detector",
    "EbsEncryptionByDefault",
    "Organization",
    "OrganizationAdmin",
    "OrganizationConfiguration",
    "OrganizationalUnit",
    "ServiceControlPolicy",
    "Trail",
    "account_key",
    "directory_for",
    "member_session",
    "ou_key",
    "resources",
    "scp_key",
]


def ou_key(path: str) -> str:
    return f"organization/ou/{path}"


def account_key(key: str) -> str:
    return f"organization/account/{key}"


def scp_key(policy: str) -> str:
    return f"organization/scp/{policy}"


def organizational_units(
    units: list[OrganizationalUnitSpec], prefix: str = "", parent: str = ORGANIZATION
) -> list[Resource]:
    nodes: list[Resource] = []
    for unit in units:
        path = f"{prefix}{unit.name}"
        nodes.append(
            OrganizationalUnit(
                key=ou_key(path),
                depends_on=(parent,),
                path=path,
                parent=parent,
                parent_attr="root_id" if parent == ORGANIZATION else "id",
                tags={"Name": unit.name},
            )
        )
        nodes += organizational_units(unit.children, f"{path}/", ou_key(path))
    return nodes


def resources(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, OrganizationPlan)
    nodes: list[Resource] = [
        Organization(key=ORGANIZATION, service_principals=TRUSTED_SERVICES),
        OrganizationSharing(key=RAM_SHARING, depends_on=(ORGANIZATION,)),
    ]
    nodes += organizational_units(spec.organizational_units)
    for key, account in spec.accounts.items():
        nodes.append(
            Account(
                key=account_key(key),
                depends_on=(ORGANIZATION, ou_key(account.ou)),
                account_name=account.name,
                email=account.email,
                ou=ou_key(account.ou),
                role_name=spec.access_role_name,
                tags={"Name": account.name, "AccountKey": key},
            )
        )
    for attachment in spec.service_control_policies:
        targets = tuple((ORGANIZATION, "root_id") if t == "root" else (ou_key(t), "id") for t in attachment.targets)
        nodes.append(
            ServiceControlPolicy(
                key=scp_key(attachment.policy),
                depends_on=tuple(dict.fromkeys(key for key, _ in targets)) or (ORGANIZATION,),
                name=f"{plan.name}-{attachment.policy}",
                description=scp_documents.DESCRIPTIONS[attachment.policy],
                document=scp_documents.generate(attachment.policy, spec),
                targets=targets,
            )
        )
    admin = account_key(spec.guardduty.delegated_admin)
    admin_email = spec.accounts[spec.guardduty.delegated_admin].email
    for region in spec.guardduty.regions:
        detector, admin_key = f"organization/guardduty/detector/{region}", f"organization/guardduty/admin/{region}"
        nodes += [
            Detector(key=detector, region=region),
            OrganizationAdmin(key=admin_key, depends_on=(ORGANIZATION, admin, detector), region=region, account=admin),
            OrganizationConfiguration(
                key=f"organization/guardduty/auto-enable/{region}",
                depends_on=(admin_key, admin),
                region=region,
                account=admin,
                admin_email=admin_email,
                auto_enable=spec.guardduty.auto_enable,
            ),
        ]
    trail = spec.cloudtrail
    nodes += [
        KmsKey(
            key=TRAIL_KEY, name="cloudtrail", description=f"CloudTrail organization trail {trail.name} ({plan.name})"
        ),
        CloudTrailKeyPolicy(
            key=TRAIL_KEY_POLICY,
            depends_on=(TRAIL_KEY,),
            kms_key=TRAIL_KEY,
            key_name="cloudtrail",
            trail_name=trail.name,
        ),
        CloudTrailBucket(
            key=TRAIL_BUCKET,
            depends_on=(ORGANIZATION, TRAIL_KEY),
            organization=ORGANIZATION,
            kms_key=TRAIL_KEY,
            trail_name=trail.name,
            retention_days=trail.retention_days,
        ),
        Trail(
            key=TRAIL,
            depends_on=(ORGANIZATION, TRAIL_BUCKET, TRAIL_KEY, TRAIL_KEY_POLICY),
            name=trail.name,
            bucket=TRAIL_BUCKET,
            kms_key=TRAIL_KEY,
        ),
    ]
    nodes += baseline.resources(spec, account_key)
    return nodes
