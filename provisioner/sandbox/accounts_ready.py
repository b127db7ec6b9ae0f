"""A new account's EC2, ready when the account is, as on AWS.

moto builds an account's EC2 backend for a region on the first request that needs it, with
the region's default VPC (fidelity.py): 0.1-1 s of CPU per account and region on 2 cores
before moto_costs.py made its image catalog load on first read. The organization plan meets this right after CreateAccount succeeds: every new
account's baseline reads EC2 in every allowed region at once (eight backends for the
shipped plans, all behind moto's one backend lock), so its first reads took about 2 s that
AWS, whose new accounts are ready in every region, does not have; they sat on the estate's
critical path.

`prepare(account_id, management)`: with latency on (`--latency`), CreateAccount's
IN_PROGRESS window (90 s x scale, during which the account cannot be used) is spent
building the new account's EC2 backends, in a background thread, for the regions the
management account has used. Nothing of the latency changes: the account still becomes
SUCCEEDED at its p50 x scale; only moto's own start-up cost moves out of the way. Without
latency the account is ready at once and nothing is built ahead (tests would pay for
regions they never use).
"""

from __future__ import annotations

import contextlib
import threading


def prepare(account_id: str, management: str) -> threading.Thread | None:
    """Build `account_id`'s EC2 backends in the management account's regions, in the
    background; None when there is nothing to build."""
    from moto.ec2.models import ec2_backends

    regions = [r for r in list(ec2_backends.get(management, {}).keys()) if r not in ec2_backends.get(account_id, {})]
    if not regions:
        return None
    thread = threading.Thread(
        target=_build, args=(account_id, regions), name=f"sandbox-account-{account_id}", daemon=True
    )
    thread.start()
    return thread


def _build(account_id: str, regions: list[str]) -> None:
    from moto.ec2.models import ec2_backends

    for region in regions:
        # A head start only: a request that needs the backend first builds it under moto's
        # backend lock, and this finds it built.
        with contextlib.suppress(Exception):
            ec2_backends[account_id][region]  # building it is the point
