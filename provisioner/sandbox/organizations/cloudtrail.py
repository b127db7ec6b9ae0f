"""CloudTrail organization trails: members see and read the management account's trails;
the bucket policy and KMS key checks AWS makes on CreateTrail/UpdateTrail; DeleteTrail."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from provisioner.sandbox.organizations.models import (
    CLOUDTRAIL_TARGET,
    TRAIL_READS,
    ApiError,
    Forwarder,
    Request,
    json_answer,
    management_of,
    org_backend,
    service_enabled,
)


class CloudTrail(Forwarder):
    """Organization trails: what members see of them, and their bucket and key checks."""

    def handle(self, request: Request) -> Any:
        operation = request.environ.get("HTTP_X_AMZ_TARGET", "").removeprefix(CLOUDTRAIL_TARGET)
        if operation == "DeleteTrail":
            return self._delete_trail(request)
        if operation in ("DescribeTrails", *TRAIL_READS):
            return self._member_view(request, operation)
        if operation not in ("CreateTrail", "UpdateTrail"):
            return None
        params = request.json()
        existing = None
        if operation == "UpdateTrail":
            existing = _trail(request.account, request.region, str(params.get("Name", "")))
            if existing is None:
                return None
        organization_trail = params.get("IsOrganizationTrail", getattr(existing, "is_org_trail", False))
        backend = org_backend(request.account)
        if organization_trail:
            if backend.org is None:
                management = management_of(request.account)
                if management is None:
                    raise ApiError("OrganizationsNotInUseException", "This account is not a member of an organization.")
                raise ApiError(
                    "NotOrganizationMasterAccountException",
                    "The request was rejected because the current account is not the management account of the organization.",
                )
            if backend.org.feature_set != "ALL":
                raise ApiError(
                    "OrganizationNotInAllFeaturesModeException",
                    "This operation is not permitted when the organization does not have all features enabled.",
                )
            if not service_enabled(backend, "cloudtrail.amazonaws.com"):
                raise ApiError(
                    "CloudTrailAccessNotEnabledException",
                    "This operation is not permitted because CloudTrail trusted access with AWS Organizations is not enabled.",
                )
        bucket = params.get("S3BucketName") or getattr(existing, "bucket_name", None)
        prefix = params.get("S3KeyPrefix") or getattr(existing, "s3_key_prefix", None)
        if bucket and ("S3BucketName" in params or "IsOrganizationTrail" in params or existing is None):
            org_id = backend.org.id if (organization_trail and backend.org is not None) else None
            _check_trail_bucket(request.account, str(bucket), prefix, org_id)
        if params.get("KmsKeyId"):
            _check_trail_key(request.account, request.region, str(params["KmsKeyId"]), str(bucket or ""))
        return None

    def _member_view(self, request: Request, operation: str) -> Any:
        """A member account sees its organization's trails (moto: the management account only)."""
        management = management_of(request.account)
        if management is None or management == request.account:
            return None
        trails = organization_trails(management, request.region)
        if not trails:
            return None
        params = request.json()
        if operation in TRAIL_READS:
            name = str(params.get(TRAIL_READS[operation], ""))
            if _trail(request.account, request.region, name) is not None:
                return None
            trail = next((t for t in trails if name in (t.trail_name, t.arn)), None)
            if trail is None:
                return None
            if operation == "GetTrailStatus":  # moto finds it by ARN in any region of its account
                return self._forward(request, as_account=management)
            if operation == "GetTrail":
                return json_answer("cloudtrail", {"Trail": trail.description(include_region=True)})
            if operation == "GetInsightSelectors":
                return json_answer(
                    "cloudtrail", {"TrailARN": trail.arn, "InsightSelectors": trail.get_insight_selectors()}
                )
            selectors, advanced = trail.get_event_selectors()
            answer = {"TrailARN": trail.arn, "EventSelectors": selectors}
            if advanced:
                answer["AdvancedEventSelectors"] = advanced
            return json_answer("cloudtrail", answer)
        status, headers, data = self._forward(request)
        if not status.startswith("200"):
            return status, headers, data
        answer = json.loads(data)
        wanted = params.get("trailNameList") or []
        listed = {t.get("TrailARN") for t in answer.get("trailList", [])}
        for trail in trails:
            if trail.arn in listed or (wanted and not ({trail.trail_name, trail.arn} & set(wanted))):
                continue
            if params.get("includeShadowTrails") is False and trail.region_name != request.region:
                continue
            answer.setdefault("trailList", []).append(trail.description(include_region=True))
        return json_answer("cloudtrail", answer)

    def _delete_trail(self, request: Request) -> Any:
        """AWS takes a name or an ARN; moto deletes only by name (and answers 200 for an ARN)."""
        name = str(request.json().get("Name", ""))
        trail = _trail(request.account, request.region, name)
        if trail is None:
            raise ApiError("TrailNotFoundException", f"Unknown trail: {name} for the user: {request.account}")
        from moto.cloudtrail.models import cloudtrail_backends

        cloudtrail_backends[request.account][request.region].trails.pop(trail.trail_name, None)
        return json_answer("cloudtrail", {})


