"""`check ENV` on live resources: the SPEC section 9 baseline, read back from AWS.

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

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from provisioner.aws.errors import ClientError, error_code, is_not_found
from provisioner.aws.session import AwsSession
from provisioner.aws.tags import from_list, owned_key, plan_filter
from provisioner.constants import TAG_PLAN, cluster_name, iam_path
from provisioner.planfile import EnvironmentPlan, OrganizationPlan, Plan, SharedPlan
from provisioner.planfile.baseline import CONTROLS, FAIL, Finding, finding
from provisioner.planfile.catalog import EKS_LOG_TYPES, POSTGRES_DEFAULT_PORT, SUPPORTED_EKS_VERSIONS
from provisioner.planfile.checks import is_strict

__all__ = ["live_findings"]

WORLD = ("0.0.0.0/0", "::/0")
AWS_MANAGED = ":iam::aws:policy/"
# AWS-managed policies that grant everything (IAM.1 in spirit: `*` on `*`).
ADMIN_POLICIES = ("/AdministratorAccess",)
NODE_SG_KEY = "eks/node-security-group"


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


class _Audit:
    def __init__(self, session: AwsSession, plan: Plan):
        self.session = session
        self.plan = plan
        self.name = plan.name
        self.strict = is_strict(plan.spec, plan.name)
        self.findings: list[Finding] = []
        self._plan_groups: list[dict[str, Any]] | None = None

    # -- helpers ------------------------------------------------------------------------------
    def add(self, control: str, resource: str, ok: bool | None, detail: str, where: str, warn: bool = False) -> None:
        self.findings.append(finding(control, resource, ok, detail, where, strict=self.strict, warn=warn))

    def missing(self, controls: tuple[str, ...], resource: str, what: str) -> None:
        for control in controls:
            self.add(control, resource, None, f"not found: {what}", what)

    def run(self, section: Callable[[], None]) -> None:
        """A read the credentials may not make fails its section, not the whole check."""
        try:
            section()
        except ClientError as exc:
            name = section.__name__
            control = _SECTION_CONTROL[name]
            self.findings.append(
                Finding(
                    control,
                    control if CONTROLS[control].fsbp else None,
                    name,
                    FAIL,
                    f"could not read ({error_code(exc)}): {exc}",
                    name,
                )
            )

    def client(self, service: str, region: str | None = None) -> Any:
        return self.session.client(service, region, purpose="poll")

    def plan_groups(self) -> list[dict[str, Any]]:
        if self._plan_groups is None:
            ec2 = self.client("ec2")
            self._plan_groups = [
                g
                for page in ec2.get_paginator("describe_security_groups").paginate(Filters=plan_filter(self.name))
                for g in page["SecurityGroups"]
            ]
        return self._plan_groups

    def regions(self) -> list[str]:
        spec = self.plan.spec
        return list(dict.fromkeys(r for r in (self.session.region, getattr(spec, "dr_region", None)) if r))

    # -- network ------------------------------------------------------------------------------
    def network(self) -> None:
        ec2 = self.client("ec2")
        vpcs = [
            v
            for v in ec2.describe_vpcs(Filters=plan_filter(self.name))["Vpcs"]
            if owned_key(from_list(v.get("Tags")), self.name) == "network/vpc"
        ]
        if not vpcs:
            self.missing(("EC2.6", "EC2.2", "PROV.6", "EC2.21"), "network/vpc", f"VPC tagged {TAG_PLAN}={self.name}")
            return
        for vpc in vpcs:
            vpc_id = vpc["VpcId"]
            by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
            logs = [
                f
                for f in ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
                if f.get("FlowLogStatus", "ACTIVE") == "ACTIVE"
            ]
            traffic = sorted({f.get("TrafficType") for f in logs})
            if not logs:
                self.add("EC2.6", "network/flow-logs", False, "no active flow log on the VPC", vpc_id)
            else:
                self.add(
                    "EC2.6", "network/flow-logs", "ALL" in traffic, f"flow log traffic: {', '.join(traffic)}", vpc_id
                )
            default = ec2.describe_security_groups(Filters=by_vpc + [{"Name": "group-name", "Values": ["default"]}])[
                "SecurityGroups"
            ]
            for group in default:
                rules = len(group.get("IpPermissions", [])) + len(group.get("IpPermissionsEgress", []))
                self.add(
                    "EC2.2",
                    "network/default-sg",
                    rules == 0,
                    "no rules" if rules == 0 else f"{rules} rule(s) allow traffic",
                    group["GroupId"],
                )
            self._nacls(ec2, vpc_id, by_vpc)
            self._open_groups(vpc_id)

    def _nacls(self, ec2: Any, vpc_id: str, by_vpc: list[dict[str, Any]]) -> None:
        acls = ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]
        subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=by_vpc)["Subnets"]]
        acl_of = {a["SubnetId"]: acl for acl in acls for a in acl.get("Associations", [])}
        unguarded = [
            s
            for s in subnets
            if s not in acl_of
            or acl_of[s].get("IsDefault")
            or from_list(acl_of[s].get("Tags")).get(TAG_PLAN) != self.name
        ]
        self.add(
            "PROV.6",
            "network/nacl",
            not unguarded,
            f"{len(subnets)} subnet(s) use the plan's NACLs"
            if not unguarded
            else f"subnets on the default or a foreign NACL: {', '.join(sorted(unguarded))}",
            vpc_id,
        )
        for acl in acls:
            used = any(a.get("SubnetId") for a in acl.get("Associations", []))
            entries = [e for e in acl.get("Entries", []) if _admits_admin_ports(e)]
            # The plan's return-traffic rules skip 3389, so no entry of a NACL in use may admit
            # 22 or 3389 from anywhere: one that does was added by hand.
            key = owned_key(from_list(acl.get("Tags")), self.name) or (
                "default NACL" if acl.get("IsDefault") else acl["NetworkAclId"]
            )
            if not entries:
                self.add("EC2.21", key, True, "no entry admits 0.0.0.0/0 to 22 or 3389", acl["NetworkAclId"])
            elif not used and not acl.get("IsDefault"):
                self.add(
                    "EC2.21",
                    key,
                    True,
                    "allows all from anywhere but governs no subnet (Security Hub still lists it)",
                    acl["NetworkAclId"],
                    warn=True,
                )
            elif not used:
                # The network step strips the default NACL (network/default-nacl): a rule here
                # was added back, and it is what a subnet falls back to.
                rules = sorted(e["RuleNumber"] for e in entries)
                self.add(
                    "EC2.21",
                    key,
                    False,
                    f"the default NACL admits 0.0.0.0/0 to 22 or 3389 again (rule(s) {rules}); apply strips it",
                    acl["NetworkAclId"],
                )
            else:
                rules = sorted(e["RuleNumber"] for e in entries)
                self.add("EC2.21", key, False, f"rule(s) {rules} admit 0.0.0.0/0 to 22 or 3389", acl["NetworkAclId"])

    def _open_groups(self, vpc_id: str) -> None:
        for group in self.plan_groups():
            if group.get("VpcId") != vpc_id or group.get("GroupName") == "default":
                continue
            key = from_list(group.get("Tags")).get("provisioner:key", group["GroupName"])
            world = [
                _ports(p) for p in group.get("IpPermissions", []) if _from_world(p) and _ports(p) not in ("80", "443")
            ]
            self.add(
                "EC2.18",
                key,
                not world,
                "no unrestricted ingress" if not world else f"ingress from anywhere on {', '.join(world)}",
                group["GroupId"],
            )

    # -- EKS ----------------------------------------------------------------------------------
    def eks(self) -> None:
        eks = self.client("eks")
        name = cluster_name(self.name)
        controls = ("PROV.1", "EKS.1", "EKS.2", "EKS.3", "EKS.8", "PROV.2", "PROV.3", "PROV.4")
        try:
            cluster = eks.describe_cluster(name=name)["cluster"]
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            self.missing(controls, "eks/cluster", f"EKS cluster {name}")
            return
        if (cluster.get("tags") or {}).get(TAG_PLAN) != self.name:
            self.missing(controls, "eks/cluster", f"EKS cluster {name} carrying {TAG_PLAN}={self.name}")
            return
        arn = cluster.get("arn", name)
        vpc = cluster.get("resourcesVpcConfig", {})
        self.add(
            "PROV.1",
            "eks/cluster",
            bool(vpc.get("endpointPrivateAccess")),
            "private endpoint on" if vpc.get("endpointPrivateAccess") else "private endpoint off",
            arn,
        )
        cidrs = vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]
        if not vpc.get("endpointPublicAccess"):
            self.add("EKS.1", "eks/cluster", True, "public endpoint off", arn)
        elif any(c in WORLD for c in cidrs):
            self.add("EKS.1", "eks/cluster", False, "the public endpoint is open to 0.0.0.0/0", arn)
        else:
            self.add(
                "EKS.1",
                "eks/cluster",
                True,
                f"public endpoint limited to {', '.join(cidrs)} (Security Hub flags any public endpoint)",
                arn,
                warn=True,
            )
        version = cluster.get("version")
        self.add("EKS.2", "eks/cluster", version in SUPPORTED_EKS_VERSIONS, f"Kubernetes {version}", arn)
        keys = [
            e.get("provider", {}).get("keyArn")
            for e in cluster.get("encryptionConfig") or []
            if "secrets" in e.get("resources", [])
        ]
        self.add(
            "EKS.3",
            "eks/cluster",
            bool(keys and keys[0]),
            f"secrets encrypted with {keys[0]}" if keys and keys[0] else "secrets not encrypted with a KMS key",
            arn,
        )
        enabled = {
            t
            for entry in cluster.get("logging", {}).get("clusterLogging", [])
            if entry.get("enabled")
            for t in entry.get("types", [])
        }
        self.add(
            "EKS.8", "eks/cluster", "audit" in enabled, "audit log on" if "audit" in enabled else "audit log off", arn
        )
        off = [t for t in EKS_LOG_TYPES if t not in enabled]
        self.add(
            "PROV.2",
            "eks/cluster",
            not off,
            "all five log types on" if not off else f"control-plane logs off: {', '.join(off)}",
            arn,
        )
        mode = (cluster.get("accessConfig") or {}).get("authenticationMode")
        self.add("PROV.3", "eks/cluster", mode == "API", f"authentication mode {mode}", arn)
        associations = eks.list_pod_identity_associations(
            clusterName=name, namespace="kube-system", serviceAccount="karpenter"
        ).get("associations", [])
        self.add(
            "PROV.4",
            "karpenter/pod-identity",
            bool(associations),
            "kube-system/karpenter has a Pod Identity association"
            if associations
            else "no Pod Identity association for kube-system/karpenter",
            arn,
        )

    def launch_templates(self) -> None:
        ec2 = self.client("ec2")
        templates = [
            t
            for t in ec2.describe_launch_templates(Filters=plan_filter(self.name))["LaunchTemplates"]
            if owned_key(from_list(t.get("Tags")), self.name)
        ]
        if not templates:
            self.missing(
                ("EC2.170", "PROV.5"), "eks/launch-template/system", f"launch template tagged {TAG_PLAN}={self.name}"
            )
            return
        for template in templates:
            key = owned_key(from_list(template.get("Tags")), self.name) or template["LaunchTemplateName"]
            versions = ec2.describe_launch_template_versions(
                LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default"]
            )["LaunchTemplateVersions"]
            data = versions[0]["LaunchTemplateData"] if versions else {}
            metadata = data.get("MetadataOptions", {})
            tokens, hops = metadata.get("HttpTokens"), metadata.get("HttpPutResponseHopLimit")
            self.add(
                "EC2.170",
                key,
                tokens == "required" and (hops or 1) <= 1,
                f"HttpTokens {tokens}, hop limit {hops}",
                template["LaunchTemplateId"],
            )
            volumes = [m.get("Ebs", {}) for m in data.get("BlockDeviceMappings", [])]
            plain = [m for m in volumes if not m.get("Encrypted")]
            self.add(
                "PROV.5",
                key,
                bool(volumes) and not plain,
                "root volume encrypted" if volumes and not plain else "a volume is not encrypted (or none is set)",
                template["LaunchTemplateId"],
            )

    # -- RDS ----------------------------------------------------------------------------------
    def rds(self) -> None:
        from provisioner.steps import rds as rds_step

        rds = self.client("rds")
        identifier = rds_step.names(self.plan)["instance"]
        controls = (
            "RDS.2",
            "RDS.3",
            "RDS.5",
            "RDS.8",
            "RDS.9",
            "RDS.10",
            "RDS.11",
            "RDS.13",
            "RDS.17",
            "RDS.23",
            "PROV.8",
            "PROV.9",
            "PROV.10",
            "PROV.11",
        )
        try:
            db = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        except ClientError as exc:
            if error_code(exc) != "DBInstanceNotFound" and not is_not_found(exc):
                raise
            self.missing(controls, "rds/instance", f"DB instance {identifier}")
            return
        arn = db.get("DBInstanceArn", identifier)
        r = "rds/instance"
        self.add(
            "RDS.2",
            r,
            not db.get("PubliclyAccessible"),
            f"PubliclyAccessible {str(bool(db.get('PubliclyAccessible'))).lower()}",
            arn,
        )
        encrypted = bool(db.get("StorageEncrypted")) and bool(db.get("KmsKeyId"))
        self.add(
            "RDS.3",
            r,
            encrypted,
            f"encrypted with {db.get('KmsKeyId')}" if encrypted else "storage not encrypted with KMS",
            arn,
        )
        self.add("RDS.5", r, bool(db.get("MultiAZ")), "Multi-AZ" if db.get("MultiAZ") else "single-AZ", arn)
        self.add(
            "RDS.8",
            r,
            bool(db.get("DeletionProtection")),
            f"deletion protection {'on' if db.get('DeletionProtection') else 'off'}",
            arn,
        )
        exports = db.get("EnabledCloudwatchLogsExports") or []
        self.add("RDS.9", r, "postgresql" in exports, f"log exports: {', '.join(exports) or 'none'}", arn)
        self.add(
            "RDS.10",
            r,
            bool(db.get("IAMDatabaseAuthenticationEnabled")),
            f"IAM authentication {'on' if db.get('IAMDatabaseAuthenticationEnabled') else 'off'}",
            arn,
        )
        retention = int(db.get("BackupRetentionPeriod") or 0)
        self.add("RDS.11", r, retention >= 7, f"backups kept {retention} days", arn)
        self.add(
            "RDS.13",
            r,
            bool(db.get("AutoMinorVersionUpgrade")),
            f"automatic minor upgrades {'on' if db.get('AutoMinorVersionUpgrade') else 'off'}",
            arn,
        )
        self.add(
            "RDS.17",
            r,
            bool(db.get("CopyTagsToSnapshot")),
            f"copy tags to snapshots {'on' if db.get('CopyTagsToSnapshot') else 'off'}",
            arn,
        )
        replications = db.get("DBInstanceAutomatedBackupsReplications") or []
        self.add(
            "PROV.8",
            r,
            bool(replications),
            "backups replicated to "
            + ", ".join(x.get("DBInstanceAutomatedBackupsArn", "?").split(":")[3] for x in replications)
            if replications
            else "no automated backups replication",
            arn,
        )
        secret = db.get("MasterUserSecret") or {}
        self.add(
            "PROV.10",
            r,
            bool(secret.get("SecretArn")),
            "master password kept by RDS in Secrets Manager"
            if secret.get("SecretArn")
            else "master password not managed by RDS",
            arn,
        )
        for group in db.get("DBParameterGroups", []):
            name = group["DBParameterGroupName"]
            values = {
                p["ParameterName"]: p.get("ParameterValue")
                for page in rds.get_paginator("describe_db_parameters").paginate(
                    DBParameterGroupName=name, Source="user"
                )
                for p in page["Parameters"]
            }
            force = values.get("rds.force_ssl")
            self.add("PROV.9", "rds/parameter-group", force == "1", f"rds.force_ssl = {force}", name)
        port = (db.get("Endpoint") or {}).get("Port")
        self.add(
            "RDS.23",
            r,
            port is not None and port != POSTGRES_DEFAULT_PORT,
            f"port {port}" + (" (PostgreSQL's default)" if port == POSTGRES_DEFAULT_PORT else ""),
            arn,
        )
        self._db_security_groups([g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])], port)

    def _db_security_groups(self, group_ids: list[str], port: int | None) -> None:
        if not group_ids:
            self.add("PROV.11", "rds/security-group", False, "the instance has no security group", "rds/instance")
            return
        node_groups = {
            g["GroupId"] for g in self.plan_groups() if from_list(g.get("Tags")).get("provisioner:key") == NODE_SG_KEY
        }
        for group in self.client("ec2").describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
            wrong = []
            for permission in group.get("IpPermissions", []):
                ranges = (
                    permission.get("IpRanges", [])
                    + permission.get("Ipv6Ranges", [])
                    + permission.get("PrefixListIds", [])
                )
                sources = {p.get("GroupId") for p in permission.get("UserIdGroupPairs", [])}
                port_ok = (
                    permission.get("IpProtocol") == "tcp"
                    and permission.get("FromPort") == permission.get("ToPort") == port
                )
                if not port_ok or ranges or not sources <= node_groups:
                    wrong.append(
                        f"{_ports(permission)} from {', '.join(sorted(map(str, sources)) + [_cidr(x) for x in ranges])}"
                    )
            self.add(
                "PROV.11",
                "rds/security-group",
                not wrong,
                f"{port} from the node security group only" if not wrong else "also admits: " + "; ".join(wrong),
                group["GroupId"],
            )

    # -- KMS, IAM, SQS ------------------------------------------------------------------------
    def kms(self) -> None:
        expected = _expected_keys(self.plan)
        found: set[str] = set()
        for region in self.regions():
            tagging = self.client("resourcegroupstaggingapi", region)
            kms = self.client("kms", region)
            items = [
                i
                for page in tagging.get_paginator("get_resources").paginate(
                    TagFilters=[{"Key": TAG_PLAN, "Values": [self.name]}], ResourceTypeFilters=["kms:key"]
                )
                for i in page["ResourceTagMappingList"]
            ]
            for item in items:
                key = owned_key(from_list(item.get("Tags")), self.name)
                if key is None:
                    continue
                metadata = kms.describe_key(KeyId=item["ResourceARN"])["KeyMetadata"]
                if metadata.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
                    continue
                found.add(key)
                rotation = kms.get_key_rotation_status(KeyId=metadata["KeyId"]).get("KeyRotationEnabled", False)
                self.add("KMS.4", key, bool(rotation), f"rotation {'on' if rotation else 'off'}", metadata["Arn"])
        for key in sorted(set(expected) - found):
            self.add("KMS.4", key, None, f"not found: KMS key {key}", key)

    def iam(self) -> None:
        iam = self.client("iam")
        roles = [
            r
            for page in iam.get_paginator("list_roles").paginate(PathPrefix=iam_path(self.name))
            for r in page["Roles"]
        ]
        for role in roles:
            name = role["RoleName"]
            problems: list[str] = []
            for policy_name in [
                p
                for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
                for p in page["PolicyNames"]
            ]:
                document = _document(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
                problems += [f"inline {policy_name}: {s}" for s in _wildcard_statements(document)]
            for attached in [
                p
                for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for p in page["AttachedPolicies"]
            ]:
                arn = attached["PolicyArn"]
                if AWS_MANAGED in arn:
                    if arn.endswith(ADMIN_POLICIES):
                        problems.append(f"attached {arn}")
                    continue
                policy = iam.get_policy(PolicyArn=arn)["Policy"]
                version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
                problems += [f"{arn}: {s}" for s in _wildcard_statements(_document(version["Document"]))]
            self.add("IAM.1", name, not problems, "scoped" if not problems else "; ".join(problems), role["Arn"])

    def sqs(self) -> None:
        sqs = self.client("sqs")
        name = cluster_name(self.name)
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if "NonExistentQueue" not in (error_code(exc) or "") and not is_not_found(exc):
                raise
            self.missing(("SQS.1", "PROV.12"), "karpenter/interruption-queue", f"SQS queue {name}")
            return
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        arn = attributes.get("QueueArn", url)
        encrypted = attributes.get("SqsManagedSseEnabled") == "true" or bool(attributes.get("KmsMasterKeyId"))
        self.add(
            "SQS.1",
            "karpenter/interruption-queue",
            encrypted,
            "server-side encryption on" if encrypted else "not encrypted at rest",
            arn,
        )
        policy = json.loads(attributes["Policy"]) if attributes.get("Policy") else {}
        self.add(
            "PROV.12",
            "karpenter/interruption-queue",
            _denies_plain_http(policy),
            "policy denies requests without TLS"
            if _denies_plain_http(policy)
            else "no deny of aws:SecureTransport false",
            arn,
        )

    # -- shared: ECR --------------------------------------------------------------------------
    def ecr(self) -> None:
        spec = self.plan.spec
        assert isinstance(spec, SharedPlan)
        ecr = self.client("ecr")
        for wanted in spec.ecr.repositories:
            resource = f"ecr/{wanted.name}"
            try:
                repo = ecr.describe_repositories(repositoryNames=[wanted.name])["repositories"][0]
            except ClientError as exc:
                if error_code(exc) != "RepositoryNotFoundException":
                    raise
                self.missing(("ECR.1", "ECR.2", "ECR.3", "ECR.5"), resource, f"ECR repository {wanted.name}")
                continue
            arn = repo["repositoryArn"]
            scan = bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush"))
            self.add("ECR.1", resource, scan, f"scan on push {'on' if scan else 'off'}", arn)
            mutability = repo.get("imageTagMutability")
            self.add("ECR.2", resource, str(mutability).startswith("IMMUTABLE"), f"tags {mutability}", arn)
            try:
                ecr.get_lifecycle_policy(repositoryName=wanted.name)
                lifecycle = True
            except ClientError as exc:
                if error_code(exc) != "LifecyclePolicyNotFoundException":
                    raise
                lifecycle = False
            self.add("ECR.3", resource, lifecycle, "lifecycle policy set" if lifecycle else "no lifecycle policy", arn)
            encryption = repo.get("encryptionConfiguration", {})
            kms = encryption.get("encryptionType") == "KMS" and bool(encryption.get("kmsKey"))
            self.add(
                "ECR.5",
                resource,
                kms,
                f"encrypted with {encryption.get('kmsKey')}"
                if kms
                else f"encryption {encryption.get('encryptionType', 'AES256')} (no customer managed key)",
                arn,
            )

    # -- organization: CloudTrail, S3, GuardDuty ----------------------------------------------
    def cloudtrail(self) -> None:
        spec = self.plan.spec
        assert isinstance(spec, OrganizationPlan)
        trail_name = spec.cloudtrail.name
        cloudtrail = self.client("cloudtrail")
        trails = cloudtrail.describe_trails(trailNameList=[trail_name]).get("trailList", [])
        resource = f"cloudtrail/{trail_name}"
        if not trails:
            self.missing(
                ("CloudTrail.1", "CloudTrail.2", "CloudTrail.4", "PROV.14", "S3.5", "S3.8", "S3.17"),
                resource,
                f"CloudTrail trail {trail_name}",
            )
            return
        trail = trails[0]
        arn = trail.get("TrailARN", trail_name)
        logging = bool(cloudtrail.get_trail_status(Name=arn).get("IsLogging"))
        multi = bool(trail.get("IsMultiRegionTrail"))
        self.add(
            "CloudTrail.1",
            resource,
            multi and logging,
            f"multi-region {str(multi).lower()}, logging {str(logging).lower()}",
            arn,
        )
        self.add("CloudTrail.2", resource, bool(trail.get("KmsKeyId")), f"KMS key {trail.get('KmsKeyId')}", arn)
        validation = bool(trail.get("LogFileValidationEnabled"))
        self.add("CloudTrail.4", resource, validation, f"log file validation {'on' if validation else 'off'}", arn)
        self.add(
            "PROV.14",
            resource,
            bool(trail.get("IsOrganizationTrail")),
            "organization trail" if trail.get("IsOrganizationTrail") else "this account only",
            arn,
        )
        bucket = trail.get("S3BucketName")
        if bucket:
            self._bucket(bucket)

    def _bucket(self, bucket: str) -> None:
        s3 = self.client("s3")
        resource = "organization/cloudtrail/bucket"

        def read(operation: str, **params: Any) -> Any:
            try:
                return getattr(s3, operation)(Bucket=bucket, **params)
            except ClientError as exc:
                if error_code(exc) in (
                    "NoSuchPublicAccessBlockConfiguration",
                    "NoSuchBucketPolicy",
                    "ServerSideEncryptionConfigurationNotFoundError",
                ):
                    return None
                raise

        block = (read("get_public_access_block") or {}).get("PublicAccessBlockConfiguration") or {}
        flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        off = [f for f in flags if not block.get(f)]
        self.add(
            "S3.8",
            resource,
            not off,
            "all four public access blocks on" if not off else f"off: {', '.join(off)}",
            bucket,
        )
        rules = ((read("get_bucket_encryption") or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or [
            {}
        ]
        algorithm = rules[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
        self.add("S3.17", resource, algorithm in ("aws:kms", "aws:kms:dsse"), f"default encryption {algorithm}", bucket)
        policy = read("get_bucket_policy")
        document = json.loads(policy["Policy"]) if policy and policy.get("Policy") else {}
        tls = _denies_plain_http(document)
        self.add(
            "S3.5",
            resource,
            tls,
            "policy denies requests without TLS" if tls else "no deny of aws:SecureTransport false",
            bucket,
        )

    def guardduty(self) -> None:
        spec = self.plan.spec
        assert isinstance(spec, OrganizationPlan)
        for region in spec.guardduty.regions:
            guardduty = self.client("guardduty", region)
            detectors = guardduty.list_detectors().get("DetectorIds", [])
            resource = f"guardduty/{region}"
            if not detectors:
                self.missing(("GuardDuty.1",), resource, f"GuardDuty detector in {region}")
                continue
            status = guardduty.get_detector(DetectorId=detectors[0]).get("Status")
            self.add("GuardDuty.1", resource, status == "ENABLED", f"detector {status}", detectors[0])

    # -- transit (issue 18) ---------------------------------------------------------------------
    def transit(self) -> None:
        from provisioner.operations.transit_check import live_segment_matrix, matrix_text, one_way_problems

        ec2 = self.client("ec2")
        matrix = live_segment_matrix(ec2, self.name)
        if matrix is None:
            self.missing(
                ("PROV.18",), "shared/transit/gateway", f"Transit Gateway route tables tagged {TAG_PLAN}={self.name}"
            )
            return
        problems = one_way_problems(ec2, self.name)
        detail = matrix_text(matrix) + (f"; prod and non-prod joined: {'; '.join(problems)}" if problems else "")
        self.add("PROV.18", "shared/transit/gateway", not problems, detail, "transit gateway route tables")


# Which control a section's read failure is reported under.
_SECTION_CONTROL = {
    "transit": "PROV.18",
    "network": "EC2.6",
    "eks": "EKS.1",
    "launch_templates": "EC2.170",
    "rds": "RDS.2",
    "kms": "KMS.4",
    "iam": "IAM.1",
    "sqs": "SQS.1",
    "ecr": "ECR.1",
    "cloudtrail": "CloudTrail.1",
    "guardduty": "GuardDuty.1",
}


def _expected_keys(plan: Plan) -> list[str]:
    spec = plan.spec
    if isinstance(spec, EnvironmentPlan):
        return ["eks/kms-key", "rds/kms-key"] + (["rds/dr-kms-key"] if spec.database.backup_replication else [])
    if isinstance(spec, SharedPlan):
        return ["shared/ecr/kms-key"]
    return ["organization/cloudtrail/kms-key"]


def _document(value: Any) -> Any:
    return json.loads(unquote(value)) if isinstance(value, str) else value


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard_statements(document: dict[str, Any]) -> list[str]:
    """Allow statements with a `*` action (or NotAction) on a `*` resource (IAM.1)."""
    found = []
    for statement in _listed(document.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        actions = _listed(statement.get("Action", []))
        resources = _listed(statement.get("Resource", []))
        if ("*" in actions or "NotAction" in statement) and "*" in resources:
            found.append(f"{statement.get('Sid') or 'statement'} allows * on *")
    return found


def _denies_plain_http(policy: dict[str, Any]) -> bool:
    for statement in _listed(policy.get("Statement", [])):
        condition = statement.get("Condition", {}).get("Bool", {})
        if statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


def _from_world(permission: dict[str, Any]) -> bool:
    return any(r.get("CidrIp") in WORLD for r in permission.get("IpRanges", [])) or any(
        r.get("CidrIpv6") in WORLD for r in permission.get("Ipv6Ranges", [])
    )


def _ports(permission: dict[str, Any]) -> str:
    if str(permission.get("IpProtocol")) == "-1":
        return "all ports"
    low, high = permission.get("FromPort"), permission.get("ToPort")
    return f"{low}" if low == high else f"{low}-{high}"


def _cidr(item: dict[str, Any]) -> str:
    return item.get("CidrIp") or item.get("CidrIpv6") or item.get("PrefixListId") or "?"


def _admits_admin_ports(entry: dict[str, Any]) -> bool:
    """An allow ingress NACL entry from anywhere covering SSH (22) or RDP (3389)."""
    if entry.get("Egress") or entry.get("RuleAction") != "allow":
        return False
    if entry.get("CidrBlock") not in WORLD and entry.get("Ipv6CidrBlock") not in WORLD:
        return False
    protocol = str(entry.get("Protocol"))
    if protocol == "-1":
        return True
    if protocol not in ("6", "17", "tcp", "udp"):
        return False
    ports = entry.get("PortRange") or {}
    low, high = ports.get("From", 0), ports.get("To", 65535)
    return any(low <= port <= high for port in (22, 3389))
