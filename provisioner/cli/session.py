"""The AWS session a command runs with: the standard credential chain (`--profile`), or the
sandbox's endpoint and credentials with `--sandbox`; and how a credential problem is said.

This is the one place that imports the sandbox for a plan command (an import contract in
pyproject allows it only under provisioner.cli).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from provisioner.planfile import Plan

if TYPE_CHECKING:
    from provisioner.aws import AwsSession


def make_session(args: argparse.Namespace, plan: Plan, journal: Any = None) -> AwsSession:
    from provisioner.aws import AwsSession

    region = args.region or plan.spec.region
    if args.sandbox:
        from provisioner import sandbox

        state = sandbox.start()
        session = AwsSession(
            region=region,
            endpoint_url=state["aws_endpoint_url"],
            journal=journal,
            credentials={
                "aws_access_key_id": sandbox.SANDBOX_ACCESS_KEY_ID,
                "aws_secret_access_key": sandbox.SANDBOX_SECRET_ACCESS_KEY,
            },
        )
        # Waiters poll on a schedule scaled like the sandbox's simulated time (RunContext reads
        # this), so an apply against `--latency 0.02` is not dominated by 1-5 s polls.
        # AwsSession declares no such attribute (aws/ owns it); RunContext reads it with getattr.
        session.poll_scale = sandbox.poll_scale(state)  # type: ignore[attr-defined]
        return session
    return AwsSession(region=region, profile=args.profile, journal=journal)


def token_session(args: argparse.Namespace, region: str) -> AwsSession:
    """`eks-token`'s session: no plan and no journal, in the region kubectl's config names."""
    from provisioner.aws import AwsSession

    if args.sandbox:
        from provisioner import sandbox

        return AwsSession(
            region=region,
            endpoint_url=sandbox.ensure_running(),
            credentials={
                "aws_access_key_id": sandbox.SANDBOX_ACCESS_KEY_ID,
                "aws_secret_access_key": sandbox.SANDBOX_SECRET_ACCESS_KEY,
            },
        )
    return AwsSession(region=region, profile=args.profile)


def credential_error(exc: BaseException, args: argparse.Namespace) -> Any:
    """A credential or profile problem said with what to do next (aws/errors.py), or None."""
    if args.sandbox:  # the sandbox's own credentials: nothing the user can fix there
        return None
    from provisioner.aws import errors

    return errors.credential_error(exc, profile=args.profile or os.environ.get("AWS_PROFILE"))


def redact(text: str) -> str:
    """An error message as shown: long ones (a whole AWS response) cut at 2,000 characters."""
    return text if len(text) < 2000 else text[:2000] + "..."


def start_sandbox() -> None:
    """Start the sandbox now (several plans: once, before their threads each ask for it)."""
    from provisioner import sandbox

    sandbox.start()
