"""`check ENV` on live resources: the SPEC section 9 baseline, read back from AWS. One module
per service area (network, eks, rds, security, organization), each adding its sections to
the audit; base.py holds what they share.

An audit, so it does not reuse the steps' discovery or their `observe` code: it reads the
plan's resources straight from the service APIs (found by the ownership tag
`provisioner:plan=<plan>`, or by the deterministic names of untaggable and name-addressed
resources) and judges them (for the organization plan, also every account of the
organization: check_accounts.py) with the control table of `planfile/baseline.py`, so a live
finding carries the same id (`RDS.2`, `PROV.9`, ...) as the plan-side one. It only reads.

Statuses: `pass`; `warn` (a relaxable control in a non-strict plan, or allowed but flagged by
Security Hub); `fail`; `missing` when a resource the plan defines does not exist (the plan is
not applied, or someone deleted it). `fail` and `missing` make `check` exit 1.

AWS behaviours it relies on:
- a VPC's default NACL allows all traffic and cannot be deleted; the network step strips its
  allow entries, so one that admits 22 or 3389 from anywhere again fails EC2.21 (another
  unused NACL that does is a `warn`: it governs nothing, but Security Hub still lists it);
- DescribeDBParameters with `Source=user` returns only what was set in the group;
- an SQS queue is encrypted with SQS-managed keys (`SqsManagedSseEnabled`) or a KMS key
  (`KmsMasterKeyId`);
- IAM returns inline policy documents URL-encoded in some SDK paths.
"""

from __future__ import annotations

from provisioner.aws.session import AwsSession
from provisioner.operations.check.eks import EksAudit
from provisioner.operations.check.network import NetworkAudit
from provisioner.operations.check.organization import OrganizationAudit
from provisioner.operations.check.rds import RdsAudit
from provisioner.operations.check.security import SecurityAudit
from provisioner.planfile import EnvironmentPlan, OrganizationPlan, Plan, SharedPlan
from provisioner.planfile.baseline import Finding

__all__ = ["live_findings"]


class _Audit(NetworkAudit, EksAudit, RdsAudit, SecurityAudit, OrganizationAudit):
    """Every section of the audit on one set of findings."""


def live_findings(session: AwsSession, plan: Plan) -> list[Finding]:
    """Findings for the plan's live resources, read with `session` (in the plan's account)."""
    audit = _Audit(session, plan)
    spec = plan.spec
    if isinstance(spec, EnvironmentPlan):
        sections = [audit.network, audit.eks, audit.launch_templates, audit.rds, audit.kms, audit.iam, audit.sqs]
    elif isinstance(spec, SharedPlan):
        sections = [audit.ecr, audit.kms, audit.iam, *([audit.transit] if spec.network is not None else [])]
    else:
        sections = [audit.cloudtrail, audit.guardduty, audit.kms]
    for section in sections:
        audit.run(section)
    if isinstance(spec, OrganizationPlan):
        # Every account of the organization, one row per account and control (issue 14).
        from provisioner.operations.check_accounts import account_findings

        audit.findings += account_findings(session, plan)
    return audit.findings
