"""ecr:replication-configuration: the registry's replication of the plan's repositories to
the DR region.

The replication configuration belongs to the registry (one per account and region), not to a
repository, and carries no tags: the node is the registry's configuration, found with one
DescribeRegistry, and it exists when it has rules. It replicates the plan's repositories
(PREFIX_MATCH on each full name) into the same account in `dr_region`; ECR makes the replica
repository there on the first replicated push. Applying replaces whatever rules the registry
had (ECR has one configuration per registry); destroy clears them.
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

    type = "ecr:replication-configuration"
    iam_actions = ("ecr:DescribeRegistry", "ecr:PutReplicationConfiguration", "iam:CreateServiceLinkedRole")
    create_seconds = 1.0
    delete_seconds = 1.0
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        nodes = [node for node in ctx.nodes.values() if type(node) is cls]
        if not nodes:
            return []
        registry = ctx.aws.client("ecr", purpose="poll").describe_registry()
        rules = (registry.get("replicationConfiguration") or {}).get("rules") or []
        if not rules:
            return []
        return [Live(key=nodes[0].key, id=registry["registryId"], fields={"rules": _normalise(rules)})]

    def rules(self, account: Any) -> list[dict[str, Any]]:
        return [{
            "destinations": [{"region": self.destination_region, "registryId": account}],
            "repositoryFilters": [{"filter": name, "filterType": "PREFIX_MATCH"} for name in sorted(self.repositories)],
        }]

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"rules": _normalise(self.rules(refs.get("@plan", "account_id")))}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        self._put(ctx, want["rules"])
        return Live(key=self.key, id=ctx.aws.account_id, fields=dict(want))

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        self._put(ctx, want["rules"])
        have.fields.update(want)
        return have

    def _put(self, ctx: RunContext, rules: list[dict[str, Any]]) -> None:
        try:
            ctx.aws.client("ecr").put_replication_configuration(replicationConfiguration={"rules": rules})
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("ecr").put_replication_configuration(replicationConfiguration={"rules": []})
        except ClientError as exc:
            raise as_provisioner_error(exc, key=have.key) from exc


def _normalise(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules compared without regard to the order ECR returns filters and destinations in."""
    out = []
    for rule in rules:
        out.append({
            "destinations": sorted(({"region": d.get("region"), "registryId": d.get("registryId")} for d in rule.get("destinations", [])),
                                   key=lambda d: (str(d["region"]), str(d["registryId"]))),
            "repositoryFilters": sorted(({"filter": f.get("filter"), "filterType": f.get("filterType")} for f in rule.get("repositoryFilters", [])),
                                        key=lambda f: (str(f["filter"]), str(f["filterType"]))),
        })
    return out
