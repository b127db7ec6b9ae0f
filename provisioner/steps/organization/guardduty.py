"""GuardDuty for the whole organization, in every region the plan lists.

    organization/guardduty/detector/<region>      guardduty:detector (management account)
    organization/guardduty/admin/<region>         guardduty:organization-admin
    organization/guardduty/auto-enable/<region>   guardduty:organization-configuration
                                                  (in the delegated administrator's account)

- Detectors: an account has at most one per region, so an existing detector is the region's
  detector: one this plan did not make is taken over (tagged, enabled) rather than refused,
  because another cannot be created beside it. ClientToken makes a retried create return the
  same detector. Discovery: one ListDetectors and one GetDetector (it carries the tags) per
  region.
- The delegated administrator is designated per region from the management account
  (EnableOrganizationAdminAccount); AWS then trusts GuardDuty in Organizations, registers the
  account as its delegated administrator and enables GuardDuty (a detector) in that account.
  Not taggable: found with ListOrganizationAdminAccounts per region.
- Auto-enable is set in the delegated administrator's own account, through the organization
  access role (sessions.member_session): UpdateOrganizationConfiguration on its detector with
  AutoEnableOrganizationMembers ALL (every existing and new member) or NEW. The setting
  "exists" when it is not NONE; destroy sets it back to NONE. Right after the designation
  GuardDuty can still say the account is not the administrator; that is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, error_message, is_not_found
from provisioner.aws.retry import eventually
from provisioner.aws.tags import key_of
from provisioner.constants import TAG_PLAN, idempotency_token
from provisioner.engine import Live, Refs, Resource, RunContext, tags_changed
from provisioner.steps.organization import _orgs
from provisioner.steps.organization.sessions import member_session

FINDING_FREQUENCY = "FIFTEEN_MINUTES"


def _regions(ctx: RunContext, kind: type) -> list[str]:
    regions = [node.region for node in _orgs.nodes_of(ctx, kind)]
    guardduty = getattr(ctx.plan.spec, "guardduty", None)
    regions += list(getattr(guardduty, "regions", []) or [])
    return list(dict.fromkeys(regions))


def _detector_arn(ctx: RunContext, region: str, account: str, detector_id: str) -> str:
    return f"arn:{ctx.aws.partition}:guardduty:{region}:{account}:detector/{detector_id}"


@dataclass(kw_only=True)
class Detector(Resource):
    region: str

    type = "guardduty:detector"
    iam_actions = (
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        "guardduty:CreateDetector",
        "guardduty:UpdateDetector",
        "guardduty:TagResource",
        "guardduty:DeleteDetector",
        "iam:CreateServiceLinkedRole",
    )
    # CreateDetector makes GuardDuty's service-linked role.
    linked_services = ("guardduty.amazonaws.com",)
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"region"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        by_region = {node.region: node for node in _orgs.nodes_of(ctx, cls)}
        account = ctx.aws.account_id
        lives = []
        for region in _regions(ctx, cls):
            guardduty = ctx.aws.client("guardduty", region, purpose="poll")
            for detector_id in guardduty.list_detectors().get("DetectorIds", []):
                detector = guardduty.get_detector(DetectorId=detector_id)
                tags = dict(detector.get("Tags") or {})
                key = key_of(tags)
                if tags.get(TAG_PLAN) == ctx.plan_name and key:
                    pass
                elif TAG_PLAN not in tags and region in by_region:
                    key = by_region[region].key  # the region's only detector, made by hand: ours to tag
                else:
                    continue
                lives.append(
                    Live(
                        key=key,
                        id=detector_id,
                        tags=tags,
                        raw=detector,
                        fields=cls.observe({**detector, "Region": region}),
                        outputs={"region": region, "arn": _detector_arn(ctx, region, account, detector_id)},
                    )
                )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: GetDetector's answer with the `Region` it was read in."""
        return {
            "region": item["Region"],
            "status": item.get("Status"),
            "finding_frequency": item.get("FindingPublishingFrequency"),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"region": self.region, "status": "ENABLED", "finding_frequency": FINDING_FREQUENCY}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        guardduty = ctx.aws.client("guardduty", self.region)
        try:
            detector_id = guardduty.create_detector(
                Enable=True,
                FindingPublishingFrequency=FINDING_FREQUENCY,
                Tags=ctx.tags_for(self),
                ClientToken=idempotency_token(ctx.plan_name, self.key),
            )["DetectorId"]
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        return Live(
            key=self.key,
            id=detector_id,
            tags=ctx.tags_for(self),
            fields=dict(want),
            outputs={"region": self.region, "arn": _detector_arn(ctx, self.region, ctx.aws.account_id, detector_id)},
        )

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        guardduty = ctx.aws.client("guardduty", self.region)
        try:
            if "status" in diff or "finding_frequency" in diff:
                guardduty.update_detector(DetectorId=have.id, Enable=True, FindingPublishingFrequency=FINDING_FREQUENCY)
            if tags_changed(diff):
                self.set_tags(ctx, have, ctx.tags_for(self))
                have.tags.update(ctx.tags_for(self))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update(want)
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        ctx.aws.client("guardduty", self.region).tag_resource(ResourceArn=have.outputs["arn"], Tags=tags)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("guardduty", have.fields["region"]).delete_detector(DetectorId=have.id)
        except ClientError as exc:
            if not (is_not_found(exc) or "not found" in error_message(exc).lower()):
                raise as_provisioner_error(exc, key=have.key) from exc


