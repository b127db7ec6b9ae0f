"""CustomResourceDefinitions: their checks (422), and their resources appearing in and
disappearing from the served types."""

from __future__ import annotations

import copy
from typing import Any

from provisioner.sandbox.kube.karpenter import KarpenterLayer
from provisioner.sandbox.kube.objects import Stored, make_condition
from provisioner.sandbox.kube.resources import ResourceType


class CrdLayer(KarpenterLayer):
    """CustomResourceDefinitions."""

    def _admit_crd(self, crd: dict[str, Any], existing: Stored | None, causes: list[tuple[str, str, str]]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
        if not group:
            causes.append(("spec.group", "FieldValueRequired", "spec.group: Required value"))
        if not plural:
            causes.append(("spec.names.plural", "FieldValueRequired", "spec.names.plural: Required value"))
        if not kind:
            causes.append(("spec.names.kind", "FieldValueRequired", "spec.names.kind: Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(
                (
                    "spec.scope",
                    "FieldValueNotSupported",
                    f'spec.scope: Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
                )
            )
        versions = spec.get("versions") or []
        if not versions or sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(
                (
                    "spec.versions",
                    "FieldValueInvalid",
                    "spec.versions: Invalid value: must have exactly one version marked as storage version",
                )
            )
        if group and plural and crd["metadata"]["name"] != f"{plural}.{group}":
            causes.append(
                (
                    "metadata.name",
                    "FieldValueInvalid",
                    f'metadata.name: Invalid value: "{crd["metadata"]["name"]}": must be '
                    'spec.names.plural+"."+spec.group',
                )
            )
        if (
            existing is not None
            and group
            and (existing.obj["spec"].get("group") != group or existing.obj["spec"]["names"].get("plural") != plural)
        ):
            causes.append(("spec.group", "FieldValueInvalid", "spec.group: Invalid value: field is immutable"))
        if group and any(t.group == group and not t.custom for t in self._types.values()):
            causes.append(
                (
                    "spec.group",
                    "FieldValueInvalid",
                    f'spec.group: Invalid value: "{group}": is a built-in API group',
                )
            )
        if causes:
            return
        names.setdefault("singular", str(kind).lower())  # kind is set: no causes
        names.setdefault("listKind", f"{kind}List")
        now = self._clock()
        previous = crd.get("status") or {}
        crd["status"] = {
            "acceptedNames": copy.deepcopy(names),
            "conditions": [
                make_condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", now, previous),
                make_condition(
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    now,
                    previous,
                ),
            ],
            "storedVersions": sorted(
                set(previous.get("storedVersions", [])) | {v["name"] for v in versions if v.get("storage")}
            ),
        }

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        names = spec["names"]
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            subresources = tuple(sorted((version.get("subresources") or {}).keys()))
            rtype = ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec["scope"] == "Namespaced",
                singular=names.get("singular", ""),
                short_names=tuple(names.get("shortNames", [])),
                categories=tuple(names.get("categories", [])),
                subresources=subresources,
                schema=((version.get("schema") or {}).get("openAPIV3Schema")),
                custom=True,
            )
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def _unregister_crd(self, crd: dict[str, Any], keep_objects: bool = False) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
        doomed = [key for key, t in self._types.items() if t.custom and t.group == group and t.plural == plural]
        if not keep_objects and doomed:
            rtype = self._types[doomed[0]]
            for stored in list(self._bucket(rtype).values()):
                self._remove(rtype, stored)
            self._objects.pop((str(group), str(plural)), None)
        for key in doomed:
            del self._types[key]