def organization_trails(management: str, region: str) -> list[Any]:
    """The management account's organization trails a member sees in `region`."""
    from moto.cloudtrail.models import cloudtrail_backends

    found = []
    for backend in cloudtrail_backends[management].values():
        for trail in backend.trails.values():
            if trail.is_org_trail and (trail.is_multi_region or trail.region_name == region):
                found.append(trail)
    return found


def _trail(account: str, region: str, name: str) -> Any:
    from moto.cloudtrail.models import cloudtrail_backends

    backend = cloudtrail_backends[account][region]
    for trail in backend.trails.values():
        if name in (trail.trail_name, trail.arn):
            return trail
    return None


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement", [])
    return [s for s in (statements if isinstance(statements, list) else [statements]) if isinstance(s, dict)]


def _allows(statement: dict[str, Any], service: str, action: str, resource: str | None) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal", {})
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    services = [services] if isinstance(services, str) else services
    if principal != "*" and service not in services:
        return False
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    if resource is None:
        return True
    resources = statement.get("Resource", [])
    resources = [resources] if isinstance(resources, str) else resources
    return any(fnmatch.fnmatchcase(resource, r) for r in resources)


def _check_trail_bucket(account: str, bucket_name: str, prefix: str | None, org_id: str | None) -> None:
    from moto.s3.models import s3_backends

    bucket = s3_backends[account]["aws"].buckets.get(bucket_name)
    if bucket is None:
        return  # moto answers S3BucketDoesNotExistException itself
    statements = _statements(bucket.policy) if bucket.policy else []
    base = f"arn:aws:s3:::{bucket_name}"
    logs = f"{base}/{prefix.strip('/') + '/' if prefix else ''}AWSLogs"
    owner = org_id or account
    acl = any(_allows(s, "cloudtrail.amazonaws.com", "s3:GetBucketAcl", base) for s in statements)
    put = any(
        _allows(s, "cloudtrail.amazonaws.com", "s3:PutObject", f"{logs}/{owner}/{account}/CloudTrail/x.json.gz")
        for s in statements
    )
    if not (acl and put):
        raise ApiError(
            "InsufficientS3BucketPolicyException", f"Incorrect S3 bucket policy is detected for bucket: {bucket_name}"
        )


def _check_trail_key(account: str, region: str, key_id: str, bucket_name: str) -> None:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    try:
        key = backend.describe_key(key_id)
    except Exception:
        raise ApiError("KmsKeyNotFoundException", f"KMS key {key_id} not found.") from None
    if not any(_allows(s, "cloudtrail.amazonaws.com", "kms:GenerateDataKey", None) for s in _statements(key.policy)):
        raise ApiError(
            "InsufficientEncryptionPolicyException",
            f"Insufficient permissions to access S3 bucket {bucket_name} or KMS key {key.arn}.",
        )