@dataclass(kw_only=True)
class OrganizationAdmin(Resource):
    region: str
    account: str  # node key of the delegated administrator's account

    type = "guardduty:organization-admin"
    iam_actions = (
        "guardduty:ListOrganizationAdminAccounts",
        "guardduty:EnableOrganizationAdminAccount",
        "guardduty:DisableOrganizationAdminAccount",
        "organizations:DescribeOrganization",
        "organizations:EnableAWSServiceAccess",
        "organizations:RegisterDelegatedAdministrator",
        "organizations:DeregisterDelegatedAdministrator",
        "organizations:ListDelegatedAdministrators",
        "sts:AssumeRole",
    )
    create_seconds = 2.0
    delete_seconds = 1.0
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        if _orgs.describe_organization(ctx) is None:
            return []
        lives = []
        for node in _orgs.nodes_of(ctx, cls):
            guardduty = ctx.aws.client("guardduty", node.region, purpose="poll")
            admins = [
                a
                for a in guardduty.list_organization_admin_accounts().get("AdminAccounts", [])
                if a.get("AdminStatus") in ("ENABLED", "DISABLE_IN_PROGRESS")
            ]
            if admins:
                admin = admins[0]["AdminAccountId"]
                item = {**admins[0], "Region": node.region}
                lives.append(
                    Live(
                        key=node.key,
                        id=admin,
                        fields=cls.observe(item),
                        raw=item,
                        outputs={"region": node.region},
                    )
                )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the first enabled ListOrganizationAdminAccounts entry, with its `Region`."""
        return {"region": item["Region"], "admin_account_id": item["AdminAccountId"]}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"region": self.region, "admin_account_id": refs.id(self.account)}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        self._enable(ctx, want["admin_account_id"])
        return Live(key=self.key, id=want["admin_account_id"], fields=dict(want), outputs={"region": self.region})

    def _enable(self, ctx: RunContext, account_id: str) -> None:
        try:
            ctx.aws.client("guardduty", self.region).enable_organization_admin_account(AdminAccountId=account_id)
        except ClientError as exc:
            raise as_provisioner_error(
                exc,
                key=self.key,
                hint="the account must be an active member of the organization and the organization must have all features",
            ) from exc
        ctx.progress(self.key, f"GuardDuty delegated administrator in {self.region}: {account_id}")

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "admin_account_id" in diff:
            type(self).delete(ctx, have)
            self._enable(ctx, want["admin_account_id"])
            have.id = want["admin_account_id"]
            have.fields.update(want)
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("guardduty", have.fields["region"]).disable_organization_admin_account(
                AdminAccountId=have.id
            )
        except ClientError as exc:
            if not (is_not_found(exc) or "not the delegated administrator" in error_message(exc)):
                raise as_provisioner_error(exc, key=have.key) from exc


@dataclass(kw_only=True)
class OrganizationConfiguration(Resource):
    region: str
    account: str  # node key of the delegated administrator's account
    admin_email: str  # how discovery finds that account before refs exist
    auto_enable: str = "ALL"

    type = "guardduty:organization-configuration"
    iam_actions = (
        "guardduty:ListDetectors",
        "guardduty:DescribeOrganizationConfiguration",
        "guardduty:UpdateOrganizationConfiguration",
        "sts:AssumeRole",
    )
    create_seconds = 2.0
    delete_seconds = 1.0
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        accounts = {
            str(a.get("Email", "")).lower(): a["Id"] for a in _orgs.accounts(ctx) if a.get("Status") == "ACTIVE"
        }
        lives = []
        for node in _orgs.nodes_of(ctx, cls):
            account_id = accounts.get(node.admin_email.lower())
            if account_id is None:
                continue
            guardduty = member_session(ctx, account_id, node.region, key=node.key).client(
                "guardduty", node.region, purpose="poll"
            )
            detectors = guardduty.list_detectors().get("DetectorIds", [])
            if not detectors:
                continue
            try:
                config = guardduty.describe_organization_configuration(DetectorId=detectors[0])
            except ClientError as exc:
                if error_code(exc) == "BadRequestException":  # not (yet) the delegated administrator here
                    continue
                raise
            members = config.get("AutoEnableOrganizationMembers") or ("NEW" if config.get("AutoEnable") else "NONE")
            if members == "NONE":
                continue
            lives.append(
                Live(
                    key=node.key,
                    id=f"{account_id}/{detectors[0]}",
                    raw=config,
                    fields=cls.observe({**config, "Region": node.region, "AdminAccountId": account_id}),
                    outputs={"detector_id": detectors[0], "account_id": account_id},
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeOrganizationConfiguration's answer in the delegated administrator
        (`AdminAccountId`), with the `Region` it was read in."""
        members = item.get("AutoEnableOrganizationMembers") or ("NEW" if item.get("AutoEnable") else "NONE")
        return {"region": item["Region"], "admin_account_id": item["AdminAccountId"], "auto_enable": members}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"region": self.region, "admin_account_id": refs.id(self.account), "auto_enable": self.auto_enable}

    def _guardduty(self, ctx: RunContext, account_id: str) -> Any:
        return member_session(ctx, account_id, self.region, key=self.key).client("guardduty", self.region)

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        account_id = want["admin_account_id"]
        guardduty = self._guardduty(ctx, account_id)
        try:
            detectors = guardduty.list_detectors().get("DetectorIds", [])
            detector_id = (
                detectors[0]
                if detectors
                else guardduty.create_detector(
                    Enable=True,
                    FindingPublishingFrequency=FINDING_FREQUENCY,
                    ClientToken=idempotency_token(ctx.plan_name, self.key, account_id),
                )["DetectorId"]
            )
            self._configure(ctx, guardduty, detector_id, self.auto_enable)
        except ClientError as exc:
            raise as_provisioner_error(
                exc, key=self.key, hint="the account must be GuardDuty's delegated administrator in this region"
            ) from exc
        return Live(
            key=self.key,
            id=f"{account_id}/{detector_id}",
            fields=dict(want),
            outputs={"detector_id": detector_id, "account_id": account_id},
        )

    def _configure(self, ctx: RunContext, guardduty: Any, detector_id: str, members: str) -> None:
        eventually(
            ctx,
            lambda: guardduty.update_organization_configuration(
                DetectorId=detector_id, AutoEnableOrganizationMembers=members
            ),
            codes={"BadRequestException"},
            message_contains="delegated administrator",
            key=self.key,
            what="GuardDuty organization configuration",
            budget=120,
        )
        ctx.progress(self.key, f"GuardDuty auto-enable {members} in {self.region}")

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "admin_account_id" in diff:  # a new administrator: configure it there
            return self.create(ctx, want)
        if "auto_enable" in diff:
            try:
                self._configure(
                    ctx,
                    self._guardduty(ctx, have.fields["admin_account_id"]),
                    have.outputs["detector_id"],
                    self.auto_enable,
                )
            except ClientError as exc:
                raise as_provisioner_error(exc, key=self.key) from exc
            have.fields.update(want)
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        region = have.fields["region"]
        guardduty = member_session(ctx, have.fields["admin_account_id"], region, key=have.key).client(
            "guardduty", region
        )
        try:
            guardduty.update_organization_configuration(
                DetectorId=have.outputs["detector_id"], AutoEnableOrganizationMembers="NONE"
            )
        except ClientError as exc:
            if error_code(exc) != "BadRequestException":  # no longer the administrator: nothing to undo
                raise as_provisioner_error(exc, key=have.key) from exc
