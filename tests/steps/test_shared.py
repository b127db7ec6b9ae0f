"""The shared step, run inside the Shared Services account as the CLI will run it: the
organization plan is applied first, then the test assumes the organization access role into
the member account and runs the shared plan with that session."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from provisioner.aws import AwsSession
from provisioner.constants import TAG_PLAN
from provisioner.engine import Action, PermanentError, RunContext
from provisioner.planfile import load_plan
from provisioner.steps import shared
from provisioner.steps.organization import member_session
from provisioner.steps.shared import repositories
from tests.conftest import PLANS
from tests.idempotency import mutating_calls, runner, subgraph
from tests.steps.test_organization import check_four_phases_keeping

ORG = load_plan("organization", PLANS)
SHARED = load_plan("shared", PLANS)
DEV = load_plan("dev", PLANS)
# The registries and CI identity; the network and Transit Gateway are tests/steps/test_transit.py's.
NODES = [n for n in shared.resources(SHARED) if not n.key.startswith(("shared/network/", "shared/transit/"))]
KINDS = sorted({n.type for n in NODES if not n.read_only})


@pytest.fixture
def accounts(organization_applied) -> dict[str, str]:
    """The organization plan applied (see tests/conftest.py); the account ids by account key."""
    return organization_applied


def assumed(aws: str, boto: Any, account_id: str, region: str = "us-east-1") -> AwsSession:
    """A production session in a member account, through the organization access role."""
    credentials = boto("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="provisioner-test"
    )["Credentials"]
    return AwsSession(
        region=region,
        endpoint_url=aws,
        credentials={
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        },
    )


@pytest.fixture
def in_shared(accounts, aws, boto) -> Any:
    """Makes sessions in the Shared Services account (what the CLI will hand the shared plan)."""
    return lambda: assumed(aws, boto, accounts["shared-services"])


def client_in(session: AwsSession, service: str, region: str | None = None) -> Any:
    return session.client(service, region, purpose="test")


# ---------------------------------------------------------------------------------- graph
def test_shared_builds_every_kind_of_the_plan() -> None:
    assert (
        sorted(
            [
                "kms:key",
                "ecr:repository",
                "ecr:replication-configuration",
                "iam:oidc-provider",
                "iam:role",
                "iam:policy",
            ]
        )
        == KINDS
    )
    keys = {n.key for n in NODES}
    assert {
        "shared/ecr/repository/innovate/backend",
        "shared/ecr/repository/innovate/frontend",
        "organization/accounts",
    } <= keys


def four_phase_case(kind: str) -> Any:
    """The cases share one applied organization (their setup): each ends by destroying what it
    applied in the Shared Services account, and the next one's first phase checks that it starts
    with nothing of its own. A case whose graph holds a node destroy keeps (the account's
    permissions boundary) would leave it for the next: it starts from an empty sandbox."""
    if any(n.kept_on_destroy for n in subgraph(NODES, lambda n: n.type == kind)):
        return kind
    return pytest.param(kind, marks=pytest.mark.shares_state("four-phases"))


@pytest.mark.parametrize("kind", [four_phase_case(k) for k in KINDS])
def test_apply_kind_is_idempotent_through_four_phases(kind: str, in_shared) -> None:
    check_four_phases_keeping(SHARED, in_shared, subgraph(NODES, lambda n: n.type == kind))


# ------------------------------------------------------------------------------- apply
@pytest.fixture
def applied(in_shared, once) -> Any:
    def build() -> Any:
        result = runner(SHARED, in_shared(), NODES).apply()
        assert result.status == "ok", result.failures()
        return result

    return once("applied", build)


@pytest.mark.shares_state  # reads, or applies what is converged
def test_apply_shared_in_the_shared_services_account(applied, in_shared, accounts) -> None:
    session = in_shared()
    ecr = client_in(session, "ecr")
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert set(repos) == {"innovate/backend", "innovate/frontend"}
    key = client_in(session, "kms").describe_key(KeyId="alias/provisioner/shared/ecr")["KeyMetadata"]
    environments = {accounts["development"], accounts["staging"], accounts["production"]}
    for name, repo in repos.items():
        assert repo["registryId"] == accounts["shared-services"]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key["Arn"]}
        rules = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])["rules"]
        assert rules[0]["selection"] == {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 7,
        }
        assert (
            rules[1]["selection"]["countType"] == "imageCountMoreThan" and rules[1]["selection"]["countNumber"] == 100
        )
        (statement,) = json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])["Statement"]
        assert {arn.split(":")[4] for arn in statement["Principal"]["AWS"]} == environments
        assert sorted(statement["Action"]) == [
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
        ]
        tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]}
        assert tags[TAG_PLAN] == "shared"

    (rule,) = ecr.describe_registry()["replicationConfiguration"]["rules"]
    assert rule["destinations"] == [{"region": "us-west-2", "registryId": accounts["shared-services"]}]
    assert sorted(f["filter"] for f in rule["repositoryFilters"]) == ["innovate/backend", "innovate/frontend"]

    iam = client_in(session, "iam")
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert provider["Arn"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])["ClientIDList"] == [
        "sts.amazonaws.com"
    ]
    role = iam.get_role(RoleName="shared-github-deploy")["Role"]
    assert role["Path"] == "/provisioner-ci/shared/"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": provider["Arn"]} and trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": ["repo:innovate-inc/webapp:ref:refs/heads/main"],
    }
    policy = iam.get_role_policy(RoleName="shared-github-deploy", PolicyName="push-images")["PolicyDocument"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert sorted(statements["PushTheseRepositories"]["Resource"]) == sorted(r["repositoryArn"] for r in repos.values())
    assert "ecr:PutImage" in statements["PushTheseRepositories"]["Action"]
    assert statements["EcrLogin"] == {
        "Sid": "EcrLogin",
        "Effect": "Allow",
        "Action": "ecr:GetAuthorizationToken",
        "Resource": "*",
    }
    assert sorted(statements["AssumeEnvironmentDeployRoles"]["Resource"]) == sorted(
        f"arn:aws:iam::{a}:role/provisioner-ci/*" for a in environments
    )
    for statement in policy["Statement"]:  # SPEC section 9: no "*" action on "*" resource
        assert statement["Action"] != "*"


@pytest.mark.shares_state  # reads, or applies what is converged
def test_second_apply_of_shared_changes_nothing(applied, in_shared) -> None:
    assert not runner(SHARED, in_shared(), NODES).plan().has_changes
    session = in_shared()
    assert runner(SHARED, session, NODES).apply().status == "ok"
    assert mutating_calls(session) == []


def test_plan_shows_a_pull_policy_changed_by_hand(applied, in_shared) -> None:
    ecr = client_in(in_shared(), "ecr")
    ecr.set_repository_policy(
        repositoryName="innovate/frontend",
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "everyone", "Effect": "Allow", "Principal": "*", "Action": "ecr:*"}],
            }
        ),
    )
    ecr.put_image_tag_mutability(repositoryName="innovate/frontend", imageTagMutability="MUTABLE")
    (change,) = [c for c in runner(SHARED, in_shared(), NODES).plan().changes if c.action is not Action.NOOP]
    assert change.key == "shared/ecr/repository/innovate/frontend" and set(change.diff) == {"policy", "tag_mutability"}
    assert runner(SHARED, in_shared(), NODES).apply().status == "ok"
    assert not runner(SHARED, in_shared(), NODES).plan().has_changes


@pytest.mark.shares_state  # reads, or applies what is converged
def test_shared_plan_in_the_wrong_account_stops_before_writing(accounts, session_for) -> None:
    session = session_for()  # the management account's credentials
    with pytest.raises(PermanentError) as error:
        runner(SHARED, session, NODES).apply()  # apply plans first: the directory stops it there
    assert error.value.code == "WrongAccount" and error.value.key == "organization/accounts"
    assert accounts["shared-services"] in error.value.message
    assert mutating_calls(session) == []


def test_shared_plan_before_the_organization_says_what_to_do(session_for) -> None:
    with pytest.raises(PermanentError) as error:
        runner(SHARED, session_for(), NODES).plan()
    assert error.value.code == "AWSOrganizationsNotInUseException" and "organization plan" in (error.value.hint or "")


def test_destroy_refuses_a_repository_that_holds_images(applied, in_shared) -> None:
    session = in_shared()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": "sha256:" + "a" * 64,
            },
            "layers": [],
        }
    )
    client_in(session, "ecr").put_image(repositoryName="innovate/backend", imageManifest=manifest, imageTag="v1")
    result = runner(SHARED, in_shared(), NODES).destroy()
    failure = result.results["shared/ecr/repository/innovate/backend"]
    assert failure.status == "failed" and failure.error_code == "RepositoryNotEmptyException"
    assert "delete its images first" in failure.error
    assert result.results["shared/ecr/repository/innovate/frontend"].status == "done"


def test_pull_accounts_given_as_ids_need_no_lookup(in_shared, accounts) -> None:
    ecr = SHARED.spec.ecr.model_copy(update={"pull_accounts": [accounts["development"]]})
    plan = dataclasses.replace(SHARED, spec=SHARED.spec.model_copy(update={"ecr": ecr}))
    nodes = shared.resources(plan)
    repository = next(n for n in nodes if isinstance(n, repositories.Repository))
    assert repository.pull_accounts == (accounts["development"],)
    assert runner(plan, in_shared(), nodes).apply().status == "ok"
    policy = json.loads(
        client_in(in_shared(), "ecr").get_repository_policy(repositoryName="innovate/backend")["policyText"]
    )
    assert policy["Statement"][0]["Principal"]["AWS"] == [f"arn:aws:iam::{accounts['development']}:root"]


# ------------------------------------------------------------------------ environments
@pytest.mark.shares_state("four-phases")  # its four phases in the development account
def test_environment_deploy_role_trusts_the_shared_ci_roles(accounts, aws, boto, session_for) -> None:
    session = assumed(aws, boto, accounts["development"])
    # The development account is no delegated administrator: the directory reads the
    # organization through the management session the CLI attaches.
    with pytest.raises(PermanentError):
        runner(DEV, session, shared.environment_ci_resources(DEV)).plan()
    nodes = shared.environment_ci_resources(DEV)

    def dev_session() -> AwsSession:
        made = assumed(aws, boto, accounts["development"])
        made.management = session_for()  # type: ignore[attr-defined]
        return made

    check_four_phases_keeping(DEV, dev_session, nodes)
    assert runner(DEV, dev_session(), nodes).apply().status == "ok"
    iam = client_in(dev_session(), "iam")
    role = iam.get_role(RoleName="dev-ci-deploy")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{accounts['development']}:role/provisioner-ci/dev/dev-ci-deploy"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{accounts['shared-services']}:root"}
    assert trust["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{accounts['shared-services']}:role/provisioner-ci/*"}
    }
    policy = iam.get_role_policy(RoleName="dev-ci-deploy", PolicyName="describe-cluster")["PolicyDocument"]
    assert policy["Statement"][0]["Resource"] == f"arn:aws:eks:us-east-1:{accounts['development']}:cluster/dev-eks"


@pytest.mark.shares_state  # reads, or applies what is converged
def test_member_session_acts_in_the_member_account(accounts, session_for) -> None:
    ctx = RunContext(plan=ORG, aws=session_for())
    session = member_session(ctx, accounts["staging"], "us-west-2")
    assert session.account_id == accounts["staging"]
    # One AssumeRole per account serves every region: clients name theirs.
    assert member_session(ctx, accounts["staging"], "eu-west-1") is session  # cached for the run
    assert client_in(session, "sts", "us-west-2").meta.region_name == "us-west-2"
    assert mutating_calls(ctx.aws) == []  # AssumeRole is not counted as a write
