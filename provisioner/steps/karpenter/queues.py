"""Karpenter's interruption queue (sqs:queue) and the EventBridge rules that feed it
(events:rule).

The queue: SSE with SQS-managed keys, 300 s retention (interruption notices are useless
later), a policy (policies.py) that lets only EventBridge and SQS send, on behalf of this
account only (`aws:SourceAccount`, against the confused deputy), and denies any request not
over TLS. Queues have deterministic names (`<cluster>`, Karpenter's convention). Discovery reads
each queue's attributes by its URL, built from the name, the account and the SQS endpoint
(`queue_url`), with no ListQueues: the queues are the plan's queue nodes' and those the bulk tag
read names as this plan's (a queue the plan no longer has). A queue that is not there at the
built URL is looked for by name once (ListQueues), so a queue whose URL SQS spells otherwise is
still found; the steady state costs one GetQueueAttributes per queue (issue #17).

The rules: one per event Karpenter handles (spot interruption warnings, rebalance
recommendations, instance state changes, AWS Health scheduled changes, capacity reservation
interruptions), each with the queue as its only target. Rules are listed by name prefix
(`<cluster>-karpenter-`), one ListRules call; a rule with a missing target shows as drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from provisioner.aws.discovery import describe_all, tagged_resources, tags_of
from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.constants import TAG_PLAN, cluster_name
from provisioner.engine import Live, Refs, Resource, RunContext, tags_changed
from provisioner.steps.karpenter.policies import queue_policy

RETENTION_SECONDS = 300


@dataclass(kw_only=True)
class Queue(Resource):
    name: str

    type = "sqs:queue"
    iam_actions = (
        "sqs:ListQueues",
        "sqs:GetQueueAttributes",
        "sqs:ListQueueTags",
        "tag:GetResources",
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:DeleteQueue",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"name"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        sqs = ctx.aws.client("sqs")
        lives = []
        for url, attributes in _plan_queues(ctx):
            tags = tags_of(ctx, attributes["QueueArn"], partial(_queue_tags, sqs, url))
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue  # a look-alike of the same name, not tagged as this plan's: never adopted
            lives.append(
                Live(
                    key=key,
                    id=url,
                    tags=tags,
                    raw=attributes,
                    fields=cls.observe({**attributes, "QueueUrl": url}),
                    outputs={"arn": attributes["QueueArn"], "name": url.rsplit("/", 1)[-1], "url": url},
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: GetQueueAttributes' attributes (all) with the `QueueUrl` they were read for."""
        return {
            "name": item["QueueUrl"].rsplit("/", 1)[-1],
            "retention_seconds": int(item.get("MessageRetentionPeriod", 0)),
            "sse": item.get("SqsManagedSseEnabled") == "true",
            "policy": json.loads(item["Policy"]) if item.get("Policy") else None,
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        account = refs.get("@plan", "account_id")
        arn = f"arn:{refs.get('@plan', 'partition')}:sqs:{refs.get('@plan', 'region')}:{account}:{self.name}"
        return {
            "name": self.name,
            "retention_seconds": RETENTION_SECONDS,
            "sse": True,
            "policy": queue_policy(arn, account),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        sqs = ctx.aws.client("sqs")
        try:
            url = sqs.create_queue(
                QueueName=self.name,
                tags=ctx.tags_for(self),
                Attributes={
                    "MessageRetentionPeriod": str(RETENTION_SECONDS),
                    "SqsManagedSseEnabled": "true",
                    "Policy": json.dumps(want["policy"]),
                },
            )["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        return Live(
            key=self.key,
            id=url,
            tags=ctx.tags_for(self),
            fields=dict(want),
            outputs={"arn": arn, "name": self.name, "url": url},
        )

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        sqs = ctx.aws.client("sqs")
        attributes = {}
        if "retention_seconds" in diff:
            attributes["MessageRetentionPeriod"] = str(RETENTION_SECONDS)
        if "sse" in diff:
            attributes["SqsManagedSseEnabled"] = "true"
        if "policy" in diff:
            attributes["Policy"] = json.dumps(want["policy"])
        try:
            if attributes:
                sqs.set_queue_attributes(QueueUrl=have.id, Attributes=attributes)
            if tags_changed(diff):
                sqs.tag_queue(QueueUrl=have.id, Tags=ctx.tags_for(self))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update({k: want[k] for k in ("retention_seconds", "sse", "policy")})
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("sqs").delete_queue(QueueUrl=have.id)
        except ClientError as exc:
            if not (is_not_found(exc) or "NonExistentQueue" in str(exc)):
                raise as_provisioner_error(exc, key=have.key) from exc


def queue_url(sqs: Any, account: str, name: str) -> str:
    """A queue's URL as SQS gives it: `<the SQS endpoint>/<account id>/<queue name>`
    (`https://sqs.us-east-2.amazonaws.com/123456789012/MyQueue` in the SQS Developer Guide,
    "Amazon SQS queue and message identifiers"). Since botocore sends SQS requests to the
    client's endpoint with the URL as a parameter (AWS JSON protocol), the URL only names the
    account and queue; `_plan_queues` falls back to ListQueues when a queue is not found at it.
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-queue-message-identifiers.html
    """
    return f"{str(sqs.meta.endpoint_url).rstrip('/')}/{account}/{name}"


def _plan_queues(ctx: RunContext) -> list[tuple[str, dict[str, Any]]]:
    """(URL, attributes) of the queues that may be this plan's: those its queue nodes name, and
    those the bulk tag read finds tagged with the plan (a queue it no longer has, or renamed).
    Ownership is checked by the caller, from the queue's tags."""
    sqs = ctx.aws.client("sqs")
    account = ctx.aws.account_id
    prefix = f"arn:{ctx.aws.partition}:sqs:{ctx.aws.region}:{account}:"
    planned = sorted({n.name for n in ctx.nodes.values() if isinstance(n, Queue)})
    tagged = sorted(
        arn[len(prefix) :]
        for arn, tags in tagged_resources(ctx).items()
        if arn.startswith(prefix) and tags.get(TAG_PLAN) == ctx.plan_name
    )
    found = []
    for name in dict.fromkeys([*planned, *tagged]):
        attributes = _attributes(sqs, queue_url(sqs, account, name))
        if attributes is not None:
            found.append((queue_url(sqs, account, name), attributes))
            continue
        # Not at the URL we built: absent (before its create, or deleted), or SQS names it
        # otherwise. One listing by name settles it (the only ListQueues of a plan).
        listed = sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
        for url in listed:
            if url.rsplit("/", 1)[-1] == name:
                attributes = _attributes(sqs, url)
                if attributes is not None:
                    found.append((url, attributes))
    return found


def _attributes(sqs: Any, url: str) -> dict[str, Any] | None:
    """All of a queue's attributes (its ARN among them), None when there is no such queue."""
    try:
        return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])
    except ClientError as exc:
        # SQS answers QueueDoesNotExist (AWS.SimpleQueueService.NonExistentQueue in its
        # query-compatible error code) for a queue that does not exist, and InvalidAddress for
        # a URL it does not take (then the caller looks the queue up by name).
        text = str(exc)
        if is_not_found(exc) or any(
            code in text for code in ("NonExistentQueue", "QueueDoesNotExist", "InvalidAddress")
        ):
            return None
        raise


