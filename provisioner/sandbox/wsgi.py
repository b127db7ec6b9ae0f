"""WSGI plumbing the sandbox's extensions share: call the app behind them and keep its answer,
read a body once, read a request's SigV4 credential scope, and tell which simulated account
a request acts in."""

from __future__ import annotations

import io
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def call_app(app: WSGIApp, environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """Send a request with `body` (the original environ otherwise) to `app` (moto, or the next
    extension) and return its status, headers and whole body, so a caller can amend them."""
    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return captured["status"], list(captured["headers"]), payload


def read_body(environ: dict[str, Any]) -> bytes:
    """The request's body, read once and put back, so the app behind can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


# `Credential=<access key>/<date>/<region>/<service>/aws4_request` of a SigV4 signature.
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")


class CredentialScope(NamedTuple):
    access_key: str
    region: str
    service: str


def credential_scope(environ: dict[str, Any], *, presigned: bool = False) -> CredentialScope | None:
    """Access key, region and service of a SigV4-signed request, from its Authorization header
    (or, with `presigned`, a presigned URL's X-Amz-Credential); None if it is not signed."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None and presigned:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        match = _CREDENTIAL.search(f"Credential={(query.get('X-Amz-Credential') or [''])[0]}")
    return CredentialScope(*match.groups()) if match else None


def request_account(environ: dict[str, Any], access_key: str) -> str:
    """The account moto's BaseResponse.get_current_account picks for a request signed with
    `access_key`: MOTO_ACCOUNT_ID, the X-Moto-Account-Id header, else the account of the key
    (an assumed role's key maps to the role's account; any other key to the default)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return str(environ["HTTP_X_MOTO_ACCOUNT_ID"])
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from(access_key))


def organization_accounts_named(name: str) -> set[str]:
    """Ids of the organization accounts whose email or name is `name` (case-insensitive),
    across every simulated organization."""
    from moto.organizations.models import organizations_backends

    wanted = name.strip().lower()
    found: set[str] = set()
    for account_backends in list(organizations_backends.values()):
        backend = account_backends.get("aws")
        for account in list(getattr(backend, "accounts", []) or []):
            if wanted in (str(account.email).lower(), str(account.name).lower()):
                found.add(str(account.id))
    return found
