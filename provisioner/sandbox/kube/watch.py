"""list (selectors, limit/continue) and watch (from a resourceVersion, 410 Gone when too old,
timeoutSeconds, bookmarks of a real server are not sent)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

from provisioner.sandbox.kube.objects import (
    DEFAULT_WATCH_TIMEOUT,
    Response,
    decode_continue,
    event_line,
    int_param,
    parse_field_selector,
    status_body,
)
from provisioner.sandbox.kube.patches import PatchLayer
from provisioner.sandbox.kube.patching import parse_selector
from provisioner.sandbox.kube.resources import ResourceType


class WatchLayer(PatchLayer):
    """list (selectors, limit/continue) and watch (from a resourceVersion, 410 Gone when too old,."""

    def _list(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
        items = self._select(rtype, namespace, None, query)
        limit = int_param(query.get("limit"), 0)
        start = decode_continue(query.get("continue"))
        if start is not None:
            items = [(key, s) for key, s in items if key > start]
        metadata: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if limit > 0 and len(items) > limit:
            last_key = items[limit - 1][0]
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(list(last_key)).encode()).decode()
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {
            "kind": rtype.list_kind,
            "apiVersion": rtype.group_version,
            "metadata": metadata,
            "items": [self._render(rtype, stored) for _, stored in items],
        }

    def _watch(self, rtype: ResourceType, namespace: str | None, name: str | None, query: dict[str, str]) -> Response:
        labels = parse_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        timeout = float(int_param(query.get("timeoutSeconds"), 0)) or DEFAULT_WATCH_TIMEOUT
        since = query.get("resourceVersion", "")
        initial: list[dict[str, Any]] = []
        if since in ("", "0"):
            # No resourceVersion: the current state as synthetic ADDED events, then changes.
            for _, stored in self._select(rtype, namespace, name, query):
                initial.append({"type": "ADDED", "object": self._render(rtype, stored)})
            cursor = self._rv
        else:
            cursor = int_param(since, -1)
            oldest = self._events[0][0] if self._events else self._rv + 1
            if cursor < 0 or (cursor < oldest - 1 and cursor < self._rv):
                gone = status_body(410, "Expired", f"too old resource version: {since} ({oldest - 1})")
                return Response(200, stream=iter([event_line({"type": "ERROR", "object": gone})]))
        deadline = self._clock() + timeout
        return Response(
            200,
            stream=self._stream(rtype, namespace, name, labels, fields, initial, cursor, deadline),
        )

    def _stream(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str | None,
        labels: list[tuple[str, str, list[str]]],
        fields: list[tuple[str, str, str]],
        initial: list[dict[str, Any]],
        cursor: int,
        deadline: float,
    ) -> Iterator[bytes]:
        for event in initial:
            yield event_line(event)
        while True:
            with self._changed:
                batch: list[dict[str, Any]] = []
                while not batch:
                    if self._stopped:
                        return
                    self._advance()
                    for rv, key, kind, obj in self._events:
                        if rv > cursor:
                            cursor = rv
                            if key == rtype.storage_key and self._matches(obj, namespace, name, labels, fields):
                                shown = copy.deepcopy(obj)
                                shown["apiVersion"], shown["kind"] = rtype.group_version, rtype.kind
                                batch.append({"type": kind, "object": shown})
                    if batch:
                        break
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return
                    pending = [
                        s.rollout_ready_at
                        for b in self._objects.values()
                        for s in b.values()
                        if s.rollout_ready_at is not None
                    ]
                    wait = min([remaining, 5.0] + [max(0.0, t - self._clock()) + 0.01 for t in pending])
                    self._changed.wait(wait)
            for event in batch:
                yield event_line(event)
