"""Plain-dict Kubernetes objects: ownership marks, drift comparison, YAML streams.

No API calls and no `kubernetes` import: these helpers work on manifests and on objects as
`provisioner.kube.client` returns them, so steps can compare and render without a cluster.

Ownership (SPEC section 5, in Kubernetes terms). Every object the tool installs carries
the labels `app.kubernetes.io/managed-by: provisioner` and `provisioner.innovate.io/plan:
<plan>` (discovery lists by them, one label-selected list per kind) and the annotation
`provisioner.innovate.io/key: <node key>` (a key holds `/`, which label values may not).
Objects without them are never updated or deleted.

Drift. The comparison is restricted to what the tool sets, because the API server adds
defaults (a Deployment's `progressDeadlineSeconds`, a CRD's `conversion`), controllers add
status, and others may add labels: a live object is projected onto the manifest's shape
(dicts keep only the manifest's keys; lists of the manifest's length are projected item by
item) and compared leaf by leaf, so a plan names the exact fields that differ
(`spec.limits.cpu: 32 -> 48`). A field the tool set before and no longer sets would not show
in a projection; the manager's own field set (`metadata.managedFields` of the `provisioner`
apply manager) does show it, and `stale_fields` reports such leftovers so that the next
server-side apply, which drops fields its manager no longer sets, removes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

FIELD_MANAGER = "provisioner"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PLAN = "provisioner.innovate.io/plan"
ANNOTATION_KEY = "provisioner.innovate.io/key"
MANAGED_BY = "provisioner"

# Identity and server-owned metadata: never part of a comparison.
_IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
STALE_FIELDS = "stale_fields"

Path = tuple[str, ...]


# --- ownership ------------------------------------------------------------------------------


def ownership_labels(plan: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_PLAN: plan}


def ownership_selector(plan: str) -> str:
    """The label selector that lists a plan's objects."""
    return ",".join(f"{k}={v}" for k, v in ownership_labels(plan).items())


def owned_by(obj: Mapping[str, Any], plan: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in ownership_labels(plan).items())


def key_of(obj: Mapping[str, Any]) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_KEY)


def mark(manifest: dict[str, Any], plan: str, key: str) -> dict[str, Any]:
    """The manifest with the ownership labels and key annotation added (a new dict)."""
    metadata = dict(manifest.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **ownership_labels(plan)}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), ANNOTATION_KEY: key}
    return {**manifest, "metadata": metadata}


