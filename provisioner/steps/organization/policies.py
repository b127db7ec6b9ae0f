"""organizations:policy: a service control policy and the targets it is attached to.

- The document is validated when the node is built (`scp_documents.validate`: JSON shape and
  the 5,120-character limit on the minified text), so a bad policy stops the run before any
  AWS call, with the policy and the reason named.
- Policies are found by one ListPolicies (SERVICE_CONTROL_POLICY) and the tags of each
  customer-managed one; AWS-managed ones (FullAWSAccess) are never touched. Names are
  deterministic (`<plan>-<policy>`), so a policy made by hand with the same name is an
  ownership error (DuplicatePolicyException), never adopted.
- Targets are the root or OUs; attachments are diffed both ways, and only this policy's own
  attachments are changed. Attaching right after the root enabled SCPs can briefly fail with
  PolicyTypeNotEnabledException; that is retried.
- Delete detaches the policy everywhere, then deletes it (AWS refuses while attached).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.retry import eventually
from provisioner.aws.tags import owned_key, to_list
from provisioner.engine import Live, OwnershipError, PermanentError, Refs, Resource, RunContext, tags_changed
from provisioner.steps.organization import _orgs, scp_documents

SCP = "SERVICE_CONTROL_POLICY"


@dataclass(kw_only=True)
class ServiceControlPolicy(Resource):
    name: str  # the policy's name in AWS: <plan>-<policy>
    description: str
    document: dict[str, Any]
    # (node key, output attribute) of each target: the organization's root_id or an OU's id
    targets: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    type = "organizations:policy"
    iam_actions = (
        "organizations:DescribeOrganization",
        "organizations:ListPolicies",
        "organizations:DescribePolicy",
        "organizations:ListTargetsForPolicy",
        "organizations:ListTagsForResource",
        "organizations:CreatePolicy",
        "organizations:UpdatePolicy",
        "organizations:AttachPolicy",
        "organizations:DetachPolicy",
        "organizations:TagResource",
        "organizations:DeletePolicy",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"name"})

    def __post_init__(self) -> None:
        problems = scp_documents.validate(self.document)
        if problems:
            raise PermanentError(
                f"service control policy {self.name} is invalid: {'; '.join(problems)}",
                key=self.key,
                code="InvalidPolicyDocument",
                hint="shorten or fix the policy (nothing was sent to AWS)",
            )

    @property
    def content(self) -> str:
        return scp_documents.minified(self.document)

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        if _orgs.describe_organization(ctx) is None:
            return []
        poll = _orgs.client(ctx, "poll")
        lives = []
        for summary in describe_all(poll, "list_policies", "Policies", Filter=SCP):
            if summary.get("AwsManaged"):
                continue
            tags = _orgs.tags_of(ctx, summary["Id"])
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue
            policy = poll.describe_policy(PolicyId=summary["Id"])["Policy"]
            targets = describe_all(poll, "list_targets_for_policy", "Targets", PolicyId=summary["Id"])
            lives.append(
                Live(
                    key=key,
                    id=summary["Id"],
                    tags=tags,
                    raw=policy,
                    fields=cls.observe({**policy, "Targets": targets}),
                    outputs={"arn": summary.get("Arn"), "name": summary["Name"]},
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribePolicy's policy with ListTargetsForPolicy's `Targets`."""
        summary = item.get("PolicySummary") or {}
        try:
            document = json.loads(item.get("Content") or "{}")
        except ValueError:
            document = item.get("Content")
        return {
            "name": summary["Name"],
            "description": summary.get("Description", ""),
            "document": document,
            "targets": sorted(t["TargetId"] for t in item.get("Targets") or []),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        targets = [refs.get(key, attribute) for key, attribute in self.targets]
        return {
            "name": self.name,
            "description": self.description,
            "document": self.document,
            "targets": sorted(targets, key=str),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        try:
            policy = _orgs.client(ctx).create_policy(
                Content=self.content,
                Description=self.description,
                Name=self.name,
                Type=SCP,
                Tags=to_list(ctx.tags_for(self)),
            )["Policy"]["PolicySummary"]
        except ClientError as exc:
            if error_code(exc) == "DuplicatePolicyException":
                raise OwnershipError(
                    f"a policy named {self.name} exists and is not this plan's",
                    key=self.key,
                    code="DuplicatePolicyException",
                    hint="rename or delete that policy; provisioner never adopts policies it did not create",
                ) from exc
            raise as_provisioner_error(exc, key=self.key, hint=_orgs.hint_for(exc)) from exc
        live = Live(
            key=self.key,
            id=policy["Id"],
            tags=ctx.tags_for(self),
            raw=policy,
            fields={"name": self.name, "description": self.description, "document": self.document, "targets": []},
            outputs={"arn": policy.get("Arn"), "name": self.name},
        )
        return self.update(ctx, want, live, {"targets": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "document" in diff or "description" in diff:
            _orgs.call(
                ctx, self.key, "update_policy", PolicyId=have.id, Content=self.content, Description=self.description
            )
        if "targets" in diff:
            current = set(have.fields.get("targets") or [])
            for target in sorted(set(want["targets"]) - current):
                self._attach(ctx, have.id, target)
            for target in sorted(current - set(want["targets"])):
                _detach(ctx, have.key, have.id, target)
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
            have.tags.update(ctx.tags_for(self))
        have.fields.update({k: want[k] for k in ("description", "document", "targets")})
        return have

    def _attach(self, ctx: RunContext, policy_id: str, target: str) -> None:
        client = _orgs.client(ctx)
        try:
            eventually(
                ctx,
                lambda: client.attach_policy(PolicyId=policy_id, TargetId=target),
                codes=_orgs.POLICY_TYPE_PROPAGATION,
                key=self.key,
                what=f"attach {self.name} to {target}",
                budget=60,
            )
        except ClientError as exc:
            if error_code(exc) != "DuplicatePolicyAttachmentException":
                raise as_provisioner_error(exc, key=self.key, hint=_orgs.hint_for(exc)) from exc

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        _orgs.tag(ctx, self.key, have.id, tags)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            for target in describe_all(
                _orgs.client(ctx, "poll"), "list_targets_for_policy", "Targets", PolicyId=have.id
            ):
                _detach(ctx, have.key, have.id, target["TargetId"])
            _orgs.client(ctx).delete_policy(PolicyId=have.id)
        except ClientError as exc:
            if is_not_found(exc) or error_code(exc) == "PolicyNotFoundException":
                return
            raise as_provisioner_error(exc, key=have.key) from exc


def _detach(ctx: RunContext, key: str, policy_id: str, target: str) -> None:
    try:
        _orgs.client(ctx).detach_policy(PolicyId=policy_id, TargetId=target)
    except ClientError as exc:
        if error_code(exc) not in ("PolicyNotAttachedException", "TargetNotFoundException"):
            raise as_provisioner_error(exc, key=key) from exc
