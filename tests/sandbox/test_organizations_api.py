"""The sandbox's Organizations, GuardDuty and CloudTrail extension, through boto3."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner.sandbox.organizations import models as org_models

SCP = "SERVICE_CONTROL_POLICY"
DENY_LEAVE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}],
    }
)


def code_of(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


class Clock:
    def __init__(self) -> None:
        self.t = org_models.now()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(org_models, "now", clock)
    return clock


def create_account(orgs: Any, email: str, name: str = "member") -> str:
    request = orgs.create_account(Email=email, AccountName=name)["CreateAccountStatus"]
    return str(
        orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["AccountId"]
    )


@pytest.fixture
def org(boto) -> dict[str, Any]:
    """An organization with one member account."""
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root = orgs.list_roots()["Roots"][0]["Id"]
    return {"orgs": orgs, "root": root, "member": create_account(orgs, "member@example.com")}


def in_member(boto: Any, account_id: str, service: str, region: str = "us-east-1") -> Any:
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


# ------------------------------------------------------------------------- who may call
def test_calls_outside_an_organization_say_it_is_not_in_use(boto) -> None:
    orgs = boto("organizations")
    for call in (orgs.list_accounts, orgs.list_roots, lambda: orgs.list_policies(Filter=SCP)):
        with pytest.raises(ClientError) as error:
            call()
        assert code_of(error) == "AWSOrganizationsNotInUseException"
    assert orgs.create_organization(FeatureSet="ALL")["Organization"]["FeatureSet"] == "ALL"


def test_a_member_account_may_only_describe_the_organization(org, boto) -> None:
    member = in_member(boto, org["member"], "organizations")
    assert member.describe_organization()["Organization"]["MasterAccountId"] == "123456789012"
    calls = [
        member.list_accounts,
        member.list_roots,
        lambda: member.create_organizational_unit(ParentId=org["root"], Name="Mine"),
        lambda: member.create_account(Email="other@example.com", AccountName="other"),
        lambda: member.list_delegated_administrators(),
    ]
    for call in calls:
        with pytest.raises(ClientError) as error:
            call()
        assert code_of(error) == "AccessDeniedException"
        assert error.value.response["Error"]["Message"] == "You don't have permissions to access this resource."
    with pytest.raises(ClientError) as error:
        member.create_organization(FeatureSet="ALL")
    assert code_of(error) == "AlreadyInOrganizationException"


def test_a_delegated_administrator_may_read_the_organization(org, boto) -> None:
    org["orgs"].register_delegated_administrator(AccountId=org["member"], ServicePrincipal="guardduty.amazonaws.com")
    member = in_member(boto, org["member"], "organizations")
    assert {a["Id"] for a in member.list_accounts()["Accounts"]} == {"123456789012", org["member"]}
    assert member.list_roots()["Roots"][0]["Id"] == org["root"]
    with pytest.raises(ClientError) as error:
        member.create_organizational_unit(ParentId=org["root"], Name="Mine")
    assert code_of(error) == "AccessDeniedException"


# ----------------------------------------------------------------------------- accounts
def test_create_account_is_in_progress_for_the_latency_model_time(boto, clock, monkeypatch) -> None:
    monkeypatch.setattr(org_models, "LATENCY_SCALE", 1.0)
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    request = orgs.create_account(Email="new@example.com", AccountName="new")["CreateAccountStatus"]
    assert request["State"] == "IN_PROGRESS" and "AccountId" not in request
    clock.t += 89
    status = orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
    assert status["State"] == "IN_PROGRESS"
    assert len(orgs.list_accounts()["Accounts"]) == 1  # not listed until created
    assert [s["Id"] for s in orgs.list_create_account_status(States=["IN_PROGRESS"])["CreateAccountStatuses"]] == [
        request["Id"]
    ]
    clock.t += 1
    status = orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED" and status["AccountId"]
    assert status["AccountId"] in {a["Id"] for a in orgs.list_accounts()["Accounts"]}


def test_create_account_is_settled_at_once_by_default_but_answers_in_progress(boto) -> None:
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    request = orgs.create_account(Email="new@example.com", AccountName="new")["CreateAccountStatus"]
    assert request["State"] == "IN_PROGRESS"
    assert (
        orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["State"]
        == "SUCCEEDED"
    )


def test_create_account_with_an_email_in_use_fails_with_its_reason(org) -> None:
    orgs = org["orgs"]
    request = orgs.create_account(Email="member@example.com", AccountName="again")["CreateAccountStatus"]
    assert request["State"] == "IN_PROGRESS"
    status = orgs.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
    assert (
        status["State"] == "FAILED" and status["FailureReason"] == "EMAIL_ALREADY_EXISTS" and "AccountId" not in status
    )
    assert len(orgs.list_accounts()["Accounts"]) == 2
    failed = orgs.list_create_account_status(States=["FAILED"])["CreateAccountStatuses"]
    assert [s["Id"] for s in failed] == [request["Id"]]


def test_create_account_beyond_the_quota_fails_with_its_reason(org, monkeypatch) -> None:
    monkeypatch.setattr(org_models, "ACCOUNT_LIMIT", 2)
    request = org["orgs"].create_account(Email="third@example.com", AccountName="third")["CreateAccountStatus"]
    status = org["orgs"].describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
    assert status["FailureReason"] == "ACCOUNT_LIMIT_EXCEEDED"


def test_move_account_checks_where_the_account_is(org) -> None:
    orgs = org["orgs"]
    unit = orgs.create_organizational_unit(ParentId=org["root"], Name="Workloads")["OrganizationalUnit"]["Id"]
    with pytest.raises(ClientError) as error:
        orgs.move_account(AccountId=org["member"], SourceParentId=unit, DestinationParentId=org["root"])
    assert code_of(error) == "SourceParentNotFoundException"
    with pytest.raises(ClientError) as error:
        orgs.move_account(AccountId=org["member"], SourceParentId=org["root"], DestinationParentId=org["root"])
    assert code_of(error) == "DuplicateAccountException"
    orgs.move_account(AccountId=org["member"], SourceParentId=org["root"], DestinationParentId=unit)
    assert orgs.list_parents(ChildId=org["member"])["Parents"][0]["Id"] == unit


# --------------------------------------------------------------------------------- OUs
def test_ou_names_are_unique_among_siblings_and_only_empty_ous_are_deleted(org) -> None:
    orgs = org["orgs"]
    unit = orgs.create_organizational_unit(ParentId=org["root"], Name="Workloads")["OrganizationalUnit"]["Id"]
    with pytest.raises(ClientError) as error:
        orgs.create_organizational_unit(ParentId=org["root"], Name="Workloads")
    assert code_of(error) == "DuplicateOrganizationalUnitException"
    child = orgs.create_organizational_unit(ParentId=unit, Name="Workloads")["OrganizationalUnit"][
        "Id"
    ]  # another parent: fine
    with pytest.raises(ClientError) as error:
        orgs.delete_organizational_unit(OrganizationalUnitId=unit)
    assert code_of(error) == "OrganizationalUnitNotEmptyException"
    orgs.move_account(AccountId=org["member"], SourceParentId=org["root"], DestinationParentId=child)
    with pytest.raises(ClientError) as error:
        orgs.delete_organizational_unit(OrganizationalUnitId=child)
    assert code_of(error) == "OrganizationalUnitNotEmptyException"
    orgs.move_account(AccountId=org["member"], SourceParentId=child, DestinationParentId=org["root"])
    orgs.delete_organizational_unit(OrganizationalUnitId=child)
    orgs.delete_organizational_unit(OrganizationalUnitId=unit)


# -------------------------------------------------------------------------------- SCPs
def test_scp_content_is_checked_as_aws_checks_it(org) -> None:
    orgs = org["orgs"]
    big = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": [f"s{i}:A" for i in range(800)], "Resource": "*"}],
        }
    )
    with pytest.raises(ClientError) as error:
        orgs.create_policy(Content=big, Description="big", Name="big", Type=SCP)
    assert code_of(error) == "ConstraintViolationException"
    assert error.value.response.get("Reason") == "POLICY_CONTENT_LIMIT_EXCEEDED"
    with pytest.raises(ClientError) as error:
        orgs.create_policy(Content="{not json", Description="bad", Name="bad", Type=SCP)
    assert code_of(error) == "MalformedPolicyDocumentException"
    policy = orgs.create_policy(Content=DENY_LEAVE, Description="ok", Name="ok", Type=SCP)["Policy"]["PolicySummary"][
        "Id"
    ]
    with pytest.raises(ClientError) as error:
        orgs.update_policy(PolicyId=policy, Content=big)
    assert code_of(error) == "ConstraintViolationException"


def test_scp_attachments_need_the_policy_type_and_are_not_doubled(org) -> None:
    orgs = org["orgs"]
    policy = orgs.create_policy(Content=DENY_LEAVE, Description="ok", Name="ok", Type=SCP)["Policy"]["PolicySummary"][
        "Id"
    ]
    with pytest.raises(ClientError) as error:
        orgs.attach_policy(PolicyId=policy, TargetId=org["root"])
    assert code_of(error) == "PolicyTypeNotEnabledException"
    orgs.enable_policy_type(RootId=org["root"], PolicyType=SCP)
    orgs.attach_policy(PolicyId=policy, TargetId=org["root"])
    with pytest.raises(ClientError) as error:
        orgs.attach_policy(PolicyId=policy, TargetId=org["root"])
    assert code_of(error) == "DuplicatePolicyAttachmentException"
    with pytest.raises(ClientError) as error:
        orgs.detach_policy(PolicyId=policy, TargetId=org["member"])
    assert code_of(error) == "PolicyNotAttachedException"
    with pytest.raises(ClientError) as error:
        orgs.delete_policy(PolicyId=policy)
    assert code_of(error) == "PolicyInUseException"


# --------------------------------------------------------------------------- GuardDuty
def test_a_second_detector_in_a_region_is_refused(boto) -> None:
    guardduty = boto("guardduty")
    guardduty.create_detector(Enable=True)
    with pytest.raises(ClientError) as error:
        guardduty.create_detector(Enable=True)
    assert code_of(error) == "BadRequestException"
    assert len(guardduty.list_detectors()["DetectorIds"]) == 1
    assert boto("guardduty", "us-west-2").create_detector(Enable=True)["DetectorId"]  # another region: fine


def test_enabling_the_admin_trusts_guardduty_registers_it_and_enables_its_detector(org, boto) -> None:
    boto("guardduty").enable_organization_admin_account(AdminAccountId=org["member"])
    assert boto("guardduty").list_organization_admin_accounts()["AdminAccounts"] == [
        {"AdminAccountId": org["member"], "AdminStatus": "ENABLED"}
    ]
    assert boto("guardduty", "us-west-2").list_organization_admin_accounts()["AdminAccounts"] == []  # per region
    services = org["orgs"].list_aws_service_access_for_organization()["EnabledServicePrincipals"]
    assert [s["ServicePrincipal"] for s in services] == ["guardduty.amazonaws.com"]
    (admin,) = org["orgs"].list_delegated_administrators(ServicePrincipal="guardduty.amazonaws.com")[
        "DelegatedAdministrators"
    ]
    assert admin["Id"] == org["member"]
    assert len(in_member(boto, org["member"], "guardduty").list_detectors()["DetectorIds"]) == 1
    assert in_member(boto, org["member"], "guardduty", "us-west-2").list_detectors()["DetectorIds"] == []


def test_enabling_the_admin_is_for_the_management_account_and_one_member(org, boto) -> None:
    with pytest.raises(ClientError) as error:
        boto("guardduty").enable_organization_admin_account(AdminAccountId="999999999999")
    assert code_of(error) == "BadRequestException"
    with pytest.raises(ClientError) as error:
        in_member(boto, org["member"], "guardduty").enable_organization_admin_account(AdminAccountId=org["member"])
    assert code_of(error) == "BadRequestException"
    other = create_account(org["orgs"], "other@example.com", "other")
    boto("guardduty").enable_organization_admin_account(AdminAccountId=org["member"])
    with pytest.raises(ClientError) as error:
        boto("guardduty", "us-west-2").enable_organization_admin_account(AdminAccountId=other)
    assert code_of(error) == "BadRequestException" and "already has a delegated administrator" in str(error.value)


def test_organization_configuration_belongs_to_the_admin_detector(org, boto) -> None:
    other = create_account(org["orgs"], "other@example.com", "other")
    boto("guardduty").enable_organization_admin_account(AdminAccountId=org["member"])
    guardduty = in_member(boto, org["member"], "guardduty")
    (detector,) = guardduty.list_detectors()["DetectorIds"]
    assert guardduty.describe_organization_configuration(DetectorId=detector)["AutoEnableOrganizationMembers"] == "NONE"
    assert guardduty.list_members(DetectorId=detector)["Members"] == []
    guardduty.update_organization_configuration(DetectorId=detector, AutoEnableOrganizationMembers="ALL")
    config = guardduty.describe_organization_configuration(DetectorId=detector)
    assert config["AutoEnableOrganizationMembers"] == "ALL" and config["AutoEnable"] is True
    assert config["MemberAccountLimitReached"] is False
    members = guardduty.list_members(DetectorId=detector)["Members"]
    assert {m["AccountId"] for m in members} == {other, "123456789012"}  # "all accounts in the organization"
    assert {m["RelationshipStatus"] for m in members} == {"Enabled"} and {m["AdministratorId"] for m in members} == {
        org["member"]
    }

    management = boto("guardduty")
    (own,) = management.list_detectors()["DetectorIds"]  # auto-enable ALL gave the management account one
    with pytest.raises(ClientError) as error:
        management.describe_organization_configuration(DetectorId=own)  # not the administrator
    assert code_of(error) == "BadRequestException"
    with pytest.raises(ClientError) as error:
        guardduty.update_organization_configuration(
            DetectorId=own, AutoEnableOrganizationMembers="ALL"
        )  # not its detector
    assert code_of(error) == "BadRequestException"
    west = in_member(boto, org["member"], "guardduty", "us-west-2")
    west_detector = west.create_detector(Enable=True)["DetectorId"]
    with pytest.raises(ClientError) as error:
        west.update_organization_configuration(DetectorId=west_detector, AutoEnableOrganizationMembers="ALL")
    assert code_of(error) == "BadRequestException"  # the administrator is designated per region


def test_disabling_the_admin_undoes_the_designation(org, boto) -> None:
    boto("guardduty").enable_organization_admin_account(AdminAccountId=org["member"])
    guardduty = in_member(boto, org["member"], "guardduty")
    (detector,) = guardduty.list_detectors()["DetectorIds"]
    guardduty.update_organization_configuration(DetectorId=detector, AutoEnableOrganizationMembers="ALL")
    boto("guardduty").disable_organization_admin_account(AdminAccountId=org["member"])
    assert boto("guardduty").list_organization_admin_accounts()["AdminAccounts"] == []
    assert org["orgs"].list_delegated_administrators()["DelegatedAdministrators"] == []
    with pytest.raises(ClientError) as error:
        guardduty.describe_organization_configuration(DetectorId=detector)
    assert code_of(error) == "BadRequestException"


def test_detectors_take_tags(boto) -> None:
    guardduty = boto("guardduty")
    detector = guardduty.create_detector(Enable=True, Tags={"a": "1"})["DetectorId"]
    arn = f"arn:aws:guardduty:us-east-1:123456789012:detector/{detector}"
    guardduty.tag_resource(ResourceArn=arn, Tags={"b": "2"})
    assert guardduty.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2"}
    guardduty.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert guardduty.get_detector(DetectorId=detector)["Tags"] == {"b": "2"}


# -------------------------------------------------------------------------- CloudTrail
def test_an_organization_trail_needs_trusted_access_and_the_bucket_and_key_policies(org, boto) -> None:
    s3, kms, cloudtrail = boto("s3"), boto("kms"), boto("cloudtrail")
    s3.create_bucket(Bucket="org-trail-logs")
    key = kms.create_key()["KeyMetadata"]
    trail = {
        "Name": "org-trail",
        "S3BucketName": "org-trail-logs",
        "IsOrganizationTrail": True,
        "IsMultiRegionTrail": True,
        "KmsKeyId": key["Arn"],
    }

    def refused() -> str:
        with pytest.raises(ClientError) as error:
            cloudtrail.create_trail(**trail)
        return code_of(error)

    assert refused() == "CloudTrailAccessNotEnabledException"
    org["orgs"].enable_aws_service_access(ServicePrincipal="cloudtrail.amazonaws.com")
    assert refused() == "InsufficientS3BucketPolicyException"
    org_id = org["orgs"].describe_organization()["Organization"]["Id"]
    service = {"Service": "cloudtrail.amazonaws.com"}
    s3.put_bucket_policy(
        Bucket="org-trail-logs",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": service,
                        "Action": "s3:GetBucketAcl",
                        "Resource": "arn:aws:s3:::org-trail-logs",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": service,
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::org-trail-logs/AWSLogs/{org_id}/*",
                    },
                ],
            }
        ),
    )
    assert refused() == "InsufficientEncryptionPolicyException"
    kms.put_key_policy(
        KeyId=key["KeyId"],
        PolicyName="default",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {"Effect": "Allow", "Principal": service, "Action": "kms:GenerateDataKey*", "Resource": "*"},
                ],
            }
        ),
    )
    created = cloudtrail.create_trail(**trail)
    assert created["IsOrganizationTrail"] is True

    member = in_member(boto, org["member"], "cloudtrail")
    with pytest.raises(ClientError) as error:
        member.create_trail(Name="mine", S3BucketName="org-trail-logs", IsOrganizationTrail=True)
    assert code_of(error) == "NotOrganizationMasterAccountException"

    cloudtrail.delete_trail(Name=created["TrailARN"])  # by ARN, as AWS allows
    assert cloudtrail.describe_trails()["trailList"] == []
    with pytest.raises(ClientError) as error:
        cloudtrail.delete_trail(Name="org-trail")
    assert code_of(error) == "TrailNotFoundException"


def test_reset_forgets_account_creations(org, moto_server, boto) -> None:
    assert org_models.STATE.creations
    moto_server.reset()
    assert not org_models.STATE.creations
    with pytest.raises(ClientError) as error:
        boto("organizations").list_accounts()
    assert code_of(error) == "AWSOrganizationsNotInUseException"
