"""The permissions boundary: made before any role, on every role the tool creates (read back
from the simulated IAM after an apply), put on a role found without it, kept on destroy."""

from __future__ import annotations

import json

import pytest

from provisioner.constants import MANAGED_BY, TAG_MANAGED_BY
from provisioner.engine import Action
from provisioner.planfile import load_plan
from provisioner.steps import build
from provisioner.steps.iam import AWS_MANAGED_POLICIES, BOUNDARY, Role
from provisioner.steps.iam.boundary import BOUNDARY_NAME, boundary_document
from tests.conftest import PLANS
from tests.idempotency import mutating_calls, runner, subgraph

ACCOUNT = "123456789012"  # moto's default account: the single-account plans live there
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/provisioner/{BOUNDARY_NAME}"


def tool_roles(iam) -> list[dict]:
    roles = []
    for page in iam.get_paginator("list_roles").paginate(PathPrefix="/provisioner"):
        roles += [iam.get_role(RoleName=r["RoleName"])["Role"] for r in page["Roles"]]
    return roles


def test_every_role_of_an_applied_environment_has_the_boundary(dev_applied, cli, boto) -> None:
    iam = boto("iam")
    roles = tool_roles(iam)
    assert len(roles) >= 5  # flow logs, cluster, system nodes, Karpenter's nodes and controller
    for role in roles:
        # (Only the ARN: the type is `PermissionsBoundaryPolicy` in botocore's model and moto,
        # `Policy` in what IAM has been seen to answer.)
        assert (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn") == BOUNDARY_ARN, role["RoleName"]
    policy = iam.get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]
    assert policy["Path"] == "/provisioner/"
    assert {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=BOUNDARY_ARN)["Tags"]} == {
        TAG_MANAGED_BY: MANAGED_BY
    }
    document = iam.get_policy_version(PolicyArn=BOUNDARY_ARN, VersionId=policy["DefaultVersionId"])["PolicyVersion"][
        "Document"
    ]
    assert document == boundary_document("aws", ACCOUNT)

    assert cli("destroy", "dev", "--yes").code == 0
    assert tool_roles(iam) == []
    assert iam.get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]["PolicyName"] == BOUNDARY_NAME  # kept: the account's


def test_every_role_node_depends_on_the_boundary(single_account_plans) -> None:
    for name in ("dev", "staging", "prod"):
        nodes = build(load_plan(name, single_account_plans), account_ids={"shared-services": "000000000000"})
        roles = [n for n in nodes if isinstance(n, Role)]
        assert roles and all(r.permissions_boundary == BOUNDARY and BOUNDARY in r.depends_on for r in roles)
        assert [n.key for n in nodes].count(BOUNDARY) == 1


