"""The emulated API server's vocabulary: its errors and responses, stored objects and their
field managers, name and label syntax, and parsing of request bodies and query parameters."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from provisioner.sandbox.kube import patching

Authenticator = Callable[[str], None]  # raises on a bad token

PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
WATCH_HISTORY = 2000
DEFAULT_WATCH_TIMEOUT = 1800.0

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details


@dataclass
class Response:
    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"


@dataclass
class Manager:
    paths: set[tuple[str, ...]]
    api_version: str
    time: str


@dataclass
class Stored:
    obj: dict[str, Any]
    managers: dict[tuple[str, str, str], Manager] = field(default_factory=dict)
    rollout_ready_at: float | None = None


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    if code < 400:
        body.pop("message")
        body.pop("reason")
    return body


def timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MISSING = object()


def same_stored(a: Stored, b: Stored) -> bool:
    strip = ("resourceVersion",)
    obj_a = {**a.obj, "metadata": {k: v for k, v in a.obj["metadata"].items() if k not in strip}}
    obj_b = {**b.obj, "metadata": {k: v for k, v in b.obj["metadata"].items() if k not in strip}}
    managers_a = {k: v.paths for k, v in a.managers.items()}
    managers_b = {k: v.paths for k, v in b.managers.items()}
    return obj_a == obj_b and managers_a == managers_b and a.rollout_ready_at == b.rollout_ready_at


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def decode_json(body: bytes, allow_list: bool = False) -> Any:
    try:
        value = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}") from None
    if isinstance(value, dict) or (allow_list and isinstance(value, list)):
        return value
    raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")


def parse_selector(text: str) -> list[tuple[str, str, list[str]]]:
    try:
        return patching.parse_selector(text)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from None


def parse_field_selector(text: str) -> list[tuple[str, str, str]]:
    result = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"([a-zA-Z.]+)\s*(==|=|!=)\s*(.*)", part)
        if not match or match.group(1) not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", f"field label not supported: {part.split('=')[0].rstrip('!')}")
        result.append((match.group(1), "!=" if match.group(2) == "!=" else "=", match.group(3)))
    return result


def decode_continue(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (str(namespace), str(name))
    except (ValueError, TypeError):
        raise ApiError(400, "BadRequest", "continue key is not valid") from None


def load_apply_body(body: bytes) -> Any:
    # apply-patch+yaml bodies are YAML, but clients (kubectl, the Python client) send JSON,
    # which is YAML too and parses two orders of magnitude faster with json.
    if not body:
        return None
    text = body.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


def int_param(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def event_line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def manager_from_user_agent(user_agent: str) -> str:
    # What the API server does without ?fieldManager: the user agent's first product name.
    first = user_agent.split(" ")[0].split("/")[0]
    return first[:128] or "unknown"


def is_available(obj: dict[str, Any]) -> bool:
    for condition in (obj.get("status") or {}).get("conditions", []):
        if condition.get("type") == "Available":
            return condition.get("status") == "True"
    return False


def make_condition(
    kind: str, status: str, reason: str, message: str, now: float, previous_status: dict[str, Any]
) -> dict[str, Any]:
    stamp = timestamp(now)
    transition = stamp
    for old in previous_status.get("conditions", []) or []:
        if old.get("type") == kind and old.get("status") == status:
            transition = old.get("lastTransitionTime", stamp)
    result = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if kind in ("Available", "Progressing"):
        result["lastUpdateTime"] = stamp
    return result
