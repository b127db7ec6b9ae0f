"""GuardDuty's organization administration, which moto lacks: the delegated administrator,
the organization configuration (auto-enable) and its effect on member accounts, members, tags."""

from __future__ import annotations

import re
from typing import Any

from provisioner.sandbox.organizations import models
from provisioner.sandbox.organizations.models import (
    STATE,
    ApiError,
    Forwarder,
    Request,
    iso,
    json_answer,
    management_of,
    org_backend,
    pending_accounts,
    service_enabled,
)


class GuardDuty(Forwarder):
    """GuardDuty's organization administration: delegated admin, auto-enable, members, tags."""

    def handle(self, request: Request) -> Any:
        gd_auto_enable()
        method = request.environ.get("REQUEST_METHOD", "GET")
        path = request.environ.get("PATH_INFO", "").rstrip("/")
        if method == "POST" and path == "/detector":
            if gd_backend(request.account, request.region).detectors:
                raise ApiError(
                    "BadRequestException",
                    "The request is rejected because a detector already exists for the current account.",
                )
            return None
        if method == "POST" and path == "/admin/enable":
            return self._gd_enable_admin(request)
        if method == "POST" and path == "/admin/disable":
            return self._gd_disable_admin(request)
        if method == "GET" and path == "/admin":
            if org_backend(request.account).org is None:
                raise ApiError(
                    "BadRequestException",
                    "The request is rejected because the current account is not the organization's management account.",
                )
            admins = gd_backend(request.account, request.region).admin_account_ids
            return json_answer(
                "guardduty", {"adminAccounts": [{"adminAccountId": a, "adminStatus": "ENABLED"} for a in admins]}
            )
        match = re.fullmatch(r"/detector/([^/]+)/(admin|member)", path)
        if match:
            detector_id, what = match.groups()
            config = self._gd_admin_config(request, detector_id)
            if what == "member" and method == "GET":
                return self._gd_list_members(request, detector_id, config)
            if what == "admin" and method == "POST":
                return self._gd_update_org_config(request, config)
            if what == "admin" and method == "GET":
                return json_answer("guardduty", _describe_org_config(config))
        match = re.fullmatch(r"/tags/(.+)", path)
        if match:
            return self._gd_tags(request, method, match.group(1))
        return None

    def _gd_enable_admin(self, request: Request) -> Any:
        admin = str(request.json().get("adminAccountId", ""))
        backend = org_backend(request.account)
        if backend.org is None:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the current account is not the organization's management account.",
            )
        account = next((a for a in backend.accounts if a.id == admin and a.status == "ACTIVE"), None)
        if account is None or admin == request.account or admin in pending_accounts(request.account):
            raise ApiError(
                "BadRequestException",
                f"The request is rejected because the account {admin} is not a member of the organization.",
            )
        other = gd_admins_anywhere(request.account) - {admin}
        if other:
            raise ApiError(
                "BadRequestException",
                f"The request is rejected because the organization already has a delegated administrator ({', '.join(sorted(other))}).",
            )
        gd = gd_backend(request.account, request.region)
        if admin not in gd.admin_account_ids:
            gd.admin_account_ids.append(admin)
        # AWS: "This enables GuardDuty as a trusted service in AWS Organizations. It also
        # enables GuardDuty for the delegated GuardDuty administrator account" (in this Region).
        if not service_enabled(backend, "guardduty.amazonaws.com"):
            backend.enable_aws_service_access(ServicePrincipal="guardduty.amazonaws.com")
        if not any(d.account.id == admin and "guardduty.amazonaws.com" in d.services for d in backend.admins):
            backend.register_delegated_administrator(AccountId=admin, ServicePrincipal="guardduty.amazonaws.com")
        admin_gd = gd_backend(admin, request.region)
        if not admin_gd.detectors:
            admin_gd.create_detector(True, "SIX_HOURS", {}, {}, [])
        return json_answer("guardduty", {})

    def _gd_disable_admin(self, request: Request) -> Any:
        admin = str(request.json().get("adminAccountId", ""))
        backend = org_backend(request.account)
        if backend.org is None:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the current account is not the organization's management account.",
            )
        gd = gd_backend(request.account, request.region)
        if admin not in gd.admin_account_ids:
            raise ApiError(
                "BadRequestException",
                f"The request is rejected because the account {admin} is not the delegated administrator.",
            )
        gd.admin_account_ids.remove(admin)
        with STATE.lock:
            for key in [k for k in STATE.org_configs if k[0] == admin and k[1] == request.region]:
                del STATE.org_configs[key]
        if admin not in gd_admins_anywhere(request.account):
            try:
                backend.deregister_delegated_administrator(AccountId=admin, ServicePrincipal="guardduty.amazonaws.com")
            except Exception:  # registered by hand and removed meanwhile: nothing to undo
                pass
        return json_answer("guardduty", {})

    def _gd_admin_config(self, request: Request, detector_id: str) -> dict[str, Any]:
        if detector_id not in gd_backend(request.account, request.region).detectors:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the input detectorId is not owned by the current account.",
            )
        management = management_of(request.account)
        if management is None or request.account not in gd_backend(management, request.region).admin_account_ids:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the current account is not the GuardDuty delegated administrator of the organization in this Region.",
            )
        with STATE.lock:
            return STATE.org_configs.setdefault(
                (request.account, request.region, detector_id), {"members": "NONE", "management": management}
            )

    def _gd_update_org_config(self, request: Request, config: dict[str, Any]) -> Any:
        params = request.json()
        members = params.get("autoEnableOrganizationMembers")
        if members is None and "autoEnable" in params:
            members = "NEW" if params["autoEnable"] else "NONE"
        if members is not None:
            if members not in ("NEW", "ALL", "NONE"):
                raise ApiError(
                    "BadRequestException",
                    "The request is rejected because an invalid or out-of-range value is specified as an input parameter.",
                )
            if members != config["members"]:
                # Who was there when it was set: NEW leaves them alone, ALL enables them too.
                config["existing"] = organization_members(config["management"])
            config["members"] = members
        if "dataSources" in params:
            config["dataSources"] = params["dataSources"]
        if "features" in params:
            config["features"] = params["features"]
        gd_auto_enable()
        return json_answer("guardduty", {})

    def _gd_list_members(self, request: Request, detector_id: str, config: dict[str, Any]) -> Any:
        members = []
        if config["members"] == "ALL":
            pending = pending_accounts(config["management"])
            for account in org_backend(config["management"]).accounts:
                if account.id == request.account or account.status != "ACTIVE" or account.id in pending:
                    continue
                members.append(
                    {
                        "accountId": account.id,
                        "masterId": request.account,
                        "administratorId": request.account,
                        "email": account.email,
                        "relationshipStatus": "Enabled",
                        "invitedAt": iso(models.now()),
                        "updatedAt": iso(models.now()),
                    }
                )
        return json_answer("guardduty", {"members": members})

    def _gd_tags(self, request: Request, method: str, arn: str) -> Any:
        from urllib.parse import unquote

        arn = unquote(arn)
        match = re.fullmatch(r"arn:aws[a-z-]*:guardduty:([a-z0-9-]+):(\d{12}):detector/([0-9a-f]+)", arn)
        detector = None
        if match and match.group(2) == request.account:
            detector = gd_backend(request.account, match.group(1)).detectors.get(match.group(3))
        if detector is None:
            raise ApiError("BadRequestException", f"The request is rejected because the resource {arn} was not found.")
        if method == "GET":
            return json_answer("guardduty", {"tags": dict(detector.tags)})
        if method == "POST":
            detector.tags.update(request.json().get("tags", {}))
        elif method == "DELETE":
            from urllib.parse import parse_qs

            for key in parse_qs(request.environ.get("QUERY_STRING", "")).get("tagKeys", []):
                detector.tags.pop(key, None)
        return "204 No Content", [("Content-Length", "0")], b""


