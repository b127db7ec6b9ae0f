"""Day two (SPEC section 11): changing a running environment."""

from __future__ import annotations

import dataclasses

import pytest

from provisioner.engine import Action
from provisioner.planfile import load_plan
from provisioner.steps import build
from tests.conftest import PLANS
from tests.idempotency import runner

DEV = load_plan("dev", PLANS)


def with_third_az(plan):
    net = plan.spec.network
    network = net.model_copy(update={
        "availability_zones": [*net.availability_zones, "us-east-1c"],
        "public_subnets": [*net.public_subnets, "10.10.8.0/22"],
        "private_subnets": [*net.private_subnets, "10.10.192.0/18"],
    })
    return dataclasses.replace(plan, spec=plan.spec.model_copy(update={"network": network}))


def test_scratch(session_for):
    result = runner(DEV, session_for(), build(DEV)).apply()
    assert result.status == "ok"
    plan = with_third_az(DEV)
    changes = runner(plan, session_for(), build(plan)).plan().changes
    for c in changes:
        if c.action is not Action.NOOP:
            print(c.key, c.action.value, c.reason, list(c.diff))
    result = runner(plan, session_for(), build(plan)).apply()
    print(result.status, [(r.key, r.error) for r in result.results.values() if r.status != "done"])
    changes = runner(plan, session_for(), build(plan)).plan().changes
    for c in changes:
        if c.action is not Action.NOOP:
            print("AFTER", c.key, c.action.value, c.reason, c.diff)
    assert False
