"""The live audit of the organization plan: the CloudTrail trail and its S3 bucket, GuardDuty
in each region."""

from __future__ import annotations

import json
from typing import Any

from provisioner.aws.errors import ClientError, error_code
from provisioner.operations.check.base import (
    AuditBase,
    denies_plain_http,
)
from provisioner.planfile import OrganizationPlan


class OrganizationAudit(AuditBase):
    """The organization's sections (cloudtrail, guardduty)."""

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
        tls = denies_plain_http(document)
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
