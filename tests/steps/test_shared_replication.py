"""ECR replication to the DR region: only this plan's rule of the registry's configuration is
written (PutReplicationConfiguration replaces the whole of it), and the DR region's
repositories carry the same baseline as the primary ones."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.constants import TAG_PLAN
from provisioner.steps import shared
from provisioner.steps.shared.repositories import lifecycle_policy
from tests.idempotency import mutating_calls, runner
from tests.steps.test_shared import NODES, SHARED, accounts, client_in, in_shared  # noqa: F401 (fixtures)

OTHER_TEAM = {
    "destinations": [{"region": "eu-west-1", "registryId": "{account}"}],
    "repositoryFilters": [{"filter": "payments/", "filterType": "PREFIX_MATCH"}],
}
SAME_REGION_OTHER_REPOS = {
    "destinations": [{"region": "us-west-2", "registryId": "{account}"}],
    "repositoryFilters": [{"filter": "analytics", "filterType": "PREFIX_MATCH"}],
}


def rule(template: dict[str, Any], account: str) -> dict[str, Any]:
    return json.loads(json.dumps(template).replace("{account}", account))


def registry_rules(session: Any) -> list[dict[str, Any]]:
    return client_in(session, "ecr").describe_registry()["replicationConfiguration"]["rules"]


def ours(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in rules
        if {f["filter"] for f in r.get("repositoryFilters", [])} & {"innovate/backend", "innovate/frontend"}
    ]


@pytest.fixture
def other_rules(in_shared, accounts) -> list[dict[str, Any]]:
    """Two rules another team put in the registry before the plan was applied."""
    account = accounts["shared-services"]
    rules = [rule(OTHER_TEAM, account), rule(SAME_REGION_OTHER_REPOS, account)]
    client_in(in_shared(), "ecr").put_replication_configuration(replicationConfiguration={"rules": rules})
    return rules


def test_apply_and_destroy_keep_the_registrys_other_replication_rules(in_shared, accounts, other_rules) -> None:
    assert runner(SHARED, in_shared(), NODES).apply().status == "ok"
    rules = registry_rules(in_shared())
    assert rules[:2] == other_rules  # untouched, in their order
    (mine,) = ours(rules)
    assert mine["destinations"] == [{"region": "us-west-2", "registryId": accounts["shared-services"]}]
    assert len(rules) == 3

    session = in_shared()  # converged: no write, the other rules do not count as a change
    assert not runner(SHARED, session, NODES).plan().has_changes
    assert runner(SHARED, session, NODES).apply().status == "ok"
    assert mutating_calls(session) == []

    assert runner(SHARED, in_shared(), NODES).destroy().status == "ok"
    assert registry_rules(in_shared()) == other_rules


def test_changed_repositories_replace_the_plans_rule_only(in_shared, accounts, other_rules) -> None:
    assert runner(SHARED, in_shared(), NODES).apply().status == "ok"
    ecr = SHARED.spec.ecr.model_copy(
        update={
            "repositories": [
                *SHARED.spec.ecr.repositories[:1],
                SHARED.spec.ecr.repositories[0].model_copy(update={"name": "innovate/worker"}),
            ]
        }
    )
    plan = dataclasses.replace(SHARED, spec=SHARED.spec.model_copy(update={"ecr": ecr}))
    nodes = shared.resources(plan)
    (_change,) = [
        c
        for c in runner(plan, in_shared(), nodes).plan().changes
        if c.key == shared.REPLICATION and c.action.value != "noop"
    ]
    assert runner(plan, in_shared(), nodes).apply().status == "ok"
    rules = registry_rules(in_shared())
    assert rules[:2] == other_rules and len(rules) == 3
    assert sorted(f["filter"] for f in rules[2]["repositoryFilters"]) == ["innovate/backend", "innovate/worker"]


def test_dr_repositories_carry_the_baseline_before_replication_fills_them(in_shared, accounts) -> None:
    assert runner(SHARED, in_shared(), NODES).apply().status == "ok"
    session = in_shared()
    ecr = client_in(session, "ecr", "us-west-2")
    key = client_in(session, "kms", "us-west-2").describe_key(KeyId="alias/provisioner/shared/ecr-dr")["KeyMetadata"]
    assert key["Arn"].split(":")[3] == "us-west-2"
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert set(repos) == {"innovate/backend", "innovate/frontend"}
    environments = {accounts["development"], accounts["staging"], accounts["production"]}
    for name, repo in repos.items():
        assert repo["repositoryArn"].split(":")[3] == "us-west-2"
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key["Arn"]}
        assert json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]) == lifecycle_policy(
            7, 100
        )
        (statement,) = json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])["Statement"]
        assert {arn.split(":")[4] for arn in statement["Principal"]["AWS"]} == environments
        tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]}
        assert tags[TAG_PLAN] == "shared" and tags["provisioner:key"] == shared.dr_repository_key(name)
    # The rule is made after the repositories it fills (depends_on), so ECR never creates them.
    replication = next(n for n in NODES if n.key == shared.REPLICATION)
    assert set(replication.depends_on) == {shared.dr_repository_key(n) for n in repos}

    ecr.put_image_tag_mutability(repositoryName="innovate/backend", imageTagMutability="MUTABLE")  # drift is corrected
    (change,) = [c for c in runner(SHARED, in_shared(), NODES).plan().changes if c.action.value != "noop"]
    assert change.key == shared.dr_repository_key("innovate/backend") and set(change.diff) == {"tag_mutability"}
    assert runner(SHARED, in_shared(), NODES).destroy().status == "ok"
    assert ecr.describe_repositories()["repositories"] == []


# ---------------------------------------------------------------------------- sandbox
def test_sandbox_takes_several_rules_and_refuses_what_ecr_refuses(boto) -> None:
    ecr = boto("ecr")
    account = "123456789012"
    two = [rule(OTHER_TEAM, account), rule(SAME_REGION_OTHER_REPOS, account)]
    ecr.put_replication_configuration(replicationConfiguration={"rules": two})  # moto alone: "This feature is disabled"
    assert ecr.describe_registry()["replicationConfiguration"]["rules"] == two
    too_many = [rule(OTHER_TEAM, account)] * 26
    with pytest.raises(ClientError) as error:
        ecr.put_replication_configuration(replicationConfiguration={"rules": too_many})
    assert error.value.response["Error"]["Code"] == "ValidationException"
    itself = {"destinations": [{"region": "us-east-1", "registryId": account}]}
    with pytest.raises(ClientError) as error:
        ecr.put_replication_configuration(replicationConfiguration={"rules": [itself]})
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"
    assert ecr.describe_registry()["replicationConfiguration"]["rules"] == two


def test_turning_replication_off_removes_the_plans_rule_and_its_dr_repositories(in_shared, other_rules) -> None:
    assert runner(SHARED, in_shared(), NODES).apply().status == "ok"
    ecr_spec = SHARED.spec.ecr.model_copy(update={"replicate_to_dr": False})
    plan = dataclasses.replace(SHARED, spec=SHARED.spec.model_copy(update={"ecr": ecr_spec}))
    nodes = shared.resources(plan)
    changes = {
        c.key: c.action.value for c in runner(plan, in_shared(), nodes).plan().changes if c.action.value != "noop"
    }
    assert changes[shared.REPLICATION] == "update"
    assert {k for k, a in changes.items() if a == "delete"} >= {shared.dr_repository_key("innovate/backend")}
    assert runner(plan, in_shared(), nodes).apply().status == "ok"
    assert registry_rules(in_shared()) == other_rules  # ECR no longer makes default repositories there
    assert client_in(in_shared(), "ecr", "us-west-2").describe_repositories()["repositories"] == []
    session = in_shared()
    assert runner(plan, session, nodes).apply().status == "ok" and mutating_calls(session) == []
