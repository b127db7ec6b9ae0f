"""Plan-side security baseline: findings per control for the shipped plans and weakened ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.planfile import PlanFileError, load_plan
from provisioner.planfile.baseline import CONTROLS, FAIL, PASS, WARN, plan_findings
from tests.conftest import PLANS


def statuses(name_or_path: str | Path, plans_dir: Path = PLANS) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for found in plan_findings(load_plan(name_or_path, plans_dir, enforce_baseline=False)):
        out.setdefault(found.control, set()).add(found.status)
    return out


@pytest.mark.parametrize("name", ["staging", "prod", "shared", "organization"])
def test_check_shipped_strict_plan_has_no_failure(name: str) -> None:
    found = plan_findings(load_plan(name, PLANS))
    assert found and all(f.status in (PASS, WARN) for f in found), [f for f in found if f.status not in (PASS, WARN)]
    assert all(f.control in CONTROLS for f in found)


def test_check_prod_plan_covers_the_fsbp_controls_with_their_ids() -> None:
    found = plan_findings(load_plan("prod", PLANS))
    ids = {f.control for f in found}
    assert {
        "EC2.2",
        "EC2.6",
        "EKS.1",
        "EKS.3",
        "EKS.8",
        "RDS.2",
        "RDS.3",
        "RDS.5",
        "RDS.8",
        "RDS.11",
        "KMS.4",
        "SQS.1",
    } <= ids
    multi_az = next(f for f in found if f.control == "RDS.5")
    assert multi_az.fsbp_id == "RDS.5" and multi_az.status == PASS
    assert multi_az.where.startswith(str(PLANS / "prod.yaml")) and multi_az.where.endswith("database.multi_az")
    assert next(f for f in found if f.control == "PROV.9").fsbp_id is None
    # Security Hub flags any public endpoint; the baseline allows one limited to listed CIDRs.
    assert {f.status for f in found if f.control == "EKS.1"} == {WARN}


def test_check_dev_plan_relaxes_cost_controls_with_warnings() -> None:
    found = statuses("dev")
    for control in ("RDS.5", "RDS.8", "PROV.7", "PROV.8"):
        assert found[control] == {WARN}, control
    assert FAIL not in {s for v in found.values() for s in v}


def weakened(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    import shutil

    directory = tmp_path / "weakened-plans"
    shutil.copytree(PLANS, directory)
    path = directory / f"{name}.yaml"
    text = path.read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_check_weakened_prod_plan_fails_the_matching_controls(tmp_path: Path) -> None:
    path = weakened(
        tmp_path,
        "prod",
        ("multi_az: true", "multi_az: false"),
        ("public_cidrs: [203.0.113.0/24]", "public_cidrs: [0.0.0.0/0]"),
        ("logging: [api, audit, authenticator, controllerManager, scheduler]", "logging: [api]"),
    )
    with pytest.raises(PlanFileError):
        load_plan(path, path.parent)  # validation refuses it
    found = plan_findings(load_plan(path, path.parent, enforce_baseline=False))
    failed = {(f.control, f.fsbp_id) for f in found if f.status == FAIL}
    assert {("RDS.5", "RDS.5"), ("EKS.1", "EKS.1"), ("EKS.8", "EKS.8"), ("PROV.2", None)} <= failed
    eks1 = next(f for f in found if f.control == "EKS.1")
    assert "0.0.0.0/0" in eks1.detail and eks1.where.endswith("eks.endpoint.public_cidrs[0]")


def test_check_dev_plan_with_private_endpoint_off_fails_even_in_dev(tmp_path: Path) -> None:
    path = weakened(tmp_path, "dev", ("    private: true", "    private: false"))
    assert statuses(path, path.parent)["PROV.1"] == {FAIL}


def test_check_cli_plan_only_reports_json_and_exits_1_on_a_weakened_prod(cli, tmp_path: Path, moto_server) -> None:
    path = weakened(tmp_path, "prod", ("deletion_protection: true", "deletion_protection: false"))
    result = cli("check", str(path), "--plan-only", "--output", "json", "--plans-dir", str(path.parent))
    assert result.code == 1, result.err
    document = json.loads(result.out)
    assert document["status"] == "fail" and document["summary"]["fail"] == 1
    (failed,) = [f for f in document["findings"] if f["status"] == "fail"]
    assert failed["control"] == failed["fsbp_id"] == "RDS.8" and failed["source"] == "plan"
    assert failed["title"] == CONTROLS["RDS.8"].title


def test_check_cli_plan_only_passes_shipped_prod_in_text(cli) -> None:
    result = cli("check", "prod", "--plan-only")
    assert result.code == 0, result.err
    assert "WARN     EKS.1" in result.out and "0 failed" in result.out


def test_apply_refuses_a_weakened_prod_plan_before_any_call(cli, tmp_path: Path, moto_server) -> None:
    path = weakened(tmp_path, "prod", ("multi_az: true", "multi_az: false"))
    result = cli("apply", str(path), "--yes", "--plans-dir", str(path.parent))
    assert result.code == 1
    assert "database.multi_az" in result.err and "Nothing was sent to AWS" in result.err


def test_database_port_is_not_postgres_default_in_the_shipped_plans_and_5432_fails_rds23(tmp_path: Path) -> None:
    for name in ("dev", "staging", "prod"):
        plan = load_plan(name, PLANS)
        assert plan.spec.database.port != 5432
        (rds23,) = [f for f in plan_findings(plan) if f.control == "RDS.23"]
        assert rds23.status == PASS and rds23.fsbp_id == "RDS.23" and rds23.where.endswith("database.port")
    path = weakened(tmp_path, "prod", ("  port: 5433\n", "  port: 5432\n"))
    with pytest.raises(PlanFileError, match="database.port"):
        load_plan(path, path.parent)  # a strict plan may not listen on the default port
    assert statuses(path, path.parent)["RDS.23"] == {FAIL}
    dev = weakened(tmp_path / "dev", "dev", ("  port: 5433\n", "  port: 5432\n"))
    assert statuses(dev, dev.parent)["RDS.23"] == {FAIL}  # reported in dev too, not refused
    load_plan(dev, dev.parent)
    with pytest.raises(PlanFileError, match="database.port"):
        load_plan(
            weakened(tmp_path / "low", "dev", ("  port: 5433\n", "  port: 80\n")), tmp_path / "low" / "weakened-plans"
        )


def test_organization_account_baseline_is_on_by_default_and_reported(tmp_path: Path) -> None:
    found = {
        f.control: f for f in plan_findings(load_plan("organization", PLANS)) if f.resource == "organization/baseline"
    }
    assert set(found) == {"PROV.15", "EC2.7", "S3.1"} and {f.status for f in found.values()} == {PASS}
    assert found["EC2.7"].fsbp_id == "EC2.7" and found["PROV.15"].fsbp_id is None
    text = (PLANS / "organization.yaml").read_text()
    bare = tmp_path / "bare"
    bare.mkdir()
    start = text.index("# Account-wide guardrails")
    (bare / "organization.yaml").write_text(text[:start])
    assert load_plan("organization", bare).spec.account_baseline.remove_default_vpcs is True  # the default
    off = weakened(
        tmp_path, "organization", ("  ebs_encryption_by_default: true", "  ebs_encryption_by_default: false")
    )
    failed = [f for f in plan_findings(load_plan(off, off.parent)) if f.status == FAIL]
    assert [(f.control, f.where.rsplit(": ", 1)[-1]) for f in failed] == [
        ("EC2.7", "account_baseline.ebs_encryption_by_default")
    ]
