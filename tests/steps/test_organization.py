"""The organization step against the simulated AWS, through the production session factory."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import Action, PermanentError, Resource, RunContext, Runner
from provisioner.planfile import load_plan
from provisioner.sandbox.organizations import models as org_models
from provisioner.steps import organization
from provisioner.steps.organization import accounts, scp_documents
from tests.conftest import PLANS
from tests.idempotency import check_four_phases, mutating_calls, runner, subgraph

ORG = load_plan("organization", PLANS)
NODES = organization.resources(ORG)
KINDS = sorted({n.type for n in NODES})
# Kinds whose "delete" deliberately leaves the resource (and OUs that still hold accounts).
KEPT = {"organizations:organization", "organizations:account", "iam:policy", "ram:organization-sharing"}


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str]] = []

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        self.seen.append((kind, key, message))

    def messages(self, key: str) -> list[str]:
        return [m for _, k, m in self.seen if k == key]


def check_four_phases_keeping(
    plan: Any, make_session: Callable[[], Any], nodes: list[Resource], kept: set[str] = KEPT
) -> None:
    """tests.idempotency's four phases for graphs that hold kinds destroy keeps (accounts, the
    organization) or read-only nodes: those are no-ops where the others are creates."""
    if not any(n.type in kept or n.read_only for n in nodes):
        return check_four_phases(plan, make_session, nodes)
    settled = {n.key for n in nodes if n.read_only}
    first = runner(plan, make_session(), nodes).plan()
    assert {c.key for c in first.changes} == {n.key for n in nodes}
    assert {c.action for c in first.changes if c.key not in settled} == {Action.CREATE}, first.changes

    result = runner(plan, make_session(), nodes).apply()
    assert result.status == "ok", [r for r in result.results.values() if r.status != "done"]
    second = runner(plan, make_session(), nodes).plan()
    assert not [c for c in second.changes if c.action is not Action.NOOP]

    session = make_session()
    assert runner(plan, session, nodes).apply().status == "ok"
    assert mutating_calls(session) == [], "a converged apply must not write"

    destroyed = runner(plan, make_session(), nodes).destroy()
    assert destroyed.status == "ok", [r for r in destroyed.results.values() if r.status != "done"]
    third = {c.key: c.action for c in runner(plan, make_session(), nodes).plan().changes}
    if any(n.type == "organizations:account" for n in nodes):
        kept = kept | {"organizations:ou"}  # OUs that still hold the kept accounts stay too
    for node in nodes:
        if node.read_only:
            continue
        expected = Action.NOOP if node.type in kept else Action.CREATE
        assert third[node.key] is expected, (node.key, third[node.key])


def apply(session: Any, nodes: list[Resource] = NODES, plan: Any = ORG, **context: Any) -> Any:
    result = Runner(RunContext(plan=plan, aws=session, **context), nodes).apply()
    assert result.status == "ok", [r for r in result.results.values() if r.status != "done"]
    return result


def member(boto: Any, account_id: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client in a member account, through the organization access role."""
    import boto3

    credentials = boto("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=boto("sts").meta.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def account_ids(boto: Any) -> dict[str, str]:
    return {a["Email"]: a["Id"] for a in boto("organizations").list_accounts()["Accounts"]}


# ---------------------------------------------------------------------------------- graph
def test_organization_builds_every_kind_of_the_plan() -> None:
    assert (
        sorted(
            [
                "organizations:organization",
                "organizations:ou",
                "organizations:account",
                "organizations:policy",
                "guardduty:detector",
                "guardduty:organization-admin",
                "guardduty:organization-configuration",
                "kms:key",
                "kms:key-policy",
                "s3:bucket",
                "cloudtrail:trail",
                "ram:organization-sharing",
                "ec2:default-vpc",
                "ec2:ebs-encryption-by-default",
                "s3:account-public-access-block",
            ]
        )
        == KINDS
    )
    keys = {n.key for n in NODES}
    assert {
        "organization/ou/Infrastructure",
        "organization/ou/Workloads",
        "organization/ou/Workloads/NonProd",
        "organization/ou/Workloads/Prod",
    } <= keys
    assert {f"organization/account/{k}" for k in ("shared-services", "development", "staging", "production")} <= keys


def test_accounts_and_policies_wait_only_for_their_ous() -> None:
    by_key = {n.key: n for n in NODES}
    assert set(by_key["organization/account/development"].depends_on) == {
        "organization/organization",
        "organization/ou/Workloads/NonProd",
    }
    assert set(by_key["organization/scp/restrict-regions"].depends_on) == {
        "organization/ou/Infrastructure",
        "organization/ou/Workloads",
    }
    assert set(by_key["organization/scp/deny-leave-organization"].depends_on) == {"organization/organization"}
    assert not any(k.startswith("organization/account/") for k in by_key["organization/cloudtrail/trail"].depends_on)


# The account baseline's settings exist in the management account before any apply (so they
# start as updates there): tests/steps/test_account_baseline.py runs their four phases on a
# member account's.
@pytest.mark.parametrize("kind", [k for k in KINDS if not k.startswith(("ec2:", "s3:account"))])
def test_apply_kind_is_idempotent_through_four_phases(kind: str, session_for) -> None:
    check_four_phases_keeping(ORG, session_for, subgraph(NODES, lambda n: n.type == kind))


# ------------------------------------------------------------------------------- apply
@pytest.fixture
def applied(organization_applied) -> Any:
    """The organization plan applied (see tests/conftest.py)."""
    return organization_applied


@pytest.mark.shares_state  # reads, or applies what is converged
def test_apply_organization_builds_what_the_plan_says(applied, boto) -> None:
    orgs = boto("organizations")
    assert orgs.describe_organization()["Organization"]["FeatureSet"] == "ALL"
    (root,) = orgs.list_roots()["Roots"]
    assert {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"} in root["PolicyTypes"]
    assert (
        dict((t["Key"], t["Value"]) for t in orgs.list_tags_for_resource(ResourceId=root["Id"])["Tags"])[TAG_PLAN]
        == "organization"
    )
    top = {
        u["Name"]: u["Id"]
        for u in orgs.list_organizational_units_for_parent(ParentId=root["Id"])["OrganizationalUnits"]
    }
    assert set(top) == {"Infrastructure", "Workloads"}
    nested = {
        u["Name"]: u["Id"]
        for u in orgs.list_organizational_units_for_parent(ParentId=top["Workloads"])["OrganizationalUnits"]
    }
    assert set(nested) == {"NonProd", "Prod"}

    ids = account_ids(boto)
    expected_ou = {
        "aws-shared-services@innovate.example.com": top["Infrastructure"],
        "aws-development@innovate.example.com": nested["NonProd"],
        "aws-staging@innovate.example.com": nested["NonProd"],
        "aws-production@innovate.example.com": nested["Prod"],
    }
    for email, ou in expected_ou.items():
        assert orgs.list_parents(ChildId=ids[email])["Parents"][0]["Id"] == ou, email
    assert len(ids) == 5  # the management account and the four members

    scps = {
        p["Name"]: p["Id"]
        for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
        if not p["AwsManaged"]
    }
    targets = {
        name: {t["TargetId"] for t in orgs.list_targets_for_policy(PolicyId=pid)["Targets"]}
        for name, pid in scps.items()
    }
    assert targets == {
        "organization-deny-leave-organization": {root["Id"]},
        "organization-protect-security-services": {root["Id"]},
        "organization-restrict-regions": {top["Infrastructure"], top["Workloads"]},
        "organization-deny-root-user": {top["Infrastructure"], top["Workloads"]},
    }
    regions = json.loads(orgs.describe_policy(PolicyId=scps["organization-restrict-regions"])["Policy"]["Content"])
    assert regions["Statement"][0]["Condition"]["StringNotEquals"]["aws:RequestedRegion"] == ["us-east-1", "us-west-2"]
    assert "iam:*" in regions["Statement"][0]["NotAction"]

    admin = ids["aws-shared-services@innovate.example.com"]
    for region in ("us-east-1", "us-west-2"):
        assert boto("guardduty", region).list_organization_admin_accounts()["AdminAccounts"] == [
            {"AdminAccountId": admin, "AdminStatus": "ENABLED"}
        ]
        assert len(boto("guardduty", region).list_detectors()["DetectorIds"]) == 1
        guardduty = member(boto, admin, "guardduty", region)
        (detector,) = guardduty.list_detectors()["DetectorIds"]
        assert (
            guardduty.describe_organization_configuration(DetectorId=detector)["AutoEnableOrganizationMembers"] == "ALL"
        )
    assert {d["Id"] for d in orgs.list_delegated_administrators()["DelegatedAdministrators"]} == {admin}

    (trail,) = boto("cloudtrail").describe_trails(includeShadowTrails=False)["trailList"]
    assert trail["Name"] == "innovate-organization-trail"
    assert trail["IsOrganizationTrail"] and trail["IsMultiRegionTrail"] and trail["LogFileValidationEnabled"]
    key = boto("kms").describe_key(KeyId="alias/provisioner/organization/cloudtrail")["KeyMetadata"]
    assert trail["KmsKeyId"] == key["Arn"]
    assert boto("cloudtrail").get_trail_status(Name=trail["TrailARN"])["IsLogging"] is True
    key_policy = json.loads(boto("kms").get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert any(
        s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"} and s["Action"] == "kms:GenerateDataKey*"
        for s in key_policy["Statement"]
    )

    s3 = boto("s3")
    bucket = trail["S3BucketName"]
    assert bucket == "organization-cloudtrail-123456789012"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    org_id = orgs.describe_organization()["Organization"]["Id"]
    assert any(s["Resource"] == f"arn:aws:s3:::{bucket}/AWSLogs/{org_id}/*" for s in statements)


@pytest.mark.shares_state  # reads, or applies what is converged
def test_second_apply_changes_nothing_and_creates_no_second_account(applied, boto, session_for) -> None:
    assert not runner(ORG, session_for(), NODES).plan().has_changes
    session = session_for()
    again = apply(session)
    assert mutating_calls(session) == []
    assert not [c for c in again.changeset.changes if c.action is not Action.NOOP]
    assert len(boto("organizations").list_accounts()["Accounts"]) == 5
    statuses = boto("organizations").list_create_account_status()["CreateAccountStatuses"]
    assert len([s for s in statuses if s["AccountName"].startswith("Innovate")]) == 4


def test_apply_adopts_an_account_made_by_hand_with_the_same_email(boto, session_for) -> None:
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    request = orgs.create_account(Email="aws-development@innovate.example.com", AccountName="made by hand")[
        "CreateAccountStatus"
    ]
    by_hand = orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"][
        "AccountId"
    ]

    changes = {c.key: c for c in runner(ORG, session_for(), NODES).plan().changes}
    assert changes["organization/account/development"].action is Action.UPDATE  # tags and OU, not a create
    assert changes["organization/organization"].action is Action.UPDATE  # an organization made by hand: tagged
    apply(session_for())

    ids = account_ids(boto)
    assert ids["aws-development@innovate.example.com"] == by_hand and len(ids) == 5
    nonprod = next(
        u
        for u in orgs.list_organizational_units_for_parent(
            ParentId=next(
                u
                for u in orgs.list_organizational_units_for_parent(ParentId=orgs.list_roots()["Roots"][0]["Id"])[
                    "OrganizationalUnits"
                ]
                if u["Name"] == "Workloads"
            )["Id"]
        )["OrganizationalUnits"]
        if u["Name"] == "NonProd"
    )
    assert orgs.list_parents(ChildId=by_hand)["Parents"][0]["Id"] == nonprod["Id"]
    tags = {t["Key"]: t["Value"] for t in orgs.list_tags_for_resource(ResourceId=by_hand)["Tags"]}
    assert tags[TAG_KEY] == "organization/account/development" and tags[TAG_PLAN] == "organization"
    assert not runner(ORG, session_for(), NODES).plan().has_changes


def test_destroy_keeps_accounts_and_the_organization(applied, boto, session_for) -> None:
    events = Events()
    result = Runner(RunContext(plan=ORG, aws=session_for(), reporter=events), NODES).destroy()
    assert result.status == "ok", result.failures()
    orgs = boto("organizations")
    accounts_left = orgs.list_accounts()["Accounts"]
    assert len(accounts_left) == 5 and {a["Status"] for a in accounts_left} == {"ACTIVE"}
    assert orgs.describe_organization()["Organization"]["FeatureSet"] == "ALL"
    assert any("never closed" in m for m in events.messages("organization/account/staging"))
    assert any("never deleted" in m for m in events.messages("organization/organization"))
    assert any("still holds accounts" in m for m in events.messages("organization/ou/Workloads/NonProd"))
    # What the plan owns and may delete is gone.
    assert [p for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"] if not p["AwsManaged"]] == []
    assert boto("cloudtrail").describe_trails()["trailList"] == []
    assert boto("guardduty").list_organization_admin_accounts()["AdminAccounts"] == []
    # Applying again finds the kept accounts: nothing is created twice.
    again = {c.key: c.action for c in runner(ORG, session_for(), NODES).plan().changes}
    assert again["organization/account/production"] is Action.NOOP
    apply(session_for())
    assert len(orgs.list_accounts()["Accounts"]) == 5


def test_apply_reattaches_a_policy_detached_by_hand(applied, boto, session_for) -> None:
    orgs = boto("organizations")
    policy = next(
        p
        for p in orgs.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
        if p["Name"] == "organization-deny-leave-organization"
    )
    orgs.detach_policy(PolicyId=policy["Id"], TargetId=orgs.list_roots()["Roots"][0]["Id"])
    (change,) = [c for c in runner(ORG, session_for(), NODES).plan().changes if c.action is not Action.NOOP]
    assert change.key == "organization/scp/deny-leave-organization" and "targets" in change.diff
    apply(session_for())
    assert orgs.list_targets_for_policy(PolicyId=policy["Id"])["Targets"]


@pytest.mark.shares_state  # reads, or applies what is converged
def test_organization_plan_from_a_member_account_is_refused(applied, boto, aws) -> None:
    from provisioner.aws import AwsSession

    shared = account_ids(boto)["aws-shared-services@innovate.example.com"]
    credentials = boto("sts").assume_role(
        RoleArn=f"arn:aws:iam::{shared}:role/OrganizationAccountAccessRole", RoleSessionName="test"
    )["Credentials"]
    session = AwsSession(
        region="us-east-1",
        endpoint_url=aws,
        credentials={
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        },
    )
    with pytest.raises(PermanentError) as error:
        runner(ORG, session, NODES).plan()
    assert "management account" in error.value.describe()


# ------------------------------------------------------------------------------ accounts
def test_account_creation_waits_while_in_progress_without_sleeping(boto, session_for, monkeypatch) -> None:
    clock, events = FakeClock(), Events()
    base = org_models.now()
    monkeypatch.setattr(org_models, "LATENCY_SCALE", 1.0)  # 90 s, on the fake clock
    monkeypatch.setattr(org_models, "now", lambda: base + clock.t)
    nodes = subgraph(NODES, lambda n: n.key == "organization/account/staging")
    apply(session_for(), nodes, clock=clock, reporter=events)
    assert clock.t >= org_models.CREATE_ACCOUNT_SECONDS
    waits = events.messages("organization/account/staging")
    assert any("IN_PROGRESS" in m for m in waits) and any("SUCCEEDED after" in m for m in waits)
    assert len(boto("organizations").list_accounts()["Accounts"]) == 2


def test_interrupted_account_creation_is_resumed_not_repeated(boto, session_for, monkeypatch) -> None:
    clock, events = FakeClock(), Events()
    base = org_models.now()
    monkeypatch.setattr(org_models, "LATENCY_SCALE", 1.0)
    monkeypatch.setattr(org_models, "now", lambda: base + clock.t)
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    # A run that was interrupted after CreateAccount: the account is still being made.
    orgs.create_account(Email="aws-staging@innovate.example.com", AccountName="Innovate Staging")
    nodes = subgraph(NODES, lambda n: n.key == "organization/account/staging")
    apply(session_for(), nodes, clock=clock, reporter=events)
    assert any("resuming the creation" in m for m in events.messages("organization/account/staging"))
    statuses = orgs.list_create_account_status()["CreateAccountStatuses"]
    assert len([s for s in statuses if s["AccountName"] == "Innovate Staging"]) == 1
    assert len(orgs.list_accounts()["Accounts"]) == 2


def test_account_limit_failure_is_explained_with_what_to_do(session_for, monkeypatch) -> None:
    monkeypatch.setattr(org_models, "ACCOUNT_LIMIT", 3)  # the management account and two members
    result = Runner(
        RunContext(plan=ORG, aws=session_for()), subgraph(NODES, lambda n: n.type == "organizations:account")
    ).apply()
    failed = result.failures()
    assert len(failed) == 2 and {f.error_code for f in failed} == {"ACCOUNT_LIMIT_EXCEEDED"}
    assert "quota of accounts" in failed[0].error and "Service Quotas" in failed[0].error


def test_every_failure_reason_has_a_message_and_what_to_do() -> None:
    from botocore.session import get_session

    model = get_session().get_service_model("organizations")
    reasons = model.shape_for("CreateAccountFailureReason").enum
    for reason in reasons:
        if reason == "UPDATE_EXISTING_RESOURCE_POLICY_WITH_TAGS_NOT_SUPPORTED":
            continue  # not a CreateAccount outcome
        what, hint = accounts.failure_message(reason)
        assert reason in accounts.FAILURE_HINTS, reason
        assert what and hint
    assert "invite" in accounts.failure_message("EMAIL_ALREADY_EXISTS")[1].lower()


# ---------------------------------------------------------------------------------- SCPs
def test_scp_documents_are_valid_and_small_enough() -> None:
    for name in scp_documents.GENERATORS:
        document = scp_documents.generate(name, ORG.spec)
        assert scp_documents.validate(document) == [], name
        assert len(scp_documents.minified(document)) < scp_documents.MAX_SCP_CHARACTERS
    protect = scp_documents.generate("protect-security-services", ORG.spec)
    actions = {
        a for s in protect["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {
        "guardduty:DeleteDetector",
        "guardduty:UpdateDetector",
        "guardduty:StopMonitoringMembers",
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "cloudtrail:UpdateTrail",
        "cloudtrail:PutEventSelectors",
        "ec2:DeleteFlowLogs",
        "logs:DeleteLogGroup",
    } <= actions
    root = scp_documents.generate("deny-root-user", ORG.spec)["Statement"][0]
    assert root["Condition"] == {"StringLike": {"aws:PrincipalArn": ["arn:*:iam::*:root"]}}


def test_too_long_scp_is_refused_before_any_call(cli, moto_server, monkeypatch) -> None:
    padded = scp_documents.restrict_regions(ORG.spec)
    padded["Statement"][0]["NotAction"] = [f"service{i}:Action{i}" for i in range(400)]
    monkeypatch.setitem(scp_documents.GENERATORS, "restrict-regions", lambda spec: padded)
    with pytest.raises(PermanentError) as error:
        organization.resources(ORG)
    assert "organization-restrict-regions" in error.value.message and "5120" in error.value.message

    # As the CLI runs it.
    before = moto_server.app.requests
    result = cli("plan", "organization")
    assert result.code == 1
    assert "organization/scp/restrict-regions" in result.err and "5120" in result.err
    assert moto_server.app.requests == before, "nothing may be sent to AWS"


def test_scp_validation_names_each_problem() -> None:
    problems = scp_documents.validate(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Resource": "*"}, {"Effect": "Maybe", "Action": "s3:*", "Principal": "*"}],
        }
    )
    assert any("exactly one of Action and NotAction" in p for p in problems)
    assert any("Effect" in p for p in problems) and any("Principal" in p for p in problems)
    assert scp_documents.validate({"Statement": []}) != []


def test_resources_follow_the_plan(monkeypatch) -> None:
    spec = ORG.spec.model_copy(update={"guardduty": ORG.spec.guardduty.model_copy(update={"regions": ["us-east-1"]})})
    nodes = organization.resources(dataclasses.replace(ORG, spec=spec))
    assert sorted(n.key for n in nodes if n.type.startswith("guardduty:")) == [
        "organization/guardduty/admin/us-east-1",
        "organization/guardduty/auto-enable/us-east-1",
        "organization/guardduty/detector/us-east-1",
    ]


# --------------------------------------------------------------------------------- CLI
def test_cli_apply_organization_twice_creates_the_accounts_once(cli, boto) -> None:
    first = cli("apply", "organization", "--yes")
    assert first.code == 0, first.err
    assert "Apply ok" in first.out and "organization/account/production" in first.out
    second = cli("apply", "organization", "--yes")
    assert second.code == 0, second.err
    assert "Nothing to do." in second.out
    assert len(boto("organizations").list_accounts()["Accounts"]) == 5
    refused = cli("destroy", "organization", "--yes")
    assert refused.code == 1 and "protected" in refused.err
