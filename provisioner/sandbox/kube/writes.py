"""Writes: create, replace, the common update path (generation, managedFields, no-op writes
keep the resourceVersion), delete with finalizers, deletecollection and namespace purges."""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

from provisioner.sandbox.kube import patching
from provisioner.sandbox.kube.admission import AdmissionLayer
from provisioner.sandbox.kube.objects import (
    GENERATE_CHARS,
    IMMORTAL_NAMESPACES,
    MISSING,
    ApiError,
    Manager,
    Stored,
    same_stored,
    spec_of,
    status_body,
    timestamp,
)
from provisioner.sandbox.kube.resources import ResourceType


class WriteLayer(AdmissionLayer):
    """Writes."""

    def _create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        obj: dict[str, Any],
        query: dict[str, str],
        *,
        manager: str,
        operation: str = "Update",
        apply_paths: set[tuple[str, ...]] | None = None,
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        self._check_type_fields(rtype, obj)
        if not meta.get("name") and meta.get("generateName"):
            bucket = self._bucket(rtype)
            while True:
                candidate = meta["generateName"] + "".join(random.choices(GENERATE_CHARS, k=5))
                if ((namespace or "", candidate)) not in bucket:
                    meta["name"] = candidate
                    break
        name = meta.get("name")
        if not name:
            raise self._invalid(
                rtype,
                "",
                [
                    (
                        "metadata.name",
                        "FieldValueRequired",
                        "metadata.name: Required value: name or generateName is required",
                    )
                ],
            )
        self._check_namespace(rtype, namespace, meta)
        if (namespace or "", name) in self._bucket(rtype):
            raise ApiError(
                409,
                "AlreadyExists",
                f'{self._resource_name(rtype)} "{name}" already exists',
                self._details(rtype, name),
            )
        now = self._clock()
        for server_field in (
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "managedFields",
        ):
            meta.pop(server_field, None)
        if "status" in rtype.subresources:
            obj.pop("status", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamp(now)
        meta["generation"] = 1
        stored = Stored(obj)
        paths = apply_paths if apply_paths is not None else set(patching.leaves(obj))
        stored.managers[(manager, operation, "")] = Manager(paths, rtype.group_version, timestamp(now))
        warnings = self._admit(rtype, stored, None, query)
        if query.get("dryRun") != "All":
            self._commit(rtype, stored, "ADDED")
            self._after_create(rtype, stored)
        return 201, self._render(rtype, stored), warnings

    def _replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        query: dict[str, str],
        manager: str,
        subresource: str | None,
    ):
        existing = self._get(rtype, namespace, name)
        self._check_type_fields(rtype, obj)
        meta = obj.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != existing.obj["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)
        return self._update(rtype, existing, obj, query, manager, "Update", subresource)

    def _update(
        self,
        rtype: ResourceType,
        existing: Stored,
        new_obj: dict[str, Any],
        query: dict[str, str],
        manager: str,
        operation: str,
        subresource: str | None,
        managers: dict[tuple[str, str, str], Manager] | None = None,
    ):
        old = existing.obj
        new_obj = copy.deepcopy(new_obj)
        meta = new_obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        for keep in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "resourceVersion",
            "namespace",
        ):
            if keep in old["metadata"]:
                meta[keep] = old["metadata"][keep]
            else:
                meta.pop(keep, None)
        meta.pop("managedFields", None)
        meta["name"] = old["metadata"]["name"]
        if subresource == "status":
            merged = copy.deepcopy(old)
            if "status" in new_obj:
                merged["status"] = new_obj["status"]
            else:
                merged.pop("status", None)
            new_obj = merged
        elif "status" in rtype.subresources:
            if "status" in old:
                new_obj["status"] = copy.deepcopy(old["status"])
            else:
                new_obj.pop("status", None)
        if old["metadata"].get("deletionTimestamp"):
            # Once deletion started, finalizers may only be removed, never added.
            added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
            if added:
                raise ApiError(
                    422,
                    "Forbidden",
                    f'{self._resource_name(rtype)} "{meta["name"]}" is invalid: '
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the "
                    "object is being deleted",
                )

        candidate = Stored(
            new_obj,
            managers if managers is not None else copy.deepcopy(existing.managers),
            existing.rollout_ready_at,
        )
        warnings = self._admit(rtype, candidate, existing, query)
        if spec_of(candidate.obj) != spec_of(old):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            candidate.obj["metadata"]["generation"] = meta["generation"]
            self._admit_generation_change(rtype, candidate)
        if managers is None:
            self._track_update(candidate, old, manager, operation, subresource or "", rtype)
        if same_stored(candidate, existing):
            return 200, self._render(rtype, existing), warnings
        if query.get("dryRun") == "All":
            return 200, self._render(rtype, candidate), warnings
        existing.obj, existing.managers = candidate.obj, candidate.managers
        existing.rollout_ready_at = candidate.rollout_ready_at
        meta_now = existing.obj["metadata"]
        if meta_now.get("deletionTimestamp") and not meta_now.get("finalizers"):
            self._remove(rtype, existing)  # the last finalizer is gone: deletion completes
            return 200, self._render(rtype, existing), warnings
        self._commit(rtype, existing, "MODIFIED")
        self._after_update(rtype, existing)
        return 200, self._render(rtype, existing), warnings

    def _track_update(
        self,
        stored: Stored,
        old: dict[str, Any],
        manager: str,
        operation: str,
        subresource: str,
        rtype: ResourceType,
    ) -> None:
        new_leaves = patching.leaves(stored.obj)
        old_leaves = patching.leaves(old)
        changed = {p for p, v in new_leaves.items() if old_leaves.get(p, MISSING) != v}
        removed = set(old_leaves) - set(new_leaves)
        for key, entry in list(stored.managers.items()):
            entry.paths -= changed | removed
            if not entry.paths:
                del stored.managers[key]
        if changed:
            key = (manager, operation, subresource)
            found = stored.managers.get(key)
            if found is None:
                found = stored.managers[key] = Manager(set(), rtype.group_version, "")
            found.paths |= changed
            found.time = timestamp(self._clock())

    def _delete(self, rtype: ResourceType, namespace: str | None, name: str, query: dict[str, str]) -> dict[str, Any]:
        stored = self._get(rtype, namespace, name)
        if rtype.kind == "Namespace" and name in IMMORTAL_NAMESPACES:
            raise ApiError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                self._details(rtype, name),
            )
        if query.get("dryRun") == "All":
            return self._render(rtype, stored)
        meta = stored.obj["metadata"]
        if meta.get("finalizers") and rtype.kind != "Namespace":
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = timestamp(self._clock())
                meta["deletionGracePeriodSeconds"] = 0
                self._commit(rtype, stored, "MODIFIED")
                if rtype.custom and rtype.kind == "EC2NodeClass":
                    self._run_karpenter_controller()  # the controller sees the deletion at once
            return self._render(rtype, stored)
        if rtype.kind == "Namespace":
            self._purge_namespace(name)
            meta["deletionTimestamp"] = timestamp(self._clock())
            stored.obj.setdefault("status", {})["phase"] = "Terminating"
        if rtype.kind == "CustomResourceDefinition":
            self._unregister_crd(stored.obj)
        self._remove(rtype, stored)
        if rtype.custom or rtype.kind == "Namespace":
            return self._render(rtype, stored)
        return status_body(200, "", "", {**self._details(rtype, name), "uid": meta.get("uid")})

    def _delete_collection(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
        for _, stored in self._select(rtype, namespace, None, query):
            meta = stored.obj["metadata"]
            self._delete(rtype, meta.get("namespace"), meta["name"], query)
        return status_body(200, "", "")

    def _purge_namespace(self, namespace: str) -> None:
        # What the namespace controller does while the namespace is Terminating; done at
        # once here. Finalizers on the contents are not waited for.
        for rtype in self._storage_types():
            if not rtype.namespaced:
                continue
            for (ns, _), stored in list(self._bucket(rtype).items()):
                if ns == namespace:
                    self._remove(rtype, stored)

    def _after_create(self, rtype: ResourceType, stored: Stored) -> None:
        if rtype.kind == "CustomResourceDefinition":
            self._register_crd(stored.obj)
        elif rtype.kind == "Namespace":
            # The service-account controller gives every namespace a `default` account.
            sa_type = self._type("", "v1", "serviceaccounts")
            name = stored.obj["metadata"]["name"]
            if (name, "default") not in self._bucket(sa_type):
                self._create(
                    sa_type,
                    name,
                    {"metadata": {"name": "default"}},
                    {},
                    manager="kube-controller-manager",
                )

    def _after_update(self, rtype: ResourceType, stored: Stored) -> None:
        if rtype.kind == "CustomResourceDefinition":
            self._unregister_crd(stored.obj, keep_objects=True)
            self._register_crd(stored.obj)
