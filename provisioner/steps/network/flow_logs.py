"""VPC flow logs: a CloudWatch log group with retention (logs:log-group), the delivery role
(iam:role, in steps/iam) and the flow log itself (ec2:flow-log), all traffic, 1-minute
aggregation.

Log groups cannot be tag-filtered in a describe; they live under `/provisioner/<plan>/`
(EKS's control plane group at `/aws/eks/<cluster>/cluster`, eks/logs.py). One DescribeLogGroups
per run reads them all by name (`plan_log_groups`): the plan's own names and every log group
the run's bulk tag read knows as this plan's (one the plan no longer names, for plan and
destroy), instead of a listing per prefix (issue #17). Their tags come from that bulk read
(`aws.discovery.tags_of`), not one ListTagsForResource each. Flow logs are
immutable: any change replaces them. CreateFlowLogs reports per-resource failures in
`Unsuccessful` with HTTP 200, so that list is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from provisioner.aws.discovery import describe_all, tagged_resources, tags_of
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.tags import owned_key
from provisioner.constants import TAG_PLAN, idempotency_token
from provisioner.engine import Live, OwnershipError, PermanentError, Refs, Resource, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call


def log_group_tags(logs: Any, arn: str) -> dict[str, str]:
    """One log group's tags (its ARN without the `:*` DescribeLogGroups adds)."""
    return dict(logs.list_tags_for_resource(resourceArn=arn).get("tags", {}))


def log_group_prefix(plan: str) -> str:
    return f"/provisioner/{plan}/"


