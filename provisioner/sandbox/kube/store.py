"""The storage of one emulated cluster: objects by type, namespace and name, the event
history that watches read, reading and selecting objects, and the Status errors for them.

`ClusterApi` is composed of layers, one module each, every layer using only those below it:
store, karpenter, crds, admission, writes, patches, watch, and the routing in `apiserver`."""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from provisioner.sandbox.kube import patching
from provisioner.sandbox.kube.objects import ApiError, Authenticator, Stored, parse_field_selector
from provisioner.sandbox.kube.patching import parse_selector
from provisioner.sandbox.kube.resources import ResourceType


class StoreLayer:
    """The state every layer works on (set up by `ClusterApi.__init__`)."""

    cluster_name: str
    server_address: str
    kubernetes_version: str
    karpenter: Any
    _authenticate: Authenticator
    _rollout_seconds: Callable[[], float]
    _clock: Callable[[], float]
    _lock: threading.RLock
    _changed: threading.Condition
    _stopped: bool
    _rv: int
    _ip: int
    _types: dict[tuple[str, str, str], ResourceType]
    _objects: dict[tuple[str, str], dict[tuple[str, str], Stored]]
    _events: deque[tuple[int, tuple[str, str], str, dict[str, Any]]]

    def _get(self, rtype: ResourceType, namespace: str | None, name: str) -> Stored:
        stored = self._bucket(rtype).get((namespace or "", name))
        if stored is None:
            raise self._not_found(rtype, name)
        return stored

    def _select(
        self, rtype: ResourceType, namespace: str | None, name: str | None, query: dict[str, str]
    ) -> list[tuple[tuple[str, str], Stored]]:
        labels = parse_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        result = []
        for key, stored in sorted(self._bucket(rtype).items()):
            if self._matches(stored.obj, namespace, name, labels, fields):
                result.append((key, stored))
        return result

    @staticmethod
    def _matches(
        obj: dict[str, Any],
        namespace: str | None,
        name: str | None,
        labels: list[tuple[str, str, list[str]]],
        fields: list[tuple[str, str, str]],
    ) -> bool:
        meta = obj.get("metadata", {})
        if namespace is not None and meta.get("namespace") != namespace:
            return False
        if name is not None and meta.get("name") != name:
            return False
        values = {
            "metadata.name": meta.get("name", ""),
            "metadata.namespace": meta.get("namespace", ""),
        }
        for key, op, value in fields:
            if (values[key] == value) != (op == "="):
                return False
        return patching.selector_matches(labels, meta.get("labels") or {})

    def _render(self, rtype: ResourceType, stored: Stored) -> dict[str, Any]:
        obj = copy.deepcopy(stored.obj)
        obj["apiVersion"] = rtype.group_version
        obj["kind"] = rtype.kind
        if stored.managers:
            obj["metadata"]["managedFields"] = [
                {
                    "manager": manager,
                    "operation": operation,
                    "apiVersion": entry.api_version,
                    "time": entry.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": patching.fields_v1(entry.paths),
                    **({"subresource": sub} if sub else {}),
                }
                for (manager, operation, sub), entry in sorted(stored.managers.items())
            ]
        return obj

    def _remove(self, rtype: ResourceType, stored: Stored) -> None:
        meta = stored.obj["metadata"]
        bucket = self._bucket(rtype)
        bucket.pop((meta.get("namespace") or "", meta["name"]), None)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._events.append((self._rv, rtype.storage_key, "DELETED", copy.deepcopy(stored.obj)))
        self._changed.notify_all()

    def _commit(self, rtype: ResourceType, stored: Stored, event: str) -> None:
        self._rv += 1
        meta = stored.obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        self._bucket(rtype)[(meta.get("namespace") or "", meta["name"])] = stored
        self._events.append((self._rv, rtype.storage_key, event, self._render(rtype, stored)))
        self._changed.notify_all()

    def _invalid(self, rtype: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
        qualified = f"{rtype.kind}.{rtype.group}" if rtype.group else rtype.kind
        message = f'{qualified} "{name}" is invalid: ' + ", ".join(message for _, _, message in causes)
        details = {
            **self._details(rtype, name),
            "causes": [
                {"reason": reason, "message": message.split(": ", 1)[-1], "field": field_}
                for field_, reason, message in causes
            ],
        }
        details["kind"] = rtype.kind
        return ApiError(422, "Invalid", message, details)

    def _conflict(self, rtype: ResourceType, name: str) -> ApiError:
        return ApiError(
            409,
            "Conflict",
            f"Operation cannot be fulfilled on {self._resource_name(rtype)} "
            f'"{name}": the object has been modified; please apply your changes to the latest '
            "version and try again",
            self._details(rtype, name),
        )

    def _not_found(self, rtype: ResourceType, name: str) -> ApiError:
        return ApiError(
            404,
            "NotFound",
            f'{self._resource_name(rtype)} "{name}" not found',
            self._details(rtype, name),
        )

    @staticmethod
    def _not_found_path() -> ApiError:
        return ApiError(404, "NotFound", "the server could not find the requested resource", {})

    @staticmethod
    def _resource_name(rtype: ResourceType) -> str:
        return f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural

    @staticmethod
    def _details(rtype: ResourceType, name: str) -> dict[str, Any]:
        details = {"name": name, "kind": rtype.plural}
        if rtype.group:
            details["group"] = rtype.group
        return details

    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        return self._types[(group, version, plural)]

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], Stored]:
        return self._objects.setdefault(rtype.storage_key, {})

    def _storage_types(self) -> list[ResourceType]:
        seen: dict[tuple[str, str], ResourceType] = {}
        for rtype in self._types.values():
            seen.setdefault(rtype.storage_key, rtype)
        return list(seen.values())
