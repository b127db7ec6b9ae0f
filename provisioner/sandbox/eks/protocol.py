"""EKS's wire protocol as the handlers see it: the request (JSON body, query, the caller's
account and region, a way to ask moto), the reply, error responses and EKS's paging."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from provisioner.sandbox.eks.exceptions import EksError, invalid
from provisioner.sandbox.eks.iam import caller_principal
from provisioner.sandbox.eks.lifecycle import cluster_state
from provisioner.sandbox.eks.models import ClusterState
from provisioner.sandbox.wsgi import WSGIApp, call_app, credential_scope


@dataclass
class Request:
    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    access_key: str
    region: str
    account: str
    app: WSGIApp  # what the request is passed on to: moto's app (and the extensions inside)
    _json: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        if self._json is None:
            try:
                parsed = json.loads(self.body or b"{}")
            except ValueError:
                raise EksError("BadRequestException", "Request body is not valid JSON") from None
            self._json = parsed if isinstance(parsed, dict) else {}
        return self._json

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def caller(self) -> str:
        return caller_principal(self.account, self.region, self.access_key)

    def state(self, name: str) -> tuple[ClusterState, Any]:
        return cluster_state(self.account, self.region, name, self.caller)

    def moto(
        self, method: str | None = None, path: str | None = None, body: bytes | None = None
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Call moto's app with this request's headers (its identity and signature scope)."""
        environ = dict(self.environ)
        environ["REQUEST_METHOD"] = method or self.method
        if path is not None:
            environ["PATH_INFO"] = path
            environ["QUERY_STRING"] = ""
            environ["RAW_URI"] = environ["REQUEST_URI"] = quote(path)
        return call_app(self.app, environ, self.body if body is None else body)

    def moto_describe(self, path: str, key: str) -> dict[str, Any]:
        """moto's answer to a describe call, which must have succeeded."""
        body = json_of(self.moto("GET", path, b""))
        if body is None or key not in body:
            raise EksError("ServerException", f"sandbox: cannot read back {path}")
        return body


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    raw: tuple[str, list[tuple[str, str]], bytes] | None = None  # moto's own response, as is
    endpoint_for: str | None = None  # cluster whose endpoint models.CLUSTER_ENDPOINT_PROVIDER may replace


def eks_request(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(access key as moto reads it, region) if this is a SigV4-signed EKS call."""
    scope = credential_scope(environ)
    if scope is None or scope.service != "eks":
        return None
    # moto only recognises 20-character keys and calls every other one AKIAEXAMPLE; the account
    # must be the one moto's backends use for this request.
    from moto.core.responses import BaseResponse

    key = BaseResponse.access_key_regex.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (key.group(1) if key else "AKIAEXAMPLE"), scope.region


def json_of(raw: tuple[str, list[tuple[str, str]], bytes]) -> dict[str, Any] | None:
    """moto's body if its call succeeded."""
    if not raw[0].startswith("2"):
        return None
    try:
        body = json.loads(raw[2] or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def respond(
    start_response: Callable[..., Any],
    status: int,
    body: dict[str, Any],
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}.get(
        status, ""
    )
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    start_response(f"{status} {reason}".strip(), headers + (extra_headers or []))
    return [data]


def paginate(req: Request, items: list[Any], limit: int = 100) -> tuple[list[Any], str | None]:
    """EKS's maxResults/nextToken paging over a stable list; tokens are opaque offsets."""
    raw_max = req.q("maxResults")
    try:
        max_results = int(raw_max) if raw_max is not None else limit
    except ValueError:
        raise invalid("maxResults must be an integer") from None
    if not 1 <= max_results <= limit:
        raise invalid(f"maxResults must be between 1 and {limit}")
    start = 0
    token = req.q("nextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise invalid("The nextToken provided is invalid") from None
    end = start + max_results
    next_token = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode() if end < len(items) else None
    return items[start:end], next_token
