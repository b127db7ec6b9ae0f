"""Identities as EKS sees them: the caller a key stands for, roles and principals in IAM,
trust policies, and IAM propagation (a role too young is refused as EKS refuses it)."""

from __future__ import annotations

import logging
import math
import random
import re
from datetime import UTC
from typing import Any
from urllib.parse import unquote

from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.backends import iam_backend, partition_of
from provisioner.sandbox.eks.exceptions import invalid

log = logging.getLogger(__name__)


def caller_principal(account: str, region: str, access_key: str) -> str:
    """The IAM principal EKS records as cluster creator, consistent with what moto's STS
    GetCallerIdentity says for the same key: an assumed role's role (EKS names the role, not
    the STS session), an IAM user, or else moto's stand-in identity for keys it does not know."""
    partition = partition_of(region)
    try:
        from moto.sts.models import sts_backends

        sts = sts_backends[account][partition]
        assumed = sts.get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            return str(assumed.role_arn)  # with the role's path, which the session ARN lacks
        return str(sts.get_caller_identity(access_key, region)[1])  # an IAM user or the stand-in
    except Exception:  # an identity moto cannot resolve is treated as the account root
        log.debug("cannot resolve caller identity for %s", access_key, exc_info=True)
    return f"arn:{partition}:iam::{account}:root"


# For keys it does not know (such as `testing`) moto's STS answers GetCallerIdentity with a
# stand-in user "moto" that IAM does not have: `arn:aws:sts::ACCOUNT:user/moto`, or the IAM
# form once the sandbox's fidelity patches apply. On AWS such a caller is a real IAM user, so
# EKS calls here accept the stand-in as an existing IAM user: tools can use their caller's ARN.
MOTO_DEFAULT_IDENTITY = re.compile(r"arn:aws[a-z-]*:(?:sts|iam)::\d{12}:user/moto")


def find_role(account: str, region: str, arn: str) -> Any | None:
    try:
        return iam_backend(account, region).get_role_by_arn(arn)
    except Exception:
        return None


def principal_exists(account: str, region: str, arn: str) -> bool:
    if arn.endswith(":root"):
        return True
    if ":role/" in arn:
        return find_role(account, region, arn) is not None
    iam = iam_backend(account, region)
    return any(user.arn == arn for user in list(iam.users.values()))


# IAM propagation (latency-model.md: p50 10 s, p95 120 s): EKS does not see a role this young
# yet. Each role gets its own delay, drawn from a log-normal with that median and 95th
# percentile (capped at p95) by a generator seeded with IAM_PROPAGATION_SEED and the role's
# ARN, so a run is repeatable; scaled by LATENCY_SCALE like everything else (0: none).
IAM_PROPAGATION_P50 = 10.0
IAM_PROPAGATION_P95 = 120.0
IAM_PROPAGATION_SEED = 0


def iam_propagation_delay(role_arn: str) -> float:
    """Seconds after its creation before EKS accepts this role (0 with LATENCY_SCALE 0)."""
    scale = max(0.0, float(models.LATENCY_SCALE))
    if scale == 0:
        return 0.0
    rng = random.Random(f"{IAM_PROPAGATION_SEED}|{role_arn}")
    sigma = math.log(IAM_PROPAGATION_P95 / IAM_PROPAGATION_P50) / 1.645
    return min(IAM_PROPAGATION_P95, IAM_PROPAGATION_P50 * math.exp(rng.gauss(0.0, sigma))) * scale


def arn_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def propagated(role: Any) -> bool:
    created = getattr(role, "create_date", None)
    if created is None:
        return True
    age = models.clock() - created.replace(tzinfo=UTC).timestamp()
    return age >= iam_propagation_delay(str(role.arn))


def trusts(role: Any, service: str) -> bool:
    return service in unquote(str(getattr(role, "assume_role_policy_document", "") or ""))


def check_role_arn(arn: str, cluster: str, addon: str | None = None) -> None:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/.+", arn):
        raise invalid(f"Invalid Role Arn: '{arn}'", cluster=cluster, addon=addon)
