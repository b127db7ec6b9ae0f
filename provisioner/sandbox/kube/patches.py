"""PATCH: merge, JSON and strategic-merge patches, and server-side apply with field managers,
conflicts and `force`, creating the object when absent."""

from __future__ import annotations

import copy

import yaml

from provisioner.sandbox.kube import patching
from provisioner.sandbox.kube.objects import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    ApiError,
    Manager,
    Stored,
    decode_json,
    load_apply_body,
    timestamp,
)
from provisioner.sandbox.kube.resources import ResourceType
from provisioner.sandbox.kube.writes import WriteLayer


class PatchLayer(WriteLayer):
    """PATCH."""

    def _patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        query: dict[str, str],
        manager: str,
        subresource: str | None,
        explicit_manager: str | None,
    ):
        key = (namespace or "", name)
        existing = self._bucket(rtype).get(key)
        if content_type == APPLY_PATCH:
            return self._apply(rtype, namespace, name, existing, body, query, explicit_manager, subresource)
        if existing is None:
            raise self._not_found(rtype, name)
        current = self._render(rtype, existing)
        current["metadata"].pop("managedFields", None)
        if content_type == MERGE_PATCH:
            patched = patching.merge_patch(current, decode_json(body))
        elif content_type == STRATEGIC_PATCH:
            if rtype.custom:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown "
                    "format - accepted media types include: application/json-patch+json, "
                    "application/merge-patch+json, application/apply-patch+yaml",
                )
            patched = patching.merge_patch(current, decode_json(body))
        elif content_type == JSON_PATCH:
            try:
                patched = patching.json_patch(current, decode_json(body, allow_list=True))
            except patching.PatchError as exc:
                raise ApiError(422, "Invalid", str(exc)) from None
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - content type {content_type!r}",
            )
        if not isinstance(patched, dict):
            raise ApiError(422, "Invalid", "the patch result is not an object")
        wanted_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != existing.obj["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)
        return self._update(rtype, existing, patched, query, manager, "Update", subresource)

    def _apply(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        existing: Stored | None,
        body: bytes,
        query: dict[str, str],
        manager: str | None,
        subresource: str | None,
    ):
        # Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/).
        if not manager:
            raise ApiError(400, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager")
        try:
            config = load_apply_body(body)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from None
        if not isinstance(config, dict):
            raise ApiError(400, "BadRequest", "the apply configuration must be an object")
        if not config.get("apiVersion") or not config.get("kind"):
            raise ApiError(400, "BadRequest", "invalid object type: apiVersion and kind are required")
        self._check_type_fields(rtype, config)
        meta = config.setdefault("metadata", {})
        if meta.get("name") not in (None, name):
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        meta["name"] = name
        force = query.get("force") in ("true", "1")
        config_leaves = patching.leaves(config)
        owner_key = (manager, "Apply", subresource or "")
        if existing is None:
            if subresource:
                raise self._not_found(rtype, name)
            return self._create(
                rtype,
                namespace,
                config,
                query,
                manager=manager,
                operation="Apply",
                apply_paths=set(config_leaves),
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != existing.obj["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)

        current = existing.obj
        managers = copy.deepcopy(existing.managers)
        conflicts: list[tuple[str, tuple[str, ...]]] = []
        for other, entry in managers.items():
            if other == owner_key:
                continue
            for path in entry.paths & set(config_leaves):
                found, value = patching.get_path(current, path)
                if found and value != config_leaves[path]:
                    conflicts.append((other[0], path))
        if conflicts and not force:
            causes = [
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{who}": .{".".join(path)}',
                    "field": "." + ".".join(path),
                }
                for who, path in conflicts
            ]
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {len(conflicts)} conflict"
                f"{'s' if len(conflicts) > 1 else ''}: " + "; ".join(c["message"] for c in causes),
                {**self._details(rtype, name), "causes": causes},
            )
        for who, path in conflicts:  # forced: the applier takes them over
            for other, entry in managers.items():
                if other[0] == who:
                    entry.paths.discard(path)
        previous = managers.get(owner_key)
        merged = copy.deepcopy(current)
        if previous is not None:
            still_owned = set().union(*(e.paths for k, e in managers.items() if k != owner_key))
            for path in previous.paths - set(config_leaves) - still_owned:
                patching.delete_path(merged, path)
        merged = patching.deep_merge(merged, config)
        managers[owner_key] = Manager(set(config_leaves), rtype.group_version, timestamp(self._clock()))
        return self._update(rtype, existing, merged, query, manager, "Apply", subresource, managers=managers)
