"""Fault injection for the sandbox (SPEC section 6: `sandbox start --faults SPEC`).

Owns the fault spec (`throttle=R,error=R,fail=Op[,fail=service:Op@account][,seed=N]`), telling which
AWS API a raw HTTP request calls (service from the SigV4 credential scope; operation from
`X-Amz-Target`, the `Action` parameter, or for REST services botocore's model of method and
URI), and the error answers themselves. The middleware in `server.py` decides when to inject.

Imports only the standard library at module level (botocore lazily, for REST routes), so the
sandbox manager can validate a spec without loading moto.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner.sandbox.wsgi import credential_scope, read_body

# Each answer is shaped the way the real service answers, so botocore's `standard` retry
# mode classifies it as it would on AWS: a throttle carries a code from botocore's throttled
# list (retries/standard.py: Throttling, ThrottlingException, RequestLimitExceeded, SlowDown)
# and a server error is an HTTP 500 (a transient status). `fail=` answers a 400 with a code
# botocore does not retry, every time, so failure paths surface as the tool's own errors.
#
# Every AWS API request is eligible, STS GetCallerIdentity and AssumeRole included: AWS
# throttles those too, and the tool must cope. `/_sandbox/` and `/moto-api/` paths are control
# calls, never faulted. Faults apply to the simulated AWS only, not to the clusters'
# Kubernetes API emulators (separate servers).

FAULT_KEYS = ("throttle", "error", "fail", "seed")
_OPERATION_RE = re.compile(r"^(?:[a-z0-9-]+:)?[A-Za-z][A-Za-z0-9]*(?:@[A-Za-z0-9][A-Za-z0-9 ._+@-]*)?$")


class FaultSpecError(ValueError):
    """A `--faults` spec that cannot be parsed; the message says what is allowed."""


@dataclass(frozen=True)
class FaultSpec:
    """What share of calls to throttle or fail with a 500, and which operations always fail.

    `fail` entries are `Operation` (any service) or `service:Operation`, the service being the
    SigV4 signing name (`ec2`, `eks`, `rds`, `iam`, `sts`, `kms`, `logs`, `events`, ...) and the
    operation the API's own name (`CreateNatGateway`, `CreateCluster`). A `@ACCOUNT` suffix
    aims the failure at one account: its 12-digit id, or an organization member's email or
    name (`fail=rds:CreateDBInstance@aws-staging@innovate.example.com`); the CLI turns a plan's
    account key (`@staging`) into its email. Other accounts' calls go through.
    """

    throttle: float = 0.0
    error: float = 0.0
    fail: tuple[str, ...] = ()
    seed: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """`throttle=R,error=R,fail=Op[,fail=service:Op2][,seed=N]`; empty or `none`: no faults."""
        text = (text or "").strip()
        if text.lower() in ("", "none", "off"):
            return cls()
        values: dict[str, Any] = {}
        fail: list[str] = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = (part.strip() for part in item.partition("="))
            if not sep or not value:
                raise FaultSpecError(f"faults: {item!r} is not KEY=VALUE (allowed keys: {', '.join(FAULT_KEYS)})")
            if key in ("throttle", "error"):
                if key in values:
                    raise FaultSpecError(f"faults: {key} given twice")
                try:
                    rate = float(value)
                except ValueError:
                    raise FaultSpecError(
                        f"faults: {key}={value!r} is not a number (allowed: a share from 0 to 1, e.g. 0.05)"
                    ) from None
                if not 0.0 <= rate <= 1.0:
                    raise FaultSpecError(
                        f"faults: {key}={value} is out of range (allowed: a share from 0 to 1, e.g. 0.05)"
                    )
                values[key] = rate
            elif key == "fail":
                if not _OPERATION_RE.match(value):
                    raise FaultSpecError(
                        f"faults: fail={value!r} is not an operation name (allowed: Operation or "
                        "service:Operation, optionally @ACCOUNT, e.g. CreateNatGateway, "
                        "eks:CreateCluster or rds:CreateDBInstance@123456789012)"
                    )
                fail.append(value)
            elif key == "seed":
                try:
                    values["seed"] = int(value)
                except ValueError:
                    raise FaultSpecError(f"faults: seed={value!r} is not an integer") from None
            else:
                raise FaultSpecError(f"faults: unknown key {key!r} (allowed keys: {', '.join(FAULT_KEYS)})")
        spec = cls(fail=tuple(dict.fromkeys(fail)), **values)
        if spec.throttle + spec.error > 1.0:
            raise FaultSpecError(f"faults: throttle + error = {spec.throttle + spec.error:g} is more than 1")
        return spec

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultSpec:
        """The body of `POST /_sandbox/faults`: `{"spec": "throttle=..."}` or the fields."""
        if not isinstance(body, dict):
            raise FaultSpecError("faults: the body must be a JSON object")
        if "spec" in body:
            return cls.parse(body["spec"])
        unknown = set(body) - set(FAULT_KEYS)
        if unknown:
            raise FaultSpecError(
                f"faults: unknown key(s) {sorted(unknown)} (allowed keys: spec, {', '.join(FAULT_KEYS)})"
            )
        fail = body.get("fail") or []
        if isinstance(fail, str):
            fail = [fail]
        parts = [f"{k}={body[k]}" for k in ("throttle", "error", "seed") if body.get(k) is not None]
        parts += [f"fail={op}" for op in fail]
        return cls.parse(",".join(parts))

    @property
    def active(self) -> bool:
        return bool(self.throttle or self.error or self.fail)

    def fails(self, service: str, operation: str | None, account: Callable[[str], bool] | None = None) -> bool:
        """Whether this call always fails. `account(scope)` tells whether the caller's account
        is the one an `@scope` entry names; without it, scoped entries never match."""
        if operation is None:
            return False
        for entry in self.fail:
            target, _, scope = entry.partition("@")
            if target not in (operation, f"{service}:{operation}"):
                continue
            if not scope or (account is not None and account(scope)):
                return True
        return False

    @property
    def scoped(self) -> bool:
        """Whether some `fail` entry is aimed at one account (the caller must then be known)."""
        return any("@" in entry for entry in self.fail)

    def __str__(self) -> str:
        parts = [f"{k}={getattr(self, k):g}" for k in ("throttle", "error") if getattr(self, k)]
        parts += [f"fail={op}" for op in self.fail]
        if self.seed is not None and self.active:
            parts.append(f"seed={self.seed}")
        return ",".join(parts) or "none"

    def as_dict(self) -> dict[str, Any]:
        return {
            "throttle": self.throttle,
            "error": self.error,
            "fail": list(self.fail),
            "seed": self.seed,
            "spec": str(self),
        }


@dataclass(frozen=True)
class ApiCall:
    """Which AWS API a request calls, as far as the request itself says."""

    service: str  # the SigV4 signing name
    operation: str | None  # None when a REST path matches no modelled operation
    protocol: str  # ec2 | query | json | rest-json | rest-xml
    access_key: str = ""  # from the SigV4 credential: tells the caller's account

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation or '?'}"


_FORM = "application/x-www-form-urlencoded"


def identify(environ: dict[str, Any]) -> ApiCall:
    """Service, operation and protocol of a request. Reads a form body (query protocol:
    EC2, IAM, RDS, STS) and puts it back for moto."""
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    scope = credential_scope(environ, presigned=True)
    service = scope.service if scope else "unknown"
    key = scope.access_key if scope else ""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocol: X-Amz-Target is `<TargetPrefix>.<Operation>`
        return ApiCall(service, target.rsplit(".", 1)[-1], "json", key)
    actions = query.get("Action")
    if not actions and environ.get("CONTENT_TYPE", "").startswith(_FORM):
        actions = urllib.parse.parse_qs(read_body(environ).decode("utf-8", "replace")).get("Action")
    action = actions[0] if actions else None
    if action is not None:
        return ApiCall(service, action, "ec2" if service == "ec2" else "query", key)
    protocol = "rest-xml" if service == "s3" else "rest-json"
    # Match on the path as sent: PATH_INFO is percent-decoded, and a label such as an access
    # entry's principal ARN (`.../role/provisioner/dev/...`) would then span several segments.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    path = urllib.parse.urlsplit(raw).path
    return ApiCall(
        service, _rest_operation(service, environ.get("REQUEST_METHOD", "GET"), path, set(query)), protocol, key
    )


_rest_routes: dict[str, list[tuple[str, re.Pattern[str], frozenset[str], int, str]]] = {}
_rest_routes_lock = threading.Lock()


def _rest_operation(service: str, method: str, path: str, query_keys: set[str]) -> str | None:
    """The operation a REST request calls, from botocore's model of the service (each
    operation's HTTP method and request URI template), most specific match first."""
    with _rest_routes_lock:
        routes = _rest_routes.get(service)
        if routes is None:
            routes = _rest_routes[service] = _load_rest_routes(service)
    best: tuple[int, str] | None = None
    for route_method, pattern, needs, score, operation in routes:
        if route_method == method and needs <= query_keys and pattern.fullmatch(path):
            if best is None or score > best[0]:
                best = (score, operation)
    return best[1] if best else None


