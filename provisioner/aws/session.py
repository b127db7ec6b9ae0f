"""The one session factory: every AWS client is built here (DESIGN: AWS calls).

- botocore's `standard` retry mode handles throttling and transient 5xx with backoff and a
  per-client retry budget;
- clients are cached per (service, region, purpose): `purpose="poll"` gives waiters their own
  client, so polling never drains the retry budget of the client that mutates;
- the endpoint is real AWS, `AWS_ENDPOINT_URL` (honoured by botocore itself), or the sandbox's;
- every call passes through event hooks that count it and journal mutating calls with the
  node key that made them (never parameters, so no secret reaches the journal).

Clients are never built at import time; boto3 Sessions are not thread-safe, so client
creation is locked, while the clients themselves are safe to share across threads.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import ClientError

from provisioner.aws.botocore_reuse import botocore_session, shared_loader
from provisioner.engine.context import current_key

READ_PREFIXES = ("Describe", "List", "Get", "Lookup", "Head", "Search", "BatchGet")
# Calls that change nothing although their names do not say so.
NON_MUTATING = frozenset({"AssumeRole", "GenerateDataKey", "Decrypt"})


@functools.cache
def _endpoint_data_session() -> boto3.session.Session:
    """A session only for botocore's endpoint data (regions, partitions): building one parses
    endpoints.json, so it is built once per process."""
    session = botocore_session({"profile": (None, None, None, None)})
    session.register_component("data_loader", shared_loader())
    return boto3.session.Session(botocore_session=session)


def partition_for_region(region: str | None) -> str:
    """The partition of a region (`aws`, `aws-cn`, `aws-us-gov`, ...) from botocore's endpoint
    data, without credentials or a call; `aws` when the region is unknown or not given."""
    if not region:
        return "aws"
    try:
        return str(_endpoint_data_session().get_partition_for_region(region))
    except Exception:  # an unknown region: botocore raises its own error types
        return "aws"


def available_partitions() -> list[str]:
    """The partitions botocore knows (`aws`, `aws-cn`, `aws-us-gov`, ...)."""
    return list(_endpoint_data_session().get_available_partitions())


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES) and operation not in NON_MUTATING


class AwsSession:
    def __init__(
        self,
        *,
        region: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        credentials: dict[str, str] | None = None,
        journal: Any = None,
        max_attempts: int = 5,
        standalone: bool = False,
        max_pool_connections: int = 32,
    ):
        self.region = region
        self.profile = profile
        self.max_attempts = max_attempts
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.journal = journal
        kwargs: dict[str, Any] = {"region_name": region}
        if profile:
            kwargs["profile_name"] = profile
        if credentials:
            kwargs.update(credentials)
        # Explicit credentials (the sandbox's), and sessions assumed from them, stand alone:
        # botocore would still read AWS_PROFILE for the config file's profile and fail with
        # ProfileNotFound when a stale one is set, although no credential of it is used.
        self.standalone = standalone or bool(credentials)
        kwargs["botocore_session"] = botocore_session(
            {"profile": (None, None, None, None)} if self.standalone else None
        )
        self._session = boto3.session.Session(**kwargs)
        self._session._session.register_component("data_loader", shared_loader())
        self._config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            max_pool_connections=max_pool_connections,
            user_agent_extra="provisioner/0.1",
            connect_timeout=10,
            read_timeout=60,
        )
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._identity_cache: dict[str, str] | None = None
        self._role_arn_cache: str | None = None
        # The session this one was assumed from (cross-account runs), for management-only reads.
        self.management: AwsSession | None = None
        self._session.events.register("after-call", self._after_call)

    def client(self, service: str, region: str | None = None, purpose: str = "mutate") -> Any:
        region = region or self.region
        cache_key = (service, region, purpose)
        with self._lock:
            client = self._clients.get(cache_key)
            if client is None:
                client = self._session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=self._config
                )
                if service == "s3control":
                    route_s3control_locally(client, self.endpoint_url)
                self._clients[cache_key] = client
            return client

    def poller(self, service: str, region: str | None = None) -> Any:
        """A client reserved for waiters (see module docstring)."""
        return self.client(service, region, purpose="poll")

    @property
    def account_id(self) -> str:
        return self._identity()["Account"]

    @property
    def known_account_id(self) -> str | None:
        """The account id when it is known without a call (read before, or given), else None."""
        with self._lock:
            identity = self._identity_cache
        return identity["Account"] if identity else None

    @property
    def caller_arn(self) -> str:
        """The IAM principal running the tool, as IAM (and EKS access entries) name it.

        STS names an assumed-role session `arn:<p>:sts::<account>:assumed-role/<role>/<session>`
        without the role's path, but EKS wants the role's real ARN, path included: a role under
        `/aws-reserved/sso.amazonaws.com/<region>/` (IAM Identity Center) given without it is an
        "invalid principal". Role names are unique per account, so one iam:GetRole finds the
        ARN; it is read once per session. Without iam:GetRole the path-less ARN is used (right
        for the roles that have no path).
        """
        arn = self._identity()["Arn"]
        parts = arn.split(":")
        if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
            return self._role_arn(
                parts[5].split("/")[1], fallback=f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
            )
        return arn

    def _role_arn(self, name: str, fallback: str) -> str:
        with self._lock:
            cached = self._role_arn_cache
        if cached is not None:
            return cached

        try:
            resolved = str(self.client("iam").get_role(RoleName=name)["Role"]["Arn"])
        except ClientError as exc:
            # Not allowed to read it (or, in a simulator, a role that does not exist).
            if exc.response.get("Error", {}).get("Code") not in (
                "AccessDenied",
                "AccessDeniedException",
                "NoSuchEntity",
            ):
                raise
            resolved = fallback
        with self._lock:
            self._role_arn_cache = resolved
        return resolved

    def assume_role(self, role_arn: str, session_name: str, region: str | None = None) -> AwsSession:
        """A session acting as `role_arn`, assumed with this session's credentials.

        The credentials refresh themselves before they expire (botocore's assume-role
        fetcher, as a profile with `role_arn` does), so a run longer than the role's maximum
        session duration (1 h for the organization access role) keeps working. The first
        AssumeRole happens here, so a role that cannot be assumed fails at once.
        """
        endpoint = self.endpoint_url

        def client_creator(service: str, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint)
            kwargs.setdefault("region_name", self.region)
            return self._session._session.create_client(service, *args, **kwargs)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=client_creator,
            source_credentials=self._session.get_credentials(),
            role_arn=role_arn,
            extra_args={"RoleSessionName": session_name[:64]},
        )
        fetcher.fetch_credentials()  # fail now, with the caller's error handling
        member = AwsSession(
            region=region or self.region,
            endpoint_url=self.endpoint_url,
            journal=self.journal,
            max_attempts=self.max_attempts,
            standalone=self.standalone,
        )
        member._session._session._credentials = DeferredRefreshableCredentials(
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )
        return member

    def _identity(self) -> dict[str, str]:
        with self._lock:
            identity = self._identity_cache
        if identity is None:
            identity = self.client("sts").get_caller_identity()
            with self._lock:
                self._identity_cache = identity
        return identity

    @property
    def partition(self) -> str:
        return (
            self._session.get_partition_for_region(self.region)
            if hasattr(self._session, "get_partition_for_region")
            else "aws"
        )

    def total_calls(self) -> int:
        with self._calls_lock:
            return sum(self.calls.values())

    def _after_call(self, http_response: Any = None, parsed: Any = None, model: Any = None, **kwargs: Any) -> None:
        operation = getattr(model, "name", "?")
        service = getattr(getattr(model, "service_model", None), "endpoint_prefix", "?")
        with self._calls_lock:
            self.calls[f"{service}:{operation}"] += 1
        if self.journal is not None and is_mutating(operation):
            meta = (parsed or {}).get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
            error = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
            self.journal.record(
                "api-call",
                key=current_key.get(),
                service=service,
                operation=operation,
                request_id=meta.get("RequestId"),
                status=meta.get("HTTPStatusCode"),
                error=error,
            )


def route_s3control_locally(client: Any, endpoint_url: str | None) -> None:
    """Make an S3 Control client reach a local endpoint (see `_unprefixed_host`); nothing
    changes for AWS's own endpoints."""
    if endpoint_url and _is_local(endpoint_url):
        client.meta.events.register("before-sign.s3-control", _unprefixed_host(endpoint_url))


def _is_local(endpoint_url: str | None) -> bool:
    host = urlsplit(endpoint_url).hostname if endpoint_url else None
    return host is not None and (host == "localhost" or host.replace(".", "").isdigit())


def _unprefixed_host(endpoint_url: str) -> Any:
    """S3 Control's endpoint rules put the account id in front of the host
    (`<account>.s3-control.<region>.amazonaws.com`, and `<account>.<endpoint>` for a custom
    endpoint), which does not resolve for a local endpoint such as the sandbox's
    `127.0.0.1:<port>`; the account still travels in the `x-amz-account-id` header."""
    netloc = urlsplit(endpoint_url).netloc

    def handler(request: Any, **kwargs: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != netloc and parts.netloc.endswith("." + netloc):
            request.url = urlunsplit(parts._replace(netloc=netloc))

    return handler