def test_a_role_without_the_boundary_gets_it(session_for, boto) -> None:
    plan = load_plan("dev", PLANS)
    nodes = subgraph(build(plan), lambda n: n.key == "network/flow-logs/role")
    assert runner(plan, session_for(), nodes).apply().status == "ok"
    iam = boto("iam")
    (role,) = tool_roles(iam)
    iam.delete_role_permissions_boundary(RoleName=role["RoleName"])  # an administrator, or an older version
    changes = [c for c in runner(plan, session_for(), nodes).plan().changes if c.action is not Action.NOOP]
    assert [(c.key, set(c.diff)) for c in changes] == [("network/flow-logs/role", {"permissions_boundary"})]
    session = session_for()
    assert runner(plan, session, nodes).apply().status == "ok"
    assert mutating_calls(session) == ["iam:PutRolePermissionsBoundary"]
    assert (
        iam.get_role(RoleName=role["RoleName"])["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY_ARN
    )


def test_an_outdated_boundary_gets_a_new_default_version(session_for, boto) -> None:
    plan = load_plan("dev", PLANS)
    nodes = subgraph(build(plan), lambda n: n.key == BOUNDARY)
    assert runner(plan, session_for(), nodes).apply().status == "ok"
    iam = boto("iam")
    iam.create_policy_version(
        PolicyArn=BOUNDARY_ARN,
        SetAsDefault=True,
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    (change,) = runner(plan, session_for(), nodes).plan().changes
    assert change.action is Action.UPDATE and set(change.diff) == {"document"}
    assert runner(plan, session_for(), nodes).apply().status == "ok"
    policy = iam.get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]
    document = iam.get_policy_version(PolicyArn=BOUNDARY_ARN, VersionId=policy["DefaultVersionId"])["PolicyVersion"][
        "Document"
    ]
    assert document == boundary_document("aws", ACCOUNT)


def test_a_role_may_attach_only_the_managed_policies_the_tool_allows() -> None:
    Role(
        key="x",
        name="x",
        trust={},
        managed_policies=tuple(f"arn:aws-cn:iam::aws:policy/{p}" for p in AWS_MANAGED_POLICIES),
    )
    with pytest.raises(ValueError, match="AdministratorAccess"):
        Role(key="x", name="x", trust={}, managed_policies=("arn:aws:iam::aws:policy/AdministratorAccess",))


def test_the_boundary_denies_escalation_and_allows_no_iam_writes_but_instance_profiles() -> None:
    statements = boundary_document("aws", ACCOUNT)["Statement"]
    allowed = [
        a
        for s in statements
        if s["Effect"] == "Allow"
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    iam_allowed = {a for a in allowed if a.startswith("iam:")}
    assert "iam:*" not in allowed and "*" not in allowed
    assert iam_allowed == {
        "iam:AddRoleToInstanceProfile",
        "iam:CreateInstanceProfile",
        "iam:DeleteInstanceProfile",
        "iam:GetInstanceProfile",
        "iam:ListInstanceProfiles",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:TagInstanceProfile",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
    }
    denied = {a for s in statements if s["Effect"] == "Deny" for a in s["Action"]}
    assert {
        "iam:DeleteRolePermissionsBoundary",
        "iam:PutRolePermissionsBoundary",
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "organizations:*",
        "account:*",
    } <= denied
    assert not any(a.split(":")[0] in ("organizations", "account") for a in allowed)


def test_sandbox_refuses_a_boundary_that_does_not_exist(boto) -> None:
    """IAM refuses a permissions boundary that is no policy of the account; moto took any ARN."""
    from botocore.exceptions import ClientError

    iam = boto("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    with pytest.raises(ClientError) as error:
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust, PermissionsBoundary=BOUNDARY_ARN)
    assert error.value.response["Error"]["Code"] == "NoSuchEntity"
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust)
    with pytest.raises(ClientError) as error:
        iam.put_role_permissions_boundary(RoleName="r", PermissionsBoundary=BOUNDARY_ARN)
    assert error.value.response["Error"]["Code"] == "NoSuchEntity"
    iam.create_policy(
        PolicyName=BOUNDARY_NAME, Path="/provisioner/", PolicyDocument=json.dumps(boundary_document("aws", ACCOUNT))
    )
    iam.put_role_permissions_boundary(RoleName="r", PermissionsBoundary=BOUNDARY_ARN)
    assert iam.get_role(RoleName="r")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY_ARN


def _boundary_allows(action: str) -> bool:
    """Whether the boundary's statements allow `action` at all (actions only: resources and
    conditions narrow it further, which is the roles' own policies' job)."""
    from fnmatch import fnmatchcase

    statements = boundary_document("aws", ACCOUNT)["Statement"]

    def matches(statement: dict) -> bool:
        patterns = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        return any(fnmatchcase(action, pattern) for pattern in patterns)

    return any(matches(s) for s in statements if s["Effect"] == "Allow") and not any(
        matches(s) and s["Resource"] == "*" and "Condition" not in s for s in statements if s["Effect"] == "Deny"
    )


def _actions(document: object) -> set[str]:
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("Action", "NotAction"):
                found |= {value} if isinstance(value, str) else {v for v in value if isinstance(v, str)}
            else:
                found |= _actions(value)
    elif isinstance(document, list):
        for item in document:
            found |= _actions(item)
    return found


def test_the_boundary_allows_every_action_of_karpenters_official_template() -> None:
    """The ceiling must not cut what the controller needs: the v1.14.1 getting-started
    template's policies (read from ../shared, parameters left as they are) are all inside it."""
    import yaml

    from tests.conftest import REPO

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms: `!Sub "text"` is its text (the policies are JSON text in a !Sub).
    Loader.add_multi_constructor(
        "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    )
    template = yaml.load(
        (REPO.parent / "shared" / "karpenter-reference" / "v1.14.1" / "cloudformation.yaml").read_text(), Loader=Loader
    )
    documents = [
        r["Properties"]["PolicyDocument"]
        for r in template["Resources"].values()
        if r.get("Type") in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")
    ]
    actions = _actions([json.loads(d) if isinstance(d, str) else d for d in documents])
    assert len(actions) > 30 and "iam:ListInstanceProfiles" in actions
    assert sorted(a for a in actions if not _boundary_allows(a)) == []


def test_the_boundary_allows_every_action_of_the_tools_own_role_policies(single_account_plans) -> None:
    nodes = [
        *build(load_plan("dev", single_account_plans), account_ids={"shared-services": "000000000000"}),
        *build(load_plan("shared", single_account_plans)),
    ]
    actions = _actions([role.inline_policies for role in nodes if isinstance(role, Role)])
    assert len(actions) > 20
    assert sorted(a for a in actions if not _boundary_allows(a)) == []


def test_the_boundary_allows_every_action_of_the_managed_policies_the_roles_attach() -> None:
    """AWS's own documents of the five managed policies (moto ships a copy of them)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    published = json.loads(aws_managed_policies_data)
    actions = _actions([published[name]["Document"] for name in AWS_MANAGED_POLICIES])
    assert "iam:CreateServiceLinkedRole" in actions and "eks-auth:AssumeRoleForPodIdentity" in actions
    assert sorted(a for a in actions if not _boundary_allows(a)) == []