def _load_rest_routes(service: str) -> list[tuple[str, re.Pattern[str], frozenset[str], int, str]]:
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return []
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri_path, _, uri_query = http.get("requestUri", "/").partition("?")
        needs = frozenset(p.split("=")[0] for p in uri_query.split("&") if p)
        regex, literal = "", 0
        for token in re.split(r"(\{[^}]+\})", uri_path):
            if token.startswith("{"):
                regex += ".+" if token.endswith("+}") else "[^/]+"
            else:
                regex += re.escape(token)
                literal += len(token)
        # A bucket-level S3 URI ("/{Bucket}") also matches "/{Bucket}/" : allow the slash.
        routes.append((http.get("method", "GET"), re.compile(regex + "/?"), needs, literal + 100 * len(needs), name))
    return routes


def fault_response(start_response: Callable[..., Any], call: ApiCall, kind: str) -> list[bytes]:
    """The answer AWS gives for `kind` (throttle | error | fail) in `call`'s protocol."""
    request_id = str(uuid.uuid4())
    if kind == "throttle":
        status, code, message, sender = "400 Bad Request", "Throttling", "Rate exceeded", True
        if call.protocol == "ec2":  # EC2 answers 503 RequestLimitExceeded
            status, code, message = "503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."
        elif call.protocol in ("json", "rest-json"):
            code = "ThrottlingException"
            if call.protocol == "rest-json":
                status = "429 Too Many Requests"
        elif call.protocol == "rest-xml":
            status, code, message = "503 Slow Down", "SlowDown", "Please reduce your request rate."
    elif kind == "error":
        status, code, message, sender = (
            "500 Internal Server Error",
            "InternalFailure",
            "We encountered an internal error. Please try again. (sandbox fault injection)",
            False,
        )
        if call.protocol in ("ec2", "rest-xml"):
            code = "InternalError"
    else:
        status, code, sender = "400 Bad Request", "SandboxInjectedFailure", True
        message = f"{call.name} fails permanently in this sandbox (sandbox start --faults fail=...)"
    headers = [("x-amzn-RequestId", request_id)]
    if call.protocol == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        headers.append(("Content-Type", "text/xml"))
    elif call.protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>{'Sender' if sender else 'Receiver'}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers.append(("Content-Type", "text/xml"))
    elif call.protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        headers.append(("Content-Type", "application/xml"))
    else:
        document: dict[str, str] = {"message": message}
        if call.protocol == "json":
            document["__type"] = code
            headers.append(("Content-Type", "application/x-amz-json-1.1"))
        else:
            headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
        body = json.dumps(document)
    data = body.encode()
    start_response(status, [*headers, ("Content-Length", str(len(data)))])
    return [data]