def object_id(obj: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` or `Kind/name`, as plans print it."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return "/".join(p for p in (obj.get("kind"), namespace, metadata.get("name")) if p)


# --- comparison -----------------------------------------------------------------------------


def leaves(manifest: Mapping[str, Any]) -> dict[Path, Any]:
    """Leaf paths of a manifest: non-empty dicts recurse; lists, scalars and {} are leaves.
    Identity (apiVersion, kind, name, namespace) is left out."""
    result: dict[Path, Any] = {}

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, path + (str(key),))
        elif path and path not in _IDENTITY:
            result[path] = value

    walk(dict(manifest), ())
    return result


def show_path(path: Path) -> str:
    """`spec.limits.cpu`; keys holding dots or slashes are bracketed:
    `metadata.labels["app.kubernetes.io/name"]`."""
    out = ""
    for part in path:
        if "." in part or "/" in part:
            out += f'["{part}"]'
        else:
            out += ("." if out else "") + part
    return out


def desired_fields(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable fields of a manifest: each leaf by its shown path, plus no stale
    fields."""
    fields: dict[str, Any] = {show_path(p): v for p, v in leaves(manifest).items()}
    fields[STALE_FIELDS] = []
    return fields


def observed_fields(live: Mapping[str, Any], shape: Mapping[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
    """The live object's values at the manifest's leaves (projected onto the manifest's
    shape), plus the fields `manager` still owns that the manifest no longer sets.

    `shape` is the manifest with any values: only its structure is used, so a manifest
    rendered with placeholders for values known later (an endpoint) gives the same result.
    """
    fields: dict[str, Any] = {}
    for path, want in leaves(shape).items():
        found, value = get_path(live, path)
        fields[show_path(path)] = project(value, want) if found else None
    fields[STALE_FIELDS] = stale_fields(live, shape, manager)
    return fields


def project(live: Any, want: Any) -> Any:
    """`live` restricted to the shape of `want`: server defaults and others' additions drop
    out, while every value the manifest sets is kept for comparison."""
    if isinstance(want, dict) and isinstance(live, dict):
        if not want:
            return {}
        return {k: project(live[k], v) for k, v in want.items() if k in live}
    if isinstance(want, list) and isinstance(live, list):
        if _named(want) and _named(live):
            # A list keyed by name (containers, env, ports, volumes) is merged item by item by
            # server-side apply: items another manager added stay and are not the tool's to
            # compare; an item of the manifest that is missing still shows.
            by_name = {item["name"]: item for item in live}
            return [project(by_name[w["name"]], w) for w in want if w["name"] in by_name]
        if len(want) == len(live):
            return [project(item, shape) for item, shape in zip(live, want, strict=False)]
    return live


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, Mapping) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def managed_paths(obj: Mapping[str, Any], manager: str = FIELD_MANAGER) -> set[Path]:
    """The paths `manager` owns through server-side apply (its `Apply` entries in
    `metadata.managedFields`), lists counted as leaves."""
    paths: set[Path] = set()
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        if not entry.get("subresource"):
            paths |= fields_v1_paths(entry.get("fieldsV1") or {})
    return paths


def fields_v1_paths(tree: Mapping[str, Any]) -> set[Path]:
    """Leaf paths of a FieldsV1 tree: `f:<field>` keys nest; `k:`/`v:`/`i:` keys mark list
    items and `.` the node itself, so a node with list items or without children is a leaf."""
    paths: set[Path] = set()

    def walk(node: Mapping[str, Any], path: Path) -> None:
        children = {k: v for k, v in node.items() if k.startswith("f:")}
        listy = any(k[:2] in ("k:", "v:", "i:") for k in node)
        if path and (listy or not children):
            paths.add(path)
            return
        for key, child in children.items():
            walk(child if isinstance(child, Mapping) else {}, path + (key[2:],))

    walk(tree, ())
    return paths


def other_managers(obj: Mapping[str, Any], prefix: Path = ("spec",), manager: str = FIELD_MANAGER) -> set[str]:
    """Field managers other than `manager` that own something under `prefix` (status
    subresource writes aside): who else has written there."""
    others: set[str] = set()
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        who = entry.get("manager")
        if who == manager or entry.get("subresource"):
            continue
        if any(p[: len(prefix)] == prefix for p in fields_v1_paths(entry.get("fieldsV1") or {})):
            others.add(str(who))
    return others


def stale_fields(live: Mapping[str, Any], shape: Mapping[str, Any], manager: str = FIELD_MANAGER) -> list[str]:
    """Fields `manager` applied before that the manifest no longer sets (sorted, shown)."""
    wanted = set(leaves(shape))

    def covered(path: Path) -> bool:
        return any(path[: len(w)] == w or w[: len(path)] == path for w in wanted)

    stale = [p for p in managed_paths(live, manager) if p not in _IDENTITY and not covered(p)]
    return sorted(show_path(p) for p in stale)


# --- rendering ------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, insertion order, and `|` blocks for multi-line strings."""


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def yaml_stream(objects: Iterable[Mapping[str, Any]], header: str = "") -> str:
    """Objects as one YAML stream (`---` before each document), after a comment header."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    parts = ["\n".join(lines) + "\n" if lines else ""]
    for obj in objects:
        text = yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
        parts.append("---\n" + text)
    return "".join(parts)