def plan_log_groups(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """The log groups this plan may own, by name: one DescribeLogGroups per run, shared by
    the log group kinds, that names them (`logGroupIdentifiers`, up to 50 a call).

    The names: those the plan's log group nodes have and those the kinds find by convention
    (`LogGroup.expected_names`: the EKS control plane's group even when the plan no longer has
    the cluster), plus every log group the bulk tag read knows as this plan's, so a group the
    plan made and no longer names is found and deleted. DescribeLogGroups is authoritative for
    existence and retention; a name that does not exist is simply absent from the answer.
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html
    """

    def read() -> dict[str, dict[str, Any]]:
        names: set[str] = set()
        kinds: list[type[LogGroup]] = [LogGroup]
        while kinds:
            kind = kinds.pop()
            names |= kind.expected_names(ctx)
            kinds.extend(kind.__subclasses__())
        names |= {
            arn.split(":log-group:", 1)[1].removesuffix(":*")
            for arn, tags in tagged_resources(ctx).items()
            if ":log-group:" in arn and tags.get(TAG_PLAN) == ctx.plan_name
        }
        logs = ctx.aws.client("logs")
        found: dict[str, dict[str, Any]] = {}
        ordered = sorted(names)
        for start in range(0, len(ordered), 50):
            answer = logs.describe_log_groups(logGroupIdentifiers=ordered[start : start + 50])
            found.update({group["logGroupName"]: group for group in answer.get("logGroups", [])})
        return found

    return ctx.cached(("logs", "plan-log-groups"), read)


@dataclass(kw_only=True)
class LogGroup(Resource):
    name: str
    retention_days: int

    type = "logs:log-group"
    iam_actions = (
        "logs:DescribeLogGroups",
        "logs:ListTagsForResource",
        "tag:GetResources",
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:TagResource",
        "logs:UntagResource",
        "logs:DeleteLogGroup",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"name"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        logs = ctx.aws.client("logs")
        lives = []
        prefix = log_group_prefix(ctx.plan_name)
        for name, group in sorted(plan_log_groups(ctx).items()):
            if not name.startswith(prefix):
                continue
            arn = group["arn"].removesuffix(":*")
            tags = tags_of(ctx, arn, partial(log_group_tags, logs, arn))
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue
            lives.append(
                Live(
                    key=key,
                    id=group["logGroupName"],
                    tags=tags,
                    raw=group,
                    fields=cls.observe(group),
                    outputs={"arn": arn, "name": group["logGroupName"]},
                )
            )
        return lives

    @classmethod
    def expected_names(cls, ctx: RunContext) -> set[str]:
        """Names discovery reads whatever the bulk tag read says: the plan's groups of this
        kind (a subclass adds the names its convention gives)."""
        return {n.name for n in ctx.nodes.values() if type(n) is cls}

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a log group as DescribeLogGroups returns it."""
        return {"name": item["logGroupName"], "retention_days": item.get("retentionInDays")}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"name": self.name, "retention_days": self.retention_days}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        logs = ctx.aws.client("logs")
        try:
            logs.create_log_group(logGroupName=self.name, tags=ctx.tags_for(self))
        except ClientError as exc:
            if error_code(exc) == "ResourceAlreadyExistsException":
                raise OwnershipError(
                    f"log group {self.name} exists without this plan's tags",
                    key=self.key,
                    code="ResourceAlreadyExistsException",
                    hint="delete it or tag it by hand if it really belongs to this plan",
                ) from exc
            raise as_provisioner_error(exc, key=self.key) from exc
        group = describe_all(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=self.name)[0]
        arn = group["arn"].removesuffix(":*")
        live = Live(
            key=self.key,
            id=self.name,
            tags=ctx.tags_for(self),
            raw=group,
            fields={"name": self.name, "retention_days": None},
            outputs={"arn": arn, "name": self.name},
        )
        return self.update(ctx, want, live, {"retention_days": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        logs = ctx.aws.client("logs")
        if "retention_days" in diff:
            logs.put_retention_policy(logGroupName=have.id, retentionInDays=self.retention_days)
            have.fields["retention_days"] = self.retention_days
        if tags_changed(diff):
            logs.tag_resource(resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        return have

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        ctx.aws.client("logs").untag_resource(resourceArn=have.outputs["arn"], tagKeys=keys)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("logs").delete_log_group(logGroupName=have.id)
        except ClientError as exc:
            if not is_not_found(exc):
                raise as_provisioner_error(exc, key=have.key) from exc


@dataclass(kw_only=True)
class FlowLog(Ec2Resource):
    vpc: str
    log_group: str
    role: str
    traffic_type: str

    type = "ec2:flow-log"
    iam_actions = (
        "ec2:DescribeFlowLogs",
        "ec2:CreateFlowLogs",
        "ec2:DeleteFlowLogs",
        "iam:PassRole",
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"resource_id", "traffic_type", "log_group", "role_arn", "aggregation_seconds"})
    describe_operation = "describe_flow_logs"
    result_key = "FlowLogs"
    id_field = "FlowLogId"
    tag_resource_type = "vpc-flow-log"

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "resource_id": item.get("ResourceId"),
            "traffic_type": item.get("TrafficType"),
            "log_group": item.get("LogGroupName"),
            "role_arn": item.get("DeliverLogsPermissionArn"),
            "aggregation_seconds": item.get("MaxAggregationInterval", 600),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "resource_id": refs.id(self.vpc),
            "traffic_type": self.traffic_type,
            "log_group": refs.get(self.log_group, "name"),
            "role_arn": refs.get(self.role, "arn"),
            "aggregation_seconds": 60,
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        answer = ec2_call(
            ctx,
            self.key,
            "create_flow_logs",
            ResourceIds=[want["resource_id"]],
            ResourceType="VPC",
            TrafficType=self.traffic_type,
            LogDestinationType="cloud-watch-logs",
            LogGroupName=want["log_group"],
            DeliverLogsPermissionArn=want["role_arn"],
            MaxAggregationInterval=60,
            TagSpecifications=self.tag_specs(ctx),
            ClientToken=idempotency_token(ctx.plan_name, self.key, want["resource_id"]),
        )
        if answer.get("Unsuccessful"):
            error = answer["Unsuccessful"][0].get("Error", {})
            raise PermanentError(error.get("Message", "flow log not created"), key=self.key, code=error.get("Code"))
        flow_log_id = answer["FlowLogIds"][0]
        return Live(key=self.key, id=flow_log_id, fields=dict(want), tags=ctx.tags_for(self))

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        answer = ec2_call(ctx, have.key, "delete_flow_logs", missing_ok=True, FlowLogIds=[have.id])
        for failure in answer.get("Unsuccessful", []):
            code = failure.get("Error", {}).get("Code", "")
            if "NotFound" not in code:
                raise PermanentError(
                    failure.get("Error", {}).get("Message", "flow log not deleted"), key=have.key, code=code
                )