@dataclass(kw_only=True)
class EventRule(Resource):
    name: str
    pattern: dict[str, Any]
    queue: str  # key of the sqs:queue node

    type = "events:rule"
    iam_actions = (
        "events:ListRules",
        "events:DescribeRule",
        "events:ListRuleNamesByTarget",
        "events:ListTargetsByRule",
        "events:ListTagsForResource",
        "tag:GetResources",
        "events:PutRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:TagResource",
        "events:DeleteRule",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"name"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        events = ctx.aws.client("events")
        # Which rules send to the plan's queue: one ListRuleNamesByTarget per queue rather than
        # a ListTargetsByRule per rule (issue #17). Desired is exactly that one target, under a
        # fixed target id, so a rule missing it, or sending to an old queue instead, shows as
        # drift and PutTargets repairs it; a target someone added beside it is not seen.
        feeding: dict[str, list[str]] = {}
        for queue in ctx.live(Queue):
            arn = queue.outputs["arn"]
            for name in describe_all(events, "list_rule_names_by_target", "RuleNames", TargetArn=arn):
                feeding.setdefault(str(name), []).append(arn)
        lives = []
        for rule in describe_all(events, "list_rules", "Rules", NamePrefix=cluster_name(ctx.plan_name)):
            tags = tags_of(
                ctx,
                rule["Arn"],
                partial(_rule_tags, events, rule["Arn"]),
            )
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue
            lives.append(
                Live(
                    key=key,
                    id=rule["Name"],
                    tags=tags,
                    raw=rule,
                    fields=cls.observe({**rule, "Targets": feeding.get(rule["Name"], [])}),
                    outputs={"arn": rule["Arn"]},
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a listed rule with the ARNs of the plan's queues it sends to (`Targets`)."""
        return {
            "name": item["Name"],
            "pattern": json.loads(item.get("EventPattern") or "{}"),
            "state": item.get("State"),
            "targets": sorted(item.get("Targets") or []),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "pattern": self.pattern,
            "state": "ENABLED",
            "targets": [refs.get(self.queue, "arn")],
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        events = ctx.aws.client("events")
        try:
            arn = events.put_rule(
                Name=self.name,
                EventPattern=json.dumps(self.pattern),
                State="ENABLED",
                Description=f"Karpenter interruption handling ({self.key})",
                Tags=to_list(ctx.tags_for(self)),
            )["RuleArn"]
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        live = Live(
            key=self.key, id=self.name, tags=ctx.tags_for(self), fields={**want, "targets": []}, outputs={"arn": arn}
        )
        return self.update(ctx, want, live, {"targets": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        events = ctx.aws.client("events")
        try:
            if {"pattern", "state"} & set(diff):
                events.put_rule(Name=self.name, EventPattern=json.dumps(self.pattern), State="ENABLED")
            if "targets" in diff:
                extra = [t for t in have.fields.get("targets") or [] if t not in want["targets"]]
                if extra:
                    ids = [t["Id"] for t in events.list_targets_by_rule(Rule=self.name)["Targets"] if t["Arn"] in extra]
                    events.remove_targets(Rule=self.name, Ids=ids)
                events.put_targets(
                    Rule=self.name, Targets=[{"Id": "karpenter-interruption-queue", "Arn": want["targets"][0]}]
                )
            if tags_changed(diff):
                events.tag_resource(ResourceARN=have.outputs["arn"], Tags=to_list(ctx.tags_for(self)))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update({k: want[k] for k in ("pattern", "state", "targets")})
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        events = ctx.aws.client("events")
        try:
            targets = events.list_targets_by_rule(Rule=have.id).get("Targets", [])
            if targets:  # EventBridge refuses to delete a rule that still has targets
                events.remove_targets(Rule=have.id, Ids=[t["Id"] for t in targets])
            events.delete_rule(Name=have.id)
        except ClientError as exc:
            if not is_not_found(exc):
                raise as_provisioner_error(exc, key=have.key) from exc


def _queue_tags(sqs: Any, url: str) -> dict[str, str]:
    return dict(sqs.list_queue_tags(QueueUrl=url).get("Tags", {}))


def _rule_tags(events: Any, arn: str) -> dict[str, str]:
    return from_list(events.list_tags_for_resource(ResourceARN=arn).get("Tags"))