def gd_backend(account: str, region: str) -> Any:
    from moto.guardduty.models import guardduty_backends

    return guardduty_backends[account][region]


def gd_admins_anywhere(management: str) -> set[str]:
    from moto.guardduty.models import guardduty_backends

    admins: set[str] = set()
    try:
        regions = list(guardduty_backends[management].keys())
    except Exception:
        regions = []
    for region in regions:
        admins.update(guardduty_backends[management][region].admin_account_ids)
    return admins


def organization_members(management: str) -> set[str]:
    """The organization's active accounts (management included), creations in progress excepted."""
    pending = pending_accounts(management)
    return {a.id for a in org_backend(management).accounts if a.status == "ACTIVE" and a.id not in pending}


def gd_auto_enable() -> None:
    """Give the accounts auto-enable covers their detector (see the module docstring)."""
    with STATE.lock:
        configs = [(key, config) for key, config in STATE.org_configs.items() if config["members"] in ("ALL", "NEW")]
    for (admin, region, _detector), config in configs:
        management = config["management"]
        if management_of(admin) != management:
            continue
        enabled = config.setdefault("enabled", set())
        existing = config.get("existing", set())
        for account in sorted(organization_members(management) - enabled - {admin}):
            if config["members"] == "NEW" and account in existing:
                continue
            backend = gd_backend(account, region)
            if not backend.detectors:
                backend.create_detector(True, "SIX_HOURS", {}, {}, [])
            enabled.add(account)


def _describe_org_config(config: dict[str, Any]) -> dict[str, Any]:
    members = config["members"]
    enabled = "NEW" if members in ("NEW", "ALL") else "NONE"
    return {
        "autoEnable": members in ("NEW", "ALL"),
        "memberAccountLimitReached": False,
        "autoEnableOrganizationMembers": members,
        "dataSources": config.get("dataSources")
        or {
            "s3Logs": {"autoEnable": False},
            "kubernetes": {"auditLogs": {"autoEnable": False}},
            "malwareProtection": {"scanEc2InstanceWithFindings": {"ebsVolumes": {"autoEnable": False}}},
        },
        "features": config.get("features")
        or [
            {"name": "S3_DATA_EVENTS", "autoEnable": enabled},
            {"name": "EKS_AUDIT_LOGS", "autoEnable": enabled},
        ],
    }
