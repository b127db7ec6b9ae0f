"""The tag diff: which tags a node sets, which it removes, and how it remembers the difference.

A node sets the plan's `tags`, its own tags and the ownership tags (`RunContext.tags_for`).
Tags somebody else set (a person, AWS, Karpenter, a Kubernetes controller) must survive every
apply, so a tag that is merely present but not wanted says nothing. To remove a tag that the
plan no longer lists, as Terraform users expect, the tool must know it set that key itself.

It remembers on the resource: `provisioner:tags` lists the keys the tool set there (its
managed keys other than the ownership tags), written together with them. A key listed there
that the plan no longer wants is removed; any other tag is left alone. A record on the
resource, rather than a rule such as "every tag not in the plan", is what keeps a cost tag
added by hand or a tag policy's tag safe; rather than a local file, it travels with the
resource (AWS itself is the state, SPEC section 5).

The record's value: keys sorted, separated by a space; within a key `+` is written `++` and a
space `+_` (tag keys may contain both; `%`, `,` and `;` are not allowed in tag values on
every service). A value holds at most 256 characters (the tightest service limit), so a long
record continues in `provisioner:tags:2`, `:3`, ...

Never removed, even when recorded: the ownership tags, and the prefixes AWS, Kubernetes and
Karpenter use (`aws:`, `kubernetes.io/`, `k8s.io/`, `karpenter.sh/`, `karpenter.k8s.aws/`,
`eks:`, `eks.amazonaws.com/`), which controllers read to find their resources
(`kubernetes.io/cluster/<name>` on subnets and instances, for example).

Only kinds that can remove a tag (`Resource.remove_tags`) record their keys and get removal
diffs; the others compare wanted tags only, as before. A resource made before the record
existed gets it on its next apply; a tag dropped from the plan before that stays (the tool
cannot know it set it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from provisioner.constants import OWNERSHIP_TAG_KEYS, TAG_MANAGED_TAGS
from provisioner.engine.change import TAG_FIELD_PREFIX, tag_field
from provisioner.engine.resource import Resource

if TYPE_CHECKING:
    from provisioner.engine.context import RunContext
    from provisioner.engine.resource import Live

FOREIGN_PREFIXES = (
    "aws:",
    "kubernetes.io/",
    "k8s.io/",
    "karpenter.sh/",
    "karpenter.k8s.aws/",
    "eks:",
    "eks.amazonaws.com/",
)
VALUE_LIMIT = 256


def removes_tags(node: Resource | type[Resource]) -> bool:
    """Whether a kind can remove tags (it overrides `Resource.remove_tags`)."""
    kind = node if isinstance(node, type) else type(node)
    return kind.remove_tags is not Resource.remove_tags


def is_record_key(key: str) -> bool:
    return key == TAG_MANAGED_TAGS or key.startswith(f"{TAG_MANAGED_TAGS}:")


def is_removable(key: str) -> bool:
    """Keys the tool may remove when it set them: not ownership, not another system's."""
    return key not in OWNERSHIP_TAG_KEYS and not is_record_key(key) and not key.lower().startswith(FOREIGN_PREFIXES)


def _encode(key: str) -> str:
    return key.replace("+", "++").replace(" ", "+_")


def _decode(word: str) -> str:
    out, i = [], 0
    while i < len(word):
        if word[i] == "+" and i + 1 < len(word):
            out.append(" " if word[i + 1] == "_" else word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


def record(keys: Iterable[str]) -> dict[str, str]:
    """The record tags for the managed keys `keys` (removable ones only); {} for none."""
    chunks: list[str] = []
    for word in (_encode(k) for k in sorted(set(keys)) if is_removable(k)):
        if chunks and len(chunks[-1]) + 1 + len(word) <= VALUE_LIMIT:
            chunks[-1] += " " + word
        else:
            chunks.append(word)
    return {(TAG_MANAGED_TAGS if i == 0 else f"{TAG_MANAGED_TAGS}:{i + 1}"): chunk for i, chunk in enumerate(chunks)}


def recorded(tags: Mapping[str, str]) -> set[str]:
    """The keys a resource's record says the tool set."""
    keys: set[str] = set()
    for key, value in tags.items():
        if is_record_key(key):
            keys.update(_decode(word) for word in (value or "").split(" ") if word)
    return keys


def with_record(node: Resource, tags: dict[str, str]) -> dict[str, str]:
    """`tags` plus the record of its keys, for kinds that can remove tags."""
    if not removes_tags(node):
        return tags
    return {**tags, **record(tags)}


def tag_diff(node: Resource, want: Mapping[str, str], have: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`tags.<key>` entries: wanted tags that differ, and (kinds that can remove tags) the
    recorded keys no longer wanted, `to` None. Tags the tool never set are not compared."""
    diff: dict[str, dict[str, Any]] = {}
    for key, value in want.items():
        if have.get(key) != value:
            diff[tag_field(key)] = {"from": have.get(key), "to": value}
    if removes_tags(node):
        stale = {k for k in recorded(have) if is_removable(k)} | {k for k in have if is_record_key(k)}
        for key in sorted(stale - set(want)):
            if key in have:
                diff[tag_field(key)] = {"from": have[key], "to": None}
    return diff


def removed(diff: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The tag keys a diff removes."""
    return [
        name[len(TAG_FIELD_PREFIX) :]
        for name, values in diff.items()
        if name.startswith(TAG_FIELD_PREFIX) and values.get("to") is None
    ]


def remove_stale(ctx: RunContext, node: Resource, have: Live, diff: Mapping[str, Mapping[str, Any]]) -> None:
    """Apply the removals of a diff (after the node's `update` set the wanted tags)."""
    keys = removed(diff)
    if keys and removes_tags(node):
        node.remove_tags(ctx, have, keys)
        for key in keys:
            have.tags.pop(key, None)
