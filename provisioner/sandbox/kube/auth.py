"""EKS bearer-token authentication, done offline.

A real EKS cluster runs aws-iam-authenticator's server side
(https://github.com/kubernetes-sigs/aws-iam-authenticator, pkg/token/token.go). For a token
`k8s-aws-v1.<base64url(presigned STS URL)>` it:

1. checks the URL's shape: https, an STS host, path `/`, Action=GetCallerIdentity,
   Version=2011-06-15, SigV4 query auth whose X-Amz-SignedHeaders include `x-k8s-aws-id`;
2. checks X-Amz-Expires is within 0..900 and that X-Amz-Date is less than 15 minutes old:
   the token's lifetime is 15 min from X-Amz-Date whatever X-Amz-Expires says (clients
   send 60);
3. replays the URL to STS with the header `x-k8s-aws-id: <its cluster name>`. STS accepts
   only a signature made over that header value, which binds the token to one cluster, and
   answers with the caller's ARN.

The emulator must not call out, so step 3 is done locally: it recomputes the SigV4
signature with this cluster's name in the header, using the secret key of the token's access
key id looked up through `resolve_secret` (the sandbox's static credentials by default;
`provisioner.sandbox.kube_emulator.CREDENTIAL_RESOLVER` can add the keys moto's STS handed
out). A wrong cluster, a tampered URL or a wrong secret all fail that check. When the secret
is unknown the signature cannot be checked: such tokens are refused unless
`allow_unverifiable` is set (see kube_emulator), and then only shape and age are checked.

Deliberately not emulated: the identity's mapping to Kubernetes users and groups (access
entries, aws-auth): every authenticated caller is a cluster administrator. Hosts: besides
AWS's STS hostnames, loopback hosts are accepted, because in the sandbox the STS endpoint is
the local moto server.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_LIFETIME_SECONDS = 15 * 60
MAX_EXPIRES_SECONDS = 15 * 60
# STS rejects signatures dated more than 15 minutes in the future (clock skew).
MAX_CLOCK_SKEW_SECONDS = 15 * 60
MAX_TOKEN_LENGTH = 8192

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_STS_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

SecretResolver = Callable[[str], "str | None"]


class TokenError(Exception):
    """The token is not acceptable; the message says why (it never contains the token)."""


@dataclass(frozen=True)
class Identity:
    access_key_id: str
    signature_verified: bool


def verify_token(
    token: str,
    cluster_name: str,
    *,
    resolve_secret: SecretResolver,
    allow_unverifiable: bool = False,
    now: float | None = None,
) -> Identity:
    """Check `token` for `cluster_name`; raise TokenError, or return who signed it."""
    if not token.startswith(TOKEN_PREFIX):
        raise TokenError("not an EKS token (missing k8s-aws-v1. prefix)")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token too long")
    encoded = token[len(TOKEN_PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise TokenError("token is not base64url of a URL") from exc

    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in _LOOPBACK_HOSTS
    if not loopback and (parts.scheme != "https" or not _STS_HOST.match(host)):
        raise TokenError("token URL is not an STS endpoint")
    if parts.path not in ("", "/"):
        raise TokenError("token URL has an unexpected path")

    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise TokenError("token URL repeats a query parameter")
        query[key] = value
    lower = {key.lower(): value for key, value in query.items()}
    if lower.get("action") != "GetCallerIdentity" or lower.get("version") != "2011-06-15":
        raise TokenError("token URL is not an STS GetCallerIdentity call")
    if lower.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise TokenError("token URL is not SigV4-presigned")
    signed_headers = lower.get("x-amz-signedheaders", "").split(";")
    if CLUSTER_ID_HEADER not in signed_headers:
        raise TokenError("token URL does not sign the x-k8s-aws-id header")
    signature = lower.get("x-amz-signature", "")
    if not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise TokenError("token URL has no valid signature")

    try:
        expires = int(lower.get("x-amz-expires", ""))
    except ValueError as exc:
        raise TokenError("X-Amz-Expires is missing or not a number") from exc
    if not 0 <= expires <= MAX_EXPIRES_SECONDS:
        raise TokenError("X-Amz-Expires parameter out of range")
    try:
        signed_at = calendar.timegm(time.strptime(lower.get("x-amz-date", ""), _DATE_FORMAT))
    except ValueError as exc:
        raise TokenError("X-Amz-Date is missing or malformed") from exc
    current = time.time() if now is None else now
    if signed_at + TOKEN_LIFETIME_SECONDS < current:
        raise TokenError("token expired (15 minute lifetime from X-Amz-Date)")
    if signed_at - MAX_CLOCK_SKEW_SECONDS > current:
        raise TokenError("X-Amz-Date is in the future")

    credential = lower.get("x-amz-credential", "").split("/")
    if len(credential) != 5 or credential[3] != "sts" or credential[4] != "aws4_request":
        raise TokenError("X-Amz-Credential is malformed")
    access_key_id, scope_date, scope_region = credential[0], credential[1], credential[2]
    if scope_date != lower["x-amz-date"][:8]:
        raise TokenError("X-Amz-Credential date does not match X-Amz-Date")

    secret = resolve_secret(access_key_id)
    if secret is None:
        if allow_unverifiable:
            return Identity(access_key_id, signature_verified=False)
        raise TokenError("token signed with an unknown access key")

    headers = {"host": parts.netloc.lower(), CLUSTER_ID_HEADER: cluster_name}
    if set(signed_headers) - set(headers):
        raise TokenError("token URL signs headers the cluster cannot reproduce")
    unsigned = [(k, v) for k, v in pairs if k.lower() != "x-amz-signature"]
    expected = [
        _signature(
            secret,
            "GET",
            parts.path or "/",
            unsigned,
            headers,
            signed_headers,
            payload_hash,
            lower["x-amz-date"],
            scope_date,
            scope_region,
        )
        for payload_hash in (_EMPTY_SHA256, "UNSIGNED-PAYLOAD")
    ]
    if not any(hmac.compare_digest(candidate, signature) for candidate in expected):
        # Also what a token made for another cluster gets: its signature covers another name.
        raise TokenError("token signature does not match this cluster")
    return Identity(access_key_id, signature_verified=True)


def _signature(
    secret: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    signed_headers: list[str],
    payload_hash: str,
    amz_date: str,
    scope_date: str,
    region: str,
) -> str:
    """SigV4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)."""

    def quote(value: str) -> str:
        return urllib.parse.quote(value, safe="-_.~")

    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((quote(k), quote(v)) for k, v in query))
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [method, path, canonical_query, canonical_headers, ";".join(signed_headers), payload_hash]
    )
    scope = f"{scope_date}/{region}/sts/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for part in (scope_date, region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
