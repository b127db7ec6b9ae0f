"""References between plans (accounts, OUs) and how ENV names a plan."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.planfile import PlanFileError, load_plan

from ._helpers import PLANS, BadPlan, mutate, shipped, write_bad_plan

BadPlanFn = Callable[..., BadPlan]


def test_load_organization_with_unknown_ou_and_scp_target_reports_both(bad_plan: BadPlanFn) -> None:
    text = mutate(shipped("organization"), "    ou: Workloads/Prod", "    ou: Workloads/Production")
    text = mutate(
        text,
        "targets: [Infrastructure, Workloads]\n  - policy: deny-root-user",
        "targets: [Infrastructure, Sandbox]\n  - policy: deny-root-user",
    )
    bad = bad_plan(text, name="organization.yaml")
    known = "Infrastructure, Workloads, Workloads/NonProd, Workloads/Prod"
    bad.assert_issue(
        "accounts.production.ou",
        line=bad.line("ou: Workloads/Production"),
        problem=("unknown OU 'Workloads/Production'",),
        allowed=(known,),
    )
    bad.assert_issue(
        "service_control_policies[2].targets[1]",
        line=bad.line("[Infrastructure, Sandbox]"),
        problem=("unknown target 'Sandbox'",),
        allowed=("root or one of: " + known,),
    )
    assert len(bad.issues) == 2


def test_load_organization_with_unknown_guardduty_admin_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(
        mutate(shipped("organization"), "delegated_admin: shared-services", "delegated_admin: security"),
        name="organization.yaml",
    )
    bad.assert_issue(
        "guardduty.delegated_admin",
        line=bad.line("delegated_admin: security"),
        problem=("unknown account 'security'",),
        allowed=("shared-services",),
    )


def test_load_organization_unknown_account_key_lists_allowed_keys(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(
        mutate(shipped("organization"), "    ou: Infrastructure\n", "    ou: Infrastructure\n    id: 1\n"),
        name="organization.yaml",
    )
    bad.assert_issue(
        "accounts.shared-services.id",
        line=bad.line("id: 1"),
        problem=("unknown key 'id'",),
        allowed=("name, email, ou",),
    )


def test_load_organization_unknown_key_in_nested_ou_lists_allowed_keys(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(
        mutate(shipped("organization"), "      - name: Prod\n", "      - name: Prod\n        owner: x\n"),
        name="organization.yaml",
    )
    bad.assert_issue(
        "organizational_units[1].children[1].owner",
        line=bad.line("owner: x"),
        problem=("unknown key 'owner'",),
        allowed=("name, children",),
    )


def test_load_shared_with_unknown_pull_account_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(mutate(shipped("shared"), "[development, staging, production]", "[development, marketing]"))
    bad.assert_issue(
        "ecr.pull_accounts[1]",
        line=bad.line("[development, marketing]"),
        problem=("unknown account 'marketing'",),
        allowed=("organization.yaml",),
    )


def test_load_environment_without_organization_cannot_resolve_account(tmp_path: Path) -> None:
    bad = write_bad_plan(tmp_path, shipped("dev"))
    bad.assert_issue(
        "account",
        line=bad.line("account: development"),
        problem=("cannot be resolved", "no organization plan beside this file"),
        allowed=("12-digit account id",),
    )


def test_load_environment_accepts_numeric_account_without_organization(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(mutate(shipped("dev"), "account: development", 'account: "123456789012"'))
    assert load_plan(path, plans_dir=tmp_path).spec.account == "123456789012"


def test_load_environment_reports_invalid_organization_beside_it(plan_dir: Path) -> None:
    org = plan_dir / "organization.yaml"
    org.write_text(mutate(shipped("organization"), "region: us-east-1\n", "region: us-east-1\nbogus: 1\n"))
    bad = write_bad_plan(plan_dir, shipped("dev"), name="dev.yaml")
    # The environment plan says once why its references cannot be checked, naming the cause;
    # organization.yaml's own issues are reported where it is validated.
    (issue,) = [i for i in bad.issues if i.path == "account"]
    assert str(org) in issue.problem and "bogus: unknown key 'bogus'" in issue.problem
    assert "validate organization" in (issue.allowed or "")


def test_load_environment_beside_invalid_organization_does_not_claim_it_is_missing(plan_dir: Path) -> None:
    org = plan_dir / "organization.yaml"
    org.write_text(mutate(shipped("organization"), "region: us-east-1\n", "region: us-east-1\nbogus: 1\n"))
    bad = write_bad_plan(plan_dir, shipped("dev"), name="dev.yaml")
    assert not any("no organization plan beside this file" in i.problem for i in bad.issues)


def test_load_plan_file_with_invalid_name_is_refused(bad_plan: BadPlanFn) -> None:
    bad = bad_plan(shipped("dev"), name="Dev_Env.yaml")
    bad.assert_issue("name", line=None, problem=("plan name 'Dev_Env'",), allowed=("lower-case letters",))


def test_load_plan_name_with_path_separators_is_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PlanFileError) as info:
        load_plan("../etc/passwd", plans_dir=PLANS)
    [issue] = info.value.issues
    assert (issue.file, issue.problem) == ("../etc/passwd", "no such plan file")


@pytest.mark.parametrize("ref", ["Dev", "DEV", "dev env", "dev_1", "-dev"])
def test_load_plan_name_not_lowercase_is_refused(ref: str) -> None:
    with pytest.raises(PlanFileError) as info:
        load_plan(ref, plans_dir=PLANS)
    [issue] = info.value.issues
    assert issue.problem == f"{ref!r} is not a plan name"
    assert "lower-case letters, digits and dashes" in (issue.allowed or "")


def test_load_unknown_plan_name_lists_known_plans() -> None:
    with pytest.raises(PlanFileError) as info:
        load_plan("qa", plans_dir=PLANS)
    [issue] = info.value.issues
    assert issue.file == str(PLANS / "qa.yaml")
    assert issue.problem == "no plan named 'qa'"
    assert issue.allowed == "one of: dev, organization, prod, shared, staging"


def test_load_plan_by_name_uses_plans_dir(plan_dir: Path) -> None:
    shutil.copy(PLANS / "staging.yaml", plan_dir / "staging.yaml")
    plan = load_plan("staging", plans_dir=plan_dir)
    assert plan.path == plan_dir / "staging.yaml"


def test_plan_file_error_message_lists_every_issue(bad_plan: BadPlanFn) -> None:
    text = mutate(shipped("dev"), "    min_size: 2", "    min_size: 3")
    text = mutate(text, "[m5, c5]", "[m5, m7g]")
    bad = bad_plan(text)
    message = str(PlanFileError(bad.issues))
    assert message.startswith("2 problems in plan files:")
    assert f"{bad.path}:{bad.line('  system_nodes:')}: eks.system_nodes: min 3, desired 2, max 3" in message
    assert "(allowed: families built for amd64)" in message
