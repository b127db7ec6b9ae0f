"""Cross-account execution: a plan runs in its own account."""

from __future__ import annotations

import pytest

from provisioner.aws.accounts import AccountNotReady, assume_role, session_for_plan
from provisioner.planfile import load_plan
from tests.conftest import PLANS


def test_assume_role_acts_in_the_member_account_with_refreshing_credentials(session_for) -> None:
    management = session_for()
    member = assume_role(management, "111111111111", "OrganizationAccountAccessRole", "provisioner-dev")
    assert member.account_id == "111111111111"
    assert member.caller_arn == "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
    # botocore refreshes these before they expire: long applies outlive the role's 1 h session.
    assert type(member._session._session.get_credentials()).__name__ == "DeferredRefreshableCredentials"
    member.client("ec2").create_vpc(CidrBlock="10.77.0.0/16")
    cidrs = {v["CidrBlock"] for v in management.client("ec2").describe_vpcs()["Vpcs"]}
    assert "10.77.0.0/16" not in cidrs


def test_environment_plan_without_an_organization_stops_before_any_change(session_for) -> None:
    with pytest.raises(AccountNotReady) as raised:
        session_for_plan(session_for(), load_plan("dev", PLANS))
    assert "apply organization" in (raised.value.hint or "")


def test_plan_with_the_sessions_own_account_id_uses_it_as_it_is(session_for, single_account_plans) -> None:
    session = session_for()
    assert session_for_plan(session, load_plan("dev", single_account_plans)) is session
