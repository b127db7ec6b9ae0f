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


def _organization_with_development(boto) -> str:
    """An organization with the dev plan's account (by the email organization.yaml gives it)."""
    organizations = boto("organizations")
    organizations.create_organization(FeatureSet="ALL")
    request = organizations.create_account(Email="aws-development@innovate.example.com", AccountName="Development")
    return organizations.describe_create_account_status(CreateAccountRequestId=request["CreateAccountStatus"]["Id"])[
        "CreateAccountStatus"
    ]["AccountId"]


def test_plan_in_a_member_account_assumes_its_role_without_reading_the_callers_identity(session_for, boto) -> None:
    development = _organization_with_development(boto)
    management = session_for()
    member = session_for_plan(management, load_plan("dev", PLANS))
    assert member is not management and member.account_id == development
    # ListAccounts names the management account in every account's ARN: the caller, which
    # may list accounts, is in it, so the member account is assumed into without asking STS.
    assert management.calls["sts:AssumeRole"] == 1, management.calls
    assert "sts:GetCallerIdentity" not in management.calls, management.calls


def test_plan_run_with_its_own_accounts_credentials_uses_them_when_the_role_refuses(
    session_for, boto, moto_server
) -> None:
    from provisioner.sandbox.faults import FaultSpec

    development = _organization_with_development(boto)
    # Credentials that act in the development account and may list the organization's accounts
    # (a delegated administrator's): the access role there trusts the management account only.
    boto("organizations").register_delegated_administrator(
        AccountId=development, ServicePrincipal="guardduty.amazonaws.com"
    )
    own = assume_role(session_for(), development, "OrganizationAccountAccessRole", "delegated-admin")
    moto_server.app.set_faults(FaultSpec.parse(f"fail=sts:AssumeRole@{development}"))
    try:
        assert session_for_plan(own, load_plan("dev", PLANS)) is own
    finally:
        moto_server.app.set_faults(FaultSpec())
    assert own.calls["sts:AssumeRole"] == 1 and own.calls["sts:GetCallerIdentity"] == 1, own.calls
