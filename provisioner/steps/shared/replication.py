"""ecr:replication-configuration: this plan's rule in the registry's replication of images to
the DR region.

The replication configuration belongs to the registry (one per account and region), not to a
repository, and carries no tags or names. `PutReplicationConfiguration` replaces the whole
configuration, so every write reads the configuration first (DescribeRegistry, on the
mutating client, right before the put) and changes only this plan's rule: other teams' rules,
and their order, are sent back as they were, in apply and in destroy.

This plan's rule is recognised by its content, since a rule has no id: its destinations are
exactly this account in `dr_region`, and it filters (PREFIX_MATCH) on at least one of the
plan's repository names. That still finds the rule after repositories were added to or
removed from the plan (it is then replaced by the new one), and never takes a rule that
replicates elsewhere or only other repositories. More than one such rule (made by hand) is
folded into one; a hand-made rule to the same destination that mixes the plan's repositories
with others is taken for the plan's too (its other filters are then dropped: keep other
repositories in rules of their own).

The repositories in the DR region are not left for replication to create: ECR would make them
with its defaults (mutable tags, AES256, no lifecycle or pull policy). The shared step makes
them itself, with the same baseline and a KMS key of the DR region, before this rule exists
(see steps/shared/__init__.py for why not a repository creation template).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error
from provisioner.engine import Live, Refs, Resource, RunContext


@dataclass(kw_only=True)
class ReplicationConfiguration(Resource):
    destination_region: str
    repositories: tuple[str, ...] = field(default_factory=tuple)  # repository names
    # False when the plan does not replicate (`replicate_to_dr: false`): the node then removes
    # the rule a previous apply made, so ECR stops making default repositories in the DR region.
    enabled: bool = True

    type = "ecr:replication-configuration"
    iam_actions = ("ecr:DescribeRegistry", "ecr:PutReplicationConfiguration", "iam:CreateServiceLinkedRole")
    # The first PutReplicationConfiguration makes ECR's replication service-linked role.
    linked_services = ("replication.ecr.amazonaws.com",)
    create_seconds = 1.0
    delete_seconds = 1.0
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        nodes = [node for node in ctx.nodes.values() if type(node) is cls]
        if not nodes:
            return []
        node = nodes[0]
        registry = ctx.aws.client("ecr", purpose="poll").describe_registry()
        rules = (registry.get("replicationConfiguration") or {}).get("rules") or []
        account = registry["registryId"]
        ours = [rule for rule in rules if node.owns(rule, account)]
        if not ours and node.enabled:
            return []
        # Turned off: the node stands for the absence of the rule, so it always "exists" and
        # an update removes a rule left from when the plan replicated.
        return [
            Live(
                key=node.key,
                id=account,
                fields=cls.observe({"rules": ours}),
                outputs={"destination_region": node.destination_region, "repositories": list(node.repositories)},
            )
        ]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeRegistry's replication configuration, with only this plan's `rules`."""
        return {"rules": _normalise(item["rules"])}

    def owns(self, rule: dict[str, Any], account: Any) -> bool:
        """Whether `rule` is this plan's (see the module docstring)."""
        return _owns(rule, account, self.destination_region, self.repositories)

    def rules(self, account: Any) -> list[dict[str, Any]]:
        return [
            {
                "destinations": [{"region": self.destination_region, "registryId": account}],
                "repositoryFilters": [
                    {"filter": name, "filterType": "PREFIX_MATCH"} for name in sorted(self.repositories)
                ],
            }
        ]

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"rules": _normalise(self.rules(refs.get("@plan", "account_id"))) if self.enabled else []}

    def outputs(self, live: Live) -> dict[str, Any]:
        return {"id": live.id, "destination_region": self.destination_region, "repositories": list(self.repositories)}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        account = ctx.aws.account_id
        _replace_rules(
            ctx, self.key, lambda rule: _owns(rule, account, self.destination_region, self.repositories), want["rules"]
        )
        return Live(key=self.key, id=account, fields=dict(want), outputs=self.outputs(Live(key=self.key, id=account)))

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        _replace_rules(
            ctx, self.key, lambda rule: _owns(rule, have.id, self.destination_region, self.repositories), want["rules"]
        )
        have.fields.update(want)
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        # Discovery recorded which destination and repositories made the rule the plan's.
        region = have.outputs.get("destination_region")
        names = tuple(have.outputs.get("repositories") or ())
        _replace_rules(ctx, have.key, lambda rule: _owns(rule, have.id, region, names), [])


def _owns(rule: dict[str, Any], account: Any, region: str | None, repositories: tuple[str, ...]) -> bool:
    destinations = [(d.get("region"), d.get("registryId")) for d in rule.get("destinations") or []]
    if destinations != [(region, account)]:
        return False
    filters = rule.get("repositoryFilters") or []
    return any(f.get("filterType") == "PREFIX_MATCH" and f.get("filter") in repositories for f in filters)


def _replace_rules(ctx: RunContext, key: str, owned: Any, new_rules: list[dict[str, Any]]) -> None:
    """Read the registry's configuration, drop the rules `owned` selects, add `new_rules` where
    the first dropped one was (or at the end), and put it back: the other rules stay as they
    were. Read on the mutating client, right before the write, so a rule another team added
    since discovery is kept too."""
    ecr = ctx.aws.client("ecr")
    try:
        current = (ecr.describe_registry().get("replicationConfiguration") or {}).get("rules") or []
        kept: list[dict[str, Any]] = []
        position = None
        for rule in current:
            if owned(rule):
                position = len(kept) if position is None else position
            else:
                kept.append(rule)
        if position is None:
            position = len(kept)
        rules = kept[:position] + list(new_rules) + kept[position:]
        if rules == current:
            return
        ecr.put_replication_configuration(replicationConfiguration={"rules": rules})
    except ClientError as exc:
        raise as_provisioner_error(exc, key=key) from exc


def _normalise(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules compared without regard to the order ECR returns filters and destinations in."""
    out = []
    for rule in rules:
        out.append(
            {
                "destinations": sorted(
                    (
                        {"region": d.get("region"), "registryId": d.get("registryId")}
                        for d in rule.get("destinations", [])
                    ),
                    key=lambda d: (str(d["region"]), str(d["registryId"])),
                ),
                "repositoryFilters": sorted(
                    (
                        {"filter": f.get("filter"), "filterType": f.get("filterType")}
                        for f in rule.get("repositoryFilters", [])
                    ),
                    key=lambda f: (str(f["filter"]), str(f["filterType"])),
                ),
            }
        )
    return out
