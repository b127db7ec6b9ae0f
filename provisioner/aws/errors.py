"""Reading botocore errors and turning them into the engine's taxonomy.

"Not found" on a delete is success (the thing is gone, which is what we wanted); the codes
differ per service, so they are listed here once.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, WaiterError

from provisioner.engine.errors import PermanentError, ProvisionerError, TemporaryError

__all__ = ["ClientError", "WaiterError", "as_provisioner_error", "error_code", "is_not_found"]

NOT_FOUND_CODES = frozenset(
    {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidAllocationID.NotFound",
        "InvalidAssociationID.NotFound",
        "NatGatewayNotFound",
        "InvalidNatGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidRoute.NotFound",
        "InvalidNetworkAclID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidFlowLogId.NotFound",
        "InvalidPermission.NotFound",
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NotFoundException",
        "DBInstanceNotFound",
        "RepositoryNotFoundException",
    }
)

# Codes that mean "wait and try again": eventual consistency, something still deleting.
TEMPORARY_CODES = frozenset({"DependencyViolation", "IncorrectState", "InvalidParameterValue.Propagation"})


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "") or None
    return None


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


def is_not_found(exc: BaseException) -> bool:
    code = error_code(exc)
    return code is not None and (
        code in NOT_FOUND_CODES or code.endswith(".NotFound") or code.endswith("NotFoundFault")
    )


def as_provisioner_error(
    exc: ClientError, key: str | None = None, hint: str | None = None, temporary: frozenset[str] = TEMPORARY_CODES
) -> ProvisionerError:
    code = error_code(exc)
    message = error_message(exc)
    if code in temporary:
        return TemporaryError(message, key=key, code=code, hint=hint, delay=5.0)
    return PermanentError(message, key=key, code=code, hint=hint)


def request_id(response: Any) -> str | None:
    return (response or {}).get("ResponseMetadata", {}).get("RequestId")


# --------------------------------------------------------------------------------- credentials
# What botocore raises (by class name) or AWS answers (by code) when the credentials are
# missing, unknown, expired or refused, and what the user does next. botocore's own messages
# ("Unable to locate credentials") name no next step, and a bare class name is no message.
_SSO_LOGIN = "run `aws sso login{profile}` and the same command again"
_CREDENTIAL_PROBLEMS: dict[str, tuple[str, str]] = {
    "NoCredentialsError": (
        "no AWS credentials found (no AWS_PROFILE, --profile, environment keys or instance role)",
        "pass --profile NAME (or set AWS_PROFILE) for a profile from `aws configure` or `aws configure sso`, "
        "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; add --sandbox to run against the local simulated AWS",
    ),
    "PartialCredentialsError": (
        "the AWS credentials are incomplete ({detail})",
        "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or use --profile",
    ),
    "ProfileNotFound": (
        "the AWS profile {profile_name} is not in the AWS config or credentials file",
        "list the profiles with `aws configure list-profiles`, then pass --profile with one of them or fix AWS_PROFILE "
        "(`unset AWS_PROFILE` uses the default credential chain)",
    ),
    "TokenRetrievalError": ("the AWS SSO session has expired or was never started", _SSO_LOGIN),
    "SSOTokenLoadError": ("the AWS SSO session has expired or was never started", _SSO_LOGIN),
    "UnauthorizedSSOTokenError": ("the AWS SSO session has expired or was never started", _SSO_LOGIN),
    "ExpiredToken": (
        "the AWS credentials have expired",
        "refresh them (`aws sso login`, or a new AWS_SESSION_TOKEN) and run the same command again",
    ),
    "ExpiredTokenException": (
        "the AWS credentials have expired",
        "refresh them (`aws sso login`, or a new AWS_SESSION_TOKEN) and run the same command again",
    ),
    "RequestExpired": (
        "AWS refused the request as expired",
        "check this machine's clock (requests are signed with the time), then run again",
    ),
    "InvalidClientTokenId": (
        "AWS does not know these credentials' access key",
        "check which credentials are used (`aws sts get-caller-identity`) and --profile / AWS_PROFILE",
    ),
    "UnrecognizedClientException": (
        "AWS does not know these credentials' access key",
        "check which credentials are used (`aws sts get-caller-identity`) and --profile / AWS_PROFILE",
    ),
    "SignatureDoesNotMatch": (
        "AWS rejected the credentials' signature (a wrong secret key)",
        "check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key",
    ),
    "AuthFailure": (
        "AWS rejected the credentials",
        "check which credentials are used (`aws sts get-caller-identity`) and --profile / AWS_PROFILE",
    ),
}
CREDENTIAL_CODES = frozenset(_CREDENTIAL_PROBLEMS)


def credential_error(exc: BaseException, profile: str | None = None, key: str | None = None) -> ProvisionerError | None:
    """A clear error for a credential or profile problem (see `_CREDENTIAL_PROBLEMS`), or None.

    Accepts botocore's exception or one already wrapped by the engine (its `code` is then the
    botocore class name or the AWS error code)."""
    code = error_code(exc) or getattr(exc, "code", None) or type(exc).__name__
    if code not in _CREDENTIAL_PROBLEMS:
        return None
    message, hint = _CREDENTIAL_PROBLEMS[code]
    kwargs = getattr(exc, "kwargs", {}) or {}
    profile_name = kwargs.get("profile") or profile
    message = message.format(
        profile_name=repr(profile_name) if profile_name else "(unnamed)",
        detail=f"missing {kwargs['cred_var']}" if kwargs.get("cred_var") else str(exc),
    )
    hint = hint.format(profile=f" --profile {profile}" if profile else "")
    return PermanentError(message, key=key if key is not None else getattr(exc, "key", None), code=code, hint=hint)
