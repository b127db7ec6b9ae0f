"""sandbox/accounts_ready.py: a new account's EC2 is built while its creation is in
progress (with latency), without shortening the creation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto.ec2.models import ec2_backends

from provisioner.sandbox import accounts_ready
from provisioner.sandbox.organizations import models as org_models
from tests.sandbox.test_organizations_api import Clock, in_member


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread | None]:
    """The background builds CreateAccount starts."""
    threads: list[threading.Thread | None] = []
    original = accounts_ready.prepare

    def prepare(account_id: str, management: str) -> threading.Thread | None:
        thread = original(account_id, management)
        threads.append(thread)
        return thread

    monkeypatch.setattr(accounts_ready, "prepare", prepare)
    return threads


def test_a_new_account_s_ec2_is_built_while_it_is_created_and_the_creation_still_takes_its_time(
    boto: Any, built: list[threading.Thread | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(org_models, "now", clock)
    monkeypatch.setattr(org_models, "LATENCY_SCALE", 1.0)
    for region in ("us-east-1", "us-west-2"):  # the regions the management account uses
        boto("ec2", region).describe_vpcs()
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    request = orgs.create_account(Email="new@example.com", AccountName="new")["CreateAccountStatus"]

    (thread,) = built
    assert thread is not None
    thread.join(timeout=60)
    new = next(
        a.id
        for a in org_models.org_backend(boto("sts").get_caller_identity()["Account"]).accounts
        if a.email == "new@example.com"
    )
    assert set(ec2_backends[new]) >= {"us-east-1", "us-west-2"}
    # The head start changes nothing of the latency: IN_PROGRESS for the model's 90 s.
    clock.t += 89
    status = orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
    assert status["State"] == "IN_PROGRESS"
    clock.t += 1
    status = orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED" and status["AccountId"] == new
    # What was built ahead is the account as AWS makes it: a default VPC with its gateway.
    ec2 = in_member(boto, new, "ec2", "us-west-2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]


def test_without_latency_nothing_is_built_ahead(boto: Any, built: list[threading.Thread | None]) -> None:
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    orgs.create_account(Email="new@example.com", AccountName="new")
    assert built == []  # the account is ready at once: nothing to overlap with
